/**
 * `jepa surprise --clips DIR [--model DIR]`: scores a world model's
 * one-step prediction error on violation-of-expectation clips written by
 * `jepa collect --violations` and prints the AUROC of telling the violating
 * transition from ordinary ones (src/runtime/surprise-eval.ts). Without
 * --model it uses the shipped model of the clips' task.
 */
import { z } from 'zod';
import { loadModel } from '../../addon/index';
import { shippedModel, shippedMonitorModel } from '../../model/registry';
import { DatasetReader } from '../../sim/dataset/reader';
import { evaluateSurprise } from '../../runtime/surprise-eval';
import { CliUsageError, type Command } from '../command';

const schema = z.object({
  clips: z.string({ error: '--clips DIR is required (written by jepa collect --violations)' }).min(1),
  model: z.string().min(1).optional(),
  backend: z.enum(['auto', 'cpu', 'reference']).default('auto'),
  metric: z.enum(['l2', 'l1', 'cosine']).default('l2'),
  json: z.boolean().default(false),
  positionals: z.tuple([]),
});

export const surpriseCommand: Command<typeof schema> = {
  name: 'surprise',
  summary: 'AUROC of the surprise signal (one-step prediction error) on violation-of-expectation clips.',
  flags: {
    clips: { type: 'string', description: 'Clips folder written by `jepa collect --violations`.' },
    model: { type: 'string', description: "Checkpoint folder.", defaultText: "the shipped model the clips' task monitors surprise with (models/<task>-monitor/, else models/<task>/)" },
    backend: { type: 'string', description: 'Model backend: auto | cpu | reference.', defaultText: 'auto' },
    metric: { type: 'string', description: 'Prediction error: l2 | l1 | cosine.', defaultText: 'l2' },
    json: { type: 'boolean', description: 'Print one JSON object.' },
  },
  schema,
  async run(o, ctx) {
    const task = DatasetReader.open(o.clips).manifest.task;
    // The model the runtime's surprise monitor runs: the task's monitor model where one ships.
    const dir = o.model ?? shippedMonitorModel(task) ?? shippedModel(task);
    if (!dir) throw new CliUsageError('surprise', `no model for task '${task}': pass --model DIR (no shipped model under models/${task})`);
    const model = await loadModel(dir, { backend: o.backend });
    try {
      const r = await evaluateSurprise(model, o.clips, { metric: o.metric });
      if (o.json) {
        ctx.stdout.write(`${JSON.stringify({ ...r, checkpoint: dir })}\n`);
      } else {
        ctx.stdout.write(
          `${r.task}: model ${r.model} (${dir}), ${r.clips} clips, ${r.transitions} transitions, ${r.positives} violations\n` +
            `AUROC ${r.auroc.toFixed(3)} (raw ${r.metric} error)` +
            (r.aurocZScore === null ? '' : `, ${r.aurocZScore.toFixed(3)} (z-score after ${r.warmupTicks} ticks)`) +
            `\nper kind: ${Object.entries(r.perKind).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}\n`,
        );
      }
    } finally {
      model.dispose();
    }
    return 0;
  },
};
