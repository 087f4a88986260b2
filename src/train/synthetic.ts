/**
 * Synthetic world for training tests and quick starts: a point mass in the
 * square [-1, 1]² pushed by a 2-D force. State (x, y, vx, vy); action
 * a ∈ [-1, 1]²; per step v ← 0.7·v + 0.3·a, p ← p + 0.25·v, reflected at the
 * walls. Observations are the state vector (4 values) or a single-channel
 * image of a Gaussian blob at the position (imageSize², values in [0, 1]).
 * Sequences are laid out time-major, as the trainer (./jepa) expects.
 */
import { Xoshiro128 } from '../model/checkpoint';

export interface SequenceBatch {
  /** Sequences in the batch. */
  batch: number;
  /** Transitions per sequence (T); frames hold T + 1 observations. */
  steps: number;
  inputSize: number;
  actionDim: number;
  /** [T + 1, batch, inputSize], time-major. */
  frames: Float32Array;
  /** [T, batch, actionDim]: actions[t] is applied after frames[t]. */
  actions: Float32Array;
  /** [T + 1, batch, proprioSize]: the proprio vector of each frame, when known (proprio-head loss). */
  proprio?: Float32Array;
  proprioSize?: number;
}

export interface PointMassOptions {
  /** Observations as images of this side length instead of state vectors. */
  imageSize?: number;
}

function render(x: number, y: number, size: number, out: Float32Array, offset: number): void {
  const sigma = size / 6;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const px = ((c + 0.5) / size) * 2 - 1;
      const py = ((r + 0.5) / size) * 2 - 1;
      const d2 = ((px - x) ** 2 + (py - y) ** 2) * (size / 2) ** 2;
      out[offset + r * size + c] = Math.exp(-d2 / (2 * sigma * sigma));
    }
  }
}

export function pointMassBatch(batch: number, steps: number, seed: number, options: PointMassOptions = {}): SequenceBatch {
  const rng = new Xoshiro128(seed);
  const inputSize = options.imageSize ? options.imageSize * options.imageSize : 4;
  const frames = new Float32Array((steps + 1) * batch * inputSize);
  const actions = new Float32Array(steps * batch * 2);
  for (let b = 0; b < batch; b++) {
    let x = rng.uniform(-0.9, 0.9);
    let y = rng.uniform(-0.9, 0.9);
    let vx = rng.uniform(-0.5, 0.5);
    let vy = rng.uniform(-0.5, 0.5);
    for (let t = 0; t <= steps; t++) {
      const o = (t * batch + b) * inputSize;
      if (options.imageSize) render(x, y, options.imageSize, frames, o);
      else frames.set([x, y, vx, vy], o);
      if (t === steps) break;
      const ax = rng.uniform(-1, 1);
      const ay = rng.uniform(-1, 1);
      actions.set([ax, ay], (t * batch + b) * 2);
      vx = 0.7 * vx + 0.3 * ax;
      vy = 0.7 * vy + 0.3 * ay;
      x += 0.25 * vx;
      y += 0.25 * vy;
      if (x > 1) [x, vx] = [2 - x, -vx];
      if (x < -1) [x, vx] = [-2 - x, -vx];
      if (y > 1) [y, vy] = [2 - y, -vy];
      if (y < -1) [y, vy] = [-2 - y, -vy];
    }
  }
  return { batch, steps, inputSize, actionDim: 2, frames, actions };
}
