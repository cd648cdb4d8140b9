/**
 * Bearer tokens of the local approvals API. Each token has a name (`local` for the
 * person at this machine, `slack-bot` for a webhook receiver, …) that the audit log
 * records as who decided. They live in `approvals/tokens.json` under the state directory,
 * mode 0600, and are random 256-bit values.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AirlockError, isErrnoException } from '../errors/index.js';

/** The name of the token `airlock serve` prints for the local person. */
export const LOCAL_TOKEN_NAME = 'local';

/** Where the tokens live in a state directory. */
export function tokensPath(stateDir: string): string {
  return join(stateDir, 'approvals', 'tokens.json');
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function tokenError(message: string, hint: string, cause?: unknown): AirlockError {
  return new AirlockError('E_CONFIG_INVALID', message, cause === undefined ? { hint } : { hint, cause });
}

function read(file: string): Record<string, string> {
  let st;
  try {
    st = lstatSync(file);
  } catch (cause) {
    if (isErrnoException(cause) && cause.code === 'ENOENT') return {};
    throw tokenError(`cannot read ${file}`, 'Check the state directory permissions.', cause);
  }
  if (!st.isFile()) throw tokenError(`${file} is not a regular file`, 'Remove it; airlock serve makes a new one.');
  if ((st.mode & 0o077) !== 0) {
    throw tokenError(`${file} is readable by other users (mode ${(st.mode & 0o777).toString(8)})`, `Run \`chmod 600 ${file}\`, or remove it to make new tokens.`);
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw tokenError(`${file} is not JSON`, 'Remove it; airlock serve makes a new one.', cause);
  }
  const tokens = data !== null && typeof data === 'object' ? (data as { tokens?: unknown }).tokens : undefined;
  if (tokens === null || typeof tokens !== 'object' || Array.isArray(tokens)) throw tokenError(`${file} has no "tokens" object`, 'Remove it; airlock serve makes a new one.');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(tokens as Record<string, unknown>)) {
    if (!NAME.test(name) || typeof value !== 'string' || value.length < 32) throw tokenError(`${file}: token ${JSON.stringify(name)} is malformed`, 'Remove it; airlock serve makes a new one.');
    out[name] = value;
  }
  return out;
}

function write(file: string, tokens: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

/** A fresh random token. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The tokens of a state directory, creating the `local` one when missing (or replacing
 * every token when `rotate`). Refuses a token file other users can read.
 */
export function loadOrCreateTokens(stateDir: string, options: { rotate?: boolean } = {}): Map<string, string> {
  const file = tokensPath(stateDir);
  const tokens = read(file);
  let changed = false;
  if (options.rotate === true) {
    // Rotating replaces every token, named ones included: an old one may be what leaked.
    for (const name of Object.keys(tokens)) tokens[name] = newToken();
    changed = true;
  }
  if (tokens[LOCAL_TOKEN_NAME] === undefined) {
    tokens[LOCAL_TOKEN_NAME] = newToken();
    changed = true;
  }
  if (changed) write(file, tokens);
  return new Map(Object.entries(tokens));
}

/** Adds (or replaces) a named token, e.g. for a webhook receiver; returns it. */
export function addToken(stateDir: string, name: string): string {
  if (!NAME.test(name)) {
    throw new AirlockError('E_USAGE', `token name ${JSON.stringify(name)} is invalid`, { hint: 'Use lower-case letters, digits, ".", "_" or "-", e.g. "slack-bot".' });
  }
  const file = tokensPath(stateDir);
  const tokens = read(file);
  const token = newToken();
  tokens[name] = token;
  write(file, tokens);
  return token;
}
