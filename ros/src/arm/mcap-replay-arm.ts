/**
 * `McapReplayArm`: a rosbag2 MCAP recording behind the Arm interface, so the
 * control loop can run on recorded data. Observations are the bag's
 * sensor_msgs/JointState (configured joints picked by name) and, when the bag
 * has one, its sensor_msgs/Image camera, as of a replay cursor on the bag's
 * log time. Each `sendAction` records the command beside what the bag
 * recorded on the controller's command topic for the same observation (so a
 * replay can be compared with the recording), returns it as applied — a
 * recording cannot react to commands — and moves the cursor one control
 * period on. `done` turns true once the cursor has passed the bag's last
 * message; reading on after that is an error.
 */
import { z } from 'zod';
import type { AppliedAction, Arm, CameraImage, Observation } from '../../../src/robot/arm';
import { type BagMessage, BagReader } from '../bag/mcap';
import { TOPICS } from '../bag/topics';
import type { JointStateMsg, JointTrajectoryMsg } from '../nodes/common';
import { type JointSample, cameraFromCdr, pickJointState, velocitiesOf } from './joints';

export class McapReplayError extends Error {
  override name = 'McapReplayError';
}

export const McapReplayOptionsSchema = z.object({
  /** An .mcap file or a rosbag2 folder of them. */
  bag: z.string().min(1),
  jointNames: z.array(z.string().min(1)).min(1, 'McapReplayArm needs at least one joint name'),
  /** How far the cursor moves per action, s. */
  controlPeriod_s: z.number().positive().finite(),
  jointStatesTopic: z.string().min(1).default(TOPICS.jointStates),
  /** Camera topic; default: the recorder's camera topic when the bag has it, else no camera. */
  imageTopic: z.string().min(1).optional(),
  /** Where the recorded commands are (trajectory_msgs/JointTrajectory); absent in the bag = nothing to compare. */
  commandTopic: z.string().min(1).default(TOPICS.command),
  cameraName: z.string().min(1).default('camera'),
  name: z.string().min(1).default('mcap'),
});
export type McapReplayOptions = z.input<typeof McapReplayOptionsSchema>;

export interface ReplayedCommand {
  /** Cursor time of the observation the command answered, s (bag log time). */
  time_s: number;
  /** What the runtime sent. */
  action: Float64Array;
  /**
   * Last-point positions of the command the bag recorded for the same observation, in `jointNames`
   * order (NaN for a joint that command does not name); undefined when the bag recorded none.
   */
  recorded?: Float64Array;
}

const JOINT_STATE = 'sensor_msgs/msg/JointState';
const IMAGE = 'sensor_msgs/msg/Image';
const TRAJECTORY = 'trajectory_msgs/msg/JointTrajectory';

export class McapReplayArm implements Arm {
  readonly name: string;
  readonly jointNames: readonly string[];
  readonly actionDim: number;
  /** Every command sent, with the recorded one beside it. */
  readonly commands: ReplayedCommand[] = [];
  #cursor_ns: bigint;
  #next: BagMessage | undefined;
  #joints: { sample: JointSample; velocities: Float64Array; t_s: number } | undefined;
  #imageCdr: Uint8Array | undefined;
  #image: CameraImage | undefined;
  #recorded: Float64Array | undefined;
  #done = false;
  #closed = false;

  private constructor(
    private readonly reader: BagReader,
    private readonly messages: AsyncGenerator<BagMessage>,
    private readonly o: z.output<typeof McapReplayOptionsSchema> & { imageTopic: string | undefined; hasCommands: boolean },
    first: BagMessage,
  ) {
    this.name = o.name;
    this.jointNames = [...o.jointNames];
    this.actionDim = o.jointNames.length;
    this.#cursor_ns = first.logTime_ns;
    this.#next = first;
  }

  static async open(options: McapReplayOptions): Promise<McapReplayArm> {
    const parsed = McapReplayOptionsSchema.safeParse(options);
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw new McapReplayError(`McapReplayArm option ${i.path.join('.') || '(options)'}: ${i.message}`);
    }
    const o = parsed.data;
    const reader = await BagReader.open(o.bag);
    try {
      const typeOf = (topic: string) => reader.topics.find((t) => t.topic === topic)?.type;
      const listing = reader.topics.map((t) => `${t.topic} (${t.type})`).join(', ') || 'none';
      if (typeOf(o.jointStatesTopic) !== JOINT_STATE) {
        throw new McapReplayError(`${o.bag}: no ${JOINT_STATE} on ${o.jointStatesTopic}; the bag's topics: ${listing}`);
      }
      let imageTopic = o.imageTopic;
      if (imageTopic !== undefined && typeOf(imageTopic) !== IMAGE) throw new McapReplayError(`${o.bag}: no ${IMAGE} on ${imageTopic}; the bag's topics: ${listing}`);
      if (imageTopic === undefined && typeOf(TOPICS.image) === IMAGE) imageTopic = TOPICS.image;
      const hasCommands = typeOf(o.commandTopic) === TRAJECTORY;
      const topics = [o.jointStatesTopic, ...(imageTopic ? [imageTopic] : []), ...(hasCommands ? [o.commandTopic] : [])];
      const messages = reader.messages({ topics });
      // The replay starts at the first joint state: nothing before it can make an observation.
      let first: BagMessage | undefined;
      for (;;) {
        const r = await messages.next();
        if (r.done) break;
        if (r.value.topic === o.jointStatesTopic) {
          first = r.value;
          break;
        }
      }
      if (!first) throw new McapReplayError(`${o.bag}: ${o.jointStatesTopic} holds no message`);
      const arm = new McapReplayArm(reader, messages, { ...o, imageTopic, hasCommands }, first);
      await arm.#consume();
      return arm;
    } catch (e) {
      reader.close();
      throw e;
    }
  }

  /** Whether the cursor has passed the bag's last message. */
  get done(): boolean {
    return this.#done;
  }

  /** The cursor: bag log time of the current observation, s (the shield's clock on this backend). */
  now(): number {
    return Number(this.#cursor_ns) / 1e9;
  }

  /** Takes in every message logged up to the cursor; returns how many. */
  async #consume(): Promise<number> {
    let n = 0;
    while (this.#next && this.#next.logTime_ns <= this.#cursor_ns) {
      const m = this.#next;
      n++;
      if (m.topic === this.o.jointStatesTopic) {
        const sample = pickJointState(m.decode<JointStateMsg>(), this.jointNames, `${this.o.bag} ${m.topic}`);
        const t_s = Number(m.logTime_ns) / 1e9;
        const prev = this.#joints && { positions: this.#joints.sample.positions, t_s: this.#joints.t_s };
        this.#joints = { sample, velocities: velocitiesOf(sample, t_s, prev), t_s };
      } else if (m.topic === this.o.imageTopic) {
        this.#imageCdr = m.cdr;
        this.#image = undefined;
      } else if (m.topic === this.o.commandTopic) {
        this.#recorded = this.#lastPoint(m.decode<JointTrajectoryMsg>());
      }
      const r = await this.messages.next();
      this.#next = r.done ? undefined : r.value;
    }
    return n;
  }

  #lastPoint(msg: JointTrajectoryMsg): Float64Array | undefined {
    const last = msg.points.at(-1);
    if (!last) return undefined;
    return Float64Array.from(this.jointNames, (j) => {
      const i = msg.joint_names.indexOf(j);
      return i >= 0 && i < last.positions.length ? last.positions[i]! : Number.NaN;
    });
  }

  #live(what: string): void {
    if (this.#closed) throw new McapReplayError(`McapReplayArm '${this.name}' was closed`);
    if (this.#done) throw new McapReplayError(`${this.o.bag}: the replay reached the end of the bag; no ${what} after it`);
  }

  async getObservation(): Promise<Observation> {
    this.#live('observation');
    const j = this.#joints!;
    const images: Record<string, CameraImage> = {};
    if (this.#imageCdr) images[this.o.cameraName] = this.#image ??= cameraFromCdr(this.#imageCdr);
    return {
      images,
      jointPositions: Float64Array.from(j.sample.positions),
      jointVelocities: Float64Array.from(j.velocities),
      ...(j.sample.efforts ? { jointEfforts: Float64Array.from(j.sample.efforts) } : {}),
      time: this.now(),
    };
  }

  async sendAction(action: Float64Array): Promise<AppliedAction> {
    this.#live('action');
    if (action.length !== this.actionDim) {
      throw new McapReplayError(`McapReplayArm '${this.name}': action has ${action.length} values for ${this.actionDim} joints (${this.jointNames.join(', ')})`);
    }
    const time = this.now();
    const applied = Float64Array.from(action);
    this.commands.push({ time_s: time, action: applied, ...(this.#recorded ? { recorded: this.#recorded } : {}) });
    this.#recorded = undefined;
    this.#cursor_ns += BigInt(Math.round(this.o.controlPeriod_s * 1e9));
    const taken = await this.#consume();
    if (taken === 0 && !this.#next) this.#done = true;
    return { action: Float64Array.from(applied), time };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.messages.return(undefined);
    this.reader.close();
  }
}
