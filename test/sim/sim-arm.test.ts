import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Arm } from '../../src/robot/arm';
import { SimArm, SimArmActionError, SimArmClosedError } from '../../src/sim/sim-arm';
import { FER_JOINT_LIMITS } from '../../src/sim/scenes/panda-kinematics';

describe('SimArm on the arm scene', () => {
  let arm: SimArm;
  beforeAll(async () => {
    arm = await SimArm.forTask('reach', { imageSize: 64, seed: 3 });
  });
  afterAll(() => arm.close());

  it('is an Arm with 7 joints + gripper and 8 actuators', () => {
    const a: Arm = arm;
    expect(a.actionDim).toBe(8);
    expect(a.jointNames).toEqual(['joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6', 'joint7', 'finger_left']);
  });

  it('observes joint state and 64x64 images from the front and wrist cameras', async () => {
    const obs = await arm.getObservation();
    expect(Object.keys(obs.images)).toEqual(['front', 'wrist']);
    for (const img of Object.values(obs.images)) {
      expect([img.width, img.height, img.rgb.length]).toEqual([64, 64, 64 * 64 * 3]);
    }
    expect(obs.jointPositions.length).toBe(8);
    expect(obs.jointVelocities.length).toBe(8);
    expect(obs.jointEfforts?.length).toBe(8);
  });

  it('reports the actuator effort that drives a joint towards a new target', async () => {
    const obs = await arm.getObservation();
    const action = Float64Array.of(...Array.from(obs.jointPositions.subarray(0, 7)), 0.04);
    action[0] += 0.5;
    await arm.sendAction(action);
    const e = (await arm.getObservation()).jointEfforts!;
    expect(e[0]).toBeGreaterThan(5);
    expect(e[0]).toBeLessThanOrEqual(87);
    expect(obs.images.front.rgb).not.toEqual(obs.images.wrist.rgb);
  });

  it('clamps actions to the actuator ctrlrange and reports what it applied', async () => {
    const before = (await arm.getObservation()).time;
    const wild = Float64Array.of(10, -10, 0.1, 5, 0, 9, -9, 1);
    const applied = await arm.sendAction(wild);
    expect(applied.action[0]).toBeCloseTo(FER_JOINT_LIMITS[0].upper_rad, 6);
    expect(applied.action[1]).toBeCloseTo(FER_JOINT_LIMITS[1].lower_rad, 6);
    expect(applied.action[2]).toBe(0.1);
    expect(applied.action[3]).toBeCloseTo(FER_JOINT_LIMITS[3].upper_rad, 6);
    expect(applied.action[7]).toBeCloseTo(0.04, 9);
    expect(applied.time - before).toBeCloseTo(arm.controlPeriod_s, 9);
  });

  it('refuses an action of the wrong length', async () => {
    await expect(arm.sendAction(new Float64Array(3))).rejects.toThrow(SimArmActionError);
  });
});

describe('SimArm pacing', () => {
  it('runs faster than real time by default and at wall-clock pace with realtime: true', async () => {
    const fast = await SimArm.forTask('two-rooms', { render: false });
    const slow = await SimArm.forTask('two-rooms', { render: false, realtime: true });
    const run = async (a: SimArm) => {
      const t0 = performance.now();
      for (let i = 0; i < 6; i++) await a.sendAction(Float64Array.of(0.1, 0));
      return (performance.now() - t0) / 1000;
    };
    const tFast = await run(fast);
    const tSlow = await run(slow);
    const simulated = 6 * slow.controlPeriod_s;
    expect(tSlow).toBeGreaterThanOrEqual(simulated * 0.95 - slow.controlPeriod_s);
    expect(tFast).toBeLessThan(simulated / 2);
    await fast.close();
    await slow.close();
    await expect(fast.getObservation()).rejects.toThrow(SimArmClosedError);
  });
});

describe('SimArm on a user model', () => {
  it('drives the Menagerie Panda from its MJCF file (rendering it is covered in mujoco.test.ts)', async () => {
    const arm = await SimArm.fromMjcfFile('../shared/data/robots/panda_mjcf/scene.xml', { render: false });
    expect(arm.jointNames.length).toBe(7);
    expect(arm.actionDim).toBe(7);
    const target = Float64Array.of(0.3, -0.3, 0, -2, 0, 1.8, 0.5);
    for (let i = 0; i < 20; i++) await arm.sendAction(target);
    const obs = await arm.getObservation();
    for (let i = 0; i < 7; i++) expect(Math.abs(obs.jointPositions[i] - target[i])).toBeLessThan(0.05);
    expect(obs.images).toEqual({});
    await arm.close();
  });
});
