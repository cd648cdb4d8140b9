/**
 * Verification of one session's log: the chain record by record, the signed checkpoints
 * against it (truncation, a rewrite consistent with itself), and the index as a second
 * witness. Reports the first bad seq; a bad log is a finding, not an exception.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { CanonicalJsonError, canonicalJson } from './canonical.js';
import { parseCheckpointLine, verifyCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { genesisHash, leafHash, nodeHash, recordHash } from './hash.js';
import type { AuditIndex } from './index-db.js';
import type { VerifyKey } from './keys.js';
import { parseRecordLine, TRAILER_LENGTH } from './record.js';

/** What kind of damage a problem is. */
export type VerifyProblemKind =
  /** The log file is gone, though the index or checkpoints know the session. */
  | 'missing'
  /** A line is not a record (bad JSON, a missing field). */
  | 'malformed'
  /** A record of another session was put in this log. */
  | 'wrong-session'
  /** A record's content does not match its hash. */
  | 'edited'
  /** Records are missing from the sequence. */
  | 'deleted'
  /** A record was added (a second record with a seq already seen, or a forged link). */
  | 'inserted'
  /** Records are out of order. */
  | 'reordered'
  /** The log ends before a signed checkpoint (or before records the index saw). */
  | 'truncated'
  /** A checkpoint's signature or form is invalid. */
  | 'bad-checkpoint'
  /** The chain is consistent but not with what a checkpoint signed: it was rewritten. */
  | 'checkpoint-mismatch'
  /** Records follow the final checkpoint written when the session ended. */
  | 'after-final'
  /** The index recorded a different hash for a seq than the log has now. */
  | 'index-mismatch';

/** One finding. */
export interface VerifyProblem {
  kind: VerifyProblemKind;
  /** The first seq it affects. */
  seq: number;
  message: string;
}

/** The result of verifying one session. */
export interface VerifyReport {
  sessionId: string;
  /** True when nothing is wrong. */
  ok: boolean;
  /** Records that verified, from seq 1 on, before the first problem. */
  records: number;
  /** The chain hash of the last good record (null when there is none). */
  head: string | null;
  /** The first bad seq, or null when intact. */
  firstBadSeq: number | null;
  problems: VerifyProblem[];
  /** Things that are not damage but limit what verification can prove. */
  warnings: string[];
  checkpoints: { found: number; valid: number; lastValidSeq: number | null; final: boolean };
}

/** What {@link verifySessionLog} reads. */
export interface VerifyInput {
  sessionId: string;
  logPath: string;
  checkpointPath: string;
  /** The installation's public key; without it checkpoints cannot be trusted. */
  key: VerifyKey | null;
  /** The index, as a second witness of each record's hash. */
  index: AuditIndex | null;
}

const READ_BLOCK = 8 * 1024 * 1024;

/** Calls `fn` for every newline-terminated line of the file; returns the bytes of a torn tail. */
function forEachLine(path: string, fn: (line: string, lineNo: number) => boolean): number {
  const fd = openSync(path, 'r');
  try {
    const block = Buffer.allocUnsafe(READ_BLOCK);
    let carry: Buffer = Buffer.alloc(0);
    let lineNo = 0;
    for (;;) {
      const n = readSync(fd, block, 0, block.length, null);
      if (n === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, block.subarray(0, n)]) : block.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
        lineNo++;
        if (!fn(data.toString('utf8', start, nl), lineNo)) return 0;
        start = nl + 1;
      }
      // Copy: `block` is reused by the next read.
      carry = Buffer.from(data.subarray(start));
    }
    return carry.length;
  } finally {
    closeSync(fd);
  }
}

function loadCheckpoints(input: VerifyInput, problems: VerifyProblem[]): Checkpoint[] {
  const bySig = new Map<string, Checkpoint>();
  if (existsSync(input.checkpointPath)) {
    const text = readFileSync(input.checkpointPath, 'utf8');
    const lines = text.split('\n');
    // The last element is '' after a final newline, or a torn line from a crash.
    lines.pop();
    lines.forEach((line, i) => {
      const cp = parseCheckpointLine(line);
      if (typeof cp === 'string') {
        problems.push({ kind: 'bad-checkpoint', seq: 0, message: `checkpoint line ${i + 1}: ${cp}` });
      } else {
        bySig.set(cp.sig, cp);
      }
    });
  }
  // Checkpoints the index holds count too: deleting them from the file alone hides nothing.
  if (input.index !== null) for (const cp of input.index.checkpoints(input.sessionId)) bySig.set(cp.sig, cp);
  return [...bySig.values()].sort((a, b) => a.seq - b.seq);
}

/** Verifies one session's log. Never throws for damage; I/O errors do throw. */
export function verifySessionLog(input: VerifyInput): VerifyReport {
  const { sessionId } = input;
  const problems: VerifyProblem[] = [];
  const warnings: string[] = [];
  const checkpoints = loadCheckpoints(input, problems);

  // Which checkpoints can be trusted.
  const trusted: Checkpoint[] = [];
  for (const cp of checkpoints) {
    if (cp.session !== sessionId) {
      problems.push({
        kind: 'bad-checkpoint',
        seq: cp.seq,
        message: `checkpoint at seq ${cp.seq} names session ${JSON.stringify(cp.session)}.`,
      });
    } else if (input.key === null) {
      // Reported once below.
    } else if (cp.keyId !== input.key.keyId || !verifyCheckpoint(input.key, cp)) {
      problems.push({
        kind: 'bad-checkpoint',
        seq: cp.seq,
        message: `checkpoint at seq ${cp.seq} has an invalid signature${cp.keyId !== input.key.keyId ? ` (signed by key ${cp.keyId}, expected ${input.key.keyId})` : ''}.`,
      });
    } else {
      trusted.push(cp);
    }
  }
  if (input.key === null && checkpoints.length > 0) {
    // Fail closed: deleting the public key must not switch truncation detection off.
    problems.push({
      kind: 'bad-checkpoint',
      seq: checkpoints[0]?.seq ?? 0,
      message: `${checkpoints.length} checkpoints cannot be checked: there is no public key; pass the pinned one with --public-key.`,
    });
  }
  const cpAt = new Map<number, Checkpoint[]>();
  for (const cp of trusted) cpAt.set(cp.seq, [...(cpAt.get(cp.seq) ?? []), cp]);
  const finalCp = trusted
    .filter((c) => c.final)
    .reduce<Checkpoint | null>((a, c) => (a === null || c.seq < a.seq ? c : a), null);
  const lastTrusted = trusted[trusted.length - 1] ?? null;

  // The index as a second witness, read in step with the log a slice at a time (bounded memory).
  const indexLastSeq = input.index?.lastSeq(sessionId) ?? 0;
  const INDEX_SLICE = 8192;
  let slice = new Map<number, string>();
  let sliceEnd = 0;
  const indexHashAt = (seq: number): string | undefined => {
    if (input.index === null || seq > indexLastSeq) return undefined;
    if (seq > sliceEnd || seq <= sliceEnd - INDEX_SLICE) {
      slice = input.index.hashesBetween(sessionId, seq, seq + INDEX_SLICE - 1);
      sliceEnd = seq + INDEX_SLICE - 1;
    }
    return slice.get(seq);
  };
  let expected = 1;
  let prev = genesisHash(sessionId);
  let prevHex = prev.toString('hex');
  let lastGoodCheckpointSeq = 0;
  let firstIndexMismatch: number | null = null;
  let chainBroken = false;
  // After a gap, the rest of the log is scanned for the missing seq: found later means
  // the records were reordered, not deleted.
  let lookFor: { seq: number; problem: VerifyProblem } | null = null;
  const fail = (kind: VerifyProblemKind, seq: number, message: string): VerifyProblem => {
    const problem = { kind, seq, message };
    problems.push(problem);
    chainBroken = true;
    return problem;
  };

  const sessionToken = JSON.stringify(sessionId);
  const prevField = ',"prev":"';
  const sessionPart = `,"session":${sessionToken},"time":`;
  /** Checks a record whose own hash verified against the checkpoints and the index, and advances. */
  const accept = (seq: number, hash: Buffer, hashHex: string): boolean => {
    const known = indexHashAt(seq);
    if (known !== undefined && known !== hashHex && firstIndexMismatch === null) {
      firstIndexMismatch = seq;
      problems.push({
        kind: 'index-mismatch',
        seq,
        message: `seq ${seq} has hash ${hashHex.slice(0, 12)}… but the index recorded ${known.slice(0, 12)}… when it was written.`,
      });
    }
    for (const cp of cpAt.get(seq) ?? []) {
      if (cp.hash !== hashHex) {
        // A rewrite that recomputed the chain; the index may still say where it starts.
        const from =
          firstIndexMismatch !== null && firstIndexMismatch > lastGoodCheckpointSeq
            ? firstIndexMismatch
            : lastGoodCheckpointSeq + 1;
        fail(
          'checkpoint-mismatch',
          from,
          `the chain at seq ${seq} differs from the checkpoint signed at ${cp.time}: records after seq ${lastGoodCheckpointSeq} were rewritten.`,
        );
        return false;
      }
      lastGoodCheckpointSeq = seq;
    }
    prev = hash;
    prevHex = hashHex;
    expected++;
    return true;
  };

  const missing = !existsSync(input.logPath);
  if (missing) {
    if (checkpoints.length > 0 || indexLastSeq > 0 || input.index?.hasSession(sessionId) === true) {
      problems.push({ kind: 'missing', seq: 1, message: `the log file ${input.logPath} is missing.` });
    }
  } else {
    const torn = forEachLine(input.logPath, (line) => {
      if (lookFor !== null) {
        const later = parseRecordLine(line);
        if (typeof later !== 'string' && later.seq === lookFor.seq) {
          lookFor.problem.kind = 'reordered';
          lookFor.problem.message = `seq ${lookFor.seq} is out of place: records were reordered.`;
          return false;
        }
        return true;
      }
      // Fast path for a line as the writer wrote it: its body is the canonical encoding,
      // so it is hashed as it stands, without parsing. A match proves the bytes are the
      // ones that were hashed; anything else takes the full path below, which decides.
      const t = line.length - TRAILER_LENGTH;
      if (t > 0 && line.startsWith(prevField, t) && line.startsWith(prevHex, t + prevField.length)) {
        const body = `${line.slice(0, t)}}`;
        const hash = nodeHash(prev, leafHash(body));
        const hashHex = hash.toString('hex');
        if (line.endsWith(`${prevHex}","hash":"${hashHex}"}`) && bodyNames(body, expected, sessionPart))
          return accept(expected, hash, hashHex);
      }
      const r = parseRecordLine(line);
      if (typeof r === 'string') {
        fail('malformed', expected, `the record expected at seq ${expected} is malformed: ${r}.`);
        return false;
      }
      if (r.session !== sessionId) {
        fail(
          'wrong-session',
          expected,
          `the record at seq ${expected} belongs to session ${JSON.stringify(r.session)}: it was inserted.`,
        );
        return false;
      }
      if (r.seq > expected) {
        lookFor = {
          seq: expected,
          problem: fail(
            'deleted',
            expected,
            `seq ${expected} is missing: the record after seq ${expected - 1} is seq ${r.seq}; records were deleted.`,
          ),
        };
        return true;
      }
      if (r.seq < expected) {
        // A record moved later shows up first as a gap (handled above), so a seq seen
        // before can only be a copy or a forgery carrying an old number.
        fail(
          'inserted',
          r.seq,
          `seq ${r.seq} appears again after seq ${expected - 1}: a record was inserted.`,
        );
        return false;
      }
      let data: string;
      try {
        data = canonicalJson(r.data);
      } catch (err) {
        const why = err instanceof CanonicalJsonError ? err.message : String(err);
        fail('malformed', expected, `the data of seq ${expected} cannot be encoded: ${why}.`);
        return false;
      }
      const hash = recordHash(prev, r.seq, r.time, r.session, r.type, data);
      const hashHex = hash.toString('hex');
      if (r.prev !== prevHex) {
        const selfConsistent =
          recordHash(Buffer.from(r.prev, 'hex'), r.seq, r.time, r.session, r.type, data).toString('hex') ===
          r.hash;
        if (selfConsistent) {
          fail(
            'inserted',
            expected,
            `seq ${expected} does not link to seq ${expected - 1} (its prev is ${r.prev.slice(0, 12)}…): a record was inserted or the log spliced.`,
          );
        } else {
          fail('edited', expected, `seq ${expected} does not match its hash: it was edited.`);
        }
        return false;
      }
      if (hashHex !== r.hash) {
        fail('edited', expected, `seq ${expected} does not match its hash: it was edited.`);
        return false;
      }
      return accept(r.seq, hash, hashHex);
    });
    if (torn > 0 && !chainBroken) {
      warnings.push(
        `the log ends in ${torn} bytes without a newline: a write cut short by a crash, never acknowledged; ignored.`,
      );
    }
  }

  const records = expected - 1;
  const last = records;
  if (!chainBroken && !missing) {
    if (finalCp !== null && last > finalCp.seq) {
      problems.push({
        kind: 'after-final',
        seq: finalCp.seq + 1,
        message: `records ${finalCp.seq + 1}–${last} follow the final checkpoint written when the session ended.`,
      });
    }
    if (lastTrusted !== null && lastTrusted.seq > last) {
      problems.push({
        kind: 'truncated',
        seq: last + 1,
        message: `the log ends at seq ${last} but a checkpoint signed at ${lastTrusted.time} covers seq ${lastTrusted.seq}: records ${last + 1}–${lastTrusted.seq} were removed.`,
      });
    } else if (indexLastSeq > last) {
      problems.push({
        kind: 'truncated',
        seq: last + 1,
        message: `the log ends at seq ${last} but the index saw records up to seq ${indexLastSeq}: the end of the log was removed.`,
      });
    }
  }
  if (finalCp === null && problems.length === 0) {
    warnings.push(
      lastTrusted === null
        ? 'no checkpoint yet: removal of records from the end cannot be detected by the log alone.'
        : `the session has no final checkpoint (still running, or it crashed): records after seq ${lastTrusted.seq} could be removed without detection.`,
    );
  }
  const firstBadSeq = problems.length === 0 ? null : Math.min(...problems.map((p) => p.seq));
  return {
    sessionId,
    ok: problems.length === 0,
    records,
    head: records === 0 ? null : prevHex,
    firstBadSeq,
    problems: problems.sort((a, b) => a.seq - b.seq),
    warnings,
    checkpoints: {
      found: checkpoints.length,
      valid: trusted.length,
      lastValidSeq: lastTrusted?.seq ?? null,
      final: finalCp !== null,
    },
  };
}

/**
 * True when a canonical body carries this seq and session (`sessionPart` is
 * `,"session":"ID","time":`). They follow the data, and
 * `,"seq":` cannot occur inside a JSON string (its quotes would be escaped), so the last
 * occurrence is the field.
 */
function bodyNames(body: string, seq: number, sessionPart: string): boolean {
  const at = body.lastIndexOf(',"seq":');
  if (at < 0) return false;
  const seqText = String(seq);
  return body.startsWith(seqText, at + 7) && body.startsWith(sessionPart, at + 7 + seqText.length);
}
