/**
 * The approvals queue: where an `ask` verdict waits for a person.
 *
 * `request` stores the ask (in SQLite, so a restart keeps it), emits `approval.requested`
 * and returns a promise that settles when a person decides on any channel, in this
 * process or another one (`airlock approve`, `airlock serve`), or when the ask expires,
 * which is a denial. The queue approves nothing by itself: the only approvals without a
 * prompt are earlier `session` grants for the very same canonical action.
 *
 * Decisions made by other processes are found by polling SQLite's `data_version` (a
 * cheap pragma that changes when another connection commits) while something in this
 * process waits or watches.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AirlockError } from '../errors/index.js';
import { canonicalAction, digestOf, formatIssues, fromCanonical, isCanonical, parseCanonical } from './canonical.js';
import { displayAction } from './display.js';
import { classifyParts, isDestructiveAsk, proposeRule } from './grants.js';
import { prepareRuleWrite, type PreparedRuleWrite, type WriteRuleOptions } from './policy-file.js';
import { ApprovalStore, rowToRecord, type AskRow } from './store.js';
import type {
  ApprovalAction,
  ApprovalDecision,
  ApprovalEvent,
  ApprovalRecord,
  ApprovalStatus,
  AskInput,
  CanonicalAction,
  GrantScope,
} from './types.js';

/** Default time an ask waits for a person before it is denied. */
export const DEFAULT_TIMEOUT_MS = 5 * 60_000;
/** The longest an ask may wait. */
export const MAX_TIMEOUT_MS = 24 * 60 * 60_000;

/** Options for {@link createApprovalQueue}. */
export interface ApprovalQueueOptions {
  /** The Airlock state directory; the queue lives in `approvals/approvals.sqlite` under it. */
  stateDir: string;
  /** How long an ask waits when `request` names no timeout (default 5 minutes). */
  defaultTimeoutMs?: number;
  /** Where events go when `request` names no sink of its own (e.g. route by `event.sessionId`). */
  publish?: (event: ApprovalEvent) => void;
  /** How often to look for decisions made by other processes, in ms (default 100). */
  pollIntervalMs?: number;
  /** Checks a policy file's new text before a confirmed rule is written (e.g. the policy loader). */
  validatePolicy?: WriteRuleOptions['validate'];
}

/** Per-ask options for {@link ApprovalQueue.request}. */
export interface RequestOptions {
  /** How long the action waits, in ms; a timeout is a denial. Bounded by {@link MAX_TIMEOUT_MS}. */
  timeoutMs?: number;
  /** Where this ask's events go (the session's event channel), instead of the queue's `publish`. */
  publish?: (event: ApprovalEvent) => void;
  /**
   * Aborted when the requester stops waiting (its client went away, or its own bound ran
   * out). The ask then ends as `expired` (the abort reason, when a string, is recorded as the
   * resolution's reason) and the promise resolves with that, so no person approves what
   * nobody waits for. When a merged repeat still waits on the same ask, the ask stays pending
   * for it and only this request's promise rejects with the abort reason.
   */
  signal?: AbortSignal;
}

/** A person's answer, as a channel hands it to {@link ApprovalQueue.decide}. */
export type DecideInput =
  | {
      readonly decision: 'approve';
      /** The digest of the action the person was shown; a different one is refused. */
      readonly digest: string;
      readonly scope?: GrantScope;
      /** For scope `rule`: the exact rule text the person confirmed… */
      readonly ruleText?: string;
      /** …or its SHA-256, where the text itself was shown and confirmed by its hash. */
      readonly ruleSha256?: string;
      readonly by: string;
      readonly channel: string;
    }
  | {
      readonly decision: 'deny';
      /** Optional for a denial: refusing is safe whatever was shown. */
      readonly digest?: string;
      readonly reason?: string;
      readonly by: string;
      readonly channel: string;
    };

/** A decision on several asks at once (one batch screen). */
export interface BatchDecideInput {
  readonly decision: 'approve' | 'deny';
  /** For approval: `once` (default) or `session`; a rule is confirmed one ask at a time. */
  readonly scope?: 'once' | 'session';
  readonly reason?: string;
  readonly by: string;
  readonly channel: string;
}

/** One item of a batch decision: the id and the digest that was on the person's screen. */
export interface BatchItem {
  readonly id: string;
  readonly digest: string;
}

/** Pending asks of one session, category and rule: one decision screen. */
export interface ApprovalBatch {
  readonly key: string;
  readonly sessionId: string;
  readonly sessionName: string | null;
  readonly category: ApprovalRecord['category'];
  readonly ruleId: string;
  readonly reason: string;
  /** Every pending ask in the group, oldest first. */
  readonly items: readonly ApprovalRecord[];
  /** Distinct asks (rows) in the group. */
  readonly prompts: number;
  /** Asks including merged repeats. */
  readonly asks: number;
  /** How many items are destructive and must be decided one by one. */
  readonly destructive: number;
}

/** Prompt counts for one session, for `airlock session show` and tuning a policy. */
export interface PromptStats {
  readonly sessionId: string;
  /** Asks put in front of a person (merged repeats count once). */
  readonly prompts: number;
  /** Asks including merged repeats. */
  readonly asks: number;
  /** Repeats merged into an earlier pending ask. */
  readonly merged: number;
  /** Asks let through by an earlier `session` grant without a prompt. */
  readonly autoApproved: number;
  readonly approved: number;
  readonly denied: number;
  readonly expired: number;
  readonly pending: number;
}

/** A session grant: the same action again in this session runs without a prompt. */
export interface SessionGrant {
  readonly sessionId: string;
  readonly digest: string;
  readonly approvalId: string;
  readonly grantedBy: string;
  readonly createdAt: string;
}

/** What a watcher hears: a new ask, a repeat merged into one, or a decision. */
export interface ApprovalChange {
  readonly type: 'requested' | 'merged' | 'decided';
  readonly record: ApprovalRecord;
}

/** The queue of pending approvals of one state directory. */
export interface ApprovalQueue {
  /** The SQLite file. */
  readonly path: string;
  /** Stores an ask and waits for its decision. See {@link ApprovalQueue.submit} to learn the id first. */
  request(ask: AskInput, options?: RequestOptions): Promise<ApprovalDecision>;
  /** Stores an ask and returns its id at once, with the promise of its decision. */
  submit(ask: AskInput, options?: RequestOptions): { id: string; merged: boolean; decision: Promise<ApprovalDecision> };
  /** Waits for the decision on an existing ask (after a restart, for example). */
  wait(id: string, options?: Pick<RequestOptions, 'publish'> & { execId?: string }): Promise<ApprovalDecision>;
  get(id: string): ApprovalRecord | undefined;
  /** The id an exact id or a unique prefix of at least 4 characters names. */
  resolveId(idOrPrefix: string): string;
  list(filter?: { status?: ApprovalStatus; sessionId?: string; limit?: number }): ApprovalRecord[];
  /** Pending asks grouped into decision screens. */
  batches(filter?: { sessionId?: string }): ApprovalBatch[];
  /** Records a person's decision. Throws when the ask is gone, decided, expired, or the digest differs. */
  decide(id: string, input: DecideInput): ApprovalRecord;
  /** Decides several asks at once, all or none. Approval refuses destructive asks and the `rule` scope. */
  decideBatch(items: readonly BatchItem[], input: BatchDecideInput): ApprovalRecord[];
  /**
   * Checks, right before the executor runs it, that `action` is the approved action, and
   * uses the approval up. Returns the stored canonical action, which is what must run.
   */
  authorize(decision: ApprovalDecision, action: ApprovalAction | CanonicalAction): CanonicalAction;
  /** Prompt counts for a session. */
  stats(sessionId: string): PromptStats;
  grants(sessionId: string): SessionGrant[];
  /** Denies the session's pending asks and drops its grants; returns how many asks were denied. */
  endSession(sessionId: string, reason?: string): number;
  /** Hears every new ask, merge and decision, from this process or another. Returns the unsubscribe function. */
  watch(listener: (change: ApprovalChange) => void): () => void;
  /** Adds a channel name to those announced in `approval.requested`; returns its removal. */
  registerChannel(name: string): () => void;
  /** Channels currently announced. */
  readonly channels: readonly string[];
  /**
   * Claims the delivery of an ask to a named target (a webhook URL); false when this or
   * another process already claimed it. Used by channels so that one ask is sent once.
   */
  claimDelivery(approvalId: string, target: string): boolean;
  /** Records how a claimed delivery ended. */
  recordDelivery(approvalId: string, target: string, status: 'delivered' | 'failed', detail: string | null): void;
  /** How a delivery ended (`sending` while in flight), or undefined when it was never claimed. */
  delivery(approvalId: string, target: string): { status: string; detail: string | null } | undefined;
  /** Stops waiting: pending promises reject with `E_APPROVAL_CLOSED`; the asks stay stored. */
  close(): void;
}

const ID_ALPHABET = 'abcdefghijkmnpqrstuvwxyz23456789';

function newId(): string {
  const bytes = randomBytes(10);
  let s = 'ap_';
  for (const b of bytes) s += ID_ALPHABET.charAt(b % ID_ALPHABET.length);
  return s;
}

const partSchema = z.object({
  kind: z.string().max(64),
  verdict: z.enum(['allow', 'log', 'ask', 'deny']),
  ruleId: z.string().max(1024),
  reason: z.string().max(4096),
  subject: z.string().max(64 * 1024),
});
const askSchema = z.object({
  sessionId: z.string().min(1).max(256),
  sessionName: z.string().max(256).optional(),
  decision: z.object({
    verdict: z.literal('ask', { message: 'only an "ask" verdict goes to a person; allow runs and deny is final' }),
    ruleId: z.string().max(1024),
    reason: z.string().max(4096),
    parts: z.array(partSchema).max(1024),
  }),
  diff: z.string().max(1024 * 1024).optional(),
  policyFile: z
    .string()
    .max(4096)
    .refine((p) => p.startsWith('/'), 'must be an absolute path')
    .optional(),
  execId: z.string().max(256).optional(),
  requestId: z.string().max(256).optional(),
});

function invalid(message: string, hint: string): AirlockError {
  return new AirlockError('E_APPROVAL_INVALID', message, { hint });
}

/** Who decided and through which channel end up in the audit log: printable, short, no spaces. */
function checkDecider(by: string, channel: string): void {
  if (!/^[\x21-\x7e]{1,128}$/.test(by) || !/^[a-z][a-z0-9.-]{0,31}$/.test(channel)) {
    throw invalid(
      `decide: "by" (${JSON.stringify(by)}) or "channel" (${JSON.stringify(channel)}) is malformed`,
      'Name the decider as user:NAME or token:NAME and the channel as terminal, web or http.',
    );
  }
}

interface Waiter {
  resolve: (d: ApprovalDecision) => void;
  reject: (e: unknown) => void;
  startMs: number;
  execId: string | null;
  publish: ((e: ApprovalEvent) => void) | undefined;
  /** Undoes what was attached for the waiter (an abort listener) once it is settled. */
  detach?: () => void;
}

/** The decision a stored, decided row stands for. */
function decisionOf(r: ApprovalRecord, startMs?: number): ApprovalDecision {
  const res = r.resolution;
  const created = Date.parse(r.createdAt);
  const decidedMs = res === null ? Date.now() : Date.parse(res.decidedAt);
  const waitedMs = Math.max(0, decidedMs - (startMs ?? created));
  if (res !== null && res.status === 'approved') {
    return {
      approved: true,
      id: r.id,
      sessionId: r.sessionId,
      digest: r.digest,
      action: r.action,
      scope: res.scope ?? 'once',
      via: 'prompt',
      by: res.by,
      channel: res.channel,
      waitedMs,
      ruleText: res.ruleText,
    };
  }
  if (res !== null && res.status === 'denied') {
    return { approved: false, id: r.id, sessionId: r.sessionId, digest: r.digest, status: 'denied', by: res.by, channel: res.channel, waitedMs, reason: res.reason ?? `denied by ${res.by}` };
  }
  const limitMs = Date.parse(r.expiresAt) - created;
  const limit = limitMs < 1000 ? `${limitMs} ms` : `${Math.round(limitMs / 1000)} s`;
  return {
    approved: false,
    id: r.id,
    sessionId: r.sessionId,
    digest: r.digest,
    status: 'expired',
    by: 'airlock',
    channel: 'system',
    waitedMs,
    reason: `nobody answered within ${limit}, so the action was denied`,
  };
}

/**
 * Opens (creating if needed) the approvals queue of a state directory. Several processes
 * may open the same one; each sees the others' asks and decisions.
 */
export function createApprovalQueue(options: ApprovalQueueOptions): ApprovalQueue {
  const store = new ApprovalStore(options.stateDir);
  const defaultTimeout = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(defaultTimeout) || defaultTimeout <= 0 || defaultTimeout > MAX_TIMEOUT_MS) {
    store.close();
    throw new AirlockError('E_CONFIG_INVALID', `approvals.defaultTimeoutMs: ${String(defaultTimeout)} is not a whole number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`, {
      hint: 'Pass e.g. 300000 for five minutes.',
    });
  }
  const pollMs = options.pollIntervalMs ?? 100;
  const waiters = new Map<string, Set<Waiter>>();
  const timers = new Map<string, NodeJS.Timeout>();
  const watchers = new Set<(c: ApprovalChange) => void>();
  const channelCounts = new Map<string, number>();
  const known = new Map<string, { status: ApprovalStatus; count: number }>();
  let lastSeq = store.currentSeq();
  let lastDataVersion = store.dataVersion();
  let poller: NodeJS.Timeout | null = null;
  let closed = false;
  let ticking = false;
  let tickAgain = false;

  function checkOpen(): void {
    if (closed) throw new AirlockError('E_APPROVAL_CLOSED', 'the approvals queue is closed', { hint: 'Open a new queue with createApprovalQueue.' });
  }

  function emit(event: ApprovalEvent, sink: ((e: ApprovalEvent) => void) | undefined): void {
    (sink ?? options.publish)?.(event);
  }

  function channelList(): string[] {
    return [...channelCounts.keys()].sort();
  }

  function updatePolling(): void {
    const needed = !closed && (waiters.size > 0 || watchers.size > 0);
    if (needed && poller === null) {
      poller = setInterval(() => {
        try {
          tick(false);
        } catch {
          // A failed poll (a locked or vanished file) is retried on the next tick; waiters still expire on their timers.
        }
      }, pollMs);
      // The expiry timers keep the process alive while an action waits; polling alone must not.
      poller.unref();
    } else if (!needed && poller !== null) {
      clearInterval(poller);
      poller = null;
    }
  }

  function armTimer(id: string, expiresMs: number): void {
    if (timers.has(id)) return;
    const delay = Math.max(0, expiresMs - Date.now());
    const t = setTimeout(() => {
      timers.delete(id);
      if (closed) return;
      const now = Date.now();
      if (now < expiresMs) {
        armTimer(id, expiresMs);
        return;
      }
      store.decide(id, null, { status: 'expired', by: 'airlock', channel: 'system', scope: null, reason: null, ruleText: null }, now);
      tick(true);
    }, delay);
    timers.set(id, t);
  }

  function settle(record: ApprovalRecord): void {
    const set = waiters.get(record.id);
    if (set === undefined) return;
    waiters.delete(record.id);
    const t = timers.get(record.id);
    if (t !== undefined) {
      clearTimeout(t);
      timers.delete(record.id);
    }
    for (const w of set) {
      w.detach?.();
      const d = decisionOf(record, w.startMs);
      const time = new Date().toISOString();
      const execId = w.execId === null ? {} : { execId: w.execId };
      try {
        if (d.approved) {
          emit({ type: 'approval.granted', sessionId: d.sessionId, time, data: { approvalId: d.id, by: d.by, channel: d.channel, waitedMs: d.waitedMs, scope: d.scope, ...execId } }, w.publish);
        } else if (d.status === 'denied') {
          emit({ type: 'approval.denied', sessionId: d.sessionId, time, data: { approvalId: d.id, by: d.by, channel: d.channel, waitedMs: d.waitedMs, reason: d.reason, ...execId } }, w.publish);
        } else {
          emit({ type: 'approval.expired', sessionId: d.sessionId, time, data: { approvalId: d.id, waitedMs: d.waitedMs, ...execId } }, w.publish);
        }
      } catch (err) {
        // The decision must be on record before anything runs; without the event, nothing runs.
        w.reject(err);
        continue;
      }
      w.resolve(d);
    }
    updatePolling();
  }

  /** Finds rows changed since the last look (here or in another process), settles waiters and tells watchers. */
  function tick(force: boolean): void {
    if (closed) return;
    if (ticking) {
      // A watcher or event sink called back into the queue: finish this pass, then look again.
      tickAgain = true;
      return;
    }
    ticking = true;
    try {
      do {
        tickAgain = false;
        tickOnce(force);
      } while (tickAgain && !closed);
    } finally {
      ticking = false;
    }
  }

  function tickOnce(force: boolean): void {
    const dv = store.dataVersion();
    if (!force && dv === lastDataVersion) return;
    lastDataVersion = dv;
    store.expireOverdue(Date.now());
    const rows = store.changedSince(lastSeq);
    for (const row of rows) {
      if (closed) return;
      lastSeq = Math.max(lastSeq, row.seq);
      let record: ApprovalRecord;
      try {
        record = rowToRecord(row);
      } catch (err) {
        // A row that fails its digest check is never shown or approved; its waiters are refused.
        const set = waiters.get(row.id);
        waiters.delete(row.id);
        for (const w of set ?? []) w.reject(err);
        continue;
      }
      const prev = known.get(row.id);
      let type: ApprovalChange['type'] | null;
      if (record.status !== 'pending') type = prev === undefined || prev.status === 'pending' ? 'decided' : null;
      else if (prev === undefined) type = record.count > 1 ? 'merged' : 'requested';
      else type = record.count > prev.count ? 'merged' : null;
      if (record.status === 'pending') known.set(row.id, { status: record.status, count: record.count });
      else known.delete(row.id);
      if (record.status !== 'pending') settle(record);
      if (type !== null) {
        for (const w of [...watchers]) {
          try {
            w({ type, record });
          } catch {
            // A watcher (a web stream, a webhook) must not break the queue or the watchers after it.
          }
        }
      }
    }
  }

  function attachWaiter(id: string, w: Waiter, expiresMs: number): void {
    let set = waiters.get(id);
    if (set === undefined) {
      set = new Set();
      waiters.set(id, set);
    }
    set.add(w);
    armTimer(id, expiresMs);
    updatePolling();
  }

  /** When `signal` aborts, the waiter gives up: the ask expires, unless another waiter remains. */
  function abandonOnAbort(id: string, w: Waiter, signal: AbortSignal): void {
    const onAbort = (): void => {
      const set = waiters.get(id);
      if (closed || set === undefined || !set.has(w)) return; // settled already
      if (set.size > 1) {
        set.delete(w);
        w.reject(signal.reason);
        return;
      }
      const reason = typeof signal.reason === 'string' && signal.reason !== '' ? signal.reason.slice(0, 2000) : 'the requester stopped waiting';
      // False when it was decided meanwhile (here or in another process): the tick settles it with that decision.
      store.expireNow(id, reason, Date.now());
      tick(true);
    };
    if (signal.aborted) {
      queueMicrotask(onAbort);
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    w.detach = () => {
      signal.removeEventListener('abort', onAbort);
    };
  }

  function submit(ask: AskInput, opts: RequestOptions = {}): { id: string; merged: boolean; decision: Promise<ApprovalDecision> } {
    checkOpen();
    const parsed = askSchema.safeParse(ask);
    if (!parsed.success) throw invalid(`ask: ${formatIssues(parsed.error, 'ask')}`, 'The session layer passes the policy decision whose verdict is "ask", with its parts.');
    const action = canonicalAction(ask.action);
    const digest = digestOf(action);
    const timeoutMs = opts.timeoutMs ?? defaultTimeout;
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
      throw invalid(`timeoutMs: ${String(timeoutMs)} is not a whole number of milliseconds between 1 and ${MAX_TIMEOUT_MS}`, 'Pass e.g. 300000 for five minutes.');
    }
    const startMs = Date.now();
    const execId = ask.execId ?? null;

    const grant = store.getGrant(ask.sessionId, digest);
    if (grant !== undefined) {
      store.bumpAutoApproved(ask.sessionId);
      const d: ApprovalDecision = {
        approved: true,
        id: grant.approval_id,
        sessionId: ask.sessionId,
        digest,
        action,
        scope: 'session',
        via: 'session-grant',
        by: grant.granted_by,
        channel: 'session-grant',
        waitedMs: 0,
        ruleText: null,
      };
      emit(
        {
          type: 'approval.granted',
          sessionId: ask.sessionId,
          time: new Date(startMs).toISOString(),
          data: { approvalId: grant.approval_id, by: grant.granted_by, channel: 'session-grant', waitedMs: 0, scope: 'session', ...(execId === null ? {} : { execId }) },
        },
        opts.publish,
      );
      return { id: grant.approval_id, merged: false, decision: Promise.resolve(d) };
    }

    const { id, merged, expiresMs, subject } = store.tx(() => {
      const existing = store.findPending(ask.sessionId, digest, startMs);
      if (existing !== undefined) {
        store.merge(existing.id);
        return { id: existing.id, merged: true, expiresMs: existing.expires_ms, subject: existing.subject };
      }
      const newIdValue = newId();
      const parts = classifyParts(parsed.data.decision.parts, action);
      const resolved = ask.action.kind === 'file.read' || ask.action.kind === 'file.write' ? (ask.action.resolved ?? null) : null;
      const policyFile = ask.policyFile ?? null;
      const subjectText = displayAction(action);
      const expires = startMs + timeoutMs;
      store.insert({
        id: newIdValue,
        sessionId: ask.sessionId,
        sessionName: ask.sessionName ?? null,
        category: action.kind,
        digest,
        action: JSON.stringify(action),
        subject: subjectText,
        ruleId: ask.decision.ruleId,
        reason: ask.decision.reason,
        parts,
        resolved,
        diff: ask.diff ?? null,
        policyFile,
        execId,
        requestId: ask.requestId ?? null,
        destructive: isDestructiveAsk(action, parts),
        ruleProposal: proposeRule({ id: newIdValue, action, parts, resolved, policyFile }),
        createdMs: startMs,
        expiresMs: expires,
      });
      return { id: newIdValue, merged: false, expiresMs: expires, subject: subjectText };
    });

    const decision = new Promise<ApprovalDecision>((resolve, reject) => {
      const w: Waiter = { resolve, reject, startMs, execId, publish: opts.publish };
      attachWaiter(id, w, expiresMs);
      if (opts.signal !== undefined) abandonOnAbort(id, w, opts.signal);
    });
    try {
      emit(
        {
          type: 'approval.requested',
          sessionId: ask.sessionId,
          time: new Date(startMs).toISOString(),
          data: {
            approvalId: id,
            action: action.kind,
            subject,
            rule: ask.decision.ruleId,
            channels: channelList(),
            expiresAt: new Date(expiresMs).toISOString(),
            ...(execId === null ? {} : { execId }),
          },
        },
        opts.publish,
      );
    } catch (err) {
      // An ask that cannot be recorded must not wait for a person: it is denied, and the caller hears why.
      decision.catch(() => undefined);
      if (!merged) {
        store.decide(id, null, { status: 'denied', by: 'airlock', channel: 'system', scope: null, reason: 'the ask could not be recorded in the audit log', ruleText: null }, Date.now());
      }
      tick(true);
      throw err;
    }
    tick(true);
    return { id, merged, decision };
  }

  function requireRow(id: string): AskRow {
    const row = store.get(id);
    if (row === undefined) {
      throw new AirlockError('E_APPROVAL_NOT_FOUND', `no approval ${JSON.stringify(id)}`, { hint: 'List the pending ones with `airlock approvals --json`.' });
    }
    return row;
  }

  function conflict(record: ApprovalRecord): AirlockError {
    const res = record.resolution;
    const what = res === null ? 'pending' : res.status === 'expired' ? `expired at ${res.decidedAt}` : `already ${res.status} by ${res.by} via ${res.channel}`;
    return new AirlockError('E_APPROVAL_DECIDED', `approval ${record.id} is ${what}`, {
      hint: record.status === 'expired' ? 'The action was denied when it expired; the agent may ask again.' : 'Nothing was changed; a decision is final.',
    });
  }

  function decide(id: string, input: DecideInput): ApprovalRecord {
    checkOpen();
    const now = Date.now();
    const row = requireRow(id);
    const record = rowToRecord(row);
    if (record.status === 'pending' && row.expires_ms <= now) {
      store.decide(id, null, { status: 'expired', by: 'airlock', channel: 'system', scope: null, reason: null, ruleText: null }, now);
      tick(true);
      throw conflict(rowToRecord(requireRow(id)));
    }
    if (record.status !== 'pending') throw conflict(record);
    if (input.digest !== undefined && input.digest !== record.digest) {
      throw new AirlockError('E_APPROVAL_MISMATCH', `approval ${id}: the digest ${input.digest.slice(0, 16)}… is not that of the stored action (${record.digest.slice(0, 16)}…)`, {
        hint: 'What you saw is not what would run. Reload the ask and decide on what it shows now.',
      });
    }
    checkDecider(input.by, input.channel);
    if (input.decision === 'deny') {
      const reason = input.reason === undefined || input.reason.trim() === '' ? null : input.reason.slice(0, 2000);
      if (!store.decide(id, null, { status: 'denied', by: input.by, channel: input.channel, scope: null, reason, ruleText: null }, now)) throw conflict(rowToRecord(requireRow(id)));
      tick(true);
      return rowToRecord(requireRow(id));
    }
    if (input.digest === undefined) {
      throw invalid(`approval ${id}: an approval must name the digest of the action the person saw`, 'Pass back the digest shown with the ask.');
    }
    const scope = input.scope ?? 'once';
    let ruleText: string | null = null;
    let write: PreparedRuleWrite | null = null;
    if (scope === 'rule') {
      const p = record.ruleProposal;
      if (!p.ok || record.policyFile === null) {
        throw new AirlockError('E_APPROVAL_RULE', `approval ${id}: no rule can be proposed: ${p.ok ? 'the session has no policy file' : p.reason}`, { hint: 'Approve with scope once or session.' });
      }
      if (input.ruleText === undefined && input.ruleSha256 === undefined) {
        throw new AirlockError('E_APPROVAL_RULE', `approval ${id}: scope rule needs the confirmed rule text (or its sha256 ${p.sha256})`, {
          hint: 'Show the person the rule text and pass back exactly what they confirmed.',
        });
      }
      const confirmed = input.ruleText ?? (input.ruleSha256 === p.sha256 ? p.text : null);
      if (confirmed !== p.text) {
        throw new AirlockError('E_APPROVAL_RULE', `approval ${id}: the confirmed rule differs from the proposed rule`, { hint: 'Confirm the exact text shown; nothing was decided.' });
      }
      ruleText = p.text;
      // Every check on the policy file runs before the decision is recorded: a rule that
      // cannot be written leaves the ask pending, so the person can choose another scope.
      write = prepareRuleWrite(record.policyFile, p.text, confirmed, {
        ...(options.validatePolicy === undefined ? {} : { validate: options.validatePolicy }),
        stamp: { by: input.by, at: new Date(now).toISOString() },
      });
    }
    if (!store.decide(id, record.digest, { status: 'approved', by: input.by, channel: input.channel, scope, reason: null, ruleText }, now)) {
      throw conflict(rowToRecord(requireRow(id)));
    }
    if (scope === 'session') store.addGrant(record.sessionId, record.digest, id, input.by, now);
    if (write !== null) {
      try {
        write.commit();
      } catch (err) {
        // The approval stands (once); only the rule failed. The record and the caller both say so.
        store.setRuleError(id, err instanceof Error ? err.message : String(err));
        tick(true);
        throw err;
      }
    }
    tick(true);
    return rowToRecord(requireRow(id));
  }

  function decideBatch(items: readonly BatchItem[], input: BatchDecideInput): ApprovalRecord[] {
    checkOpen();
    checkDecider(input.by, input.channel);
    if (items.length === 0) throw invalid('a batch decision names no asks', 'Pass the ids and digests shown on the batch screen.');
    if (new Set(items.map((i) => i.id)).size !== items.length) throw invalid('a batch decision names an ask twice', 'Name each ask once.');
    const scope = input.decision === 'approve' ? (input.scope ?? 'once') : null;
    if (scope !== null && scope !== 'once' && scope !== 'session') {
      throw invalid(`scope ${JSON.stringify(scope)} cannot be given to a batch`, 'A rule is proposed and confirmed for one ask at a time.');
    }
    const now = Date.now();
    const done = store.tx(() => {
      for (const item of items) {
        const row = requireRow(item.id);
        const record = rowToRecord(row);
        if (record.status !== 'pending' || row.expires_ms <= now) throw conflict(record);
        if (record.digest !== item.digest) {
          throw new AirlockError('E_APPROVAL_MISMATCH', `approval ${item.id}: the digest shown is not that of the stored action`, { hint: 'Reload the batch; nothing was decided.' });
        }
        if (input.decision === 'approve' && record.destructive) {
          throw invalid(`approval ${item.id} (${record.subject}) is destructive and cannot be approved in a batch`, 'Decide it on its own; nothing in the batch was decided.');
        }
      }
      for (const item of items) {
        const reason = input.decision === 'deny' && input.reason !== undefined && input.reason.trim() !== '' ? input.reason.slice(0, 2000) : null;
        const ok = store.decide(
          item.id,
          item.digest,
          { status: input.decision === 'approve' ? 'approved' : 'denied', by: input.by, channel: input.channel, scope, reason, ruleText: null },
          now,
        );
        if (!ok) throw conflict(rowToRecord(requireRow(item.id)));
        if (scope === 'session') {
          const row = requireRow(item.id);
          store.addGrant(row.session_id, row.digest, item.id, input.by, now);
        }
      }
      return items.map((i) => i.id);
    });
    tick(true);
    return done.map((id) => rowToRecord(requireRow(id)));
  }

  function authorize(decision: ApprovalDecision, action: ApprovalAction | CanonicalAction): CanonicalAction {
    checkOpen();
    const mismatch = (why: string): AirlockError =>
      new AirlockError('E_APPROVAL_MISMATCH', `approval ${decision.id}: ${why}`, { hint: 'Nothing was run. Run only the action the approval returned, and ask again for anything else.' });
    if (!decision.approved) throw mismatch(`the action was ${decision.status}, not approved`);
    const canonical = canonicalAction(isCanonical(action) ? fromCanonical(action) : action);
    const digest = digestOf(canonical);
    if (digest !== decision.digest) throw mismatch('the action about to run is not the action that was approved');
    if (decision.via === 'session-grant') {
      if (store.getGrant(decision.sessionId, digest) === undefined) throw mismatch('the session grant no longer exists');
      return canonical;
    }
    const row = requireRow(decision.id);
    if (row.status !== 'approved' || row.digest !== digest || row.session_id !== decision.sessionId) throw mismatch('the stored approval does not match');
    if (!store.consume(decision.id)) throw mismatch('the approval was already used for every ask it answered');
    return parseCanonical(row.action, row.digest);
  }

  function list(filter: { status?: ApprovalStatus; sessionId?: string; limit?: number } = {}): ApprovalRecord[] {
    checkOpen();
    // Expires overdue asks and settles this process's waiters before anything is listed.
    tick(true);
    const limit = Math.min(Math.max(filter.limit ?? 500, 1), 10_000);
    const out: ApprovalRecord[] = [];
    for (const row of store.list({ status: filter.status, sessionId: filter.sessionId, limit })) {
      try {
        out.push(rowToRecord(row));
      } catch {
        // A tampered row is left out of every list: it can be neither shown nor approved.
      }
    }
    return out;
  }

  function batches(filter: { sessionId?: string } = {}): ApprovalBatch[] {
    const pending = list({ status: 'pending', ...(filter.sessionId === undefined ? {} : { sessionId: filter.sessionId }), limit: 10_000 }).reverse();
    const groups = new Map<string, ApprovalRecord[]>();
    for (const r of pending) {
      const key = JSON.stringify([r.sessionId, r.category, r.ruleId]);
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [r]);
      else g.push(r);
    }
    return [...groups.entries()].map(([key, items]) => {
      const first = items[0] as ApprovalRecord;
      return {
        key,
        sessionId: first.sessionId,
        sessionName: first.sessionName,
        category: first.category,
        ruleId: first.ruleId,
        reason: first.reason,
        items,
        prompts: items.length,
        asks: items.reduce((n, r) => n + r.count, 0),
        destructive: items.filter((r) => r.destructive).length,
      };
    });
  }

  function resolveId(idOrPrefix: string): string {
    checkOpen();
    if (store.get(idOrPrefix) !== undefined) return idOrPrefix;
    if (idOrPrefix.length < 4) throw new AirlockError('E_APPROVAL_NOT_FOUND', `no approval ${JSON.stringify(idOrPrefix)}`, { hint: 'Give the whole id, or at least its first 4 characters.' });
    const ids = store.idsWithPrefix(idOrPrefix.startsWith('ap_') ? idOrPrefix : `ap_${idOrPrefix}`);
    if (ids.length === 1) return ids[0] as string;
    if (ids.length === 0) throw new AirlockError('E_APPROVAL_NOT_FOUND', `no approval ${JSON.stringify(idOrPrefix)}`, { hint: 'List the pending ones with `airlock approvals --json`.' });
    throw new AirlockError('E_APPROVAL_NOT_FOUND', `"${idOrPrefix}" names several approvals (${ids.join(', ')}…)`, { hint: 'Give more of the id.' });
  }

  return {
    path: store.path,
    request: (ask, opts) => submit(ask, opts).decision,
    submit,
    wait(id, opts = {}) {
      checkOpen();
      const record = rowToRecord(requireRow(id));
      if (record.status !== 'pending') {
        // Decided while nobody waited (a restart): settle through the same path, so the event is still emitted.
        return new Promise<ApprovalDecision>((resolve, reject) => {
          waiters.set(id, new Set([{ resolve, reject, startMs: Date.parse(record.createdAt), execId: opts.execId ?? record.execId, publish: opts.publish }]));
          settle(record);
        });
      }
      return new Promise<ApprovalDecision>((resolve, reject) => {
        attachWaiter(id, { resolve, reject, startMs: Date.parse(record.createdAt), execId: opts.execId ?? record.execId, publish: opts.publish }, Date.parse(record.expiresAt));
        known.set(id, { status: 'pending', count: record.count });
      });
    },
    get(id) {
      checkOpen();
      const row = store.get(id);
      return row === undefined ? undefined : rowToRecord(row);
    },
    resolveId,
    list,
    batches,
    decide,
    decideBatch,
    authorize,
    stats(sessionId) {
      checkOpen();
      const c = store.counts(sessionId);
      return { sessionId, prompts: c.prompts, asks: c.asks, merged: c.asks - c.prompts, autoApproved: c.autoApproved, approved: c.approved, denied: c.denied, expired: c.expired, pending: c.pending };
    },
    grants(sessionId) {
      checkOpen();
      return store.grants(sessionId).map((g) => ({ sessionId: g.session_id, digest: g.digest, approvalId: g.approval_id, grantedBy: g.granted_by, createdAt: new Date(g.created_ms).toISOString() }));
    },
    endSession(sessionId, reason = 'the session ended') {
      checkOpen();
      const now = Date.now();
      const n = store.tx(() => {
        let denied = 0;
        for (const row of store.list({ status: 'pending', sessionId, limit: 100_000 })) {
          if (store.decide(row.id, null, { status: 'denied', by: 'airlock', channel: 'system', scope: null, reason, ruleText: null }, now)) denied++;
        }
        store.dropGrants(sessionId);
        return denied;
      });
      tick(true);
      return n;
    },
    watch(listener) {
      checkOpen();
      watchers.add(listener);
      updatePolling();
      return () => {
        watchers.delete(listener);
        updatePolling();
      };
    },
    registerChannel(name) {
      channelCounts.set(name, (channelCounts.get(name) ?? 0) + 1);
      let removed = false;
      return () => {
        if (removed) return;
        removed = true;
        const n = (channelCounts.get(name) ?? 1) - 1;
        if (n <= 0) channelCounts.delete(name);
        else channelCounts.set(name, n);
      };
    },
    get channels() {
      return channelList();
    },
    claimDelivery(approvalId, target) {
      checkOpen();
      return store.claimDelivery(approvalId, target, Date.now());
    },
    recordDelivery(approvalId, target, status, detail) {
      checkOpen();
      store.finishDelivery(approvalId, target, status, detail);
    },
    delivery(approvalId, target) {
      checkOpen();
      return store.delivery(approvalId, target);
    },
    close() {
      if (closed) return;
      closed = true;
      if (poller !== null) clearInterval(poller);
      poller = null;
      for (const t of timers.values()) clearTimeout(t);
      timers.clear();
      const err = new AirlockError('E_APPROVAL_CLOSED', 'the approvals queue was closed while an action waited', {
        hint: 'The action did not run. Its ask stays stored; a new queue can wait for it by id.',
      });
      for (const set of waiters.values()) for (const w of set) w.reject(err);
      waiters.clear();
      watchers.clear();
      store.close();
    },
  };
}
