/**
 * Public surface of the robot model: URDF and joint-limits parsing,
 * kinematics (FK, Jacobian, IK), collision capsules and distance queries.
 * The Arm interface every backend implements lives in ./arm.
 */
export { loadUrdf, parseUrdf, type UrdfRobot, type UrdfJoint, type UrdfLink, type JointType, type CollisionGeometry } from './urdf';
export { loadJointLimitsYaml, parseJointLimitsYaml, mergeJointLimits, urdfJointLimits, type JointLimits, type JointLimitsFormat, type ParsedJointLimits } from './jointLimits';
export { KinematicModel, type KinematicModelOptions, type IkOptions, type IkResult } from './kinematics';
export { buildLinkCapsules, capsuleEndpointsInto, type LinkCapsule, type CapsuleOptions } from './capsules';
export * as geometry from './geometry';
export * as rigid from './math';
export { RobotDescriptionError, JointLimitsFileError, KinematicsError } from './errors';
export type { Arm, Observation, AppliedAction, CameraImage } from './arm';
