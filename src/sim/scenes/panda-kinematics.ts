/**
 * The Franka Panda (FER) kinematics the `arm` scene is built from: the
 * published modified-DH table (Craig convention), the FER joint limits, the
 * tool-centre-point offset, and a float64 forward kinematics plus a damped
 * least-squares IK used by the scripted policies. The scene XML and this FK
 * come from the same table, and a test checks MuJoCo agrees with the FK.
 */

/** Modified-DH parameters per joint i (a_{i-1}, d_i, alpha_{i-1}), metres and radians. */
export const PANDA_DH = {
  a_m: [0, 0, 0, 0.0825, -0.0825, 0, 0.088],
  d_m: [0.333, 0, 0.316, 0, 0.384, 0, 0],
  alpha_rad: [0, -Math.PI / 2, Math.PI / 2, Math.PI / 2, -Math.PI / 2, Math.PI / 2, Math.PI / 2],
  flange_m: 0.107,
} as const;

/**
 * FER joint limits (position in rad, velocity in rad/s, effort in N·m), as in
 * franka_description's fer/joint_limits.yaml. A test compares them with that file.
 */
export const FER_JOINT_LIMITS: readonly { name: string; lower_rad: number; upper_rad: number; velocity_radps: number; effort_Nm: number }[] = [
  { name: 'joint1', lower_rad: -2.8973, upper_rad: 2.8973, velocity_radps: 2.175, effort_Nm: 87 },
  { name: 'joint2', lower_rad: -1.7628, upper_rad: 1.7628, velocity_radps: 2.175, effort_Nm: 87 },
  { name: 'joint3', lower_rad: -2.8973, upper_rad: 2.8973, velocity_radps: 2.175, effort_Nm: 87 },
  { name: 'joint4', lower_rad: -3.0718, upper_rad: -0.0698, velocity_radps: 2.175, effort_Nm: 87 },
  { name: 'joint5', lower_rad: -2.8973, upper_rad: 2.8973, velocity_radps: 2.61, effort_Nm: 12 },
  { name: 'joint6', lower_rad: -0.0175, upper_rad: 3.7525, velocity_radps: 2.61, effort_Nm: 12 },
  { name: 'joint7', lower_rad: -2.8973, upper_rad: 2.8973, velocity_radps: 2.61, effort_Nm: 12 },
];

/** The hand is mounted rotated -45 degrees about the flange z axis; the TCP sits this far along it. */
export const HAND_YAW_rad = -Math.PI / 4;
export const TCP_OFFSET_m = 0.1034;

/** A ready pose inside the limits (the usual Franka "home"), gripper pointing down. */
export const PANDA_HOME_rad = [0, -0.785, 0, -2.356, 0, 1.571, 0.785];

/** Rigid transform, row-major rotation and translation. */
export interface Pose {
  R: Float64Array; // 3x3 row-major
  p: Float64Array; // 3
}

function matMul(A: Float64Array, B: Float64Array): Float64Array {
  const C = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) C[3 * i + j] = A[3 * i] * B[j] + A[3 * i + 1] * B[3 + j] + A[3 * i + 2] * B[6 + j];
  return C;
}

function compose(T: Pose, R: Float64Array, p: ArrayLike<number>): Pose {
  const np = new Float64Array(3);
  for (let i = 0; i < 3; i++) np[i] = T.p[i] + T.R[3 * i] * p[0] + T.R[3 * i + 1] * p[1] + T.R[3 * i + 2] * p[2];
  return { R: matMul(T.R, R), p: np };
}

function rotX(a: number): Float64Array {
  const c = Math.cos(a), s = Math.sin(a);
  return Float64Array.of(1, 0, 0, 0, c, -s, 0, s, c);
}
function rotZ(a: number): Float64Array {
  const c = Math.cos(a), s = Math.sin(a);
  return Float64Array.of(c, -s, 0, s, c, 0, 0, 0, 1);
}

/** Pose of each joint frame i (1..7) in the base frame, then flange, then TCP. */
export function pandaFrames(q: ArrayLike<number>): Pose[] {
  let T: Pose = { R: Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), p: new Float64Array(3) };
  const frames: Pose[] = [];
  for (let i = 0; i < 7; i++) {
    T = compose(T, rotX(PANDA_DH.alpha_rad[i]), [PANDA_DH.a_m[i], 0, 0]);
    T = compose(T, rotZ(q[i]), [0, 0, 0]);
    T = compose(T, Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), [0, 0, PANDA_DH.d_m[i]]);
    frames.push(T);
  }
  const flange = compose(T, Float64Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1), [0, 0, PANDA_DH.flange_m]);
  frames.push(flange);
  frames.push(compose(flange, rotZ(HAND_YAW_rad), [0, 0, TCP_OFFSET_m]));
  return frames;
}

/** TCP pose in the arm base frame. */
export function pandaTcp(q: ArrayLike<number>): Pose {
  return pandaFrames(q)[8];
}

/** Orientation error (axis * angle, base frame) taking R to Rgoal. */
function rotationError(R: Float64Array, Rg: Float64Array): [number, number, number] {
  // E = Rg * R^T; error vector from its skew part, scaled to the rotation angle.
  const E = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) E[3 * i + j] = Rg[3 * i] * R[3 * j] + Rg[3 * i + 1] * R[3 * j + 1] + Rg[3 * i + 2] * R[3 * j + 2];
  const v: [number, number, number] = [(E[7] - E[5]) / 2, (E[2] - E[6]) / 2, (E[3] - E[1]) / 2];
  const s = Math.hypot(...v);
  const c = (E[0] + E[4] + E[8] - 1) / 2;
  const angle = Math.atan2(s, c);
  if (s < 1e-9) {
    if (c > 0) return [0, 0, 0];
    // 180 degrees: pick the axis from the diagonal.
    const ax = [Math.sqrt(Math.max(0, (E[0] + 1) / 2)), Math.sqrt(Math.max(0, (E[4] + 1) / 2)), Math.sqrt(Math.max(0, (E[8] + 1) / 2))];
    return [ax[0] * Math.PI, ax[1] * Math.PI, ax[2] * Math.PI];
  }
  return [(v[0] / s) * angle, (v[1] / s) * angle, (v[2] / s) * angle];
}

/** Position error (m) and orientation error (rad) of the TCP at q against a goal pose. */
export function tcpError(q: ArrayLike<number>, goal: Pose): { position_m: number; rotation_rad: number } {
  const T = pandaTcp(q);
  const r = rotationError(T.R, goal.R);
  return { position_m: Math.hypot(goal.p[0] - T.p[0], goal.p[1] - T.p[1], goal.p[2] - T.p[2]), rotation_rad: Math.hypot(...r) };
}

function solve6(A: Float64Array, b: Float64Array): Float64Array {
  // Gaussian elimination with partial pivoting on a 6x6 system.
  const n = 6;
  const M = Float64Array.from(A);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[piv * n + c])) piv = r;
    if (piv !== c) {
      for (let k = 0; k < n; k++) [M[c * n + k], M[piv * n + k]] = [M[piv * n + k], M[c * n + k]];
      [x[c], x[piv]] = [x[piv], x[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / M[c * n + c];
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let k = r + 1; k < n; k++) s -= M[r * n + k] * x[k];
    x[r] = s / M[r * n + r];
  }
  return x;
}

/**
 * Damped least-squares IK for the TCP pose, from `q0`, clamped to the FER
 * limits every iteration. Returns the best joint vector found and its errors.
 */
export function pandaIk(
  goal: Pose,
  q0: ArrayLike<number>,
  options: { iterations?: number; damping?: number; orientationWeight?: number } = {},
): { q: Float64Array; position_m: number; rotation_rad: number } {
  const iterations = options.iterations ?? 200;
  const lambda = options.damping ?? 0.05;
  const wr = options.orientationWeight ?? 0.5;
  const q = Float64Array.from(q0);
  let best = { q: Float64Array.from(q), ...tcpError(q, goal) };
  for (let it = 0; it < iterations; it++) {
    const frames = pandaFrames(q);
    const T = frames[8];
    const rErr = rotationError(T.R, goal.R);
    const e = Float64Array.of(goal.p[0] - T.p[0], goal.p[1] - T.p[1], goal.p[2] - T.p[2], wr * rErr[0], wr * rErr[1], wr * rErr[2]);
    // Geometric Jacobian: joint i rotates about z of frame i.
    const J = new Float64Array(6 * 7);
    for (let i = 0; i < 7; i++) {
      const F = frames[i];
      const z = [F.R[2], F.R[5], F.R[8]];
      const d = [T.p[0] - F.p[0], T.p[1] - F.p[1], T.p[2] - F.p[2]];
      J[0 * 7 + i] = z[1] * d[2] - z[2] * d[1];
      J[1 * 7 + i] = z[2] * d[0] - z[0] * d[2];
      J[2 * 7 + i] = z[0] * d[1] - z[1] * d[0];
      J[3 * 7 + i] = wr * z[0];
      J[4 * 7 + i] = wr * z[1];
      J[5 * 7 + i] = wr * z[2];
    }
    // dq = J^T (J J^T + lambda^2 I)^-1 e
    const A = new Float64Array(36);
    for (let r = 0; r < 6; r++)
      for (let c = 0; c < 6; c++) {
        let s = r === c ? lambda * lambda : 0;
        for (let k = 0; k < 7; k++) s += J[r * 7 + k] * J[c * 7 + k];
        A[r * 6 + c] = s;
      }
    const y = solve6(A, e);
    for (let k = 0; k < 7; k++) {
      let dq = 0;
      for (let r = 0; r < 6; r++) dq += J[r * 7 + k] * y[r];
      const lim = FER_JOINT_LIMITS[k];
      q[k] = Math.min(lim.upper_rad, Math.max(lim.lower_rad, q[k] + Math.max(-0.3, Math.min(0.3, dq))));
    }
    const err = tcpError(q, goal);
    if (err.position_m + 0.1 * err.rotation_rad < best.position_m + 0.1 * best.rotation_rad) best = { q: Float64Array.from(q), ...err };
    if (err.position_m < 1e-4 && err.rotation_rad < 1e-3) break;
  }
  return best;
}

/** Rotation (row-major) whose z axis points straight down, rotated by `yaw_rad` about world z. */
export function downwardRotation(yaw_rad: number): Float64Array {
  const c = Math.cos(yaw_rad), s = Math.sin(yaw_rad);
  // columns: x = (c, s, 0), y = (s, -c, 0), z = (0, 0, -1)
  return Float64Array.of(c, s, 0, s, -c, 0, 0, 0, -1);
}
