/**
 * TypeScript declaration of what native/src/napi/model_binding.cc exports:
 * the NativeModel object (load, encode, rollout, decodeProprio, dispose), the
 * CancelToken an AbortSignal drives, single-op entry points for the parity
 * tests and a GEMM timing entry for the benchmarks. Arrays are read and
 * written in place (no copies); outputs are allocated by the caller.
 */

/** Flat model description built from a parsed CheckpointConfig (native-model.ts: toNativeSpec). */
export interface NativeModelSpec {
  /** 'bfloat16' (opt-in, AMX-BF16 CPUs): predictor and ViT-encoder linears in BF16. Default 'float32'. */
  precision?: 'float32' | 'bfloat16';
  latentTokens: number;
  latentDim: number;
  actionDim: number;
  proprioDim: number;
  normMean?: number[];
  normStd?: number[];
  encoder: 'mlp' | 'cnn' | 'vit';
  inputDim?: number;
  encHidden?: number[];
  encActivation?: NativeActivation;
  encLayerNorm?: boolean;
  encOutputNorm?: boolean;
  inChannels?: number;
  imageSize?: number;
  stages?: { channels: number; kernel: number; stride: number; padding: number }[];
  groupNorm?: boolean;
  groups?: number;
  avgpool?: boolean;
  /** cnn: proprio planes whose means join encoder.head beside the features (config proprioFeatures). */
  headProprio?: number;
  patchSize?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  layerScale?: boolean;
  eps?: number;
  vitOutput?: 'cls' | 'patch' | 'cls+patch';
  predictor: 'mlp' | 'transformer';
  predHidden?: number[];
  predActivation?: NativeActivation;
  predLayerNorm?: boolean;
  residual?: boolean;
  predDepth?: number;
  predHeads?: number;
  predMlpRatio?: number;
  historyLength?: number;
  actionEmbedDim?: number;
  concat?: boolean;
  predQkvBias?: boolean;
  outputHead?: boolean;
  predEps?: number;
}

export type NativeActivation = 'gelu' | 'relu' | 'tanh' | 'silu' | 'none';

/** The energy terms as the native backends take them (every weight resolved; low/high read only when boundsWeight > 0). */
export interface NativeCostArgs {
  l2: boolean;
  terminalWeight: number;
  runningWeight: number;
  actionMagnitudeWeight: number;
  actionRateWeight: number;
  boundsWeight: number;
  previousAction?: Float32Array;
  low?: Float32Array;
  high?: Float32Array;
}

/** Arguments of NativeModelHandle.rollout; every array is used in place. */
export interface NativeRolloutArgs extends NativeCostArgs {
  z0: Float32Array;
  frames: number;
  actionHistory?: Float32Array;
  actions: Float32Array;
  n: number;
  horizon: number;
  goal: Float32Array;
  /** Outputs, allocated by the caller. */
  energies: Float32Array;
  finalLatents?: Float32Array;
  trajectory?: Float32Array;
  proprio?: Float32Array;
}

/** A native error from a cancelled call carries code 'CANCELLED'. */
export interface NativeCallError extends Error {
  code?: string;
}

export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeModelHandle {
  createFromTensors(spec: NativeModelSpec, tensors: Record<string, Float32Array>, threads: number): Promise<void>;
  loadFromFile(
    spec: NativeModelSpec,
    path: string,
    expected: { name: string; shape: number[] }[],
    threads: number,
  ): Promise<void>;
  encode(frames: Float32Array, count: number, out: Float32Array, token?: NativeCancelToken): Promise<void>;
  rollout(args: NativeRolloutArgs, token?: NativeCancelToken): Promise<void>;
  decodeProprio(latents: Float32Array, count: number, out: Float32Array, token?: NativeCancelToken): Promise<void>;
  dispose(): void;
  readonly threads: number;
  readonly isa: string;
}

export type NativeOpName = 'linear' | 'layernorm' | 'groupnorm' | 'activate' | 'softmax' | 'attention' | 'conv2d';

/** Arguments of opForTest; which fields an op reads is listed in model_binding.cc. */
export interface NativeOpArgs {
  x: Float32Array;
  /** Kernel set to run with ('scalar', 'avx2', 'avx512'); default the detected one. */
  isa?: 'scalar' | 'avx2' | 'avx512';
  threads?: number;
  [field: string]: unknown;
}

export interface NativeModelBindings {
  NativeModel: new () => NativeModelHandle;
  CancelToken: new () => NativeCancelToken;
  /** Runs one op synchronously (tests only). */
  opForTest(name: NativeOpName, args: NativeOpArgs): Float32Array;
  /** GFLOP/s of the library GEMM on an n×n×n product with `threads` threads, timed for `seconds`. */
  gemmBench(n: number, threads: number, seconds: number): number;
  kernelInfo(): { detected: string; active: string; hardwareThreads: number; amxBf16: boolean };
}
