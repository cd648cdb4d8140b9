/**
 * `http_request` goes through the session's own egress proxy: a real MCP client (the SDK's
 * Client over an in-memory transport) calls the tool of a server that owns a real bwrap
 * session with a policy, against real HTTP and HTTPS servers on the host's loopback. An
 * allowed host answers; a denied one comes back as the agent-readable denial (the proxy's
 * 403 and X-Airlock-Denied); a credential is injected on the host and never seen; every
 * request is a `network.request` audit event. Names reach the loopback servers through the
 * session's test resolver, and the SSRF guard lets 127.0.0.1 through only because of the
 * policy's `cidr` rule.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { createMcpServer } from '../../src/mcp/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { auditPaths } from '../../src/audit/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { makeTestPki, scriptedResolver, startHttpServer, startHttpsServer, type TestServer } from '../integration/egress/helpers.js';

const SECRET = `sekrit-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = 'AIRLOCK_TEST_MCP_HTTP_SECRET';

let plain: TestServer;
let api: TestServer;
let session: Session;
let noNet: Session;
let client: Client;
let noNetClient: Client;
let stateDir: string;
const events: AirlockEvent[] = [];

async function connect(s: Session): Promise<Client> {
  const [a, b] = InMemoryTransport.createLinkedPair();
  const server = createMcpServer({ session: s });
  await server.connect(a);
  const c = new Client({ name: 'mcp-http-test', version: '0' });
  await c.connect(b);
  return c;
}

function textOf(r: unknown): string {
  const first = (r as CallToolResult).content[0];
  return first !== undefined && first.type === 'text' ? first.text : '';
}

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  const pki = makeTestPki();
  plain = await startHttpServer((req, res) => {
    res.setHeader('x-test', 'yes');
    res.end(`plain ${req.method ?? ''} ${req.url ?? ''}`);
  });
  api = await startHttpsServer(pki, 'api.example.test', (req, res, body) => {
    res.end(`api ${req.method ?? ''} ${req.url ?? ''} key=${req.headers['x-api-key'] === SECRET ? 'good' : 'bad'} body=${body}`);
  });
  stateDir = tempDir('mcp-http-state');
  const ws = tempDir('mcp-http-ws');
  const policyFile = join(tempDir('mcp-http-pol'), 'airlock.yaml');
  writeFileSync(
    policyFile,
    `version: 1
exec: { default: allow }
network:
  default: deny
  rules:
    - { id: plain-ok, host: plain.example.test, ports: [${plain.port}], level: allow }
    - { id: api-v1, host: api.example.test, ports: [${api.port}], methods: [GET, POST], paths: ['/v1/**'], level: allow }
    - { id: test-upstreams, cidr: 127.0.0.1/32, ports: [${plain.port}, ${api.port}], level: allow }
  credentials:
    - { id: apikey, hosts: [api.example.test], secret: 'env:${SECRET_ENV}', inject: { header: x-api-key } }
`,
  );
  session = await createSession({
    workspace: ws,
    stateDir,
    policy: loadPolicy({ path: policyFile }),
    egress: {
      testing: {
        resolver: scriptedResolver({ 'plain.example.test': [['127.0.0.1']], 'api.example.test': [['127.0.0.1']], 'denied.example.test': [['127.0.0.1']] }),
        upstreamCa: pki.caPem,
      },
    },
    workspaceMode: 'direct',
  });
  session.events.subscribe((e) => events.push(e));
  client = await connect(session);
  noNet = await createSession({ workspace: tempDir('mcp-http-ws2'), stateDir, workspaceMode: 'direct' });
  noNetClient = await connect(noNet);
});

afterAll(async () => {
  await client.close();
  await noNetClient.close();
  await session.destroy();
  await noNet.destroy();
  await plain.close();
  await api.close();
  Reflect.deleteProperty(process.env, SECRET_ENV);
  cleanupTemp();
});

describe('mcp http_request through the session egress proxy', () => {
  it('mcp.http-allowed: an allowed host answers, through the proxy, and is recorded as network.request', async () => {
    const before = plain.seen.length;
    const r = await client.callTool({ name: 'http_request', arguments: { url: `http://plain.example.test:${plain.port}/hello?q=1` } });
    expect(r.isError).not.toBe(true);
    const t = textOf(r);
    expect(t).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(t).toMatch(/^x-test: yes$/m);
    expect(t).toContain('plain GET /hello?q=1');
    expect(plain.seen.length).toBe(before + 1);
    const ev = events.flatMap((e) => (e.type === 'network.request' ? [e.data] : []));
    expect(ev).toContainEqual(expect.objectContaining({ host: 'plain.example.test', port: plain.port, method: 'GET', path: '/hello', allowed: true, rule: 'plain-ok', status: 200 }));
  });

  it('mcp.http-denied: a denied host is the agent denial (rule from X-Airlock-Denied), never reached', async () => {
    const before = plain.seen.length;
    const r = await client.callTool({ name: 'http_request', arguments: { url: `http://denied.example.test:${plain.port}/x` } });
    expect(r.isError).toBe(true);
    const t = textOf(r);
    expect(t).toMatch(/^BLOCKED BY SANDBOX POLICY: network "GET http:\/\/denied\.example\.test:\d+\/x" was not run\./);
    expect(t).toContain('Rule: network.default');
    expect(t).toContain('request_access tool with the host');
    expect(plain.seen.length).toBe(before);
    const ev = events.flatMap((e) => (e.type === 'network.request' ? [e.data] : []));
    expect(ev).toContainEqual(expect.objectContaining({ host: 'denied.example.test', allowed: false, verdict: 'deny', rule: 'network.default', status: 403 }));
  });

  it('mcp.http-https: HTTPS is intercepted with the session CA; the credential is injected on the host', async () => {
    const r = await client.callTool({
      name: 'http_request',
      arguments: { url: `https://api.example.test:${api.port}/v1/items`, method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } },
    });
    expect(textOf(r)).toContain('api POST /v1/items key=good body=hello');
    expect(textOf(r)).not.toContain(SECRET);
    // A path outside the rule is refused inside the tunnel, again as an agent denial.
    const before = api.seen.length;
    const d = await client.callTool({ name: 'http_request', arguments: { url: `https://api.example.test:${api.port}/admin` } });
    expect(d.isError).toBe(true);
    expect(textOf(d)).toMatch(/^BLOCKED BY SANDBOX POLICY: network "GET https:\/\/api\.example\.test:\d+\/admin"/);
    expect(api.seen.length).toBe(before);
    // An own credential on the bound host is refused by the proxy (bring-your-own-key exfiltration).
    const own = await client.callTool({ name: 'http_request', arguments: { url: `https://api.example.test:${api.port}/v1/items`, headers: { 'x-api-key': 'mine' } } });
    expect(own.isError).toBe(true);
    expect(textOf(own)).toContain('Rule: egress.own-credential');
  });

  it('mcp.http-connect-denied: a refused CONNECT (denied https host) is the agent denial too', async () => {
    const r = await client.callTool({ name: 'http_request', arguments: { url: `https://denied.example.test:${api.port}/` } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^BLOCKED BY SANDBOX POLICY: network "GET https:\/\/denied\.example\.test/);
    expect(textOf(r)).toContain('Rule: network.default');
  });

  it('mcp.http-no-egress: a session without a proxy says there is no route', async () => {
    const r = await noNetClient.callTool({ name: 'http_request', arguments: { url: `http://plain.example.test:${plain.port}/` } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^E_NO_EGRESS: no network route/);
  });
  it('mcp.http-audit: the requests are in the audit log on disk, next to the tool calls', async () => {
    // Destroying the session closes its log: every record is on disk.
    await client.close();
    await session.destroy();
    const log = readFileSync(join(auditPaths(stateDir).sessions, `${session.id}.jsonl`), 'utf8');
    const records = log.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const net = records.filter((e) => e.type === 'network.request');
    expect(net.length).toBeGreaterThanOrEqual(5);
    expect(net.map((e) => e.data['host'])).toEqual(expect.arrayContaining(['plain.example.test', 'denied.example.test', 'api.example.test']));
    expect(log).not.toContain(SECRET);
    expect(records.filter((e) => e.type === 'agent.tool_call' && e.data['tool'] === 'http_request').length).toBeGreaterThanOrEqual(5);
  });

});
