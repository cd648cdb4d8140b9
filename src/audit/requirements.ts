/**
 * Security requirements of the audit part, by id. Tests cite these ids in their names;
 * test/unit/requirements.test.ts fails when an id here has no test citing it.
 */
export const AUDIT_REQUIREMENTS = {
  'audit.redact-before-write':
    'event data is redacted before it is hashed or written: no known secret or credential pattern reaches the log, the checkpoints or the index',
  'audit.chain':
    'every record hash covers its content and the record before it, with leaf, node and genesis hashes in separate domains and the chain bound to its session',
  'audit.detect-edit': 'verification detects an edited record and names its seq',
  'audit.detect-delete': 'verification detects a deleted record and names its seq',
  'audit.detect-insert': 'verification detects an inserted or duplicated record and names its seq',
  'audit.detect-reorder': 'verification detects reordered records and names the first seq out of place',
  'audit.detect-truncate':
    'verification detects a log truncated before its last signed checkpoint, even with the checkpoint file truncated too',
  'audit.canonical-bytes':
    'a stored line must be byte for byte the canonical encoding its hash covers: a line that decodes to the same record in other bytes (spacing, escapes, key order, a repeated key, other UTF-8) is an edit, and the fast path that hashes lines as they stand accepts nothing the full check would refuse',
  'audit.detect-rewrite':
    'verification detects a rewrite that recomputed the whole chain, against the signed checkpoints',
  'audit.after-final':
    'records after the final checkpoint of an ended session are detected, and an ended log cannot be reopened',
  'audit.checkpoint-signature':
    'a checkpoint with a signature invalid under the installation key (or a pinned key) is a failure',
  'audit.durable-ack': 'an event the writer acknowledged survives kill -9 of the writing process',
  'audit.single-writer':
    'one process writes a session log at a time; a lock left by a dead process is taken over',
  'audit.store-private':
    'audit directories are 0700, logs 0600, and a signing key readable by others is refused',
  'audit.fail-closed':
    'an event that cannot be recorded is reported and every later flush fails; a missing public key fails verification',
  'audit.file-events':
    'every file read and write through the session (SDK readFile/writeFile, MCP read_file, write_file, edit_file) is one file.read or file.write event with path, size and SHA-256, and for a write the previous SHA-256 and lines added and removed',
  'audit.sandbox-violation':
    'an exec the seccomp filter kills (SIGSYS) and one killed at its wall-clock limit each emit sandbox.violation with the exec id; an ordinary failure does not',
  'audit.agent-prompt': 'Session.recordPrompt puts an agent.prompt event in the session log, redacted like every record',
  'audit.session-isolation': "two sessions in one process never see or record each other's events",
  'audit.verify-exit':
    'airlock audit verify exits 0 only when intact, 1 when verification failed, 2 for usage and environment errors',
} as const;

/** A security requirement id of the audit part. */
export type AuditRequirementId = keyof typeof AUDIT_REQUIREMENTS;
