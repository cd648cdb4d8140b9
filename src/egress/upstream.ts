/**
 * Connections to upstream servers. Every connection goes to an address the SSRF guard
 * checked, given as an IP: nothing here resolves a name, so nothing here can be rebound.
 */
import { Agent, type ClientRequestArgs } from 'node:http';
import { connect as netConnect, type LookupFunction, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, rootCertificates } from 'node:tls';

/** Where and how to connect, carried through `http.request` options to the agent. */
export interface UpstreamTarget {
  /** Checked addresses, tried in order. */
  readonly addresses: readonly string[];
  readonly port: number;
  /** TLS with this server name (a DNS name), or with the address itself when null. */
  readonly tls: boolean;
  readonly servername: string | null;
}

/** Options shared by all upstream connections of one proxy. */
export interface UpstreamOptions {
  readonly connectTimeoutMs: number;
  /** Extra roots (tests); null means the system roots. */
  readonly extraCa: readonly string[] | null;
}

const TARGET = Symbol('airlock.upstreamTarget');

/** `http.request` options that carry an {@link UpstreamTarget} to the {@link PinnedAgent}. */
export type PinnedRequestOptions = ClientRequestArgs & { [TARGET]: UpstreamTarget };

/** Attaches a target to request options. */
export function withTarget(options: ClientRequestArgs, target: UpstreamTarget): PinnedRequestOptions {
  return { ...options, [TARGET]: target };
}

/**
 * Node skips the lookup for an IP host; should a name ever get here, fail instead of
 * resolving it, since a second lookup is exactly what DNS rebinding needs.
 */
const refuseLookup: LookupFunction = (hostname, _options, callback) => {
  callback(
    Object.assign(new Error(`internal: refusing to resolve ${hostname} after the SSRF check`), {
      code: 'EAI_FAIL',
    }),
    '',
    4,
  );
};

/**
 * Opens a TCP connection to the first address that answers. Addresses come from one
 * lookup and were all checked, so falling through to the next one is safe.
 */
export function dialAddresses(
  addresses: readonly string[],
  port: number,
  timeoutMs: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    let i = 0;
    let lastError: Error = new Error('no address to dial');
    const attempt = (): void => {
      const address = addresses[i++];
      if (address === undefined) {
        reject(lastError);
        return;
      }
      const socket = netConnect({ host: address, port, noDelay: true, lookup: refuseLookup });
      const timer = setTimeout(() => {
        socket.destroy(
          Object.assign(new Error(`connect to ${address}:${port} timed out`), { code: 'ETIMEDOUT' }),
        );
      }, timeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        lastError = err;
        attempt();
      };
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeListener('error', onError);
        resolve(socket);
      });
      socket.once('error', onError);
    };
    attempt();
  });
}

/** Wraps a connected socket in verified TLS (the server name or the IP must match the certificate). */
export function startTls(socket: Socket, target: UpstreamTarget, options: UpstreamOptions): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket,
      // Node checks the certificate against `servername`, or against `host` when no name is set.
      ...(target.servername !== null
        ? { servername: target.servername }
        : { host: target.addresses[0] ?? '' }),
      rejectUnauthorized: true,
      ALPNProtocols: ['http/1.1'],
      minVersion: 'TLSv1.2',
      ...(options.extraCa !== null ? { ca: [...rootCertificates, ...options.extraCa] } : {}),
    });
    const timer = setTimeout(() => {
      tls.destroy(
        Object.assign(new Error('TLS handshake with the upstream timed out'), { code: 'ETIMEDOUT' }),
      );
    }, options.connectTimeoutMs);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.removeListener('error', onError);
      resolve(tls);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      tls.destroy();
      reject(err);
    };
    tls.once('error', onError);
  });
}

/**
 * A keep-alive agent whose pool key is the checked address set, port and TLS name, and
 * which dials those addresses itself. A pooled connection is therefore only ever reused
 * for the same checked destination.
 */
export class PinnedAgent extends Agent {
  readonly #upstream: UpstreamOptions;

  constructor(upstream: UpstreamOptions) {
    super({
      keepAlive: true,
      keepAliveMsecs: 15_000,
      maxFreeSockets: 32,
      timeout: 60_000,
      scheduling: 'lifo',
    });
    this.#upstream = upstream;
  }

  override getName(options?: ClientRequestArgs): string {
    const target = options === undefined ? undefined : (options as Partial<PinnedRequestOptions>)[TARGET];
    if (target === undefined) return 'unpinned';
    return `${target.tls ? 'tls' : 'tcp'}|${target.addresses.join(',')}|${target.port}|${target.servername ?? ''}`;
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const target = (options as Partial<PinnedRequestOptions>)[TARGET];
    const done = callback ?? (() => undefined);
    if (target === undefined) {
      // Fail closed: an upstream request without a checked target must not fall back to a lookup.
      process.nextTick(() => {
        done(
          new Error('internal: upstream request without a checked target'),
          undefined as unknown as Duplex,
        );
      });
      return undefined;
    }
    dialAddresses(target.addresses, target.port, this.#upstream.connectTimeoutMs)
      .then((socket) => (target.tls ? startTls(socket, target, this.#upstream) : socket))
      .then(
        (stream) => {
          done(null, stream);
        },
        (err: unknown) => {
          done(err instanceof Error ? err : new Error(String(err)), undefined as unknown as Duplex);
        },
      );
    return undefined;
  }
}
