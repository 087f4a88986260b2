/**
 * The planner contract (src/planning/): what every planner — CEM, MPPI, the
 * receding-horizon wrapper, the task-graph and latent-sub-goal hierarchical
 * planners — takes and returns, plus the checks that turn a malformed state,
 * goal or budget into a PlanInputError naming the field. The runtime calls
 * `Planner.plan` and never needs to know which planner it holds.
 */
import { z } from 'zod';
import type { ModelDims } from '../model/config';
import { PlanInputError, parseWith } from './errors';

/** Where the robot is now. */
export interface PlanState {
  /** Latent history, oldest first: [F, latentSize], 1 <= F <= the model's historyLength. */
  z0: Float32Array;
  /** Actions between the history frames: [F - 1, A]. */
  actionHistory?: Float32Array;
  /** [A] the action applied just before this plan (for the action-rate term at t = 0). */
  previousAction?: Float32Array;
  /** Measured proprioception (joint positions first) [P]; read by task-graph joint predicates and energy terms. */
  proprio?: Float32Array;
  /** Measured end-effector pose; read by task-graph pose predicates. */
  pose?: Pose;
}

/** An end-effector pose: position in metres, optional orientation as a unit quaternion [w, x, y, z]. */
export interface Pose {
  position_m: Float64Array | Float32Array | number[];
  orientation_wxyz?: Float64Array | Float32Array | number[];
}

/** What to reach. */
export interface PlanGoal {
  /** Goal latent [latentSize]. */
  latent: Float32Array;
  /**
   * Multiplies the latent-distance terms (terminal and running) for this goal
   * (default 1; 0 scores the goal on goal.proprio and the extra terms alone,
   * for a goal frame that shows more than the plan should reach, such as an
   * object the plan is about to move).
   */
  latentWeight?: number;
  /**
   * Optional target for the predicted proprioception (needs a model with a
   * proprio head): target [P]; weights [P] (default all 1; 0 ignores a dim).
   */
  proprio?: { target: Float32Array; weights?: Float32Array };
  /**
   * Optional end-effector pose target. The planner cannot evaluate it alone
   * (it needs forward kinematics): it is scored by a BatchEnergyTerm with
   * needs.goalPose (e.g. poseGoalTerm(fk)), and refused when no such term is
   * installed.
   */
  pose?: Pose;
}

export const planBudgetSchema = z
  .strictObject({
    /** Stop after this many iterations (one batched rollout each). */
    maxIterations: z.number().int().positive().optional(),
    /** Stop before an iteration would end past this wall-clock time. */
    maxTime_ms: z.number().positive().optional(),
    /** Relative improvement of the best energy over `patience` iterations below which the plan has converged. */
    tolerance: z.number().nonnegative().optional(),
    /** Iterations over which improvement is measured. */
    patience: z.number().int().positive().optional(),
  })
  .refine((b) => b.maxIterations !== undefined || b.maxTime_ms !== undefined, {
    message: 'a budget needs maxIterations or maxTime_ms (or both); an empty budget would never stop',
  });
export type PlanBudget = z.input<typeof planBudgetSchema>;

/** Extra per-call controls. */
export interface PlanOptions {
  /** [H, A] initial mean of the sampling distribution (receding-horizon warm start). */
  warmStart?: Float32Array;
  signal?: AbortSignal;
}

export interface IterationTrace {
  /** Lowest energy among this iteration's samples. */
  best: number;
  /** Mean energy of this iteration's samples. */
  mean: number;
  /** Lowest energy seen so far in this plan() call. */
  bestSoFar: number;
  /** Time since plan() started, at the end of this iteration. */
  elapsed_ms: number;
  /** Time spent inside the model's rollout call this iteration. */
  rollout_ms: number;
  /** Time spent outside it (sampling, energy terms, distribution update). */
  outside_ms: number;
}

export interface PlanTrace {
  iterations: IterationTrace[];
  total_ms: number;
  rollout_ms: number;
  outside_ms: number;
  /** Why iteration stopped. */
  stop: 'converged' | 'maxIterations' | 'maxTime';
}

/** What a hierarchical planner adds to its result: the sub-goal it pursued. */
export interface SubgoalInfo {
  kind: 'taskGraph' | 'latentSubgoal';
  /** The goal the low-level planner was given. */
  goal: PlanGoal;
  /** Task graphs: index and id of the active sub-goal, attempt number (1-based), and whether the graph is complete. */
  index?: number;
  id?: string;
  attempt?: number;
  complete?: boolean;
  /** Latent sub-goals: whether the final goal was used directly, and the high-level plan's summary. */
  direct?: boolean;
  highLevel?: { iterations: number; energy: number; converged: boolean; subgoalStep: number };
}

export interface PlanResult {
  /** Best action sequence found, [H, A]. */
  actions: Float32Array;
  /** Its total energy (rollout energy + batch terms). */
  energy: number;
  iterations: number;
  converged: boolean;
  trace: PlanTrace;
  /** Final mean of the sampling distribution [H, A]: the warm start for the next call. */
  mean: Float32Array;
  horizon: number;
  actionDim: number;
  subgoal?: SubgoalInfo;
}

export interface Planner {
  /** Horizon H of the returned plans. */
  readonly horizon: number;
  readonly actionDim: number;
  plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options?: PlanOptions): Promise<PlanResult>;
  /** Forgets state carried between calls (warm starts; a task graph's progress). */
  reset?(): void;
}

export interface ResolvedBudget {
  maxIterations: number;
  maxTime_ms: number;
  tolerance: number;
  patience: number;
}

/** Parses a budget, filling tolerance and patience from the planner's defaults. */
export function resolveBudget(budget: unknown, defaults: { tolerance: number; patience: number }): ResolvedBudget {
  if (budget === null || typeof budget !== 'object') {
    throw new PlanInputError('budget', `must be an object like {maxIterations: 20} or {maxTime_ms: 50}, got ${String(budget)}`);
  }
  const b = parseWith(planBudgetSchema, budget, 'budget');
  return {
    maxIterations: b.maxIterations ?? Number.POSITIVE_INFINITY,
    maxTime_ms: b.maxTime_ms ?? Number.POSITIVE_INFINITY,
    tolerance: b.tolerance ?? defaults.tolerance,
    patience: b.patience ?? defaults.patience,
  };
}

/** Checks a Float32Array field: type, length (when given) and finiteness. */
export function checkVector(field: string, value: unknown, expected?: number, shape?: string): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) {
    const got = value === null ? 'null' : typeof value === 'object' ? (value as object).constructor?.name : typeof value;
    throw new PlanInputError(field, `must be a Float32Array, got ${got}`);
  }
  if (expected !== undefined && value.length !== expected) {
    throw new PlanInputError(field, `must have ${expected} elements${shape ? ` (${shape})` : ''}, got ${value.length}`);
  }
  for (let i = 0; i < value.length; i++) {
    if (!Number.isFinite(value[i])) {
      throw new PlanInputError(`${field}[${i}]`, `is ${value[i]}; every element must be finite (check where it was computed)`);
    }
  }
}

/** Validates a state against the model's sizes; returns the number of history frames F. */
export function checkState(state: PlanState, dims: ModelDims): number {
  if (state === null || typeof state !== 'object') throw new PlanInputError('state', `must be an object with z0, got ${String(state)}`);
  const L = dims.latentSize;
  const A = dims.actionDim;
  checkVector('state.z0', state.z0);
  if (state.z0.length === 0 || state.z0.length % L !== 0) {
    throw new PlanInputError('state.z0', `must hold F × latentSize ${L} elements (whole frames), got ${state.z0.length}`);
  }
  const F = state.z0.length / L;
  if (F > dims.historyLength) {
    throw new PlanInputError('state.z0', `holds ${F} frames but the model keeps at most ${dims.historyLength}; pass the last ${dims.historyLength}`);
  }
  if (state.actionHistory !== undefined) checkVector('state.actionHistory', state.actionHistory, (F - 1) * A, `(F ${F} - 1) × A ${A}`);
  if (state.previousAction !== undefined) checkVector('state.previousAction', state.previousAction, A, `actionDim ${A}`);
  if (state.proprio !== undefined) checkVector('state.proprio', state.proprio);
  return F;
}

/** Validates a goal against the model's sizes. */
export function checkGoal(goal: PlanGoal, dims: ModelDims): void {
  if (goal === null || typeof goal !== 'object') throw new PlanInputError('goal', `must be an object with latent, got ${String(goal)}`);
  checkVector('goal.latent', goal.latent, dims.latentSize, `latentSize ${dims.latentSize}`);
  if (goal.latentWeight !== undefined && !(typeof goal.latentWeight === 'number' && Number.isFinite(goal.latentWeight) && goal.latentWeight >= 0)) {
    throw new PlanInputError('goal.latentWeight', `must be a finite number >= 0, got ${String(goal.latentWeight)}`);
  }
  if (goal.proprio !== undefined) {
    if (dims.proprioDim <= 0) {
      throw new PlanInputError('goal.proprio', 'the model has no proprio head, so a proprio target cannot be evaluated; drop goal.proprio or load a model with one');
    }
    checkVector('goal.proprio.target', goal.proprio.target, dims.proprioDim, `proprioDim ${dims.proprioDim}`);
    if (goal.proprio.weights !== undefined) {
      checkVector('goal.proprio.weights', goal.proprio.weights, dims.proprioDim, `proprioDim ${dims.proprioDim}`);
    }
  }
  if (goal.pose !== undefined) checkPose('goal.pose', goal.pose);
}

/** A pose: position_m of 3 finite numbers, optional orientation_wxyz of 4 finite numbers, not all zero. */
export function checkPose(field: string, pose: Pose): void {
  if (pose === null || typeof pose !== 'object') throw new PlanInputError(field, `must be {position_m, orientation_wxyz?}, got ${String(pose)}`);
  const p = pose.position_m;
  if (!p || p.length !== 3 || !Array.from(p).every(Number.isFinite)) {
    throw new PlanInputError(`${field}.position_m`, `must be 3 finite numbers (metres), got ${p ? `[${Array.from(p).join(', ')}]` : String(p)}`);
  }
  const q = pose.orientation_wxyz;
  if (q !== undefined) {
    if (q.length !== 4 || !Array.from(q).every(Number.isFinite) || Math.hypot(q[0], q[1], q[2], q[3]) < 1e-9) {
      throw new PlanInputError(`${field}.orientation_wxyz`, `must be a non-zero quaternion of 4 finite numbers [w, x, y, z], got [${Array.from(q).join(', ')}]`);
    }
  }
}

/**
 * goal.proprio over the first outputs of a proprio head: `values` and `weights` for outputs
 * 0..k-1, the head's remaining outputs (up to proprioDim) unscored. A head may read out more than
 * the robot's joints (object coordinates it was trained to see); a joint target leaves those alone.
 */
export function leadingProprioGoal(values: ArrayLike<number>, weights: ArrayLike<number>, proprioDim: number): NonNullable<PlanGoal['proprio']> {
  if (values.length !== weights.length) throw new PlanInputError('goal.proprio', `${values.length} target values but ${weights.length} weights`);
  if (values.length > proprioDim) throw new PlanInputError('goal.proprio', `${values.length} target values for a proprio head of ${proprioDim} outputs`);
  const target = new Float32Array(proprioDim);
  const w = new Float32Array(proprioDim);
  target.set(values);
  w.set(weights);
  return { target, weights: w };
}

/**
 * The latent part of a task-graph sub-goal whose target is a robot state (pusher position, arm
 * joints); the caller adds the proprio target. A state model encodes the state itself; a pixel model
 * leaves the latent unscored (latentWeight 0) and is scored on what its proprio head decodes: a frame
 * of the robot there would also show the objects where they are now, and the task is to move them.
 */
export type SubgoalLatent = (robot: Float32Array, state: PlanState) => Promise<Pick<PlanGoal, 'latent' | 'latentWeight'>>;

/** The latest frame of a latent history [F, L] → [L] (a view, no copy). */
export function currentLatent(z0: Float32Array, latentSize: number): Float32Array {
  return z0.subarray(z0.length - latentSize);
}

/** Latent distance as the rollout energy defines it: mean |a - b| ('l1') or mean (a - b)^2 ('l2'). */
export function latentDistance(a: Float32Array, b: Float32Array, metric: 'l1' | 'l2'): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += metric === 'l1' ? Math.abs(d) : d * d;
  }
  return s / a.length;
}
