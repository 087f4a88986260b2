/**
 * Offline replay of a rosbag2 MCAP through the node graph on the in-process
 * bus: the bag's camera frames and joint states are published (as their
 * recorded CDR bytes, no re-encoding) to the perception, planner and shield
 * nodes, with /clock following the bag's log times (every node on simulated
 * time, so watchdogs judge ages by the recording's clock). Every
 * `planEvery` frames a PlanToGoal goal is sent — the bag's goal image
 * (/goal/image_raw) when it has one, else its last camera frame — and the
 * planner's trajectory goes to the shield, whose decisions are collected.
 * Every message of the bag is decoded once with the schema stored in the file,
 * so a bag that cannot drive the graph (no camera topic) is still read and
 * checked. The summary counts frames, plans, shield decisions by verdict and
 * reason, and the largest latencies.
 */
import type { WorldModel } from '../../../src/addon/types';
import type { Planner } from '../../../src/planning/types';
import { SurpriseMonitor } from '../../../src/perception/surprise';
import type { Guardrails } from '../../../src/safety/guardrails';
import { BagReader } from './mcap';
import type { MessageRegistry } from '../msgs/registry';
import { InProcessTransport } from '../transport/in-process';
import { QOS, type Publisher, secondsToTime } from '../transport/types';
import { PerceptionNode } from '../nodes/perception';
import { GOAL_KIND, PLAN_TO_GOAL, PlannerNode, type ImageMsg, type PlanToGoalFeedback, type PlanToGoalGoal, type PlanToGoalResult } from '../nodes/planner';
import { ShieldNode, type ShieldStatusReport } from '../nodes/shield';
import { TOPICS } from './topics';

export class ReplayError extends Error {
  override name = 'ReplayError';
}

export interface ReplayOptions {
  bag: string;
  registry: MessageRegistry;
  /** Needed when the bag has a camera topic; a bag without one is only read and decoded. */
  model?: WorldModel;
  planner?: Planner;
  guardrails: Guardrails;
  /** Send a goal after every this many camera frames (0: never plan). */
  planEvery: number;
  /** Planner node parameters (joint_names default to the guardrails joints). */
  plannerParams?: Record<string, unknown>;
  imageTopic?: string;
  jointStatesTopic?: string;
  maxPlanningTime_s?: number;
  maxIterations?: number;
}

export interface ReplaySummary {
  bag: string;
  messages: number;
  messagesByTopic: Record<string, number>;
  imageTopic: string | null;
  jointStatesTopic: string | null;
  frames: number;
  framesEncoded: number;
  jointStates: number;
  plans: { sent: number; succeeded: number; notConverged: number; failed: number };
  shield: { decisions: number; forwarded: number; byVerdict: Record<string, number>; byReason: Record<string, number>; watchdog: Record<string, number> };
  surpriseEvents: number;
  maxLatency_ms: { perception: number; plan: number; goalToShield: number };
  notes: string[];
}

const GOAL_TOPIC = TOPICS.goalImage;

function pickTopic(reader: BagReader, type: string, preferred: string | undefined, avoid: string[] = []): string | null {
  const topics = reader.topics.filter((t) => t.type === type && !avoid.includes(t.topic));
  if (preferred) {
    if (!topics.some((t) => t.topic === preferred)) throw new ReplayError(`the bag has no ${type} topic '${preferred}' (it has: ${topics.map((t) => t.topic).join(', ') || 'none'})`);
    return preferred;
  }
  return topics[0]?.topic ?? null;
}

export async function replayBag(o: ReplayOptions): Promise<ReplaySummary> {
  const reader = await BagReader.open(o.bag);
  const bus = new InProcessTransport(o.registry);
  const notes: string[] = [];
  try {
    const imageTopic = pickTopic(reader, 'sensor_msgs/msg/Image', o.imageTopic, [GOAL_TOPIC]);
    const jointStatesTopic = pickTopic(reader, 'sensor_msgs/msg/JointState', o.jointStatesTopic);
    if (!imageTopic) notes.push('the bag has no sensor_msgs/msg/Image topic: nothing drives perception or the planner; the bag was read and decoded only');
    if (!jointStatesTopic) notes.push('the bag has no sensor_msgs/msg/JointState topic: the shield halts every command (no joint state)');

    // Goal: the recorded goal image, else the last camera frame.
    let goalImage: ImageMsg | undefined;
    const summary: ReplaySummary = {
      bag: o.bag, messages: 0, messagesByTopic: {}, imageTopic, jointStatesTopic, frames: 0, framesEncoded: 0, jointStates: 0,
      plans: { sent: 0, succeeded: 0, notConverged: 0, failed: 0 },
      shield: { decisions: 0, forwarded: 0, byVerdict: {}, byReason: {}, watchdog: {} },
      surpriseEvents: 0, maxLatency_ms: { perception: 0, plan: 0, goalToShield: 0 }, notes,
    };
    for await (const m of reader.messages()) {
      if (m.topic === GOAL_TOPIC) goalImage = m.decode<ImageMsg>();
      else if (m.topic === imageTopic && !reader.topics.some((t) => t.topic === GOAL_TOPIC)) goalImage = m.decode<ImageMsg>();
      else m.decode(); // every message must decode with its stored schema
      summary.messages++;
      summary.messagesByTopic[m.topic] = (summary.messagesByTopic[m.topic] ?? 0) + 1;
    }
    if (!imageTopic) return summary;
    if (!o.model || !o.planner) throw new ReplayError(`${o.bag} has camera frames on ${imageTopic}; replaying them through perception and the planner needs a world model (e.g. --checkpoint)`);
    const model = o.model;

    const sim = { useSimTime: true };
    const surprise = new SurpriseMonitor({ warmup_ticks: 5 });
    const perception = new PerceptionNode(bus.createNode('perception', { ...sim, parameterOverrides: { image_topic: imageTopic, joint_states_topic: jointStatesTopic ?? '/joint_states' } }), {
      model, surprise, log: (l) => notes.push(`perception: ${l}`),
    });
    const planner = new PlannerNode(
      bus.createNode('planner', {
        ...sim,
        parameterOverrides: { joint_names: [...o.guardrails.jointNames], joint_states_topic: jointStatesTopic ?? '/joint_states', latent_timeout_s: 30, ...o.plannerParams },
      }),
      { model, planner: o.planner, log: (l) => notes.push(`planner: ${l}`) },
    );
    const shield = new ShieldNode(
      bus.createNode('shield', { ...sim, parameterOverrides: { camera_topic: imageTopic, joint_states_topic: jointStatesTopic ?? '/joint_states', assume_no_persons: true } }),
      { guardrails: o.guardrails, timer: false, log: (l) => notes.push(`shield: ${l}`) },
    );
    const driver = bus.createNode('bag_player');
    const clock = driver.createPublisher<{ clock: { sec: number; nanosec: number } }>('rosgraph_msgs/msg/Clock', '/clock', QOS.default);
    const pubs = new Map<string, Publisher<unknown>>();
    pubs.set(imageTopic, driver.createPublisher('sensor_msgs/msg/Image', imageTopic, QOS.sensorData));
    if (jointStatesTopic) pubs.set(jointStatesTopic, driver.createPublisher('sensor_msgs/msg/JointState', jointStatesTopic, QOS.sensorData));
    const client = driver.createActionClient<PlanToGoalGoal, PlanToGoalFeedback, PlanToGoalResult>(PLAN_TO_GOAL, '/planner/plan_to_goal');
    let goalSent_ms = 0;
    const statuses: ShieldStatusReport[] = [];
    shield.onStatus((r) => {
      if (r.source === 'tick') return;
      statuses.push(r);
      if (goalSent_ms > 0) summary.maxLatency_ms.goalToShield = Math.max(summary.maxLatency_ms.goalToShield, performance.now() - goalSent_ms);
    });
    const settle = () => new Promise((r) => setImmediate(r));
    const empty = { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' } };
    // Messages are played in groups of equal log time (a frame and the joint state taken with it),
    // so a goal is planned from the state the frame shows.
    let group: { topic: string; cdr: Uint8Array }[] = [];
    let groupTime = -1n;
    const play = async () => {
      if (group.length === 0) return false;
      clock.publish({ clock: secondsToTime(Number(groupTime) / 1e9) });
      await settle(); // nodes see the new time before the messages
      let frame = false;
      for (const g of group) {
        pubs.get(g.topic)!.publishRaw(g.cdr);
        if (g.topic === imageTopic) (summary.frames++, (frame = true));
        else summary.jointStates++;
      }
      group = [];
      await settle();
      shield.tick();
      return frame && o.planEvery > 0 && summary.frames % o.planEvery === 0 && goalImage !== undefined;
    };
    const topics = [imageTopic, ...(jointStatesTopic ? [jointStatesTopic] : [])];
    const messages = reader.messages({ topics });
    for (;;) {
      const next = await messages.next();
      if (!next.done && next.value.logTime_ns === groupTime) {
        group.push({ topic: next.value.topic, cdr: next.value.cdr });
        continue;
      }
      const plan = await play();
      if (!next.done) {
        groupTime = next.value.logTime_ns;
        group.push({ topic: next.value.topic, cdr: next.value.cdr });
      }
      if (plan) await planOnce();
      if (next.done) break;
    }
    async function planOnce(): Promise<void> {
      if (!goalImage) return;
      await perception.idle();
      await settle();
      const before = statuses.length;
      goalSent_ms = performance.now();
      const h = await client.sendGoal({
        goal_kind: GOAL_KIND.image, task_id: '', goal_image: goalImage,
        ee_pose: { ...empty, pose: { position: { x: 0, y: 0, z: 0 }, orientation: { x: 0, y: 0, z: 0, w: 1 } } },
        joint_target: { ...empty, name: [], position: [], velocity: [], effort: [] },
        max_planning_time_s: o.maxPlanningTime_s ?? 0, max_iterations: o.maxIterations ?? 0,
      });
      summary.plans.sent++;
      if (!h.accepted) {
        summary.plans.failed++;
        return;
      }
      const r = await h.result();
      if (r.status !== 'succeeded') summary.plans.failed++;
      else if (r.result.converged) summary.plans.succeeded++;
      else summary.plans.notConverged++;
      if (r.status === 'succeeded') {
        // The trajectory is on its way to the shield: wait for its decision.
        for (let i = 0; i < 100 && statuses.length === before; i++) await settle();
      }
      goalSent_ms = 0;
    }
    await perception.idle();
    summary.framesEncoded = perception.stats.framesEncoded;
    summary.surpriseEvents = perception.stats.surpriseEvents;
    summary.maxLatency_ms.perception = perception.stats.maxLatency_ms;
    summary.maxLatency_ms.plan = planner.stats.maxPlan_ms;
    summary.shield = {
      decisions: shield.stats.commands, forwarded: shield.stats.forwarded,
      byVerdict: { ...shield.stats.byVerdict }, byReason: { ...shield.stats.byReason }, watchdog: { ...shield.stats.watchdog },
    };
    shield.destroy();
    return summary;
  } finally {
    reader.close();
    await bus.shutdown();
  }
}
