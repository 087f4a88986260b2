import { describe, expect, it } from 'vitest';
import type { WorldModel } from '../../src/addon/types';
import { initWeights } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';
import { createEmbeddedRun, EmbeddedTaskError, modelFromCheckpoint } from '../../src/runtime/embedded';
import { ControlLoop } from '../../src/runtime/loop';
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

  it('refuses a model whose inputs do not fit the task, saying what each side has', async () => {
    const wrong = parseCheckpointConfig({ ...cnn, encoder: { kind: 'mlp', inputDim: 5, hiddenDims: [] }, latent: { tokens: 1, dim: 8 } });
    const model = await modelFromCheckpoint({ config: wrong, tensors: initWeights(wrong, 1) });
    await expect(createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model, hierarchy: 'auto' })).rejects.toThrow(EmbeddedTaskError);
    await expect(createEmbeddedRun({ task: 'two-rooms', seed: EVAL_SEEDS.start, mode: 'eval', model, hierarchy: 'auto' })).rejects.toThrow(/takes 5-dim state vectors; task 'two-rooms' gives 2 proprio values/);
    model.dispose();
  });
});
