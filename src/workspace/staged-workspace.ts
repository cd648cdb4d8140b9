/**
 * Creating and reopening staged workspaces. See docs/workspace.md for the design.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { AirlockError, isErrnoException } from '../errors/index.js';
import { applyScan } from './apply.js';
import { renderDiff } from './diff.js';
import { exportScan } from './export.js';
import { gitInfoFor } from './git.js';
import { parseSnapshot, serializeFlat, walkFlat, type FlatSnapshot, type TreeSnapshot } from './manifest.js';
import {
  FILES,
  readMetadata,
  withLock,
  writeAtomic,
  writeMetadata,
  type WorkspaceMetadata,
} from './metadata.js';
import {
  isMountPoint,
  mountOverlay,
  overlayPathProblem,
  overlayUnavailableReason,
  unmount,
} from './overlay.js';
import { isInsideOrSame, validateSessionId } from './paths.js';
import { changeSetOf, fingerprintOf, scanWorkspace, type ScanResult } from './scan.js';
import type {
  ApplyOptions,
  ApplyResult,
  CreateStagedWorkspaceOptions,
  DiffOptions,
  ExportOptions,
  ExportResult,
  GitBaseInfo,
  StagedWorkspace,
  WorkspaceChangeSet,
  WorkspaceDiff,
  WorkspaceState,
  WorkspaceStrategy,
} from './types.js';

const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_PATCH_BYTES = 64 * 1024 * 1024;

function invalid(message: string, hint: string): AirlockError {
  return new AirlockError('E_WORKSPACE_INVALID', message, { hint });
}

function copyTree(from: string, to: string): Promise<void> {
  return new Promise((done, fail) => {
    // -a: modes, times, links, ownership as root; -x: do not descend into other file systems
    // (the overlay does not show them either); --reflink=auto: copy-on-write where the file
    // system can (btrfs, xfs), a plain copy elsewhere.
    execFile(
      'cp',
      ['-a', '-x', '--reflink=auto', '--no-target-directory', '--', from, to],
      { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, maxBuffer: 1024 * 1024 },
      (err, _out, stderr) => {
        if (err === null) done();
        else {
          fail(
            new AirlockError(
              'E_WORKSPACE_STAGE_FAILED',
              `copying ${from} to ${to} failed: ${stderr.trim().split('\n').slice(0, 5).join('; ') || err.message}`,
              {
                hint: 'Make sure every file of the project is readable and the staging root has space, then start the session again.',
                cause: err,
              },
            ),
          );
        }
      },
    );
  });
}

/**
 * Stages `projectDir` for a session: records the baseline manifest, then mounts an overlay
 * (project as the read-only lower layer) or makes a copy. Bind `mountDir` at /workspace.
 */
export async function createStagedWorkspace(options: CreateStagedWorkspaceOptions): Promise<StagedWorkspace> {
  const sessionId = validateSessionId(options.sessionId);
  const choice = options.strategy ?? 'auto';
  if (!['auto', 'overlay', 'copy'].includes(choice)) {
    throw new AirlockError(
      'E_CONFIG_INVALID',
      `workspace.strategy: ${JSON.stringify(choice)} is not one of "auto", "overlay", "copy"`,
      {
        hint: 'Leave it unset (auto) unless you need one strategy.',
      },
    );
  }
  let projectDir: string;
  try {
    projectDir = realpathSync(resolve(options.projectDir));
  } catch {
    throw invalid(
      `workspace.projectDir: ${options.projectDir} does not exist`,
      'Pass the directory of the project the agent should work on.',
    );
  }
  const projectSt = statSync(projectDir);
  if (!projectSt.isDirectory())
    throw invalid(
      `workspace.projectDir: ${projectDir} is not a directory`,
      'Pass the project directory, not a file.',
    );
  if (projectDir === '/')
    throw invalid(
      'workspace.projectDir: refusing to stage the whole file system (/)',
      'Pass the project directory.',
    );
  if (options.stagingRoot === '')
    throw invalid('workspace.stagingRoot is empty', 'Pass a directory such as $AIRLOCK_HOME/workspaces.');
  mkdirSync(resolve(options.stagingRoot), { recursive: true, mode: 0o700 });
  const stagingRoot = realpathSync(resolve(options.stagingRoot));
  const stagingDir = join(stagingRoot, sessionId);
  if (isInsideOrSame(projectDir, stagingDir) || isInsideOrSame(stagingDir, projectDir)) {
    throw invalid(
      `workspace.stagingRoot: ${stagingRoot} overlaps the project ${projectDir}`,
      'Keep staged workspaces outside the project (the default is under $AIRLOCK_HOME).',
    );
  }
  try {
    mkdirSync(stagingDir, { mode: 0o700 });
  } catch (err) {
    if (isErrnoException(err) && err.code === 'EEXIST') {
      throw new AirlockError(
        'E_SESSION_EXISTS',
        `a staged workspace for session ${sessionId} already exists at ${stagingDir}`,
        {
          hint: 'Discard it first (`airlock discard SESSION`) or use a new session id.',
        },
      );
    }
    throw err;
  }

  let mounting: Promise<string | Error> | null = null;
  try {
    let strategy: WorkspaceStrategy;
    let reason: string;
    let overlayOptions: string | null = null;
    const overlayBlocker =
      overlayUnavailableReason() ?? overlayPathProblem(projectDir) ?? overlayPathProblem(stagingDir);
    if (choice === 'copy') {
      strategy = 'copy';
      reason = 'copy was asked for';
    } else if (overlayBlocker !== null) {
      if (choice === 'overlay') {
        throw new AirlockError(
          'E_WORKSPACE_STAGE_FAILED',
          `workspace.strategy "overlay" is not possible here: ${overlayBlocker}`,
          {
            hint: 'Use strategy "auto" (falls back to a copy) or run airlock where it may mount overlayfs.',
          },
        );
      }
      strategy = 'copy';
      reason = `overlay unavailable (${overlayBlocker}); copied instead`;
    } else {
      strategy = 'overlay';
      reason = 'overlayfs: the project is the read-only lower layer';
    }

    // git and mount run in other processes while this one walks the tree. For an overlay
    // the order does not matter (the mount never changes the lower layer and nothing runs
    // in it yet); a copy is made only after the walk (see below).
    const gitP = gitInfoFor(projectDir);
    const upper = join(stagingDir, FILES.upper);
    const work = join(stagingDir, FILES.work);
    const merged = join(stagingDir, FILES.merged);
    if (strategy === 'overlay') {
      mkdirSync(upper, { mode: 0o700 });
      mkdirSync(work, { mode: 0o700 });
      mkdirSync(merged, { mode: 0o700 });
      // The merged root takes the upper root's attributes: make it look like the project's.
      chmodSync(upper, projectSt.mode & 0o7777);
      if (process.geteuid?.() === 0) chownSync(upper, projectSt.uid, projectSt.gid);
      mounting = mountOverlay({ lower: projectDir, upper, work, merged }, `airlock-${sessionId}`).catch(
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
    }
    // The baseline is taken before any copy: a project file that changes after this point
    // no longer matches it, and apply then reports a conflict instead of overwriting an
    // edit it never saw.
    const baseline = await walkFlat(projectDir);
    if (mounting !== null) {
      const mounted = await mounting;
      mounting = null;
      if (mounted instanceof Error) {
        if (choice === 'overlay') throw mounted;
        rmSync(upper, { recursive: true, force: true });
        rmSync(work, { recursive: true, force: true });
        rmSync(merged, { recursive: true, force: true });
        strategy = 'copy';
        reason = `overlay mount failed (${mounted.message}); copied instead`;
      } else overlayOptions = mounted;
    }
    let staged: FlatSnapshot | null = null;
    if (strategy === 'copy') {
      const tree = join(stagingDir, FILES.tree);
      await copyTree(projectDir, tree);
      staged = await walkFlat(tree);
    }
    writeAtomic(join(stagingDir, FILES.baseline), serializeFlat(baseline));
    if (staged !== null) writeAtomic(join(stagingDir, FILES.staged), serializeFlat(staged));
    const meta: WorkspaceMetadata = {
      version: 1,
      sessionId,
      projectDir,
      projectDev: projectSt.dev,
      projectIno: projectSt.ino,
      strategy,
      strategyReason: reason,
      overlayOptions,
      createdAt: new Date().toISOString(),
      state: 'active',
      agent: options.agent ?? null,
      git: await gitP,
      opaqueDirs: null,
    };
    writeMetadata(stagingDir, meta);
    // The manifests are parsed into maps only when something scans.
    return new Staged(stagingDir, meta, null, null);
  } catch (err) {
    if (mounting !== null) await mounting;
    await unmount(join(stagingDir, FILES.merged)).catch(() => undefined);
    if (!isMountPoint(join(stagingDir, FILES.merged))) rmSync(stagingDir, { recursive: true, force: true });
    throw err;
  }
}

/** Reopens a staged workspace from its staging directory (another process may have made it). */
export function openStagedWorkspace(stagingDir: string): StagedWorkspace {
  const dir = resolve(stagingDir);
  return new Staged(dir, readMetadata(dir), null, null);
}

class Staged implements StagedWorkspace {
  readonly sessionId: string;
  readonly projectDir: string;
  readonly mountDir: string;
  readonly strategy: WorkspaceStrategy;
  readonly strategyReason: string;
  readonly git: GitBaseInfo | null;

  constructor(
    readonly stagingDir: string,
    private meta: WorkspaceMetadata,
    private baseline: TreeSnapshot | null,
    private staged: TreeSnapshot | null,
  ) {
    this.sessionId = meta.sessionId;
    this.projectDir = meta.projectDir;
    this.strategy = meta.strategy;
    this.strategyReason = meta.strategyReason;
    this.git = meta.git;
    this.mountDir = join(stagingDir, meta.strategy === 'overlay' ? FILES.merged : FILES.tree);
  }

  private reload(): WorkspaceMetadata {
    this.meta = readMetadata(this.stagingDir);
    return this.meta;
  }

  private loadSnapshot(file: string): TreeSnapshot {
    const path = join(this.stagingDir, file);
    try {
      return parseSnapshot(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new AirlockError(
        'E_WORKSPACE_METADATA',
        `${path}: ${err instanceof Error ? err.message : String(err)}`,
        {
          hint: 'The manifest is damaged; discard the session and stage it again.',
          cause: err,
        },
      );
    }
  }

  private layers(): { lower: string; upper: string; work: string; merged: string } {
    return {
      lower: this.projectDir,
      upper: join(this.stagingDir, FILES.upper),
      work: join(this.stagingDir, FILES.work),
      merged: join(this.stagingDir, FILES.merged),
    };
  }

  private async scan(): Promise<ScanResult> {
    const meta = this.reload();
    if (meta.strategy === 'overlay' && this.upperIsEmpty(meta)) {
      // Every write, delete, chmod or rename in an overlay leaves an entry in the upper
      // layer: an empty one means no change, and the baseline (the costly part to load on a
      // large project) is not needed. The common `airlock run -- npm test` ends here.
      return { changes: [], conflicts: [], alreadyApplied: [], opaqueDirs: [], fingerprint: fingerprintOf([]) };
    }
    this.baseline ??= this.loadSnapshot(FILES.baseline);
    if (meta.strategy === 'copy') this.staged ??= this.loadSnapshot(FILES.staged);
    let mergedDir: string | null = null;
    if (meta.strategy === 'overlay' && meta.state === 'active') {
      const l = this.layers();
      // After a reboot or a crash the mount is gone; opaqueness needs the merged view.
      if (!isMountPoint(l.merged)) await mountOverlay(l, `airlock-${meta.sessionId}`);
      mergedDir = l.merged;
    }
    return scanWorkspace({
      strategy: meta.strategy,
      projectDir: meta.projectDir,
      projectDev: meta.projectDev,
      projectIno: meta.projectIno,
      stagedDir: join(this.stagingDir, meta.strategy === 'overlay' ? FILES.upper : FILES.tree),
      baseline: this.baseline,
      staged: this.staged,
      mergedDir,
      opaqueDirs: meta.strategy === 'overlay' && meta.state === 'sealed' ? (meta.opaqueDirs ?? []) : null,
    });
  }

  private upperIsEmpty(meta: WorkspaceMetadata): boolean {
    try {
      // The project must still be the staged directory, as the full scan checks.
      const st = statSync(meta.projectDir);
      if (st.dev !== meta.projectDev || st.ino !== meta.projectIno) return false;
      return readdirSync(join(this.stagingDir, FILES.upper)).length === 0;
    } catch {
      return false; // let the full scan report what is wrong
    }
  }

  private stagedRoot(): string {
    return join(this.stagingDir, this.meta.strategy === 'overlay' ? FILES.upper : FILES.tree);
  }

  async state(): Promise<WorkspaceState> {
    return Promise.resolve(this.reload().state);
  }

  async changes(): Promise<WorkspaceChangeSet> {
    return changeSetOf(await this.scan());
  }

  async diff(options: DiffOptions = {}): Promise<WorkspaceDiff> {
    const scan = await this.scan();
    return renderDiff({
      sessionId: this.sessionId,
      strategy: this.strategy,
      projectDir: this.projectDir,
      projectDev: this.meta.projectDev,
      stagedDir: this.stagedRoot(),
      tmpDir: join(this.stagingDir, FILES.tmp),
      scan,
      patch: options.patch ?? true,
      maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
      maxPatchBytes: options.maxPatchBytes ?? DEFAULT_MAX_PATCH_BYTES,
    });
  }

  async apply(options: ApplyOptions = {}): Promise<ApplyResult> {
    return withLock(this.stagingDir, 'apply', async () =>
      applyScan({
        projectDir: this.projectDir,
        projectDev: this.meta.projectDev,
        projectIno: this.meta.projectIno,
        stagedDir: this.stagedRoot(),
        scan: await this.scan(),
        allowProtected: options.allowProtected === true,
        dryRun: options.dryRun === true,
        expectFingerprint: options.expectFingerprint ?? null,
      }),
    );
  }

  async exportBranch(name: string, options: ExportOptions = {}): Promise<ExportResult> {
    return withLock(this.stagingDir, 'export', async () =>
      exportScan({
        sessionId: this.sessionId,
        git: this.git,
        stagedDir: this.stagedRoot(),
        scan: await this.scan(),
        branch: name,
        agent: this.meta.agent,
        options,
      }),
    );
  }

  async seal(): Promise<void> {
    await withLock(this.stagingDir, 'seal', async () => {
      const meta = this.reload();
      if (meta.state === 'sealed') return;
      let opaque: string[] | null = null;
      if (meta.strategy === 'overlay') {
        opaque = (await this.scan()).opaqueDirs;
        await unmount(this.layers().merged);
      }
      writeMetadata(this.stagingDir, { ...meta, state: 'sealed', opaqueDirs: opaque });
      this.reload();
    });
  }

  async resume(): Promise<void> {
    await withLock(this.stagingDir, 'resume', async () => {
      const meta = this.reload();
      if (meta.state === 'active') return;
      if (meta.strategy === 'overlay') {
        const l = this.layers();
        if (!isMountPoint(l.merged)) await mountOverlay(l, `airlock-${meta.sessionId}`);
      }
      writeMetadata(this.stagingDir, { ...meta, state: 'active', opaqueDirs: null });
      this.reload();
    });
  }

  async discard(): Promise<void> {
    await withLock(this.stagingDir, 'discard', async () => {
      this.reload();
      const merged = join(this.stagingDir, FILES.merged);
      await unmount(merged);
      if (isMountPoint(merged)) {
        throw new AirlockError('E_WORKSPACE_STATE', `${merged} is still mounted`, {
          hint: 'Stop the session first, then discard it.',
        });
      }
      // Remove the metadata first: a crash half-way leaves a directory without a staged
      // workspace in it, never a workspace whose tree is half gone.
      rmSync(join(this.stagingDir, FILES.metadata), { force: true });
      rmSync(this.stagingDir, { recursive: true, force: true });
    });
    if (existsSync(this.stagingDir) && lstatSync(this.stagingDir).isDirectory()) {
      throw new AirlockError('E_WORKSPACE_STATE', `could not remove ${this.stagingDir}`, {
        hint: 'Remove it by hand.',
      });
    }
  }
}
