import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditPaths, openAuditStore } from '../../../src/audit/index.js';
import type { AuditStore, VerifyReport } from '../../../src/audit/index.js';
import { bundleFixture, readLines, sampleEvent, tempStateDir, writeLines, writeSession } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const cli = join(here, 'fixtures', 'cli.ts');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let state: ReturnType<typeof tempStateDir>;
let cliBundle: string;

function airlock(
  args: string[],
  opts: { onStdout?: (all: string, stop: () => void) => void } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cliBundle, ...args], {
      env: { ...process.env, AIRLOCK_HOME: state.dir, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (c: string) => {
      stdout += c;
      opts.onStdout?.(stdout, () => p.kill('SIGINT'));
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  cliBundle = await bundleFixture(cli, 'cli');
  state = tempStateDir();
  const store = openAuditStore({ stateDir: state.dir });
  await writeSession(store, 'alpha', 20);
  await writeSession(store, 'beta', 8);
  await writeSession(store, 'broken', 30);
  store.close();
  const broken = join(auditPaths(state.dir).sessions, 'broken.jsonl');
  writeLines(
    broken,
    readLines(broken).filter((_, i) => i !== 16),
  );
});
afterAll(() => {
  state.cleanup();
  rmSync(cliBundle, { force: true });
});

describe('airlock audit (a real process)', () => {
  it('ls, show, query and tail print what the logs hold', async () => {
    const [ls, lsJson, show, showJson, query, tail] = await Promise.all([
      airlock(['audit', 'ls']),
      airlock(['audit', 'ls', '--json']),
      airlock(['audit', 'show', 'beta']),
      airlock(['audit', 'show', 'beta', '--type', 'exec.started', '--json']),
      airlock(['audit', 'query', '--verdict', 'deny', '--since', '2025-01-01T00:00:00.010Z', '--json']),
      airlock(['audit', 'tail', 'alpha', '-n', '3', '--json']),
    ]);
    for (const r of [ls, lsJson, show, showJson, query, tail])
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(ls.stdout.split('\n')[0]).toMatch(/^SESSION\s+RECORDS\s+FIRST\s+LAST\s+ENDED$/);
    expect((JSON.parse(lsJson.stdout) as { sessionId: string }[]).map((s) => s.sessionId).sort()).toEqual([
      'alpha',
      'beta',
      'broken',
    ]);
    expect(show.stdout.split('\n')[1]).toBe(
      '    2  2025-01-01T00:00:00.002Z  exec.finished       e2 exit 2 in 2 ms, 10+0 bytes',
    );
    expect((JSON.parse(showJson.stdout) as { seq: number }[]).map((r) => r.seq)).toEqual([1, 5]);
    expect(
      (JSON.parse(query.stdout) as { session: string; seq: number }[]).map((r) => `${r.session}:${r.seq}`),
    ).toEqual(['alpha:16', 'broken:16', 'broken:24']);
    expect((JSON.parse(tail.stdout) as { seq: number }[]).map((r) => r.seq)).toEqual([18, 19, 20]);
  }, 60_000);

  it('audit.verify-exit: verify: exit 0 when intact, 1 with the first bad seq when not, --json one document', async () => {
    const [good, bad, all, json] = await Promise.all([
      airlock(['audit', 'verify', 'alpha']),
      airlock(['audit', 'verify', 'broken']),
      airlock(['audit', 'verify', '--all']),
      airlock(['audit', 'verify', 'broken', '--json']),
    ]);
    expect(good).toEqual({
      code: 0,
      stderr: '',
      stdout: 'ok      alpha: 20 records intact (3/3 checkpoints, final)\n',
    });
    expect(bad.code).toBe(1);
    expect(bad.stdout.split('\n').slice(0, 2)).toEqual([
      'FAILED  broken: first bad seq 17 (16 records verified before it; 4/4 checkpoints, final)',
      '        deleted at seq 17: seq 17 is missing: the record after seq 16 is seq 18; records were deleted.',
    ]);
    expect(all.code).toBe(1);
    expect(all.stdout.match(/^(ok|FAILED)\s+\S+:/gm)).toEqual([
      'ok      alpha:',
      'ok      beta:',
      'FAILED  broken:',
    ]);
    expect(json.code).toBe(1);
    const doc = JSON.parse(json.stdout) as { ok: boolean; sessions: VerifyReport[] };
    expect(doc.ok).toBe(false);
    expect(doc.sessions[0]?.firstBadSeq).toBe(17);
  }, 60_000);

  it('usage and environment errors: exit 2 with code and hint on stderr', async () => {
    const [noArgs, unknown, badType, badSince, badExport] = await Promise.all([
      airlock(['audit', 'verify']),
      airlock(['audit', 'show', 'nosuch']),
      airlock(['audit', 'query', '--type', 'exec.begun']),
      airlock(['audit', 'query', '--since', 'last tuesday']),
      airlock(['audit', 'export', 'alpha']),
    ]);
    expect(noArgs).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'airlock: E_USAGE: verify: name one session or pass --all.\nhint: Examples: airlock audit verify s-123   |   airlock audit verify --all\n',
    });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^airlock: E_SESSION_NOT_FOUND: no audit log for session "nosuch" in .*\nhint: Run `airlock audit ls` to see the sessions this state directory has.\n$/,
    );
    expect(badType.code).toBe(2);
    expect(badType.stderr.split('\n')[0]).toBe(
      'airlock: E_USAGE: --type: "exec.begun" is not an event type; choose from session.created, session.stopped, policy.decision, policy.reload, approval.requested, approval.granted, approval.denied, approval.expired, exec.started, exec.finished, file.read, file.write, network.request, budget.exceeded, sandbox.violation, agent.tool_call, agent.prompt.',
    );
    expect(badSince.code).toBe(2);
    expect(badSince.stderr.split('\n')[0]).toBe(
      'airlock: E_USAGE: --since: "last tuesday" is not a time; use an ISO date such as "2025-01-31T12:00:00Z" or an age such as "15m", "2h", "7d".',
    );
    expect(badExport.code).toBe(2);
    expect(badExport.stderr.split('\n')[0]).toBe(
      'airlock: E_USAGE: export: pass exactly one of --otlp URL and --format FORMAT.',
    );
  }, 60_000);

  it('export --format otlp-json prints one OTLP document; --otlp sends it to a collector', async () => {
    const bodies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(`${req.method ?? ''} ${req.url ?? ''} ${body}`);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const [printed, sent] = await Promise.all([
        airlock(['audit', 'export', 'beta', '--format', 'otlp-json']),
        airlock(['audit', 'export', 'beta', '--otlp', url, '--json']),
      ]);
      expect(printed.code).toBe(0);
      const doc = JSON.parse(printed.stdout) as {
        resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[];
      };
      const names = doc.resourceSpans[0]?.scopeSpans[0]?.spans.map((s) => s.name);
      expect(names).toEqual(['airlock.session', 'execute_tool exec', 'execute_tool exec']);
      expect({ code: sent.code, stderr: sent.stderr, out: JSON.parse(sent.stdout) as unknown }).toEqual({
        code: 0,
        stderr: '',
        out: { spans: 3, endpoint: `${url}/v1/traces` },
      });
      expect(bodies).toHaveLength(1);
      expect(bodies[0]).toMatch(/^POST \/v1\/traces \{"resourceSpans":/);
      expect(bodies[0]).toContain('"key":"gen_ai.operation.name","value":{"stringValue":"execute_tool"}');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }, 60_000);

  it('tail -f prints records as another process writes them, until interrupted', async () => {
    const store: AuditStore = openAuditStore({ stateDir: state.dir });
    const log = store.openLog('live');
    await log.append(sampleEvent('live', 1));
    let wrote = false;
    const result = await airlock(['audit', 'tail', '-f', 'live', '--json'], {
      onStdout: (all, stop) => {
        const lines = all.split('\n').filter((l) => l !== '');
        if (lines.length === 1 && !wrote) {
          wrote = true;
          void Promise.all([2, 3, 4].map((i) => log.append(sampleEvent('live', i))));
        }
        if (lines.length >= 4) stop();
      },
    });
    await log.close();
    store.close();
    expect(result.code).toBe(0);
    expect(
      result.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { seq: number }).seq),
    ).toEqual([1, 2, 3, 4]);
  }, 60_000);
});
