/**
 * The SSRF guard: turns a judged host into the exact addresses the proxy may dial.
 *
 * The proxy resolves a name once, checks every address the resolver returned, and then
 * dials only those addresses (never the name), so a resolver that answers differently a
 * second time (DNS rebinding) has no second time to answer.
 */
import { lookup } from 'node:dns/promises';

import { checkAddress, formatIp, parseIp, type Cidr } from './address.js';
import type { ParsedHost } from './host.js';

/** One address a resolver returned. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/**
 * Resolves a host name to addresses. Injectable so that tests can simulate DNS
 * rebinding and so that a session can use a resolver other than the system's.
 */
export type EgressResolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/** The default resolver: the system resolver through `dns.lookup`, every address. */
export const systemResolver: EgressResolver = async (hostname) => {
  const results = await lookup(hostname, { all: true, verbatim: true });
  return results.map((r) => ({ address: r.address, family: r.family === 6 ? 6 : 4 }));
};

/** What the guard decided about a destination. */
export type GuardResult =
  | {
      readonly ok: true;
      /** Checked addresses in dial order (canonical text). */
      readonly addresses: readonly string[];
    }
  | {
      readonly ok: false;
      /** `egress.ssrf` (address refused), `egress.ip-spelling`, or `egress.dns` (lookup failed). */
      readonly ruleId: 'egress.ssrf' | 'egress.ip-spelling' | 'egress.dns';
      readonly reason: string;
    };

/** Options for {@link checkDestination}. */
export interface GuardOptions {
  readonly cidrAllow: readonly Cidr[];
  readonly resolver: EgressResolver;
  /** How long a lookup may take before the request fails. */
  readonly timeoutMs: number;
}

/**
 * Checks a destination and returns the addresses to dial. A name is denied when any one
 * of its addresses is refused: picking the "good" address of a mixed answer would let
 * whoever controls the zone choose when the bad one is used.
 */
export async function checkDestination(host: ParsedHost, options: GuardOptions): Promise<GuardResult> {
  if (host.kind === 'ip') {
    const verdict = checkAddress(host.address, options.cidrAllow);
    if (!host.canonical && !(verdict.allowed && verdict.via === 'cidr-allow')) {
      return {
        ok: false,
        ruleId: 'egress.ip-spelling',
        reason: `the host is an IP address written in a non-standard form (it means ${host.host}); only a CIDR rule can allow such a spelling`,
      };
    }
    if (!verdict.allowed) {
      return { ok: false, ruleId: 'egress.ssrf', reason: `${host.host} is a ${verdict.category} address` };
    }
    return { ok: true, addresses: [host.host] };
  }
  let answers: readonly ResolvedAddress[];
  try {
    answers = await withTimeout(options.resolver(host.host), options.timeoutMs);
  } catch (err) {
    const code =
      err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : 'lookup failed';
    return { ok: false, ruleId: 'egress.dns', reason: `could not resolve ${host.host} (${code})` };
  }
  if (answers.length === 0) {
    return { ok: false, ruleId: 'egress.dns', reason: `${host.host} has no addresses` };
  }
  const addresses: string[] = [];
  for (const answer of answers) {
    const addr = typeof answer.address === 'string' ? parseIp(answer.address) : null;
    if (addr === null) {
      return {
        ok: false,
        ruleId: 'egress.dns',
        reason: `the resolver returned something that is not an address for ${host.host}`,
      };
    }
    const verdict = checkAddress(addr, options.cidrAllow);
    const text = formatIp(addr);
    if (!verdict.allowed) {
      return {
        ok: false,
        ruleId: 'egress.ssrf',
        reason: `${host.host} resolves to ${text}, a ${verdict.category} address`,
      };
    }
    if (!addresses.includes(text)) addresses.push(text);
  }
  return { ok: true, addresses };
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(Object.assign(new Error('lookup timed out'), { code: 'ETIMEOUT' }));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
