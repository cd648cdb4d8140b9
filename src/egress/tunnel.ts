/**
 * What a client sends first in a CONNECT tunnel, and what that makes the tunnel.
 *
 * Clients use CONNECT for TLS, but some (undici's ProxyAgent by default) also use it for
 * plain HTTP. The proxy reads the first bytes: a TLS ClientHello (whose SNI is checked, or
 * which is terminated when the host needs interception), an HTTP/1.x request (parsed and
 * judged request by request, which costs nothing since it is cleartext), or anything else
 * (refused unless tunnels may carry arbitrary bytes).
 */
import { Duplex } from 'node:stream';

import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.js';

/** What the first bytes of a tunnel are. */
export type TunnelStart =
  | { readonly kind: 'tls'; readonly data: Buffer; readonly sni: string | null }
  | { readonly kind: 'http'; readonly data: Buffer }
  | { readonly kind: 'other'; readonly data: Buffer; readonly reason: string }
  | { readonly kind: 'closed' };

const REQUEST_LINE = /^[A-Z]{3,12} \S+ HTTP\/1\.[01]\r?\n/;
const MAX_REQUEST_LINE = 8 * 1024;

/** Classifies the bytes seen so far, or returns null when more are needed. */
export function classifyTunnelStart(data: Buffer): TunnelStart | null {
  if (data.length === 0) return null;
  if (data[0] === 0x16) {
    const hello = parseClientHello(data);
    switch (hello.status) {
      case 'need-more':
        return data.length > MAX_CLIENT_HELLO_BYTES + 64
          ? { kind: 'other', data, reason: 'the ClientHello is too large' }
          : null;
      case 'ok':
        return { kind: 'tls', data, sni: hello.sni };
      case 'not-tls':
        return { kind: 'other', data, reason: 'the tunnel did not start with TLS' };
      case 'invalid':
        return { kind: 'other', data, reason: hello.reason };
    }
  }
  const text = data.subarray(0, MAX_REQUEST_LINE).toString('latin1');
  if (REQUEST_LINE.test(text)) return { kind: 'http', data };
  const nl = text.indexOf('\n');
  if (
    nl < 0 &&
    data.length < MAX_REQUEST_LINE &&
    /^[A-Z]{0,12}( [\x21-\x7e]*( [\x21-\x7e\r]*)?)?$/.test(text)
  )
    return null;
  return { kind: 'other', data, reason: 'the tunnel started with neither TLS nor an HTTP/1.x request' };
}

/**
 * Reads from `socket` until its first bytes can be classified (or it closes, or time runs
 * out). The socket is left paused with no data listener; the bytes read are in the result.
 */
export function peekTunnel(socket: Duplex, head: Buffer, timeoutMs: number): Promise<TunnelStart> {
  return new Promise((resolve) => {
    let data = head;
    let settled = false;
    const finish = (result: TunnelStart): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.pause();
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('end', onClose);
      resolve(result);
    };
    const check = (): void => {
      const start = classifyTunnelStart(data);
      if (start !== null) finish(start);
    };
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      check();
    };
    const onClose = (): void => {
      finish({ kind: 'closed' });
    };
    const timer = setTimeout(() => {
      finish({ kind: 'other', data, reason: 'nothing recognizable arrived in time' });
    }, timeoutMs);
    socket.on('data', onData);
    // A client that half-closes before sending anything will not send anything.
    socket.once('close', onClose);
    socket.once('end', onClose);
    check();
    // The caller may have paused the socket (a 'data' listener alone does not undo pause()).
    if (!settled) socket.resume();
  });
}

/**
 * A duplex that yields `prefix` and then whatever `socket` yields, and writes to `socket`.
 * Used to hand a tunnel whose first bytes were already read to the HTTP parser: a JS
 * stream, unlike a raw socket, is parsed from its buffered data first.
 */
export class PrefixedStream extends Duplex {
  readonly #socket: Duplex & { setTimeout?: (ms: number) => unknown };

  constructor(socket: Duplex, prefix: Buffer) {
    super();
    this.#socket = socket;
    if (prefix.length > 0) this.push(prefix);
    socket.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.once('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
    // The HTTP server arms idle and keep-alive timeouts through setTimeout/'timeout'.
    socket.on('timeout', () => this.emit('timeout'));
    socket.resume();
  }

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#socket.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#socket.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#socket.destroy();
    callback(err);
  }

  /** Forwards to the socket, so the HTTP server's idle timeouts apply to the tunnel. */
  setTimeout(ms: number, callback?: () => void): this {
    this.#socket.setTimeout?.(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }
}
