/**
 * The gVisor backend: the same supervisor, template and limits as bwrap, run by `runsc`
 * inside gVisor's user-space kernel (the Sentry) instead of directly on the host kernel.
 *
 * Per session, in the session's runtime directory:
 *
 *   gvisor/bundle/config.json   an OCI spec: uid/gid 1000, no capabilities, no_new_privs,
 *                               read-only root, the template's binds, /workspace, tmpfs /tmp
 *                               and /home/agent, the supervisor bound read-only
 *   gvisor/bundle/rootfs/       the root: empty mount points, the template's symlinks, the
 *                               generated /etc files and the seccomp program, nothing else
 *   gvisor/state/               runsc's --root (container state, lock files)
 *
 * runsc runs as root, as `runsc run` (foreground) with --network=none (a loopback-only
 * netstack) and --ignore-cgroups: limits come from our own cgroups (cgroups.ts) under this
 * process's cgroup, which runsc and everything it forks (gofer, Sentry, platform stubs) join
 * before they run a sandboxed instruction. The spec's user namespace (idMappings) makes the
 * agent's uid 1000 the host user, as bwrap does, and puts the gofer and Sentry on host ids of
 * their own. The control socket is runsc's stdout, which runsc hands to the container's first
 * process as fd 1; the supervisor moves it to fd 3 (`--control-fd 1`). The supervisor also
 * loads airlock's seccomp program itself (`--seccomp`), so commands run under the very filter
 * bwrap installs, enforced by the Sentry.
 *
 * Nothing outlives the host: runsc is started through `setpriv --pdeathsig KILL`, so it dies
 * with this process, and the Sentry (started by runsc with a parent-death signal) and its
 * platform stubs die with it; the gofer exits when the Sentry's connections close. The control
 * socket's EOF also ends the sandbox from inside, through the supervisor.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { join, posix } from 'node:path';
import type { Duplex } from 'node:stream';
import { AirlockError } from '../errors/index.js';
import type { Backend, BackendCheck, Sandbox, SandboxExecRequest, SandboxLayers, SandboxSpec } from './backend.js';
import { createSessionCgroup, detectCgroups, type CgroupInfo, type SessionCgroup } from './cgroups.js';
import { SupervisorChannel, type ExecHandle, type OutputSink } from './channel.js';
import {
  SANDBOX_UID,
  STARTUP_TIMEOUT_MS,
  SUPERVISOR_IN_SANDBOX,
  descendants,
  etcFiles,
  findExecutable,
  keepTail,
  rlimitsFor,
  supervisorPath,
  templateEntries,
  tryKill,
  weakControllers,
  type RootEntry, toWireExec } from './common.js';
import { RLIMIT } from './protocol.js';
import { buildSeccompFilter, type SeccompFilter } from './seccomp.js';

/** Where the seccomp program sits in the sandbox's root, for the supervisor to load. */
const SECCOMP_IN_SANDBOX = '/run/airlock/seccomp';
/** The fd runsc gives the container's first process for its stdout: our control socket. */
const CONTROL_FD_FROM_RUNSC = 1;
/** gVisor release whose statx/fstatat accept AT_NO_AUTOMOUNT (GNU ls 9 fails before it). */
const STATX_FIX_DATE = 20230306;

/** Options for {@link createGvisorBackend}. */
export interface GvisorBackendOptions {
  /** runsc executable; AIRLOCK_RUNSC, else /usr/bin, /bin, /usr/local/bin, /usr/sbin. */
  runscPath?: string;
  /** Supervisor binary; the package's build output when not given. */
  supervisorPath?: string;
  /**
   * runsc platform. Default: systrap when this runsc has it, else ptrace; both work without
   * KVM. AIRLOCK_GVISOR_PLATFORM overrides the default.
   */
  platform?: string;
}

/** What a runsc binary says about itself. */
export interface RunscInfo {
  path: string;
  /** First line of `runsc --version`. */
  version: string;
  /** The release date in the version (YYYYMMDD), when it has one. */
  date: number | undefined;
  /** Platforms `runsc help platforms` lists. */
  platforms: string[];
}

/**
 * Probe results by binary, keyed on its size, mtime and inode. Each probe starts runsc twice
 * (about 100 ms each on a small machine), and what a binary supports is a pure function of
 * its bytes: a memo, invalidated when the file changes, like the template cache.
 */
const runscMemo = new Map<string, { key: string; info: RunscInfo }>();

const platformsMemo = new Map<string, { key: string; platforms: string[] }>();

// stdio is never /dev/null: runsc chowns the files behind its stdio to the sandbox user.
const PROBE_OPTIONS = { encoding: 'utf8' as const, env: {}, timeout: 10_000, stdio: ['pipe', 'pipe', 'pipe'] as ['pipe', 'pipe', 'pipe'] };

function fileKey(path: string): string {
  const st = statSync(path);
  return `${st.size}:${st.mtimeMs}:${st.ino}`;
}

/**
 * The platforms `runsc help platforms` lists (memoized per binary). What session start needs:
 * one runsc run instead of the two of {@link runscInfo}. Throws when runsc will not run.
 */
export function runscPlatforms(path: string): string[] {
  const key = fileKey(path);
  const hit = platformsMemo.get(path);
  if (hit?.key === key) return hit.platforms;
  const p = spawnSync(path, ['help', 'platforms'], PROBE_OPTIONS);
  if (p.status !== 0) throw new Error(`${path} help platforms failed: ${(p.stderr || p.error?.message || `status ${p.status ?? 'none'}`).trim()}`);
  const platforms = p.stdout.split('\n').map((l) => l.trim()).filter((l) => /^[a-z0-9]+$/.test(l));
  platformsMemo.set(path, { key, platforms });
  return platforms;
}

/** Runs `runsc --version` and `runsc help platforms` (memoized per binary). Throws when runsc will not run. */
export function runscInfo(path: string): RunscInfo {
  const key = fileKey(path);
  const hit = runscMemo.get(path);
  if (hit?.key === key) return hit.info;
  const v = spawnSync(path, ['--version'], PROBE_OPTIONS);
  if (v.status !== 0) throw new Error(`${path} --version failed: ${(v.stderr || v.error?.message || '').trim()}`);
  const version = (v.stdout.split('\n')[0] ?? '').trim();
  const m = /(20\d{6})/.exec(version);
  const info: RunscInfo = { path, version, date: m?.[1] === undefined ? undefined : Number(m[1]), platforms: runscPlatforms(path) };
  runscMemo.set(path, { key, info });
  return info;
}

/**
 * The platform to use: systrap (seccomp traps, gVisor's default since 2023) when the binary
 * has it, else ptrace. KVM is never chosen by default: it needs /dev/kvm, which VMs without
 * nested virtualization lack, and the choice must not depend on the machine.
 */
export function pickPlatform(platforms: readonly string[]): string | undefined {
  for (const p of ['systrap', 'ptrace']) if (platforms.includes(p)) return p;
  return undefined;
}

/** A typed subset of the OCI runtime spec: what this backend writes. */
export interface OciSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
    noNewPrivileges: boolean;
    rlimits: { type: string; hard: number; soft: number }[];
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: { namespaces: { type: string }[]; uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

/** One line of an OCI uid/gid map. */
export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** Ids 0-65535 exist inside; the sandbox's own user sits at SANDBOX_UID among them. */
const ID_SPACE = 0x10000;
/** Host ids for sandboxes start here, one block of ID_SPACE per session, far above real users. */
const HOST_ID_BASE = 0x40000000;
const HOST_ID_BLOCKS = 0x3000;

/** A random block of host ids for one session (see idMappings). */
export function randomIdBase(): number {
  return HOST_ID_BASE + ID_SPACE * randomInt(HOST_ID_BLOCKS);
}

/**
 * The user namespace runsc puts the gofer and the Sentry in. SANDBOX_UID inside is the host
 * user running airlock, so the workspace and the template's files look and behave exactly as
 * under bwrap (which maps the same way): the agent owns what the host user owns, and what it
 * creates belongs to the host user. Every other id, including the gofer's root and the
 * Sentry's nobody, maps into a block of otherwise unused host ids private to this session, so
 * neither holds a real host identity and two sessions' processes cannot signal each other.
 */
export function idMappings(hostId: number, base: number): IdMapping[] {
  return [
    { containerID: 0, hostID: base, size: SANDBOX_UID },
    { containerID: SANDBOX_UID, hostID: hostId, size: 1 },
    { containerID: SANDBOX_UID + 1, hostID: base + SANDBOX_UID + 1, size: ID_SPACE - SANDBOX_UID - 1 },
  ];
}

/** Paths the sandbox's root gets from airlock itself, under no template bind. */
const OWN_PATHS = ['/proc', '/dev', '/sys', '/tmp', '/home/agent', '/workspace', '/run/airlock', '/etc'];

function isAncestor(parent: string, child: string): boolean {
  return parent === '/' || child.startsWith(`${parent}/`);
}

/**
 * Refuses template binds that would cover a path airlock creates in the root (a bind of /run
 * or /etc as a whole): runsc's gofer would then create our mount points inside the host's own
 * directory. bwrap refuses these too (it cannot create them as an unprivileged user).
 */
function checkEntries(spec: SandboxSpec, entries: readonly RootEntry[]): void {
  for (const e of entries) {
    const covered = OWN_PATHS.filter((p) => isAncestor(e.dest, p) || e.dest === p);
    if (e.kind === 'bind' && covered.length > 0) {
      throw new AirlockError('E_TEMPLATE_INVALID', `template "${spec.template.name}" binds ${e.dest}, which covers ${covered.join(', ')} that airlock builds itself`, {
        hint: `Bind the subdirectories you need (e.g. ${e.dest}/ssl/certs) instead of ${e.dest} as a whole, in ${spec.template.file}.`,
      });
    }
  }
}

/** Options of an OCI bind mount, read-only or not. */
function bindOptions(readOnly: boolean, directory: boolean): string[] {
  return [directory ? 'rbind' : 'bind', readOnly ? 'ro' : 'rw'];
}

/**
 * The OCI spec for one session. Pure: `entries` comes from templateEntries(), `supervisor` is
 * the host path of the binary; exported for unit tests.
 */
export function gvisorSpec(
  spec: SandboxSpec,
  entries: readonly RootEntry[],
  supervisor: string,
  extraIsDir: readonly boolean[],
  ids: { uid: number; gid: number; base: number },
): OciSpec {
  const mounts: OciSpec['mounts'] = [{ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'nodev', 'noexec'] }];
  for (const e of entries) if (e.kind === 'bind') mounts.push({ destination: e.dest, type: 'bind', source: e.src, options: bindOptions(true, e.directory) });
  mounts.push({
    destination: '/tmp',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=1777', `size=${spec.limits.tmpBytes}`],
  });
  mounts.push({
    destination: '/home/agent',
    type: 'tmpfs',
    source: 'tmpfs',
    options: ['nosuid', 'nodev', 'mode=0700', `size=${spec.limits.homeBytes}`, `uid=${SANDBOX_UID}`, `gid=${SANDBOX_UID}`],
  });
  mounts.push({ destination: '/workspace', type: 'bind', source: spec.workspace, options: bindOptions(spec.workspaceReadOnly, true) });
  spec.extraBinds.forEach((b, i) => {
    mounts.push({ destination: b.sandboxPath, type: 'bind', source: b.hostPath, options: bindOptions(b.readOnly, extraIsDir[i] ?? false) });
  });
  mounts.push({ destination: SUPERVISOR_IN_SANDBOX, type: 'bind', source: supervisor, options: bindOptions(true, false) });
  const args = [SUPERVISOR_IN_SANDBOX, '--control-fd', String(CONTROL_FD_FROM_RUNSC), '--seccomp', SECCOMP_IN_SANDBOX];
  for (const br of spec.bridges) args.push('--bridge', `${br.port}=${br.socketPath}`);
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: SANDBOX_UID, gid: SANDBOX_UID, additionalGids: [] },
      args,
      // The supervisor passes each command its own environment; it needs none itself.
      env: [],
      cwd: '/workspace',
      capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
      noNewPrivileges: true,
      rlimits: [
        { type: 'RLIMIT_NOFILE', hard: spec.limits.openFiles, soft: spec.limits.openFiles },
        { type: 'RLIMIT_CORE', hard: 0, soft: 0 },
      ],
    },
    root: { path: 'rootfs', readonly: true },
    hostname: spec.hostname,
    mounts,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
      uidMappings: idMappings(ids.uid, ids.base),
      gidMappings: idMappings(ids.gid, ids.base),
    },
  };
}

/** Creates a mount point (directory or empty file) inside the root. */
function mountPoint(rootfs: string, dest: string, directory: boolean): void {
  const p = join(rootfs, dest);
  if (directory) {
    mkdirSync(p, { recursive: true, mode: 0o755 });
    return;
  }
  mkdirSync(join(rootfs, posix.dirname(dest)), { recursive: true, mode: 0o755 });
  if (!existsSync(p)) writeFileSync(p, '', { mode: 0o644 });
}

/**
 * Builds the root directory the gofer serves read-only: every mount point made here, by us,
 * so runsc never creates one (it would do so as root, wherever the path leads).
 */
function prepareRootfs(rootfs: string, spec: SandboxSpec, entries: readonly RootEntry[], filter: SeccompFilter, extraIsDir: readonly boolean[]): void {
  mkdirSync(rootfs, { recursive: true, mode: 0o755 });
  // The runtime directory is 0700; the root itself must be traversable by uid 1000 inside.
  chmodSync(rootfs, 0o755);
  for (const d of ['proc', 'dev', 'sys', 'tmp', 'home/agent', 'workspace', 'run/airlock', 'etc']) mountPoint(rootfs, `/${d}`, true);
  for (const e of entries) {
    if (e.kind === 'symlink') {
      mkdirSync(join(rootfs, posix.dirname(e.dest)), { recursive: true, mode: 0o755 });
      symlinkSync(e.target, join(rootfs, e.dest));
    } else {
      mountPoint(rootfs, e.dest, e.directory);
    }
  }
  for (const [name, content] of Object.entries(etcFiles(spec.hostname))) {
    writeFileSync(join(rootfs, 'etc', name), content, { mode: 0o644 });
  }
  writeFileSync(join(rootfs, SECCOMP_IN_SANDBOX), filter.program, { mode: 0o444 });
  mountPoint(rootfs, SUPERVISOR_IN_SANDBOX, false);
  spec.extraBinds.forEach((b, i) => { mountPoint(rootfs, b.sandboxPath, extraIsDir[i] ?? false); });
}

/** runsc's global flags for one session. */
function runscFlags(stateDir: string, platform: string, spec: SandboxSpec): string[] {
  const flags = [
    `--root=${stateDir}`,
    `--platform=${platform}`,
    // A netstack with loopback only: no interface reaches the host or beyond.
    '--network=none',
    // Our own cgroups (cgroups.ts) hold runsc and all it forks; runsc must not make its own
    // outside the cgroup this process lives in.
    '--ignore-cgroups',
  ];
  // The supervisor's bridges connect to host unix sockets bound in with extraBinds; gVisor
  // refuses host sockets unless told. Only then, and only connect ("open"), never create.
  if (spec.bridges.length > 0) flags.push('--host-uds=open');
  if (spec.limits.cpus !== undefined) flags.push('--cpu-num-from-quota');
  return flags;
}

/** A host process recorded by pid and start time, so that a reused pid is never mistaken for it. */
interface HostProcess {
  pid: number;
  start: string;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined when the process is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Host threads a sandbox may use beyond its commands: the Sentry's and gofer's own. */
const HOST_PIDS_BASE = 256;
/** Host threads per sandboxed process (a platform stub process and its threads). */
const HOST_PIDS_PER_TASK = 8;

/** The host pids.max backstop for a sandbox whose Sentry allows `pids` tasks. */
export function hostPidsBackstop(pids: number): number {
  return HOST_PIDS_BASE + HOST_PIDS_PER_TASK * pids;
}

function waitExit(proc: ChildProcess, ms: number): Promise<boolean> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => { resolve(false); }, ms);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Creates the gVisor backend. */
export function createGvisorBackend(options: GvisorBackendOptions = {}): Backend {
  const chosen = options.runscPath ?? process.env['AIRLOCK_RUNSC'];
  const runsc = chosen !== undefined && chosen !== '' ? (existsSync(chosen) ? chosen : undefined) : findExecutable('runsc');
  const supervisor = options.supervisorPath ?? supervisorPath();
  const setpriv = findExecutable('setpriv');
  const platformOverride = options.platform ?? (process.env['AIRLOCK_GVISOR_PLATFORM'] || undefined);
  let cgroupInfo: CgroupInfo | undefined;
  let seccomp: SeccompFilter | undefined;

  const platformFor = (path: string, platforms: readonly string[]): string => {
    const platform = platformOverride ?? pickPlatform(platforms);
    if (platform === undefined || !platforms.includes(platform)) {
      throw new AirlockError(
        'E_BACKEND_UNAVAILABLE',
        `${path} offers the platforms [${platforms.join(', ')}], not ${platform ?? 'systrap or ptrace'}`,
        { hint: 'Install a gVisor release with the systrap or ptrace platform (https://gvisor.dev/docs/user_guide/install/), or unset AIRLOCK_GVISOR_PLATFORM.' },
      );
    }
    return platform;
  };

  return {
    name: 'gvisor',

    check(): Promise<BackendCheck[]> {
      return Promise.resolve(checkGvisor({ runsc, supervisor, platformOverride, probe: true }));
    },

    async start(spec: SandboxSpec): Promise<Sandbox> {
      if (runsc === undefined) {
        throw new AirlockError('E_BACKEND_UNAVAILABLE', 'gVisor (runsc) is not installed', {
          hint: 'Install it: apt-get install -y runsc (Debian 12+), or from gVisor’s repository: https://gvisor.dev/docs/user_guide/install/. Or use --backend bwrap.',
        });
      }
      if (!existsSync(supervisor)) {
        throw new AirlockError('E_SUPERVISOR_MISSING', `the sandbox supervisor ${supervisor} is not built`, {
          hint: 'Run `npm run build` (needs gcc and libc6-dev: apt-get install -y gcc libc6-dev).',
        });
      }
      if (setpriv === undefined) {
        throw new AirlockError('E_BACKEND_UNAVAILABLE', 'setpriv is not installed: airlock needs it to make runsc die with airlock', {
          hint: 'Install util-linux (apt-get install -y util-linux), which provides setpriv.',
        });
      }
      let platforms: string[];
      try {
        platforms = runscPlatforms(runsc);
      } catch (err) {
        throw new AirlockError('E_BACKEND_UNAVAILABLE', `runsc cannot run here: ${(err as Error).message}`, {
          hint: 'Reinstall runsc (apt-get install --reinstall runsc), then run `airlock doctor`.',
          cause: err,
        });
      }
      if (process.geteuid?.() !== 0) {
        // runsc writes the session's uid/gid maps (idMappings) and needs root for that; its
        // --rootless mode would need newuidmap and /etc/subuid ranges, which airlock does not
        // set up. Refuse rather than run with a weaker or different identity mapping.
        throw new AirlockError('E_BACKEND_UNAVAILABLE', 'the gvisor backend runs runsc as root, and this process is not root', {
          hint: 'Run airlock as root for --backend gvisor (runsc then drops to private host ids per session), or use --backend bwrap.',
        });
      }
      const platform = platformFor(runsc, platforms);
      const filter = (seccomp ??= buildSeccompFilter());
      cgroupInfo ??= detectCgroups();
      // The generated /etc files win over a template bind of the same path, as under bwrap
      // (which binds them last).
      const generated = new Set(Object.keys(etcFiles(spec.hostname)).map((n) => `/etc/${n}`));
      const entries = templateEntries(spec).filter((e) => !generated.has(e.dest));
      checkEntries(spec, entries);
      // The Sentry enforces RLIMIT_NPROC per uid inside the sandbox, over all of its tasks:
      // a real per-sandbox process limit, not a weak fallback. A host pids cgroup can only
      // count the Sentry's own host threads, so it is a backstop (see hostPidsBackstop).
      const weak = weakControllers({ memory: spec.limits.memoryBytes, cpu: spec.limits.cpus }, spec.limits.weakLimits, cgroupInfo);
      const backstop = cgroupInfo.sites.pids !== undefined ? hostPidsBackstop(spec.limits.pids) : undefined;
      const cgroup: SessionCgroup = createSessionCgroup(
        spec.sessionId,
        {
          ...(weak.has('memory') ? {} : { memoryBytes: spec.limits.memoryBytes }),
          ...(backstop === undefined ? {} : { pids: backstop }),
          ...(spec.limits.cpus === undefined ? {} : { cpus: spec.limits.cpus }),
        },
        cgroupInfo,
      );

      const dir = join(spec.runtimeDir, 'gvisor');
      const bundle = join(dir, 'bundle');
      const stateDir = join(dir, 'state');
      const containerId = `airlock-${spec.sessionId}`;
      let child: ChildProcess | undefined;
      let known: HostProcess[] = [];
      const killAll = (): void => {
        // Only what this session started: runsc, what it forks now, and what it had forked at
        // start-up (gofer, Sentry, stubs) if each is still that same process (a pid can be
        // reused once its process is gone).
        const live = child !== undefined && child.exitCode === null && child.signalCode === null;
        if (live && child?.pid !== undefined) for (const pid of descendants(child.pid)) tryKill(pid);
        for (const p of known) if (startTimeOf(p.pid) === p.start) tryKill(p.pid);
        if (live) tryKill(child?.pid);
      };
      try {
        const extraIsDir = spec.extraBinds.map((b) => lstatSync(b.hostPath).isDirectory());
        prepareRootfs(join(bundle, 'rootfs'), spec, entries, filter, extraIsDir);
        const ids = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, base: randomIdBase() };
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(gvisorSpec(spec, entries, supervisor, extraIsDir, ids)), { mode: 0o600 });
        mkdirSync(stateDir, { mode: 0o700 });
        // Through setpriv: runsc gets SIGKILL the moment this process dies, whatever the
        // sandbox does. The control socket's EOF ends the sandbox too, but only through the
        // supervisor, and under gVisor a command can stop pid 1 (see docs/gvisor.md); runsc's
        // death takes the Sentry with it (runsc starts it with a parent-death signal).
        child = spawn(setpriv, ['--pdeathsig', 'KILL', '--', runsc, ...runscFlags(stateDir, platform, spec), 'run', `--bundle=${bundle}`, containerId], {
          // stdin: a pipe closed at once; stdout: the control socket (a socketpair); stderr:
          // diagnostics. Never 'ignore': runsc would chown /dev/null to the sandbox user.
          stdio: ['pipe', 'pipe', 'pipe'],
          // Its own process group: a Ctrl-C on the user's terminal must not kill the sandbox.
          detached: true,
          env: {},
        });
        const proc = child;
        // Into the session's groups before runsc has forked anything: Go's start-up alone takes
        // tens of ms, and everything it forks inherits the groups. Checked again once ready.
        if (proc.pid !== undefined) cgroup.addProcess(proc.pid);
        proc.stdin?.end();
        const stderrText = keepTail(proc.stderr);
        const exitedEarly = new Promise<never>((_, reject) => {
          proc.once('exit', (code, signal) => {
            reject(
              new AirlockError('E_BACKEND_FAILED', `runsc exited during start-up (${signal ?? `status ${code}`}): ${stderrText() || 'no message'}`, {
                hint: 'Run `airlock doctor` to check runsc, its platform and the template.',
              }),
            );
          });
          proc.once('error', (err) => {
            reject(new AirlockError('E_BACKEND_FAILED', `could not start runsc: ${err.message}`, { hint: 'Run `airlock doctor`.', cause: err }));
          });
        });
        exitedEarly.catch(() => undefined);
        // Node types stdio as plain streams; a 'pipe' is a socketpair end, readable and writable.
        const control = (proc.stdio as unknown as (Duplex | null)[])[1];
        if (control === null || control === undefined) throw new Error('runsc stdout pipe missing');
        let channelClosed: (err: Error) => void = () => undefined;
        const closedPromise = new Promise<Error>((resolve) => {
          channelClosed = resolve;
        });
        const channel = new SupervisorChannel(control, { onClose: (err) => { channelClosed(err); } });
        const timeout = new Promise<never>((_, reject) => {
          const t = setTimeout(() => {
            reject(new AirlockError('E_BACKEND_FAILED', `the supervisor did not start within ${STARTUP_TIMEOUT_MS} ms under gVisor: ${stderrText()}`, { hint: 'Run `airlock doctor`.' }));
          }, STARTUP_TIMEOUT_MS);
          t.unref();
        });
        await Promise.race([channel.ready, exitedEarly, timeout]);
        // Every process runsc started must be in the session's groups; one forked before our
        // addProcess above (only under extreme load) is moved now.
        known = [];
        for (const pid of proc.pid === undefined ? [] : descendants(proc.pid)) {
          const start = startTimeOf(pid);
          if (start === undefined) continue;
          known.push({ pid, start });
          cgroup.addProcess(pid);
        }

        const memoryLayer = weak.has('memory')
          ? 'rlimit RLIMIT_AS per process, enforced by the Sentry (weak)'
          : `${cgroup.layers.memory ?? 'none'}: the whole sandbox (Sentry, gofer and commands); reaching it ends the session`;
        const layers: SandboxLayers = {
          namespaces: ['gvisor', `platform=${platform}`, 'user', 'pid', 'net (loopback-only netstack)', 'mount', 'ipc', 'uts'],
          seccomp: `${filter.arch} filter, ${filter.instructions} instructions, ${filter.blocked.length} syscalls refused; loaded by the supervisor, enforced by the gVisor Sentry`,
          limits: {
            memory: memoryLayer,
            pids: `RLIMIT_NPROC ${spec.limits.pids} enforced by the Sentry for the whole sandbox${cgroup.layers.pids === undefined ? '' : `; host backstop ${cgroup.layers.pids} pids.max=${backstop ?? 0}`}`,
            cpu: cgroup.layers.cpu ?? 'none',
            tmp: `tmpfs size=${spec.limits.tmpBytes} (Sentry)`,
            fileSize: 'rlimit RLIMIT_FSIZE',
            openFiles: 'rlimit RLIMIT_NOFILE',
          },
        };
        const rlimits = [
          ...rlimitsFor(spec.limits, weak),
          { resource: RLIMIT.NPROC, soft: BigInt(spec.limits.pids), hard: BigInt(spec.limits.pids) },
        ];
        const endedWith = (): Error =>
          cgroup.oomKilled()
            ? new AirlockError('E_SESSION_CLOSED', `the sandbox reached its memory limit (${spec.limits.memoryBytes} bytes) and gVisor ended it`, {
                hint: 'Under gVisor the memory limit covers the whole sandbox and ends it when reached; raise --memory, or use --backend bwrap, which kills only the largest process.',
              })
            : new AirlockError('E_SESSION_CLOSED', 'the sandbox exited', { hint: 'Start a new session.' });
        const exited = new Promise<Error>((resolve) => {
          proc.once('exit', () => { resolve(endedWith()); });
          void closedPromise.then(() => { resolve(endedWith()); });
        });
        let destroyed: Promise<void> | undefined;
        return {
          backend: 'gvisor',
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
              // runsc run returns once its container has gone, and removes its state and gofer.
              if (!(await waitExit(proc, 3000))) {
                killAll();
                await waitExit(proc, 3000);
              }
              // A gofer or Sentry that outlived runsc (it was killed) is ours to end.
              killAll();
              control.destroy();
              proc.stderr?.destroy();
              await cgroup.destroy();
              rmSync(dir, { recursive: true, force: true });
            })();
            return destroyed;
          },
        };
      } catch (err) {
        killAll();
        await cgroup.destroy().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    },
  };
}

/** Inputs of {@link checkGvisor}. */
export interface GvisorCheckOptions {
  runsc: string | undefined;
  supervisor: string;
  platformOverride: string | undefined;
  /** Start a real sandbox too (about a second); the conformance suite's availability test skips it. */
  probe: boolean;
}

/**
 * The doctor's gVisor checks (every one carries `backend: 'gvisor'`). Never throws. Exported
 * for the conformance suite, which decides from them whether gVisor can run here.
 */
export function checkGvisor({ runsc, supervisor, platformOverride, probe: withProbe }: GvisorCheckOptions): BackendCheck[] {
  const checks: BackendCheck[] = [];
  const fixInstall = 'apt-get install -y runsc (Debian 12+), or gVisor’s apt repository: https://gvisor.dev/docs/user_guide/install/';
  if (runsc === undefined) {
    checks.push({ name: 'gvisor', backend: 'gvisor', ok: false, detail: 'runsc is not installed', fix: fixInstall });
    return checks;
  }
  let info: RunscInfo;
  try {
    info = runscInfo(runsc);
  } catch (err) {
    checks.push({ name: 'gvisor', backend: 'gvisor', ok: false, detail: `runsc cannot run: ${(err as Error).message}`, fix: fixInstall });
    return checks;
  }
  const setpriv = findExecutable('setpriv');
  checks.push({
    name: 'gvisor',
    backend: 'gvisor',
    ok: setpriv !== undefined,
    detail: setpriv !== undefined ? `${runsc}: ${info.version}` : `${runsc}: ${info.version}; setpriv (util-linux) is missing, which ties runsc's life to airlock's`,
    ...(setpriv !== undefined ? {} : { fix: 'apt-get install -y util-linux' }),
  });
  const platform = platformOverride ?? pickPlatform(info.platforms);
  const platformOk = platform !== undefined && info.platforms.includes(platform);
  checks.push({
    name: 'gvisor platform',
    backend: 'gvisor',
    ok: platformOk,
    detail: platformOk
      ? `${platform} (this runsc offers ${info.platforms.join(', ')}; ${platform === 'systrap' ? 'systrap' : 'no systrap in this build, so ptrace'}; KVM not needed)`
      : `no usable platform: runsc offers [${info.platforms.join(', ')}]${platformOverride === undefined ? '' : `, AIRLOCK_GVISOR_PLATFORM=${platformOverride}`}`,
    ...(platformOk ? {} : { fix: 'Install a gVisor release with systrap or ptrace, or unset AIRLOCK_GVISOR_PLATFORM.' }),
  });
  checks.push({
    name: 'gvisor seccomp',
    backend: 'gvisor',
    ok: true,
    detail:
      "airlock's filter is loaded by the supervisor and enforced by the Sentry for every command (same program as bwrap); runsc's --oci-seccomp is not used, its translation in this version can only return EPERM",
  });
  const root = process.geteuid?.() === 0;
  checks.push({
    name: 'gvisor mode',
    backend: 'gvisor',
    ok: root,
    detail: root
      ? 'runsc as root; gofer and Sentry in a user namespace on private host ids per session; the agent (uid 1000) is the host user, as under bwrap'
      : 'this process is not root: the gvisor backend runs runsc as root to map ids (--rootless is not supported)',
    ...(root ? {} : { fix: 'Run airlock as root for --backend gvisor, or use --backend bwrap.' }),
  });
  if (withProbe && root && platformOk && existsSync(supervisor)) {
    const probe = probeRunsc(runsc, platform, supervisor);
    checks.push({
      name: 'gvisor probe',
      backend: 'gvisor',
      ok: probe.ok,
      detail: probe.detail,
      ...(probe.ok ? {} : { fix: 'See the message above; `runsc --debug --debug-log=/tmp/runsc/ …` tells more.' }),
    });
  }
  const compatOk = info.date === undefined || info.date >= STATX_FIX_DATE;
  checks.push({
    name: 'gvisor compat',
    backend: 'gvisor',
    ok: compatOk,
    detail: compatOk
      ? 'statx/fstatat accept AT_NO_AUTOMOUNT'
      : `runsc ${info.date ?? ''} predates gVisor ${STATX_FIX_DATE}: statx and fstatat refuse AT_NO_AUTOMOUNT with EINVAL, so GNU ls 9 (Debian 12) fails inside; other tools work`,
    ...(compatOk ? {} : { fix: 'Install a newer runsc from gVisor’s apt repository (https://gvisor.dev/docs/user_guide/install/).' }),
  });
  return checks;
}

/** Starts a real (tiny) sandbox: the supervisor prints its version under runsc, nothing mounted but itself. */
function probeRunsc(runsc: string, platform: string, supervisor: string): { ok: boolean; detail: string } {
  const dir = join(
    process.env['TMPDIR'] ?? '/tmp',
    `airlock-gvisor-probe-${process.pid}-${Date.now().toString(36)}`,
  );
  try {
    const rootfs = join(dir, 'bundle', 'rootfs');
    mkdirSync(join(rootfs, 'run', 'airlock'), { recursive: true, mode: 0o755 });
    mkdirSync(join(rootfs, 'proc'), { mode: 0o755 });
    chmodSync(dir, 0o700);
    chmodSync(rootfs, 0o755);
    writeFileSync(join(rootfs, SUPERVISOR_IN_SANDBOX), '', { mode: 0o644 });
    const config = {
      ociVersion: '1.0.2',
      process: {
        terminal: false,
        user: { uid: SANDBOX_UID, gid: SANDBOX_UID },
        args: [SUPERVISOR_IN_SANDBOX, '--version'],
        env: [],
        cwd: '/',
        capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
        noNewPrivileges: true,
      },
      root: { path: 'rootfs', readonly: true },
      hostname: 'airlock-probe',
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: SUPERVISOR_IN_SANDBOX, type: 'bind', source: supervisor, options: ['bind', 'ro'] },
      ],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }],
        uidMappings: idMappings(process.getuid?.() ?? 0, randomIdBase()),
        gidMappings: idMappings(process.getgid?.() ?? 0, randomIdBase()),
      },
    };
    writeFileSync(join(dir, 'bundle', 'config.json'), JSON.stringify(config));
    const flags = [`--root=${join(dir, 'state')}`, `--platform=${platform}`, '--network=none', '--ignore-cgroups'];
    const t0 = performance.now();
    const r = spawnSync(runsc, [...flags, 'run', `--bundle=${join(dir, 'bundle')}`, `airlock-probe-${process.pid}-${Date.now().toString(36)}`], {
      encoding: 'utf8',
      env: {},
      timeout: 20_000,
      // Pipes, never /dev/null: runsc chowns whatever its stdio are to the sandbox user.
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const ms = Math.round(performance.now() - t0);
    const ok = r.status === 0 && r.stdout.includes('protocol');
    return {
      ok,
      detail: ok ? `a sandbox started and ran the supervisor under ${platform} in ${ms} ms` : `runsc could not run a sandbox: ${(r.stderr || r.error?.message || `status ${r.status ?? 'none'}`).trim()}`,
    };
  } catch (err) {
    return { ok: false, detail: `runsc probe failed: ${(err as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
