import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateObjects, type CameraModel, type ColourObjectSpec, type ObjectDetection } from '../../src/perception/objects';
import type { CameraImage } from '../../src/robot/arm';
import { cameraModelOf } from '../../src/sim/camera';
import { SimEnv } from '../../src/sim/env';
import { BIN_HALF_m, CUBE_HALF_m } from '../../src/sim/scenes/arm';
import { cubeState } from '../../src/sim/tasks/pick-place';
import { blockPose } from '../../src/sim/tasks/push-t';
import { PUSH_T_OBJECTS } from '../../src/runtime/push-t';
import { stateWith, setJoints } from '../../src/sim/tasks/types';

const SPECS: ColourObjectSpec[] = [
  { id: 'cube', rgb: [0.85, 0.15, 0.15], shape: 'box', half_m: CUBE_HALF_m },
  { id: 'bin', rgb: [0.2, 0.45, 0.85], shape: 'open-box', half_m: BIN_HALF_m },
];
const SEEDS = [0, 1, 2, 3, 4, 5, 6, 7];

/** Difference of two yaws modulo a quarter turn (a square looks the same every 90 degrees). */
function yawError(a: number, b: number): number {
  const q = Math.PI / 2;
  const d = a - b;
  return Math.abs(d - q * Math.round(d / q));
}

function binPosition(env: SimEnv): number[] {
  const i = 3 * env.sim.mocapIndex('bin');
  return Array.from(env.sim.mocapPos.subarray(i, i + 3));
}

function byId(dets: ObjectDetection[], id: string): ObjectDetection | undefined {
  return dets.find((d) => d.id === id);
}

interface Errors {
  cubeXy: number;
  cubeZ: number;
  cubeYaw: number;
  binXy: number;
  binZ: number;
}

/** Renders the front camera at the simulator's current state, locates both objects and returns the errors against ground truth. */
function measure(env: SimEnv): Errors {
  const image = env.observe().images.front;
  const dets = locateObjects(image, cameraModelOf(env.sim, 'front'), SPECS);
  const cube = byId(dets, 'cube');
  const bin = byId(dets, 'bin');
  expect(cube, 'cube detected').toBeDefined();
  expect(bin, 'bin detected').toBeDefined();
  const truth = cubeState(env.sim);
  const b = binPosition(env);
  return {
    cubeXy: Math.hypot(cube!.position[0] - truth.position[0], cube!.position[1] - truth.position[1]),
    cubeZ: Math.abs(cube!.position[2] - truth.position[2]),
    cubeYaw: yawError(cube!.yaw_rad!, truth.yaw_rad),
    binXy: Math.hypot(bin!.position[0] - b[0], bin!.position[1] - b[1]),
    binZ: Math.abs(bin!.position[2] - b[2]),
  };
}

function worst(all: Errors[]): Errors {
  const m: Errors = { cubeXy: 0, cubeZ: 0, cubeYaw: 0, binXy: 0, binZ: 0 };
  for (const e of all) for (const k of Object.keys(m) as (keyof Errors)[]) m[k] = Math.max(m[k], e[k]);
  return m;
}

/** Every worst-case error below its limit (the field named on failure). */
function expectWithin(m: Errors, limits: Partial<Errors>): void {
  for (const [k, limit] of Object.entries(limits)) expect(m[k as keyof Errors], k).toBeLessThan(limit);
}

/** A pick-place simulator rendering the front camera with depth at `size` px, for the enclosing describe block. */
function frontCameraScene(size: number): { env: SimEnv } {
  const scene = {} as { env: SimEnv };
  beforeAll(async () => {
    scene.env = await SimEnv.create({ task: 'pick-place', imageSize: size, depth: true, cameras: ['front'] });
  });
  afterAll(() => scene.env.close());
  return scene;
}

describe('locateObjects on rendered pick-place scenes (front camera, 192 px)', () => {
  const scene = frontCameraScene(192);

  it('cameraModelOf gives the front camera of the scene: its position, field of view and viewing direction', () => {
    scene.env.reset(0);
    const cam = cameraModelOf(scene.env.sim, 'front');
    expect(Array.from(cam.pos)).toEqual([1.5, 0, 0.75].map((v) => expect.closeTo(v, 9)));
    expect(cam.fovy_deg).toBeCloseTo(50, 9);
    // The camera looks along its -z column, towards (0.3, 0, 0.25).
    const d = [0.3 - 1.5, 0, 0.25 - 0.75];
    const l = Math.hypot(...d);
    const r = cam.rot;
    expect(-r[2]).toBeCloseTo(d[0] / l, 6);
    expect(-r[5]).toBeCloseTo(d[1] / l, 6);
    expect(-r[8]).toBeCloseTo(d[2] / l, 6);
  });

  it('locates the cube (position and yaw) and the bin at the start of each episode', () => {
    const all = SEEDS.map((seed) => {
      scene.env.reset(seed);
      return measure(scene.env);
    });
    const m = worst(all);
    // Measured over seeds 0..19: cube xy 0.0005 m, z < 1e-7 m, yaw 0.0032 rad; bin xy 0.0050 m, z 0.
    expectWithin(m, { cubeXy: 0.002, cubeZ: 0.001, cubeYaw: 0.02, binXy: 0.01, binZ: 0.001 });
  });

  it('locates the cube resting in the bin (the goal state)', () => {
    const all = SEEDS.slice(0, 4).map((seed) => {
      scene.env.reset(seed);
      scene.env.sim.setState(scene.env.goalSimState());
      return measure(scene.env);
    });
    const m = worst(all);
    // Measured over seeds 0..19: cube xy 0.0001 m, yaw 0.0028 rad; the cube stands on the bin floor (z = 0.03).
    expectWithin(m, { cubeXy: 0.002, cubeZ: 0.001, cubeYaw: 0.02, binXy: 0.01 });
  });

  it('does not report the cube when it is out of view or below the table', () => {
    scene.env.reset(1);
    const a = scene.env.sim.jointQposAddress('cube');
    for (const place of [
      [5, 0, CUBE_HALF_m], // far outside the camera's view
      [0.5, 0, -0.3], // under the table top
    ]) {
      scene.env.sim.qpos.set(place, a);
      scene.env.sim.forward();
      const dets = locateObjects(scene.env.observe().images.front, cameraModelOf(scene.env.sim, 'front'), SPECS);
      expect(byId(dets, 'cube')).toBeUndefined();
      expect(byId(dets, 'bin')).toBeDefined();
    }
  });

  it('leaves out an object seen by fewer pixels than its minPixels', () => {
    scene.env.reset(2);
    const image = scene.env.observe().images.front;
    const cam = cameraModelOf(scene.env.sim, 'front');
    const seen = byId(locateObjects(image, cam, SPECS), 'cube')!;
    expect(seen.pixels).toBeGreaterThan(20);
    const dets = locateObjects(image, cam, [{ ...SPECS[0], minPixels: seen.pixels + 1 }, SPECS[1]]);
    expect(dets.map((d) => d.id)).toEqual(['bin']);
    expect(locateObjects(image, cam, [])).toEqual([]);
  });

  it('reports yaw in (-pi/4, pi/4]', () => {
    for (const seed of SEEDS.slice(0, 3)) {
      scene.env.reset(seed);
      const cube = byId(locateObjects(scene.env.observe().images.front, cameraModelOf(scene.env.sim, 'front'), SPECS), 'cube')!;
      expect(cube.yaw_rad!).toBeGreaterThan(-Math.PI / 4);
      expect(cube.yaw_rad!).toBeLessThanOrEqual(Math.PI / 4);
    }
  });
});

describe('locateObjects at 128 px', () => {
  const scene = frontCameraScene(128);

  it('still locates the cube and bin well enough to grasp', () => {
    const m = worst(
      SEEDS.map((seed) => {
        scene.env.reset(seed);
        return measure(scene.env);
      }),
    );
    // Measured over seeds 0..19: cube xy 0.0015 m, yaw 0.054 rad (fewer side-face pixels); bin xy 0.0050 m.
    expect(m.cubeXy).toBeLessThan(0.004);
    expect(m.cubeZ).toBeLessThan(0.001);
    expect(m.cubeYaw).toBeLessThan(0.1);
    expect(m.binXy).toBeLessThan(0.01);
  });
});

describe('locateObjects on rendered push-t scenes (T outline from the top camera)', () => {
  const angle = (a: number) => Math.abs(Math.atan2(Math.sin(a), Math.cos(a)));
  /** Worst position (m) and yaw (rad) errors of the T over `seeds`, rendered at `size` px; `touch` puts the pusher against the block's bar. */
  async function worstTee(size: number, seeds: number[], touch = false): Promise<{ xy: number; yaw: number }> {
    const env = await SimEnv.create({ task: 'push-t', imageSize: size, depth: true, cameras: ['top'] });
    try {
      const camera = cameraModelOf(env.sim, 'top');
      let xy = 0, yaw = 0;
      for (const seed of seeds) {
        env.reset(seed);
        if (touch) {
          const b = blockPose(env.sim);
          // Pusher centre just off the bar's top face, at one bar end: it hides what the camera would see past it.
          const lx = 0.05, ly = 0.06 + 0.016;
          const pusher = [b.x + Math.cos(b.yaw) * lx - Math.sin(b.yaw) * ly, b.y + Math.sin(b.yaw) * lx + Math.cos(b.yaw) * ly];
          env.sim.setState(stateWith(env.sim, (s) => setJoints(s, ['pusher_x', 'pusher_y'], pusher), pusher));
        }
        const truth = blockPose(env.sim);
        const det = locateObjects(env.observe().images.top, camera, PUSH_T_OBJECTS);
        expect(det.map((d) => d.id), `seed ${seed}`).toEqual(['tblock']);
        xy = Math.max(xy, Math.hypot(det[0]!.position[0] - truth.x, det[0]!.position[1] - truth.y));
        yaw = Math.max(yaw, angle(det[0]!.yaw_rad! - truth.yaw));
        expect(det[0]!.position[2]).toBeCloseTo(0.02, 2);
      }
      return { xy, yaw };
    } finally {
      env.close();
    }
  }
  const seeds = Array.from({ length: 12 }, (_, i) => i);
  const deg = Math.PI / 180;

  it('locates the T block (position and yaw over the whole turn) at 128 px', async () => {
    const e = await worstTee(128, seeds);
    expect(e.xy).toBeLessThan(0.003);
    expect(e.yaw).toBeLessThan(4 * deg);
  });

  it('still locates it with the pusher against its bar', async () => {
    const e = await worstTee(128, seeds.slice(0, 6), true);
    expect(e.xy).toBeLessThan(0.004);
    expect(e.yaw).toBeLessThan(5 * deg);
  });

  it('is finer at 192 px', async () => {
    const e = await worstTee(192, seeds.slice(0, 6));
    expect(e.xy).toBeLessThan(0.0015);
    expect(e.yaw).toBeLessThan(3 * deg);
  });
});

describe('locateObjects input checks', () => {
  const W = 4, H = 3;
  const image = (): CameraImage => ({ width: W, height: H, rgb: new Uint8Array(W * H * 3), depth: new Float32Array(W * H).fill(Infinity) });
  const camera = (): CameraModel => ({ pos: [1, 0, 1], rot: [1, 0, 0, 0, 1, 0, 0, 0, 1], fovy_deg: 45 });

  it('accepts a well-formed empty scene', () => {
    expect(locateObjects(image(), camera(), SPECS)).toEqual([]);
  });

  it('refuses an image without depth or with sizes that disagree', () => {
    expect(() => locateObjects({ ...image(), depth: undefined }, camera(), SPECS)).toThrow(TypeError);
    expect(() => locateObjects({ ...image(), depth: undefined }, camera(), SPECS)).toThrow(/no depth/);
    expect(() => locateObjects({ ...image(), rgb: new Uint8Array(W * H * 3 - 1) }, camera(), SPECS)).toThrow(RangeError);
    expect(() => locateObjects({ ...image(), rgb: new Uint8Array(W * H * 3 - 1) }, camera(), SPECS)).toThrow(/image\.rgb has 35 bytes, expected 36/);
    expect(() => locateObjects({ ...image(), depth: new Float32Array(W * H + 1) }, camera(), SPECS)).toThrow(/image\.depth has 13 values, expected 12/);
    expect(() => locateObjects({ ...image(), width: 0 }, camera(), SPECS)).toThrow(RangeError);
  });

  it('refuses a malformed camera', () => {
    expect(() => locateObjects(image(), { ...camera(), pos: [1, NaN, 1] }, SPECS)).toThrow(/camera\.pos\[1\] is not finite/);
    expect(() => locateObjects(image(), { ...camera(), pos: [1, 1] }, SPECS)).toThrow(/camera\.pos must hold 3/);
    expect(() => locateObjects(image(), { ...camera(), rot: [1, 0, 0, 0, 1, 0, 0, 0] }, SPECS)).toThrow(/camera\.rot must hold 9/);
    expect(() => locateObjects(image(), { ...camera(), rot: [2, 0, 0, 0, 1, 0, 0, 0, 1] }, SPECS)).toThrow(/not a rotation/);
    expect(() => locateObjects(image(), { ...camera(), rot: [1, 0, 0, 0, Infinity, 0, 0, 0, 1] }, SPECS)).toThrow(/camera\.rot\[4\] is not finite/);
    for (const fovy_deg of [0, 180, -5, NaN]) {
      expect(() => locateObjects(image(), { ...camera(), fovy_deg }, SPECS)).toThrow(RangeError);
      expect(() => locateObjects(image(), { ...camera(), fovy_deg }, SPECS)).toThrow(/fovy_deg must be in \(0, 180\)/);
    }
  });

  it('refuses bad object specs, naming the field', () => {
    const bad = (spec: unknown) => () => locateObjects(image(), camera(), [spec as ColourObjectSpec]);
    expect(bad({ ...SPECS[0], half_m: -0.02 })).toThrow(TypeError);
    expect(bad({ ...SPECS[0], half_m: -0.02 })).toThrow(/specs\[0\]\.half_m/);
    expect(bad({ ...SPECS[0], shape: 'sphere' })).toThrow(/specs\[0\]\.shape/);
    expect(bad({ ...SPECS[0], rgb: [1.5, 0, 0] })).toThrow(/specs\[0\]\.rgb/);
    expect(bad({ ...SPECS[0], rgb: [0, 0, 0] })).toThrow(/black/);
    expect(bad({ ...SPECS[0], id: '' })).toThrow(/specs\[0\]\.id/);
    expect(() => locateObjects(image(), camera(), [SPECS[0], SPECS[0]])).toThrow(/duplicate id "cube"/);
    // An outline needs its parts, and only an outline takes them.
    const { parts, ...tee } = PUSH_T_OBJECTS[0]!;
    expect(bad(tee)).toThrow(/specs\[0\]\.parts: parts are given for shape 'outline'/);
    expect(bad({ ...SPECS[0], parts })).toThrow(/specs\[0\]\.parts/);
    expect(bad({ ...PUSH_T_OBJECTS[0], parts: [{ center: [0, 0], half: [0.01, -0.01] }] })).toThrow(/specs\[0\]\.parts\.0\.half|specs\[0\]\.parts\[0\]\.half/);
    expect(bad({ ...PUSH_T_OBJECTS[0], parts: [] })).toThrow(/specs\[0\]\.parts/);
  });
});
