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
import { PUSHT_ARENA_HALF_m, PUSHT_BAR, PUSHT_PUSHER_RADIUS_m, PUSHT_PUSHER_REACH_m, PUSHT_STEM } from '../scenes/push-t';
import { wrapAngle } from '../scenes/xml';
import { clampToCtrlRange, getJoints, setJoints, stateWith, type EpisodeSetup, type GoalState, type Policy, type Task, type TaskSpec } from './types';

export const PUSHT_TOLERANCE = { position_m: 0.02, angle_rad: 0.2 } as const;
/** The block's planar joints, in the order of BlockPose (x, y, yaw). */
export const BLOCK_JOINTS = ['block_x', 'block_y', 'block_yaw'] as const;
const PUSHER_JOINTS = ['pusher_x', 'pusher_y'] as const;
/** Centre of mass of the T in its own frame (equal-mass bar and stem). */
const COM_LOCAL = [0, 0.015] as const;
/** Radius (m) around the block's COM that clears every part of the T plus the pusher. */
export const CLEAR_RADIUS_m = 0.1;

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

/** Distance from a world point to the T's boxes (negative inside). */
function distanceToT(p: BlockPose, x: number, y: number): number {
  const c = Math.cos(p.yaw), sn = Math.sin(p.yaw);
  const lx = c * (x - p.x) + sn * (y - p.y);
  const ly = -sn * (x - p.x) + c * (y - p.y);
  const box = (b: { pos: readonly number[]; half: readonly number[] }) => {
    const dx = Math.abs(lx - b.pos[0]) - b.half[0];
    const dy = Math.abs(ly - b.pos[1]) - b.half[1];
    return Math.hypot(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0);
  };
  return Math.min(box(PUSHT_BAR), box(PUSHT_STEM));
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
  maxSteps: 400,
  proprioJoints: PUSHER_JOINTS,
  objects: ['tblock'],
  actionDim: 2,
};

/** Farthest the pusher centre can go from the arena centre along x or y (its ctrlrange). */
const PUSHER_REACH_m = PUSHT_PUSHER_REACH_m;
/** Pusher standoff from the COM when pushing through it (clears every part of the T). */
const TRANSLATE_STANDOFF_m = 0.095;
export const ORBIT_m = CLEAR_RADIUS_m + 0.03;

function reachable(p: readonly number[], margin_m = 0.005): boolean {
  return Math.abs(p[0]) <= PUSHER_REACH_m - margin_m && Math.abs(p[1]) <= PUSHER_REACH_m - margin_m;
}

/** One push: walk to `contact` (around the block), then travel `travel_m` along `direction`. */
export interface Push {
  contact: [number, number];
  direction: [number, number];
  /** How far (m) past the contact point the pusher travels. */
  travel_m: number;
}

/** Where the T's centre of mass is in the world for block pose `p`. */
export function blockCom(p: BlockPose): [number, number] {
  return toWorld(p, COM_LOCAL[0], COM_LOCAL[1]);
}

/** Rotating pushes: a bar end pushed across the bar (both faces, the one pointing away from the walls first). */
function rotations(p: BlockPose, err: number): Push[] {
  // Pushing the top face (local -y) at x = s*lx turns the block by -s, and so does pushing
  // the bottom face (local +y) at x = -s*lx; prefer the push that points away from the walls.
  const s = err > 0 ? -1 : 1;
  const lx = PUSHT_BAR.half[0] - 0.01;
  const top = PUSHT_BAR.pos[1] + PUSHT_BAR.half[1] + PUSHT_PUSHER_RADIUS_m + 0.01;
  const bottom = PUSHT_BAR.pos[1] - PUSHT_BAR.half[1] - PUSHT_PUSHER_RADIUS_m - 0.01;
  const c = Math.cos(p.yaw), sn = Math.sin(p.yaw);
  const down: [number, number] = [sn, -c];
  const com = blockCom(p);
  const travel_m = 0.02 + Math.min(0.1, 0.12 * Math.abs(err));
  const a: Push = { contact: toWorld(p, s * lx, top), direction: down, travel_m };
  const b: Push = { contact: toWorld(p, -s * lx, bottom), direction: [-down[0], -down[1]], travel_m };
  return -(down[0] * com[0] + down[1] * com[1]) >= 0 ? [a, b] : [b, a];
}

/** Translating pushes through the centre of mass: towards the goal, then turned up to 90 degrees either way. */
function translations(p: BlockPose, d: [number, number]): Push[] {
  const com = blockCom(p);
  const base = Math.atan2(d[1], d[0]);
  const dist = Math.hypot(d[0], d[1]);
  return [0, 0.4, -0.4, 0.8, -0.8, 1.2, -1.2, 1.57, -1.57].map((off) => {
    const dir: [number, number] = [Math.cos(base + off), Math.sin(base + off)];
    // Travel to the block's near face (how far depends on which side faces us), then push.
    const c: [number, number] = [com[0] - dir[0] * TRANSLATE_STANDOFF_m, com[1] - dir[1] * TRANSLATE_STANDOFF_m];
    const gap = Math.max(0, distanceToT(p, c[0], c[1]) - PUSHT_PUSHER_RADIUS_m);
    return { contact: c, direction: dir, travel_m: gap + Math.min(0.05, dist * Math.cos(off)) };
  });
}

/**
 * The next push that brings block pose `p` towards `goal` ([x, y, yaw]): rotate when the yaw is far
 * off or the block is nearly in place, else translate; pushes whose contact point lies outside the
 * pusher's reach (block against a wall) give way to reachable ones (the other bar face, or a
 * translation turned away from the goal direction, sliding the block along the wall), and pushes
 * that would drive the block into a wall to ones that do not.
 */
export function choosePush(p: BlockPose, goal: ArrayLike<number>): Push {
  const err = wrapAngle(goal[2]! - p.yaw);
  const com = blockCom(p);
  const goalCom = blockCom({ x: goal[0]!, y: goal[1]!, yaw: goal[2]! });
  const d: [number, number] = [goalCom[0] - com[0], goalCom[1] - com[1]];
  const dist = Math.hypot(d[0], d[1]);
  const rotate = Math.abs(err) > PUSHT_TOLERANCE.angle_rad * 0.6 && (dist < 0.05 || Math.abs(err) > 0.8);
  const translate = dist > PUSHT_TOLERANCE.position_m * 0.5 ? translations(p, d) : [];
  const candidates = rotate ? [...rotations(p, err), ...translate] : [...translate, ...rotations(p, err)];
  const intoWall = (c: Push) => Math.max(Math.abs(com[0] + c.direction[0] * 0.05), Math.abs(com[1] + c.direction[1] * 0.05)) > PUSHT_ARENA_HALF_m - 0.07;
  return candidates.find((c) => reachable(c.contact) && !intoWall(c)) ?? candidates.find((c) => reachable(c.contact)) ?? candidates[0]!;
}

/** Whether a straight walk from `pusher` to `contact` stays clear of the block: both at nearly the same bearing from its centre of mass. */
export function routeClear(p: BlockPose, pusher: ArrayLike<number>, contact: ArrayLike<number>): boolean {
  const com = blockCom(p);
  const a0 = Math.atan2(pusher[1]! - com[1], pusher[0]! - com[0]);
  const a1 = Math.atan2(contact[1]! - com[1], contact[0]! - com[0]);
  return Math.abs(wrapAngle(a1 - a0)) <= ROUTE_CLEAR_rad;
}

/** Largest bearing change (rad, around the block's centre of mass) walked straight rather than around the block. */
const ROUTE_CLEAR_rad = 0.5;

/**
 * Which way (+1 counter-clockwise, -1 clockwise) to walk round the block's clearing circle from
 * `pusher` to `contact`: the short way, unless the circle leaves the pusher's reach that way and
 * not the other.
 */
export function orbitDirection(p: BlockPose, pusher: ArrayLike<number>, contact: ArrayLike<number>): 1 | -1 {
  const com = blockCom(p);
  const a0 = Math.atan2(pusher[1]! - com[1], pusher[0]! - com[0]);
  const short = wrapAngle(Math.atan2(contact[1]! - com[1], contact[0]! - com[0]) - a0) >= 0 ? 1 : -1;
  const ahead = (sign: number) => [com[0] + Math.cos(a0 + sign * 0.6) * ORBIT_m, com[1] + Math.sin(a0 + sign * 0.6) * ORBIT_m];
  return reachable(ahead(short), 0) || !reachable(ahead(-short), 0) ? short : (-short as 1 | -1);
}

/**
 * Approach-and-push controller (pusher position targets). Each cycle it
 * picks a push (`choosePush`), walks around the block to the contact point,
 * and pushes for a few steps.
 */
export class PushTScript implements Policy {
  private phase: 'approach' | 'push' = 'approach';
  private push: Push = { contact: [0, 0], direction: [1, 0], travel_m: 0 };
  private pushEnd: [number, number] = [0, 0];
  private pushSteps = 0;
  private orbitSign = 0;
  private lastPusher: [number, number] = [NaN, NaN];
  private stuckSteps = 0;
  private retreatSteps = 0;

  constructor(private readonly goal: GoalState) {}

  get contact(): [number, number] {
    return this.push.contact;
  }
  get direction(): [number, number] {
    return this.push.direction;
  }

  private plan(p: BlockPose): void {
    this.push = choosePush(p, this.goal.block_pose);
  }

  act(sim: MjSim): Float64Array {
    const p = blockPose(sim);
    const pusher = getJoints(sim, PUSHER_JOINTS);
    const com = blockCom(p);
    const moved = Math.hypot(pusher[0] - this.lastPusher[0], pusher[1] - this.lastPusher[1]);
    this.lastPusher = [pusher[0], pusher[1]];
    let target: [number, number];
    if (this.phase === 'approach') {
      this.plan(p);
      const { contact } = this.push;
      const toContact = Math.hypot(contact[0] - pusher[0], contact[1] - pusher[1]);
      // Stuck (pinned between block and wall): walk around the other way, and if that
      // fails too, back out towards the middle of the arena (nudging the block if need be).
      this.stuckSteps = moved < 0.002 ? this.stuckSteps + 1 : 0;
      if (this.stuckSteps === 6) this.orbitSign = -this.orbitSign || 1;
      if (this.retreatSteps > 0 || this.stuckSteps > 12) {
        if (this.retreatSteps === 0) this.retreatSteps = 6;
        this.retreatSteps--;
        this.stuckSteps = 0;
        const r = Math.hypot(pusher[0], pusher[1]) || 1;
        return clampToCtrlRange(sim, [pusher[0] - (pusher[0] / r) * 0.03, pusher[1] - (pusher[1] / r) * 0.03]);
      }
      if (toContact < 0.012) {
        this.phase = 'push';
        this.pushSteps = 0;
        this.orbitSign = 0;
        const { direction, travel_m } = this.push;
        this.pushEnd = [pusher[0] + direction[0] * travel_m, pusher[1] + direction[1] * travel_m];
        target = [pusher[0], pusher[1]];
      } else {
        const a0 = Math.atan2(pusher[1] - com[1], pusher[0] - com[0]);
        const a1 = Math.atan2(contact[1] - com[1], contact[0] - com[0]);
        const rPusher = Math.hypot(pusher[0] - com[0], pusher[1] - com[1]);
        const da = wrapAngle(a1 - a0);
        if (!routeClear(p, pusher, contact)) {
          // Orbit the block on a circle that clears it, the short way round unless that is blocked.
          if (this.orbitSign === 0) this.orbitSign = orbitDirection(p, pusher, contact);
          const a = rPusher < CLEAR_RADIUS_m + 0.01 ? a0 + this.orbitSign * 0.2 : a0 + this.orbitSign * 0.6;
          target = [com[0] + Math.cos(a) * ORBIT_m, com[1] + Math.sin(a) * ORBIT_m];
        } else {
          const step = Math.min(0.04, toContact);
          target = [pusher[0] + ((contact[0] - pusher[0]) / toContact) * step, pusher[1] + ((contact[1] - pusher[1]) / toContact) * step];
        }
      }
    } else {
      this.pushSteps++;
      const left = Math.hypot(this.pushEnd[0] - pusher[0], this.pushEnd[1] - pusher[1]);
      const step = Math.min(0.03, left);
      target = [pusher[0] + (left > 0 ? ((this.pushEnd[0] - pusher[0]) / left) * step : 0), pusher[1] + (left > 0 ? ((this.pushEnd[1] - pusher[1]) / left) * step : 0)];
      if (left < 0.006 || this.pushSteps >= 12) this.phase = 'approach';
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
