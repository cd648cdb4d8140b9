/**
 * IP addresses, CIDR ranges and the SSRF address table.
 *
 * Addresses are parsed by hand into bytes instead of being matched as strings, so every
 * spelling of an address (compressed IPv6, IPv4-mapped, embedded IPv4) lands on the same
 * bytes before it is classified. The table follows smokescreen's idea: everything that is
 * not global unicast is refused unless a CIDR the policy names allows it.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address. */
export interface IpAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

/** A CIDR range: an address and a prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  /** The range as written after normalization, e.g. `127.0.0.1/32`. */
  readonly text: string;
}

/** Why an address may or may not be dialled. */
export type AddressVerdict =
  | { readonly allowed: true; readonly via: 'public' | 'cidr-allow'; readonly cidr?: string }
  | { readonly allowed: false; readonly category: string };

const STRICT_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Parses a strict dotted-quad IPv4 address (`1.2.3.4`, no leading zeros). */
export function parseIPv4(text: string): IpAddress | null {
  if (!STRICT_IPV4.test(text)) return null;
  return { family: 4, bytes: Uint8Array.from(text.split('.').map(Number)) };
}

/**
 * Parses an IPv6 address without brackets or zone id. Zone ids (`%eth0`) are refused:
 * they name a local interface, which no outbound request has a reason to pick.
 */
export function parseIPv6(text: string): IpAddress | null {
  if (text.includes('%') || !isIPv6(text)) return null;
  let head = text;
  const tail: number[] = [];
  // An embedded dotted-quad takes the place of the last two groups.
  const lastColon = head.lastIndexOf(':');
  const last = head.slice(lastColon + 1);
  if (last.includes('.')) {
    const v4 = parseIPv4(last);
    if (v4 === null) return null;
    const b = v4.bytes;
    tail.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
    head = head.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `a::1.2.3.4` leaves `a::`; `a:b:...:f:1.2.3.4` leaves `...f:`.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = 8 - tail.length;
  const parseGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  const dbl = head.indexOf('::');
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    const fill = groupsWanted - left.length - right.length;
    if (fill < 0) return null;
    groups = [...left, ...new Array<number>(fill).fill(0), ...right];
  } else {
    groups = parseGroups(head);
  }
  groups = [...groups, ...tail];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) return null;
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return { family: 6, bytes };
}

/** Parses an address as written by a resolver or a socket: dotted-quad or IPv6. */
export function parseIp(text: string): IpAddress | null {
  if (isIPv4(text)) return parseIPv4(text);
  return parseIPv6(text);
}

/**
 * Formats an address in its canonical text form: dotted-quad for IPv4, RFC 5952 for IPv6
 * (IPv4-mapped addresses as `::ffff:a.b.c.d`).
 */
export function formatIp(addr: IpAddress): string {
  const b = addr.bytes;
  if (addr.family === 4) return Array.from(b).join('.');
  if (isV4Mapped(addr)) return `::ffff:${Array.from(b.subarray(12)).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  // Longest run of two or more zero groups, the first one on a tie (RFC 5952 §4.2.3).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

function isV4Mapped(addr: IpAddress): boolean {
  if (addr.family !== 6) return false;
  const b = addr.bytes;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Turns an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) into the IPv4 address it is:
 * a socket dialled at it reaches exactly that IPv4 address, so it must be judged as one.
 */
export function unmapIp(addr: IpAddress): IpAddress {
  return isV4Mapped(addr) ? { family: 4, bytes: addr.bytes.slice(12) } : addr;
}

/**
 * Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a single-address range).
 * Host bits set below the prefix are refused: `10.0.0.1/8` is a typo for one of two
 * different things, and guessing which would widen or narrow a rule silently.
 */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const addr = parseIp(addrText);
  if (addr === null) return null;
  const max = addr.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    prefix = Number(p);
    if (prefix > max) return null;
  }
  for (let bit = prefix; bit < max; bit++) {
    if (((addr.bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return null;
  }
  return { family: addr.family, bytes: addr.bytes, prefix, text: `${formatIp(addr)}/${prefix}` };
}

/** True when `addr` lies inside `cidr` (same family only). */
export function cidrContains(cidr: Cidr, addr: IpAddress): boolean {
  if (cidr.family !== addr.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== addr.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((cidr.bytes[full] ?? 0) & mask) === ((addr.bytes[full] ?? 0) & mask);
}

function table(entries: ReadonlyArray<readonly [string, string]>): ReadonlyArray<readonly [Cidr, string]> {
  return entries.map(([range, category]) => {
    const c = parseCidr(range);
    if (c === null) throw new Error(`bad built-in range ${range}`);
    return [c, category] as const;
  });
}

/**
 * IPv4 ranges that are never dialled without a CIDR allow. The metadata address comes
 * first so the reason names it rather than the wider link-local range.
 */
const DENIED_V4 = table([
  ['169.254.169.254/32', 'cloud metadata'],
  ['169.254.170.2/32', 'cloud metadata (ECS task)'],
  ['0.0.0.0/8', 'this-network (0.0.0.0/8)'],
  ['10.0.0.0/8', 'private (10.0.0.0/8)'],
  ['100.64.0.0/10', 'carrier-grade NAT (100.64.0.0/10)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private (172.16.0.0/12)'],
  ['192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.0.2.0/24', 'documentation (TEST-NET-1)'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private (192.168.0.0/16)'],
  ['198.18.0.0/15', 'benchmarking (198.18.0.0/15)'],
  ['198.51.100.0/24', 'documentation (TEST-NET-2)'],
  ['203.0.113.0/24', 'documentation (TEST-NET-3)'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved (240.0.0.0/4)'],
]);

/**
 * IPv6 ranges refused outright. Ranges that embed an IPv4 address (NAT64, 6to4) are
 * handled separately so that the embedded address is judged by the IPv4 table.
 */
const DENIED_V6 = table([
  ['fd00:ec2::254/128', 'cloud metadata'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::/48', 'local-use NAT64'],
  ['100::/64', 'discard-only'],
  ['2001::/32', 'Teredo'],
  ['2001:db8::/32', 'documentation'],
  ['2001::/23', 'IETF protocol assignments (2001::/23)'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'SRv6 SIDs'],
  ['fc00::/7', 'unique local (fc00::/7)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
]);

const NAT64 = table([['64:ff9b::/96', 'NAT64']])[0]?.[0];
const SIX_TO_FOUR = table([['2002::/16', '6to4']])[0]?.[0];
const GLOBAL_UNICAST = table([['2000::/3', 'global unicast']])[0]?.[0];

function classifyV4(addr: IpAddress): AddressVerdict {
  for (const [range, category] of DENIED_V4) {
    if (cidrContains(range, addr)) return { allowed: false, category };
  }
  return { allowed: true, via: 'public' };
}

/**
 * Classifies an address by the SSRF table alone, ignoring CIDR allows. IPv4-mapped IPv6
 * is judged as the IPv4 address; NAT64 and 6to4 are judged by the IPv4 address they embed.
 */
export function classifyAddress(input: IpAddress): AddressVerdict {
  const addr = unmapIp(input);
  if (addr.family === 4) return classifyV4(addr);
  for (const [range, category] of DENIED_V6) {
    if (cidrContains(range, addr)) return { allowed: false, category };
  }
  if (NAT64 !== undefined && cidrContains(NAT64, addr)) {
    const inner = classifyV4({ family: 4, bytes: addr.bytes.slice(12) });
    return inner.allowed ? inner : { allowed: false, category: `${inner.category} embedded in NAT64` };
  }
  if (SIX_TO_FOUR !== undefined && cidrContains(SIX_TO_FOUR, addr)) {
    const inner = classifyV4({ family: 4, bytes: addr.bytes.slice(2, 6) });
    return inner.allowed ? inner : { allowed: false, category: `${inner.category} embedded in 6to4` };
  }
  if (GLOBAL_UNICAST === undefined || !cidrContains(GLOBAL_UNICAST, addr)) {
    return { allowed: false, category: 'not global unicast' };
  }
  return { allowed: true, via: 'public' };
}

/**
 * The verdict the proxy acts on: an address inside a CIDR the policy allows may be
 * dialled whatever it is (that is how a rule reaches a test server on 127.0.0.1);
 * anything else must pass {@link classifyAddress}.
 */
export function checkAddress(input: IpAddress, cidrAllow: readonly Cidr[]): AddressVerdict {
  const addr = unmapIp(input);
  for (const c of cidrAllow) {
    if (cidrContains(c, addr)) return { allowed: true, via: 'cidr-allow', cidr: c.text };
  }
  return classifyAddress(addr);
}
