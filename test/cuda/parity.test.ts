/**
 * The CUDA backend against the float64 reference (src/addon/reference): every
 * kernel (tensor-core linear with fused activation, layer norm, group norm,
 * attention unmasked and frame-causal, conv2d) and every architecture (mlp
 * predictor on the fused kernel and on the GEMM path, with and without layer
 * norm; transformer predictor concat/add, with and without output head, with
 * history; mlp, cnn and vit encoders), the on-device CEM planner, and the
 * training kernels (backward of linear, layer norm, activations, attention,
 * conv2d; AdamW) against src/train/reference-grad.ts.
 *
 * Tolerance: relErr (test/native/native-test-helpers.ts: worst absolute error
 * over the output's scale). GEMM operands are rounded to bf16 (8-bit
 * mantissa, relative rounding 2^-9 ≈ 2e-3 per operand) with fp32
 * accumulation, so one linear layer lands near 5e-3 and a deep stack or a
 * multi-step rollout compounds it: BF16_OP = 1e-2 for single GEMM ops,
 * BF16_MODEL = 4e-2 for whole models; fp32-only kernels (norms, attention)
 * use FP32 = 1e-4; the training kernels are all fp32 (GRAD = 1e-4, attention
 * and conv with atomics 1e-3).
 *
 * Without a CUDA device (this repository's CI) each GPU test is skipped and
 * the reason (the CUDA error string) is printed. What runs everywhere: the
 * build compiled the CUDA sources when nvcc is present, the refusal without a
 * device (`no CUDA device: ...`), the sampler's Philox generator (host build
 * of the same __host__ __device__ code) against the Random123 known-answer
 * vectors, and the TypeScript-side argument checks of
 * CudaWorldModel and CudaCemPlanner, on a fake native handle that fails the
 * test if it is reached.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it, test } from 'vitest';
import {
  CudaCemPlanner,
  type CudaCemArgs,
  CudaDeviceError,
  type CudaModelHandle,
  type CudaRolloutArgs,
  CudaWorldModel,
  cudaBindings,
  createCudaModel,
} from '../../src/addon/cuda-model';
import { toNativeSpec } from '../../src/addon/native-model';
import { createReferenceModel } from '../../src/addon/reference';
import * as ref from '../../src/addon/reference/ops';
import { ArgumentRangeError, ArgumentTypeError, MissingProprioHeadError, ModelDisposedError } from '../../src/addon/validate';
import { initWeights } from '../../src/model/checkpoint';
import * as grad from '../../src/train/reference-grad';
import { type CheckpointConfig, parseCheckpointConfig } from '../../src/model/config';
import { addon, addonBuilt, randomArray, relErr } from '../native/native-test-helpers';

const FP32 = 1e-4;
const GRAD = 1e-4;
const BF16_OP = 1e-2;
const BF16_MODEL = 4e-2;

const info = addonBuilt ? addon().cudaInfo() : undefined;
const hasDevice = (info?.devices.length ?? 0) > 0;
const skipReason = !addonBuilt
  ? 'the native addon is not built'
  : !info!.compiled
    ? 'the addon was built without CUDA'
    : `no CUDA device: ${info!.error ?? 'cudaGetDeviceCount reported none'}`;
if (!hasDevice) console.log(`CUDA parity tests skipped: ${skipReason}`);

/** A GPU test: runs with a device, otherwise skipped with the reason in its name. */
function gpu(name: string, fn: () => Promise<void> | void, timeout_ms = 60_000): void {
  test.skipIf(!hasDevice)(hasDevice ? name : `${name} [skipped: ${skipReason}]`, fn, timeout_ms);
}

function config(encoder: object, predictor: object, extra: Partial<Record<string, unknown>> = {}): CheckpointConfig {
  return parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name: 'cuda-parity',
    latent: { tokens: 1, dim: 16 },
    action: { dim: 3, low: [-1, -1, -1], high: [1, 1, 1] },
    encoder,
    predictor,
    proprio: { dim: 4 },
    ...extra,
  });
}

const MLP_ENC = { kind: 'mlp', inputDim: 10, hiddenDims: [24], layerNorm: true, outputNorm: true };

// ── runs everywhere ─────────────────────────────────────────────────────────

describe('CUDA build and refusal (no GPU needed)', () => {
  const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
  const nvccFound = nvcc.status === 0 && process.env.JEPA_CUDA?.toUpperCase() !== 'OFF';

  it.skipIf(!addonBuilt || !nvccFound)('with nvcc on PATH the addon compiled the CUDA backend and exports its binding', () => {
    expect(addon().buildInfo().cuda).toBe(true);
    const cuda = addon().cudaInfo();
    expect(cuda.compiled).toBe(true);
    expect(cuda.runtimeVersion).toBeGreaterThanOrEqual(12000);
    const b = cudaBindings();
    expect(typeof b.CudaModel).toBe('function');
    expect(typeof b.cudaOpForTest).toBe('function');
  });

  it.skipIf(!addonBuilt || hasDevice || !info?.compiled)('without a device createCudaModel refuses with "no CUDA device: <cuda error>"', async () => {
    const cfg = config(MLP_ENC, { kind: 'mlp', hiddenDims: [32] });
    const err = await createCudaModel(cfg, initWeights(cfg, 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CudaDeviceError);
    expect((err as Error).message).toMatch(/^no CUDA device: \S/);
    console.log(`createCudaModel without a device: ${(err as Error).message}`);
  });

  it.skipIf(!addonBuilt || hasDevice || !info?.compiled)('without a device a single CUDA op throws code CUDA_NO_DEVICE instead of crashing', () => {
    let caught: unknown;
    try {
      cudaBindings().cudaOpForTest('linear', { M: 2, K: 3, N: 4, x: new Float32Array(6), w: new Float32Array(12) });
    } catch (e) {
      caught = e;
    }
    expect((caught as { code?: string }).code).toBe('CUDA_NO_DEVICE');
  });

  it.skipIf(!addonBuilt || !info?.compiled)('the CEM sampler\'s Philox4x32-10 reproduces the Random123 known-answer vectors', () => {
    const philox = cudaBindings().cudaPhiloxForTest;
    const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');
    expect(hex(philox([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
    expect(hex(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe('408f276d 41c83b0e a20bc7c6 6d5451fd');
    expect(hex(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe('d16cfe09 94fdcceb 5001e420 24126ea1');
  });

  it.skipIf(!addonBuilt || !info?.compiled)('a single CUDA op refuses a wrongly sized array before any device work', () => {
    expect(() => cudaBindings().cudaOpForTest('linear', { M: 2, K: 3, N: 4, x: new Float32Array(5), w: new Float32Array(12) })).toThrow(
      /x must have 6 elements, got 5/,
    );
  });
});

describe('CudaModel binding spec parsing (no GPU needed)', () => {
  it.skipIf(!addonBuilt || hasDevice || !info?.compiled)(
    'accepts the spec toNativeSpec builds for every architecture and only then refuses for want of a device',
    async () => {
      for (const c of archCases()) {
        const handle = new (cudaBindings().CudaModel)();
        const record = Object.fromEntries(initWeights(c.cfg, 1));
        const err = await handle.createFromTensors(toNativeSpec(c.cfg), record).catch((e: unknown) => e);
        expect((err as { code?: string }).code, c.name).toBe('CUDA_NO_DEVICE');
      }
    },
  );

  it.skipIf(!addonBuilt || !info?.compiled)('refuses an unknown encoder kind with a TypeError naming the field', () => {
    const handle = new (cudaBindings().CudaModel)();
    const spec = { ...toNativeSpec(archCases()[0]!.cfg), encoder: 'rnn' } as unknown as ReturnType<typeof toNativeSpec>;
    expect(() => handle.createFromTensors(spec, {})).toThrow(/spec.encoder must be 'mlp', 'cnn' or 'vit', got 'rnn'/);
  });
});

/** A native handle that records what reached it; methods not in `allow` fail the test. */
function fakeHandle(allow: Partial<CudaModelHandle> = {}): { handle: CudaModelHandle; calls: string[] } {
  const calls: string[] = [];
  const refuse = (what: string) => () => {
    calls.push(what);
    throw new Error(`native ${what} must not be reached`);
  };
  const handle: CudaModelHandle = {
    createFromTensors: refuse('createFromTensors'),
    encode: allow.encode ?? refuse('encode'),
    rollout: allow.rollout ?? refuse('rollout'),
    decodeProprio: allow.decodeProprio ?? refuse('decodeProprio'),
    planCem: allow.planCem ?? refuse('planCem'),
    dispose: () => calls.push('dispose'),
    fusedRollout: false,
    deviceName: 'fake',
  };
  return { handle, calls };
}

describe('CudaWorldModel argument checks run before native code', () => {
  const cfg = config(MLP_ENC, { kind: 'mlp', hiddenDims: [32] }, { proprio: undefined });
  const L = 16;
  const A = 3;
  const good = () => ({
    z0: new Float32Array(L),
    actions: new Float32Array(2 * 4 * A),
    horizon: 4,
    goal: new Float32Array(L),
    cost: { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0 },
  });

  it('rejects a Float64Array of actions with ArgumentTypeError and never calls the device', async () => {
    const { handle, calls } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    await expect(m.rollout({ ...good(), actions: new Float64Array(24) as unknown as Float32Array })).rejects.toBeInstanceOf(ArgumentTypeError);
    expect(calls).toEqual([]);
  });

  it('rejects actions that are not a multiple of horizon × actionDim, naming the sizes', async () => {
    const { handle, calls } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    await expect(m.rollout({ ...good(), actions: new Float32Array(25) })).rejects.toThrow(/horizon 4 × actionDim 3.*got 25/);
    expect(calls).toEqual([]);
  });

  it('rejects a NaN in the goal with the index', async () => {
    const { handle } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    const goal = new Float32Array(L);
    goal[7] = Number.NaN;
    await expect(m.rollout({ ...good(), goal })).rejects.toThrow(ArgumentRangeError);
    await expect(m.rollout({ ...good(), goal })).rejects.toThrow(/goal\[7\] is NaN/);
  });

  it('rejects returnProprio and decodeProprio on a model without a proprio head', async () => {
    const { handle, calls } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    await expect(m.rollout({ ...good(), returnProprio: true })).rejects.toBeInstanceOf(MissingProprioHeadError);
    await expect(m.decodeProprio(new Float32Array(L), 1)).rejects.toBeInstanceOf(MissingProprioHeadError);
    expect(calls).toEqual([]);
  });

  it('rejects encode frames of the wrong size and any call after dispose', async () => {
    const { handle, calls } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    await expect(m.encode(new Float32Array(9), 1)).rejects.toThrow(/frames must have 10 elements/);
    m.dispose();
    await expect(m.encode(new Float32Array(10), 1)).rejects.toBeInstanceOf(ModelDisposedError);
    expect(calls).toEqual(['dispose']);
  });

  it('passes a valid request through with N, F and the bounds term only when boundsWeight > 0', async () => {
    const seen: CudaRolloutArgs[] = [];
    const { handle } = fakeHandle({
      rollout: async (a) => {
        seen.push(a);
        a.energies.fill(2.5);
      },
    });
    const m = new CudaWorldModel(cfg, handle);
    const bounds = { low: new Float32Array([-1, -1, -1]), high: new Float32Array([1, 1, 1]) };
    const r1 = await m.rollout({ ...good(), cost: { ...good().cost, actionBounds: bounds }, returnFinalLatents: true });
    const r2 = await m.rollout({ ...good(), cost: { ...good().cost, actionBounds: bounds, boundsWeight: 3 } });
    expect(seen[0]!.n).toBe(2);
    expect(seen[0]!.frames).toBe(1);
    expect(seen[0]!.boundsWeight).toBe(0);
    expect(seen[0]!.low).toBeUndefined();
    expect(seen[0]!.finalLatents?.length).toBe(2 * L);
    expect(seen[1]!.boundsWeight).toBe(3);
    expect(seen[1]!.high).toBe(bounds.high);
    expect(Array.from(r1.energies)).toEqual([2.5, 2.5]);
    expect(r2.finalLatents).toBeUndefined();
  });
});

describe('CudaCemPlanner checks and result mapping (fake device)', () => {
  const cfg = config(MLP_ENC, { kind: 'mlp', hiddenDims: [32] }, { action: { dim: 2, low: [0.5, -1], high: [2, 1] }, proprio: undefined });
  const L = 16;
  const state = { z0: new Float32Array(L) };
  const goal = { latent: new Float32Array(L).fill(0.1) };

  it('refuses a time-only budget, naming maxIterations, before any device work', async () => {
    const { handle, calls } = fakeHandle();
    const p = new CudaCemPlanner(new CudaWorldModel(cfg, handle), { horizon: 3, samples: 16 });
    await expect(p.plan(state, goal, { maxTime_ms: 5 })).rejects.toThrow(/maxIterations/);
    await expect(p.plan(state, { ...goal, proprio: { target: new Float32Array(1) } }, { maxIterations: 2 })).rejects.toThrow(/goal.proprio/);
    expect(calls).toEqual([]);
  });

  it('rejects more than 4096 samples and elites above samples at construction', () => {
    const { handle } = fakeHandle();
    const m = new CudaWorldModel(cfg, handle);
    expect(() => new CudaCemPlanner(m, { horizon: 3, samples: 5000 })).toThrow(/samples/);
    expect(() => new CudaCemPlanner(m, { horizon: 3, samples: 8, eliteCount: 9 })).toThrow(/eliteCount/);
  });

  it('starts from the box centre where 0 is outside the bounds, clips to them, advances the seed per plan, and maps the stats', async () => {
    const seen: CudaCemArgs[] = [];
    const { handle } = fakeHandle({
      planCem: async (a) => {
        seen.push({ ...a, initMean: a.initMean.slice() });
        a.bestActions.fill(0.75);
        a.finalMean.fill(0.5);
        a.iterationStats.set([3, 4, 2, 5]);
        return { bestEnergy: 2, usedGraph: true };
      },
    });
    const p = new CudaCemPlanner(new CudaWorldModel(cfg, handle), { horizon: 3, samples: 16, seed: 7, eliteFraction: 0.25 });
    const r = await p.plan(state, goal, { maxIterations: 2 });
    await p.plan(state, goal, { maxIterations: 2 });
    expect(Array.from(seen[0]!.initMean)).toEqual([1.25, 0, 1.25, 0, 1.25, 0]);
    expect(Array.from(seen[0]!.clipLow!)).toEqual([0.5, -1]);
    expect(seen[0]!.elites).toBe(4);
    expect(seen[0]!.seed).toBe(7);
    expect(seen[1]!.seed).toBe(8);
    expect(r.energy).toBe(2);
    expect(r.iterations).toBe(2);
    expect(r.trace.iterations.map((t) => [t.best, t.mean, t.bestSoFar])).toEqual([
      [3, 4, 3],
      [2, 5, 2],
    ]);
    expect(Array.from(r.actions)).toEqual([0.75, 0.75, 0.75, 0.75, 0.75, 0.75]);
  });
});

// ── GPU parity (skipped without a device) ───────────────────────────────────

describe('CUDA kernels vs float64 reference', () => {
  const op = (name: Parameters<ReturnType<typeof cudaBindings>['cudaOpForTest']>[0], args: Record<string, unknown>) =>
    cudaBindings().cudaOpForTest(name, args);

  gpu('tensor-core linear matches x·Wᵀ + b at edge-tile sizes (bf16 tolerance)', () => {
    let seed = 1;
    for (const M of [1, 17, 64, 130])
      for (const N of [1, 31, 64, 257])
        for (const K of [1, 15, 32, 200]) {
          const x = randomArray(M * K, seed++);
          const w = randomArray(N * K, seed++);
          const b = randomArray(N, seed++);
          const got = op('linear', { M, K, N, x, w, b });
          expect(relErr(got, ref.linear(x, M, w, b, K, N)), `M ${M} N ${N} K ${K}`).toBeLessThan(BF16_OP);
        }
  });

  gpu('linear with the fused erf-GELU epilogue matches gelu(x·Wᵀ + b)', () => {
    const [M, K, N] = [33, 48, 70];
    const x = randomArray(M * K, 5);
    const w = randomArray(N * K, 6);
    const b = randomArray(N, 7);
    const got = op('linear', { M, K, N, x, w, b, act: 'gelu' });
    expect(relErr(got, ref.activate(ref.linear(x, M, w, b, K, N), 'gelu'))).toBeLessThan(BF16_OP);
  });

  gpu('layer norm matches in fp32', () => {
    const [rows, C] = [37, 96];
    const x = randomArray(rows * C, 8, -3, 3);
    const w = randomArray(C, 9);
    const b = randomArray(C, 10);
    expect(relErr(op('layernorm', { rows, C, x, w, b, eps: 1e-6 }), ref.layerNorm(x, rows, C, w, b, 1e-6))).toBeLessThan(FP32);
  });

  gpu('group norm matches in fp32', () => {
    const [B, C, HW, groups] = [2, 16, 49, 4];
    const x = randomArray(B * C * HW, 11, -2, 2);
    const w = randomArray(C, 12);
    const b = randomArray(C, 13);
    const got = op('groupnorm', { B, C, HW, groups, x, w, b });
    for (let n = 0; n < B; n++) {
      const want = ref.groupNorm(x.subarray(n * C * HW, (n + 1) * C * HW), C, HW, groups, w, b, 1e-5);
      expect(relErr(got.subarray(n * C * HW, (n + 1) * C * HW), want)).toBeLessThan(FP32);
    }
  });

  for (const tpf of [0, 7]) {
    gpu(`attention matches ${tpf ? 'with the frame-causal mask' : 'unmasked'} (heads, head dims 16 and 64)`, () => {
      for (const [W, heads] of [
        [32, 2],
        [128, 2],
      ] as const) {
        const [B, T] = [3, 35];
        const qkv = randomArray(B * T * 3 * W, 14 + W, -2, 2);
        const got = op('attention', { B, T, W, heads, qkv, tokensPerFrame: tpf });
        for (let n = 0; n < B; n++) {
          const q = new Float32Array(T * W);
          const k = new Float32Array(T * W);
          const v = new Float32Array(T * W);
          for (let t = 0; t < T; t++)
            for (let c = 0; c < W; c++) {
              const base = (n * T + t) * 3 * W;
              q[t * W + c] = qkv[base + c]!;
              k[t * W + c] = qkv[base + W + c]!;
              v[t * W + c] = qkv[base + 2 * W + c]!;
            }
          const want = ref.attention(q, k, v, T, heads, W / heads, tpf);
          expect(relErr(got.subarray(n * T * W, (n + 1) * T * W), want), `W ${W} sample ${n}`).toBeLessThan(FP32 * 10);
        }
      }
    });
  }

  gpu('conv2d (im2col + tensor-core GEMM) matches with stride and padding', () => {
    const [B, C, H, W, O, k, stride, pad] = [2, 3, 13, 13, 8, 3, 2, 1];
    const x = randomArray(B * C * H * W, 20);
    const w = randomArray(O * C * k * k, 21);
    const b = randomArray(O, 22);
    const got = op('conv2d', { B, C, H, W, O, k, stride, pad, x, w, b });
    const per = got.length / B;
    for (let n = 0; n < B; n++) {
      const want = ref.conv2d(x.subarray(n * C * H * W, (n + 1) * C * H * W), C, H, W, w, b, O, k, stride, pad).out;
      expect(relErr(got.subarray(n * per, (n + 1) * per), want)).toBeLessThan(BF16_OP);
    }
  });
});

interface ArchCase {
  name: string;
  cfg: CheckpointConfig;
  frames: number;
  fused?: boolean;
}

const archCases = (): ArchCase[] => [
  { name: 'mlp predictor, fused kernel (widths <= 256)', cfg: config(MLP_ENC, { kind: 'mlp', hiddenDims: [64, 64] }), frames: 1, fused: true },
  {
    name: 'mlp predictor with layer norm and silu, fused kernel',
    cfg: config(MLP_ENC, { kind: 'mlp', hiddenDims: [48], layerNorm: true, activation: 'silu', residual: false }),
    frames: 1,
    fused: true,
  },
  { name: 'mlp predictor wider than 256 (tensor-core GEMM path)', cfg: config(MLP_ENC, { kind: 'mlp', hiddenDims: [320] }), frames: 1, fused: false },
  {
    name: 'cnn encoder (group norm, flatten) + mlp predictor',
    cfg: config(
      { kind: 'cnn', inChannels: 3, imageSize: 16, stages: [{ channels: 8, kernel: 3, stride: 2, padding: 1 }, { channels: 16, kernel: 3, stride: 2 }], groups: 4 },
      { kind: 'mlp', hiddenDims: [32] },
      { normalization: { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] } },
    ),
    frames: 1,
  },
  {
    name: 'cnn encoder whose proprio planes also join the head (proprioFeatures) + mlp predictor',
    cfg: config(
      { kind: 'cnn', inChannels: 5, imageSize: 16, stages: [{ channels: 8, kernel: 3, stride: 2, padding: 1 }], groups: 4, proprioPlanes: 2, proprioFeatures: true },
      { kind: 'mlp', hiddenDims: [32] },
      { normalization: { mean: [0.5, 0.4, 0.3, 0.1, -0.2], std: [0.2, 0.25, 0.3, 0.5, 2] } },
    ),
    frames: 1,
  },
  {
    name: 'vit encoder (cls+patch, layer scale) + transformer predictor (concat, history 3)',
    cfg: config(
      { kind: 'vit', imageSize: 16, patchSize: 8, embedDim: 32, depth: 2, numHeads: 2, layerScale: true, output: 'cls+patch' },
      { kind: 'transformer', depth: 2, numHeads: 4, historyLength: 3, actionEmbedDim: 8 },
      { latent: { tokens: 5, dim: 32 } },
    ),
    frames: 2,
  },
  {
    name: 'vit encoder (patch) + transformer predictor (add, no output head)',
    cfg: config(
      { kind: 'vit', imageSize: 16, patchSize: 8, embedDim: 32, depth: 1, numHeads: 2, output: 'patch' },
      { kind: 'transformer', depth: 1, numHeads: 2, historyLength: 2, actionEmbedDim: 32, actionConditioning: 'add', outputHead: false },
      { latent: { tokens: 4, dim: 32 } },
    ),
    frames: 1,
  },
];

describe('CUDA models vs the float64 reference model', () => {
  for (const c of archCases()) {
    gpu(`${c.name}: encode, rollout energies, trajectory, final latents and proprio agree`, async () => {
      const weights = initWeights(c.cfg, 3);
      const gpuModel = await createCudaModel(c.cfg, weights);
      const refModel = createReferenceModel(c.cfg, weights);
      try {
        if (c.fused !== undefined) expect(gpuModel.fusedRollout).toBe(c.fused);
        const dims = gpuModel.dims;
        const frames = randomArray(2 * dims.inputSize, 30, 0, 1);
        const zGpu = await gpuModel.encode(frames, 2);
        const zRef = await refModel.encode(frames, 2);
        expect(relErr(zGpu, zRef), 'encode').toBeLessThan(BF16_MODEL);
        const [N, H, A, L] = [9, 4, dims.actionDim, dims.latentSize];
        const request = {
          z0: randomArray(c.frames * L, 31),
          actionHistory: c.frames > 1 ? randomArray((c.frames - 1) * A, 32) : undefined,
          actions: randomArray(N * H * A, 33, -1.3, 1.3),
          horizon: H,
          goal: randomArray(L, 34),
          cost: {
            metric: 'l1' as const,
            terminalWeight: 2,
            runningWeight: 0.5,
            actionMagnitudeWeight: 0.1,
            actionRateWeight: 0.2,
            previousAction: randomArray(A, 35),
            actionBounds: { low: new Float32Array(A).fill(-1), high: new Float32Array(A).fill(1) },
            boundsWeight: 3,
          },
          returnFinalLatents: true,
          returnTrajectory: true,
          returnProprio: true,
        };
        const g = await gpuModel.rollout(request);
        const r = await refModel.rollout(request);
        expect(relErr(g.energies, r.energies), 'energies').toBeLessThan(BF16_MODEL);
        expect(relErr(g.trajectory!, r.trajectory!), 'trajectory').toBeLessThan(BF16_MODEL);
        expect(relErr(g.finalLatents!, r.finalLatents!), 'final latents').toBeLessThan(BF16_MODEL);
        expect(relErr(g.proprio!, r.proprio!), 'proprio').toBeLessThan(BF16_MODEL);
        const l2 = { ...request, cost: { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0 }, returnProprio: false };
        expect(relErr((await gpuModel.rollout(l2)).energies, (await refModel.rollout(l2)).energies), 'l2 energies').toBeLessThan(BF16_MODEL);
        const zs = randomArray(3 * L, 36);
        expect(relErr(await gpuModel.decodeProprio(zs, 3), await refModel.decodeProprio(zs, 3)), 'decodeProprio').toBeLessThan(BF16_OP);
      } finally {
        gpuModel.dispose();
        refModel.dispose();
      }
    });
  }
});

describe('CUDA CEM planner on the device', () => {
  gpu('the returned plan scores, under the reference model, the energy it reports and beats the zero plan', async () => {
    const cfg = config(MLP_ENC, { kind: 'mlp', hiddenDims: [64] }, { proprio: undefined });
    const weights = initWeights(cfg, 4);
    const gpuModel = await createCudaModel(cfg, weights);
    const refModel = createReferenceModel(cfg, weights);
    try {
      const planner = new CudaCemPlanner(gpuModel, { horizon: 5, samples: 256, seed: 1, energy: { metric: 'l2', terminalWeight: 1, runningWeight: 0.2 } });
      const z0 = randomArray(16, 40);
      const goal = randomArray(16, 41);
      const plan = await planner.plan({ z0 }, { latent: goal }, { maxIterations: 8 });
      const cost = { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0.2 };
      const [best] = (await refModel.rollout({ z0, actions: plan.actions, horizon: 5, goal, cost })).energies;
      const [zero] = (await refModel.rollout({ z0, actions: new Float32Array(15), horizon: 5, goal, cost })).energies;
      expect(Math.abs(best! - plan.energy) / Math.abs(best!)).toBeLessThan(BF16_MODEL);
      expect(plan.energy).toBeLessThanOrEqual(zero! * (1 + BF16_MODEL));
      expect(plan.trace.iterations.at(-1)!.bestSoFar).toBeLessThanOrEqual(plan.trace.iterations[0]!.best);
      for (const a of plan.actions) expect(Math.abs(a)).toBeLessThanOrEqual(1);
      // Same seed stream on a fresh planner → the same plan (Philox is counter-based, the graph replays identically).
      const again = await new CudaCemPlanner(gpuModel, { horizon: 5, samples: 256, seed: 1, energy: { metric: 'l2', terminalWeight: 1, runningWeight: 0.2 } }).plan(
        { z0 },
        { latent: goal },
        { maxIterations: 8 },
      );
      expect(Array.from(again.actions)).toEqual(Array.from(plan.actions));
    } finally {
      gpuModel.dispose();
      refModel.dispose();
    }
  });
});

describe('CUDA training kernels vs the float64 reference gradients', () => {
  const g = (name: Parameters<ReturnType<typeof cudaBindings>['cudaGradForTest']>[0], args: Record<string, unknown>) =>
    cudaBindings().cudaGradForTest(name, args);

  gpu('linear backward: dX = dY·W overwritten, dW and db accumulated onto what was passed', () => {
    const [rows, inDim, outDim] = [37, 70, 45];
    const x = randomArray(rows * inDim, 50);
    const w = randomArray(outDim * inDim, 51);
    const dY = randomArray(rows * outDim, 52);
    const dW0 = randomArray(outDim * inDim, 53);
    const db0 = randomArray(outDim, 54);
    const got = g('linear', { rows, in: inDim, out: outDim, x, w, dY, dW: dW0, db: db0 });
    const want = grad.linearBackward(x, rows, w, dY, inDim, outDim);
    expect(relErr(got.dX!, want.dX)).toBeLessThan(GRAD);
    expect(relErr(got.dW!, want.dW.map((v, i) => v + dW0[i]!))).toBeLessThan(GRAD);
    expect(relErr(got.db!, want.db.map((v, i) => v + db0[i]!))).toBeLessThan(GRAD);
  });

  gpu('layer norm backward matches dX, dw, db', () => {
    const [rows, C] = [19, 96];
    const x = randomArray(rows * C, 55, -2, 2);
    const w = randomArray(C, 56);
    const dY = randomArray(rows * C, 57);
    const got = g('layernorm', { rows, C, x, w, dY, eps: 1e-5 });
    const want = grad.layerNormBackward(x, rows, C, w, dY, 1e-5);
    expect(relErr(got.dX!, want.dX)).toBeLessThan(GRAD * 10);
    expect(relErr(got.dw!, want.dw)).toBeLessThan(GRAD * 10);
    expect(relErr(got.db!, want.db)).toBeLessThan(GRAD * 10);
  });

  for (const act of ['gelu', 'relu', 'tanh', 'silu'] as const) {
    gpu(`${act} backward matches dY·act'(x)`, () => {
      const x = randomArray(1000, 58, -4, 4);
      const dY = randomArray(1000, 59);
      expect(relErr(g('activation', { n: 1000, x, dY, act }).dX!, grad.activationBackward(x, dY, act))).toBeLessThan(GRAD);
    });
  }

  for (const tpf of [0, 5]) {
    gpu(`attention backward matches dq, dk, dv ${tpf ? 'with the frame-causal mask' : 'unmasked'}`, () => {
      const [B, T, W, heads] = [2, 15, 32, 2];
      const qkv = randomArray(B * T * 3 * W, 60, -1.5, 1.5);
      const dout = randomArray(B * T * W, 61);
      const got = g('attention', { B, T, W, heads, qkv, dout, tokensPerFrame: tpf }).dqkv!;
      for (let n = 0; n < B; n++) {
        const part = (off: number) => {
          const out = new Float32Array(T * W);
          for (let t = 0; t < T; t++) for (let c = 0; c < W; c++) out[t * W + c] = qkv[(n * T + t) * 3 * W + off + c]!;
          return out;
        };
        const want = grad.attentionBackward(part(0), part(W), part(2 * W), dout.subarray(n * T * W, (n + 1) * T * W), T, heads, W / heads, tpf);
        const mine = (off: number) => {
          const out = new Float32Array(T * W);
          for (let t = 0; t < T; t++) for (let c = 0; c < W; c++) out[t * W + c] = got[(n * T + t) * 3 * W + off + c]!;
          return out;
        };
        expect(relErr(mine(0), want.dQ), `dQ sample ${n}`).toBeLessThan(1e-3);
        expect(relErr(mine(W), want.dK), `dK sample ${n}`).toBeLessThan(1e-3);
        expect(relErr(mine(2 * W), want.dV), `dV sample ${n}`).toBeLessThan(1e-3);
      }
    });
  }

  gpu('conv2d backward matches dX, dW, db with stride and padding (batch of 2 accumulates dW over images)', () => {
    const [B, C, H, W, O, k, stride, pad] = [2, 3, 9, 9, 4, 3, 2, 1];
    const x = randomArray(B * C * H * W, 62);
    const w = randomArray(O * C * k * k, 63);
    const OH = ref.convOutSize(H, k, stride, pad);
    const dY = randomArray(B * O * OH * OH, 64);
    const got = g('conv2d', { B, C, H, W, O, k, stride, pad, x, w, dY });
    const dW = new Float64Array(O * C * k * k);
    const db = new Float64Array(O);
    for (let n = 0; n < B; n++) {
      const want = grad.conv2dBackward(
        x.subarray(n * C * H * W, (n + 1) * C * H * W), C, H, W, w, dY.subarray(n * O * OH * OH, (n + 1) * O * OH * OH), O, k, stride, pad,
      );
      expect(relErr(got.dX!.subarray(n * C * H * W, (n + 1) * C * H * W), want.dX), `dX image ${n}`).toBeLessThan(1e-3);
      want.dW.forEach((v, i) => (dW[i] += v));
      want.db.forEach((v, i) => (db[i] += v));
    }
    expect(relErr(got.dW!, dW)).toBeLessThan(1e-3);
    expect(relErr(got.db!, db)).toBeLessThan(1e-3);
  });

  gpu('AdamW matches the reference update at step 3 with weight decay', () => {
    const param = randomArray(500, 65);
    const gr = randomArray(500, 66);
    const m = randomArray(500, 67, -0.1, 0.1);
    const v = randomArray(500, 68, 0, 0.1);
    const hp = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, step: 3 };
    const got = g('adamw', { param, grad: gr, m, v, ...hp });
    const want = grad.adamwReference(param, gr, m, v, hp);
    expect(relErr(got.param!, want.param)).toBeLessThan(GRAD);
    expect(relErr(got.m!, want.m)).toBeLessThan(GRAD);
    expect(relErr(got.v!, want.v)).toBeLessThan(GRAD);
  });
});
