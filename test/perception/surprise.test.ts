/**
 * Surprise monitor: error metrics, running statistics, events on a
 * stationary stream (none) and on a step change (replan, then slow, then
 * halt), hysteresis and cooldown, non-finite latents, and the offline
 * scoring helpers surpriseScores() and auroc().
 */
import { captureError } from '../helpers/random';
import { describe, expect, it } from 'vitest';
import {
  RunningErrorStats,
  SurpriseInputError,
  SurpriseMonitor,
  auroc,
  latentError,
  surpriseScores,
  type SurpriseConfigInput,
  type SurpriseEvent,
} from '../../src/perception/surprise';

/** Deterministic standard normal samples (Box–Muller over a seeded LCG). */
function gaussian(seed: number): () => number {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

const DIM = 64;

/** A prediction and an observation whose elements differ by N(offset, sigma²) noise. */
function noisyPair(normal: () => number, sigma: number, offset = 0): [Float32Array, Float32Array] {
  const predicted = new Float32Array(DIM);
  const actual = new Float32Array(DIM);
  for (let i = 0; i < DIM; i++) {
    predicted[i] = normal();
    actual[i] = predicted[i] + offset + sigma * normal();
  }
  return [predicted, actual];
}

/** With the l1 metric, zeros vs a constant vector gives exactly that constant as the error. */
function feed(monitor: SurpriseMonitor, error: number, time_s = monitor.tick * 0.1) {
  return monitor.compare(new Float32Array(4), new Float32Array(4).fill(error), time_s);
}

function recorder(monitor: SurpriseMonitor): SurpriseEvent[] {
  const events: SurpriseEvent[] = [];
  monitor.onEvent((e) => events.push(e));
  return events;
}


describe('latentError', () => {
  const p = new Float32Array([1, -2, 0, 3]);
  const a = new Float32Array([0, 0, 0, 1]);
  it('l2 is the mean squared difference', () => expect(latentError(p, a, 'l2')).toBeCloseTo((1 + 4 + 0 + 4) / 4, 12));
  it('l1 is the mean absolute difference', () => expect(latentError(p, a, 'l1')).toBeCloseTo((1 + 2 + 0 + 2) / 4, 12));
  it('cosine is 1 - cos(angle): 0 parallel, 1 orthogonal, 2 opposite', () => {
    expect(latentError(new Float32Array([1, 2]), new Float32Array([2, 4]), 'cosine')).toBeCloseTo(0, 7);
    expect(latentError(new Float32Array([1, 0]), new Float32Array([0, 3]), 'cosine')).toBeCloseTo(1, 12);
    expect(latentError(new Float32Array([1, 1]), new Float32Array([-2, -2]), 'cosine')).toBeCloseTo(2, 7);
    expect(latentError(new Float32Array([1, 0]), new Float32Array([1, 1]), 'cosine')).toBeCloseTo(1 - Math.SQRT1_2, 7);
    expect(latentError(new Float32Array(2), new Float32Array(2), 'cosine')).toBe(0);
    expect(latentError(new Float32Array(2), new Float32Array([0, 1]), 'cosine')).toBe(1);
  });
  it('is NaN when an input holds NaN', () => expect(latentError(new Float32Array([NaN, 0]), a.subarray(0, 2), 'l2')).toBeNaN());
  it('refuses a Float64Array and mismatched lengths', () => {
    const type = captureError(() => latentError(p, new Float64Array(4) as unknown as Float32Array, 'l2'));
    expect(type).toBeInstanceOf(SurpriseInputError);
    expect(type.message).toBe('actual latent must be a Float32Array, got Float64Array');
    expect(captureError(() => latentError(p, new Float32Array(3), 'l1')).message).toContain('got 4 and 3');
  });
});

describe('configuration', () => {
  it('requires thresholds to escalate replan < slow < halt, naming the offending field', () => {
    const error = captureError(() => new SurpriseMonitor({ thresholds: { replan: { zScore: 5 }, slow: { zScore: 5 }, halt: { zScore: 9 } } }));
    expect(error).toBeInstanceOf(SurpriseInputError);
    expect(error.message).toBe(
      'surprise config.thresholds.slow.zScore: slow.zScore (5) must be greater than replan.zScore (5); levels escalate replan < slow < halt',
    );
    const absolute = captureError(
      () => new SurpriseMonitor({ thresholds: { replan: { error: 1 }, slow: { zScore: 8 }, halt: { error: 0.5 } } }),
    );
    expect(absolute.message).toContain('halt.error (0.5) must be greater than replan.error (1)');
  });

  it('refuses a level with neither a z-score nor an error threshold, and unknown keys', () => {
    expect(captureError(() => new SurpriseMonitor({ thresholds: { replan: {}, slow: { zScore: 8 }, halt: { zScore: 9 } } })).message).toContain(
      'thresholds.replan: give zScore, error, or both',
    );
    expect(captureError(() => new SurpriseMonitor({ warmup: 3 } as SurpriseConfigInput)).message).toContain('warmup');
    expect(captureError(() => new SurpriseMonitor({ metric: 'l3' as 'l2' })).message).toContain('surprise config.metric');
  });
});

describe('a stationary stream', () => {
  it('gives z-scores only after warm-up and no events after it', () => {
    const monitor = new SurpriseMonitor({ warmup_ticks: 30 });
    const events = recorder(monitor);
    const normal = gaussian(7);
    let maxZ = -Infinity;
    for (let t = 0; t < 2000; t++) {
      const reading = monitor.compare(...noisyPair(normal, 0.1), t * 0.05);
      if (t < 30) expect(reading.zScore).toBeNull();
      else maxZ = Math.max(maxZ, reading.zScore!);
    }
    expect(events).toEqual([]);
    expect(maxZ).toBeGreaterThan(1); // the stream does vary ...
    expect(maxZ).toBeLessThan(5); // ... but never reaches the default replan threshold
    // Mean squared error of N(0, 0.1²) noise is 0.01; its geometric mean is a little lower (0.01 · (1 - 1/64) to first order).
    expect(monitor.statistics.typicalError).toBeCloseTo(0.01, 3);
    expect(monitor.statistics.warm).toBe(true);
  });
});

describe('a step change', () => {
  it('fires replan at the step, then slow and halt as the error grows', () => {
    const monitor = new SurpriseMonitor({ warmup_ticks: 30, thresholds: { replan: { zScore: 5 }, slow: { zScore: 8 }, halt: { zScore: 12 } } });
    const events = recorder(monitor);
    const normal = gaussian(11);
    for (let t = 0; t < 300; t++) monitor.compare(...noisyPair(normal, 0.1), t);
    expect(events).toEqual([]);
    // A constant offset d adds d² to the mean squared error (0.01 without it): pick offsets for z ≈ 6.5, 10 and 25.
    const offsetFor = (z: number) => Math.sqrt(monitor.errorAtZ(z) - 0.01);
    const offsets = [6.5, 10, 25].map(offsetFor);
    const readings = offsets.map((d, i) => monitor.compare(...noisyPair(normal, 0.1, d), 300 + i));
    expect(events.map((e) => e.level)).toEqual(['replan', 'slow', 'halt']);
    expect(events.map((e) => e.tick)).toEqual([300, 301, 302]);
    expect(events[0].time_s).toBe(300);
    expect(events[0].zScore!).toBeGreaterThan(5);
    expect(events[0].zScore!).toBeLessThan(8);
    expect(events[2].reason).toBe('z-score');
    expect(readings.map((r) => r.activeLevel)).toEqual(['replan', 'slow', 'halt']);
    expect(readings[1].event).toBe(events[1]);
  });

  it('learns a lasting new regime as normal: the active level clears after a while', () => {
    const monitor = new SurpriseMonitor({ warmup_ticks: 20, emaAlpha: 0.05, thresholds: { replan: { zScore: 5 }, slow: { zScore: 50 }, halt: { zScore: 100 } } });
    const events = recorder(monitor);
    const normal = gaussian(3);
    for (let t = 0; t < 200; t++) monitor.compare(...noisyPair(normal, 0.1), t);
    // The error triples for good (offset² = 0.02 on top of 0.01).
    for (let t = 200; t < 600; t++) monitor.compare(...noisyPair(normal, 0.1, Math.sqrt(0.02)), t);
    expect(events.map((e) => [e.level, e.tick])).toEqual([['replan', 200]]);
    expect(monitor.activeLevel).toBeNull();
    expect(monitor.statistics.typicalError).toBeCloseTo(0.03, 2);
  });
});

describe('hysteresis and cooldown', () => {
  // Warm-up errors alternate 1.0 / 1.2 (log-std ≈ 0.09); emaAlpha tiny so the statistics stay put. Default replan z = 5.
  function warmed(config: SurpriseConfigInput = {}): { monitor: SurpriseMonitor; events: SurpriseEvent[]; errorAtZ: (z: number) => number } {
    const monitor = new SurpriseMonitor({ metric: 'l1', warmup_ticks: 20, emaAlpha: 0.001, ...config });
    for (let t = 0; t < 20; t++) feed(monitor, t % 2 === 0 ? 1.0 : 1.2);
    const events = recorder(monitor);
    return { monitor, events, errorAtZ: (z) => monitor.errorAtZ(z) };
  }

  it('a reading hovering around the threshold fires once, not every time it crosses', () => {
    const { monitor, events, errorAtZ } = warmed({ clearFraction: 0.5, cooldown_ticks: 0 });
    // Replan at z = 5; clear below z = 2.5. Alternate z = 5.5 and z = 3: crosses the threshold 20 times.
    for (let i = 0; i < 40; i++) feed(monitor, errorAtZ(i % 2 === 0 ? 5.5 : 3));
    expect(events.map((e) => e.level)).toEqual(['replan']);
    expect(monitor.activeLevel).toBe('replan');
  });

  it('clears once readings fall below clearFraction × threshold, then fires again on a new spike', () => {
    const { monitor, events, errorAtZ } = warmed({ clearFraction: 0.5, cooldown_ticks: 0 });
    feed(monitor, errorAtZ(6));
    expect(feed(monitor, errorAtZ(3)).activeLevel).toBe('replan'); // above 0.5 × 5: still held
    expect(feed(monitor, errorAtZ(2)).activeLevel).toBeNull(); // below: cleared
    feed(monitor, errorAtZ(6));
    expect(events.map((e) => e.tick)).toEqual([20, 23]);
  });

  it('within cooldown a repeated replan waits; after it, a still-high reading fires', () => {
    const { monitor, events, errorAtZ } = warmed({ clearFraction: 0.5, cooldown_ticks: 10 });
    feed(monitor, errorAtZ(6)); // tick 20 fires
    feed(monitor, errorAtZ(0)); // tick 21 clears
    for (let tick = 22; tick < 30; tick++) expect(feed(monitor, errorAtZ(6)).event).toBeUndefined();
    expect(feed(monitor, errorAtZ(6)).event?.tick).toBe(30);
    expect(events.map((e) => e.tick)).toEqual([20, 30]);
  });

  it('cooldown never delays halt', () => {
    const { monitor, events, errorAtZ } = warmed({ clearFraction: 0.5, cooldown_ticks: 1000 });
    feed(monitor, errorAtZ(20));
    feed(monitor, errorAtZ(0));
    feed(monitor, errorAtZ(20));
    expect(events.map((e) => [e.level, e.tick])).toEqual([
      ['halt', 20],
      ['halt', 22],
    ]);
  });

  it('one spike barely moves the statistics (it is clipped before being folded in)', () => {
    const { monitor, errorAtZ } = warmed({ emaAlpha: 0.05 });
    const before = monitor.statistics;
    feed(monitor, errorAtZ(40));
    const after = monitor.statistics;
    // Clipped at z = 3: the mean moves by alpha × 3 std at most.
    expect(after.mean - before.mean).toBeCloseTo(0.05 * 3 * before.std, 9);
  });
});

describe('absolute error thresholds', () => {
  it('fire during warm-up, when no z-score exists yet', () => {
    const monitor = new SurpriseMonitor({
      metric: 'l1',
      warmup_ticks: 50,
      thresholds: { replan: { zScore: 4, error: 2 }, slow: { zScore: 8, error: 5 }, halt: { zScore: 16, error: 10 } },
    });
    const events = recorder(monitor);
    feed(monitor, 1);
    feed(monitor, 6);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ level: 'slow', error: 6, zScore: null, tick: 1, reason: 'error' });
  });
});

describe('non-finite latents', () => {
  it('fire a halt event every time and leave the statistics untouched', () => {
    const monitor = new SurpriseMonitor({ warmup_ticks: 5, cooldown_ticks: 100 });
    const events = recorder(monitor);
    for (let t = 0; t < 10; t++) feed(monitor, 1 + 0.1 * (t % 3));
    const before = monitor.statistics;
    const bad = new Float32Array([0, NaN, 0, 0]);
    const reading = monitor.compare(new Float32Array(4), bad, 1.5);
    monitor.compare(new Float32Array([Infinity, 0, 0, 0]), new Float32Array(4), 1.6);
    expect(reading).toMatchObject({ level: 'halt', activeLevel: 'halt', zScore: null, tick: 10 });
    expect(reading.error).toBeNaN();
    expect(events.map((e) => [e.level, e.reason, e.tick, e.time_s])).toEqual([
      ['halt', 'non-finite', 10, 1.5],
      ['halt', 'non-finite', 11, 1.6],
    ]);
    expect(monitor.statistics).toEqual(before);
  });

  it('a non-finite time is refused', () => {
    expect(captureError(() => feed(new SurpriseMonitor(), 1, NaN))).toBeInstanceOf(SurpriseInputError);
  });
});

describe('expect / observe', () => {
  it('scores an observation against the prediction stored one tick earlier, and only once', () => {
    const monitor = new SurpriseMonitor({ metric: 'l1' });
    expect(monitor.observe(new Float32Array([1, 1]), 0)).toBeUndefined(); // first tick: nothing predicted yet
    const predicted = new Float32Array([0, 0]);
    monitor.expect(predicted);
    predicted[0] = 100; // the monitor keeps its own copy
    expect(monitor.hasPendingPrediction).toBe(true);
    expect(monitor.observe(new Float32Array([1, 3]), 0.1)?.error).toBe(2);
    expect(monitor.hasPendingPrediction).toBe(false);
    expect(monitor.observe(new Float32Array([1, 3]), 0.2)).toBeUndefined();
    expect(monitor.tick).toBe(1);
  });

  it('reset() drops the pending prediction and the active level', () => {
    const monitor = new SurpriseMonitor({ metric: 'l1', thresholds: { replan: { error: 1 }, slow: { error: 2 }, halt: { error: 3 } } });
    feed(monitor, 5);
    monitor.expect(new Float32Array(4));
    expect(monitor.activeLevel).toBe('halt');
    monitor.reset();
    expect(monitor.activeLevel).toBeNull();
    expect(monitor.hasPendingPrediction).toBe(false);
    expect(monitor.statistics.samples).toBe(1);
    monitor.reset({ statistics: true });
    expect(monitor.statistics.samples).toBe(0);
  });
});

describe('listeners', () => {
  it('unsubscribe stops delivery; a throwing listener does not keep others from the event', () => {
    const monitor = new SurpriseMonitor({ metric: 'l1', cooldown_ticks: 0, thresholds: { replan: { error: 1 }, slow: { error: 2 }, halt: { error: 3 } } });
    const seen: string[] = [];
    monitor.onEvent(() => {
      throw new Error('listener broke');
    });
    const off = monitor.onEvent((e) => seen.push(e.level));
    expect(() => feed(monitor, 1.5)).toThrow('listener broke');
    off();
    feed(monitor, 0);
    expect(() => feed(monitor, 2.5)).toThrow('listener broke');
    expect(seen).toEqual(['replan']);
  });
});

describe('surpriseScores', () => {
  it('matches the z-scores the monitor computes, with 0 during warm-up and Infinity for a non-finite error', () => {
    const config = { warmup_ticks: 5, emaAlpha: 0.2 };
    // Dyadic values: exact in the Float32Array latents the monitor is fed.
    const errors = [1, 1.25, 0.875, 1.125, 1.0, 1.0625, 3, 0.9375, NaN, 1.125];
    const scores = surpriseScores(errors, config);
    const monitor = new SurpriseMonitor({ ...config, metric: 'l1' });
    errors.forEach((e, i) => {
      if (Number.isNaN(e)) return;
      const z = feed(monitor, e).zScore;
      expect(scores[i]).toBe(z ?? 0);
    });
    expect(Array.from(scores.subarray(0, 5))).toEqual([0, 0, 0, 0, 0]);
    expect(scores[6]).toBeGreaterThan(5); // the error 3 among errors near 1
    expect(scores[8]).toBe(Infinity);
  });

  it('hand-checked, linear scale: after a warm-up of 1 and 3, the error 4 has z = (4 - 2) / √2', () => {
    const scores = surpriseScores([1, 3, 4], { scale: 'linear', warmup_ticks: 2, minStdFraction: 0 });
    expect(scores[2]).toBeCloseTo(2 / Math.SQRT2, 12);
  });

  it('hand-checked, log scale: after a warm-up of e⁰ and e², the error e³ has z = (3 - 1) / √2', () => {
    const scores = surpriseScores([1, Math.E ** 2, Math.E ** 3], { warmup_ticks: 2, logEpsilon: 1e-300 });
    expect(scores[2]).toBeCloseTo(2 / Math.SQRT2, 12);
  });

  it('refuses a negative error', () => {
    expect(captureError(() => surpriseScores([1, -0.5])).message).toBe('errors[1] is -0.5; prediction errors are >= 0');
  });

  it('separates clips with a violation from clips without one (AUROC 1 on a clear synthetic set)', () => {
    const normal = gaussian(5);
    const clipScores: number[] = [];
    const labels: boolean[] = [];
    for (let clip = 0; clip < 40; clip++) {
      const violation = clip % 2 === 0;
      const errors = Array.from({ length: 60 }, (_, t) => 1 + 0.05 * normal() + (violation && t >= 40 && t < 45 ? 1 : 0));
      clipScores.push(Math.max(...surpriseScores(errors, { warmup_ticks: 20 })));
      labels.push(violation);
    }
    expect(auroc(clipScores, labels)).toBe(1);
  });

  it('refuses non-numbers, naming the index', () => {
    expect(captureError(() => surpriseScores([1, '2' as unknown as number])).message).toBe('errors[1] must be a number, got string');
  });
});

describe('RunningErrorStats', () => {
  it('hands over from the warm-up sample variance to the moving variance', () => {
    const stats = new RunningErrorStats({ scale: 'linear', warmup_ticks: 3, emaAlpha: 0.5, minStdFraction: 0, updateClipZ: 100 });
    [2, 4, 6].forEach((e) => stats.update(e));
    expect(stats.mean).toBe(4);
    expect(stats.std).toBeCloseTo(2, 12); // sample variance of 2, 4, 6 is 4
    stats.update(8); // delta 4: mean 4 + 0.5·4 = 6; variance (1 - 0.5)(4 + 0.5·16) = 6
    expect(stats.mean).toBe(6);
    expect(stats.std).toBeCloseTo(Math.sqrt(6), 12);
  });
});

describe('auroc', () => {
  it('hand-computed: 3 of 4 positive/negative pairs ordered correctly gives 0.75', () => {
    expect(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBe(0.75);
  });
  it('perfect and inverted rankings give 1 and 0', () => {
    expect(auroc([1, 2, 3, 4], [false, false, true, true])).toBe(1);
    expect(auroc([4, 3, 2, 1], [false, false, true, true])).toBe(0);
  });
  it('ties count one half', () => {
    expect(auroc([1, 1, 1, 1], [0, 1, 0, 1])).toBe(0.5);
    // pairs (pos, neg): (0.5, 0.5) tie = 0.5; (0.5, 0.1) = 1; (0.9, 0.5) = 1; (0.9, 0.1) = 1 → 3.5 / 4
    expect(auroc([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0])).toBe(0.875);
    // pos {2, 2, 3} vs neg {1, 2}: (2,1)=1 (2,2)=.5 twice, (2,1)=1, (3,1)=1, (3,2)=1 → 5 / 6
    expect(auroc([2, 1, 2, 3, 2], [1, 0, 1, 1, 0])).toBeCloseTo(5 / 6, 15);
  });
  it('accepts ±Infinity scores and ranks them at the ends', () => {
    expect(auroc([Infinity, -Infinity, 0], [1, 0, 0])).toBe(1);
  });
  it('refuses NaN scores, bad labels, unequal lengths and a single class', () => {
    expect(captureError(() => auroc([NaN, 1], [0, 1])).message).toBe('auroc: scores[0] must be a number (±Infinity allowed), got NaN');
    expect(captureError(() => auroc([1, 2], [0, 2])).message).toBe('auroc: labels[1] must be true/false or 1/0');
    expect(captureError(() => auroc([1], [0, 1])).message).toBe('auroc: labels has 2 entries but scores has 1');
    expect(captureError(() => auroc([1, 2], [1, 1])).message).toContain('got 2 positive and 0 negative');
  });
});
