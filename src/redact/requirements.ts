/**
 * Security requirements of redaction, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const REDACT_REQUIREMENTS = {
  'redact.known-secrets':
    'every secret value the session knows is replaced, also percent-encoded, in text and in every string and key of a JSON value',
  'redact.patterns':
    'AWS, GitHub, Anthropic, OpenAI, Slack, Stripe keys, private key blocks, JWTs, URL passwords and Authorization credentials are replaced without a known value',
  'redact.stream-split':
    'a streaming redactor catches a secret split across chunks at any position, with bounded memory',
  'redact.short-secret': 'a secret too short to redact safely is refused, not ignored',
} as const;

/** A security requirement id of redaction. */
export type RedactRequirementId = keyof typeof REDACT_REQUIREMENTS;
