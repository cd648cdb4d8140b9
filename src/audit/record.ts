import type { JsonValue } from '../events/index.js';

/** One record of a session's audit log, as stored (one JSON line). */
export interface AuditRecord {
  /** 1, 2, 3, … within the session, without gaps. */
  seq: number;
  /** When the event happened (ISO 8601), as the emitter said. */
  time: string;
  /** The session id. */
  session: string;
  /** The event type (`exec.started`, …). */
  type: string;
  /** The event's redacted data. */
  data: JsonValue;
  /** Hex hash of the record before (the session's genesis hash for seq 1). */
  prev: string;
  /** Hex chain hash of this record (see hash.ts). */
  hash: string;
}

/**
 * The stored line of a record, newline included: the record's canonical body (see
 * hash.ts), which its leaf hash covers byte for byte, with `prev` and `hash` appended.
 * Anyone can check a line with no JSON library: drop the last 149 characters, add `}`,
 * and hash. Fields therefore appear in sorted order: data, seq, session, time, type.
 */
export function encodeRecordLine(canonicalBody: string, prevHex: string, hashHex: string): string {
  return `${canonicalBody.slice(0, -1)},"prev":"${prevHex}","hash":"${hashHex}"}\n`;
}

/** Length of the `,"prev":"…","hash":"…"}` trailer of a stored line. */
export const TRAILER_LENGTH = 149;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Parses one stored line. Returns the record, or a message saying what is wrong with it
 * (verification reports it; it is not an exception because a bad line is an expected finding).
 */
export function parseRecordLine(line: string): AuditRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.seq !== 'number' || !Number.isSafeInteger(r.seq) || r.seq < 1)
    return 'seq is not a positive integer';
  if (typeof r.time !== 'string') return 'time is not a string';
  if (typeof r.session !== 'string') return 'session is not a string';
  if (typeof r.type !== 'string') return 'type is not a string';
  if (!('data' in r)) return 'data is missing';
  if (typeof r.prev !== 'string' || !HEX64.test(r.prev)) return 'prev is not a SHA-256 hex digest';
  if (typeof r.hash !== 'string' || !HEX64.test(r.hash)) return 'hash is not a SHA-256 hex digest';
  return {
    seq: r.seq,
    time: r.time,
    session: r.session,
    type: r.type,
    data: r.data as JsonValue,
    prev: r.prev,
    hash: r.hash,
  };
}
