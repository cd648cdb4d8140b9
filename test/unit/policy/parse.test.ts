import { describe, expect, it } from 'vitest';
import { parseShell } from '../../../src/policy/index.js';
import type { Command, Script, SimpleCommand, Word } from '../../../src/policy/shell/ast.js';
import { expandWord } from '../../../src/policy/shell/words.js';

/** The argv of every simple command, in order, with expansions shown as «…». */
function commands(src: string): string[][] {
  const r = parseShell(src);
  if (!r.ok) throw new Error(`${r.kind}: ${r.message}`);
  const out: string[][] = [];
  const word = (w: Word): string[] => {
    const e = expandWord(w, { home: '/home/agent', cwd: '/workspace' });
    return e.kind === 'static' ? e.fields.map((f) => f.value) : ['«dynamic»'];
  };
  const walkScript = (s: Script): void => {
    for (const st of s.stmts)
      for (const p of [st.andOr.first, ...st.andOr.rest.map((r) => r.pipeline)])
        for (const c of p.commands) walk(c);
  };
  const walkWord = (w: Word): void => {
    for (const p of w.parts) if (p.t === 'cmdsub' || p.t === 'procsub') walkScript(p.body);
  };
  const walk = (c: Command): void => {
    switch (c.kind) {
      case 'simple': {
        const s: SimpleCommand = c;
        for (const r of s.redirs) walkWord(r.heredoc?.body ?? r.target ?? { pos: 0, end: 0, parts: [] });
        for (const w of s.words) walkWord(w);
        out.push(s.words.flatMap(word));
        return;
      }
      case 'subshell':
      case 'group':
        walkScript(c.body);
        return;
      case 'if':
        for (const cl of c.clauses) {
          walkScript(cl.cond);
          walkScript(cl.body);
        }
        if (c.elseBody) walkScript(c.elseBody);
        return;
      case 'loop':
        walkScript(c.cond);
        walkScript(c.body);
        return;
      case 'for':
        walkScript(c.body);
        return;
      case 'case':
        for (const i of c.items) walkScript(i.body);
        return;
      case 'cond':
      case 'arith':
        return;
      case 'opaque':
        for (const n of c.nested) walkScript(n);
        return;
    }
  };
  walkScript(r.script);
  return out;
}

describe('shell parser [policy.quote-escape]', () => {
  it.each([
    ['ec""ho hi', [['echo', 'hi']]],
    ["ec''ho 'a b'", [['echo', 'a b']]],
    ['\\rm -rf x', [['rm', '-rf', 'x']]],
    ["$'\\x72\\x6d' x", [['rm', 'x']]],
    ["$'a\\tb\\n'", [['a\tb\n']]],
    ["$'\\101\\u00e9\\U0001F600'", [['Aé😀']]],
    ["$'ab\\x00cd'ef", [['abef']]],
    ["$'\\cA'", [['\x01']]],
    ['a\\\nb', [['ab']]],
    ['"a\\\nb"', [['ab']]],
    ["'a\\\nb'", [['a\\\nb']]],
    ['"a\\$b\\`c\\"d\\\\e\\f"', [['a$b`c"d\\e\\f']]],
    ['echo {a,b}c', [['echo', 'ac', 'bc']]],
    ['echo {1..3}', [['echo', '1', '2', '3']]],
    ['echo "{a,b}"', [['echo', '{a,b}']]],
    ['echo ~/x ~root', [['echo', '/home/agent/x', '«dynamic»']]],
    ['echo a#b #c', [['echo', 'a#b']]],
    ['echo $x', [['echo', '«dynamic»']]],
    ['a=1 b=2 cmd', [['cmd']]],
    ['x | y || z && w; v & u', [['x'], ['y'], ['z'], ['w'], ['v'], ['u']]],
    ['echo $(a; b) `c`', [['a'], ['b'], ['c'], ['echo', '«dynamic»', '«dynamic»']]],
    ['if a; then b; elif c; then d; else e; fi', [['a'], ['b'], ['c'], ['d'], ['e']]],
    ['case $x in a|b) c;; *) d;; esac', [['c'], ['d']]],
    ['for i in 1 2; do a "$i"; done', [['a', '«dynamic»']]],
    ['while a; do b; done', [['a'], ['b']]],
    ['cat <<A <<B\nx\nA\ny $(z)\nB\nnext', [['z'], ['cat'], ['next']]],
    ['cat <<-EOF\n\tx\n\tEOF\n', [['cat']]],
    ['echo $((1+2)) ${x:-y}', [['echo', '«dynamic»', '«dynamic»']]],
    ['{ a; b; } > f', [['a'], ['b']]],
    ['echo }', [['echo', '}']]],
    ['echo a{b', [['echo', 'a{b']]],
    ["echo '\"'", [['echo', '"']]],
  ])('%j', (src, expected) => {
    expect(commands(src)).toEqual(expected);
  });

  it.each([
    ['ls;;', 'syntax'],
    ['done', 'syntax'],
    ['fi', 'syntax'],
    ['{ ls }', 'syntax'],
    ['echo (', 'syntax'],
    ['(ls', 'syntax'],
    ['ls )', 'syntax'],
    ['echo "x', 'syntax'],
    ["echo 'x", 'syntax'],
    ['echo $(ls', 'syntax'],
    ['echo `ls', 'syntax'],
    ['echo ${x', 'syntax'],
    ['echo ${}', 'syntax'],
    ['cat <<EOF\nx', 'syntax'],
    ['a && && b', 'syntax'],
    ['| a', 'syntax'],
    ['a |', 'syntax'],
    ['> ', 'syntax'],
    ['if a; then b', 'syntax'],
    ['case x in a) b', 'syntax'],
    ['for 1 in a; do b; done', 'syntax'],
  ])('rejects %j [policy.unparsable-is-deny]', (src, kind) => {
    const r = parseShell(src);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.kind).toBe(kind);
  });

  it('enforces limits [policy.parser-limits]', () => {
    const r1 = parseShell('a;'.repeat(5000));
    expect(!r1.ok && r1.kind).toBe('limit');
    const r2 = parseShell(`${'( '.repeat(100)}a${' )'.repeat(100)}`);
    expect(!r2.ok && r2.kind).toBe('limit');
    const r3 = parseShell('x'.repeat(70_000));
    expect(!r3.ok && r3.kind).toBe('limit');
    const r4 = parseShell('x'.repeat(100), { maxLength: 50, maxDepth: 10, maxNodes: 10 });
    expect(!r4.ok && r4.kind).toBe('limit');
  });

  it('records statement offsets for the oracle cross-check', () => {
    const r = parseShell('ls; echo a &\n  pwd');
    expect(r.ok && r.script.stmts.map((s) => [s.pos, s.background])).toEqual([
      [0, false],
      [4, true],
      [15, false],
    ]);
  });
});
