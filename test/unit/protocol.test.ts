import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameType, encodeExec, encodeFrame, MAX_FRAME } from '../../src/sandbox/protocol.js';

describe('frame codec', () => {
  it('round-trips frames split at any point', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 0xffffffff }), payload: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 50 }),
        (frames, step) => {
          const wire = Buffer.concat(frames.map((f) => encodeFrame(FrameType.Stdout, f.id, Buffer.from(f.payload))));
          const d = new FrameDecoder();
          const got = [];
          for (let i = 0; i < wire.length; i += step) got.push(...d.push(wire.subarray(i, i + step)));
          expect(got.map((g) => ({ id: g.id, payload: new Uint8Array(g.payload) }))).toEqual(
            frames.map((f) => ({ id: f.id, payload: new Uint8Array(f.payload) })),
          );
        },
      ),
    );
  });

  it('refuses an oversized frame header instead of buffering it', () => {
    const h = Buffer.alloc(9);
    h.writeUInt32LE(MAX_FRAME + 1, 0);
    expect(() => new FrameDecoder().push(h)).toThrow(expect.objectContaining({ code: 'E_PROTOCOL' }));
  });

  it('refuses NUL bytes in argv, env and cwd', () => {
    const base = { argv: ['ls'], env: [], cwd: '/workspace', tty: false, cols: 0, rows: 0, rlimits: [] };
    expect(() => encodeExec({ ...base, argv: ['ls', 'a\0b'] })).toThrow(/NUL/);
    expect(() => encodeExec({ ...base, env: ['A=\0'] })).toThrow(/NUL/);
    expect(() => encodeExec({ ...base, cwd: '/x\0' })).toThrow(/NUL/);
  });
});
