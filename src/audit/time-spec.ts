import { AirlockError } from '../errors/index.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses a point in time for `--since`/`--until`: an ISO 8601 date or date-time
 * (`2025-01-31`, `2025-01-31T12:00:00Z`), or an age such as `30s`, `15m`, `2h`, `7d`, `1w`
 * (that long before `now`). Throws `E_USAGE` naming the option and the accepted forms.
 */
export function parseTimeSpec(option: string, spec: string, now: Date = new Date()): Date {
  const rel = /^(\d+)([smhdw])$/.exec(spec.trim());
  if (rel !== null) {
    const [, amount, unit] = rel;
    return new Date(now.getTime() - Number(amount) * (UNIT_MS[unit ?? ''] ?? 0));
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(spec.trim())) {
    const ms = Date.parse(spec.trim());
    if (Number.isFinite(ms)) return new Date(ms);
  }
  throw new AirlockError(
    'E_USAGE',
    `${option}: ${JSON.stringify(spec)} is not a time; use an ISO date such as "2025-01-31T12:00:00Z" or an age such as "15m", "2h", "7d".`,
    {
      hint: `Example: airlock audit query ${option} 1h`,
    },
  );
}
