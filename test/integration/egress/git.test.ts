/**
 * git over HTTPS through the proxy: a real `git clone` and `git push` against
 * `git http-backend` served over TLS on 127.0.0.1, with the only credential held by the
 * proxy (basic auth injected), and the same clone refused when policy says no.
 */
import { spawn } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createRuleDecider } from '../../../src/egress/index.js';
import {
  makeTestPki,
  run,
  scriptedResolver,
  startHttpsServer,
  startProxy,
  type TestProxy,
  type TestServer,
} from './helpers.js';

const TOKEN = 'git-host-only-token-0123456789';
let root: string;
let git: TestServer;
let proxy: TestProxy;
let env: Record<string, string>;

/** Runs `git http-backend` as a CGI program for one request (argv only, no shell). */
function cgi(
  method: string,
  url: string,
  headers: IncomingHttpHeaders,
  body: Buffer,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const [pathInfo = '', query = ''] = url.split('?');
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'agent',
        REQUEST_METHOD: method,
        PATH_INFO: pathInfo,
        QUERY_STRING: query,
        CONTENT_TYPE: headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: headers['content-encoding'] ?? '',
        CONTENT_LENGTH: String(body.length),
      },
    });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', () => {
      const all = Buffer.concat(out);
      const end = all.indexOf('\r\n\r\n');
      const headers: Record<string, string> = {};
      for (const line of all.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({
        status: Number((headers.status ?? '200').split(' ')[0]),
        headers,
        body: all.subarray(end + 4),
      });
    });
    child.stdin.end(body);
  });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'airlock-git-'));
  await mkdir(join(root, 'seed'));
  const g = (args: string[], cwd = root) =>
    run('git', ['-C', cwd, ...args], {
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    });
  await g(['init', '-q', '--bare', '-b', 'main', join(root, 'app.git')]);
  await g(['config', 'http.receivepack', 'true'], join(root, 'app.git'));
  await g(['init', '-q', '-b', 'main'], join(root, 'seed'));
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(join(root, 'seed', 'README'), 'hello from the fake forge\n'),
  );
  await g(['add', 'README'], join(root, 'seed'));
  await g(['commit', '-q', '-m', 'init'], join(root, 'seed'));
  await g(['push', '-q', join(root, 'app.git'), 'main'], join(root, 'seed'));

  const pki = makeTestPki();
  const expected = `Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`;
  git = await startHttpsServer(pki, 'git.example.test', (req, res, _body, raw) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="forge"' });
      res.end();
      return;
    }
    cgi(req.method ?? 'GET', req.url ?? '/', req.headers, raw).then(
      (r) => {
        // CGI's "Status:" line is the response status, not a header.
        const headers = Object.entries(r.headers).filter(([k]) => k !== 'status');
        res.writeHead(r.status, Object.fromEntries(headers));
        res.end(r.body);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  proxy = await startProxy({
    decide: createRuleDecider([
      {
        id: 'forge',
        verdict: 'allow',
        hosts: ['git.example.test'],
        ports: [git.port],
        paths: ['/app.git/**'],
      },
    ]),
    resolver: scriptedResolver({ 'git.example.test': [['127.0.0.1']] }),
    cidrAllow: ['127.0.0.1/32'],
    upstreamCa: pki.caPem,
    secretEnv: { FORGE_TOKEN: TOKEN },
    credentials: [
      {
        id: 'forge',
        secret: 'env:FORGE_TOKEN',
        hosts: ['git.example.test'],
        inject: { type: 'basic', username: 'x-access-token' },
      },
    ],
  });
  env = { ...proxy.proxy.sandboxEnv(), GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', HOME: root };
});

afterAll(async () => {
  await proxy.close();
  await git.close();
  await rm(root, { recursive: true, force: true });
});

describe('[egress.client-git] git over https', () => {
  it('[egress.credential-inject] clones and pushes with a credential only the proxy holds', async () => {
    const work = join(root, 'clone');
    const clone = await run(
      'git',
      ['clone', '-q', `https://git.example.test:${git.port}/app.git`, work],
      env,
    );
    expect(clone.stderr).toBe('');
    expect(clone.code).toBe(0);
    expect(await readFile(join(work, 'README'), 'utf8')).toBe('hello from the fake forge\n');
    await import('node:fs/promises').then((fs) => fs.writeFile(join(work, 'CHANGE'), 'from the agent\n'));
    const ident = {
      GIT_AUTHOR_NAME: 'a',
      GIT_AUTHOR_EMAIL: 'a@a',
      GIT_COMMITTER_NAME: 'a',
      GIT_COMMITTER_EMAIL: 'a@a',
    };
    await run('git', ['-C', work, 'add', 'CHANGE'], { ...env, ...ident });
    await run('git', ['-C', work, 'commit', '-q', '-m', 'change'], { ...env, ...ident });
    const push = await run('git', ['-C', work, 'push', '-q', 'origin', 'main'], env);
    expect(push.code).toBe(0);
    const log = await run('git', ['-C', join(root, 'app.git'), 'log', '--format=%s', 'main']);
    expect(log.stdout.trim().split('\n')).toEqual(['change', 'init']);
    // Nothing git wrote in the clone knows the token.
    const config = await readFile(join(work, '.git', 'config'), 'utf8');
    expect(config).not.toContain(TOKEN);
  });

  it('[egress.deny-by-default] refuses a repository the rule does not cover, with the reason in git’s output', async () => {
    const r = await run(
      'git',
      ['clone', '-q', `https://git.example.test:${git.port}/other.git`, join(root, 'other')],
      env,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('403');
  });
});
