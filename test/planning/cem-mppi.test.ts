/**
 * CEM and MPPI on the float64 reference model: they reach the closed-form
 * optimum of a linear-quadratic problem, respect action bounds, reproduce
 * bit-identical plans from a seed, stop early on easy problems and spend more
 * iterations on harder ones, and report a consistent trace.
 */
import { describe, expect, it } from 'vitest';
import { CemPlanner } from '../../src/planning/cem';
import { MppiPlanner } from '../../src/planning/mppi';
import type { Planner } from '../../src/planning/types';
import { type LinearSpec, linearModel, linearQuadraticOptimum, pointMass } from './linear-model';
import { defaultLayout, TwoRoomsModel } from './two-rooms';

// A coupled, slightly unstable linear system: z' = z + Wz z + Wa a + b.
const spec: LinearSpec = {
  L: 3,
  A: 2,
  Wz: [0.05, 0.1, 0, -0.1, 0.02, 0.05, 0, 0.03, -0.05],
  Wa: [0.5, 0.1, -0.2, 0.4, 0.3, -0.3],
  b: [0.02, -0.01, 0.03],
};
const H = 4;
const z0 = [0.2, -0.3, 0.5];
const goal = [1.0, 0.4, -0.6];
const weights = { terminal: 1, running: 0.5, magnitude: 0.05 };
const energy = { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0.5, actionMagnitudeWeight: 0.05 };

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('linear dynamics, quadratic energy, known optimum', () => {
  const model = linearModel(spec);
  const optimum = linearQuadraticOptimum(spec, z0, goal, H, weights);

  it('the closed-form optimum is a strict minimum the planners can be measured against', () => {
    expect(optimum.actions.length).toBe(H * spec.A);
    expect(Math.max(...Array.from(optimum.actions, Math.abs))).toBeGreaterThan(0.5); // far from the zero plan
    expect(optimum.energy).toBeGreaterThan(0.3);
  });

  it('CEM reaches the optimum actions within 0.005 and its energy within 1e-5 relative', async () => {
    const cem = new CemPlanner(model, { horizon: H, samples: 256, seed: 1, initStd: 1, minStd: 1e-5, energy, stdMomentum: 0.3 });
    const r = await cem.plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxIterations: 80, tolerance: 1e-7, patience: 5 });
    expect(maxAbsDiff(r.actions, optimum.actions)).toBeLessThan(0.005);
    expect(Math.abs(r.energy - optimum.energy) / optimum.energy).toBeLessThan(1e-5);
    expect(r.energy).toBeGreaterThanOrEqual(optimum.energy * (1 - 1e-6)); // nothing beats the optimum
  });

  it('MPPI reaches the optimum actions within 0.02 and its energy within 1e-4 relative', async () => {
    const mppi = new MppiPlanner(model, {
      horizon: H,
      samples: 256,
      seed: 1,
      initStd: 0.5,
      minStd: 1e-3,
      temperature: 0.002,
      stdSchedule: { kind: 'exponential', decay: 0.9 },
      energy,
    });
    const r = await mppi.plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxIterations: 80, tolerance: 1e-7, patience: 5 });
    expect(maxAbsDiff(r.actions, optimum.actions)).toBeLessThan(0.02);
    expect(Math.abs(r.energy - optimum.energy) / optimum.energy).toBeLessThan(1e-4);
  });

  it('the zero plan is far worse than what either planner returns (the optimisation did real work)', async () => {
    const zero = await model.rollout({
      z0: Float32Array.from(z0),
      actions: new Float32Array(H * spec.A),
      horizon: H,
      goal: Float32Array.from(goal),
      cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0.5, actionMagnitudeWeight: 0.05 },
    });
    expect(zero.energies[0]).toBeGreaterThan(2 * optimum.energy);
  });
});

describe('action bounds', () => {
  const model = pointMass(0.1); // z' = z + 0.1 a; no bounds in the config
  const far = { latent: Float32Array.from([5, -5]) }; // needs |a| far above 1
  for (const boundsHandling of ['clip', 'truncate'] as const) {
    it(`${boundsHandling}: every returned action lies in the box, and the plan saturates toward a goal out of reach`, async () => {
      const cem = new CemPlanner(model, {
        horizon: 6,
        samples: 128,
        seed: 3,
        boundsHandling,
        energy: { terminalWeight: 1, bounds: { low: [-1, -0.5], high: [1, 0.5] } },
      });
      const r = await cem.plan({ z0: new Float32Array(2) }, far, { maxIterations: 30 });
      for (let t = 0; t < 6; t++) {
        expect(r.actions[t * 2]).toBeGreaterThanOrEqual(-1);
        expect(r.actions[t * 2]).toBeLessThanOrEqual(1);
        expect(r.actions[t * 2 + 1]).toBeGreaterThanOrEqual(-0.5);
        expect(r.actions[t * 2 + 1]).toBeLessThanOrEqual(0.5);
        expect(r.actions[t * 2]).toBeGreaterThan(0.95); // pushes +x as hard as allowed
        expect(r.actions[t * 2 + 1]).toBeLessThan(-0.45); // and -y
      }
    });
  }

  it('the model config action.low/high bound sampling when the energy spec gives none', async () => {
    const bounded = pointMass(0.1, 0.25);
    const mppi = new MppiPlanner(bounded, { horizon: 5, samples: 64, seed: 2, initStd: 2, temperature: 0.01 });
    const r = await mppi.plan({ z0: new Float32Array(2) }, far, { maxIterations: 10 });
    expect(Math.max(...Array.from(r.actions, Math.abs))).toBeLessThanOrEqual(0.25);
    expect(Math.max(...Array.from(r.mean, Math.abs))).toBeLessThanOrEqual(0.25);
  });
});

describe('reproducibility', () => {
  const model = linearModel(spec);
  const run = async (make: (seed: number) => Planner, seed: number) =>
    make(seed).plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxIterations: 12, tolerance: 0 });
  const makers: [string, (seed: number) => Planner][] = [
    ['CEM', (seed) => new CemPlanner(model, { horizon: H, samples: 64, seed, energy })],
    ['MPPI', (seed) => new MppiPlanner(model, { horizon: H, samples: 64, seed, energy, temperature: 0.05 })],
  ];
  for (const [name, make] of makers) {
    it(`${name}: the same seed gives bit-identical plans, energies and iteration traces; another seed does not`, async () => {
      const a = await run(make, 42);
      const b = await run(make, 42);
      const c = await run(make, 43);
      expect(Buffer.from(a.actions.buffer).equals(Buffer.from(b.actions.buffer))).toBe(true);
      expect(Buffer.from(a.mean.buffer).equals(Buffer.from(b.mean.buffer))).toBe(true);
      expect(a.energy).toBe(b.energy);
      expect(a.trace.iterations.map((t) => t.best)).toEqual(b.trace.iterations.map((t) => t.best));
      expect(Buffer.from(a.actions.buffer).equals(Buffer.from(c.actions.buffer))).toBe(false);
    });
  }

  it('reseed() restarts the stream: a reused planner repeats its first plan', async () => {
    const cem = new CemPlanner(model, { horizon: H, samples: 64, seed: 9, energy });
    const state = { z0: Float32Array.from(z0) };
    const g = { latent: Float32Array.from(goal) };
    const first = await cem.plan(state, g, { maxIterations: 5, tolerance: 0 });
    const second = await cem.plan(state, g, { maxIterations: 5, tolerance: 0 });
    cem.reseed(9);
    const third = await cem.plan(state, g, { maxIterations: 5, tolerance: 0 });
    expect(Array.from(third.actions)).toEqual(Array.from(first.actions));
    expect(Array.from(second.actions)).not.toEqual(Array.from(first.actions));
  });
});

describe('adaptive compute', () => {
  const settings = { horizon: 8, samples: 128, initStd: 0.5, absoluteTolerance: 1e-5 };
  const budget = { maxIterations: 60, tolerance: 1e-2, patience: 3 };
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

  it('a far goal takes more iterations than a near one; every near-goal run stops early, converged', async () => {
    const model = pointMass(0.1, 1);
    const energy = { terminalWeight: 1, actionMagnitudeWeight: 0.001 };
    const iterations = async (d: number) => {
      const out: { iterations: number; converged: boolean }[] = [];
      for (const seed of seeds) {
        const cem = new CemPlanner(model, { ...settings, seed, energy });
        out.push(await cem.plan({ z0: new Float32Array(2) }, { latent: Float32Array.from([d, d / 2]) }, budget));
      }
      return out;
    };
    const near = await iterations(0.05);
    const far = await iterations(0.7);
    const nearMean = mean(near.map((r) => r.iterations));
    const farMean = mean(far.map((r) => r.iterations));
    console.log(`adaptive compute, point mass: near goal ${nearMean.toFixed(1)} iterations, far goal ${farMean.toFixed(1)} (mean of ${seeds.length} seeds, cap 60)`);
    expect(near.every((r) => r.converged && r.iterations < budget.maxIterations)).toBe(true);
    expect(farMean).toBeGreaterThan(1.5 * nearMean);
  });

  it('a wall in the way takes more iterations than the same start and goal in an open room', async () => {
    const energy = { terminalWeight: 1, actionMagnitudeWeight: 0.001 };
    const open = new TwoRoomsModel({ ...defaultLayout, doorLow: -1, doorHigh: 2 });
    const walled = new TwoRoomsModel(defaultLayout);
    const iterations = async (model: TwoRoomsModel) => {
      const out: number[] = [];
      for (const seed of seeds) {
        const cem = new CemPlanner(model, { ...settings, horizon: 16, initStd: 1, seed, energy });
        const r = await cem.plan({ z0: Float32Array.from([0.8, 0.55]) }, { latent: Float32Array.from([1.2, 0.55]) }, budget);
        out.push(r.iterations);
      }
      return out;
    };
    const openMean = mean(await iterations(open));
    const wallMean = mean(await iterations(walled));
    console.log(`adaptive compute, two rooms: open ${openMean.toFixed(1)} iterations, wall in the way ${wallMean.toFixed(1)}`);
    expect(wallMean).toBeGreaterThan(openMean + 3);
  });

  it('a wall-clock budget stops the loop on time and reports it', async () => {
    const model = linearModel(spec);
    const cem = new CemPlanner(model, { horizon: H, samples: 256, seed: 1, energy });
    const r = await cem.plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxTime_ms: 40, tolerance: 0 });
    expect(r.trace.stop).toBe('maxTime');
    expect(r.converged).toBe(false);
    expect(r.iterations).toBeGreaterThan(0);
    expect(r.trace.total_ms).toBeLessThan(40 + 2 * Math.max(...r.trace.iterations.map((t) => t.rollout_ms + t.outside_ms)));
  });

  it('an iteration budget is exact when convergence is off', async () => {
    const cem = new CemPlanner(linearModel(spec), { horizon: H, samples: 32, seed: 1, energy });
    const r = await cem.plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxIterations: 7, tolerance: 0, patience: 100 });
    expect(r.iterations).toBe(7);
    expect(r.trace.stop).toBe('maxIterations');
  });
});

describe('trace', () => {
  it('has one entry per iteration; best-so-far never rises; rollout + outside time adds up to each iteration', async () => {
    const mppi = new MppiPlanner(linearModel(spec), { horizon: H, samples: 128, seed: 5, energy, temperature: 0.01 });
    const r = await mppi.plan({ z0: Float32Array.from(z0) }, { latent: Float32Array.from(goal) }, { maxIterations: 15, tolerance: 0 });
    const t = r.trace.iterations;
    expect(t.length).toBe(r.iterations);
    for (let i = 1; i < t.length; i++) {
      expect(t[i].bestSoFar).toBeLessThanOrEqual(t[i - 1].bestSoFar);
      expect(t[i].elapsed_ms).toBeGreaterThanOrEqual(t[i - 1].elapsed_ms);
    }
    for (const it of t) {
      expect(it.best).toBeLessThanOrEqual(it.mean);
      expect(it.rollout_ms).toBeGreaterThan(0);
      expect(it.outside_ms).toBeGreaterThanOrEqual(0);
    }
    expect(r.energy).toBe(t[t.length - 1].bestSoFar);
    const sumRollout = t.reduce((s, x) => s + x.rollout_ms, 0);
    expect(r.trace.rollout_ms).toBeCloseTo(sumRollout, 6);
    expect(r.trace.rollout_ms + r.trace.outside_ms).toBeCloseTo(r.trace.total_ms, 6);
  });
});
