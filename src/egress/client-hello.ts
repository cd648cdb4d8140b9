/**
 * Reads the server name (SNI) from the first bytes of a TLS connection.
 *
 * An opaque CONNECT tunnel is judged on the CONNECT target; the SNI the client then sends
 * is what a CDN routes on. If the two differ, the tunnel is domain fronting: an allowed
 * name on the outside, another site on the inside. Reading the ClientHello lets the proxy
 * refuse that without decrypting anything.
 */

/** What the bytes seen so far say. */
export type ClientHelloResult =
  | { readonly status: 'need-more' }
  | { readonly status: 'not-tls' }
  | { readonly status: 'invalid'; readonly reason: string }
  | {
      readonly status: 'ok';
      /** The host_name entry of the server_name extension, lowercased, or null when absent. */
      readonly sni: string | null;
      /** True when the hello carries an encrypted_client_hello extension (the real name is hidden). */
      readonly ech: boolean;
    };

/** The most handshake bytes buffered while waiting for a full ClientHello. */
export const MAX_CLIENT_HELLO_BYTES = 64 * 1024;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ECH = 0xfe0d;

/**
 * Parses the ClientHello from `data`, which holds the bytes the client sent so far.
 * The handshake message may span several TLS records; they are joined first.
 */
export function parseClientHello(data: Buffer): ClientHelloResult {
  if (data.length === 0) return { status: 'need-more' };
  if (data[0] !== RECORD_HANDSHAKE) return { status: 'not-tls' };
  const handshake: Buffer[] = [];
  let handshakeLength = 0;
  let offset = 0;
  let needed = -1;
  while (needed < 0 || handshakeLength < needed) {
    if (data.length < offset + 5) return tooBig(data) ?? { status: 'need-more' };
    if (data[offset] !== RECORD_HANDSHAKE)
      return { status: 'invalid', reason: 'the ClientHello is interleaved with another record type' };
    if (data[offset + 1] !== 0x03) return { status: 'not-tls' };
    const recordLength = data.readUInt16BE(offset + 3);
    if (recordLength === 0 || recordLength > 16_384)
      return { status: 'invalid', reason: 'a TLS record has an invalid length' };
    if (data.length < offset + 5 + recordLength) return tooBig(data) ?? { status: 'need-more' };
    const fragment = data.subarray(offset + 5, offset + 5 + recordLength);
    handshake.push(fragment);
    handshakeLength += fragment.length;
    offset += 5 + recordLength;
    if (needed < 0 && handshakeLength >= 4) {
      const head = Buffer.concat(handshake);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO)
        return { status: 'invalid', reason: 'the first handshake message is not a ClientHello' };
      needed = 4 + head.readUIntBE(1, 3);
      if (needed > MAX_CLIENT_HELLO_BYTES)
        return { status: 'invalid', reason: 'the ClientHello is too large' };
    }
  }
  return parseHelloBody(Buffer.concat(handshake).subarray(4, needed));
}

function tooBig(data: Buffer): ClientHelloResult | null {
  return data.length > MAX_CLIENT_HELLO_BYTES + 5 * 8
    ? { status: 'invalid', reason: 'the ClientHello is too large' }
    : null;
}

function parseHelloBody(body: Buffer): ClientHelloResult {
  const bad: ClientHelloResult = { status: 'invalid', reason: 'the ClientHello is malformed' };
  let p = 2 + 32; // legacy_version, random
  if (body.length < p + 1) return bad;
  p += 1 + (body[p] ?? 0); // session id
  if (body.length < p + 2) return bad;
  p += 2 + body.readUInt16BE(p); // cipher suites
  if (body.length < p + 1) return bad;
  p += 1 + (body[p] ?? 0); // compression methods
  if (p === body.length) return { status: 'ok', sni: null, ech: false }; // no extensions at all
  if (body.length < p + 2) return bad;
  const extEnd = p + 2 + body.readUInt16BE(p);
  if (extEnd !== body.length) return bad;
  p += 2;
  let sni: string | null = null;
  let ech = false;
  let sawServerName = false;
  while (p < extEnd) {
    if (extEnd < p + 4) return bad;
    const type = body.readUInt16BE(p);
    const len = body.readUInt16BE(p + 2);
    const ext = body.subarray(p + 4, p + 4 + len);
    if (ext.length !== len) return bad;
    p += 4 + len;
    if (type === EXT_ECH) ech = true;
    if (type !== EXT_SERVER_NAME) continue;
    // Two server_name extensions could mean two different readings by two parsers.
    if (sawServerName) return { status: 'invalid', reason: 'the ClientHello has two server_name extensions' };
    sawServerName = true;
    if (ext.length < 2 || ext.readUInt16BE(0) !== ext.length - 2) return bad;
    let q = 2;
    while (q < ext.length) {
      if (ext.length < q + 3) return bad;
      const nameType = ext[q] ?? 0;
      const nameLen = ext.readUInt16BE(q + 1);
      const nameBytes = ext.subarray(q + 3, q + 3 + nameLen);
      if (nameBytes.length !== nameLen) return bad;
      q += 3 + nameLen;
      if (nameType !== 0) continue;
      if (sni !== null) return { status: 'invalid', reason: 'the ClientHello names two hosts' };
      if (nameLen === 0 || /[^\x21-\x7e]/.test(nameBytes.toString('latin1'))) {
        return { status: 'invalid', reason: 'the server name is not a printable ASCII host name' };
      }
      sni = nameBytes.toString('ascii').toLowerCase();
    }
  }
  return { status: 'ok', sni, ech };
}
