/**
 * The per-session certificate authority used for TLS interception.
 *
 * The CA's private key is a KeyObject held in this closure: there is no method that
 * returns it, so it cannot be written into the sandbox by mistake. Only the certificate
 * (and leaf certificates with their own, separate key) ever leave.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

import {
  bitString,
  boolean,
  explicit,
  implicit,
  integer,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  tlv,
  time,
  utf8String,
} from './der.js';
import type { ParsedHost } from './host.js';

const ECDSA_WITH_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const LEAF_CACHE_SIZE = 1024;

/** A certificate and the key for it, both PEM. */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: string;
}

/** A per-session CA that signs leaf certificates for intercepted hosts. */
export interface SessionCa {
  /** The CA certificate (PEM). Safe to hand to the sandbox. */
  readonly certPem: string;
  /** A leaf certificate for `host` (a DNS or IP SAN), signed by this CA. */
  issue(host: ParsedHost): IssuedCertificate;
  /** A TLS server context for `host`, cached per host. */
  contextFor(host: ParsedHost): SecureContext;
}

/** Options for {@link createSessionCa}. */
export interface SessionCaOptions {
  /** The CA's common name; shown by clients that reject it, so make it recognizable. */
  readonly commonName?: string;
  /** How long the CA and its leaves are valid. Default 30 days. */
  readonly validityDays?: number;
}

function name(commonName: string): Buffer {
  const attr = (type: string, value: string): Buffer => set(sequence(oid(type), utf8String(value)));
  return sequence(attr('2.5.4.10', 'Airlock'), attr('2.5.4.3', commonName));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value));
}

function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01; // positive and never zero-length after DER trimming
  return b;
}

function keyId(spki: Buffer): Buffer {
  // RFC 7093 §2 method 4 style: a hash of the SubjectPublicKeyInfo, truncated to 160 bits.
  return createHash('sha256').update(spki).digest().subarray(0, 20);
}

function toPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

interface CertificateFields {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Buffer;
  readonly extensions: readonly Buffer[];
  readonly signingKey: KeyObject;
}

function buildCertificate(f: CertificateFields): Buffer {
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    integer(serial()),
    ECDSA_WITH_SHA256,
    f.issuer,
    sequence(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.spki,
    explicit(3, sequence(...f.extensions)),
  );
  const signature = sign('sha256', tbs, f.signingKey); // DER-encoded ECDSA signature
  return sequence(tbs, ECDSA_WITH_SHA256, bitString(signature));
}

/**
 * Creates a session CA (ECDSA P-256) and returns a signer for leaf certificates. One
 * leaf key is shared by all leaves of the session: it lives only on the host, and it
 * makes issuing a leaf a single signature instead of a key generation.
 */
export function createSessionCa(options: SessionCaOptions = {}): SessionCa {
  const validityMs = (options.validityDays ?? 30) * 86_400_000;
  // Clients compare against their own clock; an hour of slack covers skewed machines.
  const notBefore = new Date(Date.now() - 3_600_000);
  const notAfter = new Date(Date.now() + validityMs);
  const caKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caSpki = caKeys.publicKey.export({ type: 'spki', format: 'der' });
  const caKeyId = keyId(caSpki);
  const caName = name(options.commonName ?? `Airlock session CA ${randomBytes(4).toString('hex')}`);
  const caDer = buildCertificate({
    issuer: caName,
    subject: caName,
    notBefore,
    notAfter,
    spki: caSpki,
    signingKey: caKeys.privateKey,
    extensions: [
      extension('2.5.29.19', true, sequence(boolean(true), smallInteger(0))),
      // keyCertSign (bit 5) and cRLSign (bit 6): one unused trailing bit.
      extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x01, 0x06]))),
      extension('2.5.29.14', false, octetString(caKeyId)),
    ],
  });
  const certPem = toPem(caDer, 'CERTIFICATE');

  const leafKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const leafSpki = leafKeys.publicKey.export({ type: 'spki', format: 'der' });
  const leafKeyPem = leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const contexts = new Map<string, SecureContext>();

  const issue = (host: ParsedHost): IssuedCertificate => {
    const san =
      host.kind === 'ip'
        ? implicit(7, Buffer.from(host.address.bytes))
        : implicit(2, Buffer.from(host.host, 'ascii'));
    const der = buildCertificate({
      issuer: caName,
      subject: name(host.host.length <= 64 ? host.host : 'airlock-intercepted-host'),
      notBefore,
      notAfter,
      spki: leafSpki,
      signingKey: caKeys.privateKey,
      extensions: [
        extension('2.5.29.19', true, sequence()),
        // digitalSignature (bit 0): seven unused trailing bits.
        extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))),
        extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
        extension('2.5.29.17', false, sequence(san)),
        extension('2.5.29.14', false, octetString(keyId(leafSpki))),
        extension('2.5.29.35', false, sequence(implicit(0, caKeyId))),
      ],
    });
    return { certPem: toPem(der, 'CERTIFICATE'), keyPem: leafKeyPem };
  };

  const contextFor = (host: ParsedHost): SecureContext => {
    const cached = contexts.get(host.host);
    if (cached !== undefined) return cached;
    const leaf = issue(host);
    const ctx = createSecureContext({ cert: leaf.certPem, key: leaf.keyPem, minVersion: 'TLSv1.2' });
    if (contexts.size >= LEAF_CACHE_SIZE) {
      const oldest = contexts.keys().next();
      if (oldest.done !== true) contexts.delete(oldest.value);
    }
    contexts.set(host.host, ctx);
    return ctx;
  };

  return { certPem, issue, contextFor };
}
