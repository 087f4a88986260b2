/**
 * Shared by the native parity suites: whether the addon is built (suites skip
 * with a printed reason when it is not), the error metric, and small random
 * inputs. Metric: max_i |native_i - ref_i| / (max_i |ref_i| + 1e-6), i.e. the
 * worst absolute error relative to the output's scale.
 */
import { loadNativeAddon, nativeAvailable } from '../../src/addon/native';
import type { NativeAddon } from '../../src/addon/native';

export const addonBuilt = nativeAvailable();
if (!addonBuilt) {
  console.warn('native tests skipped: build/Release/jepa_native.node is not built (run `npm run build:addon`)');
}

export function addon(): NativeAddon {
  return loadNativeAddon();
}

export function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (got.length !== ref.length) throw new RangeError(`length ${got.length} vs reference ${ref.length}`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < ref.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
    const d = Math.abs(got[i]! - ref[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
  }
  return maxDiff / (maxRef + 1e-6);
}

/** Deterministic uniform values in [lo, hi) (mulberry32; nearby seeds give unrelated streams). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (Math.imul(seed >>> 0, 0x9e3779b9) ^ 0x85ebca6b) >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = lo + u * (hi - lo);
  }
  return out;
}
