/**
 * `evaluateSurprise` (src/runtime/surprise-eval.ts) and `jepa surprise` on
 * violation-of-expectation clips of two-rooms, scored with the fitted
 * two-rooms state model: the result's shape (one positive per clip, AUROCs in
 * [0, 1], per-kind keys among the violation kinds), teleports (a state jump
 * far beyond one step of motion) told apart from ordinary transitions with
 * AUROC > 0.9, an ordinary dataset refused, and the CLI printing one JSON line.
 * The shipped push-t pixel model tells every kind of violation (the T block
 * vanishing or jumping, the pusher passing through it) from ordinary pushing
 * on clips from the evaluation seed range, AUROC >= 0.9.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/addon/index';
import type { WorldModel } from '../../src/addon/types';
import { saveCheckpoint } from '../../src/model/checkpoint';
import { fitStateModel, modelFromCheckpoint } from '../../src/runtime/embedded';
import { evaluateSurprise, SurpriseEvalError } from '../../src/runtime/surprise-eval';
import { collect } from '../../src/sim/collect';
import { collectViolations } from '../../src/sim/voe';

const root = mkdtempSync(join(tmpdir(), 'surprise-eval-'));
const clips = join(root, 'clips');
const ordinary = join(root, 'ordinary');
const modelDir = join(root, 'model');
let model: WorldModel;

beforeAll(async () => {
  const ck = await fitStateModel('two-rooms', { transitions: 400 });
  await saveCheckpoint(modelDir, ck.config, ck.tensors, { metadata: { command: 'surprise-eval test' } });
  model = await modelFromCheckpoint(ck, 'reference');
  await collectViolations({ task: 'two-rooms', episodes: 6, out: clips, split: 'eval', seed: 1_000_000, imageSize: 16, maxSteps: 30 });
  await collect({ task: 'two-rooms', episodes: 1, out: ordinary, split: 'eval', seed: 1_000_000, imageSize: 16, maxSteps: 10 });
}, 60_000);
afterAll(() => {
  model?.dispose();
  rmSync(root, { recursive: true, force: true });
});

describe('surprise AUROC on violation clips (two-rooms, fitted state model)', () => {
  it('scores every clip, one violation each, and tells teleports apart', async () => {
    const r = await evaluateSurprise(model, clips);
    console.log(`two-rooms surprise: AUROC ${r.auroc.toFixed(3)}, per kind ${JSON.stringify(r.perKind)}, z-score ${r.aurocZScore}`);
    expect(r.task).toBe('two-rooms');
    expect(r.model).toBe(model.config.name);
    expect(r.metric).toBe('l2');
    expect(r.clips).toBe(6);
    expect(r.positives).toBe(r.clips);
    expect(r.transitions).toBeGreaterThan(r.positives);
    expect(r.transitions).toBeLessThanOrEqual(6 * 30);
    expect(r.auroc).toBeGreaterThanOrEqual(0);
    expect(r.auroc).toBeLessThanOrEqual(1);
    expect(Object.keys(r.perKind).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(r.perKind)) {
      expect(['vanish', 'teleport', 'pass-through']).toContain(k);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(r.perKind.teleport).toBeGreaterThan(0.9);
    if (r.aurocZScore !== null) {
      expect(r.aurocZScore).toBeGreaterThanOrEqual(0);
      expect(r.aurocZScore).toBeLessThanOrEqual(1);
    }
    expect(r.warmupTicks).toBe(4);
  });

  it('refuses a dataset that is not violation clips', async () => {
    await expect(evaluateSurprise(model, ordinary)).rejects.toThrow(SurpriseEvalError);
    await expect(evaluateSurprise(model, ordinary)).rejects.toThrow(/not violation clips/);
  });

  it('jepa surprise --json prints one JSON line with the AUROC', () => {
    const r = spawnSync(process.execPath, ['bin/jepa.js', 'surprise', '--clips', clips, '--model', modelDir, '--backend', 'reference', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out.auroc).toBeGreaterThanOrEqual(0);
    expect(out.auroc).toBeLessThanOrEqual(1);
    expect(out.clips).toBe(6);
    expect(out.checkpoint).toBe(modelDir);
  }, 60_000);
});

describe('surprise AUROC on violation clips (push-t, shipped pixel model)', () => {
  it('tells the block vanishing or jumping and the pusher passing through it from ordinary motion (AUROC >= 0.9)', async () => {
    const dir = join(root, 'push-t-clips');
    await collectViolations({ task: 'push-t', episodes: 12, out: dir, split: 'eval', seed: 1_000_000, imageSize: 64 });
    const pushT = await loadModel('models/push-t');
    try {
      const r = await evaluateSurprise(pushT, dir);
      console.log(`push-t surprise: AUROC ${r.auroc.toFixed(3)} over ${r.clips} clips, per kind ${JSON.stringify(r.perKind)}`);
      expect(r.clips).toBeGreaterThanOrEqual(9);
      expect(Object.keys(r.perKind).sort()).toEqual(['pass-through', 'teleport', 'vanish']);
      expect(r.auroc).toBeGreaterThanOrEqual(0.9);
      for (const v of Object.values(r.perKind)) expect(v).toBeGreaterThanOrEqual(0.9);
    } finally {
      pushT.dispose();
    }
  }, 60_000);
});
