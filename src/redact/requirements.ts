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
  'redact.short-secret':
    'a secret shorter than 8 characters (too short to redact without shredding text, and guessable through redaction itself) is refused and the session does not start; never silently skipped',
  'redact.credential-values':
    "the secret values the session's credential broker resolves (and the base64 basic-auth form it sends) are redacted from every event, excerpt and tool result from the first event on",
  'redact.agent-output':
    'MCP tool results (command output, file content, search hits, HTTP responses, errors) and streamed progress pass through the session redactor; a secret split across output chunks or cut at a limit never shows, not even in part',
  'redact.exec-excerpt':
    'the exec.finished output excerpt is redacted per stream before it is cut, so a secret at the cut leaves no prefix behind',
} as const;

/** A security requirement id of redaction. */
export type RedactRequirementId = keyof typeof REDACT_REQUIREMENTS;
