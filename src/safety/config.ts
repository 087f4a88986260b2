/**
 * The safety file: its zod schema (snake_case, ros2_control / MoveIt Servo
 * parameter names where they exist), units in every field name, and the
 * loader that turns YAML into a typed `SafetyConfig` with errors naming the
 * file and the field. Defaults are conservative; anything a robot cannot be
 * trusted without (acceleration and jerk limits, the tool speed) must be
 * given explicitly.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { SafetyConfigError } from './errors';

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const positive = finite.refine((v) => v > 0, 'must be > 0');
const nonNegative = finite.refine((v) => v >= 0, 'must be >= 0');
const vec3 = z.tuple([finite, finite, finite]);

const perJointLimits = z.strictObject({
  /** rad or m; may only narrow the robot description's range. */
  min_position: finite.optional(),
  max_position: finite.optional(),
  /** rad/s or m/s. */
  max_velocity: positive.optional(),
  /** rad/s² or m/s². */
  max_acceleration: positive.optional(),
  /** rad/s³ or m/s³. */
  max_jerk: positive.optional(),
  /** N·m or N. */
  max_effort: positive.optional(),
});

const boxZone = z.strictObject({
  id: z.string().min(1),
  shape: z.literal('box'),
  center_m: vec3,
  size_m: z.tuple([positive, positive, positive]),
  rpy_rad: vec3.default([0, 0, 0]),
  moving: z.boolean().default(false),
  /** Added to the zone's size on every side for moving zones, metres. */
  position_uncertainty_m: nonNegative.default(0),
});
const sphereZone = z.strictObject({
  id: z.string().min(1),
  shape: z.literal('sphere'),
  center_m: vec3,
  radius_m: positive,
  moving: z.boolean().default(false),
  position_uncertainty_m: nonNegative.default(0),
});
const capsuleZone = z.strictObject({
  id: z.string().min(1),
  shape: z.literal('capsule'),
  a_m: vec3,
  b_m: vec3,
  radius_m: positive,
  moving: z.boolean().default(false),
  position_uncertainty_m: nonNegative.default(0),
});
export const zoneSchema = z.discriminatedUnion('shape', [boxZone, sphereZone, capsuleZone]);
export type ZoneConfig = z.infer<typeof zoneSchema>;

const capsuleOverride = z.strictObject({ a_m: vec3, b_m: vec3, radius_m: nonNegative });

export const safetyConfigSchema = z
  .strictObject({
    /** Optional robot description paths, relative to the safety file's folder. */
    robot: z
      .strictObject({
        urdf: z.string().min(1),
        joint_limits: z.array(z.string().min(1)).default([]),
      })
      .optional(),
    /** Commanded joints, in command order. */
    joints: z.array(z.string().min(1)).min(1),
    /** Link whose origin (plus tcp_offset_m) is the tool centre point. */
    tcp_link: z.string().min(1),
    tcp_offset_m: vec3.default([0, 0, 0]),
    /**
     * Distance kept from each position limit, rad or m (MoveIt Servo's
     * joint_limit_margins): one value for all joints or one per joint.
     */
    joint_limit_margins: z.union([nonNegative, z.array(nonNegative)]).default(0.05),
    /** Narrowing overrides in ros2_control joint_limits naming. */
    joint_limits: z.record(z.string(), perJointLimits).default({}),
    /** A waypoint this far (rad or m) beyond a position limit is clamped onto it; farther is a halt. */
    joint_bound_clamp_tolerance: nonNegative.default(0),
    tool: z.strictObject({
      /** TCP linear speed limit, m/s. */
      max_speed_mps: positive,
      /** TCP linear speed limit while holding an object flagged sharp, m/s. */
      sharp_object_max_speed_mps: positive,
    }),
    effort: z
      .strictObject({
        /** Halt (latched) when a reported |effort| exceeds fraction x max_effort. */
        max_fraction: positive.default(1),
      })
      .default({ max_fraction: 1 }),
    workspace: z
      .strictObject({
        /** Axis-aligned boxes in the base frame; every checked capsule must lie inside one of them. */
        boxes: z.array(z.strictObject({ min_m: vec3, max_m: vec3 })).min(1),
        /** 'tcp': the tool point only; 'all_links': every collision capsule. */
        check: z.enum(['tcp', 'all_links']).default('all_links'),
      })
      .optional(),
    collision: z
      .strictObject({
        /** Minimum distance kept between robot capsules and keep-out zones, m. */
        clearance_m: nonNegative.default(0.02),
        /** Below this distance to a zone the arm is slowed linearly (DECELERATE_FOR_COLLISION), m. */
        slow_down_distance_m: nonNegative.default(0.1),
        /** Largest motion of any robot point between two checked samples, m. */
        sweep_resolution_m: positive.default(0.01),
        /** Radius of capsules that stand in for mesh geometry, m. */
        mesh_radius_m: positive.default(0.06),
        mesh_radius_by_link_m: z.record(z.string(), positive).default({}),
        /** Capsules that replace a link's geometry. */
        capsules: z.record(z.string(), z.array(capsuleOverride)).default({}),
        /** Links left out of all distance checks (e.g. a base bolted to the table). */
        exclude_links: z.array(z.string()).default([]),
        /** A command needing more samples than this is refused (UNVERIFIABLE_COMMAND). */
        max_samples_per_command: z.number().int().positive().default(20000),
      })
      .default({ clearance_m: 0.02, slow_down_distance_m: 0.1, sweep_resolution_m: 0.01, mesh_radius_m: 0.06, mesh_radius_by_link_m: {}, capsules: {}, exclude_links: [], max_samples_per_command: 20000 }),
    keep_out: z.array(zoneSchema).default([]),
    /** ISO/TS 15066 speed and separation monitoring. */
    separation: z
      .strictObject({
        /** v_h: assumed human speed towards the robot (ISO 13855: 1.6 m/s), m/s; a faster measured speed is used instead. */
        human_speed_mps: positive.default(1.6),
        /** T_r: time for the robot system to react to the person's presence, s. */
        reaction_time_s: nonNegative,
        /** T_s: time for the robot to stop once commanded, s. */
        stopping_time_s: nonNegative,
        /** S_s model: 'constant_deceleration' S_s = v_r T_s / 2; 'fixed_distance' S_s = stopping_distance_m. */
        stopping_model: z.enum(['constant_deceleration', 'fixed_distance']).default('constant_deceleration'),
        /** S_s for 'fixed_distance' (the vendor's stopping distance at full speed and payload), m. */
        stopping_distance_m: nonNegative.default(0),
        /** C: intrusion distance (reach of a body part past the sensing boundary), m. */
        intrusion_distance_m: nonNegative,
        /** Z_d: position uncertainty of the person (sensor), m. */
        human_position_uncertainty_m: nonNegative,
        /** Z_r: position uncertainty of the robot, m. */
        robot_position_uncertainty_m: nonNegative,
        /** Separation at which slowing down starts; must exceed S_p at zero speed, m. */
        slow_down_distance_m: positive,
        /** A tracked person is a vertical capsule of this radius and height standing on floor_z_m. */
        person_radius_m: positive.default(0.25),
        person_height_m: positive.default(1.9),
        floor_z_m: finite.default(0),
        /** Below this speed fraction the arm is halted instead of crawling. */
        min_speed_fraction: z.number().gt(0).lt(1).default(0.02),
      })
      .optional(),
    watchdog: z.strictObject({
      /** Control period of the loop calling Shield.tick(), s. */
      control_period_s: positive,
      /** Joint state older than this halts, s. */
      joint_state_timeout_s: positive,
      /** Perception (persons, moving zones) older than this halts, s; applies when separation or moving zones are configured. */
      perception_timeout_s: positive,
      /** MoveIt Servo's incoming_command_timeout: no command for this long halts, s. */
      incoming_command_timeout_s: positive,
    }),
    /** A command needing more than this factor of slow-down is refused. */
    max_time_scale: z.number().min(1).default(100),
  })
  .superRefine((cfg, ctx) => {
    if (new Set(cfg.joints).size !== cfg.joints.length) ctx.addIssue({ code: 'custom', path: ['joints'], message: 'joint names must be unique' });
    if (Array.isArray(cfg.joint_limit_margins) && cfg.joint_limit_margins.length !== cfg.joints.length)
      ctx.addIssue({ code: 'custom', path: ['joint_limit_margins'], message: `expected one value or ${cfg.joints.length} values (one per joint)` });
    for (const name of Object.keys(cfg.joint_limits))
      if (!cfg.joints.includes(name)) ctx.addIssue({ code: 'custom', path: ['joint_limits', name], message: `"${name}" is not in joints` });
    for (const [name, l] of Object.entries(cfg.joint_limits))
      if (l.min_position !== undefined && l.max_position !== undefined && !(l.min_position < l.max_position))
        ctx.addIssue({ code: 'custom', path: ['joint_limits', name, 'min_position'], message: 'must be < max_position' });
    cfg.workspace?.boxes.forEach((b, i) => {
      for (let k = 0; k < 3; k++) if (!(b.min_m[k]! < b.max_m[k]!)) ctx.addIssue({ code: 'custom', path: ['workspace', 'boxes', i, 'min_m', k], message: 'must be < max_m' });
    });
    const ids = new Set<string>();
    cfg.keep_out.forEach((zone, i) => {
      if (ids.has(zone.id)) ctx.addIssue({ code: 'custom', path: ['keep_out', i, 'id'], message: `duplicate zone id "${zone.id}"` });
      ids.add(zone.id);
    });
    if (cfg.tool.sharp_object_max_speed_mps > cfg.tool.max_speed_mps)
      ctx.addIssue({ code: 'custom', path: ['tool', 'sharp_object_max_speed_mps'], message: 'must be <= tool.max_speed_mps' });
    if (cfg.collision.slow_down_distance_m < cfg.collision.clearance_m)
      ctx.addIssue({ code: 'custom', path: ['collision', 'slow_down_distance_m'], message: 'must be >= collision.clearance_m' });
    const w = cfg.watchdog;
    for (const key of ['joint_state_timeout_s', 'perception_timeout_s', 'incoming_command_timeout_s'] as const)
      if (w[key] < w.control_period_s) ctx.addIssue({ code: 'custom', path: ['watchdog', key], message: 'must be >= watchdog.control_period_s' });
  });

export type SafetyConfig = z.infer<typeof safetyConfigSchema>;

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

/** Validates an already-parsed object; `source` names it in errors. */
export function parseSafetyConfig(raw: unknown, source: string): SafetyConfig {
  const res = safetyConfigSchema.safeParse(raw);
  if (!res.success) {
    const issue = res.error.issues[0]!;
    const more = res.error.issues.length > 1 ? ` (+${res.error.issues.length - 1} more: ${res.error.issues.slice(1, 4).map((i) => formatPath(i.path)).join(', ')})` : '';
    throw new SafetyConfigError(source, formatPath(issue.path), `${issue.message}${more}`);
  }
  return res.data;
}

export function parseSafetyYaml(text: string, source: string): SafetyConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new SafetyConfigError(source, 'yaml', `not valid YAML: ${(err as Error).message}`);
  }
  return parseSafetyConfig(raw, source);
}

export function loadSafetyYaml(path: string): SafetyConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SafetyConfigError(path, 'file', `cannot read: ${(err as Error).message}`, 'check the path');
  }
  return parseSafetyYaml(text, path);
}
