/**
 * RGB-D object locator for a calibrated fixed camera: owns segmenting coloured
 * objects by chromaticity, back-projecting their depth pixels into world
 * coordinates (the renderer's pinhole conventions: pixel (px, py) centred at
 * (px + 0.5, py + 0.5), optical axis through (W/2, H/2), f = (H/2)/tan(fovy/2)
 * for both axes, camera looking along its -z column with +y up in the image),
 * and turning the points into an object pose: a solid box rotated about z
 * (yaw from its side faces' normals, else a minimum-area rectangle search;
 * centre from the known-size square fitted to its footprint; height from its
 * top face), an open, axis-aligned box (centre of its footprint, base height),
 * or a flat extruded outline of known shape seen from above (a T block: pose in
 * the plane, yaw over the full turn, from its top face's area moments, the
 * half-turn ambiguity settled by which pose covers more of the points).
 */
import { z } from 'zod';
import type { CameraImage } from '../robot/arm';

export interface CameraModel {
  pos: ArrayLike<number>;
  /** Row-major 3x3 camera -> world rotation (its columns are the camera axes in world coordinates). */
  rot: ArrayLike<number>;
  fovy_deg: number;
}

export interface ColourObjectSpec {
  /** Name reported in detections ('cube', 'bin'). */
  id: string;
  /** Nominal colour, linear 0..1 (the geom's rgba without alpha). */
  rgb: [number, number, number];
  /**
   * 'box': a solid box of known half size, rotated about z only; 'open-box': an axis-aligned open box (a bin);
   * 'outline': a flat extrusion of the rectangles `parts` (its own frame, rotated about z), located from its top face.
   */
  shape: 'box' | 'open-box' | 'outline';
  /** Half size in metres (box: half edge; open box: half width to the wall centre line; outline: half its height). */
  half_m: number;
  /** Outline only: its footprint as non-overlapping rectangles (centre and half sizes in the object's frame, m). */
  parts?: OutlinePart[];
  /** Fewer segmented pixels than this and the object counts as not seen (default 6). */
  minPixels?: number;
  /** Largest distance in chromaticity (r, g, b divided by their sum) from the nominal colour's (default 0.06). */
  chromaTolerance?: number;
}

export interface OutlinePart {
  center: [number, number];
  half: [number, number];
}

export interface ObjectDetection {
  id: string;
  /** World position of the object's centre (open box: centre of its base). */
  position: [number, number, number];
  /** Boxes: yaw about world z, wrapped to (-pi/4, pi/4] since a square looks the same every quarter turn; outlines: yaw in (-pi, pi]. */
  yaw_rad?: number;
  /** Segmented pixels the estimate used. */
  pixels: number;
}

export interface LocateOptions {
  /** Height of the supporting table top (m); an open box whose lowest point is within `tableSnap_m` of it stands on it. */
  tableZ_m?: number;
  tableSnap_m?: number;
}

export const DEFAULT_MIN_PIXELS = 6;
export const DEFAULT_CHROMA_TOLERANCE = 0.06;
/** Pixels whose r + g + b (bytes) is below this are too dark for a reliable chromaticity. */
const MIN_BRIGHTNESS = 24;
/** Points within this much of the highest point of a box belong to its top face. */
const TOP_BAND_m = 0.003;

export const ColourObjectSpecSchema = z
  .object({
    id: z.string().min(1),
    rgb: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)]),
    shape: z.enum(['box', 'open-box', 'outline']),
    half_m: z.number().finite().positive(),
    parts: z
      .array(z.object({ center: z.tuple([z.number().finite(), z.number().finite()]), half: z.tuple([z.number().finite().positive(), z.number().finite().positive()]) }).strict())
      .min(1)
      .optional(),
    minPixels: z.number().int().min(1).optional(),
    chromaTolerance: z.number().finite().positive().max(1).optional(),
  })
  .strict()
  .refine((s) => s.rgb[0] + s.rgb[1] + s.rgb[2] > 0, { message: 'rgb must not be black (it has no chromaticity)', path: ['rgb'] })
  .refine((s) => (s.shape === 'outline') === (s.parts !== undefined), { message: "parts are given for shape 'outline', and only for it", path: ['parts'] });

const SpecListSchema = z.array(ColourObjectSpecSchema).superRefine((specs, ctx) => {
  const seen = new Set<string>();
  specs.forEach((s, i) => {
    if (seen.has(s.id)) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `duplicate id "${s.id}"`, path: [i, 'id'] });
    seen.add(s.id);
  });
});

const LocateOptionsSchema = z
  .object({ tableZ_m: z.number().finite().default(0), tableSnap_m: z.number().finite().nonnegative().default(0.015) })
  .strict();

function checkImage(image: CameraImage): Float32Array {
  if (image === null || typeof image !== 'object') throw new TypeError('locateObjects: image must be a CameraImage object');
  const { width: W, height: H } = image;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W <= 0 || H <= 0)
    throw new RangeError(`locateObjects: image size must be positive integers, got ${W}x${H}`);
  if (!(image.rgb instanceof Uint8Array)) throw new TypeError('locateObjects: image.rgb must be a Uint8Array');
  if (image.rgb.length !== W * H * 3)
    throw new RangeError(`locateObjects: image.rgb has ${image.rgb.length} bytes, expected ${W * H * 3} for ${W}x${H} RGB`);
  if (image.depth === undefined)
    throw new TypeError('locateObjects: image has no depth; render the camera with depth (e.g. SimEnv option depth: true)');
  if (!(image.depth instanceof Float32Array)) throw new TypeError('locateObjects: image.depth must be a Float32Array');
  if (image.depth.length !== W * H)
    throw new RangeError(`locateObjects: image.depth has ${image.depth.length} values, expected ${W * H} for ${W}x${H}`);
  return image.depth;
}

function checkCamera(camera: CameraModel): void {
  if (camera === null || typeof camera !== 'object') throw new TypeError('locateObjects: camera must be a CameraModel object');
  const { pos, rot, fovy_deg } = camera;
  if (pos === undefined || pos === null || typeof pos.length !== 'number') throw new TypeError('locateObjects: camera.pos must be 3 numbers');
  if (rot === undefined || rot === null || typeof rot.length !== 'number') throw new TypeError('locateObjects: camera.rot must be 9 numbers');
  if (pos.length !== 3) throw new RangeError(`locateObjects: camera.pos must hold 3 numbers, got ${pos.length}`);
  if (rot.length !== 9) throw new RangeError(`locateObjects: camera.rot must hold 9 numbers (row-major 3x3), got ${rot.length}`);
  for (let i = 0; i < 3; i++)
    if (typeof pos[i] !== 'number' || !Number.isFinite(pos[i])) throw new RangeError(`locateObjects: camera.pos[${i}] is not finite (${pos[i]})`);
  for (let i = 0; i < 9; i++)
    if (typeof rot[i] !== 'number' || !Number.isFinite(rot[i])) throw new RangeError(`locateObjects: camera.rot[${i}] is not finite (${rot[i]})`);
  // R^T R = I: the columns are orthonormal.
  for (let a = 0; a < 3; a++)
    for (let b = a; b < 3; b++) {
      const d = rot[a] * rot[b] + rot[3 + a] * rot[3 + b] + rot[6 + a] * rot[6 + b];
      if (Math.abs(d - (a === b ? 1 : 0)) > 1e-3)
        throw new RangeError(`locateObjects: camera.rot is not a rotation matrix (columns ${a} and ${b} have dot product ${d.toFixed(4)})`);
    }
  if (typeof fovy_deg !== 'number' || !Number.isFinite(fovy_deg) || fovy_deg <= 0 || fovy_deg >= 180)
    throw new RangeError(`locateObjects: camera.fovy_deg must be in (0, 180) degrees, got ${fovy_deg}`);
}

function parseSpecs(specs: readonly ColourObjectSpec[]): z.output<typeof SpecListSchema> {
  const r = SpecListSchema.safeParse(specs);
  if (!r.success) {
    const what = r.error.issues.map((i) => `specs${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`).join('; ');
    throw new TypeError(`locateObjects: invalid object spec: ${what}`);
  }
  return r.data;
}

/** Segmented world points of one image: the point of each pixel, the spec it belongs to, and which pixel holds which point. */
interface Segmented {
  x: Float64Array;
  y: Float64Array;
  z: Float64Array;
  /** Point index per pixel, -1 where no object was segmented. */
  pointAt: Int32Array;
  /** Spec index per point. */
  spec: Int32Array;
  /** Pixel index per point. */
  pixel: Int32Array;
  width: number;
  height: number;
}

/** Wraps an angle to (-pi/4, pi/4]. */
function wrapQuarter(a: number): number {
  const q = Math.PI / 2;
  let w = a - q * Math.round(a / q);
  if (w <= -Math.PI / 4) w += q;
  return w;
}

function median(values: Float64Array): number {
  const s = values.slice().sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : 0.5 * (s[m - 1] + s[m]);
}

/** The points of `idx` within `radius` of their component-wise median (drops stray pixels of the same colour elsewhere). */
function cluster(seg: Segmented, idx: Int32Array, radius: number): Int32Array {
  const pick = (a: Float64Array) => Float64Array.from(idx, (i) => a[i]);
  const mx = median(pick(seg.x)), my = median(pick(seg.y)), mz = median(pick(seg.z));
  const r2 = radius * radius;
  return idx.filter((i) => (seg.x[i] - mx) ** 2 + (seg.y[i] - my) ** 2 + (seg.z[i] - mz) ** 2 <= r2);
}

/** Extents of xy points along the axes at angle `t`: [umin, umax, vmin, vmax]. */
function extentsAt(xs: Float64Array, ys: Float64Array, t: number, out: Float64Array): void {
  const c = Math.cos(t), s = Math.sin(t);
  let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (let i = 0; i < xs.length; i++) {
    const u = c * xs[i] + s * ys[i];
    const v = -s * xs[i] + c * ys[i];
    if (u < u0) u0 = u;
    if (u > u1) u1 = u;
    if (v < v0) v0 = v;
    if (v > v1) v1 = v;
  }
  out[0] = u0;
  out[1] = u1;
  out[2] = v0;
  out[3] = v1;
}

/**
 * Yaw (mod a quarter turn) from the surface normals of a box's vertical
 * faces: each pixel's normal from its neighbours' points, kept where the
 * forward and backward differences agree (not on an edge) and it is nearly
 * horizontal; the quarter-turn-symmetric mean of their directions (angle
 * times 4). Undefined when too few pixels of side faces are seen.
 */
function sideFaceYaw(seg: Segmented, keep: Uint8Array, k: number, idx: Int32Array): number | undefined {
  const W = seg.width, H = seg.height;
  const at = (px: number, py: number): number => {
    if (px < 0 || py < 0 || px >= W || py >= H) return -1;
    const j = seg.pointAt[py * W + px];
    return j >= 0 && seg.spec[j] === k && keep[j] ? j : -1;
  };
  const n1 = new Float64Array(3), n2 = new Float64Array(3);
  const normal = (o: number, a: number, b: number, out: Float64Array): boolean => {
    const ax = seg.x[a] - seg.x[o], ay = seg.y[a] - seg.y[o], az = seg.z[a] - seg.z[o];
    const bx = seg.x[b] - seg.x[o], by = seg.y[b] - seg.y[o], bz = seg.z[b] - seg.z[o];
    const nx = ay * bz - az * by, ny = az * bx - ax * bz, nz = ax * by - ay * bx;
    const l = Math.hypot(nx, ny, nz);
    if (!(l > 0)) return false;
    out[0] = nx / l;
    out[1] = ny / l;
    out[2] = nz / l;
    return true;
  };
  let sc = 0, ss = 0, n = 0;
  for (const j of idx) {
    const p = seg.pixel[j], px = p % W, py = (p - px) / W;
    const r = at(px + 1, py), d = at(px, py + 1), l = at(px - 1, py), u = at(px, py - 1);
    if (r < 0 || d < 0 || l < 0 || u < 0) continue;
    // (right, down) and (left, up) give the same orientation of the cross product.
    if (!normal(j, r, d, n1) || !normal(j, l, u, n2)) continue;
    if (n1[0] * n2[0] + n1[1] * n2[1] + n1[2] * n2[2] < 0.995) continue;
    const hx = n1[0] + n2[0], hy = n1[1] + n2[1];
    if (Math.abs(n1[2] + n2[2]) > 0.2) continue;
    const phi = Math.atan2(hy, hx);
    sc += Math.cos(4 * phi);
    ss += Math.sin(4 * phi);
    n++;
  }
  if (n < MIN_SIDE_NORMALS || Math.hypot(sc, ss) < 0.8 * n) return undefined;
  return Math.atan2(ss, sc) / 4;
}

const MIN_SIDE_NORMALS = 4;
/** Side-face points within this of an extreme lie on that footprint edge; this many make the edge seen. */
const EDGE_m = 0.001;
const MIN_EDGE_POINTS = 3;

/**
 * Solid box rotated about z: every visible point's xy lies in the square
 * footprint. The yaw comes from the side faces' normals when enough of them
 * are seen, otherwise it is the one whose bounding rectangle of the points
 * has the least area (1-degree steps over a quarter turn, then refined to 0.1
 * degree); the centre is fitted along those axes (`squareCentre`); the height
 * is the top face's (the highest point) minus the half size.
 */
function locateBox(seg: Segmented, keep: Uint8Array, k: number, idx: Int32Array, half: number): { position: [number, number, number]; yaw_rad: number } {
  let top = -Infinity;
  for (const i of idx) top = Math.max(top, seg.z[i]);
  const xs = Float64Array.from(idx, (i) => seg.x[i]), ys = Float64Array.from(idx, (i) => seg.y[i]);
  const e = new Float64Array(4);
  let best = sideFaceYaw(seg, keep, k, idx);
  if (best === undefined) {
    const area = (t: number): number => {
      extentsAt(xs, ys, t, e);
      return (e[1] - e[0]) * (e[3] - e[2]);
    };
    const deg = Math.PI / 180;
    let bestA = Infinity;
    best = 0;
    for (let s = 0; s < 90; s++) {
      const a = area(s * deg);
      if (a < bestA) {
        bestA = a;
        best = s * deg;
      }
    }
    const coarse = best;
    for (let s = -10; s <= 10; s++) {
      const t = coarse + s * 0.1 * deg;
      const a = area(t);
      if (a < bestA) {
        bestA = a;
        best = t;
      }
    }
  }
  extentsAt(xs, ys, best, e);
  const [uc, vc] = squareCentre(seg, idx, top, best, e, half);
  const c = Math.cos(best), s = Math.sin(best);
  return { position: [c * uc - s * vc, s * uc + c * vc, top - half], yaw_rad: wrapQuarter(best) };
}

/**
 * Centre (u, v) of the square footprint along the axes at angle `t`, given the
 * points' extents `e` there. A side face seen by the camera puts points exactly
 * on its footprint edge, while a far edge is only the top face's silhouette,
 * short by up to a pixel's footprint; so where a side face is seen the centre
 * is half a size in from it, else it is the middle of the extents. Either way
 * it stays where the square still holds every point.
 */
function squareCentre(seg: Segmented, idx: Int32Array, top: number, t: number, e: Float64Array, half: number): [number, number] {
  const c = Math.cos(t), s = Math.sin(t);
  let n0u = 0, n1u = 0, n0v = 0, n1v = 0;
  for (const i of idx) {
    if (seg.z[i] >= top - TOP_BAND_m) continue; // top face: not a side face
    const u = c * seg.x[i] + s * seg.y[i], v = -s * seg.x[i] + c * seg.y[i];
    if (u <= e[0] + EDGE_m) n0u++;
    if (u >= e[1] - EDGE_m) n1u++;
    if (v <= e[2] + EDGE_m) n0v++;
    if (v >= e[3] - EDGE_m) n1v++;
  }
  const along = (lo: number, hi: number, nLo: number, nHi: number): number => {
    const seenLo = nLo >= MIN_EDGE_POINTS, seenHi = nHi >= MIN_EDGE_POINTS;
    if (seenLo === seenHi) return 0.5 * (lo + hi);
    const est = seenLo ? lo + half : hi - half;
    return Math.min(Math.max(est, hi - half), lo + half);
  };
  return [along(e[0], e[1], n0u, n1u), along(e[2], e[3], n0v, n1v)];
}

/** Open axis-aligned box: centre of the xy extents; base = lowest point, snapped to the table when it is clearly on it. */
function locateOpenBox(seg: Segmented, idx: Int32Array, tableZ: number, snap: number): [number, number, number] {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity, z0 = Infinity;
  for (const i of idx) {
    const x = seg.x[i], y = seg.y[i], zz = seg.z[i];
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
    if (zz < z0) z0 = zz;
  }
  const base = Math.abs(z0 - tableZ) <= snap ? tableZ : z0;
  return [0.5 * (x0 + x1), 0.5 * (y0 + y1), base];
}

/** Area, area centroid and central second moments (xx, yy, xy) of an outline's rectangles. */
function outlineMoments(parts: readonly OutlinePart[]): { area: number; cx: number; cy: number; xx: number; yy: number; xy: number } {
  let area = 0, sx = 0, sy = 0;
  for (const p of parts) {
    const a = 4 * p.half[0] * p.half[1];
    area += a;
    sx += a * p.center[0];
    sy += a * p.center[1];
  }
  const cx = sx / area, cy = sy / area;
  let xx = 0, yy = 0, xy = 0;
  for (const p of parts) {
    const a = 4 * p.half[0] * p.half[1];
    const dx = p.center[0] - cx, dy = p.center[1] - cy;
    xx += a * ((p.half[0] * p.half[0]) / 3 + dx * dx);
    yy += a * ((p.half[1] * p.half[1]) / 3 + dy * dy);
    xy += a * dx * dy;
  }
  return { area, cx, cy, xx: xx / area, yy: yy / area, xy: xy / area };
}

/** Distance from the outline's frame point (u, v) to its footprint, 0 inside. */
function outsideOutline(parts: readonly OutlinePart[], u: number, v: number): number {
  let best = Infinity;
  for (const p of parts) {
    const dx = Math.max(Math.abs(u - p.center[0]) - p.half[0], 0);
    const dy = Math.max(Math.abs(v - p.center[1]) - p.half[1], 0);
    best = Math.min(best, Math.hypot(dx, dy));
  }
  return best;
}

/** Anisotropy (|difference of the principal second moments| over their sum) below which moments give no axis. */
const MIN_ANISOTROPY = 0.1;

/**
 * Flat extruded outline seen from above: its top face's points (within
 * TOP_BAND_m of the highest) are an even sample of the footprint, so their
 * centroid is the outline's area centroid and their principal axis its
 * principal axis. That leaves two yaws half a turn apart (or, for an outline
 * whose moments are isotropic, every whole degree); the one under which the
 * most points fall inside the footprint (within `pixel_m`) wins. The position
 * is the frame origin that puts the area centroid on the points' centroid.
 */
function locateOutline(seg: Segmented, idx: Int32Array, half: number, parts: readonly OutlinePart[], pixel_m: number): { position: [number, number, number]; yaw_rad: number } {
  let top = -Infinity;
  for (const i of idx) top = Math.max(top, seg.z[i]);
  const face = idx.filter((i) => seg.z[i] >= top - TOP_BAND_m);
  let mx = 0, my = 0;
  for (const i of face) {
    mx += seg.x[i];
    my += seg.y[i];
  }
  mx /= face.length;
  my /= face.length;
  let xx = 0, yy = 0, xy = 0;
  for (const i of face) {
    const dx = seg.x[i] - mx, dy = seg.y[i] - my;
    xx += dx * dx;
    yy += dy * dy;
    xy += dx * dy;
  }
  const m = outlineMoments(parts);
  const modelAxis = 0.5 * Math.atan2(2 * m.xy, m.xx - m.yy);
  const seenAxis = 0.5 * Math.atan2(2 * xy, xx - yy);
  const anisotropy = Math.hypot(m.xx - m.yy, 2 * m.xy) / (m.xx + m.yy);
  const candidates = anisotropy >= MIN_ANISOTROPY ? [seenAxis - modelAxis, seenAxis - modelAxis + Math.PI] : Array.from({ length: 360 }, (_, d) => (d * Math.PI) / 180);
  const originFor = (yaw: number): [number, number] => {
    const c = Math.cos(yaw), s = Math.sin(yaw);
    return [mx - (c * m.cx - s * m.cy), my - (s * m.cx + c * m.cy)];
  };
  let best = candidates[0]!, bestInside = -1;
  for (const yaw of candidates) {
    const [ox, oy] = originFor(yaw);
    const c = Math.cos(yaw), s = Math.sin(yaw);
    let inside = 0;
    for (const i of face) {
      const dx = seg.x[i] - ox, dy = seg.y[i] - oy;
      if (outsideOutline(parts, c * dx + s * dy, -s * dx + c * dy) <= pixel_m) inside++;
    }
    if (inside > bestInside) {
      bestInside = inside;
      best = yaw;
    }
  }
  const [ox, oy] = originFor(best);
  return { position: [ox, oy, top - half], yaw_rad: Math.atan2(Math.sin(best), Math.cos(best)) };
}

/**
 * Finds the objects of `specs` in an RGB-D image from a calibrated camera and
 * returns the world pose of each one seen (objects not seen are left out).
 */
export function locateObjects(image: CameraImage, camera: CameraModel, specs: readonly ColourObjectSpec[], options: LocateOptions = {}): ObjectDetection[] {
  const depth = checkImage(image);
  checkCamera(camera);
  const list = parseSpecs(specs);
  const parsed = LocateOptionsSchema.safeParse(options);
  if (!parsed.success) throw new TypeError(`locateObjects: invalid options: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const opts = parsed.data;
  if (list.length === 0) return [];

  const W = image.width, H = image.height, rgb = image.rgb;
  const f = H / 2 / Math.tan((camera.fovy_deg * Math.PI) / 360);
  const cx = W / 2, cy = H / 2;
  const R = camera.rot, P = camera.pos;
  const r00 = R[0], r01 = R[1], r02 = R[2], r10 = R[3], r11 = R[4], r12 = R[5], r20 = R[6], r21 = R[7], r22 = R[8];
  const p0 = P[0], p1 = P[1], p2 = P[2];

  const nSpec = list.length;
  const chroma = new Float64Array(nSpec * 3);
  const tol2 = new Float64Array(nSpec);
  list.forEach((s, k) => {
    const sum = s.rgb[0] + s.rgb[1] + s.rgb[2];
    for (let c = 0; c < 3; c++) chroma[k * 3 + c] = s.rgb[c] / sum;
    tol2[k] = (s.chromaTolerance ?? DEFAULT_CHROMA_TOLERANCE) ** 2;
  });

  // Segment: each pixel goes to the spec whose chromaticity is nearest, if within its tolerance.
  const pointAt = new Int32Array(W * H).fill(-1);
  const xs: number[] = [], ys: number[] = [], zs: number[] = [], owner: number[] = [], pix: number[] = [];
  for (let py = 0, i = 0; py < H; py++) {
    for (let px = 0; px < W; px++, i++) {
      const d = depth[i];
      if (!(d > 0) || d === Infinity) continue;
      const r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
      const sum = r + g + b;
      if (sum < MIN_BRIGHTNESS) continue;
      const cr = r / sum, cg = g / sum, cb = b / sum;
      let best = -1, bestD = Infinity;
      for (let k = 0; k < nSpec; k++) {
        const dr = cr - chroma[k * 3], dg = cg - chroma[k * 3 + 1], db = cb - chroma[k * 3 + 2];
        const dd = dr * dr + dg * dg + db * db;
        if (dd <= tol2[k] && dd < bestD) {
          bestD = dd;
          best = k;
        }
      }
      if (best < 0) continue;
      // Back-project: camera frame (x right, y up, looking along -z), then world.
      const xc = ((px + 0.5 - cx) * d) / f;
      const yc = (-(py + 0.5 - cy) * d) / f;
      const zc = -d;
      pointAt[i] = xs.length;
      xs.push(p0 + r00 * xc + r01 * yc + r02 * zc);
      ys.push(p1 + r10 * xc + r11 * yc + r12 * zc);
      zs.push(p2 + r20 * xc + r21 * yc + r22 * zc);
      owner.push(best);
      pix.push(i);
    }
  }
  const seg: Segmented = {
    x: Float64Array.from(xs),
    y: Float64Array.from(ys),
    z: Float64Array.from(zs),
    pointAt,
    spec: Int32Array.from(owner),
    pixel: Int32Array.from(pix),
    width: W,
    height: H,
  };
  const keep = new Uint8Array(xs.length);

  const out: ObjectDetection[] = [];
  list.forEach((s, k) => {
    let count = 0;
    for (const o of owner) if (o === k) count++;
    const raw = new Int32Array(count);
    for (let j = 0, m = 0; j < owner.length; j++) if (owner[j] === k) raw[m++] = j;
    const minPixels = s.minPixels ?? DEFAULT_MIN_PIXELS;
    if (raw.length < minPixels) return;
    // A box's points lie within sqrt(3) half sizes of its centre; the median of the visible ones within about one more.
    // An outline's lie within its farthest corner (plus its height) of the frame origin; the median within twice that.
    const reach = s.parts ? 2 * Math.max(...s.parts.map((p) => Math.hypot(Math.abs(p.center[0]) + p.half[0], Math.abs(p.center[1]) + p.half[1]))) + 2 * s.half_m : 1.25 * (Math.sqrt(3) + 1) * s.half_m;
    const idx = cluster(seg, raw, reach + 0.01);
    if (idx.length < minPixels) return;
    for (const j of idx) keep[j] = 1;
    if (s.shape === 'box') {
      const b = locateBox(seg, keep, k, idx, s.half_m);
      out.push({ id: s.id, position: b.position, yaw_rad: b.yaw_rad, pixels: idx.length });
    } else if (s.shape === 'outline') {
      // One pixel's footprint at the points' mean depth.
      let depthSum = 0;
      for (const j of idx) depthSum += depth[seg.pixel[j]];
      const b = locateOutline(seg, idx, s.half_m, s.parts!, depthSum / idx.length / f);
      out.push({ id: s.id, position: b.position, yaw_rad: b.yaw_rad, pixels: idx.length });
    } else {
      out.push({ id: s.id, position: locateOpenBox(seg, idx, opts.tableZ_m, opts.tableSnap_m), pixels: idx.length });
    }
  });
  return out;
}
