/**
 * Shared by the training tests: deterministic random arrays, the error metric
 * (max |got - want| / (max |want| + 1e-12): the worst error relative to the
 * gradient's scale), and central finite differences of a scalar function.
 */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = (Math.imul(seed >>> 0, 0x9e3779b9) ^ 0x2545f491) >>> 0;
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

export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new RangeError(`length ${got.length} vs expected ${want.length}`);
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < want.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(want[i]!));
    const d = Math.abs(got[i]! - want[i]!);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
  }
  return maxDiff / (maxRef + 1e-12);
}

/** Σ g_i · y_i: turns an op's output into a scalar loss with upstream gradient g. */
export function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += g[i]! * y[i]!;
  return s;
}

/** Central finite-difference gradient of f with respect to every element of x (x is perturbed in place and restored). */
export function numericGrad(x: Float64Array, f: () => number, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const up = f();
    x[i] = x0 - h;
    const down = f();
    x[i] = x0;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}
