/**
 * The syntax tree produced by the shell parser. It models only what policy needs to
 * know: which simple commands run, with which words, redirections and assignments,
 * and which constructs cannot be resolved statically. Offsets are UTF-16 indices
 * into the parsed source string.
 */

/** A list of statements: a whole script, a subshell body, a `$(…)` body. */
export interface Script {
  readonly stmts: readonly Stmt[];
}

/** One statement of a list, terminated by `;`, `&`, a newline or the list's end. */
export interface Stmt {
  readonly pos: number;
  readonly end: number;
  readonly background: boolean;
  readonly andOr: AndOr;
}

/** Pipelines joined with `&&` and `||`. */
export interface AndOr {
  readonly first: Pipeline;
  readonly rest: readonly { readonly op: '&&' | '||'; readonly pipeline: Pipeline }[];
}

/** Commands joined with `|` or `|&`, optionally negated (`!`) or timed (`time`). */
export interface Pipeline {
  readonly negated: boolean;
  readonly timed: boolean;
  readonly commands: readonly Command[];
}

/** Any command node. */
export type Command =
  | SimpleCommand
  | SubshellCommand
  | GroupCommand
  | IfCommand
  | LoopCommand
  | ForCommand
  | CaseCommand
  | CondCommand
  | ArithCommand
  | OpaqueCommand;

/** `NAME=value` before a command or alone. */
export interface Assign {
  readonly name: string;
  /** `null` for an array assignment `a=(…)`, whose elements are in `arrayItems`. */
  readonly value: Word | null;
  readonly arrayItems: readonly Word[] | null;
  readonly append: boolean;
  /** Set when the name carries a subscript (`a[i]=…`), which bash evaluates arithmetically. */
  readonly subscript: boolean;
  readonly pos: number;
}

/** `[assignments] [words] [redirections]`. */
export interface SimpleCommand {
  readonly kind: 'simple';
  readonly pos: number;
  readonly end: number;
  readonly assigns: readonly Assign[];
  readonly words: readonly Word[];
  readonly redirs: readonly Redirect[];
}

/** `( list )`. */
export interface SubshellCommand {
  readonly kind: 'subshell';
  readonly pos: number;
  readonly body: Script;
  readonly redirs: readonly Redirect[];
}

/** `{ list; }`. */
export interface GroupCommand {
  readonly kind: 'group';
  readonly pos: number;
  readonly body: Script;
  readonly redirs: readonly Redirect[];
}

/** `if … then … [elif …] [else …] fi`. */
export interface IfCommand {
  readonly kind: 'if';
  readonly pos: number;
  readonly clauses: readonly { readonly cond: Script; readonly body: Script }[];
  readonly elseBody: Script | null;
  readonly redirs: readonly Redirect[];
}

/** `while … do … done` and `until … do … done`. */
export interface LoopCommand {
  readonly kind: 'loop';
  readonly pos: number;
  readonly cond: Script;
  readonly body: Script;
  readonly redirs: readonly Redirect[];
}

/** `for NAME [in WORDS]; do … done` (and `select`, which runs its body the same way). */
export interface ForCommand {
  readonly kind: 'for';
  readonly pos: number;
  readonly name: string;
  readonly items: readonly Word[] | null;
  readonly body: Script;
  readonly select: boolean;
  readonly redirs: readonly Redirect[];
}

/** `case WORD in PATTERN) … ;; esac`. */
export interface CaseCommand {
  readonly kind: 'case';
  readonly pos: number;
  readonly word: Word;
  readonly items: readonly { readonly patterns: readonly Word[]; readonly body: Script }[];
  readonly redirs: readonly Redirect[];
}

/** `[[ … ]]`: its words, and whether an arithmetic comparison has a non-literal operand. */
export interface CondCommand {
  readonly kind: 'cond';
  readonly pos: number;
  readonly words: readonly Word[];
  /** Why the test cannot be evaluated statically (arithmetic on variables, `-v a[…]`), or null. */
  readonly dynamicReason: string | null;
  readonly redirs: readonly Redirect[];
}

/** `(( … ))`. */
export interface ArithCommand {
  readonly kind: 'arith';
  readonly pos: number;
  readonly expr: Arith;
  readonly redirs: readonly Redirect[];
}

/**
 * A construct that parses but whose effect policy cannot know statically: function
 * definitions (they can shadow any command name), `coproc`, arithmetic `for ((…))`
 * headers. `nested` holds the bodies so their commands are still checked.
 */
export interface OpaqueCommand {
  readonly kind: 'opaque';
  readonly pos: number;
  readonly reason: string;
  readonly nested: readonly Script[];
  readonly redirs: readonly Redirect[];
}

/** An arithmetic expression: static when it has no names, expansions or substitutions. */
export interface Arith {
  readonly text: string;
  readonly isStatic: boolean;
  readonly nested: readonly Script[];
}

/** A redirection. `target` is null for a here-document (see `heredoc`). */
export interface Redirect {
  readonly op: RedirectOp;
  /** The explicit file descriptor (`2>`), or null. */
  readonly fd: number | null;
  /** True for `{var}>file`, where bash allocates a descriptor and assigns it to a variable. */
  readonly namedFd: boolean;
  readonly target: Word | null;
  readonly heredoc: Heredoc | null;
  readonly pos: number;
}

/** Redirection operators bash knows. */
export type RedirectOp = '<' | '>' | '>>' | '>|' | '<>' | '&>' | '&>>' | '>&' | '<&' | '<<' | '<<-' | '<<<';

/** A here-document body: literal when the delimiter was quoted, else subject to expansions. */
export interface Heredoc {
  readonly quoted: boolean;
  readonly body: Word;
}

/** A word: the concatenation of its parts. */
export interface Word {
  readonly pos: number;
  readonly end: number;
  readonly parts: readonly WordPart[];
}

/** A piece of a word. `q` is true when the piece was quoted or escaped (no glob, brace or tilde meaning). */
export type WordPart =
  | { readonly t: 'lit'; readonly v: string; readonly q: boolean }
  | { readonly t: 'param'; readonly text: string; readonly q: boolean; readonly nested: readonly Script[] }
  | { readonly t: 'cmdsub'; readonly body: Script; readonly q: boolean }
  | { readonly t: 'arith'; readonly expr: Arith; readonly q: boolean }
  | { readonly t: 'procsub'; readonly dir: '<' | '>'; readonly body: Script }
  | { readonly t: 'dynamic'; readonly reason: string; readonly nested: readonly Script[] };
