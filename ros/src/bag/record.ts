/**
 * Records an embedded-simulator episode into a rosbag2 MCAP file, as a ROS 2
 * arm would produce it: camera frames (sensor_msgs/Image, rgb8) on
 * /camera/image_raw, joint states on /joint_states, the goal observation
 * once on /goal/image_raw, and what the shield sent to the controller
 * (trajectory_msgs/JointTrajectory on /joint_trajectory_controller/
 * joint_trajectory; on a halt, one point at the measured position) with its decision on
 * /shield/status (std_msgs/String JSON). The task's scripted policy proposes
 * joint targets; every one passes through the Shield (src/safety) before the
 * simulator sees it, and the simulated arm follows what the shield allowed
 * for one control step (a time-scaled command covers the matching fraction of
 * its way). Log times are simulated time.
 *
 * Simulated joints are named with `jointPrefix` (the sim's joint1 →
 * fer_joint1) so they match the safety file. The simulator has no people:
 * the shield is told so at every step when its safety file monitors
 * separation.
 */
import { BagWriter } from './mcap';
import { TOPICS } from './topics';
import type { MessageRegistry } from '../msgs/registry';
import { SimEnv } from '../../../src/sim/env';
import { TaskName } from '../../../src/sim/tasks/types';
import type { CameraImage } from '../../../src/robot/arm';
import { Shield } from '../../../src/safety/shield';
import type { Guardrails } from '../../../src/safety/guardrails';
import { type JointTrajectoryMsg, jointTrajectory, secondsToTime } from '../nodes/common';

export { TOPICS };

export class RecordError extends Error {
  override name = 'RecordError';
}

export interface RecordOptions {
  task: string;
  out: string;
  steps: number;
  seed: number;
  imageSize: number;
  /** Camera of the task scene to record (default: the task's first camera). */
  camera?: string;
  guardrails: Guardrails;
  jointPrefix: string;
  registry: MessageRegistry;
  onStep?: (step: number, verdict: string) => void;
}

export interface RecordSummary {
  out: string;
  task: string;
  seed: number;
  steps: number;
  images: number;
  jointStates: number;
  commands: number;
  byVerdict: Record<string, number>;
  byReason: Record<string, number>;
  success: boolean;
  simulated_s: number;
}

function imageMsg(img: CameraImage, t_s: number, frameId: string) {
  return { header: { stamp: secondsToTime(t_s), frame_id: frameId }, height: img.height, width: img.width, encoding: 'rgb8', is_bigendian: 0, step: img.width * 3, data: img.rgb };
}

const ns = (t_s: number) => BigInt(Math.round(t_s * 1e9));

export async function recordEpisode(o: RecordOptions): Promise<RecordSummary> {
  const task = TaskName.safeParse(o.task);
  if (!task.success) throw new RecordError(`unknown task '${o.task}' (tasks: ${TaskName.options.join(', ')})`);
  const env = await SimEnv.create({ task: task.data, imageSize: o.imageSize, cameras: o.camera ? [o.camera] : undefined });
  const writer = await BagWriter.create(o.out);
  try {
    const spec = env.task.spec;
    const camera = env.cameraNames[0]!;
    const simJoints = spec.proprioJoints;
    const names = simJoints.map((j) => `${o.jointPrefix}${j}`);
    const g = o.guardrails;
    const armIndex = g.jointNames.map((j) => names.indexOf(j));
    if (armIndex.some((i) => i < 0)) {
      throw new RecordError(
        `task '${o.task}' joints (${names.join(', ')}) do not cover the safety file joints (${g.jointNames.join(', ')}); ` +
          `record needs an arm task whose joints match (reach, pick-place with --joint-prefix fer_ and the FER safety file)`,
      );
    }
    if (armIndex.some((i, k) => i !== k)) throw new RecordError('the safety file must list the arm joints first and in the simulator order');
    const n = g.jointNames.length;
    const reg = o.registry;
    const codecs = {
      image: reg.codec('sensor_msgs/msg/Image'),
      joints: reg.codec('sensor_msgs/msg/JointState'),
      traj: reg.codec<JointTrajectoryMsg>('trajectory_msgs/msg/JointTrajectory'),
      str: reg.codec('std_msgs/msg/String'),
    };
    await writer.addTopic(TOPICS.image, 'sensor_msgs/msg/Image', reg.schemaText('sensor_msgs/msg/Image'));
    await writer.addTopic(TOPICS.goalImage, 'sensor_msgs/msg/Image', reg.schemaText('sensor_msgs/msg/Image'));
    await writer.addTopic(TOPICS.jointStates, 'sensor_msgs/msg/JointState', reg.schemaText('sensor_msgs/msg/JointState'));
    await writer.addTopic(TOPICS.command, 'trajectory_msgs/msg/JointTrajectory', reg.schemaText('trajectory_msgs/msg/JointTrajectory'));
    await writer.addTopic(TOPICS.status, 'std_msgs/msg/String', reg.schemaText('std_msgs/msg/String'));

    const { observation, goal } = env.reset(o.seed);
    let clock = observation.time;
    const shield = new Shield(g, { clock: () => clock, logCapacity: 16 });
    const needsPerception = g.config.separation !== undefined || g.config.keep_out.some((z) => z.moving);
    const policy = env.task.scriptedPolicy(env.sim, env.goal!);
    const dt = spec.frameskip * env.sim.timestep;
    const summary: RecordSummary = {
      out: o.out, task: o.task, seed: o.seed, steps: 0, images: 0, jointStates: 0, commands: 0, byVerdict: {}, byReason: {}, success: false, simulated_s: 0,
    };
    const goalImg = goal.observation.images[camera];
    if (goalImg) await writer.write(TOPICS.goalImage, codecs.image.encode(imageMsg(goalImg, clock, camera)), ns(clock));
    let obs = observation;
    for (let step = 0; step < o.steps; step++) {
      clock = obs.time;
      const img = obs.images[camera];
      if (img) {
        await writer.write(TOPICS.image, codecs.image.encode(imageMsg(img, clock, camera)), ns(clock));
        summary.images++;
      }
      const stamp = secondsToTime(clock);
      await writer.write(
        TOPICS.jointStates,
        codecs.joints.encode({ header: { stamp, frame_id: '' }, name: names, position: Array.from(obs.jointPositions), velocity: Array.from(obs.jointVelocities), effort: [] }),
        ns(clock),
      );
      summary.jointStates++;
      const q = obs.jointPositions.subarray(0, n);
      shield.updateJointState({ positions: q, velocities: obs.jointVelocities.subarray(0, n), stamp_s: clock });
      if (needsPerception) shield.updatePerception({ stamp_s: clock, persons: [] });
      const proposal = policy.act(env.sim);
      const d = shield.check({ kind: 'target', joint_names: g.jointNames, positions: Array.from(proposal.subarray(0, n)), duration_s: dt, stamp_s: clock });
      const applied = Float64Array.from(proposal);
      let sent: JointTrajectoryMsg;
      if (d.verdict === 'halt' || !d.trajectory) {
        applied.set(q, 0);
        sent = jointTrajectory(g.jointNames, [{ positions: Array.from(q), time_from_start_s: dt }], stamp);
      } else {
        const last = d.trajectory.points.at(-1)!;
        const f = Math.min(1, dt / last.time_from_start_s);
        for (let i = 0; i < n; i++) applied[i] = q[i]! + f * (last.positions[i]! - q[i]!);
        sent = jointTrajectory(d.trajectory.joint_names, d.trajectory.points, stamp);
      }
      await writer.write(TOPICS.command, codecs.traj.encode(sent), ns(clock));
      await writer.write(TOPICS.status, codecs.str.encode({ data: JSON.stringify({ verdict: d.verdict, reasons: d.reasons, detail: d.detail, time_s: clock, source: 'command', timeScale: d.timeScale }) }), ns(clock));
      summary.commands++;
      summary.byVerdict[d.verdict] = (summary.byVerdict[d.verdict] ?? 0) + 1;
      for (const r of d.reasons.length ? d.reasons : ['OK']) summary.byReason[r] = (summary.byReason[r] ?? 0) + 1;
      o.onStep?.(step, d.verdict);
      const r = env.step(applied);
      obs = r.observation;
      summary.steps++;
      summary.success = r.success;
      if (r.done) break;
    }
    summary.simulated_s = obs.time - observation.time;
    await writer.close();
    return summary;
  } catch (e) {
    writer.abort();
    throw e;
  } finally {
    env.close();
  }
}
