/**
 * Float64 rigid-body math for the robot model: 4x4 homogeneous transforms
 * stored row-major in a Float64Array(16), URDF roll-pitch-yaw, axis-angle
 * rotations, yaw quaternions and small vector helpers. Everything here allocates only where
 * the name says so (`make*`); the `*Into` forms write into a given output.
 */

export type Vec3 = readonly [number, number, number];
/** Row-major 4x4 homogeneous transform; last row is 0 0 0 1. */
export type Transform = Float64Array;

export function identity(): Transform {
  const t = new Float64Array(16);
  t[0] = 1;
  t[5] = 1;
  t[10] = 1;
  t[15] = 1;
  return t;
}

/** URDF rpy: R = Rz(yaw) * Ry(pitch) * Rx(roll) (fixed axes X, then Y, then Z). */
export function makeTransformFromXyzRpy(xyz: Vec3, rpy: Vec3): Transform {
  const [r, p, y] = rpy;
  const cr = Math.cos(r), sr = Math.sin(r);
  const cp = Math.cos(p), sp = Math.sin(p);
  const cy = Math.cos(y), sy = Math.sin(y);
  const t = new Float64Array(16);
  t[0] = cy * cp;
  t[1] = cy * sp * sr - sy * cr;
  t[2] = cy * sp * cr + sy * sr;
  t[3] = xyz[0];
  t[4] = sy * cp;
  t[5] = sy * sp * sr + cy * cr;
  t[6] = sy * sp * cr - cy * sr;
  t[7] = xyz[1];
  t[8] = -sp;
  t[9] = cp * sr;
  t[10] = cp * cr;
  t[11] = xyz[2];
  t[15] = 1;
  return t;
}

/** out = a * b (out may not alias a or b). */
export function multiplyInto(out: Transform, a: Transform, b: Transform): Transform {
  multiplyAt(out, 0, a, 0, b, 0);
  return out;
}

/**
 * The transform at offset `ao` of `a` times the one at `bo` of `b`, written at offset `o` of `out`
 * (the output may not overlap either input): the same product as multiplyInto on transforms
 * packed in one array, without a subarray view per call (forward kinematics of a batch of
 * states runs this for every joint of every state).
 */
export function multiplyAt(out: Float64Array, o: number, a: Float64Array, ao: number, b: Float64Array, bo: number): void {
  const b0 = b[bo]!, b1 = b[bo + 1]!, b2 = b[bo + 2]!, b3 = b[bo + 3]!;
  const b4 = b[bo + 4]!, b5 = b[bo + 5]!, b6 = b[bo + 6]!, b7 = b[bo + 7]!;
  const b8 = b[bo + 8]!, b9 = b[bo + 9]!, b10 = b[bo + 10]!, b11 = b[bo + 11]!;
  for (let i = 0; i < 3; i++) {
    const r = ao + i * 4, w = o + i * 4;
    const a0 = a[r]!, a1 = a[r + 1]!, a2 = a[r + 2]!, a3 = a[r + 3]!;
    out[w] = a0 * b0 + a1 * b4 + a2 * b8;
    out[w + 1] = a0 * b1 + a1 * b5 + a2 * b9;
    out[w + 2] = a0 * b2 + a1 * b6 + a2 * b10;
    out[w + 3] = a0 * b3 + a1 * b7 + a2 * b11 + a3;
  }
  out[o + 12] = 0;
  out[o + 13] = 0;
  out[o + 14] = 0;
  out[o + 15] = 1;
}

export function multiply(a: Transform, b: Transform): Transform {
  return multiplyInto(new Float64Array(16), a, b);
}

/**
 * m ← m · R(angle about the coordinate axis `axis`: 0 x, 1 y, 2 z), in place on the transform at
 * offset `o`: a rotation about x, y or z mixes two columns of the rotation block and leaves the
 * third column and the translation as they are, which costs a fraction of building R and
 * multiplying by it (every joint of every predicted state in a batch's forward kinematics).
 */
export function rotateAboutAxisAt(m: Float64Array, o: number, axis: 0 | 1 | 2, angle: number): void {
  const c = Math.cos(angle), s = Math.sin(angle);
  // Columns (a, b) with R's block [[c, -s], [s, c]] in that order: z (0, 1), x (1, 2), y (2, 0).
  const a = axis === 2 ? 0 : axis === 0 ? 1 : 2;
  const b = axis === 2 ? 1 : axis === 0 ? 2 : 0;
  for (let r = 0; r < 3; r++) {
    const ia = o + 4 * r + a, ib = o + 4 * r + b;
    const ma = m[ia]!, mb = m[ib]!;
    m[ia] = c * ma + s * mb;
    m[ib] = c * mb - s * ma;
  }
}

/** Rotation by `angle` about the unit axis (x, y, z), written into out (translation zero). */
export function axisAngleInto(out: Transform, x: number, y: number, z: number, angle: number): Transform {
  const c = Math.cos(angle), s = Math.sin(angle), v = 1 - c;
  out[0] = x * x * v + c;
  out[1] = x * y * v - z * s;
  out[2] = x * z * v + y * s;
  out[3] = 0;
  out[4] = x * y * v + z * s;
  out[5] = y * y * v + c;
  out[6] = y * z * v - x * s;
  out[7] = 0;
  out[8] = x * z * v - y * s;
  out[9] = y * z * v + x * s;
  out[10] = z * z * v + c;
  out[11] = 0;
  out[12] = 0;
  out[13] = 0;
  out[14] = 0;
  out[15] = 1;
  return out;
}

/** Pure translation d along the unit axis, written into out. */
export function translationAlongInto(out: Transform, x: number, y: number, z: number, d: number): Transform {
  out.fill(0);
  out[0] = 1;
  out[5] = 1;
  out[10] = 1;
  out[15] = 1;
  out[3] = x * d;
  out[7] = y * d;
  out[11] = z * d;
  return out;
}

/** Applies transform t to point p (x, y, z), writing into out at offset. */
export function transformPointInto(out: Float64Array, offset: number, t: Transform, x: number, y: number, z: number): void {
  out[offset] = t[0]! * x + t[1]! * y + t[2]! * z + t[3]!;
  out[offset + 1] = t[4]! * x + t[5]! * y + t[6]! * z + t[7]!;
  out[offset + 2] = t[8]! * x + t[9]! * y + t[10]! * z + t[11]!;
}

export function translationOf(t: Transform): [number, number, number] {
  return [t[3]!, t[7]!, t[11]!];
}

/** Inverse of a rigid transform. */
export function invertRigid(t: Transform): Transform {
  const o = new Float64Array(16);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) o[i * 4 + j] = t[j * 4 + i]!;
  for (let i = 0; i < 3; i++) o[i * 4 + 3] = -(o[i * 4]! * t[3]! + o[i * 4 + 1]! * t[7]! + o[i * 4 + 2]! * t[11]!);
  o[15] = 1;
  return o;
}

/**
 * Rotation error as a rotation vector (axis * angle) taking the rotation of
 * `current` to the rotation of `target`, expressed in the base frame:
 * log(R_target * R_current^T).
 */
export function rotationErrorVector(target: Transform, current: Transform): [number, number, number] {
  // R = Rt * Rc^T
  const r = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let k = 0; k < 3; k++) s += target[i * 4 + k]! * current[j * 4 + k]!;
      r[i * 3 + j] = s;
    }
  const cosA = Math.min(1, Math.max(-1, (r[0]! + r[4]! + r[8]! - 1) / 2));
  const angle = Math.acos(cosA);
  const wx = r[7]! - r[5]!, wy = r[2]! - r[6]!, wz = r[3]! - r[1]!;
  if (angle < 1e-9) return [wx / 2, wy / 2, wz / 2];
  if (Math.PI - angle < 1e-6) {
    // Near pi: axis from the diagonal of (R + I) / 2.
    const xx = Math.sqrt(Math.max(0, (r[0]! + 1) / 2));
    const yy = Math.sqrt(Math.max(0, (r[4]! + 1) / 2));
    const zz = Math.sqrt(Math.max(0, (r[8]! + 1) / 2));
    let ax: [number, number, number];
    if (xx >= yy && xx >= zz) ax = [xx, (r[1]! + r[3]!) / (4 * xx), (r[2]! + r[6]!) / (4 * xx)];
    else if (yy >= zz) ax = [(r[1]! + r[3]!) / (4 * yy), yy, (r[5]! + r[7]!) / (4 * yy)];
    else ax = [(r[2]! + r[6]!) / (4 * zz), (r[5]! + r[7]!) / (4 * zz), zz];
    return [ax[0] * angle, ax[1] * angle, ax[2] * angle];
  }
  const k = angle / (2 * Math.sin(angle));
  return [wx * k, wy * k, wz * k];
}

export function norm3(x: number, y: number, z: number): number {
  return Math.sqrt(x * x + y * y + z * z);
}

/** Quaternion (x, y, z, w) of a rotation by `yaw` rad about z. */
export function yawToQuatXyzw(yaw: number): [number, number, number, number] {
  return [0, 0, Math.sin(yaw / 2), Math.cos(yaw / 2)];
}

/** Yaw (rad) of a quaternion (x, y, z, w) that rotates about z only. */
export function quatXyzwToYaw(q: ArrayLike<number>): number {
  return 2 * Math.atan2(q[2]!, q[3]!);
}
