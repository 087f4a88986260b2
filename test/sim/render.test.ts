// Camera renderer geometry, shading, fill rule and determinism on hand-built scenes with known answers.
import { describe, expect, it } from 'vitest';
import { createRenderer, copyImage } from '../../src/sim/render/renderer';
import {
  findCamera,
  freeCamera,
  makeSnapshot,
  SnapshotError,
  UnknownCameraError,
  type HandSnapshotInput,
  type SceneCamera,
} from '../../src/sim/render/snapshot';
import { encodePng } from '../../src/sim/render/png';
import { inflateSync } from 'node:zlib';
import { clusterMesh, weldVertices } from '../../src/sim/render/meshlod';
import { tessellateSphere } from '../../src/sim/render/tessellate';

/** Camera at the origin with MuJoCo's identity frame: looks along world -z, image up is world +y. */
function axisCamera(fovy_deg: number): SceneCamera {
  return { name: 'axis', pos: [0, 0, 0], rot: [1, 0, 0, 0, 1, 0, 0, 0, 1], fovy_deg };
}

function focal(height: number, fovy_deg: number): number {
  return height / 2 / Math.tan((fovy_deg * Math.PI) / 360);
}

function rotY(theta: number): number[] {
  const c = Math.cos(theta);
  const s = Math.sin(theta);
  return [c, 0, s, 0, 1, 0, -s, 0, c];
}

describe('projection and depth', () => {
  it('puts a unit sphere 5 m ahead at depth 4 m on the optical axis with the pinhole silhouette radius', () => {
    const W = 101;
    const fovy = 45;
    const r = createRenderer({ width: W, height: W });
    // Tilt the sphere so the camera does not look straight at a tessellation pole.
    const snap = makeSnapshot({ geoms: [{ type: 'sphere', size: [1], pos: [0, 0, -5], rot: rotY(0.3) }] });
    const img = r.render(snap, axisCamera(fovy), { depth: true });
    const depth = img.depth!;
    const f = focal(W, fovy);
    const centre = depth[50 * W + 50];
    expect(Math.abs(centre - 4)).toBeLessThan(4 / f); // one pixel's size at 4 m
    let covered = 0;
    for (const d of depth) if (Number.isFinite(d)) covered++;
    // A sphere's outline is a circle of radius f * r / sqrt(D^2 - r^2) (not f * r / D = 24.4 px).
    const expected = (f * 1) / Math.sqrt(25 - 1);
    expect(expected).toBeCloseTo(24.88, 1);
    expect(Math.abs(Math.sqrt(covered / Math.PI) - expected)).toBeLessThan(0.3);
  });

  it('covers exactly the predicted pixel rectangle with a face-on box, at the depth of its front face', () => {
    const W = 80;
    const H = 60;
    const fovy = 50;
    const r = createRenderer({ width: W, height: H });
    const snap = makeSnapshot({ geoms: [{ type: 'box', size: [0.5, 0.3, 0.1], pos: [0.2, -0.1, -4] }] });
    const img = r.render(snap, axisCamera(fovy), { depth: true });
    const f = focal(H, fovy);
    const d = 3.9;
    const x0 = W / 2 + (f * (0.2 - 0.5)) / d;
    const x1 = W / 2 + (f * (0.2 + 0.5)) / d;
    const y0 = H / 2 - (f * (-0.1 + 0.3)) / d; // image rows grow downwards
    const y1 = H / 2 - (f * (-0.1 - 0.3)) / d;
    let mismatches = 0;
    let inside = 0;
    for (let py = 0; py < H; py++)
      for (let px = 0; px < W; px++) {
        const want = px + 0.5 >= x0 && px + 0.5 < x1 && py + 0.5 >= y0 && py + 0.5 < y1;
        const dd = img.depth![py * W + px];
        if (want) {
          inside++;
          if (Math.abs(dd - d) > 1e-5) mismatches++;
        } else if (Number.isFinite(dd)) mismatches++;
      }
    expect(inside).toBeGreaterThan(120);
    expect(mismatches).toBe(0);
  });

  it('leaves background pixels at +Infinity depth and the background colour', () => {
    const r = createRenderer({ width: 32, height: 32, background: [10, 20, 30] });
    const snap = makeSnapshot({ geoms: [{ type: 'sphere', size: [0.1], pos: [0, 0, -3] }] });
    const img = r.render(snap, axisCamera(45), { depth: true });
    expect(img.depth![0]).toBe(Infinity);
    expect(Array.from(img.rgb.subarray(0, 3))).toEqual([10, 20, 30]);
    const other = r.render(snap, axisCamera(45), { background: [200, 0, 0] });
    expect(Array.from(other.rgb.subarray(0, 3))).toEqual([200, 0, 0]);
  });

  it('measures depth along the optical axis, clipping a floor that passes under the camera', () => {
    const W = 64;
    const fovy = 60;
    const h = 1.2;
    const r = createRenderer({ width: W, height: W, planeChecker: false });
    // Camera 1.2 m above an infinite floor, looking horizontally along +y.
    const cam = freeCamera({ pos: [0, 0, h], lookAt: [0, 1, h], fovy_deg: fovy });
    const snap = makeSnapshot({ geoms: [{ type: 'plane', size: [0, 0, 1] }] });
    const img = r.render(snap, cam, { depth: true });
    const f = focal(W, fovy);
    for (const [px, py] of [
      [32, 63],
      [5, 60],
      [60, 40],
    ]) {
      // A ray through pixel centre (px, py) meets z = 0 at depth h * f / (py + 0.5 - H/2) along the axis.
      const want = (h * f) / (py + 0.5 - W / 2);
      expect(img.depth![py * W + px]).toBeCloseTo(want, 3);
    }
    // The horizon is at the image centre row: everything above it is sky.
    for (let py = 0; py < W / 2 - 1; py++) expect(img.depth![py * W + 10]).toBe(Infinity);
  });
});

describe('clipping', () => {
  it('draws nothing beyond far_m and clips what straddles it per pixel', () => {
    const r = createRenderer({ width: 32, height: 32, far_m: 10 });
    const snap = makeSnapshot({
      geoms: [
        { type: 'sphere', size: [1], pos: [0, 0, -12] }, // entirely beyond 10 m
        { type: 'box', size: [5, 5, 0.1], pos: [0, 0, -10.05], rot: rotY(0.6) }, // tilted across 10 m
      ],
    });
    const img = r.render(snap, axisCamera(60), { depth: true });
    let drawn = 0;
    for (const d of img.depth!) {
      if (!Number.isFinite(d)) continue;
      drawn++;
      expect(d).toBeLessThanOrEqual(10);
    }
    expect(drawn).toBeGreaterThan(100); // the near half of the tilted box
    expect(drawn).toBeLessThan(32 * 32 - 100); // the far half is cut
  });
});

describe('camera conventions', () => {
  // MuJoCo camera at (0, -3, 0) with xyaxes "1 0 0  0 0 1": x = world x, y = world z, so it looks along world +y.
  const mjCam = { name: 'front', pos: [0, -3, 0] as [number, number, number], rot: [1, 0, 0, 0, 0, -1, 0, 1, 0], fovy_deg: 45 };
  const scene: HandSnapshotInput = {
    geoms: [
      { name: 'target', type: 'sphere', size: [0.3], pos: [0, 0, 0], rgba: [1, 0, 0, 1] },
      { name: 'behind-camera', type: 'sphere', size: [0.5], pos: [0, -6, 0], rgba: [0, 0, 1, 1] },
      { name: 'above', type: 'sphere', size: [0.1], pos: [0, 0, 0.8], rgba: [0, 1, 0, 1] },
      { name: 'right', type: 'sphere', size: [0.1], pos: [0.8, 0, 0], rgba: [1, 1, 0, 1] },
    ],
    cameras: [mjCam],
  };

  it('looks along the -z axis of the camera frame with +y up and +x to the right', () => {
    const W = 64;
    const r = createRenderer({ width: W, height: W });
    const img = r.render(makeSnapshot(scene), 'front', { depth: true });
    const at = (px: number, py: number) => Array.from(img.rgb.subarray((py * W + px) * 3, (py * W + px) * 3 + 3));
    expect(img.depth![32 * W + 32]).toBeCloseTo(2.7, 1);
    const c = at(32, 32);
    expect(c[0]).toBeGreaterThan(100);
    expect(c[2]).toBe(0);
    const f = focal(W, 45);
    const upRow = Math.floor(W / 2 - (f * 0.8) / 3);
    const rightCol = Math.floor(W / 2 + (f * 0.8) / 3);
    expect(at(32, upRow)[1]).toBeGreaterThan(60); // green sphere above
    expect(at(32, upRow)[0]).toBe(0);
    expect(at(rightCol, 32)[0]).toBeGreaterThan(60); // yellow sphere to the right
    expect(at(rightCol, 32)[1]).toBeGreaterThan(60);
  });

  it('builds the same frame from a free camera looking at the target with +z up', () => {
    const cam = freeCamera({ pos: [0, -3, 0], lookAt: [0, 0, 0], fovy_deg: 45 });
    for (let i = 0; i < 9; i++) expect(cam.rot[i]).toBeCloseTo(mjCam.rot[i], 12);
  });

  it('names the available cameras when asked for one that does not exist', () => {
    const snap = makeSnapshot(scene);
    expect(() => findCamera(snap, 'wrist')).toThrow(UnknownCameraError);
    expect(() => createRenderer({ width: 8, height: 8 }).render(snap, 'wrist')).toThrow(/camera "wrist".*available cameras: "front"/);
  });
});

describe('visibility and shading', () => {
  it('shows the nearer of two objects on the same ray whatever their order in the scene', () => {
    const near = { type: 'sphere' as const, size: [0.5], pos: [0, 0, -3] as [number, number, number], rgba: [1, 0, 0, 1] as [number, number, number, number] };
    const far = { type: 'box' as const, size: [2, 2, 0.1], pos: [0, 0, -6] as [number, number, number], rgba: [0, 1, 0, 1] as [number, number, number, number] };
    const r = createRenderer({ width: 48, height: 48 });
    const a = copyImage(r.render(makeSnapshot({ geoms: [near, far] }), axisCamera(45), { depth: true }));
    const b = r.render(makeSnapshot({ geoms: [far, near] }), axisCamera(45), { depth: true });
    const centre = 24 * 48 + 24;
    expect(a.depth![centre]).toBeCloseTo(2.5, 1);
    expect(a.rgb[centre * 3]).toBeGreaterThan(100);
    expect(a.rgb[centre * 3 + 1]).toBe(0);
    expect(a.depth![5 * 48 + 5]).toBeCloseTo(5.9, 4); // the box behind fills the corners
    expect(Buffer.from(b.rgb).equals(Buffer.from(a.rgb))).toBe(true);
  });

  it('lights a face turned 30 degrees from the headlight brighter than one turned 60 degrees, by Lambert', () => {
    const W = 101;
    const r = createRenderer({ width: W, height: W });
    // A white cube turned 30 degrees about the image's vertical axis: its +z face turns 30 degrees
    // to the right, its -x face shows on the left at 60 degrees.
    const snap = makeSnapshot({
      geoms: [{ type: 'box', size: [0.5, 0.5, 0.5], pos: [0, 0, -4], rot: rotY(Math.PI / 6), rgba: [1, 1, 1, 1] }],
      headlight: { ambient: [0.1, 0.1, 0.1], diffuse: [0.4, 0.4, 0.4] },
    });
    const img = r.render(snap, axisCamera(45));
    const px = (x: number) => img.rgb[(50 * W + x) * 3];
    const bright = px(50 + 8);
    const dim = px(50 - 13);
    expect(Math.abs(bright - 255 * (0.1 + 0.4 * Math.cos(Math.PI / 6)))).toBeLessThanOrEqual(1);
    expect(Math.abs(dim - 255 * (0.1 + 0.4 * Math.cos(Math.PI / 3)))).toBeLessThanOrEqual(1);
  });

  it('draws every pixel of a tiled square exactly once (top-left rule: no cracks, no double blending)', () => {
    // f = 64 px and the square 64 m away: 1 m = 1 px, and every vertex lands on a pixel centre,
    // the worst case for shared edges.
    const W = 64;
    const fovy = (2 * Math.atan(0.5) * 180) / Math.PI;
    const verts: number[] = [];
    const n = 4;
    const step = 8;
    const x0 = -16.5; // pixel centre 15.5 -> column 15
    for (let j = 0; j <= n; j++) for (let i = 0; i <= n; i++) verts.push(x0 + i * step, x0 + j * step, 0);
    const faces: number[] = [];
    for (let j = 0; j < n; j++)
      for (let i = 0; i < n; i++) {
        const a = j * (n + 1) + i;
        const b = a + 1;
        const c = a + n + 2;
        const d = a + n + 1;
        if ((i + j) % 2) faces.push(a, b, c, a, c, d);
        else faces.push(a, b, d, b, c, d);
      }
    const r = createRenderer({ width: W, height: W });
    const snap = makeSnapshot({
      geoms: [{ type: 'mesh', mesh: 0, pos: [0, 0, -64], rgba: [1, 1, 1, 0.5] }],
      meshes: [{ vertices: verts, faces }],
    });
    const img = r.render(snap, axisCamera(fovy));
    let covered = 0;
    const values = new Set<number>();
    for (let i = 0; i < W * W; i++) {
      if (img.rgb[i * 3] === 0) continue;
      covered++;
      values.add(img.rgb[i * 3]);
    }
    // 32 x 32 pixel centres lie in [15.5, 47.5): left and top edges included, right and bottom not.
    expect(covered).toBe(32 * 32);
    // Centres on the left border (column 15) and the top border (row 16) are in; right (47) and bottom (48) out.
    expect(img.rgb[(20 * W + 15) * 3]).toBe(64);
    expect(img.rgb[(20 * W + 47) * 3]).toBe(0);
    expect(img.rgb[(16 * W + 20) * 3]).toBe(64);
    expect(img.rgb[(48 * W + 20) * 3]).toBe(0);
    expect([...values]).toEqual([64]); // 255 * 0.5 (headlight face-on) * 0.5 (alpha), once
  });
});

describe('hand-built snapshots', () => {
  it('refuses shapes without the sizes their type needs and meshes with out-of-range faces, naming the geom', () => {
    expect(() => makeSnapshot({ geoms: [{ type: 'box', size: [1, 2] }] })).toThrow(SnapshotError);
    expect(() => makeSnapshot({ geoms: [{ type: 'box', size: [1, 2] }] })).toThrow('geom 0: box needs 3 half-extents');
    expect(() => makeSnapshot({ geoms: [{ type: 'sphere', size: [1] }, { type: 'capsule', size: [0.1] }] })).toThrow('geom 1: capsule');
    expect(() => makeSnapshot({ geoms: [{ type: 'sphere' }] })).toThrow('geom 0: a sphere needs a size');
    expect(() => makeSnapshot({ geoms: [], meshes: [{ vertices: [0, 0, 0, 1, 0, 0, 0, 1, 0], faces: [0, 1, 3] }] })).toThrow(
      'mesh 0: face index 3 is out of range (mesh has 3 vertices)',
    );
    expect(() => makeSnapshot({ geoms: [{ type: 'mesh' }] })).toThrow('mesh geom needs mesh index < 0');
  });
});

describe('mesh levels of detail', () => {
  it('welds vertices that share a position and keeps the faces', () => {
    // Two triangles of a square stored with one vertex per corner (6 vertices, 4 positions).
    const pos = Float64Array.from([0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0]);
    const w = weldVertices(pos, Uint32Array.from([0, 1, 2, 3, 4, 5]));
    expect(w.positions.length / 3).toBe(4);
    expect(Array.from(w.indices)).toEqual([0, 1, 2, 0, 2, 3]);
  });

  it('clusters a fine sphere into fewer triangles that stay within a cell of the surface', () => {
    const s = tessellateSphere(64);
    const cell = 0.25;
    const c = clusterMesh(s.positions, s.indices, cell);
    expect(c.triangleCount).toBeLessThan(s.triangleCount / 4);
    expect(c.triangleCount).toBeGreaterThan(20);
    for (let i = 0; i < c.vertexCount; i++) {
      const rr = Math.hypot(c.positions[i * 3], c.positions[i * 3 + 1], c.positions[i * 3 + 2]);
      expect(Math.abs(rr - 1)).toBeLessThan(cell * Math.sqrt(3));
    }
  });
});

describe('determinism and buffers', () => {
  const scene = makeSnapshot({
    geoms: [
      { type: 'plane', size: [2, 2, 0.1] },
      { type: 'capsule', size: [0.1, 0.3], pos: [0.2, 0.1, 0.4], rot: rotY(0.7), rgba: [0.2, 0.4, 0.9, 1] },
      { type: 'cylinder', size: [0.15, 0.1], pos: [-0.3, 0.2, 0.1], rgba: [0.9, 0.4, 0.2, 1] },
      { type: 'ellipsoid', size: [0.1, 0.2, 0.05], pos: [0, -0.3, 0.2], rgba: [0.3, 0.9, 0.3, 1] },
      { type: 'box', size: [0.1, 0.1, 0.1], pos: [0.4, -0.2, 0.1], rgba: [0.9, 0.9, 0.2, 0.6] },
    ],
    lights: [{ directional: true, dir: [0.3, 0.2, -1], diffuse: [0.6, 0.6, 0.6] }],
  });
  const cam = freeCamera({ pos: [1.5, -1.2, 1.1], lookAt: [0, 0, 0.2], fovy_deg: 50 });

  it('renders the same snapshot to identical bytes, in one renderer or two, with other frames in between', () => {
    const r1 = createRenderer({ width: 96, height: 72 });
    const a = r1.render(scene, cam, { depth: true, copy: true });
    r1.render(makeSnapshot({ geoms: [{ type: 'sphere', size: [3], pos: [0, 0, 0] }] }), cam);
    const b = r1.render(scene, cam, { depth: true, copy: true });
    const c = createRenderer({ width: 96, height: 72 }).render(scene, cam, { depth: true });
    expect(Buffer.from(b.rgb).equals(Buffer.from(a.rgb))).toBe(true);
    expect(Buffer.from(c.rgb).equals(Buffer.from(a.rgb))).toBe(true);
    expect(Buffer.from(c.depth!.buffer).equals(Buffer.from(a.depth!.buffer))).toBe(true);
    const distinct = new Set<number>();
    for (let i = 0; i < a.rgb.length; i += 3) distinct.add((a.rgb[i] << 16) | (a.rgb[i + 1] << 8) | a.rgb[i + 2]);
    expect(distinct.size).toBeGreaterThan(20);
  });

  it('reuses its output buffers unless asked for a copy', () => {
    const r = createRenderer({ width: 16, height: 16 });
    const a = r.render(scene, cam);
    const b = r.render(scene, cam);
    expect(b.rgb).toBe(a.rgb);
    const c = r.render(scene, cam, { copy: true });
    expect(c.rgb).not.toBe(a.rgb);
    expect(Buffer.from(c.rgb).equals(Buffer.from(a.rgb))).toBe(true);
  });

  it('encodes a PNG that decodes back to the same pixels', () => {
    const r = createRenderer({ width: 20, height: 10 });
    const img = r.render(scene, cam);
    const png = encodePng(20, 10, img.rgb);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(20);
    expect(png.readUInt32BE(20)).toBe(10);
    const idatLen = png.readUInt32BE(33);
    expect(png.subarray(37, 41).toString('ascii')).toBe('IDAT');
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    for (let y = 0; y < 10; y++) {
      expect(raw[y * 61]).toBe(0);
      expect(Buffer.from(raw.subarray(y * 61 + 1, y * 61 + 61)).equals(Buffer.from(img.rgb.subarray(y * 60, y * 60 + 60)))).toBe(true);
    }
  });
});
