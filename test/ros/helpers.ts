// Registries over the real ROS 2 interface definitions in ../shared/data/ros2_msgs.
import { MessageRegistry } from '../../ros/src/msgs/registry';

export const MSGS = '../shared/data/ros2_msgs';

/** control_msgs from master (FollowJointTrajectory feedback with the extra int32 fields). */
export function masterRegistry(): MessageRegistry {
  return MessageRegistry.fromDirectories([
    `${MSGS}/common_interfaces`,
    `${MSGS}/rcl_interfaces`,
    `${MSGS}/unique_identifier_msgs`,
    `${MSGS}/control_msgs`,
  ]);
}

/** The same set with FollowJointTrajectory from the humble branch (as on Humble and Jazzy). */
export function humbleRegistry(): MessageRegistry {
  const reg = masterRegistry();
  reg.addFile(`${MSGS}/control_msgs_humble/FollowJointTrajectory.action`, 'control_msgs/action/FollowJointTrajectory');
  return reg;
}
