/**
 * Receding horizon: executes the first k actions, warm-starts the next call
 * from the previous mean shifted by k (padded with the last action or zeros),
 * carries the last executed action into the rate term, and forgets it all on
 * reset(). Also the shift kernel on its own.
 */
import { describe, expect, it } from 'vitest';
import { CemPlanner } from '../../src/planning/cem';
import { PlanConfigError } from '../../src/planning/errors';
import { RecedingHorizon } from '../../src/planning/receding-horizon';
import { shiftPlan } from '../../src/planning/select';
import type { PlanBudget, PlanGoal, PlanOptions, Planner, PlanResult, PlanState } from '../../src/planning/types';
import { pointMass } from './linear-model';

/** A stand-in planner that records what it was given and returns a scripted mean. */
class RecordingPlanner implements Planner {
  readonly horizon = 4;
  readonly actionDim = 2;
  calls: { state: PlanState; options: PlanOptions }[] = [];
  resets = 0;
  constructor(private readonly means: Float32Array[]) {}
  async plan(state: PlanState, _goal: PlanGoal, _budget: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    const mean = this.means[this.calls.length];
    this.calls.push({ state, options });
    return {
      actions: mean.map((v) => v + 100),
      energy: 0,
      iterations: 1,
      converged: true,
      trace: { iterations: [], total_ms: 0, rollout_ms: 0, outside_ms: 0, stop: 'converged' },
      mean,
      horizon: 4,
      actionDim: 2,
    };
  }
  reset(): void {
    this.resets++;
  }
}

const m0 = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // rows (1,2) (3,4) (5,6) (7,8)
const m1 = Float32Array.from([11, 12, 13, 14, 15, 16, 17, 18]);

describe('shiftPlan', () => {
  it("shifts rows left by k and pads with the last row ('last') or zeros ('zero')", () => {
    expect(Array.from(shiftPlan(m0, 4, 2, 1, 'last'))).toEqual([3, 4, 5, 6, 7, 8, 7, 8]);
    expect(Array.from(shiftPlan(m0, 4, 2, 3, 'last'))).toEqual([7, 8, 7, 8, 7, 8, 7, 8]);
    expect(Array.from(shiftPlan(m0, 4, 2, 2, 'zero'))).toEqual([5, 6, 7, 8, 0, 0, 0, 0]);
    expect(Array.from(shiftPlan(m0, 4, 2, 4, 'zero'))).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });
});

describe('RecedingHorizon', () => {
  const state = { z0: new Float32Array(2) };
  const goal = { latent: new Float32Array(2) };

  it('returns the first k actions, and warm-starts the next call from the mean shifted by k', async () => {
    const inner = new RecordingPlanner([m0, m1, m0]);
    const rh = new RecedingHorizon(inner, { executeSteps: 2 });
    const first = await rh.plan(state, goal, { maxIterations: 1 });
    expect(Array.from(first.execute)).toEqual([101, 102, 103, 104]);
    expect(inner.calls[0].options.warmStart).toBeUndefined();
    expect(Array.from(rh.warmStart!)).toEqual([5, 6, 7, 8, 7, 8, 7, 8]);
    await rh.plan(state, goal, { maxIterations: 1 });
    expect(Array.from(inner.calls[1].options.warmStart!)).toEqual([5, 6, 7, 8, 7, 8, 7, 8]);
    expect(Array.from(rh.warmStart!)).toEqual([15, 16, 17, 18, 17, 18, 17, 18]);
  });

  it("pads with zeros when pad = 'zero'", async () => {
    const rh = new RecedingHorizon(new RecordingPlanner([m0]), { executeSteps: 1, pad: 'zero' });
    await rh.plan(state, goal, { maxIterations: 1 });
    expect(Array.from(rh.warmStart!)).toEqual([3, 4, 5, 6, 7, 8, 0, 0]);
  });

  it('carries the last executed action as previousAction unless the caller gives one', async () => {
    const inner = new RecordingPlanner([m0, m1, m0]);
    const rh = new RecedingHorizon(inner, { executeSteps: 2 });
    await rh.plan(state, goal, { maxIterations: 1 });
    await rh.plan(state, goal, { maxIterations: 1 });
    expect(Array.from(inner.calls[1].state.previousAction!)).toEqual([103, 104]);
    const own = Float32Array.from([9, 9]);
    await rh.plan({ ...state, previousAction: own }, goal, { maxIterations: 1 });
    expect(inner.calls[2].state.previousAction).toBe(own);
  });

  it('reset() drops the warm start and the carried action, and resets the inner planner', async () => {
    const inner = new RecordingPlanner([m0, m1]);
    const rh = new RecedingHorizon(inner, { executeSteps: 1 });
    await rh.plan(state, goal, { maxIterations: 1 });
    rh.reset();
    expect(rh.warmStart).toBeUndefined();
    expect(inner.resets).toBe(1);
    await rh.plan(state, goal, { maxIterations: 1 });
    expect(inner.calls[1].options.warmStart).toBeUndefined();
    expect(inner.calls[1].state.previousAction).toBeUndefined();
  });

  it('refuses executeSteps longer than the horizon, naming the field', () => {
    expect(() => new RecedingHorizon(new RecordingPlanner([]), { executeSteps: 5 })).toThrow(PlanConfigError);
    expect(() => new RecedingHorizon(new RecordingPlanner([]), { executeSteps: 5 })).toThrow(/executeSteps: must be <= the planner's horizon 4/);
  });

  it('with a real CEM, the warm start is the shifted final mean and a warm-started plan begins at lower energy', async () => {
    const model = pointMass(0.1, 1);
    const cem = new CemPlanner(model, { horizon: 8, samples: 64, seed: 1, energy: { terminalWeight: 1, runningWeight: 0.1 } });
    const rh = new RecedingHorizon(cem, { executeSteps: 2 });
    const g = { latent: Float32Array.from([0.6, -0.4]) };
    const r1 = await rh.plan({ z0: new Float32Array(2) }, g, { maxIterations: 20 });
    expect(Array.from(rh.warmStart!)).toEqual(Array.from(shiftPlan(r1.mean, 8, 2, 2, 'last')));
    // Execute the first two actions on the same dynamics and plan again.
    const z = new Float32Array(2);
    for (let t = 0; t < 2; t++) for (let j = 0; j < 2; j++) z[j] += 0.1 * r1.execute[t * 2 + j];
    const warm = await rh.plan({ z0: z }, g, { maxIterations: 1 });
    const cold = await new CemPlanner(model, { horizon: 8, samples: 64, seed: 1, energy: { terminalWeight: 1, runningWeight: 0.1 } }).plan({ z0: z }, g, { maxIterations: 1 });
    expect(warm.trace.iterations[0].best).toBeLessThan(cold.trace.iterations[0].best);
  });
});
