/**
 * The SDK's async iterator over a session's events, against a real sandbox.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { auditPaths } from '../../src/audit/index.js';
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

  it('audit.sandbox-violation: a seccomp kill and the wall-clock limit are sandbox.violation events', async () => {
    const session = await createSession({ workspace: tempDir('sdk-ws'), stateDir: tempDir('sdk-state') });
    try {
      const it1 = auditEvents(session, { types: ['sandbox.violation'] });
      // an x32-ABI getpid: the filter kills the process
      const r = await session.exec(['perl', '-e', 'syscall(0x40000000 | 39)']);
      expect(r.signal).toBe('SIGSYS');
      const first = await it1.next();
      expect(first.done === true ? null : first.value).toMatchObject({ type: 'sandbox.violation', data: { kind: 'seccomp' } });
      const t = await session.exec(['sleep', '5'], { timeoutMs: 200 });
      expect(t.timedOut).toBe(true);
      const second = await it1.next();
      expect(second.done === true ? null : second.value).toMatchObject({ type: 'sandbox.violation', data: { kind: 'resource-limit', detail: expect.stringContaining('200 ms') } });
      // an ordinary failure is not a violation
      await session.exec(['false']);
      await session.exec(['sh', '-c', 'kill -TERM $$']);
      const third = it1.next();
      await session.destroy();
      expect((await third).done).toBe(true);
    } finally {
      await session.destroy();
    }
  });

  it('audit.agent-prompt: recordPrompt puts a redacted agent.prompt in the audit log', async () => {
    const stateDir = tempDir('sdk-state');
    const session = await createSession({ workspace: tempDir('sdk-ws'), stateDir, secrets: ['sk-test-prompt-secret-0123456789'] });
    const seen: AirlockEvent[] = [];
    const watcher = (async () => {
      for await (const e of auditEvents(session, { types: ['agent.prompt'] })) seen.push(e);
    })();
    session.recordPrompt('fix the failing test; the key is sk-test-prompt-secret-0123456789', { role: 'user' });
    await session.destroy();
    await watcher;
    // the SDK's own stream is the host's (unredacted); the log on disk is redacted
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ type: 'agent.prompt', data: { face: 'sdk', role: 'user' } });
    const log = readFileSync(join(auditPaths(stateDir).sessions, `${session.id}.jsonl`), 'utf8');
    const rec = log.split('\n').filter((l) => l.includes('"agent.prompt"'));
    expect(rec).toHaveLength(1);
    expect(rec[0]).toContain('fix the failing test');
    expect(log).not.toContain('sk-test-prompt-secret-0123456789');
    expect(() => {
      session.recordPrompt(42 as unknown as string);
    }).toThrow(/must be a string/);
  });
});
