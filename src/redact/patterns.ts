/**
 * Patterns of well-known credentials. Each one is written so that a token is a run of
 * non-whitespace characters (the streaming redactor relies on that to know how much to
 * hold back), except the key-name context of the AWS secret and Authorization patterns,
 * which is bounded by {@link CONTEXT_HOLD}.
 */

/** The kinds of secret the redactor recognizes; `secret` is a value the session named. */
export type RedactionKind =
  | 'secret'
  | 'aws-access-key-id'
  | 'aws-secret-access-key'
  | 'github-token'
  | 'anthropic-key'
  | 'openai-key'
  | 'slack-token'
  | 'slack-webhook'
  | 'stripe-key'
  | 'private-key'
  | 'jwt'
  | 'url-password'
  | 'authorization-header';

/** One credential pattern. */
export interface SecretPattern {
  kind: Exclude<RedactionKind, 'secret'>;
  /** Global, with indices (`gd`), so capture-group offsets are known. */
  regex: RegExp;
  /** The capture group that holds the secret; 0 means the whole match. */
  group: number;
}

/**
 * Longest key-name context (before the secret itself) any pattern looks at, plus slack.
 * A streaming redactor holds back at least this many characters so that a context split
 * from its value across two chunks is still seen.
 */
export const CONTEXT_HOLD = 128;

const PEM_LABEL = String.raw`-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`;
const PEM_END = String.raw`-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----`;

/** Matches the END line of a private key block (used by the streaming redactor). */
export const PEM_END_REGEX = new RegExp(PEM_END);

/**
 * A cheap first look: every pattern below contains one of these fragments, so a string
 * without any (most argv elements, paths, ordinary output) skips the full scan. Keep it a
 * superset when adding a pattern; the unit tests run every pattern through it.
 */
export const PATTERN_PREFILTER =
  /PRIVATE KEY|A(?:KIA|SIA|BIA|CCA|GPA|IDA|ROA|IPA|NPA|NVA|PKA)|secret|gh[pousr]_|github_pat_|sk-|xox|xapp-|hooks\.slack\.com|[sr]k_|whsec_|eyJ|:\/\/|authorization/i;

/** The built-in credential patterns, most specific first. */
export const SECRET_PATTERNS: readonly SecretPattern[] = [
  {
    // An unterminated block (a truncated excerpt, a stream cut short) is redacted to the end:
    // half a private key is still a secret.
    kind: 'private-key',
    regex: new RegExp(`${PEM_LABEL}(?:[\\s\\S]*?${PEM_END}|[\\s\\S]*$)`, 'gd'),
    group: 0,
  },
  {
    kind: 'aws-access-key-id',
    regex: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b/dg,
    group: 0,
  },
  {
    // A secret access key is 40 base64 characters with nothing to tell it apart from other
    // base64, so it is recognized by the name it is given in configs and env dumps.
    kind: 'aws-secret-access-key',
    regex:
      /(?:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)["']?\s{0,8}[:=]\s{0,8}["']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])/dgi,
    group: 1,
  },
  {
    kind: 'github-token',
    regex: /\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b/dg,
    group: 0,
  },
  {
    kind: 'anthropic-key',
    regex: /\bsk-ant-[A-Za-z0-9_-]{20,}/dg,
    group: 0,
  },
  {
    kind: 'openai-key',
    regex: /\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/dg,
    group: 0,
  },
  {
    kind: 'slack-webhook',
    regex: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9/_-]{8,}/dg,
    group: 0,
  },
  {
    kind: 'slack-token',
    regex: /\b(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})/dg,
    group: 0,
  },
  {
    kind: 'stripe-key',
    regex: /\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{24,})/dg,
    group: 0,
  },
  {
    // Header and payload are base64url JSON objects, so both start with `eyJ` (`{"`).
    kind: 'jwt',
    regex: /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/dg,
    group: 0,
  },
  {
    // Only the password is redacted: the scheme, user and host are what a reviewer needs.
    kind: 'url-password',
    regex: /\b[a-zA-Z][a-zA-Z0-9+.-]{1,30}:\/\/[^\s:/?#@]*:([^\s/?#@]+)@/dg,
    group: 1,
  },
  {
    kind: 'authorization-header',
    regex:
      /\b(?:proxy-)?authorization["']?\s{0,8}[:=]\s{0,8}["']?(?:bearer|basic|token|digest)\s+([A-Za-z0-9._~+/=-]{8,})/dgi,
    group: 1,
  },
];
