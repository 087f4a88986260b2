/**
 * Native training kernels (addon train.*) against the float64 reference
 * backward (src/train/reference-grad.ts): linear, layer norm, group norm,
 * every activation, attention (unmasked and frame-causal, several samples),
 * conv2d (stride, padding, several images on both the per-image and the
 * pooled-GEMM path), and AdamW against the reference and a hand-computed
 * update. Tolerance: relErr <= 1e-4. Parameter gradients must accumulate.
 * Skipped (with a printed reason) when the addon is not built with them.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/addon/reference/ops';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import * as rg from '../../src/train/reference-grad';
import { randomArray, relErr } from './grad-helpers';

const TOL = 1e-4;
const available = trainKernelsAvailable();
if (!available) console.warn('native training kernel tests skipped: the addon is not built with train.* (npm run build:addon)');

function rowsOf(a: Float32Array, rows: number, cols: number, c0: number, n: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) out[r * n + c] = a[r * cols + c0 + c]!;
  return out;
}

describe.skipIf(!available)('native backward kernels vs float64 reference', () => {
  const k = () => loadTrainKernels();

  it('linear backward matches at tile-edge sizes and accumulates dW/db', () => {
    let seed = 100;
    for (const [rows, inDim, outDim] of [[1, 1, 1], [3, 17, 5], [64, 257, 45], [130, 33, 96]] as const) {
      const x = randomArray(rows * inDim, seed++);
      const W = randomArray(outDim * inDim, seed++);
      const dY = randomArray(rows * outDim, seed++);
      const dX = new Float32Array(rows * inDim);
      const dW0 = randomArray(outDim * inDim, seed++);
      const db0 = randomArray(outDim, seed++);
      const dW = dW0.slice();
      const db = db0.slice();
      k().linearBackward({ x, W, dY, dX, dW, db, rows, inDim, outDim });
      const want = rg.linearBackward(x, rows, W, dY, inDim, outDim);
      expect(relErr(dX, want.dX), `dX ${rows}x${inDim}x${outDim}`).toBeLessThan(TOL);
      expect(relErr(dW.map((v, i) => v - dW0[i]!), want.dW), `dW ${rows}x${inDim}x${outDim}`).toBeLessThan(TOL);
      expect(relErr(db.map((v, i) => v - db0[i]!), want.db)).toBeLessThan(TOL);
      const y = new Float32Array(rows * outDim);
      const b = randomArray(outDim, seed++);
      k().linear({ x, W, b, y, rows, inDim, outDim });
      expect(relErr(y, ops.linear(x, rows, W, b, inDim, outDim))).toBeLessThan(TOL);
    }
  });

  it('layer norm backward matches for odd widths', () => {
    for (const dim of [1, 7, 33, 384]) {
      const rows = 9;
      const x = randomArray(rows * dim, dim, -2, 3);
      const w = randomArray(dim, dim + 1);
      const dY = randomArray(rows * dim, dim + 2);
      const dX = new Float32Array(rows * dim), dw = new Float32Array(dim), db = new Float32Array(dim);
      k().layerNormBackward({ x, w, dY, dX, dw, db, rows, dim, eps: 1e-5 });
      const want = rg.layerNormBackward(x, rows, dim, w, dY, 1e-5);
      if (dim > 1) expect(relErr(dX, want.dX), `dX dim ${dim}`).toBeLessThan(TOL);
      expect(relErr(dw, want.dw), `dw dim ${dim}`).toBeLessThan(TOL);
      expect(relErr(db, want.db), `db dim ${dim}`).toBeLessThan(TOL);
    }
  });

  it('group norm backward matches over several images', () => {
    const images = 3, C = 8, S = 10, groups = 4;
    const x = randomArray(images * C * S, 31, -1, 2);
    const w = randomArray(C, 32);
    const dY = randomArray(images * C * S, 33);
    const dX = new Float32Array(x.length), dw = new Float32Array(C), db = new Float32Array(C);
    k().groupNormBackward({ x, w, dY, dX, dw, db, images, channels: C, spatial: S, groups, eps: 1e-5 });
    const wantW = new Float64Array(C), wantB = new Float64Array(C);
    for (let i = 0; i < images; i++) {
      const sl = (a: Float32Array) => a.subarray(i * C * S, (i + 1) * C * S);
      const want = rg.groupNormBackward(sl(x), C, S, groups, w, sl(dY), 1e-5);
      expect(relErr(sl(dX), want.dX), `dX image ${i}`).toBeLessThan(TOL);
      want.dw.forEach((v, c) => (wantW[c] += v));
      want.db.forEach((v, c) => (wantB[c] += v));
    }
    expect(relErr(dw, wantW)).toBeLessThan(TOL);
    expect(relErr(db, wantB)).toBeLessThan(TOL);
  });

  for (const act of ['gelu', 'relu', 'tanh', 'silu'] as const) {
    it(`${act} backward matches`, () => {
      const n = 40000; // more than one 16384-element task
      const x = randomArray(n, 40, -5, 5);
      const dY = randomArray(n, 41);
      const dX = new Float32Array(n);
      k().activationBackward({ x, dY, dX, n, act });
      expect(relErr(dX, rg.activationBackward(x, dY, act))).toBeLessThan(TOL);
    });
  }

  for (const frameTokens of [0, 3]) {
    it(`attention backward matches (${frameTokens ? 'frame-causal, 3 tokens per frame' : 'unmasked'}, 3 samples)`, () => {
      const samples = 3, tokens = 9, heads = 2, width = 16, hd = width / heads;
      const qkv = randomArray(samples * tokens * 3 * width, 50 + frameTokens, -1.5, 1.5);
      const dOut = randomArray(samples * tokens * width, 51);
      const dQkv = new Float32Array(qkv.length).fill(7); // must be overwritten
      k().attentionBackward({ qkv, dOut, dQkv, samples, tokens, width, heads, frameTokens });
      const out = new Float32Array(samples * tokens * width);
      k().attention({ qkv, out, samples, tokens, width, heads, frameTokens });
      for (let s = 0; s < samples; s++) {
        const part = (a: Float32Array, cols: number) => a.subarray(s * tokens * cols, (s + 1) * tokens * cols);
        const q = rowsOf(part(qkv, 3 * width), tokens, 3 * width, 0, width);
        const kk = rowsOf(part(qkv, 3 * width), tokens, 3 * width, width, width);
        const v = rowsOf(part(qkv, 3 * width), tokens, 3 * width, 2 * width, width);
        const want = rg.attentionBackward(q, kk, v, part(dOut, width), tokens, heads, hd, frameTokens);
        const got = part(dQkv, 3 * width);
        expect(relErr(rowsOf(got, tokens, 3 * width, 0, width), want.dQ), `dQ sample ${s}`).toBeLessThan(TOL);
        expect(relErr(rowsOf(got, tokens, 3 * width, width, width), want.dK), `dK sample ${s}`).toBeLessThan(TOL);
        expect(relErr(rowsOf(got, tokens, 3 * width, 2 * width, width), want.dV), `dV sample ${s}`).toBeLessThan(TOL);
        expect(relErr(part(out, width), ops.attention(q, kk, v, tokens, heads, hd, frameTokens))).toBeLessThan(TOL);
      }
    });
  }

  it('attention backward matches past the GEMM tile sizes (70 tokens, head dim 24, 10 tokens per frame)', () => {
    const samples = 2, tokens = 70, heads = 3, width = 72, hd = 24, frameTokens = 10;
    const qkv = randomArray(samples * tokens * 3 * width, 55, -1, 1);
    const dOut = randomArray(samples * tokens * width, 56);
    const dQkv = new Float32Array(qkv.length);
    k().attentionBackward({ qkv, dOut, dQkv, samples, tokens, width, heads, frameTokens });
    const s = 1;
    const part = (a: Float32Array, cols: number) => a.subarray(s * tokens * cols, (s + 1) * tokens * cols);
    const q = rowsOf(part(qkv, 3 * width), tokens, 3 * width, 0, width);
    const kk = rowsOf(part(qkv, 3 * width), tokens, 3 * width, width, width);
    const v = rowsOf(part(qkv, 3 * width), tokens, 3 * width, 2 * width, width);
    const want = rg.attentionBackward(q, kk, v, part(dOut, width), tokens, heads, hd, frameTokens);
    const got = part(dQkv, 3 * width);
    expect(relErr(rowsOf(got, tokens, 3 * width, 0, width), want.dQ)).toBeLessThan(TOL);
    expect(relErr(rowsOf(got, tokens, 3 * width, width, width), want.dK)).toBeLessThan(TOL);
    expect(relErr(rowsOf(got, tokens, 3 * width, 2 * width, width), want.dV)).toBeLessThan(TOL);
  });

  for (const images of [1, 5]) {
    it(`conv2d forward and backward match (stride 2, padding 1, ${images} image(s))`, () => {
      const inC = 3, H = 9, W = 8, outC = 4, kernel = 3, stride = 2, padding = 1;
      const Ho = ops.convOutSize(H, kernel, stride, padding), Wo = ops.convOutSize(W, kernel, stride, padding);
      const x = randomArray(images * inC * H * W, 60 + images);
      const weight = randomArray(outC * inC * kernel * kernel, 61);
      const bias = randomArray(outC, 62);
      const dY = randomArray(images * outC * Ho * Wo, 63);
      const y = new Float32Array(dY.length);
      const dX = new Float32Array(x.length), dWeight = new Float32Array(weight.length), dBias = new Float32Array(outC);
      const shape = { images, inC, inH: H, inW: W, outC, kernel, stride, padding };
      k().conv2d({ x, weight, bias, y, ...shape });
      k().conv2dBackward({ x, weight, dY, dX, dWeight, dBias, ...shape });
      const wantW = new Float64Array(weight.length), wantB = new Float64Array(outC);
      for (let i = 0; i < images; i++) {
        const xi = x.subarray(i * inC * H * W, (i + 1) * inC * H * W);
        const gi = dY.subarray(i * outC * Ho * Wo, (i + 1) * outC * Ho * Wo);
        const fwd = ops.conv2d(xi, inC, H, W, weight, bias, outC, kernel, stride, padding).out;
        expect(relErr(y.subarray(i * outC * Ho * Wo, (i + 1) * outC * Ho * Wo), fwd)).toBeLessThan(TOL);
        const want = rg.conv2dBackward(xi, inC, H, W, weight, gi, outC, kernel, stride, padding);
        expect(relErr(dX.subarray(i * inC * H * W, (i + 1) * inC * H * W), want.dX), `dX image ${i}`).toBeLessThan(TOL);
        want.dW.forEach((v, j) => (wantW[j] += v));
        want.db.forEach((v, j) => (wantB[j] += v));
      }
      expect(relErr(dWeight, wantW)).toBeLessThan(TOL);
      expect(relErr(dBias, wantB)).toBeLessThan(TOL);
    });
  }

  it('AdamW: two in-place steps match the hand-computed update and the reference', () => {
    const param = new Float32Array([1, -2]);
    const m = new Float32Array(2), v = new Float32Array(2);
    const hp = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    k().adamwStep({ param, grad: new Float32Array([0.5, 0.5]), m, v, n: 2, ...hp, step: 1 });
    expect(param[0]).toBeCloseTo(0.899, 5);
    expect(param[1]).toBeCloseTo(-2.098, 5); // -2·0.999 - 0.1
    k().adamwStep({ param, grad: new Float32Array([-0.25, -0.25]), m, v, n: 2, ...hp, step: 2 });
    expect(param[0]).toBeCloseTo(0.8714673, 5);
    expect(param[1]).toBeCloseTo(-2.1225357, 5);
  });

  it('AdamW over a large tensor matches the float64 reference', () => {
    const n = 100003;
    const param = randomArray(n, 70), grad = randomArray(n, 71), m = randomArray(n, 72, -0.1, 0.1), v = randomArray(n, 73, 0, 0.1);
    const hp = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.05, step: 7 };
    const want = rg.adamwReference(param, grad, m, v, hp);
    k().adamwStep({ param, grad, m, v, n, ...hp });
    expect(relErr(param, want.param)).toBeLessThan(TOL);
    expect(relErr(m, want.m)).toBeLessThan(TOL);
    expect(relErr(v, want.v)).toBeLessThan(TOL);
  });

  it('async forms resolve after writing their outputs', async () => {
    const rows = 4, inDim = 3, outDim = 2;
    const x = randomArray(rows * inDim, 80), W = randomArray(outDim * inDim, 81), dY = randomArray(rows * outDim, 82);
    const dX = new Float32Array(rows * inDim);
    await k().linearBackwardAsync({ x, W, dY, dX, rows, inDim, outDim });
    expect(relErr(dX, rg.linearBackward(x, rows, W, dY, inDim, outDim).dX)).toBeLessThan(TOL);
  });

  it('a wrongly sized array is refused with the op, argument and expected length', () => {
    expect(() =>
      k().linearBackward({ x: new Float32Array(6), W: new Float32Array(6), dY: new Float32Array(3), rows: 2, inDim: 3, outDim: 2 }),
    ).toThrow(/train\.linearBackward: 'dY' has 3 elements, expected 4/);
    expect(() =>
      k().attentionBackward({ qkv: new Float32Array(18), dOut: new Float32Array(6), dQkv: new Float32Array(18), samples: 1, tokens: 3, width: 2, heads: 1, frameTokens: 2 }),
    ).toThrow(/multiple of frameTokens/);
  });
});
