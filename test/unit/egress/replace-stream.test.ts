/**
 * Streaming replacement of echoed secrets: whatever the chunking, the output equals a
 * whole-buffer replacement, so a secret split across two TCP reads is still caught.
 */
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ReplaceStream, replaceAll } from '../../../src/egress/replace-stream.js';

const SECRET = 'sk-secret-123456';
const PLACEHOLDER = 'airlock-placeholder-x';
const replacements = [
  { from: Buffer.from(SECRET), to: Buffer.from(PLACEHOLDER) },
  { from: Buffer.from(Buffer.from(`u:${SECRET}`).toString('base64')), to: Buffer.from('BASE64-PLACEHOLDER') },
];

async function streamed(chunks: readonly string[]): Promise<string> {
  return text(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(new ReplaceStream(replacements)));
}

describe('[egress.secret-echo] ReplaceStream', () => {
  it('replaces occurrences in one buffer', () => {
    expect(replaceAll(Buffer.from(`a ${SECRET} b ${SECRET}`), replacements).toString()).toBe(
      `a ${PLACEHOLDER} b ${PLACEHOLDER}`,
    );
    expect(replaceAll(Buffer.from('nothing here'), replacements).toString()).toBe('nothing here');
  });

  it('catches a secret split across chunks', async () => {
    expect(await streamed(['xx sk-sec', 'ret-1234', '56 yy'])).toBe(`xx ${PLACEHOLDER} yy`);
    expect(await streamed(`${SECRET}${SECRET}`.split(/(?=.)/))).toBe(`${PLACEHOLDER}${PLACEHOLDER}`);
    expect(await streamed(['sk-secret-12345'])).toBe('sk-secret-12345');
  });

  it('equals a whole-buffer replacement for any text and chunking (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 30 }),
            fc.constant(SECRET),
            fc.constant('sk-secret-'),
            fc.constant(Buffer.from(`u:${SECRET}`).toString('base64')),
          ),
          { maxLength: 10 },
        ),
        fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }),
        async (parts, sizes) => {
          const input = parts.join('');
          const chunks: string[] = [];
          const bytes = Buffer.from(input);
          for (let i = 0, k = 0; i < bytes.length; k++) {
            const n = sizes[k % sizes.length] ?? 1;
            chunks.push(bytes.subarray(i, i + n).toString('latin1'));
            i += n;
          }
          const out = await text(
            Readable.from(chunks.map((c) => Buffer.from(c, 'latin1'))).pipe(new ReplaceStream(replacements)),
          );
          expect(out).toBe(replaceAll(bytes, replacements).toString());
          expect(out).not.toContain(SECRET);
        },
      ),
      { numRuns: 500 },
    );
  });
});
