/**
 * The glue between sessions and the workspace part: a session's /workspace is a staged
 * copy of the project (overlay or copy, chosen by src/workspace), so nothing the agent
 * writes reaches the project before a person applies it. This file stages, finds a
 * session's staged workspace again (by name or id, from any process), summarises what
 * changed for `airlock run`, and sweeps what dead sessions left behind.
 *
 * Lifetimes (docs/workspace.md, "Sessions and the staged workspace"):
 * - a session's staged workspace lives at `<stateDir>/workspaces/<sessionId>`;
 * - `Session.destroy()` seals it (unmounts the overlay: the tree is frozen) and keeps it;
 * - an ephemeral session's is kept until applied or discarded, and at most
 *   {@link STAGED_RETENTION_MS} after it was sealed (a later session sweeps it);
 * - a named session's is kept until `airlock session rm` (or a discard).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError, isAirlockError } from '../errors/index.js';
import {
  createStagedWorkspace,
  openStagedWorkspace,
  type ApplyResult,
  type GitIdentity,
  type ProtectedCategory,
  type RejectKind,
  type StagedWorkspace,
  type WorkspaceConflict,
  type WorkspaceStrategy,
  type WorkspaceStrategyChoice,
} from '../workspace/index.js';

/** How a session's /workspace relates to the project, as asked for in {@link SessionOptions}. */
export type WorkspaceMode = 'staged' | 'direct';

/**
 * How a session's /workspace relates to the project: `staged` (a staged copy; the project
 * changes only on apply), `direct` (the project itself, read-write), `read-only` (the
 * project itself, read-only: nothing can change, so nothing is staged).
 */
export type SessionWorkspaceMode = WorkspaceMode | 'read-only';

/** Staging options of a session (only for `workspaceMode: 'staged'`). */
export interface SessionStagingOptions {
  /** `auto` (default): overlayfs where this process may mount it, else a copy. */
  strategy?: WorkspaceStrategyChoice;
  /** The agent, the default author when the changes are exported to a branch. */
  agent?: GitIdentity;
}

/** How long an ephemeral session's staged workspace is kept after it was sealed: 7 days. */
export const STAGED_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

const SESSION_ID = /^s[0-9a-f]{12}$/;

/** Where staged workspaces of sessions live. */
export function stagingRootOf(stateDir: string): string {
  return join(stateDir, 'workspaces');
}

/** Checks a `workspaceMode` option; throws E_CONFIG_INVALID on anything else. */
export function checkWorkspaceMode(mode: unknown): WorkspaceMode {
  if (mode === undefined) return 'staged';
  if (mode === 'staged' || mode === 'direct') return mode;
  throw new AirlockError('E_CONFIG_INVALID', `workspaceMode: ${JSON.stringify(mode)} is not one of "staged", "direct"`, {
    hint: 'Leave it unset (staged: the project changes only when you apply), or pass "direct" to bind the project read-write.',
  });
}

/** Stages a vetted project directory for a session. */
export function stageWorkspace(
  projectDir: string,
  stateDir: string,
  sessionId: string,
  options: SessionStagingOptions = {},
): Promise<StagedWorkspace> {
  return createStagedWorkspace({
    projectDir,
    stagingRoot: stagingRootOf(stateDir),
    sessionId,
    ...(options.strategy === undefined ? {} : { strategy: options.strategy }),
    ...(options.agent === undefined ? {} : { agent: options.agent }),
  });
}

interface NamedRecordLite {
  id: string;
  name: string;
  workspaceMode?: SessionWorkspaceMode;
}

function namedRecords(stateDir: string): NamedRecordLite[] {
  const dir = join(stateDir, 'sessions');
  let ids: string[];
  try {
    ids = readdirSync(dir);
  } catch {
    return [];
  }
  const out: NamedRecordLite[] = [];
  for (const id of ids) {
    try {
      const rec = JSON.parse(readFileSync(join(dir, id, 'session.json'), 'utf8')) as Partial<NamedRecordLite>;
      if (typeof rec.id === 'string' && typeof rec.name === 'string') {
        out.push({ id: rec.id, name: rec.name, ...(rec.workspaceMode === undefined ? {} : { workspaceMode: rec.workspaceMode }) });
      }
    } catch {
      // ephemeral session or a record being written
    }
  }
  return out;
}

/**
 * Opens the staged workspace of a session, named (`airlock session create --name`) or
 * ephemeral (the id `airlock run` printed), from any process. Throws E_SESSION_NOT_FOUND
 * when there is no such session, E_WORKSPACE_NOT_FOUND when it has no staged workspace
 * (direct or read-only, already applied by `run --apply`, discarded, or swept).
 */
export function openSessionWorkspace(stateDir: string, nameOrId: string): StagedWorkspace {
  const named = namedRecords(stateDir);
  const hit = named.find((r) => r.name === nameOrId) ?? named.find((r) => r.id === nameOrId);
  if (hit === undefined && !SESSION_ID.test(nameOrId)) {
    throw new AirlockError('E_SESSION_NOT_FOUND', `no session named ${JSON.stringify(nameOrId)}`, {
      hint:
        'Pass the session id that `airlock run` printed (s followed by 12 hex digits) or the name of a named session' +
        (named.length === 0 ? '.' : ` (known: ${named.map((r) => r.name).join(', ')}).`),
    });
  }
  const id = hit?.id ?? nameOrId;
  if (hit?.workspaceMode === 'direct' || hit?.workspaceMode === 'read-only') {
    throw new AirlockError('E_WORKSPACE_NOT_FOUND', `session ${hit.name} has no staged workspace: it works on the project ${hit.workspaceMode === 'direct' ? 'directly' : 'read-only'}`, {
      hint: 'Its changes, if any, are already in the project; review them with your own tools (git diff).',
    });
  }
  try {
    return openStagedWorkspace(join(stagingRootOf(stateDir), id));
  } catch (err) {
    if (isAirlockError(err) && err.code === 'E_WORKSPACE_NOT_FOUND') {
      throw new AirlockError('E_WORKSPACE_NOT_FOUND', `session ${nameOrId} has no staged workspace`, {
        hint:
          'It was applied (`airlock run --apply`), discarded, swept after 7 days, never existed, or ran with --direct or --read-only. ' +
          '`airlock session ls` lists named sessions.',
        cause: err,
      });
    }
    throw err;
  }
}

/** One protected change in a {@link ChangeSummary}. */
export interface SummaryProtected {
  path: string;
  category: ProtectedCategory;
  reason: string;
}

/** One rejected entry in a {@link ChangeSummary} (never applied as such). */
export interface SummaryRejected {
  path: string;
  kind: RejectKind;
  reason: string;
}

/** What an agent changed in a staged workspace, by path, for a short report. */
export interface ChangeSummary {
  sessionId: string;
  projectDir: string;
  strategy: WorkspaceStrategy;
  added: string[];
  /** Modified, including type changes (a file that became a symlink). */
  modified: string[];
  deleted: string[];
  /** Changes apply refuses without `allowProtected` (hooks, CI, agent and IDE configs, package scripts, ...). */
  protected: SummaryProtected[];
  /** Repository internals under `.git/` (index, objects): skipped by apply unless `allowProtected`. */
  gitInternal: string[];
  /** Symlinks out of the project, hard links, devices, FIFOs: never applied as such. */
  rejected: SummaryRejected[];
  /** Where the project changed after staging under a path the agent changed too. */
  conflicts: WorkspaceConflict[];
  /** Identifies exactly these changes (see `ApplyOptions.expectFingerprint`). */
  fingerprint: string;
  /** Number of changed paths. */
  total: number;
}

/** Summarises a staged workspace's changes (no patch rendering: cheap). */
export async function summarizeChanges(ws: StagedWorkspace): Promise<ChangeSummary> {
  const set = await ws.changes();
  const s: ChangeSummary = {
    sessionId: ws.sessionId,
    projectDir: ws.projectDir,
    strategy: ws.strategy,
    added: [],
    modified: [],
    deleted: [],
    protected: [],
    gitInternal: [],
    rejected: [],
    conflicts: set.conflicts,
    fingerprint: set.fingerprint,
    total: set.changes.length,
  };
  for (const c of set.changes) {
    if (c.status === 'added') s.added.push(c.path);
    else if (c.status === 'deleted') s.deleted.push(c.path);
    else s.modified.push(c.path);
    if (c.protected !== null) {
      if (c.protected.category === 'git-internal') s.gitInternal.push(c.path);
      else s.protected.push({ path: c.path, ...c.protected });
    }
    if (c.rejected !== null) s.rejected.push({ path: c.path, ...c.rejected });
  }
  return s;
}

const LIST_MAX = 20;

/**
 * A short human report of a {@link ChangeSummary}: counts, the changed paths (protected,
 * rejected and conflicting ones called out), and the exact commands to review and land
 * them. `ref` is what to pass to those commands (a session name or id).
 */
export function describeChanges(s: ChangeSummary, ref: string): string {
  const lines: string[] = [];
  const count = (n: number, what: string): string => `${n} ${what}`;
  lines.push(
    `airlock: the agent changed ${count(s.total, s.total === 1 ? 'path' : 'paths')} in the staged workspace ` +
      `(${count(s.added.length, 'added')}, ${count(s.modified.length, 'modified')}, ${count(s.deleted.length, 'deleted')}); ` +
      `${s.projectDir} is untouched.`,
  );
  const marks = new Map<string, string>();
  for (const p of s.protected) marks.set(p.path, `PROTECTED [${p.category}] ${p.reason}`);
  for (const p of s.gitInternal) marks.set(p, 'repository internals (skipped unless --allow-protected)');
  for (const r of s.rejected) marks.set(r.path, `REJECTED [${r.kind}] ${r.reason} (never applied)`);
  for (const c of s.conflicts) marks.set(c.path, `CONFLICT [${c.kind}] ${c.detail}`);
  const rows: string[] = [];
  const push = (tag: string, paths: string[]): void => {
    for (const p of paths) {
      const m = marks.get(p);
      rows.push(`  ${tag.padEnd(9)}${p}${m === undefined ? '' : `  ${m}`}`);
    }
  };
  push('added', s.added);
  push('modified', s.modified);
  push('deleted', s.deleted);
  // Flagged rows first, so a long list never hides them.
  rows.sort((a, b) => Number(!/ {2}(PROTECTED|REJECTED|CONFLICT)/.test(a)) - Number(!/ {2}(PROTECTED|REJECTED|CONFLICT)/.test(b)));
  lines.push(...rows.slice(0, LIST_MAX));
  if (rows.length > LIST_MAX) lines.push(`  … and ${rows.length - LIST_MAX} more (see the diff)`);
  if (s.protected.length > 0) {
    lines.push(`  ${s.protected.length} protected change(s) could run code later on this machine; apply refuses them without --allow-protected.`);
  }
  if (s.conflicts.length > 0) {
    lines.push(`  ${s.conflicts.length} conflict(s): the project changed under the session; apply refuses until they are settled.`);
  }
  lines.push(`Review:   airlock diff ${ref}`);
  lines.push(`Apply:    airlock apply ${ref}${s.protected.length > 0 ? '   (add --allow-protected to include the protected changes)' : ''}`);
  lines.push(`Discard:  airlock discard ${ref}`);
  return `${lines.join('\n')}\n`;
}

/** What {@link sweepStagedWorkspaces} needs from the session layer. */
export interface SweepOptions {
  /** True while the session's owning process runs (its workspace is in use). */
  isLive(sessionId: string): boolean;
  /** Default {@link STAGED_RETENTION_MS}. */
  retentionMs?: number;
  /** Default Date.now(). */
  now?: number;
}

/**
 * Housekeeping for staged workspaces of ephemeral sessions whose process is gone: one left
 * active (its process was killed) is sealed, so its overlay is unmounted; one sealed longer
 * than the retention is discarded. Named sessions' workspaces are left to `session rm`.
 * Best effort: a workspace that cannot be handled now is left for the next sweep.
 */
export async function sweepStagedWorkspaces(stateDir: string, options: SweepOptions): Promise<void> {
  const root = stagingRootOf(stateDir);
  let ids: string[];
  try {
    ids = readdirSync(root);
  } catch {
    return;
  }
  const now = options.now ?? Date.now();
  const retention = options.retentionMs ?? STAGED_RETENTION_MS;
  for (const id of ids) {
    if (!SESSION_ID.test(id) || options.isLive(id)) continue;
    try {
      statSync(join(stateDir, 'sessions', id, 'session.json'));
      continue; // named: kept until `airlock session rm`
    } catch {
      // ephemeral
    }
    try {
      const ws = openStagedWorkspace(join(root, id));
      if ((await ws.state()) === 'active') {
        await ws.seal();
        continue;
      }
      const sealedAt = statSync(join(root, id, 'workspace.json')).mtimeMs;
      if (now - sealedAt > retention) await ws.discard();
    } catch {
      // busy, damaged or half-created: the next sweep tries again
    }
  }
}

/** What to do with a staged workspace when an ephemeral run ends. */
export type StagedRunAction = 'keep' | 'apply' | 'discard';

/** The outcome of {@link finishStagedRun}. */
export type StagedRunOutcome =
  /** Nothing changed; the staged workspace was discarded. */
  | { kind: 'unchanged' }
  /** Kept for review (`airlock diff|apply|discard ID`). `applySkipped`: apply was asked for but the command failed. */
  | { kind: 'kept'; summary: ChangeSummary; applySkipped: boolean }
  /** Applied (exactly the summarized changes) and then discarded. */
  | { kind: 'applied'; summary: ChangeSummary; result: Extract<ApplyResult, { status: 'applied' }> }
  /** Apply refused (conflicts, protected changes); kept for review. */
  | { kind: 'refused'; summary: ChangeSummary; result: Extract<ApplyResult, { status: 'refused' }> }
  /** Discarded as asked. */
  | { kind: 'discarded'; summary: ChangeSummary };

/**
 * Settles a sealed staged workspace after an ephemeral run: discards it when nothing
 * changed; otherwise keeps it, applies it (only when the command succeeded; bound to the
 * summarized fingerprint, so nothing written after the summary lands), or discards it.
 */
export async function finishStagedRun(
  ws: StagedWorkspace,
  options: { action: StagedRunAction; commandSucceeded: boolean; allowProtected?: boolean },
): Promise<StagedRunOutcome> {
  const summary = await summarizeChanges(ws);
  if (summary.total === 0) {
    await ws.discard();
    return { kind: 'unchanged' };
  }
  switch (options.action) {
    case 'keep':
      return { kind: 'kept', summary, applySkipped: false };
    case 'discard':
      await ws.discard();
      return { kind: 'discarded', summary };
    case 'apply': {
      if (!options.commandSucceeded) return { kind: 'kept', summary, applySkipped: true };
      const result = await ws.apply({ allowProtected: options.allowProtected === true, expectFingerprint: summary.fingerprint });
      if (result.status === 'refused') return { kind: 'refused', summary, result };
      await ws.discard();
      return { kind: 'applied', summary, result };
    }
  }
}
