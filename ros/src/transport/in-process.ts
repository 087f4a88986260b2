/**
 * In-process transport: a ROS 2 graph inside one Node.js process that moves
 * real CDR bytes between nodes, with the same semantics the nodes rely on
 * from DDS — asynchronous delivery, per-subscription queue depth with
 * best-effort drops, transient-local replay to late joiners, type checks per
 * topic — and actions carried over the generated action messages
 * (SendGoal/GetResult/CancelGoal services, feedback and status topics), so
 * every message a node sends is serialised and parsed exactly as on a live
 * ROS 2 graph. Used by the tests and by single-process deployments.
 */
import { randomUUID } from 'node:crypto';
import type { MessageRegistry } from '../msgs/registry';
import {
  type ActionClient,
  type ActionServer,
  type ActionServerHandlers,
  type ClientGoalHandle,
  GOAL_STATUS_CODE,
  type GoalStatus,
  type NodeOptions,
  type ParameterDescriptor,
  type Publisher,
  QOS,
  type QosProfile,
  type RosTime,
  type ServerGoalHandle,
  type Subscription,
  type Transport,
  TransportError,
  type TransportNode,
  resolveName,
  secondsToTime,
} from './types';

interface SubscriberEntry {
  qos: QosProfile;
  deliver: (cdr: Uint8Array) => void;
  queue: Uint8Array[];
  scheduled: boolean;
  alive: boolean;
}

interface TopicEntry {
  type: string;
  subscribers: Set<SubscriberEntry>;
  latched: Uint8Array[];
  latchDepth: number;
}

type ServiceHandler = (request: Uint8Array) => Promise<Uint8Array>;

const CLOCK_TYPE = 'rosgraph_msgs/msg/Clock';
const STATUS_NAMES: Record<number, GoalStatus> = Object.fromEntries(
  Object.entries(GOAL_STATUS_CODE).map(([k, v]) => [v, k as GoalStatus]),
);

function uuidBytes(id: string): number[] {
  const hex = id.replace(/-/g, '');
  return Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

function uuidString(bytes: ArrayLike<number>): string {
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export class InProcessTransport implements Transport {
  readonly kind = 'in-process' as const;
  readonly #topics = new Map<string, TopicEntry>();
  readonly #services = new Map<string, { type: string; handler: ServiceHandler }>();
  readonly #nodes = new Set<InProcessNode>();
  #closed = false;

  constructor(readonly registry: MessageRegistry) {
    if (!registry.has(CLOCK_TYPE)) registry.addText(CLOCK_TYPE, 'builtin_interfaces/Time clock\n', 'rosgraph_msgs/Clock (built in)');
  }

  createNode(name: string, options: NodeOptions = {}): TransportNode {
    if (this.#closed) throw new TransportError('the in-process transport was shut down');
    if (!/^[A-Za-z_]\w*$/.test(name)) throw new TransportError(`'${name}' is not a valid ROS 2 node name`);
    const node = new InProcessNode(this, name, options.namespace ?? '/', options.useSimTime ?? false, options.parameterOverrides ?? {});
    this.#nodes.add(node);
    return node;
  }

  async shutdown(): Promise<void> {
    for (const n of [...this.#nodes]) n.destroy();
    this.#closed = true;
    await new Promise((r) => setImmediate(r));
  }

  /** @internal */
  forgetNode(node: InProcessNode): void {
    this.#nodes.delete(node);
  }

  /** @internal */
  topic(name: string, type: string): TopicEntry {
    let t = this.#topics.get(name);
    if (!t) {
      this.registry.codec(type); // unknown types fail here, at creation, not at first message
      t = { type, subscribers: new Set(), latched: [], latchDepth: 0 };
      this.#topics.set(name, t);
    } else if (t.type !== type) {
      throw new TransportError(`topic ${name} carries ${t.type}; cannot use it as ${type}`);
    }
    return t;
  }

  /** @internal */
  publish(name: string, type: string, cdr: Uint8Array, qos: QosProfile): void {
    const t = this.topic(name, type);
    if (qos.durability === 'transient_local') {
      t.latchDepth = Math.max(t.latchDepth, qos.depth);
      t.latched.push(cdr);
      while (t.latched.length > t.latchDepth) t.latched.shift();
    }
    for (const s of t.subscribers) this.#enqueue(s, cdr);
  }

  #enqueue(s: SubscriberEntry, cdr: Uint8Array): void {
    s.queue.push(cdr);
    // Keep-last semantics: a slow subscriber loses the oldest samples beyond its depth.
    while (s.queue.length > s.qos.depth) s.queue.shift();
    if (!s.scheduled) {
      s.scheduled = true;
      setImmediate(() => {
        s.scheduled = false;
        const batch = s.queue.splice(0);
        for (const msg of batch) if (s.alive) s.deliver(msg);
      });
    }
  }

  /** @internal */
  subscribe(name: string, type: string, qos: QosProfile, deliver: (cdr: Uint8Array) => void): () => void {
    const t = this.topic(name, type);
    const entry: SubscriberEntry = { qos, deliver, queue: [], scheduled: false, alive: true };
    t.subscribers.add(entry);
    if (qos.durability === 'transient_local') for (const m of t.latched) this.#enqueue(entry, m);
    return () => {
      entry.alive = false;
      t.subscribers.delete(entry);
    };
  }

  /** @internal */
  advertiseService(name: string, type: string, handler: ServiceHandler): () => void {
    if (this.#services.has(name)) throw new TransportError(`service ${name} already has a server`);
    this.#services.set(name, { type, handler });
    return () => this.#services.delete(name);
  }

  /** @internal */
  async call(name: string, type: string, request: Uint8Array): Promise<Uint8Array> {
    const s = this.#services.get(name);
    if (!s) throw new TransportError(`service ${name} is not available`);
    if (s.type !== type) throw new TransportError(`service ${name} is ${s.type}, not ${type}`);
    await new Promise((r) => setImmediate(r));
    return s.handler(request.slice());
  }

  /** @internal */
  hasService(name: string): boolean {
    return this.#services.has(name);
  }
}

class InProcessNode implements TransportNode {
  readonly #bus: InProcessTransport;
  readonly #cleanups: (() => void)[] = [];
  readonly #params = new Map<string, { value: unknown; descriptor: ParameterDescriptor<unknown> }>();
  readonly #paramListeners: ((name: string, value: unknown) => void)[] = [];
  #simTime: RosTime | undefined;
  #destroyed = false;

  constructor(
    bus: InProcessTransport,
    readonly name: string,
    readonly namespace: string,
    private readonly useSimTime: boolean,
    private readonly overrides: Readonly<Record<string, unknown>>,
  ) {
    this.#bus = bus;
    if (useSimTime) {
      const codec = bus.registry.codec<{ clock: RosTime }>(CLOCK_TYPE);
      this.#cleanups.push(bus.subscribe('/clock', CLOCK_TYPE, QOS.default, (cdr) => (this.#simTime = codec.decode(cdr).clock)));
    }
  }

  #check(): void {
    if (this.#destroyed) throw new TransportError(`node ${this.name} was destroyed`);
  }

  #resolve(name: string): string {
    return resolveName(name, this.name, this.namespace);
  }

  now(): RosTime {
    if (this.useSimTime) return this.#simTime ?? { sec: 0, nanosec: 0 };
    return secondsToTime(Date.now() / 1000);
  }

  createPublisher<T>(type: string, topic: string, qos: QosProfile = QOS.default): Publisher<T> {
    this.#check();
    const name = this.#resolve(topic);
    const codec = this.#bus.registry.codec<T>(type);
    this.#bus.topic(name, type);
    return {
      topic: name,
      type,
      publish: (message: T) => {
        this.#check();
        this.#bus.publish(name, type, codec.encode(message), qos);
      },
      publishRaw: (cdr: Uint8Array) => {
        this.#check();
        this.#bus.publish(name, type, cdr, qos);
      },
    };
  }

  createSubscription<T>(type: string, topic: string, handler: (message: T) => void, qos: QosProfile = QOS.default): Subscription {
    const codec = this.#bus.registry.codec<T>(type);
    return this.createRawSubscription(type, topic, (cdr) => handler(codec.decode(cdr)), qos);
  }

  createRawSubscription(type: string, topic: string, handler: (cdr: Uint8Array) => void, qos: QosProfile = QOS.default): Subscription {
    this.#check();
    const name = this.#resolve(topic);
    const off = this.#bus.subscribe(name, type, qos, handler);
    this.#cleanups.push(off);
    return { topic: name, destroy: off };
  }

  createActionServer<G, F, R>(type: string, actionName: string, handlers: ActionServerHandlers<G, F, R>): ActionServer {
    this.#check();
    const name = this.#resolve(actionName);
    const reg = this.#bus.registry;
    const sendGoalReq = reg.codec<{ goal_id: { uuid: number[] }; goal: G }>(`${type}_SendGoal_Request`);
    const sendGoalRes = reg.codec<{ accepted: boolean; stamp: RosTime }>(`${type}_SendGoal_Response`);
    const getResultReq = reg.codec<{ goal_id: { uuid: number[] } }>(`${type}_GetResult_Request`);
    const getResultRes = reg.codec<{ status: number; result: R }>(`${type}_GetResult_Response`);
    const cancelReq = reg.codec<{ goal_info: { goal_id: { uuid: number[] } } }>('action_msgs/srv/CancelGoal_Request');
    const cancelRes = reg.codec('action_msgs/srv/CancelGoal_Response');
    const feedback = this.createPublisher<{ goal_id: { uuid: number[] }; feedback: F }>(`${type}_FeedbackMessage`, `${name}/_action/feedback`);
    const status = this.createPublisher<{ status_list: unknown[] }>('action_msgs/msg/GoalStatusArray', `${name}/_action/status`, QOS.latched);

    interface Goal {
      handle: ServerGoalHandle<G, F>;
      abort: AbortController;
      state: GoalStatus;
      cancel: boolean;
      done: Promise<{ status: number; result: R }>;
      stamp: RosTime;
    }
    const goals = new Map<string, Goal>();
    const publishStatus = () =>
      status.publish({
        status_list: [...goals.entries()].map(([id, g]) => ({
          goal_info: { goal_id: { uuid: uuidBytes(id) }, stamp: g.stamp },
          status: GOAL_STATUS_CODE[g.state],
        })),
      });

    const offs = [
      this.#bus.advertiseService(`${name}/_action/send_goal`, `${type}_SendGoal_Request`, async (bytes) => {
        const req = sendGoalReq.decode(bytes);
        const id = uuidString(req.goal_id.uuid);
        const verdict = handlers.onGoal ? handlers.onGoal(req.goal) : true;
        const stamp = this.now();
        if (verdict !== true) return sendGoalRes.encode({ accepted: false, stamp });
        const abort = new AbortController();
        const entry = { state: 'accepted', cancel: false, abort, stamp } as Goal;
        entry.handle = {
          goalId: id,
          goal: req.goal,
          get cancelRequested() {
            return entry.cancel;
          },
          signal: abort.signal,
          publishFeedback: (fb: F) => feedback.publish({ goal_id: { uuid: uuidBytes(id) }, feedback: fb }),
        };
        goals.set(id, entry);
        publishStatus();
        entry.done = (async () => {
          await new Promise((r) => setImmediate(r));
          entry.state = 'executing';
          publishStatus();
          const outcome = await handlers.execute(entry.handle).catch((e: unknown) => {
            throw new TransportError(`action ${name} goal ${id} failed: ${(e as Error).message}`);
          });
          entry.state = outcome.status;
          publishStatus();
          return { status: GOAL_STATUS_CODE[outcome.status], result: outcome.result };
        })();
        return sendGoalRes.encode({ accepted: true, stamp });
      }),
      this.#bus.advertiseService(`${name}/_action/get_result`, `${type}_GetResult_Request`, async (bytes) => {
        const id = uuidString(getResultReq.decode(bytes).goal_id.uuid);
        const g = goals.get(id);
        if (!g) throw new TransportError(`action ${name}: unknown goal ${id}`);
        return getResultRes.encode(await g.done);
      }),
      this.#bus.advertiseService(`${name}/_action/cancel_goal`, 'action_msgs/srv/CancelGoal_Request', async (bytes) => {
        const id = uuidString(cancelReq.decode(bytes).goal_info.goal_id.uuid);
        const g = goals.get(id);
        const ok = !!g && (g.state === 'accepted' || g.state === 'executing') && (handlers.onCancel ? handlers.onCancel(g.handle) : true);
        if (ok && g) {
          g.cancel = true;
          g.state = 'canceling';
          g.abort.abort();
          publishStatus();
        }
        return cancelRes.encode({
          return_code: ok ? 0 : g ? 1 : 2,
          goals_canceling: ok ? [{ goal_id: { uuid: uuidBytes(id) }, stamp: this.now() }] : [],
        });
      }),
    ];
    this.#cleanups.push(...offs);
    return { name, destroy: () => offs.forEach((f) => f()) };
  }

  createActionClient<G, F, R>(type: string, actionName: string): ActionClient<G, F, R> {
    this.#check();
    const name = this.#resolve(actionName);
    const reg = this.#bus.registry;
    const sendGoalReq = reg.codec(`${type}_SendGoal_Request`);
    const sendGoalRes = reg.codec<{ accepted: boolean }>(`${type}_SendGoal_Response`);
    const getResultReq = reg.codec(`${type}_GetResult_Request`);
    const getResultRes = reg.codec<{ status: number; result: R }>(`${type}_GetResult_Response`);
    const cancelReq = reg.codec('action_msgs/srv/CancelGoal_Request');
    const cancelRes = reg.codec<{ return_code: number }>('action_msgs/srv/CancelGoal_Response');
    const feedbackListeners = new Map<string, (f: F) => void>();
    const sub = this.createSubscription<{ goal_id: { uuid: Uint8Array | number[] }; feedback: F }>(
      `${type}_FeedbackMessage`,
      `${name}/_action/feedback`,
      (m) => feedbackListeners.get(uuidString(m.goal_id.uuid))?.(m.feedback),
    );
    const bus = this.#bus;
    return {
      name,
      async waitForServer(timeout_ms: number) {
        const until = Date.now() + timeout_ms;
        while (!bus.hasService(`${name}/_action/send_goal`)) {
          if (Date.now() >= until) return false;
          await new Promise((r) => setTimeout(r, 5));
        }
        return true;
      },
      async sendGoal(goal: G, onFeedback?: (f: F) => void): Promise<ClientGoalHandle<R>> {
        const id = randomUUID();
        if (onFeedback) feedbackListeners.set(id, onFeedback);
        const res = sendGoalRes.decode(
          await bus.call(`${name}/_action/send_goal`, `${type}_SendGoal_Request`, sendGoalReq.encode({ goal_id: { uuid: uuidBytes(id) }, goal })),
        );
        return {
          goalId: id,
          accepted: res.accepted,
          async result() {
            if (!res.accepted) throw new TransportError(`action ${name}: goal ${id} was rejected`);
            const r = getResultRes.decode(
              await bus.call(`${name}/_action/get_result`, `${type}_GetResult_Request`, getResultReq.encode({ goal_id: { uuid: uuidBytes(id) } })),
            );
            // Feedback published before the result may still be queued for delivery: forget the listener after it.
            setImmediate(() => feedbackListeners.delete(id));
            return { status: STATUS_NAMES[r.status] ?? 'aborted', result: r.result };
          },
          async cancel() {
            const r = cancelRes.decode(
              await bus.call(
                `${name}/_action/cancel_goal`,
                'action_msgs/srv/CancelGoal_Request',
                cancelReq.encode({ goal_info: { goal_id: { uuid: uuidBytes(id) }, stamp: { sec: 0, nanosec: 0 } } }),
              ),
            );
            return r.return_code === 0;
          },
        };
      },
      destroy: () => sub.destroy(),
    };
  }

  declareParameter<T>(name: string, defaultValue: T, descriptor: ParameterDescriptor<T>): T {
    this.#check();
    if (this.#params.has(name)) throw new TransportError(`parameter ${name} of node ${this.name} is already declared`);
    if (!descriptor.description) throw new TransportError(`parameter ${name} needs a description`);
    // An override replaces the default, as a launch file's value does, and passes the same validator.
    const value = descriptor.validate(Object.hasOwn(this.overrides, name) ? this.overrides[name] : defaultValue);
    this.#params.set(name, { value, descriptor: descriptor as ParameterDescriptor<unknown> });
    return value;
  }

  getParameter<T>(name: string): T {
    const p = this.#params.get(name);
    if (!p) throw new TransportError(`parameter ${name} of node ${this.name} is not declared`);
    return p.value as T;
  }

  setParameter(name: string, value: unknown): void {
    const p = this.#params.get(name);
    if (!p) throw new TransportError(`parameter ${name} of node ${this.name} is not declared`);
    if (p.descriptor.readOnly) throw new TransportError(`parameter ${name} of node ${this.name} is read-only`);
    p.value = p.descriptor.validate(value);
    for (const l of this.#paramListeners) l(name, p.value);
  }

  onParameterChange(listener: (name: string, value: unknown) => void): void {
    this.#paramListeners.push(listener);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    for (const f of this.#cleanups.splice(0)) f();
    this.#bus.forgetNode(this);
  }
}
