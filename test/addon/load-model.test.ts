import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/addon/index';
import { loadNativeAddon } from '../../src/addon/native';
import { initWeights, saveCheckpoint } from '../../src/model/checkpoint';
import { parseCheckpointConfig } from '../../src/model/config';

const config = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'tiny',
  latent: { tokens: 1, dim: 4 },
  action: { dim: 2 },
  encoder: { kind: 'mlp', inputDim: 3, hiddenDims: [5] },
  predictor: { kind: 'mlp', hiddenDims: [8] },
});

describe('loadModel backend selection', () => {
  it('gives the same encoding on the native CPU and reference backends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    await saveCheckpoint(dir, config, initWeights(config, 3));
    const cpu = await loadModel(dir, { backend: 'cpu' });
    const ref = await loadModel(dir, { backend: 'reference' });
    expect(cpu.backend).toBe('cpu');
    expect(ref.backend).toBe('reference');
    const x = Float32Array.of(0.1, -0.2, 0.3);
    const a = await cpu.encode(x, 1);
    const b = await ref.encode(x, 1);
    for (let i = 0; i < 4; i++) expect(a[i]).toBeCloseTo(b[i]!, 5);
    cpu.dispose();
    ref.dispose();
  });

  it("'auto' picks a native backend, and 'cuda' without a device says why", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    await saveCheckpoint(dir, config, initWeights(config, 3));
    const auto = await loadModel(dir);
    const devices = loadNativeAddon().cudaInfo().devices.length;
    expect(auto.backend).toBe(devices > 0 ? 'cuda' : 'cpu');
    auto.dispose();
    if (devices === 0) {
      await expect(loadModel(dir, { backend: 'cuda' })).rejects.toThrow(/no CUDA device/);
    } else {
      console.log('a CUDA device is present: the no-device error path is not exercised here');
    }
  });

  it('names the folder when there is no checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'empty-'));
    await expect(loadModel(dir)).rejects.toThrow(dir);
  });
});
