/**
 * Benchmarks of the native CPU backend against onnxruntime-node (CPU) running
 * the same models with the same weights in the same process, and against the
 * machine's GEMM peak. `npm run bench` prints a table; `npm run bench -- --json`
 * prints one JSON object per workload:
 *   {name, unit, ours_per_s, peer, peer_per_s, ratio, gflops, peak_gflops, peer_rel_diff}
 * gflops = matmul FLOPs we actually execute per second.
 * Workloads:
 *   (a) mlp predictor rollout: latent 64, hidden 256×2, action 7, N = 1024, H = 16
 *       (again with the opt-in bfloat16 AMX predictor when the CPU has AMX-BF16;
 *       its peer_rel_diff shows the bf16 error against the float32 peer)
 *   (b) transformer predictor rollout: depth 6, width 384, 16 tokens/frame,
 *       history 3 (window grows from one start frame), N = 256, H = 5
 *       (again in opt-in bfloat16 on AMX when the CPU has AMX-BF16)
 *   (c) ViT-S/14 encode of one 224-px frame (embedDim 384, depth 12, 6 heads)
 *       (again in opt-in bfloat16 on AMX when the CPU has AMX-BF16)
 * Every bfloat16 row times its own float32 onnxruntime peer in the same call,
 * like the float32 rows.
 * The peer runs each rollout as one ONNX graph with the horizon unrolled (one
 * session.run per rollout; see onnx-export.ts), intra-op threads = our thread
 * count, inter-op 1, sequential execution, all graph optimisations. Ours and
 * the peer are timed in alternating blocks (see rates); rates come from the
 * median call time. Energies
 * (metric l1, running + terminal weight 1) and latents of both are compared
 * (peer_rel_diff) so the two compute the same thing.
 * Flags: --json, --threads N (default: cores), --seconds S per measurement
 * (default 3), --only a,b,c.
 */
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { z } from 'zod';
import { loadNativeAddon } from '../src/addon/native';
import { createNativeModel } from '../src/addon/native-model';
import { initWeights } from '../src/model/checkpoint';
import { type CheckpointConfig, modelDims, parseCheckpointConfig } from '../src/model/config';
import { mlpHidden } from '../src/model/tensors';
import { exportMlpRollout, exportTransformerRollout, exportVitEncoder } from './onnx-export';

const flagsSchema = z.object({
  json: z.boolean(),
  threads: z.number().int().positive(),
  seconds: z.number().positive(),
  only: z.array(z.enum(['a', 'b', 'c'])),
});

function parseFlags(argv: string[]): z.infer<typeof flagsSchema> {
  const raw: Record<string, unknown> = { json: false, threads: os.availableParallelism(), seconds: 3, only: ['a', 'b', 'c'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') raw.json = true;
    else if (a === '--threads') raw.threads = Number(argv[++i]);
    else if (a === '--seconds') raw.seconds = Number(argv[++i]);
    else if (a === '--only') raw.only = (argv[++i] ?? '').split(',');
    else throw new RangeError(`bench: unknown flag ${a} (--json, --threads N, --seconds S, --only a,b,c)`);
  }
  const parsed = flagsSchema.safeParse(raw);
  if (!parsed.success) throw new RangeError(`bench: bad flags: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

interface Row {
  name: string;
  unit: string;
  ours_per_s: number;
  peer: string;
  peer_per_s: number;
  ratio: number;
  gflops: number;
  peak_gflops: number;
  peer_rel_diff: number;
}

/**
 * Times ours and the peer in blocks (ours, peer, ours, peer; each about
 * seconds/2) after warm-up, so both see the same machine load while neither
 * runs right after the other's threads (onnxruntime's intra-op threads spin
 * for a while after each run, which would slow whoever runs next). Returns
 * calls per second of each from the median call time, which shrugs off
 * preemption spikes on a shared machine.
 */
async function rates(ours: () => Promise<unknown>, peer: () => Promise<unknown>, seconds: number): Promise<[number, number]> {
  const times: [number[], number[]] = [[], []];
  const fns = [ours, peer];
  for (let round = 0; round < 2; round++) {
    for (let who = 0; who < 2; who++) {
      const fn = fns[who]!;
      await fn();
      await fn();
      let spent = 0;
      let calls = 0;
      while (spent < (seconds / 2) * 1000 || calls < 3) {
        const t0 = performance.now();
        await fn();
        const dt = performance.now() - t0;
        times[who]!.push(dt);
        spent += dt;
        calls++;
      }
    }
  }
  const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
  return [1000 / median(times[0]), 1000 / median(times[1])];
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  return maxDiff / (maxRef + 1e-12);
}

function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + (s / 4294967296) * (hi - lo);
  }
  return out;
}

const base = { format: 'jepa-runtime.checkpoint/1' } as const;

const mlpConfig = parseCheckpointConfig({
  ...base,
  name: 'bench-mlp',
  latent: { tokens: 1, dim: 64 },
  action: { dim: 7 },
  encoder: { kind: 'mlp', inputDim: 16, hiddenDims: [64] },
  predictor: { kind: 'mlp', hiddenDims: [256, 256], activation: 'gelu', residual: true },
});

const tfConfig = parseCheckpointConfig({
  ...base,
  name: 'bench-transformer',
  latent: { tokens: 16, dim: 384 },
  action: { dim: 7 },
  encoder: { kind: 'vit', imageSize: 16, patchSize: 4, embedDim: 384, depth: 1, numHeads: 6, output: 'patch' },
  predictor: { kind: 'transformer', depth: 6, numHeads: 6, historyLength: 3, actionEmbedDim: 384, actionConditioning: 'add' },
});

const vitConfig = parseCheckpointConfig({
  ...base,
  name: 'bench-vit-s14',
  latent: { tokens: 1, dim: 384 },
  action: { dim: 7 },
  encoder: { kind: 'vit', imageSize: 224, patchSize: 14, embedDim: 384, depth: 12, numHeads: 6, output: 'cls' },
  predictor: { kind: 'mlp', hiddenDims: [] },
});

/** FLOPs of one pre-norm block on `tokens` tokens (matmuls only), attention over `visible` keys per query on average. */
function blockFlops(tokens: number, W: number, ratio: number, visible: number): number {
  const hidden = mlpHidden(W, ratio);
  return 2 * tokens * (3 * W * W + W * W + 2 * W * hidden) + 2 * 2 * tokens * visible * W;
}

async function session(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

async function benchRollout(
  name: string,
  cfg: CheckpointConfig,
  N: number,
  H: number,
  flopsPerRollout: number,
  exportFn: (cfg: CheckpointConfig, w: Map<string, Float32Array>, N: number, H: number) => Uint8Array,
  flags: z.infer<typeof flagsSchema>,
  peak: number,
  precision: 'float32' | 'bfloat16' = 'float32',
): Promise<Row> {
  const dims = modelDims(cfg);
  const weights = initWeights(cfg, 1);
  const model = await createNativeModel(cfg, weights, { threads: flags.threads, precision });
  const z0 = rand(dims.latentSize, 2);
  const goal = rand(dims.latentSize, 3);
  const actions = rand(N * H * dims.actionDim, 4);
  const req = { z0, actions, horizon: H, goal, cost: { metric: 'l1' as const, runningWeight: 1, terminalWeight: 1 } };
  const sess = await session(exportFn(cfg, weights, N, H), flags.threads);
  const tokens = dims.latentTokens;
  const feeds = {
    z0: new ort.Tensor('float32', z0, tokens > 1 ? [1, tokens, dims.latentDim] : [1, dims.latentDim]),
    actions: new ort.Tensor('float32', actions, [N, H, dims.actionDim]),
    goal: new ort.Tensor('float32', goal, [1, dims.latentSize]),
  };
  const ours = (await model.rollout(req)).energies;
  const theirs = (await sess.run(feeds)).energies!.data as Float32Array;
  const diff = relDiff(ours, theirs);
  const [oursRate, peerRate] = await rates(() => model.rollout(req), () => sess.run(feeds), flags.seconds);
  model.dispose();
  await sess.release();
  return {
    name,
    unit: 'sample-steps/s',
    ours_per_s: oursRate * N * H,
    peer: `onnxruntime-node ${ort.env.versions.node} cpu`,
    peer_per_s: peerRate * N * H,
    ratio: oursRate / peerRate,
    gflops: (oursRate * flopsPerRollout) / 1e9,
    peak_gflops: peak,
    peer_rel_diff: diff,
  };
}

async function benchVit(
  flags: z.infer<typeof flagsSchema>,
  peak: number,
  precision: 'float32' | 'bfloat16' = 'float32',
): Promise<Row> {
  const cfg = vitConfig;
  const enc = cfg.encoder as Extract<CheckpointConfig['encoder'], { kind: 'vit' }>;
  const dims = modelDims(cfg);
  const weights = initWeights(cfg, 5);
  const model = await createNativeModel(cfg, weights, { threads: flags.threads, precision });
  const frame = rand(dims.inputSize, 6, 0, 1);
  const sess = await session(exportVitEncoder(cfg, weights), flags.threads);
  const feeds = { image: new ort.Tensor('float32', frame, [1, enc.inChannels, enc.imageSize, enc.imageSize]) };
  const ours = await model.encode(frame, 1);
  const theirs = (await sess.run(feeds)).latent!.data as Float32Array;
  const diff = relDiff(ours, theirs);
  const [oursRate, peerRate] = await rates(() => model.encode(frame, 1), () => sess.run(feeds), flags.seconds);
  model.dispose();
  await sess.release();
  const T = (enc.imageSize / enc.patchSize) ** 2 + 1;
  const flops = enc.depth * blockFlops(T, enc.embedDim, enc.mlpRatio, T) + 2 * (T - 1) * enc.embedDim * enc.inChannels * enc.patchSize ** 2;
  return {
    name:
      `(c) ${precision === 'bfloat16' ? 'same, opt-in bfloat16 linears on AMX (peer stays float32)' : 'ViT-S/14 encode 224px, 1 frame'} ` +
      `(${(1000 / oursRate).toFixed(1)} ms ours, ${(1000 / peerRate).toFixed(1)} ms peer)`,
    unit: 'frames/s',
    ours_per_s: oursRate,
    peer: `onnxruntime-node ${ort.env.versions.node} cpu`,
    peer_per_s: peerRate,
    ratio: oursRate / peerRate,
    gflops: (oursRate * flops) / 1e9,
    peak_gflops: peak,
    peer_rel_diff: diff,
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const addon = loadNativeAddon();
  const info = addon.kernelInfo();
  // Machine peak: our best GEMM on large square problems, best of several
  // short windows (a shared machine preempts long ones).
  let peak = 0;
  for (const n of [512, 1024]) for (let r = 0; r < 6; r++) peak = Math.max(peak, addon.gemmBench(n, flags.threads, 0.25));
  const mhz = Number(/cpu MHz\s*:\s*([\d.]+)/.exec((await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 0);
  const lanes = info.active === 'avx512' ? 16 : info.active === 'avx2' ? 8 : 4;
  const theoretical = (flags.threads * (mhz / 1000) * 2 /* FMA ports */ * lanes * 2) || 0;
  const rows: Row[] = [];
  const emit = (r: Row) => {
    rows.push(r);
    if (flags.json) console.log(JSON.stringify(r));
  };
  if (!flags.json) {
    console.log(`kernels ${info.active}, threads ${flags.threads}; measured GEMM peak ${peak.toFixed(0)} GFLOP/s; ` +
      `theoretical FMA peak ${theoretical.toFixed(0)} GFLOP/s (${flags.threads} cores × ${(mhz / 1000).toFixed(2)} GHz nominal × 2 FMA ports × ${lanes} lanes × 2)`);
  }
  if (flags.only.includes('a')) {
    const N = 1024, H = 16;
    const perStep = 2 * (71 * 256 + 256 * 256 + 256 * 64);
    emit(await benchRollout('(a) mlp predictor rollout N=1024 H=16', mlpConfig, N, H, N * H * perStep, exportMlpRollout, flags, peak));
    if (info.amxBf16) {
      emit(await benchRollout('(a) same, opt-in bfloat16 predictor on AMX (peer stays float32)', mlpConfig, N, H, N * H * perStep, exportMlpRollout, flags, peak, 'bfloat16'));
    }
  }
  if (flags.only.includes('b')) {
    const N = 256, H = 5, T = 16, W = 384, hist = 3, depth = 6;
    // FLOPs we execute (model.cc): while the window grows only the new frame
    // is computed against cached keys/values; once it slides, every frame is
    // recomputed and the last block runs attention/MLP for the last frame only.
    let flops = 0;
    let prevF = 0;
    for (let step = 0; step < H; step++) {
      const F = Math.min(step + 1, hist);
      const growing = F === prevF + 1;
      if (growing) {
        flops += N * depth * blockFlops(T, W, 4, F * T);
      } else {
        const tokens = F * T;
        const visible = (T * (F + 1)) / 2; // frame-causal: frame f sees (f + 1) · T keys
        flops += N * ((depth - 1) * blockFlops(tokens, W, 4, visible) + 2 * tokens * 3 * W * W + blockFlops(T, W, 4, F * T) - 2 * T * 3 * W * W);
      }
      flops += N * 2 * T * W * W; // head
      prevF = F;
    }
    emit(await benchRollout('(b) transformer predictor rollout N=256 H=5', tfConfig, N, H, flops, exportTransformerRollout, flags, peak));
    if (info.amxBf16) {
      emit(await benchRollout('(b) same, opt-in bfloat16 linears on AMX (peer stays float32)', tfConfig, N, H, flops, exportTransformerRollout, flags, peak, 'bfloat16'));
    }
  }
  if (flags.only.includes('c')) {
    emit(await benchVit(flags, peak));
    if (info.amxBf16) emit(await benchVit(flags, peak, 'bfloat16'));
  }
  if (!flags.json) {
    console.table(
      rows.map((r) => ({
        workload: r.name,
        unit: r.unit,
        ours: r.ours_per_s.toFixed(0),
        peer: r.peer_per_s.toFixed(0),
        ratio: r.ratio.toFixed(2),
        'GFLOP/s': r.gflops.toFixed(1),
        'peak GFLOP/s': r.peak_gflops.toFixed(0),
        'rel diff vs peer': r.peer_rel_diff.toExponential(1),
      })),
    );
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
