/**
 * Resource limits through control groups. Rules this code lives by:
 *
 *   - it only ever creates child groups under the cgroup this process already lives in,
 *     and writes only inside those children (and, on cgroup v2, its own group's
 *     cgroup.subtree_control to delegate controllers down);
 *   - it never mounts or unmounts anything under /sys/fs/cgroup;
 *   - per controller it prefers cgroup v2, then v1 (hybrid hosts such as ours), and
 *     says which layer is in force; when none can enforce a limit that was asked for,
 *     the caller decides (refuse by default: see LimitsOptions.weakLimits).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError, isErrnoException } from '../errors/index.js';

/** Controllers Airlock uses. */
export type Controller = 'memory' | 'pids' | 'cpu';

/** Where a controller can be used from this process. */
export interface ControllerSite {
  controller: Controller;
  version: 1 | 2;
  /** The cgroup directory of this process in that hierarchy (children go below it). */
  parent: string;
}

/** What the machine offers, for doctor and for session start. */
export interface CgroupInfo {
  sites: Partial<Record<Controller, ControllerSite>>;
  /** Why a controller is unavailable, per controller. */
  problems: Partial<Record<Controller, string>>;
}

interface CgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

function parseProcCgroup(text: string): CgroupLine[] {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [hierarchy = '', ctl = '', ...rest] = l.split(':');
      return { hierarchy, controllers: ctl.length > 0 ? ctl.split(',') : [], path: rest.join(':') };
    });
}

interface CgroupMount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

function parseMountinfo(text: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const [left = '', right = ''] = line.split(' - ');
    const f = left.split(' ');
    const r = right.split(' ');
    const fsType = r[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    out.push({
      root: unescapeMount(f[3] ?? '/'),
      mountPoint: unescapeMount(f[4] ?? ''),
      fsType,
      superOptions: (r[2] ?? '').split(','),
    });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

function resolveIn(mount: CgroupMount, path: string): string | undefined {
  // The mount shows the hierarchy from mount.root down; our path must lie under it.
  if (mount.root !== '/' && path !== mount.root && !path.startsWith(`${mount.root}/`)) return undefined;
  const rel = mount.root === '/' ? path : path.slice(mount.root.length);
  const dir = join(mount.mountPoint, rel);
  return dir.length > 1 && dir.endsWith('/') ? dir.slice(0, -1) : dir;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** Finds, per controller, where this process may create child groups. Reads only. */
export function detectCgroups(procSelf = '/proc/self'): CgroupInfo {
  const lines = parseProcCgroup(readOr(join(procSelf, 'cgroup'), ''));
  const mounts = parseMountinfo(readOr(join(procSelf, 'mountinfo'), ''));
  const info: CgroupInfo = { sites: {}, problems: {} };
  const wanted: Controller[] = ['memory', 'pids', 'cpu'];

  const v2line = lines.find((l) => l.hierarchy === '0');
  const v2mount = mounts.find((m) => m.fsType === 'cgroup2');
  let v2dir: string | undefined;
  let v2controllers: string[] = [];
  if (v2line !== undefined && v2mount !== undefined) {
    v2dir = resolveIn(v2mount, v2line.path);
    if (v2dir !== undefined) v2controllers = readOr(join(v2dir, 'cgroup.controllers'), '').trim().split(/\s+/);
  }
  for (const c of wanted) {
    if (v2dir !== undefined && v2controllers.includes(c)) {
      info.sites[c] = { controller: c, version: 2, parent: v2dir };
      continue;
    }
    const line = lines.find((l) => l.hierarchy !== '0' && l.controllers.includes(c));
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(c));
    if (line !== undefined && mount !== undefined) {
      const dir = resolveIn(mount, line.path);
      if (dir !== undefined && existsSync(dir)) {
        info.sites[c] = { controller: c, version: 1, parent: dir };
        continue;
      }
    }
    info.problems[c] =
      v2dir === undefined && mounts.length === 0
        ? 'no cgroup filesystem is mounted'
        : `the ${c} controller is neither delegated to this process's cgroup v2 group nor mounted as cgroup v1`;
  }
  return info;
}

/** Limits that cgroups enforce for a whole session. */
export interface CgroupLimits {
  memoryBytes?: number;
  pids?: number;
  cpus?: number;
}

/** A session's control groups, one per hierarchy in use. */
export interface SessionCgroup {
  /** Which layer enforces each limit that was asked for. */
  readonly layers: Partial<Record<Controller, string>>;
  /** Moves a host process (and so everything it forks later) into the session's groups. */
  addProcess(pid: number): void;
  /** Peak memory use in bytes, when the memory controller is in use. */
  memoryPeak(): number | undefined;
  /** True when the memory controller recorded an OOM kill. */
  oomKilled(): boolean;
  /** Kills what is left in the groups (they are the session's own processes) and removes them. */
  destroy(): Promise<void>;
}

const PREFIX = 'airlock-';

/**
 * Session groups are named after the owning host process as well as the session, so that
 * any airlock process (whatever its state directory) can tell debris from a live session's
 * group that is still empty because its sandbox has not been moved in yet.
 */
function groupName(sessionId: string): string {
  return `${PREFIX}${process.pid}-${sessionId}`;
}

/** True when a process with this pid exists (EPERM means it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrnoException(err) && err.code === 'EPERM';
  }
}

function write(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    throw new AirlockError('E_CGROUP_FAILED', `could not write "${value}" to ${file}: ${(err as Error).message}`, {
      hint: 'Check that this process may manage its own cgroup (delegation on cgroup v2), or run `airlock doctor`.',
      cause: err,
    });
  }
}

/**
 * On cgroup v2 a controller must be enabled in the parent's cgroup.subtree_control, which the
 * kernel refuses while the parent itself holds processes ("no internal processes"). We then
 * move this process into a leaf of its own group first, as container runtimes do.
 */
function enableV2(parent: string, controllers: Controller[]): void {
  const enabled = readOr(join(parent, 'cgroup.subtree_control'), '').trim().split(/\s+/);
  const missing = controllers.filter((c) => !enabled.includes(c));
  if (missing.length === 0) return;
  const value = missing.map((c) => `+${c}`).join(' ');
  try {
    writeFileSync(join(parent, 'cgroup.subtree_control'), value);
    return;
  } catch (err) {
    if (!isErrnoException(err) || err.code !== 'EBUSY') {
      throw new AirlockError('E_CGROUP_FAILED', `could not enable ${value} in ${parent}: ${(err as Error).message}`, {
        hint: 'Delegate the controllers to this cgroup (systemd: Delegate=yes), or run `airlock doctor`.',
        cause: err,
      });
    }
  }
  const leaf = join(parent, `${PREFIX}host`);
  mkdirSync(leaf, { recursive: true });
  write(join(leaf, 'cgroup.procs'), String(process.pid));
  write(join(parent, 'cgroup.subtree_control'), value);
}

/** Creates the session's groups and sets the limits; throws E_CGROUP_FAILED on any failure. */
export function createSessionCgroup(sessionId: string, limits: CgroupLimits, info: CgroupInfo): SessionCgroup {
  const needed: Controller[] = [];
  if (limits.memoryBytes !== undefined) needed.push('memory');
  if (limits.pids !== undefined) needed.push('pids');
  if (limits.cpus !== undefined) needed.push('cpu');
  const dirs = new Map<string, { version: 1 | 2; controllers: Controller[] }>();
  for (const c of needed) {
    const site = info.sites[c];
    if (site === undefined) continue;
    const dir = join(site.parent, groupName(sessionId));
    const entry = dirs.get(dir) ?? { version: site.version, controllers: [] };
    entry.controllers.push(c);
    dirs.set(dir, entry);
  }
  const created: string[] = [];
  const layers: Partial<Record<Controller, string>> = {};
  let memoryDir: { dir: string; version: 1 | 2 } | undefined;
  try {
    for (const [dir, { version, controllers }] of dirs) {
      if (version === 2) enableV2(join(dir, '..'), controllers);
      mkdirSync(dir);
      created.push(dir);
      for (const c of controllers) {
        layers[c] = `cgroup v${version} (${dir})`;
        if (c === 'memory' && limits.memoryBytes !== undefined) {
          memoryDir = { dir, version };
          if (version === 2) {
            write(join(dir, 'memory.max'), String(limits.memoryBytes));
            if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
          } else {
            write(join(dir, 'memory.limit_in_bytes'), String(limits.memoryBytes));
            // Without swap accounting this file does not exist; there is then no swap to limit.
            if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) {
              write(join(dir, 'memory.memsw.limit_in_bytes'), String(limits.memoryBytes));
            }
          }
        } else if (c === 'pids' && limits.pids !== undefined) {
          write(join(dir, 'pids.max'), String(limits.pids));
        } else if (c === 'cpu' && limits.cpus !== undefined) {
          const period = 100_000;
          const quota = Math.max(1000, Math.round(limits.cpus * period));
          if (version === 2) write(join(dir, 'cpu.max'), `${quota} ${period}`);
          else {
            write(join(dir, 'cpu.cfs_period_us'), String(period));
            write(join(dir, 'cpu.cfs_quota_us'), String(quota));
          }
        }
      }
    }
  } catch (err) {
    for (const d of created.reverse()) removeQuietly(d);
    throw err;
  }
  return {
    layers,
    addProcess(pid: number): void {
      for (const dir of created) write(join(dir, 'cgroup.procs'), String(pid));
    },
    memoryPeak(): number | undefined {
      if (memoryDir === undefined) return undefined;
      const file = memoryDir.version === 2 ? 'memory.peak' : 'memory.max_usage_in_bytes';
      const v = Number(readOr(join(memoryDir.dir, file), 'NaN').trim());
      return Number.isFinite(v) ? v : undefined;
    },
    oomKilled(): boolean {
      if (memoryDir === undefined) return false;
      if (memoryDir.version === 2) {
        return /^oom_kill [1-9]/m.test(readOr(join(memoryDir.dir, 'memory.events'), ''));
      }
      return /^oom_kill [1-9]/m.test(readOr(join(memoryDir.dir, 'memory.oom_control'), ''));
    },
    async destroy(): Promise<void> {
      for (const dir of created) await killAndRemove(dir);
    },
  };
}

function pidsIn(dir: string): number[] {
  return readOr(join(dir, 'cgroup.procs'), '')
    .split('\n')
    .filter((s) => s.length > 0)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

function removeQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

async function killAndRemove(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (!existsSync(dir)) return;
    const pids = pidsIn(dir);
    if (pids.length === 0 && removeQuietly(dir)) return;
    if (existsSync(join(dir, 'cgroup.kill'))) {
      try {
        writeFileSync(join(dir, 'cgroup.kill'), '1');
      } catch {
        // fall through to per-pid kills
      }
    }
    // Every process in this group belongs to the session being destroyed.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new AirlockError('E_CGROUP_FAILED', `control group ${dir} still holds processes after SIGKILL`, {
    hint: 'A process may be stuck in the kernel (D state); check `cat ' + join(dir, 'cgroup.procs') + '`.',
  });
}

/**
 * Removes empty airlock-* groups left by airlock processes that were killed (SIGKILL leaves
 * no chance to clean up). A group is debris only when the process named in it is gone and
 * it holds no process; anything else is left alone.
 */
export function sweepStaleCgroups(info: CgroupInfo): number {
  let removed = 0;
  const parents = new Set(Object.values(info.sites).map((s) => s.parent));
  for (const parent of parents) {
    let entries: string[];
    try {
      entries = readdirSync(parent);
    } catch {
      continue;
    }
    for (const e of entries) {
      const m = /^airlock-(\d+)-s[0-9a-f]+$/.exec(e);
      if (m === null || processAlive(Number(m[1]))) continue;
      const dir = join(parent, e);
      if (pidsIn(dir).length === 0 && removeQuietly(dir)) removed++;
    }
  }
  return removed;
}
