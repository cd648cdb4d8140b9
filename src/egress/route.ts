/**
 * Where an HTTP request goes. A request reaches the proxy in one of four shapes, and each
 * names its destination differently: an absolute URI (plain proxying), an origin-form
 * request inside a CONNECT tunnel (the tunnel names the host; Host must agree), an
 * origin-form request under the base-URL prefix (the route names the upstream), or
 * anything else (not a proxy request at all).
 */
import {
  formatAuthority,
  parseAbsoluteTarget,
  parseAuthority,
  parseRequestPath,
  printable,
  type ParsedHost,
} from './host.js';
import type { NormalizedBaseUrl } from './options.js';
import type { EgressMode } from './types.js';
import type { LlmApi } from './usage.js';

/** The path prefix of base-URL fronts. */
export const BASE_URL_PREFIX = '/_airlock/base/';

/** The state of a CONNECT tunnel whose requests the proxy parses. */
export interface TunnelContext {
  readonly host: ParsedHost;
  readonly port: number;
  /** `https` for a terminated TLS tunnel, `http` for cleartext HTTP sent through CONNECT. */
  readonly scheme: 'http' | 'https';
  /** Addresses checked when the tunnel opened; every request in it goes there. */
  readonly addresses: readonly string[];
  /** Requests seen so far (a tunnel that fails before its first one gets an event of its own). */
  requests: number;
}

/** Where an HTTP request goes, once its target is parsed. */
export interface HttpRoute {
  readonly mode: EgressMode;
  readonly scheme: 'http' | 'https';
  readonly host: ParsedHost;
  readonly port: number;
  /** Normalized path without the query. */
  readonly path: string;
  /** The raw query with its "?", or "". */
  readonly query: string;
  /** Addresses checked when the tunnel opened (requests in a tunnel), or null to check now. */
  readonly addresses: readonly string[] | null;
  /** The API a base URL declares its upstream speaks (for reading usage), or null. */
  readonly llmApi: LlmApi | null;
}

/** A request that cannot be routed, with what to tell the client. */
export interface RouteRefusal {
  readonly ok: false;
  readonly status: 400 | 403;
  readonly ruleId: string;
  readonly reason: string;
  readonly mode: EgressMode;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
}

/** A route or a refusal. */
export type RouteResult = { readonly ok: true; readonly value: HttpRoute } | RouteRefusal;

/** What the proxy knows about its own front: the bridge port inside and the base URLs. */
export interface Front {
  readonly sandboxPort: number;
  readonly baseUrls: readonly NormalizedBaseUrl[];
}

/** Routes a request by its target, its Host header, and the tunnel it arrived in (if any). */
export function routeRequest(
  url: string,
  hostHeader: string | undefined,
  tunnel: TunnelContext | undefined,
  front: Front,
): RouteResult {
  if (tunnel !== undefined) {
    const scheme = tunnel.scheme;
    const refuse = (ruleId: string, reason: string, status: 400 | 403 = 403) =>
      ({
        ok: false,
        status,
        ruleId,
        reason,
        mode: 'intercepted',
        scheme,
        host: tunnel.host.host,
        port: tunnel.port,
      }) as const;
    // The inner request must name the host the tunnel was judged and opened for.
    const authority =
      hostHeader === undefined ? null : parseAuthority(hostHeader, scheme === 'https' ? 443 : 80);
    if (
      authority === null ||
      !authority.ok ||
      authority.value.host.host !== tunnel.host.host ||
      authority.value.port !== tunnel.port
    ) {
      return refuse(
        'egress.host-mismatch',
        `the Host header "${printable(hostHeader ?? '')}" differs from the tunnel target ${formatAuthority(tunnel.host, tunnel.port, scheme)}`,
      );
    }
    let target = url;
    if (!url.startsWith('/')) {
      const abs = parseAbsoluteTarget(url);
      if (
        !abs.ok ||
        abs.value.authority.host.host !== tunnel.host.host ||
        abs.value.authority.port !== tunnel.port
      ) {
        return refuse('egress.host-mismatch', 'the request target names another host than the tunnel');
      }
      target = `${abs.value.path.path}${abs.value.path.query}`;
    }
    const path = parseRequestPath(target);
    if (!path.ok) return refuse('egress.bad-target', path.reason, 400);
    return {
      ok: true,
      value: {
        mode: 'intercepted',
        scheme,
        host: tunnel.host,
        port: tunnel.port,
        ...path.value,
        addresses: tunnel.addresses,
        llmApi: null,
      },
    };
  }
  if (url.startsWith('/')) {
    return baseUrlRoute(url, front);
  }
  const abs = parseAbsoluteTarget(url);
  if (!abs.ok) {
    return {
      ok: false,
      status: 400,
      ruleId: 'egress.bad-target',
      reason: abs.reason,
      mode: 'http',
      scheme: 'http',
      host: '',
      port: 0,
    };
  }
  const { scheme, authority, path } = abs.value;
  if (scheme === 'https') {
    return {
      ok: false,
      status: 400,
      ruleId: 'egress.bad-target',
      reason: 'an https:// URL was sent as a plain proxy request; clients must use CONNECT for https',
      mode: 'http',
      scheme: 'https',
      host: authority.host.host,
      port: authority.port,
    };
  }
  // A client that ignores NO_PROXY sends base-URL requests as absolute URIs to itself.
  const h = authority.host.host;
  if (
    (h === '127.0.0.1' || h === 'localhost' || h === '::1') &&
    authority.port === front.sandboxPort &&
    path.path.startsWith(BASE_URL_PREFIX)
  ) {
    return baseUrlRoute(`${path.path}${path.query}`, front);
  }
  return {
    ok: true,
    value: {
      mode: 'http',
      scheme: 'http',
      host: authority.host,
      port: authority.port,
      ...path,
      addresses: null,
      llmApi: null,
    },
  };
}

/** Routes an origin-form request under the base-URL prefix to its upstream. */
export function baseUrlRoute(url: string, front: Front): RouteResult {
  const fail = (reason: string) =>
    ({
      ok: false,
      status: 400,
      ruleId: 'egress.bad-target',
      reason,
      mode: 'base-url',
      scheme: 'http',
      host: '127.0.0.1',
      port: front.sandboxPort,
    }) as const;
  if (!url.startsWith(BASE_URL_PREFIX)) {
    return fail(
      `this is the sandbox's egress proxy; "${printable(url.slice(0, 100))}" is not a proxy request. Use it through HTTP_PROXY/HTTPS_PROXY, or through a base URL under ${BASE_URL_PREFIX}`,
    );
  }
  const rest = url.slice(BASE_URL_PREFIX.length);
  const slash = rest.search(/[/?]/);
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const route: NormalizedBaseUrl | undefined = front.baseUrls.find((r) => r.name === name);
  if (route === undefined) {
    const known = front.baseUrls.map((r) => r.name).join(', ');
    return fail(`no base URL named "${printable(name)}" (configured: ${known === '' ? 'none' : known})`);
  }
  const tail = slash < 0 ? '' : rest.slice(slash);
  const path = parseRequestPath(
    `${route.basePath}${tail.startsWith('?') ? `/${tail}` : tail === '' ? '/' : tail}`,
  );
  if (!path.ok) return fail(path.reason);
  return {
    ok: true,
    value: {
      mode: 'base-url',
      scheme: 'https',
      host: route.host,
      port: route.port,
      ...path.value,
      addresses: null,
      llmApi: route.api,
    },
  };
}
