import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openAuditStore } from '../../../src/audit/index.js';
import { bundleFixture, tempStateDir } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const child = join(here, 'fixtures', 'append-child.ts');

interface Run {
  acks: [number, string][];
  killed: boolean;
  code: number | null;
  stderr: string;
}

/** Runs the writer; with `killAfter`, sends SIGKILL once that many acks have arrived. */
function runChild(
  stateDir: string,
  session: string,
  mode: 'stream' | 'finish',
  killAfter?: number,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [childBundle, stateDir, session, mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: [number, string][] = [];
    let buf = '';
    let stderr = '';
    let killed = false;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => {
      buf += chunk;
      let nl = buf.indexOf('\n');
      while (nl >= 0) {
        const [word, seq, hash] = buf.slice(0, nl).split(' ');
        if (word === 'ack' && seq !== undefined && hash !== undefined) acks.push([Number(seq), hash]);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf('\n');
      }
      if (killAfter !== undefined && !killed && acks.length >= killAfter) {
        killed = p.kill('SIGKILL');
      }
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    // 'close' waits for stdout to end, so every ack the child printed before dying is counted.
    p.on('close', (code) => {
      resolve({ acks, killed, code, stderr });
    });
  });
}

const state = tempStateDir();
let childBundle: string;
beforeAll(async () => {
  childBundle = await bundleFixture(child, 'append-child');
});
afterAll(() => {
  state.cleanup();
  rmSync(childBundle, { force: true });
});

describe('durability: acknowledged events survive kill -9', () => {
  it('audit.durable-ack: kills the writer mid-stream three times, restarts, verifies, and loses no acknowledged event', async () => {
    const session = 'crash-test';
    // Every acknowledgement, as a list: a seq acknowledged twice (a lost record whose seq
    // was reused after the restart) must count as a loss, not overwrite the first.
    const acked: [number, string][] = [];
    for (const killAfter of [700, 2500, 1200]) {
      const run = await runChild(state.dir, session, 'stream', killAfter);
      expect(run.stderr).toBe('');
      expect(run.killed).toBe(true);
      expect(run.code).toBeNull();
      expect(run.acks.length).toBeGreaterThanOrEqual(killAfter);
      acked.push(...run.acks);
    }
    // A restart: resumes after the torn tail and the stale lock, and ends the session.
    const finish = await runChild(state.dir, session, 'finish');
    expect(finish.stderr).toBe('');
    expect(finish.code).toBe(0);
    acked.push(...finish.acks);

    const store = openAuditStore({ stateDir: state.dir });
    try {
      const report = store.verify(session);
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.checkpoints.final).toBe(true);
      const stored = new Map(store.readSession(session).map((r) => [r.seq, r.hash]));
      let lost = 0;
      for (const [seq, hash] of acked) if (stored.get(seq) !== hash) lost++;
      expect({ acknowledged: acked.length, lost }).toEqual({ acknowledged: acked.length, lost: 0 });
      expect(acked.length).toBeGreaterThanOrEqual(700 + 2500 + 1200 + 5);
      expect(new Set(acked.map(([seq]) => seq)).size).toBe(acked.length);
      // Sequence numbers are dense: the restarts continued the chain, they did not fork it.
      expect([...stored.keys()]).toEqual(Array.from({ length: stored.size }, (_, i) => i + 1));
    } finally {
      store.close();
    }
  });
});
