/**
 * Session lifecycle on every backend: isolation between sessions, cleanup on destroy, death
 * with the host process (SIGKILL), timeouts, workspace vetting, read-only workspaces and
 * failing closed when the backend's runtime is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession, type BackendName } from '../../../src/index.js';
import { ROOT, cleanupTemp, tempDir } from '../../helpers/index.js';
import { TARGETS, title } from './backends.js';

afterAll(() => {
  cleanupTemp();
});

/** A host process, by pid and start time (field 22 of /proc/<pid>/stat), so pid reuse is not mistaken for survival. */
interface HostProcess {
  pid: number;
  start: string;
  cmdline: string;
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function startTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/**
 * Still running: the same process (same start time) and not a zombie. A zombie has exited and
 * holds nothing but its exit status; gVisor's platform stubs, orphaned when the Sentry exits,
 * are zombies of the host's init for a moment until it reaps them.
 */
function alive(p: HostProcess): boolean {
  const f = statFields(p.pid);
  return f !== undefined && f[19] === p.start && f[0] !== 'Z' && f[0] !== 'X';
}

function children(pid: number): number[] {
  const out: number[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c !== '') out.push(Number(c));
    } catch {
      // gone
    }
  }
  return out;
}

/** Host processes whose command line mentions `needle`, and all their descendants. */
function hostProcesses(needle: string): HostProcess[] {
  const roots: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) roots.push(Number(d));
    } catch {
      // gone
    }
  }
  const seen = new Set<number>();
  const queue = [...roots];
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    if (seen.has(p)) continue;
    seen.add(p);
    queue.push(...children(p));
  }
  const out: HostProcess[] = [];
  for (const pid of seen) {
    const start = startTime(pid);
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    } catch {
      // gone
    }
    if (start !== undefined) out.push({ pid, start, cmdline });
  }
  return out;
}

const RUNTIME_ENV: Partial<Record<BackendName, string>> = { bwrap: 'AIRLOCK_BWRAP', gvisor: 'AIRLOCK_RUNSC' };

for (const target of TARGETS) {
  const backend = target.name;

  describe.skipIf(target.skip !== undefined)(title(target), () => {
    const stateDir = tempDir('state');

    it('sandbox.sessions-isolated: two sessions share no files or processes', async () => {
      const a = await createSession({ workspace: tempDir('ws1'), stateDir, backend });
      const b = await createSession({ workspace: tempDir('ws2'), stateDir, backend });
      try {
        await a.exec(['/bin/sh', '-c', 'echo a > /tmp/only-in-a; sleep 5 & exit 0']);
        // find, not ls: see isolation.test.ts (GNU ls under old gVisor releases).
        const r = await b.exec(['/bin/sh', '-c', "find /tmp -mindepth 1 -maxdepth 1; pgrep -x sleep | wc -l; find /workspace -mindepth 1 -maxdepth 1"]);
        expect(r.exitCode).toBe(0);
        expect(r.stdout).toBe('0\n');
        expect(b.id).not.toBe(a.id);
      } finally {
        await a.destroy();
        await b.destroy();
      }
    });

    it('sandbox.cleanup: destroy kills everything and removes cgroups, runtime files and host processes', async () => {
      const devNull = statSync('/dev/null');
      const s = await createSession({ workspace: tempDir('ws3'), stateDir, backend });
      await s.exec(['/bin/sh', '-c', 'setsid sleep 60 </dev/null >/dev/null 2>&1 & exit 0']);
      const runtime = join(stateDir, 'sessions', s.id);
      expect(existsSync(runtime)).toBe(true);
      const cgroupPaths = Object.values(s.layers.limits)
        .map((v) => /\((\/sys\/fs\/cgroup\/[^)]+)\)/.exec(v)?.[1])
        .filter((p): p is string => p !== undefined);
      expect(cgroupPaths.length).toBeGreaterThan(0);
      const procs = hostProcesses(runtime);
      // The backend's own processes (bwrap; or runsc, its gofer and Sentry) are on the host.
      expect(procs.length).toBeGreaterThan(0);
      await s.destroy();
      expect(existsSync(runtime)).toBe(false);
      for (const p of cgroupPaths) expect(existsSync(p), p).toBe(false);
      const left = procs.filter(alive);
      for (const p of left) process.kill(p.pid, 'SIGKILL');
      expect(left.map((p) => p.cmdline)).toEqual([]);
      await expect(s.exec(['true'])).rejects.toThrow(/destroyed/);
      // runsc chowns whatever its stdio are to the sandbox user; airlock hands it pipes only,
      // so the host's /dev/null keeps its owner.
      const after = statSync('/dev/null');
      expect([after.uid, after.gid]).toEqual([devNull.uid, devNull.gid]);
    });

    it('sandbox.dies-with-host: nothing of the sandbox outlives its host process killed with SIGKILL', async () => {
      const token = `airlock-orphan-${process.pid}-${Date.now()}`;
      const ws = tempDir('ws-orphan');
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          [
            `import { createSession } from ${JSON.stringify(join(ROOT, 'dist', 'index.js'))};`,
            `const s = await createSession({ workspace: ${JSON.stringify(ws)}, stateDir: ${JSON.stringify(stateDir)}, backend: ${JSON.stringify(backend)} });`,
            // Stopping pid 1 first: the kernel ignores it under bwrap (namespace init), but under
            // gVisor it stops the supervisor, which must not keep the sandbox alive either.
            `s.spawn(['/bin/bash', '-c', 'kill -STOP 1 2>/dev/null; exec -a ${token} sleep 300']);`,
            `await new Promise((r) => setTimeout(r, 500));`,
            `process.stdout.write(s.id + '\\n');`,
            `setInterval(() => {}, 1000);`,
          ].join('\n'),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const id = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.trim());
        });
        child.once('exit', (code) => { reject(new Error(`child exited ${String(code)}: ${err}`)); });
      });
      const procs = hostProcesses(join(stateDir, 'sessions', id));
      expect(procs.length).toBeGreaterThan(0);
      child.kill('SIGKILL');
      let left = procs.filter(alive);
      for (let i = 0; i < 100 && left.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = procs.filter(alive);
      }
      // Clean up only what this test started, by pid, should the property fail.
      for (const p of left) process.kill(p.pid, 'SIGKILL');
      expect(left.map((p) => p.cmdline)).toEqual([]);
      // The command itself: a host process under bwrap, a Sentry task under gVisor (gone with it).
      expect(hostProcesses(token).filter((p) => p.pid !== child.pid)).toEqual([]);
    });

    it('sandbox.pid-namespace: signals from inside to pid 1 (bwrap: ignored; gVisor: end only that session)', async () => {
      const s = await createSession({ workspace: tempDir('ws-kill1'), stateDir, backend });
      try {
        const r = await s.exec(['/bin/sh', '-c', 'kill -KILL 1; kill -STOP 1; sleep 0.3; echo still-here']);
        if (backend === 'gvisor') {
          // gVisor does not give a pid namespace's init the kernel's protection from its own
          // namespace (Linux drops SIGKILL/SIGSTOP sent to init from inside), and the supervisor
          // runs as the agent's uid: a command can kill it. That ends only its own session, and
          // the host learns it at once; it reaches nothing outside. Documented in docs/gvisor.md.
          expect(r.signal).toBe('SIGKILL');
          const reason = await s.ended;
          expect(reason.message).toMatch(/exited/);
          return;
        }
        expect(r.stdout).toBe('still-here\n');
        const ok = await s.exec(['echo', 'alive']);
        expect(ok.stdout).toBe('alive\n');
      } finally {
        await s.destroy();
      }
    });

    it('sandbox.session-timeout: a session past its limit ends', async () => {
      const s = await createSession({ workspace: tempDir('ws4'), stateDir, backend, limits: { sessionTimeout: '300ms' } });
      const reason = await s.ended;
      expect(reason.message).toMatch(/limit/);
      await s.destroy();
    });

    it('sandbox.workspace-vetted: system, home and state directories are refused', async () => {
      for (const ws of ['/', '/etc', '/usr', process.env['HOME'] ?? '/root']) {
        await expect(createSession({ workspace: ws, stateDir, backend })).rejects.toMatchObject({ code: 'E_WORKSPACE_INVALID' });
      }
      const parent = tempDir('parent');
      mkdirSync(join(parent, 'state'));
      await expect(createSession({ workspace: parent, stateDir: join(parent, 'state'), backend })).rejects.toMatchObject({
        code: 'E_WORKSPACE_INVALID',
      });
      await expect(createSession({ workspace: join(parent, 'missing'), stateDir, backend })).rejects.toMatchObject({
        code: 'E_WORKSPACE_INVALID',
      });
    });

    it('sandbox.workspace-rw: a read-only workspace refuses writes', async () => {
      const ws = tempDir('ro');
      writeFileSync(join(ws, 'kept'), 'kept\n');
      const s = await createSession({ workspace: ws, stateDir, backend, workspaceReadOnly: true });
      try {
        const r = await s.exec(['/bin/sh', '-c', 'cat /workspace/kept; touch /workspace/x 2>&1; echo "status=$?"']);
        expect(r.stdout).toMatch(/^kept\n/);
        expect(r.stdout).toMatch(/Read-only file system/);
        expect(existsSync(join(ws, 'x'))).toBe(false);
      } finally {
        await s.destroy();
      }
    });

    const envName = RUNTIME_ENV[backend];
    it.skipIf(envName === undefined)('sandbox.fail-closed: a missing runtime is E_BACKEND_UNAVAILABLE, never an unsandboxed run', async () => {
      const name = envName ?? '';
      const saved = process.env[name];
      process.env[name] = '/nonexistent/runtime';
      try {
        const ws = tempDir('ws-missing');
        await expect(createSession({ workspace: ws, stateDir, backend })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
        expect(readdirSync(ws)).toEqual([]);
      } finally {
        if (saved === undefined) Reflect.deleteProperty(process.env, name);
        else process.env[name] = saved;
      }
    });
  });
}
