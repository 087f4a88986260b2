/**
 * The trainable form of a checkpoint's encoder and predictor: parameters named
 * exactly as src/model/tensors.ts, and batched forward passes recorded on a
 * Graph (./graph) with the math of src/model/config.ts. Architectures: the
 * mlp and cnn encoders and the mlp predictor (residual or not). ViT encoders
 * and transformer predictors are refused with UnsupportedArchitectureError
 * (their backward ops exist natively; the graph for them is not built yet).
 */
import type { CheckpointConfig } from '../model/config';
import { modelDims } from '../model/config';
import { cnnShapes, expectedTensors } from '../model/tensors';
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
    if (config.encoder.kind === 'vit') throw new UnsupportedArchitectureError('encoder', 'vit');
    if (config.predictor.kind === 'transformer') throw new UnsupportedArchitectureError('predictor', 'transformer');
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

  /** frames [batch, inputSize] → latents [batch, latent.dim]. */
  encode(g: Graph, frames: Float32Array, batch: number): Node {
    if (frames.length !== batch * this.dims.inputSize) {
      throw new RangeError(`encode: frames hold ${frames.length} values, expected ${batch}×${this.dims.inputSize}`);
    }
    const enc = this.config.encoder;
    const D = this.dims.latentDim;
    const x = g.constant(this.normalizeInput(frames, batch));
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
      const features = enc.pool === 'avgpool' ? g.avgPool(h, batch, ch, hh * ww) : h;
      const fdim = enc.pool === 'avgpool' ? ch : ch * hh * ww;
      z = g.linear(features, batch, this.param('encoder.head.weight'), this.param('encoder.head.bias'), fdim, D);
      outputNorm = enc.outputNorm;
    } else {
      throw new UnsupportedArchitectureError('encoder', enc.kind);
    }
    if (outputNorm) z = g.layerNorm(z, batch, D, this.param('encoder.out_norm.weight'), this.param('encoder.out_norm.bias'), NORM_EPS);
    return z;
  }

  /** z [batch, latent.dim], actions [batch, action.dim] → ẑ_{t+1} [batch, latent.dim]. */
  predict(g: Graph, z: Node, actions: Node, batch: number): Node {
    const pred = this.config.predictor;
    if (pred.kind !== 'mlp') throw new UnsupportedArchitectureError('predictor', pred.kind);
    const D = this.dims.latentDim;
    const A = this.dims.actionDim;
    const x = g.concat(z, D, actions, A, batch);
    const out = this.mlpStack(g, 'predictor', x, batch, D + A, pred.hiddenDims, D, pred.activation, pred.layerNorm);
    return pred.residual ? g.add(z, out) : out;
  }
}
