/**
 * The shape of a red-team case. Cases are data: an id, a class, what is expected, and the
 * attack itself (a shell script run inside a live sandbox, an action through the policy
 * face, a hostile request to the egress proxy, or a host-side tamper of the audit log).
 */

/** The classes of ../shared/REDTEAM.md, as the report groups them. */
export const ATTACK_CLASSES = [
  'filesystem',
  'secrets',
  'network',
  'ssrf',
  'privilege',
  'resources',
  'persistence',
  'policy',
  'audit',
] as const;

/** One class of attack. */
export type AttackClass = (typeof ATTACK_CLASSES)[number];

/**
 * What containment means for a case:
 * - `blocked`: the attack runs inside the sandbox and must leave no trace on the host (no
 *   canary in its output or workspace, host files unchanged, no host service reached, no
 *   process left after the session, the audit chain intact) and must not print the run's
 *   escape marker (which a script prints only when its own attempt worked).
 * - `denied`: the action goes through the policy face and must be refused with
 *   `PolicyDeniedError` before anything reaches the sandbox.
 * - `held`: the policy allows the action by design (a build or test runner running code the
 *   workspace defines, which no command policy can see into); whatever it writes must stay
 *   in the session's staged workspace: the project is unchanged, and the default apply
 *   (without `allowProtected`) refuses or skips the protected file it planted.
 * - `refused`: a hostile request to the egress proxy must get a 4xx/5xx answer and must not
 *   reach the canary service on host loopback.
 * - `detected`: a host-side tamper of an audit log must make verification fail.
 */
export type Expected = 'blocked' | 'denied' | 'held' | 'refused' | 'detected';

interface CaseBase {
  /** Stable, unique, kebab-case: `fs-proc-1-root`. */
  readonly id: string;
  readonly class: AttackClass;
  /** What is attempted, and where the variant comes from. */
  readonly description: string;
  /**
   * A gap known and not yet fixed, with why: when the case escapes it is reported as `gap`
   * (listed, not failing the run); when it is contained the report says the mark can go.
   */
  readonly knownGap?: string;
}

/**
 * A shell script run with `/bin/sh -c` inside the sandbox. It sees these variables:
 * RT_MARK (print it only when the attempt worked), RT_HOST_HOME, RT_SSH_KEY, RT_AWS,
 * RT_OUTSIDE, RT_OUTSIDE_DIR, RT_SIBLING, RT_TCP_PORT, RT_UDP_PORT, RT_UNIX_SOCK,
 * RT_ABSTRACT, RT_STATE, RT_HOST_PID, RT_HOST_IP, RT_ENV_NAME, RT_TOKEN, RT_BACKEND.
 */
export interface SandboxCase extends CaseBase {
  readonly kind: 'sandbox';
  readonly expected: 'blocked';
  readonly script: string;
  /**
   * Host paths (with `{HOME}`, `{TOKEN}`, `{OUTSIDE_DIR}` placeholders) that must not exist
   * after the case.
   */
  readonly hostMustNotExist?: readonly string[];
  /** Runs in a session of its own with these tight limits (resource and lifetime cases). */
  readonly isolated?: { readonly limits: Readonly<Record<string, string | number>> };
  /** Run on a pty instead of pipes. */
  readonly tty?: boolean;
  /** Wall-clock limit for the script, ms (default 20 s). */
  readonly timeoutMs?: number;
  /**
   * Runs in the session whose egress proxy is up (bridged to 127.0.0.1:3128 inside), with
   * the runner's network policy: `localhost` and `rt-bound.test` allowed on the canary port,
   * 80 and 443, a credential whose value is the environment canary bound to `rt-bound.test`
   * (placeholder in `RT_CRED`), everything else denied. The script runs from a file in the
   * workspace (`sh /workspace/.rt/ID.sh`), so the policy judges one command, not the script.
   */
  readonly proxied?: boolean;
}

/** An action through the face an agent uses, with the default preset policy loaded. */
export type PolicyAction =
  | { readonly op: 'exec'; readonly argv: readonly string[]; readonly env?: Readonly<Record<string, string>> }
  | { readonly op: 'write'; readonly path: string; readonly content: string }
  | { readonly op: 'read'; readonly path: string };

/**
 * An action that the policy must deny (an `ask` with no approver is a deny too), or, for
 * `held`, one it allows whose protected writes must stay in the staged workspace.
 */
export interface PolicyCase extends CaseBase {
  readonly kind: 'policy';
  readonly expected: 'denied' | 'held';
  /** Harmless actions sent first (approval fatigue); each may be allowed. */
  readonly before?: readonly PolicyAction[];
  readonly action: PolicyAction;
}

/** A raw request to the egress proxy's unix socket. */
export interface EgressCase extends CaseBase {
  readonly kind: 'egress';
  readonly expected: 'refused';
  /** Which proxy: `guard` allows every host by policy (the SSRF guard alone stands);
   * `allowlist` allows only `allowed.example` on the allowed upstream's port. */
  readonly proxy: 'guard' | 'allowlist';
  /** The request head; `{P}` is the canary port, `{A}` the allowed upstream's port. */
  readonly request: string;
}

/** A host-side tamper of a finished session's audit log that verification must catch. */
export interface AuditTamperCase extends CaseBase {
  readonly kind: 'audit-tamper';
  readonly expected: 'detected';
  readonly tamper: 'edit' | 'delete' | 'reorder' | 'truncate' | 'append';
}

/** Any case. */
export type AttackCase = SandboxCase | PolicyCase | EgressCase | AuditTamperCase;

/** The verdict of one case. */
export type Verdict = 'contained' | 'escaped' | 'error' | 'gap';

/** One row of the report. */
export interface CaseResult {
  readonly id: string;
  readonly class: AttackClass;
  readonly expected: Expected;
  readonly description: string;
  readonly verdict: Verdict;
  /** Why: what the host saw. */
  readonly evidence: string;
  readonly durationMs: number;
}

/** The whole report. */
export interface AttackReport {
  readonly backend: string;
  readonly startedAt: string;
  readonly durationMs: number;
  readonly total: number;
  readonly contained: number;
  readonly escaped: number;
  readonly errors: number;
  /** Escapes of cases marked `knownGap`. */
  readonly gaps: number;
  readonly byClass: Readonly<Record<string, number>>;
  readonly results: readonly CaseResult[];
}
