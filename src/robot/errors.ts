/**
 * Error classes of the robot model: each message names the file, the element
 * or field that was wrong, what was found, and what to do about it.
 */

export class RobotDescriptionError extends Error {
  override name = 'RobotDescriptionError';
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
    hint = 'fix the robot description and load it again',
  ) {
    super(`${file}: ${field}: ${problem} (${hint})`);
  }
}

export class JointLimitsFileError extends Error {
  override name = 'JointLimitsFileError';
  constructor(
    readonly file: string,
    readonly field: string,
    problem: string,
    hint = 'fix the joint limits YAML file',
  ) {
    super(`${file}: ${field}: ${problem} (${hint})`);
  }
}

export class KinematicsError extends Error {
  override name = 'KinematicsError';
}
