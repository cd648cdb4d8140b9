/**
 * How an ask is shown to a person. Everything in an ask comes from the agent, so every
 * string is escaped before display: control characters (which could move the cursor,
 * rewrite the line or retitle the window), bidirectional overrides (which could show
 * `rm -rf /` as something else) and invisible characters are written as visible escapes.
 * The terminal, the web page and the webhook all use these functions, so every channel
 * shows the same text.
 */
import type { ApprovalRecord, CanonicalAction } from './types.js';

/**
 * Characters that are shown as escapes: controls (C0, DEL, C1), format characters (which
 * include the bidirectional controls, zero-width characters, the soft hyphen and Unicode
 * tags), line and paragraph separators, private-use, unassigned and lone surrogate code
 * points, and the characters that render as nothing (Hangul fillers, the combining
 * grapheme joiner, variation selectors) or stand for bytes that were not UTF-8 (U+FFFD).
 * Built from a list so the class is written once, with the `u` flag, by code point.
 */
const HIDDEN_CLASSES = [
  '\\p{Cc}',
  '\\p{Cf}',
  '\\p{Co}',
  '\\p{Cn}',
  '\\p{Cs}',
  '\\p{Zl}',
  '\\p{Zp}',
  '\\u{034f}',
  '\\u{115f}\\u{1160}\\u{3164}\\u{ffa0}',
  '\\u{17b4}\\u{17b5}',
  '\\u{fe00}-\\u{fe0f}',
  '\\u{e0100}-\\u{e01ef}',
  '\\u{fffd}',
];
// eslint-disable-next-line no-misleading-character-class -- the class lists invisible combining marks on purpose, to escape them
const HIDDEN = new RegExp(`[${HIDDEN_CLASSES.join('')}]`, 'gu');

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\x1b': '\\e', '\\': '\\\\' };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named !== undefined) return named;
  const cp = ch.codePointAt(0) ?? 0;
  return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16)}}`;
}

/** True when `s` holds a character {@link escapeText} would escape. */
export function hasHiddenCharacters(s: string): boolean {
  HIDDEN.lastIndex = 0;
  const found = HIDDEN.test(s);
  HIDDEN.lastIndex = 0;
  return found;
}

/**
 * `s` with every control, bidirectional and invisible character written as an escape
 * (`\n`, `\e`, `\x07`, `\u{202e}`). Backslashes are doubled only where the text also
 * has such a character, so ordinary text reads unchanged and escaped text is unambiguous.
 */
export function escapeText(s: string): string {
  if (!hasHiddenCharacters(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(HIDDEN, escapeOne);
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/**
 * One argument as a shell would need it written: bare when it is plain, in single
 * quotes otherwise, and in `$'…'` with escapes when it holds hidden characters. A
 * command name (`commandName`) also escapes every non-ASCII character, so a look-alike
 * such as Cyrillic "rм" cannot pass for "rm".
 */
export function quoteArg(s: string, commandName = false): string {
  const nonAscii = commandName && /[^\x20-\x7e]/.test(s);
  if (!nonAscii && SAFE_WORD.test(s)) return s;
  if (!nonAscii && !hasHiddenCharacters(s)) return `'${s.replace(/'/g, `'\\''`)}'`;
  let out = "$'";
  for (const ch of s) {
    if (ch === "'") out += "\\'";
    else if (ch === '\\') out += '\\\\';
    else if (hasHiddenCharacters(ch) || (commandName && /[^\x20-\x7e]/.test(ch))) out += escapeOne(ch);
    else out += ch;
  }
  return `${out}'`;
}

/** An argv as one shell-quoted line, with every character visible. */
export function displayArgv(argv: readonly string[]): string {
  return argv.map((a, i) => quoteArg(a, i === 0)).join(' ');
}

/** The action in one line: the command, the file access, or the request. */
export function displayAction(a: CanonicalAction): string {
  switch (a.kind) {
    case 'exec':
      return a.argv !== null ? displayArgv(a.argv) : escapeText(a.command);
    case 'file.read':
      return `read ${escapeText(a.path)}`;
    case 'file.write':
      return `write ${escapeText(a.path)}${a.contentSha256 === null ? '' : ` (content sha256 ${a.contentSha256.slice(0, 16)}…)`}`;
    case 'network': {
      if (a.method === null && a.path === null) return `CONNECT ${escapeText(a.host)}:${a.port}${a.scheme === null ? '' : ` (${a.scheme})`}`;
      const scheme = a.scheme ?? (a.port === 443 ? 'https' : 'http');
      return `${escapeText(a.method ?? 'GET')} ${scheme}://${escapeText(a.host)}:${a.port}${escapeText(a.path ?? '')}`;
    }
  }
}

/** `s` cut to `max` characters, saying how much was left out. */
export function clip(s: string, max: number): string {
  const flat = s.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}… (+${flat.length - max + 1} chars)` : flat;
}

/** The lines a person reads for one ask: what, where, why, every part, and the digest. */
export function describeRecord(r: ApprovalRecord): string[] {
  const lines: string[] = [];
  const session = r.sessionName === null ? r.sessionId : `${escapeText(r.sessionName)} (${r.sessionId})`;
  lines.push(`${r.id}  ${r.category}  session ${session}${r.count > 1 ? `  ×${r.count} identical asks` : ''}`);
  lines.push(`  ${r.category === 'exec' ? '$ ' : ''}${r.subject}`);
  const a = r.action;
  if (a.kind === 'exec') {
    lines.push(`  cwd ${a.cwd === null ? '(the session default)' : escapeText(a.cwd)}`);
    for (const [k, v] of Object.entries(a.env)) lines.push(`  env ${escapeText(k)}=${quoteArg(v)}`);
    if (a.command !== null) lines.push('  runs through bash -c');
  }
  if (r.resolved !== null) {
    lines.push(`  resolves to ${escapeText(r.resolved.realPath)} (${r.resolved.type}${r.resolved.nlink > 1 ? `, ${r.resolved.nlink} hard links` : ''})`);
  }
  lines.push(`  asked by rule ${escapeText(r.ruleId)}: ${escapeText(r.reason)}`);
  if (r.parts.length > 1 || (r.parts[0] !== undefined && r.parts[0].subject !== r.subject)) {
    lines.push('  parts:');
    for (const p of r.parts) {
      lines.push(`    ${p.verdict.padEnd(5)} ${escapeText(p.kind).padEnd(10)} ${escapeText(p.subject)}${p.destructive ? '  [destructive]' : ''}`);
      lines.push(`          ${escapeText(p.ruleId)}: ${escapeText(p.reason)}`);
    }
  }
  if (r.destructive) lines.push('  destructive: decide it on its own, never in a batch');
  if (r.diff !== null) {
    lines.push('  diff:');
    for (const l of r.diff.split('\n')) lines.push(`    ${escapeText(l)}`);
  }
  lines.push(`  digest ${r.digest}`);
  lines.push(`  expires ${r.expiresAt}`);
  return lines;
}
