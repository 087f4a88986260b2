/**
 * Small helpers for writing MJCF from TypeScript: number formatting, a
 * look-at camera orientation, and quaternions. Scene modules build their XML
 * with these so every generated number is printed the same way.
 */

/** Formats numbers for MJCF attributes (no exponent noise, trailing zeros trimmed). */
export function fmt(...values: number[]): string {
  return values
    .map((v) => {
      const s = Math.abs(v) < 1e-12 ? '0' : v.toFixed(6);
      return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
    })
    .join(' ');
}

type Vec3 = [number, number, number];

function sub(a: Vec3, b: Vec3): Vec3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}
function normalize(a: Vec3): Vec3 {
  const n = Math.hypot(a[0], a[1], a[2]);
  return [a[0] / n, a[1] / n, a[2] / n];
}

/**
 * MJCF `xyaxes` for a camera at `eye` looking at `target` with world +z up
 * (MuJoCo cameras look along their -z axis, x to the right, y up).
 */
export function lookAtXyaxes(eye: Vec3, target: Vec3, up: Vec3 = [0, 0, 1]): string {
  const back = normalize(sub(eye, target));
  const x = normalize(cross(up, back));
  const y = cross(back, x);
  return fmt(...x, ...y);
}

/** Quaternion (w x y z) for a rotation of `angle_rad` about a unit axis. */
export function axisAngleQuat(axis: Vec3, angle_rad: number): [number, number, number, number] {
  const s = Math.sin(angle_rad / 2);
  return [Math.cos(angle_rad / 2), axis[0] * s, axis[1] * s, axis[2] * s];
}

/** Yaw angle (rad) of a quaternion (w x y z) rotating about world z. */
export function quatYaw(w: number, x: number, y: number, z: number): number {
  return Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
}

/** Wraps an angle to (-pi, pi]. */
export function wrapAngle(a_rad: number): number {
  let a = a_rad % (2 * Math.PI);
  if (a > Math.PI) a -= 2 * Math.PI;
  if (a <= -Math.PI) a += 2 * Math.PI;
  return a;
}
