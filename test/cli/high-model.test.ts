/**
 * `--high-model` on `jepa eval` and `jepa run`: it excludes --flat, runs on
 * the embedded simulator only, and a missing folder is named; with the
 * shipped two-rooms pair, one episode runs under latent sub-goals.
 */
import { describe, expect, it } from 'vitest';
import { runJepa } from '../helpers/cli';

describe('--high-model', () => {
  it('exits 2 when given with --flat or a robot other than the simulator', async () => {
    const a = await runJepa(['eval', '--task', 'two-rooms', '--flat', '--high-model', 'models/two-rooms-high']);
    expect(a.code).toBe(2);
    expect(a.text).toMatch(/--flat and --high-model exclude each other/);
    const b = await runJepa(['run', '--task', 'reach', '--robot', 'mcap', '--high-model', 'models/two-rooms-high']);
    expect(b.code).toBe(2);
    expect(b.text).toMatch(/--high-model runs on the embedded simulator only, not with --robot mcap/);
  });

  it('exits 1 naming a folder that holds no checkpoint', async () => {
    const r = await runJepa(['eval', '--task', 'two-rooms', '--episodes', '1', '--high-model', 'models/nowhere']);
    expect(r.code).toBe(1);
    expect(r.text).toContain('models/nowhere');
  });

  it('runs an episode of two-rooms under latent sub-goals from the shipped high-level model', async () => {
    const r = await runJepa(['run', '--task', 'two-rooms', '--seed', '90000', '--episodes', '1', '--high-model', 'models/two-rooms-high', '--json']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.text.trim().split('\n').at(-1)!) as { planner: string; perEpisode: { hierarchical: boolean; steps: number }[] };
    expect(summary.planner).toBe('latent-subgoals/cem');
    expect(summary.perEpisode[0]!.hierarchical).toBe(true);
    expect(summary.perEpisode[0]!.steps).toBeGreaterThan(0);
  }, 120_000);
});
