/**
 * An HTTP request sent for the agent through the session's own egress proxy (the MCP
 * `http_request` tool, `Session.httpRequest`). The host side speaks to the proxy's unix
 * socket exactly as the sandbox's bridge does, so the request meets the same checkpoints
 * as one made by a process inside: the policy's network rules (and an ask to a person), the
 * SSRF guard, credential injection, budgets, and a `network.request` audit event. The host
 * never resolves or dials the target itself; only the proxy does.
 *
 * `http://` URLs go to the proxy as absolute-form requests; `https://` URLs open a CONNECT
 * tunnel and TLS inside it, trusting the system roots plus the session CA (which signs the
 * proxy's certificates for hosts it intercepts). A refusal by the proxy (a response carrying
 * `X-Airlock-Denied`) becomes a {@link PolicyDeniedError}, the same denial every face shows.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import type { Duplex } from 'node:stream';
import { AirlockError } from '../errors/index.js';
import type { Decision, Level } from '../policy/index.js';

/** What {@link proxiedRequest} needs of the session's egress. */
export interface EgressEndpoint {
  /** The proxy's unix socket on the host. */
  readonly socketPath: string;
  /** System roots plus the session CA, when the proxy intercepts TLS. */
  readonly caBundlePem: string | undefined;
}

/** An HTTP request for {@link proxiedRequest} (`Session.httpRequest`). */
export interface HttpRequestOptions {
  /** `http://` or `https://` URL. */
  url: string;
  /** Method, upper case (default GET). */
  method?: string;
  /** Request headers (one line each). */
  headers?: Readonly<Record<string, string>>;
  /** Request body. */
  body?: string | Buffer;
  /** Give up after this many ms (default 60 000). */
  timeoutMs?: number;
  /** Body bytes kept; the rest is dropped and `truncated` set (default 1 MiB). */
  maxBodyBytes?: number;
  /** Aborts the request. */
  signal?: AbortSignal;
}

/** The response to an {@link HttpRequestOptions}. */
export interface HttpResponse {
  status: number;
  statusText: string;
  /** Header lines as received (name, value). */
  headers: [string, string][];
  body: Buffer;
  /** True when the body was longer than `maxBodyBytes`. */
  truncated: boolean;
}

/** The proxy's refusal header (kept in step with src/egress/deny.ts, `DENIED_HEADER`). */
const DENIED = 'x-airlock-denied';

/** What a refused request was, for the denial: `GET https://host/path`. */
export function requestSubject(method: string, url: URL): string {
  return `${method} ${url.origin}${url.pathname}`;
}

function checkRequest(o: HttpRequestOptions): { url: URL; method: string } {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch (err) {
    throw new AirlockError('E_USAGE', `${JSON.stringify(o.url)} is not a URL`, { hint: 'Pass an absolute http:// or https:// URL.', cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new AirlockError('E_USAGE', `${url.protocol} URLs cannot be requested; only http: and https:`, { hint: 'Pass an http:// or https:// URL.' });
  }
  if (url.username !== '' || url.password !== '') {
    throw new AirlockError('E_USAGE', 'a URL with user:password@ is refused', {
      hint: 'Credentials are injected by the egress proxy for hosts that have them; do not put them in the URL.',
    });
  }
  const method = (o.method ?? 'GET').toUpperCase();
  if (!/^[A-Z]{1,16}$/.test(method) || method === 'CONNECT') {
    throw new AirlockError('E_USAGE', `method ${JSON.stringify(o.method)} is not allowed`, { hint: 'Use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.' });
  }
  for (const [k, v] of Object.entries(o.headers ?? {})) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n\0]/.test(v)) {
      throw new AirlockError('E_USAGE', `header ${JSON.stringify(k)} is not a valid header line`, { hint: 'Pass each header as a token name and a one-line value.' });
    }
    if (k.toLowerCase() === 'host' || k.toLowerCase() === 'proxy-authorization') {
      throw new AirlockError('E_USAGE', `header ${k} cannot be set`, { hint: 'The Host header comes from the URL.' });
    }
  }
  return { url, method };
}

/** Reads a response body up to `max` bytes. */
function readBody(res: IncomingMessage, max: number): Promise<{ body: Buffer; truncated: boolean }> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let kept = 0;
    let truncated = false;
    res.on('data', (c: Buffer) => {
      const room = max - kept;
      if (room <= 0) {
        truncated = true;
        res.destroy();
        resolve({ body: Buffer.concat(parts), truncated });
        return;
      }
      const part = c.length > room ? c.subarray(0, room) : c;
      if (part.length < c.length) truncated = true;
      parts.push(Buffer.from(part));
      kept += part.length;
    });
    res.on('end', () => { resolve({ body: Buffer.concat(parts), truncated }); });
    res.on('error', reject);
    res.on('close', () => { resolve({ body: Buffer.concat(parts), truncated }); });
  });
}

function headerPairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] ?? '', raw[i + 1] ?? '']);
  return out;
}

/** The proxy's refusal as a decision (rule from the header, reason from its body), or null. */
export function refusalOf(headers: IncomingHttpHeaders, body: Buffer): Decision | null {
  const rule = headers[DENIED];
  if (typeof rule !== 'string' || rule === '') return null;
  const text = body.toString('utf8');
  const reasonLine = /^Reason: (.*)$/m.exec(text)?.[1];
  // A budget refusal (429) has no Reason line; its third line says which budget is spent.
  const reason = reasonLine ?? text.split('\n').find((l, i) => i > 0 && l.trim() !== '')?.trim() ?? 'refused by the egress proxy';
  const verdict: Level = 'deny';
  return { verdict, ruleId: rule, reason, parts: [{ kind: 'network', verdict, ruleId: rule, reason, subject: rule }] };
}

/** Opens a CONNECT tunnel through the proxy; a refusal resolves with its response instead. */
function openTunnel(
  ep: EgressEndpoint,
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<{ socket: Duplex } | { refused: IncomingMessage; head: Buffer; socket: Duplex }> {
  return new Promise((resolve, reject) => {
    const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    // agent: false: a connection of its own, never pooled in Node's global agent past the session.
    const req = httpRequest({ socketPath: ep.socketPath, agent: false, method: 'CONNECT', path: authority, headers: { host: authority }, signal });
    req.once('connect', (res: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (res.statusCode === 200) {
        if (head.length > 0) socket.unshift(head);
        resolve({ socket });
      } else resolve({ refused: res, head, socket });
    });
    // Node answers a CONNECT that the proxy refused without upgrading as an ordinary response.
    req.once('response', (res: IncomingMessage) => { resolve({ refused: res, head: Buffer.alloc(0), socket: res.socket }); });
    req.once('error', reject);
    req.end();
  });
}

/** Reads what is left of a refused CONNECT's body from the raw socket. */
function drainRefusal(head: Buffer, socket: Duplex, res: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [head];
    let n = head.length;
    const length = Number(res.headers['content-length'] ?? NaN);
    const done = (): void => {
      socket.destroy();
      resolve(Buffer.concat(parts).subarray(0, Number.isFinite(length) ? length : max));
    };
    if (Number.isFinite(length) && n >= length) {
      done();
      return;
    }
    socket.on('data', (c: Buffer) => {
      parts.push(c);
      n += c.length;
      if (n >= max || (Number.isFinite(length) && n >= length)) done();
    });
    socket.on('end', done);
    socket.on('close', done);
    socket.on('error', done);
  });
}

/**
 * Sends one request through the session's egress proxy. Throws `E_POLICY_DENIED` (a
 * {@link PolicyDeniedError} built by `deny`) when the proxy refuses it, and `E_HTTP_FAILED`
 * when it cannot be completed (connection, TLS, timeout).
 */
export async function proxiedRequest(
  ep: EgressEndpoint,
  o: HttpRequestOptions,
  deny: (subject: string, decision: Decision) => AirlockError,
): Promise<HttpResponse> {
  const { url, method } = checkRequest(o);
  const max = o.maxBodyBytes ?? 1024 * 1024;
  const timeout = AbortSignal.timeout(o.timeoutMs ?? 60_000);
  const signal = o.signal === undefined ? timeout : AbortSignal.any([o.signal, timeout]);
  const subject = requestSubject(method, url);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : url.port);
  const body = o.body === undefined ? undefined : Buffer.from(o.body);
  const headers: Record<string, string> = { host: url.host, ...o.headers };
  if (body !== undefined) headers['content-length'] = String(body.length);
  const fail = (err: unknown): AirlockError =>
    err instanceof AirlockError
      ? err
      : new AirlockError(
          'E_HTTP_FAILED',
          `${subject} failed: ${timeout.aborted ? `no answer within ${o.timeoutMs ?? 60_000} ms` : err instanceof Error ? err.message : String(err)}`,
          { hint: 'The egress proxy let the request through (or never answered); the remote side or the connection failed. The audit log has the proxy\'s record of it.', cause: err },
        );
  try {
    let createConnection: (() => Duplex) | undefined;
    if (url.protocol === 'https:') {
      const tunnel = await openTunnel(ep, host, port, signal);
      if ('refused' in tunnel) {
        const text = await drainRefusal(tunnel.head, tunnel.socket, tunnel.refused, 64 * 1024);
        const refusal = refusalOf(tunnel.refused.headers, text);
        if (refusal !== null) throw deny(subject, refusal);
        throw new AirlockError('E_HTTP_FAILED', `${subject}: the egress proxy answered the tunnel with ${tunnel.refused.statusCode ?? 0}: ${text.toString('utf8').slice(0, 500)}`, {
          hint: 'The proxy could not reach the host (name not found, connection refused).',
        });
      }
      const tls = tlsConnect({
        socket: tunnel.socket,
        ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
        ...(ep.caBundlePem === undefined ? {} : { ca: ep.caBundlePem }),
        ALPNProtocols: ['http/1.1'],
      });
      createConnection = () => tls;
    }
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest({
        ...(createConnection === undefined
          ? { socketPath: ep.socketPath, agent: false, path: url.href }
          : { createConnection, path: `${url.pathname}${url.search}` }),
        method,
        headers,
        signal,
      });
      req.once('response', resolve);
      req.once('error', reject);
      req.end(body);
    });
    const read = await readBody(res, method === 'HEAD' ? 0 : max);
    const refusal = refusalOf(res.headers, read.body);
    if (refusal !== null && (res.statusCode === 403 || res.statusCode === 429)) throw deny(subject, refusal);
    return { status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', headers: headerPairs(res.rawHeaders), body: read.body, truncated: read.truncated };
  } catch (err) {
    throw fail(err);
  }
}
