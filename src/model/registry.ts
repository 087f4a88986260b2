/**
 * The registry of shipped models: `models/<task>/` in the package holds a
 * checkpoint (config.json + model.safetensors) trained for an embedded task
 * by the command recorded beside it, `models/<task>-high/` where a task
 * ships the coarse-time-step model of a latent sub-goal hierarchy over it, and
 * `models/<task>-state/` where a task's model reads camera frames but the task
 * also runs on arms that report joints only (a ROS 2 arm, a replayed bag): a
 * state-vector model of the same robot, and `models/<task>-monitor/` where the
 * surprise monitor runs a model that sees what the planner's model does not
 * (pick-place's state model of the arm is blind to the cube). The CLI uses a
 * shipped model when the user names none.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CONFIG_FILE, WEIGHTS_FILE } from './checkpoint';

/** Folder of the shipped models, whatever the working directory. */
export const MODELS_DIR = resolve(new URL('../..', import.meta.url).pathname, 'models');

/** The shipped checkpoint folder for a task, or undefined when none ships. */
export function shippedModel(task: string, root = MODELS_DIR): string | undefined {
  const dir = resolve(root, task);
  return existsSync(resolve(dir, CONFIG_FILE)) && existsSync(resolve(dir, WEIGHTS_FILE)) ? dir : undefined;
}

/** The shipped high-level (coarse-time-step) checkpoint folder for a task, or undefined when none ships. */
export function shippedHighModel(task: string, root = MODELS_DIR): string | undefined {
  return shippedModel(`${task}-high`, root);
}

/** The shipped state-vector checkpoint folder for a task whose main model reads pixels, or undefined when none ships. */
export function shippedStateModel(task: string, root = MODELS_DIR): string | undefined {
  return shippedModel(`${task}-state`, root);
}

/** The shipped model the surprise monitor runs for a task instead of the planner's, or undefined when none ships. */
export function shippedMonitorModel(task: string, root = MODELS_DIR): string | undefined {
  return shippedModel(`${task}-monitor`, root);
}
