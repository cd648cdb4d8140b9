/**
 * A recursive-descent parser for the bash command language, written for policy
 * checks rather than for execution. It follows bash 5's token rules (quoting,
 * escapes, `$'…'`, line continuations, here-documents, reserved words only in
 * command position) and builds the tree in ./ast.ts. It fails closed: anything
 * bash would reject, and several things bash accepts but policy cannot reason
 * about, are a syntax error or an explicitly dynamic node, never a guess.
 *
 * Why not sh-syntax or tree-sitter-bash as the primary parser: see docs/policy.md
 * ("Choosing the shell parser"). In short, sh-syntax's WASM build returns a syntax
 * tree without command arguments and is async; tree-sitter recovers from errors
 * and misreads some words (`a\<newline>b` as two words). sh-syntax is still used as
 * an independent oracle at the async boundary (../prepare.ts).
 */
import type {
  AndOr,
  Arith,
  Assign,
  Command,
  CondCommand,
  OpaqueCommand,
  Pipeline,
  Redirect,
  RedirectOp,
  Script,
  SimpleCommand,
  Stmt,
  Word,
  WordPart,
} from './ast.js';

/** Bounds that keep parsing linear and stop padding attacks from hiding a command. */
export interface ParseLimits {
  /** Longest accepted source, in UTF-16 code units. */
  readonly maxLength: number;
  /** Deepest nesting of lists, substitutions and compound commands. */
  readonly maxDepth: number;
  /** Most words and commands in one parse, including nested `bash -c` strings. */
  readonly maxNodes: number;
}

/** The limits used unless a caller passes others. */
export const DEFAULT_PARSE_LIMITS: ParseLimits = Object.freeze({
  maxLength: 64 * 1024,
  maxDepth: 48,
  maxNodes: 4096,
});

/** What went wrong when a parse fails. */
export interface ParseFailure {
  readonly ok: false;
  /** `syntax`: bash would not run it either; `limit`: it exceeds {@link ParseLimits}. */
  readonly kind: 'syntax' | 'limit';
  readonly message: string;
  readonly pos: number;
}

/** The result of {@link parseShell}. */
export type ParseResult = { readonly ok: true; readonly script: Script } | ParseFailure;

class ParseError extends Error {
  constructor(
    readonly kind: 'syntax' | 'limit',
    message: string,
    readonly pos: number,
  ) {
    super(message);
  }
}

const RESERVED = new Set([
  'if',
  'then',
  'elif',
  'else',
  'fi',
  'do',
  'done',
  'case',
  'esac',
  'while',
  'until',
  'for',
  'select',
  'in',
  'function',
  'time',
  'coproc',
  '{',
  '}',
  '!',
  '[[',
  ']]',
]);

const ARITH_CMP = new Set(['-eq', '-ne', '-lt', '-le', '-gt', '-ge']);

/** Redirection operators, longest first so that `>>` is not read as `>`. */
const REDIRECT_OPS: readonly RedirectOp[] = [
  '&>>',
  '&>',
  '<<<',
  '<<-',
  '<<',
  '<>',
  '<&',
  '<',
  '>>',
  '>|',
  '>&',
  '>',
];

// the words or tokens that end each kind of list; shared because they never change
const CLOSE_PAREN: ReadonlySet<string> = new Set([')']);
const CLOSE_BRACE: ReadonlySet<string> = new Set(['}']);
const CLOSE_DO: ReadonlySet<string> = new Set(['do']);
const CLOSE_DONE: ReadonlySet<string> = new Set(['done']);
const CLOSE_THEN: ReadonlySet<string> = new Set(['then']);
const CLOSE_IF_BODY: ReadonlySet<string> = new Set(['elif', 'else', 'fi']);
const CLOSE_FI: ReadonlySet<string> = new Set(['fi']);
const CLOSE_CASE_ITEM: ReadonlySet<string> = new Set([';;', 'esac']);

function isMeta(c: string): boolean {
  return (
    c === ' ' ||
    c === '\t' ||
    c === '\n' ||
    c === ';' ||
    c === '&' ||
    c === '|' ||
    c === '<' ||
    c === '>' ||
    c === '(' ||
    c === ')'
  );
}

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
}

function isNameChar(c: string | undefined): boolean {
  return isNameStart(c) || (c !== undefined && c >= '0' && c <= '9');
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

/** True when every character is a valid shell variable name. */
export function isShellName(s: string): boolean {
  if (!isNameStart(s[0])) return false;
  for (let k = 1; k < s.length; k++) if (!isNameChar(s[k])) return false;
  return true;
}

interface PendingHeredoc {
  readonly delim: string;
  readonly strip: boolean;
  readonly quoted: boolean;
  readonly target: { quoted: boolean; body: Word };
  readonly pos: number;
}

type WordMode = 'normal' | 'regex';

class Parser {
  private i = 0;
  private depth: number;
  private pending: PendingHeredoc[] = [];
  private readonly n: number;

  constructor(
    private readonly src: string,
    private readonly limits: ParseLimits,
    private readonly counter: { nodes: number },
    depth: number,
  ) {
    this.n = src.length;
    this.depth = depth;
  }

  // ---------------------------------------------------------------- helpers

  private fail(message: string, pos = this.i): never {
    throw new ParseError('syntax', message, pos);
  }

  private count(): void {
    if (++this.counter.nodes > this.limits.maxNodes) {
      throw new ParseError('limit', `more than ${this.limits.maxNodes} words and commands`, this.i);
    }
  }

  private enter(): void {
    if (++this.depth > this.limits.maxDepth) {
      throw new ParseError('limit', `nesting deeper than ${this.limits.maxDepth} levels`, this.i);
    }
  }

  private leave(): void {
    this.depth--;
  }

  private startsWith(s: string): boolean {
    return this.src.startsWith(s, this.i);
  }

  /** Skips blanks, line continuations and a comment; never a newline. */
  private skipSpace(): void {
    for (;;) {
      const c = this.src[this.i];
      if (c === ' ' || c === '\t') this.i++;
      else if (c === '\\' && this.src[this.i + 1] === '\n') this.i += 2;
      else if (c === '#') {
        while (this.i < this.n && this.src[this.i] !== '\n') this.i++;
      } else return;
    }
  }

  /** Consumes one newline and then the bodies of here-documents opened on that line. */
  private newline(): void {
    this.i++;
    if (this.pending.length > 0) this.readHeredocBodies();
  }

  private skipSpaceAndNewlines(): void {
    for (;;) {
      this.skipSpace();
      if (this.src[this.i] === '\n') this.newline();
      else return;
    }
  }

  private peekAt = -1;
  private peekValue: string | null = null;

  /** The plain literal word at the cursor when it is followed by a delimiter, else null. */
  private peekPlainWord(): string | null {
    // asked several times at the same place (pipeline, command, list end): scan once
    if (this.peekAt === this.i) return this.peekValue;
    this.peekAt = this.i;
    this.peekValue = this.scanPlainWord();
    return this.peekValue;
  }

  private scanPlainWord(): string | null {
    let j = this.i;
    while (j < this.n) {
      const c = this.src[j] as string;
      if (isMeta(c) || c === '"' || c === "'" || c === '\\' || c === '$' || c === '`') break;
      j++;
    }
    if (j === this.i) return null;
    const next = this.src[j];
    if (next !== undefined && !isMeta(next)) return null;
    return this.src.slice(this.i, j);
  }

  private peekReserved(): string | null {
    const w = this.peekPlainWord();
    return w !== null && RESERVED.has(w) ? w : null;
  }

  private expectReserved(word: string): void {
    this.skipSpaceAndNewlines();
    if (this.peekReserved() !== word) {
      this.fail(`expected "${word}"${this.i >= this.n ? ' before the end of the command' : ''}`);
    }
    this.i += word.length;
  }

  // ------------------------------------------------------------------ lists

  parseProgram(): Script {
    const script = this.parseList(null);
    if (this.i < this.n) this.fail(`unexpected "${this.src[this.i] ?? ''}"`);
    if (this.pending.length > 0) this.fail('here-document without a body', this.pending[0]?.pos);
    return script;
  }

  private atCloser(closers: ReadonlySet<string> | null): boolean {
    if (closers === null) return false;
    const c = this.src[this.i];
    if (c === ')') return closers.has(')');
    if (c === ';') return closers.has(';;') && (this.startsWith(';;') || this.startsWith(';&'));
    const w = this.peekReserved();
    return w !== null && closers.has(w);
  }

  private parseList(closers: ReadonlySet<string> | null): Script {
    this.enter();
    const stmts: Stmt[] = [];
    for (;;) {
      this.skipSpaceAndNewlines();
      if (this.i >= this.n || this.atCloser(closers)) break;
      const pos = this.i;
      const andOr = this.parseAndOr();
      const end = this.i;
      this.skipSpace();
      const c = this.src[this.i];
      let background = false;
      if (c === ';' && this.src[this.i + 1] !== ';' && this.src[this.i + 1] !== '&') {
        this.i++;
      } else if (c === '&' && this.src[this.i + 1] !== '&' && this.src[this.i + 1] !== '>') {
        this.i++;
        background = true;
      } else if (c === '\n' || c === undefined || this.atCloser(closers)) {
        // the loop head consumes newlines and here-document bodies
      } else {
        this.fail(`unexpected "${this.src.slice(this.i, this.i + 2).trim() || c}"`);
      }
      stmts.push({ pos, end, background, andOr });
    }
    this.leave();
    return { stmts };
  }

  private parseAndOr(): AndOr {
    const first = this.parsePipeline();
    const rest: { op: '&&' | '||'; pipeline: Pipeline }[] = [];
    for (;;) {
      this.skipSpace();
      if (this.startsWith('&&') || this.startsWith('||')) {
        const op = this.src.slice(this.i, this.i + 2) as '&&' | '||';
        this.i += 2;
        this.skipSpaceAndNewlines();
        rest.push({ op, pipeline: this.parsePipeline() });
      } else return { first, rest };
    }
  }

  private parsePipeline(): Pipeline {
    let negated = false;
    let timed = false;
    for (;;) {
      this.skipSpace();
      const r = this.peekReserved();
      if (r === '!') {
        negated = !negated;
        this.i += 1;
      } else if (r === 'time') {
        timed = true;
        this.i += 4;
        this.skipSpace();
        const opt = this.peekPlainWord();
        if (opt === '-p' || opt === '--') this.i += opt.length;
      } else break;
    }
    const commands: Command[] = [this.parseCommand()];
    for (;;) {
      this.skipSpace();
      if (this.src[this.i] === '|' && this.src[this.i + 1] !== '|') {
        this.i += this.src[this.i + 1] === '&' ? 2 : 1;
        this.skipSpaceAndNewlines();
        commands.push(this.parseCommand());
      } else return { negated, timed, commands };
    }
  }

  // --------------------------------------------------------------- commands

  private parseCommand(): Command {
    this.skipSpace();
    this.count();
    this.enter();
    try {
      const pos = this.i;
      if (this.startsWith('((')) {
        const arith = this.tryArithCommand();
        if (arith) return arith;
      }
      if (this.src[this.i] === '(') {
        this.i++;
        const body = this.parseList(CLOSE_PAREN);
        if (this.src[this.i] !== ')') this.fail('expected ")" to close the subshell');
        this.i++;
        return { kind: 'subshell', pos, body, redirs: this.parseTrailingRedirects() };
      }
      const r = this.peekReserved();
      if (r !== null) {
        switch (r) {
          case '{': {
            this.i++;
            const body = this.parseList(CLOSE_BRACE);
            this.expectReserved('}');
            return { kind: 'group', pos, body, redirs: this.parseTrailingRedirects() };
          }
          case 'if':
            return this.parseIf(pos);
          case 'while':
          case 'until': {
            this.i += r.length;
            const cond = this.parseList(CLOSE_DO);
            this.expectReserved('do');
            const body = this.parseList(CLOSE_DONE);
            this.expectReserved('done');
            return { kind: 'loop', pos, cond, body, redirs: this.parseTrailingRedirects() };
          }
          case 'for':
          case 'select':
            return this.parseFor(pos, r === 'select');
          case 'case':
            return this.parseCase(pos);
          case '[[':
            return this.parseCond(pos);
          case 'function': {
            this.i += r.length;
            this.skipSpace();
            const name = this.peekPlainWord();
            if (name === null) this.fail('expected a function name');
            this.i += name.length;
            this.skipSpace();
            if (this.startsWith('()')) this.i += 2;
            return this.parseFunctionBody(pos, name);
          }
          case 'coproc': {
            this.i += r.length;
            this.skipSpace();
            const name = this.peekPlainWord();
            if (name !== null && isShellName(name) && !RESERVED.has(name)) {
              const save = this.i;
              this.i += name.length;
              this.skipSpace();
              const nextReserved = this.peekReserved();
              if (nextReserved !== '{' && this.src[this.i] !== '(') this.i = save;
            }
            const inner = this.parseCommand();
            return {
              kind: 'opaque',
              pos,
              reason: 'coproc runs a command concurrently',
              nested: [wrapCommand(inner, pos, this.i)],
              redirs: [],
            };
          }
          case 'time':
          case '!':
          case 'in':
          case ']]':
          case 'then':
          case 'elif':
          case 'else':
          case 'fi':
          case 'do':
          case 'done':
          case 'esac':
          case '}':
            this.fail(`unexpected "${r}"`);
        }
      }
      return this.parseSimple(pos);
    } finally {
      this.leave();
    }
  }

  private parseFunctionBody(pos: number, name: string): OpaqueCommand {
    this.skipSpaceAndNewlines();
    const body = this.parseCommand();
    return {
      kind: 'opaque',
      pos,
      reason: `defines a shell function "${name}", which can shadow any command`,
      nested: [wrapCommand(body, pos, this.i)],
      redirs: [],
    };
  }

  private parseIf(pos: number): Command {
    this.i += 2;
    const clauses: { cond: Script; body: Script }[] = [];
    let elseBody: Script | null = null;
    for (;;) {
      const cond = this.parseList(CLOSE_THEN);
      this.expectReserved('then');
      const body = this.parseList(CLOSE_IF_BODY);
      clauses.push({ cond, body });
      this.skipSpaceAndNewlines();
      const r = this.peekReserved();
      if (r === 'elif') {
        this.i += 4;
        continue;
      }
      if (r === 'else') {
        this.i += 4;
        elseBody = this.parseList(CLOSE_FI);
      }
      this.expectReserved('fi');
      break;
    }
    return { kind: 'if', pos, clauses, elseBody, redirs: this.parseTrailingRedirects() };
  }

  private parseFor(pos: number, select: boolean): Command {
    this.i += select ? 6 : 3;
    this.skipSpace();
    if (!select && this.startsWith('((')) {
      this.i += 2;
      const expr = this.readArith('))');
      if (expr === null) this.fail('unterminated "for ((" header');
      this.skipSpace();
      if (this.src[this.i] === ';') this.i++;
      this.expectReserved('do');
      const body = this.parseList(CLOSE_DONE);
      this.expectReserved('done');
      const nested = [...expr.nested, body];
      return {
        kind: 'opaque',
        pos,
        reason: 'an arithmetic for loop evaluates expressions at run time',
        nested,
        redirs: this.parseTrailingRedirects(),
      };
    }
    const name = this.peekPlainWord();
    if (name === null || !isShellName(name)) this.fail('expected a variable name after "for"');
    this.i += name.length;
    this.skipSpaceAndNewlines();
    let items: Word[] | null = null;
    if (this.peekReserved() === 'in') {
      this.i += 2;
      items = [];
      for (;;) {
        this.skipSpace();
        const c = this.src[this.i];
        if (c === ';' || c === '\n' || c === undefined) break;
        const w = this.readWord('normal');
        if (w === null) this.fail(`unexpected "${c}" in the word list`);
        items.push(w);
      }
    }
    this.skipSpace();
    if (this.src[this.i] === ';') this.i++;
    this.expectReserved('do');
    const body = this.parseList(CLOSE_DONE);
    this.expectReserved('done');
    return { kind: 'for', pos, name, items, body, select, redirs: this.parseTrailingRedirects() };
  }

  private parseCase(pos: number): Command {
    this.i += 4;
    this.skipSpace();
    const word = this.readWord('normal');
    if (word === null) this.fail('expected a word after "case"');
    this.expectReserved('in');
    const items: { patterns: Word[]; body: Script }[] = [];
    const closers = CLOSE_CASE_ITEM;
    for (;;) {
      this.skipSpaceAndNewlines();
      if (this.peekReserved() === 'esac') {
        this.i += 4;
        break;
      }
      if (this.i >= this.n) this.fail('expected "esac"');
      if (this.src[this.i] === '(') this.i++;
      const patterns: Word[] = [];
      for (;;) {
        this.skipSpace();
        const w = this.readWord('normal');
        if (w === null) this.fail('expected a case pattern');
        patterns.push(w);
        this.skipSpace();
        if (this.src[this.i] === '|') {
          this.i++;
          continue;
        }
        if (this.src[this.i] === ')') {
          this.i++;
          break;
        }
        this.fail('expected ")" after the case pattern');
      }
      const body = this.parseList(closers);
      items.push({ patterns, body });
      this.skipSpace();
      if (this.startsWith(';;&')) this.i += 3;
      else if (this.startsWith(';;') || this.startsWith(';&')) this.i += 2;
    }
    return { kind: 'case', pos, word, items, redirs: this.parseTrailingRedirects() };
  }

  private parseCond(pos: number): CondCommand {
    this.i += 2;
    type Tok = { op: string } | { word: Word };
    const toks: Tok[] = [];
    for (;;) {
      this.skipSpaceAndNewlines();
      if (this.i >= this.n) this.fail('expected "]]"');
      if (this.peekPlainWord() === ']]') {
        this.i += 2;
        break;
      }
      const two = this.src.slice(this.i, this.i + 2);
      if (two === '&&' || two === '||') {
        toks.push({ op: two });
        this.i += 2;
        continue;
      }
      const c = this.src[this.i] as string;
      if (c === '(' || c === ')' || c === '<' || c === '>') {
        toks.push({ op: c });
        this.i++;
        continue;
      }
      if (c === ';' || c === '&' || c === '|') this.fail(`unexpected "${c}" inside [[ ]]`);
      const prev = toks[toks.length - 1];
      const regex = prev !== undefined && 'word' in prev && staticLit(prev.word) === '=~';
      const w = this.readWord(regex ? 'regex' : 'normal');
      if (w === null) this.fail(`unexpected "${c}" inside [[ ]]`);
      toks.push({ word: w });
    }
    let dynamicReason: string | null = null;
    const words: Word[] = [];
    for (let k = 0; k < toks.length; k++) {
      const t = toks[k] as Tok;
      if (!('word' in t)) continue;
      words.push(t.word);
      const lit = staticLit(t.word);
      if (lit !== null && ARITH_CMP.has(lit)) {
        for (const o of [toks[k - 1], toks[k + 1]]) {
          if (o === undefined || !('word' in o) || !isIntegerLiteral(staticLit(o.word))) {
            dynamicReason = `[[ … ${lit} … ]] evaluates its operands as arithmetic, which can run commands through array subscripts`;
          }
        }
      }
      if (lit === '-v') {
        const o = toks[k + 1];
        if (o !== undefined && 'word' in o && (staticLit(o.word) ?? '[').includes('[')) {
          dynamicReason = '[[ -v name[…] ]] evaluates the subscript as arithmetic';
        }
      }
    }
    return { kind: 'cond', pos, words, dynamicReason, redirs: this.parseTrailingRedirects() };
  }

  private tryArithCommand(): Command | null {
    const save = this.i;
    const pos = this.i;
    this.i += 2;
    const expr = this.readArith('))');
    if (expr === null) {
      // bash falls back to a nested subshell when `((` does not close as arithmetic
      this.i = save;
      return null;
    }
    return { kind: 'arith', pos, expr, redirs: this.parseTrailingRedirects() };
  }

  private parseTrailingRedirects(): Redirect[] {
    const redirs: Redirect[] = [];
    for (;;) {
      this.skipSpace();
      const r = this.tryRedirect();
      if (r === null) return redirs;
      redirs.push(r);
    }
  }

  private parseSimple(pos: number): Command {
    const assigns: Assign[] = [];
    const words: Word[] = [];
    const redirs: Redirect[] = [];
    for (;;) {
      this.skipSpace();
      const c = this.src[this.i];
      if (c === undefined || c === ';' || c === '\n' || c === ')' || c === '|') break;
      if (c === '&' && this.src[this.i + 1] !== '>') break;
      if (c === '(') {
        if (
          words.length === 1 &&
          assigns.length === 0 &&
          redirs.length === 0 &&
          this.src[this.i + 1] === ')'
        ) {
          const name = staticLit(words[0] as Word);
          if (name === null) this.fail('invalid function name');
          this.i += 2;
          return this.parseFunctionBody(pos, name);
        }
        this.fail('unexpected "("');
      }
      if ((c === '<' || c === '>') && this.src[this.i + 1] === '(') {
        const w = this.readWord('normal');
        if (w !== null) words.push(w);
        continue;
      }
      const r = this.tryRedirect();
      if (r !== null) {
        redirs.push(r);
        continue;
      }
      const start = this.i;
      if (words.length === 0) {
        const a = this.tryAssignment();
        if (a !== null) {
          assigns.push(a);
          continue;
        }
      }
      const w = this.readWord('normal');
      if (w === null) this.fail(`unexpected "${this.src[start] ?? ''}"`);
      words.push(w);
    }
    if (assigns.length === 0 && words.length === 0 && redirs.length === 0) {
      const c = this.src[this.i];
      this.fail(
        c === undefined
          ? 'expected a command'
          : `unexpected "${this.src.slice(this.i, this.i + 2).trim() || c}"`,
      );
    }
    const cmd: SimpleCommand = { kind: 'simple', pos, end: this.i, assigns, words, redirs };
    return cmd;
  }

  /** `NAME=`, `NAME+=`, `NAME[…]=` at the cursor, or null (cursor unchanged). */
  private tryAssignment(): Assign | null {
    const pos = this.i;
    if (!isNameStart(this.src[this.i])) return null;
    let j = this.i + 1;
    while (isNameChar(this.src[j])) j++;
    const name = this.src.slice(this.i, j);
    let subscript = false;
    if (this.src[j] === '[') {
      let depth = 0;
      let k = j;
      for (; k < this.n; k++) {
        const ch = this.src[k];
        if (ch === '[') depth++;
        else if (ch === ']' && --depth === 0) break;
        else if (ch === '\n') return null;
      }
      if (k >= this.n) return null;
      j = k + 1;
      subscript = true;
    }
    let append = false;
    if (this.src[j] === '+' && this.src[j + 1] === '=') {
      append = true;
      j += 2;
    } else if (this.src[j] === '=') j += 1;
    else return null;
    this.count();
    this.i = j;
    if (this.src[this.i] === '(') {
      this.i++;
      const items: Word[] = [];
      for (;;) {
        this.skipSpaceAndNewlines();
        if (this.src[this.i] === ')') {
          this.i++;
          break;
        }
        const w = this.readWord('normal');
        if (w === null) this.fail('unterminated array assignment');
        items.push(w);
      }
      return { name, value: null, arrayItems: items, append, subscript, pos };
    }
    const value = this.readWord('normal') ?? { pos: this.i, end: this.i, parts: [] };
    return { name, value, arrayItems: null, append, subscript, pos };
  }

  private tryRedirect(): Redirect | null {
    const pos = this.i;
    let j = this.i;
    let fd: number | null = null;
    let namedFd = false;
    if (isDigit(this.src[j])) {
      let k = j;
      while (isDigit(this.src[k])) k++;
      if (this.src[k] === '<' || this.src[k] === '>') {
        fd = Number(this.src.slice(j, k));
        j = k;
      }
    } else if (this.src[j] === '{') {
      let k = j + 1;
      while (isNameChar(this.src[k])) k++;
      if (k > j + 1 && this.src[k] === '}' && (this.src[k + 1] === '<' || this.src[k + 1] === '>')) {
        namedFd = true;
        j = k + 1;
      }
    }
    const first = this.src[j];
    if (first !== '<' && first !== '>' && first !== '&') return null;
    const ops = REDIRECT_OPS;
    let op: RedirectOp | null = null;
    for (const candidate of ops) {
      if (this.src.startsWith(candidate, j)) {
        if ((candidate === '&>' || candidate === '&>>') && (fd !== null || namedFd)) continue;
        op = candidate;
        break;
      }
    }
    if (op === null) return null;
    if ((op === '<' || op === '>') && this.src[j + 1] === '(' && fd === null && !namedFd) return null;
    this.i = j + op.length;
    this.skipSpace();
    const target = this.readWord('normal');
    if (target === null) this.fail(`expected a file name after "${op}"`);
    if (op === '<<' || op === '<<-') {
      const delim = heredocDelimiter(target);
      if (delim === null) this.fail('here-document delimiter must not contain expansions', target.pos);
      const quoted = target.parts.some((p) => p.t === 'lit' && p.q);
      const holder: { quoted: boolean; body: Word } = {
        quoted,
        body: { pos: this.i, end: this.i, parts: [] },
      };
      this.pending.push({ delim, strip: op === '<<-', quoted, target: holder, pos });
      return { op, fd, namedFd, target: null, heredoc: holder, pos };
    }
    return { op, fd, namedFd, target, heredoc: null, pos };
  }

  private readHeredocBodies(): void {
    const pending = this.pending;
    this.pending = [];
    for (const h of pending) {
      const start = this.i;
      let found = false;
      let body = '';
      while (this.i < this.n) {
        let lineEnd = this.src.indexOf('\n', this.i);
        if (lineEnd < 0) lineEnd = this.n;
        let line = this.src.slice(this.i, lineEnd);
        if (h.strip) {
          let t = 0;
          while (line[t] === '\t') t++;
          line = line.slice(t);
        }
        this.i = Math.min(lineEnd + 1, this.n);
        if (line === h.delim) {
          found = true;
          break;
        }
        body += `${line}\n`;
      }
      if (!found) this.fail(`here-document "${h.delim}" has no closing line`, h.pos);
      if (h.quoted) {
        h.target.body = { pos: start, end: this.i, parts: [{ t: 'lit', v: body, q: true }] };
      } else {
        const sub = new Parser(body, this.limits, this.counter, this.depth + 1);
        h.target.body = sub.readHeredocContent(start);
      }
    }
  }

  // ------------------------------------------------------------------ words

  /** Reads the body of an unquoted here-document: expansions apply, quotes are literal. */
  readHeredocContent(offset: number): Word {
    const parts: WordPart[] = [];
    const lit = new LitBuffer(parts);
    while (this.i < this.n) {
      const c = this.src[this.i] as string;
      if (c === '\\') {
        const next = this.src[this.i + 1];
        if (next === '$' || next === '`' || next === '\\') {
          lit.add(next, true);
          this.i += 2;
        } else if (next === '\n') this.i += 2;
        else {
          lit.add('\\', true);
          this.i++;
        }
      } else if (c === '$') this.readDollar(lit, parts, true);
      else if (c === '`') this.readBacktick(lit, parts, true);
      else {
        lit.add(c, true);
        this.i++;
      }
    }
    lit.flush();
    return { pos: offset, end: offset + this.n, parts };
  }

  /** Reads one word at the cursor, or returns null when the cursor is at a delimiter. */
  private readWord(mode: WordMode): Word | null {
    const pos = this.i;
    if (mode === 'normal') {
      // fast path: most words are one run of ordinary characters ending at a delimiter
      let j = pos;
      while (j < this.n) {
        const d = this.src[j] as string;
        if (d === '\\' || d === "'" || d === '"' || d === '`' || d === '$' || isMeta(d)) break;
        j++;
      }
      const end = this.src[j];
      if (
        j > pos &&
        (end === undefined || (isMeta(end) && !((end === '<' || end === '>') && this.src[j + 1] === '(')))
      ) {
        this.i = j;
        this.count();
        return { pos, end: j, parts: [{ t: 'lit', v: this.src.slice(pos, j), q: false }] };
      }
    }
    const parts: WordPart[] = [];
    const lit = new LitBuffer(parts);
    while (this.i < this.n) {
      const c = this.src[this.i] as string;
      if (mode === 'regex') {
        if (c === ' ' || c === '\t' || c === '\n') break;
      } else if (isMeta(c)) {
        if ((c === '<' || c === '>') && this.src[this.i + 1] === '(') {
          lit.flush();
          this.i += 2;
          const body = this.parseList(CLOSE_PAREN);
          if (this.src[this.i] !== ')') this.fail('expected ")" to close the process substitution');
          this.i++;
          parts.push({ t: 'procsub', dir: c, body });
          continue;
        }
        break;
      }
      switch (c) {
        case '\\': {
          const next = this.src[this.i + 1];
          if (next === '\n') this.i += 2;
          else if (next === undefined) {
            lit.add('\\', true);
            this.i++;
          } else {
            lit.add(next, true);
            this.i += 2;
          }
          break;
        }
        case "'": {
          const close = this.src.indexOf("'", this.i + 1);
          if (close < 0) this.fail('unterminated single quote');
          lit.add(this.src.slice(this.i + 1, close), true);
          this.i = close + 1;
          break;
        }
        case '"':
          this.i++;
          this.readDoubleQuoted(lit, parts);
          break;
        case '`':
          this.readBacktick(lit, parts, false);
          break;
        case '$':
          this.readDollar(lit, parts, false);
          break;
        default: {
          // a run of ordinary characters is added in one piece
          let j = this.i + 1;
          while (j < this.n) {
            const d = this.src[j] as string;
            if (d === '\\' || d === "'" || d === '"' || d === '`' || d === '$') break;
            if (mode === 'regex' ? d === ' ' || d === '\t' || d === '\n' : isMeta(d)) break;
            j++;
          }
          lit.add(this.src.slice(this.i, j), false);
          this.i = j;
        }
      }
    }
    lit.flush();
    if (this.i === pos) return null;
    this.count();
    return { pos, end: this.i, parts };
  }

  /** After the opening `"`: reads to the closing quote. */
  private readDoubleQuoted(lit: LitBuffer, parts: WordPart[]): void {
    const start = this.i - 1;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail('unterminated double quote', start);
      if (c === '"') {
        this.i++;
        // an empty "" still makes a word (an empty argument)
        lit.add('', true);
        return;
      }
      if (c === '\\') {
        const next = this.src[this.i + 1];
        if (next === '$' || next === '`' || next === '"' || next === '\\') {
          lit.add(next, true);
          this.i += 2;
        } else if (next === '\n') this.i += 2;
        else {
          lit.add('\\', true);
          this.i++;
        }
      } else if (c === '$') this.readDollar(lit, parts, true);
      else if (c === '`') this.readBacktick(lit, parts, true);
      else {
        lit.add(c, true);
        this.i++;
      }
    }
  }

  private readBacktick(lit: LitBuffer, parts: WordPart[], quoted: boolean): void {
    const start = this.i;
    this.i++;
    let text = '';
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail('unterminated backquote', start);
      if (c === '`') {
        this.i++;
        break;
      }
      if (c === '\\') {
        const next = this.src[this.i + 1];
        if (next === '$' || next === '`' || next === '\\' || (quoted && next === '"')) {
          text += next;
          this.i += 2;
          continue;
        }
      }
      text += c;
      this.i++;
    }
    lit.flush();
    const sub = new Parser(text, this.limits, this.counter, this.depth + 1);
    let body: Script;
    try {
      body = sub.parseProgram();
    } catch (e) {
      if (e instanceof ParseError) throw new ParseError(e.kind, `in backquotes: ${e.message}`, start);
      throw e;
    }
    parts.push({ t: 'cmdsub', body, q: quoted });
  }

  private readDollar(lit: LitBuffer, parts: WordPart[], quoted: boolean): void {
    const start = this.i;
    const next = this.src[this.i + 1];
    if (next === "'" && !quoted) {
      this.i += 2;
      lit.add(this.readAnsiC(start), true);
      return;
    }
    if (next === '"' && !quoted) {
      // $"…" is a locale-translated string: expansions as in double quotes
      this.i += 2;
      this.readDoubleQuoted(lit, parts);
      return;
    }
    if (next === '(') {
      lit.flush();
      if (this.src[this.i + 2] === '(') {
        const save = this.i;
        this.i += 3;
        const expr = this.readArith('))');
        if (expr !== null) {
          parts.push({ t: 'arith', expr, q: quoted });
          return;
        }
        this.i = save;
      }
      this.i += 2;
      const body = this.parseList(CLOSE_PAREN);
      if (this.src[this.i] !== ')') this.fail('expected ")" to close "$("', start);
      this.i++;
      parts.push({ t: 'cmdsub', body, q: quoted });
      return;
    }
    if (next === '[') {
      lit.flush();
      this.i += 2;
      const expr = this.readArith(']');
      if (expr === null) this.fail('unterminated "$["', start);
      parts.push({ t: 'arith', expr, q: quoted });
      return;
    }
    if (next === '{') {
      lit.flush();
      this.readBraceParam(parts, quoted);
      return;
    }
    if (isNameStart(next)) {
      lit.flush();
      let j = this.i + 2;
      while (isNameChar(this.src[j])) j++;
      parts.push({ t: 'param', text: this.src.slice(this.i, j), q: quoted, nested: [] });
      this.i = j;
      return;
    }
    if (next !== undefined && (isDigit(next) || '@*#?-$!'.includes(next))) {
      lit.flush();
      parts.push({ t: 'param', text: this.src.slice(this.i, this.i + 2), q: quoted, nested: [] });
      this.i += 2;
      return;
    }
    lit.add('$', quoted);
    this.i++;
  }

  /** After `$'`: decodes an ANSI-C quoted string. A NUL byte ends the string, as in bash. */
  private readAnsiC(start: number): string {
    let out = '';
    let truncated = false;
    const emit = (s: string): void => {
      if (truncated) return;
      const nul = s.indexOf('\0');
      if (nul >= 0) {
        out += s.slice(0, nul);
        truncated = true;
      } else out += s;
    };
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail("unterminated $'…' string", start);
      if (c === "'") {
        this.i++;
        return out;
      }
      if (c !== '\\') {
        emit(c);
        this.i++;
        continue;
      }
      const e = this.src[this.i + 1];
      this.i += 2;
      switch (e) {
        case 'a':
          emit('\x07');
          break;
        case 'b':
          emit('\b');
          break;
        case 'e':
        case 'E':
          emit('\x1b');
          break;
        case 'f':
          emit('\f');
          break;
        case 'n':
          emit('\n');
          break;
        case 'r':
          emit('\r');
          break;
        case 't':
          emit('\t');
          break;
        case 'v':
          emit('\v');
          break;
        case '\\':
        case "'":
        case '"':
        case '?':
          emit(e);
          break;
        case 'x':
          emit(String.fromCharCode(this.readRadix(16, 2, '\\x')));
          break;
        case 'u':
          emit(String.fromCodePoint(this.readRadix(16, 4, '\\u')));
          break;
        case 'U': {
          const cp = this.readRadix(16, 8, '\\U');
          if (cp > 0x10ffff) this.fail('invalid \\U escape', start);
          emit(String.fromCodePoint(cp));
          break;
        }
        case 'c': {
          const ch = this.src[this.i];
          if (ch === undefined) this.fail("unterminated $'…' string", start);
          this.i++;
          emit(String.fromCharCode(ch.toUpperCase().charCodeAt(0) & 0x1f));
          break;
        }
        case undefined:
          this.fail("unterminated $'…' string", start);
        // falls through: fail never returns
        default:
          if (e >= '0' && e <= '7') {
            this.i--;
            emit(String.fromCharCode(this.readRadix(8, 3, '\\0') & 0xff));
          } else emit(`\\${e}`);
      }
    }
  }

  private readRadix(radix: number, maxDigits: number, escape: string): number {
    let v = 0;
    let k = 0;
    for (; k < maxDigits; k++) {
      const c = this.src[this.i];
      if (c === undefined) break;
      const d = parseInt(c, radix);
      if (Number.isNaN(d)) break;
      v = v * radix + d;
      this.i++;
    }
    // bash keeps "\x" with no digits as the two characters; nothing dangerous hides there
    if (k === 0) return escape.charCodeAt(1);
    return v;
  }

  /** After `${`… reads to the matching `}` and classifies the expansion. */
  private readBraceParam(parts: WordPart[], quoted: boolean): void {
    const start = this.i;
    this.i += 2;
    const nested: Script[] = [];
    const innerStart = this.i;
    let depth = 0;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) this.fail('unterminated "${"', start);
      if (c === '}' && depth === 0) break;
      if (c === '{') depth++;
      else if (c === '}') depth--;
      if (c === '\\') {
        this.i += 2;
        continue;
      }
      if (c === "'" && !quoted) {
        const close = this.src.indexOf("'", this.i + 1);
        if (close < 0) this.fail('unterminated single quote', this.i);
        this.i = close + 1;
        continue;
      }
      if (c === '"' || c === '$' || c === '`') {
        const sub: WordPart[] = [];
        const subLit = new LitBuffer(sub);
        if (c === '"') {
          this.i++;
          this.readDoubleQuoted(subLit, sub);
        } else if (c === '$') this.readDollar(subLit, sub, true);
        else this.readBacktick(subLit, sub, true);
        for (const p of sub) collectNested(p, nested);
        continue;
      }
      this.i++;
    }
    const inner = this.src.slice(innerStart, this.i);
    this.i++;
    const cls = classifyParam(inner);
    if (cls === 'bad') this.fail(`bad substitution "\${${inner}}"`, start);
    if (cls !== 'value') parts.push({ t: 'dynamic', reason: cls.dynamic, nested });
    else parts.push({ t: 'param', text: this.src.slice(start, this.i), q: quoted, nested });
  }

  /**
   * Reads an arithmetic expression up to `close` (`))` or `]`), collecting
   * substitutions. Returns null (cursor undefined) when it does not close as
   * arithmetic, so callers can fall back as bash does.
   */
  private readArith(close: '))' | ']'): Arith | null {
    const start = this.i;
    const nested: Script[] = [];
    let depth = 0;
    let isStatic = true;
    let prevDigitRun = false;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) return null;
      if (close === '))' && depth === 0 && c === ')') {
        if (this.src[this.i + 1] !== ')') return null;
        const text = this.src.slice(start, this.i);
        this.i += 2;
        return { text, isStatic, nested };
      }
      if (close === ']' && depth === 0 && c === ']') {
        const text = this.src.slice(start, this.i);
        this.i++;
        return { text, isStatic, nested };
      }
      if (c === '(' || c === '[') depth++;
      else if (c === ')' || c === ']') depth--;
      if (c === '$' || c === '`' || c === '"' || c === "'" || c === '\\') {
        isStatic = false;
        const sub: WordPart[] = [];
        const subLit = new LitBuffer(sub);
        if (c === '$') this.readDollar(subLit, sub, true);
        else if (c === '`') this.readBacktick(subLit, sub, true);
        else if (c === '"') {
          this.i++;
          this.readDoubleQuoted(subLit, sub);
        } else if (c === "'") {
          const closeQ = this.src.indexOf("'", this.i + 1);
          if (closeQ < 0) return null;
          this.i = closeQ + 1;
        } else this.i += 2;
        for (const p of sub) collectNested(p, nested);
        prevDigitRun = false;
        continue;
      }
      if (isDigit(c)) prevDigitRun = true;
      else if (isNameStart(c) || c === '#' || c === '@') {
        // letters after a digit run are part of a number (0x1f, 16#ff); elsewhere they name a variable
        if (!prevDigitRun) isStatic = false;
      } else prevDigitRun = false;
      if (c === '[' || c === ']') isStatic = false;
      this.i++;
    }
  }
}

/** Accumulates literal characters, merging runs with the same quotedness. */
class LitBuffer {
  private text = '';
  private quoted = false;
  private active = false;

  constructor(private readonly parts: WordPart[]) {}

  add(s: string, quoted: boolean): void {
    if (this.active && this.quoted !== quoted) this.flush();
    this.text += s;
    this.quoted = quoted;
    this.active = true;
  }

  flush(): void {
    if (!this.active) return;
    const last = this.parts[this.parts.length - 1];
    if (last !== undefined && last.t === 'lit' && last.q === this.quoted) {
      this.parts[this.parts.length - 1] = { t: 'lit', v: last.v + this.text, q: this.quoted };
    } else this.parts.push({ t: 'lit', v: this.text, q: this.quoted });
    this.text = '';
    this.active = false;
  }
}

function collectNested(p: WordPart, out: Script[]): void {
  switch (p.t) {
    case 'cmdsub':
    case 'procsub':
      out.push(p.body);
      break;
    case 'param':
    case 'dynamic':
      out.push(...p.nested);
      break;
    case 'arith':
      out.push(...p.expr.nested);
      break;
    case 'lit':
      break;
  }
}

/** What a `${…}` expansion does: produce a value, something policy cannot see (with why), or nothing valid. */
type ParamClass = 'value' | 'bad' | { readonly dynamic: string };

/** Classifies the inside of `${…}`. */
function classifyParam(inner: string): ParamClass {
  if (inner.length === 0) return 'bad';
  if (inner[0] === '!') return { dynamic: 'indirect expansion ${!…} names its variable at run time' };
  let k = 0;
  if (inner[0] === '#' && inner.length > 1) k = 1;
  let nameEnd = k;
  if (isNameStart(inner[k])) {
    nameEnd = k + 1;
    while (isNameChar(inner[nameEnd])) nameEnd++;
  } else if (isDigit(inner[k])) {
    nameEnd = k + 1;
    while (isDigit(inner[nameEnd])) nameEnd++;
  } else if (inner[k] !== undefined && '@*#?-$!0'.includes(inner[k] as string)) nameEnd = k + 1;
  else return 'bad';
  const rest = inner.slice(nameEnd);
  if (rest.length === 0) return 'value';
  if (k === 1) return 'bad';
  if (rest[0] === '[') {
    if (rest.startsWith('[@]') || rest.startsWith('[*]')) return classifyOperator(rest.slice(3));
    return { dynamic: 'array subscript ${name[…]} is evaluated as arithmetic, which can run commands' };
  }
  return classifyOperator(rest);
}

function classifyOperator(rest: string): ParamClass {
  if (rest.length === 0) return 'value';
  const two = rest.slice(0, 2);
  if (two === ':=' || rest[0] === '=')
    return { dynamic: 'assignment inside ${…=…} changes a variable at run time' };
  if (two === ':-' || two === ':+' || two === ':?') return 'value';
  if (rest[0] === ':')
    return { dynamic: 'substring ${name:offset} evaluates arithmetic, which can run commands' };
  if ('-+?#%/^,'.includes(rest[0] as string)) return 'value';
  if (rest[0] === '@') return { dynamic: 'transformation ${name@…} can expand prompts and run commands' };
  return 'bad';
}

function heredocDelimiter(w: Word): string | null {
  let s = '';
  for (const p of w.parts) {
    if (p.t !== 'lit') return null;
    s += p.v;
  }
  return s;
}

/** The literal text of a word with no expansions, or null. */
export function staticLit(w: Word): string | null {
  if (w.parts.length === 1) {
    const p = w.parts[0] as WordPart;
    return p.t === 'lit' ? p.v : null;
  }
  let s = '';
  for (const p of w.parts) {
    if (p.t !== 'lit') return null;
    s += p.v;
  }
  return s;
}

function isIntegerLiteral(s: string | null): boolean {
  if (s === null || s.length === 0) return false;
  let k = s[0] === '-' || s[0] === '+' ? 1 : 0;
  if (k === s.length) return false;
  for (; k < s.length; k++) if (!isDigit(s[k])) return false;
  return true;
}

function wrapCommand(cmd: Command, pos: number, end: number): Script {
  return {
    stmts: [
      {
        pos,
        end,
        background: false,
        andOr: { first: { negated: false, timed: false, commands: [cmd] }, rest: [] },
      },
    ],
  };
}

/**
 * Parses a bash command line. Never throws for bad input: a syntax error or an
 * exceeded limit comes back as `{ ok: false }` so callers can deny it.
 */
export function parseShell(src: string, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  return parseShellCounted(src, limits, { nodes: 0 }, 0);
}

/**
 * Like {@link parseShell}, sharing a node counter and depth with an outer parse so
 * that nested `bash -c` strings count against the same limits.
 */
export function parseShellCounted(
  src: string,
  limits: ParseLimits,
  counter: { nodes: number },
  depth: number,
): ParseResult {
  if (src.length > limits.maxLength) {
    return {
      ok: false,
      kind: 'limit',
      message: `command longer than ${limits.maxLength} characters`,
      pos: limits.maxLength,
    };
  }
  const p = new Parser(src, limits, counter, depth);
  try {
    return { ok: true, script: p.parseProgram() };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, kind: e.kind, message: e.message, pos: e.pos };
    if (e instanceof RangeError) {
      // a stack overflow on pathological nesting is a limit, not a crash
      return { ok: false, kind: 'limit', message: 'command nests too deeply to parse', pos: 0 };
    }
    throw e;
  }
}
