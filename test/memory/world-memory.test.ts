/**
 * WorldMemory behaviour: confidence decay, out-of-view persistence across
 * reopen, nearest-latent queries, task progress, the episodic log (ordering,
 * payload validation), bad inputs, and transactions of multi-row writes.
 */
import { captureError } from '../helpers/random';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  EventOrderError,
  LatentSizeMismatchError,
  MemoryClosedError,
  MemoryInputError,
  MemoryRecordError,
  UnknownEpisodeError,
  WorldMemory,
  type ObjectSighting,
  type Pose,
} from '../../src/memory/index';

const dir = mkdtempSync(join(tmpdir(), 'jepa-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCount = 0;
const open: WorldMemory[] = [];
afterEach(() => {
  for (const m of open.splice(0)) m.close();
});

function newFile(): string {
  return join(dir, `memory-${++fileCount}.db`);
}

function openMemory(file: string, decay_per_s = Math.LN2 / 10): WorldMemory {
  const memory = WorldMemory.open({ file, confidenceDecayRate_per_s: decay_per_s });
  open.push(memory);
  return memory;
}

const pose = (x: number, frameId = 'world'): Pose => ({ position_m: [x, 2, 3], orientation_xyzw: [0, 0, 0, 1], frameId });

function sighting(id: string, latent: number[], confidence = 0.8, x = 1): ObjectSighting {
  return { id, label: `label-${id}`, latent: new Float32Array(latent), pose: pose(x), confidence };
}


describe('opening a memory file', () => {
  it('runs in WAL mode with synchronous=FULL and foreign keys on', () => {
    const memory = openMemory(newFile());
    expect(memory.durabilitySettings()).toEqual({ journalMode: 'wal', synchronous: 'full', foreignKeys: true });
    expect(memory.schemaVersion).toBe(1);
  });
});

describe('confidence of objects out of view', () => {
  it('stays at the sighting confidence while in view, whatever the query time', () => {
    const memory = openMemory(newFile());
    memory.recordObject(sighting('cup', [1, 0]), 5);
    expect(memory.recall('cup', 500)!.confidence).toBeCloseTo(0.8, 12);
  });

  it('halves every ln2/rate seconds after the last sighting once out of view', () => {
    const memory = openMemory(newFile(), Math.LN2 / 10); // half-life 10 s
    memory.recordFrame({ time_s: 5, seen: [sighting('cup', [1, 0], 0.8)] });
    memory.recordFrame({ time_s: 6, seen: [] }); // cup leaves the view
    const cup = (now: number) => memory.recall('cup', now)!.confidence;
    expect(cup(5)).toBeCloseTo(0.8, 12);
    expect(cup(15)).toBeCloseTo(0.4, 12);
    expect(cup(25)).toBeCloseTo(0.2, 12);
    expect(cup(5 + 3.7)).toBeCloseTo(0.8 * Math.exp((-Math.LN2 / 10) * 3.7), 12);
    // A query earlier than the sighting never raises confidence above the sighting's.
    expect(cup(1)).toBeCloseTo(0.8, 12);
    expect(memory.recall('cup', 15)!.confidenceAtLastSeen).toBeCloseTo(0.8, 6);
  });

  it('does not decay at rate 0', () => {
    const memory = openMemory(newFile(), 0);
    memory.recordFrame({ time_s: 1, seen: [sighting('cup', [1, 0], 0.6)] });
    memory.markOutOfView(['cup']);
    expect(memory.recall('cup', 10_000)!.confidence).toBeCloseTo(0.6, 6);
  });

  it('restores full sighting confidence when the object is seen again', () => {
    const memory = openMemory(newFile(), Math.LN2 / 10);
    memory.recordFrame({ time_s: 0, seen: [sighting('cup', [1, 0], 0.9)] });
    memory.recordFrame({ time_s: 1, seen: [] });
    expect(memory.recall('cup', 10)!.confidence).toBeCloseTo(0.45, 12);
    memory.recordFrame({ time_s: 10, seen: [sighting('cup', [1, 0], 0.7)] });
    const cup = memory.recall('cup', 30)!;
    expect(cup.inView).toBe(true);
    expect(cup.confidence).toBeCloseTo(0.7, 6);
    expect(cup.sightings).toBe(2);
    expect(cup.firstSeen_s).toBe(0);
  });

  it('prune deletes only out-of-view objects whose decayed confidence fell below the bound', () => {
    const memory = openMemory(newFile(), Math.LN2 / 10);
    memory.recordFrame({ time_s: 0, seen: [sighting('old', [1, 0], 0.8), sighting('new', [0, 1], 0.8)] });
    memory.recordFrame({ time_s: 20, seen: [sighting('new', [0, 1], 0.8)] });
    // At t = 20 'old' has 0.2; 'new' is in view.
    expect(memory.prune(20, 0.25)).toEqual(['old']);
    expect(memory.recall('old', 20)).toBeUndefined();
    expect(memory.recall('new', 20)).toBeDefined();
  });
});

describe('objects out of view persist', () => {
  it('keeps out-of-view objects with their last latent, pose and time across close and reopen', () => {
    const file = newFile();
    const first = WorldMemory.open({ file });
    const latentB = new Float32Array([0.1, -2.5, 3e-8, 1234.5]);
    first.recordFrame({ time_s: 1, seen: [sighting('a', [1, 0, 0, 0], 0.9, 0.5), { ...sighting('b', [0], 0.7, -1.25), latent: latentB }] });
    first.recordFrame({ time_s: 2, seen: [sighting('a', [1, 1, 0, 0], 0.9, 0.75)] });
    first.close();

    const memory = openMemory(file, 0);
    const out = memory.objectsOutOfView(3);
    expect(out.map((o) => o.id)).toEqual(['b']);
    const b = out[0];
    expect(b.latent).toBeInstanceOf(Float32Array);
    expect(Array.from(b.latent)).toEqual(Array.from(latentB)); // bit-exact float32 round trip
    expect(b.pose).toEqual({ position_m: [-1.25, 2, 3], orientation_xyzw: [0, 0, 0, 1], frameId: 'world' });
    expect(b.lastSeen_s).toBe(1);
    expect(b.inView).toBe(false);
    expect(b.label).toBe('label-b');
    expect(memory.objectsInView(3).map((o) => o.id)).toEqual(['a']);
    expect(memory.recall('a', 3)!.pose.position_m[0]).toBe(0.75);
    expect(memory.storedLatentSize).toBe(4);
  });

  it('returns copies: mutating a returned latent does not change the memory', () => {
    const memory = openMemory(newFile());
    memory.recordObject(sighting('a', [1, 2]), 0);
    memory.recall('a', 0)!.latent[0] = 99;
    expect(memory.recall('a', 0)!.latent[0]).toBe(1);
  });

  it('stores a slightly non-unit quaternion normalised', () => {
    const memory = openMemory(newFile());
    memory.recordObject({ ...sighting('a', [1]), pose: { position_m: [0, 0, 0], orientation_xyzw: [0, 0, 0.6, 0.8005], frameId: 'base_link' } }, 0);
    const q = memory.recall('a', 0)!.pose.orientation_xyzw;
    expect(Math.hypot(...q)).toBeCloseTo(1, 12);
    expect(q[2] / q[3]).toBeCloseTo(0.6 / 0.8005, 12);
  });

  it('markOutOfView flips only the named objects and reports how many changed', () => {
    const memory = openMemory(newFile());
    memory.recordFrame({ time_s: 0, seen: [sighting('a', [1]), sighting('b', [2]), sighting('c', [3])] });
    expect(memory.markOutOfView(['a', 'c', 'nope'])).toBe(2);
    expect(memory.objectsInView(0).map((o) => o.id)).toEqual(['b']);
  });
});

describe('nearest latent queries', () => {
  function filled(): WorldMemory {
    const memory = openMemory(newFile(), Math.LN2 / 10);
    memory.recordFrame({ time_s: 0, seen: [sighting('x', [1, 0]), sighting('y', [0, 1]), sighting('far', [10, 10])] });
    memory.recordFrame({ time_s: 10, seen: [sighting('z', [0.9, 0.1])] });
    return memory;
  }

  it('orders by Euclidean distance and returns k matches, including objects out of view', () => {
    const matches = filled().nearest(new Float32Array([1, 0]), 3, 10);
    expect(matches.map((m) => m.object.id)).toEqual(['x', 'z', 'y']);
    expect(matches[0].distance).toBe(0);
    expect(matches[1].distance).toBeCloseTo(Math.hypot(0.1, 0.1), 6);
    expect(matches[2].distance).toBeCloseTo(Math.SQRT2, 6);
    expect(matches[0].object.inView).toBe(false);
  });

  it('uses 1 - cosine similarity with the cosine metric, so scale does not matter', () => {
    const matches = filled().nearest(new Float32Array([5, 5]), 2, 10, { metric: 'cosine' });
    expect(matches[0].object.id).toBe('far');
    expect(matches[0].distance).toBeCloseTo(0, 6);
    expect(matches[1].distance).toBeCloseTo(1 - (0.9 + 0.1) / (Math.SQRT2 * Math.hypot(0.9, 0.1)), 6);
  });

  it('restricts to a scope and a minimum decayed confidence', () => {
    const memory = filled();
    expect(memory.nearest(new Float32Array([1, 0]), 5, 10, { scope: 'in-view' }).map((m) => m.object.id)).toEqual(['z']);
    // Out-of-view objects seen at 0 have 0.8 * 0.5 = 0.4 at t = 10.
    expect(memory.nearest(new Float32Array([1, 0]), 5, 10, { minConfidence: 0.5 }).map((m) => m.object.id)).toEqual(['z']);
    expect(memory.objectsOutOfView(10, { minConfidence: 0.39 })).toHaveLength(3);
  });

  it('refuses a query latent of another size', () => {
    const error = captureError(() => filled().nearest(new Float32Array(3), 1, 0));
    expect(error).toBeInstanceOf(LatentSizeMismatchError);
    expect(error.message).toContain('latent has 3 elements');
    expect(error.message).toContain('stores latents of 2 elements');
  });
});

describe('bad inputs are refused with errors naming the call and field', () => {
  it('a Float64Array latent', () => {
    const memory = openMemory(newFile());
    const error = captureError(() =>
      memory.recordObject({ ...sighting('a', [1]), latent: new Float64Array([1, 2]) as unknown as Float32Array }, 0),
    );
    expect(error).toBeInstanceOf(MemoryInputError);
    expect(error.message).toBe('recordObject: sighting.latent: must be a Float32Array, got Float64Array');
  });

  it('a plain array latent', () => {
    const memory = openMemory(newFile());
    const error = captureError(() => memory.recordObject({ ...sighting('a', [1]), latent: [1, 2] as unknown as Float32Array }, 0));
    expect(error.message).toBe('recordObject: sighting.latent: must be a Float32Array, got Array');
  });

  it('a NaN inside the latent, by index', () => {
    const memory = openMemory(newFile());
    const error = captureError(() => memory.recordFrame({ time_s: 0, seen: [sighting('a', [1, 2]), sighting('b', [0, NaN])] }));
    expect(error).toBeInstanceOf(MemoryInputError);
    expect(error.message).toMatch(/^recordFrame: frame\.seen\[1\]\.latent\[1\]: is NaN/);
  });

  it('a NaN pose coordinate', () => {
    const memory = openMemory(newFile());
    const error = captureError(() =>
      memory.recordObject({ ...sighting('a', [1]), pose: { position_m: [0, NaN, 0], orientation_xyzw: [0, 0, 0, 1], frameId: 'world' } }, 0),
    );
    expect(error).toBeInstanceOf(MemoryInputError);
    expect((error as MemoryInputError).field).toBe('sighting.pose.position_m[1]');
    expect(error.message).toContain('NaN');
  });

  it('an infinite quaternion component and a non-unit quaternion', () => {
    const memory = openMemory(newFile());
    const inf = captureError(() =>
      memory.recordObject({ ...sighting('a', [1]), pose: { position_m: [0, 0, 0], orientation_xyzw: [0, 0, Infinity, 1], frameId: 'w' } }, 0),
    ) as MemoryInputError;
    expect(inf.field).toBe('sighting.pose.orientation_xyzw[2]');
    const scaled = captureError(() =>
      memory.recordObject({ ...sighting('a', [1]), pose: { position_m: [0, 0, 0], orientation_xyzw: [0, 0, 0, 2], frameId: 'w' } }, 0),
    ) as MemoryInputError;
    expect(scaled.field).toBe('sighting.pose.orientation_xyzw');
    expect(scaled.message).toContain('has norm 2');
  });

  it('confidence outside [0, 1], negative or NaN time, and an empty id', () => {
    const memory = openMemory(newFile());
    expect((captureError(() => memory.recordObject(sighting('a', [1], 1.5), 0)) as MemoryInputError).field).toBe('sighting.confidence');
    expect((captureError(() => memory.recordObject(sighting('a', [1]), -1)) as MemoryInputError).field).toBe('time_s');
    expect((captureError(() => memory.recordObject(sighting('a', [1]), NaN)) as MemoryInputError).field).toBe('time_s');
    expect((captureError(() => memory.recordObject(sighting('', [1]), 0)) as MemoryInputError).field).toBe('sighting.id');
    expect((captureError(() => memory.objectsOutOfView(NaN)) as MemoryInputError).field).toBe('now_s');
  });

  it('a latent of a different size than the file stores', () => {
    const file = newFile();
    const memory = openMemory(file);
    memory.recordObject(sighting('a', [1, 2, 3]), 0);
    const error = captureError(() => memory.recordObject(sighting('b', [1, 2]), 1));
    expect(error).toBeInstanceOf(LatentSizeMismatchError);
    expect(error.message).toContain(file);
  });

  it('a sighting older than the last one of the same object', () => {
    const memory = openMemory(newFile());
    memory.recordObject(sighting('a', [1]), 5);
    const error = captureError(() => memory.recordObject(sighting('a', [2]), 4)) as MemoryInputError;
    expect(error.message).toContain("object 'a' was last seen at 5 s");
    expect(memory.recall('a', 5)!.latent[0]).toBe(1);
  });

  it('the same id twice in one frame', () => {
    const memory = openMemory(newFile());
    const error = captureError(() => memory.recordFrame({ time_s: 0, seen: [sighting('a', [1]), sighting('a', [2])] })) as MemoryInputError;
    expect(error.field).toBe('frame.seen[1].id');
  });

  it('calls after close()', () => {
    const memory = WorldMemory.open({ file: newFile() });
    memory.close();
    expect(captureError(() => memory.recall('a', 0))).toBeInstanceOf(MemoryClosedError);
  });
});

describe('multi-row writes are transactions', () => {
  it('a frame that fails on its second sighting writes nothing and leaves the view unchanged', () => {
    const memory = openMemory(newFile());
    memory.recordFrame({ time_s: 0, seen: [sighting('a', [1, 1])] });
    // 'c' has a latent of the wrong size: detected inside the transaction, after 'b' was written.
    expect(() => memory.recordFrame({ time_s: 1, seen: [sighting('b', [2, 2]), sighting('c', [3])] })).toThrow(LatentSizeMismatchError);
    expect(memory.recall('b', 1)).toBeUndefined();
    expect(memory.recall('a', 1)!.inView).toBe(true);
  });
});

describe('task progress', () => {
  it('stores, replaces, lists by status and survives reopen', () => {
    const file = newFile();
    const first = WorldMemory.open({ file });
    first.setTaskProgress({ taskId: 'stack', subGoalIndex: 0, status: 'active', attempts: 0, updated_s: 1 });
    first.setTaskProgress({ taskId: 'stack', subGoalIndex: 2, status: 'active', attempts: 3, updated_s: 4 });
    first.setTaskProgress({ taskId: 'wipe', subGoalIndex: 1, status: 'failed', attempts: 5, updated_s: 2 });
    first.close();
    const memory = openMemory(file);
    expect(memory.taskProgress('stack')).toEqual({ taskId: 'stack', subGoalIndex: 2, status: 'active', attempts: 3, updated_s: 4 });
    expect(memory.tasks().map((t) => t.taskId)).toEqual(['stack', 'wipe']);
    expect(memory.tasks('failed').map((t) => t.taskId)).toEqual(['wipe']);
    expect(memory.taskProgress('unknown')).toBeUndefined();
  });

  it('refuses a negative sub-goal index and an unknown status', () => {
    const memory = openMemory(newFile());
    const negative = captureError(() => memory.setTaskProgress({ taskId: 't', subGoalIndex: -1, status: 'active', attempts: 0, updated_s: 0 }));
    expect((negative as MemoryInputError).field).toBe('progress.subGoalIndex');
    const status = captureError(() =>
      memory.setTaskProgress({ taskId: 't', subGoalIndex: 0, status: 'done' as 'active', attempts: 0, updated_s: 0 }),
    );
    expect((status as MemoryInputError).field).toBe('progress.status');
  });
});

describe('episodic log', () => {
  const decision = (iterations: number) => ({ planner: 'cem', energy: 1.5, iterations, action: [0.1, -0.2] });

  it('returns an episode in time order, equal times in call order, and other episodes in append order', () => {
    const memory = openMemory(newFile());
    expect(memory.beginEpisode('e1', 0)).toBe(true);
    expect(memory.beginEpisode('e2', 0, 'second arm')).toBe(true);
    memory.logEvent({ episodeId: 'e1', time_s: 1, kind: 'decision', payload: decision(1) });
    memory.logEvent({ episodeId: 'e2', time_s: 50, kind: 'decision', payload: decision(100) });
    memory.logEvent({ episodeId: 'e1', time_s: 2, kind: 'shield', payload: { verdict: 'clamp', status: 'JOINT_BOUND', joints: ['j2'] } });
    memory.logEvent({ episodeId: 'e1', time_s: 2, kind: 'decision', payload: decision(2) });
    memory.logEvent({ episodeId: 'e2', time_s: 51, kind: 'surprise', payload: { level: 'halt', error: null, zScore: null, tick: 7, reason: 'non-finite' } });

    const e1 = memory.events({ episodeId: 'e1' });
    expect(e1.map((e) => [e.time_s, e.kind])).toEqual([
      [1, 'decision'],
      [2, 'shield'],
      [2, 'decision'],
    ]);
    expect(e1[1].payload).toEqual({ verdict: 'clamp', status: 'JOINT_BOUND', joints: ['j2'] });
    expect(memory.events().map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(memory.events({ episodeId: 'e1', order: 'newest-first', limit: 2 }).map((e) => e.seq)).toEqual([4, 3]);
    expect(memory.events({ kind: 'decision' }).map((e) => e.episodeId)).toEqual(['e1', 'e2', 'e1']);
    expect(memory.episodes()).toEqual([
      { episodeId: 'e1', started_s: 0, note: undefined, events: 3, lastEvent_s: 2 },
      { episodeId: 'e2', started_s: 0, note: 'second arm', events: 2, lastEvent_s: 51 },
    ]);
    // Beginning an existing episode again (resume after restart) changes nothing.
    expect(memory.beginEpisode('e1', 99)).toBe(false);
    expect(memory.episodes()[0].started_s).toBe(0);
  });

  it('refuses an event earlier than the last one of its episode, and one for an unknown episode', () => {
    const file = newFile();
    const memory = openMemory(file);
    memory.beginEpisode('e1', 0);
    memory.logEvent({ episodeId: 'e1', time_s: 5, kind: 'decision', payload: decision(1) });
    const order = captureError(() => memory.logEvent({ episodeId: 'e1', time_s: 4.5, kind: 'decision', payload: decision(2) }));
    expect(order).toBeInstanceOf(EventOrderError);
    expect(order.message).toContain('4.5 is earlier than the last event');
    const unknown = captureError(() => memory.logEvent({ episodeId: 'nope', time_s: 1, kind: 'decision', payload: decision(1) }));
    expect(unknown).toBeInstanceOf(UnknownEpisodeError);
    expect(unknown.message).toContain(file);
    expect(memory.events()).toHaveLength(1);
  });

  it('validates payloads against the schema of their kind', () => {
    const memory = openMemory(newFile());
    memory.beginEpisode('e', 0);
    const field = (event: unknown) => (captureError(() => memory.logEvent(event as never)) as MemoryInputError).field;
    expect(field({ episodeId: 'e', time_s: 1, kind: 'decision', payload: { ...decision(1), energy: NaN } })).toBe('event.payload.energy');
    expect(field({ episodeId: 'e', time_s: 1, kind: 'decision', payload: { ...decision(1), iterations: 1.5 } })).toBe('event.payload.iterations');
    expect(field({ episodeId: 'e', time_s: 1, kind: 'shield', payload: { verdict: 'ok', status: 'X' } })).toBe('event.payload.verdict');
    // A decision payload under the shield kind is refused: the schema follows the kind.
    expect(field({ episodeId: 'e', time_s: 1, kind: 'shield', payload: decision(1) })).toMatch(/^event\.payload/);
    expect(field({ episodeId: 'e', time_s: 1, kind: 'party', payload: {} })).toBe('event.kind');
    const extra = captureError(() =>
      memory.logEvent({ episodeId: 'e', time_s: 1, kind: 'decision', payload: { ...decision(1), energyy: 2 } as never }),
    );
    expect(extra.message).toContain('energyy');
    expect(memory.events()).toHaveLength(0);
  });

  it('refuses to return a stored payload that no longer fits its schema, naming the row', () => {
    const file = newFile();
    const memory = WorldMemory.open({ file });
    memory.beginEpisode('e', 0);
    const seq = memory.logEvent({ episodeId: 'e', time_s: 1, kind: 'decision', payload: decision(1) });
    memory.close();
    const raw = new Database(file);
    raw.prepare(`UPDATE events SET payload = json_set(payload, '$.iterations', -4) WHERE seq = ?`).run(seq);
    raw.close();
    const reopened = openMemory(file);
    const error = captureError(() => reopened.events());
    expect(error).toBeInstanceOf(MemoryRecordError);
    expect(error.message).toContain(`${file}, table events, row seq ${seq}: payload.iterations`);
  });
});
