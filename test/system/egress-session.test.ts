/**
 * The egress proxy wired into real sessions, for every backend that runs here: from inside a
 * real sandbox, curl reaches allowed upstreams only through the session's proxy (plain HTTP,
 * and HTTPS intercepted with the session CA while the host injects a credential), a denied
 * host gets the proxy's agent-readable 403, and every other way out (direct TCP ignoring the
 * proxy variables, raw sockets, UDP, DNS, other host sockets) fails. Checked from the host
 * side too: the upstreams see nothing but proxied requests, the audit log records every
 * request, and the proxy is gone after destroy.
 *
 * The upstreams are real HTTP and HTTPS servers on the host's 127.0.0.1 (the sandbox's
 * loopback is its own). Names like `api.example.test` reach them through the session's
 * test resolver, and the SSRF guard lets 127.0.0.1 through only because the policy has a
 * `cidr` rule for it.
 */
import { randomBytes } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { auditPaths } from '../../src/audit/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';
import {
  makeTestPki,
  scriptedResolver,
  startHttpServer,
  startHttpsServer,
  type ScriptedResolver,
  type TestPki,
  type TestServer,
} from '../integration/egress/helpers.js';
import { TARGETS, title } from './conformance/backends.js';

const SECRET = `sekrit-${randomBytes(12).toString('hex')}`;
const SECRET_ENV = 'AIRLOCK_TEST_EGRESS_SECRET';

let pki: TestPki;
let plain: TestServer;
let api: TestServer;
let raw: NetServer;
let rawConnections = 0;
let udp: UdpSocket;
let udpPort = 0;
let udpDatagrams = 0;

beforeAll(async () => {
  process.env[SECRET_ENV] = SECRET;
  pki = makeTestPki();
  plain = await startHttpServer((req, res) => {
    res.end(`plain ${req.method ?? ''} ${req.url ?? ''}`);
  });
  api = await startHttpsServer(pki, 'api.example.test', (req, res) => {
    const key = req.headers['x-api-key'];
    if (req.url === '/v1/echo-key') {
      // A server that echoes the credential: the proxy must redact it on the way back.
      res.end(`echo key=${String(key)}`);
      return;
    }
    res.end(`api-ok ${req.method ?? ''} ${req.url ?? ''} key=${key === SECRET ? 'good' : 'bad'}`);
  });
  raw = createNetServer((c) => {
    rawConnections++;
    c.destroy();
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  udp = createSocket('udp4');
  udp.on('message', () => { udpDatagrams++; });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
  udpPort = udp.address().port;
});

afterAll(async () => {
  await plain.close();
  await api.close();
  raw.close();
  udp.close();
  Reflect.deleteProperty(process.env, SECRET_ENV);
  cleanupTemp();
});

function policyText(): string {
  return `version: 1
exec: { default: allow }
files: { otherwise: { read: allow, write: allow } }
network:
  default: deny
  rules:
    - { id: plain, host: plain.example.test, ports: [${plain.port}], level: allow }
    - { id: asking, host: ask.example.test, ports: [${plain.port}], level: ask }
    - { id: api-read, host: api.example.test, ports: [${api.port}], methods: [GET], paths: ['/v1/**'], level: log }
    - { id: test-upstreams, cidr: 127.0.0.1/32, ports: [${plain.port}, ${api.port}], level: ask }
  credentials:
    - { id: apikey, hosts: [api.example.test], secret: 'env:${SECRET_ENV}', inject: { header: x-api-key } }
`;
}

for (const target of TARGETS.filter((t) => t.name === 'bwrap' || t.name === 'gvisor')) {
  const backend = target.name;
  describe.skipIf(target.skip !== undefined)(`${title(target)}: egress in a session`, () => {
    let session: Session;
    let stateDir: string;
    let workspace: string;
    let resolver: ScriptedResolver;
    const events: AirlockEvent[] = [];

    beforeAll(async () => {
      stateDir = tempDir('egress-state');
      workspace = tempDir('egress-ws');
      writeFileSync(join(workspace, 'airlock.yaml'), policyText());
      resolver = scriptedResolver({
        'plain.example.test': [['127.0.0.1']],
        'api.example.test': [['127.0.0.1']],
        'denied.example.test': [['127.0.0.1']],
        'ask.example.test': [['127.0.0.1']],
      });
      session = await createSession({
        workspace,
        stateDir,
        backend,
        policy: loadPolicy({ path: join(workspace, 'airlock.yaml') }),
        egress: { testing: { resolver, upstreamCa: pki.caPem } },
      });
      session.events.subscribe((e) => events.push(e));
    });

    afterAll(async () => {
      await session.destroy();
    });

    async function sh(script: string): Promise<{ code: number | null; out: string; err: string }> {
      // Through a script file: the policy judges `bash FILE`, and the script may use bash's
      // /dev/tcp and /dev/udp like any agent could.
      const name = `t-${randomBytes(4).toString('hex')}.sh`;
      writeFileSync(join(workspace, name), script);
      const r = await session.exec(['bash', `/workspace/${name}`], { timeoutMs: 60_000 });
      return { code: r.exitCode, out: r.stdout, err: r.stderr };
    }

    it('egress.session-http: plain HTTP to an allowed host goes through the proxy', async () => {
      const before = plain.seen.length;
      const r = await sh(`curl -sS --max-time 20 http://plain.example.test:${plain.port}/hello?x=1`);
      expect(r.err).toBe('');
      expect(r.out).toBe('plain GET /hello?x=1');
      expect(plain.seen.length).toBe(before + 1);
    });

    it('egress.session-https: HTTPS is intercepted with the session CA and the host injects the credential', async () => {
      const r = await sh(`curl -sS --max-time 20 https://api.example.test:${api.port}/v1/ok`);
      expect(r.err).toBe('');
      expect(r.out).toBe('api-ok GET /v1/ok key=good');
      // The credential never reached the sandbox: an echo of it comes back as the placeholder.
      const echo = await sh(`curl -sS --max-time 20 https://api.example.test:${api.port}/v1/echo-key`);
      expect(echo.out).toMatch(/^echo key=airlock-placeholder-apikey-/);
      expect(echo.out).not.toContain(SECRET);
    });

    it('egress.session-method-rule: a method the rule does not allow is refused inside the intercepted tunnel', async () => {
      const before = api.seen.length;
      const r = await sh(`curl -sS -i --max-time 20 -X POST -d x=1 https://api.example.test:${api.port}/v1/ok`);
      // curl -i shows the proxy's answer to CONNECT first, then the response inside.
      expect(r.out).toMatch(/^HTTP\/1\.1 200 Connection Established/);
      expect(r.out).toMatch(/^HTTP\/1\.1 403 Forbidden/m);
      expect(r.out).toMatch(/X-Airlock-Denied: network\.default/i);
      expect(r.out).toContain('Airlock blocked this request: POST https://api.example.test');
      expect(api.seen.length).toBe(before);
    });

    it('egress.deny-by-default: a denied host gets the agent-readable denial and its name is never resolved', async () => {
      const r = await sh(`curl -sS -i --max-time 20 http://denied.example.test:${plain.port}/`);
      expect(r.out).toMatch(/^HTTP\/1\.1 403/);
      expect(r.out).toMatch(/X-Airlock-Denied: network\.default/i);
      expect(r.out).toContain('Airlock blocked this request: GET http://denied.example.test');
      expect(r.out).toContain("sandbox's network policy");
      const tls = await sh(`curl -sS --max-time 20 https://denied.example.test:${api.port}/; echo "exit=$?"`);
      expect(tls.out).toMatch(/exit=[1-9]/);
      expect(tls.err).toMatch(/403/);
      expect(resolver.calls).not.toContain('denied.example.test');
    });

    it('egress.session-ask: with no approval queue attached, an ask is a deny', async () => {
      const before = plain.seen.length;
      const r = await sh(`curl -sS -i --max-time 20 http://ask.example.test:${plain.port}/please`);
      expect(r.out).toMatch(/^HTTP\/1\.1 403/);
      expect(r.out).toMatch(/X-Airlock-Denied: asking/i);
      expect(plain.seen.length).toBe(before);
    });

    it('egress.no-direct-route: ignoring the proxy variables, raw TCP, UDP and DNS all fail', async () => {
      const plainBefore = plain.seen.length;
      const udpStart = udpDatagrams;
      const rawStart = rawConnections;
      const r = await sh(
        [
          `curl -sS --max-time 5 --noproxy '*' http://plain.example.test:${plain.port}/; echo "noproxy-name=$?"`,
          `curl -sS --max-time 5 --noproxy '*' --resolve plain.example.test:${plain.port}:127.0.0.1 http://plain.example.test:${plain.port}/; echo "noproxy-ip=$?"`,
          `(exec 3<>/dev/tcp/127.0.0.1/${(raw.address() as AddressInfo).port}) 2>/dev/null; echo "tcp=$?"`,
          `(echo datagram > /dev/udp/127.0.0.1/${udpPort}) 2>/dev/null; echo "udp=$?"`,
          `getent ahosts plain.example.test >/dev/null; echo "dns=$?"`,
          `getent ahosts registry.npmjs.org >/dev/null; echo "dns2=$?"`,
          // Interfaces: loopback only, and no route anywhere.
          `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '`,
          `tail -n +2 /proc/net/route | wc -l | sed 's/^/routes=/'`,
        ].join('\n'),
      );
      expect(r.out).toMatch(/noproxy-name=[1-9]/);
      expect(r.out).toMatch(/noproxy-ip=[1-9]/);
      expect(r.out).toMatch(/tcp=[1-9]/);
      expect(r.out).toMatch(/dns=[1-9]/);
      expect(r.out).toMatch(/dns2=[1-9]/);
      expect(r.out).toMatch(/^lo$/m);
      expect(r.out.split('\n').filter((l) => /^[a-z0-9]+$/.test(l) && !l.startsWith('routes'))).toEqual(['lo']);
      expect(r.out).toMatch(/routes=0/);
      // UDP is connectionless: the sandbox's send may "succeed" into its own loopback. What
      // matters is that nothing arrived on the host. Push one datagram from the host through
      // the same socket path so the check is not vacuous.
      const before = udpDatagrams;
      const arrived = new Promise<void>((res) => udp.once('message', () => { res(); }));
      const probe = createSocket('udp4');
      probe.send('host', udpPort, '127.0.0.1', () => { probe.close(); });
      await arrived;
      expect(before).toBe(udpStart);
      expect(udpDatagrams).toBe(udpStart + 1);
      expect(rawConnections).toBe(rawStart);
      expect(plain.seen.length).toBe(plainBefore);
    });

    it('sandbox.no-host-unix-sockets: the proxy socket is the only host socket inside', async () => {
      const r = await sh(`{ find / -xdev -type s 2>/dev/null; find /run /tmp /home /workspace /dev -type s 2>/dev/null; } | sort -u`);
      expect(r.out.split('\n').filter(Boolean)).toEqual(['/run/airlock/egress/egress.sock']);
    });

    it('egress.credentials-host-only: the secret is nowhere inside (environment, files, processes)', async () => {
      const r = await sh(
        [
          // Split, so that this script (in /workspace) does not hold the secret itself.
          `S='${SECRET.slice(0, 8)}''${SECRET.slice(8)}'`,
          `env | grep -cF "$S"; echo "env=$?"`,
          // -l: names only; exit 2 (an unreadable file) with no name printed is still no match.
          `grep -rlsF "$S" /run /etc /home /tmp /workspace /proc/self/environ /proc/1/environ /proc/1/cmdline | sed 's/^/match:/'; echo "files=\${PIPESTATUS[0]}"`,
          `env | grep -E '^(HTTPS?_PROXY|ALL_PROXY|NO_PROXY|http_proxy|https_proxy|all_proxy|no_proxy|SSL_CERT_FILE|CURL_CA_BUNDLE)=' | sort`,
          `test -s /run/airlock/egress/ca-bundle.pem && echo ca-bundle-present`,
        ].join('\n'),
      );
      expect(r.out).toContain('env=1');
      expect(r.out).toMatch(/files=[12]/);
      expect(r.out).not.toContain('match:');
      expect(r.out).not.toContain(SECRET);
      expect(r.out).toContain('HTTP_PROXY=http://127.0.0.1:3128');
      expect(r.out).toContain('https_proxy=http://127.0.0.1:3128');
      expect(r.out).toContain('NO_PROXY=localhost,127.0.0.1,::1');
      expect(r.out).toContain('SSL_CERT_FILE=/run/airlock/egress/ca-bundle.pem');
      expect(r.out).toContain('ca-bundle-present');
    });

    it('egress.session-events: every request is an event on the channel and a record in the audit log; destroy closes the proxy', async () => {
      const socketPath = join(stateDir, 'sessions', session.id, 'run', 'egress', 'egress.sock');
      expect(existsSync(socketPath)).toBe(true);
      const net = events.filter((e) => e.type === 'network.request');
      expect(net.length).toBeGreaterThanOrEqual(6);
      const ok = net.find((e) => e.type === 'network.request' && e.data.host === 'api.example.test' && e.data.path === '/v1/ok' && e.data.method === 'GET');
      expect(ok?.data).toMatchObject({ verdict: 'log', allowed: true, rule: 'api-read', status: 200, mode: 'intercepted', injectedCredentials: ['apikey'] });
      const denied = net.find((e) => e.type === 'network.request' && e.data.host === 'denied.example.test');
      expect(denied?.data).toMatchObject({ verdict: 'deny', allowed: false, rule: 'network.default', status: 403 });

      await session.destroy();
      expect(existsSync(socketPath)).toBe(false);
      expect(existsSync(join(stateDir, 'sessions', session.id))).toBe(false);
      const refused = await new Promise<boolean>((res) => {
        const c = connect(socketPath);
        c.once('connect', () => { c.destroy(); res(false); });
        c.once('error', () => { res(true); });
      });
      expect(refused).toBe(true);

      const log = readFileSync(join(auditPaths(stateDir).sessions, `${session.id}.jsonl`), 'utf8');
      const records = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
      const netRecords = records.filter((r) => r.type === 'network.request');
      expect(netRecords.length).toBe(net.length);
      const rec = netRecords.find((r) => r.data['path'] === '/hello');
      expect(rec?.data).toMatchObject({ method: 'GET', host: 'plain.example.test', port: plain.port, verdict: 'allow', rule: 'plain', status: 200 });
      expect(typeof rec?.data['bytesReceived']).toBe('number');
      expect(typeof rec?.data['durationMs']).toBe('number');
      // Never a header value, a query or the secret (exec excerpts hold what curl printed,
      // which is the agent's output; the network records hold none of it).
      expect(log).not.toContain(SECRET);
      const netText = JSON.stringify(netRecords);
      expect(netText).not.toContain('x=1');
      expect(netText).not.toContain('airlock-placeholder');
      expect(netText).not.toContain('x-api-key');
      const stopped = records.findIndex((r) => r.type === 'session.stopped');
      expect(stopped).toBeGreaterThan(records.findLastIndex((r) => r.type === 'network.request'));
    });
  });
}

describe('egress budgets from the policy', () => {
  it('egress.budget-requests: past the policy\'s request budget, the session gets 429 and a budget.exceeded record', async () => {
    const workspace = tempDir('egress-budget-ws');
    const stateDir = tempDir('egress-budget-state');
    const policy = loadPolicy({
      text: `version: 1
exec: { default: allow }
network:
  rules:
    - { id: plain, host: plain.example.test, ports: [${plain.port}], level: allow }
    - { id: test-upstreams, cidr: 127.0.0.1/32, ports: [${plain.port}], level: ask }
  budgets: { requests: 2 }
`,
    });
    const s = await createSession({
      workspace,
      stateDir,
      policy,
      egress: { testing: { resolver: scriptedResolver({ 'plain.example.test': [['127.0.0.1']] }) } },
    });
    let out: string;
    try {
      const url = `http://plain.example.test:${plain.port}/b`;
      const r = await s.exec(['curl', '-sS', '-i', '--max-time', '20', url, url, url]);
      out = r.stdout;
    } finally {
      await s.destroy();
    }
    // The bodies have no final newline: a status line may follow one on the same line.
    expect(out.match(/HTTP\/1\.1 200/g)?.length).toBe(2);
    expect(out.match(/HTTP\/1\.1 429/g)?.length).toBe(1);
    expect(out).toMatch(/X-Airlock-Denied: egress\.budget\.requests/i);
    const log = readFileSync(join(auditPaths(stateDir).sessions, `${s.id}.jsonl`), 'utf8');
    const budget = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> }).find((r) => r.type === 'budget.exceeded');
    expect(budget?.data).toMatchObject({ budget: 'requests', limit: 2, unit: 'requests' });
  });
});

describe('egress from the command line (policy in the workspace)', () => {
  let server: TestServer;
  beforeAll(async () => {
    // 127.0.0.2: the sandbox's NO_PROXY names 127.0.0.1 (its own loopback), so this address
    // goes through the proxy, which reaches the host's loopback because the policy allows it.
    server = await startHttpServer((req, res) => { res.end(`cli ${req.url ?? ''}`); }, '127.0.0.2');
    if (!existsSync(CLI)) spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
  });
  afterAll(async () => {
    await server.close();
  });

  // Asynchronous: the upstream server lives in this process and must keep answering.
  function airlock(args: string[], home: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home }, timeout: 120_000 },
        (err, stdout, stderr) => {
          if (err !== null && typeof err.code !== 'number') {
            reject(new Error(`airlock ${args.join(" ")}: ${err.message}`));
            return;
          }
          resolve({ status: err === null ? 0 : (err.code as number), stdout, stderr });
        },
      );
    });
  }

  function workspaceWith(policy: string): string {
    const ws = tempDir('egress-cli-ws');
    writeFileSync(join(ws, 'airlock.yaml'), policy);
    return ws;
  }

  const allowing = (port: number): string => `version: 1
exec: { default: allow }
network:
  rules:
    - { id: host-loopback, cidr: 127.0.0.2/32, ports: [${port}], level: allow }
`;

  it('egress.cli: `airlock run` gets the proxy from the policy', async () => {
    const home = tempDir('egress-cli-home');
    const ws = workspaceWith(allowing(server.port));
    const r = await airlock(['run', '--workspace', ws, '--', 'curl', '-sS', '--max-time', '20', `http://127.0.0.2:${server.port}/run`], home);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('cli /run');
    expect(r.status).toBe(0);
  });

  it('egress.cli: without network rules there is no proxy and no route', async () => {
    const home = tempDir('egress-cli-home');
    const ws = workspaceWith('version: 1\nexec: { default: allow }\n');
    const r = await airlock(['run', '--workspace', ws, '--', 'bash', '-c', `env | grep -ci _proxy; curl -sS --max-time 5 http://127.0.0.2:${server.port}/none`], home);
    expect(r.stdout).toMatch(/^0\n/);
    expect(r.stdout).not.toContain('cli /none');
    expect(r.status).not.toBe(0);
  });

  it('egress.cli: a named session gets the proxy from the policy', async () => {
    const home = tempDir('egress-cli-home');
    const ws = workspaceWith(allowing(server.port));
    const created = await airlock(['session', 'create', '--name', 'eg', '--workspace', ws], home);
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    try {
      const r = await airlock(['session', 'exec', 'eg', '--', 'curl', '-sS', '--max-time', '20', `http://127.0.0.2:${server.port}/named`], home);
      expect(r.stdout).toBe('cli /named');
      expect(r.status).toBe(0);
    } finally {
      await airlock(['session', 'rm', 'eg'], home);
    }
    expect(server.seen.map((s) => s.url)).toContain('/named');
  });
});
