/**
 * Small vectorised kernels the sampling planners run every iteration:
 * selection of the k lowest energies (quickselect, O(N), no allocation) and
 * the receding-horizon shift of an [H, A] plan.
 */

/**
 * Reorders idx[0..n) so that idx[0..k) hold the indices of the k smallest
 * keys (in no particular order). Deterministic for given inputs.
 */
export function selectSmallest(idx: Int32Array, keys: Float64Array, n: number, k: number): void {
  if (k <= 0 || k >= n) return;
  let lo = 0;
  let hi = n - 1;
  const target = k - 1;
  while (hi > lo) {
    // Median of three as pivot.
    const mid = (lo + hi) >>> 1;
    const a = keys[idx[lo]];
    const b = keys[idx[mid]];
    const c = keys[idx[hi]];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (keys[idx[i]] < pivot) i++;
      while (keys[idx[j]] > pivot) j--;
      if (i <= j) {
        const t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return;
  }
}

/**
 * Shifts a plan [H, A] left by k steps: out[t] = plan[t + k]; the last k rows
 * are filled with plan's last row ('last') or zeros ('zero').
 */
export function shiftPlan(plan: Float32Array, H: number, A: number, k: number, pad: 'last' | 'zero'): Float32Array {
  const out = new Float32Array(H * A);
  const keep = Math.max(0, H - k);
  out.set(plan.subarray(k * A, (k + keep) * A), 0);
  if (pad === 'last') {
    const last = plan.subarray((H - 1) * A, H * A);
    for (let t = keep; t < H; t++) out.set(last, t * A);
  }
  return out;
}
