/**
 * File access that never follows a symlink and never opens anything but what was asked for.
 *
 * Node has no `openat`, so every operation below a directory goes through the magic link
 * `/proc/self/fd/<dirfd>/<name>`: the kernel resolves the fd to the directory that was
 * opened (not to whatever path now names it) and then looks up one plain `name`. Each
 * directory on the way is opened with `O_NOFOLLOW | O_DIRECTORY`, so a symlinked parent,
 * swapped in before or during the walk, fails with ELOOP instead of leading elsewhere.
 *
 * Files are first opened with `O_PATH | O_NOFOLLOW`, which opens nothing (no FIFO blocks,
 * no device driver runs); only after `fstat` shows a regular file with the expected inode
 * is the fd reopened for reading.
 */
import {
  chmodSync,
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmdirSync,
  symlinkSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { AirlockError, isErrnoException } from '../errors/index.js';

/** `O_PATH` on Linux (the same value on x86_64 and aarch64); Node does not export it. */
const O_PATH = 0o10000000;
const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** An open directory. Close it when done. */
export class DirHandle {
  /** The opened directory's stat at open time. */
  readonly stat: Stats;

  constructor(
    readonly fd: number,
    /** The directory's path relative to the root it was opened from (`''` for the root). */
    readonly rel: string,
  ) {
    this.stat = fstatSync(fd);
  }

  /** The path that names `name` inside this exact directory. */
  at(name: string): string {
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
      throw new AirlockError(
        'E_INTERNAL',
        `refusing the name ${JSON.stringify(name)} inside ${JSON.stringify(this.rel)}`,
        {
          hint: 'This is a bug in airlock; please report it.',
        },
      );
    }
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** Opens a root directory (the final component must not be a symlink). */
export function openRoot(abs: string): DirHandle {
  return new DirHandle(openSync(abs, O_DIR), '');
}

/** Why a directory chain could not be opened. */
export type ChainFailure = { reason: 'missing' | 'not-directory' | 'symlink' | 'other-device'; at: string };

/** Opens one child directory; null with the reason when it is not a plain directory. */
export function openChildDir(parent: DirHandle, name: string, dev?: number): DirHandle | ChainFailure {
  const rel = parent.rel === '' ? name : `${parent.rel}/${name}`;
  let fd: number;
  try {
    fd = openSync(parent.at(name), O_DIR);
  } catch (err) {
    if (isErrnoException(err)) {
      if (err.code === 'ENOENT') return { reason: 'missing', at: rel };
      if (err.code === 'ELOOP') return { reason: 'symlink', at: rel };
      if (err.code === 'ENOTDIR') {
        // With O_DIRECTORY, Linux reports a symlink as ENOTDIR, not ELOOP: tell them apart.
        let link = false;
        try {
          link = lstatSync(parent.at(name)).isSymbolicLink();
        } catch {
          // gone meanwhile
        }
        return { reason: link ? 'symlink' : 'not-directory', at: rel };
      }
    }
    throw err;
  }
  const h = new DirHandle(fd, rel);
  if (dev !== undefined && h.stat.dev !== dev) {
    h.close();
    return { reason: 'other-device', at: rel };
  }
  return h;
}

/** True when a value is a {@link ChainFailure}. */
export function isChainFailure(v: DirHandle | ChainFailure): v is ChainFailure {
  return !(v instanceof DirHandle);
}

/**
 * Opens the directory `segments` below `root` without following symlinks. With `create`,
 * missing directories are made (mode 0700 until apply sets their final mode). The root
 * handle stays open; the returned handle is new (or a new fd for the root itself).
 */
export function openDirChain(
  root: DirHandle,
  segments: readonly string[],
  options: { create?: boolean; dev?: number; onCreate?: (dir: DirHandle, name: string) => void } = {},
): DirHandle | ChainFailure {
  // Reopen the root through its fd (O_NOFOLLOW would refuse the magic link itself).
  let cur = new DirHandle(
    openSync(`/proc/self/fd/${root.fd}`, constants.O_RDONLY | constants.O_DIRECTORY),
    '',
  );
  for (const name of segments) {
    let next = openChildDir(cur, name, options.dev);
    if (isChainFailure(next) && next.reason === 'missing' && options.create === true) {
      try {
        mkdirSync(cur.at(name), 0o700);
        options.onCreate?.(cur, name);
      } catch (err) {
        if (!isErrnoException(err) || err.code !== 'EEXIST') {
          cur.close();
          throw err;
        }
      }
      next = openChildDir(cur, name, options.dev);
    }
    cur.close();
    if (isChainFailure(next)) return next;
    cur = next;
  }
  return cur;
}

/** `lstat` of one name in a directory; null when it does not exist. */
export function lstatAt(dir: DirHandle, name: string): Stats | null {
  try {
    return lstatSync(dir.at(name));
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null;
    throw err;
  }
}

/** The exact names in a directory (to catch case-folding aliases). */
export function namesAt(dir: DirHandle): string[] {
  return readdirSync(`/proc/self/fd/${dir.fd}`);
}

/** The text of a symlink. */
export function readlinkAt(dir: DirHandle, name: string): string {
  return readlinkSync(dir.at(name));
}

function raceError(rel: string, what: string): AirlockError {
  return new AirlockError(
    'E_WORKSPACE_RACE',
    `${JSON.stringify(rel)} changed while airlock was reading it (${what})`,
    {
      hint: 'Stop the session (the sandbox may still be writing), then run the command again.',
    },
  );
}

/**
 * Opens a regular file for reading, refusing symlinks, devices, FIFOs and sockets without
 * opening them, and (when `expectIno` is given) anything but that inode.
 */
export async function openRegularAt(
  dir: DirHandle,
  name: string,
  rel: string,
  expectIno?: number,
): Promise<{ fh: FileHandle; stat: Stats }> {
  let pfd: number;
  try {
    pfd = openSync(dir.at(name), O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'ELOOP'))
      throw raceError(rel, err.code);
    throw err;
  }
  try {
    const st = fstatSync(pfd);
    if (!st.isFile()) throw raceError(rel, 'no longer a regular file');
    if (expectIno !== undefined && st.ino !== expectIno) throw raceError(rel, 'replaced by another file');
    const fh = await open(`/proc/self/fd/${pfd}`, constants.O_RDONLY);
    return { fh, stat: st };
  } finally {
    closeSync(pfd);
  }
}

const CHUNK = 1024 * 1024;

/** Reads exactly `size` bytes in chunks; a short or long file is a race. */
export async function* readExactly(fh: FileHandle, size: number, rel: string): AsyncGenerator<Buffer> {
  let pos = 0;
  while (pos < size) {
    const want = Math.min(CHUNK, size - pos);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) throw raceError(rel, 'shorter than when it was scanned');
    pos += bytesRead;
    yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
  }
  const probe = Buffer.allocUnsafe(1);
  const { bytesRead } = await fh.read(probe, 0, 1, size);
  if (bytesRead !== 0) throw raceError(rel, 'longer than when it was scanned');
}

/** Reads a whole regular file of known size into memory. */
export async function readAllExactly(fh: FileHandle, size: number, rel: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of readExactly(fh, size, rel)) parts.push(b);
  return Buffer.concat(parts, size);
}

/** True when two open files of the same known size have the same bytes. */
export async function sameBytes(a: FileHandle, b: FileHandle, size: number): Promise<boolean> {
  const ba = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
  const bb = Buffer.allocUnsafe(ba.length);
  let pos = 0;
  while (pos < size) {
    const want = Math.min(ba.length, size - pos);
    const [ra, rb] = await Promise.all([a.read(ba, 0, want, pos), b.read(bb, 0, want, pos)]);
    if (ra.bytesRead !== want || rb.bytesRead !== want) return false;
    if (!ba.subarray(0, want).equals(bb.subarray(0, want))) return false;
    pos += want;
  }
  return true;
}

/** A fresh temporary name for an atomic write in a directory. */
export function tempName(): string {
  return `.airlock-apply-${randomBytes(6).toString('hex')}.tmp`;
}

/** Owner to give a written entry (only applied when running as root). */
export interface Owner {
  uid: number;
  gid: number;
}

const isRoot = (): boolean => typeof process.geteuid === 'function' && process.geteuid() === 0;

/**
 * Writes `chunks` to a new temporary file in `dir` with `mode` (and `owner` when root) and
 * returns its name. Nothing is visible under the final name until {@link commitTemp}.
 */
export async function writeTemp(
  dir: DirHandle,
  chunks: AsyncIterable<Buffer>,
  mode: number,
  owner: Owner | null,
): Promise<string> {
  const tmp = tempName();
  const fh = await open(
    dir.at(tmp),
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  );
  let ok = false;
  try {
    for await (const c of chunks) await fh.write(c);
    await fh.chmod(mode);
    if (owner !== null && isRoot()) await fh.chown(owner.uid, owner.gid);
    ok = true;
  } finally {
    await fh.close();
    if (!ok) discardTemp(dir, tmp);
  }
  return tmp;
}

/** Creates a symlink under a temporary name; see {@link commitTemp}. */
export function symlinkTemp(dir: DirHandle, target: string, owner: Owner | null): string {
  const tmp = tempName();
  symlinkSync(target, dir.at(tmp));
  try {
    if (owner !== null && isRoot()) lchownSync(dir.at(tmp), owner.uid, owner.gid);
  } catch (err) {
    discardTemp(dir, tmp);
    throw err;
  }
  return tmp;
}

/** Renames a temporary entry over `name`: readers see the old entry or the new one, never a mix. */
export function commitTemp(dir: DirHandle, tmp: string, name: string): void {
  renameSync(dir.at(tmp), dir.at(name));
}

/** Removes a temporary entry that will not be committed. */
export function discardTemp(dir: DirHandle, tmp: string): void {
  try {
    unlinkSync(dir.at(tmp));
  } catch {
    // nothing to clean
  }
}

/** fsyncs one entry of a directory (a regular file, opened without following symlinks). */
export async function fsyncAt(dir: DirHandle, name: string): Promise<void> {
  const fh = await open(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Flushes the whole file system holding `path` (`sync -f`, i.e. syncfs): one flush for all
 * temporary files instead of one fsync each. False when it could not run.
 */
export function syncFileSystem(path: string): Promise<boolean> {
  return new Promise((done) => {
    execFile(
      'sync',
      ['-f', path],
      { env: { PATH: '/usr/bin:/bin', LC_ALL: 'C' }, timeout: 120_000 },
      (err) => {
        done(err === null);
      },
    );
  });
}

/** Writes a file atomically: a temporary file, fsync, rename. */
export async function writeFileAtomic(
  dir: DirHandle,
  name: string,
  chunks: AsyncIterable<Buffer>,
  mode: number,
  owner: Owner | null,
): Promise<void> {
  const tmp = await writeTemp(dir, chunks, mode, owner);
  try {
    await fsyncAt(dir, tmp);
    commitTemp(dir, tmp, name);
  } catch (err) {
    discardTemp(dir, tmp);
    throw err;
  }
}

/** Sets the permission bits of an entry without following a symlink and without opening it. */
export function chmodAt(dir: DirHandle, name: string, mode: number, isDir: boolean): void {
  const pfd = openSync(dir.at(name), O_PATH | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(pfd);
    if (isDir ? !st.isDirectory() : !st.isFile())
      throw raceError(dir.rel === '' ? name : `${dir.rel}/${name}`, 'changed type');
    // chmod through the magic link of an O_PATH fd changes exactly the inode that was checked.
    chmodSync(`/proc/self/fd/${pfd}`, mode);
  } finally {
    closeSync(pfd);
  }
}

/** Changes the owner of a directory entry without following a symlink (root only). */
export function chownAt(dir: DirHandle, name: string, owner: Owner | null): void {
  if (owner === null || !isRoot()) return;
  lchownSync(dir.at(name), owner.uid, owner.gid);
}

/** Sets a directory's owner through its open fd (root only). */
export function chownDir(dir: DirHandle, owner: Owner | null): void {
  if (owner === null || !isRoot()) return;
  fchownSync(dir.fd, owner.uid, owner.gid);
}

/** Removes a non-directory entry. */
export function unlinkAt(dir: DirHandle, name: string): void {
  unlinkSync(dir.at(name));
}

/** Removes an empty directory. */
export function rmdirAt(dir: DirHandle, name: string): void {
  rmdirSync(dir.at(name));
}

/** Creates a directory (mode 0700 until its final mode is set). */
export function mkdirAt(dir: DirHandle, name: string): void {
  mkdirSync(dir.at(name), 0o700);
}

/** Open directories below one root by relative path, opened on first use and closed together. */
export class DirCache {
  private readonly dirs = new Map<string, DirHandle>();

  constructor(
    private readonly root: DirHandle,
    private readonly dev?: number,
  ) {}

  /** The directory `rel` (`''` for the root); a symlink or missing directory on the way is a race. */
  dir(rel: string): DirHandle {
    let h = this.dirs.get(rel);
    if (h === undefined) {
      const segs = rel === '' ? [] : rel.split('/');
      const opened = openDirChain(this.root, segs, this.dev === undefined ? {} : { dev: this.dev });
      if (isChainFailure(opened)) {
        throw new AirlockError(
          'E_WORKSPACE_RACE',
          `${JSON.stringify(opened.at)} is no longer a plain directory (${opened.reason})`,
          {
            hint: 'Stop the session (the sandbox may still be writing) and make sure nothing else edits the project, then run the command again.',
          },
        );
      }
      h = opened;
      this.dirs.set(rel, h);
    }
    return h;
  }

  /** Forgets a directory (after it was removed or replaced). */
  forget(rel: string): void {
    for (const [k, h] of this.dirs) {
      if (k === rel || k.startsWith(`${rel}/`) || rel === '') {
        h.close();
        this.dirs.delete(k);
      }
    }
  }

  /** Closes everything, the root included. */
  close(): void {
    for (const h of this.dirs.values()) h.close();
    this.dirs.clear();
    this.root.close();
  }
}
