/**
 * File operations for the faces (MCP tools, SDK), carried out inside the sandbox by small
 * fixed commands, so that every path is resolved in the sandbox's own view: a symlink
 * pointing at /etc/shadow resolves to the sandbox's (absent) /etc/shadow, never the
 * host's. No path is ever interpolated into a shell string: scripts are constants and
 * paths travel as separate argv entries.
 *
 * Each operation judges the path it touches, not the name it was given: a first helper
 * resolves the path inside the sandbox (every symlink followed; for a write, the parent
 * directory, since the final name is replaced by a rename and never followed), the policy
 * decides on the name and the real path together (the strictest verdict wins), and the
 * operation then checks, inside the sandbox and after opening, that it holds exactly the
 * judged object: a read compares `/proc/self/fd/3` of the opened file with the judged
 * path; a write, a listing and a search `cd -P` into the judged directory and compare
 * `pwd -P`, then work on names relative to that directory. A path swapped in between (a
 * symlink planted while a person decides an ask) fails with E_FILE_CHANGED instead of
 * being followed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { AirlockError } from '../errors/index.js';
import type { ResolvedPathInfo } from '../policy/index.js';

/** What the file operations need from a session: run argv, collect raw bytes. */
export interface RawRunner {
  /** `judged` is the action the policy decides on, instead of the helper command's argv. */
  runRaw(argv: readonly string[], stdin?: Buffer, judged?: FileJudged | InternalRun): Promise<{ exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer }>;
  /**
   * Whether the policy lets the agent read this (real) path now without asking (allow or
   * log). A search drops hits in files it may not read. Absent: every path may be read.
   */
  mayRead?(path: string): boolean;
  /**
   * Throws the policy's denial when it denies the path as named, before anything runs
   * inside (the policy answers first, even where the path cannot be resolved).
   */
  denyOutright?(kind: 'file.read' | 'file.write', path: string): void;
}

/** The action a file operation is judged as. */
export interface FileJudged {
  kind: 'file.read' | 'file.write';
  /** The path as the caller named it (absolute in the sandbox). */
  path: string;
  /** What the path really is, resolved inside the sandbox: the policy judges both. */
  resolved?: ResolvedPathInfo;
  /**
   * For a write: the SHA-256 of the exact bytes written, and a lazily built diff against
   * the current content, both shown to a person when the policy asks.
   */
  contentSha256?: string;
  diff?: () => Promise<string>;
}

/**
 * Airlock's own helper run, not an action of the agent's (reading a file to show a person
 * its diff, resolving a path before it is judged): no policy decision, recorded as an exec
 * like any other, its output never returned to the agent.
 */
export interface InternalRun {
  kind: 'internal';
  why: string;
}

/** One entry of a directory listing. */
export interface DirEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'other';
  size: number;
}

/** One search hit. */
export interface SearchHit {
  path: string;
  line: number;
  text: string;
}

const WORKSPACE = '/workspace';

/** Makes a path absolute inside the sandbox (relative paths are under /workspace). */
export function sandboxPath(path: string): string {
  if (path.length === 0 || path.includes('\0')) {
    throw new AirlockError('E_USAGE', `path ${JSON.stringify(path)} is empty or contains NUL`, { hint: 'Pass a plain path.' });
  }
  return posix.normalize(posix.isAbsolute(path) ? path : posix.join(WORKSPACE, path));
}

/** The exit status a helper uses when the opened object is not the judged one. */
const CHANGED = 97;

function failure(op: string, path: string, r: { exitCode: number | null; stderr: Buffer }): AirlockError {
  const msg = r.stderr.toString('utf8').trim().split('\n').pop() ?? '';
  if (r.exitCode === CHANGED && msg.startsWith('airlock-changed: ')) {
    return new AirlockError(
      'E_FILE_CHANGED',
      `${op} ${path}: the path changed between the policy decision and the ${op} (it now leads to ${msg.slice('airlock-changed: '.length)}); nothing was done`,
      { hint: 'Something inside the sandbox replaced a directory or symlink on the path while it was being judged. Retry once nothing changes it.' },
    );
  }
  return new AirlockError('E_EXEC_FAILED', `${op} ${path} failed inside the sandbox: ${msg || `status ${String(r.exitCode)}`}`, {
    hint: 'Check that the path exists inside the sandbox (/workspace is the project).',
  });
}

/** `find -printf %y` letters (find, not stat: gVisor answers coreutils' statx with EINVAL). */
const STAT_TYPES: Readonly<Record<string, ResolvedPathInfo['type']>> = {
  f: 'file',
  d: 'dir',
  l: 'symlink',
  p: 'fifo',
  s: 'socket',
  c: 'char',
  b: 'block',
  missing: 'missing',
};

function parseResolved(op: string, p: string, out: Buffer, join?: string): ResolvedPathInfo {
  const [real = '', type = '', nlink = ''] = out.toString('utf8').split('\0');
  const t = STAT_TYPES[type];
  if (real === '' || !real.startsWith('/') || t === undefined || !/^\d+$/.test(nlink)) {
    // Fail closed: a path whose nature the helper could not report is not judged at all.
    throw new AirlockError('E_EXEC_FAILED', `${op} ${p}: could not resolve the path inside the sandbox (got ${JSON.stringify(type)})`, {
      hint: 'Use a regular file or directory path.',
    });
  }
  return { realPath: join === undefined ? real : posix.join(real, join), type: t, nlink: Number(nlink) };
}

/**
 * The path with every symlink followed, inside the sandbox. A path that does not exist is
 * still judged (as `missing`, its existing part resolved): the policy answers before the
 * sandbox says "no such file".
 */
async function resolveTarget(run: RawRunner, op: string, p: string): Promise<ResolvedPathInfo> {
  run.denyOutright?.('file.read', p);
  const r = await run.runRaw(
    [
      '/bin/sh',
      '-c',
      'realpath -z -m -- "$1" || exit 3; if [ -e "$1" ]; then find -L "$1" -maxdepth 0 -printf \'%y\\0%n\\0\'; else printf \'%s\\000%s\\000\' missing 0; fi',
      'airlock-resolve',
      p,
    ],
    undefined,
    { kind: 'internal', why: `resolving ${p} inside the sandbox before the policy judges it` },
  );
  if (r.exitCode !== 0) throw failure(op, p, r);
  return parseResolved(op, p, r.stdout);
}

/**
 * For a write: the parent directory resolved (as far as it exists) joined with the final name,
 * which is not followed (the write replaces that entry by a rename); its type as it is now.
 */
async function resolveEntry(run: RawRunner, p: string): Promise<{ dir: string; name: string; resolved: ResolvedPathInfo }> {
  run.denyOutright?.('file.write', p);
  const name = posix.basename(p);
  if (name === '' || name === '.' || name === '..') {
    throw new AirlockError('E_USAGE', `cannot write ${p}: it names a directory, not a file`, { hint: 'Name the file to write.' });
  }
  const r = await run.runRaw(
    [
      '/bin/sh',
      '-c',
      'realpath -z -m -- "$1" || exit 3; if [ -e "$1/$2" ] || [ -L "$1/$2" ]; then find "$1/$2" -maxdepth 0 -printf \'%y\\0%n\\0\'; else printf \'%s\\000%s\\000\' missing 0; fi',
      'airlock-resolve',
      posix.dirname(p),
      name,
    ],
    undefined,
    { kind: 'internal', why: `resolving ${p} inside the sandbox before the policy judges it` },
  );
  if (r.exitCode !== 0) throw failure('write', p, r);
  const resolved = parseResolved('write', p, r.stdout, name);
  return { dir: posix.dirname(resolved.realPath), name, resolved };
}

/** Opens "$1" on fd 3 and stops unless the opened object is exactly "$1" (no link on the way). */
const OPEN_CHECKED = 'exec 3< "$1" || exit 3; r=$(readlink /proc/self/fd/3) || exit 3; if [ "$r" != "$1" ]; then echo "airlock-changed: $r" >&2; exit 97; fi; ';
/** Enters directory "$1" and stops unless it is exactly "$1" (no link on the way). */
const CD_CHECKED = 'cd -P -- "$1" || exit 3; r=$(pwd -P) || exit 3; if [ "$r" != "$1" ]; then echo "airlock-changed: $r" >&2; exit 97; fi; ';

/** Reads a file (at most maxBytes) inside the sandbox. */
export async function readFile(run: RawRunner, path: string, maxBytes = 10 * 1024 * 1024): Promise<{ content: Buffer; truncated: boolean }> {
  const p = sandboxPath(path);
  const resolved = await resolveTarget(run, 'read', p);
  // head reads at most one byte more than allowed, which tells truncation apart from an exact fit.
  const r = await run.runRaw(['/bin/sh', '-c', `${OPEN_CHECKED}exec head -c "$2" <&3`, 'airlock-read', resolved.realPath, String(maxBytes + 1)], undefined, {
    kind: 'file.read',
    path: p,
    resolved,
  });
  if (r.exitCode !== 0) throw failure('read', p, r);
  const truncated = r.stdout.length > maxBytes;
  return { content: truncated ? r.stdout.subarray(0, maxBytes) : r.stdout, truncated };
}

/** Bytes of the content a write replaces that are read back, for the `file.write` record's hash and line counts. */
export const PREVIOUS_CONTENT_LIMIT = 10 * 1024 * 1024;

/** What a write replaced: the regular file that was there (bounded), or nothing. */
export interface WriteOutcome {
  /** The path written (absolute in the sandbox, as named). */
  path: string;
  /** The bytes written. */
  content: Buffer;
  /**
   * The content it replaced, or null when no regular file was there (a new file, or a
   * symlink or other entry, which the rename replaces without following it).
   */
  previous: Buffer | null;
  /** True when the previous content was longer than {@link PREVIOUS_CONTENT_LIMIT} and cut there. */
  previousTruncated: boolean;
}

/**
 * Writes a file inside the sandbox, replacing it atomically (temp file + rename in the judged
 * directory). Returns what it replaced, read by the same helper just before the rename.
 */
export async function writeFile(run: RawRunner, path: string, content: Buffer | string): Promise<WriteOutcome> {
  const p = sandboxPath(path);
  const { dir, name, resolved } = await resolveEntry(run, p);
  // The temporary name is random and created exclusively (set -C), so nothing planted can be
  // written through; the rename replaces the final name itself, never what a link there points at.
  // Before the rename the helper prints `F` and the old content when the name is a regular
  // file, opened without following a link (the opened object must be exactly "$1/$2"), else `N`.
  const script =
    `${CD_CHECKED}set -C; t=".airlock-write-$3"; cat > "$t" || exit 1; ` +
    'o="${1%/}/$2"; if [ -f "$2" ] && [ ! -L "$2" ]; then { if [ "$(readlink /proc/self/fd/4)" = "$o" ]; then printf F; head -c "$4" <&4; else printf N; fi; } 4< "$2" 2>/dev/null || :; else printf N; fi; ' +
    'mv -fT -- "$t" "$2" || { rm -f -- "$t"; exit 1; }';
  // A copy: the caller may change its buffer while a person looks at the approval.
  const bytes = Buffer.from(content);
  const r = await run.runRaw(['/bin/sh', '-c', script, 'airlock-write', dir, name, randomBytes(8).toString('hex'), String(PREVIOUS_CONTENT_LIMIT + 1)], bytes, {
    kind: 'file.write',
    path: p,
    resolved,
    contentSha256: createHash('sha256').update(bytes).digest('hex'),
    diff: () => writeDiff(run, resolved.realPath, bytes),
  });
  if (r.exitCode !== 0) throw failure('write', p, r);
  // `F` + content, or `N` (or nothing, when the open failed): anything but `F` means no previous file.
  const previous = r.stdout[0] === 0x46 ? r.stdout.subarray(1) : null;
  const previousTruncated = previous !== null && previous.length > PREVIOUS_CONTENT_LIMIT;
  return { path: p, content: bytes, previous: previousTruncated && previous !== null ? previous.subarray(0, PREVIOUS_CONTENT_LIMIT) : previous, previousTruncated };
}

/**
 * Lines added and removed between two texts, counted as a multiset difference of lines (a
 * moved line counts as neither): cheap, and what a reviewer wants from a `file.write` record.
 */
export function lineDelta(before: string, after: string): { added: number; removed: number } {
  const count = new Map<string, number>();
  for (const l of before.split('\n')) count.set(l, (count.get(l) ?? 0) + 1);
  let added = 0;
  for (const l of after.split('\n')) {
    const c = count.get(l) ?? 0;
    if (c > 0) count.set(l, c - 1);
    else added++;
  }
  let removed = 0;
  for (const c of count.values()) removed += c;
  return { added, removed };
}

/** Lists a directory inside the sandbox. */
export async function listDirectory(run: RawRunner, path: string): Promise<DirEntry[]> {
  const p = sandboxPath(path);
  const resolved = await resolveTarget(run, 'list', p);
  const r = await run.runRaw(
    ['/bin/sh', '-c', `${CD_CHECKED}exec find . -mindepth 1 -maxdepth 1 -printf '%y\\t%s\\t%f\\0'`, 'airlock-list', resolved.realPath],
    undefined,
    { kind: 'file.read', path: p, resolved },
  );
  if (r.exitCode !== 0) throw failure('list', p, r);
  const types: Record<string, DirEntry['type']> = { f: 'file', d: 'directory', l: 'symlink' };
  return r.stdout
    .toString('utf8')
    .split('\0')
    .filter((s) => s.length > 0)
    .map((rec) => {
      const [t = '', size = '0', ...name] = rec.split('\t');
      return { name: name.join('\t'), type: types[t] ?? 'other', size: Number(size) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Searches text files under a directory (or one file) for a fixed string (or a regex when
 * asked). Symlinks met below the directory are not followed (grep -r), and hits in files
 * the policy would not let the agent read are left out.
 */
export async function search(
  run: RawRunner,
  pattern: string,
  options: { path?: string; regex?: boolean; maxResults?: number } = {},
): Promise<SearchHit[]> {
  const p = sandboxPath(options.path ?? WORKSPACE);
  const max = options.maxResults ?? 200;
  const resolved = await resolveTarget(run, 'search', p);
  const mode = options.regex === true ? '-E' : '-F';
  const single = resolved.type !== 'dir';
  const script = single ? `${OPEN_CHECKED}exec grep -nI "$2" -- "$3" <&3` : `${CD_CHECKED}exec grep -rnIZ "$2" -- "$3" .`;
  const r = await run.runRaw(['/bin/sh', '-c', script, 'airlock-search', resolved.realPath, mode, pattern], undefined, {
    kind: 'file.read',
    path: p,
    resolved,
  });
  // grep: 0 found, 1 nothing found, 2 error.
  if (r.exitCode === 1) return [];
  if (r.exitCode !== 0) throw failure('search', p, r);
  const hits: SearchHit[] = [];
  const readable = new Map<string, boolean>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (hits.length >= max) break;
    let file: string;
    let rest: string;
    if (single) {
      file = resolved.realPath;
      rest = line;
    } else {
      const nul = line.indexOf('\0');
      if (nul < 0) continue;
      file = posix.join(resolved.realPath, line.slice(0, nul));
      rest = line.slice(nul + 1);
    }
    const colon = rest.indexOf(':');
    if (colon < 0) continue;
    let ok = readable.get(file);
    if (ok === undefined) {
      ok = run.mayRead === undefined || run.mayRead(file);
      readable.set(file, ok);
    }
    if (!ok) continue;
    hits.push({ path: file, line: Number(rest.slice(0, colon)), text: rest.slice(colon + 1) });
  }
  return hits;
}

const DIFF_SOURCE_LIMIT = 1024 * 1024;

/**
 * The unified diff a person sees for a write: the current content (read inside the
 * sandbox by a fixed helper, for display only) against the bytes that will be written.
 */
async function writeDiff(run: RawRunner, p: string, next: Buffer): Promise<string> {
  const r = await run.runRaw(['/bin/sh', '-c', 'test -f "$1" && head -c "$2" -- "$1"; exit 0', 'airlock-diff', p, String(DIFF_SOURCE_LIMIT + 1)], undefined, {
    kind: 'internal',
    why: 'the current content, for the diff a person approves',
  });
  const before = r.stdout;
  const binary = (b: Buffer): boolean => b.subarray(0, 8192).includes(0);
  if (binary(before) || binary(next)) {
    return `Binary file ${p}: ${before.length} bytes now, ${next.length} bytes after (sha256 ${createHash('sha256').update(next).digest('hex')})\n`;
  }
  if (before.length > DIFF_SOURCE_LIMIT || next.length > DIFF_SOURCE_LIMIT) {
    return `File ${p} is too large to show as a diff: ${before.length > DIFF_SOURCE_LIMIT ? 'more than 1 MiB' : `${before.length} bytes`} now, ${next.length} bytes after (sha256 ${createHash('sha256').update(next).digest('hex')})\n`;
  }
  return createTwoFilesPatch(`a${p}`, `b${p}`, before.toString('utf8'), next.toString('utf8'), undefined, undefined, { context: 3 });
}
