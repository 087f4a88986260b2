/**
 * Two-rooms: steer a point mass from one room to a goal position in the
 * other, through the door in the dividing wall. Success: within
 * TWO_ROOMS_TOLERANCE_m of the goal. The scripted policy goes to the door,
 * through it, then to the goal (a velocity P-controller).
 */
import type { MjSim } from '../mujoco';
import { Rng } from '../rng';
import { TWO_ROOMS_AGENT_RADIUS_m, TWO_ROOMS_DOOR_HALF_m, TWO_ROOMS_DOOR_Y_m, TWO_ROOMS_HALF_m, TWO_ROOMS_MAX_SPEED_mps, TWO_ROOMS_WALL_HALF_THICKNESS_m } from '../scenes/two-rooms';
import { clampToCtrlRange, getJoints, setJoints, stateWith, type EpisodeSetup, type GoalState, type Policy, type Task, type TaskSpec } from './types';

export const TWO_ROOMS_TOLERANCE_m = 0.05;
const AGENT_JOINTS = ['agent_x', 'agent_y'] as const;

export function agentPosition(sim: MjSim): [number, number] {
  const q = getJoints(sim, AGENT_JOINTS);
  return [q[0], q[1]];
}

/** A uniformly random point inside one room (side -1: x < 0, +1: x > 0), clear of the walls. */
function samplePointInRoom(rng: Rng, side: -1 | 1): [number, number] {
  const clear = TWO_ROOMS_AGENT_RADIUS_m + TWO_ROOMS_WALL_HALF_THICKNESS_m + 0.02;
  const x = side * rng.uniform(clear, TWO_ROOMS_HALF_m - clear);
  const y = rng.uniform(-TWO_ROOMS_HALF_m + clear, TWO_ROOMS_HALF_m - clear);
  return [x, y];
}

export const twoRoomsSpec: TaskSpec = {
  name: 'two-rooms',
  scene: 'two-rooms',
  cameras: ['top'],
  frameskip: 25,
  maxSteps: 200,
  proprioJoints: AGENT_JOINTS,
  objects: [],
  actionDim: 2,
};

export class TwoRoomsScript implements Policy {
  constructor(private readonly goal: GoalState) {}

  act(sim: MjSim): Float64Array {
    const p = agentPosition(sim);
    const g = this.goal.agent_position;
    let target: [number, number] = [g[0], g[1]];
    if (Math.sign(p[0]) !== Math.sign(g[0])) {
      // In the wrong room: line up with the door, then cross.
      const side = Math.sign(p[0]) || 1;
      const offDoor = Math.abs(p[1] - TWO_ROOMS_DOOR_Y_m) > TWO_ROOMS_DOOR_HALF_m - TWO_ROOMS_AGENT_RADIUS_m - 0.01;
      target = offDoor && Math.abs(p[0]) > TWO_ROOMS_WALL_HALF_THICKNESS_m + TWO_ROOMS_AGENT_RADIUS_m ? [side * 0.1, TWO_ROOMS_DOOR_Y_m] : [-side * 0.12, TWO_ROOMS_DOOR_Y_m];
    }
    const k = 3; // 1/s
    return clampToCtrlRange(sim, [k * (target[0] - p[0]), k * (target[1] - p[1])]);
  }
}

export const twoRoomsTask: Task = {
  spec: twoRoomsSpec,
  sampleEpisode(sim: MjSim, seed: number): EpisodeSetup {
    const rng = new Rng(seed, 4);
    const side: -1 | 1 = rng.next() < 0.5 ? -1 : 1;
    const start = samplePointInRoom(rng, side);
    const goal = samplePointInRoom(rng, side === 1 ? -1 : 1);
    const at = (p: [number, number]) => stateWith(sim, (s) => setJoints(s, AGENT_JOINTS, p), [0, 0]);
    return { seed, initial: at(start), goal: { agent_position: goal }, goalSimState: at(goal) };
  },
  isSuccess(sim, goal) {
    return this.goalDistance(sim, goal) < TWO_ROOMS_TOLERANCE_m;
  },
  goalDistance(sim, goal) {
    const p = agentPosition(sim);
    return Math.hypot(p[0] - goal.agent_position[0], p[1] - goal.agent_position[1]);
  },
  scriptedPolicy: (_sim, goal) => new TwoRoomsScript(goal),
  randomPolicy(rng: Rng): Policy {
    const v: [number, number] = [0, 0];
    return {
      act(sim) {
        v[0] = 0.9 * v[0] + 0.1 * TWO_ROOMS_MAX_SPEED_mps * 2 * rng.normal();
        v[1] = 0.9 * v[1] + 0.1 * TWO_ROOMS_MAX_SPEED_mps * 2 * rng.normal();
        return clampToCtrlRange(sim, v);
      },
    };
  },
};
