/**
 * The native backend keeps the event loop free: a rollout of >= 200 ms runs
 * in a native worker while a 1 ms interval keeps ticking (largest gap < 10 ms);
 * aborting a rollout rejects quickly with CancelledError; bad arguments are
 * refused with TypeError/RangeError before any native work; concurrent calls
 * on one model give the same results as sequential ones; dispose ends the model.
 * The model runs on one thread so the other core stays free for the event loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNativeModel, type NativeWorldModel } from '../../src/addon/native-model';
import { CancelledError, type RolloutRequest } from '../../src/addon/types';
import { ModelDisposedError } from '../../src/addon/validate';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { addonBuilt, randomArray } from '../native/native-test-helpers';

const config = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'event-loop',
  latent: { tokens: 1, dim: 64 },
  action: { dim: 7 },
  encoder: { kind: 'mlp', inputDim: 10, hiddenDims: [64] },
  predictor: { kind: 'mlp', hiddenDims: [1024, 1024] },
});

function request(N: number, H: number, signal?: AbortSignal): RolloutRequest {
  return {
    z0: randomArray(64, 1),
    actions: randomArray(N * H * 7, 2),
    horizon: H,
    goal: randomArray(64, 3),
    cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0.1 },
    signal,
  };
}

describe.skipIf(!addonBuilt)('native model and the event loop', () => {
  let model: NativeWorldModel;
  let N = 64;
  const H = 32;

  beforeAll(async () => {
    model = await createNativeModel(config, initWeights(config, 7), { threads: 1 });
    // Calibrate N so one rollout takes at least 500 ms now: the test needs >= 200 ms later,
    // even if the machine has become up to 2.5x less loaded in between.
    for (;;) {
      const t0 = performance.now();
      await model.rollout(request(N, H));
      if (performance.now() - t0 >= 500 || N >= 1 << 20) break;
      N *= 2;
    }
  });
  afterAll(() => model?.dispose());

  /** Largest gap between ticks of a 1 ms interval while `work` runs. */
  async function maxTickGap(work: () => Promise<unknown>): Promise<number> {
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 1);
    await new Promise((r) => setTimeout(r, 20));
    maxGap = 0;
    last = performance.now();
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
    return maxGap;
  }

  // The bound is 10 ms; on a machine so loaded that an idle interval already
  // misses by more than that, it is 1.5 × the idle miss. Up to three attempts
  // absorb scheduler noise from other processes: a rollout that ran on the
  // event loop would miss by >= 200 ms in every one.
  it('keeps a 1 ms interval ticking (largest gap < 10 ms) during a rollout of >= 200 ms', async () => {
    const req = request(N, H); // built before timing: filling it is JS work
    const attempts: string[] = [];
    let passed = false;
    let took = 0;
    for (let attempt = 0; attempt < 3 && !passed; attempt++) {
      const busyGap = await maxTickGap(async () => {
        const t0 = performance.now();
        const result = await model.rollout(req);
        took = performance.now() - t0;
        expect(result.energies.length).toBe(N);
      });
      const idleGap = await maxTickGap(() => new Promise((r) => setTimeout(r, took)));
      const bound = Math.max(10, 1.5 * idleGap);
      attempts.push(`rollout ${took.toFixed(0)} ms: gap ${busyGap.toFixed(1)} ms (idle gap ${idleGap.toFixed(1)} ms, bound ${bound.toFixed(1)} ms)`);
      expect(took).toBeGreaterThanOrEqual(200);
      passed = busyGap < bound;
    }
    expect(passed, attempts.join('; ')).toBe(true);
  });

  it('rejects with CancelledError soon after the signal aborts mid-rollout', async () => {
    const controller = new AbortController();
    const t0 = performance.now();
    const pending = model.rollout(request(N * 4, H, controller.signal));
    setTimeout(() => controller.abort(), 30);
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    // A full rollout would take >= 1 s; cancellation lands within a step.
    expect(performance.now() - t0).toBeLessThan(300);
    // The model is still usable afterwards.
    expect((await model.rollout(request(4, 2))).energies.length).toBe(4);
  });

  it('rejects an already-aborted signal without starting', async () => {
    await expect(model.rollout(request(4, 2, AbortSignal.abort()))).rejects.toBeInstanceOf(CancelledError);
  });

  it('refuses bad arguments with TypeError/RangeError before native work', async () => {
    const good = request(8, 4);
    const t0 = performance.now();
    await expect(model.rollout({ ...good, actions: new Float64Array(8 * 4 * 7) as unknown as Float32Array })).rejects.toBeInstanceOf(TypeError);
    await expect(model.rollout({ ...good, actions: new Float32Array(8 * 4 * 7 + 1) })).rejects.toBeInstanceOf(RangeError);
    const nan = randomArray(64, 9);
    nan[17] = Number.NaN;
    await expect(model.rollout({ ...good, goal: nan })).rejects.toThrow(/goal\[17\]/);
    await expect(model.rollout({ ...good, z0: new Float32Array(63) })).rejects.toBeInstanceOf(RangeError);
    await expect(model.encode(new Float32Array(11), 1)).rejects.toBeInstanceOf(RangeError);
    await expect(model.encode(new Float64Array(10) as unknown as Float32Array, 1)).rejects.toBeInstanceOf(TypeError);
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('reads typed arrays that are views at a byte offset', async () => {
    const req = request(6, 3);
    const backing = new Float32Array(req.actions.length + 5);
    backing.set(req.actions, 5);
    const view = backing.subarray(5);
    const [a, b] = await Promise.all([model.rollout(req), model.rollout({ ...req, actions: view })]);
    expect(Array.from(b.energies)).toEqual(Array.from(a.energies));
  });

  it('gives the same energies for concurrent calls on one model as for sequential ones', async () => {
    const r1 = request(64, 8);
    const r2 = { ...request(64, 8), actions: randomArray(64 * 8 * 7, 11) };
    const seq1 = await model.rollout(r1);
    const seq2 = await model.rollout(r2);
    const [c1, c2] = await Promise.all([model.rollout(r1), model.rollout(r2)]);
    expect(Array.from(c1.energies)).toEqual(Array.from(seq1.energies));
    expect(Array.from(c2.energies)).toEqual(Array.from(seq2.energies));
    expect(Array.from(c1.energies)).not.toEqual(Array.from(c2.energies));
  });

  it('throws ModelDisposedError after dispose, while a running call still completes', async () => {
    const m = await createNativeModel(config, initWeights(config, 7), { threads: 1 });
    const running = m.rollout(request(256, 8));
    m.dispose();
    expect((await running).energies.length).toBe(256);
    await expect(m.rollout(request(4, 2))).rejects.toBeInstanceOf(ModelDisposedError);
    expect(() => m.threads).toThrow(ModelDisposedError);
  });
});
