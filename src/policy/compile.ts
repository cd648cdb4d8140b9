/**
 * Merges a policy with the presets it extends and compiles it into the lookup
 * structures `decide` uses: rules indexed by command, flag sets, host patterns.
 * Path patterns depend on the workspace and home directory, which arrive with
 * each decision; they are compiled once per (workspace, home) and memoized.
 */
import { AirlockError } from '../errors/index.js';
import { BUILTIN_PROTECTED_ENV, BUILTIN_PROTECTED_PATHS } from './builtins.js';
import { compileGlob, type PathGlob } from './match/glob.js';
import {
  hostSpecificity,
  normalizeHost,
  parseCidr,
  parseHostPattern,
  type Cidr,
  type HostPattern,
} from './match/net.js';
import type {
  BaseUrlConfig,
  BudgetsConfig,
  CredentialConfig,
  Level,
  LlmConfig,
  ModelPriceConfig,
  PATH_ARG_MODES,
  PolicyFile,
  ToolConfig,
} from './schema.js';

/** Where a rule was written. */
export interface SourceRef {
  readonly file: string;
  readonly line: number;
}

/** A loaded, validated policy file with a way to find the line of a key path. */
export interface LoadedFile {
  readonly file: string;
  /** A short label for rule ids: "" for the policy itself, "default:" for a preset. */
  readonly label: string;
  readonly data: PolicyFile;
  readonly lineOf: (path: readonly (string | number)[]) => number;
}

/** A set of flags in the spellings a tool accepts. */
export interface FlagSet {
  /** Single-character flags ("f" for "-f"). */
  readonly shorts: ReadonlySet<string>;
  /** Long flag names without dashes ("force"). */
  readonly longs: readonly string[];
  /** Single-dash words ("-exec") for tools such as find. */
  readonly words: ReadonlySet<string>;
  /** As written. */
  readonly written: readonly string[];
}

/** A command rule after compilation. Rules with several commands or subcommands are split. */
export interface CompiledRule {
  readonly id: string;
  readonly source: SourceRef;
  readonly command: string;
  readonly subcommand: readonly string[];
  readonly level: Level;
  readonly forbid: FlagSet | null;
  readonly forbidLevel: Level;
  readonly allow: FlagSet | null;
  readonly maxArgs: number | null;
  readonly cwd: readonly string[] | null;
  readonly env: Readonly<Record<string, string>> | null;
  readonly timeout: number | null;
  /** "rule ID sets COMMAND SUB to LEVEL", built once because every decision shows it. */
  readonly reason: string;
}

/** Tool knowledge after compilation. */
export interface CompiledTool {
  readonly subcommands: boolean;
  readonly globalFlags: FlagSet | null;
  readonly valueFlags: FlagSet;
  readonly abbreviations: boolean;
  readonly singleDashLong: boolean;
  readonly pathArgs: (typeof PATH_ARG_MODES)[number];
  readonly pathArgsSkip: number;
  readonly writeFlags: FlagSet | null;
  readonly flagPaths: ReadonlyMap<string, 'read' | 'write' | 'cwd'>;
}

/** Lookup structures for one command's rules. */
export interface RuleMeta {
  /** Rules by subcommand path joined with spaces ("" for the command itself). */
  readonly bySub: ReadonlyMap<string, CompiledRule>;
  /** Subcommand paths that have rules below them ("remote" when "remote add" has a rule). */
  readonly deeperPrefixes: ReadonlySet<string>;
  readonly maxDepth: number;
  readonly constrained: boolean;
}

/** A file pattern with the rule it came from. */
export interface FileEntry {
  readonly id: string;
  readonly source: SourceRef | null;
  readonly pattern: string;
}

/** A compiled network rule. */
export interface CompiledNetRule {
  readonly id: string;
  readonly source: SourceRef;
  readonly hosts: readonly HostPattern[];
  readonly cidrs: readonly Cidr[];
  readonly ports: ReadonlySet<number>;
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly PathGlob[] | null;
  readonly schemes: ReadonlySet<string> | null;
  readonly level: Level;
}

/** What every grant has: its id, where it is written, and who granted it. */
export interface CompiledGrantBase {
  readonly id: string;
  readonly source: SourceRef;
  /** "grant ID (approval A by WHO at WHEN)", built once. */
  readonly label: string;
}

/** An exec grant: one command with exactly these words, flags, argument count and directory. */
export interface CompiledExecGrant extends CompiledGrantBase {
  readonly command: string;
  readonly subcommand: readonly string[];
  /** Flag names as written ("-l", "--all"), for the word-by-word check. */
  readonly flagNames: ReadonlySet<string>;
  /** The same flags as the policy's flag parser sees them. */
  readonly flags: FlagSet;
  readonly maxArgs: number;
  readonly cwd: string | null;
}

/** A network grant: exactly this host (normalized), port, method, path and scheme. */
export interface CompiledNetGrant extends CompiledGrantBase {
  /** `name:host` or `ip:v:bytes`, as {@link hostKey} builds it. */
  readonly hostKey: string;
  readonly port: number;
  readonly method: string | null;
  readonly path: string | null;
  readonly scheme: 'http' | 'https' | null;
}

/** A file grant: exactly this path, for reading or writing. */
export interface CompiledFileGrant extends CompiledGrantBase {
  readonly path: string;
  readonly access: 'read' | 'write';
}

/** Grants, indexed for `decide`. */
export interface CompiledGrants {
  /** Exec grants by command. */
  readonly exec: ReadonlyMap<string, readonly CompiledExecGrant[]>;
  readonly network: readonly CompiledNetGrant[];
  /** File grants by `access\0path`. */
  readonly files: ReadonlyMap<string, CompiledFileGrant>;
}

/** The key under which a normalized host is compared with a grant's host; null for an invalid host. */
export function hostKey(raw: string): string | null {
  const h = normalizeHost(raw);
  switch (h.kind) {
    case 'invalid':
      return null;
    case 'name':
      return `name:${h.host}`;
    case 'ip':
      return `ip:${h.ip.v}:${h.ip.bytes.join('.')}`;
  }
}

/** File patterns compiled for one workspace and home directory. */
export interface ResolvedFiles {
  readonly read: readonly ResolvedEntry[];
  readonly write: readonly ResolvedEntry[];
  readonly deny: PatternIndex;
  readonly protected: PatternIndex;
  readonly ruleCwd: ReadonlyMap<CompiledRule, readonly PathGlob[]>;
}

/** A file pattern compiled for one workspace and home. */
export type ResolvedEntry = FileEntry & { readonly glob: PathGlob };

/**
 * Deny and protected patterns grouped so a check looks only at patterns that could
 * match: by their first literal segment (`/etc/…`), by the literal after a leading
 * `**` (`** /.git/…`), and the rest. Keys are lower case (these lists ignore case).
 */
export interface PatternIndex {
  readonly all: readonly ResolvedEntry[];
  readonly byFirst: ReadonlyMap<string, readonly ResolvedEntry[]>;
  readonly byAfterStar: ReadonlyMap<string, readonly ResolvedEntry[]>;
  readonly rest: readonly ResolvedEntry[];
  /** True when every `byAfterStar` key starts with "." (the built-in list), so a path without "/." needs none of them. */
  readonly afterStarAllDot: boolean;
}

function indexPatterns(entries: readonly ResolvedEntry[]): PatternIndex {
  const byFirst = new Map<string, ResolvedEntry[]>();
  const byAfterStar = new Map<string, ResolvedEntry[]>();
  const rest: ResolvedEntry[] = [];
  for (const e of entries) {
    const hints = e.glob.hints;
    const first = hints.length === 1 ? hints[0] : undefined;
    const key0 = first?.prefix[0];
    if (first !== undefined && key0 !== undefined) {
      const list = byFirst.get(key0) ?? [];
      list.push(e);
      byFirst.set(key0, list);
    } else if (first !== undefined && first.afterStar !== null) {
      const list = byAfterStar.get(first.afterStar) ?? [];
      list.push(e);
      byAfterStar.set(first.afterStar, list);
    } else rest.push(e);
  }
  const afterStarAllDot = [...byAfterStar.keys()].every((k) => k.startsWith('.'));
  return { all: entries, byFirst, byAfterStar, rest, afterStarAllDot };
}

/** Everything `decide` needs, built once per policy. */
export interface CompiledPolicy {
  readonly unresolvable: 'ask' | 'deny';
  /** How long an `ask` waits for a person, ms; null for the approvals queue's default. */
  readonly approvalTimeoutMs: number | null;
  readonly execDefault: Level;
  readonly envLevel: Level;
  readonly envLevelSource: SourceRef | null;
  readonly protectedEnvExact: ReadonlySet<string>;
  readonly protectedEnvPrefixes: readonly string[];
  readonly rules: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Per command: its rules by subcommand path, the deepest path, and whether any rule constrains flags or arguments. */
  readonly ruleMeta: ReadonlyMap<string, RuleMeta>;
  readonly tools: ReadonlyMap<string, CompiledTool>;
  readonly files: {
    readonly read: readonly FileEntry[];
    readonly write: readonly FileEntry[];
    readonly deny: readonly FileEntry[];
    readonly protected: readonly FileEntry[];
    readonly readLevel: Level;
    readonly writeLevel: Level;
    readonly protectedLevel: 'ask' | 'deny';
    readonly otherwiseRead: Level;
    readonly otherwiseWrite: Level;
  };
  readonly network: {
    readonly default: Level;
    readonly rules: readonly CompiledNetRule[];
    readonly credentials: readonly CredentialConfig[];
    readonly budgets: BudgetsConfig | null;
    /** Base URLs by name; a later file's entry replaces an earlier one of the same name. */
    readonly baseUrls: readonly BaseUrlConfig[];
    /** LLM endpoints (null: the proxy's defaults; a later file's list replaces an earlier one). */
    readonly llmEndpoints: NonNullable<LlmConfig['endpoints']> | null;
    /** Model prices, merged by key across files (a later file wins). */
    readonly prices: Readonly<Record<string, ModelPriceConfig>>;
  };
  readonly grants: CompiledGrants;
  /** Memo of {@link ResolvedFiles} by workspace and home; filled lazily, never observable. */
  readonly resolvedCache: Map<string, ResolvedFiles>;
  /** The same memo keyed by the context object, which callers usually reuse. */
  readonly resolvedByContext: WeakMap<object, ResolvedFiles>;
}

function invalid(file: string, line: number, message: string, hint: string): AirlockError {
  return new AirlockError('E_POLICY_INVALID', `${file}:${line}: ${message}`, { hint });
}

/** Builds a {@link FlagSet}; `singleDashWords` decides whether "-exec" is one word or a bundle. */
export function flagSet(flags: readonly string[], singleDashWords: boolean): FlagSet {
  const shorts = new Set<string>();
  const longs: string[] = [];
  const words = new Set<string>();
  for (const f of flags) {
    if (f.startsWith('--')) longs.push(f.slice(2));
    else if (f.length === 2) {
      shorts.add(f.slice(1));
      words.add(f);
    } else if (singleDashWords) words.add(f);
    else for (const c of f.slice(1)) shorts.add(c);
  }
  return { shorts, longs, words, written: flags };
}

function subcommandPaths(sub: string | string[] | undefined): string[][] {
  if (sub === undefined) return [[]];
  const list = Array.isArray(sub) ? sub : [sub];
  return list.map((s) => s.split(' ').filter((w) => w.length > 0));
}

function asList<T>(v: T | T[] | undefined): T[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * Checks one file for rules that contradict each other: two rules for the same
 * command and subcommand, a path both allowed and denied, two network rules with
 * the same match and different levels.
 */
export function checkConflicts(f: LoadedFile): void {
  const d = f.data;
  const seen = new Map<string, number>();
  (d.exec?.rules ?? []).forEach((r, i) => {
    const line = f.lineOf(['exec', 'rules', i]);
    for (const cmd of asList(r.command)) {
      for (const sub of subcommandPaths(r.subcommand)) {
        const key = `${cmd} ${sub.join(' ')}`.trim();
        const prev = seen.get(key);
        if (prev !== undefined) {
          throw invalid(
            f.file,
            line,
            `exec.rules[${i}]: conflicting rules: "${key}" is already covered by exec.rules[${prev}] (line ${f.lineOf(['exec', 'rules', prev])})`,
            'Keep one rule per command and subcommand: merge the two, or give one a more specific "subcommand".',
          );
        }
        seen.set(key, i);
      }
    }
    if (r.forbidFlags && r.allowFlags) {
      const both = r.forbidFlags.filter((x) => r.allowFlags?.includes(x));
      if (both.length > 0) {
        throw invalid(
          f.file,
          line,
          `exec.rules[${i}]: flag ${both.join(', ')} is both in forbidFlags and allowFlags`,
          'Remove it from one of the two lists.',
        );
      }
    }
    if (
      r.forbidLevel !== undefined &&
      r.forbidFlags === undefined &&
      r.allowFlags === undefined &&
      r.maxArgs === undefined &&
      r.cwd === undefined
    ) {
      throw invalid(
        f.file,
        line,
        `exec.rules[${i}]: forbidLevel has no effect without forbidFlags, allowFlags, maxArgs or cwd`,
        'Remove forbidLevel or add the constraint it should apply to.',
      );
    }
  });
  const files = d.files;
  if (files) {
    const denied = new Set(files.deny ?? []);
    for (const key of ['read', 'write'] as const) {
      (files[key] ?? []).forEach((p, i) => {
        if (denied.has(p)) {
          throw invalid(
            f.file,
            f.lineOf(['files', key, i]),
            `files.${key}[${i}]: conflicting rules: "${p}" is also in files.deny`,
            `A path cannot be both allowed and denied; remove it from files.${key} or from files.deny.`,
          );
        }
      });
    }
  }
  const grantIds = new Map<string, number>();
  (d.grants ?? []).forEach((g, i) => {
    const prev = grantIds.get(g.id);
    if (prev !== undefined) {
      throw invalid(
        f.file,
        f.lineOf(['grants', i]),
        `grants[${i}]: the id "${g.id}" is already used by grants[${prev}] (line ${f.lineOf(['grants', prev])})`,
        'Give every grant its own id; decisions name grants by id.',
      );
    }
    grantIds.set(g.id, i);
  });
  const netSeen = new Map<string, { i: number; level: Level }>();
  (d.network?.rules ?? []).forEach((r, i) => {
    const line = f.lineOf(['network', 'rules', i]);
    if (r.host === undefined && r.cidr === undefined) {
      throw invalid(
        f.file,
        line,
        `network.rules[${i}]: names neither "host" nor "cidr"`,
        'Add the host(s) or CIDR range(s) the rule is about.',
      );
    }
    const key = JSON.stringify([
      asList(r.host).sort(),
      asList(r.cidr).sort(),
      r.ports ?? [],
      r.methods ?? [],
      r.paths ?? [],
      r.schemes ?? [],
    ]);
    const prev = netSeen.get(key);
    if (prev !== undefined) {
      throw invalid(
        f.file,
        line,
        `network.rules[${i}]: conflicting rules: it matches exactly what network.rules[${prev.i}] matches (levels ${prev.level} and ${r.level})`,
        'Keep one of them, or make one more specific with ports, methods or paths.',
      );
    }
    netSeen.set(key, { i, level: r.level });
  });
}

/** Merges files (presets first, the policy last) and compiles the result. */
export function compilePolicy(chain: readonly LoadedFile[]): CompiledPolicy {
  let unresolvable: 'ask' | 'deny' = 'deny';
  let approvalTimeoutMs: number | null = null;
  let execDefault: Level = 'ask';
  let envLevel: Level = 'ask';
  let envLevelSource: SourceRef | null = null;
  const protectedEnv: string[] = [...BUILTIN_PROTECTED_ENV];
  type PendingRule = Omit<CompiledRule, 'forbid' | 'allow' | 'reason'> & {
    rawForbid: string[];
    rawAllow: string[] | null;
    from: LoadedFile;
  };
  const ruleByKey = new Map<string, PendingRule>();
  const toolConfigs = new Map<string, ToolConfig>();
  const files = {
    read: [] as FileEntry[],
    write: [] as FileEntry[],
    deny: [] as FileEntry[],
    protected: BUILTIN_PROTECTED_PATHS.map((p): FileEntry => ({
      id: `files.protected(builtin:${p.slice(3)})`,
      source: null,
      pattern: p,
    })),
    readLevel: 'allow' as Level,
    writeLevel: 'log' as Level,
    protectedLevel: 'ask' as 'ask' | 'deny',
    otherwiseRead: 'ask' as Level,
    otherwiseWrite: 'ask' as Level,
  };
  let netDefault: Level = 'deny';
  const netRules: CompiledNetRule[] = [];
  const credentials: CredentialConfig[] = [];
  let budgets: BudgetsConfig | null = null;
  const baseUrls = new Map<string, BaseUrlConfig>();
  let llmEndpoints: NonNullable<LlmConfig['endpoints']> | null = null;
  // A Map, then fromEntries: a model key such as "__proto__" stays an own entry.
  const prices = new Map<string, ModelPriceConfig>();
  const execGrants = new Map<string, CompiledExecGrant[]>();
  const netGrants: CompiledNetGrant[] = [];
  const fileGrants = new Map<string, CompiledFileGrant>();

  for (const f of chain) {
    const d = f.data;
    const src = (path: (string | number)[]): SourceRef => ({ file: f.file, line: f.lineOf(path) });
    if (d.unresolvable !== undefined) unresolvable = d.unresolvable;
    if (d.approvals?.timeout !== undefined) approvalTimeoutMs = Math.round(d.approvals.timeout * 1000);
    if (d.exec?.default !== undefined) execDefault = d.exec.default;
    if (d.exec?.envLevel !== undefined) {
      envLevel = d.exec.envLevel;
      envLevelSource = src(['exec', 'envLevel']);
    }
    protectedEnv.push(...(d.exec?.protectedEnv ?? []));
    for (const [name, t] of Object.entries(d.tools ?? {})) {
      toolConfigs.set(name, { ...(toolConfigs.get(name) ?? {}), ...t });
    }
    (d.exec?.rules ?? []).forEach((r, i) => {
      const id = r.id ?? `${f.label}exec.rules[${i}]`;
      for (const command of asList(r.command)) {
        for (const sub of subcommandPaths(r.subcommand)) {
          const key = `${command}\0${sub.join(' ')}`;
          // flags are compiled after tools are merged (single-dash words depend on the tool)
          ruleByKey.set(key, {
            id,
            source: src(['exec', 'rules', i]),
            command,
            subcommand: sub,
            level: r.level,
            forbidLevel: r.forbidLevel ?? 'deny',
            maxArgs: r.maxArgs ?? null,
            cwd: r.cwd ?? null,
            env: r.env ?? null,
            timeout: r.timeout ?? null,
            rawForbid: r.forbidFlags ?? [],
            rawAllow: r.allowFlags ?? null,
            from: f,
          });
        }
      }
    });
    const fl = d.files;
    if (fl) {
      const add = (key: 'read' | 'write' | 'deny' | 'protected'): void => {
        (fl[key] ?? []).forEach((pattern, i) => {
          files[key].push({ id: `${f.label}files.${key}[${i}]`, source: src(['files', key, i]), pattern });
        });
      };
      add('read');
      add('write');
      add('deny');
      add('protected');
      if (fl.readLevel) files.readLevel = fl.readLevel;
      if (fl.writeLevel) files.writeLevel = fl.writeLevel;
      if (fl.protectedLevel) files.protectedLevel = fl.protectedLevel;
      if (fl.otherwise?.read) files.otherwiseRead = fl.otherwise.read;
      if (fl.otherwise?.write) files.otherwiseWrite = fl.otherwise.write;
    }
    const net = d.network;
    if (net) {
      if (net.default) netDefault = net.default;
      (net.rules ?? []).forEach((r, i) => {
        const hosts: HostPattern[] = [];
        for (const h of asList(r.host)) {
          const p = parseHostPattern(h);
          if (p.ok) hosts.push(p.pattern);
        }
        const cidrs: Cidr[] = [];
        for (const c of asList(r.cidr)) {
          const p = parseCidr(c);
          if (p.ok) cidrs.push(p.cidr);
        }
        let paths: PathGlob[] | null = null;
        if (r.paths) {
          paths = [];
          for (const p of r.paths) {
            const g = compileGlob(p, false);
            if (!g.ok) {
              throw invalid(
                f.file,
                f.lineOf(['network', 'rules', i, 'paths']),
                `network.rules[${i}].paths: "${p}" ${g.error}`,
                'Write URL path globs such as "/v1/**".',
              );
            }
            paths.push(g.glob);
          }
        }
        netRules.push({
          id: r.id ?? `${f.label}network.rules[${i}]`,
          source: src(['network', 'rules', i]),
          hosts,
          cidrs,
          ports: new Set(r.ports ?? [443, 80]),
          methods: r.methods ? new Set(r.methods) : null,
          paths,
          schemes: r.schemes ? new Set(r.schemes) : null,
          level: r.level,
        });
      });
      credentials.push(...(net.credentials ?? []));
      if (net.budgets) budgets = { ...(budgets ?? {}), ...net.budgets };
      for (const b of net.baseUrls ?? []) {
        baseUrls.delete(b.name); // re-inserted, so the order follows the latest definition
        baseUrls.set(b.name, b);
      }
      if (net.llm?.endpoints) llmEndpoints = net.llm.endpoints;
      for (const [model, price] of Object.entries(net.llm?.prices ?? {})) prices.set(model, price);
    }
    (d.grants ?? []).forEach((g, i) => {
      const source = src(['grants', i]);
      const who = [g.by === undefined ? null : `by ${g.by}`, g.at === undefined ? null : `at ${g.at}`].filter(
        (x) => x !== null,
      );
      const label = `grant ${g.id} (approval ${g.approval}${who.length > 0 ? ` ${who.join(' ')}` : ''})`;
      if (g.exec !== undefined) {
        const e = g.exec;
        const flags = e.allowFlags;
        for (const flag of flags) {
          if (!flag.startsWith('--') && flag.length > 2) {
            throw invalid(
              f.file,
              f.lineOf(['grants', i, 'exec', 'allowFlags']),
              `grants[${i}].exec.allowFlags: "${flag}" is not one flag; list short flags one by one ("-l", "-a")`,
              'A grant lists the flags that were shown, one name each.',
            );
          }
        }
        const grant: CompiledExecGrant = {
          id: g.id,
          source,
          label,
          command: e.command,
          subcommand: e.subcommand === undefined ? [] : e.subcommand.split(' '),
          flagNames: new Set(flags),
          flags: flagSet(flags, false),
          maxArgs: e.maxArgs,
          cwd: e.cwd ?? null,
        };
        const list = execGrants.get(e.command) ?? [];
        list.push(grant);
        execGrants.set(e.command, list);
      } else if (g.network !== undefined) {
        const n = g.network;
        const key = hostKey(n.host);
        // the schema refused invalid hosts; this keeps the type honest
        if (key === null) return;
        netGrants.push({
          id: g.id,
          source,
          label,
          hostKey: key,
          port: n.port,
          method: n.method ?? null,
          path: n.path ?? null,
          scheme: n.scheme ?? null,
        });
      } else if (g.file !== undefined) {
        fileGrants.set(`${g.file.access}\0${g.file.path}`, {
          id: g.id,
          source,
          label,
          path: g.file.path,
          access: g.file.access,
        });
      }
    });
  }

  const tools = new Map<string, CompiledTool>();
  for (const [name, t] of toolConfigs) {
    const sdl = t.singleDashLong ?? false;
    const flagPaths = new Map<string, 'read' | 'write' | 'cwd'>(Object.entries(t.flagPaths ?? {}));
    tools.set(name, {
      subcommands: t.subcommands ?? false,
      globalFlags: t.globalFlags ? flagSet([...t.globalFlags, ...(t.valueFlags ?? [])], sdl) : null,
      valueFlags: flagSet(
        [...(t.valueFlags ?? []), ...[...flagPaths.keys()].filter((k) => !(t.valueFlags ?? []).includes(k))],
        sdl,
      ),
      abbreviations: t.abbreviations ?? !sdl,
      singleDashLong: sdl,
      pathArgs: t.pathArgs ?? 'none',
      pathArgsSkip: t.pathArgsSkip ?? 0,
      writeFlags: t.writeFlags ? flagSet(t.writeFlags, sdl) : null,
      flagPaths,
    });
  }

  const rules = new Map<string, CompiledRule[]>();
  for (const pending of ruleByKey.values()) {
    const { rawForbid, rawAllow, from, ...r } = pending;
    const tool = tools.get(r.command);
    const sdl = tool?.singleDashLong ?? false;
    for (const flag of [...rawForbid, ...(rawAllow ?? [])]) {
      if (!sdl && !flag.startsWith('--') && flag.length > 2) {
        throw invalid(
          from.file,
          r.source.line,
          `rule "${r.id}": "${flag}" looks like bundled short flags; ${r.command} is not declared with single-dash long options`,
          `List short flags one by one ("-r", "-f": bundles such as "-rf" are matched automatically), or declare tools.${r.command}.singleDashLong: true.`,
        );
      }
    }
    const compiled: CompiledRule = {
      ...r,
      reason: `rule ${r.id} sets ${[r.command, ...r.subcommand].join(' ')} to ${r.level}`,
      forbid: rawForbid.length > 0 ? flagSet(rawForbid, sdl) : null,
      allow: rawAllow ? flagSet(rawAllow, sdl) : null,
    };
    const list = rules.get(r.command) ?? [];
    list.push(compiled);
    rules.set(r.command, list);
  }
  // most specific first: a longer subcommand path wins
  for (const list of rules.values()) list.sort((a, b) => b.subcommand.length - a.subcommand.length);

  netRules.sort((a, b) => specificity(b) - specificity(a));

  const ruleMeta = new Map<string, RuleMeta>();
  for (const [command, list] of rules) {
    const bySub = new Map<string, CompiledRule>();
    const deeperPrefixes = new Set<string>();
    for (const r of list) {
      bySub.set(r.subcommand.join(' '), r);
      for (let d = 0; d < r.subcommand.length; d++) deeperPrefixes.add(r.subcommand.slice(0, d).join(' '));
    }
    ruleMeta.set(command, {
      bySub,
      deeperPrefixes,
      maxDepth: list.reduce((m, r) => Math.max(m, r.subcommand.length), 0),
      constrained: list.some((r) => r.forbid !== null || r.allow !== null || r.maxArgs !== null),
    });
  }

  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const e of protectedEnv) {
    if (e.endsWith('*')) prefixes.push(e.slice(0, -1));
    else exact.add(e);
  }

  return {
    unresolvable,
    approvalTimeoutMs,
    execDefault,
    envLevel,
    envLevelSource,
    protectedEnvExact: exact,
    protectedEnvPrefixes: prefixes,
    rules,
    ruleMeta,
    tools,
    files,
    network: {
      default: netDefault,
      rules: netRules,
      credentials,
      budgets,
      baseUrls: [...baseUrls.values()],
      llmEndpoints,
      prices: Object.fromEntries(prices),
    },
    grants: { exec: execGrants, network: netGrants, files: fileGrants },
    resolvedCache: new Map(),
    resolvedByContext: new WeakMap(),
  };
}

function specificity(r: CompiledNetRule): number {
  let best = 0;
  for (const h of r.hosts) best = Math.max(best, hostSpecificity(h));
  for (const c of r.cidrs) best = Math.max(best, 100 + c.prefix);
  return best;
}

/** Turns a policy path pattern into an absolute one: `~/x` is under home, a relative one under the workspace. */
export function absolutePattern(pattern: string, workspace: string, home: string): string {
  if (pattern === '~') return home;
  if (pattern.startsWith('~/')) return `${home === '/' ? '' : home}${pattern.slice(1)}`;
  if (pattern.startsWith('/')) return pattern;
  if (pattern.startsWith('**/')) return `/${pattern}`;
  return `${workspace === '/' ? '' : workspace}/${pattern}`;
}

/** Compiles (once) the file patterns for a workspace and home directory. */
export function resolvedFiles(c: CompiledPolicy, workspace: string, home: string): ResolvedFiles {
  const key = workspace + '\0' + home;
  const hit = c.resolvedCache.get(key);
  if (hit) return hit;
  const compileList = (
    list: readonly FileEntry[],
    caseInsensitive: boolean,
  ): (FileEntry & { glob: PathGlob })[] =>
    list.map((e) => {
      const g = compileGlob(absolutePattern(e.pattern, workspace, home), caseInsensitive);
      if (!g.ok) {
        // syntax was checked at load; this can only be a workspace/home that makes the pattern invalid
        throw new AirlockError(
          'E_POLICY_INVALID',
          `${e.source ? `${e.source.file}:${e.source.line}: ` : ''}${e.id}: "${e.pattern}" ${g.error}`,
          {
            hint: 'Fix the pattern in the policy.',
          },
        );
      }
      return { ...e, glob: g.glob };
    });
  const ruleCwd = new Map<CompiledRule, PathGlob[]>();
  for (const list of c.rules.values()) {
    for (const r of list) {
      if (r.cwd === null) continue;
      const globs: PathGlob[] = [];
      for (const p of r.cwd) {
        const g = compileGlob(absolutePattern(p, workspace, home), false);
        if (g.ok) globs.push(g.glob);
      }
      ruleCwd.set(r, globs);
    }
  }
  // Deny and protected lists match case-insensitively: the workspace may be applied to a
  // case-insensitive file system (macOS), where ".GIT/hooks" is ".git/hooks".
  const resolved: ResolvedFiles = {
    read: compileList(c.files.read, false),
    write: compileList(c.files.write, false),
    deny: indexPatterns(compileList(c.files.deny, true)),
    protected: indexPatterns(compileList(c.files.protected, true)),
    ruleCwd,
  };
  c.resolvedCache.set(key, resolved);
  return resolved;
}
