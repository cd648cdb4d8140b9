/**
 * The session's translation of a policy's `network` section into the egress proxy's terms:
 * decide through the policy part's own `decide`, tunnels intercepted when a rule looks at
 * methods or paths, credentials, budgets and the CIDR ranges the SSRF guard lets through.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/index.js';
import { AirlockError } from '../../src/errors/index.js';
import {
  allowedCidrs,
  baseUrlRoutes,
  createPolicyDecide,
  credentialBindings,
  egressBudgets,
  egressEnabled,
  egressLlm,
  policyWantsEgress,
  toNetworkRequestData,
} from '../../src/session/egress.js';

const policy = loadPolicy({
  text: `version: 1
network:
  default: deny
  rules:
    - { id: npm, host: registry.npmjs.org, methods: [GET, HEAD, CONNECT], level: allow }
    - { id: gh-read, host: api.github.com, methods: [GET], paths: ['/repos/**'], level: log }
    - { id: corp, host: '*.corp.example.com', level: ask }
    - { id: internal, cidr: 10.1.0.0/16, ports: [8080], level: ask }
    - { id: metadata, cidr: 169.254.169.254/32, level: deny }
  credentials:
    - { id: gh, hosts: [api.github.com], secret: 'env:GITHUB_TOKEN', inject: { header: Authorization, format: 'Bearer {secret}' } }
    - { hosts: [git.example.com], secret: 'file:/run/secrets/git', methods: [GET], inject: { basic: { username: x-access-token } } }
  budgets: { requests: 100, bytesDown: 1000000, cost: 2 }
`,
});

describe('createPolicyDecide', () => {
  const decide = createPolicyDecide(policy);

  it('egress.policy-decide: an opaque tunnel is judged as CONNECT by the policy', () => {
    expect(decide({ host: 'registry.npmjs.org', port: 443, scheme: 'https' })).toEqual({
      verdict: 'allow',
      ruleId: 'npm',
      reason: expect.any(String) as string,
    });
    expect(decide({ host: 'evil.example.org', port: 443, scheme: 'https' })).toMatchObject({ verdict: 'deny', ruleId: 'network.default' });
    expect(decide({ host: 'x.corp.example.com', port: 443, scheme: 'https' })).toMatchObject({ verdict: 'ask', ruleId: 'corp' });
  });

  it('egress.policy-decide: a host with method or path rules is intercepted, and each request inside is judged', () => {
    const tunnel = decide({ host: 'api.github.com', port: 443, scheme: 'https' });
    expect(tunnel).toMatchObject({ verdict: 'allow', inspect: true });
    expect(decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'GET', path: '/repos/a/b' })).toMatchObject({ verdict: 'log', ruleId: 'gh-read' });
    expect(decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'POST', path: '/repos/a/b' })).toMatchObject({ verdict: 'deny' });
    expect(decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'GET', path: '/user' })).toMatchObject({ verdict: 'deny' });
  });

  it('egress.policy-decide: plain HTTP is judged with method and path; CONNECT-only rules do not cover requests', () => {
    expect(decide({ host: 'registry.npmjs.org', port: 80, scheme: 'http', method: 'GET', path: '/x' })).toMatchObject({ verdict: 'allow' });
    expect(decide({ host: 'registry.npmjs.org', port: 80, scheme: 'http', method: 'PUT', path: '/x' })).toMatchObject({ verdict: 'deny' });
  });

  it('egress.policy-decide: CIDR rules apply to IP literals; invalid hosts and ports are denied', () => {
    expect(decide({ host: '10.1.2.3', port: 8080, scheme: 'https' })).toMatchObject({ verdict: 'ask', ruleId: 'internal' });
    expect(decide({ host: '10.1.2.3', port: 443, scheme: 'https' })).toMatchObject({ verdict: 'deny' });
    expect(decide({ host: '169.254.169.254', port: 80, scheme: 'http', method: 'GET', path: '/' })).toMatchObject({ verdict: 'deny', ruleId: 'metadata' });
    expect(decide({ host: 'a@b', port: 443, scheme: 'https' })).toMatchObject({ verdict: 'deny', ruleId: 'network.invalid-host' });
  });

  it('egress.deny-by-default: without a policy everything is denied', () => {
    expect(createPolicyDecide(undefined)({ host: 'registry.npmjs.org', port: 443, scheme: 'https' })).toMatchObject({ verdict: 'deny' });
  });
});

describe('policy to proxy options', () => {
  it('credentials become bindings: header format split, basic auth, default ids', () => {
    expect(credentialBindings(policy)).toEqual([
      { id: 'gh', secret: 'env:GITHUB_TOKEN', hosts: ['api.github.com'], inject: { type: 'header', name: 'authorization', prefix: 'Bearer ' } },
      { id: 'credential-1', secret: 'file:/run/secrets/git', hosts: ['git.example.com'], methods: ['GET'], inject: { type: 'basic', username: 'x-access-token' } },
    ]);
  });

  it('a credential\'s env list becomes the binding\'s placeholder variables; a bad name is refused', () => {
    const p = loadPolicy({
      text: "version: 1\nnetwork:\n  credentials:\n    - { id: anthropic, hosts: [api.anthropic.com], secret: 'env:ANTHROPIC_API_KEY', env: [ANTHROPIC_API_KEY], inject: { header: x-api-key } }\n",
    });
    expect(credentialBindings(p)).toEqual([
      { id: 'anthropic', secret: 'env:ANTHROPIC_API_KEY', hosts: ['api.anthropic.com'], env: ['ANTHROPIC_API_KEY'], inject: { type: 'header', name: 'x-api-key' } },
    ]);
    expect(() =>
      loadPolicy({ text: "version: 1\nnetwork:\n  credentials:\n    - { hosts: [a.example.com], secret: 'env:X', env: ['BAD-NAME'], inject: { header: x-api-key } }\n" }),
    ).toThrow(/env/);
  });

  it('budgets map onto the proxy budgets (cost in USD)', () => {
    expect(egressBudgets(policy)).toEqual({ requests: 100, bytesDown: 1000000, costUsd: 2 });
    expect(egressBudgets(loadPolicy({ text: 'version: 1\n' }))).toBeUndefined();
  });

  it('egress.ssrf: only CIDR rules that can let traffic out open the guard', () => {
    expect(allowedCidrs(policy)).toEqual(['10.1.0.0/16']);
  });

  it('the proxy starts when the network section can let anything out, or when asked', () => {
    expect(policyWantsEgress(policy)).toBe(true);
    expect(policyWantsEgress(undefined)).toBe(false);
    expect(policyWantsEgress(loadPolicy({ text: 'version: 1\nnetwork: { default: deny }\n' }))).toBe(false);
    expect(policyWantsEgress(loadPolicy({ text: 'version: 1\nnetwork: { default: ask }\n' }))).toBe(true);
    expect(egressEnabled(undefined, policy)).toBe(true);
    expect(egressEnabled(false, policy)).toBe(false);
    expect(egressEnabled(true, undefined)).toBe(true);
    expect(egressEnabled({}, undefined)).toBe(true);
  });
});

const LLM_POLICY = `version: 1
network:
  rules:
    - { id: anthropic, host: api.anthropic.com, methods: [POST], paths: ['/v1/messages'], level: allow }
  baseUrls:
    - { name: anthropic, upstream: 'https://api.anthropic.com', env: [ANTHROPIC_BASE_URL] }
    - { name: gateway, upstream: 'https://llm.corp.example.com/openai/v1', env: [OPENAI_BASE_URL], api: openai }
  llm:
    endpoints: [{ host: '*.openai.azure.com', api: openai }]
    prices:
      'claude-sonnet-4*': { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 }
      '*': { inputPerMTok: 15, outputPerMTok: 75 }
  budgets: { cost: 10 }
`;

describe('base URLs and prices from the policy', () => {
  it('egress.session-base-url: base URLs become proxy routes, and alone they start the proxy', () => {
    const p = loadPolicy({ text: LLM_POLICY });
    expect(baseUrlRoutes(p)).toEqual([
      { name: 'anthropic', upstream: 'https://api.anthropic.com', env: ['ANTHROPIC_BASE_URL'] },
      { name: 'gateway', upstream: 'https://llm.corp.example.com/openai/v1', env: ['OPENAI_BASE_URL'], api: 'openai' },
    ]);
    expect(baseUrlRoutes(undefined)).toEqual([]);
    const only = loadPolicy({ text: "version: 1\nnetwork:\n  baseUrls: [{ name: a, upstream: 'https://api.anthropic.com' }]\n" });
    expect(policyWantsEgress(only)).toBe(true);
  });

  it('egress.session-base-url: a base URL that is not https, carries a query or credentials, reuses a name or takes over a proxy variable is refused', () => {
    const bad: Array<[string, RegExp]> = [
      ["{ name: a, upstream: 'http://api.anthropic.com' }", /not an https:\/\/ base URL/],
      ["{ name: a, upstream: 'https://api.anthropic.com/?k=1' }", /without credentials, query or fragment/],
      ["{ name: a, upstream: 'https://u:p@api.anthropic.com' }", /without credentials/],
      ["{ name: A, upstream: 'https://api.anthropic.com' }", /lowercase letters/],
      ["{ name: a, upstream: 'https://api.anthropic.com', env: [HTTPS_PROXY] }", /set by the session's egress itself/],
      ["{ name: a, upstream: 'https://api.anthropic.com', env: [npm_config_cafile] }", /set by the session's egress itself/],
      ["{ name: a, upstream: 'https://api.anthropic.com', api: gemini }", /anthropic|openai/],
      ["{ name: a, upstream: 'https://api.anthropic.com', typo: 1 }", /typo/],
    ];
    for (const [entry, message] of bad) {
      expect(() => loadPolicy({ text: `version: 1\nnetwork:\n  baseUrls:\n    - ${entry}\n`, path: 'airlock.yaml' })).toThrow(message);
    }
    expect(() =>
      loadPolicy({
        text: "version: 1\nnetwork:\n  baseUrls:\n    - { name: a, upstream: 'https://a.example.com' }\n    - { name: a, upstream: 'https://b.example.com' }\n",
      }),
    ).toThrow(/"a" is used twice/);
  });

  it('egress.policy-prices: prices and endpoints reach the proxy; the caller\'s prices win key by key', () => {
    const p = loadPolicy({ text: LLM_POLICY });
    expect(egressLlm(p, undefined)).toEqual({
      endpoints: [{ host: '*.openai.azure.com', api: 'openai' }],
      prices: {
        'claude-sonnet-4*': { inputPerMTok: 3, outputPerMTok: 15, cacheReadPerMTok: 0.3, cacheWritePerMTok: 3.75 },
        '*': { inputPerMTok: 15, outputPerMTok: 75 },
      },
    });
    expect(egressLlm(p, { '*': { inputPerMTok: 1, outputPerMTok: 2 } }).prices['*']).toEqual({ inputPerMTok: 1, outputPerMTok: 2 });
    // No endpoints in the policy: the proxy keeps its defaults.
    expect(egressLlm(loadPolicy({ text: 'version: 1\n' }), undefined)).toEqual({ prices: {} });
  });

  it('egress.policy-prices: a cost budget with no prices anywhere is refused; SDK prices are enough', () => {
    const p = loadPolicy({ text: 'version: 1\nnetwork:\n  budgets: { cost: 5 }\n' });
    let err: unknown;
    try {
      egressLlm(p, undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('E_POLICY_INVALID');
    expect((err as AirlockError).message).toBe(
      'network.budgets.cost: a cost budget of 5 USD is set, but no model has a price, so the first LLM response would spend it',
    );
    expect(egressLlm(p, { '*': { inputPerMTok: 1, outputPerMTok: 1 } }).prices).toHaveProperty('*');
  });

  it('egress.policy-prices: a price key must be a model, a prefix ending in "*", or "*"; price fields are strict', () => {
    for (const [prices, message] of [
      ["{ 'claude-*-4': { inputPerMTok: 1, outputPerMTok: 1 } }", /a prefix ending in "\*"/],
      ["{ '*': { inputPerMTok: -1, outputPerMTok: 1 } }", />=0|too small|greater than or equal/i],
      ["{ '*': { input: 1, outputPerMTok: 1 } }", /input/],
    ] as const) {
      expect(() => loadPolicy({ text: `version: 1\nnetwork:\n  llm:\n    prices: ${prices}\n` })).toThrow(message);
    }
  });

  it('egress.policy-prices: across extends, a later base URL of the same name replaces the earlier, price keys merge, endpoints are replaced', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-egress-extends-'));
    try {
      writeFileSync(join(dir, 'team.yaml'), LLM_POLICY);
      writeFileSync(
        join(dir, 'airlock.yaml'),
        `version: 1
extends: ./team.yaml
network:
  baseUrls:
    - { name: anthropic, upstream: 'https://proxy.corp.example.com/anthropic', env: [ANTHROPIC_BASE_URL], api: anthropic }
  llm:
    endpoints: [{ host: api.openai.com, api: openai }]
    prices:
      '*': { inputPerMTok: 30, outputPerMTok: 150 }
`,
      );
      const p = loadPolicy({ path: join(dir, 'airlock.yaml') });
      expect(baseUrlRoutes(p).map((b) => `${b.name} ${b.upstream}`)).toEqual([
        'gateway https://llm.corp.example.com/openai/v1',
        'anthropic https://proxy.corp.example.com/anthropic',
      ]);
      const llm = egressLlm(p, undefined);
      expect(llm.endpoints).toEqual([{ host: 'api.openai.com', api: 'openai' }]);
      expect(Object.keys(llm.prices).sort()).toEqual(['*', 'claude-sonnet-4*']);
      expect(llm.prices['*']).toEqual({ inputPerMTok: 30, outputPerMTok: 150 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('egress.policy-prices: the price table is a plain table (no prototype games)', () => {
    const base = loadPolicy({ text: LLM_POLICY });
    expect(base.compiled.network.prices['*']).toEqual({ inputPerMTok: 15, outputPerMTok: 75 });
    // "__proto__" stays an ordinary key and does not become the table's prototype.
    const proto = loadPolicy({ text: "version: 1\nnetwork:\n  llm:\n    prices: { '__proto__': { inputPerMTok: 1, outputPerMTok: 1 } }\n" });
    expect(Object.getPrototypeOf(proto.compiled.network.prices)).toBe(Object.prototype);
    expect(Object.keys(proto.compiled.network.prices)).not.toContain('constructor');
  });

  it('egress.usage-event: usage on a proxy event becomes the record\'s usage; an unpriced model has no costUsd', () => {
    const event = {
      type: 'egress.request' as const,
      id: 'r1',
      time: '2026-01-01T00:00:00.000Z',
      mode: 'base-url' as const,
      method: 'POST',
      scheme: 'https' as const,
      host: 'api.anthropic.com',
      port: 443,
      path: '/v1/messages',
      status: 200,
      bytesUp: 10,
      bytesDown: 20,
      verdict: 'allow' as const,
      allowed: true,
      ruleId: 'anthropic',
      reason: 'r',
      answer: null,
      credential: null,
      usage: { model: 'claude-sonnet-4-5', inputTokens: 1, outputTokens: 2, cacheReadTokens: 3, cacheWriteTokens: 4, costUsd: 0.5 },
      error: null,
      durationMs: 1,
    };
    expect(toNetworkRequestData(event).usage).toEqual({ model: 'claude-sonnet-4-5', inputTokens: 1, outputTokens: 2, cacheReadTokens: 3, cacheWriteTokens: 4, costUsd: 0.5 });
    expect(toNetworkRequestData({ ...event, usage: { ...event.usage, model: null, costUsd: null } }).usage).toEqual({ inputTokens: 1, outputTokens: 2, cacheReadTokens: 3, cacheWriteTokens: 4 });
    expect(toNetworkRequestData({ ...event, usage: null })).not.toHaveProperty('usage');
  });
});
