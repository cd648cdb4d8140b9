/**
 * ClientHello parsing, on hellos produced by node's real TLS client (captured by a local
 * listener), split and fragmented the ways a network or an attacker might.
 */
import { createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { describe, expect, it } from 'vitest';

import { parseClientHello } from '../../../src/egress/client-hello.js';
import { classifyTunnelStart } from '../../../src/egress/tunnel.js';

/** Captures the first flight a real TLS client sends. */
async function captureHello(servername?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      let buf = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const len = buf.length >= 5 ? buf.readUInt16BE(3) + 5 : Infinity;
        if (buf.length >= len) {
          socket.destroy();
          server.close();
          resolve(buf.subarray(0, len));
        }
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const client = tlsConnect({
        host: '127.0.0.1',
        port,
        ...(servername !== undefined ? { servername } : {}),
        rejectUnauthorized: false,
      });
      client.on('error', () => undefined);
    });
    server.on('error', reject);
  });
}

/** Splits one record's handshake into two records, as TLS allows. */
function fragment(record: Buffer, at: number): Buffer {
  const body = record.subarray(5);
  const rec = (part: Buffer): Buffer =>
    Buffer.concat([Buffer.from([0x16, 0x03, 0x01, part.length >> 8, part.length & 0xff]), part]);
  return Buffer.concat([rec(body.subarray(0, at)), rec(body.subarray(at))]);
}

describe('[egress.sni-fronting] parseClientHello', () => {
  it('reads the SNI of a real ClientHello, lowercased', async () => {
    const hello = await captureHello('API.Example.Test');
    expect(parseClientHello(hello)).toEqual({ status: 'ok', sni: 'api.example.test', ech: false });
  });

  it('reports no SNI for a client connecting to an IP address', async () => {
    const hello = await captureHello();
    expect(parseClientHello(hello)).toEqual({ status: 'ok', sni: null, ech: false });
  });

  it('asks for more bytes at every truncation point', async () => {
    const hello = await captureHello('example.test');
    for (let n = 1; n < hello.length; n++)
      expect(parseClientHello(hello.subarray(0, n)).status, `at ${n}`).toBe('need-more');
  });

  it('joins a ClientHello fragmented across records', async () => {
    const hello = await captureHello('fragmented.example.test');
    for (const at of [1, 4, 40, 100, hello.length - 6]) {
      expect(parseClientHello(fragment(hello, at))).toEqual({
        status: 'ok',
        sni: 'fragmented.example.test',
        ech: false,
      });
    }
  });

  it('tells non-TLS and malformed input apart', async () => {
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).status).toBe('not-tls');
    expect(parseClientHello(Buffer.from('SSH-2.0-OpenSSH\r\n')).status).toBe('not-tls');
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).status).toBe('invalid');
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).status).toBe(
      'invalid',
    );
    const hello = await captureHello('example.test');
    // Corrupt the extensions length: the hello no longer adds up.
    const bad = Buffer.from(hello);
    bad[bad.length - 1] = 0xff;
    const mangled = Buffer.concat([bad, Buffer.from([0x00])]);
    mangled.writeUInt16BE(mangled.length - 5, 3);
    mangled.writeUIntBE(mangled.length - 9, 6, 3);
    expect(parseClientHello(mangled).status).toBe('invalid');
  });
});

describe('classifyTunnelStart', () => {
  it('recognizes TLS, HTTP/1.x and everything else', async () => {
    const hello = await captureHello('example.test');
    expect(classifyTunnelStart(hello)).toMatchObject({ kind: 'tls', sni: 'example.test' });
    expect(classifyTunnelStart(Buffer.from('GET /x HTTP/1.1\r\nHost: a\r\n'))).toMatchObject({
      kind: 'http',
    });
    expect(classifyTunnelStart(Buffer.from('GET /x HT'))).toBeNull();
    expect(classifyTunnelStart(Buffer.from('SSH-2.0-OpenSSH_9\r\n'))).toMatchObject({ kind: 'other' });
    expect(classifyTunnelStart(Buffer.from([0x00, 0x01]))).toMatchObject({ kind: 'other' });
    expect(classifyTunnelStart(hello.subarray(0, 10))).toBeNull();
  });
});
