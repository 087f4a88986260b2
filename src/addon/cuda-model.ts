/**
 * The CUDA WorldModel and the on-device CEM planner: thin wrappers over the
 * addon's CudaModel (native/src/napi/cuda_binding.cc → native/src/cuda).
 * Owns the typing of the CUDA bindings, the device check that refuses with
 * `no CUDA device: <cuda error string>` before any weight is read, argument
 * checks (the shared ./validate rules, before any native work), output
 * allocation, and the Planner adapter for `cudaPlanCem`.
 *
 *   loadCudaModel(dir, config)          checkpoint folder → CudaWorldModel
 *   createCudaModel(config, tensors)    in-memory weights → CudaWorldModel
 *   new CudaCemPlanner(model, options)  CEM with every iteration on the GPU
 *
 * Numerics: GEMMs run on tensor cores with bf16 operands and fp32
 * accumulation; norms, softmax, GELU and energies are fp32. Expect relative
 * differences to the float64 reference of about 1e-2 (bf16 has an 8-bit
 * mantissa), see test/cuda/parity.test.ts.
 *
 * Cancellation: an AbortSignal is checked before a call starts and when it
 * returns (a running kernel sequence is not interrupted; the result of a call
 * aborted meanwhile is dropped and CancelledError thrown).
 */
import path from 'node:path';
import { z } from 'zod';
import { checkTensors, WEIGHTS_FILE } from '../model/checkpoint';
import { type CheckpointConfig, modelDims, type ModelDims, parseCheckpointConfig } from '../model/config';
import { expectedTensors } from '../model/tensors';
import type { PlanBudget, PlanGoal, PlanOptions, Planner, PlanResult, PlanState } from '../planning/types';
import { loadNativeAddon, type NativeAddon } from './native';
import { toNativeSpec } from './native-model';
import type { NativeCostArgs, NativeModelSpec, NativeRolloutArgs } from './native-model-bindings';
import { CancelledError, type EncodeOptions, type RolloutRequest, type RolloutResult, type WorldModel } from './types';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  checkDecodeProprioArgs,
  checkEncodeArgs,
  checkRolloutRequest,
  describeType,
  ModelDisposedError,
  resolveCost,
} from './validate';

// ── bindings ────────────────────────────────────────────────────────────────

/** Energy fields shared by rollout and planCem: the same as the CPU backend's. */
export type CudaCostArgs = NativeCostArgs;

/** Rollout arguments: the same layout as the CPU backend's. */
export type CudaRolloutArgs = NativeRolloutArgs;

export interface CudaCemArgs extends CudaCostArgs {
  z0: Float32Array;
  frames: number;
  actionHistory?: Float32Array;
  goal: Float32Array;
  samples: number;
  horizon: number;
  iterations: number;
  elites: number;
  /** [H, A] each. */
  initMean: Float32Array;
  initStd: Float32Array;
  /** [A] sampling box (both or neither). */
  clipLow?: Float32Array;
  clipHigh?: Float32Array;
  minStd: number;
  momentum: number;
  stdMomentum: number;
  includeMean: boolean;
  seed: number;
  /** Outputs: [H, A], [H, A], [iterations, 2] (best, mean energy per iteration). */
  bestActions: Float32Array;
  finalMean: Float32Array;
  iterationStats: Float32Array;
}

export interface CudaModelHandle {
  createFromTensors(spec: NativeModelSpec, tensors: Record<string, Float32Array>): Promise<void>;
  encode(frames: Float32Array, count: number, out: Float32Array): Promise<void>;
  rollout(args: CudaRolloutArgs): Promise<void>;
  decodeProprio(latents: Float32Array, count: number, out: Float32Array): Promise<void>;
  planCem(args: CudaCemArgs): Promise<{ bestEnergy: number; usedGraph: boolean }>;
  dispose(): void;
  /** Whether rollouts take the single fused MLP kernel. */
  readonly fusedRollout: boolean;
  readonly deviceName: string | null;
}

export type CudaOpName = 'linear' | 'layernorm' | 'attention' | 'groupnorm' | 'conv2d';

export interface CudaBindings {
  CudaModel: new () => CudaModelHandle;
  /** One CEM plan on the device (same as model.planCem(args)). */
  cudaPlanCem(model: CudaModelHandle, args: CudaCemArgs): Promise<{ bestEnergy: number; usedGraph: boolean }>;
  /** null when a device is usable, else "no CUDA device: <cuda error string>". */
  cudaDeviceCheck(): string | null;
  /** One kernel on host arrays, synchronous (parity tests). */
  cudaOpForTest(name: CudaOpName, args: Record<string, unknown>): Float32Array;
  /**
   * One training kernel on host arrays, synchronous (parity tests): input
   * gradients come back fresh, parameter gradients start from the args' dW/db/dw
   * (accumulated), adamw returns the updated param, m, v.
   */
  cudaGradForTest(name: CudaGradName, args: Record<string, unknown>): Record<string, Float32Array>;
  /** The CEM sampler's Philox4x32-10 evaluated on the host (no device needed): four 32-bit words. */
  cudaPhiloxForTest(counter: [number, number, number, number], key: [number, number]): number[];
}

export type CudaGradName = 'linear' | 'layernorm' | 'activation' | 'attention' | 'conv2d' | 'adamw';

/** CUDA cannot serve this process: the addon has no CUDA backend or no device is visible. */
export class CudaDeviceError extends Error {
  override name = 'CudaDeviceError';
}

const bindingsSchema = z.object({
  CudaModel: z.custom<CudaBindings['CudaModel']>((v) => typeof v === 'function'),
  cudaDeviceCheck: z.custom<CudaBindings['cudaDeviceCheck']>((v) => typeof v === 'function'),
  cudaPlanCem: z.custom<CudaBindings['cudaPlanCem']>((v) => typeof v === 'function'),
  cudaOpForTest: z.custom<CudaBindings['cudaOpForTest']>((v) => typeof v === 'function'),
  cudaGradForTest: z.custom<CudaBindings['cudaGradForTest']>((v) => typeof v === 'function'),
  cudaPhiloxForTest: z.custom<CudaBindings['cudaPhiloxForTest']>((v) => typeof v === 'function'),
});

/** The addon's CUDA bindings, or a CudaDeviceError saying why the addon has none. */
export function cudaBindings(addon: NativeAddon = loadNativeAddon()): CudaBindings {
  const parsed = bindingsSchema.safeParse(addon);
  if (!parsed.success) {
    const info = addon.cudaInfo();
    throw new CudaDeviceError(
      info.compiled
        ? 'the native addon was built with CUDA but lacks the CUDA model binding (stale binary): rebuild with `npm run build:addon`'
        : 'no CUDA device: the native addon was built without CUDA (no nvcc at build time, or JEPA_CUDA=OFF); ' +
          'install the CUDA toolkit and rebuild with `npm run build:addon`',
    );
  }
  return parsed.data;
}

/** Throws CudaDeviceError (`no CUDA device: ...`) unless a CUDA device is usable. */
export function requireCudaDevice(bindings: CudaBindings = cudaBindings()): void {
  const reason = bindings.cudaDeviceCheck();
  if (reason !== null) throw new CudaDeviceError(reason);
}

function isNoDevice(e: unknown): boolean {
  return e instanceof Error && (e as Error & { code?: string }).code === 'CUDA_NO_DEVICE';
}

async function native<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (isNoDevice(e)) throw new CudaDeviceError((e as Error).message);
    throw e;
  }
}

function costArgs(request: RolloutRequest): CudaCostArgs {
  const cost = resolveCost(request.cost);
  const useBounds = cost.actionBounds !== undefined && cost.boundsWeight !== 0;
  return {
    l2: cost.metric === 'l2',
    terminalWeight: cost.terminalWeight,
    runningWeight: cost.runningWeight,
    actionMagnitudeWeight: cost.actionMagnitudeWeight,
    actionRateWeight: cost.actionRateWeight,
    boundsWeight: useBounds ? cost.boundsWeight : 0,
    previousAction: cost.previousAction,
    low: useBounds ? cost.actionBounds!.low : undefined,
    high: useBounds ? cost.actionBounds!.high : undefined,
  };
}

// ── the model ───────────────────────────────────────────────────────────────

export class CudaWorldModel implements WorldModel {
  readonly backend = 'cuda' as const;
  readonly dims: ModelDims;
  private handle: CudaModelHandle | undefined;

  /** Use loadCudaModel / createCudaModel. */
  constructor(
    readonly config: CheckpointConfig,
    handle: CudaModelHandle,
  ) {
    this.dims = modelDims(config);
    this.handle = handle;
  }

  /** Whether rollouts run as the single fused MLP kernel (MLP predictor, widths <= 256, weights fit in shared memory). */
  get fusedRollout(): boolean {
    return this.live('fusedRollout').fusedRollout;
  }

  get deviceName(): string {
    return this.live('deviceName').deviceName ?? 'unknown';
  }

  /** The native handle, for the on-device planner. */
  live(what: string): CudaModelHandle {
    if (!this.handle) throw new ModelDisposedError(what);
    return this.handle;
  }

  private static checkSignal(what: string, signal: AbortSignal | undefined): void {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new ArgumentTypeError('signal', `${what}: signal must be an AbortSignal, got ${describeType(signal)}`);
    }
    if (signal?.aborted) throw new CancelledError(what);
  }

  async encode(frames: Float32Array, count: number, options?: EncodeOptions): Promise<Float32Array> {
    const h = this.live('encode');
    checkEncodeArgs(this.dims, frames, count);
    CudaWorldModel.checkSignal('encode', options?.signal);
    const out = new Float32Array(count * this.dims.latentSize);
    await native(() => h.encode(frames, count, out));
    if (options?.signal?.aborted) throw new CancelledError('encode');
    return out;
  }

  async rollout(request: RolloutRequest): Promise<RolloutResult> {
    const h = this.live('rollout');
    const { N, H, F } = checkRolloutRequest(this.dims, request);
    CudaWorldModel.checkSignal('rollout', request.signal);
    const L = this.dims.latentSize;
    const result: RolloutResult = { energies: new Float32Array(N) };
    if (request.returnFinalLatents) result.finalLatents = new Float32Array(N * L);
    if (request.returnTrajectory) result.trajectory = new Float32Array(N * H * L);
    if (request.returnProprio) result.proprio = new Float32Array(N * H * this.dims.proprioDim);
    await native(() =>
      h.rollout({
        ...costArgs(request),
        z0: request.z0,
        frames: F,
        actionHistory: request.actionHistory,
        actions: request.actions,
        n: N,
        horizon: H,
        goal: request.goal,
        energies: result.energies,
        finalLatents: result.finalLatents,
        trajectory: result.trajectory,
        proprio: result.proprio,
      }),
    );
    if (request.signal?.aborted) throw new CancelledError('rollout');
    return result;
  }

  async decodeProprio(latents: Float32Array, count: number): Promise<Float32Array> {
    const h = this.live('decodeProprio');
    checkDecodeProprioArgs(this.dims, latents, count);
    const out = new Float32Array(count * this.dims.proprioDim);
    await native(() => h.decodeProprio(latents, count, out));
    return out;
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }
}

async function create(cfg: CheckpointConfig, bindings: CudaBindings, record: Record<string, Float32Array>): Promise<CudaWorldModel> {
  const handle = new bindings.CudaModel();
  await native(() => handle.createFromTensors(toNativeSpec(cfg), record));
  return new CudaWorldModel(cfg, handle);
}

/** Builds a CUDA model from in-memory weights (name → Float32Array); throws CudaDeviceError without a device. */
export async function createCudaModel(
  config: CheckpointConfig | unknown,
  tensors: ReadonlyMap<string, Float32Array>,
): Promise<CudaWorldModel> {
  const cfg = parseCheckpointConfig(config, '(in-memory config)');
  checkTensors(cfg, tensors, '(in-memory tensors)');
  const bindings = cudaBindings();
  requireCudaDevice(bindings);
  const record: Record<string, Float32Array> = {};
  for (const spec of expectedTensors(cfg)) record[spec.name] = tensors.get(spec.name)!;
  return create(cfg, bindings, record);
}

/** Loads a checkpoint folder onto the GPU (weights checked against the config's manifest); throws CudaDeviceError without a device. */
export async function loadCudaModel(dir: string, config: CheckpointConfig): Promise<CudaWorldModel> {
  const cfg = parseCheckpointConfig(config, path.join(dir, 'config.json'));
  const addon = loadNativeAddon();
  const bindings = cudaBindings(addon);
  requireCudaDevice(bindings);
  const record = await addon.loadWeights(path.join(dir, WEIGHTS_FILE), expectedTensors(cfg));
  return create(cfg, bindings, record);
}

// ── the on-device CEM planner ───────────────────────────────────────────────

const weight = z.number().finite().nonnegative();

export const cudaCemOptionsSchema = z.strictObject({
  horizon: z.number().int().positive(),
  /** Candidate sequences per iteration (the device top-k sorts up to 4096). */
  samples: z.number().int().min(2).max(4096),
  eliteCount: z.number().int().positive().optional(),
  eliteFraction: z.number().gt(0).lte(1).default(0.1),
  stdMomentum: z.number().min(0).lt(1).default(0.3),
  momentum: z.number().min(0).lt(1).default(0),
  initStd: z.union([z.number().positive(), z.array(z.number().positive()).min(1)]).default(1),
  minStd: z.number().nonnegative().default(1e-3),
  includeMean: z.boolean().default(true),
  /** Philox key; plan k of this planner uses seed + k (reset() starts again at seed). */
  seed: z.number().int().nonnegative().max(2 ** 52).default(0),
  /** The rollout energy, in the form of the CPU planners' `energy` option (src/planning/energy.ts). */
  energy: z
    .strictObject({
      metric: z.enum(['l1', 'l2']).default('l2'),
      terminalWeight: weight.default(1),
      runningWeight: weight.default(0),
      actionMagnitudeWeight: weight.default(0),
      actionRateWeight: weight.default(0),
      bounds: z
        .strictObject({ low: z.array(z.number().finite()).min(1), high: z.array(z.number().finite()).min(1), weight: weight.default(0) })
        .refine((b) => b.low.length === b.high.length && b.low.every((lo, i) => lo < b.high[i]!), {
          message: 'low and high must have the same length and low[j] < high[j] for every j',
        })
        .optional(),
    })
    .default({ metric: 'l2', terminalWeight: 1, runningWeight: 0, actionMagnitudeWeight: 0, actionRateWeight: 0 }),
});
export type CudaCemOptions = z.input<typeof cudaCemOptionsSchema>;

const cudaBudgetSchema = z.strictObject({
  maxIterations: z.number().int().positive().max(100000),
  tolerance: z.number().nonnegative().optional(),
  patience: z.number().int().positive().optional(),
});

/** A bad planner option, state, goal or budget for the CUDA planner; names the field. */
export class CudaPlanInputError extends Error {
  override name = 'CudaPlanInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function issues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

function vector(field: string, value: unknown, expected: number): Float32Array {
  if (!(value instanceof Float32Array)) throw new CudaPlanInputError(field, `must be a Float32Array, got ${describeType(value)}`);
  if (value.length !== expected) throw new CudaPlanInputError(field, `must have ${expected} elements, got ${value.length}`);
  for (let i = 0; i < value.length; i++) {
    if (!Number.isFinite(value[i])) throw new CudaPlanInputError(`${field}[${i}]`, `is ${value[i]}; every element must be finite`);
  }
  return value;
}

/**
 * CEM with the whole iteration on the GPU (one CUDA graph replay each); only
 * the chosen sequence comes back. Differences from CemPlanner: the budget is
 * a fixed `maxIterations` (maxTime_ms is refused: the iterations run as one
 * batch of graph replays), no BatchEnergyTerms, proprio or pose goals (the
 * energy is the rollout energy alone), sampling clips to the bounds, and the
 * random stream is Philox on the device (so plans differ numerically from the
 * CPU planner's with the same seed). Per-iteration times in the trace are the
 * plan's total divided evenly (the replays are not timed one by one);
 * budget.tolerance and patience are accepted and have no effect.
 */
export class CudaCemPlanner implements Planner {
  readonly horizon: number;
  readonly actionDim: number;
  readonly samples: number;
  readonly eliteCount: number;
  private readonly options: z.output<typeof cudaCemOptionsSchema>;
  private readonly initStd: Float32Array;
  private readonly bounds: { low: Float32Array; high: Float32Array; weight: number } | undefined;
  private calls = 0;
  private busy = false;

  constructor(
    private readonly model: CudaWorldModel,
    options: CudaCemOptions,
  ) {
    const parsed = cudaCemOptionsSchema.safeParse(options);
    if (!parsed.success) throw new CudaPlanInputError('options', issues(parsed.error));
    const o = parsed.data;
    const A = model.dims.actionDim;
    this.options = o;
    this.horizon = o.horizon;
    this.actionDim = A;
    this.samples = o.samples;
    const k = o.eliteCount ?? Math.max(2, Math.round(o.eliteFraction * o.samples));
    if (k > o.samples) throw new CudaPlanInputError('eliteCount', `must be <= samples ${o.samples}, got ${k}`);
    this.eliteCount = k;
    if (Array.isArray(o.initStd) && o.initStd.length !== A) {
      throw new CudaPlanInputError('initStd', `must be one number or ${A} numbers (one per action dim), got ${o.initStd.length}`);
    }
    const D = o.horizon * A;
    this.initStd = new Float32Array(D);
    for (let i = 0; i < D; i++) this.initStd[i] = Array.isArray(o.initStd) ? o.initStd[i % A]! : o.initStd;
    const b = o.energy.bounds;
    const cfgAction = model.config.action;
    if (b) {
      if (b.low.length !== A) throw new CudaPlanInputError('energy.bounds', `must have ${A} values per side, got ${b.low.length}`);
      this.bounds = { low: Float32Array.from(b.low), high: Float32Array.from(b.high), weight: b.weight };
    } else if (cfgAction.low && cfgAction.high) {
      this.bounds = { low: Float32Array.from(cfgAction.low), high: Float32Array.from(cfgAction.high), weight: 0 };
    }
  }

  reset(): void {
    this.calls = 0;
  }

  async plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    if (this.busy) throw new CudaPlanInputError('plan', 'a plan() call is already running on this planner; await it first');
    this.busy = true;
    try {
      return await this.run(state, goal, budget, options);
    } finally {
      this.busy = false;
    }
  }

  private async run(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions): Promise<PlanResult> {
    const t0 = performance.now();
    const dims = this.model.dims;
    const L = dims.latentSize;
    const A = this.actionDim;
    const H = this.horizon;
    const D = H * A;
    if (state === null || typeof state !== 'object') throw new CudaPlanInputError('state', 'must be an object with z0');
    if (!(state.z0 instanceof Float32Array) || state.z0.length === 0 || state.z0.length % L !== 0) {
      throw new CudaPlanInputError('state.z0', `must be a Float32Array of F × latentSize ${L} elements`);
    }
    const F = state.z0.length / L;
    if (F > dims.historyLength) throw new CudaPlanInputError('state.z0', `holds ${F} frames; the model keeps at most ${dims.historyLength}`);
    vector('state.z0', state.z0, F * L);
    if (state.actionHistory !== undefined) vector('state.actionHistory', state.actionHistory, (F - 1) * A);
    if (state.previousAction !== undefined) vector('state.previousAction', state.previousAction, A);
    if (goal === null || typeof goal !== 'object') throw new CudaPlanInputError('goal', 'must be an object with latent');
    vector('goal.latent', goal.latent, L);
    if (goal.proprio !== undefined || goal.pose !== undefined) {
      throw new CudaPlanInputError(
        goal.proprio !== undefined ? 'goal.proprio' : 'goal.pose',
        'the CUDA planner scores the latent goal only; use CemPlanner (src/planning/cem.ts) for proprio or pose goals',
      );
    }
    const b = cudaBudgetSchema.safeParse(budget);
    if (!b.success) {
      throw new CudaPlanInputError(
        'budget',
        `${issues(b.error)} (the CUDA planner runs a fixed budget.maxIterations as CUDA graph replays; maxTime_ms is not supported)`,
      );
    }
    const iterations = b.data.maxIterations;
    if (options.warmStart !== undefined) vector('options.warmStart', options.warmStart, D);
    const signal = options.signal;
    if (signal?.aborted) throw new CancelledError('plan');

    const low = this.bounds?.low;
    const high = this.bounds?.high;
    const initMean = new Float32Array(D);
    for (let i = 0; i < D; i++) {
      let m = options.warmStart ? options.warmStart[i]! : 0;
      if (low && high) {
        const j = i % A;
        if (!options.warmStart && (low[j]! > 0 || high[j]! < 0)) m = 0.5 * (low[j]! + high[j]!);
        m = Math.min(Math.max(m, low[j]!), high[j]!);
      }
      initMean[i] = m;
    }
    const e = this.options.energy;
    const useBounds = this.bounds !== undefined && this.bounds.weight > 0;
    const bestActions = new Float32Array(D);
    const finalMean = new Float32Array(D);
    const stats = new Float32Array(2 * iterations);
    const seed = this.options.seed + this.calls++;
    const handle = this.model.live('plan');
    const { bestEnergy } = await native(() =>
      handle.planCem({
        z0: state.z0,
        frames: F,
        actionHistory: state.actionHistory,
        goal: goal.latent,
        l2: e.metric === 'l2',
        terminalWeight: e.terminalWeight,
        runningWeight: e.runningWeight,
        actionMagnitudeWeight: e.actionMagnitudeWeight,
        actionRateWeight: e.actionRateWeight,
        boundsWeight: useBounds ? this.bounds!.weight : 0,
        previousAction: state.previousAction,
        low: useBounds ? low : undefined,
        high: useBounds ? high : undefined,
        samples: this.samples,
        horizon: H,
        iterations,
        elites: this.eliteCount,
        initMean,
        initStd: this.initStd,
        clipLow: low,
        clipHigh: high,
        minStd: this.options.minStd,
        momentum: this.options.momentum,
        stdMomentum: this.options.stdMomentum,
        includeMean: this.options.includeMean,
        seed,
        bestActions,
        finalMean,
        iterationStats: stats,
      }),
    );
    if (signal?.aborted) throw new CancelledError('plan');
    const total = performance.now() - t0;
    const trace = [];
    let bestSoFar = Number.POSITIVE_INFINITY;
    for (let i = 0; i < iterations; i++) {
      const best = stats[2 * i]!;
      bestSoFar = Math.min(bestSoFar, best);
      const elapsed = (total * (i + 1)) / iterations;
      trace.push({ best, mean: stats[2 * i + 1]!, bestSoFar, elapsed_ms: elapsed, rollout_ms: total / iterations, outside_ms: 0 });
    }
    return {
      actions: bestActions,
      energy: bestEnergy,
      iterations,
      converged: false,
      trace: { iterations: trace, total_ms: total, rollout_ms: total, outside_ms: 0, stop: 'maxIterations' },
      mean: finalMean,
      horizon: H,
      actionDim: A,
    };
  }
}
