import { describe, expect, it } from 'vitest';
import { createReferenceModel } from '../../src/addon/reference';
import { FitError, fitLinearDynamics, linearCheckpoint } from '../../src/train/linear';

describe('linear state-space fit', () => {
  it('recovers known dynamics exactly from noiseless transitions and rolls out through the model path', async () => {
    // s' = s + 0.1 * A_true s + B a + c
    const S = 2, A = 1, T = 200;
    let seed = 3;
    const r = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const states = new Float64Array(T * S), actions = new Float64Array(T * A), next = new Float64Array(T * S);
    for (let t = 0; t < T; t++) {
      const s0 = r(), s1 = r(), a = r();
      states.set([s0, s1], t * S);
      actions[t] = a;
      next.set([s0 + 0.1 * s1 + 0.5 * a + 0.01, s1 - 0.2 * s0 + 0.02], t * S);
    }
    const fit = fitLinearDynamics({ stateDim: S, actionDim: A, states, actions, nextStates: next, count: T }, 0);
    expect(fit.W[0]).toBeCloseTo(0, 9);
    expect(fit.W[1]).toBeCloseTo(0.1, 9);
    expect(fit.W[2]).toBeCloseTo(0.5, 9);
    expect(fit.W[3]).toBeCloseTo(-0.2, 9);
    expect(fit.b[1]).toBeCloseTo(0.02, 9);
    expect(fit.rmse[0]).toBeLessThan(1e-9);

    const { config, tensors } = linearCheckpoint('t', fit, { stateDim: S, actionDim: A, frameskip: 1 }, {});
    const model = createReferenceModel(config, tensors);
    const z0 = await model.encode(Float32Array.of(0.3, -0.4), 1);
    const res = await model.rollout({ z0, actions: Float32Array.of(1), horizon: 1, goal: new Float32Array(2), cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0 }, returnFinalLatents: true });
    expect(res.finalLatents![0]).toBeCloseTo(0.3 + 0.1 * -0.4 + 0.5 + 0.01, 5);
    expect(res.finalLatents![1]).toBeCloseTo(-0.4 - 0.06 + 0.02, 5);
  });

  it('refuses too few or degenerate transitions', () => {
    const z = new Float64Array(8);
    expect(() => fitLinearDynamics({ stateDim: 2, actionDim: 1, states: z, actions: z, nextStates: z, count: 3 })).toThrow(/at least 4 transitions/);
    expect(() => fitLinearDynamics({ stateDim: 1, actionDim: 1, states: new Float64Array(4), actions: new Float64Array(4), nextStates: new Float64Array(4), count: 4 }, 0)).toThrow(FitError);
  });
});
