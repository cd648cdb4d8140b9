/**
 * Clients other than curl inside a real bwrap session, through the session's proxy, and a
 * credential's placeholder variable: the variable inside holds only the placeholder; a
 * client that sends it to the bound host gets the real secret injected by the host (the
 * upstream checks it), and the secret is in no variable inside.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { makeTestPki, scriptedResolver, startHttpsServer, type TestServer } from '../integration/egress/helpers.js';

const SECRET = `sekrit-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = 'AIRLOCK_TEST_CLIENTS_SECRET';

let api: TestServer;
let session: Session;
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
  const pki = makeTestPki();
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
    - { id: test-upstream, cidr: 127.0.0.1/32, ports: [${api.port}], level: ask }
  credentials:
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
    egress: { testing: { resolver: scriptedResolver({ 'api.example.test': [['127.0.0.1']] }), upstreamCa: pki.caPem } },
  });
});

afterAll(async () => {
  await session.destroy();
  await api.close();
  Reflect.deleteProperty(process.env, SECRET_ENV);
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

  it('[egress.placeholder-no-leak] after all that, the secret is in no file the session wrote on the host (audit log, state, workspace)', () => {
    const files = [...filesUnder(stateDir), ...filesUnder(workspace)];
    expect(files.some((f) => f.path.endsWith('.jsonl'))).toBe(true); // the audit log is among them
    expect(files.filter((f) => f.text.includes(SECRET)).map((f) => f.path)).toEqual([]);
  });
});
