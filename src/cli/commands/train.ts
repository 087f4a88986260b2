/**
 * `jepa train --data DIR --config FILE --out DIR`: trains an encoder and
 * predictor with the JEPA objective (src/train/run.ts) on a dataset written
 * by `jepa collect`, with a progress bar, a checkpoint and collapse
 * diagnostics (effective rank, per-dimension std) after every epoch; re-run
 * with the same --out to resume.
 */
import { z } from 'zod';
import { runTraining } from '../../train/run';
import type { Command } from '../command';

const trainSchema = z.object({
  data: z
    .string({ error: '--data DIR is required (a dataset written by jepa collect)' })
    .min(1)
    .transform((v) => v.split(','))
    .refine((dirs) => dirs.every((d) => d.length > 0), { message: '--data: empty folder name in the comma-separated list' }),
  config: z.string({ error: '--config FILE is required (train config JSON)' }).min(1),
  out: z.string({ error: '--out DIR is required' }).min(1),
  json: z.boolean().default(false),
  positionals: z.tuple([]),
});

export const trainCommand: Command<typeof trainSchema> = {
  name: 'train',
  summary: 'Train a JEPA world model (encoder + action-conditioned predictor) on a collected dataset; re-run to resume.',
  flags: {
    data: { type: 'string', description: 'Dataset folder written by `jepa collect`, or several of one task separated by commas (e.g. random and scripted episodes).' },
    config: { type: 'string', description: 'Train config JSON: { model: <checkpoint config>, epochs, batchSize, windowSteps, seed, objective }.' },
    out: { type: 'string', description: 'Output folder: config.json, model.safetensors, optimizer state, metrics.jsonl.' },
    json: { type: 'boolean', description: 'Print the per-epoch reports as JSON.' },
  },
  schema: trainSchema,
  async run(o, ctx) {
    const start = performance.now();
    const reports = await runTraining({
      data: o.data,
      configFile: o.config,
      out: o.out,
      command: ['jepa', 'train', '--data', o.data.join(','), '--config', o.config, '--out', o.out].join(' '),
      onProgress: (p) => {
        if (!ctx.interactive) return;
        const frac = p.batch / p.batches;
        const bar = '#'.repeat(Math.round(30 * frac)).padEnd(30, '.');
        ctx.stderr.write(`\r\x1b[2Kepoch ${p.epoch}/${p.epochs} [${bar}] ${p.batch}/${p.batches}  loss ${p.loss.toFixed(4)}`);
      },
      onEpoch: (r) => {
        if (ctx.interactive) ctx.stderr.write('\n');
        ctx.log(
          `epoch ${r.epoch}/${r.epochs}: loss ${r.loss.toFixed(4)} (prediction ${r.prediction.toFixed(4)}, rollout ${r.rollout.toFixed(4)}, ` +
            `regulariser ${r.regularizer.toFixed(4)}${r.proprio > 0 ? `, proprio ${r.proprio.toFixed(4)}` : ''})  effective rank ${r.effectiveRank.toFixed(2)}  mean std ${r.meanStd.toFixed(3)}  ` +
            `${r.step_ms.toFixed(1)} ms/step`,
        );
      },
    });
    if (reports.length === 0) ctx.log(`${o.out} already holds every epoch of this config; nothing to do`);
    if (o.json) ctx.stdout.write(`${JSON.stringify(reports)}\n`);
    else ctx.log(`done in ${((performance.now() - start) / 1000).toFixed(1)} s; checkpoint in ${o.out}`);
    return 0;
  },
};
