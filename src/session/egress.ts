/**
 * The session's egress: one proxy per session on a unix socket in the session's host-side
 * runtime directory, bridged by the supervisor to a loopback port inside the sandbox. The
 * policy's `network` section is the one source of truth: every request is judged by the
 * policy part's own `decide`, its credentials become the proxy's bindings and its budgets
 * the proxy's budgets. Every proxy event becomes an event on the session's channel, so the
 * audit log records it.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createEgressProxy,
  type BaseUrlRoute,
  type CredentialBinding,
  type CredentialInjection,
  type EgressAsk,
  type EgressBudgets,
  type EgressDecide,
  type EgressDecision,
  type EgressEvent,
  type EgressProxy,
  type EgressRequest,
  type EgressResolver,
  type LlmEndpoint,
  type ModelPrice,
} from '../egress/index.js';
import type { ApprovalEvent, ApprovalQueue, NetworkActionLike } from '../approvals/index.js';
import { AirlockError } from '../errors/index.js';
import type { BudgetExceededData, NetworkRequestData } from '../events/index.js';
import {
  createDecideContext,
  decide,
  networkNeedsInspection,
  type CredentialConfig,
  type ModelPriceConfig,
  type NetworkAction,
  type Policy,
} from '../policy/index.js';
import type { Bridge, ExtraBind } from '../sandbox/index.js';

/** Where the egress directory (socket and CA bundle) is mounted inside the sandbox. */
export const EGRESS_DIR_IN_SANDBOX = '/run/airlock/egress';
/** The proxy's socket inside the sandbox (the bridge connects to it). */
export const EGRESS_SOCKET_IN_SANDBOX = `${EGRESS_DIR_IN_SANDBOX}/egress.sock`;
/** The CA bundle inside the sandbox: system roots plus the session CA. */
export const EGRESS_CA_IN_SANDBOX = `${EGRESS_DIR_IN_SANDBOX}/ca-bundle.pem`;
/** The loopback port the supervisor's bridge listens on inside, by default. */
export const DEFAULT_EGRESS_PORT = 3128;

/** Options of a session's egress (`SessionOptions.egress`). */
export interface SessionEgressOptions {
  /** The bridge's loopback port inside the sandbox (default 3128). */
  port?: number;
  /** How long an `ask` may wait for a person, ms (default the proxy's, 120 000). */
  askTimeoutMs?: number;
  /**
   * LLM prices, added to the policy's `network.llm.prices` (an entry here wins over the
   * policy's for the same key). With a cost budget, a model without a price spends it.
   */
  llm?: { prices?: Readonly<Record<string, ModelPrice>> };
  /**
   * Test hooks, for system tests with fake upstreams on loopback: a scripted resolver (names
   * such as `api.example.test` mapped to 127.0.0.1) and extra roots for upstream TLS. The
   * SSRF guard still applies: loopback stays refused unless a policy `cidr` rule allows it.
   * Not reachable from the command line or a named session.
   */
  testing?: { resolver?: EgressResolver; upstreamCa?: string | readonly string[] };
}

/** The value of `SessionOptions.egress`. */
export type SessionEgressSetting = boolean | SessionEgressOptions;

/** True when a policy's network section can let anything out, so the session needs a proxy. */
export function policyWantsEgress(policy: Policy | undefined): boolean {
  if (policy === undefined) return false;
  const n = policy.compiled.network;
  return n.rules.length > 0 || n.default !== 'deny' || n.credentials.length > 0 || n.baseUrls.length > 0;
}

/** Whether this session runs a proxy: explicit `egress` wins; otherwise the policy decides. */
export function egressEnabled(setting: SessionEgressSetting | undefined, policy: Policy | undefined): boolean {
  if (setting === undefined) return policyWantsEgress(policy);
  return setting !== false;
}

const CONTEXT = createDecideContext();

function toAction(req: EgressRequest, method: string | undefined): NetworkAction {
  return {
    kind: 'network',
    host: req.host,
    port: req.port,
    scheme: req.scheme,
    ...(method === undefined ? {} : { method }),
    ...(req.path === undefined ? {} : { path: req.path }),
  };
}

/**
 * The proxy's decide function from a policy, through the policy part's own `decide`.
 *
 * A request whose method and path are visible (plain HTTP, or inside an intercepted tunnel)
 * is judged as it is. A CONNECT tunnel is judged as method `CONNECT` (the policy's word for
 * a tunnel that is not intercepted), unless some rule for the host and port looks at methods
 * or paths: then the tunnel opens only with interception and every request inside is judged
 * on its own, so no rule is bypassed by an opaque tunnel. Without a policy, nothing is
 * allowed.
 */
export function createPolicyDecide(policy: Policy | undefined): EgressDecide {
  return (req: EgressRequest): EgressDecision => {
    if (policy === undefined) {
      return { verdict: 'deny', ruleId: 'network.no-policy', reason: 'the session has no policy with network rules' };
    }
    if (req.method !== undefined && req.path !== undefined) {
      const d = decide(toAction(req, req.method), policy, CONTEXT);
      return { verdict: d.verdict, ruleId: d.ruleId, reason: d.reason };
    }
    const tunnel = decide(toAction(req, 'CONNECT'), policy, CONTEXT);
    if (tunnel.ruleId === 'network.invalid-host' || tunnel.ruleId === 'network.invalid-port') {
      return { verdict: 'deny', ruleId: tunnel.ruleId, reason: tunnel.reason };
    }
    if (networkNeedsInspection(policy, req.host, req.port)) {
      return {
        verdict: 'allow',
        ruleId: 'network.inspect',
        reason: `rules for ${req.host}:${req.port} look at methods or paths; each request inside is judged`,
        inspect: true,
      };
    }
    return { verdict: tunnel.verdict, ruleId: tunnel.ruleId, reason: tunnel.reason };
  };
}

/** The policy's credential injection in the proxy's terms. */
function toInjection(inject: CredentialConfig['inject'], at: string): CredentialInjection {
  if ('basic' in inject) return { type: 'basic', username: inject.basic.username };
  const format = inject.format ?? '{secret}';
  const i = format.indexOf('{secret}');
  if (i < 0 || format.indexOf('{secret}', i + 1) >= 0) {
    throw new AirlockError('E_POLICY_INVALID', `${at}.inject.format: "${format}" must contain "{secret}" exactly once`, {
      hint: 'Write the header value with one "{secret}", such as "Bearer {secret}".',
    });
  }
  const prefix = format.slice(0, i);
  const suffix = format.slice(i + '{secret}'.length);
  return {
    type: 'header',
    name: inject.header.toLowerCase(),
    ...(prefix === '' ? {} : { prefix }),
    ...(suffix === '' ? {} : { suffix }),
  };
}

/** The policy's credentials as proxy bindings (secrets stay references; the proxy resolves them). */
export function credentialBindings(policy: Policy | undefined): CredentialBinding[] {
  if (policy === undefined) return [];
  return policy.compiled.network.credentials.map((c, i) => {
    const at = `network.credentials[${i}]`;
    return {
      id: c.id ?? `credential-${i}`,
      secret: c.secret,
      hosts: [...c.hosts],
      ...(c.methods === undefined ? {} : { methods: [...c.methods] }),
      ...(c.paths === undefined ? {} : { paths: [...c.paths] }),
      ...(c.env === undefined ? {} : { env: [...c.env] }),
      inject: toInjection(c.inject, at),
    };
  });
}

/** The policy's budgets as proxy budgets. */
export function egressBudgets(policy: Policy | undefined): EgressBudgets | undefined {
  const b = policy?.compiled.network.budgets ?? null;
  if (b === null) return undefined;
  return {
    ...(b.requests === undefined ? {} : { requests: b.requests }),
    ...(b.bytesUp === undefined ? {} : { bytesUp: b.bytesUp }),
    ...(b.bytesDown === undefined ? {} : { bytesDown: b.bytesDown }),
    ...(b.tokens === undefined ? {} : { tokens: b.tokens }),
    ...(b.cost === undefined ? {} : { costUsd: b.cost }),
  };
}

/** The policy's base URLs as proxy routes. */
export function baseUrlRoutes(policy: Policy | undefined): BaseUrlRoute[] {
  if (policy === undefined) return [];
  return policy.compiled.network.baseUrls.map((b) => ({
    name: b.name,
    upstream: b.upstream,
    ...(b.env === undefined ? {} : { env: [...b.env] }),
    ...(b.api === undefined ? {} : { api: b.api }),
  }));
}

/**
 * The proxy's `llm` option: the policy's endpoints (when it names any) and its prices, with
 * the caller's prices over them key by key.
 *
 * A cost budget needs prices: without any, the first LLM response would spend it (a model
 * without a price cannot be bounded, so it is never counted as free). That is refused here,
 * before anything runs, rather than discovered at the agent's first request.
 */
export function egressLlm(
  policy: Policy | undefined,
  extraPrices: Readonly<Record<string, ModelPrice>> | undefined,
): { endpoints?: LlmEndpoint[]; prices: Record<string, ModelPrice> } {
  const n = policy?.compiled.network;
  const prices: Record<string, ModelPrice> = Object.fromEntries([
    ...Object.entries(n?.prices ?? {}).map(([model, p]): [string, ModelPrice] => [model, toModelPrice(p)]),
    ...Object.entries(extraPrices ?? {}),
  ]);
  if (n?.budgets?.cost !== undefined && Object.keys(prices).length === 0) {
    throw new AirlockError(
      'E_POLICY_INVALID',
      `network.budgets.cost: a cost budget of ${n.budgets.cost} USD is set, but no model has a price, so the first LLM response would spend it`,
      {
        hint: 'Add network.llm.prices to the policy, e.g. { "claude-sonnet-4*": { inputPerMTok: 3, outputPerMTok: 15 }, "*": { inputPerMTok: 15, outputPerMTok: 75 } } ("*" prices every other model), or drop the cost budget.',
      },
    );
  }
  return {
    ...(n?.llmEndpoints == null ? {} : { endpoints: n.llmEndpoints.map((e) => ({ host: e.host, api: e.api })) }),
    prices,
  };
}

function toModelPrice(p: ModelPriceConfig): ModelPrice {
  return {
    inputPerMTok: p.inputPerMTok,
    outputPerMTok: p.outputPerMTok,
    ...(p.cacheReadPerMTok === undefined ? {} : { cacheReadPerMTok: p.cacheReadPerMTok }),
    ...(p.cacheWritePerMTok === undefined ? {} : { cacheWritePerMTok: p.cacheWritePerMTok }),
  };
}

/**
 * CIDR ranges the policy lets out (rules with `cidr` and a level other than deny): the SSRF
 * guard refuses private, loopback and metadata addresses unless one of these covers them.
 */
export function allowedCidrs(policy: Policy | undefined): string[] {
  if (policy === undefined) return [];
  const out = new Set<string>();
  for (const r of policy.compiled.network.rules) {
    if (r.level === 'deny') continue;
    for (const c of r.cidrs) out.add(c.source.trim());
  }
  return [...out];
}

/** A network request event as the session records it: never a header value or query. */
export function toNetworkRequestData(e: Extract<EgressEvent, { type: 'egress.request' }>): NetworkRequestData {
  return {
    requestId: e.id,
    method: e.method,
    scheme: e.scheme,
    mode: e.mode,
    host: e.host,
    port: e.port,
    ...(e.path === null ? {} : { path: e.path }),
    verdict: e.verdict,
    allowed: e.allowed,
    rule: e.ruleId,
    reason: e.reason,
    ...(e.status === 0 ? {} : { status: e.status }),
    bytesSent: e.bytesUp,
    bytesReceived: e.bytesDown,
    durationMs: e.durationMs,
    ...(e.credential === null ? {} : { injectedCredentials: [e.credential] }),
    ...(e.answer === null ? {} : { answer: e.answer }),
    ...(e.error === null ? {} : { error: e.error }),
    ...(e.usage === null
      ? {}
      : {
          usage: {
            ...(e.usage.model === null ? {} : { model: e.usage.model }),
            inputTokens: e.usage.inputTokens,
            outputTokens: e.usage.outputTokens,
            cacheReadTokens: e.usage.cacheReadTokens,
            cacheWriteTokens: e.usage.cacheWriteTokens,
            ...(e.usage.costUsd === null ? {} : { costUsd: e.usage.costUsd }),
          },
        }),
  };
}

/** A budget event as the session records it. */
export function toBudgetExceededData(e: Extract<EgressEvent, { type: 'egress.budget_exceeded' }>): BudgetExceededData {
  return {
    budget: e.budget,
    limit: e.limit,
    used: e.used,
    unit: e.unit,
    ...(e.unpricedModel === null ? {} : { subject: `model ${e.unpricedModel} has no price` }),
  };
}

/** Options of {@link createApprovalAsk}. */
export interface ApprovalAskOptions {
  queue: Pick<ApprovalQueue, 'request' | 'authorize'>;
  sessionId: string;
  sessionName?: string;
  /** The policy file a `rule` grant would be written to. */
  policyFile?: string;
  /** How long an ask waits for a person, ms. */
  timeoutMs?: number;
  /** The session's event channel, for `approval.*` events. */
  publish: (event: ApprovalEvent) => void;
  /**
   * Called after a person approved with scope `rule` (the rule is in the policy file now):
   * the session reloads its policy and hands it to the proxy (`SessionEgress.setPolicy`).
   */
  onRuleGranted?: (approvalId: string) => void;
}

/**
 * The proxy's `ask`, through the session's approval queue: the request is shown to a person
 * as the network action it is (a CONNECT tunnel as host and port; a visible request with
 * method and path), and only an approval that `authorize` accepts for exactly that action
 * lets it out. A denial, an expiry, or anything that throws is a deny.
 */
export function createApprovalAsk(o: ApprovalAskOptions): EgressAsk {
  return async (req) => {
    const action: NetworkActionLike = {
      kind: 'network',
      host: req.host,
      port: req.port,
      scheme: req.scheme,
      ...(req.method === undefined ? {} : { method: req.method }),
      ...(req.path === undefined ? {} : { path: req.path }),
    };
    const subject = `${req.method ?? 'CONNECT'} ${req.scheme}://${req.host}:${req.port}${req.path ?? ''}`;
    const answer = await o.queue.request(
      {
        sessionId: o.sessionId,
        ...(o.sessionName === undefined ? {} : { sessionName: o.sessionName }),
        action,
        decision: {
          verdict: 'ask',
          ruleId: req.ruleId,
          reason: req.reason,
          parts: [{ kind: 'network', verdict: 'ask', ruleId: req.ruleId, reason: req.reason, subject }],
        },
        ...(o.policyFile === undefined ? {} : { policyFile: o.policyFile }),
      },
      {
        publish: o.publish,
        ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        // The proxy stops waiting when the client goes away or its own bound runs out: the
        // ask then ends in the queue (expired), so nobody approves a request no one waits for.
        signal: req.signal,
      },
    );
    if (!answer.approved) return 'deny';
    // Uses the approval up, and throws (a deny) if it was for anything but this request.
    o.queue.authorize(answer, action);
    if (answer.scope === 'rule') o.onRuleGranted?.(answer.id);
    return 'allow';
  };
}

/** What a session needs from its egress. */
export interface SessionEgress {
  readonly proxy: EgressProxy;
  /** Mount for the sandbox: the egress directory (socket and CA bundle), read-only. */
  readonly extraBinds: readonly ExtraBind[];
  /** The bridge: loopback port inside to the socket. */
  readonly bridges: readonly Bridge[];
  /** Proxy and CA variables (and credential placeholders) for every command. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Judges by `policy` from the next request on (its network rules and CIDR allows). The
   * session calls it whenever its policy changes, e.g. after a person granted a rule.
   */
  setPolicy(policy: Policy | undefined): void;
  /** Closes the proxy and removes its socket and directory. Idempotent. */
  close(): Promise<void>;
}

/** Options of {@link startSessionEgress}. */
export interface StartSessionEgressOptions {
  runtimeDir: string;
  policy: Policy | undefined;
  options: SessionEgressOptions;
  onEvent: (event: EgressEvent) => void;
  /** Answers `ask` verdicts; absent means ask is a deny (fail closed). */
  ask?: EgressAsk;
}

/** The longest socket path we use before moving the egress directory to a short private one. */
const MAX_SOCKET_PATH = 100;

/** Starts a session's proxy; the socket and CA bundle live in a private 0700 directory. */
export async function startSessionEgress(o: StartSessionEgressOptions): Promise<SessionEgress> {
  // Before the directory exists: a cost budget without prices stops the session here.
  const budgets = egressBudgets(o.policy);
  const llm = egressLlm(o.policy, o.options.llm?.prices);
  const baseUrls = baseUrlRoutes(o.policy);
  let dir = join(o.runtimeDir, 'egress');
  if (Buffer.byteLength(join(dir, 'egress.sock')) > MAX_SOCKET_PATH) {
    // A deep state directory would make the socket path too long for a unix socket.
    dir = mkdtempSync(join(tmpdir(), 'airlock-egress-'));
  } else {
    mkdirSync(dir, { mode: 0o700 });
  }
  const port = o.options.port ?? DEFAULT_EGRESS_PORT;
  let proxy: EgressProxy;
  try {
    proxy = await createEgressProxy({
      socketPath: join(dir, 'egress.sock'),
      sandboxPort: port,
      caPathInSandbox: EGRESS_CA_IN_SANDBOX,
      decide: createPolicyDecide(o.policy),
      ...(o.ask === undefined ? {} : { ask: o.ask }),
      ...(o.options.askTimeoutMs === undefined ? {} : { askTimeoutMs: o.options.askTimeoutMs }),
      onEvent: o.onEvent,
      cidrAllow: allowedCidrs(o.policy),
      credentials: credentialBindings(o.policy),
      ...(budgets === undefined ? {} : { budgets }),
      ...(baseUrls.length === 0 ? {} : { baseUrls }),
      llm,
      ...(o.options.testing?.resolver === undefined ? {} : { resolver: o.options.testing.resolver }),
      ...(o.options.testing?.upstreamCa === undefined ? {} : { upstreamCa: o.options.testing.upstreamCa }),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(join(dir, 'ca-bundle.pem'), proxy.caBundlePem ?? '', { mode: 0o644 });
  let closing: Promise<void> | undefined;
  return {
    proxy,
    extraBinds: [{ hostPath: dir, sandboxPath: EGRESS_DIR_IN_SANDBOX, readOnly: true }],
    bridges: [{ port, socketPath: EGRESS_SOCKET_IN_SANDBOX }],
    env: proxy.sandboxEnv(),
    setPolicy: (policy) => {
      proxy.setRules({ decide: createPolicyDecide(policy), cidrAllow: allowedCidrs(policy) });
    },
    close: () => {
      closing ??= (async () => {
        try {
          await proxy.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return closing;
    },
  };
}
