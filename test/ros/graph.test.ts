import { afterEach, describe, expect, it } from 'vitest';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { QOS, type Transport } from '../../ros/src/transport/types';
import { PerceptionNode } from '../../ros/src/nodes/perception';
import { GOAL_KIND, PLAN_STATUS, PLAN_TO_GOAL, PlannerNode, type PlanToGoalFeedback, type PlanToGoalGoal, type PlanToGoalResult } from '../../ros/src/nodes/planner';
import { ShieldNode, type ShieldStatusReport } from '../../ros/src/nodes/shield';
import { durationToSeconds, type JointTrajectoryMsg } from '../../ros/src/nodes/common';
import { CemPlanner } from '../../src/planning/cem';
import { SurpriseMonitor } from '../../src/perception/surprise';
import { FER_HOME, FER_JOINTS, ferGuardrails, graphRegistry, imageMessage, jointStateMessage, sleep, tinyModel, waitFor } from './helpers';

let bus: Transport | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await bus?.shutdown();
  bus = undefined;
});

const EMPTY_POSE = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, pose: { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } } };
const EMPTY_JS = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: [], position: [], velocity: [], effort: [] };

function imageGoal(seed: number, budget: { time_s?: number; iterations?: number } = {}): PlanToGoalGoal {
  return {
    goal_kind: GOAL_KIND.image,
    task_id: '',
    goal_image: imageMessage(32, 24, seed),
    ee_pose: EMPTY_POSE,
    joint_target: EMPTY_JS,
    max_planning_time_s: budget.time_s ?? 0,
    max_iterations: budget.iterations ?? 0,
  };
}

/** Perception, planner and shield on one in-process bus, with a camera and joint-state source and a controller sink. */
function buildGraph(opts: { shieldOverrides?: Record<string, unknown>; plannerOverrides?: Record<string, unknown>; samples?: number } = {}) {
  const b = new InProcessTransport(graphRegistry());
  bus = b;
  const model = tinyModel();
  const perception = new PerceptionNode(b.createNode('perception'), { model, surprise: new SurpriseMonitor({ warmup_ticks: 2 }), log: () => {} });
  const planner = new PlannerNode(
    b.createNode('planner', { parameterOverrides: { joint_names: FER_JOINTS, action_mode: 'delta', step_duration_s: 0.1, ...opts.plannerOverrides } }),
    { model, planner: new CemPlanner(model, { horizon: 4, samples: opts.samples ?? 24, seed: 3, initStd: 0.01, energy: {} }), log: () => {} },
  );
  const shield = new ShieldNode(b.createNode('shield', { parameterOverrides: opts.shieldOverrides }), { guardrails: ferGuardrails(), log: () => {} });
  cleanups.push(() => shield.destroy());
  const src = b.createNode('robot');
  const camera = src.createPublisher('sensor_msgs/msg/Image', '/camera/image_raw', QOS.sensorData);
  const joints = src.createPublisher('sensor_msgs/msg/JointState', '/joint_states', QOS.sensorData);
  const toController: JointTrajectoryMsg[] = [];
  src.createSubscription<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory', '/joint_trajectory_controller/joint_trajectory', (m) => toController.push(m));
  const statuses: ShieldStatusReport[] = [];
  src.createSubscription<{ data: string }>('std_msgs/msg/String', '/shield/status', (m) => statuses.push(JSON.parse(m.data) as ShieldStatusReport));
  const client = src.createActionClient<PlanToGoalGoal, PlanToGoalFeedback, PlanToGoalResult>(PLAN_TO_GOAL, '/planner/plan_to_goal');
  const stream = (q: number[]) => {
    const t = setInterval(() => {
      joints.publish(jointStateMessage(FER_JOINTS, q));
      camera.publish(imageMessage(32, 24, 1));
    }, 20);
    cleanups.push(() => clearInterval(t));
  };
  return { b, model, perception, planner, shield, camera, joints, toController, statuses, client, stream };
}

describe('node graph on the in-process bus', () => {
  it('turns camera frames and joint states into a controller trajectory that stays inside the guardrails', async () => {
    const g = buildGraph();
    g.stream(FER_HOME);
    await waitFor('a latent from perception', () => g.planner.latent !== undefined);
    const h = await g.client.sendGoal(imageGoal(9, { iterations: 8 }));
    expect(h.accepted).toBe(true);
    const r = await h.result();
    expect(r.status).toBe('succeeded');
    expect([PLAN_STATUS.succeeded, PLAN_STATUS.notConverged]).toContain(r.result.status);
    expect(r.result.trajectory.points.length).toBe(4);
    await waitFor('a trajectory at the controller', () => g.toController.some((t) => t.points.length > 1));
    const out = g.toController.find((t) => t.points.length > 1)!;
    // Independent check of what reached the controller, against the compiled guardrails.
    const rails = ferGuardrails();
    expect(out.joint_names).toEqual(FER_JOINTS);
    let prev = FER_HOME;
    let prevT = 0;
    for (const p of out.points) {
      const t = durationToSeconds(p.time_from_start);
      expect(t).toBeGreaterThan(prevT);
      const pos = Array.from(p.positions);
      pos.forEach((q, i) => {
        expect(q).toBeGreaterThanOrEqual(rails.lower[i]!);
        expect(q).toBeLessThanOrEqual(rails.upper[i]!);
        expect(Math.abs(q - prev[i]!) / (t - prevT)).toBeLessThanOrEqual(rails.maxVelocity[i]! + 1e-9);
        // delta actions are bounded to ±0.02 rad per step by the model config
        expect(Math.abs(q - prev[i]!)).toBeLessThanOrEqual(0.02 + 1e-6);
      });
      prev = pos;
      prevT = t;
    }
    const verdicts = g.statuses.filter((s) => s.source === 'command').map((s) => s.verdict);
    expect(verdicts.length).toBeGreaterThan(0);
    expect(['pass', 'scale']).toContain(verdicts[0]);
    expect(g.perception.stats.framesEncoded).toBeGreaterThan(0);
  });

  it('refuses commands with WATCHDOG_TIMEOUT and holds the arm when the camera goes stale', async () => {
    const g = buildGraph({ shieldOverrides: { camera_timeout_s: 0.15 } });
    const js = setInterval(() => g.joints.publish(jointStateMessage(FER_JOINTS, FER_HOME)), 20);
    cleanups.push(() => clearInterval(js));
    g.camera.publish(imageMessage(32, 24, 1)); // one frame, then the camera stops
    await sleep(300);
    const cmd: JointTrajectoryMsg = {
      header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
      joint_names: FER_JOINTS,
      points: [{ positions: FER_HOME.map((q) => q + 0.01), velocities: [], accelerations: [], effort: [], time_from_start: { sec: 1, nanosec: 0 } }],
    };
    const report = await g.shield.handleCommand(cmd);
    expect(report.verdict).toBe('halt');
    expect(report.reasons).toEqual(['WATCHDOG_TIMEOUT']);
    expect(report.detail).toMatch(/camera frame on \/camera\/image_raw is 0\.\d+ s old \(camera_timeout_s 0\.15\)/);
    await waitFor('the status on ~/status', () => g.statuses.some((s) => s.source === 'camera'));
    // The controller got a hold at the measured position, never the command.
    await waitFor('the hold at the controller', () => g.toController.length > 0);
    expect(g.toController.length).toBe(1);
    expect(Array.from(g.toController[0]!.points[0]!.positions)).toEqual(FER_HOME);
    expect(durationToSeconds(g.toController[0]!.points[0]!.time_from_start)).toBe(0.05);

    // With a fresh frame the same command goes through.
    g.camera.publish(imageMessage(32, 24, 2));
    await sleep(20);
    const ok = await g.shield.handleCommand(cmd);
    expect(ok.verdict).not.toBe('halt');
  });

  it('halts on a stale joint state through the Shield watchdog, naming joint state in the detail', async () => {
    const g = buildGraph();
    const b = g.b;
    cleanups.push(() => g.shield.destroy());
    g.shield.destroy();
    const shield = new ShieldNode(b.createNode('shield2', { parameterOverrides: { camera_topic: '', command_topic: '/other/trajectory' } }), {
      guardrails: ferGuardrails({ joint_state_timeout_s: 0.05 }),
      timer: false,
      log: () => {},
    });
    g.joints.publish(jointStateMessage(FER_JOINTS, FER_HOME));
    await sleep(120);
    const report = shield.tick();
    expect(report.verdict).toBe('halt');
    expect(report.reasons).toContain('WATCHDOG_TIMEOUT');
    expect(report.detail).toMatch(/joint state older than 0\.05 s/);
  });

  it('serves plan_to_goal with feedback per round, and cancels a running goal', async () => {
    const g = buildGraph({ plannerOverrides: { iterations_per_round: 2 } });
    g.stream(FER_HOME);
    await waitFor('a latent from perception', () => g.planner.latent !== undefined);
    const feedback: PlanToGoalFeedback[] = [];
    const h = await g.client.sendGoal(imageGoal(4, { iterations: 6 }), (f) => feedback.push(f));
    const r = await h.result();
    expect(r.status).toBe('succeeded');
    expect(r.result.iterations).toBeLessThanOrEqual(6);
    await waitFor('feedback', () => feedback.length > 0);
    expect(feedback[0]!.current_subgoal).toBe('image');
    expect(feedback[0]!.iterations).toBe(2);
    expect(feedback.map((f) => f.rounds)).toEqual(feedback.map((_, i) => i + 1));

    // A long goal, cancelled while planning.
    const long = await g.client.sendGoal(imageGoal(5, { time_s: 30, iterations: 100000 }));
    expect(long.accepted).toBe(true);
    // One goal at a time: a second one is refused while the first plans.
    const second = await g.client.sendGoal(imageGoal(6));
    expect(second.accepted).toBe(false);
    await sleep(100);
    expect(await long.cancel()).toBe(true);
    const rc = await long.result();
    expect(rc.status).toBe('canceled');
    expect(rc.result.status).toBe(PLAN_STATUS.canceled);
    expect(g.planner.stats.canceled).toBe(1);
  });

  it('rejects goals it cannot plan for, saying why', async () => {
    const g = buildGraph();
    const noImage = await g.client.sendGoal({ ...imageGoal(1), goal_image: imageMessage(0, 0, 1) });
    expect(noImage.accepted).toBe(false);
    const task = await g.client.sendGoal({ ...imageGoal(1), goal_kind: GOAL_KIND.task, task_id: 'reach' });
    expect(task.accepted).toBe(false);
    const joints = await g.client.sendGoal({ ...imageGoal(1), goal_kind: GOAL_KIND.joints, joint_target: { ...EMPTY_JS, name: ['fer_joint1'], position: [0] } });
    expect(joints.accepted).toBe(false);
    expect(g.planner.stats.goalsRejected).toBe(3);
  });
});
