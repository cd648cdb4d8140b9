/**
 * The red-team suite behind `airlock doctor --attack`: attack cases as data, a runner that
 * checks each from the host, and the exposure report behind `airlock doctor --exposure`.
 * See docs/redteam.md.
 */
export { runAttackSuite, type AttackSuiteOptions } from './runner.js';
export { ALL_CASES } from './cases/index.js';
export { plantCanaries, type Canaries } from './canaries.js';
export { formatAttackReport } from './format.js';
export { buildExposureReport, formatExposureReport, type ExposureReport, type ExposureOptions } from './exposure.js';
export { ATTACK_CLASSES } from './types.js';
export type { AttackCase, AttackClass, AttackReport, CaseResult, Expected, Verdict, SandboxCase, PolicyCase, EgressCase, AuditTamperCase, PolicyAction } from './types.js';
