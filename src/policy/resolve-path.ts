/**
 * Resolving a file action's path on the host before `decide` sees it. `decide`
 * does no I/O, so symlinks, hard links and special files are looked up here, at
 * the boundary, and passed in as `action.resolved`; `decide` then checks both the
 * requested and the real path and the strictest verdict wins.
 */
import { lstat, readlink } from 'node:fs/promises';
import type { FileAction, ResolvedPathInfo } from './decide.js';
import { normalizePath } from './analyzers.js';

/** A sandbox path prefix and the host directory that backs it. */
export interface PathMount {
  readonly sandbox: string;
  readonly host: string;
}

const MAX_LINKS = 40;

function toHost(p: string, mounts: readonly PathMount[]): string | null {
  let best: PathMount | null = null;
  for (const m of mounts) {
    const s = normalizePath(m.sandbox);
    if (
      (p === s || p.startsWith(`${s === '/' ? '' : s}/`)) &&
      (best === null || s.length > normalizePath(best.sandbox).length)
    )
      best = m;
  }
  if (best === null) return null;
  const s = normalizePath(best.sandbox);
  return `${best.host}${p.slice(s === '/' ? 0 : s.length)}`;
}

/**
 * Follows symlinks component by component, interpreting link targets inside the
 * sandbox's namespace. A missing component ends the walk (the rest is a path about
 * to be created). Paths under no mount are returned unresolved.
 */
export async function resolveFileAction(
  action: FileAction,
  mounts: readonly PathMount[],
  cwd = '/workspace',
): Promise<FileAction> {
  const start = normalizePath(action.path.startsWith('/') ? action.path : `${cwd}/${action.path}`);
  const pending = start.split('/').filter((s) => s !== '');
  let current = '/';
  let hops = 0;
  let info: ResolvedPathInfo | null = null;
  while (pending.length > 0) {
    const seg = pending.shift() as string;
    const next = normalizePath(`${current}/${seg}`);
    const host = toHost(next, mounts);
    if (host === null) {
      // a directory above a mount point (/home above /home/agent) exists in the sandbox's view
      if (
        pending.length > 0 &&
        mounts.some((m) => normalizePath(m.sandbox).startsWith(`${next === '/' ? '' : next}/`))
      ) {
        current = next;
        continue;
      }
      return action;
    }
    let st;
    try {
      st = await lstat(host);
    } catch {
      info = { realPath: normalizePath([next, ...pending].join('/')), type: 'missing', nlink: 0 };
      break;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_LINKS) return { ...action, resolved: { realPath: next, type: 'symlink', nlink: 1 } };
      const target = await readlink(host);
      const base = target.startsWith('/') ? '/' : current;
      pending.unshift(
        ...normalizePath(`${base}/${target}`)
          .split('/')
          .filter((s) => s !== ''),
      );
      current = '/';
      continue;
    }
    current = next;
    if (pending.length === 0) {
      const type: ResolvedPathInfo['type'] = st.isFile()
        ? 'file'
        : st.isDirectory()
          ? 'dir'
          : st.isFIFO()
            ? 'fifo'
            : st.isSocket()
              ? 'socket'
              : st.isCharacterDevice()
                ? 'char'
                : 'block';
      info = { realPath: current, type, nlink: st.nlink };
    }
  }
  return info === null ? action : { ...action, resolved: info };
}
