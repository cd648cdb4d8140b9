/**
 * Secret references (`env:NAME`, `file:/path`, `command:…`) and their resolution on the
 * host. Resolution happens once, when the proxy starts, so a missing secret stops the
 * session before the agent runs rather than failing a request halfway through its work.
 *
 * No message built here contains a secret value: errors name the reference, which is
 * safe to show, and never the command's output.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

import { AirlockError } from '../errors/index.js';

/** A parsed secret reference. */
export type SecretRef =
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'command'; readonly argv: readonly string[] };

/** Options for {@link resolveSecret}. */
export interface ResolveSecretOptions {
  /** Where `env:` references are looked up. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long a `command:` may run. Default 30 s. */
  readonly timeoutMs?: number;
  /** The option path named in error messages, e.g. `credentials[0].secret`. */
  readonly optionPath?: string;
}

const REF_HINT =
  'Write a secret reference as env:NAME, file:/absolute/path (or file:~/path), or command:["program","arg"] (the command runs on the host without a shell; its standard output is the secret).';

/** Renders a reference for messages: the reference itself is not secret. */
export function describeSecretRef(ref: SecretRef): string {
  switch (ref.kind) {
    case 'env':
      return `env:${ref.name}`;
    case 'file':
      return `file:${ref.path}`;
    case 'command':
      return `command:${JSON.stringify(ref.argv)}`;
  }
}

/**
 * Parses `env:NAME`, `file:/abs/path`, `command:["argv0","arg"]` or `command:argv0 arg`
 * (split on whitespace, no quoting: a program path with spaces needs the JSON form).
 * Throws `E_CONFIG_INVALID` naming the option path and the valid forms.
 */
export function parseSecretRef(text: string, optionPath = 'secret'): SecretRef {
  const invalid = (why: string): AirlockError =>
    new AirlockError('E_CONFIG_INVALID', `${optionPath}: "${text.slice(0, 80)}" ${why}`, { hint: REF_HINT });
  const colon = text.indexOf(':');
  const kind = colon < 0 ? '' : text.slice(0, colon);
  const rest = colon < 0 ? '' : text.slice(colon + 1);
  switch (kind) {
    case 'env':
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(rest)) throw invalid('does not name an environment variable');
      return { kind: 'env', name: rest };
    case 'file': {
      // "~/" is the home directory of the user running Airlock: the host's, never the sandbox's.
      const path = rest.startsWith('~/') ? join(homedir(), rest.slice(2)) : rest;
      if (!isAbsolute(path)) throw invalid('does not name an absolute file path (or one under "~/")');
      return { kind: 'file', path };
    }
    case 'command': {
      let argv: unknown;
      if (rest.trimStart().startsWith('[')) {
        try {
          argv = JSON.parse(rest);
        } catch {
          throw invalid('is not a JSON array of strings after "command:"');
        }
      } else {
        argv = rest.split(/\s+/).filter((w) => w !== '');
      }
      if (
        !Array.isArray(argv) ||
        argv.length === 0 ||
        !argv.every((a): a is string => typeof a === 'string' && a !== '')
      ) {
        throw invalid('does not name a command');
      }
      return { kind: 'command', argv };
    }
    default:
      throw invalid('is not a secret reference (expected env:, file: or command:)');
  }
}

function unavailable(
  ref: SecretRef,
  optionPath: string,
  why: string,
  hint: string,
  cause?: unknown,
): AirlockError {
  return new AirlockError('E_EGRESS_SECRET_UNAVAILABLE', `${optionPath}: ${describeSecretRef(ref)} ${why}`, {
    hint,
    // The cause of a failed command may carry its output; keep only the error code.
    ...(cause instanceof Error && 'code' in cause ? { cause: { code: cause.code } } : {}),
  });
}

/**
 * Resolves a reference to the secret's value. One trailing newline is removed (files
 * and command output usually end in one); anything else outside printable ASCII is
 * refused because the value goes into an HTTP header, where a CR or LF would split it.
 */
export async function resolveSecret(ref: SecretRef, options: ResolveSecretOptions = {}): Promise<string> {
  const optionPath = options.optionPath ?? 'secret';
  let value: string;
  switch (ref.kind) {
    case 'env': {
      const env = options.env ?? process.env;
      const v = env[ref.name];
      if (v === undefined || v === '') {
        throw unavailable(
          ref,
          optionPath,
          'is not set on the host',
          `Export ${ref.name} in the environment that starts Airlock, or point the reference at a file or command.`,
        );
      }
      value = v;
      break;
    }
    case 'file':
      try {
        value = await readFile(ref.path, 'utf8');
      } catch (err) {
        throw unavailable(
          ref,
          optionPath,
          'could not be read',
          'Check that the file exists and that the user running Airlock may read it.',
          err,
        );
      }
      break;
    case 'command':
      value = await new Promise<string>((resolve, reject) => {
        const [file, ...args] = ref.argv;
        execFile(
          file ?? '',
          args,
          { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024, windowsHide: true, encoding: 'utf8' },
          (err, stdout) => {
            if (err !== null) {
              const status =
                typeof err.code === 'number'
                  ? `exited with status ${err.code}`
                  : err.killed
                    ? 'timed out'
                    : `failed (${err.code ?? 'error'})`;
              reject(
                unavailable(
                  ref,
                  optionPath,
                  status,
                  'Run the command by hand on the host to see why; its output is not shown here because it may be the secret.',
                  err,
                ),
              );
              return;
            }
            resolve(stdout);
          },
        );
      });
      break;
  }
  const trimmed = value.replace(/\r?\n$/, '');
  if (trimmed === '') {
    throw unavailable(ref, optionPath, 'is empty', 'Make the reference produce the secret value.');
  }
  if (/[^\t\x20-\x7e]/.test(trimmed)) {
    throw unavailable(
      ref,
      optionPath,
      'contains a line break, a control character or non-ASCII text',
      'A credential goes into an HTTP header and must be one line; store only the token.',
    );
  }
  return trimmed;
}
