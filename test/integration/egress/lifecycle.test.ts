/**
 * Starting and stopping: the unix socket (private, stale ones replaced, live ones left
 * alone), the sandbox environment, failures before listening, two proxies in one process.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isAirlockError } from '../../../src/errors/index.js';
import { createEgressProxy, createRuleDecider, type EgressProxyOptions } from '../../../src/egress/index.js';
import { connectTcp, rawExchange, startBridge, startHttpServer } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-egress-life-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const opts = (over: Partial<EgressProxyOptions> = {}): EgressProxyOptions => ({
  socketPath: join(dir, 'egress.sock'),
  sandboxPort: 3128,
  caPathInSandbox: '/run/airlock/ca.pem',
  decide: createRuleDecider([]),
  ...over,
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isAirlockError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('[egress.socket-private] socket', () => {
  it('listens on a private socket and removes it on close', async () => {
    const proxy = await createEgressProxy(opts());
    const st = await stat(proxy.socketPath);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    await proxy.close();
    await expect(stat(proxy.socketPath)).rejects.toThrow();
    await proxy.close(); // idempotent
  });

  it('replaces a stale socket, refuses a live one and a non-socket', async () => {
    const path = join(dir, 'egress.sock');
    // A live listener on the path: another proxy still owns it.
    const live = createServer();
    await new Promise<void>((resolve) => live.listen(path, resolve));
    expect(await failure(createEgressProxy(opts()))).toEqual({
      code: 'E_EGRESS_LISTEN_FAILED',
      message: `egress.socketPath: ${path} is in use by another process`,
    });
    await new Promise<void>((resolve) =>
      live.close(() => {
        resolve();
      }),
    );
    // A process that binds the path and is killed leaves a stale socket file behind.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect((await stat(path)).isSocket()).toBe(true);
    const proxy = await createEgressProxy(opts());
    await proxy.close();

    await writeFile(path, 'not a socket');
    expect(await failure(createEgressProxy(opts()))).toEqual({
      code: 'E_EGRESS_LISTEN_FAILED',
      message: `egress.socketPath: ${path} exists and is not a socket`,
    });
  });

  it('fails before listening when a secret cannot be resolved, without naming any value', async () => {
    const err = await failure(
      createEgressProxy(
        opts({
          secretEnv: {},
          credentials: [
            {
              id: 'gh',
              secret: 'env:AIRLOCK_TEST_UNSET',
              hosts: ['api.github.com'],
              inject: { type: 'header', name: 'authorization', prefix: 'Bearer ' },
            },
          ],
        }),
      ),
    );
    expect(err).toEqual({
      code: 'E_EGRESS_SECRET_UNAVAILABLE',
      message: 'egress.credentials[0].secret: env:AIRLOCK_TEST_UNSET is not set on the host',
    });
    await expect(stat(join(dir, 'egress.sock'))).rejects.toThrow();
  });

  it('runs two proxies in one process without sharing state', async () => {
    const server = await startHttpServer((_req, res) => {
      res.end('ok');
    });
    const a = await createEgressProxy(
      opts({
        socketPath: join(dir, 'a.sock'),
        intercept: false,
        decide: createRuleDecider([
          { id: 'lit', verdict: 'allow', hosts: ['127.0.0.1'], ports: [server.port] },
        ]),
        cidrAllow: ['127.0.0.1/32'],
      }),
    );
    const b = await createEgressProxy(opts({ socketPath: join(dir, 'b.sock'), intercept: false }));
    const bridgeA = await startBridge(a.socketPath);
    const bridgeB = await startBridge(b.socketPath);
    try {
      const req = `GET http://127.0.0.1:${server.port}/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
      expect((await rawExchange(await connectTcp(bridgeA.port), req)).status).toBe(200);
      expect((await rawExchange(await connectTcp(bridgeB.port), req)).status).toBe(403);
      expect(a.stats()).toMatchObject({ allowed: 1, denied: 0 });
      expect(b.stats()).toMatchObject({ allowed: 0, denied: 1 });
    } finally {
      await bridgeA.close();
      await bridgeB.close();
      await a.close();
      await b.close();
      await server.close();
    }
  });
});

describe('[egress.sandbox-env] sandboxEnv', () => {
  it('points every proxy and CA variable at the bridge and the mounted bundle', async () => {
    const proxy = await createEgressProxy(
      opts({
        sandboxPort: 3128,
        secretEnv: { T: 'real-secret-value' },
        credentials: [
          {
            id: 'gh',
            secret: 'env:T',
            hosts: ['api.github.com'],
            inject: { type: 'header', name: 'authorization' },
            env: ['GITHUB_TOKEN'],
            placeholder: 'airlock-placeholder-fixed',
          },
        ],
        baseUrls: [{ name: 'anthropic', upstream: 'https://api.anthropic.com', env: ['ANTHROPIC_BASE_URL'] }],
      }),
    );
    try {
      expect(proxy.sandboxEnv()).toEqual({
        HTTP_PROXY: 'http://127.0.0.1:3128',
        HTTPS_PROXY: 'http://127.0.0.1:3128',
        ALL_PROXY: 'http://127.0.0.1:3128',
        http_proxy: 'http://127.0.0.1:3128',
        https_proxy: 'http://127.0.0.1:3128',
        all_proxy: 'http://127.0.0.1:3128',
        NO_PROXY: 'localhost,127.0.0.1,::1',
        no_proxy: 'localhost,127.0.0.1,::1',
        NODE_USE_ENV_PROXY: '1',
        SSL_CERT_FILE: '/run/airlock/ca.pem',
        NODE_EXTRA_CA_CERTS: '/run/airlock/ca.pem',
        REQUESTS_CA_BUNDLE: '/run/airlock/ca.pem',
        GIT_SSL_CAINFO: '/run/airlock/ca.pem',
        CURL_CA_BUNDLE: '/run/airlock/ca.pem',
        npm_config_cafile: '/run/airlock/ca.pem',
        GITHUB_TOKEN: 'airlock-placeholder-fixed',
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:3128/_airlock/base/anthropic',
      });
      // The bundle replaces the trust store inside, so it carries the system roots too.
      expect((proxy.caBundlePem?.match(/BEGIN CERTIFICATE/g) ?? []).length).toBeGreaterThan(100);
    } finally {
      await proxy.close();
    }
  });

  it('sets no CA variables without interception', async () => {
    const proxy = await createEgressProxy(opts({ intercept: false }));
    try {
      expect(proxy.caCertPem).toBeUndefined();
      expect(Object.keys(proxy.sandboxEnv())).not.toContain('SSL_CERT_FILE');
    } finally {
      await proxy.close();
    }
  });
});
