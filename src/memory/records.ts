/**
 * The shapes that cross the world-memory boundary: zod schemas for what the
 * runtime writes (object sightings, task progress, episodic events and their
 * JSON payloads) and the TypeScript types of what queries return. Every write
 * is parsed here first; a bad value becomes a MemoryInputError naming the
 * call and the field (e.g. `recordObject: sighting.pose.position_m[1]: ...`).
 */
import { z } from 'zod';
import { MemoryInputError } from './errors';

/** Greatest accepted deviation of |q| from 1 before a quaternion is refused (it is renormalised when inside). */
export const QUATERNION_NORM_TOLERANCE = 1e-3;

const finite = z.number(); // zod 4 rejects NaN and ±Infinity for z.number()
const identifier = z.string().min(1, 'must be a non-empty string').max(256, 'must be at most 256 characters');

/** A latent vector: a Float32Array of finite values (the index of the first bad value is reported). */
export const LatentSchema = z
  .custom<Float32Array>((value) => value instanceof Float32Array, {
    error: (issue) => `must be a Float32Array, got ${describeType(issue.input)}`,
  })
  .superRefine((latent, ctx) => {
    if (latent.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must have at least one element, got an empty Float32Array' });
      return;
    }
    for (let i = 0; i < latent.length; i++) {
      if (!Number.isFinite(latent[i])) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          message: `is ${latent[i]}; every element must be finite (find where the NaN/Infinity came from upstream)`,
        });
        return;
      }
    }
  });

/** Position in metres and orientation as a unit quaternion [x, y, z, w], expressed in frame `frameId`. */
export const PoseSchema = z.strictObject({
  position_m: z.tuple([finite, finite, finite]),
  orientation_xyzw: z.tuple([finite, finite, finite, finite]).superRefine((q, ctx) => {
    const norm = Math.hypot(q[0], q[1], q[2], q[3]);
    if (Math.abs(norm - 1) > QUATERNION_NORM_TOLERANCE) {
      ctx.addIssue({
        code: 'custom',
        message: `has norm ${norm}; a unit quaternion [x, y, z, w] is required (|q| within ${QUATERNION_NORM_TOLERANCE} of 1)`,
      });
    }
  }),
  frameId: identifier,
});
export type Pose = z.infer<typeof PoseSchema>;

/** One sighting of an object by perception. */
export const ObjectSightingSchema = z.strictObject({
  /** Stable identity of the object across frames (the tracker's id). */
  id: identifier,
  label: z.string().max(256),
  latent: LatentSchema,
  pose: PoseSchema,
  /** Detection confidence in [0, 1] at the moment of the sighting. */
  confidence: finite.min(0).max(1),
});
export type ObjectSighting = z.infer<typeof ObjectSightingSchema>;

export const TimeSchema = finite.min(0, 'must be >= 0 seconds');

/** What recordFrame takes: every object seen in one frame, at one time. */
export const FrameSightingsSchema = z.strictObject({
  time_s: TimeSchema,
  seen: z.array(ObjectSightingSchema),
  /** true (default): objects in view before this frame but not in `seen` are marked out of view. */
  othersLeftView: z.boolean().default(true),
});
export type FrameSightings = z.input<typeof FrameSightingsSchema>;

/** An object as the memory remembers it. */
export interface ObjectRecord {
  id: string;
  label: string;
  /** Latent at the last sighting (a fresh copy; mutating it does not change the memory). */
  latent: Float32Array;
  /** Pose at the last sighting. */
  pose: Pose;
  firstSeen_s: number;
  lastSeen_s: number;
  /** Number of sightings recorded. */
  sightings: number;
  inView: boolean;
  /** Confidence at the last sighting. */
  confidenceAtLastSeen: number;
  /**
   * Confidence at the query time: equal to confidenceAtLastSeen while in view;
   * out of view, confidenceAtLastSeen * exp(-confidenceDecayRate_per_s * (now_s - lastSeen_s)).
   */
  confidence: number;
}

export const TASK_STATUSES = ['pending', 'active', 'succeeded', 'failed', 'abandoned'] as const;
export const TaskStatusSchema = z.enum(TASK_STATUSES);
export type TaskStatus = z.infer<typeof TaskStatusSchema>;

/** Progress of one task through its sub-goals. */
export const TaskProgressSchema = z.strictObject({
  taskId: identifier,
  /** Index of the sub-goal being worked on (0-based). */
  subGoalIndex: z.int().min(0),
  status: TaskStatusSchema,
  /** Attempts made at the current sub-goal (or the task, as the caller defines). */
  attempts: z.int().min(0),
  updated_s: TimeSchema,
});
export type TaskProgress = z.infer<typeof TaskProgressSchema>;

// ---------------------------------------------------------------------------
// Episodic log

/** A planner decision: what was chosen, at what energy and cost of compute. */
export const DecisionPayloadSchema = z.strictObject({
  planner: identifier,
  /** Energy of the chosen action sequence. */
  energy: finite,
  iterations: z.int().min(0),
  /** First action of the chosen sequence (what was sent to the shield). */
  action: z.array(finite),
  subGoalIndex: z.int().min(0).optional(),
  compute_ms: finite.min(0).optional(),
  note: z.string().max(4096).optional(),
});
export type DecisionPayload = z.infer<typeof DecisionPayloadSchema>;

/** A shield verdict on an outgoing command. */
export const ShieldPayloadSchema = z.strictObject({
  verdict: z.enum(['pass', 'scale', 'clamp', 'halt']),
  /** Status name in the ros2_control / MoveIt Servo vocabulary, e.g. 'JOINT_BOUND', 'HALT_FOR_COLLISION'. */
  status: identifier,
  joints: z.array(z.string()).optional(),
  detail: z.string().max(4096).optional(),
});
export type ShieldPayload = z.infer<typeof ShieldPayloadSchema>;

/** A surprise-monitor event (see src/perception/surprise.ts); non-finite values are stored as null. */
export const SurprisePayloadSchema = z.strictObject({
  level: z.enum(['replan', 'slow', 'halt']),
  error: finite.nullable(),
  zScore: finite.nullable(),
  tick: z.int().min(0),
  reason: z.string().max(256),
});
export type SurprisePayload = z.infer<typeof SurprisePayloadSchema>;

export const EVENT_KINDS = ['decision', 'shield', 'surprise'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

const eventBase = { episodeId: identifier, time_s: TimeSchema };
/** What logEvent takes; the payload schema is chosen by `kind`. */
export const EpisodicEventInputSchema = z.discriminatedUnion('kind', [
  z.strictObject({ ...eventBase, kind: z.literal('decision'), payload: DecisionPayloadSchema }),
  z.strictObject({ ...eventBase, kind: z.literal('shield'), payload: ShieldPayloadSchema }),
  z.strictObject({ ...eventBase, kind: z.literal('surprise'), payload: SurprisePayloadSchema }),
]);
export type EpisodicEventInput = z.infer<typeof EpisodicEventInputSchema>;

/** A logged event: the input plus its sequence number (strictly increasing in append order). */
export type EpisodicEvent = EpisodicEventInput & { seq: number };

/** Payload schema for each kind, used again when events are read back. */
export const PAYLOAD_SCHEMAS = {
  decision: DecisionPayloadSchema,
  shield: ShieldPayloadSchema,
  surprise: SurprisePayloadSchema,
} as const;

// ---------------------------------------------------------------------------

/** Human name of a value's type for messages: 'Float64Array', 'Array', 'number', 'undefined'. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'Object';
  return typeof value;
}

/** 'pose.position_m[1]' from ['pose', 'position_m', 1]. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

/**
 * Parses `value` with `schema`; on failure throws MemoryInputError for the
 * first issue, naming `call` and the field path under `root`.
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, call: string, root: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new MemoryInputError(call, formatPath([root, ...issue.path]), issue.message);
}
