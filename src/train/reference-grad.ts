/**
 * Float64 reference backward passes of the ops in src/addon/reference/ops.ts:
 * the oracle the native training kernels (native/src/cpu/backward.cc) are
 * tested against, and which is itself tested against central finite
 * differences of the reference forward. Plain loops, float64, no cleverness.
 *
 * Each function takes the forward's inputs plus dY (the gradient of a scalar
 * loss with respect to the forward's output, same layout) and returns the
 * gradients with respect to every input that can carry one. Shapes and
 * layouts are exactly those of the forward op of the same name.
 *
 *   linearBackward(x, rows, W, dY, inDim, outDim)        → { dX [rows,in], dW [out,in], db [out] }
 *   layerNormBackward(x, rows, dim, w, dY, eps)          → { dX, dw [dim], db [dim] }
 *   groupNormBackward(x, channels, spatial, groups, w, dY, eps)
 *                                                        → { dX [C,spatial], dw [C], db [C] }
 *   activationBackward(x, dY, kind)                      → dX (x is the pre-activation)
 *   attentionBackward(q, k, v, dOut, tokens, numHeads, headDim, tokensPerFrame)
 *                                                        → { dQ, dK, dV } each [tokens, numHeads·headDim]
 *   conv2dBackward(x, inC, inH, inW, weight, dY, outC, kernel, stride, padding)
 *                                                        → { dX [inC,inH,inW], dW [outC,inC,k,k], db [outC] }
 *   adamwReference(param, grad, m, v, hp)                → new { param, m, v } after one AdamW update
 */
import { type Activation, type Vec, convOutSize, erf } from '../addon/reference/ops';

const INV_SQRT_2PI = 0.3989422804014327;

export interface LinearGrads {
  dX: Float64Array;
  dW: Float64Array;
  db: Float64Array;
}

/** y = x Wᵀ + b: dX = dY W, dW = dYᵀ x, db = Σ_rows dY. */
export function linearBackward(x: Vec, rows: number, W: Vec, dY: Vec, inDim: number, outDim: number): LinearGrads {
  const dX = new Float64Array(rows * inDim);
  const dW = new Float64Array(outDim * inDim);
  const db = new Float64Array(outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      const g = dY[r * outDim + o];
      db[o] += g;
      for (let i = 0; i < inDim; i++) {
        dX[r * inDim + i] += g * W[o * inDim + i];
        dW[o * inDim + i] += g * x[r * inDim + i];
      }
    }
  }
  return { dX, dW, db };
}

export interface NormGrads {
  dX: Float64Array;
  dw: Float64Array;
  db: Float64Array;
}

/**
 * Normalisation backward over one group of `count` values at x[start..] whose
 * scale/shift index is chan(i): with x̂ = (x - μ)·r, g = dY·w,
 * dX = r · (g - mean(g) - x̂ · mean(g·x̂)).
 */
function normGroupBackward(
  x: Vec,
  dY: Vec,
  w: Vec,
  start: number,
  count: number,
  chan: (i: number) => number,
  eps: number,
  out: NormGrads,
): void {
  let mean = 0;
  for (let i = 0; i < count; i++) mean += x[start + i];
  mean /= count;
  let variance = 0;
  for (let i = 0; i < count; i++) variance += (x[start + i] - mean) ** 2;
  variance /= count;
  const r = 1 / Math.sqrt(variance + eps);
  let sumG = 0;
  let sumGX = 0;
  for (let i = 0; i < count; i++) {
    const c = chan(i);
    const xh = (x[start + i] - mean) * r;
    const g = dY[start + i] * w[c];
    sumG += g;
    sumGX += g * xh;
    out.dw[c] += dY[start + i] * xh;
    out.db[c] += dY[start + i];
  }
  for (let i = 0; i < count; i++) {
    const c = chan(i);
    const xh = (x[start + i] - mean) * r;
    out.dX[start + i] = r * (dY[start + i] * w[c] - sumG / count - (xh * sumGX) / count);
  }
}

export function layerNormBackward(x: Vec, rows: number, dim: number, w: Vec, dY: Vec, eps: number): NormGrads {
  const out: NormGrads = { dX: new Float64Array(rows * dim), dw: new Float64Array(dim), db: new Float64Array(dim) };
  for (let r = 0; r < rows; r++) normGroupBackward(x, dY, w, r * dim, dim, (i) => i, eps, out);
  return out;
}

export function groupNormBackward(
  x: Vec,
  channels: number,
  spatial: number,
  groups: number,
  w: Vec,
  dY: Vec,
  eps: number,
): NormGrads {
  if (channels % groups !== 0) throw new RangeError(`groupNormBackward: ${channels} channels not divisible by ${groups} groups`);
  const per = channels / groups;
  const out: NormGrads = {
    dX: new Float64Array(channels * spatial),
    dw: new Float64Array(channels),
    db: new Float64Array(channels),
  };
  for (let g = 0; g < groups; g++) {
    normGroupBackward(x, dY, w, g * per * spatial, per * spatial, (i) => g * per + Math.floor(i / spatial), eps, out);
  }
  return out;
}

/** Derivative of an activation at the pre-activation value v. */
export function activationDerivative(v: number, kind: Activation): number {
  switch (kind) {
    case 'gelu':
      return 0.5 * (1 + erf(v * Math.SQRT1_2)) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
    case 'relu':
      return v > 0 ? 1 : 0;
    case 'tanh':
      return 1 - Math.tanh(v) ** 2;
    case 'silu': {
      const s = 1 / (1 + Math.exp(-v));
      return s * (1 + v * (1 - s));
    }
  }
}

export function activationBackward(x: Vec, dY: Vec, kind: Activation): Float64Array {
  const dX = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) dX[i] = dY[i] * activationDerivative(x[i], kind);
  return dX;
}

export interface AttentionGrads {
  dQ: Float64Array;
  dK: Float64Array;
  dV: Float64Array;
}

/**
 * Backward of ops.attention. Per head and query row i with scores
 * s_j = q_i·k_j/√d, p = softmax(s) over the visible j, o_i = Σ p_j v_j:
 * dv_j += p_j do_i; dp_j = do_i·v_j; ds_j = p_j (dp_j - Σ_l p_l dp_l);
 * dq_i += ds_j k_j/√d; dk_j += ds_j q_i/√d.
 */
export function attentionBackward(
  q: Vec,
  k: Vec,
  v: Vec,
  dOut: Vec,
  tokens: number,
  numHeads: number,
  headDim: number,
  tokensPerFrame = 0,
): AttentionGrads {
  const width = numHeads * headDim;
  const dQ = new Float64Array(tokens * width);
  const dK = new Float64Array(tokens * width);
  const dV = new Float64Array(tokens * width);
  const scale = 1 / Math.sqrt(headDim);
  const p = new Float64Array(tokens);
  const dp = new Float64Array(tokens);
  for (let h = 0; h < numHeads; h++) {
    const c0 = h * headDim;
    for (let i = 0; i < tokens; i++) {
      const visible = tokensPerFrame > 0 ? (Math.floor(i / tokensPerFrame) + 1) * tokensPerFrame : tokens;
      let max = -Infinity;
      for (let j = 0; j < visible; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += q[i * width + c0 + c] * k[j * width + c0 + c];
        p[j] = dot * scale;
        if (p[j] > max) max = p[j];
      }
      let sum = 0;
      for (let j = 0; j < visible; j++) {
        p[j] = Math.exp(p[j] - max);
        sum += p[j];
      }
      let pdp = 0;
      for (let j = 0; j < visible; j++) {
        p[j] /= sum;
        let dot = 0;
        for (let c = 0; c < headDim; c++) {
          dot += dOut[i * width + c0 + c] * v[j * width + c0 + c];
          dV[j * width + c0 + c] += p[j] * dOut[i * width + c0 + c];
        }
        dp[j] = dot;
        pdp += p[j] * dot;
      }
      for (let j = 0; j < visible; j++) {
        const ds = p[j] * (dp[j] - pdp) * scale;
        for (let c = 0; c < headDim; c++) {
          dQ[i * width + c0 + c] += ds * k[j * width + c0 + c];
          dK[j * width + c0 + c] += ds * q[i * width + c0 + c];
        }
      }
    }
  }
  return { dQ, dK, dV };
}

export interface ConvGrads {
  dX: Float64Array;
  dW: Float64Array;
  db: Float64Array;
}

/** Backward of ops.conv2d (cross-correlation, zero padding) for one image. */
export function conv2dBackward(
  x: Vec,
  inC: number,
  inH: number,
  inW: number,
  weight: Vec,
  dY: Vec,
  outC: number,
  kernel: number,
  stride: number,
  padding: number,
): ConvGrads {
  const outH = convOutSize(inH, kernel, stride, padding);
  const outW = convOutSize(inW, kernel, stride, padding);
  if (outH < 1 || outW < 1) throw new RangeError(`conv2dBackward: kernel ${kernel} leaves no output for a ${inH}×${inW} input`);
  const dX = new Float64Array(inC * inH * inW);
  const dW = new Float64Array(outC * inC * kernel * kernel);
  const db = new Float64Array(outC);
  for (let o = 0; o < outC; o++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        const g = dY[(o * outH + oy) * outW + ox];
        db[o] += g;
        for (let c = 0; c < inC; c++) {
          for (let ky = 0; ky < kernel; ky++) {
            const iy = oy * stride - padding + ky;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kernel; kx++) {
              const ix = ox * stride - padding + kx;
              if (ix < 0 || ix >= inW) continue;
              const wi = ((o * inC + c) * kernel + ky) * kernel + kx;
              const xi = (c * inH + iy) * inW + ix;
              dW[wi] += g * x[xi];
              dX[xi] += g * weight[wi];
            }
          }
        }
      }
    }
  }
  return { dX, dW, db };
}

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based number of this update (bias correction). */
  step: number;
}

/** One AdamW update in float64 (decoupled decay applied first, as PyTorch's AdamW). */
export function adamwReference(
  param: Vec,
  grad: Vec,
  m: Vec,
  v: Vec,
  hp: AdamWHyper,
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const n = param.length;
  const p2 = new Float64Array(n);
  const m2 = new Float64Array(n);
  const v2 = new Float64Array(n);
  const bc1 = 1 - hp.beta1 ** hp.step;
  const bc2 = 1 - hp.beta2 ** hp.step;
  for (let i = 0; i < n; i++) {
    m2[i] = hp.beta1 * m[i] + (1 - hp.beta1) * grad[i];
    v2[i] = hp.beta2 * v[i] + (1 - hp.beta2) * grad[i] * grad[i];
    const decayed = param[i] * (1 - hp.lr * hp.weightDecay);
    p2[i] = decayed - (hp.lr * (m2[i] / bc1)) / (Math.sqrt(v2[i] / bc2) + hp.eps);
  }
  return { param: p2, m: m2, v: v2 };
}
