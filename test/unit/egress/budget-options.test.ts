/**
 * Budget accounting and option validation: exact limits, one report per budget, and
 * option errors that name the option, the bad value and the fix.
 */
import { describe, expect, it } from 'vitest';

import { isAirlockError } from '../../../src/errors/index.js';
import { BudgetTracker, type BudgetBreach } from '../../../src/egress/budget.js';
import { normalizeOptions } from '../../../src/egress/options.js';
import type { EgressProxyOptions } from '../../../src/egress/types.js';

describe('[egress.budgets] BudgetTracker', () => {
  it('spends a request budget after exactly the limit', () => {
    const breaches: BudgetBreach[] = [];
    const t = new BudgetTracker({ requests: 2 }, (b) => breaches.push(b));
    expect(t.spent()).toBeNull();
    t.addRequest();
    expect(t.spent()).toBeNull();
    t.addRequest();
    expect(t.spent()).toEqual({ budget: 'requests', limit: 2, used: 2 });
    expect(breaches).toEqual([]); // reported when a request is refused, not before
    t.report({ budget: 'requests', limit: 2, used: 2 });
    t.report({ budget: 'requests', limit: 2, used: 2 });
    expect(breaches).toHaveLength(1);
  });

  it('cuts bytes only past the limit and reports once', () => {
    const breaches: BudgetBreach[] = [];
    const t = new BudgetTracker({ bytesDown: 100 }, (b) => breaches.push(b));
    expect(t.addBytesDown(100)).toBe(true);
    expect(t.addBytesDown(1)).toBe(false);
    expect(t.addBytesDown(1)).toBe(false);
    expect(breaches).toEqual([{ budget: 'bytesDown', limit: 100, used: 101 }]);
  });

  it('counts LLM usage and spends a cost budget on an unpriced model', () => {
    const breaches: BudgetBreach[] = [];
    const t = new BudgetTracker({ costUsd: 1, inputTokens: 1000 }, (b) => breaches.push(b));
    expect(t.tracksLlm).toBe(true);
    t.addUsage(
      { model: 'm', inputTokens: 100, outputTokens: 10, cacheReadTokens: 50, cacheWriteTokens: 5 },
      0.5,
    );
    expect(t.used).toMatchObject({ inputTokens: 155, outputTokens: 10, costUsd: 0.5 });
    expect(t.spent()).toBeNull();
    t.addUsage(
      { model: 'unknown-model', inputTokens: 1, outputTokens: 1, cacheReadTokens: 0, cacheWriteTokens: 0 },
      null,
    );
    expect(t.spent()).toEqual({ budget: 'costUsd', limit: 1, used: 0.5, unpriced: 'unknown-model' });
    expect(breaches).toEqual([{ budget: 'costUsd', limit: 1, used: 0.5, unpriced: 'unknown-model' }]);
  });

  it('[egress.budget-cost] counts total tokens (input with cache, plus output) against a tokens budget', () => {
    const t = new BudgetTracker({ tokens: 200 }, () => undefined);
    expect(t.tracksLlm).toBe(true);
    t.addUsage(
      { model: 'm', inputTokens: 100, outputTokens: 40, cacheReadTokens: 50, cacheWriteTokens: 5 },
      null,
    );
    expect(t.used.tokens).toBe(195);
    expect(t.spent()).toBeNull();
    t.addUsage(
      { model: 'm', inputTokens: 5, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 },
      null,
    );
    expect(t.spent()).toEqual({ budget: 'tokens', limit: 200, used: 200 });
  });

  it('does not read LLM responses when no token or cost budget is set', () => {
    expect(new BudgetTracker({ requests: 5 }, () => undefined).tracksLlm).toBe(false);
  });
});

const base: EgressProxyOptions = {
  socketPath: '/tmp/airlock-test/egress.sock',
  sandboxPort: 3128,
  caPathInSandbox: '/run/airlock/ca.pem',
  decide: () => ({ verdict: 'deny', ruleId: 'x', reason: 'x' }),
};

function optionError(options: unknown): string {
  try {
    normalizeOptions(options as EgressProxyOptions);
  } catch (err) {
    if (isAirlockError(err) && err.code === 'E_CONFIG_INVALID') return err.message;
    throw err;
  }
  return 'no error';
}

describe('[egress.options] normalizeOptions', () => {
  it('accepts minimal options and fills defaults', () => {
    const o = normalizeOptions(base);
    expect(o).toMatchObject({
      intercept: true,
      askTimeoutMs: 120_000,
      requireTlsInTunnels: true,
      connectTimeoutMs: 10_000,
    });
    expect(o.llmEndpoints.map((e) => [e.host.text, e.api])).toEqual([
      ['api.anthropic.com', 'anthropic'],
      ['api.openai.com', 'openai'],
    ]);
  });

  it.each([
    [
      { ...base, extra: 1 },
      expect.stringMatching(
        /^egress\.\(options\): unknown option "extra" \(valid options: socketPath, sandboxPort, .*\)$/,
      ) as string,
    ],
    [{ ...base, socketPath: 'relative.sock' }, 'egress.socketPath: must be an absolute path'],
    [
      { ...base, socketPath: `/${'x'.repeat(120)}` },
      'egress.socketPath: is longer than a unix socket path may be (107 bytes)',
    ],
    [{ ...base, sandboxPort: 0 }, 'egress.sandboxPort: Too small: expected number to be >=1'],
    [
      { ...base, caPathInSandbox: undefined },
      'egress.caPathInSandbox: is required when TLS interception is on',
    ],
    [{ ...base, decide: 'allow' }, 'egress.decide: must be a function'],
    [
      { ...base, cidrAllow: ['127.0.0.1/32', '10.0.0.1/8'] },
      'egress.cidrAllow[1]: "10.0.0.1/8" is not a CIDR range (or has bits set below its prefix)',
    ],
    [
      { ...base, baseUrls: [{ name: 'a', upstream: 'http://api.example.com' }] },
      'egress.baseUrls[0].upstream: "http://api.example.com" is not an https:// base URL without a query',
    ],
    [
      { ...base, baseUrls: [{ name: 'A B', upstream: 'https://x.com' }] },
      'egress.baseUrls[0].name: must be lowercase letters, digits and "-"',
    ],
    [
      {
        ...base,
        credentials: [
          { id: 'a', secret: 'env:A', hosts: ['*'], inject: { type: 'header', name: 'authorization' } },
        ],
      },
      'egress.credentials[0].hosts: "*" would send the credential to every host',
    ],
    [
      {
        ...base,
        credentials: [
          { id: 'a', secret: 'env:A', hosts: ['a.com'], inject: { type: 'header', name: 'authorization' } },
          { id: 'a', secret: 'env:B', hosts: ['b.com'], inject: { type: 'header', name: 'authorization' } },
        ],
      },
      'egress.credentials[1].id: "a" is used twice',
    ],
    [
      { ...base, credentials: [{ id: 'a', secret: 'env:A', hosts: ['a.com'], inject: { type: 'cookie' } }] },
      "egress.credentials[0].inject.type: Invalid discriminator value. Expected 'header' | 'basic'",
    ],
    [
      {
        ...base,
        credentials: [
          { id: 'a', secret: 'env:A', hosts: ['a.com'], inject: { type: 'header', name: 'bad header' } },
        ],
      },
      'egress.credentials[0].inject.name: must be an HTTP header name',
    ],
    [{ ...base, budgets: { requests: -1 } }, 'egress.budgets.requests: Too small: expected number to be >=0'],
    [{ ...base, budgets: { dollars: 5 } }, 'egress.budgets: unknown option "dollars"'],
    [
      { ...base, llm: { prices: { m: { inputPerMTok: 1 } } } },
      'egress.llm.prices.m.outputPerMTok: Invalid input: expected number, received undefined',
    ],
  ])('refuses %#', (options, message) => {
    expect(optionError(options)).toEqual(message);
  });
});
