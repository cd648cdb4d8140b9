/**
 * Host, authority and path parsing: the spellings REDTEAM.md lists (NUL bytes, trailing
 * dots, userinfo, punycode, decimal/octal/hex IPs) and path normalization.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  parseAbsoluteTarget,
  parseAuthority,
  parseHost,
  parseRequestPath,
} from '../../../src/egress/host.js';

function host(raw: string): string {
  const r = parseHost(raw);
  if (!r.ok) return `error: ${r.reason}`;
  return r.value.kind === 'ip'
    ? `ip ${r.value.host}${r.value.canonical ? '' : ' (non-canonical)'}`
    : `name ${r.value.host}`;
}

describe('[egress.host-parse] parseHost', () => {
  it.each([
    ['Example.COM', 'name example.com'],
    ['example.com.', 'name example.com'],
    ['ex\u00e4mple.com', 'name xn--exmple-cua.com'],
    ['xn--exmple-cua.com', 'name xn--exmple-cua.com'],
    ['_acme-challenge.example.com', 'name _acme-challenge.example.com'],
    ['localhost', 'name localhost'],
    ['a\u3002b.com', 'name a.b.com'],
    ['127.0.0.1', 'ip 127.0.0.1'],
    ['8.8.8.8', 'ip 8.8.8.8'],
    ['[::1]', 'ip ::1'],
    ['[::FFFF:127.0.0.1]', 'ip ::ffff:127.0.0.1'],
    ['[2001:DB8::1]', 'ip 2001:db8::1'],
  ])('%s → %s', (raw, expected) => {
    expect(host(raw)).toBe(expected);
  });

  it.each([
    ['2130706433', 'ip 127.0.0.1 (non-canonical)'],
    ['0x7f000001', 'ip 127.0.0.1 (non-canonical)'],
    ['0x7f.1', 'ip 127.0.0.1 (non-canonical)'],
    ['0177.0.0.1', 'ip 127.0.0.1 (non-canonical)'],
    ['0177.0.0.01', 'ip 127.0.0.1 (non-canonical)'],
    ['127.1', 'ip 127.0.0.1 (non-canonical)'],
    ['127.0.1', 'ip 127.0.0.1 (non-canonical)'],
    ['127.0.0.1.', 'ip 127.0.0.1 (non-canonical)'],
    ['0', 'ip 0.0.0.0 (non-canonical)'],
    ['0xa9.0xfe.0xa9.0xfe', 'ip 169.254.169.254 (non-canonical)'],
    ['2852039166', 'ip 169.254.169.254 (non-canonical)'],
    ['\uff11\uff12\uff17.0.0.1', 'ip 127.0.0.1 (non-canonical)'],
  ])('[egress.ip-spelling] %s is the address %s', (raw, expected) => {
    expect(host(raw)).toBe(expected);
  });

  it.each([
    ['', 'the host is empty'],
    ['a\u0000b.com', 'contains characters that are not allowed'],
    ['allowed.com\u0000.evil.com', 'contains characters that are not allowed'],
    ['a b.com', 'contains characters that are not allowed'],
    ['a%2eb.com', 'contains characters that are not allowed'],
    ['allowed.com@evil.com', 'contains characters that are not allowed'],
    ['evil.com\\allowed.com', 'contains characters that are not allowed'],
    ['evil.com/allowed.com', 'contains characters that are not allowed'],
    ['example.com:443', 'contains characters that are not allowed'],
    ['example.com..', 'ends in more than one dot'],
    ['a..b.com', 'has an invalid label ""'],
    ['-a.com', 'has an invalid label "-a"'],
    ['a-.com', 'has an invalid label "a-"'],
    [`${'a'.repeat(64)}.com`, 'has an invalid label'],
    ['xn--zz.com', 'has an invalid punycode label'],
    ['256.1.1.1', 'looks like an IPv4 address but is not a valid one'],
    ['1.2.3.4.5', 'looks like an IPv4 address but is not a valid one'],
    ['foo.123', 'looks like an IPv4 address but is not a valid one'],
    ['0x1g.0.0.1', 'looks like an IPv4 address but is not a valid one'],
    ['09.0.0.1', 'looks like an IPv4 address but is not a valid one'],
    ['[fe80::1%25eth0]', 'is not an IPv6 address'],
    ['[::1', 'opens a bracket it does not close'],
    ['*.example.com', 'contains characters that are not allowed'],
  ])('refuses %j (%s)', (raw, reason) => {
    const r = parseHost(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it('returns only lowercase LDH names or canonical IPs, and is idempotent (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.domain(), fc.string(), fc.ipV4(), fc.ipV4Extended(), fc.webAuthority()),
        (raw) => {
          const r = parseHost(raw);
          if (!r.ok) return;
          const v = r.value;
          if (v.kind === 'name') {
            expect(v.host).toMatch(/^[a-z0-9_.-]+$/);
            expect(v.host.endsWith('.')).toBe(false);
            const again = parseHost(v.host);
            expect(again.ok && again.value.host).toBe(v.host);
          } else {
            const again = parseHost(v.address.family === 6 ? `[${v.host}]` : v.host);
            expect(again.ok && again.value.kind === 'ip' && again.value.canonical).toBe(true);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('agrees with the WHATWG URL parser on which address an IPv4 spelling means (property)', () => {
    fc.assert(
      fc.property(fc.ipV4Extended(), (raw) => {
        const r = parseHost(raw);
        expect(r.ok).toBe(true);
        if (r.ok) expect(r.value.host).toBe(new URL(`http://${raw}/`).hostname);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseAuthority', () => {
  it('parses host:port forms', () => {
    const a = parseAuthority('Example.com:8443');
    expect(a.ok && a.value.host.host).toBe('example.com');
    expect(a.ok && a.value.port).toBe(8443);
    const b = parseAuthority('[::1]:443');
    expect(b.ok && b.value.host.host).toBe('::1');
    const c = parseAuthority('example.com', 80);
    expect(c.ok && c.value.port).toBe(80);
  });

  it.each([
    ['allowed.com@evil.com:443', 'carries userinfo'],
    ['user:pass@evil.com:443', 'carries userinfo'],
    ['example.com', 'has no port'],
    ['example.com:0', 'has an invalid port'],
    ['example.com:0443', 'has an invalid port'],
    ['example.com:+1', 'has an invalid port'],
    ['example.com:65536', 'has a port above 65535'],
    ['a:b:c', 'has more than one colon'],
    ['::1:443', 'has more than one colon'],
    ['[::1]x', 'has text after the IPv6 address'],
    [':443', 'the host is empty'],
  ])('refuses %s', (raw, reason) => {
    const r = parseAuthority(raw);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});

describe('[egress.path-normalize] parseRequestPath', () => {
  it.each([
    ['/a/./b/../c', '/a/c'],
    ['/a/%2e%2E/b', '/b'],
    ['/a/.%2e/b', '/b'],
    ['/..', '/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/a/%41%7e', '/a/A~'],
    ['/a/%2f/b', '/a/%2F/b'],
    ['/a/%2F/b', '/a/%2F/b'],
    ['/repos/acme/app/issues/42/comments', '/repos/acme/app/issues/42/comments'],
    ['/', '/'],
  ])('%s → %s', (raw, expected) => {
    const r = parseRequestPath(raw);
    expect(r.ok && r.value.path).toBe(expected);
  });

  it('keeps the query apart and unchanged', () => {
    const r = parseRequestPath('/a/../b?x=../y&z=%2e');
    expect(r.ok && r.value).toEqual({ path: '/b', query: '?x=../y&z=%2e' });
  });

  it.each(['a/b', '/a b', '/a\\b', '/a/%00', '/a/%zz', '/a/%2', '/caf\u00e9', '*'])('refuses %j', (raw) => {
    expect(parseRequestPath(raw).ok).toBe(false);
  });

  it('never leaves a dot segment in a normalized path (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', '.', '..', '%2e', '%2E%2e', '.%2e', 'b', ''), { maxLength: 12 }),
        (segs) => {
          const r = parseRequestPath(`/${segs.join('/')}`);
          expect(r.ok).toBe(true);
          if (r.ok) for (const s of r.value.path.split('/')) expect(['.', '..']).not.toContain(s);
        },
      ),
    );
  });
});

describe('parseAbsoluteTarget', () => {
  it('parses proxy request targets', () => {
    const a = parseAbsoluteTarget('http://Example.COM/x/../y?q');
    expect(
      a.ok && { host: a.value.authority.host.host, port: a.value.authority.port, path: a.value.path },
    ).toEqual({ host: 'example.com', port: 80, path: { path: '/y', query: '?q' } });
    const b = parseAbsoluteTarget('http://example.com');
    expect(b.ok && b.value.path.path).toBe('/');
    const c = parseAbsoluteTarget('http://example.com?x=1');
    expect(c.ok && c.value.path).toEqual({ path: '/', query: '?x=1' });
    const d = parseAbsoluteTarget('HTTP://[::1]:8080/');
    expect(d.ok && d.value.authority.port).toBe(8080);
  });

  it.each(['ftp://example.com/', 'http://a@b/', 'http:///x', 'example.com/x', 'http://exa mple.com/'])(
    'refuses %s',
    (raw) => {
      expect(parseAbsoluteTarget(raw).ok).toBe(false);
    },
  );
});
