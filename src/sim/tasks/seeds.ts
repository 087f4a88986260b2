/**
 * The task seed split. Training data and training-time episodes draw seeds
 * from TRAIN_SEEDS; evaluation uses the disjoint EVAL_SEEDS. `checkSeed`
 * refuses a seed outside the range of the requested mode, so an evaluation
 * episode can never leak into a training set (and the other way round).
 */
import { z } from 'zod';

export const SplitMode = z.enum(['train', 'eval']);
export type SplitMode = z.infer<typeof SplitMode>;

/** Half-open seed ranges [start, end). */
export const TRAIN_SEEDS = { start: 0, end: 100_000 } as const;
export const EVAL_SEEDS = { start: 1_000_000, end: 1_001_000 } as const;

export class SeedSplitError extends Error {
  override name = 'SeedSplitError';
  constructor(
    readonly seed: number,
    readonly mode: SplitMode,
  ) {
    const r = mode === 'train' ? TRAIN_SEEDS : EVAL_SEEDS;
    const hint =
      mode === 'train' && seed >= EVAL_SEEDS.start && seed < EVAL_SEEDS.end
        ? ' It is an evaluation seed: evaluation episodes must never be used for training.'
        : '';
    super(`Seed ${seed} is outside the ${mode} seed range [${r.start}, ${r.end}).${hint} Pick a seed in that range.`);
  }
}

export function seedRange(mode: SplitMode): { start: number; end: number } {
  return mode === 'train' ? TRAIN_SEEDS : EVAL_SEEDS;
}

/** Throws SeedSplitError unless `seed` lies in the range of `mode`. */
export function checkSeed(seed: number, mode: SplitMode): number {
  const r = seedRange(mode);
  if (!Number.isInteger(seed) || seed < r.start || seed >= r.end) throw new SeedSplitError(seed, mode);
  return seed;
}
