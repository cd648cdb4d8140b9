/**
 * The real `airlock` binary: exit statuses, errors with codes and hints, named sessions,
 * a real pty, and no process left behind after SIGKILL.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

const execFileP = promisify(execFile);
let home: string;
let ws: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function airlock(args: string[], opts: { input?: string; env?: Record<string, string>; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: opts.cwd ?? ws,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => { resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

beforeAll(() => {
  home = tempDir('home');
  ws = tempDir('proj');
  writeFileSync(join(ws, 'hello.txt'), 'hello from the project\n');
});

afterAll(async () => {
  await airlock(['session', 'rm', 'cli-test']).catch(() => undefined);
  cleanupTemp();
});

describe('airlock policy check', () => {
  it('exits 1 for ask and deny, 0 for allow, and names the grant that allowed [grants.exact]', async () => {
    const file = join(tempDir('pol'), 'airlock.yaml');
    writeFileSync(
      file,
      'version: 1\nextends: default\ngrants:\n  - { id: approval-ap_1, approval: ap_1, by: token:local, exec: { command: git, subcommand: push, allowFlags: [], maxArgs: 1, cwd: /workspace } }\n',
    );
    const granted = await airlock(['policy', 'check', '--policy', file, '--', 'git push']);
    expect(granted.code).toBe(0);
    expect(granted.stdout).toMatch(/^ALLOW {2}git push\n {2}rule: {3}approval-ap_1 \(.*airlock\.yaml:4\)\n {2}reason: grant approval-ap_1 \(approval ap_1 by token:local\) allows exactly this/);
    const forced = await airlock(['policy', 'check', '--policy', file, '--', 'git push --force']);
    expect(forced.code).toBe(1);
    expect(forced.stdout).toMatch(/^DENY {2}git push --force\n {2}rule: {3}git-push /);
    expect((await airlock(['policy', 'check', '--policy', file, '--', 'git push origin'])).code).toBe(1);
  });
});

describe('airlock run', () => {
  it('runs a command in the workspace and returns its status', async () => {
    const r = await airlock(['run', '--', 'cat', 'hello.txt']);
    expect(r).toMatchObject({ code: 0, stdout: 'hello from the project\n' });
    const f = await airlock(['run', '--', 'sh', '-c', 'echo oops >&2; exit 7']);
    expect(f.code).toBe(7);
    expect(f.stderr).toBe('oops\n');
  });

  it('pipes stdin through', async () => {
    const r = await airlock(['run', '--', 'tr', 'a-z', 'A-Z'], { input: 'shout\n' });
    expect(r.stdout).toBe('SHOUT\n');
  });

  it('reports a signal death as 128+n', async () => {
    const r = await airlock(['run', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(r.code).toBe(143);
  });

  it('says why a command could not start, with exit 127', async () => {
    const r = await airlock(['run', '--', 'no-such-tool']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/^airlock: E_EXEC_FAILED: no-such-tool: could not execute: No such file or directory/m);
  });

  it('sandbox.fail-closed: bad usage exits 2 with a code and a hint', async () => {
    for (const [args, pattern] of [
      [['run'], /E_USAGE: no command given/],
      [['run', '--bogus', '--', 'ls'], /E_USAGE: unknown option '--bogus'/],
      [['run', '--memory', 'lots', '--', 'ls'], /E_USAGE: memory: "lots" is not a size/],
      [['run', '--workspace', '/nonexistent/dir', '--', 'ls'], /E_WORKSPACE_INVALID: workspace \/nonexistent\/dir does not exist/],
      [['run', '--workspace', '/', '--', 'ls'], /E_WORKSPACE_INVALID/],
      [['run', '--template', 'nope', '--', 'ls'], /E_TEMPLATE_NOT_FOUND/],
      [['run', '--backend', 'docker', '--', 'ls'], /E_BACKEND_UNAVAILABLE/],
      [['frobnicate'], /E_USAGE: unknown command/],
    ] as [string[], RegExp][]) {
      const r = await airlock(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(pattern);
      expect(r.stderr, args.join(' ')).toMatch(/^hint: .+/m);
      expect(r.stdout).toBe('');
    }
  });

  it('sandbox.fail-closed: a missing bwrap is an error, never an unsandboxed run', async () => {
    const r = await airlock(['run', '--', 'sh', '-c', 'echo RAN > ran.txt'], { env: { AIRLOCK_BWRAP: '/nonexistent/bwrap' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_BACKEND_UNAVAILABLE: bubblewrap \(bwrap\) is not installed/);
    expect(r.stderr).toMatch(/hint: Install it: apt-get install -y bubblewrap/);
    expect(existsSync(join(ws, 'ran.txt'))).toBe(false);
  });

  it('gives an interactive command a real pty', async () => {
    // script(1) provides the terminal airlock sees as its stdin/stdout.
    const cmd = `${process.execPath} ${CLI} run -- sh -c 'tty; stty size; echo done'`;
    const { stdout } = await execFileP('script', ['-qfec', cmd, '/dev/null'], {
      cwd: ws,
      env: { PATH: process.env['PATH'] ?? '', AIRLOCK_HOME: home, TERM: 'xterm' },
    });
    expect(stdout).toMatch(/\/dev\/pts\/\d+/);
    expect(stdout).toMatch(/\d+ \d+/);
    expect(stdout).toContain('done');
  });

  it('sandbox.dies-with-host: no process outlives airlock killed with SIGKILL', async () => {
    const token = `airlock-orphan-${process.pid}-${Date.now()}`;
    const child = spawn(process.execPath, [CLI, 'run', '--', 'bash', '-c', `echo started; exec -a ${token} sleep 300`], {
      cwd: ws,
      env: { PATH: process.env['PATH'] ?? '', AIRLOCK_HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve) => child.stdout.once('data', () => { resolve(); }));
    const findOrphans = (): number[] =>
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(token);
          } catch {
            return false;
          }
        })
        .map(Number)
        // airlock's own command line carries the token too.
        .filter((pid) => pid !== child.pid);
    await new Promise((r) => setTimeout(r, 200));
    expect(findOrphans().length).toBe(1);
    child.kill('SIGKILL');
    let left = findOrphans();
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = findOrphans();
    }
    // Clean up only what this test started, by pid, should the property fail.
    for (const pid of left) process.kill(pid, 'SIGKILL');
    expect(left).toEqual([]);
  });
});

describe('airlock session', () => {
  it('creates, lists, runs in, stops and removes a named session', async () => {
    const c = await airlock(['session', 'create', '--name', 'cli-test', '--json']);
    expect(c.code, c.stderr).toBe(0);
    expect(JSON.parse(c.stdout)).toMatchObject({ name: 'cli-test', state: 'running' });
    const dup = await airlock(['session', 'create', '--name', 'cli-test']);
    expect(dup.code).toBe(2);
    expect(dup.stderr).toMatch(/E_SESSION_EXISTS/);

    const e1 = await airlock(['session', 'exec', 'cli-test', '--', 'sh', '-c', 'echo $$ > /tmp/pid; echo kept > /tmp/state']);
    expect(e1.code).toBe(0);
    // State survives between execs: the sandbox is started once.
    const e2 = await airlock(['session', 'exec', 'cli-test', '--json', '--', 'sh', '-c', 'cat /tmp/state; echo err >&2; exit 5']);
    expect(e2.code).toBe(5);
    const j = JSON.parse(e2.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({ exitCode: 5, stdout: 'kept\n', stderr: 'err\n' });
    expect(typeof j['durationMs']).toBe('number');

    const ls = await airlock(['session', 'ls', '--json']);
    const list = JSON.parse(ls.stdout) as { name: string; state: string }[];
    expect(list.find((s) => s.name === 'cli-test')?.state).toBe('running');

    expect((await airlock(['session', 'stop', 'cli-test'])).code).toBe(0);
    const ls2 = JSON.parse((await airlock(['session', 'ls', '--json'])).stdout) as { name: string; state: string }[];
    expect(ls2.find((s) => s.name === 'cli-test')?.state).toBe('stopped');
    const dead = await airlock(['session', 'exec', 'cli-test', '--', 'true']);
    expect(dead.code).toBe(2);
    expect(dead.stderr).toMatch(/E_SESSION_CLOSED/);

    expect((await airlock(['session', 'rm', 'cli-test'])).code).toBe(0);
    const missing = await airlock(['session', 'exec', 'cli-test', '--', 'true']);
    expect(missing.stderr).toMatch(/E_SESSION_NOT_FOUND/);
  });
});

describe('airlock doctor', () => {
  it('reports every check as JSON and exits 0 here', async () => {
    const r = await airlock(['doctor', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[]; limits: Record<string, string> };
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['kernel', 'user namespaces', 'seccomp', 'bwrap', 'supervisor', 'namespaces', 'cgroups']),
    );
    expect(report.limits['memory']).toMatch(/cgroup v[12]/);
    // running as root works, but is weaker: a warning with a fix, not a failure
    const hostUid = (report.checks as { name: string; ok: boolean; warn?: boolean; fix?: string }[]).find((c) => c.name === 'host uid');
    if (process.geteuid?.() === 0) expect(hostUid).toMatchObject({ ok: true, warn: true, fix: expect.stringMatching(/unprivileged user/) as unknown });
    else expect(hostUid).toBeUndefined();
  });

  it('fails with a fix when bwrap is missing', async () => {
    const r = await airlock(['doctor', '--json'], { env: { AIRLOCK_BWRAP: '/nonexistent/bwrap' } });
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.name === 'bwrap')?.fix).toMatch(/apt-get install -y bubblewrap/);
  });
});
