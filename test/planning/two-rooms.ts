/**
 * Two rooms joined by a door: a point mass in [0, 2] × [0, 1] with a wall at
 * x = 1 that it can pass only through the door gap. Not linear, so instead of
 * a reference checkpoint this is a small WorldModel of its own (a legitimate
 * mock of the same interface): latent = position, true collision dynamics
 * computed in batch, energies by the reference's own formula (sampleEnergy).
 * The coarse counterpart holds each macro-action for `macroSteps` fine steps
 * — the high-level model of the hierarchical planner.
 */
import { sampleEnergy } from '../../src/addon/reference';
import { CancelledError, type RolloutRequest, type RolloutResult, type WorldModel } from '../../src/addon/types';
import { checkDecodeProprioArgs, checkEncodeArgs, checkRolloutRequest, resolveCost } from '../../src/addon/validate';
import { type CheckpointConfig, modelDims, parseCheckpointConfig } from '../../src/model/config';

export interface RoomsLayout {
  /** Distance moved per fine step at |action| = 1. */
  speed: number;
  /** Door gap on the wall x = 1: doorLow < y < doorHigh. */
  doorLow: number;
  doorHigh: number;
}

export const defaultLayout: RoomsLayout = { speed: 0.05, doorLow: 0.7, doorHigh: 0.95 };

/** One fine step from (x, y) with action (ax, ay) clipped to [-1, 1]; writes into out[0..1]. */
export function roomsStep(layout: RoomsLayout, x: number, y: number, ax: number, ay: number, out: Float64Array): void {
  const cx = ax < -1 ? -1 : ax > 1 ? 1 : ax;
  const cy = ay < -1 ? -1 : ay > 1 ? 1 : ay;
  let nx = x + layout.speed * cx;
  let ny = y + layout.speed * cy;
  nx = nx < 0 ? 0 : nx > 2 ? 2 : nx;
  ny = ny < 0 ? 0 : ny > 1 ? 1 : ny;
  const left = x < 1;
  if (left !== nx < 1) {
    const yc = y + ((1 - x) / (nx - x)) * (ny - y);
    if (!(yc > layout.doorLow && yc < layout.doorHigh)) nx = left ? 1 - 1e-3 : 1 + 1e-3; // blocked: slide along the wall
  }
  out[0] = nx;
  out[1] = ny;
}

function roomsConfig(name: string, macroSteps: number): CheckpointConfig {
  return parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name,
    latent: { tokens: 1, dim: 2 },
    action: { dim: 2, low: [-1, -1], high: [1, 1] },
    frameskip: macroSteps,
    encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [] },
    predictor: { kind: 'mlp', hiddenDims: [32] },
    proprio: { dim: 2, names: ['x', 'y'] },
  });
}

/** The two-rooms world as a WorldModel; each model step is `macroSteps` fine steps of the same action. */
export class TwoRoomsModel implements WorldModel {
  readonly backend = 'reference' as const;
  readonly config: CheckpointConfig;
  readonly dims;
  /** Batched rollout calls served (for tests that count work). */
  rolloutCalls = 0;

  constructor(
    readonly layout: RoomsLayout = defaultLayout,
    readonly macroSteps = 1,
  ) {
    this.config = roomsConfig(macroSteps === 1 ? 'two-rooms' : `two-rooms-x${macroSteps}`, macroSteps);
    this.dims = modelDims(this.config);
  }

  async encode(frames: Float32Array, count: number): Promise<Float32Array> {
    checkEncodeArgs(this.dims, frames, count);
    return frames.slice();
  }

  async decodeProprio(latents: Float32Array, count: number): Promise<Float32Array> {
    checkDecodeProprioArgs(this.dims, latents, count);
    return latents.slice();
  }

  async rollout(req: RolloutRequest): Promise<RolloutResult> {
    const { N, H } = checkRolloutRequest(this.dims, req);
    this.rolloutCalls++;
    if (req.signal?.aborted) throw new CancelledError('rollout');
    const cost = resolveCost(req.cost);
    const energies = new Float32Array(N);
    const trajectory = req.returnTrajectory || req.returnProprio || req.returnFinalLatents ? new Float32Array(N * H * 2) : undefined;
    const latents = new Float64Array(H * 2);
    const pos = new Float64Array(2);
    const x0 = req.z0[req.z0.length - 2];
    const y0 = req.z0[req.z0.length - 1];
    for (let n = 0; n < N; n++) {
      let x = x0;
      let y = y0;
      for (let t = 0; t < H; t++) {
        const ax = req.actions[(n * H + t) * 2];
        const ay = req.actions[(n * H + t) * 2 + 1];
        for (let s = 0; s < this.macroSteps; s++) {
          roomsStep(this.layout, x, y, ax, ay, pos);
          x = pos[0];
          y = pos[1];
        }
        latents[t * 2] = x;
        latents[t * 2 + 1] = y;
      }
      energies[n] = sampleEnergy(cost, latents, req.goal, req.actions.subarray(n * H * 2, (n + 1) * H * 2), H, 2, 2);
      trajectory?.set(latents, n * H * 2);
    }
    const result: RolloutResult = { energies };
    if (req.returnTrajectory) result.trajectory = trajectory;
    if (req.returnProprio) result.proprio = trajectory!.slice();
    if (req.returnFinalLatents) {
      const fin = new Float32Array(N * 2);
      for (let n = 0; n < N; n++) fin.set(trajectory!.subarray((n * H + H - 1) * 2, (n * H + H) * 2), n * 2);
      result.finalLatents = fin;
    }
    return result;
  }

  dispose(): void {}
}
