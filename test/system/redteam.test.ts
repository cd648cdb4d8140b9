/**
 * The red-team suite (`airlock doctor --attack`) against real sandboxes: every case must be
 * contained on bwrap, and on gVisor where runsc is installed. A meta-test weakens a session
 * on purpose (a canary made visible inside) and proves the host-side checks report it.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_CASES, runAttackSuite, type AttackReport } from '../../src/redteam/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => {
  cleanupTemp();
});

/** Cases that escape today for a documented reason (see docs/redteam.md, "Known gaps"). */
const KNOWN_GAPS: readonly string[] = [];

function expectClean(report: AttackReport): void {
  const bad = report.results.filter((r) => r.verdict === 'escaped' || r.verdict === 'error');
  expect(bad.map((r) => `${r.id}: ${r.verdict}: ${r.evidence}`)).toEqual([]);
  expect(report.total).toBeGreaterThanOrEqual(120);
  expect(report.results.filter((r) => r.verdict === 'gap').map((r) => r.id).sort()).toEqual([...KNOWN_GAPS].sort());
  for (const cls of ['filesystem', 'secrets', 'network', 'ssrf', 'privilege', 'resources', 'persistence', 'policy', 'audit']) {
    expect(report.byClass[cls] ?? 0, cls).toBeGreaterThanOrEqual(5);
  }
}

function runscAvailable(): boolean {
  return spawnSync('runsc', ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('airlock doctor --attack', () => {
  it('redteam.bwrap: every case is contained on bwrap (through the CLI, --json)', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--attack', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, AIRLOCK_HOME: tempDir('rthome') },
      maxBuffer: 64 * 1024 * 1024,
    });
    const report = JSON.parse(r.stdout) as AttackReport;
    expectClean(report);
    expect(report.backend).toBe('bwrap');
    expect(r.status).toBe(0);
  }, 240_000);

  it.runIf(runscAvailable())('redteam.gvisor: every case is contained on gVisor', async () => {
    const report = await runAttackSuite({ backend: 'gvisor' });
    expectClean(report);
  }, 300_000);

  it('redteam.detects-escape: a canary made visible inside is reported as escaped', async () => {
    const cases = ALL_CASES.filter((c) => ['sec-ssh-key', 'sec-env', 'fs-host-path-direct'].includes(c.id));
    const report = await runAttackSuite({
      cases,
      // Deliberately weakened: the host's canary key directory bound into the sandbox home,
      // and the environment canary handed to every command.
      weaken: (c) => ({
        extraBinds: [{ hostPath: join(c.sshKey, '..'), sandboxPath: '/home/agent/.ssh', readOnly: true }],
        env: { LEAKED: c.values['env'] ?? '' },
      }),
    });
    const by = new Map(report.results.map((r) => [r.id, r]));
    expect(by.get('sec-ssh-key')?.verdict).toBe('escaped');
    expect(by.get('sec-ssh-key')?.evidence).toMatch(/canary value in output: ssh/);
    expect(by.get('sec-env')?.verdict).toBe('escaped');
    expect(by.get('sec-env')?.evidence).toMatch(/canary value in output: env/);
    expect(by.get('fs-host-path-direct')?.verdict).toBe('contained');
    expect(report.escaped).toBe(2);
  }, 120_000);

  it('redteam.detects-escape: a policy case that is allowed is reported as escaped', async () => {
    const report = await runAttackSuite({
      cases: [
        { kind: 'policy', id: 'meta-allowed', class: 'policy', description: 'an allowed command, judged as if it had to be denied', expected: 'denied', action: { op: 'exec', argv: ['touch', '.git/hooks/../../ok'] } },
      ],
    });
    expect(report.results[0]?.verdict).toBe('escaped');
    expect(report.results[0]?.evidence).toMatch(/not denied/);
  }, 60_000);

  it('redteam.proxied: with the egress proxy up, loopback behind an allowed name is refused; a policy that allows loopback by CIDR is reported as escaped', async () => {
    const cases = ALL_CASES.filter((c) => c.kind === 'sandbox' && c.proxied === true);
    expect(cases.map((c) => c.id)).toEqual(expect.arrayContaining(['net-proxy-allowed-name-loopback', 'net-proxy-ip-literals', 'sec-proxy-credential', 'sec-proxy-ca-key']));
    const clean = await runAttackSuite({ cases });
    for (const r of clean.results) expect(r.verdict, `${r.id}: ${r.evidence}`).toBe('contained');
    const loopbackDenial = clean.results.find((r) => r.id === 'net-proxy-allowed-name-loopback');
    expect(loopbackDenial?.evidence).toMatch(/Airlock blocked this request/);
    // Deliberately weakened: a CIDR rule lifts the SSRF guard for loopback, so the proxy
    // forwards to the host's canary service.
    const weak = await runAttackSuite({
      cases: cases.filter((c) => c.id === 'net-proxy-allowed-name-loopback'),
      weaken: () => ({ networkRules: "    - { id: rt-weak, cidr: [127.0.0.0/8, '::1/128'], level: allow }" }),
    });
    expect(weak.results).toHaveLength(1);
    for (const r of weak.results) {
      expect(r.verdict, r.id).toBe('escaped');
      expect(r.evidence).toMatch(/host tcp canary service reached|the attempt worked/);
    }
  }, 120_000);

  it('redteam.held: build-tool writes to a protected path are held by the staged workspace, and escape in a direct session', async () => {
    const cases = ALL_CASES.filter((c) => ['pol-make', 'pol-write-then-make', 'pol-npm-test-script'].includes(c.id));
    expect(cases).toHaveLength(3);
    const staged = await runAttackSuite({ cases });
    for (const r of staged.results) {
      expect(r.verdict, r.evidence).toBe('contained');
      // the payload really ran: the hook is in the staged tree, and apply refuses it
      expect(r.evidence).toMatch(/planted \.git\/hooks\/rt-pwned in the staged workspace; the default apply (refuses|skips)/);
    }
    const direct = await runAttackSuite({ cases, weaken: () => ({ workspaceMode: 'direct' }) });
    for (const r of direct.results) {
      expect(r.verdict, r.evidence).toBe('escaped');
      expect(r.evidence).toMatch(/\.git\/hooks\/rt-pwned was created/);
    }
  }, 120_000);

  it('redteam.exposure: doctor --exposure --json lists paths, environment, hosts, credentials, limits and layers', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--exposure', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, AIRLOCK_HOME: tempDir('rthome') },
    });
    expect(r.status).toBe(0);
    const e = JSON.parse(r.stdout) as { readable: { path: string }[]; writable: { path: string }[]; environment: string[]; network: { id: string }[]; layers: { namespaces: string[] }; limits: Record<string, unknown> };
    expect(e.writable.map((w) => w.path)).toEqual(['/workspace', '/tmp', '/home/agent']);
    expect(e.readable.map((w) => w.path)).toContain('/usr');
    expect(e.environment).toContain('HOME');
    expect(e.network.map((n) => n.id)).toContain('npm-registry');
    expect(e.layers.namespaces.length).toBeGreaterThan(3);
    expect(e.limits).toHaveProperty('memoryBytes');
  }, 60_000);

  it('sandbox.proc-sys-readonly: kernel.core_pattern cannot be set from inside (even as host root)', async () => {
    const report = await runAttackSuite({ cases: ALL_CASES.filter((c) => c.id === 'fs-core-pattern' || c.id === 'fs-sysrq') });
    expect(report.results.map((r) => r.verdict)).toEqual(['contained', 'contained']);
    const core = report.results.find((r) => r.id === 'fs-core-pattern');
    expect(core?.evidence).toMatch(/Read-only file system|Permission denied|Directory nonexistent/);
  }, 60_000);

  it('doctor --attack refuses a backend it cannot run', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--attack', '--backend', 'docker'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/E_USAGE/);
  });
});
