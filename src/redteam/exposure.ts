/**
 * The exposure report: what an agent in a session with this policy and template can reach.
 * Paths and environment come from the template and the session's fixed layout; hosts,
 * credentials and file rules from the policy (presets merged in order); isolation layers
 * from a short-lived sandbox started for the purpose (so they are what is really in force).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { loadPolicy, presetText } from '../policy/index.js';
import { resolveTemplate, type BackendName, type SandboxLayers } from '../sandbox/index.js';
import { createSession, resolveLimits, resolveStateDir } from '../session/index.js';

/** Options for {@link buildExposureReport}. */
export interface ExposureOptions {
  /** A policy file; default: the `default` preset. */
  policyPath?: string;
  /** Template name or file; default `host`. */
  template?: string;
  backend?: BackendName;
  stateDir?: string;
}

/** What a session can reach. */
export interface ExposureReport {
  policy: string;
  template: string;
  backend: BackendName;
  readable: { path: string; from: string }[];
  writable: { path: string; from: string }[];
  policyFiles: { read: string[]; write: string[]; deny: string[] };
  environment: string[];
  network: { id: string; hosts: string[]; ports: string; methods: string; level: string }[];
  networkDefault: string;
  credentials: { id: string; hosts: string[]; secret: string }[];
  limits: Record<string, string | number>;
  layers: SandboxLayers;
}

interface RawPolicy {
  files?: { read?: string[]; write?: string[]; deny?: string[] };
  network?: {
    default?: string;
    rules?: { id?: string; host?: string | string[]; cidr?: string | string[]; ports?: (number | string)[]; methods?: string[]; level: string }[];
    credentials?: { id?: string; hosts: string[]; secret: string }[];
  };
}

const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** Builds the report; starts (and destroys) one sandbox to read its isolation layers. */
export async function buildExposureReport(options: ExposureOptions = {}): Promise<ExposureReport> {
  const stateDir = options.stateDir ?? resolveStateDir();
  const policy = options.policyPath === undefined ? loadPolicy({ text: presetText('default') }) : loadPolicy({ path: options.policyPath });
  const template = resolveTemplate(options.template ?? 'host', stateDir);
  const backend = options.backend ?? 'bwrap';
  // Presets first, the policy file last: later files add to earlier ones.
  const raws: RawPolicy[] = policy.files.map((f) => (f === '<text>' ? parseYaml(presetText('default')) : parseYaml(readFileSync(f, 'utf8'))) as RawPolicy);
  const files = { read: [] as string[], write: [] as string[], deny: [] as string[] };
  const network: ExposureReport['network'] = [];
  const credentials: ExposureReport['credentials'] = [];
  let networkDefault = 'deny';
  for (const r of raws) {
    files.read.push(...(r.files?.read ?? []));
    files.write.push(...(r.files?.write ?? []));
    files.deny.push(...(r.files?.deny ?? []));
    if (r.network?.default !== undefined) networkDefault = r.network.default;
    for (const n of r.network?.rules ?? []) {
      network.push({
        id: n.id ?? '(unnamed)',
        hosts: [...list(n.host), ...list(n.cidr)],
        ports: n.ports === undefined ? 'any' : n.ports.join(','),
        methods: n.methods === undefined ? 'any' : n.methods.join(','),
        level: n.level,
      });
    }
    for (const c of r.network?.credentials ?? []) credentials.push({ id: c.id ?? '(unnamed)', hosts: c.hosts, secret: c.secret.split(':')[0] ?? '' });
  }
  const limits = resolveLimits();
  const ws = mkdtempSync(join(tmpdir(), 'airlock-exposure-'));
  let layers: SandboxLayers;
  try {
    const s = await createSession({ workspace: ws, backend, template: options.template ?? 'host', stateDir, audit: false });
    layers = s.layers;
    await s.destroy();
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
  return {
    policy: options.policyPath === undefined ? 'the default preset' : policy.file,
    template: template.name,
    backend,
    readable: [
      ...template.mounts.filter((m) => !m.optional || existsSync(m.src)).map((m) => ({ path: m.dest, from: `${m.src} (read-only)` })),
      { path: '/workspace', from: 'the project (read-write unless --read-only)' },
      { path: '/tmp', from: `tmpfs, ${limits.tmpBytes} bytes` },
      { path: '/home/agent', from: `tmpfs, ${limits.homeBytes} bytes` },
      { path: '/proc', from: "the sandbox's own pid namespace (/proc/sys read-only)" },
      { path: '/dev', from: 'a minimal /dev: null, zero, full, random, urandom, tty, pts, shm' },
    ],
    writable: [
      { path: '/workspace', from: 'the project' },
      { path: '/tmp', from: 'tmpfs' },
      { path: '/home/agent', from: 'tmpfs' },
    ],
    policyFiles: files,
    environment: [...Object.keys(template.env), 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TMPDIR', 'AIRLOCK_SESSION'].sort(),
    network,
    networkDefault: `${networkDefault} (today a sandbox has no network interface but loopback: these rules apply once the egress proxy is wired into sessions)`,
    credentials,
    limits: { memoryBytes: limits.memoryBytes, pids: limits.pids, cpus: limits.cpus ?? 'no cap', tmpBytes: limits.tmpBytes, homeBytes: limits.homeBytes, fileSizeBytes: limits.fileSizeBytes, openFiles: limits.openFiles },
    layers,
  };
}

/** Formats the report for a terminal. */
export function formatExposureReport(r: ExposureReport): string {
  const out: string[] = [`policy ${r.policy}, template ${r.template}, backend ${r.backend}`, '', 'readable:'];
  for (const p of r.readable) out.push(`  ${p.path.padEnd(28)} ${p.from}`);
  out.push('writable:');
  for (const p of r.writable) out.push(`  ${p.path.padEnd(28)} ${p.from}`);
  out.push(`policy file rules: read ${r.policyFiles.read.length}, write ${r.policyFiles.write.length}, deny ${r.policyFiles.deny.length}`);
  out.push(`  deny: ${r.policyFiles.deny.join(' ')}`);
  out.push(`environment: ${r.environment.join(' ')}`);
  out.push(`network (default ${r.networkDefault}):`);
  for (const n of r.network) out.push(`  ${n.level.padEnd(6)} ${n.id.padEnd(16)} ${n.hosts.join(',')} ports ${n.ports} methods ${n.methods}`);
  out.push(`credentials: ${r.credentials.length === 0 ? 'none' : r.credentials.map((c) => `${c.id} (${c.secret}) for ${c.hosts.join(',')}`).join('; ')}`);
  out.push(`limits: ${Object.entries(r.limits).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out.push(`isolation: namespaces ${r.layers.namespaces.join(',')}; seccomp ${r.layers.seccomp}; ${Object.entries(r.layers.limits).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return `${out.join('\n')}\n`;
}
