/**
 * The on-disk dataset format for simulated episodes: a JSON manifest (zod
 * schema below) and chunk files. A chunk holds whole episodes:
 *
 *   bytes 0..7    magic "JEPACHK1"
 *   bytes 8..11   u32 LE: length H of the JSON header
 *   bytes 12..    header (UTF-8 JSON, ChunkHeaderSchema), zero-padded to a multiple of 8
 *   then          sections, each starting at header.sections[i].offset (8-aligned,
 *                 from the start of the file), little-endian, row-major
 *
 * Sections: `images/<camera>` uint8 [observations, H, W, 3]; `proprio`
 * float32 [observations, P] (joint positions then velocities); `actions`
 * float32 [actions, A]; `goal_images/<camera>` uint8 [episodes, H, W, 3];
 * `goal_proprio` float32 [episodes, P]; `objects` float32 [observations, K]
 * (only when the manifest lists objectNames: positions of the task's objects,
 * the simulator's ground truth, a training target and never a model input).
 * Episode e of a chunk owns
 * observations [obsStart, obsStart + length + 1) and actions
 * [actStart, actStart + length).
 *
 * Writes are crash-safe: a chunk is written to a temporary name, fsync'd and
 * renamed, then the manifest (which lists every chunk with its sha256) is
 * replaced the same way. Anything not in the manifest is not part of the set.
 */
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TaskName } from '../tasks/types';
import { SplitMode } from '../tasks/seeds';

export const CHUNK_MAGIC = 'JEPACHK1';
export const MANIFEST_FILE = 'manifest.json';
export const DATASET_FORMAT = 'jepa-sim-dataset';

export const SectionSchema = z.object({
  name: z.string(),
  dtype: z.enum(['uint8', 'float32']),
  shape: z.array(z.number().int().nonnegative()),
  offset: z.number().int().nonnegative(),
  byteLength: z.number().int().nonnegative(),
});
export type Section = z.infer<typeof SectionSchema>;

export const ChunkEpisodeSchema = z.object({
  index: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
  obsStart: z.number().int().nonnegative(),
  actStart: z.number().int().nonnegative(),
});

export const ChunkHeaderSchema = z.object({
  version: z.literal(1),
  episodes: z.array(ChunkEpisodeSchema),
  sections: z.array(SectionSchema),
});
export type ChunkHeader = z.infer<typeof ChunkHeaderSchema>;

export const ViolationKind = z.enum(['vanish', 'teleport', 'pass-through']);
export type ViolationKind = z.infer<typeof ViolationKind>;

/** A violation-of-expectation event: from observation `frame` on, the world breaks a physical rule. */
export const ViolationLabelSchema = z.object({
  frame: z.number().int().nonnegative(),
  kind: ViolationKind,
  /** The body that misbehaves. */
  object: z.string(),
  /**
   * The first observation in which the rule is already broken, when that is
   * earlier than `frame` (the first in which it clearly shows): an object
   * sinking into a solid overlaps it slightly before the overlap is visible.
   * Observations onset..frame-1 are neither normal nor clearly violating.
   */
  onset: z.number().int().nonnegative().optional(),
});
export type ViolationLabel = z.infer<typeof ViolationLabelSchema>;

export const ManifestEpisodeSchema = z.object({
  index: z.number().int().nonnegative(),
  seed: z.number().int().nonnegative(),
  chunk: z.number().int().nonnegative(),
  /** Actions in the episode; it has length + 1 observations. */
  length: z.number().int().nonnegative(),
  success: z.boolean(),
  goal: z.record(z.string(), z.array(z.number())),
  labels: z.array(ViolationLabelSchema).default([]),
});
export type ManifestEpisode = z.infer<typeof ManifestEpisodeSchema>;

export const ManifestChunkSchema = z.object({
  file: z.string().regex(/^chunk-\d{6}\.bin$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().positive(),
  /** Episode indices [first, last] stored in this chunk. */
  firstEpisode: z.number().int().nonnegative(),
  episodeCount: z.number().int().positive(),
});
export type ManifestChunk = z.infer<typeof ManifestChunkSchema>;

export const ManifestSchema = z.object({
  format: z.literal(DATASET_FORMAT),
  version: z.literal(1),
  kind: z.enum(['episodes', 'violations']),
  task: TaskName,
  policy: z.enum(['random', 'scripted']),
  split: SplitMode,
  /** Episode i was sampled with seed `seed + i`. */
  seed: z.number().int().nonnegative(),
  episodesRequested: z.number().int().positive(),
  episodesPerChunk: z.number().int().positive(),
  imageSize: z.number().int().positive(),
  /** Side (px) the frames were rendered at before being scaled to imageSize; absent: rendered at imageSize. */
  renderSize: z.number().int().positive().optional(),
  cameras: z.array(z.string()).min(1),
  frameskip: z.number().int().positive(),
  controlPeriod_s: z.number().positive(),
  maxSteps: z.number().int().positive(),
  proprioNames: z.array(z.string()),
  /** Names of the `objects` section's K values ('<body>.x', '.y', '.z'); absent when it was not recorded. */
  objectNames: z.array(z.string()).min(1).optional(),
  actionDim: z.number().int().positive(),
  /** Per-actuator [lo, hi] bounds of the actions. */
  actionRange: z.array(z.tuple([z.number(), z.number()])),
  chunks: z.array(ManifestChunkSchema),
  episodes: z.array(ManifestEpisodeSchema),
  complete: z.boolean(),
});
export type Manifest = z.infer<typeof ManifestSchema>;

/** The dataset on disk is not what the manifest says (corrupt, truncated or edited chunk). */
export class DatasetCorruptError extends Error {
  override name = 'DatasetCorruptError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`Dataset file '${file}' is corrupt: ${detail}. Delete it and the manifest entry that lists it, then re-run collection to rewrite it.`);
  }
}

/** The manifest is missing or does not match the schema. */
export class ManifestError extends Error {
  override name = 'ManifestError';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`Dataset manifest '${file}' is invalid: ${detail}`);
  }
}

export function chunkFileName(index: number): string {
  return `chunk-${String(index).padStart(6, '0')}.bin`;
}

export function sha256(buf: Uint8Array): string {
  return createHash('sha256').update(buf).digest('hex');
}

/** Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export interface SectionData {
  name: string;
  dtype: 'uint8' | 'float32';
  shape: number[];
  data: Uint8Array | Float32Array;
}

/** Serialises a chunk (header + sections). */
export function encodeChunk(episodes: ChunkHeader['episodes'], sections: SectionData[]): Uint8Array {
  // Lay out sections after a header whose size we do not know yet: iterate until stable.
  let headerBytes = 0;
  let header: ChunkHeader;
  let encoded: Buffer;
  for (;;) {
    let offset = align8(12 + headerBytes);
    const laid: Section[] = sections.map((s) => {
      const sec = { name: s.name, dtype: s.dtype, shape: s.shape, offset, byteLength: s.data.byteLength };
      offset = align8(offset + s.data.byteLength);
      return sec;
    });
    header = { version: 1, episodes, sections: laid };
    encoded = Buffer.from(JSON.stringify(header), 'utf8');
    if (encoded.length === headerBytes) break;
    headerBytes = encoded.length;
  }
  const last = header.sections[header.sections.length - 1];
  const total = last === undefined ? align8(12 + headerBytes) : align8(last.offset + last.byteLength);
  const out = new Uint8Array(total);
  out.set(Buffer.from(CHUNK_MAGIC, 'ascii'), 0);
  new DataView(out.buffer).setUint32(8, headerBytes, true);
  out.set(encoded, 12);
  header.sections.forEach((sec, i) => {
    const d = sections[i].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), sec.offset);
  });
  return out;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Parses a chunk; returns its header and views of each section. */
export function decodeChunk(file: string, buf: Uint8Array): { header: ChunkHeader; sections: Map<string, Uint8Array | Float32Array> } {
  if (buf.length < 12 || Buffer.from(buf.subarray(0, 8)).toString('ascii') !== CHUNK_MAGIC) throw new DatasetCorruptError(file, `missing magic "${CHUNK_MAGIC}"`);
  const hlen = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(8, true);
  if (12 + hlen > buf.length) throw new DatasetCorruptError(file, `header length ${hlen} runs past the end of the file (${buf.length} bytes)`);
  let header: ChunkHeader;
  try {
    header = ChunkHeaderSchema.parse(JSON.parse(Buffer.from(buf.subarray(12, 12 + hlen)).toString('utf8')));
  } catch (e) {
    throw new DatasetCorruptError(file, `unreadable header (${(e as Error).message})`);
  }
  const sections = new Map<string, Uint8Array | Float32Array>();
  for (const s of header.sections) {
    const expected = s.shape.reduce((a, b) => a * b, 1) * (s.dtype === 'float32' ? 4 : 1);
    if (expected !== s.byteLength) throw new DatasetCorruptError(file, `section ${s.name} shape ${JSON.stringify(s.shape)} needs ${expected} bytes, header says ${s.byteLength}`);
    if (s.offset + s.byteLength > buf.length) throw new DatasetCorruptError(file, `section ${s.name} runs past the end of the file`);
    // Copy into an aligned buffer so float views are always valid.
    const bytes = buf.slice(s.offset, s.offset + s.byteLength);
    sections.set(s.name, s.dtype === 'float32' ? new Float32Array(bytes.buffer, 0, s.byteLength / 4) : bytes);
  }
  return { header, sections };
}

export function manifestPath(dir: string): string {
  return join(dir, MANIFEST_FILE);
}
