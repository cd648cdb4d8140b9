/**
 * The interface every sandbox backend implements (bwrap today; gvisor, docker and
 * kubernetes plug in behind it). A backend turns a {@link SandboxSpec} into a running
 * sandbox whose pid 1 is the supervisor, and hands back a {@link Sandbox} that runs
 * commands through it. Backends decide no policy and never see a secret.
 */
import type { ExecHandle, OutputSink } from './channel.js';
import type { Template } from './templates.js';

/** Names of the backends. */
export type BackendName = 'bwrap' | 'gvisor' | 'docker' | 'kubernetes';

/** Resource limits after defaults and parsing, in plain units. */
export interface ResolvedLimits {
  /** Memory for the whole sandbox, bytes (cgroup). */
  memoryBytes: number;
  /** Processes and threads in the whole sandbox (cgroup). */
  pids: number;
  /** CPU bandwidth in cores (cgroup), or undefined for no cap. */
  cpus?: number;
  /** Size of the /tmp tmpfs, bytes. */
  tmpBytes: number;
  /** Size of the home directory tmpfs, bytes. */
  homeBytes: number;
  /** Largest file a process may write (RLIMIT_FSIZE), bytes. */
  fileSizeBytes: number;
  /** Open files per process (RLIMIT_NOFILE). */
  openFiles: number;
  /** Default wall-clock limit per exec, ms (0: none). */
  execTimeoutMs: number;
  /** Wall-clock limit of the whole session, ms (0: none). */
  sessionTimeoutMs: number;
  /**
   * What to do when no cgroup layer can enforce memory/pids/cpu: refuse to start
   * (default), or accept per-process rlimits instead (RLIMIT_AS, RLIMIT_NPROC).
   */
  weakLimits: 'refuse' | 'rlimit';
}

/** A host path made visible inside the sandbox. */
export interface ExtraBind {
  hostPath: string;
  sandboxPath: string;
  readOnly: boolean;
}

/** A loopback TCP port inside the sandbox that the supervisor splices to a unix socket. */
export interface Bridge {
  port: number;
  /** Path of the unix socket as seen inside the sandbox (bind it with an ExtraBind). */
  socketPath: string;
}

/** Everything a backend needs to start one sandbox. */
export interface SandboxSpec {
  sessionId: string;
  template: Template;
  /** Host directory bound at /workspace. */
  workspace: string;
  /** Bind /workspace read-only. */
  workspaceReadOnly: boolean;
  /** Host directory private to this session (0700) for generated files. */
  runtimeDir: string;
  limits: ResolvedLimits;
  extraBinds: readonly ExtraBind[];
  bridges: readonly Bridge[];
  hostname: string;
}

/** Which isolation and limit layers are in force for a running sandbox. */
export interface SandboxLayers {
  namespaces: string[];
  seccomp: string;
  limits: Record<string, string>;
}

/** What one exec asks of the sandbox. */
export interface SandboxExecRequest {
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
  cwd: string;
  tty?: { cols: number; rows: number };
}

/** A running sandbox. */
export interface Sandbox {
  readonly backend: BackendName;
  /** Host pid of the sandbox's outermost process. */
  readonly hostPid: number;
  readonly layers: SandboxLayers;
  /** Resolves when the sandbox has gone, for any reason. */
  readonly exited: Promise<Error>;
  /** Starts a command inside. */
  exec(req: SandboxExecRequest, sink: OutputSink): ExecHandle;
  /** Peak memory of the whole sandbox in bytes, when measured. */
  memoryPeak(): number | undefined;
  /** Whether the memory limit killed something. */
  oomKilled(): boolean;
  /** Kills everything inside and releases every host resource. Idempotent. */
  destroy(): Promise<void>;
}

/** One check `airlock doctor` reports. */
export interface BackendCheck {
  name: string;
  /** The backend the check is about, when it is about one other than the default (bwrap). */
  backend?: BackendName;
  ok: boolean;
  /** Works, but weaker than it should be: printed as `warn` with its fix; does not fail the check. */
  warn?: boolean;
  detail: string;
  /** What to install or change when not ok (or when `warn`). */
  fix?: string;
}

/** A sandbox implementation. */
export interface Backend {
  readonly name: BackendName;
  /** Probes the machine; never throws. */
  check(): Promise<BackendCheck[]>;
  /** Starts a sandbox; throws AirlockError when it cannot. */
  start(spec: SandboxSpec): Promise<Sandbox>;
}
