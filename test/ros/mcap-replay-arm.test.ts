// McapReplayArm on a rosbag2 MCAP file written here with the project's BagWriter and the real
// .msg definitions (the shared rosbag2 test bags hold no sensor_msgs/JointState): stepping one
// control period per action, stopping at the end of the bag, the control loop on it, the
// recorded commands beside the replayed ones, its errors, and `jepa run --robot mcap`.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { McapReplayArm } from '../../ros/src/arm/mcap-replay-arm';
import { BagWriter } from '../../ros/src/bag/mcap';
import { TOPICS } from '../../ros/src/bag/topics';
import { type JointTrajectoryMsg, jointTrajectory, secondsToTime } from '../../ros/src/nodes/common';
import { createReferenceModel } from '../../src/addon/reference';
import { runJepa as jepa } from '../helpers/cli';
import { saveCheckpoint } from '../../src/model/checkpoint';
import { createArmRun } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
import { ARM_PROPRIO_JOINTS } from '../../src/sim/tasks/arm-common';
import { linearCheckpoint } from '../../src/train/linear';
import { imageMessage, masterRegistry } from './helpers';

const NAMES = [...ARM_PROPRIO_JOINTS];
const START = [0, -0.785, 0, -2.356, 0, 1.571, 0.785, 0.02];
const PERIOD_s = 0.05;
const T0_s = 1000;
const STATES = 12;
const dir = mkdtempSync(join(tmpdir(), 'mcap-arm-'));
const bag = join(dir, 'arm.mcap');

/** Joint positions of recorded state k: joint1 ramps by 0.01 rad per period. */
const recordedQ = (k: number) => START.map((v, i) => (i === 0 ? v + 0.01 * k : v));

function identityCheckpoint() {
  const S = NAMES.length;
  const W = new Float64Array(S * 2 * S);
  for (let i = 0; i < S; i++) W[i * 2 * S + S + i] = 1;
  return linearCheckpoint('identity', { W, b: new Float64Array(S), rmse: new Float64Array(S) }, { stateDim: S, actionDim: S, frameskip: 25 }, {});
}

beforeAll(async () => {
  const reg = masterRegistry();
  const w = await BagWriter.create(bag);
  const js = reg.codec('sensor_msgs/msg/JointState');
  const img = reg.codec('sensor_msgs/msg/Image');
  const traj = reg.codec<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory');
  await w.addTopic(TOPICS.jointStates, 'sensor_msgs/msg/JointState', reg.schemaText('sensor_msgs/msg/JointState'));
  await w.addTopic(TOPICS.image, 'sensor_msgs/msg/Image', reg.schemaText('sensor_msgs/msg/Image'));
  await w.addTopic(TOPICS.command, 'trajectory_msgs/msg/JointTrajectory', reg.schemaText('trajectory_msgs/msg/JointTrajectory'));
  const order = [...NAMES.keys()].reverse(); // recorded in another order than the arm's
  for (let k = 0; k < STATES; k++) {
    const t = T0_s + k * PERIOD_s;
    const ns = BigInt(Math.round(t * 1e9));
    const q = recordedQ(k);
    await w.write(TOPICS.jointStates, js.encode({ header: { stamp: secondsToTime(t), frame_id: '' }, name: order.map((i) => NAMES[i]), position: order.map((i) => q[i]), velocity: [], effort: [] }), ns);
    if (k % 2 === 0) await w.write(TOPICS.image, img.encode(imageMessage(4, 4, k, secondsToTime(t))), ns);
    // The recorded command for this state: joint1 0.02 further (only the 7 arm joints, as the shield sends).
    await w.write(TOPICS.command, traj.encode(jointTrajectory(NAMES.slice(0, 7), [{ positions: q.slice(0, 7).map((v, i) => (i === 0 ? v + 0.02 : v)), time_from_start_s: PERIOD_s }])), ns);
  }
  await w.close();
});

describe('McapReplayArm', () => {
  it('steps one control period per action through the bag and is done at its end', async () => {
    const arm = await McapReplayArm.open({ bag, jointNames: NAMES, controlPeriod_s: PERIOD_s });
    try {
      let k = 0;
      while (!arm.done) {
        const o = await arm.getObservation();
        expect(o.time).toBeCloseTo(T0_s + k * PERIOD_s, 6);
        expect(Array.from(o.jointPositions)).toEqual(recordedQ(k).map((v) => expect.closeTo(v, 12)));
        if (k > 0) expect(o.jointVelocities[0]).toBeCloseTo(0.01 / PERIOD_s, 6);
        // A frame every other state: the latest one at or before the cursor.
        expect(Array.from(o.images.camera!.rgb.subarray(0, 3))).toEqual(Array.from(imageMessage(4, 4, k - (k % 2)).data.subarray(0, 3)));
        const sent = Float64Array.from(o.jointPositions, (v, i) => (i === 0 ? v + 0.015 : v));
        const applied = await arm.sendAction(sent);
        expect(Array.from(applied.action)).toEqual(Array.from(sent));
        k++;
      }
      expect(k).toBe(STATES);
      await expect(arm.getObservation()).rejects.toThrow(/reached the end of the bag/);
      await expect(arm.sendAction(new Float64Array(8))).rejects.toThrow(/reached the end of the bag/);
      // Each replayed command sits beside the one recorded for the same observation.
      expect(arm.commands).toHaveLength(STATES);
      for (const [i, c] of arm.commands.entries()) {
        expect(c.recorded![0]! - c.action[0]!).toBeCloseTo(0.005, 9);
        expect(c.recorded![3]).toBeCloseTo(START[3]!, 9);
        expect(Number.isNaN(c.recorded![7])).toBe(true); // the recorded command does not name the gripper
        expect(c.time_s).toBeCloseTo(T0_s + i * PERIOD_s, 6);
      }
    } finally {
      await arm.close();
    }
  });

  it('repeats the latest state when the cursor moves faster than the recording', async () => {
    const arm = await McapReplayArm.open({ bag, jointNames: NAMES, controlPeriod_s: PERIOD_s / 2 });
    try {
      let steps = 0;
      while (!arm.done) {
        const o = await arm.getObservation();
        expect(o.jointPositions[0]).toBeCloseTo(recordedQ(Math.floor(steps / 2))[0]!, 12);
        await arm.sendAction(o.jointPositions);
        steps++;
      }
      expect(steps).toBe(2 * STATES - 1);
    } finally {
      await arm.close();
    }
  });

  it('runs a ControlLoop episode that ends with the bag', async () => {
    const arm = await McapReplayArm.open({ bag, jointNames: NAMES, controlPeriod_s: PERIOD_s });
    const ck = identityCheckpoint();
    const goal = START.map((v, i) => (i === 1 ? v + 0.3 : v));
    try {
      const run = await createArmRun({ task: 'reach', arm, model: createReferenceModel(ck.config, ck.tensors), goalJoints: goal, controlPeriod_s: PERIOD_s, clock: () => arm.now(), samples: 32, horizon: 3 });
      const loop = new ControlLoop(run.stages, { controlPeriod_s: PERIOD_s, planBudget: { maxIterations: 3, maxTime_ms: 1000 }, timing: 'lockstep', maxSteps: 1000 });
      const r = await loop.runEpisode();
      expect(r.armDone).toBe(true);
      expect(r.success).toBe(false);
      expect(r.steps).toBe(STATES);
      expect(arm.commands).toHaveLength(STATES);
      // The planner heads for the goal: joint2 commanded up from each recorded state, within the shield's step.
      for (const [k, c] of arm.commands.entries()) {
        expect(c.action[1]! - recordedQ(k)[1]!).toBeGreaterThan(0);
        expect(c.action[1]! - recordedQ(k)[1]!).toBeLessThanOrEqual(run.guardrails.maxVelocity[1]! * PERIOD_s + 1e-9);
      }
    } finally {
      await arm.close();
    }
  });

  it('names what is missing: the JointState topic, or joints', async () => {
    await expect(McapReplayArm.open({ bag: '../shared/data/mcap/rosbag2_py/test/resources/mcap/talker/talker.mcap', jointNames: NAMES, controlPeriod_s: PERIOD_s })).rejects.toThrow(
      /no sensor_msgs\/msg\/JointState on \/joint_states; the bag's topics: .*\/topic \(std_msgs\/msg\/String\)/,
    );
    await expect(McapReplayArm.open({ bag, jointNames: [...NAMES, 'joint9'], controlPeriod_s: PERIOD_s })).rejects.toThrow(/lacks joint joint9/);
    await expect(McapReplayArm.open({ bag, jointNames: NAMES, controlPeriod_s: PERIOD_s, imageTopic: '/nope' })).rejects.toThrow(/no sensor_msgs\/msg\/Image on \/nope/);
  });
});


describe('jepa run --robot mcap', () => {
  it('replays the bag through the loop to its end and compares with the recorded commands', async () => {
    const ckpt = join(dir, 'identity');
    const ck = identityCheckpoint();
    await saveCheckpoint(ckpt, ck.config, ck.tensors);
    const common = ['run', '--task', 'reach', '--robot', 'mcap', '--bag', bag, '--model', ckpt, '--backend', 'reference', '--samples', '32', '--horizon', '3', '--iterations', '3', '--json'];
    const far = START.map((v, i) => (i === 1 ? v + 0.3 : v)).join(',');
    const r = await jepa([...common, '--goal-joints', far]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({ task: 'reach', robot: 'mcap', success: false, endOfBag: true, steps: STATES, recordedCommandsCompared: STATES });
    expect(s.meanAbsDiffToRecorded).toBeGreaterThan(0);
    // Without --goal-joints the goal is the bag's last joint state: reached once the replay is within
    // the 0.02 rad tolerance of it (state 10 of 0..11, joint1 0.01 short), before the bag ends.
    const last = JSON.parse((await jepa(common)).out);
    expect(last).toMatchObject({ success: true, steps: STATES - 1 });
    expect(last.endOfBag).toBeUndefined();
  });

  it('refuses a malformed --goal-joints, a missing --bag, and a velocity task, with clear errors', async () => {
    const bad = await jepa(['run', '--task', 'reach', '--robot', 'mcap', '--bag', bag, '--goal-joints', '0.1,x']);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/--goal-joints must be comma-separated numbers/);
    const noBag = await jepa(['run', '--task', 'reach', '--robot', 'mcap']);
    expect(noBag.err).toMatch(/--robot mcap needs --bag FILE/);
    const rooms = await jepa(['run', '--task', 'two-rooms', '--robot', 'mcap', '--bag', bag]);
    expect(rooms.err).toMatch(/joint position targets \(reach\); 'two-rooms' runs on the simulator only/);
    const short = await jepa(['run', '--task', 'reach', '--robot', 'mcap', '--bag', bag, '--goal-joints', '0.1,0.2', '--model', join(dir, 'identity'), '--backend', 'reference']);
    expect(short.err).toMatch(/the goal needs 8 finite joint positions \(joint1, .*finger_left\); got 2/);
  });
});
