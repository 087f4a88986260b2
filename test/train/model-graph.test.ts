/**
 * The training graph of every architecture (mlp, cnn and ViT encoders; mlp
 * and transformer predictors) on tiny configs: its float32 forward
 * equals the float64 reference forward (src/addon/reference/forward.ts, the
 * contract math), and the gradient of a loss through encoder, one predictor
 * step and a two-step rollout (the predictor used twice) equals central finite
 * differences of the float64 reference forward for every weight element.
 */
import { describe, expect, it } from 'vitest';
import { encodeOne, predictorTokens, predictStep } from '../../src/addon/reference/forward';
import { modelDims, parseCheckpointConfig, type CheckpointConfig } from '../../src/model/config';
import { initWeights } from '../../src/model/checkpoint';
import { Graph } from '../../src/train/graph';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import { TrainableModel, UnsupportedArchitectureError } from '../../src/train/model-graph';
import { dot, numericGrad, randomArray, relErr } from './grad-helpers';

const available = trainKernelsAvailable();

const mlpConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-mlp',
  latent: { tokens: 1, dim: 3 },
  action: { dim: 2 },
  normalization: { mean: [0.1, -0.2, 0, 0.3], std: [1, 2, 0.5, 1] },
  encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [6], activation: 'gelu', layerNorm: true, outputNorm: true },
  predictor: { kind: 'mlp', hiddenDims: [5], activation: 'gelu', layerNorm: true, residual: true },
});

const cnnConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-cnn',
  latent: { tokens: 1, dim: 3 },
  action: { dim: 2 },
  normalization: { mean: [0.5, 0.4], std: [0.25, 0.5] },
  encoder: {
    kind: 'cnn', inChannels: 2, imageSize: 6, groups: 2, activation: 'gelu', pool: 'flatten', outputNorm: false,
    stages: [{ channels: 4, kernel: 3, stride: 2, padding: 1 }, { channels: 2, kernel: 2, stride: 1, padding: 0 }],
  },
  predictor: { kind: 'mlp', hiddenDims: [4], activation: 'tanh', layerNorm: false, residual: true },
});

const vitClsConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-vit-cls',
  latent: { tokens: 1, dim: 4 },
  action: { dim: 2 },
  encoder: { kind: 'vit', inChannels: 2, imageSize: 4, patchSize: 2, embedDim: 4, depth: 1, numHeads: 2, mlpRatio: 1.5, layerScale: true, eps: 1e-6, output: 'cls' },
  predictor: { kind: 'mlp', hiddenDims: [5], activation: 'silu', residual: true },
});

const vitPatchConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-vit-patch-transformer',
  latent: { tokens: 4, dim: 4 },
  action: { dim: 2 },
  encoder: { kind: 'vit', inChannels: 1, imageSize: 4, patchSize: 2, embedDim: 4, depth: 1, numHeads: 1, mlpRatio: 1, qkvBias: false, output: 'patch' },
  predictor: { kind: 'transformer', depth: 1, numHeads: 2, mlpRatio: 1, historyLength: 2, actionEmbedDim: 2, actionConditioning: 'concat' },
});

const mlpTransformerConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-mlp-transformer-add',
  latent: { tokens: 1, dim: 4 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 3, hiddenDims: [5] },
  predictor: { kind: 'transformer', depth: 2, numHeads: 2, mlpRatio: 2, historyLength: 3, actionEmbedDim: 4, actionConditioning: 'add', outputHead: false },
});

const cnnAvgConfig = parseCheckpointConfig({
  ...cnnConfig,
  name: 'tiny-cnn-avgpool',
  encoder: { ...cnnConfig.encoder, pool: 'avgpool', norm: 'none', outputNorm: true },
});

const cnnProprioConfig = parseCheckpointConfig({
  ...cnnConfig,
  name: 'tiny-cnn-proprio-features',
  normalization: { mean: [0.5, 0.4, 0.3, 0.2], std: [0.25, 0.5, 0.5, 2] },
  encoder: { ...cnnConfig.encoder, inChannels: 4, proprioPlanes: 1, proprioFeatures: true },
});

interface Batch {
  frames: Float32Array;
  a1: Float32Array;
  a2: Float32Array;
  G1: Float32Array;
  G2: Float32Array;
  G3: Float32Array;
}

function makeBatch(cfg: CheckpointConfig, B: number, seed: number): Batch {
  const inSize = modelDims(cfg).inputSize;
  const D = modelDims(cfg).latentSize, A = cfg.action.dim;
  return {
    frames: randomArray(B * inSize, seed, 0, 1),
    a1: randomArray(B * A, seed + 1),
    a2: randomArray(B * A, seed + 2),
    G1: randomArray(B * D, seed + 3),
    G2: randomArray(B * D, seed + 4),
    G3: randomArray(B * D, seed + 5),
  };
}

/** loss = Σ G1·z + Σ G2·p1 + Σ G3·p2 with z = enc(frame), p1 = pred(z, a1), p2 = pred(p1, a2), in float64. */
function referenceLoss(cfg: CheckpointConfig, weights: Map<string, Float64Array>, b: Batch, B: number): number {
  const D = modelDims(cfg).latentSize, A = cfg.action.dim;
  const inSize = b.frames.length / B;
  let loss = 0;
  for (let i = 0; i < B; i++) {
    const z = encodeOne(cfg, weights, b.frames.subarray(i * inSize, (i + 1) * inSize));
    const p1 = predictStep(cfg, weights, z, b.a1.subarray(i * A, (i + 1) * A), 1);
    const p2 = predictStep(cfg, weights, p1, b.a2.subarray(i * A, (i + 1) * A), 1);
    loss += dot(b.G1.subarray(i * D, (i + 1) * D), z) + dot(b.G2.subarray(i * D, (i + 1) * D), p1) + dot(b.G3.subarray(i * D, (i + 1) * D), p2);
  }
  return loss;
}

describe.skipIf(!available)('training graph (mlp / cnn encoders, mlp predictor)', () => {
  for (const cfg of [mlpConfig, cnnConfig, cnnAvgConfig, cnnProprioConfig, vitClsConfig, vitPatchConfig, mlpTransformerConfig]) {
    it(`${cfg.name}: batched float32 forward equals the float64 reference forward`, () => {
      const B = 4;
      const model = new TrainableModel(cfg, initWeights(cfg, 7));
      const b = makeBatch(cfg, B, 11);
      const g = new Graph(loadTrainKernels(), { record: false });
      const z = model.encode(g, b.frames, B);
      const p = model.predict(g, z, g.constant(b.a1), B);
      const w = model.tensors();
      const D = modelDims(cfg).latentSize, A = cfg.action.dim;
      const inSize = b.frames.length / B;
      for (let i = 0; i < B; i++) {
        const zr = encodeOne(cfg, w, b.frames.subarray(i * inSize, (i + 1) * inSize));
        expect(relErr(z.value.subarray(i * D, (i + 1) * D), zr)).toBeLessThan(1e-4);
        const pr = predictStep(cfg, w, zr, b.a1.subarray(i * A, (i + 1) * A), 1);
        expect(relErr(p.value.subarray(i * D, (i + 1) * D), pr)).toBeLessThan(1e-4);
      }
    });

    it(`${cfg.name}: every weight gradient through encoder and a 2-step rollout matches finite differences`, () => {
      const B = 3;
      const model = new TrainableModel(cfg, initWeights(cfg, 3));
      const b = makeBatch(cfg, B, 21);
      const g = new Graph(loadTrainKernels());
      const z = model.encode(g, b.frames, B);
      const p1 = model.predict(g, z, g.constant(b.a1), B);
      const p2 = model.predict(g, p1, g.constant(b.a2), B);
      g.backward([[z, b.G1], [p1, b.G2], [p2, b.G3]]);

      const weights = new Map([...model.params].map(([k, p]) => [k, Float64Array.from(p.value)]));
      const h = 1e-5;
      const numericByName = new Map<string, Float64Array>();
      for (const [name] of model.params) {
        const w = weights.get(name)!;
        const numeric = new Float64Array(w.length);
        for (let i = 0; i < w.length; i++) {
          const w0 = w[i]!;
          w[i] = w0 + h;
          const up = referenceLoss(cfg, weights, b, B);
          w[i] = w0 - h;
          const down = referenceLoss(cfg, weights, b, B);
          w[i] = w0;
          numeric[i] = (up - down) / (2 * h);
        }
        numericByName.set(name, numeric);
      }
      // Error per tensor relative to max(its own scale, 1% of the largest gradient of the model): a
      // gradient that is exactly zero in theory (a conv bias cancelled by a one-channel GroupNorm group)
      // must then be zero to float32 rounding, not relative to itself.
      const globalMax = Math.max(...[...numericByName.values()].map((n) => n.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
      let worst = 0;
      let worstName = '';
      for (const [name, param] of model.params) {
        const numeric = numericByName.get(name)!;
        const own = numeric.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const e = relErr(param.grad, numeric) * ((own + 1e-12) / Math.max(own, 0.01 * globalMax));
        if (e > worst) [worst, worstName] = [e, name];
      }
      console.log(`${cfg.name}: worst gradient error ${worst.toExponential(2)} (${worstName})`);
      // float32 kernels against float64 differences.
      expect(worst, `worst tensor ${worstName}`).toBeLessThan(1e-3);
    });
  }

  it('a frozen encoder receives no gradient while the predictor does', () => {
    const B = 2;
    const model = new TrainableModel(mlpConfig, initWeights(mlpConfig, 5));
    model.setTrainable('encoder.', false);
    const b = makeBatch(mlpConfig, B, 31);
    const g = new Graph(loadTrainKernels());
    const z = model.encode(g, b.frames, B);
    expect(z.requiresGrad).toBe(false);
    const p1 = model.predict(g, z, g.constant(b.a1), B);
    g.backward([[p1, b.G2]]);
    expect(model.group('encoder.').every((p) => p.grad.every((v) => v === 0))).toBe(true);
    expect(model.param('predictor.layers.0.weight').grad.some((v) => v !== 0)).toBe(true);
  });

  it('transformer predictor over a 2-frame window: outputs and latent/weight gradients match the reference', () => {
    const cfg = vitPatchConfig;
    const B = 2, F = 2, L = modelDims(cfg).latentSize, A = cfg.action.dim;
    const model = new TrainableModel(cfg, initWeights(cfg, 9));
    const lat = randomArray(B * F * L, 41);
    const act = randomArray(B * F * A, 42);
    const G = randomArray(B * F * L, 43);
    const g = new Graph(loadTrainKernels());
    const zin = g.leaf(lat);
    const out = model.predictWindow(g, zin, g.constant(act), B, F);
    g.backward([[out, G]]);
    const weights = new Map([...model.params].map(([k, p]) => [k, Float64Array.from(p.value)]));
    const lat64 = Float64Array.from(lat);
    const loss = () => {
      let s = 0;
      for (let b = 0; b < B; b++) {
        const y = predictorTokens(cfg, weights, lat64.subarray(b * F * L, (b + 1) * F * L), act.subarray(b * F * A, (b + 1) * F * A), F);
        s += dot(G.subarray(b * F * L, (b + 1) * F * L), y);
      }
      return s;
    };
    for (let b = 0; b < B; b++) {
      const y = predictorTokens(cfg, weights, lat.subarray(b * F * L, (b + 1) * F * L), act.subarray(b * F * A, (b + 1) * F * A), F);
      expect(relErr(out.value.subarray(b * F * L, (b + 1) * F * L), y)).toBeLessThan(1e-4);
    }
    expect(relErr(zin.grad!, numericGrad(lat64, loss))).toBeLessThan(1e-3);
    for (const name of ['predictor.blocks.0.attn.qkv.weight', 'predictor.pos_embed', 'predictor.action_embed.weight', 'predictor.head.bias']) {
      expect(relErr(model.param(name).grad, numericGrad(weights.get(name)!, loss)), name).toBeLessThan(1e-3);
    }
  });

  it('predictWindow refuses an mlp predictor with a message naming the part', () => {
    const model = new TrainableModel(mlpConfig, initWeights(mlpConfig, 1));
    const g = new Graph(loadTrainKernels());
    expect(() => model.predictWindow(g, g.constant(new Float32Array(3)), g.constant(new Float32Array(2)), 1, 1)).toThrow(UnsupportedArchitectureError);
  });
});
