// Checkpoint folders: config errors, tensor checks against the manifest,
// atomic save/load round trip, and deterministic weight initialisation.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceModel, loadReferenceModel } from '../../src/addon/reference';
import {
  CheckpointNotFoundError,
  CheckpointTensorError,
  fileSha256,
  initWeights,
  loadCheckpoint,
  loadCheckpointTensors,
  readCheckpointConfig,
  saveCheckpoint,
  Xoshiro128,
} from '../../src/model/checkpoint';
import { CheckpointConfigError, parseCheckpointConfig } from '../../src/model/config';
import { serializeSafetensors } from '../../src/model/safetensors';
import { expectedTensors } from '../../src/model/tensors';

const tmp = mkdtempSync(path.join(tmpdir(), 'ckpt-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const freshDir = () => path.join(tmp, `c${counter++}`);

const rawConfig = {
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny-vit',
  latent: { tokens: 1, dim: 8 },
  action: { dim: 3 },
  encoder: { kind: 'vit', inChannels: 2, imageSize: 4, patchSize: 2, embedDim: 8, depth: 1, numHeads: 2, layerScale: true },
  predictor: { kind: 'transformer', depth: 1, numHeads: 2, historyLength: 2, actionEmbedDim: 4 },
  proprio: { dim: 2 },
};
const config = parseCheckpointConfig(rawConfig);

describe('initWeights', () => {
  const w = initWeights(config, 42);

  it('creates every expected tensor with its manifest size', () => {
    for (const spec of expectedTensors(config)) {
      expect(w.get(spec.name)?.length, spec.name).toBe(spec.shape.reduce((a, b) => a * b, 1));
    }
  });

  it('is deterministic per seed and differs between seeds', () => {
    const again = initWeights(config, 42);
    const other = initWeights(config, 43);
    const name = 'predictor.blocks.0.attn.qkv.weight';
    expect(Array.from(again.get(name)!)).toEqual(Array.from(w.get(name)!));
    expect(Array.from(other.get(name)!)).not.toEqual(Array.from(w.get(name)!));
  });

  it('follows the init rules: norms 1/0, linear within 1/sqrt(fan in), gammas in [0.1, 1], embeddings ~ N(0, 0.02)', () => {
    expect(Array.from(w.get('encoder.norm.weight')!).every((v) => v === 1)).toBe(true);
    expect(Array.from(w.get('encoder.blocks.0.norm1.bias')!).every((v) => v === 0)).toBe(true);
    const fc2 = w.get('encoder.blocks.0.mlp.fc2.weight')!; // [8, 32]
    const bound = 1 / Math.sqrt(32);
    expect(Math.max(...fc2.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...fc2.map(Math.abs))).toBeGreaterThan(bound * 0.8);
    const conv = w.get('encoder.patch_embed.proj.weight')!; // fan in 2·2·2
    expect(Math.max(...conv.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(8));
    const bias = w.get('encoder.blocks.0.mlp.fc1.bias')!;
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(0.01);
    expect(Math.max(...bias.map(Math.abs))).toBeGreaterThan(0);
    const gamma = w.get('encoder.blocks.0.ls1.gamma')!;
    expect(Math.min(...gamma)).toBeGreaterThanOrEqual(0.1);
    expect(Math.max(...gamma)).toBeLessThanOrEqual(1);
    const big = initWeights(parseCheckpointConfig({ ...rawConfig, encoder: { ...rawConfig.encoder, imageSize: 64, patchSize: 2, embedDim: 64 }, latent: { tokens: 1, dim: 64 } }), 1);
    const pos = big.get('encoder.pos_embed')!;
    const std = Math.sqrt(pos.reduce((s, v) => s + v * v, 0) / pos.length);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
  });

  it('Xoshiro128 gives uniform numbers in [0, 1) with mean near 1/2', () => {
    const rng = new Xoshiro128(7);
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < 20000; i++) {
      const v = rng.next();
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    expect(sum / 20000).toBeCloseTo(0.5, 1);
  });
});

describe('saveCheckpoint and loading', () => {
  it('round-trips config and tensors, and loadReferenceModel computes what createReferenceModel does', async () => {
    const dir = freshDir();
    const w = initWeights(config, 5);
    await saveCheckpoint(dir, config, w, { metadata: { source: 'test' } });
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
    const loaded = await loadCheckpoint(dir);
    expect(loaded.config).toEqual(config);
    for (const [name, t] of w) expect(Array.from(loaded.tensors.get(name)!), name).toEqual(Array.from(t));
    const frames = new Float32Array(2 * 32).map((_, i) => (i % 7) / 7);
    const fromDisk = await loadReferenceModel(dir);
    const inMemory = createReferenceModel(config, w);
    expect(Array.from(await fromDisk.encode(frames, 2))).toEqual(Array.from(await inMemory.encode(frames, 2)));
  });

  it('refuses tensors that do not match the manifest before writing anything', async () => {
    const dir = freshDir();
    const w = initWeights(config, 5);
    w.set('predictor.head.weight', new Float32Array(3));
    await expect(saveCheckpoint(dir, config, w)).rejects.toThrow(CheckpointTensorError);
    await expect(saveCheckpoint(dir, config, w)).rejects.toThrow(/tensor 'predictor.head.weight': expected a Float32Array of 96 values \(shape \[8, 12\]\), found 3 values/);
    expect(existsSync(dir)).toBe(false);
  });

  it('a missing folder, config.json or model.safetensors is a CheckpointNotFoundError naming the path', async () => {
    const missing = path.join(tmp, 'does-not-exist');
    await expect(readCheckpointConfig(missing)).rejects.toThrow(CheckpointNotFoundError);
    await expect(readCheckpointConfig(missing)).rejects.toThrow(/does-not-exist: checkpoint folder not found/);
    const empty = freshDir();
    mkdirSync(empty);
    await expect(readCheckpointConfig(empty)).rejects.toThrow(/config\.json: config\.json not found/);
    await expect(loadCheckpointTensors(empty, config)).rejects.toThrow(/model\.safetensors: model\.safetensors not found/);
  });

  it('bad JSON and schema errors are CheckpointConfigErrors naming the file and field', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    const file = path.join(dir, 'config.json');
    writeFileSync(file, '{"format": ');
    const jsonErr = await readCheckpointConfig(dir).catch((e: unknown) => e);
    expect(jsonErr).toBeInstanceOf(CheckpointConfigError);
    expect((jsonErr as CheckpointConfigError).file).toBe(file);
    expect((jsonErr as Error).message).toContain('not valid JSON');
    writeFileSync(file, JSON.stringify({ ...rawConfig, latent: { tokens: 1, dim: 7 } }));
    const schemaErr = await readCheckpointConfig(dir).catch((e: unknown) => e);
    expect(schemaErr).toBeInstanceOf(CheckpointConfigError);
    expect((schemaErr as Error).message).toContain('latent.dim: must equal encoder.embedDim 8');
  });

  async function writeWeights(dir: string, tensors: { name: string; shape: number[]; data: Float32Array }[]): Promise<void> {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'model.safetensors'), serializeSafetensors(tensors));
  }

  const full = () => {
    const w = initWeights(config, 9);
    return expectedTensors(config).map((s) => ({ name: s.name, shape: s.shape, data: w.get(s.name)! }));
  };

  it('a missing tensor names the file, tensor and expected shape', async () => {
    const dir = freshDir();
    await writeWeights(dir, full().filter((t) => t.name !== 'encoder.cls_token'));
    const err = await loadCheckpointTensors(dir, config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointTensorError);
    expect((err as Error).message).toBe(
      `${path.join(dir, 'model.safetensors')}: tensor 'encoder.cls_token': expected shape [1, 1, 8], found no such tensor; the weights do not match config.json (re-export or fix the config)`,
    );
  });

  it('a wrong shape (even with the right element count) names expected vs found', async () => {
    const dir = freshDir();
    await writeWeights(dir, full().map((t) => (t.name === 'proprio_head.weight' ? { ...t, shape: [8, 2] } : t)));
    await expect(loadCheckpointTensors(dir, config)).rejects.toThrow(/tensor 'proprio_head.weight': expected shape \[2, 8\], found shape \[8, 2\]/);
  });

  it('extra tensors are ignored and F64 tensors are accepted', async () => {
    const dir = freshDir();
    const tensors = full();
    await writeWeights(dir, [...tensors, { name: 'optimizer.step', shape: [1], data: new Float32Array(1) }]);
    const loaded = await loadCheckpointTensors(dir, config);
    expect(loaded.has('optimizer.step')).toBe(false);
    expect(loaded.size).toBe(tensors.length);

    // a hand-built F64 file holding one tensor of an mlp checkpoint
    const mlp = parseCheckpointConfig({
      format: 'jepa-runtime.checkpoint/1', name: 'm', latent: { tokens: 1, dim: 1 }, action: { dim: 1 },
      encoder: { kind: 'mlp', inputDim: 1, hiddenDims: [] }, predictor: { kind: 'mlp', hiddenDims: [] },
    });
    const values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    // encoder weight [1,1], encoder bias [1], predictor weight [1,2], predictor bias [1] → 5 doubles
    const header: Record<string, object> = {};
    let begin = 0;
    for (const s of expectedTensors(mlp)) {
      const bytes = 8 * s.shape.reduce((a, b) => a * b, 1);
      header[s.name] = { dtype: 'F64', shape: s.shape, data_offsets: [begin, begin + bytes] };
      begin += bytes;
    }
    const h = Buffer.from(JSON.stringify(header));
    const bytes = Buffer.alloc(8 + h.length + 8 * 5);
    bytes.writeBigUInt64LE(BigInt(h.length), 0);
    h.copy(bytes, 8);
    for (let i = 0; i < 5; i++) bytes.writeDoubleLE(values[i], 8 + h.length + 8 * i);
    const d = freshDir();
    mkdirSync(d);
    writeFileSync(path.join(d, 'model.safetensors'), bytes);
    const m = await loadCheckpointTensors(d, mlp);
    expect(m.get('encoder.layers.0.weight')![0]).toBe(Math.fround(0.1));
    expect(m.get('predictor.layers.0.bias')![0]).toBe(Math.fround(0.5));
  });

  it('an integer dtype is refused with the dtype it found', async () => {
    const mlp = parseCheckpointConfig({
      format: 'jepa-runtime.checkpoint/1', name: 'm', latent: { tokens: 1, dim: 1 }, action: { dim: 1 },
      encoder: { kind: 'mlp', inputDim: 1, hiddenDims: [] }, predictor: { kind: 'mlp', hiddenDims: [] },
    });
    const header = JSON.stringify({ 'encoder.layers.0.weight': { dtype: 'I32', shape: [1, 1], data_offsets: [0, 4] } });
    const bytes = Buffer.alloc(8 + header.length + 4);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    bytes.write(header, 8);
    const d = freshDir();
    mkdirSync(d);
    writeFileSync(path.join(d, 'model.safetensors'), bytes);
    await expect(loadCheckpointTensors(d, mlp)).rejects.toThrow(/tensor 'encoder.layers.0.weight': expected a floating-point dtype .*found dtype I32/);
  });
});

describe('fileSha256', () => {
  it('hashes a file', async () => {
    const file = path.join(tmp, 'abc.txt');
    writeFileSync(file, 'abc');
    expect(await fileSha256(file)).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
