/**
 * Batch energy terms: guardrail barriers (the shape src/safety supplies)
 * evaluated once per iteration on predicted proprio or latents steer plans
 * out of forbidden regions; goal.proprio targets are scored on predicted
 * proprio; misbehaving terms fail with errors naming the term.
 */
import { describe, expect, it } from 'vitest';
import type { WorldModel } from '../../src/addon/types';
import { CemPlanner } from '../../src/planning/cem';
import { type BatchEnergyTerm, type EnergyBatch, poseGoalTerm } from '../../src/planning/energy';
import { EnergyTermError, PlanConfigError, PlanInputError } from '../../src/planning/errors';
import { MppiPlanner } from '../../src/planning/mppi';
import { RecedingHorizon } from '../../src/planning/receding-horizon';
import { linearModel, pointMass } from './linear-model';

/** A keep-out disc on predicted proprio [N, H, P] (x, y = dims 0, 1): squared penetration summed over steps. */
function keepOutDisc(cx: number, cy: number, radius: number, weight: number): BatchEnergyTerm {
  return {
    name: 'keepOutDisc',
    weight,
    needs: { proprio: true },
    evaluate({ N, H, proprio, proprioDim: P }: EnergyBatch): Float64Array {
      const out = new Float64Array(N);
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let t = 0; t < H; t++) {
          const b = (n * H + t) * P;
          const d = Math.hypot(proprio![b] - cx, proprio![b + 1] - cy);
          const pen = radius - d;
          if (pen > 0) s += pen * pen;
        }
        out[n] = s;
      }
      return out;
    },
  };
}

/** A ceiling on latent dim 1 over the predicted trajectory [N, H, L]. */
function latentCeiling(limit: number, weight: number): BatchEnergyTerm {
  return {
    name: 'latentCeiling',
    weight,
    needs: { trajectory: true },
    evaluate({ N, H, trajectory, latentSize: L }: EnergyBatch): Float64Array {
      const out = new Float64Array(N);
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < H; t++) {
          const over = trajectory![(n * H + t) * L + 1] - limit;
          if (over > 0) out[n] += over * over;
        }
      }
      return out;
    },
  };
}

async function predictedPath(model: WorldModel, actions: Float32Array, H: number, z0: Float32Array): Promise<Float32Array> {
  const r = await model.rollout({ z0, actions, horizon: H, goal: new Float32Array(2), cost: { metric: 'l2', terminalWeight: 0, runningWeight: 0 }, returnProprio: true });
  return r.proprio!;
}

function minDistance(path: Float32Array, cx: number, cy: number): number {
  let m = Infinity;
  for (let i = 0; i < path.length; i += 2) m = Math.min(m, Math.hypot(path[i] - cx, path[i + 1] - cy));
  return m;
}

describe('guardrail barrier terms', () => {
  const model = pointMass(0.1, 1);
  const H = 15;
  const z0 = new Float32Array(2);
  const goal = { latent: Float32Array.from([1, 0]) };
  const energy = { terminalWeight: 1, runningWeight: 0.05, actionMagnitudeWeight: 0.001 };

  it('a keep-out disc on predicted proprio moves the plan around it; without it the plan goes straight through', async () => {
    const plain = new CemPlanner(model, { horizon: H, samples: 256, seed: 4, initStd: 0.7, energy });
    const guarded = new CemPlanner(model, { horizon: H, samples: 256, seed: 4, initStd: 0.7, energy }, [keepOutDisc(0.5, 0, 0.2, 100)]);
    const budget = { maxIterations: 40 };
    const a = await plain.plan({ z0 }, goal, budget);
    const b = await guarded.plan({ z0 }, goal, budget);
    const pathA = await predictedPath(model, a.actions, H, z0);
    const pathB = await predictedPath(model, b.actions, H, z0);
    const inside = minDistance(pathA, 0.5, 0);
    const clearance = minDistance(pathB, 0.5, 0);
    console.log(`keep-out disc r = 0.2: closest approach without barrier ${inside.toFixed(3)}, with barrier ${clearance.toFixed(3)}`);
    expect(inside).toBeLessThan(0.1);
    expect(clearance).toBeGreaterThan(0.19);
    // Still reaches the goal on the far side.
    expect(Math.hypot(pathB[(H - 1) * 2] - 1, pathB[(H - 1) * 2 + 1])).toBeLessThan(0.1);
  });

  it('a barrier on predicted latents (trajectory) holds MPPI under a ceiling the goal lies above', async () => {
    const mppi = new MppiPlanner(
      model,
      { horizon: 10, samples: 256, seed: 2, initStd: 0.5, temperature: 0.005, energy: { terminalWeight: 1 } },
      [latentCeiling(0.3, 1000)],
    );
    const r = await mppi.plan({ z0 }, { latent: Float32Array.from([0, 0.8]) }, { maxIterations: 30 });
    const path = await predictedPath(model, r.actions, 10, z0);
    let top = -Infinity;
    for (let i = 1; i < path.length; i += 2) top = Math.max(top, path[i]);
    expect(top).toBeLessThan(0.32);
    expect(top).toBeGreaterThan(0.25); // pressed against the ceiling, as close to the goal as allowed
  });

  it('a zero-weight term is not evaluated at all', async () => {
    let calls = 0;
    const term: BatchEnergyTerm = { name: 'off', weight: 0, needs: {}, evaluate: ({ N }) => (calls++, new Float64Array(N)) };
    await new CemPlanner(model, { horizon: 3, samples: 8 }, [term]).plan({ z0 }, goal, { maxIterations: 3 });
    expect(calls).toBe(0);
  });

  it('each term runs once per iteration on the whole batch', async () => {
    const seen: number[] = [];
    const term: BatchEnergyTerm = { name: 'count', weight: 1, needs: { proprio: true }, evaluate: ({ N, proprio }) => (seen.push(proprio!.length), new Float64Array(N)) };
    const r = await new CemPlanner(model, { horizon: 4, samples: 16 }, [term]).plan({ z0 }, goal, { maxIterations: 5, tolerance: 0 });
    expect(seen).toEqual(new Array(r.iterations).fill(16 * 4 * 2));
  });
});

describe('proprio goal', () => {
  it('with latent weights 0, goal.proprio alone drives the plan; per-dim weights of 0 ignore a dim', async () => {
    const model = pointMass(0.1, 1);
    const cem = new CemPlanner(model, { horizon: 8, samples: 128, seed: 1, energy: { terminalWeight: 0, actionMagnitudeWeight: 0.01 } });
    const r = await cem.plan(
      { z0: new Float32Array(2) },
      { latent: Float32Array.from([-5, -5]), proprio: { target: Float32Array.from([0.4, 0.6]), weights: Float32Array.from([1, 0]) } },
      { maxIterations: 40 },
    );
    const path = await predictedPath(model, r.actions, 8, new Float32Array(2));
    expect(path[7 * 2]).toBeCloseTo(0.4, 1);
    expect(Math.abs(path[7 * 2 + 1])).toBeLessThan(0.1); // dim 1 ignored: the action penalty keeps it near 0
  });

  it("a goal's latentWeight scales its latent terms: 0 lets goal.proprio alone drive a planner whose latent weights are on", async () => {
    const model = pointMass(0.1, 1);
    const plan = (latentWeight?: number) =>
      new CemPlanner(model, { horizon: 8, samples: 128, seed: 1, energy: { terminalWeight: 1, runningWeight: 0.2, actionMagnitudeWeight: 0.001 } }).plan(
        { z0: new Float32Array(2) },
        { latent: Float32Array.from([-0.5, -0.5]), proprio: { target: Float32Array.from([0.4, 0.6]) }, ...(latentWeight === undefined ? {} : { latentWeight }) },
        { maxIterations: 40 },
      );
    const end = async (latentWeight?: number) => {
      const path = await predictedPath(model, (await plan(latentWeight)).actions, 8, new Float32Array(2));
      return [path[7 * 2]!, path[7 * 2 + 1]!];
    };
    const [off, full, half] = [await end(0), await end(), await end(0.5)];
    console.log(`latentWeight 0 / 1 / 0.5: end ${[off, full, half].map((p) => p.map((v) => v.toFixed(3)).join(",")).join(" / ")}`);
    // Latent at weight 0: the proprio target is reached. Weight 1: the latent goal behind the start (weighted more, running terms too) holds it back.
    expect(Math.hypot(off[0]! - 0.4, off[1]! - 0.6)).toBeLessThan(0.08);
    expect(full[0]).toBeLessThan(0.1);
    expect(half[0]).toBeGreaterThan(full[0]!);
    expect(half[0]).toBeLessThan(off[0]!);
  });

  it('offsetFreeProprio: a proprio head biased at the current state is corrected by measured minus decoded, so the measured state reaches the target', async () => {
    // The head reads x 0.1 too high; the measured state is the latent itself (at the origin).
    const biased = linearModel({ L: 2, A: 2, Wz: [0, 0, 0, 0], Wa: [0.1, 0, 0, 0.1], b: [0, 0], proprio: { P: 2, W: [1, 0, 0, 1], b: [0.1, 0] }, low: [-1, -1], high: [1, 1] });
    const end = async (offsetFreeProprio: boolean, measured?: number[]) => {
      const cem = new CemPlanner(biased, { horizon: 8, samples: 128, seed: 1, offsetFreeProprio, energy: { terminalWeight: 0, actionMagnitudeWeight: 0.001 } });
      const r = await cem.plan(
        { z0: new Float32Array(2), ...(measured ? { proprio: Float32Array.from(measured) } : {}) },
        { latent: new Float32Array(2), latentWeight: 0, proprio: { target: Float32Array.from([0.4, 0.2]) } },
        { maxIterations: 40 },
      );
      const path = await predictedPath(biased, r.actions, 8, new Float32Array(2)); // decoded, so x is 0.1 high
      return [path[7 * 2]! - 0.1, path[7 * 2 + 1]!];
    };
    const plain = await end(false, [0, 0]);
    const corrected = await end(true, [0, 0]);
    // Uncorrected, the decoded x reaches 0.4 with the true x 0.1 short; corrected, the true x does.
    expect(plain[0]).toBeCloseTo(0.3, 1);
    expect(corrected[0]).toBeCloseTo(0.4, 1);
    expect(Math.abs(corrected[0]! - 0.4)).toBeLessThan(Math.abs(plain[0]! - 0.4) - 0.05);
    for (const p of [plain, corrected]) expect(p[1]).toBeCloseTo(0.2, 1); // y was unbiased
    // Without a measured state there is nothing to correct by.
    expect(await end(true)).toEqual(await end(false));
  });

  it('proprioDrift: a steady one-step bias the model does not predict stalls the plan short of a proprio target; the drift estimate takes it there', async () => {
    // The model moves 0.1 per unit action; the system it plans for also slips back by 0.02 in x and 0.01 in y every step.
    const model = pointMass(0.1, 1);
    const slip = [-0.02, -0.01];
    const target = [0.3, 0.2];
    const run = async (proprioDrift?: { gain: number; entries: number }) => {
      const planner = new RecedingHorizon(
        new CemPlanner(model, { horizon: 8, samples: 128, seed: 3, ...(proprioDrift ? { proprioDrift } : {}), energy: { terminalWeight: 0, actionMagnitudeWeight: 0.001, proprioGoal: { metric: 'l2', terminalWeight: 1, runningWeight: 0.2 } } }),
      );
      const x = new Float32Array(2);
      const goal = { latent: new Float32Array(2), latentWeight: 0, proprio: { target: Float32Array.from(target) } };
      for (let tick = 0; tick < 30; tick++) {
        const r = await planner.plan({ z0: x.slice(), proprio: x.slice() }, goal, { maxIterations: 15 });
        for (let j = 0; j < 2; j++) x[j] = x[j]! + 0.1 * r.execute[j]! + slip[j]!;
      }
      return Math.hypot(x[0]! - target[0]!, x[1]! - target[1]!);
    };
    const [plain, drift, xOnly] = [await run(), await run({ gain: 0.5, entries: 2 }), await run({ gain: 0.5, entries: 1 })];
    console.log(`distance to the target after 30 ticks: plain ${plain.toFixed(4)}, drift ${drift.toFixed(4)}, drift on x only ${xOnly.toFixed(4)}`);
    expect(plain).toBeGreaterThan(0.02);
    expect(drift).toBeLessThan(0.01);
    // Only the entries named are estimated: y keeps its stall.
    expect(xOnly).toBeGreaterThan(drift + 0.005);
  });

  it('proprioDrift: reset() forgets the estimate, and without a measured state there is nothing to estimate from', async () => {
    const model = pointMass(0.1, 1);
    const cem = new CemPlanner(model, { horizon: 4, samples: 32, seed: 1, proprioDrift: { gain: 1, entries: 2 }, energy: { terminalWeight: 0 } });
    const goal = { latent: new Float32Array(2), latentWeight: 0, proprio: { target: Float32Array.from([0.2, 0]) } };
    const fresh = new CemPlanner(model, { horizon: 4, samples: 32, seed: 1, energy: { terminalWeight: 0 } });
    const expected = await fresh.plan({ z0: Float32Array.from([0.05, 0]), proprio: Float32Array.from([0.05, 0]) }, goal, { maxIterations: 3 });
    await cem.plan({ z0: new Float32Array(2), proprio: new Float32Array(2) }, goal, { maxIterations: 3 });
    // Measured far from where the first plan's first step was predicted to end: a drift now shapes the plan...
    const drifted = await cem.plan({ z0: Float32Array.from([0.05, 0]), proprio: Float32Array.from([0.05, 0]) }, goal, { maxIterations: 3 });
    cem.reseed(1);
    fresh.reseed(1);
    expect(Array.from(drifted.actions)).not.toEqual(Array.from(expected.actions));
    // ...and after reset() the planner plans as one without the option would.
    cem.reset();
    cem.reseed(1);
    const afterReset = await cem.plan({ z0: Float32Array.from([0.05, 0]), proprio: Float32Array.from([0.05, 0]) }, goal, { maxIterations: 3 });
    expect(Array.from(afterReset.actions)).toEqual(Array.from(expected.actions));
    // A cancelled plan leaves no first-step prediction to measure the next plan against.
    const cancelled = new CemPlanner(model, { horizon: 4, samples: 32, seed: 1, proprioDrift: { gain: 1, entries: 2 }, energy: { terminalWeight: 0 } });
    const abort = new AbortController();
    abort.abort();
    await expect(cancelled.plan({ z0: new Float32Array(2), proprio: new Float32Array(2) }, goal, { maxIterations: 3 }, { signal: abort.signal })).rejects.toThrow(/cancel/i);
    cancelled.reseed(1);
    const afterCancel = await cancelled.plan({ z0: Float32Array.from([0.05, 0]), proprio: Float32Array.from([0.05, 0]) }, goal, { maxIterations: 3 });
    expect(Array.from(afterCancel.actions)).toEqual(Array.from(expected.actions));
    // No state.proprio: plans are those of a planner without the option.
    const a = new CemPlanner(model, { horizon: 4, samples: 32, seed: 2, proprioDrift: { gain: 1, entries: 2 }, energy: { terminalWeight: 0 } });
    const b = new CemPlanner(model, { horizon: 4, samples: 32, seed: 2, energy: { terminalWeight: 0 } });
    for (const z of [[0, 0], [0.3, 0.1]]) {
      const [ra, rb] = [await a.plan({ z0: Float32Array.from(z) }, goal, { maxIterations: 3 }), await b.plan({ z0: Float32Array.from(z) }, goal, { maxIterations: 3 })];
      expect(Array.from(ra.actions)).toEqual(Array.from(rb.actions));
    }
  });

  it('a proprioDrift gain outside (0, 1] is refused', () => {
    for (const gain of [0, -0.5, 1.5]) {
      expect(() => new CemPlanner(pointMass(0.1, 1), { horizon: 2, samples: 8, proprioDrift: { gain, entries: 2 } })).toThrow(/proprioDrift/);
    }
  });

  it('a negative or non-finite latentWeight is refused naming goal.latentWeight', async () => {
    const cem = new CemPlanner(pointMass(0.1, 1), { horizon: 2, samples: 8 });
    for (const latentWeight of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      await expect(cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), latentWeight }, { maxIterations: 1 })).rejects.toThrow(
        expect.objectContaining({ name: 'PlanInputError', field: 'goal.latentWeight' }),
      );
    }
  });

  it('a proprio goal on a model without a proprio head is refused naming goal.proprio', async () => {
    const model = linearModel({ L: 2, A: 2, Wz: [0, 0, 0, 0], Wa: [1, 0, 0, 1], b: [0, 0] });
    const cem = new CemPlanner(model, { horizon: 2, samples: 8 });
    await expect(cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), proprio: { target: new Float32Array(2) } }, { maxIterations: 1 })).rejects.toThrow(
      expect.objectContaining({ name: 'PlanInputError', field: 'goal.proprio' }),
    );
  });
});

describe('pose goal', () => {
  // Proprio = (x, y) of the point mass; "forward kinematics" puts it at z = 0.1 with a yaw of atan2(y, x).
  const fkCalls: number[] = [];
  const fk = (proprio: Float32Array, count: number, P: number): Float64Array => {
    fkCalls.push(count);
    const out = new Float64Array(count * 7);
    for (let i = 0; i < count; i++) {
      const x = proprio[i * P];
      const y = proprio[i * P + 1];
      const half = Math.atan2(y, x) / 2;
      out.set([x, y, 0.1, Math.cos(half), 0, 0, Math.sin(half)], i * 7);
    }
    return out;
  };

  it('poseGoalTerm drives the end-effector to a pose through batched forward kinematics, one fk call per iteration', async () => {
    fkCalls.length = 0;
    const model = pointMass(0.1, 1);
    const cem = new CemPlanner(model, { horizon: 8, samples: 128, seed: 2, energy: { terminalWeight: 0, actionMagnitudeWeight: 0.001 } }, [
      poseGoalTerm({ fk, fkWidth: 7, positionWeight: 1 }),
    ]);
    const r = await cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), pose: { position_m: [-0.3, 0.5, 0.1] } }, { maxIterations: 30 });
    const path = await predictedPath(model, r.actions, 8, new Float32Array(2));
    expect(Math.hypot(path[14] + 0.3, path[15] - 0.5)).toBeLessThan(0.03);
    expect(fkCalls.length).toBe(r.iterations);
    expect(fkCalls.every((c) => c === 128)).toBe(true); // terminal only: one state per sample
  });

  it('a pose goal with no term that scores it is refused naming goal.pose', async () => {
    const cem = new CemPlanner(pointMass(0.1, 1), { horizon: 2, samples: 8 });
    await expect(cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), pose: { position_m: [0, 0, 0] } }, { maxIterations: 1 })).rejects.toThrow(
      /goal\.pose: no energy term of this planner scores a pose goal/,
    );
  });

  it('a malformed pose goal names the field', async () => {
    const cem = new CemPlanner(pointMass(0.1, 1), { horizon: 2, samples: 8 }, [poseGoalTerm({ fk, fkWidth: 7 })]);
    await expect(cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), pose: { position_m: [0, 0] } }, { maxIterations: 1 })).rejects.toThrow(/goal\.pose\.position_m: must be 3 finite numbers/);
    await expect(
      cem.plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2), pose: { position_m: [0, 0, 0], orientation_wxyz: [0, 0, 0, 0] } }, { maxIterations: 1 }),
    ).rejects.toThrow(/goal\.pose\.orientation_wxyz: must be a non-zero quaternion/);
    expect(() => poseGoalTerm({ fk, fkWidth: 3, orientationWeight: 1 })).toThrow(/orientationWeight: needs fkWidth 7/);
  });
});

describe('misbehaving terms', () => {
  const model = pointMass(0.1, 1);
  const plan = (term: BatchEnergyTerm) =>
    new CemPlanner(model, { horizon: 3, samples: 8 }, [term]).plan({ z0: new Float32Array(2) }, { latent: new Float32Array(2) }, { maxIterations: 2 });

  it('a term returning the wrong length fails naming the term and N', async () => {
    await expect(plan({ name: 'short', weight: 1, needs: {}, evaluate: () => new Float64Array(3) })).rejects.toThrow(/energy term 'short'.*length N = 8/);
  });

  it('a term returning NaN fails naming the term and the sample', async () => {
    await expect(plan({ name: 'nan', weight: 1, needs: {}, evaluate: ({ N }) => new Float64Array(N).fill(NaN) })).rejects.toThrow(EnergyTermError);
    await expect(plan({ name: 'nan', weight: 1, needs: {}, evaluate: ({ N }) => new Float64Array(N).fill(NaN) })).rejects.toThrow(/sample 0 is NaN/);
  });

  it('+Infinity (a hard barrier) is allowed: those samples are simply never chosen', async () => {
    const r = await plan({ name: 'hard', weight: 1, needs: { proprio: true }, evaluate: ({ N, H, proprio }) => {
      const out = new Float64Array(N);
      for (let n = 0; n < N; n++) if (proprio![(n * H + H - 1) * 2] > 0) out[n] = Infinity;
      return out;
    } });
    expect(Number.isFinite(r.energy)).toBe(true);
  });

  it('bad term declarations are refused at construction, naming the field', () => {
    const ok = (name: string): BatchEnergyTerm => ({ name, weight: 1, needs: {}, evaluate: ({ N }) => new Float64Array(N) });
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8 }, [ok('a'), ok('a')])).toThrow(/terms\[1\]\.name: 'a' is used twice/);
    expect(() => new CemPlanner(model, { horizon: 2, samples: 8 }, [{ ...ok('w'), weight: -1 }])).toThrow(/terms\[0\]\.weight/);
    const noHead = linearModel({ L: 2, A: 2, Wz: [0, 0, 0, 0], Wa: [1, 0, 0, 1], b: [0, 0] });
    expect(() => new CemPlanner(noHead, { horizon: 2, samples: 8 }, [{ ...ok('p'), needs: { proprio: true } }])).toThrow(PlanConfigError);
    expect(() => new CemPlanner(noHead, { horizon: 2, samples: 8 }, [{ ...ok('p'), needs: { proprio: true } }])).toThrow(/terms\[0\]\.needs\.proprio.*no proprio head/);
  });

  it('PlanInputError is a RangeError that carries the field', () => {
    const e = new PlanInputError('goal.latent', 'x');
    expect(e).toBeInstanceOf(RangeError);
    expect(e.field).toBe('goal.latent');
  });
});
