/**
 * `ask` verdicts in a session: the action goes to the approval queue, waits (bounded) for a
 * person, and, when approved, what runs is the stored canonical action the person saw,
 * never the caller's arrays (which it may still hold and change while the ask waits).
 */
import type { ApprovalAction, ApprovalEvent, ApprovalQueue, CanonicalAction } from '../approvals/index.js';
import type { Action, Decision } from '../policy/index.js';

/** What the executor runs once an action is allowed. */
export interface ApprovedRun {
  readonly argv: readonly string[];
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** Everything {@link waitForApproval} needs. */
export interface WaitForApprovalInput {
  readonly queue: ApprovalQueue;
  readonly sessionId: string;
  readonly sessionName: string | undefined;
  /** The action the policy judged (an exec, or the file operation a helper command carries out). */
  readonly action: Action;
  readonly decision: Decision;
  /** What would run if the ask is approved. For file operations it is the fixed helper command. */
  readonly request: ApprovedRun;
  readonly execId: string;
  readonly policyFile: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly publish: (event: ApprovalEvent) => void;
  /** For a file write: the SHA-256 of the exact bytes that will be written, and the diff shown. */
  readonly contentSha256?: string;
  readonly diff?: () => Promise<string>;
  /** Builds the error thrown when the person denies or nobody answers in time. */
  readonly refuse: (why: string) => Error;
  /**
   * Aborted when the caller gives up on the action while it waits (a signal to the command):
   * the ask is withdrawn (denied by `airlock` via `system`, unless an identical ask shares it)
   * and the wait rejects with `cancelled(abort reason)`. Nothing runs, whatever is decided later.
   */
  readonly signal?: AbortSignal;
  readonly cancelled?: (reason: unknown) => Error;
  /** Called after a `rule` grant (approval `approvalId`) was written into the policy file. */
  readonly onRuleGranted: (approvalId: string) => void;
}

/** What to run for an authorized canonical action. */
function runFor(canonical: CanonicalAction, request: ApprovedRun): ApprovedRun {
  if (canonical.kind === 'exec' && canonical.argv !== null) {
    return {
      argv: [...canonical.argv],
      cwd: canonical.cwd ?? request.cwd,
      ...(Object.keys(canonical.env).length === 0 ? {} : { env: { ...canonical.env } }),
    };
  }
  // A file operation runs its fixed helper command; `authorize` has checked that the path
  // (and, for a write, the content digest) is the one the person approved.
  return request;
}

/**
 * Takes back an ask nobody else waits on: it is denied (by `airlock`, via `system`), so a
 * person is not left to approve an action that will not run. An ask that identical asks were
 * merged into stays, for them.
 */
function withdraw(queue: ApprovalQueue, id: string): void {
  try {
    const r = queue.get(id);
    if (r?.status === 'pending' && r.count === 1) {
      queue.decide(id, { decision: 'deny', by: 'airlock', channel: 'system', reason: 'its caller cancelled it before anyone answered' });
    }
  } catch {
    // decided meanwhile, or the queue closed: either way nothing runs
  }
}

/**
 * Puts an asked action in front of a person and waits. Resolves to what may run; rejects
 * (through `refuse`) when the person denies it or the wait times out.
 */
export async function waitForApproval(input: WaitForApprovalInput): Promise<ApprovedRun> {
  // The policy's actions have the approval queue's shape; a write adds its content digest.
  const action: ApprovalAction =
    input.contentSha256 === undefined || input.action.kind !== 'file.write' ? input.action : { ...input.action, contentSha256: input.contentSha256 };
  const diff = input.diff === undefined ? undefined : await input.diff();
  const cancelled = (): Error => input.cancelled?.(input.signal?.reason) ?? new Error('cancelled');
  if (input.signal?.aborted === true) throw cancelled();
  const submitted = input.queue.submit(
    {
      sessionId: input.sessionId,
      sessionName: input.sessionName,
      action,
      decision: input.decision,
      execId: input.execId,
      ...(input.policyFile === undefined ? {} : { policyFile: input.policyFile }),
      ...(diff === undefined ? {} : { diff }),
    },
    { ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }), publish: input.publish },
  );
  let onAbort: (() => void) | undefined;
  const decision = await (input.signal === undefined
    ? submitted.decision
    : Promise.race([
        submitted.decision,
        new Promise<never>((_resolve, reject) => {
          onAbort = () => {
            // Rejected first: the denial that withdrawing records must not win the race.
            reject(cancelled());
            withdraw(input.queue, submitted.id);
          };
          input.signal?.addEventListener('abort', onAbort, { once: true });
        }),
      ]).finally(() => {
        if (onAbort !== undefined) input.signal?.removeEventListener('abort', onAbort);
      }));
  if (!decision.approved) {
    const seconds = Math.round(decision.waitedMs / 1000);
    throw input.refuse(
      decision.status === 'expired'
        ? `${input.decision.reason}; it needed a person's approval and nobody answered within ${seconds} s (${decision.id})`
        : `${input.decision.reason}; a person denied it (${decision.by} via ${decision.channel}${decision.reason === '' ? '' : `: ${decision.reason}`}; ${decision.id})`,
    );
  }
  const canonical = input.queue.authorize(decision, action);
  if (decision.scope === 'rule') input.onRuleGranted(decision.id);
  return runFor(canonical, input.request);
}
