/**
 * Planner overhead: the share of each CEM / MPPI iteration spent outside the
 * model's rollout call (sampling, bound handling, batch energy terms, elite
 * selection / weighting, the distribution update), at N = 1024 samples,
 * H = 16 steps. Target: <= 10 % with the native backend. Rows without energy
 * terms, with one cheap joint-limit term, and with the embedded arm's guardrail
 * barrier terms as the runtime installs them (config/safety/sim-arm.yaml: joint
 * position, velocity, acceleration and the workspace through forward
 * kinematics of every predicted state), which are what a tick of the loop pays.
 *
 * Runs on the native CPU backend (loadModel(dir, {backend: 'cpu'})) when the
 * addon is built, and on the float64 TypeScript reference. The model is a
 * generated checkpoint (mlp encoder, mlp predictor 64+7 → 256 → 256 → 64,
 * residual; proprio head 7) written to a temporary folder.
 *
 *   npx tsx bench/planner-overhead.ts [--json] [--iterations 20] [--threads 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { z } from 'zod';
import { loadModel } from '../src/addon/index';
import type { WorldModel } from '../src/addon/types';
import { initWeights, saveCheckpoint } from '../src/model/checkpoint';
import { parseCheckpointConfig } from '../src/model/config';
import { CemPlanner } from '../src/planning/cem';
import type { BatchEnergyTerm, EnergyBatch } from '../src/planning/energy';
import { MppiPlanner } from '../src/planning/mppi';
import { guardrailBarrierTerms } from '../src/safety/barriers';
import { loadGuardrails } from '../src/safety/guardrails';
import type { PlanResult } from '../src/planning/types';

const flagsSchema = z.strictObject({
  json: z.boolean(),
  iterations: z.number().int().positive(),
  referenceIterations: z.number().int().positive(),
  threads: z.number().int().positive().optional(),
});

function parseFlags(argv: string[]): z.output<typeof flagsSchema> {
  const raw: Record<string, unknown> = { json: false, iterations: 20, referenceIterations: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') raw.json = true;
    else if (a === '--iterations') raw.iterations = Number(argv[++i]);
    else if (a === '--reference-iterations') raw.referenceIterations = Number(argv[++i]);
    else if (a === '--threads') raw.threads = Number(argv[++i]);
    else throw new Error(`planner-overhead: unknown flag '${a}' (flags: --json, --iterations N, --reference-iterations N, --threads N)`);
  }
  const parsed = flagsSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`planner-overhead: bad flags: ${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

const N = 1024;
const H = 16;
const A = 7;
const LATENT = 64;
const P = 7;

const config = parseCheckpointConfig({
  format: 'jepa-runtime.checkpoint/1',
  name: 'planner-overhead-bench',
  latent: { tokens: 1, dim: LATENT },
  action: { dim: A, low: new Array(A).fill(-1), high: new Array(A).fill(1) },
  encoder: { kind: 'mlp', inputDim: 32, hiddenDims: [128] },
  predictor: { kind: 'mlp', hiddenDims: [256, 256], activation: 'gelu', residual: true },
  proprio: { dim: P },
});

/** A joint-limit style barrier on predicted proprio, as src/safety would supply. */
const jointBarrier: BatchEnergyTerm = {
  name: 'jointBarrier',
  weight: 10,
  needs: { proprio: true },
  evaluate({ N: n, H: h, proprio, proprioDim }: EnergyBatch): Float64Array {
    const out = new Float64Array(n);
    const p = proprio!;
    const per = h * proprioDim;
    for (let s = 0; s < n; s++) {
      let acc = 0;
      const base = s * per;
      for (let i = 0; i < per; i++) {
        const v = p[base + i];
        const over = v > 0.5 ? v - 0.5 : v < -0.5 ? -0.5 - v : 0;
        acc += over * over;
      }
      out[s] = acc;
    }
    return out;
  },
};

/** The embedded arm's guardrails as barrier terms, with the weights and bands src/runtime/embedded.ts gives them. */
const guardrailTerms = guardrailBarrierTerms(loadGuardrails(path.join(import.meta.dirname, '..', 'config', 'safety', 'sim-arm.yaml')), {
  stepDuration_s: 0.05,
  proprioJointColumns: [0, 1, 2, 3, 4, 5, 6],
  weights: { keep_out_barrier: 5, joint_position_barrier: 5, workspace_barrier: 5, joint_velocity_barrier: 0 },
  distanceBand_m: 0.03,
  positionBand: 0.1,
});
const TERM_SETS = { none: [], joint: [jointBarrier], guardrails: guardrailTerms } satisfies Record<string, readonly BatchEnergyTerm[]>;
type TermSet = keyof typeof TERM_SETS;

interface Row {
  backend: string;
  planner: string;
  terms: TermSet;
  iterations: number;
  iteration_ms: number;
  rollout_ms: number;
  outside_ms: number;
  overhead: number;
}

async function measure(model: WorldModel, planner: 'CEM' | 'MPPI', termSet: TermSet, iterations: number, warmUp: boolean): Promise<Row> {
  const terms = TERM_SETS[termSet];
  const options = { horizon: H, samples: N, seed: 1, initStd: 0.5, energy: { terminalWeight: 1, runningWeight: 0.1, actionMagnitudeWeight: 0.01 } };
  const p = planner === 'CEM' ? new CemPlanner(model, options, terms) : new MppiPlanner(model, { ...options, temperature: 0.05 }, terms);
  const z0 = new Float32Array(LATENT);
  const goal = new Float32Array(LATENT).fill(0.3);
  for (let i = 0; i < LATENT; i++) z0[i] = Math.sin(i);
  if (warmUp) await p.plan({ z0 }, { latent: goal }, { maxIterations: 1 }); // JIT, native arenas
  // tolerance 0 with a patience longer than the run: exactly `iterations` iterations.
  const r: PlanResult = await p.plan({ z0 }, { latent: goal }, { maxIterations: iterations, tolerance: 0, patience: iterations + 1 });
  const its = r.trace.iterations;
  const rollout = its.reduce((s, t) => s + t.rollout_ms, 0);
  const outside = its.reduce((s, t) => s + t.outside_ms, 0);
  return {
    backend: model.backend,
    planner,
    terms: termSet,
    iterations: its.length,
    iteration_ms: (rollout + outside) / its.length,
    rollout_ms: rollout / its.length,
    outside_ms: outside / its.length,
    overhead: outside / (rollout + outside),
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2));
  const dir = mkdtempSync(path.join(tmpdir(), 'jepa-planner-bench-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    await saveCheckpoint(dir, config, initWeights(config, 7));
    try {
      const native = await loadModel(dir, { backend: 'cpu', threads: flags.threads });
      for (const planner of ['CEM', 'MPPI'] as const) {
        for (const termSet of Object.keys(TERM_SETS) as TermSet[]) rows.push(await measure(native, planner, termSet, flags.iterations, true));
      }
      native.dispose();
    } catch (e) {
      notes.push(`native CPU backend unavailable (${(e as Error).message.split('\n')[0]}); measured the reference only`);
    }
    // The float64 reference takes seconds per iteration at this size: one measured iteration, no terms.
    const reference = await loadModel(dir, { backend: 'reference' });
    for (const planner of ['CEM', 'MPPI'] as const) rows.push(await measure(reference, planner, 'none', flags.referenceIterations, false));
    reference.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ N, H, A, latent: LATENT, target_overhead: 0.1, rows, notes }, null, 2)}\n`);
    return;
  }
  console.log(`planner overhead at N = ${N}, H = ${H}, A = ${A}, latent ${LATENT} (time outside the rollout call / iteration)`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log('backend    planner  terms       iters  iteration ms  rollout ms  outside ms  overhead');
  for (const r of rows) {
    console.log(
      `${r.backend.padEnd(10)} ${r.planner.padEnd(8)} ${r.terms.padEnd(10)} ${String(r.iterations).padStart(6)} ` +
        `${r.iteration_ms.toFixed(2).padStart(13)} ${r.rollout_ms.toFixed(2).padStart(11)} ${r.outside_ms.toFixed(2).padStart(11)} ${(100 * r.overhead).toFixed(1).padStart(8)} %`,
    );
  }
  const native = rows.filter((r) => r.backend !== 'reference');
  if (native.length > 0) {
    const worst = Math.max(...native.map((r) => r.overhead));
    console.log(`native worst-case overhead ${(100 * worst).toFixed(1)} % (target <= 10 %): ${worst <= 0.1 ? 'met' : 'NOT met'}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exit(1);
});
