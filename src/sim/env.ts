/**
 * The simulated environment: one task on its scene, stepped at the task's
 * control rate (frameskip physics steps per action), with observations
 * (camera images + proprioception) and goals given both in state form and as
 * a goal observation rendered from the goal state. Episodes are seeded and
 * the seed split (train/eval) is enforced here.
 */
import { z } from 'zod';
import { resizeRgb } from '../perception/preprocess';
import type { CameraImage } from '../robot/arm';
import { SimCameras } from './camera';
import { MjSim, type SimState } from './mujoco';
import { SCENES } from './scenes/index';
import { TASKS } from './tasks/index';
import { checkSeed, SplitMode } from './tasks/seeds';
import { clampToCtrlRange, getJointVelocities, getJoints, TaskName, type GoalState, type Task } from './tasks/types';

export const SimEnvOptionsSchema = z.object({
  task: TaskName,
  /** Square image side in pixels. */
  imageSize: z.number().int().min(8).max(1024).default(64),
  /** Cameras rendered into observations; defaults to the task's cameras. */
  cameras: z.array(z.string().min(1)).min(1).optional(),
  /** Also render depth images. */
  depth: z.boolean().default(false),
  /** Render images at all (false: proprioception only, for throughput or state-based use). */
  render: z.boolean().default(true),
  /**
   * Render at this side (px) and scale each frame to imageSize as the runtime scales a camera's
   * frame to its model's input (perception/preprocess resizeRgb); default: render at imageSize.
   * A dataset for a model whose runtime camera is larger than its input is collected this way.
   */
  renderSize: z.number().int().min(8).max(1024).optional(),
}).refine((o) => o.renderSize === undefined || o.renderSize >= o.imageSize, {
  message: 'renderSize must be at least imageSize (the frames are scaled down from it)',
  path: ['renderSize'],
}).refine((o) => !(o.depth && o.renderSize !== undefined && o.renderSize !== o.imageSize), {
  message: 'renderSize scales RGB frames only; depth images are rendered at imageSize (leave renderSize unset with depth)',
  path: ['renderSize'],
});
export type SimEnvOptions = z.input<typeof SimEnvOptionsSchema>;

export interface EnvObservation {
  images: Record<string, CameraImage>;
  jointPositions: Float64Array;
  jointVelocities: Float64Array;
  /** Simulated time, seconds. */
  time: number;
}

export interface EnvGoal {
  state: GoalState;
  observation: EnvObservation;
}

export interface StepResult {
  observation: EnvObservation;
  /** The action applied after clamping to the actuators' ctrlrange. */
  applied: Float64Array;
  success: boolean;
  /** True once the goal is reached or the step limit is hit. */
  done: boolean;
  /** Control steps taken in this episode. */
  step: number;
}

/** The environment was stepped before reset() (no episode is running). */
export class EpisodeNotStartedError extends Error {
  override name = 'EpisodeNotStartedError';
  constructor(task: string) {
    super(`SimEnv(${task}): step() called before reset(seed); start an episode first.`);
  }
}

/** An action of the wrong length. */
export class ActionShapeError extends Error {
  override name = 'ActionShapeError';
  constructor(task: string, expected: number, got: number) {
    super(`SimEnv(${task}): action has ${got} values, expected ${expected} (one per actuator).`);
  }
}

export class SimEnv {
  private readonly cameras = new SimCameras();
  private goalState: GoalState | undefined;
  private goalSim: SimState | undefined;
  private steps = 0;
  private episodeSeed: number | undefined;

  private constructor(
    readonly task: Task,
    readonly sim: MjSim,
    readonly options: z.output<typeof SimEnvOptionsSchema>,
  ) {}

  static async create(options: SimEnvOptions): Promise<SimEnv> {
    const opts = SimEnvOptionsSchema.parse(options);
    const task = TASKS[opts.task];
    const sim = await MjSim.fromXml(SCENES[task.spec.scene].xml(), task.spec.scene);
    return new SimEnv(task, sim, opts);
  }

  get cameraNames(): readonly string[] {
    return this.options.cameras ?? this.task.spec.cameras;
  }
  get actionDim(): number {
    return this.sim.nu;
  }
  get seed(): number | undefined {
    return this.episodeSeed;
  }
  get goal(): GoalState | undefined {
    return this.goalState;
  }
  get stepCount(): number {
    return this.steps;
  }

  /** Starts the episode for `seed` (checked against the `mode` seed range). */
  reset(seed: number, mode: SplitMode = 'train'): { observation: EnvObservation; goal: EnvGoal } {
    checkSeed(seed, SplitMode.parse(mode));
    const ep = this.task.sampleEpisode(this.sim, seed);
    this.goalState = ep.goal;
    this.goalSim = ep.goalSimState;
    this.episodeSeed = seed;
    this.steps = 0;
    const goalObservation = this.observeState(ep.goalSimState);
    this.sim.setState(ep.initial);
    return { observation: this.observe(), goal: { state: ep.goal, observation: goalObservation } };
  }

  /** Applies `action` (clamped to ctrlrange) for `frameskip` physics steps. */
  step(action: ArrayLike<number>): StepResult {
    if (this.goalState === undefined) throw new EpisodeNotStartedError(this.task.spec.name);
    if (action.length !== this.sim.nu) throw new ActionShapeError(this.task.spec.name, this.sim.nu, action.length);
    const applied = clampToCtrlRange(this.sim, action);
    this.sim.ctrl.set(applied);
    this.sim.step(this.task.spec.frameskip);
    this.steps++;
    const success = this.task.isSuccess(this.sim, this.goalState);
    return { observation: this.observe(), applied, success, done: success || this.steps >= this.task.spec.maxSteps, step: this.steps };
  }

  isSuccess(): boolean {
    if (this.goalState === undefined) throw new EpisodeNotStartedError(this.task.spec.name);
    return this.task.isSuccess(this.sim, this.goalState);
  }

  private renderImages(): Record<string, CameraImage> {
    const { imageSize, renderSize, depth } = this.options;
    const side = renderSize ?? imageSize;
    const images = this.cameras.render(this.sim, this.cameraNames, { width: side, height: side, depth });
    if (side === imageSize) return images;
    return Object.fromEntries(Object.entries(images).map(([name, img]) => [name, resizeRgb(img, imageSize, `camera '${name}'`)]));
  }

  /** Observation of the current state. */
  observe(): EnvObservation {
    const joints = this.task.spec.proprioJoints;
    return {
      images: this.options.render ? this.renderImages() : {},
      jointPositions: getJoints(this.sim, joints),
      jointVelocities: getJointVelocities(this.sim, joints),
      time: this.sim.time,
    };
  }

  /** Observation of another state (the simulator is restored afterwards). */
  observeState(state: SimState): EnvObservation {
    const saved = this.sim.getState();
    this.sim.setState(state);
    const obs = this.observe();
    this.sim.setState(saved);
    return obs;
  }

  /** The goal state of the running episode (full simulator state). */
  goalSimState(): SimState {
    if (this.goalSim === undefined) throw new EpisodeNotStartedError(this.task.spec.name);
    return this.goalSim;
  }

  close(): void {
    this.sim.free();
  }
}
