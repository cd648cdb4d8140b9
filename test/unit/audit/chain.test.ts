import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  createChainWalker,
  genesisHash,
  leafHash,
  nodeHash,
  recordHash,
} from '../../../src/audit/index.js';

describe('canonicalJson', () => {
  it('sorts keys, drops undefined members and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1, y: undefined, x: -0 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"x":0,"z":1}}',
    );
  });

  it('sorts by UTF-16 code units, as RFC 8785 does', () => {
    expect(canonicalJson({ '\u00e9': 1, z: 2, '\ud83d\ude00': 3, A: 4 })).toBe('{"A":4,"z":2,"é":1,"😀":3}');
  });

  it('refuses what JSON cannot carry faithfully, naming the path', () => {
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow('$.a[1]: NaN is not a JSON number');
    expect(() => canonicalJson({ a: [undefined] })).toThrow('$.a[0]: undefined is not a JSON value');
    expect(() => canonicalJson({ when: new Date(0) })).toThrow(
      '$.when: only plain objects, arrays and primitives can be recorded',
    );
    expect(() => canonicalJson({ n: 10n })).toThrow('$.n: a bigint is not a JSON value');
  });

  it('is stable through a JSON round trip (what verification relies on)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const once = canonicalJson(value);
        expect(canonicalJson(JSON.parse(once))).toBe(once);
      }),
      { numRuns: 500 },
    );
  });

  it('does not depend on key order', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (dict) => {
        const reversed = Object.fromEntries(Object.entries(dict).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(dict));
      }),
    );
  });
});

describe('hash domains', () => {
  const sha = (...parts: Buffer[]): Buffer => createHash('sha256').update(Buffer.concat(parts)).digest();

  it('audit.chain: prefixes leaves with 0x00, nodes with 0x01 and the genesis with 0x02', () => {
    const body = '{"data":{},"seq":1,"session":"s","time":"t","type":"x"}';
    const leaf = leafHash(body);
    expect(leaf.equals(sha(Buffer.from([0]), Buffer.from(body)))).toBe(true);
    const prev = genesisHash('s');
    expect(prev.equals(sha(Buffer.from([2]), Buffer.from('airlock.audit.v1\0s')))).toBe(true);
    expect(nodeHash(prev, leaf).equals(sha(Buffer.from([1]), prev, leaf))).toBe(true);
  });

  it('binds the chain to the session: the same records under another id hash differently', () => {
    const a = recordHash(genesisHash('a'), 1, '2025-01-01T00:00:00.000Z', 'a', 'exec.started', '{}');
    const b = recordHash(genesisHash('b'), 1, '2025-01-01T00:00:00.000Z', 'a', 'exec.started', '{}');
    expect(a.equals(b)).toBe(false);
  });

  it('changes when any covered field changes', () => {
    const base = ['2025-01-01T00:00:00.000Z', 's', 'exec.started', '{"a":1}'] as const;
    const h = (seq: number, time: string, session: string, type: string, data: string): string =>
      recordHash(genesisHash('s'), seq, time, session, type, data).toString('hex');
    const ref = h(1, ...base);
    expect(h(2, ...base)).not.toBe(ref);
    expect(h(1, '2025-01-01T00:00:00.001Z', base[1], base[2], base[3])).not.toBe(ref);
    expect(h(1, base[0], 't', base[2], base[3])).not.toBe(ref);
    expect(h(1, base[0], base[1], 'exec.finished', base[3])).not.toBe(ref);
    expect(h(1, base[0], base[1], base[2], '{"a":2}')).not.toBe(ref);
  });
});

describe("createChainWalker (the verifier's byte path)", () => {
  it("audit.chain: computes exactly nodeHash(prev, leafHash(body)) from 0x00 ‖ the body's UTF-8 bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 8 }), (bodies) => {
        let prev = genesisHash('s');
        const walker = createChainWalker(prev.toString('hex'));
        for (const body of bodies) {
          const expected = nodeHash(prev, leafHash(body));
          const framed = Buffer.concat([Buffer.from([0]), Buffer.from(body, 'utf8')]);
          const got = walker.nodeHexOfFramedLeaf(framed);
          expect(got).toBe(expected.toString('hex'));
          walker.advance(got);
          expect(walker.headHex).toBe(got);
          prev = expected;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a leaf input without the 0x00 prefix and a head that is not a hex digest', () => {
    const walker = createChainWalker(genesisHash('s').toString('hex'));
    expect(() => walker.nodeHexOfFramedLeaf(Buffer.from('{}'))).toThrow(RangeError);
    expect(() => {
      walker.advance('AB'.repeat(32));
    }).toThrow(RangeError);
    expect(() => createChainWalker('ab')).toThrow(RangeError);
  });
});
