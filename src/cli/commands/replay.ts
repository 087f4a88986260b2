/**
 * `jepa replay <bag.mcap> [--json]`: replays a rosbag2 MCAP offline through
 * the ROS 2 node graph on the in-process bus — bag camera frames and joint
 * states → perception → planner (PlanToGoal towards the bag's goal image) →
 * shield — on the bag's clock, and prints frames, plans, shield decisions by
 * verdict and reason, and the largest latencies (ros/src/bag/replay.ts).
 * A bag without camera frames is read and decoded only.
 */
import { z } from 'zod';
import { replayBag } from '../../../ros/src/bag/replay';
import { BagReader } from '../../../ros/src/bag/mcap';
import { loadInterfaces } from '../../../ros/src/msgs/package';
import { loadModel } from '../../addon/index';
import type { WorldModel } from '../../addon/types';
import { CemPlanner } from '../../planning/cem';
import { loadGuardrails } from '../../safety/guardrails';
import type { Command } from '../command';
import { DEFAULT_SAFETY_FILE } from './record';

const num = (what: string) => z.coerce.number({ message: `${what} must be a number` });

const schema = z.object({
  checkpoint: z.string().min(1).optional(),
  backend: z.enum(['auto', 'cpu', 'cuda', 'reference']).default('auto'),
  safety: z.string().min(1).default(DEFAULT_SAFETY_FILE),
  interfaces: z.array(z.string().min(1)).default([]),
  'plan-every': num('plan-every').int().min(0).default(10),
  horizon: num('horizon').int().positive().default(8),
  samples: num('samples').int().min(2).default(64),
  iterations: num('iterations').int().positive().default(20),
  'action-mode': z.enum(['absolute', 'delta']).default('delta'),
  'step-duration': num('step-duration').positive().default(0.05),
  'image-topic': z.string().min(1).optional(),
  json: z.boolean().default(false),
  positionals: z.tuple([z.string().min(1, 'a bag file is required')], { message: 'a bag file (.mcap or rosbag2 folder) is required' }),
});

export const replayCommand: Command<typeof schema> = {
  name: 'replay',
  summary: 'Replay a rosbag2 MCAP offline through perception, planner and shield; summarise frames, plans and shield decisions.',
  positionals: [{ name: 'bag', description: 'A .mcap file or a rosbag2 folder of them.' }],
  flags: {
    checkpoint: { type: 'string', description: 'World-model checkpoint folder (needed when the bag has camera frames).' },
    backend: { type: 'string', description: 'Model backend: auto, cpu, cuda, reference.', defaultText: 'auto' },
    safety: { type: 'string', description: 'Safety file of the shield (its joints must be in the bag).', defaultText: 'config/safety/fer.yaml' },
    interfaces: { type: 'string', multiple: true, description: 'Folder of ROS 2 interface packages (<pkg>/msg); default: the sourced ROS 2.' },
    'plan-every': { type: 'string', description: 'Send a planning goal every N camera frames (0: never).', defaultText: '10' },
    horizon: { type: 'string', description: 'Plan length in model steps.', defaultText: '8' },
    samples: { type: 'string', description: 'CEM samples per iteration.', defaultText: '64' },
    iterations: { type: 'string', description: 'Planner iterations per goal.', defaultText: '20' },
    'action-mode': { type: 'string', description: "Model actions are joint 'delta's or 'absolute' targets.", defaultText: 'delta' },
    'step-duration': { type: 'string', description: 'Seconds per model step (trajectory point spacing).', defaultText: '0.05' },
    'image-topic': { type: 'string', description: 'Camera topic to replay (default: the first sensor_msgs/Image topic).' },
    json: { type: 'boolean', description: 'Print one JSON object instead of text.' },
  },
  schema,
  async run(opts, ctx) {
    const bag = opts.positionals[0];
    const registry = loadInterfaces(opts.interfaces);
    const guardrails = loadGuardrails(opts.safety);
    // Load a model only when the bag has frames to drive it with.
    const probe = await BagReader.open(bag);
    const hasFrames = probe.topics.some((t) => t.type === 'sensor_msgs/msg/Image' && t.messageCount > 0);
    probe.close();
    let model: WorldModel | undefined;
    if (hasFrames && opts.checkpoint) model = await loadModel(opts.checkpoint, { backend: opts.backend });
    try {
      const summary = await replayBag({
        bag,
        registry,
        guardrails,
        model,
        planner: model ? new CemPlanner(model, { horizon: opts.horizon, samples: opts.samples, energy: {} }) : undefined,
        planEvery: opts['plan-every'],
        maxIterations: opts.iterations,
        imageTopic: opts['image-topic'],
        plannerParams: { action_mode: opts['action-mode'], step_duration_s: opts['step-duration'] },
      });
      if (opts.json) ctx.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const fmt = (t: Record<string, number>) => Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
        const p = summary.plans;
        const l = summary.maxLatency_ms;
        ctx.stdout.write(
          [
            `${summary.bag}: ${summary.messages} messages on ${Object.keys(summary.messagesByTopic).length} topics, all decoded`,
            `  frames ${summary.frames} (${summary.imageTopic ?? 'no camera topic'}), encoded ${summary.framesEncoded}; joint states ${summary.jointStates}`,
            `  plans ${p.sent}: converged ${p.succeeded}, best-effort ${p.notConverged}, failed ${p.failed}`,
            `  shield decisions ${summary.shield.decisions} (forwarded ${summary.shield.forwarded}): ${fmt(summary.shield.byVerdict)}`,
            `  by reason: ${fmt(summary.shield.byReason)}   watchdog changes: ${fmt(summary.shield.watchdog)}`,
            `  surprise events ${summary.surpriseEvents}`,
            `  max latency: perception ${l.perception.toFixed(1)} ms, plan ${l.plan.toFixed(1)} ms, goal to shield decision ${l.goalToShield.toFixed(1)} ms`,
            ...summary.notes.map((n) => `  note: ${n}`),
          ].join('\n') + '\n',
        );
      }
      return 0;
    } finally {
      model?.dispose();
    }
  },
};
