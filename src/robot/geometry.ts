/**
 * Exact closest-distance queries between the primitives the guardrails use:
 * points, segments (capsule cores), spheres and oriented boxes. Capsule and
 * sphere distances are segment distances minus radii. All float64; scalar
 * arguments so the hot loops of the shield allocate nothing.
 */

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Squared distance from point p to segment [a, b]. */
export function pointSegmentDistanceSq(
  px: number, py: number, pz: number,
  ax: number, ay: number, az: number,
  bx: number, by: number, bz: number,
): number {
  const dx = bx - ax, dy = by - ay, dz = bz - az;
  const len2 = dx * dx + dy * dy + dz * dz;
  let t = 0;
  if (len2 > 0) t = clamp01(((px - ax) * dx + (py - ay) * dy + (pz - az) * dz) / len2);
  const cx = ax + t * dx - px, cy = ay + t * dy - py, cz = az + t * dz - pz;
  return cx * cx + cy * cy + cz * cz;
}

/**
 * Squared distance between segments [p1, q1] and [p2, q2] (closest points
 * by the clamped parametric method; handles degenerate and parallel cases).
 */
export function segmentSegmentDistanceSq(
  p1x: number, p1y: number, p1z: number, q1x: number, q1y: number, q1z: number,
  p2x: number, p2y: number, p2z: number, q2x: number, q2y: number, q2z: number,
): number {
  const d1x = q1x - p1x, d1y = q1y - p1y, d1z = q1z - p1z;
  const d2x = q2x - p2x, d2y = q2y - p2y, d2z = q2z - p2z;
  const rx = p1x - p2x, ry = p1y - p2y, rz = p1z - p2z;
  const a = d1x * d1x + d1y * d1y + d1z * d1z;
  const e = d2x * d2x + d2y * d2y + d2z * d2z;
  const f = d2x * rx + d2y * ry + d2z * rz;
  const EPS = 1e-18;
  let s: number, t: number;
  if (a <= EPS && e <= EPS) {
    return rx * rx + ry * ry + rz * rz;
  }
  if (a <= EPS) {
    s = 0;
    t = clamp01(f / e);
  } else {
    const c = d1x * rx + d1y * ry + d1z * rz;
    if (e <= EPS) {
      t = 0;
      s = clamp01(-c / a);
    } else {
      const b = d1x * d2x + d1y * d2y + d1z * d2z;
      const denom = a * e - b * b;
      s = denom > EPS * a * e ? clamp01((b * f - c * e) / denom) : 0;
      t = (b * s + f) / e;
      if (t < 0) {
        t = 0;
        s = clamp01(-c / a);
      } else if (t > 1) {
        t = 1;
        s = clamp01((b - c) / a);
      }
    }
  }
  const cx = p1x + d1x * s - (p2x + d2x * t);
  const cy = p1y + d1y * s - (p2y + d2y * t);
  const cz = p1z + d1z * s - (p2z + d2z * t);
  return cx * cx + cy * cy + cz * cz;
}

/** Squared distance from a point to an axis-aligned box centred at the origin with half extents h. */
export function pointAabbDistanceSq(px: number, py: number, pz: number, hx: number, hy: number, hz: number): number {
  const dx = Math.max(Math.abs(px) - hx, 0);
  const dy = Math.max(Math.abs(py) - hy, 0);
  const dz = Math.max(Math.abs(pz) - hz, 0);
  return dx * dx + dy * dy + dz * dz;
}

/** Whether segment [p, q] meets the origin-centred axis-aligned box (slab test). */
export function segmentIntersectsAabb(
  px: number, py: number, pz: number, qx: number, qy: number, qz: number,
  hx: number, hy: number, hz: number,
): boolean {
  let t0 = 0, t1 = 1;
  const p = [px, py, pz], d = [qx - px, qy - py, qz - pz], h = [hx, hy, hz];
  for (let i = 0; i < 3; i++) {
    const pi = p[i]!, di = d[i]!, hi = h[i]!;
    if (Math.abs(di) < 1e-300) {
      if (pi < -hi || pi > hi) return false;
    } else {
      let ta = (-hi - pi) / di, tb = (hi - pi) / di;
      if (ta > tb) [ta, tb] = [tb, ta];
      if (ta > t0) t0 = ta;
      if (tb < t1) t1 = tb;
      if (t0 > t1) return false;
    }
  }
  return true;
}

const SIGNS = [-1, 1];

/**
 * Squared distance between segment [p, q] and the origin-centred
 * axis-aligned box with half extents h. Exact: zero when they meet; else the
 * minimum over the segment's end points and the box's 12 edges (the closest
 * pair of a segment and a box that it does not meet always involves an end
 * point or a box edge).
 */
export function segmentAabbDistanceSq(
  px: number, py: number, pz: number, qx: number, qy: number, qz: number,
  hx: number, hy: number, hz: number,
): number {
  if (segmentIntersectsAabb(px, py, pz, qx, qy, qz, hx, hy, hz)) return 0;
  let best = Math.min(pointAabbDistanceSq(px, py, pz, hx, hy, hz), pointAabbDistanceSq(qx, qy, qz, hx, hy, hz));
  for (const s1 of SIGNS)
    for (const s2 of SIGNS) {
      // Edges along x, y and z.
      best = Math.min(
        best,
        segmentSegmentDistanceSq(px, py, pz, qx, qy, qz, -hx, s1 * hy, s2 * hz, hx, s1 * hy, s2 * hz),
        segmentSegmentDistanceSq(px, py, pz, qx, qy, qz, s1 * hx, -hy, s2 * hz, s1 * hx, hy, s2 * hz),
        segmentSegmentDistanceSq(px, py, pz, qx, qy, qz, s1 * hx, s2 * hy, -hz, s1 * hx, s2 * hy, hz),
      );
    }
  return best;
}

/**
 * An oriented box: centre, half extents, and rotation R (row-major 3x3,
 * box frame to world). A world point w has box coordinates R^T (w - c).
 */
export interface OrientedBox {
  center: readonly [number, number, number];
  halfExtents: readonly [number, number, number];
  rotation: readonly number[];
}

/** Distance from a capsule (segment [a, b], radius r) to an oriented box; negative when they overlap by the radius. */
export function capsuleBoxDistance(
  ax: number, ay: number, az: number, bx: number, by: number, bz: number, radius: number, box: OrientedBox,
): number {
  const R = box.rotation, c = box.center, h = box.halfExtents;
  const lax = ax - c[0], lay = ay - c[1], laz = az - c[2];
  const lbx = bx - c[0], lby = by - c[1], lbz = bz - c[2];
  const pax = R[0]! * lax + R[3]! * lay + R[6]! * laz;
  const pay = R[1]! * lax + R[4]! * lay + R[7]! * laz;
  const paz = R[2]! * lax + R[5]! * lay + R[8]! * laz;
  const pbx = R[0]! * lbx + R[3]! * lby + R[6]! * lbz;
  const pby = R[1]! * lbx + R[4]! * lby + R[7]! * lbz;
  const pbz = R[2]! * lbx + R[5]! * lby + R[8]! * lbz;
  return Math.sqrt(segmentAabbDistanceSq(pax, pay, paz, pbx, pby, pbz, h[0], h[1], h[2])) - radius;
}

/**
 * How far a capsule pokes out of an oriented box (<= 0 when it lies inside
 * with that much room): max over the two end points of the largest
 * per-axis excess |local| + radius - halfExtent. A capsule is inside a
 * convex box iff both end-point spheres are, so this is exact for containment.
 */
export function capsuleOutsideBoxExcess(
  ax: number, ay: number, az: number, bx: number, by: number, bz: number, radius: number, box: OrientedBox,
): number {
  const R = box.rotation, c = box.center, h = box.halfExtents;
  let worst = -Infinity;
  for (let k = 0; k < 2; k++) {
    const x = (k === 0 ? ax : bx) - c[0], y = (k === 0 ? ay : by) - c[1], z = (k === 0 ? az : bz) - c[2];
    const lx = R[0]! * x + R[3]! * y + R[6]! * z;
    const ly = R[1]! * x + R[4]! * y + R[7]! * z;
    const lz = R[2]! * x + R[5]! * y + R[8]! * z;
    worst = Math.max(worst, Math.abs(lx) + radius - h[0], Math.abs(ly) + radius - h[1], Math.abs(lz) + radius - h[2]);
  }
  return worst;
}
