/**
 * The JEPA trainer: encoder + action-conditioned predictor trained on
 * sequences of (frame, action) with the objective of ./objective.
 *
 * One step on a batch of B sequences of T transitions (time-major):
 *   Z = enc(o_0..o_T) for all (T+1)·B frames (online encoder, one batched call)
 *   targets Z* = Z with gradient stopped, or the EMA target encoder's latents
 *   teacher forcing: ẑ_{t+1} = pred(z_t, a_t) for every t, MSE to z*_{t+1}
 *     (transformer predictor: windows of F = min(T, historyLength) encoded
 *     frames, every start 0..T-F; frame-causal attention makes the tokens of
 *     frame f predict z_{f+1} from frames ≤ f, all in one pass, as DINO-WM)
 *   rollout (k = rolloutSteps ≥ 2): from every start t ≤ T-k, ẑ_{t+j} =
 *     pred(ẑ_{t+j-1}, a_{t+j-1}) with ẑ_t = z_t, MSE to z*_{t+j}, mean over j
 *     (transformer: the window holds the last ≤ historyLength of z_t, ẑ_{t+1}, …)
 *   regulariser on Z (none, VICReg variance + covariance, or SIGReg)
 *   proprio head (proprioWeight > 0, config.proprio set): p̂ = proprio_head(z)
 *     for every frame, L_p = mean_j ((p̂_j - p_j) / s_j)² over the first
 *     proprio.dim entries of the batch's proprio vectors, s_j their dataset
 *     std; its gradient reaches the encoder (an auxiliary task that keeps the
 *     robot's own joints legible in the latent, and gives the planner the
 *     decoded joints its guardrail terms need)
 *   predicted proprio (predictedProprioWeight > 0, mlp predictors): the same
 *     head loss on every teacher-forced and rollout prediction, scored against
 *     the proprio of the frame it predicts (L_pq = L_p(tf) + mean_j L_p(ẑ_{t+j}))
 *   loss = wp·L_tf + wr·L_rollout + regulariser + wpp·L_p + wpq·L_pq; backward; AdamW; EMA update.
 * A frozen encoder (freezeEncoder) trains the predictor only. proprioPassThrough
 * holds the first k latent dims of a cnn with proprioFeatures at the k
 * normalised proprio values (and the proprio head's first k outputs at their
 * exact decoding): those entries are set once and restored after every update.
 */
import { z } from 'zod';
import { type CheckpointConfig, headProprioOf } from '../model/config';
import { type CollapseDiagnostics, collapseDiagnostics } from './diagnostics';
import { Graph, type Node, type Param } from './graph';
import type { TrainKernels } from './kernels';
import { TrainableModel } from './model-graph';
import {
  addInto,
  covarianceLoss,
  mseLoss,
  randomDirections,
  regularizerSchema,
  sigregLoss,
  varianceLoss,
} from './objective';
import { AdamW, adamwOptionsSchema } from './optimizer';
import type { SequenceBatch } from './synthetic';

export const jepaOptionsSchema = z.strictObject({
  predictionWeight: z.number().min(0).default(1),
  rolloutSteps: z.number().int().min(0).default(2),
  rolloutWeight: z.number().min(0).default(1),
  regularizer: regularizerSchema.default({ kind: 'vicreg', varianceWeight: 1, covarianceWeight: 0.04, stdTarget: 1, eps: 1e-4 }),
  target: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('online') }),
      z.strictObject({ kind: z.literal('ema'), momentum: z.number().min(0).lt(1).default(0.99) }),
    ])
    .default({ kind: 'online' }),
  freezeEncoder: z.boolean().default(false),
  /**
   * Stop the gradient at the targets (default). false lets the prediction loss
   * pull the targets too (online target only), the setting in which an
   * unregularised JEPA collapses fastest; used to demonstrate the regulariser.
   */
  stopGradient: z.boolean().default(true),
  optimizer: adamwOptionsSchema.default({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }),
  /**
   * Weight of the proprio-head loss (0: the head is not trained). On a pixel encoder keep it near the
   * JEPA terms' weights: at 10 the push-t encoder learned the pusher alone and ignored the T block
   * (hiding it barely moved the latent), at 1 it holds both (models/README.md, push-t).
   */
  proprioWeight: z.number().min(0).default(0),
  /**
   * The robot's proprio passes through the latent unchanged. On a cnn encoder with proprioFeatures
   * (k proprio planes) and no output norm, latent dims 0..k-1 are the k normalised proprio values:
   * encoder.head's rows for them are held at a pass-through of the plane means (1 on the mean's own
   * column, 0 on every feature column and on the bias), set at construction and restored after every
   * update. The joints then take nothing of the convolutions' capacity and decode exactly through a
   * linear head; the predictor learns their motion from the latent as a state model's does.
   */
  proprioPassThrough: z.boolean().default(false),
  /**
   * Weight of the proprio-head loss on the predicted latents (0: off; mlp predictors): the head's
   * decoding of every teacher-forced ẑ_{t+1} and every rollout ẑ_{t+j} is scored against the frame's
   * proprio as the encoded latents' is (the teacher-forced mean plus the mean over rollout steps).
   * The planner scores decoded predictions against joint targets; this trains the predictor on
   * exactly that, where the latent MSE weighs the joints' few dims no more than the scene's.
   */
  predictedProprioWeight: z.number().min(0).default(0),
});
export type JepaOptions = z.infer<typeof jepaOptionsSchema>;
export type JepaOptionsInput = z.input<typeof jepaOptionsSchema>;

/**
 * What is wrong with these objective options for this model (empty: nothing), each problem naming its
 * option; the trainer refuses them, and `jepa train` before it loads any data.
 */
export function objectiveProblems(config: CheckpointConfig, o: JepaOptions): string[] {
  const problems: string[] = [];
  const P = config.proprio?.dim ?? 0;
  if (o.proprioWeight > 0 && P === 0) problems.push('objective.proprioWeight > 0 needs a proprio head: set model.proprio.dim');
  if (o.predictedProprioWeight > 0) {
    if (o.proprioWeight === 0) problems.push('objective.predictedProprioWeight > 0 needs proprioWeight > 0 (the head it decodes predictions with must be trained)');
    if (config.predictor.kind !== 'mlp') problems.push(`objective.predictedProprioWeight: mlp predictors only (this one is '${config.predictor.kind}')`);
  }
  if (o.proprioPassThrough) {
    const enc = config.encoder;
    const k = headProprioOf(enc);
    const why =
      k === 0 ? "needs a cnn encoder with proprioFeatures (the head must see the proprio planes' values)"
      : enc.kind === 'cnn' && enc.outputNorm ? 'needs encoder.outputNorm off (a layer norm after the head would mix the passed-through values)'
      : config.latent.dim <= k ? `needs latent.dim > proprioPlanes (${config.latent.dim} <= ${k}): the first ${k} dims carry the proprio, the rest the scene`
      : undefined;
    if (why) problems.push(`objective.proprioPassThrough: ${why}`);
  }
  return problems;
}

/** The leading `value.length` entries of a tensor, held at `value`. */
type Pin = { param: Param; value: Float32Array };

/** Rows 0..count-1 of a Linear's weight [out, cols] and bias: row j zero but for `value(j)` at column `column(j)`, bias `biasOf(j)`. */
function pinRows(weight: Param, bias: Param, count: number, column: (j: number) => number, value: (j: number) => number, biasOf: (j: number) => number): Pin[] {
  const cols = weight.value.length / bias.value.length;
  const w = new Float32Array(count * cols);
  for (let j = 0; j < count; j++) w[j * cols + column(j)] = value(j);
  return [
    { param: weight, value: w },
    { param: bias, value: Float32Array.from({ length: count }, (_, j) => biasOf(j)) },
  ];
}

/**
 * The entries a pass-through holds: encoder.head row j < k passes plane mean j through (1 at its
 * column, the head input's (k − j)-th from the end); proprio_head row j < k (where the head has it)
 * undoes the input normalisation of channel 3 + j (std at column j, bias mean).
 */
function passThroughPins(model: TrainableModel): Pin[] {
  const k = headProprioOf(model.config.encoder);
  const head = model.param('encoder.head.weight');
  const inputs = head.value.length / model.dims.latentDim;
  const pins = pinRows(head, model.param('encoder.head.bias'), k, (j) => inputs - k + j, () => 1, () => 0);
  const norm = model.config.normalization;
  const P = Math.min(k, model.dims.proprioDim);
  if (P > 0) pins.push(...pinRows(model.param('proprio_head.weight'), model.param('proprio_head.bias'), P, (j) => j, (j) => norm?.std[3 + j] ?? 1, (j) => norm?.mean[3 + j] ?? 0));
  return pins;
}

export interface StepStats {
  loss: number;
  prediction: number;
  rollout: number;
  regularizer: number;
  /** The proprio-head terms: on the encoded latents, plus on the predicted ones (predictedProprioWeight). */
  proprio: number;
  step_ms: number;
}

/** A batch whose sizes do not match the model. */
export class BatchShapeError extends Error {
  override name = 'BatchShapeError';
}

export class JepaTrainer {
  readonly model: TrainableModel;
  readonly options: JepaOptions;
  private readonly target: TrainableModel | null;
  private readonly optimizer: AdamW;
  private steps = 0;
  /** Entries held at fixed values (proprioPassThrough): their gradients are dropped and their values restored after every update. */
  private pins: Pin[] = [];
  /** Per proprio-head output, the scale its error is divided by (dataset std); 1 until set. */
  private proprioScale: Float64Array;

  constructor(
    private readonly k: TrainKernels,
    config: CheckpointConfig,
    weights: ReadonlyMap<string, Float32Array>,
    options: JepaOptionsInput = {},
  ) {
    this.options = jepaOptionsSchema.parse(options);
    this.model = new TrainableModel(config, weights);
    const problems = objectiveProblems(config, this.options);
    if (problems.length > 0) throw new RangeError(problems.join('; '));
    if (this.options.freezeEncoder) this.model.setTrainable('encoder.', false);
    if (this.options.proprioPassThrough) {
      this.pins = passThroughPins(this.model);
      this.restorePins();
    }
    // The EMA target starts from the online weights as held (pins included), so it holds them too.
    this.target = this.options.target.kind === 'ema' ? new TrainableModel(config, this.model.tensors()) : null;
    const P = config.proprio?.dim ?? 0;
    // An untrained head would only decay towards zero: leave it out of the optimiser.
    if (this.options.proprioWeight === 0) this.model.setTrainable('proprio_head.', false);
    this.proprioScale = new Float64Array(P).fill(1);
    this.optimizer = new AdamW(k, [...this.model.params.values()], this.options.optimizer);
  }

  private restorePins(): void {
    for (const { param, value } of this.pins) param.value.set(value);
  }

  /** Scales of the proprio-head error (one per head output, > 0): typically the dataset's std. */
  setProprioScale(scale: ArrayLike<number>): void {
    if (scale.length < this.proprioScale.length) throw new RangeError(`setProprioScale: ${scale.length} values for a ${this.proprioScale.length}-output proprio head`);
    for (let j = 0; j < this.proprioScale.length; j++) {
      const v = scale[j]!;
      if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`setProprioScale: scale[${j}] = ${v} must be finite and > 0`);
      this.proprioScale[j] = v;
    }
  }

  get step(): number {
    return this.steps;
  }

  /** Optimizer moments plus, with an EMA target, its weights as `target.<name>`: what a resume needs besides the model. */
  stateTensors(): Map<string, Float32Array> {
    const out = this.optimizer.stateTensors();
    if (this.target) for (const [name, p] of this.target.params) out.set(`target.${name}`, p.value);
    return out;
  }

  /** Restores what stateTensors() saved, after `step` optimisation steps. */
  loadState(tensors: ReadonlyMap<string, Float32Array>, step: number, where: string): void {
    this.optimizer.loadState(tensors, step, where);
    if (this.target) {
      for (const [name, p] of this.target.params) {
        const src = tensors.get(`target.${name}`);
        if (!src || src.length !== p.value.length) throw new RangeError(`${where}: EMA target tensor 'target.${name}' is missing or has the wrong size`);
        p.value.set(src);
      }
    }
    this.steps = step;
  }

  private check(b: SequenceBatch): void {
    const d = this.model.dims;
    if (b.inputSize !== d.inputSize) throw new BatchShapeError(`batch inputSize ${b.inputSize} does not match the encoder's ${d.inputSize}`);
    if (b.actionDim !== d.actionDim) throw new BatchShapeError(`batch actionDim ${b.actionDim} does not match action.dim ${d.actionDim}`);
    if (b.frames.length !== (b.steps + 1) * b.batch * b.inputSize) throw new BatchShapeError(`frames hold ${b.frames.length} values, expected (T+1)·B·inputSize = ${(b.steps + 1) * b.batch * b.inputSize}`);
    if (b.actions.length !== b.steps * b.batch * b.actionDim) throw new BatchShapeError(`actions hold ${b.actions.length} values, expected T·B·A = ${b.steps * b.batch * b.actionDim}`);
    if (b.steps < 1) throw new BatchShapeError('a batch needs at least one transition (steps >= 1)');
    if (this.options.proprioWeight > 0) {
      const P = this.model.dims.proprioDim;
      const size = b.proprioSize ?? 0;
      if (!b.proprio || size < P) throw new BatchShapeError(`the proprio-head loss needs the batch's proprio vectors with >= ${P} values each (got ${b.proprio ? size : 'none'})`);
      if (b.proprio.length !== (b.steps + 1) * b.batch * size) throw new BatchShapeError(`proprio holds ${b.proprio.length} values, expected (T+1)·B·proprioSize = ${(b.steps + 1) * b.batch * size}`);
    }
  }

  /** One optimisation step; returns the loss terms (weighted as summed into the loss). */
  trainStep(b: SequenceBatch): StepStats {
    const t0 = performance.now();
    const stats = this.lossAndGradients(b);
    for (const { param, value } of this.pins) param.grad.fill(0, 0, value.length);
    this.optimizer.update();
    this.restorePins();
    this.steps += 1;
    const o = this.options;
    if (this.target && o.target.kind === 'ema') {
      const m = o.target.momentum;
      for (const [name, tp] of this.target.params) {
        const src = this.model.param(name).value;
        for (let i = 0; i < src.length; i++) tp.value[i] = m * tp.value[i]! + (1 - m) * src[i]!;
      }
    }
    return { ...stats, step_ms: performance.now() - t0 };
  }

  /**
   * The loss of a batch and its gradient in every trainable Param's .grad
   * (zeroed first), without updating anything: trainStep's first half, also
   * used to check the objective's gradients.
   */
  lossAndGradients(b: SequenceBatch): Omit<StepStats, 'step_ms'> {
    this.check(b);
    const { batch: B, steps: T } = b;
    // Per frame: L = tokens·dim values. Windows and slices move whole frames; the regulariser and
    // the diagnostics treat every token's dim-vector as one sample.
    const L = this.model.dims.latentSize;
    const Dt = this.model.dims.latentDim;
    const tokens = this.model.dims.latentTokens;
    const A = b.actionDim;
    const o = this.options;
    this.model.zeroGrad();
    const g = new Graph(this.k);
    const Z = this.model.encode(g, b.frames, (T + 1) * B);
    const targets = this.target ? this.target.encode(new Graph(this.k, { record: false }), b.frames, (T + 1) * B).value : Z.value;
    const seeds: [Node, Float32Array][] = [];
    const n = (T + 1) * B;
    // Gradient reaching Z directly (regulariser; targets when stopGradient is off).
    const zGrad = new Float32Array(n * L);
    const targetGrad = !o.stopGradient && !this.target;
    const pullTargets = (grad: Float32Array, offset: number, scale: number) => {
      if (targetGrad) for (let i = 0; i < grad.length; i++) zGrad[offset + i] -= scale * grad[i]!;
    };

    /** Predicted latents the predicted-proprio term scores: rows from batch frame row firstRow on, weight within the term. */
    const predicted: { node: Node; rows: number; firstRow: number; weight: number }[] = [];
    const predCfg = this.model.config.predictor;
    const H = predCfg.kind === 'transformer' ? predCfg.historyLength : 1;
    // Rows of time t for the S starts s = 0..S-1 ((s, b) → row (s + t)·B + b) form one contiguous block.
    const zRows = (t: number, S: number) => g.slice(Z, t * B * L, S * B * L);
    const actRows = (t: number, S: number) => b.actions.subarray(t * B * A, (t + S) * B * A);
    let tf: { loss: number };
    if (H === 1) {
      const pred = this.model.predict(g, zRows(0, T), g.constant(b.actions), T * B);
      predicted.push({ node: pred, rows: T * B, firstRow: B, weight: 1 });
      const term = mseLoss(pred.value, targets.subarray(B * L));
      seeds.push([pred, scaled(term.grad, o.predictionWeight)]);
      pullTargets(term.grad, B * L, o.predictionWeight);
      tf = term;
    } else {
      const F = Math.min(T, H);
      const W = T - F + 1;
      const frames = Array.from({ length: F }, (_, f) => f);
      const latents = g.stackFrames(frames.map((f) => zRows(f, W)), W * B, L);
      const acts = stackRows(frames.map((f) => actRows(f, W)), W * B, A);
      const out = this.model.predictWindow(g, latents, g.constant(acts), W * B, F);
      const tgt = stackRows(frames.map((f) => targets.subarray((f + 1) * B * L, (f + 1 + W) * B * L)), W * B, L);
      const term = mseLoss(out.value, tgt);
      seeds.push([out, scaled(term.grad, o.predictionWeight)]);
      if (targetGrad) {
        // Unstack the target gradient back onto Z's rows.
        for (const f of frames) {
          for (let r = 0; r < W * B; r++) {
            for (let c = 0; c < L; c++) zGrad[((f + 1) * B + r) * L + c] -= o.predictionWeight * term.grad[(r * F + f) * L + c]!;
          }
        }
      }
      tf = term;
    }

    let rollout = 0;
    const k = Math.min(o.rolloutSteps, T);
    if (k >= 2 && o.rolloutWeight > 0) {
      const S = T - k + 1;
      let p = zRows(0, S);
      const history: Node[] = [p];
      for (let j = 1; j <= k; j++) {
        if (H === 1) {
          p = this.model.predict(g, p, g.constant(actRows(j - 1, S)), S * B);
        } else {
          // Window: the last ≤ H of z_s, ẑ_{s+1}, …, ẑ_{s+j-1}; frame i of it is time s + j - F + i.
          const win = history.slice(-H);
          const F = win.length;
          const acts = stackRows(win.map((_, i) => actRows(j - F + i, S)), S * B, A);
          const out = this.model.predictWindow(g, g.stackFrames(win, S * B, L), g.constant(acts), S * B, F);
          p = g.selectTokens(out, S * B, F, L, F - 1, 1);
        }
        history.push(p);
        if (H === 1) predicted.push({ node: p, rows: S * B, firstRow: j * B, weight: 1 / k });
        const term = mseLoss(p.value, targets.subarray(j * B * L, (j + S) * B * L));
        rollout += term.loss / k;
        seeds.push([p, scaled(term.grad, o.rolloutWeight / k)]);
        pullTargets(term.grad, j * B * L, o.rolloutWeight / k);
      }
    }

    let reg = 0;
    const r = o.regularizer;
    if (r.kind !== 'none' && Z.requiresGrad) {
      const grad = zGrad;
      if (r.kind === 'vicreg') {
        const v = varianceLoss(Z.value, n * tokens, Dt, r.stdTarget, r.eps);
        const c = covarianceLoss(Z.value, n * tokens, Dt);
        reg = r.varianceWeight * v.loss + r.covarianceWeight * c.loss;
        addInto(grad, v.grad, r.varianceWeight);
        addInto(grad, c.grad, r.covarianceWeight);
      } else {
        const dirs = randomDirections(r.projections, Dt, (r.seed * 1000003 + this.steps) >>> 0);
        const s = sigregLoss(Z.value, n * tokens, Dt, dirs, r.tMax, r.points);
        reg = r.weight * s.loss;
        addInto(grad, s.grad, r.weight);
      }
    }
    if (Z.requiresGrad && (r.kind !== 'none' || targetGrad)) seeds.push([Z, zGrad]);

    let proprio = 0;
    if (o.proprioWeight > 0) {
      const t = this.proprioLoss(g, Z, n, b, 0);
      proprio = o.proprioWeight * t.loss;
      seeds.push([t.head, scaled(t.grad, o.proprioWeight)]);
    }
    if (o.predictedProprioWeight > 0) {
      for (const { node, rows, firstRow, weight } of predicted) {
        const t = this.proprioLoss(g, node, rows, b, firstRow);
        proprio += o.predictedProprioWeight * weight * t.loss;
        seeds.push([t.head, scaled(t.grad, o.predictedProprioWeight * weight)]);
      }
    }

    g.backward(seeds);
    const prediction = o.predictionWeight * tf.loss;
    return {
      loss: prediction + o.rolloutWeight * rollout + reg + proprio,
      prediction,
      rollout: o.rolloutWeight * rollout,
      regularizer: reg,
      proprio,
    };
  }

  /**
   * The proprio-head loss of `rows` latents against the batch's proprio vectors from row `firstRow`
   * on: mean_j ((p̂_j − p_j) / s_j)² over rows and the head's outputs, unweighted, with the seed for
   * the head's output.
   */
  private proprioLoss(g: Graph, latents: Node, rows: number, b: SequenceBatch, firstRow: number): { loss: number; head: Node; grad: Float32Array } {
    const P = this.model.dims.proprioDim;
    const L = this.model.dims.latentSize;
    const size = b.proprioSize!;
    const head = g.linear(latents, rows, this.model.param('proprio_head.weight'), this.model.param('proprio_head.bias'), L, P);
    const grad = new Float32Array(rows * P);
    const scale = 2 / (rows * P);
    let loss = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < P; j++) {
        const s = this.proprioScale[j]!;
        const e = (head.value[i * P + j]! - b.proprio![(firstRow + i) * size + j]!) / s;
        loss += e * e;
        grad[i * P + j] = (scale * e) / s;
      }
    }
    return { loss: loss / (rows * P), head, grad };
  }

  /** Latents of `count` frames [count, inputSize] from the online encoder (no tape). */
  encode(frames: Float32Array, count: number): Float32Array {
    return this.model.encode(new Graph(this.k, { record: false }), frames, count).value;
  }

  /** Per-dimension std and effective rank of the online encoder's latent tokens of these frames (every token one sample). */
  diagnostics(frames: Float32Array, count: number): CollapseDiagnostics {
    const { latentTokens, latentDim } = this.model.dims;
    return collapseDiagnostics(this.encode(frames, count), count * latentTokens, latentDim);
  }
}

/** Blocks (each [samples, dim]) interleaved per sample → [samples, blocks, dim]. */
function stackRows(blocks: readonly Float32Array[], samples: number, dim: number): Float32Array {
  const F = blocks.length;
  const out = new Float32Array(samples * F * dim);
  blocks.forEach((blk, f) => {
    for (let r = 0; r < samples; r++) out.set(blk.subarray(r * dim, (r + 1) * dim), (r * F + f) * dim);
  });
  return out;
}

function scaled(a: Float32Array, s: number): Float32Array {
  if (s === 1) return a;
  return a.map((v) => v * s);
}
