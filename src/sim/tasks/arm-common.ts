/**
 * Pieces the arm tasks (reach, pick-place) share: proprioception joints,
 * TCP pose read from the simulator, a Cartesian controller that turns a TCP
 * target into bounded joint-position targets (IK on the scene's own FK), and
 * the random policy (a smooth random walk of joint targets).
 */
import type { MjSim } from '../mujoco';
import { Rng } from '../rng';
import { ARM_JOINTS, GRIPPER_OPEN_m, GRIPPER_CLOSED_m } from '../scenes/arm';
import { FER_JOINT_LIMITS, PANDA_HOME_rad, downwardRotation, pandaIk, pandaTcp, type Pose } from '../scenes/panda-kinematics';
import { clampToCtrlRange, getJoints, type Policy } from './types';

export const ARM_PROPRIO_JOINTS = [...ARM_JOINTS, 'finger_left'] as const;
/** Largest joint-target change per control step (rad); keeps scripted motion smooth. */
export const ARM_MAX_TARGET_STEP_rad = 0.12;

export function armJointPositions(sim: MjSim): Float64Array {
  return getJoints(sim, ARM_JOINTS);
}

/** TCP pose (world = arm base frame) from the simulator. */
export function tcpPose(sim: MjSim): Pose {
  return { R: sim.siteMatrix('tcp'), p: Float64Array.from(sim.sitePosition('tcp')) };
}

/** Position (m) and rotation (rad) distance between two poses. */
export function poseDistance(a: Pose, b: Pose): { position_m: number; rotation_rad: number } {
  let tr = 0;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) tr += a.R[3 * i + j] * b.R[3 * i + j];
  const c = Math.max(-1, Math.min(1, (tr - 1) / 2));
  return { position_m: Math.hypot(a.p[0] - b.p[0], a.p[1] - b.p[1], a.p[2] - b.p[2]), rotation_rad: Math.acos(c) };
}

/** Rotation matrix (row-major) for axis-angle vector w (rad). */
function expSo3(w: [number, number, number]): Float64Array {
  const th = Math.hypot(...w);
  if (th < 1e-12) return Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1);
  const [x, y, z] = [w[0] / th, w[1] / th, w[2] / th];
  const c = Math.cos(th), s = Math.sin(th), C = 1 - c;
  return Float64Array.of(c + x * x * C, x * y * C - z * s, x * z * C + y * s, y * x * C + z * s, c + y * y * C, y * z * C - x * s, z * x * C - y * s, z * y * C + x * s, c + z * z * C);
}

/** Axis-angle vector of Rg * R^T (rotation taking R to Rg, world frame). */
function logSo3Between(R: Float64Array, Rg: Float64Array): [number, number, number] {
  const E = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) E[3 * i + j] = Rg[3 * i] * R[3 * j] + Rg[3 * i + 1] * R[3 * j + 1] + Rg[3 * i + 2] * R[3 * j + 2];
  const c = Math.max(-1, Math.min(1, (E[0] + E[4] + E[8] - 1) / 2));
  const th = Math.acos(c);
  const v: [number, number, number] = [E[7] - E[5], E[2] - E[6], E[3] - E[1]];
  const n = Math.hypot(...v);
  if (n < 1e-9) return [0, 0, 0];
  return [(v[0] / n) * th, (v[1] / n) * th, (v[2] / n) * th];
}

function matMul3(A: Float64Array, B: Float64Array): Float64Array {
  const C = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
  return C;
}

/**
 * Cartesian controller: each call moves an intermediate TCP target at most
 * `maxLinear_m` / `maxAngular_rad` along the straight line (and shortest
 * rotation) from the current TCP pose to the goal, solves IK for it from the
 * measured joints, and returns the 8-dim action (7 joint targets + gripper
 * opening), joint targets moving at most ARM_MAX_TARGET_STEP_rad per call.
 */
export class CartesianController {
  constructor(
    private readonly maxLinear_m = 0.03,
    private readonly maxAngular_rad = 0.2,
  ) {}

  act(sim: MjSim, goal: Pose, gripper_m: number, maxStep_rad = ARM_MAX_TARGET_STEP_rad, maxLinear_m = this.maxLinear_m): Float64Array {
    const q = armJointPositions(sim);
    const cur = tcpPose(sim);
    const dp = [goal.p[0] - cur.p[0], goal.p[1] - cur.p[1], goal.p[2] - cur.p[2]];
    const dist = Math.hypot(dp[0], dp[1], dp[2]);
    const k = dist > maxLinear_m ? maxLinear_m / dist : 1;
    const w = logSo3Between(cur.R, goal.R);
    const ang = Math.hypot(...w);
    const kr = ang > this.maxAngular_rad ? this.maxAngular_rad / ang : 1;
    const via: Pose = {
      p: Float64Array.of(cur.p[0] + k * dp[0], cur.p[1] + k * dp[1], cur.p[2] + k * dp[2]),
      R: kr === 1 ? goal.R : matMul3(expSo3([w[0] * kr, w[1] * kr, w[2] * kr]), cur.R),
    };
    const sol = pandaIk(via, q, { iterations: 40 });
    const action = new Float64Array(8);
    for (let i = 0; i < 7; i++) action[i] = q[i] + Math.max(-maxStep_rad, Math.min(maxStep_rad, sol.q[i] - q[i]));
    action[7] = gripper_m;
    return clampToCtrlRange(sim, action);
  }
}

/** Random walk of joint targets around the current ones, with a randomly toggled gripper. */
export function armRandomPolicy(rng: Rng): Policy {
  let target: Float64Array | undefined;
  let gripper = GRIPPER_OPEN_m;
  const velocity = new Float64Array(7);
  return {
    act(sim: MjSim): Float64Array {
      if (target === undefined) target = armJointPositions(sim);
      const next = Float64Array.from(target);
      for (let i = 0; i < 7; i++) {
        velocity[i] = 0.8 * velocity[i] + 0.2 * 0.15 * rng.normal();
        // Drift back towards home so the arm explores the workspace above the table.
        const pull = 0.03 * (PANDA_HOME_rad[i] - next[i]);
        const lim = FER_JOINT_LIMITS[i];
        next[i] = Math.min(lim.upper_rad, Math.max(lim.lower_rad, next[i] + velocity[i] + pull));
      }
      // Keep the hand above the table: a step that would take the TCP below 5 cm is not taken.
      if (pandaTcp(next).p[2] > 0.05) target = next;
      else velocity.fill(0);
      if (rng.next() < 0.08) gripper = gripper === GRIPPER_OPEN_m ? GRIPPER_CLOSED_m : GRIPPER_OPEN_m;
      const action = new Float64Array(8);
      action.set(target);
      action[7] = gripper;
      return clampToCtrlRange(sim, action);
    },
  };
}

/**
 * Random exploration in the runtime's action space for the arm: each step the
 * joint targets are the measured joints plus a bounded step (at most
 * `maxStep_rad` per joint: the runtime's own per-step limit) made of a pull
 * towards a wandering target configuration (drawn by `sampleTarget`, redrawn
 * when reached or after 30 steps) and smooth AR(1) noise; the gripper stays
 * open. The arm so crosses the workspace the way a planner's commands move it.
 * Unlike armRandomPolicy, whose targets run ahead of the arm and make it lag
 * behind them, every command here is one the planner could send.
 */
export function armStepRandomPolicy(rng: Rng, maxStep_rad: number, sampleTarget: () => Float64Array): Policy {
  const noise = new Float64Array(7);
  let target: Float64Array | undefined;
  let age = 0;
  return {
    act(sim: MjSim): Float64Array {
      const q = armJointPositions(sim);
      let far = 0;
      if (target) for (let i = 0; i < 7; i++) far = Math.max(far, Math.abs(target[i] - q[i]));
      if (!target || far < 0.05 || age >= 30) {
        target = sampleTarget();
        age = 0;
      }
      age++;
      const next = new Float64Array(7);
      for (let i = 0; i < 7; i++) {
        noise[i] = 0.7 * noise[i] + 0.5 * maxStep_rad * rng.normal();
        const step = Math.max(-maxStep_rad, Math.min(maxStep_rad, 0.25 * (target[i] - q[i]) + noise[i]));
        const lim = FER_JOINT_LIMITS[i];
        next[i] = Math.min(lim.upper_rad, Math.max(lim.lower_rad, q[i] + step));
      }
      // Keep the hand above the table: a step that would take the TCP below 5 cm is not taken.
      if (pandaTcp(next).p[2] <= 0.05) {
        next.set(q);
        noise.fill(0);
        target = undefined;
      }
      const action = new Float64Array(8);
      action.set(next);
      action[7] = GRIPPER_OPEN_m;
      return clampToCtrlRange(sim, action);
    },
  };
}

/** A downward-pointing TCP pose at `p` with yaw `yaw_rad`. */
export function downwardPose(p: ArrayLike<number>, yaw_rad: number): Pose {
  return { R: downwardRotation(yaw_rad), p: Float64Array.from([p[0], p[1], p[2]]) };
}
