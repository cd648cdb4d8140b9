/**
 * The local approvals HTTP API and its web page.
 *
 * It listens on loopback only, and every request must pass three checks before anything
 * else: the Host header names this server (so a DNS-rebinding page whose name now points
 * at 127.0.0.1 is refused), the Origin, when a browser sends one, is this server's own
 * (so another site cannot drive it from a visitor's browser), and API calls carry a bearer
 * token (compared in constant time). Tokens are named; the name is recorded as who decided.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { describeRecord } from '../approvals/index.js';
import type { ApprovalBatch, ApprovalChange, ApprovalQueue, ApprovalRecord, ApprovalStatus } from '../approvals/index.js';
import { AirlockError, isAirlockError } from '../errors/index.js';
import { PAGE_CSS, PAGE_HTML, PAGE_JS } from './page.js';
import { LOCAL_TOKEN_NAME, loadOrCreateTokens } from './tokens.js';

/** Options for {@link startApprovalServer}. */
export interface ApprovalServerOptions {
  queue: ApprovalQueue;
  /** The state directory: tokens are read from (and created in) `approvals/tokens.json`. */
  stateDir: string;
  /** A loopback address: `127.0.0.1` (default) or `::1`. */
  host?: string;
  /** The port; 0 (default) picks a free one. */
  port?: number;
  /** Named tokens to accept instead of those of the state directory (name → token). */
  tokens?: ReadonlyMap<string, string>;
  /** Write `approvals/server.json` (url, pid) so other commands can name the page (default true). */
  writeInfo?: boolean;
  /** Interval of the keep-alive comment on event streams, in ms (default 15000). */
  heartbeatMs?: number;
}

/** A running approvals server. */
export interface ApprovalServer {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The page's address with the local token in the fragment: what a person opens. */
  readonly pageUrl: string;
  /** The `local` token (for clients on this machine). */
  readonly token: string;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

const decisionBody = z.discriminatedUnion('decision', [
  z.strictObject({
    decision: z.literal('approve'),
    digest: z.string().regex(/^[0-9a-f]{64}$/, 'must be the 64-hex-digit digest shown with the ask'),
    scope: z.enum(['once', 'session', 'rule']).optional(),
    ruleText: z.string().max(64 * 1024).optional(),
    ruleSha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  }),
  z.strictObject({
    decision: z.literal('deny'),
    digest: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    reason: z.string().max(2000).optional(),
  }),
]);

const batchBody = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  scope: z.enum(['once', 'session']).optional(),
  reason: z.string().max(2000).optional(),
  items: z
    .array(z.strictObject({ id: z.string().min(1).max(64), digest: z.string().regex(/^[0-9a-f]{64}$/) }))
    .min(1)
    .max(1000),
});

const STATUSES: readonly (ApprovalStatus | 'all')[] = ['pending', 'approved', 'denied', 'expired', 'all'];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** How an approvals record is sent: the record and the lines a person reads. */
export interface ApprovalView extends ApprovalRecord {
  readonly display: string[];
}

function view(r: ApprovalRecord): ApprovalView {
  return { ...r, display: describeRecord(r) };
}

function batchView(b: ApprovalBatch): Omit<ApprovalBatch, 'items'> & { items: ApprovalView[] } {
  return { ...b, items: b.items.map(view) };
}

function statusOf(code: string): number {
  switch (code) {
    case 'E_APPROVAL_NOT_FOUND':
      return 404;
    case 'E_APPROVAL_DECIDED':
    case 'E_APPROVAL_MISMATCH':
      return 409;
    case 'E_APPROVAL_INVALID':
    case 'E_USAGE':
      return 400;
    case 'E_APPROVAL_RULE':
      return 422;
    case 'E_APPROVAL_CLOSED':
      return 503;
    default:
      return 500;
  }
}

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': String(Buffer.byteLength(body)), ...extra });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`, extra);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) {
      reject(new HttpError(415, 'unsupported_media_type', 'the body must be application/json'));
      req.resume();
      return;
    }
    const tooLarge = (): HttpError => new HttpError(413, 'body_too_large', `the body is larger than ${MAX_BODY} bytes`);
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > MAX_BODY) {
      reject(tooLarge());
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > MAX_BODY) {
        // Stop keeping the body; the rest drains (bounded by the request timeout) and the answer closes the connection.
        over = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (over) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'bad_json', 'the body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const msg = r.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`)
      .join('; ');
    throw new HttpError(400, 'invalid_body', msg);
  }
  return r.data;
}

const sha = (s: string): Buffer => createHash('sha256').update(s).digest();

/** A path segment, percent-decoded; a malformed escape is the client's error, not the server's. */
function segment(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, 'bad_path', `${JSON.stringify(raw)} is not a valid path segment`);
  }
}

/**
 * Starts the approvals API and page on loopback. Refuses any other address: the API
 * decides what runs on this machine, and it must not be reachable from the network.
 */
export async function startApprovalServer(options: ApprovalServerOptions): Promise<ApprovalServer> {
  const { queue } = options;
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') {
    throw new AirlockError('E_SERVER_LISTEN', `approvals server: host ${JSON.stringify(host)} is not a loopback address`, {
      hint: 'Use 127.0.0.1 or ::1; to decide from elsewhere, use a webhook or an SSH tunnel.',
    });
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new AirlockError('E_SERVER_LISTEN', `approvals server: port ${String(port)} is not a TCP port`, { hint: 'Pass 0 for any free port, or 1-65535.' });
  }
  const tokens = options.tokens ?? loadOrCreateTokens(options.stateDir);
  const localToken = tokens.get(LOCAL_TOKEN_NAME);
  if (localToken === undefined) throw new AirlockError('E_CONFIG_INVALID', 'approvals server: no "local" token', { hint: 'Pass a tokens map with a "local" entry.' });
  const tokenDigests = [...tokens.entries()].map(([name, t]) => ({ name, digest: sha(t) }));
  const heartbeatMs = options.heartbeatMs ?? 15_000;

  let allowedHosts = new Set<string>();
  let allowedOrigins = new Set<string>();
  const streams = new Set<ServerResponse>();

  function tokenName(req: IncomingMessage): string | null {
    const auth = req.headers.authorization;
    const m = auth === undefined ? null : /^Bearer ([A-Za-z0-9_-]{16,256})$/.exec(auth);
    if (m === null) return null;
    const given = sha(m[1] as string);
    let found: string | null = null;
    // Compare with every token, in constant time each, so timing tells nothing about which matched.
    for (const t of tokenDigests) if (timingSafeEqual(given, t.digest) && found === null) found = t.name;
    return found;
  }

  function checkRequest(req: IncomingMessage): { origin: string | null } {
    const hostHeader = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts.has(hostHeader)) throw new HttpError(421, 'forbidden_host', `Host ${JSON.stringify(hostHeader)} is not this server`, 'Open the address airlock serve printed.');
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins.has(origin.toLowerCase())) {
      throw new HttpError(403, 'forbidden_origin', `requests from ${JSON.stringify(origin)} are refused`, 'Only the page this server serves may call it from a browser.');
    }
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site') throw new HttpError(403, 'forbidden_origin', 'cross-site requests are refused');
    return { origin: origin ?? null };
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL, who: string, channel: string): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const by = `token:${who}`;
    let m: RegExpExecArray | null;
    if (path === '/api/approvals' && method === 'GET') {
      const status = url.searchParams.get('status') ?? 'pending';
      if (!(STATUSES as readonly string[]).includes(status)) throw new HttpError(400, 'invalid_query', `status must be one of ${STATUSES.join(', ')}`);
      const limit = Number(url.searchParams.get('limit') ?? '200');
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new HttpError(400, 'invalid_query', 'limit must be 1-10000');
      const session = url.searchParams.get('session');
      const list = queue.list({ ...(status === 'all' ? {} : { status: status as ApprovalStatus }), ...(session === null ? {} : { sessionId: session }), limit });
      sendJson(res, 200, { approvals: list.map(view) });
      return;
    }
    if ((m = /^\/api\/approvals\/([^/]+)$/.exec(path)) !== null && method === 'GET') {
      const r = queue.get(segment(m[1] as string));
      if (r === undefined) throw new HttpError(404, 'E_APPROVAL_NOT_FOUND', 'no such approval');
      sendJson(res, 200, { approval: view(r) });
      return;
    }
    if ((m = /^\/api\/approvals\/([^/]+)\/decision$/.exec(path)) !== null && method === 'POST') {
      const body = parseWith(decisionBody, await readBody(req));
      const id = segment(m[1] as string);
      const r =
        body.decision === 'approve'
          ? queue.decide(id, {
              decision: 'approve',
              digest: body.digest,
              ...(body.scope === undefined ? {} : { scope: body.scope }),
              ...(body.ruleText === undefined ? {} : { ruleText: body.ruleText }),
              ...(body.ruleSha256 === undefined ? {} : { ruleSha256: body.ruleSha256 }),
              by,
              channel,
            })
          : queue.decide(id, {
              decision: 'deny',
              ...(body.digest === undefined ? {} : { digest: body.digest }),
              ...(body.reason === undefined ? {} : { reason: body.reason }),
              by,
              channel,
            });
      sendJson(res, 200, { approval: view(r) });
      return;
    }
    if (path === '/api/batches' && method === 'GET') {
      const session = url.searchParams.get('session');
      sendJson(res, 200, { batches: queue.batches(session === null ? {} : { sessionId: session }).map(batchView) });
      return;
    }
    if (path === '/api/batches/decision' && method === 'POST') {
      const body = parseWith(batchBody, await readBody(req));
      const done = queue.decideBatch(body.items, {
        decision: body.decision,
        ...(body.scope === undefined ? {} : { scope: body.scope }),
        ...(body.reason === undefined ? {} : { reason: body.reason }),
        by,
        channel,
      });
      sendJson(res, 200, { approvals: done.map(view) });
      return;
    }
    if ((m = /^\/api\/sessions\/([^/]+)\/stats$/.exec(path)) !== null && method === 'GET') {
      sendJson(res, 200, { stats: queue.stats(segment(m[1] as string)) });
      return;
    }
    if (path === '/api/stream' && method === 'GET') {
      openStream(res);
      return;
    }
    throw new HttpError(path.startsWith('/api/') ? 404 : 404, 'not_found', `${method} ${path} is not an API route`);
  }

  function openStream(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    res.write(`: airlock approvals\n\nevent: hello\ndata: ${JSON.stringify({ pending: queue.list({ status: 'pending', limit: 10_000 }).length })}\n\n`);
    streams.add(res);
    const onChange = (c: ApprovalChange): void => {
      res.write(`event: ${c.type === 'decided' ? 'decided' : 'ask'}\ndata: ${JSON.stringify({ type: c.type, approval: view(c.record) })}\n\n`);
    };
    const stop = queue.watch(onChange);
    const beat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    beat.unref();
    res.on('close', () => {
      stop();
      clearInterval(beat);
      streams.delete(res);
    });
  }

  const server = createServer((req, res) => {
    void (async () => {
      try {
        const { origin } = checkRequest(req);
        const url = new URL(req.url ?? '/', 'http://localhost');
        const method = req.method ?? 'GET';
        if (!url.pathname.startsWith('/api/')) {
          if (method !== 'GET' && method !== 'HEAD') throw new HttpError(405, 'method_not_allowed', `${method} is not allowed here`);
          if (url.pathname === '/' || url.pathname === '/index.html') send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
          else if (url.pathname === '/app.js') send(res, 200, 'text/javascript; charset=utf-8', PAGE_JS);
          else if (url.pathname === '/app.css') send(res, 200, 'text/css; charset=utf-8', PAGE_CSS);
          else throw new HttpError(404, 'not_found', `${url.pathname} is not here`);
          return;
        }
        const who = tokenName(req);
        if (who === null) {
          throw new HttpError(401, 'unauthorized', 'a valid bearer token is required', 'Send "Authorization: Bearer TOKEN" with a token from approvals/tokens.json.');
        }
        // The page is the only browser client that passes the Origin check; everything else is an API client.
        const channel = origin !== null ? 'web' : 'http';
        await api(req, res, url, who, channel);
      } catch (err) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (err instanceof HttpError) {
          const extra: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer' } : err.status === 413 ? { connection: 'close' } : {};
          sendJson(res, err.status, { error: { code: err.code, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) } }, extra);
        } else if (isAirlockError(err)) {
          sendJson(res, statusOf(err.code), { error: err.toJSON() });
        } else {
          sendJson(res, 500, { error: { code: 'E_INTERNAL', message: err instanceof Error ? err.message : String(err) } });
        }
      }
    })();
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(new AirlockError('E_SERVER_LISTEN', `approvals server: cannot listen on ${host}:${port}: ${err.message}`, { hint: 'Choose another port, or 0 for any free one.', cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const actualPort = (server.address() as AddressInfo).port;
  const hostPart = host === '::1' ? '[::1]' : host;
  allowedHosts = new Set([`${hostPart}:${actualPort}`, `localhost:${actualPort}`]);
  allowedOrigins = new Set([`http://${hostPart}:${actualPort}`, `http://localhost:${actualPort}`]);
  const url = `http://${hostPart}:${actualPort}`;
  const unregisterWeb = queue.registerChannel('web');
  const unregisterHttp = queue.registerChannel('http');
  const infoFile = join(options.stateDir, 'approvals', 'server.json');
  const writeInfo = options.writeInfo ?? true;
  if (writeInfo) mkdirSync(join(options.stateDir, 'approvals'), { recursive: true, mode: 0o700 });
  if (writeInfo) writeFileSync(infoFile, `${JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() })}\n`, { mode: 0o600 });

  let closing: Promise<void> | null = null;
  return {
    url,
    port: actualPort,
    pageUrl: `${url}/#token=${localToken}`,
    token: localToken,
    close() {
      closing ??= new Promise<void>((resolve) => {
        unregisterWeb();
        unregisterHttp();
        for (const s of streams) s.end();
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
        if (writeInfo) rmSync(infoFile, { force: true });
      });
      return closing;
    },
  };
}
