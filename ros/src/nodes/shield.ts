/**
 * The shield node: the only node that commands the arm. Trajectories from the
 * planner (`command_topic`) are checked by the Shield (src/safety) against
 * guardrails frozen at start and sent on to ros2_control's
 * JointTrajectoryController — as trajectory_msgs/JointTrajectory on
 * `/<controller_name>/joint_trajectory` (command_interface 'topic') or as
 * control_msgs/action/FollowJointTrajectory goals on
 * `/<controller_name>/follow_joint_trajectory` ('action'). On a halt the arm
 * is told to hold: a one-point trajectory to the last measured position,
 * reached in `hold_time_s`, on the topic (the controller replaces whatever it
 * was executing; it ignores empty trajectories), or a cancel of the active
 * goal (the controller holds position on cancel). Every decision, and every
 * change of the watchdog state, is published on `~/status` (std_msgs/String,
 * JSON: verdict, reasons in MoveIt Servo / ros2_control words, detail).
 *
 * Watchdogs: joint state, perception and command age (MoveIt Servo's
 * `incoming_command_timeout`) are the Shield's own, ticked every
 * `tick_period_s`; the camera (`camera_timeout_s` since the last frame on
 * `camera_topic`) is checked here, before a command reaches the Shield.
 *
 * Parameters may only tighten the safety file: `incoming_command_timeout`
 * and `joint_limits.<joint>.max_velocity|max_acceleration|max_jerk` below the
 * compiled guardrails are applied (the guardrails are recompiled once, then
 * frozen); a looser value is refused at start. All are read-only afterwards.
 * Never imports the planner.
 */
import { z } from 'zod';
import { compileGuardrails, type Guardrails } from '../../../src/safety/guardrails';
import { Shield, type ShieldCommand, type ShieldDecision } from '../../../src/safety/shield';
import type { ShieldStatus } from '../../../src/safety/status';
import type { SafetyConfig } from '../../../src/safety/config';
import { type ActionClient, type ClientGoalHandle, type Publisher, QOS, type TransportNode, timeToSeconds } from '../transport/types';
import {
  type JointStateMsg,
  type JointTrajectoryMsg,
  NodeConfigError,
  type StringMsg,
  declareParameters,
  durationToSeconds,
  jointTrajectory,
  nodeLogger,
  param,
  pickJoints,
  topicName,
} from './common';

export const FOLLOW_JOINT_TRAJECTORY = 'control_msgs/action/FollowJointTrajectory';

export const SHIELD_PARAMS = {
  command_interface: param(z.enum(['topic', 'action']), 'topic', "how the arm is commanded: 'topic' (<controller>/joint_trajectory) or 'action' (<controller>/follow_joint_trajectory)", true),
  controller_name: param(z.string().regex(/^[A-Za-z_][\w/]*$/), 'joint_trajectory_controller', 'name of the ros2_control JointTrajectoryController', true),
  command_topic: param(topicName, '/planner/trajectory', 'trajectory_msgs/msg/JointTrajectory commands to check (from the planner)', true),
  joint_states_topic: param(topicName, '/joint_states', 'sensor_msgs/msg/JointState (joint_state_broadcaster)', true),
  camera_topic: param(z.union([topicName, z.literal('')]), '/camera/image_raw', "sensor_msgs/msg/Image whose age is watched ('' = no camera watchdog)", true),
  camera_timeout_s: param(z.number().positive().finite(), 0.5, 'commands are refused (WATCHDOG_TIMEOUT) when the newest camera frame is older than this, s', true),
  tick_period_s: param(z.number().positive().finite(), 0.01, 'period of the watchdog tick, s (at least the safety file control_period_s)', true),
  hold_time_s: param(z.number().positive().finite(), 0.05, 'time_from_start of the hold point sent on a halt (topic interface), s', true),
  assume_no_persons: param(
    z.boolean(),
    false,
    'simulation and offline replay only: report "no person, zones where configured" with every joint state, for safety files with separation monitoring or moving zones (this node has no person tracker input)',
    true,
  ),
};

/** The status message body (JSON in std_msgs/String). */
export interface ShieldStatusReport {
  verdict: ShieldDecision['verdict'];
  reasons: ShieldStatus[];
  detail: string;
  time_s: number;
  source: ShieldDecision['source'] | 'camera';
  timeScale: number;
}

export interface ShieldStages {
  /** Compiled from the robot description and the safety file; parameters may tighten it. */
  guardrails: Guardrails;
  log?: (line: string) => void;
  /** Start the watchdog timer (default true; offline replays tick by hand). */
  timer?: boolean;
}

export interface ShieldNodeStats {
  commands: number;
  forwarded: number;
  /** Command decisions by verdict and by reason ('OK' for none). */
  byVerdict: Record<string, number>;
  byReason: Record<string, number>;
  /** Watchdog state changes seen by tick(), by reason. */
  watchdog: Record<string, number>;
}

type LimitField = 'max_velocity' | 'max_acceleration' | 'max_jerk';
const LIMIT_FIELDS: readonly LimitField[] = ['max_velocity', 'max_acceleration', 'max_jerk'];

/** Applies parameter overrides that tighten the guardrails; refuses looser ones. */
export function tightenGuardrails(node: TransportNode, g: Guardrails): Guardrails {
  const positive = z.number().positive().finite();
  const w = g.config.watchdog;
  const overrides: Record<string, ReturnType<typeof param<number>>> = {
    incoming_command_timeout: param(positive, w.incoming_command_timeout_s, `MoveIt Servo's incoming_command_timeout, s; may only be below the safety file's ${w.incoming_command_timeout_s}`, true),
  };
  const compiled: Record<LimitField, readonly number[]> = { max_velocity: g.maxVelocity, max_acceleration: g.maxAcceleration, max_jerk: g.maxJerk };
  g.jointNames.forEach((joint, i) => {
    for (const f of LIMIT_FIELDS) {
      overrides[`joint_limits.${joint}.${f}`] = param(positive, compiled[f][i]!, `ros2_control joint limit ${f} of ${joint}; may only be below the compiled ${compiled[f][i]}`, true);
    }
  });
  const values = declareParameters(node, overrides);
  let changed = false;
  const looser: string[] = [];
  const timeout = values.incoming_command_timeout!;
  if (timeout > w.incoming_command_timeout_s) looser.push(`incoming_command_timeout ${timeout} > ${w.incoming_command_timeout_s}`);
  const jointLimits: SafetyConfig['joint_limits'] = {};
  g.jointNames.forEach((joint, i) => {
    const own = { ...(g.config.joint_limits[joint] ?? {}) };
    for (const f of LIMIT_FIELDS) {
      const v = values[`joint_limits.${joint}.${f}`]!;
      if (v > compiled[f][i]!) looser.push(`joint_limits.${joint}.${f} ${v} > ${compiled[f][i]}`);
      if (v < compiled[f][i]!) changed = true;
      own[f] = Math.min(v, compiled[f][i]!);
    }
    jointLimits[joint] = own;
  });
  if (looser.length) {
    throw new NodeConfigError(`node ${node.name}: parameters may only tighten the guardrails of ${g.safetySource}; looser: ${looser.join('; ')}`);
  }
  if (timeout < w.incoming_command_timeout_s) changed = true;
  if (!changed) return g;
  const config: SafetyConfig = {
    ...structuredClone(g.config) as SafetyConfig,
    joint_limits: jointLimits,
    watchdog: { ...w, incoming_command_timeout_s: timeout },
  };
  // Joint-limit files are folded into jointLimits above, so none are passed again.
  return compileGuardrails(structuredClone(g.robot), [], config, `${g.safetySource} + parameters of ${node.name}`);
}

export class ShieldNode {
  readonly params: ReturnType<typeof declareParameters<typeof SHIELD_PARAMS>>;
  readonly shield: Shield;
  readonly stats: ShieldNodeStats = { commands: 0, forwarded: 0, byVerdict: {}, byReason: {}, watchdog: {} };
  readonly #node: TransportNode;
  readonly #log: (line: string) => void;
  readonly #statusPub: Publisher<StringMsg>;
  readonly #trajectoryPub: Publisher<JointTrajectoryMsg> | undefined;
  readonly #client: ActionClient<{ trajectory: JointTrajectoryMsg }, unknown, { error_code: number; error_string: string }> | undefined;
  readonly #jointNames: readonly string[];
  readonly #assumeNoPersons: boolean;
  #measured: Float64Array | undefined;
  #warnedVelocity = false;
  #activeGoal: ClientGoalHandle<unknown> | undefined;
  #lastCamera_s = -Infinity;
  #lastTickKey = '';
  #timer: ReturnType<typeof setInterval> | undefined;
  #listeners: ((r: ShieldStatusReport, sent: JointTrajectoryMsg | null) => void)[] = [];

  constructor(node: TransportNode, stages: ShieldStages) {
    this.#node = node;
    this.#log = stages.log ?? nodeLogger(node);
    this.params = declareParameters(node, SHIELD_PARAMS);
    const guardrails = tightenGuardrails(node, stages.guardrails);
    this.shield = new Shield(guardrails, { clock: () => timeToSeconds(node.now()), logCapacity: 200 });
    this.#jointNames = guardrails.jointNames;
    const p = this.params;
    const needsPerception = guardrails.config.separation !== undefined || guardrails.config.keep_out.some((z) => z.moving);
    if (needsPerception && !p.assume_no_persons) {
      throw new NodeConfigError(
        `node ${node.name}: ${guardrails.safetySource} configures separation monitoring or moving keep-out zones, which need tracked persons/zones, ` +
          'but this node has no person tracker input; remove them from the safety file, or set assume_no_persons in simulation or offline replay',
      );
    }
    this.#assumeNoPersons = needsPerception && p.assume_no_persons;
    if (p.tick_period_s < guardrails.config.watchdog.control_period_s) {
      throw new NodeConfigError(`node ${node.name}: tick_period_s ${p.tick_period_s} is below the safety file's control_period_s ${guardrails.config.watchdog.control_period_s}`);
    }
    this.#statusPub = node.createPublisher('std_msgs/msg/String', '~/status', QOS.default);
    if (p.command_interface === 'topic') {
      this.#trajectoryPub = node.createPublisher('trajectory_msgs/msg/JointTrajectory', `/${p.controller_name}/joint_trajectory`, QOS.default);
    } else {
      this.#client = node.createActionClient(FOLLOW_JOINT_TRAJECTORY, `/${p.controller_name}/follow_joint_trajectory`);
    }
    node.createSubscription<JointStateMsg>('sensor_msgs/msg/JointState', p.joint_states_topic, (m) => this.#onJointState(m), QOS.sensorData);
    if (p.camera_topic) {
      // Raw: only the arrival time matters here, the frame is never decoded.
      node.createRawSubscription('sensor_msgs/msg/Image', p.camera_topic, () => (this.#lastCamera_s = this.#now()), QOS.sensorData);
    }
    node.createSubscription<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory', p.command_topic, (m) => void this.handleCommand(m), QOS.default);
    if (stages.timer ?? true) {
      this.#timer = setInterval(() => this.tick(), p.tick_period_s * 1000);
      this.#timer.unref?.();
    }
  }

  get jointNames(): readonly string[] {
    return this.#jointNames;
  }

  /** Called with every published status and what was sent to the controller (the command or the hold point; null: a cancel or nothing). */
  onStatus(listener: (r: ShieldStatusReport, sent: JointTrajectoryMsg | null) => void): void {
    this.#listeners.push(listener);
  }

  #now(): number {
    return timeToSeconds(this.#node.now());
  }

  #onJointState(m: JointStateMsg): void {
    const picked = pickJoints(m, this.#jointNames);
    if (!picked) return; // another robot's joints, or a partial message: the watchdog will notice if ours stop
    if (!picked.velocity) {
      // Without measured velocities acceleration limits cannot be checked: the state counts as missing.
      if (!this.#warnedVelocity) this.#log(`joint states on ${this.params.joint_states_topic} carry no velocities; they are ignored, so the watchdog will halt`);
      this.#warnedVelocity = true;
      return;
    }
    const now = this.#now();
    this.#measured = picked.position;
    this.shield.updateJointState({ positions: picked.position, velocities: picked.velocity, efforts: picked.effort, stamp_s: now });
    if (this.#assumeNoPersons) this.shield.updatePerception({ stamp_s: now, persons: [] });
  }

  #cameraStale(now: number): string | null {
    if (!this.params.camera_topic) return null;
    const age = now - this.#lastCamera_s;
    if (age <= this.params.camera_timeout_s) return null;
    return Number.isFinite(age) ? `camera frame on ${this.params.camera_topic} is ${age.toFixed(3)} s old (camera_timeout_s ${this.params.camera_timeout_s})` : `no camera frame on ${this.params.camera_topic} yet`;
  }

  /** Checks one command and forwards, or holds. Returns the published status. */
  async handleCommand(m: JointTrajectoryMsg): Promise<ShieldStatusReport> {
    this.stats.commands++;
    const now = this.#now();
    const camera = this.#cameraStale(now);
    if (camera) {
      const report: ShieldStatusReport = { verdict: 'halt', reasons: ['WATCHDOG_TIMEOUT'], detail: camera, time_s: now, source: 'camera', timeScale: 1 };
      this.#publish(report, await this.#hold());
      return report;
    }
    const stamp = timeToSeconds(m.header.stamp);
    const command: ShieldCommand = {
      kind: 'trajectory',
      joint_names: m.joint_names,
      points: m.points.map((p) => ({ positions: Array.from(p.positions), time_from_start_s: durationToSeconds(p.time_from_start) })),
      stamp_s: stamp > 0 ? stamp : now,
    };
    const d = this.shield.check(command);
    const report = this.#report(d);
    if (d.verdict === 'halt' || !d.trajectory) {
      this.#publish(report, await this.#hold(d.hold));
      return report;
    }
    const out = jointTrajectory(d.trajectory.joint_names, d.trajectory.points);
    await this.#send(out);
    this.stats.forwarded++;
    this.#publish(report, out);
    return report;
  }

  /** One watchdog period: publishes a status (and holds) when the watchdog state changes. */
  tick(): ShieldStatusReport {
    const d = this.shield.tick();
    const report = this.#report(d);
    const key = `${d.verdict}:${d.reasons.join(',')}`;
    if (key !== this.#lastTickKey) {
      this.#lastTickKey = key;
      if (d.verdict === 'halt') void this.#hold(d.hold).then((sent) => this.#publish(report, sent));
      else this.#publish(report, null);
    }
    return report;
  }

  #report(d: ShieldDecision): ShieldStatusReport {
    return { verdict: d.verdict, reasons: [...d.reasons], detail: d.detail, time_s: d.time_s, source: d.source, timeScale: d.timeScale };
  }

  async #send(traj: JointTrajectoryMsg): Promise<void> {
    if (this.#trajectoryPub) {
      this.#trajectoryPub.publish(traj);
      return;
    }
    const client = this.#client!;
    const goal = await client.sendGoal({ trajectory: traj });
    if (!goal.accepted) this.#log(`${client.name} rejected a trajectory goal`);
    else this.#activeGoal = goal;
  }

  /** What a halt sends on the topic interface: one point at the measured position, or null when none is known yet. */
  #holdTrajectory(at: readonly number[] | null | undefined): JointTrajectoryMsg | null {
    const q = at ?? (this.#measured ? Array.from(this.#measured) : null);
    if (!q) return null;
    return jointTrajectory(this.#jointNames, [{ positions: q, time_from_start_s: this.params.hold_time_s }]);
  }

  async #hold(at?: readonly number[] | null): Promise<JointTrajectoryMsg | null> {
    if (this.#trajectoryPub) {
      const hold = this.#holdTrajectory(at);
      if (hold) this.#trajectoryPub.publish(hold);
      return hold;
    }
    const goal = this.#activeGoal;
    this.#activeGoal = undefined;
    if (goal) await goal.cancel().catch((e: unknown) => this.#log(`cancel of the active trajectory goal failed: ${(e as Error).message}`));
    return null;
  }

  #publish(r: ShieldStatusReport, sent: JointTrajectoryMsg | null): void {
    const count = (table: Record<string, number>, key: string) => (table[key] = (table[key] ?? 0) + 1);
    if (r.source === 'tick') {
      for (const reason of r.reasons.length ? r.reasons : ['OK']) count(this.stats.watchdog, reason);
    } else {
      count(this.stats.byVerdict, r.verdict);
      for (const reason of r.reasons.length ? r.reasons : ['OK']) count(this.stats.byReason, reason);
    }
    this.#statusPub.publish({ data: JSON.stringify(r) });
    for (const l of this.#listeners) l(r, sent);
  }

  destroy(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
