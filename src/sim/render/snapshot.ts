/**
 * Scene snapshots for the camera renderer: a plain, self-contained description
 * of what a camera can see at one instant (geoms with world poses and colours,
 * the meshes they reference, named cameras, lights). Owns the conversion from a
 * live MuJoCo model/data pair (mujoco-js) into a snapshot, the hand-built
 * snapshot constructor used by tests, named-camera lookup and free cameras.
 *
 * Conventions follow MuJoCo: a rotation `rot` is a row-major 3x3 matrix that
 * maps local to world coordinates (its columns are the local axes in world
 * coordinates); a camera looks along the -z axis of its frame with +y up;
 * `fovy_deg` is the vertical field of view in degrees.
 */
import { z } from 'zod';

/** MuJoCo's mjtGeom values. */
export const GeomType = {
  plane: 0,
  hfield: 1,
  sphere: 2,
  capsule: 3,
  ellipsoid: 4,
  cylinder: 5,
  box: 6,
  mesh: 7,
} as const;
export type GeomTypeId = (typeof GeomType)[keyof typeof GeomType];
const GEOM_TYPE_NAMES = ['plane', 'hfield', 'sphere', 'capsule', 'ellipsoid', 'cylinder', 'box', 'mesh'] as const;

export type Vec3 = ArrayLike<number>;
/** Row-major 3x3, local -> world. */
export type Mat3 = ArrayLike<number>;

export interface SnapshotGeom {
  /** Index of the geom in its source (MuJoCo geom id, or position in a hand-built list). */
  id: number;
  name: string;
  type: GeomTypeId;
  /** MuJoCo geom_size semantics (sphere: r; capsule/cylinder: r, half-length; box/ellipsoid: half-extents; plane: half-extents (0 = infinite), grid spacing). */
  size: Vec3;
  pos: Vec3;
  rot: Mat3;
  /** Linear RGBA in [0, 1]. */
  rgba: ArrayLike<number>;
  /** Index into `SceneSnapshot.meshes` for mesh geoms, -1 otherwise. */
  meshId: number;
}

export interface SceneMesh {
  /** xyz per vertex, in the mesh geom's frame. */
  vertices: Float32Array;
  /** Three vertex indices per triangle, counter-clockwise seen from outside. */
  faces: Int32Array;
}

export interface SceneCamera {
  name: string;
  pos: Vec3;
  /** Row-major camera -> world rotation; the camera looks along its -z column, +y is up in the image. */
  rot: Mat3;
  fovy_deg: number;
  /** MuJoCo orthographic camera (cam_orthographic); the renderer draws perspective cameras only and refuses these. */
  orthographic?: boolean;
}

export interface SceneLight {
  /** True for a directional light; otherwise light travels from `pos` towards the lit point. */
  directional: boolean;
  pos: Vec3;
  /** Direction the light travels (world), used when directional. */
  dir: Vec3;
  /** Diffuse intensity per channel. */
  diffuse: ArrayLike<number>;
  ambient: ArrayLike<number>;
}

export interface Headlight {
  ambient: ArrayLike<number>;
  diffuse: ArrayLike<number>;
}

export interface SceneSnapshot {
  geoms: SnapshotGeom[];
  /** Shared between snapshots of the same model (taken once, cached); treat as immutable. */
  meshes: readonly SceneMesh[];
  cameras: SceneCamera[];
  lights: SceneLight[];
  /** Light attached to the viewing camera; the renderer uses its own default when absent. */
  headlight?: Headlight;
}

export class UnknownCameraError extends Error {
  constructor(name: string, available: readonly string[]) {
    super(
      `camera "${name}" is not in the scene; available cameras: ` +
        (available.length ? available.map((n) => `"${n}"`).join(', ') : '(none: the model defines no <camera>)') +
        '. Add a <camera name="..."> to the MJCF or render with freeCamera({pos, lookAt}).',
    );
    this.name = 'UnknownCameraError';
  }
}

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

export function findCamera(snapshot: SceneSnapshot, name: string): SceneCamera {
  for (const c of snapshot.cameras) if (c.name === name) return c;
  throw new UnknownCameraError(
    name,
    snapshot.cameras.map((c) => c.name),
  );
}

// ---------------------------------------------------------------------------
// Free camera

const vec3Schema = z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]);

export const FreeCameraSchema = z.object({
  name: z.string().default('free'),
  pos: vec3Schema,
  lookAt: vec3Schema,
  up: vec3Schema.default([0, 0, 1]),
  fovy_deg: z.number().gt(0).lt(180).default(45),
});
export type FreeCameraInput = z.input<typeof FreeCameraSchema>;

/** A camera at `pos` looking at `lookAt`, with `up` (default +z, world up in MuJoCo) as the image's up direction. */
export function freeCamera(input: FreeCameraInput): SceneCamera {
  const p = FreeCameraSchema.parse(input);
  // Camera -z points at the target, so the z column is pos - lookAt.
  let zx = p.pos[0] - p.lookAt[0];
  let zy = p.pos[1] - p.lookAt[1];
  let zz = p.pos[2] - p.lookAt[2];
  const zl = Math.hypot(zx, zy, zz);
  if (zl === 0) throw new SnapshotError(`freeCamera: pos and lookAt are the same point ${JSON.stringify(p.pos)}; move the camera away from its target`);
  zx /= zl;
  zy /= zl;
  zz /= zl;
  // x = up x z
  const [ux, uy, uz] = p.up;
  let xx = uy * zz - uz * zy;
  let xy = uz * zx - ux * zz;
  let xz = ux * zy - uy * zx;
  const xl = Math.hypot(xx, xy, xz);
  if (xl < 1e-9) throw new SnapshotError(`freeCamera: up ${JSON.stringify(p.up)} is parallel to the viewing direction; choose another up vector`);
  xx /= xl;
  xy /= xl;
  xz /= xl;
  // y = z x x
  const yx = zy * xz - zz * xy;
  const yy = zz * xx - zx * xz;
  const yz = zx * xy - zy * xx;
  return {
    name: p.name,
    pos: [p.pos[0], p.pos[1], p.pos[2]],
    rot: [xx, yx, zx, xy, yy, zy, xz, yz, zz],
    fovy_deg: p.fovy_deg,
  };
}

// ---------------------------------------------------------------------------
// Hand-built snapshots

const IDENTITY: readonly number[] = [1, 0, 0, 0, 1, 0, 0, 0, 1];

const HandGeomSchema = z.object({
  name: z.string().default(''),
  type: z.enum(['plane', 'sphere', 'capsule', 'ellipsoid', 'cylinder', 'box', 'mesh']),
  /** MuJoCo geom size; not needed for meshes. */
  size: z.array(z.number().finite().nonnegative()).min(1).max(3).optional(),
  pos: vec3Schema.default([0, 0, 0]),
  rot: z.array(z.number().finite()).length(9).default([...IDENTITY]),
  rgba: z.tuple([z.number(), z.number(), z.number(), z.number()]).default([0.5, 0.5, 0.5, 1]),
  mesh: z.number().int().nonnegative().optional(),
});

const HandMeshSchema = z.object({
  vertices: z.array(z.number().finite()).refine((a) => a.length % 3 === 0, 'vertices must hold x,y,z triples'),
  faces: z.array(z.number().int().nonnegative()).refine((a) => a.length % 3 === 0, 'faces must hold index triples'),
});

const HandLightSchema = z.object({
  directional: z.boolean().default(true),
  pos: vec3Schema.default([0, 0, 0]),
  dir: vec3Schema.default([0, 0, -1]),
  diffuse: vec3Schema.default([0.7, 0.7, 0.7]),
  ambient: vec3Schema.default([0, 0, 0]),
});

export const HandSnapshotSchema = z.object({
  geoms: z.array(HandGeomSchema),
  meshes: z.array(HandMeshSchema).default([]),
  cameras: z
    .array(z.object({ name: z.string(), pos: vec3Schema, rot: z.array(z.number().finite()).length(9), fovy_deg: z.number().gt(0).lt(180) }))
    .default([]),
  lights: z.array(HandLightSchema).default([]),
  headlight: z.object({ ambient: vec3Schema, diffuse: vec3Schema }).optional(),
});
export type HandSnapshotInput = z.input<typeof HandSnapshotSchema>;

/** Sizes per type as MuJoCo stores them: missing trailing entries are 0. */
function padSize(type: string, sizeIn: number[] | undefined, index: number): number[] {
  if (sizeIn === undefined && type !== 'mesh') throw new SnapshotError(`geom ${index}: a ${type} needs a size`);
  const size = sizeIn ?? [];
  const s = [size[0] ?? 0, size[1] ?? 0, size[2] ?? 0];
  if (type === 'box' || type === 'ellipsoid') {
    if (size.length !== 3) throw new SnapshotError(`geom ${index}: ${type} needs 3 half-extents in size, got ${size.length}`);
  } else if (type === 'capsule' || type === 'cylinder') {
    if (size.length < 2) throw new SnapshotError(`geom ${index}: ${type} needs size [radius, half-length], got ${size.length} value(s)`);
  }
  return s;
}

/** Builds a snapshot from plain values (validated); used by tests and tools that do not run MuJoCo. */
export function makeSnapshot(input: HandSnapshotInput): SceneSnapshot {
  const p = HandSnapshotSchema.parse(input);
  const meshes: SceneMesh[] = p.meshes.map((m, i) => {
    const nv = m.vertices.length / 3;
    for (const f of m.faces)
      if (f >= nv) throw new SnapshotError(`mesh ${i}: face index ${f} is out of range (mesh has ${nv} vertices)`);
    return { vertices: Float32Array.from(m.vertices), faces: Int32Array.from(m.faces) };
  });
  const geoms: SnapshotGeom[] = p.geoms.map((g, i) => {
    const type = GeomType[g.type];
    let meshId = -1;
    if (type === GeomType.mesh) {
      if (g.mesh === undefined || g.mesh >= meshes.length)
        throw new SnapshotError(`geom ${i} ("${g.name}"): mesh geom needs mesh index < ${meshes.length}, got ${g.mesh}`);
      meshId = g.mesh;
    }
    return { id: i, name: g.name, type, size: padSize(g.type, g.size, i), pos: g.pos, rot: g.rot, rgba: g.rgba, meshId };
  });
  return { geoms, meshes, cameras: p.cameras, lights: p.lights, headlight: p.headlight };
}

// ---------------------------------------------------------------------------
// From mujoco-js

/** The parts of a mujoco-js MjModel this module reads (mujoco-js types them as `any`). */
export interface MujocoModelLike {
  ngeom: number;
  ncam: number;
  nlight: number;
  nmesh: number;
  geom_type: Int32Array;
  geom_size: Float64Array;
  geom_rgba: Float32Array;
  geom_matid: Int32Array;
  geom_dataid: Int32Array;
  geom_group: Int32Array;
  mat_rgba: Float32Array;
  mat_texid: Int32Array;
  tex_adr: Int32Array;
  tex_width: Int32Array;
  tex_height: Int32Array;
  tex_nchannel: Int32Array;
  tex_data: Uint8Array;
  mesh_vert: Float32Array;
  mesh_face: Int32Array;
  mesh_vertadr: Int32Array;
  mesh_vertnum: Int32Array;
  mesh_faceadr: Int32Array;
  mesh_facenum: Int32Array;
  cam_fovy: Float64Array;
  cam_orthographic: Uint8Array;
  light_type: Int32Array;
  light_active: Uint8Array;
  light_diffuse: Float32Array;
  light_ambient: Float32Array;
  name_camadr: Int32Array;
  name_geomadr: Int32Array;
  names: Int8Array;
  vis: { headlight: { ambient: Float32Array; diffuse: Float32Array; active: number } };
}

/** The parts of a mujoco-js MjData this module reads, after mj_forward (or mj_kinematics). */
export interface MujocoDataLike {
  geom_xpos: Float64Array;
  geom_xmat: Float64Array;
  cam_xpos: Float64Array;
  cam_xmat: Float64Array;
  light_xpos: Float64Array;
  light_xdir: Float64Array;
}

export const MujocoSnapshotOptionsSchema = z.object({
  /** Geom groups drawn; MuJoCo's viewer shows 0-2 and hides 3-5 (collision geometry by convention). */
  visibleGroups: z.array(z.number().int().min(0).max(5)).default([0, 1, 2]),
});
export type MujocoSnapshotOptions = z.input<typeof MujocoSnapshotOptionsSchema>;

interface ModelStatic {
  meshes: SceneMesh[];
  geomNames: string[];
  camNames: string[];
  /** Mean texture colour per material (1,1,1 when untextured). */
  matTexMean: Float32Array;
  headlight: Headlight;
}

const MJ_LIGHT_DIRECTIONAL = 1;
const DEFAULT_GEOM_RGBA = [0.5, 0.5, 0.5, 1];

const staticCache = new WeakMap<object, ModelStatic>();

function readName(names: Int8Array, adr: number): string {
  let end = adr;
  while (end < names.length && names[end] !== 0) end++;
  let s = '';
  for (let i = adr; i < end; i++) s += String.fromCharCode(names[i] & 0xff);
  return s;
}

function modelStatic(model: MujocoModelLike): ModelStatic {
  const hit = staticCache.get(model);
  if (hit) return hit;
  const meshes: SceneMesh[] = [];
  const vert = model.mesh_vert;
  const face = model.mesh_face;
  for (let m = 0; m < model.nmesh; m++) {
    const va = model.mesh_vertadr[m];
    const vn = model.mesh_vertnum[m];
    const fa = model.mesh_faceadr[m];
    const fn = model.mesh_facenum[m];
    // mesh_face indices are relative to the mesh's first vertex.
    meshes.push({ vertices: vert.slice(va * 3, (va + vn) * 3), faces: face.slice(fa * 3, (fa + fn) * 3) });
  }
  const names = model.names;
  const geomNames: string[] = [];
  for (let g = 0; g < model.ngeom; g++) geomNames.push(readName(names, model.name_geomadr[g]));
  const camNames: string[] = [];
  for (let c = 0; c < model.ncam; c++) camNames.push(readName(names, model.name_camadr[c]));
  const nmat = model.mat_rgba.length / 4;
  const matTexMean = new Float32Array(nmat * 3).fill(1);
  for (let m = 0; m < nmat; m++) {
    // mat_texid is [nmat x mjNTEXROLE]; role 1 (rgb) is the colour texture in MuJoCo >= 3.2.
    const roles = model.mat_texid.length / Math.max(nmat, 1);
    const tex = roles > 1 ? model.mat_texid[m * roles + 1] : model.mat_texid[m];
    if (tex < 0) continue;
    const nch = model.tex_nchannel[tex];
    const n = model.tex_width[tex] * model.tex_height[tex];
    if (nch < 3 || n === 0) continue;
    const adr = model.tex_adr[tex];
    const data = model.tex_data;
    let r = 0;
    let g = 0;
    let b = 0;
    for (let i = 0; i < n; i++) {
      const o = adr + i * nch;
      r += data[o];
      g += data[o + 1];
      b += data[o + 2];
    }
    matTexMean[m * 3] = r / n / 255;
    matTexMean[m * 3 + 1] = g / n / 255;
    matTexMean[m * 3 + 2] = b / n / 255;
  }
  // Read once: each access to model.vis creates a new wasm-backed handle.
  const hl = model.vis.headlight;
  const headlight: Headlight = hl.active
    ? { ambient: Array.from(hl.ambient), diffuse: Array.from(hl.diffuse) }
    : { ambient: [0, 0, 0], diffuse: [0, 0, 0] };
  const st: ModelStatic = { meshes, geomNames, camNames, matTexMean, headlight };
  staticCache.set(model, st);
  return st;
}

/**
 * Snapshot of what a camera can see in a MuJoCo model at the state held by `data`
 * (call mj_forward or mj_kinematics first). Positions, rotations and colours are
 * copied out of wasm memory, so the snapshot stays valid after the simulation moves on.
 * Meshes are read once per model and shared by all its snapshots.
 * Geoms with alpha 0, geoms outside `visibleGroups`, and height fields (not drawn
 * by this renderer) are left out.
 */
export function snapshotFromMujoco(model: MujocoModelLike, data: MujocoDataLike, options?: MujocoSnapshotOptions): SceneSnapshot {
  const opts = options === undefined ? DEFAULT_MJ_OPTIONS : MujocoSnapshotOptionsSchema.parse(options);
  const visible = [false, false, false, false, false, false];
  for (const g of opts.visibleGroups) visible[g] = true;
  const st = modelStatic(model);
  const gtype = model.geom_type;
  const gsize = model.geom_size;
  const grgba = model.geom_rgba;
  const gmat = model.geom_matid;
  const gdata = model.geom_dataid;
  const ggroup = model.geom_group;
  const mrgba = model.mat_rgba;
  const xpos = data.geom_xpos;
  const xmat = data.geom_xmat;
  const geoms: SnapshotGeom[] = [];
  for (let g = 0; g < model.ngeom; g++) {
    const type = gtype[g];
    if (type === GeomType.hfield || type > GeomType.mesh) continue;
    const grp = ggroup[g];
    if (grp >= 0 && grp < 6 && !visible[grp]) continue;
    let r = grgba[g * 4];
    let gg = grgba[g * 4 + 1];
    let b = grgba[g * 4 + 2];
    let a = grgba[g * 4 + 3];
    const mat = gmat[g];
    // As in MuJoCo: a material's colour applies unless the geom's rgba was set away from the default.
    // A textured material contributes its texture's mean colour (textures are not drawn).
    if (mat >= 0 && r === DEFAULT_GEOM_RGBA[0] && gg === DEFAULT_GEOM_RGBA[1] && b === DEFAULT_GEOM_RGBA[2] && a === DEFAULT_GEOM_RGBA[3]) {
      r = mrgba[mat * 4] * st.matTexMean[mat * 3];
      gg = mrgba[mat * 4 + 1] * st.matTexMean[mat * 3 + 1];
      b = mrgba[mat * 4 + 2] * st.matTexMean[mat * 3 + 2];
      a = mrgba[mat * 4 + 3];
    }
    if (a <= 0) continue;
    geoms.push({
      id: g,
      name: st.geomNames[g],
      type: type as GeomTypeId,
      size: [gsize[g * 3], gsize[g * 3 + 1], gsize[g * 3 + 2]],
      pos: [xpos[g * 3], xpos[g * 3 + 1], xpos[g * 3 + 2]],
      rot: Array.from(xmat.subarray(g * 9, g * 9 + 9)),
      rgba: [r, gg, b, a],
      meshId: type === GeomType.mesh ? gdata[g] : -1,
    });
  }
  const cameras: SceneCamera[] = [];
  for (let c = 0; c < model.ncam; c++) {
    cameras.push({
      name: st.camNames[c],
      pos: Array.from(data.cam_xpos.subarray(c * 3, c * 3 + 3)),
      rot: Array.from(data.cam_xmat.subarray(c * 9, c * 9 + 9)),
      fovy_deg: model.cam_fovy[c],
      orthographic: model.cam_orthographic[c] !== 0,
    });
  }
  const lights: SceneLight[] = [];
  for (let l = 0; l < model.nlight; l++) {
    if (!model.light_active[l]) continue;
    lights.push({
      directional: model.light_type[l] === MJ_LIGHT_DIRECTIONAL,
      pos: Array.from(data.light_xpos.subarray(l * 3, l * 3 + 3)),
      dir: Array.from(data.light_xdir.subarray(l * 3, l * 3 + 3)),
      diffuse: Array.from(model.light_diffuse.subarray(l * 3, l * 3 + 3)),
      ambient: Array.from(model.light_ambient.subarray(l * 3, l * 3 + 3)),
    });
  }
  return { geoms, meshes: st.meshes, cameras, lights, headlight: st.headlight };
}

const DEFAULT_MJ_OPTIONS = MujocoSnapshotOptionsSchema.parse({});

export function geomTypeName(type: number): string {
  return GEOM_TYPE_NAMES[type] ?? `unknown(${type})`;
}
