/**
 * `jepa run --robot ros|mcap`: one episode of a task through the control loop
 * on an arm other than the embedded simulator — a RosArm on a live ROS 2
 * graph (rclnodejs, loaded only here, with a clear error when ROS 2 or
 * rclnodejs is missing) or a McapReplayArm over a recorded bag — using the
 * task's adapter, guardrails and planner (src/runtime/embedded.ts
 * createArmRun). The goal is joint positions (--goal-joints; a replay
 * defaults to the bag's last joint state) since no simulator renders one.
 */
import { z } from 'zod';
import type { WorldModel } from '../../addon/types';
import type { WorldMemory } from '../../memory/world-memory';
import type { Arm } from '../../robot/arm';
import { JOINT_TARGET_TASKS, createArmRun } from '../../runtime/embedded';
import { ControlLoop, type EpisodeResult } from '../../runtime/loop';
import { TASKS } from '../../sim/tasks/index';
import type { TaskName } from '../../sim/tasks/types';
import type { CommandContext } from '../command';

/** Physics step of the embedded scenes (<option timestep>): the task models step frameskip × this. */
const SCENE_TIMESTEP_s = 0.002;

export class RunBackendError extends Error {
  override name = 'RunBackendError';
}

/** `--goal-joints 0.1,0.2,...`: comma-separated finite numbers. */
export const GoalJoints = z
  .string()
  .transform((s) => s.split(',').map((v) => v.trim()))
  .pipe(
    z
      .array(z.string().regex(/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, '--goal-joints must be comma-separated numbers (radians, metres for a gripper), e.g. 0.1,-0.5,0,-2.1,0,1.6,0.8,0.02'))
      .min(1)
      .transform((a) => a.map(Number)),
  );

export interface BackendRunOptions {
  task: TaskName;
  robot: 'ros' | 'mcap';
  bag?: string;
  goalJoints?: number[];
  jointPrefix: string;
  episodes: number;
  seed: number;
  json: boolean;
  samples: number;
  horizon: number;
  maxIterations: number;
  planTime_ms: number;
  memory?: WorldMemory;
}

/** The bag's last joint state on `topic`, in `names` order. */
async function lastJointState(bag: string, topic: string, names: readonly string[]): Promise<number[]> {
  const { BagReader } = await import('../../../ros/src/bag/mcap');
  const { pickJointState } = await import('../../../ros/src/arm/joints');
  const reader = await BagReader.open(bag);
  try {
    let last: Parameters<typeof pickJointState>[0] | undefined;
    for await (const m of reader.messages({ topics: [topic] })) last = m.decode();
    if (!last) throw new RunBackendError(`${bag}: no joint state on ${topic} to take the goal from; give --goal-joints`);
    return Array.from(pickJointState(last, names, `${bag} ${topic}`).positions);
  } finally {
    reader.close();
  }
}

export async function runOnBackend(o: BackendRunOptions, ctx: CommandContext, resolveModel: () => Promise<WorldModel>): Promise<number> {
  if (!(JOINT_TARGET_TASKS as readonly string[]).includes(o.task)) {
    throw new RunBackendError(`--robot ${o.robot} runs tasks whose actions are joint position targets (${JOINT_TARGET_TASKS.join(', ')}); '${o.task}' runs on the simulator only`);
  }
  if (o.episodes !== 1) throw new RunBackendError(`--robot ${o.robot} runs one episode (the arm is not reset between episodes); drop --episodes`);
  if (o.robot === 'mcap' && !o.bag) throw new RunBackendError('--robot mcap needs --bag FILE (an .mcap file or a rosbag2 folder)');
  if (o.robot !== 'mcap' && o.bag) throw new RunBackendError('--bag is for --robot mcap');
  if (o.robot === 'ros' && !o.goalJoints) throw new RunBackendError('--robot ros needs the goal as joint positions: --goal-joints q1,q2,...');
  const spec = TASKS[o.task].spec;
  const names = spec.proprioJoints.map((j) => `${o.jointPrefix}${j}`);
  const period_s = spec.frameskip * SCENE_TIMESTEP_s;

  let arm: Arm & { now(): number };
  let shutdown = async () => {};
  let goal = o.goalJoints;
  if (o.robot === 'ros') {
    // Loaded here only: without ROS 2 this throws RosUnavailableError saying what to source and install.
    const { RclnodejsTransport } = await import('../../../ros/src/transport/rclnodejs');
    const { RosArm } = await import('../../../ros/src/arm/ros-arm');
    const transport = await RclnodejsTransport.create();
    shutdown = () => transport.shutdown();
    try {
      arm = new RosArm(transport, { jointNames: names, controlPeriod_s: period_s, nodeName: 'jepa_run' });
    } catch (e) {
      await shutdown();
      throw e;
    }
  } else {
    const { McapReplayArm } = await import('../../../ros/src/arm/mcap-replay-arm');
    const replay = await McapReplayArm.open({ bag: o.bag!, jointNames: names, controlPeriod_s: period_s });
    arm = replay;
    try {
      goal ??= await lastJointState(o.bag!, '/joint_states', names);
    } catch (e) {
      await replay.close();
      throw e;
    }
  }
  let model: WorldModel | undefined;
  try {
    model = await resolveModel();
    const run = await createArmRun({
      task: o.task, arm, model, jointPrefix: o.jointPrefix, goalJoints: goal!, controlPeriod_s: period_s, clock: () => arm.now(),
      seed: o.seed, samples: o.samples, horizon: o.horizon,
    });
    if (o.memory) run.stages.memory = o.memory;
    const loop = new ControlLoop(run.stages, {
      controlPeriod_s: period_s,
      planBudget: { maxIterations: o.maxIterations, maxTime_ms: o.planTime_ms },
      timing: o.robot === 'ros' ? 'realtime' : 'lockstep',
      maxSteps: o.robot === 'ros' ? run.maxSteps : 1_000_000,
    });
    const r = await loop.runEpisode();
    report(o, r, arm, ctx);
  } finally {
    await arm.close();
    await shutdown();
    model?.dispose();
  }
  return 0;
}

function report(o: BackendRunOptions, r: EpisodeResult, arm: Arm, ctx: CommandContext): void {
  const lat = r.ticks.map((t) => t.latency_ms).sort((a, b) => a - b);
  const summary: Record<string, unknown> = {
    task: o.task,
    robot: o.robot,
    ...(o.bag ? { bag: o.bag } : {}),
    success: r.success,
    ...(r.armDone ? { endOfBag: true } : {}),
    steps: r.steps,
    shieldInterventions: r.shieldInterventions,
    reasons: r.reasons,
    surpriseEvents: r.surpriseEvents,
    medianTick_ms: lat.length ? lat[Math.floor(lat.length / 2)] : null,
  };
  if ('commands' in arm) {
    // Replay: how far the runtime's commands were from what the recording sent for the same observation.
    const cmds = (arm as { commands: { action: Float64Array; recorded?: Float64Array }[] }).commands;
    const diffs = cmds.flatMap((c) => (c.recorded ? Array.from(c.recorded, (v, i) => (Number.isNaN(v) ? [] : [Math.abs(v - c.action[i]!)])).flat() : []));
    summary.recordedCommandsCompared = cmds.filter((c) => c.recorded).length;
    summary.meanAbsDiffToRecorded = diffs.length ? diffs.reduce((a, b) => a + b, 0) / diffs.length : null;
  }
  if (o.json) ctx.stdout.write(JSON.stringify(summary) + '\n');
  else
    ctx.stdout.write(
      `${o.task} on ${o.robot}${o.bag ? ` (${o.bag})` : ''}: ${r.success ? 'goal reached' : r.armDone ? 'end of bag' : 'goal not reached'} after ${r.steps} steps, ` +
        `${r.shieldInterventions} shield interventions, median tick ${Number(summary.medianTick_ms ?? 0).toFixed(1)} ms` +
        (summary.recordedCommandsCompared ? `, ${summary.recordedCommandsCompared} commands compared with the recording (mean |diff| ${Number(summary.meanAbsDiffToRecorded).toFixed(4)})` : '') +
        '\n',
    );
}
