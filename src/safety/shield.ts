/**
 * The shield: the last stage before any arm. For every command (a joint
 * trajectory, or one joint target with a duration) it decides pass, scale
 * (slow the trajectory in time), clamp (pull waypoints onto position limits)
 * or halt, with reason codes, and logs the decision. It also runs the
 * watchdog (joint state, perception and command age; `tick()` once per
 * control period) and holds the e-stop latch.
 *
 * The motion model it verifies, and promises to downstream code, is:
 *  - positions move linearly in joint space between waypoints, starting
 *    from the measured joint state at t = 0;
 *  - segment velocity v_k = (q_k - q_{k-1}) / dt_k, v_0 = measured velocity;
 *  - acceleration a_k = (v_k - v_{k-1}) / dt_k for k >= 1;
 *  - jerk j_k = (a_{k+1} - a_k) / dt_{k+1} for k >= 1;
 *  - where the URDF has a <safety_controller>, |v_k| towards a soft limit
 *    is at most k_position x the distance left to it from q_{k-1};
 *  - Cartesian checks (workspace, keep-out zones, separation, TCP speed)
 *    hold for every configuration on the joint-space path, not only at
 *    waypoints: samples are spaced so no robot point moves more than
 *    sweep_resolution_m between them, and every test is inflated by the
 *    largest motion between samples (a configuration-independent
 *    reach bound), so what passes between samples is caught too.
 *
 * It never imports the planner and trusts nothing it is given: the guardrails
 * are copied and frozen at construction and live in private fields.
 */
import { capsuleBoxDistanceAt, capsuleOutsideBoxExcess, pointSegmentDistanceSq, segmentSegmentDistanceSq, type OrientedBox } from '../robot/geometry';
import { KinematicModel } from '../robot/kinematics';
import { makeTransformFromXyzRpy } from '../robot/math';
import type { ZoneConfig } from './config';
import { deepFreeze, type Guardrails } from './guardrails';
import { maxRobotSpeed, protectiveSeparation, slowDownFactor, type SeparationConfig } from './separation';
import type { ShieldStatus } from './status';
import { ShieldInputError } from './errors';

export interface TrajectoryPoint {
  positions: readonly number[];
  /** Seconds after the command starts; strictly increasing, first > 0. */
  time_from_start_s: number;
}

export type ShieldCommand =
  | { kind: 'trajectory'; joint_names?: readonly string[]; points: readonly TrajectoryPoint[]; stamp_s: number }
  | { kind: 'target'; joint_names?: readonly string[]; positions: readonly number[]; duration_s: number; stamp_s: number };

export interface JointStateInput {
  positions: ArrayLike<number>;
  velocities: ArrayLike<number>;
  efforts?: ArrayLike<number>;
  stamp_s: number;
}

export interface TrackedPerson {
  id: string;
  position_m: readonly [number, number, number];
  velocity_mps: readonly [number, number, number];
}

export interface ZoneUpdate {
  id: string;
  position_m: readonly [number, number, number];
  velocity_mps: readonly [number, number, number];
}

export interface PerceptionInput {
  stamp_s: number;
  persons: readonly TrackedPerson[];
  zones?: readonly ZoneUpdate[];
}

export type Verdict = 'pass' | 'scale' | 'clamp' | 'halt';

export interface ShieldDecision {
  verdict: Verdict;
  reasons: readonly ShieldStatus[];
  detail: string;
  time_s: number;
  /** Factor the command's times were multiplied by (1 = unchanged). */
  timeScale: number;
  /** What to send on pass / scale / clamp; null on halt. */
  trajectory: { joint_names: readonly string[]; points: readonly TrajectoryPoint[] } | null;
  /** On halt: hold here (the last measured positions), when known. */
  hold: readonly number[] | null;
  metrics: {
    samples: number;
    minZoneDistance_m: number;
    minSeparation_m: number;
    protectiveSeparation_m: number;
    tcpSpeedBound_mps: number;
    robotSpeedBound_mps: number;
  };
  source: 'command' | 'tick' | 'reset';
}

export interface ShieldOptions {
  /** Seconds, in the same time base as every stamp_s. Default: wall clock. */
  clock?: () => number;
  /** Decisions kept in memory (oldest dropped first). */
  logCapacity?: number;
  listener?: (decision: ShieldDecision) => void;
}

interface CompiledZone {
  id: string;
  moving: boolean;
  uncertainty_m: number;
  kind: 'box' | 'sphere' | 'capsule';
  /** Reference point the tracked position replaces. */
  ref: [number, number, number];
  a: [number, number, number];
  b: [number, number, number];
  radius: number;
  halfExtents: [number, number, number];
  rotation: number[];
  /** Radius of a sphere about `ref` that contains the zone, m. */
  boundRadius: number;
}

interface MotionTerm {
  /** q index, gain, revolute?, child link index, axis in child frame. */
  index: number;
  gain: number;
  revolute: boolean;
  childLink: number;
  ax: number;
  ay: number;
  az: number;
}

const EPS_LIMIT = 1e-9;

interface SweepResult {
  samples: number;
  /** Smallest distance to a static zone over the path, inflation subtracted, m. */
  minZone: number;
  startZone: number;
  approachingZone: boolean;
  minSeparation: number;
  /** Per segment k: bound on TCP / fastest robot point travel for that segment, m. */
  tcpCoeff: Float64Array;
  robotCoeff: Float64Array;
  /** Box holding every robot point on the whole path (samples, radii and inflation included), m. */
  boundsMin: [number, number, number];
  boundsMax: [number, number, number];
  halt: null | { reason: ShieldStatus; detail: string };
}

function zoneFromConfig(z: ZoneConfig): CompiledZone {
  const base = { id: z.id, moving: z.moving, uncertainty_m: z.position_uncertainty_m };
  if (z.shape === 'sphere')
    return { ...base, kind: 'sphere', ref: [...z.center_m], a: [...z.center_m], b: [...z.center_m], radius: z.radius_m, halfExtents: [0, 0, 0], rotation: [], boundRadius: z.radius_m };
  if (z.shape === 'capsule') {
    const mid: [number, number, number] = [(z.a_m[0] + z.b_m[0]) / 2, (z.a_m[1] + z.b_m[1]) / 2, (z.a_m[2] + z.b_m[2]) / 2];
    const half = Math.hypot(z.a_m[0] - mid[0], z.a_m[1] - mid[1], z.a_m[2] - mid[2]);
    return { ...base, kind: 'capsule', ref: mid, a: [...z.a_m], b: [...z.b_m], radius: z.radius_m, halfExtents: [0, 0, 0], rotation: [], boundRadius: half + z.radius_m };
  }
  const T = makeTransformFromXyzRpy([0, 0, 0], z.rpy_rad);
  return {
    ...base,
    kind: 'box',
    ref: [...z.center_m],
    a: [...z.center_m],
    b: [...z.center_m],
    radius: 0,
    halfExtents: [z.size_m[0] / 2, z.size_m[1] / 2, z.size_m[2] / 2],
    rotation: [T[0]!, T[1]!, T[2]!, T[4]!, T[5]!, T[6]!, T[8]!, T[9]!, T[10]!],
    boundRadius: Math.hypot(z.size_m[0], z.size_m[1], z.size_m[2]) / 2,
  };
}

/**
 * Distance from capsule [a, b] radius r to the zone translated by (ox, oy, oz);
 * when a cheap lower bound already exceeds `enough`, that lower bound is
 * returned instead (callers only need exact values below `enough`).
 */
function zoneDistanceBounded(z: CompiledZone, ox: number, oy: number, oz: number, ax: number, ay: number, az: number, bx: number, by: number, bz: number, r: number, enough: number): number {
  if (z.kind === 'sphere') return zoneDistance(z, ox, oy, oz, ax, ay, az, bx, by, bz, r);
  const cx = z.ref[0] + ox, cy = z.ref[1] + oy, cz = z.ref[2] + oz;
  const lower = Math.sqrt(pointSegmentDistanceSq(cx, cy, cz, ax, ay, az, bx, by, bz)) - r - z.boundRadius;
  return lower > enough ? lower : zoneDistance(z, ox, oy, oz, ax, ay, az, bx, by, bz, r);
}

/** Distance from capsule [a, b] radius r to the zone translated by (ox, oy, oz). */
function zoneDistance(z: CompiledZone, ox: number, oy: number, oz: number, ax: number, ay: number, az: number, bx: number, by: number, bz: number, r: number): number {
  if (z.kind === 'sphere') return Math.sqrt(pointSegmentDistanceSq(z.a[0] + ox, z.a[1] + oy, z.a[2] + oz, ax, ay, az, bx, by, bz)) - r - z.radius;
  if (z.kind === 'capsule')
    return Math.sqrt(segmentSegmentDistanceSq(ax, ay, az, bx, by, bz, z.a[0] + ox, z.a[1] + oy, z.a[2] + oz, z.b[0] + ox, z.b[1] + oy, z.b[2] + oz)) - r - z.radius;
  return capsuleBoxDistanceAt(ax, ay, az, bx, by, bz, r, z.a[0] + ox, z.a[1] + oy, z.a[2] + oz, z.halfExtents, z.rotation);
}

/** Distance of the point r (relative to a point on the axis) from the unit axis z. */
function axisDistance(rx: number, ry: number, rz: number, zx: number, zy: number, zz: number): number {
  const cx = ry * zz - rz * zy, cy = rz * zx - rx * zz, cz = rx * zy - ry * zx;
  return Math.sqrt(cx * cx + cy * cy + cz * cz);
}

function isFiniteArray(a: ArrayLike<number> | undefined): boolean {
  if (a === undefined) return true;
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'number' || !Number.isFinite(a[i]!)) return false;
  return true;
}

/** Finds a non-finite number anywhere inside a value (depth-limited walk). */
function containsNonFinite(value: unknown, depth = 0): boolean {
  if (typeof value === 'number') return !Number.isFinite(value);
  if (depth > 6 || typeof value !== 'object' || value === null) return false;
  if (ArrayBuffer.isView(value)) return !isFiniteArray(value as unknown as ArrayLike<number>);
  for (const v of Object.values(value)) if (containsNonFinite(v, depth + 1)) return true;
  return false;
}

export class Shield {
  readonly #g: Guardrails;
  readonly #model: KinematicModel;
  readonly #clock: () => number;
  readonly #logCapacity: number;
  readonly #listener: ((d: ShieldDecision) => void) | undefined;
  readonly #log: ShieldDecision[] = [];
  readonly #n: number;
  readonly #lower: Float64Array;
  readonly #upper: Float64Array;
  readonly #vmax: Float64Array;
  readonly #amax: Float64Array;
  readonly #jmax: Float64Array;
  readonly #emax: Float64Array;
  /** Soft-limit velocity bound per joint: k_position (0 = none), soft lower / upper. */
  readonly #softK: Float64Array;
  readonly #softLo: Float64Array;
  readonly #softHi: Float64Array;
  /** Per q index: bound on how far any checked robot point moves per unit of that joint. */
  readonly #reach: Float64Array;
  readonly #capLink: Int32Array;
  readonly #capLocal: Float64Array;
  readonly #capRadius: Float64Array;
  readonly #capTerms: MotionTerm[][];
  readonly #tcpLink: number;
  readonly #tcpOffset: [number, number, number];
  readonly #tcpTerms: MotionTerm[];
  readonly #zones: CompiledZone[];
  readonly #boxes: OrientedBox[];
  readonly #sep: SeparationConfig | undefined;
  readonly #minSpeedFraction: number;
  readonly #perceptionRequired: boolean;
  /** Zone distances above this need not be exact (beyond slow-down and clearance), m. */
  readonly #exactBelow: number;
  #fk: Float64Array;
  #capWorld: Float64Array;
  // Run-time state.
  #q: Float64Array | null = null;
  #qd: Float64Array | null = null;
  #effort: Float64Array | null = null;
  #stateStamp = -Infinity;
  #stateFinite = true;
  #perceptionStamp = -Infinity;
  #perceptionFinite = true;
  #persons: TrackedPerson[] = [];
  #zoneTrack = new Map<string, { p: [number, number, number]; v: [number, number, number]; stamp: number }>();
  #lastCommandTime: number;
  #holdingSharp = false;
  #estopInput = false;
  #latched: { reason: ShieldStatus; detail: string } | null = null;

  constructor(guardrails: Guardrails, options: ShieldOptions = {}) {
    // Own copy, frozen: later changes to the caller's object cannot reach us.
    const g = deepFreeze(structuredClone(guardrails) as Guardrails);
    this.#g = g;
    this.#clock = options.clock ?? (() => Date.now() / 1000);
    this.#logCapacity = Math.max(1, Math.floor(options.logCapacity ?? 1000));
    this.#listener = options.listener;
    const model = new KinematicModel(g.robot, { jointNames: g.jointNames });
    this.#model = model;
    const n = (this.#n = g.jointNames.length);
    this.#lower = Float64Array.from(g.lower);
    this.#upper = Float64Array.from(g.upper);
    this.#vmax = Float64Array.from(g.maxVelocity, (v) => v * (1 - EPS_LIMIT));
    this.#amax = Float64Array.from(g.maxAcceleration, (v) => v * (1 - EPS_LIMIT));
    this.#jmax = Float64Array.from(g.maxJerk, (v) => v * (1 - EPS_LIMIT));
    this.#emax = Float64Array.from(g.maxEffort, (v) => (v === null ? Infinity : v * g.config.effort.max_fraction));
    this.#softK = Float64Array.from(g.softLimits, (l) => (l ? l.kPosition * (1 - EPS_LIMIT) : 0));
    this.#softLo = Float64Array.from(g.softLimits, (l) => (l ? l.lower : -Infinity));
    this.#softHi = Float64Array.from(g.softLimits, (l) => (l ? l.upper : Infinity));
    const cfg = g.config;

    const termsOf = (link: string): MotionTerm[] =>
      model.movingJointsOf(link).map((m) => ({ index: m.index, gain: m.gain, revolute: m.type !== 'prismatic', childLink: m.childLink, ax: m.axis[0], ay: m.axis[1], az: m.axis[2] }));
    const caps = g.capsules;
    this.#capLink = Int32Array.from(caps, (c) => c.linkIndex);
    this.#capLocal = new Float64Array(caps.length * 6);
    caps.forEach((c, i) => this.#capLocal.set([...c.a, ...c.b], 6 * i));
    this.#capRadius = Float64Array.from(caps, (c) => c.radius_m);
    this.#capTerms = caps.map((c) => termsOf(c.link));
    this.#tcpLink = model.indexOfLink(cfg.tcp_link);
    this.#tcpOffset = [...cfg.tcp_offset_m];
    this.#tcpTerms = termsOf(cfg.tcp_link);
    // Reach bound per q index over every capsule and the TCP.
    const reach = new Float64Array(n);
    const addReach = (link: string, extra: number) => {
      const terms = model.movingJointsOf(link);
      const bounds = model.reachBoundsTo(link);
      const perIndex = new Float64Array(n);
      terms.forEach((t, k) => (perIndex[t.index] = perIndex[t.index]! + Math.abs(t.gain) * (t.type === 'prismatic' ? 1 : bounds[k]! + extra)));
      for (let i = 0; i < n; i++) reach[i] = Math.max(reach[i]!, perIndex[i]!);
    };
    for (const c of caps) addReach(c.link, Math.max(Math.hypot(...c.a), Math.hypot(...c.b)) + c.radius_m);
    addReach(cfg.tcp_link, Math.hypot(...cfg.tcp_offset_m));
    this.#reach = reach;
    this.#zones = cfg.keep_out.map(zoneFromConfig);
    this.#boxes = (cfg.workspace?.boxes ?? []).map((b) => ({
      center: [(b.min_m[0] + b.max_m[0]) / 2, (b.min_m[1] + b.max_m[1]) / 2, (b.min_m[2] + b.max_m[2]) / 2] as const,
      halfExtents: [(b.max_m[0] - b.min_m[0]) / 2, (b.max_m[1] - b.min_m[1]) / 2, (b.max_m[2] - b.min_m[2]) / 2] as const,
      rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    }));
    this.#sep = cfg.separation;
    this.#minSpeedFraction = cfg.separation?.min_speed_fraction ?? 0.02;
    this.#perceptionRequired = cfg.separation !== undefined || this.#zones.some((z) => z.moving);
    this.#exactBelow = Math.max(cfg.collision.slow_down_distance_m, cfg.collision.clearance_m) + 0.05;
    this.#fk = new Float64Array(model.linkNames.length * 16);
    this.#capWorld = new Float64Array(caps.length * 6 * 64);
    this.#lastCommandTime = this.#clock();
    Object.freeze(this);
  }

  /** The frozen guardrails this shield enforces (a copy; changing it is impossible and would not matter). */
  get guardrails(): Guardrails {
    return this.#g;
  }

  get jointNames(): readonly string[] {
    return this.#g.jointNames;
  }

  /** Decisions kept in memory, oldest first (a copy). */
  get log(): readonly ShieldDecision[] {
    return [...this.#log];
  }

  get latched(): { reason: ShieldStatus; detail: string } | null {
    return this.#latched ? { ...this.#latched } : null;
  }

  // ── inputs ───────────────────────────────────────────────────────────────

  updateJointState(state: JointStateInput): void {
    const n = this.#n;
    if (state.positions.length !== n || state.velocities.length !== n || (state.efforts && state.efforts.length !== n))
      throw new ShieldInputError(`joint state: expected ${n} positions/velocities/efforts for ${this.#g.jointNames.join(', ')}, got ${state.positions.length}/${state.velocities.length}/${state.efforts?.length ?? '-'}`);
    const finite = isFiniteArray(state.positions) && isFiniteArray(state.velocities) && isFiniteArray(state.efforts) && Number.isFinite(state.stamp_s);
    this.#stateFinite = finite;
    if (!finite) {
      this.#latch('NON_FINITE_INPUT', 'joint state contains NaN or Inf');
      return;
    }
    this.#q = Float64Array.from(state.positions);
    this.#qd = Float64Array.from(state.velocities);
    this.#effort = state.efforts ? Float64Array.from(state.efforts) : null;
    this.#stateStamp = state.stamp_s;
    const over = this.#effortViolation();
    if (over) this.#latch('EFFORT_LIMIT', over);
  }

  updatePerception(p: PerceptionInput): void {
    if (containsNonFinite(p)) {
      this.#perceptionFinite = false;
      this.#latch('NON_FINITE_INPUT', 'perception contains NaN or Inf');
      return;
    }
    for (const u of p.zones ?? []) {
      const z = this.#zones.find((zz) => zz.id === u.id);
      if (!z) throw new ShieldInputError(`perception: zone "${u.id}" is not a configured keep-out zone (configured: ${this.#zones.map((zz) => zz.id).join(', ') || 'none'})`);
      if (!z.moving) throw new ShieldInputError(`perception: zone "${u.id}" is static; only zones configured with moving: true can be moved`);
      const keys = Object.keys(u).sort().join(',');
      if (keys !== 'id,position_m,velocity_mps') throw new ShieldInputError(`perception: zone update "${u.id}" may carry only id, position_m, velocity_mps (got ${keys}); shape and size are fixed by the safety file`);
    }
    this.#perceptionFinite = true;
    this.#perceptionStamp = p.stamp_s;
    this.#persons = p.persons.map((x) => ({ id: x.id, position_m: [...x.position_m], velocity_mps: [...x.velocity_mps] }));
    for (const u of p.zones ?? []) this.#zoneTrack.set(u.id, { p: [...u.position_m], v: [...u.velocity_mps], stamp: p.stamp_s });
  }

  /** Tool speed limit switches to tool.sharp_object_max_speed_mps while true. */
  setHoldingSharpObject(holding: boolean): void {
    this.#holdingSharp = holding === true;
  }

  /** External e-stop input: engaging latches; the latch stays until reset() after release. */
  setEstopInput(engaged: boolean, detail = 'external e-stop'): void {
    this.#estopInput = engaged === true;
    if (this.#estopInput) this.#latch('ESTOP_LATCHED', detail);
  }

  /** Clears the latch when its cause is gone; refuses (and says why) otherwise. */
  reset(): { ok: boolean; detail: string } {
    const now = this.#clock();
    const cause = this.#estopInput
      ? 'the e-stop input is still engaged'
      : !this.#stateFinite
        ? 'the latest joint state is not finite'
        : !this.#perceptionFinite
          ? 'the latest perception is not finite'
          : this.#q === null || now - this.#stateStamp > this.#g.config.watchdog.joint_state_timeout_s
            ? 'no fresh joint state'
            : this.#effortViolation();
    const ok = !cause;
    if (ok) this.#latched = null;
    const detail = ok ? 'latch cleared' : `reset refused: ${cause}`;
    this.#record({
      verdict: ok ? 'pass' : 'halt', reasons: ok ? [] : ['ESTOP_LATCHED'], detail, time_s: now, timeScale: 1, trajectory: null, hold: this.#hold(),
      metrics: this.#emptyMetrics(), source: 'reset',
    });
    return { ok, detail };
  }

  // ── checks ───────────────────────────────────────────────────────────────

  /** Watchdog and continuous monitoring; call once per control period. */
  tick(): ShieldDecision {
    const now = this.#clock();
    const reasons: ShieldStatus[] = [];
    const details: string[] = [];
    const metrics = this.#emptyMetrics();
    if (this.#latched) (reasons.push('ESTOP_LATCHED'), details.push(`latched: ${this.#latched.reason} (${this.#latched.detail})`));
    const w = this.#g.config.watchdog;
    if (this.#q === null || now - this.#stateStamp > w.joint_state_timeout_s) (reasons.push('WATCHDOG_TIMEOUT'), details.push(`joint state older than ${w.joint_state_timeout_s} s`));
    if (this.#perceptionRequired && now - this.#perceptionStamp > w.perception_timeout_s) (reasons.push('WATCHDOG_TIMEOUT'), details.push(`perception older than ${w.perception_timeout_s} s`));
    if (now - this.#lastCommandTime > w.incoming_command_timeout_s) (reasons.push('WATCHDOG_TIMEOUT'), details.push(`no command for ${w.incoming_command_timeout_s} s (incoming_command_timeout)`));
    if (reasons.length === 0 && this.#q && this.#qd) {
      const fk = this.#model.forwardKinematics(this.#q, this.#fk);
      this.#placeCapsules(fk, 0);
      const zd = this.#minZoneDistanceAt(0, 0, now);
      metrics.minZoneDistance_m = zd;
      if (zd < this.#g.config.collision.clearance_m) (reasons.push('HALT_FOR_COLLISION'), details.push(`a keep-out zone is ${zd.toFixed(3)} m away`));
      if (this.#sep && this.#persons.length > 0) {
        const S = this.#separationAt(0, now, 0);
        let vr = 0;
        for (let c = 0; c < this.#capTerms.length; c++) vr = Math.max(vr, this.#pointSpeedCoefficient(this.#capTerms[c]!, fk, c, 0, this.#qd, 0));
        const vh = this.#humanSpeed();
        const sp = protectiveSeparation(this.#sep, vr, vh).S_p;
        metrics.minSeparation_m = S;
        metrics.protectiveSeparation_m = sp;
        metrics.robotSpeedBound_mps = vr;
        if (S < sp) (reasons.push('HALT_FOR_PERSON'), details.push(`separation ${S.toFixed(3)} m < S_p ${sp.toFixed(3)} m at robot speed ${vr.toFixed(3)} m/s`));
      }
    }
    const d: ShieldDecision = {
      verdict: reasons.length > 0 ? 'halt' : 'pass', reasons: [...new Set(reasons)], detail: details.join('; ') || 'ok', time_s: now, timeScale: 1,
      trajectory: null, hold: reasons.length > 0 ? this.#hold() : null, metrics, source: 'tick',
    };
    if (d.verdict === 'halt') this.#record(d);
    return d;
  }

  /** Decides pass / scale / clamp / halt for one command. */
  check(command: ShieldCommand): ShieldDecision {
    const now = this.#clock();
    const d = this.#decide(command, now);
    // Only a well-formed, finite command counts as "a command arrived" for
    // incoming_command_timeout; garbage must not keep the watchdog quiet.
    if (!d.reasons.includes('NON_FINITE_INPUT') && !d.reasons.includes('INVALID_COMMAND')) this.#lastCommandTime = now;
    this.#record(d);
    return d;
  }

  #decide(command: ShieldCommand, now: number): ShieldDecision {
    const metrics = this.#emptyMetrics();
    const halt = (reasons: ShieldStatus[], detail: string): ShieldDecision => ({
      verdict: 'halt', reasons: [...new Set(reasons)], detail, time_s: now, timeScale: 1, trajectory: null, hold: this.#hold(), metrics, source: 'command',
    });
    if (this.#latched) return halt(['ESTOP_LATCHED'], `latched: ${this.#latched.reason} (${this.#latched.detail}); reset() once the cause is gone`);
    if (containsNonFinite(command)) return halt(['NON_FINITE_INPUT'], 'command contains NaN or Inf');
    // Structure.
    const n = this.#n;
    const names = this.#g.jointNames;
    let order: number[] | null = null;
    if (typeof command !== 'object' || command === null) return halt(['INVALID_COMMAND'], 'command is not an object');
    if (command.joint_names !== undefined) {
      if (!Array.isArray(command.joint_names) || command.joint_names.length !== n || new Set(command.joint_names).size !== n || !command.joint_names.every((x) => names.includes(x)))
        return halt(['INVALID_COMMAND'], `joint_names must be a permutation of ${names.join(', ')}`);
      order = names.map((x) => command.joint_names!.indexOf(x));
    }
    let rawPoints: readonly TrajectoryPoint[];
    if (command.kind === 'target') {
      if (typeof command.duration_s !== 'number' || !(command.duration_s > 0)) return halt(['INVALID_COMMAND'], 'duration_s must be > 0');
      rawPoints = [{ positions: command.positions, time_from_start_s: command.duration_s }];
    } else if (command.kind === 'trajectory') {
      if (!Array.isArray(command.points) || command.points.length === 0) return halt(['INVALID_COMMAND'], 'a trajectory needs at least one point');
      rawPoints = command.points;
    } else return halt(['INVALID_COMMAND'], `unknown command kind ${JSON.stringify((command as { kind?: unknown }).kind)}`);
    if (typeof command.stamp_s !== 'number') return halt(['INVALID_COMMAND'], 'stamp_s must be a number');
    const K = rawPoints.length;
    const P = new Float64Array((K + 1) * n);
    const times = new Float64Array(K + 1);
    for (let k = 0; k < K; k++) {
      const pt = rawPoints[k];
      if (typeof pt !== 'object' || pt === null || !Array.isArray(pt.positions) || pt.positions.length !== n || typeof pt.time_from_start_s !== 'number')
        return halt(['INVALID_COMMAND'], `point ${k}: needs ${n} positions and time_from_start_s`);
      for (let i = 0; i < n; i++) {
        const v = pt.positions[order ? order[i]! : i];
        if (typeof v !== 'number') return halt(['INVALID_COMMAND'], `point ${k}: position ${i} is not a number`);
        P[(k + 1) * n + i] = v;
      }
      times[k + 1] = pt.time_from_start_s;
      if (!(times[k + 1]! > times[k]!)) return halt(['INVALID_COMMAND'], `point ${k}: time_from_start_s must be > 0 and strictly increasing`);
    }
    // Watchdog.
    const w = this.#g.config.watchdog;
    const stale: string[] = [];
    if (this.#q === null || this.#qd === null) return halt(['WATCHDOG_TIMEOUT'], 'no joint state received yet');
    if (now - this.#stateStamp > w.joint_state_timeout_s) stale.push(`joint state is ${(now - this.#stateStamp).toFixed(3)} s old`);
    if (this.#perceptionRequired && now - this.#perceptionStamp > w.perception_timeout_s) stale.push(`perception is ${(now - this.#perceptionStamp).toFixed(3)} s old`);
    if (now - command.stamp_s > w.incoming_command_timeout_s) stale.push(`command is ${(now - command.stamp_s).toFixed(3)} s old`);
    if (stale.length > 0) return halt(['WATCHDOG_TIMEOUT'], stale.join('; '));
    const q0 = this.#q, v0 = this.#qd;
    P.set(q0, 0);

    // Position bounds: clamp within tolerance, else halt.
    const reasons: ShieldStatus[] = [];
    let clamped = false;
    const tol = this.#g.config.joint_bound_clamp_tolerance;
    for (let k = 1; k <= K; k++)
      for (let i = 0; i < n; i++) {
        const v = P[k * n + i]!, lo = this.#lower[i]!, hi = this.#upper[i]!;
        if (v < lo || v > hi) {
          const excess = v < lo ? lo - v : v - hi;
          if (excess > tol) return halt(['JOINT_BOUND'], `point ${k - 1}: ${names[i]} = ${v} is outside [${lo}, ${hi}] by ${excess.toFixed(4)} (clamp tolerance ${tol})`);
          P[k * n + i] = v < lo ? lo : hi;
          clamped = true;
        }
      }
    if (clamped) reasons.push('JOINT_BOUND');

    // Geometric sweep.
    const sweep = this.#sweep(P, K, now);
    metrics.samples = sweep.samples;
    metrics.minZoneDistance_m = sweep.minZone;
    metrics.minSeparation_m = sweep.minSeparation;
    if (sweep.halt) return halt([sweep.halt.reason], sweep.halt.detail);

    // Speed factors from separation and proximity to zones.
    let factor = 1;
    let vrMax = Infinity;
    if (this.#sep && this.#persons.length > 0) {
      const vh = this.#humanSpeed();
      vrMax = maxRobotSpeed(this.#sep, sweep.minSeparation, vh);
      const ramp = slowDownFactor(this.#sep, sweep.minSeparation, vh);
      metrics.protectiveSeparation_m = protectiveSeparation(this.#sep, 0, vh).S_p;
      if (vrMax < 0 || ramp < this.#minSpeedFraction)
        return halt(['HALT_FOR_PERSON'], `separation ${sweep.minSeparation.toFixed(3)} m is below the protective separation at standstill ${metrics.protectiveSeparation_m.toFixed(3)} m (or within the halt band)`);
      if (ramp < 1) (factor = Math.min(factor, ramp), reasons.push('DECELERATE_FOR_APPROACHING_PERSON'));
    }
    const col = this.#g.config.collision;
    if (sweep.approachingZone && col.slow_down_distance_m > col.clearance_m && sweep.minZone < col.slow_down_distance_m) {
      const f = (sweep.minZone - col.clearance_m) / (col.slow_down_distance_m - col.clearance_m);
      if (f < this.#minSpeedFraction) return halt(['HALT_FOR_COLLISION'], `path comes within ${sweep.minZone.toFixed(3)} m of a keep-out zone`);
      factor = Math.min(factor, f);
      reasons.push('DECELERATE_FOR_COLLISION');
    }

    // Time scaling.
    const dt = new Float64Array(K + 1);
    for (let k = 1; k <= K; k++) dt[k] = times[k]! - times[k - 1]!;
    const toolMax = (this.#holdingSharp ? this.#g.config.tool.sharp_object_max_speed_mps : this.#g.config.tool.max_speed_mps) * (1 - EPS_LIMIT);
    let sMin = 1 / factor;
    const note = (r: ShieldStatus, s: number) => {
      if (s > 1 + 1e-12 && !reasons.includes(r)) reasons.push(r);
      sMin = Math.max(sMin, s);
    };
    for (let k = 1; k <= K; k++) {
      for (let i = 0; i < n; i++) {
        const dq = P[k * n + i]! - P[(k - 1) * n + i]!;
        note('JOINT_VELOCITY_LIMIT', Math.abs(dq) / (dt[k]! * this.#vmax[i]!));
        if (this.#softK[i]! > 0 && dq !== 0) note('JOINT_BOUND', Math.abs(dq) / (dt[k]! * this.#softRoom(i, P[(k - 1) * n + i]!, dq)));
      }
      note('TOOL_SPEED', sweep.tcpCoeff[k]! / (dt[k]! * toolMax));
      if (Number.isFinite(vrMax)) note('DECELERATE_FOR_APPROACHING_PERSON', vrMax > 0 ? sweep.robotCoeff[k]! / (dt[k]! * vrMax) : sweep.robotCoeff[k]! > 0 ? Infinity : 1);
    }
    const maxScale = this.#g.config.max_time_scale;
    if (!(sMin <= maxScale)) return halt(['UNVERIFIABLE_COMMAND', ...reasons], `needs a slow-down of ${sMin.toFixed(2)}x, more than max_time_scale ${maxScale}`);
    let s = sMin;
    let dyn = this.#dynamicsViolation(P, dt, K, v0, s);
    if (dyn) {
      if (!reasons.includes(dyn)) reasons.push(dyn);
      // a_1 mixes 1/s and 1/s² terms: search upwards.
      while (dyn && s <= maxScale) {
        s *= 1.02;
        dyn = this.#dynamicsViolation(P, dt, K, v0, s);
        if (dyn && !reasons.includes(dyn)) reasons.push(dyn);
      }
      if (dyn) return halt([...reasons, dyn], `acceleration/jerk limits cannot be met within max_time_scale ${maxScale} from the measured velocity`);
    }

    // Moving zones along the scaled timing.
    const moving = this.#checkMovingZones(sweep, P, K, times, s, now);
    if (moving) return halt(['HALT_FOR_COLLISION'], moving);

    metrics.tcpSpeedBound_mps = 0;
    metrics.robotSpeedBound_mps = 0;
    for (let k = 1; k <= K; k++) {
      metrics.tcpSpeedBound_mps = Math.max(metrics.tcpSpeedBound_mps, sweep.tcpCoeff[k]! / (s * dt[k]!));
      metrics.robotSpeedBound_mps = Math.max(metrics.robotSpeedBound_mps, sweep.robotCoeff[k]! / (s * dt[k]!));
    }
    if (this.#sep && this.#persons.length > 0)
      metrics.protectiveSeparation_m = protectiveSeparation(this.#sep, metrics.robotSpeedBound_mps, this.#humanSpeed()).S_p;
    const points: TrajectoryPoint[] = [];
    for (let k = 1; k <= K; k++) {
      const pos = Array.from(P.subarray(k * n, (k + 1) * n));
      points.push({ positions: order ? order.map((_, j) => pos[names.indexOf(command.joint_names![j]!)]!) : pos, time_from_start_s: times[k]! * s });
    }
    const verdict: Verdict = clamped ? 'clamp' : s > 1 + 1e-12 ? 'scale' : 'pass';
    return {
      verdict, reasons: [...new Set(reasons)], detail: verdict === 'pass' ? 'ok' : `${clamped ? 'clamped onto position limits; ' : ''}time scale ${s.toFixed(4)}`,
      time_s: now, timeScale: s, trajectory: { joint_names: command.joint_names ? [...command.joint_names] : [...names], points }, hold: null, metrics, source: 'command',
    };
  }

  // ── internals ────────────────────────────────────────────────────────────

  #emptyMetrics(): ShieldDecision['metrics'] {
    return { samples: 0, minZoneDistance_m: Infinity, minSeparation_m: Infinity, protectiveSeparation_m: 0, tcpSpeedBound_mps: 0, robotSpeedBound_mps: 0 };
  }

  #hold(): number[] | null {
    return this.#q ? Array.from(this.#q) : null;
  }

  #latch(reason: ShieldStatus, detail: string): void {
    if (!this.#latched) this.#latched = { reason, detail };
    const now = this.#clock();
    this.#record({ verdict: 'halt', reasons: [reason, 'ESTOP_LATCHED'], detail: `latched: ${detail}`, time_s: now, timeScale: 1, trajectory: null, hold: this.#hold(), metrics: this.#emptyMetrics(), source: 'tick' });
  }

  #record(d: ShieldDecision): void {
    this.#log.push(d);
    if (this.#log.length > this.#logCapacity) this.#log.splice(0, this.#log.length - this.#logCapacity);
    if (this.#listener) {
      try {
        this.#listener(d);
      } catch {
        // A failing listener must not change a safety decision.
      }
    }
  }

  #effortViolation(): string | undefined {
    if (!this.#effort) return undefined;
    for (let i = 0; i < this.#n; i++)
      if (Math.abs(this.#effort[i]!) > this.#emax[i]!) return `${this.#g.jointNames[i]} effort ${this.#effort[i]} exceeds ${this.#emax[i]}`;
    return undefined;
  }

  #humanSpeed(): number {
    let v = this.#sep!.human_speed_mps;
    for (const p of this.#persons) v = Math.max(v, Math.hypot(...p.velocity_mps));
    return v;
  }

  /** Writes the world capsules of the configuration in this.#fk into sample slot `slot`. */
  #placeCapsules(fk: Float64Array, slot: number): void {
    const C = this.#capRadius.length;
    const need = (slot + 1) * C * 6;
    if (this.#capWorld.length < need) {
      const grown = new Float64Array(Math.max(need, this.#capWorld.length * 2));
      grown.set(this.#capWorld);
      this.#capWorld = grown;
    }
    const out = this.#capWorld, L = this.#capLocal;
    for (let c = 0; c < C; c++) {
      const o = this.#capLink[c]! * 16;
      for (let e = 0; e < 2; e++) {
        const x = L[6 * c + 3 * e]!, y = L[6 * c + 3 * e + 1]!, z = L[6 * c + 3 * e + 2]!;
        const w = slot * C * 6 + 6 * c + 3 * e;
        out[w] = fk[o]! * x + fk[o + 1]! * y + fk[o + 2]! * z + fk[o + 3]!;
        out[w + 1] = fk[o + 4]! * x + fk[o + 5]! * y + fk[o + 6]! * z + fk[o + 7]!;
        out[w + 2] = fk[o + 8]! * x + fk[o + 9]! * y + fk[o + 10]! * z + fk[o + 11]!;
      }
    }
  }

  /**
   * Bound on the distance travelled by the points of capsule c (c = -1: the
   * TCP) for joint increments dq, valid while the configuration stays within
   * `step` metres of point motion of the one in fk:
   * sum_k |gain_k dq_k| (distance of the point to joint k's axis + step).
   */
  #pointSpeedCoefficient(terms: MotionTerm[], fk: Float64Array, c: number, slot: number, dq: ArrayLike<number>, step: number): number {
    const C = this.#capRadius.length;
    let px = 0, py = 0, pz = 0, qx = 0, qy = 0, qz = 0, r = 0;
    if (c < 0) {
      const o = this.#tcpLink * 16, t = this.#tcpOffset;
      px = qx = fk[o]! * t[0] + fk[o + 1]! * t[1] + fk[o + 2]! * t[2] + fk[o + 3]!;
      py = qy = fk[o + 4]! * t[0] + fk[o + 5]! * t[1] + fk[o + 6]! * t[2] + fk[o + 7]!;
      pz = qz = fk[o + 8]! * t[0] + fk[o + 9]! * t[1] + fk[o + 10]! * t[2] + fk[o + 11]!;
    } else {
      const w = slot * C * 6 + 6 * c;
      const cw = this.#capWorld;
      px = cw[w]!; py = cw[w + 1]!; pz = cw[w + 2]!; qx = cw[w + 3]!; qy = cw[w + 4]!; qz = cw[w + 5]!;
      r = this.#capRadius[c]!;
    }
    let sum = 0;
    for (const t of terms) {
      const mag = Math.abs(t.gain * dq[t.index]!);
      if (mag === 0) continue;
      if (!t.revolute) {
        sum += mag;
        continue;
      }
      const o = t.childLink * 16;
      const zx = fk[o]! * t.ax + fk[o + 1]! * t.ay + fk[o + 2]! * t.az;
      const zy = fk[o + 4]! * t.ax + fk[o + 5]! * t.ay + fk[o + 6]! * t.az;
      const zz = fk[o + 8]! * t.ax + fk[o + 9]! * t.ay + fk[o + 10]! * t.az;
      const ox = fk[o + 3]!, oy = fk[o + 7]!, oz = fk[o + 11]!;
      sum += mag * (Math.max(axisDistance(px - ox, py - oy, pz - oz, zx, zy, zz), axisDistance(qx - ox, qy - oy, qz - oz, zx, zy, zz)) + r + step);
    }
    return sum;
  }

  /** Minimum distance (minus clearance inflation) from the capsules in `slot` to the static zones and moving zones at time `t_s` (absolute). */
  #minZoneDistanceAt(slot: number, inflate: number, t_s: number, staticOnly = false, movingOnly = false): number {
    const C = this.#capRadius.length;
    const cw = this.#capWorld;
    let best = Infinity;
    for (const z of this.#zones) {
      if (movingOnly && !z.moving) continue;
      let ox = 0, oy = 0, oz = 0, grow = 0;
      if (z.moving) {
        if (staticOnly) continue;
        const tr = this.#zoneTrack.get(z.id);
        if (tr) {
          const dtz = Math.max(0, t_s - tr.stamp);
          ox = tr.p[0] + tr.v[0] * dtz - z.ref[0];
          oy = tr.p[1] + tr.v[1] * dtz - z.ref[1];
          oz = tr.p[2] + tr.v[2] * dtz - z.ref[2];
        }
        grow = z.uncertainty_m;
      }
      for (let c = 0; c < C; c++) {
        const w = slot * C * 6 + 6 * c;
        const d = zoneDistanceBounded(z, ox, oy, oz, cw[w]!, cw[w + 1]!, cw[w + 2]!, cw[w + 3]!, cw[w + 4]!, cw[w + 5]!, this.#capRadius[c]!, this.#exactBelow + inflate + grow) - inflate - grow;
        if (d < best) best = d;
      }
    }
    return best;
  }

  /** Separation between the capsules in `slot` and every tracked person, less the person's possible drift since the observation. */
  #separationAt(slot: number, now: number, inflate: number): number {
    const sep = this.#sep!;
    const C = this.#capRadius.length;
    const cw = this.#capWorld;
    const drift = this.#humanSpeed() * Math.max(0, now - this.#perceptionStamp);
    let best = Infinity;
    for (const p of this.#persons) {
      const x = p.position_m[0], y = p.position_m[1];
      for (let c = 0; c < C; c++) {
        const w = slot * C * 6 + 6 * c;
        const d = Math.sqrt(segmentSegmentDistanceSq(cw[w]!, cw[w + 1]!, cw[w + 2]!, cw[w + 3]!, cw[w + 4]!, cw[w + 5]!, x, y, sep.floor_z_m + sep.person_radius_m, x, y, sep.floor_z_m + sep.person_height_m - sep.person_radius_m)) -
          this.#capRadius[c]! - sep.person_radius_m - inflate - drift;
        if (d < best) best = d;
      }
    }
    return best;
  }

  #sweep(P: Float64Array, K: number, now: number): SweepResult {
    const n = this.#n;
    const C = this.#capRadius.length;
    const col = this.#g.config.collision;
    const res = col.sweep_resolution_m;
    const counts = new Int32Array(K + 1);
    let total = 0;
    for (let k = 1; k <= K; k++) {
      let D = 0;
      for (let i = 0; i < n; i++) D += Math.abs(P[k * n + i]! - P[(k - 1) * n + i]!) * this.#reach[i]!;
      counts[k] = Math.max(1, Math.ceil(D / res));
      total += counts[k]! + 1;
    }
    const out: SweepResult = {
      samples: total,
      minZone: Infinity,
      startZone: Infinity,
      approachingZone: false,
      minSeparation: Infinity,
      tcpCoeff: new Float64Array(K + 1),
      robotCoeff: new Float64Array(K + 1),
      boundsMin: [Infinity, Infinity, Infinity],
      boundsMax: [-Infinity, -Infinity, -Infinity],
      halt: null,
    };
    if (total > col.max_samples_per_command) {
      out.halt = { reason: 'UNVERIFIABLE_COMMAND', detail: `the path needs ${total} samples at sweep_resolution_m ${res}, more than max_samples_per_command ${col.max_samples_per_command}` };
      return out;
    }
    const q = new Float64Array(n);
    const dq = new Float64Array(n);
    const ws = this.#g.config.workspace;
    let slot = 0;
    for (let k = 1; k <= K; k++) {
      const m = counts[k]!;
      let D = 0;
      for (let i = 0; i < n; i++) {
        dq[i] = P[k * n + i]! - P[(k - 1) * n + i]!;
        D += Math.abs(dq[i]!) * this.#reach[i]!;
      }
      const step = D / m;
      const inflate = step / 2;
      for (let j = 0; j <= m; j++, slot++) {
        const f = j / m;
        for (let i = 0; i < n; i++) q[i] = P[(k - 1) * n + i]! + f * dq[i]!;
        const fk = this.#model.forwardKinematics(q, this.#fk);
        this.#placeCapsules(fk, slot);
        if (j < m) {
          out.tcpCoeff[k] = Math.max(out.tcpCoeff[k]!, this.#pointSpeedCoefficient(this.#tcpTerms, fk, -1, slot, dq, step));
          if (this.#sep && this.#persons.length > 0) {
            let rc = 0;
            for (let c = 0; c < C; c++) rc = Math.max(rc, this.#pointSpeedCoefficient(this.#capTerms[c]!, fk, c, slot, dq, step));
            out.robotCoeff[k] = Math.max(out.robotCoeff[k]!, rc);
          }
        }
        for (let c = 0; c < C; c++) {
          const w = slot * C * 6 + 6 * c, cw = this.#capWorld, grow = this.#capRadius[c]! + inflate;
          for (let e = 0; e < 6; e++) {
            const ax = e % 3, v = cw[w + e]!;
            if (v - grow < out.boundsMin[ax]!) out.boundsMin[ax] = v - grow;
            if (v + grow > out.boundsMax[ax]!) out.boundsMax[ax] = v + grow;
          }
        }
        const zd = this.#minZoneDistanceAt(slot, inflate, now, true);
        if (k === 1 && j === 0) out.startZone = zd + inflate;
        if (zd < out.minZone) out.minZone = zd;
        if (zd < col.clearance_m) {
          out.halt = { reason: 'HALT_FOR_COLLISION', detail: `segment ${k - 1} at fraction ${f.toFixed(3)} comes within ${zd.toFixed(4)} m of a keep-out zone (clearance ${col.clearance_m} m)` };
          return out;
        }
        if (ws) {
          const tcp = ws.check === 'tcp';
          const items = tcp ? 1 : C;
          for (let c = 0; c < items; c++) {
            let ax: number, ay: number, az: number, bx: number, by: number, bz: number, r: number;
            if (tcp) {
              const o = this.#tcpLink * 16, t = this.#tcpOffset;
              ax = bx = fk[o]! * t[0] + fk[o + 1]! * t[1] + fk[o + 2]! * t[2] + fk[o + 3]!;
              ay = by = fk[o + 4]! * t[0] + fk[o + 5]! * t[1] + fk[o + 6]! * t[2] + fk[o + 7]!;
              az = bz = fk[o + 8]! * t[0] + fk[o + 9]! * t[1] + fk[o + 10]! * t[2] + fk[o + 11]!;
              r = 0;
            } else {
              const w = slot * C * 6 + 6 * c, cw = this.#capWorld;
              ax = cw[w]!; ay = cw[w + 1]!; az = cw[w + 2]!; bx = cw[w + 3]!; by = cw[w + 4]!; bz = cw[w + 5]!;
              r = this.#capRadius[c]!;
            }
            let inside = false;
            for (const b of this.#boxes) if (capsuleOutsideBoxExcess(ax, ay, az, bx, by, bz, r + inflate, b) <= 0) { inside = true; break; }
            if (!inside) {
              out.halt = { reason: 'WORKSPACE_BOUND', detail: `segment ${k - 1} at fraction ${f.toFixed(3)}: ${tcp ? 'the TCP' : `capsule of link "${this.#g.capsules[c]!.link}"`} leaves the workspace` };
              return out;
            }
          }
        }
        if (this.#sep && this.#persons.length > 0) out.minSeparation = Math.min(out.minSeparation, this.#separationAt(slot, now, inflate));
      }
    }
    out.approachingZone = out.minZone < out.startZone - 1e-12;
    return out;
  }

  /**
   * Speed allowed by the soft-limit bound when moving in the direction of
   * `sign` from q: k_position x the distance left to the soft limit ahead
   * (0 when already beyond it, so only motion back inside is possible).
   */
  #softRoom(i: number, q: number, sign: number): number {
    const room = sign > 0 ? this.#softHi[i]! - q : q - this.#softLo[i]!;
    return Math.max(0, this.#softK[i]! * room);
  }

  /** First violated dynamic limit at time scale s, or null. */
  #dynamicsViolation(P: Float64Array, dt: Float64Array, K: number, v0: Float64Array, s: number): ShieldStatus | null {
    const n = this.#n;
    for (let i = 0; i < n; i++) {
      let vPrev = v0[i]!;
      let aPrev = NaN;
      for (let k = 1; k <= K; k++) {
        const h = dt[k]! * s;
        const v = (P[k * n + i]! - P[(k - 1) * n + i]!) / h;
        if (Math.abs(v) > this.#vmax[i]!) return 'JOINT_VELOCITY_LIMIT';
        if (this.#softK[i]! > 0 && v !== 0 && Math.abs(v) > this.#softRoom(i, P[(k - 1) * n + i]!, v)) return 'JOINT_BOUND';
        const a = (v - vPrev) / h;
        if (Math.abs(a) > this.#amax[i]!) return 'JOINT_ACCELERATION_LIMIT';
        if (k >= 2 && Math.abs((a - aPrev) / h) > this.#jmax[i]!) return 'JOINT_JERK_LIMIT';
        vPrev = v;
        aPrev = a;
      }
    }
    return null;
  }

  /**
   * Moving zones along the scaled timing. Each segment is re-sampled so that
   * between samples both the robot (reach bound) and the fastest tracked
   * zone move at most sweep_resolution_m; every test is inflated by half of
   * each motion, measured from the sample nearest in time.
   */
  #checkMovingZones(sweep: SweepResult, P: Float64Array, K: number, times: Float64Array, s: number, now: number): string | null {
    if (!this.#zones.some((z) => z.moving)) return null;
    const n = this.#n;
    const col = this.#g.config.collision;
    // Cull: if every moving zone's box over the command's duration stays
    // farther than the clearance from the box of the whole robot path, no
    // finer check can fail.
    const tEnd = now + s * times[K]!;
    let anyNear = false;
    for (const z of this.#zones) {
      if (!z.moving) continue;
      const tr = this.#zoneTrack.get(z.id);
      const grow = z.boundRadius + z.uncertainty_m + col.clearance_m;
      for (let ax = 0; ax < 3; ax++) {
        const at = (t: number) => (tr ? tr.p[ax]! + tr.v[ax]! * Math.max(0, t - tr.stamp) : z.ref[ax]!);
        const lo = Math.min(at(now), at(tEnd)) - grow, hi = Math.max(at(now), at(tEnd)) + grow;
        if (hi < sweep.boundsMin[ax]! || lo > sweep.boundsMax[ax]!) break;
        if (ax === 2) anyNear = true;
      }
      if (anyNear) break;
    }
    if (!anyNear) return null;
    let zoneSpeed = 0;
    for (const z of this.#zones)
      if (z.moving) {
        const tr = this.#zoneTrack.get(z.id);
        if (tr) zoneSpeed = Math.max(zoneSpeed, Math.hypot(...tr.v));
      }
    const q = new Float64Array(n);
    let budget = col.max_samples_per_command;
    for (let k = 1; k <= K; k++) {
      let D = 0;
      for (let i = 0; i < n; i++) D += Math.abs(P[k * n + i]! - P[(k - 1) * n + i]!) * this.#reach[i]!;
      const segDur = (times[k]! - times[k - 1]!) * s;
      const m = Math.max(1, Math.ceil(D / col.sweep_resolution_m), Math.ceil((zoneSpeed * segDur) / col.sweep_resolution_m));
      budget -= m + 1;
      if (budget < 0) return `checking moving zones needs more than max_samples_per_command ${col.max_samples_per_command} samples`;
      const inflate = D / (2 * m) + (zoneSpeed * segDur) / (2 * m);
      for (let j = 0; j <= m; j++) {
        const f = j / m;
        for (let i = 0; i < n; i++) q[i] = P[(k - 1) * n + i]! + f * (P[k * n + i]! - P[(k - 1) * n + i]!);
        this.#placeCapsules(this.#model.forwardKinematics(q, this.#fk), 0);
        const t = now + s * times[k - 1]! + f * segDur;
        const d = this.#minZoneDistanceAt(0, inflate, t, false, true);
        if (d < col.clearance_m) return `a moving keep-out zone comes within ${d.toFixed(4)} m at t = ${(t - now).toFixed(3)} s into the command (clearance ${col.clearance_m} m)`;
      }
    }
    return null;
  }
}
