import type { AirlockEvent, AirlockEventOf, EventData, EventType } from './types.js';

/** Receives every event published on a channel after it subscribed. */
export type EventListener = (event: AirlockEvent) => void;

/** Options for {@link createEventChannel}. */
export interface EventChannelOptions {
  /**
   * Called when a listener throws. The default rethrows the error on the next tick, as
   * `diagnostics_channel` does: a broken listener must be loud, and it must not break the
   * publisher or starve the listeners after it.
   */
  onListenerError?: (error: unknown, event: AirlockEvent) => void;
}

/** One session's event channel. Publishers do not know who listens. */
export interface EventChannel {
  /** Delivers `event` synchronously to every current listener, in subscription order. */
  publish(event: AirlockEvent): void;
  /** Adds a listener; returns the function that removes it (idempotent). */
  subscribe(listener: EventListener): () => void;
  /** True when at least one listener is attached, so a publisher can skip building costly data. */
  readonly hasSubscribers: boolean;
}

function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

/**
 * Creates an event channel. Each session gets its own; nothing is shared between
 * channels, so events never cross from one session to another.
 */
export function createEventChannel(options: EventChannelOptions = {}): EventChannel {
  const onListenerError = options.onListenerError ?? rethrowLater;
  // Copy-on-write: publish iterates a snapshot, so a listener may unsubscribe itself (or
  // subscribe another) while being called without disturbing this delivery.
  let listeners: readonly EventListener[] = [];
  return {
    publish(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          onListenerError(error, event);
        }
      }
    },
    subscribe(listener) {
      // Wrap so the same function subscribed twice is two subscriptions, each removable once.
      const entry: EventListener = (event) => {
        listener(event);
      };
      listeners = [...listeners, entry];
      return () => {
        listeners = listeners.filter((l) => l !== entry);
      };
    },
    get hasSubscribers() {
      return listeners.length > 0;
    },
  };
}

/**
 * Builds an event with the current time. A convenience for emitters:
 * `channel.publish(createEvent('exec.started', sessionId, { execId, argv, cwd }))`.
 */
export function createEvent<T extends EventType>(
  type: T,
  sessionId: string,
  data: EventData[T],
  time: Date = new Date(),
): AirlockEventOf<T> {
  return { type, sessionId, time: time.toISOString(), data };
}
