// Pick-place wiring: perception (real RGB-D renders of the front camera) → world memory →
// object-relative task-graph sub-goals. The cube's remembered pose keeps serving the planner
// once the cube is out of view; forgotten or never-seen objects are refused with the reason;
// and a whole episode on the embedded simulator walks the graph up to the grasp.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorldMemory } from '../../src/memory/world-memory';
import { createReferenceModel } from '../../src/addon/reference';
import { createEmbeddedRun, fitStateModel, modelFromCheckpoint, type EmbeddedRun } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
import { PickPlaceError, holdArmWhileGripping, pickPlaceWiring } from '../../src/runtime/pick-place';
import type { Planner, PlanResult, TaskGraphPlanner } from '../../src/planning/index';
import type { Observation } from '../../src/robot/arm';
import type { ShieldDecision } from '../../src/safety/shield';
import { cameraModelOf } from '../../src/sim/camera';
import { SimEnv } from '../../src/sim/env';
import { pandaTcp } from '../../src/sim/scenes/panda-kinematics';
import { cubeState } from '../../src/sim/tasks/pick-place';

let env: SimEnv;
let model: Awaited<ReturnType<typeof modelFromCheckpoint>>;
beforeAll(async () => {
  env = await SimEnv.create({ task: 'pick-place', imageSize: 192, depth: true, cameras: ['front'] });
  const ck = await fitStateModel('pick-place', { transitions: 600, backend: 'reference' });
  model = createReferenceModel(ck.config, ck.tensors);
}, 60_000);
afterAll(() => env?.close());

function observation(time: number): Observation {
  const o = env.observe();
  return { images: o.images, jointPositions: o.jointPositions, jointVelocities: o.jointVelocities, time };
}

function wiring(memory: WorldMemory) {
  return pickPlaceWiring({ subgoalLatent: async (q) => ({ latent: await model.encode(q, 1) }), proprioDim: model.dims.proprioDim, memory, camera: { name: 'front', model: cameraModelOf(env.sim, 'front') }, scope: 'test' });
}

const state = (obs: Observation) => ({ z0: Float32Array.from(obs.jointPositions), proprio: Float32Array.from(obs.jointPositions) });

/** The arm's fitted state model, fitted once per size for the whole file (a run does not dispose its model). */
const fittedModels = new Map<number, Promise<Awaited<ReturnType<typeof modelFromCheckpoint>>>>();
const fitted = (transitions = 3000) => {
  if (!fittedModels.has(transitions)) fittedModels.set(transitions, fitStateModel('pick-place', { transitions }).then((ck) => modelFromCheckpoint(ck)));
  return fittedModels.get(transitions)!;
};

/** A hierarchical pick-place run on training seed `seed` with the fitted model, closed after `body`. */
async function withRun(seed: number, o: { samples: number; horizon: number; transitions?: number }, body: (run: EmbeddedRun) => Promise<void>): Promise<void> {
  const run = await createEmbeddedRun({ task: 'pick-place', seed, mode: 'train', model: await fitted(o.transitions), hierarchy: 'auto', samples: o.samples, horizon: o.horizon });
  try {
    await body(run);
  } finally {
    run.close();
  }
}

describe('pick-place perception and memory', () => {
  it('sees cube and bin, remembers the cube once it leaves the view, and places sub-goals at its remembered pose', async () => {
    env.reset(90_010);
    const memory = WorldMemory.open({ file: ':memory:' });
    try {
      const w = wiring(memory);
      const truth = cubeState(env.sim).position;
      const obs0 = observation(0);
      const seen = w.perceive(obs0, new Float32Array(8));
      expect(seen.map((s) => s.label).sort()).toEqual(['bin', 'cube']);
      memory.recordFrame({ time_s: 0, seen });
      // The cube leaves the camera's view (carried off the table's far side, say).
      const a = env.sim.jointQposAddress('cube');
      env.sim.qpos[a] = 5;
      env.sim.forward();
      const obs1 = observation(0.5);
      const seen1 = w.perceive(obs1, new Float32Array(8));
      expect(seen1.map((s) => s.label)).toEqual(['bin']);
      memory.recordFrame({ time_s: 0.5, seen: seen1 });
      const cube = memory.recall('test/cube', 0.5)!;
      expect(cube.inView).toBe(false);
      expect(Math.hypot(cube.pose.position_m[0] - truth[0], cube.pose.position_m[1] - truth[1])).toBeLessThan(0.005);
      // A sub-goal 12 cm above the cube resolves to joints whose TCP is there: from memory, not from the frame.
      const goal = await w.resolvers.object!({ object: 'cube', offset_m: [0, 0, 0.12], gripper_m: 0.04 }, state(obs1), 'above-cube');
      const q = goal.proprio!.target;
      const tcp = pandaTcp(q.subarray(0, 7)).p;
      expect(Math.hypot(tcp[0] - cube.pose.position_m[0], tcp[1] - cube.pose.position_m[1], tcp[2] - (cube.pose.position_m[2] + 0.12))).toBeLessThan(0.01);
      expect(q[7]).toBeCloseTo(0.04, 6);
      expect(goal.latent.length).toBe(model.dims.latentSize);
      expect(w.stats.resolvedOutOfView).toBe(1);
      // The measured arm is nowhere near that target: the hover check says no.
      expect(w.resolvers.checks!.hovering!(state(obs1), goal)).toBe(false);
      // A pixel model whose head also reads out objects (13 outputs): the same joint target on the
      // first 8 outputs, the rest unscored, and the latent term off.
      const pixel = pickPlaceWiring({
        subgoalLatent: async (_q, s) => ({ latent: s.z0.slice(), latentWeight: 0 }), proprioDim: 13, memory,
        camera: { name: 'front', model: cameraModelOf(env.sim, 'front') }, scope: 'test',
      });
      const pg = await pixel.resolvers.object!({ object: 'cube', offset_m: [0, 0, 0.12], gripper_m: 0.04 }, state(obs1), 'above-cube');
      expect(pg.latentWeight).toBe(0);
      expect(Array.from(pg.proprio!.target.subarray(0, 8))).toEqual(Array.from(q));
      expect(Array.from(pg.proprio!.target.subarray(8))).toEqual([0, 0, 0, 0, 0]);
      expect(Array.from(pg.proprio!.weights!.subarray(0, 7))).toEqual([1, 1, 1, 1, 1, 1, 1]);
      expect(pg.proprio!.weights![7]).toBeGreaterThan(0);
      expect(Array.from(pg.proprio!.weights!.subarray(8))).toEqual([0, 0, 0, 0, 0]);
    } finally {
      memory.close();
    }
  });

  it('holding means the fingers stopped on the cube; gripping fails once they close past it', () => {
    const memory = WorldMemory.open({ file: ':memory:' });
    try {
      const { checks } = wiring(memory).resolvers;
      const q = [0.1, -0.3, 0, -2.2, 0, 1.9, 0.8];
      const at = (g: number) => ({ z0: new Float32Array(8), proprio: Float32Array.from([...q, g]) });
      const goal = { latent: new Float32Array(8) };
      // Closing on nothing: two ticks inside the band, but the fingers move 6 mm per tick.
      expect([0.03, 0.021, 0.015, 0.009].map((g) => checks!.holding!(at(g), goal))).toEqual([false, false, false, false]);
      expect([0.021, 0.015, 0.009, 0.003].map((g) => checks!.gripping!(at(g), goal))).toEqual([true, true, false, false]);
      // Closing on the cube: the fingers stop at its faces (two ticks without moving more than 1 mm).
      expect([0.03, 0.0198, 0.0195, 0.0195].map((g) => checks!.holding!(at(g), goal))).toEqual([false, false, false, true]);
      expect(checks!.gripping!(at(0.0195), goal)).toBe(true);
    } finally {
      memory.close();
    }
  });

  it('refuses sub-goals at objects never seen, or remembered too long ago, naming the object', async () => {
    env.reset(90_011);
    const memory = WorldMemory.open({ file: ':memory:', confidenceDecayRate_per_s: 1 });
    try {
      const w = wiring(memory);
      const obs = observation(0);
      await expect(w.resolvers.object!({ object: 'cube', offset_m: [0, 0, 0.1] }, state(obs), 'above-cube')).rejects.toThrow(/the cube has not been seen by the 'front' camera/);
      memory.recordFrame({ time_s: 0, seen: w.perceive(obs, new Float32Array(8)) });
      memory.recordFrame({ time_s: 0.1, seen: [] }); // both leave the view
      w.perceive({ ...observation(10), images: { front: { ...obs.images.front!, rgb: new Uint8Array(obs.images.front!.rgb.length) } } }, new Float32Array(8));
      await expect(w.resolvers.object!({ object: 'bin', offset_m: [0, 0, 0.2] }, state(obs), 'over-bin')).rejects.toThrow(PickPlaceError);
      await expect(w.resolvers.object!({ object: 'bin', offset_m: [0, 0, 0.2] }, state(obs), 'over-bin')).rejects.toThrow(/too uncertain to plan towards/);
      expect(() => w.perceive({ ...obs, images: { front: { ...obs.images.front!, depth: undefined } } }, new Float32Array(8))).toThrow(/no depth image/);
    } finally {
      memory.close();
    }
  });
});

describe('pick-place episode on the embedded simulator', () => {
  it('perceives every tick and walks the task graph from memory: hover above the cube, descend, close on it', async () => {
    await withRun(90_000, { samples: 256, horizon: 8 }, async (run) => {
      expect(run.hierarchical).toBe(true);
      const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 8, maxTime_ms: 1000 }, timing: 'lockstep', maxSteps: 140 });
      const sim = run.arm.env!.sim;
      const r = await loop.runEpisode();
      const history = (run.planner as unknown as TaskGraphPlanner).history();
      const succeeded = history.flatMap((e) => (e.type === 'succeeded' ? [e.subgoal] : []));
      expect(succeeded.slice(0, 3)).toEqual(['above-cube', 'descend', 'close']);
      expect(run.perception!.sightings).toBeGreaterThanOrEqual(2 * r.steps - 4);
      // What the memory holds for the cube is where the cube is.
      const cube = run.stages.memory!.objects(sim.time).find((o) => o.label === 'cube')!;
      const truth = cubeState(sim).position;
      expect(Math.hypot(cube.pose.position_m[0] - truth[0], cube.pose.position_m[1] - truth[1], cube.pose.position_m[2] - truth[2])).toBeLessThan(0.02);
    });
  }, 120_000);

  it('a cube knocked out of the hand while it is carried: the graph rewinds, grasps it again where it now lies, and puts it in the bin', async () => {
    await withRun(90_003, { samples: 256, horizon: 8 }, async (run) => {
      const sim = run.arm.env!.sim;
      const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 8, maxTime_ms: 1000 }, timing: 'lockstep', maxSteps: 500 });
      let dropped: number[] | undefined;
      const r = await loop.runEpisode(async (t) => {
        if (dropped || t.subgoal !== 'over-bin' || cubeState(sim).position[2] < 0.15) return;
        // Teleport the carried cube to a free spot on the table, in the camera's view.
        const a = sim.jointQposAddress('cube'), v = sim.jointDofAddress('cube');
        dropped = [0.45, -0.05, 0.02];
        sim.qpos.set([...dropped, Math.cos(0.2), 0, 0, Math.sin(0.2)], a);
        sim.qvel.fill(0, v, v + 6);
        sim.forward();
    });
    expect(dropped).toBeDefined();
    const history = (run.planner as unknown as TaskGraphPlanner).history();
    const rewound = history.find((e) => e.type === 'rewound');
    expect(rewound).toMatchObject({ type: 'rewound', subgoal: 'over-bin', to: 'above-cube', check: 'gripping' });
    const after = history.slice(history.indexOf(rewound!)).flatMap((e) => (e.type === 'succeeded' ? [e.subgoal] : []));
    expect(after).toEqual(['above-cube', 'descend', 'close', 'lift', 'over-bin', 'release']);
    expect(r.success).toBe(true);
    });
  }, 180_000);

  it('ends the episode with the reason, arm held, when the cube is nowhere to be seen', async () => {
    await withRun(90_001, { samples: 64, horizon: 4, transitions: 600 }, async (run) => {
      const sim = run.arm.env!.sim;
      sim.qpos[sim.jointQposAddress('cube')] = 5; // off the table, out of the camera's view
      sim.forward();
      const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 20 });
      const r = await loop.runEpisode();
      expect(r.success).toBe(false);
      expect(r.failure).toMatch(/the cube has not been seen by the 'front' camera/);
      expect(r.steps).toBe(0);
    });
  }, 60_000);

  it('a hold keeps the hand squeezing what it holds (its last gripper command, while recent) instead of opening it to the measured width', async () => {
    await withRun(90_002, { samples: 16, horizon: 2, transitions: 600 }, async (run) => {
      const adapter = run.stages.adapter;
      const q = [0.1, -0.3, 0, -2.2, 0, 1.9, 0.8];
      const holding = (time: number): Observation => ({ images: {}, jointPositions: Float64Array.from([...q, 0.0195]), jointVelocities: new Float64Array(8), time });
      expect(Array.from(adapter.hold(holding(3)))).toEqual([...q, 0.0195]); // nothing commanded yet: the measured state
      const action = Float32Array.from([0, 0, 0, 0, 0, 0, 0, -0.01]);
      const pass = { verdict: 'pass', timeScale: 1, trajectory: { joint_names: [], points: [{ positions: q, time_from_start_s: 0.05 }] } } as unknown as ShieldDecision;
      expect(adapter.toArmAction(pass, action, holding(3), 0.05)[7]).toBeCloseTo(0.0095, 9);
      expect(adapter.hold(holding(3.05))[7]).toBeCloseTo(0.0095, 9); // a halt or overrun right after: still squeezing
      expect(Array.from(adapter.hold(holding(3.05)).subarray(0, 7))).toEqual(q); // the arm holds where it is
      expect(adapter.hold(holding(5))[7]).toBe(0.0195); // a command seconds old is not replayed
      expect(adapter.hold(holding(0))[7]).toBe(0.0195); // nor one from a later time (another episode's clock)
    });
  }, 60_000);

});

describe('holdArmWhileGripping', () => {
  it('zeroes the arm and squeezes while the fingers close, low-passes the arm and squeezes while carrying, and leaves other sub-goals alone', async () => {
    let id = 'descend';
    // The planned gripper step opens the hand (+1 cm): what a cold-started sampler can propose.
    const planned = Float32Array.from([0.04, -0.04, 0.02, 0, 0, 0, 0.01, 0.01, 9, 9, 9, 9, 9, 9, 9, 9]);
    const inner: Planner = {
      horizon: 2,
      actionDim: 8,
      plan: async () => ({ actions: planned.slice(), subgoal: { kind: 'taskGraph', id, index: 0, attempt: 1, complete: false, goal: { latent: new Float32Array(8) } } }) as unknown as PlanResult,
    };
    const p = holdArmWhileGripping(inner, { squeeze_m: 0.01 });
    const plan = async () => Array.from((await p.plan({ z0: new Float32Array(8) }, { latent: new Float32Array(8) }, {})).actions.slice(0, 8));
    expect(await plan()).toEqual(Array.from(planned.slice(0, 8)));
    id = 'close';
    const closing = await plan();
    expect(closing.slice(0, 7)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(closing[7]).toBeCloseTo(-0.01, 6); // the planned step opened the hand; the close squeezes
    id = 'lift'; // from a held arm, the first carrying step is 40 % of the planned one; the hand squeezes
    const lift = await plan();
    expect(lift[0]).toBeCloseTo(0.4 * 0.04, 6);
    expect(lift[7]).toBeCloseTo(-0.01, 6);
    expect((await plan())[0]).toBeCloseTo(0.6 * 0.4 * 0.04 + 0.4 * 0.04, 6);
    id = 'release';
    expect((await plan())[7]).toBeCloseTo(0.01, 6);
  });

  it('every other method is the wrapped planner\'s own, called on it (a surprise reaches the task graph itself)', () => {
    let self: unknown;
    const inner = {
      horizon: 2,
      actionDim: 8,
      plan: async () => ({}) as PlanResult,
      notifySurprise(level: number) {
        self = this;
        return level > 0;
      },
    };
    const p = holdArmWhileGripping(inner, { squeeze_m: 0.01 });
    expect(p.notifySurprise(2)).toBe(true);
    expect(self).toBe(inner);
    expect(p.horizon).toBe(2);
  });
});
