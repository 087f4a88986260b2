/**
 * Finds, loads and types the native addon (jepa_native.node). Owns the
 * search order, the check that the binary exports what this TypeScript
 * expects, and the one error that explains every failed candidate and how to
 * build the addon. The model/rollout bindings are typed in
 * ./native-model-bindings (owned by the model binding); this file only merges
 * them into `NativeAddon`.
 *
 * Search order (first that loads wins; paths relative to the package root):
 *   1. $JEPA_NATIVE_PATH (relative to the current directory)
 *   2. build/Release/jepa_native.node   (cmake-js, `npm run build:addon`)
 *   3. build/Debug/jepa_native.node
 *   4. build-gyp/Release/jepa_native.node (node-gyp, `npm run build:gyp`)
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { NativeModelBindings } from './native-model-bindings';

export type { NativeModelBindings } from './native-model-bindings';

/** The package root: two folders above this file (src/addon/). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface SafetensorsTensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute position of the tensor's bytes in the file. */
  byteOffset: number;
  byteLength: number;
}

export interface SafetensorsInspection {
  metadata: Record<string, string>;
  /** In the order of their data offsets. */
  tensors: SafetensorsTensorInfo[];
  headerLength: number;
  fileSize: number;
}

export interface ExpectedTensorSpec {
  name: string;
  shape: readonly number[];
}

/** What the native safetensors reader throws (a JS Error with these fields). */
export interface NativeSafetensorsError extends Error {
  name: 'SafetensorsError';
  file: string;
  /** null when the problem is about the file rather than one tensor. */
  tensor: string | null;
  /** The message without the file/tensor prefix. */
  detail: string;
}

export interface NativeSafetensorsBindings {
  /** Reads and validates the header; throws NativeSafetensorsError. */
  inspectSafetensors(file: string): SafetensorsInspection;
  /** One tensor converted to float32 (F64/F32/F16/BF16/F8); integer dtypes are refused. */
  readSafetensorsTensor(file: string, tensor: string): Float32Array;
  /**
   * Checks that every expected tensor exists with exactly that shape (extra
   * tensors are ignored) and reads them, off the event loop, into one native
   * float32 arena; the arrays are views into that one ArrayBuffer.
   */
  loadWeights(file: string, expected: readonly ExpectedTensorSpec[]): Promise<Record<string, Float32Array>>;
}

export interface NativeBuildInfo {
  version: string;
  buildSystem: 'cmake-js' | 'node-gyp';
  compiler: string;
  napiVersion: number;
  buildType: 'Release' | 'Debug';
  /** ISA variants compiled with their own flags, e.g. ['avx2', 'avx512']. */
  isa: string[];
  /** Whether the CUDA backend was compiled in. */
  cuda: boolean;
  /** Whether the model/rollout binding was compiled in. */
  modelBinding: boolean;
}

export interface CudaDevice {
  index: number;
  name: string;
  /** e.g. "9.0" */
  computeCapability: string;
  totalMemory_bytes: number;
  multiprocessorCount: number;
}

export interface CudaInfo {
  compiled: boolean;
  devices: CudaDevice[];
  /** Why there are no (or fewer) devices: no driver, no device, or not compiled. */
  error?: string;
  /** e.g. 13000 for CUDA 13.0; present when compiled. */
  runtimeVersion?: number;
  /** 0 when no driver is installed; present when compiled. */
  driverVersion?: number;
}

export interface NativeCoreBindings {
  buildInfo(): NativeBuildInfo;
  cudaInfo(): CudaInfo;
}

export type NativeAddon = NativeCoreBindings & NativeSafetensorsBindings & NativeModelBindings;

/** Exports this TypeScript needs from every binary; a binary lacking one is stale. */
export const REQUIRED_EXPORTS = [
  'buildInfo',
  'cudaInfo',
  'inspectSafetensors',
  'readSafetensorsTensor',
  'loadWeights',
] as const;

const exportsSchema = z.object(
  Object.fromEntries(REQUIRED_EXPORTS.map((k) => [k, z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function')])),
);

export interface LoadAttempt {
  path: string;
  /** Why this candidate was not used. */
  reason: string;
}

/** No candidate binary loaded; the message lists each one and how to build. */
export class NativeAddonNotFoundError extends Error {
  override name = 'NativeAddonNotFoundError';
  readonly attempts: readonly LoadAttempt[];
  constructor(attempts: readonly LoadAttempt[]) {
    super(
      [
        'Could not load the jepa-runtime native addon (jepa_native.node).',
        'Tried:',
        ...attempts.map((a) => `  - ${a.path}: ${a.reason}`),
        'Possible solutions:',
        '  - Build it: `npm run build:addon` (needs cmake >= 3.15 and a C++17 compiler; CUDA is added when nvcc is found).',
        '  - Without cmake: `npm run build:gyp` (node-gyp, CPU only).',
        '  - Point JEPA_NATIVE_PATH at a jepa_native.node built for this platform.',
        "  - Or use backend 'reference' (TypeScript, slow) which needs no native code.",
      ].join('\n'),
    );
    this.attempts = attempts;
  }
}

export function isNativeAddonNotFound(e: unknown): e is NativeAddonNotFoundError {
  return e instanceof NativeAddonNotFoundError;
}

export function isNativeSafetensorsError(e: unknown): e is NativeSafetensorsError {
  return e instanceof Error && e.name === 'SafetensorsError' && typeof (e as { file?: unknown }).file === 'string';
}

/** Candidate paths in search order for a package root and environment. */
export function nativeCandidates(root: string = PACKAGE_ROOT, env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  const override = env.JEPA_NATIVE_PATH;
  if (override !== undefined && override !== '') out.push(path.resolve(override));
  out.push(
    path.join(root, 'build', 'Release', 'jepa_native.node'),
    path.join(root, 'build', 'Debug', 'jepa_native.node'),
    path.join(root, 'build-gyp', 'Release', 'jepa_native.node'),
  );
  return out;
}

const requireNative = createRequire(import.meta.url);

/**
 * Loads the first candidate that exists, loads, and has every required
 * export. Internal (exported for tests); use loadNativeAddon().
 */
export function loadNativeAddonFrom(candidates: readonly string[]): NativeAddon {
  const attempts: LoadAttempt[] = [];
  for (const candidate of candidates) {
    if (!existsSync(candidate)) {
      attempts.push({ path: candidate, reason: 'missing (no such file)' });
      continue;
    }
    let mod: unknown;
    try {
      mod = requireNative(candidate);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      attempts.push({ path: candidate, reason: `failed to load (dlopen): ${message.split('\n')[0]}` });
      continue;
    }
    const parsed = exportsSchema.safeParse(mod);
    if (!parsed.success) {
      const record = (typeof mod === 'object' && mod !== null ? mod : {}) as Record<string, unknown>;
      const missing = REQUIRED_EXPORTS.filter((k) => typeof record[k] !== 'function');
      attempts.push({
        path: candidate,
        reason: `loaded, but missing export(s) ${missing.join(', ')} (a stale or foreign binary; rebuild it)`,
      });
      continue;
    }
    return mod as NativeAddon;
  }
  throw new NativeAddonNotFoundError(attempts);
}

let cached: NativeAddon | undefined;

/** The addon, loaded once per process; throws NativeAddonNotFoundError. */
export function loadNativeAddon(): NativeAddon {
  if (cached === undefined) cached = loadNativeAddonFrom(nativeCandidates());
  return cached;
}

/** True when the addon loads (it is then cached for loadNativeAddon). */
export function nativeAvailable(): boolean {
  try {
    loadNativeAddon();
    return true;
  } catch (e) {
    if (isNativeAddonNotFound(e)) return false;
    throw e;
  }
}
