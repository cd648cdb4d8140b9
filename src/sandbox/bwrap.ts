/**
 * The default backend: bubblewrap. One bwrap process per session, with the supervisor as
 * pid 1 of fresh user, mount, pid, ipc, uts, cgroup and net namespaces; a read-only root
 * built only from the template's list; a seccomp filter from seccomp.ts; no capabilities;
 * no_new_privs; a new session; and death with the host process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  lstatSync,
  mkdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AirlockError } from '../errors/index.js';
import type {
  Backend,
  BackendCheck,
  ResolvedLimits,
  Sandbox,
  SandboxExecRequest,
  SandboxLayers,
  SandboxSpec,
} from './backend.js';
import { createSessionCgroup, detectCgroups, type CgroupInfo, type Controller, type SessionCgroup } from './cgroups.js';
import { SupervisorChannel, type ExecHandle, type OutputSink } from './channel.js';
import { RLIMIT, type Rlimit } from './protocol.js';
import { buildSeccompFilter, type SeccompFilter } from './seccomp.js';

/** The uid/gid commands run as inside the sandbox. */
export const SANDBOX_UID = 1000;
/** Where the supervisor binary appears inside the sandbox. */
const SUPERVISOR_IN_SANDBOX = '/run/airlock/supervisor';
const STARTUP_TIMEOUT_MS = 10_000;

/** Path of the built supervisor in this package. */
export function supervisorPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'airlock-supervisor');
}

function findExecutable(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Options for {@link createBwrapBackend}. */
export interface BwrapBackendOptions {
  /** bwrap executable; found in /usr/bin, /bin or /usr/local/bin when not given. */
  bwrapPath?: string;
  /** Supervisor binary; the package's build output when not given. */
  supervisorPath?: string;
}

const NAMESPACES = ['user', 'mount', 'pid', 'ipc', 'uts', 'cgroup', 'net'];

function generatedEtc(dir: string, hostname: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: Record<string, string> = {
    passwd:
      'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
      `agent:x:${SANDBOX_UID}:${SANDBOX_UID}:Airlock agent:/home/agent:/bin/bash\n` +
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    group: `root:x:0:\nagent:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    hostname: `${hostname}\n`,
    // No resolver: the sandbox has no route to one. Names are resolved by the egress proxy.
    'resolv.conf': '# Airlock: no DNS inside the sandbox; network access goes through the HTTP proxy.\n',
  };
  const out: Record<string, string> = {};
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o644 });
    out[`/etc/${name}`] = p;
  }
  return out;
}

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
  for (const m of spec.template.mounts) {
    let st;
    try {
      st = lstatSync(m.src);
    } catch {
      if (m.optional) continue;
      throw new AirlockError('E_TEMPLATE_INVALID', `template "${spec.template.name}" binds ${m.src}, which does not exist on this host`, {
        hint: `Mark the mount optional: true in ${spec.template.file}, or choose another template.`,
      });
    }
    // Reproduce a symlink (merged /usr: /bin -> usr/bin) rather than binding its target twice.
    if (st.isSymbolicLink()) a.push('--symlink', readlinkSync(m.src), m.dest);
    else a.push('--ro-bind', m.src, m.dest);
  }
  for (const [dest, src] of Object.entries(etcFiles)) a.push('--ro-bind', src, dest);
  a.push('--proc', '/proc', '--dev', '/dev');
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

function rlimitsFor(limits: ResolvedLimits, weak: Set<Controller>): Rlimit[] {
  const big = (n: number): bigint => BigInt(Math.floor(n));
  const out: Rlimit[] = [
    { resource: RLIMIT.FSIZE, soft: big(limits.fileSizeBytes), hard: big(limits.fileSizeBytes) },
    { resource: RLIMIT.NOFILE, soft: big(limits.openFiles), hard: big(limits.openFiles) },
    { resource: RLIMIT.CORE, soft: 0n, hard: 0n },
  ];
  if (weak.has('memory')) out.push({ resource: RLIMIT.AS, soft: big(limits.memoryBytes), hard: big(limits.memoryBytes) });
  if (weak.has('pids')) out.push({ resource: RLIMIT.NPROC, soft: big(limits.pids), hard: big(limits.pids) });
  return out;
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
      const wanted: Partial<Record<Controller, number | undefined>> = {
        memory: spec.limits.memoryBytes,
        pids: spec.limits.pids,
        cpu: spec.limits.cpus,
      };
      const weak = new Set<Controller>();
      for (const [c, v] of Object.entries(wanted) as [Controller, number | undefined][]) {
        if (v === undefined || cgroupInfo.sites[c] !== undefined) continue;
        if (spec.limits.weakLimits === 'refuse' || c === 'cpu') {
          throw new AirlockError(
            'E_LIMIT_UNENFORCEABLE',
            `no cgroup layer can enforce the ${c} limit here: ${cgroupInfo.problems[c] ?? 'unavailable'}`,
            {
              hint:
                c === 'cpu'
                  ? 'Drop --cpus, or run airlock where the cpu controller is delegated (cgroup v2: systemd-run --user -p Delegate=yes).'
                  : 'Delegate cgroup controllers to airlock (cgroup v2: systemd-run --user --scope -p Delegate=yes airlock …), or accept per-process rlimits with --weak-limits rlimit.',
            },
          );
        }
        weak.add(c);
      }
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
        const stderrTail: Buffer[] = [];
        proc.stderr?.on('data', (d: Buffer) => {
          stderrTail.push(d);
          if (stderrTail.length > 32) stderrTail.shift();
        });
        const stderrText = (): string => Buffer.concat(stderrTail).toString('utf8').trim();
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
            return channel.exec(
              {
                argv: req.argv,
                env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
                cwd: req.cwd,
                tty: req.tty !== undefined,
                cols: req.tty?.cols ?? 0,
                rows: req.tty?.rows ?? 0,
                rlimits,
              },
              sink,
            );
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

function tryKill(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
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
  return checks;
}
