/**
 * Data collection: runs a task with a random or scripted policy and writes
 * the episodes (uint8 frames, proprioception, applied actions, episode
 * boundaries, goal observations) to a chunked, crash-safe, resumable
 * dataset (src/sim/dataset). `jepa collect` calls `collect` with options it
 * validated through CollectOptionsSchema and draws progress from onProgress.
 * Episode i uses seed `seed + i`, so a resumed run continues exactly where
 * an interrupted one stopped.
 */
import { z } from 'zod';
import { SimEnv } from './env';
import { Rng } from './rng';
import { DatasetWriter, type DatasetIdentity, type RecordedEpisode } from './dataset/writer';
import type { Manifest, ViolationLabel } from './dataset/format';
import { checkSeed, SplitMode } from './tasks/seeds';
import { TaskName, type Policy } from './tasks/types';

export const PolicyKind = z.enum(['random', 'scripted']);
export type PolicyKind = z.infer<typeof PolicyKind>;

export const CollectOptionsSchema = z.object({
  task: TaskName,
  episodes: z.number().int().positive(),
  policy: PolicyKind.default('scripted'),
  /** Output directory (created; resumed when it already holds this dataset). */
  out: z.string().min(1),
  /** Seed of episode 0; episode i uses seed + i, all inside the split's seed range. */
  seed: z.number().int().nonnegative().default(0),
  split: SplitMode.default('train'),
  imageSize: z.number().int().min(8).max(512).default(64),
  /**
   * Render at this side (px) and scale the frames to imageSize as the runtime scales its camera's
   * frame to the model's input; default: render at imageSize. For a model whose runtime camera
   * renders larger than its input (pick-place perception reads 192-px frames).
   */
  renderSize: z.number().int().min(8).max(1024).optional(),
  episodesPerChunk: z.number().int().positive().default(8),
  /** Cap on control steps per episode (defaults to the task's limit). */
  maxSteps: z.number().int().positive().optional(),
  /** Also record the task's object positions (TaskSpec.objects) beside every observation. */
  objects: z.boolean().default(false),
});
export type CollectOptions = z.input<typeof CollectOptionsSchema>;

export interface CollectProgress {
  episodesDone: number;
  episodesTotal: number;
  /** Control steps recorded in this run (not counting resumed episodes). */
  stepsThisRun: number;
  chunksWritten: number;
  lastEpisodeSuccess?: boolean;
}

export interface CollectResult {
  manifest: Manifest;
  episodesThisRun: number;
  stepsThisRun: number;
  resumedFrom: number;
  elapsed_s: number;
}

function toF32(a: ArrayLike<number>, b?: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length + (b?.length ?? 0));
  out.set(Array.from(a));
  if (b !== undefined) out.set(Array.from(b), a.length);
  return out;
}

export function makePolicy(env: SimEnv, kind: PolicyKind, seed: number): Policy {
  return kind === 'scripted' ? env.task.scriptedPolicy(env.sim, env.goal ?? {}) : env.task.randomPolicy(new Rng(seed, 99));
}

/** Hooks that let a caller change the world during an episode (violation-of-expectation clips). */
export interface EpisodeHooks {
  /** Called before action t is applied; may edit the simulator. Returns labels for events it caused. */
  beforeStep?(env: SimEnv, t: number): ViolationLabel[] | void;
  /** Called after step t (observation t + 1 exists); may return labels for events seen in it. */
  afterStep?(env: SimEnv, t: number): ViolationLabel[] | void;
  /** Called after the episode, to undo model edits. */
  after?(env: SimEnv): void;
  /** Overrides the policy's action for step t when it returns one. */
  action?(env: SimEnv, t: number, proposed: Float64Array): Float64Array;
}

/** Runs one episode from `seed` and records it. */
export function recordEpisode(
  env: SimEnv,
  index: number,
  seed: number,
  mode: SplitMode,
  policyKind: PolicyKind,
  maxSteps: number,
  options: { stopOnSuccess: boolean; hooks?: EpisodeHooks; objects?: boolean },
): RecordedEpisode {
  const { observation, goal } = env.reset(seed, mode);
  const policy = makePolicy(env, policyKind, seed);
  const cams = env.cameraNames;
  const frames: Record<string, Uint8Array[]> = Object.fromEntries(cams.map((c) => [c, [observation.images[c].rgb]]));
  const proprio = [toF32(observation.jointPositions, observation.jointVelocities)];
  const objectState = () => toF32(env.task.spec.objects.flatMap((b) => env.sim.bodyPosition(b)));
  const objects = options.objects ? [objectState()] : undefined;
  const actions: Float32Array[] = [];
  const labels: ViolationLabel[] = [];
  let success = env.isSuccess();
  try {
    for (let t = 0; t < maxSteps && !(options.stopOnSuccess && success); t++) {
      const l = options.hooks?.beforeStep?.(env, t);
      if (l) labels.push(...l);
      let a = policy.act(env.sim);
      if (options.hooks?.action) a = options.hooks.action(env, t, a);
      const r = env.step(a);
      actions.push(toF32(r.applied));
      for (const c of cams) frames[c].push(r.observation.images[c].rgb);
      proprio.push(toF32(r.observation.jointPositions, r.observation.jointVelocities));
      objects?.push(objectState());
      success = r.success;
      const after = options.hooks?.afterStep?.(env, t);
      if (after) labels.push(...after);
    }
  } finally {
    options.hooks?.after?.(env);
  }
  return {
    index,
    seed,
    success,
    goal: goal.state,
    labels,
    frames,
    proprio,
    ...(objects ? { objects } : {}),
    actions,
    goalFrames: Object.fromEntries(cams.map((c) => [c, goal.observation.images[c].rgb])),
    goalProprio: toF32(goal.observation.jointPositions, goal.observation.jointVelocities),
  };
}

export function datasetIdentity(env: SimEnv, o: z.output<typeof CollectOptionsSchema>, kind: Manifest['kind'], maxSteps: number): DatasetIdentity {
  const range = env.sim.ctrlRange();
  return {
    format: 'jepa-sim-dataset',
    version: 1,
    kind,
    task: o.task,
    policy: o.policy,
    split: o.split,
    seed: o.seed,
    episodesRequested: o.episodes,
    episodesPerChunk: o.episodesPerChunk,
    imageSize: o.imageSize,
    ...(o.renderSize !== undefined && o.renderSize !== o.imageSize ? { renderSize: o.renderSize } : {}),
    cameras: [...env.cameraNames],
    frameskip: env.task.spec.frameskip,
    controlPeriod_s: env.task.spec.frameskip * env.sim.timestep,
    maxSteps,
    proprioNames: [...env.task.spec.proprioJoints.map((j) => `${j}.position`), ...env.task.spec.proprioJoints.map((j) => `${j}.velocity`)],
    ...(o.objects ? { objectNames: env.task.spec.objects.flatMap((b) => [`${b}.x`, `${b}.y`, `${b}.z`]) } : {}),
    actionDim: env.sim.nu,
    actionRange: Array.from({ length: env.sim.nu }, (_, i) => [range[2 * i], range[2 * i + 1]] as [number, number]),
  };
}

/** Shared loop of collect() and collectViolations(). */
export async function runCollection(
  options: CollectOptions,
  kind: Manifest['kind'],
  onProgress: ((p: CollectProgress) => void) | undefined,
  episodeFn: (env: SimEnv, index: number, seed: number, maxSteps: number) => RecordedEpisode,
): Promise<CollectResult> {
  const o = CollectOptionsSchema.parse(options);
  // Refuse the whole run up front if any of its seeds lies outside the split.
  checkSeed(o.seed, o.split);
  checkSeed(o.seed + o.episodes - 1, o.split);
  const t0 = performance.now();
  const env = await SimEnv.create({ task: o.task, imageSize: o.imageSize, renderSize: o.renderSize });
  try {
    if (o.objects && env.task.spec.objects.length === 0) throw new RangeError(`task '${o.task}' has no objects to record (objects: true); its robot's own state is the proprio`);
    const maxSteps = o.maxSteps ?? env.task.spec.maxSteps;
    const writer = DatasetWriter.open(o.out, datasetIdentity(env, o, kind, maxSteps));
    const resumedFrom = writer.episodesStored;
    let steps = 0;
    onProgress?.({ episodesDone: resumedFrom, episodesTotal: o.episodes, stepsThisRun: 0, chunksWritten: writer.chunksWritten });
    for (let i = resumedFrom; i < o.episodes; i++) {
      const ep = episodeFn(env, i, o.seed + i, maxSteps);
      steps += ep.actions.length;
      writer.add(ep);
      onProgress?.({ episodesDone: i + 1, episodesTotal: o.episodes, stepsThisRun: steps, chunksWritten: writer.chunksWritten, lastEpisodeSuccess: ep.success });
    }
    const manifest = writer.finish();
    return { manifest, episodesThisRun: Math.max(0, o.episodes - resumedFrom), stepsThisRun: steps, resumedFrom, elapsed_s: (performance.now() - t0) / 1000 };
  } finally {
    env.close();
  }
}

/** Collects `episodes` episodes of `task` with `policy` into `out` (resuming a previous run there). */
export async function collect(options: CollectOptions, onProgress?: (p: CollectProgress) => void): Promise<CollectResult> {
  const o = CollectOptionsSchema.parse(options);
  return runCollection(o, 'episodes', onProgress, (env, i, seed, maxSteps) => recordEpisode(env, i, seed, o.split, o.policy, maxSteps, { stopOnSuccess: true, objects: o.objects }));
}
