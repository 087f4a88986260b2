/**
 * The planner (src/planning/): energy-based MPC over a WorldModel — CEM and
 * MPPI with shared sampling and adaptive stopping, receding-horizon warm
 * starts, batch energy terms (the shape guardrail costs plug into), and two
 * hierarchical planners (explicit task graphs; HWM-style latent sub-goals),
 * all behind the one `Planner` interface.
 */
export { CemPlanner, cemOptionsSchema, type CemOptions } from './cem';
export { MppiPlanner, mppiOptionsSchema, type MppiOptions } from './mppi';
export { SamplingPlanner, type UpdateContext } from './sampling';
export {
  type BatchEnergyTerm,
  type EnergyBatch,
  energySpecSchema,
  type EnergySpec,
  type EnergySpecInput,
  proprioGoalTerm,
  poseGoalTerm,
  type PoseGoalTermOptions,
  type BatchForwardKinematics,
  rolloutCost,
} from './energy';
export { RecedingHorizon, recedingHorizonOptionsSchema, type RecedingHorizonOptions, type RecedingResult } from './receding-horizon';
export {
  TaskGraphPlanner,
  taskGraphSchema,
  taskGraphPlannerOptionsSchema,
  type TaskGraph,
  type TaskGraphInput,
  type TargetResolvers,
  type TaskEvent,
  type TaskProgress,
} from './task-graph';
export { LatentSubgoalPlanner, latentSubgoalOptionsSchema, type LatentSubgoalOptions } from './latent-subgoals';
export { Random } from './random';
export { selectSmallest, shiftPlan } from './select';
export { EnergyTermError, PlanConfigError, PlanInputError, PlannerBusyError, TaskFailedError } from './errors';
export {
  type IterationTrace,
  type PlanBudget,
  planBudgetSchema,
  type PlanGoal,
  type PlanOptions,
  type Planner,
  type PlanResult,
  type PlanState,
  type PlanTrace,
  type Pose,
  type SubgoalInfo,
} from './types';
