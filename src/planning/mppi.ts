/**
 * Model-predictive path integral control: the mean moves to the
 * softmax(-E / temperature)-weighted average of the samples, smoothed by
 * momentum; the std is the fixed exploration noise — the shared `initStd`
 * option, times the shared variance schedule and floor — or, with adaptStd,
 * the weighted std of the samples.
 */
import { z } from 'zod';
import type { WorldModel } from '../addon/types';
import type { BatchEnergyTerm } from './energy';
import { parsePlannerOptions, SamplingPlanner, samplingOptionsShape, type SamplingOptions, type UpdateContext } from './sampling';

export const mppiOptionsSchema = z.strictObject({
  ...samplingOptionsShape,
  /** Temperature λ (energy units): lower → greedier weights. */
  temperature: z.number().positive().default(1),
  /** Re-estimate the std from the weighted samples each iteration instead of keeping the noise fixed. */
  adaptStd: z.boolean().default(false),
});
export type MppiOptions = z.input<typeof mppiOptionsSchema>;

export class MppiPlanner extends SamplingPlanner {
  readonly temperature: number;
  private readonly adaptStd: boolean;
  private readonly weights: Float64Array;
  private readonly acc: Float64Array;

  constructor(model: WorldModel, options: MppiOptions, terms: readonly BatchEnergyTerm[] = []) {
    const o = parsePlannerOptions(mppiOptionsSchema, options, 'MPPI options');
    super(model, o as SamplingOptions, terms);
    this.temperature = o.temperature;
    this.adaptStd = o.adaptStd;
    this.weights = new Float64Array(o.samples);
    this.acc = new Float64Array(o.horizon * model.dims.actionDim);
  }

  protected update(ctx: UpdateContext): void {
    const { N, D, actions, energies, mean, std } = ctx;
    let emin = Number.POSITIVE_INFINITY;
    for (let n = 0; n < N; n++) if (energies[n] < emin) emin = energies[n];
    if (!Number.isFinite(emin)) return; // every sample hit a hard barrier: keep the distribution
    const w = this.weights;
    const invT = 1 / this.temperature;
    let wsum = 0;
    for (let n = 0; n < N; n++) {
      const v = Math.exp(-(energies[n] - emin) * invT);
      w[n] = v;
      wsum += v;
    }
    const acc = this.acc;
    acc.fill(0);
    const cutoff = 1e-12 * wsum;
    for (let n = 0; n < N; n++) {
      const wn = w[n];
      if (wn <= cutoff) continue;
      const base = n * D;
      for (let i = 0; i < D; i++) acc[i] += wn * actions[base + i];
    }
    const inv = 1 / wsum;
    for (let i = 0; i < D; i++) acc[i] *= inv;
    if (this.adaptStd) {
      for (let i = 0; i < D; i++) std[i] = 0;
      for (let n = 0; n < N; n++) {
        const wn = w[n];
        if (wn <= cutoff) continue;
        const base = n * D;
        for (let i = 0; i < D; i++) {
          const d = actions[base + i] - acc[i];
          std[i] += wn * d * d;
        }
      }
      for (let i = 0; i < D; i++) std[i] = Math.sqrt(std[i] * inv);
    }
    const m = this.options.momentum;
    for (let i = 0; i < D; i++) mean[i] = m * mean[i] + (1 - m) * acc[i];
  }
}
