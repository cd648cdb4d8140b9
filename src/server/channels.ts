/**
 * The approval channels a host process offers for the sessions it runs: the persisted queue
 * of the state directory, the local HTTP API and page (on demand), a webhook (where one is
 * configured), and announcements on a terminal the agent owns. `airlock run`, `airlock mcp`
 * and the host process of a named session all open them here, so every face that runs
 * actions answers an `ask` the same way.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachTerminalAnnouncer, attachWebhook, createApprovalQueue } from '../approvals/index.js';
import type { AnnouncerOptions, ApprovalQueue, WebhookChannel, WebhookDelivery } from '../approvals/index.js';
import { loadPolicy } from '../policy/index.js';
import { startApprovalServer, type ApprovalServer } from './http.js';

/** A webhook target: where each new ask is POSTed, and the HMAC key it is signed with. */
export interface ApprovalWebhookConfig {
  readonly url: string;
  /** At least 16 bytes; never put on a command line or in a record. */
  readonly secret: string;
  /**
   * Applied to the agent's texts in each payload before the built-in redaction (the
   * session's known secret values, e.g. `session.redactor.redact`).
   */
  readonly redact?: (text: string) => string;
}

/** Options for {@link openApprovalChannels}. */
export interface ApprovalChannelsOptions {
  /** The state directory whose queue (`approvals/approvals.sqlite`) is shared with `airlock approve`. */
  stateDir: string;
  /** Start the HTTP API and page on loopback (`port` 0 or absent: any free port). */
  http?: { port?: number } | false;
  /** POST each new ask to this URL, signed. */
  webhook?: ApprovalWebhookConfig;
  /**
   * The one session this process runs, when it runs one: the webhook then carries only its
   * asks (another process's sessions on the same state directory have their own channels).
   */
  sessionId?: string;
  /**
   * Count the terminal commands (`airlock approvals`, `approve`, `deny`) among the channels
   * an ask is offered on, for a process that does not announce asks itself (a session host).
   */
  terminal?: boolean;
  /** Told when a webhook delivery fails for good. */
  onWebhookFailure?: (delivery: WebhookDelivery) => void;
}

/** Open approval channels; {@link ApprovalChannels.close} closes them all. */
export interface ApprovalChannels {
  /** The queue every session of this process waits on (`SessionOptions.approvals`). */
  readonly queue: ApprovalQueue;
  /** The HTTP API and page, when `http` asked for it. */
  readonly server: ApprovalServer | undefined;
  /**
   * Where a person can decide besides `airlock approve ID`: this process's page, else that
   * of an `airlock serve` running on the same state directory, else undefined.
   */
  pageUrl(): string | undefined;
  /**
   * Announces each new ask of `sessionId` on `stream` (default stderr): one escaped line
   * with its id and how to decide, and on a terminal the window title. Never reads input.
   * Returns the function that stops (and restores the title).
   */
  announce(sessionId: string, options?: Pick<AnnouncerOptions, 'stream' | 'mode'>): () => void;
  /** Stops announcing, delivering and serving, and closes the queue. Idempotent. */
  close(): Promise<void>;
}

/** The URL of an `airlock serve` (or another process's page) running on `stateDir`, if its process lives. */
export function runningServerUrl(stateDir: string): string | undefined {
  try {
    const info = JSON.parse(readFileSync(join(stateDir, 'approvals', 'server.json'), 'utf8')) as { url?: unknown; pid?: unknown };
    if (typeof info.url !== 'string' || typeof info.pid !== 'number' || !/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(info.url)) return undefined;
    process.kill(info.pid, 0);
    return info.url;
  } catch {
    return undefined;
  }
}

/** Opens the queue of `stateDir` and the channels asked for. */
export async function openApprovalChannels(options: ApprovalChannelsOptions): Promise<ApprovalChannels> {
  const queue = createApprovalQueue({
    stateDir: options.stateDir,
    // A confirmed rule is written only if the policy file still loads with it.
    validatePolicy: (text, file) => loadPolicy({ text, path: file }),
  });
  let server: ApprovalServer | undefined;
  let webhook: WebhookChannel | undefined;
  const stops: (() => void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) s();
    webhook?.close();
    await webhook?.idle();
    await server?.close();
    queue.close();
  };
  try {
    if (options.http !== undefined && options.http !== false) {
      server = await startApprovalServer({ queue, stateDir: options.stateDir, ...(options.http.port === undefined ? {} : { port: options.http.port }) });
    }
    if (options.webhook !== undefined) {
      const onFailure = options.onWebhookFailure;
      webhook = attachWebhook(queue, {
        url: options.webhook.url,
        secret: options.webhook.secret,
        ...(options.webhook.redact === undefined ? {} : { redact: options.webhook.redact }),
        ...(options.sessionId === undefined ? {} : { sessionId: options.sessionId }),
        ...(server === undefined ? {} : { apiBaseUrl: server.url }),
        ...(onFailure === undefined ? {} : { onDelivery: (d: WebhookDelivery) => { if (!d.ok) onFailure(d); } }),
      });
    }
    if (options.terminal === true) stops.push(queue.registerChannel('terminal'));
  } catch (err) {
    await closeAll();
    throw err;
  }
  let closing: Promise<void> | undefined;
  const pageUrl = (): string | undefined => server?.url ?? runningServerUrl(options.stateDir);
  return {
    queue,
    server,
    pageUrl,
    announce(sessionId, o = {}) {
      const url = pageUrl();
      const stop = attachTerminalAnnouncer(queue, { sessionId, ...(url === undefined ? {} : { url }), ...o });
      stops.push(stop);
      return stop;
    },
    close() {
      closing ??= closeAll();
      return closing;
    },
  };
}
