/**
 * The transport interface every ROS-facing node is written against. Two
 * implementations: rclnodejs (a live ROS 2 graph; ./rclnodejs.ts, loaded
 * lazily) and an in-process bus carrying real CDR bytes (./in-process.ts),
 * which the tests use. Nodes never touch rclnodejs directly, so the same node
 * code runs on both.
 *
 * Raw subscriptions hand the handler the CDR bytes (rclnodejs `isRaw`), so
 * image frames never become JS objects on the hot path.
 */

export interface RosTime {
  sec: number;
  nanosec: number;
}

export type Reliability = 'reliable' | 'best_effort';
export type Durability = 'volatile' | 'transient_local';

export interface QosProfile {
  reliability: Reliability;
  durability: Durability;
  depth: number;
}

/** rclcpp's named profiles: sensor data is best-effort, depth 5. */
export const QOS = {
  sensorData: { reliability: 'best_effort', durability: 'volatile', depth: 5 },
  default: { reliability: 'reliable', durability: 'volatile', depth: 10 },
  latched: { reliability: 'reliable', durability: 'transient_local', depth: 1 },
} as const satisfies Record<string, QosProfile>;

export interface Publisher<T> {
  readonly topic: string;
  readonly type: string;
  publish(message: T): void;
  /** Publishes already-serialised CDR bytes. */
  publishRaw(cdr: Uint8Array): void;
}

export interface Subscription {
  readonly topic: string;
  destroy(): void;
}

export type GoalStatus = 'accepted' | 'executing' | 'canceling' | 'succeeded' | 'canceled' | 'aborted';

/** action_msgs/GoalStatus codes. */
export const GOAL_STATUS_CODE: Record<GoalStatus, number> = {
  accepted: 1,
  executing: 2,
  canceling: 3,
  succeeded: 4,
  canceled: 5,
  aborted: 6,
};

export interface ServerGoalHandle<Goal, Feedback> {
  readonly goalId: string;
  readonly goal: Goal;
  /** True once a client asked to cancel; the executor should stop and return canceled(). */
  readonly cancelRequested: boolean;
  /** Aborted when a cancel is requested, for executors that await long work. */
  readonly signal: AbortSignal;
  publishFeedback(feedback: Feedback): void;
}

export type GoalOutcome<Result> =
  | { status: 'succeeded'; result: Result }
  | { status: 'canceled'; result: Result }
  | { status: 'aborted'; result: Result };

export interface ActionServerHandlers<Goal, Feedback, Result> {
  /** Accept or reject a goal before execution (e.g. validate it); a string rejects with that reason. */
  onGoal?(goal: Goal): true | string;
  /** Accept or reject a cancel request. */
  onCancel?(handle: ServerGoalHandle<Goal, Feedback>): boolean;
  execute(handle: ServerGoalHandle<Goal, Feedback>): Promise<GoalOutcome<Result>>;
}

export interface ActionServer {
  readonly name: string;
  destroy(): void;
}

export interface ClientGoalHandle<Result> {
  readonly goalId: string;
  readonly accepted: boolean;
  result(): Promise<{ status: GoalStatus; result: Result }>;
  cancel(): Promise<boolean>;
}

export interface ActionClient<Goal, Feedback, Result> {
  readonly name: string;
  waitForServer(timeout_ms: number): Promise<boolean>;
  sendGoal(goal: Goal, onFeedback?: (feedback: Feedback) => void): Promise<ClientGoalHandle<Result>>;
  destroy(): void;
}

export interface ParameterDescriptor<T> {
  description: string;
  /** Validates every value the parameter takes, at declaration and on every set. */
  validate: (value: unknown) => T;
  readOnly?: boolean;
  /**
   * The ROS parameter type. Needed where the default does not tell: a double
   * parameter whose default is a whole number (1.0) would otherwise be
   * declared as an integer and refuse 1.5 from a launch file.
   */
  rosType?: RosParameterType;
}

export type RosParameterType = 'bool' | 'integer' | 'double' | 'string' | 'bool_array' | 'integer_array' | 'double_array' | 'string_array';

export interface TransportNode {
  readonly name: string;
  readonly namespace: string;
  /** ROS time: the /clock time when use_sim_time is true, the wall clock otherwise. */
  now(): RosTime;
  createPublisher<T>(type: string, topic: string, qos?: QosProfile): Publisher<T>;
  createSubscription<T>(type: string, topic: string, handler: (message: T) => void, qos?: QosProfile): Subscription;
  createRawSubscription(type: string, topic: string, handler: (cdr: Uint8Array) => void, qos?: QosProfile): Subscription;
  createActionServer<G, F, R>(type: string, name: string, handlers: ActionServerHandlers<G, F, R>): ActionServer;
  createActionClient<G, F, R>(type: string, name: string): ActionClient<G, F, R>;
  declareParameter<T>(name: string, defaultValue: T, descriptor: ParameterDescriptor<T>): T;
  getParameter<T>(name: string): T;
  /** Sets a declared parameter through its validator; rejects read-only or invalid values. */
  setParameter(name: string, value: unknown): void;
  onParameterChange(listener: (name: string, value: unknown) => void): void;
  destroy(): void;
}

export interface NodeOptions {
  namespace?: string;
  useSimTime?: boolean;
  /**
   * Values that replace declared defaults (as a launch file's parameters do);
   * they pass through the parameter's validator like any other value.
   */
  parameterOverrides?: Readonly<Record<string, unknown>>;
}

export interface Transport {
  readonly kind: 'rclnodejs' | 'in-process';
  createNode(name: string, options?: NodeOptions): TransportNode;
  shutdown(): Promise<void>;
}

export class TransportError extends Error {
  override name = 'TransportError';
}

export function timeToSeconds(t: RosTime): number {
  return t.sec + t.nanosec * 1e-9;
}

export function secondsToTime(s: number): RosTime {
  const sec = Math.floor(s);
  return { sec, nanosec: Math.min(999_999_999, Math.round((s - sec) * 1e9)) };
}

/** Resolves a topic name against a node the way rcl does: `~/x` is private, relative names get the namespace. */
export function resolveName(name: string, nodeName: string, namespace: string): string {
  const ns = namespace === '/' || namespace === '' ? '' : namespace.replace(/\/$/, '');
  if (name.startsWith('/')) return name;
  if (name.startsWith('~/')) return `${ns}/${nodeName}/${name.slice(2)}`;
  if (name === '~') return `${ns}/${nodeName}`;
  return `${ns}/${name}`;
}
