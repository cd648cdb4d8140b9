import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { actionDigest, canonicalAction, fromCanonical, parseAction } from '../../../src/approvals/index.js';
import type { ApprovalAction } from '../../../src/approvals/index.js';
import { AirlockError } from '../../../src/errors/index.js';

const arbArg = fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0'));
const arbEnv = fc.dictionary(
  fc.string({ minLength: 1, maxLength: 6 }).filter((k) => !k.includes('=') && !k.includes('\0') && k !== '__proto__'),
  arbArg,
  { maxKeys: 3 },
);
const arbExec: fc.Arbitrary<ApprovalAction> = fc.record(
  { kind: fc.constant('exec' as const), argv: fc.array(arbArg, { minLength: 1, maxLength: 5 }), cwd: fc.constantFrom('/workspace', '/workspace/sub', '/tmp'), env: arbEnv },
  { requiredKeys: ['kind', 'argv'] },
);

describe('canonical actions', () => {
  it('do not depend on key order or absent-versus-undefined fields', () => {
    const a: ApprovalAction = { kind: 'exec', argv: ['git', 'status'], cwd: '/workspace', env: { B: '2', A: '1' } };
    const b: ApprovalAction = { env: { A: '1', B: '2' }, cwd: '/workspace', argv: ['git', 'status'], kind: 'exec' };
    expect(actionDigest(a)).toBe(actionDigest(b));
    expect(actionDigest({ kind: 'network', host: 'h', port: 443 })).toBe(actionDigest({ kind: 'network', host: 'h', port: 443, method: undefined }));
  });

  it('are frozen copies: changing the original afterwards changes nothing', () => {
    const argv = ['rm', 'build'];
    const c = canonicalAction({ kind: 'exec', argv });
    argv[1] = '/';
    expect(c.kind === 'exec' && c.argv).toEqual(['rm', 'build']);
    expect(Object.isFrozen(c)).toBe(true);
    expect(c.kind === 'exec' && Object.isFrozen(c.argv)).toBe(true);
  });

  it('never normalize a value: case, trailing slashes and spaces make another action', () => {
    const base = actionDigest({ kind: 'network', host: 'example.com', port: 443, method: 'GET', path: '/a' });
    expect(actionDigest({ kind: 'network', host: 'Example.com', port: 443, method: 'GET', path: '/a' })).not.toBe(base);
    expect(actionDigest({ kind: 'network', host: 'example.com', port: 443, method: 'get', path: '/a' })).not.toBe(base);
    expect(actionDigest({ kind: 'network', host: 'example.com', port: 443, method: 'GET', path: '/a/' })).not.toBe(base);
    expect(actionDigest({ kind: 'exec', argv: ['ls'], cwd: '/workspace/' })).not.toBe(actionDigest({ kind: 'exec', argv: ['ls'], cwd: '/workspace' }));
    expect(actionDigest({ kind: 'exec', argv: ['ls', 'a b'] })).not.toBe(actionDigest({ kind: 'exec', argv: ['ls', 'a', 'b'] }));
    expect(actionDigest({ kind: 'exec', command: 'ls a' })).not.toBe(actionDigest({ kind: 'exec', argv: ['ls', 'a'] }));
  });

  it('bind a file write to its content', () => {
    const a = actionDigest({ kind: 'file.write', path: '/workspace/a', contentSha256: 'a'.repeat(64) });
    expect(actionDigest({ kind: 'file.write', path: '/workspace/a', contentSha256: 'b'.repeat(64) })).not.toBe(a);
    expect(actionDigest({ kind: 'file.write', path: '/workspace/a' })).not.toBe(a);
    // what the path resolved to describes the file system, not the action
    expect(actionDigest({ kind: 'file.write', path: '/workspace/a', contentSha256: 'a'.repeat(64), resolved: { realPath: '/workspace/a', type: 'file', nlink: 1 } })).toBe(a);
  });

  it('refuse malformed actions with the field and the reason', () => {
    const bad = (v: unknown): string => {
      try {
        parseAction(v);
      } catch (err) {
        expect(err).toBeInstanceOf(AirlockError);
        return (err as AirlockError).code + ' ' + (err as AirlockError).message;
      }
      return 'accepted';
    };
    expect(bad({ kind: 'exec', argv: [] })).toMatch(/^E_APPROVAL_INVALID .*argv is empty/);
    expect(bad({ kind: 'exec', argv: ['a\0b'] })).toMatch(/NUL byte/);
    expect(bad({ kind: 'network', host: 'h', port: 70000 })).toMatch(/^E_APPROVAL_INVALID/);
    expect(bad({ kind: 'file.write', path: '/a', contentSha256: 'xyz' })).toMatch(/SHA-256/);
    expect(bad({ kind: 'exec', argv: ['ls'], extra: 1 })).toMatch(/^E_APPROVAL_INVALID/);
    expect(bad({ kind: 'exec', argv: ['ls'], env: { 'A=B': 'x' } })).toMatch(/env\.A=B: an environment variable name must be 1-1024 characters without "=" or NUL/);
  });

  it('digests are equal exactly when the canonical actions are equal (property)', () => {
    fc.assert(
      fc.property(arbExec, arbExec, (a, b) => {
        const same = JSON.stringify(canonicalAction(a)) === JSON.stringify(canonicalAction(b));
        const sortedSame = same || JSON.stringify(fromCanonical(canonicalAction(a))) === JSON.stringify(fromCanonical(canonicalAction(b)));
        expect(actionDigest(a) === actionDigest(b)).toBe(sortedSame);
      }),
      { numRuns: 300 },
    );
  });

  it('any change to one argument, the cwd or one variable changes the digest (property)', () => {
    fc.assert(
      fc.property(arbExec, fc.nat(), arbArg, (a, pick, replacement) => {
        if (a.kind !== 'exec' || !('argv' in a)) return;
        const i = pick % a.argv.length;
        fc.pre(a.argv[i] !== replacement);
        const argv = [...a.argv];
        argv[i] = replacement;
        expect(actionDigest({ ...a, argv })).not.toBe(actionDigest(a));
        expect(actionDigest({ ...a, cwd: `${a.cwd ?? '/workspace'}x` })).not.toBe(actionDigest(a));
        expect(actionDigest({ ...a, env: { ...(a.env ?? {}), ZZZ_EXTRA: replacement } })).not.toBe(actionDigest(a));
        expect(actionDigest({ ...a, argv: [...a.argv, replacement] })).not.toBe(actionDigest(a));
      }),
      { numRuns: 300 },
    );
  });
});
