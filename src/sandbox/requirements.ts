/**
 * Security requirements of the sandbox part, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const SANDBOX_REQUIREMENTS = {
  'sandbox.nonroot': 'commands run as uid/gid 1000 inside a user namespace, never as root',
  'sandbox.no-capabilities': 'every capability is dropped, including the bounding set',
  'sandbox.no-new-privs': 'no_new_privs is set, so setuid binaries and file capabilities grant nothing',
  'sandbox.seccomp-on': 'a seccomp filter is loaded for every process in the sandbox',
  'sandbox.seccomp-escape-syscalls': 'ptrace, process_vm_*, mount family, keyctl, bpf, perf_event_open, userfaultfd, kexec, modules, open_by_handle_at, io_uring, pidfd_getfd fail with EPERM',
  'sandbox.seccomp-foreign-abi': 'x32 and ia32 system calls kill the process',
  'sandbox.seccomp-socket-families': 'sockets other than unix/inet/inet6 are refused',
  'sandbox.no-nested-namespaces': 'unshare, setns and clone with namespace flags are refused',
  'sandbox.no-tiocsti': 'TIOCSTI terminal injection is refused, and commands run in a new session',
  'sandbox.pid-namespace': 'host processes are invisible and cannot be signalled; the supervisor is pid 1',
  'sandbox.net-loopback-only': 'the only network interface is loopback: no TCP, UDP or DNS reaches the host or beyond',
  'sandbox.no-host-unix-sockets': 'host unix sockets (path and abstract) are unreachable',
  'sandbox.readonly-root': 'the root filesystem is read-only and built from an explicit list of host paths',
  'sandbox.proc-sys-readonly': '/proc/sys, /proc/sysrq-trigger, /proc/irq and /proc/bus are read-only even when airlock runs as root (no kernel.core_pattern from inside)',
  'sandbox.no-host-secrets': 'home directories, /root, /etc/shadow, ssh keys, cloud credentials and docker.sock are absent',
  'sandbox.workspace-rw': '/workspace is the project directory, read-write (or read-only when asked)',
  'sandbox.tmp-limited': '/tmp is a private size-limited tmpfs with nosuid and nodev',
  'sandbox.env-scrubbed': "the host's environment never reaches the sandbox; only an allowlist plus what options name",
  'sandbox.pids-limit': 'a fork bomb is stopped by the pids limit and the session survives',
  'sandbox.memory-limit': 'a memory hog is killed by the memory limit',
  'sandbox.file-limits': 'file size and open-file limits apply to every command',
  'sandbox.zombies-reaped': 'orphaned and exited processes are reaped by the supervisor',
  'sandbox.dies-with-host': 'no sandbox process outlives the host process, even after SIGKILL',
  'sandbox.cleanup': 'destroying a session kills every process in it and removes its cgroups and runtime files',
  'sandbox.sessions-isolated': 'two sessions in one process share no files, processes or state',
  'sandbox.exec-timeout': 'a command past its wall-clock limit is killed',
  'sandbox.session-timeout': 'a session past its wall-clock limit is destroyed',
  'sandbox.workspace-vetted': 'a workspace that is a system directory, contains the home directory or the state directory is refused',
  'sandbox.control-channel-private': 'no process in the sandbox can reach the supervisor control channel',
  'sandbox.fail-closed': 'a missing bwrap, supervisor, template path or cgroup layer stops the run with a coded error; nothing runs unsandboxed',
} as const;

/** A sandbox requirement id. */
export type SandboxRequirement = keyof typeof SANDBOX_REQUIREMENTS;
