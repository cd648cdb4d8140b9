/**
 * Proposed rules checked against the real policy engine: a rule the person confirmed, once
 * written to airlock.yaml and loaded, allows what they saw and never anything wider.
 */
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, parseDisplayedArgv } from '../../../src/approvals/index.js';
import type { ApprovalQueue, AskInput } from '../../../src/approvals/index.js';
import { createDecideContext, decide, loadPolicy } from '../../../src/policy/index.js';
import type { Action, Decision, Policy } from '../../../src/policy/index.js';
import { tempStateDir } from '../../unit/approvals/helpers.js';

// Self-contained (no preset), so the expectations do not move when the presets are tuned.
const BASE = `version: 1
unresolvable: ask
tools:
  git:
    subcommands: true
    globalFlags: [-C, -c, --no-pager]
    valueFlags: [-C, -c]
    flagPaths: { -C: cwd }
  npm:
    subcommands: true
  cat: { pathArgs: read }
exec:
  default: ask
files:
  read: [/workspace]
  write: [/workspace]
network:
  default: ask
`;
const ctx = createDecideContext();

/** The flag names an argument stands for: `-rf` is `-r` and `-f`; `--x=1` is `--x`. */
function flagNames(a: string): string[] {
  if (a.startsWith('--')) return [a.split('=')[0] ?? a];
  return Array.from({ length: a.length - 1 }, (_, i) => `-${a.charAt(i + 1)}`);
}

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;

beforeAll(() => {
  state = tempStateDir('policy-rules');
  queue = createApprovalQueue({ stateDir: state.dir, validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
});
afterAll(() => {
  queue.close();
  state.cleanup();
});

let n = 0;
function freshPolicyFile(): string {
  const file = join(state.dir, `airlock-${n++}.yaml`);
  writeFileSync(file, BASE);
  return file;
}

function ask(action: Action, decision: Decision, policyFile: string): AskInput {
  // The policy's own Decision is what the session layer passes: it must fit the queue's structural type.
  return { sessionId: 'sess', action, decision, policyFile };
}

/** Asks, approves with the proposed rule, and returns the policy with the rule loaded. */
async function approveAsRule(action: Action, policyFile: string): Promise<{ policy: Policy; text: string }> {
  const before = loadPolicy({ path: policyFile });
  const d = decide(action, before, ctx);
  expect(d.verdict).toBe('ask');
  const { id, decision } = queue.submit(ask(action, d, policyFile));
  const r = queue.get(id);
  if (r === undefined || !r.ruleProposal.ok) throw new Error(`no rule: ${r?.ruleProposal.ok === false ? r.ruleProposal.reason : 'missing'}`);
  queue.decide(id, { decision: 'approve', digest: r.digest, scope: 'rule', ruleText: r.ruleProposal.text, by: 'user:test', channel: 'terminal' });
  expect(await decision).toMatchObject({ approved: true, scope: 'rule', ruleText: r.ruleProposal.text });
  return { policy: loadPolicy({ path: policyFile }), text: r.ruleProposal.text };
}

describe('proposed rules under the real policy engine', () => {
  it('an exact rule allows the command shown and asks for anything more', async () => {
    const file = freshPolicyFile();
    const { policy } = await approveAsRule({ kind: 'exec', argv: ['git', 'status'], cwd: '/workspace' }, file);
    const v = (argv: string[], cwd = '/workspace'): string => decide({ kind: 'exec', argv, cwd }, policy, ctx).verdict;
    expect(v(['git', 'status'])).toBe('allow');
    expect(v(['git', 'status', '--short'])).toBe('ask');
    expect(v(['git', 'status', 'src'])).toBe('ask');
    expect(v(['git', '-C', '/etc', 'status'])).not.toBe('allow');
    expect(v(['git', '-c', 'core.pager=sh', 'status'])).not.toBe('allow');
    expect(v(['git', 'push'])).toBe('ask');
    expect(v(['git', 'status'], '/tmp')).not.toBe('allow');
    expect(decide({ kind: 'exec', command: 'git status && rm -rf build', cwd: '/workspace' }, policy, ctx).verdict).toBe('ask');
  });

  it('`git status && rm -rf build` gives no rule at all, so nothing about rm is ever written', () => {
    const file = freshPolicyFile();
    const policy = loadPolicy({ path: file });
    const action: Action = { kind: 'exec', command: 'git status && rm -rf build', cwd: '/workspace' };
    const d = decide(action, policy, ctx);
    const { id, decision } = queue.submit(ask(action, d, file));
    const r = queue.get(id);
    expect(r?.ruleProposal).toMatchObject({ ok: false, reason: expect.stringContaining('rm -rf build is destructive') });
    expect(() => queue.decide(id, { decision: 'approve', digest: r?.digest ?? '', scope: 'rule', ruleText: 'exec:\n  rules: []\n', by: 'user:t', channel: 'terminal' })).toThrow(/no rule can be proposed/);
    queue.decide(id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    return decision;
  });

  it('a network rule names exactly the host, port, method and path shown', async () => {
    const file = freshPolicyFile();
    const { policy } = await approveAsRule({ kind: 'network', host: 'api.example.com', port: 443, method: 'POST', path: '/v1/items', scheme: 'https' }, file);
    const v = (a: Partial<Extract<Action, { kind: 'network' }>>): string =>
      decide({ kind: 'network', host: 'api.example.com', port: 443, method: 'POST', path: '/v1/items', scheme: 'https', ...a }, policy, ctx).verdict;
    expect(v({})).toBe('allow');
    expect(v({ method: 'DELETE' })).not.toBe('allow');
    expect(v({ path: '/v1/other' })).not.toBe('allow');
    expect(v({ host: 'evil.example.com' })).not.toBe('allow');
    expect(v({ port: 8443 })).not.toBe('allow');
    expect(v({ scheme: 'http', port: 443 })).not.toBe('allow');
  });

  const vocabulary = ['git', 'status', 'log', 'push', 'cat', 'ls', 'rm', 'npm', 'test', 'run', 'build', '-n', '-rf', '--short', '--force', 'src', 'README.md', '/etc/passwd', 'a b'];
  const argvArb = fc.array(fc.constantFrom(...vocabulary), { minLength: 1, maxLength: 4 });
  const common = [['git', 'status'], ['npm', 'test'], ['npm', 'run', 'build'], ['cat', 'README.md'], ['ls', '-n', 'src'], ['cat', '-n', 'a b'], ['git', 'log']];
  const shownArb = fc.oneof(fc.constantFrom(...common), argvArb);
  /** Near misses of what was shown: one word replaced, inserted, removed or appended. */
  const mutate = (shown: string[]): fc.Arbitrary<string[]> =>
    fc.tuple(fc.nat(), fc.constantFrom(...vocabulary), fc.constantFrom('replace', 'insert', 'delete', 'append')).map(([i, w, op]) => {
      const k = i % shown.length;
      const out = [...shown];
      if (op === 'replace') out[k] = w;
      else if (op === 'insert') out.splice(k, 0, w);
      else if (op === 'delete' && out.length > 1) out.splice(k, 1);
      else out.push(w);
      return out;
    });
  const caseArb = shownArb.chain((shown) => fc.tuple(fc.constant(shown), fc.array(fc.oneof(argvArb, mutate(shown)), { minLength: 20, maxLength: 20 })));

  it('a confirmed rule never allows an argv that differs from what was shown beyond its documented room (property)', async () => {
    const file = freshPolicyFile();
    const base = loadPolicy({ path: file });
    let written = 0;
    await fc.assert(
      fc.asyncProperty(caseArb, async ([shown, others]) => {
        writeFileSync(file, BASE);
        const action: Action = { kind: 'exec', argv: shown, cwd: '/workspace' };
        const d = decide(action, base, ctx);
        fc.pre(d.verdict === 'ask');
        const { id, decision } = queue.submit(ask(action, d, file));
        const r = queue.get(id);
        if (r === undefined) throw new Error('missing');
        if (!r.ruleProposal.ok) {
          queue.decide(id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
          await decision;
          return;
        }
        queue.decide(id, { decision: 'approve', digest: r.digest, scope: 'rule', ruleText: r.ruleProposal.text, by: 'user:t', channel: 'terminal' });
        await decision;
        written++;
        const after = loadPolicy({ path: file });
        expect(decide(action, after, ctx).verdict).toBe('allow');
        const askingParts = d.parts.filter((p) => p.verdict === 'ask').map((p) => parseDisplayedArgv(p.subject));
        for (const other of others) {
          const before = decide({ kind: 'exec', argv: other, cwd: '/workspace' }, base, ctx);
          const now = decide({ kind: 'exec', argv: other, cwd: '/workspace' }, after, ctx);
          if (before.verdict === now.verdict) continue;
          // The rule changed a verdict: only to allow, and only for a command it was proposed from,
          // with the same command words, no flag that was not shown and no more arguments.
          expect(now.verdict).toBe('allow');
          const readOnly = ['cat', 'ls'].includes(other[0] ?? '');
          const covered = askingParts.some((p) => {
            if (p === null) return false;
            if (!readOnly) return JSON.stringify(p) === JSON.stringify(other);
            const flags = new Set(p.filter((a) => a.startsWith('-')).flatMap(flagNames));
            return p[0] === other[0] && other.length <= p.length && other.slice(1).every((a) => !a.startsWith('-') || flagNames(a).every((f) => flags.has(f)));
          });
          expect(covered, `rule ${r.ruleProposal.text} for ${JSON.stringify(shown)} allowed ${JSON.stringify(other)}`).toBe(true);
        }
      }),
      { numRuns: 60 },
    );
    // the property must have been exercised on real rules, not only on refusals
    expect(written).toBeGreaterThanOrEqual(15);
  });
});
