import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportOtlpHttp, openAuditStore, toOtlpJson } from '../../../src/audit/index.js';
import type { AuditRecord, AuditStore } from '../../../src/audit/index.js';
import { isAirlockError } from '../../../src/errors/index.js';
import { createEvent } from '../../../src/events/index.js';
import type { AirlockEvent } from '../../../src/events/index.js';
import { tempStateDir } from './helpers.js';

/** The parts of OTLP/JSON this test reads. */
interface OtlpAttr {
  key: string;
  value: {
    stringValue?: string;
    intValue?: string | number;
    boolValue?: boolean;
    arrayValue?: { values: { stringValue?: string }[] };
  };
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttr[];
  events: { name: string; attributes: OtlpAttr[] }[];
  status: { code?: number; message?: string };
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: OtlpAttr[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

function spansOf(req: OtlpRequest): OtlpSpan[] {
  return req.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
}
function attr(span: { attributes: OtlpAttr[] }, key: string): unknown {
  const v = span.attributes.find((a) => a.key === key)?.value;
  if (v === undefined) return undefined;
  if (v.arrayValue !== undefined) return v.arrayValue.values.map((x) => x.stringValue);
  return v.stringValue ?? (v.intValue === undefined ? v.boolValue : Number(v.intValue));
}

const S = 'sess-otlp';
const t = (ms: number): Date => new Date(Date.UTC(2025, 0, 1, 12, 0, 0, ms));
const EVENTS: AirlockEvent[] = [
  createEvent(
    'session.created',
    S,
    { backend: 'bwrap', workspace: '/home/u/proj', agent: 'claude-code' },
    t(0),
  ),
  createEvent(
    'agent.tool_call',
    S,
    { face: 'mcp', tool: 'run_command', toolCallId: 'toolu_01', arguments: { command: 'npm test' } },
    t(10),
  ),
  createEvent(
    'policy.decision',
    S,
    {
      action: 'exec',
      subject: 'npm test',
      verdict: 'allow',
      reason: 'allowed by rule',
      rule: 'exec.allow[0]',
      execId: 'e1',
    },
    t(11),
  ),
  createEvent(
    'exec.started',
    S,
    { execId: 'e1', argv: ['npm', 'test'], cwd: '/workspace', toolCallId: 'toolu_01' },
    t(12),
  ),
  createEvent(
    'exec.finished',
    S,
    {
      execId: 'e1',
      exitCode: 0,
      signal: null,
      durationMs: 500,
      stdoutBytes: 1200,
      stderrBytes: 0,
      outputSha256: 'aa'.repeat(32),
      excerpt: 'ok',
      excerptTruncated: false,
    },
    t(512),
  ),
  createEvent('exec.started', S, { execId: 'e2', argv: ['make', 'lint'], cwd: '/workspace' }, t(600)),
  createEvent(
    'network.request',
    S,
    {
      requestId: 'r1',
      method: 'GET',
      host: 'registry.npmjs.org',
      port: 443,
      verdict: 'allow',
      bytesSent: 10,
      bytesReceived: 20,
      durationMs: 5,
    },
    t(650),
  ),
  createEvent(
    'exec.finished',
    S,
    {
      execId: 'e2',
      exitCode: 2,
      signal: null,
      durationMs: 300,
      stdoutBytes: 0,
      stderrBytes: 99,
      outputSha256: 'bb'.repeat(32),
      excerpt: 'lint failed',
      excerptTruncated: false,
    },
    t(900),
  ),
  createEvent('session.stopped', S, { reason: 'stopped', durationMs: 1000 }, t(1000)),
];

let state: ReturnType<typeof tempStateDir>;
let store: AuditStore;
let records: AuditRecord[];
let server: Server;
let url: string;
const received: { path: string; contentType: string; body: OtlpRequest }[] = [];
let failNext = false;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (data += c));
    req.on('end', () => {
      resolve(data);
    });
    req.on('error', reject);
  });
}

beforeAll(async () => {
  state = tempStateDir();
  store = openAuditStore({ stateDir: state.dir });
  const log = store.openLog(S);
  for (const e of EVENTS) await log.append(e);
  await log.close();
  records = store.readSession(S);
  // A minimal OTLP/HTTP receiver: the collector's contract, on a port the OS picks.
  server = createServer((req, res) => {
    void readBody(req).then((body) => {
      if (failNext) {
        failNext = false;
        res
          .writeHead(400, { 'content-type': 'application/json' })
          .end('{"code":3,"message":"rejected by test"}');
        return;
      }
      received.push({
        path: req.url ?? '',
        contentType: req.headers['content-type'] ?? '',
        body: JSON.parse(body) as OtlpRequest,
      });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  store.close();
  state.cleanup();
  await new Promise((resolve) => server.close(resolve));
});

function checkSpans(spans: OtlpSpan[]): void {
  const byName = (n: string): OtlpSpan[] => spans.filter((s) => s.name === n);
  expect(spans.map((s) => s.name).sort()).toEqual(
    ['airlock.session', 'execute_tool exec', 'execute_tool run_command', 'execute_tool run_command'].sort(),
  );
  const root = byName('airlock.session')[0];
  expect(root?.parentSpanId ?? '').toBe('');
  expect(new Set(spans.map((s) => s.traceId)).size).toBe(1);
  const [tool, execInTool] = byName('execute_tool run_command').sort(
    (a, b) =>
      (attr(a, 'airlock.exec.id') === undefined ? -1 : 1) -
      (attr(b, 'airlock.exec.id') === undefined ? -1 : 1),
  );
  // The agent's tool call…
  expect(attr(tool ?? { attributes: [] }, 'gen_ai.operation.name')).toBe('execute_tool');
  expect(attr(tool ?? { attributes: [] }, 'gen_ai.tool.name')).toBe('run_command');
  expect(attr(tool ?? { attributes: [] }, 'gen_ai.tool.call.id')).toBe('toolu_01');
  expect(attr(tool ?? { attributes: [] }, 'gen_ai.tool.call.arguments')).toBe('{"command":"npm test"}');
  expect(tool?.parentSpanId).toBe(root?.spanId);
  // …and the exec it caused, as its child, lasting from exec.started to exec.finished.
  expect(execInTool?.parentSpanId).toBe(tool?.spanId);
  expect(attr(execInTool ?? { attributes: [] }, 'gen_ai.tool.call.id')).toBe('toolu_01');
  expect(attr(execInTool ?? { attributes: [] }, 'process.command_args')).toEqual(['npm', 'test']);
  expect(attr(execInTool ?? { attributes: [] }, 'process.exit.code')).toBe(0);
  expect(BigInt(execInTool?.endTimeUnixNano ?? 0) - BigInt(execInTool?.startTimeUnixNano ?? 0)).toBe(
    500_000_000n,
  );
  expect(execInTool?.events.map((e) => e.name)).toEqual(['policy.decision']);
  // An exec with no tool call, which failed.
  const lint = byName('execute_tool exec')[0];
  expect(attr(lint ?? { attributes: [] }, 'gen_ai.tool.name')).toBe('exec');
  expect(attr(lint ?? { attributes: [] }, 'gen_ai.tool.call.id')).toBe('e2');
  expect(lint?.status.code).toBe(2);
  expect(lint?.status.message).toBe('exit status 2');
  expect(lint?.parentSpanId).toBe(root?.spanId);
  expect(root?.events.map((e) => e.name)).toEqual(['session.created', 'network.request', 'session.stopped']);
}

describe('OTLP export', () => {
  it('--format otlp-json: an ExportTraceServiceRequest with GenAI execute_tool spans', async () => {
    const doc = JSON.parse(await toOtlpJson(S, records)) as OtlpRequest;
    expect(attr(doc.resourceSpans[0]?.resource ?? { attributes: [] }, 'service.name')).toBe('airlock');
    checkSpans(spansOf(doc));
  });

  it('is deterministic: the same log exports the same ids', async () => {
    expect(await toOtlpJson(S, records)).toBe(await toOtlpJson(S, store.readSession(S)));
  });

  it('--otlp URL: sends the spans to a real OTLP/HTTP receiver with the OpenTelemetry exporter', async () => {
    received.length = 0;
    const result = await exportOtlpHttp(S, records, url);
    expect(result).toEqual({ spans: 4, endpoint: `${url}/v1/traces` });
    expect(received).toHaveLength(1);
    expect(received[0]?.path).toBe('/v1/traces');
    expect(received[0]?.contentType).toBe('application/json');
    checkSpans(spansOf(received[0]?.body ?? { resourceSpans: [] }));
  });

  it('a collector that refuses the spans is E_AUDIT_EXPORT_FAILED', async () => {
    failNext = true;
    let caught: unknown;
    try {
      await exportOtlpHttp(S, records, `${url}/v1/traces`);
    } catch (err) {
      caught = err;
    }
    expect(isAirlockError(caught) && caught.code).toBe('E_AUDIT_EXPORT_FAILED');
    expect((caught as Error).message).toMatch(new RegExp(`^sending 4 spans to ${url}/v1/traces failed: `));
  });

  it('a URL that is not OTLP/HTTP is a usage error', async () => {
    await expect(exportOtlpHttp(S, records, 'grpc://127.0.0.1:4317')).rejects.toThrow(
      '--otlp: "grpc://127.0.0.1:4317" is not an http or https URL.',
    );
  });
});
