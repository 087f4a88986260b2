/**
 * Pick-place: put the cube into the target bin. The task is exposed as an
 * ordered list of stages (reach above cube, grasp, lift, move over bin,
 * release), each with a sub-goal in state form, a completion predicate and a
 * full simulator state showing the sub-goal (for rendering sub-goal
 * observations), so a hierarchical planner can use it as a task graph. The
 * scripted policy walks the same stages.
 */
import type { MjSim, SimState } from '../mujoco';
import { Rng } from '../rng';
import { ARM_JOINTS, BIN_HALF_m, BIN_WALL_HEIGHT_m, CUBE_HALF_m, GRIPPER_CLOSED_m, GRIPPER_OPEN_m } from '../scenes/arm';
import { PANDA_HOME_rad, pandaIk, pandaTcp } from '../scenes/panda-kinematics';
import { quatYaw, wrapAngle } from '../scenes/xml';
import { ARM_PROPRIO_JOINTS, CartesianController, armJointPositions, armRandomPolicy, downwardPose, tcpPose } from './arm-common';
import { sampleArmConfiguration } from './reach';
import { getJoints, setJoints, stateWith, type EpisodeSetup, type GoalState, type Policy, type Task, type TaskSpec } from './types';

export const PICK_PLACE_STAGE_NAMES = ['reach-above-cube', 'grasp', 'lift', 'move-over-bin', 'release'] as const;
export type PickPlaceStageName = (typeof PICK_PLACE_STAGE_NAMES)[number];

/** Heights (m) of the TCP above the table for hovering and carrying. */
const HOVER_m = 0.14;
const CARRY_m = 0.22;
const BIN_FLOOR_m = 0.01;

export interface CubeState {
  position: [number, number, number];
  yaw_rad: number;
}

export function cubeState(sim: MjSim): CubeState {
  const a = sim.jointQposAddress('cube');
  const q = sim.qpos;
  return { position: [q[a], q[a + 1], q[a + 2]], yaw_rad: quatYaw(q[a + 3], q[a + 4], q[a + 5], q[a + 6]) };
}

/** Gripper yaw that puts the fingers across two cube faces, closest to the home wrist yaw. */
export function graspYaw(cubeYaw_rad: number): number {
  const home = pandaTcp(PANDA_HOME_rad).R;
  const homeYaw = Math.atan2(home[3], home[0]);
  let best = cubeYaw_rad;
  for (let k = -4; k <= 4; k++) {
    const c = cubeYaw_rad + (k * Math.PI) / 2;
    if (Math.abs(wrapAngle(c - homeYaw)) < Math.abs(wrapAngle(best - homeYaw))) best = c;
  }
  return homeYaw + wrapAngle(best - homeYaw);
}

function fingerOpening(sim: MjSim): number {
  return getJoints(sim, ['finger_left'])[0];
}

function binPosition(goal: GoalState): [number, number, number] {
  return [goal.bin_position[0], goal.bin_position[1], goal.bin_position[2]];
}

/** True when the cube rests inside the bin's walls. */
export function cubeInBin(cube: CubeState, bin: [number, number, number]): boolean {
  const inner = BIN_HALF_m - 0.005 - 0.5 * CUBE_HALF_m;
  return Math.abs(cube.position[0] - bin[0]) < inner && Math.abs(cube.position[1] - bin[1]) < inner && cube.position[2] < BIN_WALL_HEIGHT_m;
}

function cubeHeld(sim: MjSim): boolean {
  const cube = cubeState(sim);
  const tcp = tcpPose(sim).p;
  const open = fingerOpening(sim);
  return Math.hypot(cube.position[0] - tcp[0], cube.position[1] - tcp[1], cube.position[2] - tcp[2]) < 0.035 && open > CUBE_HALF_m * 0.6 && open < CUBE_HALF_m + 0.0005;
}

/** A stage of pick-place as a node of a task graph. */
export interface PickPlaceStage {
  name: PickPlaceStageName;
  description: string;
  /** Sub-goal in state form (TCP target position, yaw and gripper opening) for the current situation. */
  subgoal(sim: MjSim, goal: GoalState): GoalState;
  /** True once the stage's effect holds. */
  isDone(sim: MjSim, goal: GoalState): boolean;
  /** A full simulator state that shows the sub-goal reached (render it for a sub-goal observation). */
  subgoalSimState(sim: MjSim, goal: GoalState): SimState;
}

function tcpTarget(position: [number, number, number], yaw_rad: number, gripper_m: number): GoalState {
  return { tcp_position: position, tcp_yaw: [yaw_rad], gripper_opening: [gripper_m] };
}

/** State with the arm solved (IK) to the sub-goal TCP target; `cube` places the cube (or leaves it). */
function stateForTarget(sim: MjSim, target: GoalState, cube?: [number, number, number]): SimState {
  const pose = downwardPose(target.tcp_position, target.tcp_yaw[0]);
  const q = pandaIk(pose, armJointPositions(sim), { iterations: 300 }).q;
  const g = target.gripper_opening[0];
  // Read everything from the current state before stateWith resets the simulator.
  const now = cubeState(sim);
  const yaw = now.yaw_rad;
  const c = cube ?? now.position;
  const mocap = Float64Array.from(sim.mocapPos);
  return stateWith(
    sim,
    (s) => {
      setJoints(s, ARM_JOINTS, q);
      setJoints(s, ['finger_left', 'finger_right'], [g, g]);
      s.mocapPos.set(mocap);
      s.qpos.set([c[0], c[1], c[2], Math.cos(yaw / 2), 0, 0, Math.sin(yaw / 2)], s.jointQposAddress('cube'));
    },
    [...Array.from(q), g],
  );
}

export const PICK_PLACE_STAGES: readonly PickPlaceStage[] = [
  {
    name: 'reach-above-cube',
    description: 'Open the gripper and hover the TCP above the cube, fingers across two faces.',
    subgoal(sim) {
      const c = cubeState(sim);
      return tcpTarget([c.position[0], c.position[1], HOVER_m], graspYaw(c.yaw_rad), GRIPPER_OPEN_m);
    },
    isDone(sim) {
      const c = cubeState(sim).position;
      const p = tcpPose(sim).p;
      return Math.hypot(p[0] - c[0], p[1] - c[1]) < 0.015 && Math.abs(p[2] - HOVER_m) < 0.03 && fingerOpening(sim) > GRIPPER_OPEN_m - 0.005;
    },
    subgoalSimState(sim, goal) {
      return stateForTarget(sim, this.subgoal(sim, goal));
    },
  },
  {
    name: 'grasp',
    description: 'Descend around the cube and close the fingers on it.',
    subgoal(sim) {
      const c = cubeState(sim);
      return tcpTarget([c.position[0], c.position[1], c.position[2]], graspYaw(c.yaw_rad), GRIPPER_CLOSED_m);
    },
    isDone: (sim) => cubeHeld(sim),
    subgoalSimState(sim, goal) {
      const t = this.subgoal(sim, goal);
      t.gripper_opening = [CUBE_HALF_m];
      return stateForTarget(sim, t);
    },
  },
  {
    name: 'lift',
    description: 'Lift the held cube clear of the table.',
    subgoal(sim) {
      const c = cubeState(sim);
      return tcpTarget([c.position[0], c.position[1], CARRY_m], graspYaw(c.yaw_rad), GRIPPER_CLOSED_m);
    },
    isDone: (sim) => cubeHeld(sim) && cubeState(sim).position[2] > CARRY_m - 0.04,
    subgoalSimState(sim, goal) {
      const t = this.subgoal(sim, goal);
      t.gripper_opening = [CUBE_HALF_m];
      return stateForTarget(sim, t, t.tcp_position as [number, number, number]);
    },
  },
  {
    name: 'move-over-bin',
    description: 'Carry the cube until it is above the bin.',
    subgoal(sim, goal) {
      const b = binPosition(goal);
      return tcpTarget([b[0], b[1], CARRY_m], graspYaw(cubeState(sim).yaw_rad), GRIPPER_CLOSED_m);
    },
    isDone(sim, goal) {
      const b = binPosition(goal);
      const c = cubeState(sim).position;
      return cubeHeld(sim) && Math.hypot(c[0] - b[0], c[1] - b[1]) < 0.03;
    },
    subgoalSimState(sim, goal) {
      const t = this.subgoal(sim, goal);
      t.gripper_opening = [CUBE_HALF_m];
      return stateForTarget(sim, t, t.tcp_position as [number, number, number]);
    },
  },
  {
    name: 'release',
    description: 'Open the gripper so the cube drops into the bin.',
    subgoal(sim, goal) {
      const b = binPosition(goal);
      return tcpTarget([b[0], b[1], CARRY_m], graspYaw(cubeState(sim).yaw_rad), GRIPPER_OPEN_m);
    },
    isDone: (sim, goal) => cubeInBin(cubeState(sim), binPosition(goal)) && fingerOpening(sim) > GRIPPER_OPEN_m - 0.01,
    subgoalSimState(sim, goal) {
      const b = binPosition(goal);
      return stateForTarget(sim, this.subgoal(sim, goal), [b[0], b[1], BIN_FLOOR_m + CUBE_HALF_m]);
    },
  },
];

/** The stages as a task graph: nodes in order, each edge "finish A before B". */
export function pickPlaceTaskGraph(): { nodes: PickPlaceStageName[]; edges: [PickPlaceStageName, PickPlaceStageName][] } {
  const nodes = [...PICK_PLACE_STAGE_NAMES];
  return { nodes, edges: nodes.slice(1).map((n, i) => [nodes[i], n]) };
}

export const pickPlaceSpec: TaskSpec = {
  name: 'pick-place',
  scene: 'arm',
  cameras: ['front', 'wrist'],
  frameskip: 25,
  maxSteps: 250,
  proprioJoints: ARM_PROPRIO_JOINTS,
  objects: ['cube', 'bin'],
  actionDim: 8,
};

/** Stage-script controller: drives each stage's sub-goal until it is done, then the next. */
export class PickPlaceScript implements Policy {
  stage = 0;
  private ctl = new CartesianController();
  private closeSteps = 0;
  private lockedYaw: number | undefined;
  private lockedXy: [number, number] | undefined;

  constructor(private readonly goal: GoalState) {}

  get stageName(): PickPlaceStageName {
    return PICK_PLACE_STAGE_NAMES[Math.min(this.stage, PICK_PLACE_STAGE_NAMES.length - 1)];
  }

  act(sim: MjSim): Float64Array {
    while (this.stage < PICK_PLACE_STAGES.length - 1 && PICK_PLACE_STAGES[this.stage].isDone(sim, this.goal)) this.stage++;
    const st = PICK_PLACE_STAGES[this.stage];
    const sub = st.subgoal(sim, this.goal);
    let p = sub.tcp_position as [number, number, number];
    let gripper = sub.gripper_opening[0];
    if (st.name === 'reach-above-cube') {
      this.lockedYaw = sub.tcp_yaw[0];
      this.lockedXy = [p[0], p[1]];
    }
    const yaw = this.lockedYaw ?? sub.tcp_yaw[0];
    if (st.name === 'grasp') {
      const xy = this.lockedXy ?? [p[0], p[1]];
      const tcp = tcpPose(sim).p;
      const low = p[2] - 0.008; // finger pads centred on the cube, tips clear of the table
      if (tcp[2] > low + 0.012 && this.closeSteps === 0) {
        // Descend with open fingers, straight down over the cube.
        p = [xy[0], xy[1], Math.max(low, tcp[2] - 0.05)];
        gripper = GRIPPER_OPEN_m;
      } else {
        // Close gradually: a slammed gripper squeezes the cube out sideways.
        p = [xy[0], xy[1], low];
        this.closeSteps++;
        gripper = Math.max(GRIPPER_CLOSED_m, GRIPPER_OPEN_m - 0.006 * this.closeSteps);
      }
    }
    const carrying = st.name === 'lift' || st.name === 'move-over-bin';
    return this.ctl.act(sim, downwardPose(p, yaw), gripper, 0.1, carrying ? 0.012 : 0.03);
  }
}

export const pickPlaceTask: Task = {
  spec: pickPlaceSpec,
  sampleEpisode(sim: MjSim, seed: number): EpisodeSetup {
    const rng = new Rng(seed, 3);
    const side = rng.next() < 0.5 ? -1 : 1;
    const cube: [number, number, number] = [rng.uniform(0.42, 0.58), -side * rng.uniform(0.02, 0.18), CUBE_HALF_m];
    const cubeYaw = rng.uniform(-Math.PI / 4, Math.PI / 4);
    const bin: [number, number, number] = [rng.uniform(0.4, 0.6), side * rng.uniform(0.2, 0.3), 0];
    const q0 = sampleArmConfiguration(rng, 0.1);
    const place = (s: MjSim, q: ArrayLike<number>, c: [number, number, number], g: number) => {
      setJoints(s, ARM_JOINTS, q);
      setJoints(s, ['finger_left', 'finger_right'], [g, g]);
      s.mocapPos.set(bin, 3 * s.mocapIndex('bin'));
      s.qpos.set([c[0], c[1], c[2], Math.cos(cubeYaw / 2), 0, 0, Math.sin(cubeYaw / 2)], s.jointQposAddress('cube'));
    };
    const initial = stateWith(sim, (s) => place(s, q0, cube, GRIPPER_OPEN_m), [...q0, GRIPPER_OPEN_m]);
    const qAbove = pandaIk(downwardPose([bin[0], bin[1], CARRY_m + 0.05], graspYaw(cubeYaw)), PANDA_HOME_rad, { iterations: 300 }).q;
    const cubeGoal: [number, number, number] = [bin[0], bin[1], BIN_FLOOR_m + CUBE_HALF_m];
    const goalSimState = stateWith(sim, (s) => place(s, qAbove, cubeGoal, GRIPPER_OPEN_m), [...qAbove, GRIPPER_OPEN_m]);
    return { seed, initial, goal: { bin_position: bin, cube_goal_position: cubeGoal }, goalSimState };
  },
  isSuccess: (sim, goal) => cubeInBin(cubeState(sim), binPosition(goal)),
  goalDistance(sim, goal) {
    const c = cubeState(sim).position;
    const g = goal.cube_goal_position;
    return Math.hypot(c[0] - g[0], c[1] - g[1], c[2] - g[2]);
  },
  scriptedPolicy: (_sim, goal) => new PickPlaceScript(goal),
  randomPolicy: armRandomPolicy,
};
