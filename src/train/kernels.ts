/**
 * The native training kernels (addon `train.*`, native/src/napi/train_binding.cc)
 * as a typed interface, and the loader that finds them in the built addon.
 * Every op writes caller-owned Float32Arrays in place: input gradients (dX,
 * dQkv) are overwritten, parameter gradients (dW, db, dw, dWeight, dBias) are
 * accumulated (+=) so a weight used several times sums its gradient. Each op
 * has a synchronous form and an `...Async` form that runs off the event loop.
 */
import { z } from 'zod';
import { loadNativeAddon } from '../addon/native';

export type TrainActivation = 'gelu' | 'relu' | 'tanh' | 'silu' | 'none';

export interface LinearArgs {
  x: Float32Array;
  W: Float32Array;
  b?: Float32Array;
  y: Float32Array;
  rows: number;
  inDim: number;
  outDim: number;
}
export interface LinearBackwardArgs {
  x: Float32Array;
  W: Float32Array;
  dY: Float32Array;
  dX?: Float32Array;
  dW?: Float32Array;
  db?: Float32Array;
  rows: number;
  inDim: number;
  outDim: number;
}
export interface LayerNormArgs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  y: Float32Array;
  rows: number;
  dim: number;
  eps: number;
}
export interface LayerNormBackwardArgs {
  x: Float32Array;
  w: Float32Array;
  dY: Float32Array;
  dX?: Float32Array;
  dw?: Float32Array;
  db?: Float32Array;
  rows: number;
  dim: number;
  eps: number;
}
export interface GroupNormArgs {
  x: Float32Array;
  w: Float32Array;
  b: Float32Array;
  y: Float32Array;
  images: number;
  channels: number;
  spatial: number;
  groups: number;
  eps: number;
}
export interface GroupNormBackwardArgs {
  x: Float32Array;
  w: Float32Array;
  dY: Float32Array;
  dX?: Float32Array;
  dw?: Float32Array;
  db?: Float32Array;
  images: number;
  channels: number;
  spatial: number;
  groups: number;
  eps: number;
}
export interface ActivationArgs {
  x: Float32Array;
  y: Float32Array;
  n: number;
  act: TrainActivation;
}
export interface ActivationBackwardArgs {
  x: Float32Array;
  dY: Float32Array;
  dX: Float32Array;
  n: number;
  act: TrainActivation;
}
export interface AttentionArgs {
  qkv: Float32Array;
  out: Float32Array;
  samples: number;
  tokens: number;
  width: number;
  heads: number;
  frameTokens?: number;
}
export interface AttentionBackwardArgs {
  qkv: Float32Array;
  dOut: Float32Array;
  dQkv: Float32Array;
  samples: number;
  tokens: number;
  width: number;
  heads: number;
  frameTokens?: number;
}
/** Geometry of a conv2d call: batch, channels, input size, square kernel, stride, zero padding. */
export interface Conv2dShape {
  images: number;
  inC: number;
  inH: number;
  inW: number;
  outC: number;
  kernel: number;
  stride: number;
  padding?: number;
}
export interface Conv2dArgs extends Conv2dShape {
  x: Float32Array;
  weight: Float32Array;
  bias?: Float32Array;
  y: Float32Array;
}
export interface Conv2dBackwardArgs extends Conv2dShape {
  x: Float32Array;
  weight: Float32Array;
  dY: Float32Array;
  dX?: Float32Array;
  dWeight?: Float32Array;
  dBias?: Float32Array;
}
export interface AdamWArgs {
  param: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  n: number;
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** 1-based number of this update. */
  step: number;
}

interface OpTable {
  linear: LinearArgs;
  linearBackward: LinearBackwardArgs;
  layerNorm: LayerNormArgs;
  layerNormBackward: LayerNormBackwardArgs;
  groupNorm: GroupNormArgs;
  groupNormBackward: GroupNormBackwardArgs;
  activation: ActivationArgs;
  activationBackward: ActivationBackwardArgs;
  attention: AttentionArgs;
  attentionBackward: AttentionBackwardArgs;
  conv2d: Conv2dArgs;
  conv2dBackward: Conv2dBackwardArgs;
  adamwStep: AdamWArgs;
}

export type TrainKernels = { [K in keyof OpTable]: (args: OpTable[K]) => void } & {
  [K in keyof OpTable as `${K & string}Async`]: (args: OpTable[K]) => Promise<void>;
};

export const TRAIN_OPS = [
  'linear',
  'linearBackward',
  'layerNorm',
  'layerNormBackward',
  'groupNorm',
  'groupNormBackward',
  'activation',
  'activationBackward',
  'attention',
  'attentionBackward',
  'conv2d',
  'conv2dBackward',
  'adamwStep',
] as const satisfies readonly (keyof OpTable)[];

const fn = z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function');
const trainExportSchema = z.object({
  train: z.object(Object.fromEntries(TRAIN_OPS.flatMap((k) => [[k, fn], [`${k}Async`, fn]]))),
});

/** The addon loaded but has no (or an incomplete) `train` export. */
export class TrainKernelsUnavailableError extends Error {
  override name = 'TrainKernelsUnavailableError';
  constructor(detail: string) {
    super(
      `the native addon has no usable training kernels (${detail}); rebuild it with \`npm run build:addon\` ` +
        '(native/src/napi/train_binding.cc must be compiled in), or point JEPA_NATIVE_PATH at a build that has them',
    );
  }
}

let cached: TrainKernels | undefined;

/** The native training kernels; throws NativeAddonNotFoundError or TrainKernelsUnavailableError. */
export function loadTrainKernels(): TrainKernels {
  if (cached) return cached;
  const addon: unknown = loadNativeAddon();
  const parsed = trainExportSchema.safeParse(addon);
  if (!parsed.success) {
    throw new TrainKernelsUnavailableError(parsed.error.issues.map((i) => i.path.join('.') || 'train').join(', ') + ' missing');
  }
  cached = (addon as { train: TrainKernels }).train;
  return cached;
}

/** True when the training kernels load. */
export function trainKernelsAvailable(): boolean {
  try {
    loadTrainKernels();
    return true;
  } catch (e) {
    if (e instanceof Error && (e.name === 'NativeAddonNotFoundError' || e.name === 'TrainKernelsUnavailableError')) return false;
    throw e;
  }
}
