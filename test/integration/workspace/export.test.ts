/**
 * Export: a commit on a new branch with the agent as author, parent = HEAD at staging,
 * no hooks run, the user's work tree, index and HEAD untouched.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportResult } from '../../../src/workspace/index.js';
import { cleanup, gitIn, gitProject, plainProject, stage, STRATEGIES, tmp } from './helpers.js';

afterAll(cleanup);

function exported(r: ExportResult): Extract<ExportResult, { status: 'exported' }> {
  if (r.status !== 'exported') throw new Error(`expected exported, got ${JSON.stringify(r)}`);
  return r;
}

/** Hooks that leave a marker if git ever runs them. */
function plantHooks(project: string): string {
  const marker = join(tmp('marker'), 'hook-ran');
  const hooks = join(project, '.git', 'hooks');
  mkdirSync(hooks, { recursive: true });
  for (const h of [
    'pre-commit',
    'commit-msg',
    'post-commit',
    'reference-transaction',
    'post-checkout',
    'pre-push',
    'post-rewrite',
    'prepare-commit-msg',
  ]) {
    writeFileSync(join(hooks, h), `#!/bin/sh\necho ${h} >> ${marker}\n`);
    chmodSync(join(hooks, h), 0o755);
  }
  return marker;
}

describe.each(STRATEGIES)('export with %s', (strategy) => {
  it('commits the agent changes on a new branch without touching the work tree or running hooks [workspace.export-no-hooks]', async () => {
    const project = gitProject({
      'a.txt': 'a\n',
      'b.txt': 'b\n',
      'dir/c.txt': 'c\n',
      'run.sh': '#!/bin/sh\n',
    });
    writeFileSync(join(project, 'user-wip.txt'), 'uncommitted\n');
    writeFileSync(join(project, 'b.txt'), 'user edit, uncommitted\n');
    const head = gitIn(project, ['rev-parse', 'HEAD']).trim();
    const marker = plantHooks(project);
    const ws = await stage(project, strategy);
    const m = ws.mountDir;
    writeFileSync(join(m, 'a.txt'), 'agent a\n');
    rmSync(join(m, 'dir/c.txt'));
    writeFileSync(join(m, 'new.txt'), 'agent new\n');
    chmodSync(join(m, 'run.sh'), 0o755);
    symlinkSync('a.txt', join(m, 'link'));

    const statusBefore = gitIn(project, ['status', '--porcelain']);
    const indexBefore = readFileSync(join(project, '.git/index'));
    const r = exported(await ws.exportBranch('agent/work'));
    expect(r.base).toBe(head);
    expect(r.files.sort()).toEqual(['a.txt', 'dir/c.txt', 'link', 'new.txt', 'run.sh']);

    expect(gitIn(project, ['rev-parse', 'agent/work']).trim()).toBe(r.commit);
    expect(gitIn(project, ['rev-parse', 'agent/work^']).trim()).toBe(head);
    expect(gitIn(project, ['log', '-1', '--format=%an <%ae>|%cn <%ce>', 'agent/work']).trim()).toBe(
      'Test Agent <agent@example.com>|Test Agent <agent@example.com>',
    );
    expect(gitIn(project, ['show', 'agent/work:a.txt'])).toBe('agent a\n');
    expect(gitIn(project, ['show', 'agent/work:new.txt'])).toBe('agent new\n');
    // The user's uncommitted edit to a file the agent did not touch is not swept in.
    expect(gitIn(project, ['show', 'agent/work:b.txt'])).toBe('b\n');
    expect(gitIn(project, ['ls-tree', 'agent/work', 'run.sh'])).toMatch(/^100755 blob/);
    expect(gitIn(project, ['ls-tree', 'agent/work', 'link'])).toMatch(/^120000 blob/);
    expect(gitIn(project, ['ls-tree', '-r', '--name-only', 'agent/work'])).not.toContain('dir/c.txt');
    expect(gitIn(project, ['ls-tree', '-r', '--name-only', 'agent/work'])).not.toContain('user-wip.txt');

    expect(gitIn(project, ['rev-parse', 'HEAD']).trim()).toBe(head);
    expect(gitIn(project, ['symbolic-ref', 'HEAD']).trim()).toBe('refs/heads/main');
    expect(gitIn(project, ['status', '--porcelain'])).toBe(statusBefore);
    expect(readFileSync(join(project, '.git/index')).equals(indexBefore)).toBe(true);
    expect(readFileSync(join(project, 'a.txt'), 'utf8')).toBe('a\n');
    expect(existsSync(marker)).toBe(false);
    // No temporary ref is left behind.
    expect(gitIn(project, ['for-each-ref', 'refs/airlock'])).toBe('');
    await ws.discard();
  });

  it('exports only what was reviewed when given the fingerprint of the diff [workspace.review-binding]', async () => {
    const project = gitProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'a.txt'), 'one\n');
    const fp = (await ws.diff()).fingerprint;
    writeFileSync(join(ws.mountDir, 'a.txt'), 'two\n');
    expect(await ws.exportBranch('late', { expectFingerprint: fp })).toMatchObject({
      status: 'refused',
      reason: 'changed-since-review',
    });
    expect(gitIn(project, ['branch', '--list', 'late'])).toBe('');
    await ws.discard();
  });

  it('never moves an existing branch and checks the name', async () => {
    const project = gitProject({ 'a.txt': 'a\n' });
    gitIn(project, ['branch', 'taken']);
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'a.txt'), 'x\n');
    await expect(ws.exportBranch('taken')).rejects.toMatchObject({ code: 'E_WORKSPACE_BRANCH' });
    for (const bad of ['-x', 'a..b', 'has space', 'x.lock', '']) {
      await expect(ws.exportBranch(bad)).rejects.toMatchObject({ code: 'E_WORKSPACE_BRANCH' });
    }
    expect(gitIn(project, ['rev-parse', 'taken']).trim()).toBe(gitIn(project, ['rev-parse', 'main']).trim());
    await ws.discard();
  });

  it('leaves out ignored files, repository internals and rejected entries; protected files need allowProtected', async () => {
    const project = gitProject({ '.gitignore': 'node_modules/\n*.log\n', 'src/a.ts': 'a\n' });
    const ws = await stage(project, strategy);
    const m = ws.mountDir;
    mkdirSync(join(m, 'node_modules/pkg'), { recursive: true });
    writeFileSync(join(m, 'node_modules/pkg/index.js'), 'x\n');
    writeFileSync(join(m, 'debug.log'), 'x\n');
    writeFileSync(join(m, 'src/a.ts'), 'agent\n');
    symlinkSync('/etc/passwd', join(m, 'evil'));
    mkdirSync(join(m, '.github/workflows'), { recursive: true });
    writeFileSync(join(m, '.github/workflows/ci.yml'), 'on: push\n');
    execFileSync(
      'git',
      ['-c', 'user.name=A', '-c', 'user.email=a@b', 'commit', '-qam', 'agent commit in sandbox'],
      {
        cwd: m,
        env: {
          PATH: process.env['PATH'] ?? '',
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_GLOBAL: '/dev/null',
          HOME: m,
        },
      },
    );

    const refused = await ws.exportBranch('agent/x');
    expect(refused).toMatchObject({ status: 'refused', reason: 'protected' });
    if (refused.status === 'refused')
      expect(refused.protected.map((p) => p.path)).toEqual(['.github/workflows/ci.yml']);
    expect(gitIn(project, ['branch', '--list', 'agent/x'])).toBe('');

    const r = exported(
      await ws.exportBranch('agent/x', { allowProtected: true, message: 'Agent work\n\nDetails.' }),
    );
    expect(r.files.sort()).toEqual(['.github/workflows/ci.yml', 'src/a.ts']);
    const skipped = new Map(r.skipped.map((s) => [s.path, s.reason]));
    expect(skipped.get('node_modules/pkg/index.js')).toBe('ignored by .gitignore');
    expect(skipped.get('debug.log')).toBe('ignored by .gitignore');
    expect(skipped.get('evil')).toMatch(/outside the project/);
    expect([...skipped.keys()].some((p) => p.startsWith('.git/'))).toBe(true);
    expect(gitIn(project, ['log', '-1', '--format=%B', 'agent/x']).trim()).toBe('Agent work\n\nDetails.');
    expect(
      gitIn(project, ['ls-tree', '-r', '--name-only', 'agent/x']).split('\n').filter(Boolean).sort(),
    ).toEqual(['.github/workflows/ci.yml', '.gitignore', 'src/a.ts']);
    await ws.discard();
  });

  it('exports a project that is a subdirectory of a repository', async () => {
    const repo = gitProject({ 'top.txt': 't\n', 'pkg/app/main.txt': 'm\n' });
    const ws = await stage(join(repo, 'pkg/app'), strategy);
    expect(ws.git?.prefix).toBe('pkg/app/');
    writeFileSync(join(ws.mountDir, 'main.txt'), 'agent\n');
    writeFileSync(join(ws.mountDir, 'extra.txt'), 'e\n');
    const r = exported(await ws.exportBranch('sub'));
    expect(r.files.sort()).toEqual(['extra.txt', 'main.txt']);
    expect(gitIn(repo, ['show', 'sub:pkg/app/main.txt'])).toBe('agent\n');
    expect(gitIn(repo, ['show', 'sub:pkg/app/extra.txt'])).toBe('e\n');
    expect(gitIn(repo, ['show', 'sub:top.txt'])).toBe('t\n');
    await ws.discard();
  });

  it('says nothing to export when the agent changed only untracked ignored files', async () => {
    const project = gitProject({ '.gitignore': 'build/\n', a: 'a' });
    const ws = await stage(project, strategy);
    mkdirSync(join(ws.mountDir, 'build'));
    writeFileSync(join(ws.mountDir, 'build/out.js'), 'x');
    expect(await ws.exportBranch('empty')).toMatchObject({ status: 'refused', reason: 'nothing-to-export' });
    await ws.discard();
  });

  it('exports onto an unborn branch as a root commit', async () => {
    const project = tmp('unborn');
    gitIn(project, ['init', '-q']);
    const ws = await stage(project, strategy);
    expect(ws.git?.head).toBeNull();
    writeFileSync(join(ws.mountDir, 'first.txt'), 'first\n');
    const r = exported(await ws.exportBranch('first'));
    expect(r.base).toBeNull();
    expect(gitIn(project, ['rev-list', '--count', 'first']).trim()).toBe('1');
    expect(statSync(join(project, '.git')).isDirectory()).toBe(true);
    await ws.discard();
  });
});

describe('export outside git', () => {
  it('is E_WORKSPACE_NOT_GIT for a plain project', async () => {
    const ws = await stage(plainProject({ a: 'a' }), 'copy');
    writeFileSync(join(ws.mountDir, 'a'), 'b');
    await expect(ws.exportBranch('x')).rejects.toMatchObject({ code: 'E_WORKSPACE_NOT_GIT' });
    await ws.discard();
  });
});
