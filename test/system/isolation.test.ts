/**
 * Isolation of a real bubblewrap sandbox, checked from inside with real commands and a
 * static probe program, and from the host. Each test cites the requirement it proves.
 */
import { createServer as createNetServer, type Server } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { cleanupTemp, tempDir, workspaceWithProbe } from '../helpers/index.js';

let session: Session;
let workspace: string;
let stateDir: string;
const HOST_CANARY = `canary-${process.pid}-${Date.now()}`;

beforeAll(async () => {
  stateDir = tempDir('state');
  workspace = workspaceWithProbe();
  process.env['AIRLOCK_TEST_HOST_SECRET'] = HOST_CANARY;
  session = await createSession({ workspace, stateDir, env: { VISIBLE_BY_OPTION: 'yes' } });
});

afterAll(async () => {
  await session.destroy();
  delete process.env['AIRLOCK_TEST_HOST_SECRET'];
  cleanupTemp();
});

async function sh(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const r = await session.exec(['/bin/sh', '-c', script]);
  return { code: r.exitCode, out: r.stdout, err: r.stderr };
}

async function probe(...args: string[]): Promise<string> {
  const r = await session.exec(['./probe', ...args]);
  return r.stdout.trim() || `exit=${String(r.exitCode)} signal=${String(r.signal)}`;
}

function statusField(status: string, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status);
  return (m?.[1] ?? '').trim();
}

describe('identity and privileges', () => {
  it('sandbox.nonroot: runs as uid and gid 1000', async () => {
    const r = await sh('id -u; id -g');
    expect(r.out).toBe('1000\n1000\n');
  });

  it('sandbox.no-capabilities and sandbox.no-new-privs and sandbox.seccomp-on: /proc/self/status', async () => {
    const r = await session.exec(['cat', '/proc/self/status']);
    for (const f of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(statusField(r.stdout, f)).toBe('0000000000000000');
    expect(statusField(r.stdout, 'NoNewPrivs')).toBe('1');
    expect(statusField(r.stdout, 'Seccomp')).toBe('2');
  });

  it('sandbox.no-new-privs: setuid binaries grant nothing', async () => {
    const r = await sh('ls -l /usr/bin/su >/dev/null 2>&1 || exit 0; su -c id root </dev/null; echo "status=$?"');
    expect(r.out).not.toMatch(/uid=0/);
    const m = await sh('mount -t tmpfs none /tmp 2>&1; echo "status=$?"');
    expect(m.out).toMatch(/status=[1-9]/);
  });
});

describe('seccomp', () => {
  const eperm = 'errno=1';
  for (const name of [
    'ptrace-traceme',
    'process_vm_readv',
    'io_uring_setup',
    'mount',
    'umount',
    'pivot_root',
    'chroot',
    'keyctl',
    'add_key',
    'bpf',
    'perf_event_open',
    'userfaultfd',
    'open_by_handle_at',
    'kexec_load',
    'init_module',
    'pidfd_getfd',
    'personality-norandom',
  ]) {
    it(`sandbox.seccomp-escape-syscalls: ${name} fails with EPERM`, async () => {
      expect(await probe(name)).toBe(eperm);
    });
  }

  it('sandbox.seccomp-escape-syscalls: personality query still works', async () => {
    expect(await probe('personality-query')).toBe('ok');
  });

  for (const name of ['unshare-user', 'unshare-net', 'clone-newuser', 'setns']) {
    it(`sandbox.no-nested-namespaces: ${name} fails with EPERM`, async () => {
      expect(await probe(name)).toBe(eperm);
    });
  }

  it('sandbox.no-nested-namespaces: clone3 answers ENOSYS so libc falls back to clone', async () => {
    expect(await probe('clone3')).toBe('errno=38');
    // and threads still work (glibc falls back): python starts a thread
    const r = await session.exec(['/usr/bin/python3', '-c', 'import threading; t=threading.Thread(target=print, args=("thread",)); t.start(); t.join()']);
    expect(r.stdout).toBe('thread\n');
  });

  it('sandbox.no-nested-namespaces: the unshare tool fails', async () => {
    const r = await sh('unshare -U -r id 2>&1; echo "status=$?"');
    expect(r.out).toMatch(/status=[1-9]/);
    expect(r.out).not.toMatch(/uid=0/);
  });

  for (const name of ['socket-netlink', 'socket-packet', 'socket-vsock']) {
    it(`sandbox.seccomp-socket-families: ${name} fails with EAFNOSUPPORT`, async () => {
      expect(await probe(name)).toBe('errno=97');
    });
  }

  it('sandbox.seccomp-socket-families: unix sockets still work', async () => {
    expect(await probe('socket-unix')).toBe('ok');
  });

  it('sandbox.seccomp-foreign-abi: an x32 system call kills the process', async () => {
    const r = await session.exec(['./probe', 'x32']);
    expect(r.signal).toBe('SIGSYS');
    expect(r.stdout).toBe('');
  });

  it('sandbox.seccomp-foreign-abi: an ia32 (int 0x80) system call kills the process', async () => {
    const r = await session.exec(['./probe', 'int80']);
    expect(r.signal).toBe('SIGSYS');
    expect(r.stdout).toBe('');
  });

  it('sandbox.no-tiocsti: TIOCSTI on the command terminal fails with EPERM', async () => {
    const p = session.spawn(['./probe', 'tiocsti'], { tty: { cols: 80, rows: 24 } });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const r = await p.wait();
    expect(r.exitCode).toBe(0);
    expect(out.trim()).toBe('errno=1');
  });

  it('sandbox.no-tiocsti: every command is a session leader with no inherited terminal', async () => {
    const r = await session.exec(['/usr/bin/python3', '-c', 'import os; print(os.getsid(0) == os.getpid()); print(os.isatty(0))']);
    expect(r.stdout).toBe('True\nFalse\n');
  });
});

describe('processes', () => {
  it('sandbox.pid-namespace: the supervisor is pid 1 and host processes are invisible', async () => {
    const r = await sh('cat /proc/1/comm; ls /proc | grep -E "^[0-9]+$" | wc -l');
    const [comm, count] = r.out.trim().split('\n');
    expect(comm).toBe('supervisor');
    expect(Number(count)).toBeLessThan(10);
  });

  it('sandbox.pid-namespace: a host pid cannot be signalled', async () => {
    // Our own host pid is unlikely to exist inside; if it does, it is not us.
    const out = await probe('kill', String(process.pid));
    if (out === 'ok') {
      const comm = await sh(`cat /proc/${process.pid}/comm`);
      expect(comm.out).not.toMatch(/node/);
    } else {
      expect(out).toBe('errno=3');
    }
  });

  it('sandbox.control-channel-private: the supervisor cannot be ptraced and holds no fd for others', async () => {
    expect(await probe('ptrace-attach', '1')).toBe('errno=1');
    // The control socket cannot be reopened through /proc (sockets are not openable there)
    // nor taken with pidfd_getfd (refused by seccomp; the probe shows it above).
    const r = await sh('cat /proc/1/fd/3 2>&1; echo "status=$?"');
    expect(r.out).toMatch(/No such device or address|Permission denied/);
    expect(r.out).toMatch(/status=1/);
    // A command has only its three standard fds (plus the one ls itself opens).
    const fds = await sh('ls /proc/self/fd');
    expect(fds.out.trim().split('\n').length).toBeLessThanOrEqual(4);
  });

  it('sandbox.zombies-reaped: orphans re-parented to pid 1 are reaped', async () => {
    await sh('for i in 1 2 3 4 5; do (sleep 0.05 &) ; done; exit 0');
    await new Promise((r) => setTimeout(r, 400));
    const r = await sh('cat /proc/[0-9]*/stat 2>/dev/null | awk \'{print $3}\' | grep -c Z || true');
    expect(r.out.trim()).toBe('0');
  });

  it('sandbox.exec-timeout: a command past its limit is killed', async () => {
    const r = await session.exec(['sleep', '30'], { timeoutMs: 300 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    expect(r.durationMs).toBeLessThan(5000);
  });

  it('signals reach the whole process group', async () => {
    const p = session.spawn(['/bin/sh', '-c', 'sleep 30 & sleep 30; echo never']);
    await p.pid;
    await new Promise((r) => setTimeout(r, 100));
    p.kill('SIGTERM');
    const r = await p.wait();
    expect(r.signal).toBe('SIGTERM');
    const left = await sh('pgrep -x sleep | wc -l');
    expect(left.out.trim()).toBe('0');
  });
});

describe('filesystem', () => {
  it('sandbox.readonly-root: / and system dirs are read-only', async () => {
    for (const p of ['/x', '/usr/x', '/etc/x', '/bin/x', '/run/airlock/x']) {
      const r = await sh(`touch ${p} 2>&1; echo "status=$?"`);
      expect(r.out, p).toMatch(/Read-only file system|Permission denied/);
      expect(r.out, p).toMatch(/status=1/);
    }
  });

  it('sandbox.readonly-root: only the template paths exist at the top level', async () => {
    const r = await sh('ls -A /');
    expect(r.out.trim().split('\n').sort()).toEqual(
      ['bin', 'dev', 'etc', 'home', 'lib', 'lib64', 'proc', 'run', 'sbin', 'tmp', 'usr', 'workspace'].filter(
        (d) => d !== 'lib64' || existsSync('/lib64'),
      ),
    );
  });

  it('sandbox.no-host-secrets: /root, /etc/shadow, ssh keys, cloud credentials and docker.sock are absent', async () => {
    for (const p of [
      '/root',
      '/etc/shadow',
      '/etc/gshadow',
      '/etc/sudoers',
      '/root/.ssh',
      '/root/.aws/credentials',
      '/root/.config/gcloud',
      '/root/.docker/config.json',
      '/var/run/docker.sock',
      '/run/docker.sock',
      '/home/agent/.ssh',
      '/etc/ssh',
      '/etc/ssl/private',
      '/proc/1/environ',
    ]) {
      const r = await sh(`cat ${p} 2>&1 | head -c 200; test -e ${p} && echo EXISTS`);
      if (p === '/proc/1/environ') {
        // pid 1 is the supervisor; its environment is empty and not readable anyway.
        expect(r.out).not.toContain(HOST_CANARY);
        continue;
      }
      expect(r.out, p).not.toContain('EXISTS');
    }
  });

  it('sandbox.no-host-secrets: a file outside the workspace on the host is not reachable', async () => {
    const outside = tempDir('outside');
    writeFileSync(join(outside, 'secret.txt'), HOST_CANARY);
    const r = await sh(`cat ${join(outside, 'secret.txt')} 2>&1; ls /proc/self/root${outside} 2>&1; cat /proc/1/root${outside}/secret.txt 2>&1`);
    expect(r.out).not.toContain(HOST_CANARY);
  });

  it('sandbox.no-host-secrets: /etc holds only the template list plus generated files', async () => {
    const r = await sh('cat /etc/passwd');
    expect(r.out).toContain('agent:x:1000:1000');
    const hostPasswd = readFileSync('/etc/passwd', 'utf8');
    const hostUsers = hostPasswd.split('\n').map((l) => l.split(':')[0]).filter((u) => u !== undefined && u !== '' && !['root', 'nobody'].includes(u));
    for (const u of hostUsers) expect(r.out).not.toMatch(new RegExp(`^${u}:`, 'm'));
  });

  it('sandbox.workspace-rw: writes land in the project directory', async () => {
    const r = await sh('echo from-sandbox > /workspace/out.txt && cat /workspace/out.txt');
    expect(r.out).toBe('from-sandbox\n');
    expect(readFileSync(join(workspace, 'out.txt'), 'utf8')).toBe('from-sandbox\n');
  });

  it('sandbox.tmp-limited: /tmp is private, nosuid, nodev and size-limited', async () => {
    const marker = `tmp-marker-${Date.now()}`;
    await sh(`echo x > /tmp/${marker}`);
    expect(existsSync(join('/tmp', marker))).toBe(false);
    const r = await sh("grep ' /tmp ' /proc/self/mountinfo");
    expect(r.out).toMatch(/nosuid/);
    expect(r.out).toMatch(/nodev/);
    expect(r.out).toMatch(/size=1048576k/);
  });

  it('sandbox.env-scrubbed: the host environment does not reach commands', async () => {
    const r = await session.exec(['env']);
    expect(r.stdout).not.toContain(HOST_CANARY);
    expect(r.stdout).not.toContain('AIRLOCK_TEST_HOST_SECRET');
    const names = r.stdout
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0])
      .sort();
    expect(names).toEqual(['AIRLOCK_SESSION', 'HOME', 'LANG', 'LOGNAME', 'PATH', 'SHELL', 'TMPDIR', 'USER', 'VISIBLE_BY_OPTION'].sort());
    const env = await sh('cat /proc/1/environ | tr "\\0" "\\n"');
    expect(env.out).not.toContain(HOST_CANARY);
  });

  it('sandbox.file-limits: RLIMIT_FSIZE and RLIMIT_NOFILE are set', async () => {
    const r = await sh('ulimit -f; ulimit -n; ulimit -c');
    const [f, n, c] = r.out.trim().split('\n');
    expect(Number(f) * 512).toBe(4 * 1024 ** 3);
    expect(n).toBe('4096');
    expect(c).toBe('0');
  });
});

describe('network', () => {
  let server: Server;
  let port = 0;
  let reached = false;
  const abstractName = `airlock-test-${process.pid}`;
  let abstractServer: Server;
  let pathServer: Server;
  let sockDir: string;

  beforeAll(async () => {
    server = createNetServer((c) => {
      reached = true;
      c.end('hello');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => { r(); }));
    const addr = server.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    abstractServer = createNetServer((c) => {
      reached = true;
      c.end();
    });
    await new Promise<void>((r) => abstractServer.listen(`\0${abstractName}`, () => { r(); }));
    sockDir = tempDir('sock');
    pathServer = createNetServer((c) => {
      reached = true;
      c.end();
    });
    await new Promise<void>((r) => pathServer.listen(join(sockDir, 'host.sock'), () => { r(); }));
  });

  afterAll(() => {
    server.close();
    abstractServer.close();
    pathServer.close();
  });

  it('sandbox.net-loopback-only: loopback is the only interface', async () => {
    const r = await sh("cat /proc/net/dev | tail -n +3 | awk -F: '{print $1}' | tr -d ' '");
    expect(r.out.trim()).toBe('lo');
  });

  it('sandbox.net-loopback-only: TCP to a host loopback server fails', async () => {
    expect(await probe('tcp-connect', '127.0.0.1', String(port))).toMatch(/^errno=(111|101)$/);
    const r = await sh(`curl -sS --max-time 3 http://127.0.0.1:${port}/ 2>&1; curl -sS --noproxy '*' --max-time 3 http://93.184.215.14/ 2>&1; echo "status=$?"`);
    expect(r.out).not.toContain('hello');
    expect(reached).toBe(false);
  });

  it('sandbox.net-loopback-only: UDP and DNS do not leave', async () => {
    expect(await probe('udp-send', '8.8.8.8', '53')).toBe('errno=101');
    const r = await sh('getent hosts registry.npmjs.org; echo "status=$?"');
    expect(r.out).toMatch(/status=2/);
  });

  it('sandbox.no-host-unix-sockets: abstract and path unix sockets of the host are unreachable', async () => {
    expect(await probe('unix-abstract', abstractName)).toBe('errno=111');
    const r = await sh(`test -e ${join(sockDir, 'host.sock')} && echo EXISTS; echo done`);
    expect(r.out).toBe('done\n');
    expect(reached).toBe(false);
  });
});

describe('sessions', () => {
  it('sandbox.sessions-isolated: two sessions share no files or processes', async () => {
    const other = await createSession({ workspace: tempDir('ws2'), stateDir });
    try {
      await session.exec(['/bin/sh', '-c', 'echo a > /tmp/only-in-a; sleep 5 & exit 0']);
      const r = await other.exec(['/bin/sh', '-c', 'ls /tmp; pgrep -x sleep | wc -l; ls /workspace']);
      expect(r.stdout).toBe('0\n');
      expect(other.id).not.toBe(session.id);
    } finally {
      await other.destroy();
    }
  });

  it('sandbox.cleanup: destroy kills everything and removes cgroups and runtime files', async () => {
    const s = await createSession({ workspace: tempDir('ws3'), stateDir });
    await s.exec(['/bin/sh', '-c', 'setsid sleep 60 </dev/null >/dev/null 2>&1 & exit 0']);
    const runtime = join(stateDir, 'sessions', s.id);
    expect(existsSync(runtime)).toBe(true);
    const cgroupPaths = Object.values(s.layers.limits)
      .map((v) => /\((\/sys\/fs\/cgroup\/[^)]+)\)/.exec(v)?.[1])
      .filter((p): p is string => p !== undefined);
    expect(cgroupPaths.length).toBeGreaterThan(0);
    await s.destroy();
    expect(existsSync(runtime)).toBe(false);
    for (const p of cgroupPaths) expect(existsSync(p), p).toBe(false);
    await expect(s.exec(['true'])).rejects.toThrow(/destroyed/);
  });

  it('sandbox.session-timeout: a session past its limit ends', async () => {
    const s = await createSession({ workspace: tempDir('ws4'), stateDir, limits: { sessionTimeout: '300ms' } });
    const reason = await s.ended;
    expect(reason.message).toMatch(/limit/);
    await s.destroy();
  });

  it('sandbox.workspace-vetted: system, home and state directories are refused', async () => {
    for (const ws of ['/', '/etc', '/usr', process.env['HOME'] ?? '/root']) {
      await expect(createSession({ workspace: ws, stateDir })).rejects.toMatchObject({ code: 'E_WORKSPACE_INVALID' });
    }
    const parent = tempDir('parent');
    mkdirSync(join(parent, 'state'));
    await expect(createSession({ workspace: parent, stateDir: join(parent, 'state') })).rejects.toMatchObject({
      code: 'E_WORKSPACE_INVALID',
    });
    await expect(createSession({ workspace: join(parent, 'missing'), stateDir })).rejects.toMatchObject({
      code: 'E_WORKSPACE_INVALID',
    });
  });

  it('a read-only workspace refuses writes', async () => {
    const ws = tempDir('ro');
    const s = await createSession({ workspace: ws, stateDir, workspaceReadOnly: true });
    try {
      const r = await s.exec(['/bin/sh', '-c', 'touch /workspace/x 2>&1; echo "status=$?"']);
      expect(r.stdout).toMatch(/Read-only file system/);
      expect(existsSync(join(ws, 'x'))).toBe(false);
    } finally {
      await s.destroy();
    }
  });
});
