/**
 * Error classes of the planner (src/planning/). Every message names the field
 * that was wrong, what was expected, what was given and what to do, so a bad
 * goal, state, budget, planner option or task graph fails loudly at the
 * boundary instead of producing a silently wrong plan.
 */
import type { z } from 'zod';

/** A plan() argument (state, goal, budget, options) that is malformed. */
export class PlanInputError extends RangeError {
  override name = 'PlanInputError';
  constructor(
    /** Dotted path of the offending field, e.g. 'goal.latent' or 'state.z0[3]'. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A planner / energy / task-graph configuration that failed its zod schema. */
export class PlanConfigError extends Error {
  override name = 'PlanConfigError';
  constructor(
    /** What was being parsed: 'CEM options', 'task graph', ... */
    readonly what: string,
    /** One line per problem, each starting with the field path. */
    readonly problems: string[],
  ) {
    super(`invalid ${what}:\n  - ${problems.join('\n  - ')}`);
  }

  /** Dotted path of the first problem's field (for tests and logs). */
  get field(): string {
    return this.problems[0]?.split(':')[0] ?? '(root)';
  }
}

/** An energy term that misbehaved at run time (wrong output length, NaN). */
export class EnergyTermError extends Error {
  override name = 'EnergyTermError';
  constructor(
    readonly term: string,
    message: string,
  ) {
    super(`energy term '${term}': ${message}`);
  }
}

/** plan() called on a sampling planner while its previous plan() is still running (they share buffers). */
export class PlannerBusyError extends Error {
  override name = 'PlannerBusyError';
  constructor(planner: string) {
    super(`${planner}.plan() called while a previous plan() on the same planner is still running; await it first, or use one planner per concurrent caller`);
  }
}

/** A task-graph sub-goal that ran out of retries (or its task out of rewinds); the graph cannot go on. */
export class TaskFailedError extends Error {
  override name = 'TaskFailedError';
  constructor(
    readonly subgoalId: string,
    readonly attempts: number,
    readonly reason: string,
    hint = 'raise its retries or timeout, or check that its target is reachable',
  ) {
    super(`sub-goal '${subgoalId}' failed after ${attempts} attempt(s): ${reason}; ${hint}`);
  }
}

/** Parses `value` with `schema`, throwing PlanConfigError that lists every bad field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new PlanConfigError(
      what,
      result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  return result.data;
}
