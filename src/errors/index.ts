/**
 * The one error type every part of Airlock throws. Each failure has a stable string
 * `code` (listed in docs/errors.md, checked by a unit test) and a `hint` that tells the
 * user what to do next. Messages name the bad value and the valid choices.
 */

/** Every error code Airlock can raise. Adding one means documenting it in docs/errors.md. */
export const ERROR_CODES = [
  'E_USAGE',
  'E_CONFIG_INVALID',
  'E_BACKEND_UNAVAILABLE',
  'E_BACKEND_FAILED',
  'E_KERNEL_UNSUPPORTED',
  'E_TEMPLATE_INVALID',
  'E_TEMPLATE_NOT_FOUND',
  'E_WORKSPACE_INVALID',
  'E_LIMIT_UNENFORCEABLE',
  'E_CGROUP_FAILED',
  'E_SESSION_NOT_FOUND',
  'E_SESSION_EXISTS',
  'E_SESSION_CLOSED',
  'E_SESSION_TIMEOUT',
  'E_EXEC_FAILED',
  'E_EXEC_TIMEOUT',
  'E_EXEC_CANCELLED',
  'E_PROTOCOL',
  'E_SUPERVISOR_MISSING',
  'E_POLICY_INVALID',
  'E_POLICY_DENIED',
  'E_AUDIT_IO',
  'E_AUDIT_LOCKED',
  'E_AUDIT_CORRUPT',
  'E_AUDIT_CLOSED',
  'E_AUDIT_INVALID_EVENT',
  'E_AUDIT_KEY',
  'E_AUDIT_EXPORT_FAILED',
  'E_REDACT_INVALID',
  'E_EGRESS_SECRET_UNAVAILABLE',
  'E_EGRESS_LISTEN_FAILED',
  'E_EGRESS_TUNNEL_HELPER_MISSING',
  'E_WORKSPACE_NOT_FOUND',
  'E_WORKSPACE_STATE',
  'E_WORKSPACE_STAGE_FAILED',
  'E_WORKSPACE_METADATA',
  'E_WORKSPACE_RACE',
  'E_WORKSPACE_NOT_GIT',
  'E_WORKSPACE_BRANCH',
  'E_GIT_FAILED',
  'E_APPROVAL_INVALID',
  'E_APPROVAL_NOT_FOUND',
  'E_APPROVAL_DECIDED',
  'E_APPROVAL_MISMATCH',
  'E_APPROVAL_RULE',
  'E_APPROVAL_CLOSED',
  'E_APPROVAL_STORE',
  'E_SERVER_LISTEN',
  'E_WEBHOOK_FAILED',
  'E_REDTEAM_CASE',
  'E_EDIT_FAILED',
  'E_NO_EGRESS',
  'E_FILE_CHANGED',
  'E_HTTP_FAILED',
  'E_EVENTS_OVERFLOW',
  'E_INTERNAL',
] as const;

/** A stable identifier for a kind of failure. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Options for {@link AirlockError}. */
export interface AirlockErrorOptions {
  /** What the user should do about it: install X, change option Y, run Z. */
  hint: string;
  /** The underlying error, if any. */
  cause?: unknown;
}

/** The base error of Airlock: a message, a stable `code` and a `hint`. */
export class AirlockError extends Error {
  /** Stable code, safe to match on. */
  readonly code: ErrorCode;
  /** What to do about it. */
  readonly hint: string;

  constructor(code: ErrorCode, message: string, options: AirlockErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AirlockError';
    this.code = code;
    this.hint = options.hint;
  }

  /** A plain object for `--json` output and wire protocols. */
  toJSON(): { code: ErrorCode; message: string; hint: string } {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

/** True when `value` is an {@link AirlockError}. */
export function isAirlockError(value: unknown): value is AirlockError {
  return value instanceof AirlockError;
}

/** True when `value` is a Node system error (has an errno `code` string). */
export function isErrnoException(value: unknown): value is NodeJS.ErrnoException {
  return value instanceof Error && typeof (value as NodeJS.ErrnoException).code === 'string';
}
