/**
 * Grants (`grants:` in airlock.yaml): written by a person's confirmed `rule` approval, they
 * turn an ask for exactly what they name into allow, and nothing else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors/index.js';
import { createDecideContext, decide, loadPolicy, networkNeedsInspection } from '../../../src/policy/index.js';
import type { Action, Policy } from '../../../src/policy/index.js';

const ctx = createDecideContext();

const POLICY = `version: 1
unresolvable: deny
tools:
  git: { subcommands: true, globalFlags: [-C, -c], valueFlags: [-C, -c], flagPaths: { -C: cwd } }
  cat: { pathArgs: read }
  rg: { pathArgs: read, pathArgsSkip: 1 }
exec:
  default: ask
  rules:
    - { id: git-read, command: git, subcommand: [status, log], level: ask }
    - { id: git-push, command: git, subcommand: push, level: ask, forbidFlags: [--force, -f] }
    - { id: rg, command: rg, level: ask, forbidFlags: [--pre], forbidLevel: ask }
    - { id: shred, command: shred, level: deny }
files:
  read: [/workspace]
  write: [/workspace]
  deny: [/workspace/secret.txt]
  otherwise: { read: ask, write: ask }
network:
  default: ask
  rules:
    - { id: api-ask, host: api.example.com, level: ask }
    - { id: metadata, cidr: 169.254.169.254/32, level: deny }
grants:
  - id: approval-g1
    approval: g1
    by: token:alice
    at: '2026-12-05T13:00:00.000Z'
    exec: { command: git, subcommand: status, allowFlags: [], maxArgs: 1, cwd: /workspace }
  - id: approval-g2
    approval: g2
    exec: { command: cat, allowFlags: [-n], maxArgs: 2, cwd: /workspace }
  - id: approval-g3
    approval: g3
    exec: { command: git, subcommand: push, allowFlags: [], maxArgs: 1, cwd: /workspace }
  - id: approval-g4
    approval: g4
    exec: { command: shred, allowFlags: [], maxArgs: 0 }
  - id: approval-g5
    approval: g5
    exec: { command: rg, allowFlags: [--pre], maxArgs: 3, cwd: /workspace }
  - id: approval-n1
    approval: n1
    network: { host: api.example.com, port: 443, method: GET, path: /v1/items, scheme: https }
  - id: approval-n2
    approval: n2
    network: { host: 169.254.169.254, port: 80, method: GET, path: /latest, scheme: http }
  - id: approval-n3
    approval: n3
    network: { host: api.example.com, port: 443, method: CONNECT, scheme: https }
  - id: approval-f1
    approval: f1
    file: { path: /etc/hosts, access: read }
  - id: approval-f2
    approval: f2
    file: { path: /workspace/.git/hooks/pre-commit, access: write }
  - id: approval-f3
    approval: f3
    file: { path: /workspace/secret.txt, access: read }
`;
const policy: Policy = loadPolicy({ text: POLICY, path: '/p/airlock.yaml' });
const exec = (command: string, cwd = '/workspace'): Action => ({ kind: 'exec', command, cwd });
const v = (a: Action): string => decide(a, policy, ctx).verdict;
const net = (a: Partial<Extract<Action, { kind: 'network' }>>): Action => ({
  kind: 'network',
  host: 'api.example.com',
  port: 443,
  method: 'GET',
  path: '/v1/items',
  scheme: 'https',
  ...a,
});

describe('exec grants [grants.exact]', () => {
  it('lift the ask of a rule in the same file, and name the grant, its approval and line', () => {
    const d = decide(exec('git status'), policy, ctx);
    expect(d).toMatchObject({ verdict: 'allow', ruleId: 'approval-g1', source: { file: '/p/airlock.yaml', line: 25 } });
    expect(d.reason).toBe(
      'grant approval-g1 (approval g1 by token:alice at 2026-12-05T13:00:00.000Z) allows exactly this; without it: rule git-read sets git status to ask',
    );
    expect(v({ kind: 'exec', argv: ['git', 'status'], cwd: '/workspace' })).toBe('allow');
  });

  it('ask again for anything more: a flag, an argument, another directory, another subcommand, run-time values', () => {
    for (const c of [
      'git status --short',
      'git status src',
      'git -C /etc status',
      'git -c core.pager=sh status',
      'git log',
      'git status "$X"',
      'git $S',
      'git status *',
      'cd src && git status',
    ]) {
      expect(v(exec(c)), c).not.toBe('allow');
    }
    expect(v(exec('git status', '/tmp'))).toBe('ask');
    expect(v(exec('git status', '/workspace/src'))).toBe('ask');
  });

  it('let a read-only tool vary its arguments within the flags and count shown; the files it reads are still checked', () => {
    expect(v(exec('cat -n README.md'))).toBe('allow');
    expect(v(exec('cat a b'))).toBe('allow');
    expect(v(exec('cat a b c'))).toBe('ask');
    expect(v(exec('cat -v a'))).toBe('ask');
    expect(v(exec('cat -nv a'))).toBe('ask');
    expect(v(exec('cat /home/agent/x'))).toBe('ask');
    expect(v(exec('cat secret.txt'))).toBe('deny');
  });
});

describe('grants never lower a deny [grants.never-lower-deny]', () => {
  it('a deny rule, a forbidden flag at deny, unresolvable: deny stay denied', () => {
    expect(v(exec('shred'))).toBe('deny');
    expect(v(exec('git push'))).toBe('allow');
    expect(v(exec('git push --force'))).toBe('deny');
    expect(v(exec('git push -f'))).toBe('deny');
    expect(v(exec('git status; eval "$X"'))).toBe('deny');
  });

  it('a forbidden flag at ask is asked every time, even with a grant listing it', () => {
    const d = decide(exec('rg --pre ./x TODO'), policy, ctx);
    expect(d.verdict).toBe('ask');
    expect(d.ruleId).toBe('rg');
    expect(d.reason).toContain('forbids --pre');
  });

  it('a denied network rule and a denied or protected path stay as they were', () => {
    expect(v({ kind: 'network', host: '169.254.169.254', port: 80, method: 'GET', path: '/latest', scheme: 'http' })).toBe('deny');
    expect(v({ kind: 'file.read', path: '/workspace/secret.txt' })).toBe('deny');
    expect(v({ kind: 'file.write', path: '/workspace/.git/hooks/pre-commit' })).toBe('ask');
    expect(v(exec('echo x > .git/hooks/pre-commit'))).toBe('ask');
  });

  it('a policy whose only change is grants never turns any deny into something else (property)', () => {
    const without = loadPolicy({ text: POLICY.slice(0, POLICY.indexOf('grants:')), path: '/p/airlock.yaml' });
    const words = fc.constantFrom('git', 'status', 'push', 'cat', 'shred', 'rg', '--pre', '-f', '--force', '-n', 'a', '&&', ';', '|', '$X', '*', 'secret.txt', '/etc/hosts', 'cd', '..');
    fc.assert(
      fc.property(fc.array(words, { minLength: 1, maxLength: 6 }), (ws) => {
        const a = exec(ws.join(' '));
        const before = decide(a, without, ctx);
        const after = decide(a, policy, ctx);
        if (before.verdict === 'deny') expect(after.verdict).toBe('deny');
        if (after.verdict !== before.verdict) {
          expect(before.verdict).toBe('ask');
          expect(after.verdict).toBe('allow');
          // every part that changed went from ask to allow, by a grant
          after.parts.forEach((p, i) => {
            const q = before.parts[i];
            if (q !== undefined && q.verdict !== p.verdict) {
              expect([q.verdict, p.verdict]).toEqual(['ask', 'allow']);
              expect(p.ruleId).toMatch(/^approval-/);
            }
          });
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('compound commands [grants.per-part]', () => {
  it('a grant for git status does not let rm through', () => {
    const d = decide(exec('git status && rm -rf build'), policy, ctx);
    expect(d.verdict).toBe('ask');
    expect(d.ruleId).toBe('exec.default');
    expect(d.parts.map((p) => [p.subject, p.verdict, p.ruleId])).toEqual([
      ['git status', 'allow', 'approval-g1'],
      ['rm -rf build', 'ask', 'exec.default'],
    ]);
    expect(v(exec('git status | sh'))).not.toBe('allow');
    expect(v(exec('git status | cat -n'))).toBe('allow');
    expect(v(exec('git status | cat -v'))).toBe('ask');
    expect(v(exec('git status && git status'))).toBe('allow');
  });
});

describe('network grants [grants.exact]', () => {
  it('lift the ask of an exact-host rule for exactly that request', () => {
    expect(decide(net({}), policy, ctx)).toMatchObject({ verdict: 'allow', ruleId: 'approval-n1' });
    expect(v(net({ host: 'API.Example.com.' }))).toBe('allow');
    expect(v({ kind: 'network', host: 'api.example.com', port: 443, method: 'CONNECT', scheme: 'https' })).toBe('allow');
  });

  it('ask again for another method, path, query, port, scheme or host', () => {
    for (const a of [
      net({ method: 'POST' }),
      net({ path: '/v1/items/1' }),
      net({ path: '/v1/items?x=1' }),
      net({ path: '/v1/./items' }),
      net({ path: '/v1/Items' }),
      net({ port: 8443 }),
      net({ scheme: 'http' }),
      net({ host: 'evil.example.com' }),
      net({ host: 'api.example.com.evil.net' }),
      { kind: 'network', host: 'api.example.com', port: 443, scheme: 'https' } as const,
    ]) {
      expect(v(a), JSON.stringify(a)).toBe('ask');
    }
  });

  it('do not change when the proxy inspects a tunnel', () => {
    expect(networkNeedsInspection(policy, 'api.example.com', 443)).toBe(false);
  });
});

describe('file grants [grants.exact]', () => {
  it('lift an ask for exactly that path and access', () => {
    expect(decide({ kind: 'file.read', path: '/etc/hosts' }, policy, ctx)).toMatchObject({ verdict: 'allow', ruleId: 'approval-f1' });
    expect(v(exec('cat < /etc/hosts'))).toBe('allow');
    // a tool's path arguments may reach a whole tree: an exact-path grant does not cover them
    expect(v(exec('cat /etc/hosts'))).toBe('ask');
    expect(v({ kind: 'file.write', path: '/etc/hosts' })).toBe('ask');
    expect(v({ kind: 'file.read', path: '/etc/hosts/x' })).toBe('ask');
    expect(v({ kind: 'file.read', path: '/etc/host' })).toBe('ask');
    expect(v(exec('cat /etc/host*'))).toBe('ask');
  });
});

describe('the grants schema [schema.conflicts]', () => {
  const load = (grants: string): unknown => {
    try {
      return loadPolicy({ text: `version: 1\ngrants:\n${grants}`, path: 'airlock.yaml' });
    } catch (e) {
      if (e instanceof AirlockError) return e.message;
      throw e;
    }
  };
  it('refuses a grant with no kind or two, a wildcard host, a path with a query, a repeated id', () => {
    expect(load('  - { id: a, approval: a }\n')).toMatch(/airlock\.yaml:3:5: grants\[0\]: a grant names exactly one of exec, network or file \(got none\)/);
    expect(load('  - { id: a, approval: a, file: { path: /x, access: read }, network: { host: a.com, port: 1 } }\n')).toMatch(/got network and file/);
    expect(load('  - { id: a, approval: a, network: { host: "*.a.com", port: 443 } }\n')).toMatch(/never a wildcard/);
    expect(load('  - { id: a, approval: a, network: { host: a.com, port: 443, path: "/x?y" } }\n')).toMatch(/an exact URL path/);
    expect(load('  - { id: a, approval: a, exec: { command: ls, allowFlags: [-la], maxArgs: 1 } }\n')).toMatch(/"-la" is not one flag/);
    expect(load('  - { id: a, approval: a, file: { path: /x/../y, access: read } }\n')).toMatch(/plain absolute path/);
    expect(load('  - { id: a, approval: a, file: { path: /x, access: read } }\n  - { id: a, approval: b, file: { path: /y, access: read } }\n')).toMatch(/grants\[1\]: the id "a" is already used by grants\[0\]/);
  });
});

describe('a deny that is only a default [grants.never-lower-deny]', () => {
  const strict = loadPolicy({
    text: `version: 1
exec:
  default: deny
  rules:
    - { id: sudo-deny, command: sudo, level: deny }
files:
  otherwise: { read: deny, write: deny }
  deny: [/etc/shadow]
network:
  default: deny
  rules:
    - { id: evil-deny, host: evil.example.com, level: deny }
grants:
  - { id: g-arch, approval: a, exec: { command: arch, allowFlags: [], maxArgs: 0 } }
  - { id: g-sudo, approval: b, exec: { command: sudo, allowFlags: [], maxArgs: 0 } }
  - { id: g-file, approval: c, file: { path: /etc/hosts, access: read } }
  - { id: g-shadow, approval: d, file: { path: /etc/shadow, access: read } }
  - { id: g-net, approval: e, network: { host: api.example.com, port: 443, method: CONNECT, scheme: https } }
  - { id: g-evil, approval: f, network: { host: evil.example.com, port: 443, method: CONNECT, scheme: https } }
`,
    path: '/p/strict.yaml',
  });
  const s = (a: Action): string => decide(a, strict, ctx).verdict;
  it('is lifted for exactly what the grant names (exec.default, files.otherwise, network.default), as an allow rule would', () => {
    expect(decide({ kind: 'exec', argv: ['arch'] }, strict, ctx)).toMatchObject({ verdict: 'allow', ruleId: 'g-arch' });
    expect(s({ kind: 'exec', argv: ['arch', '-x'] })).toBe('deny');
    expect(s({ kind: 'file.read', path: '/etc/hosts' })).toBe('allow');
    expect(s({ kind: 'file.read', path: '/etc/passwd' })).toBe('deny');
    expect(s({ kind: 'network', host: 'api.example.com', port: 443, method: 'CONNECT', scheme: 'https' })).toBe('allow');
    expect(s({ kind: 'network', host: 'api.example.com', port: 80, method: 'CONNECT', scheme: 'http' })).toBe('deny');
  });
  it('a deny a rule or a list states is never lifted', () => {
    expect(s({ kind: 'exec', argv: ['sudo'] })).toBe('deny');
    expect(s({ kind: 'file.read', path: '/etc/shadow' })).toBe('deny');
    expect(s({ kind: 'network', host: 'evil.example.com', port: 443, method: 'CONNECT', scheme: 'https' })).toBe('deny');
  });
});
