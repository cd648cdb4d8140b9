/**
 * What a policy alone sets up for LLM clients and package managers, in real bwrap sessions:
 * base URLs (`network.baseUrls`) that LLM clients inside reach over plain HTTP while the host
 * forwards over verified HTTPS with the credential injected; a price table
 * (`network.llm.prices`) behind the cost budget, for Anthropic Messages and OpenAI Chat
 * Completions, streaming included; LLM usage on `network.request` records; and a real
 * `npm install` from a fake registry through the session's proxy.
 *
 * Upstreams are HTTPS servers on the host's 127.0.0.1 with a test CA made here; names such as
 * `api.anthropic.test` reach them through the session's test resolver, and the SSRF guard lets
 * 127.0.0.1 through only because each policy has a `cidr` rule for it.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { auditPaths } from '../../src/audit/index.js';
import { AirlockError } from '../../src/errors/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { FAKE_USAGE, llmHandler } from '../integration/egress/llm-fake.js';
import { makeTestPki, scriptedResolver, startHttpsServer, type TestPki, type TestServer } from '../integration/egress/helpers.js';

const KEY = `sk-ant-host-${randomBytes(12).toString('hex')}`;
const KEY_ENV = 'AIRLOCK_TEST_LLM_KEY';

let pki: TestPki;
let anthropic: TestServer;
let openai: TestServer;

const resolver = () =>
  scriptedResolver({
    'api.anthropic.test': [['127.0.0.1']],
    'api.openai.test': [['127.0.0.1']],
    'registry.example.test': [['127.0.0.1']],
    'other-registry.example.test': [['127.0.0.1']],
  });

beforeAll(async () => {
  process.env[KEY_ENV] = KEY;
  pki = makeTestPki();
  anthropic = await startHttpsServer(pki, 'api.anthropic.test', (req, res, body) => {
    // The fake answers only with the host's key, so a 200 proves the injection.
    if (req.headers['x-api-key'] !== KEY) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"type":"error","error":{"type":"authentication_error"}}');
      return;
    }
    llmHandler(req, res, body);
  });
  openai = await startHttpsServer(pki, 'api.openai.test', (req, res, body) => {
    llmHandler(req, res, body);
  });
});

afterAll(async () => {
  await anthropic.close();
  await openai.close();
  Reflect.deleteProperty(process.env, KEY_ENV);
  cleanupTemp();
});

function llmPolicy(extra: string): string {
  return `version: 1
exec: { default: allow }
files: { otherwise: { read: allow, write: allow } }
network:
  rules:
    - { id: anthropic, host: api.anthropic.test, ports: [${anthropic.port}], methods: [POST], paths: ['/v1/messages'], level: allow }
    - { id: openai, host: api.openai.test, ports: [${openai.port}], methods: [POST], paths: ['/v1/chat/completions'], level: log }
    - { id: test-upstreams, cidr: 127.0.0.1/32, ports: [${anthropic.port}, ${openai.port}], level: ask }
  credentials:
    - { id: anthropic, hosts: [api.anthropic.test], secret: 'env:${KEY_ENV}', env: [ANTHROPIC_API_KEY], inject: { header: x-api-key } }
  baseUrls:
    - { name: anthropic, upstream: 'https://api.anthropic.test:${anthropic.port}', env: [ANTHROPIC_BASE_URL], api: anthropic }
    - { name: openai, upstream: 'https://api.openai.test:${openai.port}/v1', env: [OPENAI_BASE_URL], api: openai }
${extra}`;
}

async function llmSession(extra: string): Promise<{ session: Session; stateDir: string; events: AirlockEvent[] }> {
  const stateDir = tempDir('llm-state');
  const workspace = tempDir('llm-ws');
  const session = await createSession({
    workspace,
    stateDir,
    backend: 'bwrap',
    policy: loadPolicy({ text: llmPolicy(extra) }),
    egress: { testing: { resolver: resolver(), upstreamCa: pki.caPem } },
  });
  const events: AirlockEvent[] = [];
  session.events.subscribe((e) => events.push(e));
  return { session, stateDir, events };
}

function auditRecords(stateDir: string, sessionId: string): Array<{ type: string; data: Record<string, unknown> }> {
  const log = readFileSync(join(auditPaths(stateDir).sessions, `${sessionId}.jsonl`), 'utf8');
  return log
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
}

/** curl inside: POST a JSON body to $VAR/PATH with the placeholder key, printing the status last. */
function curlPost(baseVar: string, path: string, body: object): string {
  return `curl -sS --max-time 20 -H 'content-type: application/json' -H "x-api-key: $ANTHROPIC_API_KEY" -d '${JSON.stringify(body)}' -w '\\nstatus=%{http_code}' "$${baseVar}${path}"`;
}

const a = FAKE_USAGE.anthropic;
const c = FAKE_USAGE.chat;

describe('[egress.session-base-url] base URLs from the policy, in a bwrap session', () => {
  let s: Awaited<ReturnType<typeof llmSession>>;
  beforeAll(async () => {
    s = await llmSession(`  llm:
    prices:
      'claude-test-*': { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 }
`);
  });
  afterAll(async () => {
    await s.session.destroy();
  });

  it('egress.session-base-url: curl and node fetch reach the fake through $ANTHROPIC_BASE_URL with the host key injected; the key is never inside', async () => {
    const env = await s.session.exec(['bash', '-c', 'echo "$ANTHROPIC_BASE_URL"; echo "$OPENAI_BASE_URL"; echo "$ANTHROPIC_API_KEY"']);
    const [baseUrl, openaiUrl, placeholder] = env.stdout.trim().split('\n');
    expect(baseUrl).toBe('http://127.0.0.1:3128/_airlock/base/anthropic');
    expect(openaiUrl).toBe('http://127.0.0.1:3128/_airlock/base/openai');
    expect(placeholder).toMatch(/^airlock-placeholder-anthropic-/);

    const before = anthropic.seen.length;
    const r = await s.session.exec(['bash', '-c', curlPost('ANTHROPIC_BASE_URL', '/v1/messages', { model: 'claude-test-1' })]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/status=200$/);
    expect(r.stdout).toContain(`"output_tokens":${a.output}`);
    expect(anthropic.seen.length).toBe(before + 1);
    expect(anthropic.seen.at(-1)?.headers['x-api-key']).toBe(KEY);

    // Node 20's fetch ignores the proxy variables; a base URL on 127.0.0.1 needs none.
    const script = `const r = await fetch(process.env.ANTHROPIC_BASE_URL + '/v1/messages', { method: 'POST', headers: { 'x-api-key': process.env.ANTHROPIC_API_KEY, 'content-type': 'application/json' }, body: JSON.stringify({ model: 'claude-test-1', stream: true }) }); const t = await r.text(); console.log(r.status, t.includes('message_delta'));`;
    const n = await s.session.exec(['node', '--input-type=module', '-e', script], { timeoutMs: 60_000 });
    expect(n.stderr).toBe('');
    expect(n.stdout.trim()).toBe('200 true');
    expect(anthropic.seen.at(-1)?.headers['x-api-key']).toBe(KEY);

    const inside = await s.session.exec(['bash', '-c', `S='${KEY.slice(0, 10)}''${KEY.slice(10)}'; env | grep -cF "$S"; grep -rlsF "$S" /run /tmp /workspace /proc/self/environ | wc -l`]);
    expect(inside.stdout.split('\n').slice(0, 2)).toEqual(['0', '0']);
  });

  it('egress.session-base-url: requests through the front are judged by the network rules (a path outside the rule is a 403)', async () => {
    const before = anthropic.seen.length;
    const r = await s.session.exec(['bash', '-c', `curl -sS -i --max-time 20 -X POST -d '{}' "$ANTHROPIC_BASE_URL/v1/files"`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(r.stdout).toMatch(/X-Airlock-Denied: network\.default/i);
    expect(anthropic.seen.length).toBe(before);
  });

  it('egress.usage-event: network.request records carry mode base-url and the usage read from the response, priced', async () => {
    const r = await s.session.exec(['bash', '-c', curlPost('OPENAI_BASE_URL', '/chat/completions', { model: 'gpt-test', stream: true })]);
    expect(r.stdout).toMatch(/status=200$/);
    const sid = s.session.id;
    const stateDir = s.stateDir;
    await s.session.destroy();
    const net = auditRecords(stateDir, sid).filter((rec) => rec.type === 'network.request');
    const messages = net.filter((rec) => rec.data['path'] === '/v1/messages');
    expect(messages.length).toBe(2);
    const cost = (a.input * 3 + a.output * 15 + a.cacheRead * 0.3 + a.cacheWrite * 3.75) / 1e6;
    for (const m of messages) {
      expect(m.data).toMatchObject({
        method: 'POST',
        scheme: 'https',
        mode: 'base-url',
        host: 'api.anthropic.test',
        port: anthropic.port,
        verdict: 'allow',
        rule: 'anthropic',
        status: 200,
        injectedCredentials: ['anthropic'],
        usage: { model: 'claude-test-1', inputTokens: a.input, outputTokens: a.output, cacheReadTokens: a.cacheRead, cacheWriteTokens: a.cacheWrite },
      });
      expect(m.data['usage']).toHaveProperty('costUsd');
      expect((m.data['usage'] as { costUsd: number }).costUsd).toBeCloseTo(cost, 12);
    }
    // A model with no price: usage without a cost (no cost budget here, so nothing is spent).
    const chat = net.find((rec) => rec.data['path'] === '/v1/chat/completions');
    expect(chat?.data).toMatchObject({
      mode: 'base-url',
      verdict: 'log',
      usage: { model: 'gpt-test', inputTokens: c.prompt - c.cached, outputTokens: c.completion, cacheReadTokens: c.cached, cacheWriteTokens: 0 },
    });
    expect(chat?.data['usage']).not.toHaveProperty('costUsd');
    const denied = net.find((rec) => rec.data['path'] === '/v1/files');
    expect(denied?.data).toMatchObject({ mode: 'base-url', allowed: false, status: 403 });
    expect(denied?.data).not.toHaveProperty('usage');
    expect(JSON.stringify(net)).not.toContain(KEY);
    expect(JSON.stringify(net)).not.toContain('airlock-placeholder');
  });
});

describe('[egress.policy-prices] the cost budget priced by the policy, in a bwrap session', () => {
  it('egress.policy-prices: OpenAI and Anthropic streams are priced by the table; past the budget the next request gets 429 and a budget.exceeded record', async () => {
    const s = await llmSession(`  llm:
    prices:
      'claude-test-*': { inputPerMTok: 3, outputPerMTok: 15 }
      gpt-test: { inputPerMTok: 2, outputPerMTok: 8, cacheReadPerMTok: 1 }
  budgets: { cost: 0.0015 }
`);
    let outs: string[];
    try {
      outs = [];
      // 150 input at 2, 50 cached at 1, 20 output at 8 = 0.00051 USD.
      outs.push((await s.session.exec(['bash', '-c', curlPost('OPENAI_BASE_URL', '/chat/completions', { model: 'gpt-test', stream: true })])).stdout);
      // 100 + 10 + 5 input at 3 (cache at the input price), 50 output at 15 = 0.001095 USD: 0.001605 in all, past 0.0015.
      outs.push((await s.session.exec(['bash', '-c', curlPost('ANTHROPIC_BASE_URL', '/v1/messages', { model: 'claude-test-1', stream: true })])).stdout);
      outs.push((await s.session.exec(['bash', '-c', `curl -sS -i --max-time 20 -H "x-api-key: $ANTHROPIC_API_KEY" -d '{"model":"claude-test-1"}' "$ANTHROPIC_BASE_URL/v1/messages"`])).stdout);
    } finally {
      await s.session.destroy();
    }
    expect(outs[0]).toMatch(/status=200$/);
    expect(outs[1]).toMatch(/status=200$/);
    expect(outs[2]).toMatch(/^HTTP\/1\.1 429/);
    expect(outs[2]).toMatch(/X-Airlock-Denied: egress\.budget\.costUsd/i);
    expect(outs[2]).toMatch(/x-should-retry: false/i);
    expect(outs[2]).toContain('not a rate limit');
    const records = auditRecords(s.stateDir, s.session.id);
    const budget = records.filter((r) => r.type === 'budget.exceeded');
    expect(budget.length).toBe(1);
    expect(budget[0]?.data).toMatchObject({ budget: 'costUsd', limit: 0.0015, unit: 'USD' });
    expect(budget[0]?.data['used']).toBeCloseTo(0.00051 + 0.001095, 12);
    const refused = records.filter((r) => r.type === 'network.request' && r.data['status'] === 429);
    expect(refused.length).toBe(1);
  });

  it('egress.policy-prices: a model with no price spends the cost budget, and the 429 names it', async () => {
    const s = await llmSession(`  llm:
    prices:
      'claude-test-*': { inputPerMTok: 3, outputPerMTok: 15 }
  budgets: { cost: 5 }
`);
    let first: string;
    let second: string;
    try {
      first = (await s.session.exec(['bash', '-c', curlPost('OPENAI_BASE_URL', '/chat/completions', { model: 'gpt-test' })])).stdout;
      second = (await s.session.exec(['bash', '-c', `curl -sS -i --max-time 20 -H "x-api-key: $ANTHROPIC_API_KEY" -d '{"model":"claude-test-1"}' "$ANTHROPIC_BASE_URL/v1/messages"`])).stdout;
    } finally {
      await s.session.destroy();
    }
    expect(first).toMatch(/status=200$/);
    expect(second).toMatch(/^HTTP\/1\.1 429/);
    expect(second).toContain('the model "gpt-test" has no price');
    const budget = auditRecords(s.stateDir, s.session.id).find((r) => r.type === 'budget.exceeded');
    expect(budget?.data).toMatchObject({ budget: 'costUsd', subject: 'model gpt-test has no price' });
  });

  it('egress.policy-prices: a cost budget with no prices at all stops the session before it starts', async () => {
    const err = await createSession({
      workspace: tempDir('llm-ws'),
      stateDir: tempDir('llm-state'),
      backend: 'bwrap',
      policy: loadPolicy({ text: llmPolicy('  budgets: { cost: 5 }\n') }),
      egress: { testing: { resolver: resolver(), upstreamCa: pki.caPem } },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('E_POLICY_INVALID');
    expect((err as AirlockError).message).toContain('network.budgets.cost');
    expect((err as AirlockError).hint).toContain('network.llm.prices');
  });
});

/** Runs a program on the host, resolving with its stdout (the upstream lives in this process). */
function host(file: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, encoding: 'utf8', timeout: 60_000 }, (err, stdout) => {
      if (err !== null) reject(new Error(`${file} ${args.join(' ')}: ${err.message}`));
      else resolve(stdout);
    });
  });
}

describe('[egress.session-npm] npm install through the session proxy', () => {
  let registry: TestServer;
  let other: TestServer;
  let session: Session;
  let stateDir: string;
  let workspace: string;
  const events: AirlockEvent[] = [];
  let npmInside = true;

  beforeAll(async () => {
    // A tiny package, packed by the real npm on the host.
    const src = tempDir('npm-pkg');
    writeFileSync(join(src, 'package.json'), JSON.stringify({ name: 'airlock-tiny', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(src, 'index.js'), "module.exports = 'tiny from the fake registry';\n");
    const out = tempDir('npm-tgz');
    mkdirSync(out, { recursive: true });
    await host('npm', ['pack', '--silent', '--pack-destination', out], src);
    const tgz = readFileSync(join(out, 'airlock-tiny-1.0.0.tgz'));
    const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
    const shasum = createHash('sha1').update(tgz).digest('hex');
    registry = await startHttpsServer(pki, 'registry.example.test', (req, res) => {
      const base = `https://registry.example.test:${registry.port}`;
      if (req.url === '/airlock-tiny') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            name: 'airlock-tiny',
            'dist-tags': { latest: '1.0.0' },
            versions: {
              '1.0.0': {
                name: 'airlock-tiny',
                version: '1.0.0',
                main: 'index.js',
                dist: { tarball: `${base}/airlock-tiny/-/airlock-tiny-1.0.0.tgz`, integrity, shasum },
              },
            },
          }),
        );
        return;
      }
      if (req.url === '/airlock-tiny/-/airlock-tiny-1.0.0.tgz') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': tgz.length });
        res.end(tgz);
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
    });
    other = await startHttpsServer(pki, 'other-registry.example.test', (_req, res) => {
      res.end('{}');
    });
    stateDir = tempDir('npm-state');
    workspace = tempDir('npm-ws');
    writeFileSync(join(workspace, 'package.json'), JSON.stringify({ name: 'ws', version: '0.0.0', private: true }));
    session = await createSession({
      workspace,
      stateDir,
      backend: 'bwrap',
      policy: loadPolicy({
        text: `version: 1
exec: { default: allow }
files: { otherwise: { read: allow, write: allow } }
network:
  rules:
    - { id: registry, host: registry.example.test, ports: [${registry.port}], methods: [GET, HEAD], level: allow }
    - { id: test-upstreams, cidr: 127.0.0.1/32, ports: [${registry.port}, ${other.port}], level: ask }
`,
      }),
      egress: { testing: { resolver: resolver(), upstreamCa: pki.caPem } },
    });
    session.events.subscribe((e) => events.push(e));
    npmInside = (await session.exec(['sh', '-c', 'command -v npm'])).exitCode === 0;
  });

  afterAll(async () => {
    await session.destroy();
    await registry.close();
    await other.close();
  });

  const npmArgs = (registryUrl: string, pkg: string): string[] => [
    'npm', 'install', pkg, '--registry', registryUrl, '--cache', '/tmp/npm-cache',
    '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel', 'error',
  ];

  it('egress.session-npm: npm install from an allowed registry lands in the staged workspace, every GET recorded', { timeout: 120_000 }, async (ctx) => {
    if (!npmInside) ctx.skip('npm is not present inside the sandbox root, so npm install cannot run there');
    const r = await session.exec(npmArgs(`https://registry.example.test:${registry.port}/`, 'airlock-tiny'), { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const req = await session.exec(['node', '-e', "console.log(require('airlock-tiny'))"]);
    expect(req.stdout.trim()).toBe('tiny from the fake registry');
    const pkg = await session.exec(['cat', 'package.json']);
    expect(pkg.stdout).toContain('"airlock-tiny"');
    // Staged: the project itself is untouched until the changes are applied.
    expect(existsSync(join(workspace, 'node_modules'))).toBe(false);
    expect(registry.seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /airlock-tiny',
      'GET /airlock-tiny/-/airlock-tiny-1.0.0.tgz',
    ]);
    const net = events.flatMap((e) => (e.type === 'network.request' && e.data.host === 'registry.example.test' ? [e.data] : []));
    expect(net.map((d) => `${d.method} ${d.path ?? ''} ${d.status ?? ''} ${d.mode ?? ''} ${d.rule ?? ''}`)).toEqual([
      `GET /airlock-tiny 200 intercepted registry`,
      `GET /airlock-tiny/-/airlock-tiny-1.0.0.tgz 200 intercepted registry`,
    ]);
  });

  it('egress.session-npm: a registry no rule allows is refused with 403 and X-Airlock-Denied, and npm install fails', { timeout: 120_000 }, async (ctx) => {
    if (!npmInside) ctx.skip('npm is not present inside the sandbox root, so npm install cannot run there');
    const url = `https://other-registry.example.test:${other.port}/`;
    const curl = await session.exec(['curl', '-sS', '-v', '--max-time', '20', `${url}airlock-tiny`]);
    expect(curl.exitCode).not.toBe(0);
    expect(curl.stderr).toMatch(/< HTTP\/1\.1 403/);
    expect(curl.stderr).toMatch(/< X-Airlock-Denied: network\.default/i);
    const r = await session.exec(npmArgs(url, 'airlock-tiny'), { timeoutMs: 120_000 });
    expect(r.exitCode).not.toBe(0);
    expect(other.seen.length).toBe(0);
    const refused = events.filter((e) => e.type === 'network.request' && e.data.host === 'other-registry.example.test');
    expect(refused.length).toBeGreaterThanOrEqual(2);
    for (const e of refused) expect(e.data).toMatchObject({ method: 'CONNECT', verdict: 'deny', allowed: false, status: 403, rule: 'network.default' });
  });
});
