/**
 * Training windows from a simulated dataset (src/sim/dataset): every run of
 * T + 1 consecutive observations of an episode with its T actions, turned
 * into time-major SequenceBatches for the trainer. Observations are the
 * proprio vector (mlp encoder: inputDim must equal the dataset's proprio
 * size) or one camera's frames (cnn and ViT encoders: HWC uint8 → CHW in
 * [0, 1]; imageSize must equal the dataset's and inChannels must be 3, or 3 + proprioPlanes
 * for a cnn that also takes the first proprio values tiled as planes). Images stay
 * uint8 in memory and are converted per batch.
 *
 * Several datasets of one task (say, random and scripted episodes) load as
 * one; they must agree on cameras, frame size, proprio names and action size.
 * Every batch also carries the proprio-head targets of its frames: the values
 * the config's proprio.names name, each a proprio entry ('joint1' or
 * 'joint1.position') or a recorded object coordinate ('cube.x', from a dataset
 * collected with --objects), in that order; without names, the first
 * proprio.dim proprio entries. Actions are the applied actuator commands ('applied')
 * or, for position-target arms whose model acts in steps away from the
 * current joints, those commands minus the joint positions they were given
 * at ('delta': a_t - q_t, one joint position per action dim).
 *
 * A coarse-time-step model (the high level of a hierarchy) trains on windows
 * at a stride: with stride k each model step spans k dataset steps, its
 * observations are every k-th frame and its action is the mean of the k
 * applied commands it spans (for velocity commands, the one constant velocity
 * that covers the same displacement).
 */
import { proprioPlanesOf, type CheckpointConfig } from '../model/config';
import { Xoshiro128 } from '../model/checkpoint';
import { DatasetReader } from '../sim/dataset/reader';
import { encoderFrame } from '../perception/preprocess';
import type { SequenceBatch } from './synthetic';

/** The dataset cannot feed this model (sizes or cameras do not match). */
export class DatasetModelMismatchError extends Error {
  override name = 'DatasetModelMismatchError';
  constructor(dir: string, detail: string) {
    super(`dataset '${dir}' does not fit the model: ${detail}`);
  }
}

interface EpisodeData {
  /** proprio: Float32Array [(L+1), P]; image: Uint8Array [(L+1), S, S, 3]. */
  obs: Float32Array | Uint8Array;
  /** [(L+1), P]: joint positions then velocities. */
  proprio: Float32Array;
  /** [(L+1), H]: the proprio head's targets (headNames). */
  head: Float32Array;
  actions: Float32Array;
  length: number;
}

export type ActionForm = 'applied' | 'delta';

export class WindowDataset {
  private constructor(
    readonly kind: 'proprio' | 'image',
    readonly inputSize: number,
    readonly actionDim: number,
    readonly steps: number,
    private readonly episodes: EpisodeData[],
    private readonly windows: [number, number][],
    private readonly imageSize: number,
    /** Size of one proprio vector (positions then velocities). */
    readonly proprioSize: number,
    readonly proprioNames: readonly string[],
    /** Dataset channels the proprio head is trained to read out, in head order. */
    readonly headNames: readonly string[],
    readonly task: string,
    /** Dataset steps per model step. */
    readonly stride: number,
    /** Proprio values tiled as trailing planes after each frame's RGB (cnn proprioPlanes). */
    private readonly planes: number,
  ) {}

  /**
   * Reads every episode of `dirs` (one dataset or several of the same task) into memory and lists
   * the windows of `steps` transitions (of `stride` dataset steps each).
   */
  static async load(
    dirs: string | readonly string[],
    config: CheckpointConfig,
    steps: number,
    camera?: string,
    actionForm: ActionForm = 'applied',
    stride = 1,
  ): Promise<WindowDataset> {
    if (!Number.isInteger(stride) || stride < 1) throw new RangeError(`WindowDataset.load: stride must be an integer >= 1, got ${stride}`);
    if (stride > 1 && actionForm !== 'applied') throw new RangeError("WindowDataset.load: a stride above 1 averages applied commands; 'delta' actions cannot be strided");
    const list = typeof dirs === 'string' ? [dirs] : dirs;
    if (list.length === 0) throw new RangeError('WindowDataset.load: no dataset folder given');
    let first: WindowDataset | undefined;
    const episodes: EpisodeData[] = [];
    const windows: [number, number][] = [];
    for (const dir of list) {
      const d = await WindowDataset.loadOne(dir, config, steps, camera, actionForm, stride);
      if (first) {
        const why =
          d.kind !== first.kind || d.inputSize !== first.inputSize ? 'its observations differ in kind or size'
          : d.proprioSize !== first.proprioSize ? `its proprio has ${d.proprioSize} values, '${list[0]}' has ${first.proprioSize}`
          : d.proprioNames.join() !== first.proprioNames.join() ? `its proprio names (${d.proprioNames.join(', ')}) differ from '${list[0]}'s`
          : d.headNames.join() !== first.headNames.join() ? `its proprio-head targets (${d.headNames.join(', ')}) differ from '${list[0]}'s`
          : d.task !== first.task ? `it holds task '${d.task}', '${list[0]}' holds '${first.task}'`
          : undefined;
        if (why) throw new DatasetModelMismatchError(dir, `cannot be mixed with '${list[0]}': ${why}`);
      } else {
        first = d;
      }
      for (const [e, s] of d.windows) windows.push([e + episodes.length, s]);
      episodes.push(...d.episodes);
    }
    return new WindowDataset(first!.kind, first!.inputSize, first!.actionDim, steps, episodes, windows, first!.imageSize, first!.proprioSize, first!.proprioNames, first!.headNames, first!.task, stride, first!.planes);
  }

  private static async loadOne(dir: string, config: CheckpointConfig, steps: number, camera: string | undefined, actionForm: ActionForm, stride: number): Promise<WindowDataset> {
    const reader = DatasetReader.open(dir);
    const m = reader.manifest;
    // A strided model's time step is stride dataset steps: its config must say so, or the runtime would step it at the wrong rate.
    if (stride > 1 && config.frameskip !== m.frameskip * stride) {
      throw new DatasetModelMismatchError(dir, `a stride of ${stride} over frameskip ${m.frameskip} needs model.frameskip ${m.frameskip * stride}, it is ${config.frameskip}`);
    }
    const enc = config.encoder;
    const P = m.proprioNames.length;
    if (actionForm === 'delta' && m.actionDim > P) throw new DatasetModelMismatchError(dir, `'delta' actions need a joint position per action dim; actions have ${m.actionDim} dims, proprio ${P} values`);
    const head = headColumns(dir, config, m.proprioNames, m.objectNames ?? []);
    if (m.actionDim !== config.action.dim) throw new DatasetModelMismatchError(dir, `actions have ${m.actionDim} dims, action.dim is ${config.action.dim}`);
    let kind: 'proprio' | 'image';
    let inputSize: number;
    let cam = '';
    let planes = 0;
    if (enc.kind === 'mlp') {
      // A state encoder reads the first inputDim proprio values (the joint positions come first,
      // their velocities after them: the runtime's state input is the positions).
      kind = 'proprio';
      inputSize = enc.inputDim;
      if (inputSize > P) throw new DatasetModelMismatchError(dir, `proprio has ${P} values (${m.proprioNames.join(', ')}), encoder.inputDim is ${enc.inputDim}`);
    } else {
      kind = 'image';
      cam = camera ?? config.camera ?? m.cameras[0]!;
      if (!m.cameras.includes(cam)) throw new DatasetModelMismatchError(dir, `no camera '${cam}' (has ${m.cameras.join(', ')})`);
      if (enc.imageSize !== m.imageSize) throw new DatasetModelMismatchError(dir, `frames are ${m.imageSize} px, encoder.imageSize is ${enc.imageSize}`);
      planes = proprioPlanesOf(enc);
      if (enc.inChannels !== 3 + planes) throw new DatasetModelMismatchError(dir, `frames are RGB${planes ? ` + ${planes} proprio planes` : ''}, encoder.inChannels is ${enc.inChannels}`);
      if (planes > P) throw new DatasetModelMismatchError(dir, `encoder.proprioPlanes is ${planes}, the dataset's proprio has ${P} values (${m.proprioNames.join(', ')})`);
      inputSize = enc.inChannels * m.imageSize * m.imageSize;
    }
    const episodes: EpisodeData[] = [];
    const windows: [number, number][] = [];
    const A = m.actionDim;
    for await (const ep of reader.episodes()) {
      const obs = kind === 'proprio' ? firstColumns(ep.proprio, P, inputSize) : ep.frames[cam]!.slice();
      const actions = ep.actions.slice();
      if (actionForm === 'delta') {
        for (let t = 0; t < ep.length; t++) for (let j = 0; j < A; j++) actions[t * A + j] -= ep.proprio[t * P + j]!;
      }
      const e = episodes.length;
      const H = head.columns.length;
      const headRows = new Float32Array((ep.length + 1) * H);
      head.columns.forEach(([src, c], j) => {
        const rows = src === 'proprio' ? ep.proprio : ep.objects!;
        const width = src === 'proprio' ? P : m.objectNames!.length;
        for (let t = 0; t <= ep.length; t++) headRows[t * H + j] = rows[t * width + c]!;
      });
      episodes.push({ obs, proprio: ep.proprio.slice(), head: headRows, actions, length: ep.length });
      for (let s = 0; s + steps * stride <= ep.length; s++) windows.push([e, s]);
    }
    if (windows.length === 0) throw new DatasetModelMismatchError(dir, `no episode has ${steps * stride} transitions`);
    return new WindowDataset(kind, inputSize, m.actionDim, steps, episodes, windows, m.imageSize, P, m.proprioNames, head.names, m.task, stride, planes);
  }

  /** Per proprio-head target, the mean and standard deviation over every observation (std floored at 1e-6). */
  proprioStats(): { mean: Float64Array; std: Float64Array } {
    const P = this.headNames.length;
    const sum = new Float64Array(P), sq = new Float64Array(P);
    let n = 0;
    for (const ep of this.episodes) {
      for (let t = 0; t <= ep.length; t++) {
        for (let j = 0; j < P; j++) {
          const v = ep.head[t * P + j]!;
          sum[j] += v;
          sq[j] += v * v;
        }
        n++;
      }
    }
    const mean = sum.map((s) => s / n);
    const std = sq.map((s, j) => Math.max(1e-6, Math.sqrt(Math.max(0, s / n - mean[j]! ** 2))));
    return { mean, std };
  }

  get windowCount(): number {
    return this.windows.length;
  }

  /** Window order of one epoch (deterministic in seed and epoch). */
  epochOrder(seed: number, epoch: number): number[] {
    const rng = new Xoshiro128((seed * 7919 + epoch) >>> 0);
    const order = this.windows.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  private writeObs(ep: EpisodeData, t: number, out: Float32Array, offset: number): void {
    if (this.kind === 'proprio') {
      out.set((ep.obs as Float32Array).subarray(t * this.inputSize, (t + 1) * this.inputSize), offset);
      return;
    }
    const S = this.imageSize;
    const bytes = S * S * 3;
    const frame = { width: S, height: S, rgb: (ep.obs as Uint8Array).subarray(t * bytes, (t + 1) * bytes) };
    const P = this.proprioSize;
    encoderFrame(frame, ep.proprio.subarray(t * P, (t + 1) * P), this.planes, S, out, offset, `frame ${t}`);
  }

  /** The windows with these indices as one time-major batch. */
  batch(indices: readonly number[]): SequenceBatch {
    const B = indices.length;
    const T = this.steps;
    const A = this.actionDim;
    const P = this.headNames.length;
    const k = this.stride;
    const frames = new Float32Array((T + 1) * B * this.inputSize);
    const actions = new Float32Array(T * B * A);
    const proprio = new Float32Array((T + 1) * B * P);
    indices.forEach((w, b) => {
      const [e, s] = this.windows[w]!;
      const ep = this.episodes[e]!;
      for (let t = 0; t <= T; t++) {
        const f = s + t * k;
        this.writeObs(ep, f, frames, (t * B + b) * this.inputSize);
        proprio.set(ep.head.subarray(f * P, (f + 1) * P), (t * B + b) * P);
      }
      for (let t = 0; t < T; t++) {
        const out = (t * B + b) * A;
        for (let i = 0; i < k; i++) {
          const from = (s + t * k + i) * A;
          for (let j = 0; j < A; j++) actions[out + j] += ep.actions[from + j]! / k;
        }
      }
    });
    return { batch: B, steps: T, inputSize: this.inputSize, actionDim: A, frames, actions, proprio, proprioSize: P };
  }

  /** Up to `count` observations spread over the dataset [n, inputSize], for collapse diagnostics. */
  sampleObservations(count: number): { frames: Float32Array; count: number } {
    const all: [number, number][] = [];
    this.episodes.forEach((ep, e) => {
      for (let t = 0; t <= ep.length; t++) all.push([e, t]);
    });
    const n = Math.min(count, all.length);
    const frames = new Float32Array(n * this.inputSize);
    for (let i = 0; i < n; i++) {
      const [e, t] = all[Math.floor((i * all.length) / n)]!;
      this.writeObs(this.episodes[e]!, t, frames, i * this.inputSize);
    }
    return { frames, count: n };
  }
}

/**
 * Where each proprio-head target comes from: the config's proprio.names resolved against the
 * dataset's proprio names ('joint1' is 'joint1.position') and object names; without names, the
 * first proprio.dim proprio entries; without a head, every proprio entry (nothing reads them).
 */
function headColumns(dir: string, config: CheckpointConfig, proprioNames: readonly string[], objectNames: readonly string[]): { names: string[]; columns: ['proprio' | 'objects', number][] } {
  const p = config.proprio;
  if (!p) return { names: [...proprioNames], columns: proprioNames.map((_, j) => ['proprio', j]) };
  if (!p.names) {
    if (p.dim > proprioNames.length) throw new DatasetModelMismatchError(dir, `proprio.dim is ${p.dim}, the dataset's proprio has ${proprioNames.length} values (${proprioNames.join(', ')})`);
    return { names: proprioNames.slice(0, p.dim), columns: proprioNames.slice(0, p.dim).map((_, j) => ['proprio', j]) };
  }
  const columns = p.names.map((name, i): ['proprio' | 'objects', number] => {
    const exact = proprioNames.indexOf(name);
    const j = exact >= 0 ? exact : proprioNames.indexOf(`${name}.position`);
    if (j >= 0) return ['proprio', j];
    const k = objectNames.indexOf(name);
    if (k >= 0) return ['objects', k];
    const objects = objectNames.length ? `objects (${objectNames.join(', ')})` : 'no objects (collect with --objects to record them)';
    throw new DatasetModelMismatchError(dir, `proprio.names[${i}] '${name}' is neither in the dataset's proprio (${proprioNames.join(', ')}) nor in its ${objects}`);
  });
  return { names: [...p.names], columns };
}

/** The first `k` of every row of `P` values. */
function firstColumns(rows: Float32Array, P: number, k: number): Float32Array {
  if (k === P) return rows.slice();
  const n = rows.length / P;
  const out = new Float32Array(n * k);
  for (let t = 0; t < n; t++) out.set(rows.subarray(t * P, t * P + k), t * k);
  return out;
}
