// Camera renderer over real MuJoCo models (mujoco-js): snapshot extraction, named cameras, every
// primitive type and an inline mesh at known places, and the Menagerie Panda.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MjData, MjModel } from 'mujoco-js';
import { loadMjcfFile, loadMjcfString, mujoco } from '../../src/sim/mujoco';
import { createRenderer } from '../../src/sim/render/renderer';
import { freeCamera, snapshotFromMujoco, UnknownCameraError, GeomType } from '../../src/sim/render/snapshot';

// Top camera 3 m above the origin looking straight down (identity frame: looks along world -z,
// image right = world +x, image up = world +y).
const SCENE = `
<mujoco model="render-test">
  <asset>
    <mesh name="cube" vertex="0 0 0  0.2 0 0  0 0.2 0  0.2 0.2 0  0 0 0.2  0.2 0 0.2  0 0.2 0.2  0.2 0.2 0.2"/>
    <material name="red" rgba="0.9 0.1 0.1 1"/>
  </asset>
  <worldbody>
    <light pos="0 0 3" dir="0 0 -1" directional="true"/>
    <camera name="top" pos="0 0 3" xyaxes="1 0 0 0 1 0" fovy="60"/>
    <camera name="side" pos="0 -3 0.3" xyaxes="1 0 0 0 0 1" fovy="40"/>
    <camera name="plan" pos="0 0 3" orthographic="true" fovy="2"/>
    <geom name="floor" type="plane" size="2 2 0.1"/>
    <geom name="ball" type="sphere" size="0.2" pos="0 0 0.2" material="red"/>
    <geom name="crate" type="box" size="0.15 0.15 0.15" pos="0.8 0 0.15" rgba="0.2 0.2 0.9 1"/>
    <geom name="pill" type="capsule" size="0.1 0.2" pos="-0.8 0 0.3"/>
    <geom name="can" type="cylinder" size="0.12 0.1" pos="0 0.8 0.1"/>
    <body name="cubebody" pos="0 -0.8 0"><freejoint/><geom name="meshcube" type="mesh" mesh="cube"/></body>
    <geom name="collision-only" type="sphere" size="0.3" pos="0 0 1.5" group="3"/>
    <geom name="invisible" type="sphere" size="0.3" pos="0 0 2" rgba="1 1 1 0"/>
  </worldbody>
</mujoco>`;

const W = 64;
const F = W / 2 / Math.tan(Math.PI / 6); // fovy 60

/** Pixel column/row whose centre sees world (x, y) from the top camera at height 3 for a surface at height z. */
function topPixel(x: number, y: number, z: number): [number, number] {
  const d = 3 - z;
  return [Math.floor(W / 2 + (F * x) / d), Math.floor(W / 2 - (F * y) / d)];
}

describe('renderer over a MuJoCo scene', () => {
  let model: MjModel;
  let data: MjData;
  beforeAll(async () => {
    const mj = await mujoco();
    model = await loadMjcfString(SCENE, { name: 'render-test' });
    data = new mj.MjData(model);
    mj.mj_forward(model, data);
  });
  afterAll(() => {
    data?.delete();
    model?.delete();
  });

  it('takes visible geoms with material colours and leaves out collision-only and transparent ones', () => {
    const snap = snapshotFromMujoco(model, data);
    expect(snap.geoms.map((g) => g.name)).toEqual(['floor', 'ball', 'crate', 'pill', 'can', 'meshcube']);
    const ball = snap.geoms[1];
    expect(Array.from(ball.rgba)).toEqual([Math.fround(0.9), Math.fround(0.1), Math.fround(0.1), 1]);
    const mesh = snap.geoms[5];
    expect(mesh.type).toBe(GeomType.mesh);
    expect(snap.meshes[mesh.meshId].faces.length).toBe(12 * 3); // the convex hull of 8 cube corners
    expect(snap.cameras.map((c) => c.name)).toEqual(['top', 'side', 'plan']);
    const withCollision = snapshotFromMujoco(model, data, { visibleGroups: [0, 1, 2, 3] });
    expect(withCollision.geoms.map((g) => g.name)).toContain('collision-only');
  });

  it('sees each primitive and the mesh at its predicted pixel and depth from the named camera', () => {
    const r = createRenderer({ width: W, height: W });
    const img = r.render(snapshotFromMujoco(model, data), 'top', { depth: true });
    const depthAt = ([px, py]: [number, number]) => img.depth![py * W + px];
    // The ball's top is 0.4 m high: 2.6 m along the optical axis; the collision-only sphere
    // (1.2 m) and the transparent one (0.7 m) in between are not drawn.
    // Pixel (32, 32) looks 0.5 px off-axis in x and y: the true sphere is hit at depth t with
    // 2 (0.5 t / F)^2 + (t - 2.8)^2 = 0.2^2. The 12-segment tessellation used at this size lies
    // inside the sphere by at most 0.2 (1 - cos(pi / 12)) = 0.007 m.
    const k = 2 * (0.5 / F) ** 2;
    const t = (2 * 2.8 - Math.sqrt(4 * 2.8 ** 2 - 4 * (1 + k) * (2.8 ** 2 - 0.04))) / (2 * (1 + k));
    expect(t).toBeCloseTo(2.6027, 3);
    expect(depthAt([32, 32]) - t).toBeGreaterThanOrEqual(0);
    expect(depthAt([32, 32]) - t).toBeLessThan(0.2 * (1 - Math.cos(Math.PI / 12)));
    const c = (32 * W + 32) * 3;
    expect(img.rgb[c]).toBeGreaterThan(4 * img.rgb[c + 1]);
    expect(depthAt(topPixel(0.8, 0, 0.3))).toBeCloseTo(2.7, 3); // box top
    // Capsule top at 0.3 + 0.2 + 0.1 m: a rounded cap, drawn with a few rings at this size; the
    // surface drawn lies inside the true one, by less than one pixel's width at that depth.
    const capsule = depthAt(topPixel(-0.8, 0, 0.6));
    expect(capsule).toBeGreaterThanOrEqual(2.4);
    expect(capsule - 2.4).toBeLessThan(2.4 / F);
    expect(depthAt(topPixel(0, 0.8, 0.2))).toBeCloseTo(2.8, 3); // cylinder cap
    expect(depthAt(topPixel(0.08, -0.7, 0.2))).toBeCloseTo(2.8, 3); // mesh cube top, corners (0..0.2, -0.8..-0.6)
    expect(depthAt([1, 62])).toBeCloseTo(3, 3); // floor
  });

  it('keeps a snapshot unchanged after the simulation moves, and shows the move in a new one', async () => {
    const mj = await mujoco();
    const before = snapshotFromMujoco(model, data);
    const qpos = data.qpos as Float64Array;
    qpos[0] = 0.5; // free joint x: the mesh cube now spans x 0.5..0.7
    mj.mj_forward(model, data);
    const after = snapshotFromMujoco(model, data);
    qpos[0] = 0;
    mj.mj_forward(model, data);
    const r = createRenderer({ width: W, height: W });
    const old = r.render(before, 'top', { depth: true, copy: true });
    const moved = r.render(after, 'top', { depth: true });
    const at = (img: { depth?: Float32Array }, p: [number, number]) => img.depth![p[1] * W + p[0]];
    expect(at(old, topPixel(0.08, -0.7, 0.2))).toBeCloseTo(2.8, 3);
    expect(at(moved, topPixel(0.08, -0.7, 0.2))).toBeCloseTo(3, 3); // floor where the cube was
    expect(at(moved, topPixel(0.6, -0.7, 0.2))).toBeCloseTo(2.8, 3);
  });

  it('refuses an unknown camera name and lists the model cameras', () => {
    const r = createRenderer({ width: 8, height: 8 });
    const snap = snapshotFromMujoco(model, data);
    expect(() => r.render(snap, 'wrist')).toThrow(UnknownCameraError);
    expect(() => r.render(snap, 'wrist')).toThrow('available cameras: "top", "side", "plan"');
  });

  it('refuses an orthographic camera rather than drawing it in perspective', () => {
    const r = createRenderer({ width: 8, height: 8 });
    expect(() => r.render(snapshotFromMujoco(model, data), 'plan')).toThrow(/"plan" is orthographic/);
  });
});

describe('renderer over the Menagerie Panda', () => {
  let model: MjModel;
  let data: MjData;
  beforeAll(async () => {
    const mj = await mujoco();
    model = await loadMjcfFile('../shared/data/robots/panda_mjcf/scene.xml');
    data = new mj.MjData(model);
    mj.mj_forward(model, data);
  });
  afterAll(() => {
    data?.delete();
    model?.delete();
  });

  const cam = freeCamera({ pos: [1.4, 0.9, 0.8], lookAt: [0.1, 0, 0.45], fovy_deg: 50 });

  it('draws the robot: finite depth where it stands and a pose change moves it in the image', async () => {
    const snap = snapshotFromMujoco(model, data);
    expect(snap.geoms.length).toBe(51); // 49 visual meshes + floor + mocap target; collision meshes hidden
    const r = createRenderer({ width: W, height: W });
    const robotOnly = { ...snap, geoms: snap.geoms.filter((g) => g.type === GeomType.mesh) };
    const img = r.render(robotOnly, cam, { depth: true, copy: true });
    let covered = 0;
    for (const d of img.depth!) {
      if (!Number.isFinite(d)) continue;
      covered++;
      expect(d).toBeGreaterThan(0.8);
      expect(d).toBeLessThan(2.5);
    }
    expect(covered).toBeGreaterThan(0.04 * W * W);
    expect(covered).toBeLessThan(0.6 * W * W);

    const full = r.render(snap, cam, { depth: true, copy: true });
    const colours = new Set<number>();
    for (let i = 0; i < full.rgb.length; i += 3) colours.add((full.rgb[i] << 16) | (full.rgb[i + 1] << 8) | full.rgb[i + 2]);
    expect(colours.size).toBeGreaterThan(30);

    // Simplified meshes (the default at this size) cover nearly the same pixels as the full ones.
    const exact = createRenderer({ width: W, height: W, meshLod: false }).render(robotOnly, cam, { depth: true });
    let maskDiff = 0;
    let exactCovered = 0;
    for (let i = 0; i < W * W; i++) {
      if (Number.isFinite(exact.depth![i])) exactCovered++;
      if (Number.isFinite(exact.depth![i]) !== Number.isFinite(img.depth![i])) maskDiff++;
    }
    expect(exactCovered).toBeGreaterThan(0.04 * W * W);
    expect(maskDiff).toBeLessThan(0.05 * exactCovered);

    // Bend the elbow (joint4) and the shoulder (joint2): the robot's pixels change.
    const mj = await mujoco();
    const qpos = data.qpos as Float64Array;
    qpos[1] = 0.6;
    qpos[3] = -2.0;
    mj.mj_forward(model, data);
    const bent = r.render(snapshotFromMujoco(model, data), cam, { depth: true });
    let changed = 0;
    for (let i = 0; i < W * W; i++) if (bent.depth![i] !== full.depth![i]) changed++;
    expect(changed).toBeGreaterThan(0.03 * W * W);
  });
});
