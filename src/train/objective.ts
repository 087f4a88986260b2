/**
 * The JEPA training objective on latents, each term returning its value and
 * its gradient with respect to the latents it reads (float64 sums over
 * Float32Array batches):
 *
 *   prediction   mean squared error between predicted and target latents; the
 *                target is a constant (stop-gradient), so only the prediction
 *                receives a gradient. Used for teacher forcing (predict z_{t+1}
 *                from the encoded z_t) and for the k-step rollout (predict
 *                z_{t+j} from the predictor's own ẑ_{t+j-1}).
 *   VICReg       variance: mean_d max(0, γ - sqrt(Var_d + ε)) with the unbiased
 *                per-dimension variance over the batch; covariance: the sum of
 *                squared off-diagonal entries of the unbiased covariance,
 *                divided by D (Bardes, Ponce & LeCun 2022).
 *   SIGReg       pushes the batch toward an isotropic standard Gaussian through
 *                M random unit directions u (redrawn every call from a seeded
 *                generator). For each projection s_b = z_b·u it compares the
 *                empirical characteristic function φ̂(t) = mean_b e^{i t s_b}
 *                with the N(0,1) one, e^{-t²/2}, by the weighted L2 distance
 *                (the Epps–Pulley statistic)
 *                  T(u) = ∫ e^{-t²/2} |φ̂(t) - e^{-t²/2}|² dt
 *                     = ∫ e^{-t²/2} [(mean cos(t s) - e^{-t²/2})² + (mean sin(t s))²] dt
 *                evaluated by the trapezoid rule on K points of [-tMax, tMax]
 *                (the integrand is even, so on [0, tMax] doubled). The loss is
 *                mean_u T(u). It is zero in expectation only when every 1-D
 *                projection is N(0,1), so it penalises both a shrinking and a
 *                low-rank (collapsed) latent distribution.
 *
 * Schemas for the objective's options are here; the trainer that composes
 * them with the model graph is ./jepa.
 */
import { z } from 'zod';
import { Xoshiro128 } from '../model/checkpoint';

export interface TermResult {
  loss: number;
  /** dLoss/dInput, same layout as the input. */
  grad: Float32Array;
}

export const vicregSchema = z.strictObject({
  kind: z.literal('vicreg'),
  varianceWeight: z.number().min(0).default(1),
  covarianceWeight: z.number().min(0).default(0.04),
  /** γ: the per-dimension standard deviation the hinge asks for. */
  stdTarget: z.number().positive().default(1),
  eps: z.number().positive().default(1e-4),
});
export const sigregSchema = z.strictObject({
  kind: z.literal('sigreg'),
  weight: z.number().min(0).default(1),
  projections: z.number().int().positive().default(32),
  tMax: z.number().positive().default(4),
  points: z.number().int().min(3).default(17),
  seed: z.number().int().default(0),
});
export const regularizerSchema = z.discriminatedUnion('kind', [z.strictObject({ kind: z.literal('none') }), vicregSchema, sigregSchema]);
export type RegularizerOptions = z.infer<typeof regularizerSchema>;

/** mean over all elements of (pred - target)²; gradient with respect to pred only. */
export function mseLoss(pred: ArrayLike<number>, target: ArrayLike<number>): TermResult {
  if (pred.length !== target.length) throw new RangeError(`mseLoss: prediction has ${pred.length} values, target ${target.length}`);
  const n = pred.length;
  const grad = new Float32Array(n);
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const d = pred[i]! - target[i]!;
    loss += d * d;
    grad[i] = (2 * d) / n;
  }
  return { loss: loss / n, grad };
}

function centred(Z: ArrayLike<number>, n: number, D: number): Float64Array {
  if (Z.length !== n * D) throw new RangeError(`latents hold ${Z.length} values, expected ${n}×${D}`);
  if (n < 2) throw new RangeError('the variance and covariance terms need a batch of at least 2 latents');
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += Z[i * D + d]! / n;
  const c = new Float64Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) c[i * D + d] = Z[i * D + d]! - mean[d]!;
  return c;
}

/** VICReg variance term: mean_d relu(γ - sqrt(Var_d + ε)), unbiased variance over n latents. */
export function varianceLoss(Z: ArrayLike<number>, n: number, D: number, gamma: number, eps: number): TermResult {
  const c = centred(Z, n, D);
  const grad = new Float32Array(n * D);
  let loss = 0;
  for (let d = 0; d < D; d++) {
    let v = 0;
    for (let i = 0; i < n; i++) v += c[i * D + d]! ** 2;
    v /= n - 1;
    const std = Math.sqrt(v + eps);
    if (std < gamma) {
      loss += (gamma - std) / D;
      // d(-std)/dz_id = -(z_id - mean_d) / ((n - 1)·std); centring has zero net effect.
      for (let i = 0; i < n; i++) grad[i * D + d] = -c[i * D + d]! / ((n - 1) * std * D);
    }
  }
  return { loss, grad };
}

/** VICReg covariance term: Σ_{a≠b} C_ab² / D with the unbiased covariance C of n latents. */
export function covarianceLoss(Z: ArrayLike<number>, n: number, D: number): TermResult {
  const c = centred(Z, n, D);
  const C = new Float64Array(D * D);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < D; a++) {
      const ca = c[i * D + a]!;
      for (let b = 0; b < D; b++) C[a * D + b] += (ca * c[i * D + b]!) / (n - 1);
    }
  let loss = 0;
  for (let a = 0; a < D; a++) {
    C[a * D + a] = 0;
    for (let b = 0; b < D; b++) loss += C[a * D + b]! ** 2;
  }
  loss /= D;
  // dL/dz_i = 4/(D(n-1)) · C_off z̃_i (C_off symmetric; z̃ centred, so centring adds nothing).
  const grad = new Float32Array(n * D);
  const scale = 4 / (D * (n - 1));
  for (let i = 0; i < n; i++)
    for (let a = 0; a < D; a++) {
      let s = 0;
      for (let b = 0; b < D; b++) s += C[a * D + b]! * c[i * D + b]!;
      grad[i * D + a] = scale * s;
    }
  return { loss, grad };
}

/** Random unit directions [M, D] from a seed (Gaussian, normalised). */
export function randomDirections(M: number, D: number, seed: number): Float64Array {
  const rng = new Xoshiro128(seed);
  const u = new Float64Array(M * D);
  for (let m = 0; m < M; m++) {
    let norm = 0;
    for (let d = 0; d < D; d++) {
      const v = rng.normal();
      u[m * D + d] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let d = 0; d < D; d++) u[m * D + d]! /= norm;
  }
  return u;
}

/** SIGReg (Epps–Pulley statistic on random projections, see the module comment) and its gradient. */
export function sigregLoss(
  Z: ArrayLike<number>,
  n: number,
  D: number,
  directions: Float64Array,
  tMax: number,
  points: number,
): TermResult {
  if (Z.length !== n * D) throw new RangeError(`sigregLoss: latents hold ${Z.length} values, expected ${n}×${D}`);
  const M = directions.length / D;
  // Trapezoid nodes on [0, tMax], doubled for the even integrand, times the weight e^{-t²/2}.
  const t = new Float64Array(points);
  const w = new Float64Array(points);
  const target = new Float64Array(points);
  const dt = tMax / (points - 1);
  for (let k = 0; k < points; k++) {
    t[k] = k * dt;
    target[k] = Math.exp(-0.5 * t[k]! * t[k]!);
    w[k] = 2 * dt * (k === 0 || k === points - 1 ? 0.5 : 1) * target[k]!;
  }
  const grad = new Float64Array(n * D);
  const s = new Float64Array(n);
  const ds = new Float64Array(n);
  let loss = 0;
  for (let m = 0; m < M; m++) {
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (let d = 0; d < D; d++) v += Z[i * D + d]! * directions[m * D + d]!;
      s[i] = v;
    }
    ds.fill(0);
    for (let k = 0; k < points; k++) {
      let cs = 0;
      let sn = 0;
      for (let i = 0; i < n; i++) {
        cs += Math.cos(t[k]! * s[i]!);
        sn += Math.sin(t[k]! * s[i]!);
      }
      cs /= n;
      sn /= n;
      const ec = cs - target[k]!;
      loss += (w[k]! * (ec * ec + sn * sn)) / M;
      // d/ds_i: 2·ec·(-t sin(t s_i)/n) + 2·sn·(t cos(t s_i)/n)
      const a = (2 * w[k]! * t[k]!) / (n * M);
      for (let i = 0; i < n; i++) ds[i] += a * (sn * Math.cos(t[k]! * s[i]!) - ec * Math.sin(t[k]! * s[i]!));
    }
    for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) grad[i * D + d] += ds[i]! * directions[m * D + d]!;
  }
  return { loss, grad: Float32Array.from(grad) };
}

/** Adds b into a in place (gradients of several terms on the same latents). */
export function addInto(a: Float32Array, b: ArrayLike<number>, scale = 1): void {
  for (let i = 0; i < a.length; i++) a[i] += scale * b[i]!;
}
