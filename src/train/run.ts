/**
 * A resumable training run on a simulated dataset: the train config file
 * (zod schema below), the epoch loop, per-epoch collapse diagnostics, and the
 * output folder:
 *
 *   config.json + model.safetensors   the checkpoint (src/model/checkpoint.ts),
 *                                     metadata: command, seed, dataset manifest
 *                                     sha256, git commit, epoch, step
 *   optimizer.safetensors             AdamW moments (+ EMA target weights)
 *   train-state.json                  epoch/step reached, config and dataset
 *                                     hashes; written last, so it only ever
 *                                     names a complete epoch
 *   metrics.jsonl                     one line per epoch: losses, rank, std, time
 *
 * Re-running with the same --out resumes after the last complete epoch; a
 * different config or dataset is refused rather than mixed in.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { z } from 'zod';
import { initWeights, loadCheckpointTensors, saveCheckpoint } from '../model/checkpoint';
import { type CheckpointConfig, parseCheckpointConfig } from '../model/config';
import { readSafetensors, writeFileAtomic, writeSafetensors } from '../model/safetensors';
import { MANIFEST_FILE } from '../sim/dataset/format';
import { WindowDataset } from './dataset-batches';
import { JepaTrainer, jepaOptionsSchema, objectiveProblems } from './jepa';
import { loadTrainKernels } from './kernels';

export const trainConfigSchema = z.strictObject({
  /** The checkpoint config (src/model/config.ts) of the model to train. */
  model: z.unknown(),
  /** Camera to train a cnn encoder on (default: model.camera, else the dataset's first); recorded in the checkpoint. */
  camera: z.string().optional(),
  /**
   * How the model's actions relate to the dataset's applied actuator commands:
   * 'applied' as recorded, 'delta' = command minus the joint positions at that
   * step (position-target arms whose model acts in steps from the current joints).
   */
  actions: z.enum(['applied', 'delta']).default('applied'),
  epochs: z.number().int().positive().default(10),
  batchSize: z.number().int().min(2).default(32),
  /** Transitions per training window (T); the rollout uses up to this many steps. */
  windowSteps: z.number().int().positive().default(3),
  /**
   * Dataset steps per model step (1: the dataset's own). A coarse-time-step model for the high level of
   * a hierarchy uses k > 1: every k-th frame, the mean of the k applied commands as its action, and
   * model.frameskip = k × the dataset's frameskip.
   */
  timeStride: z.number().int().positive().default(1),
  /**
   * Start from another checkpoint's tensors: those whose names begin with one of `prefixes` are loaded
   * (same shapes required). With objective.freezeEncoder and proprioWeight 0 the loaded encoder and
   * proprio head stay as they are, so the new model shares that checkpoint's latent space (a high-level
   * model over a low-level model's latents trains only its predictor).
   */
  init: z
    .strictObject({
      checkpoint: z.string().min(1),
      prefixes: z.array(z.string().min(1)).min(1).default(['encoder.']),
    })
    .optional(),
  seed: z.number().int().nonnegative().default(0),
  /** Observations the per-epoch collapse diagnostics encode. */
  diagnosticFrames: z.number().int().min(2).default(512),
  objective: jepaOptionsSchema.default(jepaOptionsSchema.parse({})),
});
export type TrainConfig = z.infer<typeof trainConfigSchema>;

/** Smallest proprio-head error scale (m or rad). */
export const PROPRIO_SCALE_FLOOR = 0.01;

export class TrainConfigError extends Error {
  override name = 'TrainConfigError';
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid train config:\n  - ${problems.join('\n  - ')}`);
  }
}

export class TrainResumeError extends Error {
  override name = 'TrainResumeError';
}

export function parseTrainConfig(json: unknown, file: string): { train: TrainConfig; model: CheckpointConfig } {
  const r = trainConfigSchema.safeParse(json);
  if (!r.success) throw new TrainConfigError(file, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const model = parseCheckpointConfig(r.data.model, `${file} (model)`);
  // The checkpoint records the camera it was trained on, so the runtime feeds the same one.
  if (r.data.camera !== undefined && model.camera !== undefined && model.camera !== r.data.camera) {
    throw new TrainConfigError(file, [`camera: '${r.data.camera}' differs from model.camera '${model.camera}'; give one`]);
  }
  if (r.data.camera !== undefined) model.camera = r.data.camera;
  if (r.data.timeStride > 1 && r.data.actions !== 'applied') {
    throw new TrainConfigError(file, [`timeStride: a stride of ${r.data.timeStride} averages applied commands; it needs actions: 'applied', not '${r.data.actions}'`]);
  }
  const problems = objectiveProblems(model, r.data.objective);
  if (problems.length > 0) throw new TrainConfigError(file, problems);
  return { train: r.data, model };
}

const stateSchema = z.strictObject({
  epoch: z.number().int().nonnegative(),
  step: z.number().int().nonnegative(),
  configSha256: z.string(),
  datasetSha256: z.string(),
});

export interface EpochReport {
  epoch: number;
  epochs: number;
  step: number;
  loss: number;
  prediction: number;
  rollout: number;
  regularizer: number;
  proprio: number;
  effectiveRank: number;
  meanStd: number;
  minStd: number;
  step_ms: number;
  epoch_s: number;
}

export interface TrainProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
}

export interface TrainRunOptions {
  /** One dataset folder, or several of the same task trained on as one. */
  data: string | readonly string[];
  configFile: string;
  out: string;
  /** Recorded in the checkpoint metadata. */
  command: string;
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (r: EpochReport) => void;
}

/**
 * The hash a run records of its train config (and resumes only under): epochs is left out so a finished
 * run can be extended by raising it, and options added later (timeStride, objective.proprioPassThrough,
 * objective.predictedProprioWeight) when at their defaults, so runs from before they existed keep their hash.
 */
export function trainConfigSha256(train: TrainConfig): string {
  const { proprioPassThrough, predictedProprioWeight, ...objective } = train.objective;
  return sha256(JSON.stringify({
    ...train,
    epochs: null,
    timeStride: train.timeStride === 1 ? undefined : train.timeStride,
    objective: { ...objective, proprioPassThrough: proprioPassThrough || undefined, predictedProprioWeight: predictedProprioWeight || undefined },
  }));
}

/**
 * Overwrites the tensors of `weights` whose names begin with one of `prefixes` by those of the
 * checkpoint in `dir`; returns the hash of its weights file (recorded as provenance).
 */
async function initTensors(weights: Map<string, Float32Array>, dir: string, prefixes: readonly string[], configFile: string): Promise<{ sha256: string }> {
  const file = path.join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new TrainConfigError(configFile, [`init.checkpoint: no model.safetensors in '${dir}'`]);
  const st = await readSafetensors(file);
  const problems: string[] = [];
  let loaded = 0;
  for (const [name, value] of weights) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    const entry = st.entries.find((e) => e.name === name);
    if (!entry) {
      problems.push(`init.checkpoint: '${dir}' has no tensor '${name}'`);
      continue;
    }
    const src = st.float32(name);
    if (src.length !== value.length) {
      problems.push(`init.checkpoint: '${name}' has ${src.length} values in '${dir}', the model needs ${value.length}`);
      continue;
    }
    value.set(src);
    loaded++;
  }
  if (loaded === 0 && problems.length === 0) problems.push(`init.prefixes: no tensor of the model begins with ${prefixes.map((p) => `'${p}'`).join(' or ')}`);
  if (problems.length > 0) throw new TrainConfigError(configFile, problems);
  return { sha256: sha256(await fsp.readFile(file)) };
}

function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** Trains (or resumes) and returns the per-epoch reports of this invocation. */
export async function runTraining(o: TrainRunOptions): Promise<EpochReport[]> {
  const configText = await fsp.readFile(o.configFile, 'utf8');
  let configJson: unknown;
  try {
    configJson = JSON.parse(configText);
  } catch (e) {
    throw new TrainConfigError(o.configFile, [`not valid JSON: ${(e as Error).message}`]);
  }
  const { train, model: modelConfig } = parseTrainConfig(configJson, o.configFile);
  const configSha256 = trainConfigSha256(train);
  const dirs = typeof o.data === 'string' ? [o.data] : [...o.data];
  // One dataset: the hash of its manifest; several: the hash of their manifest hashes, in order.
  const manifestHashes = dirs.map((d) => sha256(readFileSync(path.join(d, MANIFEST_FILE))));
  const datasetSha256 = manifestHashes.length === 1 ? manifestHashes[0]! : sha256(manifestHashes.join('\n'));
  const data = await WindowDataset.load(dirs, modelConfig, train.windowSteps, train.camera, train.actions, train.timeStride);

  const stateFile = path.join(o.out, 'train-state.json');
  let startEpoch = 0;
  let weights = initWeights(modelConfig, train.seed);
  const init = train.init ? await initTensors(weights, train.init.checkpoint, train.init.prefixes, o.configFile) : undefined;
  let resume: z.infer<typeof stateSchema> | null = null;
  if (existsSync(stateFile)) {
    let stateJson: unknown;
    try {
      stateJson = JSON.parse(await fsp.readFile(stateFile, 'utf8'));
    } catch (e) {
      throw new TrainResumeError(`${stateFile} is not valid JSON (${(e as Error).message}); use another --out or delete it`);
    }
    const parsed = stateSchema.safeParse(stateJson);
    if (!parsed.success) throw new TrainResumeError(`${stateFile} is not a train state file; use another --out or delete it`);
    resume = parsed.data;
    if (resume.configSha256 !== configSha256) throw new TrainResumeError(`${o.out} was trained with a different config; use another --out or delete the folder to start over`);
    if (resume.datasetSha256 !== datasetSha256) throw new TrainResumeError(`${o.out} was trained on a different dataset (manifest changed); use another --out`);
    weights = await loadCheckpointTensors(o.out, modelConfig);
    startEpoch = resume.epoch;
  }
  const proprioDim = modelConfig.proprio?.dim ?? 0;
  const headLoaded = train.init?.prefixes.some((p) => 'proprio_head.weight'.startsWith(p)) ?? false;
  if (!resume && !headLoaded && train.objective.proprioWeight > 0 && proprioDim > 0) {
    // Start the head at the data's mean: zero weights, bias = mean (joint angles sit far from 0: a
    // Panda's elbow near -2.2 rad). A randomly initialised head starts several std off on every
    // entry, and the quickest way to shrink that error is to shrink the latent: the encoder collapses.
    weights.get('proprio_head.weight')!.fill(0);
    const bias = weights.get('proprio_head.bias')!;
    const { mean } = data.proprioStats();
    for (let j = 0; j < proprioDim; j++) bias[j] = mean[j]!;
  }
  const trainer = new JepaTrainer(loadTrainKernels(), modelConfig, weights, train.objective);
  // Errors are measured in dataset standard deviations, floored at 0.01 (1 cm or 0.01 rad) so an
  // entry that barely moves in the data (a gripper left open) is not blown up into the whole loss.
  if (train.objective.proprioWeight > 0) trainer.setProprioScale(data.proprioStats().std.map((s) => Math.max(s, PROPRIO_SCALE_FLOOR)));
  if (resume) {
    const optFile = path.join(o.out, 'optimizer.safetensors');
    const st = await readSafetensors(optFile);
    const tensors = new Map(st.entries.map((e) => [e.name, st.float32(e.name)]));
    trainer.loadState(tensors, resume.step, optFile);
  }

  const diag = data.sampleObservations(train.diagnosticFrames);
  const B = Math.min(train.batchSize, data.windowCount);
  const reports: EpochReport[] = [];
  for (let epoch = startEpoch; epoch < train.epochs; epoch++) {
    const t0 = performance.now();
    const order = data.epochOrder(train.seed, epoch);
    const batches = Math.max(1, Math.floor(order.length / B));
    const sums = { loss: 0, prediction: 0, rollout: 0, regularizer: 0, proprio: 0, ms: 0 };
    for (let i = 0; i < batches; i++) {
      const stats = trainer.trainStep(data.batch(order.slice(i * B, (i + 1) * B)));
      sums.loss += stats.loss;
      sums.prediction += stats.prediction;
      sums.rollout += stats.rollout;
      sums.regularizer += stats.regularizer;
      sums.proprio += stats.proprio;
      sums.ms += stats.step_ms;
      if (!Number.isFinite(stats.loss)) throw new RangeError(`training diverged at epoch ${epoch + 1}, batch ${i + 1} (loss ${stats.loss}); lower objective.optimizer.lr`);
      o.onProgress?.({ epoch: epoch + 1, epochs: train.epochs, batch: i + 1, batches, loss: stats.loss });
      // Let the event loop breathe between steps (progress output, signals).
      if (i % 8 === 7) await new Promise((r) => setImmediate(r));
    }
    const d = trainer.diagnostics(diag.frames, diag.count);
    const report: EpochReport = {
      epoch: epoch + 1,
      epochs: train.epochs,
      step: trainer.step,
      loss: sums.loss / batches,
      prediction: sums.prediction / batches,
      rollout: sums.rollout / batches,
      regularizer: sums.regularizer / batches,
      proprio: sums.proprio / batches,
      effectiveRank: d.effectiveRank,
      meanStd: d.meanStd,
      minStd: d.minStd,
      step_ms: sums.ms / batches,
      epoch_s: (performance.now() - t0) / 1000,
    };
    await saveCheckpoint(o.out, modelConfig, trainer.model.tensors(), {
      metadata: {
        command: o.command,
        seed: String(train.seed),
        dataset_manifest_sha256: datasetSha256,
        train_config_sha256: configSha256,
        git_commit: gitCommit(),
        epoch: String(epoch + 1),
        step: String(trainer.step),
        ...(init ? { init_checkpoint: train.init!.checkpoint, init_checkpoint_sha256: init.sha256 } : {}),
      },
    });
    await writeSafetensors(path.join(o.out, 'optimizer.safetensors'), trainer.stateTensors(), { step: String(trainer.step) });
    await fsp.appendFile(path.join(o.out, 'metrics.jsonl'), `${JSON.stringify(report)}\n`);
    await writeFileAtomic(stateFile, `${JSON.stringify({ epoch: epoch + 1, step: trainer.step, configSha256, datasetSha256 }, null, 2)}\n`);
    reports.push(report);
    o.onEpoch?.(report);
  }
  return reports;
}
