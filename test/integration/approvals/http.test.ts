/**
 * The approvals HTTP API on a real 127.0.0.1 socket: an ask blocks until approved over
 * HTTP; the stream announces new asks; Host, Origin and token checks hold.
 */
import { request } from 'node:http';
import { statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalEvent, ApprovalQueue } from '../../../src/approvals/index.js';
import { addToken, startApprovalServer, tokensPath } from '../../../src/server/index.js';
import type { ApprovalServer } from '../../../src/server/index.js';
import { argvAsk, isPending, tempStateDir } from '../../unit/approvals/helpers.js';

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
let server: ApprovalServer;
let botToken: string;
const events: ApprovalEvent[] = [];

beforeAll(async () => {
  state = tempStateDir('http');
  queue = createApprovalQueue({ stateDir: state.dir, publish: (e) => events.push(e), pollIntervalMs: 20 });
  botToken = addToken(state.dir, 'chat-bot');
  server = await startApprovalServer({ queue, stateDir: state.dir, heartbeatMs: 200 });
});
afterAll(async () => {
  await server.close();
  queue.close();
  state.cleanup();
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** A raw HTTP request, so that Host and Origin can be set to anything. */
function call(method: string, path: string, opts: { token?: string | null; host?: string; origin?: string; body?: unknown; type?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = { host: opts.host ?? url.host };
    const token = opts.token === undefined ? server.token : opts.token;
    if (token !== null) headers['authorization'] = `Bearer ${token}`;
    if (opts.origin !== undefined) headers['origin'] = opts.origin;
    if (body !== undefined) {
      headers['content-type'] = opts.type ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request({ host: '127.0.0.1', port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON (the page)
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('the approvals HTTP API', () => {
  it('listens on loopback only, with the token file private', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.pageUrl).toBe(`${server.url}/#token=${server.token}`);
    expect(statSync(tokensPath(state.dir)).mode & 0o777).toBe(0o600);
    return expect(startApprovalServer({ queue, stateDir: state.dir, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'E_SERVER_LISTEN' });
  });

  it('an ask blocks until it is approved over HTTP', async () => {
    const { id, decision } = queue.submit(argvAsk('s-http', ['git', 'push', 'origin', 'main'], { execId: 'x1' }));
    const list = await call('GET', '/api/approvals');
    expect(list.status).toBe(200);
    const shown = (list.body as { approvals: { id: string; digest: string; display: string[]; subject: string }[] }).approvals.find((a) => a.id === id);
    expect(shown?.subject).toBe('git push origin main');
    expect(shown?.display[1]).toBe('  $ git push origin main');
    expect(await isPending(decision)).toBe(true);

    const one = await call('GET', `/api/approvals/${id}`);
    expect(one.body).toMatchObject({ approval: { id, status: 'pending', category: 'exec' } });

    const res = await call('POST', `/api/approvals/${id}/decision`, { token: botToken, body: { decision: 'approve', digest: shown?.digest, scope: 'once' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ approval: { id, status: 'approved', resolution: { by: 'token:chat-bot', channel: 'http', scope: 'once' } } });
    expect(await decision).toMatchObject({ approved: true, by: 'token:chat-bot', channel: 'http' });
    expect(events.find((e) => e.type === 'approval.granted' && e.data.approvalId === id)?.data).toMatchObject({ by: 'token:chat-bot', channel: 'http', execId: 'x1' });

    const again = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'deny' } });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'E_APPROVAL_DECIDED' } });
  });

  it('refuses an approval for a digest that is not the stored action', async () => {
    const { id, decision } = queue.submit(argvAsk('s-http', ['ls']));
    const res = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'approve', digest: 'f'.repeat(64) } });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ error: { code: 'E_APPROVAL_MISMATCH' } });
    const bad = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'approve' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'invalid_body', message: 'digest: Invalid input: expected string, received undefined' } });
    const deny = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'deny', reason: 'not now' } });
    expect(deny.status).toBe(200);
    expect(await decision).toMatchObject({ approved: false, reason: 'not now', by: 'token:local' });
  });

  it('streams new asks and decisions as server-sent events', async () => {
    const url = new URL(server.url);
    const got: string[] = [];
    let submitted: { id: string; decision: Promise<unknown> } | null = null;
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: url.port, path: '/api/stream', headers: { host: url.host, authorization: `Bearer ${server.token}` } }, (res) => {
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const chunk = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const ev = /^event: (\w+)$/m.exec(chunk)?.[1];
            if (ev === undefined) continue;
            got.push(ev);
            if (ev === 'hello') submitted = queue.submit(argvAsk('s-stream', ['make', 'deploy']));
            if (ev === 'ask') {
              const data = JSON.parse(/^data: (.*)$/m.exec(chunk)?.[1] ?? '{}') as { approval: { id: string; subject: string } };
              expect(data.approval.subject).toBe('make deploy');
              queue.decide(data.approval.id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
            }
            if (ev === 'decided') {
              req.destroy();
              resolve();
            }
          }
        });
      });
      req.on('error', (e) => {
        if (!got.includes('decided')) reject(e);
      });
      req.end();
    });
    expect(got).toEqual(['hello', 'ask', 'decided']);
    await (submitted as { decision: Promise<unknown> } | null)?.decision;
  });

  it('batches: one screen per session, category and rule, decided together', async () => {
    const a = queue.submit(argvAsk('s-batch', ['ls', 'a']));
    const b = queue.submit(argvAsk('s-batch', ['ls', 'b']));
    const res = await call('GET', '/api/batches?session=s-batch');
    const batches = (res.body as { batches: { prompts: number; items: { id: string; digest: string }[] }[] }).batches;
    expect(batches).toHaveLength(1);
    expect(batches[0]?.prompts).toBe(2);
    const items = batches[0]?.items.map((i) => ({ id: i.id, digest: i.digest }));
    const dec = await call('POST', '/api/batches/decision', { body: { decision: 'approve', scope: 'once', items } });
    expect(dec.status).toBe(200);
    expect((await a.decision) as object).toMatchObject({ approved: true, channel: 'http' });
    expect((await b.decision) as object).toMatchObject({ approved: true });
    const stats = await call('GET', '/api/sessions/s-batch/stats');
    expect(stats.body).toEqual({ stats: { sessionId: 's-batch', prompts: 2, asks: 2, merged: 0, autoApproved: 0, approved: 2, denied: 0, expired: 0, pending: 0 } });
  });

  it('refuses requests without a valid token', async () => {
    for (const token of [null, 'x'.repeat(43), `${server.token}x`]) {
      const res = await call('GET', '/api/approvals', { token });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });

  it('refuses a foreign Host (DNS rebinding) and a foreign Origin, even with the token', async () => {
    const port = new URL(server.url).port;
    for (const host of ['evil.example.com', `evil.example.com:${port}`, `127.0.0.1:${Number(port) + 1}`, `127.0.0.1.nip.io:${port}`]) {
      const res = await call('GET', '/api/approvals', { host });
      expect(res.status).toBe(421);
      expect(res.body).toMatchObject({ error: { code: 'forbidden_host' } });
    }
    expect((await call('GET', '/', { host: 'evil.example.com' })).status).toBe(421);
    for (const origin of ['http://evil.example.com', `http://127.0.0.1:${Number(port) + 1}`, 'null']) {
      const res = await call('POST', '/api/approvals/ap_x/decision', { origin, body: { decision: 'deny' } });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ error: { code: 'forbidden_origin' } });
    }
    // the page's own origin passes, and is recorded as the web channel
    const { id, decision } = queue.submit(argvAsk('s-origin', ['ls']));
    const ok = await call('POST', `/api/approvals/${id}/decision`, { origin: server.url, body: { decision: 'deny' } });
    expect(ok.status).toBe(200);
    expect(await decision).toMatchObject({ channel: 'web' });
  });

  it('accepts only JSON bodies of bounded size', async () => {
    const { id, decision } = queue.submit(argvAsk('s-body', ['ls']));
    const form = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'deny' }, type: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    const big = await call('POST', `/api/approvals/${id}/decision`, { body: { decision: 'deny', reason: 'x'.repeat(70 * 1024) } });
    expect(big.status).toBe(413);
    expect(queue.get(id)?.status).toBe('pending');
    queue.decide(id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    await decision;
  });

  it('serves the page with headers that forbid framing and inline script', async () => {
    const res = await call('GET', '/', { token: null });
    expect(res.status).toBe(200);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(String(res.body)).toContain('<script src="/app.js" defer></script>');
    expect((await call('POST', '/', { token: null, body: {} })).status).toBe(405);
  });
});
