/**
 * Several datasets trained on as one (WindowDataset.load with a folder list)
 * and 'delta' actions: two small hand-made datasets (known proprio and action
 * values) load as one with every window of both, in order; a batch carries
 * the frames' proprio-head targets (the first proprio.dim values, or the
 * proprio entries and recorded object coordinates proprio.names names); 'delta' actions are the applied commands minus
 * the joint positions at that step; proprioStats() is the mean/std over every
 * observation of both; datasets with other proprio names or another task are
 * refused naming the folder. End to end, runTraining on [A, B] with a proprio
 * head reports a proprio loss, and a resume with the list reordered is
 * refused (the dataset hash covers the ordered list).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCheckpointConfig } from '../../src/model/config';
import { DatasetWriter } from '../../src/sim/dataset/writer';
import type { TaskName } from '../../src/sim/tasks/types';
import { DatasetModelMismatchError, WindowDataset } from '../../src/train/dataset-batches';
import { trainKernelsAvailable } from '../../src/train/kernels';
import { runTraining, TrainResumeError } from '../../src/train/run';

const available = trainKernelsAvailable();
const root = mkdtempSync(path.join(tmpdir(), 'jepa-mix-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const NAMES = ['q0', 'q1', 'v0', 'v1'];
const S = 4;

/** Proprio of step t of episode e of dataset `off` (float32 values, as stored). */
function proprioAt(off: number, e: number, t: number): number[] {
  return [Math.sin(0.3 * t + e + off), Math.cos(0.2 * t + 2 * off) + e, 0.1 * t - off, 0.05 * (e + 1) * t].map(Math.fround);
}
function actionAt(off: number, e: number, t: number): number[] {
  return [Math.sin(0.3 * (t + 1) + e + off) + 0.1, Math.cos(0.7 * t + off) * 0.5 - e].map(Math.fround);
}

function objectAt(off: number, e: number, t: number): number[] {
  return [0.5 + 0.01 * t + off, -0.2 * e, 0.02].map(Math.fround);
}

interface Spec {
  off: number;
  lengths: number[];
  task?: TaskName;
  names?: string[];
  seed?: number;
  /** Record objects 'cube.x', 'cube.y', 'cube.z' (objectAt). */
  objects?: boolean;
}

function writeDataset(dir: string, spec: Spec): void {
  const names = spec.names ?? NAMES;
  const w = DatasetWriter.open(dir, {
    format: 'jepa-sim-dataset', version: 1, kind: 'episodes', task: spec.task ?? 'two-rooms', policy: 'random', split: 'train', seed: spec.seed ?? 0,
    episodesRequested: spec.lengths.length, episodesPerChunk: 2, imageSize: S, cameras: ['top'], frameskip: 1, controlPeriod_s: 0.05,
    maxSteps: Math.max(...spec.lengths), proprioNames: names, actionDim: 2, actionRange: [[-2, 2], [-2, 2]],
    ...(spec.objects ? { objectNames: ['cube.x', 'cube.y', 'cube.z'] } : {}),
  });
  spec.lengths.forEach((length, e) => {
    const proprio = Array.from({ length: length + 1 }, (_, t) => Float32Array.from(proprioAt(spec.off, e, t)));
    const frames = Array.from({ length: length + 1 }, (_, t) => new Uint8Array(S * S * 3).fill(10 * t));
    const actions = Array.from({ length }, (_, t) => Float32Array.from(actionAt(spec.off, e, t)));
    const objects = spec.objects ? Array.from({ length: length + 1 }, (_, t) => Float32Array.from(objectAt(spec.off, e, t))) : undefined;
    w.add({ index: e, seed: e, success: false, goal: {}, frames: { top: frames }, proprio, ...(objects ? { objects } : {}), actions, goalFrames: { top: frames[0]! }, goalProprio: proprio[0]! });
  });
  w.finish();
}

const modelJson = {
  format: 'jepa-runtime.checkpoint/1', name: 'mix-test', latent: { tokens: 1, dim: 6 }, action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [12] },
  predictor: { kind: 'mlp', hiddenDims: [12] },
  proprio: { dim: 2 },
};
const config = parseCheckpointConfig(modelJson);

const specA: Spec = { off: 0, lengths: [6, 7] };
const specB: Spec = { off: 1, lengths: [8], seed: 5 };
const dirA = path.join(root, 'a');
const dirB = path.join(root, 'b');
writeDataset(dirA, specA);
writeDataset(dirB, specB);

describe('several datasets as one, delta actions', () => {
  const T = 3;

  it('holds the windows of both, in order, with the frames’ proprio and delta actions', async () => {
    const d = await WindowDataset.load([dirA, dirB], config, T, undefined, 'delta');
    const one = await WindowDataset.load(dirA, config, T, undefined, 'delta');
    const two = await WindowDataset.load([dirB], config, T, undefined, 'delta');
    expect(one.windowCount).toBe(4 + 5);
    expect(two.windowCount).toBe(6);
    expect(d.windowCount).toBe(one.windowCount + two.windowCount);
    expect(d.proprioSize).toBe(4);
    expect(d.proprioNames).toEqual(NAMES);
    expect(d.task).toBe('two-rooms');

    // Window 9 + 2: B's only episode from step 2; window 4 + 1: A's second episode from step 1. Batch [B-win, A-win].
    const b = d.batch([11, 5]);
    expect(b.proprioSize).toBe(2); // the head's targets: proprio.dim 2, no names, so q0 and q1
    expect(b.proprio!.length).toBe((T + 1) * 2 * 2);
    const want = (off: number, e: number, s: number) => ({ off, e, s });
    const rows = [want(1, 0, 2), want(0, 1, 1)];
    rows.forEach(({ off, e, s }, col) => {
      for (let t = 0; t <= T; t++) {
        const p = proprioAt(off, e, s + t);
        expect(Array.from(b.proprio!.subarray((t * 2 + col) * 2, (t * 2 + col + 1) * 2)), `head targets t=${t} col=${col}`).toEqual(p.slice(0, 2));
        // mlp encoder: the frames are the proprio vectors too.
        expect(Array.from(b.frames.subarray((t * 2 + col) * 4, (t * 2 + col + 1) * 4))).toEqual(p);
      }
      for (let t = 0; t < T; t++) {
        const a = actionAt(off, e, s + t);
        const q = proprioAt(off, e, s + t);
        const got = Array.from(b.actions.subarray((t * 2 + col) * 2, (t * 2 + col + 1) * 2));
        expect(got, `delta action t=${t} col=${col}`).toEqual([Math.fround(a[0]! - q[0]!), Math.fround(a[1]! - q[1]!)]);
      }
    });

    // 'applied' leaves the recorded commands as they are.
    const applied = await WindowDataset.load([dirA, dirB], config, T);
    expect(Array.from(applied.batch([11]).actions.subarray(0, 2))).toEqual(actionAt(1, 0, 2));
  });

  it('a state encoder narrower than the proprio vector reads its first values (the positions); a wider one is refused', async () => {
    const narrow = parseCheckpointConfig({ ...modelJson, encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [12] } });
    const d = await WindowDataset.load(dirA, narrow, T, undefined, 'delta');
    const b = d.batch([5]); // A's second episode from step 1
    for (let t = 0; t <= T; t++) {
      const p = proprioAt(0, 1, 1 + t);
      expect(Array.from(b.frames.subarray(t * 2, t * 2 + 2)), `input t=${t}`).toEqual(p.slice(0, 2));
      expect(Array.from(b.proprio!.subarray(t * 2, t * 2 + 2))).toEqual(p.slice(0, 2)); // the head's targets, not the input
    }
    const wide = parseCheckpointConfig({ ...modelJson, encoder: { kind: 'mlp', inputDim: 5, hiddenDims: [12] } });
    await expect(WindowDataset.load(dirA, wide, T)).rejects.toThrow(/proprio has 4 values .*encoder\.inputDim is 5/);
  });

  it('a cnn with proprio planes gets each frame as RGB then its first proprio values tiled; a plane count over the proprio is refused', async () => {
    const cnn = (planes: number) => parseCheckpointConfig({
      ...modelJson,
      encoder: { kind: 'cnn', inChannels: 3 + planes, proprioPlanes: planes, imageSize: S, groups: 2, stages: [{ channels: 4, kernel: 2, stride: 2 }] },
    });
    const d = await WindowDataset.load(dirA, cnn(2), T, undefined, 'delta');
    const size = 5 * S * S;
    expect(d.inputSize).toBe(size);
    const b = d.batch([5]); // A's second episode from step 1
    for (let t = 0; t <= T; t++) {
      const input = b.frames.subarray(t * size, (t + 1) * size);
      const p = proprioAt(0, 1, 1 + t);
      expect(input.subarray(0, 3 * S * S).every((v) => v === Math.fround((10 * (1 + t)) / 255)), `rgb t=${t}`).toBe(true);
      expect(input.subarray(3 * S * S, 4 * S * S).every((v) => v === p[0]), `plane 0 t=${t}`).toBe(true);
      expect(input.subarray(4 * S * S).every((v) => v === p[1]), `plane 1 t=${t}`).toBe(true);
    }
    await expect(WindowDataset.load(dirA, cnn(5), T)).rejects.toThrow(/proprioPlanes is 5, the dataset's proprio has 4 values/);
    // The channel count must be RGB plus the planes.
    expect(() => parseCheckpointConfig({ ...modelJson, encoder: { kind: 'cnn', inChannels: 3, proprioPlanes: 2, imageSize: S, groups: 2, stages: [{ channels: 4, kernel: 2 }] } }))
      .toThrow(/inChannels.*3 \(RGB\) \+ proprioPlanes 2 = 5/);
  });

  it("proprio.names picks the head's targets by name: proprio entries ('q1' is 'q1.position') and recorded object coordinates", async () => {
    const dirO = path.join(root, 'objects');
    writeDataset(dirO, { off: 2, lengths: [5, 6], names: ['q0.position', 'q1.position', 'q0.velocity', 'q1.velocity'], objects: true });
    const named = (names: string[]) => parseCheckpointConfig({ ...modelJson, proprio: { dim: names.length, names } });
    const d = await WindowDataset.load(dirO, named(['q1', 'cube.y', 'q0.velocity', 'cube.x']), T);
    expect(d.headNames).toEqual(['q1', 'cube.y', 'q0.velocity', 'cube.x']);
    const b = d.batch([4]); // the second episode from step 1 (the first has windows 0-2)
    expect(b.proprioSize).toBe(4);
    for (let t = 0; t <= T; t++) {
      const p = proprioAt(2, 1, 1 + t), o = objectAt(2, 1, 1 + t);
      expect(Array.from(b.proprio!.subarray(t * 4, t * 4 + 4)), `targets t=${t}`).toEqual([p[1], o[1], p[2], o[0]]);
      expect(Array.from(b.frames.subarray(t * 4, t * 4 + 4)), `input t=${t}`).toEqual(p); // the encoder still reads the proprio only
    }
    expect(Array.from(d.proprioStats().mean)[3]).toBeCloseTo((Array.from({ length: 6 }, (_, t) => objectAt(2, 0, t)[0]!).reduce((a, v) => a + v, 0) + Array.from({ length: 7 }, (_, t) => objectAt(2, 1, t)[0]!).reduce((a, v) => a + v, 0)) / 13, 6);
    // A name the dataset lacks is refused, naming the folder, the name and what there is.
    await expect(WindowDataset.load(dirO, named(['q0', 'bin.x']), T)).rejects.toThrow(/objects.*proprio\.names\[1\] 'bin\.x' is neither in the dataset's proprio \(q0\.position.*\) nor in its objects \(cube\.x, cube\.y, cube\.z\)/);
    await expect(WindowDataset.load(dirA, named(['q0', 'cube.x']), T)).rejects.toThrow(/'cube\.x' .* no objects \(collect with --objects/);
    // Mixed datasets must give the head the same targets.
    await expect(WindowDataset.load([dirO, dirA], named(['q0', 'q1']), T)).rejects.toThrow(/proprio names/);
    // One name per head output.
    expect(() => named(['q0']) && parseCheckpointConfig({ ...modelJson, proprio: { dim: 2, names: ['q0'] } })).toThrow(/proprio\.names.*expected 2 names/);
  });

  it('proprioStats is the mean and std over every observation of every dataset', async () => {
    const d = await WindowDataset.load([dirA, dirB], config, 3, undefined, 'delta');
    const all: number[][] = [];
    for (const spec of [specA, specB]) spec.lengths.forEach((len, e) => { for (let t = 0; t <= len; t++) all.push(proprioAt(spec.off, e, t)); });
    expect(all).toHaveLength(7 + 8 + 9);
    const { mean, std } = d.proprioStats();
    expect(mean).toHaveLength(2); // one per head target
    for (let j = 0; j < 2; j++) {
      const m = all.reduce((s, p) => s + p[j]!, 0) / all.length;
      const v = all.reduce((s, p) => s + (p[j]! - m) ** 2, 0) / all.length;
      expect(mean[j], `mean ${j}`).toBeCloseTo(m, 9);
      expect(std[j], `std ${j}`).toBeCloseTo(Math.sqrt(v), 6);
    }
  });

  it('refuses to mix datasets with other proprio names or another task, naming the folder', async () => {
    const otherNames = path.join(root, 'names');
    const otherTask = path.join(root, 'task');
    writeDataset(otherNames, { off: 2, lengths: [5], names: ['q0', 'q1', 'v0', 'w1'] });
    writeDataset(otherTask, { off: 3, lengths: [5], task: 'reach' });
    for (const dir of [otherNames, otherTask]) {
      const p = WindowDataset.load([dirA, dir], config, 3, undefined, 'delta');
      await expect(p).rejects.toThrow(DatasetModelMismatchError);
      await expect(WindowDataset.load([dirA, dir], config, 3)).rejects.toThrow(dir);
    }
    await expect(WindowDataset.load([dirA, otherNames], config, 3)).rejects.toThrow(/proprio names/);
    await expect(WindowDataset.load([dirA, otherTask], config, 3)).rejects.toThrow(/task 'reach'/);
    await expect(WindowDataset.load([], config, 3)).rejects.toThrow(RangeError);
  });

  it.skipIf(!available)('runTraining on [A, B] trains the proprio head; resuming with [B, A] is refused', async () => {
    const cfg = path.join(root, 'train.json');
    writeFileSync(cfg, JSON.stringify({
      model: modelJson, actions: 'delta', epochs: 1, batchSize: 4, windowSteps: 3, seed: 1, diagnosticFrames: 16,
      objective: { regularizer: { kind: 'vicreg' }, proprioWeight: 1, optimizer: { lr: 3e-3 } },
    }));
    const out = path.join(root, 'run');
    const reports = await runTraining({ data: [dirA, dirB], configFile: cfg, out, command: 'jepa train test' });
    expect(reports).toHaveLength(1);
    expect(reports[0]!.step).toBe(Math.floor(15 / 4)); // 15 windows, batches of 4
    expect(reports[0]!.proprio).toBeGreaterThan(0);
    expect(Number.isFinite(reports[0]!.loss)).toBe(true);
    await expect(runTraining({ data: [dirB, dirA], configFile: cfg, out, command: 'x' })).rejects.toThrow(TrainResumeError);
    await expect(runTraining({ data: [dirB, dirA], configFile: cfg, out, command: 'x' })).rejects.toThrow(/different dataset/);
    await expect(runTraining({ data: [dirA], configFile: cfg, out, command: 'x' })).rejects.toThrow(TrainResumeError);
    // The same ordered list resumes (nothing left to do after the last epoch).
    expect(await runTraining({ data: [dirA, dirB], configFile: cfg, out, command: 'x' })).toEqual([]);
  });
});
