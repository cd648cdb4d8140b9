/**
 * Running git without letting anything the agent wrote choose what git executes.
 *
 * - A clean environment: no inherited `GIT_*` variables (GIT_DIR, GIT_EXTERNAL_DIFF,
 *   GIT_CONFIG_PARAMETERS ...), no system or global config, no pager, no prompts.
 * - `-c core.hooksPath=/dev/null` on every call (update-ref alone would run the
 *   reference-transaction hook), `core.fsmonitor=false`, `core.attributesFile=/dev/null`.
 * - Diffs are rendered from a private bare repository built with fast-import: a bare
 *   repository reads no `.gitattributes` from its trees, so attributes in the staged copy
 *   cannot select a diff driver, textconv or filter; `--no-ext-diff --no-textconv` on top.
 * - Content is streamed in by this process (from files it opened without following
 *   symlinks), never read by git from a path in the staged tree.
 * - `execFile`/`spawn` with an argv array, never a shell.
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { AirlockError } from '../errors/index.js';
import type { GitBaseInfo, GitIdentity } from './types.js';

/** Config flags put in front of every git command. */
export const SAFE_CONFIG = [
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.fsmonitor=false',
  '-c',
  'core.attributesFile=/dev/null',
  '-c',
  'core.pager=cat',
  '-c',
  'commit.gpgSign=false',
  '-c',
  'gc.auto=0',
  '-c',
  'maintenance.auto=false',
];

/**
 * The user's own repository may belong to another uid than this process (root exporting
 * into a user's project); git then refuses it as "dubious ownership". The user named the
 * project explicitly and every command here is plumbing with hooks, fsmonitor, filters,
 * pagers and signing turned off, so trusting it for these calls is safe.
 */
const TRUST_REPO = ['-c', 'safe.directory=*'];

/** The environment every git child gets (nothing inherited but PATH). */
export function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: '/nonexistent',
    XDG_CONFIG_HOME: '/nonexistent',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_ATTR_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_PAGER: 'cat',
    PAGER: 'cat',
  };
}

/** Options for {@link runGit}. */
export interface RunGitOptions {
  /** Working directory (default: `/`, which is in no repository). */
  cwd?: string;
  /** Extra environment on top of {@link gitEnv} (GIT_INDEX_FILE, author ...). */
  env?: Record<string, string>;
  /** Writes the child's stdin; resolves when done (the stream is ended after). */
  input?: (stdin: Writable) => Promise<void>;
  /** Operate on the user's repository (adds the safe.directory trust). */
  userRepo?: boolean;
}

/** The outcome of a git command. */
export interface GitOutput {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs git with the safe config and a clean environment. Never throws for a non-zero exit. */
export function runGit(args: readonly string[], options: RunGitOptions = {}): Promise<GitOutput> {
  const argv = [...SAFE_CONFIG, ...(options.userRepo === true ? TRUST_REPO : []), ...args];
  return new Promise((resolveP, rejectP) => {
    const child = spawn('git', argv, {
      cwd: options.cwd ?? '/',
      env: { ...gitEnv(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let err = '';
    let inputError: Error | null = null;
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 64 * 1024) err += d.toString();
    });
    child.on('error', (e) => {
      rejectP(
        new AirlockError('E_GIT_FAILED', `could not run git: ${e.message}`, {
          hint: 'Install git (apt-get install git) and make sure it is on PATH.',
          cause: e,
        }),
      );
    });
    child.stdin.on('error', () => undefined);
    if (options.input === undefined) child.stdin.end();
    else {
      options.input(child.stdin).then(
        () => child.stdin.end(),
        (e: unknown) => {
          inputError = e instanceof Error ? e : new Error('writing to git failed');
          child.stdin.destroy();
        },
      );
    }
    child.on('close', (code) => {
      if (inputError !== null) rejectP(inputError);
      else resolveP({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err.trim() });
    });
  });
}

/** Runs git and throws E_GIT_FAILED on a non-zero exit; returns stdout. */
export async function git(args: readonly string[], options: RunGitOptions = {}): Promise<Buffer> {
  const r = await runGit(args, options);
  if (r.code !== 0) {
    const shown = args
      .filter((a) => !a.startsWith('-c'))
      .slice(0, 4)
      .join(' ');
    throw new AirlockError(
      'E_GIT_FAILED',
      `git ${shown} failed (exit ${r.code}): ${r.stderr || 'no message'}`,
      {
        hint: "Check that the repository is intact (`git fsck`); the message above is git's own.",
      },
    );
  }
  return r.stdout;
}

/** What staging records about the project's repository; null outside a repository or without git. */
export async function gitInfoFor(projectDir: string): Promise<GitBaseInfo | null> {
  let top: GitOutput;
  try {
    top = await runGit(['rev-parse', '--show-toplevel', '--absolute-git-dir', '--show-prefix'], {
      cwd: projectDir,
      userRepo: true,
    });
  } catch {
    return null; // git is not installed: the project is treated as a plain directory
  }
  if (top.code !== 0) return null;
  const [topLevel, gitDir, prefix] = top.stdout.toString('utf8').split('\n');
  if (topLevel === undefined || topLevel === '' || gitDir === undefined || gitDir === '') return null;
  const [head, sym] = await Promise.all([
    runGit(['rev-parse', '-q', '--verify', 'HEAD^{commit}'], { cwd: projectDir, userRepo: true }),
    runGit(['symbolic-ref', '-q', 'HEAD'], { cwd: projectDir, userRepo: true }),
  ]);
  const headSha = head.code === 0 ? head.stdout.toString('utf8').trim() : '';
  const ref = sym.code === 0 ? sym.stdout.toString('utf8').trim() : '';
  return {
    topLevel,
    gitDir,
    prefix: prefix ?? '',
    head: headSha === '' ? null : headSha,
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null,
  };
}

/** C-style quoting for fast-import paths: ASCII only, everything else as octal escapes. */
export function quoteFastImportPath(p: string): string {
  let out = '"';
  for (const b of Buffer.from(p, 'utf8')) {
    if (b === 0x22) out += '\\"';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x0a) out += '\\n';
    else if (b < 0x20 || b >= 0x7f) out += `\\${b.toString(8).padStart(3, '0')}`;
    else out += String.fromCharCode(b);
  }
  return `${out}"`;
}

/** Validates an identity for a commit header. */
export function validateIdentity(who: GitIdentity, what: string): GitIdentity {
  if (who.name.trim() === '' || /[<>\n\r\0]/.test(who.name) || /[<>\n\r\0\s]/.test(who.email)) {
    throw new AirlockError(
      'E_CONFIG_INVALID',
      `${what}: ${JSON.stringify(`${who.name} <${who.email}>`)} is not a valid git identity`,
      {
        hint: 'Give a name without "<", ">" or newlines and an email without spaces, e.g. "Claude <agent@example.com>".',
      },
    );
  }
  return who;
}

/** Writes a fast-import stream with backpressure. */
export class FastImportWriter {
  private mark = 0;

  constructor(private readonly stdin: Writable) {}

  /** Writes raw bytes, waiting for the pipe to drain. */
  async write(data: string | Buffer): Promise<void> {
    if (!this.stdin.write(data)) {
      await new Promise<void>((resolveP, rejectP) => {
        const onDrain = (): void => {
          this.stdin.off('error', onError);
          resolveP();
        };
        const onError = (e: Error): void => {
          this.stdin.off('drain', onDrain);
          rejectP(e);
        };
        this.stdin.once('drain', onDrain);
        this.stdin.once('error', onError);
      });
    }
  }

  /** Starts a commit; returns its mark number. */
  async commit(
    ref: string,
    author: GitIdentity,
    committer: GitIdentity,
    message: string,
    from: string | null,
    when: number,
  ): Promise<number> {
    const mark = ++this.mark;
    const msg = Buffer.from(message, 'utf8');
    await this.write(
      `commit ${ref}\nmark :${mark}\nauthor ${author.name} <${author.email}> ${when} +0000\n` +
        `committer ${committer.name} <${committer.email}> ${when} +0000\ndata ${msg.length}\n`,
    );
    await this.write(msg);
    await this.write(`\n${from === null ? '' : `from ${from}\n`}`);
    return mark;
  }

  /** `M mode inline path` with the given bytes. */
  async modify(
    mode: string,
    path: string,
    size: number,
    chunks: AsyncIterable<Buffer> | Buffer,
  ): Promise<void> {
    await this.write(`M ${mode} inline ${quoteFastImportPath(path)}\ndata ${size}\n`);
    if (Buffer.isBuffer(chunks)) await this.write(chunks);
    else for await (const c of chunks) await this.write(c);
    await this.write('\n');
  }

  /** `D path` (a directory path removes everything below it). */
  async delete(path: string): Promise<void> {
    await this.write(`D ${quoteFastImportPath(path)}\n`);
  }

  /** Asks fast-import to print a mark's object name on stdout. */
  async getMark(mark: number): Promise<void> {
    await this.write(`get-mark :${mark}\n`);
  }

  /** Ends the stream. */
  async done(): Promise<void> {
    await this.write('done\n');
  }
}
