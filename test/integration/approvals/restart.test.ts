/**
 * A restart of the host process keeps pending asks: a new process lists and decides them,
 * and the waiting side re-attaches by id. Real child processes, killed with SIGKILL.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import { bundleFixture } from './helpers.js';
import { tempStateDir } from '../../unit/approvals/helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
let bundle: string;
let state: ReturnType<typeof tempStateDir>;

beforeAll(async () => {
  bundle = await bundleFixture(join(here, 'fixtures', 'host.ts'), 'approvals-host');
  state = tempStateDir('restart');
});
afterAll(() => {
  state.cleanup();
  rmSync(bundle, { force: true });
});

/** Starts the fixture and yields its JSON lines as they come. */
function host(args: string[]): { child: ChildProcess; next: () => Promise<Record<string, unknown>>; done: Promise<number | null> } {
  const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiting: ((v: Record<string, unknown>) => void)[] = [];
  let buf = '';
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (c: string) => {
    buf += c;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const v = JSON.parse(buf.slice(0, i)) as Record<string, unknown>;
      buf = buf.slice(i + 1);
      const w = waiting.shift();
      if (w) w(v);
      else lines.push(v);
    }
  });
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => { resolve(code); }));
  return {
    child,
    next: () => {
      const v = lines.shift();
      if (v !== undefined) return Promise.resolve(v);
      return Promise.race([
        new Promise<Record<string, unknown>>((r) => waiting.push(r)),
        done.then((code) => {
          throw new Error(`host exited (${String(code)}) before the next line: ${stderr}`);
        }),
      ]);
    },
    done,
  };
}

describe('restarting the host process', () => {
  it('keeps a pending ask: another process decides it, and the re-attached waiter gets the decision', async () => {
    const first = host(['ask', state.dir, JSON.stringify(['git', 'push', '--force'])]);
    const requested = await first.next();
    expect(requested).toMatchObject({ event: { type: 'approval.requested', sessionId: 's-restart' } });
    const { id } = (await first.next()) as { id: string };
    expect(id).toMatch(/^ap_[a-z2-9]{10}$/);
    first.child.kill('SIGKILL');
    await first.done;

    // a new process (this one) sees everything a person needs, and nothing was decided by the crash
    const q = createApprovalQueue({ stateDir: state.dir });
    try {
      const r = q.get(id);
      expect(r).toMatchObject({ id, status: 'pending', subject: 'git push --force', category: 'exec', destructive: true });
      expect(r?.action).toEqual({ kind: 'exec', argv: ['git', 'push', '--force'], command: null, cwd: '/workspace', env: {} });

      // the restarted host re-attaches by id and waits
      const second = host(['wait', state.dir, id, JSON.stringify(['git', 'push', '--force'])]);
      // give it time to attach; it must still be waiting, since nobody decided
      await new Promise((res) => setTimeout(res, 300));
      expect(second.child.exitCode).toBeNull();
      q.decide(id, { decision: 'approve', digest: r?.digest ?? '', by: 'user:operator', channel: 'terminal' });
      const granted = await second.next();
      expect(granted).toMatchObject({ event: { type: 'approval.granted', data: { approvalId: id, by: 'user:operator', channel: 'terminal', scope: 'once' } } });
      expect(await second.next()).toMatchObject({ decision: { approved: true, id, by: 'user:operator' } });
      expect(await second.next()).toEqual({ run: { kind: 'exec', argv: ['git', 'push', '--force'], command: null, cwd: '/workspace', env: {} } });
      expect(await second.done).toBe(0);
    } finally {
      q.close();
    }
  });

  it('a decision made while no host was running is delivered when one re-attaches, and used once only', async () => {
    const first = host(['ask', state.dir, JSON.stringify(['make', 'release'])]);
    await first.next();
    const { id } = (await first.next()) as { id: string };
    first.child.kill('SIGKILL');
    await first.done;
    const q = createApprovalQueue({ stateDir: state.dir });
    try {
      q.decide(id, { decision: 'approve', digest: q.get(id)?.digest ?? '', by: 'user:operator', channel: 'terminal' });
    } finally {
      q.close();
    }
    const second = host(['wait', state.dir, id, JSON.stringify(['make', 'release'])]);
    expect(await second.next()).toMatchObject({ event: { type: 'approval.granted', data: { approvalId: id } } });
    expect(await second.next()).toMatchObject({ decision: { approved: true } });
    expect(await second.next()).toMatchObject({ run: { argv: ['make', 'release'] } });
    await second.done;
    // a second re-attach gets the decision again, but cannot run the action a second time
    const third = host(['wait', state.dir, id, JSON.stringify(['make', 'release'])]);
    await third.next();
    await third.next();
    expect(await third.next()).toEqual({ refused: `approval ${id}: the approval was already used for every ask it answered` });
    await third.done;
  });
});
