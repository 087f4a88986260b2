import { afterEach, describe, expect, it } from 'vitest';
import { InProcessTransport } from '../../ros/src/transport/in-process';
import { QOS } from '../../ros/src/transport/types';
import { FOLLOW_JOINT_TRAJECTORY, ShieldNode } from '../../ros/src/nodes/shield';
import { COLLISION_OBJECT, type CollisionObjectMsg, MemoryNode } from '../../ros/src/nodes/memory';
import { NodeConfigError, type JointTrajectoryMsg } from '../../ros/src/nodes/common';
import { PerceptionNode } from '../../ros/src/nodes/perception';
import { WorldMemory } from '../../src/memory/world-memory';
import { FER_HOME, FER_JOINTS, FER_URDF as FER_URDF_PATH, ferGuardrails, graphRegistry, imageMessage, jointStateMessage, sleep, tinyModel, waitFor } from './helpers';

let bus: InProcessTransport | undefined;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  await bus?.shutdown();
  bus = undefined;
});

const command = (dq: number, t_s = 1): JointTrajectoryMsg => ({
  header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' },
  joint_names: FER_JOINTS,
  points: [{ positions: FER_HOME.map((q) => q + dq), velocities: [], accelerations: [], effort: [], time_from_start: { sec: t_s, nanosec: 0 } }],
});

describe('shield node', () => {
  for (const flavour of ['humble', 'master'] as const) {
    it(`sends FollowJointTrajectory goals (control_msgs ${flavour}) and cancels the active goal on a halt`, async () => {
      bus = new InProcessTransport(graphRegistry(flavour));
      const controller = bus.createNode('controller');
      const goals: JointTrajectoryMsg[] = [];
      let canceled = 0;
      controller.createActionServer<{ trajectory: JointTrajectoryMsg }, unknown, { error_code: number; error_string: string }>(FOLLOW_JOINT_TRAJECTORY, '/arm_controller/follow_joint_trajectory', {
        async execute(h) {
          goals.push(h.goal.trajectory);
          while (!h.cancelRequested) await sleep(5);
          canceled++;
          return { status: 'canceled', result: { error_code: 0, error_string: '' } };
        },
      });
      const shield = new ShieldNode(bus.createNode('shield', { parameterOverrides: { command_interface: 'action', controller_name: 'arm_controller', camera_topic: '' } }), {
        guardrails: ferGuardrails(), timer: false, log: () => {},
      });
      cleanups.push(() => shield.destroy());
      const robot = bus.createNode('robot');
      robot.createPublisher('sensor_msgs/msg/JointState', '/joint_states', QOS.sensorData).publish(jointStateMessage(FER_JOINTS, FER_HOME));
      await sleep(10);
      const ok = await shield.handleCommand(command(0.05));
      expect(ok.verdict).toBe('pass');
      await waitFor('the goal at the controller', () => goals.length === 1);
      expect(Array.from(goals[0]!.points[0]!.positions)).toEqual(FER_HOME.map((q) => q + 0.05));
      const bad = await shield.handleCommand(command(10));
      expect(bad.verdict).toBe('halt');
      expect(bad.reasons).toEqual(['JOINT_BOUND']);
      await waitFor('the cancel at the controller', () => canceled === 1);
      expect(goals.length).toBe(1);
      expect(shield.stats.byReason).toMatchObject({ OK: 1, JOINT_BOUND: 1 });
    });
  }

  it('applies parameters that tighten the guardrails and refuses looser ones', () => {
    bus = new InProcessTransport(graphRegistry());
    const tight = new ShieldNode(
      bus.createNode('tight', { parameterOverrides: { 'joint_limits.fer_joint1.max_velocity': 0.2, incoming_command_timeout: 0.5, camera_topic: '' } }),
      { guardrails: ferGuardrails(), timer: false, log: () => {} },
    );
    expect(tight.shield.guardrails.maxVelocity[0]).toBe(0.2);
    expect(tight.shield.guardrails.maxVelocity[1]).toBe(1.0);
    expect(tight.shield.guardrails.config.watchdog.incoming_command_timeout_s).toBe(0.5);
    expect(() => new ShieldNode(bus!.createNode('loose', { parameterOverrides: { 'joint_limits.fer_joint2.max_acceleration': 100 } }), { guardrails: ferGuardrails(), timer: false }))
      .toThrow(/may only tighten.*joint_limits\.fer_joint2\.max_acceleration 100 > 3\.75/);
    expect(() => new ShieldNode(bus!.createNode('bad', { parameterOverrides: { command_interface: 'servo' } }), { guardrails: ferGuardrails(), timer: false }))
      .toThrow(NodeConfigError);
    // read-only after start
    expect(() => bus!.createNode('x').setParameter('y', 1)).toThrow(/not declared/);
  });
});

describe('perception node', () => {
  it('keeps only the newest waiting frame while the encoder is busy, and publishes one latent per encode', async () => {
    bus = new InProcessTransport(graphRegistry());
    const perception = new PerceptionNode(bus.createNode('perception'), { model: tinyModel(), log: () => {} });
    const robot = bus.createNode('robot');
    const latents: number[] = [];
    robot.createSubscription<{ data: Float32Array }>('std_msgs/msg/Float32MultiArray', '/perception/latent', (m) => latents.push(m.data.length));
    // 5 frames in one turn of the event loop: one is encoded at once, the newest of the rest waits, 3 are dropped.
    const cam = robot.createPublisher('sensor_msgs/msg/Image', '/camera/image_raw', QOS.sensorData);
    for (let i = 0; i < 5; i++) cam.publish(imageMessage(16, 16, i));
    await waitFor('both encodes', () => perception.stats.framesEncoded === 2);
    await perception.idle();
    expect(perception.stats.framesReceived).toBe(5);
    expect(perception.stats.framesDropped).toBe(3);
    await waitFor('two latents', () => latents.length === 2);
    expect(latents).toEqual([8, 8]);
  });

  it('counts a frame it cannot decode as rejected and keeps running', async () => {
    bus = new InProcessTransport(graphRegistry());
    const perception = new PerceptionNode(bus.createNode('perception'), { model: tinyModel(), log: () => {} });
    const cam = bus.createNode('robot').createPublisher('sensor_msgs/msg/Image', '/camera/image_raw', QOS.sensorData);
    cam.publish({ ...imageMessage(4, 4, 1), encoding: '16UC1', step: 8, data: new Uint8Array(32) });
    await waitFor('the rejection', () => perception.stats.framesRejected === 1);
    expect(perception.stats.lastError).toMatch(/encoding '16UC1' is not supported/);
    cam.publish(imageMessage(4, 4, 1));
    await waitFor('an encode', () => perception.stats.framesEncoded === 1);
  });
});

describe('memory node', () => {
  it('remembers sightings, publishes them as collision objects, removes them once confidence decays, and logs events', async () => {
    bus = new InProcessTransport(graphRegistry());
    const memory = WorldMemory.open({ file: ':memory:', confidenceDecayRate_per_s: 50 });
    cleanups.push(() => memory.close());
    const node = new MemoryNode(bus.createNode('memory', { parameterOverrides: { episode_id: 'ep1', min_confidence: 0.5 } }), { memory, timer: false, log: () => {} });
    cleanups.push(() => node.destroy());
    const src = bus.createNode('src');
    const scene: CollisionObjectMsg[] = [];
    src.createSubscription<CollisionObjectMsg>('jepa_runtime/msg/CollisionObject', '/memory/collision_object', (m) => scene.push(m));
    src.createPublisher('std_msgs/msg/Float32MultiArray', '/perception/latent').publish({ layout: { dim: [], data_offset: 0 }, data: Float32Array.of(1, 2, 3) });
    await sleep(5);
    const pose = { position: { x: 0.4, y: -0.1, z: 0.02 }, orientation: { x: 0, y: 0, z: 0, w: 2 } };
    src.createPublisher('jepa_runtime/msg/CollisionObject', '/memory/sightings').publish({
      header: { stamp: { sec: 0, nanosec: 0 }, frame_id: 'table' }, pose, id: 'cube', primitives: [], primitive_poses: [], operation: COLLISION_OBJECT.ADD,
    });
    await waitFor('the scene update', () => scene.length === 1);
    expect(scene[0]!.id).toBe('cube');
    expect(scene[0]!.operation).toBe(COLLISION_OBJECT.ADD);
    expect(scene[0]!.header.frame_id).toBe('table');
    expect(scene[0]!.pose.orientation.w).toBeCloseTo(1, 12); // normalised
    expect(Array.from(scene[0]!.primitives[0]!.dimensions)).toEqual([0.05]);
    expect(Array.from(memory.recall('cube', Date.now() / 1000)!.latent)).toEqual([1, 2, 3]);
    // Out of view, the confidence decays at 50/s: gone below 0.5 within ~14 ms.
    src.createPublisher('jepa_runtime/msg/CollisionObject', '/memory/sightings').publish({ ...scene[0]!, operation: COLLISION_OBJECT.REMOVE });
    await sleep(60);
    node.publishScene();
    await waitFor('the REMOVE', () => scene.some((m) => m.operation === COLLISION_OBJECT.REMOVE));
    expect(scene.filter((m) => m.operation === COLLISION_OBJECT.REMOVE).map((m) => m.id)).toEqual(['cube']);
    expect(node.publishScene()).toEqual({ added: [], removed: [] }); // nothing left to add or remove

    src.createPublisher('std_msgs/msg/String', '/perception/surprise').publish({ data: 'not json' }); // ignored, not a crash
    src.createPublisher('std_msgs/msg/String', '/perception/surprise').publish({ data: JSON.stringify({ level: 'slow', error: 0.3, zScore: 9, tick: 4, time_s: 1, reason: 'z-score' }) });
    src.createPublisher('std_msgs/msg/String', '/shield/status').publish({ data: JSON.stringify({ verdict: 'halt', reasons: ['WATCHDOG_TIMEOUT'], detail: 'camera stale', time_s: 1, source: 'camera', timeScale: 1 }) });
    await waitFor('two logged events', () => memory.events({ episodeId: 'ep1' }).length === 2);
    const events = memory.events({ episodeId: 'ep1' });
    expect(events.map((e) => e.kind).sort()).toEqual(['shield', 'surprise']);
    expect(events.find((e) => e.kind === 'shield')!.payload).toMatchObject({ verdict: 'halt', status: 'WATCHDOG_TIMEOUT' });
  });
});

describe('planner node goal kinds', () => {
  async function setup() {
    const { readFileSync } = await import('node:fs');
    const { inverseKinematics } = await import('../../ros/src/bin/stages');
    const { PlannerNode, PLAN_TO_GOAL, GOAL_KIND, PLAN_STATUS } = await import('../../ros/src/nodes/planner');
    const { CemPlanner } = await import('../../src/planning/cem');
    const { KinematicModel } = await import('../../src/robot/kinematics');
    const { loadUrdf } = await import('../../src/robot/urdf');
    bus = new InProcessTransport(graphRegistry());
    const model = tinyModel();
    const urdf = readFileSync('../shared/data/robots/franka/fer.urdf', 'utf8');
    const planner = new PlannerNode(bus.createNode('planner', { parameterOverrides: { joint_names: FER_JOINTS, action_mode: 'delta' } }), {
      model,
      planner: new CemPlanner(model, { horizon: 3, samples: 16, initStd: 0.01, energy: {} }),
      goals: (task) => (task === 'home' ? { latent: new Float32Array(8).fill(0.01) } : undefined),
      ik: inverseKinematics(urdf, FER_JOINTS, 'fer_hand_tcp'),
      log: () => {},
    });
    const src = bus.createNode('src');
    src.createPublisher('std_msgs/msg/Float32MultiArray', '/perception/latent').publish({ layout: { dim: [], data_offset: 0 }, data: new Float32Array(8) });
    src.createPublisher('sensor_msgs/msg/JointState', '/joint_states', QOS.sensorData).publish(jointStateMessage(FER_JOINTS, FER_HOME));
    await waitFor('the latent', () => planner.latent !== undefined);
    const client = src.createActionClient<Record<string, unknown>, { current_subgoal: string }, { status: number; message: string; trajectory: JointTrajectoryMsg }>(PLAN_TO_GOAL, '/planner/plan_to_goal');
    const T = new KinematicModel(loadUrdf(FER_URDF_PATH), { jointNames: FER_JOINTS }).linkTransform(FER_HOME, 'fer_hand_tcp');
    const base = {
      goal_kind: 0, task_id: '', goal_image: imageMessage(0, 0, 0),
      ee_pose: { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: 'fer_link0' }, pose: { position: { x: T[3]!, y: T[7]!, z: T[11]! }, orientation: quaternion(T) } },
      joint_target: { header: { stamp: { sec: 0, nanosec: 0 }, frame_id: '' }, name: [], position: [], velocity: [], effort: [] },
      max_planning_time_s: 0, max_iterations: 3,
    };
    return { client, base, GOAL_KIND, PLAN_STATUS };
  }

  /** Unit quaternion (x, y, z, w) of the rotation in a row-major 4x4 transform. */
  function quaternion(T: ArrayLike<number>) {
    const [m00, m01, m02, m10, m11, m12, m20, m21, m22] = [T[0]!, T[1]!, T[2]!, T[4]!, T[5]!, T[6]!, T[8]!, T[9]!, T[10]!];
    const w = Math.sqrt(Math.max(0, 1 + m00 + m11 + m22)) / 2;
    const x = Math.sqrt(Math.max(0, 1 + m00 - m11 - m22)) / 2 * Math.sign(m21 - m12 || 1);
    const y = Math.sqrt(Math.max(0, 1 - m00 + m11 - m22)) / 2 * Math.sign(m02 - m20 || 1);
    const z = Math.sqrt(Math.max(0, 1 - m00 - m11 + m22)) / 2 * Math.sign(m10 - m01 || 1);
    return { x, y, z, w };
  }

  it('plans to an end-effector pose through IK, and aborts an unreachable one naming the pose', async () => {
    const { client, base, GOAL_KIND, PLAN_STATUS } = await setup();
    const feedback: string[] = [];
    const ok = await (await client.sendGoal({ ...base, goal_kind: GOAL_KIND.pose }, (f) => feedback.push(f.current_subgoal))).result();
    expect(ok.status).toBe('succeeded');
    expect(ok.result.trajectory.points.length).toBe(3);
    await waitFor('feedback', () => feedback.length > 0);
    expect(feedback[0]).toBe('pose');
    const far = { ...base.ee_pose, pose: { ...base.ee_pose.pose, position: { x: 3, y: 0, z: 0.5 } } };
    const bad = await (await client.sendGoal({ ...base, goal_kind: GOAL_KIND.pose, ee_pose: far })).result();
    expect(bad.status).toBe('aborted');
    expect(bad.result.status).toBe(PLAN_STATUS.failed);
    expect(bad.result.message).toMatch(/pose \(3, 0, 0\.5\) in 'fer_link0' has no IK solution/);
  });

  it('plans to a registered task goal and a joint target, and aborts an unknown task', async () => {
    const { client, base, GOAL_KIND } = await setup();
    const task = await (await client.sendGoal({ ...base, goal_kind: GOAL_KIND.task, task_id: 'home' })).result();
    expect(task.status).toBe('succeeded');
    const joints = await (await client.sendGoal({ ...base, goal_kind: GOAL_KIND.joints, joint_target: { ...base.joint_target, name: FER_JOINTS, position: FER_HOME } })).result();
    expect(joints.status).toBe('succeeded');
    // delta actions start from the measured joint state
    expect(Math.abs(Array.from(joints.result.trajectory.points[0]!.positions)[3]! - FER_HOME[3]!)).toBeLessThanOrEqual(0.02 + 1e-6);
    const unknown = await (await client.sendGoal({ ...base, goal_kind: GOAL_KIND.task, task_id: 'nope' })).result();
    expect(unknown.status).toBe('aborted');
    expect(unknown.result.message).toBe("no goal is known for task 'nope'");
  });
});

describe('perception node on CompressedImage', () => {
  it('encodes PNG frames and rejects JPEG ones with the reason', async () => {
    const { encodePng } = await import('../../src/sim/render/png');
    bus = new InProcessTransport(graphRegistry());
    const perception = new PerceptionNode(bus.createNode('perception', { parameterOverrides: { compressed_image_topic: '/camera/image_raw/compressed' } }), { model: tinyModel(), log: () => {} });
    const pub = bus.createNode('cam').createPublisher('sensor_msgs/msg/CompressedImage', '/camera/image_raw/compressed', QOS.sensorData);
    const header = { stamp: { sec: 0, nanosec: 0 }, frame_id: 'cam' };
    pub.publish({ header, format: 'rgb8; jpeg compressed bgr8', data: Uint8Array.of(0xff, 0xd8, 0xff, 0xe0) });
    await waitFor('the rejection', () => perception.stats.framesRejected === 1);
    expect(perception.stats.lastError).toMatch(/only PNG is supported/);
    pub.publish({ header, format: 'png', data: new Uint8Array(encodePng(20, 12, new Uint8Array(20 * 12 * 3).fill(90))) });
    await waitFor('the encode', () => perception.stats.framesEncoded === 1);
  });
});

describe('simulated time', () => {
  it('judges joint-state age by /clock when use_sim_time is set, not by the wall clock', async () => {
    bus = new InProcessTransport(graphRegistry());
    const shield = new ShieldNode(bus.createNode('shield', { useSimTime: true, parameterOverrides: { camera_topic: '' } }), {
      guardrails: ferGuardrails({ joint_state_timeout_s: 0.05 }), timer: false, log: () => {},
    });
    const sim = bus.createNode('gz');
    const clock = sim.createPublisher('rosgraph_msgs/msg/Clock', '/clock');
    clock.publish({ clock: { sec: 100, nanosec: 0 } });
    await sleep(5);
    sim.createPublisher('sensor_msgs/msg/JointState', '/joint_states', QOS.sensorData).publish(jointStateMessage(FER_JOINTS, FER_HOME));
    await sleep(80); // wall time passes, simulated time does not
    // (No command has come yet, so incoming_command_timeout already halts; the joint state is fresh.)
    expect(shield.tick().detail).not.toMatch(/joint state/);
    clock.publish({ clock: { sec: 100, nanosec: 60_000_000 } });
    await sleep(5);
    const r = shield.tick();
    expect(r.verdict).toBe('halt');
    expect(r.time_s).toBeCloseTo(100.06, 9);
    expect(r.detail).toMatch(/joint state older than 0\.05 s/);
  });
});

describe('perception surprise', () => {
  it('predicts the next latent from the planner action and publishes a surprise event when the frame disagrees', async () => {
    const { SurpriseMonitor } = await import('../../src/perception/surprise');
    bus = new InProcessTransport(graphRegistry());
    const monitor = new SurpriseMonitor({ warmup_ticks: 2, thresholds: { replan: { error: 1e-12 }, slow: { error: 1e6 }, halt: { error: 1e7 } } });
    const perception = new PerceptionNode(bus.createNode('perception'), { model: tinyModel(), surprise: monitor, log: () => {} });
    const src = bus.createNode('src');
    const events: { level: string; tick: number; error: number }[] = [];
    src.createSubscription<{ data: string }>('std_msgs/msg/String', '/perception/surprise', (m) => events.push(JSON.parse(m.data)));
    src.createPublisher('std_msgs/msg/Float32MultiArray', '/planner/action').publish({ layout: { dim: [], data_offset: 0 }, data: new Float32Array(7).fill(0.02) });
    const cam = src.createPublisher('sensor_msgs/msg/Image', '/camera/image_raw', QOS.sensorData);
    await sleep(5);
    cam.publish(imageMessage(16, 16, 1));
    await waitFor('the first encode', () => perception.stats.framesEncoded === 1);
    await perception.idle();
    expect(monitor.hasPendingPrediction).toBe(true);
    cam.publish(imageMessage(16, 16, 2));
    await waitFor('the surprise event', () => events.length === 1);
    expect(events[0]!.level).toBe('replan');
    expect(events[0]!.tick).toBe(0);
    expect(events[0]!.error).toBeGreaterThan(0);
    expect(perception.stats.surpriseEvents).toBe(1);
  });
});

describe('node configuration errors', () => {
  it('refuses a planner whose joint_names outnumber the model actions, and a bad parameter value, naming node and parameter', async () => {
    const { PlannerNode } = await import('../../ros/src/nodes/planner');
    const { CemPlanner } = await import('../../src/planning/cem');
    bus = new InProcessTransport(graphRegistry());
    const model = tinyModel();
    const planner = new CemPlanner(model, { horizon: 2, samples: 4, energy: {} });
    const eight = [...FER_JOINTS, 'fer_finger_joint1'];
    expect(() => new PlannerNode(bus!.createNode('planner', { parameterOverrides: { joint_names: eight } }), { model, planner })).toThrow(
      /node planner: parameter joint_names lists 8 joints but the model's actions have 7 dims/,
    );
    expect(() => new PlannerNode(bus!.createNode('planner3'), { model, planner })).toThrow(/node planner3: set parameter joint_names/);
    expect(() => new PlannerNode(bus!.createNode('planner2', { parameterOverrides: { action_mode: 'velocity' } }), { model, planner })).toThrow(
      /node planner2: parameter action_mode = "velocity": .*\('absolute'\) or increments/,
    );
  });
});
