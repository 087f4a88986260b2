/**
 * Shared fixtures for the safety tests: a cheap 3-joint arm (URDF text built
 * from a parameter table that the independent checker also reads), its
 * safety configuration, and a seeded PRNG.
 */
import { seededRandom } from '../helpers/random';
import { parseUrdf } from '../../src/robot/urdf';
import { compileGuardrails } from '../../src/safety/guardrails';
import { parseSafetyConfig } from '../../src/safety/config';

export { seededRandom as rng };



/**
 * The cheap arm: base -> j1 (about z, at z 0.1) -> l1 -> j2 (about y, at
 * z 0.05) -> l2 (0.3 long) -> j3 (about y, at z 0.3) -> l3 (0.25 long) ->
 * fixed tcp at z 0.25. Each moving link carries one cylinder along its z axis.
 */
interface CheapJoint {
  name: string;
  axis: 'z' | 'y';
  offsetZ: number;
  lower: number;
  upper: number;
  velocity: number;
  effort: number;
  /** URDF <safety_controller>: soft limits and k_position. */
  soft?: { lower: number; upper: number; kPosition: number };
}

export const CHEAP = {
  joints: <CheapJoint[]>[
    { name: 'j1', axis: 'z' as const, offsetZ: 0.1, lower: -2.5, upper: 2.5, velocity: 2.0, effort: 10 },
    { name: 'j2', axis: 'y' as const, offsetZ: 0.05, lower: -1.8, upper: 1.8, velocity: 2.0, effort: 10, soft: { lower: -1.7, upper: 1.8, kPosition: 5 } },
    { name: 'j3', axis: 'y' as const, offsetZ: 0.3, lower: -2.4, upper: 2.4, velocity: 2.5, effort: 5 },
  ],
  tcpOffsetZ: 0.25,
  /** Cylinder per link after joint i: centre z, length, radius (link frame). */
  cylinders: [
    { centerZ: 0.025, length: 0.05, radius: 0.05 },
    { centerZ: 0.15, length: 0.3, radius: 0.04 },
    { centerZ: 0.125, length: 0.25, radius: 0.035 },
  ],
  tcpSphereRadius: 0.03,
};

export function cheapUrdf(): string {
  const links = ['base', 'l1', 'l2', 'l3'];
  const cyl = (i: number) => {
    const c = CHEAP.cylinders[i]!;
    return `<collision><origin xyz="0 0 ${c.centerZ}" rpy="0 0 0"/><geometry><cylinder radius="${c.radius}" length="${c.length}"/></geometry></collision>`;
  };
  const joints = CHEAP.joints.map(
    (j, i) => `<joint name="${j.name}" type="revolute"><parent link="${links[i]}"/><child link="${links[i + 1]}"/>
      <origin xyz="0 0 ${j.offsetZ}" rpy="0 0 0"/><axis xyz="${j.axis === 'z' ? '0 0 1' : '0 1 0'}"/>
      <limit lower="${j.lower}" upper="${j.upper}" velocity="${j.velocity}" effort="${j.effort}"/>
      ${j.soft ? `<safety_controller k_position="${j.soft.kPosition}" k_velocity="1" soft_lower_limit="${j.soft.lower}" soft_upper_limit="${j.soft.upper}"/>` : ''}</joint>`,
  );
  return `<?xml version="1.0"?><robot name="cheap3">
    <link name="base"/>
    <link name="l1">${cyl(0)}</link><link name="l2">${cyl(1)}</link><link name="l3">${cyl(2)}</link>
    <link name="tcp"><collision><geometry><sphere radius="${CHEAP.tcpSphereRadius}"/></geometry></collision></link>
    ${joints.join('\n')}
    <joint name="tcp_joint" type="fixed"><parent link="l3"/><child link="tcp"/><origin xyz="0 0 ${CHEAP.tcpOffsetZ}" rpy="0 0 0"/></joint>
  </robot>`;
}

export function cheapSafetyRaw() {
  return {
    joints: ['j1', 'j2', 'j3'],
    tcp_link: 'tcp',
    joint_limit_margins: 0.05,
    joint_bound_clamp_tolerance: 0.02,
    joint_limits: {
      j1: { max_velocity: 1.5, max_acceleration: 8, max_jerk: 400 },
      j2: { max_velocity: 1.5, max_acceleration: 8, max_jerk: 400 },
      j3: { max_velocity: 2.0, max_acceleration: 10, max_jerk: 500 },
    },
    tool: { max_speed_mps: 0.8, sharp_object_max_speed_mps: 0.2 },
    workspace: { boxes: [{ min_m: [-0.8, -0.8, -0.05], max_m: [0.8, 0.8, 0.95] }], check: 'all_links' as const },
    collision: { clearance_m: 0.02, slow_down_distance_m: 0.08, sweep_resolution_m: 0.03, mesh_radius_m: 0.05, max_samples_per_command: 4000 },
    keep_out: [
      { id: 'post', shape: 'box' as const, center_m: [0.45, 0.0, 0.3], size_m: [0.1, 0.1, 0.6], rpy_rad: [0, 0, 0.6] },
      { id: 'ball', shape: 'sphere' as const, center_m: [-0.3, 0.35, 0.45], radius_m: 0.1 },
      { id: 'bar', shape: 'capsule' as const, a_m: [0.0, -0.5, 0.2], b_m: [-0.3, -0.4, 0.6], radius_m: 0.05 },
      { id: 'drone', shape: 'sphere' as const, center_m: [0.0, 0.6, 0.7], radius_m: 0.08, moving: true, position_uncertainty_m: 0.02 },
    ],
    separation: {
      human_speed_mps: 1.6,
      reaction_time_s: 0.1,
      stopping_time_s: 0.2,
      intrusion_distance_m: 0.1,
      human_position_uncertainty_m: 0.05,
      robot_position_uncertainty_m: 0.01,
      slow_down_distance_m: 1.5,
      person_radius_m: 0.2,
      person_height_m: 1.8,
      floor_z_m: -0.7,
    },
    watchdog: { control_period_s: 0.01, joint_state_timeout_s: 0.05, perception_timeout_s: 0.2, incoming_command_timeout_s: 0.1 },
    max_time_scale: 50,
  };
}

export function cheapGuardrails(raw: unknown = cheapSafetyRaw()) {
  return compileGuardrails(parseUrdf(cheapUrdf(), 'cheap3.urdf'), [], parseSafetyConfig(raw, 'cheap3-safety'), 'cheap3-safety');
}
