/**
 * Kernel overlayfs for staging: the project is the read-only lower layer, a directory in
 * the staging area is the upper layer that receives every write, and the merged view is
 * what the sandbox binds at /workspace. Nothing is copied up front, so staging a project
 * of any size costs one mount plus the baseline walk.
 *
 * Mount options and why:
 * - `redirect_dir=off`: renaming a directory that exists in the lower layer fails with
 *   EXDEV (tools such as `mv` then copy), so the upper layer never holds redirect xattrs
 *   whose meaning depends on the lower layer. What the upper layer holds is then exactly
 *   "entries the agent wrote", whiteouts and opaque directories.
 * - `metacopy=off`: a chmod copies data up too, so a file in the upper layer has its
 *   whole content there.
 * - `index=off`, `nfs_export=off`, `xino=off`: no hard-link index or inode-number games.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AirlockError } from '../errors/index.js';

/** Layer directories of one overlay. */
export interface OverlayLayers {
  lower: string;
  upper: string;
  work: string;
  merged: string;
}

const OPTION_SETS = [
  'redirect_dir=off,metacopy=off,index=off,nfs_export=off,xino=off',
  // Kernels before 4.19 know neither metacopy nor nfs_export (and so cannot use them).
  'redirect_dir=off,index=off',
];

function run(cmd: string, args: string[]): Promise<{ ok: boolean; stderr: string }> {
  return new Promise((done) => {
    execFile(
      cmd,
      args,
      { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, timeout: 30_000 },
      (err, _stdout, stderr) => {
        done({ ok: err === null, stderr: stderr.trim() || (err?.message ?? '') });
      },
    );
  });
}

/** Characters the overlay option parser treats specially; such paths are not mounted. */
export function overlayPathProblem(p: string): string | null {
  return /[,:\\\n]/.test(p)
    ? `the path ${JSON.stringify(p)} contains ",", ":", "\\" or a newline, which overlay mount options cannot carry`
    : null;
}

/** Why this process cannot mount an overlay, or null when it may try. */
export function overlayUnavailableReason(): string | null {
  if (process.platform !== 'linux') return 'overlayfs is Linux only';
  if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) {
    return 'not running as root: mounting overlayfs on the host needs CAP_SYS_ADMIN';
  }
  try {
    if (!/\toverlay\n/.test(readFileSync('/proc/filesystems', 'utf8')))
      return 'the kernel has no overlay file system (modprobe overlay)';
  } catch {
    return '/proc/filesystems is not readable';
  }
  return null;
}

/** Mounts the overlay; throws E_WORKSPACE_STAGE_FAILED with mount's own message when it fails. */
export async function mountOverlay(layers: OverlayLayers, source: string): Promise<string> {
  for (const p of [layers.lower, layers.upper, layers.work]) {
    const problem = overlayPathProblem(p);
    if (problem !== null)
      throw new AirlockError('E_WORKSPACE_STAGE_FAILED', problem, {
        hint: 'Use the copy strategy or a path without those characters.',
      });
  }
  let last = '';
  for (const extra of OPTION_SETS) {
    const opts = `lowerdir=${layers.lower},upperdir=${layers.upper},workdir=${layers.work},${extra}`;
    const r = await run('mount', ['-t', 'overlay', source, '-o', opts, layers.merged]);
    if (r.ok) return extra;
    last = r.stderr;
  }
  throw new AirlockError(
    'E_WORKSPACE_STAGE_FAILED',
    `mounting the overlay at ${layers.merged} failed: ${last}`,
    {
      hint: 'Check that the staging root is on a local file system (ext4, xfs, btrfs, tmpfs) and that this process may mount, or use the copy strategy.',
    },
  );
}

function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** True when `dir` is a mount point in this process's mount namespace. */
export function isMountPoint(dir: string): boolean {
  const want = resolve(dir);
  let info: string;
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return false;
  }
  for (const line of info.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4 && unescapeMountinfo(f[4] ?? '') === want) return true;
  }
  return false;
}

/** Unmounts `dir`; a busy mount is an error that says to stop the sandbox first. */
export async function unmount(dir: string): Promise<void> {
  if (!isMountPoint(dir)) return;
  const r = await run('umount', [dir]);
  if (!r.ok && isMountPoint(dir)) {
    throw new AirlockError(
      'E_WORKSPACE_STATE',
      `unmounting the staged workspace at ${dir} failed: ${r.stderr}`,
      {
        hint: 'Stop the session first: a process in its sandbox still uses the workspace.',
      },
    );
  }
}
