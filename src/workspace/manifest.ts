/**
 * The baseline manifest: one `lstat` identity per entry of a tree, taken when the
 * project is staged. Apply compares the project against it to find conflicts, and the
 * scan uses it to tell what the agent changed.
 *
 * Identity is (type and mode, size, mtime, ctime, inode). ctime cannot be set from user
 * space, so any write, chmod, rename-over or link changes it; content hashes would cost
 * a full read of the project and break the one-second staging goal on large trees.
 *
 * The walk uses synchronous calls (five times faster than the promise API here: one
 * lstat costs a few microseconds, the thread-pool round trip tens) and yields to the
 * event loop every few thousand entries so that a session host stays responsive.
 */
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import type { EntryType } from './types.js';

/** The identity of one entry. `mode` is the full `st_mode` (type bits included). */
export interface ManifestEntry {
  mode: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  nlink: number;
}

/** A walked tree. */
export interface TreeSnapshot {
  /** Every entry below the root by relative path (`/`-separated), root excluded. */
  entries: Map<string, ManifestEntry>;
  /** The root directory itself. */
  root: ManifestEntry;
  /** The root's device; entries on another device are mount points and are not walked. */
  dev: number;
  /** Directories below the root that are mount points of another file system. */
  mounts: string[];
  /** Names that are not valid UTF-8 (cannot be represented; listed, not walked). */
  unrepresentable: string[];
}

const S_IFMT = 0o170000;

/** The entry type of an `st_mode`. */
export function typeOfMode(mode: number): EntryType {
  switch (mode & S_IFMT) {
    case 0o100000:
      return 'file';
    case 0o040000:
      return 'directory';
    case 0o120000:
      return 'symlink';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    case 0o020000:
      return 'char-device';
    case 0o060000:
      return 'block-device';
    default:
      return 'file';
  }
}

/** Permission bits of an `st_mode`. */
export function permOf(mode: number): number {
  return mode & 0o7777;
}

/** The manifest identity of a `Stats`. */
export function entryOf(st: Stats): ManifestEntry {
  return {
    mode: st.mode,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ctimeMs: st.ctimeMs,
    ino: st.ino,
    nlink: st.nlink,
  };
}

/**
 * True when `now` is the same entry as `then`: for directories the type and permission
 * bits (their size and times move whenever a child changes), for everything else the
 * whole identity.
 */
export function sameIdentity(then: ManifestEntry, now: ManifestEntry): boolean {
  if ((then.mode & S_IFMT) === 0o040000) return then.mode === now.mode;
  return (
    then.mode === now.mode &&
    then.size === now.size &&
    then.mtimeMs === now.mtimeMs &&
    then.ctimeMs === now.ctimeMs &&
    then.ino === now.ino
  );
}

/** Options for {@link walkTree}. */
export interface WalkOptions {
  /** Yield to the event loop after this many entries (default 4096). */
  yieldEvery?: number;
}

/**
 * A walked tree as the staging path keeps it: one flat array (path, mode, size, mtimeMs,
 * ctimeMs, ino, nlink, path, …), cheap to build and to serialize. Scans parse it into a
 * {@link TreeSnapshot}.
 */
export interface FlatSnapshot {
  flat: (string | number)[];
  root: ManifestEntry;
  dev: number;
  mounts: string[];
  unrepresentable: string[];
}

const FIELDS = 7;
const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Walks `root` without following symlinks or crossing into other file systems. */
export async function walkFlat(root: string, options: WalkOptions = {}): Promise<FlatSnapshot> {
  const yieldEvery = options.yieldEvery ?? 4096;
  const rootSt = lstatSync(root);
  const flat: (string | number)[] = [];
  const mounts: string[] = [];
  const unrepresentable: string[] = [];
  const stack: string[] = [''];
  let sinceYield = 0;
  while (stack.length > 0) {
    const rel = stack.pop() ?? '';
    const abs = rel === '' ? root : `${root}/${rel}`;
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch {
      // Unreadable or vanished directory: its children stay out of the manifest, so any
      // agent change there is an addition and apply checks the project before writing.
      continue;
    }
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      // Plain concatenation (no path.join normalization) and no exceptions: this loop is
      // the cost of staging.
      const st = lstatSync(`${abs}/${name}`, { throwIfNoEntry: false });
      if (st === undefined) {
        // Node decodes names as UTF-8; a name that is not valid UTF-8 comes back with
        // U+FFFD and cannot be looked up again.
        if (name.includes('\uFFFD')) unrepresentable.push(r);
        continue;
      }
      flat.push(r, st.mode, st.size, st.mtimeMs, st.ctimeMs, st.ino, st.nlink);
      if (st.isDirectory()) {
        if (st.dev !== rootSt.dev) mounts.push(r);
        else stack.push(r);
      }
      if (++sinceYield >= yieldEvery) {
        sinceYield = 0;
        await yieldNow();
      }
    }
  }
  return { flat, root: entryOf(rootSt), dev: rootSt.dev, mounts, unrepresentable };
}

/** Walks `root` into a {@link TreeSnapshot}. */
export async function walkTree(root: string, options: WalkOptions = {}): Promise<TreeSnapshot> {
  return inflate(await walkFlat(root, options));
}

function inflate(f: FlatSnapshot): TreeSnapshot {
  const entries = new Map<string, ManifestEntry>();
  const a = f.flat;
  for (let i = 0; i + FIELDS <= a.length; i += FIELDS) {
    entries.set(a[i] as string, {
      mode: a[i + 1] as number,
      size: a[i + 2] as number,
      mtimeMs: a[i + 3] as number,
      ctimeMs: a[i + 4] as number,
      ino: a[i + 5] as number,
      nlink: a[i + 6] as number,
    });
  }
  return { entries, root: f.root, dev: f.dev, mounts: f.mounts, unrepresentable: f.unrepresentable };
}

/** Serializes a walked tree (flat, as walked). */
export function serializeFlat(f: FlatSnapshot): string {
  const r = f.root;
  return JSON.stringify({
    version: 1,
    dev: f.dev,
    root: [r.mode, r.size, r.mtimeMs, r.ctimeMs, r.ino, r.nlink],
    mounts: f.mounts,
    unrepresentable: f.unrepresentable,
    entries: f.flat,
  });
}

/** Serializes a snapshot. */
export function serializeSnapshot(s: TreeSnapshot): string {
  const flat: (string | number)[] = [];
  for (const [p, e] of s.entries) flat.push(p, e.mode, e.size, e.mtimeMs, e.ctimeMs, e.ino, e.nlink);
  return serializeFlat({
    flat,
    root: s.root,
    dev: s.dev,
    mounts: s.mounts,
    unrepresentable: s.unrepresentable,
  });
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${what} is not a number`);
  return v;
}

function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string'))
    throw new Error(`${what} is not a list of strings`);
  return v;
}

function entryFrom(a: unknown, what: string): ManifestEntry {
  if (!Array.isArray(a) || a.length !== 6) throw new Error(`${what} is not an entry`);
  const v = a as unknown[];
  return {
    mode: num(v[0], what),
    size: num(v[1], what),
    mtimeMs: num(v[2], what),
    ctimeMs: num(v[3], what),
    ino: num(v[4], what),
    nlink: num(v[5], what),
  };
}

/** Parses what {@link serializeFlat} wrote; throws a plain Error naming the bad part. */
export function parseSnapshot(text: string): TreeSnapshot {
  const doc: unknown = JSON.parse(text);
  if (doc === null || typeof doc !== 'object') throw new Error('manifest is not an object');
  const d = doc as Record<string, unknown>;
  if (d['version'] !== 1) throw new Error(`manifest version ${JSON.stringify(d['version'])} is not 1`);
  const rows = d['entries'];
  if (!Array.isArray(rows) || rows.length % FIELDS !== 0)
    throw new Error('manifest.entries is not a list of entries');
  const flat = rows as unknown[];
  for (let i = 0; i < flat.length; i += FIELDS) {
    if (typeof flat[i] !== 'string') throw new Error(`manifest entry ${i / FIELDS} is malformed`);
    for (let k = 1; k < FIELDS; k++) num(flat[i + k], `manifest entry ${JSON.stringify(flat[i])}`);
  }
  return inflate({
    flat: flat as (string | number)[],
    root: entryFrom(d['root'], 'manifest.root'),
    dev: num(d['dev'], 'manifest.dev'),
    mounts: strings(d['mounts'], 'manifest.mounts'),
    unrepresentable: strings(d['unrepresentable'], 'manifest.unrepresentable'),
  });
}

/** Children of every directory in a snapshot, for walking deletions. */
export function childrenIndex(entries: Map<string, ManifestEntry>): Map<string, string[]> {
  const idx = new Map<string, string[]>();
  for (const p of entries.keys()) {
    const i = p.lastIndexOf('/');
    const parent = i < 0 ? '' : p.slice(0, i);
    let list = idx.get(parent);
    if (list === undefined) {
      list = [];
      idx.set(parent, list);
    }
    list.push(p);
  }
  return idx;
}
