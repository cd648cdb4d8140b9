/**
 * The audit part: every action in a hash-chained, redacted, append-only log per session,
 * signed checkpoints, an SQLite index across sessions, verification and OTLP export.
 *
 * The session layer opens one store per process and attaches each session's event channel:
 * `attachAudit(channel, { store, sessionId, redactor })`.
 */
import type { AuditRecord } from './record.js';
import type { OtlpHttpOptions } from './otlp.js';

export { openAuditStore } from './store.js';
export type { AuditStore, AuditStoreOptions, OpenLogOptions, VerifyOptions, FollowOptions } from './store.js';
export { attachAudit } from './attach.js';
export type { AttachAuditOptions, AuditAttachment } from './attach.js';
export { AuditLog, DEFAULT_CHECKPOINT_EVERY } from './log.js';
export type { AuditReceipt, AuditHead } from './log.js';
export type { AuditRecord } from './record.js';
export type { Checkpoint } from './checkpoint.js';
export type { SessionSummary, QueryFilter } from './index-db.js';
export type { VerifyReport, VerifyProblem, VerifyProblemKind } from './verify.js';
export type { OtlpHttpOptions } from './otlp.js';
export { resolveStateDir, auditPaths, isSessionId } from './paths.js';
export type { AuditPaths } from './paths.js';
export { parseTimeSpec } from './time-spec.js';
export { canonicalJson } from './canonical.js';
export { createChainWalker, genesisHash, leafHash, nodeHash, recordHash } from './hash.js';
export type { ChainWalker } from './hash.js';

/**
 * The OTLP/JSON `ExportTraceServiceRequest` for a session's records (what
 * `airlock audit export --format otlp-json` prints). Loads OpenTelemetry on first use.
 */
export async function toOtlpJson(sessionId: string, records: readonly AuditRecord[]): Promise<string> {
  const otlp = await import('./otlp.js');
  return otlp.toOtlpJson(sessionId, records);
}

/** Sends a session's spans to an OTLP/HTTP collector (`--otlp URL`). Loads OpenTelemetry on first use. */
export async function exportOtlpHttp(
  sessionId: string,
  records: readonly AuditRecord[],
  url: string,
  options: OtlpHttpOptions = {},
): Promise<{ spans: number; endpoint: string }> {
  const otlp = await import('./otlp.js');
  return otlp.exportOtlpHttp(sessionId, records, url, options);
}
