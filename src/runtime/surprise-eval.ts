/**
 * Surprise on violation-of-expectation clips (`jepa collect --violations`):
 * how well a world model's one-step prediction error tells an impossible
 * event from ordinary motion. For every transition of every clip the model
 * encodes o_t and o_{t+1}, predicts ẑ_{t+1} = pred(z_t, a_t) with the clip's
 * applied action in the model's own action form, and scores
 * error = latentError(ẑ_{t+1}, z_{t+1}). The transition that first shows the
 * violation (its label's frame) is a positive; the transitions before it are
 * negatives, except those into observations between the label's onset and
 * its frame (an object already slightly inside a solid: neither normal nor
 * clearly violating); those after it are left out (the world is broken there).
 * AUROC is reported over all clips and per violation kind, for the raw error
 * and for the monitor's causal z-score (src/perception/surprise).
 */
import type { WorldModel } from '../addon/types';
import { proprioPlanesOf } from '../model/config';
import { encoderFrame } from '../perception/preprocess';
import { auroc, latentError, surpriseScores, type SurpriseMetric } from '../perception/surprise';
import { DatasetReader } from '../sim/dataset/reader';
import { TaskName } from '../sim/tasks/types';
import { recordedModelActions } from './embedded';

export class SurpriseEvalError extends Error {
  override name = 'SurpriseEvalError';
}

export interface SurpriseEvalResult {
  task: string;
  model: string;
  clips: number;
  transitions: number;
  positives: number;
  metric: SurpriseMetric;
  /** AUROC of the raw prediction error over every scored transition. */
  auroc: number;
  /** AUROC of the raw error per violation kind (that kind's positives against every negative). */
  perKind: Record<string, number>;
  /** AUROC of the monitor's causal z-score, transitions after its warm-up only (null when none is positive). */
  aurocZScore: number | null;
  warmupTicks: number;
}

export interface SurpriseEvalOptions {
  metric?: SurpriseMetric;
  warmupTicks?: number;
}

export async function evaluateSurprise(model: WorldModel, clipsDir: string, options: SurpriseEvalOptions = {}): Promise<SurpriseEvalResult> {
  const metric = options.metric ?? 'l2';
  const warmup = options.warmupTicks ?? 4;
  const reader = DatasetReader.open(clipsDir);
  const m = reader.manifest;
  if (m.kind !== 'violations') throw new SurpriseEvalError(`${clipsDir}: holds '${m.kind}', not violation clips (write them with jepa collect --violations)`);
  const task = TaskName.parse(m.task);
  const enc = model.config.encoder;
  const D = model.dims.latentSize;
  const A = model.dims.actionDim;
  const P = m.proprioNames.length;
  if (model.dims.historyLength !== 1) throw new SurpriseEvalError(`model '${model.config.name}': one-step surprise needs a history-1 predictor (has ${model.dims.historyLength})`);
  if (m.actionDim !== A) throw new SurpriseEvalError(`${clipsDir}: clips have ${m.actionDim} action dims, model '${model.config.name}' ${A}`);
  const camera = model.config.camera ?? m.cameras[0]!;
  if (enc.kind !== 'mlp' && !m.cameras.includes(camera)) throw new SurpriseEvalError(`${clipsDir}: no '${camera}' camera (model '${model.config.name}' takes it; clips have ${m.cameras.join(', ')})`);
  if (enc.kind !== 'mlp' && enc.imageSize !== m.imageSize) throw new SurpriseEvalError(`${clipsDir}: frames are ${m.imageSize} px, model '${model.config.name}' takes ${enc.imageSize} px`);
  // A state-vector encoder reads joint positions (the runtime's encoder input) or positions and velocities.
  if (enc.kind === 'mlp' && enc.inputDim !== P && enc.inputDim !== P / 2) throw new SurpriseEvalError(`${clipsDir}: proprio has ${P} values (positions then velocities), model '${model.config.name}' takes ${enc.inputDim}`);
  const inputSize = model.dims.inputSize;
  const raw: number[] = [], labels: boolean[] = [], kinds: string[] = [];
  const zs: number[] = [], zLabels: boolean[] = [];
  let clips = 0;
  for await (const ep of reader.episodes()) {
    const label = ep.labels[0];
    if (!label) continue;
    clips++;
    const n = ep.length + 1;
    let inputs: Float32Array;
    if (enc.kind === 'mlp') {
      inputs = new Float32Array(n * inputSize);
      for (let f = 0; f < n; f++) inputs.set(ep.proprio.subarray(f * P, f * P + inputSize), f * inputSize);
    } else {
      inputs = new Float32Array(n * inputSize);
      const S = m.imageSize;
      const frames = ep.frames[camera]!;
      const planes = proprioPlanesOf(enc);
      for (let f = 0; f < n; f++) {
        const frame = { width: S, height: S, rgb: frames.subarray(f * S * S * 3, (f + 1) * S * S * 3) };
        encoderFrame(frame, ep.proprio.subarray(f * P, (f + 1) * P), planes, S, inputs, f * inputSize, `${clipsDir} clip ${ep.index} frame ${f}`);
      }
    }
    const z = await model.encode(inputs, n);
    const actions = recordedModelActions(task, ep.actions, ep.proprio, ep.length, P, m.controlPeriod_s);
    const errors: number[] = [];
    for (let t = 0; t < ep.length; t++) {
      const r = await model.rollout({
        z0: z.slice(t * D, (t + 1) * D),
        actions: actions.slice(t * A, (t + 1) * A),
        horizon: 1,
        goal: new Float32Array(D),
        cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0 },
        returnFinalLatents: true,
      });
      errors.push(latentError(r.finalLatents!, z.subarray((t + 1) * D, (t + 2) * D), metric));
    }
    const scores = surpriseScores(errors, { warmup_ticks: warmup });
    for (let t = 0; t < ep.length; t++) {
      if (t + 1 > label.frame) break;
      const positive = t + 1 === label.frame;
      if (!positive && label.onset !== undefined && t + 1 >= label.onset) continue;
      raw.push(errors[t]!);
      labels.push(positive);
      kinds.push(positive ? label.kind : '');
      if (t >= warmup) {
        zs.push(scores[t]!);
        zLabels.push(positive);
      }
    }
  }
  if (clips === 0) throw new SurpriseEvalError(`${clipsDir}: no labelled clips`);
  const perKind: Record<string, number> = {};
  for (const kind of new Set(kinds.filter(Boolean))) {
    const keep = labels.map((l, i) => !l || kinds[i] === kind);
    perKind[kind] = auroc(raw.filter((_, i) => keep[i]), labels.filter((_, i) => keep[i]));
  }
  return {
    task,
    model: model.config.name,
    clips,
    transitions: raw.length,
    positives: labels.filter(Boolean).length,
    metric,
    auroc: auroc(raw, labels),
    perKind,
    aurocZScore: zLabels.some(Boolean) && zLabels.some((l) => !l) ? auroc(zs, zLabels) : null,
    warmupTicks: warmup,
  };
}
