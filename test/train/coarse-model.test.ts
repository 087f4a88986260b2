/**
 * Training a coarse-time-step model over another model's latents: strided
 * windows (every k-th frame, the mean of the k applied commands each model
 * step spans), the frameskip the model must declare for it, refusals of
 * strided 'delta' actions, and `init` (another checkpoint's encoder loaded
 * and, frozen, left exactly as it was, so both models share one latent
 * space; provenance names the checkpoint and its hash).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCheckpointConfig } from '../../src/model/config';
import { readSafetensors } from '../../src/model/safetensors';
import { DatasetWriter } from '../../src/sim/dataset/writer';
import { DatasetModelMismatchError, WindowDataset } from '../../src/train/dataset-batches';
import { trainKernelsAvailable } from '../../src/train/kernels';
import { runTraining, TrainConfigError } from '../../src/train/run';

const available = trainKernelsAvailable();
const root = mkdtempSync(path.join(tmpdir(), 'jepa-coarse-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const S = 4;
const proprioAt = (e: number, t: number) => [Math.sin(0.3 * t + e), Math.cos(0.2 * t) + e].map(Math.fround);
const actionAt = (e: number, t: number) => [Math.fround(0.1 * t - e), Math.fround(Math.cos(0.9 * t + e))];

const dir = path.join(root, 'data');
{
  const lengths = [13, 9];
  const w = DatasetWriter.open(dir, {
    format: 'jepa-sim-dataset', version: 1, kind: 'episodes', task: 'two-rooms', policy: 'random', split: 'train', seed: 0,
    episodesRequested: lengths.length, episodesPerChunk: 2, imageSize: S, cameras: ['top'], frameskip: 5, controlPeriod_s: 0.05,
    maxSteps: 13, proprioNames: ['x', 'y'], actionDim: 2, actionRange: [[-2, 2], [-2, 2]],
  });
  lengths.forEach((length, e) => {
    const proprio = Array.from({ length: length + 1 }, (_, t) => Float32Array.from(proprioAt(e, t)));
    const frames = Array.from({ length: length + 1 }, (_, t) => new Uint8Array(S * S * 3).fill(10 * t + e));
    const actions = Array.from({ length }, (_, t) => Float32Array.from(actionAt(e, t)));
    w.add({ index: e, seed: e, success: false, goal: {}, frames: { top: frames }, proprio, actions, goalFrames: { top: frames[0]! }, goalProprio: proprio[0]! });
  });
  w.finish();
}

const lowJson = {
  format: 'jepa-runtime.checkpoint/1', name: 'low', latent: { tokens: 1, dim: 6 }, action: { dim: 2 }, frameskip: 5,
  encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [12] },
  predictor: { kind: 'mlp', hiddenDims: [12] },
  proprio: { dim: 2 },
};
const highJson = { ...lowJson, name: 'high', frameskip: 15, predictor: { kind: 'mlp', hiddenDims: [16] } };

describe('strided windows for a coarse-time-step model', () => {
  const high = parseCheckpointConfig(highJson);

  it('takes every k-th observation and the mean of the k commands each step spans', async () => {
    const k = 3, T = 2;
    const d = await WindowDataset.load(dir, high, T, undefined, 'applied', k);
    // Episode 0: starts 0..13-6 = 8 windows; episode 1: 0..9-6 = 4.
    expect(d.windowCount).toBe(8 + 4);
    const b = d.batch([2, 9]); // episode 0 from step 2; episode 1 from step 1
    [[0, 2], [1, 1]].forEach(([e, s], col) => {
      for (let t = 0; t <= T; t++) {
        const got = Array.from(b.frames.subarray((t * 2 + col) * 2, (t * 2 + col + 1) * 2));
        expect(got, `obs t=${t} col=${col}`).toEqual(proprioAt(e!, s! + t * k));
      }
      for (let t = 0; t < T; t++) {
        const got = Array.from(b.actions.subarray((t * 2 + col) * 2, (t * 2 + col + 1) * 2));
        for (let j = 0; j < 2; j++) {
          let mean = 0;
          for (let i = 0; i < k; i++) mean += actionAt(e!, s! + t * k + i)[j]! / k;
          expect(got[j], `action t=${t} col=${col} dim ${j}`).toBeCloseTo(mean, 6);
        }
      }
    });
  });

  it('needs the model to declare its time step, and applied commands', async () => {
    const wrong = parseCheckpointConfig({ ...highJson, frameskip: 10 });
    await expect(WindowDataset.load(dir, wrong, 2, undefined, 'applied', 3)).rejects.toThrow(DatasetModelMismatchError);
    await expect(WindowDataset.load(dir, wrong, 2, undefined, 'applied', 3)).rejects.toThrow(/needs model\.frameskip 15, it is 10/);
    await expect(WindowDataset.load(dir, high, 2, undefined, 'delta', 3)).rejects.toThrow(/'delta' actions cannot be strided/);
    await expect(WindowDataset.load(dir, high, 5, undefined, 'applied', 3)).rejects.toThrow(/no episode has 15 transitions/);
    const cfg = path.join(root, 'delta.json');
    writeFileSync(cfg, JSON.stringify({ model: highJson, actions: 'delta', timeStride: 3 }));
    await expect(runTraining({ data: dir, configFile: cfg, out: path.join(root, 'never'), command: 'x' })).rejects.toThrow(TrainConfigError);
    await expect(runTraining({ data: dir, configFile: cfg, out: path.join(root, 'never'), command: 'x' })).rejects.toThrow(/timeStride: .*needs actions: 'applied'/);
  });

  it.skipIf(!available)('trains only the predictor over a frozen encoder loaded from another checkpoint', async () => {
    const lowCfg = path.join(root, 'low.json');
    writeFileSync(lowCfg, JSON.stringify({ model: lowJson, epochs: 1, batchSize: 4, windowSteps: 2, diagnosticFrames: 8, objective: { proprioWeight: 1 } }));
    const lowOut = path.join(root, 'low');
    await runTraining({ data: dir, configFile: lowCfg, out: lowOut, command: 'low' });

    const highCfg = path.join(root, 'high.json');
    const highOut = path.join(root, 'high');
    writeFileSync(highCfg, JSON.stringify({
      model: highJson, epochs: 2, batchSize: 4, windowSteps: 2, timeStride: 3, diagnosticFrames: 8,
      init: { checkpoint: lowOut, prefixes: ['encoder.', 'proprio_head.'] },
      objective: { freezeEncoder: true, proprioWeight: 0, optimizer: { lr: 1e-2 } },
    }));
    const reports = await runTraining({ data: dir, configFile: highCfg, out: highOut, command: 'high' });
    expect(reports).toHaveLength(2);
    expect(reports[1]!.step).toBe(2 * Math.floor(12 / 4));

    const lowSt = await readSafetensors(path.join(lowOut, 'model.safetensors'));
    const highSt = await readSafetensors(path.join(highOut, 'model.safetensors'));
    for (const name of lowSt.entries.map((e) => e.name)) {
      if (name.startsWith('encoder.') || name.startsWith('proprio_head.')) {
        expect(Array.from(highSt.float32(name)), name).toEqual(Array.from(lowSt.float32(name)));
      }
    }
    // The predictor has its own shape and did train.
    expect(highSt.float32('predictor.layers.0.weight').length).toBe((6 + 2) * 16);
    expect(highSt.metadata.init_checkpoint).toBe(lowOut);
    expect(highSt.metadata.init_checkpoint_sha256).toBe(createHash('sha256').update(readFileSync(path.join(lowOut, 'model.safetensors'))).digest('hex'));
  });

  it('refuses an init checkpoint that lacks a tensor, has another shape, or matches nothing, naming it', async () => {
    const lowOut = path.join(root, 'low-shape');
    const lowCfg = path.join(root, 'low-shape.json');
    writeFileSync(lowCfg, JSON.stringify({ model: { ...lowJson, encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [10] } }, epochs: 1, batchSize: 4, windowSteps: 2, diagnosticFrames: 8 }));
    if (available) await runTraining({ data: dir, configFile: lowCfg, out: lowOut, command: 'low' });
    const cases: [unknown, RegExp][] = [
      [{ checkpoint: path.join(root, 'nowhere') }, /no model\.safetensors in/],
      [{ checkpoint: path.join(root, 'low'), prefixes: ['decoder.'] }, /no tensor of the model begins with 'decoder\.'/],
    ];
    if (available) cases.push([{ checkpoint: lowOut }, /'encoder\.layers\.0\.weight' has 20 values in .*the model needs 24/]);
    for (const [init, msg] of cases) {
      const cfg = path.join(root, 'bad-init.json');
      writeFileSync(cfg, JSON.stringify({ model: highJson, timeStride: 3, windowSteps: 2, init }));
      await expect(runTraining({ data: dir, configFile: cfg, out: path.join(root, 'never'), command: 'x' })).rejects.toThrow(msg);
    }
  });
});
