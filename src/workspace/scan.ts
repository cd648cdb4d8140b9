/**
 * Finding what the agent changed, and how the project stands against each change now.
 *
 * Overlay: only the upper layer is walked. An entry there is something the agent wrote;
 * a character device 0:0 is a whiteout (a deletion); an upper directory that hides the
 * lower one ("opaque", after rm -r and mkdir) deletes every baseline child it does not
 * hold. Opaqueness is an xattr Node cannot read, so it is inferred from the mounted
 * merged view while the overlay is mounted and recorded in the metadata at seal time.
 *
 * Copy: the whole copy is walked and compared with the manifest taken right after the
 * copy was made; an entry whose inode or ctime moved was touched by the agent.
 *
 * Either way a touched file whose bytes and mode equal the project's is not a change
 * (a copy-up by `open(O_RDWR)`, a `touch`).
 */
import { createHash } from 'node:crypto';
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { AirlockError } from '../errors/index.js';
import {
  childrenIndex,
  entryOf,
  permOf,
  sameIdentity,
  typeOfMode,
  type ManifestEntry,
  type TreeSnapshot,
} from './manifest.js';
import { baseOf, checkSymlinkTarget, isPackageJson, joinRel, parentOf, protectedByPath } from './paths.js';
import {
  isChainFailure,
  lstatAt,
  namesAt,
  openChildDir,
  openDirChain,
  openRegularAt,
  openRoot,
  readAllExactly,
  readlinkAt,
  sameBytes,
  type DirHandle,
} from './safe-fs.js';
import type {
  ChangeStatus,
  EntryInfo,
  ProtectedMark,
  RejectMark,
  WorkspaceChange,
  WorkspaceChangeSet,
  WorkspaceConflict,
} from './types.js';

/** The agent's side of a change. */
export interface AgentEntry extends ManifestEntry {
  linkTarget?: string;
}

/** One change with everything diff, apply and export need. */
export interface ScannedChange {
  path: string;
  status: ChangeStatus;
  baseline: ManifestEntry | null;
  agent: AgentEntry | null;
  /** The project's entry now (null: missing). */
  project: ManifestEntry | null;
  /** The project entry is still the staging-time one. */
  projectIsBaseline: boolean;
  /** Link text of the project's symlink now, when it is one. */
  projectLink?: string;
  protected: ProtectedMark | null;
  rejected: RejectMark | null;
  conflict: WorkspaceConflict | null;
}

/** The result of a scan. */
export interface ScanResult {
  changes: ScannedChange[];
  conflicts: WorkspaceConflict[];
  alreadyApplied: string[];
  /** Overlay: upper directories found to be opaque (for the metadata at seal). */
  opaqueDirs: string[];
  /** Identifies this exact set of changes (see {@link fingerprintOf}). */
  fingerprint: string;
}

/** Where to look. */
export interface ScanInput {
  strategy: 'overlay' | 'copy';
  projectDir: string;
  projectDev: number;
  projectIno: number;
  /** The staged root: the upper layer or the copy. */
  stagedDir: string;
  baseline: TreeSnapshot;
  /** Copy: the manifest of the fresh copy. */
  staged: TreeSnapshot | null;
  /** Overlay: the mounted merged view (for opaqueness), or null when sealed. */
  mergedDir: string | null;
  /** Overlay: opaque directories recorded at seal time (used when mergedDir is null). */
  opaqueDirs: readonly string[] | null;
}

interface Raw {
  baseline: ManifestEntry | null;
  agent: AgentEntry | null;
  unrepresentable?: boolean;
}

const isDirMode = (m: number): boolean => (m & 0o170000) === 0o040000;
const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

/** EntryInfo (public shape) from a manifest entry. */
export function infoOf(e: ManifestEntry, linkTarget?: string): EntryInfo {
  const info: EntryInfo = { type: typeOfMode(e.mode), mode: permOf(e.mode), size: e.size };
  if (linkTarget !== undefined) info.linkTarget = linkTarget;
  return info;
}

/** The public view of a scanned change. */
export function publicChange(c: ScannedChange): WorkspaceChange {
  const beforeLink = c.projectIsBaseline ? c.projectLink : undefined;
  return {
    path: c.path,
    status: c.status,
    before: c.baseline === null ? null : infoOf(c.baseline, beforeLink),
    after: c.agent === null ? null : infoOf(c.agent, c.agent.linkTarget),
    protected: c.protected,
    rejected: c.rejected,
  };
}

/** Opens a directory below a root by relative path; a failure means the tree changed under us. */
export function openDirRel(root: DirHandle, relDir: string, dev?: number): DirHandle {
  const segs = relDir === '' ? [] : relDir.split('/');
  const h = openDirChain(root, segs, dev === undefined ? {} : { dev });
  if (isChainFailure(h)) {
    throw new AirlockError(
      'E_WORKSPACE_RACE',
      `${JSON.stringify(h.at)} is no longer a plain directory (${h.reason})`,
      {
        hint: 'Stop the session (the sandbox may still be writing) and make sure nothing else edits the project, then run the command again.',
      },
    );
  }
  return h;
}

function collectOverlay(
  input: ScanInput,
  upper: DirHandle,
  children: Map<string, string[]>,
  opaqueOut: string[],
): { raws: Map<string, Raw>; inodes: Map<number, number> } {
  const raws = new Map<string, Raw>();
  const inodes = new Map<number, number>();
  const base = input.baseline.entries;
  const recorded = input.opaqueDirs === null ? null : new Set(input.opaqueDirs);

  const markDeleted = (path: string): void => {
    const b = base.get(path) ?? null;
    raws.set(path, { baseline: b, agent: null });
    if (b !== null && isDirMode(b.mode)) {
      const stack = [...(children.get(path) ?? [])];
      while (stack.length > 0) {
        const p = stack.pop() ?? '';
        const e = base.get(p);
        if (e === undefined) continue;
        if (!raws.has(p)) raws.set(p, { baseline: e, agent: null });
        if (isDirMode(e.mode)) stack.push(...(children.get(p) ?? []));
      }
    }
  };

  const isOpaque = (rel: string, upperNames: Set<string>): boolean => {
    if (recorded !== null) return recorded.has(rel);
    if (input.mergedDir === null) return false;
    for (const c of children.get(rel) ?? []) {
      if (upperNames.has(baseOf(c))) continue;
      let inProject = true;
      try {
        lstatSync(join(input.projectDir, c));
      } catch {
        inProject = false;
      }
      if (!inProject) continue;
      try {
        lstatSync(join(input.mergedDir, c));
      } catch {
        return true; // in the lower layer, not whited out, yet hidden: the directory is opaque
      }
      return false;
    }
    return false;
  };

  const walk = (dir: DirHandle, rel: string, merge: boolean): void => {
    const names = namesAt(dir);
    const nameSet = new Set(names);
    if (merge && rel !== '') {
      const b = base.get(rel);
      if (b !== undefined && isDirMode(b.mode) && isOpaque(rel, nameSet)) {
        opaqueOut.push(rel);
        for (const c of children.get(rel) ?? []) if (!nameSet.has(baseOf(c))) markDeleted(c);
      }
    }
    for (const name of names) {
      const path = joinRel(rel, name);
      const st = lstatAt(dir, name);
      if (st === null) {
        if (name.includes('\uFFFD')) raws.set(path, { baseline: null, agent: null, unrepresentable: true });
        continue;
      }
      const b = merge ? (base.get(path) ?? null) : null;
      if (isWhiteout(st)) {
        if (merge) markDeleted(path);
        continue;
      }
      const agent: AgentEntry = entryOf(st);
      if (st.isSymbolicLink()) agent.linkTarget = readlinkAt(dir, name);
      if (!st.isDirectory()) inodes.set(st.ino, (inodes.get(st.ino) ?? 0) + 1);
      if (st.isDirectory()) {
        const bIsDir = b !== null && isDirMode(b.mode);
        if (bIsDir) {
          if (permOf(b.mode) !== permOf(st.mode)) raws.set(path, { baseline: b, agent });
        } else {
          if (b !== null) markDeleted(path); // a file replaced by a directory
          raws.set(path, { baseline: b, agent });
        }
        const child = openChildDir(dir, name);
        if (isChainFailure(child)) continue; // replaced while walking; the next scan sees it
        try {
          walk(child, path, bIsDir);
        } finally {
          child.close();
        }
      } else {
        if (b !== null && isDirMode(b.mode)) markDeleted(path); // a directory replaced by a file
        raws.set(path, { baseline: b, agent });
      }
    }
  };
  walk(upper, '', true);
  return { raws, inodes };
}

function collectCopy(
  input: ScanInput,
  tree: DirHandle,
): { raws: Map<string, Raw>; inodes: Map<number, number> } {
  const staged = input.staged;
  if (staged === null)
    throw new AirlockError('E_WORKSPACE_METADATA', 'the copy manifest (staged.json) is missing', {
      hint: 'Discard the session and stage it again.',
    });
  const raws = new Map<string, Raw>();
  const inodes = new Map<number, number>();
  const seen = new Set<string>();
  const base = input.baseline.entries;
  const walk = (dir: DirHandle, rel: string): void => {
    for (const name of namesAt(dir)) {
      const path = joinRel(rel, name);
      const st = lstatAt(dir, name);
      if (st === null) {
        if (name.includes('\uFFFD')) raws.set(path, { baseline: null, agent: null, unrepresentable: true });
        continue;
      }
      seen.add(path);
      if (!st.isDirectory()) inodes.set(st.ino, (inodes.get(st.ino) ?? 0) + 1);
      const now = entryOf(st);
      const s = staged.entries.get(path);
      const untouched = s !== undefined && sameIdentity(s, now);
      if (!untouched) {
        const agent: AgentEntry = now;
        if (st.isSymbolicLink()) agent.linkTarget = readlinkAt(dir, name);
        raws.set(path, { baseline: base.get(path) ?? null, agent });
      }
      if (st.isDirectory()) {
        const child = openChildDir(dir, name);
        if (isChainFailure(child)) continue;
        try {
          walk(child, path);
        } finally {
          child.close();
        }
      }
    }
  };
  walk(tree, '');
  for (const [p, e] of base) {
    if (seen.has(p) || raws.has(p)) continue;
    // Only what was copied can have been deleted by the agent.
    if (staged.entries.has(p)) raws.set(p, { baseline: e, agent: null });
  }
  return { raws, inodes };
}

/** Reads the bytes of package.json's `scripts` (as canonical JSON), or a marker when it cannot. */
function scriptsOf(text: string | null): string {
  if (text === null) return 'null';
  try {
    const doc: unknown = JSON.parse(text);
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return 'not-an-object';
    return JSON.stringify((doc as Record<string, unknown>)['scripts'] ?? null);
  } catch {
    return 'unparseable';
  }
}

const MAX_PACKAGE_JSON = 8 * 1024 * 1024;

/** Scans a staged workspace. */
export async function scanWorkspace(input: ScanInput): Promise<ScanResult> {
  const children = childrenIndex(input.baseline.entries);
  const staged = openRoot(input.stagedDir);
  const project = openRoot(input.projectDir);
  const opaqueDirs: string[] = [];
  try {
    if (project.stat.dev !== input.projectDev || project.stat.ino !== input.projectIno) {
      throw new AirlockError(
        'E_WORKSPACE_STATE',
        `${input.projectDir} is no longer the directory that was staged`,
        {
          hint: 'The project directory was moved or replaced; restore it, or discard this session.',
        },
      );
    }
    const { raws, inodes } =
      input.strategy === 'overlay'
        ? collectOverlay(input, staged, children, opaqueDirs)
        : collectCopy(input, staged);
    const paths = [...raws.keys()].sort();
    const dirCache = new Map<string, DirHandle | null>();
    const stagedDirs = new Map<string, DirHandle>();
    const nameCache = new Map<string, Set<string>>();
    const changes: ScannedChange[] = [];
    const conflicts: WorkspaceConflict[] = [];
    const alreadyApplied: string[] = [];
    const byPath = raws;
    const mounts = input.baseline.mounts;

    const stagedDir = (rel: string): DirHandle => {
      let h = stagedDirs.get(rel);
      if (h === undefined) {
        h = openDirRel(staged, rel);
        stagedDirs.set(rel, h);
      }
      return h;
    };
    const namesIn = (rel: string, h: DirHandle): Set<string> => {
      let s = nameCache.get(rel);
      if (s === undefined) {
        s = new Set(namesAt(h));
        nameCache.set(rel, s);
      }
      return s;
    };

    // Resolves the project's parent directory of `path`, or says why it cannot be used.
    // `gone`: the path cannot exist in the project (its parent is missing or a plain file).
    type Parent = { dir: DirHandle } | { willCreate: true } | { conflict: WorkspaceConflict; gone: boolean };
    const projectParent = (path: string): Parent => {
      const rel = parentOf(path);
      const cached = dirCache.get(rel);
      if (cached !== undefined) return cached === null ? { willCreate: true } : { dir: cached };
      if (rel === '') {
        const h = openDirRel(project, '', input.projectDev);
        dirCache.set('', h);
        return { dir: h };
      }
      const up = projectParent(rel);
      if (!('dir' in up)) {
        if ('willCreate' in up) dirCache.set(rel, null);
        return up;
      }
      const name = baseOf(rel);
      const inBaseline = input.baseline.entries.get(rel);
      const r = byPath.get(rel);
      const h = openChildDir(up.dir, name, input.projectDev);
      if (isChainFailure(h)) {
        if (h.reason === 'missing') {
          if (inBaseline !== undefined) {
            return {
              conflict: {
                path,
                kind: 'deleted-in-project',
                detail: `the directory ${rel} was deleted in the project after staging`,
              },
              gone: true,
            };
          }
          dirCache.set(rel, null);
          return { willCreate: true };
        }
        if (h.reason === 'other-device') {
          return {
            conflict: {
              path,
              kind: 'other-file-system',
              detail: `${rel} is now a mount point of another file system`,
            },
            gone: false,
          };
        }
        // A project file the agent turned into a directory: apply deletes it first.
        if (
          r?.agent !== undefined &&
          r.agent !== null &&
          isDirMode(r.agent.mode) &&
          r.baseline !== null &&
          !isDirMode(r.baseline.mode)
        ) {
          dirCache.set(rel, null);
          return { willCreate: true };
        }
        return {
          conflict: {
            path,
            kind: 'parent-not-directory',
            detail: `${rel} is not a plain directory in the project (${h.reason})`,
          },
          gone: h.reason === 'not-directory',
        };
      }
      if (inBaseline === undefined && !namesIn(parentOf(rel), up.dir).has(name)) {
        h.close();
        return {
          conflict: {
            path,
            kind: 'case-alias',
            detail: `${rel} names an existing directory under another spelling (case-insensitive or normalizing file system)`,
          },
          gone: false,
        };
      }
      dirCache.set(rel, h);
      return { dir: h };
    };

    const openAgent = async (path: string, a: AgentEntry): Promise<FileHandle> =>
      (await openRegularAt(stagedDir(parentOf(path)), baseOf(path), path, a.ino)).fh;

    // 'same': identical; 'same-applied': what apply would write (it drops setuid, setgid
    // and sticky bits) is identical; 'different'.
    const equalToAgent = async (
      path: string,
      a: AgentEntry,
      dir: DirHandle,
      cur: Stats,
    ): Promise<'same' | 'same-applied' | 'different'> => {
      if (typeOfMode(a.mode) !== typeOfMode(cur.mode)) return 'different';
      const pa = permOf(a.mode);
      const pc = permOf(cur.mode);
      const verdict = pa === pc ? 'same' : (pa & 0o777) === pc ? 'same-applied' : 'different';
      if (verdict === 'different' || cur.isDirectory()) return verdict;
      if (cur.isSymbolicLink()) return a.linkTarget === readlinkAt(dir, baseOf(path)) ? verdict : 'different';
      if (!cur.isFile() || cur.size !== a.size) return 'different';
      const agentFh = await openAgent(path, a);
      try {
        const p = await openRegularAt(dir, baseOf(path), path, cur.ino);
        try {
          return (await sameBytes(agentFh, p.fh, a.size)) ? verdict : 'different';
        } finally {
          await p.fh.close();
        }
      } finally {
        await agentFh.close();
      }
    };

    const readSmall = async (
      open: () => Promise<FileHandle>,
      size: number,
      path: string,
    ): Promise<string | null> => {
      if (size > MAX_PACKAGE_JSON) return null;
      const fh = await open();
      try {
        return (await readAllExactly(fh, size, path)).toString('utf8');
      } finally {
        await fh.close();
      }
    };

    const rejectionOf = (path: string, a: AgentEntry | null): RejectMark | null => {
      if (mounts.some((m) => path === m || path.startsWith(`${m}/`))) {
        return {
          kind: 'mount-point',
          reason: 'the path is on another file system mounted inside the project',
        };
      }
      if (a === null) return null;
      const t = typeOfMode(a.mode);
      if (t === 'char-device' || t === 'block-device')
        return { kind: 'device', reason: 'device nodes are never applied' };
      if (t === 'fifo') return { kind: 'fifo', reason: 'FIFOs are never applied' };
      if (t === 'socket') return { kind: 'socket', reason: 'sockets are never applied' };
      if (t === 'file' && a.nlink > (inodes.get(a.ino) ?? 0)) {
        return {
          kind: 'hard-link',
          reason: `a hard link to a file outside the staged tree (${a.nlink} links, ${inodes.get(a.ino) ?? 0} inside); its content is not read`,
        };
      }
      if (t === 'symlink') {
        const chk = checkSymlinkTarget(path, a.linkTarget ?? '');
        if (!chk.inside) return { kind: 'symlink-outside', reason: chk.reason };
      }
      return null;
    };

    for (const path of paths) {
      const raw = byPath.get(path);
      if (raw === undefined) continue;
      if (raw.unrepresentable === true) {
        changes.push({
          path,
          status: 'added',
          baseline: null,
          agent: null,
          project: null,
          projectIsBaseline: false,
          protected: protectedByPath(path),
          rejected: {
            kind: 'unrepresentable-name',
            reason: 'the name is not valid UTF-8; airlock cannot name it safely',
          },
          conflict: null,
        });
        continue;
      }
      const b = raw.baseline;
      const a = raw.agent;
      if (b === null && a === null) {
        conflicts.push({
          path,
          kind: 'added-in-project',
          detail: `the agent deleted ${path}, which was added to the project after staging`,
        });
        continue;
      }
      let status: ChangeStatus;
      if (b === null) status = 'added';
      else if (a === null) status = 'deleted';
      else if ((b.mode & 0o170000) !== (a.mode & 0o170000)) status = 'type-changed';
      else status = 'modified';
      // Decided before anything of the agent's is read: a rejected entry is never opened.
      const rejected = rejectionOf(path, a);

      const parent = projectParent(path);
      let cur: Stats | null = null;
      let conflict: WorkspaceConflict | null = null;
      let projectLink: string | undefined;
      let already = false;
      if ('conflict' in parent) {
        // Deleted on both sides: nothing to do.
        if (a === null && parent.gone) already = true;
        else conflict = { ...parent.conflict, path };
      } else if ('dir' in parent) {
        cur = lstatAt(parent.dir, baseOf(path));
        if (cur?.isSymbolicLink() === true) projectLink = readlinkAt(parent.dir, baseOf(path));
        if (cur !== null && b === null && !namesIn(parentOf(path), parent.dir).has(baseOf(path))) {
          conflict = {
            path,
            kind: 'case-alias',
            detail: `${path} names an existing entry under another spelling (case-insensitive or normalizing file system)`,
          };
        }
      }
      const curEntry = cur === null ? null : entryOf(cur);
      const projectIsBaseline = b !== null && curEntry !== null && sameIdentity(b, curEntry);

      if (
        !already &&
        rejected === null &&
        conflict === null &&
        a !== null &&
        cur !== null &&
        'dir' in parent
      ) {
        const eq = await equalToAgent(path, a, parent.dir, cur);
        const unchangedByAgent = status === 'modified' && projectIsBaseline;
        if (eq === 'same' && unchangedByAgent) continue; // touched, not changed
        // A setuid bit the agent set stays a change to show, though apply drops it.
        if (eq !== 'different' && !unchangedByAgent) already = true;
      }
      if (!already && rejected === null && conflict === null) {
        if (b === null) {
          if (cur !== null && !(a !== null && isDirMode(a.mode) && cur.isDirectory())) {
            conflict = {
              path,
              kind: 'added-in-project',
              detail: `${path} was created in the project after staging, with other content`,
            };
          }
        } else if (cur === null) {
          if (a === null) already = true;
          else if (!('willCreate' in parent))
            conflict = {
              path,
              kind: 'deleted-in-project',
              detail: `${path} was deleted in the project after staging`,
            };
        } else if (!projectIsBaseline) {
          conflict = { path, kind: 'changed-in-project', detail: describeChange(b, entryOf(cur), path) };
        } else if (a === null && isDirMode(b.mode) && 'dir' in parent) {
          const d = openChildDir(parent.dir, baseOf(path), input.projectDev);
          if (!isChainFailure(d)) {
            try {
              const extra = namesAt(d).filter((n) => !input.baseline.entries.has(joinRel(path, n)));
              if (extra.length > 0) {
                conflict = {
                  path,
                  kind: 'new-entries-in-deleted-directory',
                  detail: `the agent deleted ${path}/, but the project has new entries in it: ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''}`,
                };
              }
            } finally {
              d.close();
            }
          }
        }
      }
      if (already && rejected === null) {
        alreadyApplied.push(path);
        continue;
      }

      let prot = protectedByPath(path);
      if (prot === null && a !== null && rejected === null && typeOfMode(a.mode) === 'symlink') {
        const chk = checkSymlinkTarget(path, a.linkTarget ?? '');
        const targetProt = chk.inside && chk.resolved !== '' ? protectedByPath(chk.resolved) : null;
        if (targetProt !== null && chk.inside) {
          prot = {
            category: 'symlink-to-protected',
            reason: `the symlink points at ${chk.resolved}: ${targetProt.reason}`,
          };
        }
      }
      if (
        prot === null &&
        a !== null &&
        rejected === null &&
        typeOfMode(a.mode) === 'file' &&
        isPackageJson(path)
      ) {
        const after = await readSmall(() => openAgent(path, a), a.size, path);
        let before: string | null = null;
        if (cur !== null && cur.isFile() && 'dir' in parent) {
          const dir = parent.dir;
          const ino = cur.ino;
          before = await readSmall(
            async () => (await openRegularAt(dir, baseOf(path), path, ino)).fh,
            cur.size,
            path,
          );
        }
        if (after === null)
          prot = { category: 'package-scripts', reason: 'package.json is too large to check its scripts' };
        else if (scriptsOf(after) !== scriptsOf(before) && scriptsOf(after) !== 'null') {
          prot = {
            category: 'package-scripts',
            reason: 'npm, yarn and pnpm run package.json scripts (install hooks run on the next install)',
          };
        }
      }
      const sc: ScannedChange = {
        path,
        status,
        baseline: b,
        agent: a,
        project: curEntry,
        projectIsBaseline,
        protected: prot,
        rejected,
        conflict: rejected === null ? conflict : null,
      };
      if (projectLink !== undefined) sc.projectLink = projectLink;
      if (sc.conflict !== null) conflicts.push(sc.conflict);
      changes.push(sc);
    }
    for (const h of dirCache.values()) h?.close();
    for (const h of stagedDirs.values()) h.close();
    return { changes, conflicts, alreadyApplied, opaqueDirs, fingerprint: fingerprintOf(changes) };
  } finally {
    staged.close();
    project.close();
  }
}

/**
 * A hash over every change's path, status, marks and the identity of both sides (inode,
 * size, times, mode). Any write to a changed file moves its ctime, so a diff's fingerprint
 * no longer matches once something edits the staged tree after the person looked at it.
 */
export function fingerprintOf(changes: readonly ScannedChange[]): string {
  const h = createHash('sha256');
  const id = (e: ManifestEntry | null): string =>
    e === null ? '-' : `${e.mode},${e.size},${e.mtimeMs},${e.ctimeMs},${e.ino}`;
  for (const c of changes) {
    h.update(
      `${c.path}\0${c.status}\0${id(c.agent)}\0${id(c.baseline)}\0${c.agent?.linkTarget ?? ''}\0${c.protected?.category ?? ''}\0${c.rejected?.kind ?? ''}\n`,
    );
  }
  return h.digest('hex').slice(0, 32);
}

function describeChange(b: ManifestEntry, now: ManifestEntry, path: string): string {
  const what: string[] = [];
  if ((b.mode & 0o170000) !== (now.mode & 0o170000))
    what.push(`type ${typeOfMode(b.mode)} → ${typeOfMode(now.mode)}`);
  else if (permOf(b.mode) !== permOf(now.mode))
    what.push(`mode ${permOf(b.mode).toString(8)} → ${permOf(now.mode).toString(8)}`);
  if (b.size !== now.size) what.push(`size ${b.size} → ${now.size}`);
  if (b.mtimeMs !== now.mtimeMs) what.push(`modified ${new Date(now.mtimeMs).toISOString()}`);
  if (what.length === 0) what.push(b.ino !== now.ino ? 'replaced by another file' : 'metadata changed');
  return `${path} changed in the project after staging (${what.join(', ')})`;
}

/** The public change set of a scan. */
export function changeSetOf(scan: ScanResult): WorkspaceChangeSet {
  return {
    changes: scan.changes.map(publicChange),
    conflicts: scan.conflicts,
    alreadyApplied: scan.alreadyApplied,
    fingerprint: scan.fingerprint,
  };
}
