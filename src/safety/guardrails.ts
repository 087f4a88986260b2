/**
 * Compiles the guardrails once at start: robot description (URDF + joint
 * limits YAML) + safety file -> one deeply frozen `Guardrails` value that
 * both the shield and the planner's barrier costs read (one source of truth).
 * Every limit is the tightest of URDF, YAML and safety file; a safety value
 * looser than the robot description is refused, because our limits must sit
 * inside the vendor's.
 */
import { dirname, resolve } from 'node:path';
import { buildLinkCapsules, type LinkCapsule } from '../robot/capsules';
import { loadJointLimitsYaml, mergeJointLimits, urdfJointLimits, type ParsedJointLimits } from '../robot/jointLimits';
import { KinematicModel } from '../robot/kinematics';
import { loadUrdf, type UrdfRobot } from '../robot/urdf';
import { loadSafetyYaml, type SafetyConfig } from './config';
import { SafetyConfigError } from './errors';

export interface Guardrails {
  readonly safetySource: string;
  readonly robot: UrdfRobot;
  readonly jointLimitSources: readonly string[];
  readonly config: SafetyConfig;
  readonly jointNames: readonly string[];
  /** Position bounds with joint_limit_margins applied (±Infinity for unbounded continuous joints). */
  readonly lower: readonly number[];
  readonly upper: readonly number[];
  readonly maxVelocity: readonly number[];
  readonly maxAcceleration: readonly number[];
  readonly maxJerk: readonly number[];
  /** null where no effort limit is known. */
  readonly maxEffort: readonly (number | null)[];
  /**
   * URDF <safety_controller> soft-limit velocity bound (ros2_control's soft
   * joint limiter): from position q a segment may move at most
   * k_position (soft_upper - q) up and k_position (q - soft_lower) down,
   * rad/s. null where the URDF has no safety_controller with k_position.
   */
  readonly softLimits: readonly ({ lower: number; upper: number; kPosition: number } | null)[];
  readonly capsules: readonly LinkCapsule[];
}

/** Object.freeze applied through every plain object and array. */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (ArrayBuffer.isView(value)) throw new TypeError('deepFreeze: typed arrays cannot be frozen; copy them into plain arrays');
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return Object.freeze(value);
}

/** Plain-data deep copy (JSON-like values, Infinity kept); prototypes are dropped. */
function plainCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(plainCopy) as T;
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = plainCopy((value as Record<string, unknown>)[key]);
    return out as T;
  }
  return value;
}

function tightest(values: (number | undefined)[]): number | undefined {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length === 0 ? undefined : Math.min(...present);
}

export function compileGuardrails(robot: UrdfRobot, limitFiles: readonly ParsedJointLimits[], safety: SafetyConfig, safetySource: string): Guardrails {
  const urdfOnly = urdfJointLimits(robot);
  const merged = mergeJointLimits(robot, limitFiles);
  const cfgErr = (field: string, problem: string, hint?: string) => new SafetyConfigError(safetySource, field, problem, hint);
  const lower: number[] = [], upper: number[] = [], maxVelocity: number[] = [], maxAcceleration: number[] = [], maxJerk: number[] = [];
  const maxEffort: (number | null)[] = [];
  const softLimits: ({ lower: number; upper: number; kPosition: number } | null)[] = [];
  safety.joints.forEach((name, i) => {
    const u = urdfOnly.get(name);
    const m = merged.get(name);
    if (!u || !m) throw cfgErr(`joints[${i}]`, `"${name}" is not a movable joint of ${robot.source}`);
    const s = safety.joint_limits[name] ?? {};
    const margin = Array.isArray(safety.joint_limit_margins) ? safety.joint_limit_margins[i]! : safety.joint_limit_margins;
    const continuous = u.type === 'continuous';
    const descLower = continuous ? undefined : Math.max(u.lower ?? -Infinity, m.lower ?? -Infinity, u.softLower ?? -Infinity);
    const descUpper = continuous ? undefined : Math.min(u.upper ?? Infinity, m.upper ?? Infinity, u.softUpper ?? Infinity);
    if (s.min_position !== undefined && descLower !== undefined && s.min_position < descLower)
      throw cfgErr(`joint_limits.${name}.min_position`, `${s.min_position} is below the robot description's ${descLower}`, 'our limits must sit inside the vendor\'s');
    if (s.max_position !== undefined && descUpper !== undefined && s.max_position > descUpper)
      throw cfgErr(`joint_limits.${name}.max_position`, `${s.max_position} is above the robot description's ${descUpper}`, 'our limits must sit inside the vendor\'s');
    const lo = Math.max(descLower ?? -Infinity, s.min_position ?? -Infinity) + margin;
    const hi = Math.min(descUpper ?? Infinity, s.max_position ?? Infinity) - margin;
    if (!(lo < hi)) throw cfgErr(`joint_limit_margins`, `joint "${name}": range [${lo + margin}, ${hi + margin}] leaves nothing inside margins of ${margin}`);
    lower.push(lo);
    upper.push(hi);
    const check = (field: 'max_velocity' | 'max_acceleration' | 'max_jerk' | 'max_effort', desc: number | undefined, own: number | undefined, required: boolean): number | undefined => {
      if (own !== undefined && desc !== undefined && own > desc)
        throw cfgErr(`joint_limits.${name}.${field}`, `${own} is looser than the robot description's ${desc}`, "our limits must sit inside the vendor's");
      const v = tightest([desc, own]);
      if (required && v === undefined)
        throw cfgErr(`joint_limits.${name}.${field}`, `no ${field} for "${name}" in the URDF, the joint limits YAML or the safety file`, `set joint_limits.${name}.${field} in the safety file`);
      return v;
    };
    maxVelocity.push(check('max_velocity', tightest([u.maxVelocity, m.maxVelocity]), s.max_velocity, true)!);
    maxAcceleration.push(check('max_acceleration', m.maxAcceleration, s.max_acceleration, true)!);
    maxJerk.push(check('max_jerk', m.maxJerk, s.max_jerk, true)!);
    maxEffort.push(check('max_effort', tightest([u.maxEffort, m.maxEffort]), s.max_effort, false) ?? null);
    softLimits.push(
      !continuous && u.kPosition !== undefined && u.kPosition > 0
        ? { lower: u.softLower ?? descLower ?? -Infinity, upper: u.softUpper ?? descUpper ?? Infinity, kPosition: u.kPosition }
        : null,
    );
  });

  const model = new KinematicModel(robot, { jointNames: safety.joints });
  const linkField = (field: string, link: string) => {
    if (!model.linkNames.includes(link)) throw cfgErr(field, `unknown link "${link}" in ${robot.source}`);
  };
  linkField('tcp_link', safety.tcp_link);
  for (const l of Object.keys(safety.collision.mesh_radius_by_link_m)) linkField(`collision.mesh_radius_by_link_m.${l}`, l);
  for (const l of Object.keys(safety.collision.capsules)) linkField(`collision.capsules.${l}`, l);
  safety.collision.exclude_links.forEach((l, i) => linkField(`collision.exclude_links[${i}]`, l));
  const capsules = buildLinkCapsules(model, {
    meshRadius_m: safety.collision.mesh_radius_m,
    meshRadiusByLink_m: safety.collision.mesh_radius_by_link_m,
    overrides: Object.fromEntries(Object.entries(safety.collision.capsules).map(([k, v]) => [k, v.map((c) => ({ a: c.a_m, b: c.b_m, radius_m: c.radius_m }))])),
    exclude: safety.collision.exclude_links,
  });
  if (safety.separation) {
    const sp0 = safety.separation.human_speed_mps * (safety.separation.reaction_time_s + safety.separation.stopping_time_s) +
      (safety.separation.stopping_model === 'fixed_distance' ? safety.separation.stopping_distance_m : 0) +
      safety.separation.intrusion_distance_m + safety.separation.human_position_uncertainty_m + safety.separation.robot_position_uncertainty_m;
    if (!(safety.separation.slow_down_distance_m > sp0))
      throw cfgErr('separation.slow_down_distance_m', `${safety.separation.slow_down_distance_m} must exceed the protective separation at standstill S_p(0) = ${sp0.toFixed(3)} m`);
  }
  return deepFreeze({
    safetySource,
    robot: plainCopy(robot),
    jointLimitSources: limitFiles.map((f) => f.source),
    config: plainCopy(safety),
    jointNames: [...safety.joints],
    lower,
    upper,
    maxVelocity,
    maxAcceleration,
    maxJerk,
    maxEffort,
    softLimits,
    capsules: plainCopy(capsules),
  });
}

export interface LoadGuardrailsOptions {
  /** Overrides safety.robot.urdf. */
  urdfPath?: string;
  /** Overrides safety.robot.joint_limits. */
  jointLimitsPaths?: readonly string[];
}

/** Reads the safety YAML and the robot description it names (paths relative to the safety file). */
export function loadGuardrails(safetyPath: string, options: LoadGuardrailsOptions = {}): Guardrails {
  const safety = loadSafetyYaml(safetyPath);
  const base = dirname(safetyPath);
  const urdfPath = options.urdfPath ?? (safety.robot ? resolve(base, safety.robot.urdf) : undefined);
  if (!urdfPath) throw new SafetyConfigError(safetyPath, 'robot.urdf', 'no robot description given', 'set robot.urdf in the safety file or pass urdfPath');
  const robot = loadUrdf(urdfPath);
  const limitPaths = options.jointLimitsPaths ?? (safety.robot?.joint_limits ?? []).map((p) => resolve(base, p));
  const names = robot.joints.map((j) => j.name);
  const files = limitPaths.map((p) => loadJointLimitsYaml(p, names));
  return compileGuardrails(robot, files, safety, safetyPath);
}
