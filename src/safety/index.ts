/**
 * Public surface of the safety layer: load the guardrails once at start,
 * build the shield (last stage before any arm) and the barrier cost terms
 * for the planner from the same frozen value.
 */
export { loadGuardrails, compileGuardrails, deepFreeze, type Guardrails, type LoadGuardrailsOptions } from './guardrails';
export { loadSafetyYaml, parseSafetyYaml, parseSafetyConfig, safetyConfigSchema, type SafetyConfig, type ZoneConfig } from './config';
export { Shield, type ShieldCommand, type ShieldDecision, type ShieldOptions, type JointStateInput, type PerceptionInput, type TrackedPerson, type ZoneUpdate, type TrajectoryPoint, type Verdict } from './shield';
export { SHIELD_STATUS, type ShieldStatus } from './status';
export { guardrailBarrierTerms, BarrierInputError, type BarrierBatch, type BarrierOptions, type GuardrailCostTerm } from './barriers';
export { protectiveSeparation, maxRobotSpeed, slowDownFactor, type ProtectiveSeparation, type SeparationConfig } from './separation';
export { SafetyConfigError, ShieldInputError } from './errors';
