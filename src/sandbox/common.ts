/**
 * What every backend builds a sandbox from, whatever starts it: the uid inside, the generated
 * /etc files, the template's root entries, per-exec rlimits, the choice between cgroup limits
 * and rlimits, and a few process helpers. Backends differ in how they assemble these (bwrap
 * arguments, an OCI bundle for runsc), never in what the sandbox contains.
 */
import {
  accessSync,
  constants as fsConstants,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AirlockError } from '../errors/index.js';
import type { ResolvedLimits, SandboxExecRequest, SandboxSpec } from './backend.js';
import type { CgroupInfo, Controller } from './cgroups.js';
import { RLIMIT, type ExecRequest, type Rlimit } from './protocol.js';

/** The uid/gid commands run as inside the sandbox. */
export const SANDBOX_UID = 1000;
/** Where the supervisor binary appears inside the sandbox. */
export const SUPERVISOR_IN_SANDBOX = '/run/airlock/supervisor';
/** How long a backend waits for the supervisor's READY before giving up. */
export const STARTUP_TIMEOUT_MS = 10_000;

/** Path of the built supervisor in this package. */
export function supervisorPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'airlock-supervisor');
}

/** Finds an executable in the system directories only (never the caller's PATH). */
export function findExecutable(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin']) {
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** The files airlock generates for the sandbox's /etc, by name under /etc. */
export function etcFiles(hostname: string): Record<string, string> {
  return {
    passwd:
      'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
      `agent:x:${SANDBOX_UID}:${SANDBOX_UID}:Airlock agent:/home/agent:/bin/bash\n` +
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    group: `root:x:0:\nagent:x:${SANDBOX_UID}:\nnogroup:x:65534:\n`,
    hosts: `127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    hostname: `${hostname}\n`,
    // No resolver: the sandbox has no route to one. Names are resolved by the egress proxy.
    'resolv.conf': '# Airlock: no DNS inside the sandbox; network access goes through the HTTP proxy.\n',
  };
}

/** Writes the generated /etc files into `dir` and returns sandbox path → host file. */
export function generatedEtc(dir: string, hostname: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out: Record<string, string> = {};
  for (const [name, content] of Object.entries(etcFiles(hostname))) {
    const p = join(dir, name);
    writeFileSync(p, content, { mode: 0o644 });
    out[`/etc/${name}`] = p;
  }
  return out;
}

/** One entry of the sandbox's root, resolved against this host. */
export type RootEntry =
  | { kind: 'symlink'; dest: string; target: string }
  | { kind: 'bind'; dest: string; src: string; directory: boolean };

/**
 * Resolves the template's mounts on this host: a host symlink (merged /usr: /bin -> usr/bin)
 * is reproduced as a symlink rather than binding its target twice; a missing optional path
 * is left out; a missing required one is E_TEMPLATE_INVALID.
 */
export function templateEntries(spec: SandboxSpec): RootEntry[] {
  const out: RootEntry[] = [];
  for (const m of spec.template.mounts) {
    let st;
    try {
      st = lstatSync(m.src);
    } catch {
      if (m.optional) continue;
      throw new AirlockError('E_TEMPLATE_INVALID', `template "${spec.template.name}" binds ${m.src}, which does not exist on this host`, {
        hint: `Mark the mount optional: true in ${spec.template.file}, or choose another template.`,
      });
    }
    if (st.isSymbolicLink()) out.push({ kind: 'symlink', dest: m.dest, target: readlinkSync(m.src) });
    else out.push({ kind: 'bind', dest: m.dest, src: m.src, directory: st.isDirectory() });
  }
  return out;
}

/** The rlimits every exec gets: file size, open files, no core dumps, plus weak fallbacks. */
export function rlimitsFor(limits: ResolvedLimits, weak: ReadonlySet<Controller>): Rlimit[] {
  const big = (n: number): bigint => BigInt(Math.floor(n));
  const out: Rlimit[] = [
    { resource: RLIMIT.FSIZE, soft: big(limits.fileSizeBytes), hard: big(limits.fileSizeBytes) },
    { resource: RLIMIT.NOFILE, soft: big(limits.openFiles), hard: big(limits.openFiles) },
    { resource: RLIMIT.CORE, soft: 0n, hard: 0n },
  ];
  if (weak.has('memory')) out.push({ resource: RLIMIT.AS, soft: big(limits.memoryBytes), hard: big(limits.memoryBytes) });
  if (weak.has('pids')) out.push({ resource: RLIMIT.NPROC, soft: big(limits.pids), hard: big(limits.pids) });
  return out;
}

/**
 * Decides, per controller a backend wants from cgroups, whether a cgroup enforces it or the
 * caller accepted per-process rlimits instead (`weakLimits: 'rlimit'`). Returns the set of
 * controllers that fall back to rlimits; throws E_LIMIT_UNENFORCEABLE when the caller refused
 * weak limits, and always for cpu (no rlimit caps CPU bandwidth).
 */
export function weakControllers(
  wanted: Partial<Record<Controller, number | undefined>>,
  weakLimits: ResolvedLimits['weakLimits'],
  info: CgroupInfo,
): Set<Controller> {
  const weak = new Set<Controller>();
  for (const [c, v] of Object.entries(wanted) as [Controller, number | undefined][]) {
    if (v === undefined || info.sites[c] !== undefined) continue;
    if (weakLimits === 'refuse' || c === 'cpu') {
      throw new AirlockError('E_LIMIT_UNENFORCEABLE', `no cgroup layer can enforce the ${c} limit here: ${info.problems[c] ?? 'unavailable'}`, {
        hint:
          c === 'cpu'
            ? 'Drop --cpus, or run airlock where the cpu controller is delegated (cgroup v2: systemd-run --user -p Delegate=yes).'
            : 'Delegate cgroup controllers to airlock (cgroup v2: systemd-run --user --scope -p Delegate=yes airlock …), or accept per-process rlimits with --weak-limits rlimit.',
      });
    }
    weak.add(c);
  }
  return weak;
}

/** SIGKILLs one of our own processes by pid; a process already gone is not an error. */
export function tryKill(pid: number | undefined): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Keeps the last chunks of a diagnostic stream, for error messages. */
export function keepTail(stream: Readable | null | undefined, chunks = 32): () => string {
  const tail: Buffer[] = [];
  stream?.on('data', (d: Buffer) => {
    tail.push(d);
    if (tail.length > chunks) tail.shift();
  });
  return () => Buffer.concat(tail).toString('utf8').trim();
}

/**
 * Every descendant of `pid` (children, grandchildren, …), from /proc/<pid>/task/<tid>/children.
 * Children hang off the thread that forked them, and a Go program (runsc) forks from any of
 * its threads, so every thread is read. A process that exits meanwhile is simply missing.
 */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  const seen = new Set<number>([pid]);
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      let text: string;
      try {
        text = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const s of text.split(' ')) {
        const c = Number(s);
        if (s !== '' && Number.isInteger(c) && c > 0 && !seen.has(c)) {
          seen.add(c);
          out.push(c);
          queue.push(c);
        }
      }
    }
  }
  return out;
}

/** Turns a backend-neutral exec request into the supervisor's wire request. */
export function toWireExec(req: SandboxExecRequest, rlimits: readonly Rlimit[]): ExecRequest {
  return {
    argv: req.argv,
    env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
    cwd: req.cwd,
    tty: req.tty !== undefined,
    cols: req.tty?.cols ?? 0,
    rows: req.tty?.rows ?? 0,
    rlimits,
  };
}
