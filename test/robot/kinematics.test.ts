import { seededRandom as rng } from '../helpers/random';
import { describe, expect, it } from 'vitest';
import { KinematicModel } from '../../src/robot/kinematics';
import { loadJointLimitsYaml, mergeJointLimits } from '../../src/robot/jointLimits';
import { loadUrdf, parseUrdf } from '../../src/robot/urdf';
import { makeTransformFromXyzRpy } from '../../src/robot/math';

const ROBOTS = '../shared/data/robots';


type M4 = number[][];
function mul(a: M4, b: M4): M4 {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
}
/** Craig modified DH: Rx(alpha) Tx(a) Rz(theta) Tz(d). */
function craig(a: number, alpha: number, d: number, theta: number): M4 {
  const ca = Math.cos(alpha), sa = Math.sin(alpha), ct = Math.cos(theta), st = Math.sin(theta);
  return [
    [ct, -st, 0, a],
    [st * ca, ct * ca, -sa, -sa * d],
    [st * sa, ct * sa, ca, ca * d],
    [0, 0, 0, 1],
  ];
}
/** Standard DH: Rz(theta) Tz(d) Tx(a) Rx(alpha). */
function standardDh(a: number, alpha: number, d: number, theta: number): M4 {
  const ca = Math.cos(alpha), sa = Math.sin(alpha), ct = Math.cos(theta), st = Math.sin(theta);
  return [
    [ct, -st * ca, st * sa, a * ct],
    [st, ct * ca, -ct * sa, a * st],
    [0, sa, ca, d],
    [0, 0, 0, 1],
  ];
}
const I4: M4 = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];

function frankaDh(q: number[]): M4 {
  const a = [0, 0, 0, 0.0825, -0.0825, 0, 0.088];
  const d = [0.333, 0, 0.316, 0, 0.384, 0, 0];
  const alpha = [0, -Math.PI / 2, Math.PI / 2, Math.PI / 2, -Math.PI / 2, Math.PI / 2, Math.PI / 2];
  let T = I4;
  for (let i = 0; i < 7; i++) T = mul(T, craig(a[i]!, alpha[i]!, d[i]!, q[i]!));
  return mul(T, craig(0, 0, 0.107, 0)); // flange
}

function ur5eDh(q: number[]): M4 {
  const a = [0, -0.425, -0.3922, 0, 0, 0];
  const d = [0.1625, 0, 0, 0.1333, 0.0997, 0.0996];
  const alpha = [Math.PI / 2, 0, 0, Math.PI / 2, -Math.PI / 2, 0];
  // ROS base_link is the DH base rotated by pi about z.
  let T: M4 = [[-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  for (let i = 0; i < 6; i++) T = mul(T, standardDh(a[i]!, alpha[i]!, d[i]!, q[i]!));
  return T;
}

function expectTransformClose(actual: Float64Array, expected: M4, tol: number): void {
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 4; j++) expect(Math.abs(actual[i * 4 + j]! - expected[i]![j]!)).toBeLessThan(tol);
}

function randomConfig(model: KinematicModel, r: () => number): number[] {
  return model.jointNames.map((_, i) => {
    const lo = Number.isFinite(model.lower[i]!) ? model.lower[i]! : -Math.PI;
    const hi = Number.isFinite(model.upper[i]!) ? model.upper[i]! : Math.PI;
    return lo + (hi - lo) * r();
  });
}

describe('forward kinematics against published DH tables', () => {
  for (const variant of ['fer'] as const) {
    it(`${variant}: link8 (flange) pose equals the Craig modified-DH chain at 20 random configurations`, () => {
      const urdf = loadUrdf(`${ROBOTS}/franka/${variant}.urdf`);
      const model = new KinematicModel(urdf, { jointNames: [1, 2, 3, 4, 5, 6, 7].map((i) => `${variant}_joint${i}`) });
      const r = rng(7);
      for (let k = 0; k < 20; k++) {
        const q = randomConfig(model, r);
        expectTransformClose(model.linkTransform(q, `${variant}_link8`), frankaDh(q), 1e-9);
      }
    });
  }

  it('fr3 shares the FER kinematics: its link8 pose matches the same DH table', () => {
    const model = new KinematicModel(loadUrdf(`${ROBOTS}/franka/fr3.urdf`), { jointNames: [1, 2, 3, 4, 5, 6, 7].map((i) => `fr3_joint${i}`) });
    const r = rng(8);
    for (let k = 0; k < 10; k++) {
      const q = randomConfig(model, r);
      expectTransformClose(model.linkTransform(q, 'fr3_link8'), frankaDh(q), 1e-9);
    }
  });

  it('ur5e: wrist_3_link pose equals standard DH (rotated pi about z) at 20 random configurations', () => {
    const model = new KinematicModel(loadUrdf(`${ROBOTS}/ur5e/ur5e.urdf`));
    const r = rng(11);
    for (let k = 0; k < 20; k++) {
      const q = randomConfig(model, r);
      // wrist_3_link matches the DH frame 6 up to the calibration's ~2e-11 offsets.
      expectTransformClose(model.linkTransform(q, 'wrist_3_link'), ur5eDh(q), 1e-8);
    }
  });

  it('ur5e default_kinematics.yaml carries the DH numbers used above', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const k = parse(readFileSync(`${ROBOTS}/ur5e/default_kinematics.yaml`, 'utf8')).kinematics;
    expect(k.shoulder.z).toBe(0.1625);
    expect(k.forearm.x).toBe(-0.425);
    expect(k.wrist_1.x).toBe(-0.3922);
    expect(k.wrist_1.z).toBe(0.1333);
    expect(k.wrist_2.y).toBe(-0.0997);
    expect(k.wrist_3.y).toBeCloseTo(0.0996, 12);
  });

  it('franka kinematics.yaml carries the DH offsets used above', async () => {
    const { parse } = await import('yaml');
    const { readFileSync } = await import('node:fs');
    const k = parse(readFileSync(`${ROBOTS}/franka/fer/kinematics.yaml`, 'utf8'));
    expect(k.joint1.kinematic.z).toBe(0.333);
    expect(k.joint3.kinematic.y).toBe(-0.316);
    expect(k.joint4.kinematic.x).toBe(0.0825);
    expect(k.joint5.kinematic.y).toBe(0.384);
    expect(k.joint7.kinematic.x).toBe(0.088);
    expect(k.joint8.kinematic.z).toBe(0.107);
  });
});

describe('forward kinematics over every kind of joint axis', () => {
  // Axes along +x, +y, -z, -y, -x (the per-axis fast path) and one off every axis (the general
  // rotation), each behind an origin with a translation and a roll-pitch-yaw.
  const axes: [number, number, number][] = [[1, 0, 0], [0, 1, 0], [0, 0, -1], [0, -1, 0], [0.6, 0.8, 0], [-1, 0, 0]];
  const origins = axes.map((_, i) => ({ xyz: [0.1 * i, -0.05, 0.2 + 0.01 * i] as const, rpy: [0.3 - 0.1 * i, 0.2 * i, -0.4 + 0.15 * i] as const }));
  const xml =
    `<robot name="axes"><link name="l0"/>` +
    axes
      .map(
        (a, i) =>
          `<link name="l${i + 1}"/><joint name="j${i + 1}" type="${i === 3 ? 'continuous' : 'revolute'}"><parent link="l${i}"/><child link="l${i + 1}"/>` +
          `<origin xyz="${origins[i]!.xyz.join(' ')}" rpy="${origins[i]!.rpy.join(' ')}"/><axis xyz="${a.join(' ')}"/>` +
          `<limit lower="-3" upper="3" effort="1" velocity="1"/></joint>`,
      )
      .join('') +
    `</robot>`;
  /** Rodrigues' rotation about a unit axis, as a 4x4. */
  const rotation = ([x, y, z]: [number, number, number], t: number): M4 => {
    const n = Math.hypot(x, y, z);
    const [u, v, w] = [x / n, y / n, z / n];
    const c = Math.cos(t), s = Math.sin(t), k = 1 - c;
    return [
      [c + u * u * k, u * v * k - w * s, u * w * k + v * s, 0],
      [v * u * k + w * s, c + v * v * k, v * w * k - u * s, 0],
      [w * u * k - v * s, w * v * k + u * s, c + w * w * k, 0],
      [0, 0, 0, 1],
    ];
  };
  const asM4 = (t: Float64Array): M4 => [0, 1, 2, 3].map((r) => [0, 1, 2, 3].map((c) => t[4 * r + c]!));

  it('every link pose equals the product of origin and axis-angle rotation, joint by joint, at 20 random configurations', () => {
    const model = new KinematicModel(parseUrdf(xml, 'axes.urdf'));
    const r = rng(5);
    for (let k = 0; k < 20; k++) {
      const q = axes.map(() => -3 + 6 * r());
      const all = model.forwardKinematics(q);
      let T = I4;
      for (let i = 0; i < axes.length; i++) {
        T = mul(mul(T, asM4(makeTransformFromXyzRpy(origins[i]!.xyz, origins[i]!.rpy))), rotation(axes[i]!, q[i]!));
        const li = model.indexOfLink(`l${i + 1}`);
        expectTransformClose(all.subarray(li * 16, li * 16 + 16), T, 1e-12);
      }
    }
  });
});

describe('Jacobian', () => {
  const cases = [
    { file: 'franka/fer.urdf', tip: 'fer_hand_tcp', joints: [1, 2, 3, 4, 5, 6, 7].map((i) => `fer_joint${i}`) },
    { file: 'ur5e/ur5e.urdf', tip: 'tool0', joints: undefined },
    { file: 'kinova_gen3/gen3_2f85.urdf', tip: 'gen3_end_effector_link', joints: [1, 2, 3, 4, 5, 6, 7].map((i) => `gen3_joint_${i}`) },
    { file: 'so101/so101_new_calib.urdf', tip: 'gripper_frame_link', joints: ['shoulder_pan', 'shoulder_lift', 'elbow_flex', 'wrist_flex', 'wrist_roll'] },
  ];
  for (const c of cases) {
    it(`${c.file}: columns equal central finite differences of FK (position and rotation)`, () => {
      const model = new KinematicModel(loadUrdf(`${ROBOTS}/${c.file}`), { jointNames: c.joints });
      const r = rng(3);
      const h = 1e-6;
      for (let k = 0; k < 5; k++) {
        const q = randomConfig(model, r);
        const J = model.jacobian(q, c.tip);
        const n = model.dof;
        for (let i = 0; i < n; i++) {
          const qp = q.slice(), qm = q.slice();
          qp[i]! += h;
          qm[i]! -= h;
          const Tp = model.linkTransform(qp, c.tip), Tm = model.linkTransform(qm, c.tip), T = model.linkTransform(q, c.tip);
          for (let a = 0; a < 3; a++) expect(Math.abs((Tp[a * 4 + 3]! - Tm[a * 4 + 3]!) / (2 * h) - J[a * n + i]!)).toBeLessThan(1e-6);
          // dR/dq R^T = [w]x
          const dR = (r1: number, c1: number) => (Tp[r1 * 4 + c1]! - Tm[r1 * 4 + c1]!) / (2 * h);
          const W = (r1: number, c1: number) => dR(r1, 0) * T[c1 * 4]! + dR(r1, 1) * T[c1 * 4 + 1]! + dR(r1, 2) * T[c1 * 4 + 2]!;
          expect(Math.abs(W(2, 1) - J[3 * n + i]!)).toBeLessThan(1e-6);
          expect(Math.abs(W(0, 2) - J[4 * n + i]!)).toBeLessThan(1e-6);
          expect(Math.abs(W(1, 0) - J[5 * n + i]!)).toBeLessThan(1e-6);
        }
      }
    });
  }
});

describe('inverse kinematics', () => {
  it('fer: DLS reaches 20 reachable targets (pose from FK of random configurations) within 1e-5 m / 1e-4 rad, inside the limits', () => {
    const urdf = loadUrdf(`${ROBOTS}/franka/fer.urdf`);
    const joints = [1, 2, 3, 4, 5, 6, 7].map((i) => `fer_joint${i}`);
    const limits = mergeJointLimits(urdf, [loadJointLimitsYaml(`${ROBOTS}/franka/fer/joint_limits.yaml`, urdf.joints.map((j) => j.name))]);
    const model = new KinematicModel(urdf, { jointNames: joints, limits });
    const r = rng(21);
    let converged = 0;
    for (let k = 0; k < 20; k++) {
      const qt = randomConfig(model, r);
      const target = model.linkTransform(qt, 'fer_hand_tcp');
      // Start near the target configuration's neighbourhood is not assumed: start from a perturbed seed.
      const q0 = qt.map((v, i) => Math.min(model.upper[i]!, Math.max(model.lower[i]!, v + (r() - 0.5) * 0.8)));
      const res = model.inverseKinematics(target, { tipLink: 'fer_hand_tcp', q0 });
      for (let i = 0; i < 7; i++) {
        expect(res.q[i]!).toBeGreaterThanOrEqual(model.lower[i]!);
        expect(res.q[i]!).toBeLessThanOrEqual(model.upper[i]!);
      }
      if (res.converged) {
        converged++;
        const T = model.linkTransform(res.q, 'fer_hand_tcp');
        expect(Math.hypot(T[3]! - target[3]!, T[7]! - target[7]!, T[11]! - target[11]!)).toBeLessThan(1e-5);
      }
    }
    expect(converged).toBeGreaterThanOrEqual(18);
  });

  it('ur5e: position-only IK from mid-range reaches targets in front of the robot', () => {
    const model = new KinematicModel(loadUrdf(`${ROBOTS}/ur5e/ur5e.urdf`));
    for (const p of [[0.4, 0.2, 0.3], [-0.3, 0.4, 0.5], [0.5, -0.1, 0.1]] as const) {
      const target = makeTransformFromXyzRpy(p, [0, 0, 0]);
      const res = model.inverseKinematics(target, { tipLink: 'tool0', positionOnly: true, q0: [0, -1.2, 1.2, -1.5, -1.5, 0] });
      expect(res.converged).toBe(true);
      const T = model.linkTransform(res.q, 'tool0');
      expect(Math.hypot(T[3]! - p[0], T[7]! - p[1], T[11]! - p[2])).toBeLessThan(1e-5);
    }
  });

  it('an unreachable target (3 m away) does not converge and the answer still respects the limits', () => {
    const model = new KinematicModel(loadUrdf(`${ROBOTS}/franka/fer.urdf`), { jointNames: [1, 2, 3, 4, 5, 6, 7].map((i) => `fer_joint${i}`) });
    const res = model.inverseKinematics(makeTransformFromXyzRpy([3, 0, 0.5], [0, 0, 0]), { tipLink: 'fer_hand_tcp', positionOnly: true, maxIterations: 100 });
    expect(res.converged).toBe(false);
    expect(res.positionError_m).toBeGreaterThan(1.5);
    for (let i = 0; i < 7; i++) expect(res.q[i]! >= model.lower[i]! && res.q[i]! <= model.upper[i]!).toBe(true);
  });
});
