/**
 * Linear state-space world models fitted in closed form: from transitions
 * (s_t, a_t, s_{t+1}) of proprioceptive state, ridge regression gives
 * s_{t+1} - s_t = W [s_t; a_t] + b, written out as a regular checkpoint
 * (identity mlp encoder on the state vector, residual mlp predictor with no
 * hidden layer, identity proprio head), so it loads and rolls out through
 * the same native path as any learned model. This is system identification,
 * not JEPA training: it serves the state-based tasks and the demo until the
 * pixel models trained by `jepa train` ship.
 */
import { type CheckpointConfig, parseCheckpointConfig } from '../model/config';

export interface Transitions {
  stateDim: number;
  actionDim: number;
  /** [T, stateDim] */
  states: Float64Array;
  /** [T, actionDim] */
  actions: Float64Array;
  /** [T, stateDim] */
  nextStates: Float64Array;
  count: number;
}

export class FitError extends Error {
  override name = 'FitError';
}

/** Solves the symmetric positive definite system A X = B (A m×m, B m×k, row-major; A is overwritten). */
function solveSpdMulti(A: Float64Array, B: Float64Array, m: number, k: number): Float64Array {
  for (let j = 0; j < m; j++) {
    let d = A[j * m + j]!;
    for (let p = 0; p < j; p++) d -= A[j * m + p]! ** 2;
    if (!(d > 0)) throw new FitError('the regression system is not positive definite (collinear or empty data); collect more varied transitions');
    const ljj = Math.sqrt(d);
    A[j * m + j] = ljj;
    for (let i = j + 1; i < m; i++) {
      let s = A[i * m + j]!;
      for (let p = 0; p < j; p++) s -= A[i * m + p]! * A[j * m + p]!;
      A[i * m + j] = s / ljj;
    }
  }
  const X = new Float64Array(m * k);
  for (let c = 0; c < k; c++) {
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = B[i * k + c]!;
      for (let p = 0; p < i; p++) s -= A[i * m + p]! * y[p]!;
      y[i] = s / A[i * m + i]!;
    }
    for (let i = m - 1; i >= 0; i--) {
      let s = y[i]!;
      for (let p = i + 1; p < m; p++) s -= A[p * m + i]! * X[p * k + c]!;
      X[i * k + c] = s / A[i * m + i]!;
    }
  }
  return X;
}

export interface LinearFit {
  /** [stateDim, stateDim + actionDim]: Δs = W [s; a] + b. */
  W: Float64Array;
  b: Float64Array;
  /** Root mean squared one-step error of Δs on the fitted data, per state dim. */
  rmse: Float64Array;
}

/** Ridge regression of Δs on [s; a; 1] (the bias is not regularised). */
export function fitLinearDynamics(data: Transitions, ridge = 1e-6): LinearFit {
  const { stateDim: S, actionDim: A, count: T } = data;
  if (T < S + A + 1) throw new FitError(`need at least ${S + A + 1} transitions to fit ${S}-dim dynamics with ${A} actions, got ${T}`);
  const m = S + A + 1;
  const XtX = new Float64Array(m * m);
  const XtY = new Float64Array(m * S);
  const x = new Float64Array(m);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < S; i++) x[i] = data.states[t * S + i]!;
    for (let j = 0; j < A; j++) x[S + j] = data.actions[t * A + j]!;
    x[m - 1] = 1;
    for (let i = 0; i < m; i++) {
      const xi = x[i]!;
      if (!Number.isFinite(xi)) throw new FitError(`transition ${t} holds a non-finite value`);
      for (let j = 0; j <= i; j++) XtX[i * m + j] += xi * x[j]!;
      for (let c = 0; c < S; c++) XtY[i * S + c] += xi * (data.nextStates[t * S + c]! - data.states[t * S + c]!);
    }
  }
  for (let i = 0; i < m; i++) for (let j = i + 1; j < m; j++) XtX[i * m + j] = XtX[j * m + i]!;
  for (let i = 0; i < m - 1; i++) XtX[i * m + i] += ridge * T;
  const coef = solveSpdMulti(XtX, XtY, m, S); // [m, S]
  const W = new Float64Array(S * (S + A));
  const b = new Float64Array(S);
  for (let c = 0; c < S; c++) {
    for (let i = 0; i < S + A; i++) W[c * (S + A) + i] = coef[i * S + c]!;
    b[c] = coef[(m - 1) * S + c]!;
  }
  const sq = new Float64Array(S);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < S; c++) {
      let pred = b[c]!;
      for (let i = 0; i < S; i++) pred += W[c * (S + A) + i]! * data.states[t * S + i]!;
      for (let j = 0; j < A; j++) pred += W[c * (S + A) + S + j]! * data.actions[t * A + j]!;
      sq[c] += (pred - (data.nextStates[t * S + c]! - data.states[t * S + c]!)) ** 2;
    }
  }
  return { W, b, rmse: sq.map((v) => Math.sqrt(v / T)) };
}

/** The checkpoint (config + tensors) of a fitted linear model. */
export function linearCheckpoint(
  name: string,
  fit: LinearFit,
  dims: { stateDim: number; actionDim: number; low?: number[]; high?: number[]; frameskip: number; stateNames?: string[] },
  metadata: Record<string, unknown>,
): { config: CheckpointConfig; tensors: Map<string, Float32Array> } {
  const S = dims.stateDim;
  const A = dims.actionDim;
  const config = parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name,
    latent: { tokens: 1, dim: S },
    action: { dim: A, ...(dims.low ? { low: dims.low } : {}), ...(dims.high ? { high: dims.high } : {}) },
    frameskip: dims.frameskip,
    encoder: { kind: 'mlp', inputDim: S, hiddenDims: [] },
    predictor: { kind: 'mlp', hiddenDims: [], residual: true },
    proprio: { dim: S, ...(dims.stateNames ? { names: dims.stateNames } : {}) },
    metadata: { kind: 'linear-state-space', ...metadata, rmse: Array.from(fit.rmse) },
  });
  const eye = new Float32Array(S * S);
  for (let i = 0; i < S; i++) eye[i * S + i] = 1;
  const tensors = new Map<string, Float32Array>([
    ['encoder.layers.0.weight', eye],
    ['encoder.layers.0.bias', new Float32Array(S)],
    ['predictor.layers.0.weight', Float32Array.from(fit.W)],
    ['predictor.layers.0.bias', Float32Array.from(fit.b)],
    ['proprio_head.weight', eye.slice()],
    ['proprio_head.bias', new Float32Array(S)],
  ]);
  return { config, tensors };
}
