// Registries over the real ROS 2 interface definitions in ../shared/data/ros2_msgs,
// plus the small models, guardrails and message builders the node tests share.
import { MessageRegistry } from '../../ros/src/msgs/registry';
import { addPackageInterfaces } from '../../ros/src/msgs/package';
import { createReferenceModel } from '../../src/addon/reference';
import type { WorldModel } from '../../src/addon/types';
import { checkpointConfigSchema } from '../../src/model/config';
import { initWeights } from '../../src/model/checkpoint';
import { compileGuardrails, type Guardrails } from '../../src/safety/guardrails';
import { parseSafetyConfig } from '../../src/safety/config';
import { loadUrdf } from '../../src/robot/urdf';
import { loadJointLimitsYaml } from '../../src/robot/jointLimits';

export const MSGS = '../shared/data/ros2_msgs';
export const MSG_FOLDERS = [`${MSGS}/common_interfaces`, `${MSGS}/rcl_interfaces`, `${MSGS}/unique_identifier_msgs`, `${MSGS}/control_msgs`];

/** control_msgs from master (FollowJointTrajectory feedback with the extra int32 fields). */
export function masterRegistry(): MessageRegistry {
  return MessageRegistry.fromDirectories(MSG_FOLDERS);
}

/** The same set with FollowJointTrajectory from the humble branch (as on Humble and Jazzy). */
export function humbleRegistry(): MessageRegistry {
  const reg = masterRegistry();
  reg.addFile(`${MSGS}/control_msgs_humble/FollowJointTrajectory.action`, 'control_msgs/action/FollowJointTrajectory');
  return reg;
}

/** Humble definitions plus this package's own interfaces (ros/msg, ros/action). */
export function graphRegistry(flavour: 'humble' | 'master' = 'humble'): MessageRegistry {
  const reg = flavour === 'humble' ? humbleRegistry() : masterRegistry();
  addPackageInterfaces(reg);
  return reg;
}

export const FER_URDF = '../shared/data/robots/franka/fer.urdf';
export const FER_LIMITS = '../shared/data/robots/franka/fer/joint_limits.yaml';
export const FER_JOINTS = ['fer_joint1', 'fer_joint2', 'fer_joint3', 'fer_joint4', 'fer_joint5', 'fer_joint6', 'fer_joint7'];
/** Franka's ready pose, clear of the table and inside every limit. */
export const FER_HOME = [0, -0.785, 0, -2.356, 0, 1.571, 0.785];

/** FER guardrails with generous watchdog timeouts (the in-process bus on a shared CI machine is not real time). */
export function ferGuardrails(watchdog: Partial<{ joint_state_timeout_s: number; incoming_command_timeout_s: number }> = {}): Guardrails {
  const robot = loadUrdf(FER_URDF);
  const limits = loadJointLimitsYaml(FER_LIMITS, robot.joints.map((j) => j.name));
  const safety = parseSafetyConfig(
    {
      joints: FER_JOINTS,
      tcp_link: 'fer_hand_tcp',
      joint_limit_margins: 0.1,
      joint_limits: Object.fromEntries(FER_JOINTS.map((j) => [j, { max_velocity: 1.0, max_acceleration: 3.75, max_jerk: 1875 }])),
      tool: { max_speed_mps: 0.5, sharp_object_max_speed_mps: 0.1 },
      collision: { exclude_links: ['fer_link0'] },
      keep_out: [{ id: 'table', shape: 'box', center_m: [0.5, 0, -0.05], size_m: [1.2, 1.6, 0.1] }],
      watchdog: { control_period_s: 0.01, joint_state_timeout_s: watchdog.joint_state_timeout_s ?? 1.0, perception_timeout_s: 1.0, incoming_command_timeout_s: watchdog.incoming_command_timeout_s ?? 5.0 },
    },
    'test safety config',
  );
  return compileGuardrails(robot, [limits], safety, 'test safety config');
}

/**
 * A tiny reference world model: 16 px RGB CNN encoder (one 4x4/4 conv stage,
 * average pool) into an 8-dim latent; mlp predictor; 7 actions (joint deltas
 * bounded to ±0.02 rad per step) and a 7-dim proprio head.
 */
export function tinyModel(seed = 7): WorldModel {
  const config = tinyConfig();
  return createReferenceModel(config, initWeights(config, seed));
}

export function tinyConfig() {
  return checkpointConfigSchema.parse({
    format: 'jepa-runtime.checkpoint/1',
    name: 'ros-test-tiny',
    latent: { tokens: 1, dim: 8 },
    action: { dim: 7, low: Array(7).fill(-0.02), high: Array(7).fill(0.02) },
    encoder: { kind: 'cnn', imageSize: 16, stages: [{ channels: 8, kernel: 4, stride: 4 }], pool: 'avgpool' },
    predictor: { kind: 'mlp', hiddenDims: [16] },
    proprio: { dim: 7 },
  });
}

/** A sensor_msgs/Image object (rgb8) with a deterministic pattern. */
export function imageMessage(width: number, height: number, seed: number, stamp = { sec: 0, nanosec: 0 }, encoding = 'rgb8') {
  const bpp = encoding === 'mono8' ? 1 : encoding.endsWith('a8') ? 4 : 3;
  const data = new Uint8Array(width * height * bpp).map((_, i) => (i * 31 + seed * 17) % 251);
  return { header: { stamp, frame_id: 'camera' }, height, width, encoding, is_bigendian: 0, step: width * bpp, data };
}

export function jointStateMessage(names: readonly string[], positions: readonly number[], stamp = { sec: 0, nanosec: 0 }) {
  return { header: { stamp, frame_id: '' }, name: [...names], position: [...positions], velocity: names.map(() => 0), effort: [] as number[] };
}

export const tick = () => new Promise((r) => setImmediate(r));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond` holds (checked every 5 ms) or fails after timeout_ms, naming what was awaited. */
export async function waitFor(what: string, cond: () => boolean, timeout_ms = 5000): Promise<void> {
  const until = Date.now() + timeout_ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await sleep(5);
  }
}
