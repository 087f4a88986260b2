import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runJepa as jepa } from '../helpers/cli';
import { initWeights, saveCheckpoint } from '../../src/model/checkpoint';
import { loadGuardrails } from '../../src/safety/guardrails';
import { BagReader } from '../../ros/src/bag/mcap';
import { TOPICS } from '../../ros/src/bag/record';
import type { JointTrajectoryMsg } from '../../ros/src/nodes/common';
import { MSG_FOLDERS, tinyConfig } from './helpers';

const MCAP = '../shared/data/mcap';
const INTERFACES = MSG_FOLDERS.flatMap((f) => ['--interfaces', f]);


describe('jepa replay on real rosbag2 files', () => {
  it('reads and decodes a bag of std types, and says nothing could drive the planner', async () => {
    const r = await jepa(['replay', `${MCAP}/rosbag2_py/test/resources/mcap/talker/talker.mcap`, '--json', ...INTERFACES]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.messages).toBe(20);
    expect(s.messagesByTopic).toEqual({ '/rosout': 10, '/topic': 10 });
    expect(s.frames).toBe(0);
    expect(s.plans.sent).toBe(0);
    expect(s.notes[0]).toMatch(/no sensor_msgs\/msg\/Image topic/);
  });

  it('reads a rosbag2 folder of split files in one replay', async () => {
    const r = await jepa(['replay', `${MCAP}/rosbag2_py/test/resources/mcap/reindex_test_bags/multiple_files`, ...INTERFACES]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/3177 messages on 1 topics, all decoded/);
  });
});

describe('jepa record and replay through the node graph', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ros-rec-'));
  const bag = join(dir, 'reach.mcap');
  const ckpt = join(dir, 'ckpt');
  let recorded: { steps: number; images: number; commands: number; byVerdict: Record<string, number> };

  beforeAll(async () => {
    const config = tinyConfig();
    await saveCheckpoint(ckpt, config, initWeights(config, 5));
    const r = await jepa(['record', '--task', 'reach', '--out', bag, '--steps', '12', '--image-size', '16', '--json', ...INTERFACES]);
    if (r.code !== 0) throw new Error(`jepa record failed: ${r.err}`);
    recorded = JSON.parse(r.out);
  }, 60_000);

  it('records camera frames, joint states, the goal image and shield commands that respect the guardrails', async () => {
    expect(recorded.steps).toBe(12);
    expect(recorded.images).toBe(12);
    expect(Object.values(recorded.byVerdict).reduce((a, b) => a + b, 0)).toBe(12);
    const reader = await BagReader.open(bag);
    expect(Object.fromEntries(reader.topics.map((t) => [t.topic, t.messageCount]))).toEqual({
      [TOPICS.image]: 12, [TOPICS.goalImage]: 1, [TOPICS.jointStates]: 12, [TOPICS.command]: 12, [TOPICS.status]: 12,
    });
    const g = loadGuardrails('config/safety/fer.yaml');
    let commands = 0;
    for await (const m of reader.messages({ topics: [TOPICS.command, TOPICS.image] })) {
      if (m.topic === TOPICS.image) {
        const img = m.decode<{ width: number; height: number; encoding: string; data: Uint8Array }>();
        expect([img.width, img.height, img.encoding, img.data.length]).toEqual([16, 16, 'rgb8', 16 * 16 * 3]);
        continue;
      }
      const t = m.decode<JointTrajectoryMsg>();
      expect(t.joint_names).toEqual(g.jointNames);
      for (const p of t.points) Array.from(p.positions).forEach((q, i) => {
        expect(q).toBeGreaterThanOrEqual(g.lower[i]!);
        expect(q).toBeLessThanOrEqual(g.upper[i]!);
      });
      commands++;
    }
    expect(commands).toBe(12);
    reader.close();
  });

  it('replays the recording: frames to perception, goals to the planner, trajectories to the shield', async () => {
    const r = await jepa(['replay', bag, '--checkpoint', ckpt, '--backend', 'reference', '--plan-every', '4', '--horizon', '3', '--samples', '16', '--iterations', '4', '--json', ...INTERFACES]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.frames).toBe(12);
    expect(s.framesEncoded).toBe(12);
    expect(s.jointStates).toBe(12);
    expect(s.plans.sent).toBe(3);
    expect(s.plans.failed).toBe(0);
    expect(s.shield.decisions).toBe(3);
    expect(Object.values(s.shield.byVerdict as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(3);
    expect(s.shield.forwarded).toBe(3 - (s.shield.byVerdict.halt ?? 0));
    expect(s.maxLatency_ms.plan).toBeGreaterThan(0);
    expect(s.maxLatency_ms.goalToShield).toBeGreaterThanOrEqual(s.maxLatency_ms.plan);
    const text = await jepa(['replay', bag, '--checkpoint', ckpt, '--backend', 'reference', '--plan-every', '6', '--horizon', '2', '--samples', '8', '--iterations', '2', ...INTERFACES]);
    expect(text.out).toMatch(/frames 12 \(\/camera\/image_raw\), encoded 12; joint states 12\n  plans 2:/);
    expect(text.out).toMatch(/shield decisions 2 \(forwarded \d\)/);
  }, 60_000);

  it('refuses to replay camera frames without a world model, naming the flag', async () => {
    const r = await jepa(['replay', bag, ...INTERFACES]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/has camera frames on \/camera\/image_raw.*--checkpoint/);
  });

  it('refuses a task that is not an arm and bad flags with usage errors', async () => {
    const bad = await jepa(['record', '--task', 'reach', '--out', join(dir, 'x.bag'), ...INTERFACES]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--out: must end in \.mcap/);
    const push = await jepa(['record', '--task', 'push-t', '--out', join(dir, 'p.mcap'), '--steps', '2', ...INTERFACES]);
    expect(push.code).toBe(1);
    expect(push.err).toMatch(/do not cover the safety file joints/);
  }, 30_000);
});
