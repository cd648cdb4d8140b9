/**
 * Header plumbing for forwarding: raw header pairs (order and case kept, as received) and
 * the removal of hop-by-hop headers, which describe one connection and must not be
 * passed on by a proxy.
 */
import type { HeaderPairs } from './credentials.js';

/** Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus the proxy's own. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/** Turns `rawHeaders` ([name, value, name, value, …]) into pairs. */
export function pairs(raw: readonly string[]): HeaderPairs {
  const out: HeaderPairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] ?? '', raw[i + 1] ?? '']);
  return out;
}

/** Drops hop-by-hop headers, including those the Connection header names. */
export function endToEnd(headers: HeaderPairs): HeaderPairs {
  const named = new Set<string>();
  for (const [k, v] of headers) {
    if (k.toLowerCase() === 'connection') for (const t of v.split(',')) named.add(t.trim().toLowerCase());
  }
  return headers.filter(([k]) => {
    const lower = k.toLowerCase();
    return !HOP_BY_HOP.has(lower) && !named.has(lower);
  });
}
