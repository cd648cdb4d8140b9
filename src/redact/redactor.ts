import { AirlockError } from '../errors/index.js';
import { CONTEXT_HOLD, PATTERN_PREFILTER, PEM_END_REGEX, SECRET_PATTERNS } from './patterns.js';
import type { RedactionKind } from './patterns.js';

/** Options for {@link createRedactor}. */
export interface RedactorOptions {
  /** Secret values the session knows (from the credential broker, the environment). */
  secrets?: readonly string[];
  /** Also redact the built-in credential patterns. Default true; tests turn it off. */
  patterns?: boolean;
}

/** Where one secret sits in a text. */
export interface RedactionMatch {
  kind: RedactionKind;
  /** Offset of the first UTF-16 code unit. */
  start: number;
  /** Offset one past the last code unit. */
  end: number;
}

/** A span of text a stream must hold back whole. */
interface Guard {
  start: number;
  end: number;
}

/** Redacts a stream of text chunks, catching secrets split between chunks. */
export interface StreamRedactor {
  /** Takes the next chunk; returns the redacted text that is safe to pass on now. */
  push(chunk: string): string;
  /** Ends the stream; returns the redacted remainder. */
  end(): string;
  /** Characters currently held back. */
  readonly pending: number;
}

/** Redacts secrets from text and JSON values. One per session; not shared. */
export interface Redactor {
  /** Returns `text` with every secret replaced by `[REDACTED:kind]`. */
  redact(text: string): string;
  /** Redacts every string (keys too) in a JSON-like value; returns a copy, or the same value when nothing changed. */
  redactValue<T>(value: T): T;
  /** Finds the secrets in `text`, merged and in order. */
  scan(text: string): RedactionMatch[];
  /** Starts a streaming redactor for one output stream. */
  stream(): StreamRedactor;
  /** Adds secret values learned later (a credential the broker fetched). */
  addSecrets(secrets: readonly string[]): void;
  /** How many characters a stream holds back at least (the longest possible split match). */
  readonly holdback: number;
}

/**
 * Shortest secret value accepted. A shorter one would shred ordinary text while protecting
 * almost nothing; worse, redaction is an oracle: an agent that prints candidate strings and
 * sees which come back as `[REDACTED:secret]` can enumerate a short secret it was never given
 * (62^4 candidates fit in one command's output; 62^8 do not). So a shorter value is refused
 * (`E_REDACT_INVALID`, and the session does not start), never silently skipped.
 */
export const MIN_SECRET_LENGTH = 8;

/**
 * How far a stream may hold back a run of non-whitespace before it must let some text go.
 * Real tokens are far shorter; this bounds memory on output such as a long base64 line.
 */
const MAX_STREAM_HOLD = 64 * 1024;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function markerFor(kind: RedactionKind): string {
  return `[REDACTED:${kind}]`;
}

/** The variants of a secret worth looking for: as is, and percent-encoded in a URL. */
function variantsOf(secret: string): string[] {
  const out = [secret];
  const encoded = encodeURIComponent(secret);
  if (encoded !== secret) out.push(encoded);
  return out;
}

/**
 * Creates a redactor. Throws `E_REDACT_INVALID` when a secret is too short to redact
 * without destroying the text around it.
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const usePatterns = options.patterns ?? true;
  const secrets = new Set<string>();
  let secretRegex: RegExp | null = null;
  let longestSecret = 0;

  function addSecrets(values: readonly string[]): void {
    values.forEach((value, i) => {
      if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) {
        throw new AirlockError(
          'E_REDACT_INVALID',
          `secrets[${i}]: a secret of ${typeof value === 'string' ? value.length : typeof value} characters cannot be redacted safely; secrets must be strings of at least ${MIN_SECRET_LENGTH} characters.`,
          {
            hint: 'Check the credential reference that produced it (an empty or placeholder environment variable?).',
          },
        );
      }
      for (const v of variantsOf(value)) secrets.add(v);
    });
    const all = [...secrets].sort((a, b) => b.length - a.length);
    longestSecret = all[0]?.length ?? 0;
    // Longest first, so a secret that contains another is replaced whole.
    secretRegex = all.length === 0 ? null : new RegExp(all.map(escapeRegex).join('|'), 'g');
  }
  addSecrets(options.secrets ?? []);

  /**
   * The secrets in `text` (merged, in order), and the guards: the whole regex match of each
   * (key-name context included), which a stream must not split, or the context would leave
   * before the value arrives and the value would no longer be recognized.
   */
  function find(text: string): { matches: RedactionMatch[]; guards: Guard[] } {
    const found: RedactionMatch[] = [];
    const guards: Guard[] = [];
    if (secretRegex !== null) {
      secretRegex.lastIndex = 0;
      for (let m = secretRegex.exec(text); m !== null; m = secretRegex.exec(text)) {
        found.push({ kind: 'secret', start: m.index, end: m.index + m[0].length });
      }
    }
    if (usePatterns && PATTERN_PREFILTER.test(text)) {
      for (const p of SECRET_PATTERNS) {
        p.regex.lastIndex = 0;
        for (let m = p.regex.exec(text); m !== null; m = p.regex.exec(text)) {
          const span = m.indices?.[p.group];
          if (span !== undefined) found.push({ kind: p.kind, start: span[0], end: span[1] });
          if (p.group !== 0) guards.push({ start: m.index, end: m.index + m[0].length });
          if (m[0].length === 0) p.regex.lastIndex++;
        }
      }
    }
    for (const m of found) guards.push({ start: m.start, end: m.end });
    if (found.length <= 1) return { matches: found, guards };
    found.sort((a, b) => a.start - b.start || b.end - a.end);
    // Merge overlaps so no fragment of a secret survives between two markers.
    const merged: RedactionMatch[] = [];
    for (const m of found) {
      const last = merged[merged.length - 1];
      if (last !== undefined && m.start < last.end) {
        if (m.end > last.end) last.end = m.end;
      } else {
        merged.push({ ...m });
      }
    }
    return { matches: merged, guards };
  }

  function scan(text: string): RedactionMatch[] {
    return find(text).matches;
  }

  function render(text: string, matches: readonly RedactionMatch[], upTo: number): string {
    let out = '';
    let pos = 0;
    for (const m of matches) {
      if (m.end > upTo) break;
      out += text.slice(pos, m.start) + markerFor(m.kind);
      pos = m.end;
    }
    return out + text.slice(pos, upTo);
  }

  function redact(text: string): string {
    const matches = scan(text);
    return matches.length === 0 ? text : render(text, matches, text.length);
  }

  function redactValue<T>(value: T): T {
    return redactUnknown(value) as T;
  }

  function redactUnknown(value: unknown): unknown {
    if (typeof value === 'string') return redact(value);
    if (Array.isArray(value)) {
      let changed = false;
      const out = value.map((v: unknown) => {
        const r = redactUnknown(v);
        if (r !== v) changed = true;
        return r;
      });
      return changed ? out : value;
    }
    if (value !== null && typeof value === 'object') {
      let changed = false;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const rk = redact(k);
        const rv = redactUnknown(v);
        if (rk !== k || rv !== v) changed = true;
        out[rk] = rv;
      }
      return changed ? out : value;
    }
    return value;
  }

  const redactor: Redactor = {
    redact,
    redactValue,
    scan,
    addSecrets,
    stream: () => createStream(redactor, find, render),
    get holdback() {
      return Math.max(longestSecret - 1, usePatterns ? CONTEXT_HOLD : 0);
    },
  };
  return redactor;
}

/** Start of the trailing run of non-whitespace characters (a token still being written). */
function trailingRunStart(text: string): number {
  let i = text.length;
  while (i > 0 && !isSpace(text.charCodeAt(i - 1))) i--;
  return i;
}

function isSpace(code: number): boolean {
  // ASCII fast path; the rest of \s (NBSP, Unicode spaces) through the regex engine.
  if (code < 128) return code === 32 || (code >= 9 && code <= 13);
  return /\s/.test(String.fromCharCode(code));
}

function createStream(
  redactor: Redactor,
  find: (text: string) => { matches: RedactionMatch[]; guards: Guard[] },
  render: (text: string, matches: readonly RedactionMatch[], upTo: number) => string,
): StreamRedactor {
  let buf = '';
  // Set after a secret outgrew the hold limit while still growing: its marker is already
  // out, and the rest of it is dropped as it arrives: a private key up to its END line,
  // a token up to the next whitespace.
  let skipping: 'private-key' | 'token' | null = null;

  function skip(): void {
    if (skipping === 'private-key') {
      const end = PEM_END_REGEX.exec(buf);
      if (end === null) {
        // Keep a tail in case the END line itself is split across chunks.
        buf = buf.slice(Math.max(0, buf.length - 64));
        return;
      }
      buf = buf.slice(end.index + end[0].length);
    } else {
      let i = 0;
      while (i < buf.length && !isSpace(buf.charCodeAt(i))) i++;
      buf = buf.slice(i);
      if (buf.length === 0) return;
    }
    skipping = null;
  }

  function drain(): string {
    let out = '';
    if (skipping !== null) {
      skip();
      if (skipping !== null) return out;
    }
    const { matches, guards } = find(buf);
    // A secret can only be split at the end of the buffer: hold back anything that could
    // be the beginning of one. Literal secrets and key-name contexts may contain spaces, so
    // a fixed window; tokens are runs of non-whitespace, so the whole trailing run.
    let cut = Math.min(buf.length - redactor.holdback, trailingRunStart(buf));
    if (buf.length - cut > MAX_STREAM_HOLD) cut = buf.length - redactor.holdback;
    // A match that reaches the cut may still grow with the next chunk: hold it whole,
    // context included. Moving the cut back can make it reach another match: repeat.
    for (let moved = true; moved;) {
      moved = false;
      for (const g of guards) {
        if (g.start < cut && g.end >= cut) {
          cut = g.start;
          moved = true;
        }
      }
    }
    if (cut <= 0) {
      const last = matches[matches.length - 1];
      if (buf.length > MAX_STREAM_HOLD && last !== undefined && last.end === buf.length) {
        // A secret that keeps growing past the hold limit: say so now, drop the rest as it comes.
        out += render(buf, matches, buf.length);
        buf = '';
        skipping = last.kind === 'private-key' ? 'private-key' : 'token';
      }
      return out;
    }
    out += render(buf, matches, cut);
    buf = buf.slice(cut);
    return out;
  }

  return {
    push(chunk) {
      if (chunk.length === 0) return '';
      buf += chunk;
      return drain();
    },
    end() {
      if (skipping !== null) {
        skip();
        if (skipping !== null) {
          buf = '';
          skipping = null;
          return '';
        }
      }
      const out = redactor.redact(buf);
      buf = '';
      return out;
    },
    get pending() {
      return buf.length;
    },
  };
}
