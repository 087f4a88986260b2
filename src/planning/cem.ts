/**
 * Cross-entropy method: the distribution moves to the mean and std of the K
 * lowest-energy samples (elites), smoothed by momentum; the shared sampling
 * code applies the variance floor and schedule. K is picked by quickselect,
 * O(N), without sorting.
 */
import { z } from 'zod';
import type { WorldModel } from '../addon/types';
import type { BatchEnergyTerm } from './energy';
import { PlanInputError } from './errors';
import { parsePlannerOptions, SamplingPlanner, samplingOptionsShape, type SamplingOptions, type UpdateContext } from './sampling';
import { selectSmallest } from './select';

export const cemOptionsSchema = z.strictObject({
  ...samplingOptionsShape,
  /** Elites per iteration: a count, or a fraction of samples when eliteCount is absent. */
  eliteCount: z.number().int().positive().optional(),
  eliteFraction: z.number().gt(0).lte(1).default(0.1),
  /** Std smoothing: std ← stdMomentum * std + (1 - stdMomentum) * elite std. */
  stdMomentum: z.number().min(0).lt(1).default(0.3),
});
export type CemOptions = z.input<typeof cemOptionsSchema>;

export class CemPlanner extends SamplingPlanner {
  readonly eliteCount: number;
  private readonly stdMomentum: number;
  private readonly idx: Int32Array;
  private readonly acc: Float64Array;

  constructor(model: WorldModel, options: CemOptions, terms: readonly BatchEnergyTerm[] = []) {
    const o = parsePlannerOptions(cemOptionsSchema, options, 'CEM options');
    super(model, o as SamplingOptions, terms);
    const k = o.eliteCount ?? Math.max(2, Math.round(o.eliteFraction * o.samples));
    if (k > o.samples) throw new PlanInputError('eliteCount', `must be <= samples ${o.samples}, got ${k}`);
    this.eliteCount = k;
    this.stdMomentum = o.stdMomentum;
    this.idx = new Int32Array(o.samples);
    this.acc = new Float64Array(o.horizon * model.dims.actionDim);
  }

  protected update(ctx: UpdateContext): void {
    const { N, D, actions, energies, mean, std } = ctx;
    const K = this.eliteCount;
    const idx = this.idx;
    for (let n = 0; n < N; n++) idx[n] = n;
    selectSmallest(idx, energies, N, K);
    const acc = this.acc;
    acc.fill(0);
    for (let k = 0; k < K; k++) {
      const base = idx[k] * D;
      for (let i = 0; i < D; i++) acc[i] += actions[base + i];
    }
    const m = this.options.momentum;
    const sm = this.stdMomentum;
    const invK = 1 / K;
    for (let i = 0; i < D; i++) acc[i] *= invK; // acc = elite mean
    // Elite variance (two-pass for accuracy), then smoothed updates.
    for (let i = 0; i < D; i++) std[i] = sm * std[i] + (1 - sm) * Math.sqrt(eliteVariance(actions, idx, K, D, i, acc[i]));
    for (let i = 0; i < D; i++) mean[i] = m * mean[i] + (1 - m) * acc[i];
  }
}

function eliteVariance(actions: Float32Array, idx: Int32Array, K: number, D: number, i: number, m: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) {
    const d = actions[idx[k] * D + i] - m;
    s += d * d;
  }
  return s / K;
}
