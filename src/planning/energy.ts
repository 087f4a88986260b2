/**
 * Energy of a candidate action sequence, as composable weighted terms.
 *
 * Two kinds of term:
 *  - terms the backend evaluates natively inside the one rollout call
 *    (latent distance to the goal, l1/l2, terminal and running; action
 *    magnitude; action rate; action-bound violation) — declared by
 *    `energySpecSchema` and turned into the addon's `RolloutCost`;
 *  - `BatchEnergyTerm`s the backend cannot evaluate (proprio / pose targets on
 *    the predicted proprio [N, H, P], guardrail barriers from src/safety, ...),
 *    each evaluated in one vectorised pass over the whole batch per iteration.
 *
 * Total energy of sample n: E_n = rolloutEnergy_n + sum_k weight_k * term_k(batch)[n].
 * The guardrail terms are supplied by the runtime (which wires src/safety in);
 * this module only defines their structural shape and never imports safety.
 */
import { z } from 'zod';
import type { RolloutCost } from '../addon/types';
import type { ModelDims } from '../model/config';
import { EnergyTermError, PlanConfigError } from './errors';
import type { PlanGoal, PlanState } from './types';

const weight = z.number().finite().nonnegative();
const metric = z.enum(['l1', 'l2']);

export const energySpecSchema = z
  .strictObject({
    /** Latent distance metric: mean |z - g| ('l1') or mean (z - g)^2 ('l2'). */
    metric: metric.default('l2'),
    /** Weight of dist(z_H, g). */
    terminalWeight: weight.default(1),
    /** Weight of sum_t dist(z_t, g). */
    runningWeight: weight.default(0),
    /** Weight of sum_t mean_j a_t[j]^2. */
    actionMagnitudeWeight: weight.default(0),
    /** Weight of sum_t mean_j (a_t[j] - a_{t-1}[j])^2 (t = 0 uses state.previousAction when given). */
    actionRateWeight: weight.default(0),
    /**
     * Action bounds: sampling respects them (clip or truncated sampling) and,
     * with weight > 0, the rollout adds weight * squared violation. When
     * absent, the model config's action.low/high are used if present.
     */
    bounds: z
      .strictObject({ low: z.array(z.number().finite()).min(1), high: z.array(z.number().finite()).min(1), weight: weight.default(0) })
      .refine((b) => b.low.length === b.high.length && b.low.every((lo, i) => lo < b.high[i]), {
        message: 'low and high must have the same length and low[j] < high[j] for every j',
      })
      .optional(),
    /** How goal.proprio (when a goal has one) is scored on the predicted proprio. */
    proprioGoal: z
      .strictObject({ metric: metric.default('l2'), terminalWeight: weight.default(1), runningWeight: weight.default(0) })
      .default({ metric: 'l2', terminalWeight: 1, runningWeight: 0 }),
  })
  .default({
    metric: 'l2',
    terminalWeight: 1,
    runningWeight: 0,
    actionMagnitudeWeight: 0,
    actionRateWeight: 0,
    proprioGoal: { metric: 'l2', terminalWeight: 1, runningWeight: 0 },
  });
export type EnergySpecInput = z.input<typeof energySpecSchema>;
export type EnergySpec = z.output<typeof energySpecSchema>;

/** What a batch term sees: one iteration's whole batch of samples and predictions. */
export interface EnergyBatch {
  /** Samples, horizon, action dim. */
  N: number;
  H: number;
  A: number;
  /** Candidate sequences [N, H, A]. */
  actions: Float32Array;
  /** Predicted proprio [N, H, P] (present when some term needs it). */
  proprio?: Float32Array;
  proprioDim: number;
  /** Predicted latents [N, H, L] (present when some term needs it). */
  trajectory?: Float32Array;
  latentSize: number;
  goal: PlanGoal;
  state: PlanState;
}

/**
 * An energy term evaluated in batch on the rollout's outputs. `evaluate`
 * returns one unweighted value per sample (length N; +Infinity allowed for a
 * hard barrier, NaN is an error); the planner multiplies by `weight`.
 */
export interface BatchEnergyTerm {
  readonly name: string;
  readonly weight: number;
  /** proprio / trajectory: ask the rollout for them. goalPose: this term scores goal.pose. */
  readonly needs: { readonly proprio?: boolean; readonly trajectory?: boolean; readonly goalPose?: boolean };
  evaluate(batch: EnergyBatch): Float64Array;
}

/** Checks the structural shape of batch terms against the model, once, at planner construction. */
export function checkTerms(terms: readonly BatchEnergyTerm[], dims: ModelDims): void {
  const names = new Set<string>();
  terms.forEach((term, i) => {
    const where = `terms[${i}]`;
    if (term === null || typeof term !== 'object') throw new PlanConfigError('energy terms', [`${where}: must be an object, got ${String(term)}`]);
    if (typeof term.name !== 'string' || term.name.length === 0) throw new PlanConfigError('energy terms', [`${where}.name: must be a non-empty string`]);
    if (names.has(term.name)) throw new PlanConfigError('energy terms', [`${where}.name: '${term.name}' is used twice; term names must be unique`]);
    names.add(term.name);
    if (typeof term.weight !== 'number' || !Number.isFinite(term.weight) || term.weight < 0) {
      throw new PlanConfigError('energy terms', [`${where}.weight: term '${term.name}' needs a finite weight >= 0, got ${String(term.weight)}`]);
    }
    if (typeof term.evaluate !== 'function') throw new PlanConfigError('energy terms', [`${where}.evaluate: term '${term.name}' has no evaluate(batch) function`]);
    if (term.needs === null || typeof term.needs !== 'object') throw new PlanConfigError('energy terms', [`${where}.needs: must be {proprio?, trajectory?}`]);
    if (term.needs.proprio && dims.proprioDim <= 0) {
      throw new PlanConfigError('energy terms', [
        `${where}.needs.proprio: term '${term.name}' reads predicted proprio but the model has no proprio head; load a model with one or drop the term`,
      ]);
    }
  });
}

/** Sample-steps (N × H) one batch-term call covers before the planner may yield to the event loop. */
const CHUNK_SAMPLE_STEPS = 2048;
/** Time a run of chunks may take before the planner yields to the event loop. */
const YIELD_AFTER_ms = 4;

function checkValues(term: BatchEnergyTerm, values: Float64Array, n: number, offset: number): void {
  if (!(values instanceof Float64Array) || values.length !== n) {
    throw new EnergyTermError(term.name, `evaluate() must return a Float64Array of length N = ${n}, got ${(values as unknown as object)?.constructor?.name} of length ${(values as unknown as { length?: number })?.length}`);
  }
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (Number.isNaN(v) || v === Number.NEGATIVE_INFINITY) {
      throw new EnergyTermError(term.name, `value for sample ${offset + i} is ${v}; a term must return finite values or +Infinity`);
    }
  }
}

/**
 * Adds weight * term(batch) into `energies` for every term, checking each
 * term's output (length N, no NaN, no -Infinity). Terms are per-sample, so a
 * large batch is handed to them in slices of samples, and the planner yields
 * to the event loop between slices once a few milliseconds have passed: a
 * costly term (forward kinematics per predicted state) cannot stall timers,
 * watchdogs or I/O for the length of a whole iteration.
 */
export async function addBatchTerms(energies: Float64Array, terms: readonly BatchEnergyTerm[], batch: EnergyBatch): Promise<void> {
  const { N, H, A } = batch;
  const P = batch.proprioDim;
  const L = batch.latentSize;
  const chunk = Math.max(1, Math.floor(CHUNK_SAMPLE_STEPS / Math.max(1, H)));
  let since = performance.now();
  for (const term of terms) {
    if (term.weight === 0) continue;
    const w = term.weight;
    if (chunk >= N) {
      const values = term.evaluate(batch);
      checkValues(term, values, N, 0);
      for (let n = 0; n < N; n++) energies[n] += w * values[n]!;
      continue;
    }
    for (let s0 = 0; s0 < N; s0 += chunk) {
      const s1 = Math.min(N, s0 + chunk);
      const n = s1 - s0;
      const slice: EnergyBatch = {
        ...batch,
        N: n,
        actions: batch.actions.subarray(s0 * H * A, s1 * H * A),
        ...(batch.proprio ? { proprio: batch.proprio.subarray(s0 * H * P, s1 * H * P) } : {}),
        ...(batch.trajectory ? { trajectory: batch.trajectory.subarray(s0 * H * L, s1 * H * L) } : {}),
      };
      const values = term.evaluate(slice);
      checkValues(term, values, n, s0);
      for (let i = 0; i < n; i++) energies[s0 + i] += w * values[i]!;
      if (performance.now() - since > YIELD_AFTER_ms) {
        await new Promise((r) => setImmediate(r));
        since = performance.now();
      }
    }
  }
}

/**
 * The built-in term that scores predicted proprio against goal.proprio:
 * running * sum_t d(p_t) + terminal * d(p_H), where d is the weighted mean of
 * |p - target| ('l1') or (p - target)^2 ('l2') over proprio dims.
 */
export function proprioGoalTerm(spec: EnergySpec['proprioGoal']): BatchEnergyTerm {
  return {
    name: 'proprioGoal',
    weight: 1,
    needs: { proprio: true },
    evaluate(batch: EnergyBatch): Float64Array {
      const { N, H, proprioDim: P } = batch;
      const out = new Float64Array(N);
      const proprio = batch.proprio;
      const target = batch.goal.proprio?.target;
      if (!proprio || !target) return out;
      const weights = batch.goal.proprio?.weights;
      let wsum = 0;
      for (let j = 0; j < P; j++) wsum += weights ? weights[j] : 1;
      if (wsum <= 0) return out;
      const l1 = spec.metric === 'l1';
      for (let n = 0; n < N; n++) {
        let total = 0;
        for (let t = 0; t < H; t++) {
          const base = (n * H + t) * P;
          let d = 0;
          for (let j = 0; j < P; j++) {
            const e = proprio[base + j] - target[j];
            d += (weights ? weights[j] : 1) * (l1 ? Math.abs(e) : e * e);
          }
          d /= wsum;
          total += spec.runningWeight * d;
          if (t === H - 1) total += spec.terminalWeight * d;
        }
        out[n] = total;
      }
      return out;
    },
  };
}

/**
 * Batched forward kinematics supplied by the caller (src/robot via the
 * runtime): proprio rows [count, P] → end-effector poses [count, 7] as
 * (x, y, z, qw, qx, qy, qz), or [count, 3] positions only. Called once per
 * iteration with every predicted state the term needs.
 */
export type BatchForwardKinematics = (proprio: Float32Array, count: number, proprioDim: number) => Float64Array;

export interface PoseGoalTermOptions {
  fk: BatchForwardKinematics;
  /** Values per pose fk returns: 3 (position) or 7 (position + quaternion wxyz). */
  fkWidth: 3 | 7;
  positionWeight?: number;
  /** Weight of the orientation error 1 - |<q, q_goal>| (needs fkWidth 7 and goal.pose.orientation_wxyz). */
  orientationWeight?: number;
  /** Score every step (running) or only the last (terminal, default). */
  running?: boolean;
  weight?: number;
}

/**
 * The term that scores goal.pose on predicted proprio through caller-supplied
 * forward kinematics: positionWeight * |p - p_goal|^2 + orientationWeight *
 * (1 - |<q, q_goal>|), at the last step (or summed over steps with running).
 */
export function poseGoalTerm(options: PoseGoalTermOptions): BatchEnergyTerm {
  const { fk, fkWidth } = options;
  const wp = options.positionWeight ?? 1;
  const wo = options.orientationWeight ?? 0;
  const running = options.running ?? false;
  if (fkWidth !== 3 && fkWidth !== 7) throw new PlanConfigError('pose goal term', [`fkWidth: must be 3 or 7, got ${String(fkWidth)}`]);
  if (wo > 0 && fkWidth !== 7) throw new PlanConfigError('pose goal term', ['orientationWeight: needs fkWidth 7 (fk must return quaternions)']);
  return {
    name: 'poseGoal',
    weight: options.weight ?? 1,
    needs: { proprio: true, goalPose: true },
    evaluate(batch: EnergyBatch): Float64Array {
      const { N, H, proprioDim: P } = batch;
      const out = new Float64Array(N);
      const pose = batch.goal.pose;
      const proprio = batch.proprio;
      if (!pose || !proprio) return out;
      const steps = running ? H : 1;
      // Gather the states to evaluate: all steps, or the last of each sample.
      let rows: Float32Array;
      if (running) {
        rows = proprio;
      } else {
        rows = new Float32Array(N * P);
        for (let n = 0; n < N; n++) rows.set(proprio.subarray((n * H + H - 1) * P, (n * H + H) * P), n * P);
      }
      const count = N * steps;
      const poses = fk(rows, count, P);
      if (!(poses instanceof Float64Array) || poses.length !== count * fkWidth) {
        throw new EnergyTermError('poseGoal', `fk must return a Float64Array of ${count} × ${fkWidth} values, got ${poses?.constructor?.name} of length ${poses?.length}`);
      }
      const [gx, gy, gz] = [pose.position_m[0], pose.position_m[1], pose.position_m[2]];
      const q = pose.orientation_wxyz;
      const qn = q ? Math.hypot(q[0], q[1], q[2], q[3]) : 1;
      const useOrientation = wo > 0 && q !== undefined;
      for (let n = 0; n < N; n++) {
        let e = 0;
        for (let s = 0; s < steps; s++) {
          const b = (n * steps + s) * fkWidth;
          const dx = poses[b] - gx;
          const dy = poses[b + 1] - gy;
          const dz = poses[b + 2] - gz;
          e += wp * (dx * dx + dy * dy + dz * dz);
          if (useOrientation) {
            const pn = Math.hypot(poses[b + 3], poses[b + 4], poses[b + 5], poses[b + 6]) || 1;
            const dot = (poses[b + 3] * q[0] + poses[b + 4] * q[1] + poses[b + 5] * q[2] + poses[b + 6] * q[3]) / (pn * qn);
            e += wo * (1 - Math.abs(dot));
          }
        }
        out[n] = e;
      }
      return out;
    },
  };
}

/** Resolved action bounds (from the spec or the model config), or undefined. */
export function resolveBounds(spec: EnergySpec, config: { action: { dim: number; low?: number[]; high?: number[] } }): { low: Float32Array; high: Float32Array; weight: number } | undefined {
  const A = config.action.dim;
  if (spec.bounds) {
    if (spec.bounds.low.length !== A) {
      throw new PlanConfigError('energy spec', [`energy.bounds.low: expected ${A} values (the model's action dim), got ${spec.bounds.low.length}`]);
    }
    return { low: Float32Array.from(spec.bounds.low), high: Float32Array.from(spec.bounds.high), weight: spec.bounds.weight };
  }
  if (config.action.low && config.action.high) {
    return { low: Float32Array.from(config.action.low), high: Float32Array.from(config.action.high), weight: 0 };
  }
  return undefined;
}

/** The part of the energy the backend evaluates natively, as the addon's RolloutCost. */
export function rolloutCost(
  spec: EnergySpec,
  bounds: { low: Float32Array; high: Float32Array; weight: number } | undefined,
  previousAction: Float32Array | undefined,
  /** The goal's latentWeight: scales the latent-distance terms. */
  latentWeight = 1,
): RolloutCost {
  return {
    metric: spec.metric,
    terminalWeight: spec.terminalWeight * latentWeight,
    runningWeight: spec.runningWeight * latentWeight,
    actionMagnitudeWeight: spec.actionMagnitudeWeight,
    actionRateWeight: spec.actionRateWeight,
    previousAction,
    actionBounds: bounds && bounds.weight > 0 ? { low: bounds.low, high: bounds.high } : undefined,
    boundsWeight: bounds && bounds.weight > 0 ? bounds.weight : undefined,
  };
}
