// Whole-network values of the reference (ViT encoder with layer scale and
// cls+patch output, frame-causal concat transformer predictor, GroupNorm CNN
// with SiLU and output norm) against values recorded from a separate NumPy
// implementation written in PyTorch/timm idioms (reshape/permute qkv split,
// im2col patches, boolean attention mask), which agreed to within 3e-15.
// Weights come from initWeights with fixed seeds; inputs from a fixed formula.
import { describe, expect, it } from 'vitest';
import { encodeOne, predictorTokens } from '../../src/addon/reference';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';

const vit = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1', name: 'x', latent: { tokens: 5, dim: 8 }, action: { dim: 3 },
  normalization: { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3] },
  encoder: { kind: 'vit', inChannels: 3, imageSize: 8, patchSize: 4, embedDim: 8, depth: 2, numHeads: 2, layerScale: true, output: 'cls+patch', mlpRatio: 2 },
  predictor: { kind: 'transformer', depth: 2, numHeads: 3, historyLength: 3, actionEmbedDim: 4, mlpRatio: 1.5 },
});
const cnn = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1', name: 'c', latent: { tokens: 1, dim: 6 }, action: { dim: 2 },
  normalization: { mean: [0.5, 0.5], std: [0.5, 0.25] },
  encoder: {
    kind: 'cnn', inChannels: 2, imageSize: 9, groups: 2, pool: 'flatten', outputNorm: true, activation: 'silu',
    stages: [{ channels: 4, kernel: 3, stride: 2, padding: 1 }, { channels: 8, kernel: 3, stride: 1, padding: 0 }],
  },
  predictor: { kind: 'mlp', hiddenDims: [16], layerNorm: true },
});
const inputs = (n: number, s: number) => Array.from({ length: n }, (_, i) => ((i * 37 + s * 11) % 101) / 101);

const expectClose = (actual: ArrayLike<number>, expected: number[]) =>
  expected.forEach((e, i) => expect(Math.abs(actual[i] - e), `index ${i}`).toBeLessThan(1e-12));

describe('reference against an independent NumPy implementation', () => {
  const wv = initWeights(vit, 3);

  it('vit encoder (cls+patch, layer scale, 2 heads, normalisation)', () => {
    const z = encodeOne(vit, wv, inputs(3 * 64, 1));
    expect(z.length).toBe(40);
    expectClose([...z.slice(0, 4), ...z.slice(36)], [
      -1.9253640660077815, 0.2491440557706507, 1.4723637095591782, 0.9363910196102342,
      -1.2822531610555743, 0.36912971393684796, -0.30097498110985327, -0.09175348372763005,
    ]);
  });

  it('transformer predictor (3 frames of 5 tokens, concat actions, 3 heads, frame-causal)', () => {
    const latents = inputs(3 * 40, 2).map((v) => v - 0.5);
    const actions = inputs(9, 3).map((v) => v - 0.5);
    const out = predictorTokens(vit, wv, latents, actions, 3);
    expect(out.length).toBe(3 * 5 * 8);
    expectClose([...out.slice(0, 4), ...out.slice(out.length - 4)], [
      0.13082301902928264, 0.9610609168005255, 1.6637659661804947, -0.30320378061369546,
      -0.36831135605575216, -0.18969574688786445, 0.64490968170691, 0.7976764517738653,
    ]);
  });

  it('cnn encoder (two stages, GroupNorm, SiLU, flatten, output LayerNorm)', () => {
    const z = encodeOne(cnn, initWeights(cnn, 4), inputs(2 * 81, 4));
    expectClose(z, [0.2914072672882602, 0.23740893930329882, 0.23963519222907384, -0.7548620503699941, 1.6103918540646134, -1.6239812025152522]);
  });
});
