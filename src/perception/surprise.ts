/**
 * The surprise monitor: notices when the world stops behaving as the world
 * model predicted. Each tick the latent predicted one tick earlier is compared
 * with the latent actually observed; the prediction error is scored against
 * running statistics of past errors (a z-score), and crossing configured
 * thresholds raises events at three levels — 'replan' < 'slow' < 'halt' — for
 * the runtime loop to act on.
 *
 * Owned here:
 *  - latentError(): the error metric ('l2' = mean squared, 'l1' = mean
 *    absolute, 'cosine' = 1 - cosine similarity);
 *  - RunningErrorStats: warm-up then exponential moving mean and variance,
 *    with each error clipped at `updateClipZ` standard deviations before it
 *    is folded in, so one spike barely moves the baseline while a lasting
 *    change of regime is slowly learned as the new normal. By default the
 *    statistics are kept on log(error): prediction errors are sums of squares
 *    or magnitudes, strongly right-skewed, and a z-score of the raw error
 *    fires on ordinary noise (measured on a stationary 64-dim l2 stream,
 *    emaAlpha 0.05: z >= 4 at 9e-4 of ticks raw, 4e-5 on the log scale);
 *  - SurpriseMonitor: thresholds, hysteresis, cooldown, listeners;
 *  - surpriseScores() and auroc(): the same scoring offline, for measuring
 *    how well surprise separates violation-of-expectation clips.
 *
 * Event rules (SurpriseMonitor):
 *  - a reading's level is the highest level whose zScore threshold (after
 *    warm-up only) or absolute error threshold (always) it reaches;
 *  - an event fires when the level rises above the active level; the active
 *    level then falls only when readings drop below `clearFraction` times the
 *    thresholds (hysteresis), so a reading hovering at a threshold fires once;
 *  - 'replan' and 'slow' cannot fire again within `cooldown_ticks` of their
 *    last event (a suppressed level can fire once the cooldown is over if the
 *    readings are still high); 'halt' is never delayed;
 *  - a NaN or ±Infinity in the predicted or observed latent (or an error that
 *    overflows) is never ignored: it fires a 'halt' event with reason
 *    'non-finite' every time, and leaves the statistics untouched. Wrong
 *    types or lengths are programming errors and throw SurpriseInputError.
 */
import { z } from 'zod';

export const SURPRISE_LEVELS = ['replan', 'slow', 'halt'] as const;
export type SurpriseLevel = (typeof SURPRISE_LEVELS)[number];
const RANK: Record<SurpriseLevel, number> = { replan: 1, slow: 2, halt: 3 };

export const SurpriseMetricSchema = z.enum(['l2', 'l1', 'cosine']);
export type SurpriseMetric = z.infer<typeof SurpriseMetricSchema>;

/** When one level triggers: at a z-score, at an absolute error, or either (at least one is required). */
export const LevelThresholdSchema = z
  .strictObject({
    zScore: z.number().positive().optional(),
    error: z.number().positive().optional(),
  })
  .refine((t) => t.zScore !== undefined || t.error !== undefined, { message: 'give zScore, error, or both' });
export type LevelThreshold = z.infer<typeof LevelThresholdSchema>;

export const RunningStatsConfigSchema = z.strictObject({
  /** 'log' (default): statistics and z-scores of log(error + logEpsilon); 'linear': of the error itself. */
  scale: z.enum(['log', 'linear']).default('log'),
  /** Added to the error before the log, so a perfect prediction (error 0) stays finite. */
  logEpsilon: z.number().positive().default(1e-12),
  /** Errors averaged (plainly) before z-scores are formed and the moving statistics take over. */
  warmup_ticks: z.int().min(2).default(20),
  /** Weight of the newest error in the moving mean and variance (time constant ≈ 1/emaAlpha ticks). */
  emaAlpha: z.number().gt(0).max(0.5).default(0.02),
  /** Errors above mean + updateClipZ·std are folded in as that value. */
  updateClipZ: z.number().positive().default(3),
  /**
   * The std used for z-scores is at least this fraction of the mean error, so
   * a near-constant error stream is not infinitely surprising (on the log
   * scale: a log-std of at least this, the same relative spread).
   */
  minStdFraction: z.number().min(0).default(0.05),
  /** ... and at least this absolute value. */
  minStd: z.number().min(0).default(1e-12),
});
export type RunningStatsConfig = z.output<typeof RunningStatsConfigSchema>;

/** On the default log scale with a 64-dim l2 stream (log-std ≈ 0.18) these are roughly 2.5×, 4× and 9× the typical error. */
const DEFAULT_THRESHOLDS = { replan: { zScore: 5 }, slow: { zScore: 8 }, halt: { zScore: 12 } };

export const SurpriseConfigSchema = RunningStatsConfigSchema.extend({
  metric: SurpriseMetricSchema.default('l2'),
  thresholds: z
    .strictObject({ replan: LevelThresholdSchema, slow: LevelThresholdSchema, halt: LevelThresholdSchema })
    .default(DEFAULT_THRESHOLDS)
    .superRefine((t, ctx) => {
      for (const key of ['zScore', 'error'] as const) {
        const present = SURPRISE_LEVELS.filter((level) => t[level][key] !== undefined);
        for (let i = 1; i < present.length; i++) {
          const lower = present[i - 1];
          const upper = present[i];
          if (!(t[lower][key]! < t[upper][key]!)) {
            ctx.addIssue({
              code: 'custom',
              path: [upper, key],
              message: `${upper}.${key} (${t[upper][key]}) must be greater than ${lower}.${key} (${t[lower][key]}); levels escalate replan < slow < halt`,
            });
          }
        }
      }
    }),
  /** The active level clears once readings fall below clearFraction × its thresholds. */
  clearFraction: z.number().gt(0).lt(1).default(0.6),
  /** Ticks after a 'replan' or 'slow' event during which the same level does not fire again. */
  cooldown_ticks: z.int().min(0).default(10),
});
export type SurpriseConfig = z.output<typeof SurpriseConfigSchema>;
export type SurpriseConfigInput = z.input<typeof SurpriseConfigSchema>;

export interface SurpriseEvent {
  level: SurpriseLevel;
  /** Prediction error of the tick (NaN for a non-finite latent). */
  error: number;
  /** z-score of the error; null during warm-up and for non-finite latents. */
  zScore: number | null;
  tick: number;
  /** The caller's time of the observation, seconds. */
  time_s: number;
  /** 'z-score', 'error' (absolute threshold), 'z-score+error' or 'non-finite'. */
  reason: 'z-score' | 'error' | 'z-score+error' | 'non-finite';
}

export interface SurpriseReading {
  tick: number;
  time_s: number;
  error: number;
  zScore: number | null;
  /** Highest level this reading reaches on its own (null: below every threshold). */
  level: SurpriseLevel | null;
  /** Level the monitor holds after this reading (hysteresis). */
  activeLevel: SurpriseLevel | null;
  /** The event fired by this reading, if any. */
  event?: SurpriseEvent;
}

export type SurpriseListener = (event: SurpriseEvent) => void;

/** A wrong argument type, length, or an invalid configuration. */
export class SurpriseInputError extends TypeError {
  override name = 'SurpriseInputError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'Object';
  return typeof value;
}

function parseConfig<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue.path.map(String).join('.');
  throw new SurpriseInputError(what, `${what}${path ? `.${path}` : ''}: ${issue.message}`);
}

// ---------------------------------------------------------------------------
// Error metric

/**
 * Prediction error between two latents of equal length: 'l2' mean of squared
 * differences, 'l1' mean of absolute differences, 'cosine' 1 - cos(angle)
 * (two zero vectors: 0; one zero vector: 1). Accumulates in float64. Returns
 * NaN or Infinity when an input holds a non-finite value.
 */
export function latentError(predicted: Float32Array, actual: Float32Array, metric: SurpriseMetric): number {
  for (const [name, value] of [
    ['predicted', predicted],
    ['actual', actual],
  ] as const) {
    if (!(value instanceof Float32Array)) {
      throw new SurpriseInputError(name, `${name} latent must be a Float32Array, got ${describeType(value)}`);
    }
  }
  if (predicted.length !== actual.length || predicted.length === 0) {
    throw new SurpriseInputError(
      'actual',
      `predicted and actual latents must have the same non-zero length, got ${predicted.length} and ${actual.length}`,
    );
  }
  const n = predicted.length;
  if (metric === 'cosine') {
    let dot = 0;
    let pp = 0;
    let aa = 0;
    for (let i = 0; i < n; i++) {
      dot += predicted[i] * actual[i];
      pp += predicted[i] * predicted[i];
      aa += actual[i] * actual[i];
    }
    if (!Number.isFinite(dot + pp + aa)) return NaN;
    if (pp === 0 && aa === 0) return 0;
    if (pp === 0 || aa === 0) return 1;
    return Math.max(0, 1 - dot / Math.sqrt(pp * aa)); // rounding can give -1e-16 for parallel vectors
  }
  let sum = 0;
  if (metric === 'l2') {
    for (let i = 0; i < n; i++) {
      const d = predicted[i] - actual[i];
      sum += d * d;
    }
  } else {
    for (let i = 0; i < n; i++) sum += Math.abs(predicted[i] - actual[i]);
  }
  return sum / n;
}

// ---------------------------------------------------------------------------
// Running statistics

/**
 * Running mean and variance of a stream of errors (of their logs on the log
 * scale): a plain (Welford) average over the first warmup_ticks errors, then
 * an exponential moving mean and variance fed with values clipped at
 * mean + updateClipZ·std.
 */
export class RunningErrorStats {
  readonly config: RunningStatsConfig;
  private n = 0;
  private m = 0;
  /** Sum of squared deviations during warm-up; the variance afterwards. */
  private s = 0;

  constructor(config?: z.input<typeof RunningStatsConfigSchema>) {
    this.config = parseConfig(RunningStatsConfigSchema, config, 'statistics config');
  }

  /** The value the statistics are kept on: log(error + logEpsilon) or the error. */
  transform(error: number): number {
    return this.config.scale === 'log' ? Math.log(error + this.config.logEpsilon) : error;
  }

  /** True once warmup_ticks errors have been folded in. */
  get warm(): boolean {
    return this.n >= this.config.warmup_ticks;
  }

  get samples(): number {
    return this.n;
  }

  /** Mean on the statistics' scale (of log(error) on the log scale). */
  get mean(): number {
    return this.m;
  }

  /** Standard deviation used for z-scores, on the statistics' scale, with its floors applied. */
  get std(): number {
    const variance = this.warm ? this.s : this.n > 1 ? this.s / (this.n - 1) : 0;
    const floor = this.config.scale === 'log' ? this.config.minStdFraction : this.config.minStdFraction * Math.abs(this.m);
    return Math.max(Math.sqrt(variance), floor, this.config.minStd);
  }

  /** Typical error in error units: the mean (linear) or the geometric mean (log). */
  get typicalError(): number {
    return this.config.scale === 'log' ? Math.exp(this.m) - this.config.logEpsilon : this.m;
  }

  /** The error whose z-score is `z` under the current statistics. */
  errorAtZ(z: number): number {
    const value = this.m + z * this.std;
    return this.config.scale === 'log' ? Math.exp(value) - this.config.logEpsilon : value;
  }

  /** z-score of `error` against the statistics so far; null until warm. */
  zScore(error: number): number | null {
    return this.warm ? (this.transform(error) - this.m) / this.std : null;
  }

  /** Folds one finite, non-negative error in. */
  update(error: number): void {
    if (!Number.isFinite(error) || error < 0) {
      throw new SurpriseInputError('error', `RunningErrorStats.update needs a finite error >= 0, got ${error}`);
    }
    const x = this.transform(error);
    if (!this.warm) {
      this.n++;
      const delta = x - this.m;
      this.m += delta / this.n;
      this.s += delta * (x - this.m);
      if (this.warm) this.s = this.s / (this.n - 1); // hand over: sample variance of the warm-up values
      return;
    }
    this.n++;
    const clipped = Math.min(x, this.m + this.config.updateClipZ * this.std);
    const alpha = this.config.emaAlpha;
    const delta = clipped - this.m;
    this.m += alpha * delta;
    this.s = (1 - alpha) * (this.s + alpha * delta * delta);
  }

  reset(): void {
    this.n = 0;
    this.m = 0;
    this.s = 0;
  }
}

// ---------------------------------------------------------------------------
// Monitor

export class SurpriseMonitor {
  readonly config: SurpriseConfig;
  private readonly stats: RunningErrorStats;
  private readonly listeners = new Set<SurpriseListener>();
  private pending: Float32Array | undefined;
  private nextTick = 0;
  private active: SurpriseLevel | null = null;
  private readonly lastFired: Record<SurpriseLevel, number> = { replan: -Infinity, slow: -Infinity, halt: -Infinity };

  constructor(config?: SurpriseConfigInput) {
    this.config = parseConfig(SurpriseConfigSchema, config, 'surprise config');
    const { scale, logEpsilon, warmup_ticks, emaAlpha, updateClipZ, minStdFraction, minStd } = this.config;
    this.stats = new RunningErrorStats({ scale, logEpsilon, warmup_ticks, emaAlpha, updateClipZ, minStdFraction, minStd });
  }

  /** Subscribes to events; returns the function that unsubscribes. */
  onEvent(listener: SurpriseListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stores (a copy of) the latent the world model predicts for the next observation. */
  expect(predicted: Float32Array): void {
    if (!(predicted instanceof Float32Array)) {
      throw new SurpriseInputError('predicted', `predicted latent must be a Float32Array, got ${describeType(predicted)}`);
    }
    this.pending = predicted.slice();
  }

  /** True when a prediction is waiting for its observation. */
  get hasPendingPrediction(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Compares `actual` with the prediction stored by expect() and consumes it.
   * Returns undefined when no prediction is pending (the first tick, or after
   * reset()); the observation is then not scored.
   */
  observe(actual: Float32Array, time_s: number): SurpriseReading | undefined {
    if (this.pending === undefined) return undefined;
    const predicted = this.pending;
    this.pending = undefined;
    return this.compare(predicted, actual, time_s);
  }

  /** Scores one (prediction, observation) pair directly; see the event rules at the top of this file. */
  compare(predicted: Float32Array, actual: Float32Array, time_s: number): SurpriseReading {
    if (typeof time_s !== 'number' || !Number.isFinite(time_s)) {
      throw new SurpriseInputError('time_s', `time_s must be a finite number of seconds, got ${String(time_s)}`);
    }
    const error = latentError(predicted, actual, this.config.metric);
    const tick = this.nextTick++;
    if (!Number.isFinite(error)) {
      this.active = 'halt';
      this.lastFired.halt = tick;
      const event: SurpriseEvent = { level: 'halt', error: NaN, zScore: null, tick, time_s, reason: 'non-finite' };
      this.emit(event);
      return { tick, time_s, error: NaN, zScore: null, level: 'halt', activeLevel: 'halt', event };
    }
    const zScore = this.stats.zScore(error);
    const level = this.levelOf(error, zScore, 1);
    const hold = this.levelOf(error, zScore, this.config.clearFraction);
    let event: SurpriseEvent | undefined;
    if (level !== null && rank(level) > rank(this.active)) {
      if (level === 'halt' || tick - this.lastFired[level] >= this.config.cooldown_ticks) {
        event = { level, error, zScore, tick, time_s, reason: this.reasonOf(level, error, zScore) };
        this.lastFired[level] = tick;
        this.active = level;
      }
    } else if (rank(hold) < rank(this.active)) {
      this.active = hold;
    }
    this.stats.update(error);
    if (event) this.emit(event);
    return { tick, time_s, error, zScore, level, activeLevel: this.active, ...(event ? { event } : {}) };
  }

  /** Highest level whose thresholds, scaled by `scale`, the reading reaches. */
  private levelOf(error: number, zScore: number | null, scale: number): SurpriseLevel | null {
    for (let i = SURPRISE_LEVELS.length - 1; i >= 0; i--) {
      const level = SURPRISE_LEVELS[i];
      const t = this.config.thresholds[level];
      if ((t.zScore !== undefined && zScore !== null && zScore >= scale * t.zScore) || (t.error !== undefined && error >= scale * t.error)) {
        return level;
      }
    }
    return null;
  }

  private reasonOf(level: SurpriseLevel, error: number, zScore: number | null): SurpriseEvent['reason'] {
    const t = this.config.thresholds[level];
    const byZ = t.zScore !== undefined && zScore !== null && zScore >= t.zScore;
    const byError = t.error !== undefined && error >= t.error;
    return byZ && byError ? 'z-score+error' : byZ ? 'z-score' : 'error';
  }

  /** Calls every listener; if some throw, the first error is rethrown after all have been called. */
  private emit(event: SurpriseEvent): void {
    let failure: unknown;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** Level held after the latest reading (null: nothing active). */
  get activeLevel(): SurpriseLevel | null {
    return this.active;
  }

  /** Number of readings scored so far (the tick the next reading gets). */
  get tick(): number {
    return this.nextTick;
  }

  /** Running statistics; mean and std are on the configured scale (of log(error) by default). */
  get statistics(): { scale: 'log' | 'linear'; mean: number; std: number; typicalError: number; samples: number; warm: boolean } {
    const st = this.stats;
    return { scale: st.config.scale, mean: st.mean, std: st.std, typicalError: st.typicalError, samples: st.samples, warm: st.warm };
  }

  /** The error that would score z under the current statistics (for setting absolute thresholds, and for tests). */
  errorAtZ(z: number): number {
    return this.stats.errorAtZ(z);
  }

  /**
   * Drops the pending prediction and the active level (for a new episode or
   * after the loop has handled a halt). The error statistics are kept unless
   * `statistics` is true — the model's typical error does not change with the
   * episode. Ticks keep counting.
   */
  reset(options: { statistics?: boolean } = {}): void {
    this.pending = undefined;
    this.active = null;
    for (const level of SURPRISE_LEVELS) this.lastFired[level] = -Infinity;
    if (options.statistics) this.stats.reset();
  }
}

function rank(level: SurpriseLevel | null): number {
  return level === null ? 0 : RANK[level];
}

// ---------------------------------------------------------------------------
// Offline scoring

/**
 * Per-tick surprise of a sequence of prediction errors, scored causally with
 * the monitor's statistics (RunningErrorStats): z-scores after warm-up, 0
 * during warm-up (no evidence yet), +Infinity for a non-finite error. The
 * score of a clip for auroc() is typically the maximum over its ticks.
 */
export function surpriseScores(errors: ArrayLike<number>, config?: z.input<typeof RunningStatsConfigSchema>): Float64Array {
  if (errors === null || typeof errors !== 'object' || typeof errors.length !== 'number') {
    throw new SurpriseInputError('errors', `errors must be an array of numbers, got ${describeType(errors)}`);
  }
  const stats = new RunningErrorStats(config);
  const scores = new Float64Array(errors.length);
  for (let i = 0; i < errors.length; i++) {
    const error = errors[i];
    if (typeof error !== 'number') {
      throw new SurpriseInputError('errors', `errors[${i}] must be a number, got ${describeType(error)}`);
    }
    if (!Number.isFinite(error)) {
      scores[i] = Infinity;
      continue;
    }
    if (error < 0) throw new SurpriseInputError('errors', `errors[${i}] is ${error}; prediction errors are >= 0`);
    scores[i] = stats.zScore(error) ?? 0;
    stats.update(error);
  }
  return scores;
}

const scoreValue = z.custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), {
  error: (issue) => `must be a number (±Infinity allowed), got ${typeof issue.input === 'number' ? 'NaN' : describeType(issue.input)}`,
});
const AurocInputSchema = z
  .strictObject({
    scores: z.array(scoreValue),
    labels: z.array(z.union([z.boolean(), z.literal(0), z.literal(1)], { error: 'must be true/false or 1/0' })),
  })
  .superRefine((v, ctx) => {
    if (v.scores.length !== v.labels.length) {
      ctx.addIssue({ code: 'custom', path: ['labels'], message: `has ${v.labels.length} entries but scores has ${v.scores.length}` });
    }
  });

/**
 * Area under the ROC curve: the probability that a positive (label true/1)
 * scores higher than a negative, ties counting one half (Mann–Whitney U with
 * mid-ranks). Needs at least one positive and one negative; NaN scores are
 * refused.
 */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<boolean | number>): number {
  const parsed = AurocInputSchema.safeParse({ scores: Array.from(scores ?? []), labels: Array.from(labels ?? []) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const [name, index] = issue.path;
    const where = index === undefined ? String(name) : `${String(name)}[${String(index)}]`;
    throw new SurpriseInputError(String(name), `auroc: ${where} ${issue.message}`);
  }
  const { scores: s, labels: l } = parsed.data;
  const positive = l.map((x) => x === true || x === 1);
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) {
    throw new SurpriseInputError('labels', `auroc needs at least one positive and one negative label, got ${nPos} positive and ${nNeg} negative`);
  }
  const order = s.map((_, i) => i).sort((a, b) => s[a] - s[b] || 0);
  let rankSumPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && s[order[j + 1]] === s[order[i]]) j++;
    const midRank = (i + j) / 2 + 1; // ranks are 1-based
    for (let k = i; k <= j; k++) if (positive[order[k]]) rankSumPos += midRank;
    i = j + 1;
  }
  return (rankSumPos - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}
