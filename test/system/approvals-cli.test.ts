/**
 * Approvals end to end with real processes: the built `airlock run` and a named session's
 * host wait on the state directory's queue when the policy asks; the built `airlock approve`
 * / `deny` in another process, the HTTP API `airlock run --approval-server` serves (told by
 * a signed webhook where to answer) or nobody (a timeout) decide; the audit log records
 * every ask and decision with who, through which channel and how long it waited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, verifyWebhookSignature, WEBHOOK_HEADERS, type WebhookPayload } from '../../src/approvals/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

const me = `user:${userInfo().username}`;
let home: string;
let ws: string;
/** Asks of `echo` and `pwd`, answered within a minute. */
let askPolicy: string;
/** The same rules, but nobody has more than a second. */
let shortPolicy: string;

const RULES = `
exec:
  default: allow
  rules:
    - { id: echo-asks, command: echo, level: ask }
    - { id: pwd-asks, command: pwd, level: ask }
`;

interface Done {
  code: number;
  stdout: string;
  stderr: string;
}

/** A running `airlock` process whose output is collected, and which can be awaited. */
interface Proc {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `re` in stderr. */
  stderrMatch(re: RegExp): Promise<RegExpExecArray>;
  done: Promise<Done>;
}

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ws,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', AIRLOCK_HOME: home, NO_COLOR: '1', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  child.stdin?.end();
  const done = new Promise<Done>((resolve) => {
    child.on('close', (code) => {
      for (const w of waiters.splice(0)) w();
      resolve({ code: code ?? -1, stdout: out, stderr: err });
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    stderrMatch(re) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(err);
          if (m !== null) resolve(m);
          else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`exited without ${String(re)}; stderr: ${err}`));
          else waiters.push(check);
        };
        check();
      });
    },
    done,
  };
}

function airlock(args: string[], env: Record<string, string> = {}): Promise<Done> {
  return start(args, env).done;
}

/** The announcement of a new ask: its id. */
const ANNOUNCED = /airlock: approval needed (ap_[0-9a-z]+) \[exec(?:, destructive)?\] (.+?): decide with airlock approve (ap_[0-9a-z]+)/;

interface AuditRecord {
  type: string;
  data: Record<string, unknown>;
}

async function auditOf(sessionId: string): Promise<AuditRecord[]> {
  const r = await airlock(['audit', 'show', sessionId, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as AuditRecord[];
}

/** The approval.* records of one ask, in order. */
function approvalTrail(records: readonly AuditRecord[], approvalId: string): AuditRecord[] {
  return records.filter((r) => r.type.startsWith('approval.') && r.data['approvalId'] === approvalId);
}

function sessionOf(stderr: string): string {
  const m = /approval prompts? in session (s[0-9a-f]{12})/.exec(stderr);
  if (m?.[1] === undefined) throw new Error(`no prompt summary in: ${stderr}`);
  return m[1];
}

beforeAll(() => {
  home = tempDir('appr-home');
  ws = tempDir('appr-ws');
  askPolicy = join(tempDir('appr-pol'), 'ask.yaml');
  writeFileSync(askPolicy, `version: 1\napprovals: { timeout: 120 }\n${RULES}`);
  shortPolicy = join(tempDir('appr-pol'), 'short.yaml');
  writeFileSync(shortPolicy, `version: 1\napprovals: { timeout: 1 }\n${RULES}`);
});

afterAll(async () => {
  await airlock(['session', 'rm', 'appr-named', 'appr-short']).catch(() => undefined);
  cleanupTemp();
});

/** A local webhook receiver: every POST body it got, and a promise for the first. */
async function startReceiver(): Promise<{ received: { body: string; headers: Record<string, string | string[] | undefined> }[]; delivered: Promise<void>; url: string; close: () => Promise<void> }> {
  const received: { body: string; headers: Record<string, string | string[] | undefined> }[] = [];
  let gotOne!: () => void;
  const delivered = new Promise<void>((r) => (gotOne = r));
  const receiver: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ body, headers: req.headers });
      res.end('ok');
      gotOne();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  return {
    received,
    delivered,
    url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
    close: () => new Promise<void>((r) => receiver.close(() => { r(); })),
  };
}

describe('airlock run with an asking policy', () => {
  it('approvals.run-attached: announces the ask on stderr and runs the command once `airlock approve ID` answers', async () => {
    const run = start(['run', '-p', askPolicy, '--', 'echo', 'hello-approved']);
    const m = await run.stderrMatch(ANNOUNCED);
    const id = m[1] ?? '';
    expect(m[2]).toBe('echo hello-approved');
    expect(m[3]).toBe(id);
    // Nothing ran while the ask waits.
    expect(run.stdout()).toBe('');
    const ok = await airlock(['approve', id]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe(`${id} approved (once): echo hello-approved\n`);
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('hello-approved\n');
    // Stderr is not a terminal here: one line per ask, no window-title sequence.
    expect(r.stderr).not.toContain('\x1b]');
    expect(r.stderr).toContain('airlock: 1 approval prompt in session');
    const audit = await auditOf(sessionOf(r.stderr));
    const trail = approvalTrail(audit, id);
    expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted']);
    expect(trail[0]?.data).toMatchObject({ subject: 'echo hello-approved', rule: 'echo-asks' });
    expect(trail[0]?.data['channels']).toContain('terminal');
    expect(trail[1]?.data).toMatchObject({ by: me, channel: 'terminal', scope: 'once', waitedMs: expect.any(Number) as unknown });
    // The command started only after the grant.
    const types = audit.map((e) => e.type);
    expect(types.indexOf('exec.started')).toBeGreaterThan(types.indexOf('approval.granted'));
    // A finished run has no record, but `session show` still reports its prompts.
    const shown = await airlock(['session', 'show', sessionOf(r.stderr), '--json']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({ session: { id: sessionOf(r.stderr) }, prompts: { prompts: 1, approved: 1, denied: 0 } });
  });

  it('approvals.run-attached: `airlock deny ID` stops the command before it starts; exit 1 with the reason', async () => {
    const run = start(['run', '-p', askPolicy, '--', 'echo', 'never-printed']);
    const id = (await run.stderrMatch(ANNOUNCED))[1] ?? '';
    const no = await airlock(['deny', id, '--reason', 'not today']);
    expect(no.code).toBe(0);
    const r = await run.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`airlock: E_POLICY_DENIED: echo never-printed: denied by the sandbox policy \\(rule echo-asks: .*a person denied it \\(${me} via terminal: not today; ${id}\\)\\)`));
    const trail = approvalTrail(await auditOf(sessionOf(r.stderr)), id);
    expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.denied']);
    expect(trail[1]?.data).toMatchObject({ by: me, channel: 'terminal', reason: 'not today', waitedMs: expect.any(Number) as unknown });
  });

  it('approvals.run-attached: nobody answering within the policy timeout is a deny', async () => {
    const r = await airlock(['run', '-p', shortPolicy, '--', 'echo', 'too-late']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/E_POLICY_DENIED: echo too-late: .*nobody answered within 1 s/);
    const id = ANNOUNCED.exec(r.stderr)?.[1] ?? '';
    const trail = approvalTrail(await auditOf(sessionOf(r.stderr)), id);
    expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    expect(trail[1]?.data['waitedMs']).toBeGreaterThanOrEqual(1000);
  });

  it('approvals.run-tty: on a terminal the ask is also in the window title (saved and restored), and the command still gets its pty', async () => {
    // script(1) gives airlock a terminal as stdin, stdout and stderr, as a TUI agent would have.
    const cmd = `${process.execPath} ${CLI} run -p ${askPolicy} -- sh -c 'tty; echo in-a-tty'`;
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], {
      cwd: ws,
      env: { PATH: process.env['PATH'] ?? '', AIRLOCK_HOME: home, TERM: 'xterm' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const announced = new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = ANNOUNCED.exec(out);
        if (m?.[1] !== undefined) resolve(m[1]);
      });
      child.on('close', () => { reject(new Error(`ended without an announcement: ${JSON.stringify(out)}`)); });
    });
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const id = await announced;
    expect((await airlock(['approve', id])).code).toBe(0);
    expect(await closed).toBe(0);
    expect(out).toMatch(/\/dev\/pts\/\d+/);
    expect(out).toContain('in-a-tty');
    const push = out.indexOf('\x1b[22;2t');
    const title = out.indexOf('\x1b]2;airlock: 1 approval waiting - airlock approvals\x07');
    const pop = out.indexOf('\x1b[23;2t');
    expect(push).toBeGreaterThanOrEqual(0);
    expect(title).toBeGreaterThan(push);
    expect(pop).toBeGreaterThan(title);
    // The line starts at the left margin even in raw mode.
    expect(out).toMatch(new RegExp(`\\r\\nairlock: approval needed ${id} `));
  });

  it('approvals.run-http: --approval-server prints the page; a signed webhook says where to answer, and an approval over HTTP runs the command', async () => {
    // A bot's own token, so the audit log names who answered.
    const tok = await airlock(['serve', '--new-token', 'chat-bot']);
    expect(tok.code).toBe(0);
    const botToken = tok.stdout.trim();
    const secret = 'a-webhook-secret-of-32-bytes-xyz';
    const { received, delivered, url: hook, close } = await startReceiver();
    try {
      const run = start(['run', '-p', askPolicy, '--approval-server', '--webhook', hook, '--webhook-secret-env', 'HOOK_SECRET', '--', 'echo', 'via-http'], { HOOK_SECRET: secret });
      const page = await run.stderrMatch(/airlock: approvals at (http:\/\/127\.0\.0\.1:\d+)\/#token=([A-Za-z0-9_-]+)\n/);
      const announced = await run.stderrMatch(ANNOUNCED);
      // The announcement names the page too.
      expect(run.stderr()).toContain(`decide with airlock approve ${announced[1] ?? ''}, or ${page[1] ?? ''}`);
      await delivered;
      const d = received[0];
      expect(d).toBeDefined();
      if (d === undefined) return;
      const ts = d.headers[WEBHOOK_HEADERS.timestamp];
      const sig = d.headers[WEBHOOK_HEADERS.signature];
      expect(verifyWebhookSignature(secret, d.body, typeof ts === 'string' ? ts : undefined, typeof sig === 'string' ? sig : undefined)).toBe(true);
      const payload = JSON.parse(d.body) as WebhookPayload;
      expect(payload.approval).toMatchObject({ id: announced[1], subject: 'echo via-http' });
      expect(payload.decide.url).toBe(`${page[1] ?? ''}/api/approvals/${announced[1] ?? ''}/decision`);
      // The bot answers through the API the run serves, with the digest it was shown.
      const answer = await post(payload.decide.url ?? '', botToken, payload.decide.approve);
      expect(answer.status).toBe(200);
      const r = await run.done;
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('via-http\n');
      const trail = approvalTrail(await auditOf(sessionOf(r.stderr)), announced[1] ?? '');
      expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted']);
      expect(trail[0]?.data['channels']).toEqual(expect.arrayContaining(['http', 'terminal', 'web', 'webhook']));
      expect(trail[1]?.data).toMatchObject({ by: 'token:chat-bot', channel: 'http', scope: 'once' });
    } finally {
      await close();
    }
  });

  it('approvals.webhook-redacted: a credential value of the session in an asked command is redacted in the webhook payload', async () => {
    const cred = 'zq8-session-credential-value-4471';
    const credPolicy = join(tempDir('appr-pol'), 'cred.yaml');
    writeFileSync(
      credPolicy,
      `version: 1\napprovals: { timeout: 120 }\n${RULES}\nnetwork:\n  default: deny\n  credentials:\n    - { id: svc, secret: 'env:APPR_CRED', hosts: [api.example.test], inject: { header: Authorization }, env: [SVC_TOKEN] }\n`,
    );
    const { received, delivered, url: hook, close } = await startReceiver();
    try {
      const run = start(['run', '-p', credPolicy, '--webhook', hook, '--webhook-secret-env', 'HOOK_SECRET', '--', 'echo', cred], { HOOK_SECRET: 'a-webhook-secret-of-32-bytes-xyz', APPR_CRED: cred });
      const id = (await run.stderrMatch(ANNOUNCED))[1] ?? '';
      await delivered;
      const body = received[0]?.body;
      expect(body).toBeDefined();
      expect(body).not.toContain(cred);
      expect((JSON.parse(body ?? '{}') as WebhookPayload).approval.subject).toMatch(/^echo \S*REDACTED/);
      expect((await airlock(['deny', id])).code).toBe(0);
      await run.done;
    } finally {
      await close();
    }
  });

  it('approvals.cancel-while-waiting: SIGINT to `airlock run` while its command waits for a person exits 130, and nothing runs', async () => {
    const run = start(['run', '-p', askPolicy, '--', 'echo', 'never-started']);
    const id = (await run.stderrMatch(ANNOUNCED))[1] ?? '';
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('airlock: E_EXEC_CANCELLED: echo never-started: cancelled by SIGINT while it waited for approval; it never started');
    const audit = await auditOf(sessionOf(r.stderr));
    expect(approvalTrail(audit, id).map((e) => e.type)).toEqual(['approval.requested', 'approval.denied']);
    expect(audit.some((e) => e.type === 'exec.started')).toBe(false);
  });

  it('approvals.reload-failure: a rule grant whose policy file no longer loads keeps the old policy, is audited and said on stderr', async () => {
    const dir = tempDir('appr-reload');
    const base = join(dir, 'base.yaml');
    const policy = join(dir, 'airlock.yaml');
    writeFileSync(base, `version: 1\n${RULES}`);
    writeFileSync(policy, 'version: 1\nextends: ./base.yaml\napprovals: { timeout: 120 }\n');
    const run = start(['run', '-p', policy, '--', 'pwd']);
    const id = (await run.stderrMatch(ANNOUNCED))[1] ?? '';
    // The file the session would reload now names a base that is gone; an approver whose
    // queue does not validate the policy (another tool on the same state directory) still
    // writes the confirmed rule.
    rmSync(base);
    const queue = createApprovalQueue({ stateDir: home });
    try {
      const rec = queue.get(id);
      expect(rec?.ruleProposal.ok).toBe(true);
      if (rec === undefined || !rec.ruleProposal.ok) return;
      queue.decide(id, { decision: 'approve', digest: rec.digest, scope: 'rule', ruleText: rec.ruleProposal.text, by: 'user:other-tool', channel: 'test' });
    } finally {
      queue.close();
    }
    const r = await run.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('/workspace\n');
    expect(r.stderr).toContain(`airlock: warning: the rule of approval ${id} was written to ${policy}, but the file no longer loads`);
    expect(r.stderr).toContain('this session keeps its previous, stricter policy');
    const reload = (await auditOf(sessionOf(r.stderr))).filter((e) => e.type === 'policy.reload');
    expect(reload).toHaveLength(1);
    expect(reload[0]?.data).toMatchObject({ file: policy, ok: false, approvalId: id, error: expect.stringContaining('base.yaml') as unknown });
  });
});

/** POSTs JSON to the approvals API the way a bot would (Host is the server's own, no Origin). */
function post(url: string, token: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const data = JSON.stringify(body);
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { host: u.host, authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }); });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

describe('a named session with an asking policy', () => {
  let sessionId: string;

  beforeAll(async () => {
    const c = await airlock(['session', 'create', '-n', 'appr-named', '-p', askPolicy, '--json']);
    expect(c.code).toBe(0);
    sessionId = (JSON.parse(c.stdout) as { id: string }).id;
  });

  it('approvals.named-attached: `session exec` waits on the ask, announces it, and runs once another terminal approves', async () => {
    const exec = start(['session', 'exec', 'appr-named', '--', 'echo', 'named-approved']);
    const m = await exec.stderrMatch(ANNOUNCED);
    const id = m[1] ?? '';
    expect(m[2]).toBe('echo named-approved');
    const ok = await airlock(['approve', id]);
    expect(ok.code).toBe(0);
    const r = await exec.done;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('named-approved\n');
    const trail = approvalTrail(await auditOf(sessionId), id);
    expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.granted']);
    expect(trail[0]?.data['channels']).toContain('terminal');
    expect(trail[1]?.data).toMatchObject({ by: me, channel: 'terminal', waitedMs: expect.any(Number) as unknown });
  });

  it('approvals.named-attached: a denial comes back as E_POLICY_DENIED (exit 1), not a lost connection', async () => {
    const exec = start(['session', 'exec', 'appr-named', '--', 'echo', 'named-denied']);
    const id = (await exec.stderrMatch(ANNOUNCED))[1] ?? '';
    expect((await airlock(['deny', id, '--reason', 'nope'])).code).toBe(0);
    const r = await exec.done;
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/airlock: E_POLICY_DENIED: echo named-denied: .*a person denied it .*nope/);
    const trail = approvalTrail(await auditOf(sessionId), id);
    expect(trail.map((e) => e.type)).toEqual(['approval.requested', 'approval.denied']);
    expect(trail[1]?.data).toMatchObject({ by: me, channel: 'terminal', reason: 'nope' });
  });

  it('approvals.session-show: `airlock session show` reports the prompts the session needed', async () => {
    const r = await airlock(['session', 'show', 'appr-named', '--json']);
    expect(r.code).toBe(0);
    const shown = JSON.parse(r.stdout) as { session: { id: string; name: string }; prompts: Record<string, number> };
    expect(shown.session).toMatchObject({ id: sessionId, name: 'appr-named' });
    expect(shown.prompts).toMatchObject({ prompts: 2, asks: 2, approved: 1, denied: 1, expired: 0, pending: 0 });
    const text = await airlock(['session', 'show', 'appr-named']);
    expect(text.stdout).toContain('prompts\t2 (2 asks, 0 merged repeats, 0 let through by session grants)\n');
    expect(text.stdout).toContain('answers\t1 approved, 1 denied, 0 expired, 0 pending\n');
  });

  it('approvals.named-attached: nobody answering in time is a deny there too', async () => {
    const c = await airlock(['session', 'create', '-n', 'appr-short', '-p', shortPolicy, '--json']);
    expect(c.code).toBe(0);
    const shortId = (JSON.parse(c.stdout) as { id: string }).id;
    const r = await airlock(['session', 'exec', 'appr-short', '--', 'echo', 'named-late']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/E_POLICY_DENIED: echo named-late: .*nobody answered within 1 s/);
    const audit = await auditOf(shortId);
    expect(audit.filter((e) => e.type.startsWith('approval.')).map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    expect(audit.some((e) => e.type === 'exec.started')).toBe(false);
  });
});
