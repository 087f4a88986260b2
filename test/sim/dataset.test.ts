import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resizeRgb } from '../../src/perception/preprocess';
import { collect } from '../../src/sim/collect';
import { SimEnv } from '../../src/sim/env';
import { CUBE_HALF_m } from '../../src/sim/scenes/arm';
import { DatasetCorruptError, ManifestSchema, sha256 } from '../../src/sim/dataset/format';
import { DatasetReader } from '../../src/sim/dataset/reader';
import { DatasetMismatchError, DatasetWriter, readManifest } from '../../src/sim/dataset/writer';
import { EVAL_SEEDS, SeedSplitError } from '../../src/sim/tasks/seeds';
import { CHILD_COLLECT_OPTIONS } from './fixtures/collect-options';

const created: string[] = [];
const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `jepa-ds-${name}-`));
  created.push(d);
  return d;
};
afterAll(() => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});
const base = { task: 'two-rooms', policy: 'scripted', imageSize: 16, maxSteps: 30 } as const;

describe('collect + reader', () => {
  it('writes chunked episodes with a manifest whose sha256 match, and streams them back', async () => {
    const out = tmp('basic');
    const progress: number[] = [];
    const res = await collect({ ...base, maxSteps: 80, episodes: 3, episodesPerChunk: 2, out }, (p) => progress.push(p.episodesDone));
    expect(progress).toEqual([0, 1, 2, 3]);
    const m = ManifestSchema.parse(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')));
    expect(m.complete).toBe(true);
    expect(m.chunks.map((c) => c.episodeCount)).toEqual([2, 1]);
    for (const c of m.chunks) expect(sha256(readFileSync(join(out, c.file)))).toBe(c.sha256);
    expect(m.episodes.map((e) => e.seed)).toEqual([0, 1, 2]);
    expect(m.proprioNames).toEqual(['agent_x.position', 'agent_y.position', 'agent_x.velocity', 'agent_y.velocity']);

    const reader = DatasetReader.open(out);
    const eps = [];
    for await (const ep of reader.episodes()) eps.push(ep);
    expect(eps.map((e) => e.length)).toEqual(m.episodes.map((e) => e.length));
    expect(eps.reduce((s, e) => s + e.length, 0)).toBe(res.stepsThisRun);
    for (const ep of eps) {
      expect(ep.frames.top.length).toBe((ep.length + 1) * 16 * 16 * 3);
      expect(ep.proprio.length).toBe((ep.length + 1) * 4);
      expect(ep.actions.length).toBe(ep.length * 2);
      expect(ep.goalFrames.top.length).toBe(16 * 16 * 3);
      for (const a of ep.actions) expect(Math.abs(a)).toBeLessThanOrEqual(0.4 + 1e-6);
      // Scripted two-rooms episodes end at the goal.
      expect(ep.success).toBe(true);
      const last = ep.proprio.subarray(ep.length * 4, ep.length * 4 + 2);
      expect(Math.hypot(last[0] - ep.goal.agent_position[0], last[1] - ep.goal.agent_position[1])).toBeLessThan(0.05);
    }
    // Transitions chain: next observation of step t is the observation of step t+1.
    let prev: { ep: number; next: Float32Array } | undefined;
    let count = 0;
    for await (const tr of reader.transitions()) {
      if (prev && prev.ep === tr.episode) expect(Array.from(tr.proprio)).toEqual(Array.from(prev.next));
      prev = { ep: tr.episode, next: tr.nextProprio.slice() };
      count++;
    }
    expect(count).toBe(res.stepsThisRun);
  });

  it('records random-policy arm episodes with both cameras and varying in-range actions', async () => {
    const out = tmp('random-arm');
    await collect({ task: 'reach', policy: 'random', episodes: 1, maxSteps: 6, imageSize: 16, out });
    const m = readManifest(out);
    expect(m.cameras).toEqual(['front', 'wrist']);
    expect(m.actionDim).toBe(8);
    const [ep] = await (async () => {
      const all = [];
      for await (const e of DatasetReader.open(out).episodes()) all.push(e);
      return all;
    })();
    expect(ep.length).toBe(6);
    expect(ep.frames.wrist.length).toBe(7 * 16 * 16 * 3);
    const firstJoint = Array.from({ length: 6 }, (_, t) => ep.actions[8 * t]);
    expect(new Set(firstJoint).size).toBeGreaterThan(1);
    for (let t = 0; t < 6; t++)
      for (let i = 0; i < 8; i++) {
        const [lo, hi] = m.actionRange[i];
        expect(ep.actions[8 * t + i]).toBeGreaterThanOrEqual(lo - 1e-6);
        expect(ep.actions[8 * t + i]).toBeLessThanOrEqual(hi + 1e-6);
      }
  });

  it("records the task's object positions beside every observation only when asked, and refuses a task without objects", async () => {
    const out = tmp('objects');
    await collect({ task: 'reach', policy: 'scripted', episodes: 2, maxSteps: 4, imageSize: 16, objects: true, out });
    const m = readManifest(out);
    expect(m.objectNames).toEqual(['cube.x', 'cube.y', 'cube.z', 'bin.x', 'bin.y', 'bin.z']);
    const eps = [];
    for await (const e of DatasetReader.open(out).episodes()) eps.push(e);
    const env = await SimEnv.create({ task: 'reach', render: false });
    try {
      for (const ep of eps) {
        expect(ep.objects).toHaveLength((ep.length + 1) * 6);
        // The episode's sampled cube position, resting on the table, and the bin where the scene puts it.
        env.reset(ep.seed);
        const cube = env.sim.bodyPosition('cube');
        expect(ep.objects![0]).toBeCloseTo(cube[0], 5);
        expect(ep.objects![1]).toBeCloseTo(cube[1], 5);
        expect(ep.objects![2]).toBeCloseTo(CUBE_HALF_m, 3);
        expect(Array.from(ep.objects!.subarray(3, 6)).map((v) => +v.toFixed(5))).toEqual([0.45, 0.3, 0]);
      }
      expect(eps[0]!.objects![0]).not.toBeCloseTo(eps[1]!.objects![0]!, 3); // episodes place the cube differently
    } finally {
      env.close();
    }
    // Without the flag the manifest and chunks are as before: no objectNames, no objects section.
    const plain = tmp('no-objects');
    await collect({ task: 'reach', policy: 'scripted', episodes: 1, maxSteps: 4, imageSize: 16, out: plain });
    expect(readManifest(plain).objectNames).toBeUndefined();
    for await (const e of DatasetReader.open(plain).episodes()) expect(e.objects).toBeUndefined();
    // Resuming with the flag changed is another dataset.
    await expect(collect({ task: 'reach', policy: 'scripted', episodes: 2, maxSteps: 4, imageSize: 16, objects: true, out: plain })).rejects.toThrow(/objectNames/);
    await expect(collect({ ...base, episodes: 1, objects: true, out: tmp('agent') })).rejects.toThrow(/task 'two-rooms' has no objects to record/);
    // The writer takes object states exactly when the dataset records them, one vector per observation.
    const identity = { ...readManifest(out), episodesRequested: 1 };
    const [ep] = await (async () => { const all = []; for await (const e of DatasetReader.open(out).episodes()) all.push(e); return all; })();
    const rec = (objects?: Float32Array[]) => ({
      index: 0, seed: 0, success: false, goal: {}, frames: { front: [], wrist: [] }, goalFrames: {}, goalProprio: ep!.goalProprio,
      proprio: [ep!.proprio.subarray(0, 16), ep!.proprio.subarray(16, 32)], actions: [ep!.actions.subarray(0, 8)], ...(objects ? { objects } : {}),
    });
    const { chunks: _c, episodes: _e, complete: _d, ...withObjects } = identity;
    const { objectNames: _n, ...withoutObjects } = withObjects;
    expect(() => DatasetWriter.open(tmp('w1'), withObjects).add(rec())).toThrow(/needs one object-state vector of 6 values per observation \(2\)/);
    expect(() => DatasetWriter.open(tmp('w2'), withObjects).add(rec([new Float32Array(6)]))).toThrow(/per observation/);
    expect(() => DatasetWriter.open(tmp('w3'), withoutObjects).add(rec([new Float32Array(6), new Float32Array(6)]))).toThrow(/carries object states, the dataset records none/);
  });

  it('refuses evaluation seeds for a training set before writing anything', async () => {
    const out = join(tmp('evalseed'), 'ds');
    await expect(collect({ ...base, episodes: 2, out, seed: EVAL_SEEDS.start })).rejects.toThrow(SeedSplitError);
    await expect(collect({ ...base, episodes: 2, out, seed: 99_999 })).rejects.toThrow(SeedSplitError);
    expect(existsSync(out)).toBe(false);
  });

  it('resumes from the manifest and ends with the same bytes as an uninterrupted run', async () => {
    const a = tmp('resume');
    const b = tmp('straight');
    await collect({ ...base, episodes: 2, episodesPerChunk: 2, out: a });
    const res = await collect({ ...base, episodes: 4, episodesPerChunk: 2, out: a });
    expect(res.resumedFrom).toBe(2);
    expect(res.episodesThisRun).toBe(2);
    await collect({ ...base, episodes: 4, episodesPerChunk: 2, out: b });
    expect(readManifest(a).chunks.map((c) => c.sha256)).toEqual(readManifest(b).chunks.map((c) => c.sha256));
  });

  it('refuses to resume with different settings', async () => {
    const out = tmp('mismatch');
    await collect({ ...base, episodes: 1, out });
    await expect(collect({ ...base, episodes: 2, out, imageSize: 32 })).rejects.toThrow(DatasetMismatchError);
    await expect(collect({ ...base, episodes: 2, out, renderSize: 64 })).rejects.toThrow(/renderSize/);
  });

  it('with renderSize, stores the larger render scaled as the runtime scales it, and records the render size', async () => {
    const out = tmp('render-size');
    await collect({ ...base, episodes: 1, out, renderSize: 64 });
    const m = readManifest(out);
    expect(m.imageSize).toBe(16);
    expect(m.renderSize).toBe(64);
    const ep = (await DatasetReader.open(out).episodes().next()).value!;
    // The first frame: the 64-px render of the episode's first state through resizeRgb.
    const env = await SimEnv.create({ task: 'two-rooms', imageSize: 64 });
    try {
      env.reset(0, 'train');
      const big = env.observe().images.top!;
      const want = resizeRgb(big, 16);
      const got = ep.frames.top!.subarray(0, 16 * 16 * 3);
      expect(Array.from(got)).toEqual(Array.from(want.rgb));
      // ... and not what a 16-px render gives (the test would otherwise prove nothing).
      const small = await SimEnv.create({ task: 'two-rooms', imageSize: 16 });
      small.reset(0, 'train');
      expect(Array.from(small.observe().images.top!.rgb)).not.toEqual(Array.from(want.rgb));
      small.close();
    } finally {
      env.close();
    }
    // A run at the image size leaves renderSize out (the manifest of datasets from before the option).
    const plain = tmp('render-size-plain');
    await collect({ ...base, episodes: 1, out: plain, renderSize: 16 });
    expect(readManifest(plain).renderSize).toBeUndefined();
  });

  it('refuses renderSize with depth images (it scales RGB only), and one below the image size', async () => {
    await expect(SimEnv.create({ task: 'two-rooms', imageSize: 32, renderSize: 16 })).rejects.toThrow(/renderSize must be at least imageSize/);
    await expect(SimEnv.create({ task: 'pick-place', imageSize: 32, renderSize: 64, depth: true })).rejects.toThrow(/renderSize scales RGB frames only/);
  });

  it('detects a corrupted chunk on read and on resume', async () => {
    const out = tmp('corrupt');
    await collect({ ...base, episodes: 2, episodesPerChunk: 1, out });
    const f = join(out, readManifest(out).chunks[1].file);
    const bytes = readFileSync(f);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(f, bytes);
    const reader = DatasetReader.open(out);
    const read = async () => {
      for await (const _ of reader.episodes());
    };
    await expect(read()).rejects.toThrow(DatasetCorruptError);
    await expect(collect({ ...base, episodes: 3, episodesPerChunk: 1, out })).rejects.toThrow(/sha256/);
  });

  it('removes temp files and unlisted chunks an interrupted write left behind', async () => {
    const out = tmp('leftovers');
    await collect({ ...base, episodes: 1, episodesPerChunk: 1, out });
    writeFileSync(join(out, 'chunk-000001.bin.tmp'), 'partial');
    writeFileSync(join(out, 'chunk-000001.bin'), 'renamed but never listed');
    const m = readManifest(out);
    DatasetWriter.open(out, { ...m, episodesRequested: 2 });
    expect(readdirSync(out).sort()).toEqual(['chunk-000000.bin', 'manifest.json']);
  });
});

describe('crash safety', () => {
  it('a collector killed with SIGKILL mid-run leaves only valid chunks, and the resumed set equals an uninterrupted one', async () => {
    const out = tmp('killed');
    const child = spawn(process.execPath, ['--import', 'tsx', join('test', 'sim', 'fixtures', 'collect-child.ts'), out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killedAfter = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /chunks (\d+)\n$/.exec(buf);
        if (m && Number(m[1]) >= 3) {
          // Kill during the next episode or chunk write, not at a clean boundary we chose.
          setTimeout(() => child.kill('SIGKILL'), 15);
          resolve(Number(m[1]));
        }
      });
      child.on('exit', (code, signal) => {
        if (signal !== 'SIGKILL') reject(new Error(`child exited early (code ${code}): ${stderr}`));
      });
    });
    await new Promise<void>((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.on('exit', () => r())));
    expect(child.signalCode).toBe('SIGKILL');

    const m = readManifest(out);
    expect(m.complete).toBe(false);
    expect(m.chunks.length).toBeGreaterThanOrEqual(killedAfter);
    for (const c of m.chunks) expect(sha256(readFileSync(join(out, c.file)))).toBe(c.sha256);

    const resumed = await collect({ ...CHILD_COLLECT_OPTIONS, out });
    expect(resumed.resumedFrom).toBe(m.episodes.length);
    const ref = tmp('reference');
    await collect({ ...CHILD_COLLECT_OPTIONS, out: ref });
    expect(readManifest(out).chunks.map((c) => c.sha256)).toEqual(readManifest(ref).chunks.map((c) => c.sha256));
    expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
