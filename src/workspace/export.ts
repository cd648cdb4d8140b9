/**
 * Exporting the agent's changes as a commit on a new branch of the project's repository.
 *
 * Plumbing only: one `git fast-import` writes the blobs, trees and the commit (parent:
 * HEAD at staging time) to a temporary ref, `git update-ref` creates the branch only if
 * it does not exist, and the temporary ref is deleted. No index, work tree or HEAD is
 * touched, and no hook runs (fast-import and update-ref run none but reference-transaction,
 * which `core.hooksPath=/dev/null` turns off). Blob content is streamed from the staged
 * tree by this process, so no clean/smudge filter runs either.
 *
 * The branch's tree is the base commit's tree with the agent's changes on top: each path
 * the agent changed takes the agent's version; everything else is as committed (a user's
 * uncommitted edits elsewhere are not swept in). Untracked paths ignored by the project's
 * .gitignore (node_modules/, build output) are left out, as `git add` would.
 */
import { randomBytes } from 'node:crypto';
import { AirlockError } from '../errors/index.js';
import { FastImportWriter, git, runGit, validateIdentity } from './git.js';
import { typeOfMode } from './manifest.js';
import { baseOf, foldSegment, parentOf } from './paths.js';
import { DirCache, openRegularAt, openRoot, readExactly } from './safe-fs.js';
import { gitMode } from './diff.js';
import type { ScanResult, ScannedChange } from './scan.js';
import type { ExportOptions, ExportResult, GitBaseInfo, GitIdentity, SkippedPath } from './types.js';

/** Inputs of {@link exportScan}. */
export interface ExportInput {
  sessionId: string;
  git: GitBaseInfo | null;
  stagedDir: string;
  scan: ScanResult;
  branch: string;
  agent: GitIdentity | null;
  options: ExportOptions;
}

const DEFAULT_AGENT: GitIdentity = { name: 'Airlock agent', email: 'agent@airlock.invalid' };

/** Validates a branch name with git's own rules; returns the ref. */
async function branchRef(info: GitBaseInfo, name: string): Promise<string> {
  if (name.startsWith('-') || name.trim() === '') {
    throw new AirlockError(
      'E_WORKSPACE_BRANCH',
      `export: ${JSON.stringify(name)} is not a valid branch name`,
      {
        hint: 'Name a branch such as "agent/fix-tests" (see `git check-ref-format --branch`).',
      },
    );
  }
  const r = await runGit(['check-ref-format', '--branch', name], { cwd: info.topLevel, userRepo: true });
  if (r.code !== 0) {
    throw new AirlockError(
      'E_WORKSPACE_BRANCH',
      `export: ${JSON.stringify(name)} is not a valid branch name`,
      {
        hint: 'Name a branch such as "agent/fix-tests" (see `git check-ref-format --branch`).',
      },
    );
  }
  const ref = `refs/heads/${r.stdout.toString('utf8').trim()}`;
  const exists = await runGit([`--git-dir=${info.gitDir}`, 'rev-parse', '-q', '--verify', ref], {
    userRepo: true,
  });
  if (exists.code === 0) {
    throw new AirlockError(
      'E_WORKSPACE_BRANCH',
      `export: the branch ${JSON.stringify(name)} already exists`,
      {
        hint: 'Choose a new branch name; export never moves an existing branch.',
      },
    );
  }
  return ref;
}

const hasGitSegment = (p: string): boolean => p.split('/').some((s) => foldSegment(s) === '.git');

/** Commits the agent's changes on a new branch. */
export async function exportScan(input: ExportInput): Promise<ExportResult> {
  const info = input.git;
  if (info === null) {
    throw new AirlockError(
      'E_WORKSPACE_NOT_GIT',
      `session ${input.sessionId}: the project was not in a git repository when it was staged`,
      {
        hint: 'Use `airlock diff` and `airlock apply` instead, or `git init` the project before starting a session.',
      },
    );
  }
  if (
    input.options.expectFingerprint !== undefined &&
    input.options.expectFingerprint !== input.scan.fingerprint
  ) {
    return { status: 'refused', reason: 'changed-since-review', protected: [], skipped: [] };
  }
  const author = validateIdentity(input.options.author ?? input.agent ?? DEFAULT_AGENT, 'export.author');
  const committer = validateIdentity(input.options.committer ?? author, 'export.committer');
  const ref = await branchRef(info, input.branch);
  const gd = `--git-dir=${info.gitDir}`;

  // What the base commit tracks under the project's prefix.
  const tracked = new Map<string, string>();
  const gitlinks: string[] = [];
  if (info.head !== null) {
    const out = await git([gd, 'ls-tree', '-r', '-z', '--full-tree', info.head], { userRepo: true });
    for (const rec of out.toString('utf8').split('\0')) {
      const tab = rec.indexOf('\t');
      if (tab < 0) continue;
      const [mode = ''] = rec.slice(0, tab).split(' ');
      const p = rec.slice(tab + 1);
      if (!p.startsWith(info.prefix)) continue;
      tracked.set(p.slice(info.prefix.length), mode);
      if (mode === '160000') gitlinks.push(p.slice(info.prefix.length));
    }
  }

  const skipped: SkippedPath[] = [];
  const candidates: ScannedChange[] = [];
  for (const c of input.scan.changes) {
    if (c.rejected !== null) skipped.push({ path: c.path, reason: c.rejected.reason });
    else if (hasGitSegment(c.path))
      skipped.push({ path: c.path, reason: 'repository internals are not content' });
    else if (gitlinks.some((g) => c.path === g || c.path.startsWith(`${g}/`)))
      skipped.push({ path: c.path, reason: 'inside a submodule' });
    else candidates.push(c);
  }

  const deletes = candidates.filter(
    (c) => c.baseline !== null && (c.agent === null || c.status === 'type-changed') && tracked.has(c.path),
  );
  let writes = candidates.filter((c) => c.agent !== null && gitMode(c.agent.mode) !== null);
  const untracked = writes.filter((c) => !tracked.has(c.path)).map((c) => `${info.prefix}${c.path}`);
  if (untracked.length > 0) {
    const r = await runGit(['check-ignore', '-z', '--stdin'], {
      cwd: info.topLevel,
      userRepo: true,
      input: async (stdin) => {
        const w = new FastImportWriter(stdin);
        await w.write(`${untracked.join('\0')}\0`);
      },
    });
    if (r.code !== 0 && r.code !== 1) {
      throw new AirlockError('E_GIT_FAILED', `git check-ignore failed (exit ${r.code}): ${r.stderr}`, {
        hint: 'Check the repository with `git status`.',
      });
    }
    const ignored = new Set(
      r.stdout
        .toString('utf8')
        .split('\0')
        .filter((p) => p !== ''),
    );
    writes = writes.filter((c) => {
      if (!ignored.has(`${info.prefix}${c.path}`)) return true;
      skipped.push({ path: c.path, reason: 'ignored by .gitignore' });
      return false;
    });
  }
  const exported = [...deletes, ...writes];
  const prot = exported
    .filter((c) => c.protected !== null)
    .map((c) => ({
      path: c.path,
      category: c.protected?.category ?? 'git-config',
      reason: c.protected?.reason ?? '',
    }));
  if (prot.length > 0 && input.options.allowProtected !== true)
    return { status: 'refused', reason: 'protected', protected: prot, skipped };
  if (exported.length === 0)
    return { status: 'refused', reason: 'nothing-to-export', protected: [], skipped };

  const tmpRef = `refs/airlock/export/${input.sessionId}-${randomBytes(4).toString('hex')}`;
  const message =
    input.options.message ?? `Changes by ${author.name} in airlock session ${input.sessionId}\n`;
  const staged = new DirCache(openRoot(input.stagedDir));
  try {
    await git([gd, 'fast-import', '--quiet', '--done'], {
      userRepo: true,
      input: async (stdin) => {
        const fi = new FastImportWriter(stdin);
        await fi.commit(
          tmpRef,
          author,
          committer,
          message.endsWith('\n') ? message : `${message}\n`,
          info.head,
          Math.floor(Date.now() / 1000),
        );
        for (const c of deletes) await fi.delete(`${info.prefix}${c.path}`);
        for (const c of writes) {
          const a = c.agent;
          if (a === null) continue;
          const mode = gitMode(a.mode) ?? '100644';
          const repoPath = `${info.prefix}${c.path}`;
          if (typeOfMode(a.mode) === 'symlink') {
            const data = Buffer.from(a.linkTarget ?? '');
            await fi.modify(mode, repoPath, data.length, data);
          } else {
            const { fh } = await openRegularAt(staged.dir(parentOf(c.path)), baseOf(c.path), c.path, a.ino);
            try {
              await fi.modify(mode, repoPath, a.size, readExactly(fh, a.size, c.path));
            } finally {
              await fh.close();
            }
          }
        }
        await fi.done();
      },
    });
    const commit = (await git([gd, 'rev-parse', '--verify', `${tmpRef}^{commit}`], { userRepo: true }))
      .toString('utf8')
      .trim();
    const created = await runGit(
      [gd, 'update-ref', '-m', `airlock export of session ${input.sessionId}`, ref, commit, ''],
      { userRepo: true },
    );
    if (created.code !== 0) {
      throw new AirlockError('E_WORKSPACE_BRANCH', `export: could not create ${ref}: ${created.stderr}`, {
        hint: 'The branch may have been created meanwhile; choose another name.',
      });
    }
    return {
      status: 'exported',
      branch: ref.slice('refs/heads/'.length),
      commit,
      base: info.head,
      files: exported.map((c) => c.path),
      skipped,
    };
  } finally {
    staged.close();
    await runGit([gd, 'update-ref', '-d', tmpRef], { userRepo: true }).catch(() => undefined);
  }
}
