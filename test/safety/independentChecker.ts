/**
 * An independent re-check of what the shield let through, for the cheap
 * 3-joint arm. Written plainly and separately from src/: its own forward
 * kinematics from the parameter table, its own distances (dense sampling
 * with a Lipschitz correction), its own reading of the raw safety settings.
 * It shares nothing with the shield but the meaning of the contract:
 * linear joint interpolation from the measured state, finite-difference
 * velocity / acceleration / jerk, and Cartesian limits along the whole path.
 */
import { CHEAP, cheapSafetyRaw } from './fixtures';

type V3 = [number, number, number];
type M3 = number[]; // row-major 3x3

const raw = cheapSafetyRaw();

function matMul(a: M3, b: M3): M3 {
  const o = new Array(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) o[i * 3 + j] += a[i * 3 + k]! * b[k * 3 + j]!;
  return o;
}
function matVec(a: M3, v: V3): V3 {
  return [a[0]! * v[0] + a[1]! * v[1] + a[2]! * v[2], a[3]! * v[0] + a[4]! * v[1] + a[5]! * v[2], a[6]! * v[0] + a[7]! * v[1] + a[8]! * v[2]];
}
function add(a: V3, b: V3): V3 {
  return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
}
function sub(a: V3, b: V3): V3 {
  return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
}
function len(a: V3): number {
  return Math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]);
}
function rotZ(t: number): M3 {
  return [Math.cos(t), -Math.sin(t), 0, Math.sin(t), Math.cos(t), 0, 0, 0, 1];
}
function rotY(t: number): M3 {
  return [Math.cos(t), 0, Math.sin(t), 0, 1, 0, -Math.sin(t), 0, Math.cos(t)];
}

export interface Capsule {
  a: V3;
  b: V3;
  r: number;
}

/** World capsules (one per link cylinder, plus the TCP sphere) and the TCP point. */
export function robotCapsules(q: readonly number[]): { caps: Capsule[]; tcp: V3 } {
  let R: M3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];
  let p: V3 = [0, 0, 0];
  const caps: Capsule[] = [];
  CHEAP.joints.forEach((j, i) => {
    p = add(p, matVec(R, [0, 0, j.offsetZ]));
    R = matMul(R, j.axis === 'z' ? rotZ(q[i]!) : rotY(q[i]!));
    const c = CHEAP.cylinders[i]!;
    caps.push({ a: add(p, matVec(R, [0, 0, c.centerZ - c.length / 2])), b: add(p, matVec(R, [0, 0, c.centerZ + c.length / 2])), r: c.radius });
  });
  const tcp = add(p, matVec(R, [0, 0, CHEAP.tcpOffsetZ]));
  caps.push({ a: tcp, b: tcp, r: CHEAP.tcpSphereRadius });
  return { caps, tcp };
}

function pointToSegment(p: V3, a: V3, b: V3): number {
  const d = sub(b, a);
  const L2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  let t = L2 === 0 ? 0 : ((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1] + (p[2] - a[2]) * d[2]) / L2;
  t = Math.max(0, Math.min(1, t));
  return len(sub(p, add(a, [d[0] * t, d[1] * t, d[2] * t])));
}

/**
 * Lower bound on min over x in segment [a, b] of f(x) for f convex and
 * 1-Lipschitz along the segment: golden-section search, minus the
 * remaining bracket length.
 */
function segmentMin(a: V3, b: V3, f: (x: V3) => number): number {
  const L = len(sub(b, a));
  if (L === 0) return f(a);
  const at = (t: number) => f([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t]);
  const g = (Math.sqrt(5) - 1) / 2;
  let lo = 0, hi = 1;
  let x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  let f1 = at(x1), f2 = at(x2);
  for (let i = 0; i < 36; i++) {
    if (f1 <= f2) {
      hi = x2; x2 = x1; f2 = f1; x1 = hi - g * (hi - lo); f1 = at(x1);
    } else {
      lo = x1; x1 = x2; f1 = f2; x2 = lo + g * (hi - lo); f2 = at(x2);
    }
  }
  return Math.min(f1, f2, at(0), at(1)) - (hi - lo) * L;
}

/** Exact distance between segments: the four end-point cases plus the interior critical point when it lies inside. */
function segmentToSegment(a: V3, b: V3, c: V3, d: V3): number {
  let best = Math.min(pointToSegment(a, c, d), pointToSegment(b, c, d), pointToSegment(c, a, b), pointToSegment(d, a, b));
  const u = sub(b, a), v = sub(d, c), w = sub(a, c);
  const uu = u[0] * u[0] + u[1] * u[1] + u[2] * u[2], vv = v[0] * v[0] + v[1] * v[1] + v[2] * v[2], uv = u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  const uw = u[0] * w[0] + u[1] * w[1] + u[2] * w[2], vw = v[0] * w[0] + v[1] * w[1] + v[2] * w[2];
  const det = uu * vv - uv * uv;
  if (det > 1e-14) {
    const s = (uv * vw - vv * uw) / det, t = (uu * vw - uv * uw) / det;
    if (s >= 0 && s <= 1 && t >= 0 && t <= 1) best = Math.min(best, len(sub(add(a, [u[0] * s, u[1] * s, u[2] * s]), add(c, [v[0] * t, v[1] * t, v[2] * t]))));
  }
  return best;
}

function boxPointDistance(x: V3, center: readonly number[], size: readonly number[], yaw: number): number {
  // The fixture's boxes turn about z only.
  const d = sub(x, center as V3);
  const lx = Math.cos(yaw) * d[0] + Math.sin(yaw) * d[1];
  const ly = -Math.sin(yaw) * d[0] + Math.cos(yaw) * d[1];
  const lz = d[2];
  const ex = Math.max(0, Math.abs(lx) - size[0]! / 2), ey = Math.max(0, Math.abs(ly) - size[1]! / 2), ez = Math.max(0, Math.abs(lz) - size[2]! / 2);
  return Math.sqrt(ex * ex + ey * ey + ez * ez);
}

type Zone = (typeof raw.keep_out)[number];

/** Centre and radius of a sphere that contains the zone. */
function zoneBound(zone: Zone): { c: V3; r: number } {
  if (zone.shape === 'sphere') return { c: zone.center_m as V3, r: zone.radius_m };
  if (zone.shape === 'capsule') {
    const c: V3 = [(zone.a_m[0] + zone.b_m[0]) / 2, (zone.a_m[1] + zone.b_m[1]) / 2, (zone.a_m[2] + zone.b_m[2]) / 2];
    return { c, r: len(sub(zone.a_m as V3, c)) + zone.radius_m };
  }
  return { c: zone.center_m as V3, r: len(zone.size_m as V3) / 2 };
}

/**
 * Distance from a robot capsule to a zone (zone translated by `shift`); a
 * bounding-sphere lower bound when that alone is farther than `farEnough`.
 */
export function zoneDistance(cap: Capsule, zone: Zone, shift: V3 = [0, 0, 0], farEnough = 0.2): number {
  const bound = zoneBound(zone);
  const lower = pointToSegment(add(bound.c, shift), cap.a, cap.b) - cap.r - bound.r;
  if (lower > farEnough) return lower;
  if (zone.shape === 'sphere') return pointToSegment(add(zone.center_m as V3, shift), cap.a, cap.b) - cap.r - zone.radius_m;
  if (zone.shape === 'capsule') {
    const za = add(zone.a_m as V3, shift), zb = add(zone.b_m as V3, shift);
    return segmentToSegment(cap.a, cap.b, za, zb) - cap.r - zone.radius_m;
  }
  return segmentMin(cap.a, cap.b, (x) => boxPointDistance(x, add(zone.center_m as V3, shift), zone.size_m, zone.rpy_rad?.[2] ?? 0)) - cap.r;
}

export interface CheckContext {
  q0: number[];
  v0: number[];
  now_s: number;
  perceptionStamp_s: number;
  persons: { position_m: V3; velocity_mps: V3 }[];
  movingZone: { position_m: V3; velocity_mps: V3; stamp_s: number } | null;
  holdingSharp: boolean;
}

export interface Output {
  points: { positions: readonly number[]; time_from_start_s: number }[];
}

/** Returns a description of every violation found (empty when the command is safe). */
export function independentCheck(out: Output, ctx: CheckContext): string[] {
  const bad: string[] = [];
  const n = 3;
  const names = raw.joints;
  const margin = raw.joint_limit_margins;
  const limits = names.map((nm, i) => ({
    // The soft limits of the URDF's safety_controller narrow the range too.
    lo: Math.max(CHEAP.joints[i]!.lower, CHEAP.joints[i]!.soft?.lower ?? -Infinity) + margin,
    hi: Math.min(CHEAP.joints[i]!.upper, CHEAP.joints[i]!.soft?.upper ?? Infinity) - margin,
    v: Math.min(CHEAP.joints[i]!.velocity, raw.joint_limits[nm as 'j1'].max_velocity),
    a: raw.joint_limits[nm as 'j1'].max_acceleration,
    j: raw.joint_limits[nm as 'j1'].max_jerk,
  }));
  const path: number[][] = [ctx.q0, ...out.points.map((p) => [...p.positions])];
  const times = [0, ...out.points.map((p) => p.time_from_start_s)];
  for (let k = 1; k < path.length; k++) {
    if (!(times[k]! > times[k - 1]!)) bad.push(`time not increasing at ${k}`);
    for (let i = 0; i < n; i++) {
      const x = path[k]![i]!;
      if (!Number.isFinite(x)) bad.push(`non-finite output at ${k}`);
      if (x < limits[i]!.lo - 1e-12 || x > limits[i]!.hi + 1e-12) bad.push(`point ${k} joint ${i} = ${x} outside [${limits[i]!.lo}, ${limits[i]!.hi}]`);
    }
  }
  // Finite-difference dynamics.
  for (let i = 0; i < n; i++) {
    let vPrev = ctx.v0[i]!;
    let aPrev = 0;
    for (let k = 1; k < path.length; k++) {
      const h = times[k]! - times[k - 1]!;
      const v = (path[k]![i]! - path[k - 1]![i]!) / h;
      const a = (v - vPrev) / h;
      if (Math.abs(v) > limits[i]!.v * (1 + 1e-9)) bad.push(`velocity ${v} > ${limits[i]!.v} (joint ${i}, segment ${k})`);
      const j = CHEAP.joints[i]!;
      if (j.soft) {
        // ros2_control soft limiter: k_position x distance to the soft limit ahead.
        const q = path[k - 1]![i]!;
        const up = Math.max(0, j.soft.kPosition * (j.soft.upper - q)), down = Math.max(0, j.soft.kPosition * (q - j.soft.lower));
        if (v > up * (1 + 1e-9) + 1e-12 || -v > down * (1 + 1e-9) + 1e-12) bad.push(`soft-limit velocity ${v} outside [-${down}, ${up}] at q = ${q} (joint ${i}, segment ${k})`);
      }
      if (Math.abs(a) > limits[i]!.a * (1 + 1e-9)) bad.push(`acceleration ${a} > ${limits[i]!.a} (joint ${i}, segment ${k})`);
      if (k >= 2) {
        const j = (a - aPrev) / h;
        if (Math.abs(j) > limits[i]!.j * (1 + 1e-9)) bad.push(`jerk ${j} > ${limits[i]!.j} (joint ${i}, segment ${k})`);
      }
      vPrev = v;
      aPrev = a;
    }
  }
  // Dense Cartesian sampling along the path.
  const toolMax = ctx.holdingSharp ? raw.tool.sharp_object_max_speed_mps : raw.tool.max_speed_mps;
  const ws = raw.workspace.boxes[0]!;
  const clearance = raw.collision.clearance_m;
  const sep = raw.separation;
  const vh = Math.max(sep.human_speed_mps, ...ctx.persons.map((p) => len(p.velocity_mps)));
  const drift = vh * Math.max(0, ctx.now_s - ctx.perceptionStamp_s);
  let minSeparation = Infinity;
  let maxPointSpeed = 0;
  const drone = raw.keep_out.find((z) => z.id === 'drone')!;
  for (let k = 1; k < path.length; k++) {
    const dq = path[k]!.map((x, i) => x - path[k - 1]![i]!);
    const steps = Math.max(2, Math.ceil(Math.max(...dq.map(Math.abs)) / 0.025));
    const h = (times[k]! - times[k - 1]!) / steps;
    let prev: ReturnType<typeof robotCapsules> | null = null;
    for (let s = 0; s <= steps; s++) {
      const q = path[k - 1]!.map((x, i) => x + (dq[i]! * s) / steps);
      const cur = robotCapsules(q);
      if (prev) {
        const tcpSpeed = len(sub(cur.tcp, prev.tcp)) / h;
        if (tcpSpeed > toolMax * (1 + 1e-9)) bad.push(`TCP speed ${tcpSpeed.toFixed(4)} > ${toolMax} in segment ${k}`);
        cur.caps.forEach((c, ci) => {
          maxPointSpeed = Math.max(maxPointSpeed, len(sub(c.a, prev!.caps[ci]!.a)) / h, len(sub(c.b, prev!.caps[ci]!.b)) / h);
        });
      }
      prev = cur;
      const t = times[k - 1]! + h * s;
      for (const c of cur.caps) {
        for (const p of [c.a, c.b])
          for (let ax = 0; ax < 3; ax++)
            if (p[ax]! - c.r < ws.min_m[ax]! - 1e-9 || p[ax]! + c.r > ws.max_m[ax]! + 1e-9) bad.push(`capsule leaves the workspace on axis ${ax} in segment ${k}`);
        for (const z of raw.keep_out) {
          if (z.moving) {
            if (!ctx.movingZone) continue;
            const age = ctx.now_s + t - ctx.movingZone.stamp_s;
            const pos = add(ctx.movingZone.position_m, [ctx.movingZone.velocity_mps[0] * age, ctx.movingZone.velocity_mps[1] * age, ctx.movingZone.velocity_mps[2] * age]);
            const d = zoneDistance(c, drone, sub(pos, drone.center_m as V3));
            if (d < clearance + (drone.position_uncertainty_m ?? 0) - 1e-9) bad.push(`moving zone ${d.toFixed(4)} m away at t=${t.toFixed(3)}`);
          } else {
            const d = zoneDistance(c, z);
            if (d < clearance - 1e-9) bad.push(`zone ${z.id} ${d.toFixed(4)} m away in segment ${k}`);
          }
        }
        for (const person of ctx.persons) {
          const pa: V3 = [person.position_m[0], person.position_m[1], sep.floor_z_m + sep.person_radius_m];
          const pb: V3 = [person.position_m[0], person.position_m[1], sep.floor_z_m + sep.person_height_m - sep.person_radius_m];
          const mid: V3 = [(pa[0] + pb[0]) / 2, (pa[1] + pb[1]) / 2, (pa[2] + pb[2]) / 2];
          const lower = pointToSegment(mid, c.a, c.b) - c.r - sep.person_radius_m - len(sub(pb, mid)) - drift;
          const d = lower > 3 ? lower : segmentToSegment(c.a, c.b, pa, pb) - c.r - sep.person_radius_m - drift;
          minSeparation = Math.min(minSeparation, d);
        }
      }
    }
  }
  if (ctx.persons.length > 0) {
    // ISO/TS 15066: S_p = v_h (T_r + T_s) + v_r T_r + v_r T_s / 2 + C + Z_d + Z_r must not exceed the separation.
    const Sp = vh * (sep.reaction_time_s + sep.stopping_time_s) + maxPointSpeed * sep.reaction_time_s + (maxPointSpeed * sep.stopping_time_s) / 2 +
      sep.intrusion_distance_m + sep.human_position_uncertainty_m + sep.robot_position_uncertainty_m;
    if (minSeparation < Sp - 1e-9) bad.push(`separation ${minSeparation.toFixed(4)} m < S_p ${Sp.toFixed(4)} m at robot speed ${maxPointSpeed.toFixed(4)} m/s`);
  }
  return bad;
}
