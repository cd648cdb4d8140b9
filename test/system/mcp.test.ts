/**
 * `airlock mcp` driven by a real MCP client (the SDK's Client over stdio, spawning the
 * built CLI) through a small coding task in a temp git project: list the tools, read a
 * file, fix it, run the tests, hit a policy denial, ask for access, get approved over
 * the approvals HTTP API, retry and succeed. The audit log must show the tool calls.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

const POLICY = `version: 1
extends: default
exec:
  default: deny
# An ask waits for a person this long, then is a deny (the hook write below asks).
approvals:
  timeout: 2
`;

let client: Client;
let transport: StdioClientTransport;
let ws: string;
let state: string;
let policyFile: string;
let stderr = '';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function textOf(r: unknown): string {
  const c = (r as CallToolResult).content[0];
  return c !== undefined && c.type === 'text' ? c.text : '';
}

async function tool(name: string, args: Record<string, unknown>): Promise<{ text: string; isError: boolean }> {
  const r = (await client.callTool({ name, arguments: args })) as CallToolResult;
  return { text: textOf(r), isError: r.isError === true };
}

function approvalsUrl(): { base: string; token: string } {
  const m = /approvals at (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]+)/.exec(stderr);
  if (m === null) throw new Error(`no approvals URL on stderr:\n${stderr}`);
  return { base: m[1] as string, token: m[2] as string };
}

beforeAll(async () => {
  ws = tempDir('mcp-ws');
  state = tempDir('mcp-state');
  policyFile = join(tempDir('mcp-pol'), 'airlock.yaml');
  writeFileSync(policyFile, POLICY);
  writeFileSync(join(ws, 'sum.js'), 'export function sum(a, b) {\n  return a - b;\n}\n');
  writeFileSync(
    join(ws, 'test.js'),
    "import { sum } from './sum.js';\nif (sum(2, 3) !== 5) { console.error('FAIL: sum(2, 3) =', sum(2, 3)); process.exit(1); }\nconsole.log('ok: all tests pass');\n",
  );
  writeFileSync(join(ws, 'package.json'), '{"type":"module"}\n');
  execFileSync('git', ['init', '-q'], { cwd: ws });
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'add', '.'], { cwd: ws });
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', 'commit', '-qm', 'init'], { cwd: ws });

  transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', '--workspace', ws, '--direct', '--policy', policyFile],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: state },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  client = new Client({ name: 'airlock-test', version: '1.0.0' });
  await client.connect(transport);
});

afterAll(async () => {
  await client.close();
  cleanupTemp();
});

describe('airlock mcp with a real MCP client', () => {
  it('lists its tools with truthful annotations', async () => {
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(
      ['edit_file', 'http_request', 'list_directory', 'read_file', 'request_access', 'run_command', 'sandbox_info', 'search', 'write_file'].sort(),
    );
    expect(byName.get('read_file')?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    // The default preset has network rules, so the session has an egress route: commands can reach out.
    expect(byName.get('run_command')?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, openWorldHint: true });
    expect(byName.get('http_request')?.annotations).toMatchObject({ openWorldHint: true });
    expect(byName.get('run_command')?.inputSchema.properties).toHaveProperty('argv');
  });

  it('does a coding task: read, edit, run the tests, with progress while they run', async () => {
    const listing = await tool('list_directory', {});
    expect(listing.text).toContain('sum.js');
    const src = await tool('read_file', { path: 'sum.js' });
    expect(src.text).toContain('return a - b;');

    const failing = await tool('run_command', { argv: ['node', 'test.js'] });
    expect(failing.text).toContain('exit status 1');
    expect(failing.text).toContain('FAIL: sum(2, 3) = -1');

    const ambiguous = await tool('edit_file', { path: 'test.js', old_string: 'sum(2, 3)', new_string: 'sum(3, 2)' });
    expect(ambiguous.isError).toBe(true);
    expect(ambiguous.text).toContain('E_EDIT_FAILED');
    const absent = await tool('edit_file', { path: 'sum.js', old_string: 'a * b', new_string: 'a + b' });
    expect(absent.isError).toBe(true);
    expect(absent.text).toContain('does not occur');

    const edit = await tool('edit_file', { path: 'sum.js', old_string: 'return a - b;', new_string: 'return a + b;' });
    expect(edit.isError).toBe(false);
    expect(readFileSync(join(ws, 'sum.js'), 'utf8')).toContain('return a + b;');

    const progress: string[] = [];
    const passing = (await client.callTool({ name: 'run_command', arguments: { command: 'node test.js && git status --short' } }, undefined, {
      onprogress: (p) => {
        if (p.message !== undefined) progress.push(p.message);
      },
    })) as CallToolResult;
    expect(passing.isError).not.toBe(true);
    expect(textOf(passing)).toContain('exit status 0');
    expect(textOf(passing)).toContain('ok: all tests pass');
    expect(textOf(passing)).toContain('M sum.js');
    expect(progress.join('')).toContain('ok: all tests pass');

    const hits = await tool('search', { pattern: 'a + b' });
    expect(hits.text).toContain('/workspace/sum.js:2:');
  });

  it('explains a denial for an agent, and a shell string is judged part by part', async () => {
    const denied = await tool('run_command', { command: 'node test.js; arch' });
    expect(denied.isError).toBe(true);
    expect(denied.text).toContain('BLOCKED BY SANDBOX POLICY');
    expect(denied.text).toContain('Rule: exec.default');
    expect(denied.text).toContain('not an error in your code');
    expect(denied.text).toContain('blocked as well, and every attempt is recorded');
    expect(denied.text).toContain('request_access');
    // A protected file through the file tools.
    const hook = await tool('write_file', { path: '.git/hooks/pre-commit', content: '#!/bin/sh\n' });
    expect(hook.isError).toBe(true);
    expect(hook.text).toContain('BLOCKED BY SANDBOX POLICY');
    const net = await tool('http_request', { url: 'https://example.com/' });
    expect(net.isError).toBe(true);
    // Through the session's proxy: the default preset asks about example.com, nobody answers
    // within the policy's 2 s, and the proxy's refusal is the agent denial.
    expect(net.text).toMatch(/^BLOCKED BY SANDBOX POLICY: network "GET https:\/\/example\.com\/"/);
    expect(net.text).toContain('Rule: network.default');
  });

  it('asks for access, is approved over HTTP with a rule, and the retry succeeds', async () => {
    const { base, token } = approvalsUrl();
    const already = await tool('request_access', { path: 'sum.js', access: 'write', reason: 'fix the bug' });
    expect(already.text).toContain('Already allowed');
    const pending = tool('request_access', { command: 'arch', reason: 'the build script needs the machine architecture', wait_seconds: 50 });
    const auth = { authorization: `Bearer ${token}` };
    let ask: { id: string; digest: string; ruleProposal: { ok: boolean; sha256?: string; text?: string } } | undefined;
    for (let i = 0; i < 200 && ask === undefined; i++) {
      const list = (await (await fetch(`${base}/api/approvals?status=pending`, { headers: auth })).json()) as { approvals: NonNullable<typeof ask>[] };
      ask = list.approvals[0];
      if (ask === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ask).toBeDefined();
    if (ask === undefined) return;
    expect(ask.ruleProposal.ok).toBe(true);
    expect(ask.ruleProposal.text).toContain('arch');
    const res = await fetch(`${base}/api/approvals/${ask.id}/decision`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ decision: 'approve', digest: ask.digest, scope: 'rule', ruleSha256: ask.ruleProposal.sha256 }),
    });
    expect(res.status).toBe(200);
    const answer = await pending;
    expect(answer.isError).toBe(false);
    expect(answer.text).toContain('a rule was added to the policy');
    expect(readFileSync(policyFile, 'utf8')).toContain('arch');

    const retry = await tool('run_command', { command: 'arch' });
    expect(retry.isError).toBe(false);
    expect(retry.text).toContain('exit status 0');
  });

  it('describes the sandbox for a model', async () => {
    const info = JSON.parse((await tool('sandbox_info', {})).text) as { workspace: { insideSandbox: string }; network: string; policy: { exec: { default: string } } };
    expect(info.workspace.insideSandbox).toBe('/workspace');
    expect(info.network).toMatch(/^through the egress proxy only/);
    expect(info.policy.exec.default).toBe('deny');
  });

  it('records every tool call, its arguments and its result in the audit log', () => {
    const id = /session (s[0-9a-f]{12})/.exec(stderr)?.[1];
    expect(id).toBeDefined();
    const log = readFileSync(join(state, 'audit', 'sessions', `${id ?? ''}.jsonl`), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const calls = log.filter((r) => r.type === 'agent.tool_call');
    expect(calls.map((c) => c.data['tool'])).toEqual(expect.arrayContaining(['read_file', 'edit_file', 'run_command', 'request_access']));
    const denied = calls.find((c) => c.data['tool'] === 'run_command' && (c.data['arguments'] as { command?: string }).command === 'node test.js; arch');
    expect(denied?.data['isError']).toBe(true);
    expect(String(denied?.data['result'])).toContain('BLOCKED BY SANDBOX POLICY');
    expect(log.some((r) => r.type === 'policy.decision' && r.data['verdict'] === 'deny')).toBe(true);
    expect(log.some((r) => r.type === 'approval.granted')).toBe(true);
    // The command a tool call ran names the call, so a reviewer (and OTLP) can tie them together.
    const ids = new Set(calls.filter((c) => c.data['tool'] === 'run_command').map((c) => c.data['toolCallId']));
    expect(log.some((r) => r.type === 'exec.started' && ids.has(r.data['toolCallId']))).toBe(true);
    expect(log.some((r) => r.type === 'file.write' && r.data['path'] === '/workspace/sum.js')).toBe(true);
  });

  it('ends the session when the client goes away', async () => {
    const id = /session (s[0-9a-f]{12})/.exec(stderr)?.[1] ?? '';
    const pid = transport.pid;
    await client.close();
    for (let i = 0; i < 300 && pid !== null && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(pid !== null && alive(pid)).toBe(false);
    const last = readFileSync(join(state, 'audit', 'sessions', `${id}.jsonl`), 'utf8').trim().split('\n').pop() ?? '';
    expect((JSON.parse(last) as { type: string }).type).toBe('session.stopped');
    expect(existsSync(join(state, 'sessions', id))).toBe(false);
  });
});
