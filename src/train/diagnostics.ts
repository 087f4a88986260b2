/**
 * Collapse diagnostics of a batch of latents Z [n, D]: per-dimension standard
 * deviation, the covariance matrix, its eigenvalues (cyclic Jacobi, our own
 * symmetric eigensolver) and the effective rank exp(H(p)) with p the
 * eigenvalues normalised to sum 1 (Roy & Vetterli 2007): D for an isotropic
 * cloud, 1 when every latent lies on one line, undefined-free (returns 0) when
 * all latents are identical.
 */

export interface CollapseDiagnostics {
  /** Per-dimension standard deviation (biased, over the n latents). */
  std: Float64Array;
  meanStd: number;
  minStd: number;
  /** Eigenvalues of the covariance, descending. */
  eigenvalues: Float64Array;
  effectiveRank: number;
}

/** Biased covariance [D, D] of Z [n, D] (row-major). */
export function covariance(Z: ArrayLike<number>, n: number, D: number): Float64Array {
  if (Z.length !== n * D) throw new RangeError(`covariance: ${Z.length} values is not ${n}×${D}`);
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += Z[i * D + d]! / n;
  const C = new Float64Array(D * D);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < D; a++) {
      const za = Z[i * D + a]! - mean[a]!;
      for (let b = a; b < D; b++) C[a * D + b] += (za * (Z[i * D + b]! - mean[b]!)) / n;
    }
  }
  for (let a = 0; a < D; a++) for (let b = 0; b < a; b++) C[a * D + b] = C[b * D + a]!;
  return C;
}

/**
 * Eigenvalues of a symmetric matrix A [D, D] by cyclic Jacobi rotations:
 * each rotation zeroes one off-diagonal pair; sweeps repeat until the
 * off-diagonal mass is below 1e-14 of the total (or 100 sweeps). Descending.
 */
export function symmetricEigenvalues(A: ArrayLike<number>, D: number): Float64Array {
  if (A.length !== D * D) throw new RangeError(`symmetricEigenvalues: ${A.length} values is not ${D}×${D}`);
  const a = Float64Array.from(A);
  let total = 0;
  for (let i = 0; i < D * D; i++) total += a[i]! * a[i]!;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < D; p++) for (let q = p + 1; q < D; q++) off += 2 * a[p * D + q]! ** 2;
    if (off <= 1e-28 * total || off === 0) break;
    for (let p = 0; p < D; p++) {
      for (let q = p + 1; q < D; q++) {
        const apq = a[p * D + q]!;
        if (apq === 0) continue;
        const app = a[p * D + p]!;
        const aqq = a[q * D + q]!;
        // tan of the rotation angle, the smaller root (stable form).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < D; k++) {
          const akp = a[k * D + p]!;
          const akq = a[k * D + q]!;
          a[k * D + p] = c * akp - s * akq;
          a[k * D + q] = s * akp + c * akq;
        }
        for (let k = 0; k < D; k++) {
          const apk = a[p * D + k]!;
          const aqk = a[q * D + k]!;
          a[p * D + k] = c * apk - s * aqk;
          a[q * D + k] = s * apk + c * aqk;
        }
      }
    }
  }
  const eig = new Float64Array(D);
  for (let i = 0; i < D; i++) eig[i] = a[i * D + i]!;
  return eig.sort().reverse();
}

/** exp(entropy) of the non-negative eigenvalues normalised to sum 1; 0 when they are all 0. */
export function effectiveRank(eigenvalues: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < eigenvalues.length; i++) sum += Math.max(0, eigenvalues[i]!);
  if (!(sum > 0)) return 0;
  let h = 0;
  for (let i = 0; i < eigenvalues.length; i++) {
    const p = Math.max(0, eigenvalues[i]!) / sum;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.exp(h);
}

export function collapseDiagnostics(Z: ArrayLike<number>, n: number, D: number): CollapseDiagnostics {
  const C = covariance(Z, n, D);
  const std = new Float64Array(D);
  for (let d = 0; d < D; d++) std[d] = Math.sqrt(Math.max(0, C[d * D + d]!));
  const eigenvalues = symmetricEigenvalues(C, D);
  return {
    std,
    meanStd: std.reduce((s, v) => s + v, 0) / D,
    minStd: std.reduce((m, v) => Math.min(m, v), Infinity),
    eigenvalues,
    effectiveRank: effectiveRank(eigenvalues),
  };
}
