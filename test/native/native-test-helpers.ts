/**
 * Shared by the native parity suites: whether the addon is built (suites skip
 * with a printed reason when it is not), the error metric, and small random
 * inputs. Metric: max_i |native_i - ref_i| / (max_i |ref_i| + 1e-6), i.e. the
 * worst absolute error relative to the output's scale.
 */
import { loadNativeAddon, nativeAvailable } from '../../src/addon/native';
import type { NativeAddon } from '../../src/addon/native';

export { randomArray, relErr } from '../helpers/random';

export const addonBuilt = nativeAvailable();
if (!addonBuilt) {
  console.warn('native tests skipped: build/Release/jepa_native.node is not built (run `npm run build:addon`)');
}

export function addon(): NativeAddon {
  return loadNativeAddon();
}


