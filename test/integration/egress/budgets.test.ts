/**
 * Budgets: requests, bytes, and LLM tokens and cost read from Anthropic and OpenAI usage
 * fields (JSON, gzip and server-sent events), with 429 and an event past a budget.
 */
import { afterEach, describe, expect, it } from 'vitest';

import {
  createRuleDecider,
  type EgressBudgetEvent,
  type EgressBudgets,
  type EgressEvent,
} from '../../../src/egress/index.js';
import { FAKE_USAGE, llmHandler } from './llm-fake.js';
import {
  eventually,
  makeTestPki,
  rawConnect,
  requestEvents,
  scriptedResolver,
  startHttpServer,
  startHttpsServer,
  startProxy,
  viaUndici,
  type TestProxy,
  type TestServer,
} from './helpers.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

const budgetEvents = (events: readonly EgressEvent[]): EgressBudgetEvent[] =>
  events.filter((e): e is EgressBudgetEvent => e.type === 'egress.budget_exceeded');

async function llmSetup(
  budgets: EgressBudgets,
  prices?: Record<string, { inputPerMTok: number; outputPerMTok: number; cacheReadPerMTok?: number }>,
): Promise<{
  proxy: TestProxy;
  server: TestServer;
  post: (
    path: string,
    body: object,
  ) => Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }>;
}> {
  const pki = makeTestPki();
  const server = await startHttpsServer(pki, 'api.llm.test', llmHandler);
  const proxy = await startProxy({
    decide: createRuleDecider([
      { id: 'llm', verdict: 'allow', hosts: ['api.llm.test'], ports: [server.port] },
    ]),
    resolver: scriptedResolver({ 'api.llm.test': [['127.0.0.1']] }),
    cidrAllow: ['127.0.0.1/32'],
    upstreamCa: pki.caPem,
    budgets,
    llm: {
      endpoints: [{ host: 'api.llm.test', api: 'anthropic' }],
      ...(prices !== undefined ? { prices } : {}),
    },
  });
  cleanup.push(
    () => proxy.close(),
    () => server.close(),
  );
  const post = (path: string, body: object) =>
    viaUndici(proxy.url, `https://api.llm.test:${server.port}${path}`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      ca: [proxy.proxy.caCertPem ?? ''],
    });
  return { proxy, server, post };
}

describe('LLM usage', () => {
  const prices = { 'claude-test-*': { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3 } };
  const a = FAKE_USAGE.anthropic;
  const anthropicCost = (a.input * 3 + a.output * 15 + a.cacheRead * 0.3 + a.cacheWrite * 3) / 1e6;

  it('[egress.llm-usage] reads Anthropic Messages usage from JSON and from the event stream, and prices it', async () => {
    const { proxy, post } = await llmSetup({ costUsd: 100 }, prices);
    expect((await post('/v1/messages', { model: 'claude-test-1' })).status).toBe(200);
    const streamed = await post('/v1/messages', { model: 'claude-test-1', stream: true });
    expect(streamed.status).toBe(200);
    expect(streamed.body).toContain('message_delta');
    await eventually(() => requestEvents(proxy.events).filter((e) => e.usage !== null).length === 2);
    for (const ev of requestEvents(proxy.events)) {
      expect(ev.mode).toBe('intercepted');
      expect(ev.usage).toEqual({
        model: 'claude-test-1',
        inputTokens: a.input,
        outputTokens: a.output,
        cacheReadTokens: a.cacheRead,
        cacheWriteTokens: a.cacheWrite,
        costUsd: expect.closeTo(anthropicCost, 12) as number,
      });
    }
    const stats = proxy.proxy.stats();
    expect(stats.inputTokens).toBe(2 * (a.input + a.cacheRead + a.cacheWrite));
    expect(stats.outputTokens).toBe(2 * a.output);
    expect(stats.costUsd).toBeCloseTo(2 * anthropicCost, 12);
  });

  it('[egress.llm-usage-openai] reads OpenAI Chat Completions (gzip JSON, stream) and Responses (stream) usage', async () => {
    const pki = makeTestPki();
    const server = await startHttpsServer(pki, 'api.openai.test', llmHandler);
    const proxy = await startProxy({
      decide: createRuleDecider([
        { id: 'openai', verdict: 'allow', hosts: ['api.openai.test'], ports: [server.port] },
      ]),
      resolver: scriptedResolver({ 'api.openai.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      upstreamCa: pki.caPem,
      budgets: { outputTokens: 1_000_000 },
      llm: { endpoints: [{ host: 'api.openai.test', api: 'openai' }] },
    });
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    );
    const post = (path: string, body: object) =>
      viaUndici(proxy.url, `https://api.openai.test:${server.port}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        ca: [proxy.proxy.caCertPem ?? ''],
      });
    const json = await post('/v1/chat/completions', {});
    expect(json.status).toBe(200);
    // The client got the body it asked for, compressed or not; undici leaves decoding to the caller.
    expect(json.headers['content-encoding']).toBe('gzip');
    expect((await post('/v1/chat/completions', { stream: true })).status).toBe(200);
    expect((await post('/v1/responses', { stream: true })).status).toBe(200);
    await eventually(() => requestEvents(proxy.events).filter((e) => e.usage !== null).length === 3);
    const usages = requestEvents(proxy.events).map((e) => e.usage);
    const c = FAKE_USAGE.chat;
    const r = FAKE_USAGE.responses;
    expect(usages).toEqual([
      {
        model: c.model,
        inputTokens: c.prompt - c.cached,
        outputTokens: c.completion,
        cacheReadTokens: c.cached,
        cacheWriteTokens: 0,
        costUsd: null,
      },
      {
        model: c.model,
        inputTokens: c.prompt - c.cached,
        outputTokens: c.completion,
        cacheReadTokens: c.cached,
        cacheWriteTokens: 0,
        costUsd: null,
      },
      {
        model: r.model,
        inputTokens: r.input,
        outputTokens: r.output,
        cacheReadTokens: 0,
        cacheWriteTokens: 0,
        costUsd: null,
      },
    ]);
    expect(proxy.proxy.stats().outputTokens).toBe(2 * c.completion + r.output);
  });

  it('[egress.budget-cost] answers 429 with an explanation once the cost budget is spent, and reports it once', async () => {
    const { proxy, post, server } = await llmSetup({ costUsd: anthropicCost * 1.5 }, prices);
    expect((await post('/v1/messages', {})).status).toBe(200);
    expect((await post('/v1/messages', {})).status).toBe(200); // crosses the line; it completes
    const refused = await post('/v1/messages', {});
    expect(refused.status).toBe(429);
    expect(refused.headers['x-airlock-denied']).toBe('egress.budget.costUsd');
    expect(refused.body).toContain('budget for LLM cost in US dollars is spent');
    expect(refused.body).toContain('not a rate limit');
    expect(server.seen.length).toBe(2);
    await post('/v1/messages', {});
    expect(budgetEvents(proxy.events)).toEqual([
      {
        type: 'egress.budget_exceeded',
        time: expect.any(String) as string,
        budget: 'costUsd',
        unit: 'USD',
        limit: anthropicCost * 1.5,
        used: expect.closeTo(2 * anthropicCost, 12) as number,
        unpricedModel: null,
      },
    ]);
  });

  it('[egress.budget-unpriced] spends a cost budget when a model has no price, and says which model', async () => {
    const { post } = await llmSetup({ costUsd: 10 }, prices);
    expect((await post('/v1/messages', { model: 'mystery-model' })).status).toBe(200);
    const refused = await post('/v1/messages', {});
    expect(refused.status).toBe(429);
    expect(refused.body).toContain('"mystery-model" has no price');
  });

  it('[egress.budget-tokens] refuses past an output token budget', async () => {
    const { post } = await llmSetup({ outputTokens: a.output });
    expect((await post('/v1/messages', { stream: true })).status).toBe(200);
    const refused = await post('/v1/messages', {});
    expect(refused.status).toBe(429);
    expect(refused.headers['x-airlock-denied']).toBe('egress.budget.outputTokens');
  });
});

describe('request and byte budgets', () => {
  async function plainSetup(
    budgets: EgressBudgets,
    size = 10,
  ): Promise<{ proxy: TestProxy; server: TestServer }> {
    const server = await startHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(Buffer.alloc(size, 0x61));
    });
    const proxy = await startProxy({
      decide: createRuleDecider([
        { id: 'any', verdict: 'allow', hosts: ['data.example.test'], ports: [server.port] },
      ]),
      resolver: scriptedResolver({ 'data.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
      budgets,
    });
    cleanup.push(
      () => proxy.close(),
      () => server.close(),
    );
    return { proxy, server };
  }

  it('[egress.budget-requests] allows exactly the budgeted number of requests', async () => {
    const { proxy, server } = await plainSetup({ requests: 2 });
    const url = `http://data.example.test:${server.port}/`;
    expect((await viaUndici(proxy.url, url)).status).toBe(200);
    expect((await viaUndici(proxy.url, url)).status).toBe(200);
    const third = await viaUndici(proxy.url, url);
    expect(third.status).toBe(429);
    expect(third.body).toContain('budget for requests is spent: 2 used of 2');
    const { response } = await rawConnect(proxy.bridge.port, `data.example.test:${server.port}`);
    expect(response.status).toBe(429);
    expect(server.seen.length).toBe(2);
    expect(budgetEvents(proxy.events).map((e) => e.budget)).toEqual(['requests']);
    expect(proxy.proxy.stats()).toMatchObject({ allowed: 2, denied: 2, budgetsExceeded: ['requests'] });
  });

  it('[egress.budget-bytes] cuts a download that goes past the bytesDown budget and refuses the next request', async () => {
    const { proxy, server } = await plainSetup({ bytesDown: 100_000 }, 1_000_000);
    const url = `http://data.example.test:${server.port}/big`;
    await expect(viaUndici(proxy.url, url)).rejects.toThrow();
    await eventually(() => requestEvents(proxy.events).length === 1);
    const ev = requestEvents(proxy.events)[0];
    expect(ev?.error).toBe('cut: the bytesDown budget is spent');
    expect(ev?.bytesDown).toBeLessThan(1_000_000);
    expect(budgetEvents(proxy.events).map((e) => e.budget)).toEqual(['bytesDown']);
    expect((await viaUndici(proxy.url, url)).status).toBe(429);
  });

  it('[egress.budget-bytes-up] cuts an upload that goes past the bytesUp budget', async () => {
    const { proxy, server } = await plainSetup({ bytesUp: 1000 });
    const res = await viaUndici(proxy.url, `http://data.example.test:${server.port}/up`, {
      method: 'POST',
      body: Buffer.alloc(500_000),
    }).catch((err: unknown) => err);
    expect(res).toBeInstanceOf(Error);
    await eventually(() => budgetEvents(proxy.events).length === 1);
    expect(budgetEvents(proxy.events)[0]?.budget).toBe('bytesUp');
  });
});
