/**
 * Argument checks shared by every WorldModel backend (the float64 reference
 * and the native wrapper call the same functions before doing any work), so a
 * bad call fails the same way, with the same message, whatever the backend.
 *
 * Rules:
 *  - wrong typed-array type            → ArgumentTypeError (a TypeError)
 *  - wrong size / shape / count / weight → ArgumentRangeError (a RangeError),
 *    message says expected vs got
 *  - NaN or ±Infinity in any input     → ArgumentRangeError naming the argument
 *    and the first bad index
 *  - returnProprio / decodeProprio on a model without a proprio head
 *                                      → MissingProprioHeadError
 *  - a call after dispose()            → ModelDisposedError
 *
 * Optional cost weights default to 0 (see resolveCost): giving actionBounds
 * without boundsWeight adds nothing to the energy.
 */
import type { ModelDims } from '../model/config';
import type { RolloutCost, RolloutRequest } from './types';

/** An argument of the wrong JavaScript type (for example a Float64Array where a Float32Array is needed). */
export class ArgumentTypeError extends TypeError {
  override name = 'ArgumentTypeError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}

/** An argument of the right type but the wrong size, sign or value. */
export class ArgumentRangeError extends RangeError {
  override name = 'ArgumentRangeError';
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(message);
  }
}

/** The model has no proprio head but the call needs one. */
export class MissingProprioHeadError extends Error {
  override name = 'MissingProprioHeadError';
  constructor(what: string, modelName?: string) {
    super(
      `${what} needs a proprio head, but ${modelName ? `model '${modelName}'` : 'this model'} has none ` +
        `(config.json has no "proprio" section and model.safetensors no proprio_head tensors); ` +
        `use a checkpoint trained with a proprio head, or do not ask for proprio outputs`,
    );
  }
}

/** A call on a model whose dispose() has already run. */
export class ModelDisposedError extends Error {
  override name = 'ModelDisposedError';
  constructor(what: string) {
    super(`${what} called after dispose(); load the model again to keep using it`);
  }
}

/** Human name of a value's type, for messages: 'Float64Array', 'Array', 'number', 'undefined'. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'Object';
  return typeof value;
}

/** Throws ArgumentTypeError unless value is a Float32Array. */
export function requireFloat32Array(argument: string, value: unknown): asserts value is Float32Array {
  if (!(value instanceof Float32Array)) {
    throw new ArgumentTypeError(
      argument,
      `${argument} must be a Float32Array, got ${describeType(value)}` +
        (ArrayBuffer.isView(value) || Array.isArray(value) ? ` (convert it with new Float32Array(${argument}))` : ''),
    );
  }
}

/** Throws ArgumentRangeError at the first NaN or ±Infinity, naming the index. */
export function requireFinite(argument: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new ArgumentRangeError(
        argument,
        `${argument}[${i}] is ${values[i]}; every element must be finite (find where the NaN/Infinity was produced upstream)`,
      );
    }
  }
}

/** Throws ArgumentRangeError unless length === expected; `shape` describes the expected layout. */
export function requireLength(argument: string, values: Float32Array, expected: number, shape: string): void {
  if (values.length !== expected) {
    throw new ArgumentRangeError(argument, `${argument} must have ${expected} elements (${shape}), got ${values.length}`);
  }
}

/** Throws unless value is a positive safe integer. */
export function requirePositiveInt(argument: string, value: unknown): asserts value is number {
  if (typeof value !== 'number') {
    throw new ArgumentTypeError(argument, `${argument} must be a number, got ${describeType(value)}`);
  }
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new ArgumentRangeError(argument, `${argument} must be a positive integer, got ${value}`);
  }
}

/** Throws unless value is a finite number >= 0 (undefined allowed when optional). */
function requireWeight(argument: string, value: unknown, optional: boolean): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'number') {
    throw new ArgumentTypeError(argument, `${argument} must be a number, got ${describeType(value)}`);
  }
  if (!Number.isFinite(value) || value < 0) {
    throw new ArgumentRangeError(argument, `${argument} must be a finite number >= 0, got ${value}`);
  }
}

/** A Float32Array argument: type, then length, then finiteness. */
function checkArray(argument: string, value: unknown, expected: number, shape: string): asserts value is Float32Array {
  requireFloat32Array(argument, value);
  requireLength(argument, value, expected, shape);
  requireFinite(argument, value);
}

/** Checks encode(frames, count): frames [count, inputSize] of finite float32. */
export function checkEncodeArgs(dims: ModelDims, frames: unknown, count: unknown): void {
  requireFloat32Array('frames', frames);
  requirePositiveInt('count', count);
  checkArray('frames', frames, count * dims.inputSize, `count ${count} × inputSize ${dims.inputSize}`);
}

/** Checks decodeProprio(latents, count): needs a proprio head; latents [count, latentSize]. */
export function checkDecodeProprioArgs(dims: ModelDims, latents: unknown, count: unknown): void {
  if (dims.proprioDim <= 0) throw new MissingProprioHeadError('decodeProprio');
  requireFloat32Array('latents', latents);
  requirePositiveInt('count', count);
  checkArray('latents', latents, count * dims.latentSize, `count ${count} × latentSize ${dims.latentSize}`);
}

/** Sizes a valid rollout request implies. */
export interface RolloutShape {
  /** Samples: actions.length / (H · A). */
  N: number;
  /** Horizon. */
  H: number;
  /** History frames in z0 (1..historyLength). */
  F: number;
}

/** Checks a rollout request against the model's sizes; returns {N, H, F}. */
export function checkRolloutRequest(dims: ModelDims, req: RolloutRequest): RolloutShape {
  if (req === null || typeof req !== 'object') {
    throw new ArgumentTypeError('request', `rollout request must be an object, got ${describeType(req)}`);
  }
  const L = dims.latentSize;
  const A = dims.actionDim;

  requirePositiveInt('horizon', req.horizon);
  const H = req.horizon;

  requireFloat32Array('actions', req.actions);
  const step = H * A;
  if (req.actions.length === 0 || req.actions.length % step !== 0) {
    throw new ArgumentRangeError(
      'actions',
      `actions must hold N × horizon ${H} × actionDim ${A} elements (a positive multiple of ${step}), got ${req.actions.length}`,
    );
  }
  const N = req.actions.length / step;
  requireFinite('actions', req.actions);

  requireFloat32Array('z0', req.z0);
  if (req.z0.length === 0 || req.z0.length % L !== 0) {
    throw new ArgumentRangeError(
      'z0',
      `z0 must hold F × latentSize ${L} elements (whole frames, 1 <= F <= historyLength ${dims.historyLength}), got ${req.z0.length}`,
    );
  }
  const F = req.z0.length / L;
  if (F > dims.historyLength) {
    throw new ArgumentRangeError(
      'z0',
      `z0 holds ${F} frames but the predictor's historyLength is ${dims.historyLength}; pass at most the last ${dims.historyLength} frames`,
    );
  }
  requireFinite('z0', req.z0);

  if (req.actionHistory !== undefined) {
    checkArray('actionHistory', req.actionHistory, (F - 1) * A, `(F ${F} - 1) × actionDim ${A}`);
  }

  checkArray('goal', req.goal, L, `latentSize ${L}`);

  checkCost(req.cost, A);

  if (req.returnProprio && dims.proprioDim <= 0) throw new MissingProprioHeadError('rollout with returnProprio');

  if (req.signal !== undefined && !(req.signal instanceof AbortSignal)) {
    throw new ArgumentTypeError('signal', `signal must be an AbortSignal, got ${describeType(req.signal)}`);
  }
  return { N, H, F };
}

function checkCost(cost: RolloutCost, A: number): void {
  if (cost === null || typeof cost !== 'object') {
    throw new ArgumentTypeError('cost', `cost must be an object, got ${describeType(cost)}`);
  }
  if (cost.metric !== 'l1' && cost.metric !== 'l2') {
    throw new ArgumentRangeError('cost.metric', `cost.metric must be 'l1' or 'l2', got ${JSON.stringify(cost.metric)}`);
  }
  requireWeight('cost.terminalWeight', cost.terminalWeight, false);
  requireWeight('cost.runningWeight', cost.runningWeight, false);
  requireWeight('cost.actionMagnitudeWeight', cost.actionMagnitudeWeight, true);
  requireWeight('cost.actionRateWeight', cost.actionRateWeight, true);
  requireWeight('cost.boundsWeight', cost.boundsWeight, true);
  if (cost.previousAction !== undefined) checkArray('cost.previousAction', cost.previousAction, A, `actionDim ${A}`);
  if (cost.actionBounds !== undefined) {
    const b = cost.actionBounds;
    if (b === null || typeof b !== 'object') {
      throw new ArgumentTypeError('cost.actionBounds', `cost.actionBounds must be {low, high}, got ${describeType(b)}`);
    }
    checkArray('cost.actionBounds.low', b.low, A, `actionDim ${A}`);
    checkArray('cost.actionBounds.high', b.high, A, `actionDim ${A}`);
    for (let j = 0; j < A; j++) {
      if (!(b.low[j] < b.high[j])) {
        throw new ArgumentRangeError(
          'cost.actionBounds',
          `cost.actionBounds.low[${j}] must be < high[${j}], got low ${b.low[j]} >= high ${b.high[j]}`,
        );
      }
    }
  }
}

/** A cost with every optional weight resolved (absent weights are 0). */
export interface ResolvedCost {
  metric: 'l1' | 'l2';
  terminalWeight: number;
  runningWeight: number;
  actionMagnitudeWeight: number;
  actionRateWeight: number;
  boundsWeight: number;
  previousAction?: Float32Array;
  actionBounds?: { low: Float32Array; high: Float32Array };
}

export function resolveCost(cost: RolloutCost): ResolvedCost {
  return {
    metric: cost.metric,
    terminalWeight: cost.terminalWeight,
    runningWeight: cost.runningWeight,
    actionMagnitudeWeight: cost.actionMagnitudeWeight ?? 0,
    actionRateWeight: cost.actionRateWeight ?? 0,
    boundsWeight: cost.boundsWeight ?? 0,
    previousAction: cost.previousAction,
    actionBounds: cost.actionBounds,
  };
}
