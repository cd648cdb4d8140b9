import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { attachAudit, auditPaths, openAuditStore } from '../../../src/audit/index.js';
import type { AuditStore } from '../../../src/audit/index.js';
import { AirlockError, isAirlockError } from '../../../src/errors/index.js';
import { createEvent, createEventChannel } from '../../../src/events/index.js';
import type { AirlockEvent } from '../../../src/events/index.js';
import { createRedactor } from '../../../src/redact/index.js';
import { readLines, sampleEvent, tempStateDir, writeLines, writeSession } from './helpers.js';

let state: ReturnType<typeof tempStateDir>;
let store: AuditStore;

beforeEach(() => {
  state = tempStateDir();
  store = openAuditStore({ stateDir: state.dir });
});
afterEach(() => {
  store.close();
  state.cleanup();
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return isAirlockError(err) ? err.code : `not an AirlockError: ${String(err)}`;
  }
  return 'no error';
}

function sessionFile(id: string, suffix = '.jsonl'): string {
  return join(auditPaths(state.dir).sessions, `${id}${suffix}`);
}

describe('AuditLog', () => {
  it('acknowledges appends in order with chained hashes, and stores exactly what it acknowledged', async () => {
    const log = store.openLog('s1', { checkpointEvery: 4 });
    const receipts = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => log.append(sampleEvent('s1', i))),
    );
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const lines = readLines(sessionFile('s1')).map(
      (l) => JSON.parse(l) as { seq: number; prev: string; hash: string },
    );
    expect(lines.map((l) => l.hash)).toEqual(receipts.map((r) => r.hash));
    for (let i = 1; i < lines.length; i++) expect(lines[i]?.prev).toBe(lines[i - 1]?.hash);
    expect((await log.flush()).seq).toBe(9);
    // A line is its canonical body plus the chain fields: checkable with no JSON library.
    const raw = readLines(sessionFile('s1'))[0] ?? '';
    const leaf = createHash('sha256')
      .update(Buffer.from([0]))
      .update(`${raw.slice(0, -149)}}`)
      .digest();
    const node = createHash('sha256')
      .update(Buffer.from([1]))
      .update(Buffer.from(lines[0]?.prev ?? '', 'hex'))
      .update(leaf)
      .digest('hex');
    expect(node).toBe(receipts[0]?.hash);
    await log.close();
    const cps = readLines(sessionFile('s1', '.checkpoints.jsonl')).map(
      (l) => JSON.parse(l) as { seq: number; final: boolean },
    );
    expect(cps.map((c) => [c.seq, c.final])).toEqual([
      [4, false],
      [8, false],
      [9, true],
    ]);
    expect(store.verify('s1').ok).toBe(true);
  });

  it('audit.redact-before-write: redacts before hashing: no secret reaches the log, the checkpoints or the index', async () => {
    const secret = 'pa55-w0rd-only-the-broker-knows';
    const github = ['ghp', '_', 'x'.repeat(36)].join('');
    const log = store.openLog('s-secret', { redactor: createRedactor({ secrets: [secret] }) });
    await log.append(
      createEvent('exec.started', 's-secret', {
        execId: 'e1',
        argv: ['curl', '-u', `me:${secret}`, '-H', `Authorization: token ${github}`],
        cwd: '/w',
      }),
    );
    await log.append(
      createEvent('agent.tool_call', 's-secret', {
        face: 'mcp',
        tool: 'run_command',
        toolCallId: 't1',
        arguments: { cmd: `echo ${secret}`, [secret]: 1 },
      }),
    );
    await log.close();
    // Index the records too, as any reader does.
    expect(store.query({ sessionId: 's-secret' })).toHaveLength(2);
    const dir = auditPaths(state.dir).root;
    const files = [
      ...readdirSync(auditPaths(state.dir).sessions).map((f) => join(auditPaths(state.dir).sessions, f)),
      ...readdirSync(dir)
        .filter((f) => f.startsWith('index.sqlite'))
        .map((f) => join(dir, f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      const bytes = readFileSync(f);
      expect(bytes.includes(secret), f).toBe(false);
      expect(bytes.includes(github), f).toBe(false);
    }
    const [first] = store.readSession('s-secret');
    expect(first?.data).toEqual({
      execId: 'e1',
      argv: ['curl', '-u', 'me:[REDACTED:secret]', '-H', 'Authorization: token [REDACTED:github-token]'],
      cwd: '/w',
    });
  });

  it('rejects a malformed event with E_AUDIT_INVALID_EVENT and writes nothing', async () => {
    const log = store.openLog('s2');
    const bad = [
      { ...sampleEvent('s2', 1), sessionId: 'other' },
      { ...sampleEvent('s2', 1), type: 'exec.begun' },
      { ...sampleEvent('s2', 1), time: 'yesterday' },
      { ...sampleEvent('s2', 1), data: { when: new Date() } },
    ] as unknown as AirlockEvent[];
    const messages: string[] = [];
    for (const e of bad) {
      try {
        await log.append(e);
      } catch (err) {
        expect(isAirlockError(err) && err.code).toBe('E_AUDIT_INVALID_EVENT');
        messages.push((err as Error).message);
      }
    }
    expect(messages).toEqual([
      'event "exec.started" for session s2: it belongs to session "other"',
      'event "exec.begun" for session s2: unknown event type',
      'event "exec.started" for session s2: time "yesterday" is not an ISO 8601 date',
      'event "exec.started" for session s2: data.when: only plain objects, arrays and primitives can be recorded',
    ]);
    expect(log.head.seq).toBe(0);
    await log.append(sampleEvent('s2', 2));
    await log.close();
    expect(readLines(sessionFile('s2'))).toHaveLength(1);
  });

  it('audit.single-writer: allows one writer per session: a second open is E_AUDIT_LOCKED, a dead writer’s lock is taken over', async () => {
    const log = store.openLog('s3');
    expect(await codeOf(() => store.openLog('s3'))).toBe('E_AUDIT_LOCKED');
    await log.close({ final: false });
    // A lock left by a process that no longer exists (it was kill -9'd).
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    writeFileSync(sessionFile('s3', '.lock'), `${dead.stdout}\n`);
    const again = store.openLog('s3');
    await again.append(sampleEvent('s3', 1));
    await again.close();
    expect(existsSync(sessionFile('s3', '.lock'))).toBe(false);
  });

  it('resumes a log that was closed without ending the session, continuing the chain', async () => {
    const first = store.openLog('s4');
    await first.append(sampleEvent('s4', 1));
    await first.close({ final: false });
    const second = store.openLog('s4');
    expect(second.head.seq).toBe(1);
    expect((await second.append(sampleEvent('s4', 2))).seq).toBe(2);
    await second.close();
    expect(store.verify('s4')).toMatchObject({ ok: true, records: 2 });
    expect(await codeOf(() => store.openLog('s4'))).toBe('E_AUDIT_CLOSED');
  });

  it('refuses to extend a log whose last record was tampered with', async () => {
    await writeSession(store, 's5', 3, { final: false });
    const path = sessionFile('s5');
    writeFileSync(path, readFileSync(path, 'utf8').replace('"port":443', '"port":80'));
    expect(await codeOf(() => store.openLog('s5'))).toBe('E_AUDIT_CORRUPT');
    expect(existsSync(sessionFile('s5', '.lock'))).toBe(false);
  });

  it('refuses to extend a log cut short behind a checkpoint (audit.detect-truncate at resume)', async () => {
    await writeSession(store, 's9', 25, { checkpointEvery: 10, final: false });
    writeLines(sessionFile('s9'), readLines(sessionFile('s9')).slice(0, 15));
    let err: unknown;
    try {
      store.openLog('s9');
    } catch (e) {
      err = e;
    }
    expect(isAirlockError(err) && err.code).toBe('E_AUDIT_CORRUPT');
    expect((err as Error).message).toBe(
      `cannot resume the audit log ${sessionFile('s9')}: it ends at seq 15 but a checkpoint covers seq 20.`,
    );
  });

  it('closes once when closed twice at the same time, and refuses appends from the first call on', async () => {
    const log = store.openLog('s10');
    await log.append(sampleEvent('s10', 1));
    const first = log.close();
    const late = log.append(sampleEvent('s10', 2));
    const second = log.close();
    expect(await codeOf(late)).toBe('E_AUDIT_CLOSED');
    expect(await first).toBe(await second);
    expect((await first)?.seq).toBe(1);
    expect(store.verify('s10')).toMatchObject({ ok: true, records: 1 });
  });

  it('rejects appends after close', async () => {
    const log = store.openLog('s6');
    await log.close();
    expect(await codeOf(log.append(sampleEvent('s6', 1)))).toBe('E_AUDIT_CLOSED');
  });

  it('audit.store-private: keeps the store private: directories 0700, files 0600, the signing key 0600', async () => {
    await writeSession(store, 's7', 2);
    const p = auditPaths(state.dir);
    expect(statSync(p.root).mode & 0o777).toBe(0o700);
    expect(statSync(p.sessions).mode & 0o777).toBe(0o700);
    expect(statSync(p.privateKey).mode & 0o777).toBe(0o600);
    expect(statSync(sessionFile('s7')).mode & 0o777).toBe(0o600);
    expect(statSync(sessionFile('s7', '.checkpoints.jsonl')).mode & 0o777).toBe(0o600);
  });

  it('refuses a signing key others can read', () => {
    const p = auditPaths(state.dir);
    store.publicKey();
    chmodSync(p.privateKey, 0o644);
    const other = openAuditStore({ stateDir: state.dir });
    try {
      let err: unknown;
      try {
        other.openLog('s8');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AirlockError);
      expect((err as AirlockError).code).toBe('E_AUDIT_KEY');
      expect((err as AirlockError).hint).toBe(`Run: chmod 600 ${p.privateKey}`);
    } finally {
      other.close();
    }
  });
});

describe('attachAudit', () => {
  it('audit.session-isolation: records each session’s channel into its own log, never the other’s', async () => {
    const chA = createEventChannel();
    const chB = createEventChannel();
    const a = attachAudit(chA, { store, sessionId: 'sa' });
    const b = attachAudit(chB, { store, sessionId: 'sb' });
    for (let i = 1; i <= 5; i++) {
      chA.publish(sampleEvent('sa', i));
      chB.publish(sampleEvent('sb', i + 100));
    }
    expect((await a.flush()).seq).toBe(5);
    expect((await b.flush()).seq).toBe(5);
    await a.close();
    await b.close();
    expect(store.readSession('sa').every((r) => r.session === 'sa')).toBe(true);
    expect(store.readSession('sb').map((r) => r.data)).toEqual(
      [101, 102, 103, 104, 105].map((i) => sampleEvent('sb', i).data),
    );
  });

  it('audit.fail-closed: reports the first failure once, and flush() rejects from then on (nothing fails open)', async () => {
    const channel = createEventChannel();
    const errors: AirlockError[] = [];
    const audit = attachAudit(channel, { store, sessionId: 'sc', onError: (e) => errors.push(e) });
    channel.publish(sampleEvent('sc', 1));
    channel.publish({ ...sampleEvent('sc', 2), sessionId: 'intruder' });
    channel.publish({ ...sampleEvent('sc', 3), sessionId: 'intruder' });
    expect(await codeOf(audit.flush())).toBe('E_AUDIT_INVALID_EVENT');
    expect(errors.map((e) => e.code)).toEqual(['E_AUDIT_INVALID_EVENT']);
    expect(audit.failure?.code).toBe('E_AUDIT_INVALID_EVENT');
    await audit.close();
    expect(store.readSession('sc')).toHaveLength(1);
  });

  it('record() resolves once the event is durable, for the decision that must precede an exec', async () => {
    const channel = createEventChannel();
    const audit = attachAudit(channel, { stateDir: state.dir, sessionId: 'sd' });
    const receipt = await audit.record(
      createEvent('policy.decision', 'sd', {
        action: 'exec',
        subject: 'rm -rf /',
        verdict: 'deny',
        reason: 'destructive',
        rule: 'exec.deny[0]',
      }),
    );
    expect(receipt.seq).toBe(1);
    expect(readLines(sessionFile('sd'))).toHaveLength(1);
    const final = await audit.close();
    expect(final).toMatchObject({ seq: 1, final: true, hash: receipt.hash });
  });

  it('refuses to guess where to store: exactly one of store and stateDir', () => {
    expect(() => attachAudit(createEventChannel(), { sessionId: 'x' })).toThrow(
      'attachAudit: pass exactly one of `store` and `stateDir`.',
    );
  });
});

describe('the index', () => {
  it('answers queries across sessions by time, type and verdict', async () => {
    await writeSession(store, 'q1', 16);
    await writeSession(store, 'q2', 8);
    const denies = store.query({ verdicts: ['deny'] });
    expect(denies.map((r) => `${r.session}:${r.seq}`)).toEqual(['q1:8', 'q2:8', 'q1:16']);
    const execs = store.query({ types: ['exec.started'], sessionId: 'q2' });
    expect(execs.map((r) => r.seq)).toEqual([1, 5]);
    const late = store.query({ since: new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 15)) });
    expect(late.map((r) => `${r.session}:${r.seq}`)).toEqual(['q1:15', 'q1:16']);
    expect(store.query({ limit: 2, newest: true }).map((r) => `${r.session}:${r.seq}`)).toEqual([
      'q1:15',
      'q1:16',
    ]);
  });

  it('is rebuilt from the logs when it is lost', async () => {
    await writeSession(store, 'r1', 12);
    store.close();
    const p = auditPaths(state.dir);
    for (const f of readdirSync(p.root).filter((n) => n.startsWith('index.sqlite'))) rmSync(join(p.root, f));
    store = openAuditStore({ stateDir: state.dir });
    expect(store.listSessions()).toEqual([
      {
        sessionId: 'r1',
        records: 12,
        firstTime: '2025-01-01T00:00:00.001Z',
        lastTime: '2025-01-01T00:00:00.012Z',
        checkpoints: 2,
        finalSeq: 12,
      },
    ]);
    expect(store.query({ types: ['exec.finished'] })).toHaveLength(3);
  });
});
