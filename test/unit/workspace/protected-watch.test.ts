/**
 * The direct session's record of protected files (src/session/protected-watch.ts) on real
 * directories: what counts, what is skipped, and that symlinks are recorded, never followed.
 */
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { protectedChanges, snapshotProtected } from '../../../src/session/protected-watch.js';
import { cleanupTemp, tempDir } from '../../helpers/index.js';

afterAll(() => {
  cleanupTemp();
});

function project(): string {
  const p = tempDir('pwatch');
  mkdirSync(join(p, '.git', 'hooks'), { recursive: true });
  mkdirSync(join(p, '.git', 'objects', 'ab'), { recursive: true });
  writeFileSync(join(p, '.git', 'config'), '[core]\n');
  writeFileSync(join(p, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  writeFileSync(join(p, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', scripts: { test: 'vitest' } }));
  writeFileSync(join(p, 'a.txt'), 'a\n');
  return p;
}

describe('protected-watch [workspace.direct-protected-report]', () => {
  it('sees hooks, config, CI, editor and agent settings, rc files and package scripts at any depth, under any spelling', () => {
    const p = project();
    const before = snapshotProtected(p);
    writeFileSync(join(p, '.git', 'hooks', 'pre-commit'), 'id\n');
    writeFileSync(join(p, '.git', 'config'), '[core]\n\tfsmonitor = evil\n');
    mkdirSync(join(p, 'sub', '.GIT', 'hooks'), { recursive: true });
    writeFileSync(join(p, 'sub', '.GIT', 'hooks', 'post-checkout'), 'id\n');
    mkdirSync(join(p, '.vscode'));
    writeFileSync(join(p, '.vscode', 'tasks.json'), '{}');
    mkdirSync(join(p, '.claude'));
    writeFileSync(join(p, '.claude', 'settings.json'), '{}');
    writeFileSync(join(p, '.bashrc'), 'evil\n');
    writeFileSync(join(p, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', scripts: { test: 'evil' } }));
    const got = protectedChanges(before, snapshotProtected(p));
    expect(got.map((c) => `${c.change} ${c.path} ${c.category}`)).toEqual([
      'created .bashrc shell-rc',
      'created .claude/settings.json agent-config',
      'modified .git/config git-config',
      'created .git/hooks/pre-commit git-hooks',
      'created .vscode/tasks.json ide-config',
      'modified package.json package-scripts',
      'created sub/.GIT/hooks/post-checkout git-hooks',
    ]);
  });

  it('ignores plain files, git internals and package.json changes outside its scripts', () => {
    const p = project();
    const before = snapshotProtected(p);
    writeFileSync(join(p, 'a.txt'), 'changed\n');
    writeFileSync(join(p, '.git', 'HEAD'), 'ref: refs/heads/other\n');
    writeFileSync(join(p, '.git', 'objects', 'ab', 'cdef'), 'blob');
    writeFileSync(join(p, 'package.json'), JSON.stringify({ name: 'p', version: '2.0.0', scripts: { test: 'vitest' } }));
    expect(protectedChanges(before, snapshotProtected(p))).toEqual([]);
  });

  it('records a symlink by its text and never follows it; a mode change of a hook counts', () => {
    const p = project();
    const outside = tempDir('pwatch-outside');
    writeFileSync(join(outside, 'hook'), 'one\n');
    writeFileSync(join(p, '.git', 'hooks', 'pre-push'), 'id\n');
    symlinkSync(join(outside, 'hook'), join(p, '.git', 'hooks', 'post-merge'));
    const before = snapshotProtected(p);
    // the target changes: the link's text does not, so nothing in the project changed
    writeFileSync(join(outside, 'hook'), 'two\n');
    chmodSync(join(p, '.git', 'hooks', 'pre-push'), 0o755);
    expect(protectedChanges(before, snapshotProtected(p))).toEqual([{ path: '.git/hooks/pre-push', category: 'git-hooks', change: 'modified' }]);
    rmSync(join(p, '.git', 'hooks', 'post-merge'));
    symlinkSync('/etc/passwd', join(p, '.git', 'hooks', 'post-merge'));
    expect(protectedChanges(before, snapshotProtected(p)).map((c) => c.path)).toEqual(['.git/hooks/post-merge', '.git/hooks/pre-push']);
  });
});
