/**
 * The manifest of security requirements the policy part must meet. Every id here
 * must be cited by at least one test in test/unit/policy (a test fails otherwise),
 * so a requirement cannot silently lose its coverage.
 */
export const POLICY_REQUIREMENTS = {
  'policy.unparsable-is-deny': 'A command line that does not parse as bash is denied, never guessed at.',
  'policy.unresolvable-never-allow':
    'Whatever cannot be resolved statically gets the unresolvable level (ask or deny), never allow.',
  'policy.chaining': 'Commands chained with ;, &&, ||, |, |&, & or newlines are each checked.',
  'policy.redirection-is-file-action':
    'Redirections (>, >>, >|, <, <>, &>, here-documents) are file reads and writes checked by file rules.',
  'policy.substitution': 'Commands inside $( ), backticks, <( ), >( ) and ${…} are checked.',
  'policy.subshell-and-group': 'Commands inside ( ), { }, if, while, for and case are checked.',
  'policy.quote-escape':
    "Quoting and escaping (\"e\"cho, ec''ho, \\rm, $'\\x72m') cannot disguise a command.",
  'policy.ifs-separators': '$IFS, ${IFS} and $IFS$9 used as separators make the command unresolvable.',
  'policy.quote-injection': 'Text passed through an allowed echo cannot become a command.',
  'policy.wrappers':
    'env, nice, nohup, timeout, time, xargs, sudo, command, exec, builtin, find -exec run commands that are checked.',
  'policy.eval-source':
    'eval of a static string is checked; eval of a dynamic string, source and . are not silently allowed.',
  'policy.shell-c':
    'bash -c and sh -c strings are parsed and checked; shells reading stdin are unresolvable.',
  'policy.interpreter-inline':
    'python -c, node -e, perl -e and awk programs that can run commands are not silently allowed.',
  'policy.dangerous-flags':
    'Presets know the dangerous flags of git, find, rg, sed, tar, curl, wget, ssh, base64 and others.',
  'policy.flag-spellings':
    'Forbidden flags match in every spelling: bundled short flags, --flag=value, unambiguous prefixes.',
  'policy.subcommand-rules':
    'Rules can name nested subcommands; the most specific rule decides and inherits forbidden flags.',
  'policy.package-scripts':
    'npm/yarn lifecycle scripts and make recipes are not run without the policy saying so.',
  'policy.env-poisoning':
    'Setting PATH, LD_*, GIT_*, NODE_OPTIONS, PYTHONPATH, BASH_ENV and similar is at least the env level.',
  'policy.executable-aliasing':
    './cat, /tmp/cat, /proc/self/root/usr/bin/cat and the dynamic loader are not the trusted tool.',
  'policy.parser-limits': 'Padding a command to hit a parser limit is denied, not allowed.',
  'policy.script-then-run':
    'Running a script the agent wrote (./x.sh, bash x.sh, source x.sh) is not silently allowed.',
  'policy.strictest-wins': 'The strictest verdict among all parts of an action wins.',
  'policy.decide-pure':
    'decide is synchronous and deterministic and does not depend on anything but its arguments.',
  'policy.glob-injection':
    'A glob argument that could expand to a file named like a flag is unresolvable for tools with flag rules.',
  'files.symlink-hardlink':
    'Symlinks are checked at their real path; writing a file with several hard links asks.',
  'files.special-files': 'FIFOs, device nodes and unix sockets are not treated as ordinary files.',
  'files.prefix-collision': '/work/app_evil is not inside /work/app.',
  'files.dotdot-normalization': 'Paths are normalized (.., ., //) before matching.',
  'files.case-tricks': 'Denied and protected paths match case-insensitively.',
  'files.proc-aliases':
    '/proc/<pid>/root is followed; /proc/<pid>/cwd and /proc/<pid>/fd aliases are unresolvable.',
  'files.protected-create':
    'Writing or creating protected files (.git/hooks, .claude, .vscode, .mcp.json, rc files, …) is at least ask.',
  'files.protected-rename-parent':
    'Moving or removing a directory that holds protected files is at least ask.',
  'files.workspace-root':
    'Removing, moving away or recursively changing the workspace root itself (rm -rf ., rm -rf /workspace) is at least the protected level.',
  'files.host-secrets':
    'Reading host secrets (~/.ssh, ~/.aws, /etc/shadow, /proc/*/environ, docker.sock) is denied by the presets.',
  'network.host-patterns':
    'Host rules match exact hosts and *.domain wildcards, never by prefix or substring.',
  'network.overbroad-refused':
    '*, *.com, *.co.uk and other public-suffix wildcards, and huge CIDR ranges, are refused with a reason.',
  'network.ports-methods-paths': 'Network rules restrict ports (default 443 and 80), methods and URL paths.',
  'network.host-normalization':
    'Hosts are normalized (case, trailing dot); NUL, userinfo and non-canonical IP literals are refused.',
  'grants.exact':
    'A grant lifts an ask only for exactly what it names: the same command words, no other flag, no more arguments, the same directory; the same host, port, method, path and scheme; the same file path.',
  'grants.never-lower-deny':
    'A grant never lowers a deny (a deny rule, a forbidden flag, unresolvable: deny, a denied path) and never lifts a forbidden flag or a protected path.',
  'grants.per-part':
    'In a compound command each part is judged on its own: a grant for one part never lets another part through.',
  'schema.strict-unknown-keys': 'An unknown or misspelt key is an error that names it and its path.',
  'schema.errors-located': 'Policy errors name file:line:col, the key path, the bad value and the fix.',
  'schema.invalid-never-default': 'An invalid policy is an error, never replaced by a default.',
  'schema.conflicts': 'Contradictory rules in one file are an error.',
  'schema.bad-globs': 'Invalid path globs are an error.',
  'schema.frozen': 'A loaded policy is frozen.',
  'presets.default-task-no-prompt': 'The default preset runs the tuning task without asks or denials.',
  'parser.oracle-disagreement':
    'When sh-syntax and the airlock parser disagree about statements, the action is denied.',
} as const;

/** A requirement id. */
export type PolicyRequirementId = keyof typeof POLICY_REQUIREMENTS;
