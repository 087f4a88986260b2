/**
 * The float64 reference backward passes (src/train/reference-grad.ts) against
 * central finite differences of the reference forward ops
 * (src/addon/reference/ops.ts): loss = Σ G ⊙ op(inputs) for a random G, every
 * input element perturbed by ±1e-5. Tolerance 1e-6 relative to the gradient's
 * scale. AdamW against a two-step update worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import * as ops from '../../src/addon/reference/ops';
import * as rg from '../../src/train/reference-grad';
import { dot, f64, numericGrad, randomArray, relErr } from './grad-helpers';

const TOL = 1e-6;

describe('reference backward vs finite differences (float64)', () => {
  it('linear: dX, dW and db match finite differences', () => {
    const rows = 3, inDim = 5, outDim = 4;
    const x = f64(randomArray(rows * inDim, 1));
    const W = f64(randomArray(outDim * inDim, 2));
    const b = f64(randomArray(outDim, 3));
    const G = randomArray(rows * outDim, 4);
    const loss = () => dot(G, ops.linear(x, rows, W, b, inDim, outDim));
    const g = rg.linearBackward(x, rows, W, G, inDim, outDim);
    expect(relErr(g.dX, numericGrad(x, loss))).toBeLessThan(TOL);
    expect(relErr(g.dW, numericGrad(W, loss))).toBeLessThan(TOL);
    expect(relErr(g.db, numericGrad(b, loss))).toBeLessThan(TOL);
  });

  it('layer norm: dX, dw and db match finite differences (eps 1e-5 and 1e-6)', () => {
    for (const eps of [1e-5, 1e-6]) {
      const rows = 3, dim = 7;
      const x = f64(randomArray(rows * dim, 5, -2, 3));
      const w = f64(randomArray(dim, 6));
      const b = f64(randomArray(dim, 7));
      const G = randomArray(rows * dim, 8);
      const loss = () => dot(G, ops.layerNorm(x, rows, dim, w, b, eps));
      const g = rg.layerNormBackward(x, rows, dim, w, G, eps);
      expect(relErr(g.dX, numericGrad(x, loss))).toBeLessThan(TOL);
      expect(relErr(g.dw, numericGrad(w, loss))).toBeLessThan(TOL);
      expect(relErr(g.db, numericGrad(b, loss))).toBeLessThan(TOL);
    }
  });

  it('group norm: dX, dw and db match finite differences (4 channels, 2 groups)', () => {
    const C = 4, S = 6, groups = 2;
    const x = f64(randomArray(C * S, 9, -1, 2));
    const w = f64(randomArray(C, 10));
    const b = f64(randomArray(C, 11));
    const G = randomArray(C * S, 12);
    const loss = () => dot(G, ops.groupNorm(x, C, S, groups, w, b, 1e-5));
    const g = rg.groupNormBackward(x, C, S, groups, w, G, 1e-5);
    expect(relErr(g.dX, numericGrad(x, loss))).toBeLessThan(TOL);
    expect(relErr(g.dw, numericGrad(w, loss))).toBeLessThan(TOL);
    expect(relErr(g.db, numericGrad(b, loss))).toBeLessThan(TOL);
  });

  for (const kind of ['gelu', 'tanh', 'silu', 'relu'] as const) {
    it(`${kind}: derivative matches finite differences away from kinks`, () => {
      // relu's kink at 0 is avoided: no sample lies within 1e-3 of it.
      const x = f64(randomArray(40, 13, -4, 4)).map((v) => (Math.abs(v) < 1e-3 ? 0.5 : v));
      const G = randomArray(40, 14);
      const loss = () => dot(G, ops.activate(x, kind));
      expect(relErr(rg.activationBackward(x, G, kind), numericGrad(x, loss))).toBeLessThan(TOL);
    });
  }

  for (const tokensPerFrame of [0, 2]) {
    it(`attention (${tokensPerFrame ? 'frame-causal, 2 tokens per frame' : 'unmasked'}): dQ, dK, dV match finite differences`, () => {
      const tokens = 6, heads = 2, hd = 3, width = heads * hd;
      const q = f64(randomArray(tokens * width, 15, -1.5, 1.5));
      const k = f64(randomArray(tokens * width, 16, -1.5, 1.5));
      const v = f64(randomArray(tokens * width, 17));
      const G = randomArray(tokens * width, 18);
      const loss = () => dot(G, ops.attention(q, k, v, tokens, heads, hd, tokensPerFrame));
      const g = rg.attentionBackward(q, k, v, G, tokens, heads, hd, tokensPerFrame);
      expect(relErr(g.dQ, numericGrad(q, loss))).toBeLessThan(TOL);
      expect(relErr(g.dK, numericGrad(k, loss))).toBeLessThan(TOL);
      expect(relErr(g.dV, numericGrad(v, loss))).toBeLessThan(TOL);
    });
  }

  it('frame-causal attention gives no gradient to keys/values of later frames from earlier queries', () => {
    const tokens = 4, width = 2;
    const q = f64(randomArray(tokens * width, 19));
    const k = f64(randomArray(tokens * width, 20));
    const v = f64(randomArray(tokens * width, 21));
    const G = new Float64Array(tokens * width);
    G[0] = 1; // only the first query (frame 0) carries gradient
    const g = rg.attentionBackward(q, k, v, G, tokens, 1, width, 2);
    expect(Array.from(g.dK.slice(4))).toEqual([0, 0, 0, 0]);
    expect(Array.from(g.dV.slice(4))).toEqual([0, 0, 0, 0]);
    expect(Math.abs(g.dV[0]!)).toBeGreaterThan(0);
  });

  it('conv2d with stride 2 and padding 1: dX, dW and db match finite differences', () => {
    const inC = 2, H = 5, W = 6, outC = 3, k = 3, stride = 2, pad = 1;
    const x = f64(randomArray(inC * H * W, 22));
    const wt = f64(randomArray(outC * inC * k * k, 23));
    const b = f64(randomArray(outC, 24));
    const outSize = ops.convOutSize(H, k, stride, pad) * ops.convOutSize(W, k, stride, pad) * outC;
    const G = randomArray(outSize, 25);
    const loss = () => dot(G, ops.conv2d(x, inC, H, W, wt, b, outC, k, stride, pad).out);
    const g = rg.conv2dBackward(x, inC, H, W, wt, G, outC, k, stride, pad);
    expect(relErr(g.dX, numericGrad(x, loss))).toBeLessThan(TOL);
    expect(relErr(g.dW, numericGrad(wt, loss))).toBeLessThan(TOL);
    expect(relErr(g.db, numericGrad(b, loss))).toBeLessThan(TOL);
  });
});

describe('AdamW reference', () => {
  it('two steps from zero moments match the hand-computed update', () => {
    // lr 0.1, wd 0.01, β 0.9/0.999, eps 1e-8, p0 = 1, g = 0.5 then -0.25.
    // Step 1: m = 0.05, v = 2.5e-4, m̂ = 0.5, v̂ = 0.25 → p = 1·0.999 - 0.1·0.5/0.5 = 0.899.
    // Step 2: m = 0.02, v = 3.1225e-4, m̂ = 0.02/0.19, v̂ = 3.1225e-4/0.001999
    //         → p = 0.899·0.999 - 0.1·0.105263/0.395225 = 0.871467.
    const hp = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 1 };
    const s1 = rg.adamwReference([1], [0.5], [0], [0], hp);
    expect(s1.param[0]).toBeCloseTo(0.899, 7);
    expect(s1.m[0]).toBeCloseTo(0.05, 12);
    expect(s1.v[0]).toBeCloseTo(2.5e-4, 12);
    const s2 = rg.adamwReference(s1.param, [-0.25], s1.m, s1.v, { ...hp, step: 2 });
    expect(s2.param[0]).toBeCloseTo(0.8714673, 6);
  });
});
