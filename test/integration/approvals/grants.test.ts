/**
 * Rule grants in the common case: the rule that asked lives in the session's own policy
 * file (or its preset). Real policy engine, real policy files, the real queue.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalQueue } from '../../../src/approvals/index.js';
import { createDecideContext, decide, loadPolicy } from '../../../src/policy/index.js';
import type { Action, Policy } from '../../../src/policy/index.js';
import { tempStateDir } from '../../unit/approvals/helpers.js';

const ctx = createDecideContext();
let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
beforeAll(() => {
  state = tempStateDir('grants');
  queue = createApprovalQueue({ stateDir: state.dir, validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
});
afterAll(() => {
  queue.close();
  state.cleanup();
});

let n = 0;
function policyFile(text: string): string {
  const file = join(state.dir, `airlock-${n++}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** Asks for `action` under the file's policy, approves with scope rule, returns the reloaded policy. */
async function grantRule(action: Action, file: string): Promise<Policy> {
  const before = loadPolicy({ path: file });
  const d = decide(action, before, ctx);
  expect(d.verdict).toBe('ask');
  const { id, decision } = queue.submit({ sessionId: 'sess', action, decision: d, policyFile: file });
  const r = queue.get(id);
  if (r === undefined || !r.ruleProposal.ok) throw new Error(`no rule: ${r?.ruleProposal.ok === false ? r.ruleProposal.reason : 'missing'}`);
  queue.decide(id, { decision: 'approve', digest: r.digest, scope: 'rule', ruleText: r.ruleProposal.text, by: 'user:test', channel: 'terminal' });
  await decision;
  return loadPolicy({ path: file });
}

describe('rule grants when the asking rule is in the same policy [approvals.rule-grant-in-policy]', () => {
  it('an exec asked by a command rule in the session policy file is granted', async () => {
    const file = policyFile(`version: 1
tools: { git: { subcommands: true } }
exec:
  default: deny
  rules:
    - { id: git-read, command: git, subcommand: [status, log], level: ask }
    - { id: make, command: make, level: ask }
`);
    let policy = await grantRule({ kind: 'exec', argv: ['git', 'status'], cwd: '/workspace' }, file);
    expect(decide({ kind: 'exec', argv: ['git', 'status'], cwd: '/workspace' }, policy, ctx).verdict).toBe('allow');
    policy = await grantRule({ kind: 'exec', argv: ['make'], cwd: '/workspace' }, file);
    expect(decide({ kind: 'exec', argv: ['make'], cwd: '/workspace' }, policy, ctx).verdict).toBe('allow');
  });

  it('an exec asked by the default preset is granted, and the preset\'s denied flags stay denied', async () => {
    const file = policyFile('version: 1\nextends: default\n');
    const policy = await grantRule({ kind: 'exec', argv: ['git', 'push'], cwd: '/workspace' }, file);
    expect(decide({ kind: 'exec', argv: ['git', 'push'], cwd: '/workspace' }, policy, ctx).verdict).toBe('allow');
    expect(decide({ kind: 'exec', argv: ['git', 'push', '--force'], cwd: '/workspace' }, policy, ctx).verdict).toBe('deny');
  });

  it('a network request asked by an exact-host rule is granted', async () => {
    const file = policyFile(`version: 1
network:
  default: deny
  rules:
    - { id: api-ask, host: api.example.com, level: ask }
`);
    const req: Action = { kind: 'network', host: 'api.example.com', port: 443, method: 'GET', path: '/v1/items', scheme: 'https' };
    const policy = await grantRule(req, file);
    expect(decide(req, policy, ctx).verdict).toBe('allow');
  });
});
