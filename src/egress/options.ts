/**
 * Validation and normalization of {@link EgressProxyOptions}, once, at construction.
 * Nothing here falls back to a default when a value is present but wrong: an unknown key,
 * a CIDR with host bits, a base URL that is not https are errors that stop the session.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';

import { z } from 'zod';

import { AirlockError } from '../errors/index.js';
import { parseCidr, type Cidr } from './address.js';
import type { EgressBudgets } from './budget.js';
import {
  DEFAULT_CREDENTIAL_HEADERS,
  DEFAULT_CREDENTIAL_QUERY_PARAMS,
  type CredentialBinding,
} from './credentials.js';
import { systemResolver, type EgressResolver } from './guard.js';
import { parseAbsoluteTarget, type ParsedHost } from './host.js';
import { findTunnelHelper } from './native-tunnel.js';
import { compileHostPattern, compilePathPattern, type HostPattern, type PathPattern } from './match.js';
import type { EgressAsk, EgressDecide, EgressEvent, EgressProxyOptions } from './types.js';
import type { LlmApi, ModelPrice } from './usage.js';

/** A base-URL route after validation. */
export interface NormalizedBaseUrl {
  readonly name: string;
  readonly host: ParsedHost;
  readonly port: number;
  /** The upstream's path prefix without a trailing slash ("" or "/v1"). */
  readonly basePath: string;
  readonly env: readonly string[];
  /** The API the upstream speaks, so its responses are read for usage; null: by host. */
  readonly api: LlmApi | null;
}

/** A credential binding after validation (secret not yet resolved). */
export interface NormalizedCredential {
  readonly binding: CredentialBinding;
  readonly hosts: readonly HostPattern[];
  readonly paths: readonly PathPattern[] | null;
}

/** Options after validation. */
export interface NormalizedOptions {
  readonly socketPath: string;
  readonly sandboxPort: number;
  readonly caPathInSandbox: string | null;
  readonly decide: EgressDecide;
  readonly ask: EgressAsk | null;
  readonly askTimeoutMs: number;
  readonly onEvent: ((event: EgressEvent) => void) | null;
  readonly cidrAllow: readonly Cidr[];
  readonly resolver: EgressResolver;
  readonly intercept: boolean;
  readonly upstreamCa: readonly string[] | null;
  readonly credentials: readonly NormalizedCredential[];
  readonly credentialHeaders: readonly string[];
  readonly credentialQueryParams: readonly string[];
  readonly baseUrls: readonly NormalizedBaseUrl[];
  readonly budgets: EgressBudgets;
  readonly llmEndpoints: ReadonlyArray<{ readonly host: HostPattern; readonly api: LlmApi }>;
  readonly prices: Readonly<Record<string, ModelPrice>>;
  readonly requireTlsInTunnels: boolean;
  readonly connectTimeoutMs: number;
  readonly resolveTimeoutMs: number;
  readonly secretEnv: Readonly<Record<string, string | undefined>> | null;
  readonly tunnelHelper: string | null;
}

const fn = <T>() => z.custom<T>((v) => typeof v === 'function', { message: 'must be a function' });
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name');
const nonNeg = z.number().nonnegative();
const timeout = z.number().int().positive().max(3_600_000);

const priceSchema = z.strictObject({
  inputPerMTok: nonNeg,
  outputPerMTok: nonNeg,
  cacheReadPerMTok: nonNeg.optional(),
  cacheWritePerMTok: nonNeg.optional(),
});

const credentialSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, "_", "." or "-"'),
  secret: z.string().min(1),
  hosts: z.array(z.string().min(1)).min(1),
  methods: z
    .array(z.string().regex(/^[A-Za-z]+$/, 'must be an HTTP method'))
    .min(1)
    .optional(),
  paths: z.array(z.string().min(1)).min(1).optional(),
  inject: z.discriminatedUnion('type', [
    z.strictObject({
      type: z.literal('header'),
      name: headerName,
      suffix: z
        .string()
        .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
        .optional(),
      prefix: z
        .string()
        .regex(/^[\x20-\x7e]*$/, 'must be printable ASCII')
        .optional(),
    }),
    z.strictObject({
      type: z.literal('basic'),
      username: z.string().regex(/^[\x21-\x39\x3b-\x7e]+$/, 'must be printable ASCII without ":"'),
    }),
  ]),
  env: z.array(envName).optional(),
  placeholder: z
    .string()
    .regex(/^[A-Za-z0-9_.~-]{12,200}$/, 'must be 12-200 letters, digits, "_", ".", "~" or "-"')
    .optional(),
  allowPlainHttp: z.boolean().optional(),
});

const optionsSchema = z.strictObject({
  socketPath: z
    .string()
    .refine((p) => isAbsolute(p), 'must be an absolute path')
    .refine((p) => Buffer.byteLength(p) <= 107, 'is longer than a unix socket path may be (107 bytes)'),
  sandboxPort: z.number().int().min(1).max(65535),
  caPathInSandbox: z
    .string()
    .refine((p) => isAbsolute(p), 'must be an absolute path')
    .optional(),
  decide: fn<EgressDecide>(),
  ask: fn<EgressAsk>().optional(),
  askTimeoutMs: timeout.optional(),
  onEvent: fn<(event: EgressEvent) => void>().optional(),
  cidrAllow: z.array(z.string()).optional(),
  resolver: fn<EgressResolver>().optional(),
  intercept: z.boolean().optional(),
  upstreamCa: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  credentials: z.array(credentialSchema).optional(),
  credentialHeaders: z.array(headerName).optional(),
  credentialQueryParams: z.array(z.string().min(1)).optional(),
  baseUrls: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and "-"'),
        upstream: z.string(),
        env: z.array(envName).optional(),
        api: z.enum(['anthropic', 'openai']).optional(),
      }),
    )
    .optional(),
  budgets: z
    .strictObject({
      requests: z.number().int().nonnegative().optional(),
      bytesUp: z.number().int().nonnegative().optional(),
      bytesDown: z.number().int().nonnegative().optional(),
      inputTokens: z.number().int().nonnegative().optional(),
      outputTokens: z.number().int().nonnegative().optional(),
      tokens: z.number().int().nonnegative().optional(),
      costUsd: nonNeg.optional(),
    })
    .optional(),
  llm: z
    .strictObject({
      endpoints: z
        .array(z.strictObject({ host: z.string().min(1), api: z.enum(['anthropic', 'openai']) }))
        .optional(),
      prices: z.record(z.string().min(1), priceSchema).optional(),
    })
    .optional(),
  requireTlsInTunnels: z.boolean().optional(),
  connectTimeoutMs: timeout.optional(),
  resolveTimeoutMs: timeout.optional(),
  secretEnv: z.record(z.string(), z.string().optional()).optional(),
  tunnelHelper: z.union([z.literal(false), z.string().min(1)]).optional(),
});

function invalid(path: string, message: string, hint: string): AirlockError {
  return new AirlockError('E_CONFIG_INVALID', `egress.${path}: ${message}`, { hint });
}

const DEFAULT_LLM_ENDPOINTS: ReadonlyArray<{ host: string; api: LlmApi }> = [
  { host: 'api.anthropic.com', api: 'anthropic' },
  { host: 'api.openai.com', api: 'openai' },
];

/** Validates and normalizes proxy options; throws `E_CONFIG_INVALID` naming the bad option. */
export function normalizeOptions(input: EgressProxyOptions): NormalizedOptions {
  const parsed = optionsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path =
      issue?.path
        .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
        .join('')
        .replace(/^\./, '') ?? '';
    let message = issue?.message ?? 'is invalid';
    if (issue?.code === 'unrecognized_keys') {
      // Unknown keys are errors, never dropped: a typo in a security option must not pass silently.
      const valid = path === '' ? ` (valid options: ${Object.keys(optionsSchema.shape).join(', ')})` : '';
      message = `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}${valid}`;
    }
    throw invalid(
      path === '' ? '(options)' : path,
      message,
      'See the EgressProxyOptions documentation in docs/egress.md.',
    );
  }
  const o = parsed.data;
  const intercept = o.intercept ?? true;
  if (intercept && o.caPathInSandbox === undefined) {
    throw invalid(
      'caPathInSandbox',
      'is required when TLS interception is on',
      'Give the path where the CA bundle is mounted in the sandbox, or set intercept: false.',
    );
  }

  const cidrAllow = parseCidrAllow(o.cidrAllow ?? [], 'cidrAllow');

  const hostPatterns = (hosts: readonly string[], at: string): HostPattern[] =>
    hosts.map((h, i) => {
      const p = compileHostPattern(h);
      if (typeof p === 'string')
        throw invalid(`${at}[${i}]`, p, 'Write an exact host, "*.example.com", or an IP address.');
      return p;
    });

  const ids = new Set<string>();
  const credentials = (o.credentials ?? []).map((binding, i): NormalizedCredential => {
    const at = `credentials[${i}]`;
    if (ids.has(binding.id))
      throw invalid(`${at}.id`, `"${binding.id}" is used twice`, 'Give each credential its own id.');
    ids.add(binding.id);
    if (binding.hosts.includes('*')) {
      throw invalid(
        `${at}.hosts`,
        '"*" would send the credential to every host',
        'Name the hosts the credential belongs to.',
      );
    }
    const paths =
      binding.paths?.map((t, j) => {
        const p = compilePathPattern(t);
        if (typeof p === 'string')
          throw invalid(`${at}.paths[${j}]`, p, 'Write a path such as "/repos/acme/app/issues/*/comments".');
        return p;
      }) ?? null;
    return {
      binding: binding as CredentialBinding,
      hosts: hostPatterns(binding.hosts, `${at}.hosts`),
      paths,
    };
  });

  const names = new Set<string>();
  const baseUrls = (o.baseUrls ?? []).map((route, i): NormalizedBaseUrl => {
    const at = `baseUrls[${i}]`;
    if (names.has(route.name))
      throw invalid(`${at}.name`, `"${route.name}" is used twice`, 'Give each base URL its own name.');
    names.add(route.name);
    const target = parseAbsoluteTarget(route.upstream);
    if (!target.ok || target.value.scheme !== 'https' || target.value.path.query !== '') {
      throw invalid(
        `${at}.upstream`,
        `"${route.upstream}" is not an https:// base URL without a query`,
        'Write the API base URL, e.g. "https://api.anthropic.com".',
      );
    }
    return {
      name: route.name,
      host: target.value.authority.host,
      port: target.value.authority.port,
      basePath: target.value.path.path.replace(/\/+$/, ''),
      env: route.env ?? [],
      api: route.api ?? null,
    };
  });

  const llmEndpoints = (o.llm?.endpoints ?? DEFAULT_LLM_ENDPOINTS).map((e, i) => ({
    host: hostPatterns([e.host], `llm.endpoints[${i}].host`)[0] as HostPattern,
    api: e.api,
  }));

  const upstreamCa =
    o.upstreamCa === undefined ? null : typeof o.upstreamCa === 'string' ? [o.upstreamCa] : o.upstreamCa;

  return {
    socketPath: o.socketPath,
    sandboxPort: o.sandboxPort,
    caPathInSandbox: o.caPathInSandbox ?? null,
    decide: o.decide,
    ask: o.ask ?? null,
    askTimeoutMs: o.askTimeoutMs ?? 120_000,
    onEvent: o.onEvent ?? null,
    cidrAllow,
    resolver: o.resolver ?? systemResolver,
    intercept,
    upstreamCa,
    credentials,
    credentialHeaders: o.credentialHeaders ?? DEFAULT_CREDENTIAL_HEADERS,
    credentialQueryParams: o.credentialQueryParams ?? DEFAULT_CREDENTIAL_QUERY_PARAMS,
    baseUrls,
    budgets: definedBudgets(o.budgets ?? {}),
    llmEndpoints,
    prices: (o.llm?.prices ?? {}) as Record<string, ModelPrice>,
    requireTlsInTunnels: o.requireTlsInTunnels ?? true,
    connectTimeoutMs: o.connectTimeoutMs ?? 10_000,
    resolveTimeoutMs: o.resolveTimeoutMs ?? 5_000,
    secretEnv: o.secretEnv ?? null,
    tunnelHelper: tunnelHelperOf(o.tunnelHelper),
  };
}

/** Parses CIDR allows; `at` names the option in errors. */
export function parseCidrAllow(texts: readonly string[], at: string): Cidr[] {
  return texts.map((text, i) => {
    const c = parseCidr(text);
    if (c === null) {
      throw invalid(
        `${at}[${i}]`,
        `"${text}" is not a CIDR range (or has bits set below its prefix)`,
        'Write a range such as "127.0.0.1/32" or "10.1.2.0/24".',
      );
    }
    return c;
  });
}

function tunnelHelperOf(value: string | false | undefined): string | null {
  if (value === false) return null;
  if (value === undefined) return findTunnelHelper();
  if (!isAbsolute(value) || !existsSync(value))
    throw new AirlockError(
      'E_EGRESS_TUNNEL_HELPER_MISSING',
      `egress.tunnelHelper: ${JSON.stringify(value)} is not an absolute path to an existing file`,
      { hint: 'Run `npm run build` (it builds native/build/airlock-tunnel), or leave tunnelHelper unset.' },
    );
  return value;
}

function definedBudgets(o: Readonly<Record<string, number | undefined>>): EgressBudgets {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}
