/**
 * Checkpoint folders in TypeScript: `config.json` (schema in ./config) +
 * `model.safetensors` (tensor manifest in ./tensors).
 *
 *   readCheckpointConfig(dir)                 → CheckpointConfig
 *   loadCheckpointTensors(dir, config)        → Map<name, Float32Array>, checked against expectedTensors
 *   loadCheckpoint(dir)                       → both
 *   checkTensors(config, tensors, where)      in-memory tensors against the manifest (sizes)
 *   saveCheckpoint(dir, config, tensors, opt) writes both files atomically (tensors checked first)
 *   initWeights(config, seed)                 deterministic random weights for every expected tensor
 *   fileSha256(file)                          hex digest, for manifests
 *
 * Errors: CheckpointNotFoundError (folder or file missing),
 * CheckpointConfigError (from ./config; bad JSON or schema, names the file),
 * CheckpointTensorError (names file, tensor, expected vs found),
 * SafetensorsError (from ./safetensors; the file itself is malformed).
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { type CheckpointConfig, CheckpointConfigError, parseCheckpointConfig } from './config';
import { FLOAT_DTYPES, readSafetensors, type TensorToWrite, writeFileAtomic, writeSafetensors } from './safetensors';
import { expectedTensors } from './tensors';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/** A checkpoint folder or one of its files does not exist. */
export class CheckpointNotFoundError extends Error {
  override name = 'CheckpointNotFoundError';
  constructor(readonly file: string, what: string) {
    super(`${file}: ${what}; a checkpoint is a folder holding ${CONFIG_FILE} and ${WEIGHTS_FILE}`);
  }
}

/** A tensor is missing from a checkpoint or has the wrong shape or type. */
export class CheckpointTensorError extends Error {
  override name = 'CheckpointTensorError';
  constructor(
    readonly file: string,
    readonly tensor: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`${file}: tensor '${tensor}': expected ${expected}, found ${found}; the weights do not match config.json (re-export or fix the config)`);
  }
}

async function requireDir(dir: string): Promise<void> {
  let stat;
  try {
    stat = await fsp.stat(dir);
  } catch {
    throw new CheckpointNotFoundError(dir, 'checkpoint folder not found');
  }
  if (!stat.isDirectory()) throw new CheckpointNotFoundError(dir, 'is not a folder');
}

/** Reads and validates `<dir>/config.json`. */
export async function readCheckpointConfig(dir: string): Promise<CheckpointConfig> {
  await requireDir(dir);
  const file = path.join(dir, CONFIG_FILE);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw new CheckpointNotFoundError(file, `${CONFIG_FILE} not found`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CheckpointConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseCheckpointConfig(json, file);
}

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * Reads `<dir>/model.safetensors` and returns every tensor of
 * expectedTensors(config) as Float32Array. Every float dtype (FLOAT_DTYPES)
 * is accepted; shapes must match exactly; extra tensors are ignored.
 */
export async function loadCheckpointTensors(dir: string, config: CheckpointConfig): Promise<Map<string, Float32Array>> {
  await requireDir(dir);
  const file = path.join(dir, WEIGHTS_FILE);
  try {
    await fsp.access(file);
  } catch {
    throw new CheckpointNotFoundError(file, `${WEIGHTS_FILE} not found`);
  }
  const st = await readSafetensors(file);
  const out = new Map<string, Float32Array>();
  for (const spec of expectedTensors(config)) {
    if (!st.has(spec.name)) throw new CheckpointTensorError(file, spec.name, `shape ${shapeText(spec.shape)}`, 'no such tensor');
    const e = st.entry(spec.name);
    if (e.shape.length !== spec.shape.length || e.shape.some((d, i) => d !== spec.shape[i])) {
      throw new CheckpointTensorError(file, spec.name, `shape ${shapeText(spec.shape)}`, `shape ${shapeText(e.shape)}`);
    }
    if (!FLOAT_DTYPES.has(e.dtype)) {
      throw new CheckpointTensorError(file, spec.name, `a floating-point dtype (${[...FLOAT_DTYPES].join(', ')})`, `dtype ${e.dtype}`);
    }
    out.set(spec.name, st.float32(spec.name));
  }
  return out;
}

/** Reads a whole checkpoint folder. */
export async function loadCheckpoint(dir: string): Promise<{ config: CheckpointConfig; tensors: Map<string, Float32Array> }> {
  const config = await readCheckpointConfig(dir);
  const tensors = await loadCheckpointTensors(dir, config);
  return { config, tensors };
}

/**
 * Checks in-memory tensors against expectedTensors(config): every expected
 * tensor present, a Float32Array, with product(shape) elements. `where`
 * names the source in errors. Extra tensors are allowed.
 */
export function checkTensors(config: CheckpointConfig, tensors: ReadonlyMap<string, Float32Array>, where: string): void {
  for (const spec of expectedTensors(config)) {
    const t = tensors.get(spec.name);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const expected = `a Float32Array of ${count} values (shape ${shapeText(spec.shape)})`;
    if (t === undefined) throw new CheckpointTensorError(where, spec.name, expected, 'no such tensor');
    if (!(t instanceof Float32Array)) throw new CheckpointTensorError(where, spec.name, expected, (t as object)?.constructor?.name ?? typeof t);
    if (t.length !== count) throw new CheckpointTensorError(where, spec.name, expected, `${t.length} values`);
  }
}

export interface SaveCheckpointOptions {
  /** Written as the safetensors __metadata__ (string → string). */
  metadata?: Record<string, string>;
}

/**
 * Writes a checkpoint folder (created if missing): model.safetensors with
 * every expected tensor in its manifest shape (extra tensors are not written),
 * then config.json, each atomically. The config is validated and the tensors
 * checked before anything is written.
 */
export async function saveCheckpoint(
  dir: string,
  config: CheckpointConfig,
  tensors: ReadonlyMap<string, Float32Array>,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const cfg = parseCheckpointConfig(config, path.join(dir, CONFIG_FILE));
  checkTensors(cfg, tensors, path.join(dir, WEIGHTS_FILE));
  const list: TensorToWrite[] = expectedTensors(cfg).map((spec) => ({ name: spec.name, shape: spec.shape, data: tensors.get(spec.name)! }));
  await fsp.mkdir(dir, { recursive: true });
  await writeSafetensors(path.join(dir, WEIGHTS_FILE), list, options.metadata);
  await writeFileAtomic(path.join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

/**
 * xoshiro128** seeded through splitmix32: a small, fast, deterministic PRNG
 * (the same seed gives the same weights on every platform).
 */
export class Xoshiro128 {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** Next 32 random bits as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * Deterministic random weights for every tensor of expectedTensors(config):
 * Linear/Conv weights ~ U(-1/√fanIn, 1/√fanIn), their biases ~ U(-0.01, 0.01),
 * norm weights 1 and biases 0, layer-scale gammas ~ U(0.1, 1),
 * cls_token and pos_embed ~ N(0, 0.02²).
 */
export function initWeights(config: CheckpointConfig, seed: number): Map<string, Float32Array> {
  const rng = new Xoshiro128(seed);
  const specs = expectedTensors(config);
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  const out = new Map<string, Float32Array>();
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(count);
    const name = spec.name;
    if (name.endsWith('.gamma')) {
      for (let i = 0; i < count; i++) data[i] = rng.uniform(0.1, 1);
    } else if (name.endsWith('cls_token') || name.endsWith('pos_embed')) {
      for (let i = 0; i < count; i++) data[i] = 0.02 * rng.normal();
    } else if (name.endsWith('.weight') && spec.shape.length === 1) {
      data.fill(1); // LayerNorm / GroupNorm scale
    } else if (name.endsWith('.weight')) {
      const fanIn = spec.shape.slice(1).reduce((a, b) => a * b, 1);
      const bound = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < count; i++) data[i] = rng.uniform(-bound, bound);
    } else if (name.endsWith('.bias')) {
      const weightShape = shapes.get(`${name.slice(0, -'.bias'.length)}.weight`);
      if (weightShape && weightShape.length > 1) {
        for (let i = 0; i < count; i++) data[i] = rng.uniform(-0.01, 0.01);
      } // norm bias stays 0
    } else {
      throw new RangeError(`initWeights: no initialisation rule for tensor '${name}'`);
    }
    out.set(name, data);
  }
  return out;
}

/** SHA-256 of a file, hex. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
