/**
 * The documented capability example (examples/egress-capability): "POST comments on issue
 * 42 of acme/app with the GitHub token; nothing else on api.github.com", against a local
 * fake of two GitHub endpoints. The name api.github.com is resolved to 127.0.0.1 by the
 * test's resolver; nothing leaves the machine.
 */
import { readFile } from 'node:fs/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRuleDecider, type CredentialBinding, type EgressRule } from '../../../src/egress/index.js';
import {
  makeTestPki,
  run,
  scriptedResolver,
  startHttpsServer,
  startProxy,
  viaUndici,
  type TestProxy,
  type TestServer,
} from './helpers.js';

const TOKEN = 'ghp_hostOnlyToken0123456789abcdefABCDEF';
let github: TestServer;
let proxy: TestProxy;
let env: Record<string, string>;

beforeAll(async () => {
  const example = JSON.parse(
    await readFile(new URL('../../../examples/egress-capability/capability.json', import.meta.url), 'utf8'),
  ) as {
    rules: EgressRule[];
    credentials: CredentialBinding[];
  };
  const pki = makeTestPki();
  // The fake: two endpoints of the GitHub REST API, both of which need the token.
  github = await startHttpsServer(pki, 'api.github.com', (req, res, body) => {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"message":"Bad credentials"}');
      return;
    }
    const comment = /^\/repos\/acme\/app\/issues\/(\d+)\/comments$/.exec(req.url ?? '');
    if (req.method === 'POST' && comment !== null) {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 1,
          issue: Number(comment[1]),
          body: (JSON.parse(body) as { body: string }).body,
        }),
      );
      return;
    }
    if (req.method === 'DELETE' && req.url === '/repos/acme/app') {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end();
  });
  // Same rules as the example; only the port differs (the fake listens on port 0).
  const rules = example.rules.map((r) => ({ ...r, ports: [github.port] }));
  proxy = await startProxy({
    decide: createRuleDecider(rules),
    credentials: example.credentials,
    secretEnv: { GITHUB_TOKEN: TOKEN },
    resolver: scriptedResolver({ 'api.github.com': [['127.0.0.1']] }),
    cidrAllow: ['127.0.0.1/32'],
    upstreamCa: pki.caPem,
  });
  env = proxy.proxy.sandboxEnv();
});

afterAll(async () => {
  await proxy.close();
  await github.close();
});

const api = (path: string): string => `https://api.github.com:${github.port}${path}`;
const post = (path: string, auth: string) =>
  viaUndici(proxy.url, api(path), {
    method: 'POST',
    body: JSON.stringify({ body: 'Fixed in #43' }),
    headers: { authorization: auth, 'content-type': 'application/json' },
    ca: [proxy.proxy.caCertPem ?? ''],
  });

describe('capability: comment on acme/app#42 and nothing else', () => {
  it('[egress.capability] posts a comment on issue 42 with the host-side token', async () => {
    // gh and most clients send "token X" or "Bearer X"; either placeholder form is swapped.
    const res = await post('/repos/acme/app/issues/42/comments', `token ${env.GITHUB_TOKEN ?? ''}`);
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body)).toEqual({ id: 1, issue: 42, body: 'Fixed in #43' });
    expect(github.seen.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('[egress.capability] refuses a comment on another issue, another endpoint, and another method', async () => {
    const before = github.seen.length;
    const other = await post('/repos/acme/app/issues/43/comments', `Bearer ${env.GITHUB_TOKEN ?? ''}`);
    expect(other.status).toBe(403);
    expect(other.headers['x-airlock-denied']).toBe('egress.default-deny');
    const del = await viaUndici(proxy.url, api('/repos/acme/app'), {
      method: 'DELETE',
      ca: [proxy.proxy.caCertPem ?? ''],
    });
    expect(del.status).toBe(403);
    const read = await viaUndici(proxy.url, api('/repos/acme/app/issues/42'), {
      ca: [proxy.proxy.caCertPem ?? ''],
    });
    expect(read.status).toBe(403);
    expect(github.seen.length).toBe(before);
  });

  it('[egress.capability] refuses the agent bringing its own token, even to the allowed endpoint', async () => {
    const before = github.seen.length;
    const res = await post('/repos/acme/app/issues/42/comments', 'Bearer ghp_attackersOwnToken');
    expect(res.status).toBe(403);
    expect(res.headers['x-airlock-denied']).toBe('egress.own-credential');
    expect(github.seen.length).toBe(before);
  });

  it('[egress.capability] works from curl with the sandbox environment alone', async () => {
    const r = await run(
      'curl',
      [
        '-sS',
        '-X',
        'POST',
        '-H',
        `Authorization: Bearer ${env.GITHUB_TOKEN ?? ''}`,
        '-d',
        '{"body":"from curl"}',
        '-w',
        '\n%{http_code}',
        api('/repos/acme/app/issues/42/comments'),
      ],
      env,
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('201');
    const refused = await run(
      'curl',
      ['-sS', '-X', 'DELETE', '-w', '\n%{http_code}', api('/repos/acme/app')],
      env,
    );
    expect(refused.stdout).toContain('Airlock blocked this request: DELETE');
    expect(refused.stdout.trim().split('\n').at(-1)).toBe('403');
  });
});
