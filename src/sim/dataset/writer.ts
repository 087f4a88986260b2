/**
 * Crash-safe, resumable dataset writer. Episodes are buffered and written a
 * chunk at a time (temp file, fsync, rename), then the manifest is replaced
 * atomically. Opening an existing dataset resumes it: leftovers of an
 * interrupted write (temp files, chunks the manifest does not list) are
 * removed and every listed chunk is checked against its sha256.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  chunkFileName,
  DatasetCorruptError,
  encodeChunk,
  ManifestError,
  manifestPath,
  ManifestSchema,
  sha256,
  writeFileAtomic,
  type Manifest,
  type ManifestEpisode,
  type SectionData,
  type ViolationLabel,
} from './format';

/** One recorded episode: length + 1 observations and length actions. */
export interface RecordedEpisode {
  index: number;
  seed: number;
  success: boolean;
  goal: Record<string, number[]>;
  labels?: ViolationLabel[];
  /** Per camera, one H*W*3 frame per observation. */
  frames: Record<string, Uint8Array[]>;
  proprio: Float32Array[];
  /** One object-state vector per observation; required exactly when the manifest has objectNames. */
  objects?: Float32Array[];
  actions: Float32Array[];
  goalFrames: Record<string, Uint8Array>;
  goalProprio: Float32Array;
}

/** Settings that identify a dataset; a resume must match them. */
export type DatasetIdentity = Omit<Manifest, 'chunks' | 'episodes' | 'complete'>;

const IDENTITY_KEYS = ['kind', 'task', 'policy', 'split', 'seed', 'episodesPerChunk', 'imageSize', 'renderSize', 'cameras', 'frameskip', 'maxSteps', 'actionDim', 'objectNames'] as const;

/** An existing dataset was collected with other settings than this run. */
export class DatasetMismatchError extends Error {
  override name = 'DatasetMismatchError';
  constructor(dir: string, field: string, existing: unknown, requested: unknown) {
    super(
      `Dataset in '${dir}' was collected with ${field}=${JSON.stringify(existing)}, this run asks for ${JSON.stringify(requested)}. ` +
        'Use the same settings to resume, or write to another directory.',
    );
  }
}

export function readManifest(dir: string): Manifest {
  const path = manifestPath(dir);
  if (!existsSync(path)) throw new ManifestError(path, 'file not found; is this a dataset directory written by `jepa collect`?');
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new ManifestError(path, `not JSON (${(e as Error).message})`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ManifestError(path, `field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

export class DatasetWriter {
  private buffer: RecordedEpisode[] = [];

  private constructor(
    readonly dir: string,
    private manifest: Manifest,
  ) {}

  /** Creates a dataset in `dir`, or resumes the one already there (same identity required). */
  static open(dir: string, identity: DatasetIdentity): DatasetWriter {
    mkdirSync(dir, { recursive: true });
    let manifest: Manifest;
    if (existsSync(manifestPath(dir))) {
      manifest = readManifest(dir);
      for (const k of IDENTITY_KEYS) {
        if (JSON.stringify(manifest[k]) !== JSON.stringify(identity[k])) throw new DatasetMismatchError(dir, k, manifest[k], identity[k]);
      }
      manifest.episodesRequested = identity.episodesRequested;
      manifest.complete = manifest.episodes.length >= manifest.episodesRequested;
    } else {
      manifest = { ...identity, chunks: [], episodes: [], complete: false };
    }
    // Remove what an interrupted run left behind, and check what the manifest lists.
    const listed = new Set(manifest.chunks.map((c) => c.file));
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.tmp') || (/^chunk-\d{6}\.bin$/.test(f) && !listed.has(f))) unlinkSync(join(dir, f));
    }
    for (const c of manifest.chunks) {
      const p = join(dir, c.file);
      if (!existsSync(p)) throw new DatasetCorruptError(p, 'listed in the manifest but missing');
      if (statSync(p).size !== c.bytes) throw new DatasetCorruptError(p, `size ${statSync(p).size} bytes, manifest says ${c.bytes}`);
      if (sha256(readFileSync(p)) !== c.sha256) throw new DatasetCorruptError(p, 'sha256 does not match the manifest');
    }
    const w = new DatasetWriter(dir, manifest);
    w.writeManifest();
    return w;
  }

  /** Episodes already stored (the next episode index to record). */
  get episodesStored(): number {
    return this.manifest.episodes.length + this.buffer.length;
  }
  get episodesRequested(): number {
    return this.manifest.episodesRequested;
  }
  get chunksWritten(): number {
    return this.manifest.chunks.length;
  }

  add(ep: RecordedEpisode): void {
    if (ep.index !== this.episodesStored) throw new RangeError(`DatasetWriter: episode ${ep.index} added out of order; expected ${this.episodesStored}`);
    const K = this.manifest.objectNames?.length ?? 0;
    if (K === 0 && ep.objects) throw new RangeError(`DatasetWriter: episode ${ep.index} carries object states, the dataset records none`);
    if (K > 0 && (ep.objects?.length !== ep.proprio.length || ep.objects.some((v) => v.length !== K))) {
      throw new RangeError(`DatasetWriter: episode ${ep.index} needs one object-state vector of ${K} values per observation (${ep.proprio.length})`);
    }
    this.buffer.push(ep);
    if (this.buffer.length >= this.manifest.episodesPerChunk) this.flush();
  }

  /** Writes buffered episodes as one chunk and records it in the manifest. */
  flush(): void {
    if (this.buffer.length === 0) return;
    const m = this.manifest;
    const eps = this.buffer;
    const S = m.imageSize;
    const P = m.proprioNames.length;
    const A = m.actionDim;
    const nObs = eps.reduce((s, e) => s + e.proprio.length, 0);
    const nAct = eps.reduce((s, e) => s + e.actions.length, 0);
    const sections: SectionData[] = [];
    for (const cam of m.cameras) {
      const data = new Uint8Array(nObs * S * S * 3);
      let o = 0;
      for (const e of eps) for (const f of e.frames[cam]) (data.set(f, o), (o += f.length));
      sections.push({ name: `images/${cam}`, dtype: 'uint8', shape: [nObs, S, S, 3], data });
    }
    const proprio = new Float32Array(nObs * P);
    const actions = new Float32Array(nAct * A);
    let po = 0;
    let ao = 0;
    const chunkEpisodes = eps.map((e) => {
      const rec = { index: e.index, length: e.actions.length, obsStart: po / P, actStart: ao / A };
      for (const p of e.proprio) (proprio.set(p, po), (po += P));
      for (const a of e.actions) (actions.set(a, ao), (ao += A));
      return rec;
    });
    sections.push({ name: 'proprio', dtype: 'float32', shape: [nObs, P], data: proprio });
    sections.push({ name: 'actions', dtype: 'float32', shape: [nAct, A], data: actions });
    const K = m.objectNames?.length ?? 0;
    if (K > 0) {
      const objects = new Float32Array(nObs * K);
      let oo = 0;
      for (const e of eps) {
        for (const v of e.objects!) {
          objects.set(v, oo);
          oo += K;
        }
      }
      sections.push({ name: 'objects', dtype: 'float32', shape: [nObs, K], data: objects });
    }
    for (const cam of m.cameras) {
      const data = new Uint8Array(eps.length * S * S * 3);
      eps.forEach((e, i) => data.set(e.goalFrames[cam], i * S * S * 3));
      sections.push({ name: `goal_images/${cam}`, dtype: 'uint8', shape: [eps.length, S, S, 3], data });
    }
    const gp = new Float32Array(eps.length * P);
    eps.forEach((e, i) => gp.set(e.goalProprio, i * P));
    sections.push({ name: 'goal_proprio', dtype: 'float32', shape: [eps.length, P], data: gp });

    const bytes = encodeChunk(chunkEpisodes, sections);
    const chunkIndex = m.chunks.length;
    const file = chunkFileName(chunkIndex);
    writeFileAtomic(join(this.dir, file), bytes);
    m.chunks.push({ file, sha256: sha256(bytes), bytes: bytes.length, firstEpisode: eps[0].index, episodeCount: eps.length });
    for (const e of eps) {
      const me: ManifestEpisode = { index: e.index, seed: e.seed, chunk: chunkIndex, length: e.actions.length, success: e.success, goal: e.goal, labels: e.labels ?? [] };
      m.episodes.push(me);
    }
    this.buffer = [];
    m.complete = m.episodes.length >= m.episodesRequested;
    this.writeManifest();
  }

  /** Flushes and marks the dataset complete when every requested episode is stored. */
  finish(): Manifest {
    this.flush();
    this.manifest.complete = this.manifest.episodes.length >= this.manifest.episodesRequested;
    this.writeManifest();
    return this.manifest;
  }

  private writeManifest(): void {
    writeFileAtomic(manifestPath(this.dir), JSON.stringify(ManifestSchema.parse(this.manifest), null, 1));
  }
}
