/**
 * Float64 reference ops: the oracle every native kernel is tested against.
 * Plain loops, float64 accumulation, no cleverness. The math is the contract
 * written in src/model/config.ts.
 *
 * Conventions (all arrays row-major, inputs may be Float32Array or
 * Float64Array, outputs are always new Float64Arrays):
 *
 *   linear(x, rows, W, b, inDim, outDim)          x [rows, in], W [out, in], b [out] | undefined
 *                                                 → y [rows, out], y = x W^T + b
 *   layerNorm(x, rows, dim, w, b, eps)            per row: (x - mean)/sqrt(var + eps)·w + b (biased var)
 *   groupNorm(x, channels, spatial, groups, w, b, eps)
 *                                                 x [C, spatial]; statistics per group of C/groups channels
 *   conv2d(x, inC, inH, inW, weight, bias, outC, kernel, stride, padding)
 *                                                 x [inC, inH, inW], weight [outC, inC, k, k], zero padding
 *                                                 → { out [outC, outH, outW], outH, outW }
 *   erf(x), gelu(x) (exact erf form), relu, silu, tanh; activate(x, kind) → new array
 *   softmaxInPlace(row, offset, length)           numerically stable (max subtracted)
 *   attention(q, k, v, tokens, numHeads, headDim, tokensPerFrame)
 *                                                 q, k, v [tokens, numHeads·headDim]; head h uses
 *                                                 channels h·headDim..; scores q·k/sqrt(headDim);
 *                                                 tokensPerFrame > 0 → frame-causal mask (token i sees
 *                                                 token j iff floor(j/T) <= floor(i/T)); 0 → full
 *                                                 → [tokens, numHeads·headDim]
 *   selfAttention(x, tokens, width, numHeads, qkvW, qkvB, projW, projB, tokensPerFrame)
 *                                                 qkv Linear (output split [q | k | v]), attention, proj
 *   transformerBlock(x, tokens, width, weights, options)
 *                                                 pre-norm block: x += ls1(attn(norm1 x)); x += ls2(mlp(norm2 x))
 */

/** Any readable numeric array the ops accept. */
export type Vec = ArrayLike<number>;

export type Activation = 'gelu' | 'relu' | 'tanh' | 'silu';

/** y = x W^T + b for each of `rows` rows. */
export function linear(x: Vec, rows: number, W: Vec, b: Vec | undefined, inDim: number, outDim: number): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i] * W[o * inDim + i];
      y[r * outDim + o] = acc;
    }
  }
  return y;
}

/** LayerNorm over the last dimension of x [rows, dim], biased variance. */
export function layerNorm(x: Vec, rows: number, dim: number, w: Vec, b: Vec, eps: number): Float64Array {
  const y = new Float64Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < dim; c++) mean += x[r * dim + c];
    mean /= dim;
    let variance = 0;
    for (let c = 0; c < dim; c++) {
      const d = x[r * dim + c] - mean;
      variance += d * d;
    }
    variance /= dim;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < dim; c++) y[r * dim + c] = (x[r * dim + c] - mean) * inv * w[c] + b[c];
  }
  return y;
}

/** GroupNorm of x [channels, spatial]: mean/variance over each group's channels × spatial. */
export function groupNorm(
  x: Vec,
  channels: number,
  spatial: number,
  groups: number,
  w: Vec,
  b: Vec,
  eps: number,
): Float64Array {
  if (channels % groups !== 0) throw new RangeError(`groupNorm: ${channels} channels not divisible by ${groups} groups`);
  const per = channels / groups;
  const y = new Float64Array(channels * spatial);
  for (let g = 0; g < groups; g++) {
    const start = g * per * spatial;
    const count = per * spatial;
    let mean = 0;
    for (let i = 0; i < count; i++) mean += x[start + i];
    mean /= count;
    let variance = 0;
    for (let i = 0; i < count; i++) {
      const d = x[start + i] - mean;
      variance += d * d;
    }
    variance /= count;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = g * per; c < (g + 1) * per; c++) {
      for (let s = 0; s < spatial; s++) {
        const i = c * spatial + s;
        y[i] = (x[i] - mean) * inv * w[c] + b[c];
      }
    }
  }
  return y;
}

/** Output side length of a convolution. */
export function convOutSize(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** 2-D cross-correlation (PyTorch Conv2d) with zero padding. */
export function conv2d(
  x: Vec,
  inC: number,
  inH: number,
  inW: number,
  weight: Vec,
  bias: Vec | undefined,
  outC: number,
  kernel: number,
  stride: number,
  padding: number,
): { out: Float64Array; outH: number; outW: number } {
  const outH = convOutSize(inH, kernel, stride, padding);
  const outW = convOutSize(inW, kernel, stride, padding);
  if (outH < 1 || outW < 1) throw new RangeError(`conv2d: kernel ${kernel} leaves no output for a ${inH}×${inW} input`);
  const out = new Float64Array(outC * outH * outW);
  for (let o = 0; o < outC; o++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++) {
        let acc = bias ? bias[o] : 0;
        for (let c = 0; c < inC; c++) {
          for (let ky = 0; ky < kernel; ky++) {
            const iy = oy * stride - padding + ky;
            if (iy < 0 || iy >= inH) continue;
            for (let kx = 0; kx < kernel; kx++) {
              const ix = ox * stride - padding + kx;
              if (ix < 0 || ix >= inW) continue;
              acc += x[(c * inH + iy) * inW + ix] * weight[((o * inC + c) * kernel + ky) * kernel + kx];
            }
          }
        }
        out[(o * outH + oy) * outW + ox] = acc;
      }
    }
  }
  return { out, outH, outW };
}

const TWO_OVER_SQRT_PI = 1.1283791670955126;
const ONE_OVER_SQRT_PI = 0.5641895835477563;

/**
 * erfc(x) for x >= 3 by the continued fraction
 *   erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
 * evaluated bottom-up with enough terms for float64 at x = 3.
 */
function erfcLarge(x: number): number {
  let tail = x;
  for (let k = 120; k >= 1; k--) tail = x + k / 2 / tail;
  return (Math.exp(-x * x) * ONE_OVER_SQRT_PI) / tail;
}

/**
 * Error function, |error| well below 1e-14 everywhere.
 * |x| < 3: erf(x) = 2/√π · exp(-x²) · Σ_n 2^n x^(2n+1) / (1·3·…·(2n+1)) — all
 * terms positive, so no cancellation. |x| >= 3: 1 - erfc(|x|) by the
 * continued fraction above. Odd symmetry for negative x.
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  let result: number;
  if (ax < 3) {
    const x2 = ax * ax;
    let term = ax;
    let sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (term < sum * 1e-17) break;
    }
    result = TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
  } else if (ax < 27) {
    result = 1 - erfcLarge(ax);
  } else {
    result = 1;
  }
  return x < 0 ? -result : result;
}

/** Exact GELU: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * Math.SQRT1_2));
}

export function relu(x: number): number {
  return x > 0 ? x : 0;
}

/** SiLU / swish: x · sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function tanh(x: number): number {
  return Math.tanh(x);
}

export function activationFn(kind: Activation): (x: number) => number {
  switch (kind) {
    case 'gelu':
      return gelu;
    case 'relu':
      return relu;
    case 'tanh':
      return tanh;
    case 'silu':
      return silu;
  }
}

/** Applies an activation elementwise, returning a new array. */
export function activate(x: Vec, kind: Activation): Float64Array {
  const f = activationFn(kind);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) y[i] = f(x[i]);
  return y;
}

/** Stable softmax of row[offset .. offset+length) in place. */
export function softmaxInPlace(row: Float64Array, offset = 0, length = row.length - offset): void {
  let max = -Infinity;
  for (let i = 0; i < length; i++) if (row[offset + i] > max) max = row[offset + i];
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const e = Math.exp(row[offset + i] - max);
    row[offset + i] = e;
    sum += e;
  }
  for (let i = 0; i < length; i++) row[offset + i] /= sum;
}

/**
 * Multi-head scaled dot-product attention on projected q, k, v
 * [tokens, numHeads·headDim]. tokensPerFrame > 0 applies the frame-causal
 * mask (a token of frame f attends to every token of frames <= f).
 */
export function attention(
  q: Vec,
  k: Vec,
  v: Vec,
  tokens: number,
  numHeads: number,
  headDim: number,
  tokensPerFrame = 0,
): Float64Array {
  const width = numHeads * headDim;
  const out = new Float64Array(tokens * width);
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float64Array(tokens);
  for (let h = 0; h < numHeads; h++) {
    const c0 = h * headDim;
    for (let i = 0; i < tokens; i++) {
      const visible = tokensPerFrame > 0 ? (Math.floor(i / tokensPerFrame) + 1) * tokensPerFrame : tokens;
      for (let j = 0; j < visible; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += q[i * width + c0 + c] * k[j * width + c0 + c];
        scores[j] = dot * scale;
      }
      softmaxInPlace(scores, 0, visible);
      for (let c = 0; c < headDim; c++) {
        let acc = 0;
        for (let j = 0; j < visible; j++) acc += scores[j] * v[j * width + c0 + c];
        out[i * width + c0 + c] = acc;
      }
    }
  }
  return out;
}

/** qkv Linear (width → 3·width, split [q | k | v]), attention, output projection. */
export function selfAttention(
  x: Vec,
  tokens: number,
  width: number,
  numHeads: number,
  qkvW: Vec,
  qkvB: Vec | undefined,
  projW: Vec,
  projB: Vec | undefined,
  tokensPerFrame = 0,
): Float64Array {
  const qkv = linear(x, tokens, qkvW, qkvB, width, 3 * width);
  const q = new Float64Array(tokens * width);
  const k = new Float64Array(tokens * width);
  const v = new Float64Array(tokens * width);
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < width; c++) {
      q[t * width + c] = qkv[t * 3 * width + c];
      k[t * width + c] = qkv[t * 3 * width + width + c];
      v[t * width + c] = qkv[t * 3 * width + 2 * width + c];
    }
  }
  const attended = attention(q, k, v, tokens, numHeads, width / numHeads, tokensPerFrame);
  return linear(attended, tokens, projW, projB, width, width);
}

/** Tensors of one pre-norm transformer block (timm names without the prefix). */
export interface BlockWeights {
  norm1W: Vec;
  norm1B: Vec;
  qkvW: Vec;
  qkvB?: Vec;
  projW: Vec;
  projB: Vec;
  ls1?: Vec;
  norm2W: Vec;
  norm2B: Vec;
  fc1W: Vec;
  fc1B: Vec;
  fc2W: Vec;
  fc2B: Vec;
  ls2?: Vec;
}

export interface BlockOptions {
  numHeads: number;
  /** fc1 output width. */
  mlpHidden: number;
  eps: number;
  /** > 0: frame-causal attention with this many tokens per frame. */
  tokensPerFrame?: number;
}

/** One pre-norm block: x += ls1(attn(norm1(x))); x += ls2(fc2(gelu(fc1(norm2(x))))). Returns a new array. */
export function transformerBlock(x: Vec, tokens: number, width: number, w: BlockWeights, opt: BlockOptions): Float64Array {
  const h = Float64Array.from(x);
  const n1 = layerNorm(h, tokens, width, w.norm1W, w.norm1B, opt.eps);
  const a = selfAttention(n1, tokens, width, opt.numHeads, w.qkvW, w.qkvB, w.projW, w.projB, opt.tokensPerFrame ?? 0);
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < width; c++) h[t * width + c] += (w.ls1 ? w.ls1[c] : 1) * a[t * width + c];
  }
  const n2 = layerNorm(h, tokens, width, w.norm2W, w.norm2B, opt.eps);
  const hidden = activate(linear(n2, tokens, w.fc1W, w.fc1B, width, opt.mlpHidden), 'gelu');
  const m = linear(hidden, tokens, w.fc2W, w.fc2B, opt.mlpHidden, width);
  for (let t = 0; t < tokens; t++) {
    for (let c = 0; c < width; c++) h[t * width + c] += (w.ls2 ? w.ls2[c] : 1) * m[t * width + c];
  }
  return h;
}
