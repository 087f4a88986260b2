/**
 * Latent sub-goals in the manner of hierarchical world models (HWM): a
 * high-level WorldModel with a coarser time step (its actions are macro
 * actions, each standing for several low-level steps) is planned over toward
 * the final goal; the latent it predicts after `subgoalStep` macro steps
 * becomes the goal of the low-level planner. Exposed as an ordinary Planner,
 * so the runtime runs it exactly as it runs a flat one. When the current
 * latent (or the high-level prediction up to the sub-goal) is already within
 * `directDistance` of the goal, the low level plans to the goal itself.
 * The high level plans toward the whole goal (its proprio target too, where
 * it has one); `subgoalOf` turns a predicted latent into the low level's goal
 * (say, adding the joints a proprio head decodes from it).
 */
import { z } from 'zod';
import type { WorldModel } from '../addon/types';
import { PlanConfigError, PlanInputError, parseWith } from './errors';
import {
  checkVector,
  currentLatent,
  latentDistance,
  type PlanBudget,
  planBudgetSchema,
  type PlanGoal,
  type PlanOptions,
  type Planner,
  type PlanResult,
  type PlanState,
} from './types';

export const latentSubgoalOptionsSchema = z.strictObject({
  /** Which predicted macro step becomes the sub-goal (1 = the first). */
  subgoalStep: z.number().int().positive().default(1),
  /** Plan straight to the goal once within this distance of it (metric below). */
  directDistance: z.number().nonnegative().default(0),
  metric: z.enum(['l1', 'l2']).default('l2'),
  /** Budget of the high-level plan on every call (the plan() budget goes to the low level). */
  highBudget: planBudgetSchema,
  /** Warm-start each high-level plan from the previous high-level mean. */
  warmStartHigh: z.boolean().default(true),
});
export type LatentSubgoalOptions = z.input<typeof latentSubgoalOptionsSchema>;

export class LatentSubgoalPlanner implements Planner {
  readonly horizon: number;
  readonly actionDim: number;
  private readonly o: z.output<typeof latentSubgoalOptionsSchema>;
  private highWarm: Float32Array | undefined;

  /**
   * @param highModel the coarse world model (same latent space as the low level).
   * @param high a planner over highModel (CEM or MPPI built on it).
   * @param low the low-level planner (over the fine model).
   * @param subgoalOf the low level's goal for a sub-goal latent (default: the latent alone).
   */
  constructor(
    private readonly highModel: WorldModel,
    private readonly high: Planner,
    private readonly low: Planner,
    options: LatentSubgoalOptions,
    private readonly subgoalOf: (latent: Float32Array) => PlanGoal | Promise<PlanGoal> = (latent) => ({ latent }),
  ) {
    this.o = parseWith(latentSubgoalOptionsSchema, options, 'latent sub-goal planner options');
    if (this.o.subgoalStep > high.horizon) {
      throw new PlanConfigError('latent sub-goal planner options', [`subgoalStep: must be <= the high-level horizon ${high.horizon}, got ${this.o.subgoalStep}`]);
    }
    if (high.actionDim !== highModel.dims.actionDim) {
      throw new PlanConfigError('latent sub-goal planner', [`high: its actionDim ${high.actionDim} differs from highModel's ${highModel.dims.actionDim}; build it on highModel`]);
    }
    this.horizon = low.horizon;
    this.actionDim = low.actionDim;
  }

  reset(): void {
    this.highWarm = undefined;
    this.high.reset?.();
    this.low.reset?.();
  }

  async plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    const dims = this.highModel.dims;
    const L = dims.latentSize;
    // The low level validates the rest (history length, proprio) against its own model.
    if (state === null || typeof state !== 'object') throw new PlanInputError('state', `must be an object with z0, got ${String(state)}`);
    checkVector('state.z0', state.z0);
    if (state.z0.length === 0 || state.z0.length % L !== 0) {
      throw new PlanInputError('state.z0', `must hold whole frames of latentSize ${L}, got ${state.z0.length} elements`);
    }
    if (goal === null || typeof goal !== 'object') throw new PlanInputError('goal', `must be an object with latent, got ${String(goal)}`);
    checkVector('goal.latent', goal.latent, L, `latentSize ${L}`);
    const zNow = currentLatent(state.z0, L);
    const metric = this.o.metric;
    const t0 = performance.now();

    if (latentDistance(zNow, goal.latent, metric) <= this.o.directDistance) {
      const direct = await this.low.plan(state, goal, budget, options);
      return { ...direct, subgoal: { kind: 'latentSubgoal', goal, direct: true } };
    }

    // High level: plan macro actions from the current latent toward the goal.
    const F = Math.min(state.z0.length / L, dims.historyLength);
    const highState: PlanState = { z0: state.z0.subarray(state.z0.length - F * L) };
    const highGoal: PlanGoal = goal.proprio ? { latent: goal.latent, proprio: goal.proprio } : { latent: goal.latent };
    const hr = await this.high.plan(highState, highGoal, this.o.highBudget, {
      warmStart: this.o.warmStartHigh ? this.highWarm : undefined,
      signal: options.signal,
    });
    if (this.o.warmStartHigh) this.highWarm = hr.mean;

    // Predicted latents of the chosen macro plan; the sub-goal is step subgoalStep.
    const predicted = await this.highModel.rollout({
      z0: highState.z0,
      actions: hr.actions,
      horizon: this.high.horizon,
      goal: goal.latent,
      cost: { metric, terminalWeight: 0, runningWeight: 0 },
      returnTrajectory: true,
      signal: options.signal,
    });
    const traj = predicted.trajectory!;
    const k = this.o.subgoalStep;
    let direct = false;
    for (let t = 0; t < k && !direct; t++) {
      direct = latentDistance(traj.subarray(t * L, (t + 1) * L), goal.latent, metric) <= this.o.directDistance;
    }
    const lowGoal: PlanGoal = direct ? goal : await this.subgoalOf(traj.slice((k - 1) * L, k * L));
    const lr = await this.low.plan(state, lowGoal, budget, options);
    const total = performance.now() - t0;
    const rollout = lr.trace.rollout_ms + hr.trace.rollout_ms;
    return {
      ...lr,
      iterations: lr.iterations + hr.iterations,
      trace: { ...lr.trace, total_ms: total, rollout_ms: rollout, outside_ms: total - rollout },
      subgoal: {
        kind: 'latentSubgoal',
        goal: lowGoal,
        direct,
        highLevel: { iterations: hr.iterations, energy: hr.energy, converged: hr.converged, subgoalStep: k },
      },
    };
  }
}
