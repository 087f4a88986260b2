/**
 * Every architecture on the native CPU backend against the float64
 * TypeScript reference, with random weights (initWeights): encode, rollout
 * energies (every cost term), final latents, trajectory, proprio outputs and
 * decodeProprio; plus loading the same model from a checkpoint folder.
 * Tolerance: relErr (native-test-helpers.ts) <= 1e-4.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createNativeModel, loadNativeModel } from '../../src/addon/native-model';
import { createReferenceModel } from '../../src/addon/reference';
import type { RolloutRequest, WorldModel } from '../../src/addon/types';
import { initWeights, saveCheckpoint } from '../../src/model/checkpoint';
import { type CheckpointConfig, modelDims, parseCheckpointConfig } from '../../src/model/config';
import { addon, addonBuilt, randomArray, relErr } from './native-test-helpers';

const TOL = 1e-4;

function cfg(partial: Record<string, unknown>): CheckpointConfig {
  return parseCheckpointConfig({ format: 'jepa-runtime.checkpoint/1', name: 'parity', ...partial });
}

const configs: Record<string, CheckpointConfig> = {
  'mlp encoder (layer norms, input normalisation) + residual mlp predictor with layer norms + proprio': cfg({
    latent: { tokens: 1, dim: 24 },
    action: { dim: 5 },
    normalization: { mean: [0.1, -0.2, 0.3, 0, 0.5, 0.2, -0.1], std: [1, 2, 0.5, 1.5, 1, 1, 3] },
    encoder: { kind: 'mlp', inputDim: 7, hiddenDims: [33, 17], layerNorm: true, outputNorm: true },
    predictor: { kind: 'mlp', hiddenDims: [40, 40], layerNorm: true, residual: true },
    proprio: { dim: 6 },
  }),
  'mlp encoder (tanh) + non-residual silu mlp predictor': cfg({
    latent: { tokens: 1, dim: 19 },
    action: { dim: 3 },
    encoder: { kind: 'mlp', inputDim: 9, hiddenDims: [20], activation: 'tanh' },
    predictor: { kind: 'mlp', hiddenDims: [31], activation: 'silu', residual: false },
  }),
  'cnn encoder (stride, padding, group norm, flatten) + relu mlp predictor': cfg({
    latent: { tokens: 1, dim: 16 },
    action: { dim: 4 },
    normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] },
    encoder: {
      kind: 'cnn',
      imageSize: 13,
      stages: [
        { channels: 8, kernel: 3, stride: 2, padding: 1 },
        { channels: 16, kernel: 3, stride: 1, padding: 0 },
      ],
      groups: 4,
      outputNorm: true,
    },
    predictor: { kind: 'mlp', hiddenDims: [32], activation: 'relu' },
    proprio: { dim: 3 },
  }),
  'cnn encoder (no norm, avgpool, silu)': cfg({
    latent: { tokens: 1, dim: 12 },
    action: { dim: 2 },
    encoder: {
      kind: 'cnn',
      inChannels: 2,
      imageSize: 9,
      stages: [{ channels: 6, kernel: 4, stride: 2, padding: 2 }],
      norm: 'none',
      activation: 'silu',
      pool: 'avgpool',
    },
    predictor: { kind: 'mlp', hiddenDims: [] },
  }),
  'cnn encoder whose proprio planes also join the head (proprioFeatures)': cfg({
    latent: { tokens: 1, dim: 10 },
    action: { dim: 3 },
    normalization: { mean: [0.5, 0.4, 0.3, 0.1, -0.2], std: [0.2, 0.25, 0.3, 0.5, 2] },
    encoder: {
      kind: 'cnn',
      inChannels: 5,
      imageSize: 8,
      stages: [{ channels: 4, kernel: 3, stride: 2, padding: 1 }],
      groups: 2,
      proprioPlanes: 2,
      proprioFeatures: true,
    },
    predictor: { kind: 'mlp', hiddenDims: [16] },
    proprio: { dim: 2 },
  }),
  'vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio': cfg({
    latent: { tokens: 5, dim: 16 },
    action: { dim: 3 },
    normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
    encoder: { kind: 'vit', imageSize: 8, patchSize: 4, embedDim: 16, depth: 2, numHeads: 2, layerScale: true, output: 'cls+patch' },
    predictor: { kind: 'transformer', depth: 2, numHeads: 3, mlpRatio: 2, historyLength: 3, actionEmbedDim: 8 },
    proprio: { dim: 4 },
  }),
  'vit encoder (cls, no qkv bias) + add transformer predictor without output head': cfg({
    latent: { tokens: 1, dim: 24 },
    action: { dim: 2 },
    encoder: { kind: 'vit', imageSize: 6, patchSize: 3, embedDim: 24, depth: 1, numHeads: 4, qkvBias: false },
    predictor: {
      kind: 'transformer',
      depth: 2,
      numHeads: 4,
      historyLength: 2,
      actionEmbedDim: 24,
      actionConditioning: 'add',
      outputHead: false,
      qkvBias: false,
    },
  }),
  'vit encoder (patch tokens) + concat transformer predictor with history 4': cfg({
    latent: { tokens: 4, dim: 8 },
    action: { dim: 2 },
    encoder: { kind: 'vit', imageSize: 4, patchSize: 2, embedDim: 8, depth: 1, numHeads: 2, output: 'patch' },
    predictor: { kind: 'transformer', depth: 1, numHeads: 2, historyLength: 4, actionEmbedDim: 4 },
  }),
};

function rolloutRequest(c: CheckpointConfig, F: number, N: number, H: number, seed: number): RolloutRequest {
  const d = modelDims(c);
  const A = d.actionDim;
  return {
    z0: randomArray(F * d.latentSize, seed),
    actionHistory: F > 1 ? randomArray((F - 1) * A, seed + 1) : undefined,
    actions: randomArray(N * H * A, seed + 2, -1.5, 1.5),
    horizon: H,
    goal: randomArray(d.latentSize, seed + 3),
    cost: {
      metric: seed % 2 ? 'l2' : 'l1',
      terminalWeight: 2,
      runningWeight: 0.5,
      actionMagnitudeWeight: 0.1,
      actionRateWeight: 0.3,
      previousAction: randomArray(A, seed + 4),
      actionBounds: { low: new Float32Array(A).fill(-1), high: new Float32Array(A).fill(1) },
      boundsWeight: 5,
    },
    returnFinalLatents: true,
    returnTrajectory: true,
    returnProprio: d.proprioDim > 0,
  };
}

async function expectSameRollout(native: WorldModel, ref: WorldModel, req: RolloutRequest): Promise<void> {
  const [a, b] = await Promise.all([native.rollout(req), ref.rollout(req)]);
  expect(relErr(a.energies, b.energies)).toBeLessThan(TOL);
  expect(relErr(a.finalLatents!, b.finalLatents!)).toBeLessThan(TOL);
  expect(relErr(a.trajectory!, b.trajectory!)).toBeLessThan(TOL);
  if (req.returnProprio) expect(relErr(a.proprio!, b.proprio!)).toBeLessThan(TOL);
}

// The opt-in bfloat16 tests need AMX-BF16 (Sapphire Rapids and later, and a
// kernel that grants AMX tile state); say so when they are skipped.
const amxBf16 = addonBuilt && addon().kernelInfo().amxBf16;
if (addonBuilt && !amxBf16) {
  console.warn('bfloat16 (AMX) parity tests skipped: this CPU or its kernel has no AMX-BF16 tile support (kernelInfo().amxBf16 is false)');
}

const tmpDirs: string[] = [];
afterAll(() => tmpDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.skipIf(!addonBuilt)('native CPU model vs float64 reference', () => {
  let seed = 10;
  for (const [name, c] of Object.entries(configs)) {
    describe(name, () => {
      const weights = initWeights(c, seed++);
      const dims = modelDims(c);
      const ref = createReferenceModel(c, weights);

      it('encodes a batch of frames like the reference', async () => {
        const model = await createNativeModel(c, weights, { threads: 2 });
        const count = 3;
        const frames = randomArray(count * dims.inputSize, 77, 0, 1);
        const [a, b] = await Promise.all([model.encode(frames, count), ref.encode(frames, count)]);
        expect(a.length).toBe(count * dims.latentSize);
        expect(relErr(a, b)).toBeLessThan(TOL);
        // One frame takes the intra-op (parallel kernels) path.
        const one = await model.encode(frames.subarray(0, dims.inputSize), 1);
        expect(relErr(one, b.subarray(0, dims.latentSize))).toBeLessThan(TOL);
        model.dispose();
      });

      const F = Math.min(2, dims.historyLength);
      it(`rolls out energies, final latents, trajectory and proprio like the reference (F = ${F})`, async () => {
        const model = await createNativeModel(c, weights, { threads: 2 });
        await expectSameRollout(model, ref, rolloutRequest(c, F, 9, 4, 5));
        model.dispose();
      });

      if (dims.historyLength > 1) {
        it('rolls out from a single start frame while the window grows, then slides', async () => {
          const model = await createNativeModel(c, weights, { threads: 2 });
          await expectSameRollout(model, ref, rolloutRequest(c, 1, 5, dims.historyLength + 2, 21));
          model.dispose();
        });

        it('rolls out from a full history window (F = historyLength) without an action history', async () => {
          const model = await createNativeModel(c, weights, { threads: 1 });
          const req = rolloutRequest(c, dims.historyLength, 4, 3, 8);
          delete req.actionHistory;
          await expectSameRollout(model, ref, req);
          model.dispose();
        });
      }

      if (dims.proprioDim > 0) {
        it('decodes proprio like the reference', async () => {
          const model = await createNativeModel(c, weights, { threads: 2 });
          const lat = randomArray(5 * dims.latentSize, 3);
          const [a, b] = await Promise.all([model.decodeProprio(lat, 5), ref.decodeProprio(lat, 5)]);
          expect(relErr(a, b)).toBeLessThan(TOL);
          model.dispose();
        });
      }
    });
  }

  it('loads a checkpoint folder saved with saveCheckpoint and matches the in-memory model', async () => {
    const c = configs['vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio']!;
    const weights = initWeights(c, 99);
    const dir = mkdtempSync(path.join(tmpdir(), 'jepa-native-ckpt-'));
    tmpDirs.push(dir);
    await saveCheckpoint(dir, c, weights);
    const fromFile = await loadNativeModel(dir, c, { threads: 2 });
    const ref = createReferenceModel(c, weights);
    const frames = randomArray(2 * modelDims(c).inputSize, 5, 0, 1);
    expect(relErr(await fromFile.encode(frames, 2), await ref.encode(frames, 2))).toBeLessThan(TOL);
    await expectSameRollout(fromFile, ref, rolloutRequest(c, 3, 6, 3, 12));
    fromFile.dispose();
  });

  it.skipIf(!amxBf16)(
    'opt-in bfloat16 (AMX) mlp predictor stays within 3e-2 of the reference, and really runs in bf16',
    async () => {
      for (const name of [
        'mlp encoder (layer norms, input normalisation) + residual mlp predictor with layer norms + proprio',
        'mlp encoder (tanh) + non-residual silu mlp predictor',
        'cnn encoder (no norm, avgpool, silu)',
      ]) {
        const c = configs[name]!;
        const weights = initWeights(c, 31);
        const ref = createReferenceModel(c, weights);
        const fp32 = await createNativeModel(c, weights, { threads: 2 });
        const bf16 = await createNativeModel(c, weights, { threads: 2, precision: 'bfloat16' });
        const req = rolloutRequest(c, 1, 70, 6, 4);
        const [a, b, r] = await Promise.all([bf16.rollout(req), fp32.rollout(req), ref.rollout(req)]);
        expect(relErr(a.trajectory!, r.trajectory!), name).toBeLessThan(3e-2);
        expect(relErr(a.energies, r.energies), name).toBeLessThan(3e-2);
        expect(relErr(a.trajectory!, b.trajectory!), name).toBeGreaterThan(1e-6);
        bf16.dispose();
        fp32.dispose();
      }
    },
  );

  // Bigger than the parity configs above so the bf16 GEMMs span several
  // 32-row blocks and 32-column panel pairs, and the ViT's linears are large
  // enough to be shared among the pool's threads (145 tokens × width 64).
  const bf16Configs: Record<string, CheckpointConfig> = {
    'vit encoder (145 tokens, layer scale, cls) + concat transformer predictor': cfg({
      latent: { tokens: 1, dim: 64 },
      action: { dim: 3 },
      normalization: { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] },
      encoder: { kind: 'vit', imageSize: 48, patchSize: 4, embedDim: 64, depth: 2, numHeads: 4, layerScale: true },
      predictor: { kind: 'transformer', depth: 2, numHeads: 4, mlpRatio: 2, historyLength: 2, actionEmbedDim: 16 },
    }),
    'vit encoder (16 patch tokens) + concat transformer predictor (width 48, depth 3, history 3) + proprio': cfg({
      latent: { tokens: 16, dim: 32 },
      action: { dim: 5 },
      encoder: { kind: 'vit', imageSize: 8, patchSize: 2, embedDim: 32, depth: 1, numHeads: 2, output: 'patch' },
      predictor: { kind: 'transformer', depth: 3, numHeads: 4, mlpRatio: 4, historyLength: 3, actionEmbedDim: 16 },
      proprio: { dim: 4 },
    }),
  };

  // bf16 keeps 8 mantissa bits: each rounding is off by up to 2^-9 ≈ 2e-3
  // relative, and a rollout stacks many rounded GEMMs (qkv, proj, fc1, fc2,
  // head per block and step, fed back through the horizon), so these checks
  // use the mlp test's 3e-2, i.e. about ten roundings' worth, not the 1e-4 of
  // float32. A bug (wrong panel, missing bias, LayerScale not folded) shows as
  // an O(1) error.
  const BF16_TOL = 3e-2;

  it.skipIf(!amxBf16)(
    'opt-in bfloat16 (AMX) transformer predictor rollout stays within 3e-2 of the reference, and really runs in bf16',
    async () => {
      const cases: [string, CheckpointConfig, number][] = [
        ...Object.entries(bf16Configs).flatMap(([n, c]) => [1, 2].map((f) => [`${n}, F = ${f}`, c, f] as [string, CheckpointConfig, number])),
        ['vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio', configs['vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio']!, 2],
        ['vit encoder (cls, no qkv bias) + add transformer predictor without output head', configs['vit encoder (cls, no qkv bias) + add transformer predictor without output head']!, 1],
        ['vit encoder (patch tokens) + concat transformer predictor with history 4', configs['vit encoder (patch tokens) + concat transformer predictor with history 4']!, 2],
      ];
      for (const [name, c, frames] of cases) {
        const weights = initWeights(c, 37);
        const ref = createReferenceModel(c, weights);
        const fp32 = await createNativeModel(c, weights, { threads: 2 });
        const bf16 = await createNativeModel(c, weights, { threads: 2, precision: 'bfloat16' });
        const req = rolloutRequest(c, frames, 24, 5, 6);
        const [a, b, r] = await Promise.all([bf16.rollout(req), fp32.rollout(req), ref.rollout(req)]);
        expect(relErr(a.trajectory!, r.trajectory!), name).toBeLessThan(BF16_TOL);
        expect(relErr(a.finalLatents!, r.finalLatents!), name).toBeLessThan(BF16_TOL);
        expect(relErr(a.energies, r.energies), name).toBeLessThan(BF16_TOL);
        if (req.returnProprio) expect(relErr(a.proprio!, r.proprio!), name).toBeLessThan(BF16_TOL);
        expect(relErr(a.trajectory!, b.trajectory!), name).toBeGreaterThan(1e-6);
        bf16.dispose();
        fp32.dispose();
      }
    },
  );

  it.skipIf(!amxBf16)(
    'opt-in bfloat16 (AMX) ViT encode stays within 3e-2 of the reference (one frame on the pool, several frames one per thread)',
    async () => {
      const cases: [string, CheckpointConfig][] = [
        ...Object.entries(bf16Configs),
        ['vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio', configs['vit encoder (cls+patch, layer scale) + concat transformer predictor + proprio']!],
        ['vit encoder (cls, no qkv bias) + add transformer predictor without output head', configs['vit encoder (cls, no qkv bias) + add transformer predictor without output head']!],
      ];
      for (const [name, c] of cases) {
        const weights = initWeights(c, 41);
        const ref = createReferenceModel(c, weights);
        const fp32 = await createNativeModel(c, weights, { threads: 2 });
        const bf16 = await createNativeModel(c, weights, { threads: 2, precision: 'bfloat16' });
        for (const count of [1, 3]) {
          const frames = randomArray(count * modelDims(c).inputSize, 8 + count, 0, 1);
          const [a, b, r] = await Promise.all([bf16.encode(frames, count), fp32.encode(frames, count), ref.encode(frames, count)]);
          expect(relErr(a, r), `${name}, ${count} frame(s)`).toBeLessThan(BF16_TOL);
          expect(relErr(a, b), `${name}, ${count} frame(s)`).toBeGreaterThan(1e-6);
        }
        bf16.dispose();
        fp32.dispose();
      }
    },
  );

  it.skipIf(!amxBf16)(
    'bfloat16 leaves the mlp and cnn encoders in float32 (bit-identical encodes)',
    async () => {
      for (const name of ['mlp encoder (tanh) + non-residual silu mlp predictor', 'cnn encoder (no norm, avgpool, silu)']) {
        const c = configs[name]!;
        const weights = initWeights(c, 3);
        const fp32 = await createNativeModel(c, weights, { threads: 2 });
        const bf16 = await createNativeModel(c, weights, { threads: 2, precision: 'bfloat16' });
        const frames = randomArray(2 * modelDims(c).inputSize, 4, 0, 1);
        expect(Array.from(await bf16.encode(frames, 2)), name).toEqual(Array.from(await fp32.encode(frames, 2)));
        bf16.dispose();
        fp32.dispose();
      }
    },
  );

  it.skipIf(!addonBuilt || amxBf16)(
    'refuses bfloat16 on a CPU without AMX-BF16 with a message saying what it needs',
    async () => {
      const c = configs['vit encoder (patch tokens) + concat transformer predictor with history 4']!;
      await expect(createNativeModel(c, initWeights(c, 1), { precision: 'bfloat16' })).rejects.toThrow(/AMX-BF16/);
    },
  );

  it('rejects a checkpoint whose weights file is missing a tensor, naming it', async () => {
    const c = configs['mlp encoder (tanh) + non-residual silu mlp predictor']!;
    const weights = initWeights(c, 1);
    const dir = mkdtempSync(path.join(tmpdir(), 'jepa-native-ckpt-'));
    tmpDirs.push(dir);
    await saveCheckpoint(dir, c, weights);
    const bigger = cfg({ ...c, proprio: { dim: 2 } });
    await expect(loadNativeModel(dir, bigger)).rejects.toThrow(/proprio_head\.weight/);
  });
});
