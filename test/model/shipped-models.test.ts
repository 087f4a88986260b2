/**
 * The models shipped under models/<task>/: each is the checkpoint its recipe
 * (config/train/<task>.json) describes, within the 10 MB a shipped model may
 * take, loads with every tensor the runtime needs, and carries the provenance
 * `jepa train` writes (command, seed, dataset manifest hash, commit). The
 * arm's state models (pick-place, reach) also decode the joints from their
 * own latents closely enough to place a grasp, and the pusher's pixel model
 * (push-t) its position from a camera frame closely enough to reach a
 * contact point. two-rooms' high-level
 * model keeps the low-level model's encoder and proprio head as they are.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/addon/index';
import { readSafetensors } from '../../src/model/safetensors';
import { parseTrainConfig, trainConfigSha256 } from '../../src/train/run';
import { imageToChw } from '../../src/perception/preprocess';
import { SimEnv } from '../../src/sim/env';
import { PANDA_HOME_rad } from '../../src/sim/scenes/panda-kinematics';
import { setJoints, stateWith } from '../../src/sim/tasks/types';

const shipped = readdirSync('models', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);

describe('shipped models', () => {
  it('ships pick-place, push-t, reach and two-rooms, and the high-level model of two-rooms', () => {
    expect(shipped.sort()).toEqual(['pick-place', 'push-t', 'reach', 'two-rooms', 'two-rooms-high']);
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

  // pick-place grasps, so its gripper opening must decode too; reach never uses the gripper.
  it.each([['pick-place', true], ['reach', false]] as const)('%s: the joints decoded from the latent of a joint vector are within 0.03 rad (gripper 2 mm: %s)', async (task, gripperToo) => {
    const model = await loadModel(join('models', task));
    try {
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

  it('push-t: the pusher position decoded from the top camera frame is within 6 mm on average over its reach, 15 mm at worst', async () => {
    // Frames as the runtime gives them: the 128-px top camera perception reads, scaled to the encoder's input.
    const model = await loadModel(join('models', 'push-t'));
    const env = await SimEnv.create({ task: 'push-t', imageSize: 128, cameras: ['top'] });
    try {
      const size = (model.config.encoder as { imageSize: number }).imageSize;
      const frame = new Float32Array(3 * size * size);
      const reach = 0.22;
      let worst = 0, sum = 0, n = 0;
      for (const seed of [90_000, 90_001]) {
        env.reset(seed);
        for (let i = 0; i <= 8; i++) {
          for (let k = 0; k <= 8; k++) {
            const q = [-reach + (2 * reach * i) / 8, -reach + (2 * reach * k) / 8];
            env.sim.setState(stateWith(env.sim, (sim) => setJoints(sim, ['pusher_x', 'pusher_y'], q), q));
            imageToChw(env.observe().images.top!, size, frame, 0, 'top camera');
            const back = await model.decodeProprio(await model.encode(frame, 1), 1);
            const e = Math.hypot(back[0]! - q[0]!, back[1]! - q[1]!);
            worst = Math.max(worst, e);
            sum += e;
            n++;
          }
        }
      }
      console.log(`push-t: pusher decoded from pixels ${(1000 * sum / n).toFixed(1)} mm off on average, ${(1000 * worst).toFixed(1)} mm at worst (${n} frames)`);
      expect(sum / n).toBeLessThan(0.006);
      expect(worst).toBeLessThan(0.015);
    } finally {
      env.close();
      model.dispose();
    }
  }, 60_000);
});
