import { describe, expect, it } from 'vitest';
import { parseTimeSpec, resolveStateDir } from '../../../src/audit/index.js';

describe('parseTimeSpec', () => {
  const now = new Date('2025-06-01T12:00:00.000Z');
  it('reads ages', () => {
    expect(parseTimeSpec('--since', '30s', now).toISOString()).toBe('2025-06-01T11:59:30.000Z');
    expect(parseTimeSpec('--since', '15m', now).toISOString()).toBe('2025-06-01T11:45:00.000Z');
    expect(parseTimeSpec('--since', '2h', now).toISOString()).toBe('2025-06-01T10:00:00.000Z');
    expect(parseTimeSpec('--since', '7d', now).toISOString()).toBe('2025-05-25T12:00:00.000Z');
    expect(parseTimeSpec('--since', '1w', now).toISOString()).toBe('2025-05-25T12:00:00.000Z');
  });
  it('reads ISO dates and date-times', () => {
    expect(parseTimeSpec('--since', '2025-01-31', now).toISOString()).toBe('2025-01-31T00:00:00.000Z');
    expect(parseTimeSpec('--until', '2025-01-31T10:00:00+02:00', now).toISOString()).toBe(
      '2025-01-31T08:00:00.000Z',
    );
  });
  it('names the option, the bad value and the accepted forms', () => {
    expect(() => parseTimeSpec('--since', 'yesterday', now)).toThrow(
      '--since: "yesterday" is not a time; use an ISO date such as "2025-01-31T12:00:00Z" or an age such as "15m", "2h", "7d".',
    );
  });
});

describe('resolveStateDir', () => {
  it('prefers AIRLOCK_HOME, then XDG_STATE_HOME/airlock, then ~/.local/state/airlock', () => {
    expect(resolveStateDir({ AIRLOCK_HOME: '/srv/airlock', XDG_STATE_HOME: '/x' }, '/home/u')).toBe(
      '/srv/airlock',
    );
    expect(resolveStateDir({ XDG_STATE_HOME: '/x' }, '/home/u')).toBe('/x/airlock');
    expect(resolveStateDir({ XDG_STATE_HOME: 'relative' }, '/home/u')).toBe('/home/u/.local/state/airlock');
    expect(resolveStateDir({}, '/home/u')).toBe('/home/u/.local/state/airlock');
  });
  it('refuses a relative AIRLOCK_HOME rather than guessing', () => {
    expect(() => resolveStateDir({ AIRLOCK_HOME: 'state' }, '/home/u')).toThrow(
      'AIRLOCK_HOME: "state" is not an absolute path.',
    );
  });
});
