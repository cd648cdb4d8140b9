/**
 * The recipes in docs/mcp.md, run with the real clients when they are installed (they are
 * not dependencies of this package). Point the variables at the binaries to run them:
 *
 *   npm install --prefix /tmp/clients @anthropic-ai/claude-code @openai/codex
 *   AIRLOCK_TEST_CLAUDE=/tmp/clients/node_modules/.bin/claude \
 *   AIRLOCK_TEST_CODEX=/tmp/clients/node_modules/.bin/codex npx vitest run test/system/recipes.test.ts
 *
 * There is no internet here: the model is a fake Anthropic Messages endpoint (and a fake
 * OpenAI Responses endpoint for Codex) on the host's loopback, which records what the client
 * sent (the tools it offered, the key header, tool results) and scripts one tool call to
 * Airlock's `run_command`. The clients, the MCP server, the sandbox and the egress proxy are
 * all real. Without the variables each suite is skipped, and says why.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { CLI, ROOT, cleanupTemp, tempDir } from '../helpers/index.js';
import {
  makeTestPki,
  scriptedResolver,
  startHttpServer,
  startHttpsServer,
  type TestServer,
} from '../integration/egress/helpers.js';

const CLAUDE = process.env['AIRLOCK_TEST_CLAUDE'];
const CODEX = process.env['AIRLOCK_TEST_CODEX'];
const AIRLOCK_TOOLS = [
  'edit_file',
  'http_request',
  'list_directory',
  'read_file',
  'request_access',
  'run_command',
  'sandbox_info',
  'search',
  'write_file',
];
const SCRIPTED = 'echo from-sandbox; hostname; id -un; pwd';

afterAll(() => {
  cleanupTemp();
});

interface Seen {
  url: string;
  key: string | null;
  tools: string[];
  results: string[];
}

/** A fake Anthropic Messages endpoint (streaming and not); scripts one run_command call when offered. */
function anthropicHandler(seen: Seen[]): (req: IncomingMessage, res: ServerResponse, body: string) => void {
  return (req, res, raw) => {
    const body = (raw === '' ? {} : JSON.parse(raw)) as {
      model?: string;
      stream?: boolean;
      tools?: { name: string }[];
      messages?: { content: unknown }[];
    };
    const tools = (body.tools ?? []).map((t) => t.name);
    const results: string[] = [];
    for (const m of body.messages ?? []) {
      for (const c of Array.isArray(m.content) ? (m.content as { type: string; content?: unknown }[]) : []) {
        if (c.type === 'tool_result')
          results.push(typeof c.content === 'string' ? c.content : JSON.stringify(c.content));
      }
    }
    const key = req.headers['x-api-key'];
    seen.push({ url: req.url ?? '', key: typeof key === 'string' ? key : null, tools, results });
    if (!(req.url ?? '').startsWith('/v1/messages') || req.method !== 'POST') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"not_found_error","message":"fake"}}');
      return;
    }
    const call = tools.includes('mcp__airlock__run_command') && results.length === 0;
    const content = call
      ? [
          {
            type: 'tool_use',
            id: 'toolu_fake1',
            name: 'mcp__airlock__run_command',
            input: { command: SCRIPTED },
          },
        ]
      : [{ type: 'text', text: 'hi from the fake' }];
    const msg = {
      id: 'msg_fake',
      type: 'message',
      role: 'assistant',
      model: body.model ?? 'fake',
      content,
      stop_reason: call ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 10, output_tokens: 5 },
    };
    if (body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(msg));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const ev = (type: string, data: object): void => {
      res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    ev('message_start', {
      message: { ...msg, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } },
    });
    content.forEach((c, index) => {
      if (c.type === 'text') {
        ev('content_block_start', { index, content_block: { type: 'text', text: '' } });
        ev('content_block_delta', { index, delta: { type: 'text_delta', text: 'text' in c ? c.text : '' } });
      } else {
        ev('content_block_start', {
          index,
          content_block: {
            type: 'tool_use',
            id: 'toolu_fake1',
            name: 'mcp__airlock__run_command',
            input: {},
          },
        });
        ev('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: JSON.stringify({ command: SCRIPTED }) },
        });
      }
      ev('content_block_stop', { index });
    });
    ev('message_delta', {
      delta: { stop_reason: msg.stop_reason, stop_sequence: null },
      usage: { output_tokens: 5 },
    });
    ev('message_stop', {});
    res.end();
  };
}

/** Runs a program to completion (no shell), with a wall-clock guard so a hung client fails the test. */
/** A host name other than localhost that resolves (on the host) to an IPv4 loopback address. */
function loopbackName(): { host: string; address: string } | null {
  for (const host of [hostname(), 'vm', 'ip6-localhost']) {
    if (host === '' || host === 'localhost' || !/^[a-z0-9.-]+$/i.test(host)) continue;
    try {
      const line = execFileSync('getent', ['ahostsv4', host], { encoding: 'utf8' }).split('\n')[0] ?? '';
      const address = line.split(/\s+/)[0] ?? '';
      if (address.startsWith('127.')) return { host: host.toLowerCase(), address };
    } catch {
      // not resolvable here
    }
  }
  return null;
}

function writeCa(dir: string, pem: string): string {
  const f = join(dir, 'upstream-ca.pem');
  writeFileSync(f, pem);
  return f;
}

function run(
  argv: readonly string[],
  opts: { cwd: string; env: Record<string, string> },
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const [cmd = '', ...args] = argv;
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString('utf8');
    });
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
    }, 150_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(guard);
      resolve({ code, out, err });
    });
  });
}

/** Tool results arrive JSON-encoded (once or more): their escaped line breaks as line breaks. */
function unescape(s: string | undefined): string {
  return (s ?? '').replace(/\\+n/g, '\n');
}

/** The environment a client runs with: a private HOME, the host PATH, nothing else of ours. */
function clientEnv(home: string, extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...extra };
}

describe.skipIf(CLAUDE === undefined)(
  `Claude Code recipes${CLAUDE === undefined ? ' (skipped: set AIRLOCK_TEST_CLAUDE to a claude binary, e.g. from npm install --prefix /tmp/clients @anthropic-ai/claude-code)' : ''}`,
  () => {
    const claude = CLAUDE ?? '';
    let fake: TestServer;
    const seen: Seen[] = [];
    let proj: string;
    let home: string;
    let state: string;

    beforeAll(async () => {
      fake = await startHttpServer(anthropicHandler(seen));
      proj = tempDir('recipe-claude-proj');
      home = tempDir('recipe-claude-home');
      state = tempDir('recipe-claude-state');
      writeFileSync(join(proj, 'README.md'), 'hello\n');
      // The recipe's .mcp.json, with the built CLI standing in for `airlock` on PATH.
      writeFileSync(
        join(proj, '.mcp.json'),
        JSON.stringify({
          mcpServers: {
            airlock: {
              command: process.execPath,
              args: [CLI, 'mcp', '--workspace', proj, '--no-approval-server', '--direct'],
              env: { AIRLOCK_HOME: state },
            },
          },
        }),
      );
      // Project servers stay "pending approval" until approved; .claude/settings.json alone does
      // not approve them in an untrusted workspace; settings.local.json does, in a git repository
      // (outside one it is ignored too), and so does ~/.claude/settings.json.
      execFileSync('git', ['init', '-q', proj]);
      mkdirSync(join(proj, '.claude'));
      writeFileSync(
        join(proj, '.claude', 'settings.local.json'),
        JSON.stringify({ enabledMcpjsonServers: ['airlock'] }),
      );
    });

    afterAll(async () => {
      await fake.close();
    });

    it('recipe.claude-mcp-list: claude mcp list connects to airlock mcp from .mcp.json', async () => {
      const r = await run([claude, 'mcp', 'list'], { cwd: proj, env: clientEnv(home, {}) });
      expect(r.out, r.err).toMatch(/^airlock: .*mcp --workspace .* - ✔ Connected$/m);
    });

    it('recipe.claude-tools-only: with --tools "" the model is offered exactly Airlock\'s tools, and a call runs in the sandbox', async () => {
      seen.length = 0;
      const r = await run([claude, '-p', 'say hi', '--tools', '', '--allowedTools', 'mcp__airlock'], {
        cwd: proj,
        env: clientEnv(home, {
          ANTHROPIC_BASE_URL: `http://127.0.0.1:${fake.port}`,
          ANTHROPIC_API_KEY: 'sk-ant-test-key',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          // Without it, -p starts the first turn before the MCP server has connected.
          MCP_CONNECTION_NONBLOCKING: '0',
        }),
      });
      expect(r.out, r.err).toContain('hi from the fake');
      const turns = seen.filter((s) => s.url.startsWith('/v1/messages'));
      expect(turns.length).toBe(2);
      expect([...(turns[0]?.tools ?? [])].sort()).toEqual(AIRLOCK_TOOLS.map((t) => `mcp__airlock__${t}`));
      // The scripted run_command ran inside the sandbox: hostname airlock, user agent, /workspace.
      expect(unescape(turns[1]?.results.join('\n'))).toMatch(/from-sandbox\nairlock\nagent\n\/workspace/);
    });

    it('recipe.claude-inside: claude -p inside a session reaches the API with the key injected on the host and a placeholder inside', async () => {
      const secret = `sk-ant-host-${randomBytes(8).toString('hex')}`;
      const secretEnv = 'AIRLOCK_TEST_RECIPE_ANTHROPIC_KEY';
      process.env[secretEnv] = secret;
      const pki = makeTestPki();
      const tlsSeen: Seen[] = [];
      const api = await startHttpsServer(pki, 'api.anthropic.com', anthropicHandler(tlsSeen));
      const bin = realpathSync(claude);
      const tpl = join(tempDir('recipe-tpl'), 'claude.yaml');
      // The host template plus the client's install directory, read-only at /opt/claude.
      writeFileSync(
        tpl,
        readFileSync(join(ROOT, 'templates', 'host.yaml'), 'utf8')
          .replace(/^name: host$/m, 'name: host-claude')
          .replace(/^mounts:$/m, `mounts:\n  - { type: ro-bind, src: ${dirname(bin)}, dest: /opt/claude }`),
      );
      const session = await createSession({
        workspace: tempDir('recipe-inside-ws'),
        stateDir: tempDir('recipe-inside-state'),
        template: tpl,
        workspaceMode: 'direct',
        policy: loadPolicy({
          text: `version: 1
exec: { default: allow }
network:
  rules:
    - { id: anthropic, host: api.anthropic.com, ports: [${api.port}], methods: [POST, GET, HEAD, CONNECT], level: allow }
    - { id: fake-upstream, cidr: 127.0.0.1/32, ports: [${api.port}], level: allow }
  credentials:
    - id: anthropic
      hosts: [api.anthropic.com]
      secret: 'env:${secretEnv}'
      env: [ANTHROPIC_API_KEY]
      inject: { header: x-api-key }
`,
        }),
        egress: {
          testing: {
            resolver: scriptedResolver({ 'api.anthropic.com': [['127.0.0.1']] }),
            upstreamCa: pki.caPem,
          },
        },
      });
      try {
        const inside = await session.exec(['/bin/sh', '-c', 'printf %s "$ANTHROPIC_API_KEY"']);
        expect(inside.stdout).toMatch(/^airlock-placeholder-anthropic-/);
        const r = await session.exec([`/opt/claude/${basename(bin)}`, '-p', 'say hi'], {
          env: {
            ANTHROPIC_BASE_URL: `https://api.anthropic.com:${api.port}`,
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          },
          timeoutMs: 120_000,
        });
        expect(r.stdout, r.stderr).toContain('hi from the fake');
        const posts = tlsSeen.filter((s) => s.url.startsWith('/v1/messages'));
        expect(posts.length).toBeGreaterThan(0);
        for (const p of posts) expect(p.key).toBe(secret);
        expect(r.stdout + r.stderr).not.toContain(secret);
      } finally {
        await session.destroy();
        await api.close();
        Reflect.deleteProperty(process.env, secretEnv);
      }
    });

    it('recipe.claude-tui: interactive `airlock run -- claude` on a terminal: the TUI starts, a prompt is answered through the proxy with the key injected', async () => {
      const secret = `sk-ant-host-${randomBytes(8).toString('hex')}`;
      const pki = makeTestPki();
      const tlsSeen: Seen[] = [];
      // The fake needs a host *name* (credentials bind names, not addresses) that the host
      // resolves to loopback and that is not in the sandbox's NO_PROXY (localhost is: a client
      // inside would try it directly and find nothing). The machine's own name usually is one.
      const name = loopbackName();
      if (name === null) {
        console.warn(
          'recipe.claude-tui skipped: no host name other than localhost resolves to a loopback address here (add one to /etc/hosts)',
        );
        return;
      }
      const api = await startHttpsServer(pki, name.host, anthropicHandler(tlsSeen), name.address);
      const dir = tempDir('recipe-tui');
      const bin = realpathSync(claude);
      const tpl = join(dir, 'host-claude.yaml');
      writeFileSync(
        tpl,
        readFileSync(join(ROOT, 'templates', 'host.yaml'), 'utf8')
          .replace(/^name: host$/m, 'name: host-claude')
          .replace(/^mounts:$/m, `mounts:\n  - { type: ro-bind, src: ${dirname(bin)}, dest: /opt/claude }`),
      );
      const exe = `/opt/claude/${basename(bin)}`;
      const policyFile = join(dir, 'airlock.yaml');
      writeFileSync(
        policyFile,
        `version: 1
extends: default
exec:
  rules:
    - { id: claude, command: ${exe}, level: allow }
files:
  write: [/home/agent/.claude.json]
network:
  rules:
    - { id: anthropic, host: ${name.host}, ports: [${api.port}], methods: [POST, GET, HEAD, CONNECT], level: allow }
    - { id: fake-upstream, cidr: ${name.address}/32, ports: [${api.port}], level: allow }
  credentials:
    - id: anthropic
      hosts: [${name.host}]
      paths: ['/v1/**']
      secret: 'env:AIRLOCK_TEST_TUI_KEY'
      env: [ANTHROPIC_API_KEY]
      inject: { header: x-api-key }
`,
      );
      // The sandbox's home is fresh each session, so Claude Code would show its first-run
      // screens (theme, trust, "use this API key?"); the recipe seeds its settings file first.
      const seed =
        'k=$(printf %s "$ANTHROPIC_API_KEY" | tail -c 20); ' +
        `printf '{"hasCompletedOnboarding":true,"theme":"dark","customApiKeyResponses":{"approved":["%s"],"rejected":[]},"projects":{"/workspace":{"hasTrustDialogAccepted":true}}}' "$k" > /home/agent/.claude.json; ` +
        `exec ${exe}`;
      const q = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;
      const airlock = [
        process.execPath,
        CLI,
        'run',
        '--workspace',
        tempDir('recipe-tui-ws'),
        '--template',
        tpl,
        '--policy',
        policyFile,
        '--discard',
        '-e',
        `ANTHROPIC_BASE_URL=https://${name.host}:${api.port}`,
        '-e',
        'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1',
        '--',
        '/bin/sh',
        '-c',
        seed,
      ];
      // script(1) gives the CLI a real terminal on the host, as a person at a shell has.
      const child = spawn(
        'script',
        ['-qfec', `stty cols 120 rows 40; exec ${airlock.map(q).join(' ')}`, '/dev/null'],
        {
          env: {
            ...process.env,
            AIRLOCK_HOME: tempDir('recipe-tui-state'),
            AIRLOCK_TEST_TUI_KEY: secret,
            NODE_EXTRA_CA_CERTS: writeCa(dir, pki.caPem),
            TERM: 'xterm-256color',
          },
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((res) =>
        child.on('close', (code) => {
          res(code);
        }),
      );
      // Cursor movement splits the TUI's words; compare without escapes and spaces.
      const ESC = String.fromCharCode(0x1b);
      const BEL = String.fromCharCode(0x07);
      const csi = new RegExp(`${ESC}\\[[0-9;?<>=]*[ -/]*[@-~]`, 'g');
      const osc = new RegExp(`${ESC}[\\]P][^${BEL}${ESC}]*(${BEL}|${ESC}\\\\)`, 'g');
      const screen = (): string => out.replace(csi, '').replace(osc, '').replace(/\s+/g, '');
      const until = async (needle: string, ms: number): Promise<void> => {
        const end = Date.now() + ms;
        while (!screen().includes(needle)) {
          if (Date.now() > end)
            throw new Error(
              `no "${needle}" on the screen after ${ms} ms:\n${screen().slice(-2000)}\nseen: ${JSON.stringify(tlsSeen.map((x) => x.url))}`,
            );
          await new Promise((r) => setTimeout(r, 200));
        }
      };
      try {
        await until('forshortcuts', 60_000);
        child.stdin.write('say hi');
        await new Promise((r) => setTimeout(r, 500));
        child.stdin.write('\r');
        await until('hifromthefake', 60_000);
        const posts = tlsSeen.filter((x) => x.url.startsWith('/v1/messages'));
        expect(posts.length).toBeGreaterThan(0);
        for (const p of posts) expect(p.key).toBe(secret);
        // Ctrl-C twice leaves Claude Code; the session ends and the CLI exits.
        child.stdin.write('\x03');
        await new Promise((r) => setTimeout(r, 500));
        child.stdin.write('\x03');
        expect(
          await Promise.race([
            exited,
            new Promise<'hung'>((r) =>
              setTimeout(() => {
                r('hung');
              }, 30_000),
            ),
          ]),
        ).not.toBe('hung');
        expect(out).not.toContain(secret);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await api.close();
      }
    }, 180_000);
  },
);

describe.skipIf(CODEX === undefined)(
  `Codex CLI recipe${CODEX === undefined ? ' (skipped: set AIRLOCK_TEST_CODEX to a codex binary, e.g. from npm install --prefix /tmp/clients @openai/codex)' : ''}`,
  () => {
    const codex = CODEX ?? '';
    let fake: TestServer;
    const seen: { tools: string[]; outputs: string[] }[] = [];

    beforeAll(async () => {
      // A fake OpenAI Responses endpoint (the only wire API this Codex speaks).
      fake = await startHttpServer((_req, res, raw) => {
        const body = JSON.parse(raw === '' ? '{}' : raw) as {
          model?: string;
          tools?: { name?: string; type: string }[];
          input?: { type: string; output?: unknown }[];
        };
        const tools = (body.tools ?? []).map((t) => t.name ?? t.type);
        const outputs = (body.input ?? [])
          .filter((i) => i.type === 'function_call_output')
          .map((i) => JSON.stringify(i.output));
        seen.push({ tools, outputs });
        const call = tools.includes('mcp__airlock') && outputs.length === 0;
        const item = call
          ? {
              type: 'function_call',
              id: 'fc_1',
              call_id: 'call_1',
              namespace: 'mcp__airlock',
              name: 'run_command',
              arguments: JSON.stringify({ command: SCRIPTED }),
              status: 'completed',
            }
          : {
              type: 'message',
              id: 'msg_1',
              role: 'assistant',
              status: 'completed',
              content: [{ type: 'output_text', text: 'hi from the fake', annotations: [] }],
            };
        const resp = {
          id: 'resp_1',
          object: 'response',
          status: 'in_progress',
          model: body.model ?? 'fake',
          output: [] as object[],
        };
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const ev = (type: string, data: object): void => {
          res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
        };
        ev('response.created', { response: resp });
        ev('response.output_item.added', { output_index: 0, item });
        ev('response.output_item.done', { output_index: 0, item });
        ev('response.completed', {
          response: {
            ...resp,
            status: 'completed',
            output: [item],
            usage: {
              input_tokens: 10,
              output_tokens: 5,
              total_tokens: 15,
              input_tokens_details: { cached_tokens: 0 },
              output_tokens_details: { reasoning_tokens: 0 },
            },
          },
        });
        res.end();
      });
    });

    afterAll(async () => {
      await fake.close();
    });

    it('recipe.codex: config.toml starts airlock mcp, its own shell is off, and run_command runs in the sandbox', async () => {
      const home = tempDir('recipe-codex-home');
      const codexHome = join(home, '.codex');
      const proj = tempDir('recipe-codex-proj');
      const state = tempDir('recipe-codex-state');
      mkdirSync(codexHome);
      writeFileSync(
        join(codexHome, 'config.toml'),
        `web_search = "disabled"
model_provider = "fake"

[features]
shell_tool = false
unified_exec = false

[model_providers.fake]
name = "fake"
base_url = "http://127.0.0.1:${fake.port}/v1"
wire_api = "responses"
env_key = "FAKE_OPENAI_KEY"

[mcp_servers.airlock]
command = ${JSON.stringify(process.execPath)}
args = ${JSON.stringify([CLI, 'mcp', '--workspace', proj, '--no-approval-server', '--direct'])}
required = true
default_tools_approval_mode = "approve"
env = { AIRLOCK_HOME = ${JSON.stringify(state)} }
`,
      );
      const r = await run([codex, 'exec', '--skip-git-repo-check', '-m', 'gpt-5.1-codex', 'say hi'], {
        cwd: proj,
        env: clientEnv(home, { CODEX_HOME: codexHome, FAKE_OPENAI_KEY: 'x' }),
      });
      expect(r.out, r.err).toContain('hi from the fake');
      expect(seen.length).toBe(2);
      const tools = seen[0]?.tools ?? [];
      expect(tools).toContain('mcp__airlock');
      expect(tools).not.toContain('exec_command');
      expect(tools).not.toContain('shell');
      expect(unescape(seen[1]?.outputs.join('\n'))).toMatch(/from-sandbox\nairlock\nagent\n\/workspace/);
    });
  },
);
