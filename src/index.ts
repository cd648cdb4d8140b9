/**
 * airlock: run coding agents in a sandbox they cannot escape.
 *
 * The SDK entry point (`import { createSession } from 'airlock'`). `createSession`
 * starts a sandbox; the returned Session runs commands and file operations in it, each
 * judged by the policy first, until `destroy()`. Named exports only; the MCP server is
 * not part of this face (it loads the MCP SDK): run `airlock mcp`.
 */

// Sessions: create, exec (buffered and streaming), files, events, destroy.
export {
  createSession,
  resolveLimits,
  resolveStateDir,
  sandboxPath,
  DEFAULT_LIMITS,
  PolicyDeniedError,
  describeDenial,
  formatDenial,
  type BufferedExecOptions,
  type BufferedExecResult,
  type Denial,
  type DenialFace,
  type ProtectedChange,
  type DirEntry,
  type ExecOptions,
  type ExecResult,
  type HttpRequestOptions,
  type HttpResponse,
  type LimitsInput,
  type SearchHit,
  type Session,
  type SessionOptions,
  type SessionProcess,
  type SessionRedactor,
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
export type { ExportOptions, ExportResult, WorkspaceChangeSet } from './workspace/index.js';
export { auditEvents, type AuditEventsOptions } from './sdk/events.js';
export { AirlockError, isAirlockError, ERROR_CODES, type ErrorCode } from './errors/index.js';
export type { BackendName, SandboxLayers } from './sandbox/index.js';
export { EVENT_TYPES, type AirlockEvent, type AirlockEventOf, type EventData, type EventType } from './events/index.js';

// Policy: load airlock.yaml, and judge an action without running it.
export {
  loadPolicy,
  decide,
  createDecideContext,
  type Action,
  type Decision,
  type DecisionPart,
  type Policy,
  type PolicySource,
} from './policy/index.js';

// Approvals: the queue an `ask` waits in, and the local HTTP page a person answers on.
export {
  createApprovalQueue,
  type ApprovalDecision,
  type ApprovalQueue,
  type ApprovalQueueOptions,
  type ApprovalRecord,
  type ApprovalStatus,
  type AskInput,
  type DecideInput,
  type GrantScope,
} from './approvals/index.js';
export { startApprovalServer, type ApprovalServer, type ApprovalServerOptions } from './server/index.js';

// Staged workspaces: what the agent changed, as a diff; apply it to the project or discard it.
export {
  createStagedWorkspace,
  openStagedWorkspace,
  type ApplyOptions,
  type ApplyResult,
  type CreateStagedWorkspaceOptions,
  type DiffOptions,
  type StagedWorkspace,
  type WorkspaceDiff,
} from './workspace/index.js';
