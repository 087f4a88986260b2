// Architecture properties of the float64 reference forward passes: causality,
// residual identity, token selection, position-embedding slicing, and small
// encoders computed by hand.
import { describe, expect, it } from 'vitest';
import { createReferenceModel, encodeOne, MissingTensorError, predictorTokens, predictStep, vitTokens } from '../../src/addon/reference';
import { initWeights } from '../../src/model/checkpoint';
import { type CheckpointConfig, parseCheckpointConfig } from '../../src/model/config';

const base = { format: 'jepa-runtime.checkpoint/1', name: 'arch-test' };

function config(extra: Record<string, unknown>): CheckpointConfig {
  return parseCheckpointConfig({ ...base, ...extra });
}

const vitPatch = (historyLength = 3, conditioning: 'concat' | 'add' = 'concat') =>
  config({
    latent: { tokens: 4, dim: 8 },
    action: { dim: 2 },
    encoder: { kind: 'vit', inChannels: 1, imageSize: 4, patchSize: 2, embedDim: 8, depth: 1, numHeads: 2, output: 'patch' },
    predictor: { kind: 'transformer', depth: 2, numHeads: 2, historyLength, actionEmbedDim: 8, actionConditioning: conditioning },
  });

function randomArray(n: number, seed: number): Float64Array {
  let s = seed;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>, from = 0, to = a.length) => {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('transformer predictor', () => {
  const cfg = vitPatch(3);
  const w = initWeights(cfg, 7);
  const T = 4;
  const dim = 8;
  const frame = T * dim;
  const latents = randomArray(3 * frame, 1);
  const actions = randomArray(3 * 2, 2);
  const out = predictorTokens(cfg, w, latents, actions, 3);

  it('is frame-causal: changing the last frame leaves earlier frames unchanged', () => {
    const changed = latents.slice();
    changed[2 * frame + 5] += 1;
    const out2 = predictorTokens(cfg, w, changed, actions, 3);
    expect(maxDiff(out, out2, 0, 2 * frame)).toBe(0);
    expect(maxDiff(out, out2, 2 * frame)).toBeGreaterThan(1e-6);
  });

  it('is frame-causal: changing an earlier frame or its action changes later frames', () => {
    const changed = latents.slice();
    changed[3] += 1;
    expect(maxDiff(out, predictorTokens(cfg, w, changed, actions, 3), 2 * frame)).toBeGreaterThan(1e-6);
    const changedAction = actions.slice();
    changedAction[0] += 1; // a_0 belongs to frame 0
    const out3 = predictorTokens(cfg, w, latents, changedAction, 3);
    expect(maxDiff(out, out3, frame)).toBeGreaterThan(1e-6);
  });

  it('lets tokens of the same frame attend to each other (the mask is per frame, not per token)', () => {
    const changed = latents.slice();
    changed[frame + 3 * dim] += 1; // last token of frame 1
    const out2 = predictorTokens(cfg, w, changed, actions, 3);
    expect(maxDiff(out, out2, 0, frame)).toBe(0);
    expect(maxDiff(out, out2, frame, frame + dim)).toBeGreaterThan(1e-6); // first token of frame 1
  });

  it('predictStep returns the last frame of the window', () => {
    expect(Array.from(predictStep(cfg, w, latents, actions, 3))).toEqual(Array.from(out.slice(2 * frame)));
  });

  it('uses only the first F·T rows of pos_embed for a short history', () => {
    const pos = 'predictor.pos_embed';
    const short = predictorTokens(cfg, w, latents.subarray(0, frame), actions.subarray(0, 2), 1);
    const tail = new Map(w);
    const p = w.get(pos)!.slice();
    for (let i = T * 16; i < p.length; i++) p[i] += 3; // rows T.. (token width 16 = dim + actionEmbedDim)
    tail.set(pos, p);
    expect(maxDiff(short, predictorTokens(cfg, tail, latents.subarray(0, frame), actions.subarray(0, 2), 1))).toBe(0);
    const head = new Map(w);
    const q = w.get(pos)!.slice();
    q[0] += 3;
    head.set(pos, q);
    expect(maxDiff(short, predictorTokens(cfg, head, latents.subarray(0, frame), actions.subarray(0, 2), 1))).toBeGreaterThan(1e-6);
  });

  it('refuses a window longer than historyLength', () => {
    const cfg2 = vitPatch(2);
    expect(() => predictorTokens(cfg2, initWeights(cfg2, 1), latents, actions, 3)).toThrow(/expected 1..2/);
  });

  // depth-1 transformer whose block weights are all zero: output = LayerNorm(tokens + pos)[:dim]
  function identityBlocks(cfg: CheckpointConfig, actionEmbed: number[]): Map<string, Float32Array> {
    const w = initWeights(cfg, 3);
    for (const [name, t] of w) {
      if (name.includes('.blocks.')) t.fill(0);
      if (name === 'predictor.pos_embed') t.fill(0);
    }
    w.set('predictor.action_embed.weight', Float32Array.from(actionEmbed));
    w.get('predictor.action_embed.bias')!.fill(0);
    return w;
  }

  it("concat conditioning puts the action embedding after the latent channels", () => {
    const cfg = config({
      latent: { tokens: 1, dim: 2 }, action: { dim: 2 },
      encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [] },
      predictor: { kind: 'transformer', depth: 1, numHeads: 1, historyLength: 1, actionEmbedDim: 2, outputHead: false, eps: 1e-6 },
    });
    const w = identityBlocks(cfg, [1, 0, 0, 1]);
    // token [1, 2, 3, 4]: mean 2.5, biased var 1.25 → first two channels of the LayerNorm
    const s = 1 / Math.sqrt(1.25 + 1e-6);
    const z = predictStep(cfg, w, [1, 2], [3, 4], 1);
    expect(z[0]).toBeCloseTo(-1.5 * s, 12);
    expect(z[1]).toBeCloseTo(-0.5 * s, 12);
  });

  it('add conditioning sums the action embedding into the latent channels', () => {
    const cfg = config({
      latent: { tokens: 1, dim: 2 }, action: { dim: 2 },
      encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [] },
      predictor: { kind: 'transformer', depth: 1, numHeads: 1, historyLength: 1, actionEmbedDim: 2, actionConditioning: 'add', outputHead: false, eps: 1e-6 },
    });
    const w = identityBlocks(cfg, [1, 0, 0, 3]);
    // token [1 + 3, 2 + 3·1] = [4, 5] → LayerNorm [-1, 1] (up to eps)
    const s = 0.5 / Math.sqrt(0.25 + 1e-6);
    const z = predictStep(cfg, w, [1, 2], [3, 1], 1);
    expect(z[0]).toBeCloseTo(-s, 12);
    expect(z[1]).toBeCloseTo(s, 12);
  });
});

describe('mlp predictor', () => {
  const cfg = config({
    latent: { tokens: 1, dim: 3 }, action: { dim: 2 },
    encoder: { kind: 'mlp', inputDim: 3, hiddenDims: [] },
    predictor: { kind: 'mlp', hiddenDims: [5, 4], layerNorm: true, activation: 'silu' },
  });

  it('with residual and a zeroed last layer is the identity', () => {
    const w = initWeights(cfg, 11);
    w.get('predictor.layers.2.weight')!.fill(0);
    w.get('predictor.layers.2.bias')!.fill(0);
    expect(Array.from(predictStep(cfg, w, [0.25, -1.5, 3], [0.7, -0.2], 1))).toEqual([0.25, -1.5, 3]);
  });

  it('without residual returns the network output alone', () => {
    const cfgNoRes = config({ ...cfg, predictor: { ...cfg.predictor, residual: false } });
    const w = initWeights(cfg, 11);
    const withRes = predictStep(cfg, w, [0.25, -1.5, 3], [0.7, -0.2], 1);
    const without = predictStep(cfgNoRes, w, [0.25, -1.5, 3], [0.7, -0.2], 1);
    [0.25, -1.5, 3].forEach((z, i) => expect(withRes[i] - without[i]).toBeCloseTo(z, 12));
  });
});

describe('encoders', () => {
  it('vit with output patch returns P tokens, cls+patch returns 1+P, cls returns token 0', () => {
    const patch = vitPatch();
    const w = initWeights(patch, 5);
    const frame = randomArray(16, 9).map((v) => v + 0.5);
    const all = vitTokens(patch, w, frame);
    expect(all.length).toBe(5 * 8);
    const zPatch = encodeOne(patch, w, frame);
    expect(zPatch.length).toBe(4 * 8);
    expect(Array.from(zPatch)).toEqual(Array.from(all.slice(8)));
    const cls = config({ ...patch, latent: { tokens: 1, dim: 8 }, encoder: { ...patch.encoder, output: 'cls' } });
    expect(Array.from(encodeOne(cls, w, frame))).toEqual(Array.from(all.slice(0, 8)));
    const both = config({ ...patch, latent: { tokens: 5, dim: 8 }, encoder: { ...patch.encoder, output: 'cls+patch' } });
    expect(encodeOne(both, w, frame).length).toBe(40);
  });

  it('vit patch tokens are row-major over the patch grid', () => {
    // embedDim 8 (2 heads); a patch embedding that reads only the top-left pixel of each patch,
    // zero blocks, zero pos/cls: patch token p, before the final norm, is pixel (2·row, 2·col) · [1..8]
    const cfg = vitPatch();
    const w = initWeights(cfg, 5);
    for (const [name, t] of w) if (name.includes('.blocks.') || name.endsWith('pos_embed') || name.endsWith('cls_token')) t.fill(0);
    const proj = w.get('encoder.patch_embed.proj.weight')!; // [8, 1, 2, 2]
    proj.fill(0);
    for (let d = 0; d < 8; d++) proj[d * 4] = d + 1;
    w.get('encoder.patch_embed.proj.bias')!.fill(0);
    w.get('encoder.norm.weight')!.fill(1);
    w.get('encoder.norm.bias')!.fill(0);
    const image = new Float64Array(16);
    image[0 * 4 + 2] = 1; // pixel (0, 2) → patch (row 0, col 1) → token index 1
    const z = encodeOne(cfg, w, image);
    // token 1 = LayerNorm([1..8]) (nonzero); tokens 0, 2, 3 are all-zero rows → LayerNorm gives 0
    expect(Math.abs(z[8 + 7])).toBeGreaterThan(1);
    expect(maxDiff(z, new Float64Array(32), 0, 8)).toBe(0);
    expect(maxDiff(z, new Float64Array(32), 16, 32)).toBe(0);
  });

  it('cnn encoder: normalise, conv stride 2 padding 1, relu, flatten, head — computed by hand', () => {
    const cfg = config({
      latent: { tokens: 1, dim: 2 }, action: { dim: 1 },
      normalization: { mean: [1], std: [2] },
      encoder: { kind: 'cnn', inChannels: 1, imageSize: 3, stages: [{ channels: 1, kernel: 3, stride: 2, padding: 1 }], norm: 'none', activation: 'relu' },
      predictor: { kind: 'mlp', hiddenDims: [] },
    });
    const w = initWeights(cfg, 1);
    w.set('encoder.convs.0.weight', new Float32Array(9).fill(1));
    w.set('encoder.convs.0.bias', Float32Array.from([-5]));
    w.set('encoder.head.weight', Float32Array.from([1, 1, 1, 1, 0, 0, 0, 1]));
    w.set('encoder.head.bias', Float32Array.from([0, 1]));
    // (x - 1)/2 for x = 1..9 → window sums 4, 6, 10, 12; − 5 → relu → [0, 1, 5, 7]
    expect(Array.from(encodeOne(cfg, w, [1, 2, 3, 4, 5, 6, 7, 8, 9]))).toEqual([13, 8]);
    const pooled = config({ ...cfg, encoder: { ...cfg.encoder, pool: 'avgpool' } });
    const wp = new Map(w);
    wp.set('encoder.head.weight', Float32Array.from([2, -1]));
    wp.set('encoder.head.bias', Float32Array.from([0, 0]));
    expect(Array.from(encodeOne(pooled, wp, [1, 2, 3, 4, 5, 6, 7, 8, 9]))).toEqual([6.5, -3.25]);
  });

  it('cnn encoder with proprioFeatures: the normalised proprio plane\'s mean joins the head after the features', () => {
    const cfg = config({
      latent: { tokens: 1, dim: 1 }, action: { dim: 1 },
      normalization: { mean: [0, 0, 0, 1], std: [1, 1, 1, 2] },
      encoder: {
        kind: 'cnn', inChannels: 4, imageSize: 2, stages: [{ channels: 1, kernel: 2, stride: 2 }], norm: 'none', activation: 'relu',
        proprioPlanes: 1, proprioFeatures: true,
      },
      predictor: { kind: 'mlp', hiddenDims: [] },
    });
    const w = initWeights(cfg, 1);
    expect(w.get('encoder.head.weight')!.length).toBe(2);
    w.set('encoder.convs.0.weight', new Float32Array(16).fill(0).fill(1, 0, 4));
    w.set('encoder.convs.0.bias', Float32Array.from([0]));
    w.set('encoder.head.weight', Float32Array.from([1, 10]));
    w.set('encoder.head.bias', Float32Array.from([0]));
    // red plane sums to 2 (the conv reads red only); proprio plane (x - 1)/2 over [3, 5, 7, 9] has mean 2.5
    const frame = [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 7, 9];
    expect(Array.from(encodeOne(cfg, w, frame))).toEqual([2 + 10 * 2.5]);
    expect(() => config({ ...cfg, encoder: { ...cfg.encoder, inChannels: 3, proprioPlanes: 0 } })).toThrow(/proprioFeatures.*needs proprioPlanes > 0/);
  });

  it('mlp encoder normalises per input dim and applies the output LayerNorm', () => {
    const cfg = config({
      latent: { tokens: 1, dim: 2 }, action: { dim: 1 },
      normalization: { mean: [1, 0], std: [1, 4] },
      encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [], outputNorm: true },
      predictor: { kind: 'mlp', hiddenDims: [] },
    });
    const w = initWeights(cfg, 1);
    w.set('encoder.layers.0.weight', Float32Array.from([1, 0, 0, 1]));
    w.set('encoder.layers.0.bias', Float32Array.from([0, 0]));
    w.set('encoder.out_norm.weight', Float32Array.from([2, 2]));
    w.set('encoder.out_norm.bias', Float32Array.from([0, 1]));
    // x = [(3-1)/1, 8/4] = [2, 2] → equal → LayerNorm 0 → bias
    expect(Array.from(encodeOne(cfg, w, [3, 8]))).toEqual([0, 1]);
    // x = [0, 2]: mean 1, var 1 → [-1, 1]/sqrt(1 + 1e-5) · 2 + [0, 1]
    const z = encodeOne(cfg, w, [1, 8]);
    const s = 2 / Math.sqrt(1 + 1e-5);
    expect(z[0]).toBeCloseTo(-s, 12);
    expect(z[1]).toBeCloseTo(1 + s, 12);
  });

  it('a missing tensor names itself', () => {
    const cfg = vitPatch();
    const w = initWeights(cfg, 1);
    w.delete('encoder.blocks.0.mlp.fc2.bias');
    expect(() => encodeOne(cfg, w, new Float64Array(16))).toThrow(MissingTensorError);
    expect(() => createReferenceModel(cfg, w)).toThrow(/encoder\.blocks\.0\.mlp\.fc2\.bias/);
  });
});
