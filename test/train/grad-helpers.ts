/**
 * Shared by the training tests: deterministic random arrays, the error metric
 * (max |got - want| / (max |want| + 1e-12): the worst error relative to the
 * gradient's scale), and central finite differences of a scalar function.
 */

import { relErr as relErrWithFloor } from '../helpers/random';

export { randomArray } from '../helpers/random';

/** Worst error relative to the gradient's scale (floor 1e-12: gradients can be tiny). */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  return relErrWithFloor(got, want, 1e-12);
}

/** Σ g_i · y_i: turns an op's output into a scalar loss with upstream gradient g. */
export function dot(g: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += g[i]! * y[i]!;
  return s;
}

/**
 * Central finite-difference gradient of f with respect to the first `count` elements of x (all by
 * default; x is perturbed in place and restored).
 */
export function numericGrad(x: Float64Array | Float32Array, f: () => number, h = 1e-5, count = x.length): Float64Array {
  const g = new Float64Array(count);
  for (let i = 0; i < count; i++) {
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
