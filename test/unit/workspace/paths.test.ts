/**
 * Pure path logic: protected paths (with case and Unicode tricks), symlink containment,
 * path containment without string-prefix mistakes, session ids.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkSymlinkTarget,
  foldSegment,
  isInsideOrSame,
  isPackageJson,
  protectedByPath,
  validateSessionId,
} from '../../../src/workspace/paths.js';

describe('protectedByPath', () => {
  const cases: [string, string | null][] = [
    ['.git/hooks/pre-commit', 'git-hooks'],
    ['.git/hooks', 'git-hooks'],
    ['.git/config', 'git-config'],
    ['.git', 'git-config'],
    ['.git/info/attributes', 'git-config'],
    ['.git/modules/sub/hooks/post-checkout', 'git-hooks'],
    ['.git/modules/sub/config', 'git-config'],
    ['.git/modules/sub/info/attributes', 'git-config'],
    ['.git/index', 'git-internal'],
    ['.git/objects/ab/cdef', 'git-internal'],
    ['.git/objects/info/packs', 'git-internal'],
    ['.git/refs/heads/info', 'git-internal'],
    ['vendor/lib/.git/hooks/x', 'git-hooks'],
    ['.gitmodules', 'git-attributes'],
    ['docs/.gitattributes', 'git-attributes'],
    ['.bashrc', 'shell-rc'],
    ['home/.zshenv', 'shell-rc'],
    ['.profile', 'shell-rc'],
    ['.config/fish/config.fish', 'shell-rc'],
    ['.vscode/settings.json', 'ide-config'],
    ['.vscode', 'ide-config'],
    ['.idea/runConfigurations/x.xml', 'ide-config'],
    ['.devcontainer/devcontainer.json', 'ide-config'],
    ['.claude/settings.local.json', 'agent-config'],
    ['.cursor/rules/x.mdc', 'agent-config'],
    ['.mcp.json', 'agent-config'],
    ['packages/app/.mcp.json', 'agent-config'],
    ['.github/workflows/ci.yml', 'ci-config'],
    ['.github/actions/setup/action.yml', 'ci-config'],
    ['.gitlab-ci.yml', 'ci-config'],
    ['.husky/pre-commit', 'git-hooks'],
    ['.envrc', 'tool-config'],
    ['.npmrc', 'tool-config'],
    ['.yarnrc.yml', 'tool-config'],
    // Case, Unicode and Windows-name tricks.
    ['.GIT/hooks/pre-commit', 'git-hooks'],
    ['.Git/CONFIG', 'git-config'],
    ['.g\u200cit/hooks/x', 'git-hooks'],
    ['.git\ufeff/config', 'git-config'],
    ['.git./config', 'git-config'],
    ['.git /config', 'git-config'],
    ['GIT~1/config', 'git-config'],
    ['.\uff47\uff49\uff54/config', 'git-config'],
    ['.VSCODE/tasks.json', 'ide-config'],
    ['.GitHub/WorkFlows/x.yml', 'ci-config'],
    ['.BashRC', 'shell-rc'],
    // Not protected.
    ['src/index.ts', null],
    ['README.md', null],
    ['.github/CODEOWNERS', null],
    ['.gitignore', null],
    ['git/hooks/x', null],
    ['mygit/config', null],
    ['package.json', null],
    ['.vscodeignore', null],
  ];
  it.each(cases)('%s → %s', (path, category) => {
    expect(protectedByPath(path)?.category ?? null).toBe(category);
  });

  it('gives a reason a person can judge', () => {
    expect(protectedByPath('.git/hooks/x')?.reason).toMatch(/hook/);
    expect(protectedByPath('.mcp.json')?.reason).toMatch(/MCP/);
  });

  it('is blind to letter case in every segment (property)', () => {
    const protectedPaths = cases.filter(([, c]) => c !== null).map(([p]) => p);
    fc.assert(
      fc.property(
        fc.constantFrom(...protectedPaths),
        fc.array(fc.boolean(), { minLength: 64, maxLength: 64 }),
        (p, flips) => {
          const variant = Array.from(p, (ch, i) =>
            flips[i % 64] === true ? ch.toUpperCase() : ch.toLowerCase(),
          ).join('');
          expect(protectedByPath(variant)).not.toBeNull();
        },
      ),
    );
  });

  it('folds idempotently (property)', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(foldSegment(foldSegment(s))).toBe(foldSegment(s));
      }),
    );
  });

  it('recognizes package.json by folded name', () => {
    expect(isPackageJson('package.json')).toBe(true);
    expect(isPackageJson('packages/x/PACKAGE.JSON')).toBe(true);
    expect(isPackageJson('package.json5')).toBe(false);
  });
});

describe('checkSymlinkTarget', () => {
  it.each([
    ['link', 'target.txt', true, 'target.txt'],
    ['a/link', '../b.txt', true, 'b.txt'],
    ['a/b/link', '../../c', true, 'c'],
    ['a/link', './x/./y', true, 'a/x/y'],
    ['link', '.', true, ''],
    ['link', '..', false, ''],
    ['a/link', '../..', false, ''],
    ['link', '/etc/passwd', false, ''],
    ['link', '/proc/self/root/etc/shadow', false, ''],
    ['a/link', 'x/../../..', false, ''],
    ['a/link', 'x/..', false, ''],
    ['link', '', false, ''],
  ])('%s -> %s: inside=%s', (link, target, inside, resolved) => {
    const r = checkSymlinkTarget(link, target);
    expect(r.inside).toBe(inside);
    if (r.inside) expect(r.resolved).toBe(resolved);
    else expect(r.reason).not.toBe('');
  });

  // What the kernel does when every directory on the way is a real directory.
  function kernelResolve(linkRel: string, target: string): string[] | null {
    if (target.startsWith('/')) return null;
    const stack = linkRel.split('/').slice(0, -1);
    for (const p of target.split('/')) {
      if (p === '' || p === '.') continue;
      if (p === '..') {
        if (stack.length === 0) return null;
        stack.pop();
      } else stack.push(p);
    }
    return stack;
  }

  it('never says inside for a target the kernel resolves above the root (property)', () => {
    const seg = fc.constantFrom('a', 'b', 'cc');
    const tseg = fc.constantFrom('..', '.', '', 'a', 'b');
    fc.assert(
      fc.property(
        fc.array(seg, { minLength: 1, maxLength: 5 }),
        fc.array(tseg, { minLength: 1, maxLength: 8 }),
        fc.boolean(),
        (link, parts, abs) => {
          const linkRel = link.join('/');
          const target = `${abs ? '/' : ''}${parts.join('/')}`;
          const r = checkSymlinkTarget(linkRel, target);
          const k = kernelResolve(linkRel, target);
          if (r.inside) {
            expect(k).not.toBeNull();
            expect(k?.join('/')).toBe(r.resolved);
          }
        },
      ),
    );
  });
});

describe('containment and ids', () => {
  it('compares by path components, not string prefixes', () => {
    expect(isInsideOrSame('/work/allowed', '/work/allowed')).toBe(true);
    expect(isInsideOrSame('/work/allowed', '/work/allowed/x/y')).toBe(true);
    expect(isInsideOrSame('/work/allowed', '/work/allowed_evil')).toBe(false);
    expect(isInsideOrSame('/work/allowed', '/work/allowed/../other')).toBe(false);
    expect(isInsideOrSame('/work/allowed', '/work')).toBe(false);
    expect(isInsideOrSame('/work/allowed', '/work/allowed/..x')).toBe(true);
  });

  it('accepts safe session ids only', () => {
    expect(validateSessionId('s-1.abc_D')).toBe('s-1.abc_D');
    for (const bad of ['', '.', '..', '../x', 'a/b', '-x', '.hidden', 'a..b', 'x'.repeat(129), 'a\0b', 'é']) {
      expect(() => validateSessionId(bad)).toThrow(/not a valid session id/);
    }
  });
});
