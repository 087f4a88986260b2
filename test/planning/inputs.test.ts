/**
 * Bad input is refused before any work, with an error naming the field:
 * goals of the wrong size, NaN in the state, empty or malformed budgets,
 * malformed planner options, bad warm starts.
 */
import { describe, expect, it } from 'vitest';
import { CemPlanner } from '../../src/planning/cem';
import { PlanConfigError, PlanInputError } from '../../src/planning/errors';
import { MppiPlanner } from '../../src/planning/mppi';
import { leadingProprioGoal, type PlanBudget } from '../../src/planning/types';
import { pointMass } from './linear-model';

const model = pointMass(0.1, 1);
const cem = new CemPlanner(model, { horizon: 3, samples: 8 });
const state = { z0: new Float32Array(2) };
const goal = { latent: new Float32Array(2) };
const budget = { maxIterations: 2 };

async function fieldOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PlanInputError || e instanceof PlanConfigError) return e.field;
    throw e;
  }
  throw new Error('expected the call to be refused');
}

describe('plan() argument checks', () => {
  it('a goal latent of the wrong size names goal.latent and both sizes', async () => {
    await expect(cem.plan(state, { latent: new Float32Array(3) }, budget)).rejects.toThrow(/goal\.latent: must have 2 elements \(latentSize 2\), got 3/);
  });

  it('a goal latent that is not a Float32Array names goal.latent', async () => {
    expect(await fieldOf(cem.plan(state, { latent: [0, 0] as unknown as Float32Array }, budget))).toBe('goal.latent');
  });

  it('NaN in the state names the element', async () => {
    await expect(cem.plan({ z0: Float32Array.from([0, NaN]) }, goal, budget)).rejects.toThrow(/state\.z0\[1\]: is NaN/);
    expect(await fieldOf(cem.plan({ z0: new Float32Array(2), previousAction: Float32Array.from([Infinity, 0]) }, goal, budget))).toBe('state.previousAction[0]');
  });

  it('a z0 that is not whole frames, or more frames than the model keeps, names state.z0', async () => {
    await expect(cem.plan({ z0: new Float32Array(3) }, goal, budget)).rejects.toThrow(/state\.z0: must hold F × latentSize 2/);
    await expect(cem.plan({ z0: new Float32Array(4) }, goal, budget)).rejects.toThrow(/state\.z0: holds 2 frames but the model keeps at most 1/);
  });

  it('an empty budget is refused: it would never stop', async () => {
    await expect(cem.plan(state, goal, {})).rejects.toThrow(/invalid budget[\s\S]*needs maxIterations or maxTime_ms/);
    await expect(cem.plan(state, goal, undefined as unknown as PlanBudget)).rejects.toThrow(/budget: must be an object/);
  });

  it('malformed budget fields are named', async () => {
    expect(await fieldOf(cem.plan(state, goal, { maxIterations: 0 }))).toBe('maxIterations');
    expect(await fieldOf(cem.plan(state, goal, { maxIterations: 2.5 }))).toBe('maxIterations');
    expect(await fieldOf(cem.plan(state, goal, { maxTime_ms: -1 }))).toBe('maxTime_ms');
    expect(await fieldOf(cem.plan(state, goal, { maxIterations: 3, tolerance: -0.1 }))).toBe('tolerance');
    expect(await fieldOf(cem.plan(state, goal, { maxIterations: 3, iterations: 3 } as PlanBudget))).toBe('(root)');
  });

  it('a warm start of the wrong size names options.warmStart', async () => {
    await expect(cem.plan(state, goal, budget, { warmStart: new Float32Array(5) })).rejects.toThrow(/options\.warmStart: must have 6 elements \(horizon 3 × actionDim 2\)/);
  });

  it('a second plan() on the same planner while one is running is refused, and the planner stays usable', async () => {
    const p = new CemPlanner(model, { horizon: 3, samples: 8 });
    const first = p.plan(state, goal, { maxIterations: 3 });
    await expect(p.plan(state, goal, budget)).rejects.toThrow(/still running/);
    await first;
    await expect(p.plan(state, goal, budget)).resolves.toMatchObject({ horizon: 3 });
  });

  it('an aborted signal cancels the plan', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(cem.plan(state, goal, budget, { signal: ac.signal })).rejects.toThrow(/cancelled/);
  });
});

describe('planner option checks', () => {
  it('names each bad option', () => {
    expect(() => new CemPlanner(model, { horizon: 0, samples: 8 })).toThrow(/invalid CEM options[\s\S]*horizon/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 1 })).toThrow(/samples/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8, eliteFraction: 0 })).toThrow(/eliteFraction/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8, eliteCount: 9 })).toThrow(/eliteCount: must be <= samples 8/);
    expect(() => new MppiPlanner(model, { horizon: 2, samples: 8, temperature: 0 })).toThrow(/invalid MPPI options[\s\S]*temperature/);
    expect(() => new MppiPlanner(model, { horizon: 2, samples: 8, initStd: [1, 2, 3] })).toThrow(/initStd: must be one number or 2 numbers/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8, energy: { bounds: { low: [1, 1], high: [0, 2] } } })).toThrow(/energy\.bounds[\s\S]*low\[j\] < high\[j\]/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8, energy: { bounds: { low: [0], high: [1] } } })).toThrow(/energy\.bounds\.low: expected 2 values/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8, energy: { metric: 'l3' as 'l1' } })).toThrow(/energy\.metric/);
  });
});

describe('leadingProprioGoal', () => {
  it('targets the first outputs of a proprio head and leaves the rest unscored; a target longer than the head, or unmatched weights, are refused', () => {
    const g = leadingProprioGoal([0.5, -1], [1, 2], 4);
    expect(Array.from(g.target)).toEqual([0.5, -1, 0, 0]);
    expect(Array.from(g.weights!)).toEqual([1, 2, 0, 0]);
    expect(() => leadingProprioGoal([1, 2, 3], [1, 1, 1], 2)).toThrow(/3 target values for a proprio head of 2 outputs/);
    expect(() => leadingProprioGoal([1, 2], [1], 4)).toThrow(PlanInputError);
  });
});
