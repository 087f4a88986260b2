/**
 * Joint limits: the URDF <limit>/<safety_controller> values, plus overrides
 * read from the joint-limits YAML files that ship with real robot
 * descriptions. Three layouts are understood (found in the wild):
 *
 *  - 'ros2_control': `joint_limits: { <joint>: { has_position_limits,
 *    min_position, max_position, has_velocity_limits, max_velocity,
 *    has_acceleration_limits, max_acceleration, has_jerk_limits, max_jerk,
 *    has_effort_limits, max_effort } }`, optionally nested under
 *    `<node>: ros__parameters:`; `!degrees` / `!radians` tags are honoured
 *    (Universal_Robots_ROS2_Description uses `!degrees`).
 *  - 'franka_description': `<joint>: { limit: { lower, upper, velocity,
 *    effort } }` with names without the arm prefix (joint1 -> fer_joint1).
 *  - 'kinova_arrays': `joint_names: [...]`, `maximum_velocities: [...]`,
 *    `maximum_accelerations: [...]` (ros2_kortex moveit config); the
 *    `$(arg prefix)` xacro argument is stripped.
 *
 * YAML joint names are matched to URDF joints exactly, else by a unique
 * `<prefix>_<name>` / `<prefix><name>` suffix match. Overrides follow
 * ros2_control semantics: a YAML value replaces the URDF value; has_*: false
 * removes that limit.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml, type ScalarTag } from 'yaml';
import { JointLimitsFileError } from './errors';
import type { JointType, UrdfRobot } from './urdf';

export type JointLimitsFormat = 'ros2_control' | 'franka_description' | 'kinova_arrays';

/** Effective limits of one joint. Units: rad, rad/s, rad/s², rad/s³, N·m (m, m/s... and N for prismatic joints). */
export interface JointLimits {
  name: string;
  type: JointType;
  lower?: number;
  upper?: number;
  softLower?: number;
  softUpper?: number;
  kPosition?: number;
  kVelocity?: number;
  maxVelocity?: number;
  maxAcceleration?: number;
  maxJerk?: number;
  maxEffort?: number;
  /** Where each field came from: 'urdf' or a YAML file path. */
  sources: Partial<Record<LimitField, string>>;
}

export type LimitField = 'lower' | 'upper' | 'maxVelocity' | 'maxAcceleration' | 'maxJerk' | 'maxEffort';

export interface JointLimitOverride {
  /** undefined = not mentioned; null = limit removed (has_*: false). */
  lower?: number | null;
  upper?: number | null;
  maxVelocity?: number | null;
  maxAcceleration?: number | null;
  maxJerk?: number | null;
  maxEffort?: number | null;
}

export interface ParsedJointLimits {
  source: string;
  format: JointLimitsFormat;
  /** Keyed by URDF joint name. */
  overrides: Map<string, JointLimitOverride>;
}

const degreesTag: ScalarTag = {
  tag: '!degrees',
  resolve: (str: string) => (Number(str) * Math.PI) / 180,
};
const radiansTag: ScalarTag = {
  tag: '!radians',
  resolve: (str: string) => Number(str),
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(source: string, field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new JointLimitsFileError(source, field, `expected a finite number, found ${JSON.stringify(v)}`);
  return v;
}

function bool(source: string, field: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new JointLimitsFileError(source, field, `expected true or false, found ${JSON.stringify(v)}`);
  return v;
}

/** Maps a YAML joint key to a URDF joint name. */
export function matchJointName(key: string, urdfJoints: readonly string[], source: string, field: string): string {
  const k = key.replace(/^\$\(arg [^)]*\)/, '');
  if (urdfJoints.includes(k)) return k;
  // Prefixed names (fer_joint1 for joint1): a suffix match after '_'; the
  // shortest prefix wins (fer_joint1 over fer_finger_joint1).
  const hits = urdfJoints.filter((n) => n.length > k.length && n.endsWith(k) && n[n.length - k.length - 1] === '_');
  const shortest = Math.min(...hits.map((n) => n.length));
  const pick = hits.filter((n) => n.length === shortest);
  if (pick.length === 1) return pick[0]!;
  if (pick.length === 0) throw new JointLimitsFileError(source, field, `joint "${key}" matches no joint of the robot (${urdfJoints.join(', ')})`, 'use the URDF joint names or the unprefixed names');
  throw new JointLimitsFileError(source, field, `joint "${key}" matches several joints (${pick.join(', ')})`, 'use the full URDF joint name');
}

function parseRos2Control(source: string, table: Record<string, unknown>, urdfJoints: readonly string[]): Map<string, JointLimitOverride> {
  const out = new Map<string, JointLimitOverride>();
  for (const [key, value] of Object.entries(table)) {
    const at = `joint_limits.${key}`;
    if (!isRecord(value)) throw new JointLimitsFileError(source, at, 'expected a mapping of limit keys');
    const name = matchJointName(key, urdfJoints, source, at);
    const o: JointLimitOverride = {};
    const pair = (hasKey: string, valueKeys: string[], apply: (vals: number[] | null) => void) => {
      const has = value[hasKey];
      if (has === undefined) {
        // ros2_control reads values only when the has_* flag is set.
        return;
      }
      if (!bool(source, `${at}.${hasKey}`, has)) {
        apply(null);
        return;
      }
      const vals = valueKeys.map((vk) => num(source, `${at}.${vk}`, value[vk]));
      apply(vals);
    };
    pair('has_position_limits', ['min_position', 'max_position'], (v) => {
      o.lower = v ? v[0] : null;
      o.upper = v ? v[1] : null;
      if (v && !(v[0]! <= v[1]!)) throw new JointLimitsFileError(source, `${at}.min_position`, `min_position ${v[0]} must be <= max_position ${v[1]}`);
    });
    pair('has_velocity_limits', ['max_velocity'], (v) => (o.maxVelocity = v ? v[0] : null));
    pair('has_acceleration_limits', ['max_acceleration'], (v) => (o.maxAcceleration = v ? v[0] : null));
    pair('has_jerk_limits', ['max_jerk'], (v) => (o.maxJerk = v ? v[0] : null));
    pair('has_effort_limits', ['max_effort'], (v) => (o.maxEffort = v ? v[0] : null));
    for (const f of ['maxVelocity', 'maxAcceleration', 'maxJerk', 'maxEffort'] as const) {
      const v = o[f];
      if (typeof v === 'number' && v < 0) throw new JointLimitsFileError(source, `${at}.${f}`, `must be >= 0, found ${v}`);
    }
    out.set(name, o);
  }
  return out;
}

function parseFranka(source: string, doc: Record<string, unknown>, urdfJoints: readonly string[]): Map<string, JointLimitOverride> {
  const out = new Map<string, JointLimitOverride>();
  for (const [key, value] of Object.entries(doc)) {
    const limit = isRecord(value) ? value.limit : undefined;
    if (!isRecord(limit)) throw new JointLimitsFileError(source, `${key}.limit`, 'expected a mapping with lower, upper, velocity, effort');
    const name = matchJointName(key, urdfJoints, source, key);
    const lower = num(source, `${key}.limit.lower`, limit.lower);
    const upper = num(source, `${key}.limit.upper`, limit.upper);
    if (!(lower <= upper)) throw new JointLimitsFileError(source, `${key}.limit.lower`, `lower ${lower} must be <= upper ${upper}`);
    const o: JointLimitOverride = { lower, upper, maxVelocity: num(source, `${key}.limit.velocity`, limit.velocity), maxEffort: num(source, `${key}.limit.effort`, limit.effort) };
    if (o.maxVelocity! < 0) throw new JointLimitsFileError(source, `${key}.limit.velocity`, 'must be >= 0');
    if (o.maxEffort! < 0) throw new JointLimitsFileError(source, `${key}.limit.effort`, 'must be >= 0');
    out.set(name, o);
  }
  return out;
}

function parseKinova(source: string, doc: Record<string, unknown>, urdfJoints: readonly string[]): Map<string, JointLimitOverride> {
  const names = doc.joint_names;
  if (!Array.isArray(names)) throw new JointLimitsFileError(source, 'joint_names', 'expected a list of joint names');
  const arrays: [string, keyof JointLimitOverride][] = [
    ['maximum_velocities', 'maxVelocity'],
    ['maximum_accelerations', 'maxAcceleration'],
  ];
  const out = new Map<string, JointLimitOverride>();
  names.forEach((n, i) => {
    if (typeof n !== 'string') throw new JointLimitsFileError(source, `joint_names[${i}]`, 'expected a string');
    out.set(matchJointName(n, urdfJoints, source, `joint_names[${i}]`), {});
  });
  const keys = [...out.keys()];
  for (const [field, target] of arrays) {
    const arr = doc[field];
    if (arr === undefined) continue;
    if (!Array.isArray(arr) || arr.length !== names.length)
      throw new JointLimitsFileError(source, field, `expected a list of ${names.length} numbers (one per joint_names entry)`);
    arr.forEach((v, i) => {
      const x = num(source, `${field}[${i}]`, v);
      if (x < 0) throw new JointLimitsFileError(source, `${field}[${i}]`, 'must be >= 0');
      out.get(keys[i]!)![target] = x;
    });
  }
  return out;
}

/** Parses joint-limits YAML text in any of the supported layouts. */
export function parseJointLimitsYaml(text: string, source: string, urdfJointNames: readonly string[]): ParsedJointLimits {
  let doc: unknown;
  try {
    doc = parseYaml(text, { customTags: [degreesTag, radiansTag] });
  } catch (err) {
    throw new JointLimitsFileError(source, 'yaml', `not valid YAML: ${(err as Error).message}`);
  }
  if (!isRecord(doc)) throw new JointLimitsFileError(source, '(root)', 'expected a mapping at the top level');
  // `<node>: { ros__parameters: { joint_limits: ... } }`
  const keys = Object.keys(doc);
  if (keys.length === 1 && isRecord(doc[keys[0]!]) && isRecord((doc[keys[0]!] as Record<string, unknown>).ros__parameters))
    doc = (doc[keys[0]!] as Record<string, unknown>).ros__parameters;
  const d = doc as Record<string, unknown>;
  if (d.joint_limits !== undefined) {
    if (!isRecord(d.joint_limits)) throw new JointLimitsFileError(source, 'joint_limits', 'expected a mapping of joints');
    return { source, format: 'ros2_control', overrides: parseRos2Control(source, d.joint_limits, urdfJointNames) };
  }
  if (d.joint_names !== undefined) return { source, format: 'kinova_arrays', overrides: parseKinova(source, d, urdfJointNames) };
  if (Object.values(d).length > 0 && Object.values(d).every((v) => isRecord(v) && isRecord(v.limit)))
    return { source, format: 'franka_description', overrides: parseFranka(source, d, urdfJointNames) };
  throw new JointLimitsFileError(
    source,
    '(root)',
    `unrecognised layout (top-level keys: ${keys.join(', ')})`,
    "expected ros2_control 'joint_limits:', franka '<joint>: limit:' or kinova 'joint_names: / maximum_velocities:'",
  );
}

export function loadJointLimitsYaml(path: string, urdfJointNames: readonly string[]): ParsedJointLimits {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new JointLimitsFileError(path, 'file', `cannot read: ${(err as Error).message}`, 'check the path');
  }
  return parseJointLimitsYaml(text, path, urdfJointNames);
}

/** Limits from the URDF alone. */
export function urdfJointLimits(robot: UrdfRobot): Map<string, JointLimits> {
  const out = new Map<string, JointLimits>();
  for (const j of robot.joints) {
    if (j.type === 'fixed') continue;
    const l: JointLimits = { name: j.name, type: j.type, sources: {} };
    if (j.limit) {
      if (j.limit.lower !== undefined) ((l.lower = j.limit.lower), (l.sources.lower = 'urdf'));
      if (j.limit.upper !== undefined) ((l.upper = j.limit.upper), (l.sources.upper = 'urdf'));
      // URDF: velocity / effort 0 means "not set" in practice for some exporters; keep as a limit only when > 0.
      if (j.limit.velocity > 0) ((l.maxVelocity = j.limit.velocity), (l.sources.maxVelocity = 'urdf'));
      if (j.limit.effort > 0) ((l.maxEffort = j.limit.effort), (l.sources.maxEffort = 'urdf'));
    }
    if (j.safetyController) {
      l.softLower = j.safetyController.softLower;
      l.softUpper = j.safetyController.softUpper;
      l.kPosition = j.safetyController.kPosition;
      l.kVelocity = j.safetyController.kVelocity;
    }
    out.set(j.name, l);
  }
  return out;
}

/** URDF limits with YAML overrides applied in order (ros2_control semantics: later files win). */
export function mergeJointLimits(robot: UrdfRobot, files: readonly ParsedJointLimits[]): Map<string, JointLimits> {
  const out = urdfJointLimits(robot);
  for (const file of files) {
    for (const [name, o] of file.overrides) {
      const l = out.get(name);
      if (!l) throw new JointLimitsFileError(file.source, name, `"${name}" is a fixed joint or not in ${robot.source}`);
      for (const f of ['lower', 'upper', 'maxVelocity', 'maxAcceleration', 'maxJerk', 'maxEffort'] as const) {
        const v = o[f];
        if (v === undefined) continue;
        if (v === null) {
          delete l[f];
          delete l.sources[f];
        } else {
          if ((f === 'lower' || f === 'upper') && l.type === 'continuous') continue;
          l[f] = v;
          l.sources[f] = file.source;
        }
      }
    }
  }
  return out;
}
