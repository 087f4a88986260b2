/**
 * Explicit hierarchical planning: a task graph (zod schema) is a sequence of
 * sub-goals, each with a target (latent | image | end-effector pose | joint
 * configuration | pose relative to a named object), a success predicate
 * (latent distance, pose or joints within tolerance, or a named check the
 * caller injects), a timeout (control steps and/or ms)
 * and a retry count. `TaskGraphPlanner` runs it as a state machine behind
 * the ordinary `Planner.plan` call: on each call it checks the active
 * sub-goal's predicate on the measured state, advances on success, retries
 * (re-resolving the target and cold-starting the low-level planner) on
 * timeout, and when retries run out either fails with TaskFailedError
 * (onFailure 'abort') or skips to the next sub-goal, re-planning the rest
 * from the current state (onFailure 'skip'); it re-plans when told the
 * surprise monitor fired. A sub-goal may name a condition it `requires`
 * (a check that must keep holding while it is active, e.g. "the cube is still
 * in the fingers"): when it stops holding, the graph rewinds to an earlier
 * sub-goal (`otherwise`, e.g. back above the cube to grasp again), at most
 * `maxRewinds` times per task. Targets are resolved lazily, when their sub-goal
 * becomes active, so the remaining ones always reflect the current world
 * (an object target reads where the object is, or was last seen, at that
 * moment). Image, pose, joint and object targets become
 * planner goals through resolver callbacks the caller injects (encode an
 * image, IK + encode, ...); this module never imports perception or robot
 * code. Once every sub-goal has succeeded, it plans toward the `goal` given
 * to plan() (the task's final objective).
 */
import { z } from 'zod';
import { PlanConfigError, PlanInputError, parseWith, TaskFailedError } from './errors';
import {
  checkVector,
  currentLatent,
  latentDistance,
  type PlanBudget,
  type PlanGoal,
  type PlanOptions,
  type Planner,
  type PlanResult,
  type PlanState,
  type Pose,
} from './types';

const finite = z.number().finite();

export const taskTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('latent'), latent: z.array(finite).min(1) }),
  /** A reference the image resolver understands (file path, snapshot id, ...). */
  z.strictObject({ kind: z.literal('image'), image: z.string().min(1) }),
  z.strictObject({
    kind: z.literal('pose'),
    position_m: z.tuple([finite, finite, finite]),
    orientation_wxyz: z.tuple([finite, finite, finite, finite]).optional(),
  }),
  z.strictObject({
    kind: z.literal('joints'),
    positions_rad: z.array(finite).min(1),
    /** Which entries of state.proprio are these joints (default 0..J-1). */
    indices: z.array(z.number().int().nonnegative()).optional(),
  }),
  /** A pose relative to a named object (offset in the world frame from its centre), resolved from where the object is known to be. */
  z.strictObject({
    kind: z.literal('object'),
    object: z.string().min(1),
    offset_m: z.tuple([finite, finite, finite]).default([0, 0, 0]),
    /** Gripper opening to hold at the sub-goal, m (absent: the resolver's choice). */
    gripper_m: finite.nonnegative().optional(),
  }),
]);

export const successPredicateSchema = z.discriminatedUnion('kind', [
  /** Current latent within `below` of the resolved target latent (mean |.| or mean (.)^2, as the energy). */
  z.strictObject({ kind: z.literal('latentDistance'), metric: z.enum(['l1', 'l2']).default('l2'), below: z.number().positive() }),
  /** Measured end-effector position (and orientation) within tolerance of a pose target. */
  z.strictObject({ kind: z.literal('poseWithin'), position_m: z.number().positive(), orientation_rad: z.number().positive().optional() }),
  /** Every measured joint within tolerance of a joints target. */
  z.strictObject({ kind: z.literal('jointsWithin'), tolerance_rad: z.number().positive() }),
  /** A predicate the caller injects by name (resolvers.checks[name]) on the measured state and the resolved goal. */
  z.strictObject({ kind: z.literal('check'), name: z.string().min(1) }),
]);

export const subgoalSchema = z.strictObject({
  id: z.string().min(1),
  target: taskTargetSchema,
  success: successPredicateSchema,
  timeout: z
    .strictObject({ steps: z.number().int().positive().optional(), ms: z.number().positive().optional() })
    .refine((t) => t.steps !== undefined || t.ms !== undefined, { message: 'a timeout needs steps or ms (or both)' }),
  /** Further attempts after the first one times out. */
  retries: z.number().int().nonnegative().default(0),
  /** When retries run out: 'abort' the task (TaskFailedError), or 'skip' to the next sub-goal and re-plan the rest from where the robot is. */
  onFailure: z.enum(['abort', 'skip']).default('abort'),
  /** A named check (resolvers.checks) that must hold while this sub-goal is active; when it fails, the task rewinds to sub-goal `otherwise` (this one or an earlier one). */
  requires: z.strictObject({ check: z.string().min(1), otherwise: z.string().min(1) }).optional(),
});

export const taskGraphSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    subgoals: z.array(subgoalSchema).min(1),
    /** Rewinds (a `requires` check failing) allowed per task before it fails. */
    maxRewinds: z.number().int().nonnegative().default(2),
  })
  .superRefine((g, ctx) => {
    const seen = new Set<string>();
    g.subgoals.forEach((s, i) => {
      if (seen.has(s.id)) ctx.addIssue({ code: 'custom', path: ['subgoals', i, 'id'], message: `'${s.id}' is used twice; sub-goal ids must be unique` });
      seen.add(s.id);
      if (s.requires && !seen.has(s.requires.otherwise)) {
        const later = g.subgoals.some((o) => o.id === s.requires!.otherwise);
        ctx.addIssue({
          code: 'custom',
          path: ['subgoals', i, 'requires', 'otherwise'],
          message: later ? `'${s.requires.otherwise}' comes after '${s.id}'; a rewind goes back to this sub-goal or an earlier one` : `'${s.requires.otherwise}' is not a sub-goal id`,
        });
      }
      if (s.success.kind === 'poseWithin' && s.target.kind !== 'pose') {
        ctx.addIssue({ code: 'custom', path: ['subgoals', i, 'success', 'kind'], message: `poseWithin needs a pose target, got '${s.target.kind}'` });
      }
      if (s.success.kind === 'jointsWithin' && s.target.kind !== 'joints') {
        ctx.addIssue({ code: 'custom', path: ['subgoals', i, 'success', 'kind'], message: `jointsWithin needs a joints target, got '${s.target.kind}'` });
      }
      if (s.success.kind === 'poseWithin' && s.success.orientation_rad !== undefined && s.target.kind === 'pose' && !s.target.orientation_wxyz) {
        ctx.addIssue({ code: 'custom', path: ['subgoals', i, 'success', 'orientation_rad'], message: 'an orientation tolerance needs target.orientation_wxyz' });
      }
    });
  });
export type TaskGraphInput = z.input<typeof taskGraphSchema>;
export type TaskGraph = z.output<typeof taskGraphSchema>;
export type Subgoal = TaskGraph['subgoals'][number];

/** Turns non-latent targets into planner goals; injected by the caller. */
export interface TargetResolvers {
  /** Encode the named image into a goal latent. */
  image?(ref: string, state: PlanState): Promise<PlanGoal> | PlanGoal;
  /** A goal for an end-effector pose (e.g. IK → joint target → latent + proprio target). */
  pose?(pose: { position_m: number[]; orientation_wxyz?: number[] }, state: PlanState): Promise<PlanGoal> | PlanGoal;
  /** A goal for a joint configuration (e.g. latent of the configuration + proprio target). */
  joints?(positions_rad: number[], indices: number[], state: PlanState): Promise<PlanGoal> | PlanGoal;
  /** A goal for a pose relative to a named object (e.g. look the object up in memory, IK, encode); `subgoal` is the id of the sub-goal being resolved. */
  object?(target: { object: string; offset_m: number[]; gripper_m?: number }, state: PlanState, subgoal: string): Promise<PlanGoal> | PlanGoal;
  /** Named success predicates for 'check' sub-goals: true once the sub-goal holds. */
  checks?: Record<string, (state: PlanState, goal: PlanGoal) => boolean>;
}

export const taskGraphPlannerOptionsSchema = z.strictObject({
  /** Control steps (executed actions) each plan() call accounts for. */
  stepsPerCall: z.number().int().positive().default(1),
  /** notifySurprise(level) re-plans when level >= this. */
  surpriseThreshold: z.number().nonnegative().default(0),
});
export type TaskGraphPlannerOptions = z.input<typeof taskGraphPlannerOptionsSchema>;

export type TaskEvent =
  | { type: 'started' | 'succeeded' | 'timeout' | 'retry' | 'failed' | 'skipped'; subgoal: string; attempt: number; step: number }
  | { type: 'surprise'; subgoal: string; level: number; step: number }
  /** `subgoal`'s required check stopped holding; the task went back to `to`. */
  | { type: 'rewound'; subgoal: string; to: string; check: string; step: number }
  | { type: 'completed'; step: number };

export interface TaskProgress {
  status: 'running' | 'complete' | 'failed';
  /** Index and id of the active sub-goal (the last one once complete). */
  index: number;
  id: string;
  /** 1-based attempt on the active sub-goal. */
  attempt: number;
  stepsOnSubgoal: number;
  succeeded: string[];
  /** Sub-goals given up on with onFailure 'skip'. */
  skipped: string[];
  /** Times a required check failed and the task went back. */
  rewinds: number;
}

export class TaskGraphPlanner implements Planner {
  readonly horizon: number;
  readonly actionDim: number;
  readonly graph: TaskGraph;
  private readonly stepsPerCall: number;
  private readonly surpriseThreshold: number;
  private readonly events: TaskEvent[] = [];
  private status: 'running' | 'complete' | 'failed' = 'running';
  private index = 0;
  private attempt = 1;
  private stepsOnSubgoal = 0;
  private totalSteps = 0;
  private startedAt_ms: number | undefined;
  private resolved: PlanGoal | undefined;
  private coldStart = true;
  private rewinds = 0;
  private failure: TaskFailedError | undefined;
  private readonly succeeded: string[] = [];
  private readonly skipped: string[] = [];

  constructor(
    private readonly low: Planner,
    graph: TaskGraphInput,
    private readonly resolvers: TargetResolvers = {},
    options: TaskGraphPlannerOptions = {},
    private readonly now: () => number = () => performance.now(),
  ) {
    this.graph = parseWith(taskGraphSchema, graph, 'task graph');
    const o = parseWith(taskGraphPlannerOptionsSchema, options, 'task-graph planner options');
    this.stepsPerCall = o.stepsPerCall;
    this.surpriseThreshold = o.surpriseThreshold;
    this.horizon = low.horizon;
    this.actionDim = low.actionDim;
    this.graph.subgoals.forEach((s, i) => {
      const kind = s.target.kind;
      if (kind !== 'latent' && typeof resolvers[kind] !== 'function') {
        throw new PlanConfigError('task graph', [`subgoals.${i}.target: a '${kind}' target needs resolvers.${kind}, and none was given`]);
      }
      const checks: [string, string][] = [];
      if (s.success.kind === 'check') checks.push(['success', s.success.name]);
      if (s.requires) checks.push(['requires', s.requires.check]);
      for (const [field, name] of checks) {
        if (typeof resolvers.checks?.[name] === 'function') continue;
        const known = Object.keys(resolvers.checks ?? {});
        throw new PlanConfigError('task graph', [`subgoals.${i}.${field}: check '${name}' is not among resolvers.checks (${known.length ? known.join(', ') : 'none given'})`]);
      }
    });
  }

  /** Where the task stands. */
  progress(): TaskProgress {
    const sg = this.graph.subgoals[Math.min(this.index, this.graph.subgoals.length - 1)];
    return {
      status: this.status,
      index: this.index,
      id: sg.id,
      attempt: this.attempt,
      stepsOnSubgoal: this.stepsOnSubgoal,
      succeeded: [...this.succeeded],
      skipped: [...this.skipped],
      rewinds: this.rewinds,
    };
  }

  /** Every state-machine transition so far, oldest first. */
  history(): readonly TaskEvent[] {
    return this.events;
  }

  /** The surprise monitor fired: re-resolve the active target and plan afresh on the next call. */
  notifySurprise(level: number): boolean {
    if (typeof level !== 'number' || !Number.isFinite(level) || level < 0) {
      throw new PlanInputError('level', `surprise level must be a finite number >= 0, got ${String(level)}`);
    }
    if (level < this.surpriseThreshold || this.status !== 'running') return false;
    this.events.push({ type: 'surprise', subgoal: this.graph.subgoals[this.index].id, level, step: this.totalSteps });
    this.resolved = undefined;
    this.coldStart = true;
    this.low.reset?.();
    return true;
  }

  /** Restarts the task from its first sub-goal. */
  reset(): void {
    this.status = 'running';
    this.index = 0;
    this.attempt = 1;
    this.stepsOnSubgoal = 0;
    this.totalSteps = 0;
    this.startedAt_ms = undefined;
    this.resolved = undefined;
    this.coldStart = true;
    this.rewinds = 0;
    this.failure = undefined;
    this.events.length = 0;
    this.succeeded.length = 0;
    this.skipped.length = 0;
    this.low.reset?.();
  }

  async plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    if (this.failure) throw this.failure;
    const subgoals = this.graph.subgoals;
    while (this.status === 'running') {
      const sg = subgoals[this.index];
      if (this.startedAt_ms === undefined) {
        this.startedAt_ms = this.now();
        this.events.push({ type: 'started', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
      }
      if (this.resolved === undefined) this.resolved = await this.resolve(sg, state);
      if (sg.requires && !this.resolvers.checks![sg.requires.check]!(state, this.resolved)) {
        this.rewind(sg, sg.requires);
        continue;
      }
      if (this.satisfied(sg, state, this.resolved)) {
        this.events.push({ type: 'succeeded', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
        this.succeeded.push(sg.id);
        this.advance();
        continue;
      }
      const stepsOut = sg.timeout.steps !== undefined && this.stepsOnSubgoal >= sg.timeout.steps;
      const timeOut = sg.timeout.ms !== undefined && this.now() - this.startedAt_ms >= sg.timeout.ms;
      if (!stepsOut && !timeOut) break;
      this.events.push({ type: 'timeout', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
      if (this.attempt > sg.retries && sg.onFailure === 'skip') {
        this.events.push({ type: 'skipped', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
        this.skipped.push(sg.id);
        this.advance();
        this.low.reset?.();
        continue;
      }
      if (this.attempt > sg.retries) {
        this.status = 'failed';
        this.events.push({ type: 'failed', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
        const why = stepsOut ? `not reached within ${sg.timeout.steps} steps` : `not reached within ${sg.timeout.ms} ms`;
        this.failure = new TaskFailedError(sg.id, this.attempt, why);
        throw this.failure;
      }
      this.attempt++;
      this.events.push({ type: 'retry', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
      this.stepsOnSubgoal = 0;
      this.startedAt_ms = this.now();
      this.resolved = undefined;
      this.coldStart = true;
      this.low.reset?.();
    }

    const complete = this.status === 'complete';
    const active = complete ? goal : this.resolved!;
    const planOptions = this.coldStart ? { ...options, warmStart: undefined } : options;
    this.coldStart = false;
    const result = await this.low.plan(state, active, budget, planOptions);
    this.stepsOnSubgoal += this.stepsPerCall;
    this.totalSteps += this.stepsPerCall;
    const last = Math.min(this.index, subgoals.length - 1);
    return {
      ...result,
      subgoal: { kind: 'taskGraph', goal: active, index: last, id: subgoals[last].id, attempt: this.attempt, complete },
    };
  }

  /** `sg`'s required check failed: go back to `requires.otherwise`, or fail once the rewinds are used up. */
  private rewind(sg: Subgoal, requires: { check: string; otherwise: string }): void {
    this.rewinds++;
    if (this.rewinds > this.graph.maxRewinds) {
      this.status = 'failed';
      this.events.push({ type: 'failed', subgoal: sg.id, attempt: this.attempt, step: this.totalSteps });
      const why = `required check '${requires.check}' failed ${this.rewinds} times (at most ${this.graph.maxRewinds} rewinds)`;
      this.failure = new TaskFailedError(sg.id, this.attempt, why, "raise the graph's maxRewinds, or find out why the condition keeps failing");
      throw this.failure;
    }
    const to = this.graph.subgoals.findIndex((s) => s.id === requires.otherwise);
    this.events.push({ type: 'rewound', subgoal: sg.id, to: requires.otherwise, check: requires.check, step: this.totalSteps });
    for (const s of this.graph.subgoals.slice(to)) {
      const k = this.succeeded.lastIndexOf(s.id);
      if (k >= 0) this.succeeded.splice(k, 1);
    }
    this.index = to;
    this.attempt = 1;
    this.stepsOnSubgoal = 0;
    this.startedAt_ms = undefined;
    this.resolved = undefined;
    this.coldStart = true;
    this.low.reset?.();
  }

  private advance(): void {
    this.index++;
    this.attempt = 1;
    this.stepsOnSubgoal = 0;
    this.startedAt_ms = undefined;
    this.resolved = undefined;
    this.coldStart = true;
    if (this.index >= this.graph.subgoals.length) {
      this.status = 'complete';
      this.events.push({ type: 'completed', step: this.totalSteps });
    }
  }

  private async resolve(sg: Subgoal, state: PlanState): Promise<PlanGoal> {
    const t = sg.target;
    switch (t.kind) {
      case 'latent':
        return { latent: Float32Array.from(t.latent) };
      case 'image':
        return this.resolvers.image!(t.image, state);
      case 'pose':
        return this.resolvers.pose!({ position_m: [...t.position_m], orientation_wxyz: t.orientation_wxyz ? [...t.orientation_wxyz] : undefined }, state);
      case 'joints':
        return this.resolvers.joints!(t.positions_rad, t.indices ?? t.positions_rad.map((_, i) => i), state);
      case 'object':
        return this.resolvers.object!({ object: t.object, offset_m: [...t.offset_m], ...(t.gripper_m !== undefined ? { gripper_m: t.gripper_m } : {}) }, state, sg.id);
    }
  }

  private satisfied(sg: Subgoal, state: PlanState, resolved: PlanGoal): boolean {
    const p = sg.success;
    switch (p.kind) {
      case 'latentDistance': {
        checkVector('state.z0', state?.z0);
        const L = resolved.latent.length;
        if (state.z0.length < L || state.z0.length % L !== 0) {
          throw new PlanInputError('state.z0', `must hold whole frames of the target latent size ${L}, got ${state.z0.length} elements`);
        }
        return latentDistance(currentLatent(state.z0, L), resolved.latent, p.metric) < p.below;
      }
      case 'poseWithin': {
        if (sg.target.kind !== 'pose') return false;
        if (!state.pose) throw new PlanInputError('state.pose', `sub-goal '${sg.id}' checks poseWithin, so the state must carry the measured end-effector pose`);
        return poseWithin(state.pose, sg.target, p.position_m, p.orientation_rad);
      }
      case 'jointsWithin': {
        if (sg.target.kind !== 'joints') return false;
        if (!state.proprio) throw new PlanInputError('state.proprio', `sub-goal '${sg.id}' checks jointsWithin, so the state must carry measured joint positions`);
        const target = sg.target.positions_rad;
        const indices = sg.target.indices ?? target.map((_, i) => i);
        let worst = 0;
        indices.forEach((ix, i) => {
          if (ix >= state.proprio!.length) {
            throw new PlanInputError('state.proprio', `sub-goal '${sg.id}' reads joint index ${ix} but state.proprio has ${state.proprio!.length} entries`);
          }
          worst = Math.max(worst, Math.abs(state.proprio![ix] - target[i]));
        });
        return worst <= p.tolerance_rad;
      }
      case 'check':
        return this.resolvers.checks![p.name]!(state, resolved);
    }
  }
}

/** Position error <= tol and (when asked) quaternion angle <= tol. */
function poseWithin(
  pose: Pose,
  target: { position_m: number[]; orientation_wxyz?: number[] },
  position_m: number,
  orientation_rad: number | undefined,
): boolean {
  if (pose.position_m.length !== 3) throw new PlanInputError('state.pose.position_m', `must have 3 elements, got ${pose.position_m.length}`);
  let d2 = 0;
  for (let i = 0; i < 3; i++) d2 += (pose.position_m[i] - target.position_m[i]) ** 2;
  if (Math.sqrt(d2) > position_m) return false;
  if (orientation_rad === undefined || !target.orientation_wxyz) return true;
  const q = pose.orientation_wxyz;
  if (!q || q.length !== 4) throw new PlanInputError('state.pose.orientation_wxyz', 'a pose predicate with an orientation tolerance needs the measured orientation [w, x, y, z]');
  const t = target.orientation_wxyz;
  const nq = Math.hypot(q[0], q[1], q[2], q[3]);
  const nt = Math.hypot(t[0], t[1], t[2], t[3]);
  const dot = Math.abs(q[0] * t[0] + q[1] * t[1] + q[2] * t[2] + q[3] * t[3]) / (nq * nt);
  const angle = 2 * Math.acos(Math.min(1, dot));
  return angle <= orientation_rad;
}
