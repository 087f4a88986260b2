/**
 * Float64 reference rollout and energy (the formula in src/addon/types.ts).
 *
 *   rolloutSample(cfg, weights, req, n, shape) → { latents [H, latentSize] }
 *       rolls sample n of a validated request: the window starts with the F
 *       frames of z0 and their actions (actionHistory, zeros when omitted,
 *       then a_0); each step appends the prediction and the next action and
 *       drops the oldest frame once the window holds historyLength frames.
 *   sampleEnergy(cost, latents, goal, actions, H, A, L) → E_n (float64)
 *       latents [H, L] = z_1..z_H, actions [H, A] = a_0..a_{H-1}.
 *   latentDistance(metric, z, zOffset, goal, L) → mean |z - g| or mean (z - g)²
 *   runRollout(cfg, weights, req, shape) → RolloutResult, yielding to the
 *       event loop between samples and rejecting with CancelledError once
 *       req.signal is aborted.
 */
import type { CheckpointConfig } from '../../model/config';
import { modelDims } from '../../model/config';
import { CancelledError, type RolloutRequest, type RolloutResult } from '../types';
import { type ResolvedCost, type RolloutShape, resolveCost } from '../validate';
import { decodeProprioOne, predictStep, type Weights } from './forward';
import type { Vec } from './ops';

/** Mean over L elements of |z - g| (l1) or (z - g)² (l2), z read from zOffset. */
export function latentDistance(metric: 'l1' | 'l2', z: Vec, zOffset: number, goal: Vec, L: number): number {
  let sum = 0;
  for (let i = 0; i < L; i++) {
    const d = z[zOffset + i] - goal[i];
    sum += metric === 'l1' ? Math.abs(d) : d * d;
  }
  return sum / L;
}

/** Energy of one sample: latents [H, L] (z_1..z_H), actions [H, A] (a_0..a_{H-1}). */
export function sampleEnergy(
  cost: ResolvedCost,
  latents: Vec,
  goal: Vec,
  actions: Vec,
  H: number,
  A: number,
  L: number,
): number {
  let running = 0;
  for (let t = 0; t < H; t++) running += latentDistance(cost.metric, latents, t * L, goal, L);
  const terminal = latentDistance(cost.metric, latents, (H - 1) * L, goal, L);
  let energy = cost.runningWeight * running + cost.terminalWeight * terminal;

  let magnitude = 0;
  for (let t = 0; t < H; t++) {
    let s = 0;
    for (let j = 0; j < A; j++) s += actions[t * A + j] ** 2;
    magnitude += s / A;
  }
  energy += cost.actionMagnitudeWeight * magnitude;

  let rate = 0;
  for (let t = 0; t < H; t++) {
    if (t === 0 && !cost.previousAction) continue;
    let s = 0;
    for (let j = 0; j < A; j++) {
      const before = t === 0 ? cost.previousAction![j] : actions[(t - 1) * A + j];
      s += (actions[t * A + j] - before) ** 2;
    }
    rate += s / A;
  }
  energy += cost.actionRateWeight * rate;

  if (cost.actionBounds) {
    const { low, high } = cost.actionBounds;
    let violation = 0;
    for (let t = 0; t < H; t++) {
      for (let j = 0; j < A; j++) {
        const a = actions[t * A + j];
        const over = Math.max(0, a - high[j]) + Math.max(0, low[j] - a);
        violation += over * over;
      }
    }
    energy += cost.boundsWeight * violation;
  }
  return energy;
}

/** Rolls sample n of a validated request H steps → predicted latents z_1..z_H [H, L]. */
export function rolloutSample(
  cfg: CheckpointConfig,
  weights: Weights,
  req: RolloutRequest,
  n: number,
  shape: RolloutShape,
): Float64Array {
  const dims = modelDims(cfg);
  const L = dims.latentSize;
  const A = dims.actionDim;
  const { H, F } = shape;
  const frames: Float64Array[] = [];
  const frameActions: Float64Array[] = [];
  for (let f = 0; f < F; f++) {
    frames.push(Float64Array.from(req.z0.subarray(f * L, (f + 1) * L)));
    if (f < F - 1) {
      frameActions.push(req.actionHistory ? Float64Array.from(req.actionHistory.subarray(f * A, (f + 1) * A)) : new Float64Array(A));
    }
  }
  const base = n * H * A;
  const out = new Float64Array(H * L);
  for (let t = 0; t < H; t++) {
    frameActions.push(Float64Array.from(req.actions.subarray(base + t * A, base + (t + 1) * A)));
    const window = frames.length;
    const latents = new Float64Array(window * L);
    const actions = new Float64Array(window * A);
    for (let f = 0; f < window; f++) {
      latents.set(frames[f], f * L);
      actions.set(frameActions[f], f * A);
    }
    const next = predictStep(cfg, weights, latents, actions, window);
    out.set(next, t * L);
    frames.push(next);
    if (frames.length > dims.historyLength) {
      frames.shift();
      frameActions.shift();
    }
  }
  return out;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs a validated rollout request (float64 inside, float32 out). */
export async function runRollout(
  cfg: CheckpointConfig,
  weights: Weights,
  req: RolloutRequest,
  shape: RolloutShape,
): Promise<RolloutResult> {
  const dims = modelDims(cfg);
  const L = dims.latentSize;
  const A = dims.actionDim;
  const P = dims.proprioDim;
  const { N, H } = shape;
  const cost = resolveCost(req.cost);
  const energies = new Float32Array(N);
  const finalLatents = req.returnFinalLatents ? new Float32Array(N * L) : undefined;
  const trajectory = req.returnTrajectory ? new Float32Array(N * H * L) : undefined;
  const proprio = req.returnProprio ? new Float32Array(N * H * P) : undefined;
  for (let n = 0; n < N; n++) {
    if (req.signal?.aborted) throw new CancelledError('rollout');
    const latents = rolloutSample(cfg, weights, req, n, shape);
    const actions = req.actions.subarray(n * H * A, (n + 1) * H * A);
    energies[n] = sampleEnergy(cost, latents, req.goal, actions, H, A, L);
    finalLatents?.set(latents.subarray((H - 1) * L), n * L);
    trajectory?.set(latents, n * H * L);
    if (proprio) {
      for (let t = 0; t < H; t++) proprio.set(decodeProprioOne(cfg, weights, latents.subarray(t * L, (t + 1) * L)), (n * H + t) * P);
    }
    await yieldToEventLoop();
  }
  if (req.signal?.aborted) throw new CancelledError('rollout');
  const result: RolloutResult = { energies };
  if (finalLatents) result.finalLatents = finalLatents;
  if (trajectory) result.trajectory = trajectory;
  if (proprio) result.proprio = proprio;
  return result;
}
