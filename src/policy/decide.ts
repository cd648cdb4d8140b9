/**
 * `decide(action, policy, context)`: the one pure function that turns an action into
 * a verdict. No I/O, no clock, no module state: everything it needs is in its
 * arguments. A command line is parsed, split into every simple command it would run
 * (through lists, pipelines, substitutions, wrappers and `bash -c`), and every part
 * is checked; the strictest verdict wins.
 */
import {
  awkMayEscape,
  normalizePath,
  resolvePath,
  scanSed,
  shellQuote,
  unaliasProcPath,
} from './analyzers.js';
import { HARMLESS_BUILTINS, SHELL_BUILTINS, SHELLS, WRAPPERS, type WrapperSpec } from './builtins.js';
import {
  resolvedFiles,
  type CompiledExecGrant,
  type CompiledGrantBase,
  type CompiledNetRule,
  type CompiledPolicy,
  type CompiledRule,
  type CompiledTool,
  type FlagSet,
  type PatternIndex,
  type ResolvedEntry,
  type ResolvedFiles,
  type SourceRef,
} from './compile.js';
import type { Policy } from './load.js';
import { globMatches, globMayIntersect, litSeg, shellGlobSegment, type ArgSeg } from './match/glob.js';
import { cidrContains, hostMatches, normalizeHost, type NormalizedHost } from './match/net.js';
import type { Level } from './schema.js';
import type { Command, Redirect, Script, SimpleCommand, Word, WordPart } from './shell/ast.js';
import {
  DEFAULT_PARSE_LIMITS,
  isShellName,
  parseShellCounted,
  staticLit,
  type ParseLimits,
  type ParseResult,
} from './shell/parse.js';
import { expandWord } from './shell/words.js';

// ------------------------------------------------------------------ actions

/** Run a program with an argument vector (no shell involved). */
export interface ExecArgvAction {
  readonly kind: 'exec';
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** Run a shell command line with bash. */
export interface ExecCommandAction {
  readonly kind: 'exec';
  readonly command: string;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** What the host learned about a path before asking (see `resolveFileAction`). */
export interface ResolvedPathInfo {
  /** The path with every symlink resolved, as seen inside the sandbox. */
  readonly realPath: string;
  /** What is there now; `missing` for a path about to be created. */
  readonly type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block' | 'missing';
  /** Hard link count of an existing file (1 for a file with one name). */
  readonly nlink: number;
}

/** Read or write one file through a file tool. */
export interface FileAction {
  readonly kind: 'file.read' | 'file.write';
  readonly path: string;
  readonly resolved?: ResolvedPathInfo;
}

/** One outbound request (or CONNECT tunnel, without method and path). */
export interface NetworkAction {
  readonly kind: 'network';
  readonly host: string;
  readonly port: number;
  readonly method?: string;
  readonly path?: string;
  readonly scheme?: 'http' | 'https';
}

/** Anything an agent can do. */
export type Action = ExecArgvAction | ExecCommandAction | FileAction | NetworkAction;

/** A command line already parsed at the async boundary (see `prepareAction`). */
export interface PreparedExecAction {
  readonly kind: 'exec';
  readonly command: string;
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly prepared: {
    readonly parse: ParseResult;
    /** What the independent sh-syntax parser said: null when it agreed or was not asked. */
    readonly oracleDisagreement: string | null;
  };
}

/** What `decide` may not look up itself. */
export interface DecideContext {
  /** The workspace inside the sandbox, e.g. `/workspace`. */
  readonly workspace: string;
  /** Trusted, read-only directories for resolving bare command names, in PATH order. */
  readonly path: readonly string[];
  /** The agent's home directory inside the sandbox. */
  readonly home: string;
  /** The working directory of commands without their own `cwd` (default: the workspace). */
  readonly cwd?: string;
  /** Parser bounds (default {@link DEFAULT_PARSE_LIMITS}). */
  readonly limits?: ParseLimits;
}

/** Builds a context with the sandbox's standard layout, overridable field by field. */
export function createDecideContext(overrides: Partial<DecideContext> = {}): DecideContext {
  return {
    workspace: '/workspace',
    path: ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'],
    home: '/home/agent',
    ...overrides,
  };
}

// ---------------------------------------------------------------- decisions

/** What kind of thing a part of a decision is about. */
export type PartKind = 'exec' | 'file.read' | 'file.write' | 'network' | 'env' | 'unresolvable';

/** The verdict for one simple command or sub-action. */
export interface DecisionPart {
  readonly kind: PartKind;
  readonly verdict: Level;
  readonly ruleId: string;
  readonly reason: string;
  readonly source?: SourceRef;
  /** What the part is about, for display: a command, a path, a URL, a variable. */
  readonly subject: string;
}

/** The result of {@link decide}. */
export interface Decision {
  readonly verdict: Level;
  readonly ruleId: string;
  readonly reason: string;
  readonly source?: SourceRef;
  readonly parts: readonly DecisionPart[];
  /** Environment and timeout from the rules that allowed the command, for the runner to apply. */
  readonly exec?: { readonly env: Readonly<Record<string, string>>; readonly timeout: number | null };
}

const RANK: Readonly<Record<Level, number>> = { allow: 0, log: 1, ask: 2, deny: 3 };

/** The stricter of two levels. */
export function stricter(a: Level, b: Level): Level {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Writing these keeps nothing, so it is allowed unless a deny rule names them. */
const DISCARD_PATHS: ReadonlySet<string> = new Set([
  '/dev/null',
  '/dev/stdout',
  '/dev/stderr',
  '/dev/fd/1',
  '/dev/fd/2',
]);

/** Most parts one decision may collect before the whole action is denied. */
const MAX_PARTS = 1024;
/** Deepest `bash -c` / `eval` / wrapper recursion. */
const MAX_RECURSION = 12;

// -------------------------------------------------------------------- engine

type Arg =
  | { readonly kind: 'static'; readonly value: string; readonly glob: string | null }
  | { readonly kind: 'dynamic'; readonly reason: string };

interface Scope {
  /** Every directory the shell may be in at this point; null when unknown. */
  cwds: string[] | null;
  /** False once PATH (or the command hash table) may have been changed. */
  pathTrusted: boolean;
  /** True once globs may match dotfiles (dotglob, GLOBIGNORE). */
  dotglob: boolean;
}

interface ParsedFlag {
  readonly kind: 'short' | 'long' | 'word';
  readonly name: string;
  readonly text: string;
  readonly level: number;
  value: Arg | null;
}

class LimitExceeded extends Error {}

class Evaluator {
  readonly parts: DecisionPart[] = [];
  readonly env: Record<string, string> = {};
  timeout: number | null = null;
  private readonly files: ResolvedFiles;
  private readonly counter = { nodes: 0 };
  private recursion = 0;

  constructor(
    private readonly c: CompiledPolicy,
    private readonly ctx: DecideContext,
  ) {
    let files = c.resolvedByContext.get(ctx);
    if (files === undefined) {
      files = resolvedFiles(c, ctx.workspace, ctx.home);
      c.resolvedByContext.set(ctx, files);
    }
    this.files = files;
  }

  private isTrustedDir(dir: string): boolean {
    for (const p of this.ctx.path) if (normalizePath(p) === dir) return true;
    return false;
  }

  private get limits(): ParseLimits {
    return this.ctx.limits ?? DEFAULT_PARSE_LIMITS;
  }

  add(
    kind: PartKind,
    verdict: Level,
    ruleId: string,
    reason: string,
    subject: string,
    source?: SourceRef | null,
  ): void {
    if (this.parts.length >= MAX_PARTS)
      throw new LimitExceeded(`more than ${MAX_PARTS} commands and file accesses in one action`);
    const part: DecisionPart = source
      ? { kind, verdict, ruleId, reason, subject, source }
      : { kind, verdict, ruleId, reason, subject };
    this.parts.push(part);
  }

  unresolvable(reason: string, subject: string): void {
    this.add(
      'unresolvable',
      this.c.unresolvable,
      'unresolvable',
      `${reason}; it cannot be checked before it runs`,
      subject,
    );
  }

  // ------------------------------------------------------------ entry points

  runCommandLine(src: string, parse: ParseResult | null, scope: Scope): void {
    const result = parse ?? parseShellCounted(src, this.limits, this.counter, 0);
    if (!result.ok) {
      const id = result.kind === 'syntax' ? 'syntax' : 'parser-limit';
      const why =
        result.kind === 'syntax'
          ? `the command does not parse as bash (${result.message} at offset ${result.pos})`
          : `the command exceeds a parser limit (${result.message})`;
      // unparsable is deny: never the configurable unresolvable level
      this.add('unresolvable', 'deny', id, why, src.length > 200 ? `${src.slice(0, 200)}…` : src);
      return;
    }
    this.walkScript(result.script, scope);
  }

  runArgvAction(argv: readonly string[], scope: Scope): void {
    if (argv.length === 0) {
      this.add('unresolvable', 'deny', 'syntax', 'an empty argv runs nothing recognizable', '');
      return;
    }
    this.runArgs(
      argv.map((value): Arg => ({ kind: 'static', value, glob: null })),
      scope,
      { lookupTrusted: scope.pathTrusted, dynamicTail: false, builtinOnly: false },
    );
  }

  checkEnvAssignments(env: Readonly<Record<string, string>>, scope: Scope, via: string): void {
    for (const name of Object.keys(env)) {
      this.checkEnvName(name, via);
      if (name === 'PATH') scope.pathTrusted = false;
    }
  }

  // ----------------------------------------------------------------- walking

  private walkScript(script: Script, scope: Scope): void {
    for (const stmt of script.stmts) {
      const ao = stmt.andOr;
      this.walkPipeline(ao.first.commands, scope, ao.first.timed);
      for (const r of ao.rest) this.walkPipeline(r.pipeline.commands, scope, r.pipeline.timed);
    }
  }

  private walkPipeline(commands: readonly Command[], scope: Scope, timed: boolean): void {
    if (timed)
      this.add('exec', 'allow', 'builtin.time', 'the time keyword only measures the pipeline', 'time');
    if (commands.length === 1) {
      this.walkCommand(commands[0] as Command, scope);
      return;
    }
    // every part of a pipeline runs in its own subshell
    for (const cmd of commands) this.walkCommand(cmd, cloneScope(scope));
  }

  private walkNested(scripts: readonly Script[], scope: Scope): void {
    for (const s of scripts) this.walkScript(s, cloneScope(scope));
  }

  private walkCommand(cmd: Command, scope: Scope): void {
    switch (cmd.kind) {
      case 'simple':
        this.walkSimple(cmd, scope);
        return;
      case 'subshell':
        this.walkScript(cmd.body, cloneScope(scope));
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'group':
        this.walkScript(cmd.body, scope);
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'if':
        for (const cl of cmd.clauses) {
          this.walkScript(cl.cond, scope);
          this.walkScript(cl.body, scope);
        }
        if (cmd.elseBody) this.walkScript(cmd.elseBody, scope);
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'loop':
        this.walkScript(cmd.cond, scope);
        this.walkScript(cmd.body, scope);
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'for':
        for (const w of cmd.items ?? []) this.walkWordNested(w, scope);
        this.checkEnvName(cmd.name, `for ${cmd.name} in …`);
        if (cmd.name === 'PATH') scope.pathTrusted = false;
        this.walkScript(cmd.body, scope);
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'case':
        this.walkWordNested(cmd.word, scope);
        for (const item of cmd.items) {
          for (const p of item.patterns) this.walkWordNested(p, scope);
          this.walkScript(item.body, scope);
        }
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'cond':
        for (const w of cmd.words) this.walkWordNested(w, scope);
        if (cmd.dynamicReason !== null) this.unresolvable(cmd.dynamicReason, '[[ … ]]');
        else
          this.add(
            'exec',
            'allow',
            'builtin.test',
            'a [[ ]] test has no effect outside the shell',
            '[[ … ]]',
          );
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'arith':
        this.walkNested(cmd.expr.nested, scope);
        if (!cmd.expr.isStatic)
          this.unresolvable(
            'an arithmetic command evaluates variables, whose values can run commands through array subscripts',
            `((${cmd.expr.text}))`,
          );
        this.walkRedirects(cmd.redirs, scope);
        return;
      case 'opaque':
        this.unresolvable(cmd.reason, cmd.reason);
        this.walkNested(cmd.nested, scope);
        return;
    }
  }

  private walkWordNested(w: Word, scope: Scope): void {
    for (const p of w.parts) this.walkPartNested(p, scope);
  }

  private walkPartNested(p: WordPart, scope: Scope): void {
    switch (p.t) {
      case 'lit':
        return;
      case 'cmdsub':
      case 'procsub':
        this.walkScript(p.body, cloneScope(scope));
        return;
      case 'param':
      case 'dynamic':
        this.walkNested(p.nested, scope);
        if (p.t === 'dynamic') this.unresolvable(p.reason, '${…}');
        return;
      case 'arith':
        this.walkNested(p.expr.nested, scope);
        if (!p.expr.isStatic)
          this.unresolvable(
            'an arithmetic expansion evaluates variables, whose values can run commands through array subscripts',
            `$((${p.expr.text}))`,
          );
        return;
    }
  }

  private expand(w: Word, scope: Scope): Arg[] {
    const e = expandWord(w, {
      home: this.ctx.home,
      cwd: scope.cwds?.length === 1 ? (scope.cwds[0] as string) : null,
    });
    if (e.kind === 'dynamic') return [{ kind: 'dynamic', reason: e.reason }];
    return e.fields.map((f): Arg => ({ kind: 'static', value: f.value, glob: f.glob }));
  }

  private walkSimple(cmd: SimpleCommand, scope: Scope): void {
    for (const a of cmd.assigns) {
      if (a.value) this.walkWordNested(a.value, scope);
      for (const w of a.arrayItems ?? []) this.walkWordNested(w, scope);
    }
    for (const w of cmd.words) this.walkWordNested(w, scope);

    const args: Arg[] = [];
    for (const w of cmd.words) args.push(...this.expand(w, scope));

    // assignments: alone they change the shell; before a command, only its environment
    // prefix assignments (PATH=x cmd) apply to that command only, so they get a copy of the scope
    const commandScope = args.length > 0 && cmd.assigns.length > 0 ? { ...scope } : scope;
    for (const a of cmd.assigns) {
      if (a.subscript)
        this.unresolvable(`the subscript in ${a.name}[…]= is evaluated as arithmetic`, `${a.name}[…]=`);
      this.checkEnvName(a.name, `${a.name}=…`);
      if (a.name === 'PATH') commandScope.pathTrusted = false;
      if (a.name === 'GLOBIGNORE') commandScope.dotglob = true;
    }
    if (args.length === 0) {
      this.walkRedirects(cmd.redirs, scope);
      return;
    }
    // redirections happen before the command runs, so they see the scope from before it
    const before = cmd.redirs.length > 0 ? cloneScope(scope) : scope;
    this.runArgs(args, commandScope, {
      lookupTrusted: commandScope.pathTrusted,
      dynamicTail: false,
      builtinOnly: false,
    });
    this.walkRedirects(cmd.redirs, before);
    // a command's own cd/export effects land in the surrounding scope
    scope.cwds = commandScope.cwds;
    scope.pathTrusted = scope.pathTrusted && commandScope.pathTrusted;
    scope.dotglob = scope.dotglob || commandScope.dotglob;
  }

  private walkRedirects(redirs: readonly Redirect[], scope: Scope): void {
    for (const r of redirs) {
      if (r.heredoc) {
        this.walkWordNested(r.heredoc.body, scope);
        continue;
      }
      const target = r.target;
      if (target === null) continue;
      this.walkWordNested(target, scope);
      if (r.op === '<<<') continue;
      const lit = staticLit(target);
      if ((r.op === '>&' || r.op === '<&') && lit !== null && (lit === '-' || /^[0-9]+-?$/.test(lit)))
        continue;
      const expanded = this.expand(target, scope);
      const first = expanded[0];
      const display = `${r.op} ${lit ?? '…'}`;
      if (expanded.length !== 1 || first === undefined || first.kind === 'dynamic') {
        this.unresolvable(
          first?.kind === 'dynamic'
            ? `the redirection target is only known at run time (${first.reason})`
            : 'the redirection target expands to several words',
          display,
        );
        continue;
      }
      const mode: 'read' | 'write' = r.op === '<' || r.op === '<&' ? 'read' : 'write';
      if (first.glob !== null) {
        // bash expands a redirection glob only when it names exactly one existing file
        this.checkPathArg(first, scope, r.op === '<>' ? 'write' : mode, false, display);
        continue;
      }
      this.checkPathArg(first, scope, mode, false, display);
      if (r.op === '<>') this.checkPathArg(first, scope, 'read', false, display);
    }
  }

  // --------------------------------------------------------------- commands

  private runArgs(
    args: Arg[],
    scope: Scope,
    opts: { lookupTrusted: boolean; dynamicTail: boolean; builtinOnly: boolean },
  ): void {
    const head = args[0];
    if (head === undefined) return;
    const display = displayArgs(args, opts.dynamicTail);
    if (head.kind === 'dynamic') {
      this.unresolvable(`the command name is only known at run time (${head.reason})`, display);
      return;
    }
    if (head.glob !== null) {
      this.unresolvable('the command name is a glob pattern', display);
      return;
    }
    const name = head.value;
    if (name.length === 0) {
      this.unresolvable('the command name is empty', display);
      return;
    }
    // resolve the executable: builtins first (as bash does), then paths, then the trusted PATH
    let identities: string[];
    let isBuiltin = false;
    if (!name.includes('/') && SHELL_BUILTINS.has(name)) {
      identities = [name];
      isBuiltin = true;
    } else if (opts.builtinOnly) {
      this.unresolvable(`"builtin ${name}" names no shell builtin`, display);
      return;
    } else if (name.includes('/')) {
      const candidates = this.resolveAgainstCwds(name, scope);
      if (candidates === null) {
        this.unresolvable('a relative executable path with an unknown working directory', display);
        return;
      }
      identities = [];
      for (const p of candidates) {
        const real = unaliasProcPath(p);
        // /proc/self/root/usr/bin/cat is deliberately not "cat": rules name trusted locations only
        const dir = p.slice(0, p.lastIndexOf('/')) || '/';
        identities.push(real === p && this.isTrustedDir(dir) ? p.slice(p.lastIndexOf('/') + 1) : p);
      }
      identities = [...new Set(identities)];
    } else if (!opts.lookupTrusted) {
      this.unresolvable(`"${name}" is looked up through a PATH this command line changed`, display);
      return;
    } else identities = [name];

    for (const id of identities) this.runResolved(id, isBuiltin, args, scope, opts, display);
  }

  private resolveAgainstCwds(p: string, scope: Scope): string[] | null {
    if (p.startsWith('/')) return [normalizePath(p)];
    if (scope.cwds === null) return null;
    return scope.cwds.map((d) => resolvePath(d, p));
  }

  private runResolved(
    id: string,
    isBuiltin: boolean,
    args: Arg[],
    scope: Scope,
    opts: { lookupTrusted: boolean; dynamicTail: boolean; builtinOnly: boolean },
    display: string,
  ): void {
    if (isBuiltin && this.runBuiltin(id, args, scope, opts, display)) return;
    const wrapper = WRAPPERS.get(id);
    if (wrapper) {
      // the wrapper's own rule applies, and so do the rules of the command it runs
      this.runWrapper(id, wrapper, args, scope, opts, display);
      return;
    }
    if (SHELLS.has(id) && this.runShell(id, args, scope, opts, display)) return;
    switch (id) {
      case 'find':
        this.scanFind(args, scope);
        break;
      case 'sed':
      case 'gsed':
        this.scanSedCommand(args, scope, display);
        break;
      case 'awk':
      case 'gawk':
      case 'mawk':
      case 'nawk':
      case 'busybox':
        if (id !== 'busybox') this.scanAwkCommand(args, display);
        break;
      default:
        break;
    }
    if (INTERPRETERS.has(id) && readsProgramFromStdin(args)) {
      this.unresolvable(`${id} with no program argument runs code from standard input`, display);
    }
    this.checkCommand(id, args, scope, opts.dynamicTail, display);
  }

  /** Applies the rules for a resolved command: level, forbidden flags, constraints, path arguments. */
  private checkCommand(id: string, args: Arg[], scope: Scope, dynamicTail: boolean, display: string): void {
    const tool = this.c.tools.get(id);
    const meta = this.c.ruleMeta.get(id);
    const maxDepth = meta?.maxDepth ?? 0;
    const parsed = parseArgs(args, tool, maxDepth);
    if (dynamicTail) parsed.dynamicFlags = true;

    // the most specific rule whose subcommand path is a prefix of the invocation's, and
    // the less specific ones along the way (their forbidden flags still apply)
    const chain: CompiledRule[] = [];
    let rule: CompiledRule | null = null;
    if (meta !== undefined) {
      let key = '';
      const depth = Math.min(parsed.sub.length, maxDepth);
      for (let d = 0; d <= depth; d++) {
        if (d > 0) key = d === 1 ? (parsed.sub[0] as string) : `${key} ${parsed.sub[d - 1] as string}`;
        const r = meta.bySub.get(key);
        if (r !== undefined) {
          chain.push(r);
          rule = r;
        }
      }
      if (parsed.subDynamic && meta.deeperPrefixes.has(parsed.sub.join(' '))) {
        this.unresolvable(
          `the subcommand of ${id} is only known at run time, and rules differ by subcommand`,
          display,
        );
        return;
      }
    }

    if (parsed.unknownGlobal !== null) {
      this.unresolvable(
        `${id} option "${parsed.unknownGlobal}" before the subcommand is not known to the policy, so the subcommand cannot be told apart`,
        display,
      );
    }

    let verdict: Level;
    let ruleId: string;
    let reason: string;
    let source: SourceRef | null = null;
    if (rule !== null) {
      verdict = rule.level;
      ruleId = rule.id;
      reason = rule.reason;
      source = rule.source;
    } else if (HARMLESS_BUILTINS.has(id)) {
      verdict = 'allow';
      ruleId = `builtin.${id}`;
      reason = `${id} is a shell builtin with no effect outside the shell`;
    } else {
      verdict = this.c.execDefault;
      ruleId = 'exec.default';
      reason = id.startsWith('/')
        ? `${id} is not in a trusted PATH directory and no rule names it`
        : `no rule names ${id}`;
    }
    // Parts a grant may lift: the command's own level and its rule's allowFlags, maxArgs and
    // cwd constraints. Never a forbidden flag (asked or denied every time), never a file,
    // environment or unresolvable part, which are checked on their own.
    const liftable: number[] = [this.parts.length];
    // A deny that is only exec.default (no rule names the command) is lifted too: the grant
    // names the command exactly, as an allow rule would. A deny a rule states never is.
    const mainIndex = this.parts.length;
    const liftDefaultDeny = ruleId === 'exec.default';
    this.add('exec', verdict, ruleId, reason, display, source);

    if (rule !== null) {
      if (rule.env) Object.assign(this.env, rule.env);
      if (rule.timeout !== null)
        this.timeout = this.timeout === null ? rule.timeout : Math.min(this.timeout, rule.timeout);
    }

    // forbidden flags: from the chosen rule and every less specific rule of the same command
    const constrained = (meta?.constrained ?? false) || (tool?.subcommands ?? false);
    if (constrained && parsed.dynamicFlags) {
      this.unresolvable(
        `an argument of ${id} is only known at run time and could be a forbidden flag`,
        display,
      );
    } else if (constrained && parsed.globFlags) {
      this.unresolvable(
        `an argument of ${id} is a glob that could expand to a file named like a flag`,
        display,
      );
    }
    const abbreviations = tool?.abbreviations ?? true;
    for (const r of chain) {
      if (r.forbid === null) continue;
      const minLevel = tool?.subcommands && r.subcommand.length === 0 ? 0 : r.subcommand.length;
      const maxLevel = tool?.subcommands && r.subcommand.length === 0 ? 0 : Infinity;
      for (const f of parsed.flags) {
        if (f.level < minLevel || f.level > maxLevel) continue;
        if (flagIn(r.forbid, f, abbreviations)) {
          this.add(
            'exec',
            r.forbidLevel,
            r.id,
            `rule ${r.id} forbids ${f.text} for ${[id, ...r.subcommand].join(' ')}`,
            display,
            r.source,
          );
        }
      }
    }
    if (rule !== null) {
      if (rule.allow !== null) {
        for (const f of parsed.flags) {
          if (f.level < rule.subcommand.length) continue;
          if (!flagIn(rule.allow, f, false)) {
            liftable.push(this.parts.length);
            this.add(
              'exec',
              rule.forbidLevel,
              rule.id,
              `rule ${rule.id} allows only ${rule.allow.written.join(', ')}; ${f.text} is not among them`,
              display,
              rule.source,
            );
          }
        }
      }
      if (rule.maxArgs !== null) {
        if (parsed.dynamicFlags || parsed.anyGlob)
          this.unresolvable(
            `${id} has a limit on arguments and some arguments are only known at run time`,
            display,
          );
        else if (args.length - 1 > rule.maxArgs) {
          liftable.push(this.parts.length);
          this.add(
            'exec',
            rule.forbidLevel,
            rule.id,
            `rule ${rule.id} allows at most ${rule.maxArgs} arguments; got ${args.length - 1}`,
            display,
            rule.source,
          );
        }
      }
      const cwdGlobs = this.files.ruleCwd.get(rule);
      if (cwdGlobs) {
        const dirs = parsed.chdir !== null ? this.resolveArgPaths(parsed.chdir, scope) : scope.cwds;
        if (dirs === null)
          this.unresolvable(
            `rule ${rule.id} limits where ${id} runs, and the working directory is not known`,
            display,
          );
        else {
          for (const d of dirs) {
            if (!cwdGlobs.some((g) => globMatches(g, d))) {
              liftable.push(this.parts.length);
              this.add(
                'exec',
                rule.forbidLevel,
                rule.id,
                `rule ${rule.id} does not allow ${id} to run in ${d}`,
                display,
                rule.source,
              );
            }
          }
        }
      }
    }

    if (
      this.c.grants.exec.size > 0 &&
      (liftable.some((i) => this.parts[i]?.verdict === 'ask') ||
        (liftDefaultDeny && this.parts[mainIndex]?.verdict === 'deny'))
    ) {
      const grant = this.execGrant(id, args, parsed, scope, dynamicTail);
      if (grant !== null) for (const i of liftable) this.lift(i, grant, i === mainIndex && liftDefaultDeny);
    }

    // files the command's arguments name
    if (tool) this.checkToolPaths(id, tool, parsed, scope, display);
  }

  /**
   * The grant that names exactly this command, if any: the same command, the same words
   * right after it, no flag that the grant does not list (as words, and as the tool's flag
   * parser reads them), no more arguments, the same working directory. Anything only known at
   * run time (a variable, a glob, a dynamic tail) never matches.
   */
  private execGrant(
    id: string,
    args: readonly Arg[],
    parsed: ParsedArgs,
    scope: Scope,
    dynamicTail: boolean,
  ): CompiledExecGrant | null {
    const list = this.c.grants.exec.get(id);
    if (list === undefined || dynamicTail || parsed.dynamicFlags || parsed.anyGlob) return null;
    const words: string[] = [];
    for (const a of args) {
      if (a.kind !== 'static' || a.glob !== null) return null;
      words.push(a.value);
    }
    const nargs = words.length - 1;
    next: for (const g of list) {
      if (nargs > g.maxArgs || nargs < g.subcommand.length) continue;
      for (let k = 0; k < g.subcommand.length; k++) if (words[k + 1] !== g.subcommand[k]) continue next;
      for (let k = 1 + g.subcommand.length; k < words.length; k++) {
        const w = words[k] as string;
        if (w.length < 2 || !w.startsWith('-') || w === '--') continue;
        if (w.startsWith('--')) {
          const eq = w.indexOf('=');
          if (!g.flagNames.has(eq >= 0 ? w.slice(0, eq) : w)) continue next;
        } else {
          for (let c = 1; c < w.length; c++) if (!g.flagNames.has(`-${w.charAt(c)}`)) continue next;
        }
      }
      for (const f of parsed.flags) if (!flagIn(g.flags, f, false)) continue next;
      if (g.cwd !== null) {
        if (parsed.chdir !== null || scope.cwds === null || scope.cwds.length === 0) continue;
        for (const d of scope.cwds) if (d !== g.cwd) continue next;
      }
      return g;
    }
    return null;
  }

  /**
   * Turns the asking part at `index` into an allow by `grant`; with `defaultDeny`, also a
   * deny that is only the policy's default for what nothing names. Any other verdict stays.
   */
  private lift(index: number, grant: CompiledGrantBase, defaultDeny = false): void {
    const p = this.parts[index];
    if (p === undefined || !(p.verdict === 'ask' || (defaultDeny && p.verdict === 'deny'))) return;
    this.parts[index] = {
      kind: p.kind,
      verdict: 'allow',
      ruleId: grant.id,
      reason: `${grant.label} allows exactly this; without it: ${p.reason}`,
      subject: p.subject,
      source: grant.source,
    };
  }

  private checkToolPaths(
    id: string,
    tool: CompiledTool,
    parsed: ParsedArgs,
    scope: Scope,
    display: string,
  ): void {
    for (const f of parsed.flags) {
      const kind = flagPathKind(tool, f);
      if (kind === null || f.value === null) continue;
      if (kind === 'cwd') {
        parsed.chdir = f.value;
        continue;
      }
      this.checkPathArg(f.value, scope, kind, kind === 'write', `${display} (${f.text})`);
    }
    let mode = tool.pathArgs;
    if (mode === 'none') return;
    if (
      mode === 'read' &&
      tool.writeFlags !== null &&
      parsed.flags.some((f) => flagIn(tool.writeFlags as FlagSet, f, tool.abbreviations))
    )
      mode = 'write';
    const operands = parsed.positionals.slice(tool.pathArgsSkip);
    const pathScope = parsed.chdir !== null ? this.scopeWithCwd(scope, parsed.chdir) : scope;
    if (parsed.dynamicFlags && operands.length === 0) {
      this.unresolvable(`${id} takes file arguments that are only known at run time`, display);
      return;
    }
    switch (mode) {
      case 'read':
        // a reader may recurse (grep -r, rg): what it can reach counts
        for (const a of operands) this.checkPathArg(a, pathScope, 'read', true, display);
        return;
      case 'write':
        for (const a of operands) this.checkPathArg(a, pathScope, 'write', false, display);
        return;
      case 'remove':
        for (const a of operands) {
          this.checkPathArg(a, pathScope, 'write', true, display);
          this.checkWholeWorkspace(a, pathScope, display);
        }
        return;
      case 'copy':
      case 'move': {
        if (operands.length < 2) {
          for (const a of operands) this.checkPathArg(a, pathScope, 'write', true, display);
          return;
        }
        const dest = operands[operands.length - 1] as Arg;
        const sources = operands.slice(0, -1);
        for (const s of sources) {
          this.checkPathArg(s, pathScope, mode === 'move' ? 'write' : 'read', true, display);
          if (mode === 'move') this.checkWholeWorkspace(s, pathScope, display);
        }
        this.checkPathArg(dest, pathScope, 'write', true, display);
        if (dest.kind === 'static') {
          for (const s of sources) {
            if (s.kind !== 'static') continue;
            const base = s.value.replace(/\/+$/, '').split('/').pop() ?? '';
            if (base.length > 0 && base !== '.' && base !== '..') {
              this.checkPathArg(
                {
                  kind: 'static',
                  value: `${dest.value}/${base}`,
                  glob: s.glob !== null ? `${dest.glob ?? dest.value}/${base}` : null,
                },
                pathScope,
                'write',
                true,
                display,
              );
            }
          }
        }
        return;
      }
    }
  }

  /**
   * Removing (or moving away, or `chmod -R`-ing) the workspace root itself destroys the
   * whole project at once, `.git` included; the path rules see only a write inside the
   * workspace. It is at least the protected level (ask in the presets), like a protected
   * path. Ancestors of the workspace are outside it and judged by the path rules.
   */
  private checkWholeWorkspace(a: Arg, scope: Scope, display: string): void {
    if (a.kind !== 'static' || a.glob !== null) return;
    const bases = a.value.startsWith('/') ? ['/'] : scope.cwds;
    if (bases === null) return;
    const root = normalizePath(this.ctx.workspace);
    for (const base of bases) {
      const abs = unaliasProcPath(resolvePath(base, a.value));
      if (abs !== root) continue;
      this.add(
        'file.write',
        this.c.files.protectedLevel,
        'files.workspace-root',
        `${root} is the workspace root: this removes or moves the whole project, its history included`,
        display,
      );
      return;
    }
  }

  private scopeWithCwd(scope: Scope, dir: Arg): Scope {
    const dirs = this.resolveArgPaths(dir, scope);
    return { ...scope, cwds: dirs };
  }

  private resolveArgPaths(a: Arg, scope: Scope): string[] | null {
    if (a.kind === 'dynamic' || a.glob !== null) return null;
    if (a.value.startsWith('/')) return [normalizePath(a.value)];
    if (scope.cwds === null) return null;
    return scope.cwds.map((d) => resolvePath(d, a.value));
  }

  // ----------------------------------------------------------------- builtins

  /** Handles builtins with effects on parsing state; returns true when fully handled. */
  private runBuiltin(
    id: string,
    args: Arg[],
    scope: Scope,
    opts: { lookupTrusted: boolean; dynamicTail: boolean; builtinOnly: boolean },
    display: string,
  ): boolean {
    const rest = args.slice(1);
    switch (id) {
      case 'cd':
      case 'pushd':
      case 'popd': {
        const target = rest.filter(
          (a) => !(a.kind === 'static' && a.value.startsWith('-') && a.value !== '-'),
        );
        if (id === 'popd' || target.length > 1) scope.cwds = null;
        else {
          const t = target[0] ?? { kind: 'static', value: this.ctx.home, glob: null };
          const dirs = t.kind === 'static' && t.value === '-' ? null : this.resolveArgPaths(t, scope);
          // cd may fail and leave the shell where it was: keep both possibilities
          scope.cwds = dirs === null || scope.cwds === null ? null : unique([...scope.cwds, ...dirs]);
          if (scope.cwds !== null && scope.cwds.length > 8) scope.cwds = null;
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      }
      case 'export':
      case 'declare':
      case 'typeset':
      case 'local':
      case 'readonly': {
        for (const a of rest) {
          if (a.kind === 'dynamic') {
            this.unresolvable(
              `an argument of ${id} is only known at run time and could set any variable`,
              display,
            );
            continue;
          }
          if (a.value.startsWith('-') || a.value.startsWith('+')) {
            if (/[ni]/.test(a.value.slice(1)))
              this.unresolvable(`${id} ${a.value} makes later assignments indirect or arithmetic`, display);
            continue;
          }
          const eq = a.value.indexOf('=');
          const name = (eq >= 0 ? a.value.slice(0, eq) : a.value).replace(/\+$/, '');
          if (name.includes('[')) {
            this.unresolvable(`the subscript in ${name} is evaluated as arithmetic`, display);
            continue;
          }
          this.checkEnvName(name, `${id} ${a.value.length > 40 ? `${a.value.slice(0, 40)}…` : a.value}`);
          if (name === 'PATH') scope.pathTrusted = false;
          if (name === 'GLOBIGNORE') scope.dotglob = true;
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      }
      case 'unset':
      case 'read':
      case 'mapfile':
      case 'readarray':
      case 'getopts':
      case 'printf':
      case 'test':
      case '[': {
        for (const a of rest) {
          if (a.kind === 'dynamic') {
            if (id === 'unset' || id === 'read')
              this.unresolvable(
                `an argument of ${id} is only known at run time and could name any variable`,
                display,
              );
            continue;
          }
          if (a.value.includes('[') && a.value.includes(']') && /^[A-Za-z_][A-Za-z0-9_]*\[/.test(a.value)) {
            this.unresolvable(`the subscript in ${a.value} is evaluated as arithmetic`, display);
          } else if ((id === 'unset' || id === 'read') && isShellName(a.value)) {
            this.checkEnvName(a.value, `${id} ${a.value}`);
            if (a.value === 'PATH') scope.pathTrusted = false;
          }
        }
        if (id === 'printf') {
          const k = rest.findIndex((a) => a.kind === 'static' && a.value === '-v');
          const v = k >= 0 ? rest[k + 1] : undefined;
          if (v !== undefined && v.kind === 'static' && isShellName(v.value))
            this.checkEnvName(v.value, `printf -v ${v.value}`);
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      }
      case 'let': {
        for (const a of rest) {
          if (a.kind === 'dynamic' || !/^[0-9\s+\-*/%()<>=!&|^~?:,]*$/.test(a.value)) {
            this.unresolvable(
              'let evaluates variables as arithmetic, which can run commands through array subscripts',
              display,
            );
            break;
          }
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      }
      case 'shopt':
        if (
          rest.some(
            (a) =>
              a.kind === 'dynamic' ||
              (a.kind === 'static' && /^(dotglob|globstar|nocaseglob|extglob|expand_aliases)$/.test(a.value)),
          )
        )
          scope.dotglob = true;
        if (rest.some((a) => a.kind === 'static' && a.value === 'expand_aliases')) {
          this.unresolvable('shopt expand_aliases lets aliases change what later commands mean', display);
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      case 'hash':
      case 'enable':
        if (
          id === 'enable' ||
          rest.some(
            (a) =>
              a.kind === 'dynamic' ||
              (a.kind === 'static' && a.value.startsWith('-') && a.value.includes('p')),
          )
        ) {
          scope.pathTrusted = false;
        }
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        return true;
      case 'eval': {
        this.add(
          'exec',
          'allow',
          'builtin.eval',
          'eval runs its arguments as a command line, which is checked below',
          display,
        );
        if (rest.some((a) => a.kind === 'dynamic')) {
          this.unresolvable('eval of a string only known at run time', display);
          return true;
        }
        this.recurse(() => {
          this.runCommandLine(rest.map((a) => (a.kind === 'static' ? a.value : '')).join(' '), null, scope);
        });
        return true;
      }
      case 'trap': {
        this.checkCommand(id, args, scope, opts.dynamicTail, display);
        const action = rest.find((a) => !(a.kind === 'static' && a.value.startsWith('-')));
        if (action === undefined) return true;
        if (action.kind === 'dynamic')
          this.unresolvable('trap with a handler only known at run time', display);
        else if (action.value !== '' && action.value !== '-' && rest.length > 1)
          this.recurse(() => {
            this.runCommandLine(action.value, null, cloneScope(scope));
          });
        return true;
      }
      case 'source':
      case '.': {
        this.checkCommand(
          'source',
          [{ kind: 'static', value: 'source', glob: null }, ...rest],
          scope,
          opts.dynamicTail,
          display,
        );
        const file = rest[0];
        if (file === undefined) return true;
        this.checkPathArg(file, scope, 'read', false, display);
        return true;
      }
      case 'exec':
      case 'command':
      case 'builtin': {
        let k = 0;
        let lookupTrusted = opts.lookupTrusted;
        let runs = true;
        while (k < rest.length) {
          const a = rest[k] as Arg;
          if (a.kind === 'dynamic') {
            this.unresolvable(`an option of ${id} is only known at run time`, display);
            return true;
          }
          if (a.value === '--') {
            k++;
            break;
          }
          if (!a.value.startsWith('-') || a.value === '-') break;
          if (id === 'exec' && a.value === '-a') k++;
          if (id === 'command' && /[vV]/.test(a.value)) runs = false;
          if (id === 'command' && a.value.includes('p')) lookupTrusted = true;
          k++;
        }
        this.add(
          'exec',
          'allow',
          `builtin.${id}`,
          `${id} runs the command that follows it, which is checked on its own`,
          display,
        );
        const inner = rest.slice(k);
        if (!runs || inner.length === 0) return true;
        this.recurse(() => {
          this.runArgs(inner, scope, {
            lookupTrusted,
            dynamicTail: opts.dynamicTail,
            builtinOnly: id === 'builtin',
          });
        });
        return true;
      }
      default:
        return false;
    }
  }

  private recurse(fn: () => void): void {
    if (++this.recursion > MAX_RECURSION)
      throw new LimitExceeded(
        `commands nest more than ${MAX_RECURSION} levels deep (wrappers, eval, bash -c)`,
      );
    try {
      fn();
    } finally {
      this.recursion--;
    }
  }

  // ----------------------------------------------------------------- wrappers

  private runWrapper(
    id: string,
    spec: WrapperSpec,
    args: Arg[],
    scope: Scope,
    opts: { lookupTrusted: boolean; dynamicTail: boolean; builtinOnly: boolean },
    display: string,
  ): void {
    const own: Arg[] = [args[0] as Arg];
    let k = 1;
    let lookupTrusted = opts.lookupTrusted;
    const innerScope: Scope = { ...scope };
    let operands = spec.operands ?? 0;
    const shellStrings: string[] = [];
    for (; k < args.length; k++) {
      const a = args[k] as Arg;
      if (a.kind === 'dynamic') {
        this.checkCommand(id, own, scope, false, display);
        this.unresolvable(
          `an argument of ${id} is only known at run time, so the command it runs cannot be found`,
          display,
        );
        return;
      }
      const v = a.value;
      if (v === '--') {
        own.push(a);
        k++;
        break;
      }
      if (v.startsWith('-') && v !== '-') {
        own.push(a);
        const eq = v.indexOf('=');
        const flag = eq >= 0 ? v.slice(0, eq) : v;
        if (spec.numericOption && /^-[0-9]+$/.test(v)) continue;
        if (spec.opaque?.some((o) => matchesOption(o, flag))) {
          this.checkCommand(id, own, scope, false, display);
          this.unresolvable(`${id} ${flag} runs something the policy cannot see`, display);
          return;
        }
        if (
          spec.flags.some((o) => matchesOption(o, flag)) ||
          spec.optionalValued?.some((o) => matchesOption(o, flag) || v.startsWith(o))
        )
          continue;
        const valued = spec.valued.find(
          (o) => matchesOption(o, flag) || (!o.startsWith('--') && v.startsWith(o) && v.length > o.length),
        );
        if (valued === undefined) {
          // a short bundle of flags without values is fine; anything else is unknown
          if (!v.startsWith('--') && Array.from(v.slice(1)).every((ch) => spec.flags.includes(`-${ch}`)))
            continue;
          this.checkCommand(id, own, scope, false, display);
          this.unresolvable(
            `${id} option "${v}" is not known to the policy, so the command it runs cannot be found`,
            display,
          );
          return;
        }
        let value: Arg | undefined;
        if (eq >= 0) value = { kind: 'static', value: v.slice(eq + 1), glob: null };
        else if (!valued.startsWith('--') && v.length > valued.length)
          value = { kind: 'static', value: v.slice(valued.length), glob: null };
        else {
          value = args[++k];
          if (value !== undefined) own.push(value);
        }
        if (value === undefined) {
          this.checkCommand(id, own, scope, false, display);
          this.unresolvable(`${id} ${valued} is missing its value`, display);
          return;
        }
        if (spec.chdir?.includes(valued)) innerScope.cwds = this.resolveArgPaths(value, scope);
        if (spec.writes?.includes(valued)) this.checkPathArg(value, scope, 'write', false, display);
        if (spec.reads?.includes(valued)) this.checkPathArg(value, scope, 'read', false, display);
        if (spec.shellString?.includes(valued)) {
          if (value.kind === 'dynamic')
            this.unresolvable(`${id} runs a command string only known at run time`, display);
          else shellStrings.push(value.value);
        }
        continue;
      }
      if (spec.assignments && v.includes('=') && isShellName(v.slice(0, v.indexOf('=')))) {
        own.push(a);
        const name = v.slice(0, v.indexOf('='));
        this.checkEnvName(name, `${id} ${name}=…`);
        if (name === 'PATH') lookupTrusted = false;
        continue;
      }
      if (operands > 0) {
        own.push(a);
        operands--;
        continue;
      }
      break;
    }
    this.checkCommand(id, own, scope, false, display);
    let inner = args.slice(k);
    for (const s of shellStrings)
      this.recurse(() => {
        this.runCommandLine(s, null, cloneScope(innerScope));
      });
    if (shellStrings.length > 0) return;
    if (inner.length === 0) {
      if (spec.defaultCommand === undefined) return;
      inner = [{ kind: 'static', value: spec.defaultCommand, glob: null }];
    }
    if (spec.joinsShell) {
      if (inner.some((a) => a.kind === 'dynamic')) {
        this.unresolvable(`${id} runs a command string only known at run time`, display);
        return;
      }
      const text = inner.map((a) => (a.kind === 'static' ? a.value : '')).join(' ');
      this.recurse(() => {
        this.runCommandLine(text, null, cloneScope(innerScope));
      });
      return;
    }
    this.recurse(() => {
      this.runArgs(inner, innerScope, {
        lookupTrusted,
        dynamicTail: opts.dynamicTail || (spec.dynamicTail ?? false),
        builtinOnly: false,
      });
    });
  }

  /** `bash -c '…'`: parse and check the string; returns false when the shell runs a script file instead. */
  private runShell(
    id: string,
    args: Arg[],
    scope: Scope,
    opts: { lookupTrusted: boolean; dynamicTail: boolean; builtinOnly: boolean },
    display: string,
  ): boolean {
    let k = 1;
    let commandString = false;
    for (; k < args.length; k++) {
      const a = args[k] as Arg;
      if (a.kind === 'dynamic') {
        this.unresolvable(`an argument of ${id} is only known at run time`, display);
        return true;
      }
      const v = a.value;
      if (v === '--' || v === '-') {
        k++;
        break;
      }
      if (v === '-o' || v === '+o' || v === '-O' || v === '+O') {
        k++;
        continue;
      }
      if (v === '--rcfile' || v === '--init-file') {
        this.unresolvable(`${id} ${v} runs a start-up file`, display);
        return true;
      }
      if (v.startsWith('--')) continue;
      if ((v.startsWith('-') || v.startsWith('+')) && v.length > 1) {
        if (v.includes('c')) commandString = true;
        if (v.includes('s') || v.includes('i')) {
          this.unresolvable(`${id} ${v} reads commands from standard input or a terminal`, display);
          return true;
        }
        continue;
      }
      break;
    }
    const operand = args[k];
    if (commandString) {
      this.add(
        'exec',
        'allow',
        `builtin.${id}-c`,
        `${id} -c runs a command string, which is checked on its own`,
        display,
      );
      if (operand === undefined) {
        this.add('unresolvable', 'deny', 'syntax', `${id} -c without a command string`, display);
        return true;
      }
      if (operand.kind === 'dynamic') {
        this.unresolvable(`${id} -c with a command string only known at run time`, display);
        return true;
      }
      const inner: Scope = {
        cwds: scope.cwds,
        pathTrusted: scope.pathTrusted && opts.lookupTrusted,
        dotglob: false,
      };
      this.recurse(() => {
        this.runCommandLine(operand.value, null, inner);
      });
      return true;
    }
    if (operand === undefined) {
      this.unresolvable(`${id} without -c or a script reads commands from standard input`, display);
      return true;
    }
    // a script file: the shell's own rule decides, and the script is a file read
    this.checkPathArg(operand, scope, 'read', false, display);
    return false;
  }

  // -------------------------------------------------------------- tool scans

  private scanFind(args: Arg[], scope: Scope): void {
    let k = 1;
    while (k < args.length) {
      const a = args[k] as Arg;
      if (a.kind === 'static' && (/^-[HLP]$/.test(a.value) || /^-O[0-9]?$/.test(a.value))) k++;
      else if (a.kind === 'static' && a.value === '-D') k += 2;
      else break;
    }
    const paths: Arg[] = [];
    while (k < args.length) {
      const a = args[k] as Arg;
      if (
        a.kind === 'static' &&
        (a.value.startsWith('-') || a.value === '(' || a.value === '!' || a.value === ')' || a.value === ',')
      )
        break;
      paths.push(a);
      k++;
    }
    if (paths.length === 0) paths.push({ kind: 'static', value: '.', glob: null });
    for (const p of paths) this.checkPathArg(p, scope, 'read', true, displayArgs(args, false));
    for (; k < args.length; k++) {
      const a = args[k] as Arg;
      if (a.kind !== 'static') continue;
      switch (a.value) {
        case '-exec':
        case '-execdir':
        case '-ok':
        case '-okdir': {
          const inner: Arg[] = [];
          let closed = false;
          for (k++; k < args.length; k++) {
            const t = args[k] as Arg;
            if (t.kind === 'static' && (t.value === ';' || t.value === '+')) {
              closed = true;
              break;
            }
            // {} is a path find discovers at run time
            inner.push(
              t.kind === 'static' && t.value.includes('{}')
                ? { kind: 'dynamic', reason: 'a path found by find' }
                : t,
            );
          }
          if (!closed || inner.length === 0) {
            this.unresolvable(
              `find ${a.value} without a command and a closing ";" or "+"`,
              displayArgs(args, false),
            );
            break;
          }
          const innerScope: Scope = a.value.endsWith('dir') ? { ...scope, cwds: null } : { ...scope };
          this.recurse(() => {
            this.runArgs(inner, innerScope, {
              lookupTrusted: scope.pathTrusted,
              dynamicTail: false,
              builtinOnly: false,
            });
          });
          break;
        }
        case '-delete':
          for (const p of paths) this.checkPathArg(p, scope, 'write', true, displayArgs(args, false));
          break;
        case '-fprint':
        case '-fprint0':
        case '-fls':
        case '-fprintf': {
          const f = args[k + 1];
          if (f) this.checkPathArg(f, scope, 'write', false, displayArgs(args, false));
          break;
        }
        case '-files0-from': {
          const f = args[k + 1];
          if (f) this.checkPathArg(f, scope, 'read', false, displayArgs(args, false));
          break;
        }
        default:
          break;
      }
    }
  }

  private scanSedCommand(args: Arg[], scope: Scope, display: string): void {
    const scripts: Arg[] = [];
    let explicit = false;
    let positionalSeen = false;
    for (let k = 1; k < args.length; k++) {
      const a = args[k] as Arg;
      if (a.kind === 'static' && (a.value === '-e' || a.value === '--expression')) {
        explicit = true;
        const s = args[++k];
        if (s) scripts.push(s);
        continue;
      }
      if (a.kind === 'static' && a.value.startsWith('--expression=')) {
        explicit = true;
        scripts.push({ kind: 'static', value: a.value.slice(13), glob: null });
        continue;
      }
      if (a.kind === 'static' && (a.value === '-f' || a.value.startsWith('--file'))) {
        this.add('exec', 'ask', 'builtin.sed-f', 'sed -f runs a script file the policy cannot see', display);
        explicit = true;
        k++;
        continue;
      }
      if (a.kind === 'static' && a.value.startsWith('-e') && a.value.length > 2) {
        explicit = true;
        scripts.push({ kind: 'static', value: a.value.slice(2), glob: null });
        continue;
      }
      if (a.kind === 'static' && a.value.startsWith('-')) continue;
      if (!explicit && !positionalSeen) {
        scripts.push(a);
        positionalSeen = true;
      }
    }
    for (const s of scripts) {
      if (s.kind === 'dynamic') {
        this.unresolvable(
          'a sed script only known at run time can run commands (e) or write files (w)',
          display,
        );
        continue;
      }
      const fx = scanSed(s.value);
      if (fx.error !== null) {
        this.unresolvable(`the sed script could not be read (${fx.error})`, display);
        continue;
      }
      if (fx.runsCommands)
        this.add(
          'exec',
          'ask',
          'builtin.sed-e',
          'the sed script runs shell commands (the e command or the s///e flag)',
          display,
        );
      for (const w of fx.writes)
        this.checkPathArg(
          { kind: 'static', value: w, glob: null },
          scope,
          'write',
          false,
          `${display} (sed w ${w})`,
        );
      for (const r of fx.reads)
        this.checkPathArg(
          { kind: 'static', value: r, glob: null },
          scope,
          'read',
          false,
          `${display} (sed r ${r})`,
        );
    }
  }

  private scanAwkCommand(args: Arg[], display: string): void {
    let program: Arg | undefined;
    for (let k = 1; k < args.length; k++) {
      const a = args[k] as Arg;
      if (
        a.kind === 'static' &&
        (a.value === '-f' ||
          a.value === '--file' ||
          a.value === '-E' ||
          a.value === '--exec' ||
          a.value.startsWith('-f'))
      ) {
        this.add('exec', 'ask', 'builtin.awk-f', 'awk -f runs a program file the policy cannot see', display);
        return;
      }
      if (
        a.kind === 'static' &&
        (a.value === '-v' || a.value === '-F' || a.value === '--assign' || a.value === '--field-separator')
      ) {
        k++;
        continue;
      }
      if (a.kind === 'static' && a.value.startsWith('-') && a.value !== '-') continue;
      program = a;
      break;
    }
    if (program === undefined) return;
    if (program.kind === 'dynamic') {
      this.unresolvable('an awk program only known at run time can run commands', display);
      return;
    }
    const why = awkMayEscape(program.value);
    if (why !== null) this.add('exec', 'ask', 'builtin.awk-escape', `the awk program ${why}`, display);
  }

  // -------------------------------------------------------------- env + files

  checkEnvName(name: string, subject: string): void {
    if (!this.isProtectedEnv(name)) return;
    this.add(
      'env',
      this.c.envLevel,
      'exec.protectedEnv',
      `${name} is a protected variable: it changes which program runs or what code it loads first`,
      subject,
      this.c.envLevelSource,
    );
  }

  private isProtectedEnv(name: string): boolean {
    if (this.c.protectedEnvExact.has(name)) return true;
    for (const p of this.c.protectedEnvPrefixes) if (name.startsWith(p)) return true;
    return false;
  }

  /** Checks a path argument (static, glob or dynamic) against the file rules. */
  checkPathArg(a: Arg, scope: Scope, mode: 'read' | 'write', tree: boolean, display: string): void {
    if (a.kind === 'dynamic') {
      this.unresolvable(`a path is only known at run time (${a.reason})`, display);
      return;
    }
    const raw = a.glob ?? a.value;
    if (raw.includes('\0')) {
      this.add('unresolvable', 'deny', 'files.nul', 'a path contains a NUL byte', display);
      return;
    }
    // /dev/tcp/HOST/PORT is a network connection in bash redirections
    const bases = raw.startsWith('/') ? ['/'] : scope.cwds;
    if (bases === null) {
      this.unresolvable('a relative path with an unknown working directory', display);
      return;
    }
    for (const base of bases) {
      const abs = resolvePath(base, raw);
      const net = /^\/dev\/(tcp|udp)\/([^/]+)\/([^/]+)$/.exec(abs);
      if (net) {
        this.decideNetworkPart(
          { kind: 'network', host: net[2] as string, port: Number(net[3]) },
          `${display} (${abs})`,
        );
        continue;
      }
      this.filePart(mode, abs, a.glob !== null, tree, scope.dotglob, display);
    }
  }

  /** The verdict for one path; globs and trees are checked for what they may reach. */
  filePart(
    mode: 'read' | 'write',
    abs: string,
    isGlob: boolean,
    tree: boolean,
    dotglob: boolean,
    subject: string,
    info?: ResolvedPathInfo,
  ): void {
    const path = unaliasProcPath(abs);
    if (path === null) {
      this.unresolvable(`${abs} is an alias for a location only known at run time`, subject);
      return;
    }
    const kind: PartKind = mode === 'read' ? 'file.read' : 'file.write';
    const f = this.files;
    let segs: ArgSeg[] | null = null;
    let staticPrefix = path;
    if (isGlob || tree) {
      segs = [];
      const raw = path.split('/').filter((s) => s !== '');
      let prefixDone = false;
      const prefixParts: string[] = [];
      for (const s of raw) {
        const seg = isGlob ? shellGlobSegment(s, dotglob) : litSeg(s);
        if (seg.kind !== 'lit') prefixDone = true;
        if (!prefixDone && seg.kind === 'lit') prefixParts.push(seg.v);
        segs.push(seg);
      }
      if (tree) segs.push({ kind: 'tree' });
      staticPrefix = `/${prefixParts.join('/')}`;
    }
    const hits = (g: ResolvedEntry, literalAncestorOnly: boolean): boolean =>
      segs === null ? globMatches(g.glob, path) : globMayIntersect(g.glob, segs, literalAncestorOnly);

    for (const d of segs === null ? candidatesForPath(f.deny, path) : candidates(f.deny, segs, false)) {
      if (hits(d, false)) {
        this.add(
          kind,
          'deny',
          d.id,
          `${path}${isGlob || tree ? ' (or what it covers)' : ''} matches denied path ${d.pattern}`,
          subject,
          d.source,
        );
        return;
      }
    }
    if (info) {
      if (info.type === 'socket') {
        this.add(
          kind,
          'deny',
          'files.special',
          `${path} is a unix socket; sockets can reach services outside the sandbox`,
          subject,
        );
        return;
      }
      if (info.type === 'fifo' || info.type === 'char' || info.type === 'block') {
        this.unresolvable(`${path} is a ${info.type === 'fifo' ? 'FIFO' : 'device node'}`, subject);
      }
      if (mode === 'write' && info.type === 'file' && info.nlink > 1) {
        this.add(
          kind,
          'ask',
          'files.hardlink',
          `${path} has ${info.nlink} hard links; writing it changes every other name of the file`,
          subject,
        );
      }
    }
    if (mode === 'write' && !isGlob && !tree && DISCARD_PATHS.has(path)) {
      this.add(kind, 'allow', 'files.discard', `${path} keeps nothing`, subject);
      return;
    }
    const list = mode === 'read' ? f.read : f.write;
    let verdict: Level = mode === 'read' ? this.c.files.otherwiseRead : this.c.files.otherwiseWrite;
    let ruleId = `files.otherwise.${mode}`;
    let reason = `${path} is not in files.${mode}`;
    let source: SourceRef | null = null;
    const probe = isGlob || tree ? staticPrefix : path;
    for (const e of list) {
      if (globMatches(e.glob, probe)) {
        verdict = mode === 'read' ? this.c.files.readLevel : this.c.files.writeLevel;
        ruleId = e.id;
        reason = `${path} is in files.${mode} (${e.pattern})`;
        source = e.source;
        break;
      }
    }
    let isProtected = false;
    if (mode === 'write') {
      for (const p of segs === null
        ? candidatesForPath(f.protected, path)
        : candidates(f.protected, segs, true)) {
        if (hits(p, true)) {
          isProtected = true;
          const lvl = this.c.files.protectedLevel;
          if (RANK[lvl] >= RANK[verdict]) {
            verdict = lvl;
            ruleId = p.id;
            reason = `${path} is protected (${p.pattern}): something outside the sandbox may run or trust it later`;
            source = p.source;
          }
          break;
        }
      }
    }
    this.add(kind, verdict, ruleId, reason, subject, source);
    // A grant names one exact path: never a glob or a tree, never a protected path (asked
    // every time), and it only ever lifts an ask.
    // A deny that is only files.otherwise (no list names the path) is lifted too.
    const otherwise = ruleId === `files.otherwise.${mode}`;
    if (
      (verdict === 'ask' || (otherwise && verdict === 'deny')) &&
      !isProtected &&
      segs === null &&
      this.c.grants.files.size > 0
    ) {
      const g = this.c.grants.files.get(`${mode}\0${path}`);
      if (g !== undefined) this.lift(this.parts.length - 1, g, otherwise);
    }
  }

  decideNetworkPart(a: NetworkAction, subject: string): void {
    const h = normalizeHost(a.host);
    if (h.kind === 'invalid') {
      this.add('network', 'deny', 'network.invalid-host', `the host is refused: ${h.reason}`, subject);
      return;
    }
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65_535) {
      this.add(
        'network',
        'deny',
        'network.invalid-port',
        `port ${String(a.port)} is not a valid TCP port`,
        subject,
      );
      return;
    }
    const method = a.method?.toUpperCase();
    const urlPath = a.path === undefined ? undefined : normalizeUrlPath(a.path);
    let best: { rule: CompiledNetRule; spec: number } | null = null;
    for (const r of this.c.network.rules) {
      let spec = -1;
      if (h.kind === 'name') {
        for (const p of r.hosts)
          if (hostMatches(p, h.host)) spec = Math.max(spec, p.kind === 'exact' ? 1000 : p.suffix.length);
      } else {
        for (const c of r.cidrs) if (cidrContains(c, h.ip)) spec = Math.max(spec, 100 + c.prefix);
      }
      if (spec < 0) continue;
      if (!r.ports.has(a.port)) continue;
      if (r.methods !== null && (method === undefined || !r.methods.has(method))) continue;
      if (r.schemes !== null && (a.scheme === undefined || !r.schemes.has(a.scheme))) continue;
      if (
        r.paths !== null &&
        (urlPath === undefined || urlPath === null || !r.paths.some((g) => globMatches(g, urlPath)))
      )
        continue;
      if (best === null || spec > best.spec || (spec === best.spec && RANK[r.level] > RANK[best.rule.level]))
        best = { rule: r, spec };
    }
    if (best === null) {
      this.add(
        'network',
        this.c.network.default,
        'network.default',
        `no network rule matches ${describeRequest(a)}`,
        subject,
      );
      // network.default: deny is lifted too (no rule names the host), never a rule's deny
      if (this.c.network.default !== 'allow' && this.c.network.default !== 'log')
        this.networkGrant(a, h, method, true);
      return;
    }
    this.add(
      'network',
      best.rule.level,
      best.rule.id,
      `rule ${best.rule.id} sets ${describeRequest(a)} to ${best.rule.level}`,
      subject,
      best.rule.source,
    );
    if (best.rule.level === 'ask') this.networkGrant(a, h, method, false);
  }

  /** Lifts the network ask (or default deny) just added when a grant names exactly this request. */
  private networkGrant(
    a: NetworkAction,
    h: NormalizedHost,
    method: string | undefined,
    defaultDeny: boolean,
  ): void {
    const grants = this.c.grants.network;
    if (grants.length === 0 || h.kind === 'invalid') return;
    const key = h.kind === 'name' ? `name:${h.host}` : `ip:${h.ip.v}:${h.ip.bytes.join('.')}`;
    for (const g of grants) {
      if (
        g.hostKey === key &&
        g.port === a.port &&
        g.method === (method ?? null) &&
        g.path === (a.path ?? null) &&
        g.scheme === (a.scheme ?? null)
      ) {
        this.lift(this.parts.length - 1, g, defaultDeny);
        return;
      }
    }
  }
}

// --------------------------------------------------------------- arguments

interface ParsedArgs {
  flags: ParsedFlag[];
  positionals: Arg[];
  sub: string[];
  subDynamic: boolean;
  unknownGlobal: string | null;
  dynamicFlags: boolean;
  globFlags: boolean;
  anyGlob: boolean;
  chdir: Arg | null;
}

function parseArgs(args: readonly Arg[], tool: CompiledTool | undefined, maxDepth: number): ParsedArgs {
  const out: ParsedArgs = {
    flags: [],
    positionals: [],
    sub: [],
    subDynamic: false,
    unknownGlobal: null,
    dynamicFlags: false,
    globFlags: false,
    anyGlob: false,
    chdir: null,
  };
  const subs = tool?.subcommands ?? false;
  const sdl = tool?.singleDashLong ?? false;
  const valueFlags = tool?.valueFlags;
  const abbreviations = tool?.abbreviations ?? true;
  let level = 0;
  let endOpts = false;
  for (let k = 1; k < args.length; k++) {
    const a = args[k] as Arg;
    if (a.kind === 'dynamic') {
      if (!endOpts) out.dynamicFlags = true;
      if (subs && out.sub.length === level && level < Math.max(maxDepth, 1)) out.subDynamic = true;
      out.positionals.push(a);
      continue;
    }
    const v = a.value;
    if (a.glob !== null) {
      out.anyGlob = true;
      const first = a.glob[0];
      if (!endOpts && (first === '*' || first === '?' || first === '[')) out.globFlags = true;
    }
    if (!endOpts && v === '--') {
      endOpts = true;
      continue;
    }
    if (!endOpts && v.startsWith('-') && v.length > 1) {
      const found: ParsedFlag[] = [];
      let needsValue = false;
      if (v.startsWith('--')) {
        const eq = v.indexOf('=');
        const name = eq >= 0 ? v.slice(2, eq) : v.slice(2);
        const f: ParsedFlag = {
          kind: 'long',
          name,
          text: eq >= 0 ? v.slice(0, eq) : v,
          level,
          value: eq >= 0 ? { kind: 'static', value: v.slice(eq + 1), glob: null } : null,
        };
        found.push(f);
        if (eq < 0 && valueFlags && longIn(valueFlags, name, abbreviations)) needsValue = true;
      } else if (sdl) {
        const eq = v.indexOf('=');
        const text = eq >= 0 ? v.slice(0, eq) : v;
        found.push({
          kind: 'word',
          name: text,
          text,
          level,
          value: eq >= 0 ? { kind: 'static', value: v.slice(eq + 1), glob: null } : null,
        });
        if (eq < 0 && valueFlags?.words.has(text)) needsValue = true;
      } else {
        for (let i = 1; i < v.length; i++) {
          const ch = v[i] as string;
          const f: ParsedFlag = { kind: 'short', name: ch, text: `-${ch}`, level, value: null };
          found.push(f);
          if (valueFlags?.shorts.has(ch)) {
            if (i + 1 < v.length) f.value = { kind: 'static', value: v.slice(i + 1), glob: null };
            else needsValue = true;
            break;
          }
        }
      }
      if (needsValue) {
        const next = args[k + 1];
        const last = found[found.length - 1] as ParsedFlag;
        if (next !== undefined) {
          last.value = next;
          k++;
        }
      }
      if (subs && level === 0 && tool?.globalFlags) {
        for (const f of found) {
          if (!flagIn(tool.globalFlags, f, false)) out.unknownGlobal ??= f.text;
        }
      }
      out.flags.push(...found);
      continue;
    }
    if (subs && out.sub.length === level && level < Math.max(maxDepth, 1)) {
      out.sub.push(v);
      level++;
      continue;
    }
    out.positionals.push(a);
  }
  return out;
}

function longIn(set: FlagSet, name: string, abbreviations: boolean): boolean {
  if (set.longs.includes(name)) return true;
  if (!abbreviations || name.length === 0) return false;
  const matches = set.longs.filter((l) => l.startsWith(name));
  return matches.length > 0;
}

function flagIn(set: FlagSet, f: ParsedFlag, abbreviations: boolean): boolean {
  switch (f.kind) {
    case 'short':
      return set.shorts.has(f.name);
    case 'long':
      return longIn(set, f.name, abbreviations);
    case 'word':
      return set.words.has(f.name);
  }
}

function flagPathKind(tool: CompiledTool, f: ParsedFlag): 'read' | 'write' | 'cwd' | null {
  if (tool.flagPaths.size === 0) return null;
  for (const [flag, kind] of tool.flagPaths) {
    if (f.kind === 'short' && flag === `-${f.name}`) return kind;
    if (f.kind === 'word' && flag === f.name) return kind;
    if (f.kind === 'long' && flag.startsWith('--')) {
      const name = flag.slice(2);
      if (name === f.name || (tool.abbreviations && f.name.length > 0 && name.startsWith(f.name)))
        return kind;
    }
  }
  return null;
}

function matchesOption(option: string, flag: string): boolean {
  return option === flag;
}

const INTERPRETERS: ReadonlySet<string> = new Set([
  'python',
  'python3',
  'python2',
  'node',
  'nodejs',
  'perl',
  'ruby',
  'php',
  'lua',
  'deno',
  'bun',
  'Rscript',
  'tclsh',
  'wish',
  'irb',
  'ipython',
]);
const INLINE_FLAGS: ReadonlySet<string> = new Set([
  '-c',
  '-e',
  '-E',
  '-r',
  '-m',
  '-p',
  '--eval',
  '--print',
  '--version',
  '-V',
  '--help',
  '-h',
  'run',
  'eval',
  'test',
  'install',
  'x',
  'add',
]);

function readsProgramFromStdin(args: readonly Arg[]): boolean {
  for (let k = 1; k < args.length; k++) {
    const a = args[k] as Arg;
    if (a.kind === 'dynamic') return false;
    if (a.value === '-') return true;
    if (INLINE_FLAGS.has(a.value) || /^-[a-zA-Z]*[cemr]/.test(a.value)) return false;
    if (!a.value.startsWith('-')) return false;
  }
  return true;
}

const NO_ENTRIES: readonly ResolvedEntry[] = [];

/**
 * The patterns of an index that could match what `segs` describes. A pattern is
 * skipped only when it provably cannot match: its first literal segment differs from
 * the path's, or it needs a literal segment after a leading `**` that no segment of the
 * path can supply (a glob segment, or a tree reaching through `**`, could supply any).
 */
function candidates(
  ix: PatternIndex,
  segs: readonly ArgSeg[],
  literalAncestorOnly: boolean,
): readonly ResolvedEntry[] {
  const first = segs[0];
  if (first === undefined || first.kind !== 'lit') return ix.all;
  let out: ResolvedEntry[] | null = null;
  const add = (list: readonly ResolvedEntry[] | undefined): void => {
    if (list === undefined || list.length === 0) return;
    out ??= [];
    for (const e of list) if (!out.includes(e)) out.push(e);
  };
  add(ix.rest);
  add(ix.byFirst.get(first.lv));
  if (ix.byAfterStar.size > 0) {
    for (const s of segs) {
      if (s.kind === 'lit') add(ix.byAfterStar.get(s.lv));
      else if (s.kind === 'glob' || !literalAncestorOnly) {
        for (const list of ix.byAfterStar.values()) add(list);
        break;
      }
    }
  }
  return out ?? NO_ENTRIES;
}

/** {@link candidates} for one plain path, without splitting it into segment objects. */
function candidatesForPath(ix: PatternIndex, path: string): readonly ResolvedEntry[] {
  const lower = path.toLowerCase();
  const firstEnd = lower.indexOf('/', 1);
  const first = firstEnd < 0 ? lower.slice(1) : lower.slice(1, firstEnd);
  let out: ResolvedEntry[] | null = null;
  const add = (list: readonly ResolvedEntry[] | undefined): void => {
    if (list === undefined || list.length === 0) return;
    out ??= [];
    for (const e of list) if (!out.includes(e)) out.push(e);
  };
  add(ix.rest);
  add(ix.byFirst.get(first));
  if (ix.byAfterStar.size > 0 && (!ix.afterStarAllDot || lower.includes('/.'))) {
    for (const seg of lower.split('/')) add(ix.byAfterStar.get(seg));
  }
  return out ?? NO_ENTRIES;
}

function cloneScope(s: Scope): Scope {
  return { cwds: s.cwds === null ? null : [...s.cwds], pathTrusted: s.pathTrusted, dotglob: s.dotglob };
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

function displayArgs(args: readonly Arg[], dynamicTail: boolean): string {
  const words = args.map((a) =>
    a.kind === 'dynamic' ? '…' : a.glob !== null ? a.value : shellQuote(a.value),
  );
  if (dynamicTail) words.push('…');
  const s = words.join(' ');
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

function describeRequest(a: NetworkAction): string {
  const scheme = a.scheme ?? (a.port === 443 ? 'https' : a.port === 80 ? 'http' : 'tcp');
  // An IPv6 literal in brackets, as in a URL: `[::1]:443`, not `::1:443`.
  const host = a.host.includes(':') && !a.host.startsWith('[') ? `[${a.host}]` : a.host;
  return `${a.method ? `${a.method.toUpperCase()} ` : ''}${scheme}://${host}:${a.port}${a.path ?? ''}`;
}

/**
 * Normalizes a URL path for matching: query and fragment dropped, percent-escapes
 * of unreserved characters decoded, dot segments resolved. An encoded slash or
 * backslash (which servers disagree about) makes it unmatched (null).
 */
function normalizeUrlPath(p: string): string | null {
  let path = p;
  const q = path.search(/[?#]/);
  if (q >= 0) path = path.slice(0, q);
  if (!path.startsWith('/')) return null;
  if (/%2f|%5c|\\/i.test(path)) return null;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  return normalizePath(decoded);
}

// ------------------------------------------------------------------ decide

function isPrepared(a: Action | PreparedExecAction): a is PreparedExecAction {
  return a.kind === 'exec' && 'prepared' in a;
}

/**
 * Decides an action against a policy. Pure and synchronous: same inputs, same
 * decision; no I/O. The strictest verdict among all parts wins
 * (deny > ask > log > allow); ties go to the first part found.
 */
export function decide(
  action: Action | PreparedExecAction,
  policy: Policy,
  context: DecideContext,
): Decision {
  const ev = new Evaluator(policy.compiled, context);
  const baseCwd = normalizePath(context.cwd ?? context.workspace);
  try {
    switch (action.kind) {
      case 'exec': {
        const cwd = action.cwd !== undefined ? resolvePath(baseCwd, action.cwd) : baseCwd;
        const scope: Scope = { cwds: [cwd], pathTrusted: true, dotglob: false };
        if (action.env) ev.checkEnvAssignments(action.env, scope, 'exec env');
        if ('argv' in action) ev.runArgvAction(action.argv, scope);
        else if (isPrepared(action)) {
          if (action.prepared.oracleDisagreement !== null) {
            ev.add(
              'unresolvable',
              'deny',
              'parser-disagreement',
              `two shell parsers read this command differently (${action.prepared.oracleDisagreement})`,
              action.command,
            );
          }
          ev.runCommandLine(action.command, action.prepared.parse, scope);
        } else ev.runCommandLine(action.command, null, scope);
        break;
      }
      case 'file.read':
      case 'file.write': {
        const mode = action.kind === 'file.read' ? 'read' : 'write';
        if (action.path.includes('\0')) {
          ev.add('unresolvable', 'deny', 'files.nul', 'the path contains a NUL byte', action.path);
          break;
        }
        const abs = resolvePath(baseCwd, action.path);
        ev.filePart(mode, abs, false, false, false, action.path, action.resolved);
        if (action.resolved && normalizePath(action.resolved.realPath) !== abs) {
          ev.filePart(
            mode,
            normalizePath(action.resolved.realPath),
            false,
            false,
            false,
            `${action.path} -> ${action.resolved.realPath}`,
            action.resolved,
          );
        }
        break;
      }
      case 'network':
        ev.decideNetworkPart(action, describeRequest(action));
        break;
    }
  } catch (e) {
    if (!(e instanceof LimitExceeded)) throw e;
    ev.parts.length = 0;
    ev.parts.push({
      kind: 'unresolvable',
      verdict: 'deny',
      ruleId: 'parser-limit',
      reason: `the action exceeds a policy limit: ${e.message}`,
      subject: '',
    });
  }
  return summarize(ev, action.kind === 'exec');
}

function summarize(ev: Evaluator, isExec: boolean): Decision {
  const parts = ev.parts;
  let winner: DecisionPart | undefined;
  for (const p of parts) if (winner === undefined || RANK[p.verdict] > RANK[winner.verdict]) winner = p;
  if (winner === undefined) {
    return {
      verdict: 'allow',
      ruleId: 'empty',
      reason: 'the command line runs nothing',
      parts,
      ...(isExec ? { exec: { env: {}, timeout: null } } : {}),
    };
  }
  const d: Decision = {
    verdict: winner.verdict,
    ruleId: winner.ruleId,
    reason: winner.reason,
    parts,
    ...(winner.source ? { source: winner.source } : {}),
    ...(isExec ? { exec: { env: ev.env, timeout: ev.timeout } } : {}),
  };
  return d;
}

/**
 * Whether some network rule that covers this host and port looks at the method (other than
 * `CONNECT`) or the URL path. A tunnel to such a host cannot be judged on host and port
 * alone: the egress proxy must intercept it and ask `decide` about every request inside.
 * Pure, like `decide`; an invalid host or port is false (its `decide` is a deny anyway).
 */
export function networkNeedsInspection(policy: Policy, host: string, port: number): boolean {
  const h = normalizeHost(host);
  if (h.kind === 'invalid' || !Number.isInteger(port) || port < 1 || port > 65_535) return false;
  for (const r of policy.compiled.network.rules) {
    if (!r.ports.has(port)) continue;
    const covers =
      h.kind === 'name'
        ? r.hosts.some((p) => hostMatches(p, h.host))
        : r.cidrs.some((c) => cidrContains(c, h.ip));
    if (!covers) continue;
    if (r.paths !== null) return true;
    if (r.methods !== null && !r.methods.has('CONNECT')) return true;
  }
  return false;
}
