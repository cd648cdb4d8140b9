/**
 * The terminal channel: the keyboard-driven screen (as a state machine over a real
 * queue) and the announcer for a terminal the agent owns.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attachTerminalAnnouncer, createApprovalQueue, createApprovalsScreen } from '../../../src/approvals/index.js';
import type { ApprovalQueue } from '../../../src/approvals/index.js';
import { argvAsk, delay, tempStateDir } from '../../unit/approvals/helpers.js';

let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;

beforeEach(() => {
  state = tempStateDir('terminal');
  queue = createApprovalQueue({ stateDir: state.dir, pollIntervalMs: 20 });
});
afterEach(() => {
  queue.close();
  state.cleanup();
});

const DOWN = '\x1b[B';

describe('the approvals screen', () => {
  it('shows batches with counts and moves with the arrow keys', async () => {
    const a = queue.submit(argvAsk('s1', ['ls', 'a']));
    queue.submit(argvAsk('s1', ['ls', 'a']));
    const b = queue.submit(argvAsk('s1', ['rm', '-rf', 'b']));
    const screen = createApprovalsScreen({ queue, by: 'user:t' });
    const lines = screen.render(100, 20);
    expect(lines[0]).toBe('airlock approvals: 2 pending (3 with repeats) in 1 batch');
    expect(lines).toContain('s1 · exec · exec.default: 2 asks (3 with repeats), 1 destructive');
    expect(lines).toContain(`> ${a.id}  ls a  ×2`);
    expect(lines).toContain(`  ${b.id}  rm -rf b  [destructive]`);
    expect(screen.selected?.id).toBe(a.id);
    screen.key(DOWN);
    expect(screen.selected?.id).toBe(b.id);
    screen.key('\r');
    expect(screen.mode).toBe('details');
    expect(screen.render(100, 40).join('\n')).toContain(`  digest ${queue.get(b.id)?.digest ?? ''}`);
    expect(screen.key('q')).toBe('quit');
    queue.endSession('s1');
    await Promise.all([a.decision, b.decision]);
  });

  it('approves, approves for the session, and denies with a typed reason', async () => {
    const a = queue.submit(argvAsk('s1', ['make', 'a']));
    const b = queue.submit(argvAsk('s1', ['make', 'b']));
    const c = queue.submit(argvAsk('s1', ['make', 'c']));
    const screen = createApprovalsScreen({ queue, by: 'user:t' });
    screen.key('a');
    expect(await a.decision).toMatchObject({ approved: true, scope: 'once', by: 'user:t', channel: 'terminal' });
    expect(screen.status).toBe(`approved ${a.id} once`);
    screen.key('s');
    expect(await b.decision).toMatchObject({ approved: true, scope: 'session' });
    screen.key('d');
    expect(screen.mode).toBe('reason');
    for (const k of ['n', 'o', 'p', 'x', '\x7f', 'e']) screen.key(k);
    expect(screen.render(100, 30).join('\n')).toContain(`Deny ${c.id}. Reason: nope_`);
    screen.key('\r');
    expect(await c.decision).toMatchObject({ approved: false, reason: 'nope' });
    expect(screen.render(100, 10)).toContain('nothing is waiting for approval');
  });

  it('a batch approval leaves destructive asks out and covers exactly what was on screen', async () => {
    const safe = [queue.submit(argvAsk('s1', ['ls', '1'])), queue.submit(argvAsk('s1', ['ls', '2']))];
    const rm = queue.submit(argvAsk('s1', ['rm', 'x']));
    const screen = createApprovalsScreen({ queue, by: 'user:t' });
    screen.key('A');
    expect(screen.mode).toBe('batch');
    const text = screen.render(100, 30).join('\n');
    expect(text).toContain('Approve (once) these 2 asks of session s1, rule exec.default?');
    expect(text).toContain('1 destructive ask is left out; decide it one by one.');
    // an ask that arrives while the confirmation is on screen is not part of what is confirmed
    const late = queue.submit(argvAsk('s1', ['ls', '3']));
    screen.refresh();
    expect(screen.mode).toBe('batch');
    screen.key('y');
    expect(screen.status).toBe('approved 2 asks');
    for (const s of safe) expect(await s.decision).toMatchObject({ approved: true });
    expect(queue.get(late.id)?.status).toBe('pending');
    expect(queue.get(rm.id)?.status).toBe('pending');
    // the rm ask alone: the batch key has nothing to approve
    queue.decide(late.id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    screen.refresh();
    screen.key('A');
    expect(screen.status).toBe('every ask in this batch is destructive: decide them one by one');
    screen.key('D');
    screen.key('y');
    expect(await rm.decision).toMatchObject({ approved: false });
  });

  it('leaves a confirmation when its ask was decided elsewhere', async () => {
    const a = queue.submit(argvAsk('s1', ['make']));
    const screen = createApprovalsScreen({ queue, by: 'user:t' });
    screen.key('d');
    queue.decide(a.id, { decision: 'approve', digest: queue.get(a.id)?.digest ?? '', by: 'user:other', channel: 'web' });
    screen.refresh();
    expect(screen.mode).toBe('list');
    expect(screen.status).toBe(`${a.id} was decided elsewhere`);
    screen.key('\r');
    expect((await a.decision).approved).toBe(true);
  });

  it('shows the rule text and writes it only on y', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-tui-policy-'));
    const policyFile = join(dir, 'airlock.yaml');
    writeFileSync(policyFile, 'version: 1\n');
    try {
      const a = queue.submit(argvAsk('s1', ['npm', 'run', 'lint'], { policyFile }));
      const screen = createApprovalsScreen({ queue, by: 'user:t' });
      screen.key('r');
      expect(screen.mode).toBe('rule');
      const text = screen.render(120, 40).join('\n');
      expect(text).toContain('        subcommand: run lint');
      expect(text).toContain('note: covers exactly "npm run lint"; anything more is asked again');
      screen.key('n');
      expect(readFileSync(policyFile, 'utf8')).toBe('version: 1\n');
      screen.key('r');
      screen.key('y');
      expect(await a.decision).toMatchObject({ approved: true, scope: 'rule' });
      expect(readFileSync(policyFile, 'utf8')).toContain('subcommand: run lint');
      // no rule for a destructive command with arguments: the screen says why
      const b = queue.submit(argvAsk('s1', ['rm', '-rf', 'dist'], { policyFile }));
      screen.refresh();
      screen.key('r');
      expect(screen.status).toBe('no rule: rm -rf dist is destructive, and a grant for "rm" would be a wildcard over its arguments ("-rf" "dist"); approve once or for this session');
      queue.endSession('s1');
      await b.decision;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('announcing on a terminal the agent owns', () => {
  it('writes one escaped line per new ask and keeps the window title, restoring it after', async () => {
    const written: string[] = [];
    const stop = attachTerminalAnnouncer(queue, { stream: { write: (s: string) => written.push(s), isTTY: true }, url: 'http://127.0.0.1:9/' });
    const a = queue.submit(argvAsk('s1', ['echo', '\x1b]2;pwned\x07']));
    const repeat = queue.submit(argvAsk('s1', ['echo', '\x1b]2;pwned\x07']));
    for (let i = 0; i < 100 && written.length < 3; i++) await delay(10);
    await delay(50);
    // the repeat merged into the first ask is not announced again, and the title is not rewritten
    expect(written).toEqual([
      `\r\nairlock: approval needed ${a.id} [exec] echo $'\\e]2;pwned\\x07': decide with airlock approve ${a.id}, or http://127.0.0.1:9/\r\n`,
      '\x1b[22;2t',
      '\x1b]2;airlock: 1 approval waiting - airlock approvals\x07',
    ]);
    queue.decide(a.id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    await Promise.all([a.decision, repeat.decision]);
    for (let i = 0; i < 100 && !written.includes('\x1b[23;2t'); i++) await delay(10);
    expect(written.at(-1)).toBe('\x1b[23;2t');
    stop();
    expect(queue.channels).toEqual([]);
  });
});

describe('the approvals screen when the list moves under the cursor', () => {
  it('refuses the first decision key after the selected ask was decided elsewhere', async () => {
    const a = queue.submit(argvAsk('s1', ['make', 'a']));
    const b = queue.submit(argvAsk('s1', ['make', 'b']));
    const screen = createApprovalsScreen({ queue, by: 'user:t' });
    expect(screen.selected?.id).toBe(a.id);
    queue.decide(a.id, { decision: 'deny', by: 'user:other', channel: 'web' });
    screen.refresh();
    expect(screen.selected?.id).toBe(b.id);
    screen.key('a');
    expect(screen.status).toBe(`the ask under the cursor changed; it is now ${b.id}: look at it, then press the key again`);
    expect(queue.get(b.id)?.status).toBe('pending');
    screen.key('a');
    expect(await b.decision).toMatchObject({ approved: true });
    await a.decision;
  });
});
