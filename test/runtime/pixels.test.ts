import { describe, expect, it } from 'vitest';
import type { WorldModel } from '../../src/addon/types';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { createEmbeddedRun, EmbeddedTaskError, modelFromCheckpoint } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
import { latentError } from '../../src/perception/surprise';
import { EVAL_SEEDS } from '../../src/sim/tasks/seeds';

const cnn = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'two-rooms-pixels-untrained',
  latent: { tokens: 1, dim: 8 },
  action: { dim: 2 },
  encoder: { kind: 'cnn', imageSize: 32, stages: [{ channels: 8, kernel: 4, stride: 2, padding: 1 }, { channels: 8, kernel: 4, stride: 2, padding: 1 }], groups: 4 },
  predictor: { kind: 'mlp', hiddenDims: [16] },
});

/** Wraps a model to record the encoder inputs it receives. */
function recording(model: WorldModel, inputs: Float32Array[]): WorldModel {
  return Object.assign(Object.create(model) as WorldModel, {
    encode: (frames: Float32Array, count: number) => {
      inputs.push(frames.slice());
      return model.encode(frames, count);
    },
  });
}

/** An untrained cnn of the arm (the joints as 8 planes after the RGB, a proprio head of `proprioDim` outputs) in an embedded run of `task`, its encoder inputs recorded. */
async function armPlanesRun(task: 'reach' | 'pick-place', proprioDim: number) {
  const config = parseCheckpointConfig({
    ...cnn, name: `${task}-planes-untrained`, action: { dim: 8 }, proprio: { dim: proprioDim },
    encoder: { ...cnn.encoder, inChannels: 11, proprioPlanes: 8 },
  });
  const model = await modelFromCheckpoint({ config, tensors: initWeights(config, 1) });
  const inputs: Float32Array[] = [];
  const run = await createEmbeddedRun({ task, seed: EVAL_SEEDS.start, mode: 'eval', model: recording(model, inputs), hierarchy: 'auto', samples: 32, horizon: 4 });
  return { model, run, inputs };
}

describe('pixel models on the embedded simulator', () => {
  it('encode the task camera at the encoder size, and resolve door sub-goals from rendered observations', async () => {
    const model = await modelFromCheckpoint({ config: cnn, tensors: initWeights(cnn, 1) });
    const inputs: Float32Array[] = [];
    const run = await createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model: recording(model, inputs), hierarchy: 'auto', samples: 32, horizon: 4 });
    const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 5 });
    const t = await loop.tick();
    run.close();
    expect(t.subgoal).toBe('door-near');
    // goal frame, the door-near sub-goal frame, this tick's frame: all 3 x 32 x 32 in [0, 1]
    expect(inputs.length).toBeGreaterThanOrEqual(3);
    for (const x of inputs) {
      expect(x.length).toBe(3 * 32 * 32);
      expect(Math.min(...x)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...x)).toBeLessThanOrEqual(1);
    }
    // The goal and the start show the agent in different rooms: the frames differ.
    let diff = 0;
    for (let i = 0; i < inputs[0]!.length; i++) diff += Math.abs(inputs[0]![i]! - inputs[inputs.length - 1]![i]!);
    expect(diff).toBeGreaterThan(1);
    model.dispose();
  });

  it('a cnn with proprio planes gets the frame, then the measured joints tiled (the goal: the goal frame and the goal joints)', async () => {
    const { model, run, inputs } = await armPlanesRun('reach', 8);
    try {
      await new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 5 }).tick();
      const px = 32 * 32;
      expect(inputs.length).toBeGreaterThanOrEqual(2);
      const planesOf = (x: Float32Array) => Array.from({ length: 8 }, (_, c) => {
        const plane = x.subarray((3 + c) * px, (4 + c) * px);
        expect(plane.every((v) => v === plane[0]), `plane ${c} is one value`).toBe(true);
        return plane[0]!;
      });
      for (const x of inputs) expect(x.length).toBe(11 * px);
      // The goal input carries the goal's joints, this tick's the arm's: they differ.
      const [goal, now] = [planesOf(inputs[0]!), planesOf(inputs.at(-1)!)];
      expect(Math.max(...goal.map((g, j) => Math.abs(g - now[j]!)))).toBeGreaterThan(0.05);
    } finally {
      run.close();
      model.dispose();
    }
  });

  it('pick-place on a pixel model whose head also reads out objects: frames scaled from the perception camera, sub-goals on the decoded joints', async () => {
    const { model, run, inputs } = await armPlanesRun('pick-place', 13);
    try {
      const t = await new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 5 }).tick();
      // The first sub-goal is placed from the perceived cube; its goal is the IK joints on the
      // head's first 8 outputs (the planner refuses a proprio target of the wrong length).
      expect(t.subgoal).toBe('above-cube');
      expect(t.iterations).toBeGreaterThan(0);
      for (const x of inputs) expect(x.length).toBe(11 * 32 * 32);
      // No sub-goal is encoded: a pixel model's sub-goal latent is the current one, unscored.
      // Encoded are the goal observation and the tick's frame.
      expect(inputs).toHaveLength(2);
    } finally {
      run.close();
      model.dispose();
    }
  });

  it('a monitor model runs the surprise monitor beside a state model: it encodes each frame, and its one-step prediction is what the next frame is scored against', async () => {
    const state = parseCheckpointConfig({
      format: 'jepa-runtime.checkpoint/1', name: 'pick-place-state-untrained', latent: { tokens: 1, dim: 8 }, action: { dim: 8 }, proprio: { dim: 8 },
      encoder: { kind: 'mlp', inputDim: 8, hiddenDims: [16] }, predictor: { kind: 'mlp', hiddenDims: [16] },
    });
    const model = await modelFromCheckpoint({ config: state, tensors: initWeights(state, 2) });
    const planes = parseCheckpointConfig({ ...cnn, name: 'pick-place-monitor-untrained', action: { dim: 8 }, proprio: { dim: 13 }, encoder: { ...cnn.encoder, inChannels: 11, proprioPlanes: 8 } });
    const monitorBase = await modelFromCheckpoint({ config: planes, tensors: initWeights(planes, 3) });
    const seen: Float32Array[] = [], predicted: Float32Array[] = [];
    const monitor = Object.assign(Object.create(monitorBase) as WorldModel, {
      encode: async (frames: Float32Array, count: number) => {
        const z = await monitorBase.encode(frames, count);
        expect(frames.length).toBe(11 * 32 * 32);
        seen.push(z.slice());
        return z;
      },
      rollout: async (req: Parameters<WorldModel['rollout']>[0]) => {
        const r = await monitorBase.rollout(req);
        predicted.push(r.finalLatents!.slice());
        return r;
      },
    });
    const run = await createEmbeddedRun({ task: 'pick-place', seed: EVAL_SEEDS.start, mode: 'eval', model, monitorModel: monitor, hierarchy: 'auto', samples: 32, horizon: 4 });
    try {
      const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 5 });
      await loop.tick();
      const t2 = await loop.tick();
      expect(seen).toHaveLength(2);
      expect(predicted).toHaveLength(2);
      expect(t2.surprise!.error).toBeCloseTo(latentError(predicted[0]!, seen[1]!, 'l2'), 6);
      // A monitor that does not fit the task is refused before the simulator starts.
      const wide = parseCheckpointConfig({ ...planes, action: { dim: 2 } });
      const wrong = await modelFromCheckpoint({ config: wide, tensors: initWeights(wide, 3) });
      await expect(createEmbeddedRun({ task: 'pick-place', seed: EVAL_SEEDS.start, mode: 'eval', model, monitorModel: wrong, hierarchy: 'auto' })).rejects.toThrow(/has 2 action dims; task 'pick-place' needs 8/);
      wrong.dispose();
    } finally {
      run.close();
      model.dispose();
      monitorBase.dispose();
    }
  });

  it('refuses a model whose inputs do not fit the task, saying what each side has', async () => {
    const wrong = parseCheckpointConfig({ ...cnn, encoder: { kind: 'mlp', inputDim: 5, hiddenDims: [] }, latent: { tokens: 1, dim: 8 } });
    const model = await modelFromCheckpoint({ config: wrong, tensors: initWeights(wrong, 1) });
    await expect(createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model, hierarchy: 'auto' })).rejects.toThrow(EmbeddedTaskError);
    await expect(createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model, hierarchy: 'auto' })).rejects.toThrow(/takes 5-dim state vectors; task 'two-rooms' gives 2 proprio values/);
    model.dispose();
  });
});

describe('latent sub-goals from a coarse-time-step model on the embedded simulator', () => {
  // The task's own time step (25 simulator steps), and one five times as long.
  const low = parseCheckpointConfig({ ...cnn, frameskip: 25 });
  const coarse = parseCheckpointConfig({ ...cnn, name: 'two-rooms-high-untrained', frameskip: 125, predictor: { kind: 'mlp', hiddenDims: [24] } });
  /** A high-level model over `low`'s latents: its encoder tensors copied, its own predictor. */
  const highOver = (low: Map<string, Float32Array>, seed: number) => {
    const t = initWeights(coarse, seed);
    for (const [k, v] of low) if (k.startsWith('encoder.')) t.set(k, v.slice());
    return t;
  };

  it('plans each tick toward the high level’s next predicted latent', async () => {
    const lowTensors = initWeights(low, 1);
    const model = await modelFromCheckpoint({ config: low, tensors: lowTensors });
    const high = await modelFromCheckpoint({ config: coarse, tensors: highOver(lowTensors, 2) });
    const run = await createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model, highModel: high, hierarchy: 'latent', samples: 32, horizon: 4 });
    try {
      expect(run.hierarchical).toBe(true);
      expect(run.stages.plannerName).toBe('latent-subgoals/cem');
      const loop = new ControlLoop(run.stages, { controlPeriod_s: run.period_s, planBudget: { maxIterations: 2 }, timing: 'lockstep', maxSteps: 5 });
      const t = await loop.tick();
      expect(t.subgoal).toBe('latent');
      // low-level iterations plus the high level's 4
      expect(t.iterations).toBeGreaterThan(4);
    } finally {
      run.close();
      model.dispose();
      high.dispose();
    }
  });

  it('refuses a high-level model that is missing, of another time step or encoder, or a task with perceived objects', async () => {
    const lowTensors = initWeights(low, 1);
    const model = await modelFromCheckpoint({ config: low, tensors: lowTensors });
    const sameStep = parseCheckpointConfig({ ...coarse, frameskip: 25 });
    const models = {
      sameStep: await modelFromCheckpoint({ config: sameStep, tensors: highOver(lowTensors, 2) }),
      notMultiple: await modelFromCheckpoint({ config: parseCheckpointConfig({ ...coarse, frameskip: 60 }), tensors: highOver(lowTensors, 2) }),
      otherEncoder: await modelFromCheckpoint({ config: coarse, tensors: initWeights(coarse, 7) }),
      good: await modelFromCheckpoint({ config: coarse, tensors: highOver(lowTensors, 2) }),
    };
    const run = (highModel: WorldModel | undefined, task: 'two-rooms' | 'push-t' = 'two-rooms') =>
      createEmbeddedRun({ task, seed: EVAL_SEEDS.start, mode: 'eval', model, highModel, hierarchy: 'latent', samples: 8, horizon: 2 });
    try {
      await expect(run(undefined)).rejects.toThrow(/hierarchy 'latent' needs a high-level model/);
      await expect(run(models.sameStep)).rejects.toThrow(/frameskip 25 is not a multiple \(> 1\) of the model's 25/);
      await expect(run(models.notMultiple)).rejects.toThrow(/frameskip 60 is not a multiple \(> 1\) of the model's 25/);
      await expect(run(models.otherEncoder)).rejects.toThrow(EmbeddedTaskError);
      await expect(run(models.otherEncoder)).rejects.toThrow(/encodes the goal frame .* away from model .*must share its encoder/);
      await expect(run(models.good, 'push-t')).rejects.toThrow(/task 'push-t' takes its sub-goals from perceived objects/);
    } finally {
      model.dispose();
      for (const m of Object.values(models)) m.dispose();
    }
  });
});
