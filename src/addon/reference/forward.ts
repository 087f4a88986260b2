/**
 * Float64 reference forward passes of every encoder, predictor and the
 * proprio head, exactly as written in src/model/config.ts, built from ./ops.
 *
 *   encodeOne(cfg, weights, frame)                 frame [inputSize] → z [latentSize]
 *   predictorTokens(cfg, weights, latents, actions, F)
 *                                                  latents [F, latentSize], actions [F, A] (a_f is
 *                                                  the action applied after frame f) → outputs of every
 *                                                  window token [F·T, latent.dim] (transformer), or
 *                                                  [1, latent.dim] (mlp, F = 1)
 *   predictStep(cfg, weights, latents, actions, F) → z_{t+1} [latentSize]: the last frame's outputs
 *   decodeProprioOne(cfg, weights, z)              z [latentSize] → [proprio.dim]
 *
 * `weights` maps tensor names (src/model/tensors.ts) to arrays; a missing
 * tensor throws MissingTensorError naming it.
 */
import type { CheckpointConfig } from '../../model/config';
import { headProprioOf, modelDims } from '../../model/config';
import { cnnShapes, mlpHidden } from '../../model/tensors';
import {
  type Activation,
  type BlockWeights,
  type Vec,
  activate,
  conv2d,
  groupNorm,
  layerNorm,
  linear,
  transformerBlock,
} from './ops';

export type Weights = ReadonlyMap<string, Vec>;

/** A forward pass needed a tensor the weights do not hold. */
export class MissingTensorError extends Error {
  override name = 'MissingTensorError';
  constructor(readonly tensor: string) {
    super(`tensor '${tensor}' is missing from the model weights; check the checkpoint against expectedTensors(config)`);
  }
}

export function tensor(weights: Weights, name: string): Vec {
  const t = weights.get(name);
  if (t === undefined) throw new MissingTensorError(name);
  return t;
}

/** eps of the mlp/cnn LayerNorms (`norms.{i}`, `out_norm`): PyTorch's nn.LayerNorm default. */
export const LAYER_NORM_EPS = 1e-5;
/** eps of the cnn GroupNorms (config.ts). */
export const GROUP_NORM_EPS = 1e-5;

/** Hidden layers then output layer, with optional LayerNorm after each hidden linear (mlp encoder / predictor). */
function mlpStack(
  weights: Weights,
  prefix: string,
  x: Vec,
  inDim: number,
  hiddenDims: number[],
  outDim: number,
  act: Activation,
  useNorm: boolean,
): Float64Array {
  let h: Vec = x;
  let d = inDim;
  hiddenDims.forEach((width, i) => {
    let y = linear(h, 1, tensor(weights, `${prefix}.layers.${i}.weight`), tensor(weights, `${prefix}.layers.${i}.bias`), d, width);
    if (useNorm) {
      y = layerNorm(y, 1, width, tensor(weights, `${prefix}.norms.${i}.weight`), tensor(weights, `${prefix}.norms.${i}.bias`), LAYER_NORM_EPS);
    }
    h = activate(y, act);
    d = width;
  });
  const L = hiddenDims.length;
  return linear(h, 1, tensor(weights, `${prefix}.layers.${L}.weight`), tensor(weights, `${prefix}.layers.${L}.bias`), d, outDim);
}

/** (x - mean[c]) / std[c] per channel of x [channels, spatial]; identity without normalization. */
function normalizeInput(cfg: CheckpointConfig, frame: Vec, channels: number, spatial: number): Float64Array {
  const x = Float64Array.from(frame);
  const norm = cfg.normalization;
  if (!norm) return x;
  for (let c = 0; c < channels; c++) {
    for (let s = 0; s < spatial; s++) x[c * spatial + s] = (x[c * spatial + s] - norm.mean[c]) / norm.std[c];
  }
  return x;
}

function blockWeights(weights: Weights, prefix: string, qkvBias: boolean, layerScale: boolean): BlockWeights {
  const t = (n: string) => tensor(weights, `${prefix}.${n}`);
  return {
    norm1W: t('norm1.weight'),
    norm1B: t('norm1.bias'),
    qkvW: t('attn.qkv.weight'),
    qkvB: qkvBias ? t('attn.qkv.bias') : undefined,
    projW: t('attn.proj.weight'),
    projB: t('attn.proj.bias'),
    ls1: layerScale ? t('ls1.gamma') : undefined,
    norm2W: t('norm2.weight'),
    norm2B: t('norm2.bias'),
    fc1W: t('mlp.fc1.weight'),
    fc1B: t('mlp.fc1.bias'),
    fc2W: t('mlp.fc2.weight'),
    fc2B: t('mlp.fc2.bias'),
    ls2: layerScale ? t('ls2.gamma') : undefined,
  };
}

/** All 1 + P ViT tokens after the final norm: [1 + P, embedDim], token 0 = cls. */
export function vitTokens(cfg: CheckpointConfig, weights: Weights, frame: Vec): Float64Array {
  const enc = cfg.encoder;
  if (enc.kind !== 'vit') throw new TypeError(`vitTokens needs a vit encoder, got '${enc.kind}'`);
  const C = enc.inChannels;
  const S = enc.imageSize;
  const D = enc.embedDim;
  const x = normalizeInput(cfg, frame, C, S * S);
  const { out: patches, outH, outW } = conv2d(
    x, C, S, S,
    tensor(weights, 'encoder.patch_embed.proj.weight'), tensor(weights, 'encoder.patch_embed.proj.bias'),
    D, enc.patchSize, enc.patchSize, 0,
  );
  const P = outH * outW;
  const tokens = 1 + P;
  const pos = tensor(weights, 'encoder.pos_embed');
  const cls = tensor(weights, 'encoder.cls_token');
  let h: Float64Array = new Float64Array(tokens * D);
  for (let c = 0; c < D; c++) h[c] = cls[c] + pos[c];
  // conv output is [D, P] (channel-major); tokens are patch-major [P, D].
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < D; c++) h[(1 + p) * D + c] = patches[c * P + p] + pos[(1 + p) * D + c];
  }
  const hidden = mlpHidden(D, enc.mlpRatio);
  for (let i = 0; i < enc.depth; i++) {
    h = transformerBlock(h, tokens, D, blockWeights(weights, `encoder.blocks.${i}`, enc.qkvBias, enc.layerScale), {
      numHeads: enc.numHeads,
      mlpHidden: hidden,
      eps: enc.eps,
    });
  }
  return layerNorm(h, tokens, D, tensor(weights, 'encoder.norm.weight'), tensor(weights, 'encoder.norm.bias'), enc.eps);
}

/** Encodes one frame (normalisation from the config applied here) → z [latentSize]. */
export function encodeOne(cfg: CheckpointConfig, weights: Weights, frame: Vec): Float64Array {
  const enc = cfg.encoder;
  const dim = cfg.latent.dim;
  const outNorm = (z: Float64Array, on: boolean) =>
    on ? layerNorm(z, 1, dim, tensor(weights, 'encoder.out_norm.weight'), tensor(weights, 'encoder.out_norm.bias'), LAYER_NORM_EPS) : z;

  if (enc.kind === 'mlp') {
    const x = normalizeInput(cfg, frame, enc.inputDim, 1);
    return outNorm(mlpStack(weights, 'encoder', x, enc.inputDim, enc.hiddenDims, dim, enc.activation, enc.layerNorm), enc.outputNorm);
  }

  if (enc.kind === 'cnn') {
    let c = enc.inChannels;
    let size = enc.imageSize;
    const input = normalizeInput(cfg, frame, c, size * size);
    let x: Float64Array = input;
    enc.stages.forEach((s, i) => {
      const conv = conv2d(
        x, c, size, size,
        tensor(weights, `encoder.convs.${i}.weight`), tensor(weights, `encoder.convs.${i}.bias`),
        s.channels, s.kernel, s.stride, s.padding,
      );
      let y = conv.out;
      if (enc.norm === 'group') {
        y = groupNorm(y, s.channels, conv.outH * conv.outW, enc.groups,
          tensor(weights, `encoder.norms.${i}.weight`), tensor(weights, `encoder.norms.${i}.bias`), GROUP_NORM_EPS);
      }
      x = activate(y, enc.activation);
      c = s.channels;
      size = conv.outH;
    });
    let features: Float64Array = x;
    if (enc.pool === 'avgpool') {
      const spatial = size * size;
      features = new Float64Array(c);
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        for (let s = 0; s < spatial; s++) sum += x[ch * spatial + s];
        features[ch] = sum / spatial;
      }
    }
    const k = headProprioOf(enc);
    if (k > 0) {
      // The proprio planes' means (one normalised value each) join the features.
      const spatial = enc.imageSize * enc.imageSize;
      const joined = new Float64Array(features.length + k);
      joined.set(features);
      for (let p = 0; p < k; p++) {
        const ch = enc.inChannels - k + p;
        let sum = 0;
        for (let s = 0; s < spatial; s++) sum += input[ch * spatial + s];
        joined[features.length + p] = sum / spatial;
      }
      features = joined;
    }
    const z = linear(features, 1, tensor(weights, 'encoder.head.weight'), tensor(weights, 'encoder.head.bias'), features.length, dim);
    return outNorm(z, enc.outputNorm);
  }

  const all = vitTokens(cfg, weights, frame);
  const D = enc.embedDim;
  if (enc.output === 'cls') return all.slice(0, D);
  if (enc.output === 'patch') return all.slice(D);
  return all;
}

/** Side lengths after each CNN stage, re-exported for tests and kernels. */
export { cnnShapes };

/**
 * Predictor outputs for every token of the window. latents [F, latentSize]
 * oldest first; actions [F, A] with actions[f] applied after frame f.
 * Transformer → [F·T, latent.dim]; mlp (F must be 1) → [latent.dim].
 */
export function predictorTokens(cfg: CheckpointConfig, weights: Weights, latents: Vec, actions: Vec, F: number): Float64Array {
  const pred = cfg.predictor;
  const dims = modelDims(cfg);
  const A = dims.actionDim;
  const dim = dims.latentDim;
  const T = dims.latentTokens;

  if (pred.kind === 'mlp') {
    if (F !== 1) throw new RangeError(`an mlp predictor takes 1 frame, got ${F}`);
    const x = new Float64Array(dim + A);
    for (let c = 0; c < dim; c++) x[c] = latents[c];
    for (let j = 0; j < A; j++) x[dim + j] = actions[j];
    const out = mlpStack(weights, 'predictor', x, dim + A, pred.hiddenDims, dim, pred.activation, pred.layerNorm);
    if (pred.residual) for (let c = 0; c < dim; c++) out[c] += latents[c];
    return out;
  }

  if (F < 1 || F > pred.historyLength) throw new RangeError(`window of ${F} frames; expected 1..${pred.historyLength}`);
  const W = dims.predictorWidth;
  const E = pred.actionEmbedDim;
  const embed = linear(actions, F, tensor(weights, 'predictor.action_embed.weight'), tensor(weights, 'predictor.action_embed.bias'), A, E);
  const pos = tensor(weights, 'predictor.pos_embed');
  const tokens = F * T;
  let h: Float64Array = new Float64Array(tokens * W);
  for (let f = 0; f < F; f++) {
    for (let t = 0; t < T; t++) {
      const row = (f * T + t) * W;
      const z = (f * T + t) * dim;
      if (pred.actionConditioning === 'concat') {
        for (let c = 0; c < dim; c++) h[row + c] = latents[z + c];
        for (let c = 0; c < E; c++) h[row + dim + c] = embed[f * E + c];
      } else {
        for (let c = 0; c < dim; c++) h[row + c] = latents[z + c] + embed[f * E + c];
      }
      for (let c = 0; c < W; c++) h[row + c] += pos[row + c];
    }
  }
  const hidden = mlpHidden(W, pred.mlpRatio);
  for (let i = 0; i < pred.depth; i++) {
    h = transformerBlock(h, tokens, W, blockWeights(weights, `predictor.blocks.${i}`, pred.qkvBias, false), {
      numHeads: pred.numHeads,
      mlpHidden: hidden,
      eps: pred.eps,
      tokensPerFrame: T,
    });
  }
  h = layerNorm(h, tokens, W, tensor(weights, 'predictor.norm.weight'), tensor(weights, 'predictor.norm.bias'), pred.eps);
  if (pred.outputHead) return linear(h, tokens, tensor(weights, 'predictor.head.weight'), tensor(weights, 'predictor.head.bias'), W, dim);
  const out = new Float64Array(tokens * dim);
  for (let t = 0; t < tokens; t++) for (let c = 0; c < dim; c++) out[t * dim + c] = h[t * W + c];
  return out;
}

/** z_{t+1} [latentSize]: the predictor outputs of the window's last frame. */
export function predictStep(cfg: CheckpointConfig, weights: Weights, latents: Vec, actions: Vec, F: number): Float64Array {
  const all = predictorTokens(cfg, weights, latents, actions, F);
  const L = cfg.latent.tokens * cfg.latent.dim;
  return all.slice(all.length - L);
}

/** proprio_head(z) → [proprio.dim]. */
export function decodeProprioOne(cfg: CheckpointConfig, weights: Weights, z: Vec): Float64Array {
  if (!cfg.proprio) throw new TypeError('decodeProprioOne: the config has no proprio head');
  const L = cfg.latent.tokens * cfg.latent.dim;
  return linear(z, 1, tensor(weights, 'proprio_head.weight'), tensor(weights, 'proprio_head.bias'), L, cfg.proprio.dim);
}
