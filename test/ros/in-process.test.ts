import { afterEach, describe, expect, it } from 'vitest';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { QOS, TransportError, resolveName } from '../../ros/src/transport/types';
import { humbleRegistry } from './helpers';

const tick = () => new Promise((r) => setImmediate(r));
let bus: InProcessTransport;
afterEach(async () => bus?.shutdown());

describe('in-process transport', () => {
  it('delivers CDR bytes to raw subscribers and decoded objects to typed ones', async () => {
    bus = new InProcessTransport(humbleRegistry());
    const a = bus.createNode('camera');
    const b = bus.createNode('perception');
    const raws: Uint8Array[] = [];
    const msgs: { width: number }[] = [];
    b.createRawSubscription('sensor_msgs/msg/Image', '/camera/image_raw', (cdr) => raws.push(cdr), QOS.sensorData);
    b.createSubscription<{ width: number }>('sensor_msgs/msg/Image', '/camera/image_raw', (m) => msgs.push(m), QOS.sensorData);
    const pub = a.createPublisher('sensor_msgs/msg/Image', '/camera/image_raw', QOS.sensorData);
    pub.publish({ header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, height: 2, width: 3, encoding: 'rgb8', is_bigendian: 0, step: 9, data: new Uint8Array(18) });
    expect(raws.length).toBe(0); // asynchronous, like DDS
    await tick();
    expect(raws[0]).toBeInstanceOf(Uint8Array);
    expect(raws[0]!.length).toBeGreaterThan(18);
    expect(msgs[0]!.width).toBe(3);
  });

  it('drops the oldest samples beyond a subscription depth (keep-last)', async () => {
    bus = new InProcessTransport(humbleRegistry());
    const n = bus.createNode('n');
    const got: number[] = [];
    n.createSubscription<{ data: number }>('std_msgs/msg/Float64', 'x', (m) => got.push(m.data), { reliability: 'best_effort', durability: 'volatile', depth: 2 });
    const pub = n.createPublisher('std_msgs/msg/Float64', 'x');
    for (let i = 0; i < 5; i++) pub.publish({ data: i });
    await tick();
    expect(got).toEqual([3, 4]);
  });

  it('replays transient-local samples to late joiners only', async () => {
    bus = new InProcessTransport(humbleRegistry());
    const n = bus.createNode('n');
    n.createPublisher('std_msgs/msg/String', '/status', QOS.latched).publish({ data: 'ready' });
    n.createPublisher('std_msgs/msg/String', '/chatter').publish({ data: 'lost' });
    const latched: string[] = [];
    const volatileMsgs: string[] = [];
    n.createSubscription<{ data: string }>('std_msgs/msg/String', '/status', (m) => latched.push(m.data), QOS.latched);
    n.createSubscription<{ data: string }>('std_msgs/msg/String', '/chatter', (m) => volatileMsgs.push(m.data));
    await tick();
    expect(latched).toEqual(['ready']);
    expect(volatileMsgs).toEqual([]);
  });

  it('refuses a second type on a topic and an unknown type', () => {
    bus = new InProcessTransport(humbleRegistry());
    const n = bus.createNode('n');
    n.createPublisher('std_msgs/msg/String', '/t');
    expect(() => n.createPublisher('std_msgs/msg/Float64', '/t')).toThrow(TransportError);
    expect(() => n.createPublisher('nope_msgs/msg/X', '/u')).toThrow(/unknown ROS 2 type/);
  });

  it('resolves private and relative names like rcl', () => {
    expect(resolveName('~/plan_to_goal', 'planner', '/jepa')).toBe('/jepa/planner/plan_to_goal');
    expect(resolveName('joint_states', 'shield', '/')).toBe('/joint_states');
    expect(resolveName('/abs', 'x', '/ns')).toBe('/abs');
  });

  it('runs an action goal with feedback to success, and cancels another', async () => {
    bus = new InProcessTransport(humbleRegistry());
    const server = bus.createNode('controller');
    const client = bus.createNode('shield');
    const type = 'control_msgs/action/FollowJointTrajectory';
    server.createActionServer<{ trajectory: { joint_names: string[] } }, Record<string, unknown>, { error_code: number; error_string: string }>(
      type,
      '/arm_controller/follow_joint_trajectory',
      {
        onGoal: (g) => (g.trajectory.joint_names.length > 0 ? true : 'no joints'),
        async execute(h) {
          for (let i = 0; i < 50; i++) {
            if (h.cancelRequested) return { status: 'canceled', result: { error_code: 0, error_string: 'canceled' } };
            h.publishFeedback({ joint_names: h.goal.trajectory.joint_names });
            await new Promise((r) => setTimeout(r, 2));
          }
          return { status: 'succeeded', result: { error_code: 0, error_string: '' } };
        },
      },
    );
    const ac = client.createActionClient<unknown, { joint_names: string[] }, { error_code: number; error_string: string }>(type, '/arm_controller/follow_joint_trajectory');
    expect(await ac.waitForServer(100)).toBe(true);
    const feedback: string[][] = [];
    const goal = { trajectory: { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, joint_names: ['j1'], points: [] } };
    const h1 = await ac.sendGoal(goal, (f) => feedback.push(f.joint_names));
    expect(h1.accepted).toBe(true);
    const r1 = await h1.result();
    expect(r1.status).toBe('succeeded');
    expect(feedback.length).toBeGreaterThan(10);
    expect(feedback[0]).toEqual(['j1']);

    const h2 = await ac.sendGoal(goal);
    await new Promise((r) => setTimeout(r, 10));
    expect(await h2.cancel()).toBe(true);
    expect((await h2.result()).status).toBe('canceled');

    const rejected = await ac.sendGoal({ trajectory: { ...goal.trajectory, joint_names: [] } });
    expect(rejected.accepted).toBe(false);
  });

  it('validates parameters on declare and set; read-only parameters stay put', () => {
    bus = new InProcessTransport(humbleRegistry());
    const n = bus.createNode('shield');
    const positive = (v: unknown) => {
      if (typeof v !== 'number' || !(v > 0)) throw new TransportError(`expected a positive number, got ${String(v)}`);
      return v;
    };
    expect(n.declareParameter('incoming_command_timeout', 0.1, { description: 'seconds', validate: positive })).toBe(0.1);
    expect(() => n.setParameter('incoming_command_timeout', -1)).toThrow(/positive/);
    n.setParameter('incoming_command_timeout', 0.2);
    expect(n.getParameter('incoming_command_timeout')).toBe(0.2);
    n.declareParameter('robot_description_hash', 'abc', { description: 'frozen', validate: (v) => String(v), readOnly: true });
    expect(() => n.setParameter('robot_description_hash', 'x')).toThrow(/read-only/);
  });

  it('follows /clock when use_sim_time is set', async () => {
    bus = new InProcessTransport(humbleRegistry());
    const sim = bus.createNode('gz', {});
    const node = bus.createNode('planner', { useSimTime: true });
    expect(node.now()).toEqual({ sec: 0, nanosec: 0 });
    sim.createPublisher('rosgraph_msgs/msg/Clock', '/clock').publish({ clock: { sec: 42, nanosec: 7 } });
    await tick();
    expect(node.now()).toEqual({ sec: 42, nanosec: 7 });
  });
});

describe('rclnodejs transport loading', () => {
  it('says what to source when ROS 2 is not sourced', async () => {
    const { loadRclnodejs, RosUnavailableError } = await import('../../ros/src/transport/rclnodejs');
    expect(() => loadRclnodejs({})).toThrow(RosUnavailableError);
    expect(() => loadRclnodejs({})).toThrow(/source \/opt\/ros\/jazzy\/setup\.bash/);
  });

  it('says rclnodejs is missing when ROS 2 is sourced but the client library is not built', async () => {
    const { loadRclnodejs } = await import('../../ros/src/transport/rclnodejs');
    let err: Error | undefined;
    try {
      loadRclnodejs({ ROS_DISTRO: 'jazzy', AMENT_PREFIX_PATH: '/opt/ros/jazzy' });
    } catch (e) {
      err = e as Error;
    }
    // rclnodejs is not a dependency of this package (it needs a ROS 2 install to build)
    expect(err?.message).toMatch(/ROS 2 jazzy is sourced but rclnodejs cannot be loaded.*npm install rclnodejs/);
  });
});
