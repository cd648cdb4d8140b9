/**
 * What a staged workspace keeps on disk so that another process (the CLI after the
 * session ended) can diff, apply, export or discard it. Layout of a staging directory:
 *
 *   workspace.json   metadata (this module's schema)
 *   baseline.json    the project's manifest at staging time
 *   staged.json      copy strategy: the manifest of the fresh copy (to see what the agent touched)
 *   upper/ work/ merged/   overlay strategy layers (merged is bound at /workspace)
 *   tree/            copy strategy: the copy (bound at /workspace)
 *   tmp/             scratch (diff repositories)
 *   lock             held while apply, export, seal or discard runs
 *
 * None of these but `merged/` or `tree/` is ever visible inside the sandbox.
 */
import { closeSync, openSync, readFileSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AirlockError, isErrnoException } from '../errors/index.js';

const Identity = z.strictObject({ name: z.string().min(1), email: z.string() });

const GitInfo = z.strictObject({
  topLevel: z.string(),
  gitDir: z.string(),
  prefix: z.string(),
  head: z.string().nullable(),
  branch: z.string().nullable(),
});

/** The schema of workspace.json. */
export const WorkspaceMetadataSchema = z.strictObject({
  version: z.literal(1),
  sessionId: z.string(),
  projectDir: z.string(),
  projectDev: z.number(),
  projectIno: z.number(),
  strategy: z.enum(['overlay', 'copy']),
  strategyReason: z.string(),
  overlayOptions: z.string().nullable(),
  createdAt: z.string(),
  state: z.enum(['active', 'sealed']),
  agent: Identity.nullable(),
  git: GitInfo.nullable(),
  /** Overlay: upper directories that hide the lower layer, recorded at seal time. */
  opaqueDirs: z.array(z.string()).nullable(),
});

/** Parsed workspace.json. */
export type WorkspaceMetadata = z.infer<typeof WorkspaceMetadataSchema>;

/** File names inside a staging directory. */
export const FILES = {
  metadata: 'workspace.json',
  baseline: 'baseline.json',
  staged: 'staged.json',
  upper: 'upper',
  work: 'work',
  merged: 'merged',
  tree: 'tree',
  tmp: 'tmp',
  lock: 'lock',
} as const;

/** Writes a file atomically (temp + rename) with mode 0600. */
export function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads and validates workspace.json. */
export function readMetadata(stagingDir: string): WorkspaceMetadata {
  const path = join(stagingDir, FILES.metadata);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) {
      throw new AirlockError('E_WORKSPACE_NOT_FOUND', `no staged workspace at ${stagingDir}`, {
        hint: 'The session may have been discarded already; `airlock session ls` lists the live ones.',
      });
    }
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AirlockError('E_WORKSPACE_METADATA', `${path} is not valid JSON`, {
      hint: 'Discard the session and stage it again.',
      cause: err,
    });
  }
  const parsed = WorkspaceMetadataSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AirlockError(
      'E_WORKSPACE_METADATA',
      `${path}: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}`,
      {
        hint: 'The file was written by another airlock version or edited by hand; discard the session and stage it again.',
      },
    );
  }
  return parsed.data;
}

/** Writes workspace.json. */
export function writeMetadata(stagingDir: string, meta: WorkspaceMetadata): void {
  writeAtomic(join(stagingDir, FILES.metadata), `${JSON.stringify(meta, null, 2)}\n`);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrnoException(err) && err.code === 'EPERM';
  }
}

/**
 * Takes the staging directory's lock for the duration of `body`. A lock left by a dead
 * process is taken over; one held by a live process is E_WORKSPACE_STATE.
 */
export async function withLock<T>(stagingDir: string, what: string, body: () => Promise<T>): Promise<T> {
  const path = join(stagingDir, FILES.lock);
  let fd: number | null = null;
  for (let attempt = 0; attempt < 2 && fd === null; attempt++) {
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if (!isErrnoException(err) || err.code !== 'EEXIST') throw err;
      let holder = NaN;
      try {
        holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
      } catch {
        // vanished: retry
      }
      if (Number.isInteger(holder) && holder > 0 && pidAlive(holder)) {
        throw new AirlockError(
          'E_WORKSPACE_STATE',
          `the staged workspace is busy: process ${holder} holds its lock (${what} waits)`,
          {
            hint: 'Wait for the other airlock command to finish, then run this one again.',
          },
        );
      }
      try {
        unlinkSync(path);
      } catch {
        // someone else took it over
      }
    }
  }
  if (fd === null) {
    throw new AirlockError('E_WORKSPACE_STATE', `could not take the lock of ${stagingDir}`, {
      hint: 'Run the command again.',
    });
  }
  writeSync(fd, String(process.pid));
  closeSync(fd);
  try {
    return await body();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // discard removed the directory
    }
  }
}
