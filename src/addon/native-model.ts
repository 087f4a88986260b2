/**
 * The native CPU WorldModel: a thin wrapper over the addon's NativeModel.
 * Owns turning a parsed CheckpointConfig into the addon's flat spec, argument
 * checks (the shared ../validate rules, before any native work), output
 * allocation, AbortSignal → native cancel token, and error mapping
 * (a cancelled native call → CancelledError). All heavy work runs in native
 * async workers off the event loop; arrays cross without copies.
 *
 *   loadNativeModel(dir, config, {threads})      checkpoint folder → model
 *   createNativeModel(config, tensors, {threads}) in-memory weights → model
 */
import path from 'node:path';
import { type CheckpointConfig, headProprioOf, modelDims, type ModelDims, parseCheckpointConfig } from '../model/config';
import { checkTensors, WEIGHTS_FILE } from '../model/checkpoint';
import { expectedTensors } from '../model/tensors';
import { loadNativeAddon } from './native';
import type { NativeCallError, NativeCancelToken, NativeModelHandle, NativeModelSpec } from './native-model-bindings';
import { CancelledError, type EncodeOptions, type RolloutRequest, type RolloutResult, type WorldModel } from './types';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  checkDecodeProprioArgs,
  checkEncodeArgs,
  checkRolloutRequest,
  ModelDisposedError,
  resolveCost,
} from './validate';

export interface NativeModelOptions {
  /** Worker threads (the calling worker included); default: the machine's cores. */
  threads?: number;
  /**
   * 'float32' (default) or 'bfloat16': opt-in, on CPUs with AMX-BF16 (refused
   * with an error elsewhere). The linears of the predictor (mlp layers; the
   * transformer's qkv, proj, fc1, fc2, action embedding and head) and of a ViT
   * encoder (patch embedding and blocks) run on AMX tiles with bf16 weights
   * and activations (float32 sums), about 1e-2 relative error. Attention
   * softmax, norms and residual sums stay float32, as do mlp/cnn encoders and
   * the proprio head.
   */
  precision?: 'float32' | 'bfloat16';
}

/** The addon's flat spec for a parsed config (defaults already filled by zod). */
export function toNativeSpec(cfg: CheckpointConfig, precision: 'float32' | 'bfloat16' = 'float32'): NativeModelSpec {
  const dims = modelDims(cfg);
  const spec: NativeModelSpec = {
    precision,
    latentTokens: dims.latentTokens,
    latentDim: dims.latentDim,
    actionDim: dims.actionDim,
    proprioDim: dims.proprioDim,
    normMean: cfg.normalization?.mean,
    normStd: cfg.normalization?.std,
    encoder: cfg.encoder.kind,
    predictor: cfg.predictor.kind,
  };
  const enc = cfg.encoder;
  if (enc.kind === 'mlp') {
    Object.assign(spec, {
      inputDim: enc.inputDim,
      encHidden: enc.hiddenDims,
      encActivation: enc.activation,
      encLayerNorm: enc.layerNorm,
      encOutputNorm: enc.outputNorm,
    });
  } else if (enc.kind === 'cnn') {
    Object.assign(spec, {
      inChannels: enc.inChannels,
      imageSize: enc.imageSize,
      stages: enc.stages.map((s) => ({ channels: s.channels, kernel: s.kernel, stride: s.stride, padding: s.padding })),
      groupNorm: enc.norm === 'group',
      groups: enc.groups,
      avgpool: enc.pool === 'avgpool',
      headProprio: headProprioOf(enc),
      encActivation: enc.activation,
      encOutputNorm: enc.outputNorm,
    });
  } else {
    Object.assign(spec, {
      inChannels: enc.inChannels,
      imageSize: enc.imageSize,
      patchSize: enc.patchSize,
      embedDim: enc.embedDim,
      depth: enc.depth,
      numHeads: enc.numHeads,
      mlpRatio: enc.mlpRatio,
      qkvBias: enc.qkvBias,
      layerScale: enc.layerScale,
      eps: enc.eps,
      vitOutput: enc.output,
    });
  }
  const pred = cfg.predictor;
  if (pred.kind === 'mlp') {
    Object.assign(spec, {
      predHidden: pred.hiddenDims,
      predActivation: pred.activation,
      predLayerNorm: pred.layerNorm,
      residual: pred.residual,
    });
  } else {
    Object.assign(spec, {
      predDepth: pred.depth,
      predHeads: pred.numHeads,
      predMlpRatio: pred.mlpRatio,
      historyLength: pred.historyLength,
      actionEmbedDim: pred.actionEmbedDim,
      concat: pred.actionConditioning === 'concat',
      predQkvBias: pred.qkvBias,
      outputHead: pred.outputHead,
      predEps: pred.eps,
    });
  }
  return spec;
}

function resolveThreads(options: NativeModelOptions): number {
  const t = options.threads;
  if (t === undefined) return 0; // native default: hardware threads
  if (!Number.isSafeInteger(t) || t < 1 || t > 256) {
    throw new ArgumentRangeError('threads', `threads must be an integer in 1..256, got ${t}`);
  }
  return t;
}

function resolvePrecision(options: NativeModelOptions): 'float32' | 'bfloat16' {
  const p = options.precision ?? 'float32';
  if (p !== 'float32' && p !== 'bfloat16') {
    throw new ArgumentRangeError('precision', `precision must be 'float32' or 'bfloat16', got ${JSON.stringify(p)}`);
  }
  return p;
}

function isCancelled(e: unknown): boolean {
  return e instanceof Error && (e as NativeCallError).code === 'CANCELLED';
}

export class NativeWorldModel implements WorldModel {
  readonly backend = 'cpu' as const;
  readonly dims: ModelDims;
  private handle: NativeModelHandle | undefined;

  /** Use loadNativeModel / createNativeModel. */
  constructor(
    readonly config: CheckpointConfig,
    handle: NativeModelHandle,
  ) {
    this.dims = modelDims(config);
    this.handle = handle;
  }

  /** Threads of this model's native pool. */
  get threads(): number {
    return this.live('threads').threads;
  }

  /** Kernel instruction set in use ('avx512', 'avx2' or 'scalar'). */
  get isa(): string {
    return this.live('isa').isa;
  }

  private live(what: string): NativeModelHandle {
    if (!this.handle) throw new ModelDisposedError(what);
    return this.handle;
  }

  /** Runs a native call with an AbortSignal wired to a cancel token. */
  private async run(what: string, signal: AbortSignal | undefined, call: (token: NativeCancelToken) => Promise<void>): Promise<void> {
    if (signal?.aborted) throw new CancelledError(what);
    const token = new (loadNativeAddon().CancelToken)();
    const onAbort = () => token.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await call(token);
    } catch (e) {
      if (isCancelled(e)) throw new CancelledError(what);
      throw e;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async encode(frames: Float32Array, count: number, options?: EncodeOptions): Promise<Float32Array> {
    const h = this.live('encode');
    checkEncodeArgs(this.dims, frames, count);
    if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new ArgumentTypeError('signal', 'options.signal must be an AbortSignal');
    }
    const out = new Float32Array(count * this.dims.latentSize);
    await this.run('encode', options?.signal, (token) => h.encode(frames, count, out, token));
    return out;
  }

  async rollout(request: RolloutRequest): Promise<RolloutResult> {
    const h = this.live('rollout');
    const { N, H, F } = checkRolloutRequest(this.dims, request);
    const cost = resolveCost(request.cost);
    const L = this.dims.latentSize;
    const result: RolloutResult = { energies: new Float32Array(N) };
    if (request.returnFinalLatents) result.finalLatents = new Float32Array(N * L);
    if (request.returnTrajectory) result.trajectory = new Float32Array(N * H * L);
    if (request.returnProprio) result.proprio = new Float32Array(N * H * this.dims.proprioDim);
    const useBounds = cost.actionBounds !== undefined && cost.boundsWeight !== 0;
    await this.run('rollout', request.signal, (token) =>
      h.rollout(
        {
          z0: request.z0,
          frames: F,
          actionHistory: request.actionHistory,
          actions: request.actions,
          n: N,
          horizon: H,
          goal: request.goal,
          l2: cost.metric === 'l2',
          terminalWeight: cost.terminalWeight,
          runningWeight: cost.runningWeight,
          actionMagnitudeWeight: cost.actionMagnitudeWeight,
          actionRateWeight: cost.actionRateWeight,
          boundsWeight: useBounds ? cost.boundsWeight : 0,
          previousAction: cost.previousAction,
          low: useBounds ? cost.actionBounds!.low : undefined,
          high: useBounds ? cost.actionBounds!.high : undefined,
          energies: result.energies,
          finalLatents: result.finalLatents,
          trajectory: result.trajectory,
          proprio: result.proprio,
        },
        token,
      ),
    );
    return result;
  }

  async decodeProprio(latents: Float32Array, count: number): Promise<Float32Array> {
    const h = this.live('decodeProprio');
    checkDecodeProprioArgs(this.dims, latents, count);
    const out = new Float32Array(count * this.dims.proprioDim);
    await this.run('decodeProprio', undefined, (token) => h.decodeProprio(latents, count, out, token));
    return out;
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }
}

/** Loads a checkpoint folder's model.safetensors natively (checked against the config's tensor manifest). */
export async function loadNativeModel(
  dir: string,
  config: CheckpointConfig,
  options: NativeModelOptions = {},
): Promise<NativeWorldModel> {
  const cfg = parseCheckpointConfig(config, path.join(dir, 'config.json'));
  const threads = resolveThreads(options);
  const addon = loadNativeAddon();
  const handle = new addon.NativeModel();
  await handle.loadFromFile(toNativeSpec(cfg, resolvePrecision(options)), path.join(dir, WEIGHTS_FILE), expectedTensors(cfg), threads);
  return new NativeWorldModel(cfg, handle);
}

/** Builds a native model from in-memory weights (name → Float32Array, as initWeights returns). */
export async function createNativeModel(
  config: CheckpointConfig | unknown,
  tensors: ReadonlyMap<string, Float32Array>,
  options: NativeModelOptions = {},
): Promise<NativeWorldModel> {
  const cfg = parseCheckpointConfig(config, '(in-memory config)');
  checkTensors(cfg, tensors, '(in-memory tensors)');
  const threads = resolveThreads(options);
  const addon = loadNativeAddon();
  const handle = new addon.NativeModel();
  const record: Record<string, Float32Array> = {};
  for (const spec of expectedTensors(cfg)) record[spec.name] = tensors.get(spec.name)!;
  await handle.createFromTensors(toNativeSpec(cfg, resolvePrecision(options)), record, threads);
  return new NativeWorldModel(cfg, handle);
}
