/**
 * Test models for the planner: exactly linear reference models
 * (mlp predictor, no hidden layers, residual: z' = z + W[z; a] + b) built
 * from a config and hand-made tensors, and the closed-form optimum of a
 * quadratic rollout energy on them (the oracle CEM and MPPI must reach).
 */
import { createReferenceModel } from '../../src/addon/reference';
import type { WorldModel } from '../../src/addon/types';
import { type CheckpointConfig, parseCheckpointConfig } from '../../src/model/config';

export interface LinearSpec {
  L: number;
  A: number;
  /** Wz [L, L] (row-major, out × in). */
  Wz: number[];
  /** Wa [L, A]. */
  Wa: number[];
  b: number[];
  /** Proprio head [P, L] and bias, when wanted. */
  proprio?: { W: number[]; b: number[]; P: number };
  low?: number[];
  high?: number[];
}

export function linearConfig(spec: LinearSpec, name = 'linear-test'): CheckpointConfig {
  return parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name,
    latent: { tokens: 1, dim: spec.L },
    action: { dim: spec.A, ...(spec.low ? { low: spec.low, high: spec.high } : {}) },
    encoder: { kind: 'mlp', inputDim: spec.L, hiddenDims: [] },
    predictor: { kind: 'mlp', hiddenDims: [], residual: true },
    ...(spec.proprio ? { proprio: { dim: spec.proprio.P } } : {}),
  });
}

export function linearModel(spec: LinearSpec): WorldModel {
  const { L, A } = spec;
  const W = new Float32Array(L * (L + A));
  for (let r = 0; r < L; r++) {
    for (let c = 0; c < L; c++) W[r * (L + A) + c] = spec.Wz[r * L + c];
    for (let c = 0; c < A; c++) W[r * (L + A) + L + c] = spec.Wa[r * A + c];
  }
  const eye = new Float32Array(L * L);
  for (let i = 0; i < L; i++) eye[i * L + i] = 1;
  const tensors = new Map<string, Float32Array>([
    ['encoder.layers.0.weight', eye],
    ['encoder.layers.0.bias', new Float32Array(L)],
    ['predictor.layers.0.weight', W],
    ['predictor.layers.0.bias', Float32Array.from(spec.b)],
  ]);
  if (spec.proprio) {
    tensors.set('proprio_head.weight', Float32Array.from(spec.proprio.W));
    tensors.set('proprio_head.bias', Float32Array.from(spec.proprio.b));
  }
  return createReferenceModel(linearConfig(spec), tensors);
}

/** A 2-D point mass: latent = position, z' = z + scale · a, proprio = position. */
export function pointMass(scale: number, bounds?: number): WorldModel {
  return linearModel({
    L: 2,
    A: 2,
    Wz: [0, 0, 0, 0],
    Wa: [scale, 0, 0, scale],
    b: [0, 0],
    proprio: { P: 2, W: [1, 0, 0, 1], b: [0, 0] },
    ...(bounds !== undefined ? { low: [-bounds, -bounds], high: [bounds, bounds] } : {}),
  });
}

/**
 * Minimiser over a [H·A] of
 *   running/L · sum_t |z_t - g|² + terminal/L · |z_H - g|² + magnitude/A · |a|²
 * for z_{t+1} = M z_t + B a_t + b, M = I + Wz, B = Wa — solved exactly by
 * the normal equations in float64. Returns the actions and the energy.
 */
export function linearQuadraticOptimum(
  spec: LinearSpec,
  z0: number[],
  goal: number[],
  H: number,
  w: { terminal: number; running: number; magnitude: number },
): { actions: Float64Array; energy: number } {
  const { L, A } = spec;
  const D = H * A;
  const M = (r: number, c: number) => (r === c ? 1 : 0) + spec.Wz[r * L + c];
  // z_t = c_t + G_t a, built step by step.
  let c = Float64Array.from(z0);
  let G = new Float64Array(L * D); // [L, D]
  const rows: { G: Float64Array; c: Float64Array; weight: number }[] = [];
  for (let t = 0; t < H; t++) {
    const cNext = new Float64Array(L);
    const GNext = new Float64Array(L * D);
    for (let r = 0; r < L; r++) {
      let s = spec.b[r];
      for (let k = 0; k < L; k++) s += M(r, k) * c[k];
      cNext[r] = s;
      for (let d = 0; d < D; d++) {
        let g = 0;
        for (let k = 0; k < L; k++) g += M(r, k) * G[k * D + d];
        GNext[r * D + d] = g;
      }
      for (let j = 0; j < A; j++) GNext[r * D + t * A + j] += spec.Wa[r * A + j];
    }
    c = cNext;
    G = GNext;
    const weight = w.running / L + (t === H - 1 ? w.terminal / L : 0);
    if (weight > 0) rows.push({ G, c: c.map((v, r) => v - goal[r]), weight });
  }
  // Normal equations: (sum_w G^T G + mag/A I) a = -sum_w G^T c.
  const Q = new Float64Array(D * D);
  const rhs = new Float64Array(D);
  for (const { G: g, c: cc, weight } of rows) {
    for (let i = 0; i < D; i++) {
      for (let r = 0; r < L; r++) rhs[i] -= weight * g[r * D + i] * cc[r];
      for (let j = 0; j < D; j++) {
        let s = 0;
        for (let r = 0; r < L; r++) s += g[r * D + i] * g[r * D + j];
        Q[i * D + j] += weight * s;
      }
    }
  }
  for (let i = 0; i < D; i++) Q[i * D + i] += w.magnitude / A;
  const a = solve(Q, rhs, D);
  let energy = 0;
  for (const { G: g, c: cc, weight } of rows) {
    for (let r = 0; r < L; r++) {
      let v = cc[r];
      for (let d = 0; d < D; d++) v += g[r * D + d] * a[d];
      energy += weight * v * v;
    }
  }
  for (let d = 0; d < D; d++) energy += (w.magnitude / A) * a[d] * a[d];
  return { actions: a, energy };
}

/** Gaussian elimination with partial pivoting (float64). */
function solve(Qin: Float64Array, bin: Float64Array, n: number): Float64Array {
  const Q = Qin.slice();
  const b = bin.slice();
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(Q[r * n + col]) > Math.abs(Q[piv * n + col])) piv = r;
    if (piv !== col) {
      for (let k = 0; k < n; k++) [Q[col * n + k], Q[piv * n + k]] = [Q[piv * n + k], Q[col * n + k]];
      [b[col], b[piv]] = [b[piv], b[col]];
    }
    for (let r = col + 1; r < n; r++) {
      const f = Q[r * n + col] / Q[col * n + col];
      for (let k = col; k < n; k++) Q[r * n + k] -= f * Q[col * n + k];
      b[r] -= f * b[col];
    }
  }
  const x = new Float64Array(n);
  for (let r = n - 1; r >= 0; r--) {
    let s = b[r];
    for (let k = r + 1; k < n; k++) s -= Q[r * n + k] * x[k];
    x[r] = s / Q[r * n + r];
  }
  return x;
}
