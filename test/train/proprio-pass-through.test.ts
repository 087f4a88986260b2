/**
 * objective.proprioPassThrough: on a cnn encoder with proprioFeatures, the
 * first k latent dims stay the k normalised proprio values, and the proprio
 * head's first k outputs decode them exactly, however long the model trains
 * (weight decay, every loss term and an EMA target included), while the rest
 * of the encoder head trains; without it the same training
 * leaves those dims anything but the proprio; and the configs it cannot work
 * with are refused, by the trainer and by the train-config parser, with the
 * reason.
 */
import { describe, expect, it } from 'vitest';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { JepaTrainer, type JepaOptionsInput } from '../../src/train/jepa';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import { parseTrainConfig, TrainConfigError } from '../../src/train/run';
import type { SequenceBatch } from '../../src/train/synthetic';
import { Random } from '../../src/planning/random';

const available = trainKernelsAvailable();
const S = 8;
const K = 2;
const NORM = { mean: [0.5, 0.5, 0.5, 0.3, -1.2], std: [0.25, 0.25, 0.25, 0.4, 0.8] };

const model = (over: Record<string, unknown> = {}, encoder: Record<string, unknown> = {}) => ({
  format: 'jepa-runtime.checkpoint/1',
  name: 'pass-through-test',
  latent: { tokens: 1, dim: 5 },
  action: { dim: 2 },
  encoder: {
    kind: 'cnn', inChannels: 3 + K, imageSize: S, groups: 2, activation: 'gelu',
    stages: [{ channels: 4, kernel: 4, stride: 2, padding: 1 }], proprioPlanes: K, proprioFeatures: true, ...encoder,
  },
  predictor: { kind: 'mlp', hiddenDims: [12], residual: true },
  proprio: { dim: 2 },
  normalization: NORM,
  ...over,
});

/** B sequences of T steps: random frames whose last K planes hold a proprio that moves by the action. */
function batch(B: number, T: number, seed: number): SequenceBatch {
  const rng = new Random(seed);
  const rand = () => rng.uniform();
  const size = (3 + K) * S * S;
  const frames = new Float32Array((T + 1) * B * size);
  const actions = new Float32Array(T * B * 2);
  const proprio = new Float32Array((T + 1) * B * K);
  for (let b = 0; b < B; b++) {
    const q = [rand() - 0.2, rand() * 2 - 2];
    for (let t = 0; t <= T; t++) {
      const r = t * B + b;
      for (let i = 0; i < 3 * S * S; i++) frames[r * size + i] = rand();
      for (let p = 0; p < K; p++) {
        frames.fill(q[p]!, r * size + (3 + p) * S * S, r * size + (4 + p) * S * S);
        proprio[r * K + p] = q[p]!;
      }
      if (t < T) {
        for (let j = 0; j < 2; j++) {
          const a = (rand() - 0.5) * 0.2;
          actions[r * 2 + j] = a;
          q[j] = q[j]! + a;
        }
      }
    }
  }
  return { frames, actions, batch: B, steps: T, inputSize: size, actionDim: 2, proprio, proprioSize: K };
}

/** Largest gap between latent dims 0..K-1 and the normalised proprio of each frame. */
function passThroughGap(latents: Float32Array, b: SequenceBatch, L: number): number {
  let worst = 0;
  const n = (b.steps + 1) * b.batch;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < K; p++) worst = Math.max(worst, Math.abs(latents[i * L + p]! - (b.proprio![i * K + p]! - NORM.mean[3 + p]!) / NORM.std[3 + p]!));
  }
  return worst;
}

const objective = (passThrough: boolean): JepaOptionsInput => ({
  rolloutSteps: 2,
  proprioWeight: 1,
  target: { kind: 'ema', momentum: 0.9 },
  optimizer: { lr: 3e-3, weightDecay: 0.1 },
  proprioPassThrough: passThrough,
});

describe.skipIf(!available)('proprio pass-through (objective.proprioPassThrough)', () => {
  it('keeps latent dims 0..k-1 equal to the normalised proprio through training, online and EMA target, while the rest of the head trains', () => {
    const cfg = parseCheckpointConfig(model());
    const weights = initWeights(cfg, 3);
    const tr = new JepaTrainer(loadTrainKernels(), cfg, weights, objective(true));
    const head0 = tr.model.param('encoder.head.weight').value.slice();
    const probe = batch(4, 3, 99);
    for (let s = 0; s < 30; s++) tr.trainStep(batch(8, 3, s));
    expect(passThroughGap(tr.encode(probe.frames, 16), probe, 5)).toBeLessThan(1e-5);
    const head = tr.model.param('encoder.head.weight').value;
    const inputs = head.length / 5;
    // Rows k.. (the scene's dims) moved; rows 0..k-1 are the pass-through.
    let moved = 0;
    for (let i = K * inputs; i < head.length; i++) moved = Math.max(moved, Math.abs(head[i]! - head0[i]!));
    expect(moved).toBeGreaterThan(1e-3);
    for (let j = 0; j < K; j++) for (let c = 0; c < inputs; c++) expect(head[j * inputs + c]).toBe(c === inputs - K + j ? 1 : 0);
    expect(Array.from(tr.model.param('encoder.head.bias').value.subarray(0, K))).toEqual([0, 0]);
    // The proprio head undoes the normalisation: it decodes the proprio exactly.
    const Z = tr.encode(probe.frames, 16);
    const W = tr.model.param('proprio_head.weight').value;
    const hb = tr.model.param('proprio_head.bias').value;
    for (let i = 0; i < 16; i++) {
      for (let j = 0; j < K; j++) {
        let y = hb[j]!;
        for (let c = 0; c < 5; c++) y += W[j * 5 + c]! * Z[i * 5 + c]!;
        expect(y).toBeCloseTo(probe.proprio![i * K + j]!, 5);
      }
    }
    // The EMA target (in the resume tensors as target.*) holds the same rows.
    const target = tr.stateTensors().get('target.encoder.head.weight')!;
    for (let i = 0; i < K * inputs; i++) expect(target[i]).toBe(head[i]);
  });

  it('without it the same training leaves those dims far from the proprio', () => {
    const cfg = parseCheckpointConfig(model());
    const tr = new JepaTrainer(loadTrainKernels(), cfg, initWeights(cfg, 3), objective(false));
    const probe = batch(4, 3, 99);
    for (let s = 0; s < 30; s++) tr.trainStep(batch(8, 3, s));
    expect(passThroughGap(tr.encode(probe.frames, 16), probe, 5)).toBeGreaterThan(0.1);
  });

  it('refuses encoders it cannot pass the proprio through, naming why (trainer and train config)', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [model({}, { proprioFeatures: false }), /needs a cnn encoder with proprioFeatures/],
      [model({}, { outputNorm: true }), /needs encoder.outputNorm off/],
      [model({ latent: { tokens: 1, dim: 2 } }), /needs latent.dim > proprioPlanes \(2 <= 2\)/],
      [
        model({ encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [8] }, normalization: undefined }),
        /needs a cnn encoder with proprioFeatures/,
      ],
    ];
    for (const [m, why] of cases) {
      const cfg = parseCheckpointConfig(m);
      expect(() => new JepaTrainer(loadTrainKernels(), cfg, initWeights(cfg, 0), { proprioPassThrough: true })).toThrow(why);
      const parse = () => parseTrainConfig({ model: m, camera: 'front', objective: { proprioPassThrough: true } }, 'cfg.json');
      expect(parse).toThrow(TrainConfigError);
      expect(parse).toThrow(/cfg\.json: invalid train config:\n {2}- objective\.proprioPassThrough: /);
      expect(parse).toThrow(why);
    }
  });
});
