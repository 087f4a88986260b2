/**
 * `RosArm`: an arm on a ROS 2 graph behind the runtime's Arm interface, over
 * any Transport (rclnodejs on a live graph, the in-process CDR bus in tests).
 * It subscribes to sensor_msgs/JointState (the configured joints picked by
 * name, whatever order the driver publishes them in) and optionally to a
 * sensor_msgs/Image camera, and sends each action to the
 * JointTrajectoryController as a trajectory_msgs/JointTrajectory of one point
 * (positions = the action, time_from_start = the control period, zero stamp:
 * start now). Topic names default to those of ros/config/jepa_runtime.yaml
 * and the launch files.
 *
 * `getObservation` waits for the first message of each subscribed topic (up
 * to `firstMessageTimeout_s`, then an error naming the topic), then returns
 * the latest; data older than `maxAge_s` (ROS time since it arrived) is an
 * error, never a silent stale observation. The shield sits in front of
 * `sendAction` in the control loop; RosArm only checks the action's shape.
 */
import { z } from 'zod';
import type { AppliedAction, Arm, CameraImage, Observation } from '../../../src/robot/arm';
import { TOPICS } from '../bag/topics';
import { type JointStateMsg, type JointTrajectoryMsg, jointTrajectory, topicName } from '../nodes/common';
import { QOS, type Publisher, type Subscription, type Transport, type TransportNode, timeToSeconds } from '../transport/types';
import { ArmDataError, type JointSample, cameraFromCdr, pickJointState, velocitiesOf } from './joints';

export class RosArmError extends Error {
  override name = 'RosArmError';
}

export const RosArmOptionsSchema = z.object({
  /** Joints the arm reports and commands, in the runtime's order. */
  jointNames: z.array(z.string().min(1)).min(1, 'RosArm needs at least one joint name'),
  /** Control period: the trajectory point's time_from_start, s. */
  controlPeriod_s: z.number().positive().finite(),
  jointStatesTopic: topicName.default(TOPICS.jointStates),
  commandTopic: topicName.default(TOPICS.command),
  /** sensor_msgs/Image topic of the camera; absent = no camera. */
  imageTopic: topicName.optional(),
  /** Key of the camera image in observations. */
  cameraName: z.string().min(1).default('camera'),
  firstMessageTimeout_s: z.number().positive().finite().default(5),
  /** Oldest joint state (and camera frame) an observation may carry, s of ROS time since arrival. */
  maxAge_s: z.number().positive().finite().default(0.5),
  nodeName: z.string().regex(/^[A-Za-z_]\w*$/, 'must be a ROS 2 node name').default('jepa_arm'),
  name: z.string().min(1).default('ros'),
});
export type RosArmOptions = z.input<typeof RosArmOptionsSchema>;

interface Latest<T> {
  value: T;
  received_s: number;
}

export class RosArm implements Arm {
  readonly name: string;
  readonly jointNames: readonly string[];
  readonly actionDim: number;
  readonly #o: z.output<typeof RosArmOptionsSchema>;
  readonly #node: TransportNode;
  readonly #pub: Publisher<JointTrajectoryMsg>;
  readonly #subs: Subscription[] = [];
  #joints: Latest<{ sample: JointSample; velocities: Float64Array; stamp_s: number }> | undefined;
  #jointError: Error | undefined;
  #image: Latest<CameraImage> | undefined;
  #imageError: Error | undefined;
  #arrivals: (() => void)[] = [];
  #closed = false;

  constructor(transport: Transport, options: RosArmOptions) {
    const parsed = RosArmOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new RosArmError(`RosArm option ${i.path.join('.') || '(options)'}: ${i.message}`);
    }
    const o = (this.#o = parsed.data);
    if (new Set(o.jointNames).size !== o.jointNames.length) throw new RosArmError(`RosArm joint names repeat: ${o.jointNames.join(', ')}`);
    this.name = o.name;
    this.jointNames = [...o.jointNames];
    this.actionDim = o.jointNames.length;
    this.#node = transport.createNode(o.nodeName);
    this.#pub = this.#node.createPublisher<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory', o.commandTopic, QOS.default);
    this.#subs.push(
      this.#node.createSubscription<JointStateMsg>('sensor_msgs/msg/JointState', o.jointStatesTopic, (m) => this.#onJointState(m), QOS.sensorData),
    );
    if (o.imageTopic) this.#subs.push(this.#node.createRawSubscription('sensor_msgs/msg/Image', o.imageTopic, (cdr) => this.#onImage(cdr), QOS.sensorData));
  }

  #now(): number {
    return timeToSeconds(this.#node.now());
  }

  /** ROS time of this arm's node, s (the shield's clock on this backend). */
  now(): number {
    return this.#now();
  }

  #arrived(): void {
    for (const f of this.#arrivals.splice(0)) f();
  }

  #onJointState(m: JointStateMsg): void {
    const received_s = this.#now();
    try {
      const sample = pickJointState(m, this.jointNames, this.#o.jointStatesTopic);
      const stamp = timeToSeconds(m.header.stamp);
      const stamp_s = stamp > 0 ? stamp : received_s;
      const prev = this.#joints && { positions: this.#joints.value.sample.positions, t_s: this.#joints.value.stamp_s };
      this.#joints = { value: { sample, velocities: velocitiesOf(sample, stamp_s, prev), stamp_s }, received_s };
      this.#jointError = undefined;
    } catch (e) {
      this.#jointError = e as Error;
    }
    this.#arrived();
  }

  #onImage(cdr: Uint8Array): void {
    const received_s = this.#now();
    try {
      this.#image = { value: cameraFromCdr(cdr), received_s };
      this.#imageError = undefined;
    } catch (e) {
      this.#imageError = new ArmDataError(`${this.#o.imageTopic}: ${(e as Error).message}`);
    }
    this.#arrived();
  }

  /** Resolves once `ready()` holds, or rejects after the first-message timeout naming the topic. */
  async #waitFor(ready: () => boolean, topic: string, type: string): Promise<void> {
    if (ready()) return;
    const timeout_s = this.#o.firstMessageTimeout_s;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#arrivals = this.#arrivals.filter((f) => f !== check);
        reject(new RosArmError(`no ${type} on ${topic} within ${timeout_s} s: is the driver running and publishing there? (RosArm '${this.name}', node ${this.#node.name})`));
      }, timeout_s * 1000);
      const check = () => {
        if (ready()) {
          clearTimeout(timer);
          resolve();
        } else this.#arrivals.push(check);
      };
      this.#arrivals.push(check);
    });
  }

  #live(): void {
    if (this.#closed) throw new RosArmError(`RosArm '${this.name}' was closed`);
  }

  async getObservation(): Promise<Observation> {
    this.#live();
    const o = this.#o;
    await this.#waitFor(() => this.#joints !== undefined || this.#jointError !== undefined, o.jointStatesTopic, 'sensor_msgs/msg/JointState');
    if (o.imageTopic) await this.#waitFor(() => this.#image !== undefined || this.#imageError !== undefined, o.imageTopic, 'sensor_msgs/msg/Image');
    if (this.#jointError) throw this.#jointError;
    if (this.#imageError) throw this.#imageError;
    const now = this.#now();
    const j = this.#joints!;
    const age = now - j.received_s;
    if (age > o.maxAge_s) {
      throw new RosArmError(`the latest sensor_msgs/msg/JointState on ${o.jointStatesTopic} is ${age.toFixed(3)} s old (limit ${o.maxAge_s} s): the driver stopped publishing or the clock jumped`);
    }
    const images: Record<string, CameraImage> = {};
    if (this.#image) {
      const imgAge = now - this.#image.received_s;
      if (imgAge > o.maxAge_s) {
        throw new RosArmError(`the latest sensor_msgs/msg/Image on ${o.imageTopic} is ${imgAge.toFixed(3)} s old (limit ${o.maxAge_s} s): the camera stopped publishing`);
      }
      images[o.cameraName] = this.#image.value;
    }
    const { sample, velocities, stamp_s } = j.value;
    return {
      images,
      jointPositions: Float64Array.from(sample.positions),
      jointVelocities: Float64Array.from(velocities),
      ...(sample.efforts ? { jointEfforts: Float64Array.from(sample.efforts) } : {}),
      time: stamp_s,
    };
  }

  async sendAction(action: Float64Array): Promise<AppliedAction> {
    this.#live();
    if (action.length !== this.actionDim) {
      throw new RosArmError(`RosArm '${this.name}': action has ${action.length} values for ${this.actionDim} joints (${this.jointNames.join(', ')})`);
    }
    for (let i = 0; i < action.length; i++) {
      if (!Number.isFinite(action[i])) throw new RosArmError(`RosArm '${this.name}': action for ${this.jointNames[i]} is ${action[i]}; refusing to send it`);
    }
    const positions = Float64Array.from(action);
    this.#pub.publish(jointTrajectory(this.jointNames, [{ positions, time_from_start_s: this.#o.controlPeriod_s }]));
    return { action: positions, time: this.#now() };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of this.#subs.splice(0)) s.destroy();
    this.#node.destroy();
  }
}
