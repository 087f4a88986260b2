/**
 * `jepa collect` (episodes from the embedded simulator into a chunked,
 * resumable dataset) and `jepa bench` (the benchmarks in bench/, run in this
 * process's toolchain with their own flags).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { z } from 'zod';
import { collect, PolicyKind } from '../../sim/collect';
import { TaskName } from '../../sim/tasks/types';
import { collectViolations } from '../../sim/voe';
import type { Command } from '../command';

const int = (name: string, min: number) =>
  z.string().regex(/^\d+$/, `${name} must be a whole number`).transform(Number).pipe(z.number().int().min(min, `${name} must be >= ${min}`));

const collectSchema = z.object({
  task: TaskName,
  episodes: int('--episodes', 1),
  policy: PolicyKind.default('scripted'),
  out: z.string().min(1, '--out is required'),
  seed: int('--seed', 0).default(0),
  split: z.enum(['train', 'eval']).default('train'),
  'image-size': int('--image-size', 8).default(64),
  'render-size': int('--render-size', 8).optional(),
  violations: z.boolean().default(false),
  objects: z.boolean().default(false),
  json: z.boolean().default(false),
  positionals: z.tuple([]),
});

export const collectCommand: Command<typeof collectSchema> = {
  name: 'collect',
  summary: 'Record simulator episodes (frames, proprio, actions) into a chunked dataset; re-run to resume.',
  flags: {
    task: { type: 'string', description: `Task: ${TaskName.options.join(' | ')}.` },
    episodes: { type: 'string', description: 'Episodes the dataset should hold.' },
    policy: { type: 'string', description: 'random | scripted.', defaultText: 'scripted' },
    out: { type: 'string', description: 'Dataset folder (manifest.json + chunk files).' },
    seed: { type: 'string', description: 'Seed of episode 0 (inside the split\'s seed range).', defaultText: '0' },
    split: { type: 'string', description: 'train | eval seed range.', defaultText: 'train' },
    'image-size': { type: 'string', description: 'Square frame size, px.', defaultText: '64' },
    'render-size': { type: 'string', description: "Render at this size and scale the frames to --image-size as the runtime scales its camera's frames to the model's input.", defaultText: 'the image size' },
    violations: { type: 'boolean', description: 'Record labelled violation-of-expectation clips (vanish, teleport, pass-through) instead.' },
    objects: { type: 'boolean', description: "Also record the task's object positions (simulator ground truth) beside every frame, as a training target." },
    json: { type: 'boolean', description: 'Print the result as JSON.' },
  },
  schema: collectSchema,
  async run(o, ctx) {
    const start = performance.now();
    const run = o.violations ? collectViolations : collect;
    const result = await run(
      { task: o.task, episodes: o.episodes, policy: o.policy, out: o.out, seed: o.seed, split: o.split, imageSize: o['image-size'], renderSize: o['render-size'], objects: o.objects },
      (p) => {
        const frac = p.episodesDone / p.episodesTotal;
        const el = (performance.now() - start) / 1000;
        const eta = frac > 0 ? (el / frac - el).toFixed(0) : '?';
        const bar = '#'.repeat(Math.round(30 * frac)).padEnd(30, '.');
        const line = `[${bar}] ${p.episodesDone}/${p.episodesTotal} episodes  ${p.stepsThisRun} steps  ${(p.stepsThisRun / Math.max(el, 1e-3)).toFixed(0)} steps/s  ETA ${eta} s`;
        if (ctx.interactive) ctx.stderr.write(`\r\x1b[2K${line}`);
        else if (p.episodesDone === p.episodesTotal || p.episodesDone % 10 === 0) ctx.log(line);
      },
    );
    if (ctx.interactive) ctx.stderr.write('\n');
    const summary = { out: o.out, episodes: result.manifest.episodes?.length ?? o.episodes, episodesThisRun: result.episodesThisRun, resumedFrom: result.resumedFrom, stepsThisRun: result.stepsThisRun, elapsed_s: result.elapsed_s };
    if (o.json) ctx.stdout.write(JSON.stringify(summary) + '\n');
    else ctx.stdout.write(`dataset ${o.out}: ${summary.episodes} episodes (${result.episodesThisRun} recorded now, resumed from ${result.resumedFrom}) in ${result.elapsed_s.toFixed(1)} s\n`);
    return 0;
  },
};

const BENCHES = {
  native: 'bench/run.ts',
  planner: 'bench/planner-overhead.ts',
  render: 'bench/render.ts',
  sim: 'bench/sim-throughput.ts',
} as const;

const benchSchema = z.object({
  suite: z.enum(Object.keys(BENCHES) as [keyof typeof BENCHES, ...(keyof typeof BENCHES)[]]).default('native'),
  json: z.boolean().default(false),
  positionals: z.tuple([]),
});

export const benchCommand: Command<typeof benchSchema> = {
  name: 'bench',
  summary: 'Run a benchmark suite (ratios against peers measured in the same run).',
  flags: {
    suite: { type: 'string', description: `Suite: ${Object.entries(BENCHES).map(([k, v]) => `${k} (${v})`).join(', ')}.`, defaultText: 'native' },
    json: { type: 'boolean', description: 'One JSON object per workload.' },
  },
  schema: benchSchema,
  async run(o) {
    const root = resolve(new URL('../../..', import.meta.url).pathname);
    const r = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, BENCHES[o.suite]), ...(o.json ? ['--json'] : [])], { stdio: 'inherit', cwd: root });
    return r.status ?? 1;
  },
};
