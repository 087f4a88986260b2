/**
 * The embedded simulator's camera: a z-buffered software triangle rasteriser
 * over a SceneSnapshot. Owns tessellation caching (per primitive type, size and
 * level of detail; per mesh), the camera transform and pinhole projection,
 * clipping (near plane plus a guard band around the image), back-face culling,
 * exact fixed-point edge functions with the top-left fill rule (no cracks, no
 * pixel drawn twice by one surface), perspective-correct depth, Gouraud-shaded
 * Lambert + ambient lighting (headlight and scene lights), checkered planes,
 * and alpha blending for translucent geoms.
 *
 * Image conventions: row-major, row 0 at the top; pixel (px, py) has its centre
 * at (px + 0.5, py + 0.5); the optical axis passes through (W/2, H/2); focal
 * length f = (H/2) / tan(fovy/2) in pixels for both axes. Depth is the distance
 * along the optical axis in metres, +Infinity where nothing was hit.
 *
 * Simplifications, on purpose: lights are white (each light's RGB is averaged
 * to one intensity); no specular term, shadows or textures; translucent geoms
 * (alpha < 1) blend over what is behind them and do not write depth, so the
 * depth image shows what is behind them; height fields are not drawn; only
 * perspective cameras.
 *
 * Deterministic: the output depends only on the snapshot, the camera and the
 * options (no randomness, no clocks, a fixed drawing order).
 */
import { z } from 'zod';
import type { CameraImage } from '../../robot/arm';
import { findCamera, GeomType, type SceneCamera, type SceneMesh, type SceneSnapshot, type SnapshotGeom } from './snapshot';
import {
  SEGMENT_LEVELS,
  tessellateBox,
  tessellateCapsule,
  tessellateCylinder,
  tessellateEllipsoid,
  tessellatePlane,
  tessellateSphere,
  type Tessellation,
} from './tessellate';
import { clusterMesh, faceNormalsOf, weldVertices, type MeshLevel } from './meshlod';

const rgbBytes = z.tuple([z.number().int().min(0).max(255), z.number().int().min(0).max(255), z.number().int().min(0).max(255)]);
const rgbUnit = z.tuple([z.number().min(0), z.number().min(0), z.number().min(0)]);

export const RendererOptionsSchema = z
  .object({
    width: z.number().int().min(1).max(4096),
    height: z.number().int().min(1).max(4096),
    /** Near clipping distance along the optical axis. */
    near_m: z.number().positive().default(0.01),
    /** Nothing farther than this along the optical axis is drawn. */
    far_m: z.number().positive().default(100),
    /** Background colour, RGB bytes; a render call may override it. */
    background: rgbBytes.default([0, 0, 0]),
    /** Headlight used when the snapshot carries none (MuJoCo's defaults). */
    headlight: z.object({ ambient: rgbUnit, diffuse: rgbUnit }).default({ ambient: [0.1, 0.1, 0.1], diffuse: [0.4, 0.4, 0.4] }),
    /** Use the snapshot's lights in addition to the headlight. */
    sceneLights: z.boolean().default(true),
    /** Checkerboard on planes: square side and how much darker the odd squares are (0..1); false for plain planes. */
    planeChecker: z
      .union([z.literal(false), z.object({ cell_m: z.number().positive(), contrast: z.number().min(0).max(1) })])
      .default({ cell_m: 0.25, contrast: 0.25 }),
    /** Half-size used for MuJoCo's infinite planes (size 0). */
    infinitePlaneHalfSize_m: z.number().positive().default(50),
    /** Level of detail for round primitives: largest allowed gap between a silhouette and the true curve. */
    maxSilhouetteError_px: z.number().positive().default(0.25),
    /** Simplify meshes by vertex clustering while the grid cell projects to at most `cell_px` pixels; false draws full meshes. */
    meshLod: z.union([z.literal(false), z.object({ cell_px: z.number().positive() })]).default({ cell_px: 0.5 }),
    /** Skip triangles facing away from the camera (closed surfaces only look the same either way). */
    cullBackFaces: z.boolean().default(true),
  })
  .refine((o) => o.far_m > o.near_m, { message: 'far_m must be greater than near_m' });
export type RendererOptionsInput = z.input<typeof RendererOptionsSchema>;
export type RendererOptions = z.output<typeof RendererOptionsSchema>;

export const RenderCallOptionsSchema = z.object({
  /** Also fill the depth image (metres along the optical axis, +Infinity for background). */
  depth: z.boolean().default(false),
  /** Background colour for this call, RGB bytes. */
  background: rgbBytes.optional(),
  /** Return fresh arrays instead of the renderer's reused buffers. */
  copy: z.boolean().default(false),
});
export type RenderCallOptions = z.input<typeof RenderCallOptionsSchema>;

export interface RenderStats {
  geomsDrawn: number;
  geomsCulled: number;
  /** Vertices transformed into the camera frame. */
  vertices: number;
  /** Triangles handed to the rasteriser (front-facing as far as the camera-space test can tell, clipped). */
  trianglesSubmitted: number;
  /** Triangles that covered at least one pixel centre's bounding box. */
  trianglesRasterised: number;
}

export interface Renderer {
  readonly width: number;
  readonly height: number;
  /**
   * Renders `snapshot` from `camera` (a camera object or the name of one of the
   * snapshot's cameras). Unless `copy` is set, the returned `rgb` and `depth`
   * arrays are the renderer's own buffers and are overwritten by the next call.
   */
  render(snapshot: SceneSnapshot, camera: SceneCamera | string, options?: RenderCallOptions): CameraImage;
  readonly lastStats: Readonly<RenderStats>;
}

export class RenderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RenderError';
  }
}

export function createRenderer(options: RendererOptionsInput): Renderer {
  return new SoftwareRenderer(RendererOptionsSchema.parse(options));
}

/** A copy of a rendered image that later renders do not overwrite. */
export function copyImage(img: CameraImage): CameraImage {
  return { width: img.width, height: img.height, rgb: img.rgb.slice(), depth: img.depth?.slice() };
}

// Fixed point: 8 fractional bits for screen coordinates.
const SUB = 256;
const HALF = 128;
const MAX_LIGHTS = 8;
const MAX_CACHED_TESSELLATIONS = 1024;
// Clip planes (bit per plane) in camera space with d = -z the depth.
const NEAR = 1;
const N_PLANES = 5;
const ATTR = 6; // x, y, d, intensity, u, v
const MAX_POLY = 3 + N_PLANES;
const EMPTY = new Float64Array(0);
// Pixels: a triangle is kept by the early test if snapping to 1/SUB px could bring a centre inside.
const SNAP_MARGIN = 1 / 128;
// Triangles narrower than this walk each row; wider ones solve for the row's span.
const NARROW_PX = 12;
// Mesh levels of detail: grid cells of radius/8 down to radius/4096.
const LOD_FIRST_SHIFT = 3;
const LOD_LEVELS = 10;

interface MeshPrep {
  full: MeshLevel;
  /** Clustered levels, coarse to fine: cell = radius / 2^(LOD_FIRST_SHIFT + j); built on first use. */
  levels: (MeshLevel | null | undefined)[];
  radius: number;
}

const DEFAULT_CALL = RenderCallOptionsSchema.parse({});

class SoftwareRenderer implements Renderer {
  readonly width: number;
  readonly height: number;
  private readonly opts: RendererOptions;
  private readonly rgbBuf: Uint8Array;
  private readonly rgbOut: Uint8ClampedArray;
  private readonly zbuf: Float32Array;
  private readonly depthBuf: Float32Array;
  private readonly invFar: number;
  private readonly guard: number;

  // Scratch per vertex (grown on demand).
  private cap = 0;
  private vx = new Float64Array(0);
  private vy = new Float64Array(0);
  private vd = new Float64Array(0);
  private sx = new Float64Array(0);
  private sy = new Float64Array(0);
  private siz = new Float64Array(0);
  private vi = new Float64Array(0);
  private vu = new Float64Array(0);
  private vv = new Float64Array(0);
  private oc = new Uint8Array(0);

  private readonly tri = new Float64Array(18); // sx, sy, iz, I, u, v per vertex
  private readonly polyA = new Float64Array(MAX_POLY * ATTR);
  private readonly polyB = new Float64Array(MAX_POLY * ATTR);
  private readonly planes = new Float64Array(N_PLANES * 4);
  private readonly cullPlanes = new Float64Array(4 * 4);
  // Lights for the current geom, camera space: toward-light unit vector and diffuse weight.
  private readonly geomLights = new Float64Array(MAX_LIGHTS * 4);
  private nGeomLights = 0;
  private readonly dirLights = new Float64Array(MAX_LIGHTS * 4);
  private nDirLights = 0;
  private readonly pointLights = new Float64Array(MAX_LIGHTS * 4);
  private nPointLights = 0;
  private ambient = 0;
  private headDiffuse = 0;

  // Per-render camera state.
  private f = 1;
  private cx = 0;
  private cy = 0;
  private readonly rc = new Float64Array(9);
  private readonly pc = new Float64Array(3);
  private readonly tc = new Float64Array(3);

  // Per-triangle colour state.
  private cr = 0;
  private cg = 0;
  private cb = 0;
  private alpha = 1;
  private checker = false;
  private cell = 1;
  private dark = 1;

  private readonly tessCache = new Map<string, Tessellation>();
  private readonly meshCache = new WeakMap<SceneMesh, MeshPrep>();
  private readonly unitBox = tessellateBox();
  private readonly unitPlane = tessellatePlane();

  private order = new Int32Array(0);
  private keys = new Float64Array(0);
  private stats: RenderStats = { geomsDrawn: 0, geomsCulled: 0, vertices: 0, trianglesSubmitted: 0, trianglesRasterised: 0 };

  constructor(opts: RendererOptions) {
    this.opts = opts;
    this.width = opts.width;
    this.height = opts.height;
    const n = opts.width * opts.height;
    this.rgbBuf = new Uint8Array(n * 3);
    this.rgbOut = new Uint8ClampedArray(this.rgbBuf.buffer);
    this.zbuf = new Float32Array(n);
    this.depthBuf = new Float32Array(n);
    this.invFar = Math.fround(1 / opts.far_m);
    this.guard = 2 * Math.max(opts.width, opts.height);
  }

  get lastStats(): Readonly<RenderStats> {
    return this.stats;
  }

  render(snapshot: SceneSnapshot, camera: SceneCamera | string, options?: RenderCallOptions): CameraImage {
    const call = options === undefined ? DEFAULT_CALL : RenderCallOptionsSchema.parse(options);
    const cam = typeof camera === 'string' ? findCamera(snapshot, camera) : camera;
    if (cam.orthographic)
      throw new RenderError(`camera "${cam.name}" is orthographic; this renderer draws perspective cameras only (remove orthographic="true" from the MJCF camera)`);
    if (!(cam.fovy_deg > 0 && cam.fovy_deg < 180))
      throw new RenderError(`camera "${cam.name}": fovy_deg must be in (0, 180), got ${cam.fovy_deg}`);
    this.stats = { geomsDrawn: 0, geomsCulled: 0, vertices: 0, trianglesSubmitted: 0, trianglesRasterised: 0 };
    const W = this.width;
    const H = this.height;
    this.f = H / 2 / Math.tan((cam.fovy_deg * Math.PI) / 360);
    this.cx = W / 2;
    this.cy = H / 2;
    for (let i = 0; i < 9; i++) this.rc[i] = cam.rot[i];
    for (let i = 0; i < 3; i++) this.pc[i] = cam.pos[i];
    this.setupPlanes();
    this.setupLights(snapshot);

    const bg = call.background ?? this.opts.background;
    const rgb = this.rgbBuf;
    rgb[0] = bg[0];
    rgb[1] = bg[1];
    rgb[2] = bg[2];
    for (let len = 3, n = W * H * 3; len < n; len *= 2) rgb.copyWithin(len, 0, Math.min(len, n - len));
    this.zbuf.fill(this.invFar);

    this.drawAll(snapshot);

    let depth: Float32Array | undefined;
    if (call.depth) {
      const zb = this.zbuf;
      const out = this.depthBuf;
      const invFar = this.invFar;
      for (let i = 0, n = W * H; i < n; i++) out[i] = zb[i] > invFar ? 1 / zb[i] : Infinity;
      depth = out;
    }
    if (call.copy) return { width: W, height: H, rgb: rgb.slice(), depth: depth?.slice() };
    return { width: W, height: H, rgb, depth };
  }

  // -------------------------------------------------------------------------
  // Setup

  private setupPlanes(): void {
    const { f, cx, cy, guard: G } = this;
    const W = this.width;
    const H = this.height;
    // Clip planes: a*x + b*y + c*d + e >= 0 inside.
    const p = this.planes;
    p.set([0, 0, 1, -this.opts.near_m], 0);
    p.set([f, 0, G + cx, 0], 4);
    p.set([-f, 0, W + G - cx, 0], 8);
    p.set([0, -f, cy + G, 0], 12);
    p.set([0, f, H + G - cy, 0], 16);
    // Culling planes through the image border, normalised (a, b, c) for distances in metres.
    const c = this.cullPlanes;
    const planes = [
      [f, 0, cx],
      [-f, 0, W - cx],
      [0, -f, cy],
      [0, f, H - cy],
    ];
    for (let k = 0; k < 4; k++) {
      const [a, b, cc] = planes[k];
      const l = Math.hypot(a, b, cc);
      c[k * 4] = a / l;
      c[k * 4 + 1] = b / l;
      c[k * 4 + 2] = cc / l;
    }
  }

  private setupLights(snapshot: SceneSnapshot): void {
    const mean = (v: ArrayLike<number>): number => (v[0] + v[1] + v[2]) / 3;
    const hl = snapshot.headlight ?? this.opts.headlight;
    this.ambient = mean(hl.ambient);
    this.headDiffuse = mean(hl.diffuse);
    this.nDirLights = 0;
    this.nPointLights = 0;
    if (!this.opts.sceneLights) return;
    const rc = this.rc;
    for (const L of snapshot.lights) {
      this.ambient += mean(L.ambient);
      const diff = mean(L.diffuse);
      if (diff <= 0) continue;
      if (L.directional) {
        if (this.nDirLights + this.nPointLights >= MAX_LIGHTS - 1) continue;
        // Toward-light vector = -dir, expressed in the camera frame (Rc^T).
        const dx = -L.dir[0];
        const dy = -L.dir[1];
        const dz = -L.dir[2];
        const lx = rc[0] * dx + rc[3] * dy + rc[6] * dz;
        const ly = rc[1] * dx + rc[4] * dy + rc[7] * dz;
        const lz = rc[2] * dx + rc[5] * dy + rc[8] * dz;
        const l = Math.hypot(lx, ly, lz);
        if (l === 0) continue;
        const o = this.nDirLights * 4;
        this.dirLights[o] = lx / l;
        this.dirLights[o + 1] = ly / l;
        this.dirLights[o + 2] = lz / l;
        this.dirLights[o + 3] = diff;
        this.nDirLights++;
      } else {
        if (this.nDirLights + this.nPointLights >= MAX_LIGHTS - 1) continue;
        const o = this.nPointLights * 4;
        const c = this.toCamera(L.pos[0], L.pos[1], L.pos[2]);
        const x = c[0], y = c[1], d = c[2];
        this.pointLights[o] = x;
        this.pointLights[o + 1] = y;
        this.pointLights[o + 2] = -d;
        this.pointLights[o + 3] = diff;
        this.nPointLights++;
      }
    }
  }

  /** World point -> camera (x, y, depth), written to `this.tc` (no allocation). */
  private toCamera(wx: number, wy: number, wz: number): Float64Array {
    const rc = this.rc;
    const dx = wx - this.pc[0];
    const dy = wy - this.pc[1];
    const dz = wz - this.pc[2];
    const tc = this.tc;
    tc[0] = rc[0] * dx + rc[3] * dy + rc[6] * dz;
    tc[1] = rc[1] * dx + rc[4] * dy + rc[7] * dz;
    tc[2] = -(rc[2] * dx + rc[5] * dy + rc[8] * dz);
    return tc;
  }

  /** Lights for one geom: headlight, directional lights, point lights aimed at the geom's centre. */
  private setupGeomLights(gx: number, gy: number, gz: number): void {
    const L = this.geomLights;
    let n = 0;
    L[0] = 0;
    L[1] = 0;
    L[2] = 1;
    L[3] = this.headDiffuse;
    n = 1;
    for (let i = 0; i < this.nDirLights; i++, n++) for (let k = 0; k < 4; k++) L[n * 4 + k] = this.dirLights[i * 4 + k];
    for (let i = 0; i < this.nPointLights; i++) {
      const o = i * 4;
      const lx = this.pointLights[o] - gx;
      const ly = this.pointLights[o + 1] - gy;
      const lz = this.pointLights[o + 2] - gz;
      const l = Math.hypot(lx, ly, lz);
      if (l === 0) continue;
      L[n * 4] = lx / l;
      L[n * 4 + 1] = ly / l;
      L[n * 4 + 2] = lz / l;
      L[n * 4 + 3] = this.pointLights[o + 3];
      n++;
    }
    this.nGeomLights = n;
  }

  private intensity(nx: number, ny: number, nz: number): number {
    const L = this.geomLights;
    let I = this.ambient;
    for (let k = 0, n = this.nGeomLights * 4; k < n; k += 4) {
      const c = nx * L[k] + ny * L[k + 1] + nz * L[k + 2];
      if (c > 0) I += c * L[k + 3];
    }
    return I;
  }

  private ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    const cap = Math.max(n, this.cap * 2, 256);
    this.vx = new Float64Array(cap);
    this.vy = new Float64Array(cap);
    this.vd = new Float64Array(cap);
    this.sx = new Float64Array(cap);
    this.sy = new Float64Array(cap);
    this.siz = new Float64Array(cap);
    this.vi = new Float64Array(cap);
    this.vu = new Float64Array(cap);
    this.vv = new Float64Array(cap);
    this.oc = new Uint8Array(cap);
    this.cap = cap;
  }

  // -------------------------------------------------------------------------
  // Geoms

  private meshPrep(mesh: SceneMesh, meshId: number): MeshPrep {
    const hit = this.meshCache.get(mesh);
    if (hit) return hit;
    const v = mesh.vertices;
    const fc = mesh.faces;
    const nv = v.length / 3;
    const nf = fc.length / 3;
    const positions = Float64Array.from(v);
    const indices = new Uint32Array(nf * 3);
    for (let i = 0; i < nf * 3; i++) {
      const k = fc[i];
      if (k < 0 || k >= nv) throw new RenderError(`mesh ${meshId}: face ${Math.floor(i / 3)} refers to vertex ${k}, mesh has ${nv}`);
      indices[i] = k;
    }
    let r2 = 0;
    for (let i = 0; i < nv; i++) r2 = Math.max(r2, positions[i * 3] ** 2 + positions[i * 3 + 1] ** 2 + positions[i * 3 + 2] ** 2);
    const w = weldVertices(positions, indices);
    const full: MeshLevel = {
      cell_m: 0,
      positions: w.positions,
      indices: w.indices,
      faceNormals: faceNormalsOf(w.positions, w.indices),
      vertexCount: w.positions.length / 3,
      triangleCount: nf,
    };
    const prep: MeshPrep = { full, levels: [], radius: Math.sqrt(r2) };
    this.meshCache.set(mesh, prep);
    return prep;
  }

  /** The coarsest clustered level whose grid cell projects below `meshLodCell_px`, else the full mesh. */
  private meshLevel(prep: MeshPrep, depth_m: number): MeshLevel {
    const cellMax = this.opts.meshLod === false ? 0 : (this.opts.meshLod.cell_px * Math.max(depth_m, this.opts.near_m)) / this.f;
    for (let j = 0; j < LOD_LEVELS; j++) {
      const cell = prep.radius / 2 ** (LOD_FIRST_SHIFT + j);
      if (cell > cellMax) continue;
      let lvl = prep.levels[j];
      if (lvl === undefined) {
        const c = clusterMesh(prep.full.positions, prep.full.indices, cell);
        // Not worth it when clustering removes little.
        lvl = c.triangleCount > 0.7 * prep.full.triangleCount ? null : c;
        prep.levels[j] = lvl;
      }
      return lvl ?? prep.full;
    }
    return prep.full;
  }

  private planeHalf(s: number): number {
    return s > 0 ? s : this.opts.infinitePlaneHalfSize_m;
  }

  /** Bounding-sphere radius of a geom about its origin. */
  private boundRadius(g: SnapshotGeom, meshes: readonly SceneMesh[]): number {
    const s = g.size;
    switch (g.type) {
      case GeomType.sphere:
        return s[0];
      case GeomType.capsule:
        return s[0] + s[1];
      case GeomType.cylinder:
        return Math.hypot(s[0], s[1]);
      case GeomType.ellipsoid:
        return Math.max(s[0], s[1], s[2]);
      case GeomType.box:
        return Math.hypot(s[0], s[1], s[2]);
      case GeomType.plane:
        return Math.hypot(this.planeHalf(s[0]), this.planeHalf(s[1]));
      case GeomType.mesh: {
        const m = meshes[g.meshId];
        if (!m) throw new RenderError(`geom ${g.id} ("${g.name}"): mesh id ${g.meshId} is not in the snapshot (${meshes.length} meshes)`);
        return this.meshPrep(m, g.meshId).radius;
      }
      default:
        return -1; // not drawable (height field)
    }
  }

  private segmentsFor(radius_m: number, depth_m: number): number {
    const rpx = (this.f * radius_m) / Math.max(depth_m, this.opts.near_m);
    const need = Math.PI * Math.sqrt(rpx / (2 * this.opts.maxSilhouetteError_px));
    for (const n of SEGMENT_LEVELS) if (n >= need) return n;
    return SEGMENT_LEVELS[SEGMENT_LEVELS.length - 1];
  }

  /** Caches a tessellation (bounded: a scene whose sizes keep changing starts the cache over). */
  private store(key: string, t: Tessellation): Tessellation {
    if (this.tessCache.size >= MAX_CACHED_TESSELLATIONS) this.tessCache.clear();
    this.tessCache.set(key, t);
    return t;
  }

  private drawAll(snapshot: SceneSnapshot): void {
    const geoms = snapshot.geoms;
    const n = geoms.length;
    if (this.order.length < n) {
      this.order = new Int32Array(n);
      this.keys = new Float64Array(n);
    }
    const order = this.order;
    const keys = this.keys;
    const cp = this.cullPlanes;
    const near = this.opts.near_m;
    const far = this.opts.far_m;
    let nOpaque = 0;
    let nBlend = 0;
    // Visible geoms: opaque ones at the front of `order`, translucent ones at the back.
    for (let i = 0; i < n; i++) {
      const g = geoms[i];
      const R = this.boundRadius(g, snapshot.meshes);
      if (R < 0 || g.rgba[3] <= 0) continue;
      const c = this.toCamera(g.pos[0], g.pos[1], g.pos[2]);
      const x = c[0], y = c[1], d = c[2];
      let out = d + R < near || d - R > far;
      for (let k = 0; k < 4 && !out; k++) if (cp[k * 4] * x + cp[k * 4 + 1] * y + cp[k * 4 + 2] * d < -R) out = true;
      if (out) {
        this.stats.geomsCulled++;
        continue;
      }
      if (g.rgba[3] >= 1) {
        order[nOpaque] = i;
        keys[nOpaque] = d;
        nOpaque++;
      } else {
        nBlend++;
        order[n - nBlend] = i;
        keys[n - nBlend] = -d;
      }
    }
    // Opaque front to back (fewer shaded pixels), translucent back to front; ties by index.
    sortByKey(order, keys, 0, nOpaque);
    sortByKey(order, keys, n - nBlend, n);
    for (let k = 0; k < nOpaque; k++) this.drawGeom(geoms[order[k]], snapshot.meshes);
    for (let k = n - nBlend; k < n; k++) this.drawGeom(geoms[order[k]], snapshot.meshes);
  }

  private drawGeom(g: SnapshotGeom, meshes: readonly SceneMesh[]): void {
    const s = g.size;
    let sx = 1;
    let sy = 1;
    let sz = 1;
    let tess: Tessellation | MeshLevel;
    let faceNormals: Float64Array | null = null;
    const gc = this.toCamera(g.pos[0], g.pos[1], g.pos[2]);
    const gx = gc[0], gy = gc[1], gd = gc[2];
    const R = this.boundRadius(g, meshes);
    const lodDepth = gd - R;
    switch (g.type) {
      case GeomType.sphere: {
        const n = this.segmentsFor(s[0], lodDepth);
        tess = this.tessCache.get(`s${n}`) ?? this.store(`s${n}`, tessellateSphere(n));
        sx = sy = sz = s[0];
        break;
      }
      case GeomType.cylinder: {
        const n = this.segmentsFor(s[0], lodDepth);
        tess = this.tessCache.get(`y${n}`) ?? this.store(`y${n}`, tessellateCylinder(n));
        sx = sy = s[0];
        sz = s[1];
        break;
      }
      case GeomType.capsule: {
        const n = this.segmentsFor(s[0], lodDepth);
        const key = `c${n}|${s[0]}|${s[1]}`;
        tess = this.tessCache.get(key) ?? this.store(key, tessellateCapsule(s[0], s[1], n));
        break;
      }
      case GeomType.ellipsoid: {
        const n = this.segmentsFor(Math.max(s[0], s[1], s[2]), lodDepth);
        const key = `e${n}|${s[0]}|${s[1]}|${s[2]}`;
        tess = this.tessCache.get(key) ?? this.store(key, tessellateEllipsoid(s[0], s[1], s[2], n));
        break;
      }
      case GeomType.box:
        tess = this.unitBox;
        sx = s[0];
        sy = s[1];
        sz = s[2];
        break;
      case GeomType.plane:
        tess = this.unitPlane;
        sx = this.planeHalf(s[0]);
        sy = this.planeHalf(s[1]);
        break;
      case GeomType.mesh: {
        const lvl = this.meshLevel(this.meshPrep(meshes[g.meshId], g.meshId), gd - R);
        tess = lvl;
        faceNormals = lvl.faceNormals;
        break;
      }
      default:
        return;
    }
    this.stats.geomsDrawn++;
    this.stats.vertices += tess.vertexCount;

    // M = Rc^T Rg (local -> camera rotation); A = M diag(s); t = Rc^T (p - pc).
    const rc = this.rc;
    const rg = g.rot;
    const m = this.tmpM;
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) m[i * 3 + j] = rc[i] * rg[j] + rc[3 + i] * rg[3 + j] + rc[6 + i] * rg[6 + j];
    const m00 = m[0], m01 = m[1], m02 = m[2], m10 = m[3], m11 = m[4], m12 = m[5], m20 = m[6], m21 = m[7], m22 = m[8];
    const a00 = m00 * sx, a01 = m01 * sy, a02 = m02 * sz;
    const a10 = m10 * sx, a11 = m11 * sy, a12 = m12 * sz;
    const a20 = m20 * sx, a21 = m21 * sy, a22 = m22 * sz;
    const tx = gx;
    const ty = gy;
    const tz = -gd;

    this.setupGeomLights(gx, gy, -gd);
    const nv = tess.vertexCount;
    this.ensureCapacity(nv);
    const P = tess.positions;
    const N = faceNormals === null ? (tess as Tessellation).normals : EMPTY;
    const vx = this.vx, vy = this.vy, vd = this.vd, psx = this.sx, psy = this.sy, piz = this.siz, vi = this.vi, oc = this.oc;
    const vu = this.vu, vv = this.vv;
    const f = this.f, cx = this.cx, cy = this.cy;
    const pl = this.planes;
    const near = this.opts.near_m;
    // Whole geom inside the guard-band frustum and beyond the near plane: no per-vertex clip tests.
    let inside = gd - R >= near;
    for (let k = 1; k < N_PLANES && inside; k++) {
      const o = k * 4;
      const l = Math.hypot(pl[o], pl[o + 1], pl[o + 2]);
      if ((pl[o] * gx + pl[o + 1] * gy + pl[o + 2] * gd) / l < R) inside = false;
    }
    const isPlane = g.type === GeomType.plane;
    const smooth = faceNormals === null;
    for (let i = 0; i < nv; i++) {
      const px = P[i * 3], py = P[i * 3 + 1], pz = P[i * 3 + 2];
      const x = a00 * px + a01 * py + a02 * pz + tx;
      const y = a10 * px + a11 * py + a12 * pz + ty;
      const d = -(a20 * px + a21 * py + a22 * pz + tz);
      vx[i] = x;
      vy[i] = y;
      vd[i] = d;
      let code = 0;
      if (!inside) {
        for (let k = 0; k < N_PLANES; k++) {
          const o = k * 4;
          if (pl[o] * x + pl[o + 1] * y + pl[o + 2] * d + pl[o + 3] < 0) code |= 1 << k;
        }
      }
      oc[i] = code;
      if ((code & NEAR) === 0) {
        const iz = 1 / d;
        psx[i] = cx + f * x * iz;
        psy[i] = cy - f * y * iz;
        piz[i] = iz;
      }
      if (smooth) {
        const nx = N[i * 3], ny = N[i * 3 + 1], nz = N[i * 3 + 2];
        vi[i] = this.intensity(m00 * nx + m01 * ny + m02 * nz, m10 * nx + m11 * ny + m12 * nz, m20 * nx + m21 * ny + m22 * nz);
      }
      if (isPlane) {
        vu[i] = px * sx;
        vv[i] = py * sy;
      }
    }

    // Colour state for this geom.
    this.cr = clamp01(g.rgba[0]) * 255;
    this.cg = clamp01(g.rgba[1]) * 255;
    this.cb = clamp01(g.rgba[2]) * 255;
    this.alpha = Math.min(1, g.rgba[3]);
    const chk = this.opts.planeChecker;
    this.checker = isPlane && chk !== false;
    if (chk !== false) {
      this.cell = chk.cell_m;
      this.dark = 1 - chk.contrast;
    }

    const idx = tess.indices;
    const T = this.tri;
    const cull = this.opts.cullBackFaces;
    const W = this.width, H = this.height;
    for (let t = 0, nt = tess.triangleCount; t < nt; t++) {
      const i0 = idx[t * 3], i1 = idx[t * 3 + 1], i2 = idx[t * 3 + 2];
      const c0 = oc[i0], c1 = oc[i1], c2 = oc[i2];
      if ((c0 & c1 & c2) !== 0) continue;
      const unclipped = (c0 | c1 | c2) === 0;
      if (unclipped) {
        // Cheap rejection of triangles whose bounding box holds no pixel centre (most triangles
        // of a detailed mesh in a small image). The margin keeps every triangle that could
        // cover a centre once snapped to the fixed-point grid.
        const x0 = psx[i0], x1 = psx[i1], x2 = psx[i2];
        const minX = x0 < x1 ? (x0 < x2 ? x0 : x2) : x1 < x2 ? x1 : x2;
        const maxX = x0 > x1 ? (x0 > x2 ? x0 : x2) : x1 > x2 ? x1 : x2;
        const lo = Math.ceil(minX - 0.5 - SNAP_MARGIN);
        const hi = Math.floor(maxX - 0.5 + SNAP_MARGIN);
        if (lo > hi || hi < 0 || lo >= W) continue;
        const y0 = psy[i0], y1 = psy[i1], y2 = psy[i2];
        const minY = y0 < y1 ? (y0 < y2 ? y0 : y2) : y1 < y2 ? y1 : y2;
        const maxY = y0 > y1 ? (y0 > y2 ? y0 : y2) : y1 > y2 ? y1 : y2;
        const loY = Math.ceil(minY - 0.5 - SNAP_MARGIN);
        const hiY = Math.floor(maxY - 0.5 + SNAP_MARGIN);
        if (loY > hiY || hiY < 0 || loY >= H) continue;
      }
      let I0: number, I1: number, I2: number;
      if (smooth) {
        I0 = vi[i0];
        I1 = vi[i1];
        I2 = vi[i2];
      } else {
        const fn = faceNormals as Float64Array;
        const nx = fn[t * 3], ny = fn[t * 3 + 1], nz = fn[t * 3 + 2];
        const cnx = m00 * nx + m01 * ny + m02 * nz;
        const cny = m10 * nx + m11 * ny + m12 * nz;
        const cnz = m20 * nx + m21 * ny + m22 * nz;
        // Facing away: the normal points along the ray from the eye to the face.
        if (cull && cnx * vx[i0] + cny * vy[i0] - cnz * vd[i0] >= 0) continue;
        I0 = I1 = I2 = this.intensity(cnx, cny, cnz);
      }
      if (unclipped) {
        T[0] = psx[i0]; T[1] = psy[i0]; T[2] = piz[i0]; T[3] = I0; T[4] = vu[i0]; T[5] = vv[i0];
        T[6] = psx[i1]; T[7] = psy[i1]; T[8] = piz[i1]; T[9] = I1; T[10] = vu[i1]; T[11] = vv[i1];
        T[12] = psx[i2]; T[13] = psy[i2]; T[14] = piz[i2]; T[15] = I2; T[16] = vu[i2]; T[17] = vv[i2];
        this.fill(T);
      } else {
        this.clipAndFill(i0, i1, i2, I0, I1, I2);
      }
    }
  }

  private readonly tmpM = new Float64Array(9);

  // -------------------------------------------------------------------------
  // Clipping

  private clipAndFill(i0: number, i1: number, i2: number, I0: number, I1: number, I2: number): void {
    let src = this.polyA;
    let dst = this.polyB;
    for (let j = 0; j < 3; j++) {
      const i = j === 0 ? i0 : j === 1 ? i1 : i2;
      const o = j * ATTR;
      src[o] = this.vx[i];
      src[o + 1] = this.vy[i];
      src[o + 2] = this.vd[i];
      src[o + 3] = j === 0 ? I0 : j === 1 ? I1 : I2;
      src[o + 4] = this.vu[i];
      src[o + 5] = this.vv[i];
    }
    let n = 3;
    const mask = this.oc[i0] | this.oc[i1] | this.oc[i2];
    const pl = this.planes;
    for (let k = 0; k < N_PLANES && n >= 3; k++) {
      if ((mask & (1 << k)) === 0) continue;
      const a = pl[k * 4], b = pl[k * 4 + 1], c = pl[k * 4 + 2], e = pl[k * 4 + 3];
      let m = 0;
      for (let j = 0; j < n; j++) {
        const cur = j * ATTR;
        const prev = ((j + n - 1) % n) * ATTR;
        const dc = a * src[cur] + b * src[cur + 1] + c * src[cur + 2] + e;
        const dp = a * src[prev] + b * src[prev + 1] + c * src[prev + 2] + e;
        if (dc >= 0) {
          if (dp < 0) m = emitIntersection(src, cur, dc, prev, dp, dst, m);
          for (let q = 0; q < ATTR; q++) dst[m * ATTR + q] = src[cur + q];
          m++;
        } else if (dp >= 0) {
          m = emitIntersection(src, prev, dp, cur, dc, dst, m);
        }
      }
      const tmp = src;
      src = dst;
      dst = tmp;
      n = m;
    }
    if (n < 3) return;
    // Project the polygon in place: x, y, d -> sx, sy, iz.
    const f = this.f, cx = this.cx, cy = this.cy;
    for (let j = 0; j < n; j++) {
      const o = j * ATTR;
      const iz = 1 / src[o + 2];
      const x = src[o];
      src[o] = cx + f * x * iz;
      src[o + 1] = cy - f * src[o + 1] * iz;
      src[o + 2] = iz;
    }
    const T = this.tri;
    for (let j = 1; j + 1 < n; j++) {
      for (let q = 0; q < ATTR; q++) {
        T[q] = src[q];
        T[ATTR + q] = src[j * ATTR + q];
        T[2 * ATTR + q] = src[(j + 1) * ATTR + q];
      }
      this.fill(T);
    }
  }

  // -------------------------------------------------------------------------
  // Rasterisation

  /** Fills one screen-space triangle T = [sx, sy, iz, I, u, v] x 3. */
  private fill(T: Float64Array): void {
    this.stats.trianglesSubmitted++;
    let X0 = Math.round(T[0] * SUB), Y0 = Math.round(T[1] * SUB);
    let X1 = Math.round(T[6] * SUB), Y1 = Math.round(T[7] * SUB);
    let X2 = Math.round(T[12] * SUB), Y2 = Math.round(T[13] * SUB);
    let o1 = 6;
    let o2 = 12;
    let area = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0);
    // Counter-clockwise seen from the camera (front-facing) gives area < 0 with y pointing down;
    // the edge functions below want area > 0, so front faces swap two vertices.
    if (area < 0) {
      let t = X1; X1 = X2; X2 = t;
      t = Y1; Y1 = Y2; Y2 = t;
      o1 = 12;
      o2 = 6;
      area = -area;
    } else if (area === 0 || this.opts.cullBackFaces) return;
    const W = this.width;
    const H = this.height;
    const minX = Math.min(X0, X1, X2), maxX = Math.max(X0, X1, X2);
    const minY = Math.min(Y0, Y1, Y2), maxY = Math.max(Y0, Y1, Y2);
    const px0 = Math.max(0, Math.ceil((minX - HALF) / SUB));
    const px1 = Math.min(W - 1, Math.floor((maxX - HALF) / SUB));
    const py0 = Math.max(0, Math.ceil((minY - HALF) / SUB));
    const py1 = Math.min(H - 1, Math.floor((maxY - HALF) / SUB));
    if (px0 > px1 || py0 > py1) return;
    this.stats.trianglesRasterised++;

    // Edge functions E_ab(P) = (Xb - Xa)(PY - Ya) - (Yb - Ya)(PX - Xa), >= 0 inside.
    const PX = px0 * SUB + HALF;
    const PY = py0 * SUB + HALF;
    const e12 = (X2 - X1) * (PY - Y1) - (Y2 - Y1) * (PX - X1); // weight of vertex 0
    const e20 = (X0 - X2) * (PY - Y2) - (Y0 - Y2) * (PX - X2); // weight of vertex 1
    const e01 = (X1 - X0) * (PY - Y0) - (Y1 - Y0) * (PX - X0); // weight of vertex 2
    const dx12 = -(Y2 - Y1) * SUB, dy12 = (X2 - X1) * SUB;
    const dx20 = -(Y0 - Y2) * SUB, dy20 = (X0 - X2) * SUB;
    const dx01 = -(Y1 - Y0) * SUB, dy01 = (X1 - X0) * SUB;
    // Top-left rule: pixels exactly on an edge belong to it only if it is a top or a left edge.
    const b12 = isTopLeft(X2 - X1, Y2 - Y1) ? 0 : -1;
    const b20 = isTopLeft(X0 - X2, Y0 - Y2) ? 0 : -1;
    const b01 = isTopLeft(X1 - X0, Y1 - Y0) ? 0 : -1;

    // Attributes are interpolated from the unsnapped vertex positions (coverage uses the snapped
    // ones), so snapping does not tilt depth across large triangles. Fall back to the snapped
    // weights for slivers whose float area disagrees.
    const fx0 = T[0], fy0 = T[1], fx1 = T[o1], fy1 = T[o1 + 1], fx2 = T[o2], fy2 = T[o2 + 1];
    const fArea = (fx1 - fx0) * (fy2 - fy0) - (fy1 - fy0) * (fx2 - fx0);
    let g12: number, g20: number, g01: number, gx12: number, gx20: number, gx01: number, gy12: number, gy20: number, gy01: number, inv: number;
    if (fArea > 1e-9) {
      const Px = px0 + 0.5, Py = py0 + 0.5;
      g12 = (fx2 - fx1) * (Py - fy1) - (fy2 - fy1) * (Px - fx1);
      g20 = (fx0 - fx2) * (Py - fy2) - (fy0 - fy2) * (Px - fx2);
      g01 = (fx1 - fx0) * (Py - fy0) - (fy1 - fy0) * (Px - fx0);
      gx12 = -(fy2 - fy1); gy12 = fx2 - fx1;
      gx20 = -(fy0 - fy2); gy20 = fx0 - fx2;
      gx01 = -(fy1 - fy0); gy01 = fx1 - fx0;
      inv = 1 / fArea;
    } else {
      g12 = e12; g20 = e20; g01 = e01;
      gx12 = dx12; gx20 = dx20; gx01 = dx01;
      gy12 = dy12; gy20 = dy20; gy01 = dy01;
      inv = 1 / area;
    }
    const z0 = T[2], z1 = T[o1 + 2], z2 = T[o2 + 2];
    const l0 = T[3], l1 = T[o1 + 3], l2 = T[o2 + 3];
    const zRow0 = (z0 * g12 + z1 * g20 + z2 * g01) * inv;
    const dzx = (z0 * gx12 + z1 * gx20 + z2 * gx01) * inv;
    const dzy = (z0 * gy12 + z1 * gy20 + z2 * gy01) * inv;
    const lRow0 = (l0 * g12 + l1 * g20 + l2 * g01) * inv;
    const dlx = (l0 * gx12 + l1 * gx20 + l2 * gx01) * inv;
    const dly = (l0 * gy12 + l1 * gy20 + l2 * gy01) * inv;

    const zb = this.zbuf;
    const out = this.rgbOut;
    const cr = this.cr, cg = this.cg, cb = this.cb;
    const last = px1 - px0;
    const narrow = last < NARROW_PX;
    let r0 = e12 + b12, r1 = e20 + b20, r2 = e01 + b01;
    let zr = zRow0;
    let lr = lRow0;

    // Checker planes: plane coordinates are perspective-correct (u * iz is affine in screen space).
    const checker = this.checker;
    let ur = 0, dux = 0, duy = 0, vr = 0, dvx = 0, dvy = 0;
    if (checker) {
      const u0 = T[4] * z0, u1 = T[o1 + 4] * z1, u2 = T[o2 + 4] * z2;
      const v0 = T[5] * z0, v1 = T[o1 + 5] * z1, v2 = T[o2 + 5] * z2;
      ur = (u0 * g12 + u1 * g20 + u2 * g01) * inv;
      dux = (u0 * gx12 + u1 * gx20 + u2 * gx01) * inv;
      duy = (u0 * gy12 + u1 * gy20 + u2 * gy01) * inv;
      vr = (v0 * g12 + v1 * g20 + v2 * g01) * inv;
      dvx = (v0 * gx12 + v1 * gx20 + v2 * gx01) * inv;
      dvy = (v0 * gy12 + v1 * gy20 + v2 * gy01) * inv;
    }
    const invCell = 1 / this.cell;
    const dark = this.dark;
    const a = this.alpha;
    const blend = a < 1;
    const ia = 1 - a;

    for (let py = py0; py <= py1; py++, r0 += dy12, r1 += dy20, r2 += dy01, zr += dzy, lr += dly, ur += duy, vr += dvy) {
      // The row's covered span [k0, k1] from the three edge functions, exactly (integers).
      let k0: number, k1: number;
      if (narrow) {
        // Few pixels: walk the row (the covered run is contiguous).
        let w0 = r0, w1 = r1, w2 = r2;
        k0 = 0;
        while (k0 <= last && (w0 < 0 || w1 < 0 || w2 < 0)) {
          k0++;
          w0 += dx12; w1 += dx20; w2 += dx01;
        }
        if (k0 > last) continue;
        k1 = k0;
        while (k1 < last && w0 + dx12 >= 0 && w1 + dx20 >= 0 && w2 + dx01 >= 0) {
          k1++;
          w0 += dx12; w1 += dx20; w2 += dx01;
        }
      } else {
        k0 = Math.max(firstInside(r0, dx12), firstInside(r1, dx20), firstInside(r2, dx01));
        k1 = Math.min(last, lastInside(r0, dx12, last), lastInside(r1, dx20, last), lastInside(r2, dx01, last));
        if (k0 > k1) continue;
      }
      let zz = zr + k0 * dzx;
      let ll = lr + k0 * dlx;
      let i = py * W + px0 + k0;
      const iEnd = i + (k1 - k0);
      if (checker) {
        let uu = ur + k0 * dux;
        let vv = vr + k0 * dvx;
        for (; i <= iEnd; i++, zz += dzx, ll += dlx, uu += dux, vv += dvx) {
          if (zz > zb[i]) {
            zb[i] = zz;
            const iz = invCell / zz;
            const k = (Math.floor(uu * iz) + Math.floor(vv * iz)) & 1 ? ll * dark : ll;
            const o = i * 3;
            out[o] = cr * k;
            out[o + 1] = cg * k;
            out[o + 2] = cb * k;
          }
        }
      } else if (blend) {
        for (; i <= iEnd; i++, zz += dzx, ll += dlx) {
          if (zz > zb[i]) {
            const o = i * 3;
            const k = ll * a;
            out[o] = cr * k + out[o] * ia;
            out[o + 1] = cg * k + out[o + 1] * ia;
            out[o + 2] = cb * k + out[o + 2] * ia;
          }
        }
      } else {
        for (; i <= iEnd; i++, zz += dzx, ll += dlx) {
          if (zz > zb[i]) {
            zb[i] = zz;
            const o = i * 3;
            out[o] = cr * ll;
            out[o + 1] = cg * ll;
            out[o + 2] = cb * ll;
          }
        }
      }
    }
  }
}

/** Smallest k >= 0 with w + k*s >= 0 (integers); a large value when no k qualifies. */
function firstInside(w: number, s: number): number {
  if (w >= 0) return 0;
  if (s <= 0) return 1e9;
  let k = Math.ceil(-w / s);
  // Guard the float division (operands are exact integers below 2^53).
  while (k > 0 && w + (k - 1) * s >= 0) k--;
  while (w + k * s < 0) k++;
  return k;
}

/** Largest k <= last with w + k*s >= 0 (integers), assuming k = 0 qualifies or firstInside says otherwise. */
function lastInside(w: number, s: number, last: number): number {
  if (s >= 0) return last;
  if (w < 0) return -1;
  let k = Math.floor(w / -s);
  while (w + k * s < 0) k--;
  while (w + (k + 1) * s >= 0) k++;
  return k < last ? k : last;
}

/** For triangles with positive area in y-down screen space: a top edge runs exactly rightwards, a left edge upwards. */
function isTopLeft(dx: number, dy: number): boolean {
  return dy < 0 || (dy === 0 && dx > 0);
}

/** Appends the point where edge inside->outside crosses the plane, interpolated from the inside vertex (so shared edges clip identically). */
function emitIntersection(src: Float64Array, inO: number, dIn: number, outO: number, dOut: number, dst: Float64Array, m: number): number {
  const t = dIn / (dIn - dOut);
  const o = m * ATTR;
  for (let q = 0; q < ATTR; q++) dst[o + q] = src[inO + q] + t * (src[outO + q] - src[inO + q]);
  return m + 1;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Insertion sort of order[lo..hi) by keys[lo..hi) ascending, ties by order value (stable, deterministic). */
function sortByKey(order: Int32Array, keys: Float64Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const o = order[i];
    const k = keys[i];
    let j = i - 1;
    while (j >= lo && (keys[j] > k || (keys[j] === k && order[j] > o))) {
      order[j + 1] = order[j];
      keys[j + 1] = keys[j];
      j--;
    }
    order[j + 1] = o;
    keys[j + 1] = k;
  }
}
