/**
 * The writer of one session's audit log: redact, chain, append, fsync, acknowledge.
 *
 * Durability by group commit: `append` chains the record in memory at once (so seq and
 * hash are fixed in call order) and queues its line; one writer loop takes everything
 * queued, writes it in a single write(2), fdatasync(2)s it, and only then resolves every
 * append in that batch. An acknowledged event therefore survives `kill -9` (and, with the
 * disk's own cache honest, a power cut), while many concurrent appends share one fsync.
 */
import {
  closeSync,
  constants,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  unlinkSync,
  write,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { AirlockEvent } from '../events/index.js';
import { isEventType } from '../events/index.js';
import { AirlockError, isErrnoException } from '../errors/index.js';
import type { Redactor } from '../redact/index.js';
import { CanonicalJsonError, canonicalJson } from './canonical.js';
import { encodeCheckpointLine, parseCheckpointLine, signCheckpoint } from './checkpoint.js';
import type { Checkpoint } from './checkpoint.js';
import { canonicalBody, genesisHash, leafHash, nodeHash, recordHash } from './hash.js';
import type { AuditIndex } from './index-db.js';
import type { SigningKey } from './keys.js';
import { encodeRecordLine, parseRecordLine } from './record.js';

/** What an acknowledged append returns: the record's place in the chain. */
export interface AuditReceipt {
  seq: number;
  hash: string;
}

/** The head of a session's chain. */
export interface AuditHead {
  sessionId: string;
  /** The last record's seq (0 when empty). */
  seq: number;
  /** Its chain hash (the genesis hash when empty). */
  hash: string;
}

/** Options for opening a session's log. */
export interface AuditLogOptions {
  /** Sign a checkpoint every this many records. Default 1000. */
  checkpointEvery?: number;
  /** The session's redactor; every event's data goes through it before it is hashed. */
  redactor: Redactor;
}

/** What a log needs from its store. */
export interface LogContext {
  key: SigningKey;
  index: AuditIndex | null;
  files: { log: string; checkpoints: string; lock: string };
}

interface Pending {
  line: string;
  seq: number;
  hash: string;
  resolve: (receipt: AuditReceipt) => void;
  reject: (error: unknown) => void;
}

/** Default records between two checkpoints. */
export const DEFAULT_CHECKPOINT_EVERY = 1000;

function ioError(what: string, path: string, cause: unknown): AirlockError {
  const detail = isErrnoException(cause) ? `${cause.code ?? 'error'}: ${cause.message}` : String(cause);
  return new AirlockError('E_AUDIT_IO', `cannot ${what} ${path}: ${detail}`, {
    hint: 'Check free space and permissions of the Airlock state directory (AIRLOCK_HOME).',
    cause,
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but belongs to someone else: still alive.
    return isErrnoException(err) && err.code === 'EPERM';
  }
}

/** Takes the per-session writer lock, clearing a lock left by a dead process. */
function acquireLock(lockPath: string, sessionId: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockPath, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return;
    } catch (err) {
      if (!isErrnoException(err) || err.code !== 'EEXIST') throw ioError('create the lock', lockPath, err);
    }
    let holder = Number.NaN;
    try {
      holder = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
    } catch {
      // Vanished between our create and read: try again.
      continue;
    }
    if (Number.isInteger(holder) && holder > 0 && pidAlive(holder)) {
      throw new AirlockError(
        'E_AUDIT_LOCKED',
        `the audit log of session ${sessionId} is being written by process ${holder}.`,
        {
          hint: `Only one process may write a session's log. Stop process ${holder}, or remove ${lockPath} if it is not an Airlock process.`,
        },
      );
    }
    // The holder died (kill -9, crash): its lock is stale.
    try {
      unlinkSync(lockPath);
    } catch {
      // Someone else cleared it first.
    }
  }
  throw new AirlockError('E_AUDIT_LOCKED', `could not take the lock ${lockPath} for session ${sessionId}.`, {
    hint: 'Another process keeps recreating it; make sure only one Airlock process runs this session.',
  });
}

/**
 * Opens `path` for appending and cuts a torn last line (a write a crash cut short; it was
 * never acknowledged, because acknowledgement waits for the whole line's fsync).
 * Returns the fd and the last complete line.
 */
function openForAppend(path: string): { fd: number; size: number; lastLine: string | null } {
  let fd: number;
  let created = false;
  try {
    try {
      // O_APPEND always: every write lands at the end even if something else moved the offset.
      fd = openSync(
        path,
        constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND,
        0o600,
      );
      created = true;
    } catch (err) {
      if (!isErrnoException(err) || err.code !== 'EEXIST') throw err;
      fd = openSync(path, 'a+', 0o600);
    }
  } catch (err) {
    throw ioError('open', path, err);
  }
  if (created) {
    // Make the new directory entry durable, or a crash could lose the whole file.
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    return { fd, size: 0, lastLine: null };
  }
  let size = fstatSync(fd).size;
  if (size === 0) return { fd, size, lastLine: null };
  let chunk = Math.min(size, 64 * 1024);
  for (;;) {
    const buf = Buffer.allocUnsafe(chunk);
    const n = readSync(fd, buf, 0, chunk, size - chunk);
    const tail = buf.subarray(0, n);
    const end = tail.lastIndexOf(0x0a);
    if (end < 0 && chunk < size) {
      chunk = Math.min(size, chunk * 4);
      continue;
    }
    if (end !== tail.length - 1) {
      // Torn tail: keep everything up to the last newline.
      const keep = end < 0 ? 0 : size - chunk + end + 1;
      ftruncateSync(fd, keep);
      fsyncSync(fd);
      size = keep;
      if (keep === 0) return { fd, size, lastLine: null };
      chunk = Math.min(size, 64 * 1024);
      continue;
    }
    // (A negative offset would count from the end, so guard the one-byte case.)
    const start = end === 0 ? -1 : tail.lastIndexOf(0x0a, end - 1);
    if (start < 0 && chunk < size) {
      chunk = Math.min(size, chunk * 4);
      continue;
    }
    return { fd, size, lastLine: tail.toString('utf8', start + 1, end) };
  }
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number): void => {
      write(fd, buf, offset, buf.length - offset, null, (err, n) => {
        if (err !== null) reject(err);
        else if (offset + n < buf.length) step(offset + n);
        else resolve();
      });
    };
    step(0);
  });
}

function datasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => {
      if (err !== null) reject(err);
      else resolve();
    });
  });
}

/** One session's append-only, hash-chained log. Create it with `AuditStore.openLog`. */
export class AuditLog {
  /** The session this log belongs to. */
  readonly sessionId: string;
  readonly #ctx: LogContext;
  readonly #redactor: Redactor;
  readonly #every: number;
  readonly #logFd: number;
  readonly #cpFd: number;
  #cpBytes: number;
  #seq: number;
  #head: Buffer;
  #headHex: string;
  #queue: Pending[] = [];
  #cpQueue: Checkpoint[] = [];
  #writing = false;
  #idle: (() => void)[] = [];
  #failure: AirlockError | null = null;
  #closed = false;
  #closing: Promise<Checkpoint | null> | null = null;

  /** @internal Use `AuditStore.openLog`. */
  constructor(ctx: LogContext, sessionId: string, options: AuditLogOptions) {
    this.sessionId = sessionId;
    this.#ctx = ctx;
    this.#redactor = options.redactor;
    const every = options.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY;
    if (!Number.isSafeInteger(every) || every < 1) {
      throw new AirlockError(
        'E_CONFIG_INVALID',
        `checkpointEvery: ${String(every)} is not a positive integer.`,
        {
          hint: `Use a whole number of records such as ${DEFAULT_CHECKPOINT_EVERY}.`,
        },
      );
    }
    this.#every = every;
    mkdirSync(dirname(ctx.files.log), { recursive: true, mode: 0o700 });
    acquireLock(ctx.files.lock, sessionId);
    let logFd = -1;
    try {
      const log = openForAppend(ctx.files.log);
      logFd = log.fd;
      this.#seq = 0;
      this.#head = genesisHash(sessionId);
      if (log.lastLine !== null) {
        const r = parseRecordLine(log.lastLine);
        const bad = (why: string): AirlockError =>
          new AirlockError(
            'E_AUDIT_CORRUPT',
            `cannot resume the audit log ${ctx.files.log}: its last record ${why}.`,
            {
              hint: `Run \`airlock audit verify ${sessionId}\` to find the first bad record; a damaged log must not be extended.`,
            },
          );
        if (typeof r === 'string') throw bad(`is invalid (${r})`);
        if (r.session !== sessionId) throw bad(`belongs to session ${JSON.stringify(r.session)}`);
        const again = recordHash(
          Buffer.from(r.prev, 'hex'),
          r.seq,
          r.time,
          r.session,
          r.type,
          canonicalJson(r.data),
        ).toString('hex');
        if (again !== r.hash) throw bad(`(seq ${r.seq}) does not match its hash`);
        this.#seq = r.seq;
        this.#head = Buffer.from(r.hash, 'hex');
      }
      this.#headHex = this.#head.toString('hex');
      const cp = openForAppend(ctx.files.checkpoints);
      this.#cpFd = cp.fd;
      this.#cpBytes = cp.size;
      const last = cp.lastLine === null ? null : parseCheckpointLine(cp.lastLine);
      if (last !== null && typeof last !== 'string' && last.seq > this.#seq) {
        closeSync(cp.fd);
        throw new AirlockError(
          'E_AUDIT_CORRUPT',
          `cannot resume the audit log ${ctx.files.log}: it ends at seq ${this.#seq} but a checkpoint covers seq ${last.seq}.`,
          {
            hint: `Run \`airlock audit verify ${sessionId}\`: records were removed, and a damaged log must not be extended.`,
          },
        );
      }
      if (last !== null && typeof last !== 'string' && last.final) {
        closeSync(cp.fd);
        throw new AirlockError(
          'E_AUDIT_CLOSED',
          `the audit log of session ${sessionId} was closed with a final checkpoint at seq ${last.seq}.`,
          {
            hint: 'A session that ended cannot record more events; start a new session.',
          },
        );
      }
    } catch (err) {
      if (logFd >= 0) closeSync(logFd);
      this.#releaseLock();
      throw err;
    }
    this.#logFd = logFd;
  }

  /** The chain head as of the last append (acknowledged or not). */
  get head(): AuditHead {
    return { sessionId: this.sessionId, seq: this.#seq, hash: this.#headHex };
  }

  /** The error that stopped this log, or null. A failed log accepts nothing more. */
  get failure(): AirlockError | null {
    return this.#failure;
  }

  /** True once {@link close} has finished. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Redacts, chains and queues `event`; resolves once it is durable on disk. Rejects with
   * `E_AUDIT_INVALID_EVENT` for a malformed event (nothing is written), and with
   * `E_AUDIT_CLOSED` after close or after a failed write.
   */
  append(event: AirlockEvent): Promise<AuditReceipt> {
    let pending: Promise<AuditReceipt>;
    try {
      pending = this.#enqueue(event);
    } catch (err) {
      pending = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    // A caller that drops the promise must not crash the process with an unhandled
    // rejection; failures also surface through `failure` and `flush()`.
    pending.catch(() => undefined);
    return pending;
  }

  #enqueue(event: AirlockEvent): Promise<AuditReceipt> {
    this.#assertOpen();
    // Typed callers cannot get this wrong, but JavaScript ones and bad casts can.
    const typeName: unknown = event.type;
    const invalid = (why: string): AirlockError =>
      new AirlockError(
        'E_AUDIT_INVALID_EVENT',
        `event ${JSON.stringify(String(typeName))} for session ${this.sessionId}: ${why}`,
        {
          hint: 'This is a bug in the part that emitted the event; its data must be plain JSON and its time an ISO 8601 string.',
        },
      );
    if (!isEventType(event.type)) throw invalid('unknown event type');
    if (event.sessionId !== this.sessionId)
      throw invalid(`it belongs to session ${JSON.stringify(event.sessionId)}`);
    if (typeof event.time !== 'string' || !Number.isFinite(Date.parse(event.time)))
      throw invalid(`time ${JSON.stringify(event.time)} is not an ISO 8601 date`);
    let data: string;
    try {
      data = canonicalJson(this.#redactor.redactValue(event.data));
    } catch (err) {
      if (err instanceof CanonicalJsonError)
        throw invalid(`data${err.path.slice(1)}: ${err.message.slice(err.path.length + 2)}`);
      throw err;
    }
    const time = event.time;
    const seq = this.#seq + 1;
    const prevHex = this.#headHex;
    const body = canonicalBody(seq, time, this.sessionId, event.type, data);
    const hash = nodeHash(this.#head, leafHash(body));
    const hashHex = hash.toString('hex');
    this.#seq = seq;
    this.#head = hash;
    this.#headHex = hashHex;
    const line = encodeRecordLine(body, prevHex, hashHex);
    if (seq % this.#every === 0) {
      this.#cpQueue.push(
        signCheckpoint(this.#ctx.key, this.sessionId, seq, hashHex, false, new Date().toISOString()),
      );
    }
    return new Promise<AuditReceipt>((resolve, reject) => {
      this.#queue.push({ line, seq, hash: hashHex, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves when everything appended so far is durable; rejects if the log failed. */
  async flush(): Promise<AuditHead> {
    if (this.#writing || this.#queue.length > 0 || this.#cpQueue.length > 0) {
      await new Promise<void>((resolve) => {
        this.#idle.push(resolve);
        this.#schedule();
      });
    }
    if (this.#failure !== null) throw this.#failure;
    return this.head;
  }

  /** Signs a checkpoint at the current head now (after making it durable). */
  async checkpoint(): Promise<Checkpoint> {
    this.#assertOpen();
    await this.flush();
    const cp = signCheckpoint(
      this.#ctx.key,
      this.sessionId,
      this.#seq,
      this.#headHex,
      false,
      new Date().toISOString(),
    );
    this.#cpQueue.push(cp);
    await this.flush();
    return cp;
  }

  /**
   * Flushes, writes the final checkpoint when `final` (the default: the session ended),
   * and releases the log. Returns the final checkpoint, or null.
   */
  close(options: { final?: boolean } = {}): Promise<Checkpoint | null> {
    // Concurrent calls share one close; appends are refused from the first call on.
    this.#closing ??= this.#close(options.final ?? true);
    return this.#closing;
  }

  async #close(final: boolean): Promise<Checkpoint | null> {
    let cp: Checkpoint | null = null;
    try {
      await this.flush();
      if (final && this.#failure === null) {
        cp = signCheckpoint(
          this.#ctx.key,
          this.sessionId,
          this.#seq,
          this.#headHex,
          true,
          new Date().toISOString(),
        );
        this.#cpQueue.push(cp);
        await this.flush();
      }
    } finally {
      this.#closed = true;
      closeSync(this.#logFd);
      closeSync(this.#cpFd);
      this.#releaseLock();
    }
    return cp;
  }

  #assertOpen(): void {
    if (this.#failure !== null) {
      throw new AirlockError(
        'E_AUDIT_CLOSED',
        `the audit log of session ${this.sessionId} failed and accepts no more events: ${this.#failure.message}`,
        {
          hint: 'The session must stop: actions can no longer be recorded. Fix the cause, then start a new session.',
          cause: this.#failure,
        },
      );
    }
    if (this.#closed || this.#closing !== null) {
      throw new AirlockError('E_AUDIT_CLOSED', `the audit log of session ${this.sessionId} is closed.`, {
        hint: 'Events must be published before the session is stopped and its log closed.',
      });
    }
  }

  #schedule(): void {
    if (this.#writing) return;
    this.#writing = true;
    // setImmediate, not a microtask: lets a burst of synchronous appends join one batch.
    setImmediate(() => {
      void this.#drain();
    });
  }

  async #drain(): Promise<void> {
    let batch: Pending[] = [];
    try {
      while (this.#queue.length > 0 || this.#cpQueue.length > 0) {
        batch = this.#queue;
        this.#queue = [];
        const cps = this.#cpQueue;
        this.#cpQueue = [];
        if (batch.length > 0) {
          let text = '';
          for (const p of batch) text += p.line;
          const buf = Buffer.from(text, 'utf8');
          try {
            await writeAll(this.#logFd, buf);
            await datasync(this.#logFd);
          } catch (err) {
            throw ioError('append to', this.#ctx.files.log, err);
          }
        }
        if (cps.length > 0) {
          // After the records they cover are durable, never before: a checkpoint on disk
          // whose records are not would look like truncation.
          const buf = Buffer.from(cps.map(encodeCheckpointLine).join(''), 'utf8');
          try {
            await writeAll(this.#cpFd, buf);
            await datasync(this.#cpFd);
          } catch (err) {
            throw ioError('append to', this.#ctx.files.checkpoints, err);
          }
          this.#cpBytes += buf.length;
        }
        for (const p of batch) p.resolve({ seq: p.seq, hash: p.hash });
        if (cps.length > 0) this.#indexCheckpoints(cps);
        batch = [];
      }
    } catch (err) {
      const failure = err instanceof AirlockError ? err : ioError('write', this.#ctx.files.log, err);
      this.#failure = failure;
      for (const p of batch) p.reject(failure);
      for (const p of this.#queue) p.reject(failure);
      this.#queue = [];
      this.#cpQueue = [];
    } finally {
      this.#writing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const fn of idle) fn();
    }
  }

  /**
   * Records are indexed lazily, by whoever reads the index (`AuditIndex.catchUp`): a
   * row per record would cost the writer more than the record itself. Checkpoints are
   * indexed now: they are few, and a copy outside the checkpoint file is what lets
   * verification catch a log truncated together with its checkpoint file.
   */
  #indexCheckpoints(cps: readonly Checkpoint[]): void {
    try {
      this.#ctx.index?.addCheckpoints(this.sessionId, cps, this.#cpBytes);
    } catch {
      // A busy or broken index must not fail an append that is already durable; the
      // checkpoint file still has them, and readers copy them into the index.
    }
  }

  #releaseLock(): void {
    try {
      unlinkSync(this.#ctx.files.lock);
    } catch {
      // Already gone; nothing to release.
    }
  }
}
