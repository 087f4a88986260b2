/**
 * The shared machinery of the sampling-based MPC planners (CEM, MPPI):
 * a diagonal Gaussian over action sequences [H, A], bound-respecting batched
 * sampling from the planner's seeded PRNG, one batched rollout per iteration
 * (the backend evaluates the native energy terms), batch energy terms on the
 * returned predictions, best-so-far tracking, adaptive stopping (relative
 * improvement over a patience window, or the iteration / wall-clock budget)
 * and the per-iteration trace. Subclasses supply only the distribution update.
 *
 * Hot-loop rules: every per-iteration buffer is allocated once per planner;
 * sampling, clipping and the updates are flat loops over Float32Array /
 * Float64Array; nothing is allocated per sample.
 */
import { z } from 'zod';
import { CancelledError, type RolloutRequest, type WorldModel } from '../addon/types';
import { parseWith, PlanInputError, PlannerBusyError } from './errors';
import {
  addBatchTerms,
  type BatchEnergyTerm,
  checkTerms,
  type EnergyBatch,
  type EnergySpec,
  energySpecSchema,
  proprioGoalTerm,
  resolveBounds,
  rolloutCost,
} from './energy';
import { Random } from './random';
import {
  checkGoal,
  currentLatent,
  checkState,
  checkVector,
  type IterationTrace,
  type PlanBudget,
  type PlanGoal,
  type PlanOptions,
  type Planner,
  type PlanResult,
  type PlanState,
  resolveBudget,
} from './types';

const stdScheduleSchema = z.discriminatedUnion('kind', [
  /** Sampling std = the distribution's std. */
  z.strictObject({ kind: z.literal('constant') }),
  /** Sampling std multiplied by decay^iteration. */
  z.strictObject({ kind: z.literal('exponential'), decay: z.number().gt(0).lte(1) }),
  /** Multiplier falls linearly from 1 to `final` over `iterations`, then stays. */
  z.strictObject({ kind: z.literal('linear'), final: z.number().gt(0).lte(1), iterations: z.number().int().positive() }),
]);

/** Options every sampling planner shares. */
export const samplingOptionsShape = {
  /** Plan length H (steps of the model). */
  horizon: z.number().int().positive(),
  /** Candidate sequences per iteration, N. */
  samples: z.number().int().min(2),
  /** PRNG seed; same seed + same inputs + iteration-only budget → bit-identical plans. */
  seed: z.number().int().default(0),
  /** Initial std of the sampling distribution: one value, or one per action dim. */
  initStd: z.union([z.number().positive(), z.array(z.number().positive()).min(1)]).default(1),
  /** Variance floor: the sampling std never drops below this (per element). */
  minStd: z.number().nonnegative().default(1e-3),
  /** Variance schedule: a multiplier on the sampling std by iteration. */
  stdSchedule: stdScheduleSchema.default({ kind: 'constant' }),
  /** How samples respect action bounds: clip to the box, or redraw out-of-box elements (truncated Gaussian, clip after 16 tries). */
  boundsHandling: z.enum(['clip', 'truncate']).default('clip'),
  /** Evaluate the current mean as sample 0 each iteration (keeps the best energy monotone). */
  includeMean: z.boolean().default(true),
  /** Mean smoothing: mean ← momentum * mean + (1 - momentum) * update. */
  momentum: z.number().min(0).lt(1).default(0),
  /** Default relative tolerance and patience for budgets that do not set them. */
  tolerance: z.number().nonnegative().default(1e-3),
  patience: z.number().int().positive().default(3),
  /** Improvements below this absolute amount also count as "no longer improving". */
  absoluteTolerance: z.number().nonnegative().default(1e-7),
  /**
   * Offset-free prediction of proprio: each plan decodes the current latent, and the decode error
   * there (measured state.proprio minus proprio_head(z_t), over the entries state.proprio has) is
   * added to every predicted proprio before the energy terms see it: the planner then steers the
   * measured state, not the decoded one, onto a proprio target. It pays where the decode error is a
   * steady bias; where it jitters from frame to frame it adds that jitter to the plan (the embedded
   * runtime leaves it off: models/README.md has what it did for push-t and reach).
   */
  offsetFreeProprio: z.boolean().default(false),
  /**
   * Offset-free prediction of motion: the model's one-step error as a drift it does not predict.
   * Each plan compares the measured proprio (state.proprio) with what the previous plan predicted
   * for the end of its first step, low-pass filters that difference into a per-step drift d
   * (d ← (1 - gain) d + gain × error, over the first `entries` proprio values), and adds (k + 1) d
   * to every predicted proprio at step k before the energy terms see it: the disturbance model of
   * offset-free MPC for a bias that accumulates with every step. Where the model's prediction is
   * off by a steady few millimetres a step, planning on it alone stalls where the step the plan
   * asks for equals that bias (models/README.md: pick-place's descent). It assumes consecutive
   * plans one executed step apart; reset() forgets the estimate.
   */
  proprioDrift: z.strictObject({ gain: z.number().gt(0).lte(1), entries: z.number().int().positive() }).optional(),
  /** Native energy terms (RolloutCost) and action bounds. */
  energy: energySpecSchema,
};

export type SamplingOptions = {
  horizon: number;
  samples: number;
  seed: number;
  initStd: number | number[];
  minStd: number;
  stdSchedule: z.output<typeof stdScheduleSchema>;
  boundsHandling: 'clip' | 'truncate';
  includeMean: boolean;
  momentum: number;
  tolerance: number;
  patience: number;
  absoluteTolerance: number;
  offsetFreeProprio: boolean;
  proprioDrift?: { gain: number; entries: number };
  energy: EnergySpec;
};

/** What a distribution update sees and may change. */
export interface UpdateContext {
  N: number;
  /** Elements of one sequence, H · A. */
  D: number;
  /** This iteration's samples [N, D] (after bounds handling). */
  actions: Float32Array;
  /** Their total energies [N]. */
  energies: Float64Array;
  /** The distribution (in/out), [D] each. */
  mean: Float64Array;
  std: Float64Array;
  iteration: number;
}

/** Base class of CEM and MPPI: everything but the distribution update. */
export abstract class SamplingPlanner implements Planner {
  readonly horizon: number;
  readonly actionDim: number;
  readonly samples: number;
  protected readonly options: SamplingOptions;
  private readonly model: WorldModel;
  private readonly terms: readonly BatchEnergyTerm[];
  private readonly goalTerm: BatchEnergyTerm;
  private readonly bounds: { low: Float32Array; high: Float32Array; weight: number } | undefined;
  private readonly rng: Random;
  private readonly initStd: Float64Array;
  // Per-iteration buffers, allocated once.
  private readonly actionsBuf: Float32Array;
  private readonly energies: Float64Array;
  private readonly mean: Float64Array;
  private readonly std: Float64Array;
  private readonly sampleStd: Float64Array;
  private readonly bestActions: Float32Array;
  private busy = false;
  /** proprioDrift: the filtered per-step drift, and the last plan's predicted proprio after its first step. */
  private drift: Float64Array | undefined;
  private predictedFirst: Float64Array | undefined;

  protected constructor(model: WorldModel, options: SamplingOptions, terms: readonly BatchEnergyTerm[]) {
    this.model = model;
    this.options = options;
    const dims = model.dims;
    this.horizon = options.horizon;
    this.actionDim = dims.actionDim;
    this.samples = options.samples;
    checkTerms(terms, dims);
    this.terms = [...terms];
    this.goalTerm = proprioGoalTerm(options.energy.proprioGoal);
    this.bounds = resolveBounds(options.energy, model.config);
    const A = dims.actionDim;
    const D = options.horizon * A;
    const init = options.initStd;
    if (Array.isArray(init) && init.length !== A) {
      throw new PlanInputError('initStd', `must be one number or ${A} numbers (one per action dim), got ${init.length}`);
    }
    this.initStd = new Float64Array(D);
    for (let i = 0; i < D; i++) this.initStd[i] = Array.isArray(init) ? init[i % A] : init;
    this.rng = new Random(options.seed);
    this.actionsBuf = new Float32Array(options.samples * D);
    this.energies = new Float64Array(options.samples);
    this.mean = new Float64Array(D);
    this.std = new Float64Array(D);
    this.sampleStd = new Float64Array(D);
    this.bestActions = new Float32Array(D);
  }

  /** Restarts the PRNG stream (the next plan() draws as a fresh planner with this seed would). */
  reseed(seed: number): void {
    this.rng.reseed(seed);
  }

  /** Measured minus decoded proprio at the current latent, over the entries both have. */
  private async decodeOffset(measured: Float32Array, z0: Float32Array): Promise<Float32Array> {
    const decoded = await this.model.decodeProprio(currentLatent(z0, this.model.dims.latentSize), 1);
    const offset = new Float32Array(Math.min(measured.length, decoded.length));
    for (let j = 0; j < offset.length; j++) offset[j] = measured[j]! - decoded[j]!;
    return offset;
  }

  /** Forgets the proprio drift estimate (a new task, after a halt or a surprise). */
  reset(): void {
    this.drift = undefined;
    this.predictedFirst = undefined;
  }

  /**
   * Folds the last plan's first-step prediction error into the drift. Returns the drift to add this
   * plan (undefined: none yet) and the buffer this plan's own first-step prediction goes into, which
   * becomes the next plan's reference only once this one completes (a cancelled plan leaves none).
   */
  private updateDrift(measured: Float32Array | undefined): { drift: Float64Array | undefined; first: Float64Array } | undefined {
    const o = this.options.proprioDrift;
    if (!o || !measured) return undefined;
    const n = Math.min(o.entries, measured.length, this.model.dims.proprioDim);
    const previous = this.predictedFirst;
    this.predictedFirst = undefined;
    if (previous) {
      this.drift ??= new Float64Array(n);
      for (let j = 0; j < n; j++) this.drift[j] = (1 - o.gain) * this.drift[j]! + o.gain * (measured[j]! - previous[j]!);
    }
    return { drift: this.drift, first: new Float64Array(n) };
  }

  /** Updates mean/std in place from this iteration's samples and energies. */
  protected abstract update(ctx: UpdateContext): void;

  async plan(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    if (this.busy) throw new PlannerBusyError(this.constructor.name);
    this.busy = true;
    try {
      return await this.run(state, goal, budget, options);
    } finally {
      this.busy = false;
    }
  }

  private async run(state: PlanState, goal: PlanGoal, budget: PlanBudget, options: PlanOptions): Promise<PlanResult> {
    const t0 = performance.now();
    const dims = this.model.dims;
    checkState(state, dims);
    checkGoal(goal, dims);
    if (goal.pose !== undefined && !this.terms.some((t) => t.needs.goalPose === true && t.weight > 0)) {
      throw new PlanInputError(
        'goal.pose',
        'no energy term of this planner scores a pose goal; install poseGoalTerm(fk) (forward kinematics from the robot description) or drop goal.pose',
      );
    }
    const b = resolveBudget(budget, this.options);
    const H = this.horizon;
    const A = this.actionDim;
    const D = H * A;
    const N = this.samples;
    if (options.warmStart !== undefined) checkVector('options.warmStart', options.warmStart, D, `horizon ${H} × actionDim ${A}`);
    const signal = options.signal;

    // Initial distribution: warm start (projected into the bounds) or zeros (or the box centre when 0 is outside).
    const mean = this.mean;
    const std = this.std;
    const low = this.bounds?.low;
    const high = this.bounds?.high;
    for (let i = 0; i < D; i++) {
      let m = options.warmStart ? options.warmStart[i] : 0;
      if (low && high) {
        const j = i % A;
        if (!options.warmStart && (low[j] > 0 || high[j] < 0)) m = 0.5 * (low[j] + high[j]);
        m = m < low[j] ? low[j] : m > high[j] ? high[j] : m;
      }
      mean[i] = m;
      std[i] = this.initStd[i];
    }

    const needsProprio = goal.proprio !== undefined || this.terms.some((t) => t.needs.proprio === true);
    const needsTrajectory = this.terms.some((t) => t.needs.trajectory === true);
    const activeTerms = goal.proprio ? [this.goalTerm, ...this.terms] : this.terms;
    const request: RolloutRequest = {
      z0: state.z0,
      actionHistory: state.actionHistory,
      actions: this.actionsBuf,
      horizon: H,
      goal: goal.latent,
      cost: rolloutCost(this.options.energy, this.bounds, state.previousAction, goal.latentWeight),
      returnProprio: needsProprio || undefined,
      returnTrajectory: needsTrajectory || undefined,
      signal,
    };

    const offset = needsProprio && this.options.offsetFreeProprio && state.proprio ? await this.decodeOffset(state.proprio, state.z0) : undefined;
    const driftState = needsProprio ? this.updateDrift(state.proprio) : undefined;
    const drift = driftState?.drift;
    const correction = proprioCorrection(offset, drift, H);
    const trace: IterationTrace[] = [];
    const bestHistory: number[] = [];
    let bestSoFar = Number.POSITIVE_INFINITY;
    let rolloutTotal = 0;
    let converged = false;
    let stop: 'converged' | 'maxIterations' | 'maxTime' = 'maxIterations';
    let iteration = 0;
    let lastIterationMs = 0;

    for (;;) {
      if (signal?.aborted) throw new CancelledError('plan');
      const iterStart = performance.now();
      this.sample(iteration);
      const r0 = performance.now();
      const result = await this.model.rollout(request);
      const r1 = performance.now();
      if (correction && result.proprio) {
        const P = dims.proprioDim;
        const { values, width } = correction;
        for (let n = 0; n < N; n++)
          for (let k = 0; k < H; k++) {
            const row = (n * H + k) * P, c = k * width;
            for (let j = 0; j < width; j++) result.proprio[row + j] += values[c + j]!;
          }
      }
      const energies = this.energies;
      const raw = result.energies;
      for (let n = 0; n < N; n++) energies[n] = raw[n];
      if (activeTerms.length > 0) {
        const batch: EnergyBatch = {
          N,
          H,
          A,
          actions: this.actionsBuf,
          proprio: result.proprio,
          proprioDim: dims.proprioDim,
          trajectory: result.trajectory,
          latentSize: dims.latentSize,
          goal,
          state,
        };
        await addBatchTerms(energies, activeTerms, batch);
      }
      let best = Number.POSITIVE_INFINITY;
      let bestIndex = 0;
      let sum = 0;
      for (let n = 0; n < N; n++) {
        const e = energies[n];
        sum += e;
        if (e < best) {
          best = e;
          bestIndex = n;
        }
      }
      if (best < bestSoFar || iteration === 0) {
        bestSoFar = best;
        this.bestActions.set(this.actionsBuf.subarray(bestIndex * D, (bestIndex + 1) * D));
        // What the model (with the decode offset, without the drift) predicts after this plan's first step.
        const first = driftState?.first;
        if (first && result.proprio) for (let j = 0; j < first.length; j++) first[j] = result.proprio[bestIndex * H * dims.proprioDim + j]! - (drift?.[j] ?? 0);
      }
      this.update({ N, D, actions: this.actionsBuf, energies, mean, std, iteration });
      const iterEnd = performance.now();
      const rolloutMs = r1 - r0;
      rolloutTotal += rolloutMs;
      lastIterationMs = iterEnd - iterStart;
      trace.push({
        best,
        mean: sum / N,
        bestSoFar,
        elapsed_ms: iterEnd - t0,
        rollout_ms: rolloutMs,
        outside_ms: lastIterationMs - rolloutMs,
      });
      bestHistory.push(bestSoFar);
      iteration++;

      const p = b.patience;
      if (bestHistory.length > p) {
        const before = bestHistory[bestHistory.length - 1 - p];
        const now = bestSoFar;
        if (Number.isFinite(before) && before - now <= b.tolerance * Math.abs(before) + this.options.absoluteTolerance) {
          converged = true;
          stop = 'converged';
          break;
        }
      }
      if (iteration >= b.maxIterations) {
        stop = 'maxIterations';
        break;
      }
      if (iterEnd - t0 + lastIterationMs > b.maxTime_ms) {
        stop = 'maxTime';
        break;
      }
    }

    if (driftState) this.predictedFirst = driftState.first;
    const total = performance.now() - t0;
    const meanOut = new Float32Array(D);
    for (let i = 0; i < D; i++) meanOut[i] = mean[i];
    return {
      actions: this.bestActions.slice(),
      energy: bestSoFar,
      iterations: iteration,
      converged,
      trace: { iterations: trace, total_ms: total, rollout_ms: rolloutTotal, outside_ms: total - rolloutTotal, stop },
      mean: meanOut,
      horizon: H,
      actionDim: A,
    };
  }

  /** Draws N sequences from N(mean, sampleStd²) into actionsBuf, respecting the bounds. */
  private sample(iteration: number): void {
    const H = this.horizon;
    const A = this.actionDim;
    const D = H * A;
    const N = this.samples;
    const out = this.actionsBuf;
    const mean = this.mean;
    const s = this.sampleStd;
    const factor = scheduleFactor(this.options.stdSchedule, iteration);
    const floor = this.options.minStd;
    for (let i = 0; i < D; i++) {
      const v = this.std[i] * factor;
      s[i] = v > floor ? v : floor;
    }
    const first = this.options.includeMean ? 1 : 0;
    if (first === 1) for (let i = 0; i < D; i++) out[i] = mean[i];
    this.rng.fillNormal(out, first * D, N * D);
    const low = this.bounds?.low;
    const high = this.bounds?.high;
    if (!low || !high) {
      for (let n = first; n < N; n++) {
        const base = n * D;
        for (let i = 0; i < D; i++) out[base + i] = mean[i] + s[i] * out[base + i];
      }
      return;
    }
    const truncate = this.options.boundsHandling === 'truncate';
    for (let n = first; n < N; n++) {
      const base = n * D;
      for (let t = 0; t < H; t++) {
        const row = t * A;
        for (let j = 0; j < A; j++) {
          const i = row + j;
          const lo = low[j];
          const hi = high[j];
          let v = mean[i] + s[i] * out[base + i];
          if (truncate) {
            for (let tries = 0; (v < lo || v > hi) && tries < 16; tries++) v = mean[i] + s[i] * this.rng.normal();
          }
          out[base + i] = v < lo ? lo : v > hi ? hi : v;
        }
      }
    }
  }
}

/**
 * What is added to every sample's predicted proprio at each step, [H, width]: the decode offset
 * (offsetFreeProprio) at every step plus (k + 1) times the drift (proprioDrift) at step k; computed
 * once per plan and applied to every iteration's rollout in one pass. Undefined when neither is on.
 */
function proprioCorrection(offset: Float32Array | undefined, drift: Float64Array | undefined, H: number): { values: Float64Array; width: number } | undefined {
  if (!offset && !drift) return undefined;
  const width = Math.max(offset?.length ?? 0, drift?.length ?? 0);
  const values = new Float64Array(H * width);
  for (let k = 0; k < H; k++)
    for (let j = 0; j < width; j++) values[k * width + j] = (offset?.[j] ?? 0) + (k + 1) * (drift?.[j] ?? 0);
  return { values, width };
}

function scheduleFactor(schedule: SamplingOptions['stdSchedule'], iteration: number): number {
  switch (schedule.kind) {
    case 'constant':
      return 1;
    case 'exponential':
      return schedule.decay ** iteration;
    case 'linear':
      return iteration >= schedule.iterations ? schedule.final : 1 + (schedule.final - 1) * (iteration / schedule.iterations);
  }
}

/** Parses planner options with a clear error listing each bad field. */
export function parsePlannerOptions<S extends z.ZodType>(schema: S, options: unknown, what: string): z.output<S> {
  return parseWith(schema, options, what);
}
