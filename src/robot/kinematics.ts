/**
 * The kinematic model of a URDF robot: a tree of links compiled into a
 * topologically ordered list of joints, forward kinematics for every link
 * (float64 homogeneous transforms), the geometric Jacobian of a tip link,
 * damped-least-squares inverse kinematics with joint-limit clamping and a
 * null-space pull towards mid-range, and the per-link collision capsules the
 * guardrails measure distances with.
 */
import { KinematicsError } from './errors';
import type { JointLimits } from './jointLimits';
import { axisAngleInto, makeTransformFromXyzRpy, multiplyAt, multiplyInto, rotateAboutAxisAt, rotationErrorVector, type Transform, translationAlongInto, type Vec3 } from './math';
import type { JointType, UrdfRobot } from './urdf';

type JointSource =
  | { kind: 'active'; index: number }
  | { kind: 'mimic'; index: number; multiplier: number; offset: number }
  | { kind: 'constant'; value: number };

interface CompiledJoint {
  name: string;
  type: JointType;
  parentLink: number;
  childLink: number;
  origin: Transform;
  axis: Vec3;
  /** A revolute axis along ±x, ±y or ±z: which (0, 1, 2) and the sign; undefined for any other axis. */
  principal?: { index: 0 | 1 | 2; sign: 1 | -1 };
  source: JointSource;
}

/** The coordinate axis a unit joint axis lies along, if it does. */
function principalAxis(axis: Vec3): CompiledJoint['principal'] {
  for (const index of [0, 1, 2] as const) {
    const others = [0, 1, 2].filter((k) => k !== index);
    if (Math.abs(Math.abs(axis[index]) - 1) < 1e-12 && others.every((k) => axis[k] === 0)) return { index, sign: axis[index] > 0 ? 1 : -1 };
  }
  return undefined;
}

export interface KinematicModelOptions {
  /** Joints that make up q, in order. Default: every non-fixed, non-mimic joint in URDF order. */
  jointNames?: readonly string[];
  /** Positions of movable joints not in jointNames (default 0, clamped into their limits). */
  heldPositions?: Readonly<Record<string, number>>;
  /** Effective limits per joint (from mergeJointLimits); used by IK clamping. Default: URDF limits. */
  limits?: ReadonlyMap<string, JointLimits>;
}

export interface IkOptions {
  tipLink: string;
  /** Start configuration (default: mid-range). */
  q0?: ArrayLike<number>;
  maxIterations?: number;
  tolerance_m?: number;
  tolerance_rad?: number;
  /** DLS damping λ (units of the Jacobian rows). */
  damping?: number;
  /** Only match the tip position. */
  positionOnly?: boolean;
  /** Gain of the null-space pull towards mid-range (0 disables). */
  nullSpaceGain?: number;
  /** Largest joint step per iteration (rad or m). */
  maxStep?: number;
}

export interface IkResult {
  q: Float64Array;
  converged: boolean;
  iterations: number;
  positionError_m: number;
  orientationError_rad: number;
}

/** Solves the symmetric positive definite system A x = b (A is m x m row-major, overwritten). */
function solveSpd(A: Float64Array, b: Float64Array, m: number): Float64Array {
  // Cholesky A = L L^T.
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++)
    for (let j = 0; j <= i; j++) {
      let s = A[i * m + j]!;
      for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
      if (i === j) L[i * m + i] = Math.sqrt(Math.max(s, 1e-300));
      else L[i * m + j] = s / L[j * m + j]!;
    }
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * m + k]! * y[k]!;
    y[i] = s / L[i * m + i]!;
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= L[k * m + i]! * x[k]!;
    x[i] = s / L[i * m + i]!;
  }
  return x;
}

export class KinematicModel {
  readonly robot: UrdfRobot;
  /** Links in topological order (root first). */
  readonly linkNames: readonly string[];
  readonly jointNames: readonly string[];
  readonly jointTypes: readonly JointType[];
  /** Per q index: lower / upper position bound (±Infinity when none). */
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly limits: readonly JointLimits[];
  /** For each link index, the compiled joint whose child it is (-1 for the root). */
  private readonly parentJoint: Int32Array;
  private readonly joints: CompiledJoint[];
  private readonly linkIndex: Map<string, number>;
  private readonly motion = new Float64Array(16);
  private readonly tmp = new Float64Array(16);

  constructor(robot: UrdfRobot, options: KinematicModelOptions = {}) {
    this.robot = robot;
    const byChild = new Map(robot.joints.map((j) => [j.child, j]));
    const childrenOf = new Map<string, string[]>();
    for (const j of robot.joints) childrenOf.set(j.parent, [...(childrenOf.get(j.parent) ?? []), j.name]);
    const jointByName = new Map(robot.joints.map((j) => [j.name, j]));
    const root = robot.links.find((l) => !byChild.has(l.name))!.name;
    const order: string[] = [];
    const stack = [root];
    while (stack.length > 0) {
      const l = stack.pop()!;
      order.push(l);
      const kids = childrenOf.get(l) ?? [];
      for (let i = kids.length - 1; i >= 0; i--) stack.push(jointByName.get(kids[i]!)!.child);
    }
    if (order.length !== robot.links.length)
      throw new KinematicsError(`${robot.source}: ${robot.links.length - order.length} links are not connected to the root "${root}"`);
    this.linkNames = order;
    this.linkIndex = new Map(order.map((n, i) => [n, i]));

    const movable = robot.joints.filter((j) => j.type !== 'fixed');
    const defaultActive = movable.filter((j) => !j.mimic).map((j) => j.name);
    const active = options.jointNames ? [...options.jointNames] : defaultActive;
    for (const n of active) {
      const j = jointByName.get(n);
      if (!j) throw new KinematicsError(`${robot.source}: joint "${n}" (in jointNames) is not in the robot`);
      if (j.type === 'fixed') throw new KinematicsError(`${robot.source}: joint "${n}" (in jointNames) is fixed and cannot be commanded`);
      if (j.mimic) throw new KinematicsError(`${robot.source}: joint "${n}" (in jointNames) mimics "${j.mimic.joint}"; command "${j.mimic.joint}" instead`);
    }
    if (new Set(active).size !== active.length) throw new KinematicsError(`${robot.source}: jointNames has duplicates`);
    this.jointNames = active;
    const activeIndex = new Map(active.map((n, i) => [n, i]));

    const limitsMap = options.limits;
    this.limits = active.map((n) => {
      const l = limitsMap?.get(n);
      if (l) return l;
      const j = jointByName.get(n)!;
      return { name: n, type: j.type, lower: j.limit?.lower, upper: j.limit?.upper, maxVelocity: j.limit?.velocity, maxEffort: j.limit?.effort, sources: {} };
    });
    this.jointTypes = active.map((n) => jointByName.get(n)!.type);
    this.lower = Float64Array.from(this.limits, (l) => (l.type === 'continuous' || l.lower === undefined ? -Infinity : l.lower));
    this.upper = Float64Array.from(this.limits, (l) => (l.type === 'continuous' || l.upper === undefined ? Infinity : l.upper));

    const held = (name: string): number => {
      const j = jointByName.get(name)!;
      let v = options.heldPositions?.[name] ?? 0;
      if (j.limit?.lower !== undefined && j.type !== 'continuous') v = Math.max(v, j.limit.lower);
      if (j.limit?.upper !== undefined && j.type !== 'continuous') v = Math.min(v, j.limit.upper);
      return v;
    };
    const sourceOf = (name: string, depth = 0): JointSource => {
      if (depth > robot.joints.length) throw new KinematicsError(`${robot.source}: mimic cycle through joint "${name}"`);
      const j = jointByName.get(name)!;
      if (j.type === 'fixed') return { kind: 'constant', value: 0 };
      const ai = activeIndex.get(name);
      if (ai !== undefined) return { kind: 'active', index: ai };
      if (j.mimic) {
        const m = sourceOf(j.mimic.joint, depth + 1);
        if (m.kind === 'active') return { kind: 'mimic', index: m.index, multiplier: j.mimic.multiplier, offset: j.mimic.offset };
        if (m.kind === 'mimic') return { kind: 'mimic', index: m.index, multiplier: m.multiplier * j.mimic.multiplier, offset: m.offset * j.mimic.multiplier + j.mimic.offset };
        return { kind: 'constant', value: m.value * j.mimic.multiplier + j.mimic.offset };
      }
      return { kind: 'constant', value: held(name) };
    };

    this.parentJoint = new Int32Array(order.length).fill(-1);
    this.joints = [];
    for (let li = 1; li < order.length; li++) {
      const j = byChild.get(order[li]!)!;
      this.parentJoint[li] = this.joints.length;
      this.joints.push({
        name: j.name,
        type: j.type,
        parentLink: this.linkIndex.get(j.parent)!,
        childLink: li,
        origin: makeTransformFromXyzRpy(j.origin.xyz, j.origin.rpy),
        axis: j.axis,
        principal: j.type === 'prismatic' || j.type === 'fixed' ? undefined : principalAxis(j.axis),
        source: sourceOf(j.name),
      });
    }
  }

  get dof(): number {
    return this.jointNames.length;
  }

  indexOfLink(name: string): number {
    const i = this.linkIndex.get(name);
    if (i === undefined) throw new KinematicsError(`${this.robot.source}: no link named "${name}" (links: ${this.linkNames.join(', ')})`);
    return i;
  }

  /** Position of the compiled joint driving a link for configuration q. */
  private jointValue(j: CompiledJoint, q: ArrayLike<number>): number {
    const s = j.source;
    if (s.kind === 'active') return q[s.index]!;
    if (s.kind === 'mimic') return q[s.index]! * s.multiplier + s.offset;
    return s.value;
  }

  /**
   * World transform of every link: [linkCount * 16], link i at offset 16 i,
   * in `linkNames` order. Writes into `out` when given.
   */
  forwardKinematics(q: ArrayLike<number>, out?: Float64Array): Float64Array {
    if (q.length !== this.dof) throw new KinematicsError(`forwardKinematics: q has ${q.length} values, the model has ${this.dof} joints (${this.jointNames.join(', ')})`);
    const n = this.linkNames.length;
    const T = out ?? new Float64Array(n * 16);
    T.fill(0, 0, 16);
    T[0] = 1;
    T[5] = 1;
    T[10] = 1;
    T[15] = 1;
    const motion = this.motion, tmp = this.tmp;
    // Offsets into T rather than a subarray per joint: a batch's energy terms run this for every predicted state.
    for (const j of this.joints) {
      const parent = j.parentLink * 16;
      const child = j.childLink * 16;
      if (j.type === 'fixed') {
        multiplyAt(T, child, T, parent, j.origin, 0);
        continue;
      }
      const v = this.jointValue(j, q);
      if (j.principal) {
        multiplyAt(T, child, T, parent, j.origin, 0);
        rotateAboutAxisAt(T, child, j.principal.index, j.principal.sign * v);
        continue;
      }
      if (j.type === 'prismatic') translationAlongInto(motion, j.axis[0], j.axis[1], j.axis[2], v);
      else axisAngleInto(motion, j.axis[0], j.axis[1], j.axis[2], v);
      multiplyAt(tmp, 0, T, parent, j.origin, 0);
      multiplyAt(T, child, tmp, 0, motion, 0);
    }
    return T;
  }

  /** World transform of one link (allocates). */
  linkTransform(q: ArrayLike<number>, link: string): Transform {
    const li = this.indexOfLink(link);
    return this.forwardKinematics(q).slice(li * 16, li * 16 + 16);
  }

  /** Compiled joints from the root to `link` (root first). */
  private pathTo(li: number): CompiledJoint[] {
    const path: CompiledJoint[] = [];
    let cur = li;
    while (this.parentJoint[cur]! >= 0) {
      const j = this.joints[this.parentJoint[cur]!]!;
      path.push(j);
      cur = j.parentLink;
    }
    return path.reverse();
  }

  /**
   * Geometric Jacobian of a point fixed in `tipLink` (at `pointInTip`, default
   * its origin), in the world frame: 6 x dof row-major, rows vx vy vz wx wy wz.
   */
  jacobian(q: ArrayLike<number>, tipLink: string, pointInTip: Vec3 = [0, 0, 0], fk?: Float64Array): Float64Array {
    const li = this.indexOfLink(tipLink);
    const T = fk ?? this.forwardKinematics(q);
    const o = li * 16;
    const px = T[o]! * pointInTip[0] + T[o + 1]! * pointInTip[1] + T[o + 2]! * pointInTip[2] + T[o + 3]!;
    const py = T[o + 4]! * pointInTip[0] + T[o + 5]! * pointInTip[1] + T[o + 6]! * pointInTip[2] + T[o + 7]!;
    const pz = T[o + 8]! * pointInTip[0] + T[o + 9]! * pointInTip[1] + T[o + 10]! * pointInTip[2] + T[o + 11]!;
    const n = this.dof;
    const J = new Float64Array(6 * n);
    const frame = new Float64Array(16);
    for (const j of this.pathTo(li)) {
      if (j.type === 'fixed' || j.source.kind === 'constant') continue;
      const gain = j.source.kind === 'mimic' ? j.source.multiplier : 1;
      const col = j.source.index;
      const parent = T.subarray(j.parentLink * 16, j.parentLink * 16 + 16);
      multiplyInto(frame, parent, j.origin);
      const zx = frame[0]! * j.axis[0] + frame[1]! * j.axis[1] + frame[2]! * j.axis[2];
      const zy = frame[4]! * j.axis[0] + frame[5]! * j.axis[1] + frame[6]! * j.axis[2];
      const zz = frame[8]! * j.axis[0] + frame[9]! * j.axis[1] + frame[10]! * j.axis[2];
      if (j.type === 'prismatic') {
        J[0 * n + col] = J[0 * n + col]! + gain * zx;
        J[1 * n + col] = J[1 * n + col]! + gain * zy;
        J[2 * n + col] = J[2 * n + col]! + gain * zz;
      } else {
        const rx = px - frame[3]!, ry = py - frame[7]!, rz = pz - frame[11]!;
        J[0 * n + col] = J[0 * n + col]! + gain * (zy * rz - zz * ry);
        J[1 * n + col] = J[1 * n + col]! + gain * (zz * rx - zx * rz);
        J[2 * n + col] = J[2 * n + col]! + gain * (zx * ry - zy * rx);
        J[3 * n + col] = J[3 * n + col]! + gain * zx;
        J[4 * n + col] = J[4 * n + col]! + gain * zy;
        J[5 * n + col] = J[5 * n + col]! + gain * zz;
      }
    }
    return J;
  }

  /** Middle of each joint's range (0 for unbounded joints). */
  midRange(): Float64Array {
    return Float64Array.from(this.jointNames, (_, i) => (Number.isFinite(this.lower[i]!) && Number.isFinite(this.upper[i]!) ? (this.lower[i]! + this.upper[i]!) / 2 : 0));
  }

  /** Clamps q into the position limits in place. */
  clampToLimits(q: Float64Array): Float64Array {
    for (let i = 0; i < q.length; i++) q[i] = Math.min(this.upper[i]!, Math.max(this.lower[i]!, q[i]!));
    return q;
  }

  /**
   * Damped-least-squares IK: dq = J^T (J J^T + λ² I)^-1 e, plus a null-space
   * pull (I - J^T (J J^T + λ² I)^-1 J) k (mid - q); every iterate is clamped
   * into the joint limits, so the result always respects them.
   */
  inverseKinematics(target: Transform, options: IkOptions): IkResult {
    const n = this.dof;
    const tip = this.indexOfLink(options.tipLink);
    const maxIt = options.maxIterations ?? 500;
    const tolP = options.tolerance_m ?? 1e-5;
    const tolR = options.tolerance_rad ?? 1e-4;
    const lambda = options.damping ?? 0.02;
    const k0 = options.nullSpaceGain ?? 0.01;
    const maxStep = options.maxStep ?? 0.3;
    const m = options.positionOnly ? 3 : 6;
    const mid = this.midRange();
    const q = this.clampToLimits(options.q0 ? Float64Array.from(options.q0) : mid.slice());
    const fk = new Float64Array(this.linkNames.length * 16);
    let posErr = Infinity, rotErr = Infinity;
    for (let it = 0; it <= maxIt; it++) {
      this.forwardKinematics(q, fk);
      const T = fk.subarray(tip * 16, tip * 16 + 16);
      const e = new Float64Array(m);
      e[0] = target[3]! - T[3]!;
      e[1] = target[7]! - T[7]!;
      e[2] = target[11]! - T[11]!;
      posErr = Math.hypot(e[0], e[1], e[2]);
      if (m === 6) {
        const r = rotationErrorVector(target, T);
        e[3] = r[0];
        e[4] = r[1];
        e[5] = r[2];
        rotErr = Math.hypot(r[0], r[1], r[2]);
      } else rotErr = 0;
      if (posErr <= tolP && rotErr <= tolR) return { q, converged: true, iterations: it, positionError_m: posErr, orientationError_rad: rotErr };
      if (it === maxIt) break;
      const J = this.jacobian(q, options.tipLink, [0, 0, 0], fk);
      // A = J J^T + λ² I over the first m rows.
      const A = new Float64Array(m * m);
      for (let a = 0; a < m; a++)
        for (let b = 0; b < m; b++) {
          let s = 0;
          for (let c = 0; c < n; c++) s += J[a * n + c]! * J[b * n + c]!;
          A[a * m + b] = s + (a === b ? lambda * lambda : 0);
        }
      const y = solveSpd(A.slice(), e, m);
      const dq = new Float64Array(n);
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let a = 0; a < m; a++) s += J[a * n + c]! * y[a]!;
        dq[c] = s;
      }
      if (k0 > 0) {
        const z = Float64Array.from(mid, (v, i) => k0 * (v - q[i]!));
        const Jz = new Float64Array(m);
        for (let a = 0; a < m; a++) {
          let s = 0;
          for (let c = 0; c < n; c++) s += J[a * n + c]! * z[c]!;
          Jz[a] = s;
        }
        // Projector with a tiny regulariser so the pull stays (almost) in the
        // exact null space and does not bias the task error.
        const An = A.slice();
        for (let a = 0; a < m; a++) An[a * m + a] = An[a * m + a]! - lambda * lambda + 1e-8;
        const w = solveSpd(An, Jz, m);
        for (let c = 0; c < n; c++) {
          let s = 0;
          for (let a = 0; a < m; a++) s += J[a * n + c]! * w[a]!;
          dq[c] = dq[c]! + z[c]! - s;
        }
      }
      let big = 0;
      for (let c = 0; c < n; c++) big = Math.max(big, Math.abs(dq[c]!));
      const scale = big > maxStep ? maxStep / big : 1;
      for (let c = 0; c < n; c++) q[c] = q[c]! + dq[c]! * scale;
      this.clampToLimits(q);
    }
    return { q, converged: false, iterations: maxIt, positionError_m: posErr, orientationError_rad: rotErr };
  }

  /**
   * Moving joints on the path root -> `link`, with what a motion bound needs:
   * the q index that drives each, its gain (mimic multiplier), type, the
   * child link (its frame origin lies on the joint axis) and the axis in that
   * child frame.
   */
  movingJointsOf(link: string): { index: number; gain: number; type: JointType; childLink: number; axis: Vec3 }[] {
    return this.pathTo(this.indexOfLink(link))
      .filter((j) => j.type !== 'fixed' && j.source.kind !== 'constant')
      .map((j) => {
        const s = j.source as { kind: 'active' | 'mimic'; index: number; multiplier?: number };
        return { index: s.index, gain: s.kind === 'mimic' ? s.multiplier! : 1, type: j.type, childLink: j.childLink, axis: j.axis };
      });
  }

  /**
   * Upper bound, valid in every configuration, on the distance from the
   * origin of each link on the path root -> `link` to the origin of `link`:
   * sum of the joint-origin offsets between them plus prismatic travel.
   * Returned per entry of movingJointsOf(link), in the same order.
   */
  reachBoundsTo(link: string): number[] {
    const path = this.pathTo(this.indexOfLink(link));
    const out: number[] = [];
    for (let k = 0; k < path.length; k++) {
      const j = path[k]!;
      if (j.type === 'fixed' || j.source.kind === 'constant') continue;
      let r = 0;
      for (let l = k + 1; l < path.length; l++) {
        const jl = path[l]!;
        r += Math.hypot(jl.origin[3]!, jl.origin[7]!, jl.origin[11]!);
        if (jl.type === 'prismatic') {
          const lim = this.robot.joints.find((x) => x.name === jl.name)!.limit;
          r += Math.max(Math.abs(lim?.lower ?? Infinity), Math.abs(lim?.upper ?? Infinity));
        }
      }
      out.push(r);
    }
    return out;
  }

  /** Origins (in the link frame) of the joints whose parent is `link`. */
  childOrigins(link: string): Vec3[] {
    const li = this.indexOfLink(link);
    return this.joints.filter((j) => j.parentLink === li).map((j) => [j.origin[3]!, j.origin[7]!, j.origin[11]!] as Vec3);
  }

  /** Translation of the joint origin that places `link` in its parent (zero for the root). */
  originOffset(link: string): Vec3 {
    const li = this.indexOfLink(link);
    const ji = this.parentJoint[li]!;
    if (ji < 0) return [0, 0, 0];
    const o = this.joints[ji]!.origin;
    return [o[3]!, o[7]!, o[11]!];
  }

  parentLinkOf(link: string): string | undefined {
    const ji = this.parentJoint[this.indexOfLink(link)]!;
    return ji < 0 ? undefined : this.linkNames[this.joints[ji]!.parentLink];
  }
}

