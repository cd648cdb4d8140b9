/**
 * Rule grants end to end, in the common case: the rule that asks is in the session's own
 * policy file. A person approves with scope `rule` over the HTTP API; the exact command (or
 * request) runs, runs again later without a prompt, and a wider variant still asks. Real
 * bwrap sandbox, real approval queue and HTTP server, real upstream on the host's loopback.
 */
import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, type ApprovalQueue, type ApprovalRecord } from '../../src/approvals/index.js';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { startApprovalServer, type ApprovalServer } from '../../src/server/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { scriptedResolver, startHttpServer, type TestServer } from '../integration/egress/helpers.js';

let upstream: TestServer;
let ws: string;
let queue: ApprovalQueue;
let server: ApprovalServer;
let session: Session;
const events: AirlockEvent[] = [];

const policyText = (port: number): string => `version: 1
approvals:
  timeout: 20
tools:
  git: { subcommands: true }
exec:
  default: allow
  rules:
    - { id: git-read, command: git, subcommand: [status, log], level: ask }
network:
  rules:
    # exact host, level ask: a grant for it ties on specificity, so only a grant can lift it
    - { id: api-ask, host: api.example.test, ports: [${port}], level: ask }
    # lets the SSRF guard through to the test upstream on 127.0.0.1
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

/** POST /api/approvals/:id/decision with the server's token. */
function decideOverHttp(id: string, body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    const text = JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port: url.port,
        method: 'POST',
        path: `/api/approvals/${id}/decision`,
        headers: { host: url.host, authorization: `Bearer ${server.token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown }); });
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

async function approveAsRule(rec: ApprovalRecord): Promise<void> {
  if (!rec.ruleProposal.ok) throw new Error(`no grant proposed: ${rec.ruleProposal.reason}`);
  const res = await decideOverHttp(rec.id, { decision: 'approve', digest: rec.digest, scope: 'rule', ruleSha256: rec.ruleProposal.sha256 });
  expect(res.status).toBe(200);
}

function promptCount(): number {
  return queue.stats(session.id).prompts;
}

async function curl(url: string): Promise<string> {
  const r = await session.exec(['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', url], { timeoutMs: 60_000 });
  return r.stdout.trim();
}

beforeAll(async () => {
  upstream = await startHttpServer((req, res) => {
    res.end(`up ${req.url ?? ''}`);
  });
  ws = tempDir('grants-ws');
  const stateDir = tempDir('grants-state');
  execFileSync('git', ['init', '-q', ws]);
  writeFileSync(join(ws, 'airlock.yaml'), policyText(upstream.port));
  queue = createApprovalQueue({ stateDir, validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
  server = await startApprovalServer({ queue, stateDir });
  session = await createSession({
    workspace: ws,
    stateDir,
    policy: loadPolicy({ path: join(ws, 'airlock.yaml') }),
    approvals: queue,
    workspaceMode: 'direct',
    egress: { testing: { resolver: scriptedResolver({ 'api.example.test': [['127.0.0.1']] }) } },
  });
  session.events.subscribe((e) => events.push(e));
}, 120_000);

afterAll(async () => {
  await session.destroy();
  await server.close();
  queue.close();
  await upstream.close();
  cleanupTemp();
});

describe('[approvals.rule-grant] rule grants when the asking rule is in the session policy file', () => {
  it('an exec: approved as a rule over HTTP it runs, runs again without a prompt, and a wider variant still asks [grants.per-part]', async () => {
    const first = session.exec(['git', 'status'], { timeoutMs: 60_000 });
    const rec = await nextAsk();
    expect(rec.ruleId).toBe('git-read');
    await approveAsRule(rec);
    expect((await first).exitCode).toBe(0);

    // the grant is in the policy file, reviewable, with who approved it
    const written = readFileSync(join(ws, 'airlock.yaml'), 'utf8');
    expect(written).toContain(`grants:\n  - id: approval-${rec.id}\n    approval: ${rec.id}\n    by: token:local\n`);
    expect(written).toContain('- { id: git-read, command: git, subcommand: [status, log], level: ask }');
    const reload = events.find((e) => e.type === 'policy.reload' && e.data.approvalId === rec.id);
    expect(reload?.data).toMatchObject({ ok: true });

    const prompts = promptCount();
    const again = await session.exec(['git', 'status'], { timeoutMs: 60_000 });
    expect(again.exitCode).toBe(0);
    expect(promptCount()).toBe(prompts);

    // wider: another flag, and another command chained after it
    for (const cmd of [['git', 'status', '--short'], ['bash', '-c', 'git status && git log']]) {
      const wider = session.exec(cmd, { timeoutMs: 60_000 });
      const ask = await nextAsk();
      expect(ask.ruleId).toBe('git-read');
      queue.decide(ask.id, { decision: 'deny', by: 'user:test', channel: 'test' });
      await expect(wider).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
    }
    expect(promptCount()).toBe(prompts + 2);
  });

  it('a file read asked because no list names the path: granted, read again without a prompt, another file asks', async () => {
    writeFileSync(join(ws, 'notes.txt'), 'granted notes\n');
    writeFileSync(join(ws, 'other.txt'), 'other\n');
    const first = session.readFile('notes.txt');
    const rec = await nextAsk();
    expect(rec.category).toBe('file.read');
    expect(rec.ruleId).toBe('files.otherwise.read');
    await approveAsRule(rec);
    expect((await first).content.toString()).toBe('granted notes\n');
    expect(readFileSync(join(ws, 'airlock.yaml'), 'utf8')).toContain('    file:\n      path: /workspace/notes.txt\n      access: read\n');

    const prompts = promptCount();
    expect((await session.readFile('notes.txt')).content.toString()).toBe('granted notes\n');
    expect(promptCount()).toBe(prompts);
    const other = session.readFile('other.txt');
    const ask = await nextAsk();
    expect(ask.ruleId).toBe('files.otherwise.read');
    queue.decide(ask.id, { decision: 'deny', by: 'user:test', channel: 'test' });
    await expect(other).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
  });

  it('a network request asked by an exact-host rule: granted over HTTP, the same request later goes out without a prompt, another path asks', async () => {
    const url = `http://api.example.test:${upstream.port}/items`;
    const first = curl(url);
    const rec = await nextAsk();
    expect(rec.category).toBe('network');
    expect(rec.ruleId).toBe('api-ask');
    await approveAsRule(rec);
    expect(await first).toBe('200');
    expect(readFileSync(join(ws, 'airlock.yaml'), 'utf8')).toContain(`network:\n      host: api.example.test\n      port: ${upstream.port}\n      method: GET\n      path: /items\n      scheme: http\n`);

    const prompts = promptCount();
    expect(await curl(url)).toBe('200');
    expect(promptCount()).toBe(prompts);
    const records = events
      .filter((e) => e.type === 'network.request')
      .map((e) => e.data as unknown as Record<string, unknown>)
      .filter((d) => d.path === '/items');
    expect(records.map((r) => [r.verdict, r.rule])).toEqual([
      ['ask', 'api-ask'],
      ['allow', `approval-${rec.id}`],
    ]);

    const other = curl(`http://api.example.test:${upstream.port}/other`);
    const ask = await nextAsk();
    expect(ask.ruleId).toBe('api-ask');
    queue.decide(ask.id, { decision: 'deny', by: 'user:test', channel: 'test' });
    expect(await other).toBe('403');
  });
});
