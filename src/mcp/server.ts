/**
 * The MCP face: one session, its tools, and the rule that every call goes through the
 * policy first, then a person when the policy asks, then the sandbox, and is recorded.
 *
 * The server never judges or runs anything itself: it turns a tool call into a session
 * call (`exec`, `spawn`, `readFile`, …), where the policy decides. The one check made
 * here is the independent shell parser's cross-check for shell strings (the session only
 * sees the argv `bash -c STRING`), because that check is asynchronous.
 */
import { createHash } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { readFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { AirlockError, isAirlockError } from '../errors/index.js';
import { createEvent, type JsonValue } from '../events/index.js';
import {
  createDecideContext,
  createShellOracle,
  decide,
  loadPolicy,
  prepareAction,
  type Action,
  type Decision,
  type Policy,
  type ShellOracle,
} from '../policy/index.js';
import type { ApprovalAction, ApprovalDecision, ApprovalQueue } from '../approvals/index.js';
import {
  PolicyDeniedError,
  formatDenial,
  sandboxPath,
  type Session,
} from '../session/index.js';
import { applyEdit, lineDelta } from './edit.js';

/** Options for {@link createMcpServer}. */
export interface McpServerOptions {
  /** The session every tool acts in. The caller owns it (and destroys it). */
  session: Session;
  /** The approvals queue `request_access` asks through; without one it explains that nobody can answer. */
  approvals?: ApprovalQueue;
  /** Where a person approves (printed for the agent and the operator), when an HTTP server runs. */
  approvalUrl?: string;
  /** Server version reported to clients. */
  version?: string;
  /**
   * True when the session was created with this approvals queue (`ask` verdicts wait in it),
   * so a `session` grant from `request_access` lets the retry through. Default false.
   */
  sessionAsksWait?: boolean;
  /** How long `request_access` waits for a person by default, in seconds (default 60). */
  accessWaitSeconds?: number;
}

/** Output kept per stream for a tool result; the rest is counted and dropped. */
const MAX_TOOL_OUTPUT = 100 * 1024;
/** Bytes of a file `read_file` returns at most. */
const MAX_READ = 256 * 1024;
/** Result text kept in the audit record of a tool call. */
const AUDIT_RESULT_CHARS = 2048;

type Extra = {
  requestId: string | number;
  _meta?: { progressToken?: string | number } & Record<string, unknown>;
  signal: AbortSignal;
  sendNotification: (n: { method: 'notifications/progress'; params: { progressToken: string | number; progress: number; message?: string } }) => Promise<void>;
};

function text(t: string, isError = false): CallToolResult {
  return { content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) };
}

function clipUtf8(buf: Buffer, max: number): { text: string; dropped: number } {
  if (buf.length <= max) return { text: buf.toString('utf8'), dropped: 0 };
  return { text: buf.subarray(0, max).toString('utf8'), dropped: buf.length - max };
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * Redacts a text that may have been cut at a limit. When it was, its last `holdback`
 * characters (as long as the longest known secret, and any key-name context) could hold the
 * start of a secret the cut made unrecognizable: they are dropped rather than shown, and a
 * match reaching into them is dropped whole. Also counts the secrets replaced.
 */
function redactCut(session: Session, whole: string, cut: boolean): { text: string; count: number } {
  const matches = session.redactor.scan(whole);
  if (!cut) return { text: matches.length === 0 ? whole : session.redactor.redact(whole), count: matches.length };
  let end = Math.max(0, whole.length - session.redactor.holdback);
  for (const m of matches) if (m.start < end && m.end > end) end = m.start;
  let text = '';
  let pos = 0;
  let count = 0;
  for (const m of matches) {
    if (m.end > end) break;
    text += `${whole.slice(pos, m.start)}[REDACTED:${m.kind}]`;
    pos = m.end;
    count++;
  }
  return { text: text + whole.slice(pos, end), count };
}

/**
 * One output stream of a command for a tool result: decoded as UTF-8 across chunk
 * boundaries, redacted as it streams, and kept up to `max` characters (the rest counted).
 */
function createRedactedOutput(session: Session, max: number): { push(chunk: Buffer): string; end(): { text: string; dropped: number; tail: string } } {
  const decoder = new StringDecoder('utf8');
  const stream = session.redactor.stream();
  let kept = '';
  let total = 0;
  const keep = (released: string): string => {
    total += released.length;
    if (kept.length < max) kept += released.slice(0, max - kept.length);
    return released;
  };
  return {
    push(chunk) {
      return keep(stream.push(decoder.write(chunk)));
    },
    end() {
      // What the stream held back until now (the end of the output), for a last progress message.
      const tail = keep(stream.push(decoder.end())) + keep(stream.end());
      // Counted in characters of the redacted text (bytes before redaction are not tracked).
      return { text: kept, dropped: Math.max(0, total - kept.length), tail };
    },
  };
}

function fileDigest(file: string): string | null {
  try {
    return sha256(readFileSync(file));
  } catch {
    return null;
  }
}

function toJson(v: unknown): JsonValue {
  return JSON.parse(JSON.stringify(v ?? null)) as JsonValue;
}

/** A one-paragraph summary of a policy for a model (what `sandbox_info` shows). */
export function summarizePolicy(policy: Policy | undefined): JsonValue {
  if (policy === undefined) {
    return { file: null, note: 'No policy: everything the sandbox itself permits runs (there is still no network and no host file but the workspace).' };
  }
  const c = policy.compiled;
  const rules: JsonValue[] = [];
  for (const list of c.rules.values()) {
    for (const r of list) rules.push(`${r.id}: ${[r.command, ...r.subcommand].join(' ')} -> ${r.level}`);
  }
  return {
    file: policy.file,
    exec: { default: c.execDefault, unresolvable: c.unresolvable, rules: rules.slice(0, 200) },
    files: {
      read: c.files.read.map((e) => e.pattern),
      write: c.files.write.map((e) => e.pattern),
      deny: c.files.deny.map((e) => e.pattern),
      protectedLevel: c.files.protectedLevel,
      otherwise: { read: c.files.otherwiseRead, write: c.files.otherwiseWrite },
    },
    network: {
      default: c.network.default,
      rules: c.network.rules.map((r) => ({
        id: r.id,
        hosts: [...r.hosts.map((h) => (h.kind === 'exact' ? h.host : `*.${h.suffix.replace(/^\./, '')}`)), ...r.cidrs.map((x) => x.source)],
        ports: [...r.ports],
        methods: r.methods === null ? null : [...r.methods],
        level: r.level,
      })),
      credentials: c.network.credentials.map((k) => ({ id: k.id ?? null, hosts: k.hosts })),
    },
  };
}

/** Creates the MCP server for one session. Connect it to a transport (stdio for `airlock mcp`). */
export function createMcpServer(options: McpServerOptions): McpServer {
  const { session } = options;
  const server = new McpServer(
    { name: 'airlock', version: options.version ?? '0.0.0' },
    {
      instructions:
        'Every tool here acts inside an Airlock sandbox: /workspace is the project, there is no other host file, and a policy judges every command, file access and request before it runs. ' +
        'A result that starts with "BLOCKED BY SANDBOX POLICY" is a deliberate rule, not a bug: do not retry it another way; call request_access if you need it. Call sandbox_info to see what is allowed.',
    },
  );
  const decideContext = createDecideContext();
  let oracle: ShellOracle | undefined;
  let policyDigest = session.policy === undefined ? null : fileDigest(session.policy.file);

  /** Runs one tool call: the body, denials as agent-readable results, and the audit record. */
  const call = async (tool: string, args: unknown, extra: Extra, body: () => Promise<CallToolResult>): Promise<CallToolResult> => {
    const t0 = performance.now();
    let result: CallToolResult;
    try {
      result = await body();
    } catch (err) {
      if (err instanceof PolicyDeniedError) result = text(formatDenial(err.denial('mcp')), true);
      else if (isAirlockError(err)) result = text(`${err.code}: ${err.message}\n${err.hint}`, true);
      else result = text(`E_INTERNAL: ${err instanceof Error ? err.message : String(err)}`, true);
    }
    // Everything the agent reads passes through the session's redactor, denials and errors
    // too (a denial quotes the command line). Tools that cut their output redact before
    // cutting (below); this pass catches the rest, and is a no-op on text already redacted.
    result = {
      ...result,
      content: result.content.map((c) => (c.type === 'text' ? { ...c, text: session.redactor.redact(c.text) } : c)),
    };
    const first = result.content[0];
    const resultText = first !== undefined && first.type === 'text' ? first.text : '';
    session.events.publish(
      createEvent('agent.tool_call', session.id, {
        face: 'mcp',
        tool,
        toolCallId: String(extra.requestId),
        arguments: toJson(args),
        durationMs: performance.now() - t0,
        isError: result.isError === true,
        result: resultText.length > AUDIT_RESULT_CHARS ? `${resultText.slice(0, AUDIT_RESULT_CHARS)}…` : resultText,
      }),
    );
    return result;
  };

  /** A denial decided here (the cross-check) is recorded like one the session decides. */
  const denyHere = (subject: string, decision: Decision): never => {
    session.events.publish(
      createEvent('policy.decision', session.id, {
        action: 'exec',
        subject,
        verdict: decision.verdict,
        rule: decision.ruleId,
        reason: decision.reason,
      }),
    );
    throw new PolicyDeniedError(subject, decision);
  };

  /** Sends progress messages; the promise it returns settles when the message was sent (or failed). */
  const progress = (extra: Extra): ((message: string) => Promise<void>) => {
    const token = extra._meta?.progressToken;
    if (token === undefined) return () => Promise.resolve();
    let n = 0;
    return (message) => {
      n++;
      return extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: n, message } }).catch(() => undefined);
    };
  };

  // ------------------------------------------------------------------ run_command
  server.registerTool(
    'run_command',
    {
      title: 'Run a command in the sandbox',
      description:
        'Runs a command inside the sandbox (cwd /workspace unless given) and returns its exit status and output. Pass `argv` (an array, no shell) or `command` (a bash command line, run with bash -c). ' +
        'The policy judges every command the line would run, including each part of pipelines, lists and substitutions. Output streams as progress notifications while it runs.',
      inputSchema: {
        command: z.string().min(1).optional().describe('A bash command line, e.g. "npm test 2>&1 | tail -20".'),
        argv: z.array(z.string()).min(1).optional().describe('The program and its arguments, e.g. ["node", "test.js"].'),
        cwd: z.string().optional().describe('Working directory inside the sandbox; relative paths are under /workspace.'),
        timeout_seconds: z.number().positive().max(24 * 3600).optional().describe('Kill the command after this many seconds.'),
        stdin: z.string().optional().describe('Text written to the command\'s standard input.'),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: session.egress !== null },
    },
    (args, extra) =>
      call('run_command', args, extra as Extra, async () => {
        if ((args.command === undefined) === (args.argv === undefined)) {
          throw new AirlockError('E_USAGE', 'run_command needs exactly one of `command` (a string) or `argv` (an array)', {
            hint: 'Pass {"command": "npm test"} or {"argv": ["npm", "test"]}.',
          });
        }
        let argv: readonly string[];
        if (args.command !== undefined) {
          const policy = session.policy;
          if (policy !== undefined) {
            // The session judges `bash -c STRING` with airlock's own parser; the second,
            // independent parser is asked here, at the async boundary, and a disagreement is a deny.
            oracle ??= createShellOracle();
            const prepared = await prepareAction({ kind: 'exec', command: args.command }, { oracle });
            if ('prepared' in prepared && prepared.prepared.oracleDisagreement !== null) {
              denyHere(args.command, decide(prepared, policy, decideContext));
            }
          }
          argv = ['bash', '-c', args.command];
        } else argv = args.argv ?? [];
        const onProgress = progress(extra as Extra);
        const proc = session.spawn(argv, {
          toolCallId: String((extra as Extra).requestId),
          ...(args.cwd === undefined ? {} : { cwd: args.cwd }),
          ...(args.timeout_seconds === undefined ? {} : { timeoutMs: Math.round(args.timeout_seconds * 1000) }),
        });
        // Output is redacted as it streams, before it is kept or sent as progress: each stream
        // has its own streaming redactor, which holds back anything that may be the start of a
        // secret still arriving, so a secret split across chunks never shows up in pieces.
        const out = {
          stdout: createRedactedOutput(session, MAX_TOOL_OUTPUT),
          stderr: createRedactedOutput(session, MAX_TOOL_OUTPUT),
        };
        const collect = (which: 'stdout' | 'stderr') => (c: Buffer): void => {
          const released = out[which].push(c);
          if (released.length > 0) void onProgress(released.slice(0, 4096));
        };
        proc.stdout.on('data', collect('stdout'));
        proc.stderr.on('data', collect('stderr'));
        if (args.stdin !== undefined) proc.write(args.stdin);
        proc.end();
        const onAbort = (): void => { proc.kill('SIGKILL'); };
        (extra as Extra).signal.addEventListener('abort', onAbort, { once: true });
        const r = await proc.wait().finally(() => { (extra as Extra).signal.removeEventListener('abort', onAbort); });
        const so = out.stdout.end();
        const se = out.stderr.end();
        // The redactor held these back to the end. Sent before the result, and a moment before:
        // the SDK's client hands notifications to their handler a microtask late, so progress
        // read in the same chunk as the result finds its handler gone and is dropped.
        const tails = [so.tail, se.tail].filter((t) => t.length > 0);
        for (const tail of tails) await onProgress(tail.slice(0, 4096));
        if (tails.length > 0 && (extra as Extra)._meta?.progressToken !== undefined) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const status = r.startError !== undefined
          ? `could not start: ${r.startError.message}`
          : r.timedOut
            ? 'killed: it ran past its time limit'
            : r.exitCode === null
              ? `killed by ${r.signal ?? 'a signal'}`
              : `exit status ${r.exitCode}`;
        const parts = [`${status} (${Math.round(r.durationMs)} ms)`];
        const dropped = (which: 'stdout' | 'stderr'): string => {
          const d = (which === 'stdout' ? so : se).dropped;
          return d > 0 ? `\n[${d} more characters of ${which} not shown]` : '';
        };
        if (so.text.length > 0) parts.push(`--- stdout ---\n${so.text}${dropped('stdout')}`);
        if (se.text.length > 0) parts.push(`--- stderr ---\n${se.text}${dropped('stderr')}`);
        return text(parts.join('\n'), r.startError !== undefined || r.timedOut);
      }),
  );

  // -------------------------------------------------------------------- read_file
  server.registerTool(
    'read_file',
    {
      title: 'Read a file',
      description: 'Reads a text file as the sandbox sees it (relative paths are under /workspace). Long files are cut at 256 KiB; pass offset/limit (lines) to read a part.',
      inputSchema: {
        path: z.string().min(1),
        offset: z.number().int().min(1).optional().describe('First line to return (1-based).'),
        limit: z.number().int().min(1).optional().describe('Number of lines to return.'),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call('read_file', args, extra as Extra, async () => {
        // The session records the file.read.
        const { content, truncated } = await session.readFile(args.path, { maxBytes: 10 * 1024 * 1024 });
        // Redacted whole before lines are picked or the text is cut, so no cut splits a secret
        // (a cut file's tail that may be a secret's start is held back); a redacted multi-line
        // secret (a private key block) counts as one line for offset/limit.
        const redacted = redactCut(session, content.toString('utf8'), truncated);
        let body = redacted.text;
        if (args.offset !== undefined || args.limit !== undefined) {
          const lines = body.split('\n');
          const from = (args.offset ?? 1) - 1;
          body = lines.slice(from, args.limit === undefined ? undefined : from + args.limit).join('\n');
        }
        const clipped = clipUtf8(Buffer.from(body), MAX_READ);
        const note = clipped.dropped > 0 || truncated ? `\n[file cut: ${clipped.dropped} more bytes${truncated ? ' and beyond 10 MiB' : ''}; read a part with offset/limit]` : '';
        // The markers in the part shown (a file that itself holds marker text is miscounted, harmlessly).
        const shown = redacted.count === 0 ? 0 : (clipped.text.match(/\[REDACTED:[a-z0-9-]+\]/g) ?? []).length;
        const secrets = shown > 0
          ? `\n[${shown} secret value${shown === 1 ? ' was' : 's were'} replaced by [REDACTED:…] markers in this text; the file itself still holds them. Change the file with edit_file around them: writing this text back with write_file would overwrite them with the markers]`
          : '';
        return text(clipped.text + note + secrets);
      }),
  );

  // ------------------------------------------------------------------- write_file
  server.registerTool(
    'write_file',
    {
      title: 'Write a file',
      description: 'Creates or replaces a file inside the sandbox with the given text, atomically. Relative paths are under /workspace.',
      inputSchema: { path: z.string().min(1), content: z.string() },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call('write_file', args, extra as Extra, async () => {
        await session.writeFile(args.path, args.content);
        const bytes = Buffer.byteLength(args.content);
        return text(`wrote ${bytes} bytes to ${sandboxPath(args.path)} (sha256 ${sha256(args.content)})`);
      }),
  );

  // -------------------------------------------------------------------- edit_file
  server.registerTool(
    'edit_file',
    {
      title: 'Edit a file',
      description:
        'Replaces an exact string in a file. Fails when old_string is absent, or occurs more than once (add context to make it unique, or pass replace_all). Read the file first.',
      inputSchema: {
        path: z.string().min(1),
        old_string: z.string().min(1).describe('The exact text to replace, including whitespace.'),
        new_string: z.string(),
        replace_all: z.boolean().optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      call('edit_file', args, extra as Extra, async () => {
        const { content, truncated } = await session.readFile(args.path, { maxBytes: 10 * 1024 * 1024 });
        if (truncated) {
          throw new AirlockError('E_EDIT_FAILED', `${args.path} is larger than 10 MiB`, { hint: 'Edit it with a command (sed) or write_file.' });
        }
        const before = content.toString('utf8');
        const { text: after, replacements } = applyEdit(before, args.old_string, args.new_string, args.replace_all ?? false);
        // The session records the file.read above and the file.write here.
        await session.writeFile(args.path, after);
        const delta = lineDelta(before, after);
        return text(`edited ${sandboxPath(args.path)}: ${replacements} replacement${replacements === 1 ? '' : 's'}, +${delta.added} -${delta.removed} lines`);
      }),
  );

  // --------------------------------------------------------------- list_directory
  server.registerTool(
    'list_directory',
    {
      title: 'List a directory',
      description: 'Lists a directory inside the sandbox (default /workspace): name, type and size of each entry.',
      inputSchema: { path: z.string().min(1).optional() },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call('list_directory', args, extra as Extra, async () => {
        const entries = await session.listDirectory(args.path ?? '.');
        if (entries.length === 0) return text('(empty directory)');
        return text(entries.map((e) => `${e.type === 'directory' ? `${e.name}/` : e.name}\t${e.type}\t${e.size}`).join('\n'));
      }),
  );

  // ----------------------------------------------------------------------- search
  server.registerTool(
    'search',
    {
      title: 'Search files',
      description: 'Searches text files under a directory (default /workspace) for a fixed string, or an extended regex with regex: true. Returns path:line: text.',
      inputSchema: {
        pattern: z.string().min(1),
        path: z.string().min(1).optional(),
        regex: z.boolean().optional(),
        max_results: z.number().int().min(1).max(2000).optional(),
      },
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call('search', args, extra as Extra, async () => {
        const hits = await session.search(args.pattern, {
          ...(args.path === undefined ? {} : { path: args.path }),
          ...(args.regex === undefined ? {} : { regex: args.regex }),
          maxResults: args.max_results ?? 200,
        });
        if (hits.length === 0) return text('no matches');
        return text(hits.map((h) => `${h.path}:${h.line}: ${h.text}`).join('\n'));
      }),
  );

  // ----------------------------------------------------------------- http_request
  server.registerTool(
    'http_request',
    {
      title: 'HTTP request through the egress proxy',
      description:
        "Makes an HTTP(S) request through the sandbox's egress proxy, which applies the network policy (allowed hosts, methods, paths), asks a person where the policy says so, and injects credentials you never see. Returns the status line, headers and body (100 KiB at most).",
      inputSchema: {
        url: z.url(),
        method: z.string().regex(/^[A-Z]{1,16}$/).optional(),
        headers: z.record(z.string(), z.string()).optional(),
        body: z.string().optional(),
        timeout_seconds: z.number().positive().max(600).optional(),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (args, extra) =>
      call('http_request', args, extra as Extra, async () => {
        if (session.egress === null) {
          throw new AirlockError(
            'E_NO_EGRESS',
            `no network route: this session's policy allows no egress, so ${args.method ?? 'GET'} ${args.url} cannot be sent (the sandbox has no network interface but loopback)`,
            {
              hint: 'This is the sandbox configuration, not a fault in the request, and other routes out (curl, sockets, DNS) are blocked too. If the task needs this host, call request_access with the host and a reason.',
            },
          );
        }
        // Through the session's own proxy: its network rules, asks, SSRF guard, credentials,
        // budgets and audit record; a refusal comes back as a PolicyDeniedError (an agent denial).
        const r = await session.httpRequest({
          url: args.url,
          ...(args.method === undefined ? {} : { method: args.method }),
          ...(args.headers === undefined ? {} : { headers: args.headers }),
          ...(args.body === undefined ? {} : { body: args.body }),
          timeoutMs: Math.round((args.timeout_seconds ?? 60) * 1000),
          maxBodyBytes: MAX_TOOL_OUTPUT,
          signal: (extra as Extra).signal,
        });
        const head = [`HTTP/1.1 ${r.status} ${r.statusText}`, ...r.headers.map(([k, v]) => `${k}: ${v}`)].join('\n');
        // A body cut at the limit may end in the start of a secret: that tail is held back.
        const body = redactCut(session, r.body.toString('utf8'), r.truncated).text;
        return text(`${head}\n\n${body}${r.truncated ? `\n[response cut at ${MAX_TOOL_OUTPUT} bytes]` : ''}`);
      }),
  );

  // ----------------------------------------------------------------- sandbox_info
  server.registerTool(
    'sandbox_info',
    {
      title: 'What this sandbox allows',
      description: 'Describes the sandbox: workspace, limits, network route, approvals, and a summary of the policy (command rules, file patterns, network rules). Call it before planning work that needs the network or files outside /workspace.',
      inputSchema: {},
      annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    (args, extra) =>
      call('sandbox_info', args, extra as Extra, () => {
        const l = session.limits;
        const info: JsonValue = {
          session: session.id,
          workspace: { insideSandbox: '/workspace', hostPath: session.workspace },
          backend: session.backend,
          template: session.template.name,
          limits: toJson(l),
          network:
            session.egress === null
              ? 'none: the sandbox has no network interface but loopback and no egress proxy; http_request and any command that connects out will fail'
              : 'through the egress proxy only; the policy network rules below decide each request',
          approvals:
            options.approvals === undefined
              ? 'none attached: actions the policy would ask a person about are denied'
              : `a person can approve asks${options.approvalUrl === undefined ? '' : ` at ${options.approvalUrl.replace(/#.*$/, '')}`}; use request_access to ask for something the policy does not allow`,
          policy: summarizePolicy(session.policy),
        };
        return Promise.resolve(text(JSON.stringify(info, null, 2)));
      }),
  );

  // --------------------------------------------------------------- request_access
  server.registerTool(
    'request_access',
    {
      title: 'Ask a person for access',
      description:
        'Asks the person supervising this sandbox to allow one command, file path or host that the policy blocks, with your reason. It waits (up to wait_seconds) for their answer. ' +
        'If they approve with a policy rule, retry the action. Give exactly one of command, path or host.',
      inputSchema: {
        command: z.string().min(1).optional().describe('The exact bash command line you want to run.'),
        path: z.string().min(1).optional().describe('A file path you want to read or write.'),
        access: z.enum(['read', 'write']).optional().describe('For a path: read (default) or write.'),
        host: z.string().min(1).optional().describe('A host you need to reach, e.g. api.github.com.'),
        port: z.number().int().min(1).max(65535).optional(),
        method: z.string().regex(/^[A-Z]{1,16}$/).optional(),
        reason: z.string().min(1).max(2000).describe('Why the task needs it, in one or two sentences.'),
        wait_seconds: z.number().min(0).max(600).optional().describe('How long to wait for the answer (default 60).'),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args, extra) =>
      call('request_access', args, extra as Extra, async () => {
        const given = [args.command, args.path, args.host].filter((x) => x !== undefined).length;
        if (given !== 1) {
          throw new AirlockError('E_USAGE', 'request_access needs exactly one of `command`, `path` or `host`', {
            hint: 'Ask for one thing per call, e.g. {"command": "git push origin main", "reason": "..."}.',
          });
        }
        let action: Action & ApprovalAction;
        if (args.command !== undefined) action = { kind: 'exec', argv: ['bash', '-c', args.command], cwd: '/workspace' };
        else if (args.path !== undefined) action = { kind: args.access === 'write' ? 'file.write' : 'file.read', path: sandboxPath(args.path) };
        else {
          const host = args.host ?? '';
          action = { kind: 'network', host, port: args.port ?? 443, ...(args.method === undefined ? {} : { method: args.method }) };
        }
        const policy = session.policy;
        const now = policy === undefined ? undefined : decide(action, policy, decideContext);
        if (now !== undefined && (now.verdict === 'allow' || now.verdict === 'log')) {
          return text(`Already allowed by the policy (rule ${now.ruleId}); go ahead.`);
        }
        const queue = options.approvals;
        if (policy !== undefined && policyDigest !== fileDigest(policy.file)) {
          // The agent can write the workspace, and the policy file may live there: a file
          // that changed since it was loaded is never reloaded into this session.
          return text(
            `The policy file ${policy.file} changed since this session loaded it, so no rule can be added now. Continue without the access; a person must review the file and restart the session.`,
            true,
          );
        }
        if (queue === undefined || policy === undefined || now === undefined) {
          return text(
            'No approval channel is attached to this sandbox, so nobody can answer a request now. Continue without it, and say in your final answer what access you needed and why.',
            true,
          );
        }
        const sub = queue.submit(
          {
            sessionId: session.id,
            ...(session.name === undefined ? {} : { sessionName: session.name }),
            action,
            decision: {
              verdict: 'ask',
              ruleId: now.ruleId,
              reason: `the agent asks for access: ${args.reason} (the policy says ${now.verdict}: ${now.reason})`,
              // The agent asks about what the policy refused: those parts are what a person
              // decides on (and what a proposed grant would cover). The "policy says deny: "
              // prefix is read by the grant proposal (src/approvals/grants.ts): a grant lifts a
              // default deny only, never a deny a rule states.
              parts: now.parts.map((p) => (p.verdict === 'deny' ? { ...p, verdict: 'ask' as const, reason: `policy says deny: ${p.reason}` } : p)),
            },
            policyFile: policy.file,
          },
          { publish: (e) => { session.events.publish(e); } },
        );
        const waitMs = Math.round((args.wait_seconds ?? options.accessWaitSeconds ?? 60) * 1000);
        const onProgress = progress(extra as Extra);
        void onProgress(`waiting for a person to answer request ${sub.id}`);
        let timer: NodeJS.Timeout | undefined;
        const pending = new Promise<'pending'>((resolve) => {
          timer = setTimeout(() => { resolve('pending'); }, waitMs);
        });
        const outcome: ApprovalDecision | 'pending' = await Promise.race([sub.decision, pending]).finally(() => { clearTimeout(timer); });
        if (outcome === 'pending') {
          sub.decision.catch(() => undefined);
          return text(
            `Request ${sub.id} is waiting for a person${options.approvalUrl === undefined ? '' : ' (they answer on the approvals page)'}. Work on something else and call request_access again with the same arguments later to see the answer; do not try other routes meanwhile.`,
          );
        }
        if (!outcome.approved) {
          return text(
            `A person ${outcome.status === 'expired' ? 'did not answer in time (request expired)' : 'denied the request'}${outcome.reason === '' ? '' : `: ${outcome.reason}`}. Continue without it; do not try other routes to the same effect.`,
            true,
          );
        }
        if (outcome.scope === 'rule') {
          // The confirmed rule is in the policy file now; judge later actions by it.
          session.setPolicy(loadPolicy({ path: policy.file }));
          policyDigest = fileDigest(policy.file);
          return text(`Approved by ${outcome.by}: a rule was added to the policy. Retry the action now.`);
        }
        // A `session` grant covers this exact action where the policy asks, when the
        // session's asks wait in the queue; a deny rule still stands.
        const grantWorks = now.verdict === 'ask' && outcome.scope === 'session' && options.sessionAsksWait === true;
        return text(
          grantWorks
            ? `Approved by ${outcome.by} for this session. Retry the exact same action now.`
            : now.verdict === 'ask'
              ? `${outcome.by} approved it (${outcome.scope}), but this session cannot apply that grant to a later action: only a rule grant does. Ask the person to approve with "add a rule", or continue without it.`
            : `${outcome.by} approved it for ${outcome.scope === 'once' ? 'one use' : 'this session'}, but the policy denies it by rule ${now.ruleId}, and only a rule change lifts a deny. Ask the person to approve with "add a rule" instead, or continue without it.`,
          !grantWorks,
        );
      }),
  );

  return server;
}
