/**
 * The `arm` scene: a 7-DoF arm with the Franka Panda's modified-DH kinematics
 * built from primitive geoms, FER joint limits, position actuators, a
 * parallel two-finger gripper (one actuator, equality-coupled fingers), a
 * table, a free cube, a movable target bin (mocap), a fixed 'front' camera
 * and a 'wrist' camera on the hand. Generated from PANDA_DH so the XML and
 * the TypeScript FK cannot drift apart.
 */
import { fmt, lookAtXyaxes, axisAngleQuat } from './xml';
import { FER_JOINT_LIMITS, HAND_YAW_rad, PANDA_DH, PANDA_HOME_rad, TCP_OFFSET_m } from './panda-kinematics';

export const ARM_JOINTS = FER_JOINT_LIMITS.map((l) => l.name);
export const ARM_FINGER_JOINTS = ['finger_left', 'finger_right'] as const;
/** Gripper opening per finger (m) at the actuator's ends. */
export const GRIPPER_OPEN_m = 0.04;
export const GRIPPER_CLOSED_m = 0;
export const CUBE_HALF_m = 0.02;
export const BIN_HALF_m = 0.07;
export const BIN_WALL_HEIGHT_m = 0.06;
export const ARM_CAMERAS = ['front', 'wrist'] as const;

/** Position gains (N·m/rad) and damping (N·m·s/rad) per joint, shaped like the Panda's own controller. */
const KP = [4500, 4500, 3500, 3500, 2000, 2000, 2000];
const KV = [450, 450, 350, 350, 200, 200, 200];

function linkOffset(i: number): [number, number, number] {
  // Position of body i+1's origin in body i's frame (0-based link index).
  if (i === 6) return [0, 0, PANDA_DH.flange_m];
  const a = PANDA_DH.a_m[i + 1], d = PANDA_DH.d_m[i + 1], al = PANDA_DH.alpha_rad[i + 1];
  return [a, -d * Math.sin(al), d * Math.cos(al)];
}

function linkBody(i: number, inner: string): string {
  const a = PANDA_DH.a_m[i], d = PANDA_DH.d_m[i], al = PANDA_DH.alpha_rad[i];
  const pos = i === 0 ? [0, 0, d] : [a, -d * Math.sin(al), d * Math.cos(al)];
  const quat = axisAngleQuat([1, 0, 0], al);
  const lim = FER_JOINT_LIMITS[i];
  const radius = i < 4 ? 0.06 : 0.05;
  const rgba = i % 2 === 0 ? '0.92 0.92 0.92 1' : '0.25 0.25 0.28 1';
  const off = linkOffset(i);
  const len = Math.hypot(...off);
  const segment =
    len > 1e-6 && i < 6
      ? `<geom type="capsule" fromto="0 0 0 ${fmt(...off)}" size="${fmt(radius * 0.85)}" rgba="${rgba}" class="arm"/>`
      : '';
  return `
<body name="link${i + 1}" pos="${fmt(...pos)}" quat="${fmt(...quat)}" gravcomp="1">
  <joint name="${lim.name}" type="hinge" axis="0 0 1" range="${fmt(lim.lower_rad, lim.upper_rad)}" actuatorfrcrange="${fmt(-lim.effort_Nm, lim.effort_Nm)}"/>
  <geom type="cylinder" fromto="0 0 ${fmt(-radius)} 0 0 ${fmt(radius)}" size="${fmt(radius)}" rgba="${rgba}" class="arm"/>
  ${segment}
  ${inner}
</body>`;
}

function hand(): string {
  const q = axisAngleQuat([0, 0, 1], HAND_YAW_rad);
  return `
<body name="hand" pos="0 0 ${fmt(PANDA_DH.flange_m)}" quat="${fmt(...q)}" gravcomp="1">
  <geom type="cylinder" fromto="0 0 0 0 0 0.01" size="0.045" rgba="0.25 0.25 0.28 1" class="arm"/>
  <geom type="box" pos="0 0 0.035" size="0.022 0.1 0.025" rgba="0.92 0.92 0.92 1" class="arm"/>
  <site name="tcp" pos="0 0 ${fmt(TCP_OFFSET_m)}" size="0.005" rgba="1 0 0 0"/>
  <camera name="wrist" pos="0.06 0 0.03" xyaxes="0 1 0 1 0 0" fovy="75"/>
  <body name="finger_left" pos="0 0 0.06" gravcomp="1">
    <joint name="finger_left" type="slide" axis="0 1 0" range="0 ${fmt(GRIPPER_OPEN_m)}" armature="0.01" damping="2"/>
    <geom type="box" pos="0 0.008 0.025" size="0.018 0.008 0.025" rgba="0.25 0.25 0.28 1" class="finger"/>
  </body>
  <body name="finger_right" pos="0 0 0.06" gravcomp="1">
    <joint name="finger_right" type="slide" axis="0 -1 0" range="0 ${fmt(GRIPPER_OPEN_m)}" armature="0.01" damping="2"/>
    <geom type="box" pos="0 -0.008 0.025" size="0.018 0.008 0.025" rgba="0.25 0.25 0.28 1" class="finger"/>
  </body>
</body>`;
}

function bin(): string {
  const h = BIN_HALF_m, t = 0.005, wh = BIN_WALL_HEIGHT_m / 2;
  const wall = (x: number, y: number, sx: number, sy: number) =>
    `<geom type="box" pos="${fmt(x, y, wh)}" size="${fmt(sx, sy, wh)}" rgba="0.2 0.45 0.85 1" class="world"/>`;
  return `
<body name="bin" mocap="true" pos="0.45 0.3 0">
  <geom type="box" pos="0 0 ${fmt(t)}" size="${fmt(h, h, t)}" rgba="0.2 0.45 0.85 1" class="world"/>
  ${wall(h, 0, t, h)}${wall(-h, 0, t, h)}${wall(0, h, h, t)}${wall(0, -h, h, t)}
  <site name="bin_center" pos="0 0 ${fmt(2 * t)}" size="0.005" rgba="0 0 0 0"/>
</body>`;
}

/** MJCF for the arm scene. */
export function armSceneXml(): string {
  let chain = hand();
  for (let i = 6; i >= 0; i--) chain = linkBody(i, chain);
  const actuators = FER_JOINT_LIMITS.map(
    (l, i) =>
      `<position name="act_${l.name}" joint="${l.name}" kp="${KP[i]}" kv="${KV[i]}" ctrlrange="${fmt(l.lower_rad, l.upper_rad)}" forcerange="${fmt(-l.effort_Nm, l.effort_Nm)}"/>`,
  ).join('\n    ');
  const home = [...PANDA_HOME_rad, GRIPPER_OPEN_m, GRIPPER_OPEN_m];
  // Gripper: up to 70 N of squeeze (the Franka Hand's continuous grasp force) and
  // stiff finger contacts; at 30 N with default-soft contacts a held cube slid
  // along the pads when the carry started and fell short of the bin.

  return `<mujoco model="arm">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast" impratio="10"/>
  <visual><headlight ambient="0.35 0.35 0.35" diffuse="0.5 0.5 0.5"/></visual>
  <default>
    <default class="arm"><geom contype="2" conaffinity="1" density="800"/><joint armature="0.1" damping="1"/></default>
    <default class="finger"><geom contype="2" conaffinity="1" friction="1.5 0.01 0.001" condim="4" solref="0.005 1" density="800"/></default>
    <default class="world"><geom contype="1" conaffinity="3"/></default>
  </default>
  <worldbody>
    <light name="sun" pos="0.4 0 2" dir="0 0 -1" directional="true" diffuse="0.7 0.7 0.7"/>
    <geom name="floor" type="plane" pos="0 0 -0.75" size="3 3 0.1" rgba="0.55 0.55 0.5 1" class="world"/>
    <geom name="table" type="box" pos="0.45 0 -0.025" size="0.55 0.6 0.025" rgba="0.62 0.48 0.34 1" class="world"/>
    <camera name="front" pos="1.5 0 0.75" xyaxes="${lookAtXyaxes([1.5, 0, 0.75], [0.3, 0, 0.25])}" fovy="50"/>
    <geom type="cylinder" fromto="0 0 0 0 0 ${fmt(PANDA_DH.d_m[0] - 0.06)}" size="0.06" rgba="0.92 0.92 0.92 1" class="arm"/>
    ${chain}
    <body name="cube" pos="0.5 0 ${fmt(CUBE_HALF_m)}">
      <freejoint name="cube"/>
      <geom name="cube" type="box" size="${fmt(CUBE_HALF_m, CUBE_HALF_m, CUBE_HALF_m)}" mass="0.05" rgba="0.85 0.15 0.15 1" friction="1.5 0.01 0.001" condim="4" class="world"/>
    </body>
    ${bin()}
  </worldbody>
  <equality>
    <joint name="finger_coupling" joint1="finger_left" joint2="finger_right" polycoef="0 1 0 0 0" solref="0.005 1"/>
  </equality>
  <tendon>
    <fixed name="gripper_split">
      <joint joint="finger_left" coef="0.5"/>
      <joint joint="finger_right" coef="0.5"/>
    </fixed>
  </tendon>
  <actuator>
    ${actuators}
    <position name="act_gripper" tendon="gripper_split" kp="3000" kv="60" ctrlrange="${fmt(GRIPPER_CLOSED_m, GRIPPER_OPEN_m)}" forcerange="-70 70"/>
  </actuator>
  <keyframe>
    <key name="home" qpos="${fmt(...home, 0.5, 0, CUBE_HALF_m, 1, 0, 0, 0)}" ctrl="${fmt(...PANDA_HOME_rad, GRIPPER_OPEN_m)}" mpos="0.45 0.3 0" mquat="1 0 0 0"/>
  </keyframe>
</mujoco>
`;
}
