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

const breaks = new Float64Array(8);

/**
 * Squared distance between segment [p, q] and the origin-centred
 * axis-aligned box with half extents h. Exact: along the segment,
 * f(t) = dist²(p + t (q - p), box) is convex and piecewise quadratic, with
 * breakpoints where a coordinate crosses a face plane (at most six); on each
 * piece the quadratic is minimised in closed form.
 */
export function segmentAabbDistanceSq(
  px: number, py: number, pz: number, qx: number, qy: number, qz: number,
  hx: number, hy: number, hz: number,
): number {
  const dx = qx - px, dy = qy - py, dz = qz - pz;
  let nb = 0;
  breaks[nb++] = 0;
  breaks[nb++] = 1;
  if (dx !== 0) {
    const t1 = (hx - px) / dx, t2 = (-hx - px) / dx;
    if (t1 > 0 && t1 < 1) breaks[nb++] = t1;
    if (t2 > 0 && t2 < 1) breaks[nb++] = t2;
  }
  if (dy !== 0) {
    const t1 = (hy - py) / dy, t2 = (-hy - py) / dy;
    if (t1 > 0 && t1 < 1) breaks[nb++] = t1;
    if (t2 > 0 && t2 < 1) breaks[nb++] = t2;
  }
  if (dz !== 0) {
    const t1 = (hz - pz) / dz, t2 = (-hz - pz) / dz;
    if (t1 > 0 && t1 < 1) breaks[nb++] = t1;
    if (t2 > 0 && t2 < 1) breaks[nb++] = t2;
  }
  // Insertion sort of at most 8 values.
  for (let i = 1; i < nb; i++) {
    const v = breaks[i]!;
    let j = i - 1;
    while (j >= 0 && breaks[j]! > v) {
      breaks[j + 1] = breaks[j]!;
      j--;
    }
    breaks[j + 1] = v;
  }
  let best = Infinity;
  for (let k = 0; k + 1 < nb; k++) {
    const ta = breaks[k]!, tb = breaks[k + 1]!;
    const tm = (ta + tb) / 2;
    // f(t) = A t² + B t + C on this piece.
    let A = 0, B = 0, C = 0;
    const x = px + tm * dx, y = py + tm * dy, z = pz + tm * dz;
    if (x > hx || x < -hx) {
      const off = x > hx ? px - hx : px + hx;
      A += dx * dx;
      B += 2 * off * dx;
      C += off * off;
    }
    if (y > hy || y < -hy) {
      const off = y > hy ? py - hy : py + hy;
      A += dy * dy;
      B += 2 * off * dy;
      C += off * off;
    }
    if (z > hz || z < -hz) {
      const off = z > hz ? pz - hz : pz + hz;
      A += dz * dz;
      B += 2 * off * dz;
      C += off * off;
    }
    let t = A > 0 ? -B / (2 * A) : ta;
    if (t < ta) t = ta;
    else if (t > tb) t = tb;
    const f = Math.max(0, (A * t + B) * t + C);
    if (f < best) best = f;
    if (best === 0) return 0;
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
  return capsuleBoxDistanceAt(ax, ay, az, bx, by, bz, radius, box.center[0], box.center[1], box.center[2], box.halfExtents, box.rotation);
}

/** capsuleBoxDistance with the box centre given as scalars (no allocation in hot loops). */
export function capsuleBoxDistanceAt(
  ax: number, ay: number, az: number, bx: number, by: number, bz: number, radius: number,
  cx: number, cy: number, cz: number, h: readonly number[], R: readonly number[],
): number {
  const lax = ax - cx, lay = ay - cy, laz = az - cz;
  const lbx = bx - cx, lby = by - cy, lbz = bz - cz;
  const pax = R[0]! * lax + R[3]! * lay + R[6]! * laz;
  const pay = R[1]! * lax + R[4]! * lay + R[7]! * laz;
  const paz = R[2]! * lax + R[5]! * lay + R[8]! * laz;
  const pbx = R[0]! * lbx + R[3]! * lby + R[6]! * lbz;
  const pby = R[1]! * lbx + R[4]! * lby + R[7]! * lbz;
  const pbz = R[2]! * lbx + R[5]! * lby + R[8]! * lbz;
  return Math.sqrt(segmentAabbDistanceSq(pax, pay, paz, pbx, pby, pbz, h[0]!, h[1]!, h[2]!)) - radius;
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
