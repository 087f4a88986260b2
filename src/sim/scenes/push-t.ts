/**
 * The `push-t` scene: a planar pusher (two slide joints, position actuated)
 * and a T-shaped block (two boxes in one body; slide x, slide y, hinge z) on
 * a walled plane. The block does not rest on the plane (its height is held by
 * the joint structure), so floor friction is modelled as joint friction loss
 * on its three planar joints. A top-down camera 'top' sees the whole arena.
 */
import { fmt } from './xml';

/** Half-width of the square arena (m); the pusher's ctrlrange stays inside it. */
export const PUSHT_ARENA_HALF_m = 0.25;
export const PUSHT_PUSHER_RADIUS_m = 0.015;
/** Farthest the pusher centre can be commanded from the arena centre along x or y (the actuators' ctrlrange). */
export const PUSHT_PUSHER_REACH_m = PUSHT_ARENA_HALF_m - PUSHT_PUSHER_RADIUS_m - 0.005;
/** The pusher actuators' force limit (forcerange), N. */
export const PUSHT_PUSHER_FORCE_N = 40;
/** T geometry in the block frame: bar on top (+y), stem below. */
export const PUSHT_BAR = { pos: [0, 0.045], half: [0.06, 0.015] } as const;
export const PUSHT_STEM = { pos: [0, -0.015], half: [0.015, 0.045] } as const;
export const PUSHT_CAMERAS = ['top'] as const;

export function pushTSceneXml(): string {
  const A = PUSHT_ARENA_HALF_m;
  const wall = (name: string, x: number, y: number, sx: number, sy: number) =>
    `<geom name="${name}" type="box" pos="${fmt(x, y, 0.02)}" size="${fmt(sx, sy, 0.02)}" rgba="0.3 0.3 0.3 1"/>`;
  const w = 0.01;
  const reach = PUSHT_PUSHER_REACH_m;
  const F = PUSHT_PUSHER_FORCE_N;
  return `<mujoco model="push-t">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast"/>
  <visual><headlight ambient="0.4 0.4 0.4" diffuse="0.6 0.6 0.6"/></visual>
  <worldbody>
    <light pos="0 0 1.5" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="${fmt(A + 0.1, A + 0.1, 0.1)}" rgba="0.93 0.93 0.9 1" contype="0" conaffinity="0"/>
    ${wall('wall_n', 0, A + w, A + 2 * w, w)}${wall('wall_s', 0, -A - w, A + 2 * w, w)}${wall('wall_e', A + w, 0, w, A)}${wall('wall_w', -A - w, 0, w, A)}
    <camera name="top" pos="0 0 0.85" xyaxes="1 0 0 0 1 0" fovy="38"/>
    <body name="tblock" pos="0 0 0.02">
      <joint name="block_x" type="slide" axis="1 0 0" frictionloss="0.6" damping="2"/>
      <joint name="block_y" type="slide" axis="0 1 0" frictionloss="0.6" damping="2"/>
      <joint name="block_yaw" type="hinge" axis="0 0 1" frictionloss="0.02" damping="0.05"/>
      <geom name="t_bar" type="box" pos="${fmt(PUSHT_BAR.pos[0], PUSHT_BAR.pos[1], 0)}" size="${fmt(PUSHT_BAR.half[0], PUSHT_BAR.half[1], 0.02)}" rgba="0.45 0.55 0.75 1" mass="0.15"/>
      <geom name="t_stem" type="box" pos="${fmt(PUSHT_STEM.pos[0], PUSHT_STEM.pos[1], 0)}" size="${fmt(PUSHT_STEM.half[0], PUSHT_STEM.half[1], 0.02)}" rgba="0.45 0.55 0.75 1" mass="0.15"/>
    </body>
    <body name="pusher" pos="0 0 0.02">
      <joint name="pusher_x" type="slide" axis="1 0 0" damping="5"/>
      <joint name="pusher_y" type="slide" axis="0 1 0" damping="5"/>
      <geom name="pusher" type="cylinder" size="${fmt(PUSHT_PUSHER_RADIUS_m, 0.025)}" rgba="0.9 0.3 0.2 1" mass="0.2"/>
    </body>
  </worldbody>
  <actuator>
    <position name="act_x" joint="pusher_x" kp="400" kv="40" ctrlrange="${fmt(-reach, reach)}" forcerange="${fmt(-F, F)}"/>
    <position name="act_y" joint="pusher_y" kp="400" kv="40" ctrlrange="${fmt(-reach, reach)}" forcerange="${fmt(-F, F)}"/>
  </actuator>
</mujoco>
`;
}
