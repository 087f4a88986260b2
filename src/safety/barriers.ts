/**
 * The guardrails as barrier cost terms for the planner: the same frozen
 * limits the shield enforces (one source of truth, two uses). Each term has
 * the structural shape the planner expects (defined there too; this module
 * does not import src/planning):
 *
 *   { name, weight, needs: { proprio: true }, evaluate(batch) -> N costs }
 *
 * with batch.proprio = [N, H, P] predicted joint positions. A barrier is zero
 * well inside a limit and grows quadratically through a band near it and on
 * beyond it: cost = weight * sum (penetration / band)². Moving zones and
 * tracked persons change at run time and are left to the shield; static
 * keep-out zones, the workspace and joint limits are here.
 */
import { capsuleBoxDistanceAt, pointSegmentDistanceSq, segmentSegmentDistanceSq } from '../robot/geometry';
import { KinematicModel } from '../robot/kinematics';
import { makeTransformFromXyzRpy } from '../robot/math';
import type { Guardrails } from './guardrails';

export interface BarrierBatch {
  N: number;
  H: number;
  A: number;
  actions: Float32Array;
  /** [N, H, P] joint positions (P >= number of guarded joints). */
  proprio?: Float32Array;
}

export interface GuardrailCostTerm {
  name: string;
  weight: number;
  needs: { proprio: true };
  evaluate(batch: BarrierBatch): Float64Array;
}

export interface BarrierOptions {
  /** Time between consecutive predicted steps, s (for the velocity barrier). */
  stepDuration_s: number;
  /** Column of proprio holding each guarded joint, in guardrails.jointNames order. Default 0..n-1. */
  proprioJointColumns?: readonly number[];
  weights?: Partial<Record<'joint_position_barrier' | 'joint_velocity_barrier' | 'joint_acceleration_barrier' | 'workspace_barrier' | 'keep_out_barrier', number>>;
  /** Width of the position band inside each limit, rad or m. */
  positionBand?: number;
  /** The velocity and acceleration barriers start at this fraction of their limit. */
  velocityOnset?: number;
  /** Width of the distance band for workspace and keep-out barriers, m. */
  distanceBand_m?: number;
}

export class BarrierInputError extends Error {
  override name = 'BarrierInputError';
}

function proprioOf(term: string, batch: BarrierBatch, columns: readonly number[]): { P: number; proprio: Float32Array } {
  const { N, H, proprio } = batch;
  if (!proprio) throw new BarrierInputError(`${term}: batch.proprio ([N, H, P] joint positions) is required`);
  if (!(N > 0 && H > 0) || proprio.length % (N * H) !== 0) throw new BarrierInputError(`${term}: proprio has ${proprio.length} values, not a multiple of N*H = ${N * H}`);
  const P = proprio.length / (N * H);
  const maxCol = Math.max(...columns);
  if (maxCol >= P) throw new BarrierInputError(`${term}: proprio has P = ${P} columns, joint column ${maxCol} is out of range`);
  return { P, proprio };
}

export function guardrailBarrierTerms(g: Guardrails, options: BarrierOptions): GuardrailCostTerm[] {
  const n = g.jointNames.length;
  const cols = options.proprioJointColumns ? [...options.proprioJointColumns] : g.jointNames.map((_, i) => i);
  if (cols.length !== n) throw new BarrierInputError(`proprioJointColumns: expected ${n} entries (${g.jointNames.join(', ')})`);
  if (!(options.stepDuration_s > 0)) throw new BarrierInputError('stepDuration_s must be > 0');
  const w = { ...(options.weights ?? {}) };
  const weightOf = (name: keyof NonNullable<BarrierOptions['weights']>): number => {
    const v = w[name] ?? 1;
    if (!(Number.isFinite(v) && v >= 0)) throw new BarrierInputError(`weights.${name} must be a finite number >= 0`);
    return v;
  };
  const band = options.positionBand ?? 0.1;
  const onset = options.velocityOnset ?? 0.8;
  const dband = options.distanceBand_m ?? 0.05;
  const lower = [...g.lower], upper = [...g.upper], vmax = [...g.maxVelocity], amax = [...g.maxAcceleration];
  const dt = options.stepDuration_s;
  const terms: GuardrailCostTerm[] = [];

  terms.push(
    Object.freeze({
      name: 'joint_position_barrier',
      weight: weightOf('joint_position_barrier'),
      needs: Object.freeze({ proprio: true as const }),
      evaluate(batch: BarrierBatch): Float64Array {
        const { P, proprio } = proprioOf('joint_position_barrier', batch, cols);
        const out = new Float64Array(batch.N);
        for (let s = 0; s < batch.N; s++) {
          let cost = 0;
          for (let h = 0; h < batch.H; h++)
            for (let i = 0; i < n; i++) {
              const q = proprio[(s * batch.H + h) * P + cols[i]!]!;
              const hiP = q - (upper[i]! - band), loP = lower[i]! + band - q;
              if (hiP > 0) cost += (hiP / band) ** 2;
              if (loP > 0) cost += (loP / band) ** 2;
            }
          out[s] = cost; // unweighted: the planner multiplies by .weight
        }
        return out;
      },
    }),
  );

  terms.push(
    Object.freeze({
      name: 'joint_velocity_barrier',
      weight: weightOf('joint_velocity_barrier'),
      needs: Object.freeze({ proprio: true as const }),
      evaluate(batch: BarrierBatch): Float64Array {
        const { P, proprio } = proprioOf('joint_velocity_barrier', batch, cols);
        const out = new Float64Array(batch.N);
        for (let s = 0; s < batch.N; s++) {
          let cost = 0;
          for (let h = 1; h < batch.H; h++)
            for (let i = 0; i < n; i++) {
              const v = (proprio[(s * batch.H + h) * P + cols[i]!]! - proprio[(s * batch.H + h - 1) * P + cols[i]!]!) / dt;
              const pen = Math.abs(v) - onset * vmax[i]!;
              if (pen > 0) cost += (pen / ((1 - onset) * vmax[i]!)) ** 2;
            }
          out[s] = cost; // unweighted: the planner multiplies by .weight
        }
        return out;
      },
    }),
  );

  terms.push(
    Object.freeze({
      name: 'joint_acceleration_barrier',
      weight: weightOf('joint_acceleration_barrier'),
      needs: Object.freeze({ proprio: true as const }),
      evaluate(batch: BarrierBatch): Float64Array {
        const { P, proprio } = proprioOf('joint_acceleration_barrier', batch, cols);
        const out = new Float64Array(batch.N);
        for (let s = 0; s < batch.N; s++) {
          let cost = 0;
          for (let h = 2; h < batch.H; h++)
            for (let i = 0; i < n; i++) {
              const r = (s * batch.H + h) * P + cols[i]!;
              const a = (proprio[r]! - 2 * proprio[r - P]! + proprio[r - 2 * P]!) / (dt * dt);
              const pen = Math.abs(a) - onset * amax[i]!;
              if (pen > 0) cost += (pen / ((1 - onset) * amax[i]!)) ** 2;
            }
          out[s] = cost; // unweighted: the planner multiplies by .weight
        }
        return out;
      },
    }),
  );

  const model = new KinematicModel(g.robot, { jointNames: g.jointNames });
  const tcp = model.indexOfLink(g.config.tcp_link);
  const off = g.config.tcp_offset_m;
  const fk = new Float64Array(model.linkNames.length * 16);
  const q = new Float64Array(n);
  const loadQ = (proprio: Float32Array, P: number, H: number, s: number, h: number) => {
    for (let i = 0; i < n; i++) q[i] = proprio[(s * H + h) * P + cols[i]!]!;
    return model.forwardKinematics(q, fk);
  };

  const ws = g.config.workspace;
  if (ws) {
    const boxes = ws.boxes.map((b) => ({ c: [0, 1, 2].map((k) => (b.min_m[k]! + b.max_m[k]!) / 2), h: [0, 1, 2].map((k) => (b.max_m[k]! - b.min_m[k]!) / 2) }));
    terms.push(
      Object.freeze({
        name: 'workspace_barrier',
        weight: weightOf('workspace_barrier'),
        needs: Object.freeze({ proprio: true as const }),
        evaluate(batch: BarrierBatch): Float64Array {
          const { P, proprio } = proprioOf('workspace_barrier', batch, cols);
          const out = new Float64Array(batch.N);
          const o = tcp * 16;
          const ox = off[0], oy = off[1], oz = off[2];
          for (let s = 0; s < batch.N; s++) {
            let cost = 0;
            for (let h = 0; h < batch.H; h++) {
              const T = loadQ(proprio, P, batch.H, s, h);
              const px = T[o]! * ox + T[o + 1]! * oy + T[o + 2]! * oz + T[o + 3]!;
              const py = T[o + 4]! * ox + T[o + 5]! * oy + T[o + 6]! * oz + T[o + 7]!;
              const pz = T[o + 8]! * ox + T[o + 9]! * oy + T[o + 10]! * oz + T[o + 11]!;
              let best = Infinity;
              for (let bi = 0; bi < boxes.length; bi++) {
                const b = boxes[bi]!;
                const ex = Math.max(Math.abs(px - b.c[0]!) - (b.h[0]! - dband), Math.abs(py - b.c[1]!) - (b.h[1]! - dband), Math.abs(pz - b.c[2]!) - (b.h[2]! - dband));
                if (ex < best) best = ex;
              }
              if (best > 0) cost += (best / dband) ** 2;
            }
            out[s] = cost; // unweighted: the planner multiplies by .weight
          }
          return out;
        },
      }),
    );
  }

  const zones = g.config.keep_out.filter((z) => !z.moving);
  if (zones.length > 0 && g.capsules.length > 0) {
    const clearance = g.config.collision.clearance_m;
    const caps = g.capsules;
    const world = new Float64Array(6);
    const place = (T: Float64Array, c: number) => {
      const cap = caps[c]!, o = cap.linkIndex * 16;
      for (let e = 0; e < 2; e++) {
        const p = e === 0 ? cap.a : cap.b;
        for (let r = 0; r < 3; r++) world[3 * e + r] = T[o + 4 * r]! * p[0] + T[o + 4 * r + 1]! * p[1] + T[o + 4 * r + 2]! * p[2] + T[o + 4 * r + 3]!;
      }
    };
    const rot = zones.map((z) => {
      if (z.shape !== 'box') return null;
      const T = makeTransformFromXyzRpy([0, 0, 0], z.rpy_rad);
      return [T[0]!, T[1]!, T[2]!, T[4]!, T[5]!, T[6]!, T[8]!, T[9]!, T[10]!];
    });
    // Zones in a flat form for the hot loop: 0 sphere, 1 capsule, 2 box.
    const compiled = zones.map((z, zi) =>
      z.shape === 'sphere'
        ? { kind: 0, c: z.center_m, radius: z.radius_m, a: [0, 0, 0], b: [0, 0, 0], half: [0, 0, 0], rot: [] as number[] }
        : z.shape === 'capsule'
          ? { kind: 1, c: [0, 0, 0], radius: z.radius_m, a: z.a_m, b: z.b_m, half: [0, 0, 0], rot: [] as number[] }
          : { kind: 2, c: z.center_m, radius: 0, a: [0, 0, 0], b: [0, 0, 0], half: [z.size_m[0] / 2, z.size_m[1] / 2, z.size_m[2] / 2], rot: rot[zi]! },
    );
    terms.push(
      Object.freeze({
        name: 'keep_out_barrier',
        weight: weightOf('keep_out_barrier'),
        needs: Object.freeze({ proprio: true as const }),
        evaluate(batch: BarrierBatch): Float64Array {
          const { P, proprio } = proprioOf('keep_out_barrier', batch, cols);
          const out = new Float64Array(batch.N);
          for (let s = 0; s < batch.N; s++) {
            let cost = 0;
            for (let h = 0; h < batch.H; h++) {
              const T = loadQ(proprio, P, batch.H, s, h);
              for (let c = 0; c < caps.length; c++) {
                place(T, c);
                const r = caps[c]!.radius_m;
                const ax = world[0]!, ay = world[1]!, az = world[2]!, bx = world[3]!, by = world[4]!, bz = world[5]!;
                for (let zi = 0; zi < compiled.length; zi++) {
                  const z = compiled[zi]!;
                  let d: number;
                  if (z.kind === 0) d = Math.sqrt(pointSegmentDistanceSq(z.c[0]!, z.c[1]!, z.c[2]!, ax, ay, az, bx, by, bz)) - r - z.radius;
                  else if (z.kind === 1) d = Math.sqrt(segmentSegmentDistanceSq(ax, ay, az, bx, by, bz, z.a[0]!, z.a[1]!, z.a[2]!, z.b[0]!, z.b[1]!, z.b[2]!)) - r - z.radius;
                  else d = capsuleBoxDistanceAt(ax, ay, az, bx, by, bz, r, z.c[0]!, z.c[1]!, z.c[2]!, z.half, z.rot);
                  const pen = clearance + dband - d;
                  if (pen > 0) cost += (pen / dband) ** 2;
                }
              }
            }
            out[s] = cost; // unweighted: the planner multiplies by .weight
          }
          return out;
        },
      }),
    );
  }
  return Object.freeze(terms) as GuardrailCostTerm[];
}
