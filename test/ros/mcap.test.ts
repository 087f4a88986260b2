import { mkdtempSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BagError, BagReader, BagWriter } from '../../ros/src/bag/mcap';
import { humbleRegistry } from './helpers';

const MCAP = '../shared/data/mcap';

async function readAll(path: string, topics?: string[]) {
  const bag = await BagReader.open(path);
  const out = [];
  for await (const m of bag.messages({ topics })) out.push(m);
  return { bag, out };
}

describe('rosbag2 MCAP reading (real bags recorded by ROS 2)', () => {
  it('decodes service events whose stored schema is the raw .srv text with ---', async () => {
    const { bag, out } = await readAll(`${MCAP}/rosbag2_cpp/test/rosbag2_cpp/bags/only_services.mcap`);
    expect(bag.topics.map((t) => t.type)).toEqual(['example_interfaces/srv/AddTwoInts_Event']);
    type Ev = { info: { event_type: number }; request: { a: bigint; b: bigint }[]; response: { sum: bigint }[] };
    const events = out.map((m) => m.decode<Ev>());
    expect(events.length).toBe(12);
    const requests = events.filter((e) => e.info.event_type === 1).map((e) => e.request[0]!);
    const responses = events.filter((e) => e.info.event_type === 2).map((e) => e.response[0]!);
    expect(requests.length).toBe(6);
    requests.forEach((r, i) => expect(responses[i]!.sum).toBe(r.a + r.b));
    bag.close();
  });

  it('reads zstd-chunked bags topic by topic with the counts in their statistics', async () => {
    const { bag, out } = await readAll(`${MCAP}/rosbag2_py/test/resources/mcap/talker/talker.mcap`, ['/topic']);
    expect(bag.topics.find((t) => t.topic === '/topic')?.messageCount).toBe(10);
    expect(out.length).toBe(10);
    const texts = out.map((m) => m.decode<{ data: string }>().data);
    expect(texts[0]).toBe('Hello, world! 0');
    expect(texts[9]).toBe('Hello, world! 9');
    expect(new Set(texts).size).toBe(10);
    bag.close();
  });

  it('opens a rosbag2 folder of split files as one bag in split order', async () => {
    const { bag, out } = await readAll(`${MCAP}/rosbag2_py/test/resources/mcap/reindex_test_bags/multiple_files`);
    expect(bag.topics[0]!.messageCount).toBe(1324 + 1324 + 529);
    expect(out.length).toBe(3177);
    for (let i = 1; i < 1324; i++) expect(out[i]!.logTime_ns >= out[i - 1]!.logTime_ns).toBe(true);
    bag.close();
  });

  it('opens every MCAP file in the shared corpus and decodes all cdr messages', async () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.mcap')) files.push(join(d, e.name));
      }
    };
    walk(MCAP);
    expect(files.length).toBeGreaterThanOrEqual(15);
    let decoded = 0;
    for (const f of files) {
      const { bag, out } = await readAll(f);
      for (const m of out) {
        if (bag.topics.find((t) => t.topic === m.topic)!.messageEncoding !== 'cdr') continue;
        m.decode();
        decoded++;
      }
      bag.close();
    }
    expect(decoded).toBeGreaterThan(9000);
  });

  it('refuses to decode a topic whose encoding is not cdr, naming the file and topic', async () => {
    const { out } = await readAll(`${MCAP}/rosbag2_tests/resources/mcap/wrong_rmw_test/wrong_rmw_test_0.mcap`);
    expect(out.length).toBe(7);
    expect(() => out[0]!.decode()).toThrow(/wrong_rmw_test_0\.mcap: topic \/\w+ is ros2msg\/wrong_format/);
  });

  it('refuses a file that is not MCAP and a missing path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bag-'));
    writeFileSync(join(dir, 'x.mcap'), 'not an mcap file at all');
    await expect(BagReader.open(join(dir, 'x.mcap'))).rejects.toThrow(/x\.mcap: not a readable indexed MCAP file/);
    await expect(BagReader.open(join(dir, 'missing.mcap'))).rejects.toThrow(BagError);
  });
});

describe('rosbag2 MCAP writing', () => {
  it('round-trips JointState and Image messages with schemas a reader can parse', async () => {
    const reg = humbleRegistry();
    const dir = mkdtempSync(join(tmpdir(), 'bag-'));
    const path = join(dir, 'run.mcap');
    const w = await BagWriter.create(path);
    await w.addTopic('/joint_states', 'sensor_msgs/msg/JointState', reg.schemaText('sensor_msgs/msg/JointState'));
    await w.addTopic('/camera/image_raw', 'sensor_msgs/msg/Image', reg.schemaText('sensor_msgs/msg/Image'));
    const js = reg.codec('sensor_msgs/msg/JointState');
    const img = reg.codec('sensor_msgs/msg/Image');
    for (let i = 0; i < 20; i++) {
      const stamp = { sec: 100 + i, nanosec: 0 };
      await w.write('/joint_states', js.encode({ header: { stamp, frame_id: '' }, name: ['a'], position: [i * 0.1], velocity: [], effort: [] }), BigInt(100 + i) * 1_000_000_000n);
      if (i % 2 === 0) {
        await w.write('/camera/image_raw', img.encode({ header: { stamp, frame_id: 'cam' }, height: 4, width: 4, encoding: 'rgb8', is_bigendian: 0, step: 12, data: new Uint8Array(48).fill(i) }), BigInt(100 + i) * 1_000_000_000n);
      }
    }
    expect(existsSync(path)).toBe(false); // not under its final name until closed
    await w.close();
    const { bag, out } = await readAll(path);
    expect(bag.topics.map((t) => [t.topic, t.messageCount])).toEqual([
      ['/camera/image_raw', 10],
      ['/joint_states', 20],
    ]);
    const last = out.filter((m) => m.topic === '/joint_states').at(-1)!.decode<{ position: Float64Array }>();
    expect(last.position[0]).toBeCloseTo(1.9, 12);
    const im = out.find((m) => m.topic === '/camera/image_raw' && m.logTime_ns === 104_000_000_000n)!.decode<{ data: Uint8Array }>();
    expect(im.data[7]).toBe(4);
    bag.close();
  });

  it('leaves nothing behind when a recording is aborted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bag-'));
    const w = await BagWriter.create(join(dir, 'a.mcap'));
    w.abort();
    expect(readdirSync(dir)).toEqual([]);
    await expect(BagWriter.create(join(dir, 'a.bag'))).rejects.toThrow(/must end in \.mcap/);
  });
});
