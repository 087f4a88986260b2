/**
 * `jepa inspect <checkpoint>`: what a checkpoint folder holds — its config
 * (architecture, sizes, action bounds, provenance metadata), every tensor
 * with dtype and shape, parameter count and file size — and whether it
 * matches what the runtime expects (missing, misshapen and extra tensors).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CONFIG_FILE, WEIGHTS_FILE, readCheckpointConfig } from '../../model/checkpoint';
import { modelDims } from '../../model/config';
import { readSafetensors } from '../../model/safetensors';
import { expectedTensors } from '../../model/tensors';
import type { Command } from '../command';

const schema = z.object({
  json: z.boolean().default(false),
  positionals: z.tuple([z.string().min(1, 'a checkpoint folder is required')], { message: 'a checkpoint folder is required' }),
});

export const inspectCommand: Command<typeof schema> = {
  name: 'inspect',
  summary: 'Show a checkpoint: config, tensors, parameter count, and what does not match the runtime.',
  positionals: [{ name: 'checkpoint', description: 'Folder holding config.json and model.safetensors.' }],
  flags: { json: { type: 'boolean', description: 'Print one JSON object instead of text.' } },
  schema,
  async run(opts, ctx) {
    const dir = opts.positionals[0];
    const config = await readCheckpointConfig(dir);
    const weightsPath = join(dir, WEIGHTS_FILE);
    const file = await readSafetensors(weightsPath);
    const expected = expectedTensors(config);
    const problems: string[] = [];
    for (const spec of expected) {
      if (!file.has(spec.name)) problems.push(`missing tensor ${spec.name} ${JSON.stringify(spec.shape)}`);
      else {
        const shape = file.entry(spec.name).shape;
        if (shape.join('x') !== spec.shape.join('x')) problems.push(`tensor ${spec.name} has shape ${JSON.stringify(shape)}, expected ${JSON.stringify(spec.shape)}`);
      }
    }
    const expectedNames = new Set(expected.map((s) => s.name));
    const extra = file.names.filter((n) => !expectedNames.has(n));
    const params = file.entries.reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    const report = {
      checkpoint: dir,
      name: config.name,
      encoder: config.encoder,
      predictor: config.predictor,
      dims: modelDims(config),
      action: config.action,
      frameskip: config.frameskip,
      metadata: { ...config.metadata, ...file.metadata },
      tensors: file.entries.map((e) => ({ name: e.name, dtype: e.dtype, shape: e.shape })),
      parameters: params,
      bytes: { config: statSync(join(dir, CONFIG_FILE)).size, weights: statSync(weightsPath).size },
      problems,
      ignoredTensors: extra,
    };
    if (opts.json) {
      ctx.stdout.write(JSON.stringify(report) + '\n');
    } else {
      const d = report.dims;
      const lines = [
        `${config.name}  (${dir})`,
        `  encoder    ${config.encoder.kind}   predictor ${config.predictor.kind}   latent ${d.latentTokens}x${d.latentDim}   action ${d.actionDim}   history ${d.historyLength}   frameskip ${config.frameskip}`,
        `  parameters ${params.toLocaleString('en-US')}   weights ${(report.bytes.weights / 1e6).toFixed(2)} MB in ${file.entries.length} tensors`,
        ...Object.entries(report.metadata).map(([k, v]) => `  ${k.padEnd(10)} ${typeof v === 'string' ? v : JSON.stringify(v)}`),
        '',
        ...report.tensors.map((t) => `  ${t.name.padEnd(44)} ${t.dtype.padEnd(5)} ${JSON.stringify(t.shape)}`),
      ];
      if (extra.length) lines.push('', `  ignored (not used by this architecture): ${extra.join(', ')}`);
      lines.push('', problems.length ? `  PROBLEMS:\n${problems.map((p) => `    - ${p}`).join('\n')}` : '  OK: every tensor the runtime needs is present with the expected shape.');
      ctx.stdout.write(lines.join('\n') + '\n');
    }
    return problems.length ? 1 : 0;
  },
};
