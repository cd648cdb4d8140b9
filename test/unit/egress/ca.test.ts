/**
 * The session CA: its certificates are checked by node's X509 parser and by the real
 * `openssl verify` (strict mode, TLS server purpose), and a real TLS handshake.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createSessionCa, type SessionCa } from '../../../src/egress/ca.js';
import { integer, oid, time, tlv } from '../../../src/egress/der.js';
import { parseHost, type ParsedHost } from '../../../src/egress/host.js';

function h(text: string): ParsedHost {
  const r = parseHost(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

function openssl(args: readonly string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('openssl', args, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : 1, out: `${stdout}${stderr}` });
    });
  });
}

let ca: SessionCa;
let dir: string;
beforeAll(async () => {
  ca = createSessionCa({ commonName: 'Airlock unit test CA' });
  dir = await mkdtemp(join(tmpdir(), 'airlock-ca-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DER', () => {
  it('encodes known vectors', () => {
    expect(oid('1.2.840.113549').toString('hex')).toBe('06062a864886f70d');
    expect(oid('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(integer(Buffer.from([0x80])).toString('hex')).toBe('02020080');
    expect(integer(Buffer.from([0x00, 0x00, 0x05])).toString('hex')).toBe('020105');
    expect(tlv(0x04, Buffer.alloc(127)).subarray(0, 2).toString('hex')).toBe('047f');
    expect(tlv(0x04, Buffer.alloc(128)).subarray(0, 3).toString('hex')).toBe('048180');
    expect(tlv(0x04, Buffer.alloc(256)).subarray(0, 4).toString('hex')).toBe('04820100');
    expect(time(new Date('2030-01-02T03:04:05Z')).toString('latin1')).toBe('\x17\x0d300102030405Z');
    expect(time(new Date('2050-01-02T03:04:05Z')).toString('latin1')).toBe('\x18\x0f20500102030405Z');
  });
});

describe('[egress.ca] session CA', () => {
  it('is a CA whose leaves name exactly their host', () => {
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    const leaf = new X509Certificate(ca.issue(h('api.example.test')).certPem);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(caCert)).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    expect(leaf.checkHost('api.example.test')).toBe('api.example.test');
    expect(leaf.checkHost('other.example.test')).toBeUndefined();
    expect(leaf.subjectAltName).toBe('DNS:api.example.test');
    const ipLeaf = new X509Certificate(ca.issue(h('[2001:db8::1]')).certPem);
    expect(ipLeaf.checkIP('2001:db8::1')).toBe('2001:db8::1');
    expect(ca.certPem).not.toContain('PRIVATE');
  });

  it('passes `openssl verify -x509_strict -purpose sslserver`', async () => {
    await writeFile(join(dir, 'ca.pem'), ca.certPem);
    await writeFile(join(dir, 'dns.pem'), ca.issue(h('api.example.test')).certPem);
    await writeFile(join(dir, 'ip.pem'), ca.issue(h('127.0.0.1')).certPem);
    const r = await openssl([
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-CAfile',
      join(dir, 'ca.pem'),
      join(dir, 'dns.pem'),
      join(dir, 'ip.pem'),
    ]);
    expect(r.out).toBe(`${join(dir, 'dns.pem')}: OK\n${join(dir, 'ip.pem')}: OK\n`);
    const other = createSessionCa();
    await writeFile(join(dir, 'other.pem'), other.issue(h('api.example.test')).certPem);
    const bad = await openssl(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'other.pem')]);
    expect(bad.code).not.toBe(0);
  });

  it('serves a TLS handshake that a verifying client accepts for the right name only', async () => {
    const server = createServer((raw) => {
      const tls = new TLSSocket(raw, { isServer: true, secureContext: ca.contextFor(h('api.example.test')) });
      tls.on('error', () => undefined);
      tls.on('secure', () => tls.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const attempt = (servername: string) =>
      new Promise<string>((resolve) => {
        const c = tlsConnect({ host: '127.0.0.1', port, servername, ca: [ca.certPem] });
        c.once('secureConnect', () => {
          resolve('ok');
          c.destroy();
        });
        c.once('error', (err: NodeJS.ErrnoException) => {
          resolve(err.code ?? err.message);
        });
      });
    expect(await attempt('api.example.test')).toBe('ok');
    expect(await attempt('other.example.test')).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    server.close();
  });

  it('caches one context per host', () => {
    expect(ca.contextFor(h('a.example.test'))).toBe(ca.contextFor(h('a.example.test')));
    expect(ca.contextFor(h('a.example.test'))).not.toBe(ca.contextFor(h('b.example.test')));
  });
});
