/**
 * The one interface between TypeScript and the model backends: the native
 * addon (CPU, later CUDA) and the float64 TypeScript reference, which is also
 * the mock the planner tests run on. Everything above src/addon/ talks to a
 * `WorldModel` and never knows which backend it has.
 *
 * Rollout energy, for sample n with predicted latents z_1..z_H (z_t after
 * applying a_{t-1}; actions a_0..a_{H-1}) and goal g, dist = mean over the
 * latentSize elements of |z - g| ('l1') or (z - g)^2 ('l2'):
 *
 *   E_n = runningWeight  * sum_{t=1..H} dist(z_t, g)
 *       + terminalWeight * dist(z_H, g)
 *       + actionMagnitudeWeight * sum_t mean_j a_t[j]^2
 *       + actionRateWeight      * sum_{t} mean_j (a_t[j] - a_{t-1}[j])^2
 *           (a_{-1} = previousAction when given; else the t = 0 term is omitted)
 *       + boundsWeight * sum_t sum_j (relu(a_t[j] - high[j]) + relu(low[j] - a_t[j]))^2
 *           (only when actionBounds is given)
 *
 * An optional weight that is absent counts as 0 (so actionBounds without
 * boundsWeight adds nothing).
 *
 * Sums are accumulated in at least float32 by native backends, float64 by the
 * reference; energies are returned as float32.
 */
import type { CheckpointConfig, ModelDims } from '../model/config';

export type BackendRequest = 'auto' | 'cpu' | 'cuda' | 'reference';
export type BackendKind = 'cpu' | 'cuda' | 'reference';

export interface LoadOptions {
  backend?: BackendRequest;
  /** CPU worker threads; default: the machine's cores. */
  threads?: number;
}

export interface RolloutCost {
  metric: 'l1' | 'l2';
  terminalWeight: number;
  runningWeight: number;
  actionMagnitudeWeight?: number;
  actionRateWeight?: number;
  /** [A] action applied just before this plan, for the rate term at t = 0. */
  previousAction?: Float32Array;
  actionBounds?: { low: Float32Array; high: Float32Array };
  boundsWeight?: number;
}

export interface RolloutRequest {
  /**
   * Latent history for one start state, oldest first: [F, latentSize] with
   * 1 <= F <= historyLength (F = 1 for mlp predictors).
   */
  z0: Float32Array;
  /** Actions that led between the history frames: [F - 1, A]; zeros when omitted. */
  actionHistory?: Float32Array;
  /** Candidate sequences, [N, H, A] row-major. */
  actions: Float32Array;
  /** H; N = actions.length / (H * A). */
  horizon: number;
  /** One goal latent [latentSize]. */
  goal: Float32Array;
  cost: RolloutCost;
  /** Return z_H for every sample: [N, latentSize]. */
  returnFinalLatents?: boolean;
  /** Return every predicted latent: [N, H, latentSize]. */
  returnTrajectory?: boolean;
  /** Return proprio_head(z_t) for every step: [N, H, proprioDim] (needs a proprio head). */
  returnProprio?: boolean;
  signal?: AbortSignal;
}

export interface RolloutResult {
  energies: Float32Array;
  finalLatents?: Float32Array;
  trajectory?: Float32Array;
  proprio?: Float32Array;
}

export interface EncodeOptions {
  signal?: AbortSignal;
}

export interface WorldModel {
  readonly config: CheckpointConfig;
  readonly dims: ModelDims;
  readonly backend: BackendKind;
  /**
   * frames: [count, C, H, W] in [0, 1] for image encoders, [count, inputDim]
   * for mlp encoders; normalisation from the config is applied by the backend.
   * Returns latents [count, latentSize].
   */
  encode(frames: Float32Array, count: number, options?: EncodeOptions): Promise<Float32Array>;
  rollout(request: RolloutRequest): Promise<RolloutResult>;
  /** proprio_head applied to latents [count, latentSize] → [count, proprioDim]. */
  decodeProprio(latents: Float32Array, count: number): Promise<Float32Array>;
  /** Releases native memory; later calls throw. */
  dispose(): void;
}

/** A heavy call cancelled through its AbortSignal. */
export class CancelledError extends Error {
  override name = 'CancelledError';
  constructor(what: string) {
    super(`${what} was cancelled`);
  }
}
