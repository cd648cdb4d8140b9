/**
 * The SQLite index across sessions. It is a cache of the JSONL logs, never the record of
 * truth: it can lag after a crash (it is filled after the log is durable) and it is rebuilt
 * from the logs at any time. Verification also uses it as a second witness: a hash here
 * that differs from the log's, or a record here that the log lost, is reported.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { parseCheckpointLine } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { isSessionId } from './paths.js';
import { parseRecordLine } from './record.js';
import type { AuditRecord } from './record.js';

/** One row to index. */
export interface IndexRow {
  seq: number;
  time: string;
  type: string;
  verdict: string | null;
  hash: string;
  line: string;
}

/** A session as the index knows it. */
export interface SessionSummary {
  sessionId: string;
  /** Records indexed (the highest seq). */
  records: number;
  firstTime: string | null;
  lastTime: string | null;
  checkpoints: number;
  /** Seq of the final checkpoint, or null while the session has not ended. */
  finalSeq: number | null;
}

/** Filters for {@link AuditIndex.query}. All are optional and combine with AND. */
export interface QueryFilter {
  sessionId?: string;
  /** Only records at or after this instant. */
  since?: Date;
  /** Only records before this instant. */
  until?: Date;
  types?: readonly string[];
  verdicts?: readonly string[];
  /** At most this many (the most recent ones when `newest` is set). */
  limit?: number;
  /** Return the newest `limit` records (still in chronological order). */
  newest?: boolean;
  /** Only records indexed after this cursor (for following). */
  afterCursor?: number;
}

/** A record with the index's cursor, for following the index as it grows. */
export interface IndexedRecord {
  cursor: number;
  record: AuditRecord;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS sessions (
  session_id TEXT PRIMARY KEY,
  indexed_bytes INTEGER NOT NULL DEFAULT 0,
  checkpoint_bytes INTEGER NOT NULL DEFAULT 0,
  last_seq INTEGER NOT NULL DEFAULT 0,
  first_time TEXT,
  last_time TEXT,
  final_seq INTEGER
);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY,
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  time TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  type TEXT NOT NULL,
  verdict TEXT,
  hash TEXT NOT NULL,
  line TEXT NOT NULL,
  UNIQUE (session_id, seq)
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ms);
CREATE INDEX IF NOT EXISTS events_type ON events (type, time_ms);
CREATE TABLE IF NOT EXISTS checkpoints (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  sig TEXT NOT NULL,
  body TEXT NOT NULL,
  final INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq, sig)
);
`;

/** Reads `path` from byte `offset` to its end. */
function readFrom(path: string, offset: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(size - offset);
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

/** The complete lines of `buf` (up to its last newline) and how many bytes they span. */
function completeLines(buf: Buffer): { lines: string[]; bytes: number } {
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return { lines: [], bytes: 0 };
  const lines = buf.toString('utf8', 0, end).split('\n');
  return { lines, bytes: end + 1 };
}

/** The verdict column: set for the events that carry one (decisions, network requests). */
export function verdictOf(data: unknown): string | null {
  if (data !== null && typeof data === 'object' && !Array.isArray(data)) {
    const v = (data as Record<string, unknown>).verdict;
    if (typeof v === 'string') return v;
  }
  return null;
}

/** An open index database. One per store; not shared between stores. */
export class AuditIndex {
  readonly #db: Database.Database;
  readonly #insertEvent: Database.Statement<
    [string, number, string, number, string, string | null, string, string]
  >;
  readonly #upsertSession: Database.Statement<[string, number, number, string | null, string | null]>;
  readonly #insertCheckpoint: Database.Statement<[string, number, string, string, number]>;
  readonly #addRows: (sessionId: string, rows: readonly IndexRow[], bytesEnd: number) => void;

  constructor(path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    // The JSONL log is the durable record; the index may lose its last transactions in a
    // power cut and is caught up from the log, so it need not fsync every commit.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    this.#insertEvent = this.#db.prepare(
      'INSERT OR IGNORE INTO events (session_id, seq, time, time_ms, type, verdict, hash, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.#upsertSession = this.#db.prepare(`
      INSERT INTO sessions (session_id, indexed_bytes, last_seq, first_time, last_time) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (session_id) DO UPDATE SET
        indexed_bytes = MAX(indexed_bytes, excluded.indexed_bytes),
        last_seq = MAX(last_seq, excluded.last_seq),
        first_time = COALESCE(first_time, excluded.first_time),
        last_time = COALESCE(excluded.last_time, last_time)`);
    this.#insertCheckpoint = this.#db.prepare(
      'INSERT OR IGNORE INTO checkpoints (session_id, seq, sig, body, final) VALUES (?, ?, ?, ?, ?)',
    );
    this.#addRows = this.#db.transaction((sessionId: string, rows: readonly IndexRow[], bytesEnd: number) => {
      for (const r of rows) {
        const ms = Date.parse(r.time);
        this.#insertEvent.run(
          sessionId,
          r.seq,
          r.time,
          Number.isFinite(ms) ? ms : 0,
          r.type,
          r.verdict,
          r.hash,
          r.line,
        );
      }
      const first = rows[0];
      const last = rows[rows.length - 1];
      this.#upsertSession.run(sessionId, bytesEnd, last?.seq ?? 0, first?.time ?? null, last?.time ?? null);
    });
  }

  /** Registers a session with no records yet (so `ls` shows it). */
  addSession(sessionId: string): void {
    this.#upsertSession.run(sessionId, 0, 0, null, null);
  }

  /** Indexes records that are durable in the log up to byte `bytesEnd`. */
  addRecords(sessionId: string, rows: readonly IndexRow[], bytesEnd: number): void {
    this.#addRows(sessionId, rows, bytesEnd);
  }

  /** Indexes checkpoints. */
  addCheckpoints(sessionId: string, cps: readonly Checkpoint[], bytesEnd?: number): void {
    this.#db.transaction(() => {
      for (const cp of cps) {
        this.#insertCheckpoint.run(sessionId, cp.seq, cp.sig, JSON.stringify(cp), cp.final ? 1 : 0);
        if (cp.final) {
          this.#db
            .prepare('UPDATE sessions SET final_seq = MAX(COALESCE(final_seq, 0), ?) WHERE session_id = ?')
            .run(cp.seq, sessionId);
        }
      }
      if (bytesEnd !== undefined) {
        this.#db
          .prepare('UPDATE sessions SET checkpoint_bytes = MAX(checkpoint_bytes, ?) WHERE session_id = ?')
          .run(bytesEnd, sessionId);
      }
    })();
  }

  /**
   * Brings the index up to date with a session's files: indexes the complete lines past
   * what it has seen. Stops at the first line that does not parse (verification reports it).
   */
  catchUp(sessionId: string, logPath: string, checkpointPath: string): void {
    this.addSession(sessionId);
    const state = this.#db
      .prepare<[string], { indexed_bytes: number; checkpoint_bytes: number }>(
        'SELECT indexed_bytes, checkpoint_bytes FROM sessions WHERE session_id = ?',
      )
      .get(sessionId);
    const from = state?.indexed_bytes ?? 0;
    if (existsSync(logPath)) {
      const { lines, bytes } = completeLines(readFrom(logPath, from));
      const rows: IndexRow[] = [];
      let used = 0;
      for (const line of lines) {
        const r = parseRecordLine(line);
        if (typeof r === 'string' || r.session !== sessionId) break;
        rows.push({ seq: r.seq, time: r.time, type: r.type, verdict: verdictOf(r.data), hash: r.hash, line });
        used += Buffer.byteLength(line, 'utf8') + 1;
      }
      if (rows.length > 0) this.addRecords(sessionId, rows, from + Math.min(used, bytes));
    }
    const cpFrom = state?.checkpoint_bytes ?? 0;
    if (existsSync(checkpointPath)) {
      const { lines, bytes } = completeLines(readFrom(checkpointPath, cpFrom));
      const cps: Checkpoint[] = [];
      for (const line of lines) {
        const cp = parseCheckpointLine(line);
        if (typeof cp === 'string' || cp.session !== sessionId) break;
        cps.push(cp);
      }
      if (cps.length > 0) this.addCheckpoints(sessionId, cps, cpFrom + bytes);
    }
  }

  /** Catches up every session that has a log in `sessionsDir`. */
  catchUpAll(
    sessionsDir: string,
    filesOf: (sessionId: string) => { log: string; checkpoints: string },
  ): void {
    if (!existsSync(sessionsDir)) return;
    for (const name of readdirSync(sessionsDir)) {
      if (!name.endsWith('.jsonl') || name.endsWith('.checkpoints.jsonl')) continue;
      const id = name.slice(0, -'.jsonl'.length);
      // A file the store did not name (a backup copy, an editor's swap file) is no session.
      if (!isSessionId(id)) continue;
      const f = filesOf(id);
      this.catchUp(id, f.log, f.checkpoints);
    }
  }

  /** Every session the index knows, most recently active first. */
  listSessions(): SessionSummary[] {
    return this.#db
      .prepare<
        [],
        {
          session_id: string;
          last_seq: number;
          first_time: string | null;
          last_time: string | null;
          final_seq: number | null;
          cps: number;
        }
      >(
        `SELECT s.session_id, s.last_seq, s.first_time, s.last_time, s.final_seq,
           (SELECT COUNT(*) FROM checkpoints c WHERE c.session_id = s.session_id) AS cps
         FROM sessions s ORDER BY COALESCE(s.last_time, '') DESC, s.session_id`,
      )
      .all()
      .map((r) => ({
        sessionId: r.session_id,
        records: r.last_seq,
        firstTime: r.first_time,
        lastTime: r.last_time,
        checkpoints: r.cps,
        finalSeq: r.final_seq,
      }));
  }

  /** True when the index knows the session. */
  hasSession(sessionId: string): boolean {
    return (
      this.#db
        .prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM sessions WHERE session_id = ?')
        .get(sessionId)?.n === 1
    );
  }

  /** Records matching `filter`, in chronological order (then session, seq). */
  query(filter: QueryFilter): IndexedRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.sessionId !== undefined) {
      where.push('session_id = ?');
      params.push(filter.sessionId);
    }
    if (filter.since !== undefined) {
      where.push('time_ms >= ?');
      params.push(filter.since.getTime());
    }
    if (filter.until !== undefined) {
      where.push('time_ms < ?');
      params.push(filter.until.getTime());
    }
    if (filter.types !== undefined && filter.types.length > 0) {
      where.push(`type IN (${filter.types.map(() => '?').join(', ')})`);
      params.push(...filter.types);
    }
    if (filter.verdicts !== undefined && filter.verdicts.length > 0) {
      where.push(`verdict IN (${filter.verdicts.map(() => '?').join(', ')})`);
      params.push(...filter.verdicts);
    }
    if (filter.afterCursor !== undefined) {
      where.push('id > ?');
      params.push(filter.afterCursor);
    }
    const order = filter.afterCursor !== undefined ? 'id' : 'time_ms, session_id, seq';
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    let sql = `SELECT id, line FROM events ${clause} ORDER BY ${
      filter.newest === true
        ? order
            .split(', ')
            .map((c) => `${c} DESC`)
            .join(', ')
        : order
    }`;
    if (filter.limit !== undefined) {
      sql += ' LIMIT ?';
      params.push(filter.limit);
    }
    const rows = this.#db.prepare<(string | number)[], { id: number; line: string }>(sql).all(...params);
    if (filter.newest === true) rows.reverse();
    const out: IndexedRecord[] = [];
    for (const row of rows) {
      const r = parseRecordLine(row.line);
      if (typeof r !== 'string') out.push({ cursor: row.id, record: r });
    }
    return out;
  }

  /** The highest cursor so far (0 when empty). */
  lastCursor(): number {
    return this.#db.prepare<[], { id: number | null }>('SELECT MAX(id) AS id FROM events').get()?.id ?? 0;
  }

  /** The indexed hashes of a session for seqs `from`..`to` (inclusive), by seq. */
  hashesBetween(sessionId: string, from: number, to: number): Map<number, string> {
    const rows = this.#db
      .prepare<[string, number, number], [number, string]>(
        'SELECT seq, hash FROM events WHERE session_id = ? AND seq BETWEEN ? AND ?',
      )
      .raw(true)
      .all(sessionId, from, to);
    return new Map(rows);
  }

  /** The highest seq indexed for a session (0 when none). */
  lastSeq(sessionId: string): number {
    return (
      this.#db
        .prepare<[string], { s: number | null }>('SELECT MAX(seq) AS s FROM events WHERE session_id = ?')
        .get(sessionId)?.s ?? 0
    );
  }

  /** The checkpoints indexed for a session. */
  checkpoints(sessionId: string): Checkpoint[] {
    const out: Checkpoint[] = [];
    for (const row of this.#db
      .prepare<[string], { body: string }>('SELECT body FROM checkpoints WHERE session_id = ? ORDER BY seq')
      .all(sessionId)) {
      const cp = parseCheckpointLine(row.body);
      if (typeof cp !== 'string') out.push(cp);
    }
    return out;
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}
