/**
 * Routing of the four request shapes: absolute URI, request inside a tunnel, base-URL
 * front, and anything else.
 */
import { describe, expect, it } from 'vitest';

import { parseHost, type ParsedHost } from '../../../src/egress/host.js';
import { routeRequest, type Front, type TunnelContext } from '../../../src/egress/route.js';

function h(text: string): ParsedHost {
  const r = parseHost(text);
  if (!r.ok) throw new Error(r.reason);
  return r.value;
}

const front: Front = {
  sandboxPort: 3128,
  baseUrls: [{ name: 'openai', host: h('api.openai.com'), port: 443, basePath: '/v1', env: [], api: 'openai' }],
};
const tunnel = (scheme: 'http' | 'https'): TunnelContext => ({
  host: h('api.example.com'),
  port: scheme === 'https' ? 443 : 8080,
  scheme,
  addresses: ['93.184.216.34'],
  requests: 0,
});

describe('routeRequest', () => {
  it('routes an absolute URI to its own authority, ignoring the Host header', () => {
    const r = routeRequest('http://Example.com:8080/a/../b?q=1', 'evil.example', undefined, front);
    expect(r).toMatchObject({
      ok: true,
      value: { mode: 'http', scheme: 'http', port: 8080, path: '/b', query: '?q=1', addresses: null },
    });
    expect(r.ok && r.value.host.host).toBe('example.com');
  });

  it('[egress.inner-host] pins requests in a tunnel to the tunnel’s host and checked addresses', () => {
    const ok = routeRequest('/x', 'API.example.com', tunnel('https'), front);
    expect(ok).toMatchObject({
      ok: true,
      value: { mode: 'intercepted', scheme: 'https', port: 443, path: '/x', addresses: ['93.184.216.34'] },
    });
    expect(routeRequest('/x', 'api.example.com:443', tunnel('https'), front).ok).toBe(true);
    expect(routeRequest('/x', 'api.example.com:8080', tunnel('http'), front).ok).toBe(true);
    for (const host of ['other.example.com', 'api.example.com:8443', 'api.example.com.evil.com', undefined]) {
      expect(routeRequest('/x', host, tunnel('https'), front), String(host)).toMatchObject({
        ok: false,
        status: 403,
        ruleId: 'egress.host-mismatch',
      });
    }
    expect(
      routeRequest('https://other.example.com/x', 'api.example.com', tunnel('https'), front),
    ).toMatchObject({ ok: false, ruleId: 'egress.host-mismatch' });
    expect(routeRequest('/a b', 'api.example.com', tunnel('https'), front)).toMatchObject({
      ok: false,
      status: 400,
    });
  });

  it('routes the base-URL front to its upstream, joined to the base path', () => {
    const r = routeRequest('/_airlock/base/openai/chat/completions?x=1', '127.0.0.1:3128', undefined, front);
    expect(r).toMatchObject({
      ok: true,
      value: { mode: 'base-url', scheme: 'https', port: 443, path: '/v1/chat/completions', query: '?x=1' },
    });
    // Dot segments are resolved, and the policy judges the result, not the base path.
    const up = routeRequest('/_airlock/base/openai/../admin', '127.0.0.1:3128', undefined, front);
    expect(up.ok && up.value.path).toBe('/admin');
    // A client that ignores NO_PROXY sends the same request as an absolute URI.
    const abs = routeRequest(
      'http://127.0.0.1:3128/_airlock/base/openai/models',
      '127.0.0.1:3128',
      undefined,
      front,
    );
    expect(abs.ok && abs.value.path).toBe('/v1/models');
    expect(routeRequest('/_airlock/base/nope/x', undefined, undefined, front)).toMatchObject({
      ok: false,
      status: 400,
      reason: expect.stringContaining('configured: openai') as string,
    });
  });

  it('refuses what is not a proxy request', () => {
    expect(routeRequest('/index.html', 'x', undefined, front)).toMatchObject({
      ok: false,
      status: 400,
      reason: expect.stringContaining("this is the sandbox's egress proxy") as string,
    });
    expect(routeRequest('https://example.com/', 'x', undefined, front)).toMatchObject({
      ok: false,
      status: 400,
      reason: expect.stringContaining('CONNECT') as string,
    });
    expect(routeRequest('http://a@b.com/', 'x', undefined, front)).toMatchObject({ ok: false, status: 400 });
  });
});
