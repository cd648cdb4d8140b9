import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { AirlockError } from '../errors/index.js';

/**
 * The Airlock state directory: `$AIRLOCK_HOME`, else `$XDG_STATE_HOME/airlock`, else
 * `~/.local/state/airlock`. Only faces call this; library code takes the directory as an
 * option, so two stores in one process can live in two directories.
 */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const airlockHome = env.AIRLOCK_HOME;
  if (airlockHome !== undefined && airlockHome !== '') return requireAbsolute('AIRLOCK_HOME', airlockHome);
  const xdg = env.XDG_STATE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'airlock');
  return join(home, '.local', 'state', 'airlock');
}

function requireAbsolute(name: string, value: string): string {
  if (!isAbsolute(value)) {
    throw new AirlockError('E_CONFIG_INVALID', `${name}: "${value}" is not an absolute path.`, {
      hint: `Set ${name} to an absolute directory such as "$HOME/.local/state/airlock", or unset it.`,
    });
  }
  return value;
}

/** Where the audit store keeps its files inside a state directory. */
export interface AuditPaths {
  /** `<state>/audit` (mode 0700). */
  root: string;
  /** One JSONL log and one checkpoint file per session. */
  sessions: string;
  /** The SQLite index across sessions. */
  index: string;
  /** The Ed25519 signing key (PKCS#8 PEM, mode 0600). */
  privateKey: string;
  /** Its public half (SPKI PEM), for verifiers and for pinning elsewhere. */
  publicKey: string;
}

/** The layout of the audit store under `stateDir`. */
export function auditPaths(stateDir: string): AuditPaths {
  const root = join(stateDir, 'audit');
  return {
    root,
    sessions: join(root, 'sessions'),
    index: join(root, 'index.sqlite'),
    privateKey: join(root, 'signing-key.pem'),
    publicKey: join(root, 'signing-key.pub.pem'),
  };
}

/** Session ids become file names, so they are restricted to a safe alphabet. */
const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True when `id` is a valid session id. */
export function isSessionId(id: string): boolean {
  return SESSION_ID.test(id);
}

/** Throws `E_CONFIG_INVALID` unless `id` is a valid session id. */
export function assertSessionId(id: string): void {
  if (!isSessionId(id)) {
    throw new AirlockError(
      'E_CONFIG_INVALID',
      `sessionId: ${JSON.stringify(id)} is not a valid session id; use 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit.`,
      {
        hint: 'Session ids come from the session layer; pass the id it assigned (for example "s-20250101-abc123").',
      },
    );
  }
}

/** File names of one session's log, checkpoints and writer lock. */
export function sessionFiles(
  paths: AuditPaths,
  sessionId: string,
): { log: string; checkpoints: string; lock: string } {
  return {
    log: join(paths.sessions, `${sessionId}.jsonl`),
    checkpoints: join(paths.sessions, `${sessionId}.checkpoints.jsonl`),
    lock: join(paths.sessions, `${sessionId}.lock`),
  };
}
