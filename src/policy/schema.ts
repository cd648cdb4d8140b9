/**
 * The schema of `airlock.yaml`, in zod: the one source of truth for validation,
 * the TypeScript types and the shipped JSON Schema (`airlock policy schema`).
 * Every object is strict, so a misspelt key is an error that names it.
 */
import { z } from 'zod';
import { compileGlob } from './match/glob.js';
import { normalizeHost, parseCidr, parseHostPattern } from './match/net.js';

/** The four verdicts, from most permissive to strictest. */
export const LEVELS = ['allow', 'log', 'ask', 'deny'] as const;

/** A verdict: `allow` (silent), `log` (allowed and shown), `ask` (a person approves first), `deny`. */
export type Level = (typeof LEVELS)[number];

const level = z
  .enum(LEVELS)
  .describe('allow (silent), log (allowed and shown), ask (a person approves first) or deny');
const strictLevel = z
  .enum(['ask', 'deny'])
  .describe('ask or deny: never allow, because what it covers cannot be checked');

/** Checks a path pattern's syntax without knowing the workspace or home yet. */
function refinePathGlob(value: string, ctx: z.core.$RefinementCtx<string>): void {
  let probe = value;
  if (probe.startsWith('~/') || probe === '~') probe = `/home/probe${probe.slice(1)}`;
  else if (!probe.startsWith('/')) probe = `/workspace/${probe}`;
  if (value.includes('..')) {
    const segs = value.split('/');
    if (segs.includes('..')) {
      ctx.addIssue({
        code: 'custom',
        message: `"${value}" contains "..": write the path it means, such as "/workspace/lib/**"`,
        input: value,
      });
      return;
    }
  }
  const r = compileGlob(probe, false);
  if (!r.ok)
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a valid path glob: it ${r.error}`,
      input: value,
    });
}

const pathGlob = z
  .string()
  .min(1)
  .superRefine(refinePathGlob)
  .describe(
    'a path glob: absolute, "~/…" for the home directory, or relative to the workspace; "**" spans directories',
  );

const flagName = z
  .string()
  .superRefine((v, ctx) => {
    if (!/^-{1,2}[^\s=-][^\s=]*$/.test(v) && !/^-[^\s=]$/.test(v)) {
      ctx.addIssue({
        code: 'custom',
        message: `"${v}" is not a flag; write it as "-f" or "--force"`,
        input: v,
      });
    }
  })
  .describe('a flag as the tool spells it: "-f", "--force", or a single-dash long option such as "-exec"');

const commandName = z
  .string()
  .superRefine((v, ctx) => {
    if (v.length === 0 || /\s/.test(v) || (v.includes('/') && !v.startsWith('/'))) {
      ctx.addIssue({
        code: 'custom',
        message: `"${v}" is not a command: use a bare name ("git"), which matches the tool from the trusted PATH, or an absolute path`,
        input: v,
      });
    }
  })
  .describe('a bare command name resolved through the trusted PATH, or an absolute path');

const hostPattern = z
  .string()
  .superRefine((v, ctx) => {
    const r = parseHostPattern(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `"${v}" ${r.error}`, input: v });
  })
  .describe('an exact host ("registry.npmjs.org") or a wildcard under a registrable domain ("*.github.com")');

const cidr = z
  .string()
  .superRefine((v, ctx) => {
    const r = parseCidr(v);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: `"${v}" ${r.error}`, input: v });
  })
  .describe('an IP address or CIDR range ("10.1.0.0/16")');

const oneOrMany = <T extends z.ZodType>(t: T) => z.union([t, z.array(t).min(1)]);

/** A rule for one command (and optionally a subcommand path). */
export const commandRuleSchema = z
  .strictObject({
    id: z
      .string()
      .min(1)
      .optional()
      .describe("a stable name shown in decisions; defaults to the rule's position"),
    command: oneOrMany(commandName).describe('the executable(s) this rule covers'),
    subcommand: oneOrMany(z.string().min(1))
      .optional()
      .describe(
        'a subcommand path such as "push" or "remote add"; a list means any of them. The most specific matching rule decides.',
      ),
    level: level,
    forbidFlags: z
      .array(flagName)
      .optional()
      .describe(
        'flags that must not appear, in any spelling (bundled "-rf", "--force=x", unambiguous prefixes); inherited by more specific rules',
      ),
    forbidLevel: level.optional().describe('the verdict when a forbidden flag appears (default deny)'),
    allowFlags: z
      .array(flagName)
      .optional()
      .describe('if set, the only flags allowed; others get forbidLevel'),
    maxArgs: z.number().int().min(0).optional().describe('the most arguments allowed after the command name'),
    cwd: z.array(pathGlob).min(1).optional().describe('directories the command may run in'),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string())
      .optional()
      .describe('environment variables to set when it runs'),
    timeout: z.number().positive().max(86_400).optional().describe('wall-clock limit in seconds'),
  })
  .describe('a command rule');

/** What kind of file access a tool's positional arguments are. */
export const PATH_ARG_MODES = ['none', 'read', 'write', 'remove', 'copy', 'move'] as const;

/** Built-in knowledge about how a tool parses its arguments. */
export const toolSchema = z
  .strictObject({
    subcommands: z.boolean().optional().describe('the first positional argument is a subcommand (git, npm)'),
    globalFlags: z
      .array(flagName)
      .optional()
      .describe('flags accepted before the subcommand; any other flag there makes the command unresolvable'),
    valueFlags: z.array(flagName).optional().describe('flags that take the next argument as their value'),
    abbreviations: z
      .boolean()
      .optional()
      .describe('the tool accepts unambiguous prefixes of long options (default true)'),
    singleDashLong: z
      .boolean()
      .optional()
      .describe('options are words after one dash, as find\'s "-exec" (no bundling)'),
    pathArgs: z
      .enum(PATH_ARG_MODES)
      .optional()
      .describe(
        'how positional arguments touch files: read (whole trees), write (single files), remove (whole trees: rm, chmod -R), copy and move (last argument is the destination)',
      ),
    pathArgsSkip: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe("positional arguments before the paths (sed's script, grep's pattern)"),
    writeFlags: z
      .array(flagName)
      .optional()
      .describe('flags that turn reads of the path arguments into writes (sed -i)'),
    flagPaths: z
      .record(z.string(), z.enum(['read', 'write', 'cwd']))
      .optional()
      .describe('flags whose value is a path read, written, or used as the working directory'),
  })
  .describe('how a tool parses its arguments');

/** Levels for paths no list names. */
const otherwiseSchema = z.strictObject({ read: level.optional(), write: level.optional() });

/** File rules. */
export const filesSchema = z
  .strictObject({
    read: z.array(pathGlob).optional().describe('paths that may be read (readLevel)'),
    write: z.array(pathGlob).optional().describe('paths that may be written (writeLevel)'),
    deny: z.array(pathGlob).optional().describe('paths that may be neither read nor written'),
    protected: z
      .array(pathGlob)
      .optional()
      .describe(
        'extra paths whose writing (or creation) is at least protectedLevel, added to the built-in list',
      ),
    readLevel: level.optional(),
    writeLevel: level.optional(),
    protectedLevel: strictLevel.optional(),
    otherwise: otherwiseSchema.optional().describe('levels for paths no list names (default ask)'),
  })
  .describe('file rules');

/** A network rule. */
export const networkRuleSchema = z
  .strictObject({
    id: z.string().min(1).optional(),
    host: oneOrMany(hostPattern).optional(),
    cidr: oneOrMany(cidr).optional(),
    ports: z.array(z.number().int().min(1).max(65_535)).min(1).optional().describe('default [443, 80]'),
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, 'methods are upper-case HTTP methods such as "GET"'))
      .min(1)
      .optional(),
    paths: z
      .array(z.string().regex(/^\//, 'paths start with "/"'))
      .min(1)
      .optional()
      .describe('URL path globs'),
    schemes: z
      .array(z.enum(['http', 'https']))
      .min(1)
      .optional(),
    level: level,
  })
  .describe('a network rule: hosts or CIDR ranges, with optional ports, methods and paths');

/** A reference to a secret held on the host: `env:NAME`, `file:PATH` or `command:…`. */
export const secretRefSchema = z
  .string()
  .superRefine((v, ctx) => {
    const ok =
      /^env:[A-Za-z_][A-Za-z0-9_]*$/.test(v) ||
      /^file:(\/|~\/).+/.test(v) ||
      (/^command:.+/.test(v) && v.trim().length > 8);
    if (!ok) {
      ctx.addIssue({
        code: 'custom',
        message: `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}" is not a secret reference; write "env:NAME", "file:/abs/path" or "command:…"`,
        input: '[redacted]',
      });
    }
  })
  .describe('where the host finds the secret; the value never enters the sandbox');

/** A credential the egress proxy injects for matching requests. */
export const credentialSchema = z
  .strictObject({
    id: z.string().min(1).optional(),
    hosts: z.array(hostPattern).min(1),
    secret: secretRefSchema,
    methods: z
      .array(z.string().regex(/^[A-Z]+$/))
      .min(1)
      .optional(),
    paths: z.array(z.string().regex(/^\//)).min(1).optional(),
    env: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name'))
      .min(1)
      .optional()
      .describe(
        'variables set inside the sandbox to a placeholder for this credential (e.g. ANTHROPIC_API_KEY), for clients that will not start without one; the proxy swaps the placeholder for the secret',
      ),
    inject: z.union([
      z.strictObject({
        header: z.string().regex(/^[A-Za-z0-9-]+$/),
        format: z.string().includes('{secret}').optional(),
      }),
      z.strictObject({ basic: z.strictObject({ username: z.string() }) }),
    ]),
  })
  .describe('a credential bound to hosts, injected as a header or basic auth by the egress proxy');

/** Limits the egress proxy enforces for a session. */
export const budgetsSchema = z
  .strictObject({
    requests: z.number().int().positive().optional(),
    bytesUp: z.number().int().positive().optional(),
    bytesDown: z.number().int().positive().optional(),
    tokens: z.number().int().positive().optional(),
    cost: z
      .number()
      .positive()
      .optional()
      .describe('in US dollars, at the prices in network.llm.prices; a model with no price spends it'),
  })
  .describe('per-session request, byte, token and cost budgets');

/**
 * Variables the session's egress sets itself (proxy and CA settings): a base URL's `env`
 * may not name one, or it would take the sandbox's route out or its trust store over.
 */
export const EGRESS_RESERVED_ENV: readonly string[] = [
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'NODE_USE_ENV_PROXY',
  'SSL_CERT_FILE',
  'NODE_EXTRA_CA_CERTS',
  'REQUESTS_CA_BUNDLE',
  'GIT_SSL_CAINFO',
  'CURL_CA_BUNDLE',
  'NPM_CONFIG_CAFILE',
];

const llmApi = z
  .enum(['anthropic', 'openai'])
  .describe(
    'the wire format: anthropic (Messages) or openai (Chat Completions and Responses), for reading token usage',
  );

const baseUrlEnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a variable name')
  .superRefine((v, ctx) => {
    if (EGRESS_RESERVED_ENV.includes(v.toUpperCase())) {
      ctx.addIssue({
        code: 'custom',
        message: `"${v}" is set by the session's egress itself (proxy and CA variables); name the client's base-URL variable, such as "ANTHROPIC_BASE_URL"`,
        input: v,
      });
    }
  });

/** A plain-HTTP front inside the sandbox for an HTTPS API (LLM clients' base URLs). */
export const baseUrlSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a name of lowercase letters, digits and "-", such as "anthropic"')
      .describe('the route name: the front is http://127.0.0.1:<port>/_airlock/base/<name>'),
    upstream: z
      .string()
      .superRefine((v, ctx) => {
        let url: URL | null = null;
        try {
          url = new URL(v);
        } catch {
          url = null;
        }
        if (
          url === null ||
          url.protocol !== 'https:' ||
          url.username !== '' ||
          url.password !== '' ||
          url.search !== '' ||
          url.hash !== '' ||
          v.includes('?') ||
          v.includes('#')
        ) {
          ctx.addIssue({
            code: 'custom',
            message: `"${v}" is not an https:// base URL without credentials, query or fragment; write the API's base URL, such as "https://api.anthropic.com"`,
            input: v,
          });
        }
      })
      .describe(
        'the real API base URL, https only (e.g. "https://api.anthropic.com" or "https://api.openai.com/v1"); the proxy forwards over verified TLS',
      ),
    env: z
      .array(baseUrlEnvName)
      .min(1)
      .optional()
      .describe('variables set inside the sandbox to the front\'s URL, e.g. ANTHROPIC_BASE_URL or OPENAI_BASE_URL'),
    api: llmApi
      .optional()
      .describe(
        "the upstream's wire format, so responses are read for token usage whatever its host (default: by host, see llm.endpoints)",
      ),
  })
  .describe(
    'a base URL for an LLM client: plain HTTP inside the sandbox, forwarded over verified HTTPS with credentials injected and every request judged by the network rules (it allows nothing by itself)',
  );

/** A model's price, in US dollars per million tokens. */
export const modelPriceSchema = z
  .strictObject({
    inputPerMTok: z.number().nonnegative().describe('US dollars per million input tokens'),
    outputPerMTok: z.number().nonnegative().describe('US dollars per million output tokens'),
    cacheReadPerMTok: z
      .number()
      .nonnegative()
      .optional()
      .describe('US dollars per million tokens read from the prompt cache (default: inputPerMTok)'),
    cacheWritePerMTok: z
      .number()
      .nonnegative()
      .optional()
      .describe('US dollars per million tokens written to the prompt cache (default: inputPerMTok)'),
  })
  .describe('the price of a model, in US dollars per million tokens');

/** LLM endpoints and prices, for token usage and the `cost` budget. */
export const llmSchema = z
  .strictObject({
    endpoints: z
      .array(z.strictObject({ host: hostPattern, api: llmApi }))
      .min(1)
      .optional()
      .describe(
        'hosts whose responses are read for token usage; replaces the default list (api.anthropic.com as anthropic, api.openai.com as openai)',
      ),
    prices: z
      .record(z.string(), modelPriceSchema)
      .superRefine((table, ctx) => {
        for (const key of Object.keys(table)) {
          if (!/^(\*|[^\s*]+\*?)$/.test(key)) {
            ctx.addIssue({
              code: 'custom',
              message: `"${key}" is not a model key; write a model name ("claude-sonnet-4-5"), a prefix ending in "*" ("claude-sonnet-4*"), or "*" for every other model`,
              path: [key],
              input: key,
            });
          }
        }
      })
      .optional()
      .describe(
        'prices by model: an exact name, the longest matching "prefix*", then "*". With a cost budget, a model with no price spends the budget (its cost cannot be bounded); give "*" to price unknown models instead',
      ),
  })
  .describe('LLM endpoints and prices, for token usage in network.request events and the cost budget');

/** Network rules. */
export const networkSchema = z
  .strictObject({
    default: level.optional().describe('the verdict for requests no rule matches (default deny)'),
    rules: z.array(networkRuleSchema).optional(),
    credentials: z.array(credentialSchema).optional(),
    budgets: budgetsSchema.optional(),
    baseUrls: z
      .array(baseUrlSchema)
      .optional()
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        (list ?? []).forEach((b, i) => {
          if (seen.has(b.name)) {
            ctx.addIssue({
              code: 'custom',
              message: `base URL name "${b.name}" is used twice; give each its own name`,
              path: [i, 'name'],
              input: b.name,
            });
          }
          seen.add(b.name);
        });
      })
      .describe('plain-HTTP fronts of HTTPS APIs for LLM clients (ANTHROPIC_BASE_URL and the like)'),
    llm: llmSchema.optional(),
  })
  .describe('network rules');

/** Command rules. */
export const execSchema = z
  .strictObject({
    default: level.optional().describe('the verdict for commands no rule names (default ask)'),
    envLevel: level
      .optional()
      .describe('the verdict for setting a protected environment variable (default ask)'),
    protectedEnv: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'a variable name, optionally ending in "*"'))
      .optional()
      .describe('extra protected variable names (PATH, LD_*, … are built in)'),
    rules: z.array(commandRuleSchema).optional(),
  })
  .describe('command rules');

/** A plain absolute path: no `.`, `..`, empty segments, trailing slash or NUL. */
function isPlainAbsolutePath(p: string): boolean {
  if (!p.startsWith('/') || p === '/' || p.endsWith('/') || p.includes('\0')) return false;
  return p
    .slice(1)
    .split('/')
    .every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

const plainPath = z
  .string()
  .refine(isPlainAbsolutePath, 'write a plain absolute path such as "/workspace/src/a.ts" (no "..", ".", "//" or trailing "/")')
  .describe('an exact absolute path (not a glob)');

/** What an exec grant matches: one command, exactly as it was approved. */
export const execGrantSchema = z
  .strictObject({
    command: commandName.describe('the command, as a rule names it: a bare name from the trusted PATH or an absolute path'),
    subcommand: z
      .string()
      .regex(/^[a-z][a-z0-9_:-]*( [a-z][a-z0-9_:-]*)*$/, 'subcommand words such as "status" or "run build"')
      .optional()
      .describe('the words right after the command, exactly ("run build")'),
    allowFlags: z.array(flagName).describe('the only flags it may have (as shown to the person)'),
    maxArgs: z.number().int().min(0).describe('the most arguments after the command name, subcommand words included'),
    cwd: z
      .string()
      .refine((p) => p === '/' || isPlainAbsolutePath(p), 'write a plain absolute directory such as "/workspace"')
      .optional()
      .describe('the exact directory it must run in (not below it)'),
  })
  .describe('an exec grant: the command and subcommand words exactly, no other flags, no more arguments');

/** What a network grant matches: one kind of request, exactly. */
export const networkGrantSchema = z
  .strictObject({
    host: z
      .string()
      .superRefine((v, ctx) => {
        const h = normalizeHost(v);
        if (h.kind === 'invalid') ctx.addIssue({ code: 'custom', message: `"${v}": ${h.reason}`, input: v });
        if (v.includes('*')) ctx.addIssue({ code: 'custom', message: `"${v}": a grant names one exact host, never a wildcard`, input: v });
      })
      .describe('the exact host name or IP address'),
    port: z.number().int().min(1).max(65_535),
    method: z
      .string()
      .regex(/^[A-Z]+$/, 'methods are upper-case HTTP methods such as "GET"')
      .optional()
      .describe('the exact method; without it, only a tunnel (CONNECT without an inspected method) matches'),
    path: z
      .string()
      .regex(/^\/[^?#%\\]*$/, 'an exact URL path: starts with "/", without query, fragment, percent-escapes or backslashes')
      .optional()
      .describe('the exact URL path; a request with a query string or another path does not match'),
    scheme: z.enum(['http', 'https']).optional(),
  })
  .describe('a network grant: exactly this host, port, method, path and scheme');

/** What a file grant matches: one exact path, for reading or writing. */
export const fileGrantSchema = z
  .strictObject({ path: plainPath, access: z.enum(['read', 'write']) })
  .describe('a file grant: exactly this path (not below it), for reading or for writing');

/**
 * A grant written by a person's confirmed `rule` approval. It turns an `ask` of exactly
 * what it names into `allow`, and nothing else: never a `deny`, never a protected path.
 */
export const grantSchema = z
  .strictObject({
    id: z.string().min(1).describe('shown as the rule in decisions'),
    approval: z.string().min(1).describe('the approval that wrote it'),
    by: z.string().min(1).optional().describe('who approved it'),
    at: z.string().min(1).optional().describe('when it was approved (ISO 8601)'),
    exec: execGrantSchema.optional(),
    network: networkGrantSchema.optional(),
    file: fileGrantSchema.optional(),
  })
  .superRefine((g, ctx) => {
    const kinds = (['exec', 'network', 'file'] as const).filter((k) => g[k] !== undefined);
    if (kinds.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `a grant names exactly one of exec, network or file (got ${kinds.length === 0 ? 'none' : kinds.join(' and ')})`,
        input: g,
      });
    }
  })
  .describe('an approval granted as a rule: it lifts an ask for exactly what it names to allow, never a deny');

/** The whole `airlock.yaml`. */
export const policySchema = z
  .strictObject({
    version: z.literal(1).optional().describe('the policy format version'),
    extends: oneOrMany(z.string().min(1))
      .optional()
      .describe('presets ("default", "node", "python", "readonly") or policy files to build on'),
    unresolvable: strictLevel
      .optional()
      .describe('the verdict for what cannot be resolved statically (default deny)'),
    exec: execSchema.optional(),
    tools: z
      .record(z.string().regex(/^[^\s/]+$/), toolSchema)
      .optional()
      .describe('how tools parse their arguments'),
    files: filesSchema.optional(),
    network: networkSchema.optional(),
    approvals: z
      .strictObject({
        timeout: z
          .number()
          .positive()
          .max(86_400)
          .optional()
          .describe('seconds an asked action waits for a person before it is denied (default 120)'),
      })
      .optional()
      .describe('how asked actions wait for a person'),
    grants: z
      .array(grantSchema)
      .optional()
      .describe(
        'approvals a person confirmed as rules (written by airlock approve --scope rule); each turns an ask for exactly what it names into allow, and never lowers a deny',
      ),
  })
  .describe('an Airlock policy (airlock.yaml)');

/** The parsed content of one policy file, before presets are merged. */
export type PolicyFile = z.infer<typeof policySchema>;
/** A command rule as written. */
export type CommandRuleConfig = z.infer<typeof commandRuleSchema>;
/** Tool knowledge as written. */
export type ToolConfig = z.infer<typeof toolSchema>;
/** A network rule as written. */
export type NetworkRuleConfig = z.infer<typeof networkRuleSchema>;
/** A credential binding, for the egress proxy. */
export type CredentialConfig = z.infer<typeof credentialSchema>;
/** Network budgets, for the egress proxy. */
export type BudgetsConfig = z.infer<typeof budgetsSchema>;
/** A base URL (plain-HTTP front of an HTTPS API), for the egress proxy. */
export type BaseUrlConfig = z.infer<typeof baseUrlSchema>;
/** A model's price, for the egress proxy's cost budget. */
export type ModelPriceConfig = z.infer<typeof modelPriceSchema>;
/** LLM endpoints and prices, for the egress proxy. */
export type LlmConfig = z.infer<typeof llmSchema>;
/** A grant as written. */
export type GrantConfig = z.infer<typeof grantSchema>;
/** File rules as written. */
export type FilesConfig = z.infer<typeof filesSchema>;

/** The JSON Schema of `airlock.yaml`, generated from {@link policySchema}. */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(policySchema, { unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, $id: 'https://airlock.dev/schema/airlock.schema.json', title: 'airlock.yaml' };
}
