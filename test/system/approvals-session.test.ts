/**
 * Approvals attached to a live session: an `ask` waits for a person, runs exactly what the
 * person approved (not what the caller's arrays say by then), a denial or a timeout never
 * reaches the sandbox, a write's ask shows its diff and is bound to its content, session
 * grants cover repeats, and a rule grant changes the policy for what follows.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, type ApprovalQueue, type ApprovalRecord } from '../../src/approvals/index.js';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

const POLICY = `
version: 1
extends: ./asks.yaml
approvals:
  timeout: 3
exec:
  default: deny
  rules:
    - { id: touch-asks, command: touch, level: ask }
    - { id: mkdir-asks, command: mkdir, level: ask }
    - { id: ls-ok, command: ls, level: allow }
files:
  read: ['/workspace/**']
  write: ['/workspace/**']
  writeLevel: allow
  protected: ['/workspace/guarded/**']
  protectedLevel: ask
`;

const ASKS = `
version: 1
exec:
  rules:
    - { id: pwd-asks, command: pwd, level: ask }
`;

let ws: string;
let stateDir: string;
let queue: ApprovalQueue;
let session: Session;
const events: AirlockEvent[] = [];

/** Resolves with the next pending ask of the session. */
function nextAsk(): Promise<ApprovalRecord> {
  return new Promise((resolve) => {
    const pending = queue.list({ status: 'pending', sessionId: session.id });
    const first = pending[0];
    if (first !== undefined) {
      resolve(first);
      return;
    }
    const stop = queue.watch(() => {
      const rec = queue.list({ status: 'pending', sessionId: session.id })[0];
      if (rec !== undefined) {
        stop();
        resolve(rec);
      }
    });
  });
}

beforeAll(async () => {
  ws = tempDir('appr-ws');
  stateDir = tempDir('appr-state');
  writeFileSync(join(ws, 'airlock.yaml'), POLICY);
  // An ask from a file the policy builds on: a rule grant is written to the policy itself.
  writeFileSync(join(ws, 'asks.yaml'), ASKS);
  queue = createApprovalQueue({ stateDir, validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
  session = await createSession({
    workspace: ws,
    stateDir,
    policy: loadPolicy({ path: join(ws, 'airlock.yaml') }),
    approvals: queue,
    // The assertions look at the project from the host; staging is tested on its own.
    workspaceMode: 'direct',
  });
  session.events.subscribe((e) => events.push(e));
});

afterAll(async () => {
  await session.destroy();
  queue.close();
  cleanupTemp();
});

describe('approvals attached to a session', () => {
  it('approvals.session-ask: an asked command waits, and runs once a person approves it', async () => {
    const run = session.exec(['touch', 'approved.txt']);
    const ask = await nextAsk();
    expect(ask.action).toMatchObject({ kind: 'exec', argv: ['touch', 'approved.txt'] });
    expect(existsSync(join(ws, 'approved.txt'))).toBe(false);
    queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' });
    const r = await run;
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(ws, 'approved.txt'))).toBe(true);
    const types = events.map((e) => e.type);
    expect(types.indexOf('approval.requested')).toBeLessThan(types.indexOf('approval.granted'));
    expect(types.lastIndexOf('exec.started')).toBeGreaterThan(types.indexOf('approval.granted'));
  });

  it('approvals.session-ask: a denied command never reaches the sandbox, and the error says a person denied it', async () => {
    const run = session.exec(['touch', 'denied.txt']);
    const ask = await nextAsk();
    queue.decide(ask.id, { decision: 'deny', by: 'user:test', channel: 'test', reason: 'not now' });
    await expect(run).rejects.toMatchObject({ code: 'E_POLICY_DENIED', message: expect.stringMatching(/a person denied it.*not now/) as unknown });
    expect(existsSync(join(ws, 'denied.txt'))).toBe(false);
  });

  it('approvals.session-timeout: nobody answering within the policy timeout is a deny', async () => {
    await expect(session.exec(['touch', 'expired.txt'])).rejects.toMatchObject({
      code: 'E_POLICY_DENIED',
      message: expect.stringMatching(/nobody answered within 3 s/) as unknown,
    });
    expect(existsSync(join(ws, 'expired.txt'))).toBe(false);
    expect(events.some((e) => e.type === 'approval.expired')).toBe(true);
  });

  it('approvals.no-widening: changing the caller argv after the ask does not change what runs', async () => {
    const argv = ['touch', 'shown.txt'];
    const run = session.exec(argv);
    const ask = await nextAsk();
    argv[1] = 'swapped.txt';
    queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' });
    expect((await run).exitCode).toBe(0);
    expect(existsSync(join(ws, 'shown.txt'))).toBe(true);
    expect(existsSync(join(ws, 'swapped.txt'))).toBe(false);
  });

  it('approvals.file-write: an asked write shows its diff, and the approval is bound to that content', async () => {
    mkdirSync(join(ws, 'guarded'));
    const content = Buffer.from('line one\nline two\n');
    const run = session.writeFile('guarded/notes.txt', content);
    const ask = await nextAsk();
    expect(ask.action).toMatchObject({ kind: 'file.write', path: '/workspace/guarded/notes.txt' });
    expect(ask.action).toHaveProperty('contentSha256', createHash('sha256').update('line one\nline two\n').digest('hex'));
    expect(ask.diff ?? '').toMatch(/\+line one\n\+line two/);
    content.write('LINE ONE'); // the caller changes its buffer while the person looks
    queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' });
    await run;
    // What landed is what the person saw, not what the buffer says now.
    expect(readFileSync(join(ws, 'guarded', 'notes.txt'), 'utf8')).toBe('line one\nline two\n');
  });

  it('approvals.session-grant: a session grant covers the same action again without a prompt', async () => {
    const first = session.exec(['mkdir', '-p', 'granted']);
    const ask = await nextAsk();
    queue.decide(ask.id, { decision: 'approve', digest: ask.digest, scope: 'session', by: 'user:test', channel: 'test' });
    expect((await first).exitCode).toBe(0);
    const again = await session.exec(['mkdir', '-p', 'granted']);
    expect(again.exitCode).toBe(0);
    expect(queue.list({ status: 'pending', sessionId: session.id })).toHaveLength(0);
  });

  it('approvals.cancel-while-waiting: a signal to a command that waits for a person cancels it and withdraws the ask; nothing runs', async () => {
    const proc = session.spawn(['touch', 'cancelled.txt']);
    const ask = await nextAsk();
    proc.kill('SIGKILL'); // what the session host does when its client goes away
    await expect(proc.wait()).rejects.toMatchObject({ code: 'E_EXEC_CANCELLED', message: 'touch cancelled.txt: cancelled by SIGKILL while it waited for approval; it never started' });
    // Withdrawn: nobody is left to approve an action that will not run.
    expect(queue.get(ask.id)?.resolution).toMatchObject({ status: 'denied', by: 'airlock', channel: 'system', reason: 'its caller cancelled it before anyone answered' });
    expect(() => queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' })).toThrow(expect.objectContaining({ code: 'E_APPROVAL_DECIDED' }));
    expect(events.find((e) => e.type === 'approval.denied' && e.data.approvalId === ask.id)?.data).toMatchObject({ by: 'airlock', channel: 'system' });
    await session.exec(['ls']);
    expect(events.some((e) => e.type === 'exec.started' && e.data.argv.includes('cancelled.txt'))).toBe(false);
    expect(existsSync(join(ws, 'cancelled.txt'))).toBe(false);
  });

  it('approvals.rule-grant: a confirmed rule is written, the policy reloaded (and audited), and the same command runs without a prompt', async () => {
    const first = session.exec(['pwd']);
    const ask = await nextAsk();
    expect(ask.ruleProposal.ok).toBe(true);
    if (!ask.ruleProposal.ok) return;
    queue.decide(ask.id, { decision: 'approve', digest: ask.digest, scope: 'rule', ruleText: ask.ruleProposal.text, by: 'user:test', channel: 'test' });
    expect((await first).stdout).toBe('/workspace\n');
    expect(events.filter((e) => e.type === 'policy.reload').map((e) => e.data)).toEqual([
      { file: join(ws, 'airlock.yaml'), ok: true, approvalId: ask.id, execId: expect.any(String) as unknown },
    ]);
    const again = await session.exec(['pwd']);
    expect(again.decision?.verdict).toBe('allow');
    expect(queue.list({ status: 'pending', sessionId: session.id })).toHaveLength(0);
  });

  it('approvals.reload-failure: when the policy file no longer loads after a rule grant, the session keeps its stricter policy and says so', async () => {
    const dir = tempDir('appr-reload');
    writeFileSync(join(dir, 'base.yaml'), POLICY.replace('extends: ./asks.yaml', `extends: ${join(ws, 'asks.yaml')}`));
    writeFileSync(join(dir, 'airlock.yaml'), 'version: 1\nextends: ./base.yaml\n');
    // A queue that does not validate the file before writing (another tool on the state directory).
    const plain = createApprovalQueue({ stateDir });
    const other = await createSession({ workspace: ws, stateDir, policy: loadPolicy({ path: join(dir, 'airlock.yaml') }), approvals: plain, workspaceMode: 'direct' });
    const seen: AirlockEvent[] = [];
    other.events.subscribe((e) => seen.push(e));
    const waitAsk = (): Promise<ApprovalRecord> =>
      new Promise((resolve) => {
        const stop = plain.watch(() => {
          const rec = plain.list({ status: 'pending', sessionId: other.id })[0];
          if (rec !== undefined) {
            stop();
            resolve(rec);
          }
        });
      });
    try {
      const asked = waitAsk();
      const first = other.exec(['pwd']);
      const ask = await asked;
      rmSync(join(dir, 'base.yaml'));
      if (!ask.ruleProposal.ok) throw new Error('no rule proposed');
      plain.decide(ask.id, { decision: 'approve', digest: ask.digest, scope: 'rule', ruleText: ask.ruleProposal.text, by: 'user:test', channel: 'test' });
      expect((await first).exitCode).toBe(0);
      const reload = seen.filter((e) => e.type === 'policy.reload');
      expect(reload).toHaveLength(1);
      expect(reload[0]?.data).toMatchObject({ ok: false, approvalId: ask.id, error: expect.stringContaining('base.yaml') as unknown });
      // The rule did not take effect: the same command asks again.
      const askedAgain = waitAsk();
      const second = other.exec(['pwd']);
      const again = await askedAgain;
      expect(again.id).not.toBe(ask.id);
      plain.decide(again.id, { decision: 'deny', by: 'user:test', channel: 'test' });
      await expect(second).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
    } finally {
      await other.destroy();
      plain.close();
    }
  });
});
