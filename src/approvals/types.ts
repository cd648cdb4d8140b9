/**
 * The small structural types approvals needs from its neighbours (policy actions and
 * decisions, events) and the types it defines itself. Policy, events and sessions are
 * built concurrently; depending on these shapes instead of their files keeps this part
 * compiling when theirs moves. A compile-time check in the tests proves the event shapes
 * still fit `src/events`.
 */

// ------------------------------------------------------------------ actions

/** Run a program with an argument vector (no shell). Same shape as the policy's. */
export interface ExecArgvActionLike {
  readonly kind: 'exec';
  readonly argv: readonly string[];
  readonly cwd?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
}

/** Run a bash command line. Same shape as the policy's. */
export interface ExecCommandActionLike {
  readonly kind: 'exec';
  readonly command: string;
  readonly cwd?: string | undefined;
  readonly env?: Readonly<Record<string, string>> | undefined;
}

/** What the host learned about a path before asking (the policy's `ResolvedPathInfo`). */
export interface ResolvedPathLike {
  readonly realPath: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block' | 'missing';
  readonly nlink: number;
}

/**
 * Read or write one file. `contentSha256` (hex SHA-256 of the bytes to be written) binds a
 * write's approval to its content: without it a person approving one diff would approve
 * any content for that path.
 */
export interface FileActionLike {
  readonly kind: 'file.read' | 'file.write';
  readonly path: string;
  readonly resolved?: ResolvedPathLike | undefined;
  readonly contentSha256?: string | undefined;
}

/** One outbound request, or a CONNECT tunnel (no method and path). */
export interface NetworkActionLike {
  readonly kind: 'network';
  readonly host: string;
  readonly port: number;
  readonly method?: string | undefined;
  readonly path?: string | undefined;
  readonly scheme?: 'http' | 'https' | undefined;
}

/** Any action a person can be asked about. */
export type ApprovalAction = ExecArgvActionLike | ExecCommandActionLike | FileActionLike | NetworkActionLike;

/** The category of an ask: the kind of its action. */
export type ApprovalCategory = ApprovalAction['kind'];

/**
 * An action in canonical form: every optional field present (null when absent), env keys
 * sorted, nothing else. Its canonical JSON is what the digest covers, and it is exactly
 * what the executor must run. `resolved` is not part of it: it describes the file system
 * at ask time, not the action.
 */
export type CanonicalAction =
  | {
      readonly kind: 'exec';
      readonly argv: readonly string[];
      readonly command: null;
      readonly cwd: string | null;
      readonly env: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'exec';
      readonly argv: null;
      readonly command: string;
      readonly cwd: string | null;
      readonly env: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'file.read' | 'file.write';
      readonly path: string;
      readonly contentSha256: string | null;
    }
  | {
      readonly kind: 'network';
      readonly host: string;
      readonly port: number;
      readonly method: string | null;
      readonly path: string | null;
      readonly scheme: 'http' | 'https' | null;
    };

// ---------------------------------------------------------------- decisions

/** A verdict as the policy returns it. */
export type VerdictLike = 'allow' | 'log' | 'ask' | 'deny';

/** One part of a policy decision: a simple command, a file access, a request. */
export interface DecisionPartLike {
  readonly kind: string;
  readonly verdict: VerdictLike;
  readonly ruleId: string;
  readonly reason: string;
  /** What the part is about, for display (a shell-quoted command, a path, a URL). */
  readonly subject: string;
}

/** The policy decision that said `ask`: the rule that asked, why, and every part. */
export interface PolicyDecisionLike {
  readonly verdict: VerdictLike;
  readonly ruleId: string;
  readonly reason: string;
  readonly parts: readonly DecisionPartLike[];
}

// --------------------------------------------------------------------- asks

/** What the session layer hands the queue when the policy says `ask`. */
export interface AskInput {
  /** The session the action belongs to. */
  readonly sessionId: string;
  /** The session's human name, for display. */
  readonly sessionName?: string | undefined;
  /** The action, exactly as it would run. */
  readonly action: ApprovalAction;
  /** The policy decision that asked. */
  readonly decision: PolicyDecisionLike;
  /** For a file write: the unified diff of the change, computed from the content `contentSha256` names. */
  readonly diff?: string | undefined;
  /** The policy file a `rule` grant would be written to; without it only `once` and `session` are offered. */
  readonly policyFile?: string | undefined;
  /** Links the audit events to the exec or request this ask was about. */
  readonly execId?: string | undefined;
  readonly requestId?: string | undefined;
}

/** How far an approval reaches. */
export type GrantScope = 'once' | 'session' | 'rule';

/** Every scope, in the order they widen. */
export const GRANT_SCOPES: readonly GrantScope[] = ['once', 'session', 'rule'];

/** Where an ask stands. */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired';

/** A rule proposed from an ask: the exact text a person confirms, or why there is none. */
export type RuleProposal =
  | {
      readonly ok: true;
      /** The YAML fragment that is merged into the policy file, byte for byte what the person confirms. */
      readonly text: string;
      /** Hex SHA-256 of `text`, for confirming on a channel where retyping the text is impractical. */
      readonly sha256: string;
      /** What the rule covers beyond the exact action, in words, shown next to the text. */
      readonly notes: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

/** One part as the approvals queue stores and shows it. */
export interface AskPart {
  readonly kind: string;
  readonly verdict: VerdictLike;
  readonly ruleId: string;
  readonly reason: string;
  readonly subject: string;
  /** The argv the part runs when the subject is a concrete command (no globs, nothing dynamic). */
  readonly argv: readonly string[] | null;
  /** True for commands that delete, overwrite, run arbitrary code or escalate. */
  readonly destructive: boolean;
}

/** What a person decided, once they did. */
export interface ApprovalResolution {
  readonly status: 'approved' | 'denied' | 'expired';
  readonly decidedAt: string;
  /** Who: `user:NAME` for a local user, `token:NAME` for an API token, `airlock` for the system. */
  readonly by: string;
  /** Through which channel: `terminal`, `web`, `http`, `system`. */
  readonly channel: string;
  readonly scope: GrantScope | null;
  readonly reason: string | null;
  /** The rule text the person confirmed (scope `rule`). */
  readonly ruleText: string | null;
  /** Why the confirmed rule could not be written, when it could not; the action was still approved once. */
  readonly ruleError: string | null;
}

/** A stored ask with everything a person needs to judge it. */
export interface ApprovalRecord {
  readonly id: string;
  readonly sessionId: string;
  readonly sessionName: string | null;
  readonly category: ApprovalCategory;
  /** The action exactly as it will run. */
  readonly action: CanonicalAction;
  /** Hex SHA-256 of the canonical action; a decision names it, and the executor checks it. */
  readonly digest: string;
  /** The action in one line, with control and bidirectional characters escaped. */
  readonly subject: string;
  readonly ruleId: string;
  readonly reason: string;
  readonly parts: readonly AskPart[];
  /** For a file action: what the path resolved to when it was asked. */
  readonly resolved: ResolvedPathLike | null;
  readonly diff: string | null;
  readonly policyFile: string | null;
  readonly execId: string | null;
  readonly requestId: string | null;
  /** True when any part deletes, overwrites or runs arbitrary code: never batch-approved. */
  readonly destructive: boolean;
  readonly ruleProposal: RuleProposal;
  readonly createdAt: string;
  readonly expiresAt: string;
  /** How many identical asks were merged into this one (1 for a single ask). */
  readonly count: number;
  readonly status: ApprovalStatus;
  readonly resolution: ApprovalResolution | null;
}

/**
 * The answer `request` gives the waiting action. An approval carries the canonical
 * action: the executor runs that (after {@link ApprovalQueue.authorize}), never its own copy.
 */
export type ApprovalDecision =
  | {
      readonly approved: true;
      readonly id: string;
      readonly sessionId: string;
      readonly digest: string;
      readonly action: CanonicalAction;
      readonly scope: GrantScope;
      /** `prompt` when a person answered this ask, `session-grant` when an earlier session grant covered it. */
      readonly via: 'prompt' | 'session-grant';
      readonly by: string;
      readonly channel: string;
      readonly waitedMs: number;
      readonly ruleText: string | null;
    }
  | {
      readonly approved: false;
      readonly id: string;
      readonly sessionId: string;
      readonly digest: string;
      readonly status: 'denied' | 'expired';
      readonly by: string;
      readonly channel: string;
      readonly waitedMs: number;
      readonly reason: string;
    };

// ------------------------------------------------------------------- events

/** `approval.requested`, shaped as `src/events` defines it. */
export interface ApprovalRequestedEvent {
  readonly type: 'approval.requested';
  readonly sessionId: string;
  readonly time: string;
  readonly data: {
    approvalId: string;
    action: ApprovalCategory;
    subject: string;
    rule?: string;
    channels: string[];
    expiresAt: string;
    execId?: string;
  };
}

/** `approval.granted`. */
export interface ApprovalGrantedEvent {
  readonly type: 'approval.granted';
  readonly sessionId: string;
  readonly time: string;
  readonly data: { approvalId: string; by: string; channel: string; waitedMs: number; scope: string; execId?: string };
}

/** `approval.denied`. */
export interface ApprovalDeniedEvent {
  readonly type: 'approval.denied';
  readonly sessionId: string;
  readonly time: string;
  readonly data: { approvalId: string; by: string; channel: string; waitedMs: number; reason?: string; execId?: string };
}

/** `approval.expired`. */
export interface ApprovalExpiredEvent {
  readonly type: 'approval.expired';
  readonly sessionId: string;
  readonly time: string;
  readonly data: { approvalId: string; waitedMs: number; execId?: string };
}

/** Every event the queue emits. Each is assignable to `AirlockEvent` from `src/events`. */
export type ApprovalEvent = ApprovalRequestedEvent | ApprovalGrantedEvent | ApprovalDeniedEvent | ApprovalExpiredEvent;

/** Where events go: a session's event channel fits (`{ publish }`). */
export interface ApprovalEventSink {
  publish(event: ApprovalEvent): void;
}
