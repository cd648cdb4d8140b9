/**
 * Machine diagnosis for `airlock doctor`: kernel, user namespaces, bwrap, seccomp,
 * cgroups and the supervisor, with what to install or change for each problem; then the
 * optional gVisor backend (runsc, its platform, a real probe), which does not decide `ok`.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { BackendCheck, BackendName } from './backend.js';
import { createBwrapBackend } from './bwrap.js';
import { detectCgroups } from './cgroups.js';
import { buildSeccompFilter } from './seccomp.js';
import { listTemplates } from './templates.js';

/** The doctor's report. */
export interface DoctorReport {
  /** True when the default backend can start a sandbox here. */
  ok: boolean;
  /** Per optional backend, whether it can start a sandbox here (its checks carry `backend`). */
  backends: Partial<Record<BackendName, boolean>>;
  checks: BackendCheck[];
  limits: Record<string, string>;
  templates: string[];
}

function readNumber(file: string): number | undefined {
  try {
    return Number(readFileSync(file, 'utf8').trim());
  } catch {
    return undefined;
  }
}

/** Probes this machine. Never throws. */
export async function diagnose(stateDir?: string): Promise<DoctorReport> {
  const checks: BackendCheck[] = [];
  const [major = 0, minor = 0] = release().split('.').map(Number);
  const kernelOk = major > 5 || (major === 5 && minor >= 4);
  checks.push({
    name: 'kernel',
    ok: kernelOk,
    detail: `Linux ${release()} (${process.arch})`,
    ...(kernelOk ? {} : { fix: 'Airlock needs Linux 5.4 or later (seccomp, user and cgroup namespaces).' }),
  });
  const userns = readNumber('/proc/sys/user/max_user_namespaces');
  const clone = readNumber('/proc/sys/kernel/unprivileged_userns_clone');
  const usernsOk = (userns ?? 1) > 0 && (clone ?? 1) === 1;
  checks.push({
    name: 'user namespaces',
    ok: usernsOk,
    detail: `max_user_namespaces=${userns ?? 'n/a'}, unprivileged_userns_clone=${clone ?? 'n/a'}`,
    ...(usernsOk ? {} : { fix: 'sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1' }),
  });
  const status = (() => {
    try {
      return readFileSync('/proc/self/status', 'utf8');
    } catch {
      return '';
    }
  })();
  const seccompKernel = /^Seccomp:/m.test(status);
  let seccompDetail = seccompKernel ? 'kernel supports seccomp filters' : 'kernel has no seccomp';
  let seccompOk = seccompKernel;
  try {
    const f = buildSeccompFilter();
    seccompDetail += `; filter for ${f.arch}: ${f.instructions} instructions, ${f.blocked.length} syscalls refused`;
  } catch (err) {
    seccompOk = false;
    seccompDetail += `; ${(err as Error).message}`;
  }
  checks.push({
    name: 'seccomp',
    ok: seccompOk,
    detail: seccompDetail,
    ...(seccompOk ? {} : { fix: 'Use a kernel built with CONFIG_SECCOMP_FILTER on x86_64 or aarch64.' }),
  });
  checks.push(...(await createBwrapBackend().check()));
  const cg = detectCgroups();
  const limits: Record<string, string> = {};
  for (const c of ['memory', 'pids', 'cpu'] as const) {
    const site = cg.sites[c];
    limits[c] = site !== undefined ? `cgroup v${site.version} under ${site.parent}` : `unavailable: ${cg.problems[c] ?? ''}`;
  }
  limits['tmp'] = 'tmpfs size limit (always)';
  limits['fileSize'] = 'RLIMIT_FSIZE (always)';
  limits['openFiles'] = 'RLIMIT_NOFILE (always)';
  const cgOk = cg.sites.memory !== undefined && cg.sites.pids !== undefined;
  checks.push({
    name: 'cgroups',
    ok: cgOk,
    detail: `memory: ${limits['memory']}; pids: ${limits['pids']}; cpu: ${limits['cpu']}`,
    ...(cgOk
      ? {}
      : {
          fix: 'Delegate the memory and pids controllers to airlock (cgroup v2: run it under `systemd-run --user --scope -p Delegate=yes`), or accept per-process rlimits with --weak-limits rlimit.',
        }),
  });
  // gVisor is optional: its checks are reported, but only the default backend's decide `ok`.
  // Loaded on demand, like the backend itself, so that doctor's callers do not pay for it.
  const { createGvisorBackend } = await import('./gvisor.js');
  const gvisor = await createGvisorBackend().check();
  checks.push(...gvisor);
  const templates = listTemplates(stateDir);
  const ok = checks.filter((c) => c.backend === undefined).every((c) => c.ok);
  const backends: Partial<Record<BackendName, boolean>> = { gvisor: gvisor.every((c) => c.ok || c.name === 'gvisor compat') };
  return { ok, backends, checks, limits, templates };
}
