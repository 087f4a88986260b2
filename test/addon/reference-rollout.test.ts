// The reference rollout and its energy, computed by hand for a linear
// predictor; the transformer's sliding window; cancellation; dispose.
import { describe, expect, it } from 'vitest';
import { createReferenceModel, predictStep } from '../../src/addon/reference';
import { CancelledError, type RolloutCost, type RolloutRequest } from '../../src/addon/types';
import { ModelDisposedError } from '../../src/addon/validate';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';

// z' = z + W [z; a] + b with W = [[0.5, 0, 1, 0], [0, 0, 0, 2]], b = [0.1, 0]
//   → z'_0 = 1.5 z_0 + a_0 + 0.1,  z'_1 = z_1 + 2 a_1
const linearConfig = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'linear',
  latent: { tokens: 1, dim: 2 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 2, hiddenDims: [] },
  predictor: { kind: 'mlp', hiddenDims: [], residual: true },
  proprio: { dim: 1 },
});
const linearWeights = new Map<string, Float32Array>([
  ['encoder.layers.0.weight', Float32Array.from([1, 0, 0, 1])],
  ['encoder.layers.0.bias', Float32Array.from([0, 0])],
  ['predictor.layers.0.weight', Float32Array.from([0.5, 0, 1, 0, 0, 0, 0, 2])],
  ['predictor.layers.0.bias', Float32Array.from([0.1, 0])],
  ['proprio_head.weight', Float32Array.from([1, -1])],
  ['proprio_head.bias', Float32Array.from([0.5])],
]);
const model = createReferenceModel(linearConfig, linearWeights);

// sample 0: a = [0,1], [1,0], [-1,2] → z1 = [1.6, 1], z2 = [3.5, 1], z3 = [4.35, 5]
// sample 1: zeros                    → z1 = [1.6, -1], z2 = [2.5, -1], z3 = [3.85, -1]
const actions = Float32Array.from([0, 1, 1, 0, -1, 2, 0, 0, 0, 0, 0, 0]);
const z0 = Float32Array.from([1, -1]);
const goal = Float32Array.from([2, 0]);
const none = { terminalWeight: 0, runningWeight: 0 };

async function energies(cost: Partial<RolloutCost>, extra: Partial<RolloutRequest> = {}): Promise<number[]> {
  const r = await model.rollout({ z0, actions, horizon: 3, goal, cost: { metric: 'l1', ...none, ...cost }, ...extra });
  return Array.from(r.energies);
}

describe('reference rollout of a linear predictor (values by hand)', () => {
  it('predicts the trajectory z1..z3 and the final latent', async () => {
    const r = await model.rollout({ z0, actions, horizon: 3, goal, cost: { metric: 'l1', ...none }, returnTrajectory: true, returnFinalLatents: true });
    const expected = [1.6, 1, 3.5, 1, 4.35, 5, 1.6, -1, 2.5, -1, 3.85, -1];
    expect(r.trajectory!.length).toBe(12);
    expected.forEach((v, i) => expect(r.trajectory![i]).toBeCloseTo(v, 5));
    expect(Array.from(r.finalLatents!)).toEqual([Math.fround(4.35), 5, Math.fround(3.85), -1]);
  });

  it('running l1 sums the mean |z_t - g| over t = 1..H', async () => {
    // sample 0: 0.7 + 1.25 + 3.675; sample 1: 0.7 + 0.75 + 1.425
    const e = await energies({ runningWeight: 1 });
    expect(e[0]).toBeCloseTo(5.625, 5);
    expect(e[1]).toBeCloseTo(2.875, 5);
    expect((await energies({ runningWeight: 0.5 }))[0]).toBeCloseTo(2.8125, 5);
  });

  it('running l2 sums the mean squared error', async () => {
    // 0.58 + 1.625 + 15.26125
    expect((await energies({ metric: 'l2', runningWeight: 1 }))[0]).toBeCloseTo(17.46625, 4);
  });

  it('terminal weight applies to z_H only, for l1 and l2', async () => {
    expect((await energies({ terminalWeight: 2 }))[0]).toBeCloseTo(7.35, 5);
    const l2 = await energies({ metric: 'l2', terminalWeight: 1 });
    expect(l2[0]).toBeCloseTo(15.26125, 4);
    expect(l2[1]).toBeCloseTo((1.85 ** 2 + 1) / 2, 5);
  });

  it('action magnitude sums mean_j a_t[j]^2 over t', async () => {
    const e = await energies({ actionMagnitudeWeight: 0.1 });
    expect(e[0]).toBeCloseTo(0.35, 6);
    expect(e[1]).toBe(0);
  });

  it('action rate omits t = 0 without previousAction', async () => {
    // t1: ((1-0)^2 + (0-1)^2)/2 = 1; t2: ((-1-1)^2 + (2-0)^2)/2 = 4
    expect((await energies({ actionRateWeight: 1 }))[0]).toBeCloseTo(5, 6);
  });

  it('action rate includes t = 0 against previousAction', async () => {
    const e = await energies({ actionRateWeight: 0.2, previousAction: Float32Array.from([1, 1]) });
    expect(e[0]).toBeCloseTo(0.2 * 5.5, 6);
    expect(e[1]).toBeCloseTo(0.2 * 1, 6);
  });

  it('bounds add the squared violation beyond low/high, and nothing without boundsWeight', async () => {
    const actionBounds = { low: Float32Array.from([-0.5, -0.5]), high: Float32Array.from([0.5, 1.5]) };
    // t1: 1 > 0.5 by 0.5; t2: -1 < -0.5 by 0.5 and 2 > 1.5 by 0.5 → 3 · 0.25
    expect((await energies({ boundsWeight: 3, actionBounds }))[0]).toBeCloseTo(2.25, 6);
    expect((await energies({ actionBounds }))[0]).toBe(0);
  });

  it('all terms add up', async () => {
    const e = await energies({
      runningWeight: 0.5, terminalWeight: 2, actionMagnitudeWeight: 0.1, actionRateWeight: 0.2, boundsWeight: 3,
      previousAction: Float32Array.from([1, 1]),
      actionBounds: { low: Float32Array.from([-0.5, -0.5]), high: Float32Array.from([0.5, 1.5]) },
    });
    expect(e[0]).toBeCloseTo(13.8625, 4);
    expect(e[1]).toBeCloseTo(0.5 * 2.875 + 2 * 1.425 + 0.2, 5);
  });

  it('returnProprio decodes every predicted step with the proprio head', async () => {
    const r = await model.rollout({ z0, actions, horizon: 3, goal, cost: { metric: 'l1', ...none }, returnProprio: true });
    // p = z_0 - z_1 + 0.5
    [1.1, 3, -0.15, 3.1, 4, 5.35].forEach((v, i) => expect(r.proprio![i]).toBeCloseTo(v, 5));
    expect(Array.from(await model.decodeProprio(Float32Array.from([2, 1, 0, 0]), 2))).toEqual([1.5, 0.5]);
  });

  it('encode applies the encoder to each frame', async () => {
    expect(Array.from(await model.encode(Float32Array.from([1, 2, 3, 4]), 2))).toEqual([1, 2, 3, 4]);
  });
});

describe('reference rollout of a transformer predictor', () => {
  const cfg = parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1', name: 'tf',
    latent: { tokens: 1, dim: 4 }, action: { dim: 2 },
    encoder: { kind: 'mlp', inputDim: 4, hiddenDims: [] },
    predictor: { kind: 'transformer', depth: 1, numHeads: 2, historyLength: 2, actionEmbedDim: 4 },
  });
  const w = initWeights(cfg, 21);
  const tf = createReferenceModel(cfg, w);
  const a = Float32Array.from([0.3, -0.2, 0.1, 0.4, -0.5, 0.2]); // 1 sample, H = 3
  const f64 = (x: Float32Array) => Float64Array.from(x);

  it('slides the window: appends each prediction with its action and drops the oldest frame', async () => {
    const h0 = Float32Array.from([0.1, 0.2, -0.3, 0.4]);
    const h1 = Float32Array.from([-0.2, 0.5, 0.1, 0]);
    const ah = Float32Array.from([0.7, -0.7]);
    const r = await tf.rollout({
      z0: Float32Array.from([...h0, ...h1]), actionHistory: ah, actions: a, horizon: 3, goal: new Float32Array(4),
      cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0 }, returnTrajectory: true,
    });
    const z1 = predictStep(cfg, w, [...h0, ...h1], [...ah, a[0], a[1]], 2);
    const z2 = predictStep(cfg, w, [...h1, ...z1], [a[0], a[1], a[2], a[3]], 2);
    const z3 = predictStep(cfg, w, [...z1, ...z2], [a[2], a[3], a[4], a[5]], 2);
    [...z1, ...z2, ...z3].forEach((v, i) => expect(r.trajectory![i]).toBeCloseTo(v, 6));
    const terminal = z3.reduce((s, v) => s + v * v, 0) / 4;
    expect(r.energies[0]).toBeCloseTo(terminal, 6);
  });

  it('grows the window from one frame, and zeros stand in for an omitted actionHistory', async () => {
    const h0 = Float32Array.from([0.1, 0.2, -0.3, 0.4]);
    const r1 = await tf.rollout({ z0: h0, actions: a.subarray(0, 4), horizon: 2, goal: new Float32Array(4), cost: { metric: 'l1', ...none }, returnTrajectory: true });
    const z1 = predictStep(cfg, w, f64(h0), [a[0], a[1]], 1);
    const z2 = predictStep(cfg, w, [...h0, ...z1], [a[0], a[1], a[2], a[3]], 2);
    [...z1, ...z2].forEach((v, i) => expect(r1.trajectory![i]).toBeCloseTo(v, 6));
    const two = Float32Array.from([...h0, ...h0]);
    const omitted = await tf.rollout({ z0: two, actions: a, horizon: 3, goal: new Float32Array(4), cost: { metric: 'l1', ...none }, returnFinalLatents: true });
    const zeros = await tf.rollout({ z0: two, actionHistory: new Float32Array(2), actions: a, horizon: 3, goal: new Float32Array(4), cost: { metric: 'l1', ...none }, returnFinalLatents: true });
    expect(Array.from(omitted.finalLatents!)).toEqual(Array.from(zeros.finalLatents!));
    const other = await tf.rollout({ z0: two, actionHistory: Float32Array.from([1, -1]), actions: a, horizon: 3, goal: new Float32Array(4), cost: { metric: 'l1', ...none }, returnFinalLatents: true });
    expect(Array.from(other.finalLatents!)).not.toEqual(Array.from(zeros.finalLatents!));
  });
});

describe('cancellation and dispose', () => {
  const big = new Float32Array(400 * 3 * 2).fill(0.1);

  it('an already aborted signal rejects the rollout with CancelledError', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(model.rollout({ z0, actions: big, horizon: 3, goal, cost: { metric: 'l1', ...none }, signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
  });

  it('aborting during a rollout rejects it before every sample is done', async () => {
    const ac = new AbortController();
    const pending = model.rollout({ z0, actions: big, horizon: 3, goal, cost: { metric: 'l1', ...none }, signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(pending).rejects.toThrow(/rollout was cancelled/);
  });

  it('aborting encode rejects with CancelledError', async () => {
    const ac = new AbortController();
    const pending = model.encode(new Float32Array(2 * 300).fill(1), 300, { signal: ac.signal });
    setImmediate(() => ac.abort());
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
  });

  it('every call after dispose() fails with ModelDisposedError', async () => {
    const m = createReferenceModel(linearConfig, linearWeights);
    expect(m.backend).toBe('reference');
    m.dispose();
    await expect(m.encode(Float32Array.from([1, 2]), 1)).rejects.toBeInstanceOf(ModelDisposedError);
    await expect(m.rollout({ z0, actions, horizon: 3, goal, cost: { metric: 'l1', ...none } })).rejects.toBeInstanceOf(ModelDisposedError);
    await expect(m.decodeProprio(z0, 1)).rejects.toBeInstanceOf(ModelDisposedError);
  });
});

describe('createReferenceModel', () => {
  it('copies the weights, so editing the caller arrays later does not change the model', async () => {
    const weights = new Map([...linearWeights].map(([k, v]) => [k, v.slice()] as const));
    const m = createReferenceModel(linearConfig, weights);
    weights.get('encoder.layers.0.weight')!.fill(0);
    expect(Array.from(await m.encode(Float32Array.from([3, 4]), 1))).toEqual([3, 4]);
  });

  it('parses a raw config literal and refuses tensors of the wrong size', () => {
    const raw = { ...linearConfig, proprio: undefined };
    const m = createReferenceModel(raw, linearWeights);
    expect(m.dims).toMatchObject({ latentSize: 2, actionDim: 2, historyLength: 1, proprioDim: 0 });
    const bad = new Map(linearWeights);
    bad.set('predictor.layers.0.weight', new Float32Array(6));
    expect(() => createReferenceModel(linearConfig, bad)).toThrow(/tensor 'predictor.layers.0.weight': expected a Float32Array of 8 values \(shape \[2, 4\]\), found 6 values/);
  });
});
