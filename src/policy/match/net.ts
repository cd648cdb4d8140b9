/**
 * Host names, IP literals and CIDR ranges for network rules. Everything here is
 * strict: a host that is not plainly a DNS name or a canonical IP literal is not
 * matched against any rule (the caller treats it as unresolvable).
 */

/**
 * Suffixes under which anyone can register or host a name. A wildcard directly
 * below one of these (`*.github.io`) would allow every tenant. This is a curated
 * subset of the Public Suffix List (the full list is not a dependency); every
 * single-label suffix (`*.com`, `*.dev`) is refused without needing a list.
 */
export const SHARED_SUFFIXES: ReadonlySet<string> = new Set([
  'co.uk',
  'org.uk',
  'ac.uk',
  'gov.uk',
  'me.uk',
  'ltd.uk',
  'plc.uk',
  'net.uk',
  'com.au',
  'net.au',
  'org.au',
  'edu.au',
  'gov.au',
  'co.nz',
  'org.nz',
  'co.jp',
  'ne.jp',
  'or.jp',
  'co.in',
  'net.in',
  'org.in',
  'co.za',
  'com.br',
  'net.br',
  'com.cn',
  'net.cn',
  'org.cn',
  'com.hk',
  'com.sg',
  'com.tw',
  'com.tr',
  'com.mx',
  'com.ar',
  'co.kr',
  'or.kr',
  'com.pl',
  'co.il',
  'com.ua',
  'github.io',
  'githubusercontent.com',
  'gitlab.io',
  'bitbucket.io',
  'herokuapp.com',
  'herokudns.com',
  'vercel.app',
  'now.sh',
  'netlify.app',
  'netlify.com',
  'pages.dev',
  'workers.dev',
  'web.app',
  'firebaseapp.com',
  'appspot.com',
  'cloudfunctions.net',
  'run.app',
  'cloudfront.net',
  'amazonaws.com',
  's3.amazonaws.com',
  'elasticbeanstalk.com',
  'azurewebsites.net',
  'azurestaticapps.net',
  'blob.core.windows.net',
  'cloudapp.net',
  'trafficmanager.net',
  'ngrok.io',
  'ngrok-free.app',
  'ngrok.app',
  'trycloudflare.com',
  'glitch.me',
  'repl.co',
  'replit.dev',
  'onrender.com',
  'fly.dev',
  'railway.app',
  'deno.dev',
  'surge.sh',
  'readthedocs.io',
  'blogspot.com',
  'wordpress.com',
  'duckdns.org',
  'no-ip.org',
  'dyndns.org',
  'ddns.net',
  'pythonanywhere.com',
  'codesandbox.io',
  'csb.app',
  'stackblitz.io',
  'webcontainer.io',
  'hf.space',
  'loca.lt',
  'serveo.net',
  'pipedream.net',
  'requestbin.net',
  'webhook.site',
]);

/** A validated host pattern. */
export type HostPattern =
  { readonly kind: 'exact'; readonly host: string } | { readonly kind: 'wildcard'; readonly suffix: string };

/** Validates a host pattern from the policy. */
export function parseHostPattern(
  raw: string,
): { ok: true; pattern: HostPattern } | { ok: false; error: string } {
  let p = raw.trim().toLowerCase();
  if (p.length === 0) return { ok: false, error: 'is empty; name a host such as "registry.npmjs.org"' };
  if (p.endsWith('.')) p = p.slice(0, -1);
  if (p === '*' || p === '**' || p === '*.*') {
    return {
      ok: false,
      error:
        'allows every host; name the hosts the task needs, such as "registry.npmjs.org" or "*.github.com"',
    };
  }
  for (const ch of p) {
    const code = ch.charCodeAt(0);
    if (code > 0x7e)
      return {
        ok: false,
        error: 'contains non-ASCII characters; write internationalized names in punycode ("xn--…")',
      };
  }
  if (p.includes('://') || p.includes('/') || p.includes('@') || p.includes(':')) {
    return {
      ok: false,
      error: 'must be a bare host name without scheme, path, port or user; put ports in "ports"',
    };
  }
  if (parseIPv4Strict(p) !== null || looksNumeric(p)) {
    return {
      ok: false,
      error: 'is an IP address; list IP addresses and ranges under "cidr" instead of "host"',
    };
  }
  let wildcard = false;
  if (p.startsWith('*.')) {
    wildcard = true;
    p = p.slice(2);
  }
  if (p.includes('*')) {
    return { ok: false, error: 'may use "*" only as the whole first label, as in "*.example.com"' };
  }
  const labels = p.split('.');
  for (const l of labels) {
    if (l.length === 0) return { ok: false, error: 'has an empty label ("..")' };
    if (l.length > 63) return { ok: false, error: 'has a label longer than 63 characters' };
    for (const ch of l) {
      const ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch === '-' || ch === '_';
      if (!ok) return { ok: false, error: `contains "${ch}", which is not valid in a host name` };
    }
  }
  if (p.length > 253) return { ok: false, error: 'is longer than 253 characters' };
  if (wildcard) {
    if (labels.length < 2) {
      return {
        ok: false,
        error: `is too broad: "*.${p}" covers a whole top-level domain; name a domain under it, such as "*.example.${p}"`,
      };
    }
    if (SHARED_SUFFIXES.has(p)) {
      return {
        ok: false,
        error: `is too broad: "${p}" is a public suffix where anyone can own a name; list the exact hosts instead`,
      };
    }
    return { ok: true, pattern: { kind: 'wildcard', suffix: p } };
  }
  return { ok: true, pattern: { kind: 'exact', host: p } };
}

/** True when a normalized host is matched by the pattern. `*.example.com` does not match `example.com`. */
export function hostMatches(p: HostPattern, host: string): boolean {
  if (p.kind === 'exact') return host === p.host;
  return (
    host.length > p.suffix.length + 1 &&
    host.endsWith(p.suffix) &&
    host[host.length - p.suffix.length - 1] === '.'
  );
}

/** How specific a pattern is: exact hosts beat wildcards, longer suffixes beat shorter. */
export function hostSpecificity(p: HostPattern): number {
  return p.kind === 'exact' ? 1000 : p.suffix.split('.').length;
}

/** A host from a request after normalization. */
export type NormalizedHost =
  | { readonly kind: 'name'; readonly host: string }
  | { readonly kind: 'ip'; readonly ip: ParsedIp }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Normalizes a request's host: lower case, one trailing dot removed, IPv6
 * brackets removed. Anything ambiguous (NUL, userinfo, non-canonical IPv4 such as
 * `2130706433` or `0x7f.1`, zone ids) is `invalid` so no rule can match it.
 */
export function normalizeHost(raw: string): NormalizedHost {
  let h = raw.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) {
    const ip = parseIPv6(h.slice(1, -1));
    return ip === null
      ? { kind: 'invalid', reason: `"${raw}" is not a valid IPv6 literal` }
      : { kind: 'ip', ip: unmapV4(ip) };
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.length === 0 || h.length > 253) return { kind: 'invalid', reason: 'empty or over-long host name' };
  if (h.includes(':')) {
    const ip = parseIPv6(h);
    return ip === null
      ? { kind: 'invalid', reason: `"${raw}" is not a valid host` }
      : { kind: 'ip', ip: unmapV4(ip) };
  }
  for (const ch of h) {
    const ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch === '-' || ch === '.' || ch === '_';
    if (!ok) return { kind: 'invalid', reason: `host contains ${JSON.stringify(ch)}` };
  }
  if (h.split('.').some((l) => l.length === 0 || l.length > 63))
    return { kind: 'invalid', reason: 'host has an empty or over-long label' };
  const v4 = parseIPv4Strict(h);
  if (v4 !== null) return { kind: 'ip', ip: { v: 4, bytes: v4 } };
  if (looksNumeric(h)) {
    return {
      kind: 'invalid',
      reason: `"${raw}" is a non-canonical IP literal (decimal, octal or hex forms are refused)`,
    };
  }
  return { kind: 'name', host: h };
}

/** True when the last label is numeric or hex, which URL parsers read as an IPv4 address. */
function looksNumeric(h: string): boolean {
  const last = h.split('.').pop() ?? '';
  if (last.length === 0) return false;
  if (/^[0-9]+$/.test(last)) return true;
  return /^0x[0-9a-f]*$/.test(last);
}

/** An IP address as bytes. */
export interface ParsedIp {
  readonly v: 4 | 6;
  readonly bytes: readonly number[];
}

/** Dotted-quad decimal with no leading zeros, or null. */
export function parseIPv4Strict(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an IPv4 tail; no zone id), or null. */
export function parseIPv6(s: string): ParsedIp | null {
  if (s.includes('%') || s.length === 0) return null;
  let tail: number[] = [];
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4Strict(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = v4;
    text = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const parseGroups = (x: string): number[] | null => {
    if (x === '') return [];
    const out: number[] = [];
    for (const g of x.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parseGroups(halves[0] ?? '');
  const rest = halves.length === 2 ? parseGroups(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  let groups: number[];
  if (halves.length === 2) {
    const fill = 8 - head.length - rest.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else groups = head;
  if (groups.length !== 8) return null;
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return { v: 6, bytes };
}

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d for matching purposes. */
function unmapV4(ip: ParsedIp): ParsedIp {
  if (ip.v !== 6) return ip;
  const b = ip.bytes;
  for (let k = 0; k < 10; k++) if (b[k] !== 0) return ip;
  if (b[10] !== 0xff || b[11] !== 0xff) return ip;
  return { v: 4, bytes: b.slice(12) };
}

/** A CIDR range. */
export interface Cidr {
  readonly source: string;
  readonly ip: ParsedIp;
  readonly prefix: number;
}

/** Parses and checks a CIDR entry; ranges wider than /8 (IPv4) or /16 (IPv6) are refused. */
export function parseCidr(raw: string): { ok: true; cidr: Cidr } | { ok: false; error: string } {
  const [addr, prefixText, extra] = raw.trim().split('/');
  if (addr === undefined || extra !== undefined)
    return { ok: false, error: 'must look like "10.1.2.0/24" or "fd00::/64"' };
  let ip: ParsedIp | null;
  const v4 = parseIPv4Strict(addr);
  if (v4 !== null) ip = { v: 4, bytes: v4 };
  else ip = parseIPv6(addr.toLowerCase());
  if (ip === null) return { ok: false, error: `"${addr}" is not a canonical IPv4 or IPv6 address` };
  ip = unmapV4(ip);
  const max = ip.v === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (
    !Number.isInteger(prefix) ||
    prefix < 0 ||
    prefix > max ||
    (prefixText !== undefined && !/^[0-9]+$/.test(prefixText))
  ) {
    return { ok: false, error: `prefix must be a whole number from 0 to ${max}` };
  }
  const min = ip.v === 4 ? 8 : 16;
  if (prefix < min) {
    return {
      ok: false,
      error: `is too broad: /${prefix} covers ${ip.v === 4 ? 'a large share of the IPv4 internet' : 'a huge IPv6 range'}; use /${min} or narrower`,
    };
  }
  return { ok: true, cidr: { source: raw.trim(), ip, prefix } };
}

/** True when `ip` lies within the range. */
export function cidrContains(c: Cidr, ip: ParsedIp): boolean {
  if (c.ip.v !== ip.v) return false;
  let bits = c.prefix;
  for (let k = 0; bits > 0; k++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if (((c.ip.bytes[k] as number) & mask) !== ((ip.bytes[k] as number) & mask)) return false;
  }
  return true;
}
