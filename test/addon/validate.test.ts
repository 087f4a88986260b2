// Every argument error the shared validation raises: type, size, value and NaN position.
import { describe, expect, it } from 'vitest';
import type { RolloutRequest } from '../../src/addon/types';
import {
  ArgumentRangeError,
  ArgumentTypeError,
  checkDecodeProprioArgs,
  checkEncodeArgs,
  checkRolloutRequest,
  MissingProprioHeadError,
  resolveCost,
} from '../../src/addon/validate';
import type { ModelDims } from '../../src/model/config';

const dims: ModelDims = {
  latentTokens: 2, latentDim: 3, latentSize: 6, actionDim: 2, historyLength: 3, predictorWidth: 3, inputSize: 5, proprioDim: 4,
};
const noProprio: ModelDims = { ...dims, proprioDim: 0 };

function request(extra: Partial<RolloutRequest> = {}): RolloutRequest {
  return {
    z0: new Float32Array(12), // F = 2
    actionHistory: new Float32Array(2),
    actions: new Float32Array(5 * 4 * 2), // N = 5, H = 4
    horizon: 4,
    goal: new Float32Array(6),
    cost: { metric: 'l2', terminalWeight: 1, runningWeight: 0.5 },
    ...extra,
  };
}

/** Runs fn, expects it to throw `cls`, returns the message. */
function message(fn: () => unknown, cls: new (...args: never[]) => Error): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(cls);
    return (err as Error).message;
  }
  throw new Error('expected a throw');
}

describe('checkRolloutRequest', () => {
  it('returns N, H and F for a valid request', () => {
    expect(checkRolloutRequest(dims, request())).toEqual({ N: 5, H: 4, F: 2 });
    expect(checkRolloutRequest(dims, request({ z0: new Float32Array(18), actionHistory: undefined }))).toEqual({ N: 5, H: 4, F: 3 });
  });

  it('names the argument and the expected type for a wrong typed array', () => {
    const m = message(() => checkRolloutRequest(dims, request({ actions: new Float64Array(40) as unknown as Float32Array })), TypeError);
    expect(m).toContain('actions must be a Float32Array, got Float64Array');
    expect(message(() => checkRolloutRequest(dims, request({ z0: [0, 0, 0, 0, 0, 0] as unknown as Float32Array })), ArgumentTypeError)).toContain(
      'z0 must be a Float32Array, got Array',
    );
    expect(message(() => checkRolloutRequest(dims, request({ goal: undefined as unknown as Float32Array })), ArgumentTypeError)).toContain(
      'goal must be a Float32Array, got undefined',
    );
  });

  it('refuses a non-integer, zero or negative horizon', () => {
    for (const horizon of [0, -1, 2.5, NaN]) {
      expect(message(() => checkRolloutRequest(dims, request({ horizon })), RangeError)).toContain(`horizon must be a positive integer, got ${horizon}`);
    }
    expect(message(() => checkRolloutRequest(dims, request({ horizon: '4' as unknown as number })), TypeError)).toContain('horizon must be a number, got string');
  });

  it('refuses actions whose length is not a multiple of H·A', () => {
    const m = message(() => checkRolloutRequest(dims, request({ actions: new Float32Array(41) })), RangeError);
    expect(m).toContain('a positive multiple of 8), got 41');
    expect(message(() => checkRolloutRequest(dims, request({ actions: new Float32Array(0) })), RangeError)).toContain('got 0');
  });

  it('refuses a goal of the wrong size with expected vs got', () => {
    expect(message(() => checkRolloutRequest(dims, request({ goal: new Float32Array(5) })), ArgumentRangeError)).toContain('goal must have 6 elements (latentSize 6), got 5');
  });

  it('refuses z0 that is not whole frames or more than historyLength frames', () => {
    expect(message(() => checkRolloutRequest(dims, request({ z0: new Float32Array(7) })), RangeError)).toContain('whole frames');
    expect(message(() => checkRolloutRequest(dims, request({ z0: new Float32Array(0) })), RangeError)).toContain('got 0');
    const m = message(() => checkRolloutRequest(dims, request({ z0: new Float32Array(24), actionHistory: undefined })), RangeError);
    expect(m).toContain("z0 holds 4 frames but the predictor's historyLength is 3");
  });

  it('refuses an actionHistory that is not (F - 1) × A', () => {
    expect(message(() => checkRolloutRequest(dims, request({ actionHistory: new Float32Array(4) })), RangeError)).toContain(
      'actionHistory must have 2 elements ((F 2 - 1) × actionDim 2), got 4',
    );
    expect(message(() => checkRolloutRequest(dims, request({ z0: new Float32Array(6), actionHistory: new Float32Array(2) })), RangeError)).toContain(
      'actionHistory must have 0 elements',
    );
  });

  it('names the argument and the first bad index for NaN or Infinity', () => {
    const actions = new Float32Array(40);
    actions[17] = NaN;
    actions[30] = NaN;
    expect(message(() => checkRolloutRequest(dims, request({ actions })), RangeError)).toContain('actions[17] is NaN');
    const z0 = new Float32Array(12);
    z0[11] = -Infinity;
    expect(message(() => checkRolloutRequest(dims, request({ z0 })), RangeError)).toContain('z0[11] is -Infinity');
    const goal = new Float32Array(6);
    goal[0] = Infinity;
    expect(message(() => checkRolloutRequest(dims, request({ goal })), RangeError)).toContain('goal[0] is Infinity');
    const actionHistory = Float32Array.from([0, NaN]);
    expect(message(() => checkRolloutRequest(dims, request({ actionHistory })), RangeError)).toContain('actionHistory[1] is NaN');
    const previousAction = Float32Array.from([NaN, 0]);
    expect(message(() => checkRolloutRequest(dims, request({ cost: { metric: 'l1', terminalWeight: 1, runningWeight: 1, previousAction } })), RangeError)).toContain(
      'cost.previousAction[0] is NaN',
    );
  });

  it('refuses negative or non-finite weights', () => {
    const cost = (extra: object) => request({ cost: { metric: 'l1', terminalWeight: 1, runningWeight: 1, ...extra } });
    expect(message(() => checkRolloutRequest(dims, cost({ terminalWeight: -1 })), RangeError)).toContain('cost.terminalWeight must be a finite number >= 0, got -1');
    expect(message(() => checkRolloutRequest(dims, cost({ runningWeight: Infinity })), RangeError)).toContain('cost.runningWeight must be a finite number >= 0, got Infinity');
    expect(message(() => checkRolloutRequest(dims, cost({ actionRateWeight: NaN })), RangeError)).toContain('cost.actionRateWeight');
    expect(message(() => checkRolloutRequest(dims, cost({ boundsWeight: -0.1 })), RangeError)).toContain('cost.boundsWeight');
    expect(message(() => checkRolloutRequest(dims, cost({ actionMagnitudeWeight: -2 })), RangeError)).toContain('cost.actionMagnitudeWeight');
    expect(message(() => checkRolloutRequest(dims, cost({ metric: 'l3' })), RangeError)).toContain(`cost.metric must be 'l1' or 'l2', got "l3"`);
  });

  it('refuses bounds of the wrong size or with low >= high', () => {
    const withBounds = (low: Float32Array, high: Float32Array) =>
      request({ cost: { metric: 'l1', terminalWeight: 1, runningWeight: 1, actionBounds: { low, high }, boundsWeight: 1 } });
    expect(message(() => checkRolloutRequest(dims, withBounds(new Float32Array(3), new Float32Array(2))), RangeError)).toContain(
      'cost.actionBounds.low must have 2 elements (actionDim 2), got 3',
    );
    expect(message(() => checkRolloutRequest(dims, withBounds(Float32Array.from([0, 1]), Float32Array.from([1, 1]))), RangeError)).toContain(
      'cost.actionBounds.low[1] must be < high[1], got low 1 >= high 1',
    );
    expect(message(() => checkRolloutRequest(dims, request({ cost: { metric: 'l1', terminalWeight: 1, runningWeight: 1, previousAction: new Float32Array(3) } })), RangeError)).toContain(
      'cost.previousAction must have 2 elements',
    );
  });

  it('refuses returnProprio without a proprio head, with advice', () => {
    const m = message(() => checkRolloutRequest(noProprio, request({ returnProprio: true })), MissingProprioHeadError);
    expect(m).toContain('needs a proprio head');
    expect(m).toContain('do not ask for proprio outputs');
    expect(checkRolloutRequest(dims, request({ returnProprio: true })).N).toBe(5);
  });

  it('resolveCost defaults the optional weights to 0', () => {
    expect(resolveCost({ metric: 'l1', terminalWeight: 2, runningWeight: 3 })).toMatchObject({
      actionMagnitudeWeight: 0, actionRateWeight: 0, boundsWeight: 0, terminalWeight: 2, runningWeight: 3,
    });
  });
});

describe('checkEncodeArgs and checkDecodeProprioArgs', () => {
  it('accepts [count, inputSize] frames', () => {
    expect(() => checkEncodeArgs(dims, new Float32Array(15), 3)).not.toThrow();
  });

  it('refuses a wrong type, count or size', () => {
    expect(message(() => checkEncodeArgs(dims, new Uint8Array(15), 3), TypeError)).toContain('frames must be a Float32Array, got Uint8Array');
    expect(message(() => checkEncodeArgs(dims, new Float32Array(15), 0), RangeError)).toContain('count must be a positive integer, got 0');
    expect(message(() => checkEncodeArgs(dims, new Float32Array(15), 1.5), RangeError)).toContain('count must be a positive integer, got 1.5');
    expect(message(() => checkEncodeArgs(dims, new Float32Array(14), 3), RangeError)).toContain('frames must have 15 elements (count 3 × inputSize 5), got 14');
  });

  it('names the first NaN in frames', () => {
    const frames = new Float32Array(10);
    frames[7] = NaN;
    expect(message(() => checkEncodeArgs(dims, frames, 2), RangeError)).toContain('frames[7] is NaN');
  });

  it('decodeProprio needs a head and [count, latentSize] latents', () => {
    expect(message(() => checkDecodeProprioArgs(noProprio, new Float32Array(6), 1), MissingProprioHeadError)).toContain('decodeProprio needs a proprio head');
    expect(message(() => checkDecodeProprioArgs(dims, new Float32Array(7), 1), RangeError)).toContain('latents must have 6 elements');
    expect(() => checkDecodeProprioArgs(dims, new Float32Array(12), 2)).not.toThrow();
  });
});
