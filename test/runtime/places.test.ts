/**
 * Remembered places (src/runtime/places.ts): task-graph waypoints the robot
 * reaches go into the world memory with what it observed there, and later
 * sub-goals at those waypoints resolve from memory — in the next episode and
 * from a reopened memory file — instead of from a rendered observation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorldModel } from '../../src/addon/types';
import { WorldMemory } from '../../src/memory/world-memory';
import { createEmbeddedRun, fitStateModel, modelFromCheckpoint } from '../../src/runtime/embedded';
import { evaluateTask } from '../../src/runtime/evaluate';
import { ControlLoop } from '../../src/runtime/loop';
import { placeId, recallPlace, rememberPlace } from '../../src/runtime/places';

let model: WorldModel;
let dir: string;
beforeAll(async () => {
  model = await modelFromCheckpoint(await fitStateModel('two-rooms', { transitions: 600 }));
  dir = mkdtempSync(join(tmpdir(), 'jepa-places-'));
});
afterAll(() => {
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

let runs = 0;
async function episode(seed: number, memory: WorldMemory) {
  const run = await createEmbeddedRun({ task: 'two-rooms', seed, mode: 'train', model, hierarchy: 'auto', memory });
  try {
    // Each run is its own episode in the log (the same seed runs several times).
    const episodeId = `${run.stages.episodeId}-run${++runs}`;
    memory.beginEpisode(episodeId, run.arm.env!.sim.time);
    const loop = new ControlLoop({ ...run.stages, episodeId, memory }, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 8 }, timing: 'lockstep', maxSteps: run.maxSteps });
    const result = await loop.runEpisode();
    return { result, hierarchical: run.hierarchical, places: { ...run.places } };
  } finally {
    run.close();
  }
}

describe('remembered places', () => {
  it('waypoints reached in one episode are remembered, then used as sub-goals in the next and after reopening the file', async () => {
    const file = join(dir, 'memory.sqlite');
    let memory = WorldMemory.open({ file });
    // A training seed whose start and goal lie in different rooms (the task graph goes through the door).
    let seed = 40;
    let first = await episode(seed, memory);
    while (!first.hierarchical && seed < 60) first = await episode(++seed, memory);
    expect(first.hierarchical).toBe(true);
    expect(first.result.success).toBe(true);
    expect(first.places.recalled).toBe(0);
    expect(first.places.remembered).toBe(2); // both door waypoints; the final goal ends the episode
    const records = memory.objects(Date.now() / 1000).filter((r) => r.label === 'place');
    expect(records).toHaveLength(2);
    for (const r of records) {
      expect(r.inView).toBe(false);
      expect(r.latent.length).toBe(model.dims.latentSize);
      // The state model's latent is the measured position: the record holds where the robot stood.
      expect(Math.hypot(r.latent[0]! - r.pose.position_m[0], r.latent[1]! - r.pose.position_m[1])).toBeLessThan(0.05);
    }

    const second = await episode(seed, memory);
    expect(second.places.recalled).toBe(2);
    expect(second.result.success).toBe(true);
    memory.close();

    memory = WorldMemory.open({ file });
    const third = await episode(seed, memory);
    expect(third.places.recalled).toBe(2);
    expect(third.result.success).toBe(true);
    memory.close();
  }, 120_000);

  it('running the same seeds again on one memory file logs new episodes instead of failing; each summary says how far the task graph got', async () => {
    const memory = WorldMemory.open({ file: join(dir, 'rerun.sqlite') });
    const opts = { task: 'two-rooms' as const, model, episodes: 1, mode: 'train' as const, firstSeed: 7, hierarchy: 'auto' as const, maxIterations: 4, planTime_ms: 1000, samples: 64, horizon: 6, memory };
    const first = await evaluateTask(opts);
    await evaluateTask(opts);
    expect(memory.episodes().map((e) => e.episodeId)).toEqual(['two-rooms-7', 'two-rooms-7#2']);
    // The summary says how far the task graph got.
    expect(first.perEpisode[0]).toMatchObject({ success: true, hierarchical: true, taskGraph: { succeeded: ['door-near', 'door-far'], rewinds: 0 } });
    const flat = await evaluateTask({ ...opts, hierarchy: 'flat', memory: undefined });
    expect(flat.perEpisode[0]!.taskGraph).toBeUndefined();
    memory.close();
  }, 60_000);

  it('a place is keyed by model and latent size: another model does not get it', () => {
    const memory = WorldMemory.open({ file: ':memory:' });
    const id = placeId('two-rooms', 'model-a', [0.12, 0]);
    rememberPlace(memory, id, Float32Array.of(0.1, 0.2), [0.12, 0]);
    expect(recallPlace(memory, id, 2)).toEqual(Float32Array.of(0.1, 0.2));
    expect(recallPlace(memory, id, 16)).toBeUndefined();
    expect(recallPlace(memory, placeId('two-rooms', 'model-b', [0.12, 0]), 2)).toBeUndefined();
    expect(placeId('two-rooms', 'm', [0.1234, -0.5])).toBe('place:two-rooms:m:0.123,-0.500');
    memory.close();
  });
});
