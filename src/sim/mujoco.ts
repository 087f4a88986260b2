/**
 * The one door to MuJoCo (mujoco-js, WebAssembly): loads the module once per
 * process, writes models and their assets into its in-memory filesystem,
 * turns MuJoCo's load failures into errors that name the file and quote
 * MuJoCo's own message, and wraps a model + data pair (`MjSim`) with the few
 * operations the rest of src/sim needs (step, state get/set, name lookup,
 * free). Nothing outside src/sim imports mujoco-js directly.
 */
import loadMujoco from 'mujoco-js';
import type { MainModule, MjData, MjModel } from 'mujoco-js';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve, relative, sep, posix, isAbsolute } from 'node:path';
import { XMLParser } from 'fast-xml-parser';

export type { MjData, MjModel } from 'mujoco-js';

/** MuJoCo refused a model: the message names the file and quotes MuJoCo. */
export class MjcfLoadError extends Error {
  override name = 'MjcfLoadError';
  constructor(
    readonly file: string,
    readonly mujocoMessage: string,
  ) {
    super(`MuJoCo could not load model '${file}': ${mujocoMessage.trim()}. Fix the MJCF (or the file it names) and load it again.`);
  }
}

/** A model file or an asset it references is not on disk. */
export class MjcfFileNotFoundError extends Error {
  override name = 'MjcfFileNotFoundError';
  constructor(
    readonly file: string,
    readonly referencedFrom?: string,
  ) {
    super(
      referencedFrom === undefined
        ? `MJCF file '${file}' does not exist; pass the path of a MuJoCo XML model.`
        : `File '${file}' referenced by '${referencedFrom}' does not exist; check meshdir/texturedir/include paths in that model.`,
    );
  }
}

/** A name (body, joint, site, camera, actuator) the caller expected is not in the model. */
export class MjNameNotFoundError extends Error {
  override name = 'MjNameNotFoundError';
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly model: string,
  ) {
    super(`No ${kind} named '${objectName}' in model '${model}'; check the scene definition.`);
  }
}

/** A call on an MjSim after `free()`. */
export class MjSimFreedError extends Error {
  override name = 'MjSimFreedError';
  constructor(readonly model: string) {
    super(`MjSim for model '${model}' was used after free(); create a new one.`);
  }
}

/** Output MuJoCo prints while loading; captured so it can be quoted in errors. */
const printed: string[] = [];
let capturing = false;
function onPrint(line: string): void {
  if (capturing) printed.push(line);
}

let modulePromise: Promise<MainModule> | undefined;
/** Memory-reading helper model (kept for the process lifetime; ~1 KiB). */
let heapProbe: MjModel | undefined;
let vfsCounter = 0;

/** The loaded MuJoCo module, created once per process. */
export function mujoco(): Promise<MainModule> {
  if (modulePromise === undefined) {
    modulePromise = (async () => {
      const mj = await loadMujoco({ print: onPrint, printErr: onPrint } as Parameters<typeof loadMujoco>[0]);
      mj.FS.mkdir('/working');
      mj.FS.writeFile('/working/.heap-probe.xml', '<mujoco model="heap-probe"/>');
      heapProbe = mj.MjModel.loadFromXML('/working/.heap-probe.xml');
      return mj;
    })();
  }
  return modulePromise;
}

/** Reads a NUL-terminated C string at a wasm address (MuJoCo's error structs start with their message). */
function readCString(address: number, maxBytes: number): string {
  if (heapProbe === undefined) return '';
  const heap = new Uint8Array((heapProbe.body_pos as Float64Array).buffer);
  let end = address;
  while (end < heap.length && end < address + maxBytes && heap[end] !== 0) end++;
  return new TextDecoder().decode(heap.subarray(address, end));
}

interface CppExceptionLike {
  name: string;
  excPtr: number;
}
function isCppException(e: unknown): e is CppExceptionLike {
  return typeof e === 'object' && e !== null && typeof (e as { excPtr?: unknown }).excPtr === 'number';
}

/**
 * Compiles an XML file already in the virtual filesystem. `displayName` is the
 * path the user knows (their disk path or the scene name) for error messages.
 */
function compileFromVfs(mj: MainModule, vfsPath: string, displayName: string): MjModel {
  printed.length = 0;
  capturing = true;
  let model: MjModel | null;
  try {
    model = mj.MjModel.loadFromXML(vfsPath) as MjModel | null;
  } catch (e) {
    capturing = false;
    if (isCppException(e)) {
      // mjXError / mjCError carry their message as a char array at offset 0.
      const message = readCString(e.excPtr, 1000) || e.name;
      (mj as unknown as { decrementExceptionRefcount(x: unknown): void }).decrementExceptionRefcount(e);
      throw new MjcfLoadError(displayName, message.replaceAll(vfsDirOf(vfsPath), ''));
    }
    throw e;
  }
  capturing = false;
  if (model === null || model === undefined) {
    const message = printed.join('\n').replace(/^Loading error:\s*/m, '') || 'unknown error (no message)';
    throw new MjcfLoadError(displayName, message.replaceAll(vfsDirOf(vfsPath), ''));
  }
  return model;
}

function vfsDirOf(vfsPath: string): string {
  return vfsPath.slice(0, vfsPath.lastIndexOf('/') + 1);
}

function mkdirTree(mj: MainModule, dir: string): void {
  let path = '';
  for (const part of dir.split('/').filter((p) => p.length > 0)) {
    path += `/${part}`;
    if (!mj.FS.analyzePath(path, false).exists) mj.FS.mkdir(path);
  }
}

function removeTree(mj: MainModule, dir: string): void {
  if (!mj.FS.analyzePath(dir, false).exists) return;
  for (const name of mj.FS.readdir(dir) as string[]) {
    if (name === '.' || name === '..') continue;
    const p = `${dir}/${name}`;
    const st = mj.FS.stat(p, false) as { mode: number };
    if (mj.FS.isDir(st.mode)) removeTree(mj, p);
    else mj.FS.unlink(p);
  }
  mj.FS.rmdir(dir);
}

/**
 * Compiles MJCF given as a string (plus optional assets, keyed by path
 * relative to the XML). The files are removed from the virtual FS afterwards:
 * the compiled model holds everything it needs.
 */
export async function loadMjcfString(
  xml: string,
  options: { name?: string; assets?: Record<string, Uint8Array | string> } = {},
): Promise<MjModel> {
  const mj = await mujoco();
  const dir = `/working/m${vfsCounter++}`;
  mkdirTree(mj, dir);
  try {
    for (const [rel, content] of Object.entries(options.assets ?? {})) {
      const target = posix.join(dir, rel);
      mkdirTree(mj, posix.dirname(target));
      mj.FS.writeFile(target, content);
    }
    mj.FS.writeFile(`${dir}/model.xml`, xml);
    return compileFromVfs(mj, `${dir}/model.xml`, options.name ?? 'inline MJCF');
  } finally {
    removeTree(mj, dir);
  }
}

const FILE_ATTRIBUTES = ['file', 'fileback', 'filedown', 'filefront', 'fileleft', 'fileright', 'fileup'] as const;

interface XmlNode {
  [key: string]: unknown;
}

/** Files an MJCF references: includes (recursively) and asset files, as absolute host paths. */
export function mjcfReferencedFiles(mainPath: string): string[] {
  const mainAbs = resolve(mainPath);
  if (!existsSync(mainAbs)) throw new MjcfFileNotFoundError(mainPath);
  const modelDir = dirname(mainAbs);
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', preserveOrder: true, allowBooleanAttributes: true });
  const files = new Set<string>();
  let meshdir = '';
  let texturedir = '';
  const assetRefs: { kind: 'mesh' | 'texture' | 'other'; file: string; from: string }[] = [];

  const visit = (xmlPath: string): void => {
    if (files.has(xmlPath)) return;
    if (!existsSync(xmlPath)) throw new MjcfFileNotFoundError(xmlPath, xmlPath === mainAbs ? undefined : mainPath);
    files.add(xmlPath);
    let tree: XmlNode[];
    try {
      tree = parser.parse(readFileSync(xmlPath, 'utf8')) as XmlNode[];
    } catch {
      // Unparseable: copy it as is and let MuJoCo's own parser report the error.
      return;
    }
    const walk = (nodes: XmlNode[]): void => {
      for (const node of nodes) {
        const tag = Object.keys(node).find((k) => k !== ':@');
        if (tag === undefined || tag === '#text') continue;
        const attrs = (node[':@'] ?? {}) as Record<string, string>;
        if (tag === 'include' && attrs['@file'] !== undefined) {
          visit(resolve(modelDir, attrs['@file']));
        } else if (tag === 'compiler') {
          if (attrs['@assetdir'] !== undefined) meshdir = texturedir = attrs['@assetdir'];
          if (attrs['@meshdir'] !== undefined) meshdir = attrs['@meshdir'];
          if (attrs['@texturedir'] !== undefined) texturedir = attrs['@texturedir'];
        } else {
          for (const a of FILE_ATTRIBUTES) {
            const f = attrs[`@${a}`];
            if (f === undefined) continue;
            const kind = tag === 'texture' ? 'texture' : tag === 'mesh' || tag === 'skin' || tag === 'hfield' ? 'mesh' : 'other';
            assetRefs.push({ kind, file: f, from: xmlPath });
          }
        }
        const children = node[tag];
        if (Array.isArray(children)) walk(children as XmlNode[]);
      }
    };
    walk(tree);
  };
  visit(mainAbs);
  for (const ref of assetRefs) {
    const base = ref.kind === 'texture' ? texturedir : ref.kind === 'mesh' ? meshdir : '';
    const p = isAbsolute(ref.file) ? ref.file : resolve(modelDir, base, ref.file);
    if (!existsSync(p)) throw new MjcfFileNotFoundError(p, ref.from);
    files.add(p);
  }
  return [...files];
}

/**
 * Loads a MuJoCo XML model from disk: copies the XML and every file it
 * references (includes, meshes, textures, height fields) into the virtual FS
 * with their relative layout preserved, then compiles it.
 */
export async function loadMjcfFile(path: string): Promise<MjModel> {
  const mj = await mujoco();
  const mainAbs = resolve(path);
  const files = mjcfReferencedFiles(path);
  // Mirror relative to the deepest directory that contains every file.
  let root = dirname(mainAbs);
  for (const f of files) {
    while (relative(root, f).startsWith('..')) root = dirname(root);
  }
  const dir = `/working/f${vfsCounter++}`;
  mkdirTree(mj, dir);
  const toVfs = (f: string): string => posix.join(dir, relative(root, f).split(sep).join('/'));
  try {
    for (const f of files) {
      const target = toVfs(f);
      mkdirTree(mj, posix.dirname(target));
      mj.FS.writeFile(target, readFileSync(f));
    }
    return compileFromVfs(mj, toVfs(mainAbs), path);
  } finally {
    removeTree(mj, dir);
  }
}

/** MuJoCo object kinds used for name lookups (values of mjtObj). */
export const MjObj = { body: 1, joint: 3, geom: 5, site: 6, camera: 7, actuator: 19, equality: 17 } as const;
export type MjObjKind = keyof typeof MjObj;

/** Joint types (mjtJoint). */
export const MjJointType = { free: 0, ball: 1, slide: 2, hinge: 3 } as const;

/** A physics state that can be saved and restored exactly. */
export interface SimState {
  time: number;
  qpos: Float64Array;
  qvel: Float64Array;
  act: Float64Array;
  ctrl: Float64Array;
  /** Mocap body positions, xyz per mocap body (empty when the model has none). */
  mocapPos: Float64Array;
}

/** A compiled model with its data, and the operations src/sim needs. */
export class MjSim {
  private freed = false;
  private readonly ids = new Map<string, number>();
  private ctrlRangeCache: Float64Array | undefined;
  readonly nq: number;
  readonly nv: number;
  readonly nu: number;

  private constructor(
    readonly mj: MainModule,
    readonly model: MjModel,
    readonly data: MjData,
    readonly modelName: string,
  ) {
    this.nq = model.nq;
    this.nv = model.nv;
    this.nu = model.nu;
  }

  /** Wraps a compiled model (takes ownership: `free()` deletes it). */
  static async fromModel(model: MjModel, modelName: string): Promise<MjSim> {
    const mj = await mujoco();
    const data = new mj.MjData(model);
    mj.mj_forward(model, data);
    return new MjSim(mj, model, data, modelName);
  }

  static async fromXml(xml: string, name: string): Promise<MjSim> {
    return MjSim.fromModel(await loadMjcfString(xml, { name }), name);
  }

  static async fromFile(path: string): Promise<MjSim> {
    return MjSim.fromModel(await loadMjcfFile(path), path);
  }

  private live(): void {
    if (this.freed) throw new MjSimFreedError(this.modelName);
  }

  get time(): number {
    return this.data.time;
  }
  get timestep(): number {
    return this.model.opt.timestep;
  }
  /** Views into wasm memory: read or write them now, do not keep them across calls. */
  get qpos(): Float64Array {
    return this.data.qpos as Float64Array;
  }
  get qvel(): Float64Array {
    return this.data.qvel as Float64Array;
  }
  get ctrl(): Float64Array {
    return this.data.ctrl as Float64Array;
  }
  get mocapPos(): Float64Array {
    return this.data.mocap_pos as Float64Array;
  }

  /** Index of a mocap body among the model's mocap bodies. */
  mocapIndex(bodyName: string): number {
    const m = (this.model.body_mocapid as Int32Array)[this.id('body', bodyName)];
    if (m < 0) throw new MjNameNotFoundError('mocap body', bodyName, this.modelName);
    return m;
  }

  /** Advances `n` physics steps. */
  step(n = 1): void {
    this.live();
    for (let i = 0; i < n; i++) this.mj.mj_step(this.model, this.data);
  }

  /** Recomputes positions, contacts and sensors without advancing time. */
  forward(): void {
    this.live();
    this.mj.mj_forward(this.model, this.data);
  }

  /** Resets to the model's default state (qpos0, zero velocity, zero ctrl). */
  reset(): void {
    this.live();
    this.mj.mj_resetData(this.model, this.data);
    this.mj.mj_forward(this.model, this.data);
  }

  getState(): SimState {
    this.live();
    return {
      time: this.data.time,
      qpos: Float64Array.from(this.data.qpos as Float64Array),
      qvel: Float64Array.from(this.data.qvel as Float64Array),
      act: Float64Array.from(this.data.act as Float64Array),
      ctrl: Float64Array.from(this.data.ctrl as Float64Array),
      mocapPos: Float64Array.from(this.data.mocap_pos as Float64Array),
    };
  }

  setState(state: SimState): void {
    this.live();
    this.data.time = state.time;
    (this.data.qpos as Float64Array).set(state.qpos);
    (this.data.qvel as Float64Array).set(state.qvel);
    (this.data.act as Float64Array).set(state.act);
    (this.data.ctrl as Float64Array).set(state.ctrl);
    (this.data.mocap_pos as Float64Array).set(state.mocapPos);
    this.mj.mj_forward(this.model, this.data);
  }

  /** Id of a named object, or an MjNameNotFoundError. */
  id(kind: MjObjKind, name: string): number {
    this.live();
    const key = `${kind}:${name}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.mj.mj_name2id(this.model, MjObj[kind], name);
      if (id < 0) throw new MjNameNotFoundError(kind, name, this.modelName);
      this.ids.set(key, id);
    }
    return id;
  }

  /** Name of an object by id ('' when unnamed). */
  name(kind: MjObjKind, id: number): string {
    this.live();
    return this.mj.mj_id2name(this.model, MjObj[kind], id) ?? '';
  }

  /** qpos address of a named joint. */
  jointQposAddress(name: string): number {
    return (this.model.jnt_qposadr as Int32Array)[this.id('joint', name)];
  }
  /** qvel (dof) address of a named joint. */
  jointDofAddress(name: string): number {
    return (this.model.jnt_dofadr as Int32Array)[this.id('joint', name)];
  }

  /** World position of a site (after the last step/forward). */
  sitePosition(name: string): [number, number, number] {
    const i = this.id('site', name);
    const p = this.data.site_xpos as Float64Array;
    return [p[3 * i], p[3 * i + 1], p[3 * i + 2]];
  }
  /** World rotation matrix of a site, row-major 3x3. */
  siteMatrix(name: string): Float64Array {
    const i = this.id('site', name);
    return Float64Array.from((this.data.site_xmat as Float64Array).subarray(9 * i, 9 * i + 9));
  }
  bodyPosition(name: string): [number, number, number] {
    const i = this.id('body', name);
    const p = this.data.xpos as Float64Array;
    return [p[3 * i], p[3 * i + 1], p[3 * i + 2]];
  }

  /** ctrlrange of every actuator (read once; the model's ranges do not change) as [lo0, hi0, lo1, hi1, ...]; unlimited actuators get ±Infinity. */
  ctrlRange(): Float64Array {
    if (this.ctrlRangeCache !== undefined) return this.ctrlRangeCache;
    const range = this.model.actuator_ctrlrange as Float64Array;
    const limited = this.model.actuator_ctrllimited as Uint8Array;
    const out = new Float64Array(2 * this.nu);
    for (let i = 0; i < this.nu; i++) {
      out[2 * i] = limited[i] ? range[2 * i] : -Infinity;
      out[2 * i + 1] = limited[i] ? range[2 * i + 1] : Infinity;
    }
    this.ctrlRangeCache = out;
    return out;
  }

  /** Names of the model's cameras, in id order. */
  cameraNames(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.model.ncam; i++) out.push(this.name('camera', i));
    return out;
  }

  /** Deletes the wasm objects; further calls throw MjSimFreedError. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    this.data.delete();
    this.model.delete();
  }
}
