/**
 * Base-URL mode for LLM clients (plain HTTP in, verified HTTPS out, credential injected,
 * no interception) and `ask` verdicts (allow, deny, timeout).
 */
import { afterEach, describe, expect, it } from 'vitest';

import { createRuleDecider, type EgressAskRequest } from '../../../src/egress/index.js';
import { FAKE_USAGE, llmHandler } from './llm-fake.js';
import {
  connectTcp,
  eventually,
  makeTestPki,
  rawExchange,
  requestEvents,
  scriptedResolver,
  startHttpServer,
  startHttpsServer,
  startProxy,
  viaUndici,
} from './helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

const KEY = 'sk-ant-real-key-abcdefghijklmnop';

describe('base-URL mode', () => {
  async function setup(upstreamCa: 'trusted' | 'untrusted' = 'trusted') {
    const pki = makeTestPki();
    const server = await startHttpsServer(pki, 'api.anthropic.test', llmHandler);
    const proxy = await startProxy({
      decide: createRuleDecider([
        {
          id: 'anthropic',
          verdict: 'allow',
          hosts: ['api.anthropic.test'],
          ports: [server.port],
          methods: ['POST'],
          paths: ['/v1/messages'],
        },
      ]),
      resolver: scriptedResolver({ 'api.anthropic.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
      ...(upstreamCa === 'trusted' ? { upstreamCa: pki.caPem } : {}),
      secretEnv: { HOST_ANTHROPIC_KEY: KEY },
      credentials: [
        {
          id: 'anthropic',
          secret: 'env:HOST_ANTHROPIC_KEY',
          hosts: ['api.anthropic.test'],
          inject: { type: 'header', name: 'x-api-key' },
          env: ['ANTHROPIC_API_KEY'],
        },
      ],
      baseUrls: [
        {
          name: 'anthropic',
          upstream: `https://api.anthropic.test:${server.port}`,
          env: ['ANTHROPIC_BASE_URL'],
        },
      ],
      budgets: { outputTokens: 1_000_000 },
      llm: {
        endpoints: [{ host: 'api.anthropic.test', api: 'anthropic' }],
        prices: { '*': { inputPerMTok: 1, outputPerMTok: 1 } },
      },
    });
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    );
    return { proxy, server, env: proxy.proxy.sandboxEnv() };
  }

  it('[egress.base-url] forwards plain HTTP from the front over verified HTTPS, injecting the key and reading usage', async () => {
    const { proxy, server, env } = await setup();
    expect(env.ANTHROPIC_BASE_URL).toBe(`${proxy.url}/_airlock/base/anthropic`);
    expect(env.ANTHROPIC_API_KEY).toMatch(/^airlock-placeholder-anthropic-/);
    // What an SDK does with ANTHROPIC_BASE_URL: a direct request (127.0.0.1 is in NO_PROXY).
    const res = await fetch(`${env.ANTHROPIC_BASE_URL ?? ''}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': env.ANTHROPIC_API_KEY ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-test-1' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { usage: { output_tokens: number } }).usage.output_tokens).toBe(
      FAKE_USAGE.anthropic.output,
    );
    expect(server.seen[0]?.headers['x-api-key']).toBe(KEY);
    expect(server.seen[0]?.headers.host).toBe(`api.anthropic.test:${server.port}`);
    await eventually(() => requestEvents(proxy.events).length === 1);
    expect(requestEvents(proxy.events)[0]).toMatchObject({
      mode: 'base-url',
      scheme: 'https',
      host: 'api.anthropic.test',
      path: '/v1/messages',
      credential: 'anthropic',
      status: 200,
    });
    expect(requestEvents(proxy.events)[0]?.usage?.outputTokens).toBe(FAKE_USAGE.anthropic.output);
    expect(proxy.proxy.stats().outputTokens).toBe(FAKE_USAGE.anthropic.output);
  });

  it('[egress.base-url-no-proxy-ignored] accepts the same request sent as an absolute URI by a client that ignores NO_PROXY', async () => {
    const { proxy, server, env } = await setup();
    const res = await viaUndici(proxy.url, `${env.ANTHROPIC_BASE_URL ?? ''}/v1/messages`, {
      method: 'POST',
      body: '{}',
      headers: { 'x-api-key': env.ANTHROPIC_API_KEY ?? '' },
    });
    expect(res.status).toBe(200);
    expect(server.seen[0]?.headers['x-api-key']).toBe(KEY);
  });

  it('[egress.base-url-policy] still applies the policy and own-credential rules to base-URL requests', async () => {
    const { env, server } = await setup();
    const other = await fetch(`${env.ANTHROPIC_BASE_URL ?? ''}/v1/files`, {
      method: 'POST',
      headers: { 'x-api-key': env.ANTHROPIC_API_KEY ?? '' },
    });
    expect(other.status).toBe(403);
    const own = await fetch(`${env.ANTHROPIC_BASE_URL ?? ''}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': 'sk-ant-agents-own' },
      body: '{}',
    });
    expect(own.status).toBe(403);
    expect(own.headers.get('x-airlock-denied')).toBe('egress.own-credential');
    expect(own.headers.get('x-should-retry')).toBe('false');
    const unknown = await fetch(
      `${env.ANTHROPIC_BASE_URL?.replace('/anthropic', '/nope') ?? ''}/v1/messages`,
      { method: 'POST' },
    );
    expect(unknown.status).toBe(400);
    expect(await unknown.text()).toContain('no base URL named "nope"');
    expect(server.seen.length).toBe(0);
  });

  it('[egress.base-url-verified] refuses an upstream whose certificate the host does not trust', async () => {
    const { env, server } = await setup('untrusted');
    const res = await fetch(`${env.ANTHROPIC_BASE_URL ?? ''}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': env.ANTHROPIC_API_KEY ?? '' },
      body: '{}',
    });
    expect(res.status).toBe(502);
    expect(await res.text()).toMatch(/certificate/i);
    expect(server.seen.length).toBe(0);
  });
});

describe('ask', () => {
  async function setup(answer: (req: EgressAskRequest) => Promise<'allow' | 'deny'>, askTimeoutMs = 5000) {
    const server = await startHttpServer((_req, res) => {
      res.end('ok');
    });
    const asked: EgressAskRequest[] = [];
    const proxy = await startProxy({
      decide: createRuleDecider([
        { id: 'ask-me', verdict: 'ask', hosts: ['ask.example.test'], ports: [server.port] },
      ]),
      resolver: scriptedResolver({ 'ask.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
      askTimeoutMs,
      ask: (req) => {
        asked.push(req);
        return answer(req);
      },
    });
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    );
    return { proxy, server, asked, url: `http://ask.example.test:${server.port}/thing` };
  }

  it('[egress.ask-allow] holds the request until a person allows it', async () => {
    const { proxy, asked, url } = await setup(async () => {
      await new Promise((r) => setTimeout(r, 50));
      return 'allow';
    });
    const res = await viaUndici(proxy.url, url);
    expect(res.status).toBe(200);
    expect(asked[0]).toMatchObject({
      host: 'ask.example.test',
      method: 'GET',
      path: '/thing',
      scheme: 'http',
      ruleId: 'ask-me',
    });
    await eventually(() => requestEvents(proxy.events).length === 1);
    expect(requestEvents(proxy.events)[0]).toMatchObject({ verdict: 'ask', answer: 'allow', allowed: true });
  });

  it('[egress.ask-deny] refuses when the person denies, naming the rule', async () => {
    const { proxy, server, url } = await setup(() => Promise.resolve('deny'));
    const res = await viaUndici(proxy.url, url);
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('ask-me');
    expect(res.body).toContain('a person denied it');
    expect(server.seen.length).toBe(0);
  });

  it('[egress.ask-timeout] treats no answer in time as a deny and aborts the question', async () => {
    const { proxy, asked, url } = await setup(() => new Promise<'allow'>(() => undefined), 100);
    const res = await viaUndici(proxy.url, url);
    expect(res.status).toBe(403);
    expect(res.body).toContain('no answer came in time');
    expect(asked[0]?.signal.aborted).toBe(true);
    await eventually(() => requestEvents(proxy.events).length === 1);
    expect(requestEvents(proxy.events)[0]).toMatchObject({
      verdict: 'ask',
      answer: 'timeout',
      allowed: false,
    });
  });

  it('[egress.ask-rejects] treats a failing ask as a deny, and ask without a callback as a deny', async () => {
    const { proxy, url } = await setup(() => Promise.reject(new Error('approvals down')));
    expect((await viaUndici(proxy.url, url)).status).toBe(403);
    const server = await startHttpServer((_req, res) => {
      res.end('ok');
    });
    const noAsk = await startProxy({
      decide: createRuleDecider([
        { id: 'ask-me', verdict: 'ask', hosts: ['ask.example.test'], ports: [server.port] },
      ]),
      resolver: scriptedResolver({ 'ask.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
    });
    cleanup.push(
      () => noAsk.close(),
      () => server.close(),
    );
    const socket = await connectTcp(noAsk.bridge.port);
    const res = await rawExchange(
      socket,
      `GET http://ask.example.test:${server.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.body).toContain('no one can be asked');
  });

  it('[egress.decide-error] treats a throwing policy as a deny', async () => {
    const server = await startHttpServer((_req, res) => {
      res.end('ok');
    });
    const proxy = await startProxy({
      decide: () => {
        throw new Error('policy exploded');
      },
      resolver: scriptedResolver({}),
      intercept: false,
    });
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    );
    const res = await viaUndici(proxy.url, `http://127.0.0.1:${server.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.decide-error');
    expect(server.seen.length).toBe(0);
  });
});
