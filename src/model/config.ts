/**
 * Checkpoint configuration: the zod schema of `config.json` and the exact
 * meaning of every architecture the runtime runs. This file is the contract
 * between the TypeScript reference (src/addon/reference), the native CPU
 * kernels (native/src/cpu) and the trainer (src/train): all three implement
 * the math written here, with the tensor names written here.
 *
 * A checkpoint is a folder: `config.json` (this schema) + `model.safetensors`.
 * Tensor names follow the PyTorch modules they come from (timm / DINOv2 for
 * ViT), prefixed by `encoder.`, `predictor.` or `proprio_head.`, so a timm
 * ViT state_dict converts by adding the `encoder.` prefix.
 *
 * Shapes: Linear weight [out, in] (y = x W^T + b); Conv2d weight
 * [out, in, k, k]; LayerNorm/GroupNorm weight and bias [C].
 * Activation 'gelu' is the exact erf form (PyTorch nn.GELU default).
 * LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b, biased variance; eps
 * is the config's `eps` for ViT/transformer blocks and 1e-5 (PyTorch's
 * default) for the mlp/cnn norms (`norms.{i}`, `out_norm`).
 *
 * Latent of one frame: `latent.tokens` tokens of `latent.dim` each, stored
 * token-major: z[token * dim + c]. latentSize = tokens * dim.
 *
 * ── Encoders ────────────────────────────────────────────────────────────────
 * mlp   input [inputDim] (state vector). x = (x - normalization.mean[i]) /
 *       normalization.std[i] when normalization is given (per input dim).
 *       For i in hidden layers: x = act(norm_i(layers.i(x))) where norm_i is
 *       LayerNorm `encoder.norms.{i}` when layerNorm, else identity.
 *       Last: z = layers.{L}(x) (L = hiddenDims.length), then LayerNorm
 *       `encoder.out_norm` when outputNorm. Output dim = latent.dim, tokens = 1.
 *       Tensors: encoder.layers.{i}.weight/bias, encoder.norms.{i}.weight/bias,
 *       encoder.out_norm.weight/bias.
 * cnn   input [inChannels, imageSize, imageSize] in [0,1], normalised per
 *       channel with normalization.mean/std (length inChannels).
 *       For each stage s: x = act(groupnorm_s(conv_s(x))) with conv
 *       `encoder.convs.{s}` (kernel, stride, padding from the stage, bias),
 *       GroupNorm `encoder.norms.{s}` with `groups` groups (eps 1e-5) when
 *       norm = 'group', identity when 'none'.
 *       Then 'flatten': x flattened C-major ([C, H, W] order) or 'avgpool':
 *       mean over H, W → [C]. z = `encoder.head`(x) (Linear) → latent.dim,
 *       then LayerNorm `encoder.out_norm` when outputNorm. tokens = 1.
 *       proprioPlanes k > 0: the input's last k channels are not camera
 *       channels but the robot's first k proprio values (joint positions
 *       first), each tiled over a whole plane; inChannels = 3 + k. The
 *       network is the same; the runtime, the trainer and the surprise
 *       evaluation build such inputs (src/perception/preprocess.ts).
 *       proprioFeatures (needs proprioPlanes k > 0): the mean of each of the
 *       k proprio planes after input normalisation (the normalised proprio
 *       value) also joins the head beside the CNN features: z =
 *       `encoder.head`([x, planeMeans]) with head input width + k: the
 *       latent gets the joints linearly rather than only through the
 *       convolutions and their group norms, as DINO-WM concatenates its
 *       proprio embedding to the visual one.
 * vit   timm VisionTransformer / DINOv2 naming. Input normalised as cnn.
 *       patches = encoder.patch_embed.proj (Conv2d, kernel = stride =
 *       patchSize) → P = (imageSize/patchSize)^2 tokens of embedDim, row-major
 *       over the patch grid. x = [cls_token; patches] + pos_embed
 *       (encoder.cls_token [1,1,D], encoder.pos_embed [1, 1+P, D]).
 *       Block i (pre-norm): x += ls1(attn(norm1(x))); x += ls2(mlp(norm2(x)))
 *       where attn = multi-head softmax(q k^T / sqrt(D/heads)) v with
 *       `encoder.blocks.{i}.attn.qkv` (Linear D→3D, output split as
 *       [q | k | v], each [heads, D/heads]) and `.attn.proj` (D→D);
 *       mlp = fc2(gelu(fc1(x))) with `.mlp.fc1` (D→mlpRatio·D), `.mlp.fc2`;
 *       ls1/ls2 = elementwise `.ls1.gamma` / `.ls2.gamma` [D] when layerScale,
 *       identity otherwise; norms `.norm1`, `.norm2` (eps from config).
 *       Final LayerNorm `encoder.norm`. Output 'cls' → token 0 (tokens = 1);
 *       'patch' → tokens 1..P (tokens = P); 'cls+patch' → all 1+P tokens.
 *       latent.dim = embedDim.
 *
 * ── Predictors (action-conditioned, z_t, a_t → z_{t+1}) ─────────────────────
 * mlp          tokens = 1. x = [z (latent.dim), a (action.dim)];
 *              hidden as the mlp encoder (`predictor.layers.{i}`,
 *              `predictor.norms.{i}`), last layer → latent.dim;
 *              z_{t+1} = z_t + out when residual, else out. historyLength 1.
 * transformer  DINO-WM style, frame-causal over a window of the last
 *              historyLength frames. Per frame t: e_t =
 *              `predictor.action_embed`(a_t) (Linear A→actionEmbedDim).
 *              'concat': token = [z_tok, e_t] (width W = dim + actionEmbedDim);
 *              'add': token = z_tok + e_t (actionEmbedDim must equal dim; W = dim).
 *              x = tokens of the window (frame-major, F·T tokens, F ≤
 *              historyLength) + `predictor.pos_embed`[0, 0:F·T, :]
 *              (shape [1, historyLength·T, W]); then `depth` pre-norm blocks
 *              named exactly as the ViT blocks (`predictor.blocks.{i}...`,
 *              no layer scale) where a token of frame f attends to every token
 *              of frames ≤ f; final LayerNorm `predictor.norm`; then
 *              `predictor.head` (Linear W→dim) when outputHead, otherwise the
 *              first `dim` channels. The output tokens of the window's last
 *              frame are z_{t+1}. Rollouts slide the window: the newest
 *              prediction is appended with the next action, the oldest frame
 *              drops out once F = historyLength.
 *
 * ── Proprio head (optional) ─────────────────────────────────────────────────
 * `proprio_head` Linear (latentSize → proprio.dim): reads joint positions (or
 * the task's state vector) back out of a latent, so guardrail and pose terms
 * can be evaluated on predicted states. `proprio.names` (one per output) says
 * what each output reads: the joints come first; a trainer may append object
 * coordinates (`cube.x`), which the runtime leaves unread.
 */
import { z } from 'zod';

const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();
const activation = z.enum(['gelu', 'relu', 'tanh', 'silu']);

export const mlpEncoderSchema = z.strictObject({
  kind: z.literal('mlp'),
  inputDim: positiveInt,
  hiddenDims: z.array(positiveInt),
  activation: activation.default('gelu'),
  layerNorm: z.boolean().default(false),
  outputNorm: z.boolean().default(false),
});

export const cnnStageSchema = z.strictObject({
  channels: positiveInt,
  kernel: positiveInt,
  stride: positiveInt.default(1),
  padding: nonNegativeInt.default(0),
});

export const cnnEncoderSchema = z.strictObject({
  kind: z.literal('cnn'),
  inChannels: positiveInt.default(3),
  imageSize: positiveInt,
  stages: z.array(cnnStageSchema).min(1),
  norm: z.enum(['group', 'none']).default('group'),
  groups: positiveInt.default(8),
  activation: activation.default('gelu'),
  pool: z.enum(['flatten', 'avgpool']).default('flatten'),
  outputNorm: z.boolean().default(false),
  /** Trailing input channels that carry proprio values tiled over the frame (0: all channels are the camera's). */
  proprioPlanes: nonNegativeInt.default(0),
  /** The proprio planes' values also join encoder.head beside the CNN features (needs proprioPlanes > 0). */
  proprioFeatures: z.boolean().default(false),
});

export const vitEncoderSchema = z.strictObject({
  kind: z.literal('vit'),
  inChannels: positiveInt.default(3),
  imageSize: positiveInt,
  patchSize: positiveInt,
  embedDim: positiveInt,
  depth: positiveInt,
  numHeads: positiveInt,
  mlpRatio: z.number().positive().default(4),
  qkvBias: z.boolean().default(true),
  layerScale: z.boolean().default(false),
  eps: z.number().positive().default(1e-6),
  output: z.enum(['cls', 'patch', 'cls+patch']).default('cls'),
});

export const encoderSchema = z.discriminatedUnion('kind', [mlpEncoderSchema, cnnEncoderSchema, vitEncoderSchema]);

export const mlpPredictorSchema = z.strictObject({
  kind: z.literal('mlp'),
  hiddenDims: z.array(positiveInt),
  activation: activation.default('gelu'),
  layerNorm: z.boolean().default(false),
  residual: z.boolean().default(true),
});

export const transformerPredictorSchema = z.strictObject({
  kind: z.literal('transformer'),
  depth: positiveInt,
  numHeads: positiveInt,
  mlpRatio: z.number().positive().default(4),
  historyLength: positiveInt,
  actionEmbedDim: positiveInt,
  actionConditioning: z.enum(['concat', 'add']).default('concat'),
  qkvBias: z.boolean().default(true),
  outputHead: z.boolean().default(true),
  eps: z.number().positive().default(1e-6),
});

export const predictorSchema = z.discriminatedUnion('kind', [mlpPredictorSchema, transformerPredictorSchema]);

export const checkpointConfigSchema = z
  .strictObject({
    format: z.literal('jepa-runtime.checkpoint/1'),
    name: z.string().min(1),
    latent: z.strictObject({ tokens: positiveInt, dim: positiveInt }),
    action: z.strictObject({
      dim: positiveInt,
      low: z.array(z.number()).optional(),
      high: z.array(z.number()).optional(),
    }),
    frameskip: positiveInt.default(1),
    /** Camera whose frames the (cnn / ViT) encoder takes; absent: the task's main camera. */
    camera: z.string().min(1).optional(),
    normalization: z
      .strictObject({ mean: z.array(z.number()), std: z.array(z.number().positive()) })
      .optional(),
    encoder: encoderSchema,
    predictor: predictorSchema,
    proprio: z.strictObject({ dim: positiveInt, names: z.array(z.string()).optional() }).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
  })
  .superRefine((cfg, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const { encoder: enc, predictor: pred, latent } = cfg;
    if (cfg.action.low && cfg.action.low.length !== cfg.action.dim) issue(['action', 'low'], `expected ${cfg.action.dim} values`);
    if (cfg.action.high && cfg.action.high.length !== cfg.action.dim) issue(['action', 'high'], `expected ${cfg.action.dim} values`);
    if (cfg.action.low && cfg.action.high) {
      cfg.action.low.forEach((lo, i) => {
        if (!(lo < cfg.action.high![i]!)) issue(['action', 'low', i], `low must be < high (${lo} vs ${cfg.action.high![i]})`);
      });
    }
    if (cfg.proprio?.names && cfg.proprio.names.length !== cfg.proprio.dim) issue(['proprio', 'names'], `expected ${cfg.proprio.dim} names (one per head output), got ${cfg.proprio.names.length}`);
    const inputChannels = enc.kind === 'mlp' ? enc.inputDim : enc.inChannels;
    if (cfg.normalization) {
      if (cfg.normalization.mean.length !== inputChannels) issue(['normalization', 'mean'], `expected ${inputChannels} values (one per encoder input ${enc.kind === 'mlp' ? 'dim' : 'channel'})`);
      if (cfg.normalization.std.length !== inputChannels) issue(['normalization', 'std'], `expected ${inputChannels} values`);
    }
    if (enc.kind === 'vit') {
      if (enc.imageSize % enc.patchSize !== 0) issue(['encoder', 'imageSize'], `must be a multiple of patchSize ${enc.patchSize}`);
      if (enc.embedDim % enc.numHeads !== 0) issue(['encoder', 'numHeads'], `must divide embedDim ${enc.embedDim}`);
      if (latent.dim !== enc.embedDim) issue(['latent', 'dim'], `must equal encoder.embedDim ${enc.embedDim}`);
      const p = (enc.imageSize / enc.patchSize) ** 2;
      const tokens = enc.output === 'cls' ? 1 : enc.output === 'patch' ? p : p + 1;
      if (latent.tokens !== tokens) issue(['latent', 'tokens'], `encoder output '${enc.output}' gives ${tokens} tokens`);
    } else if (latent.tokens !== 1) {
      issue(['latent', 'tokens'], `a ${enc.kind} encoder gives 1 token`);
    }
    if (enc.kind === 'cnn' && enc.proprioPlanes > 0 && enc.inChannels !== 3 + enc.proprioPlanes) {
      issue(['encoder', 'inChannels'], `must be 3 (RGB) + proprioPlanes ${enc.proprioPlanes} = ${3 + enc.proprioPlanes}`);
    }
    if (enc.kind === 'cnn' && enc.proprioFeatures && enc.proprioPlanes === 0) {
      issue(['encoder', 'proprioFeatures'], 'needs proprioPlanes > 0 (the proprio values it hands to the head come from those planes)');
    }
    if (enc.kind === 'cnn' && enc.norm === 'group') {
      enc.stages.forEach((s, i) => {
        if (s.channels % enc.groups !== 0) issue(['encoder', 'stages', i, 'channels'], `must be a multiple of groups ${enc.groups}`);
      });
    }
    if (pred.kind === 'mlp' && latent.tokens !== 1) issue(['predictor', 'kind'], 'an mlp predictor needs latent.tokens = 1');
    if (pred.kind === 'transformer') {
      const width = pred.actionConditioning === 'concat' ? latent.dim + pred.actionEmbedDim : latent.dim;
      if (pred.actionConditioning === 'add' && pred.actionEmbedDim !== latent.dim) issue(['predictor', 'actionEmbedDim'], `must equal latent.dim ${latent.dim} for 'add'`);
      if (width % pred.numHeads !== 0) issue(['predictor', 'numHeads'], `must divide the token width ${width}`);
    }
  });

export type CheckpointConfig = z.infer<typeof checkpointConfigSchema>;
export type EncoderConfig = z.infer<typeof encoderSchema>;
export type PredictorConfig = z.infer<typeof predictorSchema>;

/** Derived sizes every backend needs. */
export interface ModelDims {
  latentTokens: number;
  latentDim: number;
  latentSize: number;
  actionDim: number;
  historyLength: number;
  /** Transformer token width (latent.dim, or + actionEmbedDim for concat); latent.dim for mlp. */
  predictorWidth: number;
  /** Elements of one encoder input: inputDim, or C·H·W. */
  inputSize: number;
  proprioDim: number;
}

/** Trailing input channels of an encoder that carry proprio planes (cnn proprioPlanes; 0 for every other encoder). */
export function proprioPlanesOf(enc: EncoderConfig): number {
  return enc.kind === 'cnn' ? enc.proprioPlanes : 0;
}

/** Proprio values that join a cnn encoder's head beside its features (proprioFeatures; 0 otherwise). */
export function headProprioOf(enc: EncoderConfig): number {
  return enc.kind === 'cnn' && enc.proprioFeatures ? enc.proprioPlanes : 0;
}

export function modelDims(cfg: CheckpointConfig): ModelDims {
  const enc = cfg.encoder;
  const pred = cfg.predictor;
  const inputSize = enc.kind === 'mlp' ? enc.inputDim : enc.inChannels * enc.imageSize * enc.imageSize;
  const predictorWidth =
    pred.kind === 'transformer' && pred.actionConditioning === 'concat' ? cfg.latent.dim + pred.actionEmbedDim : cfg.latent.dim;
  return {
    latentTokens: cfg.latent.tokens,
    latentDim: cfg.latent.dim,
    latentSize: cfg.latent.tokens * cfg.latent.dim,
    actionDim: cfg.action.dim,
    historyLength: pred.kind === 'transformer' ? pred.historyLength : 1,
    predictorWidth,
    inputSize,
    proprioDim: cfg.proprio?.dim ?? 0,
  };
}

/** A config.json that failed validation: names the file and every bad field. */
export class CheckpointConfigError extends Error {
  override name = 'CheckpointConfigError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: invalid checkpoint config:\n  - ${problems.join('\n  - ')}`);
  }
}

export function parseCheckpointConfig(json: unknown, file = 'config.json'): CheckpointConfig {
  const result = checkpointConfigSchema.safeParse(json);
  if (!result.success) {
    throw new CheckpointConfigError(
      file,
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}
