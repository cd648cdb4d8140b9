/**
 * Public face of the sandbox part: backends, templates, the seccomp assembler and the
 * supervisor channel types.
 */
import type { Backend } from './backend.js';
import type { GvisorBackendOptions } from './gvisor.js';

export type {
  Backend,
  BackendCheck,
  BackendName,
  Bridge,
  ExtraBind,
  ResolvedLimits,
  Sandbox,
  SandboxExecRequest,
  SandboxLayers,
  SandboxSpec,
} from './backend.js';
export { createBwrapBackend, supervisorPath, SANDBOX_UID, type BwrapBackendOptions } from './bwrap.js';
export type { GvisorBackendOptions, RunscInfo } from './gvisor.js';

export { detectCgroups, processAlive, sweepStaleCgroups, type CgroupInfo, type Controller } from './cgroups.js';
export type { ExecExit, ExecHandle, OutputSink } from './channel.js';
export { buildSeccompFilter, evaluateSeccomp, BLOCKED_SYSCALLS, SECCOMP_RET, type SeccompFilter } from './seccomp.js';
export { listTemplates, loadTemplateFile, resolveTemplate, type Template, type TemplateMount } from './templates.js';
export { diagnose, type DoctorReport } from './doctor.js';
export { SANDBOX_REQUIREMENTS, type SandboxRequirement } from './requirements.js';

/**
 * Loads the gVisor backend's factory on demand: a dynamic import, so that the default (bwrap)
 * path never reads the gVisor module.
 */
export async function loadGvisorBackend(): Promise<(options?: GvisorBackendOptions) => Backend> {
  const { createGvisorBackend } = await import('./gvisor.js');
  return createGvisorBackend;
}
