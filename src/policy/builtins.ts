/**
 * Knowledge that is part of the engine rather than of a preset: protected paths
 * and environment variables that every policy has, shell builtins, and how the
 * command wrappers (`env`, `timeout`, `xargs`, …) find the command they run.
 */

/**
 * Paths whose writing (or creation) is at least `ask` in every policy: files that
 * something on the host runs or trusts later (git hooks and config, editor and agent
 * settings, CI workflows, shell start-up files). Relative entries match at any depth.
 */
export const BUILTIN_PROTECTED_PATHS: readonly string[] = [
  '**/.git/hooks/**',
  '**/.git/config',
  '**/.git/info/**',
  '**/.git/modules/**/hooks/**',
  '**/.git/modules/**/config',
  '**/.gitmodules',
  '**/.bashrc',
  '**/.bash_profile',
  '**/.bash_login',
  '**/.bash_logout',
  '**/.profile',
  '**/.zshrc',
  '**/.zshenv',
  '**/.zprofile',
  '**/.zlogin',
  '**/.zlogout',
  '**/.kshrc',
  '**/.cshrc',
  '**/.tcshrc',
  '**/.config/fish/**',
  '**/.envrc',
  '**/.vscode/**',
  '**/.idea/**',
  '**/.claude/**',
  '**/.cursor/**',
  '**/.mcp.json',
  '**/.github/workflows/**',
  '**/.devcontainer/**',
  '**/.husky/**',
  // The policy itself: the next `airlock run` in this project loads it.
  '**/airlock.yaml',
  '**/airlock.yml',
];

/**
 * Environment variables that change what a later command does (which binary runs,
 * which library is preloaded, which code an interpreter loads first, where a tool
 * sends traffic). Setting one is at least `exec.envLevel`. A trailing `*` is a prefix.
 */
export const BUILTIN_PROTECTED_ENV: readonly string[] = [
  'PATH',
  'LD_*',
  'DYLD_*',
  'GCONV_PATH',
  'GIT_*',
  'NODE_OPTIONS',
  'NODE_PATH',
  'NODE_EXTRA_CA_CERTS',
  'PYTHONPATH',
  'PYTHONSTARTUP',
  'PYTHONHOME',
  'PYTHONUSERBASE',
  'PYTHONINSPECT',
  'BASH_ENV',
  'ENV',
  'BASH_FUNC_*',
  'SHELLOPTS',
  'BASHOPTS',
  'IFS',
  'PS4',
  'PROMPT_COMMAND',
  'CDPATH',
  'GLOBIGNORE',
  'HOME',
  'ZDOTDIR',
  'XDG_CONFIG_HOME',
  'PERL5OPT',
  'PERL5LIB',
  'PERLLIB',
  'RUBYOPT',
  'RUBYLIB',
  'JAVA_TOOL_OPTIONS',
  '_JAVA_OPTIONS',
  'JDK_JAVA_OPTIONS',
  'NPM_CONFIG_*',
  'npm_config_*',
  'YARN_*',
  'PIP_*',
  'UV_*',
  'CARGO_*',
  'RUSTC_WRAPPER',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'MANPAGER',
  'LESSOPEN',
  'LESSCLOSE',
  'BROWSER',
  'SSH_ASKPASS',
  'SUDO_ASKPASS',
  'CURL_HOME',
  'WGETRC',
  'OPENSSL_CONF',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'REQUESTS_CA_BUNDLE',
  'http_proxy',
  'https_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'all_proxy',
  'NO_PROXY',
  'no_proxy',
];

/** Bash builtins: they run inside the shell whatever PATH says. */
export const SHELL_BUILTINS: ReadonlySet<string> = new Set([
  '.',
  ':',
  '[',
  'alias',
  'bg',
  'bind',
  'break',
  'builtin',
  'caller',
  'cd',
  'command',
  'compgen',
  'complete',
  'compopt',
  'continue',
  'declare',
  'dirs',
  'disown',
  'echo',
  'enable',
  'eval',
  'exec',
  'exit',
  'export',
  'false',
  'fc',
  'fg',
  'getopts',
  'hash',
  'help',
  'history',
  'jobs',
  'kill',
  'let',
  'local',
  'logout',
  'mapfile',
  'popd',
  'printf',
  'pushd',
  'pwd',
  'read',
  'readarray',
  'readonly',
  'return',
  'set',
  'shift',
  'shopt',
  'source',
  'suspend',
  'test',
  'times',
  'trap',
  'true',
  'type',
  'typeset',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
]);

/**
 * Builtins whose only effects are on the shell's own state or its output; they are
 * allowed unless a rule names them. The state-changing ones among them (cd,
 * export, read, …) are still inspected for protected variables and subscripts.
 */
export const HARMLESS_BUILTINS: ReadonlySet<string> = new Set([
  ':',
  'true',
  'false',
  'echo',
  'printf',
  'test',
  '[',
  'pwd',
  'cd',
  'pushd',
  'popd',
  'dirs',
  'shift',
  'return',
  'exit',
  'break',
  'continue',
  'wait',
  'jobs',
  'type',
  'getopts',
  'umask',
  'set',
  'shopt',
  'read',
  'mapfile',
  'readarray',
  'unset',
  'export',
  'declare',
  'typeset',
  'local',
  'readonly',
  'let',
  'times',
  'caller',
  'help',
]);

/** Shells whose `-c` string is parsed and checked like the outer command. */
export const SHELLS: ReadonlySet<string> = new Set([
  'sh',
  'bash',
  'dash',
  'zsh',
  'ksh',
  'mksh',
  'ash',
  'yash',
  'rbash',
  'posh',
]);

/** Option grammar of a wrapper that runs another command. */
export interface WrapperSpec {
  /** Options without a value (short as "-x", long as "--name"). */
  readonly flags: readonly string[];
  /** Options that take a value (next argument, attached, or "=value"). */
  readonly valued: readonly string[];
  /** Long options whose value can only be attached with "=" (optional values). */
  readonly optionalValued?: readonly string[];
  /** Options that make the wrapper not run a command, or run one we cannot see. */
  readonly opaque?: readonly string[];
  /** Options whose value is a shell command string the wrapper runs with `sh -c` (flock -c). */
  readonly shellString?: readonly string[];
  /** Options whose value is a working directory for the inner command. */
  readonly chdir?: readonly string[];
  /** Options whose value is a file the wrapper writes. */
  readonly writes?: readonly string[];
  /** Options whose value is a file the wrapper reads. */
  readonly reads?: readonly string[];
  /** Number of positional operands before the command (timeout's DURATION). */
  readonly operands?: number;
  /** `NAME=value` words before the command are environment assignments (env, sudo). */
  readonly assignments?: boolean;
  /** A bare number option such as `nice -10`. */
  readonly numericOption?: boolean;
  /** Arguments after the command are joined and run by `sh -c` (watch). */
  readonly joinsShell?: boolean;
  /** Extra arguments arrive at run time (xargs). */
  readonly dynamicTail?: boolean;
  /** The command to run when none is given (xargs runs echo). */
  readonly defaultCommand?: string;
}

/** Commands that run another command given on their command line. */
export const WRAPPERS: ReadonlyMap<string, WrapperSpec> = new Map<string, WrapperSpec>([
  [
    'env',
    {
      flags: ['-i', '--ignore-environment', '-0', '--null', '-v', '--debug', '-'],
      valued: ['-u', '--unset', '-C', '--chdir', '-a', '--argv0'],
      optionalValued: ['--block-signal', '--default-signal', '--ignore-signal', '--list-signal-handling'],
      opaque: ['-S', '--split-string', '-P'],
      chdir: ['-C', '--chdir'],
      assignments: true,
    },
  ],
  ['nice', { flags: [], valued: ['-n', '--adjustment'], numericOption: true }],
  ['nohup', { flags: [], valued: [] }],
  [
    'timeout',
    {
      flags: ['--foreground', '--preserve-status', '-v', '--verbose', '-f'],
      valued: ['-s', '--signal', '-k', '--kill-after'],
      operands: 1,
    },
  ],
  [
    'time',
    {
      flags: ['-p', '--portability', '-v', '--verbose', '-q', '--quiet', '-a', '--append'],
      valued: ['-f', '--format', '-o', '--output'],
      writes: ['-o', '--output'],
    },
  ],
  ['stdbuf', { flags: [], valued: ['-i', '--input', '-o', '--output', '-e', '--error'] }],
  ['setsid', { flags: ['-c', '--ctty', '-f', '--fork', '-w', '--wait'], valued: [] }],
  [
    'ionice',
    {
      flags: ['-t', '--ignore'],
      valued: ['-c', '--class', '-n', '--classdata'],
      opaque: ['-p', '--pid', '-P', '--pgid', '-u', '--uid'],
    },
  ],
  [
    'xargs',
    {
      flags: [
        '-0',
        '--null',
        '-r',
        '--no-run-if-empty',
        '-t',
        '--verbose',
        '-p',
        '--interactive',
        '-x',
        '--exit',
        '-o',
        '--open-tty',
      ],
      valued: [
        '-a',
        '--arg-file',
        '-d',
        '--delimiter',
        '-E',
        '-I',
        '-L',
        '-n',
        '--max-args',
        '-P',
        '--max-procs',
        '-s',
        '--max-chars',
        '--process-slot-var',
      ],
      optionalValued: ['--replace', '--max-lines', '--eof', '-e', '-i', '-l'],
      reads: ['-a', '--arg-file'],
      dynamicTail: true,
      defaultCommand: 'echo',
    },
  ],
  [
    'sudo',
    {
      flags: [
        '-A',
        '--askpass',
        '-b',
        '--background',
        '-E',
        '-H',
        '--set-home',
        '-K',
        '-k',
        '--reset-timestamp',
        '-n',
        '--non-interactive',
        '-P',
        '--preserve-groups',
        '-S',
        '--stdin',
        '-N',
        '--no-update',
      ],
      valued: [
        '-u',
        '--user',
        '-g',
        '--group',
        '-C',
        '--close-from',
        '-D',
        '--chdir',
        '-h',
        '--host',
        '-p',
        '--prompt',
        '-r',
        '--role',
        '-t',
        '--type',
        '-T',
        '--command-timeout',
        '-U',
        '--other-user',
      ],
      optionalValued: ['--preserve-env'],
      opaque: [
        '-s',
        '--shell',
        '-i',
        '--login',
        '-e',
        '--edit',
        '-l',
        '--list',
        '-v',
        '--validate',
        '-V',
        '--version',
      ],
      chdir: ['-D', '--chdir'],
      assignments: true,
    },
  ],
  ['doas', { flags: ['-n'], valued: ['-u'], opaque: ['-s', '-C', '-L'] }],
  [
    'flock',
    {
      flags: [
        '-s',
        '--shared',
        '-x',
        '-e',
        '--exclusive',
        '-u',
        '--unlock',
        '-n',
        '--nb',
        '--nonblock',
        '-o',
        '--close',
        '-F',
        '--no-fork',
        '--verbose',
      ],
      valued: ['-w', '--wait', '--timeout', '-E', '--conflict-exit-code', '-c', '--command'],
      shellString: ['-c', '--command'],
      operands: 1,
    },
  ],
  [
    'watch',
    {
      flags: [
        '-b',
        '--beep',
        '-c',
        '--color',
        '-C',
        '--no-color',
        '-e',
        '--errexit',
        '-g',
        '--chgexit',
        '-t',
        '--no-title',
        '-w',
        '--no-linewrap',
        '-p',
        '--precise',
        '-r',
        '--no-rerun',
      ],
      valued: ['-n', '--interval', '-q', '--equexit'],
      optionalValued: ['--differences', '-d'],
      opaque: ['-x', '--exec'],
      joinsShell: true,
    },
  ],
]);
