/**
 * The trainable form of a checkpoint's encoder and predictor: parameters named
 * exactly as src/model/tensors.ts, and batched forward passes recorded on a
 * Graph (./graph) with the math of src/model/config.ts. Architectures: the
 * mlp, cnn and ViT encoders, the mlp predictor (residual or not) and the
 * transformer predictor (frame-causal window, concat or add conditioning).
 */
import type { CheckpointConfig } from '../model/config';
import { headProprioOf, modelDims } from '../model/config';
import { cnnShapes, expectedTensors, mlpHidden } from '../model/tensors';
import { type Graph, type Node, Param } from './graph';

/** eps of the mlp/cnn LayerNorms and the cnn GroupNorms (config.ts). */
const NORM_EPS = 1e-5;

export class UnsupportedArchitectureError extends Error {
  override name = 'UnsupportedArchitectureError';
  constructor(part: string, kind: string) {
    super(`training a ${kind} ${part} is not supported yet; use an mlp or cnn encoder and an mlp predictor`);
  }
}

export class MissingWeightError extends Error {
  override name = 'MissingWeightError';
  constructor(tensor: string) {
    super(`initial weights lack tensor '${tensor}'; pass every tensor of expectedTensors(config) (e.g. initWeights(config, seed))`);
  }
}

export class TrainableModel {
  readonly params = new Map<string, Param>();
  readonly dims: ReturnType<typeof modelDims>;

  constructor(
    readonly config: CheckpointConfig,
    weights: ReadonlyMap<string, Float32Array>,
  ) {
    this.dims = modelDims(config);
    for (const spec of expectedTensors(config)) {
      const w = weights.get(spec.name);
      if (!w) throw new MissingWeightError(spec.name);
      this.params.set(spec.name, new Param(spec.name, Float32Array.from(w)));
    }
  }

  param(name: string): Param {
    const p = this.params.get(name);
    if (!p) throw new MissingWeightError(name);
    return p;
  }

  /** Parameters whose name starts with a prefix ('encoder.', 'predictor.'). */
  group(prefix: string): Param[] {
    return [...this.params.values()].filter((p) => p.name.startsWith(prefix));
  }

  setTrainable(prefix: string, trainable: boolean): void {
    for (const p of this.group(prefix)) p.trainable = trainable;
  }

  zeroGrad(): void {
    for (const p of this.params.values()) p.grad.fill(0);
  }

  /** Current weights by tensor name (copies), for saveCheckpoint. */
  tensors(): Map<string, Float32Array> {
    return new Map([...this.params].map(([k, p]) => [k, p.value.slice()]));
  }

  /** Input normalisation of config.normalization (per dim for mlp, per channel for cnn) on [batch, inputSize]. */
  private normalizeInput(frames: Float32Array, batch: number): Float32Array {
    const norm = this.config.normalization;
    if (!norm) return frames;
    const enc = this.config.encoder;
    const channels = enc.kind === 'mlp' ? enc.inputDim : enc.inChannels;
    const spatial = this.dims.inputSize / channels;
    const out = new Float32Array(frames.length);
    for (let b = 0; b < batch; b++)
      for (let c = 0; c < channels; c++)
        for (let s = 0; s < spatial; s++) {
          const i = (b * channels + c) * spatial + s;
          out[i] = (frames[i]! - norm.mean[c]!) / norm.std[c]!;
        }
    return out;
  }

  /** Means of the last k channels of normalised cnn input [batch, C, H, W] → [batch, k]. */
  private planeMeans(input: Float32Array, batch: number, k: number): Float32Array {
    const enc = this.config.encoder;
    if (enc.kind !== 'cnn') throw new Error('planeMeans: cnn encoders only');
    const C = enc.inChannels;
    const spatial = enc.imageSize * enc.imageSize;
    const out = new Float32Array(batch * k);
    for (let b = 0; b < batch; b++)
      for (let p = 0; p < k; p++) {
        const base = (b * C + C - k + p) * spatial;
        let sum = 0;
        for (let s = 0; s < spatial; s++) sum += input[base + s]!;
        out[b * k + p] = sum / spatial;
      }
    return out;
  }

  private mlpStack(
    g: Graph,
    prefix: string,
    x: Node,
    batch: number,
    inDim: number,
    hidden: number[],
    outDim: number,
    act: 'gelu' | 'relu' | 'tanh' | 'silu',
    useNorm: boolean,
  ): Node {
    let h = x;
    let d = inDim;
    hidden.forEach((width, i) => {
      h = g.linear(h, batch, this.param(`${prefix}.layers.${i}.weight`), this.param(`${prefix}.layers.${i}.bias`), d, width);
      if (useNorm) h = g.layerNorm(h, batch, width, this.param(`${prefix}.norms.${i}.weight`), this.param(`${prefix}.norms.${i}.bias`), NORM_EPS);
      h = g.activation(h, act);
      d = width;
    });
    const L = hidden.length;
    return g.linear(h, batch, this.param(`${prefix}.layers.${L}.weight`), this.param(`${prefix}.layers.${L}.bias`), d, outDim);
  }

  /** Pre-norm block over `samples` sequences of `tokens` tokens: x += ls1(attn(norm1 x)); x += ls2(mlp(norm2 x)). */
  private block(
    g: Graph,
    prefix: string,
    x: Node,
    samples: number,
    tokens: number,
    W: number,
    o: { heads: number; mlpRatio: number; eps: number; qkvBias: boolean; layerScale: boolean; frameTokens: number },
  ): Node {
    const rows = samples * tokens;
    const p = (n: string) => this.param(`${prefix}.${n}`);
    const n1 = g.layerNorm(x, rows, W, p('norm1.weight'), p('norm1.bias'), o.eps);
    const qkv = g.linear(n1, rows, p('attn.qkv.weight'), o.qkvBias ? p('attn.qkv.bias') : undefined, W, 3 * W);
    const att = g.attention(qkv, samples, tokens, W, o.heads, o.frameTokens);
    let a = g.linear(att, rows, p('attn.proj.weight'), p('attn.proj.bias'), W, W);
    if (o.layerScale) a = g.scale(a, p('ls1.gamma'), W);
    const h = g.add(x, a);
    const n2 = g.layerNorm(h, rows, W, p('norm2.weight'), p('norm2.bias'), o.eps);
    const hidden = mlpHidden(W, o.mlpRatio);
    const f1 = g.activation(g.linear(n2, rows, p('mlp.fc1.weight'), p('mlp.fc1.bias'), W, hidden), 'gelu');
    let m = g.linear(f1, rows, p('mlp.fc2.weight'), p('mlp.fc2.bias'), hidden, W);
    if (o.layerScale) m = g.scale(m, p('ls2.gamma'), W);
    return g.add(h, m);
  }

  /** ViT tokens after the final norm: [batch, 1 + P, embedDim]. */
  private vitTokens(g: Graph, x: Node, batch: number): { tokens: Node; count: number } {
    const enc = this.config.encoder;
    if (enc.kind !== 'vit') throw new UnsupportedArchitectureError('encoder', enc.kind);
    const D = enc.embedDim;
    const conv = g.conv2d(
      x,
      { images: batch, inC: enc.inChannels, inH: enc.imageSize, inW: enc.imageSize, outC: D, kernel: enc.patchSize, stride: enc.patchSize, padding: 0 },
      this.param('encoder.patch_embed.proj.weight'),
      this.param('encoder.patch_embed.proj.bias'),
    );
    const P = conv.outH * conv.outW;
    let h = g.transposeLast(conv.out, batch, D, P);
    h = g.prependToken(h, this.param('encoder.cls_token'), batch, P, D);
    h = g.addBroadcast(h, this.param('encoder.pos_embed'), (1 + P) * D);
    for (let i = 0; i < enc.depth; i++) {
      h = this.block(g, `encoder.blocks.${i}`, h, batch, 1 + P, D, {
        heads: enc.numHeads, mlpRatio: enc.mlpRatio, eps: enc.eps, qkvBias: enc.qkvBias, layerScale: enc.layerScale, frameTokens: 0,
      });
    }
    h = g.layerNorm(h, batch * (1 + P), D, this.param('encoder.norm.weight'), this.param('encoder.norm.bias'), enc.eps);
    return { tokens: h, count: 1 + P };
  }

  /** frames [batch, inputSize] → latents [batch, latent.tokens · latent.dim]. */
  encode(g: Graph, frames: Float32Array, batch: number): Node {
    if (frames.length !== batch * this.dims.inputSize) {
      throw new RangeError(`encode: frames hold ${frames.length} values, expected ${batch}×${this.dims.inputSize}`);
    }
    const enc = this.config.encoder;
    const D = this.dims.latentDim;
    const input = this.normalizeInput(frames, batch);
    const x = g.constant(input);
    let z: Node;
    let outputNorm: boolean;
    if (enc.kind === 'mlp') {
      z = this.mlpStack(g, 'encoder', x, batch, enc.inputDim, enc.hiddenDims, D, enc.activation, enc.layerNorm);
      outputNorm = enc.outputNorm;
    } else if (enc.kind === 'cnn') {
      let h = x;
      let c = enc.inChannels;
      let size = enc.imageSize;
      enc.stages.forEach((s, i) => {
        const conv = g.conv2d(
          h,
          { images: batch, inC: c, inH: size, inW: size, outC: s.channels, kernel: s.kernel, stride: s.stride, padding: s.padding },
          this.param(`encoder.convs.${i}.weight`),
          this.param(`encoder.convs.${i}.bias`),
        );
        h = conv.out;
        if (enc.norm === 'group') {
          h = g.groupNorm(h, batch, s.channels, conv.outH * conv.outW, enc.groups,
            this.param(`encoder.norms.${i}.weight`), this.param(`encoder.norms.${i}.bias`), NORM_EPS);
        }
        h = g.activation(h, enc.activation);
        c = s.channels;
        size = conv.outH;
      });
      const [ch, hh, ww] = cnnShapes(enc).at(-1)!;
      let features = enc.pool === 'avgpool' ? g.avgPool(h, batch, ch, hh * ww) : h;
      let fdim = enc.pool === 'avgpool' ? ch : ch * hh * ww;
      const k = headProprioOf(enc);
      if (k > 0) {
        // The proprio planes' means join the features; they are input, so no gradient flows to them.
        features = g.concat(features, fdim, g.constant(this.planeMeans(input, batch, k)), k, batch);
        fdim += k;
      }
      z = g.linear(features, batch, this.param('encoder.head.weight'), this.param('encoder.head.bias'), fdim, D);
      outputNorm = enc.outputNorm;
    } else {
      const { tokens, count } = this.vitTokens(g, x, batch);
      if (enc.output === 'cls') return g.selectTokens(tokens, batch, count, D, 0, 1);
      if (enc.output === 'patch') return g.selectTokens(tokens, batch, count, D, 1, count - 1);
      return tokens;
    }
    if (outputNorm) z = g.layerNorm(z, batch, D, this.param('encoder.out_norm.weight'), this.param('encoder.out_norm.bias'), NORM_EPS);
    return z;
  }

  /**
   * Transformer predictor over windows of F frames: latents [batch, F, T·dim]
   * (oldest first), actions [batch, F, A] → outputs of every window token
   * [batch, F·T, dim]; the tokens of frame f predict z_{f+1}.
   */
  predictWindow(g: Graph, latents: Node, actions: Node, batch: number, F: number): Node {
    const pred = this.config.predictor;
    if (pred.kind !== 'transformer') throw new UnsupportedArchitectureError('predictor', `${pred.kind} (predictWindow)`);
    if (F < 1 || F > pred.historyLength) throw new RangeError(`predictWindow: window of ${F} frames; expected 1..${pred.historyLength}`);
    const { latentDim: D, latentTokens: T, actionDim: A, predictorWidth: W } = this.dims;
    const E = pred.actionEmbedDim;
    const rows = batch * F * T;
    const e = g.linear(actions, batch * F, this.param('predictor.action_embed.weight'), this.param('predictor.action_embed.bias'), A, E);
    const eTok = g.repeatRows(e, batch * F, E, T);
    let h = pred.actionConditioning === 'concat' ? g.concat(latents, D, eTok, E, rows) : g.add(latents, eTok);
    h = g.addBroadcast(h, this.param('predictor.pos_embed'), F * T * W);
    for (let i = 0; i < pred.depth; i++) {
      h = this.block(g, `predictor.blocks.${i}`, h, batch, F * T, W, {
        heads: pred.numHeads, mlpRatio: pred.mlpRatio, eps: pred.eps, qkvBias: pred.qkvBias, layerScale: false, frameTokens: T,
      });
    }
    h = g.layerNorm(h, rows, W, this.param('predictor.norm.weight'), this.param('predictor.norm.bias'), pred.eps);
    return pred.outputHead ? g.linear(h, rows, this.param('predictor.head.weight'), this.param('predictor.head.bias'), W, D) : g.leadingColumns(h, rows, W, D);
  }

  /**
   * One step: z [batch, latentSize], actions [batch, action.dim] → ẑ_{t+1}
   * [batch, latentSize]. A transformer predictor sees a one-frame window.
   */
  predict(g: Graph, z: Node, actions: Node, batch: number): Node {
    const pred = this.config.predictor;
    if (pred.kind === 'transformer') return this.predictWindow(g, z, actions, batch, 1);
    const D = this.dims.latentDim;
    const A = this.dims.actionDim;
    const x = g.concat(z, D, actions, A, batch);
    const out = this.mlpStack(g, 'predictor', x, batch, D + A, pred.hiddenDims, D, pred.activation, pred.layerNorm);
    return pred.residual ? g.add(z, out) : out;
  }
}
