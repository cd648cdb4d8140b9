/**
 * A session proxy's `ask` through a real approval queue (a real SQLite file): the request
 * waits for a person, an approval of exactly that request lets it out, a denial is the 403,
 * and the policy's `ask` rule is what asked. The proxy is started the way a session starts
 * it (startSessionEgress), reached through a bridge that stands in for the supervisor's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, type ApprovalEvent, type ApprovalQueue } from '../../../src/approvals/index.js';
import type { EgressEvent } from '../../../src/egress/index.js';
import { loadPolicy } from '../../../src/policy/index.js';
import { createApprovalAsk, startSessionEgress, type SessionEgress } from '../../../src/session/egress.js';
import { cleanupTemp, tempDir } from '../../helpers/index.js';
import { scriptedResolver, startBridge, startHttpServer, viaUndici, type Bridge, type TestServer } from './helpers.js';

let upstream: TestServer;
let queue: ApprovalQueue;
let egress: SessionEgress;
let bridge: Bridge;
const events: EgressEvent[] = [];
const approvalEvents: ApprovalEvent[] = [];

beforeAll(async () => {
  upstream = await startHttpServer((req, res) => { res.end(`up ${req.url ?? ''}`); });
  const stateDir = tempDir('ask-state');
  queue = createApprovalQueue({ stateDir, pollIntervalMs: 20 });
  const policy = loadPolicy({
    text: `version: 1
network:
  rules:
    - { id: ask-me, host: ask.example.test, ports: [${upstream.port}], level: ask }
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${upstream.port}], level: ask }
`,
  });
  egress = await startSessionEgress({
    runtimeDir: tempDir('ask-run'),
    policy,
    options: { testing: { resolver: scriptedResolver({ 'ask.example.test': [['127.0.0.1']] }) } },
    onEvent: (e) => events.push(e),
    ask: createApprovalAsk({ queue, sessionId: 'sask', publish: (e) => approvalEvents.push(e), timeoutMs: 30_000 }),
  });
  bridge = await startBridge(egress.proxy.socketPath);
});

afterAll(async () => {
  await egress.close();
  await bridge.close();
  await upstream.close();
  cleanupTemp();
});

/** Waits for the next pending ask of the session and returns it. */
async function pending(): Promise<NonNullable<ReturnType<ApprovalQueue['get']>>> {
  for (;;) {
    const [rec] = queue.list({ status: 'pending', sessionId: 'sask' });
    if (rec !== undefined) return rec;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('egress ask through the approval queue', () => {
  it('egress.session-ask: an approved request goes out; the person saw exactly that request', async () => {
    const res = viaUndici(`http://127.0.0.1:${bridge.port}`, `http://ask.example.test:${upstream.port}/one?q=1`);
    const rec = await pending();
    expect(rec.category).toBe('network');
    expect(rec.ruleId).toBe('ask-me');
    expect(rec.action).toMatchObject({ kind: 'network', host: 'ask.example.test', port: upstream.port, method: 'GET', path: '/one' });
    queue.decide(rec.id, { decision: 'approve', digest: rec.digest, by: 'tester', channel: 'test' });
    const r = await res;
    expect(r.status).toBe(200);
    expect(r.body).toBe('up /one?q=1');
    const ev = events.find((e) => e.type === 'egress.request' && e.path === '/one');
    expect(ev).toMatchObject({ verdict: 'ask', allowed: true, answer: 'allow', ruleId: 'ask-me' });
    expect(approvalEvents.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted']);
  });

  it('egress.session-ask: a denied request is the 403 and never reaches the upstream', async () => {
    const before = upstream.seen.length;
    const res = viaUndici(`http://127.0.0.1:${bridge.port}`, `http://ask.example.test:${upstream.port}/two`);
    const rec = await pending();
    queue.decide(rec.id, { decision: 'deny', reason: 'not today', by: 'tester', channel: 'test' });
    const r = await res;
    expect(r.status).toBe(403);
    expect(r.headers['x-airlock-denied']).toBe('ask-me');
    expect(upstream.seen.length).toBe(before);
  });
});
