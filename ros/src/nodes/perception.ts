/**
 * The perception node: camera frames (sensor_msgs/Image as raw CDR, read in
 * place; optionally sensor_msgs/CompressedImage in PNG) and joint states in,
 * world-model latents out (~/latent, std_msgs/Float32MultiArray) plus
 * surprise events (~/surprise, std_msgs/String holding JSON).
 *
 * Image encoders (cnn, vit) encode camera frames; an mlp encoder encodes the
 * state vector [joint positions..., joint velocities...] cut to its inputDim,
 * once every `encode_every_n` joint states. While an encode is running, newer
 * frames replace the waiting one (keep-latest): the node never queues stale
 * frames behind a slow encoder.
 *
 * Surprise: after each encode, when the planner has published the action it
 * is about to apply (`action_topic`, Float32MultiArray of the model's action
 * dim), the world model predicts the next latent; the next encoded frame is
 * scored against it by the SurpriseMonitor (src/perception/surprise.ts).
 */
import { z } from 'zod';
import type { WorldModel } from '../../../src/addon/types';
import type { SurpriseEvent, SurpriseMonitor } from '../../../src/perception/surprise';
import { imageToChw } from '../../../src/perception/preprocess';
import type { CameraImage } from '../../../src/robot/arm';
import { decodeCompressedImage, imageViewToCamera, viewCompressedImage, viewImage } from '../msgs/image-view';
import { type Publisher, QOS, type TransportNode, timeToSeconds } from '../transport/types';
import {
  type Float32MultiArrayMsg,
  type JointStateMsg,
  NodeConfigError,
  NodeInputError,
  type StringMsg,
  declareParameters,
  latentFromMessage,
  latentMessage,
  nodeLogger,
  intParam,
  param,
  topicName,
} from './common';

export const PERCEPTION_PARAMS = {
  image_topic: param(topicName, '/camera/image_raw', 'sensor_msgs/msg/Image topic (subscribed best-effort, depth 5, as raw CDR)'),
  compressed_image_topic: param(z.union([topicName, z.literal('')]), '', "sensor_msgs/msg/CompressedImage topic ('' = none); only PNG payloads decode, JPEG is refused"),
  joint_states_topic: param(topicName, '/joint_states', 'sensor_msgs/msg/JointState topic'),
  action_topic: param(topicName, '/planner/action', 'std_msgs/msg/Float32MultiArray: the action the planner applies next (for surprise)'),
  encode_every_n: intParam(z.number().int().min(1), 1, 'encode one frame (or joint state, for mlp encoders) out of every n received'),
};

export interface PerceptionStages {
  model: WorldModel;
  /** Optional: when given, prediction errors are scored and events published. */
  surprise?: SurpriseMonitor;
  log?: (line: string) => void;
}

export interface PerceptionStats {
  framesReceived: number;
  framesEncoded: number;
  framesDropped: number;
  framesRejected: number;
  surpriseEvents: number;
  /** Receipt-to-publish time of the latest and the slowest encoded frame, ms. */
  lastLatency_ms: number;
  maxLatency_ms: number;
  lastError: string | null;
}

interface PendingInput {
  kind: 'image' | 'state';
  build: () => Float32Array;
  received_ms: number;
  time_s: number;
}

export class PerceptionNode {
  readonly params: ReturnType<typeof declareParameters<typeof PERCEPTION_PARAMS>>;
  readonly stats: PerceptionStats = {
    framesReceived: 0, framesEncoded: 0, framesDropped: 0, framesRejected: 0, surpriseEvents: 0, lastLatency_ms: 0, maxLatency_ms: 0, lastError: null,
  };
  readonly #node: TransportNode;
  readonly #model: WorldModel;
  readonly #surprise: SurpriseMonitor | undefined;
  readonly #latentPub: Publisher<Float32MultiArrayMsg>;
  readonly #surprisePub: Publisher<StringMsg>;
  readonly #log: (line: string) => void;
  readonly #imageEncoder: boolean;
  readonly #imageSize: number;
  #busy = false;
  #waiting: PendingInput | undefined;
  #nextAction: Float32Array | undefined;
  #seen = 0;
  #idle: (() => void)[] = [];
  #reportedErrors = new Set<string>();

  constructor(node: TransportNode, stages: PerceptionStages) {
    this.#node = node;
    this.#model = stages.model;
    this.#surprise = stages.surprise;
    this.#log = stages.log ?? nodeLogger(node);
    this.params = declareParameters(node, PERCEPTION_PARAMS);
    const enc = this.#model.config.encoder;
    this.#imageEncoder = enc.kind !== 'mlp';
    this.#imageSize = enc.kind === 'mlp' ? 0 : enc.imageSize;
    if (enc.kind !== 'mlp' && enc.inChannels !== 3) {
      throw new NodeConfigError(`node ${node.name}: the encoder takes ${enc.inChannels} channels; camera frames give 3 (RGB). Use an RGB checkpoint.`);
    }
    this.#latentPub = node.createPublisher('std_msgs/msg/Float32MultiArray', '~/latent', QOS.default);
    this.#surprisePub = node.createPublisher('std_msgs/msg/String', '~/surprise', QOS.default);
    const p = this.params;
    if (this.#imageEncoder) {
      node.createRawSubscription('sensor_msgs/msg/Image', p.image_topic, (cdr) => this.#onFrame(() => imageViewToCamera(viewImage(cdr))), QOS.sensorData);
      if (p.compressed_image_topic) {
        node.createRawSubscription('sensor_msgs/msg/CompressedImage', p.compressed_image_topic, (cdr) => this.#onFrame(() => decodeCompressedImage(viewCompressedImage(cdr))), QOS.sensorData);
      }
    } else {
      node.createSubscription<JointStateMsg>('sensor_msgs/msg/JointState', p.joint_states_topic, (m) => this.#onState(m), QOS.sensorData);
    }
    node.createSubscription<Float32MultiArrayMsg>('std_msgs/msg/Float32MultiArray', p.action_topic, (m) => {
      const a = latentFromMessage(m);
      if (a.length !== this.#model.dims.actionDim) return this.#reportOnce(`action on ${p.action_topic} has ${a.length} values, the model takes ${this.#model.dims.actionDim}; ignored`);
      this.#nextAction = a.slice();
    });
    this.#surprise?.onEvent((e) => this.#publishSurprise(e));
  }

  #reportOnce(line: string): void {
    this.stats.lastError = line;
    if (this.#reportedErrors.has(line)) return;
    this.#reportedErrors.add(line);
    this.#log(line);
  }

  #onFrame(decode: () => CameraImage): void {
    this.stats.framesReceived++;
    if (this.#seen++ % this.params.encode_every_n !== 0) return;
    const size = this.#imageSize;
    this.#submit({
      kind: 'image',
      received_ms: performance.now(),
      time_s: timeToSeconds(this.#node.now()),
      build: () => {
        const buf = new Float32Array(3 * size * size);
        imageToChw(decode(), size, buf, 0, 'camera frame');
        return buf;
      },
    });
  }

  #onState(msg: JointStateMsg): void {
    this.stats.framesReceived++;
    if (this.#seen++ % this.params.encode_every_n !== 0) return;
    const inputDim = this.#model.dims.inputSize;
    this.#submit({
      kind: 'state',
      received_ms: performance.now(),
      time_s: timeToSeconds(this.#node.now()),
      build: () => {
        const v = [...Array.from(msg.position), ...Array.from(msg.velocity)];
        if (v.length < inputDim) throw new NodeInputError(`joint state gives ${v.length} values (positions + velocities), the mlp encoder takes ${inputDim}`);
        return Float32Array.from(v.slice(0, inputDim));
      },
    });
  }

  #submit(input: PendingInput): void {
    if (this.#busy) {
      if (this.#waiting) this.stats.framesDropped++;
      this.#waiting = input;
      return;
    }
    void this.#run(input);
  }

  async #run(input: PendingInput): Promise<void> {
    this.#busy = true;
    try {
      let frame: Float32Array;
      try {
        frame = input.build();
      } catch (e) {
        this.stats.framesRejected++;
        this.#reportOnce(`frame rejected: ${(e as Error).message}`);
        return;
      }
      const latent = await this.#model.encode(frame, 1);
      this.#latentPub.publish(latentMessage(latent));
      const latency = performance.now() - input.received_ms;
      this.stats.framesEncoded++;
      this.stats.lastLatency_ms = latency;
      this.stats.maxLatency_ms = Math.max(this.stats.maxLatency_ms, latency);
      if (this.#surprise) {
        this.#surprise.observe(latent, input.time_s);
        if (this.#nextAction) await this.#predict(latent, this.#nextAction);
      }
    } catch (e) {
      this.#reportOnce(`encode failed: ${(e as Error).message}`);
    } finally {
      this.#busy = false;
      const next = this.#waiting;
      this.#waiting = undefined;
      if (next) void this.#run(next);
      else for (const f of this.#idle.splice(0)) f();
    }
  }

  async #predict(latent: Float32Array, action: Float32Array): Promise<void> {
    const r = await this.#model.rollout({
      z0: latent,
      actions: action,
      horizon: 1,
      goal: latent,
      cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0 },
      returnFinalLatents: true,
    });
    if (r.finalLatents) this.#surprise!.expect(r.finalLatents);
  }

  #publishSurprise(e: SurpriseEvent): void {
    this.stats.surpriseEvents++;
    this.#surprisePub.publish({
      data: JSON.stringify({ level: e.level, error: Number.isFinite(e.error) ? e.error : null, zScore: e.zScore, tick: e.tick, time_s: e.time_s, reason: e.reason }),
    });
  }

  /** Resolves once no frame is being encoded or waiting (for offline replay). */
  idle(): Promise<void> {
    if (!this.#busy && !this.#waiting) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }
}
