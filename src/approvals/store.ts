/**
 * The SQLite file behind the approvals queue: one row per ask (merged asks share a row),
 * the session grants, prompt counters, and webhook delivery claims. Several processes
 * open it at once (the session host that waits, `airlock serve`, `airlock approve`); every
 * write bumps a sequence number so each process can find what others changed.
 *
 * Triggers make an ask's action immutable and a decision final, so no code path (and no
 * second process) can change what a person sees after it was shown, or flip a decision.
 */
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { AirlockError, isErrnoException } from '../errors/index.js';
import { parseCanonical } from './canonical.js';
import type {
  ApprovalCategory,
  ApprovalRecord,
  ApprovalResolution,
  ApprovalStatus,
  AskPart,
  GrantScope,
  ResolvedPathLike,
  RuleProposal,
} from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('seq', 0), ('schema', 1);
CREATE TABLE IF NOT EXISTS asks (
  id TEXT PRIMARY KEY,
  session_id TEXT NOT NULL,
  session_name TEXT,
  category TEXT NOT NULL,
  digest TEXT NOT NULL,
  action TEXT NOT NULL,
  subject TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  parts TEXT NOT NULL,
  resolved TEXT,
  diff TEXT,
  policy_file TEXT,
  exec_id TEXT,
  request_id TEXT,
  destructive INTEGER NOT NULL,
  rule_proposal TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 1,
  uses INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
  decided_ms INTEGER,
  decided_by TEXT,
  channel TEXT,
  scope TEXT CHECK (scope IS NULL OR scope IN ('once', 'session', 'rule')),
  decision_reason TEXT,
  rule_text TEXT,
  rule_error TEXT,
  seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS asks_pending ON asks (status, session_id, digest);
CREATE INDEX IF NOT EXISTS asks_seq ON asks (seq);
CREATE INDEX IF NOT EXISTS asks_session ON asks (session_id);
CREATE TRIGGER IF NOT EXISTS asks_action_immutable
  BEFORE UPDATE OF id, session_id, category, digest, action, subject, parts, diff, rule_proposal, created_ms ON asks
  BEGIN SELECT RAISE(ABORT, 'approvals: what an ask shows cannot change'); END;
CREATE TRIGGER IF NOT EXISTS asks_decision_final
  BEFORE UPDATE OF status, decided_by, channel, scope, decided_ms ON asks
  WHEN OLD.status != 'pending'
  BEGIN SELECT RAISE(ABORT, 'approvals: a decision is final'); END;
CREATE TABLE IF NOT EXISTS session_grants (
  session_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  approval_id TEXT NOT NULL,
  granted_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (session_id, digest)
);
CREATE TABLE IF NOT EXISTS session_counters (
  session_id TEXT PRIMARY KEY,
  auto_approved INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deliveries (
  approval_id TEXT NOT NULL,
  target TEXT NOT NULL,
  claimed_ms INTEGER NOT NULL,
  status TEXT NOT NULL,
  detail TEXT,
  PRIMARY KEY (approval_id, target)
);
`;

/** A row of `asks` as SQLite returns it. */
export interface AskRow {
  id: string;
  session_id: string;
  session_name: string | null;
  category: string;
  digest: string;
  action: string;
  subject: string;
  rule_id: string;
  reason: string;
  parts: string;
  resolved: string | null;
  diff: string | null;
  policy_file: string | null;
  exec_id: string | null;
  request_id: string | null;
  destructive: number;
  rule_proposal: string;
  created_ms: number;
  expires_ms: number;
  count: number;
  uses: number;
  status: string;
  decided_ms: number | null;
  decided_by: string | null;
  channel: string | null;
  scope: string | null;
  decision_reason: string | null;
  rule_text: string | null;
  rule_error: string | null;
  seq: number;
}

/** What a new ask row holds. */
export interface NewAsk {
  id: string;
  sessionId: string;
  sessionName: string | null;
  category: ApprovalCategory;
  digest: string;
  action: string;
  subject: string;
  ruleId: string;
  reason: string;
  parts: readonly AskPart[];
  resolved: ResolvedPathLike | null;
  diff: string | null;
  policyFile: string | null;
  execId: string | null;
  requestId: string | null;
  destructive: boolean;
  ruleProposal: RuleProposal;
  createdMs: number;
  expiresMs: number;
}

/** A decision to record on a pending row. */
export interface DecisionWrite {
  status: 'approved' | 'denied' | 'expired';
  by: string;
  channel: string;
  scope: GrantScope | null;
  reason: string | null;
  ruleText: string | null;
}

/** A session grant row. */
export interface GrantRow {
  session_id: string;
  digest: string;
  approval_id: string;
  granted_by: string;
  created_ms: number;
}

function storeError(message: string, cause: unknown): AirlockError {
  return new AirlockError('E_APPROVAL_STORE', `approvals store: ${message}: ${cause instanceof Error ? cause.message : String(cause)}`, {
    hint: 'Check that the state directory exists, is writable by you, and that the disk is not full.',
    cause,
  });
}

/** The path of the approvals database inside a state directory. */
export function approvalsDbPath(stateDir: string): string {
  return join(stateDir, 'approvals', 'approvals.sqlite');
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw storeError(`stored ${what} is not JSON`, cause);
  }
}

const STATUSES: ReadonlySet<string> = new Set(['pending', 'approved', 'denied', 'expired']);
const SCOPES: ReadonlySet<string> = new Set(['once', 'session', 'rule']);

/** Turns a row into a record; the stored action is re-parsed and its digest re-checked. */
export function rowToRecord(row: AskRow): ApprovalRecord {
  const action = parseCanonical(row.action, row.digest);
  if (!STATUSES.has(row.status)) throw storeError(`ask ${row.id} has status ${JSON.stringify(row.status)}`, null);
  const status = row.status as ApprovalStatus;
  let resolution: ApprovalResolution | null = null;
  if (status !== 'pending') {
    resolution = {
      status,
      decidedAt: new Date(row.decided_ms ?? row.expires_ms).toISOString(),
      by: row.decided_by ?? 'airlock',
      channel: row.channel ?? 'system',
      scope: row.scope !== null && SCOPES.has(row.scope) ? (row.scope as GrantScope) : null,
      reason: row.decision_reason,
      ruleText: row.rule_text,
      ruleError: row.rule_error,
    };
  }
  return {
    id: row.id,
    sessionId: row.session_id,
    sessionName: row.session_name,
    category: action.kind,
    action,
    digest: row.digest,
    subject: row.subject,
    ruleId: row.rule_id,
    reason: row.reason,
    parts: parseJson(row.parts, 'parts') as AskPart[],
    resolved: row.resolved === null ? null : (parseJson(row.resolved, 'resolved path') as ResolvedPathLike),
    diff: row.diff,
    policyFile: row.policy_file,
    execId: row.exec_id,
    requestId: row.request_id,
    destructive: row.destructive !== 0,
    ruleProposal: parseJson(row.rule_proposal, 'rule proposal') as RuleProposal,
    createdAt: new Date(row.created_ms).toISOString(),
    expiresAt: new Date(row.expires_ms).toISOString(),
    count: row.count,
    status,
    resolution,
  };
}

/** The approvals database of one state directory, opened by one process. */
export class ApprovalStore {
  readonly path: string;
  private readonly db: Database.Database;

  constructor(stateDir: string) {
    const dir = join(stateDir, 'approvals');
    this.path = approvalsDbPath(stateDir);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      this.db = new Database(this.path);
      chmodSync(this.path, 0o600);
      this.db.pragma('journal_mode = WAL');
      // An ask a person is waiting on must survive a power cut as well as a crash.
      this.db.pragma('synchronous = FULL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
    } catch (cause) {
      if (cause instanceof AirlockError) throw cause;
      throw storeError(`cannot open ${this.path}`, cause);
    }
  }

  /** Runs `fn` in one immediate transaction (a write lock from the start, so reads inside it are current). */
  tx<T>(fn: () => T): T {
    return this.run(() => this.db.transaction(fn).immediate());
  }

  private run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      if (cause instanceof AirlockError) throw cause;
      if (isErrnoException(cause) || cause instanceof Database.SqliteError) throw storeError('database operation failed', cause);
      throw cause;
    }
  }

  private nextSeq(): number {
    const r = this.db.prepare<[], { value: number }>("UPDATE meta SET value = value + 1 WHERE key = 'seq' RETURNING value").get();
    if (r === undefined) throw storeError('sequence row missing', null);
    return r.value;
  }

  /** A number that changes when another connection commits (SQLite's `data_version`). */
  dataVersion(): number {
    return this.run(() => this.db.pragma('data_version', { simple: true }) as number);
  }

  /** The highest sequence number written so far. */
  currentSeq(): number {
    return this.run(() => this.db.prepare<[], { value: number }>("SELECT value FROM meta WHERE key = 'seq'").get()?.value ?? 0);
  }

  insert(a: NewAsk): void {
    this.run(() => {
      const seq = this.nextSeq();
      this.db
        .prepare(
          `INSERT INTO asks (id, session_id, session_name, category, digest, action, subject, rule_id, reason, parts, resolved, diff,
             policy_file, exec_id, request_id, destructive, rule_proposal, created_ms, expires_ms, count, uses, status, seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 0, 'pending', ?)`,
        )
        .run(
          a.id,
          a.sessionId,
          a.sessionName,
          a.category,
          a.digest,
          a.action,
          a.subject,
          a.ruleId,
          a.reason,
          JSON.stringify(a.parts),
          a.resolved === null ? null : JSON.stringify(a.resolved),
          a.diff,
          a.policyFile,
          a.execId,
          a.requestId,
          a.destructive ? 1 : 0,
          JSON.stringify(a.ruleProposal),
          a.createdMs,
          a.expiresMs,
          seq,
        );
    });
  }

  /** The pending, unexpired row for the same action in the same session, if any. */
  findPending(sessionId: string, digest: string, nowMs: number): AskRow | undefined {
    return this.run(() =>
      this.db
        .prepare<[string, string, number], AskRow>(
          "SELECT * FROM asks WHERE status = 'pending' AND session_id = ? AND digest = ? AND expires_ms > ? ORDER BY created_ms LIMIT 1",
        )
        .get(sessionId, digest, nowMs),
    );
  }

  /** Counts one more identical ask on a pending row. */
  merge(id: string): void {
    this.run(() => {
      const seq = this.nextSeq();
      this.db.prepare("UPDATE asks SET count = count + 1, seq = ? WHERE id = ? AND status = 'pending'").run(seq, id);
    });
  }

  get(id: string): AskRow | undefined {
    return this.run(() => this.db.prepare<[string], AskRow>('SELECT * FROM asks WHERE id = ?').get(id));
  }

  /** Ids starting with `prefix` (at most 3, enough to tell unique from ambiguous). */
  idsWithPrefix(prefix: string): string[] {
    const escaped = prefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    return this.run(() =>
      this.db
        .prepare<[string], { id: string }>("SELECT id FROM asks WHERE id LIKE ? ESCAPE '\\' ORDER BY id LIMIT 3")
        .all(`${escaped}%`)
        .map((r) => r.id),
    );
  }

  list(filter: { status?: ApprovalStatus | undefined; sessionId?: string | undefined; limit: number }): AskRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (filter.status !== undefined) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.sessionId !== undefined) {
      where.push('session_id = ?');
      args.push(filter.sessionId);
    }
    args.push(filter.limit);
    const sql = `SELECT * FROM asks ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_ms DESC, id LIMIT ?`;
    return this.run(() => this.db.prepare<(string | number)[], AskRow>(sql).all(...args));
  }

  changedSince(seq: number): AskRow[] {
    return this.run(() => this.db.prepare<[number], AskRow>('SELECT * FROM asks WHERE seq > ? ORDER BY seq').all(seq));
  }

  /**
   * Records a decision on a row that is still pending (and, unless it is an expiry, not
   * yet expired). Returns false when the row was not pending: someone else decided first.
   */
  decide(id: string, digest: string | null, d: DecisionWrite, nowMs: number): boolean {
    return this.run(() => {
      const seq = this.nextSeq();
      const expiryClause = d.status === 'expired' ? 'AND expires_ms <= ?' : 'AND expires_ms > ?';
      const digestClause = digest === null ? '' : 'AND digest = ?';
      const args: (string | number | null)[] = [d.status, nowMs, d.by, d.channel, d.scope, d.reason, d.ruleText, seq, id, nowMs];
      if (digest !== null) args.push(digest);
      const r = this.db
        .prepare(
          `UPDATE asks SET status = ?, decided_ms = ?, decided_by = ?, channel = ?, scope = ?, decision_reason = ?, rule_text = ?, seq = ?
           WHERE id = ? AND status = 'pending' ${expiryClause} ${digestClause}`,
        )
        .run(...args);
      return r.changes === 1;
    });
  }

  /** Ends a pending row now, as expired, because nobody waits for it any more; false when it was not pending. */
  expireNow(id: string, reason: string, nowMs: number): boolean {
    return this.run(() => {
      const seq = this.nextSeq();
      const r = this.db
        .prepare(
          `UPDATE asks SET status = 'expired', expires_ms = ?, decided_ms = ?, decided_by = 'airlock', channel = 'system', scope = NULL, decision_reason = ?, rule_text = NULL, seq = ?
           WHERE id = ? AND status = 'pending'`,
        )
        .run(nowMs, nowMs, reason, seq, id);
      return r.changes === 1;
    });
  }

  /** Marks every overdue pending row expired; returns how many. */
  expireOverdue(nowMs: number): number {
    return this.run(() => {
      const overdue = this.db
        .prepare<[number], { id: string }>("SELECT id FROM asks WHERE status = 'pending' AND expires_ms <= ?")
        .all(nowMs);
      for (const { id } of overdue) {
        this.decide(id, null, { status: 'expired', by: 'airlock', channel: 'system', scope: null, reason: null, ruleText: null }, nowMs);
      }
      return overdue.length;
    });
  }

  setRuleError(id: string, error: string): void {
    this.run(() => {
      const seq = this.nextSeq();
      this.db.prepare('UPDATE asks SET rule_error = ?, seq = ? WHERE id = ?').run(error, seq, id);
    });
  }

  /** Uses one approval of an approved row; false when all were used. */
  consume(id: string): boolean {
    return this.run(() => this.db.prepare("UPDATE asks SET uses = uses + 1 WHERE id = ? AND status = 'approved' AND uses < count").run(id).changes === 1);
  }

  addGrant(sessionId: string, digest: string, approvalId: string, by: string, nowMs: number): void {
    this.run(() =>
      this.db
        .prepare('INSERT OR REPLACE INTO session_grants (session_id, digest, approval_id, granted_by, created_ms) VALUES (?, ?, ?, ?, ?)')
        .run(sessionId, digest, approvalId, by, nowMs),
    );
  }

  getGrant(sessionId: string, digest: string): GrantRow | undefined {
    return this.run(() =>
      this.db.prepare<[string, string], GrantRow>('SELECT * FROM session_grants WHERE session_id = ? AND digest = ?').get(sessionId, digest),
    );
  }

  grants(sessionId: string): GrantRow[] {
    return this.run(() => this.db.prepare<[string], GrantRow>('SELECT * FROM session_grants WHERE session_id = ? ORDER BY created_ms').all(sessionId));
  }

  dropGrants(sessionId: string): number {
    return this.run(() => this.db.prepare('DELETE FROM session_grants WHERE session_id = ?').run(sessionId).changes);
  }

  bumpAutoApproved(sessionId: string): void {
    this.run(() =>
      this.db
        .prepare('INSERT INTO session_counters (session_id, auto_approved) VALUES (?, 1) ON CONFLICT (session_id) DO UPDATE SET auto_approved = auto_approved + 1')
        .run(sessionId),
    );
  }

  counts(sessionId: string): { prompts: number; asks: number; approved: number; denied: number; expired: number; pending: number; autoApproved: number } {
    return this.run(() => {
      const r = this.db
        .prepare<[string], { prompts: number; asks: number | null; approved: number | null; denied: number | null; expired: number | null; pending: number | null }>(
          `SELECT count(*) AS prompts, sum(count) AS asks, sum(status = 'approved') AS approved, sum(status = 'denied') AS denied,
                  sum(status = 'expired') AS expired, sum(status = 'pending') AS pending
           FROM asks WHERE session_id = ?`,
        )
        .get(sessionId);
      const c = this.db.prepare<[string], { auto_approved: number }>('SELECT auto_approved FROM session_counters WHERE session_id = ?').get(sessionId);
      return {
        prompts: r?.prompts ?? 0,
        asks: r?.asks ?? 0,
        approved: r?.approved ?? 0,
        denied: r?.denied ?? 0,
        expired: r?.expired ?? 0,
        pending: r?.pending ?? 0,
        autoApproved: c?.auto_approved ?? 0,
      };
    });
  }

  /** Claims the delivery of an ask to a target; false when another process (or an earlier call) already did. */
  claimDelivery(approvalId: string, target: string, nowMs: number): boolean {
    return this.run(
      () =>
        this.db
          .prepare("INSERT OR IGNORE INTO deliveries (approval_id, target, claimed_ms, status) VALUES (?, ?, ?, 'sending')")
          .run(approvalId, target, nowMs).changes === 1,
    );
  }

  finishDelivery(approvalId: string, target: string, status: 'delivered' | 'failed', detail: string | null): void {
    this.run(() => this.db.prepare('UPDATE deliveries SET status = ?, detail = ? WHERE approval_id = ? AND target = ?').run(status, detail, approvalId, target));
  }

  delivery(approvalId: string, target: string): { status: string; detail: string | null } | undefined {
    return this.run(() =>
      this.db
        .prepare<[string, string], { status: string; detail: string | null }>('SELECT status, detail FROM deliveries WHERE approval_id = ? AND target = ?')
        .get(approvalId, target),
    );
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
