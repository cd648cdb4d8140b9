/**
 * The session's translation of a policy's `network` section into the egress proxy's terms:
 * decide through the policy part's own `decide`, tunnels intercepted when a rule looks at
 * methods or paths, credentials, budgets and the CIDR ranges the SSRF guard lets through.
 */
import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../src/policy/index.js';
import {
  allowedCidrs,
  createPolicyDecide,
  credentialBindings,
  egressBudgets,
  egressEnabled,
  policyWantsEgress,
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
