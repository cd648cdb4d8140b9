/**
 * The async boundary: prepareAction cross-checks the airlock parser with sh-syntax
 * (mvdan/sh). Runs the real WebAssembly parser; each check takes about 10 ms.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createShellOracle,
  decide,
  prepareAction,
  type PreparedExecAction,
} from '../../../src/policy/index.js';
import { parseShell } from '../../../src/policy/shell/parse.js';
import { CTX, policyNamed } from './helpers.js';

const oracle = createShellOracle();

describe('sh-syntax oracle [parser.oracle-disagreement]', () => {
  it('agrees on ordinary command lines', async () => {
    for (const cmd of [
      'git status && npm test | tee out.txt',
      'ls; echo a &\n pwd',
      'cat <<EOF\nx\nEOF\nls',
      'for i in 1 2; do echo $i; done',
      'echo $\'a\\x41\' "b"',
    ]) {
      const r = parseShell(cmd);
      expect(await oracle.check(cmd, r.ok ? r.script : null), cmd).toBeNull();
    }
  });

  it('reports a disagreement about statements, which decide turns into a denial', async () => {
    // a hand-made tree that claims one statement where bash sees two
    const r = parseShell('ls');
    if (!r.ok) throw new Error('parse');
    expect(await oracle.check('ls; sudo id', r.script)).toMatch(
      /sh-syntax sees 2 top-level statements, airlock sees 1/,
    );
    const prepared: PreparedExecAction = {
      kind: 'exec',
      command: 'ls; sudo id',
      prepared: { parse: r, oracleDisagreement: 'test' },
    };
    expect(decide(prepared, policyNamed('default'), CTX)).toMatchObject({
      verdict: 'deny',
      ruleId: 'parser-disagreement',
    });
  });

  it('reports when sh-syntax rejects what airlock accepted', async () => {
    const r = parseShell('ls');
    if (!r.ok) throw new Error('parse');
    expect(await oracle.check('ls; ;', r.script)).toMatch(/sh-syntax rejects it/);
  });

  it('prepareAction parses once and decide uses the prepared tree', async () => {
    const a = await prepareAction({ kind: 'exec', command: 'git status; npm test' }, { oracle });
    expect('prepared' in a && a.prepared.oracleDisagreement).toBeNull();
    expect(decide(a, policyNamed('default'), CTX).verdict).toBe('log');
    const file = await prepareAction({ kind: 'file.read', path: 'x' }, { oracle });
    expect(file).toEqual({ kind: 'file.read', path: 'x' });
  });

  it('agrees with airlock on the statement structure of generated command lines', async () => {
    const word = fc.constantFrom(
      'ls',
      'echo',
      '"a b"',
      "'c;d'",
      'x\\;y',
      '$(pwd)',
      '`id`',
      '${HOME}',
      'a=1',
      '>f',
      '2>&1',
      '&&',
      '||',
      '|',
      ';',
      '&',
      '\n',
      '#c\n',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(word, { minLength: 1, maxLength: 8 }), async (words) => {
        const cmd = words.join(' ');
        const r = parseShell(cmd);
        if (!r.ok) return;
        expect(await oracle.check(cmd, r.script), cmd).toBeNull();
      }),
      { numRuns: 120 },
    );
  }, 60_000);
});
