/**
 * Redaction of secrets before anything is written, printed or returned to an agent:
 * the secret values a session knows, and patterns of well-known credentials.
 */
export { createRedactor, MIN_SECRET_LENGTH } from './redactor.js';
export type { Redactor, RedactorOptions, RedactionMatch, StreamRedactor } from './redactor.js';
export { SECRET_PATTERNS, CONTEXT_HOLD, PATTERN_PREFILTER } from './patterns.js';
export type { RedactionKind, SecretPattern } from './patterns.js';
