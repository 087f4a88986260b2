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
  private readonly sq: Float64Array;

  constructor(model: WorldModel, options: CemOptions, terms: readonly BatchEnergyTerm[] = []) {
    const o = parsePlannerOptions(cemOptionsSchema, options, 'CEM options');
    super(model, o as SamplingOptions, terms);
    const k = o.eliteCount ?? Math.max(2, Math.round(o.eliteFraction * o.samples));
    if (k > o.samples) throw new PlanInputError('eliteCount', `must be <= samples ${o.samples}, got ${k}`);
    this.eliteCount = k;
    this.stdMomentum = o.stdMomentum;
    this.idx = new Int32Array(o.samples);
    this.acc = new Float64Array(o.horizon * model.dims.actionDim);
    this.sq = new Float64Array(o.horizon * model.dims.actionDim);
  }

  protected update(ctx: UpdateContext): void {
    const { N, D, actions, energies, mean, std } = ctx;
    const K = this.eliteCount;
    const idx = this.idx;
    for (let n = 0; n < N; n++) idx[n] = n;
    selectSmallest(idx, energies, N, K);
    // Elite mean, then elite variance (two passes, row-contiguous reads).
    const mu = this.acc;
    const v = this.sq;
    mu.fill(0);
    v.fill(0);
    for (let k = 0; k < K; k++) {
      const base = idx[k] * D;
      for (let i = 0; i < D; i++) mu[i] += actions[base + i];
    }
    const invK = 1 / K;
    for (let i = 0; i < D; i++) mu[i] *= invK;
    for (let k = 0; k < K; k++) {
      const base = idx[k] * D;
      for (let i = 0; i < D; i++) {
        const d = actions[base + i] - mu[i];
        v[i] += d * d;
      }
    }
    const m = this.options.momentum;
    const sm = this.stdMomentum;
    for (let i = 0; i < D; i++) {
      std[i] = sm * std[i] + (1 - sm) * Math.sqrt(v[i] * invK);
      mean[i] = m * mean[i] + (1 - m) * mu[i];
    }
  }
}
