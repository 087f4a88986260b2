import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeCamera, SimCameras } from '../../src/sim/camera';
import { MjcfFileNotFoundError, MjcfLoadError, MjNameNotFoundError, MjSim, MjSimFreedError, mjcfReferencedFiles } from '../../src/sim/mujoco';

const PANDA = '../shared/data/robots/panda_mjcf/scene.xml';
const SO101 = '../shared/data/robots/so101/scene.xml';

function distinctColours(rgb: Uint8Array): number {
  const seen = new Set<number>();
  for (let i = 0; i < rgb.length; i += 3) seen.add((rgb[i] << 16) | (rgb[i + 1] << 8) | rgb[i + 2]);
  return seen.size;
}

describe('user-provided MJCF models', () => {
  let panda: MjSim;
  let so101: MjSim;
  beforeAll(async () => {
    panda = await MjSim.fromFile(PANDA);
    so101 = await MjSim.fromFile(SO101);
  });
  afterAll(() => {
    panda.free();
    so101.free();
  });

  it('loads the Menagerie Panda with its meshes and holds the commanded pose under position control', () => {
    expect(panda.nq).toBe(7);
    expect(panda.nu).toBe(7);
    const target = [0.2, -0.5, 0.1, -2.0, 0.1, 1.6, 0.5];
    panda.reset();
    panda.qpos.set(target);
    panda.ctrl.set(target);
    panda.forward();
    panda.step(500);
    const q = Array.from(panda.qpos);
    for (let i = 0; i < 7; i++) expect(Math.abs(q[i] - target[i])).toBeLessThan(0.05);
    expect(panda.time).toBeCloseTo(500 * panda.timestep, 9);
  });

  it('loads the SO-101 and steps it', () => {
    expect(so101.nu).toBe(6);
    const before = so101.getState();
    so101.ctrl.set([0.3, 0.2, -0.2, 0.1, 0.2, 0.3]);
    so101.step(300);
    const moved = Array.from(so101.qpos).some((v, i) => Math.abs(v - before.qpos[i]) > 0.01);
    expect(moved).toBe(true);
    expect(Array.from(so101.qpos).every(Number.isFinite)).toBe(true);
  });

  it('renders both user models through a free camera (they define no camera)', () => {
    const cams = new SimCameras();
    const cam = freeCamera({ name: 'view', pos: [1.2, 0.8, 0.9], lookAt: [0.2, 0, 0.3] });
    for (const sim of [panda, so101]) {
      const img = cams.render(sim, [cam], { width: 48, height: 48 }).view;
      expect(img.width).toBe(48);
      expect(img.rgb.length).toBe(48 * 48 * 3);
      // A robot on a floor: many colours, not a blank frame.
      expect(distinctColours(img.rgb)).toBeGreaterThan(20);
    }
  });

  it('finds every file the Panda scene references, through its include and meshdir', () => {
    const files = mjcfReferencedFiles(PANDA).map((f) => f.replaceAll('\\', '/'));
    expect(files.some((f) => f.endsWith('panda_mjcf/panda_nohand.xml'))).toBe(true);
    expect(files.some((f) => f.endsWith('panda_mjcf/assets/link0.stl'))).toBe(true);
    expect(files.filter((f) => f.endsWith('.obj') || f.endsWith('.stl')).length).toBeGreaterThan(20);
  });

  it('replays a trajectory exactly from a saved state', () => {
    panda.reset();
    panda.ctrl.set([0.5, -0.2, 0, -2, 0, 1.5, 0.7]);
    panda.step(50);
    const saved = panda.getState();
    panda.step(100);
    const first = Array.from(panda.qpos);
    panda.setState(saved);
    panda.step(100);
    expect(Array.from(panda.qpos)).toEqual(first);
  });
});

describe('model load errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mjcf-'));

  it('quotes MuJoCo and names the file for an invalid attribute value', async () => {
    const f = join(dir, 'bad-geom.xml');
    writeFileSync(f, '<mujoco><worldbody><geom type="bogus" size="1"/></worldbody></mujoco>');
    const err = await MjSim.fromFile(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjcfLoadError);
    expect((err as Error).message).toContain(f);
    expect((err as Error).message).toContain("invalid keyword: 'bogus'");
  });

  it('reports an XML syntax error with MuJoCo\'s parser message', async () => {
    const f = join(dir, 'truncated.xml');
    writeFileSync(f, '<mujoco><worldbody><geom type="box" size="1 1 1"');
    const err = await MjSim.fromFile(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjcfLoadError);
    expect((err as Error).message).toContain('truncated.xml');
    expect((err as Error).message).toContain('XML_ERROR_PARSING');
  });

  it('names a missing model file', async () => {
    const err = await MjSim.fromFile(join(dir, 'nope.xml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjcfFileNotFoundError);
    expect((err as Error).message).toContain('nope.xml');
  });

  it('names a missing mesh and the model that references it', async () => {
    mkdirSync(join(dir, 'meshes'), { recursive: true });
    const f = join(dir, 'needs-mesh.xml');
    writeFileSync(f, '<mujoco><compiler meshdir="meshes"/><asset><mesh name="m" file="part.stl"/></asset><worldbody><geom type="mesh" mesh="m"/></worldbody></mujoco>');
    const err = await MjSim.fromFile(f).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjcfFileNotFoundError);
    expect((err as Error).message).toContain(join('meshes', 'part.stl'));
    expect((err as Error).message).toContain('needs-mesh.xml');
  });

  it('reports a semantic error (unknown material) from the compiler', async () => {
    const err = await MjSim.fromXml('<mujoco><worldbody><geom type="box" size=".1 .1 .1" material="nomat"/></worldbody></mujoco>', 'inline-test').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MjcfLoadError);
    expect((err as Error).message).toContain("material 'nomat' not found");
    expect((err as Error).message).toContain('inline-test');
  });

  it('refuses use after free and unknown names', async () => {
    const sim = await MjSim.fromXml('<mujoco><worldbody><body name="b"><joint name="j" type="slide"/><geom size=".1"/></body></worldbody></mujoco>', 'tiny');
    expect(() => sim.id('joint', 'missing')).toThrow(MjNameNotFoundError);
    expect(sim.jointQposAddress('j')).toBe(0);
    sim.free();
    expect(() => sim.step()).toThrow(MjSimFreedError);
  });
});
