/**
 * The proxy end to end with real servers and real clients: plain HTTP and CONNECT, deny by
 * default, ports, the SSRF guard with a scripted resolver, fronting, events.
 */
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseHost, type ParsedHost } from '../../../src/egress/host.js';
import { createRuleDecider, type EgressRule } from '../../../src/egress/index.js';
import {
  connectTcp,
  makeTestPki,
  rawConnect,
  rawExchange,
  requestEvents,
  eventually,
  run,
  scriptedResolver,
  startHttpServer,
  startHttpsServer,
  startProxy,
  viaUndici,
  type TestPki,
  type TestProxy,
  type TestServer,
} from './helpers.js';

function parseHostOrThrow(text: string): ParsedHost {
  const r = parseHost(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

let pki: TestPki;
let https: TestServer;
let http: TestServer;
let proxy: TestProxy;
const resolver = scriptedResolver({
  'api.example.test': [['127.0.0.1']],
  'plain.example.test': [['127.0.0.1']],
  'internal.example.test': [['127.0.0.2']],
  'mixed.example.test': [['127.0.0.1', '10.0.0.1']],
  // First answer passes the guard; any later lookup would point at another loopback address.
  'rebind.example.test': [['127.0.0.1'], ['127.0.0.3']],
});

beforeAll(async () => {
  pki = makeTestPki();
  https = await startHttpsServer(pki, 'api.example.test', (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ via: 'https', method: req.method, url: req.url, host: req.headers.host }));
  });
  http = await startHttpServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        via: 'http',
        method: req.method,
        url: req.url,
        host: req.headers.host,
        headers: req.headers,
      }),
    );
  });
  const rules: EgressRule[] = [
    { id: 'api', verdict: 'allow', hosts: ['api.example.test'], ports: [https.port] },
    { id: 'plain', verdict: 'allow', hosts: ['plain.example.test'], ports: [http.port] },
    {
      id: 'internal',
      verdict: 'allow',
      hosts: ['internal.example.test', 'mixed.example.test', 'rebind.example.test'],
      ports: [http.port, https.port],
    },
    { id: 'literal', verdict: 'allow', hosts: ['127.0.0.1'], ports: [http.port] },
    // Allowed by policy but outside the CIDR allows: only the SSRF guard stands in the way.
    {
      id: 'literal-guarded',
      verdict: 'allow',
      hosts: ['127.0.0.2', '::1', '::ffff:127.0.0.2'],
      ports: [http.port, https.port],
    },
    { id: 'log-only', verdict: 'log', hosts: ['log.example.test'], ports: [http.port] },
  ];
  proxy = await startProxy({
    decide: createRuleDecider(rules),
    resolver,
    cidrAllow: ['127.0.0.1/32'],
    upstreamCa: pki.caPem,
  });
});

afterAll(async () => {
  await proxy.close();
  await https.close();
  await http.close();
});

describe('plain HTTP', () => {
  it('[egress.http-forward] forwards an allowed absolute-URI request and rewrites Host to the target', async () => {
    const socket = await connectTcp(proxy.bridge.port);
    const res = await rawExchange(
      socket,
      `GET http://plain.example.test:${http.port}/a/./b/%2e%2E/c?x=1 HTTP/1.1\r\nHost: evil.example.test\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { url: string; host: string; headers: Record<string, string> };
    expect(body.url).toBe('/a/c?x=1');
    expect(body.host).toBe(`plain.example.test:${http.port}`);
    expect(body.headers['proxy-authorization']).toBeUndefined();
  });

  it('[egress.deny-by-default] [egress.no-dns-for-denied] refuses a host no rule names with 403, the rule id and an explanation', async () => {
    const res = await viaUndici(proxy.url, `http://nowhere.example.test:${http.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.default-deny');
    expect(res.body).toContain("This is the sandbox's network policy");
    expect(res.body).toContain('Rule: egress.default-deny');
    expect(res.body).toContain('airlock.yaml');
    // A denied host is never resolved: the proxy is not a DNS channel.
    expect(resolver.calls).not.toContain('nowhere.example.test');
  });

  it('[egress.ports] refuses an allowed host on a port no rule allows', async () => {
    const res = await viaUndici(proxy.url, `http://plain.example.test:${https.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.default-deny');
  });

  it('[egress.log-verdict] lets a log verdict through and records it', async () => {
    const r = scriptedResolver({ 'log.example.test': [['127.0.0.1']] });
    const p = await startProxy({
      decide: createRuleDecider([
        { id: 'log-only', verdict: 'log', hosts: ['log.example.test'], ports: [http.port] },
      ]),
      resolver: r,
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
    });
    try {
      const res = await viaUndici(p.url, `http://log.example.test:${http.port}/logged`);
      expect(res.status).toBe(200);
      await eventually(() => requestEvents(p.events).length === 1);
      expect(requestEvents(p.events)[0]).toMatchObject({
        verdict: 'log',
        allowed: true,
        ruleId: 'log-only',
        path: '/logged',
        status: 200,
      });
    } finally {
      await p.close();
    }
  });

  it('[egress.http-in-connect] judges cleartext HTTP sent through CONNECT request by request (undici default)', async () => {
    const before = requestEvents(proxy.events).length;
    const res = await viaUndici(proxy.url, `http://plain.example.test:${http.port}/tunnelled`, {
      tunnel: true,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ via: 'http', url: '/tunnelled' });
    await eventually(() =>
      requestEvents(proxy.events)
        .slice(before)
        .some((e) => e.path === '/tunnelled'),
    );
    expect(
      requestEvents(proxy.events)
        .slice(before)
        .find((e) => e.path === '/tunnelled'),
    ).toMatchObject({ mode: 'intercepted', scheme: 'http', method: 'GET', ruleId: 'plain' });
  });

  it('[egress.origin-form] answers a non-proxy request with 400 and an explanation', async () => {
    const res = await fetch(`${proxy.url}/index.html`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("this is the sandbox's egress proxy");
  });

  it('[egress.https-absolute] refuses an https:// absolute URI (clients must use CONNECT)', async () => {
    const socket = await connectTcp(proxy.bridge.port);
    const res = await rawExchange(
      socket,
      `GET https://api.example.test:${https.port}/ HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    expect(res.body).toContain('CONNECT');
  });
});

describe('CONNECT', () => {
  it('[egress.connect-tunnel] opens an opaque tunnel to an allowed host and port; the client verifies the upstream itself', async () => {
    const res = await viaUndici(proxy.url, `https://api.example.test:${https.port}/hello`, {
      ca: [pki.caPem],
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ via: 'https', url: '/hello' });
    await eventually(() =>
      requestEvents(proxy.events).some(
        (e) => e.mode === 'tunnel' && e.host === 'api.example.test' && e.status === 200,
      ),
    );
    const ev = requestEvents(proxy.events).find(
      (e) => e.mode === 'tunnel' && e.host === 'api.example.test' && e.status === 200,
    );
    expect(ev).toMatchObject({
      method: 'CONNECT',
      port: https.port,
      verdict: 'allow',
      allowed: true,
      ruleId: 'api',
      path: null,
    });
    expect(ev?.bytesUp).toBeGreaterThan(100);
    expect(ev?.bytesDown).toBeGreaterThan(100);
  });

  it('[egress.connect-tunnel] delivers the whole stream when the upstream closes while the proxy still holds its tail', async () => {
    const size = 4 * 1024 * 1024;
    const leaf = pki.ca.issue(parseHostOrThrow('stream.example.test'));
    const streamer = createTlsServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => {
      s.on('error', () => undefined);
      s.end(Buffer.alloc(size, 0x61)); // write everything and close at once
    });
    await new Promise<void>((resolve) => streamer.listen(0, '127.0.0.1', resolve));
    const port = (streamer.address() as AddressInfo).port;
    const p = await startProxy({
      decide: createRuleDecider([
        { id: 'stream', verdict: 'allow', hosts: ['stream.example.test'], ports: [port] },
      ]),
      resolver: scriptedResolver({ 'stream.example.test': [['127.0.0.1']] }),
      cidrAllow: ['127.0.0.1/32'],
      intercept: false,
    });
    try {
      const { socket } = await rawConnect(p.bridge.port, `stream.example.test:${port}`);
      const tls = tlsConnect({ socket, servername: 'stream.example.test', ca: [pki.caPem] });
      await new Promise((resolve, reject) => {
        tls.once('secureConnect', resolve);
        tls.once('error', reject);
      });
      // A slow reader keeps the proxy's write buffer toward the client full, so when the
      // upstream's last bytes and its close arrive, some of them are still queued in the proxy.
      let got = 0;
      tls.on('data', (d: Buffer) => {
        got += d.length;
        tls.pause();
        setTimeout(() => tls.resume(), 2);
      });
      await new Promise((resolve) => tls.once('end', resolve));
      expect(got).toBe(size);
      tls.destroy();
    } finally {
      await p.close();
      streamer.close();
    }
  });

  it('[egress.connect-port] refuses CONNECT to a port no rule allows on an allowed host', async () => {
    const { response } = await rawConnect(proxy.bridge.port, 'api.example.test:22');
    expect(response.status).toBe(403);
    expect(response.headers['x-airlock-denied']).toBe('egress.default-deny');
    expect(response.body).toContain('CONNECT api.example.test:22');
  });

  it('[egress.host-parse] refuses userinfo, NUL and invalid hosts in CONNECT targets', async () => {
    for (const target of [
      `api.example.test@evil.test:${https.port}`,
      `api.example.test%00.evil.test:${https.port}`,
      `-bad-.test:${https.port}`,
      'api.example.test',
    ]) {
      const { response } = await rawConnect(proxy.bridge.port, target);
      expect(response.status, target).toBe(400);
    }
  });

  it('[egress.sni-fronting] cuts an opaque tunnel whose TLS server name differs from the CONNECT target', async () => {
    const before = requestEvents(proxy.events).length;
    const { response, socket } = await rawConnect(proxy.bridge.port, `api.example.test:${https.port}`);
    expect(response.status).toBe(200);
    const err = await new Promise<Error | null>((resolve) => {
      const tls = tlsConnect({
        socket,
        servername: 'fronted.example.test',
        ca: [pki.caPem],
        rejectUnauthorized: false,
      });
      tls.once('secureConnect', () => {
        resolve(null);
      });
      tls.once('error', resolve);
    });
    expect(err).not.toBeNull();
    await eventually(() =>
      requestEvents(proxy.events)
        .slice(before)
        .some((e) => e.ruleId === 'egress.sni-mismatch'),
    );
    const ev = requestEvents(proxy.events)
      .slice(before)
      .find((e) => e.ruleId === 'egress.sni-mismatch');
    expect(ev).toMatchObject({ allowed: false, verdict: 'deny', host: 'api.example.test' });
    expect(https.seen.length).toBeGreaterThanOrEqual(0);
  });

  it('[egress.tunnel-tls-only] cuts a tunnel that carries neither TLS nor HTTP', async () => {
    const before = requestEvents(proxy.events).length;
    const { socket } = await rawConnect(proxy.bridge.port, `api.example.test:${https.port}`);
    socket.resume();
    socket.write('SSH-2.0-OpenSSH_9.2\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    await eventually(() =>
      requestEvents(proxy.events)
        .slice(before)
        .some((e) => e.ruleId === 'egress.tunnel-not-tls'),
    );
  });

  it('[egress.inner-host] refuses an inner request whose Host differs from the CONNECT target', async () => {
    const { socket } = await rawConnect(proxy.bridge.port, `plain.example.test:${http.port}`);
    const res = await rawExchange(
      socket,
      `GET /x HTTP/1.1\r\nHost: other.example.test:${http.port}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.host-mismatch');
    expect(http.seen.some((s) => s.url === '/x')).toBe(false);
  });
});

describe('refused shapes', () => {
  it('[egress.upgrade] refuses WebSocket upgrades with an explanation', async () => {
    const socket = await connectTcp(proxy.bridge.port);
    const res = await rawExchange(
      socket,
      `GET http://plain.example.test:${http.port}/ws HTTP/1.1\r\nHost: plain.example.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.upgrade-unsupported');
    expect(http.seen.some((s) => s.url === '/ws')).toBe(false);
  });

  it('[egress.inner-host] refuses a CONNECT sent inside a tunnel', async () => {
    const { socket } = await rawConnect(proxy.bridge.port, `plain.example.test:${http.port}`);
    const res = await rawExchange(
      socket,
      `CONNECT api.example.test:${https.port} HTTP/1.1\r\nHost: api.example.test\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.nested-connect');
  });
});

describe('SSRF guard', () => {
  it('[egress.ssrf] refuses an allowed name that resolves to an address outside the CIDR allows', async () => {
    const res = await viaUndici(proxy.url, `http://internal.example.test:${http.port}/`);
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.ssrf');
    expect(res.body).toContain('127.0.0.2');
    expect(res.body).toContain('loopback');
  });

  it('[egress.ssrf-all-addresses] refuses a name when any one of its addresses is refused', async () => {
    const { response } = await rawConnect(proxy.bridge.port, `mixed.example.test:${https.port}`);
    expect(response.status).toBe(403);
    expect(response.headers['x-airlock-denied']).toBe('egress.ssrf');
    expect(response.body).toContain('10.0.0.1');
  });

  it('[egress.dns-rebinding] resolves once and dials exactly the checked address', async () => {
    const n = resolver.calls.filter((c) => c === 'rebind.example.test').length;
    const res = await viaUndici(proxy.url, `http://rebind.example.test:${http.port}/first`);
    expect(res.status).toBe(200);
    expect(resolver.calls.filter((c) => c === 'rebind.example.test').length).toBe(n + 1);
    // The next request resolves again, gets the rebound answer, and is refused before any connection.
    const second = await viaUndici(proxy.url, `http://rebind.example.test:${http.port}/second`);
    expect(second.status).toBe(403);
    expect(second.body).toContain('127.0.0.3');
    expect(http.seen.some((s) => s.url === '/second')).toBe(false);
  });

  it('[egress.ip-literal] reaches a literal address inside a CIDR allow, in any spelling of it', async () => {
    const ok = await viaUndici(proxy.url, `http://127.0.0.1:${http.port}/literal`);
    expect(ok.status).toBe(200);
    const socket = await connectTcp(proxy.bridge.port);
    // 2130706433 is 127.0.0.1 in decimal; the rule names "127.0.0.1" and the CIDR allows it,
    // so the spelling is accepted only because of the CIDR allow, and the policy decides on the canonical form.
    const res = await rawExchange(
      socket,
      `GET http://2130706433:${http.port}/decimal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ url: '/decimal', host: `127.0.0.1:${http.port}` });
  });
});

describe('SSRF guard on literals', () => {
  it('[egress.ssrf] refuses literal loopback addresses a rule names but no CIDR allows, in every spelling', async () => {
    for (const target of [
      `127.0.0.2:${https.port}`,
      `[::1]:${https.port}`,
      `[::ffff:127.0.0.2]:${https.port}`,
    ]) {
      const { response } = await rawConnect(proxy.bridge.port, target);
      expect(response.status, target).toBe(403);
      expect(response.headers['x-airlock-denied'], target).toBe('egress.ssrf');
    }
  });

  it('[egress.ip-spelling] refuses a hex spelling of an address outside the CIDR allows', async () => {
    const socket = await connectTcp(proxy.bridge.port);
    const res = await rawExchange(
      socket,
      `GET http://0x7f.0.0.2:${http.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.ip-spelling');
    expect(res.body).toContain('it means 127.0.0.2');
  });
});

describe('clients', () => {
  it('[egress.client-curl] curl through the bridge: https via CONNECT and plain http', async () => {
    const caFile = `${proxy.dir}/upstream-ca.pem`;
    await import('node:fs/promises').then((fs) => fs.writeFile(caFile, pki.caPem));
    const r1 = await run('curl', [
      '-sS',
      '--fail-with-body',
      '--cacert',
      caFile,
      '-x',
      proxy.url,
      `https://api.example.test:${https.port}/curl`,
    ]);
    expect(r1.stderr).toBe('');
    expect(JSON.parse(r1.stdout)).toMatchObject({ via: 'https', url: '/curl' });
    const r2 = await run('curl', [
      '-sS',
      '-x',
      proxy.url,
      `http://plain.example.test:${http.port}/curl-plain`,
    ]);
    expect(JSON.parse(r2.stdout)).toMatchObject({ via: 'http', url: '/curl-plain' });
    const r3 = await run('curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-x',
      proxy.url,
      `http://denied.example.test:${http.port}/`,
    ]);
    expect(r3.stdout).toBe('403');
  });

  it('[egress.client-python] python urllib with HTTPS_PROXY/HTTP_PROXY', async () => {
    const caFile = `${proxy.dir}/upstream-ca-py.pem`;
    await import('node:fs/promises').then((fs) => fs.writeFile(caFile, pki.caPem));
    const script = [
      'import json, os, ssl, urllib.request, urllib.error',
      'ctx = ssl.create_default_context(cafile=os.environ["CA"])',
      'out = []',
      'out.append(json.load(urllib.request.urlopen(os.environ["U1"], context=ctx))["url"])',
      'out.append(json.load(urllib.request.urlopen(os.environ["U2"]))["url"])',
      'try:',
      '    urllib.request.urlopen(os.environ["U3"])',
      'except urllib.error.HTTPError as e:',
      '    out.append([e.code, e.headers.get("X-Airlock-Denied")])',
      'print(json.dumps(out))',
    ].join('\n');
    const r = await run('python3', ['-c', script], {
      HTTPS_PROXY: proxy.url,
      HTTP_PROXY: proxy.url,
      CA: caFile,
      U1: `https://api.example.test:${https.port}/py`,
      U2: `http://plain.example.test:${http.port}/py-plain`,
      U3: `http://denied.example.test:${http.port}/`,
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['/py', '/py-plain', [403, 'egress.default-deny']]);
  });
});

describe('events', () => {
  it('[egress.events] one event per request with method, host, port, path, status, bytes, verdict, rule, duration and no header values', async () => {
    const before = proxy.events.length;
    await viaUndici(proxy.url, `http://plain.example.test:${http.port}/evt?token=should-not-appear`, {
      method: 'POST',
      body: 'x'.repeat(1000),
      headers: { 'x-custom': 'header-value-should-not-appear' },
    });
    await eventually(() => requestEvents(proxy.events.slice(before)).length === 1);
    const ev = requestEvents(proxy.events.slice(before))[0];
    expect(ev).toMatchObject({
      type: 'egress.request',
      mode: 'http',
      method: 'POST',
      scheme: 'http',
      host: 'plain.example.test',
      port: http.port,
      path: '/evt',
      status: 200,
      bytesUp: 1000,
      verdict: 'allow',
      allowed: true,
      ruleId: 'plain',
    });
    expect(ev?.bytesDown).toBeGreaterThan(0);
    expect(ev?.durationMs).toBeGreaterThan(0);
    const text = JSON.stringify(proxy.events);
    expect(text).not.toContain('header-value-should-not-appear');
    expect(text).not.toContain('should-not-appear');
  });
});
