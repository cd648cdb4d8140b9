import { AirlockError, isAirlockError } from '../errors/index.js';

/** Exit statuses of the `airlock` command (see CONVENTIONS: 0 ok, 1 checked thing failed, 2 usage/env). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Prints one JSON document on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes an error with its code and hint to stderr (or as JSON on stdout with --json) and returns the exit status. */
export function reportError(err: unknown, json: boolean): number {
  const e = isAirlockError(err)
    ? err
    : new AirlockError('E_INTERNAL', err instanceof Error ? err.message : String(err), {
        hint: 'This is a bug in airlock; please report it with the command you ran.',
        cause: err,
      });
  if (json) printJson({ error: e.toJSON() });
  else process.stderr.write(`airlock: ${e.code}: ${e.message}\nhint: ${e.hint}\n`);
  return e.code === 'E_POLICY_DENIED' ? EXIT.failed : EXIT.usage;
}

/** Raised by commands for bad usage; the CLI maps it to exit status 2. */
export function usageError(message: string, hint: string): AirlockError {
  return new AirlockError('E_USAGE', message, { hint });
}
