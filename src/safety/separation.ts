/**
 * ISO/TS 15066 speed and separation monitoring, the protective separation
 * distance and the speed it allows:
 *
 *   S_p = S_h + S_r + S_s + C + Z_d + Z_r
 *   S_h = v_h (T_r + T_s)   distance the person covers while the robot reacts and stops, m
 *   S_r = v_r T_r           distance the robot covers while reacting, m
 *   S_s                     robot stopping distance, m: v_r T_s / 2 for constant
 *                           deceleration, or a configured fixed distance
 *   C                       intrusion distance, m
 *   Z_d, Z_r                person / robot position uncertainty, m
 *
 * with v_h the person's speed towards the robot (m/s), v_r the robot's speed
 * towards the person (m/s; bounded here by the speed of its fastest point),
 * T_r the reaction time (s) and T_s the stopping time (s).
 */
import type { SafetyConfig } from './config';

export type SeparationConfig = NonNullable<SafetyConfig['separation']>;

export interface ProtectiveSeparation {
  S_p: number;
  S_h: number;
  S_r: number;
  S_s: number;
  C: number;
  Z_d: number;
  Z_r: number;
}

export function protectiveSeparation(p: SeparationConfig, robotSpeed_mps: number, humanSpeed_mps: number): ProtectiveSeparation {
  const S_h = humanSpeed_mps * (p.reaction_time_s + p.stopping_time_s);
  const S_r = robotSpeed_mps * p.reaction_time_s;
  const S_s = p.stopping_model === 'constant_deceleration' ? (robotSpeed_mps * p.stopping_time_s) / 2 : p.stopping_distance_m;
  const C = p.intrusion_distance_m, Z_d = p.human_position_uncertainty_m, Z_r = p.robot_position_uncertainty_m;
  return { S_p: S_h + S_r + S_s + C + Z_d + Z_r, S_h, S_r, S_s, C, Z_d, Z_r };
}

/**
 * The largest robot speed v_r with S_p(v_r) <= separation (m/s); negative
 * when even a standing robot is too close.
 */
export function maxRobotSpeed(p: SeparationConfig, separation_m: number, humanSpeed_mps: number): number {
  const standstill = protectiveSeparation(p, 0, humanSpeed_mps).S_p;
  const perSpeed = p.reaction_time_s + (p.stopping_model === 'constant_deceleration' ? p.stopping_time_s / 2 : 0);
  if (separation_m < standstill) return -1;
  return perSpeed > 0 ? (separation_m - standstill) / perSpeed : Infinity;
}

/**
 * Linear slow-down between S_p at standstill (factor 0) and the configured
 * slow-down distance (factor 1).
 */
export function slowDownFactor(p: SeparationConfig, separation_m: number, humanSpeed_mps: number): number {
  const standstill = protectiveSeparation(p, 0, humanSpeed_mps).S_p;
  if (p.slow_down_distance_m <= standstill) return separation_m > standstill ? 1 : 0;
  return Math.min(1, Math.max(0, (separation_m - standstill) / (p.slow_down_distance_m - standstill)));
}
