import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MjJointType, MjSim } from '../../src/sim/mujoco';
import { armSceneXml, ARM_JOINTS, GRIPPER_OPEN_m } from '../../src/sim/scenes/arm';
import { FER_JOINT_LIMITS, PANDA_HOME_rad, downwardRotation, pandaIk, pandaTcp } from '../../src/sim/scenes/panda-kinematics';
import { pushTSceneXml } from '../../src/sim/scenes/push-t';
import { twoRoomsSceneXml, TWO_ROOMS_DOOR_Y_m } from '../../src/sim/scenes/two-rooms';
import { Rng } from '../../src/sim/rng';
import { getJoints, setJoints } from '../../src/sim/tasks/types';

const LIMITS_YAML = '../shared/data/robots/franka/fer/joint_limits.yaml';

describe('arm scene', () => {
  let sim: MjSim;
  beforeAll(async () => {
    sim = await MjSim.fromXml(armSceneXml(), 'arm');
  });
  afterAll(() => sim.free());

  it('encodes exactly the FER joint limits of franka_description', () => {
    const yaml = parse(readFileSync(LIMITS_YAML, 'utf8')) as Record<string, { limit: { lower: number; upper: number; velocity: number; effort: number } }>;
    expect(FER_JOINT_LIMITS.map((l) => l.name)).toEqual(Object.keys(yaml));
    for (const l of FER_JOINT_LIMITS) {
      const y = yaml[l.name].limit;
      expect([l.lower_rad, l.upper_rad, l.velocity_radps, l.effort_Nm]).toEqual([y.lower, y.upper, y.velocity, y.effort]);
    }
  });

  it('compiles those limits into joint ranges, actuator ctrlranges and force ranges', () => {
    const range = sim.model.jnt_range as Float64Array;
    const ctrl = sim.ctrlRange();
    const force = sim.model.actuator_forcerange as Float64Array;
    FER_JOINT_LIMITS.forEach((l, i) => {
      const j = sim.id('joint', l.name);
      expect(range[2 * j]).toBeCloseTo(l.lower_rad, 6);
      expect(range[2 * j + 1]).toBeCloseTo(l.upper_rad, 6);
      const a = sim.id('actuator', `act_${l.name}`);
      expect([ctrl[2 * a], ctrl[2 * a + 1]]).toEqual([expect.closeTo(l.lower_rad, 6), expect.closeTo(l.upper_rad, 6)]);
      expect(force[2 * a + 1]).toBe(l.effort_Nm);
      expect(i).toBe(a);
    });
  });

  it('has the Panda modified-DH kinematics: MuJoCo TCP matches the DH forward kinematics', () => {
    const rng = new Rng(42);
    for (let k = 0; k < 5; k++) {
      const q = FER_JOINT_LIMITS.map((l) => rng.uniform(l.lower_rad, l.upper_rad));
      setJoints(sim, ARM_JOINTS, q);
      sim.forward();
      const fk = pandaTcp(q);
      const p = sim.sitePosition('tcp');
      const R = sim.siteMatrix('tcp');
      for (let i = 0; i < 3; i++) expect(p[i]).toBeCloseTo(fk.p[i], 5);
      for (let i = 0; i < 9; i++) expect(R[i]).toBeCloseTo(fk.R[i], 4);
    }
    // The published home pose puts the TCP 0.307 m in front of the base at 0.487 m height.
    const home = pandaTcp(PANDA_HOME_rad).p;
    expect(home[0]).toBeCloseTo(0.307, 3);
    expect(home[2]).toBeCloseTo(0.487, 3);
  });

  it('solves IK for a downward grasp pose to sub-millimetre accuracy', () => {
    const goal = { R: downwardRotation(0.4), p: Float64Array.of(0.5, -0.15, 0.1) };
    const sol = pandaIk(goal, PANDA_HOME_rad, { iterations: 300 });
    expect(sol.position_m).toBeLessThan(1e-3);
    expect(sol.rotation_rad).toBeLessThan(1e-2);
  });

  it('drives both fingers with one coupled actuator', () => {
    sim.reset();
    setJoints(sim, ARM_JOINTS, PANDA_HOME_rad);
    const act = sim.id('actuator', 'act_gripper');
    expect(sim.nu).toBe(8);
    sim.ctrl.set(PANDA_HOME_rad);
    sim.ctrl[act] = 0.01;
    sim.forward();
    sim.step(500);
    const [l, r] = getJoints(sim, ['finger_left', 'finger_right']);
    expect(l).toBeCloseTo(0.01, 3);
    expect(r).toBeCloseTo(l, 3);
    sim.ctrl[act] = GRIPPER_OPEN_m;
    sim.step(500);
    expect(getJoints(sim, ['finger_right'])[0]).toBeGreaterThan(0.035);
  });

  it('has a fixed front camera and a wrist camera, a free cube and a mocap bin', () => {
    expect(sim.cameraNames()).toEqual(['front', 'wrist']);
    expect((sim.model.jnt_type as Int32Array)[sim.id('joint', 'cube')]).toBe(MjJointType.free);
    expect(sim.mocapIndex('bin')).toBe(0);
  });
});

describe('push-t scene', () => {
  it('has a planar T (slide x, slide y, hinge z; two boxes) that the pusher can push', async () => {
    const sim = await MjSim.fromXml(pushTSceneXml(), 'push-t');
    const types = sim.model.jnt_type as Int32Array;
    expect(['block_x', 'block_y', 'block_yaw'].map((j) => types[sim.id('joint', j)])).toEqual([MjJointType.slide, MjJointType.slide, MjJointType.hinge]);
    const b = sim.id('body', 'tblock');
    expect((sim.model.body_geomnum as Int32Array)[b]).toBe(2);
    expect(sim.cameraNames()).toEqual(['top']);
    // Pusher starts left of the block and is commanded through it along +x.
    setJoints(sim, ['pusher_x', 'pusher_y'], [-0.15, 0]);
    sim.forward();
    sim.ctrl.set([0.1, 0]);
    sim.step(1500);
    const [bx] = getJoints(sim, ['block_x']);
    expect(bx).toBeGreaterThan(0.05);
    // Friction stops it once the pusher stops.
    const x1 = getJoints(sim, ['block_x'])[0];
    sim.step(500);
    expect(Math.abs(getJoints(sim, ['block_x'])[0] - x1)).toBeLessThan(0.002);
    sim.free();
  });
});

describe('two-rooms scene', () => {
  it('blocks the agent at the wall but lets it through the door', async () => {
    const sim = await MjSim.fromXml(twoRoomsSceneXml(), 'two-rooms');
    setJoints(sim, ['agent_x', 'agent_y'], [-0.3, 0.3]);
    sim.forward();
    sim.ctrl.set([0.4, 0]);
    sim.step(2500);
    expect(getJoints(sim, ['agent_x'])[0]).toBeLessThan(-0.05);
    setJoints(sim, ['agent_x', 'agent_y'], [-0.3, TWO_ROOMS_DOOR_Y_m]);
    sim.qvel.fill(0);
    sim.forward();
    sim.step(2500);
    expect(getJoints(sim, ['agent_x'])[0]).toBeGreaterThan(0.3);
    sim.free();
  });
});
