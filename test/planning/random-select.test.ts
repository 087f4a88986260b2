/**
 * The planner's numeric kernels: the seeded PRNG (deterministic streams,
 * uniform and ziggurat-normal moments and tails) and quickselect of the k
 * lowest energies.
 */
import { describe, expect, it } from 'vitest';
import { Random } from '../../src/planning/random';
import { selectSmallest } from '../../src/planning/select';

describe('Random', () => {
  it('the same seed gives the same stream; different seeds differ; reseed restarts', () => {
    const a = new Random(123);
    const b = new Random(123);
    const c = new Random(124);
    const xs = Array.from({ length: 16 }, () => a.nextInt32());
    expect(Array.from({ length: 16 }, () => b.nextInt32())).toEqual(xs);
    expect(Array.from({ length: 16 }, () => c.nextInt32())).not.toEqual(xs);
    a.reseed(123);
    expect(Array.from({ length: 16 }, () => a.nextInt32())).toEqual(xs);
  });

  it('uniforms lie in (0, 1) with mean 1/2 and variance 1/12', () => {
    const r = new Random(7);
    const n = 200_000;
    let s = 0;
    let s2 = 0;
    let outside = 0;
    for (let i = 0; i < n; i++) {
      const u = r.uniform();
      if (!(u > 0 && u < 1)) outside++;
      s += u;
      s2 += u * u;
    }
    expect(outside).toBe(0);
    expect(s / n).toBeCloseTo(0.5, 2);
    expect(s2 / n - (s / n) ** 2).toBeCloseTo(1 / 12, 3);
  });

  it('fillNormal draws standard normals: mean 0, variance 1, no skew, normal tails beyond the ziggurat base', () => {
    const r = new Random(11);
    const n = 1_000_000;
    const x = new Float32Array(n);
    r.fillNormal(x);
    let s = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let beyond2 = 0;
    let beyond35 = 0;
    for (let i = 0; i < n; i++) {
      const v = x[i];
      s += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      if (Math.abs(v) > 2) beyond2++;
      if (Math.abs(v) > 3.5) beyond35++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.005);
    expect(s2 / n).toBeCloseTo(1, 2);
    expect(Math.abs(s3 / n)).toBeLessThan(0.02);
    expect(s4 / n).toBeCloseTo(3, 1);
    expect(beyond2 / n).toBeCloseTo(0.0455, 3); // 2·(1 - Φ(2))
    expect(beyond35 / n).toBeGreaterThan(0.0003); // 2·(1 - Φ(3.5)) = 4.65e-4: the tail sampler works
    expect(beyond35 / n).toBeLessThan(0.0007);
  });

  it('fillNormal (the inlined hot loop) draws exactly the stream normal() draws', () => {
    const a = new Random(99);
    const b = new Random(99);
    const x = new Float32Array(50_000);
    a.fillNormal(x);
    let mismatches = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== Math.fround(b.normal())) mismatches++;
    expect(mismatches).toBe(0);
    expect(a.nextInt32()).toBe(b.nextInt32()); // and leaves the generator in the same state
  });

  it('fillNormal fills only the requested range', () => {
    const x = new Float32Array(10).fill(7);
    new Random(1).fillNormal(x, 3, 6);
    expect(Array.from(x.slice(0, 3))).toEqual([7, 7, 7]);
    expect(Array.from(x.slice(6))).toEqual([7, 7, 7, 7]);
    expect(x.slice(3, 6).every((v) => v !== 7)).toBe(true);
  });
});

describe('selectSmallest', () => {
  it('puts exactly the k smallest keys first, for many random inputs with ties', () => {
    const r = new Random(5);
    for (let trial = 0; trial < 200; trial++) {
      const n = 2 + (r.nextInt32() >>> 0) % 300;
      const k = 1 + (r.nextInt32() >>> 0) % n;
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) keys[i] = Math.floor(r.uniform() * 50); // many ties
      const idx = Int32Array.from({ length: n }, (_, i) => i);
      selectSmallest(idx, keys, n, k);
      const chosen = Array.from(idx.subarray(0, k), (i) => keys[i]).sort((a, b) => a - b);
      const expected = Array.from(keys).sort((a, b) => a - b).slice(0, k);
      expect(chosen).toEqual(expected);
      expect(new Set(idx).size).toBe(n); // still a permutation
    }
  });

  it('handles +Infinity keys (hard barriers)', () => {
    const keys = Float64Array.from([Infinity, 3, Infinity, 1, 2]);
    const idx = Int32Array.from([0, 1, 2, 3, 4]);
    selectSmallest(idx, keys, 5, 2);
    expect(Array.from(idx.subarray(0, 2)).sort()).toEqual([3, 4]);
  });
});
