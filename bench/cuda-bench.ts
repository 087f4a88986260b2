/**
 * CUDA backend benchmark: one CEM plan (every iteration on the GPU, one CUDA
 * graph replay each; CudaCemPlanner) against the same plan in PyTorch eager
 * and torch.compile(mode='reduce-overhead') on the same GPU with the same
 * weights (bench/torch_peer.py reads the safetensors this script writes), and
 * the achieved TFLOP/s against the card's dense bf16 tensor-core peak.
 *
 * Workloads:
 *   dino-wm   DINO-WM scale: transformer predictor, depth 6, width 384, 6 heads,
 *             196 patch tokens per frame, history 3 (z0 holds 3 frames), action
 *             dim 10; CEM 100 samples × 10 iterations × horizon 5
 *   small     latent 192, MLP predictor 202 → 2048 → 2048 → 2048 → 192 (≈ 9.2 M
 *             parameters, tensor-core GEMM path); CEM 300 × 30 × 5
 *   fused     latent 64, MLP predictor 71 → 128 → 128 → 64 (≈ 34 k parameters: its
 *             fp32 weights fit in one block's shared memory, so every rollout
 *             is the single fused kernel); CEM 1024 × 30 × 16
 *
 * Run on a GPU machine (from the repository root, after `npm run build:addon`
 * with nvcc on PATH; PyTorch with CUDA for the peer):
 *   npx tsx bench/cuda-bench.ts [--only dino-wm,small,fused] [--plans 10] [--json] [--no-peer]
 *   (or `npm run bench:cuda` once package.json has that script)
 * Without a CUDA device it prints why and exits with status 2.
 *
 * FLOPs counted: 2·in·out per Linear row; attention 4·T²·W per layer (the
 * frame-causal mask is ignored, as dense kernels compute it), per sample and
 * step; sampling, energies and top-k are not counted. The peak comes from a
 * table of known cards (dense bf16, no sparsity); unknown cards print no ratio.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { CudaCemPlanner, createCudaModel, CudaDeviceError, requireCudaDevice, cudaBindings } from '../src/addon/cuda-model';
import { initWeights, saveCheckpoint } from '../src/model/checkpoint';
import { type CheckpointConfig, modelDims, parseCheckpointConfig } from '../src/model/config';

const WORKLOADS = ['dino-wm', 'small', 'fused'] as const;
type WorkloadName = (typeof WORKLOADS)[number];

const flagsSchema = z.strictObject({
  only: z.array(z.enum(WORKLOADS)).min(1),
  plans: z.number().int().positive(),
  json: z.boolean(),
  peer: z.boolean(),
  out: z.string().min(1),
});
type Flags = z.infer<typeof flagsSchema>;

function parseFlags(argv: string[]): Flags {
  const raw: Record<string, unknown> = { only: [...WORKLOADS], plans: 10, json: false, peer: true, out: path.join(os.tmpdir(), 'jepa-cuda-bench') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') raw.json = true;
    else if (a === '--no-peer') raw.peer = false;
    else if (a === '--only') raw.only = (argv[++i] ?? '').split(',');
    else if (a === '--plans') raw.plans = Number(argv[++i]);
    else if (a === '--out') raw.out = argv[++i];
    else throw new Error(`cuda-bench: unknown flag ${a} (--only, --plans, --json, --no-peer, --out)`);
  }
  const parsed = flagsSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`cuda-bench: bad flags: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

interface Workload {
  name: WorkloadName;
  cfg: CheckpointConfig;
  frames: number;
  samples: number;
  iterations: number;
  horizon: number;
  /** FLOPs of one predictor step for one sample with a window of `frames` frames. */
  stepFlops(frames: number): number;
}

function base(name: string, latent: { tokens: number; dim: number }, actionDim: number, encoder: object, predictor: object): CheckpointConfig {
  return parseCheckpointConfig({
    format: 'jepa-runtime.checkpoint/1',
    name,
    latent,
    action: { dim: actionDim, low: new Array(actionDim).fill(-1), high: new Array(actionDim).fill(1) },
    encoder,
    predictor,
  });
}

function mlpFlops(dims: number[]): number {
  let f = 0;
  for (let i = 0; i + 1 < dims.length; i++) f += 2 * dims[i]! * dims[i + 1]!;
  return f;
}

function workloads(): Workload[] {
  const T = 196;
  const W = 384;
  const depth = 6;
  const dinoWm: Workload = {
    name: 'dino-wm',
    cfg: base(
      'bench-dino-wm',
      { tokens: T, dim: W },
      10,
      { kind: 'vit', imageSize: 224, patchSize: 16, embedDim: W, depth: 1, numHeads: 6, output: 'patch' },
      { kind: 'transformer', depth, numHeads: 6, historyLength: 3, actionEmbedDim: W, actionConditioning: 'add' },
    ),
    frames: 3,
    samples: 100,
    iterations: 10,
    horizon: 5,
    stepFlops: (frames) => {
      const tokens = frames * T;
      const perLayer = 2 * tokens * (3 * W * W + W * W + 2 * 4 * W * W) + 4 * tokens * tokens * W;
      return depth * perLayer + 2 * T * W * W + 2 * frames * 10 * W;
    },
  };
  const small: Workload = {
    name: 'small',
    cfg: base('bench-small', { tokens: 1, dim: 192 }, 10, { kind: 'mlp', inputDim: 32, hiddenDims: [64] }, { kind: 'mlp', hiddenDims: [2048, 2048, 2048] }),
    frames: 1,
    samples: 300,
    iterations: 30,
    horizon: 5,
    stepFlops: () => mlpFlops([202, 2048, 2048, 2048, 192]),
  };
  const fused: Workload = {
    name: 'fused',
    cfg: base('bench-fused', { tokens: 1, dim: 64 }, 7, { kind: 'mlp', inputDim: 32, hiddenDims: [64] }, { kind: 'mlp', hiddenDims: [128, 128] }),
    frames: 1,
    samples: 1024,
    iterations: 30,
    horizon: 16,
    stepFlops: () => mlpFlops([71, 128, 128, 64]),
  };
  return [dinoWm, small, fused];
}

function planFlops(w: Workload, historyLength: number): number {
  let perSample = 0;
  for (let t = 0; t < w.horizon; t++) perSample += w.stepFlops(Math.min(historyLength, w.frames + t));
  return perSample * w.samples * w.iterations;
}

/** Dense bf16 tensor-core peak (TFLOP/s, no sparsity) of known cards, by name substring. */
const PEAKS: [RegExp, number][] = [
  [/H200/, 989],
  [/H100.*(SXM|HBM3)/, 989],
  [/H100.*NVL/, 835],
  [/H100/, 756],
  [/A100/, 312],
  [/L40S/, 362],
  [/L4\b/, 121],
  [/A10\b/, 125],
  [/RTX 4090/, 165],
  [/RTX 3090/, 71],
];

function peakOf(device: string): number | undefined {
  return PEAKS.find(([re]) => re.test(device))?.[1];
}

interface PeerResult {
  mode: string;
  ms_per_plan?: number;
  best_energy?: number;
  error?: string;
}

function runPeer(dir: string, mode: 'eager' | 'compile', plans: number): PeerResult {
  const script = path.join(path.dirname(new URL(import.meta.url).pathname), 'torch_peer.py');
  const r = spawnSync('python3', [script, '--dir', dir, '--mode', mode, '--plans', String(plans)], { encoding: 'utf8', timeout: 600_000 });
  if (r.error) return { mode, error: `python3 could not run: ${r.error.message}` };
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    const parsed = z.object({ ms_per_plan: z.number().optional(), best_energy: z.number().optional(), error: z.string().optional() }).parse(JSON.parse(line));
    return { mode, ...parsed, error: parsed.error ?? (r.status !== 0 ? `exit ${r.status}: ${r.stderr.trim().split('\n').at(-1)}` : undefined) };
  } catch {
    return { mode, error: `no JSON from torch_peer.py (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').at(-1)}` };
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function bench(w: Workload, flags: Flags): Promise<Record<string, unknown>> {
  const dims = modelDims(w.cfg);
  const weights = initWeights(w.cfg, 7);
  const dir = path.join(flags.out, w.name);
  mkdirSync(dir, { recursive: true });
  const z0 = new Float32Array(w.frames * dims.latentSize);
  const goal = new Float32Array(dims.latentSize);
  for (let i = 0; i < z0.length; i++) z0[i] = Math.sin(i * 0.37);
  for (let i = 0; i < goal.length; i++) goal[i] = Math.cos(i * 0.11);
  const energy = { metric: 'l2' as const, terminalWeight: 1, runningWeight: 0.1, actionMagnitudeWeight: 0, actionRateWeight: 0 };
  const elites = Math.max(2, Math.round(0.1 * w.samples));
  if (flags.peer) {
    await saveCheckpoint(dir, w.cfg, weights);
    writeFileSync(
      path.join(dir, 'plan.json'),
      JSON.stringify({
        samples: w.samples,
        iterations: w.iterations,
        horizon: w.horizon,
        actionDim: dims.actionDim,
        elites,
        initStd: 1,
        minStd: 1e-3,
        momentum: 0,
        stdMomentum: 0.3,
        seed: 1,
        frames: w.frames,
        z0: Array.from(z0),
        goal: Array.from(goal),
        low: w.cfg.action.low,
        high: w.cfg.action.high,
        cost: energy,
      }),
    );
  }
  const model = await createCudaModel(w.cfg, weights);
  try {
    const planner = new CudaCemPlanner(model, { horizon: w.horizon, samples: w.samples, eliteCount: elites, seed: 1, energy });
    const state = { z0 };
    const budget = { maxIterations: w.iterations };
    for (let i = 0; i < 3; i++) await planner.plan(state, { latent: goal }, budget);
    const times: number[] = [];
    let energyOut = Number.NaN;
    for (let i = 0; i < flags.plans; i++) {
      const t0 = performance.now();
      const r = await planner.plan(state, { latent: goal }, budget);
      times.push(performance.now() - t0);
      energyOut = r.energy;
    }
    const ms = median(times);
    const flops = planFlops(w, dims.historyLength);
    const tflops = flops / (ms * 1e-3) / 1e12;
    const device = model.deviceName;
    const peak = peakOf(device);
    const eager = flags.peer ? runPeer(dir, 'eager', flags.plans) : undefined;
    const compiled = flags.peer ? runPeer(dir, 'compile', flags.plans) : undefined;
    return {
      name: w.name,
      device,
      fused: model.fusedRollout,
      ms_per_plan: ms,
      best_energy: energyOut,
      gflop_per_plan: flops / 1e9,
      tflops,
      peak_tflops: peak ?? null,
      peak_fraction: peak ? tflops / peak : null,
      torch_eager_ms: eager?.ms_per_plan ?? null,
      torch_compile_ms: compiled?.ms_per_plan ?? null,
      speedup_vs_eager: eager?.ms_per_plan ? eager.ms_per_plan / ms : null,
      speedup_vs_compile: compiled?.ms_per_plan ? compiled.ms_per_plan / ms : null,
      peer_errors: [eager?.error, compiled?.error].filter((e) => e !== undefined),
    };
  } finally {
    model.dispose();
  }
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  try {
    requireCudaDevice(cudaBindings());
  } catch (e) {
    if (e instanceof CudaDeviceError) {
      console.error(`cuda-bench: cannot run: ${e.message}`);
      return 2;
    }
    throw e;
  }
  const fmt = (v: unknown, digits = 2) => (typeof v === 'number' ? v.toFixed(digits) : '—');
  if (!flags.json) {
    console.log('workload  device                         ours ms/plan  torch eager  torch compile  ×eager  ×compile  TFLOP/s  % peak');
  }
  for (const w of workloads().filter((x) => flags.only.includes(x.name))) {
    const r = await bench(w, flags);
    if (flags.json) {
      console.log(JSON.stringify(r));
      continue;
    }
    console.log(
      [
        String(r.name).padEnd(9),
        String(r.device).slice(0, 30).padEnd(30),
        fmt(r.ms_per_plan).padStart(13),
        fmt(r.torch_eager_ms).padStart(12),
        fmt(r.torch_compile_ms).padStart(14),
        fmt(r.speedup_vs_eager).padStart(7),
        fmt(r.speedup_vs_compile).padStart(9),
        fmt(r.tflops, 1).padStart(8),
        (r.peak_fraction === null ? '—' : `${(100 * (r.peak_fraction as number)).toFixed(1)}%`).padStart(7),
      ].join(' '),
    );
    for (const e of r.peer_errors as string[]) console.log(`  peer: ${e}`);
  }
  return 0;
}

process.exitCode = await main();
