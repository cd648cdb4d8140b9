/**
 * Hands an opaque, already judged CONNECT tunnel to `airlock-tunnel` (native/tunnel.c), which
 * copies its bytes with splice(2) instead of through Node streams.
 *
 * The handoff must not lose or reorder a byte. Node may hold bytes it already read from either
 * socket (the ClientHello the proxy peeked at, and whatever arrived since) and bytes it has
 * not yet written. So: write every byte Node holds to the other side, wait until both sockets
 * have nothing queued in Node, and then — in one synchronous stretch, with no event-loop turn
 * in which Node could read again — spawn the helper with both sockets as its fds 3 and 4 and
 * close Node's copies. A tunnel that ends or fails while this runs is left to the Node path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';

/** Where `npm run build` puts the helper. */
export function defaultTunnelHelperPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'native', 'build', 'airlock-tunnel');
}

/** The built helper, or null when it is not there. */
export function findTunnelHelper(): string | null {
  const path = defaultTunnelHelperPath();
  return existsSync(path) ? path : null;
}

/** How a natively carried tunnel ended. */
export interface NativeTunnelResult {
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** CPU time the helper used (user + system), in milliseconds. */
  readonly cpuMs: number;
  /** Null when it ended normally. */
  readonly error: string | null;
}

/** A tunnel now carried by the helper. */
export interface NativeTunnel {
  readonly child: ChildProcess;
  /** What Node moved before the handoff (the peeked ClientHello, and what came meanwhile). */
  readonly movedByNode: { readonly up: number; readonly down: number };
  readonly done: Promise<NativeTunnelResult>;
}

function usable(s: Duplex): boolean {
  return !s.destroyed && !s.readableEnded && !s.writableEnded && !s.writableFinished;
}

/** Everything Node has buffered on the readable side of `s`. */
function takeBuffered(s: Duplex): Buffer[] {
  const out: Buffer[] = [];
  for (;;) {
    const chunk: unknown = s.read();
    if (chunk === null) return out;
    if (Buffer.isBuffer(chunk)) out.push(chunk);
  }
}

function flushed(s: Duplex): Promise<void> {
  if (s.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      s.removeListener('drain', done);
      s.removeListener('close', done);
      resolve();
    };
    s.once('drain', done);
    s.once('close', done);
  });
}

/**
 * Moves the tunnel to the helper. `first` are bytes already read from the client, to go
 * upstream first. Returns null when the tunnel changed state meanwhile (ended, failed) or
 * the helper could not start: the caller then carries it in Node as before, with `first`
 * already written. Neither socket may have a 'data' listener or be piped.
 */
export async function handOffTunnel(
  helper: string,
  client: Duplex,
  upstream: Socket,
  first: Buffer,
  lingerMs: number,
): Promise<NativeTunnel | null> {
  client.pause();
  upstream.pause();
  if (first.length > 0) upstream.write(first);
  // Bytes keep arriving while writes drain; loop until a pass finds nothing to move.
  for (let pass = 0; pass < 64; pass++) {
    await Promise.all([flushed(upstream), flushed(client)]);
    if (!usable(client) || !usable(upstream)) return null;
    const up = takeBuffered(client);
    const down = takeBuffered(upstream);
    if (up.length === 0 && down.length === 0 && upstream.writableLength === 0 && client.writableLength === 0)
      return spawnHelper(helper, client, upstream, lingerMs);
    for (const c of up) upstream.write(c);
    for (const c of down) client.write(c);
  }
  return null; // a chatty tunnel that never settles stays in Node
}

// Synchronous from the last check to the close of Node's copies: no event-loop turn, so Node
// cannot read a byte that the helper would then miss.
function spawnHelper(
  helper: string,
  client: Duplex,
  upstream: Socket,
  lingerMs: number,
): NativeTunnel | null {
  let child: ChildProcess;
  try {
    child = spawn(helper, [String(lingerMs)], {
      stdio: ['ignore', 'pipe', 'pipe', client, upstream],
      // It needs nothing from the host's environment, which may hold secrets.
      env: {},
    });
  } catch {
    return null;
  }
  if (child.pid === undefined) {
    // The exec failed ('error' follows): the sockets are still ours.
    child.on('error', () => undefined);
    return null;
  }
  const movedByNode = { up: upstream.bytesWritten, down: upstream.bytesRead };
  // The helper holds its own descriptors now; closing ours sends nothing on the wire.
  client.destroy();
  upstream.destroy();
  const done = new Promise<NativeTunnelResult>((resolve) => {
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      if (out.length < 256) out += d;
    });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (err.length < 1024) err += d;
    });
    child.on('error', () => undefined);
    child.on('close', (code, signal) => {
      const m = /^(\d+) (\d+) (\d+)\n$/.exec(out);
      const bytesUp = m ? Number(m[1]) : 0;
      const bytesDown = m ? Number(m[2]) : 0;
      const cpuMs = m ? Number(m[3]) / 1000 : 0;
      let error: string | null = null;
      if (signal !== null) error = `the tunnel helper was stopped (${signal})`;
      else if (m === null)
        error = `the tunnel helper ended without a report (exit ${String(code)}) ${err.trim()}`.trim();
      else if (code !== 0) error = 'the connection failed while a side was still writing';
      resolve({ bytesUp, bytesDown, cpuMs, error });
    });
  });
  return { child, done, movedByNode };
}
