import { describe, expect, it } from 'vitest';
import { Shield, type ShieldCommand, type TrajectoryPoint } from '../../src/safety/shield';
import { loadGuardrails } from '../../src/safety/guardrails';
import { cheapGuardrails, rng } from './fixtures';
import { independentCheck, robotCapsules, zoneDistance, type CheckContext } from './independentChecker';
import { cheapSafetyRaw } from './fixtures';

const CASES = 100_000;

/** Flange position of the Franka arm from its Craig modified-DH table (independent of the URDF code path). */
function frankaFlange(q: number[]): [number, number, number] {
  const a = [0, 0, 0, 0.0825, -0.0825, 0, 0.088, 0];
  const dd = [0.333, 0, 0.316, 0, 0.384, 0, 0, 0.107];
  const al = [0, -Math.PI / 2, Math.PI / 2, Math.PI / 2, -Math.PI / 2, Math.PI / 2, Math.PI / 2, 0];
  let T = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
  for (let i = 0; i < 8; i++) {
    const th = i < 7 ? q[i]! : 0;
    const ca = Math.cos(al[i]!), sa = Math.sin(al[i]!), ct = Math.cos(th), st = Math.sin(th);
    const A = [ct, -st, 0, a[i]!, st * ca, ct * ca, -sa, -sa * dd[i]!, st * sa, ct * sa, ca, ca * dd[i]!];
    const o = new Array(12).fill(0);
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 4; c++) o[r * 4 + c] = T[r * 4]! * A[c]! + T[r * 4 + 1]! * A[4 + c]! + T[r * 4 + 2]! * A[8 + c]! + (c === 3 ? T[r * 4 + 3]! : 0);
    T = o;
  }
  return [T[3]!, T[7]!, T[11]!];
}

type Kind = 'smooth' | 'hug' | 'nonfinite' | 'huge' | 'discontinuous' | 'moving' | 'person' | 'invalid' | 'target' | 'through';
const KINDS: Kind[] = ['smooth', 'hug', 'nonfinite', 'huge', 'discontinuous', 'moving', 'person', 'invalid', 'target', 'through', 'through'];

describe('shield fuzz with an independent checker', () => {
  it(`${CASES} seeded random and adversarial commands: every pass/scale/clamp re-verifies with zero violations, every NaN/Inf is halted`, { timeout: 300_000 }, () => {
    const r = rng(20260522);
    let now = 100;
    const shield = new Shield(cheapGuardrails(), { clock: () => now, logCapacity: 64 });
    const lo = [-2.45, -1.75, -2.35], hi = [2.45, 1.75, 2.35];
    const counts: Record<string, number> = {};
    const violations: string[] = [];
    let nonFiniteLetThrough = 0;
    const uni = (a: number, b: number) => a + (b - a) * r();
    // Configurations inside a static zone: a command whose end points are clear
    // but whose path passes through one of these must be caught.
    const staticZones = cheapSafetyRaw().keep_out.filter((z) => !z.moving);
    const inside: number[][] = [];
    while (inside.length < 200) {
      const q = lo.map((l, i) => uni(l, hi[i]!));
      if (robotCapsules(q).caps.some((cap) => staticZones.some((z) => zoneDistance(cap, z) < 0))) inside.push(q);
    }
    let throughCrossing = 0;
    for (let c = 0; c < CASES; c++) {
      const kind = KINDS[Math.floor(r() * KINDS.length)]!;
      now += 0.01;
      // State: mostly inside limits, sometimes moving fast.
      let q0 = lo.map((l, i) => uni(l, hi[i]!));
      let throughEnd: number[] | null = null;
      let throughClear = false;
      if (kind === 'through') {
        const mid = inside[Math.floor(r() * inside.length)]!;
        const delta = mid.map(() => uni(-0.6, 0.6));
        q0 = mid.map((x, i) => Math.min(hi[i]!, Math.max(lo[i]!, x - delta[i]!)));
        throughEnd = mid.map((x, i) => Math.min(hi[i]!, Math.max(lo[i]!, x + delta[i]!)));
        const clear = (q: number[]) => robotCapsules(q).caps.every((cap) => staticZones.every((z) => zoneDistance(cap, z) > 0.03));
        throughClear = clear(q0) && clear(throughEnd);
        if (throughClear) throughCrossing++;
      }
      const v0 = kind === 'discontinuous' ? q0.map(() => uni(-1.5, 1.5)) : q0.map(() => uni(-0.1, 0.1));
      shield.updateJointState({ positions: q0, velocities: v0, stamp_s: now - uni(0, 0.02) });
      const persons: CheckContext['persons'] =
        kind === 'person' || r() < 0.1 ? [{ position_m: [uni(-2, 2), uni(-2, 2), 0], velocity_mps: [uni(-1, 1), uni(-1, 1), 0] }] : [];
      // Through-zone commands park the moving zone far away so the static sweep alone decides.
      const movingZone = kind === 'through' ? { position_m: [0, 5, 5] as [number, number, number], velocity_mps: [0, 0, 0] as [number, number, number], stamp_s: now } : kind === 'moving' || r() < 0.2 ? { position_m: [uni(-0.6, 0.6), uni(-0.6, 0.6), uni(0.1, 0.9)] as [number, number, number], velocity_mps: [uni(-0.5, 0.5), uni(-0.5, 0.5), uni(-0.2, 0.2)] as [number, number, number], stamp_s: now - uni(0, 0.1) } : null;
      const pStamp = now - uni(0, 0.15);
      shield.updatePerception({ stamp_s: pStamp, persons: persons.map((p, i) => ({ id: `p${i}`, ...p })), zones: movingZone ? [{ id: 'drone', position_m: movingZone.position_m, velocity_mps: movingZone.velocity_mps }] : [] });
      // The zone keeps its last update's stamp; the shield predicts from it.
      const zoneStamp = movingZone ? pStamp : null;
      const sharp = r() < 0.5;
      shield.setHoldingSharpObject(sharp);

      const K = kind === 'through' ? 1 : 1 + Math.floor(r() * 5);
      const points: TrajectoryPoint[] = [];
      let t = 0;
      let q = q0.slice();
      for (let k = 0; k < K; k++) {
        t += kind === 'huge' ? uni(0.001, 0.05) : kind === 'through' ? uni(1, 6) : uni(0.02, 0.4);
        const step = kind === 'huge' ? 6 : kind === 'smooth' || kind === 'target' ? 0.15 : 0.5;
        q = q.map((x) => x + uni(-step, step));
        if (kind === 'hug') q = q.map((x, i) => (r() < 0.5 ? (r() < 0.5 ? lo[i]! : hi[i]!) + uni(-0.03, 0.03) : x));
        if (throughEnd) q = throughEnd.slice();
        points.push({ positions: q.slice(), time_from_start_s: t });
      }
      let cmd: ShieldCommand = kind === 'target' ? { kind: 'target', positions: points[0]!.positions, duration_s: points[0]!.time_from_start_s, stamp_s: now } : { kind: 'trajectory', points, stamp_s: now - uni(0, 0.05) };
      let injected = false;
      if (kind === 'nonfinite') {
        const bad = [NaN, Infinity, -Infinity][Math.floor(r() * 3)]!;
        const p = points[Math.floor(r() * points.length)]!;
        if (r() < 0.7) (p.positions as number[])[Math.floor(r() * 3)] = bad;
        else p.time_from_start_s = bad;
        cmd = { kind: 'trajectory', points, stamp_s: now };
        injected = true;
      }
      if (kind === 'invalid') {
        const which = Math.floor(r() * 4);
        if (which === 0) cmd = { kind: 'trajectory', points: [{ positions: [0, 0], time_from_start_s: 0.1 }], stamp_s: now };
        else if (which === 1) cmd = { kind: 'trajectory', points: [{ positions: q0, time_from_start_s: 0 }], stamp_s: now };
        else if (which === 2) cmd = { kind: 'trajectory', points: [...points].reverse(), stamp_s: now };
        else cmd = { kind: 'target', positions: q0, duration_s: -1, stamp_s: now };
      }
      const d = shield.check(cmd);
      const key = `${kind}${throughClear ? '(clear ends)' : ''}:${d.verdict}`;
      counts[key] = (counts[key] ?? 0) + 1;
      if (injected && d.verdict !== 'halt') nonFiniteLetThrough++;
      if (d.verdict === "halt") continue;
      if (kind === 'invalid' && d.reasons.length === 0 && points.length > 1) {
        // A reversed list has decreasing times: must never pass.
        violations.push(`case ${c}: invalid command passed`);
        continue;
      }
      const found = independentCheck(
        { points: d.trajectory!.points as TrajectoryPoint[] },
        { q0, v0, now_s: now, perceptionStamp_s: pStamp, persons, movingZone: movingZone && zoneStamp !== null ? { ...movingZone, stamp_s: zoneStamp } : null, holdingSharp: sharp },
      );
      if (found.length > 0) violations.push(`case ${c} (${kind}, ${d.verdict}, scale ${d.timeScale}): ${found.slice(0, 3).join('; ')}`);
    }
    console.log('fuzz verdicts', JSON.stringify(counts), 'through-zone commands with clear end points:', throughCrossing);
    expect(throughCrossing).toBeGreaterThan(500);
    expect(violations.slice(0, 5)).toEqual([]);
    expect(nonFiniteLetThrough).toBe(0);
    // The fuzz must exercise every outcome, or it proves little.
    const verdicts = new Set(Object.keys(counts).map((k) => k.split(':')[1]));
    expect([...verdicts].sort()).toEqual(['clamp', 'halt', 'pass', 'scale']);
  });

  it('FER subset: 300 random trajectories; what passes keeps joint velocities and, by a separate DH-table FK sampled densely, the flange above the table and inside the workspace', () => {
    const g = loadGuardrails('config/safety/fer.yaml');
    const r = rng(99);
    let now = 10;
    const shield = new Shield(g, { clock: () => now });
    let passed = 0;
    for (let c = 0; c < 300; c++) {
      now += 0.01;
      const q0 = g.lower.map((l, i) => l + (g.upper[i]! - l) * (0.3 + 0.4 * r()));
      shield.updateJointState({ positions: q0, velocities: q0.map(() => 0), stamp_s: now });
      shield.updatePerception({ stamp_s: now, persons: [] });
      const pts: TrajectoryPoint[] = [];
      let q = q0.slice();
      for (let k = 0; k < 3; k++) {
        q = q.map((x, i) => Math.min(g.upper[i]!, Math.max(g.lower[i]!, x + (r() - 0.5) * 0.6)));
        pts.push({ positions: q.slice(), time_from_start_s: 0.3 * (k + 1) });
      }
      const d = shield.check({ kind: 'trajectory', points: pts, stamp_s: now });
      if (d.verdict === "halt") continue;
      passed++;
      // Velocity limits and the table (z >= 0 for every capsule) re-checked plainly.
      const path = [q0, ...d.trajectory!.points.map((p) => [...p.positions])];
      const times = [0, ...d.trajectory!.points.map((p) => p.time_from_start_s)];
      for (let k = 1; k < path.length; k++)
        for (let i = 0; i < 7; i++) expect(Math.abs(path[k]![i]! - path[k - 1]![i]!) / (times[k]! - times[k - 1]!)).toBeLessThanOrEqual(g.maxVelocity[i]! * (1 + 1e-9));
      for (let k = 1; k < path.length; k++)
        for (let s2 = 0; s2 <= 40; s2++) {
          const q = path[k - 1]!.map((x, i) => x + ((path[k]![i]! - x) * s2) / 40);
          const p = frankaFlange(q);
          // Table top at z = 0; the flange carries the hand, so it must stay clear by more than the clearance.
          expect(p[2]).toBeGreaterThan(g.config.collision.clearance_m);
          expect(Math.abs(p[0])).toBeLessThan(0.9);
          expect(Math.abs(p[1])).toBeLessThan(0.9);
          expect(p[2]).toBeLessThan(1.3);
        }
      expect(d.metrics.tcpSpeedBound_mps).toBeLessThanOrEqual(g.config.tool.max_speed_mps);
    }
    expect(passed).toBeGreaterThan(30);
  });
});
