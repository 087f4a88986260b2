/**
 * The planner node: the `~/plan_to_goal` action server
 * (jepa_runtime/action/PlanToGoal). A goal names a task (its goal latent comes
 * from the injected resolver), a goal image (encoded with the world model),
 * an end-effector pose (solved to a joint target by the injected IK), or a
 * joint target (encoded as a state for mlp encoders, or scored on the
 * model's proprio head). Planning runs in rounds of `iterations_per_round`
 * planner iterations, each warm-started from the last, with feedback after
 * every round (current sub-goal, energy, iterations); a cancel aborts the
 * running round through its AbortSignal. The best action sequence [H, A]
 * becomes a trajectory_msgs/JointTrajectory (one point per step of
 * `step_duration_s`; actions are joint position targets, absolute or deltas
 * per `action_mode`), returned in the result and published on
 * `~/trajectory` for the shield, with the first action on `~/action` (for
 * perception's surprise monitor).
 *
 * The node never commands the arm: only the shield does.
 */
import { z } from 'zod';
import type { WorldModel } from '../../../src/addon/types';
import { CancelledError } from '../../../src/addon/types';
import type { PlanGoal, PlanResult, Planner } from '../../../src/planning/types';
import type { CameraImage } from '../../../src/robot/arm';
import { imageToChw } from '../../../src/perception/preprocess';
import { imageViewToCamera } from '../msgs/image-view';
import { type GoalOutcome, type Publisher, QOS, type ServerGoalHandle, type TransportNode } from '../transport/types';
import {
  type Float32MultiArrayMsg,
  type HeaderMsg,
  type JointStateMsg,
  type JointTrajectoryMsg,
  NodeConfigError,
  declareParameters,
  jointTrajectory,
  latentFromMessage,
  latentMessage,
  nodeLogger,
  intParam,
  param,
  pickJoints,
  topicName,
} from './common';

export const PLAN_TO_GOAL = 'jepa_runtime/action/PlanToGoal';

export const GOAL_KIND = { task: 0, image: 1, pose: 2, joints: 3 } as const;
export const PLAN_STATUS = { succeeded: 0, notConverged: 1, canceled: 2, failed: 3 } as const;

export interface ImageMsg {
  header: HeaderMsg;
  height: number;
  width: number;
  encoding: string;
  is_bigendian: number;
  step: number;
  data: Uint8Array;
}

export interface PoseStampedMsg {
  header: HeaderMsg;
  pose: { position: { x: number; y: number; z: number }; orientation: { x: number; y: number; z: number; w: number } };
}

export interface PlanToGoalGoal {
  goal_kind: number;
  task_id: string;
  goal_image: ImageMsg;
  ee_pose: PoseStampedMsg;
  joint_target: JointStateMsg;
  max_planning_time_s: number;
  max_iterations: number;
}

export interface PlanToGoalFeedback {
  current_subgoal: string;
  energy: number;
  iterations: number;
  rounds: number;
}

export interface PlanToGoalResult {
  status: number;
  message: string;
  trajectory: JointTrajectoryMsg;
  energy: number;
  iterations: number;
  converged: boolean;
}

export const PLANNER_PARAMS = {
  joint_names: param(z.array(z.string().min(1)), [] as string[], 'joints the first action dims command, in order (the trajectory joint_names); required'),
  action_mode: param(z.enum(['absolute', 'delta']), 'absolute', "actions are joint position targets ('absolute') or increments on the previous target ('delta')"),
  step_duration_s: param(z.number().positive().finite(), 0.05, 'time between trajectory points: one model step (frameskip x physics step), s'),
  latent_topic: param(topicName, '/perception/latent', 'std_msgs/msg/Float32MultiArray latents from perception'),
  joint_states_topic: param(topicName, '/joint_states', 'sensor_msgs/msg/JointState, for delta actions and proprio state'),
  max_planning_time_s: param(z.number().positive().finite(), 2.0, 'default planning time per goal, s'),
  max_iterations: intParam(z.number().int().positive(), 60, 'default planner iterations per goal'),
  iterations_per_round: intParam(z.number().int().positive(), 10, 'planner iterations between feedback messages (each round warm-starts from the last)'),
  latent_timeout_s: param(z.number().positive().finite(), 1.0, 'a goal is aborted when no latent arrives within this time, s'),
  publish_trajectory: param(z.boolean(), true, 'publish the planned trajectory on ~/trajectory for the shield'),
};

/** A PlanGoal for a task id, e.g. from the world memory or a task's rendered goal observation. */
export type GoalResolver = (taskId: string) => PlanGoal | undefined | Promise<PlanGoal | undefined>;

/** Pose (metres, quaternion x y z w, in the robot base frame) → joint target for `joint_names`, or undefined when unreachable. */
export type InverseKinematics = (position_m: [number, number, number], orientation_xyzw: [number, number, number, number], frameId: string) => Float64Array | undefined;

export interface PlannerStages {
  model: WorldModel;
  planner: Planner;
  goals?: GoalResolver;
  ik?: InverseKinematics;
  log?: (line: string) => void;
}

export interface PlannerStats {
  goalsAccepted: number;
  goalsRejected: number;
  plans: number;
  canceled: number;
  failed: number;
  /** Wall time of the latest and the slowest goal (accept to result), ms. */
  lastPlan_ms: number;
  maxPlan_ms: number;
}

class GoalError extends Error {
  override name = 'GoalError';
}

export class PlannerNode {
  readonly params: ReturnType<typeof declareParameters<typeof PLANNER_PARAMS>>;
  readonly stats: PlannerStats = { goalsAccepted: 0, goalsRejected: 0, plans: 0, canceled: 0, failed: 0, lastPlan_ms: 0, maxPlan_ms: 0 };
  readonly #node: TransportNode;
  readonly #stages: PlannerStages;
  readonly #trajectoryPub: Publisher<JointTrajectoryMsg>;
  readonly #actionPub: Publisher<Float32MultiArrayMsg>;
  readonly #log: (line: string) => void;
  #latent: Float32Array | undefined;
  #latentWaiters: (() => void)[] = [];
  #joints: Float64Array | undefined;
  #lastAction: Float32Array | undefined;
  #busy = false;

  constructor(node: TransportNode, stages: PlannerStages) {
    this.#node = node;
    this.#stages = stages;
    this.#log = stages.log ?? nodeLogger(node);
    this.params = declareParameters(node, PLANNER_PARAMS);
    const { model, planner } = stages;
    const A = model.dims.actionDim;
    if (planner.actionDim !== A) throw new NodeConfigError(`node ${node.name}: the planner plans ${planner.actionDim} action dims, the model takes ${A}; build the planner on the same model`);
    if (this.params.joint_names.length === 0) {
      throw new NodeConfigError(`node ${node.name}: set parameter joint_names to the joints the model's first actions command (e.g. [joint1, joint2, ...])`);
    }
    if (this.params.joint_names.length > A) {
      throw new NodeConfigError(`node ${node.name}: parameter joint_names lists ${this.params.joint_names.length} joints but the model's actions have ${A} dims; list at most ${A}`);
    }
    this.#trajectoryPub = node.createPublisher('trajectory_msgs/msg/JointTrajectory', '~/trajectory', QOS.default);
    this.#actionPub = node.createPublisher('std_msgs/msg/Float32MultiArray', '~/action', QOS.default);
    node.createSubscription<Float32MultiArrayMsg>('std_msgs/msg/Float32MultiArray', this.params.latent_topic, (m) => {
      const z = latentFromMessage(m);
      if (z.length !== model.dims.latentSize) return;
      this.#latent = z.slice();
      for (const w of this.#latentWaiters.splice(0)) w();
    });
    node.createSubscription<JointStateMsg>('sensor_msgs/msg/JointState', this.params.joint_states_topic, (m) => {
      const picked = pickJoints(m, this.params.joint_names);
      if (picked) this.#joints = picked.position;
    }, QOS.sensorData);
    node.createActionServer<PlanToGoalGoal, PlanToGoalFeedback, PlanToGoalResult>(PLAN_TO_GOAL, '~/plan_to_goal', {
      onGoal: (g) => {
        const why = this.#checkGoal(g);
        if (why !== true) {
          this.stats.goalsRejected++;
          this.#log(`goal rejected: ${why}`);
        } else {
          this.#busy = true; // taken at acceptance, so a second goal cannot slip in before execution starts
        }
        return why;
      },
      execute: (h) => this.#execute(h),
    });
  }

  /** Latest latent received from perception (a copy), if any. */
  get latent(): Float32Array | undefined {
    return this.#latent?.slice();
  }

  #checkGoal(g: PlanToGoalGoal): true | string {
    if (this.#busy) return 'another goal is being planned; cancel it first';
    switch (g.goal_kind) {
      case GOAL_KIND.task:
        if (!g.task_id) return 'goal_kind GOAL_TASK needs task_id';
        if (!this.#stages.goals) return 'this planner has no goal resolver for task ids; send a goal image, pose or joint target';
        return true;
      case GOAL_KIND.image:
        if (this.#stages.model.config.encoder.kind === 'mlp') return 'the model encodes states, not images; send a joint target';
        if (!(g.goal_image.width > 0 && g.goal_image.height > 0)) return 'goal_kind GOAL_IMAGE needs a non-empty goal_image';
        return true;
      case GOAL_KIND.pose:
        if (!this.#stages.ik) return 'this planner has no kinematic model for end-effector poses; send a joint target';
        return this.#jointGoalPossible();
      case GOAL_KIND.joints: {
        const missing = this.params.joint_names.filter((n) => !g.joint_target.name.includes(n));
        if (missing.length) return `joint_target lacks ${missing.join(', ')}`;
        if (g.joint_target.position.length !== g.joint_target.name.length) return 'joint_target.position must have one value per name';
        return this.#jointGoalPossible();
      }
      default:
        return `unknown goal_kind ${g.goal_kind} (0 task, 1 image, 2 pose, 3 joints)`;
    }
  }

  #jointGoalPossible(): true | string {
    const m = this.#stages.model;
    if (m.config.encoder.kind === 'mlp' || m.dims.proprioDim >= this.params.joint_names.length) return true;
    return 'a joint or pose goal needs a state (mlp) encoder or a proprio head covering joint_names; send a goal image';
  }

  async #waitForLatent(signal: AbortSignal): Promise<Float32Array> {
    if (this.#latent) return this.#latent.slice();
    const timeout_ms = this.params.latent_timeout_s * 1000;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new GoalError(`no latent on ${this.params.latent_topic} within ${this.params.latent_timeout_s} s; is perception running?`)), timeout_ms);
      const done = () => (clearTimeout(t), resolve());
      this.#latentWaiters.push(done);
      signal.addEventListener('abort', () => (clearTimeout(t), reject(new CancelledError('waiting for a latent'))), { once: true });
    });
    return this.#latent!.slice();
  }

  async #encodeImage(img: CameraImage): Promise<Float32Array> {
    const enc = this.#stages.model.config.encoder;
    if (enc.kind === 'mlp') throw new GoalError('the model encodes states, not images');
    const buf = new Float32Array(3 * enc.imageSize * enc.imageSize);
    imageToChw(img, enc.imageSize, buf, 0, 'goal_image');
    return this.#stages.model.encode(buf, 1);
  }

  async #jointGoal(target: Float64Array, current: Float32Array): Promise<PlanGoal> {
    const model = this.#stages.model;
    if (model.config.encoder.kind === 'mlp') {
      const input = new Float32Array(model.dims.inputSize);
      input.set(Float32Array.from(target).subarray(0, input.length));
      return { latent: await model.encode(input, 1) };
    }
    const P = model.dims.proprioDim;
    const t = new Float32Array(P);
    const w = new Float32Array(P);
    t.set(target);
    w.fill(1, 0, target.length);
    return { latent: current, proprio: { target: t, weights: w } };
  }

  async #goal(g: PlanToGoalGoal, current: Float32Array): Promise<{ goal: PlanGoal; label: string }> {
    switch (g.goal_kind) {
      case GOAL_KIND.task: {
        const goal = await this.#stages.goals!(g.task_id);
        if (!goal) throw new GoalError(`no goal is known for task '${g.task_id}'`);
        return { goal, label: `task:${g.task_id}` };
      }
      case GOAL_KIND.image: {
        const img = g.goal_image;
        const camera = imageViewToCamera({
          stamp: img.header.stamp, frameId: img.header.frame_id, height: img.height, width: img.width, encoding: img.encoding,
          isBigEndian: img.is_bigendian !== 0, step: img.step, data: img.data,
        });
        return { goal: { latent: await this.#encodeImage(camera) }, label: 'image' };
      }
      case GOAL_KIND.pose: {
        const p = g.ee_pose.pose;
        const q = this.#stages.ik!([p.position.x, p.position.y, p.position.z], [p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w], g.ee_pose.header.frame_id);
        if (!q) throw new GoalError(`the pose (${p.position.x}, ${p.position.y}, ${p.position.z}) in '${g.ee_pose.header.frame_id}' has no IK solution within the joint limits`);
        return { goal: await this.#jointGoal(q, current), label: 'pose' };
      }
      default: {
        const names = g.joint_target.name;
        const target = Float64Array.from(this.params.joint_names, (n) => g.joint_target.position[names.indexOf(n)]!);
        return { goal: await this.#jointGoal(target, current), label: 'joints' };
      }
    }
  }

  #trajectory(result: PlanResult): JointTrajectoryMsg {
    const { joint_names, action_mode, step_duration_s } = this.params;
    const n = joint_names.length;
    const A = result.actionDim;
    if (action_mode === 'delta' && !this.#joints) throw new GoalError(`action_mode 'delta' needs a joint state on ${this.params.joint_states_topic}`);
    const q = action_mode === 'delta' ? Float64Array.from(this.#joints!) : new Float64Array(n);
    const points = [];
    for (let k = 0; k < result.horizon; k++) {
      const row = result.actions.subarray(k * A, k * A + n);
      if (action_mode === 'delta') for (let j = 0; j < n; j++) q[j] = q[j]! + row[j]!;
      else q.set(row);
      points.push({ positions: Array.from(q), time_from_start_s: (k + 1) * step_duration_s });
    }
    return jointTrajectory(joint_names, points, this.#node.now());
  }

  async #execute(h: ServerGoalHandle<PlanToGoalGoal, PlanToGoalFeedback>): Promise<GoalOutcome<PlanToGoalResult>> {
    this.stats.goalsAccepted++;
    const started = performance.now();
    const empty = jointTrajectory(this.params.joint_names, [], this.#node.now());
    const finish = (status: 'succeeded' | 'canceled' | 'aborted', result: PlanToGoalResult): GoalOutcome<PlanToGoalResult> => {
      const ms = performance.now() - started;
      this.stats.lastPlan_ms = ms;
      this.stats.maxPlan_ms = Math.max(this.stats.maxPlan_ms, ms);
      this.#busy = false;
      return { status, result };
    };
    let best: PlanResult | undefined;
    let iterations = 0;
    try {
      const z0 = await this.#waitForLatent(h.signal);
      const { goal, label } = await this.#goal(h.goal, z0);
      const maxTime_ms = 1000 * (h.goal.max_planning_time_s > 0 ? h.goal.max_planning_time_s : this.params.max_planning_time_s);
      const maxIterations = h.goal.max_iterations > 0 ? h.goal.max_iterations : this.params.max_iterations;
      const state = { z0, previousAction: this.#lastAction };
      let warmStart: Float32Array | undefined;
      let rounds = 0;
      while (iterations < maxIterations) {
        const left_ms = maxTime_ms - (performance.now() - started);
        if (left_ms <= 0) break;
        if (h.cancelRequested) throw new CancelledError('planning');
        const r = await this.#stages.planner.plan(
          state,
          goal,
          { maxIterations: Math.min(this.params.iterations_per_round, maxIterations - iterations), maxTime_ms: left_ms },
          { warmStart, signal: h.signal },
        );
        rounds++;
        iterations += r.iterations;
        if (!best || r.energy <= best.energy) best = r;
        warmStart = r.mean;
        const sub = r.subgoal;
        h.publishFeedback({
          current_subgoal: sub ? `${sub.kind}${sub.id ? `:${sub.id}` : sub.index !== undefined ? `:${sub.index}` : ''}` : label,
          energy: best.energy,
          iterations,
          rounds,
        });
        if (r.converged) break;
      }
      if (!best) throw new GoalError(`the planning budget (${maxTime_ms} ms, ${maxIterations} iterations) ended before the first round`);
      const trajectory = this.#trajectory(best);
      const first = best.actions.slice(0, best.actionDim);
      this.#lastAction = first;
      if (this.params.publish_trajectory) {
        this.#actionPub.publish(latentMessage(first));
        this.#trajectoryPub.publish(trajectory);
      }
      this.stats.plans++;
      const status = best.converged ? PLAN_STATUS.succeeded : PLAN_STATUS.notConverged;
      return finish('succeeded', {
        status, message: best.converged ? 'converged' : `best plan after ${iterations} iterations (not converged)`, trajectory, energy: best.energy, iterations, converged: best.converged,
      });
    } catch (e) {
      const err = e as Error;
      if (err instanceof CancelledError || h.cancelRequested) {
        this.stats.canceled++;
        return finish('canceled', { status: PLAN_STATUS.canceled, message: 'canceled', trajectory: empty, energy: best?.energy ?? 0, iterations, converged: false });
      }
      this.stats.failed++;
      this.#log(`goal failed: ${err.message}`);
      return finish('aborted', { status: PLAN_STATUS.failed, message: err.message, trajectory: empty, energy: 0, iterations, converged: false });
    }
  }
}
