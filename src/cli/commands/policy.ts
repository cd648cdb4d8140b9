/**
 * `airlock policy check|init|presets|schema`. Parses arguments, calls the policy
 * part's public face and maps results to exit statuses: 0 allowed (allow or log),
 * 1 not allowed unattended (deny, or ask: a person would have to approve), 2 usage
 * or environment errors (an invalid policy included).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { AirlockError } from '../../errors/index.js';
import {
  createDecideContext,
  createShellOracle,
  decide,
  listPresets,
  loadPolicy,
  policyJsonSchema,
  prepareAction,
  type Action,
  type Decision,
} from '../../policy/index.js';
import { EXIT, printJson, reportError, usageError } from '../output.js';

interface CheckOptions {
  policy: string;
  json?: boolean;
  read?: string;
  write?: string;
  url?: string;
  method?: string;
  workspace: string;
  home: string;
  cwd?: string;
  oracle: boolean;
}

function actionFrom(words: string[], o: CheckOptions): Action {
  const chosen = [words.length > 0, o.read !== undefined, o.write !== undefined, o.url !== undefined].filter(
    Boolean,
  ).length;
  if (chosen !== 1) {
    throw usageError(
      'policy check needs exactly one thing to check',
      'Give a command after "--" (one argument is a bash command line, several are an argv), or --read PATH, --write PATH or --url URL.',
    );
  }
  if (o.method !== undefined && o.url === undefined)
    throw usageError('--method only applies to --url', 'Add --url URL, or drop --method.');
  if (o.read !== undefined) return { kind: 'file.read', path: o.read };
  if (o.write !== undefined) return { kind: 'file.write', path: o.write };
  if (o.url !== undefined) {
    let u: URL;
    try {
      u = new URL(o.url);
    } catch {
      throw usageError(
        `--url ${JSON.stringify(o.url)} is not a URL`,
        'Write a full URL such as https://registry.npmjs.org/left-pad.',
      );
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:')
      throw usageError(`--url must be http or https, got ${u.protocol}`, 'Use an http:// or https:// URL.');
    const scheme = u.protocol === 'https:' ? 'https' : 'http';
    const port = u.port === '' ? (scheme === 'https' ? 443 : 80) : Number(u.port);
    return {
      kind: 'network',
      host: u.hostname,
      port,
      method: (o.method ?? 'GET').toUpperCase(),
      path: `${u.pathname}${u.search}`,
      scheme,
    };
  }
  const [first] = words;
  return words.length === 1 && first !== undefined
    ? { kind: 'exec', command: first }
    : { kind: 'exec', argv: words };
}

function describeAction(a: Action): string {
  switch (a.kind) {
    case 'exec':
      return 'command' in a ? a.command : a.argv.join(' ');
    case 'file.read':
      return `read ${a.path}`;
    case 'file.write':
      return `write ${a.path}`;
    case 'network':
      return `${a.method ?? 'CONNECT'} ${a.scheme ?? 'https'}://${a.host}:${a.port}${a.path ?? ''}`;
  }
}

function printHuman(action: Action, d: Decision): void {
  const lines = [
    `${d.verdict.toUpperCase()}  ${describeAction(action)}`,
    `  rule:   ${d.ruleId}${d.source ? ` (${d.source.file}:${d.source.line})` : ''}`,
    `  reason: ${d.reason}`,
  ];
  if (d.parts.length > 1) {
    lines.push('  parts:');
    for (const p of d.parts)
      lines.push(`    ${p.verdict.padEnd(5)} ${p.kind.padEnd(12)} ${p.subject}  [${p.ruleId}]`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

const INIT_TEMPLATE = (
  preset: string,
): string => `# Airlock policy. Reference: docs/policy.md; every key: \`airlock policy schema\`.
version: 1
extends: ${preset}

# Verdicts: allow (silent), log (allowed and shown), ask (a person approves first), deny.
# unresolvable: ask            # what cannot be checked statically: ask or deny

# exec:
#   rules:
#     - { id: my-tests, command: make, subcommand: test, level: allow }
#     - { id: no-force-push, command: git, subcommand: push, level: ask, forbidFlags: [--force, -f] }

# files:
#   write: ['/workspace/**']
#   deny: ['~/.ssh/**']

# network:
#   rules:
#     - { id: github-api, host: api.github.com, methods: [GET], level: allow }
`;

/**
 * Adds `airlock policy …` to the program. Exit statuses go to `setExit` when given (the
 * `airlock` binary passes it, and returns what it was given), else to `process.exitCode`.
 */
export function register(program: Command, setExit?: (code: number) => void): void {
  const exit =
    setExit ??
    ((code: number): void => {
      process.exitCode = code;
    });
  const policy = program
    .command('policy')
    .description('check actions against a policy, create one, list presets, print the schema');

  policy
    .command('check')
    .description('show the verdict for a command, a file access or a URL, with the rule that decided it')
    .argument('[command...]', 'after "--": one argument is a bash command line, several are an argv')
    .option('--policy <file>', 'the policy file', 'airlock.yaml')
    .option('--read <path>', 'check reading a file')
    .option('--write <path>', 'check writing a file')
    .option('--url <url>', 'check a network request')
    .option('--method <method>', 'the HTTP method for --url (default GET)')
    .option('--workspace <dir>', 'the workspace path inside the sandbox', '/workspace')
    .option('--home <dir>', 'the home directory inside the sandbox', '/home/agent')
    .option('--cwd <dir>', 'the working directory (default: the workspace)')
    .option('--no-oracle', 'skip the cross-check with the sh-syntax parser')
    .option('--json', 'print one JSON document')
    .action(async (words: string[], o: CheckOptions) => {
      const json = o.json ?? false;
      try {
        const action = actionFrom(words, o);
        const p = loadPolicy({ path: o.policy });
        const ctx = createDecideContext({
          workspace: o.workspace,
          home: o.home,
          ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
        });
        const prepared = await prepareAction(action, { oracle: o.oracle ? createShellOracle() : null });
        const d = decide(prepared, p, ctx);
        if (json) printJson({ action, ...d });
        else printHuman(action, d);
        exit(d.verdict === 'allow' || d.verdict === 'log' ? EXIT.ok : EXIT.failed);
      } catch (e) {
        exit(reportError(e, json));
      }
    });

  policy
    .command('init')
    .description('write an airlock.yaml that extends a preset')
    .option('--preset <name>', 'the preset to extend', 'default')
    .option('--output <file>', 'where to write it', 'airlock.yaml')
    .option('--force', 'overwrite an existing file')
    .option('--json', 'print one JSON document')
    .action((o: { preset: string; output: string; force?: boolean; json?: boolean }) => {
      const json = o.json ?? false;
      try {
        const names = listPresets().map((p) => p.name);
        if (!names.includes(o.preset)) {
          throw usageError(
            `unknown preset "${o.preset}"; presets are ${names.join(', ')}`,
            'Run `airlock policy presets` to see what each one allows.',
          );
        }
        const file = resolve(o.output);
        if (existsSync(file) && o.force !== true) {
          throw usageError(
            `${file} already exists`,
            'Edit it, choose another --output, or pass --force to overwrite it.',
          );
        }
        const text = INIT_TEMPLATE(o.preset);
        // the file must load before it is written: never leave an invalid policy behind
        loadPolicy({ text, path: file });
        writeFileSync(file, text);
        if (json) printJson({ file, preset: o.preset });
        else process.stdout.write(`wrote ${file} (extends ${o.preset})\n`);
        exit(EXIT.ok);
      } catch (e) {
        exit(reportError(e, json));
      }
    });

  policy
    .command('presets')
    .description('list the built-in presets')
    .option('--json', 'print one JSON document')
    .action((o: { json?: boolean }) => {
      const json = o.json ?? false;
      try {
        const presets = listPresets();
        if (json) printJson({ presets: presets.map(({ name, description }) => ({ name, description })) });
        else
          process.stdout.write(`${presets.map((p) => `${p.name.padEnd(10)} ${p.description}`).join('\n')}\n`);
        exit(EXIT.ok);
      } catch (e) {
        exit(reportError(e, json));
      }
    });

  policy
    .command('schema')
    .description('print the JSON Schema of airlock.yaml')
    .action(() => {
      try {
        printJson(policyJsonSchema());
        exit(EXIT.ok);
      } catch (e) {
        exit(
          reportError(
            e instanceof Error ? e : new AirlockError('E_INTERNAL', String(e), { hint: 'Report this bug.' }),
            true,
          ),
        );
      }
    });
}
