/**
 * Diff: git-style output for added, deleted, renamed, mode-changed, binary, symlink and
 * large files; `--stat` and structured output; opaque directories; and the staged tree
 * cannot make git run anything on the host.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  utimesSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, gitProject, plainProject, sh, stage, STRATEGIES, tmp } from './helpers.js';

afterAll(cleanup);

const seq = (n: number, extra = ''): string =>
  `${Array.from({ length: n }, (_, i) => `line ${i + 1}`).join('\n')}\n${extra}`;

describe.each(STRATEGIES)('diff with %s', (strategy) => {
  it('renders added, modified, deleted, renamed, mode, binary and symlink changes like git', async () => {
    const project = plainProject({
      'mod.txt': 'hello\nworld\n',
      'gone.txt': 'bye\n',
      'old-name.txt': seq(40),
      'run.sh': { mode: 0o644, content: '#!/bin/sh\necho hi\n' },
      link: { symlink: 'mod.txt' },
      'img.bin': Buffer.from([0, 1, 2, 3, 4]),
    });
    const ws = await stage(project, strategy);
    const m = ws.mountDir;
    writeFileSync(join(m, 'mod.txt'), 'hello\nthere\n');
    rmSync(join(m, 'gone.txt'));
    sh('mv', [join(m, 'old-name.txt'), join(m, 'new-name.txt')]);
    writeFileSync(join(m, 'new-name.txt'), seq(40, 'one more\n'));
    chmodSync(join(m, 'run.sh'), 0o755);
    rmSync(join(m, 'link'));
    symlinkSync('new-name.txt', join(m, 'link'));
    writeFileSync(join(m, 'img.bin'), Buffer.from([0, 9, 9, 9]));
    writeFileSync(join(m, 'added.txt'), 'brand new\n');

    const d = await ws.diff();
    expect(d.patch).toContain('diff --git a/mod.txt b/mod.txt\n');
    expect(d.patch).toContain('-world\n+there\n');
    expect(d.patch).toContain('diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n');
    expect(d.patch).toMatch(
      /diff --git a\/old-name.txt b\/new-name.txt\nsimilarity index \d+%\nrename from old-name.txt\nrename to new-name.txt\n/,
    );
    expect(d.patch).toContain('diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n');
    expect(d.patch).toContain('diff --git a/link b/link\nindex');
    expect(d.patch).toContain('-mod.txt\n\\ No newline at end of file\n+new-name.txt\n');
    expect(d.patch).toContain('Binary files a/img.bin and b/img.bin differ');
    expect(d.patch).toContain('diff --git a/added.txt b/added.txt\nnew file mode 100644\n');

    const byPath = new Map(d.files.map((f) => [f.path, f]));
    expect(byPath.get('new-name.txt')).toMatchObject({
      status: 'renamed',
      oldPath: 'old-name.txt',
      additions: 1,
      deletions: 0,
    });
    expect(byPath.get('img.bin')).toMatchObject({ status: 'modified', binary: true, additions: null });
    expect(byPath.get('run.sh')).toMatchObject({ oldMode: '100644', newMode: '100755' });
    expect(byPath.get('link')).toMatchObject({
      oldMode: '120000',
      newMode: '120000',
      additions: 1,
      deletions: 1,
    });
    expect(byPath.get('added.txt')).toMatchObject({ status: 'added', additions: 1 });
    expect(byPath.get('gone.txt')).toMatchObject({ status: 'deleted', deletions: 1 });
    expect(d.totals).toMatchObject({ files: 7, protected: 0, rejected: 0, conflicts: 0 });

    expect(d.stat).toMatch(/old-name.txt => new-name.txt/);
    expect(d.stat).toMatch(/7 files changed, \d+ insertions?\(\+\), \d+ deletions?\(-\)/);

    // The patch is a real patch: applied to a copy of the project, it gives the agent's tree
    // (binary files are shown as git shows them, without a binary payload).
    const copy = tmp('patched');
    sh('cp', ['-a', `${project}/.`, copy]);
    execFileSync('git', ['apply', '--exclude=img.bin', '-'], {
      cwd: copy,
      input: d.patch,
      env: { PATH: process.env['PATH'] ?? '', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    for (const f of ['mod.txt', 'new-name.txt', 'added.txt']) {
      expect(sh('cat', [join(copy, f)])).toBe(sh('cat', [join(m, f)]));
    }
    expect(existsSync(join(copy, 'gone.txt'))).toBe(false);
    await ws.discard();
  });

  it('lists what git cannot show: directory modes, permission bits, empty directories, large files', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    const project = plainProject({
      'dir/x': 'x',
      'secret.txt': { mode: 0o600, content: 's\n' },
      'big.dat': big,
    });
    const ws = await stage(project, strategy);
    chmodSync(join(ws.mountDir, 'dir'), 0o700);
    chmodSync(join(ws.mountDir, 'secret.txt'), 0o640);
    mkdirSync(join(ws.mountDir, 'empty'));
    writeFileSync(join(ws.mountDir, 'big.dat'), Buffer.alloc(3 * 1024 * 1024, 'b'));
    const d = await ws.diff({ maxFileBytes: 1024 * 1024 });
    expect(d.patch).toContain('# airlock: MODE dir/ 755 -> 700 (directory)');
    expect(d.patch).toContain('# airlock: MODE secret.txt 600 -> 640');
    expect(d.patch).toContain('# airlock: NEW EMPTY DIRECTORY empty/');
    expect(d.patch).toMatch(/# airlock: NOT SHOWN big.dat: larger than 1048576 bytes/);
    expect(d.patch).not.toContain('bbbbbbbb');
    expect(d.files.find((f) => f.path === 'big.dat')).toMatchObject({
      contentOmitted: expect.stringContaining('larger') as unknown,
    });
    expect(d.changes.find((c) => c.path === 'dir')).toMatchObject({
      status: 'modified',
      before: { mode: 0o755 },
      after: { mode: 0o700 },
    });
    await ws.discard();
  });

  it('stops putting content in the patch past its size budget, and says which files it left out', async () => {
    const project = plainProject({ 'keep.txt': 'k\n' });
    const ws = await stage(project, strategy);
    for (let i = 0; i < 10; i++) writeFileSync(join(ws.mountDir, `f${i}.txt`), `${String(i).repeat(1000)}\n`);
    const d = await ws.diff({ maxPatchBytes: 3500 });
    const shown = d.files.filter((f) => f.contentOmitted === null).map((f) => f.path);
    const left = d.files.filter((f) => f.contentOmitted !== null).map((f) => f.path);
    expect(shown).toEqual(['f0.txt', 'f1.txt', 'f2.txt']);
    expect(left).toHaveLength(7);
    expect(d.patch).toContain('# airlock: NOT SHOWN f3.txt: the patch reached its size limit');
    expect(d.patch).not.toContain('3333');
    await ws.discard();
  });

  it('does not count a touched but unchanged file as a change', async () => {
    const project = plainProject({ 'same.txt': 'same\n', 'other.txt': 'o\n' });
    const ws = await stage(project, strategy);
    // Opening for writing copies the file up in an overlay; touch moves its times.
    closeSync(openSync(join(ws.mountDir, 'same.txt'), 'r+'));
    utimesSync(join(ws.mountDir, 'same.txt'), new Date(1_000_000), new Date(1_000_000));
    writeFileSync(join(ws.mountDir, 'other.txt'), 'o\n');
    expect((await ws.changes()).changes).toEqual([]);
    const d = await ws.diff();
    expect(d.files).toEqual([]);
    await ws.discard();
  });

  it('sees deletions inside a directory that was removed and made again (opaque in an overlay)', async () => {
    const project = plainProject({
      'd/a.txt': 'a\n',
      'd/b.txt': 'b\n',
      'd/sub/c.txt': 'c\n',
      'keep/k.txt': 'k\n',
    });
    const ws = await stage(project, strategy);
    rmSync(join(ws.mountDir, 'd'), { recursive: true });
    mkdirSync(join(ws.mountDir, 'd'));
    writeFileSync(join(ws.mountDir, 'd/a.txt'), 'new a\n');
    const expected = [
      ['d/a.txt', 'modified'],
      ['d/b.txt', 'deleted'],
      ['d/sub', 'deleted'],
      ['d/sub/c.txt', 'deleted'],
    ];
    const live = (await ws.changes()).changes.map((c) => [c.path, c.status]);
    expect(live).toEqual(expected);
    await ws.seal();
    const sealed = (await ws.changes()).changes.map((c) => [c.path, c.status]);
    expect(sealed).toEqual(expected);
    await ws.discard();
  });

  it('sees a directory renamed by the agent as deletions plus additions', async () => {
    const project = plainProject({ 'from/one.txt': '1\n', 'from/two.txt': '2\n' });
    const ws = await stage(project, strategy);
    sh('mv', [join(ws.mountDir, 'from'), join(ws.mountDir, 'to')]);
    const d = await ws.diff();
    const renames = d.files.filter((f) => f.status === 'renamed').map((f) => [f.oldPath, f.path]);
    expect(renames).toEqual([
      ['from/one.txt', 'to/one.txt'],
      ['from/two.txt', 'to/two.txt'],
    ]);
    await ws.discard();
  });

  it('cannot make git run a diff driver, textconv, filter or external diff from the staged tree [workspace.git-no-exec]', async () => {
    const project = gitProject({ 'a.txt': 'a\n', 'b.bin': 'b\n' });
    const marker = join(tmp('marker'), 'pwned');
    const evil = `touch ${marker}; cat`;
    const ws = await stage(project, strategy);
    const m = ws.mountDir;
    writeFileSync(join(m, '.gitattributes'), '* diff=evil filter=evil merge=evil\n*.txt textconv=evil\n');
    // The agent controls the staged .git/config as well.
    writeFileSync(
      join(m, '.git/config'),
      `[core]\n\tfsmonitor = ${evil}\n\tpager = ${evil}\n[diff "evil"]\n\tcommand = ${evil}\n\ttextconv = ${evil}\n[filter "evil"]\n\tclean = ${evil}\n\tsmudge = ${evil}\n\trequired = true\n[diff]\n\texternal = ${evil}\n`,
    );
    mkdirSync(join(m, '.git/info'), { recursive: true });
    writeFileSync(join(m, '.git/info/attributes'), '* diff=evil\n');
    writeFileSync(join(m, 'a.txt'), 'changed\n');
    writeFileSync(join(m, 'b.bin'), 'changed\n');
    const saved = process.env['GIT_EXTERNAL_DIFF'];
    process.env['GIT_EXTERNAL_DIFF'] = `/bin/sh -c 'touch ${marker}'`;
    try {
      const d = await ws.diff();
      expect(d.patch).toContain('-a\n+changed\n');
      expect(d.patch).toContain('+* diff=evil filter=evil merge=evil');
      expect(d.patch).toMatch(/# airlock: PROTECTED \.gitattributes \[git-attributes\]/);
      expect(d.patch).toMatch(/# airlock: PROTECTED \.git\/config \[git-config\]/);
      expect(d.patch).toMatch(/# airlock: PROTECTED \.git\/info\/attributes \[git-config\]/);
      // The config change is shown in full so a person can judge it.
      expect(d.patch).toContain(`+\tcommand = ${evil}`);
      await ws.seal();
      await ws.diff();
      await ws.exportBranch('agent/attack', { allowProtected: true });
    } finally {
      if (saved === undefined) delete process.env['GIT_EXTERNAL_DIFF'];
      else process.env['GIT_EXTERNAL_DIFF'] = saved;
    }
    expect(existsSync(marker)).toBe(false);
    await ws.discard();
  });

  it('summarizes repository internals instead of showing them', async () => {
    const project = gitProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'a.txt'), 'b\n');
    execFileSync('git', ['-c', 'user.name=A', '-c', 'user.email=a@b', 'commit', '-qam', 'agent commit'], {
      cwd: ws.mountDir,
      env: {
        PATH: process.env['PATH'] ?? '',
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        HOME: ws.mountDir,
      },
    });
    const d = await ws.diff();
    expect(d.patch).toMatch(/# airlock: NOT SHOWN \.git\/index: repository internals/);
    expect(d.patch).not.toContain('diff --git a/.git/index');
    expect(d.patch).toContain('diff --git a/a.txt b/a.txt');
    await ws.discard();
  });
});

describe('diff of rejected entries', () => {
  it('shows a symlink out of the project as text and marks it', async () => {
    const project = plainProject({ a: 'a' });
    const ws = await stage(project, 'copy');
    symlinkSync('/etc/passwd', join(ws.mountDir, 'pw'));
    renameSync(join(ws.mountDir, 'a'), join(ws.mountDir, 'b'));
    const d = await ws.diff();
    expect(d.patch).toContain(
      '# airlock: REJECTED pw: absolute target "/etc/passwd" points outside the project; never applied',
    );
    expect(d.patch).toContain('+/etc/passwd');
    expect(d.patch).not.toContain('root:x:0:0');
    await ws.discard();
  });
});
