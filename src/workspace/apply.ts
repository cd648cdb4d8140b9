/**
 * Writing the agent's changes into the project.
 *
 * Everything is checked before anything is written: conflicts (the project changed where
 * the agent changed it) and protected paths refuse the whole apply. Then, per entry:
 * deletions deepest first, directories shallowest first, files and symlinks written under
 * temporary names, one flush of the file system (syncfs, instead of an fsync per file), then
 * a rename each (a reader sees the old file or the new one, never a mix), directory modes last. Right before each write the project entry is compared with what the scan
 * saw; if it moved, apply stops there (E_WORKSPACE_RACE, naming what was written).
 *
 * Every path is reached through directory fds opened without following symlinks and
 * without leaving the project's file system; staged files are opened only after fstat
 * shows the regular file the scan saw. Rejected entries were never read by the scan and
 * are not read here. Permission bits are applied without setuid, setgid or sticky.
 */
import { lstatSync } from 'node:fs';
import { AirlockError, isErrnoException } from '../errors/index.js';
import { entryOf, permOf, sameIdentity, typeOfMode, type ManifestEntry } from './manifest.js';
import { baseOf, depthOf, parentOf } from './paths.js';
import {
  chmodAt,
  chownAt,
  commitTemp,
  DirCache,
  discardTemp,
  fsyncAt,
  lstatAt,
  mkdirAt,
  openRegularAt,
  openRoot,
  readExactly,
  rmdirAt,
  sameBytes,
  symlinkTemp,
  syncFileSystem,
  unlinkAt,
  writeTemp,
  type DirHandle,
  type Owner,
} from './safe-fs.js';
import type { ScanResult, ScannedChange } from './scan.js';
import type { ApplyResult, SkippedPath } from './types.js';

/** Inputs of {@link applyScan}. */
export interface ApplyInput {
  projectDir: string;
  projectDev: number;
  projectIno: number;
  stagedDir: string;
  scan: ScanResult;
  allowProtected: boolean;
  dryRun: boolean;
  expectFingerprint: string | null;
}

const isDir = (e: ManifestEntry | null): boolean => e !== null && typeOfMode(e.mode) === 'directory';
const byDepthDesc = (a: ScannedChange, b: ScannedChange): number =>
  depthOf(b.path) - depthOf(a.path) || (a.path < b.path ? 1 : -1);
const byDepthAsc = (a: ScannedChange, b: ScannedChange): number =>
  depthOf(a.path) - depthOf(b.path) || (a.path < b.path ? -1 : 1);

function raceStop(path: string, what: string, done: string[]): AirlockError {
  return new AirlockError(
    'E_WORKSPACE_RACE',
    `apply stopped at ${path}: ${what}. ${done.length} entr${done.length === 1 ? 'y was' : 'ies were'} already applied${done.length > 0 ? `: ${done.slice(0, 10).join(', ')}${done.length > 10 ? ', …' : ''}` : ''}`,
    {
      hint: 'Something changed the project (or the staged tree) during apply. Check those paths, then run apply again: applied entries are recognized and skipped.',
    },
  );
}

function ownerOf(dir: DirHandle, existing: ManifestEntry | null, name: string): Owner {
  if (existing !== null) {
    const st = lstatAt(dir, name);
    if (st !== null) return { uid: st.uid, gid: st.gid };
  }
  return { uid: dir.stat.uid, gid: dir.stat.gid };
}

/** Applies a scan to the project (or refuses, returning the report). */
export async function applyScan(input: ApplyInput): Promise<ApplyResult> {
  const { scan } = input;
  const rejected: SkippedPath[] = scan.changes
    .filter((c) => c.rejected !== null)
    .map((c) => ({ path: c.path, reason: c.rejected?.reason ?? '' }));
  const live = scan.changes.filter((c) => c.rejected === null);
  const blocking = live.filter((c) => c.protected !== null && c.protected.category !== 'git-internal');
  const protectedList = blocking.map((c) => ({
    path: c.path,
    category: c.protected?.category ?? 'git-config',
    reason: c.protected?.reason ?? '',
  }));
  if (input.expectFingerprint !== null && input.expectFingerprint !== scan.fingerprint) {
    return {
      status: 'refused',
      reason: 'changed-since-review',
      conflicts: scan.conflicts,
      protected: protectedList,
      rejected,
    };
  }
  if (scan.conflicts.length > 0) {
    return {
      status: 'refused',
      reason: 'conflicts',
      conflicts: scan.conflicts,
      protected: protectedList,
      rejected,
    };
  }
  if (blocking.length > 0 && !input.allowProtected) {
    return { status: 'refused', reason: 'protected', conflicts: [], protected: protectedList, rejected };
  }
  const skipped: SkippedPath[] = [];
  const todo: ScannedChange[] = [];
  for (const c of live) {
    if (c.protected?.category === 'git-internal' && !input.allowProtected) {
      skipped.push({ path: c.path, reason: 'repository internals are applied only with --allow-protected' });
    } else todo.push(c);
  }

  const written: string[] = [];
  const deleted: string[] = [];
  const modeChanged: string[] = [];
  const notes: string[] = [];
  for (const c of todo) {
    if (c.agent !== null && (permOf(c.agent.mode) & 0o7000) !== 0) {
      notes.push(
        `${c.path}: setuid, setgid and sticky bits are not applied (mode ${permOf(c.agent.mode).toString(8)} → ${(c.agent.mode & 0o777).toString(8)})`,
      );
    }
  }
  const deletions = todo
    .filter((c) => c.baseline !== null && (c.agent === null || c.status === 'type-changed'))
    .sort(byDepthDesc);
  const creations = todo.filter((c) => c.agent !== null).sort(byDepthAsc);
  if (input.dryRun) {
    for (const c of deletions) deleted.push(c.path);
    for (const c of creations) {
      if (c.status === 'modified' && c.baseline !== null && c.agent !== null && isDir(c.agent))
        modeChanged.push(c.path);
      else written.push(c.path);
    }
    return {
      status: 'applied',
      dryRun: true,
      written,
      deleted,
      modeChanged,
      alreadyApplied: scan.alreadyApplied,
      rejected,
      skipped,
      notes,
    };
  }

  const rootNow = lstatSync(input.projectDir);
  if (rootNow.dev !== input.projectDev || rootNow.ino !== input.projectIno) {
    throw new AirlockError(
      'E_WORKSPACE_STATE',
      `${input.projectDir} is no longer the directory that was staged`,
      {
        hint: 'The project directory was moved or replaced; restore it, or discard this session.',
      },
    );
  }
  const project = new DirCache(openRoot(input.projectDir), input.projectDev);
  const staged = new DirCache(openRoot(input.stagedDir));
  const done: string[] = [];
  try {
    // 1. Deletions, deepest first.
    for (const c of deletions) {
      const b = c.baseline;
      if (b === null) continue;
      const dir = project.dir(parentOf(c.path));
      const name = baseOf(c.path);
      const cur = lstatAt(dir, name);
      if (cur === null) continue; // already gone
      if (!sameIdentity(b, entryOf(cur)))
        throw raceStop(c.path, 'the project entry changed after the check', done);
      try {
        if (cur.isDirectory()) {
          project.forget(c.path);
          rmdirAt(dir, name);
        } else unlinkAt(dir, name);
      } catch (err) {
        if (isErrnoException(err) && err.code === 'ENOTEMPTY')
          throw raceStop(c.path, 'new entries appeared in the directory', done);
        throw err;
      }
      deleted.push(c.path);
      done.push(c.path);
    }

    // 2. Directories (shallowest first), then files and symlinks.
    const dirs = creations.filter((c) => isDir(c.agent));
    const leaves = creations.filter((c) => !isDir(c.agent));
    for (const c of dirs) {
      const dir = project.dir(parentOf(c.path));
      const name = baseOf(c.path);
      const cur = lstatAt(dir, name);
      if (cur === null) {
        mkdirAt(dir, name);
        chownAt(dir, name, { uid: dir.stat.uid, gid: dir.stat.gid });
        written.push(c.path);
        done.push(c.path);
      } else if (!cur.isDirectory()) throw raceStop(c.path, 'a non-directory is in the way', done);
    }
    // Files and symlinks go to temporary names first; one file-system flush; then the
    // renames, each after checking once more that the project entry is what the scan saw.
    const pending: {
      c: ScannedChange;
      dir: DirHandle;
      tmp: string;
      name: string;
      expected: ManifestEntry | null;
    }[] = [];
    const verify = (c: ScannedChange, dir: DirHandle, name: string, expected: ManifestEntry | null): void => {
      const cur = lstatAt(dir, name);
      if (expected === null ? cur !== null : cur === null || !sameIdentity(expected, entryOf(cur))) {
        throw raceStop(c.path, 'the project entry changed after the check', done);
      }
    };
    try {
      for (const c of leaves) {
        const a = c.agent;
        if (a === null) continue;
        const dir = project.dir(parentOf(c.path));
        const name = baseOf(c.path);
        const expected = c.status === 'modified' ? c.project : null;
        verify(c, dir, name, expected);
        const owner = ownerOf(dir, expected, name);
        const mode = a.mode & 0o777;
        if (typeOfMode(a.mode) === 'symlink') {
          pending.push({ c, dir, tmp: symlinkTemp(dir, a.linkTarget ?? '', owner), name, expected });
          continue;
        }
        const src = await openRegularAt(staged.dir(parentOf(c.path)), name, c.path, a.ino);
        try {
          let same = false;
          if (expected !== null && typeOfMode(expected.mode) === 'file' && expected.size === a.size) {
            const p = await openRegularAt(dir, name, c.path, expected.ino);
            try {
              same = await sameBytes(src.fh, p.fh, a.size);
            } finally {
              await p.fh.close();
            }
          }
          if (same) {
            chmodAt(dir, name, mode, false);
            modeChanged.push(c.path);
            done.push(c.path);
          } else {
            pending.push({
              c,
              dir,
              tmp: await writeTemp(dir, readExactly(src.fh, a.size, c.path), mode, owner),
              name,
              expected,
            });
          }
        } finally {
          await src.fh.close();
        }
      }
      if (pending.length > 0 && !(await syncFileSystem(input.projectDir))) {
        for (const p of pending) if (typeOfMode(p.c.agent?.mode ?? 0) === 'file') await fsyncAt(p.dir, p.tmp);
      }
      while (pending.length > 0) {
        const p = pending[0];
        if (p === undefined) break;
        verify(p.c, p.dir, p.name, p.expected);
        commitTemp(p.dir, p.tmp, p.name);
        pending.shift();
        written.push(p.c.path);
        done.push(p.c.path);
      }
    } finally {
      for (const p of pending) discardTemp(p.dir, p.tmp);
    }

    // 3. Directory modes, deepest first (a read-only directory is filled before it is locked).
    for (const c of [...dirs].sort(byDepthDesc)) {
      const a = c.agent;
      if (a === null) continue;
      const dir = project.dir(parentOf(c.path));
      chmodAt(dir, baseOf(c.path), a.mode & 0o777, true);
      if (c.status === 'modified') modeChanged.push(c.path);
    }
  } finally {
    project.close();
    staged.close();
  }
  return {
    status: 'applied',
    dryRun: false,
    written,
    deleted,
    modeChanged,
    alreadyApplied: scan.alreadyApplied,
    rejected,
    skipped,
    notes,
  };
}
