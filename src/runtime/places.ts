/**
 * Remembered places: what the robot actually observed when it stood at a
 * task-graph waypoint, kept in the persistent world memory as an object
 * record (label 'place'), so that later — once the place is out of view, in
 * the next episode, or after a restart on the same memory file — the planner
 * gets that sub-goal's latent from memory instead of from a rendered
 * observation of a state the robot is not in (which only a simulator can
 * give). A place is keyed by task, model (latents are model-specific) and
 * waypoint coordinates; it is static, so its record is used whatever its
 * out-of-view confidence has decayed to.
 */
import type { WorldMemory } from '../memory/world-memory';

/** Memory id of the place at `positions` (joint coordinates, e.g. the two-rooms agent's x, y). */
export function placeId(task: string, model: string, positions: readonly number[]): string {
  return `place:${task}:${model}:${positions.map((p) => p.toFixed(3)).join(',')}`;
}

/** Wall-clock seconds: places outlive an episode's simulated clock. */
function now_s(): number {
  return Date.now() / 1000;
}

/**
 * Records what the robot observes at a place it has reached (latent of the
 * current frame; pose from the measured joints, padded to x, y, z), then marks it
 * out of view: the robot is about to leave it.
 */
export function rememberPlace(memory: WorldMemory, id: string, latent: Float32Array, positions: readonly number[]): void {
  const p = [positions[0] ?? 0, positions[1] ?? 0, positions[2] ?? 0] as [number, number, number];
  memory.recordObject({ id, label: 'place', latent, pose: { position_m: p, orientation_xyzw: [0, 0, 0, 1], frameId: 'world' }, confidence: 1 }, now_s());
  memory.markOutOfView([id]);
}

/** The latent the robot observed at this place, when it has been there with this model (latent of `latentSize`). */
export function recallPlace(memory: WorldMemory, id: string, latentSize: number): Float32Array | undefined {
  const record = memory.recall(id, now_s());
  return record && record.label === 'place' && record.latent.length === latentSize ? record.latent : undefined;
}
