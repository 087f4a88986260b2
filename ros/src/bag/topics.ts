// Topic names of bags written by `jepa record` (and looked for by `jepa replay`), as on a ros2_control arm.
export const TOPICS = {
  image: '/camera/image_raw',
  goalImage: '/goal/image_raw',
  jointStates: '/joint_states',
  command: '/joint_trajectory_controller/joint_trajectory',
  status: '/shield/status',
} as const;
