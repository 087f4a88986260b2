import { describe, expect, it } from 'vitest';
import { guardrailBarrierTerms, type BarrierBatch } from '../../src/safety/barriers';
import { cheapGuardrails } from './fixtures';
import { loadGuardrails } from '../../src/safety/guardrails';

const g = cheapGuardrails();

/** One sample, H steps, proprio rows given directly. */
function batch(rows: number[][], P = 3): BarrierBatch {
  const H = rows.length;
  const proprio = new Float32Array(H * P);
  rows.forEach((r, h) => r.forEach((v, i) => (proprio[h * P + i] = v)));
  return { N: 1, H, A: 3, actions: new Float32Array(H * 3), proprio };
}

describe('barrier cost terms from the same frozen guardrails', () => {
  const terms = guardrailBarrierTerms(g, { stepDuration_s: 0.1 });
  const byName = Object.fromEntries(terms.map((t) => [t.name, t]));

  it('exposes the planner shape: name, weight, needs.proprio, evaluate -> N costs', () => {
    expect(terms.map((t) => t.name)).toEqual(['joint_position_barrier', 'joint_velocity_barrier', 'joint_acceleration_barrier', 'workspace_barrier', 'keep_out_barrier']);
    for (const t of terms) {
      expect(t.needs).toEqual({ proprio: true });
      expect(t.weight).toBe(1);
      expect(t.evaluate(batch([[0, 0, 0]]))).toBeInstanceOf(Float64Array);
    }
  });

  it('position barrier: zero well inside, (p / band)² inside the 0.1 rad band, keeps growing beyond the limit', () => {
    const hi = g.upper[1]!; // 1.75
    const at = (x: number) => byName.joint_position_barrier!.evaluate(batch([[0, x, 0]]))[0]!;
    expect(at(0)).toBe(0);
    expect(at(hi - 0.1)).toBe(0);
    expect(at(hi - 0.05)).toBeCloseTo(0.25, 5);
    expect(at(hi)).toBeCloseTo(1, 5);
    expect(at(hi + 0.1)).toBeCloseTo(4, 5);
  });

  it('velocity barrier uses the guardrail velocity limit (j1: 1.5 rad/s), starting at 80 % of it', () => {
    const cost = (dq: number) => byName.joint_velocity_barrier!.evaluate(batch([[0, 0, 0], [dq, 0, 0]]))[0]!;
    expect(cost(0.1)).toBe(0); // 1 rad/s
    expect(cost(0.12)).toBeCloseTo(0, 5); // exactly at onset
    expect(cost(0.15)).toBeCloseTo(1, 4); // at the limit: ((1.5 - 1.2) / 0.3)²
  });

  it('acceleration barrier uses the guardrail acceleration limit (j1: 8 rad/s²) on second differences', () => {
    const cost = (ddq: number) => byName.joint_acceleration_barrier!.evaluate(batch([[0, 0, 0], [0, 0, 0], [ddq, 0, 0]]))[0]!;
    expect(cost(0.05)).toBe(0); // 5 rad/s²
    expect(cost(0.08)).toBeCloseTo(1, 5); // 8 rad/s², at the limit: ((8 - 6.4) / 1.6)² = 1
    expect(cost(0.096)).toBeCloseTo(4, 4); // 9.6 rad/s²: ((9.6 - 6.4) / 1.6)² = 4
  });

  it('keep-out barrier is zero far from zones and positive when the arm leans into the post; workspace barrier rises as the tool nears the floor', () => {
    expect(byName.keep_out_barrier!.evaluate(batch([[0, 0, 0]]))[0]).toBe(0);
    expect(byName.keep_out_barrier!.evaluate(batch([[0, 0.5, 0.9]]))[0]).toBeGreaterThan(1);
    expect(byName.workspace_barrier!.evaluate(batch([[0, 0, 0]]))[0]).toBe(0);
    expect(byName.workspace_barrier!.evaluate(batch([[0, 1.7, 1.0]]))[0]).toBeGreaterThan(1);
  });

  it('evaluates N samples independently, honours proprioJointColumns, and leaves the weight to the planner', () => {
    const t = guardrailBarrierTerms(g, { stepDuration_s: 0.1, proprioJointColumns: [2, 3, 4], weights: { joint_position_barrier: 10 } })[0]!;
    const proprio = new Float32Array([9, 9, 0, 0, 0, /* sample 2 */ 9, 9, 0, g.upper[1]!, 0]);
    const out = t.evaluate({ N: 2, H: 1, A: 3, actions: new Float32Array(6), proprio });
    expect(out[0]).toBe(0);
    // Unweighted value (the planner multiplies by .weight once): one joint at its limit, ((band)/band)^2 = 1.
    expect(out[1]).toBeCloseTo(1, 4);
    expect(t.weight).toBe(10);
  });

  it('missing or mis-shaped proprio is an error that says what is needed', () => {
    expect(() => byName.joint_position_barrier!.evaluate({ N: 1, H: 2, A: 3, actions: new Float32Array(6) })).toThrow(/batch\.proprio \(\[N, H, P\] joint positions\) is required/);
    expect(() => byName.joint_position_barrier!.evaluate({ N: 1, H: 2, A: 3, actions: new Float32Array(6), proprio: new Float32Array(5) })).toThrow(/not a multiple of N\*H = 2/);
  });

  it('FER terms evaluate a 64 x 8 batch with FK in well under a second', () => {
    const fer = loadGuardrails('config/safety/fer.yaml');
    const ft = guardrailBarrierTerms(fer, { stepDuration_s: 0.05 });
    const N = 64, H = 8;
    const proprio = new Float32Array(N * H * 7);
    for (let s = 0; s < N; s++) for (let h = 0; h < H; h++) for (let i = 0; i < 7; i++) proprio[(s * H + h) * 7 + i] = (fer.lower[i]! + fer.upper[i]!) / 2 + 0.01 * h;
    const t0 = performance.now();
    for (const t of ft) expect(t.evaluate({ N, H, A: 7, actions: new Float32Array(N * H * 7), proprio })).toHaveLength(N);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
