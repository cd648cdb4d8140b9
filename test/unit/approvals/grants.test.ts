import fc from 'fast-check';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { canonicalAction, isDestructiveArgv, parseDisplayedArgv, proposeRule, rulePrefix } from '../../../src/approvals/index.js';
import type { AskPart, RuleProposal } from '../../../src/approvals/index.js';
import { policyQuote } from './helpers.js';

/** Parts as the queue stores them, from argvs (each asking unless said otherwise). */
function parts(...cmds: (readonly string[] | { argv: readonly string[]; verdict: AskPart['verdict'] })[]): AskPart[] {
  return cmds.map((c) => {
    const argv = 'argv' in c ? c.argv : c;
    const verdict = 'argv' in c ? c.verdict : 'ask';
    return { kind: 'exec', verdict, ruleId: 'exec.default', reason: 'r', subject: argv.map(policyQuote).join(' '), argv: [...argv], destructive: isDestructiveArgv(argv) };
  });
}

function propose(argv: readonly string[] | string, ps: AskPart[], extra: { cwd?: string; env?: Record<string, string> } = {}): RuleProposal {
  const action = canonicalAction(
    typeof argv === 'string'
      ? { kind: 'exec', command: argv, cwd: extra.cwd ?? '/workspace', ...(extra.env ? { env: extra.env } : {}) }
      : { kind: 'exec', argv, cwd: extra.cwd ?? '/workspace', ...(extra.env ? { env: extra.env } : {}) },
  );
  return proposeRule({ id: 'ap_test', action, parts: ps, resolved: null, policyFile: '/workspace/airlock.yaml' });
}

interface ExecGrant {
  command: string;
  subcommand?: string;
  maxArgs: number;
  allowFlags: string[];
  cwd?: string;
}

interface Grant {
  id: string;
  approval: string;
  exec?: ExecGrant;
}

function grants(p: RuleProposal): Grant[] {
  if (!p.ok) return [];
  return (parse(p.text) as { grants: Grant[] }).grants;
}

function execRules(p: RuleProposal): ExecGrant[] {
  return grants(p).flatMap((g) => (g.exec === undefined ? [] : [g.exec]));
}

describe('parts as argv', () => {
  it('reads back exactly what the policy shell-quoted (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 6 }), (argv) => {
        expect(parseDisplayedArgv(argv.map(policyQuote).join(' '))).toEqual(argv);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses anything that is not a concrete command', () => {
    expect(parseDisplayedArgv('ls *.ts')).toBeNull();
    expect(parseDisplayedArgv('rm -rf …')).toBeNull();
    expect(parseDisplayedArgv("echo 'unterminated")).toBeNull();
    expect(parseDisplayedArgv('a  b')).toBeNull();
    expect(parseDisplayedArgv('')).toBeNull();
    expect(parseDisplayedArgv('echo $HOME')).toBeNull();
  });
});

describe('rule proposals', () => {
  it('approving `git status && rm -rf build` never yields a rule for rm', () => {
    const both = propose('git status && rm -rf build', parts(['git', 'status'], ['rm', '-rf', 'build']));
    expect(both).toEqual({ ok: false, reason: `rm -rf build is destructive, and a grant for "rm" would be a wildcard over its arguments ("-rf" "build"); approve once or for this session` });
    // only rm asked: the same
    const rmOnly = propose('git status && rm -rf build', parts({ argv: ['git', 'status'], verdict: 'allow' }, ['rm', '-rf', 'build']));
    expect(rmOnly.ok).toBe(false);
    // only git asked: the rule names git status exactly, nothing about rm
    const gitOnly = propose('git status && rm -rf build', parts(['git', 'status'], { argv: ['rm', '-rf', 'build'], verdict: 'allow' }));
    expect(grants(gitOnly)).toEqual([{ id: 'approval-ap_test', approval: 'ap_test', exec: { command: 'git', subcommand: 'status', allowFlags: [], maxArgs: 1, cwd: '/workspace' } }]);
  });

  it('gives an exact rule for a command with nothing after its subcommand', () => {
    const p = propose(['npm', 'run', 'build'], parts(['npm', 'run', 'build']));
    expect(p.ok && p.text).toBe(
      'grants:\n  - id: approval-ap_test\n    approval: ap_test\n    exec:\n      command: npm\n      subcommand: run build\n      allowFlags: []\n      maxArgs: 2\n      cwd: /workspace\n',
    );
    expect(p.ok && p.notes[0]).toBe('covers exactly "npm run build"; anything more is asked again');
  });

  it('refuses a rule that would be a wildcard over arguments of a tool that is not read-only', () => {
    expect(propose(['cargo', 'build', '--release'], parts(['cargo', 'build', '--release']))).toMatchObject({ ok: false, reason: expect.stringContaining('would also cover other arguments than "--release"') });
    expect(propose(['python3', 'script.py'], parts(['python3', 'script.py']))).toMatchObject({ ok: false, reason: expect.stringContaining('destructive') });
    expect(propose(['make', 'install'], parts(['make', 'install'])).ok).toBe(false);
  });

  it('lets only the arguments of read-only tools vary, with the flags that were shown', () => {
    const p = propose(['grep', '-rn', '--color=never', 'TODO', 'src'], parts(['grep', '-rn', '--color=never', 'TODO', 'src']));
    expect(execRules(p)).toEqual([{ command: 'grep', allowFlags: ['--color', '-n', '-r'], maxArgs: 4, cwd: '/workspace' }]);
  });

  it('covers each part of a compound command, and merges two parts of one command', () => {
    const p = propose('cat a && cat -n b c && npm test', parts(['cat', 'a'], ['cat', '-n', 'b', 'c'], ['npm', 'test']));
    expect(execRules(p).map((r) => [r.command, r.subcommand, r.maxArgs, r.allowFlags])).toEqual([
      ['cat', undefined, 3, ['-n']],
      ['npm', 'test', 1, []],
    ]);
    expect(grants(p).map((g) => g.id)).toEqual(['approval-ap_test-1', 'approval-ap_test-2']);
  });

  it('refuses what a rule cannot pin: environment, globs, dynamic values, relative programs, non-command parts', () => {
    expect(propose(['npm', 'test'], parts(['npm', 'test']), { env: { NODE_OPTIONS: '--require=x' } })).toMatchObject({ ok: false, reason: expect.stringContaining('environment variables (NODE_OPTIONS)') });
    const glob: AskPart = { kind: 'exec', verdict: 'ask', ruleId: 'x', reason: 'r', subject: 'ls *.ts', argv: null, destructive: true };
    expect(propose('ls *.ts', [glob])).toMatchObject({ ok: false, reason: expect.stringContaining('not a concrete command') });
    expect(propose(['./run.sh'], parts(['./run.sh']))).toMatchObject({ ok: false, reason: expect.stringContaining('relative program path') });
    const file: AskPart = { kind: 'file.write', verdict: 'ask', ruleId: 'files.otherwise', reason: 'r', subject: 'echo x > /etc/y', argv: null, destructive: false };
    expect(propose('echo x > /etc/y', [...parts({ argv: ['echo', 'x'], verdict: 'allow' }), file])).toMatchObject({ ok: false, reason: expect.stringContaining('file.write check') });
    expect(proposeRule({ id: 'a', action: canonicalAction({ kind: 'exec', argv: ['npm', 'test'] }), parts: parts(['npm', 'test']), resolved: null, policyFile: null }).ok).toBe(false);
  });

  it('names an exact path for a file, and refuses directories, links and hard links', () => {
    const p = (path: string, resolved: Parameters<typeof proposeRule>[0]['resolved']): RuleProposal =>
      proposeRule({ id: 'ap_f', action: canonicalAction({ kind: 'file.write', path, contentSha256: 'a'.repeat(64) }), parts: [], resolved, policyFile: '/p.yaml' });
    const ok = p('/workspace/src/a[1].ts', { realPath: '/workspace/src/a[1].ts', type: 'file', nlink: 1 });
    expect(ok.ok && parse(ok.text)).toEqual({ grants: [{ id: 'approval-ap_f', approval: 'ap_f', file: { path: '/workspace/src/a[1].ts', access: 'write' } }] });
    expect(p('/workspace/src', { realPath: '/workspace/src', type: 'dir', nlink: 2 }).ok).toBe(false);
    expect(p('/workspace/l', { realPath: '/etc/passwd', type: 'file', nlink: 1 }).ok).toBe(false);
    expect(p('/workspace/h', { realPath: '/workspace/h', type: 'file', nlink: 2 }).ok).toBe(false);
    expect(p('/workspace/../etc/x', null).ok).toBe(false);
  });

  it('names the exact host, port, method and path of a request', () => {
    const p = (a: { host: string; method?: string; path?: string }): RuleProposal =>
      proposeRule({ id: 'ap_n', action: canonicalAction({ kind: 'network', port: 443, scheme: 'https', ...a }), parts: [], resolved: null, policyFile: '/p.yaml' });
    const ok = p({ host: 'API.example.com', method: 'post', path: '/v1/items' });
    expect(ok.ok && parse(ok.text)).toEqual({ grants: [{ id: 'approval-ap_n', approval: 'ap_n', network: { host: 'api.example.com', port: 443, method: 'POST', path: '/v1/items', scheme: 'https' } }] });
    expect(p({ host: 'example.com', method: 'GET', path: '/a?token=1' }).ok).toBe(false);
    expect(p({ host: 'example.com', method: 'DELETE', path: '/a' }).ok).toBe(false);
    expect(p({ host: 'example.com', method: 'GET', path: '/a/%2e%2e/b' }).ok).toBe(false);
    expect(p({ host: '*.example.com', method: 'GET', path: '/' }).ok).toBe(false);
  });

  it('refuses a grant for what a rule denies (request_access asks about denied actions), not for a default deny', () => {
    const denied = (ruleId: string): AskPart => ({ kind: 'exec', verdict: 'ask', ruleId, reason: 'policy says deny: no rule names arch', subject: 'arch', argv: ['arch'], destructive: false });
    expect(propose(['arch'], [denied('exec.default')]).ok).toBe(true);
    expect(propose(['arch'], [denied('arch-deny')])).toMatchObject({ ok: false, reason: 'the policy denies "arch" by arch-deny (no rule names arch); a grant never lifts a deny that a rule states: change the policy by hand if you mean it' });
  });

  it('refuses a grant for a part a forbidden flag asked about, or a protected path (they are asked every time)', () => {
    const forbidden: AskPart = { kind: 'exec', verdict: 'ask', ruleId: 'rg-pre', reason: 'rule rg-pre forbids --pre for rg', subject: 'rg --pre ./x TODO', argv: ['rg', '--pre', './x', 'TODO'], destructive: false };
    expect(propose(['rg', '--pre', './x', 'TODO'], [forbidden])).toMatchObject({ ok: false, reason: expect.stringContaining('a forbidden flag is asked about every time') });
    const write = (ruleId: string): RuleProposal =>
      proposeRule({
        id: 'ap_p',
        action: canonicalAction({ kind: 'file.write', path: '/workspace/.git/hooks/pre-commit', contentSha256: 'a'.repeat(64) }),
        parts: [{ kind: 'file.write', verdict: 'ask', ruleId, reason: 'protected', subject: '/workspace/.git/hooks/pre-commit', argv: null, destructive: false }],
        resolved: null,
        policyFile: '/p.yaml',
      });
    expect(write('files.protected(builtin:.git/hooks/**)')).toMatchObject({ ok: false, reason: expect.stringContaining('is protected') });
    expect(write('default:files.protected[0]')).toMatchObject({ ok: false, reason: expect.stringContaining('is protected') });
    expect(write('files.hardlink')).toMatchObject({ ok: false, reason: expect.stringContaining('another reason') });
    expect(write('files.otherwise.write').ok).toBe(true);
  });

  const word = fc.constantFrom('rm', 'git', 'status', 'log', 'npm', 'test', 'run', 'build', 'ls', 'cat', 'grep', 'cargo', '-rf', '-n', '--force', '--short', 'src', 'a.txt', '/', '*', 'x y', "it's", '-');
  const argvArb = fc.array(word, { minLength: 1, maxLength: 5 });

  it('a rule names a prefix of the argv: the command and at most two subcommand words (property)', () => {
    fc.assert(
      fc.property(argvArb, (argv) => {
        const prefix = rulePrefix(argv);
        expect(prefix).toEqual(argv.slice(0, prefix.length));
        expect(prefix.length).toBeLessThanOrEqual(3);
        for (const w of prefix.slice(1)) expect(w).toMatch(/^[a-z][a-z0-9_:-]*$/);
      }),
    );
  });

  it('never proposes a rule wider than the parts shown (property)', () => {
    fc.assert(
      fc.property(fc.array(argvArb, { minLength: 1, maxLength: 3 }), fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), (argvs, asks) => {
        const ps = parts(...argvs.map((argv, i) => ({ argv, verdict: asks[i] === false ? ('allow' as const) : ('ask' as const) })));
        const p = propose(argvs.map((a) => a.map(policyQuote).join(' ')).join(' && '), ps);
        if (!p.ok) return;
        const asking = ps.filter((x) => x.verdict === 'ask');
        for (const r of execRules(p)) {
          expect(r.cwd).toBe('/workspace');
          const prefix = [r.command, ...(r.subcommand === undefined ? [] : r.subcommand.split(' '))];
          // every rule stands for asking parts that start with exactly its command and subcommand…
          const mine = asking.filter((x) => x.argv !== null && JSON.stringify(rulePrefix(x.argv)) === JSON.stringify(prefix));
          expect(mine.length).toBeGreaterThan(0);
          // …allows no more arguments than the longest of them…
          expect(r.maxArgs).toBe(Math.max(...mine.map((x) => (x.argv?.length ?? 0) - 1)));
          // …and no flag they did not show
          const shown = new Set(mine.flatMap((x) => (x.argv ?? []).slice(1).filter((a) => a.startsWith('-') && a.length > 1).flatMap((a) => (a.startsWith('--') ? [a.split('=')[0]] : Array.from({ length: a.length - 1 }, (_, i) => `-${a.charAt(i + 1)}`)))));
          for (const f of r.allowFlags) expect(shown.has(f)).toBe(true);
          // destructive commands and tools that are not read-only get no room for other arguments
          if (mine.some((x) => x.destructive) || !['ls', 'cat', 'grep'].includes(r.command)) {
            expect(r.maxArgs).toBe(prefix.length - 1);
            expect(r.allowFlags).toEqual([]);
            for (const x of mine) expect(x.argv).toEqual(prefix);
          }
        }
        // rm never gets a rule unless it was exactly `rm` with nothing after it
        for (const r of execRules(p)) if (r.command === 'rm') expect(r.maxArgs).toBe(0);
        // every asking part is covered by some rule
        for (const x of asking) expect(execRules(p).some((r) => r.command === x.argv?.[0])).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
