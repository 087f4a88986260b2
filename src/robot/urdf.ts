/**
 * URDF parsing: turns the XML text of a robot description into a validated,
 * typed `UrdfRobot` (links with collision geometry, joints with type, axis,
 * origin, limits, safety_controller soft limits and mimic relations). Only
 * top-level <link>/<joint> elements of <robot> are read; the <joint> entries
 * inside <ros2_control> or <transmission> blocks are not kinematic joints.
 */
import { XMLParser } from 'fast-xml-parser';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { RobotDescriptionError } from './errors';
import type { Vec3 } from './math';

export type JointType = 'revolute' | 'continuous' | 'prismatic' | 'fixed';

export interface Origin {
  xyz: Vec3;
  rpy: Vec3;
}

export interface UrdfLimit {
  /** rad (revolute) or m (prismatic); absent for continuous joints. */
  lower?: number;
  upper?: number;
  /** rad/s or m/s. */
  velocity: number;
  /** N·m or N. */
  effort: number;
}

export interface UrdfSafetyController {
  softLower?: number;
  softUpper?: number;
  kPosition?: number;
  kVelocity: number;
}

export interface UrdfMimic {
  joint: string;
  multiplier: number;
  offset: number;
}

export interface UrdfJoint {
  name: string;
  type: JointType;
  parent: string;
  child: string;
  origin: Origin;
  /** Unit axis in the joint frame. */
  axis: Vec3;
  limit?: UrdfLimit;
  safetyController?: UrdfSafetyController;
  mimic?: UrdfMimic;
}

export type CollisionGeometry =
  | { kind: 'box'; origin: Origin; size_m: Vec3 }
  | { kind: 'sphere'; origin: Origin; radius_m: number }
  | { kind: 'cylinder'; origin: Origin; radius_m: number; length_m: number }
  | { kind: 'mesh'; origin: Origin; filename: string };

export interface UrdfLink {
  name: string;
  collisions: CollisionGeometry[];
}

export interface UrdfRobot {
  /** Where the description came from (file path or a caller-given label). */
  source: string;
  name: string;
  links: UrdfLink[];
  joints: UrdfJoint[];
}

const attrs = z.record(z.string(), z.unknown());
const elementList = z.array(attrs);

function parseNumber(source: string, field: string, text: unknown): number {
  if (typeof text !== 'string' || text.trim() === '') throw new RobotDescriptionError(source, field, `expected a number, found ${JSON.stringify(text)}`);
  const v = Number(text.trim());
  if (!Number.isFinite(v)) throw new RobotDescriptionError(source, field, `expected a finite number, found ${JSON.stringify(text)}`);
  return v;
}

function parseOptionalNumber(source: string, field: string, text: unknown): number | undefined {
  return text === undefined ? undefined : parseNumber(source, field, text);
}

function parseVec3(source: string, field: string, text: unknown, fallback: Vec3): Vec3 {
  if (text === undefined) return fallback;
  if (typeof text !== 'string') throw new RobotDescriptionError(source, field, `expected three numbers, found ${JSON.stringify(text)}`);
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) throw new RobotDescriptionError(source, field, `expected three numbers, found "${text}"`);
  return [parseNumber(source, field, parts[0]), parseNumber(source, field, parts[1]), parseNumber(source, field, parts[2])];
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function parseOrigin(source: string, field: string, value: unknown): Origin {
  const o = asRecord(value);
  if (value !== undefined && value !== '' && !o) throw new RobotDescriptionError(source, field, 'expected an <origin xyz=".." rpy=".."/> element');
  return { xyz: parseVec3(source, `${field}@xyz`, o?.xyz, [0, 0, 0]), rpy: parseVec3(source, `${field}@rpy`, o?.rpy, [0, 0, 0]) };
}

function requireString(source: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new RobotDescriptionError(source, field, `missing or empty (found ${JSON.stringify(value)})`);
  return value;
}

function parseGeometry(source: string, field: string, col: Record<string, unknown>): CollisionGeometry {
  const origin = parseOrigin(source, `${field}/origin`, col.origin);
  const geometry = asRecord(col.geometry);
  if (!geometry) throw new RobotDescriptionError(source, `${field}/geometry`, 'missing <geometry>');
  if (geometry.box !== undefined) {
    const size = parseVec3(source, `${field}/geometry/box@size`, asRecord(geometry.box)?.size, [NaN, NaN, NaN]);
    if (size.some((s) => !(s >= 0))) throw new RobotDescriptionError(source, `${field}/geometry/box@size`, 'needs three non-negative sizes');
    return { kind: 'box', origin, size_m: size };
  }
  if (geometry.sphere !== undefined) {
    const radius = parseNumber(source, `${field}/geometry/sphere@radius`, asRecord(geometry.sphere)?.radius);
    if (radius < 0) throw new RobotDescriptionError(source, `${field}/geometry/sphere@radius`, 'must be >= 0');
    return { kind: 'sphere', origin, radius_m: radius };
  }
  if (geometry.cylinder !== undefined) {
    const c = asRecord(geometry.cylinder);
    const radius = parseNumber(source, `${field}/geometry/cylinder@radius`, c?.radius);
    const length = parseNumber(source, `${field}/geometry/cylinder@length`, c?.length);
    if (radius < 0 || length < 0) throw new RobotDescriptionError(source, `${field}/geometry/cylinder`, 'radius and length must be >= 0');
    return { kind: 'cylinder', origin, radius_m: radius, length_m: length };
  }
  if (geometry.mesh !== undefined) {
    return { kind: 'mesh', origin, filename: requireString(source, `${field}/geometry/mesh@filename`, asRecord(geometry.mesh)?.filename) };
  }
  throw new RobotDescriptionError(source, `${field}/geometry`, `unsupported geometry ${JSON.stringify(Object.keys(geometry))}; expected box, sphere, cylinder or mesh`);
}

const JOINT_TYPES = new Set(['revolute', 'continuous', 'prismatic', 'fixed']);

function parseJoint(source: string, raw: Record<string, unknown>, index: number): UrdfJoint {
  const name = requireString(source, `robot/joint[${index}]@name`, raw.name);
  const at = `joint "${name}"`;
  const type = requireString(source, `${at}@type`, raw.type);
  if (!JOINT_TYPES.has(type))
    throw new RobotDescriptionError(source, `${at}@type`, `unsupported joint type "${type}"`, 'only revolute, continuous, prismatic and fixed joints are supported by the arm model');
  const parent = requireString(source, `${at}/parent@link`, asRecord(raw.parent)?.link);
  const child = requireString(source, `${at}/child@link`, asRecord(raw.child)?.link);
  const origin = parseOrigin(source, `${at}/origin`, raw.origin);
  let axis: Vec3 = parseVec3(source, `${at}/axis@xyz`, asRecord(raw.axis)?.xyz, [1, 0, 0]);
  const n = Math.hypot(axis[0], axis[1], axis[2]);
  if (type !== 'fixed') {
    if (!(n > 1e-12)) throw new RobotDescriptionError(source, `${at}/axis@xyz`, 'axis of a moving joint must be non-zero');
    axis = [axis[0] / n, axis[1] / n, axis[2] / n];
  }
  let limit: UrdfLimit | undefined;
  const rawLimit = asRecord(raw.limit);
  if (rawLimit) {
    const lower = parseOptionalNumber(source, `${at}/limit@lower`, rawLimit.lower);
    const upper = parseOptionalNumber(source, `${at}/limit@upper`, rawLimit.upper);
    const velocity = parseNumber(source, `${at}/limit@velocity`, rawLimit.velocity);
    const effort = parseNumber(source, `${at}/limit@effort`, rawLimit.effort);
    if (velocity < 0) throw new RobotDescriptionError(source, `${at}/limit@velocity`, `must be >= 0, found ${velocity}`);
    if (effort < 0) throw new RobotDescriptionError(source, `${at}/limit@effort`, `must be >= 0, found ${effort}`);
    if (type === 'revolute' || type === 'prismatic') {
      if (lower === undefined || upper === undefined)
        throw new RobotDescriptionError(source, `${at}/limit`, `a ${type} joint needs both lower and upper`);
      if (!(lower <= upper)) throw new RobotDescriptionError(source, `${at}/limit`, `lower ${lower} must be <= upper ${upper}`);
    }
    limit = { lower: type === 'continuous' ? undefined : lower, upper: type === 'continuous' ? undefined : upper, velocity, effort };
  } else if (type === 'revolute' || type === 'prismatic') {
    throw new RobotDescriptionError(source, `${at}/limit`, `a ${type} joint needs a <limit> element`);
  }
  let safetyController: UrdfSafetyController | undefined;
  const sc = asRecord(raw.safety_controller);
  if (sc) {
    safetyController = {
      softLower: parseOptionalNumber(source, `${at}/safety_controller@soft_lower_limit`, sc.soft_lower_limit),
      softUpper: parseOptionalNumber(source, `${at}/safety_controller@soft_upper_limit`, sc.soft_upper_limit),
      kPosition: parseOptionalNumber(source, `${at}/safety_controller@k_position`, sc.k_position),
      kVelocity: parseNumber(source, `${at}/safety_controller@k_velocity`, sc.k_velocity),
    };
  }
  let mimic: UrdfMimic | undefined;
  const mm = asRecord(raw.mimic);
  if (mm) {
    mimic = {
      joint: requireString(source, `${at}/mimic@joint`, mm.joint),
      multiplier: parseOptionalNumber(source, `${at}/mimic@multiplier`, mm.multiplier) ?? 1,
      offset: parseOptionalNumber(source, `${at}/mimic@offset`, mm.offset) ?? 0,
    };
  }
  return { name, type: type as JointType, parent, child, origin, axis, limit, safetyController, mimic };
}

/** Parses URDF XML text. `source` names the file in error messages. */
export function parseUrdf(xml: string, source: string): UrdfRobot {
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseAttributeValue: false,
    parseTagValue: false,
    isArray: (_name, jpath) => {
      const p = String(jpath);
      return p === 'robot.link' || p === 'robot.joint' || p === 'robot.link.collision';
    },
  });
  let doc: unknown;
  try {
    doc = parser.parse(xml, true);
  } catch (err) {
    throw new RobotDescriptionError(source, 'xml', `not well-formed XML: ${(err as Error).message}`);
  }
  const robot = asRecord(asRecord(doc)?.robot);
  if (!robot) throw new RobotDescriptionError(source, 'robot', 'no <robot> root element');
  const name = requireString(source, 'robot@name', robot.name);
  const rawLinks = elementList.safeParse(robot.link ?? []);
  const rawJoints = elementList.safeParse(robot.joint ?? []);
  if (!rawLinks.success) throw new RobotDescriptionError(source, 'robot/link', 'malformed <link> elements');
  if (!rawJoints.success) throw new RobotDescriptionError(source, 'robot/joint', 'malformed <joint> elements');
  if (rawLinks.data.length === 0) throw new RobotDescriptionError(source, 'robot/link', 'the robot has no links');

  const links: UrdfLink[] = rawLinks.data.map((raw, i) => {
    const lname = requireString(source, `robot/link[${i}]@name`, raw.name);
    const cols = Array.isArray(raw.collision) ? raw.collision : [];
    const collisions = cols.map((c, k) => {
      const rec = asRecord(c);
      if (!rec) throw new RobotDescriptionError(source, `link "${lname}"/collision[${k}]`, 'malformed <collision>');
      return parseGeometry(source, `link "${lname}"/collision[${k}]`, rec);
    });
    return { name: lname, collisions };
  });
  const joints = rawJoints.data.map((raw, i) => parseJoint(source, raw, i));

  const linkNames = new Set<string>();
  for (const l of links) {
    if (linkNames.has(l.name)) throw new RobotDescriptionError(source, `link "${l.name}"`, 'duplicate link name');
    linkNames.add(l.name);
  }
  const jointNames = new Set<string>();
  const childOf = new Map<string, string>();
  for (const j of joints) {
    if (jointNames.has(j.name)) throw new RobotDescriptionError(source, `joint "${j.name}"`, 'duplicate joint name');
    jointNames.add(j.name);
    if (!linkNames.has(j.parent)) throw new RobotDescriptionError(source, `joint "${j.name}"/parent@link`, `unknown link "${j.parent}"`);
    if (!linkNames.has(j.child)) throw new RobotDescriptionError(source, `joint "${j.name}"/child@link`, `unknown link "${j.child}"`);
    const prev = childOf.get(j.child);
    if (prev) throw new RobotDescriptionError(source, `joint "${j.name}"/child@link`, `link "${j.child}" is already the child of joint "${prev}"`);
    childOf.set(j.child, j.name);
  }
  for (const j of joints) {
    if (j.mimic && !jointNames.has(j.mimic.joint))
      throw new RobotDescriptionError(source, `joint "${j.name}"/mimic@joint`, `unknown joint "${j.mimic.joint}"`);
  }
  const roots = links.filter((l) => !childOf.has(l.name));
  if (roots.length !== 1)
    throw new RobotDescriptionError(source, 'robot', `expected exactly one root link, found ${roots.length} (${roots.map((r) => r.name).join(', ')})`, 'every link but one must be the child of a joint');
  return { source, name, links, joints };
}

export function loadUrdf(path: string): UrdfRobot {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RobotDescriptionError(path, 'file', `cannot read: ${(err as Error).message}`, 'check the path');
  }
  return parseUrdf(text, path);
}
