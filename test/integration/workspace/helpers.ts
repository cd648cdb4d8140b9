/**
 * Helpers for the workspace tests: real temp projects (plain and git), and cleanup that
 * unmounts any overlay a failed test left behind before removing its directories.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createStagedWorkspace,
  type StagedWorkspace,
  type WorkspaceStrategy,
} from '../../../src/workspace/index.js';
import { overlayUnavailableReason } from '../../../src/workspace/overlay.js';

const made: string[] = [];

/** A fresh real directory under the system temp dir. */
export function tmp(prefix: string): string {
  const d = realpathSync(mkdtempSync(join(tmpdir(), `airlock-ws-${prefix}-`)));
  made.push(d);
  return d;
}

/** Unmounts every mount below our temp dirs, then removes them. */
export function cleanup(): void {
  const info = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const d of made) {
    const mounts = info
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${d}/`))
      .sort((a, b) => b.length - a.length);
    for (const m of mounts) {
      try {
        execFileSync('umount', ['-l', m]);
      } catch {
        // already gone
      }
    }
  }
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** File specs for {@link writeTree}: text, bytes, or a symlink. */
export type Spec = string | Buffer | { symlink: string } | { mode: number; content: string | Buffer };

/** Writes files (creating parents). */
export function writeTree(root: string, files: Record<string, Spec>): void {
  for (const [p, spec] of Object.entries(files)) {
    const abs = join(root, p);
    mkdirSync(dirname(abs), { recursive: true });
    if (typeof spec === 'string' || Buffer.isBuffer(spec)) writeFileSync(abs, spec);
    else if ('symlink' in spec) symlinkSync(spec.symlink, abs);
    else {
      writeFileSync(abs, spec.content);
      chmodSync(abs, spec.mode);
    }
  }
}

/** Runs git in a directory with a fixed identity and no user config. */
export function gitIn(cwd: string, args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'init.defaultBranch=main', '-c', 'user.name=User', '-c', 'user.email=user@example.com', ...args],
    {
      cwd,
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        HOME: cwd,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
      },
      encoding: 'utf8',
    },
  );
}

/** A git project with the files committed. */
export function gitProject(files: Record<string, Spec>): string {
  const dir = tmp('git');
  writeTree(dir, files);
  gitIn(dir, ['init', '-q']);
  gitIn(dir, ['add', '-A']);
  gitIn(dir, ['commit', '-q', '-m', 'initial']);
  return dir;
}

/** A plain project. */
export function plainProject(files: Record<string, Spec>): string {
  const dir = tmp('proj');
  writeTree(dir, files);
  return dir;
}

let counter = 0;

/** Stages a project with a strategy. */
export async function stage(
  projectDir: string,
  strategy: WorkspaceStrategy,
  stagingRoot = tmp('staging'),
): Promise<StagedWorkspace> {
  counter++;
  return createStagedWorkspace({
    projectDir,
    stagingRoot,
    sessionId: `s${counter}-${process.pid}`,
    strategy,
    agent: { name: 'Test Agent', email: 'agent@example.com' },
  });
}

/** Strategies that can run here, and why the others cannot. */
export const overlaySkip = overlayUnavailableReason();
/** Strategies to run shared tests under. */
export const STRATEGIES: WorkspaceStrategy[] = overlaySkip === null ? ['overlay', 'copy'] : ['copy'];

/** Runs a command (argv, no shell). */
export function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', ...(cwd === undefined ? {} : { cwd }) });
}

/** Reads a file as text. */
export function read(p: string): string {
  return readFileSync(p, 'utf8');
}
