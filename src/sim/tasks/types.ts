/**
 * What every simulated task provides: its scene, timing (frameskip, step
 * limit), how it maps joints to proprioception, seeded episode sampling
 * (initial state + goal in state form + the full goal state used to render
 * the goal observation), a success predicate, and its policies (random and
 * scripted). The environment (src/sim/env.ts) drives any task through this.
 */
import { z } from 'zod';
import type { MjSim, SimState } from '../mujoco';
import type { SceneName } from '../scenes/index';
import type { Rng } from '../rng';

export const TaskName = z.enum(['reach', 'push-t', 'pick-place', 'two-rooms']);
export type TaskName = z.infer<typeof TaskName>;

/** A goal in state form: named numeric fields (JSON-serialisable, stored in dataset manifests). */
export type GoalState = Record<string, number[]>;

export interface EpisodeSetup {
  seed: number;
  /** Full simulator state the episode starts from. */
  initial: SimState;
  /** The goal in state form. */
  goal: GoalState;
  /** A full simulator state that shows the goal achieved; rendered for the goal observation. */
  goalSimState: SimState;
}

/** A controller: maps the current simulator state to the next action (actuator ctrl). */
export interface Policy {
  act(sim: MjSim): Float64Array;
}

export interface TaskSpec {
  name: TaskName;
  scene: SceneName;
  /** Camera names rendered into observations (first is the main view). */
  cameras: readonly string[];
  /** Physics steps per control step. */
  frameskip: number;
  /** Control steps before an episode is cut off. */
  maxSteps: number;
  /** Joints reported as proprioception (positions then velocities). */
  proprioJoints: readonly string[];
  /**
   * Bodies whose world positions `jepa collect --objects` records beside each observation (a
   * training target for a pixel encoder: the simulator's ground truth, never an input at run time).
   */
  objects: readonly string[];
  /** Actuator count = action dimension. */
  actionDim: number;
}

export interface Task {
  readonly spec: TaskSpec;
  /** Samples the episode for `seed` (deterministic); does not change `sim` on return. */
  sampleEpisode(sim: MjSim, seed: number): EpisodeSetup;
  /** True when the current state achieves the goal. */
  isSuccess(sim: MjSim, goal: GoalState): boolean;
  /** A task-specific scalar distance to the goal (0 = achieved exactly); used by tests and logs. */
  goalDistance(sim: MjSim, goal: GoalState): number;
  scriptedPolicy(sim: MjSim, goal: GoalState): Policy;
  randomPolicy(rng: Rng): Policy;
}

/** Action bounds from the actuators' ctrlrange. */
export function clampToCtrlRange(sim: MjSim, action: ArrayLike<number>): Float64Array {
  const range = sim.ctrlRange();
  const out = new Float64Array(sim.nu);
  for (let i = 0; i < sim.nu; i++) {
    const v = Number.isFinite(action[i]) ? action[i] : 0;
    out[i] = Math.min(range[2 * i + 1], Math.max(range[2 * i], v));
  }
  return out;
}

/** Sets joint qpos entries by name (scalar joints). */
export function setJoints(sim: MjSim, names: readonly string[], values: ArrayLike<number>): void {
  const qpos = sim.qpos;
  names.forEach((n, i) => {
    qpos[sim.jointQposAddress(n)] = values[i];
  });
}

export function getJoints(sim: MjSim, names: readonly string[]): Float64Array {
  const qpos = sim.qpos;
  return Float64Array.from(names, (n) => qpos[sim.jointQposAddress(n)]);
}

export function getJointVelocities(sim: MjSim, names: readonly string[]): Float64Array {
  const qvel = sim.qvel;
  return Float64Array.from(names, (n) => qvel[sim.jointDofAddress(n)]);
}

/** A state built from the model's reset state with some joints set, velocities zero, then `ctrl`. */
export function stateWith(sim: MjSim, edit: (s: MjSim) => void, ctrl: ArrayLike<number>): SimState {
  const saved = sim.getState();
  sim.reset();
  edit(sim);
  sim.ctrl.set(ctrl);
  sim.forward();
  const state = sim.getState();
  sim.setState(saved);
  return state;
}
