/**
 * The tensor manifest of a checkpoint: for a parsed config, the exact list of
 * tensor names and shapes its model.safetensors must hold (names and math in
 * ./config.ts). One source of truth: the TypeScript reference, the native
 * loader (which receives this list and checks the file against it) and the
 * trainer all take their names from here.
 */
import { type CheckpointConfig, headProprioOf, modelDims } from './config';

export interface TensorSpec {
  name: string;
  shape: number[];
}

function linear(out: TensorSpec[], name: string, inDim: number, outDim: number, bias = true): void {
  out.push({ name: `${name}.weight`, shape: [outDim, inDim] });
  if (bias) out.push({ name: `${name}.bias`, shape: [outDim] });
}

function norm(out: TensorSpec[], name: string, dim: number): void {
  out.push({ name: `${name}.weight`, shape: [dim] }, { name: `${name}.bias`, shape: [dim] });
}

function mlpStack(
  out: TensorSpec[],
  prefix: string,
  inDim: number,
  hiddenDims: number[],
  outDim: number,
  layerNorm: boolean,
): void {
  let d = inDim;
  hiddenDims.forEach((h, i) => {
    linear(out, `${prefix}.layers.${i}`, d, h);
    if (layerNorm) norm(out, `${prefix}.norms.${i}`, h);
    d = h;
  });
  linear(out, `${prefix}.layers.${hiddenDims.length}`, d, outDim);
}

function transformerBlocks(
  out: TensorSpec[],
  prefix: string,
  depth: number,
  width: number,
  mlpRatio: number,
  qkvBias: boolean,
  layerScale: boolean,
): void {
  const hidden = Math.round(width * mlpRatio);
  for (let i = 0; i < depth; i++) {
    const b = `${prefix}.blocks.${i}`;
    norm(out, `${b}.norm1`, width);
    linear(out, `${b}.attn.qkv`, width, 3 * width, qkvBias);
    linear(out, `${b}.attn.proj`, width, width);
    if (layerScale) out.push({ name: `${b}.ls1.gamma`, shape: [width] });
    norm(out, `${b}.norm2`, width);
    linear(out, `${b}.mlp.fc1`, width, hidden);
    linear(out, `${b}.mlp.fc2`, hidden, width);
    if (layerScale) out.push({ name: `${b}.ls2.gamma`, shape: [width] });
  }
}

/** Hidden width of a transformer MLP (fc1 output) for a width and ratio. */
export function mlpHidden(width: number, mlpRatio: number): number {
  return Math.round(width * mlpRatio);
}

/** CNN stage output sizes: [channels, height, width] after each stage. */
export function cnnShapes(cfg: Extract<CheckpointConfig['encoder'], { kind: 'cnn' }>): [number, number, number][] {
  const shapes: [number, number, number][] = [];
  let size = cfg.imageSize;
  for (const s of cfg.stages) {
    size = Math.floor((size + 2 * s.padding - s.kernel) / s.stride) + 1;
    if (size < 1) throw new RangeError(`cnn stage ${shapes.length} leaves no pixels (kernel ${s.kernel}, stride ${s.stride})`);
    shapes.push([s.channels, size, size]);
  }
  return shapes;
}

export function expectedTensors(cfg: CheckpointConfig): TensorSpec[] {
  const out: TensorSpec[] = [];
  const dims = modelDims(cfg);
  const enc = cfg.encoder;
  if (enc.kind === 'mlp') {
    mlpStack(out, 'encoder', enc.inputDim, enc.hiddenDims, dims.latentDim, enc.layerNorm);
    if (enc.outputNorm) norm(out, 'encoder.out_norm', dims.latentDim);
  } else if (enc.kind === 'cnn') {
    let c = enc.inChannels;
    enc.stages.forEach((s, i) => {
      out.push({ name: `encoder.convs.${i}.weight`, shape: [s.channels, c, s.kernel, s.kernel] });
      out.push({ name: `encoder.convs.${i}.bias`, shape: [s.channels] });
      if (enc.norm === 'group') norm(out, `encoder.norms.${i}`, s.channels);
      c = s.channels;
    });
    const [ch, h, w] = cnnShapes(enc).at(-1)!;
    linear(out, 'encoder.head', (enc.pool === 'flatten' ? ch * h * w : ch) + headProprioOf(enc), dims.latentDim);
    if (enc.outputNorm) norm(out, 'encoder.out_norm', dims.latentDim);
  } else {
    const D = enc.embedDim;
    const grid = enc.imageSize / enc.patchSize;
    out.push({ name: 'encoder.cls_token', shape: [1, 1, D] });
    out.push({ name: 'encoder.pos_embed', shape: [1, 1 + grid * grid, D] });
    out.push({ name: 'encoder.patch_embed.proj.weight', shape: [D, enc.inChannels, enc.patchSize, enc.patchSize] });
    out.push({ name: 'encoder.patch_embed.proj.bias', shape: [D] });
    transformerBlocks(out, 'encoder', enc.depth, D, enc.mlpRatio, enc.qkvBias, enc.layerScale);
    norm(out, 'encoder.norm', D);
  }
  const pred = cfg.predictor;
  if (pred.kind === 'mlp') {
    mlpStack(out, 'predictor', dims.latentDim + dims.actionDim, pred.hiddenDims, dims.latentDim, pred.layerNorm);
  } else {
    const W = dims.predictorWidth;
    linear(out, 'predictor.action_embed', dims.actionDim, pred.actionEmbedDim);
    out.push({ name: 'predictor.pos_embed', shape: [1, pred.historyLength * dims.latentTokens, W] });
    transformerBlocks(out, 'predictor', pred.depth, W, pred.mlpRatio, pred.qkvBias, false);
    norm(out, 'predictor.norm', W);
    if (pred.outputHead) linear(out, 'predictor.head', W, dims.latentDim);
  }
  if (cfg.proprio) linear(out, 'proprio_head', dims.latentSize, cfg.proprio.dim);
  return out;
}
