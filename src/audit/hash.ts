/**
 * The hash chain. Three domains, each with its own one-byte prefix, so that no hash of one
 * kind can be passed off as another (the RFC 6962 rule for Merkle trees):
 *
 *   leaf    = SHA-256(0x00 ‖ canonical record body)
 *   node    = SHA-256(0x01 ‖ previous node ‖ leaf)       (the record's `hash`)
 *   genesis = SHA-256(0x02 ‖ "airlock.audit.v1\0" ‖ session id)   (`prev` of seq 1)
 *
 * A linear chain is a degenerate Merkle tree: each node commits to every record before it.
 * Binding the genesis to the session id stops a log being passed off as another session's.
 */
import * as crypto from 'node:crypto';

const { createHash } = crypto;
const GENESIS = Buffer.from([0x02]);

// One-shot crypto.hash (Node >= 20.12) skips a Hash object per call: the chain hashes two
// small inputs per record, so that overhead is most of the cost.
const oneShot = (
  crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'buffer') => Buffer }
).hash;

function sha256(data: string | Buffer): Buffer {
  return oneShot === undefined
    ? createHash('sha256').update(data).digest()
    : oneShot('sha256', data, 'buffer');
}

const oneShotText = crypto as {
  hash?: (algorithm: string, data: string | Uint8Array, encoding: 'hex' | 'binary') => string;
};

/**
 * SHA-256 as hex. Asking the one-shot hash for hex instead of a Buffer skips allocating a
 * Buffer per call, which for a 65-byte node input costs about as much as the hashing.
 */
function sha256Hex(data: Uint8Array): string {
  return oneShotText.hash === undefined
    ? createHash('sha256').update(data).digest('hex')
    : oneShotText.hash('sha256', data, 'hex');
}

/** SHA-256 as a string of 32 one-byte characters: cheaper to copy into a buffer than hex. */
function sha256Latin1(data: Uint8Array): string {
  return oneShotText.hash === undefined
    ? createHash('sha256').update(data).digest('binary')
    : oneShotText.hash('sha256', data, 'binary');
}

/** SHA-256 of the canonical body of one record, in the leaf domain (prefix 0x00). */
export function leafHash(canonicalBody: string): Buffer {
  // U+0000 encodes as the single byte 0x00 in UTF-8.
  return sha256(`\0${canonicalBody}`);
}

const nodeInput = Buffer.alloc(65);
nodeInput[0] = 0x01;

/** The chain node that links `leaf` after `prev` (prefix 0x01). */
export function nodeHash(prev: Buffer, leaf: Buffer): Buffer {
  if (prev.length !== 32 || leaf.length !== 32)
    throw new RangeError('nodeHash: both inputs must be 32-byte SHA-256 digests');
  // One reused buffer: hashing is synchronous, so no call can interleave.
  prev.copy(nodeInput, 1, 0, 32);
  leaf.copy(nodeInput, 33, 0, 32);
  return sha256(nodeInput);
}

/** The `prev` of a session's first record. */
export function genesisHash(sessionId: string): Buffer {
  return createHash('sha256').update(GENESIS).update(`airlock.audit.v1\0${sessionId}`, 'utf8').digest();
}

/**
 * The canonical body of a record: the fields the leaf hash covers, keys in sorted order.
 * `canonicalData` must already be canonical JSON.
 */
export function canonicalBody(
  seq: number,
  time: string,
  session: string,
  type: string,
  canonicalData: string,
): string {
  return `{"data":${canonicalData},"seq":${seq},"session":${JSON.stringify(session)},"time":${JSON.stringify(time)},"type":${JSON.stringify(type)}}`;
}

/** The hash of the record with these fields, chained after `prev`. */
export function recordHash(
  prev: Buffer,
  seq: number,
  time: string,
  session: string,
  type: string,
  canonicalData: string,
): Buffer {
  return nodeHash(prev, leafHash(canonicalBody(seq, time, session, type, canonicalData)));
}

// Hex digit values by char code; -1 for anything that is not a lower-case hex digit.
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

/** Writes the 32 bytes of a 64-digit lower-case hex digest into `out` at `offset`. */
function putDigest(out: Buffer, offset: number, hex: string): void {
  if (hex.length !== 64) throw new RangeError('putDigest: a SHA-256 hex digest has 64 digits');
  for (let i = 0; i < 32; i++) {
    const hi = HEX_VALUE[hex.charCodeAt(2 * i)] ?? -1;
    const lo = HEX_VALUE[hex.charCodeAt(2 * i + 1)] ?? -1;
    if (hi < 0 || lo < 0) throw new RangeError('putDigest: not a lower-case hex digest');
    out[offset + i] = (hi << 4) | lo;
  }
}

/**
 * The chain as a verifier walks it, in hex, with the leaf input supplied in place (no
 * copy, no Buffer per hash). It computes exactly {@link recordHash}; it exists for speed.
 */
export interface ChainWalker {
  /** The hex hash of the record last advanced to (the genesis hash at the start). */
  readonly headHex: string;
  /**
   * The node hash (hex) of the record whose leaf input is `framed`: the byte 0x00 followed
   * by the record's canonical body in UTF-8. Does not advance.
   */
  nodeHexOfFramedLeaf(framed: Uint8Array): string;
  /** Moves the head to `hashHex` (a 64-digit lower-case hex digest). */
  advance(hashHex: string): void;
}

/** A {@link ChainWalker} starting at `headHex`. */
export function createChainWalker(headHex: string): ChainWalker {
  // 0x01 ‖ prev ‖ leaf, reused: hashing is synchronous, so no call can interleave.
  const node = Buffer.alloc(65);
  node[0] = 0x01;
  putDigest(node, 1, headHex);
  let head = headHex;
  return {
    get headHex() {
      return head;
    },
    nodeHexOfFramedLeaf(framed) {
      if (framed[0] !== 0x00)
        throw new RangeError('nodeHexOfFramedLeaf: the leaf input must start with 0x00');
      const leaf = sha256Latin1(framed);
      for (let i = 0; i < 32; i++) node[33 + i] = leaf.charCodeAt(i);
      return sha256Hex(node);
    },
    advance(hashHex) {
      putDigest(node, 1, hashHex);
      head = hashHex;
    },
  };
}
