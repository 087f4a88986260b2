/**
 * Push-T: push the T-shaped block to a goal pose (x, y, yaw) with a planar
 * pusher. Success: block position within PUSHT_TOLERANCE.position_m and yaw
 * within PUSHT_TOLERANCE.angle_rad of the goal. The scripted policy
 * alternates between rotating the block (pushing a bar end) and translating
 * it (pushing through its centre of mass), approaching each contact point
 * around the block rather than through it.
 */
import type { MjSim } from '../mujoco';
import { Rng } from '../rng';
import { PUSHT_ARENA_HALF_m, PUSHT_BAR, PUSHT_PUSHER_RADIUS_m } from '../scenes/push-t';
import { wrapAngle } from '../scenes/xml';
import { clampToCtrlRange, getJoints, setJoints, stateWith, type EpisodeSetup, type GoalState, type Policy, type Task, type TaskSpec } from './types';

export const PUSHT_TOLERANCE = { position_m: 0.02, angle_rad: 0.2 } as const;
const BLOCK_JOINTS = ['block_x', 'block_y', 'block_yaw'] as const;
const PUSHER_JOINTS = ['pusher_x', 'pusher_y'] as const;
/** Centre of mass of the T in its own frame (equal-mass bar and stem). */
const COM_LOCAL = [0, 0.015] as const;
/** Radius (m) around the block's COM that clears every part of the T plus the pusher. */
const CLEAR_RADIUS_m = 0.1;

export interface BlockPose {
  x: number;
  y: number;
  yaw: number;
}

export function blockPose(sim: MjSim): BlockPose {
  const q = getJoints(sim, BLOCK_JOINTS);
  return { x: q[0], y: q[1], yaw: q[2] };
}

function toWorld(p: BlockPose, lx: number, ly: number): [number, number] {
  const c = Math.cos(p.yaw), s = Math.sin(p.yaw);
  return [p.x + c * lx - s * ly, p.y + s * lx + c * ly];
}

function poseError(p: BlockPose, goal: GoalState): { position_m: number; angle_rad: number } {
  const g = goal.block_pose;
  return { position_m: Math.hypot(p.x - g[0], p.y - g[1]), angle_rad: Math.abs(wrapAngle(p.yaw - g[2])) };
}

function sampleBlockPose(rng: Rng, margin_m: number): BlockPose {
  const r = PUSHT_ARENA_HALF_m - margin_m;
  return { x: rng.uniform(-r, r), y: rng.uniform(-r, r), yaw: rng.uniform(-Math.PI, Math.PI) };
}

export const pushTSpec: TaskSpec = {
  name: 'push-t',
  scene: 'push-t',
  cameras: ['top'],
  frameskip: 25,
  maxSteps: 300,
  proprioJoints: PUSHER_JOINTS,
  actionDim: 2,
};

/** Approach-and-push controller (pusher position targets). */
export class PushTScript implements Policy {
  private phase: 'approach' | 'push' = 'approach';
  private contact: [number, number] = [0, 0];
  private direction: [number, number] = [1, 0];
  private pushSteps = 0;

  constructor(private readonly goal: GoalState) {}

  private plan(p: BlockPose): void {
    const g = this.goal.block_pose;
    const err = wrapAngle(g[2] - p.yaw);
    const com = toWorld(p, COM_LOCAL[0], COM_LOCAL[1]);
    const goalCom = toWorld({ x: g[0], y: g[1], yaw: g[2] }, COM_LOCAL[0], COM_LOCAL[1]);
    const d = [goalCom[0] - com[0], goalCom[1] - com[1]];
    const dist = Math.hypot(d[0], d[1]);
    if (Math.abs(err) > PUSHT_TOLERANCE.angle_rad * 0.6 && (dist < 0.06 || Math.abs(err) > 0.8)) {
      // Rotate by pushing the bar perpendicular to it, near one end. Pushing the top face
      // (local -y) at x = s*0.05 turns the block by -s, and so does pushing the bottom face
      // (local +y) at x = -s*0.05; of the two, use the push that points away from the walls.
      const s = err > 0 ? -1 : 1;
      const lx = PUSHT_BAR.half[0] - 0.01;
      const top = PUSHT_BAR.pos[1] + PUSHT_BAR.half[1] + PUSHT_PUSHER_RADIUS_m + 0.01;
      const bottom = PUSHT_BAR.pos[1] - PUSHT_BAR.half[1] - PUSHT_PUSHER_RADIUS_m - 0.01;
      const c = Math.cos(p.yaw), sn = Math.sin(p.yaw);
      const down: [number, number] = [sn, -c]; // local -y in world
      const inward = -(down[0] * com[0] + down[1] * com[1]);
      if (inward >= 0) {
        this.contact = toWorld(p, s * lx, top);
        this.direction = down;
      } else {
        this.contact = toWorld(p, -s * lx, bottom);
        this.direction = [-down[0], -down[1]];
      }
    } else {
      const n = Math.max(dist, 1e-9);
      this.direction = [d[0] / n, d[1] / n];
      this.contact = [com[0] - this.direction[0] * 0.095, com[1] - this.direction[1] * 0.095];
    }
  }

  act(sim: MjSim): Float64Array {
    const p = blockPose(sim);
    const pusher = getJoints(sim, PUSHER_JOINTS);
    const com = toWorld(p, COM_LOCAL[0], COM_LOCAL[1]);
    let target: [number, number];
    if (this.phase === 'approach') {
      this.plan(p);
      const toContact = Math.hypot(this.contact[0] - pusher[0], this.contact[1] - pusher[1]);
      if (toContact < 0.012) {
        this.phase = 'push';
        this.pushSteps = 0;
        target = [pusher[0], pusher[1]];
      } else {
        // Go around the block: if the straight path passes near the COM, step along a circle first.
        const a0 = Math.atan2(pusher[1] - com[1], pusher[0] - com[0]);
        const a1 = Math.atan2(this.contact[1] - com[1], this.contact[0] - com[0]);
        const rPusher = Math.hypot(pusher[0] - com[0], pusher[1] - com[1]);
        const da = wrapAngle(a1 - a0);
        if (Math.abs(da) > 0.5 && rPusher < CLEAR_RADIUS_m + 0.01) {
          target = [com[0] + Math.cos(a0) * (CLEAR_RADIUS_m + 0.03), com[1] + Math.sin(a0) * (CLEAR_RADIUS_m + 0.03)];
        } else if (Math.abs(da) > 0.5) {
          const a = a0 + Math.sign(da) * 0.6;
          target = [com[0] + Math.cos(a) * (CLEAR_RADIUS_m + 0.03), com[1] + Math.sin(a) * (CLEAR_RADIUS_m + 0.03)];
        } else {
          const step = Math.min(0.04, toContact);
          target = [pusher[0] + ((this.contact[0] - pusher[0]) / toContact) * step, pusher[1] + ((this.contact[1] - pusher[1]) / toContact) * step];
        }
      }
    } else {
      this.pushSteps++;
      target = [pusher[0] + this.direction[0] * 0.025, pusher[1] + this.direction[1] * 0.025];
      if (this.pushSteps >= 4) this.phase = 'approach';
    }
    return clampToCtrlRange(sim, target);
  }
}

export const pushTTask: Task = {
  spec: pushTSpec,
  sampleEpisode(sim: MjSim, seed: number): EpisodeSetup {
    const rng = new Rng(seed, 2);
    const goal = sampleBlockPose(rng, 0.09);
    let start = sampleBlockPose(rng, 0.09);
    for (let i = 0; i < 20 && Math.hypot(start.x - goal.x, start.y - goal.y) < 0.08; i++) start = sampleBlockPose(rng, 0.09);
    // Pusher starts clear of the block.
    let pusher: [number, number] = [0, 0];
    for (let i = 0; i < 50; i++) {
      const r = PUSHT_ARENA_HALF_m - 0.03;
      pusher = [rng.uniform(-r, r), rng.uniform(-r, r)];
      if (Math.hypot(pusher[0] - start.x, pusher[1] - start.y) > CLEAR_RADIUS_m + 0.02) break;
    }
    const make = (b: BlockPose, pu: [number, number]) =>
      stateWith(
        sim,
        (s) => {
          setJoints(s, BLOCK_JOINTS, [b.x, b.y, b.yaw]);
          setJoints(s, PUSHER_JOINTS, pu);
        },
        pu,
      );
    // In the goal image the pusher rests in the corner farthest from the goal block.
    const corner: [number, number] = [goal.x > 0 ? -0.2 : 0.2, goal.y > 0 ? -0.2 : 0.2];
    return { seed, initial: make(start, pusher), goal: { block_pose: [goal.x, goal.y, goal.yaw] }, goalSimState: make(goal, corner) };
  },
  isSuccess(sim, goal) {
    const e = poseError(blockPose(sim), goal);
    return e.position_m < PUSHT_TOLERANCE.position_m && e.angle_rad < PUSHT_TOLERANCE.angle_rad;
  },
  goalDistance(sim, goal) {
    const e = poseError(blockPose(sim), goal);
    return e.position_m + 0.05 * e.angle_rad;
  },
  scriptedPolicy: (_sim, goal) => new PushTScript(goal),
  randomPolicy(rng: Rng): Policy {
    const v: [number, number] = [0, 0];
    return {
      act(sim) {
        const p = getJoints(sim, PUSHER_JOINTS);
        v[0] = 0.85 * v[0] + 0.15 * 0.05 * rng.normal() * 3;
        v[1] = 0.85 * v[1] + 0.15 * 0.05 * rng.normal() * 3;
        return clampToCtrlRange(sim, [p[0] + v[0], p[1] + v[1]]);
      },
    };
  },
};
