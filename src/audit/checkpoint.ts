import { canonicalJson } from './canonical.js';
import { signMessage, verifyMessage } from './keys.js';
import type { SigningKey, VerifyKey } from './keys.js';

/**
 * A signed statement "session S had N records and its chain head was H". Written every
 * N records and when the session ends (`final`), to a file beside the log and into the
 * index. A checkpoint lets verification detect a truncated log, and a rewritten chain that
 * is consistent with itself but not with what was signed.
 */
export interface Checkpoint {
  v: 1;
  session: string;
  /** The last record covered (0 for a session closed with no record). */
  seq: number;
  /** The chain hash of that record (the genesis hash when seq is 0). */
  hash: string;
  time: string;
  /** True for the checkpoint written when the session ended: nothing may follow it. */
  final: boolean;
  keyId: string;
  /** Base64 Ed25519 signature over the domain tag and the canonical body. */
  sig: string;
}

const DOMAIN = 'airlock.audit.checkpoint.v1\n';

function message(cp: Omit<Checkpoint, 'sig'>): Buffer {
  const body = canonicalJson({
    final: cp.final,
    hash: cp.hash,
    keyId: cp.keyId,
    seq: cp.seq,
    session: cp.session,
    time: cp.time,
    v: cp.v,
  });
  return Buffer.from(DOMAIN + body, 'utf8');
}

/** Creates and signs a checkpoint. */
export function signCheckpoint(
  key: SigningKey,
  session: string,
  seq: number,
  hash: string,
  final: boolean,
  time: string,
): Checkpoint {
  const body = { v: 1 as const, session, seq, hash, time, final, keyId: key.keyId };
  return { ...body, sig: signMessage(key, message(body)).toString('base64') };
}

/** True when the checkpoint's signature is valid under `key`. */
export function verifyCheckpoint(key: VerifyKey, cp: Checkpoint): boolean {
  return verifyMessage(key, message(cp), Buffer.from(cp.sig, 'base64'));
}

/** Parses one checkpoint line; returns a message when it is not one. */
export function parseCheckpointLine(line: string): Checkpoint | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not valid JSON';
  }
  if (value === null || typeof value !== 'object') return 'not a JSON object';
  const c = value as Record<string, unknown>;
  if (c.v !== 1) return 'unknown checkpoint version';
  if (typeof c.session !== 'string') return 'session is not a string';
  if (typeof c.seq !== 'number' || !Number.isSafeInteger(c.seq) || c.seq < 0) return 'seq is not an integer';
  if (typeof c.hash !== 'string' || !/^[0-9a-f]{64}$/.test(c.hash)) return 'hash is not a SHA-256 hex digest';
  if (typeof c.time !== 'string') return 'time is not a string';
  if (typeof c.final !== 'boolean') return 'final is not a boolean';
  if (typeof c.keyId !== 'string') return 'keyId is not a string';
  if (typeof c.sig !== 'string') return 'sig is not a string';
  return {
    v: 1,
    session: c.session,
    seq: c.seq,
    hash: c.hash,
    time: c.time,
    final: c.final,
    keyId: c.keyId,
    sig: c.sig,
  };
}

/** The stored line of a checkpoint, newline included. */
export function encodeCheckpointLine(cp: Checkpoint): string {
  return `${JSON.stringify(cp)}\n`;
}
