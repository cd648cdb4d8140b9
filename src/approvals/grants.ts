/**
 * What an approval may reach beyond the one action: the parts of an ask as commands, which
 * of them are destructive, and the policy rule proposed for the `rule` scope.
 *
 * A proposed rule is never wider than what the person saw. It names the exact command (and
 * subcommand words) of every part the policy asked about, the exact path, or the exact
 * host, port, method and path. Only read-only tools get a rule whose arguments may vary;
 * every other command gets a rule only when it had no arguments beyond its subcommand,
 * because a policy rule cannot pin argument values, and a rule for `rm -rf build` that
 * covered `rm -rf src` would be a wildcard for a destructive command. When no rule can be
 * that narrow, there is no rule: the person approves once or for the session instead.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import type { AskPart, CanonicalAction, DecisionPartLike, ResolvedPathLike, RuleProposal } from './types.js';

// ------------------------------------------------------------- parts as argv

const SAFE_CHAR = /[A-Za-z0-9_@%+=:,./-]/;

/**
 * The argv a policy part's subject stands for, or null when it is not a concrete command.
 * Subjects are written by the policy as shell-quoted words (bare, or in single quotes with
 * `'\''` for a quote); anything else, such as an unquoted glob, `…` for a value known only
 * at run time, or a truncated subject, is not concrete, and gets null.
 */
export function parseDisplayedArgv(subject: string): string[] | null {
  const out: string[] = [];
  let k = 0;
  const n = subject.length;
  if (n === 0) return null;
  while (k < n) {
    let word = '';
    let any = false;
    while (k < n && subject[k] !== ' ') {
      const c = subject[k] as string;
      if (c === "'") {
        const close = subject.indexOf("'", k + 1);
        if (close < 0) return null;
        word += subject.slice(k + 1, close);
        k = close + 1;
      } else if (c === '\\' && subject[k + 1] === "'") {
        word += "'";
        k += 2;
      } else if (SAFE_CHAR.test(c)) {
        word += c;
        k++;
      } else return null;
      any = true;
    }
    if (!any) return null;
    out.push(word);
    if (k < n) {
      k++; // the single space between words
      if (k === n) return null;
    }
  }
  return out;
}

/** The command's name without its directory (`/usr/bin/rm` → `rm`). */
export function commandBase(argv0: string): string {
  const slash = argv0.lastIndexOf('/');
  return slash >= 0 ? argv0.slice(slash + 1) : argv0;
}

/** Commands that delete, overwrite, change permissions, stop processes or escalate. */
const DESTRUCTIVE_COMMANDS: ReadonlySet<string> = new Set([
  'rm', 'rmdir', 'unlink', 'shred', 'dd', 'wipefs', 'fdisk', 'sfdisk', 'parted', 'mkswap', 'truncate', 'mv', 'cp', 'ln',
  'install', 'rsync', 'tee', 'chmod', 'chown', 'chgrp', 'chattr', 'setfacl', 'kill', 'pkill', 'killall', 'shutdown',
  'reboot', 'halt', 'poweroff', 'systemctl', 'service', 'crontab', 'iptables', 'ip6tables', 'nft', 'mount', 'umount',
  'swapoff', 'sudo', 'su', 'doas', 'pkexec', 'find', 'xargs', 'sed', 'perl', 'docker', 'podman', 'kubectl', 'helm',
  'terraform', 'tofu', 'aws', 'gcloud', 'az', 'psql', 'mysql', 'sqlite3', 'mongo', 'mongosh', 'redis-cli', 'eval',
  'exec', 'source', '.', 'sh', 'bash', 'dash', 'zsh', 'ksh', 'fish', 'python', 'python3', 'node', 'deno', 'bun', 'ruby',
  'php', 'lua', 'env', 'nohup', 'nice', 'timeout', 'npx', 'pnpx', 'bunx', 'curl', 'wget', 'scp', 'sftp', 'ssh', 'nc', 'ncat',
  'socat', 'git-filter-repo', 'patch', 'tar', 'unzip',
]);

/** Subcommands that are destructive for tools that are otherwise not (`git push`, `npm publish`). */
const DESTRUCTIVE_SUBCOMMANDS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['git', new Set(['push', 'reset', 'clean', 'checkout', 'restore', 'rebase', 'rm', 'mv', 'filter-branch', 'gc', 'prune', 'reflog', 'update-ref', 'stash', 'worktree', 'branch', 'tag', 'remote', 'config', 'submodule', 'switch', 'merge', 'cherry-pick', 'revert', 'am', 'apply'])],
  ['npm', new Set(['publish', 'unpublish', 'deprecate', 'owner', 'access', 'token', 'exec', 'x', 'install', 'i', 'add', 'uninstall', 'rm', 'remove', 'update', 'ci', 'link'])],
  ['pnpm', new Set(['publish', 'exec', 'dlx', 'install', 'i', 'add', 'remove', 'rm', 'update'])],
  ['yarn', new Set(['publish', 'npm', 'dlx', 'install', 'add', 'remove', 'up'])],
  ['cargo', new Set(['publish', 'yank', 'owner', 'install', 'uninstall', 'clean'])],
  ['gh', new Set(['repo', 'release', 'secret', 'api', 'pr', 'issue', 'workflow', 'run', 'gist', 'auth', 'ssh-key', 'gpg-key'])],
  ['go', new Set(['install', 'clean', 'generate', 'get'])],
  ['pip', new Set(['install', 'uninstall', 'download'])],
  ['pip3', new Set(['install', 'uninstall', 'download'])],
  ['uv', new Set(['pip', 'tool', 'add', 'remove', 'sync', 'publish'])],
]);

/** Tools whose first words are subcommands (`git status`), so a rule names them with `subcommand`. */
export const SUBCOMMAND_TOOLS: ReadonlySet<string> = new Set([
  'git', 'npm', 'pnpm', 'yarn', 'cargo', 'go', 'gh', 'docker', 'podman', 'kubectl', 'helm', 'pip', 'pip3', 'uv', 'poetry',
  'bun', 'deno', 'dotnet', 'rustup', 'terraform', 'tofu', 'aws', 'gcloud', 'az',
]);

/**
 * Read-only tools whose arguments may vary under a rule: a rule for `cat README.md` covers
 * `cat` with as many arguments and only the flags that were shown. No tool here writes a
 * file, runs a program or reaches the network, whatever its operands.
 */
const GENERALIZABLE: ReadonlySet<string> = new Set([
  'ls', 'cat', 'head', 'tail', 'wc', 'grep', 'egrep', 'fgrep', 'rg', 'stat', 'du', 'df', 'pwd', 'echo', 'whoami', 'id',
  'uname', 'diff', 'cmp', 'cut', 'nl', 'basename', 'dirname', 'realpath', 'readlink', 'md5sum', 'sha1sum', 'sha256sum',
  'sha512sum', 'which',
]);

/** True when running `argv` may delete, overwrite or run code the person did not see. */
export function isDestructiveArgv(argv: readonly string[]): boolean {
  const head = argv[0];
  if (head === undefined) return true;
  const base = commandBase(head);
  if (DESTRUCTIVE_COMMANDS.has(base) || base.startsWith('mkfs')) return true;
  const subs = DESTRUCTIVE_SUBCOMMANDS.get(base);
  if (subs !== undefined) {
    const sub = argv.slice(1).find((a) => !a.startsWith('-'));
    // an unknown subcommand position (only flags) counts as destructive: the flags may select one
    if (sub === undefined) return argv.length > 1;
    if (subs.has(sub)) return true;
  }
  // flags that turn many tools destructive
  return argv.slice(1).some((a) => a === '--force' || a === '--delete' || a.startsWith('--in-place'));
}

/**
 * The parts of a policy decision as the queue stores them, each with its argv (when the
 * subject is concrete) and whether it is destructive. A part that is not a concrete
 * command (a glob, a value known only at run time, something the policy could not resolve)
 * counts as destructive, because nobody can see what it will do.
 */
export function classifyParts(parts: readonly DecisionPartLike[], action: CanonicalAction): AskPart[] {
  const out = parts.map((p): AskPart => {
    const argv = p.kind === 'exec' ? parseDisplayedArgv(p.subject) : null;
    const destructive = p.kind === 'unresolvable' || (p.kind === 'exec' && (argv === null || isDestructiveArgv(argv)));
    return { kind: p.kind, verdict: p.verdict, ruleId: p.ruleId, reason: p.reason, subject: p.subject, argv, destructive };
  });
  if (out.length === 0 && action.kind === 'exec' && action.argv !== null) {
    // The policy always names parts; this covers a caller that passed none, so that an argv is still judged.
    out.push({ kind: 'exec', verdict: 'ask', ruleId: 'unknown', reason: 'no parts were given', subject: action.argv.join(' '), argv: [...action.argv], destructive: isDestructiveArgv(action.argv) });
  }
  return out;
}

/** True when an ask must be decided on its own (never in a batch). */
export function isDestructiveAsk(action: CanonicalAction, parts: readonly AskPart[]): boolean {
  switch (action.kind) {
    case 'exec':
      return action.command !== null && parts.length === 0 ? true : parts.some((p) => p.destructive);
    case 'network':
      return action.method !== null && action.method.toUpperCase() === 'DELETE';
    case 'file.read':
    case 'file.write':
      return parts.some((p) => p.kind === 'unresolvable' && p.verdict !== 'allow');
  }
}

// ------------------------------------------------------------------- rules

/** A glob that matches exactly `s`: every glob metacharacter escaped with a backslash. */
export function escapeGlob(s: string): string {
  return s.replace(/[\\*?[\]{},!^]/g, (c) => `\\${c}`);
}

function isPlainAbsolutePath(p: string): boolean {
  if (!p.startsWith('/') || p.includes('\0')) return false;
  if (p === '/') return false;
  if (p.endsWith('/')) return false;
  return p
    .slice(1)
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/** One exec grant as the policy schema writes it (`grants[].exec`). */
interface ExecGrantText {
  command: string;
  subcommand?: string;
  allowFlags: string[];
  maxArgs: number;
  cwd?: string;
}

/** One network grant as the policy schema writes it (`grants[].network`). */
interface NetworkGrantText {
  host: string;
  port: number;
  method?: string;
  path?: string;
  scheme?: string;
}

/** One file grant as the policy schema writes it (`grants[].file`). */
interface FileGrantText {
  path: string;
  access: 'read' | 'write';
}

/** One entry of the policy's `grants` list, as proposed (who and when are added when it is written). */
export interface GrantText {
  id: string;
  approval: string;
  exec?: ExecGrantText;
  network?: NetworkGrantText;
  file?: FileGrantText;
}

/** The YAML fragment a proposal merges into the policy file. */
export interface RuleFragment {
  grants: GrantText[];
}

/** What {@link proposeRule} needs to know about an ask. */
export interface ProposeRuleInput {
  readonly id: string;
  readonly action: CanonicalAction;
  readonly parts: readonly AskPart[];
  readonly resolved: ResolvedPathLike | null;
  readonly policyFile: string | null;
}

function refuse(reason: string): RuleProposal {
  return { ok: false, reason };
}

/** The flag names a policy `allowFlags` list needs for one argument (`-la` → `-l`, `-a`; `--x=1` → `--x`). */
function flagNames(arg: string): string[] {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    return [eq >= 0 ? arg.slice(0, eq) : arg];
  }
  const names: string[] = [];
  for (let i = 1; i < arg.length; i++) names.push(`-${arg.charAt(i)}`);
  return names;
}

function isFlag(arg: string): boolean {
  return arg.startsWith('-') && arg.length > 1 && arg !== '--';
}

const SUBCOMMAND_WORD = /^[a-z][a-z0-9_:-]*$/;

/** The command and subcommand words a rule names for `argv`: never more than the argv itself. */
export function rulePrefix(argv: readonly string[]): string[] {
  const head = argv[0] as string;
  const prefix = [head];
  if (SUBCOMMAND_TOOLS.has(commandBase(head))) {
    for (const w of argv.slice(1, 3)) {
      if (!SUBCOMMAND_WORD.test(w)) break;
      prefix.push(w);
    }
  }
  return prefix;
}

/**
 * The policy's reason for a part that a forbidden flag decided (`rule X forbids -f for …`,
 * src/policy/decide.ts). A grant never lifts those: a flag a rule forbids is asked about (or
 * denied) every time, so no grant is proposed that would not take effect.
 */
const FORBIDDEN_FLAG_REASON = /^rule \S+ forbids /;

function execGrants(input: ProposeRuleInput, action: Extract<CanonicalAction, { kind: 'exec' }>): RuleProposal | ExecGrantText[] {
  if (Object.keys(action.env).length > 0) {
    return refuse(`the command was given environment variables (${Object.keys(action.env).join(', ')}), and a grant cannot require them; approve once or for this session`);
  }
  if (action.cwd !== null && !isPlainAbsolutePath(action.cwd) && action.cwd !== '/') {
    return refuse(`the working directory ${JSON.stringify(action.cwd)} is not a plain absolute path a grant can name exactly`);
  }
  const asking = input.parts.filter((p) => p.verdict === 'ask');
  if (asking.length === 0) return refuse('no part of the action was asked about, so there is nothing for a grant to cover');
  const byKey = new Map<string, ExecGrantText>();
  for (const p of asking) {
    if (p.kind !== 'exec') return refuse(`part "${p.subject}" is a ${p.kind} check (${p.ruleId}), which a command grant cannot cover`);
    if (FORBIDDEN_FLAG_REASON.test(p.reason)) return refuse(`${p.reason}: a forbidden flag is asked about every time; approve once or for this session`);
    if (p.argv === null) return refuse(`part "${p.subject}" is not a concrete command (it has a glob or a value known only at run time)`);
    const head = p.argv[0] as string;
    if (head.includes('/') && !isPlainAbsolutePath(head)) return refuse(`"${head}" is a relative program path; a grant names a command from the trusted PATH or an absolute path`);
    if (!/^[^\s]+$/.test(head)) return refuse(`"${head}" is not a command name a grant can hold`);
    const prefix = rulePrefix(p.argv);
    const rest = p.argv.slice(prefix.length);
    const generalize = !p.destructive && GENERALIZABLE.has(commandBase(head)) && prefix.length === 1;
    if (!generalize && rest.length > 0) {
      // A grant cannot pin argument values, so any grant here would be a wildcard over them.
      const shown = rest.map((r) => JSON.stringify(r)).join(' ');
      return refuse(
        p.destructive
          ? `${p.subject} is destructive, and a grant for "${prefix.join(' ')}" would be a wildcard over its arguments (${shown}); approve once or for this session`
          : `a grant for "${prefix.join(' ')}" would also cover other arguments than ${shown} (a grant cannot pin them); approve once or for this session`,
      );
    }
    const flags = generalize ? rest.filter(isFlag).flatMap(flagNames) : [];
    const sub = prefix.slice(1).join(' ');
    const key = prefix.join('\0');
    const prev = byKey.get(key);
    if (prev !== undefined) {
      // Two parts with one command: one grant covering both.
      prev.maxArgs = Math.max(prev.maxArgs, p.argv.length - 1);
      prev.allowFlags = [...new Set([...prev.allowFlags, ...flags])].sort();
      continue;
    }
    byKey.set(key, {
      command: head,
      ...(sub === '' ? {} : { subcommand: sub }),
      allowFlags: [...new Set(flags)].sort(),
      maxArgs: p.argv.length - 1,
      ...(action.cwd === null ? {} : { cwd: action.cwd }),
    });
  }
  return [...byKey.values()];
}

const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;

function networkGrant(a: Extract<CanonicalAction, { kind: 'network' }>): RuleProposal | NetworkGrantText {
  if (a.method !== null && a.method.toUpperCase() === 'DELETE') return refuse('DELETE is destructive; approve once or for this session');
  let host = a.host;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const isIp = IPV4.test(host) || host.includes(':');
  if (!isIp && !/^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    return refuse(`the host ${JSON.stringify(a.host)} is not a plain host name a grant can name exactly`);
  }
  if (a.path !== null) {
    if (/[?#]/.test(a.path)) return refuse('the request has a query string, which a grant cannot pin; approve once or for this session');
    if (a.path !== '/' && !isPlainAbsolutePath(a.path)) return refuse(`the path ${JSON.stringify(a.path)} is not a plain path a grant can name exactly`);
    if (/[%\\]/.test(a.path)) return refuse('the path has percent-escapes or backslashes, which servers read differently; approve once or for this session');
  }
  return {
    host: host.toLowerCase(),
    port: a.port,
    ...(a.method === null ? {} : { method: a.method.toUpperCase() }),
    ...(a.path === null ? {} : { path: a.path }),
    ...(a.scheme === null ? {} : { scheme: a.scheme }),
  };
}

/**
 * How an ask made from a denied action says so (the MCP face's `request_access` asks a person
 * about what the policy denied, src/mcp/server.ts). A grant lifts such a deny only when it is
 * a default for what no rule names; a deny a rule states stays, so no grant is proposed.
 */
const DENIED_PREFIX = 'policy says deny: ';

/** The rule ids of the policy's defaults for what no rule or list names. */
const DEFAULT_RULES: ReadonlySet<string> = new Set(['exec.default', 'network.default', 'files.otherwise.read', 'files.otherwise.write']);

/** Rule ids of a protected path's ask (built-in or `files.protected`): asked about every time. */
const PROTECTED_RULE = /(^|:)files\.protected[[(]/;

/** Rule ids of the file verdicts a grant lifts: a path no list names, or a list whose level is ask. */
const FILE_LIST_RULE = /(^|:)files\.(otherwise\.(read|write)|(read|write)\[\d+\])$/;

/**
 * The grant a person may confirm for an ask (scope `rule`), as exact YAML text for the
 * policy's `grants` list, or why no grant can be as narrow as what they saw. Deterministic:
 * the same ask always gives the same text, so the text shown on any channel is the text
 * checked when the person confirms it.
 */
export function proposeRule(input: ProposeRuleInput): RuleProposal {
  if (input.policyFile === null) return refuse('the session has no policy file to add a grant to; approve once or for this session');
  const denied = input.parts.find((p) => p.verdict === 'ask' && p.reason.startsWith(DENIED_PREFIX) && !DEFAULT_RULES.has(p.ruleId));
  if (denied !== undefined) {
    return refuse(`the policy denies "${denied.subject}" by ${denied.ruleId} (${denied.reason.slice(DENIED_PREFIX.length)}); a grant never lifts a deny that a rule states: change the policy by hand if you mean it`);
  }
  const a = input.action;
  const grants: GrantText[] = [];
  const notes: string[] = [];
  const id = `approval-${input.id}`;
  switch (a.kind) {
    case 'exec': {
      if (a.command !== null && input.parts.length === 0) return refuse('the command line was not analysed into parts');
      const list = execGrants(input, a);
      if (!Array.isArray(list)) return list;
      list.forEach((exec, i) => {
        grants.push({ id: list.length === 1 ? id : `${id}-${i + 1}`, approval: input.id, exec });
        const words = [exec.command, ...(exec.subcommand === undefined ? [] : [exec.subcommand])].join(' ');
        if (exec.maxArgs > (exec.subcommand === undefined ? 0 : exec.subcommand.split(' ').length)) {
          notes.push(`covers "${words}" with at most ${exec.maxArgs} arguments and ${exec.allowFlags.length === 0 ? 'no flags' : `only the flags ${exec.allowFlags.join(' ')}`}; the arguments themselves may differ (it is a read-only tool; the files it reads are still checked)`);
        } else notes.push(`covers exactly "${words}"; anything more is asked again`);
      });
      if (a.cwd !== null) notes.push(`only with ${a.cwd} as the working directory`);
      notes.push('each command of a longer command line is still judged on its own; a deny or a forbidden flag is never lifted');
      break;
    }
    case 'file.read':
    case 'file.write': {
      if (!isPlainAbsolutePath(a.path)) return refuse(`the path ${JSON.stringify(a.path)} is not a plain absolute path a grant can name exactly`);
      const r = input.resolved;
      if (r !== null) {
        if (r.realPath !== a.path) return refuse(`${a.path} resolves to ${r.realPath}; a grant for a path behind a symbolic link is not exact`);
        if (r.type === 'dir') return refuse(`${a.path} is a directory, and a grant for it would cover everything below it`);
        if (r.type !== 'file' && r.type !== 'missing') return refuse(`${a.path} is a ${r.type}`);
        if (r.nlink > 1) return refuse(`${a.path} has ${r.nlink} hard links; a grant would reach the file under its other names`);
      }
      const protectedPart = input.parts.find((p) => p.verdict === 'ask' && PROTECTED_RULE.test(p.ruleId));
      if (protectedPart !== undefined) {
        return refuse(`${a.path} is protected (${protectedPart.ruleId}): something outside the sandbox may run or trust it, so writing it is asked about every time; approve once or for this session`);
      }
      const other = input.parts.find((p) => p.verdict === 'ask' && !(p.kind === a.kind && FILE_LIST_RULE.test(p.ruleId)));
      if (other !== undefined) {
        return refuse(`part "${other.subject}" asked for another reason than the path lists (${other.ruleId}), which a grant does not lift; approve once or for this session`);
      }
      grants.push({ id, approval: input.id, file: { path: a.path, access: a.kind === 'file.read' ? 'read' : 'write' } });
      if (a.kind === 'file.write') notes.push('covers writing any content to this exact path, not only the diff shown');
      else notes.push('covers reading this exact path, not anything below it');
      break;
    }
    case 'network': {
      const network = networkGrant(a);
      if (!('port' in network)) return network;
      grants.push({ id, approval: input.id, network });
      notes.push('covers exactly this method, path and scheme; a query string, another path or another method is asked again');
      if (a.method === null) notes.push('covers every request to this host and port');
      break;
    }
  }
  const fragment: RuleFragment = { grants };
  const text = stringify(fragment, { lineWidth: 0 });
  return { ok: true, text, sha256: createHash('sha256').update(text).digest('hex'), notes };
}
