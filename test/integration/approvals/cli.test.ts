/**
 * `airlock approvals`, `approve`, `deny` and `serve` as real processes against a real
 * queue file; the interactive list runs in a real pseudo-terminal (util-linux `script`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalQueue } from '../../../src/approvals/index.js';
import { bundleFixture } from './helpers.js';
import { argvAsk, delay, tempStateDir } from '../../unit/approvals/helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
let bundle: string;
let state: ReturnType<typeof tempStateDir>;
let queue: ApprovalQueue;
const me = `user:${userInfo().username}`;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function airlock(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [bundle, ...args], { env: { ...process.env, AIRLOCK_HOME: state.dir, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => { resolve({ code, stdout, stderr }); });
  });
}

beforeAll(async () => {
  bundle = await bundleFixture(join(here, 'fixtures', 'cli.ts'), 'approvals-cli');
  state = tempStateDir('cli');
  queue = createApprovalQueue({ stateDir: state.dir, pollIntervalMs: 20 });
});
afterAll(() => {
  queue.close();
  state.cleanup();
  rmSync(bundle, { force: true });
});

describe('airlock approvals / approve / deny', () => {
  it('lists pending asks as JSON and as text', async () => {
    const { id, decision } = queue.submit(argvAsk('s-cli', ['git', 'push']));
    const json = await airlock(['approvals', '--json']);
    expect(json.code).toBe(0);
    const list = JSON.parse(json.stdout) as { approvals: { id: string; subject: string; display: string[] }[] };
    expect(list.approvals.map((a) => [a.id, a.subject])).toEqual([[id, 'git push']]);
    const text = await airlock(['approvals']);
    expect(text.stdout).toBe(`s-cli · exec · exec.default: 1 ask\n  ${id}  git push  [destructive]\n`);
    queue.decide(id, { decision: 'deny', by: 'user:t', channel: 'terminal' });
    await decision;
  });

  it('approve ID shows what it approves and answers the waiting action', async () => {
    const { id, decision } = queue.submit(argvAsk('s-cli', ['npm', 'publish']));
    const r = await airlock(['approve', id.slice(0, 7)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('  $ npm publish\n');
    expect(r.stdout).toBe(`${id} approved (once): npm publish\n`);
    expect(await decision).toMatchObject({ approved: true, by: me, channel: 'terminal', scope: 'once' });
    const again = await airlock(['approve', id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(new RegExp(`^airlock: E_APPROVAL_DECIDED: approval ${id} is already approved by ${me} via terminal\\nhint: Nothing was changed; a decision is final.\\n$`));
  });

  it('deny ID --reason passes the reason on', async () => {
    const { id, decision } = queue.submit(argvAsk('s-cli', ['curl', 'x']));
    const r = await airlock(['deny', id, '--reason', 'use the mirror', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ approval: { id, status: 'denied', resolution: { reason: 'use the mirror', by: me } } });
    expect(await decision).toMatchObject({ approved: false, reason: 'use the mirror' });
  });

  it('refuses a digest prefix that is not the stored action\'s, and an unknown scope', async () => {
    const { id, decision } = queue.submit(argvAsk('s-cli', ['ls']));
    const r = await airlock(['approve', id, '--digest', '00000000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('airlock: E_APPROVAL_MISMATCH:');
    const s = await airlock(['approve', id, '--scope', 'forever']);
    expect(s.code).toBe(2);
    expect(s.stderr).toBe('airlock: E_USAGE: --scope: "forever" is not a scope\nhint: Choose one of once, session, rule.\n');
    const ok = await airlock(['approve', id, '--digest', queue.get(id)?.digest.slice(0, 12) ?? '', '--scope', 'session']);
    expect(ok.code).toBe(0);
    expect(await decision).toMatchObject({ approved: true, scope: 'session' });
  });

  it('--scope rule shows the rule and writes it only when confirmed by its hash', async () => {
    const policyFile = join(state.dir, 'airlock.yaml');
    writeFileSync(policyFile, 'version: 1\n');
    const { id, decision } = queue.submit(argvAsk('s-cli', ['npm', 'test'], { policyFile }));
    const p = queue.get(id)?.ruleProposal;
    if (p === undefined || !p.ok) throw new Error('expected a rule');
    const unconfirmed = await airlock(['approve', id, '--scope', 'rule']);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain(p.text.replace(/^/gm, '    '));
    expect(unconfirmed.stderr).toContain(`hint: Run it on a terminal, or pass --rule-sha256 ${p.sha256} after reading the rule above.`);
    expect(readFileSync(policyFile, 'utf8')).toBe('version: 1\n');
    const wrong = await airlock(['approve', id, '--scope', 'rule', '--rule-sha256', 'f'.repeat(64)]);
    expect(wrong.code).toBe(2);
    const ok = await airlock(['approve', id, '--scope', 'rule', '--rule-sha256', p.sha256]);
    expect(ok.code).toBe(0);
    expect(await decision).toMatchObject({ approved: true, scope: 'rule', ruleText: p.text });
    // the grant as confirmed, with who and when next to it
    const written = readFileSync(policyFile, 'utf8');
    expect(written).toMatch(/\n {4}by: \S+\n {4}at: \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
    expect(written.replace(/ {4}by: .*\n {4}at: .*\n/, '')).toBe(`version: 1\n${p.text}`);
  });

  it('serve prints where the page is and answers until SIGTERM', async () => {
    const child = spawn(process.execPath, [bundle, 'serve', '--json'], { env: { ...process.env, AIRLOCK_HOME: state.dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    for (let i = 0; i < 300 && !out.includes('\n}'); i++) await delay(20);
    const info = JSON.parse(out) as { url: string; pageUrl: string };
    const token = /#token=(.+)$/.exec(info.pageUrl)?.[1] ?? '';
    const { id, decision } = queue.submit(argvAsk('s-serve', ['make', 'deploy']));
    const list = (await (await fetch(`${info.url}/api/approvals`, { headers: { authorization: `Bearer ${token}` } })).json()) as { approvals: { id: string; digest: string }[] };
    const a = list.approvals.find((x) => x.id === id);
    const res = await fetch(`${info.url}/api/approvals/${id}/decision`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ decision: 'approve', digest: a?.digest }) });
    expect(res.status).toBe(200);
    // decided in the serve process, seen by this one through the shared file
    expect(await decision).toMatchObject({ approved: true, by: 'token:local', channel: 'http' });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!hasScript)('airlock approvals on a terminal', () => {
  it('approves with a key press in the interactive list, and quits with q', async () => {
    const { id, decision } = queue.submit(argvAsk('s-tty', ['git', 'push', 'origin']));
    const other = queue.submit(argvAsk('s-tty', ['git', 'push', 'upstream']));
    // `script` gives the command a real pseudo-terminal; its stdin is what the person types.
    const child = spawn('script', ['-qfec', `${process.execPath} ${bundle} approvals --session s-tty`, '/dev/null'], {
      env: { ...process.env, AIRLOCK_HOME: state.dir, TERM: 'xterm', NO_COLOR: '1', COLUMNS: '120', LINES: '40' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (c: Buffer) => (screen += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const until = async (text: string): Promise<void> => {
      for (let i = 0; i < 300 && !screen.includes(text); i++) await delay(20);
      expect(screen).toContain(text);
    };
    await until('airlock approvals: 2 pending');
    expect(screen).toContain(`> ${id}  git push origin`);
    child.stdin.write('a');
    expect(await decision).toMatchObject({ approved: true, channel: 'terminal', by: me });
    await until(`approved ${id} once`);
    // deny the other one with a reason typed on the keyboard
    child.stdin.write('d');
    await until('Reason:');
    child.stdin.write('nope\r');
    expect(await other.decision).toMatchObject({ approved: false, reason: 'nope' });
    child.stdin.write('q');
    expect(await exited).toBe(0);
  });
});
