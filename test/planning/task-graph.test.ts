/**
 * Task graphs: zod-validated sequences of sub-goals run as a state machine
 * behind Planner.plan — progress through latent / image / pose / joint
 * targets, success predicates, step and ms timeouts, retries, failure,
 * surprise-triggered re-planning, and clear errors for malformed graphs.
 */
import { describe, expect, it } from 'vitest';
import { CemPlanner } from '../../src/planning/cem';
import { PlanConfigError, TaskFailedError } from '../../src/planning/errors';
import { RecedingHorizon, type RecedingResult } from '../../src/planning/receding-horizon';
import { type TaskGraphInput, TaskGraphPlanner } from '../../src/planning/task-graph';
import type { PlanBudget, PlanGoal, PlanOptions, Planner, PlanResult, PlanState } from '../../src/planning/types';
import { pointMass } from './linear-model';

/** Records the goals and options it is given; returns a zero plan. */
class GoalRecordingPlanner implements Planner {
  readonly horizon = 2;
  readonly actionDim = 2;
  goals: PlanGoal[] = [];
  options: PlanOptions[] = [];
  resets = 0;
  async plan(_s: PlanState, goal: PlanGoal, _b: PlanBudget, options: PlanOptions = {}): Promise<PlanResult> {
    this.goals.push(goal);
    this.options.push(options);
    return {
      actions: new Float32Array(4),
      energy: 0,
      iterations: 1,
      converged: true,
      trace: { iterations: [], total_ms: 0, rollout_ms: 0, outside_ms: 0, stop: 'converged' },
      mean: new Float32Array(4),
      horizon: 2,
      actionDim: 2,
    };
  }
  reset(): void {
    this.resets++;
  }
}

const at = (x: number, y: number): PlanState => ({ z0: Float32Array.from([x, y]), proprio: Float32Array.from([x, y]), pose: { position_m: [x, y, 0] } });
const finalGoal = { latent: Float32Array.from([9, 9]) };
const budget = { maxIterations: 1 };
const latentSubgoal = (id: string, x: number, y: number, extra: Partial<TaskGraphInput['subgoals'][number]> = {}) => ({
  id,
  target: { kind: 'latent' as const, latent: [x, y] },
  success: { kind: 'latentDistance' as const, below: 1e-3 },
  timeout: { steps: 50 },
  ...extra,
});

describe('task graph execution', () => {
  it('reaches latent waypoints in order with a real CEM under receding horizon, then plans toward the final goal', async () => {
    const model = pointMass(0.1, 1);
    const cem = new CemPlanner(model, { horizon: 6, samples: 96, seed: 3, energy: { terminalWeight: 1, runningWeight: 0.2 } });
    const graph: TaskGraphInput = {
      name: 'square',
      subgoals: [
        { ...latentSubgoal('east', 0.3, 0), success: { kind: 'latentDistance', metric: 'l1', below: 0.02 } },
        { ...latentSubgoal('north-east', 0.3, 0.3), success: { kind: 'latentDistance', metric: 'l1', below: 0.02 } },
        { ...latentSubgoal('north', 0, 0.3), success: { kind: 'latentDistance', metric: 'l1', below: 0.02 } },
      ],
    };
    const task = new TaskGraphPlanner(cem, graph, {}, { stepsPerCall: 2 });
    const rh = new RecedingHorizon(task, { executeSteps: 2 });
    const z = new Float32Array(2);
    const visited: string[] = [];
    let last: RecedingResult | undefined;
    for (let call = 0; call < 40 && task.progress().status === 'running'; call++) {
      last = await rh.plan({ z0: z.slice() }, { latent: Float32Array.from([0, 0.3]) }, { maxIterations: 12 });
      const id = last.subgoal!.id!;
      if (visited.at(-1) !== id) visited.push(id);
      for (let t = 0; t < 2; t++) for (let j = 0; j < 2; j++) z[j] += 0.1 * last.execute[t * 2 + j];
    }
    // One more call notices the last success and switches to the final goal.
    last = await rh.plan({ z0: z.slice() }, { latent: Float32Array.from([0, 0.3]) }, { maxIterations: 2 });
    expect(visited).toEqual(['east', 'north-east', 'north']);
    expect(task.progress().status).toBe('complete');
    expect(task.progress().succeeded).toEqual(['east', 'north-east', 'north']);
    expect(last.subgoal!.complete).toBe(true);
    expect(task.history().filter((e) => e.type === 'succeeded').map((e) => ('subgoal' in e ? e.subgoal : ''))).toEqual(['east', 'north-east', 'north']);
    expect(task.history().at(-1)!.type).toBe('completed');
  });

  it('resolves image, pose and joint targets through the injected resolvers and checks their predicates on the measured state', async () => {
    const low = new GoalRecordingPlanner();
    const images = new Map([['shelf.png', Float32Array.from([0.7, 0.1])]]);
    const calls: string[] = [];
    const task = new TaskGraphPlanner(
      low,
      {
        subgoals: [
          { id: 'look', target: { kind: 'image', image: 'shelf.png' }, success: { kind: 'latentDistance', below: 0.01 }, timeout: { steps: 10 } },
          { id: 'reach', target: { kind: 'pose', position_m: [0.5, 0.5, 0] }, success: { kind: 'poseWithin', position_m: 0.05 }, timeout: { steps: 10 } },
          { id: 'fold', target: { kind: 'joints', positions_rad: [0.2, -0.2] }, success: { kind: 'jointsWithin', tolerance_rad: 0.01 }, timeout: { steps: 10 } },
        ],
      },
      {
        image: (ref) => (calls.push(`image:${ref}`), { latent: images.get(ref)! }),
        pose: (p) => (calls.push(`pose:${p.position_m.join(',')}`), { latent: Float32Array.from([p.position_m[0], p.position_m[1]]) }),
        joints: async (q, idx) => (calls.push(`joints:${q.join(',')}@${idx.join(',')}`), { latent: Float32Array.from(q), proprio: { target: Float32Array.from(q) } }),
      },
    );
    const r1 = await task.plan(at(0, 0), finalGoal, budget);
    expect(r1.subgoal!.id).toBe('look');
    expect(Array.from(low.goals[0].latent)).toEqual([Float32Array.from([0.7, 0.1])[0], Float32Array.from([0.7, 0.1])[1]]);
    const r2 = await task.plan(at(0.7, 0.1), finalGoal, budget); // image goal reached → pose
    expect(r2.subgoal!.id).toBe('reach');
    const r3 = await task.plan(at(0.46, 0.5), finalGoal, budget); // 4 cm away: within 5 cm → joints
    expect(r3.subgoal!.id).toBe('fold');
    expect(Array.from(low.goals[2].proprio!.target)).toEqual([Float32Array.from([0.2])[0], Float32Array.from([-0.2])[0]]);
    const r4 = await task.plan(at(0.2, -0.18), finalGoal, budget); // joint 1 is 0.02 off: not yet
    expect(r4.subgoal!.id).toBe('fold');
    const r5 = await task.plan(at(0.205, -0.195), finalGoal, budget);
    expect(r5.subgoal!.complete).toBe(true);
    expect(low.goals.at(-1)).toBe(finalGoal);
    expect(calls).toEqual(['image:shelf.png', 'pose:0.5,0.5,0', 'joints:0.2,-0.2@0,1']);
  });

  it('resolves an object target when its sub-goal becomes active (where the object is then) and checks named predicates', async () => {
    const low = new GoalRecordingPlanner();
    let cube = [0.4, 0.1, 0.02];
    const asked: string[] = [];
    const task = new TaskGraphPlanner(
      low,
      {
        subgoals: [
          { id: 'wait', target: { kind: 'joints', positions_rad: [1, 1] }, success: { kind: 'jointsWithin', tolerance_rad: 0.01 }, timeout: { steps: 10 } },
          { id: 'above', target: { kind: 'object', object: 'cube', offset_m: [0, 0, 0.1], gripper_m: 0.04 }, success: { kind: 'check', name: 'over' }, timeout: { steps: 10 } },
        ],
      },
      {
        joints: (q) => ({ latent: Float32Array.from(q) }),
        object: (t) => {
          asked.push(`${t.object}@${t.offset_m.join(',')}/${t.gripper_m}`);
          return { latent: Float32Array.from([cube[0]! + t.offset_m[0]!, cube[2]! + t.offset_m[2]!]) };
        },
        checks: { over: (state, goal) => Math.abs(state.proprio![0]! - goal.latent[0]!) < 0.01 && Math.abs(state.proprio![1]! - goal.latent[1]!) < 0.01 },
      },
    );
    await task.plan(at(0, 0), finalGoal, budget);
    expect(asked).toEqual([]); // not yet active: not resolved
    cube = [0.5, -0.2, 0.02]; // the object moved before its sub-goal became active
    const r = await task.plan(at(1, 1), finalGoal, budget);
    expect(r.subgoal!.id).toBe('above');
    expect(asked).toEqual(['cube@0,0,0.1/0.04']);
    expect(low.goals.at(-1)!.latent[0]).toBeCloseTo(0.5, 6);
    expect((await task.plan(at(0.5, 0.05), finalGoal, budget)).subgoal!.complete).toBe(false);
    expect((await task.plan(at(0.5, 0.12), finalGoal, budget)).subgoal!.complete).toBe(true);
  });

  it('a pose predicate without a measured pose in the state is refused naming state.pose', async () => {
    const task = new TaskGraphPlanner(
      new GoalRecordingPlanner(),
      { subgoals: [{ id: 'p', target: { kind: 'pose', position_m: [0, 0, 0] }, success: { kind: 'poseWithin', position_m: 0.01 }, timeout: { steps: 1 } }] },
      { pose: () => ({ latent: new Float32Array(2) }) },
    );
    await expect(task.plan({ z0: new Float32Array(2) }, finalGoal, budget)).rejects.toThrow(expect.objectContaining({ field: 'state.pose' }));
  });

  it('retries a timed-out sub-goal (re-resolving it, cold start), then fails with TaskFailedError once retries run out', async () => {
    const low = new GoalRecordingPlanner();
    let resolves = 0;
    const task = new TaskGraphPlanner(
      low,
      { subgoals: [{ id: 'far', target: { kind: 'image', image: 'x' }, success: { kind: 'latentDistance', below: 0.01 }, timeout: { steps: 4 }, retries: 1 }] },
      { image: () => (resolves++, { latent: Float32Array.from([5, 5]) }) },
      { stepsPerCall: 2 },
    );
    const warm = { warmStart: new Float32Array(4).fill(1) };
    await task.plan(at(0, 0), finalGoal, budget, warm); // steps 0 → 2
    await task.plan(at(0, 0), finalGoal, budget, warm); // 2 → 4
    expect(low.options[1].warmStart).toBe(warm.warmStart);
    const r = await task.plan(at(0, 0), finalGoal, budget, warm); // timeout → retry, attempt 2
    expect(r.subgoal!.attempt).toBe(2);
    expect(resolves).toBe(2);
    expect(low.options[2].warmStart).toBeUndefined(); // the retry plans from scratch
    expect(low.resets).toBe(1);
    await task.plan(at(0, 0), finalGoal, budget, warm);
    const failure = task.plan(at(0, 0), finalGoal, budget, warm);
    await expect(failure).rejects.toThrow(TaskFailedError);
    await expect(task.plan(at(0, 0), finalGoal, budget)).rejects.toThrow(/sub-goal 'far' failed after 2 attempt\(s\): not reached within 4 steps/);
    expect(task.progress().status).toBe('failed');
    expect(task.history().map((e) => e.type)).toEqual(['started', 'timeout', 'retry', 'timeout', 'failed']);
    task.reset();
    expect(task.progress()).toMatchObject({ status: 'running', index: 0, attempt: 1 });
  });

  it("onFailure 'skip' gives up on a sub-goal after its retries and re-plans the remaining ones from the current state", async () => {
    const low = new GoalRecordingPlanner();
    const task = new TaskGraphPlanner(
      low,
      {
        subgoals: [
          latentSubgoal('unreachable', 5, 5, { timeout: { steps: 1 }, retries: 1, onFailure: 'skip' }),
          latentSubgoal('home', 0, 0),
        ],
      },
      {},
    );
    await task.plan(at(1, 1), finalGoal, budget); // attempt 1
    await task.plan(at(1, 1), finalGoal, budget); // timeout → attempt 2
    const r = await task.plan(at(0, 0), finalGoal, budget); // timeout → skipped; 'home' already holds → complete
    expect(r.subgoal!.complete).toBe(true);
    expect(task.progress()).toMatchObject({ status: 'complete', succeeded: ['home'], skipped: ['unreachable'] });
    expect(task.history().map((e) => e.type)).toEqual(['started', 'timeout', 'retry', 'timeout', 'skipped', 'started', 'succeeded', 'completed']);
  });

  it("a failing 'requires' check rewinds to the named sub-goal (re-resolved, cold start), and fails the task once maxRewinds is used up", async () => {
    const low = new GoalRecordingPlanner();
    let held = true;
    const task = new TaskGraphPlanner(
      low,
      {
        subgoals: [
          latentSubgoal('grasp', 1, 1),
          { ...latentSubgoal('carry', 5, 5), requires: { check: 'held', otherwise: 'grasp' } },
          { ...latentSubgoal('drop', 6, 6), requires: { check: 'held', otherwise: 'carry' } },
        ],
        maxRewinds: 1,
      },
      { checks: { held: () => held } },
    );
    await task.plan(at(1, 1), finalGoal, budget); // grasp holds → carry active
    expect(task.progress()).toMatchObject({ id: 'carry', succeeded: ['grasp'], rewinds: 0 });
    held = false; // the object slipped out
    const r = await task.plan(at(3, 3), finalGoal, budget);
    expect(r.subgoal!.id).toBe('grasp');
    expect(Array.from(low.goals.at(-1)!.latent)).toEqual([1, 1]);
    expect(low.options.at(-1)!.warmStart).toBeUndefined();
    expect(task.progress()).toMatchObject({ id: 'grasp', succeeded: [], rewinds: 1 });
    expect(task.history().at(-2)).toEqual({ type: 'rewound', subgoal: 'carry', to: 'grasp', check: 'held', step: 1 });
    held = true;
    await task.plan(at(1, 1), finalGoal, budget); // grasped again
    await task.plan(at(5, 5), finalGoal, budget); // carried → drop active
    expect(task.progress()).toMatchObject({ id: 'drop', succeeded: ['grasp', 'carry'] });
    held = false; // slips again: the second rewind is one too many
    await expect(task.plan(at(5, 5), finalGoal, budget)).rejects.toThrow(/sub-goal 'drop' failed after 1 attempt\(s\): required check 'held' failed 2 times \(at most 1 rewinds\); raise the graph's maxRewinds/);
    expect(task.progress().status).toBe('failed');
  });

  it('a millisecond timeout uses the injected clock', async () => {
    let now = 1000;
    const task = new TaskGraphPlanner(new GoalRecordingPlanner(), { subgoals: [latentSubgoal('slow', 1, 1, { timeout: { ms: 250 } })] }, {}, {}, () => now);
    await task.plan(at(0, 0), finalGoal, budget);
    now = 1249;
    await task.plan(at(0, 0), finalGoal, budget);
    now = 1250;
    await expect(task.plan(at(0, 0), finalGoal, budget)).rejects.toThrow(/not reached within 250 ms/);
  });

  it('notifySurprise at or above the threshold re-resolves the target and cold-starts the low level; below it changes nothing', async () => {
    const low = new GoalRecordingPlanner();
    let resolves = 0;
    const task = new TaskGraphPlanner(
      low,
      { subgoals: [{ id: 'cup', target: { kind: 'image', image: 'cup' }, success: { kind: 'latentDistance', below: 0.01 }, timeout: { steps: 100 } }] },
      { image: () => (resolves++, { latent: Float32Array.from([1, resolves]) }) },
      { surpriseThreshold: 0.5 },
    );
    const warm = { warmStart: new Float32Array(4).fill(1) };
    await task.plan(at(0, 0), finalGoal, budget, warm);
    await task.plan(at(0, 0), finalGoal, budget, warm);
    expect(task.notifySurprise(0.2)).toBe(false);
    await task.plan(at(0, 0), finalGoal, budget, warm);
    expect(resolves).toBe(1);
    expect(low.options[2].warmStart).toBe(warm.warmStart);
    expect(task.notifySurprise(0.9)).toBe(true);
    const r = await task.plan(at(0, 0), finalGoal, budget, warm);
    expect(resolves).toBe(2);
    expect(Array.from(r.subgoal!.goal.latent)).toEqual([1, 2]); // the re-resolved target
    expect(low.options[3].warmStart).toBeUndefined();
    expect(low.resets).toBe(1);
    expect(task.history().some((e) => e.type === 'surprise' && e.level === 0.9)).toBe(true);
    expect(() => task.notifySurprise(NaN)).toThrow(/level/);
  });
});

describe('malformed task graphs', () => {
  const low = new GoalRecordingPlanner();
  const problem = (graph: unknown, resolvers = {}): string => {
    try {
      new TaskGraphPlanner(low, graph as TaskGraphInput, resolvers);
    } catch (e) {
      expect(e).toBeInstanceOf(PlanConfigError);
      return (e as PlanConfigError).message;
    }
    throw new Error('expected the graph to be refused');
  };

  it('an unknown onFailure policy names the field', () => {
    expect(problem({ subgoals: [latentSubgoal('a', 0, 0, { onFailure: 'ignore' as 'skip' })] })).toMatch(/subgoals\.0\.onFailure/);
  });

  it('retries < 0 names subgoals.<i>.retries', () => {
    expect(problem({ subgoals: [latentSubgoal('a', 0, 0), latentSubgoal('b', 1, 1, { retries: -1 })] })).toMatch(/subgoals\.1\.retries/);
  });

  it('an empty graph, a missing timeout, or an unknown target kind name the field', () => {
    expect(problem({ subgoals: [] })).toMatch(/subgoals:/);
    expect(problem({ subgoals: [latentSubgoal('a', 0, 0, { timeout: {} })] })).toMatch(/subgoals\.0\.timeout: a timeout needs steps or ms/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), target: { kind: 'teleport' } }] })).toMatch(/subgoals\.0\.target\.kind/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), extra: 1 }] })).toMatch(/subgoals\.0/);
  });

  it('duplicate ids and predicates that do not fit the target are refused', () => {
    expect(problem({ subgoals: [latentSubgoal('a', 0, 0), latentSubgoal('a', 1, 1)] })).toMatch(/subgoals\.1\.id: 'a' is used twice/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), success: { kind: 'poseWithin', position_m: 0.01 } }] })).toMatch(/subgoals\.0\.success\.kind: poseWithin needs a pose target/);
  });

  it('a target kind without its resolver is refused at construction, naming the resolver', () => {
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), target: { kind: 'image', image: 'x.png' } }] })).toMatch(/subgoals\.0\.target: a 'image' target needs resolvers\.image/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), target: { kind: 'object', object: 'cube' } }] })).toMatch(/subgoals\.0\.target: a 'object' target needs resolvers\.object/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), success: { kind: 'check', name: 'held' } }] })).toMatch(/subgoals\.0\.success: check 'held' is not among resolvers\.checks \(none given\)/);
    expect(problem({ subgoals: [{ ...latentSubgoal('a', 0, 0), target: { kind: 'object', object: '' } }] })).toMatch(/subgoals\.0\.target\.object/);
  });

  it("a 'requires' check must be given and must rewind to this sub-goal or an earlier one", () => {
    const carry = (otherwise: string) => ({ ...latentSubgoal('carry', 1, 1), requires: { check: 'held', otherwise } });
    const checks = { checks: { held: () => true } };
    expect(problem({ subgoals: [latentSubgoal('grasp', 0, 0), carry('grasp')] })).toMatch(/subgoals\.1\.requires: check 'held' is not among resolvers\.checks/);
    expect(problem({ subgoals: [carry('place'), latentSubgoal('place', 0, 0)] }, checks)).toMatch(/subgoals\.0\.requires\.otherwise: 'place' comes after 'carry'/);
    expect(problem({ subgoals: [carry('nowhere')] }, checks)).toMatch(/subgoals\.0\.requires\.otherwise: 'nowhere' is not a sub-goal id/);
    expect(problem({ subgoals: [carry('carry')], maxRewinds: -1 }, checks)).toMatch(/maxRewinds/);
  });
});
