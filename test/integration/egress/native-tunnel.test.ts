/**
 * Opaque tunnels carried by the splice helper (native/tunnel.c) and, for comparison, by Node
 * streams: the same bytes must arrive, in order, both ways, whatever was already read when
 * the proxy handed the tunnel over.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createEgressProxy, createRuleDecider } from '../../../src/egress/index.js';
import { parseHost } from '../../../src/egress/host.js';
import { findTunnelHelper } from '../../../src/egress/native-tunnel.js';
import {
  eventually,
  makeTestPki,
  rawConnect,
  requestEvents,
  scriptedResolver,
  startProxy,
  type TestPki,
  type TestProxy,
} from './helpers.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let pki: TestPki;
let echoPort: number;
let closeEcho: () => void;
let bannerPort: number;
let closeBanner: () => void;
const banner = randomBytes(100 * 1024);
let hello: Buffer;
const helper = findTunnelHelper();

beforeAll(async () => {
  pki = makeTestPki();
  const parsed = parseHost('echo.example.test');
  if (!parsed.ok) throw new Error(parsed.reason);
  const leaf = pki.ca.issue(parsed.value);
  // Echoes every byte back; ends when the client ends.
  const server = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echoPort = (server.address() as AddressInfo).port;
  closeEcho = () => server.close();
  // Speaks first (a 100 KiB banner as soon as the connection opens), then echoes raw bytes.
  const bannerServer = createNetServer((s) => {
    s.on('error', () => undefined);
    s.write(banner);
    s.pipe(s);
  });
  await new Promise<void>((resolve) => bannerServer.listen(0, '127.0.0.1', resolve));
  bannerPort = (bannerServer.address() as AddressInfo).port;
  closeBanner = () => bannerServer.close();
  // A real ClientHello naming echo.example.test, captured from Node's TLS client.
  hello = await new Promise<Buffer>((resolve) => {
    const capture = createNetServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        capture.close();
      });
    });
    capture.listen(0, '127.0.0.1', () => {
      const t = tlsConnect({
        port: (capture.address() as AddressInfo).port,
        host: '127.0.0.1',
        servername: 'echo.example.test',
      });
      t.on('error', () => undefined);
    });
  });
});

afterAll(() => {
  closeEcho();
  closeBanner();
});

async function openTunnel(p: TestProxy): Promise<TLSSocket> {
  const { response, socket } = await rawConnect(p.bridge.port, `echo.example.test:${echoPort}`);
  expect(response.status).toBe(200);
  const tls = tlsConnect({ socket, servername: 'echo.example.test', ca: [pki.caPem] });
  await new Promise((resolve, reject) => {
    tls.once('secureConnect', resolve);
    tls.once('error', reject);
  });
  return tls;
}

/** Sends `data` and collects the echo while still sending, so both directions run at once. */
async function echo(tls: TLSSocket, data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    tls.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
      if (got >= data.length) resolve();
    });
    tls.once('error', reject);
  });
  for (let off = 0; off < data.length; off += 256 * 1024) tls.write(data.subarray(off, off + 256 * 1024));
  await done;
  return Buffer.concat(parts);
}

describe.each([
  { carrier: 'the splice helper', tunnelHelper: undefined },
  { carrier: 'Node streams', tunnelHelper: false as const },
])('[egress.native-tunnel] opaque tunnels carried by $carrier', ({ tunnelHelper }) => {
  let p: TestProxy;
  beforeAll(async () => {
    p = await startProxy({
      decide: createRuleDecider([
        { id: 'echo', verdict: 'allow', hosts: ['echo.example.test'], ports: [echoPort, bannerPort] },
      ]),
      resolver: scriptedResolver({ 'echo.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
      ...(tunnelHelper === false ? { tunnelHelper } : {}),
    });
  });
  afterAll(async () => {
    await p.close();
  });

  it('says who carries the tunnels', () => {
    if (tunnelHelper === false) expect(p.proxy.tunnelHelper).toBeNull();
    else {
      expect(helper, 'native/build/airlock-tunnel is missing: run `npm run build`').not.toBeNull();
      expect(p.proxy.tunnelHelper).toBe(helper);
    }
  });

  it('carries 8 MiB both ways at once, byte for byte, and reports the bytes', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const tls = await openTunnel(p);
    const back = await echo(tls, data);
    expect(back.length).toBe(data.length);
    expect(sha(back)).toBe(sha(data));
    tls.end();
    await eventually(
      () => requestEvents(p.events).some((e) => e.mode === 'tunnel' && e.status === 200),
      20_000,
    );
    const ev = requestEvents(p.events).find((e) => e.mode === 'tunnel' && e.status === 200);
    // TLS adds records and the handshake on top of the payload, both ways.
    expect(ev?.bytesUp).toBeGreaterThan(data.length);
    expect(ev?.bytesDown).toBeGreaterThan(data.length);
    expect(ev?.bytesUp).toBeLessThan(data.length * 1.05);
    expect(ev?.error).toBeNull();
    const stats = p.proxy.stats();
    expect(stats.bytesUp).toBe(ev?.bytesUp);
    expect(stats.bytesDown).toBe(ev?.bytesDown);
    // Every tunnel so far went where the option says.
    expect(stats.tunnelsSpliced).toBe(tunnelHelper === false ? 0 : 1);
    if (tunnelHelper === false) expect(stats.tunnelHelperCpuMs).toBe(0);
  });

  it('delivers what either side sent before the handoff: bytes behind the ClientHello, and a banner the upstream sent first', async () => {
    const { response, socket } = await rawConnect(p.bridge.port, `echo.example.test:${bannerPort}`);
    expect(response.status).toBe(200);
    const data = randomBytes(2 * 1024 * 1024);
    const expected = Buffer.concat([banner, hello, data]);
    const parts: Buffer[] = [];
    let got = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        parts.push(d);
        got += d.length;
        if (got >= expected.length) resolve();
      });
      socket.once('error', reject);
      socket.once('close', () => {
        resolve();
      });
    });
    // One write: the proxy reads the ClientHello and, in the same chunks, what follows it.
    socket.write(Buffer.concat([hello, data]));
    socket.resume();
    await done;
    const back = Buffer.concat(parts);
    expect(back.length).toBe(expected.length);
    expect(sha(back)).toBe(sha(expected));
    socket.destroy();
  });

  it('keeps many short tunnels apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        const tls = await openTunnel(p);
        const data = Buffer.from(`tunnel ${i} `.repeat(1000 + i));
        const back = await echo(tls, data);
        tls.destroy();
        return back.equals(data);
      }),
    );
    expect(results.every(Boolean)).toBe(true);
  });

  it('cuts an open tunnel when the proxy closes, and reports it', async () => {
    const q = await startProxy({
      decide: createRuleDecider([
        { id: 'echo', verdict: 'allow', hosts: ['echo.example.test'], ports: [echoPort, bannerPort] },
      ]),
      resolver: scriptedResolver({ 'echo.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
      ...(tunnelHelper === false ? { tunnelHelper } : {}),
    });
    const tls = await openTunnel(q);
    expect((await echo(tls, Buffer.from('before'))).toString()).toBe('before');
    const closed = new Promise<void>((resolve) =>
      tls.once('close', () => {
        resolve();
      }),
    );
    tls.on('error', () => undefined);
    expect(q.proxy.stats().openConnections).toBeGreaterThan(0);
    await q.close();
    await closed;
    await eventually(() => requestEvents(q.events).some((e) => e.mode === 'tunnel'));
    expect(q.proxy.stats().openConnections).toBe(0);
  });
});

describe('[egress.native-tunnel] [egress.options] the tunnelHelper option', () => {
  it('refuses a helper path that does not exist', async () => {
    await expect(
      createEgressProxy({
        socketPath: '/tmp/airlock-never.sock',
        sandboxPort: 3128,
        decide: createRuleDecider([]),
        intercept: false,
        tunnelHelper: '/nonexistent/airlock-tunnel',
      }),
    ).rejects.toMatchObject({ code: 'E_EGRESS_TUNNEL_HELPER_MISSING' });
  });
});
