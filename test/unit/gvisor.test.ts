/**
 * The gVisor backend's pure parts: the OCI spec it writes, the id mappings, the platform choice
 * and the host pids backstop. The running sandbox is covered by test/system/conformance.
 */
import { describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/index.js';
import { DEFAULT_LIMITS } from '../../src/session/index.js';
import { gvisorSpec, hostPidsBackstop, idMappings, pickPlatform, randomIdBase } from '../../src/sandbox/gvisor.js';
import type { RootEntry } from '../../src/sandbox/common.js';

const spec: SandboxSpec = {
  sessionId: 's0123456789ab',
  template: { name: 't', description: '', mounts: [], env: {}, file: '/t.yaml' },
  workspace: '/srv/project',
  workspaceReadOnly: false,
  runtimeDir: '/state/sessions/s0123456789ab/run',
  limits: { ...DEFAULT_LIMITS, tmpBytes: 8 * 1024 * 1024 },
  extraBinds: [{ hostPath: '/state/egress', sandboxPath: '/run/airlock/egress', readOnly: true }],
  bridges: [{ port: 3128, socketPath: '/run/airlock/egress/proxy.sock' }],
  hostname: 'airlock',
};

const entries: RootEntry[] = [
  { kind: 'bind', dest: '/usr', src: '/usr', directory: true },
  { kind: 'symlink', dest: '/bin', target: 'usr/bin' },
  { kind: 'bind', dest: '/etc/ld.so.cache', src: '/etc/ld.so.cache', directory: false },
];

describe('gvisor OCI spec', () => {
  const oci = gvisorSpec(spec, entries, '/pkg/airlock-supervisor', [true], { uid: 0, gid: 0, base: 0x40000000 });

  it('sandbox.nonroot and sandbox.no-capabilities and sandbox.no-new-privs: uid 1000, no capabilities, no_new_privs', () => {
    expect(oci.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [] });
    for (const set of Object.values(oci.process.capabilities)) expect(set).toEqual([]);
    expect(oci.process.noNewPrivileges).toBe(true);
    expect(oci.process.env).toEqual([]);
  });

  it('sandbox.readonly-root: a read-only root and read-only template binds', () => {
    expect(oci.root).toEqual({ path: 'rootfs', readonly: true });
    expect(oci.mounts.find((m) => m.destination === '/usr')?.options).toEqual(['rbind', 'ro']);
    expect(oci.mounts.find((m) => m.destination === '/etc/ld.so.cache')?.options).toEqual(['bind', 'ro']);
    // A symlink is made in the root directory, not mounted.
    expect(oci.mounts.find((m) => m.destination === '/bin')).toBeUndefined();
    expect(oci.mounts.find((m) => m.destination === '/run/airlock/supervisor')).toMatchObject({ source: '/pkg/airlock-supervisor', options: ['bind', 'ro'] });
  });

  it('sandbox.tmp-limited and sandbox.workspace-rw: sized tmpfs, the workspace and extra binds as asked', () => {
    expect(oci.mounts.find((m) => m.destination === '/tmp')).toMatchObject({ type: 'tmpfs', options: expect.arrayContaining(['size=8388608', 'mode=1777']) });
    expect(oci.mounts.find((m) => m.destination === '/home/agent')?.options).toEqual(expect.arrayContaining(['uid=1000', 'gid=1000', 'mode=0700']));
    expect(oci.mounts.find((m) => m.destination === '/workspace')).toMatchObject({ source: '/srv/project', options: ['rbind', 'rw'] });
    expect(oci.mounts.find((m) => m.destination === '/run/airlock/egress')?.options).toEqual(['rbind', 'ro']);
    const ro = gvisorSpec({ ...spec, workspaceReadOnly: true }, entries, '/s', [true], { uid: 0, gid: 0, base: 0x40000000 });
    expect(ro.mounts.find((m) => m.destination === '/workspace')?.options).toEqual(['rbind', 'ro']);
  });

  it('sandbox.control-channel-private: the supervisor takes the control socket from fd 1 and loads the filter', () => {
    expect(oci.process.args).toEqual([
      '/run/airlock/supervisor',
      '--control-fd',
      '1',
      '--seccomp',
      '/run/airlock/seccomp',
      '--bridge',
      '3128=/run/airlock/egress/proxy.sock',
    ]);
  });

  it('sandbox.pid-namespace and sandbox.net-loopback-only: own pid, net, ipc, uts, mount and user namespaces', () => {
    expect(oci.linux.namespaces.map((n) => n.type).sort()).toEqual(['ipc', 'mount', 'network', 'pid', 'user', 'uts']);
  });
});

describe('gvisor id mappings', () => {
  it('maps the agent to the host user and everything else to a private block', () => {
    const base = 0x40000000;
    const m = idMappings(4242, base);
    expect(m).toEqual([
      { containerID: 0, hostID: base, size: 1000 },
      { containerID: 1000, hostID: 4242, size: 1 },
      { containerID: 1001, hostID: base + 1001, size: 65535 - 1000 },
    ]);
    // 0-65535 covered once, with no overlap.
    expect(m.reduce((n, x) => n + x.size, 0)).toBe(65536);
  });

  it('draws blocks far above real users, aligned and distinct', () => {
    const bases = new Set(Array.from({ length: 50 }, () => randomIdBase()));
    for (const b of bases) {
      expect(b).toBeGreaterThanOrEqual(0x40000000);
      expect(b + 0x10000).toBeLessThan(0x80000000);
      expect(b % 0x10000).toBe(0);
    }
    expect(bases.size).toBeGreaterThan(40);
  });
});

describe('gvisor platform and pids', () => {
  it('prefers systrap, then ptrace, and never picks KVM by itself', () => {
    expect(pickPlatform(['kvm', 'ptrace'])).toBe('ptrace');
    expect(pickPlatform(['kvm', 'ptrace', 'systrap'])).toBe('systrap');
    expect(pickPlatform(['kvm'])).toBeUndefined();
  });

  it('sandbox.pids-limit: the host backstop leaves room for the Sentry beyond the in-sandbox limit', () => {
    expect(hostPidsBackstop(64)).toBeGreaterThan(64 * 6 + 64);
  });
});
