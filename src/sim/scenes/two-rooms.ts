/**
 * The `two-rooms` scene: a point mass (two slide joints, velocity actuated)
 * in a square arena split by a wall at x = 0 with one door gap. A top-down
 * camera 'top' sees both rooms.
 */
import { fmt } from './xml';

export const TWO_ROOMS_HALF_m = 0.5;
export const TWO_ROOMS_DOOR_HALF_m = 0.09;
/** Door centre on the dividing wall (y, m). */
export const TWO_ROOMS_DOOR_Y_m = 0;
export const TWO_ROOMS_WALL_HALF_THICKNESS_m = 0.02;
export const TWO_ROOMS_AGENT_RADIUS_m = 0.04;
export const TWO_ROOMS_MAX_SPEED_mps = 0.4;
export const TWO_ROOMS_CAMERAS = ['top'] as const;

export function twoRoomsSceneXml(): string {
  const H = TWO_ROOMS_HALF_m, t = TWO_ROOMS_WALL_HALF_THICKNESS_m, door = TWO_ROOMS_DOOR_HALF_m, dy = TWO_ROOMS_DOOR_Y_m;
  const box = (name: string, x: number, y: number, sx: number, sy: number) =>
    `<geom name="${name}" type="box" pos="${fmt(x, y, 0.04)}" size="${fmt(sx, sy, 0.04)}" rgba="0.25 0.25 0.3 1"/>`;
  const lowerLen = (dy - door + H) / 2; // wall piece from -H to dy-door
  const upperLen = (H - (dy + door)) / 2;
  return `<mujoco model="two-rooms">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" integrator="implicitfast"/>
  <visual><headlight ambient="0.4 0.4 0.4" diffuse="0.6 0.6 0.6"/></visual>
  <worldbody>
    <light pos="0 0 2" dir="0 0 -1" directional="true"/>
    <geom name="floor" type="plane" size="${fmt(H + 0.1, H + 0.1, 0.1)}" rgba="0.9 0.88 0.8 1" contype="0" conaffinity="0"/>
    ${box('wall_n', 0, H + t, H + 2 * t, t)}${box('wall_s', 0, -H - t, H + 2 * t, t)}${box('wall_e', H + t, 0, t, H)}${box('wall_w', -H - t, 0, t, H)}
    ${box('divider_low', 0, -H + lowerLen, t, lowerLen)}${box('divider_high', 0, H - upperLen, t, upperLen)}
    <camera name="top" pos="0 0 1.6" xyaxes="1 0 0 0 1 0" fovy="38"/>
    <body name="agent" pos="0 0 0.04">
      <joint name="agent_x" type="slide" axis="1 0 0" damping="0.5"/>
      <joint name="agent_y" type="slide" axis="0 1 0" damping="0.5"/>
      <geom name="agent" type="sphere" size="${fmt(TWO_ROOMS_AGENT_RADIUS_m)}" rgba="0.85 0.2 0.2 1" mass="0.5"/>
    </body>
  </worldbody>
  <actuator>
    <velocity name="act_vx" joint="agent_x" kv="20" ctrlrange="${fmt(-TWO_ROOMS_MAX_SPEED_mps, TWO_ROOMS_MAX_SPEED_mps)}" forcerange="-20 20"/>
    <velocity name="act_vy" joint="agent_y" kv="20" ctrlrange="${fmt(-TWO_ROOMS_MAX_SPEED_mps, TWO_ROOMS_MAX_SPEED_mps)}" forcerange="-20 20"/>
  </actuator>
</mujoco>
`;
}
