/**
 * Receding-horizon control around any Planner: each call plans H steps,
 * hands back the first k to execute, and keeps the plan's final sampling mean
 * shifted by k (the tail padded with the last action or zeros) as the warm
 * start of the next call. reset() forgets it (new task, after a halt, after a
 * surprise).
 */
import { z } from 'zod';
import { parseWith, PlanConfigError } from './errors';
import { shiftPlan } from './select';
import type { PlanBudget, PlanGoal, PlanOptions, Planner, PlanResult, PlanState } from './types';

export const recedingHorizonOptionsSchema = z.strictObject({
  /** Actions executed per call, k (1 <= k <= H). */
  executeSteps: z.number().int().positive().default(1),
  /** What fills the last k rows of the shifted warm start. */
  pad: z.enum(['last', 'zero']).default('last'),
  /**
   * Pass the last executed action as state.previousAction (for the
   * action-rate term) when the caller's state has none.
   */
  carryPreviousAction: z.boolean().default(true),
});
export type RecedingHorizonOptions = z.input<typeof recedingHorizonOptionsSchema>;

export interface RecedingResult extends PlanResult {
  /** The first k actions of the plan, [k, A]: what to send now. */
  execute: Float32Array;
}

export class RecedingHorizon implements Planner {
  readonly horizon: number;
  readonly actionDim: number;
  readonly executeSteps: number;
  private readonly pad: 'last' | 'zero';
  private readonly carryPrevious: boolean;
  private nextWarmStart: Float32Array | undefined;
  private lastExecuted: Float32Array | undefined;

  constructor(
    private readonly planner: Planner,
    options: RecedingHorizonOptions = {},
  ) {
    const o = parseWith(recedingHorizonOptionsSchema, options, 'receding-horizon options');
    if (o.executeSteps > planner.horizon) {
      throw new PlanConfigError('receding-horizon options', [`executeSteps: must be <= the planner's horizon ${planner.horizon}, got ${o.executeSteps}`]);
    }
    this.horizon = planner.horizon;
    this.actionDim = planner.actionDim;
    this.executeSteps = o.executeSteps;
    this.pad = o.pad;
    this.carryPrevious = o.carryPreviousAction;
  }

  /** The warm start the next call will use ([H, A] copy), or undefined after reset. */
  get warmStart(): Float32Array | undefined {
    return this.nextWarmStart?.slice();
  }

  reset(): void {
    this.nextWarmStart = undefined;
    this.lastExecuted = undefined;
    this.planner.reset?.();
  }

  async plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions = {}): Promise<RecedingResult> {
    const s = this.carryPrevious && state?.previousAction === undefined && this.lastExecuted ? { ...state, previousAction: this.lastExecuted } : state;
    const result = await this.planner.plan(s, goal, budget, { ...options, warmStart: options.warmStart ?? this.nextWarmStart });
    const H = this.horizon;
    const A = this.actionDim;
    const k = this.executeSteps;
    this.nextWarmStart = shiftPlan(result.mean, H, A, k, this.pad);
    const execute = result.actions.slice(0, k * A);
    this.lastExecuted = execute.slice((k - 1) * A, k * A);
    return { ...result, execute };
  }
}
