/**
 * Property-based tests: no generated quoting, escaping or wrapping of a denied
 * command is allowed, and the parser and decide never throw on arbitrary input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, parseShell } from '../../../src/policy/index.js';
import { CTX, policyNamed } from './helpers.js';

/** Commands the default preset denies outright. */
const DENIED: readonly (readonly string[])[] = [
  ['sudo', 'id'],
  ['rm', '-rf', '/'],
  ['git', 'push', '--force'],
  ['git', '-c', 'core.pager=sh', 'log'],
  ['curl', '--config', '/tmp/c', 'https://example.com'],
  ['cat', '/etc/shadow'],
  ['tar', '--to-command=sh', '-xf', 'a.tar'],
  ['npm', 'publish'],
];

const hex = (s: string): string =>
  Array.from(s)
    .map((c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
    .join('');
const oct = (s: string): string =>
  Array.from(s)
    .map((c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
    .join('');

/** Ways to write one chunk of a word so that bash reads back exactly the chunk. */
const QUOTERS: readonly ((s: string) => string)[] = [
  (s) => (/^[A-Za-z0-9_./=:-]+$/.test(s) ? s : `'${s}'`),
  (s) => `'${s.replace(/'/g, `'\\''`)}'`,
  (s) => `"${s.replace(/[\\"$`]/g, (m) => `\\${m}`)}"`,
  (s) => Array.from(s, (c) => `\\${c}`).join(''),
  (s) => `$'${hex(s)}'`,
  (s) => `$'${oct(s)}'`,
  (s) => `$"${s.replace(/[\\"$`]/g, (m) => `\\${m}`)}"`,
  (s) => `${s.slice(0, 1)}''${s.slice(1)}`,
  (s) => `"${s.slice(0, 1)}"${s.length > 1 ? `'${s.slice(1)}'` : ''}`,
];

/** A word split into chunks, each chunk quoted its own way. */
const quotedWord = (w: string): fc.Arbitrary<string> =>
  fc.array(fc.nat({ max: QUOTERS.length - 1 }), { minLength: 1, maxLength: 4 }).chain((picks) =>
    fc.integer({ min: 1, max: Math.max(1, w.length) }).map((size) => {
      const chunks: string[] = [];
      for (let k = 0; k < w.length; k += size) chunks.push(w.slice(k, k + size));
      return chunks
        .map((c, i) => (QUOTERS[picks[i % picks.length] as number] as (s: string) => string)(c))
        .join('');
    }),
  );

const quotedCommand = (argv: readonly string[]): fc.Arbitrary<string> =>
  fc.tuple(...argv.map((w) => quotedWord(w)), fc.constantFrom(' ', '  ', '\t', ' \\\n ')).map((parts) => {
    const sep = parts[parts.length - 1] as string;
    return parts.slice(0, -1).join(sep);
  });

/** Ways to wrap a command line so that it still runs. */
const WRAPS: readonly ((cmd: string, q: (s: string) => string) => string)[] = [
  (c) => c,
  (c) => `echo ok; ${c}`,
  (c) => `true && ${c}`,
  (c) => `false || ${c}`,
  (c) => `ls | ${c}`,
  (c) => `${c} | cat`,
  (c) => `( ${c} )`,
  (c) => `{ ${c}; }`,
  (c) => `if true; then ${c}; fi`,
  (c) => `for i in 1; do ${c}; done`,
  (c) => `echo "$(${c})"`,
  (c) => `echo \`${c.replace(/[\\`$]/g, (m) => `\\${m}`)}\``,
  (c) => `cat <(${c})`,
  (c, q) => `bash -c ${q(c)}`,
  (c, q) => `sh -c ${q(c)}`,
  (c, q) => `eval ${q(c)}`,
  (c) => `env ${c}`,
  (c) => `env -i FOO=1 ${c}`,
  (c) => `nice -n 10 ${c}`,
  (c) => `nohup ${c}`,
  (c) => `timeout 30 ${c}`,
  (c) => `command ${c}`,
  (c) => `exec ${c}`,
  (c) => `time ${c}`,
  (c) => `stdbuf -oL ${c}`,
  (c) => `FOO=bar ${c}`,
  (c) => `${c} &`,
  (c) => `${c} > /dev/null 2>&1`,
];

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const dq = (s: string): string => `"${s.replace(/[\\"$`]/g, (m) => `\\${m}`)}"`;

describe('properties', () => {
  const policy = policyNamed('default');

  it('any quoting or escaping of a denied command is still denied [policy.quote-escape]', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DENIED).chain(quotedCommand), (cmd) => {
        const d = decide({ kind: 'exec', command: cmd }, policy, CTX);
        expect(d.verdict, `${JSON.stringify(cmd)}: ${d.ruleId} ${d.reason}`).toBe('deny');
      }),
      { numRuns: 400 },
    );
  });

  it('no wrapping (nested up to three deep) of a quoted denied command is allowed [policy.wrappers]', () => {
    const wrapped = fc
      .tuple(
        fc.constantFrom(...DENIED).chain(quotedCommand),
        fc.array(fc.tuple(fc.nat({ max: WRAPS.length - 1 }), fc.boolean()), { minLength: 1, maxLength: 3 }),
      )
      .map(([cmd, wraps]) =>
        wraps.reduce(
          (c, [w, useDq]) =>
            (WRAPS[w] as (c: string, q: (s: string) => string) => string)(c, useDq ? dq : shellQuote),
          cmd,
        ),
      );
    fc.assert(
      fc.property(wrapped, (cmd) => {
        const d = decide({ kind: 'exec', command: cmd }, policy, CTX);
        expect(['ask', 'deny'], `${JSON.stringify(cmd)}: ${d.verdict} ${d.ruleId} ${d.reason}`).toContain(
          d.verdict,
        );
      }),
      { numRuns: 600 },
    );
  });

  it('parseShell and decide never throw, and decide is deterministic, on arbitrary text [policy.decide-pure]', () => {
    const shellish = fc.stringMatching(/^[a-z ;&|<>(){}$`'"\\\n#=*?[\]~!-]{0,60}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), shellish), (text) => {
        const r = parseShell(text);
        expect(typeof r.ok).toBe('boolean');
        const a = decide({ kind: 'exec', command: text }, policy, CTX);
        const b = decide({ kind: 'exec', command: text }, policy, CTX);
        expect(b).toEqual(a);
        expect(['allow', 'log', 'ask', 'deny']).toContain(a.verdict);
      }),
      { numRuns: 1500 },
    );
  });

  it('an unparsable command is never allowed [policy.unparsable-is-deny]', () => {
    const shellish = fc.stringMatching(/^[a-z ;&|<>(){}$`'"\\\n]{1,40}$/);
    fc.assert(
      fc.property(shellish, (text) => {
        if (parseShell(text).ok) return;
        expect(decide({ kind: 'exec', command: text }, policy, CTX).verdict).toBe('deny');
      }),
      { numRuns: 1500 },
    );
  });
});
