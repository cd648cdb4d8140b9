/**
 * Static expansion of words: quote removal, brace expansion, tilde expansion and
 * glob detection, as bash performs them before running a command. Anything that
 * depends on run-time state (a variable, a substitution) makes the word dynamic.
 */
import type { Word, WordPart } from './ast.js';

/** One field a static word expands to. */
export interface Field {
  /** The text after quote removal. */
  readonly value: string;
  /**
   * When the field contains unquoted glob characters, the pattern with quoted
   * characters escaped by a backslash (bash expands it to matching paths); else null.
   */
  readonly glob: string | null;
}

/** The result of expanding a word statically. */
export type Expansion =
  | { readonly kind: 'static'; readonly fields: readonly Field[] }
  | { readonly kind: 'dynamic'; readonly reason: string };

/** What expansion needs to know about the shell's state. */
export interface ExpandEnv {
  readonly home: string;
  /** The current directory when it is known for certain, for `~+`. */
  readonly cwd: string | null;
}

/** Most fields a brace expansion may produce before the word is treated as dynamic. */
export const MAX_BRACE_FIELDS = 256;

interface Ch {
  c: string;
  q: boolean;
}

function describeDynamic(p: WordPart): string {
  switch (p.t) {
    case 'param':
      return `the value of ${p.text} is only known at run time`;
    case 'cmdsub':
      return 'the output of a command substitution is only known at run time';
    case 'arith':
      return 'an arithmetic expansion is only known at run time';
    case 'procsub':
      return 'a process substitution names a file descriptor only known at run time';
    case 'dynamic':
      return p.reason;
    case 'lit':
      return 'literal';
  }
}

/** Expands a word without running anything. */
export function expandWord(w: Word, env: ExpandEnv): Expansion {
  const parts = w.parts;
  // fast path: one literal part with no characters that expansion would touch
  if (parts.length === 1) {
    const p = parts[0] as WordPart;
    if (p.t === 'lit' && (p.q || !hasSpecial(p.v)))
      return { kind: 'static', fields: [{ value: p.v, glob: null }] };
  }
  const chars: Ch[] = [];
  for (const p of parts) {
    if (p.t !== 'lit') {
      // an arithmetic expansion of a constant expression is still not a literal we know the value of
      return { kind: 'dynamic', reason: describeDynamic(p) };
    }
    for (const c of p.v) chars.push({ c, q: p.q });
  }
  const braced = braceExpand(chars, 0);
  if (braced === null)
    return { kind: 'dynamic', reason: `brace expansion produces more than ${MAX_BRACE_FIELDS} words` };
  const fields: Field[] = [];
  for (const f of braced) {
    const tilded = expandTilde(f, env);
    if (tilded === null) return { kind: 'dynamic', reason: 'a ~user or ~- path is only known at run time' };
    fields.push(toField(tilded));
  }
  return { kind: 'static', fields };
}

function hasSpecial(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const c = s[k];
    if (c === '{' || c === '~' || c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

function toField(chars: readonly Ch[]): Field {
  let value = '';
  let glob = false;
  for (const ch of chars) {
    value += ch.c;
    if (!ch.q && (ch.c === '*' || ch.c === '?' || ch.c === '[')) glob = true;
  }
  if (!glob) return { value, glob: null };
  let pattern = '';
  for (const ch of chars) {
    if (ch.q && (ch.c === '*' || ch.c === '?' || ch.c === '[' || ch.c === ']' || ch.c === '\\'))
      pattern += `\\${ch.c}`;
    else pattern += ch.c;
  }
  return { value, glob: pattern };
}

function expandTilde(chars: Ch[], env: ExpandEnv): Ch[] | null {
  const first = chars[0];
  if (first === undefined || first.q || first.c !== '~') return chars;
  let end = 1;
  while (end < chars.length && !((chars[end] as Ch).c === '/' && !(chars[end] as Ch).q)) end++;
  const prefixChars = chars.slice(1, end);
  if (prefixChars.some((ch) => ch.q)) return chars;
  const prefix = prefixChars.map((ch) => ch.c).join('');
  let replacement: string;
  if (prefix === '') replacement = env.home;
  else if (prefix === '+' && env.cwd !== null) replacement = env.cwd;
  else return null;
  const out: Ch[] = [];
  for (const c of replacement) out.push({ c, q: true });
  return out.concat(chars.slice(end));
}

/** Bash brace expansion over quoted/unquoted characters; null when it grows too large. */
function braceExpand(chars: Ch[], depth: number): Ch[][] | null {
  if (depth > 16) return null;
  for (let open = 0; open < chars.length; open++) {
    const o = chars[open] as Ch;
    if (o.q || o.c !== '{') continue;
    // `${` is never a brace expansion
    const before = chars[open - 1];
    if (before !== undefined && !before.q && before.c === '$') continue;
    let level = 0;
    const commas: number[] = [];
    let close = -1;
    for (let k = open; k < chars.length; k++) {
      const ch = chars[k] as Ch;
      if (ch.q) continue;
      if (ch.c === '{') level++;
      else if (ch.c === '}') {
        level--;
        if (level === 0) {
          close = k;
          break;
        }
      } else if (ch.c === ',' && level === 1) commas.push(k);
    }
    if (close < 0) return [chars];
    const prefix = chars.slice(0, open);
    const suffix = chars.slice(close + 1);
    let alternatives: Ch[][] | null;
    if (commas.length > 0) {
      alternatives = [];
      let from = open + 1;
      for (const c of [...commas, close]) {
        alternatives.push(chars.slice(from, c));
        from = c + 1;
      }
    } else {
      const seq = sequence(chars.slice(open + 1, close));
      if (seq === 'too-large') return null;
      alternatives = seq;
      if (alternatives === null) {
        // `{x}` or an invalid sequence is literal; look for a later brace
        continue;
      }
    }
    const results: Ch[][] = [];
    for (const alt of alternatives) {
      const expanded = braceExpand([...prefix, ...alt, ...suffix], depth + 1);
      if (expanded === null) return null;
      for (const e of expanded) {
        results.push(e);
        if (results.length > MAX_BRACE_FIELDS) return null;
      }
    }
    return results;
  }
  return [chars];
}

function sequence(inner: Ch[]): Ch[][] | null | 'too-large' {
  if (inner.some((ch) => ch.q)) return null;
  const s = inner.map((ch) => ch.c).join('');
  const pieces = s.split('..');
  if (pieces.length !== 2 && pieces.length !== 3) return null;
  const [a, b, stepText] = pieces as [string, string, string | undefined];
  const step = stepText === undefined ? 1 : Number(stepText);
  if (!Number.isInteger(step) || step === 0) return null;
  const isInt = (x: string): boolean => x.length > 0 && x.length < 10 && /^[+-]?\d+$/.test(x);
  const out: string[] = [];
  if (isInt(a) && isInt(b)) {
    const from = Number(a);
    const to = Number(b);
    const inc = Math.abs(step) * (from <= to ? 1 : -1);
    for (let v = from; from <= to ? v <= to : v >= to; v += inc) {
      out.push(String(v));
      if (out.length > MAX_BRACE_FIELDS) return 'too-large';
    }
  } else if (a.length === 1 && b.length === 1) {
    const from = a.charCodeAt(0);
    const to = b.charCodeAt(0);
    const inc = Math.abs(step) * (from <= to ? 1 : -1);
    for (let v = from; from <= to ? v <= to : v >= to; v += inc) out.push(String.fromCharCode(v));
  } else return null;
  if (out.length > MAX_BRACE_FIELDS) return 'too-large';
  return out.map((v) => Array.from(v, (c) => ({ c, q: false })));
}
