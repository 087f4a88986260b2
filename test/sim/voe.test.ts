import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatasetReader, type DatasetEpisode } from '../../src/sim/dataset/reader';
import { collectViolations } from '../../src/sim/voe';
import { TWO_ROOMS_DOOR_HALF_m, TWO_ROOMS_DOOR_Y_m, TWO_ROOMS_WALL_HALF_THICKNESS_m } from '../../src/sim/scenes/two-rooms';

const S = 32;
const created: string[] = [];
const tmp = (name: string) => {
  const d = mkdtempSync(join(tmpdir(), `voe-${name}-`));
  created.push(d);
  return d;
};
afterAll(() => {
  for (const d of created) rmSync(d, { recursive: true, force: true });
});

/** Red-agent pixels in frame t of a two-rooms clip: count and centroid. */
function agentPixels(ep: DatasetEpisode, t: number): { n: number; x: number; y: number } {
  const f = ep.frames.top.subarray(t * S * S * 3, (t + 1) * S * S * 3);
  let n = 0, sx = 0, sy = 0;
  for (let i = 0; i < S * S; i++) {
    if (f[3 * i] > 150 && f[3 * i + 1] < 100 && f[3 * i + 2] < 100) (n++, (sx += i % S), (sy += Math.floor(i / S)));
  }
  return { n, x: sx / Math.max(n, 1), y: sy / Math.max(n, 1) };
}

describe('violation-of-expectation clips (two-rooms)', () => {
  const eps: DatasetEpisode[] = [];
  beforeAll(async () => {
    const out = tmp('two-rooms');
    const res = await collectViolations({ task: 'two-rooms', episodes: 3, out, imageSize: S, maxSteps: 40 });
    expect(res.manifest.kind).toBe('violations');
    for await (const ep of DatasetReader.open(out).episodes()) eps.push(ep);
  });

  it('labels one event per clip, kinds in turn, with full-length clips', () => {
    expect(eps.map((e) => e.labels.map((l) => l.kind))).toEqual([['vanish'], ['teleport'], ['pass-through']]);
    for (const e of eps) {
      expect(e.length).toBe(40);
      expect(e.labels[0].frame).toBeGreaterThan(0);
      expect(e.labels[0].frame).toBeLessThanOrEqual(40);
    }
  });

  it('vanish: the agent is visible before the labelled frame and gone from it on', () => {
    const e = eps[0];
    const f = e.labels[0].frame;
    expect(agentPixels(e, f - 1).n).toBeGreaterThan(0);
    for (let t = f; t <= e.length; t++) expect(agentPixels(e, t).n).toBe(0);
  });

  it('teleport: the agent jumps farther in one frame than it can move', () => {
    const e = eps[1];
    const f = e.labels[0].frame;
    const p = (t: number) => [e.proprio[4 * t], e.proprio[4 * t + 1]];
    const jump = Math.hypot(p(f)[0] - p(f - 1)[0], p(f)[1] - p(f - 1)[1]);
    // Max speed 0.4 m/s for 0.05 s is 0.02 m per step.
    expect(jump).toBeGreaterThan(0.2);
    for (let t = 1; t < f; t++) expect(Math.hypot(p(t)[0] - p(t - 1)[0], p(t)[1] - p(t - 1)[1])).toBeLessThan(0.03);
    const a = agentPixels(e, f - 1), b = agentPixels(e, f);
    expect(Math.hypot(a.x - b.x, a.y - b.y)).toBeGreaterThan(2);
  });

  it('pass-through: at the labelled frame the agent is inside the wall, away from the door', () => {
    const e = eps[2];
    const f = e.labels[0].frame;
    const x = e.proprio[4 * f], y = e.proprio[4 * f + 1];
    expect(Math.abs(x)).toBeLessThan(TWO_ROOMS_WALL_HALF_THICKNESS_m + 0.04);
    expect(Math.abs(y - TWO_ROOMS_DOOR_Y_m)).toBeGreaterThan(TWO_ROOMS_DOOR_HALF_m);
    // And it really crosses: it ends on the other side.
    expect(Math.sign(e.proprio[4 * e.length])).toBe(-Math.sign(e.proprio[0]));
  });

  it('pass-through: the onset is the first frame overlapping the wall, before the labelled frame', () => {
    const e = eps[2];
    const { frame, onset } = e.labels[0];
    expect(onset).toBeDefined();
    expect(onset!).toBeLessThan(frame);
    const overlap = (t: number) => TWO_ROOMS_WALL_HALF_THICKNESS_m + 0.04 - Math.abs(e.proprio[4 * t]);
    // In contact at most (2 % of the radius) before the onset, overlapping from it on.
    for (let t = 0; t < onset!; t++) expect(overlap(t)).toBeLessThanOrEqual(0.02 * 0.04 + 1e-9);
    expect(overlap(onset!)).toBeGreaterThan(0.02 * 0.04);
    // Vanish and teleport show at once: no onset.
    expect(eps[0].labels[0].onset).toBeUndefined();
    expect(eps[1].labels[0].onset).toBeUndefined();
  });
});

describe('violation-of-expectation clips (arm, push-t)', () => {
  it('the cube passing through the table is labelled when it sinks below the table top', async () => {
    const out = tmp('arm');
    const res = await collectViolations({ task: 'reach', episodes: 1, kinds: ['pass-through'], out, imageSize: 16, maxSteps: 20 });
    const ep = res.manifest.episodes[0];
    expect(ep.labels).toHaveLength(1);
    expect(ep.labels[0]).toMatchObject({ kind: 'pass-through', object: 'cube' });
  });

  it('push-t clips label vanish and teleport of the T block', async () => {
    const out = tmp('pusht');
    const res = await collectViolations({ task: 'push-t', episodes: 2, kinds: ['vanish', 'teleport'], out, imageSize: 16, maxSteps: 20 });
    expect(res.manifest.episodes.map((e) => e.labels[0]?.object)).toEqual(['tblock', 'tblock']);
  });
});
