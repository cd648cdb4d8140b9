/**
 * The policy part's public face: loading `airlock.yaml`, presets, the JSON Schema,
 * and the pure `decide` function for every kind of action.
 */
export { loadPolicy, listPresets, presetText, defaultPresetsDir } from './load.js';
export type { Policy, PolicySource, LoadPolicyOptions } from './load.js';
export { decide, createDecideContext, stricter, networkNeedsInspection } from './decide.js';
export type {
  Action,
  ExecArgvAction,
  ExecCommandAction,
  FileAction,
  NetworkAction,
  PreparedExecAction,
  ResolvedPathInfo,
  DecideContext,
  Decision,
  DecisionPart,
  PartKind,
} from './decide.js';
export { prepareAction, createShellOracle } from './prepare.js';
export type { ShellOracle, PrepareOptions } from './prepare.js';
export { resolveFileAction } from './resolve-path.js';
export type { PathMount } from './resolve-path.js';
export { policySchema, policyJsonSchema, LEVELS } from './schema.js';
export type {
  Level,
  PolicyFile,
  CommandRuleConfig,
  ToolConfig,
  NetworkRuleConfig,
  CredentialConfig,
  BudgetsConfig,
  BaseUrlConfig,
  ModelPriceConfig,
  LlmConfig,
  FilesConfig,
} from './schema.js';
export type { SourceRef } from './compile.js';
export { parseShell, DEFAULT_PARSE_LIMITS } from './shell/parse.js';
export type { ParseLimits, ParseResult, ParseFailure } from './shell/parse.js';
export { POLICY_REQUIREMENTS } from './requirements.js';
export type { PolicyRequirementId } from './requirements.js';
