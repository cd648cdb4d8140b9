/**
 * What an agent reads through MCP is redacted by the session's redactor: a real MCP client
 * (the SDK's Client over an in-memory transport) calls the tools of a server that owns a real
 * bwrap session whose policy binds a credential (resolved on the host from the environment).
 * The secret reaches the agent's side by every route we can build here (a command printing it
 * in two writes apart in time, a workspace file, a search hit, an upstream that is not bound
 * to the credential echoing it in a header and body, an error quoting it) and must come back
 * as `[REDACTED:secret]`, in the result and in the streamed progress, never in part. File
 * tools are recorded once each, by the session.
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
import { scriptedResolver, startHttpServer, type TestServer } from '../integration/egress/helpers.js';

const SECRET = `tok-${randomBytes(16).toString('hex')}`;
const SECRET_ENV = 'AIRLOCK_TEST_MCP_REDACT_SECRET';
// A credential pattern the session was never told about.
const AWS_KEY = 'AKIAZ7QX3TESTKEY1234';

let leaky: TestServer;
let session: Session;
let client: Client;
let stateDir: string;
let ws: string;
const events: AirlockEvent[] = [];

function textOf(r: unknown): string {
  const first = (r as CallToolResult).content[0];
  return first !== undefined && first.type === 'text' ? first.text : '';
}

async function tool(name: string, args: Record<string, unknown>, progress?: string[]): Promise<{ text: string; isError: boolean }> {
  const r = (await client.callTool({ name, arguments: args }, undefined, {
    ...(progress === undefined
      ? {}
      : {
          onprogress: (p: { message?: string | undefined }) => {
            if (p.message !== undefined) progress.push(p.message);
          },
        }),
  })) as CallToolResult;
  return { text: textOf(r), isError: r.isError === true };
}

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  // An upstream the credential is not bound to, so the proxy has no reason to take the
  // secret out of its answer: only the session redactor stands between it and the agent.
  leaky = await startHttpServer((req, res) => {
    if (req.url === '/big') {
      // The secret starts 10 bytes before the tool's 100 KiB cut.
      res.end(`${'a'.repeat(100 * 1024 - 11)} ${SECRET} and more\n`);
      return;
    }
    res.setHeader('x-echo', `Bearer ${SECRET}`);
    res.end(`debug dump: token=${SECRET}\n`);
  });
  stateDir = tempDir('mcp-redact-state');
  ws = tempDir('mcp-redact-ws');
  writeFileSync(join(ws, 'config.env'), `API_TOKEN=${SECRET}\nAWS_ACCESS_KEY_ID=${AWS_KEY}\nREGION=eu-west-1\n`);
  const policyFile = join(tempDir('mcp-redact-pol'), 'airlock.yaml');
  writeFileSync(
    policyFile,
    `version: 1
exec: { default: allow }
files:
  read: ['/workspace/**']
  write: ['/workspace/**']
network:
  default: deny
  rules:
    - { id: leaky, host: leaky.example.test, ports: [${leaky.port}], level: allow }
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${leaky.port}], level: allow }
  credentials:
    - { id: api, hosts: [api.example.test], secret: 'env:${SECRET_ENV}', inject: { header: authorization, format: 'Bearer {secret}' } }
`,
  );
  session = await createSession({
    workspace: ws,
    stateDir,
    policy: loadPolicy({ path: policyFile }),
    egress: { testing: { resolver: scriptedResolver({ 'leaky.example.test': [['127.0.0.1']] }) } },
    workspaceMode: 'direct',
  });
  session.events.subscribe((e) => events.push(e));
  const [a, b] = InMemoryTransport.createLinkedPair();
  await createMcpServer({ session }).connect(a);
  client = new Client({ name: 'mcp-redact-test', version: '0' });
  await client.connect(b);
});

afterAll(async () => {
  await client.close();
  await session.destroy();
  await leaky.close();
  Reflect.deleteProperty(process.env, SECRET_ENV);
  cleanupTemp();
});

describe('MCP tool results pass through the session redactor', () => {
  it('redact.agent-output: run_command output split across chunks is redacted in the result and in every progress message', async () => {
    const half = SECRET.length >> 1;
    const progress: string[] = [];
    const r = await tool(
      'run_command',
      { argv: ['sh', '-c', 'echo "start $3"; printf %s "$1"; sleep 0.4; printf "%s end\\n" "$2"; echo "$1$2" >&2', 'x', SECRET.slice(0, half), SECRET.slice(half), 'p'.repeat(300)] },
      progress,
    );
    expect(r.isError).toBe(false);
    expect(r.text).toContain(`--- stdout ---\nstart ${'p'.repeat(300)}\n[REDACTED:secret] end\n`);
    expect(r.text).toContain('--- stderr ---\n[REDACTED:secret]\n');
    // Progress went out while it ran (the first line, before the sleep; a streaming redactor
    // holds back only a window as long as a secret could be), never a piece of the secret.
    expect(progress.length).toBeGreaterThan(1);
    expect(progress[0]?.startsWith('start ppp')).toBe(true);
    expect(progress[0]).not.toContain('[REDACTED');
    const streamed = progress.join('');
    expect(streamed).toContain('[REDACTED:secret] end');
    for (const p of progress) expect(p).not.toContain(SECRET.slice(0, half));
    expect(streamed).not.toContain(SECRET.slice(half));
  });

  it('redact.agent-output: read_file content and search hits are redacted, with a note on how to edit around them', async () => {
    const read = await tool('read_file', { path: 'config.env' });
    expect(read.text).toContain('API_TOKEN=[REDACTED:secret]\nAWS_ACCESS_KEY_ID=[REDACTED:aws-access-key-id]\nREGION=eu-west-1\n');
    expect(read.text).toContain('2 secret values were replaced by [REDACTED:…] markers');
    expect(read.text).not.toContain(SECRET);
    expect(read.text).not.toContain(AWS_KEY);
    const part = await tool('read_file', { path: 'config.env', offset: 1, limit: 1 });
    expect(part.text).toMatch(/^API_TOKEN=\[REDACTED:secret\]\n\[1 secret value was replaced/);
    const hits = await tool('search', { pattern: 'API_TOKEN' });
    expect(hits.text).toBe('/workspace/config.env:1: API_TOKEN=[REDACTED:secret]');
    // Editing around the secret works on the real file, which keeps it.
    const edit = await tool('edit_file', { path: 'config.env', old_string: 'REGION=eu-west-1', new_string: 'REGION=eu-central-1' });
    expect(edit.isError).toBe(false);
    expect(readFileSync(join(ws, 'config.env'), 'utf8')).toContain(`API_TOKEN=${SECRET}\n`);
  });

  it('redact.agent-output: an upstream that echoes the secret in a header and the body comes back redacted', async () => {
    const r = await tool('http_request', { url: `http://leaky.example.test:${leaky.port}/debug` });
    expect(r.isError).toBe(false);
    expect(r.text).toContain('x-echo: Bearer [REDACTED:secret]');
    expect(r.text).toContain('debug dump: token=[REDACTED:secret]');
    expect(r.text).not.toContain(SECRET);
  });

  it('redact.agent-output: a response body cut at the limit inside a secret shows no part of it', async () => {
    const r = await tool('http_request', { url: `http://leaky.example.test:${leaky.port}/big` });
    expect(r.text).toContain('[response cut at 102400 bytes]');
    expect(r.text).not.toContain(SECRET.slice(0, 8));
    // Only the tail a secret could be hiding in is dropped, not the whole last line.
    expect(r.text).toContain('a'.repeat(90 * 1024));
  });

  it('redact.agent-output: an error that quotes the secret is redacted too', async () => {
    const r = await tool('read_file', { path: `missing-${SECRET}.txt` });
    expect(r.isError).toBe(true);
    expect(r.text).toContain('missing-[REDACTED:secret].txt');
    expect(r.text).not.toContain(SECRET);
  });

  it('redact.credential-values: the audit log on disk holds no secret, though tool arguments, output and requests carried it', () => {
    const log = readFileSync(join(auditPaths(stateDir).sessions, `${session.id}.jsonl`), 'utf8');
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(AWS_KEY);
    expect(log).toContain('[REDACTED:secret]');
  });
});

describe('MCP file tools are recorded once, by the session', () => {
  it('audit.file-events: write_file is one file.write, read_file one file.read, edit_file one of each', async () => {
    type FileEvent = Extract<AirlockEvent, { type: 'file.read' | 'file.write' }>;
    const fileEvents = (from: number): FileEvent[] => events.slice(from).filter((e): e is FileEvent => e.type === 'file.read' || e.type === 'file.write');
    let at = events.length;
    await tool('write_file', { path: 'a.txt', content: 'x\ny\n' });
    expect(fileEvents(at).map((e) => [e.type, e.data.path])).toEqual([['file.write', '/workspace/a.txt']]);
    expect(fileEvents(at)[0]?.data).toMatchObject({ size: 4, previousSha256: null, linesAdded: 2, linesRemoved: 0 });
    at = events.length;
    await tool('read_file', { path: 'a.txt' });
    expect(fileEvents(at).map((e) => [e.type, e.data.path])).toEqual([['file.read', '/workspace/a.txt']]);
    at = events.length;
    await tool('edit_file', { path: 'a.txt', old_string: 'y', new_string: 'z' });
    expect(fileEvents(at).map((e) => [e.type, e.data.path])).toEqual([
      ['file.read', '/workspace/a.txt'],
      ['file.write', '/workspace/a.txt'],
    ]);
    expect(fileEvents(at)[1]?.data).toMatchObject({ size: 4, linesAdded: 1, linesRemoved: 1 });
  });
});
