/**
 * AdamW over a model's trainable Params (./graph), one native in-place update
 * per tensor (addon train.adamwStep: decoupled weight decay, bias-corrected
 * moments). Weight decay is applied to Linear and Conv weights only, never to
 * biases, norm scales, layer-scale gammas, cls tokens or position embeddings,
 * as is usual for transformers and MLPs. Frozen Params are skipped.
 */
import { z } from 'zod';
import type { Param } from './graph';
import type { TrainKernels } from './kernels';

export const adamwOptionsSchema = z.strictObject({
  lr: z.number().positive().default(1e-3),
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  eps: z.number().positive().default(1e-8),
  weightDecay: z.number().min(0).default(0.01),
});
export type AdamWOptions = z.infer<typeof adamwOptionsSchema>;

/** Whether weight decay applies to a tensor: Linear/Conv weights, not norm scales or embeddings. */
export function decays(name: string): boolean {
  return name.endsWith('.weight') && !/(^|\.)(norm\d*|norms\.\d+|out_norm)\.weight$/.test(name);
}

export class AdamW {
  private readonly state = new Map<Param, { m: Float32Array; v: Float32Array; decay: boolean }>();
  private steps = 0;
  readonly options: AdamWOptions;

  constructor(
    private readonly k: TrainKernels,
    private readonly params: readonly Param[],
    options: Partial<AdamWOptions> = {},
  ) {
    this.options = adamwOptionsSchema.parse(options);
    for (const p of params) {
      this.state.set(p, { m: new Float32Array(p.value.length), v: new Float32Array(p.value.length), decay: decays(p.name) });
    }
  }

  get step(): number {
    return this.steps;
  }

  /** The moments by `<param>.exp_avg` / `<param>.exp_avg_sq` (views, not copies), for checkpoints. */
  stateTensors(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [p, s] of this.state) {
      out.set(`${p.name}.exp_avg`, s.m);
      out.set(`${p.name}.exp_avg_sq`, s.v);
    }
    return out;
  }

  /** Restores moments and the step count saved by stateTensors(); every tensor must be present with its size. */
  loadState(tensors: ReadonlyMap<string, Float32Array>, step: number, where: string): void {
    for (const [p, s] of this.state) {
      for (const [key, dst] of [[`${p.name}.exp_avg`, s.m], [`${p.name}.exp_avg_sq`, s.v]] as const) {
        const src = tensors.get(key);
        if (!src || src.length !== dst.length) {
          throw new RangeError(`${where}: optimizer tensor '${key}' is ${src ? `${src.length} values` : 'missing'}, expected ${dst.length}; delete the file to restart the optimizer`);
        }
        dst.set(src);
      }
    }
    this.steps = step;
  }

  /** One update of every trainable Param from its .grad; lr overrides the configured rate (schedules). */
  update(lr = this.options.lr): void {
    this.steps += 1;
    for (const p of this.params) {
      if (!p.trainable) continue;
      const s = this.state.get(p)!;
      this.k.adamwStep({
        param: p.value, grad: p.grad, m: s.m, v: s.v, n: p.value.length,
        lr, beta1: this.options.beta1, beta2: this.options.beta2, eps: this.options.eps,
        weightDecay: s.decay ? this.options.weightDecay : 0,
        step: this.steps,
      });
    }
  }
}
