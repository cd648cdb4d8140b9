/**
 * Runs the SSRF and proxy cases against two real egress proxies on the host, with a scripted
 * resolver, the canary TCP service as the forbidden target and a raw "allowed upstream".
 */
import { connect as netConnect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { createEgressProxy, type EgressProxy, type ResolvedAddress } from '../egress/index.js';
import type { Canaries } from './canaries.js';
import type { EgressCase } from './types.js';

/** The two proxies and the allowed upstream. */
export interface EgressRig {
  readonly allowedPort: number;
  /** The secret bound to api.example: it must never reach the client. */
  readonly secret: string;
  run(c: EgressCase): Promise<{ status: number | null; body: string; upstreamBytes: string }>;
  close(): Promise<void>;
}

const PUBLIC = '93.184.216.34';

/** Starts the rig in `dir` (unix sockets go there). */
export async function startEgressRig(dir: string, canaries: Canaries): Promise<EgressRig> {
  let upstreamBytes = '';
  const upstream: Server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.on('data', (d: Buffer) => {
      upstreamBytes += d.toString('latin1');
      if (!upstreamBytes.includes('\r\n\r\n')) return;
      // /echo answers with the request it received, injected credential included
      const body = upstreamBytes.includes(' /echo ') ? Buffer.from(upstreamBytes, 'latin1') : Buffer.from('ok');
      sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const allowedPort = (upstream.address() as AddressInfo).port;
  const lookups = new Map<string, number>();
  const secret = canaries.values['credential'] ?? '';
  const table: Record<string, readonly ResolvedAddress[]> = {
    localhost: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }],
    '127.0.0.1.nip.io': [{ address: '127.0.0.1', family: 4 }],
    'mixed.example': [{ address: PUBLIC, family: 4 }, { address: '127.0.0.1', family: 4 }],
    'mapped.example': [{ address: '::ffff:127.0.0.1', family: 6 }],
    'metadata.google.internal': [{ address: '169.254.169.254', family: 4 }],
    'allowed.example': [{ address: '127.0.0.1', family: 4 }],
    'evil.example': [{ address: '127.0.0.1', family: 4 }],
    'allowed.example.evil.example': [{ address: '127.0.0.1', family: 4 }],
    'evilallowed.example': [{ address: '127.0.0.1', family: 4 }],
    'api.example': [{ address: '127.0.0.1', family: 4 }],
    'api.example.evil.example': [{ address: '127.0.0.1', family: 4 }],
  };
  const resolver = (host: string): Promise<readonly ResolvedAddress[]> => {
    const n = (lookups.get(host) ?? 0) + 1;
    lookups.set(host, n);
    if (host === 'rebind.example') return Promise.resolve([{ address: n === 1 ? PUBLIC : '127.0.0.1', family: 4 }]);
    const hit = table[host];
    if (hit === undefined) return Promise.reject(Object.assign(new Error(`no such host ${host}`), { code: 'ENOTFOUND' }));
    return Promise.resolve(hit);
  };
  const guard: EgressProxy = await createEgressProxy({
    socketPath: join(dir, 'guard.sock'),
    sandboxPort: 3128,
    caPathInSandbox: '/etc/airlock/ca-bundle.pem',
    decide: () => ({ verdict: 'allow', ruleId: 'redteam.allow-all', reason: 'the red-team guard proxy allows every host by policy' }),
    resolver,
    connectTimeoutMs: 1500,
  });
  const allowlist: EgressProxy = await createEgressProxy({
    socketPath: join(dir, 'allowlist.sock'),
    sandboxPort: 3128,
    caPathInSandbox: '/etc/airlock/ca-bundle.pem',
    decide: (req) =>
      (req.host === 'allowed.example' || req.host === 'api.example') && req.port === allowedPort
        ? { verdict: 'allow', ruleId: 'redteam.allowed', reason: 'allowed.example on its port' }
        : { verdict: 'deny', ruleId: 'redteam.deny', reason: 'only allowed.example is allowed' },
    resolver,
    cidrAllow: ['127.0.0.1/32'],
    requireTlsInTunnels: true,
    credentials: [
      {
        id: 'redteam-api',
        secret: 'env:RT_API_SECRET',
        hosts: ['api.example'],
        inject: { type: 'header', name: 'Authorization', prefix: 'Bearer ' },
        placeholder: 'rt-placeholder-credential',
        allowPlainHttp: true,
      },
    ],
    secretEnv: { RT_API_SECRET: secret },
    connectTimeoutMs: 1500,
  });

  const run = async (c: EgressCase): Promise<{ status: number | null; body: string; upstreamBytes: string }> => {
    lookups.clear();
    upstreamBytes = '';
    const fill = (s: string): string => s.replaceAll('{P}', String(canaries.tcpPort)).replaceAll('{A}', String(allowedPort));
    const m = /\{CLIENTHELLO:([^}]+)\}/.exec(c.request);
    const text = fill(c.request.replace(/\{CLIENTHELLO:[^}]+\}/, ''));
    const sock: Socket = netConnect((c.proxy === 'guard' ? guard : allowlist).socketPath);
    let got = '';
    const done = new Promise<void>((resolve) => {
      const t = setTimeout(() => { sock.destroy(); resolve(); }, 4000);
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (m !== null && /^HTTP\/1\.1 200/.test(got) && got.includes('\r\n\r\n')) {
          sock.removeAllListeners('data');
          const tls = tlsConnect({ socket: sock, servername: m[1] ?? '', rejectUnauthorized: false });
          tls.on('error', () => { clearTimeout(t); resolve(); });
          tls.on('close', () => { clearTimeout(t); resolve(); });
          tls.on('secureConnect', () => { got += '\n[tls established]'; tls.end(); });
        }
      });
      sock.on('error', () => { clearTimeout(t); resolve(); });
      sock.on('close', () => { clearTimeout(t); resolve(); });
    });
    sock.write(text, 'latin1');
    await done;
    sock.destroy();
    // the upstream may still be receiving what the proxy forwarded
    await new Promise((r) => setTimeout(r, 50));
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(got);
    return { status: status === null ? null : Number(status[1]), body: got, upstreamBytes };
  };
  return {
    allowedPort,
    secret,
    run,
    async close() {
      await Promise.all([guard.close(), allowlist.close(), new Promise<void>((r) => upstream.close(() => { r(); }))]);
    },
  };
}
