/**
 * Named sessions that outlive one command (`airlock session create|ls|exec|stop|rm`).
 *
 * A session's sandbox dies with the process that started it (bwrap --die-with-parent), so a
 * named session is owned by a small detached host process, the session host, which holds
 * the Session and serves it on a unix socket in the session's state directory (0700, never
 * bound into any sandbox). Clients speak one request per connection: a JSON line, then, for
 * an exec, the same frame format as the supervisor protocol in both directions.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { AirlockError, isAirlockError } from '../errors/index.js';
import { loadPolicy, type Decision } from '../policy/index.js';
import { FrameDecoder, FrameType, encodeFrame } from '../sandbox/protocol.js';
import { createSession, newSessionId, PolicyDeniedError, sessionOwnerAlive, type ExecResult, type SessionOptions } from './index.js';
import type { ApprovalQueue } from '../approvals/index.js';
import { openStagedWorkspace } from '../workspace/index.js';
import { stagingRootOf, type SessionWorkspaceMode } from './staging.js';
import type { Denial } from './denial.js';

/** What `airlock session ls` shows about a named session. */
export interface SessionRecord {
  id: string;
  name: string;
  state: 'running' | 'stopped' | 'dead';
  pid: number;
  workspace: string;
  template: string;
  backend: string;
  createdAt: string;
  stoppedAt?: string;
  layers?: unknown;
  /** `staged` (review with `airlock diff NAME`), `direct` or `read-only`; absent in records of older versions. */
  workspaceMode?: SessionWorkspaceMode;
}

interface StoredRecord extends Omit<SessionRecord, 'state'> {
  state: 'running' | 'stopped';
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function sessionsDir(stateDir: string): string {
  return join(stateDir, 'sessions');
}

function recordPath(stateDir: string, id: string): string {
  return join(sessionsDir(stateDir), id, 'session.json');
}

function socketPath(stateDir: string, id: string): string {
  return join(sessionsDir(stateDir), id, 'control.sock');
}

function writeRecord(stateDir: string, rec: StoredRecord): void {
  const file = recordPath(stateDir, rec.id);
  writeFileSync(`${file}.tmp`, JSON.stringify(rec, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** Lists named sessions with their live state. */
export function listSessions(stateDir: string): SessionRecord[] {
  let ids: string[];
  try {
    ids = readdirSync(sessionsDir(stateDir));
  } catch {
    return [];
  }
  const out: SessionRecord[] = [];
  for (const id of ids) {
    let rec: StoredRecord;
    try {
      rec = JSON.parse(readFileSync(recordPath(stateDir, id), 'utf8')) as StoredRecord;
    } catch {
      continue;
    }
    const state = rec.state === 'running' && !sessionOwnerAlive(stateDir, id) ? 'dead' : rec.state;
    out.push({ ...rec, state });
  }
  return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** Finds a named session by name or id; throws E_SESSION_NOT_FOUND. */
export function findSession(stateDir: string, nameOrId: string): SessionRecord {
  const all = listSessions(stateDir);
  const hit = all.find((r) => r.name === nameOrId) ?? all.find((r) => r.id === nameOrId);
  if (hit === undefined) {
    throw new AirlockError('E_SESSION_NOT_FOUND', `no session named ${JSON.stringify(nameOrId)}`, {
      hint: all.length === 0 ? 'Create one with `airlock session create --name NAME`.' : `Known: ${all.map((r) => r.name).join(', ')}.`,
    });
  }
  return hit;
}

/** Options for {@link createNamedSession}. */
// `egress` is left to the policy (a session host receives its options as JSON, and the test
// hooks are functions).
// The approval queue is opened by the session host itself (see `runSessionHost`).
export interface NamedSessionOptions extends Omit<SessionOptions, 'name' | 'id' | 'stateDir' | 'extraBinds' | 'bridges' | 'policy' | 'egress' | 'approvals'> {
  name: string;
  /**
   * POST each new ask of the session, signed, to this webhook. Handed to the session host
   * over its IPC channel (never its command line or environment).
   */
  approvalWebhook?: { url: string; secret: string };
  /** Policy file, loaded (and validated) by the session host. */
  policyPath?: string;
  stateDir: string;
  /** The airlock CLI entry point to run the session host with. */
  cliPath: string;
}

/** The host variables that a policy's credentials name (`secret: env:NAME`), with their values. */
function credentialEnv(policyPath: string | undefined): Record<string, string> {
  if (policyPath === undefined) return {};
  const out: Record<string, string> = {};
  for (const c of loadPolicy({ path: policyPath }).compiled.network.credentials) {
    const m = /^env:([A-Za-z_][A-Za-z0-9_]*)$/.exec(c.secret);
    const name = m?.[1];
    if (name === undefined) continue;
    const value = process.env[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Starts a session host process and waits until its sandbox is up. */
export async function createNamedSession(options: NamedSessionOptions): Promise<SessionRecord> {
  if (!NAME.test(options.name)) {
    throw new AirlockError('E_USAGE', `session name ${JSON.stringify(options.name)} is not allowed`, {
      hint: 'Use up to 64 letters, digits, dots, dashes and underscores.',
    });
  }
  const existing = listSessions(options.stateDir).find((r) => r.name === options.name);
  if (existing !== undefined) {
    throw new AirlockError('E_SESSION_EXISTS', `a session named ${options.name} already exists (${existing.state})`, {
      hint: `Pick another name, or remove it with \`airlock session rm ${options.name}\`.`,
    });
  }
  const id = newSessionId();
  mkdirSync(join(sessionsDir(options.stateDir), id), { recursive: true, mode: 0o700 });
  // Claim the directory until the host process takes it over (a concurrent sweep would remove it).
  writeFileSync(join(sessionsDir(options.stateDir), id, 'owner.json'), JSON.stringify({ pid: process.pid }), { mode: 0o600 });
  const log = openSync(join(sessionsDir(options.stateDir), id, 'host.log'), 'a', 0o600);
  const { cliPath, ...sessionOptions } = options;
  const child = spawn(process.execPath, [cliPath, '__session-host'], {
    detached: true,
    stdio: ['ignore', log, log, 'ipc'],
    // The host process needs no secret of the caller's; what the session needs is in the options.
    // Except the variables the policy's credentials name (`env:NAME`): the egress proxy
    // resolves them on the host, in this process's child.
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: options.stateDir, ...credentialEnv(options.policyPath) },
  });
  const reply = await new Promise<{ ok: true; record: SessionRecord } | { ok: false; error: { code: string; message: string; hint: string } }>(
    (resolve, reject) => {
      child.once('message', (m) => { resolve(m as never); });
      child.once('exit', (code) => { reject(
          new AirlockError('E_BACKEND_FAILED', `the session host exited with status ${String(code)} before it was ready`, {
            hint: `See ${join(sessionsDir(options.stateDir), id, 'host.log')}.`,
          }),
        ); },
      );
      child.send({ ...sessionOptions, id });
    },
  );
  child.disconnect();
  child.unref();
  if (!reply.ok) {
    rmSync(join(sessionsDir(options.stateDir), id), { recursive: true, force: true });
    throw new AirlockError(reply.error.code as never, reply.error.message, { hint: reply.error.hint });
  }
  return reply.record;
}

/** The approval queue a session host waits on, and how to close it. */
export interface SessionHostApprovals {
  readonly queue: ApprovalQueue;
  close(): Promise<void>;
}

/** Options for {@link runSessionHost}. */
export interface SessionHostOptions {
  /**
   * Opens the state directory's approval queue (and the webhook, if configured), so that an
   * `ask` in the named session waits for `airlock approve ID` from any terminal. Without it
   * an `ask` is a deny.
   */
  openApprovals?: (input: { stateDir: string; sessionId: string; webhook?: { url: string; secret: string } }) => Promise<SessionHostApprovals>;
}

/** The session host: run by `airlock __session-host`, receives its options over IPC. */
export async function runSessionHost(hostOptions: SessionHostOptions = {}): Promise<void> {
  const opts = await new Promise<Omit<NamedSessionOptions, 'cliPath'> & { id: string }>((resolve) => {
    process.once('message', (m) => { resolve(m as never); });
  });
  const stateDir = opts.stateDir;
  let server: Server | undefined;
  let approvals: SessionHostApprovals | undefined;
  try {
    const { policyPath, approvalWebhook, ...rest } = opts;
    approvals = await hostOptions.openApprovals?.({ stateDir, sessionId: opts.id, ...(approvalWebhook === undefined ? {} : { webhook: approvalWebhook }) });
    const session = await createSession({
      ...rest,
      name: opts.name,
      id: opts.id,
      stateDir,
      ...(policyPath === undefined ? {} : { policy: loadPolicy({ path: policyPath }) }),
      ...(approvals === undefined ? {} : { approvals: approvals.queue }),
    });
    const record: StoredRecord = {
      id: session.id,
      name: opts.name,
      state: 'running',
      pid: process.pid,
      workspace: session.workspace,
      template: session.template.name,
      backend: session.backend,
      createdAt: session.createdAt.toISOString(),
      layers: session.layers,
      workspaceMode: session.workspaceMode,
    };
    writeRecord(stateDir, record);
    const sock = socketPath(stateDir, session.id);
    rmSync(sock, { force: true });
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
      stopping ??= (async () => {
        server?.close();
        try {
          await session.destroy();
        } finally {
          await approvals?.close();
        }
        writeRecord(stateDir, { ...record, state: 'stopped', stoppedAt: new Date().toISOString() });
        rmSync(sock, { force: true });
      })();
      return stopping;
    };
    server = createServer((conn) => {
      serveConnection(conn, session, stop);
    });
    await new Promise<void>((resolve, reject) => {
      server?.once('error', reject);
      server?.listen(sock, () => { resolve(); });
    });
    process.send?.({ ok: true, record: { ...record } });
    process.disconnect?.();
    const reason = await session.ended;
    process.stderr.write(`session ended: ${reason.message}\n`);
    await stop();
    process.exit(0);
  } catch (err) {
    const e = isAirlockError(err)
      ? err.toJSON()
      : { code: 'E_INTERNAL', message: (err as Error).message, hint: 'See the session host log.' };
    process.send?.({ ok: false, error: e });
    await approvals?.close().catch(() => undefined);
    process.exit(2);
  }
}

// The session host's socket is private (0700 directory), but a request is still parsed, not
// cast: a malformed line is refused rather than half-understood.
const execRequestSchema = z.strictObject({
  op: z.literal('exec'),
  argv: z.array(z.string()).min(1),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().nonnegative().optional(),
  tty: z.strictObject({ cols: z.number().int().positive(), rows: z.number().int().positive(), term: z.string().optional() }).optional(),
});
const requestSchema = z.discriminatedUnion('op', [
  execRequestSchema,
  z.strictObject({ op: z.literal('stop') }),
  z.strictObject({ op: z.literal('info') }),
]);
type ExecRequestLine = z.infer<typeof execRequestSchema>;
type RequestLine = z.infer<typeof requestSchema>;

function parseRequest(line: string): RequestLine | undefined {
  try {
    const r = requestSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

function readLine(conn: Socket): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(10);
      if (nl >= 0) {
        conn.off('data', onData);
        conn.pause();
        resolve({ line: buf.subarray(0, nl).toString('utf8'), rest: buf.subarray(nl + 1) });
      } else if (buf.length > 1024 * 1024) {
        conn.off('data', onData);
        reject(new Error('request line too long'));
      }
    };
    conn.on('data', onData);
    conn.once('error', reject);
  });
}

function serveConnection(conn: Socket, session: Awaited<ReturnType<typeof createSession>>, stop: () => Promise<void>): void {
  conn.on('error', () => undefined);
  void (async () => {
    const { line, rest } = await readLine(conn);
    const req = parseRequest(line);
    if (req === undefined) {
      const e = { code: 'E_PROTOCOL', message: 'malformed request to the session host', hint: 'Use the airlock CLI or SDK of the same version.' };
      conn.end(encodeFrame(FrameType.Error, 0, Buffer.from(JSON.stringify(e))));
      return;
    }
    if (req.op === 'stop') {
      await stop();
      conn.end(`${JSON.stringify({ ok: true })}\n`);
      setImmediate(() => process.exit(0));
      return;
    }
    if (req.op === 'info') {
      conn.end(`${JSON.stringify({ ok: true, id: session.id, layers: session.layers })}\n`);
      return;
    }
    let proc;
    try {
      proc = session.spawn(req.argv, {
        ...(req.cwd === undefined ? {} : { cwd: req.cwd }),
        ...(req.env === undefined ? {} : { env: req.env }),
        ...(req.timeoutMs === undefined ? {} : { timeoutMs: req.timeoutMs }),
        ...(req.tty === undefined
          ? {}
          : { tty: { cols: req.tty.cols, rows: req.tty.rows, ...(req.tty.term === undefined ? {} : { term: req.tty.term }) } }),
      });
    } catch (err) {
      const e = isAirlockError(err) ? err.toJSON() : { code: 'E_INTERNAL', message: String(err), hint: '' };
      conn.end(encodeFrame(FrameType.Error, 0, Buffer.from(JSON.stringify(e))));
      return;
    }
    const p = proc;
    void p.pid.then((pid) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(pid);
      conn.write(encodeFrame(FrameType.Started, 0, b));
    }, () => undefined);
    p.stdout.on('data', (c: Buffer) => conn.write(encodeFrame(FrameType.Stdout, 0, c)));
    p.stderr.on('data', (c: Buffer) => conn.write(encodeFrame(FrameType.Stderr, 0, c)));
    const decoder = new FrameDecoder();
    const onFrames = (d: Buffer): void => {
      for (const f of decoder.push(d)) {
        if (f.type === FrameType.Stdin) p.write(f.payload);
        else if (f.type === FrameType.StdinEof) p.end();
        else if (f.type === FrameType.Signal) p.kill(f.payload.readUInt32LE(0));
        else if (f.type === FrameType.Resize) p.resize(f.payload.readUInt16LE(0), f.payload.readUInt16LE(2));
      }
    };
    if (rest.length > 0) onFrames(rest);
    conn.on('data', onFrames);
    conn.resume();
    // A client that goes away takes its command with it, as a closed terminal would.
    conn.on('close', () => { p.kill('SIGKILL'); });
    // A rule grant whose policy file no longer loads is said to the person who ran the command.
    const stopNotices = session.events.subscribe((e) => {
      if (e.type === 'policy.reload' && !e.data.ok && !conn.destroyed) {
        const line = `airlock: warning: the rule of approval ${e.data.approvalId ?? '?'} was written to ${e.data.file}, but the file no longer loads (${e.data.error ?? 'unknown error'}); session ${session.id} keeps its previous, stricter policy.\n`;
        conn.write(encodeFrame(FrameType.Stderr, 0, Buffer.from(line)));
      }
    });
    let result: ExecResult;
    try {
      result = await p.wait();
    } catch (err) {
      // An ask that was denied or expired: the command never started. The error keeps its
      // decision, so the client explains it as it would a plain deny.
      const e = isAirlockError(err) ? err.toJSON() : { code: 'E_INTERNAL', message: String(err), hint: '' };
      conn.end(encodeFrame(FrameType.Error, 0, Buffer.from(JSON.stringify(e))));
      return;
    } finally {
      stopNotices();
    }
    conn.end(encodeFrame(FrameType.Exit, 0, Buffer.from(JSON.stringify(result))));
  })().catch(() => conn.destroy());
}

function connect(stateDir: string, rec: SessionRecord): Promise<Socket> {
  if (rec.state !== 'running') {
    return Promise.reject(
      new AirlockError('E_SESSION_CLOSED', `session ${rec.name} is ${rec.state}`, {
        hint: `Create a new one, or remove it with \`airlock session rm ${rec.name}\`.`,
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const s = createConnection(socketPath(stateDir, rec.id), () => { resolve(s); });
    s.once('error', (err) => { reject(new AirlockError('E_SESSION_CLOSED', `cannot reach session ${rec.name}: ${err.message}`, { hint: 'Its host process may have died; check `airlock session ls`.', cause: err })); },
    );
  });
}

/** Streams wired to a remote exec. */
export interface RemoteExecIO {
  onStdout(chunk: Buffer): void;
  onStderr(chunk: Buffer): void;
}

/** A remote exec in progress. */
export interface RemoteExec {
  write(data: Buffer): void;
  end(): void;
  signal(signo: number): void;
  resize(cols: number, rows: number): void;
  result: Promise<ExecResult>;
}

/** Runs a command in a named session through its host process. */
export async function execInSession(stateDir: string, rec: SessionRecord, req: Omit<ExecRequestLine, 'op'>, io: RemoteExecIO): Promise<RemoteExec> {
  const conn = await connect(stateDir, rec);
  conn.write(`${JSON.stringify({ op: 'exec', ...req })}\n`);
  const decoder = new FrameDecoder();
  const result = new Promise<ExecResult>((resolve, reject) => {
    conn.on('data', (d: Buffer) => {
      for (const f of decoder.push(d)) {
        if (f.type === FrameType.Stdout) io.onStdout(f.payload);
        else if (f.type === FrameType.Stderr) io.onStderr(f.payload);
        else if (f.type === FrameType.Exit) resolve(JSON.parse(f.payload.toString('utf8')) as ExecResult);
        else if (f.type === FrameType.Error) {
          const e = JSON.parse(f.payload.toString('utf8')) as { code: string; message: string; hint: string; denial?: Denial; decision?: Decision };
          // A denial keeps its decision across the socket, so every face can explain it the same way.
          if (e.code === 'E_POLICY_DENIED' && e.denial !== undefined && e.decision !== undefined) {
            reject(new PolicyDeniedError(e.denial.blocked, e.decision, e.denial.reason === e.decision.reason ? undefined : e.denial.reason));
          } else reject(new AirlockError(e.code as never, e.message, { hint: e.hint }));
        }
      }
    });
    conn.on('close', () => { reject(new AirlockError('E_SESSION_CLOSED', `session ${rec.name} closed the connection`, { hint: 'Check `airlock session ls`.' })); },
    );
  });
  const send = (buf: Buffer): void => {
    if (!conn.destroyed) conn.write(buf);
  };
  return {
    write: (data) => { send(encodeFrame(FrameType.Stdin, 0, data)); },
    end: () => { send(encodeFrame(FrameType.StdinEof, 0)); },
    signal: (signo) => {
      const b = Buffer.alloc(4);
      b.writeUInt32LE(signo);
      send(encodeFrame(FrameType.Signal, 0, b));
    },
    resize: (cols, rows) => {
      const b = Buffer.alloc(4);
      b.writeUInt16LE(cols, 0);
      b.writeUInt16LE(rows, 2);
      send(encodeFrame(FrameType.Resize, 0, b));
    },
    result: result.finally(() => conn.end()),
  };
}

/** Stops a named session's sandbox; its record stays until `removeSession`. */
export async function stopSession(stateDir: string, rec: SessionRecord): Promise<void> {
  if (rec.state === 'dead') {
    writeRecord(stateDir, { ...rec, state: 'stopped', stoppedAt: new Date().toISOString() });
    return;
  }
  if (rec.state !== 'running') return;
  const conn = await connect(stateDir, rec);
  conn.write(`${JSON.stringify({ op: 'stop' })}\n`);
  await new Promise<void>((resolve) => {
    conn.on('data', () => undefined);
    conn.on('close', () => { resolve(); });
  });
  // The host exits right after replying; wait for it so `ls` afterwards is exact.
  for (let i = 0; i < 200 && sessionOwnerAlive(stateDir, rec.id); i++) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Stops (if needed) and deletes a named session: its record and its staged workspace
 * (changes not applied or exported by then are gone; the project is not touched).
 */
export async function removeSession(stateDir: string, rec: SessionRecord): Promise<void> {
  await stopSession(stateDir, rec);
  let ws;
  try {
    ws = openStagedWorkspace(join(stagingRootOf(stateDir), rec.id));
  } catch (err) {
    // direct, read-only, or already discarded
    if (!isAirlockError(err) || err.code !== 'E_WORKSPACE_NOT_FOUND') throw err;
    ws = undefined;
  }
  // Discard before the record goes: a failure leaves a session that `rm` can retry.
  if (ws !== undefined) await ws.discard();
  rmSync(join(sessionsDir(stateDir), rec.id), { recursive: true, force: true });
}
