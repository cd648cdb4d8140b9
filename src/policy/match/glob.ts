/**
 * Path globs for file rules. A pattern matches a path and everything below it
 * (`/workspace` covers `/workspace/src/a.ts`). Syntax: `*` and `?` within one
 * segment (dotfiles included: policy patterns are about security, not listings),
 * `**` as a whole segment for any number of segments, `[abc]`/`[!abc]` classes,
 * `{a,b}` alternatives and `\` escapes.
 *
 * Besides matching one path, the policy must answer "could this shell glob (or this
 * whole directory tree) reach a path the pattern names?" for `rm -r DIR` or
 * `cat ~/.ss*`; {@link globMayIntersect} does that segment by segment.
 */

/** One compiled segment of a pattern. */
type Seg = { readonly any: true } | { readonly any: false; readonly lit: string | null; readonly re: RegExp };

/** A compiled path pattern. */
export interface PathGlob {
  /** The pattern as written after `~` and workspace resolution. */
  readonly source: string;
  readonly caseInsensitive: boolean;
  /** Alternatives after `{a,b}` expansion, each a list of segments. */
  readonly alternatives: readonly (readonly Seg[])[];
  /** Per alternative, cheap facts that let {@link globMayIntersect} skip the full search. */
  readonly hints: readonly AltHint[];
  /** Matches a normalized absolute path or anything below it. */
  readonly re: RegExp;
}

/** Leading literal segments, and the first literal after a leading `**`, of one alternative. */
export interface AltHint {
  readonly prefix: readonly string[];
  readonly afterStar: string | null;
}

function altHint(segs: readonly Seg[], ci: boolean): AltHint {
  const prefix: string[] = [];
  for (const s of segs) {
    if (s.any || s.lit === null) break;
    prefix.push(ci ? s.lit.toLowerCase() : s.lit);
  }
  const first = segs[0];
  const second = segs[1];
  const afterStar =
    first?.any === true && second !== undefined && !second.any && second.lit !== null
      ? ci
        ? second.lit.toLowerCase()
        : second.lit
      : null;
  return { prefix, afterStar };
}

/** The result of compiling a glob: the glob, or why it is invalid. */
export type GlobResult =
  { readonly ok: true; readonly glob: PathGlob } | { readonly ok: false; readonly error: string };

const MAX_ALTERNATIVES = 64;

function escapeRe(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** Splits `{a,b}` alternatives (nested allowed); null on an unbalanced brace. */
function expandBraces(p: string): string[] | null {
  let depth = 0;
  let open = -1;
  const commas: number[] = [];
  for (let k = 0; k < p.length; k++) {
    const c = p[k];
    if (c === '\\') {
      k++;
      continue;
    }
    if (c === '[') {
      // an unclosed class is reported by the segment compiler with a better message
      const close = p.indexOf(']', k + 2);
      if (close >= 0) k = close;
      continue;
    }
    if (c === '{') {
      if (depth === 0) open = k;
      depth++;
    } else if (c === '}') {
      depth--;
      if (depth < 0) return null;
      if (depth === 0) {
        if (commas.length === 0) return null;
        const pre = p.slice(0, open);
        const post = p.slice(k + 1);
        const alts: string[] = [];
        let from = open + 1;
        for (const c2 of [...commas, k]) {
          alts.push(p.slice(from, c2));
          from = c2 + 1;
        }
        const out: string[] = [];
        for (const a of alts) {
          const sub = expandBraces(pre + a + post);
          if (sub === null) return null;
          out.push(...sub);
          if (out.length > MAX_ALTERNATIVES) return null;
        }
        return out;
      }
    } else if (c === ',' && depth === 1) commas.push(k);
  }
  if (depth !== 0) return null;
  return [p];
}

/** Compiles one segment (no `/`) to a regex source, or an error. */
function segmentSource(seg: string): { src: string; lit: string | null } | string {
  let src = '';
  let lit: string | null = '';
  for (let k = 0; k < seg.length; k++) {
    const c = seg[k] as string;
    if (c === '\\') {
      const next = seg[k + 1];
      if (next === undefined) return 'ends with a lone "\\"';
      src += escapeRe(next);
      if (lit !== null) lit += next;
      k++;
    } else if (c === '*') {
      if (seg[k + 1] === '*')
        return 'uses "**" inside a segment; "**" must be a whole path segment, as in "src/**/x"';
      src += '[^/]*';
      lit = null;
    } else if (c === '?') {
      src += '[^/]';
      lit = null;
    } else if (c === '[') {
      let close = k + 1;
      if (seg[close] === '!' || seg[close] === '^') close++;
      if (seg[close] === ']') close++;
      close = seg.indexOf(']', close);
      if (close < 0) return 'has an unclosed "["';
      let body = seg.slice(k + 1, close);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      if (body.length === 0) return 'has an empty "[]" class';
      const cls = body.replace(/[\\\]^]/g, (m) => `\\${m}`);
      src += negate ? `[^/${cls}]` : `[${cls}]`;
      lit = null;
      k = close;
    } else if (c === ']') {
      return 'has a "]" without "["';
    } else {
      src += escapeRe(c);
      if (lit !== null) lit += c;
    }
  }
  return { src, lit };
}

/**
 * Compiles an absolute pattern. Relative patterns, `~` and `{workspace}` must be
 * resolved by the caller first.
 */
export function compileGlob(pattern: string, caseInsensitive: boolean): GlobResult {
  if (pattern.length === 0) return { ok: false, error: 'is empty' };
  if (pattern.includes('\0')) return { ok: false, error: 'contains a NUL byte' };
  if (!pattern.startsWith('/')) return { ok: false, error: 'must be absolute after resolution' };
  const expanded = expandBraces(pattern);
  if (expanded === null)
    return { ok: false, error: `has an unbalanced "{" or more than ${MAX_ALTERNATIVES} alternatives` };
  const alternatives: Seg[][] = [];
  const reAlts: string[] = [];
  const flags = caseInsensitive ? 'i' : '';
  for (const alt of expanded) {
    let body = alt;
    if (body.endsWith('/') && body.length > 1) body = `${body}**`;
    const rawSegs = body
      .split('/')
      .slice(1)
      .filter((s, idx, arr) => s !== '' || idx === arr.length - 1);
    const segs: Seg[] = [];
    let reSrc = '';
    for (const s of rawSegs) {
      if (s === '') continue;
      if (s === '**') {
        segs.push({ any: true });
        reSrc += '(?:/[^/]*)*';
        continue;
      }
      if (s === '.' || s === '..') return { ok: false, error: 'must not contain "." or ".." segments' };
      const compiled = segmentSource(s);
      if (typeof compiled === 'string') return { ok: false, error: compiled };
      segs.push({ any: false, lit: compiled.lit, re: new RegExp(`^${compiled.src}$`, flags) });
      reSrc += `/${compiled.src}`;
    }
    alternatives.push(segs);
    reAlts.push(reSrc);
  }
  const re = new RegExp(`^(?:${reAlts.join('|')})(?:/.*)?$`, flags);
  const hints = alternatives.map((a) => altHint(a, caseInsensitive));
  return { ok: true, glob: { source: pattern, caseInsensitive, alternatives, hints, re } };
}

/** True when `path` (normalized, absolute) is named by the pattern or lies below a path it names. */
export function globMatches(g: PathGlob, path: string): boolean {
  return g.re.test(path === '/' ? '' : path);
}

/** A segment of a shell glob or path being tested against policy patterns. */
export type ArgSeg =
  | { readonly kind: 'lit'; readonly v: string; readonly lv: string }
  | { readonly kind: 'glob'; readonly re: RegExp; readonly reCi: RegExp; readonly dotOk: boolean }
  | { readonly kind: 'tree' };

/** A literal segment, with its lower-case form computed once for case-insensitive patterns. */
export function litSeg(v: string): ArgSeg {
  return { kind: 'lit', v, lv: v.toLowerCase() };
}

/** Splits a normalized absolute path into literal segments. */
export function pathSegments(path: string): ArgSeg[] {
  const out: ArgSeg[] = [];
  for (const s of path.split('/')) if (s !== '') out.push(litSeg(s));
  return out;
}

function segCompatible(p: Seg & { any: false }, a: ArgSeg, ci: boolean): boolean {
  switch (a.kind) {
    case 'tree':
      return true;
    case 'lit':
      if (p.lit !== null) return ci ? p.lit.toLowerCase() === a.lv : p.lit === a.v;
      return p.re.test(a.v);
    case 'glob':
      if (p.lit !== null) {
        // bash never lets a glob match a leading dot unless the glob spells it (or dotglob is on)
        if (p.lit.startsWith('.') && !a.dotOk) return false;
        return (ci ? a.reCi : a.re).test(p.lit);
      }
      return true;
  }
}

/**
 * Could some path matched by the shell-side segments `arg` be named by the pattern
 * (or lie below something it names)? `tree` and glob segments are treated
 * conservatively: when in doubt, they may intersect.
 *
 * With `literalAncestorOnly`, a `tree` segment only reaches into the pattern when
 * the path before it already consumed a literal (non-`**`) pattern segment: writing
 * the tree `/w/build` does not count as touching `** /.git/hooks/**` merely because
 * a nested repository could exist under it, but writing `/w/.git` does.
 */
export function globMayIntersect(g: PathGlob, arg: readonly ArgSeg[], literalAncestorOnly = false): boolean {
  const ci = g.caseInsensitive;
  for (let k = 0; k < g.alternatives.length; k++) {
    const hint = g.hints[k] as AltHint;
    if (quickReject(hint, arg, ci, literalAncestorOnly)) continue;
    if (altIntersects(g.alternatives[k] as readonly Seg[], arg, ci, literalAncestorOnly)) return true;
  }
  return false;
}

/**
 * Cheap proofs that an alternative cannot intersect, so the search runs only when it
 * might: a literal prefix that differs from the path, or (when a tree may not reach
 * through a leading `**`) a required literal segment the path does not contain.
 */
function quickReject(h: AltHint, arg: readonly ArgSeg[], ci: boolean, literalAncestorOnly: boolean): boolean {
  const n = Math.min(h.prefix.length, arg.length);
  for (let i = 0; i < n; i++) {
    const a = arg[i] as ArgSeg;
    if (a.kind !== 'lit') break;
    if ((ci ? a.lv : a.v) !== h.prefix[i]) return true;
  }
  if (h.afterStar === null) return false;
  const need = h.afterStar;
  for (const a of arg) {
    if (a.kind === 'lit') {
      if ((ci ? a.lv : a.v) === need) return false;
    } else if (a.kind === 'glob') {
      if ((!need.startsWith('.') || a.dotOk) && (ci ? a.reCi : a.re).test(need)) return false;
    } else if (!literalAncestorOnly) return false;
  }
  return true;
}

function altIntersects(
  pat: readonly Seg[],
  arg: readonly ArgSeg[],
  ci: boolean,
  literalAncestorOnly: boolean,
): boolean {
  const P = pat.length;
  const A = arg.length;
  // state[i][j]: bit 1 = reachable, bit 2 = reachable with the last arg segment consumed by a literal pattern segment
  const state: Uint8Array[] = [];
  for (let i = 0; i <= A; i++) state.push(new Uint8Array(P + 1));
  (state[0] as Uint8Array)[0] = 1;
  for (let i = 0; i <= A; i++) {
    const row = state[i] as Uint8Array;
    for (let j = 0; j <= P; j++) {
      const s = row[j] as number;
      if (s === 0) continue;
      if (j === P) {
        // the pattern is fully matched; everything below a matched path is covered
        return true;
      }
      const p = pat[j] as Seg;
      if (p.any) {
        row[j + 1] = (row[j + 1] as number) | s;
        if (i < A) {
          const a = arg[i] as ArgSeg;
          if (a.kind !== 'tree' || !literalAncestorOnly) {
            const next = state[i + 1] as Uint8Array;
            next[j] = (next[j] as number) | 1;
          }
        }
        continue;
      }
      if (i === A) continue;
      const a = arg[i] as ArgSeg;
      if (a.kind === 'tree') {
        // the tree can hold anything below: the rest of the pattern is reachable
        if (!literalAncestorOnly || (s & 2) !== 0) return true;
        continue;
      }
      if (segCompatible(p, a, ci)) {
        const next = state[i + 1] as Uint8Array;
        next[j + 1] = (next[j + 1] as number) | 3;
      }
    }
  }
  return false;
}

/**
 * Compiles one segment of a shell glob (bash pattern syntax: `*`, `?`, `[…]`,
 * backslash escapes) to an {@link ArgSeg}.
 */
export function shellGlobSegment(seg: string, dotglob: boolean): ArgSeg {
  if (seg === '**') return { kind: 'tree' };
  let src = '';
  let isGlob = false;
  let literal = '';
  for (let k = 0; k < seg.length; k++) {
    const c = seg[k] as string;
    if (c === '\\' && k + 1 < seg.length) {
      const next = seg[k + 1] as string;
      src += escapeRe(next);
      literal += next;
      k++;
    } else if (c === '*') {
      src += '[^/]*';
      isGlob = true;
    } else if (c === '?') {
      src += '[^/]';
      isGlob = true;
    } else if (c === '[') {
      const close = seg.indexOf(']', k + 2);
      if (close < 0) {
        src += '\\[';
        literal += '[';
        continue;
      }
      // any bracket expression: approximate as "any one character" (conservative for intersection)
      src += '[^/]';
      isGlob = true;
      k = close;
    } else {
      src += escapeRe(c);
      literal += c;
    }
  }
  if (!isGlob) return litSeg(literal);
  return {
    kind: 'glob',
    re: new RegExp(`^${src}$`),
    reCi: new RegExp(`^${src}$`, 'i'),
    dotOk: dotglob || seg.startsWith('.'),
  };
}
