/**
 * Sessions: one live sandbox each, started once, running many commands through its
 * supervisor. This is the lifecycle every face (CLI, SDK, MCP, HTTP) speaks to.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, realpathSync, rmSync, statSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { constants as osConstants, homedir } from 'node:os';
import { join, relative, isAbsolute, posix } from 'node:path';
import { PassThrough } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { protectedChanges, snapshotProtected, type ProtectedChange } from './protected-watch.js';
import { AirlockError, type ErrorCode } from '../errors/index.js';
import { describeDenial, type Denial, type DenialFace } from './denial.js';
import {
  createBwrapBackend,
  detectCgroups,
  processAlive,
  loadGvisorBackend,
  resolveTemplate,
  sweepStaleCgroups,
  type Backend,
  type BackendName,
  type ExecExit,
  type ExecHandle,
  type ExtraBind,
  type Bridge,
  type ResolvedLimits,
  type Sandbox,
  type SandboxLayers,
  type Template,
} from '../sandbox/index.js';
import { attachAudit, type AuditAttachment } from '../audit/index.js';
import { createDecideContext, decide, loadPolicy, type Action, type Decision, type Policy } from '../policy/index.js';
import type { ApprovalEvent, ApprovalQueue } from '../approvals/index.js';
import { waitForApproval, type ApprovedRun } from './approval.js';
import { createEvent, createEventChannel, type AgentFace, type EventChannel, type FileWriteData } from '../events/index.js';
import { MIN_SECRET_LENGTH, createRedactor, type Redactor } from '../redact/index.js';
import {
  PREVIOUS_CONTENT_LIMIT,
  sandboxPath,
  lineDelta,
  listDirectory,
  readFile,
  search,
  writeFile,
  type DirEntry,
  type RawRunner,
  type SearchHit,
  type WriteOutcome,
} from './files.js';
import { resolveLimits, type LimitsInput } from './limits.js';
import { resolveStateDir } from './state.js';
import {
  checkWorkspaceMode,
  stageWorkspace,
  sweepStagedWorkspaces,
  type SessionStagingOptions,
  type SessionWorkspaceMode,
  type WorkspaceMode,
} from './staging.js';
import type { StagedWorkspace } from '../workspace/index.js';
import {
  createApprovalAsk,
  egressEnabled,
  startSessionEgress,
  toBudgetExceededData,
  toNetworkRequestData,
  type SessionEgress,
  type SessionEgressSetting,
} from './egress.js';
import type { EgressEvent } from '../egress/index.js';
import { proxiedRequest, type HttpRequestOptions, type HttpResponse } from './http.js';

export { resolveLimits, parseDuration, parseSize, DEFAULT_LIMITS, type LimitsInput } from './limits.js';
export { resolveStateDir } from './state.js';
export { sandboxPath, lineDelta, type DirEntry, type SearchHit } from './files.js';
export {
  STAGED_RETENTION_MS,
  describeChanges,
  finishStagedRun,
  openSessionWorkspace,
  summarizeChanges,
  type ChangeSummary,
  type SessionStagingOptions,
  type SessionWorkspaceMode,
  type StagedRunAction,
  type StagedRunOutcome,
  type SummaryProtected,
  type SummaryRejected,
  type WorkspaceMode,
} from './staging.js';
export {
  createPolicyDecide,
  policyWantsEgress,
  EGRESS_CA_IN_SANDBOX,
  EGRESS_SOCKET_IN_SANDBOX,
  DEFAULT_EGRESS_PORT,
  type SessionEgressOptions,
  type SessionEgressSetting,
} from './egress.js';
export { describeDenial, formatDenial, type Denial, type DenialFace } from './denial.js';
export { type ProtectedChange } from './protected-watch.js';
export type { HttpRequestOptions, HttpResponse } from './http.js';

/** Options for {@link createSession}. */
export interface SessionOptions {
  /** The user's project directory; the sandbox sees it (staged, by default) at /workspace. */
  workspace: string;
  /** Mount the project read-only at /workspace (nothing can change, so nothing is staged). */
  workspaceReadOnly?: boolean;
  /**
   * `staged` (default): /workspace is a staged copy of the project (src/workspace: overlayfs,
   * or a copy where the overlay cannot be mounted); the project changes only when
   * `session.staged.apply()` (or `airlock apply`) lands the changes. `direct`: the project
   * itself is bound read-write and every write lands at once.
   */
  workspaceMode?: WorkspaceMode;
  /** Staging options (strategy, the agent's git identity), for `workspaceMode: 'staged'`. */
  staging?: SessionStagingOptions;
  /** Template name (or a path to a template file); default "host". */
  template?: string;
  /** Sandbox backend; default "bwrap". */
  backend?: BackendName;
  /** Resource limits; defaults in DEFAULT_LIMITS. */
  limits?: LimitsInput;
  /** Extra environment for every command (never the host's own environment). */
  env?: Readonly<Record<string, string>>;
  /** State directory; default from AIRLOCK_HOME / XDG_STATE_HOME. */
  stateDir?: string;
  /** A human name (for `airlock session`); the id is generated unless `id` is given. */
  name?: string;
  /** Use this id instead of a fresh one (the session host daemon does, to publish it early). */
  id?: string;
  /** Host paths to make visible inside (egress socket, CA certificate). */
  extraBinds?: readonly ExtraBind[];
  /** Loopback ports inside spliced to host unix sockets. */
  bridges?: readonly Bridge[];
  /** Record every action in the hash-chained audit log under the state directory (default true). */
  audit?: boolean;
  /**
   * The policy every command and file operation is judged by before it reaches the sandbox
   * (see `loadPolicy`). Without one, the sandbox alone is the boundary and everything it
   * permits runs.
   */
  policy?: Policy;
  /**
   * Secret values the session knows, redacted from every record, output excerpt and MCP tool
   * result, in addition to the credentials the policy's `network.credentials` resolve to
   * (which the session learns from its egress proxy). Each must be at least
   * {@link MIN_SECRET_LENGTH} characters: a shorter one stops the session (`E_REDACT_INVALID`).
   */
  secrets?: readonly string[];
  /**
   * Where `ask` verdicts go: the action waits (bounded by the policy's `approvals.timeout`,
   * default 120 s) until a person decides on a channel of this queue, then runs exactly
   * what was approved. Without a queue an `ask` is a deny.
   */
  approvals?: ApprovalQueue;
  /**
   * The session's egress proxy, the sandbox's only way out (docs/egress.md). Default: on when
   * the policy's `network` section can let anything out (rules, a default other than deny,
   * credentials), off otherwise (no network at all). `true` or an options object starts it
   * regardless (without a policy it denies everything); `false` never starts it.
   */
  egress?: SessionEgressSetting;
}

/** Options for one command. */
export interface ExecOptions {
  /** Working directory inside the sandbox; relative paths are under /workspace. */
  cwd?: string;
  /** Extra environment for this command. */
  env?: Readonly<Record<string, string>>;
  /** Wall-clock limit in ms; default the session's exec timeout (0: none). */
  timeoutMs?: number;
  /** The agent tool call that caused it (an MCP request id), recorded in `exec.started`. */
  toolCallId?: string;
}

/** Options for a buffered {@link Session.exec}. */
export interface BufferedExecOptions extends ExecOptions {
  /** Written to the command's stdin, which is then closed. */
  stdin?: string | Buffer;
  /** Output kept per stream, bytes; the rest is counted but dropped (default 16 MiB). */
  maxOutputBytes?: number;
}

/** Options for a streaming {@link Session.spawn}. */
export interface SpawnOptions extends ExecOptions {
  /** Run on a fresh pty of this size instead of pipes. */
  tty?: { cols: number; rows: number; term?: string };
}

/** The outcome of a command. */
export interface ExecResult extends ExecExit {
  durationMs: number;
  /** The policy's decision that let it run (absent without a policy). */
  decision?: Decision;
  /** True when the wall-clock limit killed it. */
  timedOut: boolean;
}

/** The outcome of a buffered command, with its output. */
export interface BufferedExecResult extends ExecResult {
  stdout: string;
  stderr: string;
  stdoutBytes: number;
  stderrBytes: number;
  /** True when output beyond maxOutputBytes was dropped. */
  truncated: boolean;
}

/** A running command with streams. */
export interface SessionProcess {
  /** Output as it arrives (a pty merges stderr into stdout). */
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  /** Its pid inside the sandbox. */
  readonly pid: Promise<number>;
  write(data: string | Buffer): void;
  end(): void;
  kill(signal?: NodeJS.Signals | number): void;
  resize(cols: number, rows: number): void;
  /** Resolves when it has exited and its output streams have ended. */
  wait(): Promise<ExecResult>;
}

/** A live sandbox session. */
export interface Session {
  readonly id: string;
  readonly name: string | undefined;
  readonly workspace: string;
  readonly template: Template;
  readonly backend: BackendName;
  readonly limits: ResolvedLimits;
  readonly layers: SandboxLayers;
  readonly createdAt: Date;
  /** `staged` (default), `direct` (the project read-write) or `read-only`. */
  readonly workspaceMode: SessionWorkspaceMode;
  /**
   * The staged workspace when `workspaceMode` is `staged` (else null): `diff()`, `changes()`,
   * `apply()`, `exportBranch()`, `discard()`. Usable while the session runs (a live view) and
   * after `destroy()`, which seals it (frozen) and keeps it until it is applied or discarded
   * (an ephemeral session's is swept 7 days after it was sealed; see STAGED_RETENTION_MS).
   * `airlock diff|apply|discard|export SESSION_ID` open the same workspace from another process.
   */
  readonly staged: StagedWorkspace | null;
  /** Runs a command to completion and returns its output. */
  exec(argv: readonly string[], options?: BufferedExecOptions): Promise<BufferedExecResult>;
  /** Starts a command and streams its output. */
  spawn(argv: readonly string[], options?: SpawnOptions): SessionProcess;
  /** Resolves when the session has ended (destroyed, timed out, or the sandbox died). */
  readonly ended: Promise<Error>;
  /** Peak memory of the sandbox, bytes, when measured. */
  memoryPeak(): number | undefined;
  /** The session's event channel (exec, policy, approvals, network); the audit log subscribes to it. */
  readonly events: EventChannel;
  /**
   * The session's redactor: every secret value the session knows (`secrets` and the policy's
   * credentials) and the built-in credential patterns. The audit log and the MCP tool results
   * go through it; `exec`, `spawn` and `readFile` return the sandbox's bytes as they are (the
   * caller is the host program), so a caller that hands output to a model redacts it with this.
   */
  readonly redactor: SessionRedactor;
  /** Reads a file as the sandbox sees it (relative paths are under /workspace). */
  readFile(path: string, options?: { maxBytes?: number }): Promise<{ content: Buffer; truncated: boolean }>;
  /** Writes a file inside the sandbox, atomically. */
  writeFile(path: string, content: string | Buffer): Promise<void>;
  /** Lists a directory as the sandbox sees it. */
  listDirectory(path: string): Promise<DirEntry[]>;
  /** Searches files under a directory (default /workspace) for a string or regex. */
  search(pattern: string, options?: { path?: string; regex?: boolean; maxResults?: number }): Promise<SearchHit[]>;
  /**
   * For a `direct` session: the protected files (git hooks and config, editor, agent and CI
   * settings, shell rc files, package.json scripts) created, changed or removed since the
   * session started; after `destroy()`, the final list. Null for staged and read-only
   * sessions, whose staged workspace holds such changes for review instead.
   */
  protectedChanges(): ProtectedChange[] | null;
  /**
   * The session's egress proxy, or null when the session has none (no network at all):
   * the proxy variables every command inside gets, and whether TLS interception is on.
   */
  readonly egress: { readonly env: Readonly<Record<string, string>>; readonly intercepts: boolean } | null;
  /**
   * Sends one HTTP(S) request through the session's own egress proxy, exactly as a process
   * inside would: the policy's network rules (and an ask), the SSRF guard, credential
   * injection, budgets and a `network.request` audit event. A refusal throws
   * {@link PolicyDeniedError}; a session without a proxy throws `E_NO_EGRESS`.
   */
  httpRequest(request: HttpRequestOptions): Promise<HttpResponse>;
  /** Kills everything in the sandbox and removes its host state. Idempotent. */
  destroy(): Promise<void>;
  /** The policy actions are judged by now (undefined: the sandbox alone is the boundary). */
  readonly policy: Policy | undefined;
  /**
   * Judges later actions by `policy` (a reloaded policy file after a person confirmed a
   * rule). Actions already running are not affected.
   */
  setPolicy(policy: Policy): void;
  /**
   * Records a prompt the caller saw going to the agent (the user's task, a system prompt) as
   * an `agent.prompt` audit event, redacted like every other record. Airlock never sees an
   * agent's prompts on its own; the face that drives the agent (the SDK's caller) knows them.
   */
  recordPrompt(text: string, options?: { role?: string; face?: AgentFace }): void;
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function looksBinary(b: Buffer): boolean {
  return b.subarray(0, 8192).includes(0);
}

/** The `file.write` record of a write: hashes before and after, and lines added and removed. */
function fileWriteData(w: WriteOutcome): FileWriteData {
  const base = { path: w.path, size: w.content.length, sha256: sha256Hex(w.content) };
  if (w.previousTruncated) {
    return {
      ...base,
      previousSha256: null,
      linesAdded: 0,
      linesRemoved: 0,
      note: `the previous content was longer than ${PREVIOUS_CONTENT_LIMIT} bytes: its hash and the line counts were not computed`,
    };
  }
  const before = w.previous ?? Buffer.alloc(0);
  const previous = w.previous === null ? { previousSha256: null } : { previousSha256: sha256Hex(w.previous), previousSize: w.previous.length };
  if (looksBinary(before) || looksBinary(w.content)) {
    return { ...base, ...previous, linesAdded: 0, linesRemoved: 0, note: 'binary content: lines not counted' };
  }
  const delta = lineDelta(before.toString('utf8'), w.content.toString('utf8'));
  return { ...base, ...previous, linesAdded: delta.added, linesRemoved: delta.removed };
}

/** What a session's redactor offers its faces (see {@link Session.redactor}). */
export type SessionRedactor = Pick<Redactor, 'redact' | 'redactValue' | 'scan' | 'stream' | 'holdback'>;

/**
 * Adds the secrets the egress proxy resolved to the session's redactor. A credential too
 * short to redact is refused by name (its reference is in the policy), never by value.
 */
function learnCredentials(redactor: Redactor, known: ReadonlyArray<{ readonly id: string; readonly values: readonly string[] }>): void {
  for (const [i, c] of known.entries()) {
    const short = c.values.find((v) => v.length < MIN_SECRET_LENGTH);
    if (short !== undefined) {
      throw new AirlockError(
        'E_REDACT_INVALID',
        `network.credentials[${i}] ("${c.id}"): its secret is ${short.length} characters long, shorter than the ${MIN_SECRET_LENGTH} the session can redact safely, so the session was not started`,
        {
          hint: 'Point the credential at the real token (an empty or placeholder variable?). A value that short would be guessable through redaction itself.',
        },
      );
    }
    redactor.addSecrets(c.values);
  }
}

/** Thrown when the policy denies an action; nothing reached the sandbox. */
export class PolicyDeniedError extends AirlockError {
  /** The decision, with the rule that denied and every parsed part. */
  readonly decision: Decision;
  /** What was blocked: the command line, the path, `host:port`. */
  readonly subject: string;
  /** The reason shown, when it differs from the decision's own. */
  readonly why: string | undefined;
  constructor(subject: string, decision: Decision, why?: string) {
    super(
      'E_POLICY_DENIED',
      `${subject}: denied by the sandbox policy (rule ${decision.ruleId}: ${why ?? decision.reason})`,
      {
        hint:
          'This is the sandbox policy, not a fault in the command; other routes to the same effect are blocked and recorded too. ' +
          'A person can allow it by changing airlock.yaml (check with `airlock policy check -- CMD`).',
      },
    );
    this.decision = decision;
    this.subject = subject;
    this.why = why;
  }

  /** The denial written for an agent on the given face (see `describeDenial`). */
  denial(face: DenialFace = 'sdk'): Denial {
    return describeDenial(this.subject, this.decision, face, this.why);
  }

  /** `{code, message, hint, denial, decision}`: the JSON form carries the agent-readable denial. */
  override toJSON(): { code: ErrorCode; message: string; hint: string; denial: Denial; decision: Decision } {
    return { ...super.toJSON(), denial: this.denial('cli'), decision: this.decision };
  }
}

const SANDBOX_HOME = '/home/agent';

/**
 * The excerpt of an exec's output kept in `exec.finished`: the first EXCERPT_BYTES characters
 * of its redacted output, in arrival order. Each stream goes through its own streaming
 * redactor, so a secret split across chunks, or cut where the excerpt ends, never leaves a
 * prefix behind: a stream releases text only once no secret can still be growing in it, and
 * what it holds back when the excerpt is full is dropped. Feeding stops once the excerpt is
 * full, so a command with a lot of output costs nothing more.
 */
function createExcerpt(redactor: Redactor): { push(which: 'stdout' | 'stderr', chunk: Buffer): void; end(): { text: string; truncated: boolean } } {
  const streams = {
    stdout: { decoder: new StringDecoder('utf8'), redact: redactor.stream() },
    stderr: { decoder: new StringDecoder('utf8'), redact: redactor.stream() },
  };
  let text = '';
  let full = false;
  const add = (released: string): void => {
    if (released.length === 0) return;
    text += released;
    if (text.length > EXCERPT_BYTES) full = true;
  };
  return {
    push(which, chunk) {
      if (full) return;
      const s = streams[which];
      add(s.redact.push(s.decoder.write(chunk)));
    },
    end() {
      if (!full) {
        for (const s of [streams.stdout, streams.stderr]) {
          add(s.redact.push(s.decoder.end()));
          add(s.redact.end());
        }
      }
      // A full excerpt may end inside a marker; never inside a secret.
      return { text: text.slice(0, EXCERPT_BYTES), truncated: text.length > EXCERPT_BYTES };
    },
  };
}
/** Output kept in an exec.finished record for a reviewer (redacted before it is written). */
const EXCERPT_BYTES = 2048;
const WORKSPACE = '/workspace';

/** Directories a workspace may never be, nor contain: binding them would hand the agent the host. */
const SYSTEM_DIRS = ['/', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib64', '/boot', '/dev', '/proc', '/sys', '/run', '/var', '/root', '/home', '/tmp'];

function isWithin(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Resolves and vets a workspace directory; throws E_WORKSPACE_INVALID. */
export function validateWorkspace(dir: string, stateDir: string): string {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch (err) {
    throw new AirlockError('E_WORKSPACE_INVALID', `workspace ${dir} does not exist`, {
      hint: 'Pass an existing project directory with --workspace.',
      cause: err,
    });
  }
  if (!statSync(real).isDirectory()) {
    throw new AirlockError('E_WORKSPACE_INVALID', `workspace ${real} is not a directory`, {
      hint: 'Pass a project directory with --workspace.',
    });
  }
  if (SYSTEM_DIRS.includes(real)) {
    throw new AirlockError('E_WORKSPACE_INVALID', `workspace ${real} is a system directory`, {
      hint: 'Point --workspace at a project directory, never at /, /etc, /home or the like.',
    });
  }
  const home = (() => {
    try {
      return realpathSync(homedir());
    } catch {
      return homedir();
    }
  })();
  if (isWithin(real, home)) {
    throw new AirlockError('E_WORKSPACE_INVALID', `workspace ${real} contains your home directory ${home}`, {
      hint: 'Binding it would expose ~/.ssh, cloud credentials and shell history; point --workspace at a project directory.',
    });
  }
  let realState = stateDir;
  try {
    realState = realpathSync(stateDir);
  } catch {
    // does not exist yet: compare the path as given
  }
  if (isWithin(real, realState) || isWithin(realState, real)) {
    throw new AirlockError('E_WORKSPACE_INVALID', `workspace ${real} overlaps the airlock state directory ${realState}`, {
      hint: 'The audit log and approvals must stay out of reach of the sandbox; move AIRLOCK_HOME or the project.',
    });
  }
  return real;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkEnv(what: string, env: Readonly<Record<string, string>> | undefined): void {
  if (env === undefined) return;
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k)) {
      throw new AirlockError('E_USAGE', `${what}: ${JSON.stringify(k)} is not a valid environment variable name`, {
        hint: 'Use letters, digits and underscores, not starting with a digit.',
      });
    }
    if (typeof v !== 'string' || v.includes('\0')) {
      throw new AirlockError('E_USAGE', `${what}: the value of ${k} must be a string without NUL bytes`, {
        hint: 'Pass environment values as plain strings.',
      });
    }
  }
}

async function backendFor(name: BackendName): Promise<Backend> {
  switch (name) {
    case 'bwrap':
      return createBwrapBackend();
    case 'gvisor': {
      // Loaded only when chosen: the default path never reads the gVisor module.
      const createGvisorBackend = await loadGvisorBackend();
      return createGvisorBackend();
    }
    case 'docker':
    case 'kubernetes':
      throw new AirlockError('E_BACKEND_UNAVAILABLE', `the ${name} backend is not available in this version of airlock`, {
        hint: 'Use the default backend (--backend bwrap).',
      });
  }
}

interface OwnerRecord {
  pid: number;
  createdAt: string;
}

/** True when the session's owning host process is still running. */
export function sessionOwnerAlive(stateDir: string, id: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(join(stateDir, 'sessions', id, 'owner.json'), 'utf8')) as OwnerRecord;
    return processAlive(owner.pid);
  } catch {
    return false;
  }
}

/**
 * Removes what sessions killed with SIGKILL left behind: empty control groups and the
 * runtime directories of ephemeral sessions whose owner process is gone.
 */
export function sweepStaleSessions(stateDir: string): void {
  const sessionsDir = join(stateDir, 'sessions');
  sweepStaleCgroups(detectCgroups());
  let ids: string[];
  try {
    ids = readdirSync(sessionsDir);
  } catch {
    return;
  }
  for (const id of ids) {
    const dir = join(sessionsDir, id);
    if (sessionOwnerAlive(stateDir, id)) continue;
    let named = false;
    try {
      statSync(join(dir, 'session.json'));
      named = true;
    } catch {
      // ephemeral
    }
    rmSync(named ? join(dir, 'run') : dir, { recursive: true, force: true });
  }
}

const swept = new Set<string>();

/** Makes a fresh session id. */
export function newSessionId(): string {
  return `s${randomBytes(6).toString('hex')}`;
}

/** How many protected changes the `session.stopped` event lists (the count says how many there were). */
const MAX_REPORTED_PROTECTED = 100;

/** Starts a sandbox and returns the live session. */
export async function createSession(options: SessionOptions): Promise<Session> {
  const stateDir = options.stateDir ?? resolveStateDir();
  const limits = resolveLimits(options.limits);
  checkEnv('env', options.env);
  const workspace = validateWorkspace(options.workspace, stateDir);
  // Built before anything is created, so a secret too short to redact stops here; the
  // credentials the proxy resolves are added as soon as it has started, before any event.
  const redactor = createRedactor({ secrets: [...(options.secrets ?? [])] });
  const requestedMode = checkWorkspaceMode(options.workspaceMode);
  const workspaceMode: SessionWorkspaceMode = options.workspaceReadOnly === true ? 'read-only' : requestedMode;
  const template = resolveTemplate(options.template ?? 'host', stateDir);
  const backendName = options.backend ?? 'bwrap';
  const backend = await backendFor(backendName);
  const id = options.id ?? newSessionId();
  if (!/^s[0-9a-f]{12}$/.test(id)) {
    throw new AirlockError('E_USAGE', `session id ${JSON.stringify(id)} is malformed`, { hint: 'Let airlock generate ids.' });
  }
  const sessionDir = join(stateDir, 'sessions', id);
  const runtimeDir = join(sessionDir, 'run');
  // owner.json first: a concurrent sweep by another airlock process treats a session
  // directory without a live owner as debris.
  mkdirSync(sessionDir, { recursive: true, mode: 0o700 });
  const createdAt = new Date();
  writeFileSync(join(sessionDir, 'owner.json'), JSON.stringify({ pid: process.pid, createdAt: createdAt.toISOString() }), {
    mode: 0o600,
  });
  mkdirSync(runtimeDir, { mode: 0o700 });
  if (!swept.has(stateDir)) {
    // Debris only appears when an airlock process dies; once per process is enough.
    swept.add(stateDir);
    sweepStaleSessions(stateDir);
    await sweepStagedWorkspaces(stateDir, { isLive: (sid) => sessionOwnerAlive(stateDir, sid) });
  }

  let staged: StagedWorkspace | null = null;
  if (workspaceMode === 'staged') {
    try {
      staged = await stageWorkspace(workspace, stateDir, id, options.staging);
    } catch (err) {
      rmSync(runtimeDir, { recursive: true, force: true });
      throw err;
    }
  }

  // A direct session holds nothing back: it records what it did to protected files instead.
  const protectedBefore = workspaceMode === 'direct' ? snapshotProtected(workspace) : null;
  let protectedFinal: ProtectedChange[] | null = null;
  const currentProtectedChanges = (): ProtectedChange[] | null => {
    if (protectedBefore === null) return null;
    return protectedFinal ?? protectedChanges(protectedBefore, snapshotProtected(workspace));
  };

  // The proxy starts before the sandbox (its socket directory and CA bundle are bound in);
  // its events wait for the channel, which exists before any command can reach the proxy.
  let egress: SessionEgress | undefined;
  let publishEgress: (e: EgressEvent) => void = () => undefined;
  let publishApproval: (e: ApprovalEvent) => void = () => undefined;
  if (egressEnabled(options.egress, options.policy)) {
    try {
      egress = await startSessionEgress({
        runtimeDir,
        policy: options.policy,
        options: typeof options.egress === 'object' ? options.egress : {},
        onEvent: (e) => { publishEgress(e); },
        // An `ask` for a request goes to the session's approval queue; without one it is a deny.
        ...(options.approvals === undefined
          ? {}
          : {
              ask: createApprovalAsk({
                queue: options.approvals,
                sessionId: id,
                ...(options.name === undefined ? {} : { sessionName: options.name }),
                ...(options.policy === undefined || options.policy.file === '<text>' ? {} : { policyFile: options.policy.file }),
                ...(options.policy?.compiled.approvalTimeoutMs == null ? {} : { timeoutMs: options.policy.compiled.approvalTimeoutMs }),
                publish: (e) => { publishApproval(e); },
                onRuleGranted: (approvalId) => { reloadPolicyFile(approvalId); },
              }),
            }),
      });
      learnCredentials(redactor, egress.proxy.knownSecrets());
    } catch (err) {
      await egress?.close();
      rmSync(runtimeDir, { recursive: true, force: true });
      if (staged !== null) await staged.discard().catch(() => undefined);
      throw err;
    }
  }

  let sandbox: Sandbox;
  try {
    sandbox = await backend.start({
      sessionId: id,
      template,
      // The project was vetted above; the staged mount lies under the state directory by
      // design and shows only the staged project (docs/workspace.md).
      workspace: staged?.mountDir ?? workspace,
      workspaceReadOnly: options.workspaceReadOnly ?? false,
      runtimeDir,
      limits,
      extraBinds: [...(options.extraBinds ?? []), ...(egress?.extraBinds ?? [])],
      bridges: [...(options.bridges ?? []), ...(egress?.bridges ?? [])],
      hostname: 'airlock',
    });
  } catch (err) {
    await egress?.close();
    rmSync(runtimeDir, { recursive: true, force: true });
    if (staged !== null) await staged.discard().catch(() => undefined);
    throw err;
  }

  const baseEnv: Record<string, string> = {
    ...template.env,
    HOME: SANDBOX_HOME,
    USER: 'agent',
    LOGNAME: 'agent',
    SHELL: '/bin/bash',
    TMPDIR: '/tmp',
    AIRLOCK_SESSION: id,
    ...options.env,
    // The proxy's variables last: they describe the only route out, which a caller cannot move.
    ...egress?.env,
  };

  const events = createEventChannel();
  let audit: AuditAttachment | undefined;
  if (options.audit !== false) {
    audit = attachAudit(events, {
      stateDir,
      sessionId: id,
      redactor,
      // A session whose actions can no longer be recorded must not act: end it.
      onError: (err) => {
        end(err);
        void destroy();
      },
    });
  }
  publishApproval = (e) => { events.publish(e); };
  publishEgress = (e) => {
    if (e.type === 'egress.request') events.publish(createEvent('network.request', id, toNetworkRequestData(e)));
    else events.publish(createEvent('budget.exceeded', id, toBudgetExceededData(e)));
  };
  events.publish(
    createEvent('session.created', id, {
      backend: backendName,
      workspace,
      workspaceMode,
      ...(options.name === undefined ? {} : { name: options.name }),
    }),
  );

  let destroying: Promise<void> | undefined;
  let endedReason: Error | undefined;
  let resolveEnded!: (err: Error) => void;
  const ended = new Promise<Error>((r) => {
    resolveEnded = r;
  });
  const end = (reason: Error): void => {
    if (endedReason !== undefined) return;
    endedReason = reason;
    resolveEnded(reason);
  };
  void sandbox.exited.then((err) => { end(err); });

  let sessionTimer: NodeJS.Timeout | undefined;
  const destroy = (): Promise<void> => {
    destroying ??= (async () => {
      if (sessionTimer !== undefined) clearTimeout(sessionTimer);
      end(new AirlockError('E_SESSION_CLOSED', `session ${id} was destroyed`, { hint: 'Start a new session.' }));
      try {
        // Pending asks of a session that is gone are denied, and its session grants dropped.
        options.approvals?.endSession(id, 'the session ended');
        try {
          await sandbox.destroy();
        } finally {
          // Open tunnels are cut and reported before the session's last record.
          await egress?.close();
        }
        // Only now, with every process inside gone, is the staged tree frozen for review.
        const sealError = staged === null ? undefined : await staged.seal().then(() => undefined, (e: unknown) => (e instanceof Error ? e : new Error(String(e))));
        protectedFinal = currentProtectedChanges();
        events.publish(
          createEvent('session.stopped', id, {
            reason: endedReason?.message ?? 'stopped',
            durationMs: Date.now() - createdAt.getTime(),
            ...(protectedFinal === null || protectedFinal.length === 0
              ? {}
              : { protectedChanges: protectedFinal.slice(0, MAX_REPORTED_PROTECTED), protectedChangeCount: protectedFinal.length }),
          }),
        );
        if (audit !== undefined && audit.failure === null) await audit.close();
        if (sealError !== undefined) throw sealError;
      } finally {
        // A named session keeps its record (for review after stop); an ephemeral one leaves nothing.
        rmSync(options.name === undefined ? sessionDir : runtimeDir, { recursive: true, force: true });
        if (options.name !== undefined) rmSync(join(sessionDir, 'owner.json'), { force: true });
      }
    })();
    return destroying;
  };
  if (limits.sessionTimeoutMs > 0) {
    sessionTimer = setTimeout(() => {
      end(
        new AirlockError('E_SESSION_TIMEOUT', `session ${id} reached its ${limits.sessionTimeoutMs} ms limit`, {
          hint: 'Raise --timeout, or split the work over several sessions.',
        }),
      );
      void destroy();
    }, limits.sessionTimeoutMs);
    sessionTimer.unref();
  }

  const resolveCwd = (cwd: string | undefined): string => {
    if (cwd === undefined) return WORKSPACE;
    if (cwd.includes('\0')) {
      throw new AirlockError('E_USAGE', 'cwd contains a NUL byte', { hint: 'Pass a plain path.' });
    }
    return posix.isAbsolute(cwd) ? posix.normalize(cwd) : posix.join(WORKSPACE, cwd);
  };

  const decideContext = createDecideContext({ workspace: WORKSPACE, home: SANDBOX_HOME });
  let currentPolicy = options.policy;
  // One place changes the policy in force, so the egress proxy judges by the same one.
  const usePolicy = (p: Policy): void => {
    currentPolicy = p;
    egress?.setPolicy(p);
  };
  // After a network ask granted with scope `rule`: the rule is in the policy file now. A file
  // that no longer loads keeps the policy in force (stricter, never wider).
  const reloadPolicyFile = (approvalId: string): void => {
    const file = currentPolicy?.file;
    if (file === undefined || file === '<text>') return;
    let error: string | undefined;
    try {
      usePolicy(loadPolicy({ path: file }));
    } catch (err) {
      // keep the current policy, and say so
      error = err instanceof Error ? err.message : String(err);
    }
    events.publish(createEvent('policy.reload', id, { file, ok: error === undefined, ...(error === undefined ? {} : { error }), approvalId }));
  };
  let execSeq = 0;
  const start = (
    argv: readonly string[],
    opts: SpawnOptions,
    sink: { stdout(c: Buffer): void; stderr(c: Buffer): void },
    judged?: Action,
    // For a write: the digest of its bytes, and its diff, built only if a person is asked.
    write?: { contentSha256: string; diff?: () => Promise<string> },
    internal = false,
  ): { handle: ExecHandle; result: Promise<ExecResult> } => {
    if (endedReason !== undefined) throw endedReason;
    if (argv.length === 0 || argv[0] === '') {
      throw new AirlockError('E_USAGE', 'no command given', { hint: 'Pass the command and its arguments, e.g. ["npm", "test"].' });
    }
    checkEnv('exec env', opts.env);
    const cwd = resolveCwd(opts.cwd);
    const execId = `x${++execSeq}`;
    let decision: Decision | undefined;
    // Set when a person must decide first; resolves to what they approved (and nothing else runs).
    let approval: Promise<ApprovedRun> | undefined;
    // Aborts the wait for a person, until they answered.
    let waiting: AbortController | undefined;
    // What runs: the caller's arrays are copied now, or, after an ask, replaced by exactly
    // what the person approved (the caller may still hold and change its own arrays).
    const request: ApprovedRun = { argv: [...argv], cwd, ...(opts.env === undefined ? {} : { env: { ...opts.env } }) };
    const policy = internal ? undefined : currentPolicy;
    if (policy !== undefined) {
      // Judged on the private copy: what is decided, shown to a person and run is one object.
      const action: Action = judged ?? { kind: 'exec', argv: request.argv, cwd, ...(request.env === undefined ? {} : { env: request.env }) };
      decision = decide(action, policy, decideContext);
      const subject = action.kind === 'exec' ? ('argv' in action ? action.argv.join(' ') : action.command) : action.kind === 'network' ? `${action.host}:${action.port}` : action.path;
      events.publish(
        createEvent('policy.decision', id, {
          action: action.kind,
          subject,
          verdict: decision.verdict,
          rule: decision.ruleId,
          reason: decision.reason,
          execId,
        }),
      );
      if (decision.verdict === 'deny') throw new PolicyDeniedError(subject, decision);
      if (decision.verdict === 'ask') {
        // Fail closed: an ask with nobody attached to answer it is a deny.
        if (options.approvals === undefined) {
          throw new PolicyDeniedError(subject, decision, `${decision.reason}; it needs a person's approval and no approval channel is attached to this session`);
        }
        const asked = decision;
        const controller = new AbortController();
        waiting = controller;
        approval = waitForApproval({
          queue: options.approvals,
          sessionId: id,
          sessionName: options.name,
          action,
          decision,
          request,
          execId,
          policyFile: policy.file === '<text>' ? undefined : policy.file,
          timeoutMs: policy.compiled.approvalTimeoutMs ?? undefined,
          publish: (e) => { events.publish(e); },
          ...(write?.contentSha256 === undefined ? {} : { contentSha256: write.contentSha256 }),
          ...(write?.diff === undefined ? {} : { diff: write.diff }),
          refuse: (why) => new PolicyDeniedError(subject, asked, why),
          signal: controller.signal,
          cancelled: (sig) =>
            new AirlockError('E_EXEC_CANCELLED', `${subject}: cancelled by ${typeof sig === 'number' ? (Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] ?? `signal ${sig}`) : String(sig)} while it waited for approval; it never started`, {
              hint: 'Run it again when a person can answer the ask (`airlock approvals`).',
            }),
          onRuleGranted: (approvalId) => {
            // The confirmed rule is in the policy file now; later actions are judged by it.
            // A file that no longer loads keeps the policy in force (stricter, never wider),
            // and says so: a person who granted a rule expects it to hold.
            let error: string | undefined;
            try {
              usePolicy(loadPolicy({ path: policy.file }));
            } catch (err) {
              error = err instanceof Error ? err.message : String(err);
            }
            events.publish(createEvent('policy.reload', id, { file: policy.file, ok: error === undefined, ...(error === undefined ? {} : { error }), approvalId, execId }));
          },
        });
        // A caller that never waits for the result must not see an unhandled rejection.
        approval.then(() => { waiting = undefined; }, () => { waiting = undefined; });
      }
    }
    const approvedRun = approval ?? Promise.resolve(request);
    let t0 = performance.now();
    // Nothing runs before its record is durable: an action that cannot be recorded does not run.
    const gate = approvedRun.then(async (run) => {
      if (endedReason !== undefined) throw endedReason;
      t0 = performance.now();
      events.publish(
        createEvent('exec.started', id, {
          execId,
          argv: [...run.argv],
          cwd: run.cwd,
          ...(opts.tty === undefined ? {} : { tty: true }),
          ...(opts.toolCallId === undefined ? {} : { toolCallId: opts.toolCallId }),
        }),
      );
      if (audit !== undefined) await audit.flush();
      return run;
    });
    const digest = createHash('sha256');
    let stdoutBytes = 0;
    let stderrBytes = 0;
    const excerpt = createExcerpt(redactor);
    const keep = (which: 'stdout' | 'stderr', c: Buffer): void => {
      digest.update(c);
      // A write helper prints the content it replaces (for the file.write record's hash and
      // line counts); that content is hashed here but kept out of the excerpt: the path may
      // be one the policy lets the agent write and not read.
      if (which === 'stdout' && write !== undefined) return;
      excerpt.push(which, c);
    };
    let real: ExecHandle | undefined;
    const queued: ((h: ExecHandle) => void)[] = [];
    const started = gate.then((run) => {
      if (endedReason !== undefined) throw endedReason;
      // The rule's environment is applied last: a caller cannot undo what the policy sets.
      const env: Record<string, string> = { ...baseEnv, ...run.env, ...decision?.exec?.env };
      if (opts.tty !== undefined) env['TERM'] = opts.tty.term ?? env['TERM'] ?? 'xterm-256color';
      armTimer();
      const h = sandbox.exec(
        { argv: run.argv, env, cwd: run.cwd, ...(opts.tty === undefined ? {} : { tty: { cols: opts.tty.cols, rows: opts.tty.rows } }) },
        {
          stdout: (c) => {
            stdoutBytes += c.length;
            keep('stdout', c);
            sink.stdout(c);
          },
          stderr: (c) => {
            stderrBytes += c.length;
            keep('stderr', c);
            sink.stderr(c);
          },
        },
      );
      real = h;
      for (const q of queued.splice(0)) q(h);
      return h;
    });
    const via = (f: (h: ExecHandle) => void): void => {
      if (real !== undefined) f(real);
      else queued.push(f);
    };
    const pid = started.then((h) => h.pid);
    pid.catch(() => undefined);
    const handle: ExecHandle = {
      pid,
      done: started.then((h) => h.done),
      write: (d) => { via((h) => { h.write(d); }); },
      end: () => { via((h) => { h.end(); }); },
      signal: (sig) => {
        // A signal while the command waits for a person cancels it: it never starts, even if
        // someone approves later (its caller gave up on it; a late start would be a surprise).
        if (waiting !== undefined) waiting.abort(sig);
        else via((h) => { h.signal(sig); });
      },
      resize: (c, r) => { via((h) => { h.resize(c, r); }); },
    };
    const ruleTimeout = decision?.exec?.timeout;
    const timeoutMs = opts.timeoutMs ?? (ruleTimeout !== undefined && ruleTimeout !== null ? ruleTimeout : limits.execTimeoutMs);
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    // The wall clock starts when the command does, not while it waits for a person.
    function armTimer(): void {
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          timedOut = true;
          handle.signal('SIGKILL');
        }, timeoutMs);
      }
    }
    const result = handle.done.then(
      (exit) => {
        if (timer !== undefined) clearTimeout(timer);
        const durationMs = performance.now() - t0;
        const shown = excerpt.end();
        events.publish(
          createEvent('exec.finished', id, {
            execId,
            exitCode: exit.exitCode,
            signal: exit.signal,
            durationMs,
            stdoutBytes,
            stderrBytes,
            outputSha256: digest.digest('hex'),
            excerpt: shown.text,
            excerptTruncated: shown.truncated,
          }),
        );
        // What the sandbox itself stopped, as far as the exit shows it: the seccomp filter
        // kills a process with SIGSYS, and the wall-clock limit with SIGKILL.
        if (exit.signal === 'SIGSYS') {
          events.publish(createEvent('sandbox.violation', id, { kind: 'seccomp', detail: `${request.argv[0] ?? ''} was killed by the sandbox's seccomp filter (a forbidden system call)`, execId }));
        }
        if (timedOut) {
          events.publish(createEvent('sandbox.violation', id, { kind: 'resource-limit', detail: `${request.argv[0] ?? ''} was killed at its wall-clock limit of ${timeoutMs} ms`, execId }));
        }
        return { ...exit, durationMs, timedOut, ...(decision === undefined ? {} : { decision }) };
      },
      (err: unknown) => {
        if (timer !== undefined) clearTimeout(timer);
        throw err;
      },
    );
    return { handle, result };
  };

  const runner: RawRunner = {
    async runRaw(argv, stdin, judged) {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const write =
        judged === undefined || judged.kind === 'internal' || judged.contentSha256 === undefined
          ? undefined
          : { contentSha256: judged.contentSha256, ...(judged.diff === undefined ? {} : { diff: judged.diff }) };
      const { handle, result } = start(
        argv,
        {},
        {
          stdout: (c) => out.push(Buffer.from(c)),
          stderr: (c) => err.push(Buffer.from(c)),
        },
        judged === undefined || judged.kind === 'internal'
          ? undefined
          : { kind: judged.kind, path: judged.path, ...(judged.resolved === undefined ? {} : { resolved: judged.resolved }) },
        write,
        judged?.kind === 'internal',
      );
      if (stdin !== undefined) handle.write(stdin);
      handle.end();
      const r = await result;
      return { exitCode: r.exitCode, signal: r.signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
    },
    mayRead(path) {
      if (currentPolicy === undefined) return true;
      const v = decide({ kind: 'file.read', path }, currentPolicy, decideContext).verdict;
      return v === 'allow' || v === 'log';
    },
    denyOutright(kind, path) {
      if (endedReason !== undefined) throw endedReason;
      if (currentPolicy === undefined) return;
      const decision = decide({ kind, path }, currentPolicy, decideContext);
      if (decision.verdict !== 'deny') return;
      events.publish(createEvent('policy.decision', id, { action: kind, subject: path, verdict: decision.verdict, rule: decision.ruleId, reason: decision.reason }));
      throw new PolicyDeniedError(path, decision);
    },
  };

  const session: Session = {
    id,
    name: options.name,
    workspace,
    template,
    backend: backendName,
    limits,
    layers: sandbox.layers,
    createdAt,
    workspaceMode,
    staged,
    ended,
    memoryPeak: () => sandbox.memoryPeak(),
    get policy() {
      return currentPolicy;
    },
    setPolicy: (p) => {
      usePolicy(p);
    },
    recordPrompt(text, opts) {
      if (typeof text !== 'string') {
        throw new AirlockError('E_USAGE', 'recordPrompt: the prompt must be a string', { hint: 'Pass the prompt text as it went to the agent.' });
      }
      events.publish(createEvent('agent.prompt', id, { face: opts?.face ?? 'sdk', text, ...(opts?.role === undefined ? {} : { role: opts.role }) }));
    },
    destroy,
    protectedChanges: currentProtectedChanges,
    events,
    redactor,
    egress: egress === undefined ? null : { env: { ...egress.env }, intercepts: egress.proxy.caBundlePem !== undefined },
    httpRequest(request) {
      if (endedReason !== undefined) return Promise.reject(endedReason);
      if (egress === undefined) {
        return Promise.reject(
          new AirlockError(
            'E_NO_EGRESS',
            `no network route: this session's policy allows no egress, so ${(request.method ?? 'GET').toUpperCase()} ${request.url} cannot be sent (the sandbox has no network interface but loopback)`,
            {
              hint: 'This is the sandbox configuration, not a fault in the request, and other routes out (curl, sockets, DNS) are blocked too. A person can add network rules to the policy.',
            },
          ),
        );
      }
      return proxiedRequest(
        { socketPath: egress.proxy.socketPath, caBundlePem: egress.proxy.caBundlePem },
        request,
        (subject, decision) => new PolicyDeniedError(subject, decision),
      );
    },
    // The file events come from here, so every face records them the same way, once.
    async readFile(path, o) {
      const r = await readFile(runner, path, o?.maxBytes);
      events.publish(
        createEvent('file.read', id, {
          path: sandboxPath(path),
          size: r.content.length,
          sha256: sha256Hex(r.content),
          ...(r.truncated ? { truncated: true } : {}),
        }),
      );
      return r;
    },
    async writeFile(path, content) {
      const w = await writeFile(runner, path, content);
      events.publish(createEvent('file.write', id, fileWriteData(w)));
    },
    listDirectory: (path) => listDirectory(runner, path),
    search: (pattern, o) => search(runner, pattern, o),

    async exec(argv, opts = {}): Promise<BufferedExecResult> {
      const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
      const out = { stdout: [] as Buffer[], stderr: [] as Buffer[], stdoutBytes: 0, stderrBytes: 0, kept: { stdout: 0, stderr: 0 } };
      let truncated = false;
      const keep = (which: 'stdout' | 'stderr', chunk: Buffer): void => {
        out[`${which}Bytes`] += chunk.length;
        const room = max - out.kept[which];
        if (room <= 0) {
          truncated = true;
          return;
        }
        const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
        if (part.length < chunk.length) truncated = true;
        // The supervisor's buffers are reused per frame only on the wire; copy to be safe.
        out[which].push(Buffer.from(part));
        out.kept[which] += part.length;
      };
      const { handle, result } = start(argv, opts, {
        stdout: (c) => { keep('stdout', c); },
        stderr: (c) => { keep('stderr', c); },
      });
      if (opts.stdin !== undefined) handle.write(opts.stdin);
      handle.end();
      const r = await result;
      return {
        ...r,
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        stdoutBytes: out.stdoutBytes,
        stderrBytes: out.stderrBytes,
        truncated,
      };
    },

    spawn(argv, opts = {}): SessionProcess {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      const { handle, result } = start(argv, opts, {
        stdout: (c) => stdout.write(c),
        stderr: (c) => stderr.write(c),
      });
      const finished = result.then((r) => {
        stdout.end();
        stderr.end();
        return r;
      });
      return {
        stdout,
        stderr,
        pid: handle.pid,
        write: (d) => { handle.write(d); },
        end: () => { handle.end(); },
        kill: (sig = 'SIGTERM') => { handle.signal(sig); },
        resize: (c, r) => { handle.resize(c, r); },
        wait: () => finished,
      };
    },
  };
  return session;
}

export {
  createNamedSession,
  execInSession,
  findSession,
  listSessions,
  removeSession,
  runSessionHost,
  stopSession,
  type NamedSessionOptions,
  type RemoteExec,
  type RemoteExecIO,
  type SessionHostApprovals,
  type SessionHostOptions,
  type SessionRecord,
} from './named.js';
