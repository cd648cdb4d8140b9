/**
 * The SSRF address table, in the manner of smokescreen's classification tests: every
 * vector is judged by the guard's pure functions; nothing here opens a connection.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  checkAddress,
  cidrContains,
  classifyAddress,
  formatIp,
  parseCidr,
  parseIp,
  parseIPv6,
  unmapIp,
} from '../../../src/egress/address.js';

function verdictOf(text: string, allow: readonly string[] = []): string {
  const addr = parseIp(text);
  if (addr === null) throw new Error(`test vector ${text} does not parse`);
  const cidrs = allow.map((c) => {
    const p = parseCidr(c);
    if (p === null) throw new Error(c);
    return p;
  });
  const v = checkAddress(addr, cidrs);
  return v.allowed ? `allow:${v.via}` : `deny:${v.category}`;
}

describe('[egress.ssrf] address table', () => {
  // [address, expected]: "allow:public" or "deny:<category>".
  const vectors: ReadonlyArray<readonly [string, string]> = [
    // Public unicast
    ['8.8.8.8', 'allow:public'],
    ['1.1.1.1', 'allow:public'],
    ['93.184.216.34', 'allow:public'],
    ['223.255.255.255', 'allow:public'],
    ['2606:4700:4700::1111', 'allow:public'],
    ['2001:4860:4860::8888', 'allow:public'],
    // Range boundaries: just outside the denied ranges
    ['9.255.255.255', 'allow:public'],
    ['11.0.0.0', 'allow:public'],
    ['100.63.255.255', 'allow:public'],
    ['100.128.0.0', 'allow:public'],
    ['126.255.255.255', 'allow:public'],
    ['128.0.0.0', 'allow:public'],
    ['169.253.255.255', 'allow:public'],
    ['169.255.0.0', 'allow:public'],
    ['172.15.255.255', 'allow:public'],
    ['172.32.0.0', 'allow:public'],
    ['192.167.255.255', 'allow:public'],
    ['192.169.0.0', 'allow:public'],
    ['198.17.255.255', 'allow:public'],
    ['198.20.0.0', 'allow:public'],
    // IPv4 special-purpose
    ['0.0.0.0', 'deny:this-network (0.0.0.0/8)'],
    ['0.1.2.3', 'deny:this-network (0.0.0.0/8)'],
    ['10.0.0.1', 'deny:private (10.0.0.0/8)'],
    ['10.255.255.255', 'deny:private (10.0.0.0/8)'],
    ['100.64.0.1', 'deny:carrier-grade NAT (100.64.0.0/10)'],
    ['100.127.255.254', 'deny:carrier-grade NAT (100.64.0.0/10)'],
    ['127.0.0.1', 'deny:loopback'],
    ['127.255.255.254', 'deny:loopback'],
    ['169.254.169.254', 'deny:cloud metadata'],
    ['169.254.170.2', 'deny:cloud metadata (ECS task)'],
    ['169.254.0.1', 'deny:link-local'],
    ['172.16.0.1', 'deny:private (172.16.0.0/12)'],
    ['172.31.255.255', 'deny:private (172.16.0.0/12)'],
    ['192.0.0.170', 'deny:IETF protocol assignments (192.0.0.0/24)'],
    ['192.0.2.1', 'deny:documentation (TEST-NET-1)'],
    ['192.88.99.1', 'deny:6to4 relay anycast'],
    ['192.168.1.1', 'deny:private (192.168.0.0/16)'],
    ['198.18.0.1', 'deny:benchmarking (198.18.0.0/15)'],
    ['198.19.255.255', 'deny:benchmarking (198.18.0.0/15)'],
    ['198.51.100.1', 'deny:documentation (TEST-NET-2)'],
    ['203.0.113.1', 'deny:documentation (TEST-NET-3)'],
    ['224.0.0.1', 'deny:multicast'],
    ['239.255.255.250', 'deny:multicast'],
    ['240.0.0.1', 'deny:reserved (240.0.0.0/4)'],
    ['255.255.255.255', 'deny:broadcast'],
    // IPv6 special-purpose
    ['::', 'deny:unspecified'],
    ['::1', 'deny:loopback'],
    ['0:0:0:0:0:0:0:1', 'deny:loopback'],
    ['fd00:ec2::254', 'deny:cloud metadata'],
    ['fc00::1', 'deny:unique local (fc00::/7)'],
    ['fdff:ffff::1', 'deny:unique local (fc00::/7)'],
    ['fe80::1', 'deny:link-local'],
    ['febf::1', 'deny:link-local'],
    ['fec0::1', 'deny:site-local (deprecated)'],
    ['ff02::1', 'deny:multicast'],
    ['ff0e::1', 'deny:multicast'],
    ['100::1', 'deny:discard-only'],
    ['2001:db8::1', 'deny:documentation'],
    ['3fff::1', 'deny:documentation'],
    ['2001::1', 'deny:Teredo'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'deny:Teredo'],
    ['2001:10::1', 'deny:IETF protocol assignments (2001::/23)'],
    ['5f00::1', 'deny:SRv6 SIDs'],
    ['4000::1', 'deny:not global unicast'],
    ['::2', 'deny:IPv4-compatible (deprecated)'],
    ['::127.0.0.1', 'deny:IPv4-compatible (deprecated)'],
    ['::8.8.8.8', 'deny:IPv4-compatible (deprecated)'],
    // IPv4-mapped: judged as the IPv4 address they are
    ['::ffff:127.0.0.1', 'deny:loopback'],
    ['::ffff:7f00:1', 'deny:loopback'],
    ['::ffff:169.254.169.254', 'deny:cloud metadata'],
    ['::ffff:10.0.0.1', 'deny:private (10.0.0.0/8)'],
    ['::ffff:8.8.8.8', 'allow:public'],
    // NAT64 and 6to4: judged by the IPv4 address they embed
    ['64:ff9b::8.8.8.8', 'allow:public'],
    ['64:ff9b::808:808', 'allow:public'],
    ['64:ff9b::127.0.0.1', 'deny:loopback embedded in NAT64'],
    ['64:ff9b::a9fe:a9fe', 'deny:cloud metadata embedded in NAT64'],
    ['64:ff9b::10.1.2.3', 'deny:private (10.0.0.0/8) embedded in NAT64'],
    ['64:ff9b:1::1', 'deny:local-use NAT64'],
    ['2002:808:808::1', 'allow:public'],
    ['2002:7f00:1::1', 'deny:loopback embedded in 6to4'],
    ['2002:a9fe:a9fe::1', 'deny:cloud metadata embedded in 6to4'],
    ['2002:c0a8:101::1', 'deny:private (192.168.0.0/16) embedded in 6to4'],
  ];

  it.each(vectors)('%s → %s', (address, expected) => {
    expect(verdictOf(address)).toBe(expected);
  });

  it('[egress.cidr-allow] lets a CIDR allow reach exactly its range, IPv4-mapped included', () => {
    expect(verdictOf('127.0.0.1', ['127.0.0.1/32'])).toBe('allow:cidr-allow');
    expect(verdictOf('::ffff:127.0.0.1', ['127.0.0.1/32'])).toBe('allow:cidr-allow');
    expect(verdictOf('127.0.0.2', ['127.0.0.1/32'])).toBe('deny:loopback');
    // NAT64 reaches a translator, not the embedded address itself: not covered by the IPv4 allow.
    expect(verdictOf('64:ff9b::127.0.0.1', ['127.0.0.1/32'])).toBe('deny:loopback embedded in NAT64');
    expect(verdictOf('10.1.2.3', ['10.1.0.0/16'])).toBe('allow:cidr-allow');
    expect(verdictOf('10.2.0.1', ['10.1.0.0/16'])).toBe('deny:private (10.0.0.0/8)');
    expect(verdictOf('::1', ['::1/128'])).toBe('allow:cidr-allow');
    expect(verdictOf('fd12::5', ['fd12::/16'])).toBe('allow:cidr-allow');
  });
});

describe('CIDR parsing', () => {
  it('normalizes and accepts bare addresses as single-address ranges', () => {
    expect(parseCidr('127.0.0.1')?.text).toBe('127.0.0.1/32');
    expect(parseCidr('10.0.0.0/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('FD00:0:0::/8')?.text).toBe('fd00::/8');
    expect(parseCidr('0.0.0.0/0')?.text).toBe('0.0.0.0/0');
  });

  it.each([
    '10.0.0.1/8',
    '1.2.3.4/33',
    '::1/129',
    'x',
    '1.2.3.4/-1',
    '1.2.3.4/08',
    '1.2.3.4/',
    '01.2.3.4/32',
    'fe80::1%eth0/128',
  ])('refuses %s', (text) => {
    expect(parseCidr(text)).toBeNull();
  });

  it('matches prefixes that do not fall on a byte boundary', () => {
    const c = parseCidr('100.64.0.0/10');
    const at = (t: string) => parseIp(t) ?? { family: 4 as const, bytes: new Uint8Array(4) };
    expect(c !== null && cidrContains(c, at('100.127.0.1'))).toBe(true);
    expect(c !== null && cidrContains(c, at('100.128.0.1'))).toBe(false);
  });
});

describe('IPv6 text', () => {
  it('formats per RFC 5952 and parses every spelling to the same bytes', () => {
    const cases: Array<[string, string]> = [
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
      ['0:0:0:0:0:0:0:0', '::'],
      ['::ffff:7f00:1', '::ffff:127.0.0.1'],
      ['64:ff9b::0808:0808', '64:ff9b::808:808'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ];
    for (const [input, expected] of cases)
      expect(formatIp(parseIPv6(input) ?? { family: 6, bytes: new Uint8Array(16) })).toBe(expected);
  });

  it('refuses zone ids and malformed text', () => {
    for (const t of ['fe80::1%eth0', '1::2::3', '12345::', ':::', '1.2.3.4', '::ffff:1.2.3.256'])
      expect(parseIPv6(t), t).toBeNull();
  });

  it('round-trips random addresses and agrees with the WHATWG serializer (property)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
        const addr = { family: 6 as const, bytes };
        const text = formatIp(addr);
        expect(Array.from(parseIPv6(text)?.bytes ?? [])).toEqual(Array.from(bytes));
        if (unmapIp(addr).family === 6) expect(new URL(`http://[${text}]/`).hostname).toBe(`[${text}]`);
      }),
      { numRuns: 2000 },
    );
  });

  it('classifies every address without throwing (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: 4, maxLength: 4 }),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
        ),
        (bytes) => {
          const v = classifyAddress({ family: bytes.length === 4 ? 4 : 6, bytes });
          expect(typeof v.allowed).toBe('boolean');
        },
      ),
    );
  });
});
