/**
 * A small reverse-mode autodiff tape over the native training kernels
 * (./kernels). Forward ops run immediately (float32, batched over rows /
 * images), keep what their backward needs (their inputs), and push a backward
 * closure; `backward(seeds)` runs the closures in reverse. Activations are
 * Nodes; weights are Params whose gradients accumulate across every use (a
 * predictor unrolled over several steps sums its gradient).
 *
 * Gradient flow is pruned: a node requires a gradient only when some input
 * does or some trainable parameter took part, so a frozen encoder, an EMA
 * target encoder or a stop-gradient target costs no backward work. A graph
 * built with `record: false` keeps no tape at all (inference / targets).
 */
import type { TrainActivation, TrainKernels } from './kernels';

/** A weight tensor with its gradient. `trainable: false` freezes it (no gradient is computed). */
export class Param {
  readonly grad: Float32Array;
  constructor(
    readonly name: string,
    readonly value: Float32Array,
    public trainable = true,
  ) {
    this.grad = new Float32Array(value.length);
  }
}

/** An activation: its value and, after backward, its gradient. */
export interface Node {
  readonly value: Float32Array;
  readonly requiresGrad: boolean;
  grad: Float32Array | null;
}

/** A graph op was given arrays that do not fit its shape arguments. */
export class GraphShapeError extends Error {
  override name = 'GraphShapeError';
  constructor(op: string, detail: string) {
    super(`graph.${op}: ${detail}`);
  }
}

function node(value: Float32Array, requiresGrad: boolean): Node {
  return { value, requiresGrad, grad: null };
}

function trains(p: Param | undefined): boolean {
  return p !== undefined && p.trainable;
}

export interface GraphOptions {
  /** Record the tape for backward (default true). */
  record?: boolean;
}

export class Graph {
  private readonly tape: (() => void)[] = [];
  readonly record: boolean;

  constructor(
    readonly k: TrainKernels,
    options: GraphOptions = {},
  ) {
    this.record = options.record ?? true;
  }

  /** A leaf that takes no gradient (data). */
  constant(value: Float32Array): Node {
    return node(value, false);
  }

  /** A leaf whose gradient is wanted (e.g. to check input gradients). */
  leaf(value: Float32Array): Node {
    return node(value, true);
  }

  private push(out: Node, fn: (g: Float32Array) => void): Node {
    if (this.record && out.requiresGrad) this.tape.push(() => out.grad && fn(out.grad));
    return out;
  }

  /** Adds the gradient `write` produces (it overwrites its argument) into n.grad. */
  private accumulate(n: Node, write: (dst: Float32Array) => void): void {
    if (!n.requiresGrad) return;
    if (n.grad === null) {
      n.grad = new Float32Array(n.value.length);
      write(n.grad);
      return;
    }
    const tmp = new Float32Array(n.value.length);
    write(tmp);
    const g = n.grad;
    for (let i = 0; i < g.length; i++) g[i] += tmp[i]!;
  }

  private needs(x: Node, ...params: (Param | undefined)[]): boolean {
    return this.record && (x.requiresGrad || params.some(trains));
  }

  /** y[rows, out] = x[rows, in] Wᵀ + b. */
  linear(x: Node, rows: number, W: Param, b: Param | undefined, inDim: number, outDim: number): Node {
    if (x.value.length !== rows * inDim) throw new GraphShapeError('linear', `${W.name}: input has ${x.value.length} values, expected ${rows}×${inDim}`);
    const y = new Float32Array(rows * outDim);
    this.k.linear({ x: x.value, W: W.value, b: b?.value, y, rows, inDim, outDim });
    const out = node(y, this.needs(x, W, b));
    return this.push(out, (dY) => {
      const args = {
        x: x.value, W: W.value, dY, rows, inDim, outDim,
        dW: W.trainable ? W.grad : undefined,
        db: trains(b) ? b!.grad : undefined,
      };
      if (x.requiresGrad) this.accumulate(x, (dX) => this.k.linearBackward({ ...args, dX }));
      else this.k.linearBackward(args);
    });
  }

  layerNorm(x: Node, rows: number, dim: number, w: Param, b: Param, eps: number): Node {
    const y = new Float32Array(rows * dim);
    this.k.layerNorm({ x: x.value, w: w.value, b: b.value, y, rows, dim, eps });
    return this.push(node(y, this.needs(x, w, b)), (dY) => {
      const args = { x: x.value, w: w.value, dY, rows, dim, eps, dw: w.trainable ? w.grad : undefined, db: b.trainable ? b.grad : undefined };
      if (x.requiresGrad) this.accumulate(x, (dX) => this.k.layerNormBackward({ ...args, dX }));
      else this.k.layerNormBackward(args);
    });
  }

  groupNorm(x: Node, images: number, channels: number, spatial: number, groups: number, w: Param, b: Param, eps: number): Node {
    const y = new Float32Array(x.value.length);
    this.k.groupNorm({ x: x.value, w: w.value, b: b.value, y, images, channels, spatial, groups, eps });
    return this.push(node(y, this.needs(x, w, b)), (dY) => {
      const args = { x: x.value, w: w.value, dY, images, channels, spatial, groups, eps, dw: w.trainable ? w.grad : undefined, db: b.trainable ? b.grad : undefined };
      if (x.requiresGrad) this.accumulate(x, (dX) => this.k.groupNormBackward({ ...args, dX }));
      else this.k.groupNormBackward(args);
    });
  }

  activation(x: Node, act: TrainActivation): Node {
    const n = x.value.length;
    const y = new Float32Array(n);
    this.k.activation({ x: x.value, y, n, act });
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (dX) => this.k.activationBackward({ x: x.value, dY, dX, n, act }));
    });
  }

  conv2d(
    x: Node,
    shape: { images: number; inC: number; inH: number; inW: number; outC: number; kernel: number; stride: number; padding: number },
    weight: Param,
    bias: Param | undefined,
  ): { out: Node; outH: number; outW: number } {
    const outH = Math.floor((shape.inH + 2 * shape.padding - shape.kernel) / shape.stride) + 1;
    const outW = Math.floor((shape.inW + 2 * shape.padding - shape.kernel) / shape.stride) + 1;
    const y = new Float32Array(shape.images * shape.outC * outH * outW);
    this.k.conv2d({ x: x.value, weight: weight.value, bias: bias?.value, y, ...shape });
    const out = this.push(node(y, this.needs(x, weight, bias)), (dY) => {
      const args = {
        x: x.value, weight: weight.value, dY, ...shape,
        dWeight: weight.trainable ? weight.grad : undefined,
        dBias: trains(bias) ? bias!.grad : undefined,
      };
      if (x.requiresGrad) this.accumulate(x, (dX) => this.k.conv2dBackward({ ...args, dX }));
      else this.k.conv2dBackward(args);
    });
    return { out, outH, outW };
  }

  /** Mean over the spatial positions of [images, channels, spatial] → [images, channels]. */
  avgPool(x: Node, images: number, channels: number, spatial: number): Node {
    const y = new Float32Array(images * channels);
    for (let i = 0; i < images * channels; i++) {
      let s = 0;
      for (let p = 0; p < spatial; p++) s += x.value[i * spatial + p]!;
      y[i] = s / spatial;
    }
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (dX) => {
        for (let i = 0; i < images * channels; i++) dX.fill(dY[i]! / spatial, i * spatial, (i + 1) * spatial);
      });
    });
  }

  add(a: Node, b: Node): Node {
    if (a.value.length !== b.value.length) throw new GraphShapeError('add', `lengths ${a.value.length} and ${b.value.length} differ`);
    const y = new Float32Array(a.value.length);
    for (let i = 0; i < y.length; i++) y[i] = a.value[i]! + b.value[i]!;
    return this.push(node(y, this.needs(a) || this.needs(b)), (dY) => {
      this.accumulate(a, (d) => d.set(dY));
      this.accumulate(b, (d) => d.set(dY));
    });
  }

  /** x.value[start, start + length) as its own node (a block of rows). */
  slice(x: Node, start: number, length: number): Node {
    if (start < 0 || start + length > x.value.length) throw new GraphShapeError('slice', `[${start}, ${start + length}) is outside a node of ${x.value.length}`);
    const y = x.value.slice(start, start + length);
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (d) => {
        d.fill(0);
        d.set(dY, start);
      });
    });
  }

  /** Row-wise concatenation [a (aDim) | b (bDim)] of `rows` rows. */
  concat(a: Node, aDim: number, b: Node, bDim: number, rows: number): Node {
    const w = aDim + bDim;
    const y = new Float32Array(rows * w);
    for (let r = 0; r < rows; r++) {
      y.set(a.value.subarray(r * aDim, (r + 1) * aDim), r * w);
      y.set(b.value.subarray(r * bDim, (r + 1) * bDim), r * w + aDim);
    }
    return this.push(node(y, this.needs(a) || this.needs(b)), (dY) => {
      this.accumulate(a, (d) => {
        for (let r = 0; r < rows; r++) d.set(dY.subarray(r * w, r * w + aDim), r * aDim);
      });
      this.accumulate(b, (d) => {
        for (let r = 0; r < rows; r++) d.set(dY.subarray(r * w + aDim, (r + 1) * w), r * bDim);
      });
    });
  }

  /** y[i] = x[i] · gamma[i mod dim] (LayerScale). */
  scale(x: Node, gamma: Param, dim: number): Node {
    const y = new Float32Array(x.value.length);
    for (let i = 0; i < y.length; i++) y[i] = x.value[i]! * gamma.value[i % dim]!;
    return this.push(node(y, this.needs(x, gamma)), (dY) => {
      if (gamma.trainable) for (let i = 0; i < dY.length; i++) gamma.grad[i % dim] += dY[i]! * x.value[i]!;
      this.accumulate(x, (d) => {
        for (let i = 0; i < d.length; i++) d[i] = dY[i]! * gamma.value[i % dim]!;
      });
    });
  }

  /** y[i] = x[i] + p[i mod period] (position embeddings; period ≤ p's length, p read from 0). */
  addBroadcast(x: Node, p: Param, period: number): Node {
    if (period > p.value.length || x.value.length % period !== 0) throw new GraphShapeError('addBroadcast', `${p.name}: period ${period} does not fit ${x.value.length} values / a tensor of ${p.value.length}`);
    const y = new Float32Array(x.value.length);
    for (let i = 0; i < y.length; i++) y[i] = x.value[i]! + p.value[i % period]!;
    return this.push(node(y, this.needs(x, p)), (dY) => {
      if (p.trainable) for (let i = 0; i < dY.length; i++) p.grad[i % period] += dY[i]!;
      this.accumulate(x, (d) => d.set(dY));
    });
  }

  /** [images, C, P] → [images, P, C] (conv channel-major output to token-major). */
  transposeLast(x: Node, images: number, C: number, P: number): Node {
    const y = new Float32Array(x.value.length);
    for (let b = 0; b < images; b++) for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) y[(b * P + p) * C + c] = x.value[(b * C + c) * P + p]!;
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (d) => {
        for (let b = 0; b < images; b++) for (let c = 0; c < C; c++) for (let p = 0; p < P; p++) d[(b * C + c) * P + p] = dY[(b * P + p) * C + c]!;
      });
    });
  }

  /** [samples, P, D] → [samples, 1 + P, D] with the token `t` ([D]) first in every sample (cls token). */
  prependToken(x: Node, t: Param, samples: number, P: number, D: number): Node {
    const y = new Float32Array(samples * (1 + P) * D);
    for (let b = 0; b < samples; b++) {
      y.set(t.value.subarray(0, D), b * (1 + P) * D);
      y.set(x.value.subarray(b * P * D, (b + 1) * P * D), (b * (1 + P) + 1) * D);
    }
    return this.push(node(y, this.needs(x, t)), (dY) => {
      if (t.trainable) for (let b = 0; b < samples; b++) for (let c = 0; c < D; c++) t.grad[c] += dY[b * (1 + P) * D + c]!;
      this.accumulate(x, (d) => {
        for (let b = 0; b < samples; b++) d.set(dY.subarray((b * (1 + P) + 1) * D, (b + 1) * (1 + P) * D), b * P * D);
      });
    });
  }

  /** Tokens [start, start + count) of each of `samples` sequences of `tokens` × D → [samples, count, D]. */
  selectTokens(x: Node, samples: number, tokens: number, D: number, start: number, count: number): Node {
    const y = new Float32Array(samples * count * D);
    for (let b = 0; b < samples; b++) y.set(x.value.subarray((b * tokens + start) * D, (b * tokens + start + count) * D), b * count * D);
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (d) => {
        d.fill(0);
        for (let b = 0; b < samples; b++) d.set(dY.subarray(b * count * D, (b + 1) * count * D), (b * tokens + start) * D);
      });
    });
  }

  /** Columns [0, keep) of x [rows, width] → [rows, keep]. */
  leadingColumns(x: Node, rows: number, width: number, keep: number): Node {
    const y = new Float32Array(rows * keep);
    for (let r = 0; r < rows; r++) y.set(x.value.subarray(r * width, r * width + keep), r * keep);
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (d) => {
        d.fill(0);
        for (let r = 0; r < rows; r++) d.set(dY.subarray(r * keep, (r + 1) * keep), r * width);
      });
    });
  }

  /** Each row of x [rows, dim] repeated `times` times consecutively → [rows·times, dim]. */
  repeatRows(x: Node, rows: number, dim: number, times: number): Node {
    const y = new Float32Array(rows * times * dim);
    for (let r = 0; r < rows; r++) for (let t = 0; t < times; t++) y.set(x.value.subarray(r * dim, (r + 1) * dim), (r * times + t) * dim);
    return this.push(node(y, this.needs(x)), (dY) => {
      this.accumulate(x, (d) => {
        d.fill(0);
        for (let r = 0; r < rows; r++) for (let t = 0; t < times; t++) for (let c = 0; c < dim; c++) d[r * dim + c] += dY[(r * times + t) * dim + c]!;
      });
    });
  }

  /** Frames f of `nodes` (each [samples, dim]) interleaved per sample → [samples, F, dim]. */
  stackFrames(nodes: readonly Node[], samples: number, dim: number): Node {
    const F = nodes.length;
    const y = new Float32Array(samples * F * dim);
    nodes.forEach((n, f) => {
      if (n.value.length !== samples * dim) throw new GraphShapeError('stackFrames', `frame ${f} has ${n.value.length} values, expected ${samples}×${dim}`);
      for (let b = 0; b < samples; b++) y.set(n.value.subarray(b * dim, (b + 1) * dim), (b * F + f) * dim);
    });
    return this.push(node(y, nodes.some((n) => this.needs(n))), (dY) => {
      nodes.forEach((n, f) => {
        this.accumulate(n, (d) => {
          for (let b = 0; b < samples; b++) d.set(dY.subarray((b * F + f) * dim, (b * F + f + 1) * dim), b * dim);
        });
      });
    });
  }

  /** Multi-head softmax attention on qkv [samples·tokens, 3·width] ([q | k | v]) → [samples·tokens, width]. */
  attention(qkv: Node, samples: number, tokens: number, width: number, heads: number, frameTokens: number): Node {
    const out = new Float32Array(samples * tokens * width);
    this.k.attention({ qkv: qkv.value, out, samples, tokens, width, heads, frameTokens });
    return this.push(node(out, this.needs(qkv)), (dOut) => {
      this.accumulate(qkv, (dQkv) => this.k.attentionBackward({ qkv: qkv.value, dOut, dQkv, samples, tokens, width, heads, frameTokens }));
    });
  }

  /** Runs the tape backwards from the given (node, dLoss/dnode) seeds. The tape is consumed. */
  backward(seeds: readonly (readonly [Node, Float32Array])[]): void {
    if (!this.record) throw new GraphShapeError('backward', 'this graph was built with record: false');
    for (const [n, g] of seeds) {
      if (g.length !== n.value.length) throw new GraphShapeError('backward', `seed gradient has ${g.length} values for a node of ${n.value.length}`);
      if (!n.requiresGrad) continue;
      if (n.grad === null) n.grad = Float32Array.from(g);
      else for (let i = 0; i < g.length; i++) n.grad[i] += g[i]!;
    }
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]!();
    this.tape.length = 0;
  }
}
