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
import { cudaBindings, loadCudaModel, requireCudaDevice } from './cuda-model';
import { loadNativeModel } from './native-model';
import { loadReferenceModel } from './reference';
import type { LoadOptions, WorldModel } from './types';

export type { LoadOptions, WorldModel, RolloutRequest, RolloutResult, RolloutCost, BackendKind } from './types';
export { CancelledError } from './types';
export { CudaDeviceError } from './cuda-model';

let cudaNoticeShown = false;

/** Why the CUDA backend cannot serve this process, or null when it can. */
function cudaUnavailableReason(): string | null {
  try {
    requireCudaDevice(cudaBindings(loadNativeAddon()));
    return null;
  } catch (e) {
    return (e as Error).message.split('\n')[0]!;
  }
}

export async function loadModel(dir: string, options: LoadOptions = {}): Promise<WorldModel> {
  const backend = options.backend ?? 'auto';
  const config = await readCheckpointConfig(dir);
  switch (backend) {
    case 'reference':
      return loadReferenceModel(dir);
    case 'cuda':
      // Throws CudaDeviceError ("no CUDA device: ...") when there is none.
      requireCudaDevice(cudaBindings(loadNativeAddon()));
      return loadCudaModel(dir, config);
    case 'cpu':
      return loadNativeModel(dir, config, { threads: options.threads });
    case 'auto': {
      let addonError: unknown;
      try {
        const why = cudaUnavailableReason();
        if (why === null) return await loadCudaModel(dir, config);
        if (!cudaNoticeShown && loadNativeAddon().cudaInfo().compiled) {
          cudaNoticeShown = true;
          process.stderr.write(`jepa: using the CPU backend (${why})\n`);
        }
        return await loadNativeModel(dir, config, { threads: options.threads });
      } catch (e) {
        if (!isNativeAddonNotFound(e)) throw e;
        addonError = e;
      }
      process.stderr.write(
        `jepa: native addon unavailable, using the TypeScript reference backend (slow): ${(addonError as Error).message.split('\n')[0]}\n`,
      );
      return loadReferenceModel(dir);
    }
  }
}
