/**
 * `jepa record --task T --out bag.mcap [--steps N]`: records an episode of
 * the embedded simulator into a rosbag2 MCAP file — camera frames
 * (sensor_msgs/Image), joint states, the goal image, and the shield's
 * commands (trajectory_msgs/JointTrajectory) with its decisions — through
 * ros/src/bag/record.ts. Message definitions come from a sourced ROS 2
 * (AMENT_PREFIX_PATH) or --interfaces folders.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { recordEpisode } from '../../../ros/src/bag/record';
import { loadInterfaces } from '../../../ros/src/msgs/package';
import { loadGuardrails } from '../../safety/guardrails';
import type { Command } from '../command';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEFAULT_SAFETY_FILE = resolve(REPO_ROOT, 'config', 'safety', 'fer.yaml');

const count = (what: string, min: number) =>
  z.coerce.number({ message: `${what} must be a number` }).int(`${what} must be a whole number`).min(min, `${what} must be at least ${min}`);

const schema = z.object({
  task: z.string({ message: 'a task is required (--task reach)' }).min(1),
  out: z.string({ message: 'an output file is required (--out episode.mcap)' }).regex(/\.mcap$/, 'must end in .mcap'),
  steps: count('steps', 1).default(100),
  seed: count('seed', 0).default(0),
  'image-size': count('image-size', 8).default(64),
  camera: z.string().min(1).optional(),
  safety: z.string().min(1).default(DEFAULT_SAFETY_FILE),
  'joint-prefix': z.string().default('fer_'),
  interfaces: z.array(z.string().min(1)).default([]),
  json: z.boolean().default(false),
  positionals: z.tuple([]),
});

export const recordCommand: Command<typeof schema> = {
  name: 'record',
  summary: 'Record an embedded-simulator episode (camera, joint states, shield commands) into a rosbag2 MCAP file.',
  flags: {
    task: { type: 'string', description: 'Simulated arm task: reach or pick-place.' },
    out: { type: 'string', description: 'Output bag file (.mcap); written atomically.' },
    steps: { type: 'string', description: 'Control steps to record (the episode may end sooner).', defaultText: '100' },
    seed: { type: 'string', description: 'Episode seed.', defaultText: '0' },
    'image-size': { type: 'string', description: 'Camera image side, pixels.', defaultText: '64' },
    camera: { type: 'string', description: "Scene camera to record (default: the task's first)." },
    safety: { type: 'string', description: 'Safety file of the shield.', defaultText: 'config/safety/fer.yaml' },
    'joint-prefix': { type: 'string', description: 'Prefix that turns simulator joint names into the safety file names.', defaultText: 'fer_' },
    interfaces: { type: 'string', multiple: true, description: 'Folder of ROS 2 interface packages (<pkg>/msg); default: the sourced ROS 2.' },
    json: { type: 'boolean', description: 'Print one JSON object instead of text.' },
  },
  schema,
  async run(opts, ctx) {
    const registry = loadInterfaces(opts.interfaces);
    const guardrails = loadGuardrails(opts.safety);
    const summary = await recordEpisode({
      task: opts.task,
      out: resolve(opts.out),
      steps: opts.steps,
      seed: opts.seed,
      imageSize: opts['image-size'],
      camera: opts.camera,
      guardrails,
      jointPrefix: opts['joint-prefix'],
      registry,
      onStep: (step, verdict) => {
        if ((step + 1) % 25 === 0) ctx.log(`step ${step + 1}: shield ${verdict}`);
      },
    });
    if (opts.json) ctx.stdout.write(JSON.stringify(summary) + '\n');
    else {
      const reasons = Object.entries(summary.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
      ctx.stdout.write(
        [
          `recorded ${summary.steps} steps of ${summary.task} (seed ${summary.seed}, ${summary.simulated_s.toFixed(2)} s simulated) into ${summary.out}`,
          `  camera frames ${summary.images}   joint states ${summary.jointStates}   shield commands ${summary.commands}`,
          `  shield verdicts ${Object.entries(summary.byVerdict).map(([k, v]) => `${k} ${v}`).join(', ')}   reasons ${reasons}`,
          `  task ${summary.success ? 'succeeded' : 'not completed'}`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  },
};
