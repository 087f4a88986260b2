/**
 * `jepa train`'s run (src/train/run.ts) on a small point-mass dataset written
 * with the simulator's dataset writer: it writes a loadable checkpoint with
 * the metadata the issue asks for plus per-epoch diagnostics, a re-run with
 * more epochs resumes after the last complete epoch and ends where an
 * uninterrupted run ends, a changed config is refused, and a cnn trained
 * with proprioPassThrough decodes its proprio planes exactly in the CPU
 * runtime.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/addon';
import { loadCheckpoint } from '../../src/model/checkpoint';
import { Graph } from '../../src/train/graph';
import { loadTrainKernels, trainKernelsAvailable } from '../../src/train/kernels';
import { TrainableModel } from '../../src/train/model-graph';
import { readSafetensors } from '../../src/model/safetensors';
import { DatasetWriter } from '../../src/sim/dataset/writer';
import { runTraining, TrainResumeError } from '../../src/train/run';
import { pointMassBatch } from '../../src/train/synthetic';
import { relErr } from './grad-helpers';

const available = trainKernelsAvailable();
const root = mkdtempSync(path.join(tmpdir(), 'jepa-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function writeDataset(dir: string): void {
  const episodes = 4, length = 20, S = 8;
  const w = DatasetWriter.open(dir, {
    format: 'jepa-sim-dataset', version: 1, kind: 'episodes', task: 'two-rooms', policy: 'random', split: 'train', seed: 0,
    episodesRequested: episodes, episodesPerChunk: 2, imageSize: S, cameras: ['top'], frameskip: 1, controlPeriod_s: 0.05,
    maxSteps: length, proprioNames: ['x', 'y', 'vx', 'vy'], actionDim: 2, actionRange: [[-1, 1], [-1, 1]],
  });
  for (let e = 0; e < episodes; e++) {
    const seq = pointMassBatch(1, length, 50 + e);
    const proprio: Float32Array[] = [];
    const frames: Uint8Array[] = [];
    for (let t = 0; t <= length; t++) {
      const s = seq.frames.slice(t * 4, t * 4 + 4);
      proprio.push(s);
      const img = new Uint8Array(S * S * 3);
      img[(Math.min(S - 1, Math.floor(((s[1]! + 1) / 2) * S)) * S + Math.min(S - 1, Math.floor(((s[0]! + 1) / 2) * S))) * 3] = 255;
      frames.push(img);
    }
    const actions = Array.from({ length }, (_, t) => seq.actions.slice(t * 2, t * 2 + 2));
    w.add({ index: e, seed: e, success: false, goal: {}, frames: { top: frames }, proprio, actions, goalFrames: { top: frames[0]! }, goalProprio: proprio[0]! });
  }
  w.finish();
}

function writeConfig(file: string, epochs: number, lr = 3e-3): void {
  writeFileSync(file, JSON.stringify({
    model: {
      format: 'jepa-runtime.checkpoint/1', name: 'pm-train-test', latent: { tokens: 1, dim: 6 }, action: { dim: 2 },
      encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [16] },
      predictor: { kind: 'mlp', hiddenDims: [16] },
    },
    epochs, batchSize: 16, windowSteps: 3, seed: 4, diagnosticFrames: 64,
    objective: { regularizer: { kind: 'vicreg' }, optimizer: { lr } },
  }));
}

describe.skipIf(!available)('training run (jepa train)', () => {
  const data = path.join(root, 'data');
  writeDataset(data);

  it('writes a loadable checkpoint with command, seed, dataset hash and git commit, and one metrics line per epoch', async () => {
    const cfg = path.join(root, 'a.json');
    writeConfig(cfg, 2);
    const out = path.join(root, 'a');
    const reports = await runTraining({ data, configFile: cfg, out, command: 'jepa train test' });
    expect(reports.map((r) => r.epoch)).toEqual([1, 2]);
    expect(reports[1]!.step).toBe(2 * Math.floor((4 * 18) / 16));
    expect(reports.every((r) => r.effectiveRank > 1 && Number.isFinite(r.loss))).toBe(true);
    const ck = await loadCheckpoint(out);
    expect(ck.config.name).toBe('pm-train-test');
    const meta = (await readSafetensors(path.join(out, 'model.safetensors'))).metadata;
    expect(meta.command).toBe('jepa train test');
    expect(meta.seed).toBe('4');
    expect(meta.dataset_manifest_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.git_commit).toMatch(/^([0-9a-f]{40}|unknown)$/);
    expect(meta.epoch).toBe('2');
    expect(readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);

    // The runtime's native CPU model loads the trained checkpoint and encodes as the trainer does.
    const frames = pointMassBatch(5, 0, 9).frames;
    const wm = await loadModel(out, { backend: 'cpu' });
    try {
      const got = await wm.encode(frames, 5);
      const want = new TrainableModel(ck.config, ck.tensors).encode(new Graph(loadTrainKernels(), { record: false }), frames, 5).value;
      expect(relErr(got, want)).toBeLessThan(1e-4);
    } finally {
      wm.dispose();
    }
  });

  it('resuming with more epochs continues after the last epoch and ends where an uninterrupted run ends', async () => {
    const cfg2 = path.join(root, 'b2.json');
    const cfg3 = path.join(root, 'b3.json');
    writeConfig(cfg2, 2);
    writeConfig(cfg3, 3);
    const resumed = path.join(root, 'resumed');
    const straight = path.join(root, 'straight');
    await runTraining({ data, configFile: cfg2, out: resumed, command: 'x' });
    const more = await runTraining({ data, configFile: cfg3, out: resumed, command: 'x' });
    expect(more.map((r) => r.epoch)).toEqual([3]);
    await runTraining({ data, configFile: cfg3, out: straight, command: 'x' });
    const a = (await loadCheckpoint(resumed)).tensors.get('encoder.layers.0.weight')!;
    const b = (await loadCheckpoint(straight)).tensors.get('encoder.layers.0.weight')!;
    let worst = 0;
    a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]!))));
    expect(worst).toBeLessThan(1e-4); // thread-order rounding only
    expect(await runTraining({ data, configFile: cfg3, out: straight, command: 'x' })).toEqual([]);
  });

  it('refuses to resume a folder trained with another config', async () => {
    const cfg = path.join(root, 'c.json');
    writeConfig(cfg, 1);
    const out = path.join(root, 'c');
    await runTraining({ data, configFile: cfg, out, command: 'x' });
    writeConfig(cfg, 2, 1e-2);
    await expect(runTraining({ data, configFile: cfg, out, command: 'x' })).rejects.toThrow(TrainResumeError);
  });

  it('a cnn trained with proprioPassThrough keeps its latent dims 0..k-1 the normalised planes, and the CPU runtime decodes the proprio exactly', async () => {
    const cfg = path.join(root, 'pt.json');
    const norm = { mean: [0.1, 0.1, 0.1, 0.2, -0.1], std: [0.3, 0.3, 0.3, 0.5, 0.4] };
    writeFileSync(cfg, JSON.stringify({
      model: {
        format: 'jepa-runtime.checkpoint/1', name: 'pm-pass-through', latent: { tokens: 1, dim: 6 }, action: { dim: 2 },
        encoder: { kind: 'cnn', inChannels: 5, imageSize: 8, groups: 2, stages: [{ channels: 4, kernel: 4, stride: 2, padding: 1 }], proprioPlanes: 2, proprioFeatures: true },
        predictor: { kind: 'mlp', hiddenDims: [16] },
        proprio: { dim: 2 },
        normalization: norm,
      },
      epochs: 2, batchSize: 16, windowSteps: 3, seed: 4, diagnosticFrames: 64, camera: 'top',
      objective: { proprioWeight: 1, proprioPassThrough: true, optimizer: { lr: 3e-3 } },
    }));
    const out = path.join(root, 'pt');
    await runTraining({ data, configFile: cfg, out, command: 'x' });
    const wm = await loadModel(out, { backend: 'cpu' });
    try {
      const n = 5;
      const x = new Float32Array(n * 5 * 64);
      const q = [[0.3, -0.2], [-0.5, 0.1], [0.9, 0.6], [0, 0], [-0.7, -0.9]];
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3 * 64; c++) x[i * 320 + c] = ((i * 37 + c * 11) % 17) / 16;
        x.fill(q[i]![0]!, i * 320 + 192, i * 320 + 256);
        x.fill(q[i]![1]!, i * 320 + 256, i * 320 + 320);
      }
      const z = await wm.encode(x, n);
      const p = await wm.decodeProprio(z, n);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < 2; j++) {
          expect(z[i * 6 + j]).toBeCloseTo((q[i]![j]! - norm.mean[3 + j]!) / norm.std[3 + j]!, 5);
          expect(p[i * 2 + j]).toBeCloseTo(q[i]![j]!, 5);
        }
      }
    } finally {
      wm.dispose();
    }
  });
});
