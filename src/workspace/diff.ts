/**
 * Rendering a scan as a git-style diff.
 *
 * The staging-time side and the agent's side of every changed path are streamed into a
 * private bare repository (fast-import, one process) as two commits, and git renders
 * `diff-tree` between them: real git output (renames, modes, symlinks, binary files)
 * without git ever reading the staged tree itself, and without in-tree `.gitattributes`
 * (a bare repository does not read them) or any config of ours that could run a program.
 *
 * What git cannot show (directory modes, special files, permission bits beyond the
 * executable bit, contents left out for size) is listed in `# airlock:` lines before the
 * first `diff --git`, where `git apply` ignores them.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FastImportWriter, git, runGit } from './git.js';
import { permOf, typeOfMode } from './manifest.js';
import { baseOf, parentOf } from './paths.js';
import { DirCache, openRegularAt, openRoot, readExactly } from './safe-fs.js';
import { publicChange, type ScanResult, type ScannedChange } from './scan.js';
import type { DiffFile, DiffTotals, WorkspaceDiff, WorkspaceStrategy } from './types.js';

/** Inputs of {@link renderDiff}. */
export interface RenderInput {
  sessionId: string;
  strategy: WorkspaceStrategy;
  projectDir: string;
  projectDev: number;
  stagedDir: string;
  tmpDir: string;
  scan: ScanResult;
  patch: boolean;
  maxFileBytes: number;
  /** Content bytes (both sides) the patch may hold in all. */
  maxPatchBytes: number;
}

type Source =
  | { kind: 'text'; data: Buffer }
  | { kind: 'project'; ino: number; size: number }
  | { kind: 'agent'; ino: number; size: number };

interface TreeEntry {
  path: string;
  mode: string;
  source: Source;
}

/** Git's tree mode for an entry. */
export function gitMode(mode: number): string | null {
  switch (typeOfMode(mode)) {
    case 'file':
      return (mode & 0o111) !== 0 ? '100755' : '100644';
    case 'symlink':
      return '120000';
    case 'directory':
    case 'fifo':
    case 'socket':
    case 'char-device':
    case 'block-device':
      return null;
  }
}

const GIT_INTERNAL_SHOWN = /^(hooks\/|config$|info\/)/;

/** Why the content of a change is left out of the patch, or null. */
function omission(c: ScannedChange, maxFileBytes: number): string | null {
  const gitAt = `/${c.path}`.toLowerCase().indexOf('/.git/');
  if (c.protected?.category === 'git-internal' && gitAt >= 0) {
    const inner = c.path.slice(gitAt + '.git/'.length);
    if (!GIT_INTERNAL_SHOWN.test(inner)) return 'repository internals (objects, refs, index) are not shown';
  }
  const big = Math.max(c.agent?.size ?? 0, c.project?.size ?? 0);
  const isFile =
    (c.agent !== null && typeOfMode(c.agent.mode) === 'file') ||
    (c.baseline !== null && typeOfMode(c.baseline.mode) === 'file');
  if (isFile && big > maxFileBytes) return `larger than ${maxFileBytes} bytes (${big} bytes); not shown`;
  return null;
}

function sides(c: ScannedChange): { before: TreeEntry | null; after: TreeEntry | null } {
  let before: TreeEntry | null = null;
  let after: TreeEntry | null = null;
  const b = c.baseline;
  if (b !== null) {
    const mode = gitMode(b.mode);
    if (mode !== null) {
      const p = c.project;
      const sameType = p !== null && typeOfMode(p.mode) === typeOfMode(b.mode);
      if (!sameType) {
        const why = p === null ? 'deleted' : `replaced by a ${typeOfMode(p.mode)}`;
        before = {
          path: c.path,
          mode,
          source: {
            kind: 'text',
            data: Buffer.from(
              `(airlock: the staging-time content is gone: the project entry was ${why} since)\n`,
            ),
          },
        };
      } else if (typeOfMode(b.mode) === 'symlink') {
        before = { path: c.path, mode, source: { kind: 'text', data: Buffer.from(c.projectLink ?? '') } };
      } else {
        before = {
          path: c.path,
          mode: gitMode(p.mode) ?? mode,
          source: { kind: 'project', ino: p.ino, size: p.size },
        };
      }
    }
  }
  const a = c.agent;
  if (a !== null) {
    const mode = gitMode(a.mode);
    if (mode !== null) {
      if (typeOfMode(a.mode) === 'symlink')
        after = { path: c.path, mode, source: { kind: 'text', data: Buffer.from(a.linkTarget ?? '') } };
      else if (c.rejected !== null) {
        after = {
          path: c.path,
          mode,
          source: { kind: 'text', data: Buffer.from(`(airlock: not read: ${c.rejected.reason})\n`) },
        };
      } else after = { path: c.path, mode, source: { kind: 'agent', ino: a.ino, size: a.size } };
    }
  }
  return { before, after };
}

function noteLines(input: RenderInput, omitted: Map<string, string>): string[] {
  const { scan } = input;
  const lines: string[] = [];
  const prot = scan.changes.filter((c) => c.protected !== null);
  const rej = scan.changes.filter((c) => c.rejected !== null);
  lines.push(
    `# airlock: session ${input.sessionId} (${input.strategy} staging): ${scan.changes.length} change(s), ` +
      `${prot.length} protected, ${rej.length} rejected, ${scan.conflicts.length} conflict(s); fingerprint ${scan.fingerprint}`,
  );
  for (const c of prot) {
    lines.push(
      `# airlock: PROTECTED ${c.path} [${c.protected?.category ?? ''}] ${c.protected?.reason ?? ''}; apply needs --allow-protected`,
    );
  }
  for (const c of rej)
    lines.push(`# airlock: REJECTED ${c.path}: ${c.rejected?.reason ?? ''}; never applied`);
  const byPath = new Map(scan.changes.map((c) => [c.path, c]));
  for (const k of scan.conflicts) {
    const c = byPath.get(k.path);
    const against =
      c !== undefined && c.project !== null && !c.projectIsBaseline && c.baseline !== null
        ? " (shown against the project's current content: staging keeps no copy)"
        : '';
    lines.push(`# airlock: CONFLICT ${k.path}: ${k.detail}${against}`);
  }
  for (const [p, why] of omitted) lines.push(`# airlock: NOT SHOWN ${p}: ${why}`);
  for (const c of scan.changes) {
    const a = c.agent;
    const b = c.baseline;
    if (a !== null && typeOfMode(a.mode) === 'directory') {
      if (b !== null && typeOfMode(b.mode) === 'directory') {
        lines.push(
          `# airlock: MODE ${c.path}/ ${permOf(b.mode).toString(8)} -> ${permOf(a.mode).toString(8)} (directory)`,
        );
      } else if (!scan.changes.some((o) => o.path.startsWith(`${c.path}/`)))
        lines.push(`# airlock: NEW EMPTY DIRECTORY ${c.path}/`);
    } else if (
      a !== null &&
      b !== null &&
      typeOfMode(a.mode) === 'file' &&
      typeOfMode(b.mode) === 'file' &&
      permOf(a.mode) !== permOf(b.mode)
    ) {
      if (gitMode(a.mode) === gitMode(b.mode) || (permOf(a.mode) & 0o7000) !== 0) {
        lines.push(
          `# airlock: MODE ${c.path} ${permOf(b.mode).toString(8)} -> ${permOf(a.mode).toString(8)}`,
        );
      }
    }
    if (a === null && b !== null && typeOfMode(b.mode) === 'directory')
      lines.push(`# airlock: DELETED DIRECTORY ${c.path}/`);
  }
  return lines;
}

const STATUS: Record<string, DiffFile['status']> = {
  A: 'added',
  D: 'deleted',
  M: 'modified',
  R: 'renamed',
  T: 'type-changed',
  C: 'added',
};

function parseRaw(
  raw: Buffer,
): {
  status: DiffFile['status'];
  oldMode: string | null;
  newMode: string | null;
  oldPath: string | null;
  path: string;
}[] {
  const parts = raw.toString('utf8').split('\0');
  const out: {
    status: DiffFile['status'];
    oldMode: string | null;
    newMode: string | null;
    oldPath: string | null;
    path: string;
  }[] = [];
  for (let i = 0; i < parts.length;) {
    const head = parts[i++] ?? '';
    if (!head.startsWith(':')) continue;
    const [oldMode = '', newMode = '', , , st = ''] = head.slice(1).split(' ');
    const letter = st.charAt(0);
    const first = parts[i++] ?? '';
    let path = first;
    let oldPath: string | null = null;
    if (letter === 'R' || letter === 'C') {
      oldPath = first;
      path = parts[i++] ?? '';
    }
    out.push({
      status: STATUS[letter] ?? 'modified',
      oldMode: oldMode === '000000' ? null : oldMode,
      newMode: newMode === '000000' ? null : newMode,
      oldPath: letter === 'R' ? oldPath : null,
      path,
    });
  }
  return out;
}

function parseNumstat(raw: Buffer): Map<string, { add: number | null; del: number | null }> {
  const parts = raw.toString('utf8').split('\0');
  const out = new Map<string, { add: number | null; del: number | null }>();
  for (let i = 0; i < parts.length;) {
    const head = parts[i++] ?? '';
    if (head === '') continue;
    const [a = '-', d = '-', p = ''] = head.split('\t');
    let path = p;
    if (p === '') {
      i++; // old path of a rename
      path = parts[i++] ?? '';
    }
    out.set(path, { add: a === '-' ? null : Number(a), del: d === '-' ? null : Number(d) });
  }
  return out;
}

/** Renders a scan as a {@link WorkspaceDiff}. */
export async function renderDiff(input: RenderInput): Promise<WorkspaceDiff> {
  const { scan } = input;
  const omitted = new Map<string, string>();
  const before: TreeEntry[] = [];
  const after: TreeEntry[] = [];
  let budget = input.maxPatchBytes;
  for (const c of scan.changes) {
    let why = omission(c, input.maxFileBytes);
    const bytes = (c.agent?.size ?? 0) + (c.project?.size ?? 0);
    if (why === null && input.patch && bytes > budget)
      why = `the patch reached its size limit (${input.maxPatchBytes} bytes of content); not shown`;
    if (why !== null) {
      omitted.set(c.path, why);
      continue;
    }
    budget -= bytes;
    const s = sides(c);
    if (s.before !== null) before.push(s.before);
    if (s.after !== null) after.push(s.after);
  }

  mkdirSync(input.tmpDir, { recursive: true, mode: 0o700 });
  const repo = join(input.tmpDir, `diff-${randomBytes(6).toString('hex')}`);
  const project = new DirCache(openRoot(input.projectDir), input.projectDev);
  const staged = new DirCache(openRoot(input.stagedDir));
  try {
    await git(['init', '-q', '--bare', '--template=', repo]);
    const gd = `--git-dir=${repo}`;
    const who = { name: 'airlock', email: 'airlock@localhost' };
    const writeSide = async (fi: FastImportWriter, e: TreeEntry): Promise<void> => {
      const src = e.source;
      if (src.kind === 'text') {
        await fi.modify(e.mode, e.path, src.data.length, src.data);
        return;
      }
      const dirs = src.kind === 'project' ? project : staged;
      const { fh } = await openRegularAt(dirs.dir(parentOf(e.path)), baseOf(e.path), e.path, src.ino);
      try {
        await fi.modify(e.mode, e.path, src.size, readExactly(fh, src.size, e.path));
      } finally {
        await fh.close();
      }
    };
    await git([gd, 'fast-import', '--quiet', '--done'], {
      input: async (stdin) => {
        const fi = new FastImportWriter(stdin);
        await fi.commit('refs/airlock/before', who, who, 'staging time\n', null, 0);
        for (const e of before) await writeSide(fi, e);
        await fi.commit('refs/airlock/after', who, who, 'agent\n', null, 0);
        for (const e of after) await writeSide(fi, e);
        await fi.done();
      },
    });
    const range = ['refs/airlock/before', 'refs/airlock/after'];
    const common = ['diff-tree', '-r', '-M', '--no-ext-diff', '--no-textconv', '--no-color'];
    const [raw, num, stat, patch] = await Promise.all([
      git([gd, ...common, '--raw', '-z', ...range]),
      git([gd, ...common, '--numstat', '-z', ...range]),
      git([gd, ...common, '--stat=100,70', ...range]),
      input.patch ? git([gd, ...common, '-p', ...range]) : Promise.resolve(Buffer.alloc(0)),
    ]);
    const byPath = new Map(scan.changes.map((c) => [c.path, c]));
    const counts = parseNumstat(num);
    const files: DiffFile[] = parseRaw(raw).map((r) => {
      const c = byPath.get(r.path);
      const o = r.oldPath === null ? undefined : byPath.get(r.oldPath);
      const n = counts.get(r.path);
      return {
        path: r.path,
        oldPath: r.oldPath,
        status: r.status,
        oldMode: r.oldMode,
        newMode: r.newMode,
        binary: n !== undefined && n.add === null,
        additions: n?.add ?? null,
        deletions: n?.del ?? null,
        contentOmitted: null,
        protected: c?.protected ?? o?.protected ?? null,
        rejected: c?.rejected ?? null,
      };
    });
    for (const [p, why] of omitted) {
      const c = byPath.get(p);
      if (c === undefined) continue;
      const pub = publicChange(c);
      files.push({
        path: p,
        oldPath: null,
        status: pub.status,
        oldMode: c.baseline === null ? null : gitMode(c.baseline.mode),
        newMode: c.agent === null ? null : gitMode(c.agent.mode),
        binary: true,
        additions: null,
        deletions: null,
        contentOmitted: why,
        protected: c.protected,
        rejected: c.rejected,
      });
    }
    files.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const notes = noteLines(input, omitted);
    const totals: DiffTotals = {
      files: files.length,
      additions: files.reduce((s, f) => s + (f.additions ?? 0), 0),
      deletions: files.reduce((s, f) => s + (f.deletions ?? 0), 0),
      protected: scan.changes.filter((c) => c.protected !== null).length,
      rejected: scan.changes.filter((c) => c.rejected !== null).length,
      conflicts: scan.conflicts.length,
    };
    const head = `${notes.join('\n')}\n`;
    return {
      sessionId: input.sessionId,
      projectDir: input.projectDir,
      strategy: input.strategy,
      files,
      changes: scan.changes.map(publicChange),
      conflicts: scan.conflicts,
      totals,
      fingerprint: scan.fingerprint,
      patch: input.patch ? head + patch.toString('utf8') : '',
      stat: head + stat.toString('utf8'),
    };
  } finally {
    project.close();
    staged.close();
    rmSync(repo, { recursive: true, force: true });
  }
}

/** Runs `git --version`; null when git is not installed. */
export async function gitVersion(): Promise<string | null> {
  try {
    const r = await runGit(['--version']);
    return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
  } catch {
    return null;
  }
}
