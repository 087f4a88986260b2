/**
 * Reach: move the arm's tool centre point to a goal pose (position and
 * orientation). Goals are sampled in joint space (so every goal is
 * reachable) and given as the TCP pose plus the joint vector that shows it.
 * Success: TCP within REACH_TOLERANCE of the goal pose.
 */
import type { MjSim } from '../mujoco';
import { Rng } from '../rng';
import { ARM_JOINTS, CUBE_HALF_m, GRIPPER_OPEN_m } from '../scenes/arm';
import { FER_JOINT_LIMITS, PANDA_HOME_rad, pandaTcp, type Pose } from '../scenes/panda-kinematics';
import { ARM_PROPRIO_JOINTS, CartesianController, armStepRandomPolicy, poseDistance, tcpPose } from './arm-common';
import { setJoints, stateWith, type EpisodeSetup, type GoalState, type Policy, type Task, type TaskSpec } from './types';

export const REACH_TOLERANCE = { position_m: 0.03, rotation_rad: 0.2 } as const;
/** Largest joint-target step of reach's random policy: the embedded runtime's per-step limit (src/runtime/embedded.ts). */
export const REACH_RANDOM_STEP_rad = 0.045;

/** Samples a joint vector near home whose TCP lies in the workspace above the table. */
export function sampleArmConfiguration(rng: Rng, spread_rad: number): Float64Array {
  for (let attempt = 0; attempt < 200; attempt++) {
    const q = Float64Array.from(PANDA_HOME_rad, (h, i) => {
      const lim = FER_JOINT_LIMITS[i];
      return Math.min(lim.upper_rad - 0.05, Math.max(lim.lower_rad + 0.05, h + rng.uniform(-spread_rad, spread_rad)));
    });
    const p = pandaTcp(q).p;
    if (p[2] > 0.1 && p[2] < 0.6 && p[0] > 0.25 && p[0] < 0.75 && Math.abs(p[1]) < 0.4) return q;
  }
  return Float64Array.from(PANDA_HOME_rad);
}

function goalPose(goal: GoalState): Pose {
  return { R: Float64Array.from(goal.tcp_rotation), p: Float64Array.from(goal.tcp_position) };
}

function armState(sim: MjSim, q: ArrayLike<number>, cubeXy: [number, number]) {
  return stateWith(
    sim,
    (s) => {
      setJoints(s, ARM_JOINTS, q);
      setJoints(s, ['finger_left', 'finger_right'], [GRIPPER_OPEN_m, GRIPPER_OPEN_m]);
      const c = s.jointQposAddress('cube');
      s.qpos.set([cubeXy[0], cubeXy[1], CUBE_HALF_m, 1, 0, 0, 0], c);
    },
    [...Array.from(q), GRIPPER_OPEN_m],
  );
}

export const reachSpec: TaskSpec = {
  name: 'reach',
  scene: 'arm',
  cameras: ['front', 'wrist'],
  frameskip: 25,
  maxSteps: 80,
  proprioJoints: ARM_PROPRIO_JOINTS,
  objects: ['cube', 'bin'],
  actionDim: 8,
};

export const reachTask: Task = {
  spec: reachSpec,
  sampleEpisode(sim: MjSim, seed: number): EpisodeSetup {
    const rng = new Rng(seed, 1);
    const q0 = sampleArmConfiguration(rng, 0.15);
    const qGoal = sampleArmConfiguration(rng, 0.6);
    const cube: [number, number] = [rng.uniform(0.35, 0.65), rng.uniform(-0.3, 0.3)];
    const tcp = pandaTcp(qGoal);
    return {
      seed,
      initial: armState(sim, q0, cube),
      goal: { tcp_position: Array.from(tcp.p), tcp_rotation: Array.from(tcp.R), joint_positions: Array.from(qGoal) },
      goalSimState: armState(sim, qGoal, cube),
    };
  },
  isSuccess(sim, goal) {
    const d = poseDistance(tcpPose(sim), goalPose(goal));
    return d.position_m < REACH_TOLERANCE.position_m && d.rotation_rad < REACH_TOLERANCE.rotation_rad;
  },
  goalDistance(sim, goal) {
    const d = poseDistance(tcpPose(sim), goalPose(goal));
    return d.position_m + 0.1 * d.rotation_rad;
  },
  scriptedPolicy(_sim, goal): Policy {
    const ctl = new CartesianController();
    const pose = goalPose(goal);
    return { act: (sim) => ctl.act(sim, pose, GRIPPER_OPEN_m) };
  },
  /**
   * Random exploration in the runtime's own action space (joint-target steps of at most
   * REACH_RANDOM_STEP_rad) towards wandering targets drawn like the goals.
   */
  randomPolicy: (rng) => armStepRandomPolicy(rng, REACH_RANDOM_STEP_rad, () => sampleArmConfiguration(rng, 0.6)),
};
