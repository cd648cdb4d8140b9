/**
 * The standalone rule table: deny by default, strictest verdict wins, ports default to
 * 80/443, and hosts with method/path rules open tunnels only with inspection.
 */
import { describe, expect, it } from 'vitest';

import { isAirlockError } from '../../../src/errors/index.js';
import { createRuleDecider } from '../../../src/egress/rules.js';

const decide = createRuleDecider([
  { id: 'npm', verdict: 'allow', hosts: ['registry.npmjs.org'] },
  { id: 'github-api', verdict: 'allow', hosts: ['api.github.com'], methods: ['GET'], paths: ['/repos/**'] },
  { id: 'github-no-delete', verdict: 'deny', hosts: ['api.github.com'], methods: ['DELETE'] },
  {
    id: 'github-ask-post',
    verdict: 'ask',
    hosts: ['api.github.com'],
    methods: ['POST'],
    paths: ['/repos/**'],
  },
  { id: 'cdn', verdict: 'log', hosts: ['*.cdn.example'], ports: [443, 8443] },
  { id: 'blocked', verdict: 'deny', hosts: ['evil.cdn.example'] },
]);

describe('[egress.deny-by-default] createRuleDecider', () => {
  it('denies what no rule names', () => {
    expect(decide({ host: 'example.com', port: 443, scheme: 'https' })).toMatchObject({
      verdict: 'deny',
      ruleId: 'egress.default-deny',
    });
    expect(decide({ host: 'registry.npmjs.org.evil.com', port: 443, scheme: 'https' }).verdict).toBe('deny');
  });

  it('[egress.ports] allows only the rule’s ports, 80 and 443 by default', () => {
    expect(decide({ host: 'registry.npmjs.org', port: 443, scheme: 'https' }).verdict).toBe('allow');
    expect(
      decide({ host: 'registry.npmjs.org', port: 80, scheme: 'http', method: 'GET', path: '/' }).verdict,
    ).toBe('allow');
    expect(decide({ host: 'registry.npmjs.org', port: 22, scheme: 'https' }).verdict).toBe('deny');
    expect(decide({ host: 'x.cdn.example', port: 8443, scheme: 'https' }).verdict).toBe('log');
    expect(decide({ host: 'x.cdn.example', port: 80, scheme: 'https' }).verdict).toBe('deny');
  });

  it('lets the strictest matching rule win', () => {
    expect(decide({ host: 'evil.cdn.example', port: 443, scheme: 'https' })).toMatchObject({
      verdict: 'deny',
      ruleId: 'blocked',
    });
    expect(
      decide({
        host: 'api.github.com',
        port: 443,
        scheme: 'https',
        method: 'POST',
        path: '/repos/a/b/issues',
      }),
    ).toMatchObject({ verdict: 'ask', ruleId: 'github-ask-post' });
    expect(
      decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'DELETE', path: '/repos/a/b' }),
    ).toMatchObject({ verdict: 'deny', ruleId: 'github-no-delete' });
  });

  it('[egress.intercept-paths] asks for inspection at host level when a host has method/path rules', () => {
    expect(decide({ host: 'api.github.com', port: 443, scheme: 'https' })).toMatchObject({
      verdict: 'allow',
      inspect: true,
    });
    expect(
      decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'GET', path: '/repos/a/b' }),
    ).toMatchObject({ verdict: 'allow', ruleId: 'github-api' });
    expect(
      decide({ host: 'api.github.com', port: 443, scheme: 'https', method: 'GET', path: '/user' }),
    ).toMatchObject({ verdict: 'deny', ruleId: 'egress.default-deny' });
    expect(decide({ host: 'registry.npmjs.org', port: 443, scheme: 'https' }).inspect).toBeUndefined();
  });

  it('refuses bad patterns with the rule index', () => {
    let caught: unknown;
    try {
      createRuleDecider([
        { id: 'ok', verdict: 'allow', hosts: ['a.com'] },
        { id: 'bad', verdict: 'allow', hosts: ['a*.com'] },
      ]);
    } catch (err) {
      caught = err;
    }
    expect(isAirlockError(caught) && caught.code).toBe('E_CONFIG_INVALID');
    expect(isAirlockError(caught) && caught.message).toBe(
      'rules[1]: "a*.com" may only use "*" alone or as a leading "*." label',
    );
    expect(() =>
      createRuleDecider([{ id: 'p', verdict: 'allow', hosts: ['a.com'], ports: [70000] }]),
    ).toThrow('rules[0]: port 70000 is not between 1 and 65535');
    expect(() =>
      createRuleDecider([{ id: 'p', verdict: 'allow', hosts: ['a.com'], paths: ['no-slash'] }]),
    ).toThrow('rules[0]: "no-slash" does not start with "/"');
  });
});
