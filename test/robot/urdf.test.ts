import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { loadUrdf, parseUrdf } from '../../src/robot/urdf';
import { loadJointLimitsYaml, mergeJointLimits, parseJointLimitsYaml } from '../../src/robot/jointLimits';
import { KinematicModel } from '../../src/robot/kinematics';
import { buildLinkCapsules } from '../../src/robot/capsules';
import { JointLimitsFileError, RobotDescriptionError } from '../../src/robot/errors';

const ROBOTS = '../shared/data/robots';

describe('URDF parsing of the shipped robots', () => {
  it('fer: 7 revolute arm joints with limits and safety_controller, 2 prismatic fingers, finger 2 mimics finger 1', () => {
    const r = loadUrdf(`${ROBOTS}/franka/fer.urdf`);
    expect(r.name).toBe('fer');
    const j4 = r.joints.find((j) => j.name === 'fer_joint4')!;
    expect(j4.type).toBe('revolute');
    expect(j4.limit).toEqual({ lower: -3.0718, upper: -0.0698, velocity: 2.175, effort: 87 });
    expect(j4.safetyController).toEqual({ softLower: -3.0718, softUpper: -0.0698, kPosition: 100, kVelocity: 40 });
    expect(j4.origin.xyz).toEqual([0.0825, 0, 0]);
    expect(j4.origin.rpy[0]).toBeCloseTo(Math.PI / 2, 12);
    const f2 = r.joints.find((j) => j.name === 'fer_finger_joint2')!;
    expect(f2.type).toBe('prismatic');
    expect(f2.mimic).toEqual({ joint: 'fer_finger_joint1', multiplier: 1, offset: 0 });
    const finger = r.links.find((l) => l.name === 'fer_leftfinger')!;
    expect(finger.collisions.map((c) => c.kind)).toEqual(['box', 'box', 'box', 'box']);
    expect(finger.collisions[0]).toMatchObject({ kind: 'box', size_m: [0.022, 0.015, 0.02] });
  });

  it('kinova gen3: continuous joints have no position limits; <joint> entries inside <ros2_control> are not kinematic joints; mimic multiplier -1 is read', () => {
    const r = loadUrdf(`${ROBOTS}/kinova_gen3/gen3_2f85.urdf`);
    const j1 = r.joints.filter((j) => j.name === 'gen3_joint_1');
    expect(j1).toHaveLength(1);
    expect(j1[0]!.type).toBe('continuous');
    expect(j1[0]!.limit).toEqual({ lower: undefined, upper: undefined, velocity: 1.3963, effort: 39 });
    expect(r.joints.find((j) => j.name === 'gen3_robotiq_85_right_knuckle_joint')!.mimic).toEqual({ joint: 'gen3_robotiq_85_left_knuckle_joint', multiplier: -1, offset: 0 });
    const model = new KinematicModel(r);
    expect(model.jointNames.slice(0, 7)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `gen3_joint_${i}`));
    expect(model.lower[0]).toBe(-Infinity);
  });

  it('so101 (new and old calibration): 6 revolute joints; <joint> inside <transmission> is ignored', () => {
    for (const f of ['so101_new_calib', 'so101_old_calib']) {
      const r = loadUrdf(`${ROBOTS}/so101/${f}.urdf`);
      const moving = r.joints.filter((j) => j.type !== 'fixed').map((j) => j.name).sort();
      expect(moving).toEqual(['elbow_flex', 'gripper', 'shoulder_lift', 'shoulder_pan', 'wrist_flex', 'wrist_roll']);
    }
    expect(loadUrdf(`${ROBOTS}/so101/so101_new_calib.urdf`).joints.find((j) => j.name === 'elbow_flex')!.limit).toEqual({ lower: -1.69, upper: 1.69, velocity: 10, effort: 10 });
    expect(loadUrdf(`${ROBOTS}/so101/so101_old_calib.urdf`).joints.find((j) => j.name === 'elbow_flex')!.limit).toEqual({ lower: -0.174533, upper: 3.14159, velocity: 10, effort: 10 });
  });

  it('mimic joints follow their master in FK: fer finger 2 mirrors finger 1', () => {
    const model = new KinematicModel(loadUrdf(`${ROBOTS}/franka/fer.urdf`));
    expect(model.jointNames).toContain('fer_finger_joint1');
    expect(model.jointNames).not.toContain('fer_finger_joint2');
    const q = model.jointNames.map((n) => (n === 'fer_finger_joint1' ? 0.03 : n === 'fer_joint4' ? -1.5 : 0));
    const L = model.linkTransform(q, 'fer_leftfinger'), R = model.linkTransform(q, 'fer_rightfinger');
    expect(Math.hypot(L[3]! - R[3]!, L[7]! - R[7]!, L[11]! - R[11]!)).toBeCloseTo(0.06, 9);
  });
});

describe('joint limits YAML in the three layouts found in ../shared', () => {
  it('franka fer/fr3 joint_limits.yaml (franka_description layout): every parsed limit equals the file and is matched to the prefixed URDF joint', () => {
    for (const v of ['fer', 'fr3']) {
      const urdf = loadUrdf(`${ROBOTS}/franka/${v}.urdf`);
      const path = `${ROBOTS}/franka/${v}/joint_limits.yaml`;
      const parsed = loadJointLimitsYaml(path, urdf.joints.map((j) => j.name));
      expect(parsed.format).toBe('franka_description');
      const file = parseYaml(readFileSync(path, 'utf8'));
      const merged = mergeJointLimits(urdf, [parsed]);
      for (let i = 1; i <= 7; i++) {
        const l = merged.get(`${v}_joint${i}`)!;
        const f = file[`joint${i}`].limit;
        expect([l.lower, l.upper, l.maxVelocity, l.maxEffort]).toEqual([f.lower, f.upper, f.velocity, f.effort]);
        expect(l.sources.maxVelocity).toBe(path);
      }
      expect(merged.get(`${v}_finger_joint1`)!.sources.maxVelocity).toBe('urdf');
    }
  });

  it('ur5e joint_limits.yaml (ros2_control layout with !degrees): positions and velocities convert to radians, efforts kept, acceleration absent', () => {
    const urdf = loadUrdf(`${ROBOTS}/ur5e/ur5e.urdf`);
    const parsed = loadJointLimitsYaml(`${ROBOTS}/ur5e/joint_limits.yaml`, urdf.joints.map((j) => j.name));
    expect(parsed.format).toBe('ros2_control');
    const merged = mergeJointLimits(urdf, [parsed]);
    const elbow = merged.get('elbow_joint')!;
    expect(elbow.lower).toBeCloseTo(-Math.PI, 12);
    expect(elbow.upper).toBeCloseTo(Math.PI, 12);
    expect(elbow.maxVelocity).toBeCloseTo(Math.PI, 12);
    expect(elbow.maxEffort).toBe(150);
    expect(elbow.maxAcceleration).toBeUndefined();
    expect(merged.get('wrist_3_joint')!.maxEffort).toBe(28);
    expect(merged.get('shoulder_pan_joint')!.upper).toBeCloseTo(2 * Math.PI, 12);
  });

  it('kinova joint_limits.yaml (joint_names + maximum_* arrays, $(arg prefix)): velocities and accelerations land on gen3_joint_N', () => {
    const urdf = loadUrdf(`${ROBOTS}/kinova_gen3/gen3_2f85.urdf`);
    const parsed = loadJointLimitsYaml(`${ROBOTS}/kinova_gen3/joint_limits.yaml`, urdf.joints.map((j) => j.name));
    expect(parsed.format).toBe('kinova_arrays');
    const merged = mergeJointLimits(urdf, [parsed]);
    expect(merged.get('gen3_joint_1')!.maxVelocity).toBe(0.8727);
    expect(merged.get('gen3_joint_1')!.maxAcceleration).toBe(1.0);
    expect(merged.get('gen3_joint_7')!.maxAcceleration).toBe(10.0);
    expect(merged.get('gen3_joint_1')!.maxEffort).toBe(39);
  });

  it('ros2_control has_*: false removes a URDF limit, and jerk limits are read', () => {
    const urdf = loadUrdf(`${ROBOTS}/ur5e/ur5e.urdf`);
    const parsed = parseJointLimitsYaml(
      'joint_limits:\n  elbow_joint: { has_effort_limits: false, has_jerk_limits: true, max_jerk: 50.0, has_acceleration_limits: true, max_acceleration: 3.0 }\n',
      'inline.yaml',
      urdf.joints.map((j) => j.name),
    );
    const l = mergeJointLimits(urdf, [parsed]).get('elbow_joint')!;
    expect(l.maxEffort).toBeUndefined();
    expect(l.maxJerk).toBe(50);
    expect(l.maxAcceleration).toBe(3);
    expect(l.maxVelocity).toBeCloseTo(Math.PI, 12);
  });
});

describe('malformed descriptions are refused with the file and field named', () => {
  const ok = '<robot name="r"><link name="a"/><link name="b"/>';
  const cases: [string, string, RegExp][] = [
    ['not XML', '<robot name="r"><link name="a"></robot', /bad\.urdf: /],
    ['missing limit on a revolute joint', `${ok}<joint name="j" type="revolute"><parent link="a"/><child link="b"/><axis xyz="0 0 1"/></joint></robot>`, /bad\.urdf: joint "j"\/limit: a revolute joint needs a <limit> element/],
    ['non-numeric limit', `${ok}<joint name="j" type="revolute"><parent link="a"/><child link="b"/><limit lower="x" upper="1" velocity="1" effort="1"/></joint></robot>`, /joint "j"\/limit@lower: expected a finite number, found "x"/],
    ['unknown parent link', `${ok}<joint name="j" type="fixed"><parent link="zz"/><child link="b"/></joint></robot>`, /joint "j"\/parent@link: unknown link "zz"/],
    ['floating joint', `${ok}<joint name="j" type="floating"><parent link="a"/><child link="b"/></joint></robot>`, /joint "j"@type: unsupported joint type "floating"/],
    ['two roots', `${ok}</robot>`, /bad\.urdf: robot: expected exactly one root link, found 2/],
    ['origin with two numbers', `${ok}<joint name="j" type="fixed"><parent link="a"/><child link="b"/><origin xyz="0 1"/></joint></robot>`, /joint "j"\/origin@xyz: expected three numbers/],
    ['lower above upper', `${ok}<joint name="j" type="prismatic"><parent link="a"/><child link="b"/><axis xyz="1 0 0"/><limit lower="2" upper="1" velocity="1" effort="1"/></joint></robot>`, /lower 2 must be <= upper 1/],
  ];
  for (const [what, xml, msg] of cases)
    it(`URDF ${what}`, () => {
      expect(() => parseUrdf(xml, 'bad.urdf')).toThrow(RobotDescriptionError);
      expect(() => parseUrdf(xml, 'bad.urdf')).toThrow(msg);
    });

  it('a missing URDF file names the path', () => {
    expect(() => loadUrdf('nope/missing.urdf')).toThrow(/nope\/missing\.urdf: file: cannot read/);
  });

  const names = ['fer_joint1', 'fer_joint2', 'fer_finger_joint1'];
  const yamlCases: [string, string, RegExp][] = [
    ['a string velocity', 'joint1:\n  limit: { lower: -1, upper: 1, velocity: fast, effort: 1 }\n', /lim\.yaml: joint1\.limit\.velocity: expected a finite number, found "fast"/],
    ['an unknown joint', 'joint_limits:\n  wrist_9: { has_velocity_limits: true, max_velocity: 1 }\n', /lim\.yaml: joint_limits\.wrist_9: joint "wrist_9" matches no joint/],
    ['has_velocity_limits without max_velocity', 'joint_limits:\n  fer_joint1: { has_velocity_limits: true }\n', /joint_limits\.fer_joint1\.max_velocity: expected a finite number/],
    ['a kinova array of the wrong length', 'joint_names: [joint1, joint2]\nmaximum_velocities: [1.0]\n', /lim\.yaml: maximum_velocities: expected a list of 2 numbers/],
    ['an unknown layout', 'foo: 3\n', /lim\.yaml: \(root\): unrecognised layout/],
    ['broken YAML', 'joint_limits: [\n', /lim\.yaml: yaml: not valid YAML/],
  ];
  for (const [what, text, msg] of yamlCases)
    it(`joint limits YAML with ${what}`, () => {
      expect(() => parseJointLimitsYaml(text, 'lim.yaml', names)).toThrow(JointLimitsFileError);
      expect(() => parseJointLimitsYaml(text, 'lim.yaml', names)).toThrow(msg);
    });
});

describe('collision capsules', () => {
  it('cylinder, sphere and box become capsules that contain them; meshes span link origin to child-joint origin', () => {
    const xml = `<robot name="c"><link name="a"><collision><origin xyz="0 0 0.5"/><geometry><cylinder radius="0.1" length="0.4"/></geometry></collision>
      <collision><origin xyz="1 0 0"/><geometry><sphere radius="0.2"/></geometry></collision>
      <collision><geometry><box size="0.2 0.6 0.4"/></geometry></collision></link>
      <link name="b"><collision><geometry><mesh filename="m.stl"/></geometry></collision></link><link name="c2"/>
      <joint name="j" type="fixed"><parent link="a"/><child link="b"/></joint>
      <joint name="k" type="fixed"><parent link="b"/><child link="c2"/><origin xyz="0 0.3 0.4"/></joint></robot>`;
    const model = new KinematicModel(parseUrdf(xml, 'c.urdf'));
    const caps = buildLinkCapsules(model, { meshRadius_m: 0.05 });
    expect(caps[0]).toMatchObject({ link: 'a', a: [0, 0, 0.3], b: [0, 0, 0.7], radius_m: 0.1, from: 'cylinder' });
    expect(caps[1]).toMatchObject({ a: [1, 0, 0], b: [1, 0, 0], radius_m: 0.2 });
    expect(caps[2]).toMatchObject({ a: [0, -0.3, 0], b: [0, 0.3, 0], from: 'box' });
    expect(caps[2]!.radius_m).toBeCloseTo(Math.hypot(0.1, 0.2), 12);
    expect(caps[3]).toMatchObject({ link: 'b', a: [0, 0, 0], b: [0, 0.3, 0.4], radius_m: 0.05, from: 'mesh' });
  });
});
