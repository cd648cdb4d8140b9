import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendName } from '../sandbox/index.js';
import { resolveStateDir, type LimitsInput, type SessionOptions } from '../session/index.js';
import { usageError } from './output.js';

/** Options shared by `run` and `session create`. */
export interface SandboxCliOptions {
  workspace?: string;
  template?: string;
  backend?: string;
  memory?: string;
  pids?: string;
  cpus?: string;
  tmpSize?: string;
  fileSize?: string;
  openFiles?: string;
  timeout?: string;
  execTimeout?: string;
  weakLimits?: 'refuse' | 'rlimit';
  readOnly?: boolean;
  env?: string[];
  policy?: string;
  /** No staging: bind the project itself read-write (`run`, `session create`, `mcp`). */
  direct?: boolean;
}

/** The session options every sandbox command takes from its flags (policy aside). */
export function sessionOptionsFrom(
  opts: SandboxCliOptions,
): Required<Pick<SessionOptions, 'workspace' | 'template' | 'backend' | 'limits' | 'env' | 'stateDir' | 'workspaceReadOnly' | 'workspaceMode'>> {
  if (opts.direct === true && opts.readOnly === true) {
    throw usageError('--direct and --read-only exclude each other', '--read-only already binds the project itself (read-only); drop --direct.');
  }
  return {
    workspace: opts.workspace ?? '.',
    template: opts.template ?? 'host',
    backend: (opts.backend ?? 'bwrap') as BackendName,
    limits: limitsFrom(opts),
    env: envFrom(opts),
    stateDir: resolveStateDir(),
    workspaceReadOnly: opts.readOnly ?? false,
    workspaceMode: opts.direct === true ? 'direct' : 'staged',
  };
}

/** Adds the sandbox and limit flags to a command. */
export function addSandboxOptions(cmd: Command): Command {
  return cmd
    .option('-w, --workspace <dir>', 'project directory, mounted at /workspace', '.')
    .option('-t, --template <name>', 'root filesystem template (name or file)', 'host')
    .addOption(new Option('-b, --backend <name>', 'sandbox backend').choices(['bwrap', 'gvisor', 'docker', 'kubernetes']).default('bwrap'))
    .option('--memory <size>', 'memory for the whole sandbox, e.g. 2g (default 4g)')
    .option('--pids <n>', 'processes and threads in the sandbox (default 1024)')
    .option('--cpus <n>', 'CPU cores, e.g. 0.5 or 2 (default: no cap)')
    .option('--tmp-size <size>', 'size of /tmp (default 1g)')
    .option('--file-size <size>', 'largest file a process may write (default 4g)')
    .option('--open-files <n>', 'open files per process (default 4096)')
    .option('--timeout <duration>', 'wall-clock limit of the session, e.g. 30m (default: none)')
    .option('--exec-timeout <duration>', 'wall-clock limit per command (default: none)')
    .addOption(
      new Option('--weak-limits <mode>', 'when no cgroup can enforce memory/pids: refuse to start, or use per-process rlimits')
        .choices(['refuse', 'rlimit'])
        .default('refuse'),
    )
    .option('--read-only', 'mount /workspace read-only')
    .option('-p, --policy <file>', 'policy file (default: airlock.yaml in the workspace, if there is one)')
    .option('-e, --env <NAME=VALUE...>', 'environment variable for commands in the sandbox (repeatable)');
}

function int(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw usageError(`${flag}: ${JSON.stringify(v)} is not a whole number`, `Pass a number, e.g. ${flag} 512.`);
  return n;
}

/** Turns parsed flags into library limits. */
export function limitsFrom(o: SandboxCliOptions): LimitsInput {
  const l: LimitsInput = {};
  if (o.memory !== undefined) l.memory = o.memory;
  const pids = int('--pids', o.pids);
  if (pids !== undefined) l.pids = pids;
  if (o.cpus !== undefined) {
    const n = Number(o.cpus);
    if (!Number.isFinite(n)) throw usageError(`--cpus: ${JSON.stringify(o.cpus)} is not a number`, 'Pass cores, e.g. --cpus 1.5.');
    l.cpus = n;
  }
  if (o.tmpSize !== undefined) l.tmpSize = o.tmpSize;
  if (o.fileSize !== undefined) l.fileSize = o.fileSize;
  const of = int('--open-files', o.openFiles);
  if (of !== undefined) l.openFiles = of;
  if (o.timeout !== undefined) l.sessionTimeout = o.timeout;
  if (o.execTimeout !== undefined) l.execTimeout = o.execTimeout;
  if (o.weakLimits !== undefined) l.weakLimits = o.weakLimits;
  return l;
}

/** Parses repeated -e NAME=VALUE flags. */
export function envFrom(o: SandboxCliOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of o.env ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw usageError(`--env: ${JSON.stringify(kv)} is not NAME=VALUE`, 'Write -e NAME=VALUE; host variables are never passed through implicitly.');
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

/** The policy file to use: --policy, else airlock.yaml in the workspace, else none. */
export function policyPathFrom(o: SandboxCliOptions): string | undefined {
  if (o.policy !== undefined) return resolve(o.policy);
  const candidate = join(resolve(o.workspace ?? '.'), 'airlock.yaml');
  return existsSync(candidate) ? candidate : undefined;
}
