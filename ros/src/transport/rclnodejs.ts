/**
 * The live ROS 2 transport, on rclnodejs. Loaded lazily: nothing here runs
 * (or is even required) until a user asks for `--robot ros`, so the rest of
 * the runtime installs and runs on machines without ROS 2. When ROS 2 is not
 * sourced or rclnodejs is not built, one error says what to source and run.
 *
 * Maps the transport interface onto rclnodejs: QoS profiles, raw (CDR
 * Buffer) subscriptions via `isRaw`, actions through rclnodejs.ActionServer /
 * ActionClient, parameters declared with descriptors and validated on every
 * set through an on-set-parameters callback, `use_sim_time` honoured by the
 * node clock. Not exercised in CI (no ROS 2 there); the in-process transport
 * carries the same node code through the tests.
 */
import { createRequire } from 'node:module';
import {
  type ActionClient,
  type ActionServer,
  type ActionServerHandlers,
  type ClientGoalHandle,
  type GoalStatus,
  type NodeOptions,
  type ParameterDescriptor,
  type Publisher,
  type RosParameterType,
  QOS,
  type QosProfile,
  type RosTime,
  type ServerGoalHandle,
  type Subscription,
  type Transport,
  TransportError,
  type TransportNode,
} from './types';

/** The slice of rclnodejs this adapter uses (its own typings need ROS-generated interfaces). */
interface RclParameter {
  name: string;
  type: number;
  value: unknown;
}
interface RclNode {
  name(): string;
  namespace(): string;
  now(): { secondsAndNanoseconds: { seconds: number; nanoseconds: number } };
  createPublisher(type: string, topic: string, options?: object): { topic: string; publish(m: unknown): void };
  createSubscription(type: string, topic: string, options: object, cb: (m: unknown) => void): object;
  destroySubscription(s: object): void;
  declareParameter(p: RclParameter, d?: object): RclParameter;
  getParameter(name: string): RclParameter;
  setParameter(p: RclParameter): { successful: boolean; reason: string };
  hasParameter?(name: string): boolean;
  addOnSetParametersCallback(cb: (ps: RclParameter[]) => { successful: boolean; reason: string }): void;
  destroy(): void;
}
interface RclServerGoalHandle {
  request: unknown;
  goalId: { uuid: ArrayLike<number> };
  isCancelRequested: boolean;
  publishFeedback(f: unknown): void;
  succeed(): void;
  abort(): void;
  canceled(): void;
}
interface RclClientGoalHandle {
  goalId: { uuid: ArrayLike<number> };
  accepted: boolean;
  status: number;
  getResult(): Promise<unknown>;
  cancelGoal(): Promise<{ return_code: number }>;
}
interface Rclnodejs {
  init(): Promise<void>;
  shutdown(): void;
  isShutdown(): boolean;
  spin(node: RclNode): void;
  Node: new (name: string, namespace?: string) => RclNode;
  Parameter: new (name: string, type: number, value?: unknown) => RclParameter;
  ParameterDescriptor: new (name: string, type: number, description?: string, readOnly?: boolean) => object;
  ParameterType: Record<string, number>;
  QoS: (new (history?: number, depth?: number, reliability?: number, durability?: number) => object) & {
    HistoryPolicy: Record<string, number>;
    ReliabilityPolicy: Record<string, number>;
    DurabilityPolicy: Record<string, number>;
  };
  ActionServer: new (
    node: RclNode,
    type: string,
    name: string,
    execute: (h: RclServerGoalHandle) => Promise<unknown>,
    goal?: (h: RclServerGoalHandle) => number,
    accepted?: undefined,
    cancel?: (h?: RclServerGoalHandle) => number,
  ) => { destroy(): void };
  ActionClient: new (node: RclNode, type: string, name: string) => {
    waitForServer(timeout?: number): Promise<boolean>;
    sendGoal(goal: unknown, fb?: (f: unknown) => void): Promise<RclClientGoalHandle>;
    destroy(): void;
  };
  GoalResponse: { ACCEPT: number; REJECT: number };
  CancelResponse: { ACCEPT: number; REJECT: number };
}

export class RosUnavailableError extends Error {
  override name = 'RosUnavailableError';
}

/** Loads rclnodejs, or explains exactly what is missing. */
export function loadRclnodejs(env: NodeJS.ProcessEnv = process.env): Rclnodejs {
  const hint =
    'Source a ROS 2 installation first (e.g. `source /opt/ros/jazzy/setup.bash` or `/opt/ros/humble/setup.bash`), ' +
    'then install and build the client library in this package: `npm install rclnodejs && npm rebuild rclnodejs`.';
  if (!env.ROS_DISTRO || !env.AMENT_PREFIX_PATH) {
    throw new RosUnavailableError(`ROS 2 is not sourced (ROS_DISTRO/AMENT_PREFIX_PATH are unset). ${hint}`);
  }
  const require = createRequire(import.meta.url);
  try {
    return require('rclnodejs') as Rclnodejs;
  } catch (e) {
    throw new RosUnavailableError(`ROS 2 ${env.ROS_DISTRO} is sourced but rclnodejs cannot be loaded (${(e as Error).message.split("\n")[0]}). ${hint}`);
  }
}

function uuidString(bytes: ArrayLike<number>): string {
  const hex = Array.from(bytes, (b) => Number(b).toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const STATUS: Record<number, GoalStatus> = { 1: 'accepted', 2: 'executing', 3: 'canceling', 4: 'succeeded', 5: 'canceled', 6: 'aborted' };

export class RclnodejsTransport implements Transport {
  readonly kind = 'rclnodejs' as const;
  readonly #nodes = new Set<RclNode>();

  private constructor(private readonly rcl: Rclnodejs) {}

  static async create(): Promise<RclnodejsTransport> {
    const rcl = loadRclnodejs();
    await rcl.init();
    return new RclnodejsTransport(rcl);
  }

  #qos(q: QosProfile): object {
    const { QoS } = this.rcl;
    return new QoS(
      QoS.HistoryPolicy.RMW_QOS_POLICY_HISTORY_KEEP_LAST,
      q.depth,
      q.reliability === 'reliable' ? QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_RELIABLE : QoS.ReliabilityPolicy.RMW_QOS_POLICY_RELIABILITY_BEST_EFFORT,
      q.durability === 'transient_local' ? QoS.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_TRANSIENT_LOCAL : QoS.DurabilityPolicy.RMW_QOS_POLICY_DURABILITY_VOLATILE,
    );
  }

  #rosType(t: RosParameterType): number {
    const T = this.rcl.ParameterType;
    const key = `PARAMETER_${t.toUpperCase()}`;
    const v = T[key];
    if (v === undefined) throw new TransportError(`rclnodejs has no parameter type ${key}`);
    return v;
  }

  #paramType(value: unknown): number {
    const T = this.rcl.ParameterType;
    if (typeof value === 'boolean') return T.PARAMETER_BOOL!;
    if (typeof value === 'number') return Number.isInteger(value) ? T.PARAMETER_INTEGER! : T.PARAMETER_DOUBLE!;
    if (typeof value === 'string') return T.PARAMETER_STRING!;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return T.PARAMETER_STRING_ARRAY!;
    if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return T.PARAMETER_DOUBLE_ARRAY!;
    if (Array.isArray(value) && value.every((v) => typeof v === 'boolean')) return T.PARAMETER_BOOL_ARRAY!;
    throw new TransportError(`a ROS 2 parameter cannot hold ${JSON.stringify(value)}`);
  }

  createNode(name: string, options: NodeOptions = {}): TransportNode {
    const overrides = options.parameterOverrides ?? {};
    const rcl = this.rcl;
    const node = new rcl.Node(name, options.namespace ?? '');
    this.#nodes.add(node);
    if (options.useSimTime) {
      node.setParameter(new rcl.Parameter('use_sim_time', rcl.ParameterType.PARAMETER_BOOL!, true));
    }
    const validators = new Map<string, ParameterDescriptor<unknown>>();
    const listeners: ((n: string, v: unknown) => void)[] = [];
    node.addOnSetParametersCallback((params) => {
      for (const p of params) {
        const d = validators.get(p.name);
        if (!d) continue;
        if (d.readOnly) return { successful: false, reason: `${p.name} is read-only` };
        try {
          d.validate(p.value);
        } catch (e) {
          return { successful: false, reason: `${p.name}: ${(e as Error).message}` };
        }
      }
      queueMicrotask(() => params.forEach((p) => validators.has(p.name) && listeners.forEach((l) => l(p.name, p.value))));
      return { successful: true, reason: '' };
    });
    const subs: object[] = [];
    const transport = this;
    const tnode: TransportNode = {
      name,
      namespace: options.namespace ?? '/',
      now(): RosTime {
        const t = node.now().secondsAndNanoseconds;
        return { sec: t.seconds, nanosec: t.nanoseconds };
      },
      createPublisher<T>(type: string, topic: string, qos: QosProfile = QOS.default): Publisher<T> {
        const pub = node.createPublisher(type, topic, { qos: transport.#qos(qos), enableTypedArray: true });
        return {
          topic: pub.topic,
          type,
          publish: (m: T) => pub.publish(m),
          publishRaw: (cdr: Uint8Array) => pub.publish(Buffer.from(cdr.buffer, cdr.byteOffset, cdr.byteLength)),
        };
      },
      createSubscription<T>(type: string, topic: string, handler: (m: T) => void, qos: QosProfile = QOS.default): Subscription {
        const s = node.createSubscription(type, topic, { qos: transport.#qos(qos), enableTypedArray: true }, (m) => handler(m as T));
        subs.push(s);
        return { topic, destroy: () => node.destroySubscription(s) };
      },
      createRawSubscription(type: string, topic: string, handler: (cdr: Uint8Array) => void, qos: QosProfile = QOS.default): Subscription {
        const s = node.createSubscription(type, topic, { qos: transport.#qos(qos), isRaw: true }, (m) => handler(m as Uint8Array));
        subs.push(s);
        return { topic, destroy: () => node.destroySubscription(s) };
      },
      createActionServer<G, F, R>(type: string, actionName: string, handlers: ActionServerHandlers<G, F, R>): ActionServer {
        const aborts = new Map<string, AbortController>();
        const server = new rcl.ActionServer(
          node,
          type,
          actionName,
          async (gh) => {
            const id = uuidString(gh.goalId.uuid);
            const abort = aborts.get(id) ?? new AbortController();
            aborts.set(id, abort);
            const handle: ServerGoalHandle<G, F> = {
              goalId: id,
              goal: gh.request as G,
              get cancelRequested() {
                return gh.isCancelRequested;
              },
              signal: abort.signal,
              publishFeedback: (f) => gh.publishFeedback(f),
            };
            try {
              const outcome = await handlers.execute(handle);
              if (outcome.status === 'succeeded') gh.succeed();
              else if (outcome.status === 'canceled') gh.canceled();
              else gh.abort();
              return outcome.result;
            } finally {
              aborts.delete(id);
            }
          },
          (gh) => {
            const verdict = handlers.onGoal ? handlers.onGoal(gh.request as G) : true;
            return verdict === true ? rcl.GoalResponse.ACCEPT : rcl.GoalResponse.REJECT;
          },
          undefined,
          (gh) => {
            if (!gh) return rcl.CancelResponse.REJECT;
            const id = uuidString(gh.goalId.uuid);
            const ok = handlers.onCancel
              ? handlers.onCancel({ goalId: id, goal: gh.request as G, cancelRequested: true, signal: new AbortController().signal, publishFeedback: (f) => gh.publishFeedback(f) })
              : true;
            if (ok) aborts.get(id)?.abort();
            return ok ? rcl.CancelResponse.ACCEPT : rcl.CancelResponse.REJECT;
          },
        );
        return { name: actionName, destroy: () => server.destroy() };
      },
      createActionClient<G, F, R>(type: string, actionName: string): ActionClient<G, F, R> {
        const client = new rcl.ActionClient(node, type, actionName);
        return {
          name: actionName,
          waitForServer: (timeout_ms) => client.waitForServer(timeout_ms),
          async sendGoal(goal: G, onFeedback?: (f: F) => void): Promise<ClientGoalHandle<R>> {
            const gh = await client.sendGoal(goal, onFeedback ? (f) => onFeedback(f as F) : undefined);
            return {
              goalId: uuidString(gh.goalId.uuid),
              accepted: gh.accepted,
              async result() {
                const result = (await gh.getResult()) as R;
                return { status: STATUS[gh.status] ?? 'aborted', result };
              },
              async cancel() {
                return (await gh.cancelGoal()).return_code === 0;
              },
            };
          },
          destroy: () => client.destroy(),
        };
      },
      declareParameter<T>(pname: string, defaultValue: T, descriptor: ParameterDescriptor<T>): T {
        // A programmatic override becomes the default; a launch-file value still takes precedence over both.
        const initial = (Object.hasOwn(overrides, pname) ? overrides[pname] : defaultValue) as T;
        const type = descriptor.rosType ? transport.#rosType(descriptor.rosType) : transport.#paramType(initial);
        const declared = node.declareParameter(
          new rcl.Parameter(pname, type, initial),
          new rcl.ParameterDescriptor(pname, type, descriptor.description, descriptor.readOnly ?? false),
        );
        validators.set(pname, descriptor as ParameterDescriptor<unknown>);
        // A launch-file override arrives through declareParameter; it must pass the same validation.
        return descriptor.validate(declared.value);
      },
      getParameter<T>(pname: string): T {
        return node.getParameter(pname).value as T;
      },
      setParameter(pname: string, value: unknown): void {
        const r = node.setParameter(new rcl.Parameter(pname, transport.#paramType(value), value));
        if (!r.successful) throw new TransportError(`cannot set ${pname} on ${name}: ${r.reason}`);
      },
      onParameterChange(listener) {
        listeners.push(listener);
      },
      destroy() {
        for (const s of subs.splice(0)) node.destroySubscription(s);
        node.destroy();
        transport.#nodes.delete(node);
      },
    };
    rcl.spin(node);
    return tnode;
  }

  async shutdown(): Promise<void> {
    for (const n of this.#nodes) n.destroy();
    this.#nodes.clear();
    if (!this.rcl.isShutdown()) this.rcl.shutdown();
  }
}
