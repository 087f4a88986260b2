/**
 * Violation-of-expectation clips: the task scenes run normally, then at one
 * moment an object breaks a physical rule: it vanishes, teleports, or passes
 * through something solid (the two-rooms agent through the wall, the cube
 * through the table, the push-t pusher through the block). Each clip is
 * written in the ordinary dataset format; the manifest labels every episode
 * with the observation index where the violation first shows and its kind.
 * Used to test the surprise monitor.
 */
import { z } from 'zod';
import type { SimEnv } from './env';
import type { MjSim } from './mujoco';
import { Rng } from './rng';
import { CollectOptionsSchema, recordEpisode, runCollection, type CollectProgress, type CollectResult, type EpisodeHooks } from './collect';
import { ViolationKind, type ViolationLabel } from './dataset/format';
import { CUBE_HALF_m } from './scenes/arm';
import { PUSHT_BAR, PUSHT_PUSHER_RADIUS_m, PUSHT_STEM } from './scenes/push-t';
import { TWO_ROOMS_AGENT_RADIUS_m, TWO_ROOMS_DOOR_HALF_m, TWO_ROOMS_DOOR_Y_m, TWO_ROOMS_HALF_m, TWO_ROOMS_WALL_HALF_THICKNESS_m } from './scenes/two-rooms';
import { getJoints, setJoints, type TaskName } from './tasks/types';

export const VoeOptionsSchema = CollectOptionsSchema.extend({
  /** Violation kinds, used in turn (episode i gets kinds[i % kinds.length]). */
  kinds: z.array(ViolationKind).min(1).default(['vanish', 'teleport', 'pass-through']),
  /** Clip length in control steps (clips do not stop at success). */
  maxSteps: z.number().int().positive().default(40),
});
export type VoeOptions = z.input<typeof VoeOptionsSchema>;

/** The body that misbehaves in each task's clips. */
export const VOE_OBJECT: Record<TaskName, string> = { reach: 'cube', 'pick-place': 'cube', 'push-t': 'tblock', 'two-rooms': 'agent' };

function bodyGeoms(sim: MjSim, body: string): number[] {
  const b = sim.id('body', body);
  const adr = (sim.model.body_geomadr as Int32Array)[b];
  const num = (sim.model.body_geomnum as Int32Array)[b];
  return Array.from({ length: num }, (_, i) => adr + i);
}

/** Turns geoms' visibility/collision off, returning an undo function. */
function editGeoms(sim: MjSim, geoms: number[], hide: boolean): () => void {
  const rgba = sim.model.geom_rgba as Float32Array;
  const ct = sim.model.geom_contype as Int32Array;
  const ca = sim.model.geom_conaffinity as Int32Array;
  const saved = geoms.map((g) => ({ g, a: rgba[4 * g + 3], ct: ct[g], ca: ca[g] }));
  for (const g of geoms) {
    if (hide) rgba[4 * g + 3] = 0;
    ct[g] = 0;
    ca[g] = 0;
  }
  return () => {
    const r = sim.model.geom_rgba as Float32Array;
    const t = sim.model.geom_contype as Int32Array;
    const a = sim.model.geom_conaffinity as Int32Array;
    for (const s of saved) {
      r[4 * s.g + 3] = s.a;
      t[s.g] = s.ct;
      a[s.g] = s.ca;
    }
  };
}

function teleport(sim: MjSim, task: TaskName, rng: Rng): void {
  if (task === 'two-rooms') {
    const p = getJoints(sim, ['agent_x', 'agent_y']);
    const side = p[0] >= 0 ? 1 : -1;
    const clear = TWO_ROOMS_AGENT_RADIUS_m + TWO_ROOMS_WALL_HALF_THICKNESS_m + 0.03;
    // Jump at least 0.25 m within the same room, so the jump cannot be mistaken for motion.
    for (let i = 0; i < 50; i++) {
      const q = [side * rng.uniform(clear, TWO_ROOMS_HALF_m - clear), rng.uniform(-TWO_ROOMS_HALF_m + clear, TWO_ROOMS_HALF_m - clear)];
      if (Math.hypot(q[0] - p[0], q[1] - p[1]) > 0.25 || i === 49) {
        setJoints(sim, ['agent_x', 'agent_y'], q);
        break;
      }
    }
  } else if (task === 'push-t') {
    const p = getJoints(sim, ['block_x', 'block_y', 'block_yaw']);
    const q = [-Math.sign(p[0] || 1) * rng.uniform(0.05, 0.15), -Math.sign(p[1] || 1) * rng.uniform(0.05, 0.15), p[2] + rng.uniform(1, 2)];
    setJoints(sim, ['block_x', 'block_y', 'block_yaw'], q);
  } else {
    const a = sim.jointQposAddress('cube');
    const qpos = sim.qpos;
    const y = qpos[a + 1];
    qpos[a] = rng.uniform(0.35, 0.6);
    qpos[a + 1] = y > 0 ? rng.uniform(-0.3, -0.15) : rng.uniform(0.15, 0.3);
    qpos[a + 2] = Math.max(qpos[a + 2], CUBE_HALF_m);
  }
  sim.qvel.fill(0);
  sim.forward();
}

/** Distance from a point (world xy) to the T block's boxes, negative inside. */
function distanceToT(sim: MjSim, x: number, y: number): number {
  const p = getJoints(sim, ['block_x', 'block_y', 'block_yaw']);
  const c = Math.cos(p[2]), s = Math.sin(p[2]);
  const lx = c * (x - p[0]) + s * (y - p[1]);
  const ly = -s * (x - p[0]) + c * (y - p[1]);
  const box = (b: { pos: readonly number[]; half: readonly number[] }) => {
    const dx = Math.abs(lx - b.pos[0]) - b.half[0];
    const dy = Math.abs(ly - b.pos[1]) - b.half[1];
    return Math.hypot(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0);
  };
  return Math.min(box(PUSHT_BAR), box(PUSHT_STEM));
}

/**
 * How deep the misbehaving object is inside the solid it passes through, as a
 * fraction of its own size (agent / pusher radius, cube half-size); <= 0
 * when it does not overlap it.
 */
function penetration(sim: MjSim, task: TaskName): number {
  if (task === 'two-rooms') {
    const p = getJoints(sim, ['agent_x', 'agent_y']);
    if (Math.abs(p[1] - TWO_ROOMS_DOOR_Y_m) <= TWO_ROOMS_DOOR_HALF_m) return 0;
    return (TWO_ROOMS_WALL_HALF_THICKNESS_m + TWO_ROOMS_AGENT_RADIUS_m - Math.abs(p[0])) / TWO_ROOMS_AGENT_RADIUS_m;
  }
  if (task === 'push-t') {
    const p = getJoints(sim, ['pusher_x', 'pusher_y']);
    return (PUSHT_PUSHER_RADIUS_m - distanceToT(sim, p[0], p[1])) / PUSHT_PUSHER_RADIUS_m;
  }
  const a = sim.jointQposAddress('cube');
  return (CUBE_HALF_m - sim.qpos[a + 2]) / CUBE_HALF_m; // fraction of the cube's half-size below the table top
}

/**
 * True when the misbehaving object visibly overlaps the solid it passes through: half its size in
 * (the push-t pusher: its centre half a radius inside the T, under the block's top face).
 */
function inSolid(sim: MjSim, task: TaskName): boolean {
  return penetration(sim, task) > (task === 'push-t' ? 1.5 : 0.5);
}

/** Overlap beyond contact tolerance (2 % of the object's size): the rule is broken, if not yet visibly. */
function overlapsSolid(sim: MjSim, task: TaskName): boolean {
  return penetration(sim, task) > 0.02;
}

/** Hooks that stage one violation of `kind` at control step `eventStep`. */
export function violationHooks(task: TaskName, kind: ViolationKind, eventStep: number, rng: Rng): EpisodeHooks {
  const object = VOE_OBJECT[task];
  let undo: (() => void) | undefined;
  let labelled = false;
  let onset: number | undefined;
  let throughTarget: [number, number] | undefined;
  return {
    beforeStep(env: SimEnv, t: number): ViolationLabel[] | void {
      // The two-rooms agent needs the whole clip to reach the wall, so its pass-through starts at once.
      const start = kind === 'pass-through' && task === 'two-rooms' ? 0 : eventStep;
      if (t !== start) return;
      const sim = env.sim;
      if (kind === 'vanish') {
        undo = editGeoms(sim, bodyGeoms(sim, object), true);
        sim.forward();
        labelled = true;
        return [{ frame: t + 1, kind, object }];
      }
      if (kind === 'teleport') {
        teleport(sim, task, rng);
        labelled = true;
        return [{ frame: t + 1, kind, object }];
      }
      // pass-through: make the solid permeable, then (where needed) drive into it.
      if (task === 'two-rooms') {
        undo = editGeoms(sim, [sim.id('geom', 'divider_low'), sim.id('geom', 'divider_high')], false);
        const p = getJoints(sim, ['agent_x', 'agent_y']);
        const y = Math.abs(p[1] - TWO_ROOMS_DOOR_Y_m) > TWO_ROOMS_DOOR_HALF_m + 0.1 ? p[1] : TWO_ROOMS_DOOR_Y_m + (p[1] >= 0 ? 0.25 : -0.25);
        throughTarget = [p[0] >= 0 ? -0.3 : 0.3, y];
      } else if (task === 'push-t') {
        undo = editGeoms(sim, bodyGeoms(sim, 'tblock'), false);
        const b = getJoints(sim, ['block_x', 'block_y']);
        const p = getJoints(sim, ['pusher_x', 'pusher_y']);
        const d = [b[0] - p[0], b[1] - p[1]];
        const n = Math.hypot(d[0], d[1]) || 1;
        throughTarget = [b[0] + (d[0] / n) * 0.12, b[1] + (d[1] / n) * 0.12];
      } else {
        undo = editGeoms(sim, bodyGeoms(sim, 'cube'), false);
      }
    },
    action(env: SimEnv, _t: number, proposed: Float64Array): Float64Array {
      if (kind !== 'pass-through' || throughTarget === undefined) return proposed;
      if (task === 'two-rooms') {
        const p = getJoints(env.sim, ['agent_x', 'agent_y']);
        // Head for the wall at the crossing height (away from the door), then cross straight.
        const dy = throughTarget[1] - p[1];
        const beforeWall = Math.sign(p[0]) === -Math.sign(throughTarget[0]) && Math.abs(p[0]) > 0.06;
        const wallX = -Math.sign(throughTarget[0]) * 0.05;
        return Float64Array.of(10 * ((beforeWall && Math.abs(dy) > 0.02 ? wallX : throughTarget[0]) - p[0]), 10 * dy);
      }
      return Float64Array.from(throughTarget);
    },
    afterStep(env: SimEnv, t: number): ViolationLabel[] | void {
      if (kind !== 'pass-through' || labelled || t < (task === 'two-rooms' ? 0 : eventStep)) return;
      if (onset === undefined && overlapsSolid(env.sim, task)) onset = t + 1;
      if (inSolid(env.sim, task)) {
        labelled = true;
        const label: ViolationLabel = { frame: t + 1, kind, object: task === 'push-t' ? 'pusher' : object };
        if (onset !== undefined && onset < t + 1) label.onset = onset;
        return [label];
      }
    },
    after(): void {
      undo?.();
      undo = undefined;
    },
  };
}

/**
 * Writes violation-of-expectation clips for `task` to `out` (same dataset
 * format; manifest kind "violations", one label per clip).
 */
export async function collectViolations(options: VoeOptions, onProgress?: (p: CollectProgress) => void): Promise<CollectResult> {
  const o = VoeOptionsSchema.parse(options);
  return runCollection(o, 'violations', onProgress, (env, i, seed, maxSteps) => {
    const rng = new Rng(seed, 7);
    const kind = o.kinds[i % o.kinds.length];
    const eventStep = Math.floor(rng.uniform(0.25, 0.45) * maxSteps);
    return recordEpisode(env, i, seed, o.split, o.policy, maxSteps, { stopOnSuccess: false, objects: o.objects, hooks: violationHooks(o.task, kind, eventStep, rng) });
  });
}
