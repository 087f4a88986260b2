/**
 * Reason codes of shield decisions, in the ecosystem's words: MoveIt Servo's
 * status names where one exists (HALT_FOR_COLLISION, DECELERATE_FOR_COLLISION,
 * JOINT_BOUND), and names in the same style for the rest.
 */
export const SHIELD_STATUS = [
  'JOINT_BOUND',
  'JOINT_VELOCITY_LIMIT',
  'JOINT_ACCELERATION_LIMIT',
  'JOINT_JERK_LIMIT',
  'TOOL_SPEED',
  'EFFORT_LIMIT',
  'WORKSPACE_BOUND',
  'HALT_FOR_COLLISION',
  'DECELERATE_FOR_COLLISION',
  'DECELERATE_FOR_APPROACHING_PERSON',
  'HALT_FOR_PERSON',
  'WATCHDOG_TIMEOUT',
  'NON_FINITE_INPUT',
  'ESTOP_LATCHED',
  'INVALID_COMMAND',
  'UNVERIFIABLE_COMMAND',
] as const;

export type ShieldStatus = (typeof SHIELD_STATUS)[number];
