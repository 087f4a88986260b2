/**
 * Hierarchical planning where flat planning fails: two rooms joined by a door
 * near the top of the wall, start and goal near the bottom of opposite rooms.
 * A flat CEM with a 12-step horizon presses into the wall (a local minimum of
 * the distance to the goal); the latent sub-goal planner plans macro-actions
 * over a coarse model of the same world (6 fine steps each, 8 macro steps)
 * and hands the next predicted latent to the same low-level CEM, which
 * threads the door. Both run under receding horizon for the same number of
 * control steps; the flat planner gets twice the per-call iterations.
 * A task graph with a door waypoint is the explicit alternative.
 */
import { describe, expect, it } from 'vitest';
import { CemPlanner } from '../../src/planning/cem';
import { PlanConfigError } from '../../src/planning/errors';
import { LatentSubgoalPlanner } from '../../src/planning/latent-subgoals';
import { RecedingHorizon } from '../../src/planning/receding-horizon';
import { TaskGraphPlanner } from '../../src/planning/task-graph';
import type { Planner } from '../../src/planning/types';
import { defaultLayout, roomsStep, TwoRoomsModel } from './two-rooms';

const fine = new TwoRoomsModel(defaultLayout, 1);
const coarse = new TwoRoomsModel(defaultLayout, 6);
const start = [0.25, 0.15];
const goal = Float32Array.from([1.75, 0.15]);
const energy = { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0.1 };
const H = 12;
const samples = 128;
const lowIterations = 6;
const highIterations = 6;
const controlSteps = 150;
const executeSteps = 3;
const seeds = [1, 2, 3, 4, 5];

interface Episode {
  reached: boolean;
  final: [number, number];
  iterations: number;
}

async function episode(planner: Planner, iterations: number): Promise<Episode> {
  const rh = new RecedingHorizon(planner, { executeSteps });
  let x = start[0];
  let y = start[1];
  const p = new Float64Array(2);
  let used = 0;
  for (let s = 0; s < controlSteps; s += executeSteps) {
    const r = await rh.plan({ z0: Float32Array.from([x, y]) }, { latent: goal }, { maxIterations: iterations, tolerance: 0 });
    used += r.iterations;
    for (let i = 0; i < executeSteps; i++) {
      roomsStep(defaultLayout, x, y, r.execute[i * 2], r.execute[i * 2 + 1], p);
      x = p[0];
      y = p[1];
    }
    if (Math.hypot(x - goal[0], y - goal[1]) < 0.1) return { reached: true, final: [x, y], iterations: used };
  }
  return { reached: false, final: [x, y], iterations: used };
}

const flatPlanner = (seed: number) => new CemPlanner(fine, { horizon: H, samples, seed, energy });
const hierarchicalPlanner = (seed: number) =>
  new LatentSubgoalPlanner(
    coarse,
    new CemPlanner(coarse, { horizon: 8, samples, seed: seed + 1000, energy }),
    new CemPlanner(fine, { horizon: H, samples, seed, energy }),
    { subgoalStep: 1, directDistance: 0.01, highBudget: { maxIterations: highIterations, tolerance: 0 } },
  );

describe('two rooms with a door', () => {
  it('the dynamics block the wall and pass the door', () => {
    const p = new Float64Array(2);
    roomsStep(defaultLayout, 0.99, 0.3, 1, 0, p);
    expect(p[0]).toBeLessThan(1);
    roomsStep(defaultLayout, 0.99, 0.8, 1, 0, p);
    expect(p[0]).toBeGreaterThan(1);
  });

  it('the hierarchical planner reaches the other room where the flat planner, with twice the iterations per call, does not', async () => {
    const flat: Episode[] = [];
    const hier: Episode[] = [];
    for (const seed of seeds) {
      flat.push(await episode(flatPlanner(seed), 2 * (lowIterations + highIterations)));
      hier.push(await episode(hierarchicalPlanner(seed), lowIterations));
    }
    const rate = (es: Episode[]) => es.filter((e) => e.reached).length / es.length;
    const mean = (es: Episode[]) => es.reduce((s, e) => s + e.iterations, 0) / es.length;
    console.log(
      `two rooms, ${seeds.length} seeds, N = ${samples}, H = ${H}, ${controlSteps} control steps: ` +
        `flat success ${rate(flat) * 100}% (${mean(flat).toFixed(0)} iterations/episode, ends at ${flat.map((e) => e.final.map((v) => v.toFixed(2)).join(',')).join(' ')}), ` +
        `hierarchical success ${rate(hier) * 100}% (${mean(hier).toFixed(0)} iterations/episode incl. high level)`,
    );
    expect(rate(hier)).toBeGreaterThanOrEqual(0.8);
    expect(rate(flat)).toBeLessThanOrEqual(0.2);
    // The flat planner is stuck against the wall in the start room.
    expect(flat.filter((e) => !e.reached).every((e) => e.final[0] < 1 && e.final[0] > 0.9)).toBe(true);
  });

  it('an explicit task graph through the door reaches the goal with the same flat low-level planner', async () => {
    const low = flatPlanner(7);
    const task = new TaskGraphPlanner(
      low,
      {
        name: 'through the door',
        subgoals: [
          { id: 'door-left', target: { kind: 'latent', latent: [0.9, 0.82] }, success: { kind: 'latentDistance', below: 0.004 }, timeout: { steps: 90 } },
          { id: 'door-right', target: { kind: 'latent', latent: [1.1, 0.82] }, success: { kind: 'latentDistance', below: 0.004 }, timeout: { steps: 60 } },
        ],
      },
      {},
      { stepsPerCall: executeSteps },
    );
    const e = await episode(task, lowIterations);
    expect(task.progress().succeeded).toEqual(['door-left', 'door-right']);
    expect(e.reached).toBe(true);
  });
});

describe('latent sub-goal planner', () => {
  it('hands the low level the high-level prediction after subgoalStep macro steps, and counts both levels\' iterations', async () => {
    const planner = hierarchicalPlanner(3);
    const r = await planner.plan({ z0: Float32Array.from(start) }, { latent: goal }, { maxIterations: 4, tolerance: 0, patience: 10 });
    const info = r.subgoal!;
    expect(info.kind).toBe('latentSubgoal');
    expect(info.direct).toBe(false);
    expect(info.highLevel!.iterations).toBe(highIterations);
    expect(r.iterations).toBe(4 + highIterations);
    // The sub-goal is one macro step (6 fine steps, at most 0.3 per axis) from the start, still in the start room.
    const [sx, sy] = info.goal.latent;
    expect(Math.max(Math.abs(sx - start[0]), Math.abs(sy - start[1]))).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(Math.hypot(sx - start[0], sy - start[1])).toBeGreaterThan(0.05);
    expect(sx).toBeLessThan(1);
  });

  it('plans straight to the goal once within directDistance of it', async () => {
    const planner = hierarchicalPlanner(3);
    const r = await planner.plan({ z0: Float32Array.from([1.7, 0.15]) }, { latent: goal }, { maxIterations: 3 });
    expect(r.subgoal!.direct).toBe(true);
    expect(r.subgoal!.goal.latent).toBe(goal);
    expect(r.subgoal!.highLevel).toBeUndefined();
  });

  it('refuses a sub-goal step beyond the high-level horizon and a high planner built on another model', () => {
    const high = new CemPlanner(coarse, { horizon: 4, samples: 8 });
    const low = new CemPlanner(fine, { horizon: 4, samples: 8 });
    expect(() => new LatentSubgoalPlanner(coarse, high, low, { subgoalStep: 5, highBudget: { maxIterations: 1 } })).toThrow(/subgoalStep: must be <= the high-level horizon 4/);
    expect(() => new LatentSubgoalPlanner(coarse, high, low, { highBudget: {} })).toThrow(PlanConfigError);
  });
});
