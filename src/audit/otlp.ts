/**
 * Export of a session's audit log as OpenTelemetry traces: one trace per session, a span
 * per exec and per agent tool call with the GenAI semantic conventions
 * (`gen_ai.operation.name = execute_tool`, `gen_ai.tool.name`, `gen_ai.tool.call.id`),
 * and every other record as a span event. IDs are derived from the session id and seq,
 * so exporting the same log twice yields the same trace (a collector can deduplicate).
 *
 * Loaded only when an export is asked for (see index.ts), so the OpenTelemetry packages
 * stay off the path of every other command.
 */
import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, TraceFlags } from '@opentelemetry/api';
import type { Attributes, AttributeValue, HrTime, SpanContext } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { JsonValue } from '../events/index.js';
import { AirlockError } from '../errors/index.js';
import type { AuditRecord } from './record.js';

/** Longest attribute string we export (tool arguments can be large). */
const MAX_ATTRIBUTE_CHARS = 8192;
/** Spans per OTLP request. */
const SPANS_PER_REQUEST = 512;

function digestHex(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

function hrFromMs(ms: number): HrTime {
  const safe = Number.isFinite(ms) ? Math.max(0, ms) : 0;
  return [Math.floor(safe / 1000), Math.round((safe % 1000) * 1e6)];
}

function hrTime(iso: string): HrTime {
  return hrFromMs(Date.parse(iso));
}

function hrDiff(a: HrTime, b: HrTime): HrTime {
  const d = Math.max(0, b[0] * 1e9 + b[1] - (a[0] * 1e9 + a[1]));
  return [Math.floor(d / 1e9), d % 1e9];
}

function hrLess(a: HrTime, b: HrTime): boolean {
  return a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
}

function obj(data: JsonValue): Record<string, JsonValue> {
  return data !== null && typeof data === 'object' && !Array.isArray(data) ? data : {};
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: JsonValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function clip(s: string): string {
  return s.length > MAX_ATTRIBUTE_CHARS ? `${s.slice(0, MAX_ATTRIBUTE_CHARS)}…` : s;
}

/** A record's data as span-event attributes: scalars and string lists as is, the rest as JSON. */
function attributesOf(data: JsonValue): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(obj(data))) {
    let value: AttributeValue;
    if (typeof v === 'string') value = clip(v);
    else if (typeof v === 'number' || typeof v === 'boolean') value = v;
    else if (v === null) continue;
    else if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) value = v.map(clip);
    else value = clip(JSON.stringify(v));
    out[`airlock.${k}`] = value;
  }
  return out;
}

interface SpanDraft {
  name: string;
  spanId: string;
  parent: string | null;
  start: HrTime;
  end: HrTime;
  attributes: Attributes;
  events: TimedEvent[];
  status: { code: SpanStatusCode; message?: string };
}

/** Builds the spans of one session's records (in seq order). */
export function buildSpans(sessionId: string, records: readonly AuditRecord[]): ReadableSpan[] {
  const traceId = digestHex('airlock.trace', sessionId).slice(0, 32);
  const spanIdFor = (key: string): string => digestHex('airlock.span', sessionId, key).slice(0, 16);
  const first = records[0];
  const lastRecord = records[records.length - 1];
  const startOf = first === undefined ? ([0, 0] as HrTime) : hrTime(first.time);
  const endOf = lastRecord === undefined ? startOf : hrTime(lastRecord.time);

  const rootId = spanIdFor('session');
  const created = records.find((r) => r.type === 'session.created');
  const root: SpanDraft = {
    name: 'airlock.session',
    spanId: rootId,
    parent: null,
    start: startOf,
    end: endOf,
    attributes: {
      'airlock.session.id': sessionId,
      ...(created === undefined ? {} : attributesOf(created.data)),
      ...(created !== undefined && str(obj(created.data).agent) !== undefined
        ? { 'gen_ai.agent.name': str(obj(created.data).agent) ?? '' }
        : {}),
    },
    events: [],
    status: { code: SpanStatusCode.UNSET },
  };
  const drafts: SpanDraft[] = [root];
  const toolSpans = new Map<string, SpanDraft & { tool: string; fixedEnd: boolean }>();
  const execSpans = new Map<string, SpanDraft>();

  // Tool calls first, so execs can name the tool that caused them.
  for (const r of records) {
    if (r.type !== 'agent.tool_call') continue;
    const d = obj(r.data);
    const tool = str(d.tool) ?? 'unknown';
    const callId = str(d.toolCallId) ?? `seq-${r.seq}`;
    const durationMs = num(d.durationMs);
    const at = hrTime(r.time);
    const span = {
      name: `execute_tool ${tool}`,
      spanId: spanIdFor(`tool:${callId}:${r.seq}`),
      parent: rootId,
      // An event emitted after the call finished carries its duration and ends at `time`.
      start: durationMs === undefined ? at : hrFromMs(Date.parse(r.time) - durationMs),
      end: at,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': tool,
        'gen_ai.tool.call.id': callId,
        'gen_ai.tool.call.arguments': clip(JSON.stringify(d.arguments ?? null)),
        'airlock.face': str(d.face) ?? 'unknown',
        'airlock.seq': r.seq,
      },
      events: [],
      status:
        d.isError === true
          ? { code: SpanStatusCode.ERROR, message: 'the tool call failed' }
          : { code: SpanStatusCode.UNSET },
      tool,
      fixedEnd: durationMs !== undefined,
    };
    toolSpans.set(callId, span);
    drafts.push(span);
  }

  // Then execs, so that a decision recorded before its exec started can attach to it.
  for (const r of records) {
    const d = obj(r.data);
    if (r.type === 'exec.started') {
      const execId = str(d.execId) ?? `seq-${r.seq}`;
      const toolCallId = str(d.toolCallId);
      const tool = toolCallId === undefined ? undefined : toolSpans.get(toolCallId);
      const argv = Array.isArray(d.argv) ? d.argv.filter((a): a is string => typeof a === 'string') : [];
      const span: SpanDraft = {
        name: `execute_tool ${tool?.tool ?? 'exec'}`,
        spanId: spanIdFor(`exec:${execId}`),
        parent: tool?.spanId ?? rootId,
        start: hrTime(r.time),
        end: endOf,
        attributes: {
          'gen_ai.operation.name': 'execute_tool',
          'gen_ai.tool.name': tool?.tool ?? 'exec',
          'gen_ai.tool.call.id': toolCallId ?? execId,
          'process.command_args': argv.map(clip),
          'airlock.exec.id': execId,
          'airlock.exec.cwd': str(d.cwd) ?? '',
          'airlock.exec.finished': false,
          'airlock.seq': r.seq,
        },
        events: [],
        status: { code: SpanStatusCode.UNSET },
      };
      execSpans.set(execId, span);
      drafts.push(span);
    }
  }

  for (const r of records) {
    const d = obj(r.data);
    if (r.type === 'exec.finished') {
      const span = execSpans.get(str(d.execId) ?? '');
      if (span !== undefined) {
        const exitCode = d.exitCode;
        const signal = str(d.signal);
        span.end = hrTime(r.time);
        Object.assign(span.attributes, {
          'airlock.exec.finished': true,
          'airlock.exec.duration_ms': num(d.durationMs) ?? 0,
          'airlock.exec.stdout_bytes': num(d.stdoutBytes) ?? 0,
          'airlock.exec.stderr_bytes': num(d.stderrBytes) ?? 0,
          'airlock.exec.output_sha256': str(d.outputSha256) ?? '',
          ...(typeof exitCode === 'number' ? { 'process.exit.code': exitCode } : {}),
          ...(signal === undefined ? {} : { 'airlock.exec.signal': signal }),
        });
        if (exitCode !== 0) {
          span.status = {
            code: SpanStatusCode.ERROR,
            message:
              typeof exitCode === 'number' ? `exit status ${exitCode}` : `killed by ${signal ?? 'a signal'}`,
          };
          span.attributes['error.type'] =
            typeof exitCode === 'number' ? String(exitCode) : (signal ?? 'signal');
        }
        continue;
      }
    }
    if (r.type === 'agent.tool_call') continue;
    if (r.type === 'exec.started') continue;
    // Everything else is an event on the exec it concerns, or on the session.
    const execId = str(d.execId);
    const target = (execId === undefined ? undefined : execSpans.get(execId)) ?? root;
    target.events.push({
      name: r.type,
      time: hrTime(r.time),
      attributes: { 'airlock.seq': r.seq, ...attributesOf(r.data) },
    });
  }

  // A tool span without its own duration lasts until the last exec it caused ends.
  for (const tool of toolSpans.values()) {
    if (tool.fixedEnd) continue;
    for (const exec of execSpans.values()) {
      if (exec.parent === tool.spanId && hrLess(tool.end, exec.end)) tool.end = exec.end;
    }
  }
  for (const span of drafts) {
    if (hrLess(root.end, span.end)) root.end = span.end;
    if (hrLess(span.start, root.start)) root.start = span.start;
  }

  const resource: Resource = resourceFromAttributes({
    'service.name': 'airlock',
    'airlock.session.id': sessionId,
  });
  const scope = { name: 'airlock.audit', version: '1' };
  const ctx = (spanId: string): SpanContext => ({ traceId, spanId, traceFlags: TraceFlags.SAMPLED });
  return drafts.map((s): ReadableSpan => ({
    name: s.name,
    kind: SpanKind.INTERNAL,
    spanContext: () => ctx(s.spanId),
    ...(s.parent === null ? {} : { parentSpanContext: ctx(s.parent) }),
    startTime: s.start,
    endTime: s.end,
    duration: hrDiff(s.start, s.end),
    status: s.status,
    attributes: s.attributes,
    links: [],
    events: s.events,
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  }));
}

/** The OTLP/JSON `ExportTraceServiceRequest` of a session's records. */
export function toOtlpJson(sessionId: string, records: readonly AuditRecord[]): string {
  const bytes = JsonTraceSerializer.serializeRequest(buildSpans(sessionId, records));
  if (bytes === undefined) {
    throw new AirlockError('E_INTERNAL', 'the OTLP JSON serializer returned nothing.', {
      hint: 'This is a bug in airlock; please report it.',
    });
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Options for {@link exportOtlpHttp}. */
export interface OtlpHttpOptions {
  /** Extra HTTP headers (an API key for the collector). */
  headers?: Record<string, string>;
  /** Per-request timeout. Default 10 s. */
  timeoutMillis?: number;
}

/**
 * The traces endpoint for a URL: a bare origin (`http://collector:4318`) gets the
 * standard `/v1/traces` path, as OTEL_EXPORTER_OTLP_ENDPOINT does; a URL with a path is
 * used as given.
 */
export function tracesEndpoint(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AirlockError('E_USAGE', `--otlp: ${JSON.stringify(url)} is not a URL.`, {
      hint: "Pass the collector's OTLP/HTTP address, such as http://127.0.0.1:4318.",
    });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new AirlockError('E_USAGE', `--otlp: ${JSON.stringify(url)} is not an http or https URL.`, {
      hint: "OTLP/gRPC is not supported; use the collector's OTLP/HTTP port (4318 by default).",
    });
  }
  if (parsed.pathname === '/' || parsed.pathname === '') parsed.pathname = '/v1/traces';
  return parsed.toString();
}

/** Sends a session's spans to an OTLP/HTTP endpoint with the OpenTelemetry JS exporter. */
export async function exportOtlpHttp(
  sessionId: string,
  records: readonly AuditRecord[],
  url: string,
  options: OtlpHttpOptions = {},
): Promise<{ spans: number; endpoint: string }> {
  const endpoint = tracesEndpoint(url);
  const spans = buildSpans(sessionId, records);
  const exporter = new OTLPTraceExporter({
    url: endpoint,
    headers: options.headers ?? {},
    timeoutMillis: options.timeoutMillis ?? 10_000,
  });
  try {
    for (let i = 0; i < spans.length; i += SPANS_PER_REQUEST) {
      const batch = spans.slice(i, i + SPANS_PER_REQUEST);
      await new Promise<void>((resolve, reject) => {
        exporter.export(batch, (result) => {
          if (result.code === ExportResultCode.SUCCESS) resolve();
          else {
            const why = result.error?.message ?? 'unknown error';
            reject(
              new AirlockError(
                'E_AUDIT_EXPORT_FAILED',
                `sending ${batch.length} spans to ${endpoint} failed: ${why}`,
                {
                  hint: 'Check that the collector is running and accepts OTLP/HTTP (JSON or protobuf) at that URL.',
                  cause: result.error,
                },
              ),
            );
          }
        });
      });
    }
  } finally {
    await exporter.shutdown();
  }
  return { spans: spans.length, endpoint };
}
