import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BLOCKED_SYSCALLS, SECCOMP_RET, buildSeccompFilter, evaluateSeccomp } from '../../src/sandbox/index.js';
import { syscallNumber } from '../../src/sandbox/seccomp.js';
import { ROOT } from '../helpers/index.js';

const X86 = 0xc000003e;
const I386 = 0x40000003;
const ERRNO = (e: number): number => SECCOMP_RET.ERRNO | e;

describe('seccomp filter (x86_64)', () => {
  const { program } = buildSeccompFilter({ arch: 'x64' });
  const nr = (name: Parameters<typeof syscallNumber>[1]): number => {
    const n = syscallNumber('x64', name);
    if (n === undefined) throw new Error(name);
    return n;
  };

  it('sandbox.seccomp-foreign-abi: kills a foreign architecture and the x32 ABI', () => {
    expect(evaluateSeccomp(program, { arch: I386, nr: 20 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(evaluateSeccomp(program, { arch: 0xc00000b7, nr: 0 })).toBe(SECCOMP_RET.KILL_PROCESS);
    expect(evaluateSeccomp(program, { arch: X86, nr: 0x40000000 | 39 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it('sandbox.seccomp-escape-syscalls: refuses every listed syscall with EPERM', () => {
    for (const name of BLOCKED_SYSCALLS) {
      const n = syscallNumber('x64', name);
      if (n === undefined) continue;
      expect(evaluateSeccomp(program, { arch: X86, nr: n }), name).toBe(ERRNO(1));
    }
  });

  it('allows ordinary syscalls', () => {
    for (const n of [0, 1, 2, 3, 9, 39, 57, 59, 60, 231, 257, 262]) {
      expect(evaluateSeccomp(program, { arch: X86, nr: n }), String(n)).toBe(SECCOMP_RET.ALLOW);
    }
  });

  it('sandbox.no-nested-namespaces: clone with namespace flags is refused, plain clone allowed', () => {
    const clone = nr('clone');
    expect(evaluateSeccomp(program, { arch: X86, nr: clone, args: [0x11] })).toBe(SECCOMP_RET.ALLOW);
    expect(evaluateSeccomp(program, { arch: X86, nr: clone, args: [0x10000000 | 0x11] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: clone, args: [0x00020000] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: nr('clone3') })).toBe(ERRNO(38));
  });

  it('sandbox.seccomp-socket-families: only unix, inet and inet6 sockets', () => {
    for (const sys of ['socket', 'socketpair'] as const) {
      for (const [family, expected] of [
        [1, SECCOMP_RET.ALLOW],
        [2, SECCOMP_RET.ALLOW],
        [10, SECCOMP_RET.ALLOW],
        [16, ERRNO(97)],
        [17, ERRNO(97)],
        [40, ERRNO(97)],
        [0, ERRNO(97)],
      ] as const) {
        expect(evaluateSeccomp(program, { arch: X86, nr: nr(sys), args: [family] }), `${sys}(${family})`).toBe(expected);
      }
    }
  });

  it('sandbox.no-tiocsti: ioctl TIOCSTI and TIOCLINUX are refused, other ioctls allowed', () => {
    expect(evaluateSeccomp(program, { arch: X86, nr: nr('ioctl'), args: [0, 0x5412] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: nr('ioctl'), args: [0, 0x541c] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: nr('ioctl'), args: [0, 0x5413] })).toBe(SECCOMP_RET.ALLOW);
  });

  it('property: every verdict is one of allow, errno or kill, for any input', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 6 }), (n, args) => {
        const v = evaluateSeccomp(program, { arch: X86, nr: n, args });
        return v === SECCOMP_RET.ALLOW || v === SECCOMP_RET.KILL_PROCESS || (v & 0xffff0000) === SECCOMP_RET.ERRNO;
      }),
    );
  });

  it('property: a syscall number outside the blocked set is allowed unless it has an argument rule', () => {
    const special = new Set(['socket', 'socketpair', 'clone', 'clone3', 'ioctl', 'personality'].map((s) => syscallNumber('x64', s as never)));
    const blocked = new Set(BLOCKED_SYSCALLS.map((s) => syscallNumber('x64', s)));
    const openat2 = syscallNumber('x64', 'openat2');
    // Every number, not a random sample: a sample of 100 out of 601 missed openat2 (437,
    // always ENOSYS) in most runs and caught it in some, which made the check flaky.
    const wrong: number[] = [];
    for (let n = 0; n <= 600; n++) {
      if (special.has(n)) continue;
      const v = evaluateSeccomp(program, { arch: X86, nr: n });
      const want = n === openat2 ? ERRNO(38) : blocked.has(n) ? ERRNO(1) : SECCOMP_RET.ALLOW;
      if (v !== want) wrong.push(n);
    }
    expect(wrong).toEqual([]);
  });

  it('has aarch64 numbers for every blocked syscall that exists there', () => {
    const f = buildSeccompFilter({ arch: 'arm64' });
    expect(f.blocked).toContain('ptrace');
    expect(evaluateSeccomp(f.program, { arch: 0xc00000b7, nr: 117 })).toBe(ERRNO(1));
    expect(evaluateSeccomp(f.program, { arch: 0x40000028, nr: 117 })).toBe(SECCOMP_RET.KILL_PROCESS);
  });

  it('sandbox.fail-closed: an architecture without a table is an error, never an empty filter', () => {
    expect(() => buildSeccompFilter({ arch: 'riscv64' })).toThrow(expect.objectContaining({ code: 'E_KERNEL_UNSUPPORTED' }));
  });
});

describe('protocol constants', () => {
  it('the C supervisor and the TypeScript protocol agree', async () => {
    const c = readFileSync(join(ROOT, 'native', 'supervisor.c'), 'utf8');
    const { FrameType, PROTOCOL_VERSION, HEADER_LEN, ExecTag } = await import('../../src/sandbox/protocol.js');
    const define = (name: string): number => {
      const m = new RegExp(`#define ${name} (\\S+)`).exec(c);
      if (m?.[1] === undefined) throw new Error(`missing #define ${name}`);
      const v = m[1];
      return /^'.'$/.test(v) ? v.charCodeAt(1) : Number(v);
    };
    expect(define('PROTOCOL_VERSION')).toBe(PROTOCOL_VERSION);
    expect(define('HEADER_LEN')).toBe(HEADER_LEN);
    const pairs: [string, number][] = [
      ['T_EXEC', FrameType.Exec], ['T_STDIN', FrameType.Stdin], ['T_STDIN_EOF', FrameType.StdinEof],
      ['T_SIGNAL', FrameType.Signal], ['T_RESIZE', FrameType.Resize], ['T_SHUTDOWN', FrameType.Shutdown],
      ['T_PING', FrameType.Ping], ['T_READY', FrameType.Ready], ['T_STARTED', FrameType.Started],
      ['T_STDOUT', FrameType.Stdout], ['T_STDERR', FrameType.Stderr], ['T_EXIT', FrameType.Exit],
      ['T_ERROR', FrameType.Error], ['T_PONG', FrameType.Pong],
      ['TAG_ARG', ExecTag.Arg], ['TAG_ENV', ExecTag.Env], ['TAG_CWD', ExecTag.Cwd], ['TAG_RLIMIT', ExecTag.Rlimit],
    ];
    for (const [name, value] of pairs) expect(define(name), name).toBe(value);
  });
});

describe('seccomp: no setuid or setgid files', () => {
  const { program } = buildSeccompFilter({ arch: 'x64' });
  const n = (name: string): number => {
    const v = syscallNumber('x64', name as never);
    if (v === undefined) throw new Error(name);
    return v;
  };

  it('sandbox.no-new-privs: chmod family refuses S_ISUID and S_ISGID, allows ordinary modes', () => {
    for (const [sys, modeArg] of [['chmod', 1], ['fchmod', 1], ['fchmodat', 2], ['fchmodat2', 2], ['creat', 1], ['mknod', 1], ['mknodat', 2]] as const) {
      const args = (mode: number): number[] => Array.from({ length: 6 }, (_, i) => (i === modeArg ? mode : 0));
      expect(evaluateSeccomp(program, { arch: X86, nr: n(sys), args: args(0o4755) }), sys).toBe(ERRNO(1));
      expect(evaluateSeccomp(program, { arch: X86, nr: n(sys), args: args(0o2755) }), sys).toBe(ERRNO(1));
      expect(evaluateSeccomp(program, { arch: X86, nr: n(sys), args: args(0o755) }), sys).toBe(SECCOMP_RET.ALLOW);
      expect(evaluateSeccomp(program, { arch: X86, nr: n(sys), args: args(0o1777) }), sys).toBe(SECCOMP_RET.ALLOW);
    }
  });

  it('sandbox.no-new-privs: open/openat check the mode only when they create', () => {
    const O_CREAT = 0o100;
    const O_TMPFILE = 0o20200000;
    expect(evaluateSeccomp(program, { arch: X86, nr: n('openat'), args: [0, 0, O_CREAT, 0o4755] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: n('openat'), args: [0, 0, O_TMPFILE, 0o2755] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: n('openat'), args: [0, 0, O_CREAT, 0o644] })).toBe(SECCOMP_RET.ALLOW);
    // Without O_CREAT the mode register is ignored by the kernel, and may hold anything.
    expect(evaluateSeccomp(program, { arch: X86, nr: n('openat'), args: [0, 0, 0, 0o7777] })).toBe(SECCOMP_RET.ALLOW);
    expect(evaluateSeccomp(program, { arch: X86, nr: n('open'), args: [0, O_CREAT, 0o4755] })).toBe(ERRNO(1));
    expect(evaluateSeccomp(program, { arch: X86, nr: n('openat2') })).toBe(ERRNO(38));
  });
});
