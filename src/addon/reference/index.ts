/**
 * The float64 TypeScript reference backend: one import for the planner's
 * mock model (createReferenceModel) and for the native parity tests (ops and
 * forward functions, compared one by one with the C++ kernels).
 */
export * as ops from './ops';
export {
  decodeProprioOne,
  encodeOne,
  GROUP_NORM_EPS,
  LAYER_NORM_EPS,
  MissingTensorError,
  predictorTokens,
  predictStep,
  vitTokens,
  type Weights,
} from './forward';
export { latentDistance, rolloutSample, runRollout, sampleEnergy } from './rollout';
export { type CheckpointConfigInput, createReferenceModel, loadReferenceModel } from './model';
