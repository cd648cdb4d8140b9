/**
 * File operations for the faces (MCP tools, SDK), carried out inside the sandbox by small
 * fixed commands, so that every path is resolved in the sandbox's own view: a symlink
 * pointing at /etc/shadow resolves to the sandbox's (absent) /etc/shadow, never the
 * host's. No path is ever interpolated into a shell string: scripts are constants and
 * paths travel as separate argv entries.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { AirlockError } from '../errors/index.js';

/** What the file operations need from a session: run argv, collect raw bytes. */
export interface RawRunner {
  /** `judged` is the action the policy decides on, instead of the helper command's argv. */
  runRaw(argv: readonly string[], stdin?: Buffer, judged?: FileJudged | InternalRun): Promise<{ exitCode: number | null; signal: string | null; stdout: Buffer; stderr: Buffer }>;
}

/** The action a file operation is judged as. */
export interface FileJudged {
  kind: 'file.read' | 'file.write';
  path: string;
  /**
   * For a write: the SHA-256 of the exact bytes written, and a lazily built diff against
   * the current content, both shown to a person when the policy asks.
   */
  contentSha256?: string;
  diff?: () => Promise<string>;
}

/**
 * Airlock's own helper run, not an action of the agent's (reading a file to show a person
 * its diff): no policy decision, recorded as an exec like any other, its output never
 * returned to the agent.
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

function failure(op: string, path: string, r: { exitCode: number | null; stderr: Buffer }): AirlockError {
  const msg = r.stderr.toString('utf8').trim().split('\n').pop() ?? '';
  return new AirlockError('E_EXEC_FAILED', `${op} ${path} failed inside the sandbox: ${msg || `status ${String(r.exitCode)}`}`, {
    hint: 'Check that the path exists inside the sandbox (/workspace is the project).',
  });
}

/** Reads a file (at most maxBytes) inside the sandbox. */
export async function readFile(run: RawRunner, path: string, maxBytes = 10 * 1024 * 1024): Promise<{ content: Buffer; truncated: boolean }> {
  const p = sandboxPath(path);
  // head reads at most one byte more than allowed, which tells truncation apart from an exact fit.
  const r = await run.runRaw(['head', '-c', String(maxBytes + 1), '--', p], undefined, { kind: 'file.read', path: p });
  if (r.exitCode !== 0) throw failure('read', p, r);
  const truncated = r.stdout.length > maxBytes;
  return { content: truncated ? r.stdout.subarray(0, maxBytes) : r.stdout, truncated };
}

/** Writes a file inside the sandbox, replacing it atomically (temp file + rename). */
export async function writeFile(run: RawRunner, path: string, content: Buffer | string): Promise<void> {
  const p = sandboxPath(path);
  const script = 'set -e; t="$1.airlock-$$"; cat > "$t"; mv -f -- "$t" "$1"';
  // A copy: the caller may change its buffer while a person looks at the approval.
  const bytes = Buffer.from(content);
  const r = await run.runRaw(['/bin/sh', '-c', script, 'airlock-write', p], bytes, {
    kind: 'file.write',
    path: p,
    contentSha256: createHash('sha256').update(bytes).digest('hex'),
    diff: () => writeDiff(run, p, bytes),
  });
  if (r.exitCode !== 0) throw failure('write', p, r);
}

/** Lists a directory inside the sandbox. */
export async function listDirectory(run: RawRunner, path: string): Promise<DirEntry[]> {
  const p = sandboxPath(path);
  const r = await run.runRaw(['find', p, '-mindepth', '1', '-maxdepth', '1', '-printf', '%y\\t%s\\t%f\\0'], undefined, {
    kind: 'file.read',
    path: p,
  });
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

/** Searches text files under a directory for a fixed string (or a regex when asked). */
export async function search(
  run: RawRunner,
  pattern: string,
  options: { path?: string; regex?: boolean; maxResults?: number } = {},
): Promise<SearchHit[]> {
  const p = sandboxPath(options.path ?? WORKSPACE);
  const max = options.maxResults ?? 200;
  const r = await run.runRaw(['grep', '-rnIZ', options.regex === true ? '-E' : '-F', '--', pattern, p], undefined, {
    kind: 'file.read',
    path: p,
  });
  // grep: 0 found, 1 nothing found, 2 error.
  if (r.exitCode === 1) return [];
  if (r.exitCode !== 0) throw failure('search', p, r);
  const hits: SearchHit[] = [];
  for (const line of r.stdout.toString('utf8').split('\n')) {
    if (hits.length >= max) break;
    const nul = line.indexOf('\0');
    if (nul < 0) continue;
    const rest = line.slice(nul + 1);
    const colon = rest.indexOf(':');
    hits.push({ path: line.slice(0, nul), line: Number(rest.slice(0, colon)), text: rest.slice(colon + 1) });
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
