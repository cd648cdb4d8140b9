/** A JSON value: what an event's data may hold, so it can be hashed canonically and stored. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  [key: string]: JsonValue;
}

/** The kinds of action the policy decides on. */
export type ActionKind = 'exec' | 'file.read' | 'file.write' | 'network';

/** A policy verdict, as `policy.decide` returns it. */
export type Verdict = 'allow' | 'log' | 'ask' | 'deny';

/** Which face of Airlock an agent spoke through. */
export type AgentFace = 'mcp' | 'sdk' | 'cli' | 'server';

/** `session.created`: a session's sandbox is ready. */
export interface SessionCreatedData {
  /** The session's human name, if it has one. */
  name?: string;
  /** Sandbox backend (`bwrap`, `gvisor`, …). */
  backend: string;
  /** Host path of the project the session works on. */
  workspace: string;
  /** `staged` (a staged copy at /workspace), `direct` (the project read-write) or `read-only`. */
  workspaceMode?: 'staged' | 'direct' | 'read-only';
  /** SHA-256 of the policy in force, so a reviewer can tell which policy applied. */
  policySha256?: string;
  /** The agent that runs in the session (`claude-code`, `codex`, …), when known. */
  agent?: string;
}

/** `session.stopped`: the session ended. */
export interface SessionStoppedData {
  /** Why: `stopped`, `timeout`, `sandbox-died`, `error`, … */
  reason: string;
  /** Wall-clock lifetime of the session. */
  durationMs: number;
  /**
   * A `direct` session only: protected files it created, changed or removed (at most 100;
   * `protectedChangeCount` says how many in all). A staged session's are in its diff.
   */
  protectedChanges?: { path: string; category: string; change: 'created' | 'modified' | 'deleted' }[];
  protectedChangeCount?: number;
}

/** `policy.decision`: the policy judged one action, before anything ran. */
export interface PolicyDecisionData {
  action: ActionKind;
  /** What was judged, as a person reads it: the command line, the path, `host:port`. */
  subject: string;
  verdict: Verdict;
  /** The rule that decided, e.g. `exec.deny[0]`; absent for the default. */
  rule?: string;
  /** Why, in words. */
  reason: string;
  /** The exec this decision was about, to link it to its `exec.*` events. */
  execId?: string;
  /** The network request this decision was about. */
  requestId?: string;
}

/**
 * `policy.reload`: after a person confirmed a `rule` grant, the session reloaded its policy
 * file (`ok`), or could not (the file no longer loads) and kept the policy it had, which is
 * stricter than the one with the rule.
 */
export interface PolicyReloadData {
  /** The policy file. */
  file: string;
  ok: boolean;
  /** Why the file did not load. */
  error?: string;
  /** The approval whose rule grant caused the reload. */
  approvalId?: string;
  execId?: string;
}

/** `approval.requested`: an `ask` verdict put an action in front of a person. */
export interface ApprovalRequestedData {
  approvalId: string;
  action: ActionKind;
  subject: string;
  rule?: string;
  /** Channels it was offered on (`terminal`, `web`, `webhook`). */
  channels: string[];
  /** When it will expire unanswered. */
  expiresAt: string;
  execId?: string;
}

/** `approval.granted`: a person allowed it. */
export interface ApprovalGrantedData {
  approvalId: string;
  /** Who answered (user name, webhook identity). */
  by: string;
  /** Channel the answer came through. */
  channel: string;
  /** How long the action waited. */
  waitedMs: number;
  /** How far the grant reaches: `once`, `session`, or a rule the person saw. */
  scope: string;
  execId?: string;
}

/** `approval.denied`: a person refused it. */
export interface ApprovalDeniedData {
  approvalId: string;
  by: string;
  channel: string;
  waitedMs: number;
  reason?: string;
  execId?: string;
}

/** `approval.expired`: nobody answered in time; the action was denied. */
export interface ApprovalExpiredData {
  approvalId: string;
  waitedMs: number;
  execId?: string;
}

/** `exec.started`: a command started inside the sandbox. */
export interface ExecStartedData {
  /** Unique within the session; links `exec.finished` and decisions to this exec. */
  execId: string;
  argv: string[];
  cwd: string;
  tty?: boolean;
  /** The agent tool call that caused it, when a face knows (links the OTLP spans). */
  toolCallId?: string;
}

/** `exec.finished`: the command ended. */
export interface ExecFinishedData {
  execId: string;
  /** Exit status, or null when a signal killed it. */
  exitCode: number | null;
  /** The signal that killed it (`SIGKILL`), or null. */
  signal: string | null;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
  /** SHA-256 (hex) of stdout followed by stderr, as produced (before redaction). */
  outputSha256: string;
  /** A bounded, redacted excerpt of the output for a reviewer. */
  excerpt: string;
  /** True when `excerpt` is shorter than the output. */
  excerptTruncated: boolean;
  timedOut?: boolean;
}

/** `file.read`: a file read through the session (`readFile`: the SDK, MCP `read_file` and `edit_file`). */
export interface FileReadData {
  /** The path as named (absolute in the sandbox). */
  path: string;
  /** Bytes read (at most the reader's limit). */
  size: number;
  /** SHA-256 of the bytes read. */
  sha256: string;
  /** True when the file was longer than the reader's limit: size and hash cover the part read. */
  truncated?: boolean;
}

/** `file.write`: a file written through the session (`writeFile`: the SDK, MCP `write_file` and `edit_file`). */
export interface FileWriteData {
  /** The path as named (absolute in the sandbox). */
  path: string;
  size: number;
  /** SHA-256 of the new content. */
  sha256: string;
  /**
   * SHA-256 of the content before, or null when no regular file was there (a new file, or a
   * symlink the write replaced) or when `note` says it was not computed.
   */
  previousSha256: string | null;
  /** Size of the content before, when a regular file was there. */
  previousSize?: number;
  linesAdded: number;
  linesRemoved: number;
  /** Why the previous hash or the line counts were not computed (binary or very large content). */
  note?: string;
}

/** `network.request`: a request through the session's egress proxy. */
export interface NetworkRequestData {
  requestId: string;
  /** HTTP method, or `CONNECT` for a tunnel. */
  method: string;
  host: string;
  port: number;
  /** The path (never the query), when the proxy saw it (not for an opaque tunnel). */
  path?: string;
  verdict: Verdict;
  rule?: string;
  /** The status the client got (403 denied, 429 past a budget, 502 upstream trouble); absent when the connection was cut. */
  status?: number;
  bytesSent: number;
  bytesReceived: number;
  durationMs: number;
  /** Names (never values) of credentials the proxy injected. */
  injectedCredentials?: string[];
  /** `http` or `https`. */
  scheme?: string;
  /** How it reached the proxy: `http`, `tunnel` (opaque CONNECT), `intercepted`, `base-url`. */
  mode?: string;
  /** Whether it went out (a `log` verdict is allowed; the proxy's own refusals are `deny`). */
  allowed?: boolean;
  /** Why, in words. */
  reason?: string;
  /** A person's answer to an `ask`: `allow`, `deny` or `timeout`. */
  answer?: string;
  /** What went wrong after the decision (connect refused, TLS failure, cut by a budget). */
  error?: string;
  /**
   * LLM usage the proxy read from the response (a POST to a known LLM endpoint that it saw:
   * base-URL mode, plain HTTP or an intercepted tunnel); absent when it read none.
   */
  usage?: NetworkUsageData;
}

/** LLM usage of one `network.request`, as the response reported it. */
export interface NetworkUsageData {
  /** The model the response names, when it names one. */
  model?: string;
  /** Input tokens, cache reads and writes not included. */
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  /** US dollars at the session's price table; absent when the model has no price. */
  costUsd?: number;
}

/** `budget.exceeded`: a request, cost or time budget ran out. */
export interface BudgetExceededData {
  /** Which budget: `requests`, `cost`, `bytes`, `wall-clock`, … */
  budget: string;
  limit: number;
  used: number;
  unit: string;
  /** What was refused because of it. */
  subject?: string;
}

/** `sandbox.violation`: the sandbox stopped something (seccomp, a mount, a limit). */
export interface SandboxViolationData {
  /** `seccomp`, `filesystem`, `network`, `resource-limit`, `escape-attempt`, … */
  kind: string;
  detail: string;
  syscall?: string;
  pid?: number;
  execId?: string;
}

/** `agent.tool_call`: the agent called a tool through a face (MCP, SDK). */
export interface AgentToolCallData {
  face: AgentFace;
  tool: string;
  /** The id the agent protocol gave the call (MCP request id, SDK call id). */
  toolCallId: string;
  /** The arguments as the agent sent them (redacted before storage). */
  arguments: JsonValue;
  /**
   * Present when the face emits the event after the call finished: `time` is then when
   * it ended, and it started this long before (the OTLP span is placed accordingly).
   */
  durationMs?: number;
  isError?: boolean;
  /** What the face answered, as text an agent reads (bounded; redacted before storage). */
  result?: string;
}

/** `agent.prompt`: a prompt a face saw going to the agent. */
export interface AgentPromptData {
  face: AgentFace;
  text: string;
  role?: string;
}

/** The data type of each event type. */
export interface EventData {
  'session.created': SessionCreatedData;
  'session.stopped': SessionStoppedData;
  'policy.decision': PolicyDecisionData;
  'policy.reload': PolicyReloadData;
  'approval.requested': ApprovalRequestedData;
  'approval.granted': ApprovalGrantedData;
  'approval.denied': ApprovalDeniedData;
  'approval.expired': ApprovalExpiredData;
  'exec.started': ExecStartedData;
  'exec.finished': ExecFinishedData;
  'file.read': FileReadData;
  'file.write': FileWriteData;
  'network.request': NetworkRequestData;
  'budget.exceeded': BudgetExceededData;
  'sandbox.violation': SandboxViolationData;
  'agent.tool_call': AgentToolCallData;
  'agent.prompt': AgentPromptData;
}

/** The name of an event type. */
export type EventType = keyof EventData;

/** One event of type `T`. */
export interface AirlockEventOf<T extends EventType> {
  type: T;
  /** The session it happened in. */
  sessionId: string;
  /** When it happened, ISO 8601 (`new Date().toISOString()`). */
  time: string;
  data: EventData[T];
}

/** Any event: a union discriminated on `type`. */
export type AirlockEvent = { [T in EventType]: AirlockEventOf<T> }[EventType];

/** Every event type, in a stable order (CLI choices, docs). */
export const EVENT_TYPES = [
  'session.created',
  'session.stopped',
  'policy.decision',
  'policy.reload',
  'approval.requested',
  'approval.granted',
  'approval.denied',
  'approval.expired',
  'exec.started',
  'exec.finished',
  'file.read',
  'file.write',
  'network.request',
  'budget.exceeded',
  'sandbox.violation',
  'agent.tool_call',
  'agent.prompt',
] as const satisfies readonly EventType[];

/** A compile-time proof that EVENT_TYPES names every key of EventData: `never` otherwise. */
export type EventTypesComplete = [Exclude<EventType, (typeof EVENT_TYPES)[number]>] extends [never]
  ? true
  : never;

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);

/** True when `value` names an event type. */
export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && EVENT_TYPE_SET.has(value);
}
