/**
 * Camera images for the simulator: the one place where src/sim turns the
 * current MuJoCo state into pictures, through the renderer in src/sim/render
 * (a geometry snapshot, then one software render per named camera).
 */
import type { CameraImage } from '../robot/arm';
import type { MjSim } from './mujoco';
import { createRenderer, type Renderer } from './render/renderer';
import { findCamera, snapshotFromMujoco, type MujocoDataLike, type MujocoModelLike, type SceneCamera } from './render/snapshot';
import type { CameraModel } from '../perception/objects';

export { freeCamera } from './render/snapshot';
export type { SceneCamera } from './render/snapshot';

export interface ImageOptions {
  width: number;
  height: number;
  depth?: boolean;
}

/** Renders named cameras of a simulator; keeps one renderer per image size. */
export class SimCameras {
  private readonly renderers = new Map<string, Renderer>();

  private renderer(width: number, height: number): Renderer {
    const key = `${width}x${height}`;
    let r = this.renderers.get(key);
    if (r === undefined) {
      r = createRenderer({ width, height, background: [40, 44, 52] });
      this.renderers.set(key, r);
    }
    return r;
  }

  /**
   * Images at the simulator's current state (after step/forward), keyed by
   * camera name. A camera is the name of one in the model, or a free camera
   * (see `freeCamera`) for models that define none.
   */
  render(sim: MjSim, cameras: readonly (string | SceneCamera)[], options: ImageOptions): Record<string, CameraImage> {
    const snapshot = snapshotFromMujoco(sim.model as unknown as MujocoModelLike, sim.data as unknown as MujocoDataLike);
    const r = this.renderer(options.width, options.height);
    const out: Record<string, CameraImage> = {};
    for (const cam of cameras) {
      const name = typeof cam === 'string' ? cam : cam.name;
      out[name] = r.render(snapshot, cam, { depth: options.depth ?? false, copy: true });
    }
    return out;
  }
}

/**
 * The world pose and vertical field of view of the named camera at the
 * simulator's current state (after step/forward), as the calibrated camera
 * model perception back-projects with (see src/perception/objects.ts).
 */
export function cameraModelOf(sim: MjSim, name: string): CameraModel {
  const snapshot = snapshotFromMujoco(sim.model as unknown as MujocoModelLike, sim.data as unknown as MujocoDataLike);
  const cam = findCamera(snapshot, name);
  return { pos: Array.from(cam.pos), rot: Array.from(cam.rot), fovy_deg: cam.fovy_deg };
}
