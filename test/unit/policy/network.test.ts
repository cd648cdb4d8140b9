import { describe, expect, it } from 'vitest';
import { loadPolicy } from '../../../src/policy/index.js';
import { check, label, run, type Case } from './helpers.js';

const get = (host: string, path = '/', port = 443, method = 'GET'): Case['action'] => ({
  kind: 'network',
  host,
  port,
  method,
  path,
  scheme: port === 80 ? 'http' : 'https',
});

const CASES: readonly Case[] = [
  { req: 'network.host-patterns', action: get('registry.npmjs.org', '/left-pad'), expect: 'allow' },
  {
    req: 'network.host-patterns',
    action: { kind: 'network', host: 'registry.npmjs.org', port: 443, method: 'CONNECT' },
    expect: 'allow',
  },
  { req: 'network.host-patterns', action: get('registry.npmjs.org.evil.com'), expect: 'ask' },
  { req: 'network.host-patterns', action: get('evilregistry.npmjs.org'), expect: 'ask' },
  { req: 'network.host-patterns', action: get('a.example.com'), expect: 'allow', policy: 'net-strict' },
  { req: 'network.host-patterns', action: get('a.b.example.com'), expect: 'allow', policy: 'net-strict' },
  { req: 'network.host-patterns', action: get('example.com'), expect: 'deny', policy: 'net-strict' },
  { req: 'network.host-patterns', action: get('aexample.com'), expect: 'deny', policy: 'net-strict' },
  { req: 'network.host-patterns', action: get('example.com.evil.net'), expect: 'deny', policy: 'net-strict' },
  {
    req: 'network.host-patterns',
    action: get('blocked.example.com'),
    expect: 'deny',
    policy: 'net-strict',
    rule: 'exact-beats-wild',
  },
  {
    req: 'network.host-patterns',
    action: get('10.1.2.3', '/', 8080),
    expect: 'ask',
    policy: 'net-strict',
    rule: 'internal',
  },
  { req: 'network.host-patterns', action: get('10.2.0.1', '/', 8080), expect: 'deny', policy: 'net-strict' },
  { req: 'network.host-normalization', action: get('REGISTRY.NPMJS.ORG.'), expect: 'allow' },
  {
    req: 'network.host-normalization',
    action: get('169.254.169.254', '/latest/meta-data', 80),
    expect: 'deny',
    rule: 'metadata',
  },
  { req: 'network.host-normalization', action: get('[::ffff:169.254.169.254]', '/', 80), expect: 'deny' },
  {
    req: 'network.host-normalization',
    action: get('[fd00:ec2::254]', '/', 80),
    expect: 'deny',
    rule: 'metadata',
  },
  {
    req: 'network.host-normalization',
    action: get('2130706433'),
    expect: 'deny',
    rule: 'network.invalid-host',
  },
  { req: 'network.host-normalization', action: get('0x7f.1'), expect: 'deny', rule: 'network.invalid-host' },
  {
    req: 'network.host-normalization',
    action: get('0177.0.0.1'),
    expect: 'deny',
    rule: 'network.invalid-host',
  },
  {
    req: 'network.host-normalization',
    action: get('registry.npmjs.org\0.evil.com'),
    expect: 'deny',
    rule: 'network.invalid-host',
  },
  {
    req: 'network.host-normalization',
    action: get('registry.npmjs.org@evil.com'),
    expect: 'deny',
    rule: 'network.invalid-host',
  },
  { req: 'network.host-normalization', action: get('xn--80ak6aa92e.com'), expect: 'ask' },
  {
    req: 'network.host-normalization',
    action: get('bücher.example'),
    expect: 'deny',
    rule: 'network.invalid-host',
  },
  { req: 'network.ports-methods-paths', action: get('registry.npmjs.org', '/', 22), expect: 'ask' },
  { req: 'network.ports-methods-paths', action: get('registry.npmjs.org', '/', 8443), expect: 'ask' },
  {
    req: 'network.ports-methods-paths',
    action: get('registry.npmjs.org', '/-/npm/v1/security', 443, 'PUT'),
    expect: 'ask',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1/users'),
    expect: 'allow',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1/users', 443, 'POST'),
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v2/users'),
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1/../admin'),
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1/%2e%2e/admin'),
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1%2fadmin'),
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('api.example.org', '/v1/x?redirect=/admin'),
    expect: 'allow',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: { kind: 'network', host: 'api.example.org', port: 443, method: 'CONNECT' },
    expect: 'deny',
    policy: 'net-strict',
  },
  {
    req: 'network.ports-methods-paths',
    action: get('registry.npmjs.org', '/', 0),
    expect: 'deny',
    rule: 'network.invalid-port',
  },
];

describe('network rules', () => {
  it.each(CASES.map((c) => [label(c), c] as const))('%s', (name, c) => {
    const d = run(c);
    check(d, c.expect, name);
    if (c.rule !== undefined) expect(d.ruleId, name).toBe(c.rule);
  });
});

describe('denial reasons name the request as a URL', () => {
  it('an IPv6 literal is bracketed (the port stays distinguishable)', () => {
    const d = run({ action: get('2002:7f00:1::', '/x', 8080, 'GET') });
    expect(d.verdict).not.toBe('allow');
    expect(d.reason).toContain('https://[2002:7f00:1::]:8080/x');
    expect(d.reason).not.toContain('2002:7f00:1:::8080');
  });
});

describe('over-broad network entries are refused with a reason [network.overbroad-refused]', () => {
  const bad: readonly [string, RegExp][] = [
    ["host: '*'", /allows every host/],
    ["host: '*.com'", /too broad: "\*\.com" covers a whole top-level domain/],
    ["host: '*.co.uk'", /public suffix/],
    ["host: '*.github.io'", /public suffix/],
    ["host: 'foo.*.com'", /only as the whole first label/],
    ["host: '*foo.com'", /only as the whole first label/],
    ["host: 'https://x.com/'", /bare host name/],
    ["host: '10.0.0.1'", /list IP addresses and ranges under "cidr"/],
    ["cidr: '0.0.0.0/0'", /too broad/],
    ["cidr: '10.0.0.0/4'", /too broad/],
    ["cidr: '::/0'", /too broad/],
    ["cidr: '10.0.0.256/24'", /not a canonical/],
  ];
  it.each(bad)('%s', (entry, message) => {
    const text = `version: 1\nnetwork:\n  rules:\n    - ${entry}\n      level: allow\n`;
    expect(() => loadPolicy({ text, path: 'airlock.yaml' })).toThrow(message);
  });
  it('accepts a wildcard under a registrable domain', () => {
    const text = "version: 1\nnetwork:\n  rules:\n    - { host: '*.example.com', level: allow }\n";
    expect(loadPolicy({ text }).compiled.network.rules).toHaveLength(1);
  });
});
