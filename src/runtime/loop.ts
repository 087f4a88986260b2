/**
 * The control loop of ../shared/DESIGN.md, one tick at a time:
 *
 *   observe → encode → memory → surprise → plan → shield → act
 *
 * It owns the wiring and the bookkeeping (deadline accounting, per-tick
 * records, shield and surprise statistics); each stage stays in its folder
 * and is handed in. Data moves one way: the planner's first action becomes a
 * shield command through the robot's ActionAdapter; only what the shield
 * passes (or scales, or clamps) reaches the arm; on halt the arm holds.
 *
 * Timing: in 'lockstep' the world waits for the planner (the embedded
 * simulator), so a planning overrun is counted but cannot make a command
 * stale; in 'realtime' (ROS 2) an overrun means the plan is older than its
 * period, so the loop sends the hold command instead of the stale plan and
 * replans next tick.
 */
import type { WorldModel } from '../addon/types';
import type { WorldMemory } from '../memory/world-memory';
import type { ObjectSighting } from '../memory/records';
import type { SurpriseMonitor, SurpriseReading } from '../perception/surprise';
import type { PlanBudget, PlanGoal, Planner, PlanResult, PlanState } from '../planning/types';
import type { Arm, Observation } from '../robot/arm';
import type { Shield, ShieldCommand, ShieldDecision } from '../safety/shield';

/** How a planned action becomes a shield command and, once checked, an arm action. */
export interface ActionAdapter {
  /** Shield command for `action` (the planner's first action) from the measured state. */
  toCommand(action: Float32Array, obs: Observation, period_s: number, stamp_s: number): ShieldCommand;
  /** Arm action carrying out the shield's decision for one period; the hold action on halt. */
  toArmAction(decision: ShieldDecision, action: Float32Array, obs: Observation, period_s: number): Float64Array;
  /** Arm action that holds the current state (used on halt and on deadline overrun). */
  hold(obs: Observation): Float64Array;
  /** The guarded joints' measured state, in the shield's joint order. */
  guardedState(obs: Observation): { positions: Float64Array; velocities: Float64Array; efforts?: Float64Array };
  /** The model-space action an arm action amounts to (what the world model should predict from). */
  modelActionOf(armAction: Float64Array, obs: Observation, period_s: number): Float32Array;
}

export interface LoopStages {
  arm: Arm;
  model: WorldModel;
  planner: Planner & { reset?(): void; notifySurprise?(level: number): void };
  shield: Shield;
  adapter: ActionAdapter;
  /** Encoder input for one observation ([C,H,W] frame or [inputDim] state vector). */
  encoderInput(obs: Observation): Float32Array;
  /** Planner state extras from the observation (proprio, pose) beside the latent history. */
  planStateExtras?(obs: Observation): Pick<PlanState, 'proprio' | 'pose'>;
  goal: PlanGoal;
  /** True when the task is achieved (the embedded simulator's success predicate; a user callback on ROS). */
  isSuccess?(): boolean;
  memory?: WorldMemory;
  /**
   * Perception: the objects seen in this observation (`latent` is the frame's), recorded in
   * `memory` every tick so that objects which leave the view keep their last-seen pose there.
   */
  perceive?(obs: Observation, latent: Float32Array): ObjectSighting[];
  surprise?: SurpriseMonitor;
  /**
   * The world model the surprise monitor runs, where it is not the planner's: a model that sees what
   * the planner's does not (pick-place plans on a state model of the arm, blind to the cube; its
   * monitor reads the camera). One-step predictions from its own latent (a history-1 predictor)
   * and the action sent, in the same action form as the planner's model.
   */
  monitor?: { model: WorldModel; encoderInput(obs: Observation): Float32Array };
  episodeId?: string;
  plannerName?: string;
}

export interface LoopOptions {
  controlPeriod_s: number;
  planBudget: PlanBudget;
  timing: 'lockstep' | 'realtime';
  maxSteps: number;
  /** Factor applied to the command step while the surprise monitor holds 'slow'. */
  slowFactor?: number;
}

export interface TickRecord {
  step: number;
  time_s: number;
  /** Wall time of the whole tick (observe to act), ms. */
  latency_ms: number;
  encode_ms: number;
  plan_ms: number;
  iterations: number;
  converged: boolean;
  energy: number;
  verdict: ShieldDecision['verdict'] | 'overrun-hold' | 'surprise-hold';
  reasons: readonly string[];
  overrun: boolean;
  surprise?: { error: number; zScore: number | null; level: string | null };
  /** The active sub-goal: a task graph's sub-goal id; under latent sub-goals 'latent', or 'goal' when planning to the goal itself. */
  subgoal?: string;
  /** Energy trace of this tick's plan (best so far per iteration). */
  energyTrace: number[];
}

export interface EpisodeResult {
  success: boolean;
  /** Why the episode ended early without success (e.g. a task-graph sub-goal ran out of retries). */
  failure?: string;
  /** The arm reported `done` (a replay reached the end of its recording). */
  armDone?: boolean;
  steps: number;
  ticks: TickRecord[];
  /** Commands the shield did not pass unchanged (scale, clamp, halt), plus holds. */
  shieldInterventions: number;
  /** Shield reason codes with counts. */
  reasons: Record<string, number>;
  surpriseEvents: number;
  wall_ms: number;
}

export class ControlLoop {
  #history: Float32Array | undefined;
  #step = 0;
  #slow = false;
  #stats = { interventions: 0, reasons: {} as Record<string, number>, surpriseEvents: 0 };

  constructor(
    private readonly s: LoopStages,
    private readonly o: LoopOptions,
  ) {
    if (!(o.controlPeriod_s > 0)) throw new RangeError(`controlPeriod_s must be > 0, got ${o.controlPeriod_s}`);
    if (!Number.isInteger(o.maxSteps) || o.maxSteps < 1) throw new RangeError(`maxSteps must be a positive integer, got ${o.maxSteps}`);
    if (s.perceive && !s.memory) throw new RangeError('a perceive stage records what it sees in memory: give the loop a memory too');
  }

  #count(reasons: readonly string[]): void {
    for (const r of reasons) this.#stats.reasons[r] = (this.#stats.reasons[r] ?? 0) + 1;
  }

  async tick(): Promise<TickRecord> {
    const { s, o } = this;
    const t0 = performance.now();
    const obs = await s.arm.getObservation();
    s.shield.updateJointState({ ...s.adapter.guardedState(obs), stamp_s: obs.time });

    const e0 = performance.now();
    const z = await s.model.encode(s.encoderInput(obs), 1);
    const encode_ms = performance.now() - e0;
    if (s.perceive) s.memory!.recordFrame({ time_s: obs.time, seen: s.perceive(obs, z) });

    let surprise: SurpriseReading | undefined;
    const zMonitor = s.surprise && s.monitor ? await s.monitor.model.encode(s.monitor.encoderInput(obs), 1) : undefined;
    if (s.surprise) {
      surprise = s.surprise.observe(zMonitor ?? z, obs.time);
      const ev = surprise?.event;
      if (ev) {
        this.#stats.surpriseEvents++;
        s.memory?.logEvent({
          episodeId: s.episodeId ?? 'run',
          time_s: obs.time,
          kind: 'surprise',
          payload: { level: ev.level, error: Number.isFinite(ev.error) ? ev.error : null, zScore: ev.zScore, tick: ev.tick, reason: ev.reason },
        });
        // A hierarchical planner re-places its active sub-goal and plans it afresh (its reset() would
        // restart the whole task: a cube already in the hand would be let go above itself); a flat
        // planner drops its warm start.
        if (s.planner.notifySurprise) s.planner.notifySurprise(ev.level === 'replan' ? 1 : ev.level === 'slow' ? 2 : 3);
        else s.planner.reset?.();
      }
      this.#slow = surprise?.activeLevel === 'slow';
    }

    // Latent history for the predictor: the newest frames, oldest first.
    const L = s.model.dims.latentSize;
    const F = s.model.dims.historyLength;
    const prev = this.#history;
    const frames = prev ? Math.min(F, prev.length / L + 1) : 1;
    const hist = new Float32Array(frames * L);
    if (prev && frames > 1) hist.set(prev.subarray(prev.length - (frames - 1) * L));
    hist.set(z, (frames - 1) * L);
    this.#history = hist;

    const state: PlanState = { z0: hist, ...(s.planStateExtras?.(obs) ?? {}) };
    const p0 = performance.now();
    const plan: PlanResult = await s.planner.plan(state, s.goal, o.planBudget);
    const plan_ms = performance.now() - p0;
    const overrun = plan_ms > o.controlPeriod_s * 1000;

    const A = s.model.dims.actionDim;
    const action = plan.actions.slice(0, A);
    let verdict: TickRecord['verdict'];
    let reasons: readonly string[] = [];
    let armAction: Float64Array;
    if (surprise?.activeLevel === 'halt') {
      verdict = 'surprise-hold';
      reasons = ['SURPRISE_HALT'];
      armAction = s.adapter.hold(obs);
    } else if (overrun && o.timing === 'realtime') {
      verdict = 'overrun-hold';
      reasons = ['PLANNING_DEADLINE_MISSED'];
      armAction = s.adapter.hold(obs);
    } else {
      if (this.#slow) {
        // Model actions are steps away from holding still; shrink them. The shield still checks the result.
        const f = o.slowFactor ?? 0.5;
        const still = s.adapter.modelActionOf(s.adapter.hold(obs), obs, o.controlPeriod_s);
        for (let j = 0; j < A; j++) action[j] = still[j]! + f * (action[j]! - still[j]!);
      }
      const decision = s.shield.check(s.adapter.toCommand(action, obs, o.controlPeriod_s, obs.time));
      verdict = decision.verdict;
      reasons = decision.reasons;
      armAction = s.adapter.toArmAction(decision, action, obs, o.controlPeriod_s);
      if (decision.verdict !== 'pass' && s.memory) {
        s.memory.logEvent({
          episodeId: s.episodeId ?? 'run',
          time_s: obs.time,
          kind: 'shield',
          payload: { verdict: decision.verdict, status: decision.reasons[0] ?? 'UNKNOWN', detail: decision.detail.slice(0, 4000) },
        });
      }
    }
    if (verdict !== 'pass') {
      this.#stats.interventions++;
      this.#count(reasons);
    }
    await s.arm.sendAction(armAction);

    if (s.surprise) {
      // What the model expects to see next tick, given what was actually sent.
      const sent = s.adapter.modelActionOf(armAction, obs, o.controlPeriod_s);
      const m = s.monitor?.model ?? s.model;
      const r = await m.rollout({
        z0: zMonitor ?? hist,
        actions: sent,
        horizon: 1,
        goal: zMonitor ?? s.goal.latent, // unscored (weights 0): any latent of the rollout model's size
        cost: { metric: 'l2', terminalWeight: 0, runningWeight: 0 },
        returnFinalLatents: true,
      });
      s.surprise.expect(r.finalLatents!);
    }
    if (s.memory && plan.subgoal?.index !== undefined) {
      s.memory.setTaskProgress({
        taskId: s.episodeId ?? 'run',
        subGoalIndex: plan.subgoal.index,
        status: plan.subgoal.complete ? 'succeeded' : 'active',
        attempts: plan.subgoal.attempt ?? 1,
        updated_s: obs.time,
      });
    }
    s.memory?.logEvent({
      episodeId: s.episodeId ?? 'run',
      time_s: obs.time,
      kind: 'decision',
      payload: {
        planner: s.plannerName ?? 'planner',
        energy: Number.isFinite(plan.energy) ? plan.energy : 0,
        iterations: plan.iterations,
        action: Array.from(action, (v) => (Number.isFinite(v) ? v : 0)),
        ...(plan.subgoal?.index !== undefined ? { subGoalIndex: plan.subgoal.index } : {}),
        compute_ms: plan_ms,
      },
    });
    return {
      step: this.#step++,
      time_s: obs.time,
      latency_ms: performance.now() - t0,
      encode_ms,
      plan_ms,
      iterations: plan.iterations,
      converged: plan.converged,
      energy: plan.energy,
      verdict,
      reasons,
      overrun,
      ...(surprise ? { surprise: { error: surprise.error, zScore: surprise.zScore, level: surprise.activeLevel } } : {}),
      ...(plan.subgoal?.id ? { subgoal: plan.subgoal.id } : {}),
      // A latent sub-goal has no name: 'goal' when the low level planned to the goal itself.
      ...(plan.subgoal?.kind === 'latentSubgoal' ? { subgoal: plan.subgoal.direct ? 'goal' : 'latent' } : {}),
      energyTrace: plan.trace.iterations.map((it) => it.bestSoFar),
    };
  }

  /** Ticks until success or maxSteps; in realtime timing, paced to the control period. */
  async runEpisode(onTick?: (t: TickRecord) => void | Promise<void>): Promise<EpisodeResult> {
    const start = performance.now();
    const ticks: TickRecord[] = [];
    let success = false;
    let failure: string | undefined;
    let armDone = false;
    for (let i = 0; i < this.o.maxSteps; i++) {
      const tickStart = performance.now();
      let t: TickRecord;
      try {
        t = await this.tick();
      } catch (e) {
        // A hierarchical planner gives up on a task it cannot finish (or a task cannot place its next
        // sub-goal: an object it has never seen); hold the arm and end the episode with the reason.
        if ((e as Error).name !== 'TaskFailedError' && (e as { endsEpisode?: boolean }).endsEpisode !== true) throw e;
        failure = (e as Error).message;
        const obs = await this.s.arm.getObservation();
        await this.s.arm.sendAction(this.s.adapter.hold(obs));
        break;
      }
      ticks.push(t);
      await onTick?.(t);
      success = this.s.isSuccess?.() ?? false;
      if (success) break;
      if (this.s.arm.done) {
        armDone = true;
        break;
      }
      if (this.o.timing === 'realtime') {
        const wait = this.o.controlPeriod_s * 1000 - (performance.now() - tickStart);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      } else {
        // Let timers and I/O run between ticks (watchdogs, progress display).
        await new Promise((r) => setImmediate(r));
      }
    }
    return {
      success,
      ...(failure ? { failure } : {}),
      ...(armDone ? { armDone } : {}),
      steps: ticks.length,
      ticks,
      shieldInterventions: this.#stats.interventions,
      reasons: { ...this.#stats.reasons },
      surpriseEvents: this.#stats.surpriseEvents,
      wall_ms: performance.now() - start,
    };
  }
}
