/**
 * The proprio-head auxiliary loss of the JEPA trainer (objective.proprioWeight):
 * its gradient (encoder weights and the head itself) against central finite
 * differences of the returned loss with a non-trivial per-output scale; a short
 * run on the point-mass world (proprio = the state) that teaches the head to
 * read (x, y) from the latent while proprioWeight 0 leaves the head untouched;
 * the same head loss on the predicted latents (predictedProprioWeight): its
 * value by hand and its gradient (predictor, encoder, head) by finite
 * differences; and the errors for a config without a head, a batch without
 * proprio, a non-positive scale, and a predicted-proprio term without a
 * trained head or with a transformer predictor.
 */
import { describe, expect, it } from 'vitest';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { Graph } from '../../src/train/graph';
import { BatchShapeError, JepaTrainer } from '../../src/train/jepa';
import { parseTrainConfig } from '../../src/train/run';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import { pointMassBatch, type SequenceBatch } from '../../src/train/synthetic';
import { numericGrad, relErr } from './grad-helpers';

const available = trainKernelsAvailable();

const base = {
  format: 'jepa-runtime.checkpoint/1',
  latent: { tokens: 1, dim: 6 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [12], activation: 'gelu' },
  predictor: { kind: 'mlp', hiddenDims: [12], activation: 'gelu', residual: true },
} as const;
const cfg = parseCheckpointConfig({ ...base, name: 'proprio-head-test', proprio: { dim: 2 } });
const noHead = parseCheckpointConfig({ ...base, name: 'no-proprio-head' });

/** The point-mass batch with its state (x, y, vx, vy) as the proprio vector of every frame. */
function withProprio(b: SequenceBatch): SequenceBatch {
  return { ...b, proprio: b.frames.slice(), proprioSize: 4 };
}

/** Mean squared error of the head's (x, y) over the frames of a batch, unscaled. */
function headError(tr: JepaTrainer, b: SequenceBatch): number {
  const n = (b.steps + 1) * b.batch;
  const Z = tr.encode(b.frames, n);
  const W = tr.model.param('proprio_head.weight').value;
  const bias = tr.model.param('proprio_head.bias').value;
  const L = Z.length / n;
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 2; j++) {
      let y = bias[j]!;
      for (let c = 0; c < L; c++) y += W[j * L + c]! * Z[i * L + c]!;
      s += (y - b.frames[i * 4 + j]!) ** 2;
    }
  }
  return s / (2 * n);
}

/** The trainer's gradient of the first 12 entries of each named weight against central finite differences of its loss. */
function expectGradientsMatch(tr: JepaTrainer, batch: SequenceBatch, names: readonly string[]): void {
  for (const name of names) {
    const p = tr.model.param(name);
    tr.lossAndGradients(batch); // gradients at the unperturbed weights
    const count = Math.min(12, p.value.length);
    const analytic = Float64Array.from(p.grad.subarray(0, count));
    const numeric = numericGrad(p.value, () => tr.lossAndGradients(batch).loss, 3e-3, count);
    expect(Math.max(...numeric.map(Math.abs)), `${name}: a gradient to compare`).toBeGreaterThan(1e-4);
    expect(relErr(analytic, numeric), name).toBeLessThan(2e-2);
  }
}

describe.skipIf(!available)('proprio-head loss', () => {
  it("the proprio term's gradient matches finite differences (encoder and head weights, scaled errors)", () => {
    const tr = new JepaTrainer(loadTrainKernels(), cfg, initWeights(cfg, 5), {
      regularizer: { kind: 'none' },
      predictionWeight: 0,
      rolloutWeight: 0,
      proprioWeight: 1,
    });
    tr.setProprioScale([0.5, 2]);
    const batch = withProprio(pointMassBatch(5, 2, 31));
    const first = tr.lossAndGradients(batch);
    expect(first.proprio).toBeGreaterThan(0);
    expect(first.loss).toBeCloseTo(first.proprio, 12); // only the proprio term is weighted in
    expectGradientsMatch(tr, batch, ['encoder.layers.0.weight', 'encoder.layers.1.weight', 'proprio_head.weight', 'proprio_head.bias']);
  });

  it('the scale divides the error: the loss at scale s is the loss at scale 1 over s²', () => {
    const tr = new JepaTrainer(loadTrainKernels(), cfg, initWeights(cfg, 5), { regularizer: { kind: 'none' }, predictionWeight: 0, rolloutWeight: 0, proprioWeight: 1 });
    const batch = withProprio(pointMassBatch(5, 2, 31));
    const one = tr.lossAndGradients(batch).proprio;
    tr.setProprioScale([3, 3]);
    expect(tr.lossAndGradients(batch).proprio).toBeCloseTo(one / 9, 6);
  });

  it('training with proprioWeight > 0 teaches the head the position; proprioWeight 0 leaves the head as it was', () => {
    const held = withProprio(pointMassBatch(64, 1, 4242));
    const steps = 150;
    const run = (proprioWeight: number) => {
      const w = initWeights(cfg, 9);
      const tr = new JepaTrainer(loadTrainKernels(), cfg, w, { regularizer: { kind: 'vicreg' }, proprioWeight, optimizer: { lr: 1e-2 } });
      tr.setProprioScale([0.6, 0.6]);
      const before = headError(tr, held);
      for (let s = 0; s < steps; s++) tr.trainStep(withProprio(pointMassBatch(32, 2, 100 + s)));
      return { before, after: headError(tr, held), tr, w };
    };
    const trained = run(1);
    const untrained = run(0);
    console.log(`proprio head MSE: ${trained.before.toExponential(2)} → ${trained.after.toExponential(2)} (weight 1), ${untrained.after.toExponential(2)} (weight 0)`);
    expect(trained.after).toBeLessThan(0.1 * trained.before);
    expect(trained.after).toBeLessThan(0.1 * untrained.after);
    for (const name of ['proprio_head.weight', 'proprio_head.bias']) {
      expect(Array.from(untrained.tr.model.param(name).value), name).toEqual(Array.from(untrained.w.get(name)!));
    }
    expect(Array.from(untrained.tr.model.param('encoder.layers.0.weight').value)).not.toEqual(Array.from(untrained.w.get('encoder.layers.0.weight')!));
  }, 20_000);

  it('refuses proprioWeight > 0 without a head, a batch without proprio, and a scale that is not > 0', () => {
    const k = loadTrainKernels();
    expect(() => new JepaTrainer(k, noHead, initWeights(noHead, 1), { proprioWeight: 1 })).toThrow(RangeError);
    expect(() => new JepaTrainer(k, noHead, initWeights(noHead, 1), { proprioWeight: 1 })).toThrow(/proprio/);
    expect(() => new JepaTrainer(k, noHead, initWeights(noHead, 1), { proprioWeight: 0 })).not.toThrow();

    const tr = new JepaTrainer(k, cfg, initWeights(cfg, 1), { proprioWeight: 1 });
    const plain = pointMassBatch(4, 2, 3);
    expect(() => tr.lossAndGradients(plain)).toThrow(BatchShapeError);
    expect(() => tr.trainStep(plain)).toThrow(BatchShapeError);
    expect(() => tr.lossAndGradients({ ...plain, proprio: plain.frames.slice(0, 4), proprioSize: 4 })).toThrow(BatchShapeError);
    expect(() => tr.lossAndGradients({ ...plain, proprio: new Float32Array(3 * 4 * 1), proprioSize: 1 })).toThrow(BatchShapeError);
    expect(tr.step).toBe(0);

    expect(() => tr.setProprioScale([0, 1])).toThrow(RangeError);
    expect(() => tr.setProprioScale([1, Number.NaN])).toThrow(RangeError);
    expect(() => tr.setProprioScale([1, -2])).toThrow(RangeError);
    expect(() => tr.setProprioScale([1, Number.POSITIVE_INFINITY])).toThrow(RangeError);
    expect(() => tr.setProprioScale([1])).toThrow(RangeError);
    expect(() => tr.setProprioScale([1, 2, 3])).not.toThrow();
  });

});

describe.skipIf(!available)('predicted-proprio loss (objective.predictedProprioWeight)', () => {
  const only = { regularizer: { kind: 'none' }, predictionWeight: 0, rolloutWeight: 0, rolloutSteps: 2 } as const;

  it('adds the head loss of the teacher-forced predictions and the mean over rollout steps, each against the frame predicted', () => {
    const batch = withProprio(pointMassBatch(3, 3, 8));
    const w = initWeights(cfg, 2);
    const base = new JepaTrainer(loadTrainKernels(), cfg, w, { ...only, proprioWeight: 1 });
    const both = new JepaTrainer(loadTrainKernels(), cfg, w, { ...only, rolloutWeight: 1e-9, proprioWeight: 1, predictedProprioWeight: 0.5 });
    for (const tr of [base, both]) tr.setProprioScale([0.5, 2]);
    // By hand: encode, predict (teacher forcing and a 2-step rollout from every start), decode, score.
    const { batch: B, steps: T } = batch;
    const Z = base.encode(batch.frames, (T + 1) * B);
    const L = 6;
    const Wp = base.model.param('proprio_head.weight').value;
    const bp = base.model.param('proprio_head.bias').value;
    const scale = [0.5, 2];
    const lossOf = (latents: Float32Array, firstRow: number) => {
      const rows = latents.length / L;
      let s = 0;
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < 2; j++) {
          let y = bp[j]!;
          for (let c = 0; c < L; c++) y += Wp[j * L + c]! * latents[i * L + c]!;
          s += ((y - batch.proprio![(firstRow + i) * 4 + j]!) / scale[j]!) ** 2;
        }
      return s / (rows * 2);
    };
    const predict = (z: Float32Array, actions: Float32Array, rows: number) => {
      const g = new Graph(loadTrainKernels(), { record: false });
      return base.model.predict(g, g.constant(z), g.constant(actions), rows).value;
    };
    const A = 2;
    const tf = lossOf(predict(Z.subarray(0, T * B * L), batch.actions, T * B), B);
    const S = T - 2 + 1;
    let p: Float32Array = Z.slice(0, S * B * L);
    let roll = 0;
    for (let j = 1; j <= 2; j++) {
      p = predict(p, batch.actions.subarray((j - 1) * B * A, (j - 1 + S) * B * A), S * B);
      roll += lossOf(p, j * B) / 2;
    }
    const extra = both.lossAndGradients(batch).proprio - base.lossAndGradients(batch).proprio;
    expect(extra).toBeCloseTo(0.5 * (tf + roll), 6);
  });

  it("its gradient matches finite differences (predictor, encoder and head weights)", () => {
    const tr = new JepaTrainer(loadTrainKernels(), cfg, initWeights(cfg, 6), { ...only, rolloutWeight: 1e-12, proprioWeight: 1e-12, predictedProprioWeight: 1 });
    tr.setProprioScale([0.5, 2]);
    const batch = withProprio(pointMassBatch(4, 3, 17));
    expectGradientsMatch(tr, batch, ['predictor.layers.0.weight', 'predictor.layers.1.weight', 'encoder.layers.0.weight', 'proprio_head.weight']);
  });

  it('refuses a predicted-proprio term without a trained head, or with a transformer predictor', () => {
    const k = loadTrainKernels();
    expect(() => new JepaTrainer(k, cfg, initWeights(cfg, 1), { predictedProprioWeight: 1 })).toThrow(/needs proprioWeight > 0/);
    // `jepa train` refuses the same config before loading data, naming the file.
    expect(() => parseTrainConfig({ model: { ...base, name: 'p', proprio: { dim: 2 } }, objective: { predictedProprioWeight: 1 } }, 'cfg.json')).toThrow(
      /cfg\.json: invalid train config:\n {2}- objective\.predictedProprioWeight > 0 needs proprioWeight > 0/,
    );
    const tcfg = parseCheckpointConfig({
      ...base, name: 'transformer-pred', proprio: { dim: 2 },
      predictor: { kind: 'transformer', depth: 1, numHeads: 2, mlpRatio: 2, historyLength: 2, actionEmbedDim: 4 },
    });
    expect(() => new JepaTrainer(k, tcfg, initWeights(tcfg, 1), { proprioWeight: 1, predictedProprioWeight: 1 })).toThrow(/mlp predictors only \(this one is 'transformer'\)/);
  });
});
