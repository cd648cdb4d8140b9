/**
 * A session proxy's `ask` through a real approval queue (a real SQLite file): the request
 * waits for a person, an approval of exactly that request lets it out, a denial is the 403,
 * and the policy's `ask` rule is what asked. The proxy is started the way a session starts
 * it (startSessionEgress), reached through a bridge that stands in for the supervisor's.
 */
import { connect, type Socket } from 'node:net';
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

describe('[egress.ask-cancelled] an ask the proxy stops waiting for ends in the queue', () => {
  let q: ApprovalQueue;
  let eg: SessionEgress;
  let br: Bridge;
  const SID = 'scancel';
  const approvals: ApprovalEvent[] = [];

  beforeAll(async () => {
    q = createApprovalQueue({ stateDir: tempDir('cancel-state'), pollIntervalMs: 20 });
    const policy = loadPolicy({
      text: `version: 1
network:
  rules:
    - { id: ask-me, host: ask.example.test, ports: [${upstream.port}], level: ask }
    - { id: slow, host: slow.example.test, ports: [${upstream.port}], level: ask }
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${upstream.port}], level: ask }
`,
    });
    eg = await startSessionEgress({
      runtimeDir: tempDir('cancel-run'),
      policy,
      // The proxy's own bound (1.5 s) is far shorter than the queue's (60 s).
      options: {
        askTimeoutMs: 1500,
        testing: { resolver: scriptedResolver({ 'ask.example.test': [['127.0.0.1']], 'slow.example.test': [['127.0.0.1']] }) },
      },
      onEvent: () => undefined,
      ask: createApprovalAsk({ queue: q, sessionId: SID, publish: (e) => approvals.push(e), timeoutMs: 60_000 }),
    });
    br = await startBridge(eg.proxy.socketPath);
  });

  afterAll(async () => {
    await eg.close();
    await br.close();
    q.close();
  });

  async function pendingIn(): Promise<NonNullable<ReturnType<ApprovalQueue['get']>>> {
    for (;;) {
      const [rec] = q.list({ status: 'pending', sessionId: SID });
      if (rec !== undefined) return rec;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function settled(id: string): Promise<NonNullable<ReturnType<ApprovalQueue['get']>>> {
    for (;;) {
      const rec = q.get(id);
      if (rec !== undefined && rec.status !== 'pending') return rec;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** A raw client through the bridge that sends `text` and can be dropped. */
  function rawClient(text: string): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const s = connect(br.port, '127.0.0.1', () => {
        s.write(text);
        resolve(s);
      });
      s.on('error', reject);
    });
  }

  it('a plain-HTTP client that goes away while asked: the ask expires, with the reason', async () => {
    const s = await rawClient(`GET http://ask.example.test:${upstream.port}/gone HTTP/1.1\r\nHost: ask.example.test:${upstream.port}\r\n\r\n`);
    const rec = await pendingIn();
    expect(rec.action).toMatchObject({ host: 'ask.example.test', path: '/gone' });
    s.destroy();
    const done = await settled(rec.id);
    expect(done.status).toBe('expired');
    expect(done.resolution).toMatchObject({ by: 'airlock', channel: 'system', reason: expect.stringContaining('client went away') });
    // Nobody can approve it any more.
    expect(() => q.decide(rec.id, { decision: 'approve', digest: rec.digest, by: 'user:late', channel: 'terminal' })).toThrow(/expired/);
    expect(approvals.some((e) => e.type === 'approval.expired' && e.data.approvalId === rec.id)).toBe(true);
  });

  it('a CONNECT client that goes away while asked: the ask expires', async () => {
    const s = await rawClient(`CONNECT ask.example.test:${upstream.port} HTTP/1.1\r\nHost: ask.example.test:${upstream.port}\r\n\r\n`);
    const rec = await pendingIn();
    // A tunnel is shown as host and port (no method or path is visible).
    expect(rec.action).toMatchObject({ host: 'ask.example.test', port: upstream.port, method: null, path: null });
    s.destroy();
    const done = await settled(rec.id);
    expect(done.status).toBe('expired');
    expect(done.resolution?.reason).toContain('client went away');
  });

  it("the proxy's own wait runs out before the queue's: the client gets the 403 and the ask expires", async () => {
    const res = viaUndici(`http://127.0.0.1:${br.port}`, `http://slow.example.test:${upstream.port}/late`);
    const rec = await pendingIn();
    const r = await res;
    expect(r.status).toBe(403);
    expect(r.headers['x-airlock-denied']).toBe('slow');
    const done = await settled(rec.id);
    expect(done.status).toBe('expired');
    expect(done.resolution?.reason).toContain('stopped waiting after 2 s');
  });

  it('a merged repeat keeps the ask pending when one of two identical requests goes away; the other is let out on approval', async () => {
    const req = `GET http://ask.example.test:${upstream.port}/twice HTTP/1.1\r\nHost: ask.example.test:${upstream.port}\r\n\r\n`;
    const a = await rawClient(req);
    const rec = await pendingIn();
    const staying = viaUndici(`http://127.0.0.1:${br.port}`, `http://ask.example.test:${upstream.port}/twice`);
    for (;;) {
      if ((q.get(rec.id)?.count ?? 0) >= 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    a.destroy();
    // Give the proxy time to notice the close; the ask must still be pending for the other.
    await new Promise((r) => setTimeout(r, 300));
    expect(q.get(rec.id)?.status).toBe('pending');
    q.decide(rec.id, { decision: 'approve', digest: rec.digest, by: 'user:test', channel: 'terminal' });
    const r = await staying;
    expect(r.status).toBe(200);
    expect(r.body).toBe('up /twice');
  });
});
