/**
 * The models shipped under models/<task>/: each is the checkpoint its recipe
 * (config/train/<task>.json) describes, within the 10 MB a shipped model may
 * take, loads with every tensor the runtime needs, and carries the provenance
 * `jepa train` writes (command, seed, dataset manifest hash, commit). The
 * reach pixel model decodes the joints and the cube from a camera frame, and
 * its latent follows the cube (moved or hidden); the arm's state models
 * (pick-place; reach-state, for arms that report joints only) decode the
 * joints from their own latents closely enough to place a grasp; the pusher's pixel model (push-t) decodes
 * its position from a camera frame closely enough to reach a contact point,
 * while its latent also follows the T block, which surprise needs.
 * two-rooms' high-level model keeps the low-level model's encoder and proprio
 * head as they are.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/addon/index';
import { readSafetensors } from '../../src/model/safetensors';
import { parseTrainConfig, trainConfigSha256 } from '../../src/train/run';
import { proprioPlanesOf } from '../../src/model/config';
import { encoderFrame, imageToChw } from '../../src/perception/preprocess';
import { SimEnv } from '../../src/sim/env';
import { PANDA_HOME_rad } from '../../src/sim/scenes/panda-kinematics';
import { getJoints, setJoints, stateWith } from '../../src/sim/tasks/types';

const shipped = readdirSync('models', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
/** Largest joint error (rad) and mean cube error (m) the arm's pixel model decodes on validation scenes: about twice what it does. */
const JOINT_LIMIT = 0.07;
const CUBE_LIMIT = 0.09;

describe('shipped models', () => {
  it('ships pick-place, push-t, reach and two-rooms, the high-level model of two-rooms, the state model of reach, the monitor model and the pixel planner model of pick-place', () => {
    expect(shipped.sort()).toEqual(['pick-place', 'pick-place-monitor', 'pick-place-pixels', 'push-t', 'reach', 'reach-state', 'two-rooms', 'two-rooms-high']);
  });

  // The recipes of the attempts not shipped (models/README.md) must still run as written.
  it('every recipe in config/train parses as a train config', () => {
    const recipes = readdirSync('config/train').filter((f) => f.endsWith('.json'));
    expect(recipes).toContain('pick-place-pixels.json');
    for (const file of recipes) {
      const name = file.replace(/\.json$/, '');
      expect(() => parseTrainConfig(JSON.parse(readFileSync(join('config/train', file), 'utf8')), name), file).not.toThrow();
    }
  });

  it('two-rooms-high: a coarser time step over the very encoder and proprio head of models/two-rooms', async () => {
    const [low, high] = await Promise.all([readSafetensors(join('models', 'two-rooms', 'model.safetensors')), readSafetensors(join('models', 'two-rooms-high', 'model.safetensors'))]);
    const shared = low.entries.map((e) => e.name).filter((n) => n.startsWith('encoder.') || n.startsWith('proprio_head.'));
    expect(shared.length).toBeGreaterThan(0);
    for (const name of shared) expect(Array.from(high.float32(name)), name).toEqual(Array.from(low.float32(name)));
    expect(high.metadata.init_checkpoint).toBe('models/two-rooms');
    expect(high.metadata.init_checkpoint_sha256).toBe(createHash('sha256').update(readFileSync(join('models', 'two-rooms', 'model.safetensors'))).digest('hex'));
    const frameskip = (task: string) => (JSON.parse(readFileSync(join('models', task, 'config.json'), 'utf8')) as { frameskip: number }).frameskip;
    expect(frameskip('two-rooms-high') / frameskip('two-rooms')).toBe(5);
  });

  for (const task of shipped) {
    it(`${task}: is its recipe's model, under 10 MB, complete, with provenance`, () => {
      const dir = join('models', task);
      const recipe = JSON.parse(readFileSync(join('config/train', `${task}.json`), 'utf8')) as { model: { name: string } };
      const report = JSON.parse(execFileSync(process.execPath, ['bin/jepa.js', 'inspect', dir, '--json'], { encoding: 'utf8' }).trim().split('\n').at(-1)!) as {
        name: string;
        problems: string[];
        metadata: Record<string, string>;
      };
      expect(report.name).toBe(recipe.model.name);
      expect(report.problems).toEqual([]);
      expect(report.metadata.command).toContain(`--config config/train/${task}.json`);
      // The recipe in the repository is the one it was trained with (the run's hash of it, epochs aside).
      expect(report.metadata.train_config_sha256).toBe(trainConfigSha256(parseTrainConfig(recipe, task).train));
      expect(report.metadata.dataset_manifest_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(report.metadata.git_commit).toMatch(/^[0-9a-f]{40}$/);
      expect(report.metadata.seed).toBeDefined();
      const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
      expect(bytes).toBeLessThan(10 * 1024 * 1024);
    }, 30_000);
  }

  // pick-place grasps, so its gripper opening must decode too; reach-state (what a ROS 2 or replayed arm runs on) never uses the gripper.
  it.each([['pick-place', true], ['reach-state', false]] as const)('%s: the joints decoded from the latent of a joint vector are within 0.03 rad (gripper 2 mm: %s)', async (task, gripperToo) => {
    const model = await loadModel(join('models', task));
    try {
      expect(model.config.encoder.kind).toBe('mlp');
      for (const [dq, gripper] of [[0, 0.04], [0.2, 0.02], [-0.3, 0], [0.1, 0.03]] as const) {
        const q = Float32Array.from([...PANDA_HOME_rad.map((v, i) => v + dq * Math.sin(i + 1)), gripper]);
        const back = await model.decodeProprio(await model.encode(q, 1), 1);
        for (let j = 0; j < 7; j++) expect(Math.abs(back[j]! - q[j]!), `joint ${j + 1}`).toBeLessThan(0.03);
        if (gripperToo) expect(Math.abs(back[7]! - gripper)).toBeLessThan(0.002);
      }
    } finally {
      model.dispose();
    }
  });

  // The arm's pixel models (reach's planner, pick-place's surprise monitor) take the front camera's
  // frame as the runtime gives it (reach: rendered at the encoder's size; pick-place: perception's
  // 192-px frame, scaled) with the joints as planes, and their proprio head reads the cube's position
  // out of it as well as the joints. Trained with the joints alone as the head's target, the encoder
  // ignored the cube (moving it 8 cm changed the latent by 3e-5 per entry, hiding it 7e-5;
  // models/README.md), and surprise was at chance.
  describe.each([['reach', 'reach', 64], ['pick-place-monitor', 'pick-place', 192], ['pick-place-pixels', 'pick-place', 192]] as const)('%s pixel model', (folder, task, renderSize) => {
    let model: Awaited<ReturnType<typeof loadModel>>;
    let env: SimEnv;
    let input: Float32Array;
    const encodeView = async (): Promise<Float32Array> => {
      env.sim.forward();
      const o = env.observe();
      encoderFrame(o.images.front!, o.jointPositions, proprioPlanesOf(model.config.encoder), (model.config.encoder as { imageSize: number }).imageSize, input, 0);
      return model.encode(input, 1);
    };
    beforeAll(async () => {
      model = await loadModel(join('models', folder));
      env = await SimEnv.create({ task, imageSize: renderSize, cameras: ['front'] });
      input = new Float32Array(model.dims.inputSize);
    }, 60_000);
    afterAll(() => {
      env?.close();
      model?.dispose();
    });

    it('decodes the joints and the cube from the frame, and its latent moves with the cube moved or hidden', async () => {
      const names = model.config.proprio!.names!;
      expect(names.slice(0, 8)).toEqual(['joint1', 'joint2', 'joint3', 'joint4', 'joint5', 'joint6', 'joint7', 'finger_left']);
      const [cx, cy] = [names.indexOf('cube.x'), names.indexOf('cube.y')];
      expect(cx).toBeGreaterThan(7);
      const D = model.dims.latentSize;
      const change = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / D;
      const cube = env.sim.id('body', 'cube');
      const qadr = (env.sim.model.jnt_qposadr as Int32Array)[(env.sim.model.body_jntadr as Int32Array)[cube]!]!;
      const rgba = env.sim.model.geom_rgba as Float32Array;
      const geom = (env.sim.model.body_geomadr as Int32Array)[cube]!;
      let jointWorst = 0, cubeSum = 0, moved = 0, hidden = 0;
      const seeds = [90_000, 90_001, 90_002, 90_003];
      try {
        for (const seed of seeds) {
          env.reset(seed);
          const z = await encodeView();
          const back = await model.decodeProprio(z, 1);
          const q = env.observe().jointPositions;
          for (let j = 0; j < 7; j++) jointWorst = Math.max(jointWorst, Math.abs(back[j]! - q[j]!));
          const [x, y] = env.sim.bodyPosition('cube');
          cubeSum += Math.hypot(back[cx]! - x, back[cy]! - y) / seeds.length;
          const qpos = env.sim.data.qpos as Float64Array;
          qpos[qadr] += 0.08;
          moved += change(z, await encodeView()) / seeds.length;
          qpos[qadr] -= 0.08;
          rgba[4 * geom + 3] = 0;
          hidden += change(z, await encodeView()) / seeds.length;
          rgba[4 * geom + 3] = 1;
        }
      } finally {
        rgba[4 * geom + 3] = 1;
      }
      console.log(`${folder}: joints decoded within ${jointWorst.toFixed(3)} rad, cube ${(100 * cubeSum).toFixed(1)} cm off on average; latent change per entry: cube moved 8 cm ${moved.toExponential(2)}, hidden ${hidden.toExponential(2)}`);
      expect(jointWorst).toBeLessThan(JOINT_LIMIT);
      expect(cubeSum).toBeLessThan(CUBE_LIMIT);
      expect(moved).toBeGreaterThan(1e-3);
      expect(hidden).toBeGreaterThan(1e-3);
    }, 60_000);
  });

  describe('push-t pixel model', () => {
    // Frames as the runtime gives them: the 128-px top camera perception reads, scaled to the encoder's input.
    let model: Awaited<ReturnType<typeof loadModel>>;
    let env: SimEnv;
    let frame: Float32Array;
    const encodeView = async (): Promise<Float32Array> => {
      const size = (model.config.encoder as { imageSize: number }).imageSize;
      imageToChw(env.observe().images.top!, size, frame, 0, 'top camera');
      return model.encode(frame, 1);
    };
    beforeAll(async () => {
      model = await loadModel(join('models', 'push-t'));
      env = await SimEnv.create({ task: 'push-t', imageSize: 128, cameras: ['top'] });
      const size = (model.config.encoder as { imageSize: number }).imageSize;
      frame = new Float32Array(3 * size * size);
    }, 60_000);
    afterAll(() => {
      env?.close();
      model?.dispose();
    });

    it('decodes the pusher position from the top camera frame within 8 mm on average over its reach, 20 mm at worst', async () => {
      // The shipped model is 6.2 / 15.5 mm off here. A fine-tune of it at proprio weight 10 decoded 3.3 / 9.4 mm
      // and planned no better (27/40 each on validation seeds 90,000-90,039), so the limit is under the pusher's
      // 15 mm radius on average rather than the last millimetre.
      const reach = 0.22;
      let worst = 0, sum = 0, n = 0;
      for (const seed of [90_000, 90_001]) {
        env.reset(seed);
        for (let i = 0; i <= 8; i++) {
          for (let k = 0; k <= 8; k++) {
            const q = [-reach + (2 * reach * i) / 8, -reach + (2 * reach * k) / 8];
            env.sim.setState(stateWith(env.sim, (sim) => setJoints(sim, ['pusher_x', 'pusher_y'], q), q));
            const back = await model.decodeProprio(await encodeView(), 1);
            const e = Math.hypot(back[0]! - q[0]!, back[1]! - q[1]!);
            worst = Math.max(worst, e);
            sum += e;
            n++;
          }
        }
      }
      console.log(`push-t: pusher decoded from pixels ${(1000 * sum / n).toFixed(1)} mm off on average, ${(1000 * worst).toFixed(1)} mm at worst (${n} frames)`);
      expect(sum / n).toBeLessThan(0.008);
      expect(worst).toBeLessThan(0.02);
    }, 60_000);

    it('sees the T block, not only the pusher (moving or hiding the block moves the latent)', async () => {
      // A world model blind to the block cannot notice it vanish or jump. At proprio weight 10 the
      // head's loss drowns the JEPA terms and the encoder ignores the block (hiding it moved the
      // latent 1e-5 per entry, moving the pusher 5 cm 0.35; models/README.md).
      const D = model.dims.latentSize;
      const encode = () => {
        env.sim.forward();
        return encodeView();
      };
      const change = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / D;
      const block = ['block_x', 'block_y', 'block_yaw'], pusher = ['pusher_x', 'pusher_y'];
      const rgba = env.sim.model.geom_rgba as Float32Array;
      const body = env.sim.id('body', 'tblock');
      const first = (env.sim.model.body_geomadr as Int32Array)[body]!;
      const count = (env.sim.model.body_geomnum as Int32Array)[body]!;
      const alpha = Array.from({ length: count }, (_, i) => rgba[4 * (first + i) + 3]!);
      const showBlock = (visible: boolean) => alpha.forEach((a, i) => (rgba[4 * (first + i) + 3] = visible ? a : 0));
      const moved = { block: 0, pusher: 0, hidden: 0 };
      try {
        for (const seed of [90_000, 90_001, 90_002]) {
          env.reset(seed);
          const z = await encode();
          const b = getJoints(env.sim, block), p = getJoints(env.sim, pusher);
          setJoints(env.sim, block, [b[0]! + 0.05, b[1]!, b[2]! + 0.5]);
          moved.block += change(z, await encode()) / 3;
          setJoints(env.sim, block, b);
          setJoints(env.sim, pusher, [p[0]! + 0.05, p[1]!]);
          moved.pusher += change(z, await encode()) / 3;
          setJoints(env.sim, pusher, p);
          showBlock(false);
          moved.hidden += change(z, await encode()) / 3;
          showBlock(true);
        }
      } finally {
        showBlock(true);
      }
      console.log(`push-t: mean squared latent change per entry: block moved 5 cm and 0.5 rad ${moved.block.toFixed(3)}, block hidden ${moved.hidden.toFixed(3)}, pusher moved 5 cm ${moved.pusher.toFixed(3)}`);
      expect(moved.pusher).toBeGreaterThan(0.01);
      expect(moved.block).toBeGreaterThan(0.1);
      expect(moved.hidden).toBeGreaterThan(0.1);
    }, 60_000);
  });
});
