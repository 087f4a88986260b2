/**
 * `loadModel`: the one entry point that turns a checkpoint folder into a
 * WorldModel on the requested backend. Reads and validates config.json here
 * (zod), then hands the folder to the native addon (which reads
 * model.safetensors itself) or to the TypeScript reference.
 *
 * Backend choice: 'cpu' needs the native addon; 'cuda' needs the addon built
 * with CUDA and a visible device; 'auto' prefers CUDA, then the native CPU,
 * then falls back to the reference with a one-line notice; 'reference' is the
 * float64 TypeScript implementation (slow; the oracle and the planner mock).
 */
import { readCheckpointConfig } from '../model/checkpoint';
import { loadNativeAddon, isNativeAddonNotFound } from './native';
import { loadNativeModel } from './native-model';
import { loadReferenceModel } from './reference';
import type { LoadOptions, WorldModel } from './types';

export type { LoadOptions, WorldModel, RolloutRequest, RolloutResult, RolloutCost, BackendKind } from './types';
export { CancelledError } from './types';

/** CUDA was asked for and cannot be given. */
export class CudaUnavailableError extends Error {
  override name = 'CudaUnavailableError';
}

let cudaNoticeShown = false;

/** Why the CUDA backend cannot serve this process, or null when it can. */
function cudaUnavailableReason(): string {
  let addon;
  try {
    addon = loadNativeAddon();
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
  const info = addon.cudaInfo();
  if (!info.compiled) return 'the addon was built without CUDA (JEPA_CUDA=OFF, or no nvcc at build time)';
  if (info.devices.length === 0) return `no CUDA device is visible${info.error ? ` (${info.error})` : ''}`;
  return 'this build has the CUDA device query but not yet the CUDA model kernels';
}

export async function loadModel(dir: string, options: LoadOptions = {}): Promise<WorldModel> {
  const backend = options.backend ?? 'auto';
  const config = await readCheckpointConfig(dir);
  switch (backend) {
    case 'reference':
      return loadReferenceModel(dir);
    case 'cuda':
      throw new CudaUnavailableError(
        `backend 'cuda' requested for ${dir}, but ${cudaUnavailableReason()}. Use backend 'cpu' or 'auto'.`,
      );
    case 'cpu':
      return loadNativeModel(dir, config, { threads: options.threads });
    case 'auto': {
      try {
        const model = await loadNativeModel(dir, config, { threads: options.threads });
        if (!cudaNoticeShown) {
          cudaNoticeShown = true;
          const info = loadNativeAddon().cudaInfo();
          if (info.compiled) process.stderr.write(`jepa: using the CPU backend: ${cudaUnavailableReason()}\n`);
        }
        return model;
      } catch (e) {
        if (!isNativeAddonNotFound(e)) throw e;
        process.stderr.write(
          `jepa: native addon unavailable, using the TypeScript reference backend (slow): ${(e as Error).message.split('\n')[0]}\n`,
        );
        return loadReferenceModel(dir);
      }
    }
  }
}
