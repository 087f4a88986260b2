/**
 * Camera images for the simulator: the one place where src/sim turns the
 * current MuJoCo state into pictures, through the renderer in src/sim/render
 * (a geometry snapshot, then one software render per named camera).
 */
import type { CameraImage } from '../robot/arm';
import type { MjSim } from './mujoco';
import { createRenderer, type Renderer } from './render/renderer';
import { snapshotFromMujoco, type MujocoDataLike, type MujocoModelLike } from './render/snapshot';

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

  /** Images of `cameras` at the simulator's current state (after step/forward). */
  render(sim: MjSim, cameras: readonly string[], options: ImageOptions): Record<string, CameraImage> {
    const snapshot = snapshotFromMujoco(sim.model as unknown as MujocoModelLike, sim.data as unknown as MujocoDataLike);
    const r = this.renderer(options.width, options.height);
    const out: Record<string, CameraImage> = {};
    for (const name of cameras) out[name] = r.render(snapshot, name, { depth: options.depth ?? false, copy: true });
    return out;
  }
}
