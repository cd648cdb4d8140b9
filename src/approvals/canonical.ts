/**
 * The canonical form of an action and its digest. An ask stores the canonical action;
 * a person's decision names its digest; the executor must run an action whose digest is
 * the same. Canonicalization never normalizes values (no lower-casing of a host, no path
 * resolution): two actions are the same only when every byte the executor uses is the
 * same, so what was shown is what runs.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AirlockError } from '../errors/index.js';
import type { ApprovalAction, CanonicalAction } from './types.js';

/** Longest single string (an argument, a path, a command line) an ask may carry. */
export const MAX_STRING_BYTES = 128 * 1024;
/** Most arguments or environment variables in one exec action. */
export const MAX_ITEMS = 4096;

const text = z
  .string()
  .max(MAX_STRING_BYTES)
  .refine((s) => !s.includes('\0'), 'contains a NUL byte, which no program can receive');
const nonEmpty = text.refine((s) => s.length > 0, 'is empty');
const env = z.record(z.string(), text).superRefine((e, ctx) => {
  const keys = Object.keys(e);
  if (keys.length > MAX_ITEMS) ctx.addIssue({ code: 'custom', message: `more than ${MAX_ITEMS} variables` });
  for (const k of keys) {
    if (k.length === 0 || k.length > 1024 || k.includes('=') || k.includes('\0')) {
      ctx.addIssue({ code: 'custom', path: [k], message: 'an environment variable name must be 1-1024 characters without "=" or NUL' });
    }
  }
});
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits (SHA-256)');
const resolved = z.strictObject({
  realPath: text,
  type: z.enum(['file', 'dir', 'symlink', 'fifo', 'socket', 'char', 'block', 'missing']),
  nlink: z.number().int().min(0),
});

const execArgvSchema = z.strictObject({
  kind: z.literal('exec'),
  argv: z.array(text).min(1, 'argv is empty').max(MAX_ITEMS),
  cwd: nonEmpty.optional(),
  env: env.optional(),
});
const execCommandSchema = z.strictObject({ kind: z.literal('exec'), command: nonEmpty, cwd: nonEmpty.optional(), env: env.optional() });
const fileSchema = z.strictObject({
  kind: z.enum(['file.read', 'file.write']),
  path: nonEmpty,
  resolved: resolved.optional(),
  contentSha256: sha256.optional(),
});
const networkSchema = z.strictObject({
  kind: z.literal('network'),
  host: nonEmpty.max(1024),
  port: z.number().int().min(1).max(65_535),
  method: z.string().regex(/^[A-Za-z]{1,32}$/, 'must be an HTTP method such as "GET"').optional(),
  path: nonEmpty.optional(),
  scheme: z.enum(['http', 'https']).optional(),
});

/** The zod schema of an {@link ApprovalAction}, for every boundary an action crosses (HTTP, SQLite, the session). */
export const approvalActionSchema = z.union([execArgvSchema, execCommandSchema, fileSchema, networkSchema]);

/** The schema for one value, chosen by its `kind` (and argv or command), so errors name the real problem. */
function schemaFor(value: unknown): z.ZodType | string {
  if (value === null || typeof value !== 'object') return 'is not an object';
  const v = value as Record<string, unknown>;
  switch (v['kind']) {
    case 'exec':
      if ('argv' in v && 'command' in v) return 'has both argv and command; give one';
      if ('argv' in v) return execArgvSchema;
      if ('command' in v) return execCommandSchema;
      return 'is an exec action with neither argv nor command';
    case 'file.read':
    case 'file.write':
      return fileSchema;
    case 'network':
      return networkSchema;
    default:
      return `has kind ${JSON.stringify(v['kind'])}; expected exec, file.read, file.write or network`;
  }
}

/** Schema of a {@link CanonicalAction}, for reading one back from storage. */
export const canonicalActionSchema = z.union([
  z.strictObject({ kind: z.literal('exec'), argv: z.array(text).min(1), command: z.null(), cwd: text.nullable(), env }),
  z.strictObject({ kind: z.literal('exec'), argv: z.null(), command: nonEmpty, cwd: text.nullable(), env }),
  z.strictObject({ kind: z.enum(['file.read', 'file.write']), path: nonEmpty, contentSha256: sha256.nullable() }),
  z.strictObject({
    kind: z.literal('network'),
    host: nonEmpty,
    port: z.number().int().min(1).max(65_535),
    method: z.string().nullable(),
    path: text.nullable(),
    scheme: z.enum(['http', 'https']).nullable(),
  }),
]);

/** Formats zod issues as `path: message` lines for an error message. */
export function formatIssues(error: z.ZodError, root: string): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${[root, ...i.path.map(String)].join('.')}: ${i.message}`)
    .join('; ');
}

/**
 * Checks an action from an untrusted source and returns it typed. Throws
 * `E_APPROVAL_INVALID` naming the bad field.
 */
export function parseAction(value: unknown, root = 'action'): ApprovalAction {
  const hint = 'An action is {kind:"exec", argv|command, cwd?, env?}, {kind:"file.read"|"file.write", path, contentSha256?} or {kind:"network", host, port, method?, path?, scheme?}.';
  const schema = schemaFor(value);
  if (typeof schema === 'string') throw new AirlockError('E_APPROVAL_INVALID', `${root} ${schema}`, { hint });
  const r = schema.safeParse(value);
  if (!r.success) throw new AirlockError('E_APPROVAL_INVALID', formatIssues(r.error, root), { hint });
  return r.data as ApprovalAction;
}

function sortedEnv(e: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (e === undefined) return out;
  for (const k of Object.keys(e).sort()) out[k] = e[k] as string;
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The canonical form of an action: a fresh, deeply frozen copy, so that nobody holding the
 * original (an agent's argument array, say) can change what was approved afterwards.
 * Validates first; throws `E_APPROVAL_INVALID`.
 */
export function canonicalAction(action: ApprovalAction): CanonicalAction {
  const a = parseAction(action);
  let out: CanonicalAction;
  if (a.kind === 'exec') {
    out =
      'argv' in a
        ? { kind: 'exec', argv: [...a.argv], command: null, cwd: a.cwd ?? null, env: sortedEnv(a.env) }
        : { kind: 'exec', argv: null, command: a.command, cwd: a.cwd ?? null, env: sortedEnv(a.env) };
  } else if (a.kind === 'network') {
    out = { kind: 'network', host: a.host, port: a.port, method: a.method ?? null, path: a.path ?? null, scheme: a.scheme ?? null };
  } else {
    out = { kind: a.kind, path: a.path, contentSha256: a.contentSha256 ?? null };
  }
  return deepFreeze(out);
}

/**
 * JSON with object keys sorted, no whitespace. Canonical actions hold only strings,
 * finite numbers, null, arrays and plain objects, so this is a complete encoding of them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (typeof value === 'object') {
    const rec = value as Record<string, unknown>;
    const keys = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(rec[k])}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: ${typeof value} is not JSON`);
}

/** Domain separation, so that a digest of an action can never equal a digest of anything else Airlock hashes. */
const DIGEST_DOMAIN = 'airlock.approval.action.v1\n';

/** Hex SHA-256 of a canonical action's canonical JSON. */
export function digestOf(action: CanonicalAction): string {
  return createHash('sha256').update(DIGEST_DOMAIN).update(canonicalJson(action)).digest('hex');
}

/** Hex SHA-256 of an action (canonicalized first). Two actions have the same digest exactly when they run the same. */
export function actionDigest(action: ApprovalAction | CanonicalAction): string {
  return digestOf(isCanonical(action) ? canonicalAction(fromCanonical(action)) : canonicalAction(action));
}

/**
 * True when `a` has the shape of a canonical action (every field present). Only the shape
 * is checked; {@link actionDigest} still validates by converting back and forth.
 */
export function isCanonical(a: ApprovalAction | CanonicalAction): a is CanonicalAction {
  switch (a.kind) {
    case 'exec':
      return 'argv' in a && 'command' in a;
    case 'network':
      return 'method' in a && 'path' in a && 'scheme' in a;
    case 'file.read':
    case 'file.write':
      return 'contentSha256' in a && !('resolved' in a);
  }
}

/** The plain action a canonical one stands for (nulls back to absent fields). */
export function fromCanonical(c: CanonicalAction): ApprovalAction {
  switch (c.kind) {
    case 'exec': {
      const base = {
        ...(c.cwd === null ? {} : { cwd: c.cwd }),
        ...(Object.keys(c.env).length === 0 ? {} : { env: { ...c.env } }),
      };
      return c.argv !== null ? { kind: 'exec', argv: [...c.argv], ...base } : { kind: 'exec', command: c.command, ...base };
    }
    case 'network':
      return {
        kind: 'network',
        host: c.host,
        port: c.port,
        ...(c.method === null ? {} : { method: c.method }),
        ...(c.path === null ? {} : { path: c.path }),
        ...(c.scheme === null ? {} : { scheme: c.scheme }),
      };
    case 'file.read':
    case 'file.write':
      return { kind: c.kind, path: c.path, ...(c.contentSha256 === null ? {} : { contentSha256: c.contentSha256 }) };
  }
}

/** Parses a canonical action read back from storage; throws `E_APPROVAL_STORE` when it was tampered with. */
export function parseCanonical(json: string, digest: string): CanonicalAction {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (cause) {
    throw storeCorrupt(`stored action is not JSON`, cause);
  }
  const r = canonicalActionSchema.safeParse(value);
  if (!r.success) throw storeCorrupt(`stored action is malformed: ${formatIssues(r.error, 'action')}`);
  const action = deepFreeze(r.data as CanonicalAction);
  // The digest is recomputed, never trusted: a row edited behind the queue's back must not run.
  if (digestOf(action) !== digest) throw storeCorrupt('stored action does not match its digest');
  return action;
}

function storeCorrupt(message: string, cause?: unknown): AirlockError {
  return new AirlockError('E_APPROVAL_STORE', `approvals store: ${message}`, {
    hint: 'The approvals database was changed outside Airlock. Deny the pending asks and remove approvals/approvals.sqlite from the state directory.',
    ...(cause === undefined ? {} : { cause }),
  });
}
