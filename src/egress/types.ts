/**
 * The public types of the egress proxy: what it asks the policy, what it reports, and
 * how it is configured.
 */
import type { BudgetName, EgressBudgets } from './budget.js';
import type { CredentialBinding } from './credentials.js';
import type { EgressResolver } from './guard.js';
import type { LlmApi, ModelPrice } from './usage.js';

/** What the policy says about a network request. */
export type EgressVerdict = 'allow' | 'log' | 'ask' | 'deny';

/**
 * A request as the proxy asks the policy about it. For a CONNECT tunnel only host, port
 * and scheme are known; inside an intercepted tunnel and for plain HTTP, method and path
 * are set as well.
 */
export interface EgressRequest {
  /** Lowercase ASCII host (punycode), no trailing dot; an IP address in canonical text, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** `https` for CONNECT tunnels and intercepted requests, `http` for plain proxying. */
  readonly scheme: 'http' | 'https';
  /** The request method, when the request is visible. */
  readonly method?: string;
  /** The normalized path without the query, when the request is visible. */
  readonly path?: string;
}

/** The policy's answer about one {@link EgressRequest}. */
export interface EgressDecision {
  readonly verdict: EgressVerdict;
  /** The rule that decided, for the `X-Airlock-Denied` header and events. */
  readonly ruleId: string;
  /** Why, in words a person and an agent can read. */
  readonly reason: string;
  /**
   * For a host-level question (no method or path): some rules for this host depend on
   * method or path, so the tunnel may only open with TLS interception, and every request
   * inside is asked about again. Ignored when method and path are known.
   */
  readonly inspect?: boolean;
}

/** The policy, as the proxy sees it: synchronous and free of I/O. */
export type EgressDecide = (request: EgressRequest) => EgressDecision;

/** A request that waits for a person, with the rule that asked. */
export interface EgressAskRequest extends EgressRequest {
  readonly ruleId: string;
  readonly reason: string;
  /** Aborted when the proxy stops waiting (timeout, client gone, proxy closed). */
  readonly signal: AbortSignal;
}

/** Asks a person; resolves to their answer. A rejection or a timeout is a deny. */
export type EgressAsk = (request: EgressAskRequest) => Promise<'allow' | 'deny'>;

/** How a request reached the proxy. */
export type EgressMode = 'http' | 'tunnel' | 'intercepted' | 'base-url';

/** LLM usage recorded on a request event. */
export interface EgressUsage {
  readonly model: string | null;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheReadTokens: number;
  readonly cacheWriteTokens: number;
  /** Null when the model has no price in the table. */
  readonly costUsd: number | null;
}

/**
 * One request through the proxy, emitted when it ends (for a tunnel: when the tunnel
 * closes). It never holds a header value, a query string or a body.
 */
export interface EgressRequestEvent {
  readonly type: 'egress.request';
  /** Per-proxy sequence number, `r1`, `r2`, … */
  readonly id: string;
  /** When the request arrived (ISO 8601). */
  readonly time: string;
  readonly mode: EgressMode;
  /** `CONNECT` for an opaque tunnel or a refused CONNECT. */
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  /** Path without query; null for a tunnel. */
  readonly path: string | null;
  /** Status the client got: 200 for a tunnel, 403 denied, 429 budget, 5xx upstream trouble, 0 when cut. */
  readonly status: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** The policy's verdict, or `deny` when the proxy refused on its own (SSRF, fronting, own credential). */
  readonly verdict: EgressVerdict;
  /** Whether the request went out. */
  readonly allowed: boolean;
  readonly ruleId: string;
  readonly reason: string;
  /** A person's answer when the verdict was `ask`; `timeout` when none came in time. */
  readonly answer: 'allow' | 'deny' | 'timeout' | null;
  /** The credential binding injected, by id. */
  readonly credential: string | null;
  readonly usage: EgressUsage | null;
  /** What went wrong after the decision (connect refused, TLS failure, cut by budget). */
  readonly error: string | null;
  readonly durationMs: number;
}

/** A budget was spent; emitted once per budget. */
export interface EgressBudgetEvent {
  readonly type: 'egress.budget_exceeded';
  readonly time: string;
  readonly budget: BudgetName;
  readonly limit: number;
  readonly used: number;
  /** What `limit` and `used` count. */
  readonly unit: 'requests' | 'bytes' | 'tokens' | 'USD';
  /** A model without a price, when that is why the cost budget is spent. */
  readonly unpricedModel: string | null;
}

/** Everything the proxy reports. */
export type EgressEvent = EgressRequestEvent | EgressBudgetEvent;

/** The counters of a proxy. */
export interface EgressStats {
  readonly requests: number;
  readonly allowed: number;
  readonly denied: number;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costUsd: number;
  /** Opaque tunnels handed to the splice helper so far. */
  readonly tunnelsSpliced: number;
  /** CPU time spent by tunnel helpers that have finished (opaque tunnels spliced natively), ms. */
  readonly tunnelHelperCpuMs: number;
  readonly openConnections: number;
  readonly budgetsExceeded: readonly BudgetName[];
}

/**
 * A plain-HTTP front for an API: clients inside point their base URL at
 * `http://127.0.0.1:PORT/_airlock/base/NAME` and the proxy forwards over verified HTTPS.
 * No interception and no CA are needed.
 */
export interface BaseUrlRoute {
  /** Route name, `[a-z0-9-]+`, e.g. `anthropic`. */
  readonly name: string;
  /** The real base URL, https only, e.g. `https://api.anthropic.com` or `https://api.openai.com/v1`. */
  readonly upstream: string;
  /** Variables set to the front's URL inside, e.g. `ANTHROPIC_BASE_URL`. */
  readonly env?: readonly string[];
  /**
   * The API the upstream speaks, so that responses are read for LLM usage whatever its host
   * (e.g. a gateway). Default: the upstream host is looked up in `llm.endpoints`.
   */
  readonly api?: LlmApi;
}

/** An LLM API host whose responses are read for usage. */
export interface LlmEndpoint {
  /** Host pattern, e.g. `api.anthropic.com`. */
  readonly host: string;
  readonly api: LlmApi;
}

/** Options of {@link createEgressProxy}. Validated once; unknown keys are an error. */
export interface EgressProxyOptions {
  /** Where to listen: a unix socket path in the session's host-side runtime directory. */
  readonly socketPath: string;
  /** The loopback port the supervisor's bridge listens on inside the sandbox. */
  readonly sandboxPort: number;
  /**
   * Where the CA bundle ({@link EgressProxy.caBundlePem}) is mounted inside the sandbox.
   * Required unless `intercept` is false; the TLS variables point at it.
   */
  readonly caPathInSandbox?: string;
  /** The policy. */
  readonly decide: EgressDecide;
  /** Asks a person about `ask` verdicts; without it `ask` is a deny. */
  readonly ask?: EgressAsk;
  /** How long an ask may wait. Default 120 000 ms. */
  readonly askTimeoutMs?: number;
  /** Receives every event. Exceptions thrown here are swallowed so they cannot stop traffic. */
  readonly onEvent?: (event: EgressEvent) => void;
  /** CIDRs a rule allows, so that literal or private addresses can be reached on purpose. */
  readonly cidrAllow?: readonly string[];
  /** Name resolution; default the system resolver. */
  readonly resolver?: EgressResolver;
  /** Enable TLS interception with a per-session CA. Default true. */
  readonly intercept?: boolean;
  /** Extra root certificates (PEM) trusted for upstream TLS, added to the system roots. For tests. */
  readonly upstreamCa?: string | readonly string[];
  /** Credentials injected on bound hosts. */
  readonly credentials?: readonly CredentialBinding[];
  /** Header names treated as credentials on bound hosts. Default {@link DEFAULT_CREDENTIAL_HEADERS}. */
  readonly credentialHeaders?: readonly string[];
  /** Query parameter names treated as credentials on bound hosts. Default {@link DEFAULT_CREDENTIAL_QUERY_PARAMS}. */
  readonly credentialQueryParams?: readonly string[];
  /** Plain-HTTP fronts for LLM clients. */
  readonly baseUrls?: readonly BaseUrlRoute[];
  /** Session budgets. */
  readonly budgets?: EgressBudgets;
  /** LLM endpoints and prices. Default endpoints: api.anthropic.com (anthropic), api.openai.com (openai). */
  readonly llm?: {
    readonly endpoints?: readonly LlmEndpoint[];
    /** Prices per model: exact name, `prefix*`, or `*`. */
    readonly prices?: Readonly<Record<string, ModelPrice>>;
  };
  /** Require a TLS ClientHello whose SNI equals the target in opaque tunnels. Default true. */
  readonly requireTlsInTunnels?: boolean;
  /** Upstream connect timeout. Default 10 000 ms. */
  readonly connectTimeoutMs?: number;
  /** DNS lookup timeout. Default 5 000 ms. */
  readonly resolveTimeoutMs?: number;
  /** Environment for `env:` secret references. Default `process.env`. */
  readonly secretEnv?: Readonly<Record<string, string | undefined>>;
  /**
   * Who copies the bytes of opaque tunnels once they are judged: the path of the
   * `airlock-tunnel` helper (splice(2), see native/tunnel.c), or `false` for Node streams.
   * Default: the helper `npm run build` makes, or Node streams when it is not built. Tunnels
   * under a byte budget are always copied in Node, which counts them as they flow.
   */
  readonly tunnelHelper?: string | false;
}

/** A running proxy. */
export interface EgressProxy {
  /** The unix socket it listens on. */
  readonly socketPath: string;
  /** The session CA certificate (PEM), when interception is on. */
  readonly caCertPem?: string;
  /**
   * What to mount at `caPathInSandbox`: the system roots plus the session CA. A bundle,
   * because SSL_CERT_FILE and friends replace the trust store rather than add to it.
   */
  readonly caBundlePem?: string;
  /** Variables to set inside the sandbox: proxy, CA, placeholders, base URLs. */
  sandboxEnv(): Record<string, string>;
  /** Current counters. */
  stats(): EgressStats;
  /**
   * Replaces the policy (`decide`) and the CIDR allows, from the next request on: a session
   * whose policy was reloaded (a rule a person granted) judges with the new one. Requests
   * already decided keep their verdict: an open opaque tunnel stays open (requests inside an
   * intercepted tunnel are judged one by one, so they see the new rules). Credentials and
   * budgets stay as they were at start. Invalid CIDRs throw and change nothing.
   */
  setRules(rules: { readonly decide: EgressDecide; readonly cidrAllow?: readonly string[] }): void;
  /** The tunnel helper opaque tunnels are handed to, or null when Node copies them. */
  readonly tunnelHelper: string | null;
  /**
   * The resolved secret of each credential and every spelling the proxy puts on the wire
   * (the value itself, which also covers `Bearer <secret>`, and for basic auth the base64 of
   * `user:secret`), for the session's redactor and nothing else: it lives in memory only,
   * and the caller must not log, store or show it.
   */
  knownSecrets(): ReadonlyArray<{ readonly id: string; readonly values: readonly string[] }>;
  /** Stops listening, cuts open connections and removes the socket. */
  close(): Promise<void>;
}
