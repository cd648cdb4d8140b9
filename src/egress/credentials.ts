/**
 * Credential bindings: which secret goes to which host (and optionally which methods and
 * paths), in which header, and what the sandbox holds instead (a placeholder).
 *
 * A host that has a binding is treated as one where the session speaks with the
 * session's identity only: a request there that carries any other credential (the
 * agent's own token, a cookie) is refused, because "upload to my own account on an
 * allowed API" is the easiest way to exfiltrate through an allowlist.
 */
import { randomBytes } from 'node:crypto';

import type { HostPattern, PathPattern } from './match.js';

/** How a credential is put on the request. */
export type CredentialInjection =
  | {
      readonly type: 'header';
      /** Header name, e.g. `authorization` or `x-api-key`. */
      readonly name: string;
      /** Text before the secret, e.g. `Bearer ` or `token `. */
      readonly prefix?: string;
      /** Text after the secret (rare; for formats like `key={secret};v=2`). */
      readonly suffix?: string;
    }
  | {
      readonly type: 'basic';
      /** The user name of HTTP basic auth (e.g. `x-access-token` for GitHub). */
      readonly username: string;
    };

/** A credential as configured: where it comes from and where it may go. */
export interface CredentialBinding {
  /** A name for events and messages, e.g. `github`. */
  readonly id: string;
  /** Secret reference: `env:NAME`, `file:/path`, or `command:["prog","arg"]`. */
  readonly secret: string;
  /** Host patterns the credential is bound to (`api.github.com`, `*.example.com`). */
  readonly hosts: readonly string[];
  /** Methods it is injected on; all methods when absent. */
  readonly methods?: readonly string[];
  /** Path patterns it is injected on; all paths when absent. */
  readonly paths?: readonly string[];
  /** Where the value goes. */
  readonly inject: CredentialInjection;
  /** Variables set to the placeholder inside the sandbox, e.g. `GITHUB_TOKEN`. */
  readonly env?: readonly string[];
  /** The placeholder text; a random `airlock-placeholder-…` value when absent. */
  readonly placeholder?: string;
  /**
   * Allow injecting over plain HTTP. Off by default: the proxy would put the secret on
   * the wire unencrypted. Meant for a local test server only.
   */
  readonly allowPlainHttp?: boolean;
}

/** A binding after validation, with its secret resolved. Never leaves the host. */
export interface ActiveCredential {
  readonly id: string;
  readonly hosts: readonly HostPattern[];
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly PathPattern[] | null;
  readonly inject: CredentialInjection;
  readonly placeholder: string;
  readonly env: readonly string[];
  readonly allowPlainHttp: boolean;
  /** The header value to set (already formatted: prefix, basic encoding). */
  readonly headerName: string;
  readonly headerValue: string;
  /** Byte strings to replace in responses: each spelling of the secret and its stand-in. */
  readonly redactions: ReadonlyArray<{ readonly from: Buffer; readonly to: Buffer }>;
}

/** Header names that carry credentials unless configured otherwise. */
export const DEFAULT_CREDENTIAL_HEADERS: readonly string[] = [
  'authorization',
  'cookie',
  'x-api-key',
  'api-key',
  'x-auth-token',
  'x-access-token',
  'private-token',
  'x-goog-api-key',
  'ocp-apim-subscription-key',
];

/** Query parameters that carry credentials unless configured otherwise. */
export const DEFAULT_CREDENTIAL_QUERY_PARAMS: readonly string[] = [
  'access_token',
  'api_key',
  'apikey',
  'api-key',
  'key',
  'token',
  'private_token',
  'client_secret',
];

/** Makes a placeholder that cannot be mistaken for a real token. */
export function makePlaceholder(id: string): string {
  return `airlock-placeholder-${id.replace(/[^A-Za-z0-9_-]/g, '_')}-${randomBytes(12).toString('hex')}`;
}

/** Builds the active form of a binding once its secret is known. */
export function activateCredential(
  binding: CredentialBinding,
  secret: string,
  hosts: readonly HostPattern[],
  paths: readonly PathPattern[] | null,
): ActiveCredential {
  const placeholder = binding.placeholder ?? makePlaceholder(binding.id);
  const redactions: Array<{ from: Buffer; to: Buffer }> = [
    { from: Buffer.from(secret), to: Buffer.from(placeholder) },
  ];
  let headerName: string;
  let headerValue: string;
  if (binding.inject.type === 'basic') {
    headerName = 'authorization';
    const real = Buffer.from(`${binding.inject.username}:${secret}`).toString('base64');
    headerValue = `Basic ${real}`;
    redactions.push({
      from: Buffer.from(real),
      to: Buffer.from(Buffer.from(`${binding.inject.username}:${placeholder}`).toString('base64')),
    });
  } else {
    headerName = binding.inject.name.toLowerCase();
    headerValue = `${binding.inject.prefix ?? ''}${secret}${binding.inject.suffix ?? ''}`;
  }
  return {
    id: binding.id,
    hosts,
    methods: binding.methods === undefined ? null : new Set(binding.methods.map((m) => m.toUpperCase())),
    paths,
    inject: binding.inject,
    placeholder,
    env: binding.env ?? [],
    allowPlainHttp: binding.allowPlainHttp ?? false,
    headerName,
    headerValue,
    redactions,
  };
}

/** Raw request headers as name/value pairs, in order, as the client sent them. */
export type HeaderPairs = Array<[string, string]>;

/** What to do with a request as far as credentials go. */
export type CredentialOutcome =
  | { readonly kind: 'unbound' }
  | {
      readonly kind: 'deny';
      readonly ruleId: 'egress.own-credential' | 'egress.credential-plaintext';
      readonly reason: string;
    }
  | {
      readonly kind: 'bound';
      /** The headers to forward: placeholders removed, the real credential added when injected. */
      readonly headers: HeaderPairs;
      /** The credential that was injected, or null when this method/path is not covered. */
      readonly injected: ActiveCredential | null;
    };

/** The request facts credentials are matched on. */
export interface CredentialRequest {
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly scheme: 'http' | 'https';
  readonly headers: HeaderPairs;
}

/** All credentials of a session and the rules for recognizing foreign ones. */
export class CredentialTable {
  readonly #credentials: readonly ActiveCredential[];
  readonly #headers: ReadonlySet<string>;
  readonly #queryParams: ReadonlySet<string>;
  readonly #placeholders: readonly string[];

  constructor(
    credentials: readonly ActiveCredential[],
    headerNames: readonly string[],
    queryParams: readonly string[],
  ) {
    this.#credentials = credentials;
    this.#headers = new Set([
      ...headerNames.map((h) => h.toLowerCase()),
      ...credentials.map((c) => c.headerName),
    ]);
    this.#queryParams = new Set(queryParams.map((q) => q.toLowerCase()));
    this.#placeholders = credentials.map((c) => c.placeholder);
  }

  /** Every credential, for building the sandbox environment. */
  get all(): readonly ActiveCredential[] {
    return this.#credentials;
  }

  /** The credentials bound to `host`. */
  boundTo(host: string): ActiveCredential[] {
    return this.#credentials.filter((c) => c.hosts.some((p) => p.matches(host)));
  }

  /**
   * Checks a request's credentials and rewrites its headers. On a bound host every
   * credential-bearing header must hold a placeholder; they are all removed and, when a
   * binding covers this method and path, its real value is added.
   */
  apply(req: CredentialRequest): CredentialOutcome {
    const bound = this.boundTo(req.host);
    if (bound.length === 0) return { kind: 'unbound' };
    const kept: HeaderPairs = [];
    for (const [name, value] of req.headers) {
      const lower = name.toLowerCase();
      if (!this.#headers.has(lower)) {
        kept.push([name, value]);
        continue;
      }
      if (!this.#holdsPlaceholder(value)) {
        return {
          kind: 'deny',
          ruleId: 'egress.own-credential',
          reason: `the request carries its own credential in the "${lower}" header; ${req.host} receives only the session's credential (${bound.map((c) => c.id).join(', ')}), which Airlock adds itself`,
        };
      }
    }
    const param = this.#credentialQueryParam(req.query);
    if (param !== null) {
      return {
        kind: 'deny',
        ruleId: 'egress.own-credential',
        reason: `the request carries a credential-like query parameter "${param}"; ${req.host} receives only the session's credential, which Airlock adds in a header`,
      };
    }
    const method = req.method.toUpperCase();
    const cover = bound.find(
      (c) =>
        (c.methods === null || c.methods.has(method)) &&
        (c.paths === null || c.paths.some((p) => p.matches(req.path))),
    );
    if (cover === undefined) return { kind: 'bound', headers: kept, injected: null };
    if (req.scheme === 'http' && !cover.allowPlainHttp) {
      return {
        kind: 'deny',
        ruleId: 'egress.credential-plaintext',
        reason: `credential "${cover.id}" would be sent to ${req.host} over plain HTTP; use https`,
      };
    }
    kept.push([cover.headerName, cover.headerValue]);
    return { kind: 'bound', headers: kept, injected: cover };
  }

  #holdsPlaceholder(value: string): boolean {
    if (this.#placeholders.some((p) => value.includes(p))) return true;
    // Basic auth hides the placeholder in base64 ("user:placeholder").
    const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(value);
    if (m === null) return false;
    const decoded = Buffer.from(m[1] ?? '', 'base64').toString('utf8');
    return this.#placeholders.some((p) => decoded.includes(p));
  }

  #credentialQueryParam(query: string): string | null {
    if (query === '' || this.#queryParams.size === 0) return null;
    for (const pair of query.slice(1).split('&')) {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' ')).toLowerCase();
      } catch {
        name = rawName.toLowerCase();
      }
      if (this.#queryParams.has(name)) return name;
    }
    return null;
  }
}
