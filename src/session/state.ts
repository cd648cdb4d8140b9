/**
 * The host-side state directory: sessions, approvals, audit. Never bound into a sandbox,
 * and a workspace that contains it is refused (see workspace checks in index.ts).
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `AIRLOCK_HOME`, else `$XDG_STATE_HOME/airlock`, else `~/.local/state/airlock`. */
export function resolveStateDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['AIRLOCK_HOME'];
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const xdg = env['XDG_STATE_HOME'];
  if (xdg !== undefined && xdg !== '') return join(resolve(xdg), 'airlock');
  return join(homedir(), '.local', 'state', 'airlock');
}
