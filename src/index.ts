/**
 * airlock: run coding agents in a sandbox they cannot escape.
 *
 * The SDK entry point. `createSession` starts a sandbox; the returned Session runs
 * commands in it until `destroy()`.
 */
export {
  createSession,
  resolveLimits,
  resolveStateDir,
  DEFAULT_LIMITS,
  type BufferedExecOptions,
  type BufferedExecResult,
  type ExecOptions,
  type ExecResult,
  type LimitsInput,
  type Session,
  type SessionOptions,
  type SessionProcess,
  type SpawnOptions,
  openSessionWorkspace,
  summarizeChanges,
  describeChanges,
  STAGED_RETENTION_MS,
  type ChangeSummary,
  type SessionStagingOptions,
  type SessionWorkspaceMode,
  type WorkspaceMode,
} from './session/index.js';
export type {
  ApplyOptions,
  ApplyResult,
  DiffOptions,
  ExportOptions,
  ExportResult,
  StagedWorkspace,
  WorkspaceChangeSet,
  WorkspaceDiff,
} from './workspace/index.js';
export { AirlockError, isAirlockError, ERROR_CODES, type ErrorCode } from './errors/index.js';
export type { BackendName, SandboxLayers } from './sandbox/index.js';
