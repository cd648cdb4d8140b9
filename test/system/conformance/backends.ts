/**
 * The backends the conformance suite runs against, and whether each can run here. Every
 * conformance file loops over TARGETS; a backend that cannot run here gets its describe
 * block skipped with the reason in its title and on stderr, never silently.
 *
 * bwrap is the default backend and never skips: `npm test` is defined to run on a Linux
 * machine with bubblewrap, so a missing bwrap must fail, not vanish.
 */
import { connect } from 'node:net';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createSession, type BackendName } from '../../../src/index.js';
import { checkGvisor, runscInfo } from '../../../src/sandbox/gvisor.js';
import { supervisorPath } from '../../../src/sandbox/index.js';
import { findExecutable } from '../../../src/sandbox/common.js';
import { tempDir } from '../../helpers/index.js';

/** One backend under test. */
export interface Target {
  name: BackendName;
  /** Why it cannot run here, or undefined when it can. */
  skip: string | undefined;
  /** gVisor only: the release date of runsc (YYYYMMDD), for its known version-specific bugs. */
  runscDate?: number | undefined;
}

function gvisorTarget(): Target {
  const runsc = process.env['AIRLOCK_RUNSC'] || findExecutable('runsc');
  const checks = checkGvisor({ runsc, supervisor: supervisorPath(), platformOverride: process.env['AIRLOCK_GVISOR_PLATFORM'] || undefined, probe: false });
  // 'gvisor compat' is a known bug of an old runsc, not a reason to skip: tests that meet it
  // say so themselves.
  const failed = checks.filter((c) => !c.ok && c.name !== 'gvisor compat');
  if (failed.length > 0) {
    return { name: 'gvisor', skip: failed.map((c) => `${c.name}: ${c.detail}${c.fix === undefined ? '' : ` (fix: ${c.fix})`}`).join('; ') };
  }
  return { name: 'gvisor', skip: undefined, runscDate: runsc === undefined ? undefined : runscInfo(runsc).date };
}

function reachable(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => { done(true); });
    s.once('error', () => { done(false); });
    setTimeout(() => { done(false); }, 1000).unref();
  });
}

/**
 * Asks airlock itself whether a backend is implemented: an engine or cluster being reachable
 * is not enough. Only runs when the engine or cluster is there.
 */
async function implemented(name: BackendName): Promise<string | undefined> {
  try {
    const s = await createSession({ workspace: tempDir(`probe-${name}`), stateDir: tempDir('probe-state'), backend: name });
    await s.destroy();
    return undefined;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'E_BACKEND_UNAVAILABLE') return (err as Error).message;
    throw err;
  }
}

async function dockerTarget(): Promise<Target> {
  const host = process.env['DOCKER_HOST'];
  const sock = host?.startsWith('unix://') === true ? host.slice('unix://'.length) : host === undefined || host === '' ? '/var/run/docker.sock' : undefined;
  if (sock === undefined) return { name: 'docker', skip: `DOCKER_HOST=${host ?? ''} is not a unix socket; only local engines are probed` };
  if (!(await reachable(sock))) return { name: 'docker', skip: `no Docker (or Podman) engine reachable at ${sock}` };
  return { name: 'docker', skip: await implemented('docker') };
}

async function kubernetesTarget(): Promise<Target> {
  const config = process.env['KUBECONFIG'] ?? join(homedir(), '.kube', 'config');
  const inCluster = process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  if (!inCluster && !existsSync(config)) {
    return { name: 'kubernetes', skip: `no Kubernetes cluster configured (no ${config}, not running in a cluster)` };
  }
  return { name: 'kubernetes', skip: await implemented('kubernetes') };
}

/** Every backend, with whether it runs here. */
export const TARGETS: readonly Target[] = [
  { name: 'bwrap', skip: undefined },
  gvisorTarget(),
  await dockerTarget(),
  await kubernetesTarget(),
];

for (const t of TARGETS) {
  if (t.skip !== undefined) process.stderr.write(`conformance: ${t.name} skipped: ${t.skip}\n`);
}

/** The describe title for a target: its name, and why it is skipped when it is. */
export function title(t: Target): string {
  return t.skip === undefined ? `backend ${t.name}` : `backend ${t.name} (skipped: ${t.skip})`;
}
