/**
 * `SimArm`: the embedded simulator behind the Arm interface every backend
 * implements. It runs a task's scene (or a user's MJCF file), reports joint
 * state and camera images, and applies actions as actuator targets after
 * clamping them to the actuators' ctrlrange, for the task's frameskip worth
 * of physics. By default it steps as fast as it can; with `realtime: true`
 * each action is paced to the wall clock.
 */
import { z } from 'zod';
import type { AppliedAction, Arm, Observation } from '../robot/arm';
import { SimCameras, type SceneCamera } from './camera';
import { SimEnv } from './env';
import { MjJointType, MjSim } from './mujoco';
import { SplitMode, TRAIN_SEEDS } from './tasks/seeds';
import { clampToCtrlRange, getJointVelocities, getJoints, TaskName } from './tasks/types';

export const SimArmOptionsSchema = z.object({
  /** Pace each action to the wall clock instead of stepping as fast as possible. */
  realtime: z.boolean().default(false),
  imageSize: z.number().int().min(8).max(1024).default(64),
  depth: z.boolean().default(false),
  /** Render camera images into observations. */
  render: z.boolean().default(true),
});
export type SimArmOptions = z.input<typeof SimArmOptionsSchema>;

/** An action whose length does not match the actuators. */
export class SimArmActionError extends Error {
  override name = 'SimArmActionError';
  constructor(arm: string, expected: number, got: number) {
    super(`SimArm(${arm}): action has ${got} values but the model has ${expected} actuators; send one target per actuator.`);
  }
}

export class SimArmClosedError extends Error {
  override name = 'SimArmClosedError';
  constructor(arm: string) {
    super(`SimArm(${arm}) was closed; create a new one.`);
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SimArm implements Arm {
  readonly actionDim: number;
  private readonly cameras = new SimCameras();
  private closed = false;
  private wallStart_ms: number | undefined;
  private simStart_s = 0;

  private constructor(
    readonly name: string,
    readonly sim: MjSim,
    readonly jointNames: readonly string[],
    private readonly cameraList: readonly (string | SceneCamera)[],
    private readonly frameskip: number,
    private readonly options: z.output<typeof SimArmOptionsSchema>,
    /** The task environment when built from a task (gives goals and success). */
    readonly env?: SimEnv,
  ) {
    this.actionDim = sim.nu;
  }

  /** An arm running a task's scene, reset to the episode of `seed`. */
  static async forTask(task: TaskName, options: SimArmOptions & { seed?: number; mode?: SplitMode } = {}): Promise<SimArm> {
    const opts = SimArmOptionsSchema.parse(options);
    const env = await SimEnv.create({ task, imageSize: opts.imageSize, depth: opts.depth, render: false });
    env.reset(options.seed ?? TRAIN_SEEDS.start, options.mode ?? 'train');
    return new SimArm(`sim:${task}`, env.sim, env.task.spec.proprioJoints, env.task.spec.cameras, env.task.spec.frameskip, opts, env);
  }

  /**
   * An arm running a user's MJCF file. Joints: every hinge and slide joint;
   * cameras: the model's own, or `cameras` (free cameras) when it has none.
   */
  static async fromMjcfFile(path: string, options: SimArmOptions & { frameskip?: number; cameras?: SceneCamera[] } = {}): Promise<SimArm> {
    const opts = SimArmOptionsSchema.parse(options);
    const sim = await MjSim.fromFile(path);
    const types = sim.model.jnt_type as Int32Array;
    const joints: string[] = [];
    for (let j = 0; j < sim.model.njnt; j++) if (types[j] === MjJointType.hinge || types[j] === MjJointType.slide) joints.push(sim.name('joint', j) || `joint${j}`);
    const cams: (string | SceneCamera)[] = options.cameras ?? sim.cameraNames();
    return new SimArm(`sim:${path}`, sim, joints, cams, options.frameskip ?? 20, opts);
  }

  private live(): void {
    if (this.closed) throw new SimArmClosedError(this.name);
  }

  async getObservation(): Promise<Observation> {
    this.live();
    const s = this.options.imageSize;
    return {
      images: this.options.render && this.cameraList.length > 0 ? this.cameras.render(this.sim, this.cameraList, { width: s, height: s, depth: this.options.depth }) : {},
      jointPositions: getJoints(this.sim, this.jointNames),
      jointVelocities: getJointVelocities(this.sim, this.jointNames),
      jointEfforts: this.jointEfforts(),
      time: this.sim.time,
    };
  }

  /** Actuator force on each reported joint (N·m or N), as MuJoCo's qfrc_actuator. */
  private jointEfforts(): Float64Array {
    const f = this.sim.data.qfrc_actuator as Float64Array;
    return Float64Array.from(this.jointNames, (n) => f[this.sim.jointDofAddress(n)]);
  }

  async sendAction(action: Float64Array): Promise<AppliedAction> {
    this.live();
    if (action.length !== this.sim.nu) throw new SimArmActionError(this.name, this.sim.nu, action.length);
    const applied = clampToCtrlRange(this.sim, action);
    this.sim.ctrl.set(applied);
    this.sim.step(this.frameskip);
    if (this.options.realtime) {
      if (this.wallStart_ms === undefined) {
        this.wallStart_ms = performance.now();
        this.simStart_s = this.sim.time - this.frameskip * this.sim.timestep;
      }
      const due_ms = this.wallStart_ms + (this.sim.time - this.simStart_s) * 1000;
      const wait_ms = due_ms - performance.now();
      if (wait_ms > 0) await sleep(wait_ms);
    }
    return { action: applied, time: this.sim.time };
  }

  /** Seconds of simulated time one action covers. */
  get controlPeriod_s(): number {
    return this.frameskip * this.sim.timestep;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sim.free();
  }
}
