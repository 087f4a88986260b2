/**
 * The embedded simulator's tasks wired into the control loop: for each task,
 * the arm (SimArm), the action adapter (model action ↔ shield command ↔
 * actuator targets), the guardrails (config/safety/sim-*.yaml), the planner
 * (CEM in a receding horizon, optionally under a task graph, or under latent
 * sub-goals from a coarse-time-step model of the same latents), and the world
 * model — a checkpoint given with --model, or a linear state-space model
 * fitted on the spot from random exploration on training seeds (system
 * identification; the pixel JEPA models of `jepa train` replace it once
 * they ship). `createArmRun` wires the same adapter, guardrails and planner
 * onto another Arm (ROS 2, MCAP replay) with the goal given as joints.
 *
 * Model actions are steps away from holding still, so a zero action is always
 * safe and the sampling distribution starts centred on it:
 *  - arm tasks: joint-target deltas (7 joints + gripper), actuator target = q + a;
 *  - push-t: pusher position-target deltas (pusher_x, pusher_y), target = q + a;
 *  - two-rooms: the point mass's velocity, m/s.
 * push-t succeeds on the T block's pose: the block is located in the top
 * camera's RGB-D frame (src/runtime/push-t.ts) for a state model of the pusher
 * and for a pixel model from `jepa train` alike.
 */
import { resolve } from 'node:path';
import type { WorldModel } from '../addon/types';
import { loadModel } from '../addon/index';
import { createNativeModel } from '../addon/native-model';
import { createReferenceModel } from '../addon/reference';
import { isNativeAddonNotFound } from '../addon/native';
import { proprioPlanesOf, type CheckpointConfig } from '../model/config';
import { SurpriseMonitor } from '../perception/surprise';
import { CemPlanner, LatentSubgoalPlanner, RecedingHorizon, TaskGraphPlanner, type PlanGoal, type PlanState, type Planner } from '../planning/index';
import { encoderFrame } from '../perception/preprocess';
import type { Arm, Observation } from '../robot/arm';
import type { SimState } from '../sim/mujoco';
import { TASKS } from '../sim/tasks/index';
import { setJoints, stateWith } from '../sim/tasks/types';
import { guardrailBarrierTerms } from '../safety/barriers';
import { type Guardrails, loadGuardrails } from '../safety/guardrails';
import { Shield, type ShieldDecision } from '../safety/shield';
import { SimArm } from '../sim/sim-arm';
import { SimEnv } from '../sim/env';
import { Rng } from '../sim/rng';
import { EVAL_SEEDS, TRAIN_SEEDS } from '../sim/tasks/seeds';
import type { TaskName } from '../sim/tasks/types';
import { TWO_ROOMS_DOOR_Y_m, TWO_ROOMS_MAX_SPEED_mps, TWO_ROOMS_WALL_HALF_THICKNESS_m, TWO_ROOMS_AGENT_RADIUS_m } from '../sim/scenes/two-rooms';
import { fitLinearDynamics, linearCheckpoint } from '../train/linear';
import type { ActionAdapter, LoopStages } from './loop';
import { WorldMemory } from '../memory/world-memory';
import { cameraModelOf } from '../sim/camera';
import { placeId, recallPlace, rememberPlace } from './places';
import { holdArmWhileGripping, pickPlaceWiring, type PickPlaceWiring } from './pick-place';
import { pushTWiring, type PushTWiring } from './push-t';
import { currentLatent } from '../planning/types';

export class EmbeddedTaskError extends Error {
  override name = 'EmbeddedTaskError';
}

/**
 * Tasks a state-space model can run: its state captures what success depends on (reach, two-rooms), or
 * perception tracks the objects it does not (pick-place: cube and bin located in the front camera's
 * RGB-D frame; push-t: the T block in the top camera's; both kept in memory).
 */
export const STATE_MODEL_TASKS = ['reach', 'two-rooms', 'pick-place', 'push-t'] as const satisfies readonly TaskName[];
/**
 * Tasks whose objects the runtime perceives and remembers (src/runtime/pick-place.ts,
 * src/runtime/push-t.ts): the camera perception reads and its frame size (pick-place: the cube's top
 * face spans ~50 pixels at 192; push-t: the T's about 300 at 128; a pixel model's input is that frame
 * scaled to its own size). A pixel model plans either task on the robot state its proprio head
 * decodes from its predicted latents (the graph's sub-goals are pusher positions and arm joints).
 */
const PERCEIVED_OBJECT_TASKS: Partial<Record<TaskName, { camera: string; imageSize: number }>> = {
  'pick-place': { camera: 'front', imageSize: 192 },
  'push-t': { camera: 'top', imageSize: 128 },
};

interface TaskWiring {
  safetyFile: string;
  /** Per model-action dim, the largest step (symmetric bounds). */
  actionLimit: number[];
  /** Guarded joints = the first n proprio entries. */
  guardedJoints: number;
  /** Width of the joint-position barrier band inside each limit (rad or m). */
  positionBand: number;
  /**
   * Joint error (rad or m) that costs as much as a unit latent distance in the decoded-joints goal
   * term; absent where the robot's own pose in the goal frame is not part of the goal (push-t's goal
   * frame parks the pusher in a corner: only the block matters).
   */
  jointGoalScale?: number;
  /** The same scale for sub-goals with joint targets placed by perception (default jointGoalScale). */
  subgoalJointScale?: number;
  /**
   * Planner's initial sampling std as a fraction of the action limit (default 0.6). Smaller samples
   * hold the arm steadier where millimetres count (a grasp), at the cost of slower first moves.
   */
  initStdFraction?: number;
  /**
   * The planner's proprio drift estimate (SamplingOptions.proprioDrift) over the guarded joints,
   * with this filter gain; absent: off. Validated for pick-place only, where a model's steady
   * one-step bias of a few millimetres stalled the descent (models/README.md).
   */
  driftGain?: number;
  /** What the adapter's arm actions are: joint position targets (any backend) or velocities (the simulator's point mass). */
  armAction: 'joint-targets' | 'velocity';
  adapter(period_s: number): ActionAdapter;
}

const ARM_DELTA_rad = 0.045;
/** How close (m) the two-rooms agent must come to a task-graph waypoint to have reached it. */
const WAYPOINT_TOLERANCE_m = 0.03;
const GRIPPER_DELTA_m = 0.01;
const PUSHER_DELTA_m = 0.06;

/**
 * How long (s of the arm's clock) a hold keeps the gripper's last command: a hand that was squeezing an
 * object goes on squeezing through a halt or a missed deadline instead of opening to its measured width
 * (which would drop what it carries); an older command (another episode, a long pause) is not reused.
 */
const GRIPPER_HOLD_s = 1;

/**
 * Joint-target deltas: model action = the guarded joints' step (then, with `gripper`, the gripper's
 * step), actuator target = measured position + step; the shield checks the guarded joints' targets.
 */
function jointTargetAdapter(J: number, gripper: boolean): ActionAdapter {
  const A = J + (gripper ? 1 : 0);
  let lastGripper: { command: number; time: number } | undefined;
  return {
    toCommand(action, obs, period_s, stamp_s) {
      const positions = Array.from({ length: J }, (_, j) => obs.jointPositions[j]! + action[j]!);
      return { kind: 'target', positions, duration_s: period_s, stamp_s };
    },
    toArmAction(decision: ShieldDecision, action, obs) {
      if (decision.verdict === 'halt' || !decision.trajectory) return this.hold(obs);
      const pts = decision.trajectory.points;
      const last = pts[pts.length - 1]!;
      // Within this period the arm covers 1/timeScale of the (slowed) step.
      const f = Math.min(1, 1 / decision.timeScale);
      const out = new Float64Array(A);
      for (let j = 0; j < J; j++) out[j] = obs.jointPositions[j]! + f * (last.positions[j]! - obs.jointPositions[j]!);
      if (gripper) lastGripper = { command: (out[J] = obs.jointPositions[J]! + action[J]!), time: obs.time };
      return out;
    },
    hold(obs) {
      const out = Float64Array.from(obs.jointPositions.subarray(0, A));
      const age = lastGripper ? obs.time - lastGripper.time : Infinity;
      if (gripper && lastGripper && age >= 0 && age <= GRIPPER_HOLD_s) out[J] = lastGripper.command;
      return out;
    },
    guardedState(obs) {
      return { positions: obs.jointPositions.subarray(0, J), velocities: obs.jointVelocities.subarray(0, J) };
    },
    modelActionOf(armAction, obs) {
      return Float32Array.from({ length: A }, (_, j) => armAction[j]! - obs.jointPositions[j]!);
    },
  };
}

/** The 7-joint arm with its gripper. */
const armAdapter = (): ActionAdapter => jointTargetAdapter(7, true);
/** The push-t pusher's two slide joints. */
const pusherAdapter = (): ActionAdapter => jointTargetAdapter(2, false);

function pointMassAdapter(): ActionAdapter {
  return {
    toCommand(action, obs, period_s, stamp_s) {
      const positions = [0, 1].map((j) => obs.jointPositions[j]! + action[j]! * period_s);
      return { kind: 'target', positions, duration_s: period_s, stamp_s };
    },
    toArmAction(decision, _action, obs, period_s) {
      if (decision.verdict === 'halt' || !decision.trajectory) return this.hold(obs);
      const last = decision.trajectory.points[decision.trajectory.points.length - 1]!;
      const f = 1 / Math.max(1, decision.timeScale);
      return Float64Array.from([0, 1], (j) => (f * (last.positions[j]! - obs.jointPositions[j]!)) / period_s);
    },
    hold() {
      return new Float64Array(2);
    },
    guardedState(obs) {
      return { positions: obs.jointPositions, velocities: obs.jointVelocities };
    },
    modelActionOf(armAction) {
      return Float32Array.from(armAction);
    },
  };
}

const WIRING: Partial<Record<TaskName, TaskWiring>> = {
  reach: {
    safetyFile: 'config/safety/sim-arm.yaml',
    actionLimit: [...Array(7).fill(ARM_DELTA_rad), GRIPPER_DELTA_m],
    guardedJoints: 7,
    positionBand: 0.1,
    jointGoalScale: 0.05,
    armAction: 'joint-targets',
    adapter: armAdapter,
  },
  'pick-place': {
    safetyFile: 'config/safety/sim-arm.yaml',
    actionLimit: [...Array(7).fill(ARM_DELTA_rad), GRIPPER_DELTA_m],
    guardedJoints: 7,
    positionBand: 0.1,
    jointGoalScale: 0.05,
    initStdFraction: 0.3,
    driftGain: 0.5,
    armAction: 'joint-targets',
    adapter: armAdapter,
  },
  'push-t': {
    safetyFile: 'config/safety/sim-push-t.yaml',
    actionLimit: [PUSHER_DELTA_m, PUSHER_DELTA_m],
    guardedJoints: 2,
    positionBand: 0.01,
    subgoalJointScale: 0.01,
    armAction: 'joint-targets',
    adapter: pusherAdapter,
  },
  'two-rooms': {
    safetyFile: 'config/safety/sim-two-rooms.yaml',
    actionLimit: [TWO_ROOMS_MAX_SPEED_mps * 0.9, TWO_ROOMS_MAX_SPEED_mps * 0.9],
    guardedJoints: 2,
    positionBand: 0.02,
    jointGoalScale: 0.05,
    armAction: 'velocity',
    adapter: pointMassAdapter,
  },
};

function wiringFor(task: TaskName): TaskWiring {
  const w = WIRING[task];
  if (!w) {
    throw new EmbeddedTaskError(
      `task '${task}' needs a model that sees its objects (a pixel JEPA model from \`jepa train\`); ` +
        `the embedded runtime can currently run ${STATE_MODEL_TASKS.join(', ')} with state-space models` +
        (PIXEL_ONLY_TASKS.length ? `, and ${PIXEL_ONLY_TASKS.join(', ')} with pixel models` : ''),
    );
  }
  return w;
}

const isStateModelTask = (task: TaskName): boolean => (STATE_MODEL_TASKS as readonly TaskName[]).includes(task);
/** Wired tasks only a pixel model can run. */
const PIXEL_ONLY_TASKS = (Object.keys(WIRING) as TaskName[]).filter((t) => !isStateModelTask(t));

/** Refusal for a state-vector model on a task whose success depends on objects the proprio vector does not hold. */
function needsPixelModel(task: TaskName, what: string): EmbeddedTaskError {
  const joints = TASKS[task].spec.proprioJoints.join(', ');
  return new EmbeddedTaskError(
    `task '${task}' needs a pixel world model (cnn or vit encoder, trained with \`jepa train\` on ${task} data, given with --model DIR or shipped in models/${task}/): ` +
      `${what} sees only the proprio state (${joints}), not the objects the task's success depends on`,
  );
}

/**
 * A recorded episode's model actions: each applied actuator command [steps, A] put through the
 * task's adapter (arm tasks and push-t: target minus the joint positions it was sent at), given the proprio
 * vectors [steps + 1, proprioSize] (joint positions first) recorded beside it.
 */
export function recordedModelActions(task: TaskName, applied: Float32Array, proprio: Float32Array, steps: number, proprioSize: number, period_s: number): Float32Array {
  const w = wiringFor(task);
  const A = w.actionLimit.length;
  if (applied.length !== steps * A) throw new RangeError(`recordedModelActions(${task}): ${applied.length} action values for ${steps} steps of ${A}`);
  if (proprio.length < steps * proprioSize) throw new RangeError(`recordedModelActions(${task}): ${proprio.length} proprio values for ${steps} steps of ${proprioSize}`);
  const adapter = w.adapter(period_s);
  const J = proprioSize / 2;
  const out = new Float32Array(steps * A);
  for (let t = 0; t < steps; t++) {
    const row = proprio.subarray(t * proprioSize, (t + 1) * proprioSize);
    const obs: Observation = { images: {}, jointPositions: Float64Array.from(row.subarray(0, J)), jointVelocities: Float64Array.from(row.subarray(J)), time: t * period_s };
    out.set(adapter.modelActionOf(Float64Array.from(applied.subarray(t * A, (t + 1) * A)), obs, period_s), t * A);
  }
  return out;
}

/** Root of the package (config/ lives there), whatever the working directory. */
function packagePath(rel: string): string {
  return resolve(new URL('../..', import.meta.url).pathname, rel);
}

export interface FitOptions {
  transitions?: number;
  seed?: number;
  backend?: 'auto' | 'cpu' | 'reference';
}

/** Throws the EmbeddedTaskError saying why, unless a state-space model fitted on the spot can run `task`. */
export function assertStateModelTask(task: TaskName): void {
  wiringFor(task);
  if (!isStateModelTask(task)) throw needsPixelModel(task, 'a state-space model fitted on the spot');
}

/**
 * Fits a linear state-space model for `task` from random exploration in model-action
 * space (smooth random walk inside the action limits) on training seeds.
 */
export async function fitStateModel(task: TaskName, options: FitOptions = {}): Promise<{ config: CheckpointConfig; tensors: Map<string, Float32Array> }> {
  assertStateModelTask(task);
  const w = wiringFor(task);
  const env = await SimEnv.create({ task, render: false });
  try {
    const S = env.task.spec.proprioJoints.length;
    const A = w.actionLimit.length;
    const T = options.transitions ?? 3000;
    const period_s = env.task.spec.frameskip * env.sim.timestep;
    const adapter = w.adapter(period_s);
    const rng = new Rng(options.seed ?? 17, 99);
    const states = new Float64Array(T * S), actions = new Float64Array(T * A), next = new Float64Array(T * S);
    let obs = env.reset(TRAIN_SEEDS.start + (options.seed ?? 17)).observation;
    let episode = 0;
    const a = new Float32Array(A);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < A; j++) {
        const lim = w.actionLimit[j]!;
        a[j] = Math.max(-lim, Math.min(lim, 0.7 * a[j]! + 0.6 * lim * rng.normal()));
      }
      const o: Observation = { images: {}, jointPositions: obs.jointPositions, jointVelocities: obs.jointVelocities, time: obs.time };
      const still: ShieldDecision = { verdict: 'pass', reasons: [], detail: '', time_s: 0, timeScale: 1, trajectory: null, hold: null, metrics: { samples: 0, minZoneDistance_m: 0, minSeparation_m: 0, protectiveSeparation_m: 0, tcpSpeedBound_mps: 0, robotSpeedBound_mps: 0 }, source: 'command' };
      const cmd = adapter.toCommand(a, o, period_s, 0);
      const positions = cmd.kind === 'target' ? cmd.positions : [];
      const armAction = adapter.toArmAction({ ...still, trajectory: { joint_names: [], points: [{ positions, time_from_start_s: period_s }] } }, a, o, period_s);
      const r = env.step(armAction);
      const applied = adapter.modelActionOf(r.applied, o, period_s);
      states.set(obs.jointPositions, t * S);
      actions.set(applied, t * A);
      next.set(r.observation.jointPositions, t * S);
      obs = r.observation;
      if (r.step >= 60) {
        episode++;
        obs = env.reset(TRAIN_SEEDS.start + (options.seed ?? 17) + episode).observation;
        a.fill(0);
      }
    }
    const fit = fitLinearDynamics({ stateDim: S, actionDim: A, states, actions, nextStates: next, count: T });
    return linearCheckpoint(
      `${task}-linear`,
      fit,
      {
        stateDim: S,
        actionDim: A,
        low: w.actionLimit.map((l) => -l),
        high: w.actionLimit,
        frameskip: env.task.spec.frameskip,
        stateNames: [...env.task.spec.proprioJoints],
      },
      { task, transitions: T, exploration: 'smooth random walk in model-action space', seeds: `train ${TRAIN_SEEDS.start + (options.seed ?? 17)}+`, episodes: episode + 1 },
    );
  } finally {
    env.close();
  }
}

export async function modelFromCheckpoint(ck: { config: CheckpointConfig; tensors: Map<string, Float32Array> }, backend: 'auto' | 'cpu' | 'reference' = 'auto'): Promise<WorldModel> {
  if (backend === 'reference') return createReferenceModel(ck.config, ck.tensors);
  try {
    return await createNativeModel(ck.config, ck.tensors, {});
  } catch (e) {
    if (backend === 'auto' && isNativeAddonNotFound(e)) {
      process.stderr.write(`jepa: native addon unavailable, using the TypeScript reference backend: ${(e as Error).message.split('\n')[0]}\n`);
      return createReferenceModel(ck.config, ck.tensors);
    }
    throw e;
  }
}

export interface EmbeddedRunOptions {
  task: TaskName;
  seed: number;
  mode: 'train' | 'eval';
  model: WorldModel;
  /**
   * 'auto': the task's graph of sub-goals where it has one; 'flat': none; 'latent': sub-goals predicted by
   * `highModel`, a coarse-time-step model over the same latents (tasks whose goal is a frame or a state).
   */
  hierarchy: Hierarchy;
  /** With hierarchy 'latent': the high level's model (its frameskip a multiple of the model's, same encoder). */
  highModel?: WorldModel;
  samples?: number;
  horizon?: number;
  maxIterations?: number;
  planTime_ms?: number;
  plannerSeed?: number;
  render?: boolean;
  imageSize?: number;
  realtime?: boolean;
  /** Persistent memory: task-graph waypoints the robot reaches are remembered there and reused as sub-goal latents. */
  memory?: WorldMemory;
  /** The world model the surprise monitor runs instead of `model` (LoopStages.monitor): one that sees what `model` does not. */
  monitorModel?: WorldModel;
}

export interface EmbeddedRun {
  stages: LoopStages;
  arm: SimArm;
  period_s: number;
  maxSteps: number;
  guardrails: Guardrails;
  planner: Planner;
  hierarchical: boolean;
  goalObservation: Observation;
  /** Task-graph waypoints remembered in memory this run, and sub-goals resolved from remembered ones. */
  places: { remembered: number; recalled: number };
  /** Perceived-object tasks: sightings recorded, and sub-goals resolved from an object no longer in view (push-t: and pushes begun). */
  perception?: PickPlaceWiring['stats'] & { pushes?: number };
  close(): void;
}

export type Hierarchy = 'auto' | 'flat' | 'latent';

/** Plan steps the high level of a latent hierarchy looks ahead (each `highModel.frameskip` simulator steps). */
const HIGH_HORIZON = 10;
/** The high level's iterations per tick (the tick's budget goes to the low level). */
const HIGH_ITERATIONS = 4;

/** The flat planner of every backend: CEM over the model in a receding horizon, with the guardrails' barrier terms. */
function recedingPlanner(...args: Parameters<typeof cemPlanner>): RecedingHorizon {
  return new RecedingHorizon(cemPlanner(...args), { executeSteps: 1 });
}

/** CEM over `model` (one plan step = period_s) with the guardrails' barrier terms and, given a scale, the decoded-joints goal term. */
function cemPlanner(
  model: WorldModel,
  w: TaskWiring,
  guardrails: Guardrails,
  period_s: number,
  o: { horizon?: number; samples?: number; plannerSeed?: number; seed: number },
  /** Scale (rad or m) of the decoded-joints goal term; absent: latent distance only. */
  jointGoalScale?: number,
): CemPlanner {
  const barrier = model.dims.proprioDim < w.guardedJoints ? [] : guardrailBarrierTerms(guardrails, {
    stepDuration_s: period_s,
    proprioJointColumns: Array.from({ length: w.guardedJoints }, (_, i) => i),
    weights: { keep_out_barrier: 5, joint_position_barrier: 5, workspace_barrier: 5, joint_velocity_barrier: 0 },
    distanceBand_m: 0.03,
    positionBand: w.positionBand,
  });
  return new CemPlanner(
    model,
    {
      horizon: o.horizon ?? 8,
      samples: o.samples ?? 256,
      seed: o.plannerSeed ?? o.seed,
      initStd: w.actionLimit.map((l) => l * (w.initStdFraction ?? 0.6)),
      eliteFraction: 0.1,
      tolerance: 1e-3,
      patience: 2,
      ...(w.driftGain ? { proprioDrift: { gain: w.driftGain, entries: w.guardedJoints } } : {}),
      energy: {
        metric: 'l2',
        terminalWeight: 1,
        runningWeight: 0.2,
        actionRateWeight: 0.0,
        bounds: { low: w.actionLimit.map((l) => -l), high: w.actionLimit, weight: 0 },
        ...(jointGoalScale ? { proprioGoal: { metric: 'l2' as const, terminalWeight: 1 / jointGoalScale ** 2, runningWeight: 0.2 / jointGoalScale ** 2 } } : {}),
      },
    },
    barrier,
  );
}

/** Simulator steps of the model per high-level step of a latent hierarchy, after checking the two models fit together. */
function highModelStride(task: TaskName, model: WorldModel, high: WorldModel | undefined, perceived: boolean): number {
  if (!high) throw new EmbeddedTaskError(`hierarchy 'latent' needs a high-level model (--high-model DIR)`);
  if (perceived) {
    throw new EmbeddedTaskError(`task '${task}' takes its sub-goals from perceived objects (its task graph); hierarchy 'latent' is for tasks whose goal is a frame or a state`);
  }
  const why =
    high.dims.latentSize !== model.dims.latentSize ? `its latent has ${high.dims.latentSize} values, the model's ${model.dims.latentSize}`
    : high.dims.actionDim !== model.dims.actionDim ? `it takes ${high.dims.actionDim}-dim actions, the model ${model.dims.actionDim}`
    : high.dims.proprioDim !== model.dims.proprioDim ? `its proprio head decodes ${high.dims.proprioDim} values, the model's ${model.dims.proprioDim}`
    : high.config.frameskip % model.config.frameskip !== 0 || high.config.frameskip <= model.config.frameskip
      ? `its frameskip ${high.config.frameskip} is not a multiple (> 1) of the model's ${model.config.frameskip}`
    : undefined;
  if (why) throw new EmbeddedTaskError(`high-level model '${high.config.name}' does not fit model '${model.config.name}': ${why}`);
  return high.config.frameskip / model.config.frameskip;
}

const guardrailCache = new Map<string, Guardrails>();

/** A task's guardrails, loaded once per process. */
function guardrailsFor(w: TaskWiring): Guardrails {
  const path = packagePath(w.safetyFile);
  let guardrails = guardrailCache.get(path);
  if (!guardrails) guardrailCache.set(path, (guardrails = loadGuardrails(path)));
  return guardrails;
}

/** Refuses a model whose inputs or actions do not fit the task, saying what each side has (before anything starts). */
function fitModel(task: TaskName, w: TaskWiring, model: WorldModel): void {
  const enc = model.config.encoder;
  const spec = TASKS[task].spec;
  const S = spec.proprioJoints.length;
  const camera = model.config.camera ?? spec.cameras[0]!;
  if (!spec.cameras.includes(camera)) {
    throw new EmbeddedTaskError(`model '${model.config.name}' takes the '${camera}' camera; task '${task}' has ${spec.cameras.join(', ')}`);
  }
  if (enc.kind === 'mlp' && model.dims.inputSize !== S) {
    throw new EmbeddedTaskError(
      `model '${model.config.name}' takes ${model.dims.inputSize}-dim state vectors; ` +
        `task '${task}' gives ${S} proprio values (${spec.proprioJoints.join(', ')})`,
    );
  }
  const planes = proprioPlanesOf(enc);
  if (enc.kind !== 'mlp' && enc.inChannels !== 3 + planes) {
    throw new EmbeddedTaskError(`model '${model.config.name}' takes ${enc.inChannels}-channel images; the '${camera}' camera gives RGB`);
  }
  if (planes > S) {
    throw new EmbeddedTaskError(`model '${model.config.name}' takes ${planes} proprio planes; task '${task}' gives ${S} proprio values (${spec.proprioJoints.join(', ')})`);
  }
  if (model.dims.actionDim !== w.actionLimit.length) {
    throw new EmbeddedTaskError(`model '${model.config.name}' has ${model.dims.actionDim} action dims; task '${task}' needs ${w.actionLimit.length}`);
  }
}

/** Encoder input of an observation for `model`: the proprio vector, or its camera's frame as CHW floats (then any proprio planes). */
function encoderInputOf(task: TaskName, model: WorldModel): (obs: Observation) => Float32Array {
  const enc = model.config.encoder;
  if (enc.kind === 'mlp') return (obs) => Float32Array.from(obs.jointPositions);
  const camera = model.config.camera ?? TASKS[task].spec.cameras[0]!;
  const planes = proprioPlanesOf(enc);
  return (obs) => {
    const img = obs.images[camera];
    if (!img) throw new EmbeddedTaskError(`task '${task}': no '${camera}' image in the observation for model '${model.config.name}'`);
    // The rendered frame scaled (area average) to the encoder's input size where perception renders it larger.
    const size = enc.imageSize;
    const out = new Float32Array(enc.inChannels * size * size);
    encoderFrame(img, obs.jointPositions, planes, size, out, 0, `${camera} camera`);
    return out;
  };
}

export async function createEmbeddedRun(o: EmbeddedRunOptions): Promise<EmbeddedRun> {
  const w = wiringFor(o.task);
  const model = o.model;
  const enc = model.config.encoder;
  const pixels = enc.kind !== 'mlp';
  if (!pixels && !isStateModelTask(o.task)) throw needsPixelModel(o.task, `model '${model.config.name}' (mlp encoder)`);
  const seeing = PERCEIVED_OBJECT_TASKS[o.task];
  const perceived = seeing !== undefined;
  const imageSize = perceived ? seeing.imageSize : enc.kind === 'mlp' ? (o.imageSize ?? 64) : enc.imageSize;
  const spec = TASKS[o.task].spec;
  fitModel(o.task, w, model);
  const monitor = o.monitorModel;
  if (monitor) {
    fitModel(o.task, w, monitor);
    if (monitor.dims.historyLength !== 1) throw new EmbeddedTaskError(`monitor model '${monitor.config.name}': one-step surprise needs a history-1 predictor (has ${monitor.dims.historyLength})`);
    if (!perceived && monitor.config.encoder.kind !== 'mlp' && (!pixels || monitor.config.encoder.imageSize !== enc.imageSize)) {
      throw new EmbeddedTaskError(`monitor model '${monitor.config.name}': task '${o.task}' renders frames for its planner's model only; a monitor that reads pixels runs beside a pixel model of the same input size, or on a task with perception`);
    }
  }
  const stride = o.hierarchy === 'latent' ? highModelStride(o.task, model, o.highModel, seeing !== undefined) : 1;
  // The checks above run before the simulator starts, so a refused model leaves nothing open.
  const arm = await SimArm.forTask(o.task, { seed: o.seed, mode: o.mode, render: pixels || perceived || (o.render ?? false), depth: perceived, imageSize, realtime: o.realtime ?? false });
  const env = arm.env!;
  const period_s = spec.frameskip * env.sim.timestep;
  const encoderInput = encoderInputOf(o.task, model);
  /** The observation the arm would give in another simulator state (the simulator is restored). */
  const observationOf = async (state: SimState): Promise<Observation> => {
    const saved = env.sim.getState();
    env.sim.setState(state);
    try {
      return await arm.getObservation();
    } finally {
      env.sim.setState(saved);
    }
  };
  const guardrails = guardrailsFor(w);
  const shield = new Shield(guardrails, { clock: () => env.sim.time, logCapacity: 256 });
  const goalObs = await observationOf(env.goalSimState());
  // A pixel model with a proprio head also plans on the joints it reads out of its latents: the goal's
  // joints are decoded from the goal frame's latent (never taken from the simulator), and every
  // predicted state's decoded joints are pulled towards them. Distances between latents of frames
  // rank far-apart states poorly; the decoded joints are the part of the latent the task is about.
  const jointGoal = pixels && model.dims.proprioDim >= w.guardedJoints && w.jointGoalScale !== undefined;
  const jointWeights = Float32Array.from({ length: model.dims.proprioDim }, (_, j) => (j < w.guardedJoints ? 1 : 0));
  const goalOf = async (latent: Float32Array): Promise<PlanGoal> =>
    jointGoal ? { latent, proprio: { target: await model.decodeProprio(latent, 1), weights: jointWeights } } : { latent };
  const goal = await goalOf(await model.encode(encoderInput(goalObs), 1));

  // Perceived-object tasks' sub-goals carry joint targets (IK of object-relative TCP targets), scored like decoded joints.
  const receding = recedingPlanner(model, w, guardrails, period_s, o, jointGoal ? w.jointGoalScale : perceived ? (w.subgoalJointScale ?? w.jointGoalScale) : undefined);
  let planner: Planner & { reset?(): void; notifySurprise?(level: number): void } = receding;
  let hierarchical = false;
  const places = { remembered: 0, recalled: 0 };
  let perception: { perceive: LoopStages['perceive']; memory: WorldMemory; own: boolean; stats: NonNullable<EmbeddedRun['perception']> } | undefined;
  if (perceived) {
    // Objects are perceived every tick whatever the planner; the memory is the caller's file or this run's own.
    const memory = o.memory ?? WorldMemory.open({ file: ':memory:' });
    if (!o.memory) memory.beginEpisode(`${o.task}-${o.seed}`, env.sim.time, `${o.task} seed ${o.seed}`);
    const view = { name: seeing.camera, model: cameraModelOf(env.sim, seeing.camera) };
    const scope = `${o.task}/${o.seed}/${Date.now().toString(36)}`;
    // A sub-goal of the task graph is a robot state (pusher position, arm joints). A state model
    // encodes it; a pixel model's latent goal is unscored (latentWeight 0) and its current latent
    // fills the slot: a frame of the robot there would show the objects where they are now.
    const subgoalLatent = async (robot: Float32Array, state: PlanState) =>
      pixels ? { latent: currentLatent(state.z0, model.dims.latentSize).slice(), latentWeight: 0 } : { latent: await model.encode(robot, 1) };
    let wiring: PickPlaceWiring | PushTWiring;
    try {
      if (o.task === 'push-t') {
        const goalImage = goalObs.images[view.name];
        if (!goalImage) throw new EmbeddedTaskError(`task 'push-t': the goal observation has no '${view.name}' image`);
        wiring = pushTWiring({ subgoalLatent, proprioDim: model.dims.proprioDim, memory, camera: view, goalImage, scope });
      } else {
        wiring = pickPlaceWiring({ subgoalLatent, proprioDim: model.dims.proprioDim, memory, camera: view, scope });
      }
      perception = { perceive: wiring.perceive, memory, own: !o.memory, stats: wiring.stats };
      if (o.hierarchy === 'auto') {
        hierarchical = true;
        const graph = new TaskGraphPlanner(receding, wiring.graph, wiring.resolvers, { stepsPerCall: 1 });
        // The arm holds still while its fingers close and squeezes while it carries; the pusher needs neither.
        planner = o.task === 'pick-place' ? holdArmWhileGripping(graph, { squeeze_m: GRIPPER_DELTA_m }) : graph;
      }
    } catch (e) {
      if (!o.memory) memory.close();
      arm.close();
      throw e;
    }
  }
  if (o.task === 'two-rooms' && o.hierarchy === 'auto') {
    // Explicit task graph: line up with the door on this side, cross, then the goal.
    const start = env.observe().jointPositions;
    const goal = goalObs.jointPositions;
    const side = Math.sign(start[0]!) || 1;
    const offset = TWO_ROOMS_WALL_HALF_THICKNESS_m + TWO_ROOMS_AGENT_RADIUS_m + 0.06;
    if (Math.sign(goal[0]!) !== side) {
      hierarchical = true;
      // Each waypoint is a joints target checked on the measured position; its goal latent is the
      // encoding of what the robot would observe there (state vector or camera frame alike).
      const sub = (id: string, x: number, y: number, steps: number) => ({
        id,
        target: { kind: 'joints' as const, positions_rad: [x, y] },
        success: { kind: 'jointsWithin' as const, tolerance_rad: WAYPOINT_TOLERANCE_m },
        timeout: { steps },
        retries: 1,
      });
      // A sub-goal target is resolved when it becomes active, i.e. right after the previous one was
      // reached: the current frame is then what the robot sees at that previous waypoint, and goes
      // into memory as a place. A target the robot has stood at before (this episode, an earlier
      // one, or an earlier process on the same memory file) resolves to what it saw there; others to
      // the encoding of a rendered observation.
      const memory = o.memory;
      const L = model.dims.latentSize;
      let previous: { id: string; positions: number[] } | undefined;
      const resolvers = {
        joints: async (positions: number[], _indices: number[], state: PlanState) => {
          if (memory && previous && state.proprio) {
            const at = previous.positions.every((v, j) => Math.abs(state.proprio![j]! - v) <= WAYPOINT_TOLERANCE_m + 0.01);
            if (at) {
              rememberPlace(memory, previous.id, state.z0.subarray(state.z0.length - L), previous.positions);
              places.remembered++;
            }
          }
          const id = placeId(o.task, model.config.name, positions);
          previous = { id, positions };
          const seen = memory ? recallPlace(memory, id, L) : undefined;
          if (seen) {
            places.recalled++;
            return goalOf(seen);
          }
          const state0 = stateWith(env.sim, (sim) => setJoints(sim, env.task.spec.proprioJoints, positions), [0, 0]);
          return goalOf(await model.encode(encoderInput(await observationOf(state0)), 1));
        },
      };
      planner = new TaskGraphPlanner(
        receding,
        {
          name: 'two-rooms via the door',
          subgoals: [
            sub('door-near', side * offset, TWO_ROOMS_DOOR_Y_m, 60),
            sub('door-far', -side * offset, TWO_ROOMS_DOOR_Y_m, 40),
            sub('goal', goal[0]!, goal[1]!, 120),
          ],
        },
        resolvers,
        { stepsPerCall: 1 },
      );
    }
  }
  if (o.hierarchy === 'latent') {
    const high = o.highModel!;
    // One latent space: the high model must encode what the model encodes (it was trained on its frozen encoder).
    const input = encoderInput(goalObs);
    const [a, b] = [await model.encode(input, 1), await high.encode(input, 1)];
    const gap = a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
    if (!(gap <= 1e-3 * (1 + a.reduce((m, v) => Math.max(m, Math.abs(v)), 0)))) {
      arm.close();
      throw new EmbeddedTaskError(
        `high-level model '${high.config.name}' encodes the goal frame ${gap.toPrecision(3)} away from model '${model.config.name}': ` +
          `it must share its encoder (train it with init.checkpoint set to that model and objective.freezeEncoder)`,
      );
    }
    const highCem = cemPlanner(high, w, guardrails, period_s * stride, { ...o, horizon: HIGH_HORIZON, plannerSeed: (o.plannerSeed ?? o.seed) + 1 }, jointGoal ? w.jointGoalScale : undefined);
    planner = new LatentSubgoalPlanner(high, highCem, receding, { subgoalStep: 1, highBudget: { maxIterations: HIGH_ITERATIONS } }, goalOf);
    hierarchical = true;
  }
  const stages: LoopStages = {
    arm,
    model,
    planner,
    shield,
    adapter: w.adapter(period_s),
    encoderInput,
    planStateExtras: (obs) => ({ proprio: Float32Array.from(obs.jointPositions) }),
    ...(perception ? { perceive: perception.perceive, memory: perception.memory } : {}),
    goal,
    isSuccess: () => env.isSuccess(),
    surprise: new SurpriseMonitor({ metric: 'l2' }),
    ...(monitor ? { monitor: { model: monitor, encoderInput: encoderInputOf(o.task, monitor) } } : {}),
    episodeId: `${o.task}-${o.seed}`,
    plannerName: o.hierarchy === 'latent' ? 'latent-subgoals/cem' : hierarchical ? 'task-graph/cem' : 'cem',
  };
  return {
    stages,
    arm,
    period_s,
    maxSteps: env.task.spec.maxSteps,
    guardrails,
    planner,
    hierarchical,
    goalObservation: { images: goalObs.images, jointPositions: goalObs.jointPositions, jointVelocities: goalObs.jointVelocities, time: goalObs.time },
    places,
    ...(perception ? { perception: perception.stats } : {}),
    close: () => {
      arm.close();
      if (perception?.own) perception.memory.close();
    },
  };
}

/**
 * Tasks whose arm actions are joint position targets and whose goal is joint positions (state-model
 * tasks), so they run on any Arm (ROS 2, MCAP replay), not only the simulator. push-t also commands
 * joint targets, but its goal is the block's pose, seen only in the simulator's frames; pick-place's
 * goal is the cube in the bin, which only the simulator's calibrated RGB-D camera locates here.
 */
export const JOINT_TARGET_TASKS = (Object.keys(WIRING) as TaskName[]).filter(
  (t) => WIRING[t]!.armAction === 'joint-targets' && isStateModelTask(t) && PERCEIVED_OBJECT_TASKS[t] === undefined,
);

export interface ArmRunOptions {
  task: TaskName;
  /** A backend other than the simulator (RosArm, McapReplayArm), reporting and commanding the task's joints. */
  arm: Arm;
  model: WorldModel;
  /** Prefix of the arm's joint names before the task's (the sim's joint1 → fer_joint1). */
  jointPrefix?: string;
  /** Goal as joint positions, one per arm joint (no simulator renders a goal here). */
  goalJoints: readonly number[];
  /** Success: every guarded joint within this of its goal, rad. */
  goalTolerance_rad?: number;
  controlPeriod_s: number;
  /** The backend's time, s (ROS time, or a replay's cursor): the shield's clock. */
  clock: () => number;
  seed?: number;
  samples?: number;
  horizon?: number;
  plannerSeed?: number;
}

export interface ArmRun {
  stages: LoopStages;
  period_s: number;
  maxSteps: number;
  guardrails: Guardrails;
  shield: Shield;
}

/**
 * A task's loop stages on an arm other than the simulator: the same adapter, guardrails and
 * planner as the embedded run, with the goal given as joint positions (encoded by the state
 * model) and success judged on the measured joints.
 */
export async function createArmRun(o: ArmRunOptions): Promise<ArmRun> {
  const w = wiringFor(o.task);
  if (w.armAction !== 'joint-targets') {
    throw new EmbeddedTaskError(`task '${o.task}' commands velocities of the simulator's point mass; a ROS 2 or replayed arm takes joint position targets (tasks: ${JOINT_TARGET_TASKS.join(', ')})`);
  }
  const { model, arm } = o;
  const spec = TASKS[o.task].spec;
  const names = spec.proprioJoints.map((j) => `${o.jointPrefix ?? ''}${j}`);
  if (arm.jointNames.length !== names.length || arm.jointNames.some((n, i) => n !== names[i])) {
    throw new EmbeddedTaskError(`task '${o.task}' needs the arm's joints to be ${names.join(', ')} in that order; arm '${arm.name}' has ${arm.jointNames.join(', ')}`);
  }
  if (arm.actionDim !== names.length) throw new EmbeddedTaskError(`task '${o.task}' sends ${names.length} joint targets; arm '${arm.name}' takes ${arm.actionDim}`);
  if (model.config.encoder.kind !== 'mlp') {
    throw new EmbeddedTaskError(
      `model '${model.config.name}' encodes images, and its goal would be an image only the simulator renders; on this backend the goal is joint positions, so use a state model (mlp encoder)`,
    );
  }
  if (model.dims.inputSize !== names.length) {
    throw new EmbeddedTaskError(`model '${model.config.name}' takes ${model.dims.inputSize}-dim state vectors; task '${o.task}' gives ${names.length} joint positions`);
  }
  if (model.dims.actionDim !== w.actionLimit.length) {
    throw new EmbeddedTaskError(`model '${model.config.name}' has ${model.dims.actionDim} action dims; task '${o.task}' needs ${w.actionLimit.length}`);
  }
  if (o.goalJoints.length !== names.length || o.goalJoints.some((v) => !Number.isFinite(v))) {
    throw new EmbeddedTaskError(`the goal needs ${names.length} finite joint positions (${names.join(', ')}); got ${o.goalJoints.length}: ${o.goalJoints.join(', ')}`);
  }
  if (!(o.controlPeriod_s > 0)) throw new EmbeddedTaskError(`control period must be > 0 s, got ${o.controlPeriod_s}`);
  const guardrails = guardrailsFor(w);
  const shield = new Shield(guardrails, { clock: o.clock, logCapacity: 256 });
  const period_s = o.controlPeriod_s;
  const goal = Float64Array.from(o.goalJoints);
  const goalLatent = await model.encode(Float32Array.from(goal), 1);
  const tol = o.goalTolerance_rad ?? 0.02;
  let last: Observation | undefined;
  const seed = o.seed ?? 0;
  const stages: LoopStages = {
    arm,
    model,
    planner: recedingPlanner(model, w, guardrails, period_s, { ...o, seed }),
    shield,
    adapter: w.adapter(period_s),
    encoderInput: (obs) => ((last = obs), Float32Array.from(obs.jointPositions)),
    planStateExtras: (obs) => ({ proprio: Float32Array.from(obs.jointPositions) }),
    goal: { latent: goalLatent } satisfies PlanGoal,
    isSuccess: () => last !== undefined && Array.from({ length: w.guardedJoints }, (_, j) => Math.abs(last!.jointPositions[j]! - goal[j]!)).every((d) => d <= tol),
    surprise: new SurpriseMonitor({ metric: 'l2' }),
    episodeId: `${o.task}-${arm.name}-${seed}`,
    plannerName: 'cem',
  };
  return { stages, period_s, maxSteps: spec.maxSteps, guardrails, shield };
}

/** Evaluation seeds for `count` episodes (the documented held-out range). */
export function evalSeeds(count: number): number[] {
  if (count > EVAL_SEEDS.end - EVAL_SEEDS.start) throw new RangeError(`at most ${EVAL_SEEDS.end - EVAL_SEEDS.start} evaluation episodes exist`);
  return Array.from({ length: count }, (_, i) => EVAL_SEEDS.start + i);
}

export { loadModel };
