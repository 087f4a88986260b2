/**
 * push-t in the embedded runtime: the pusher's joint-target-delta adapter
 * through the shield, recorded model actions, the guardrails against the
 * task's own policies, the goal pose read from the goal frame, a whole
 * episode of a fitted state model of the pusher with the block located by
 * perception, and one short episode of an untrained pixel model on the same
 * perception and task graph (planning on the pusher position it decodes).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldModel } from '../../src/addon/types';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import type { Observation } from '../../src/robot/arm';
import { assertStateModelTask, createEmbeddedRun, fitStateModel, modelFromCheckpoint, recordedModelActions, type EmbeddedRun } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
import { loadGuardrails } from '../../src/safety/guardrails';
import { Shield } from '../../src/safety/shield';
import { SimEnv } from '../../src/sim/env';
import { Rng } from '../../src/sim/rng';
import { EVAL_SEEDS, TRAIN_SEEDS } from '../../src/sim/tasks/seeds';
import { WorldMemory } from '../../src/memory/world-memory';
import type { TaskGraphPlanner } from '../../src/planning/index';
import { PushTError, pushTWiring } from '../../src/runtime/push-t';
import { cameraModelOf } from '../../src/sim/camera';
import { blockPose } from '../../src/sim/tasks/push-t';
import { setJoints, stateWith } from '../../src/sim/tasks/types';

/** A validation seed (never an evaluation one) whose episode the fitted pusher model completes. */
const VALIDATION_SEED = 90011;

const cnn = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'push-t-pixels-untrained',
  latent: { tokens: 1, dim: 8 },
  action: { dim: 2 },
  proprio: { dim: 2 },
  encoder: { kind: 'cnn', imageSize: 16, stages: [{ channels: 8, kernel: 4, stride: 2, padding: 1 }, { channels: 8, kernel: 4, stride: 2, padding: 1 }], groups: 4 },
  predictor: { kind: 'mlp', hiddenDims: [16] },
});
const guardrails = loadGuardrails('config/safety/sim-push-t.yaml');
const PERIOD_s = 0.05;

const obsOf = (q: number[], qd: number[] = [0, 0], time = 0): Observation => ({
  images: {},
  jointPositions: Float64Array.from(q),
  jointVelocities: Float64Array.from(qd),
  time,
});

describe('push-t in the embedded runtime', () => {
  let model: WorldModel;
  let run: EmbeddedRun;
  beforeAll(async () => {
    model = await modelFromCheckpoint({ config: cnn, tensors: initWeights(cnn, 3) });
    run = await createEmbeddedRun({ task: 'push-t', seed: EVAL_SEEDS.start, mode: 'eval', model, hierarchy: 'auto', samples: 16, horizon: 3 });
  });
  afterAll(() => {
    run?.close();
    model?.dispose();
  });

  it('compiles its guardrails from the generated pusher description', () => {
    expect(run.guardrails.jointNames).toEqual(['pusher_x', 'pusher_y']);
    expect(guardrails.upper[0]).toBeCloseTo(0.23 - 0.005, 9);
    expect(guardrails.lower[1]).toBeCloseTo(-0.23 + 0.005, 9);
    expect(guardrails.config.keep_out).toEqual([]);
    expect(guardrails.config.watchdog.control_period_s).toBe(run.period_s);
    expect(run.period_s).toBeCloseTo(PERIOD_s, 12);
  });

  it('turns a model action into a pusher target and back through the shield', () => {
    const adapter = run.stages.adapter;
    const shield = new Shield(guardrails, { clock: () => 1 });
    const obs = obsOf([0.05, -0.1], [0.1, -0.2], 1);
    shield.updateJointState({ positions: [0.05, -0.1], velocities: [0.1, -0.2], stamp_s: 1 });
    for (const a of [[0.03, -0.03], [-0.012, 0.02], [0, 0]]) {
      const action = Float32Array.from(a);
      const cmd = adapter.toCommand(action, obs, PERIOD_s, 1);
      expect(cmd.kind).toBe('target');
      const decision = shield.check(cmd);
      expect(decision.verdict).toBe('pass');
      const armAction = adapter.toArmAction(decision, action, obs, PERIOD_s);
      expect(armAction.length).toBe(2);
      expect(armAction[0]).toBeCloseTo(0.05 + action[0]!, 12);
      expect(armAction[1]).toBeCloseTo(-0.1 + action[1]!, 12);
      const back = adapter.modelActionOf(armAction, obs, PERIOD_s);
      expect(back.length).toBe(2);
      for (let j = 0; j < 2; j++) expect(back[j]).toBeCloseTo(action[j]!, 9);
    }
    expect(Array.from(adapter.hold(obs))).toEqual([0.05, -0.1]);
    const g = adapter.guardedState(obs);
    expect(Array.from(g.positions)).toEqual([0.05, -0.1]);
  });

  it('gives recorded model actions as applied target minus pusher position', () => {
    // proprio rows: pusher_x, pusher_y, then their velocities
    const proprio = Float32Array.from([0.1, 0.2, 0, 0, 0.12, 0.18, 0.4, -0.4, 0.13, 0.18, 0.2, 0]);
    const applied = Float32Array.from([0.12, 0.18, 0.13, 0.18]);
    const out = recordedModelActions('push-t', applied, proprio, 2, 4, PERIOD_s);
    const want = [0.02, -0.02, 0.01, 0];
    expect(out.length).toBe(4);
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(want[i]!, 6);
  });

  it('keeps the arm adapter: recorded reach actions are the 7 joint and gripper target deltas', () => {
    const q = [0.1, -0.2, 0.3, -1.5, 0.0, 1.2, 0.7, 0.02];
    const proprio = Float32Array.from([...q, ...Array(8).fill(0), ...q, ...Array(8).fill(0)]);
    const step = [0.01, -0.02, 0.03, -0.04, 0.045, 0, -0.01, 0.005];
    const out = recordedModelActions('reach', Float32Array.from(q.map((v, j) => v + step[j]!)), proprio, 1, 16, PERIOD_s);
    expect(out.length).toBe(8);
    for (let j = 0; j < 8; j++) expect(out[j]).toBeCloseTo(step[j]!, 6);
  });

  it("has guardrails that the scripted and random policies' motions respect", async () => {
    const env = await SimEnv.create({ task: 'push-t', render: false });
    try {
      let now = 0;
      const shield = new Shield(guardrails, { clock: () => now });
      const policies = [
        () => env.task.scriptedPolicy(env.sim, env.goal!),
        () => env.task.randomPolicy(new Rng(11, 1)),
      ];
      let checked = 0;
      for (const [p, make] of policies.entries()) {
        env.reset(TRAIN_SEEDS.start + 3 + p);
        const policy = make();
        let obs = env.observe();
        for (let t = 0; t < 120; t++) {
          const target = policy.act(env.sim);
          // The policy's target lies within the actuators' reach, so within the shield's bounds up to its clamp tolerance.
          for (let j = 0; j < 2; j++) expect(Math.abs(target[j]!)).toBeLessThanOrEqual(guardrails.upper[j]! + guardrails.config.joint_bound_clamp_tolerance + 1e-12);
          const r = env.step(target);
          // What the pusher did in this period, as the target command the shield would have had to pass.
          now = r.observation.time;
          shield.updateJointState({ positions: Array.from(obs.jointPositions), velocities: Array.from(obs.jointVelocities), stamp_s: now });
          const d = shield.check({ kind: 'target', positions: Array.from(r.observation.jointPositions), duration_s: PERIOD_s, stamp_s: now });
          expect(d.verdict, `${p === 0 ? 'scripted' : 'random'} step ${t}: ${d.detail}`).toMatch(/^(pass|clamp)$/);
          expect(d.timeScale).toBe(1);
          checked++;
          obs = r.observation;
        }
      }
      expect(checked).toBe(240);
    } finally {
      env.close();
    }
  });

  it('reads the goal pose from the goal frame, and says so when the block is not in it', async () => {
    const env = await SimEnv.create({ task: 'push-t', render: true, depth: true, imageSize: 128, cameras: ['top'] });
    const memory = WorldMemory.open({ file: ':memory:' });
    try {
      env.reset(VALIDATION_SEED);
      const camera = { name: 'top', model: cameraModelOf(env.sim, 'top') };
      const goalFrame = () => {
        const saved = env.sim.getState();
        env.sim.setState(env.goalSimState());
        try {
          return env.observe().images.top!;
        } finally {
          env.sim.setState(saved);
        }
      };
      const subgoalLatent = async (p: Float32Array) => ({ latent: await model.encode(p, 1) });
      const wiring = pushTWiring({ subgoalLatent, proprioDim: model.dims.proprioDim, memory, camera, goalImage: goalFrame(), scope: 'test' });
      const g = env.goal!.block_pose;
      expect(Math.hypot(wiring.goal.x - g[0]!, wiring.goal.y - g[1]!)).toBeLessThan(0.003);
      expect(Math.abs(Math.atan2(Math.sin(wiring.goal.yaw - g[2]!), Math.cos(wiring.goal.yaw - g[2]!)))).toBeLessThan(0.07);
      // A goal frame with the block moved out of the camera's view (below the floor).
      const hidden = stateWith(env.sim, (s) => setJoints(s, ['block_x', 'block_y'], [5, 5]), [0, 0]);
      const saved = env.sim.getState();
      env.sim.setState(hidden);
      const empty = env.observe().images.top!;
      env.sim.setState(saved);
      expect(() => pushTWiring({ subgoalLatent, proprioDim: 2, memory, camera, goalImage: empty, scope: 'test' })).toThrow(PushTError);
      expect(() => pushTWiring({ subgoalLatent, proprioDim: 2, memory, camera, goalImage: empty, scope: 'test' })).toThrow(/not visible in the goal frame of the 'top' camera/);
    } finally {
      memory.close();
      env.close();
    }
  });

  it('pushes the block to its goal pose with a fitted state model of the pusher, the block seen by perception', async () => {
    // `jepa run/eval --task push-t` without --model or a shipped model fits this one on the spot.
    expect(() => assertStateModelTask('push-t')).not.toThrow();
    const fitted = await modelFromCheckpoint(await fitStateModel('push-t', { transitions: 1500 }));
    const r = await createEmbeddedRun({ task: 'push-t', seed: VALIDATION_SEED, mode: 'train', model: fitted, hierarchy: 'auto' });
    try {
      expect(r.hierarchical).toBe(true);
      const loop = new ControlLoop(r.stages, { controlPeriod_s: r.period_s, planBudget: { maxIterations: 8 }, timing: 'lockstep', maxSteps: r.maxSteps });
      const start = blockPose(r.arm.env!.sim);
      const result = await loop.runEpisode();
      const end = blockPose(r.arm.env!.sim);
      const g = r.arm.env!.goal!.block_pose;
      expect(result.success, `block ended at ${end.x.toFixed(3)}, ${end.y.toFixed(3)}, ${end.yaw.toFixed(2)}; goal ${g.map((v) => v.toFixed(3)).join(', ')}`).toBe(true);
      expect(Math.hypot(start.x - g[0]!, start.y - g[1]!)).toBeGreaterThan(0.05);
      expect(r.perception!.sightings).toBeGreaterThanOrEqual(result.steps);
      expect(r.perception!.pushes).toBeGreaterThanOrEqual(2);
      // One push per pass, and at most one pass begun per tick (a push lasts at least a tick).
      const rewinds = (r.planner as TaskGraphPlanner).history().filter((e) => e.type === 'rewound');
      expect(rewinds.length).toBeGreaterThanOrEqual(1);
      expect(rewinds.length).toBeLessThanOrEqual(r.perception!.pushes! - 1);
      expect(new Set(rewinds.map((e) => e.step)).size).toBe(rewinds.length);
      for (const t of result.ticks) expect(t.verdict).not.toBe('halt');
    } finally {
      r.close();
      fitted.dispose();
    }
  });

  it('runs a short episode of an untrained pixel model through the loop, with the same perception and task graph', async () => {
    // Its input is the 128-px frame scaled to 16 px; its waypoints are scored on the pusher position it
    // decodes, not on latent distance (a frame at the waypoint would also show the block not yet pushed).
    expect(run.hierarchical).toBe(true);
    const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 4 });
    const before = Float64Array.from((await run.arm.getObservation()).jointPositions);
    const planned: { terminal: number; running: number; proprio: boolean }[] = [];
    const rollout = model.rollout.bind(model);
    model.rollout = (req) => {
      if (req.horizon === 3) planned.push({ terminal: req.cost.terminalWeight, running: req.cost.runningWeight ?? 0, proprio: req.returnProprio === true });
      return rollout(req);
    };
    const result = await loop.runEpisode().finally(() => {
      model.rollout = rollout;
    });
    expect(planned.length).toBeGreaterThanOrEqual(4);
    expect(planned.every((p) => p.terminal === 0 && p.running === 0 && p.proprio)).toBe(true);
    expect(result.steps).toBe(4);
    expect(result.ticks).toHaveLength(4);
    for (const t of result.ticks) expect(t.verdict).not.toBe('halt');
    expect(run.perception!.sightings).toBe(4);
    expect(result.ticks.every((t) => t.subgoal !== undefined)).toBe(true);
    const after = (await run.arm.getObservation()).jointPositions;
    expect(Array.from(after).every(Number.isFinite)).toBe(true);
    // Each step moves the pusher by at most the action limit (plus the servo's lag and overshoot).
    expect(Math.hypot(after[0]! - before[0]!, after[1]! - before[1]!)).toBeLessThan(4 * 0.06 * Math.SQRT2 + 0.02);
  });
});
