/**
 * Episodes on the embedded simulator, summarised: success rate, planning
 * throughput and latency percentiles, planner iterations, shield
 * interventions by reason, surprise events. Used by `jepa run`, `jepa eval`
 * and `jepa demo`. Evaluation uses the held-out seed range only.
 */
import type { WorldModel } from '../addon/types';
import type { WorldMemory } from '../memory/world-memory';
import { TRAIN_SEEDS } from '../sim/tasks/seeds';
import type { TaskName } from '../sim/tasks/types';
import { createEmbeddedRun, evalSeeds, type Hierarchy } from './embedded';
import type { TaskProgress } from '../planning/index';
import { ControlLoop, type EpisodeResult, type TickRecord } from './loop';

export interface EvalOptions {
  task: TaskName;
  model: WorldModel;
  episodes: number;
  mode: 'train' | 'eval';
  hierarchy: Hierarchy;
  /** With hierarchy 'latent': the coarse-time-step model of the high level. */
  highModel?: WorldModel;
  /** The model the surprise monitor runs instead of `model` (EmbeddedRunOptions.monitorModel). */
  monitorModel?: WorldModel;
  maxIterations: number;
  planTime_ms: number;
  samples: number;
  horizon: number;
  realtime?: boolean;
  /** First seed of the range (defaults to the start of the mode's range). */
  firstSeed?: number;
  /** Persistent memory that receives decisions, shield and surprise events and task progress. */
  memory?: WorldMemory;
}

export interface EpisodeSummary {
  seed: number;
  success: boolean;
  steps: number;
  failure?: string;
  shieldInterventions: number;
  hierarchical: boolean;
  /** A task-graph episode: the sub-goals it got through (in order, after any rewind) and how often it went back. */
  taskGraph?: { succeeded: string[]; rewinds: number };
}

export interface TaskSummary {
  task: TaskName;
  planner: string;
  backend: string;
  model: string;
  episodes: number;
  successRate: number;
  plansPerSecond: number;
  meanPlan_ms: number;
  p50Tick_ms: number;
  p99Tick_ms: number;
  meanIterations: number;
  shieldInterventions: number;
  shieldReasons: Record<string, number>;
  surpriseEvents: number;
  ticks: number;
  deadlineOverruns: number;
  perEpisode: EpisodeSummary[];
  /** Tick latencies (ms) of every tick, for histograms. */
  tickLatencies_ms: number[];
  /** Best-so-far energy per iteration of the first plan of each episode. */
  energyTraces: number[][];
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export interface EvalProgress {
  task: TaskName;
  episode: number;
  episodes: number;
  step: number;
  successes: number;
  lastTick?: TickRecord;
}

export async function evaluateTask(o: EvalOptions, onProgress?: (p: EvalProgress) => void): Promise<TaskSummary> {
  const seeds = o.mode === 'eval' ? evalSeeds(o.episodes) : Array.from({ length: o.episodes }, (_, i) => (o.firstSeed ?? TRAIN_SEEDS.start) + i);
  const ticks: TickRecord[] = [];
  const perEpisode: EpisodeSummary[] = [];
  const reasons: Record<string, number> = {};
  const traces: number[][] = [];
  let interventions = 0;
  let surpriseEvents = 0;
  let successes = 0;
  let plannerName = 'cem';
  for (const [i, seed] of seeds.entries()) {
    const run = await createEmbeddedRun({
      task: o.task,
      seed,
      mode: o.mode,
      model: o.model,
      hierarchy: o.hierarchy,
      highModel: o.highModel,
      monitorModel: o.monitorModel,
      samples: o.samples,
      horizon: o.horizon,
      realtime: o.realtime,
      memory: o.memory,
    });
    try {
      plannerName = run.stages.plannerName ?? plannerName;
      // A memory file outlives a command: the same seed run again logs as a new episode (id #2, #3, …).
      let episodeId = run.stages.episodeId!;
      if (o.memory) {
        for (let k = 2; !o.memory.beginEpisode(episodeId, run.arm.env!.sim.time, `${o.task} seed ${seed}`); k++) episodeId = `${run.stages.episodeId}#${k}`;
      }
      const loop = new ControlLoop({ ...run.stages, episodeId, memory: o.memory ?? run.stages.memory }, {
        controlPeriod_s: run.period_s,
        planBudget: { maxIterations: o.maxIterations, maxTime_ms: o.planTime_ms },
        timing: o.realtime ? 'realtime' : 'lockstep',
        maxSteps: run.maxSteps,
      });
      const r: EpisodeResult = await loop.runEpisode((t) => onProgress?.({ task: o.task, episode: i, episodes: seeds.length, step: t.step, successes, lastTick: t }));
      if (r.success) successes++;
      ticks.push(...r.ticks);
      if (r.ticks[0]) traces.push(r.ticks[0].energyTrace);
      interventions += r.shieldInterventions;
      surpriseEvents += r.surpriseEvents;
      for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
      const progress = (run.planner as { progress?: () => TaskProgress }).progress?.();
      perEpisode.push({
        seed,
        success: r.success,
        steps: r.steps,
        ...(r.failure ? { failure: r.failure } : {}),
        shieldInterventions: r.shieldInterventions,
        hierarchical: run.hierarchical,
        ...(progress ? { taskGraph: { succeeded: progress.succeeded, rewinds: progress.rewinds } } : {}),
      });
      onProgress?.({ task: o.task, episode: i + 1, episodes: seeds.length, step: 0, successes });
    } finally {
      run.close();
    }
  }
  const lat = ticks.map((t) => t.latency_ms).sort((a, b) => a - b);
  const planMs = ticks.reduce((a, t) => a + t.plan_ms, 0);
  return {
    task: o.task,
    planner: o.hierarchy === 'flat' ? 'cem (flat)' : plannerName,
    backend: o.model.backend,
    model: o.model.config.name,
    episodes: seeds.length,
    successRate: successes / seeds.length,
    plansPerSecond: ticks.length / (planMs / 1000),
    meanPlan_ms: planMs / Math.max(1, ticks.length),
    p50Tick_ms: percentile(lat, 50),
    p99Tick_ms: percentile(lat, 99),
    meanIterations: ticks.reduce((a, t) => a + t.iterations, 0) / Math.max(1, ticks.length),
    shieldInterventions: interventions,
    shieldReasons: reasons,
    surpriseEvents,
    ticks: ticks.length,
    deadlineOverruns: ticks.filter((t) => t.overrun).length,
    perEpisode,
    tickLatencies_ms: ticks.map((t) => t.latency_ms),
    energyTraces: traces,
  };
}

/** A fixed-width table of task summaries, as the demo prints it. */
export function summaryTable(rows: readonly TaskSummary[]): string {
  const head = ['task', 'planner', 'success', 'plans/s', 'p50 tick ms', 'p99 tick ms', 'iters', 'shield interventions'];
  const body = rows.map((r) => [
    r.task,
    r.planner,
    `${(100 * r.successRate).toFixed(0)}% (${Math.round(r.successRate * r.episodes)}/${r.episodes})`,
    r.plansPerSecond.toFixed(1),
    r.p50Tick_ms.toFixed(1),
    r.p99Tick_ms.toFixed(1),
    r.meanIterations.toFixed(1),
    `${r.shieldInterventions} / ${r.ticks} ticks`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/**
 * One episode with camera frames and the planner's predicted latent
 * trajectories sampled every `every` ticks, for the report.
 */
export async function recordEpisode(
  o: Pick<EvalOptions, 'task' | 'model' | 'hierarchy' | 'highModel' | 'maxIterations' | 'planTime_ms' | 'samples' | 'horizon'> & { seed: number; every?: number; imageSize?: number },
): Promise<import('./report').EpisodeFrames> {
  const run = await createEmbeddedRun({ task: o.task, seed: o.seed, mode: 'eval', model: o.model, hierarchy: o.hierarchy, highModel: o.highModel, samples: o.samples, horizon: o.horizon, render: true, imageSize: o.imageSize ?? 96 });
  const every = o.every ?? 8;
  const L = o.model.dims.latentSize;
  const observed: number[] = [];
  const samples: import('./report').EpisodeFrames['samples'] = [];
  let lastPlan: Float32Array | undefined;
  let lastZ0: Float32Array | undefined;
  const inner = run.stages.planner;
  const planner = Object.assign(Object.create(inner) as typeof inner, {
    plan: async (...args: Parameters<typeof inner.plan>) => {
      const r = await inner.plan(...args);
      lastPlan = r.actions;
      lastZ0 = args[0].z0;
      return r;
    },
  });
  let lastObs: import('../robot/arm').Observation | undefined;
  const arm = run.stages.arm;
  const recordingArm = {
    name: arm.name,
    jointNames: arm.jointNames,
    actionDim: arm.actionDim,
    getObservation: async () => (lastObs = await arm.getObservation()),
    sendAction: (a: Float64Array) => arm.sendAction(a),
    close: () => arm.close(),
  };
  // The episode's own memory stays (perception keeps out-of-view objects there); no surprise monitor.
  const loop = new ControlLoop({ ...run.stages, arm: recordingArm, planner, surprise: undefined }, {
    controlPeriod_s: run.period_s,
    planBudget: { maxIterations: o.maxIterations, maxTime_ms: o.planTime_ms },
    timing: 'lockstep',
    maxSteps: run.maxSteps,
  });
  try {
    const r = await loop.runEpisode(async (t) => {
      const z = lastZ0!.subarray(lastZ0!.length - L);
      observed.push(...z);
      if (t.step % every === 0 && lastPlan && lastObs) {
        const H = lastPlan.length / o.model.dims.actionDim;
        const pred = await o.model.rollout({ z0: lastZ0!, actions: lastPlan, horizon: H, goal: run.stages.goal.latent, cost: { metric: 'l2', terminalWeight: 0, runningWeight: 0 }, returnTrajectory: true });
        const cam = Object.values(lastObs.images)[0];
        samples.push({ step: t.step, ...(cam ? { image: { width: cam.width, height: cam.height, rgb: cam.rgb.slice() } } : {}), latent: z.slice(), predicted: pred.trajectory! });
      }
    });
    return { task: o.task, seed: o.seed, success: r.success, samples, observed: Float32Array.from(observed), latentSize: L, goal: run.stages.goal.latent };
  } finally {
    run.close();
  }
}
