/**
 * Credential tables: which requests get the secret, which are refused for carrying
 * their own, and host patterns that match on labels, not prefixes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  activateCredential,
  CredentialTable,
  DEFAULT_CREDENTIAL_HEADERS,
  DEFAULT_CREDENTIAL_QUERY_PARAMS,
  type CredentialBinding,
  type CredentialRequest,
} from '../../../src/egress/credentials.js';
import {
  compileHostPattern,
  compilePathPattern,
  type HostPattern,
  type PathPattern,
} from '../../../src/egress/match.js';

function hostPattern(text: string): HostPattern {
  const p = compileHostPattern(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}
function pathPattern(text: string): PathPattern {
  const p = compilePathPattern(text);
  if (typeof p === 'string') throw new Error(p);
  return p;
}

const binding: CredentialBinding = {
  id: 'github',
  secret: 'env:X',
  hosts: ['api.github.com'],
  methods: ['POST'],
  paths: ['/repos/acme/app/issues/*/comments'],
  inject: { type: 'header', name: 'Authorization', prefix: 'Bearer ' },
  placeholder: 'airlock-placeholder-github-test',
};
const table = new CredentialTable(
  [
    activateCredential(
      binding,
      'ghs_REAL',
      [hostPattern('api.github.com')],
      [pathPattern('/repos/acme/app/issues/*/comments')],
    ),
  ],
  DEFAULT_CREDENTIAL_HEADERS,
  DEFAULT_CREDENTIAL_QUERY_PARAMS,
);
const req = (over: Partial<CredentialRequest>): CredentialRequest => ({
  host: 'api.github.com',
  method: 'POST',
  path: '/repos/acme/app/issues/1/comments',
  query: '',
  scheme: 'https',
  headers: [],
  ...over,
});

describe('[egress.credential-inject] CredentialTable.apply', () => {
  it('leaves unbound hosts alone', () => {
    expect(table.apply(req({ host: 'example.com', headers: [['Authorization', 'Bearer mine']] }))).toEqual({
      kind: 'unbound',
    });
  });

  it('swaps the placeholder for the secret on a covered request', () => {
    const r = table.apply(
      req({
        headers: [
          ['Accept', '*/*'],
          ['Authorization', 'token airlock-placeholder-github-test'],
        ],
      }),
    );
    expect(r).toMatchObject({
      kind: 'bound',
      headers: [
        ['Accept', '*/*'],
        ['authorization', 'Bearer ghs_REAL'],
      ],
    });
  });

  it('injects without any client credential (git-style) and recognizes a placeholder inside basic auth', () => {
    expect(table.apply(req({}))).toMatchObject({
      kind: 'bound',
      headers: [['authorization', 'Bearer ghs_REAL']],
    });
    const basic = `Basic ${Buffer.from('x:airlock-placeholder-github-test').toString('base64')}`;
    expect(table.apply(req({ headers: [['authorization', basic]] }))).toMatchObject({
      kind: 'bound',
      headers: [['authorization', 'Bearer ghs_REAL']],
    });
  });

  it('strips placeholders but injects nothing outside the binding’s methods and paths', () => {
    const r = table.apply(
      req({
        method: 'GET',
        path: '/user',
        headers: [['Authorization', 'Bearer airlock-placeholder-github-test']],
      }),
    );
    expect(r).toEqual({ kind: 'bound', headers: [], injected: null });
  });

  it('[egress.own-credential] refuses any other credential on a bound host', () => {
    for (const headers of [
      [['Authorization', 'Bearer ghp_mine']],
      [['X-Api-Key', 'k']],
      [['Cookie', 'a=b']],
      [['authorization', `Basic ${Buffer.from('x:mine').toString('base64')}`]],
    ] as Array<Array<[string, string]>>) {
      const r = table.apply(req({ headers }));
      expect(r.kind, JSON.stringify(headers)).toBe('deny');
    }
    const q = table.apply(req({ query: '?access%5Ftoken=mine' }));
    expect(q).toEqual({
      kind: 'deny',
      ruleId: 'egress.own-credential',
      reason: expect.stringContaining('query parameter "access_token"') as string,
    });
  });

  it('[egress.credential-plaintext] refuses to inject over plain HTTP unless the binding allows it', () => {
    expect(table.apply(req({ scheme: 'http' }))).toEqual({
      kind: 'deny',
      ruleId: 'egress.credential-plaintext',
      reason: expect.stringContaining('over plain HTTP') as string,
    });
    const local = new CredentialTable(
      [
        activateCredential(
          { ...binding, allowPlainHttp: true },
          'ghs_REAL',
          [hostPattern('api.github.com')],
          null,
        ),
      ],
      DEFAULT_CREDENTIAL_HEADERS,
      DEFAULT_CREDENTIAL_QUERY_PARAMS,
    );
    expect(local.apply(req({ scheme: 'http' }))).toMatchObject({ kind: 'bound', injected: { id: 'github' } });
  });

  it('formats a header with a prefix and a suffix around the secret', () => {
    const c = activateCredential(
      { ...binding, inject: { type: 'header', name: 'X-Token', prefix: 'key=', suffix: ';v=2' } },
      'tok',
      [hostPattern('api.example')],
      null,
    );
    expect([c.headerName, c.headerValue]).toEqual(['x-token', 'key=tok;v=2']);
  });

  it('formats basic-auth injection and records every spelling of the secret for redaction', () => {
    const c = activateCredential(
      { ...binding, inject: { type: 'basic', username: 'x-access-token' } },
      'tok',
      [hostPattern('git.example')],
      null,
    );
    expect(c.headerValue).toBe(`Basic ${Buffer.from('x-access-token:tok').toString('base64')}`);
    expect(c.redactions.map((r) => r.from.toString())).toEqual([
      'tok',
      Buffer.from('x-access-token:tok').toString('base64'),
    ]);
  });
});

describe('[egress.host-match] host patterns', () => {
  it('matches whole labels only', () => {
    const exact = hostPattern('allowed.com');
    const wild = hostPattern('*.allowed.com');
    expect(exact.matches('allowed.com')).toBe(true);
    expect(exact.matches('allowed.com.evil.com')).toBe(false);
    expect(exact.matches('evilallowed.com')).toBe(false);
    expect(wild.matches('api.allowed.com')).toBe(true);
    expect(wild.matches('a.b.allowed.com')).toBe(true);
    expect(wild.matches('allowed.com')).toBe(false);
    expect(wild.matches('evilallowed.com')).toBe(false);
    expect(hostPattern('EXAMPLE.com.').matches('example.com')).toBe(true);
    expect(hostPattern('::1').matches('::1')).toBe(true);
  });

  it('refuses patterns that are not hosts', () => {
    for (const p of ['*.', 'a*.com', '*.127.0.0.1', 'foo bar', ''])
      expect(typeof compileHostPattern(p), p).toBe('string');
  });

  it('never lets a pattern match a host that merely starts or ends with it (property)', () => {
    fc.assert(
      fc.property(fc.domain(), fc.domain(), (a, b) => {
        const p = compileHostPattern(a);
        if (typeof p === 'string') return;
        expect(p.matches(`${a}.${b}`.toLowerCase())).toBe(false);
        expect(p.matches(`x${a}`.toLowerCase())).toBe(false);
      }),
    );
  });
});

describe('path patterns', () => {
  it('matches * as one segment and ** as any number', () => {
    const one = pathPattern('/repos/*/app');
    expect(one.matches('/repos/acme/app')).toBe(true);
    expect(one.matches('/repos/a/b/app')).toBe(false);
    expect(one.matches('/repos//app')).toBe(false);
    const any = pathPattern('/repos/**');
    expect(any.matches('/repos')).toBe(true);
    expect(any.matches('/repos/a/b/c')).toBe(true);
    expect(any.matches('/reposx')).toBe(false);
    const mid = pathPattern('/a/**/z');
    expect(mid.matches('/a/z')).toBe(true);
    expect(mid.matches('/a/b/c/z')).toBe(true);
    expect(pathPattern('/v1/models/gpt-*').matches('/v1/models/gpt-5')).toBe(true);
    expect(pathPattern('/a.b').matches('/aXb')).toBe(false);
  });
});
