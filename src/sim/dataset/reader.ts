/**
 * Streaming reader for simulated datasets: async iterators over episodes and
 * over transitions (o_t, a_t, o_{t+1}), reading one chunk at a time and
 * checking each chunk's sha256 against the manifest before use.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetCorruptError, decodeChunk, sha256, type Manifest, type ManifestEpisode, type ViolationLabel } from './format';
import { readManifest } from './writer';

export interface DatasetEpisode {
  index: number;
  seed: number;
  success: boolean;
  /** Number of actions; there are length + 1 observations. */
  length: number;
  goal: Record<string, number[]>;
  labels: ViolationLabel[];
  /** Per camera: [(length + 1), H, W, 3] uint8. */
  frames: Record<string, Uint8Array>;
  /** [(length + 1), P] float32: joint positions then velocities. */
  proprio: Float32Array;
  /** [(length + 1), K] float32: the objects' positions (manifest objectNames); absent when not recorded. */
  objects?: Float32Array;
  /** [length, A] float32: the applied actions. */
  actions: Float32Array;
  /** Per camera: the goal observation, [H, W, 3]. */
  goalFrames: Record<string, Uint8Array>;
  goalProprio: Float32Array;
}

export interface DatasetTransition {
  episode: number;
  /** Index t of the action within its episode. */
  t: number;
  frames: Record<string, Uint8Array>;
  proprio: Float32Array;
  action: Float32Array;
  nextFrames: Record<string, Uint8Array>;
  nextProprio: Float32Array;
}

export class DatasetReader {
  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
  ) {}

  static open(dir: string): DatasetReader {
    return new DatasetReader(dir, readManifest(dir));
  }

  get episodeCount(): number {
    return this.manifest.episodes.length;
  }

  /** Episodes in index order, one chunk in memory at a time. */
  async *episodes(): AsyncGenerator<DatasetEpisode> {
    const m = this.manifest;
    const S = m.imageSize;
    const frameBytes = S * S * 3;
    const P = m.proprioNames.length;
    const A = m.actionDim;
    const K = m.objectNames?.length ?? 0;
    const byIndex = new Map<number, ManifestEpisode>(m.episodes.map((e) => [e.index, e]));
    for (const [ci, chunk] of m.chunks.entries()) {
      const path = join(this.dir, chunk.file);
      const buf = new Uint8Array(await readFile(path));
      if (buf.length !== chunk.bytes) throw new DatasetCorruptError(path, `size ${buf.length} bytes, manifest says ${chunk.bytes}`);
      if (sha256(buf) !== chunk.sha256) throw new DatasetCorruptError(path, 'sha256 does not match the manifest');
      const { header, sections } = decodeChunk(path, buf);
      const need = (name: string) => {
        const s = sections.get(name);
        if (s === undefined) throw new DatasetCorruptError(path, `section '${name}' missing`);
        return s;
      };
      header.episodes.forEach((he) => {
        const me = byIndex.get(he.index);
        if (me === undefined || me.chunk !== ci) throw new DatasetCorruptError(path, `episode ${he.index} is not listed in the manifest for this chunk`);
      });
      for (const [k, he] of header.episodes.entries()) {
        const me = byIndex.get(he.index) as ManifestEpisode;
        const nObs = he.length + 1;
        const frames: Record<string, Uint8Array> = {};
        const goalFrames: Record<string, Uint8Array> = {};
        for (const cam of m.cameras) {
          frames[cam] = (need(`images/${cam}`) as Uint8Array).subarray(he.obsStart * frameBytes, (he.obsStart + nObs) * frameBytes);
          goalFrames[cam] = (need(`goal_images/${cam}`) as Uint8Array).subarray(k * frameBytes, (k + 1) * frameBytes);
        }
        yield {
          index: he.index,
          seed: me.seed,
          success: me.success,
          length: he.length,
          goal: me.goal,
          labels: me.labels,
          frames,
          proprio: (need('proprio') as Float32Array).subarray(he.obsStart * P, (he.obsStart + nObs) * P),
          ...(K > 0 ? { objects: (need('objects') as Float32Array).subarray(he.obsStart * K, (he.obsStart + nObs) * K) } : {}),
          actions: (need('actions') as Float32Array).subarray(he.actStart * A, (he.actStart + he.length) * A),
          goalFrames,
          goalProprio: (need('goal_proprio') as Float32Array).subarray(k * P, (k + 1) * P),
        };
      }
    }
  }

  /** Transitions (o_t, a_t, o_{t+1}) of every episode, in order. */
  async *transitions(): AsyncGenerator<DatasetTransition> {
    const S = this.manifest.imageSize;
    const fb = S * S * 3;
    const P = this.manifest.proprioNames.length;
    const A = this.manifest.actionDim;
    for await (const ep of this.episodes()) {
      for (let t = 0; t < ep.length; t++) {
        const frames: Record<string, Uint8Array> = {};
        const nextFrames: Record<string, Uint8Array> = {};
        for (const [cam, f] of Object.entries(ep.frames)) {
          frames[cam] = f.subarray(t * fb, (t + 1) * fb);
          nextFrames[cam] = f.subarray((t + 1) * fb, (t + 2) * fb);
        }
        yield {
          episode: ep.index,
          t,
          frames,
          proprio: ep.proprio.subarray(t * P, (t + 1) * P),
          action: ep.actions.subarray(t * A, (t + 1) * A),
          nextFrames,
          nextProprio: ep.proprio.subarray((t + 1) * P, (t + 2) * P),
        };
      }
    }
  }
}
