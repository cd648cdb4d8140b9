/**
 * Session events as an async iterator, for SDK users:
 * `for await (const e of auditEvents(session)) …`. The session's event channel delivers
 * synchronously to listeners; this buffers between the channel and a consumer that
 * awaits, and fails loudly (never drops silently) when the consumer falls too far behind.
 */
import { AirlockError } from '../errors/index.js';
import type { AirlockEvent, EventType } from '../events/index.js';
import type { Session } from '../session/index.js';

/** Options for {@link auditEvents}. */
export interface AuditEventsOptions {
  /** Only these event types (default: all). */
  types?: readonly EventType[];
  /** Stops the iteration (it then ends without an error). */
  signal?: AbortSignal;
  /** Events held for a slow consumer before the iterator fails with `E_EVENTS_OVERFLOW` (default 10 000). */
  maxBuffered?: number;
}

/**
 * Iterates over the events a session publishes from now on: policy decisions,
 * approvals, execs, file and network events, tool calls. The same events the audit log
 * records, before redaction. Ends after `session.stopped` (that is, after
 * `session.destroy()`), when `signal` aborts, or when the loop breaks.
 */
export function auditEvents(session: Pick<Session, 'events'>, options: AuditEventsOptions = {}): AsyncIterableIterator<AirlockEvent> {
  const max = options.maxBuffered ?? 10_000;
  const wanted = options.types === undefined ? null : new Set<string>(options.types);
  const buffer: AirlockEvent[] = [];
  let done = false;
  let failure: AirlockError | null = null;
  let wake: (() => void) | null = null;
  const notify = (): void => {
    const w = wake;
    wake = null;
    w?.();
  };
  const finish = (): void => {
    done = true;
    unsubscribe();
    options.signal?.removeEventListener('abort', finish);
    notify();
  };
  const unsubscribe = session.events.subscribe((e) => {
    if (done) return;
    if (wanted === null || wanted.has(e.type)) {
      if (buffer.length >= max) {
        failure = new AirlockError('E_EVENTS_OVERFLOW', `more than ${max} session events waited for the consumer`, {
          hint: 'Consume events faster, filter them with `types`, or raise `maxBuffered`.',
        });
        finish();
        return;
      }
      buffer.push(e);
    }
    if (e.type === 'session.stopped') done = true;
    notify();
  });
  if (options.signal?.aborted === true) finish();
  else options.signal?.addEventListener('abort', finish, { once: true });

  const iterator: AsyncIterableIterator<AirlockEvent> = {
    async next(): Promise<IteratorResult<AirlockEvent>> {
      for (;;) {
        const e = buffer.shift();
        if (e !== undefined) return { value: e, done: false };
        if (failure !== null) throw failure;
        if (done) {
          finish();
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    },
    return(): Promise<IteratorResult<AirlockEvent>> {
      buffer.length = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
