import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AirlockError } from '../errors/index.js';
import { createRedactor } from '../redact/index.js';
import type { Redactor } from '../redact/index.js';
import { AuditIndex } from './index-db.js';
import type { QueryFilter, SessionSummary } from './index-db.js';
import { loadOrCreateSigningKey, loadVerifyKey } from './keys.js';
import type { SigningKey, VerifyKey } from './keys.js';
import { AuditLog } from './log.js';
import { assertSessionId, auditPaths, sessionFiles } from './paths.js';
import type { AuditPaths } from './paths.js';
import { parseRecordLine } from './record.js';
import type { AuditRecord } from './record.js';
import { verifySessionLog } from './verify.js';
import type { VerifyReport } from './verify.js';

/** Options for {@link openAuditStore}. */
export interface AuditStoreOptions {
  /** The Airlock state directory (resolved by the caller; see `resolveStateDir`). */
  stateDir: string;
}

/** Options for {@link AuditStore.openLog}. */
export interface OpenLogOptions {
  /** The session's redactor. Default: one with the built-in patterns and no known secrets. */
  redactor?: Redactor;
  /** Records between two signed checkpoints. Default 1000. */
  checkpointEvery?: number;
}

/** Options for verification. */
export interface VerifyOptions {
  /**
   * A public key (SPKI PEM file) pinned elsewhere. Default: the installation's own public
   * key in the state directory, which someone who can rewrite the logs could replace too.
   */
  publicKeyPath?: string;
}

/** Options for {@link AuditStore.follow}. */
export interface FollowOptions {
  sessionId?: string;
  /** Stops following. */
  signal: AbortSignal;
  /** Poll interval. Default 250 ms. */
  intervalMs?: number;
  /** Start after this index cursor; default: only records that arrive from now on. */
  afterCursor?: number;
}

/**
 * The audit store of one state directory: the session logs, the signing key and the index.
 * One per state directory per process; sessions share it. Not a singleton: tests open
 * several in one process.
 */
export interface AuditStore {
  readonly stateDir: string;
  readonly paths: AuditPaths;
  /** Opens (or resumes after a crash) the log of a session, for writing. */
  openLog(sessionId: string, options?: OpenLogOptions): AuditLog;
  /** Every session the store knows, after catching the index up with the logs. */
  listSessions(): SessionSummary[];
  /** True when the store has a log, checkpoints or index rows for the session. */
  hasSession(sessionId: string): boolean;
  /** The records of one session, read from its log. Throws `E_SESSION_NOT_FOUND`. */
  readSession(sessionId: string): AuditRecord[];
  /** Records across sessions from the index (caught up first). */
  query(filter: QueryFilter): AuditRecord[];
  /** The newest index cursor; pass it to `follow` to start from now. */
  cursor(): number;
  /** Yields records as they are written (by this or another process) until aborted. */
  follow(options: FollowOptions): AsyncGenerator<AuditRecord>;
  /** Verifies one session. Throws `E_SESSION_NOT_FOUND` when the store has never seen it. */
  verify(sessionId: string, options?: VerifyOptions): VerifyReport;
  /** Verifies every session the store knows. */
  verifyAll(options?: VerifyOptions): VerifyReport[];
  /** The installation's public key (creating the key pair on first use). */
  publicKey(): { keyId: string; pem: string };
  /** Closes the index. Logs opened from the store must be closed first. */
  close(): void;
}

/** Opens the audit store under `stateDir`, creating its directories (mode 0700). */
export function openAuditStore(options: AuditStoreOptions): AuditStore {
  const paths = auditPaths(options.stateDir);
  try {
    mkdirSync(paths.sessions, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new AirlockError(
      'E_AUDIT_IO',
      `cannot create the audit store in ${paths.root}: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'Check that the state directory (AIRLOCK_HOME or XDG_STATE_HOME) is writable.',
        cause: err,
      },
    );
  }
  const index = new AuditIndex(paths.index);
  let signingKey: SigningKey | null = null;
  const filesOf = (id: string): ReturnType<typeof sessionFiles> => sessionFiles(paths, id);
  const key = (): SigningKey => (signingKey ??= loadOrCreateSigningKey(paths.privateKey, paths.publicKey));

  function hasSession(sessionId: string): boolean {
    const f = filesOf(sessionId);
    return existsSync(f.log) || existsSync(f.checkpoints) || index.hasSession(sessionId);
  }

  function notFound(sessionId: string): AirlockError {
    return new AirlockError(
      'E_SESSION_NOT_FOUND',
      `no audit log for session ${JSON.stringify(sessionId)} in ${paths.sessions}.`,
      {
        hint: 'Run `airlock audit ls` to see the sessions this state directory has.',
      },
    );
  }

  function verifyKey(opts: VerifyOptions): VerifyKey | null {
    if (opts.publicKeyPath !== undefined) return loadVerifyKey(opts.publicKeyPath);
    if (existsSync(paths.publicKey)) return loadVerifyKey(paths.publicKey);
    // The public file is only a copy; the private key (if this user can read it) has the same key.
    if (existsSync(paths.privateKey)) {
      const k = key();
      return { keyId: k.keyId, publicKey: k.publicKey };
    }
    return null;
  }

  const store: AuditStore = {
    stateDir: options.stateDir,
    paths,
    openLog(sessionId, opts = {}) {
      assertSessionId(sessionId);
      const log = new AuditLog({ key: key(), index, files: filesOf(sessionId) }, sessionId, {
        redactor: opts.redactor ?? createRedactor(),
        ...(opts.checkpointEvery === undefined ? {} : { checkpointEvery: opts.checkpointEvery }),
      });
      index.addSession(sessionId);
      return log;
    },
    listSessions() {
      index.catchUpAll(paths.sessions, filesOf);
      return index.listSessions();
    },
    hasSession(sessionId) {
      assertSessionId(sessionId);
      return hasSession(sessionId);
    },
    readSession(sessionId) {
      assertSessionId(sessionId);
      const f = filesOf(sessionId);
      if (!existsSync(f.log)) throw notFound(sessionId);
      const text = readFileSync(f.log, 'utf8');
      const lines = text.split('\n');
      lines.pop();
      const out: AuditRecord[] = [];
      for (const line of lines) {
        const r = parseRecordLine(line);
        if (typeof r !== 'string') out.push(r);
      }
      return out;
    },
    query(filter) {
      if (filter.sessionId !== undefined) {
        assertSessionId(filter.sessionId);
        const f = filesOf(filter.sessionId);
        index.catchUp(filter.sessionId, f.log, f.checkpoints);
      } else {
        index.catchUpAll(paths.sessions, filesOf);
      }
      return index.query(filter).map((r) => r.record);
    },
    cursor() {
      index.catchUpAll(paths.sessions, filesOf);
      return index.lastCursor();
    },
    async *follow(opts) {
      const interval = opts.intervalMs ?? 250;
      let cursor = opts.afterCursor ?? store.cursor();
      while (!opts.signal.aborted) {
        if (opts.sessionId !== undefined) {
          const f = filesOf(opts.sessionId);
          index.catchUp(opts.sessionId, f.log, f.checkpoints);
        } else {
          index.catchUpAll(paths.sessions, filesOf);
        }
        const rows = index.query({
          ...(opts.sessionId === undefined ? {} : { sessionId: opts.sessionId }),
          afterCursor: cursor,
        });
        for (const row of rows) {
          cursor = row.cursor;
          yield row.record;
        }
        try {
          await sleep(interval, undefined, { signal: opts.signal });
        } catch {
          return;
        }
      }
    },
    verify(sessionId, opts = {}) {
      assertSessionId(sessionId);
      if (!hasSession(sessionId)) throw notFound(sessionId);
      const f = filesOf(sessionId);
      return verifySessionLog({
        sessionId,
        logPath: f.log,
        checkpointPath: f.checkpoints,
        key: verifyKey(opts),
        index,
      });
    },
    verifyAll(opts = {}) {
      const k = verifyKey(opts);
      index.catchUpAll(paths.sessions, filesOf);
      return index
        .listSessions()
        .map((s) => s.sessionId)
        .sort()
        .map((sessionId) => {
          const f = filesOf(sessionId);
          return verifySessionLog({
            sessionId,
            logPath: f.log,
            checkpointPath: f.checkpoints,
            key: k,
            index,
          });
        });
    },
    publicKey() {
      const k = key();
      return { keyId: k.keyId, pem: k.publicKey.export({ format: 'pem', type: 'spki' }).toString() };
    },
    close() {
      index.close();
    },
  };
  return store;
}
