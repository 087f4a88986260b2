// Hand-computed values for every float64 reference op (the oracle of the native kernels).
import { describe, expect, it } from 'vitest';
import { ops } from '../../src/addon/reference';

const close = (actual: ArrayLike<number>, expected: number[], digits = 12) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};

describe('reference ops', () => {
  it('linear computes x W^T + b for a 2x3 input and 2 outputs', () => {
    const x = [1, 2, 3, 4, 5, 6];
    const W = [1, 0, -1, 0.5, 0.5, 0.5];
    close(ops.linear(x, 2, W, [1, -1], 3, 2), [-1, 2, -1, 6.5]);
    close(ops.linear(x, 2, W, undefined, 3, 2), [-2, 3, -2, 7.5]);
  });

  it('layerNorm of [1,2,3] uses the biased variance, then scale and shift', () => {
    const s = 1 / Math.sqrt(2 / 3); // 1.224744871391589
    close(ops.layerNorm([1, 2, 3], 1, 3, [1, 1, 1], [0, 0, 0], 0), [-s, 0, s]);
    close(ops.layerNorm([1, 2, 3, 10, 10, 13], 2, 3, [1, 2, 3], [0, 0, 1], 0), [-s, 0, 1 + 3 * s, -1 / Math.SQRT2, -2 / Math.SQRT2, 1 + 3 * Math.SQRT2]);
    // eps enters under the square root
    close(ops.layerNorm([1, 2, 3], 1, 3, [1, 1, 1], [0, 0, 0], 1 / 3), [-1, 0, 1]);
  });

  it('groupNorm takes statistics over each group of channels and space', () => {
    const x = [1, 2, 3, 4]; // 2 channels x 2 pixels
    const inv = 1 / Math.sqrt(1.25);
    close(ops.groupNorm(x, 2, 2, 1, [1, 1], [0, 0], 0), [-1.5 * inv, -0.5 * inv, 0.5 * inv, 1.5 * inv]);
    close(ops.groupNorm(x, 2, 2, 2, [1, 2], [0, 10], 0), [-1, 1, 8, 12]);
  });

  it('conv2d with a 3x3 kernel, stride 2 and padding 1 on a 3x3 image gives the four padded window sums', () => {
    const x = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const ones = new Array(9).fill(1);
    const r = ops.conv2d(x, 1, 3, 3, ones, [0.5], 1, 3, 2, 1);
    expect([r.outH, r.outW]).toEqual([2, 2]);
    close(r.out, [12.5, 16.5, 24.5, 28.5]);
    // an asymmetric kernel pins cross-correlation (no flip): out = x[2y-1][2x-1] + 2 x[2y+1][2x+1]
    const corner = [1, 0, 0, 0, 0, 0, 0, 0, 2];
    close(ops.conv2d(x, 1, 3, 3, corner, undefined, 1, 3, 2, 1).out, [10, 0, 0, 5]);
  });

  it('conv2d sums over input channels and keeps output channels separate', () => {
    // 2 input channels of 2x2, kernel 1, 2 output channels
    const x = [1, 2, 3, 4, 10, 20, 30, 40];
    const w = [1, 1, 0, -1]; // out0 = c0 + c1, out1 = -c1
    const r = ops.conv2d(x, 2, 2, 2, w, [0, 1], 2, 1, 1, 0);
    close(r.out, [11, 22, 33, 44, -9, -19, -29, -39]);
  });

  it('erf matches high-precision values to 1e-15 across the series/continued-fraction switch', () => {
    const cases: [number, number][] = [
      [0.5, 0.5204998778130465],
      [1, 0.8427007929497149],
      [2.5, 0.999593047982555],
      [2.9999, 0.9999778955735178],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
      [5, 0.9999999999984626],
      [-0.3, -0.3286267594591274],
    ];
    for (const [x, y] of cases) expect(Math.abs(ops.erf(x) - y)).toBeLessThan(1e-15);
    expect(ops.erf(0)).toBe(0);
  });

  it('gelu is the exact erf form: gelu(1) = 0.8413447460685429, gelu(-1) = -0.15865525393145707', () => {
    expect(ops.gelu(1)).toBeCloseTo(0.8413447460685429, 15);
    expect(ops.gelu(-1)).toBeCloseTo(-0.15865525393145707, 15);
    expect(ops.gelu(0)).toBe(0);
  });

  it('relu, silu and tanh activations', () => {
    close(ops.activate([-2, 0, 3], 'relu'), [0, 0, 3]);
    close(ops.activate([1, -1], 'silu'), [0.7310585786300049, -0.2689414213699951]);
    close(ops.activate([0.5], 'tanh'), [0.46211715726000974]);
  });

  it('softmax subtracts the max so huge logits give finite probabilities', () => {
    const row = new Float64Array([1000, 1000, 999]);
    ops.softmaxInPlace(row);
    const e = Math.exp(-1);
    close(row, [1 / (2 + e), 1 / (2 + e), e / (2 + e)]);
  });

  it('attention of 2 tokens matches a hand softmax, and the frame-causal mask hides later frames', () => {
    const q = [1, 0, 0, 1];
    const k = [1, 0, 1, 1];
    const v = [1, 2, 3, 4];
    // token 0: scores q0.k0 = q0.k1 = 1 -> equal weights -> mean of v
    // token 1: scores [0, 1]/sqrt(2) -> p = 1/(1+exp(-1/sqrt 2))
    const p = 1 / (1 + Math.exp(-1 / Math.SQRT2));
    close(ops.attention(q, k, v, 2, 1, 2, 0), [2, 3, 1 + 2 * p, 2 + 2 * p]);
    close(ops.attention(q, k, v, 2, 1, 2, 1), [1, 2, 1 + 2 * p, 2 + 2 * p]);
    // two tokens in one frame see each other even with the mask on
    close(ops.attention(q, k, v, 2, 1, 2, 2), [2, 3, 1 + 2 * p, 2 + 2 * p]);
  });

  it('attention splits channels into heads, each with its own softmax', () => {
    // 2 heads of width 1: head 0 uses channel 0, head 1 channel 1
    const q = [1, 0, 1, 0];
    const k = [2, 0, 0, 0];
    const v = [10, 1, 20, 3];
    // head 0: both tokens score [2, 0] -> w = [s, 1-s], s = 1/(1+e^-2); head 1 scores all 0 -> mean
    const s = 1 / (1 + Math.exp(-2));
    const h0 = 10 * s + 20 * (1 - s);
    close(ops.attention(q, k, v, 2, 2, 1, 0), [h0, 2, h0, 2]);
  });

  it('selfAttention splits the qkv output as [q | k | v] and applies the projection', () => {
    // width 1, one head: qkv weights [1, 1, 1] (q = k = v = x), proj 2x + 1
    // tokens x = [0, 1]: scores q_i k_j = x_i x_j
    const out = ops.selfAttention([0, 1], 2, 1, 1, [1, 1, 1], [0, 0, 0], [2], [1], 0);
    const p = 1 / (1 + Math.exp(-1)); // token 1 weights [1-p, p] on v = [0, 1]
    close(out, [2 * 0.5 + 1, 2 * p + 1]);
  });

  it('transformerBlock with zero attention and mlp weights is the identity (residual paths only)', () => {
    const width = 2;
    const zeros = (n: number) => new Array(n).fill(0);
    const x = [0.3, -1.2, 2, 5];
    const y = ops.transformerBlock(x, 2, width, {
      norm1W: [1, 1], norm1B: [0, 0], qkvW: zeros(12), qkvB: zeros(6), projW: zeros(4), projB: zeros(2),
      norm2W: [1, 1], norm2B: [0, 0], fc1W: zeros(8), fc1B: zeros(4), fc2W: zeros(8), fc2B: [0.5, -0.5],
      ls2: [2, 2],
    }, { numHeads: 1, mlpHidden: 4, eps: 1e-6 });
    // only the fc2 bias survives, scaled by ls2
    close(y, [1.3, -2.2, 3, 4]);
  });
});
