/**
 * Parsing of what a client names as its destination: host, authority (host:port),
 * absolute-form request targets, and request paths.
 *
 * The proxy judges and dials what these functions return, so they are strict: anything
 * a browser or an HTTP library might "helpfully" reinterpret (percent-escapes in a host,
 * userinfo, backslashes, numeric hosts in decimal/octal/hex) is either refused or turned
 * into the one spelling that is then used both for the decision and on the wire.
 */
import { domainToASCII } from 'node:url';

import { formatIp, parseIPv4, parseIPv6, type IpAddress } from './address.js';

/** A destination host after normalization. */
export type ParsedHost =
  | {
      readonly kind: 'name';
      /** Lowercase ASCII (punycode), no trailing dot. */
      readonly host: string;
    }
  | {
      readonly kind: 'ip';
      /** Canonical text of the address (dotted-quad or RFC 5952 IPv6, no brackets). */
      readonly host: string;
      readonly address: IpAddress;
      /**
       * False when the client spelled an IPv4 address another way (`2130706433`,
       * `0177.1`, `0x7f.0.0.1`). Such spellings exist mostly to slip past filters, so the
       * proxy accepts them only where a CIDR rule allows the address.
       */
      readonly canonical: boolean;
    };

/** A result that is either a value or a reason written for a person. */
export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

// Characters that may appear in a host before IDNA processing: letters of any script,
// digits, hyphen, underscore, dot (and the ideographic full stops IDNA maps to a dot).
// Everything else — NUL, controls, spaces, '%', '@', '/', '\\', ':' — is refused here.
const HOST_CHARS = /^[\p{L}\p{M}\p{N}\-_.\u3002\uff0e\uff61]+$/u;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/i;

/**
 * Parses an IPv4 address the way the WHATWG URL parser (and most resolvers' `inet_aton`)
 * does: 1–4 parts, each decimal, octal (leading 0) or hex (0x). Returns null when it is
 * not a valid address in any of those spellings.
 */
function parseLooseIPv4(text: string): IpAddress | null {
  const parts = text.split('.');
  if (parts.length > 4 || parts.length === 0) return null;
  const nums: bigint[] = [];
  for (const part of parts) {
    if (part === '') return null;
    let digits = part;
    let radix = 10;
    if (/^0x/i.test(digits)) {
      radix = 16;
      digits = digits.slice(2);
    } else if (digits.length > 1 && digits.startsWith('0')) {
      radix = 8;
      digits = digits.slice(1);
    }
    if (digits === '') {
      nums.push(0n);
      continue;
    }
    const valid = radix === 16 ? /^[0-9a-f]+$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
    if (!valid.test(digits) || digits.length > 64) return null;
    const prefix = radix === 16 ? '0x' : radix === 8 ? '0o' : '';
    nums.push(BigInt(prefix + digits));
  }
  const last = nums[nums.length - 1] ?? 0n;
  for (let i = 0; i < nums.length - 1; i++) if ((nums[i] ?? 0n) > 255n) return null;
  if (last >= 256n ** BigInt(5 - nums.length)) return null;
  let value = last;
  for (let i = 0; i < nums.length - 1; i++) value += (nums[i] ?? 0n) * 256n ** BigInt(3 - i);
  const bytes = new Uint8Array(4);
  for (let i = 3; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return { family: 4, bytes };
}

/**
 * Normalizes a host as it appears in an authority (IPv6 in brackets). Lowercases,
 * converts IDNs to punycode, drops one trailing dot, and refuses what is not a hostname.
 */
export function parseHost(raw: string): Parsed<ParsedHost> {
  if (raw.length === 0) return fail('the host is empty');
  if (raw.length > 255) return fail('the host is longer than 255 characters');
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return fail(`"${printable(raw)}" opens a bracket it does not close`);
    const addr = parseIPv6(raw.slice(1, -1));
    if (addr === null) return fail(`"${printable(raw)}" is not an IPv6 address (zone ids are not accepted)`);
    return ok({ kind: 'ip', host: formatIp(addr), address: addr, canonical: true });
  }
  if (!HOST_CHARS.test(raw)) {
    return fail(`"${printable(raw)}" contains characters that are not allowed in a host name`);
  }
  // Pure ASCII is only lowercased: domainToASCII would also turn "0x7f.1" into 127.0.0.1,
  // and the spelling must be seen before that happens.
  const ascii = /^\p{ASCII}*$/u.test(raw) ? raw.toLowerCase() : domainToASCII(raw);
  if (ascii === '') return fail(`"${printable(raw)}" is not a valid internationalized domain name`);
  if (ascii.endsWith('..')) return fail(`"${printable(raw)}" ends in more than one dot`);
  const host = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (host === '') return fail('the host is empty');
  const labels = host.split('.');
  const lastLabel = labels[labels.length - 1] ?? '';
  if (NUMERIC_LABEL.test(lastLabel)) {
    const addr = parseLooseIPv4(host);
    if (addr === null) return fail(`"${printable(raw)}" looks like an IPv4 address but is not a valid one`);
    const canonical = raw === host && parseIPv4(host) !== null;
    return ok({ kind: 'ip', host: formatIp(addr), address: addr, canonical });
  }
  if (host.length > 253) return fail('the host is longer than 253 characters');
  for (const label of labels) {
    if (!LABEL.test(label)) return fail(`"${printable(raw)}" has an invalid label "${printable(label)}"`);
  }
  // A punycode label must decode; "xn--zz" is not a name any registry could hold.
  if (host.includes('xn--') && domainToASCII(host) !== host) {
    return fail(`"${printable(raw)}" has an invalid punycode label`);
  }
  return ok({ kind: 'name', host });
}

/** A parsed `host[:port]`. */
export interface Authority {
  readonly host: ParsedHost;
  readonly port: number;
}

/**
 * Parses `host:port`, `[v6]:port`, or (with a default port) a bare host. Userinfo is
 * refused outright: in `allowed.com@evil.com` the real host is the part a reader skips.
 */
export function parseAuthority(raw: string, defaultPort?: number): Parsed<Authority> {
  if (raw.includes('@'))
    return fail(`"${printable(raw)}" carries userinfo ("user@host"), which is not accepted`);
  let hostPart: string;
  let portPart: string | undefined;
  if (raw.startsWith('[')) {
    const close = raw.indexOf(']');
    if (close < 0) return fail(`"${printable(raw)}" opens a bracket it does not close`);
    hostPart = raw.slice(0, close + 1);
    const rest = raw.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return fail(`"${printable(raw)}" has text after the IPv6 address`);
      portPart = rest.slice(1);
    }
  } else {
    const colon = raw.indexOf(':');
    if (colon >= 0 && raw.indexOf(':', colon + 1) >= 0) {
      return fail(`"${printable(raw)}" has more than one colon; write IPv6 addresses in brackets`);
    }
    hostPart = colon < 0 ? raw : raw.slice(0, colon);
    portPart = colon < 0 ? undefined : raw.slice(colon + 1);
  }
  let port: number;
  if (portPart === undefined || portPart === '') {
    if (defaultPort === undefined) return fail(`"${printable(raw)}" has no port`);
    port = defaultPort;
  } else {
    if (!/^[1-9]\d{0,4}$/.test(portPart)) return fail(`"${printable(raw)}" has an invalid port`);
    port = Number(portPart);
    if (port > 65535) return fail(`"${printable(raw)}" has a port above 65535`);
  }
  const host = parseHost(hostPart);
  if (!host.ok) return host;
  return ok({ host: host.value, port });
}

/** Formats a host for an authority or URL: IPv6 in brackets. */
export function hostForUrl(host: ParsedHost): string {
  return host.kind === 'ip' && host.address.family === 6 ? `[${host.host}]` : host.host;
}

/** Formats `host[:port]`, leaving out the scheme's default port (as the Host header does). */
export function formatAuthority(host: ParsedHost, port: number, scheme: 'http' | 'https'): string {
  const dflt = scheme === 'https' ? 443 : 80;
  return port === dflt ? hostForUrl(host) : `${hostForUrl(host)}:${port}`;
}

/** A request target split into a normalized path and a raw query. */
export interface RequestPath {
  /** Normalized path: dot segments removed, unreserved escapes decoded, other escapes uppercased. */
  readonly path: string;
  /** The query including its leading "?", or "" when there is none. */
  readonly query: string;
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;
// RFC 3986 pchar plus "/" and "%" (escapes are checked separately). No backslash, no
// spaces, no quotes, no non-ASCII: a server might read those differently than we do.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%[\]{}|^`"<>\\]*$/;

/**
 * Normalizes an origin-form request target (`/a/./b/../c?x=1`). The proxy forwards the
 * normalized path, so the path a rule was judged on is exactly the path the server gets.
 */
export function parseRequestPath(target: string): Parsed<RequestPath> {
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  if (!rawPath.startsWith('/'))
    return fail(`the request path "${printable(rawPath)}" does not start with "/"`);
  if (!PATH_CHARS.test(rawPath))
    return fail(`the request path "${printable(rawPath)}" contains characters that must be percent-encoded`);
  if (query !== '' && !QUERY_CHARS.test(query))
    return fail('the query string contains characters that must be percent-encoded');
  let normalized = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath[i] ?? '';
    if (c !== '%') {
      normalized += c;
      continue;
    }
    const hex = rawPath.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex))
      return fail(`the request path "${printable(rawPath)}" has a broken percent-escape`);
    const ch = String.fromCharCode(parseInt(hex, 16));
    if (ch === '\0') return fail('the request path contains an encoded NUL (%00)');
    normalized += UNRESERVED.test(ch) ? ch : `%${hex.toUpperCase()}`;
    i += 2;
  }
  return ok({ path: removeDotSegments(normalized), query });
}

/** RFC 3986 §5.2.4, on a path whose "%2E" escapes were already decoded to ".". */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/').slice(1);
  segments.forEach((seg, i) => {
    const isLast = i === segments.length - 1;
    if (seg === '.') {
      if (isLast) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (isLast) out.push('');
    } else {
      out.push(seg);
    }
  });
  return `/${out.join('/')}`;
}

/** An absolute-form request target of a plain-HTTP proxy request. */
export interface AbsoluteTarget {
  readonly scheme: 'http' | 'https';
  readonly authority: Authority;
  readonly path: RequestPath;
}

/** Parses `http://host[:port]/path?query` as sent to a forward proxy. */
export function parseAbsoluteTarget(target: string): Parsed<AbsoluteTarget> {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/.exec(target);
  if (m === null) return fail(`"${printable(target)}" is not an absolute http:// URL`);
  const scheme = (m[1] ?? '').toLowerCase();
  if (scheme !== 'http' && scheme !== 'https')
    return fail(`the scheme "${printable(scheme)}" is not http or https`);
  const authority = parseAuthority(m[2] ?? '', scheme === 'https' ? 443 : 80);
  if (!authority.ok) return authority;
  const rest = m[3] ?? '';
  const path = parseRequestPath(rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest);
  if (!path.ok) return path;
  return ok({ scheme, authority: authority.value, path: path.value });
}

/** Makes untrusted text safe to quote in a message: controls escaped, length capped. */
export function printable(text: string): string {
  let escaped = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    escaped += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return escaped.length > 200 ? `${escaped.slice(0, 200)}…` : escaped;
}
