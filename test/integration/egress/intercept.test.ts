/**
 * TLS interception and credentials: method/path rules judged inside CONNECT, the session
 * CA trusted by real clients, placeholder swap, own-credential refusal, echoed secrets
 * taken back out, and the secret never reaching anything the sandbox or the log can read.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { gzipSync } from 'node:zlib';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRuleDecider } from '../../../src/egress/index.js';
import {
  eventually,
  makeTestPki,
  rawConnect,
  rawExchange,
  requestEvents,
  run,
  scriptedResolver,
  startHttpsServer,
  startProxy,
  viaUndici,
  type TestPki,
  type TestProxy,
  type TestServer,
} from './helpers.js';

const SECRET = 'ghs_RealSecretValue0123456789abcdef';
const GIT_SECRET = 'git-secret-value-9876543210';
let pki: TestPki;
let api: TestServer;
let git: TestServer;
let other: TestServer;
let proxy: TestProxy;
let placeholder: string;

beforeAll(async () => {
  pki = makeTestPki();
  api = await startHttpsServer(pki, 'api.example.test', (req, res) => {
    // An echo server: the worst case for a secret, since it sends the request headers back.
    const payload = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    if (req.url?.startsWith('/gzip') === true) {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'x-echo-auth': req.headers.authorization ?? '',
      });
      res.end(gzipSync(payload));
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-echo-auth': req.headers.authorization ?? '',
    });
    res.end(payload);
  });
  git = await startHttpsServer(pki, 'git.example.test', (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ authorization: req.headers.authorization ?? null }));
  });
  other = await startHttpsServer(pki, 'other.example.test', (_req, res) => {
    res.end('ok');
  });
  proxy = await startProxy({
    decide: createRuleDecider([
      {
        id: 'api-read',
        verdict: 'allow',
        hosts: ['api.example.test'],
        ports: [api.port],
        methods: ['GET'],
        paths: ['/repos/**', '/gzip'],
      },
      {
        id: 'api-comment',
        verdict: 'allow',
        hosts: ['api.example.test'],
        ports: [api.port],
        methods: ['POST'],
        paths: ['/repos/acme/app/issues/42/comments'],
      },
      { id: 'git', verdict: 'allow', hosts: ['git.example.test'], ports: [git.port] },
      { id: 'other', verdict: 'allow', hosts: ['other.example.test'], ports: [other.port] },
    ]),
    resolver: scriptedResolver({
      'api.example.test': [['127.0.0.1']],
      'git.example.test': [['127.0.0.1']],
      'other.example.test': [['127.0.0.1']],
    }),
    cidrAllow: ['127.0.0.1/32'],
    upstreamCa: pki.caPem,
    secretEnv: { TEST_GH_TOKEN: SECRET, TEST_GIT_TOKEN: GIT_SECRET },
    credentials: [
      {
        id: 'github',
        secret: 'env:TEST_GH_TOKEN',
        hosts: ['api.example.test'],
        inject: { type: 'header', name: 'Authorization', prefix: 'Bearer ' },
        env: ['GITHUB_TOKEN', 'GH_TOKEN'],
      },
      {
        id: 'git',
        secret: 'env:TEST_GIT_TOKEN',
        hosts: ['git.example.test'],
        inject: { type: 'basic', username: 'x-access-token' },
      },
    ],
  });
  placeholder = proxy.proxy.sandboxEnv().GITHUB_TOKEN ?? '';
});

afterAll(async () => {
  await proxy.close();
  await api.close();
  await git.close();
  await other.close();
});

const sessionCa = (): string[] => [proxy.proxy.caCertPem ?? ''];

describe('interception', () => {
  it('[egress.intercept-paths] judges each request inside the tunnel by method and path', async () => {
    const ok = await viaUndici(proxy.url, `https://api.example.test:${api.port}/repos/acme/app`, {
      ca: sessionCa(),
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ method: 'GET', url: '/repos/acme/app' });

    const comment = await viaUndici(
      proxy.url,
      `https://api.example.test:${api.port}/repos/acme/app/issues/42/comments`,
      { ca: sessionCa(), method: 'POST', body: '{}' },
    );
    expect(comment.status).toBe(200);

    const other = await viaUndici(
      proxy.url,
      `https://api.example.test:${api.port}/repos/acme/app/issues/43/comments`,
      { ca: sessionCa(), method: 'POST', body: '{}' },
    );
    expect(other.status).toBe(403);
    expect(other.headers['x-airlock-denied']).toBe('egress.default-deny');
    expect(other.body).toContain('POST https://api.example.test');
    expect(api.seen.some((s) => s.url === '/repos/acme/app/issues/43/comments')).toBe(false);

    const del = await viaUndici(proxy.url, `https://api.example.test:${api.port}/repos/acme/app`, {
      ca: sessionCa(),
      method: 'DELETE',
    });
    expect(del.status).toBe(403);
  });

  it('[egress.intercept-traversal] judges the normalized path, and forwards that same path', async () => {
    // "/repos/../admin" would match "/repos/**" as a string; normalized, it is "/admin".
    const res = await viaUndici(proxy.url, `https://api.example.test:${api.port}/repos/%2e%2e/admin`, {
      ca: sessionCa(),
    });
    expect(res.status).toBe(403);
    expect(api.seen.some((s) => s.url.includes('admin'))).toBe(false);
  });

  it('[egress.intercept-sni] refuses a handshake whose SNI differs from the CONNECT target', async () => {
    const before = requestEvents(proxy.events).length;
    const { socket } = await rawConnect(proxy.bridge.port, `api.example.test:${api.port}`);
    const err = await new Promise<Error | null>((resolve) => {
      const tls = tlsConnect({ socket, servername: 'evil.example.test', ca: sessionCa() });
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
  });

  it('[egress.intercept-host] refuses an inner request whose Host differs from the CONNECT target', async () => {
    const { socket } = await rawConnect(proxy.bridge.port, `api.example.test:${api.port}`);
    const tls = tlsConnect({ socket, servername: 'api.example.test', ca: sessionCa() });
    await new Promise((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    const res = await rawExchange(
      tls,
      `GET /repos/acme/app HTTP/1.1\r\nHost: evil.example.test\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.host-mismatch');
    tls.destroy();
  });

  it('[egress.ca-key-private] hands out the CA certificate and never a private key', () => {
    expect(proxy.proxy.caCertPem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(proxy.proxy.caBundlePem).toContain(proxy.proxy.caCertPem ?? 'missing');
    expect(proxy.proxy.caBundlePem).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(proxy.proxy.sandboxEnv())).not.toContain('PRIVATE KEY');
  });
});

describe('credentials', () => {
  it('[egress.credential-inject] swaps the placeholder for the secret on the bound host only', async () => {
    expect(placeholder).toMatch(/^airlock-placeholder-github-[0-9a-f]{24}$/);
    const res = await viaUndici(proxy.url, `https://api.example.test:${api.port}/repos/acme/app/inject`, {
      ca: sessionCa(),
      headers: { authorization: `Bearer ${placeholder}` },
    });
    expect(res.status).toBe(200);
    const upstreamSaw = api.seen.find((s) => s.url === '/repos/acme/app/inject');
    expect(upstreamSaw?.headers.authorization).toBe(`Bearer ${SECRET}`);
    await eventually(() => requestEvents(proxy.events).some((e) => e.path === '/repos/acme/app/inject'));
    expect(requestEvents(proxy.events).find((e) => e.path === '/repos/acme/app/inject')?.credential).toBe(
      'github',
    );
  });

  it('[egress.secret-echo] takes an echoed secret back out of response headers and bodies, compressed or not', async () => {
    for (const path of ['/repos/acme/app/echo', '/gzip']) {
      const res = await viaUndici(proxy.url, `https://api.example.test:${api.port}${path}`, {
        ca: sessionCa(),
        headers: { authorization: `Bearer ${placeholder}` },
      });
      expect(res.status, path).toBe(200);
      expect(res.body, path).not.toContain(SECRET);
      expect(res.body, path).toContain(placeholder);
      expect(JSON.stringify(res.headers), path).not.toContain(SECRET);
      expect(res.headers['x-echo-auth'], path).toBe(`Bearer ${placeholder}`);
    }
  });

  it('[egress.own-credential] refuses a request to a bound host that carries any other credential', async () => {
    const cases: Array<Record<string, string>> = [
      { authorization: 'Bearer ghp_agents_own_token' },
      { authorization: `Bearer ${placeholder}`, 'x-api-key': 'sk-own' },
      { cookie: 'session=attacker' },
    ];
    for (const headers of cases) {
      const res = await viaUndici(proxy.url, `https://api.example.test:${api.port}/repos/acme/app/own`, {
        ca: sessionCa(),
        headers,
      });
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(res.headers['x-airlock-denied']).toBe('egress.own-credential');
      expect(res.body).toContain('own credential');
    }
    const viaQuery = await viaUndici(
      proxy.url,
      `https://api.example.test:${api.port}/repos/acme/app/own?access_token=mine`,
      { ca: sessionCa() },
    );
    expect(viaQuery.status).toBe(403);
    expect(api.seen.some((s) => s.url.startsWith('/repos/acme/app/own'))).toBe(false);
  });

  it('[egress.credential-basic] injects basic auth for a git-style binding without any client credential', async () => {
    const res = await viaUndici(proxy.url, `https://git.example.test:${git.port}/acme/app.git/info/refs`, {
      ca: sessionCa(),
    });
    expect(res.status).toBe(200);
    const expected = `Basic ${Buffer.from(`x-access-token:${GIT_SECRET}`).toString('base64')}`;
    expect(git.seen.at(-1)?.headers.authorization).toBe(expected);
    // The response echoed it; the client sees the placeholder's encoding instead.
    expect(res.body).not.toContain(Buffer.from(`x-access-token:${GIT_SECRET}`).toString('base64'));
  });

  it('[egress.client-curl-intercept] curl with the sandbox environment: CA bundle, proxy and placeholder', async () => {
    const env = proxy.proxy.sandboxEnv();
    const r = await run(
      'curl',
      [
        '-sS',
        '--fail-with-body',
        '-H',
        `Authorization: Bearer ${env.GITHUB_TOKEN ?? ''}`,
        `https://api.example.test:${api.port}/repos/acme/app/curl`,
      ],
      env,
    );
    expect(r.stderr).toBe('');
    const body = JSON.parse(r.stdout) as { headers: Record<string, string> };
    expect(body.headers.authorization).toBe(`Bearer ${placeholder}`);
    expect(api.seen.find((s) => s.url === '/repos/acme/app/curl')?.headers.authorization).toBe(
      `Bearer ${SECRET}`,
    );
  });

  it('[egress.client-python-intercept] python urllib with the sandbox environment (SSL_CERT_FILE)', async () => {
    const env = proxy.proxy.sandboxEnv();
    const script = [
      'import json, os, urllib.request',
      'req = urllib.request.Request(os.environ["U"], headers={"Authorization": "Bearer " + os.environ["GITHUB_TOKEN"]})',
      'print(json.load(urllib.request.urlopen(req))["headers"]["authorization"])',
    ].join('\n');
    const r = await run('python3', ['-c', script], {
      ...env,
      U: `https://api.example.test:${api.port}/repos/acme/app/py`,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`Bearer ${placeholder}`);
  });

  it('[egress.credential-inject] never swaps the placeholder on a host the credential is not bound to', async () => {
    // A base URL or config redirected to another allowed host gets the placeholder, never the secret.
    const res = await viaUndici(proxy.url, `https://other.example.test:${other.port}/redirected`, {
      ca: [pki.caPem],
      headers: { authorization: `Bearer ${placeholder}` },
    });
    expect(res.status).toBe(200);
    expect(other.seen.at(-1)?.headers.authorization).toBe(`Bearer ${placeholder}`);
  });

  it('[egress.placeholder-no-leak] the secret is in no event, no sandbox variable, and no file the proxy wrote', async () => {
    await eventually(() => requestEvents(proxy.events).length > 5);
    const everything = JSON.stringify(proxy.events);
    for (const secret of [
      SECRET,
      GIT_SECRET,
      Buffer.from(`x-access-token:${GIT_SECRET}`).toString('base64'),
    ]) {
      expect(everything).not.toContain(secret);
      expect(JSON.stringify(proxy.proxy.sandboxEnv())).not.toContain(secret);
      for (const name of await readdir(proxy.dir)) {
        const path = join(proxy.dir, name);
        if ((await stat(path)).isFile()) expect(await readFile(path, 'utf8'), path).not.toContain(secret);
      }
    }
    // Header values never reach events: not even the placeholder.
    expect(everything).not.toContain(placeholder);
  });
});
