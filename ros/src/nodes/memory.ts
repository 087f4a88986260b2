/**
 * The memory node: owns the persistent world memory (src/memory, SQLite).
 * In: object sightings (`~/sightings`, CollisionObject messages; ADD/MOVE =
 * seen at that pose, REMOVE = left view) tagged with perception's latest
 * latent, surprise events and shield statuses (both std_msgs/String JSON),
 * logged into the episodic log of `episode_id`. Out: remembered objects as
 * planning-scene updates on `~/collision_object` — ADD (a sphere of
 * `object_radius_m` at the remembered pose) while the decayed confidence is at
 * least `min_confidence`, REMOVE once it falls below — every
 * `publish_period_s` and after every sighting.
 *
 * The message type is jepa_runtime/msg/CollisionObject, whose fields mirror
 * moveit_msgs/msg/CollisionObject; with moveit_msgs installed,
 * `collision_object_type: moveit_msgs/msg/CollisionObject` publishes the same
 * fields under MoveIt's own type.
 */
import { z } from 'zod';
import type { WorldMemory } from '../../../src/memory/world-memory';
import type { ObjectRecord } from '../../../src/memory/records';
import { type Publisher, QOS, type TransportNode, timeToSeconds } from '../transport/types';
import { type Float32MultiArrayMsg, type HeaderMsg, type StringMsg, declareParameters, latentFromMessage, nodeLogger, param, topicName } from './common';

export const COLLISION_OBJECT = { ADD: 0, REMOVE: 1, APPEND: 2, MOVE: 3 } as const;
export const SOLID_PRIMITIVE_SPHERE = 2;

export interface PoseMsg {
  position: { x: number; y: number; z: number };
  orientation: { x: number; y: number; z: number; w: number };
}

export interface CollisionObjectMsg {
  header: HeaderMsg;
  pose: PoseMsg;
  id: string;
  primitives: { type: number; dimensions: number[] | Float64Array }[];
  primitive_poses: PoseMsg[];
  operation: number;
}

export const MEMORY_PARAMS = {
  collision_object_type: param(z.string().regex(/^\w+\/msg\/CollisionObject$/), 'jepa_runtime/msg/CollisionObject', 'message type of ~/collision_object (moveit_msgs/msg/CollisionObject when MoveIt is installed)', true),
  episode_id: param(z.string().min(1), 'default', 'episode the surprise and shield events are logged under', true),
  latent_topic: param(topicName, '/perception/latent', 'latents attached to object sightings'),
  surprise_topic: param(topicName, '/perception/surprise', 'surprise events (std_msgs/String JSON) to log'),
  shield_status_topic: param(topicName, '/shield/status', 'shield statuses (std_msgs/String JSON) to log'),
  publish_period_s: param(z.number().positive().finite(), 1.0, 'period of the remembered-object publication, s'),
  min_confidence: param(z.number().min(0).max(1), 0.2, 'objects below this decayed confidence are removed from the scene'),
  object_radius_m: param(z.number().positive().finite(), 0.05, 'radius of the sphere standing in for a remembered object, m'),
  frame_id: param(z.string().min(1), 'world', 'frame of sightings whose header has none'),
};

const surpriseJson = z.object({
  level: z.enum(['replan', 'slow', 'halt']),
  error: z.number().nullable(),
  zScore: z.number().nullable(),
  tick: z.number().int().min(0),
  reason: z.string(),
});
const statusJson = z.object({
  verdict: z.enum(['pass', 'scale', 'clamp', 'halt']),
  reasons: z.array(z.string()),
  detail: z.string(),
});

export interface MemoryStages {
  memory: WorldMemory;
  log?: (line: string) => void;
  timer?: boolean;
}

export class MemoryNode {
  readonly params: ReturnType<typeof declareParameters<typeof MEMORY_PARAMS>>;
  readonly memory: WorldMemory;
  readonly #node: TransportNode;
  readonly #pub: Publisher<CollisionObjectMsg>;
  readonly #log: (line: string) => void;
  readonly #inScene = new Set<string>();
  #latent: Float32Array | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #warned = new Set<string>();

  constructor(node: TransportNode, stages: MemoryStages) {
    this.#node = node;
    this.memory = stages.memory;
    this.#log = stages.log ?? nodeLogger(node);
    this.params = declareParameters(node, MEMORY_PARAMS);
    const p = this.params;
    this.memory.beginEpisode(p.episode_id, this.#now());
    this.#pub = node.createPublisher(p.collision_object_type, '~/collision_object', QOS.default);
    node.createSubscription<Float32MultiArrayMsg>('std_msgs/msg/Float32MultiArray', p.latent_topic, (m) => (this.#latent = latentFromMessage(m).slice()));
    node.createSubscription<CollisionObjectMsg>(p.collision_object_type, '~/sightings', (m) => this.#onSighting(m));
    node.createSubscription<StringMsg>('std_msgs/msg/String', p.surprise_topic, (m) => this.#onSurprise(m));
    node.createSubscription<StringMsg>('std_msgs/msg/String', p.shield_status_topic, (m) => this.#onShield(m));
    if (stages.timer ?? true) {
      this.#timer = setInterval(() => this.publishScene(), p.publish_period_s * 1000);
      this.#timer.unref?.();
    }
  }

  #now(): number {
    return timeToSeconds(this.#node.now());
  }

  #warnOnce(line: string): void {
    if (this.#warned.has(line)) return;
    this.#warned.add(line);
    this.#log(line);
  }

  #onSighting(m: CollisionObjectMsg): void {
    const now = this.#now();
    try {
      if (m.operation === COLLISION_OBJECT.REMOVE) {
        this.memory.markOutOfView([m.id]);
      } else {
        if (!this.#latent) return this.#warnOnce(`sighting of '${m.id}' ignored: no latent from ${this.params.latent_topic} yet`);
        const o = m.pose.orientation;
        const norm = Math.hypot(o.x, o.y, o.z, o.w);
        this.memory.recordObject(
          {
            id: m.id,
            label: m.id,
            latent: this.#latent,
            pose: {
              position_m: [m.pose.position.x, m.pose.position.y, m.pose.position.z],
              orientation_xyzw: norm > 0 ? [o.x / norm, o.y / norm, o.z / norm, o.w / norm] : [0, 0, 0, 1],
              frameId: m.header.frame_id || this.params.frame_id,
            },
            confidence: 1,
          },
          now,
        );
      }
    } catch (e) {
      this.#warnOnce(`sighting of '${m.id}' refused: ${(e as Error).message}`);
      return;
    }
    this.publishScene();
  }

  #json(m: StringMsg): unknown {
    try {
      return JSON.parse(m.data);
    } catch {
      return undefined;
    }
  }

  #onSurprise(m: StringMsg): void {
    const r = surpriseJson.safeParse(this.#json(m));
    if (!r.success) return this.#warnOnce(`surprise event not understood: ${r.error.issues[0]!.message}`);
    this.memory.logEvent({ episodeId: this.params.episode_id, time_s: this.#now(), kind: 'surprise', payload: r.data });
  }

  #onShield(m: StringMsg): void {
    const r = statusJson.safeParse(this.#json(m));
    if (!r.success) return this.#warnOnce(`shield status not understood: ${r.error.issues[0]!.message}`);
    const s = r.data;
    const status = s.reasons[0] ?? 'OK';
    this.memory.logEvent({ episodeId: this.params.episode_id, time_s: this.#now(), kind: 'shield', payload: { verdict: s.verdict, status, detail: s.detail.slice(0, 4096) } });
  }

  #message(o: ObjectRecord | { id: string }, operation: number): CollisionObjectMsg {
    const rec = 'pose' in o ? o : undefined;
    const pose: PoseMsg = rec
      ? {
          position: { x: rec.pose.position_m[0], y: rec.pose.position_m[1], z: rec.pose.position_m[2] },
          orientation: { x: rec.pose.orientation_xyzw[0], y: rec.pose.orientation_xyzw[1], z: rec.pose.orientation_xyzw[2], w: rec.pose.orientation_xyzw[3] },
        }
      : { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } };
    return {
      header: { stamp: this.#node.now(), frame_id: rec?.pose.frameId ?? this.params.frame_id },
      pose,
      id: o.id,
      primitives: rec ? [{ type: SOLID_PRIMITIVE_SPHERE, dimensions: [this.params.object_radius_m] }] : [],
      primitive_poses: rec ? [{ position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } }] : [],
      operation,
    };
  }

  /** Publishes ADD for every object remembered with enough confidence, REMOVE for those that dropped out. */
  publishScene(): { added: string[]; removed: string[] } {
    const now = this.#now();
    const keep = this.memory.objects(now, { minConfidence: this.params.min_confidence });
    const ids = new Set(keep.map((o) => o.id));
    const removed = [...this.#inScene].filter((id) => !ids.has(id));
    for (const o of keep) {
      this.#pub.publish(this.#message(o, COLLISION_OBJECT.ADD));
      this.#inScene.add(o.id);
    }
    for (const id of removed) {
      this.#pub.publish(this.#message({ id }, COLLISION_OBJECT.REMOVE));
      this.#inScene.delete(id);
    }
    return { added: [...ids], removed };
  }

  destroy(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
