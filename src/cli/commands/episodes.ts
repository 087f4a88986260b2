/**
 * `jepa run`, `jepa eval` and `jepa demo`: episodes of the embedded tasks
 * through the full loop, with a live progress line and a summary table (or
 * JSON). They share flags and model resolution: `--model DIR` loads a
 * checkpoint; without it, the task's shipped model (models/<task>/), else a
 * linear state-space model fitted from random exploration on training seeds
 * (see src/runtime/embedded.ts). `jepa run --robot ros|mcap` runs on a ROS 2
 * or replayed arm instead (./run-backends.ts).
 */
import { z } from 'zod';
import type { WorldModel } from '../../addon/types';
import { loadModel } from '../../addon/index';
import { readCheckpointConfig } from '../../model/checkpoint';
import { shippedHighModel, shippedModel, shippedMonitorModel, shippedStateModel } from '../../model/registry';
import { STATE_MODEL_TASKS, assertStateModelTask, fitStateModel, modelFromCheckpoint, type Hierarchy } from '../../runtime/embedded';
import { cpus } from 'node:os';
import { type EvalProgress, type TaskSummary, evaluateTask, recordEpisode, summaryTable } from '../../runtime/evaluate';
import { type EpisodeFrames, renderReport, writeReport } from '../../runtime/report';
import { EVAL_SEEDS } from '../../sim/tasks/seeds';
import { TaskName } from '../../sim/tasks/types';
import { WorldMemory } from '../../memory/world-memory';
import { CliUsageError, type Command, type CommandContext, type FlagSpec } from '../command';
import { GoalJoints, runOnBackend } from './run-backends';

const int = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name} must be >= ${min}`).max(max, `${name} must be <= ${max}`));

const sharedFlags: Record<string, FlagSpec> = {
  model: { type: 'string', description: "Checkpoint folder (config.json + model.safetensors); default: the task's shipped model in models/<task>/, else a state-space model fitted now." },
  backend: { type: 'string', description: "Model backend: auto | cpu | reference.", defaultText: 'auto' },
  samples: { type: 'string', description: 'Planner samples per iteration (N).', defaultText: '256' },
  horizon: { type: 'string', description: 'Planning horizon (H steps).', defaultText: '8' },
  iterations: { type: 'string', description: 'Most planner iterations per tick.', defaultText: '8' },
  'plan-ms': { type: 'string', description: 'Planning time budget per tick, ms.', defaultText: '40' },
  'monitor-model': { type: 'string', description: "Checkpoint the surprise monitor runs instead of the planner's model; default with the shipped model: the task's shipped monitor model (models/<task>-monitor/) where one ships." },
  json: { type: 'boolean', description: 'Print machine-readable JSON instead of the table.' },
};

const sharedSchema = {
  model: z.string().min(1).optional(),
  'monitor-model': z.string().min(1).optional(),
  backend: z.enum(['auto', 'cpu', 'reference']).default('auto'),
  samples: int('--samples', 2, 65536).default(256),
  horizon: int('--horizon', 1, 128).default(8),
  iterations: int('--iterations', 1, 1000).default(8),
  'plan-ms': int('--plan-ms', 1, 60000).default(40),
  json: z.boolean().default(false),
};

/**
 * The model a command runs: the one named, else the shipped one (on an arm that reports joints
 * only, `input: 'state'`, the task's shipped state-vector model where its main model reads
 * pixels), else a linear state-space model fitted on the spot.
 */
async function resolveModel(task: TaskName, dir: string | undefined, backend: 'auto' | 'cpu' | 'reference', ctx: CommandContext, input: 'any' | 'state' = 'any'): Promise<WorldModel> {
  if (dir) return loadModel(dir, { backend });
  const shipped = (input === 'state' ? shippedStateModel(task) : undefined) ?? shippedModel(task);
  if (shipped) {
    ctx.log(`${task}: shipped model ${shipped}`);
    return loadModel(shipped, { backend });
  }
  assertStateModelTask(task);
  ctx.log(`${task}: fitting a linear state-space model from 3000 random-exploration transitions on training seeds…`);
  const t0 = performance.now();
  const model = await modelFromCheckpoint(await fitStateModel(task), backend);
  ctx.log(`${task}: model ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (backend ${model.backend})`);
  return model;
}

function progressPrinter(ctx: CommandContext, label: string): (p: EvalProgress) => void {
  let lastEpisode = -1;
  return (p) => {
    if (ctx.interactive) {
      const t = p.lastTick;
      const line = `${label}: episode ${Math.min(p.episode + 1, p.episodes)}/${p.episodes}  step ${p.step}  successes ${p.successes}` +
        (t ? `  tick ${t.latency_ms.toFixed(0)} ms  iters ${t.iterations}  energy ${t.energy.toExponential(2)}  ${t.verdict}${t.subgoal ? `  sub-goal ${t.subgoal}` : ''}` : '');
      ctx.stderr.write(`\r\x1b[2K${line}`);
      if (p.episode === p.episodes && !t) ctx.stderr.write('\n');
    } else if (!p.lastTick && p.episode !== lastEpisode) {
      lastEpisode = p.episode;
      ctx.log(`${label}: ${p.episode}/${p.episodes} episodes, ${p.successes} successes`);
    }
  };
}

const highModelFlag: FlagSpec = {
  type: 'string',
  description: 'Plan through latent sub-goals predicted by this coarse-time-step model (same encoder as the model) instead of the task graph.',
};

/** The hierarchy the flags ask for, and the high-level model it needs (the caller disposes of it). */
async function hierarchyOf(
  command: string,
  o: { flat: boolean; 'high-model'?: string; backend: 'auto' | 'cpu' | 'reference' },
): Promise<{ hierarchy: Hierarchy; highModel?: WorldModel }> {
  const dir = o['high-model'];
  if (dir === undefined) return { hierarchy: o.flat ? 'flat' : 'auto' };
  if (o.flat) throw new CliUsageError(command, '--flat and --high-model exclude each other: --high-model plans through latent sub-goals');
  return { hierarchy: 'latent', highModel: await loadModel(dir, { backend: o.backend }) };
}

/**
 * The model the surprise monitor runs, where it is not the planner's: the one named, else (when the
 * planner runs the shipped model) the task's shipped monitor model, else none.
 */
async function resolveMonitor(task: TaskName, o: { model?: string; 'monitor-model'?: string; backend: 'auto' | 'cpu' | 'reference' }, ctx: CommandContext): Promise<WorldModel | undefined> {
  const dir = o['monitor-model'] ?? (o.model ? undefined : shippedMonitorModel(task));
  if (!dir) return undefined;
  ctx.log(`${task}: surprise monitor on ${dir}`);
  return loadModel(dir, { backend: o.backend });
}

function runOptions(o: z.infer<z.ZodObject<typeof sharedSchema>>) {
  return { maxIterations: o.iterations, planTime_ms: o['plan-ms'], samples: o.samples, horizon: o.horizon };
}

const runSchema = z.object({
  ...sharedSchema,
  task: TaskName,
  robot: z.enum(['sim', 'ros', 'mcap']).default('sim'),
  bag: z.string().min(1).optional(),
  'goal-joints': GoalJoints.optional(),
  'joint-prefix': z.string().default(''),
  seed: int('--seed', 0, 2 ** 31 - 1).default(0),
  episodes: int('--episodes', 1, 1000).default(1),
  flat: z.boolean().default(false),
  'high-model': z.string().min(1).optional(),
  realtime: z.boolean().default(false),
  memory: z.string().min(1).optional(),
  positionals: z.tuple([]),
});

export const runCommand: Command<typeof runSchema> = {
  name: 'run',
  summary: 'Run a task through the whole loop (observe, encode, plan, shield, act).',
  flags: {
    task: { type: 'string', description: `Task: ${TaskName.options.join(' | ')}.` },
    robot: { type: 'string', description: "sim (embedded simulator), ros (an arm on a live ROS 2 graph, needs rclnodejs) or mcap (replay of a rosbag2 MCAP file, --bag).", defaultText: 'sim' },
    bag: { type: 'string', description: 'With --robot mcap: the .mcap file (or rosbag2 folder) to replay.' },
    'goal-joints': { type: 'string', description: 'With --robot ros|mcap: the goal as comma-separated joint positions (default for mcap: the bag\'s last joint state).' },
    'joint-prefix': { type: 'string', description: "With --robot ros|mcap: prefix of the robot's joint names before the task's (e.g. fer_).", defaultText: "''" },
    seed: { type: 'string', description: 'First training seed of the episodes.', defaultText: '0' },
    episodes: { type: 'string', description: 'Episodes to run.', defaultText: '1' },
    flat: { type: 'boolean', description: 'Plan without the hierarchy (no task graph).' },
    'high-model': highModelFlag,
    realtime: { type: 'boolean', description: 'Pace the simulator to the wall clock (a planning overrun then holds the arm).' },
    memory: { type: 'string', description: 'SQLite file of the persistent memory (decisions, shield and surprise events, task progress).' },
    ...sharedFlags,
  },
  schema: runSchema,
  async run(o, ctx) {
    if (o.robot !== 'sim') {
      if (o['high-model'] !== undefined) throw new CliUsageError('run', `--high-model runs on the embedded simulator only, not with --robot ${o.robot}`);
      if (o['monitor-model'] !== undefined) throw new CliUsageError('run', `--monitor-model runs on the embedded simulator only, not with --robot ${o.robot}`);
      const memory = o.memory ? WorldMemory.open({ file: o.memory }) : undefined;
      try {
        return await runOnBackend(
          { task: o.task, robot: o.robot, bag: o.bag, goalJoints: o['goal-joints'], jointPrefix: o['joint-prefix'], episodes: o.episodes, seed: o.seed, json: o.json, memory, ...runOptions(o) },
          ctx,
          () => resolveModel(o.task, o.model, o.backend, ctx, 'state'),
        );
      } finally {
        memory?.close();
      }
    }
    const { hierarchy, highModel } = await hierarchyOf('run', o);
    const model = await resolveModel(o.task, o.model, o.backend, ctx);
    const monitorModel = await resolveMonitor(o.task, o, ctx);
    const memory = o.memory ? WorldMemory.open({ file: o.memory }) : undefined;
    try {
      const summary = await evaluateTask(
        { task: o.task, model, episodes: o.episodes, mode: 'train', firstSeed: o.seed, hierarchy, highModel, monitorModel, realtime: o.realtime, memory, ...runOptions(o) },
        progressPrinter(ctx, o.task),
      );
      printSummaries([summary], o.json, ctx);
      if (memory) ctx.log(`memory ${o.memory}: ${memory.events({}).length} events logged`);
    } finally {
      memory?.close();
      model.dispose();
      highModel?.dispose();
      monitorModel?.dispose();
    }
    return 0;
  },
};

const evalSchema = z.object({
  ...sharedSchema,
  task: TaskName,
  episodes: int('--episodes', 1, 1000).default(20),
  flat: z.boolean().default(false),
  'high-model': z.string().min(1).optional(),
  positionals: z.tuple([]),
});

export const evalCommand: Command<typeof evalSchema> = {
  name: 'eval',
  summary: 'Evaluate a task on the held-out evaluation seeds: success rate, planning latency, iterations.',
  flags: {
    task: { type: 'string', description: `Task: ${TaskName.options.join(' | ')}.` },
    episodes: { type: 'string', description: 'Evaluation episodes (seeds 1000000…).', defaultText: '20' },
    flat: { type: 'boolean', description: 'Plan without the hierarchy.' },
    'high-model': highModelFlag,
    ...sharedFlags,
  },
  schema: evalSchema,
  async run(o, ctx) {
    const { hierarchy, highModel } = await hierarchyOf('eval', o);
    const model = await resolveModel(o.task, o.model, o.backend, ctx);
    const monitorModel = await resolveMonitor(o.task, o, ctx);
    try {
      const summary = await evaluateTask({ task: o.task, model, episodes: o.episodes, mode: 'eval', hierarchy, highModel, monitorModel, ...runOptions(o) }, progressPrinter(ctx, o.task));
      printSummaries([summary], o.json, ctx);
    } finally {
      model.dispose();
      highModel?.dispose();
      monitorModel?.dispose();
    }
    return 0;
  },
};

const demoSchema = z.object({
  ...sharedSchema,
  episodes: int('--episodes', 1, 1000).default(10),
  report: z.string().min(1).default('reports/demo.html'),
  'no-report': z.boolean().default(false),
  positionals: z.tuple([]),
});

/** The demo's tasks: every task a state model runs (objects, where a task has them, come from perception). */
const DEMO_TASKS: readonly TaskName[] = STATE_MODEL_TASKS;

/** How the demo's tasks with objects see them. */
async function perceptionNote(): Promise<string> {
  const model = async (task: TaskName, what: string) => {
    const dir = shippedModel(task);
    if (!dir) return `the ${what}'s fitted state model`;
    const config = await readCheckpointConfig(dir);
    return config.encoder.kind === 'mlp'
      ? `its shipped state-vector JEPA of the ${what} (models/${task})`
      : `its shipped pixel JEPA of the ${what} (models/${task}, ${config.camera ?? 'main'} camera)`;
  };
  return (
    `pick-place runs on ${await model('pick-place', 'arm')} with the cube and bin located by RGB-D perception of the front camera and kept in memory` +
    (shippedMonitorModel('pick-place') ? `, its surprise monitor on models/pick-place-monitor (a pixel model of the front camera that sees the cube); ` : '; ') +
    `push-t on ${await model('push-t', 'pusher')} with the T block located in the top camera's RGB-D frame (its goal pose read from the goal frame). ` +
    `two-rooms (latent sub-goals) plans over models/two-rooms-high, a coarse-time-step model over the two-rooms encoder, where it ships.`
  );
}

/** Runs the demo's tasks; with a report path, also records one episode per task and writes the HTML report. */
async function demoTasks(
  o: z.infer<z.ZodObject<typeof sharedSchema>> & { episodes: number },
  ctx: CommandContext,
  reportPath: string | undefined,
  perception: string,
): Promise<TaskSummary[]> {
  const summaries: TaskSummary[] = [];
  const episodes: EpisodeFrames[] = [];
  for (const task of DEMO_TASKS) {
    const model = await resolveModel(task, o.model, o.backend, ctx);
    // A shipped high-level model is trained over the shipped model's encoder: it runs beside that one only.
    const highDir = o.model ? undefined : shippedHighModel(task);
    const highModel = highDir ? await loadModel(highDir, { backend: o.backend }) : undefined;
    const monitorModel = await resolveMonitor(task, o, ctx);
    try {
      const variants: Hierarchy[] = task === 'two-rooms' ? ['auto', 'flat'] : ['auto'];
      if (highModel) variants.push('latent');
      for (const hierarchy of variants) {
        const label = `${task}${hierarchy === 'flat' ? ' (flat)' : hierarchy === 'latent' ? ' (latent sub-goals)' : ''}`;
        summaries.push(await evaluateTask({ task, model, highModel, monitorModel, episodes: o.episodes, mode: 'eval', hierarchy, ...runOptions(o) }, progressPrinter(ctx, label)));
      }
      if (reportPath) episodes.push(await recordEpisode({ task, model, seed: EVAL_SEEDS.start, hierarchy: 'auto', ...runOptions(o) }));
    } finally {
      model.dispose();
      highModel?.dispose();
      monitorModel?.dispose();
    }
  }
  if (reportPath) {
    const html = renderReport({
      title: 'jepa-runtime demo report',
      generated: `generated ${new Date().toISOString()} by jepa demo (${o.episodes} evaluation episodes per task, seeds ${EVAL_SEEDS.start}+)`,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, node ${process.version}`,
      summaries,
      episodes,
      notes: [
        'Models: --model when given, else the task\'s shipped model (models/<task>/), else a linear state-space model fitted on the spot from random exploration on training seeds (system identification).',
        perception,
      ],
    });
    writeReport(reportPath, html);
    ctx.log(`report written to ${reportPath}`);
  }
  return summaries;
}

export const demoCommand: Command<typeof demoSchema> = {
  name: 'demo',
  summary: 'Every embedded task the runtime can run, through the whole loop, then a summary table (what `npm start` runs).',
  flags: {
    episodes: { type: 'string', description: 'Evaluation episodes per task.', defaultText: '10' },
    report: { type: 'string', description: 'Where to write the HTML report.', defaultText: 'reports/demo.html' },
    'no-report': { type: 'boolean', description: 'Do not write the HTML report.' },
    ...sharedFlags,
  },
  schema: demoSchema,
  async run(o, ctx) {
    const perception = await perceptionNote();
    const summaries = await demoTasks(o, ctx, o['no-report'] ? undefined : o.report, perception);
    printSummaries(summaries, o.json, ctx);
    if (!o.json) ctx.log(perception);
    return 0;
  },
};

const reportSchema = z.object({
  ...sharedSchema,
  episodes: int('--episodes', 1, 1000).default(3),
  out: z.string().min(1).default('reports/report.html'),
  positionals: z.tuple([]),
});

export const reportCommand: Command<typeof reportSchema> = {
  name: 'report',
  summary: 'Run the demo tasks briefly and write a self-contained HTML report with plots and episode frames.',
  flags: {
    episodes: { type: 'string', description: 'Evaluation episodes per task.', defaultText: '3' },
    out: { type: 'string', description: 'HTML file to write.', defaultText: 'reports/report.html' },
    ...sharedFlags,
  },
  schema: reportSchema,
  async run(o, ctx) {
    const summaries = await demoTasks(o, ctx, o.out, await perceptionNote());
    printSummaries(summaries, o.json, ctx);
    return 0;
  },
};

function printSummaries(rows: TaskSummary[], json: boolean, ctx: CommandContext): void {
  if (json) {
    for (const r of rows) {
      const { tickLatencies_ms: _l, energyTraces: _e, ...rest } = r;
      ctx.stdout.write(JSON.stringify(rest) + '\n');
    }
    return;
  }
  ctx.stdout.write('\n' + summaryTable(rows) + '\n');
}
