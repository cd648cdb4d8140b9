/**
 * The sandbox's seccomp filter, assembled here as classic BPF (no C helper, no prebuilt
 * blob) and handed to bwrap with `--seccomp FD`. Policy, in order:
 *
 *   1. A foreign architecture (ia32 via int 0x80 on x86_64, arm32 on aarch64) kills the
 *      process: a filter keyed on x86_64 numbers says nothing about the other table.
 *   2. On x86_64, the x32 ABI (syscall number bit 30) kills the process, for the same reason.
 *   3. Escape and kernel-attack-surface syscalls fail with EPERM (see BLOCKED).
 *   4. clone() with any namespace flag fails with EPERM; clone3() fails with ENOSYS, because
 *      its flags live in memory a filter cannot read and libc falls back to clone().
 *   5. socket()/socketpair() of any family but unix, inet and inet6 fail with EAFNOSUPPORT.
 *   6. ioctl TIOCSTI and TIOCLINUX (terminal input injection) fail with EPERM.
 *   8. chmod/fchmod/fchmodat(2), creating opens and mknod(at) with S_ISUID or S_ISGID fail
 *      with EPERM; openat2 fails with ENOSYS (its mode is out of reach of a filter).
 *   7. personality() only with the values ordinary programs use (query, Linux, UNAME26 and
 *      their combinations); ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC fail with EPERM.
 */
import { AirlockError } from '../errors/index.js';

const BPF_LD_W_ABS = 0x20;
const BPF_JMP_JEQ_K = 0x15;
const BPF_JMP_JGE_K = 0x35;
const BPF_JMP_JSET_K = 0x45;
const BPF_RET_K = 0x06;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

const OFF_NR = 0;
const OFF_ARCH = 4;
const argLow = (i: number): number => 16 + 8 * i;

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;

const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

/** personality() values that change nothing security-relevant (the set Docker allows). */
const PERSONALITY_ALLOWED = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME. */
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

/** Names of the syscalls that always fail with EPERM inside the sandbox. */
export const BLOCKED_SYSCALLS = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'pidfd_getfd',
  'kcmp',
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'unshare',
  'setns',
  'keyctl',
  'add_key',
  'request_key',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'open_by_handle_at',
  'name_to_handle_at',
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'swapon',
  'swapoff',
  'reboot',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'syslog',
  'quotactl',
  'quotactl_fd',
  'lookup_dcookie',
  'vhangup',
  'fanotify_init',
  // x86_64 only; absent from the aarch64 table.
  'iopl',
  'ioperm',
  'uselib',
  '_sysctl',
] as const;

type SyscallName =
  | (typeof BLOCKED_SYSCALLS)[number]
  | 'socket'
  | 'socketpair'
  | 'clone'
  | 'clone3'
  | 'ioctl'
  | 'personality'
  | ModeSyscall
  | 'openat2';

/** Syscalls that set a file mode, with the index of their mode and (for opens) flags argument. */
type ModeSyscall = 'chmod' | 'fchmod' | 'fchmodat' | 'fchmodat2' | 'open' | 'openat' | 'creat' | 'mknod' | 'mknodat';
const MODE_ARGS: Record<ModeSyscall, { mode: number; flags?: number }> = {
  chmod: { mode: 1 },
  fchmod: { mode: 1 },
  fchmodat: { mode: 2 },
  fchmodat2: { mode: 2 },
  open: { mode: 2, flags: 1 },
  openat: { mode: 3, flags: 2 },
  creat: { mode: 1 },
  mknod: { mode: 1 },
  mknodat: { mode: 2 },
};
/** S_ISUID | S_ISGID. */
const SETID_BITS = 0o6000;
/** O_CREAT | __O_TMPFILE: the only opens whose mode argument is used. */
const OPEN_CREATES = 0o100 | 0o20000000;

interface ArchTable {
  auditArch: number;
  /** Bit that marks a second ABI sharing this arch value (x32), or 0. */
  foreignAbiBit: number;
  nr: Partial<Record<SyscallName, number>>;
}

/** From arch/x86/entry/syscalls/syscall_64.tbl. */
const X86_64: ArchTable = {
  auditArch: 0xc000003e,
  foreignAbiBit: 0x40000000,
  nr: {
    ioctl: 16, socket: 41, socketpair: 53, clone: 56, uselib: 134, personality: 135, vhangup: 153,
    pivot_root: 155, _sysctl: 156, adjtimex: 159, chroot: 161, acct: 163, settimeofday: 164, mount: 165,
    umount2: 166, swapon: 167, swapoff: 168, reboot: 169, iopl: 172, ioperm: 173, init_module: 175,
    delete_module: 176, quotactl: 179, lookup_dcookie: 212, clock_settime: 227, kexec_load: 246,
    add_key: 248, request_key: 249, keyctl: 250, unshare: 272, perf_event_open: 298, fanotify_init: 300,
    name_to_handle_at: 303, open_by_handle_at: 304, clock_adjtime: 305, setns: 308,
    process_vm_readv: 310, process_vm_writev: 311, kcmp: 312, finit_module: 313, kexec_file_load: 320,
    bpf: 321, userfaultfd: 323, io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427,
    open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432, fspick: 433, clone3: 435,
    pidfd_getfd: 438, mount_setattr: 442, quotactl_fd: 443, syslog: 103, ptrace: 101,
    open: 2, creat: 85, chmod: 90, fchmod: 91, mknod: 133, openat: 257, mknodat: 259, fchmodat: 268,
    openat2: 437, fchmodat2: 452,
  },
};

/**
 * From include/uapi/asm-generic/unistd.h. Not exercised by CI (x86_64 machines only); the
 * numbers are checked against the header by hand.
 */
const AARCH64: ArchTable = {
  auditArch: 0xc00000b7,
  foreignAbiBit: 0,
  nr: {
    lookup_dcookie: 18, ioctl: 29, umount2: 39, mount: 40, pivot_root: 41, chroot: 51, vhangup: 58,
    quotactl: 60, acct: 89, personality: 92, unshare: 97, kexec_load: 104, init_module: 105,
    delete_module: 106, clock_settime: 112, syslog: 116, ptrace: 117, reboot: 142, settimeofday: 170,
    adjtimex: 171, socket: 198, socketpair: 199, add_key: 217, request_key: 218, keyctl: 219, clone: 220,
    swapon: 224, swapoff: 225, perf_event_open: 241, fanotify_init: 262, name_to_handle_at: 264,
    open_by_handle_at: 265, clock_adjtime: 266, setns: 268, process_vm_readv: 270, process_vm_writev: 271,
    kcmp: 272, finit_module: 273, bpf: 280, userfaultfd: 282, kexec_file_load: 294, io_uring_setup: 425,
    io_uring_enter: 426, io_uring_register: 427, open_tree: 428, move_mount: 429, fsopen: 430,
    fsconfig: 431, fsmount: 432, fspick: 433, clone3: 435, pidfd_getfd: 438, mount_setattr: 442,
    quotactl_fd: 443, mknodat: 33, fchmod: 52, fchmodat: 53, openat: 56, openat2: 437, fchmodat2: 452,
  },
};

const TABLES: Record<string, ArchTable> = { x64: X86_64, arm64: AARCH64 };

interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

const stmt = (code: number, k: number): Insn => ({ code, jt: 0, jf: 0, k });
const jump = (code: number, k: number, jt: number, jf: number): Insn => ({ code, jt, jf, k });

/** Options for {@link buildSeccompFilter}. */
export interface SeccompOptions {
  /** Node's `process.arch` naming; defaults to the running architecture. */
  arch?: string;
}

/** A compiled filter and what it contains, for `airlock doctor` and tests. */
export interface SeccompFilter {
  /** `struct sock_filter[]` in the machine's byte order, as bwrap's --seccomp reads it. */
  program: Buffer;
  arch: string;
  instructions: number;
  blocked: string[];
}

/** Assembles the filter for `arch`; throws E_KERNEL_UNSUPPORTED for an architecture without a table. */
export function buildSeccompFilter(options: SeccompOptions = {}): SeccompFilter {
  const arch = options.arch ?? process.arch;
  const table = TABLES[arch];
  if (table === undefined) {
    throw new AirlockError('E_KERNEL_UNSUPPORTED', `no seccomp syscall table for architecture "${arch}"`, {
      hint: `Airlock's sandbox supports ${Object.keys(TABLES).join(', ')}; it will not run unfiltered.`,
    });
  }
  const nr = (name: SyscallName): number | undefined => table.nr[name];
  const p: Insn[] = [];
  p.push(stmt(BPF_LD_W_ABS, OFF_ARCH));
  p.push(jump(BPF_JMP_JEQ_K, table.auditArch, 1, 0));
  p.push(stmt(BPF_RET_K, RET_KILL_PROCESS));
  p.push(stmt(BPF_LD_W_ABS, OFF_NR));
  if (table.foreignAbiBit !== 0) {
    p.push(jump(BPF_JMP_JGE_K, table.foreignAbiBit, 0, 1));
    p.push(stmt(BPF_RET_K, RET_KILL_PROCESS));
  }
  const blocked: string[] = [];
  for (const name of BLOCKED_SYSCALLS) {
    const n = nr(name);
    if (n === undefined) continue;
    blocked.push(name);
    p.push(jump(BPF_JMP_JEQ_K, n, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
  }
  const clone3 = nr('clone3');
  if (clone3 !== undefined) {
    p.push(jump(BPF_JMP_JEQ_K, clone3, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ERRNO | ENOSYS));
  }
  // Each block below ends in a return, so the accumulator (nr) need not be reloaded after it.
  const clone = nr('clone');
  if (clone !== undefined) {
    p.push(jump(BPF_JMP_JEQ_K, clone, 0, 4));
    p.push(stmt(BPF_LD_W_ABS, argLow(0)));
    p.push(jump(BPF_JMP_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
  }
  for (const name of ['socket', 'socketpair'] as const) {
    const n = nr(name);
    if (n === undefined) continue;
    p.push(jump(BPF_JMP_JEQ_K, n, 0, 6));
    p.push(stmt(BPF_LD_W_ABS, argLow(0)));
    p.push(jump(BPF_JMP_JEQ_K, AF_UNIX, 3, 0));
    p.push(jump(BPF_JMP_JEQ_K, AF_INET, 2, 0));
    p.push(jump(BPF_JMP_JEQ_K, AF_INET6, 1, 0));
    p.push(stmt(BPF_RET_K, RET_ERRNO | EAFNOSUPPORT));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
  }
  const ioctl = nr('ioctl');
  if (ioctl !== undefined) {
    p.push(jump(BPF_JMP_JEQ_K, ioctl, 0, 5));
    p.push(stmt(BPF_LD_W_ABS, argLow(1)));
    p.push(jump(BPF_JMP_JEQ_K, TIOCSTI, 1, 0));
    p.push(jump(BPF_JMP_JEQ_K, TIOCLINUX, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
  }
  // No setuid/setgid files: when airlock runs as root, the sandbox user is the host's root
  // (user namespace mapping), and a setuid file it leaves in the project would run as root
  // for whoever starts it on the host later.
  for (const [name, args] of Object.entries(MODE_ARGS) as [ModeSyscall, { mode: number; flags?: number }][]) {
    const n = nr(name);
    if (n === undefined) continue;
    if (args.flags === undefined) {
      p.push(jump(BPF_JMP_JEQ_K, n, 0, 4));
      p.push(stmt(BPF_LD_W_ABS, argLow(args.mode)));
      p.push(jump(BPF_JMP_JSET_K, SETID_BITS, 0, 1));
      p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
      p.push(stmt(BPF_RET_K, RET_ALLOW));
    } else {
      // open/openat ignore the mode unless they create, and callers leave garbage there then.
      p.push(jump(BPF_JMP_JEQ_K, n, 0, 6));
      p.push(stmt(BPF_LD_W_ABS, argLow(args.flags)));
      p.push(jump(BPF_JMP_JSET_K, OPEN_CREATES, 0, 3));
      p.push(stmt(BPF_LD_W_ABS, argLow(args.mode)));
      p.push(jump(BPF_JMP_JSET_K, SETID_BITS, 0, 1));
      p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
      p.push(stmt(BPF_RET_K, RET_ALLOW));
    }
  }
  // openat2 carries its mode in memory a filter cannot read; ENOSYS makes libc use openat.
  const openat2 = nr('openat2');
  if (openat2 !== undefined) {
    p.push(jump(BPF_JMP_JEQ_K, openat2, 0, 1));
    p.push(stmt(BPF_RET_K, RET_ERRNO | ENOSYS));
  }
  const personality = nr('personality');
  if (personality !== undefined) {
    p.push(jump(BPF_JMP_JEQ_K, personality, 0, 1 + PERSONALITY_ALLOWED.length + 2));
    p.push(stmt(BPF_LD_W_ABS, argLow(0)));
    PERSONALITY_ALLOWED.forEach((value, i) => {
      p.push(jump(BPF_JMP_JEQ_K, value, PERSONALITY_ALLOWED.length - i, 0));
    });
    p.push(stmt(BPF_RET_K, RET_ERRNO | EPERM));
    p.push(stmt(BPF_RET_K, RET_ALLOW));
  }
  p.push(stmt(BPF_RET_K, RET_ALLOW));

  const program = Buffer.alloc(p.length * 8);
  p.forEach((insn, i) => {
    program.writeUInt16LE(insn.code, i * 8);
    program.writeUInt8(insn.jt, i * 8 + 2);
    program.writeUInt8(insn.jf, i * 8 + 3);
    program.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return { program, arch, instructions: p.length, blocked };
}

/** The data a filter sees for one syscall, for the interpreter below. */
export interface SeccompData {
  arch: number;
  nr: number;
  args?: readonly number[];
}

/**
 * Runs a compiled program against one syscall, as the kernel would, so unit tests can
 * check the filter's verdicts without a kernel in the loop. Only the instructions the
 * assembler emits are supported.
 */
export function evaluateSeccomp(program: Buffer, data: SeccompData): number {
  let acc = 0;
  let pc = 0;
  const load = (off: number): number => {
    if (off === OFF_NR) return data.nr >>> 0;
    if (off === OFF_ARCH) return data.arch >>> 0;
    const i = (off - 16) / 8;
    return (data.args?.[i] ?? 0) >>> 0;
  };
  for (let steps = 0; steps < 4096; steps++) {
    if (pc * 8 >= program.length) throw new Error('seccomp program ran off its end');
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case BPF_LD_W_ABS:
        acc = load(k);
        break;
      case BPF_JMP_JEQ_K:
        pc += acc === k ? jt : jf;
        break;
      case BPF_JMP_JGE_K:
        pc += acc >= k ? jt : jf;
        break;
      case BPF_JMP_JSET_K:
        pc += (acc & k) >>> 0 !== 0 ? jt : jf;
        break;
      case BPF_RET_K:
        return k;
      default:
        throw new Error(`unsupported BPF instruction 0x${code.toString(16)}`);
    }
  }
  throw new Error('seccomp program did not return');
}

/** Exposed for tests: the syscall numbers of an architecture. */
export function syscallNumber(arch: string, name: SyscallName): number | undefined {
  return TABLES[arch]?.nr[name];
}

/** Return-value constants, for tests and doctor output. */
export const SECCOMP_RET = { KILL_PROCESS: RET_KILL_PROCESS, ALLOW: RET_ALLOW, ERRNO: RET_ERRNO } as const;
