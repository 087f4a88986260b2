/**
 * What every node shares: parameters declared from zod schemas (description,
 * default, validation on declare and on every set), the message shapes the
 * nodes exchange (headers, durations, JointTrajectory, JointState,
 * Float32MultiArray), and conversions between them and the runtime's types.
 */
import { z } from 'zod';
import { type RosParameterType, type RosTime, type TransportNode, secondsToTime, timeToSeconds } from '../transport/types';

export class NodeConfigError extends Error {
  override name = 'NodeConfigError';
}

export class NodeInputError extends Error {
  override name = 'NodeInputError';
}

export interface ParamSpec<T> {
  schema: z.ZodType<T>;
  default: T;
  description: string;
  readOnly?: boolean;
  rosType: RosParameterType;
}

/** The ROS type of a default: numbers are doubles unless declared with intParam. */
function rosTypeOf(value: unknown): RosParameterType {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'double';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return 'string_array';
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return 'double_array';
  if (Array.isArray(value) && value.every((v) => typeof v === 'boolean')) return 'bool_array';
  throw new NodeConfigError(`a ROS 2 parameter cannot hold ${JSON.stringify(value)}`);
}

type ParamValues<S> = { [K in keyof S]: S[K] extends ParamSpec<infer T> ? T : never };

/** Builds a spec with its type inferred from the schema. */
export function param<T>(schema: z.ZodType<T>, defaultValue: T, description: string, readOnly = false): ParamSpec<T> {
  return { schema, default: defaultValue, description, readOnly, rosType: rosTypeOf(defaultValue) };
}

/** An integer parameter (declared as PARAMETER_INTEGER). */
export function intParam(schema: z.ZodType<number>, defaultValue: number, description: string, readOnly = false): ParamSpec<number> {
  return { schema, default: defaultValue, description, readOnly, rosType: 'integer' };
}

/** Declares every parameter of `specs` on the node and returns the validated values. */
export function declareParameters<S extends Record<string, ParamSpec<unknown>>>(node: TransportNode, specs: S): ParamValues<S> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    out[name] = node.declareParameter(name, spec.default, {
      description: spec.description,
      readOnly: spec.readOnly,
      rosType: spec.rosType,
      validate: (value: unknown) => {
        const r = spec.schema.safeParse(value);
        if (!r.success) {
          const issue = r.error.issues[0]!;
          throw new NodeConfigError(`node ${node.name}: parameter ${name} = ${JSON.stringify(value)}: ${issue.message} (${spec.description})`);
        }
        return r.data;
      },
    });
  }
  return out as ParamValues<S>;
}

export const positiveSeconds = z.number().positive().finite();
export const topicName = z.string().regex(/^(~\/)?\/?[A-Za-z_][\w/]*$/, 'must be a ROS 2 topic name');

export interface HeaderMsg {
  stamp: RosTime;
  frame_id: string;
}

export interface DurationMsg {
  sec: number;
  nanosec: number;
}

export interface JointTrajectoryPointMsg {
  positions: ArrayLike<number>;
  velocities: ArrayLike<number>;
  accelerations: ArrayLike<number>;
  effort: ArrayLike<number>;
  time_from_start: DurationMsg;
}

export interface JointTrajectoryMsg {
  header: HeaderMsg;
  joint_names: string[];
  points: JointTrajectoryPointMsg[];
}

export interface JointStateMsg {
  header: HeaderMsg;
  name: string[];
  position: ArrayLike<number>;
  velocity: ArrayLike<number>;
  effort: ArrayLike<number>;
}

export interface Float32MultiArrayMsg {
  layout: { dim: { label: string; size: number; stride: number }[]; data_offset: number };
  data: Float32Array | number[];
}

export interface StringMsg {
  data: string;
}

export const ZERO_TIME: RosTime = { sec: 0, nanosec: 0 };

export function durationToSeconds(d: DurationMsg): number {
  return d.sec + d.nanosec * 1e-9;
}

export function secondsToDuration(s: number): DurationMsg {
  return secondsToTime(s);
}

export { timeToSeconds, secondsToTime };

/** A JointTrajectory from joint names and rows of positions at the given times (seconds from start). */
export function jointTrajectory(
  jointNames: readonly string[],
  points: readonly { positions: ArrayLike<number>; time_from_start_s: number }[],
  stamp: RosTime = ZERO_TIME,
  frameId = '',
): JointTrajectoryMsg {
  return {
    header: { stamp, frame_id: frameId },
    joint_names: [...jointNames],
    points: points.map((p) => ({
      positions: Array.from(p.positions),
      velocities: [],
      accelerations: [],
      effort: [],
      time_from_start: secondsToDuration(p.time_from_start_s),
    })),
  };
}

export function latentMessage(latent: Float32Array): Float32MultiArrayMsg {
  return { layout: { dim: [{ label: 'latent', size: latent.length, stride: latent.length }], data_offset: 0 }, data: latent };
}

/** The latent carried by a Float32MultiArray (data_offset honoured), as a Float32Array. */
export function latentFromMessage(msg: Float32MultiArrayMsg): Float32Array {
  const data = msg.data instanceof Float32Array ? msg.data : Float32Array.from(msg.data);
  return data.subarray(msg.layout.data_offset);
}

/** Picks `names` out of a JointState, in that order; undefined when one is missing. */
export function pickJoints(msg: JointStateMsg, names: readonly string[]): { position: Float64Array; velocity: Float64Array | undefined; effort: Float64Array | undefined } | undefined {
  const index = names.map((n) => msg.name.indexOf(n));
  if (index.some((i) => i < 0)) return undefined;
  const pick = (a: ArrayLike<number>) => (a.length === msg.name.length ? Float64Array.from(index, (i) => a[i]!) : undefined);
  const position = pick(msg.position);
  if (!position) return undefined;
  return { position, velocity: pick(msg.velocity), effort: pick(msg.effort) };
}

/** Logs through the node name; nodes write one line per event, never per message. */
export function nodeLogger(node: TransportNode, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): (line: string) => void {
  return (line) => sink(`[${node.name}] ${line}`);
}
