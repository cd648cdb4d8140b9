/**
 * `airlock audit ls|show|tail|query|verify|export|key`: reading, checking and exporting
 * the audit logs. Only argument parsing and printing live here; the work is in src/audit.
 */
import type { Command } from 'commander';
import {
  exportOtlpHttp,
  openAuditStore,
  parseTimeSpec,
  resolveStateDir,
  toOtlpJson,
} from '../../audit/index.js';
import type { AuditRecord, AuditStore, VerifyReport } from '../../audit/index.js';
import { AirlockError } from '../../errors/index.js';
import { EVENT_TYPES, isEventType } from '../../events/index.js';
import { EXIT, printJson, reportError, usageError } from '../output.js';

const VERDICTS = ['allow', 'log', 'ask', 'deny'] as const;
const EXPORT_FORMATS = ['otlp-json', 'jsonl'] as const;

interface JsonFlag {
  json?: boolean;
}

/** Receives a command's exit status. */
type SetExit = (code: number) => void;

/** Runs a command body with the store open, mapping errors to exit status 2 (code + hint on stderr). */
async function withStore(
  setExit: SetExit,
  json: boolean,
  body: (store: AuditStore) => Promise<number> | number,
): Promise<void> {
  let store: AuditStore | null = null;
  try {
    store = openAuditStore({ stateDir: resolveStateDir() });
    setExit(await body(store));
  } catch (err) {
    setExit(reportError(err, json));
  } finally {
    store?.close();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function field(data: unknown, key: string): unknown {
  return data !== null && typeof data === 'object' && !Array.isArray(data)
    ? (data as Record<string, unknown>)[key]
    : undefined;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value) ?? '';
}

function clip(s: string, max = 160): string {
  const oneLine = s.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

/** One line a person reads for a record. The data is already redacted in the log. */
export function summarize(r: AuditRecord): string {
  const d = r.data;
  const f = (k: string): string => text(field(d, k));
  switch (r.type) {
    case 'exec.started': {
      const argv = field(d, 'argv');
      return `${f('execId')} $ ${Array.isArray(argv) ? argv.map(text).join(' ') : ''} (in ${f('cwd')})`;
    }
    case 'exec.finished': {
      const code = field(d, 'exitCode');
      return `${f('execId')} ${code === null ? `killed by ${f('signal')}` : `exit ${text(code)}`} in ${f('durationMs')} ms, ${f('stdoutBytes')}+${f('stderrBytes')} bytes`;
    }
    case 'policy.decision':
      return `${f('verdict')} ${f('action')} ${f('subject')}${field(d, 'rule') === undefined ? '' : ` [${f('rule')}]`}: ${f('reason')}`;
    case 'network.request':
      return `${f('verdict')} ${f('method')} ${f('host')}:${f('port')}${text(field(d, 'path') ?? '')}${field(d, 'status') === undefined ? '' : ` → ${f('status')}`}`;
    case 'policy.reload':
      return `${f('file')} ${field(d, 'ok') === true ? 'reloaded' : `did not load, previous policy kept: ${f('error')}`}${field(d, 'approvalId') === undefined ? '' : ` (rule of ${f('approvalId')})`}`;
    case 'approval.requested':
      return `${f('approvalId')} ${f('action')} ${f('subject')} (via ${text(field(d, 'channels'))})`;
    case 'approval.granted':
    case 'approval.denied':
      return `${f('approvalId')} by ${f('by')} via ${f('channel')} after ${f('waitedMs')} ms`;
    case 'approval.expired':
      return `${f('approvalId')} after ${f('waitedMs')} ms`;
    case 'agent.tool_call':
      return `${f('face')} ${f('tool')}(${text(field(d, 'arguments'))}) id=${f('toolCallId')}`;
    case 'file.read':
    case 'file.write':
      return `${f('path')} ${f('size')} bytes`;
    default:
      return text(d);
  }
}

function printRecords(records: readonly AuditRecord[], json: boolean, withSession: boolean): void {
  if (json) {
    printJson(records);
    return;
  }
  for (const r of records) out(formatRecord(r, withSession));
}

function formatRecord(r: AuditRecord, withSession: boolean): string {
  return `${withSession ? `${r.session}  ` : ''}${String(r.seq).padStart(5)}  ${r.time}  ${r.type.padEnd(18)}  ${clip(summarize(r))}`;
}

function parseCount(option: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw usageError(
      `${option}: ${JSON.stringify(value)} is not a positive whole number.`,
      `Example: ${option} 50`,
    );
  return n;
}

function checkTypes(types: readonly string[] | undefined): string[] | undefined {
  if (types === undefined) return undefined;
  for (const t of types) {
    if (!isEventType(t))
      throw usageError(
        `--type: ${JSON.stringify(t)} is not an event type; choose from ${EVENT_TYPES.join(', ')}.`,
        'Example: --type exec.started policy.decision',
      );
  }
  return [...types];
}

function checkVerdicts(verdicts: readonly string[] | undefined): string[] | undefined {
  if (verdicts === undefined) return undefined;
  for (const v of verdicts) {
    if (!(VERDICTS as readonly string[]).includes(v))
      throw usageError(
        `--verdict: ${JSON.stringify(v)} is not a verdict; choose from ${VERDICTS.join(', ')}.`,
        'Example: --verdict deny ask',
      );
  }
  return [...verdicts];
}

function printVerify(reports: readonly VerifyReport[], json: boolean): void {
  if (json) {
    printJson({ ok: reports.every((r) => r.ok), sessions: reports });
    return;
  }
  if (reports.length === 0) out('no audit logs to verify');
  for (const r of reports) {
    const cps = `${r.checkpoints.valid}/${r.checkpoints.found} checkpoints${r.checkpoints.final ? ', final' : ''}`;
    if (r.ok) {
      out(`ok      ${r.sessionId}: ${r.records} records intact (${cps})`);
    } else {
      out(
        `FAILED  ${r.sessionId}: first bad seq ${String(r.firstBadSeq)} (${r.records} records verified before it; ${cps})`,
      );
      for (const p of r.problems) out(`        ${p.kind} at seq ${p.seq}: ${p.message}`);
    }
    for (const w of r.warnings) out(`        note: ${w}`);
  }
}

function parseHeaders(headers: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of headers ?? []) {
    const eq = h.indexOf('=');
    if (eq <= 0)
      throw usageError(
        `--header: ${JSON.stringify(h)} is not NAME=VALUE.`,
        'Example: --header "Authorization=Bearer $TOKEN"',
      );
    out[h.slice(0, eq)] = h.slice(eq + 1);
  }
  return out;
}

/**
 * Adds `airlock audit …` to the program. Exit statuses go to `setExit` when given (as the
 * other commands do), else to `process.exitCode`.
 */
export function register(program: Command, setExit?: SetExit): void {
  const exit: SetExit =
    setExit ??
    ((code) => {
      process.exitCode = code;
    });
  const audit = program
    .command('audit')
    .description('read, verify and export the tamper-evident audit logs of sessions');

  audit
    .command('ls')
    .description('list the sessions that have an audit log')
    .option('--json', 'print one JSON document')
    .action(async (opts: JsonFlag) => {
      const json = opts.json === true;
      await withStore(exit, json, (store) => {
        const sessions = store.listSessions();
        if (json) printJson(sessions);
        else if (sessions.length === 0) out('no audit logs yet');
        else {
          out(
            `${'SESSION'.padEnd(28)} ${'RECORDS'.padStart(7)}  ${'FIRST'.padEnd(24)}  ${'LAST'.padEnd(24)}  ENDED`,
          );
          for (const s of sessions) {
            out(
              `${s.sessionId.padEnd(28)} ${String(s.records).padStart(7)}  ${(s.firstTime ?? '-').padEnd(24)}  ${(s.lastTime ?? '-').padEnd(24)}  ${s.finalSeq === null ? 'no' : 'yes'}`,
            );
          }
        }
        return EXIT.ok;
      });
    });

  audit
    .command('show')
    .description("print a session's records")
    .argument('<session>', 'session id')
    .option('--type <type...>', `only these event types (${EVENT_TYPES.join(', ')})`)
    .option('--json', 'print one JSON document')
    .action(async (session: string, opts: JsonFlag & { type?: string[] }) => {
      const json = opts.json === true;
      await withStore(exit, json, (store) => {
        const types = checkTypes(opts.type);
        const records = store
          .readSession(session)
          .filter((r) => types === undefined || types.includes(r.type));
        printRecords(records, json, false);
        return EXIT.ok;
      });
    });

  audit
    .command('tail')
    .description('print the latest records of one session or of all, and with -f the ones that follow')
    .argument('[session]', 'session id (default: every session)')
    .option('-f, --follow', 'keep printing records as they are written, until interrupted')
    .option('-n, --lines <count>', 'how many of the latest records to print first', '20')
    .option('--json', 'print one JSON document (with -f: one JSON record per line)')
    .action(async (session: string | undefined, opts: JsonFlag & { follow?: boolean; lines: string }) => {
      const json = opts.json === true;
      await withStore(exit, json, async (store) => {
        const lines = parseCount('--lines', opts.lines);
        const sessionFilter = session === undefined ? {} : { sessionId: session };
        if (session !== undefined && !store.hasSession(session)) {
          throw new AirlockError(
            'E_SESSION_NOT_FOUND',
            `no audit log for session ${JSON.stringify(session)}.`,
            {
              hint: 'Run `airlock audit ls` to see the sessions this state directory has.',
            },
          );
        }
        const cursor = store.cursor();
        const latest = store.query({ ...sessionFilter, limit: lines, newest: true });
        if (opts.follow !== true) {
          printRecords(latest, json, session === undefined);
          return EXIT.ok;
        }
        const print = (r: AuditRecord): void => {
          out(json ? JSON.stringify(r) : formatRecord(r, session === undefined));
        };
        latest.forEach(print);
        const stop = new AbortController();
        const onSignal = (): void => {
          stop.abort();
        };
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          for await (const r of store.follow({ ...sessionFilter, signal: stop.signal, afterCursor: cursor }))
            print(r);
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        return EXIT.ok;
      });
    });

  audit
    .command('query')
    .description('search records across sessions')
    .option('--since <time>', 'at or after this time: ISO date-time or an age such as 15m, 2h, 7d')
    .option('--until <time>', 'before this time (same forms)')
    .option('--type <type...>', 'only these event types')
    .option('--verdict <verdict...>', `only records with these verdicts (${VERDICTS.join(', ')})`)
    .option('--session <id>', 'only this session')
    .option('--limit <count>', 'at most this many (the oldest first)')
    .option('--json', 'print one JSON document')
    .action(
      async (
        opts: JsonFlag & {
          since?: string;
          until?: string;
          type?: string[];
          verdict?: string[];
          session?: string;
          limit?: string;
        },
      ) => {
        const json = opts.json === true;
        await withStore(exit, json, (store) => {
          const types = checkTypes(opts.type);
          const verdicts = checkVerdicts(opts.verdict);
          const records = store.query({
            ...(opts.since === undefined ? {} : { since: parseTimeSpec('--since', opts.since) }),
            ...(opts.until === undefined ? {} : { until: parseTimeSpec('--until', opts.until) }),
            ...(types === undefined ? {} : { types }),
            ...(verdicts === undefined ? {} : { verdicts }),
            ...(opts.session === undefined ? {} : { sessionId: opts.session }),
            ...(opts.limit === undefined ? {} : { limit: parseCount('--limit', opts.limit) }),
          });
          printRecords(records, json, true);
          return EXIT.ok;
        });
      },
    );

  audit
    .command('verify')
    .description(
      'check that audit logs are intact: exit 0 when they are, 1 when one was edited, deleted, inserted, reordered or truncated',
    )
    .argument('[session]', 'session id')
    .option('--all', 'verify every session')
    .option(
      '--public-key <file>',
      'verify checkpoints with this pinned public key (default: the one in the state directory)',
    )
    .option('--json', 'print one JSON document')
    .action(async (session: string | undefined, opts: JsonFlag & { all?: boolean; publicKey?: string }) => {
      const json = opts.json === true;
      await withStore(exit, json, (store) => {
        if ((session === undefined) === (opts.all !== true)) {
          throw usageError(
            'verify: name one session or pass --all.',
            'Examples: airlock audit verify s-123   |   airlock audit verify --all',
          );
        }
        const vopts = opts.publicKey === undefined ? {} : { publicKeyPath: opts.publicKey };
        const reports = session === undefined ? store.verifyAll(vopts) : [store.verify(session, vopts)];
        printVerify(reports, json);
        return reports.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
      });
    });

  audit
    .command('export')
    .description(
      'export a session: as OpenTelemetry spans to a collector (--otlp) or stdout (--format otlp-json), or as its JSONL records',
    )
    .argument('<session>', 'session id')
    .option('--otlp <url>', 'send spans to this OTLP/HTTP endpoint (http://host:4318 gets /v1/traces)')
    .option('--format <format>', `print to stdout as ${EXPORT_FORMATS.join(' or ')}`)
    .option('--header <name=value...>', 'extra HTTP headers for --otlp')
    .option('--json', 'with --otlp: print the result as one JSON document')
    .action(
      async (session: string, opts: JsonFlag & { otlp?: string; format?: string; header?: string[] }) => {
        const json = opts.json === true;
        await withStore(exit, json, async (store) => {
          if ((opts.otlp === undefined) === (opts.format === undefined)) {
            throw usageError(
              'export: pass exactly one of --otlp URL and --format FORMAT.',
              `Example: airlock audit export ${session} --format otlp-json`,
            );
          }
          const records = store.readSession(session);
          if (opts.otlp !== undefined) {
            const result = await exportOtlpHttp(session, records, opts.otlp, {
              headers: parseHeaders(opts.header),
            });
            if (json) printJson(result);
            else out(`sent ${result.spans} spans of session ${session} to ${result.endpoint}`);
            return EXIT.ok;
          }
          switch (opts.format) {
            case 'otlp-json':
              out(await toOtlpJson(session, records));
              return EXIT.ok;
            case 'jsonl':
              for (const r of records) out(JSON.stringify(r));
              return EXIT.ok;
            case undefined:
            default:
              throw usageError(
                `--format: ${JSON.stringify(opts.format)} is not a format; choose from ${EXPORT_FORMATS.join(', ')}.`,
                `Example: airlock audit export ${session} --format otlp-json`,
              );
          }
        });
      },
    );

  audit
    .command('key')
    .description("print the installation's audit public key, to pin it elsewhere for `verify --public-key`")
    .option('--json', 'print one JSON document')
    .action(async (opts: JsonFlag) => {
      const json = opts.json === true;
      await withStore(exit, json, (store) => {
        const key = store.publicKey();
        if (json) printJson({ ...key, path: store.paths.publicKey });
        else process.stdout.write(key.pem);
        return EXIT.ok;
      });
    });
}
