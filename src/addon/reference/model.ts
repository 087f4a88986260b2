/**
 * The float64 TypeScript WorldModel (backend 'reference'): the oracle for the
 * native backends and the mock the planner tests run on with no native build.
 *
 *   createReferenceModel(config, tensors) → WorldModel
 *       config: a parsed CheckpointConfig; tensors: name → Float32Array,
 *       checked against expectedTensors(config) (missing or wrong size throws
 *       CheckpointTensorError; extra tensors are ignored) and copied.
 *   loadReferenceModel(dir) → WorldModel from a checkpoint folder.
 *
 * Every method validates its arguments with ../validate first, runs on the
 * calling thread (yielding between samples), honours AbortSignal with
 * CancelledError, and throws ModelDisposedError after dispose().
 */
import type { z } from 'zod';
import { type CheckpointConfig, type checkpointConfigSchema, type ModelDims, modelDims, parseCheckpointConfig } from '../../model/config';
import { checkTensors, loadCheckpoint } from '../../model/checkpoint';
import { expectedTensors } from '../../model/tensors';
import { CancelledError, type EncodeOptions, type RolloutRequest, type RolloutResult, type WorldModel } from '../types';
import { checkDecodeProprioArgs, checkEncodeArgs, checkRolloutRequest, ModelDisposedError } from '../validate';
import { decodeProprioOne, encodeOne, type Weights } from './forward';
import { runRollout } from './rollout';

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

class ReferenceModel implements WorldModel {
  readonly backend = 'reference' as const;
  readonly dims: ModelDims;
  private disposed = false;

  constructor(
    readonly config: CheckpointConfig,
    private readonly weights: Weights,
  ) {
    this.dims = modelDims(config);
  }

  private live(what: string): void {
    if (this.disposed) throw new ModelDisposedError(what);
  }

  async encode(frames: Float32Array, count: number, options?: EncodeOptions): Promise<Float32Array> {
    this.live('encode');
    checkEncodeArgs(this.dims, frames, count);
    const S = this.dims.inputSize;
    const L = this.dims.latentSize;
    const out = new Float32Array(count * L);
    for (let i = 0; i < count; i++) {
      if (options?.signal?.aborted) throw new CancelledError('encode');
      out.set(encodeOne(this.config, this.weights, frames.subarray(i * S, (i + 1) * S)), i * L);
      await yieldToEventLoop();
    }
    if (options?.signal?.aborted) throw new CancelledError('encode');
    return out;
  }

  async rollout(request: RolloutRequest): Promise<RolloutResult> {
    this.live('rollout');
    const shape = checkRolloutRequest(this.dims, request);
    return runRollout(this.config, this.weights, request, shape);
  }

  async decodeProprio(latents: Float32Array, count: number): Promise<Float32Array> {
    this.live('decodeProprio');
    checkDecodeProprioArgs(this.dims, latents, count);
    const L = this.dims.latentSize;
    const P = this.dims.proprioDim;
    const out = new Float32Array(count * P);
    for (let i = 0; i < count; i++) out.set(decodeProprioOne(this.config, this.weights, latents.subarray(i * L, (i + 1) * L)), i * P);
    return out;
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** A config as written in config.json (defaults not yet filled in), or an already parsed one. */
export type CheckpointConfigInput = z.input<typeof checkpointConfigSchema>;

/**
 * A reference WorldModel over in-memory tensors. `config` is parsed here with
 * the checkpoint schema (CheckpointConfigError on a bad one), so a literal
 * without the defaulted fields is fine.
 */
export function createReferenceModel(config: CheckpointConfigInput | CheckpointConfig, tensors: ReadonlyMap<string, Float32Array>): WorldModel {
  const cfg = parseCheckpointConfig(config, '(in-memory config)');
  checkTensors(cfg, tensors, '(in-memory tensors)');
  // Own copies, like the native backends: later edits to the caller's arrays do not change the model.
  const own = new Map<string, Float32Array>();
  for (const spec of expectedTensors(cfg)) own.set(spec.name, tensors.get(spec.name)!.slice());
  return new ReferenceModel(cfg, own);
}

/** Loads config.json + model.safetensors from a checkpoint folder into a reference WorldModel. */
export async function loadReferenceModel(dir: string): Promise<WorldModel> {
  const { config, tensors } = await loadCheckpoint(dir);
  return new ReferenceModel(config, tensors);
}
