/** mulberry32: a small seeded PRNG for tests, so a failing sequence can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `fn`, which must throw, and returns what it threw (to inspect more than the message). */
export function captureError(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to throw');
}

/** Deterministic uniform values in [lo, hi) (mulberry32 on a mixed seed, so nearby seeds give unrelated streams). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const next = seededRandom((Math.imul(seed >>> 0, 0x9e3779b9) ^ 0x85ebca6b) >>> 0);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + next() * (hi - lo);
  return out;
}

/**
 * Worst absolute error relative to the expected output's scale:
 * max_i |got_i - want_i| / (max_i |want_i| + floor); NaN anywhere counts as Infinity.
 */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>, floor = 1e-6): number {
  if (got.length !== want.length) throw new RangeError(`length ${got.length} vs expected ${want.length}`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]!));
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
  }
  return maxDiff / (maxRef + floor);
}
