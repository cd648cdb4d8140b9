/**
 * Pure path logic: validating names, containment, which paths are protected (they run
 * code later on the host), and whether a symlink's text stays inside the project.
 *
 * Protected matching is deliberately wider than any one file system: a segment is
 * compared after Unicode compatibility folding, lower-casing, dropping code points that
 * HFS+ ignores and trailing dots and spaces that NTFS ignores, so `.GIT/hooks`,
 * `.g\u200cit/config` and `.git./config` are all `.git`. More matches only means more
 * questions to a person; fewer would mean a hook lands unreviewed.
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { AirlockError } from '../errors/index.js';
import type { ProtectedMark } from './types.js';

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Returns `id` when it is a safe directory name for a staged workspace, else throws. */
export function validateSessionId(id: string): string {
  if (!SESSION_ID.test(id) || id.includes('..')) {
    throw new AirlockError(
      'E_CONFIG_INVALID',
      `workspace.sessionId: ${JSON.stringify(id)} is not a valid session id`,
      {
        hint: 'Use letters, digits, ".", "_" and "-" (1 to 128 characters, starting with a letter or digit, no "..").',
      },
    );
  }
  return id;
}

/** True when `child` is `parent` or lies below it (by path components, never by string prefix). */
export function isInsideOrSame(parent: string, child: string): boolean {
  const rel = relative(resolve(parent), resolve(child));
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Splits a relative path into segments, refusing anything that is not a plain name. */
export function segmentsOf(rel: string): string[] {
  const segs = rel.split('/');
  for (const s of segs) {
    if (s === '' || s === '.' || s === '..' || s.includes('\0')) {
      throw new AirlockError('E_INTERNAL', `workspace path ${JSON.stringify(rel)} has an invalid segment`, {
        hint: 'This is a bug in airlock; please report it.',
      });
    }
  }
  return segs;
}

/** The parent of a relative path (`''` for a top-level name). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

/** The last segment of a relative path. */
export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** Joins a relative directory and a name. */
export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Number of segments. */
export function depthOf(rel: string): number {
  return rel === '' ? 0 : rel.split('/').length;
}

// Code points that HFS+ ignores when comparing names (git's is_hfs_dotgit list), plus
// other invisible format characters.
const IGNORABLE = /[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u206A-\u206F\uFEFF]/gu;

/** Folds one name the way the widest file system in use would compare it. */
export function foldSegment(seg: string): string {
  let s = seg.normalize('NFKC').replace(IGNORABLE, '').toLowerCase();
  // NTFS drops trailing dots and spaces.
  s = s.replace(/[. ]+$/u, '');
  // NTFS 8.3 short name of ".git".
  if (s === 'git~1') s = '.git';
  return s;
}

const SHELL_RC = new Set([
  '.bashrc',
  '.bash_profile',
  '.bash_login',
  '.bash_logout',
  '.profile',
  '.zshrc',
  '.zshenv',
  '.zprofile',
  '.zlogin',
  '.zlogout',
  '.cshrc',
  '.tcshrc',
  '.kshrc',
  '.mkshrc',
  '.login',
  '.logout',
  '.inputrc',
]);

const TOOL_CONFIG = new Map<string, string>([
  ['.envrc', 'direnv runs .envrc when a shell enters the directory'],
  ['.npmrc', 'npm configuration can name a script shell, node options and registries'],
  ['.yarnrc', 'yarn configuration can replace the yarn binary'],
  ['.yarnrc.yml', 'yarn configuration (yarnPath, plugins) runs code on every yarn command'],
  ['.pnpmfile.cjs', 'pnpm runs .pnpmfile.cjs on install'],
  ['.pre-commit-config.yaml', 'pre-commit installs and runs these hooks'],
  ['.gitlab-ci.yml', 'GitLab CI runs this pipeline'],
]);

const DIR_RULES: { seg: string; mark: ProtectedMark }[] = [
  {
    seg: '.vscode',
    mark: {
      category: 'ide-config',
      reason: 'VS Code settings and tasks can run programs when the folder is opened',
    },
  },
  {
    seg: '.idea',
    mark: {
      category: 'ide-config',
      reason: 'JetBrains project files can define run configurations and tools',
    },
  },
  {
    seg: '.devcontainer',
    mark: { category: 'ide-config', reason: 'dev container definitions run commands and mount host paths' },
  },
  {
    seg: '.claude',
    mark: {
      category: 'agent-config',
      reason: 'Claude Code settings can define hooks and MCP servers that run commands',
    },
  },
  {
    seg: '.cursor',
    mark: {
      category: 'agent-config',
      reason: 'Cursor rules and MCP configuration steer and extend the next agent',
    },
  },
  {
    seg: '.codex',
    mark: {
      category: 'agent-config',
      reason: 'Codex configuration can define MCP servers and shell settings',
    },
  },
  {
    seg: '.gemini',
    mark: { category: 'agent-config', reason: 'Gemini CLI settings can define MCP servers and tools' },
  },
  {
    seg: '.windsurf',
    mark: { category: 'agent-config', reason: 'Windsurf configuration steers and extends the next agent' },
  },
  { seg: '.husky', mark: { category: 'git-hooks', reason: 'husky installs these files as git hooks' } },
  {
    seg: '.circleci',
    mark: { category: 'ci-config', reason: 'CircleCI runs these pipelines with the repository secrets' },
  },
];

/**
 * Whether a change at `rel` is protected by its path alone (package.json scripts and
 * symlink targets are judged elsewhere). Matches at any depth, case- and
 * Unicode-insensitively.
 */
export function protectedByPath(rel: string): ProtectedMark | null {
  const segs = rel.split('/').map(foldSegment);
  const gitAt = segs.indexOf('.git');
  if (gitAt >= 0) {
    const rest = segs.slice(gitAt + 1);
    // `.git/modules/<name>/` holds submodule repositories with hooks and config of their own.
    if (rest.includes('hooks'))
      return { category: 'git-hooks', reason: 'git runs hook scripts on commit, checkout, merge and push' };
    if (rest.length > 0 && rest[rest.length - 1] === 'config') {
      return {
        category: 'git-config',
        reason: 'git config can name programs git runs (core.fsmonitor, core.pager, diff drivers, aliases)',
      };
    }
    const info = rest.indexOf('info');
    // `.git/info/` and a submodule's `info/`, but not `objects/info/packs` (written by gc).
    if (info === 0 || (info > 0 && rest[info - 1] !== 'objects' && rest[0] === 'modules')) {
      return {
        category: 'git-config',
        reason: 'repository attributes and excludes can select diff and filter drivers',
      };
    }
    if (rest.length === 0)
      return {
        category: 'git-config',
        reason: 'the repository itself (a .git file can point git at another directory with its own hooks)',
      };
    return {
      category: 'git-internal',
      reason: 'repository internals (objects, refs, index) written by git inside the sandbox',
    };
  }
  const base = segs[segs.length - 1] ?? '';
  if (base === '.gitmodules')
    return {
      category: 'git-attributes',
      reason: 'submodule URLs and paths are fetched and checked out by git',
    };
  if (base === '.gitattributes')
    return {
      category: 'git-attributes',
      reason: 'attributes select diff, merge and filter drivers that git runs',
    };
  if (SHELL_RC.has(base)) return { category: 'shell-rc', reason: 'a shell runs this file when it starts' };
  if (base === '.mcp.json')
    return { category: 'agent-config', reason: 'MCP server definitions are commands an agent client starts' };
  const tool = TOOL_CONFIG.get(base);
  if (tool !== undefined)
    return { category: base === '.gitlab-ci.yml' ? 'ci-config' : 'tool-config', reason: tool };
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s === '.github' && (segs[i + 1] === 'workflows' || segs[i + 1] === 'actions')) {
      return {
        category: 'ci-config',
        reason: 'GitHub Actions runs workflows and actions with the repository secrets',
      };
    }
    if (s === '.config' && segs[i + 1] === 'fish')
      return { category: 'shell-rc', reason: 'fish runs its configuration when it starts' };
    // Only directories count here: the last segment is the entry itself, which is covered
    // as well when it is the directory (e.g. creating `.vscode`).
    const rule = DIR_RULES.find((r) => r.seg === s);
    if (rule !== undefined) return rule.mark;
  }
  return null;
}

/** True when the folded base name is `package.json`. */
export function isPackageJson(rel: string): boolean {
  return foldSegment(rel.slice(rel.lastIndexOf('/') + 1)) === 'package.json';
}

/** Result of checking a symlink's text. */
export type SymlinkCheck = { inside: true; resolved: string } | { inside: false; reason: string };

/**
 * Decides whether a symlink at `linkRel` with text `target` stays inside the project.
 * Lexical, and deliberately strict: absolute targets and `..` after a normal segment
 * (`a/../..`, whose meaning depends on what `a` resolves to) are refused, so that the
 * lexical answer is also the kernel's answer for every directory apply creates.
 */
export function checkSymlinkTarget(linkRel: string, target: string): SymlinkCheck {
  if (target === '') return { inside: false, reason: 'empty symlink target' };
  if (target.startsWith('/'))
    return { inside: false, reason: `absolute target ${JSON.stringify(target)} points outside the project` };
  const parts = target.split('/').filter((p) => p !== '' && p !== '.');
  let ups = 0;
  let seenName = false;
  const down: string[] = [];
  for (const p of parts) {
    if (p === '..') {
      if (seenName)
        return {
          inside: false,
          reason: `target ${JSON.stringify(target)} climbs with ".." after a name; write it normalized`,
        };
      ups++;
    } else {
      seenName = true;
      down.push(p);
    }
  }
  const dir = parentOf(linkRel);
  const dirSegs = dir === '' ? [] : dir.split('/');
  if (ups > dirSegs.length)
    return { inside: false, reason: `target ${JSON.stringify(target)} climbs above the project root` };
  const resolvedSegs = [...dirSegs.slice(0, dirSegs.length - ups), ...down];
  return { inside: true, resolved: resolvedSegs.join('/') };
}
