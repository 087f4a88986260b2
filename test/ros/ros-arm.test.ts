// RosArm over the in-process transport with the real .msg definitions: a ControlLoop episode
// against a test driver on the same bus that follows the JointTrajectory commands, and the
// arm's errors (first-message timeout, missing joints, stale data, bad actions).
import { afterEach, describe, expect, it } from 'vitest';
import { RosArm } from '../../ros/src/arm/ros-arm';
import { TOPICS } from '../../ros/src/bag/topics';
import { type JointStateMsg, type JointTrajectoryMsg, durationToSeconds } from '../../ros/src/nodes/common';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { QOS, type Transport } from '../../ros/src/transport/types';
import { createReferenceModel } from '../../src/addon/reference';
import { createArmRun } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
import { ARM_PROPRIO_JOINTS } from '../../src/sim/tasks/arm-common';
import { linearCheckpoint } from '../../src/train/linear';
import { imageMessage, masterRegistry, sleep } from './helpers';

const NAMES = [...ARM_PROPRIO_JOINTS];
const START = [0, -0.785, 0, -2.356, 0, 1.571, 0.785, 0.02];
const PERIOD_s = 0.05; // the reach task's control period (25 × 2 ms)

/** The exact dynamics of a position-target arm in model-action space: next joints = joints + action. */
function identityModel() {
  const S = NAMES.length;
  const W = new Float64Array(S * 2 * S);
  for (let i = 0; i < S; i++) W[i * 2 * S + S + i] = 1;
  const ck = linearCheckpoint('identity', { W, b: new Float64Array(S), rmse: new Float64Array(S) }, { stateDim: S, actionDim: S, frameskip: 25 }, {});
  return createReferenceModel(ck.config, ck.tensors);
}

/**
 * A driver on the bus: publishes JointState every 5 ms (joints in reverse order plus one the arm
 * does not use) and moves linearly to each commanded point over its time_from_start.
 */
function testDriver(bus: Transport, start: number[]) {
  const node = bus.createNode('test_driver');
  const pub = node.createPublisher<JointStateMsg>('sensor_msgs/msg/JointState', TOPICS.jointStates, QOS.sensorData);
  const commands: JointTrajectoryMsg[] = [];
  let from = [...start], to = [...start], t0 = 0, dur_ms = 0;
  const current = () => {
    const f = dur_ms > 0 ? Math.min(1, (performance.now() - t0) / dur_ms) : 1;
    return from.map((a, i) => a + f * (to[i]! - a));
  };
  node.createSubscription<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory', TOPICS.command, (m) => {
    commands.push(m);
    const p = m.points.at(-1)!;
    from = current();
    to = NAMES.map((n) => p.positions[m.joint_names.indexOf(n)]!);
    t0 = performance.now();
    dur_ms = durationToSeconds(p.time_from_start) * 1000;
  });
  const timer = setInterval(() => {
    const q = current();
    const order = [...NAMES.keys()].reverse();
    pub.publish({
      header: { stamp: node.now(), frame_id: '' },
      name: [...order.map((i) => NAMES[i]!), 'finger_right'],
      position: [...order.map((i) => q[i]!), 0.02],
      velocity: [],
      effort: [],
    });
  }, 5);
  return { commands, current, stop: () => (clearInterval(timer), node.destroy()) };
}

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

async function setup(goal: number[], maxSteps: number, start = START) {
  const bus = new InProcessTransport(masterRegistry());
  const driver = testDriver(bus, start);
  const arm = new RosArm(bus, { jointNames: NAMES, controlPeriod_s: PERIOD_s });
  cleanup.push(() => bus.shutdown(), () => arm.close(), () => driver.stop());
  const run = await createArmRun({ task: 'reach', arm, model: identityModel(), goalJoints: goal, controlPeriod_s: PERIOD_s, clock: () => arm.now(), samples: 64, horizon: 4 });
  const loop = new ControlLoop(run.stages, { controlPeriod_s: PERIOD_s, planBudget: { maxIterations: 6, maxTime_ms: 30 }, timing: 'realtime', maxSteps });
  return { bus, driver, arm, run, loop };
}

const dist = (q: number[], g: number[], n = 7) => Math.max(...q.slice(0, n).map((v, i) => Math.abs(v - g[i]!)));

describe('ControlLoop on RosArm (in-process transport, real .msg definitions)', () => {
  it('drives the test driver to a joint goal; every command on the wire is one shield-checked point', async () => {
    const goal = [0.2, -0.6, 0.15, -2.1, 0.1, 1.7, 0.65, 0.02];
    const { driver, run, loop } = await setup(goal, 60);
    const r = await loop.runEpisode();
    await sleep(20);
    expect(r.success).toBe(true);
    // Success is judged on the last JointState the arm read (every joint within 0.02 rad); the
    // driver then finishes the point it was moving to, which the planner chose one tick earlier
    // with sampling noise, so where it stops is checked with one planning step's slack.
    expect(dist(driver.current(), goal)).toBeLessThan(0.05);
    expect(dist(driver.current(), goal)).toBeLessThan(dist(START, goal) / 5);
    // One command per tick, each one point at the control period, inside the guardrails' limits.
    expect(driver.commands.length).toBe(r.steps);
    const g = run.guardrails;
    for (const c of driver.commands) {
      expect(c.joint_names).toEqual(NAMES);
      expect(c.points).toHaveLength(1);
      expect(durationToSeconds(c.points[0]!.time_from_start)).toBeCloseTo(PERIOD_s, 9);
      for (let j = 0; j < g.jointNames.length; j++) {
        expect(c.points[0]!.positions[j]!).toBeGreaterThanOrEqual(g.lower[j]!);
        expect(c.points[0]!.positions[j]!).toBeLessThanOrEqual(g.upper[j]!);
      }
    }
    // No step commanded faster than the joint's velocity limit allows (from the state it was planned on).
    for (let k = 1; k < driver.commands.length; k++) {
      const a = driver.commands[k - 1]!.points[0]!.positions, b = driver.commands[k]!.points[0]!.positions;
      for (let j = 0; j < g.jointNames.length; j++) expect(Math.abs(b[j]! - a[j]!)).toBeLessThanOrEqual(2 * g.maxVelocity[j]! * PERIOD_s + 1e-9);
    }
    expect(r.ticks.every((t) => ['pass', 'scale', 'clamp', 'overrun-hold', 'surprise-hold'].includes(t.verdict))).toBe(true);
  }, 30_000);

  it('keeps every command inside the joint limits when the goal lies beyond one', async () => {
    const { run } = await setup(START, 1); // the guardrails of the task
    const j4 = 3;
    const upper = run.guardrails.upper[j4]!;
    const start = [...START];
    start[j4] = upper - 0.3;
    const goal = [...start];
    goal[j4] = upper + 0.3;
    const { driver, loop } = await setup(goal, 30, start);
    const r = await loop.runEpisode();
    expect(r.success).toBe(false);
    const commanded = driver.commands.map((c) => c.points[0]!.positions[j4]!);
    expect(Math.max(...commanded)).toBeLessThanOrEqual(upper);
    // It did head for the goal: up to the limit band, not stuck at the start.
    expect(Math.max(...commanded)).toBeGreaterThan(upper - 0.25);
  }, 30_000);
});

describe('RosArm errors', () => {
  function bare(options: Partial<ConstructorParameters<typeof RosArm>[1]> = {}) {
    const bus = new InProcessTransport(masterRegistry());
    const arm = new RosArm(bus, { jointNames: NAMES, controlPeriod_s: PERIOD_s, ...options });
    cleanup.push(() => bus.shutdown(), () => arm.close());
    const node = bus.createNode('publisher');
    const joints = node.createPublisher<JointStateMsg>('sensor_msgs/msg/JointState', TOPICS.jointStates, QOS.sensorData);
    const image = node.createPublisher('sensor_msgs/msg/Image', TOPICS.image, QOS.sensorData);
    return { bus, arm, node, joints, image };
  }
  const state = (names: string[], q: number[], stamp = { sec: 0, nanosec: 0 }) => ({ header: { stamp, frame_id: '' }, name: names, position: q, velocity: [], effort: [] });

  it('times out waiting for the first joint state, naming the topic', async () => {
    const { arm } = bare({ firstMessageTimeout_s: 0.1 });
    await expect(arm.getObservation()).rejects.toThrow(/no sensor_msgs\/msg\/JointState on \/joint_states within 0\.1 s/);
  });

  it('times out waiting for the first camera frame, naming the image topic', async () => {
    const { arm, joints } = bare({ firstMessageTimeout_s: 0.1, imageTopic: TOPICS.image });
    joints.publish(state(NAMES, START));
    await expect(arm.getObservation()).rejects.toThrow(/no sensor_msgs\/msg\/Image on \/camera\/image_raw within 0\.1 s/);
  });

  it('names the joints a JointState lacks', async () => {
    const { arm, joints } = bare();
    joints.publish(state(NAMES.filter((n) => n !== 'joint3' && n !== 'finger_left'), [0, 0, 0, 0, 0, 0]));
    await expect(arm.getObservation()).rejects.toThrow(/lacks joints joint3, finger_left/);
  });

  it('refuses a joint state older than maxAge_s', async () => {
    const { arm, joints } = bare({ maxAge_s: 0.05 });
    joints.publish(state(NAMES, START));
    await arm.getObservation(); // fresh: fine
    await sleep(120);
    await expect(arm.getObservation()).rejects.toThrow(/JointState on \/joint_states is 0\.\d+ s old \(limit 0\.05 s\)/);
  });

  it('reorders joints by name, differentiates positions when no velocities come, decodes bgr8 frames', async () => {
    const { arm, joints, image } = bare({ imageTopic: TOPICS.image, cameraName: 'front' });
    const rev = [...NAMES].reverse();
    joints.publish(state(rev, [...START].reverse(), { sec: 10, nanosec: 0 }));
    image.publish(imageMessage(2, 2, 3, { sec: 10, nanosec: 0 }, 'bgr8'));
    const o1 = await arm.getObservation();
    expect(Array.from(o1.jointPositions)).toEqual(START);
    expect(o1.time).toBe(10);
    const src = imageMessage(2, 2, 3, undefined, 'bgr8').data;
    expect(Array.from(o1.images.front!.rgb.subarray(0, 3))).toEqual([src[2], src[1], src[0]]);
    const moved = START.map((v, i) => (i === 0 ? v + 0.1 : v));
    joints.publish(state(NAMES, moved, { sec: 10, nanosec: 500_000_000 }));
    await sleep(10);
    const o2 = await arm.getObservation();
    expect(o2.jointVelocities[0]).toBeCloseTo(0.2, 9);
    expect(o2.jointVelocities[1]).toBe(0);
  });

  it('refuses actions of the wrong length or with non-finite values, and use after close', async () => {
    const { arm } = bare();
    await expect(arm.sendAction(new Float64Array(3))).rejects.toThrow(/3 values for 8 joints/);
    await expect(arm.sendAction(Float64Array.from(START.map((v, i) => (i === 2 ? NaN : v))))).rejects.toThrow(/joint3 is NaN/);
    await arm.close();
    await expect(arm.getObservation()).rejects.toThrow(/was closed/);
  });

  it('refuses bad options with the option named', () => {
    const bus = new InProcessTransport(masterRegistry());
    cleanup.push(() => bus.shutdown());
    expect(() => new RosArm(bus, { jointNames: NAMES, controlPeriod_s: 0 })).toThrow(/controlPeriod_s/);
    expect(() => new RosArm(bus, { jointNames: ['a', 'a'], controlPeriod_s: 0.05 })).toThrow(/repeat/);
  });
});
