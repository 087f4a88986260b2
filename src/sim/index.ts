/**
 * Public surface of the embedded simulator (src/sim): MuJoCo loading, the
 * generated scenes, tasks and their seed split, the environment, the SimArm
 * backend, data collection (episodes and violation-of-expectation clips)
 * and the dataset reader. The camera renderer lives in src/sim/render.
 */
export { MjSim, MjcfFileNotFoundError, MjcfLoadError, MjNameNotFoundError, MjSimFreedError, loadMjcfFile, loadMjcfString, mjcfReferencedFiles, mujoco } from './mujoco';
export type { SimState } from './mujoco';
export { SCENES, SceneName } from './scenes/index';
export { TASKS, TaskName } from './tasks/index';
export type { EpisodeSetup, GoalState, Policy, Task, TaskSpec } from './tasks/index';
export { checkSeed, EVAL_SEEDS, SeedSplitError, SplitMode, TRAIN_SEEDS } from './tasks/seeds';
export { PICK_PLACE_STAGES, PICK_PLACE_STAGE_NAMES, pickPlaceTaskGraph } from './tasks/pick-place';
export type { PickPlaceStage, PickPlaceStageName } from './tasks/pick-place';
export { SimEnv, SimEnvOptionsSchema } from './env';
export type { EnvGoal, EnvObservation, SimEnvOptions, StepResult } from './env';
export { SimArm, SimArmOptionsSchema } from './sim-arm';
export { SimCameras, freeCamera } from './camera';
export { collect, CollectOptionsSchema, PolicyKind } from './collect';
export type { CollectOptions, CollectProgress, CollectResult } from './collect';
export { collectViolations, VoeOptionsSchema } from './voe';
export type { VoeOptions } from './voe';
export { DatasetReader } from './dataset/reader';
export type { DatasetEpisode, DatasetTransition } from './dataset/reader';
export { DatasetCorruptError, ManifestError, ManifestSchema, ViolationKind } from './dataset/format';
export type { Manifest, ViolationLabel } from './dataset/format';
export { DatasetMismatchError, readManifest } from './dataset/writer';
export { Rng } from './rng';
