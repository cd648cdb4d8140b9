/**
 * Verification of one session's log: the chain record by record, the signed checkpoints
 * against it (truncation, a rewrite consistent with itself), and the index as a second
 * witness. Reports the first bad seq; a bad log is a finding, not an exception.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { CanonicalJsonError, canonicalJson } from './canonical.js';
import { parseCheckpointLine, verifyCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { canonicalBody, createChainWalker, genesisHash, leafHash, nodeHash, recordHash } from './hash.js';
import type { AuditIndex } from './index-db.js';
import type { VerifyKey } from './keys.js';
import { encodeRecordLine, parseRecordLine, TRAILER_LENGTH } from './record.js';

/** What kind of damage a problem is. */
export type VerifyProblemKind =
  /** The log file is gone, though the index or checkpoints know the session. */
  | 'missing'
  /** A line is not a record (bad JSON, a missing field). */
  | 'malformed'
  /** A record of another session was put in this log. */
  | 'wrong-session'
  /** A record's content does not match its hash, or its bytes are not the canonical encoding the hash covers. */
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

/**
 * Calls `fn(buf, start, end, lineNo)` for every newline-terminated line of the file, the
 * line being `buf[start, end)` without its newline. The file is read in large blocks into
 * one reused buffer (no string per line, no copy per block). The byte before `start` is
 * never part of a line the callback sees again (it is the previous newline, or a spare
 * byte at 0), so the callback may overwrite it; anything else it changes it must restore.
 * Stops when `fn` returns false. Returns the length of a torn tail (0 when stopped).
 */
function forEachLine(
  path: string,
  fn: (buf: Buffer, start: number, end: number, lineNo: number) => boolean,
): number {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(READ_BLOCK + 1);
    // An unfinished line carried over from the previous block, at buf[1, 1 + carry).
    let carry = 0;
    let lineNo = 0;
    for (;;) {
      if (1 + carry === buf.length) {
        // One line longer than the buffer: grow it.
        const bigger = Buffer.allocUnsafe(2 * buf.length);
        buf.copy(bigger, 1, 1, 1 + carry);
        buf = bigger;
      }
      const n = readSync(fd, buf, 1 + carry, buf.length - 1 - carry, null);
      if (n === 0) break;
      const data = buf.subarray(0, 1 + carry + n);
      let start = 1;
      for (let nl = data.indexOf(0x0a, 1 + carry); nl >= 0; nl = data.indexOf(0x0a, start)) {
        lineNo++;
        if (!fn(data, start, nl, lineNo)) return 0;
        start = nl + 1;
      }
      carry = data.length - start;
      buf.copyWithin(1, start, data.length);
    }
    return carry;
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
  const walker = createChainWalker(genesisHash(sessionId).toString('hex'));
  let lastGoodCheckpointSeq = 0;
  let firstIndexMismatch: number | null = null;
  let chainBroken = false;
  // Records up to this seq are vouched for by a trusted checkpoint (if the chain reaches it
  // intact), so their lines may be checked by hashing their bytes as they stand.
  const covered = lastTrusted?.seq ?? 0;
  // The last seq accepted that way. Up to the first checkpoint the chain matched, the
  // checkpoint proves those bytes are the writer's, and the writer writes only canonical
  // lines; beyond it (a rewrite, a truncated log) their form is checked after the scan.
  let lastFastSeq = 0;
  // The checkpoint-mismatch finding, whose seq a later, closer look may move.
  let rewrite: VerifyProblem | null = null;
  // After a gap, the rest of the log is scanned for the missing seq: found later means
  // the records were reordered, not deleted.
  let lookFor: { seq: number; problem: VerifyProblem } | null = null;
  const fail = (kind: VerifyProblemKind, seq: number, message: string): VerifyProblem => {
    const problem = { kind, seq, message };
    problems.push(problem);
    chainBroken = true;
    return problem;
  };

  /** Checks a record whose own hash verified against the checkpoints and the index, and advances. */
  const accept = (seq: number, hashHex: string): boolean => {
    const known = indexHashAt(seq);
    if (known !== undefined && known !== hashHex && firstIndexMismatch === null) {
      firstIndexMismatch = seq;
      problems.push({
        kind: 'index-mismatch',
        seq,
        message: `seq ${seq} has hash ${hashHex.slice(0, 12)}… but the index recorded ${known.slice(0, 12)}… when it was written.`,
      });
    }
    const atSeq = cpAt.get(seq);
    if (atSeq !== undefined)
      for (const cp of atSeq) {
        if (cp.hash !== hashHex) {
          // A rewrite that recomputed the chain; the index may still say where it starts.
          const from =
            firstIndexMismatch !== null && firstIndexMismatch > lastGoodCheckpointSeq
              ? firstIndexMismatch
              : lastGoodCheckpointSeq + 1;
          rewrite = fail(
            'checkpoint-mismatch',
            from,
            `the chain at seq ${seq} differs from the checkpoint signed at ${cp.time}: records after seq ${lastGoodCheckpointSeq} were rewritten.`,
          );
          return false;
        }
        lastGoodCheckpointSeq = seq;
      }
    walker.advance(hashHex);
    expected++;
    return true;
  };

  // The fast path: a line as the writer writes it is its canonical body with the trailer
  // `,"prev":"<hex>","hash":"<hex>"}` in place of the closing brace, so its leaf hash is
  // taken over the line's own bytes (0x00 written before them, "}" over the trailer's
  // comma), with no decoding, parsing or re-encoding.
  const sessionPart = Buffer.from(`,"session":${JSON.stringify(sessionId)},"time":`, 'utf8');
  // The block's ArrayBuffer, looked up once per block rather than once per line.
  let viewOf: Buffer | null = null;
  let viewBuffer: ArrayBufferLike = new ArrayBuffer(0);
  let viewOffset = 0;
  const fastHash = (buf: Buffer, s: number, e: number): string | null => {
    const t = e - TRAILER_LENGTH;
    if (t <= s) return null;
    if (
      !asciiAt(buf, t, PREV_OPEN) ||
      !asciiAt(buf, t + PREV_AT, walker.headHex) ||
      !asciiAt(buf, t + PREV_AT + 64, HASH_OPEN) ||
      buf[e - 2] !== 0x22 ||
      buf[e - 1] !== 0x7d ||
      !namesSeqAndSession(buf, s, t, expected, sessionPart)
    )
      return null;
    buf[s - 1] = 0x00;
    buf[t] = 0x7d;
    if (viewOf !== buf) {
      viewOf = buf;
      viewBuffer = buf.buffer;
      viewOffset = buf.byteOffset;
    }
    const hashHex = walker.nodeHexOfFramedLeaf(new Uint8Array(viewBuffer, viewOffset + s - 1, t - s + 2));
    buf[t] = 0x2c;
    return asciiAt(buf, t + HASH_AT, hashHex) ? hashHex : null;
  };

  /** The full check of one line: decoded, parsed, re-encoded and compared byte for byte. */
  const strict = (raw: Buffer): boolean => {
    const r = parseRecordLine(raw.toString('utf8'));
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
      fail('inserted', r.seq, `seq ${r.seq} appears again after seq ${expected - 1}: a record was inserted.`);
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
    const body = canonicalBody(r.seq, r.time, r.session, r.type, data);
    const prevHex = walker.headHex;
    const hashHex = nodeHash(Buffer.from(prevHex, 'hex'), leafHash(body)).toString('hex');
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
    // The hash covers the canonical bytes, so a line that decodes to the same record in
    // other bytes (spacing, escapes, key order, a repeated key) is an edit too.
    if (!raw.equals(Buffer.from(encodeRecordLine(body, r.prev, r.hash).slice(0, -1), 'utf8'))) {
      fail('edited', expected, `seq ${expected} ${NOT_CANONICAL}: it was edited.`);
      return false;
    }
    return accept(r.seq, hashHex);
  };

  const missing = !existsSync(input.logPath);
  let headHex = walker.headHex;
  if (missing) {
    if (checkpoints.length > 0 || indexLastSeq > 0 || input.index?.hasSession(sessionId) === true) {
      problems.push({ kind: 'missing', seq: 1, message: `the log file ${input.logPath} is missing.` });
    }
  } else {
    const torn = forEachLine(input.logPath, (buf, s, e) => {
      if (lookFor !== null) {
        const later = parseRecordLine(buf.toString('utf8', s, e));
        if (typeof later !== 'string' && later.seq === lookFor.seq) {
          lookFor.problem.kind = 'reordered';
          lookFor.problem.message = `seq ${lookFor.seq} is out of place: records were reordered.`;
          return false;
        }
        return true;
      }
      if (expected <= covered) {
        const hashHex = fastHash(buf, s, e);
        if (hashHex !== null) {
          lastFastSeq = expected;
          return accept(expected, hashHex);
        }
      }
      return strict(buf.subarray(s, e));
    });
    headHex = walker.headHex;
    if (lastFastSeq > lastGoodCheckpointSeq) {
      // Records accepted by the hash of their bytes that no checkpoint vouched for in the
      // end: check their form, as the full path would have, to name the first bad one.
      const from = lastGoodCheckpointSeq + 1;
      forEachLine(input.logPath, (buf, s, e, lineNo) => {
        if (lineNo < from) return true;
        if (lineNo > lastFastSeq) return false;
        const bad = formProblem(buf.subarray(s, e));
        if (bad === null) return true;
        const found: VerifyProblem = {
          kind: bad.kind,
          seq: lineNo,
          message: `seq ${lineNo} ${bad.why}; its hash was recomputed over those bytes, which the writer never does: it was forged.`,
        };
        // The fast path checked this line's prev against the chain, so it is the head before it.
        headHex = buf.toString('latin1', e - TRAILER_LENGTH + PREV_AT, e - TRAILER_LENGTH + PREV_AT + 64);
        expected = lineNo;
        chainBroken = true;
        const r: VerifyProblem | null = rewrite;
        if (r === null) {
          problems.push(found);
        } else {
          // Like the index, this names where the rewrite starts, unless the index named an earlier seq.
          if (firstIndexMismatch === null || firstIndexMismatch > lineNo) r.seq = lineNo;
          problems.splice(problems.indexOf(r), 0, found);
        }
        return false;
      });
    }
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
    head: records === 0 ? null : headHex,
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

// The trailer of a stored line: `,"prev":"` prev-hex `","hash":"` hash-hex `"}`.
const PREV_OPEN = ',"prev":"';
const PREV_AT = PREV_OPEN.length;
const HASH_OPEN = '","hash":"';
const HASH_AT = PREV_AT + 64 + HASH_OPEN.length;

const NOT_CANONICAL =
  'is not byte for byte the canonical encoding its hash covers (spacing, escapes, key order or a repeated key differ)';

/** True when `buf` holds the characters of the ASCII string `text` at `at`. */
function asciiAt(buf: Buffer, at: number, text: string): boolean {
  if (at < 0 || at + text.length > buf.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * True when the body `buf[s, t)` carries this seq and session (`sessionPart` is
 * `,"session":"ID","time":` in UTF-8). They follow the data, and `,"seq":` cannot occur
 * inside a JSON string (its quotes would be escaped), so the last occurrence is the field.
 * Only decides which path a line takes: a line it passes is still hashed, and one it
 * refuses gets the full check.
 */
function namesSeqAndSession(buf: Buffer, s: number, t: number, seq: number, sessionPart: Buffer): boolean {
  let at = -1;
  for (let p = t - 7; p >= s; p--) {
    if (
      buf[p] === 0x2c && // ,
      buf[p + 1] === 0x22 && // "
      buf[p + 2] === 0x73 && // s
      buf[p + 3] === 0x65 && // e
      buf[p + 4] === 0x71 && // q
      buf[p + 5] === 0x22 && // "
      buf[p + 6] === 0x3a // :
    ) {
      at = p;
      break;
    }
  }
  if (at < 0) return false;
  const digits = String(seq);
  if (!asciiAt(buf, at + 7, digits)) return false;
  const from = at + 7 + digits.length;
  if (from + sessionPart.length > t) return false;
  for (let i = 0; i < sessionPart.length; i++) if (buf[from + i] !== sessionPart[i]) return false;
  return true;
}

/**
 * What is wrong with the form of a stored line, or null when it is a record in exactly the
 * canonical form the writer writes.
 */
function formProblem(raw: Buffer): { kind: 'malformed' | 'edited'; why: string } | null {
  const r = parseRecordLine(raw.toString('utf8'));
  if (typeof r === 'string') return { kind: 'malformed', why: `is malformed (${r})` };
  let data: string;
  try {
    data = canonicalJson(r.data);
  } catch (err) {
    const why = err instanceof CanonicalJsonError ? err.message : String(err);
    return { kind: 'malformed', why: `has data that cannot be encoded (${why})` };
  }
  const line = encodeRecordLine(canonicalBody(r.seq, r.time, r.session, r.type, data), r.prev, r.hash);
  return raw.equals(Buffer.from(line.slice(0, -1), 'utf8')) ? null : { kind: 'edited', why: NOT_CANONICAL };
}
