/**
 * Host and path patterns shared by credential bindings and the simple rule table.
 *
 * Host patterns: an exact host (`api.github.com`, `127.0.0.1`), `*.example.com` (any
 * subdomain, not the apex), or `*` (any host). Matching is on whole labels, never on
 * string prefixes, so `allowed.com` does not match `allowed.com.evil.com`.
 *
 * Path patterns: segments separated by `/`; `*` stands for one whole segment, `**` for
 * any number of segments (including none). Paths are compared after the proxy's
 * normalization (dot segments removed, unreserved escapes decoded).
 */
import { parseHost } from './host.js';

/** A compiled host pattern. */
export interface HostPattern {
  readonly text: string;
  matches(host: string): boolean;
}

/** A compiled path pattern. */
export interface PathPattern {
  readonly text: string;
  matches(path: string): boolean;
}

/** Compiles a host pattern; returns a reason when it is not one. */
export function compileHostPattern(text: string): HostPattern | string {
  if (text === '*') return { text, matches: () => true };
  if (text.startsWith('*.')) {
    const base = parseHost(text.slice(2));
    if (!base.ok) return base.reason;
    if (base.value.kind !== 'name') return `"${text}" puts a wildcard in front of an IP address`;
    const suffix = `.${base.value.host}`;
    return { text, matches: (host) => host.endsWith(suffix) && host.length > suffix.length };
  }
  if (text.includes('*')) return `"${text}" may only use "*" alone or as a leading "*." label`;
  const parsed = parseHost(text.includes(':') && !text.startsWith('[') ? `[${text}]` : text);
  if (!parsed.ok) return parsed.reason;
  const host = parsed.value.host;
  return { text, matches: (h) => h === host };
}

/** Compiles a path pattern; returns a reason when it is not one. */
export function compilePathPattern(text: string): PathPattern | string {
  if (!text.startsWith('/')) return `"${text}" does not start with "/"`;
  const parts = text.split('/').slice(1);
  let source = '^';
  parts.forEach((part, i) => {
    if (part === '**') {
      // "/a/**" matches "/a", "/a/" and "/a/b/c".
      source += i === parts.length - 1 ? '(?:/.*)?' : '(?:/[^/]+)*';
      return;
    }
    const seg = part === '*' ? '[^/]+' : part.split('*').map(escapeRegExp).join('[^/]*');
    source += `/${seg}`;
  });
  source += '$';
  const re = new RegExp(source);
  return { text, matches: (path) => re.test(path) };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
