/**
 * A session's proxy judges with the policy the session holds now, not the one it started
 * with: a network ask that a person grants as a rule (written into airlock.yaml) lets the
 * next request through without asking, and a policy the session is handed later
 * (`session.setPolicy`) reaches the proxy from the next request on. Real bwrap sandbox, curl
 * inside, a real approval queue (SQLite), a real upstream on the host's loopback.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, type ApprovalQueue, type ApprovalRecord } from '../../src/approvals/index.js';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { scriptedResolver, startHttpServer, type TestServer } from '../integration/egress/helpers.js';

let upstream: TestServer;
let ws: string;
let queue: ApprovalQueue;
let session: Session;
const events: AirlockEvent[] = [];

const policyText = (port: number): string => `version: 1
approvals:
  timeout: 20
exec:
  default: allow
network:
  rules:
    # A wildcard asks; the grant a person confirms names the exact request and lifts this ask
    # (test/system/approvals-grants.test.ts does the same under an exact-host ask rule).
    - { id: ask-api, host: '*.example.test', ports: [${port}], level: ask }
    # Lets the SSRF guard through to the test upstream on 127.0.0.1; judges nothing by name.
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${port}], level: ask }
`;

function nextAsk(): Promise<ApprovalRecord> {
  return new Promise((resolve) => {
    const first = queue.list({ status: 'pending', sessionId: session.id })[0];
    if (first !== undefined) {
      resolve(first);
      return;
    }
    const stop = queue.watch(() => {
      const rec = queue.list({ status: 'pending', sessionId: session.id })[0];
      if (rec !== undefined) {
        stop();
        resolve(rec);
      }
    });
  });
}

/** curl inside the sandbox; prints the status code. */
async function curl(url: string): Promise<string> {
  const r = await session.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', url], { timeoutMs: 60_000 });
  return r.stdout.trim();
}

function networkRecords(path: string): Array<Record<string, unknown>> {
  return events
    .filter((e) => e.type === 'network.request')
    .map((e) => e.data as unknown as Record<string, unknown>)
    .filter((d) => d.path === path);
}

beforeAll(async () => {
  upstream = await startHttpServer((req, res) => {
    res.end(`up ${req.url ?? ''}`);
  });
  ws = tempDir('reload-ws');
  const stateDir = tempDir('reload-state');
  writeFileSync(join(ws, 'airlock.yaml'), policyText(upstream.port));
  queue = createApprovalQueue({ stateDir, validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
  session = await createSession({
    workspace: ws,
    stateDir,
    policy: loadPolicy({ path: join(ws, 'airlock.yaml') }),
    approvals: queue,
    workspaceMode: 'direct',
    egress: { testing: { resolver: scriptedResolver({ 'api.example.test': [['127.0.0.1']], 'other.example.test': [['127.0.0.1']] }) } },
  });
  session.events.subscribe((e) => events.push(e));
});

afterAll(async () => {
  await session.destroy();
  queue.close();
  await upstream.close();
  cleanupTemp();
});

describe('[egress.session-policy-reload] the proxy follows the session policy', () => {
  it('a network ask granted as a rule: this request goes out, and the next one is allowed by the new rule without asking', async () => {
    const url = `http://api.example.test:${upstream.port}/items`;
    const first = curl(url);
    const rec = await nextAsk();
    expect(rec.category).toBe('network');
    expect(rec.ruleId).toBe('ask-api');
    if (!rec.ruleProposal.ok) throw new Error(`no rule proposed: ${rec.ruleProposal.reason}`);
    queue.decide(rec.id, { decision: 'approve', digest: rec.digest, scope: 'rule', ruleText: rec.ruleProposal.text, by: 'user:test', channel: 'terminal' });
    expect(await first).toBe('200');
    // The rule is in the project's policy file now.
    const written = readFileSync(join(ws, 'airlock.yaml'), 'utf8');
    expect(written).toContain('api.example.test');
    expect(written).not.toBe(policyText(upstream.port));

    const promptsBefore = queue.stats(session.id).prompts;
    expect(await curl(url)).toBe('200');
    expect(queue.stats(session.id).prompts).toBe(promptsBefore);
    expect(queue.list({ status: 'pending', sessionId: session.id })).toEqual([]);
    const records = networkRecords('/items');
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ verdict: 'ask', answer: 'allow', rule: 'ask-api', allowed: true });
    // Decided by the grant the person confirmed, not by an approval.
    expect(records[1]).toMatchObject({ verdict: 'allow', allowed: true });
    expect(records[1]?.rule).not.toBe('ask-api');
    expect(records[1]?.answer).toBeUndefined();
    expect(records[1]?.rule).toBe(`approval-${rec.id}`);
    expect(session.policy?.compiled.grants.network.length).toBe(1);
  });

  it('a host the policy asks about (answer: deny) is allowed from the next request on once the session gets a policy that allows it', async () => {
    const url = `http://other.example.test:${upstream.port}/later`;
    const seen = upstream.seen.length;
    const first = curl(url);
    const rec = await nextAsk();
    queue.decide(rec.id, { decision: 'deny', by: 'user:test', channel: 'terminal' });
    expect(await first).toBe('403');
    expect(upstream.seen.length).toBe(seen);
    session.setPolicy(
      loadPolicy({
        text: `${policyText(upstream.port)}    - { id: other-now, host: other.example.test, ports: [${upstream.port}], level: allow }\n`,
      }),
    );
    expect(await curl(url)).toBe('200');
    const records = networkRecords('/later');
    expect(records.map((r) => [r.verdict, r.rule])).toEqual([
      ['ask', 'ask-api'],
      ['allow', 'other-now'],
    ]);
  });
});
