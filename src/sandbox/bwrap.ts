/**
 * The default backend: bubblewrap. One bwrap process per session, with the supervisor as
 * pid 1 of fresh user, mount, pid, ipc, uts, cgroup and net namespaces; a read-only root
 * built only from the template's list; a seccomp filter from seccomp.ts; no capabilities;
 * no_new_privs; a new session; and death with the host process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { AirlockError } from '../errors/index.js';
import type { Backend, BackendCheck, Sandbox, SandboxExecRequest, SandboxLayers, SandboxSpec } from './backend.js';
import { createSessionCgroup, detectCgroups, type CgroupInfo, type SessionCgroup } from './cgroups.js';
import { SupervisorChannel, type ExecHandle, type OutputSink } from './channel.js';
import {
  SANDBOX_UID,
  STARTUP_TIMEOUT_MS,
  SUPERVISOR_IN_SANDBOX,
  findExecutable,
  generatedEtc,
  keepTail,
  rlimitsFor,
  supervisorPath,
  templateEntries,
  tryKill,
  weakControllers, toWireExec } from './common.js';
import { buildSeccompFilter, type SeccompFilter } from './seccomp.js';

// Kept here for the public face (index.ts) and callers that imported them from this module.
export { SANDBOX_UID, supervisorPath } from './common.js';

/** Options for {@link createBwrapBackend}. */
export interface BwrapBackendOptions {
  /** bwrap executable; found in /usr/bin, /bin or /usr/local/bin when not given. */
  bwrapPath?: string;
  /** Supervisor binary; the package's build output when not given. */
  supervisorPath?: string;
}

const NAMESPACES = ['user', 'mount', 'pid', 'ipc', 'uts', 'cgroup', 'net'];

/** Builds bwrap's argument list. Exported for unit tests of the argv (no I/O besides lstat). */
export function bwrapArgs(
  spec: SandboxSpec,
  etcFiles: Record<string, string>,
  fds: { seccomp: number; info: number; block: number },
  supervisor: string,
): string[] {
  const a: string[] = [
    '--unshare-user',
    '--uid', String(SANDBOX_UID),
    '--gid', String(SANDBOX_UID),
    '--disable-userns',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-cgroup',
    '--unshare-net',
    '--hostname', spec.hostname,
    '--die-with-parent',
    '--new-session',
    '--as-pid-1',
    '--cap-drop', 'ALL',
    '--clearenv',
    '--seccomp', String(fds.seccomp),
    '--info-fd', String(fds.info),
    '--block-fd', String(fds.block),
  ];
  for (const e of templateEntries(spec)) {
    // Reproduce a symlink (merged /usr: /bin -> usr/bin) rather than binding its target twice.
    if (e.kind === 'symlink') a.push('--symlink', e.target, e.dest);
    else a.push('--ro-bind', e.src, e.dest);
  }
  for (const [dest, src] of Object.entries(etcFiles)) a.push('--ro-bind', src, dest);
  a.push('--proc', '/proc', '--dev', '/dev');
  // When airlock runs as root, the sandbox's uid maps to host uid 0, and the kernel checks
  // /proc/sys and /proc/sysrq-trigger by file mode against that uid alone: without these
  // read-only covers a sandbox could set kernel.core_pattern (a pipe to a program it wrote:
  // host root) or trigger sysrq. Found by the red-team case fs-core-pattern.
  for (const p of ['/proc/sys', '/proc/sysrq-trigger', '/proc/irq', '/proc/bus']) a.push('--ro-bind-try', p, p);
  a.push('--perms', '1777', '--size', String(spec.limits.tmpBytes), '--tmpfs', '/tmp');
  a.push('--perms', '0700', '--size', String(spec.limits.homeBytes), '--tmpfs', '/home/agent');
  a.push(spec.workspaceReadOnly ? '--ro-bind' : '--bind', spec.workspace, '/workspace');
  for (const b of spec.extraBinds) a.push(b.readOnly ? '--ro-bind' : '--bind', b.hostPath, b.sandboxPath);
  // Bound read-only from the package: the sandbox cannot change it, and a rebuild replaces the
  // file (new inode) rather than writing into the one a running session has bound.
  a.push('--ro-bind', supervisor, SUPERVISOR_IN_SANDBOX);
  a.push('--remount-ro', '/');
  a.push('--chdir', '/workspace');
  a.push(SUPERVISOR_IN_SANDBOX);
  for (const br of spec.bridges) a.push('--bridge', `${br.port}=${br.socketPath}`);
  return a;
}

function readInfo(stream: Readable, timeoutMs: number): Promise<{ 'child-pid': number }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => { done(new Error('bwrap did not report its child pid in time')); }, timeoutMs);
    const onData = (d: Buffer): void => {
      text += d.toString('utf8');
      try {
        const v = JSON.parse(text) as unknown;
        if (typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>)['child-pid'] === 'number') {
          done(undefined, v as { 'child-pid': number });
        }
      } catch {
        // incomplete JSON so far
      }
    };
    const onEnd = (): void => { done(new Error('bwrap exited before reporting its child pid')); };
    const done = (err?: Error, v?: { 'child-pid': number }): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('close', onEnd);
      if (err !== undefined || v === undefined) reject(err ?? new Error('no info'));
      else resolve(v);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('close', onEnd);
  });
}

/** Creates the bubblewrap backend. */
export function createBwrapBackend(options: BwrapBackendOptions = {}): Backend {
  // AIRLOCK_BWRAP names a specific bwrap (a newer build, or a missing one in tests).
  const chosen = options.bwrapPath ?? process.env['AIRLOCK_BWRAP'];
  const bwrap = chosen !== undefined && chosen !== '' ? (existsSync(chosen) ? chosen : undefined) : findExecutable('bwrap');
  const supervisor = options.supervisorPath ?? supervisorPath();
  // Both are pure for the life of the process: compute once per backend, not per session.
  let cgroupInfo: CgroupInfo | undefined;
  let seccomp: SeccompFilter | undefined;

  return {
    name: 'bwrap',

    check(): Promise<BackendCheck[]> {
      return Promise.resolve(checkBwrap(bwrap, supervisor));
    },

    async start(spec: SandboxSpec): Promise<Sandbox> {
      if (bwrap === undefined) {
        throw new AirlockError('E_BACKEND_UNAVAILABLE', 'bubblewrap (bwrap) is not installed', {
          hint: 'Install it: apt-get install -y bubblewrap (Debian/Ubuntu), dnf install bubblewrap (Fedora).',
        });
      }
      if (!existsSync(supervisor)) {
        throw new AirlockError('E_SUPERVISOR_MISSING', `the sandbox supervisor ${supervisor} is not built`, {
          hint: 'Run `npm run build` (needs gcc and libc6-dev: apt-get install -y gcc libc6-dev).',
        });
      }
      const filter = (seccomp ??= buildSeccompFilter());
      cgroupInfo ??= detectCgroups();
      const weak = weakControllers(
        { memory: spec.limits.memoryBytes, pids: spec.limits.pids, cpu: spec.limits.cpus },
        spec.limits.weakLimits,
        cgroupInfo,
      );
      const cgroup: SessionCgroup = createSessionCgroup(
        spec.sessionId,
        {
          ...(weak.has('memory') ? {} : { memoryBytes: spec.limits.memoryBytes }),
          ...(weak.has('pids') ? {} : { pids: spec.limits.pids }),
          ...(spec.limits.cpus === undefined ? {} : { cpus: spec.limits.cpus }),
        },
        cgroupInfo,
      );

      let child: ChildProcess | undefined;
      try {
        const etc = generatedEtc(join(spec.runtimeDir, 'etc'), spec.hostname);
        const args = bwrapArgs(spec, etc, { seccomp: 4, info: 5, block: 6 }, supervisor);
        child = spawn(bwrap, args, {
          stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
          // Its own process group: a Ctrl-C on the user's terminal goes to airlock, which
          // forwards it to the command; it must not kill the sandbox itself.
          detached: true,
          env: {},
        });
        const proc = child;
        const stderrText = keepTail(proc.stderr);
        const exitedEarly = new Promise<never>((_, reject) => {
          proc.once('exit', (code, signal) => {
            reject(
              new AirlockError(
                'E_BACKEND_FAILED',
                `bwrap exited during start-up (${signal ?? `status ${code}`}): ${stderrText() || 'no message'}`,
                { hint: 'Run `airlock doctor` to check user namespaces, bwrap and the template.' },
              ),
            );
          });
          proc.once('error', (err) => { reject(new AirlockError('E_BACKEND_FAILED', `could not start bwrap: ${err.message}`, { hint: 'Run `airlock doctor`.', cause: err })); },
          );
        });
        exitedEarly.catch(() => undefined);
        // Node types stdio as a 5-tuple; the extra fds are there all the same.
        const fds = proc.stdio as unknown as (Duplex | null)[];
        const pick = (i: number): Duplex => {
          const s = fds[i];
          if (s === null || s === undefined) throw new Error(`bwrap stdio ${i} missing`);
          return s;
        };
        const control = pick(3);
        const seccompFd: Writable = pick(4);
        const infoFd: Readable = pick(5);
        const blockFd: Writable = pick(6);
        seccompFd.end(filter.program);
        const info = await Promise.race([readInfo(infoFd, STARTUP_TIMEOUT_MS), exitedEarly]);
        const innerPid = info['child-pid'];
        // Limits before the supervisor runs a single instruction: everything it forks inherits them.
        cgroup.addProcess(innerPid);
        let channelClosed: (err: Error) => void = () => undefined;
        const closedPromise = new Promise<Error>((resolve) => {
          channelClosed = resolve;
        });
        const channel = new SupervisorChannel(control, { onClose: (err) => { channelClosed(err); } });
        blockFd.end(Buffer.from([1]));
        const timeout = new Promise<never>((_, reject) => {
          const t = setTimeout(
            () => { reject(new AirlockError('E_BACKEND_FAILED', `the supervisor did not start within ${STARTUP_TIMEOUT_MS} ms: ${stderrText()}`, { hint: 'Run `airlock doctor`.' })); },
            STARTUP_TIMEOUT_MS,
          );
          t.unref();
        });
        await Promise.race([channel.ready, exitedEarly, timeout]);

        const layers: SandboxLayers = {
          namespaces: NAMESPACES,
          seccomp: `${filter.arch} filter, ${filter.instructions} instructions, ${filter.blocked.length} syscalls refused`,
          limits: {
            memory: weak.has('memory') ? 'rlimit RLIMIT_AS per process (weak)' : (cgroup.layers.memory ?? 'none'),
            pids: weak.has('pids') ? 'rlimit RLIMIT_NPROC per user (weak)' : (cgroup.layers.pids ?? 'none'),
            cpu: cgroup.layers.cpu ?? 'none',
            tmp: `tmpfs size=${spec.limits.tmpBytes}`,
            fileSize: 'rlimit RLIMIT_FSIZE',
            openFiles: 'rlimit RLIMIT_NOFILE',
          },
        };
        const rlimits = rlimitsFor(spec.limits, weak);
        const exited = new Promise<Error>((resolve) => {
          proc.once('exit', () => { resolve(new AirlockError('E_SESSION_CLOSED', 'the sandbox exited', { hint: 'Start a new session.' })); });
          void closedPromise.then(resolve);
        });
        let destroyed: Promise<void> | undefined;
        return {
          backend: 'bwrap',
          hostPid: proc.pid ?? -1,
          layers,
          exited,
          exec(req: SandboxExecRequest, sink: OutputSink): ExecHandle {
            return channel.exec(toWireExec(req, rlimits), sink);
          },
          memoryPeak: () => cgroup.memoryPeak(),
          oomKilled: () => cgroup.oomKilled(),
          destroy(): Promise<void> {
            destroyed ??= (async () => {
              channel.shutdown();
              const gone = proc.exitCode !== null || proc.signalCode !== null;
              if (!gone) {
                const exitedNow = new Promise<void>((r) => proc.once('exit', () => { r(); }));
                const t = setTimeout(() => {
                  // The sandbox's own processes, by pid: pid 1's death ends the namespace.
                  tryKill(innerPid);
                  tryKill(proc.pid);
                }, 1000);
                await exitedNow;
                clearTimeout(t);
              }
              control.destroy();
              await cgroup.destroy();
            })();
            return destroyed;
          },
        };
      } catch (err) {
        if (child?.pid !== undefined && child.exitCode === null) tryKill(child.pid);
        await cgroup.destroy().catch(() => undefined);
        throw err;
      }
    },
  };
}

function checkBwrap(bwrap: string | undefined, supervisor: string): BackendCheck[] {
  const checks: BackendCheck[] = [];
  if (bwrap === undefined) {
    checks.push({
      name: 'bwrap',
      ok: false,
      detail: 'bubblewrap is not installed',
      fix: 'apt-get install -y bubblewrap',
    });
    return checks;
  }
  const v = spawnSync(bwrap, ['--version'], { encoding: 'utf8', env: {} });
  checks.push({ name: 'bwrap', ok: v.status === 0, detail: `${bwrap}: ${(v.stdout || v.stderr || '').trim()}` });
  const supervisorOk = existsSync(supervisor);
  checks.push({
    name: 'supervisor',
    ok: supervisorOk,
    detail: supervisorOk ? supervisor : `${supervisor} is missing`,
    ...(supervisorOk ? {} : { fix: 'npm run build (needs gcc and libc6-dev)' }),
  });
  if (!supervisorOk) return checks;
  // A real namespace probe: the static supervisor runs with nothing else mounted.
  const probe = spawnSync(
    bwrap,
    [
      '--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID), '--disable-userns',
      '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup', '--unshare-net',
      '--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--clearenv',
      '--ro-bind', supervisor, '/supervisor', '/supervisor', '--version',
    ],
    { encoding: 'utf8', env: {}, timeout: 10_000 },
  );
  const nsOk = probe.status === 0 && probe.stdout.includes('protocol');
  checks.push({
    name: 'namespaces',
    ok: nsOk,
    detail: nsOk ? `user, mount, pid, ipc, uts, cgroup, net namespaces: ok` : `bwrap could not create namespaces: ${probe.stderr.trim()}`,
    ...(nsOk
      ? {}
      : {
          fix: 'Enable unprivileged user namespaces: sysctl -w kernel.unprivileged_userns_clone=1 (Debian), or on Ubuntu 24.04+ allow bwrap in AppArmor (kernel.apparmor_restrict_unprivileged_userns).',
        }),
  });
  if (process.geteuid?.() === 0) {
    checks.push({
      name: 'host uid',
      ok: true,
      warn: true,
      detail:
        "airlock runs as root, so the agent's uid 1000 inside is host uid 0 outside. Namespaces, seccomp, no capabilities and read-only /proc/sys covers contain it (docs/redteam.md, fs-core-pattern), but anything the kernel checks by uid alone would be host root's",
      fix: 'Run airlock as an unprivileged user where you can (bwrap needs only unprivileged user namespaces); the gvisor backend needs root.',
    });
  }
  return checks;
}
