/**
 * The workspace part: stages a project for a session (the sandbox's /workspace), shows
 * what the agent changed as a git-style diff, applies it to the project (refusing on
 * conflicts and on protected files unless allowed), exports it to a branch, or discards it.
 * Design and measurements: docs/workspace.md.
 */
export { createStagedWorkspace, openStagedWorkspace } from './staged-workspace.js';
export { protectedByPath, checkSymlinkTarget, foldSegment, isPackageJson } from './paths.js';
export type { SymlinkCheck } from './paths.js';
export type {
  ApplyOptions,
  ApplyResult,
  ChangeStatus,
  ConflictKind,
  CreateStagedWorkspaceOptions,
  DiffFile,
  DiffOptions,
  DiffTotals,
  EntryInfo,
  EntryType,
  ExportOptions,
  ExportResult,
  GitBaseInfo,
  GitIdentity,
  ProtectedCategory,
  ProtectedMark,
  RejectKind,
  RejectMark,
  SkippedPath,
  StagedWorkspace,
  WorkspaceChange,
  WorkspaceChangeSet,
  WorkspaceConflict,
  WorkspaceDiff,
  WorkspaceState,
  WorkspaceStrategy,
  WorkspaceStrategyChoice,
} from './types.js';
