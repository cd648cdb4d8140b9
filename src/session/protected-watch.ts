/**
 * What a `direct` session did to protected files. A direct session mounts the project
 * itself read-write, so nothing holds what code inside writes: a build or test runner the
 * policy allows (`make`, `npm test`) runs code the workspace defines, and that code can plant
 * a git hook, an editor task or a CI workflow that runs later on the host. Binding those
 * paths read-only would not stop it (the agent can rename their parent and rebuild it), so
 * a direct session records instead: every protected file (the staged workspace's own
 * classification, `protectedByPath`, plus the `scripts` of every package.json) is
 * fingerprinted when the session starts and compared when it ends. What changed goes into
 * the `session.stopped` event and `airlock run` prints it.
 *
 * Detection, not containment: the change is on disk before anyone reads the report. The
 * staged workspace (the default) is the containment.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync, type Dirent, type Stats } from 'node:fs';
import { join } from 'node:path';
import { foldSegment, isPackageJson, protectedByPath, type ProtectedCategory } from '../workspace/index.js';

/** One protected path that a direct session created, changed or removed. */
export interface ProtectedChange {
  /** Relative to the project, `/`-separated. */
  path: string;
  category: ProtectedCategory;
  change: 'created' | 'modified' | 'deleted';
}

/** The fingerprints of a project's protected files at one moment. */
export interface ProtectedSnapshot {
  readonly entries: ReadonlyMap<string, { category: ProtectedCategory; fingerprint: string }>;
  /** True when the walk stopped at {@link MAX_ENTRIES}: later changes may be missed. */
  readonly incomplete: boolean;
}

/** The most directory entries one walk visits (a monorepo with node_modules stays well under). */
export const MAX_ENTRIES = 2_000_000;

/** Contents hashed in full up to this size; larger protected files are fingerprinted by size and mtime. */
const HASH_LIMIT = 4 * 1024 * 1024;

/** Inside a `.git` directory: the parts git rewrites constantly and that run nothing. */
const GIT_SKIP = new Set(['objects', 'refs', 'logs', 'lfs', 'rr-cache', 'worktrees']);

function fingerprint(abs: string, st: Stats): string {
  if (st.isSymbolicLink()) return `l:${readlinkSync(abs)}`;
  if (!st.isFile()) return `o:${st.mode}`;
  const mode = (st.mode & 0o7777).toString(8);
  if (st.size > HASH_LIMIT) return `f:${mode}:${st.size}:${st.mtimeMs}`;
  return `f:${mode}:${createHash('sha256').update(readFileSync(abs)).digest('hex')}`;
}

/** The `scripts` of a package.json (what npm runs), or its whole text when it does not parse. */
function scriptsPrint(abs: string, st: Stats): string | null {
  if (!st.isFile() || st.size > HASH_LIMIT) return null;
  const text = readFileSync(abs, 'utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    const scripts = typeof parsed === 'object' && parsed !== null && 'scripts' in parsed ? parsed.scripts : null;
    return `s:${createHash('sha256').update(JSON.stringify(scripts ?? null)).digest('hex')}`;
  } catch {
    return `t:${createHash('sha256').update(text).digest('hex')}`;
  }
}

function isDirectoryByStat(abs: string): boolean {
  try {
    return lstatSync(abs).isDirectory();
  } catch {
    return false;
  }
}

/** Fingerprints every protected file under `root` (symlinks are recorded, never followed). */
export function snapshotProtected(root: string): ProtectedSnapshot {
  const entries = new Map<string, { category: ProtectedCategory; fingerprint: string }>();
  let visited = 0;
  let incomplete = false;
  const walk = (dirAbs: string, dirRel: string, inGit: boolean): void => {
    let items: Dirent[];
    try {
      items = readdirSync(dirAbs, { withFileTypes: true });
    } catch {
      return; // vanished or unreadable between listing and reading: nothing to fingerprint
    }
    for (const item of items) {
      if (++visited > MAX_ENTRIES) {
        incomplete = true;
        return;
      }
      const name = item.name;
      const rel = dirRel === '' ? name : `${dirRel}/${name}`;
      const abs = join(dirAbs, name);
      // Directories are walked, not listed: what runs is the files in them. A file system
      // that reports no type in its listing (DT_UNKNOWN) is asked with lstat.
      if (item.isDirectory() || (!item.isFile() && !item.isSymbolicLink() && isDirectoryByStat(abs))) {
        const folded = foldSegment(name);
        if (inGit && GIT_SKIP.has(folded)) continue;
        walk(abs, rel, inGit || folded === '.git');
        if (incomplete) return;
        continue;
      }
      const mark = protectedByPath(rel);
      const pkg = mark === null && isPackageJson(rel);
      if ((mark === null || mark.category === 'git-internal') && !pkg) continue;
      let st: Stats;
      try {
        st = lstatSync(abs);
      } catch {
        continue;
      }
      if (mark !== null && mark.category !== 'git-internal') {
        try {
          entries.set(rel, { category: mark.category, fingerprint: fingerprint(abs, st) });
        } catch {
          entries.set(rel, { category: mark.category, fingerprint: 'unreadable' });
        }
      } else {
        try {
          const p = scriptsPrint(abs, st);
          if (p !== null) entries.set(rel, { category: 'package-scripts', fingerprint: p });
        } catch {
          // unreadable package.json: npm cannot read it either
        }
      }
    }
  };
  walk(root, '', false);
  return { entries, incomplete };
}

/** What differs between two snapshots, sorted by path. */
export function protectedChanges(before: ProtectedSnapshot, after: ProtectedSnapshot): ProtectedChange[] {
  const out: ProtectedChange[] = [];
  for (const [path, a] of after.entries) {
    const b = before.entries.get(path);
    if (b === undefined) out.push({ path, category: a.category, change: 'created' });
    else if (b.fingerprint !== a.fingerprint) out.push({ path, category: a.category, change: 'modified' });
  }
  for (const [path, b] of before.entries) if (!after.entries.has(path)) out.push({ path, category: b.category, change: 'deleted' });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
