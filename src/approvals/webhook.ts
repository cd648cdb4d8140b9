/**
 * The webhook channel: each new ask is POSTed as JSON to a configured URL (a chat bot, a
 * pager), signed with HMAC-SHA256 over the timestamp and the body so the receiver can
 * tell it came from this Airlock and is fresh. The receiver answers through the HTTP API
 * (`POST /api/approvals/:id/decision` with its own named token), never through the
 * webhook response: a reply to a POST is not a person's decision.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AirlockError } from '../errors/index.js';
import { createRedactor } from '../redact/index.js';
import { describeRecord } from './display.js';
import type { ApprovalQueue } from './queue.js';
import type { ApprovalRecord } from './types.js';

/** Options for {@link attachWebhook}. */
export interface WebhookOptions {
  /** Where asks are POSTed. `https:`; `http:` only to a loopback address unless `allowInsecureHttp`. */
  url: string;
  /** The HMAC key shared with the receiver; at least 16 bytes. */
  secret: string;
  /** A name for this target in the delivery log, so two processes never both deliver one ask (default: the URL). */
  target?: string;
  /** The base URL of the approvals API, put in the payload so the receiver knows where to answer. */
  apiBaseUrl?: string;
  /** Per-attempt timeout in ms (default 5000). */
  timeoutMs?: number;
  /** Attempts before giving up (default 3), with 250 ms, 500 ms, … between them. */
  attempts?: number;
  /**
   * Applied to every text field of the payload that came from the agent (argv, paths, URLs,
   * diff) before the built-in redaction (the audit log's credential patterns and this
   * webhook's own secret), which always runs: a session's known secret values go here.
   */
  redact?: (text: string) => string;
  /** Allow `http:` to a host that is not loopback (the ask would cross the network in clear text). */
  allowInsecureHttp?: boolean;
  /** Told of every delivery's outcome. */
  onDelivery?: (result: WebhookDelivery) => void;
  /**
   * Deliver only the asks of this session (a process that runs one session, such as
   * `airlock run`); default every ask of the queue (`airlock serve`).
   */
  sessionId?: string;
}

/** The outcome of delivering one ask. */
export interface WebhookDelivery {
  readonly approvalId: string;
  readonly ok: boolean;
  readonly attempts: number;
  /** The receiver's status, when it answered. */
  readonly status: number | null;
  readonly error: string | null;
}

/** A running webhook channel. */
export interface WebhookChannel {
  /** Stops delivering new asks (deliveries in flight finish). */
  close(): void;
  /** Resolves when no delivery is in flight. */
  idle(): Promise<void>;
}

/** Header names of a delivery. */
export const WEBHOOK_HEADERS = {
  signature: 'x-airlock-signature',
  timestamp: 'x-airlock-timestamp',
  delivery: 'x-airlock-delivery',
} as const;

function config(message: string, hint: string): AirlockError {
  return new AirlockError('E_WEBHOOK_FAILED', message, { hint });
}

const LOOPBACK = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** Checks webhook options once, at attach time. */
function normalize(o: WebhookOptions): URL {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw config(`webhook url: ${JSON.stringify(o.url)} is not a URL`, 'Pass an https:// URL such as https://hooks.example.com/airlock.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw config(`webhook url: protocol ${url.protocol} is not http or https`, 'Use https://.');
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname) && o.allowInsecureHttp !== true) {
    throw config(`webhook url: ${url.origin} is plain http to a host that is not loopback`, 'Use https://, or set allowInsecureHttp if the network between is trusted.');
  }
  if (url.username !== '' || url.password !== '') throw config('webhook url: credentials in the URL would be logged', 'Authenticate the receiver with the signature instead.');
  if (Buffer.byteLength(o.secret) < 16) throw config('webhook secret: shorter than 16 bytes', 'Use a random secret, e.g. `openssl rand -hex 32`.');
  return url;
}

/** The signature header value for a body sent at `timestamp` (unix seconds): `sha256=<hex HMAC of "timestamp.body">`. */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver runs: true when `signature` is a valid signature of `body` at
 * `timestamp`, and the timestamp is within `toleranceS` seconds of now (default 300), so
 * a captured delivery cannot be replayed later.
 */
export function verifyWebhookSignature(secret: string, body: string, timestamp: string | undefined, signature: string | undefined, toleranceS = 300, nowMs = Date.now()): boolean {
  if (timestamp === undefined || signature === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
  const ts = Number(timestamp);
  if (Math.abs(nowMs / 1000 - ts) > toleranceS) return false;
  const expected = Buffer.from(signWebhook(secret, ts, body));
  const given = Buffer.from(signature);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The JSON body delivered for an ask. */
export interface WebhookPayload {
  type: 'approval.requested';
  approval: {
    id: string;
    sessionId: string;
    sessionName: string | null;
    category: string;
    subject: string;
    ruleId: string;
    reason: string;
    digest: string;
    destructive: boolean;
    count: number;
    createdAt: string;
    expiresAt: string;
    parts: { kind: string; verdict: string; ruleId: string; reason: string; subject: string; destructive: boolean }[];
    /** The whole ask as a person reads it in the terminal. */
    text: string;
    ruleProposal: { ok: true; text: string; sha256: string } | { ok: false; reason: string };
  };
  /** How to answer. Approving needs the digest (what the person saw), and a named API token. */
  decide: { method: 'POST'; url: string | null; approve: { decision: 'approve'; digest: string; scope: 'once' }; deny: { decision: 'deny'; reason: string } };
}

/**
 * Builds the payload for an ask. Every text that came from the agent goes through `redact`;
 * without one, through the audit log's redactor (its credential patterns), so a token in an
 * argv, a URL or a diff never leaves the machine in a webhook.
 */
export function webhookPayload(r: ApprovalRecord, apiBaseUrl?: string, redact?: (t: string) => string): WebhookPayload {
  if (redact === undefined) {
    const redactor = createRedactor();
    return webhookPayload(r, apiBaseUrl, (t) => redactor.redact(t));
  }
  const base = apiBaseUrl?.replace(/\/+$/, '');
  return {
    type: 'approval.requested',
    approval: {
      id: r.id,
      sessionId: r.sessionId,
      sessionName: r.sessionName,
      category: r.category,
      subject: redact(r.subject),
      ruleId: r.ruleId,
      reason: redact(r.reason),
      digest: r.digest,
      destructive: r.destructive,
      count: r.count,
      createdAt: r.createdAt,
      expiresAt: r.expiresAt,
      parts: r.parts.map((p) => ({ kind: p.kind, verdict: p.verdict, ruleId: p.ruleId, reason: redact(p.reason), subject: redact(p.subject), destructive: p.destructive })),
      text: redact(describeRecord(r).join('\n')),
      ruleProposal: r.ruleProposal.ok ? { ok: true, text: redact(r.ruleProposal.text), sha256: r.ruleProposal.sha256 } : { ok: false, reason: redact(r.ruleProposal.reason) },
    },
    decide: {
      method: 'POST',
      url: base === undefined ? null : `${base}/api/approvals/${encodeURIComponent(r.id)}/decision`,
      approve: { decision: 'approve', digest: r.digest, scope: 'once' },
      deny: { decision: 'deny', reason: '' },
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/**
 * Delivers every new ask of `queue` to the webhook. Each ask is delivered once per target
 * even when several processes watch the same queue (the delivery is claimed in SQLite).
 */
export function attachWebhook(queue: ApprovalQueue, options: WebhookOptions): WebhookChannel {
  const url = normalize(options);
  const target = options.target ?? url.href;
  const attempts = Math.max(1, Math.min(options.attempts ?? 3, 10));
  const timeoutMs = options.timeoutMs ?? 5000;
  const inFlight = new Set<Promise<void>>();
  const unregister = queue.registerChannel('webhook');
  let closed = false;
  // The same redaction as the audit log, plus this webhook's own key (an agent that learned
  // it could otherwise have it echoed back signed).
  const redactor = createRedactor({ secrets: [options.secret] });
  const extra = options.redact;
  const redact = (t: string): string => redactor.redact(extra === undefined ? t : extra(t));

  async function deliver(r: ApprovalRecord): Promise<void> {
    const body = JSON.stringify(webhookPayload(r, options.apiBaseUrl, redact));
    let status: number | null = null;
    let error: string | null = null;
    let n = 0;
    for (n = 1; n <= attempts; n++) {
      const ts = Math.floor(Date.now() / 1000);
      try {
        const res = await fetch(url, {
          method: 'POST',
          // A redirect would send the ask somewhere nobody configured.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'airlock-approvals',
            [WEBHOOK_HEADERS.timestamp]: String(ts),
            [WEBHOOK_HEADERS.signature]: signWebhook(options.secret, ts, body),
            [WEBHOOK_HEADERS.delivery]: r.id,
          },
          body,
        });
        status = res.status;
        await res.body?.cancel();
        if (res.status >= 200 && res.status < 300) {
          error = null;
          break;
        }
        error = `the receiver answered ${res.status}`;
        if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) break;
      } catch (err) {
        error = err instanceof Error ? err.message : String(err);
      }
      if (n < attempts) await sleep(250 * 2 ** (n - 1));
    }
    const ok = error === null;
    try {
      queue.recordDelivery(r.id, target, ok ? 'delivered' : 'failed', ok ? null : error);
    } catch {
      // the queue was closed meanwhile; the outcome still goes to onDelivery
    }
    options.onDelivery?.({ approvalId: r.id, ok, attempts: Math.min(n, attempts), status, error });
  }

  const stop = queue.watch((change) => {
    if (closed || change.type !== 'requested') return;
    if (options.sessionId !== undefined && change.record.sessionId !== options.sessionId) return;
    if (!queue.claimDelivery(change.record.id, target)) return;
    const p = deliver(change.record).finally(() => inFlight.delete(p));
    inFlight.add(p);
  });

  return {
    close() {
      if (closed) return;
      closed = true;
      stop();
      unregister();
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
