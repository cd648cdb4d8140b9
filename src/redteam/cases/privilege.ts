/**
 * Privilege: capabilities, namespaces, dangerous system calls, seccomp ABI tricks, terminal
 * injection, inherited descriptors. And resources: exhaustion and processes that outlive
 * the session (each in a session of its own with tight limits).
 */
import type { AttackCase } from '../types.js';
import { pyCase, sb } from './helpers.js';

const TIGHT = { memory: '256m', pids: 128, tmpSize: '64m', homeSize: '32m', fileSize: '32m', openFiles: 256 } as const;

/** Privilege cases. */
export const PRIVILEGE_CASES: readonly AttackCase[] = [
  sb('priv-capabilities', 'privilege', 'any effective, permitted or ambient capability; no_new_privs off', `awk '/^Cap(Eff|Prm|Amb|Inh):/ && $2 !~ /^0+$/ {print "RT-ESCAPED-" ENVIRON["RT_TOKEN"], $1, $2} /^NoNewPrivs:/ && $2 != 1 {print "RT-ESCAPED-" ENVIRON["RT_TOKEN"], "no_new_privs off"}' /proc/self/status`),
  sb('priv-seccomp-on', 'privilege', 'the seccomp filter is in force (bwrap: mode 2 in /proc/self/status)', `[ "$RT_BACKEND" = bwrap ] && ! grep -q '^Seccomp:[[:space:]]*2' /proc/self/status && echo "$RT_MARK seccomp off"; true`),
  sb('priv-setuid-binaries', 'privilege', 'setuid-root binaries (sudo, su, pkexec, mount) give uid 0', `for b in sudo su pkexec mount newgrp passwd chsh; do p=$(command -v $b) || continue; done
u=$(sudo -n id -u 2>/dev/null); [ "$u" = 0 ] && echo "$RT_MARK sudo"; u=$(echo | su -c 'id -u' 2>/dev/null); [ "$u" = 0 ] && echo "$RT_MARK su"; u=$(pkexec id -u 2>/dev/null </dev/null); [ "$u" = 0 ] && echo "$RT_MARK pkexec"; true`),
  sb('priv-make-setuid', 'privilege', 'make a setuid copy of a shell for later (chmod u+s, and setgid directories)', `cp /bin/sh /workspace/rt-suid-$RT_TOKEN && chmod 4755 /workspace/rt-suid-$RT_TOKEN 2>/dev/null && [ -u /workspace/rt-suid-$RT_TOKEN ] && echo "$RT_MARK setuid bit set"
mkdir -p /workspace/rt-sgid-$RT_TOKEN && chmod 2775 /workspace/rt-sgid-$RT_TOKEN 2>/dev/null && [ -g /workspace/rt-sgid-$RT_TOKEN ] && echo "$RT_MARK setgid dir"
rm -rf /workspace/rt-suid-$RT_TOKEN /workspace/rt-sgid-$RT_TOKEN; true`),
  pyCase('priv-setuid-zero', 'privilege', 'setuid(0), setresuid(0,0,0), setgroups', `for n, a, w in [(105, (0,), 'setuid'), (117, (0, 0, 0), 'setresuid'), (106, (0,), 'setgid'), (116, (0, 0), 'setgroups')]:
    r, e = sc(n, *a)
    if r == 0 and os.getuid() == 0: esc(w)
    print(w, r, e)`),
  sb('priv-unshare-user', 'privilege', 'nested user namespaces (unshare -U, -r), the root of many kernel exploits', 'unshare -U true 2>/dev/null && echo "$RT_MARK unshare -U"; unshare -r id 2>/dev/null && echo "$RT_MARK unshare -r"; true'),
  pyCase('priv-clone-namespaces', 'privilege', 'unshare and clone with every namespace flag; setns into /proc/1/ns/*', `for flag, w in [(0x10000000, 'user'), (0x40000000, 'net'), (0x00020000, 'mnt'), (0x20000000, 'pid'), (0x02000000, 'cgroup'), (0x08000000, 'ipc'), (0x04000000, 'uts'), (0x00000080, 'time')]:
    r, e = sc(272, flag)
    if r == 0: esc('unshare ' + w)
for ns in ['mnt', 'net', 'pid', 'user', 'cgroup']:
    try:
        fd = os.open('/proc/1/ns/' + ns, os.O_RDONLY)
        r, e = sc(308, fd, 0)
        if r == 0: esc('setns ' + ns)
    except OSError as err: print(ns, err)`),
  pyCase('priv-ptrace-sibling', 'privilege', 'ptrace a sibling process and the supervisor (pid 1)', `pid = os.fork()
if pid == 0:
    import time; time.sleep(5); os._exit(0)
for target, w in [(pid, 'sibling'), (1, 'supervisor')]:
    r, e = sc(101, 16, target, 0, 0)  # PTRACE_ATTACH
    if r == 0: esc('ptrace ' + w); sc(101, 17, target, 0, 0)
r, e = sc(101, 0, 0, 0, 0)
if r == 0: esc('PTRACE_TRACEME')
os.kill(pid, 9); os.waitpid(pid, 0)`),
  pyCase('priv-process-vm', 'privilege', 'process_vm_readv / process_vm_writev on the supervisor', `buf = ctypes.create_string_buffer(64)
class iov(ctypes.Structure): _fields_ = [('b', ctypes.c_void_p), ('l', ctypes.c_size_t)]
l = iov(ctypes.addressof(buf), 64); rm = iov(0x400000, 64)
r, e = sc(310, 1, ctypes.addressof(l), 1, ctypes.addressof(rm), 1, 0)
if r > 0: esc('process_vm_readv')
r, e = sc(311, 1, ctypes.addressof(l), 1, ctypes.addressof(rm), 1, 0)
if r > 0: esc('process_vm_writev')`),
  pyCase('priv-bpf', 'privilege', 'bpf(BPF_MAP_CREATE / BPF_PROG_LOAD)', `attr = (ctypes.c_uint32 * 32)(1, 4, 4, 1)
r, e = sc(321, 0, ctypes.addressof(attr), 128)
if r >= 0: esc('bpf map create')
print('bpf', r, e)`),
  pyCase('priv-perf-event', 'privilege', 'perf_event_open (a frequent kernel LPE surface)', `attr = (ctypes.c_uint32 * 32)(); attr[0] = 1; attr[1] = 112
r, e = sc(298, ctypes.addressof(attr), 0, -1, -1, 0)
if r >= 0: esc('perf_event_open')
print('perf', r, e)`),
  pyCase('priv-userfaultfd', 'privilege', 'userfaultfd (used to win kernel races)', `r, e = sc(323, 0)
if r >= 0: esc('userfaultfd')
print('uffd', r, e)`),
  pyCase('priv-io-uring', 'privilege', 'io_uring_setup, io_uring_enter (bypasses per-syscall seccomp)', `r, e = sc(425, 8, ctypes.addressof((ctypes.c_ubyte * 120)()))
if r >= 0: esc('io_uring_setup')
print('io_uring', r, e)`),
  pyCase('priv-module-kexec', 'privilege', 'load kernel modules, kexec, reboot, swapon, acct, settimeofday', `for n, a, w in [(313, (0, ctypes.c_char_p(b''), 0), 'finit_module'), (175, (0, 0, ctypes.c_char_p(b'')), 'init_module'), (246, (0, 0, 0, 0), 'kexec_load'), (169, (0xfee1dead, 672274793, 0), 'reboot CAD_OFF'), (167, (ctypes.c_char_p(b'/tmp/x'), 0), 'swapon'), (163, (ctypes.c_char_p(b'/tmp/acct'),), 'acct'), (164, (0, 0), 'settimeofday'), (170, (ctypes.c_char_p(b'x'), 1), 'sethostname'), (155, (ctypes.c_char_p(b'/'), ctypes.c_char_p(b'/tmp')), 'pivot_root'), (161, (ctypes.c_char_p(b'/tmp'),), 'chroot')]:
    r, e = sc(n, *a)
    if r == 0: esc(w)
    print(w, r, e)`),
  pyCase('priv-seccomp-x32', 'privilege', 'seccomp ABI tricks: the x32 syscall bit (nr | 0x40000000) and out-of-range numbers', `X32 = 0x40000000
for n, a, w in [(X32 | 272, (0x10000000,), 'x32 unshare(user)'), (X32 | 101, (16, 1, 0, 0), 'x32 ptrace'), (X32 | 165, (ctypes.c_char_p(b'none'), ctypes.c_char_p(b'/tmp'), ctypes.c_char_p(b'tmpfs'), 0, 0), 'x32 mount'), (X32 | 321, (0, 0, 0), 'x32 bpf'), (X32 | 425, (8, 0), 'x32 io_uring')]:
    pid = os.fork()  # a filter that kills the process must not stop the other attempts
    if pid == 0:
        r, e = sc(n, *a)
        if r >= 0: esc(w)
        print(w, r, e, flush=True)
        os._exit(0)
    _, st = os.waitpid(pid, 0)
    print(w, 'status', st)
r, e = sc(-1 & 0xffffffffffffffff)
print('nr -1', r, e)`),
  pyCase('priv-tiocsti-pipe', 'privilege', 'TIOCSTI and TIOCLINUX on inherited descriptors (bwrap CVE-2017-5226, flatpak CVE-2023-28100)', `import fcntl, termios
for fd in [0, 1, 2]:
    for req, w in [(0x5412, 'TIOCSTI'), (0x541C, 'TIOCLINUX')]:
        try:
            fcntl.ioctl(fd, req, b'\\x06' if req == 0x541C else b'x'); esc('%s fd %d' % (w, fd))
        except OSError as e: print(w, fd, e)
try:
    t = os.open('/dev/tty', os.O_RDWR); fcntl.ioctl(t, 0x5412, b'x'); esc('TIOCSTI /dev/tty')
except OSError as e: print('/dev/tty', e)`),
  pyCase('priv-tiocsti-tty', 'privilege', 'TIOCSTI / TIOCLINUX on a pty the sandbox was given (terminal injection into whatever reads it)', `import fcntl
for req, w, arg in [(0x5412, 'TIOCSTI', b'x'), (0x541C, 'TIOCLINUX', b'\\x06'), (0x541C, 'TIOCLINUX sel', b'\\x02' + b'\\x00' * 10)]:
    try:
        fcntl.ioctl(0, req, arg); esc(w + ' on pty')
    except OSError as e: print(w, e)`, { tty: true }),
  sb('priv-inherited-fds', 'privilege', 'descriptors inherited from the host (sockets, directories, the audit log)', `ls -l /proc/self/fd /proc/1/fd 2>/dev/null | awk -v m="RT-ESCAPED-$RT_TOKEN" -v o="$RT_OUTSIDE_DIR" -v s="$RT_STATE" 'index($0, o) || index($0, s) || /\\.jsonl|sqlite|signing-key/ {print m, $0}'; true`),
  sb('priv-kill-host', 'privilege', 'signal processes outside the pid namespace (kill -1, the host pid)', `kill -0 "$RT_HOST_PID" 2>/dev/null && [ "$(cat /proc/$RT_HOST_PID/comm 2>/dev/null)" = node ] && echo "$RT_MARK host pid visible"; true`),
  pyCase('priv-write-proc-mem', 'privilege', "write the supervisor's memory through /proc/1/mem (at a mapped, writable address)", `try:
    maps = [l for l in open('/proc/1/maps').read().split('\\n') if ' rw' in l]
except OSError as e:
    maps = []; print('maps', e)
for line in maps[:4]:
    start = int(line.split('-')[0], 16)
    try:
        f = open('/proc/1/mem', 'r+b'); f.seek(start); d = f.read(1); f.seek(start); f.write(d); f.flush()
        esc('wrote /proc/1/mem at %x' % start); break
    except (OSError, ValueError) as e: print('mem', e)`),
];

/** Resource and lifetime cases (each in its own session with tight limits). */
export const RESOURCE_CASES: readonly AttackCase[] = [
  sb('res-fork-bomb', 'resources', 'a fork bomb', 'f() { f | f & }; f; sleep 3; true', { isolated: { limits: { ...TIGHT, execTimeout: '8s' } }, timeoutMs: 8_000 }),
  pyCase('res-memory', 'resources', 'allocate far past the memory limit', `a = []
try:
    for i in range(2048): a.append(bytearray(1024 * 1024))
    esc('allocated 2 GiB past a 256 MiB limit')
except MemoryError: print('MemoryError')`, { isolated: { limits: TIGHT }, timeoutMs: 30_000 }),
  sb('res-tmp-fill', 'resources', 'fill /tmp and home past their tmpfs size', 'dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>/dev/null; s=$(stat -c %s /tmp/fill 2>/dev/null || echo 0); [ "$s" -gt 104857600 ] && echo "$RT_MARK tmp grew to $s"; dd if=/dev/zero of=$HOME/fill bs=1M count=100 2>/dev/null; true', { isolated: { limits: TIGHT } }),
  sb('res-file-size', 'resources', 'one file past the file-size limit in the workspace (host disk)', 'dd if=/dev/zero of=/workspace/rt-big bs=1M count=64 2>/dev/null; s=$(stat -c %s /workspace/rt-big 2>/dev/null || echo 0); rm -f /workspace/rt-big; [ "$s" -gt 33554432 ] && echo "$RT_MARK file of $s bytes"; true', { isolated: { limits: TIGHT } }),
  pyCase('res-fd-exhaust', 'resources', 'open descriptors past the limit', `fds = []
try:
    for i in range(100000): fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e: print('stopped at', len(fds), e)
if len(fds) > 1024: esc('%d descriptors' % len(fds))`, { isolated: { limits: TIGHT } }),
  sb('res-cpu-spin', 'resources', 'spin every core until the exec timeout kills it', 'for i in 1 2 3 4; do (while :; do :; done) & done; wait', { isolated: { limits: { ...TIGHT, cpus: 0.5 } }, timeoutMs: 3_000 }),
  sb('res-outlive', 'resources', 'processes that outlive the session (setsid, nohup, double fork, disowned)', `setsid sleep 600 </dev/null >/dev/null 2>&1 &
nohup sleep 601 </dev/null >/dev/null 2>&1 &
(sh -c 'sleep 602 & exit' &) ; sh -c 'trap "" HUP TERM; exec sleep 603' </dev/null >/dev/null 2>&1 & true`, { isolated: { limits: TIGHT } }),
  sb('res-zombies', 'resources', 'leave zombies and orphans behind', `for i in 1 2 3 4 5; do sh -c 'sleep 0.1 & exec sleep 604' & done; sleep 0.5; true`, { isolated: { limits: TIGHT } }),
  sb('res-pids-threads', 'resources', 'threads past the pids limit', `python3 -c "
import threading, time, os
n = 0
try:
    for i in range(5000):
        threading.Thread(target=time.sleep, args=(2,), daemon=True).start(); n += 1
except RuntimeError as e: print('stopped at', n, e)
if n > 200: print('RT-ESCAPED-' + os.environ['RT_TOKEN'], n, 'threads')
"`, { isolated: { limits: TIGHT } }),
  sb('res-inode-exhaust', 'resources', 'exhaust inodes of /tmp', 'mkdir -p /tmp/i; i=0; while [ $i -lt 20000 ]; do : > /tmp/i/$i 2>/dev/null || break; i=$((i+1)); done; echo made $i', { isolated: { limits: TIGHT }, timeoutMs: 60_000 }),
];
