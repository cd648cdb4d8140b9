/**
 * The webhook channel against a real receiver on 127.0.0.1: each ask arrives signed, once;
 * the receiver answers through the HTTP API with its own named token.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachWebhook, createApprovalQueue, signWebhook, verifyWebhookSignature, WEBHOOK_HEADERS } from '../../../src/approvals/index.js';
import type { ApprovalQueue, WebhookDelivery, WebhookPayload } from '../../../src/approvals/index.js';
import { addToken, startApprovalServer } from '../../../src/server/index.js';
import type { ApprovalServer } from '../../../src/server/index.js';
import { argvAsk, delay, tempStateDir } from '../../unit/approvals/helpers.js';

const SECRET = 'a-webhook-secret-of-32-bytes-len';

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
let server: ApprovalServer;
let receiver: Server;
let receiverUrl: string;
let botToken: string;
const received: { verified: boolean; payload: WebhookPayload; headers: IncomingMessage['headers'] }[] = [];
let failNext = 0;
let answer: ((p: WebhookPayload) => Promise<void>) | null = null;

beforeAll(async () => {
  state = tempStateDir('webhook');
  queue = createApprovalQueue({ stateDir: state.dir, pollIntervalMs: 20 });
  botToken = addToken(state.dir, 'pager-bot');
  server = await startApprovalServer({ queue, stateDir: state.dir });
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failNext > 0) {
        failNext--;
        res.writeHead(503).end();
        return;
      }
      const body = Buffer.concat(chunks).toString('utf8');
      const ts = req.headers[WEBHOOK_HEADERS.timestamp];
      const sig = req.headers[WEBHOOK_HEADERS.signature];
      const verified = verifyWebhookSignature(SECRET, body, typeof ts === 'string' ? ts : undefined, typeof sig === 'string' ? sig : undefined);
      const payload = JSON.parse(body) as WebhookPayload;
      received.push({ verified, payload, headers: req.headers });
      res.writeHead(verified ? 204 : 401).end();
      if (verified && answer !== null) void answer(payload);
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await server.close();
  queue.close();
  await new Promise<void>((r) => receiver.close(() => { r(); }));
  state.cleanup();
});

describe('the webhook channel', () => {
  it('POSTs each new ask, signed, and the receiver approves it through the API', async () => {
    const deliveries: WebhookDelivery[] = [];
    const hook = attachWebhook(queue, { url: receiverUrl, secret: SECRET, apiBaseUrl: server.url, onDelivery: (d) => deliveries.push(d) });
    answer = async (p) => {
      const res = await fetch(p.decide.url ?? '', {
        method: 'POST',
        headers: { authorization: `Bearer ${botToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(p.decide.approve),
      });
      expect(res.status).toBe(200);
    };
    try {
      const { id, decision } = queue.submit(argvAsk('s-hook', ['terraform', 'apply']));
      queue.submit(argvAsk('s-hook', ['terraform', 'apply'])); // merged: not delivered again
      const d = await decision;
      expect(d).toMatchObject({ approved: true, by: 'token:pager-bot', channel: 'http' });
      await hook.idle();
      const mine = received.filter((r) => r.payload.approval.id === id);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.verified).toBe(true);
      expect(mine[0]?.headers[WEBHOOK_HEADERS.delivery]).toBe(id);
      expect(mine[0]?.payload).toMatchObject({
        type: 'approval.requested',
        approval: { id, sessionId: 's-hook', category: 'exec', subject: 'terraform apply', destructive: true, ruleProposal: { ok: false } },
        decide: { method: 'POST', url: `${server.url}/api/approvals/${id}/decision`, approve: { decision: 'approve', scope: 'once' } },
      });
      expect(mine[0]?.payload.approval.text).toContain('$ terraform apply');
      expect(deliveries.find((x) => x.approvalId === id)).toEqual({ approvalId: id, ok: true, attempts: 1, status: 204, error: null });
      expect(queue.delivery(id, receiverUrl)).toEqual({ status: 'delivered', detail: null });
    } finally {
      answer = null;
      hook.close();
    }
  });

  it('with sessionId, delivers only the asks of that session (the one `airlock run` runs)', async () => {
    const deliveries: WebhookDelivery[] = [];
    const hook = attachWebhook(queue, { url: receiverUrl, secret: SECRET, sessionId: 's-mine', target: 'mine-only', onDelivery: (d) => deliveries.push(d) });
    try {
      const other = queue.submit(argvAsk('s-other', ['make', 'other']));
      const mine = queue.submit(argvAsk('s-mine', ['make', 'mine']));
      for (let i = 0; i < 200 && deliveries.length < 1; i++) await delay(10);
      await hook.idle();
      expect(deliveries.map((d) => d.approvalId)).toEqual([mine.id]);
      // Not claimed either: a channel that carries every session's asks may still deliver it.
      expect(queue.claimDelivery(other.id, 'mine-only')).toBe(true);
      queue.endSession('s-mine');
      queue.endSession('s-other');
      await Promise.all([mine.decision, other.decision]);
    } finally {
      hook.close();
    }
  });

  it('retries a failing receiver, then records the failure', async () => {
    const deliveries: WebhookDelivery[] = [];
    const hook = attachWebhook(queue, { url: receiverUrl, secret: SECRET, attempts: 2, onDelivery: (d) => deliveries.push(d) });
    try {
      failNext = 1;
      const a = queue.submit(argvAsk('s-hook', ['make', 'a']));
      for (let i = 0; i < 200 && deliveries.length < 1; i++) await delay(10);
      expect(deliveries[0]).toEqual({ approvalId: a.id, ok: true, attempts: 2, status: 204, error: null });
      failNext = 2;
      const b = queue.submit(argvAsk('s-hook', ['make', 'b']));
      for (let i = 0; i < 200 && deliveries.length < 2; i++) await delay(10);
      expect(deliveries[1]).toEqual({ approvalId: b.id, ok: false, attempts: 2, status: 503, error: 'the receiver answered 503' });
      expect(queue.delivery(b.id, receiverUrl)).toEqual({ status: 'failed', detail: 'the receiver answered 503' });
      queue.endSession('s-hook');
      await Promise.all([a.decision, b.decision]);
    } finally {
      hook.close();
    }
  });

  it('delivers an ask once even when two channels watch the same queue file', async () => {
    const other = createApprovalQueue({ stateDir: state.dir, pollIntervalMs: 20 });
    const h1 = attachWebhook(queue, { url: receiverUrl, secret: SECRET });
    const h2 = attachWebhook(other, { url: receiverUrl, secret: SECRET });
    try {
      const before = received.length;
      const { id, decision } = queue.submit(argvAsk('s-once', ['ls']));
      for (let i = 0; i < 100; i++) await delay(10);
      await Promise.all([h1.idle(), h2.idle()]);
      expect(received.slice(before).filter((r) => r.payload.approval.id === id)).toHaveLength(1);
      queue.endSession('s-once');
      await decision;
    } finally {
      h1.close();
      h2.close();
      other.close();
    }
  });

  it('[approvals.webhook-redacted] redacts secrets in the argv, URLs and diff of an ask before it leaves, as the audit log does', async () => {
    const token = `ghp_${'a1B2'.repeat(9)}`;
    const awsKey = 'AKIAABCDEFGHIJKLMNOP';
    const hook = attachWebhook(queue, { url: receiverUrl, secret: SECRET, sessionId: 's-redact', redact: (t) => t.replaceAll('project-x-internal', '[REDACTED:secret]') });
    try {
      const exec = queue.submit(argvAsk('s-redact', ['curl', '-H', `Authorization: Bearer ${token}`, 'https://bob:hunter2hunter2@example.com/project-x-internal', SECRET]));
      const write = queue.submit({
        sessionId: 's-redact',
        action: { kind: 'file.write', path: '/workspace/.env', contentSha256: 'b'.repeat(64) },
        decision: { verdict: 'ask', ruleId: 'files.otherwise.write', reason: 'not listed', parts: [{ kind: 'file.write', verdict: 'ask', ruleId: 'files.otherwise.write', reason: 'not listed', subject: '/workspace/.env' }] },
        diff: `--- a/.env\n+++ b/.env\n@@ -0,0 +1 @@\n+AWS_ACCESS_KEY_ID=${awsKey}\n`,
      });
      for (let i = 0; i < 200 && received.filter((r) => r.payload.approval.sessionId === 's-redact').length < 2; i++) await delay(20);
      await hook.idle();
      const mine = received.filter((r) => r.payload.approval.sessionId === 's-redact');
      expect(mine).toHaveLength(2);
      const bodies = mine.map((r) => JSON.stringify(r.payload)).join('\n');
      for (const secret of [token, awsKey, 'hunter2hunter2', SECRET, 'project-x-internal']) expect(bodies).not.toContain(secret);
      expect(bodies).toContain('[REDACTED:github-token]');
      expect(bodies).toContain('[REDACTED:url-password]');
      expect(bodies).toContain('[REDACTED:aws-access-key-id]');
      expect(bodies).toContain('[REDACTED:secret]');
      expect(mine.every((r) => r.verified)).toBe(true);
      // the digest still names the real action: approving through the API works unchanged
      expect(mine.find((r) => r.payload.approval.id === exec.id)?.payload.decide.approve.digest).toBe(queue.get(exec.id)?.digest);
      queue.endSession('s-redact');
      await Promise.allSettled([exec.decision, write.decision]);
    } finally {
      hook.close();
    }
  });

  it('signatures: a changed body, another secret or an old timestamp do not verify', () => {
    const now = 1_700_000_000_000;
    const ts = String(now / 1000);
    const sig = signWebhook(SECRET, now / 1000, '{"a":1}');
    expect(verifyWebhookSignature(SECRET, '{"a":1}', ts, sig, 300, now)).toBe(true);
    expect(verifyWebhookSignature(SECRET, '{"a":2}', ts, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(`${SECRET}x`, '{"a":1}', ts, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(SECRET, '{"a":1}', ts, sig, 300, now + 301_000)).toBe(false);
    expect(verifyWebhookSignature(SECRET, '{"a":1}', undefined, sig, 300, now)).toBe(false);
  });

  it('refuses unsafe configurations', () => {
    expect(() => attachWebhook(queue, { url: 'http://hooks.example.com/x', secret: SECRET })).toThrow(/plain http to a host that is not loopback/);
    expect(() => attachWebhook(queue, { url: 'https://u:p@hooks.example.com/x', secret: SECRET })).toThrow(/credentials in the URL/);
    expect(() => attachWebhook(queue, { url: receiverUrl, secret: 'short' })).toThrow(/shorter than 16 bytes/);
    expect(() => attachWebhook(queue, { url: 'ftp://x/', secret: SECRET })).toThrow(/not http or https/);
  });
});
