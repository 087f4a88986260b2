import { seededRandom as rng } from '../helpers/random';
import { describe, expect, it } from 'vitest';
import { capsuleBoxDistance, capsuleOutsideBoxExcess, pointSegmentDistanceSq, segmentAabbDistanceSq, segmentSegmentDistanceSq } from '../../src/robot/geometry';


/** Brute force: dense grid over both segment parameters. */
function bruteSegSeg(p: number[], q: number[], r: number[], s: number[]): number {
  let best = Infinity;
  const M = 300;
  for (let i = 0; i <= M; i++)
    for (let j = 0; j <= M; j += 1) {
      const a = i / M, b = j / M;
      const d = [0, 1, 2].map((k) => p[k]! + (q[k]! - p[k]!) * a - (r[k]! + (s[k]! - r[k]!) * b));
      best = Math.min(best, Math.hypot(d[0]!, d[1]!, d[2]!));
    }
  return best;
}

function bruteSegBox(p: number[], q: number[], h: number[]): number {
  let best = Infinity;
  for (let i = 0; i <= 20000; i++) {
    const t = i / 20000;
    const x = [0, 1, 2].map((k) => Math.max(Math.abs(p[k]! + (q[k]! - p[k]!) * t) - h[k]!, 0));
    best = Math.min(best, Math.hypot(x[0]!, x[1]!, x[2]!));
  }
  return best;
}

describe('distance primitives', () => {
  it('segment-segment distance matches a dense brute force on 60 random pairs, including parallel and degenerate ones', () => {
    const r = rng(4);
    const v = () => [r() * 2 - 1, r() * 2 - 1, r() * 2 - 1];
    for (let k = 0; k < 60; k++) {
      const p = v(), q = k % 10 === 0 ? p.slice() : v(), a = v();
      const b = k % 7 === 0 ? a.map((x, i) => x + (q[i]! - p[i]!)) : v(); // parallel every 7th
      const exact = Math.sqrt(segmentSegmentDistanceSq(p[0]!, p[1]!, p[2]!, q[0]!, q[1]!, q[2]!, a[0]!, a[1]!, a[2]!, b[0]!, b[1]!, b[2]!));
      const brute = bruteSegSeg(p, q, a, b);
      expect(exact).toBeLessThanOrEqual(brute + 1e-12);
      expect(brute - exact).toBeLessThan(0.01);
    }
  });

  it('segment-box distance matches a dense brute force on 200 random cases (zero when the segment pierces the box)', () => {
    const r = rng(5);
    let pierced = 0;
    for (let k = 0; k < 200; k++) {
      const h = [0.1 + r() * 0.4, 0.1 + r() * 0.4, 0.1 + r() * 0.4];
      const p = [r() * 2 - 1, r() * 2 - 1, r() * 2 - 1], q = [r() * 2 - 1, r() * 2 - 1, r() * 2 - 1];
      const exact = Math.sqrt(segmentAabbDistanceSq(p[0]!, p[1]!, p[2]!, q[0]!, q[1]!, q[2]!, h[0]!, h[1]!, h[2]!));
      const brute = bruteSegBox(p, q, h);
      if (brute === 0) pierced++;
      expect(exact).toBeLessThanOrEqual(brute + 1e-12);
      expect(brute - exact).toBeLessThan(2e-4);
    }
    expect(pierced).toBeGreaterThan(10);
  });

  it('point-segment, rotated box and containment give hand-computed values', () => {
    expect(Math.sqrt(pointSegmentDistanceSq(0, 1, 0, -1, 0, 0, 1, 0, 0))).toBeCloseTo(1, 12);
    expect(Math.sqrt(pointSegmentDistanceSq(3, 0, 0, -1, 0, 0, 1, 0, 0))).toBeCloseTo(2, 12);
    // Box 2x2x2 turned 45° about z: its corner reaches x = sqrt(2).
    const c = Math.SQRT1_2;
    const box = { center: [0, 0, 0] as const, halfExtents: [1, 1, 1] as const, rotation: [c, -c, 0, c, c, 0, 0, 0, 1] };
    expect(capsuleBoxDistance(2, 0, 0, 2, 0, 0, 0.1, box)).toBeCloseTo(2 - Math.SQRT2 - 0.1, 12);
    const inside = { center: [0, 0, 0] as const, halfExtents: [1, 1, 1] as const, rotation: [1, 0, 0, 0, 1, 0, 0, 0, 1] };
    expect(capsuleOutsideBoxExcess(0, 0, -0.5, 0, 0, 0.5, 0.2, inside)).toBeCloseTo(-0.3, 12);
    expect(capsuleOutsideBoxExcess(0, 0, -0.5, 0, 0, 0.95, 0.1, inside)).toBeCloseTo(0.05, 12);
  });
});
