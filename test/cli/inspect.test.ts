import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJepa } from '../helpers/cli';
import { initWeights, saveCheckpoint } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';

async function run(argv: string[]) {
  const r = await runJepa(argv);
  return { code: r.code, out: r.text };
}

const config = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny',
  latent: { tokens: 1, dim: 4 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 3, hiddenDims: [5] },
  predictor: { kind: 'mlp', hiddenDims: [] },
});

describe('jepa inspect', () => {
  it('lists tensors and counts parameters of a checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    await saveCheckpoint(dir, config, initWeights(config, 1), { metadata: { command: 'test' } });
    const { code, out } = await run(['inspect', dir, '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    // encoder 3->5->4: 15+5+20+4 ; predictor (4+2)->4: 24+4
    expect(r.parameters).toBe(15 + 5 + 20 + 4 + 24 + 4);
    expect(r.tensors.map((t: { name: string }) => t.name)).toContain('predictor.layers.0.weight');
    expect(r.problems).toEqual([]);
  });

  it('exits 2 with a usage message for a missing argument or unknown flag', async () => {
    const a = await run(['inspect']);
    expect(a.code).toBe(2);
    expect(a.out).toMatch(/<checkpoint>.*required/);
    const b = await run(['inspect', '/x', '--colour']);
    expect(b.code).toBe(2);
    expect(b.out).toMatch(/Unknown option '--colour'/);
  });

  it('exits 1 naming the file when the folder holds no checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'empty-'));
    const { code, out } = await run(['inspect', dir]);
    expect(code).toBe(1);
    expect(out).toContain(dir);
  });

  it('prints help for the command', async () => {
    const { code, out } = await run(['inspect', '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/jepa inspect <checkpoint>/);
  });
});
