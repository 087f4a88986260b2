/**
 * The JEPA objective and collapse diagnostics: every loss term's gradient
 * against central finite differences (float64), the Jacobi eigensolver and
 * effective rank against matrices with known spectra, SIGReg preferring a
 * Gaussian batch to a collapsed one, and a short training run on the point-
 * mass world (state vectors, mlp encoder, residual mlp predictor, stop-gradient
 * targets, lr 1e-2, 300 steps): with no regulariser the latent covariance
 * collapses to effective rank < 1.5; with VICReg or SIGReg it stays above 3.
 * EMA target and frozen encoder options are checked on their own.
 */
import { describe, expect, it } from 'vitest';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { collapseDiagnostics, covariance, effectiveRank, symmetricEigenvalues } from '../../src/train/diagnostics';
import { JepaTrainer } from '../../src/train/jepa';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import { covarianceLoss, mseLoss, randomDirections, sigregLoss, varianceLoss } from '../../src/train/objective';
import { decays } from '../../src/train/optimizer';
import { pointMassBatch } from '../../src/train/synthetic';
import { f64, numericGrad, randomArray, relErr } from './grad-helpers';

const available = trainKernelsAvailable();

describe('objective terms: gradients vs finite differences', () => {
  const n = 12, D = 5;
  const Z = f64(randomArray(n * D, 1, -1, 1)).map((v, i) => v * (1 + (i % D))); // unequal scales

  it('mse gradient with respect to the prediction (target is a constant)', () => {
    const target = f64(randomArray(n * D, 2));
    expect(relErr(mseLoss(Z, target).grad, numericGrad(Z, () => mseLoss(Z, target).loss))).toBeLessThan(1e-5);
  });

  it('VICReg variance hinge gradient (some dimensions below and some above γ)', () => {
    const r = varianceLoss(Z, n, D, 1.5, 1e-4);
    expect(r.loss).toBeGreaterThan(0);
    expect(relErr(r.grad, numericGrad(Z, () => varianceLoss(Z, n, D, 1.5, 1e-4).loss))).toBeLessThan(1e-5);
  });

  it('VICReg covariance gradient', () => {
    const r = covarianceLoss(Z, n, D);
    expect(relErr(r.grad, numericGrad(Z, () => covarianceLoss(Z, n, D).loss))).toBeLessThan(1e-5);
  });

  it('SIGReg gradient', () => {
    const dirs = randomDirections(6, D, 3);
    const r = sigregLoss(Z, n, D, dirs, 4, 17);
    expect(relErr(r.grad, numericGrad(Z, () => sigregLoss(Z, n, D, dirs, 4, 17).loss))).toBeLessThan(1e-5);
  });

  it('SIGReg is small for standard Gaussian latents and large for shrunk or collapsed ones', () => {
    const N = 512, d = 4;
    const gauss = new Float64Array(N * d);
    const u = randomArray(2 * N * d, 9, 1e-9, 1);
    for (let i = 0; i < N * d; i++) gauss[i] = Math.sqrt(-2 * Math.log(u[2 * i]!)) * Math.cos(2 * Math.PI * u[2 * i + 1]!);
    const dirs = randomDirections(16, d, 4);
    const onLine = gauss.map((_, i) => gauss[Math.floor(i / d) * d]! * 2); // every dim equal: rank 1
    const shrunk = gauss.map((v) => v * 0.1);
    const lg = sigregLoss(gauss, N, d, dirs, 4, 17).loss;
    expect(lg).toBeLessThan(0.01);
    expect(sigregLoss(onLine, N, d, dirs, 4, 17).loss).toBeGreaterThan(10 * lg);
    expect(sigregLoss(shrunk, N, d, dirs, 4, 17).loss).toBeGreaterThan(10 * lg);
  });
});

describe('AdamW weight decay selection', () => {
  it('decays Linear and Conv weights only', () => {
    for (const n of ['encoder.layers.0.weight', 'encoder.convs.1.weight', 'encoder.blocks.0.attn.qkv.weight', 'predictor.action_embed.weight', 'encoder.patch_embed.proj.weight']) expect(decays(n), n).toBe(true);
    for (const n of ['encoder.layers.0.bias', 'encoder.norms.0.weight', 'encoder.out_norm.weight', 'encoder.blocks.0.norm1.weight', 'predictor.norm.weight', 'encoder.pos_embed', 'encoder.cls_token', 'encoder.blocks.0.ls1.gamma']) expect(decays(n), n).toBe(false);
  });
});

describe('collapse diagnostics', () => {
  it('Jacobi eigenvalues of Q·diag(7, 3, 1, 0.5)·Qᵀ (Householder Q) are 7, 3, 1, 0.5', () => {
    const D = 4;
    const v = [1, -2, 0.5, 3];
    const vv = v.reduce((s, x) => s + x * x, 0);
    const Q = new Float64Array(D * D);
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) Q[i * D + j] = (i === j ? 1 : 0) - (2 * v[i]! * v[j]!) / vv;
    const lam = [3, 0.5, 7, 1];
    const A = new Float64Array(D * D);
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) for (let k = 0; k < D; k++) A[i * D + j] += Q[i * D + k]! * lam[k]! * Q[j * D + k]!;
    const eig = symmetricEigenvalues(A, D);
    [7, 3, 1, 0.5].forEach((want, i) => expect(eig[i]).toBeCloseTo(want, 10));
  });

  it('effective rank is D for equal eigenvalues, 1 for one, and exp(entropy) in between', () => {
    expect(effectiveRank([2, 2, 2, 2])).toBeCloseTo(4, 12);
    expect(effectiveRank([5, 0, 0])).toBeCloseTo(1, 12);
    expect(effectiveRank([0.5, 0.5, 0])).toBeCloseTo(2, 12);
    expect(effectiveRank([3, 1])).toBeCloseTo(Math.exp(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25))), 12);
    expect(effectiveRank([0, 0])).toBe(0);
  });

  it('per-dimension std and covariance of known latents', () => {
    // Two dims: x and 2x → std 2× apart, fully correlated → rank 1.
    const Z = [1, 2, -1, -2, 3, 6, -3, -6];
    const d = collapseDiagnostics(Z, 4, 2);
    expect(d.std[0]).toBeCloseTo(Math.sqrt(5), 12);
    expect(d.std[1]).toBeCloseTo(2 * Math.sqrt(5), 12);
    expect(d.effectiveRank).toBeCloseTo(1, 9);
    expect(covariance(Z, 4, 2)[1]).toBeCloseTo(10, 12);
  });
});

const pmConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'point-mass-test',
  latent: { tokens: 1, dim: 8 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [32], activation: 'gelu' },
  predictor: { kind: 'mlp', hiddenDims: [32], activation: 'gelu', residual: true },
});

describe.skipIf(!available)('JEPA training on the point-mass world', () => {
  const evalBatch = pointMassBatch(256, 1, 999);
  function run(regularizer: 'none' | 'vicreg' | 'sigreg'): { rank: number; std: number; step_ms: number } {
    const reg = regularizer === 'none' ? { kind: 'none' as const } : regularizer === 'vicreg' ? { kind: 'vicreg' as const } : { kind: 'sigreg' as const, projections: 16 };
    const tr = new JepaTrainer(loadTrainKernels(), pmConfig, initWeights(pmConfig, 1), { regularizer: reg, optimizer: { lr: 1e-2 } });
    let ms = 0;
    const steps = 300;
    for (let s = 0; s < steps; s++) ms += tr.trainStep(pointMassBatch(64, 3, 10 + s)).step_ms;
    const d = tr.diagnostics(evalBatch.frames, 512);
    console.log(`${regularizer}: effective rank ${d.effectiveRank.toFixed(2)} of 8, mean std ${d.meanStd.toFixed(3)}, ${(ms / steps).toFixed(2)} ms/step`);
    return { rank: d.effectiveRank, std: d.meanStd, step_ms: ms / steps };
  }

  it('without a regulariser the latent rank collapses; with VICReg or SIGReg it does not', () => {
    const none = run('none');
    const vicreg = run('vicreg');
    const sigreg = run('sigreg');
    expect(none.rank).toBeLessThan(1.5);
    expect(vicreg.rank).toBeGreaterThan(3);
    expect(sigreg.rank).toBeGreaterThan(3);
    expect(vicreg.std).toBeGreaterThan(0.5);
  }, 60_000);

  it('the EMA target follows the online weights by target ← m·target + (1-m)·online', () => {
    const w = initWeights(pmConfig, 2);
    const tr = new JepaTrainer(loadTrainKernels(), pmConfig, w, { target: { kind: 'ema', momentum: 0.9 } });
    tr.trainStep(pointMassBatch(16, 2, 1));
    const name = 'encoder.layers.0.weight';
    const online = tr.model.param(name).value;
    const target = (tr as unknown as { target: { param(n: string): { value: Float32Array } } }).target.param(name).value;
    const w0 = w.get(name)!;
    for (const i of [0, 5, 17]) expect(target[i]).toBeCloseTo(0.9 * w0[i]! + 0.1 * online[i]!, 6);
    expect(online[0]).not.toBe(w0[0]);
  });

  const tfConfig = parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name: 'point-mass-transformer',
    latent: { tokens: 1, dim: 4 },
    action: { dim: 2 },
    encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [8] },
    predictor: { kind: 'transformer', depth: 1, numHeads: 2, mlpRatio: 2, historyLength: 2, actionEmbedDim: 2 },
  });

  // Float32 forward, so differences use h = 3e-3 and a loose tolerance: they catch wiring errors
  // (a wrong slice, window or target row), not rounding. The targets' gradient is switched on
  // (stopGradient: false) so the analytic gradient is the full derivative the differences measure.
  const vitPatchConfig = parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name: 'point-mass-vit-patch',
    latent: { tokens: 4, dim: 4 },
    action: { dim: 2 },
    encoder: { kind: 'vit', inChannels: 1, imageSize: 8, patchSize: 4, embedDim: 4, depth: 1, numHeads: 2, mlpRatio: 1, output: 'patch' },
    predictor: { kind: 'transformer', depth: 1, numHeads: 2, mlpRatio: 1, historyLength: 2, actionEmbedDim: 2 },
  });

  const cases = [
    { name: 'mlp predictor, VICReg', cfg: pmConfig, image: 0, params: ['encoder.layers.0.weight', 'encoder.layers.1.bias', 'predictor.layers.0.weight'],
      options: { regularizer: { kind: 'vicreg' as const, covarianceWeight: 1 }, stopGradient: false, rolloutSteps: 3 } },
    { name: 'mlp predictor, SIGReg', cfg: pmConfig, image: 0, params: ['encoder.layers.0.weight', 'encoder.layers.1.bias', 'predictor.layers.0.weight'],
      options: { regularizer: { kind: 'sigreg' as const, projections: 4 }, stopGradient: false, rolloutSteps: 2 } },
    { name: 'transformer predictor (history 2), VICReg', cfg: tfConfig, image: 0, params: ['encoder.layers.0.weight', 'encoder.layers.1.bias', 'predictor.blocks.0.attn.qkv.weight'],
      options: { regularizer: { kind: 'vicreg' as const }, stopGradient: false, rolloutSteps: 3 } },
    { name: 'ViT patch tokens + transformer predictor, VICReg', cfg: vitPatchConfig, image: 8, params: ['encoder.patch_embed.proj.weight', 'encoder.blocks.0.mlp.fc1.weight', 'predictor.pos_embed'],
      options: { regularizer: { kind: 'vicreg' as const }, stopGradient: false, rolloutSteps: 2 } },
  ];
  // Float32 forward, so differences use h = 3e-3 and a loose tolerance: they catch wiring errors
  // (a wrong slice, window or target row), not rounding. The targets' gradient is switched on
  // (stopGradient: false) so the analytic gradient is the full derivative the differences measure.
  for (const c of cases) {
    it(`the whole objective's gradient matches finite differences (${c.name})`, () => {
      const tr = new JepaTrainer(loadTrainKernels(), c.cfg, initWeights(c.cfg, 6), c.options);
      const batch = pointMassBatch(6, 3, 77, c.image ? { imageSize: c.image } : {});
      const h = 3e-3;
      for (const pname of c.params) {
        const p = tr.model.param(pname);
        tr.lossAndGradients(batch); // at the unperturbed weights
        const analytic = p.grad.slice(0, 12);
        const numeric = numericGrad(p.value, () => tr.lossAndGradients(batch).loss, h, analytic.length);
        expect(relErr(analytic, numeric), pname).toBeLessThan(3e-2);
      }
    });
  }

  it('a transformer predictor with a 2-frame history learns the point-mass dynamics', () => {
    const tr = new JepaTrainer(loadTrainKernels(), tfConfig, initWeights(tfConfig, 8), { regularizer: { kind: 'vicreg' }, optimizer: { lr: 3e-3 } });
    const held = pointMassBatch(64, 3, 4242);
    const first = tr.lossAndGradients(held).prediction;
    for (let s = 0; s < 150; s++) tr.trainStep(pointMassBatch(32, 3, 300 + s));
    const after = tr.lossAndGradients(held);
    console.log(`transformer predictor: held-out prediction loss ${first.toExponential(2)} → ${after.prediction.toExponential(2)}`);
    expect(after.prediction).toBeLessThan(0.7 * first);
    expect(tr.diagnostics(evalBatch.frames, 512).meanStd).toBeGreaterThan(0.3);
  });

  it('a frozen encoder keeps its weights while the predictor learns', () => {
    const w = initWeights(pmConfig, 3);
    const tr = new JepaTrainer(loadTrainKernels(), pmConfig, w, { freezeEncoder: true, regularizer: { kind: 'none' }, optimizer: { lr: 3e-3 } });
    const first = tr.trainStep(pointMassBatch(32, 3, 100)).prediction;
    let last = first;
    for (let s = 1; s < 60; s++) last = tr.trainStep(pointMassBatch(32, 3, 100 + s)).prediction;
    expect(Array.from(tr.model.param('encoder.layers.0.weight').value)).toEqual(Array.from(w.get('encoder.layers.0.weight')!));
    expect(last).toBeLessThan(0.5 * first);
  });
});
