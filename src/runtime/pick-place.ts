/**
 * Pick-place on the embedded arm as a robot without a learned object model
 * does it: perception finds the cube and the bin in the front camera's RGB-D
 * frame (colour segmentation, back-projection through the calibrated camera:
 * src/perception/objects.ts); the world memory keeps each object's last-seen
 * pose, so a cube hidden under the hand, or carried out of view, is still
 * where it was last seen; and a task graph of object-relative sub-goals
 * (hover above the cube, descend, close on it, lift, carry over the bin,
 * release) is resolved from memory when each sub-goal becomes active: the TCP
 * target goes through IK to a joint goal for the arm's world model, and each
 * sub-goal's check reads the measured joints through forward kinematics.
 * Lifting and carrying require the fingers to stay on the cube: when they
 * close on nothing (the cube slipped out), the graph rewinds to hovering above
 * the cube, wherever perception now sees it, and grasps again.
 *
 * This module owns that wiring (object specs, sub-goals, resolvers, checks,
 * the perception stage); embedded.ts plugs it into the loop.
 */
import type { ObjectSighting } from '../memory/records';
import type { WorldMemory } from '../memory/world-memory';
import { locateObjects, type CameraModel, type ColourObjectSpec } from '../perception/objects';
import type { PlanGoal, Planner, PlanState, TaskGraphInput, TargetResolvers } from '../planning/index';
import { leadingProprioGoal, type SubgoalLatent } from '../planning/types';
import type { Observation } from '../robot/arm';
import { quatXyzwToYaw, yawToQuatXyzw } from '../robot/math';
import { BIN_HALF_m, CUBE_HALF_m, GRIPPER_OPEN_m } from '../sim/scenes/arm';
import { pandaIk, pandaTcp } from '../sim/scenes/panda-kinematics';
import { downwardPose } from '../sim/tasks/arm-common';
import { graspYaw } from '../sim/tasks/pick-place';

/** The task cannot go on (an object never seen or long forgotten, a target out of reach): the loop ends the episode with it. */
export class PickPlaceError extends Error {
  override name = 'PickPlaceError';
  readonly endsEpisode = true;
}

/** What perception looks for: the scene's red cube and blue bin (nominal colours and sizes). */
export const PICK_PLACE_OBJECTS: readonly ColourObjectSpec[] = [
  { id: 'cube', rgb: [0.85, 0.15, 0.15], shape: 'box', half_m: CUBE_HALF_m },
  { id: 'bin', rgb: [0.2, 0.45, 0.85], shape: 'open-box', half_m: BIN_HALF_m },
];

/** TCP heights above the cube's centre (m): hovering, and the grasp (finger pads centred, tips clear of the table). */
const HOVER_ABOVE_m = 0.12;
const GRASP_ABOVE_m = -0.008;
/** TCP height above the bin's base while carrying and releasing. */
const CARRY_ABOVE_m = 0.22;
/** Gripper opening (m) a closed hand commands; the cube stops the fingers at its half width. */
const CLOSE_m = 0;
/**
 * Weight of the gripper entry against a joint's (both squared): 0.1 m of gripper costs as much as 1 rad
 * of a joint. At 2500 (0.02 m per rad) a model's 1-mm wobble in the predicted opening weighed as
 * much as several centimetres of the hand's position, and the descent wandered beside the cube
 * (validation 0/10 for the pixel model, 8/10 for the state model; at 100: 7/10 and 10/10). The
 * fingers need no large weight: the close squeezes by construction (holdArmWhileGripping).
 */
const GRIPPER_WEIGHT = 100;
/** Below this decayed confidence a remembered object is not planned towards. */
const MIN_CONFIDENCE = 0.2;
/** Segmented pixels at which a sighting counts as certain. */
const FULL_CONFIDENCE_PIXELS = 20;
/** Measured fingers this close to the cube's half width (m) hold it. */
const HOLD_BAND_m = { below: 0.006, above: 0.002 };
/** Fingers that moved less than this (m) since the last tick have stopped. */
const FINGERS_STILL_m = 0.001;

const subgoal = (id: string, object: string, offset_m: [number, number, number], gripper_m: number, check: string, steps: number) => ({
  id,
  target: { kind: 'object' as const, object, offset_m, gripper_m },
  success: { kind: 'check' as const, name: check },
  timeout: { steps },
  retries: 1,
});
/** While closing and carrying: the fingers must not close past the cube, else go back above it and grasp again. */
const KEEP_GRIP = { requires: { check: 'gripping', otherwise: 'above-cube' } };

/** The stages of pick-place as object-relative sub-goals. */
export const PICK_PLACE_GRAPH: TaskGraphInput = {
  name: 'pick-place from remembered object poses',
  subgoals: [
    subgoal('above-cube', 'cube', [0, 0, HOVER_ABOVE_m], GRIPPER_OPEN_m, 'hovering', 80),
    subgoal('descend', 'cube', [0, 0, GRASP_ABOVE_m], GRIPPER_OPEN_m, 'at-grasp', 40),
    { ...subgoal('close', 'cube', [0, 0, GRASP_ABOVE_m], CLOSE_m, 'holding', 20), ...KEEP_GRIP },
    { ...subgoal('lift', 'cube', [0, 0, CARRY_ABOVE_m - CUBE_HALF_m], CLOSE_m, 'lifted', 60), ...KEEP_GRIP },
    { ...subgoal('over-bin', 'bin', [0, 0, CARRY_ABOVE_m], CLOSE_m, 'over-bin', 80), ...KEEP_GRIP },
    subgoal('release', 'bin', [0, 0, CARRY_ABOVE_m], GRIPPER_OPEN_m, 'released', 20),
  ],
  maxRewinds: 2,
};


export interface PickPlaceOptions {
  /** The latent part of a sub-goal's goal (its proprio target, the IK joints and the gripper opening, is added here). */
  subgoalLatent: SubgoalLatent;
  /** Outputs of the model's proprio head: the joints and gripper come first (8), anything after them is not scored. */
  proprioDim: number;
  memory: WorldMemory;
  /** The fixed camera perception reads (RGB-D), with its calibrated pose. */
  camera: { name: string; model: CameraModel };
  /** Prefix of this episode's object ids in memory (a simulated episode is a fresh scene). */
  scope: string;
}

export interface PickPlaceWiring {
  perceive(obs: Observation, latent: Float32Array): ObjectSighting[];
  graph: TaskGraphInput;
  resolvers: TargetResolvers;
  /** Sightings recorded so far, and sub-goal targets resolved from an object no longer in view. */
  stats: { sightings: number; resolvedOutOfView: number };
}

export function pickPlaceWiring(o: PickPlaceOptions): PickPlaceWiring {
  const key = (object: string) => `${o.scope}/${object}`;
  let now_s = 0;
  let yaw: number | undefined;
  /** The active sub-goal's TCP target and gripper opening. */
  let active = { tcp: [0, 0, 0], gripper: GRIPPER_OPEN_m };
  let holdTicks = 0;
  let lastGripper = Infinity;
  const stats = { sightings: 0, resolvedOutOfView: 0 };

  const perceive = (obs: Observation, latent: Float32Array): ObjectSighting[] => {
    const img = obs.images[o.camera.name];
    if (!img?.depth) throw new PickPlaceError(`pick-place perception reads the '${o.camera.name}' camera's RGB-D frame; the observation has ${img ? 'no depth image' : 'no such image'}`);
    now_s = obs.time;
    const seen = locateObjects(img, o.camera.model, PICK_PLACE_OBJECTS).map((d) => ({
      id: key(d.id),
      label: d.id,
      latent,
      pose: { position_m: d.position, orientation_xyzw: yawToQuatXyzw(d.yaw_rad ?? 0), frameId: 'world' },
      confidence: Math.min(1, d.pixels / FULL_CONFIDENCE_PIXELS),
    }));
    stats.sightings += seen.length;
    return seen;
  };

  const measured = (state: PlanState) => {
    const q = state.proprio;
    if (!q || q.length < 8) throw new PickPlaceError('pick-place checks read the measured joints and gripper (8 proprio values)');
    return { tcp: pandaTcp(q.subarray(0, 7)).p, gripper: q[7]! };
  };
  const near = (tcp: ArrayLike<number>, xy_m: number, z_m: number) =>
    Math.hypot(tcp[0]! - active.tcp[0]!, tcp[1]! - active.tcp[1]!) <= xy_m && Math.abs(tcp[2]! - active.tcp[2]!) <= z_m;
  const holding = (gripper: number) => gripper >= CUBE_HALF_m - HOLD_BAND_m.below && gripper <= CUBE_HALF_m + HOLD_BAND_m.above;

  const resolvers: TargetResolvers = {
    object: async (t, state, subgoalId): Promise<PlanGoal> => {
      const record = o.memory.recall(key(t.object), now_s);
      if (!record) throw new PickPlaceError(`pick-place: the ${t.object} has not been seen by the '${o.camera.name}' camera, so no sub-goal can be placed relative to it`);
      if (record.confidence < MIN_CONFIDENCE) {
        throw new PickPlaceError(`pick-place: the ${t.object} was last seen ${(now_s - record.lastSeen_s).toFixed(1)} s ago; its remembered pose is too uncertain to plan towards (confidence ${record.confidence.toFixed(2)})`);
      }
      if (!record.inView) stats.resolvedOutOfView++;
      // The hand takes its yaw above the cube (fingers across two faces) and keeps it until it hovers above the cube again.
      if (t.object === 'cube' && (yaw === undefined || subgoalId === 'above-cube')) yaw = graspYaw(quatXyzwToYaw(record.pose.orientation_xyzw));
      const p = record.pose.position_m.map((v, i) => v + t.offset_m[i]!);
      const q = state.proprio!;
      const ik = pandaIk(downwardPose(p, yaw ?? graspYaw(0)), q.subarray(0, 7), { iterations: 200 });
      if (ik.position_m > 0.01) throw new PickPlaceError(`pick-place: no arm configuration puts the TCP at ${p.map((v) => v.toFixed(3)).join(', ')} (IK residual ${(ik.position_m * 100).toFixed(1)} cm)`);
      const gripper = t.gripper_m ?? q[7]!;
      active = { tcp: p, gripper };
      holdTicks = 0;
      lastGripper = Infinity;
      const target = Float32Array.from([...ik.q, gripper]);
      return { ...(await o.subgoalLatent(target, state)), proprio: leadingProprioGoal(target, [1, 1, 1, 1, 1, 1, 1, GRIPPER_WEIGHT], o.proprioDim) };
    },
    checks: {
      hovering: (s) => {
        const m = measured(s);
        return near(m.tcp, 0.012, 0.02) && m.gripper > GRIPPER_OPEN_m - 0.006;
      },
      'at-grasp': (s) => {
        const m = measured(s);
        return near(m.tcp, 0.005, 0.008) && m.gripper > GRIPPER_OPEN_m - 0.006;
      },
      // Two ticks in the band, the fingers still: they have stopped on the cube rather than passing through the band.
      holding: (s) => {
        const g = measured(s).gripper;
        const still = Math.abs(g - lastGripper) <= FINGERS_STILL_m;
        lastGripper = g;
        return (holding(g) && still ? ++holdTicks : (holdTicks = 0)) >= 2;
      },
      // The fingers have not closed past where the cube's faces should stop them.
      gripping: (s) => measured(s).gripper >= CUBE_HALF_m - HOLD_BAND_m.below,
      lifted: (s) => {
        const m = measured(s);
        return holding(m.gripper) && m.tcp[2]! >= active.tcp[2]! - 0.03;
      },
      'over-bin': (s) => {
        const m = measured(s);
        return holding(m.gripper) && near(m.tcp, 0.02, 0.04);
      },
      released: (s) => measured(s).gripper > GRIPPER_OPEN_m - 0.01,
    },
  };
  return { perceive, graph: PICK_PLACE_GRAPH, resolvers, stats };
}

/** Sub-goals during which only the gripper moves: the arm holds still while the fingers close on the cube, squeezing. */
const GRIPPER_ONLY_SUBGOALS: readonly string[] = ['close'];
/** Sub-goals that carry the cube: the arm's steps are low-pass filtered so sampling noise does not shake it loose. */
const CARRYING_SUBGOALS: readonly string[] = ['lift', 'over-bin'];
const CARRY_SMOOTHING = 0.6;

/**
 * The task-graph planner with the arm held during gripper-only sub-goals (its actions for the 7
 * arm joints zeroed: a zero step holds the measured pose; the gripper action kept), and the arm's
 * steps smoothed while carrying (each executed arm step = CARRY_SMOOTHING × the previous one +
 * the rest × the planned one). Sampling noise in the first action moves the TCP by millimetres
 * per tick: enough to close the fingers on the cube's edge, or to shake a held cube loose.
 * While closing and carrying, the gripper's action is the full closing step (`squeeze_m`, the
 * gripper command being the measured opening plus the action): the hand squeezes every tick rather
 * than taking a sampled gripper action, which can stop short of the cube or, on a cold-started
 * sub-goal, open the fingers around it.
 */
export function holdArmWhileGripping<P extends Planner>(planner: P, o: { armJoints?: number; squeeze_m: number }): P {
  const inner = planner;
  const armJoints = o.armJoints ?? 7;
  let previous: Float32Array | undefined;
  const own = {
    plan: async (...args: Parameters<Planner['plan']>) => {
      const r = await inner.plan(...args);
      const id = r.subgoal?.kind === 'taskGraph' && !r.subgoal.complete ? r.subgoal.id : undefined;
      const actions = r.actions.slice();
      if (id !== undefined && GRIPPER_ONLY_SUBGOALS.includes(id)) {
        for (let j = 0; j < armJoints; j++) actions[j] = 0;
      } else if (id !== undefined && CARRYING_SUBGOALS.includes(id) && previous) {
        for (let j = 0; j < armJoints; j++) actions[j] = CARRY_SMOOTHING * previous[j]! + (1 - CARRY_SMOOTHING) * actions[j]!;
      }
      if (id !== undefined && (GRIPPER_ONLY_SUBGOALS.includes(id) || CARRYING_SUBGOALS.includes(id))) actions[armJoints] = -o.squeeze_m;
      previous = actions.slice(0, armJoints);
      return { ...r, actions };
    },
    reset: () => {
      previous = undefined;
      inner.reset?.();
    },
  };
  // Everything else (progress, history, notifySurprise, ...) is the wrapped planner's own, called on it.
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'plan' || prop === 'reset') return own[prop];
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
