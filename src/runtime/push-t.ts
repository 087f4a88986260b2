/**
 * Push-T on the embedded pusher as a robot without a learned model of the
 * block does it: perception finds the T block in the top camera's RGB-D frame
 * (its top face's outline: src/perception/objects.ts), in the current frame
 * and in the goal frame, so the goal pose is read from the goal image, never
 * from the simulator; the world memory keeps the block's last-seen pose; and
 * a task graph of pusher waypoints placed relative to the block drives the
 * pusher's world model, one push per pass through the graph:
 *
 *   back-off   out to a circle that clears the block, unless the next push's
 *              contact point is already on the pusher's side of it;
 *   orbit-1..3 around that circle, up to 60 degrees per sub-goal, until the
 *              contact point lies straight ahead;
 *   contact    onto the contact point;
 *   push       through the block for the push's travel;
 *   settle     hold still: done when the block is at its goal pose, else
 *              rewind to back-off for the next push.
 *
 * Which push comes next (rotate by a bar end, or translate through the centre
 * of mass; reachable, not into a wall) is `choosePush` of the task module,
 * chosen from the perceived block pose when a pass begins and re-chosen while
 * orbiting. Sub-goals that are not needed succeed at once (a pusher already
 * on the contact side skips the orbit), and one the pusher cannot reach
 * (pinned between block and wall) is skipped after its timeout.
 *
 * This module owns that wiring (object spec, sub-goals, resolvers, checks, the
 * perception stage); embedded.ts plugs it into the loop.
 */
import type { ObjectSighting } from '../memory/records';
import type { WorldMemory } from '../memory/world-memory';
import { locateObjects, type CameraModel, type ColourObjectSpec } from '../perception/objects';
import type { PlanGoal, PlanState, TaskGraphInput, TargetResolvers } from '../planning/index';
import { leadingProprioGoal, type SubgoalLatent } from '../planning/types';
import type { CameraImage, Observation } from '../robot/arm';
import { quatXyzwToYaw, yawToQuatXyzw } from '../robot/math';
import { PUSHT_BAR, PUSHT_PUSHER_REACH_m, PUSHT_STEM } from '../sim/scenes/push-t';
import { wrapAngle } from '../sim/scenes/xml';
import { blockCom, choosePush, CLEAR_RADIUS_m, ORBIT_m, orbitDirection, PUSHT_TOLERANCE, routeClear, type BlockPose, type Push } from '../sim/tasks/push-t';

/** The task cannot go on (the block never seen, or lost from view too long): the loop ends the episode with it. */
export class PushTError extends Error {
  override name = 'PushTError';
  readonly endsEpisode = true;
}

/** The scene's T block as perception sees it: its top face's outline (bar and stem), 4 cm tall. */
export const PUSH_T_OBJECTS: readonly ColourObjectSpec[] = [
  {
    id: 'tblock',
    rgb: [0.45, 0.55, 0.75],
    shape: 'outline',
    half_m: 0.02,
    // The lit top face renders paler than its nominal colour (about 0.07 off in chromaticity); the white floor is 0.12 off.
    chromaTolerance: 0.09,
    parts: [
      { center: [PUSHT_BAR.pos[0], PUSHT_BAR.pos[1]], half: [PUSHT_BAR.half[0], PUSHT_BAR.half[1]] },
      { center: [PUSHT_STEM.pos[0], PUSHT_STEM.pos[1]], half: [PUSHT_STEM.half[0], PUSHT_STEM.half[1]] },
    ],
  },
];

/** Largest bearing change (rad, around the block's centre of mass) one orbit sub-goal walks. */
const ORBIT_STEP_rad = Math.PI / 3;
/**
 * Pusher this close (m) to a waypoint has reached it; to the contact point, is on it; to the push's
 * end, has pushed. The planner steers the pusher position a pixel model decodes, 4-7 mm off on
 * average beside the block: at 6 mm for the push's end a fifth of the pushes waited out their
 * timeout (validation seeds 90,000-90,079: 51/80 at 6 mm, 59/80 at 12 mm).
 */
const AT_WAYPOINT_m = 0.025;
const AT_CONTACT_m = 0.012;
const PUSHED_m = 0.012;
/** Shortest push (m): a push whose travel rounds to nothing would pass at once and start the next pass in the same tick. */
const MIN_TRAVEL_m = 0.015;
/** Waypoints stay this far (m) inside the pusher's reach. */
const REACH_MARGIN_m = 0.005;
/**
 * The planner's "done" is stricter than the task's success (position and angle tolerances scaled by
 * this): perception is a few millimetres and degrees off, and a graph that finished early would stop pushing.
 */
const DONE_FRACTION = 0.7;
/** Below this decayed confidence the remembered block pose is not planned from. */
const MIN_CONFIDENCE = 0.2;
/** Segmented pixels at which a sighting counts as certain. */
const FULL_CONFIDENCE_PIXELS = 100;

const waypoint = (id: string, check: string, steps: number) => ({
  id,
  target: { kind: 'object' as const, object: 'tblock' },
  success: { kind: 'check' as const, name: check },
  timeout: { steps },
  onFailure: 'skip' as const,
});

/** One push per pass; `settle` rewinds to `back-off` until the block is in place (at most 100 pushes). */
export const PUSH_T_GRAPH: TaskGraphInput = {
  name: 'push-t by pushes from the perceived block pose',
  subgoals: [
    waypoint('back-off', 'cleared', 15),
    waypoint('orbit-1', 'on-route', 15),
    waypoint('orbit-2', 'on-route', 15),
    waypoint('orbit-3', 'on-route', 15),
    waypoint('contact', 'at-contact', 25),
    waypoint('push', 'pushed', 14),
    { ...waypoint('settle', 'block-at-goal', 1), requires: { check: 'block-at-goal', otherwise: 'back-off' } },
  ],
  maxRewinds: 100,
};


/** The block's pose in the top camera's RGB-D frame, or undefined when it is not seen. */
export function perceiveBlock(image: CameraImage, camera: CameraModel): (BlockPose & { pixels: number }) | undefined {
  const d = locateObjects(image, camera, PUSH_T_OBJECTS)[0];
  return d ? { x: d.position[0], y: d.position[1], yaw: d.yaw_rad!, pixels: d.pixels } : undefined;
}

export interface PushTOptions {
  /** The latent part of a pusher waypoint's goal (its proprio target, the waypoint, is added here). */
  subgoalLatent: SubgoalLatent;
  /** Outputs of the model's proprio head: the pusher's x and y come first, anything after them is not scored. */
  proprioDim: number;
  memory: WorldMemory;
  /** The fixed camera perception reads (RGB-D), with its calibrated pose. */
  camera: { name: string; model: CameraModel };
  /** The goal frame (same camera): where the block is to go is read from it. */
  goalImage: CameraImage;
  /** Prefix of this episode's object ids in memory (a simulated episode is a fresh scene). */
  scope: string;
}

export interface PushTWiring {
  perceive(obs: Observation, latent: Float32Array): ObjectSighting[];
  graph: TaskGraphInput;
  resolvers: TargetResolvers;
  /** The goal pose perceived in the goal frame. */
  goal: BlockPose;
  /** Sightings recorded so far, and sub-goal targets resolved from a block no longer in view. */
  stats: { sightings: number; resolvedOutOfView: number; pushes: number };
}

export function pushTWiring(o: PushTOptions): PushTWiring {
  const key = `${o.scope}/tblock`;
  const seenGoal = perceiveBlock(o.goalImage, o.camera.model);
  if (!seenGoal) throw new PushTError(`push-t: the T block is not visible in the goal frame of the '${o.camera.name}' camera, so the goal pose is unknown`);
  const goal: BlockPose = { x: seenGoal.x, y: seenGoal.y, yaw: seenGoal.yaw };
  const goalVec = [goal.x, goal.y, goal.yaw];
  const stats = { sightings: 0, resolvedOutOfView: 0, pushes: 0 };
  let now_s = 0;
  let push: Push = { contact: [0, 0], direction: [1, 0], travel_m: 0 };
  let orbitSign = 0;
  /** The active sub-goal's pusher waypoint. */
  let target: [number, number] = [0, 0];
  /** When the active push began (s of the observation clock): a push lasts at least one tick. */
  let pushStart_s = -Infinity;

  const perceive = (obs: Observation, latent: Float32Array): ObjectSighting[] => {
    const img = obs.images[o.camera.name];
    if (!img?.depth) throw new PushTError(`push-t perception reads the '${o.camera.name}' camera's RGB-D frame; the observation has ${img ? 'no depth image' : 'no such image'}`);
    now_s = obs.time;
    const b = perceiveBlock(img, o.camera.model);
    if (!b) return [];
    stats.sightings++;
    return [{ id: key, label: 'tblock', latent, pose: { position_m: [b.x, b.y, PUSH_T_OBJECTS[0]!.half_m], orientation_xyzw: yawToQuatXyzw(b.yaw), frameId: 'world' }, confidence: Math.min(1, b.pixels / FULL_CONFIDENCE_PIXELS) }];
  };

  const block = (): BlockPose & { inView: boolean } => {
    const r = o.memory.recall(key, now_s);
    if (!r) throw new PushTError(`push-t: the T block has not been seen by the '${o.camera.name}' camera, so no push can be placed relative to it`);
    if (r.confidence < MIN_CONFIDENCE) {
      throw new PushTError(`push-t: the T block was last seen ${(now_s - r.lastSeen_s).toFixed(1)} s ago; its remembered pose is too uncertain to push from (confidence ${r.confidence.toFixed(2)})`);
    }
    return { x: r.pose.position_m[0]!, y: r.pose.position_m[1]!, yaw: quatXyzwToYaw(r.pose.orientation_xyzw), inView: r.inView };
  };
  const pusherOf = (state: PlanState): [number, number] => {
    const q = state.proprio;
    if (!q || q.length < 2) throw new PushTError('push-t checks read the measured pusher position (2 proprio values)');
    return [q[0]!, q[1]!];
  };
  const clampReach = (p: readonly number[]): [number, number] => {
    const r = PUSHT_PUSHER_REACH_m - REACH_MARGIN_m;
    return [Math.max(-r, Math.min(r, p[0]!)), Math.max(-r, Math.min(r, p[1]!))];
  };
  const dist = (a: readonly number[], b: readonly number[]) => Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!);

  /** Next waypoint around the clearing circle towards the push's contact point (up to ORBIT_STEP_rad). */
  const orbitWaypoint = (b: BlockPose, pusher: [number, number]): [number, number] => {
    const com = blockCom(b);
    const a0 = Math.atan2(pusher[1] - com[1], pusher[0] - com[0]);
    const da = wrapAngle(Math.atan2(push.contact[1] - com[1], push.contact[0] - com[0]) - a0);
    if (orbitSign === 0) orbitSign = orbitDirection(b, pusher, push.contact);
    const left = orbitSign * da >= 0 ? Math.abs(da) : 2 * Math.PI - Math.abs(da);
    const a = a0 + orbitSign * Math.min(left, ORBIT_STEP_rad);
    return clampReach([com[0] + Math.cos(a) * ORBIT_m, com[1] + Math.sin(a) * ORBIT_m]);
  };

  const resolvers: TargetResolvers = {
    object: async (_t, state, subgoalId): Promise<PlanGoal> => {
      const b = block();
      if (!b.inView) stats.resolvedOutOfView++;
      const pusher = pusherOf(state);
      switch (subgoalId) {
        case 'back-off': {
          push = choosePush(b, goalVec);
          orbitSign = 0;
          stats.pushes++;
          const com = blockCom(b);
          const r = dist(pusher, com) || 1;
          target = routeClear(b, pusher, push.contact) ? pusher : clampReach([com[0] + ((pusher[0] - com[0]) / r) * ORBIT_m, com[1] + ((pusher[1] - com[1]) / r) * ORBIT_m]);
          break;
        }
        case 'orbit-1':
        case 'orbit-2':
        case 'orbit-3':
          push = choosePush(b, goalVec);
          target = routeClear(b, pusher, push.contact) ? pusher : orbitWaypoint(b, pusher);
          break;
        case 'contact':
          target = clampReach(push.contact);
          break;
        case 'push': {
          const travel = Math.max(push.travel_m, MIN_TRAVEL_m);
          target = clampReach([pusher[0] + push.direction[0] * travel, pusher[1] + push.direction[1] * travel]);
          pushStart_s = now_s;
          break;
        }
        default:
          target = pusher;
      }
      const positions = Float32Array.from(target);
      return { ...(await o.subgoalLatent(positions, state)), proprio: leadingProprioGoal(positions, [1, 1], o.proprioDim) };
    },
    checks: {
      cleared: (s) => {
        const pusher = pusherOf(s);
        const b = block();
        return routeClear(b, pusher, push.contact) || dist(pusher, blockCom(b)) >= CLEAR_RADIUS_m + 0.01 || dist(pusher, target) <= AT_WAYPOINT_m;
      },
      'on-route': (s) => {
        const pusher = pusherOf(s);
        return routeClear(block(), pusher, push.contact) || dist(pusher, target) <= AT_WAYPOINT_m;
      },
      'at-contact': (s) => dist(pusherOf(s), target) <= AT_CONTACT_m,
      pushed: (s) => now_s > pushStart_s && dist(pusherOf(s), target) <= PUSHED_m,
      'block-at-goal': () => {
        const b = block();
        return Math.hypot(b.x - goal.x, b.y - goal.y) < DONE_FRACTION * PUSHT_TOLERANCE.position_m && Math.abs(wrapAngle(b.yaw - goal.yaw)) < DONE_FRACTION * PUSHT_TOLERANCE.angle_rad;
      },
    },
  };
  return { perceive, graph: PUSH_T_GRAPH, resolvers, goal, stats };
}
