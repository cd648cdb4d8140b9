/**
 * The SDK's async iterator over a session's events, against a real sandbox.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { auditEvents, createSession, type AirlockEvent } from '../../src/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => {
  cleanupTemp();
});

describe('auditEvents()', () => {
  it('yields the events of execs in order and ends after session.stopped', async () => {
    const session = await createSession({ workspace: tempDir('sdk-ws'), stateDir: tempDir('sdk-state') });
    const seen: AirlockEvent[] = [];
    const watcher = (async () => {
      for await (const e of auditEvents(session)) seen.push(e);
    })();
    const r = await session.exec(['bash', '-c', 'echo hi']);
    expect(r.stdout).toBe('hi\n');
    await session.destroy();
    await watcher;
    expect(seen.map((e) => e.type)).toEqual(['exec.started', 'exec.finished', 'session.stopped']);
  });

  it('filters by type, stops on abort, and fails loudly when the consumer falls behind', async () => {
    const session = await createSession({ workspace: tempDir('sdk-ws'), stateDir: tempDir('sdk-state') });
    try {
      const ac = new AbortController();
      const it1 = auditEvents(session, { types: ['exec.finished'], signal: ac.signal });
      const small = auditEvents(session, { maxBuffered: 1 });
      await session.exec(['true']);
      const first = await it1.next();
      expect(first.done === true ? null : first.value.type).toBe('exec.finished');
      ac.abort();
      expect((await it1.next()).done).toBe(true);
      await expect(small.next()).resolves.toMatchObject({ value: { type: 'exec.started' } });
      await expect(small.next()).rejects.toMatchObject({ code: 'E_EVENTS_OVERFLOW' });
    } finally {
      await session.destroy();
    }
  });
});
