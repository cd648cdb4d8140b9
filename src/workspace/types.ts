/**
 * Public types of the workspace part: the staged copy of a project that a session's
 * sandbox sees as /workspace, and the values its review operations return.
 */

/** How the project is staged. See docs/workspace.md for the reasons. */
export type WorkspaceStrategy = 'overlay' | 'copy';

/** What the caller asks for: a strategy, or `auto` (overlay where the host allows, else copy). */
export type WorkspaceStrategyChoice = WorkspaceStrategy | 'auto';

/** The kind of a file system entry. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'fifo' | 'socket' | 'char-device' | 'block-device';

/** One side of a change: what the entry was at staging time, or what the agent left. */
export interface EntryInfo {
  type: EntryType;
  /** Permission bits (`st_mode & 0o7777`). */
  mode: number;
  /** Size in bytes (the target's length for a symlink). */
  size: number;
  /** The link text of a symlink, when known. */
  linkTarget?: string;
}

/** What happened to a path between staging and now, seen from the agent's side. */
export type ChangeStatus = 'added' | 'modified' | 'deleted' | 'type-changed';

/**
 * Why a change is protected: things that run code later on the host. Every category makes
 * apply refuse without `allowProtected`, except `git-internal` (objects, refs, index that
 * git inside the sandbox rewrites even for `git status`): those are skipped without it.
 */
export type ProtectedCategory =
  | 'git-hooks'
  | 'git-config'
  | 'git-internal'
  | 'git-attributes'
  | 'shell-rc'
  | 'ide-config'
  | 'agent-config'
  | 'ci-config'
  | 'tool-config'
  | 'package-scripts'
  | 'symlink-to-protected';

/** A protected change, with a sentence a person can judge. */
export interface ProtectedMark {
  category: ProtectedCategory;
  reason: string;
}

/** Why an entry the agent left is never applied as such. */
export type RejectKind =
  'symlink-outside' | 'hard-link' | 'device' | 'fifo' | 'socket' | 'unrepresentable-name' | 'mount-point';

/** A rejected entry: listed in the diff, skipped by apply and export. */
export interface RejectMark {
  kind: RejectKind;
  reason: string;
}

/** One changed path. Paths are relative to the project root, with `/` separators. */
export interface WorkspaceChange {
  path: string;
  status: ChangeStatus;
  /** The entry at staging time (null when the agent added the path). */
  before: EntryInfo | null;
  /** The entry the agent left (null when the agent deleted the path). */
  after: EntryInfo | null;
  protected: ProtectedMark | null;
  rejected: RejectMark | null;
}

/** How the project differs from its staging-time baseline where the agent also changed it. */
export type ConflictKind =
  | 'changed-in-project'
  | 'deleted-in-project'
  | 'added-in-project'
  | 'parent-not-directory'
  | 'case-alias'
  | 'new-entries-in-deleted-directory'
  | 'other-file-system';

/** A conflict that makes apply refuse. */
export interface WorkspaceConflict {
  path: string;
  kind: ConflictKind;
  detail: string;
}

/** Every change the agent made, with the conflicts against the project as it is now. */
export interface WorkspaceChangeSet {
  changes: WorkspaceChange[];
  conflicts: WorkspaceConflict[];
  /** Paths whose project entry already equals what the agent left (nothing to apply). */
  alreadyApplied: string[];
  /** Identifies exactly these changes; pass it to apply or export to land only what was reviewed. */
  fingerprint: string;
}

/** One file in a rendered diff (renames paired by git's rename detection). */
export interface DiffFile {
  path: string;
  /** The old path of a rename, else null. */
  oldPath: string | null;
  status: 'added' | 'modified' | 'deleted' | 'renamed' | 'type-changed';
  /** Git-style modes (`100644`, `100755`, `120000`), null on the missing side. */
  oldMode: string | null;
  newMode: string | null;
  binary: boolean;
  /** Lines added and removed; null for binary files. */
  additions: number | null;
  deletions: number | null;
  /** Content not shown in the patch (too large, or repository internals). */
  contentOmitted: string | null;
  protected: ProtectedMark | null;
  rejected: RejectMark | null;
}

/** Counts over a diff. */
export interface DiffTotals {
  files: number;
  additions: number;
  deletions: number;
  protected: number;
  rejected: number;
  conflicts: number;
}

/** The review of a staged workspace: structured changes, git-style patch and stat. */
export interface WorkspaceDiff {
  sessionId: string;
  projectDir: string;
  strategy: WorkspaceStrategy;
  /** Files as git renders them (renames paired). */
  files: DiffFile[];
  /** Per-path changes, including those git cannot represent (directory modes, special files). */
  changes: WorkspaceChange[];
  conflicts: WorkspaceConflict[];
  totals: DiffTotals;
  /** Identifies exactly these changes; `apply({ expectFingerprint })` refuses if they moved since. */
  fingerprint: string;
  /** Unified git-style patch, preceded by `# airlock:` lines for protected, rejected and conflicting paths. */
  patch: string;
  /** `git diff --stat` style summary, with the same notes. */
  stat: string;
}

/** Options for {@link StagedWorkspace.diff}. */
export interface DiffOptions {
  /** Skip rendering the patch text (for `--stat`); default true. */
  patch?: boolean;
  /** Files larger than this many bytes are not put in the patch; default 16 MiB. */
  maxFileBytes?: number;
  /** Content (both sides) the whole patch may hold; later files are listed as not shown. Default 64 MiB. */
  maxPatchBytes?: number;
}

/** Options for {@link StagedWorkspace.apply}. */
export interface ApplyOptions {
  /** Apply protected changes too. Without it, apply refuses when any change is protected. */
  allowProtected?: boolean;
  /** Check everything and report, but write nothing. */
  dryRun?: boolean;
  /** Refuse unless the changes are exactly those of a diff with this fingerprint. */
  expectFingerprint?: string;
}

/** A path in an apply report with why it was skipped. */
export interface SkippedPath {
  path: string;
  reason: string;
}

/** The outcome of apply: a value, not an exception, for the two expected refusals. */
export type ApplyResult =
  | {
      status: 'applied';
      dryRun: boolean;
      /** Files, symlinks and directories created or replaced. */
      written: string[];
      deleted: string[];
      /** Entries whose permission bits alone changed. */
      modeChanged: string[];
      /** Already equal in the project (applied before, or made the same by the user). */
      alreadyApplied: string[];
      /** Never applied as such (symlinks out of the project, hard links, devices, FIFOs). */
      rejected: SkippedPath[];
      /** Not applied without `allowProtected`: repository internals under `.git/`. */
      skipped: SkippedPath[];
      /** Things a person should know (setuid bits dropped, ...). */
      notes: string[];
    }
  | {
      status: 'refused';
      /** `changed-since-review`: the fingerprint differs from `expectFingerprint`. */
      reason: 'conflicts' | 'protected' | 'changed-since-review';
      conflicts: WorkspaceConflict[];
      protected: { path: string; category: ProtectedCategory; reason: string }[];
      rejected: SkippedPath[];
    };

/** A git identity. */
export interface GitIdentity {
  name: string;
  email: string;
}

/** Options for {@link StagedWorkspace.exportBranch}. */
export interface ExportOptions {
  /** Commit author; default the agent given at staging time. */
  author?: GitIdentity;
  /** Committer; default the author. */
  committer?: GitIdentity;
  /** Commit message; default a summary naming the session. */
  message?: string;
  /** Export protected changes too (CI workflows, agent and IDE configs, package scripts). */
  allowProtected?: boolean;
  /** Refuse unless the changes are exactly those of a diff with this fingerprint. */
  expectFingerprint?: string;
}

/** The outcome of export. */
export type ExportResult =
  | {
      status: 'exported';
      branch: string;
      commit: string;
      /** The commit the branch starts from (HEAD at staging time), null for an unborn branch. */
      base: string | null;
      files: string[];
      skipped: SkippedPath[];
    }
  | {
      status: 'refused';
      reason: 'protected' | 'nothing-to-export' | 'changed-since-review';
      protected: { path: string; category: ProtectedCategory; reason: string }[];
      skipped: SkippedPath[];
    };

/** What staging learned about the project's git repository. */
export interface GitBaseInfo {
  /** Absolute top level of the work tree. */
  topLevel: string;
  /** Absolute git directory. */
  gitDir: string;
  /** The project's path inside the repository (`''` or `sub/dir/`). */
  prefix: string;
  /** HEAD commit at staging time, null on an unborn branch. */
  head: string | null;
  /** The branch HEAD named at staging time, null when detached. */
  branch: string | null;
}

/** Lifecycle of a staged workspace. */
export type WorkspaceState = 'active' | 'sealed';

/** A staged copy of a project for one session. */
export interface StagedWorkspace {
  readonly sessionId: string;
  /** The user's project (real path). */
  readonly projectDir: string;
  /** The directory holding everything of this staged workspace. */
  readonly stagingDir: string;
  /** The host directory to bind at /workspace in the sandbox. */
  readonly mountDir: string;
  readonly strategy: WorkspaceStrategy;
  /** Why this strategy was chosen (the fallback reason for `copy` under `auto`). */
  readonly strategyReason: string;
  /** The project's repository at staging time, null when it is not in one. */
  readonly git: GitBaseInfo | null;
  /** Current lifecycle state (read from the metadata, so another process's seal shows). */
  state(): Promise<WorkspaceState>;
  /** Every change with conflicts, without rendering. */
  changes(): Promise<WorkspaceChangeSet>;
  /** Structured changes plus git-style patch and stat. */
  diff(options?: DiffOptions): Promise<WorkspaceDiff>;
  /** Writes the agent's changes into the project, or refuses with a report. */
  apply(options?: ApplyOptions): Promise<ApplyResult>;
  /** Commits the agent's changes on a new branch of the project's repository; touches no work tree. */
  exportBranch(name: string, options?: ExportOptions): Promise<ExportResult>;
  /** Call once the sandbox has stopped: unmounts the overlay so the staged tree is frozen. */
  seal(): Promise<void>;
  /** Mounts the overlay again after a seal (to run a sandbox on the same staged tree). */
  resume(): Promise<void>;
  /** Unmounts and deletes the staged tree; the project is untouched. */
  discard(): Promise<void>;
}

/** Options for `createStagedWorkspace`. */
export interface CreateStagedWorkspaceOptions {
  /** The user's project directory. */
  projectDir: string;
  /** Where staged workspaces live (one directory per session), e.g. `$AIRLOCK_HOME/workspaces`. */
  stagingRoot: string;
  /** The session id; names the staging directory. `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. */
  sessionId: string;
  /** `auto` (default): overlay when this process can mount it, else a copy. */
  strategy?: WorkspaceStrategyChoice;
  /** The agent, used as the default author of `exportBranch`. */
  agent?: GitIdentity;
}
