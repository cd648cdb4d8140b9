import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { actionDigest, approvalsDbPath, createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalEvent, ApprovalQueue } from '../../../src/approvals/index.js';
import { AirlockError } from '../../../src/errors/index.js';
import { argvAsk, commandAsk, delay, execPart, isPending, networkAsk, tempStateDir } from '../../unit/approvals/helpers.js';

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
let events: ApprovalEvent[];

beforeEach(() => {
  state = tempStateDir('queue');
  events = [];
  queue = createApprovalQueue({ stateDir: state.dir, publish: (e) => events.push(e), pollIntervalMs: 20 });
});
afterEach(() => {
  queue.close();
  state.cleanup();
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return err instanceof AirlockError ? err.code : String(err);
  }
  return 'no error';
}

describe('the approvals queue', () => {
  it('blocks an ask until a person approves it, and records who, how and how long', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['git', 'push'], { execId: 'e1' }));
    expect(await isPending(decision)).toBe(true);
    const r = queue.get(id);
    expect(r?.status).toBe('pending');
    expect(r?.subject).toBe('git push');
    expect(r?.parts[0]?.destructive).toBe(true);
    queue.decide(id, { decision: 'approve', digest: r?.digest ?? '', by: 'user:alice', channel: 'terminal' });
    const d = await decision;
    expect(d).toMatchObject({ approved: true, id, scope: 'once', via: 'prompt', by: 'user:alice', channel: 'terminal' });
    expect(d.approved && d.action).toEqual({ kind: 'exec', argv: ['git', 'push'], command: null, cwd: '/workspace', env: {} });
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted']);
    expect(events[0]?.data).toMatchObject({ approvalId: id, action: 'exec', subject: 'git push', rule: 'exec.default', execId: 'e1' });
    expect(events[1]?.data).toMatchObject({ approvalId: id, by: 'user:alice', channel: 'terminal', scope: 'once', execId: 'e1' });
    const waited = (events[1]?.data as { waitedMs: number }).waitedMs;
    expect(Number.isInteger(waited) && waited >= 0).toBe(true);
  });

  it('a denial carries the reason to the agent and the audit log', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['curl', 'https://example.com']));
    queue.decide(id, { decision: 'deny', reason: 'no network today', by: 'token:local', channel: 'web' });
    expect(await decision).toMatchObject({ approved: false, status: 'denied', reason: 'no network today', by: 'token:local', channel: 'web' });
    expect(events[1]).toMatchObject({ type: 'approval.denied', data: { approvalId: id, by: 'token:local', channel: 'web', reason: 'no network today' } });
  });

  it('a timeout is a denial, and a decision after it is refused', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['make']), { timeoutMs: 50 });
    const d = await decision;
    expect(d).toMatchObject({ approved: false, status: 'expired', by: 'airlock', channel: 'system' });
    expect(!d.approved && d.reason).toBe('nobody answered within 50 ms, so the action was denied');
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    expect(queue.get(id)?.status).toBe('expired');
    expect(code(() => queue.decide(id, { decision: 'approve', digest: queue.get(id)?.digest ?? '', by: 'user:a', channel: 'terminal' }))).toBe('E_APPROVAL_DECIDED');
  });

  it('refuses a decision on another digest: what was shown must be what runs', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['ls']));
    const other = actionDigest({ kind: 'exec', argv: ['rm', '-rf', '/'], cwd: '/workspace' });
    expect(code(() => queue.decide(id, { decision: 'approve', digest: other, by: 'user:a', channel: 'terminal' }))).toBe('E_APPROVAL_MISMATCH');
    expect(await isPending(decision)).toBe(true);
    queue.decide(id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
    await decision;
  });

  it('a decision is final: the second one is refused', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['ls']));
    const digest = queue.get(id)?.digest ?? '';
    queue.decide(id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
    expect(code(() => queue.decide(id, { decision: 'approve', digest, by: 'user:b', channel: 'terminal' }))).toBe('E_APPROVAL_DECIDED');
    expect((await decision).approved).toBe(false);
  });

  it('merges identical pending asks and answers them together', async () => {
    const a = queue.submit(argvAsk('s1', ['npm', 'publish'], { execId: 'e1' }));
    const b = queue.submit(argvAsk('s1', ['npm', 'publish'], { execId: 'e2' }));
    const c = queue.submit(argvAsk('s2', ['npm', 'publish']));
    expect(b).toMatchObject({ id: a.id, merged: true });
    expect(c.id).not.toBe(a.id);
    expect(queue.get(a.id)?.count).toBe(2);
    queue.decide(a.id, { decision: 'approve', digest: queue.get(a.id)?.digest ?? '', by: 'user:a', channel: 'terminal' });
    const [da, db] = await Promise.all([a.decision, b.decision]);
    expect(da.approved && db.approved).toBe(true);
    // each waiting action may run once: two uses for two merged asks, no third
    if (!da.approved || !db.approved) throw new Error('unreachable');
    queue.authorize(da, { kind: 'exec', argv: ['npm', 'publish'], cwd: '/workspace' });
    queue.authorize(db, { kind: 'exec', argv: ['npm', 'publish'], cwd: '/workspace' });
    expect(code(() => queue.authorize(da, { kind: 'exec', argv: ['npm', 'publish'], cwd: '/workspace' }))).toBe('E_APPROVAL_MISMATCH');
    expect(events.filter((e) => e.type === 'approval.granted').map((e) => e.data.execId)).toEqual(['e1', 'e2']);
    expect(queue.stats('s1')).toMatchObject({ prompts: 1, asks: 2, merged: 1, approved: 1, pending: 0 });
    queue.decide(c.id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
    await c.decision;
  });

  it('authorize runs only the approved action, returning the stored copy', async () => {
    const argv = ['git', 'push', 'origin', 'main'];
    const { id, decision } = queue.submit(argvAsk('s1', argv));
    argv[3] = 'evil'; // the agent's array changes after asking
    queue.decide(id, { decision: 'approve', digest: queue.get(id)?.digest ?? '', by: 'user:a', channel: 'terminal' });
    const d = await decision;
    expect(code(() => queue.authorize(d, { kind: 'exec', argv, cwd: '/workspace' }))).toBe('E_APPROVAL_MISMATCH');
    expect(code(() => queue.authorize(d, { kind: 'exec', argv: ['git', 'push', 'origin', 'main'], cwd: '/tmp' }))).toBe('E_APPROVAL_MISMATCH');
    const run = queue.authorize(d, { kind: 'exec', argv: ['git', 'push', 'origin', 'main'], cwd: '/workspace' });
    expect(run).toEqual({ kind: 'exec', argv: ['git', 'push', 'origin', 'main'], command: null, cwd: '/workspace', env: {} });
    expect(Object.isFrozen(run)).toBe(true);
    // a forged decision for a denied ask does not authorize anything
    const denied = queue.submit(argvAsk('s1', ['rm', '-rf', '/']));
    queue.decide(denied.id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
    await denied.decision;
    const forged = { ...d, id: denied.id, digest: queue.get(denied.id)?.digest ?? '' };
    expect(code(() => queue.authorize(forged, { kind: 'exec', argv: ['rm', '-rf', '/'], cwd: '/workspace' }))).toBe('E_APPROVAL_MISMATCH');
  });

  it('a session grant lets the same action through without a prompt, and nothing else', async () => {
    const ask = argvAsk('s1', ['npm', 'test'], { env: { CI: '1' } });
    const first = queue.submit(ask);
    queue.decide(first.id, { decision: 'approve', digest: queue.get(first.id)?.digest ?? '', scope: 'session', by: 'user:a', channel: 'terminal' });
    expect(await first.decision).toMatchObject({ approved: true, scope: 'session', via: 'prompt' });

    const again = await queue.request(argvAsk('s1', ['npm', 'test'], { env: { CI: '1' } }));
    expect(again).toMatchObject({ approved: true, via: 'session-grant', scope: 'session', id: first.id, by: 'user:a', waitedMs: 0 });
    expect(queue.authorize(again, { kind: 'exec', argv: ['npm', 'test'], cwd: '/workspace', env: { CI: '1' } }).kind).toBe('exec');
    expect(queue.list({ status: 'pending' })).toHaveLength(0);

    // the same words in another session, another cwd, another env, with one more argument: asked again
    const variants = [
      argvAsk('s2', ['npm', 'test'], { env: { CI: '1' } }),
      argvAsk('s1', ['npm', 'test'], { env: { CI: '1' }, cwd: '/workspace/sub' }),
      argvAsk('s1', ['npm', 'test'], { env: { CI: '1', NODE_OPTIONS: '--require=/tmp/x.js' } }),
      argvAsk('s1', ['npm', 'test'], {}),
      argvAsk('s1', ['npm', 'test', '--', '--bail'], { env: { CI: '1' } }),
      commandAsk('s1', 'npm test', [execPart(['npm', 'test'])]),
    ];
    const pending = variants.map((v) => queue.submit(v));
    expect(new Set(pending.map((p) => p.id)).size).toBe(variants.length);
    for (const p of pending) expect(await isPending(p.decision, 5)).toBe(true);
    expect(queue.stats('s1')).toMatchObject({ autoApproved: 1, prompts: 6, pending: 5 });
    // and the grant does not authorize a different action either
    expect(code(() => queue.authorize(again, { kind: 'exec', argv: ['npm', 'test', 'x'], cwd: '/workspace', env: { CI: '1' } }))).toBe('E_APPROVAL_MISMATCH');
    queue.endSession('s1');
    queue.endSession('s2');
    for (const p of pending) expect((await p.decision).approved).toBe(false);
    // ending the session drops its grants
    expect(queue.grants('s1')).toEqual([]);
  });

  it('a session grant never covers an action that differs from the one approved (property)', async () => {
    const first = queue.submit(argvAsk('s1', ['git', 'status']));
    queue.decide(first.id, { decision: 'approve', digest: queue.get(first.id)?.digest ?? '', scope: 'session', by: 'user:a', channel: 'terminal' });
    await first.decision;
    const granted = JSON.stringify(['git', 'status']);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('git', 'status', ' status', 'status ', 'Status', '-s', 'rm', '', 'git status'), { minLength: 1, maxLength: 3 }),
        fc.constantFrom('/workspace', '/workspace/', '/tmp'),
        async (argv, cwd) => {
          const d = queue.submit(argvAsk('s1', argv, { cwd }));
          const auto = !(await isPending(d.decision, 0));
          expect(auto).toBe(JSON.stringify(argv) === granted && cwd === '/workspace');
          if (!auto) queue.decide(d.id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
          await d.decision;
        },
      ),
      { numRuns: 100 },
    );
  });

  it('groups pending asks into batches with counts, and approves a batch except its destructive asks', async () => {
    const safe1 = queue.submit(argvAsk('s1', ['ls', 'src']));
    const safe2 = queue.submit(argvAsk('s1', ['ls', 'test']));
    queue.submit(argvAsk('s1', ['ls', 'test']));
    const rm = queue.submit(argvAsk('s1', ['rm', '-rf', 'build']));
    const net = queue.submit(networkAsk('s1', 'example.com'));
    const batches = queue.batches();
    expect(batches.map((b) => [b.category, b.ruleId, b.prompts, b.asks, b.destructive])).toEqual([
      ['exec', 'exec.default', 3, 4, 1],
      ['network', 'network.default', 1, 1, 0],
    ]);
    const exec = batches[0];
    if (exec === undefined) throw new Error('no batch');
    const all = exec.items.map((r) => ({ id: r.id, digest: r.digest }));
    expect(code(() => queue.decideBatch(all, { decision: 'approve', by: 'user:a', channel: 'web' }))).toBe('E_APPROVAL_INVALID');
    // nothing in the refused batch was decided
    expect(queue.list({ status: 'pending' })).toHaveLength(4);
    const safe = exec.items.filter((r) => !r.destructive).map((r) => ({ id: r.id, digest: r.digest }));
    expect(code(() => queue.decideBatch([...safe.slice(0, 1), { id: safe[1]?.id ?? '', digest: '0'.repeat(64) }], { decision: 'approve', by: 'user:a', channel: 'web' }))).toBe('E_APPROVAL_MISMATCH');
    expect(queue.decideBatch(safe, { decision: 'approve', by: 'user:a', channel: 'web' })).toHaveLength(2);
    expect((await safe1.decision).approved && (await safe2.decision).approved).toBe(true);
    queue.decideBatch([{ id: rm.id, digest: queue.get(rm.id)?.digest ?? '' }, { id: net.id, digest: queue.get(net.id)?.digest ?? '' }], { decision: 'deny', reason: 'no', by: 'user:a', channel: 'web' });
    expect(await rm.decision).toMatchObject({ approved: false, reason: 'no' });
    expect(code(() => queue.decideBatch([{ id: safe1.id, digest: queue.get(safe1.id)?.digest ?? '' }], { decision: 'approve', by: 'user:a', channel: 'web' }))).toBe('E_APPROVAL_DECIDED');
  });

  it('counts prompts per session', async () => {
    const a = queue.submit(argvAsk('s9', ['a']));
    queue.submit(argvAsk('s9', ['a']));
    const b = queue.submit(argvAsk('s9', ['b']), { timeoutMs: 20 });
    queue.decide(a.id, { decision: 'approve', digest: queue.get(a.id)?.digest ?? '', scope: 'session', by: 'user:a', channel: 'terminal' });
    await b.decision;
    await queue.request(argvAsk('s9', ['a']));
    expect(queue.stats('s9')).toEqual({ sessionId: 's9', prompts: 2, asks: 3, merged: 1, autoApproved: 1, approved: 1, denied: 0, expired: 1, pending: 0 });
    expect(queue.stats('nobody')).toEqual({ sessionId: 'nobody', prompts: 0, asks: 0, merged: 0, autoApproved: 0, approved: 0, denied: 0, expired: 0, pending: 0 });
  });

  it('sees decisions made by another process on the same file', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['git', 'push']));
    const other = createApprovalQueue({ stateDir: state.dir });
    try {
      expect(other.list({ status: 'pending' }).map((r) => r.id)).toEqual([id]);
      other.decide(id, { decision: 'approve', digest: other.get(id)?.digest ?? '', by: 'user:b', channel: 'terminal' });
    } finally {
      other.close();
    }
    expect(await decision).toMatchObject({ approved: true, by: 'user:b' });
  });

  it('tells watchers of new asks and decisions, from any process', async () => {
    const seen: string[] = [];
    const stop = queue.watch((c) => seen.push(`${c.type}:${c.record.subject}`));
    const other = createApprovalQueue({ stateDir: state.dir });
    const p = other.submit(argvAsk('s1', ['echo', 'hi']), { timeoutMs: 60_000 });
    other.submit(argvAsk('s1', ['echo', 'hi']), { timeoutMs: 60_000 });
    for (let i = 0; i < 100 && seen.length < 1; i++) await delay(20);
    other.decide(p.id, { decision: 'deny', by: 'user:b', channel: 'terminal' });
    for (let i = 0; i < 100 && !seen.some((s) => s.startsWith('decided')); i++) await delay(20);
    stop();
    expect(seen[0]).toMatch(/^(requested|merged):echo hi$/);
    expect(seen.at(-1)).toBe('decided:echo hi');
    await p.decision;
    other.close();
  });

  it('refuses an ask whose verdict is not ask, or that is malformed', () => {
    const deny = { ...argvAsk('s1', ['rm']), decision: { verdict: 'deny' as const, ruleId: 'x', reason: 'r', parts: [] } };
    expect(code(() => queue.submit(deny))).toBe('E_APPROVAL_INVALID');
    expect(code(() => queue.submit({ ...argvAsk('s1', ['ls']), action: { kind: 'exec', argv: [] } }))).toBe('E_APPROVAL_INVALID');
    expect(code(() => queue.submit(argvAsk('s1', ['ls']), { timeoutMs: 0 }))).toBe('E_APPROVAL_INVALID');
    expect(code(() => queue.decide('ap_nope', { decision: 'deny', by: 'user:a', channel: 'terminal' }))).toBe('E_APPROVAL_NOT_FOUND');
  });

  it('resolves unique id prefixes', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['ls']));
    expect(queue.resolveId(id)).toBe(id);
    expect(queue.resolveId(id.slice(0, 8))).toBe(id);
    expect(queue.resolveId(id.slice(3, 9))).toBe(id);
    expect(code(() => queue.resolveId('ap_'))).toBe('E_APPROVAL_NOT_FOUND');
    queue.decide(id, { decision: 'deny', by: 'user:a', channel: 'terminal' });
    await decision;
  });

  it('an ask that cannot be audited is denied and not left waiting', () => {
    const q2 = createApprovalQueue({
      stateDir: state.dir,
      publish: (e) => {
        if (e.type === 'approval.requested') throw new Error('audit log is full');
      },
    });
    try {
      expect(() => q2.submit(argvAsk('s1', ['ls']))).toThrow('audit log is full');
      const [r] = q2.list({ status: 'denied' });
      expect(r?.resolution).toMatchObject({ by: 'airlock', reason: 'the ask could not be recorded in the audit log' });
    } finally {
      q2.close();
    }
  });

  it('closing rejects waiting actions but keeps their asks', async () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['ls']));
    queue.close();
    await expect(decision).rejects.toMatchObject({ code: 'E_APPROVAL_CLOSED' });
    const again = createApprovalQueue({ stateDir: state.dir });
    expect(again.get(id)?.status).toBe('pending');
    again.close();
  });

  it('the stored action cannot be changed behind the queue, and a forged row is never shown', () => {
    const { id, decision } = queue.submit(argvAsk('s1', ['ls']), { timeoutMs: 60_000 });
    // settled by the status written below, or rejected when the queue closes: either way not awaited here
    decision.catch(() => undefined);
    const db = new Database(approvalsDbPath(state.dir));
    try {
      expect(() => db.prepare('UPDATE asks SET action = ? WHERE id = ?').run(JSON.stringify({ kind: 'exec', argv: ['rm', '-rf', '/'], command: null, cwd: null, env: {} }), id)).toThrow(/cannot change/);
      expect(() => db.prepare("UPDATE asks SET status = 'approved' WHERE id = ?").run(id)).not.toThrow();
      expect(() => db.prepare("UPDATE asks SET status = 'denied' WHERE id = ?").run(id)).toThrow(/final/);
      // a row inserted with an action that does not match its digest
      db.prepare(
        `INSERT INTO asks (id, session_id, category, digest, action, subject, rule_id, reason, parts, destructive, rule_proposal, created_ms, expires_ms, status, seq)
         SELECT 'ap_forged', session_id, category, digest, ?, 'ls', rule_id, reason, parts, 0, rule_proposal, created_ms, expires_ms, 'pending', seq + 1000 FROM asks WHERE id = ?`,
      ).run(JSON.stringify({ kind: 'exec', argv: ['rm', '-rf', '/'], command: null, cwd: null, env: {} }), id);
    } finally {
      db.close();
    }
    expect(queue.list({ status: 'pending' }).map((r) => r.id)).not.toContain('ap_forged');
    expect(code(() => queue.get('ap_forged'))).toBe('E_APPROVAL_STORE');
  });
});
