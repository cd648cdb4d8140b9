/**
 * Shared fixtures for the egress integration tests: real servers on 127.0.0.1 port 0,
 * a test PKI for upstream HTTPS, a TCP bridge that stands in for the supervisor's
 * `--bridge PORT=/socket`, a scripted resolver, and real clients (undici, curl, python).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import {
  connect,
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

import { ProxyAgent, request as undiciRequest } from 'undici';

import { createSessionCa, type SessionCa } from '../../../src/egress/ca.js';
import { parseHost } from '../../../src/egress/host.js';
import {
  createEgressProxy,
  type EgressEvent,
  type EgressProxy,
  type EgressProxyOptions,
  type ResolvedAddress,
} from '../../../src/egress/index.js';

/** A request handler for test servers; the body has already been read (as text, and as bytes). */
export type Handler = (req: IncomingMessage, res: ServerResponse, body: string, raw: Buffer) => void;

/** A server listening on 127.0.0.1 and the requests it saw. */
export interface TestServer {
  readonly port: number;
  readonly server: Server | NetServer;
  /** Every request: method, url, headers (raw pairs lowercased), body. */
  readonly seen: Array<{
    method: string;
    url: string;
    headers: Record<string, string | string[] | undefined>;
    body: string;
  }>;
  close(): Promise<void>;
}

function recording(
  handler: Handler,
  seen: TestServer['seen'],
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body, raw);
    });
  };
}

async function listen(server: Server | NetServer, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: Server | NetServer): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      server.close(() => {
        resolve();
      });
    });
}

/** Starts a plain HTTP server on 127.0.0.1:0. */
export async function startHttpServer(handler: Handler, host = '127.0.0.1'): Promise<TestServer> {
  const seen: TestServer['seen'] = [];
  const server = createHttpServer(recording(handler, seen));
  const port = await listen(server, host);
  return { port, server, seen, close: closer(server) };
}

/** A test PKI for upstream servers, made in the test. */
export interface TestPki {
  readonly ca: SessionCa;
  readonly caPem: string;
}

/** Makes a test CA for upstream HTTPS servers. */
export function makeTestPki(): TestPki {
  const ca = createSessionCa({ commonName: 'Airlock test upstream CA' });
  return { ca, caPem: ca.certPem };
}

/** Starts an HTTPS server on `address` (default 127.0.0.1), port 0, whose certificate names `hostName`. */
export async function startHttpsServer(
  pki: TestPki,
  hostName: string,
  handler: Handler,
  address = '127.0.0.1',
): Promise<TestServer> {
  const parsed = parseHost(hostName);
  if (!parsed.ok) throw new Error(parsed.reason);
  const leaf = pki.ca.issue(parsed.value);
  const seen: TestServer['seen'] = [];
  const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, recording(handler, seen));
  const port = await listen(server, address);
  return { port, server, seen, close: closer(server) };
}

/** A TCP listener on 127.0.0.1:0 that splices each connection to a unix socket, like the supervisor's bridge. */
export interface Bridge {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a bridge to `socketPath` (the socket need not exist yet). */
export async function startBridge(socketPath: string): Promise<Bridge> {
  const sockets = new Set<Socket>();
  const server = createNetServer((client) => {
    const upstream = connect(socketPath);
    // Without TCP_NODELAY, small TLS handshake writes wait out delayed ACKs (~40 ms each).
    client.setNoDelay(true);
    sockets.add(client);
    sockets.add(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    // A side that closes ends the other one gracefully: what is still queued toward it must
    // be delivered first (destroying it here once cut the tail off a 4 MiB download).
    client.on('close', () => {
      upstream.end();
      sockets.delete(client);
    });
    upstream.on('close', () => {
      client.end();
      sockets.delete(upstream);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await listen(server);
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await closer(server)();
    },
  };
}

/** A resolver that answers from a table and counts lookups; answers may change per call. */
export interface ScriptedResolver {
  (hostname: string): Promise<readonly ResolvedAddress[]>;
  readonly calls: string[];
}

/** `table[name]` is a list of answers: the first call gets answers[0], later calls the next ones (the last repeats). */
export function scriptedResolver(table: Record<string, readonly (readonly string[])[]>): ScriptedResolver {
  const calls: string[] = [];
  const counts = new Map<string, number>();
  const fn = (hostname: string): Promise<readonly ResolvedAddress[]> => {
    calls.push(hostname);
    const answers = table[hostname];
    if (answers === undefined)
      return Promise.reject(Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' }));
    const n = counts.get(hostname) ?? 0;
    counts.set(hostname, n + 1);
    const answer = answers[Math.min(n, answers.length - 1)] ?? [];
    return Promise.resolve(
      answer.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) })),
    );
  };
  return Object.assign(fn, { calls });
}

/** A proxy started for a test, with its bridge, its events and a temporary runtime directory. */
export interface TestProxy {
  readonly proxy: EgressProxy;
  readonly bridge: Bridge;
  readonly events: EgressEvent[];
  readonly dir: string;
  /** `http://127.0.0.1:<bridge port>`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts a proxy behind a bridge; `socketPath`, `sandboxPort` and `onEvent` are filled in. */
export async function startProxy(
  options: Omit<EgressProxyOptions, 'socketPath' | 'sandboxPort' | 'onEvent' | 'caPathInSandbox'> & {
    extraClientCa?: string;
  },
): Promise<TestProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-egress-'));
  const socketPath = join(dir, 'egress.sock');
  // Clients here run on the host, so the "in-sandbox" CA path is a real file in the test directory.
  const caPath = join(dir, 'ca-bundle.pem');
  const bridge = await startBridge(socketPath);
  const events: EgressEvent[] = [];
  const { extraClientCa, ...proxyOptions } = options;
  const proxy = await createEgressProxy({
    ...proxyOptions,
    ...(proxyOptions.intercept === false ? {} : { caPathInSandbox: caPath }),
    socketPath,
    sandboxPort: bridge.port,
    onEvent: (e) => events.push(e),
  });
  if (proxy.caBundlePem !== undefined) await writeFile(caPath, `${proxy.caBundlePem}${extraClientCa ?? ''}`);
  return {
    proxy,
    bridge,
    events,
    dir,
    url: `http://127.0.0.1:${bridge.port}`,
    close: async () => {
      await proxy.close();
      await bridge.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The result of a client run. */
export interface ClientResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A request through the proxy with undici's ProxyAgent (CONNECT for https; absolute-URI for http unless `tunnel`). */
export async function viaUndici(
  proxyUrl: string,
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    ca?: string[];
    tunnel?: boolean;
  } = {},
): Promise<ClientResult> {
  // proxyTunnel false: http:// URLs go as absolute-URI requests (undici's default tunnels them through CONNECT).
  const dispatcher = new ProxyAgent({
    uri: proxyUrl,
    proxyTunnel: init.tunnel ?? false,
    ...(init.ca !== undefined ? { requestTls: { ca: init.ca } } : {}),
  });
  try {
    const res = await undiciRequest(url, {
      dispatcher,
      method: (init.method ?? 'GET') as 'GET',
      ...(init.headers !== undefined ? { headers: init.headers } : {}),
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    const body = await res.body.text();
    return { status: res.statusCode, headers: res.headers, body };
  } finally {
    await dispatcher.close();
  }
}

/** Runs a program with an argv (never a shell) and returns its output. */
export function run(
  file: string,
  args: readonly string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
        timeout: 30_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** The request events of a test proxy. */
export function requestEvents(
  events: readonly EgressEvent[],
): Array<Extract<EgressEvent, { type: 'egress.request' }>> {
  return events.filter(
    (e): e is Extract<EgressEvent, { type: 'egress.request' }> => e.type === 'egress.request',
  );
}

/** Waits until `predicate` holds (events arrive when connections close). */
export async function eventually(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A parsed HTTP/1.1 response read from a raw socket. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

function parseRaw(text: string): { head: RawResponse; rest: number } | null {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const status = Number(statusLine.split(' ')[1]);
  return { head: { status, headers, body: '' }, rest: end + 4 };
}

/**
 * Sends `CONNECT target` on a fresh connection to the bridge. On 200 the socket is the
 * open tunnel; otherwise the full response (with body) is read and the socket is closed.
 */
export function rawConnect(
  port: number,
  target: string,
  extraHead = '',
): Promise<{ response: RawResponse; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.on('error', reject);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseRaw(buf.toString('latin1'));
      if (parsed === null) return;
      if (parsed.head.status === 200) {
        socket.removeListener('data', onData);
        socket.pause();
        resolve({ response: parsed.head, socket });
        return;
      }
      const len = Number(parsed.head.headers['content-length'] ?? '0');
      if (buf.length - parsed.rest >= len) {
        socket.removeListener('data', onData);
        socket.destroy();
        resolve({
          response: { ...parsed.head, body: buf.subarray(parsed.rest, parsed.rest + len).toString('utf8') },
          socket,
        });
      }
    };
    socket.on('data', onData);
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${extraHead}\r\n`);
  });
}

/** Sends raw bytes on a (possibly TLS) stream and reads one HTTP response with a Content-Length or until close. */
export function rawExchange(stream: Duplex, request: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const done = (): void => {
      const parsed = parseRaw(buf.toString('latin1'));
      if (parsed === null) {
        reject(new Error(`no HTTP response: ${JSON.stringify(buf.toString('latin1').slice(0, 200))}`));
        return;
      }
      resolve({ ...parsed.head, body: buf.subarray(parsed.rest).toString('utf8') });
    };
    stream.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseRaw(buf.toString('latin1'));
      if (parsed === null) return;
      const len = parsed.head.headers['content-length'];
      if (len !== undefined && buf.length - parsed.rest >= Number(len)) {
        resolve({
          ...parsed.head,
          body: buf.subarray(parsed.rest, parsed.rest + Number(len)).toString('utf8'),
        });
        return;
      }
      if (parsed.head.headers['transfer-encoding'] === 'chunked') {
        const body = dechunk(buf.subarray(parsed.rest));
        if (body !== null) resolve({ ...parsed.head, body: body.toString('utf8') });
      }
    });
    stream.on('end', done);
    stream.on('error', reject);
    stream.resume();
    stream.write(request);
  });
}

/** Opens a TCP connection to 127.0.0.1:port. */
export function connectTcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Decodes a complete chunked body, or returns null when it is not complete yet. */
function dechunk(data: Buffer): Buffer | null {
  const out: Buffer[] = [];
  let p = 0;
  for (;;) {
    const nl = data.indexOf('\r\n', p);
    if (nl < 0) return null;
    const size = parseInt(data.subarray(p, nl).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return data.length >= nl + 4 ? Buffer.concat(out) : null;
    if (data.length < nl + 2 + size + 2) return null;
    out.push(data.subarray(nl + 2, nl + 2 + size));
    p = nl + 2 + size + 2;
  }
}
