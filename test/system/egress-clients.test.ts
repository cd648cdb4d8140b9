/**
 * Clients other than curl inside a real bwrap session, through the session's proxy, and a
 * credential's placeholder variable: the variable inside holds only the placeholder; a
 * client that sends it to the bound host gets the real secret injected by the host (the
 * upstream checks it), and the secret is in no variable inside.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { makeTestPki, run, scriptedResolver, startHttpsServer, type TestServer } from '../integration/egress/helpers.js';

const SECRET = `sekrit-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = 'AIRLOCK_TEST_CLIENTS_SECRET';

const FORGE_TOKEN = `forge-${randomBytes(12).toString('hex')}`;
const FORGE_ENV = 'AIRLOCK_TEST_CLIENTS_FORGE';

let api: TestServer;
let forge: TestServer;
let forgeRoot: string;
let session: Session;

/** Runs `git http-backend` as a CGI program for one request (argv only, no shell). */
function cgi(method: string, url: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const [pathInfo = '', query = ''] = url.split('?');
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: forgeRoot,
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
      const h: Record<string, string> = {};
      for (const line of all.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        h[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number((h.status ?? '200').split(' ')[0]), headers: h, body: all.subarray(end + 4) });
    });
    child.stdin.end(body);
  });
}
let stateDir: string;
let workspace: string;

/** Every regular file under `dir`, read whole (the state directory is small in a test). */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st === undefined) continue;
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push({ path: p, text: readFileSync(p).toString('latin1') });
  }
  return out;
}

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  process.env[FORGE_ENV] = FORGE_TOKEN;
  const pki = makeTestPki();
  // A fake forge: a bare repository served by git http-backend over TLS, behind basic auth.
  forgeRoot = tempDir('clients-forge');
  const seed = join(forgeRoot, 'seed');
  mkdirSync(seed);
  const ident = { GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' };
  await run('git', ['init', '-q', '--bare', '-b', 'main', join(forgeRoot, 'app.git')], ident);
  await run('git', ['init', '-q', '-b', 'main', seed], ident);
  writeFileSync(join(seed, 'README'), 'hello from the fake forge\n');
  await run('git', ['-C', seed, 'add', 'README'], ident);
  await run('git', ['-C', seed, 'commit', '-q', '-m', 'init'], ident);
  await run('git', ['-C', seed, 'push', '-q', join(forgeRoot, 'app.git'), 'main'], ident);
  const expectedAuth = `Basic ${Buffer.from(`x-access-token:${FORGE_TOKEN}`).toString('base64')}`;
  forge = await startHttpsServer(pki, 'git.example.test', (req, res, _body, raw) => {
    if (req.headers.authorization !== expectedAuth) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="forge"' });
      res.end();
      return;
    }
    cgi(req.method ?? 'GET', req.url ?? '/', req.headers, raw).then(
      (r) => {
        res.writeHead(r.status, Object.fromEntries(Object.entries(r.headers).filter(([k]) => k !== 'status')));
        res.end(r.body);
      },
      () => {
        res.writeHead(500);
        res.end();
      },
    );
  });
  api = await startHttpsServer(pki, 'api.example.test', (req, res) => {
    const auth = req.headers.authorization;
    res.end(`api ${req.method ?? ''} ${req.url ?? ''} auth=${auth === `Bearer ${SECRET}` ? 'good' : 'bad'}`);
  });
  const policy = loadPolicy({
    text: `version: 1
exec: { default: allow }
files: { otherwise: { read: allow, write: allow } }
network:
  rules:
    - { id: api, host: api.example.test, ports: [${api.port}], methods: [GET], paths: ['/v1/**'], level: allow }
    - { id: forge, host: git.example.test, ports: [${forge.port}], paths: ['/app.git/**'], level: allow }
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${api.port}, ${forge.port}], level: ask }
  credentials:
    - { id: forge, hosts: [git.example.test], secret: 'env:${FORGE_ENV}', inject: { basic: { username: x-access-token } } }
    - { id: api-token, hosts: [api.example.test], secret: 'env:${SECRET_ENV}', env: [API_TOKEN], inject: { header: authorization, format: 'Bearer {secret}' } }
`,
  });
  stateDir = tempDir('clients-state');
  workspace = tempDir('clients-ws');
  session = await createSession({
    workspace,
    stateDir,
    policy,
    workspaceMode: 'direct',
    egress: { testing: { resolver: scriptedResolver({ 'api.example.test': [['127.0.0.1']], 'git.example.test': [['127.0.0.1']] }), upstreamCa: pki.caPem } },
  });
});

afterAll(async () => {
  await session.destroy();
  await api.close();
  await forge.close();
  Reflect.deleteProperty(process.env, SECRET_ENV);
  Reflect.deleteProperty(process.env, FORGE_ENV);
  cleanupTemp();
});

describe('clients and placeholders inside a session', () => {
  it('[egress.credentials-host-only] the credential variable inside holds the placeholder; sent to the bound host, the host injects the secret', async () => {
    const env = await session.exec(['printenv', 'API_TOKEN']);
    expect(env.exitCode).toBe(0);
    const placeholder = env.stdout.trim();
    expect(placeholder).toMatch(/^airlock-placeholder-/);
    expect(placeholder).not.toContain(SECRET);
    const all = await session.exec(['env']);
    expect(all.stdout).not.toContain(SECRET);
    const r = await session.exec(['bash', '-c', `curl -sS -H "Authorization: Bearer $API_TOKEN" https://api.example.test:${api.port}/v1/me`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('api GET /v1/me auth=good');
  });

  it('[egress.session-https] python urllib inside the sandbox, through HTTPS_PROXY with the session CA', async () => {
    const probe = await session.exec(['sh', '-c', 'command -v python3']);
    if (probe.exitCode !== 0) throw new Error('python3 is not available inside the sandbox root; this test needs it');
    const script = [
      'import os, urllib.request',
      `req = urllib.request.Request("https://api.example.test:${api.port}/v1/py", headers={"Authorization": "Bearer " + os.environ["API_TOKEN"]})`,
      'print(urllib.request.urlopen(req, timeout=30).read().decode(), end="")',
    ].join('\n');
    const r = await session.exec(['python3', '-c', script], { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('api GET /v1/py auth=good');
  });

  it('[egress.session-method-rule] python urllib: a method outside the rule is refused inside the tunnel with the 403', async () => {
    const script = [
      'import urllib.request, urllib.error',
      `req = urllib.request.Request("https://api.example.test:${api.port}/v1/py", data=b"x", method="POST")`,
      'try:',
      '    urllib.request.urlopen(req, timeout=30)',
      'except urllib.error.HTTPError as e:',
      '    print(e.code, e.headers.get("X-Airlock-Denied"), end="")',
    ].join('\n');
    const r = await session.exec(['python3', '-c', script], { timeoutMs: 60_000 });
    expect(r.stdout).toMatch(/^403 \S+/);
  });

  it('[egress.client-git] git clone over https inside the sandbox, with a credential only the host holds; a repository outside the rule is refused', async () => {
    const clone = await session.exec(['git', 'clone', '-q', `https://git.example.test:${forge.port}/app.git`, '/tmp/app'], {
      timeoutMs: 120_000,
    });
    expect(clone.stderr).toBe('');
    expect(clone.exitCode).toBe(0);
    const readme = await session.exec(['cat', '/tmp/app/README']);
    expect(readme.stdout).toBe('hello from the fake forge\n');
    const other = await session.exec(['git', 'ls-remote', `https://git.example.test:${forge.port}/other.git`], {
      timeoutMs: 60_000,
    });
    expect(other.exitCode).not.toBe(0);
    expect(other.stderr).toMatch(/403/);
  });

  it('[egress.placeholder-no-leak] after all that, the secret is in no file the session wrote on the host (audit log, state, workspace)', () => {
    const files = [...filesUnder(stateDir), ...filesUnder(workspace)];
    expect(files.some((f) => f.path.endsWith('.jsonl'))).toBe(true); // the audit log is among them
    expect(files.filter((f) => f.text.includes(SECRET) || f.text.includes(FORGE_TOKEN)).map((f) => f.path)).toEqual([]);
  });
});
