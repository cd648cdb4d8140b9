/**
 * The egress proxy: an HTTP forward proxy (absolute-URI requests and CONNECT) on a unix
 * socket, one per session.
 *
 * Every request goes through the same steps, in an order chosen so that a refused request
 * costs nothing and leaks nothing: budget → policy (and a person, for `ask`) → credentials
 * → SSRF guard (the only place a name is resolved, and only for allowed hosts, so the
 * proxy is not a DNS channel) → forward to the checked address.
 */
import { randomUUID } from 'node:crypto';
import { chmod, unlink } from 'node:fs/promises';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { rootCertificates, TLSSocket } from 'node:tls';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

import { AirlockError, isErrnoException } from '../errors/index.js';
import type { Cidr } from './address.js';
import { BUDGET_UNITS, BudgetTracker, type BudgetBreach } from './budget.js';
import { createSessionCa, type SessionCa } from './ca.js';
import {
  activateCredential,
  CredentialTable,
  type ActiveCredential,
  type HeaderPairs,
} from './credentials.js';
import { budgetBody, DENIED_HEADER, denialBody, headerSafe, rawResponse } from './deny.js';
import { checkDestination } from './guard.js';
import { endToEnd, pairs } from './headers.js';
import { formatAuthority, parseAuthority, parseHost, printable, type ParsedHost } from './host.js';
import { handOffTunnel, type NativeTunnel } from './native-tunnel.js';
import { normalizeOptions, parseCidrAllow, type NormalizedOptions } from './options.js';
import { ReplaceStream, replaceAll } from './replace-stream.js';
import { removeStaleSocket } from './socket-file.js';
import { BASE_URL_PREFIX, routeRequest, type HttpRoute, type TunnelContext } from './route.js';
import { parseSecretRef, resolveSecret } from './secrets.js';
import type {
  EgressDecision,
  EgressDecide,
  EgressEvent,
  EgressMode,
  EgressProxy,
  EgressProxyOptions,
  EgressRequest,
  EgressRequestEvent,
  EgressStats,
  EgressUsage,
  EgressVerdict,
} from './types.js';
import { peekTunnel, PrefixedStream } from './tunnel.js';
import { PinnedAgent, dialAddresses, withTarget, type UpstreamTarget } from './upstream.js';
import { costOf, endpointKind, priceFor, UsageCollector } from './usage.js';

const TUNNEL_START_TIMEOUT_MS = 10_000;
// What a CONNECT client may send before its tunnel opens that the proxy holds for it.
const MAX_EARLY_BYTES = 64 * 1024;
// How long one side of a tunnel may take to flush and close after the other side closed.
const TUNNEL_LINGER_MS = 30_000;

// The Anthropic and OpenAI SDKs retry 429s unless told not to; a spent budget or a policy
// denial does not get better by retrying.
const NO_RETRY_HEADER = 'x-should-retry';

/** A mutable record of one request, turned into an event when it ends. */
interface Exchange {
  readonly id: string;
  readonly started: number;
  readonly time: string;
  mode: EgressMode;
  method: string;
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string | null;
  status: number;
  bytesUp: number;
  bytesDown: number;
  verdict: EgressVerdict;
  allowed: boolean;
  ruleId: string;
  reason: string;
  answer: 'allow' | 'deny' | 'timeout' | null;
  credential: string | null;
  usage: EgressUsage | null;
  error: string | null;
  done: boolean;
  /** Work to wait for before the event goes out (reading LLM usage). */
  settle: Promise<void> | null;
}

/** What was decided about a request, with a person's answer when one was asked. */
interface Judgement {
  readonly allowed: boolean;
  readonly decision: EgressDecision;
  readonly answer: 'allow' | 'deny' | 'timeout' | null;
}

/**
 * Starts an egress proxy on `options.socketPath`. Resolves secrets and creates the session
 * CA first, so a missing secret or a bad option fails here, before any agent runs.
 * Throws `E_CONFIG_INVALID`, `E_EGRESS_SECRET_UNAVAILABLE` or `E_EGRESS_LISTEN_FAILED`.
 */
export async function createEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const cfg = normalizeOptions(options);
  const active: ActiveCredential[] = [];
  for (const [i, c] of cfg.credentials.entries()) {
    const optionPath = `egress.credentials[${i}].secret`;
    const ref = parseSecretRef(c.binding.secret, optionPath);
    const secret = await resolveSecret(ref, {
      optionPath,
      ...(cfg.secretEnv !== null ? { env: cfg.secretEnv } : {}),
    });
    const cred = activateCredential(c.binding, secret, c.hosts, c.paths);
    if (secret.includes(cred.placeholder) || cred.placeholder.includes(secret)) {
      throw new AirlockError(
        'E_CONFIG_INVALID',
        `egress.credentials[${i}].placeholder: the placeholder and the secret overlap`,
        {
          hint: 'Leave placeholder unset to get a random one, or choose text unrelated to the secret.',
        },
      );
    }
    active.push(cred);
  }
  const credentials = new CredentialTable(active, cfg.credentialHeaders, cfg.credentialQueryParams);
  const ca = cfg.intercept ? createSessionCa() : null;
  const core = new ProxyCore(cfg, credentials, ca);
  await core.listen();
  const proxyUrl = `http://127.0.0.1:${cfg.sandboxPort}`;
  const caBundlePem = ca === null ? undefined : `${rootCertificates.join('\n')}\n${ca.certPem}`;
  return {
    socketPath: cfg.socketPath,
    ...(ca !== null ? { caCertPem: ca.certPem } : {}),
    ...(caBundlePem !== undefined ? { caBundlePem } : {}),
    sandboxEnv: () => sandboxEnv(cfg, credentials, proxyUrl, ca !== null),
    stats: () => core.stats(),
    setRules: (rules) => {
      core.setRules(rules);
    },
    tunnelHelper: cfg.tunnelHelper,
    // The same byte strings the proxy takes back out of echoed responses.
    knownSecrets: () => active.map((c) => ({ id: c.id, values: c.redactions.map((r) => r.from.toString('latin1')) })),
    close: () => core.close(),
  };
}

function sandboxEnv(
  cfg: NormalizedOptions,
  credentials: CredentialTable,
  proxyUrl: string,
  hasCa: boolean,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY']) {
    env[name] = proxyUrl;
    env[name.toLowerCase()] = proxyUrl;
  }
  // Loopback inside the sandbox is the sandbox's own; through the proxy it would mean the host's.
  env.NO_PROXY = 'localhost,127.0.0.1,::1';
  env.no_proxy = env.NO_PROXY;
  // Node >= 24 honours the proxy variables in fetch and http when this is set.
  env.NODE_USE_ENV_PROXY = '1';
  if (hasCa && cfg.caPathInSandbox !== null) {
    for (const name of [
      'SSL_CERT_FILE',
      'NODE_EXTRA_CA_CERTS',
      'REQUESTS_CA_BUNDLE',
      'GIT_SSL_CAINFO',
      'CURL_CA_BUNDLE',
    ]) {
      env[name] = cfg.caPathInSandbox;
    }
    // npm reads none of the variables above for its trust store, and a global npmrc's
    // `cafile` (the development VM's /usr/etc/npmrc sets one) would replace the bundle;
    // npm's environment config wins over its files.
    env.npm_config_cafile = cfg.caPathInSandbox;
  }
  for (const cred of credentials.all) for (const name of cred.env) env[name] = cred.placeholder;
  for (const route of cfg.baseUrls)
    for (const name of route.env) env[name] = `${proxyUrl}${BASE_URL_PREFIX}${route.name}`;
  return env;
}

/** The policy is another part's code: its answer is checked like any input. */
function isDecision(d: unknown): d is EgressDecision {
  if (typeof d !== 'object' || d === null) return false;
  const o = d as Record<string, unknown>;
  return (
    (o.verdict === 'allow' || o.verdict === 'log' || o.verdict === 'ask' || o.verdict === 'deny') &&
    typeof o.ruleId === 'string' &&
    o.ruleId !== '' &&
    typeof o.reason === 'string' &&
    (o.inspect === undefined || typeof o.inspect === 'boolean')
  );
}

function errorText(err: unknown): string {
  if (isErrnoException(err)) return `${err.code ?? 'error'}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

class ProxyCore {
  readonly #cfg: NormalizedOptions;
  readonly #credentials: CredentialTable;
  readonly #ca: SessionCa | null;
  readonly #server: Server;
  readonly #agent: PinnedAgent;
  readonly #tunnels = new WeakMap<Duplex, TunnelContext>();
  readonly #sockets = new Set<Duplex>();
  readonly #nativeTunnels = new Set<NativeTunnel>();
  readonly #budget: BudgetTracker;
  readonly #closing = new AbortController();
  readonly #instance = randomUUID().slice(0, 8);
  #seq = 0;
  #allowed = 0;
  #denied = 0;
  #listening = false;
  #helperCpuMs = 0;
  // The policy and CIDR allows in force: replaced by setRules when the session's policy changes.
  #decide: EgressDecide;
  #cidrAllow: readonly Cidr[];
  #spliced = 0;

  constructor(cfg: NormalizedOptions, credentials: CredentialTable, ca: SessionCa | null) {
    this.#cfg = cfg;
    this.#decide = cfg.decide;
    this.#cidrAllow = cfg.cidrAllow;
    this.#credentials = credentials;
    this.#ca = ca;
    this.#agent = new PinnedAgent({ connectTimeoutMs: cfg.connectTimeoutMs, extraCa: cfg.upstreamCa });
    this.#budget = new BudgetTracker(cfg.budgets, (breach) => {
      this.#emit({
        type: 'egress.budget_exceeded',
        time: new Date().toISOString(),
        budget: breach.budget,
        limit: breach.limit,
        used: breach.used,
        unit: BUDGET_UNITS[breach.budget],
        unpricedModel: breach.unpriced ?? null,
      });
    });
    this.#server = createServer({
      requestTimeout: 0,
      headersTimeout: 60_000,
      keepAliveTimeout: 65_000,
      requireHostHeader: false,
    });
    this.#server.on('connection', (socket: Duplex) => {
      this.#track(socket);
    });
    this.#server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      this.#onRequest(req, res).catch((err: unknown) => {
        this.#internalError(res, err);
      });
    });
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.#onConnect(req, socket, head).catch(() => {
        socket.destroy();
      });
    });
    // No 'upgrade' listener on purpose: Node then parses an Upgrade request as an ordinary
    // request, the hop-by-hop Upgrade header is dropped, and WebSocket is refused below.
    this.#server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === 'ECONNRESET' || !socket.writable) {
        socket.destroy();
        return;
      }
      socket.end(
        rawResponse(
          400,
          'Bad Request',
          { 'Content-Type': 'text/plain; charset=utf-8' },
          'Airlock egress proxy: malformed HTTP request.\n',
        ),
      );
    });
  }

  async listen(): Promise<void> {
    const path = this.#cfg.socketPath;
    await removeStaleSocket(path);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(
          new AirlockError(
            'E_EGRESS_LISTEN_FAILED',
            `egress.socketPath: cannot listen on ${path}: ${errorText(err)}`,
            {
              hint: 'Check that the directory exists, is writable, and that no other proxy uses this path.',
              cause: err,
            },
          ),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(path, () => {
        this.#server.removeListener('error', onError);
        // A listening server's 'error' without a listener would crash the host process.
        this.#server.on('error', () => undefined);
        resolve();
      });
    });
    this.#listening = true;
    // The runtime directory is 0700 already; this keeps the socket private even if it is not.
    await chmod(path, 0o600);
  }

  setRules(rules: { readonly decide: EgressDecide; readonly cidrAllow?: readonly string[] }): void {
    if (typeof rules.decide !== 'function')
      throw new AirlockError('E_CONFIG_INVALID', 'egress.setRules: decide must be a function', {
        hint: 'Pass the decide function of the new policy.',
      });
    const cidrAllow = parseCidrAllow(rules.cidrAllow ?? [], 'setRules.cidrAllow');
    this.#decide = rules.decide;
    this.#cidrAllow = cidrAllow;
  }

  stats(): EgressStats {
    const u = this.#budget.used;
    return {
      requests: this.#allowed + this.#denied,
      allowed: this.#allowed,
      denied: this.#denied,
      bytesUp: u.bytesUp,
      bytesDown: u.bytesDown,
      inputTokens: u.inputTokens,
      outputTokens: u.outputTokens,
      costUsd: u.costUsd,
      // A tunnel carried by the helper is two connections the helper holds.
      openConnections: this.#sockets.size + 2 * this.#nativeTunnels.size,
      tunnelsSpliced: this.#spliced,
      tunnelHelperCpuMs: this.#helperCpuMs,
      budgetsExceeded: this.#budget.breached,
    };
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort();
    const closed = this.#listening
      ? new Promise<void>((resolve) =>
          this.#server.close(() => {
            resolve();
          }),
        )
      : Promise.resolve();
    for (const s of this.#sockets) s.destroy();
    for (const t of this.#nativeTunnels) t.child.kill('SIGKILL');
    this.#agent.destroy();
    await closed;
    await unlink(this.#cfg.socketPath).catch(() => undefined);
  }

  // ---------------------------------------------------------------- bookkeeping

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }

  #emit(event: EgressEvent): void {
    try {
      this.#cfg.onEvent?.(event);
    } catch {
      // An event consumer's bug must not stop traffic or crash the host process.
    }
  }

  #newExchange(
    mode: EgressMode,
    method: string,
    scheme: 'http' | 'https',
    host: string,
    port: number,
    path: string | null,
  ): Exchange {
    return {
      id: `r${++this.#seq}`,
      started: performance.now(),
      time: new Date().toISOString(),
      mode,
      method,
      scheme,
      host,
      port,
      path,
      status: 0,
      bytesUp: 0,
      bytesDown: 0,
      verdict: 'deny',
      allowed: false,
      ruleId: '',
      reason: '',
      answer: null,
      credential: null,
      usage: null,
      error: null,
      done: false,
      settle: null,
    };
  }

  #finish(x: Exchange): void {
    if (x.done) return;
    x.done = true;
    if (x.allowed) this.#allowed++;
    else this.#denied++;
    const event: EgressRequestEvent = {
      type: 'egress.request',
      id: `${this.#instance}-${x.id}`,
      time: x.time,
      mode: x.mode,
      method: x.method,
      scheme: x.scheme,
      host: x.host,
      port: x.port,
      path: x.path,
      status: x.status,
      bytesUp: x.bytesUp,
      bytesDown: x.bytesDown,
      verdict: x.verdict,
      allowed: x.allowed,
      ruleId: x.ruleId,
      reason: x.reason,
      answer: x.answer,
      credential: x.credential,
      usage: x.usage,
      error: x.error,
      durationMs: Math.round((performance.now() - x.started) * 1000) / 1000,
    };
    this.#emit(event);
  }

  // ---------------------------------------------------------------- decisions

  async #judge(req: EgressRequest, signal: AbortSignal): Promise<Judgement> {
    let decision: EgressDecision;
    try {
      const d: unknown = this.#decide(req);
      if (!isDecision(d)) throw new Error('decide returned something that is not a decision');
      decision = d;
    } catch (err) {
      return {
        allowed: false,
        answer: null,
        decision: {
          verdict: 'deny',
          ruleId: 'egress.decide-error',
          reason: `the policy could not decide (${errorText(err)}); unparseable means deny`,
        },
      };
    }
    if (decision.verdict === 'allow' || decision.verdict === 'log')
      return { allowed: true, decision, answer: null };
    if (decision.verdict === 'deny') return { allowed: false, decision, answer: null };
    const ask = this.#cfg.ask;
    if (ask === null) {
      return {
        allowed: false,
        answer: null,
        decision: {
          ...decision,
          reason: `${decision.reason}; the rule asks a person, and no one can be asked in this session`,
        },
      };
    }
    // Aborted with a reason whenever the proxy stops waiting, so the asker can end the ask
    // (an approval queue marks it expired rather than leaving it pending for nobody).
    const controller = new AbortController();
    const onAbort = (): void => {
      controller.abort(
        this.#closing.signal.aborted
          ? 'the egress proxy closed while the request waited'
          : 'the client went away while the request waited',
      );
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => {
          controller.abort(
            `the egress proxy stopped waiting after ${Math.round(this.#cfg.askTimeoutMs / 1000)} s without an answer`,
          );
          resolve('timeout');
        }, this.#cfg.askTimeoutMs);
      });
      const aborted = new Promise<'timeout'>((resolve) => {
        if (controller.signal.aborted) resolve('timeout');
        controller.signal.addEventListener(
          'abort',
          () => {
            resolve('timeout');
          },
          { once: true },
        );
      });
      const question = {
        ...req,
        ruleId: decision.ruleId,
        reason: decision.reason,
        signal: controller.signal,
      };
      const answer = await Promise.race([
        // Through then(): an ask that throws synchronously is a deny like one that rejects.
        Promise.resolve(question)
          .then(ask)
          .then(
            (a) => (a === 'allow' ? ('allow' as const) : ('deny' as const)),
            () => 'deny' as const,
          ),
        timeout,
        aborted,
      ]);
      if (answer === 'allow') return { allowed: true, decision, answer };
      const reason =
        answer === 'timeout'
          ? `${decision.reason}; no answer came in time, which counts as a deny`
          : `${decision.reason}; a person denied it`;
      return { allowed: false, decision: { ...decision, reason }, answer };
    } finally {
      clearTimeout(timer);
      // The answer is in (or the wait is over): whatever the asker still holds can go.
      controller.abort('the egress proxy has its answer');
      signal.removeEventListener('abort', onAbort);
    }
  }

  #isLlmHost(host: string): boolean {
    return this.#cfg.llmEndpoints.some((e) => e.host.matches(host));
  }

  #needsInterception(host: string, decision: EgressDecision): boolean {
    return (
      decision.inspect === true ||
      this.#credentials.boundTo(host).length > 0 ||
      (this.#budget.tracksLlm && this.#isLlmHost(host))
    );
  }

  // ---------------------------------------------------------------- CONNECT

  async #onConnect(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const closed = new AbortController();
    socket.once('close', () => {
      closed.abort();
    });
    // close() destroys every socket, so this also fires when the proxy shuts down.
    const signal = closed.signal;
    if (this.#tunnels.has(req.socket)) {
      const x = this.#newExchange('intercepted', 'CONNECT', 'https', '', 0, null);
      this.#refuseRaw(
        socket,
        x,
        403,
        'egress.nested-connect',
        'CONNECT inside an intercepted tunnel is not allowed',
      );
      return;
    }
    const authority = parseAuthority(req.url ?? '');
    if (!authority.ok) {
      const x = this.#newExchange('tunnel', 'CONNECT', 'https', printable(req.url ?? ''), 0, null);
      this.#refuseRaw(socket, x, 400, 'egress.bad-target', authority.reason);
      return;
    }
    const { host, port } = authority.value;
    const x = this.#newExchange('tunnel', 'CONNECT', 'https', host.host, port, null);
    // While the request is judged (a person may be asked), read what the client sends so that
    // its EOF is seen: a client that closed its side has given up, and the ask must end with
    // it. What it sent meanwhile (an eager ClientHello) is kept and goes first.
    const early: Buffer[] = head.length > 0 ? [head] : [];
    let earlyBytes = head.length;
    const onEarly = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > MAX_EARLY_BYTES) socket.pause(); // enough; the rest waits in the kernel
    };
    const onEarlyEnd = (): void => {
      closed.abort();
    };
    socket.on('data', onEarly);
    socket.once('end', onEarlyEnd);
    socket.resume();
    const judgement = await this.#judge({ host: host.host, port, scheme: 'https' }, signal);
    socket.removeListener('data', onEarly);
    socket.removeListener('end', onEarlyEnd);
    socket.pause();
    head = early.length === 1 ? (early[0] as Buffer) : Buffer.concat(early);
    this.#applyJudgement(x, judgement);
    if (!judgement.allowed) {
      this.#refuseRaw(
        socket,
        x,
        403,
        judgement.decision.ruleId,
        judgement.decision.reason,
        judgement.decision.verdict,
      );
      return;
    }
    const intercept = this.#needsInterception(host.host, judgement.decision);
    if (intercept && this.#ca === null) {
      this.#refuseRaw(
        socket,
        x,
        403,
        'egress.inspect-unavailable',
        `${host.host} needs TLS interception (method/path rules, a bound credential, or an LLM budget), and interception is off for this session`,
      );
      return;
    }
    // An intercepted tunnel's requests are budgeted one by one, where a 429 can carry an
    // explanation the client shows; an opaque tunnel can only be refused here.
    const breach = intercept ? null : this.#budget.spent();
    if (breach !== null) {
      this.#refuseBudgetRaw(socket, x, breach);
      return;
    }
    const guard = await checkDestination(host, {
      cidrAllow: this.#cidrAllow,
      resolver: this.#cfg.resolver,
      timeoutMs: this.#cfg.resolveTimeoutMs,
    });
    if (signal.aborted) {
      socket.destroy();
      x.error = 'client went away';
      this.#finish(x);
      return;
    }
    if (!guard.ok) {
      this.#refuseRaw(socket, x, guard.ruleId === 'egress.dns' ? 502 : 403, guard.ruleId, guard.reason);
      return;
    }
    // An opaque tunnel dials first, so that an unreachable destination is a 502 the client
    // can read; intercepted requests dial per request through the pooled agent.
    let upstream: Socket | null = null;
    if (!intercept) {
      try {
        upstream = await dialAddresses(guard.addresses, port, this.#cfg.connectTimeoutMs);
      } catch (err) {
        x.error = errorText(err);
        x.status = 502;
        const body = `Airlock egress proxy: the connection was allowed, but ${host.host}:${port} did not answer (${x.error}).\n`;
        if (socket.writable)
          socket.end(rawResponse(502, 'Bad Gateway', { 'Content-Type': 'text/plain; charset=utf-8' }, body));
        this.#finish(x);
        return;
      }
      this.#track(upstream);
      upstream.on('error', (err) => {
        x.error ??= errorText(err);
        upstream?.destroy();
      });
      if (signal.aborted) {
        upstream.destroy();
        socket.destroy();
        x.error = 'client went away';
        this.#finish(x);
        return;
      }
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    x.status = 200;
    const start = await peekTunnel(socket, head, TUNNEL_START_TIMEOUT_MS);
    const ctx = (scheme: 'http' | 'https'): TunnelContext => ({
      host,
      port,
      scheme,
      addresses: guard.addresses,
      requests: 0,
    });
    switch (start.kind) {
      case 'closed':
        upstream?.destroy();
        socket.destroy();
        x.status = 0;
        x.error = 'the client closed the tunnel before sending anything';
        this.#finish(x);
        return;
      case 'http':
        // Cleartext HTTP inside CONNECT: parse it and judge every request, like plain proxying.
        upstream?.destroy();
        this.#serveTunnelHttp(new PrefixedStream(socket, start.data), ctx('http'), x);
        return;
      case 'tls': {
        if (upstream === null) {
          // No upstream was dialled because this tunnel is intercepted (a CA exists: checked above).
          if (this.#ca === null) throw new Error('internal: interception without a CA');
          socket.unshift(start.data);
          this.#intercept(socket, ctx('https'), x, this.#ca);
          return;
        }
        const fronting = this.#frontingReason(start.sni, host);
        if (fronting !== null) {
          upstream.destroy();
          this.#cutTunnel(socket, x, 'egress.sni-mismatch', fronting);
          return;
        }
        this.#splice(socket, upstream, start.data, x);
        return;
      }
      case 'other':
        if (!this.#cfg.requireTlsInTunnels && upstream !== null) {
          this.#splice(socket, upstream, start.data, x);
          return;
        }
        upstream?.destroy();
        this.#cutTunnel(
          socket,
          x,
          'egress.tunnel-not-tls',
          `${start.reason}; tunnels carry TLS or HTTP only`,
        );
        return;
    }
  }

  /** Why a ClientHello's server name does not fit the CONNECT target, or null when it does. */
  #frontingReason(sni: string | null, host: ParsedHost): string | null {
    if (sni === null) {
      // Clients send no SNI to an IP address; to a name, a missing SNI is fronting-shaped.
      return host.kind === 'name'
        ? `the TLS ClientHello names no server, but the tunnel was opened to ${host.host}`
        : null;
    }
    const parsed = parseHost(sni);
    if (parsed.ok && parsed.value.host === host.host) return null;
    return `the TLS server name "${printable(sni)}" differs from the tunnel target ${host.host} (domain fronting)`;
  }

  #cutTunnel(socket: Duplex, x: Exchange, ruleId: string, reason: string): void {
    x.allowed = false;
    x.verdict = 'deny';
    x.ruleId = ruleId;
    x.reason = reason;
    x.status = 0;
    socket.destroy();
    this.#finish(x);
  }

  #applyJudgement(x: Exchange, j: Judgement): void {
    x.verdict = j.decision.verdict;
    x.ruleId = j.decision.ruleId;
    x.reason = j.decision.reason;
    x.answer = j.answer;
    x.allowed = j.allowed;
  }

  #refuseRaw(
    socket: Duplex,
    x: Exchange,
    status: 400 | 403 | 502,
    ruleId: string,
    reason: string,
    verdict: EgressVerdict = 'deny',
  ): void {
    x.verdict = verdict;
    x.allowed = false;
    x.ruleId = ruleId;
    x.reason = reason;
    x.status = status;
    const body = denialBody({
      ruleId,
      reason,
      method: 'CONNECT',
      scheme: 'https',
      host: x.host,
      port: x.port,
      path: null,
    });
    const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
    if (status === 403) headers[DENIED_HEADER] = headerSafe(ruleId);
    const text = status === 403 ? 'Forbidden' : status === 400 ? 'Bad Request' : 'Bad Gateway';
    if (socket.writable) socket.end(rawResponse(status, text, headers, body));
    this.#finish(x);
  }

  #refuseBudgetRaw(socket: Duplex, x: Exchange, breach: BudgetBreach): void {
    this.#budget.report(breach);
    x.status = 429;
    x.verdict = 'deny';
    x.allowed = false;
    x.ruleId = `egress.budget.${breach.budget}`;
    x.reason = `the session's ${breach.budget} budget is spent`;
    const body = budgetBody(breach, {
      method: 'CONNECT',
      scheme: 'https',
      host: x.host,
      port: x.port,
      path: null,
    });
    if (socket.writable) {
      socket.end(
        rawResponse(
          429,
          'Too Many Requests',
          { 'Content-Type': 'text/plain; charset=utf-8', [DENIED_HEADER]: headerSafe(x.ruleId) },
          body,
        ),
      );
    }
    this.#finish(x);
  }

  /** Splices an opaque tunnel, counting bytes against the budgets. */
  #splice(socket: Duplex, upstream: Socket, first: Buffer, x: Exchange): void {
    // Checked again now: other requests may have spent the budget while this one waited.
    const late = this.#budget.spent();
    if (late !== null) {
      upstream.destroy();
      this.#budget.report(late);
      this.#cutTunnel(
        socket,
        x,
        `egress.budget.${late.budget}`,
        `the session's ${late.budget} budget is spent`,
      );
      return;
    }
    this.#budget.addRequest();
    // Without a byte budget nothing needs to see the bytes: the helper splices them in the
    // kernel. Under a byte budget, Node counts them as they flow so it can cut on the byte.
    if (this.#cfg.tunnelHelper !== null && !this.#budget.tracksBytes) {
      this.#spliceNative(socket, upstream, first, x, this.#cfg.tunnelHelper);
      return;
    }
    this.#spliceInNode(socket, upstream, first, x);
  }

  /** Hands the tunnel to the helper; if the handoff cannot happen, Node carries it. */
  #spliceNative(socket: Duplex, upstream: Socket, first: Buffer, x: Exchange, helper: string): void {
    handOffTunnel(helper, socket, upstream, first, TUNNEL_LINGER_MS).then(
      (tunnel) => {
        if (tunnel === null) {
          // `first` is written already; the tunnel ended or the helper did not start.
          this.#spliceInNode(socket, upstream, Buffer.alloc(0), x);
          return;
        }
        this.#nativeTunnels.add(tunnel);
        this.#spliced++;
        void tunnel.done.then((r) => {
          this.#nativeTunnels.delete(tunnel);
          this.#helperCpuMs += r.cpuMs;
          x.bytesUp = tunnel.movedByNode.up + r.bytesUp;
          x.bytesDown = tunnel.movedByNode.down + r.bytesDown;
          if (r.error !== null) x.error ??= r.error;
          this.#budget.addBytesUp(x.bytesUp);
          this.#budget.addBytesDown(x.bytesDown);
          this.#finish(x);
        });
      },
      (err: unknown) => {
        x.error ??= errorText(err);
        socket.destroy();
        upstream.destroy();
        this.#finish(x);
      },
    );
  }

  /** Copies a tunnel through Node streams. */
  #spliceInNode(socket: Duplex, upstream: Socket, first: Buffer, x: Exchange): void {
    if (first.length > 0) upstream.write(first);
    socket.pipe(upstream);
    upstream.pipe(socket);
    if (this.#budget.tracksBytes) {
      // Count as it flows, so a transfer can be cut the moment it passes the budget.
      const cut = (which: string): void => {
        x.error = `cut: the ${which} budget is spent`;
        socket.destroy();
        upstream.destroy();
      };
      x.bytesUp += first.length;
      if (!this.#budget.addBytesUp(first.length)) cut('bytesUp');
      socket.on('data', (chunk: Buffer) => {
        x.bytesUp += chunk.length;
        if (!this.#budget.addBytesUp(chunk.length)) cut('bytesUp');
      });
      upstream.on('data', (chunk: Buffer) => {
        x.bytesDown += chunk.length;
        if (!this.#budget.addBytesDown(chunk.length)) cut('bytesDown');
      });
    }
    let open = 2;
    const onClose = (): void => {
      if (--open > 0) return;
      if (!this.#budget.tracksBytes) {
        // No byte budget: the socket's own counters, read once, cost nothing per chunk.
        // A fresh socket: everything it carried is the tunnel's (a failed handoff's writes too).
        x.bytesUp = upstream.bytesWritten;
        x.bytesDown = upstream.bytesRead;
        this.#budget.addBytesUp(x.bytesUp);
        this.#budget.addBytesDown(x.bytesDown);
      }
      this.#finish(x);
    };
    // When one side closes, the other may still hold bytes on their way out: end it (flush,
    // then FIN) instead of destroying it, which would drop the tail of a download. A side
    // that does not close by itself within the linger time is destroyed.
    const linger = (other: Duplex): void => {
      if (other.destroyed) return;
      other.end();
      // Nobody reads what the other side still sends; let it drain instead of stalling.
      other.resume();
      const timer = setTimeout(() => other.destroy(), TUNNEL_LINGER_MS);
      timer.unref();
      other.once('close', () => {
        clearTimeout(timer);
      });
    };
    socket.once('close', () => {
      linger(upstream);
      onClose();
    });
    upstream.once('close', () => {
      linger(socket);
      onClose();
    });
  }

  /** Hands a cleartext tunnel to the HTTP parser; each request in it is judged on its own. */
  #serveTunnelHttp(stream: Duplex, ctx: TunnelContext, x: Exchange): void {
    x.mode = 'intercepted';
    this.#tunnels.set(stream, ctx);
    stream.on('error', () => stream.destroy());
    stream.once('close', () => {
      if (ctx.requests === 0 && !x.done) {
        x.status = 0;
        x.error = 'the tunnel closed before a complete request';
        this.#finish(x);
      }
    });
    this.#server.emit('connection', stream);
  }

  #intercept(socket: Duplex, ctx: TunnelContext, x: Exchange, ca: SessionCa): void {
    x.mode = 'intercepted';
    const { host } = ctx;
    const secureContext = ca.contextFor(host);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        const sni = parseHost(servername);
        if (!sni.ok || sni.value.host !== host.host) {
          x.ruleId = 'egress.sni-mismatch';
          x.reason = `the TLS server name "${printable(servername)}" differs from the tunnel target ${host.host} (domain fronting)`;
          x.allowed = false;
          x.verdict = 'deny';
          cb(new Error('SNI does not match the CONNECT target'), undefined);
          return;
        }
        cb(null, secureContext);
      },
    });
    this.#tunnels.set(tls, ctx);
    tls.on('error', (err) => {
      // Only a tunnel that failed before its first request gets an event of its own;
      // otherwise each request inside already has one.
      if (ctx.requests === 0 && !x.done) {
        x.status = 0;
        if (x.ruleId !== 'egress.sni-mismatch') x.error = `TLS with the client failed: ${errorText(err)}`;
        this.#finish(x);
      }
      tls.destroy();
    });
    tls.once('close', () => {
      socket.destroy();
      if (ctx.requests === 0 && !x.done) {
        x.status = 0;
        x.error ??= 'the tunnel closed before a request';
        this.#finish(x);
      }
    });
    this.#server.emit('connection', tls);
  }

  // ---------------------------------------------------------------- HTTP

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const tunnel = this.#tunnels.get(req.socket);
    if (tunnel !== undefined) tunnel.requests++;
    const route = routeRequest(req.url ?? '', req.headers.host, tunnel, this.#cfg);
    if (!route.ok) {
      const x = this.#newExchange(
        route.mode,
        req.method ?? 'GET',
        route.scheme,
        route.host,
        route.port,
        null,
      );
      this.#refuseHttp(res, x, route.status, route.ruleId, route.reason);
      return;
    }
    await this.#serveHttp(req, res, route.value);
  }

  #refuseHttp(
    res: ServerResponse,
    x: Exchange,
    status: 400 | 403,
    ruleId: string,
    reason: string,
    verdict: EgressVerdict = 'deny',
  ): void {
    x.verdict = verdict;
    x.allowed = false;
    x.ruleId = ruleId;
    x.reason = reason;
    x.status = status;
    const body = denialBody({
      ruleId,
      reason,
      method: x.method,
      scheme: x.scheme,
      host: x.host,
      port: x.port,
      path: x.path,
    });
    if (!res.headersSent) {
      const headers: Record<string, string> = {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      };
      if (status === 403) {
        headers[DENIED_HEADER] = headerSafe(ruleId);
        headers[NO_RETRY_HEADER] = 'false';
      }
      res.writeHead(status, headers);
      res.end(body);
    }
    this.#finish(x);
  }

  #refuseBudgetHttp(res: ServerResponse, x: Exchange, breach: BudgetBreach): void {
    this.#budget.report(breach);
    x.status = 429;
    x.verdict = 'deny';
    x.allowed = false;
    x.ruleId = `egress.budget.${breach.budget}`;
    x.reason = `the session's ${breach.budget} budget is spent`;
    const body = budgetBody(breach, {
      method: x.method,
      scheme: x.scheme,
      host: x.host,
      port: x.port,
      path: x.path,
    });
    if (!res.headersSent) {
      res.writeHead(429, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
        [DENIED_HEADER]: headerSafe(x.ruleId),
        [NO_RETRY_HEADER]: 'false',
      });
      res.end(body);
    }
    this.#finish(x);
  }

  #internalError(res: ServerResponse, err: unknown): void {
    if (!res.headersSent) {
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`Airlock egress proxy: internal error (${errorText(err)}).\n`);
    } else {
      res.destroy();
    }
  }

  #upstreamError(res: ServerResponse, x: Exchange, err: unknown): void {
    x.error = errorText(err);
    const timeout = isErrnoException(err) && err.code === 'ETIMEDOUT';
    x.status = timeout ? 504 : 502;
    if (!res.headersSent) {
      const body = `Airlock egress proxy: the request was allowed, but ${x.host}:${x.port} could not be reached (${x.error}).\n`;
      res.writeHead(x.status, {
        'Content-Type': 'text/plain; charset=utf-8',
        'Content-Length': String(Buffer.byteLength(body)),
      });
      res.end(body);
    } else {
      x.status = 0;
      res.destroy();
    }
  }

  async #serveHttp(req: IncomingMessage, res: ServerResponse, route: HttpRoute): Promise<void> {
    const method = req.method ?? 'GET';
    const x = this.#newExchange(route.mode, method, route.scheme, route.host.host, route.port, route.path);
    const gone = new AbortController();
    res.once('close', () => {
      gone.abort();
      if (!res.writableFinished) x.error ??= 'client went away';
      if (x.settle === null) {
        this.#finish(x);
        return;
      }
      // Usage is read from the upstream side, which may end a moment after the client's.
      const timer = setTimeout(() => {
        this.#finish(x);
      }, 5_000);
      void x.settle.then(() => {
        clearTimeout(timer);
        this.#finish(x);
      });
    });
    // close() destroys every socket, so this also fires when the proxy shuts down.
    const signal = gone.signal;

    const breach = this.#budget.spent();
    if (breach !== null) {
      this.#refuseBudgetHttp(res, x, breach);
      return;
    }
    if ((req.headers.upgrade ?? '').toLowerCase().includes('websocket')) {
      this.#refuseHttp(
        res,
        x,
        403,
        'egress.upgrade-unsupported',
        'WebSocket upgrades are not supported by the egress proxy yet',
      );
      return;
    }
    const judgement = await this.#judge(
      { host: route.host.host, port: route.port, scheme: route.scheme, method, path: route.path },
      signal,
    );
    this.#applyJudgement(x, judgement);
    if (!judgement.allowed) {
      this.#refuseHttp(
        res,
        x,
        403,
        judgement.decision.ruleId,
        judgement.decision.reason,
        judgement.decision.verdict,
      );
      return;
    }
    const headersIn = endToEnd(pairs(req.rawHeaders)).filter(([k]) => k.toLowerCase() !== 'host');
    const cred = this.#credentials.apply({
      host: route.host.host,
      method,
      path: route.path,
      query: route.query,
      scheme: route.scheme,
      headers: headersIn,
    });
    if (cred.kind === 'deny') {
      this.#refuseHttp(res, x, 403, cred.ruleId, cred.reason);
      return;
    }
    const injected = cred.kind === 'bound' ? cred.injected : null;
    x.credential = injected?.id ?? null;
    let addresses = route.addresses;
    if (addresses === null) {
      const guard = await checkDestination(route.host, {
        cidrAllow: this.#cidrAllow,
        resolver: this.#cfg.resolver,
        timeoutMs: this.#cfg.resolveTimeoutMs,
      });
      if (!guard.ok) {
        if (guard.ruleId === 'egress.dns') {
          x.allowed = true;
          this.#upstreamError(res, x, Object.assign(new Error(guard.reason), { code: 'ENOTFOUND' }));
          return;
        }
        this.#refuseHttp(res, x, 403, guard.ruleId, guard.reason);
        return;
      }
      addresses = guard.addresses;
    }
    if (signal.aborted) return;
    // Checked again now: other requests may have spent the budget while this one waited.
    const late = this.#budget.spent();
    if (late !== null) {
      this.#refuseBudgetHttp(res, x, late);
      return;
    }
    this.#budget.addRequest();

    const headers: HeaderPairs = cred.kind === 'bound' ? cred.headers : headersIn;
    const llmKind = this.#llmKind(route, method);
    // Identity encoding keeps usage and echoed secrets readable without decompressing.
    const wantIdentity = llmKind !== null || injected !== null;
    const outHeaders: HeaderPairs = [['Host', formatAuthority(route.host, route.port, route.scheme)]];
    for (const h of headers)
      if (!(wantIdentity && h[0].toLowerCase() === 'accept-encoding')) outHeaders.push(h);
    if (wantIdentity) outHeaders.push(['Accept-Encoding', 'identity']);

    const target: UpstreamTarget = {
      addresses,
      port: route.port,
      tls: route.scheme === 'https',
      servername: route.host.kind === 'name' ? route.host.host : null,
    };
    const upReq = httpRequest(
      withTarget(
        {
          agent: this.#agent,
          host: addresses[0] ?? '',
          port: route.port,
          method,
          path: `${route.path}${route.query}`,
          headers: outHeaders.flat(),
          setHost: false,
        },
        target,
      ),
    );
    signal.addEventListener('abort', () => upReq.destroy(), { once: true });
    upReq.on('error', (err) => {
      this.#upstreamError(res, x, err);
    });
    req.on('data', (chunk: Buffer) => {
      x.bytesUp += chunk.length;
      if (!this.#budget.addBytesUp(chunk.length)) {
        x.error = 'cut: the bytesUp budget is spent';
        upReq.destroy();
        req.destroy();
      }
    });
    req.pipe(upReq);
    upReq.on('response', (upRes) => {
      try {
        this.#relayResponse(upRes, res, x, injected, llmKind);
      } catch (err) {
        // writeHead refuses header values Node considers invalid; answer 502 rather than crash.
        upRes.destroy();
        this.#upstreamError(res, x, err);
      }
    });
  }

  /**
   * The kind of LLM endpoint a visible request goes to, or null. Usage is read whenever the
   * proxy sees such a request (base-URL mode, plain HTTP, an intercepted tunnel), budgets or
   * not, so the request's event carries it; only POSTs create messages and carry usage.
   */
  #llmKind(route: HttpRoute, method: string): ReturnType<typeof endpointKind> {
    if (method !== 'POST') return null;
    const api = route.llmApi ?? this.#cfg.llmEndpoints.find((e) => e.host.matches(route.host.host))?.api;
    return api === undefined ? null : endpointKind(api, route.path);
  }

  /**
   * Reads an LLM response's usage into the budgets and the event. Resolves when done, so
   * the request's event (emitted when the client side closes) can wait for it.
   */
  #collectUsage(
    upRes: IncomingMessage,
    x: Exchange,
    kind: NonNullable<ReturnType<typeof endpointKind>>,
    dec: Duplex | null,
    encoding: string,
  ): Promise<void> {
    const collector = new UsageCollector(kind, upRes.headers['content-type']);
    return new Promise<void>((resolve) => {
      let finished = false;
      const finalize = (): void => {
        if (finished) return;
        finished = true;
        const usage = collector.end();
        if (usage === null) {
          // Only a budget needs the figure; without one a response without usage is no fault.
          if (this.#budget.tracksLlm) x.error ??= 'no usage found in the LLM response';
        } else {
          const price = priceFor(usage.model, this.#cfg.prices);
          const cost = price === null ? null : costOf(usage, price);
          x.usage = { ...usage, costUsd: cost };
          this.#budget.addUsage(usage, cost);
        }
        resolve();
      };
      if (encoding !== 'identity' && dec === null) {
        x.error ??= `LLM usage unreadable: content-encoding "${encoding}"`;
        resolve();
        return;
      }
      const source: Readable = dec ?? upRes;
      if (dec !== null) {
        upRes.on('data', (chunk: Buffer) => dec.write(chunk));
        upRes.on('end', () => dec.end());
        upRes.on('close', () => {
          if (!upRes.complete) dec.destroy();
        });
      }
      source.on('data', (chunk: Buffer) => {
        collector.write(chunk);
      });
      source.once('end', finalize);
      source.once('error', () => {
        finished = true;
        resolve();
      });
      source.once('close', () => {
        // Cut short: whatever usage was seen so far still counts.
        finalize();
      });
    });
  }

  #relayResponse(
    upRes: IncomingMessage,
    res: ServerResponse,
    x: Exchange,
    injected: ActiveCredential | null,
    llmKind: ReturnType<typeof endpointKind>,
  ): void {
    const status = upRes.statusCode ?? 502;
    x.status = status;
    const encoding = (upRes.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    const decoder = (): Duplex | null =>
      encoding === 'gzip' || encoding === 'x-gzip'
        ? createGunzip()
        : encoding === 'deflate'
          ? createInflate()
          : encoding === 'br'
            ? createBrotliDecompress()
            : null;
    let headers = endToEnd(pairs(upRes.rawHeaders));
    let body: Readable = upRes;
    if (injected !== null) {
      // Take an echoed secret back out. Compressed bodies are decoded first; an encoding
      // the proxy cannot decode cannot be checked, so it is not passed on.
      const redactions = injected.redactions;
      headers = headers.map(([k, v]) => [
        k,
        replaceAll(Buffer.from(v, 'latin1'), redactions).toString('latin1'),
      ]);
      const dec = encoding === 'identity' ? null : decoder();
      if (encoding !== 'identity' && dec === null) {
        upRes.destroy();
        this.#upstreamError(
          res,
          x,
          new Error(
            `the response to a credential-bearing request uses content-encoding "${encoding}", which Airlock cannot check for an echoed secret`,
          ),
        );
        return;
      }
      headers = headers.filter(
        ([k]) =>
          k.toLowerCase() !== 'content-length' && (dec === null || k.toLowerCase() !== 'content-encoding'),
      );
      const replacer = new ReplaceStream(redactions);
      if (dec !== null) {
        upRes.pipe(dec).pipe(replacer);
        dec.on('error', (err) => replacer.destroy(err));
      } else {
        upRes.pipe(replacer);
      }
      body = replacer;
    }
    if (llmKind !== null && status < 300)
      x.settle = this.#collectUsage(upRes, x, llmKind, encoding === 'identity' ? null : decoder(), encoding);
    upRes.on('data', (chunk: Buffer) => {
      x.bytesDown += chunk.length;
      if (!this.#budget.addBytesDown(chunk.length)) {
        x.error = 'cut: the bytesDown budget is spent';
        upRes.destroy();
        res.destroy();
      }
    });
    upRes.on('error', (err) => {
      x.error ??= errorText(err);
      res.destroy();
    });
    body.on('error', (err) => {
      x.error ??= errorText(err);
      res.destroy();
    });
    res.writeHead(status, upRes.statusMessage, headers.flat());
    body.pipe(res);
  }
}
