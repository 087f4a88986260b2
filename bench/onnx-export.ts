/**
 * Minimal ONNX exporter for the benchmark peer: a protobuf writer for the
 * subset of onnx.proto the benchmark graphs need (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto), a small graph
 * builder, and builders that express our architectures (mlp predictor
 * rollout, transformer predictor rollout, ViT encoder) as opset-17 graphs
 * with the same weights, so onnxruntime runs exactly the math we run.
 * Rollouts are unrolled over the horizon inside one graph (one session.run
 * per rollout, weights shared), which is the best case for the peer.
 */
import type { CheckpointConfig } from '../src/model/config';
import { modelDims } from '../src/model/config';
import { mlpHidden } from '../src/model/tensors';

// ── protobuf wire format ─────────────────────────────────────────────────────

class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  private varint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      out.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(out));
  }

  private tag(field: number, wire: number): void {
    this.varint(BigInt((field << 3) | wire));
  }

  int(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varint(BigInt(value.length));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

// onnx.proto enum values used here.
const FLOAT = 1;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_INTS = 7;

type AttrValue = { f: number } | { i: number } | { ints: number[] };

interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, AttrValue>;
}

interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array;
}

/** A graph under construction; values are referred to by name. */
export class OnnxGraph {
  private nodes: OnnxNode[] = [];
  private inits: Initializer[] = [];
  private inputs: { name: string; dims: number[] }[] = [];
  private outputs: { name: string; dims: number[] }[] = [];
  private counter = 0;

  input(name: string, dims: number[]): string {
    this.inputs.push({ name, dims });
    return name;
  }

  output(name: string, dims: number[]): void {
    this.outputs.push({ name, dims });
  }

  floatConst(dims: number[], data: Float32Array, hint = 'c'): string {
    const name = `${hint}_${this.counter++}`;
    this.inits.push({ name, dims, data });
    return name;
  }

  intConst(values: number[], scalar = false): string {
    const name = `i64_${this.counter++}`;
    this.inits.push({ name, dims: scalar ? [] : [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }

  op(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputName?: string): string {
    const out = outputName ?? `${op.toLowerCase()}_${this.counter++}`;
    this.nodes.push({ op, inputs, outputs: [out], attrs });
    return out;
  }

  /** y = x · Wᵀ + b for W [out, in] (stored transposed for MatMul). */
  linear(x: string, W: Float32Array, b: Float32Array | undefined, inDim: number, outDim: number): string {
    const wt = new Float32Array(inDim * outDim);
    for (let o = 0; o < outDim; o++) for (let i = 0; i < inDim; i++) wt[i * outDim + o] = W[o * inDim + i]!;
    let y = this.op('MatMul', [x, this.floatConst([inDim, outDim], wt, 'w')]);
    if (b) y = this.op('Add', [y, this.floatConst([outDim], b, 'b')]);
    return y;
  }

  layerNorm(x: string, w: Float32Array, b: Float32Array, eps: number): string {
    const n = w.length;
    return this.op('LayerNormalization', [x, this.floatConst([n], w, 'lnw'), this.floatConst([n], b, 'lnb')], {
      axis: { i: -1 },
      epsilon: { f: eps },
    });
  }

  /** Exact gelu from Erf ops (onnxruntime fuses the pattern into its Gelu kernel). */
  gelu(x: string): string {
    const half = this.floatConst([], new Float32Array([0.5]));
    const one = this.floatConst([], new Float32Array([1]));
    const sqrt2 = this.floatConst([], new Float32Array([Math.SQRT2]));
    const e = this.op('Erf', [this.op('Div', [x, sqrt2])]);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [e, one])]), half]);
  }

  activation(x: string, kind: 'gelu' | 'relu' | 'tanh' | 'silu'): string {
    switch (kind) {
      case 'gelu':
        return this.gelu(x);
      case 'relu':
        return this.op('Relu', [x]);
      case 'tanh':
        return this.op('Tanh', [x]);
      case 'silu':
        return this.op('Mul', [x, this.op('Sigmoid', [x])]);
    }
  }

  /** mean over axis 1 of |z - g| → [N]. */
  l1Distance(z: string, goal: string): string {
    return this.op('ReduceMean', [this.op('Abs', [this.op('Sub', [z, goal])])], { axes: { ints: [1] }, keepdims: { i: 0 } });
  }

  encode(name: string): Uint8Array {
    const valueInfo = (w: ProtoWriter, v: { name: string; dims: number[] }) => {
      w.string(1, v.name);
      w.message(2, (type) =>
        type.message(1, (tensor) => {
          tensor.int(1, FLOAT);
          tensor.message(2, (shape) => {
            for (const d of v.dims) shape.message(1, (dim) => dim.int(1, d));
          });
        }),
      );
    };
    const model = new ProtoWriter();
    model.int(1, 8); // ir_version
    model.string(2, 'jepa-runtime bench');
    model.message(7, (g) => {
      for (const n of this.nodes) {
        g.message(1, (w) => {
          for (const i of n.inputs) w.string(1, i);
          for (const o of n.outputs) w.string(2, o);
          w.string(4, n.op);
          for (const [key, value] of Object.entries(n.attrs)) {
            w.message(5, (a) => {
              a.string(1, key);
              if ('f' in value) a.float(2, value.f).int(20, ATTR_FLOAT);
              else if ('i' in value) a.int(3, value.i).int(20, ATTR_INT);
              else {
                for (const v of value.ints) a.int(8, v);
                a.int(20, ATTR_INTS);
              }
            });
          }
        });
      }
      g.string(2, name);
      for (const t of this.inits) {
        g.message(5, (w) => {
          for (const d of t.dims) w.int(1, d);
          w.int(2, t.data instanceof Float32Array ? FLOAT : INT64);
          w.string(8, t.name);
          w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        });
      }
      for (const v of this.inputs) g.message(11, (w) => valueInfo(w, v));
      for (const v of this.outputs) g.message(12, (w) => valueInfo(w, v));
    });
    model.message(8, (o) => o.string(1, '').int(2, 17));
    return model.finish();
  }
}

type Weights = ReadonlyMap<string, Float32Array>;

function t(weights: Weights, name: string): Float32Array {
  const v = weights.get(name);
  if (!v) throw new Error(`onnx export: missing tensor ${name}`);
  return v;
}

/** A pre-norm block (names as config.ts) on x [N, tokens, W]; mask [tokens, tokens] additive or undefined. */
function block(
  g: OnnxGraph,
  weights: Weights,
  prefix: string,
  x: string,
  N: number,
  tokens: number,
  W: number,
  heads: number,
  mlpRatio: number,
  eps: number,
  qkvBias: boolean,
  layerScale: boolean,
  mask: string | undefined,
): string {
  const dh = W / heads;
  const hidden = mlpHidden(W, mlpRatio);
  let h = g.layerNorm(x, t(weights, `${prefix}.norm1.weight`), t(weights, `${prefix}.norm1.bias`), eps);
  const qkv = g.linear(h, t(weights, `${prefix}.attn.qkv.weight`), qkvBias ? t(weights, `${prefix}.attn.qkv.bias`) : undefined, W, 3 * W);
  const split = g.op('Transpose', [g.op('Reshape', [qkv, g.intConst([N, tokens, 3, heads, dh])])], { perm: { ints: [2, 0, 3, 1, 4] } });
  const q = g.op('Gather', [split, g.intConst([0], true)], { axis: { i: 0 } });
  const k = g.op('Gather', [split, g.intConst([1], true)], { axis: { i: 0 } });
  const v = g.op('Gather', [split, g.intConst([2], true)], { axis: { i: 0 } });
  let s = g.op('MatMul', [q, g.op('Transpose', [k], { perm: { ints: [0, 1, 3, 2] } })]);
  s = g.op('Mul', [s, g.floatConst([], new Float32Array([1 / Math.sqrt(dh)]))]);
  if (mask) s = g.op('Add', [s, mask]);
  const p = g.op('Softmax', [s], { axis: { i: -1 } });
  const o = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [p, v])], { perm: { ints: [0, 2, 1, 3] } }), g.intConst([N, tokens, W])]);
  let a = g.linear(o, t(weights, `${prefix}.attn.proj.weight`), t(weights, `${prefix}.attn.proj.bias`), W, W);
  if (layerScale) a = g.op('Mul', [a, g.floatConst([W], t(weights, `${prefix}.ls1.gamma`))]);
  x = g.op('Add', [x, a]);
  h = g.layerNorm(x, t(weights, `${prefix}.norm2.weight`), t(weights, `${prefix}.norm2.bias`), eps);
  h = g.gelu(g.linear(h, t(weights, `${prefix}.mlp.fc1.weight`), t(weights, `${prefix}.mlp.fc1.bias`), W, hidden));
  let m = g.linear(h, t(weights, `${prefix}.mlp.fc2.weight`), t(weights, `${prefix}.mlp.fc2.bias`), hidden, W);
  if (layerScale) m = g.op('Mul', [m, g.floatConst([W], t(weights, `${prefix}.ls2.gamma`))]);
  return g.op('Add', [x, m]);
}

/**
 * MLP predictor rollout, H steps unrolled: inputs z0 [1, d], actions [N, H, A],
 * goal [1, d]; output energies [N] = Σ_t l1(z_t, g) + l1(z_H, g)
 * (runningWeight = terminalWeight = 1, metric l1).
 */
export function exportMlpRollout(cfg: CheckpointConfig, weights: Weights, N: number, H: number): Uint8Array {
  const pred = cfg.predictor;
  if (pred.kind !== 'mlp' || pred.layerNorm) throw new Error('exportMlpRollout: needs an mlp predictor without layer norms');
  const { latentDim: d, actionDim: A } = modelDims(cfg);
  const g = new OnnxGraph();
  const z0 = g.input('z0', [1, d]);
  const actions = g.input('actions', [N, H, A]);
  const goal = g.input('goal', [1, d]);
  let z = g.op('Expand', [z0, g.intConst([N, d])]);
  let energy: string | undefined;
  let dist = '';
  for (let step = 0; step < H; step++) {
    const a = g.op('Gather', [actions, g.intConst([step], true)], { axis: { i: 1 } });
    let x = g.op('Concat', [z, a], { axis: { i: 1 } });
    let inDim = d + A;
    pred.hiddenDims.forEach((h, i) => {
      x = g.activation(g.linear(x, t(weights, `predictor.layers.${i}.weight`), t(weights, `predictor.layers.${i}.bias`), inDim, h), pred.activation);
      inDim = h;
    });
    const L = pred.hiddenDims.length;
    const out = g.linear(x, t(weights, `predictor.layers.${L}.weight`), t(weights, `predictor.layers.${L}.bias`), inDim, d);
    z = pred.residual ? g.op('Add', [z, out]) : out;
    dist = g.l1Distance(z, goal);
    energy = energy ? g.op('Add', [energy, dist]) : dist;
  }
  g.op('Add', [energy!, dist], {}, 'energies');
  g.output('energies', [N]);
  return g.encode('mlp_rollout');
}

/**
 * Transformer predictor rollout from one history frame, H steps unrolled,
 * window sliding at historyLength: inputs z0 [1, T, d], actions [N, H, A],
 * goal [1, T·d]; output energies [N] as exportMlpRollout.
 */
export function exportTransformerRollout(cfg: CheckpointConfig, weights: Weights, N: number, H: number): Uint8Array {
  const pred = cfg.predictor;
  if (pred.kind !== 'transformer' || pred.actionConditioning !== 'add') throw new Error('exportTransformerRollout: needs an add-conditioned transformer predictor');
  const { latentDim: d, actionDim: A, latentTokens: T, historyLength: hist } = modelDims(cfg);
  const W = d;
  const g = new OnnxGraph();
  const z0 = g.input('z0', [1, T, d]);
  const actions = g.input('actions', [N, H, A]);
  const goal = g.input('goal', [1, T * d]);
  const emb = g.linear(actions, t(weights, 'predictor.action_embed.weight'), t(weights, 'predictor.action_embed.bias'), A, W);
  const pos = t(weights, 'predictor.pos_embed');
  const frames: string[] = [g.op('Expand', [z0, g.intConst([N, T, d])])];
  let energy: string | undefined;
  let dist = '';
  for (let step = 0; step < H; step++) {
    const gLast = step;
    const gFirst = Math.max(0, gLast - hist + 1);
    const F = gLast - gFirst + 1;
    const tokens = F * T;
    const parts: string[] = [];
    for (let f = 0; f < F; f++) {
      const e = g.op('Unsqueeze', [g.op('Gather', [emb, g.intConst([gFirst + f], true)], { axis: { i: 1 } }), g.intConst([1])]);
      parts.push(g.op('Add', [frames[gFirst + f]!, e]));
    }
    let x = F > 1 ? g.op('Concat', parts, { axis: { i: 1 } }) : parts[0]!;
    x = g.op('Add', [x, g.floatConst([1, tokens, W], pos.slice(0, tokens * W), 'pos')]);
    let mask: string | undefined;
    if (F > 1) {
      const m = new Float32Array(tokens * tokens);
      for (let i = 0; i < tokens; i++) for (let j = 0; j < tokens; j++) m[i * tokens + j] = Math.floor(j / T) <= Math.floor(i / T) ? 0 : -1e9;
      mask = g.floatConst([tokens, tokens], m, 'mask');
    }
    for (let i = 0; i < pred.depth; i++) {
      x = block(g, weights, `predictor.blocks.${i}`, x, N, tokens, W, pred.numHeads, pred.mlpRatio, pred.eps, pred.qkvBias, false, mask);
    }
    const last = F > 1 ? g.op('Slice', [x, g.intConst([(F - 1) * T]), g.intConst([tokens]), g.intConst([1])]) : x;
    let z = g.layerNorm(last, t(weights, 'predictor.norm.weight'), t(weights, 'predictor.norm.bias'), pred.eps);
    if (pred.outputHead) z = g.linear(z, t(weights, 'predictor.head.weight'), t(weights, 'predictor.head.bias'), W, d);
    frames.push(z);
    dist = g.l1Distance(g.op('Reshape', [z, g.intConst([N, T * d])]), goal);
    energy = energy ? g.op('Add', [energy, dist]) : dist;
  }
  g.op('Add', [energy!, dist], {}, 'energies');
  g.output('energies', [N]);
  return g.encode('transformer_rollout');
}

/** ViT encoder (cls output): input image [1, C, S, S] (no normalisation) → latent [1, D]. */
export function exportVitEncoder(cfg: CheckpointConfig, weights: Weights): Uint8Array {
  const enc = cfg.encoder;
  if (enc.kind !== 'vit' || enc.output !== 'cls' || cfg.normalization) throw new Error('exportVitEncoder: needs a cls-output ViT without input normalisation');
  const D = enc.embedDim;
  const p = enc.patchSize;
  const grid = enc.imageSize / p;
  const P = grid * grid;
  const g = new OnnxGraph();
  const img = g.input('image', [1, enc.inChannels, enc.imageSize, enc.imageSize]);
  const conv = g.op(
    'Conv',
    [img, g.floatConst([D, enc.inChannels, p, p], t(weights, 'encoder.patch_embed.proj.weight')), g.floatConst([D], t(weights, 'encoder.patch_embed.proj.bias'))],
    { kernel_shape: { ints: [p, p] }, strides: { ints: [p, p] } },
  );
  const patches = g.op('Transpose', [g.op('Reshape', [conv, g.intConst([1, D, P])])], { perm: { ints: [0, 2, 1] } });
  let x = g.op('Concat', [g.floatConst([1, 1, D], t(weights, 'encoder.cls_token')), patches], { axis: { i: 1 } });
  x = g.op('Add', [x, g.floatConst([1, 1 + P, D], t(weights, 'encoder.pos_embed'))]);
  for (let i = 0; i < enc.depth; i++) {
    x = block(g, weights, `encoder.blocks.${i}`, x, 1, 1 + P, D, enc.numHeads, enc.mlpRatio, enc.eps, enc.qkvBias, enc.layerScale, undefined);
  }
  const cls = g.op('Gather', [x, g.intConst([0], true)], { axis: { i: 1 } });
  g.op('LayerNormalization', [cls, g.floatConst([D], t(weights, 'encoder.norm.weight')), g.floatConst([D], t(weights, 'encoder.norm.bias'))], { axis: { i: -1 }, epsilon: { f: enc.eps } }, 'latent');
  g.output('latent', [1, D]);
  return g.encode('vit_encoder');
}
