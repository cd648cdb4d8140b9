import type { AirlockEvent, EventChannel } from '../events/index.js';
import { AirlockError, isAirlockError } from '../errors/index.js';
import type { Redactor } from '../redact/index.js';
import type { Checkpoint } from './checkpoint.js';
import type { AuditHead, AuditLog, AuditReceipt } from './log.js';
import { openAuditStore } from './store.js';
import type { AuditStore } from './store.js';

/** Options for {@link attachAudit}. Give `store` (shared by the process's sessions) or `stateDir`. */
export interface AttachAuditOptions {
  sessionId: string;
  /** A store opened once for the process. */
  store?: AuditStore;
  /** Or a state directory: the attachment opens (and on close, closes) its own store. */
  stateDir?: string;
  /** The session's redactor, holding the secrets the session knows. */
  redactor?: Redactor;
  /** Records between two signed checkpoints. Default 1000. */
  checkpointEvery?: number;
  /**
   * Called once, with the first failure to record an event. The session must stop: an
   * action that cannot be recorded must not run. `flush()` rejects from then on as well.
   */
  onError?: (error: AirlockError) => void;
}

/** A session's audit log subscribed to the session's event channel. */
export interface AuditAttachment {
  readonly sessionId: string;
  /** The underlying log. */
  readonly log: AuditLog;
  /** The first failure to record an event, or null. */
  readonly failure: AirlockError | null;
  /**
   * Records `event` and resolves once it is durable, for a caller that must not go on
   * before it is (the decision before an exec). Other listeners of the channel do not see
   * it; publish on the channel for that and then `flush()`.
   */
  record(event: AirlockEvent): Promise<AuditReceipt>;
  /** Resolves when every event published so far is durable; rejects if any failed. */
  flush(): Promise<AuditHead>;
  /**
   * Unsubscribes, makes everything durable, writes the final checkpoint (unless
   * `final: false`, for a process that stops while the session lives on) and closes.
   */
  close(options?: { final?: boolean }): Promise<Checkpoint | null>;
}

function asAirlockError(err: unknown): AirlockError {
  if (isAirlockError(err)) return err;
  return new AirlockError('E_INTERNAL', err instanceof Error ? err.message : String(err), {
    hint: 'This is a bug in airlock; please report it.',
    cause: err,
  });
}

/**
 * Opens the session's audit log and subscribes it to `channel`: from now on every event
 * published there is redacted, chained and made durable.
 *
 * ```ts
 * const channel = createEventChannel();
 * const audit = attachAudit(channel, { store, sessionId, redactor, onError: (e) => session.abort(e) });
 * channel.publish(createEvent('policy.decision', sessionId, decision));
 * await audit.flush();            // the decision is on disk before the command runs
 * ```
 */
export function attachAudit(channel: EventChannel, options: AttachAuditOptions): AuditAttachment {
  if ((options.store === undefined) === (options.stateDir === undefined)) {
    throw new AirlockError('E_CONFIG_INVALID', 'attachAudit: pass exactly one of `store` and `stateDir`.', {
      hint: 'Open one store per process with openAuditStore({ stateDir }) and pass it as `store`.',
    });
  }
  const ownStore = options.store === undefined;
  const store = options.store ?? openAuditStore({ stateDir: options.stateDir ?? '' });
  let log: AuditLog;
  try {
    log = store.openLog(options.sessionId, {
      ...(options.redactor === undefined ? {} : { redactor: options.redactor }),
      ...(options.checkpointEvery === undefined ? {} : { checkpointEvery: options.checkpointEvery }),
    });
  } catch (err) {
    if (ownStore) store.close();
    throw err;
  }
  let failure: AirlockError | null = null;
  const report = (err: unknown): void => {
    if (failure !== null) return;
    failure = asAirlockError(err);
    options.onError?.(failure);
  };
  const unsubscribe = channel.subscribe((event) => {
    log.append(event).catch(report);
  });
  let closed = false;

  return {
    sessionId: options.sessionId,
    log,
    get failure() {
      return failure;
    },
    async record(event) {
      try {
        return await log.append(event);
      } catch (err) {
        report(err);
        throw err;
      }
    },
    async flush() {
      const head = await log.flush().catch((err: unknown) => {
        report(err);
        throw err;
      });
      if (failure !== null) throw failure;
      return head;
    },
    async close(closeOptions = {}) {
      if (closed) return null;
      closed = true;
      unsubscribe();
      try {
        return await log.close(closeOptions);
      } finally {
        if (ownStore) store.close();
      }
    },
  };
}
