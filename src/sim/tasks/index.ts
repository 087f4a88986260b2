/**
 * Registry of the simulated tasks by name.
 */
import { pickPlaceTask } from './pick-place';
import { pushTTask } from './push-t';
import { reachTask } from './reach';
import { twoRoomsTask } from './two-rooms';
import type { Task, TaskName } from './types';

export { TaskName } from './types';
export type { Task, TaskSpec, GoalState, EpisodeSetup, Policy } from './types';

export const TASKS: Record<TaskName, Task> = {
  reach: reachTask,
  'push-t': pushTTask,
  'pick-place': pickPlaceTask,
  'two-rooms': twoRoomsTask,
};
