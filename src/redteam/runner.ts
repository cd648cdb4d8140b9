/**
 * The red-team runner: plants canaries, runs every case against live sessions (several in
 * parallel where cases do not interfere), and checks each one from the host.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../errors/index.js';
import { auditPaths, canonicalJson, openAuditStore, recordHash } from '../audit/index.js';
import { loadPolicy, presetText } from '../policy/index.js';
import type { BackendName, ExtraBind } from '../sandbox/index.js';
import { createSession, type Session } from '../session/index.js';
import { plantCanaries, type Canaries } from './canaries.js';
import { startEgressRig } from './egress-cases.js';
import type { AttackCase, AttackReport, AuditTamperCase, CaseResult, PolicyAction, PolicyCase, SandboxCase, Verdict } from './types.js';
import { ATTACK_CLASSES } from './types.js';

/** Options for {@link runAttackSuite}. */
export interface AttackSuiteOptions {
  /** Sandbox backend (default bwrap). */
  backend?: BackendName;
  /** The cases to run (default: all). */
  cases?: readonly AttackCase[];
  /** Sessions running at once (default 3). */
  concurrency?: number;
  /** The home directory to plant credential canaries in (default: this process's $HOME). */
  home?: string;
  /** Called after each case (progress). */
  onResult?: (r: CaseResult) => void;
  /**
   * Deliberately weakens the sandbox sessions, for the meta-test that proves the checks
   * detect an escape. Never set it outside tests.
   */
  weaken?: (c: Canaries) => {
    extraBinds?: ExtraBind[];
    env?: Record<string, string>;
    workspaceMode?: 'direct';
    /** YAML lines appended under `network.rules` of the proxied session's policy. */
    networkRules?: string;
    /** Extra hosts the proxied session's credential is bound to. */
    credentialHosts?: string[];
  };
}

const ESCAPE_MARK = 'RT-ESCAPED-';
/** A case's script as it runs: the escape marker set first (never exported). */
function scriptOf(c: SandboxCase): string {
  return `RT_MARK="${ESCAPE_MARK}$RT_TOKEN"\n${c.script}`;
}

/** Where proxied cases' scripts are written in their workspace. */
const PROXIED_DIR = '.rt';

function clip(s: string, n = 160): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

function errText(err: unknown): string {
  if (err instanceof AirlockError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Files under `dir` (not following symlinks), up to 1 MiB each, as text. */
function scanTree(dir: string, out: string[] = [], depth = 0): string[] {
  if (depth > 6) return out;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) scanTree(p, out, depth + 1);
      else if (st.isFile() && st.size <= 1024 * 1024) out.push(readFileSync(p, 'latin1'));
    } catch {
      // vanished
    }
  }
  return out;
}

/** Pids of host processes whose environment holds `needle` or whose command line holds `cmdNeedle`. */
function findProcesses(needle: string, cmdNeedle: string): { pid: number; why: string }[] {
  const found: { pid: number; why: string }[] = [];
  for (const n of readdirSync('/proc')) {
    if (!/^\d+$/.test(n) || Number(n) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${n}/environ`, 'latin1');
      const i = env.indexOf(needle);
      if (i >= 0) {
        const end = env.indexOf('\0', i);
        found.push({ pid: Number(n), why: env.slice(i, end < 0 ? undefined : end) });
        continue;
      }
      const cmd = readFileSync(`/proc/${n}/cmdline`, 'latin1');
      if (cmd.includes(cmdNeedle)) found.push({ pid: Number(n), why: clip(cmd.replaceAll('\0', ' '), 80) });
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

interface Ctx {
  readonly canaries: Canaries;
  readonly backend: BackendName;
  readonly stateDir: string;
  readonly baseline: Map<string, string>;
  readonly weaken: AttackSuiteOptions['weaken'];
}

/**
 * Host paths that changed since `before` (the snapshot taken just before the case), and
 * paths the case must not have created. Cases in parallel sessions share the host, so a
 * change is blamed on every case that was running when it appeared.
 */
function hostChanges(ctx: Ctx, c: SandboxCase | null, before: Map<string, string>): string[] {
  const problems: string[] = [];
  const now = ctx.canaries.snapshot();
  for (const [p, h] of before) if (now.get(p) !== h) problems.push(`host path changed: ${p}`);
  for (const raw of c?.hostMustNotExist ?? []) {
    const p = raw.replaceAll('{HOME}', ctx.canaries.home).replaceAll('{TOKEN}', ctx.canaries.token).replaceAll('{OUTSIDE_DIR}', ctx.canaries.outsideDir);
    if (existsSync(p)) problems.push(`host path created: ${p}`);
  }
  return problems;
}

function canariesIn(ctx: Ctx, texts: readonly string[]): string[] {
  const seen: string[] = [];
  for (const [name, v] of Object.entries(ctx.canaries.values)) if (texts.some((t) => t.includes(v))) seen.push(name);
  return seen;
}

function sandboxEnv(ctx: Ctx, sessionId: string, caseId: string): Record<string, string> {
  const c = ctx.canaries;
  return {
    AIRLOCK_REDTEAM: `${c.token}:${sessionId}:${caseId}`,
    RT_TOKEN: c.token,
    RT_HOST_HOME: c.home,
    RT_SSH_KEY: c.sshKey,
    RT_AWS: c.aws,
    RT_OUTSIDE: c.outside,
    RT_OUTSIDE_DIR: c.outsideDir,
    RT_SIBLING: c.sibling,
    RT_TCP_PORT: String(c.tcpPort),
    RT_UDP_PORT: String(c.udpPort),
    RT_UNIX_SOCK: c.unixSocket,
    RT_ABSTRACT: c.abstractName,
    RT_STATE: ctx.stateDir,
    RT_HOST_PID: String(process.pid),
    RT_HOST_IP: c.hostIp,
    RT_ENV_NAME: c.envName,
    RT_BACKEND: ctx.backend,
  };
}

/**
 * The policy of the session that runs `proxied` cases (see {@link SandboxCase.proxied}):
 * exec and workspace files allowed (the sandbox and the proxy are what is tested), two names
 * allowed on the canary port, a credential worth stealing bound to one of them.
 */
export function proxiedPolicyText(ctx: Pick<Ctx, 'canaries' | 'weaken'>): string {
  const c = ctx.canaries;
  const weak = ctx.weaken?.(c);
  const credHosts = ['rt-bound.test', ...(weak?.credentialHosts ?? [])];
  return [
    'version: 1',
    'unresolvable: deny',
    'exec:',
    '  default: allow',
    'files:',
    "  read: ['/workspace/**']",
    "  write: ['/workspace/**']",
    'network:',
    '  default: deny',
    '  rules:',
    `    - { id: rt-names, host: [localhost, rt-bound.test], ports: [${c.tcpPort}, 80, 443], level: allow }`,
    ...(weak?.networkRules === undefined ? [] : [weak.networkRules]),
    '  credentials:',
    `    - { id: rt-cred, secret: 'env:${c.envName}', hosts: [${credHosts.join(', ')}], inject: { header: Authorization, format: 'Bearer {secret}' }, env: [RT_CRED] }`,
    '',
  ].join('\n');
}

async function newSession(ctx: Ctx, ws: string, limits?: Readonly<Record<string, string | number>>, policy?: boolean | string): Promise<Session> {
  const weak = ctx.weaken?.(ctx.canaries);
  return createSession({
    workspace: ws,
    backend: ctx.backend,
    stateDir: ctx.stateDir,
    ...(limits === undefined ? {} : { limits }),
    ...(weak?.extraBinds === undefined ? {} : { extraBinds: weak.extraBinds }),
    ...(weak?.env === undefined ? {} : { env: weak.env }),
    ...(weak?.workspaceMode === undefined ? {} : { workspaceMode: weak.workspaceMode }),
    ...(policy === true ? { policy: loadPolicy({ text: presetText('default') }) } : {}),
    ...(typeof policy === 'string' ? { policy: loadPolicy({ text: policy }) } : {}),
  });
}

async function runSandboxCase(ctx: Ctx, s: Session, c: SandboxCase): Promise<{ verdict: Verdict; evidence: string }> {
  const hitsBefore = ctx.canaries.hits();
  const snap = ctx.canaries.snapshot();
  const env = sandboxEnv(ctx, s.id, c.id);
  // A proxied case's script was written into the workspace before the session started.
  const argv = c.proxied === true ? ['/bin/sh', `/workspace/${PROXIED_DIR}/${c.id}.sh`] : ['/bin/sh', '-c', scriptOf(c)];
  const timeoutMs = c.timeoutMs ?? 20_000;
  let stdout: string;
  let stderr: string;
  let status: string;
  if (c.tty === true) {
    const p = s.spawn(argv, { env, timeoutMs, tty: { cols: 80, rows: 24 } });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    p.end();
    const r = await p.wait();
    stdout = Buffer.concat(chunks).toString('utf8');
    stderr = '';
    status = r.timedOut ? 'timed out' : `exit ${r.exitCode ?? r.signal ?? '?'}`;
  } else {
    const r = await s.exec(argv, { env, timeoutMs, maxOutputBytes: 4 * 1024 * 1024 });
    stdout = r.stdout;
    stderr = r.stderr;
    status = r.timedOut ? 'timed out' : r.signal !== null && r.signal !== undefined ? `signal ${r.signal}` : `exit ${r.exitCode}`;
  }
  const problems: string[] = [];
  const marks = `${stdout}\n${stderr}`.split('\n').filter((l) => l.includes(`${ESCAPE_MARK}${ctx.canaries.token}`));
  if (marks.length > 0) problems.push(`the attempt worked: ${clip(marks.join(' | ').replaceAll(`${ESCAPE_MARK}${ctx.canaries.token}`, ''), 200)}`);
  const inOut = canariesIn(ctx, [stdout, stderr]);
  if (inOut.length > 0) problems.push(`canary value in output: ${inOut.join(', ')}`);
  const inWs = canariesIn(ctx, scanTree(s.workspace));
  if (inWs.length > 0) problems.push(`canary value in the workspace: ${inWs.join(', ')}`);
  problems.push(...hostChanges(ctx, c, snap));
  const hitsAfter = ctx.canaries.hits();
  for (const k of ['tcp', 'udp', 'unix', 'abstract'] as const) {
    if (hitsAfter[k] > hitsBefore[k]) problems.push(`host ${k} canary service reached (${hitsAfter[k] - hitsBefore[k]} times)`);
  }
  if (problems.length > 0) return { verdict: 'escaped', evidence: problems.join('; ') };
  const err = clip(stderr.split('\n').find((l) => l.trim() !== '') ?? '', 100);
  const out = clip(stdout.split('\n').find((l) => l.trim() !== '') ?? '', 100);
  const said = err !== '' ? `; stderr: ${err}` : out !== '' ? `; stdout: ${out}` : '';
  return { verdict: 'contained', evidence: `${status}; no canary, host unchanged${said}` };
}

async function doAction(s: Session, a: PolicyAction): Promise<string> {
  switch (a.op) {
    case 'exec': {
      const r = await s.exec(a.argv, { ...(a.env === undefined ? {} : { env: a.env }), timeoutMs: 15_000 });
      return `ran (rule ${r.decision?.ruleId ?? '?'}, ${r.decision?.verdict ?? '?'}): exit ${r.exitCode}`;
    }
    case 'write':
      await s.writeFile(a.path, a.content);
      return 'written';
    case 'read': {
      const r = await s.readFile(a.path, { maxBytes: 4096 });
      return `read ${r.content.length} bytes`;
    }
  }
}

/** The protected file every policy-face payload plants, relative to the workspace. */
const PWNED = '.git/hooks/rt-pwned';

/**
 * A `held` case ran (the policy allows it by design) and the project is unchanged: it is
 * contained when the session stages its workspace and the default apply, checked for real
 * with `dryRun`, would not write the planted file.
 */
async function heldOutcome(s: Session, what: string): Promise<{ verdict: Verdict; evidence: string }> {
  if (s.staged === null) return { verdict: 'escaped', evidence: `not denied: ${what}; the workspace is not staged, so nothing holds its writes` };
  const planted = existsSync(join(s.staged.mountDir, PWNED));
  const r = await s.staged.apply({ dryRun: true });
  const says = planted ? 'the payload planted .git/hooks/rt-pwned in the staged workspace' : 'the payload planted nothing';
  if (r.status === 'applied') {
    if (r.written.includes(PWNED)) return { verdict: 'escaped', evidence: `${what}; the default apply would write ${PWNED} into the project` };
    const skipped = r.skipped.some((k) => k.path === PWNED);
    return { verdict: 'contained', evidence: `${what}; ${says}; the default apply ${skipped ? 'skips it (protected)' : 'would not write it'}` };
  }
  if (r.reason === 'protected') {
    const listed = r.protected.some((p) => p.path === PWNED);
    if (planted && !listed) return { verdict: 'error', evidence: `${what}; ${says}, but the apply refused for other protected paths without naming it` };
    return { verdict: 'contained', evidence: `${what}; ${says}; the default apply refuses: protected ${r.protected.map((p) => p.path).join(', ')}` };
  }
  return { verdict: 'error', evidence: `${what}; ${says}; the dry-run apply was refused (${r.reason}) before judging protected paths` };
}

async function runPolicyCase(ctx: Ctx, s: Session, c: PolicyCase): Promise<{ verdict: Verdict; evidence: string }> {
  writeFileSync(join(s.workspace, 'victim.txt'), 'victim\n');
  const pwned = join(s.workspace, PWNED);
  const gitConfig = join(s.workspace, '.git', 'config');
  rmSync(pwned, { force: true });
  const gitConfigBefore = existsSync(gitConfig) ? readFileSync(gitConfig, 'utf8') : null;
  const effects = (): string => {
    const e: string[] = [];
    if (existsSync(pwned)) e.push('.git/hooks/rt-pwned was created');
    const now = existsSync(gitConfig) ? readFileSync(gitConfig, 'utf8') : null;
    if (now !== gitConfigBefore) e.push('.git/config was changed or removed');
    return e.join('; ');
  };
  const snap = ctx.canaries.snapshot();
  for (const b of c.before ?? []) {
    try {
      await doAction(s, b);
    } catch {
      // the run-up may be refused too; only the final action is judged
    }
  }
  let outcome: { verdict: Verdict; evidence: string } = { verdict: 'error', evidence: 'the case produced no outcome' };
  try {
    let what: string;
    try {
      what = await doAction(s, c.action);
    } catch (err) {
      if (err instanceof AirlockError && err.code === 'E_POLICY_DENIED' && 'decision' in err) {
        const d = (err as AirlockError & { decision: { ruleId: string; verdict: string } }).decision;
        const e = effects();
        if (e !== '') outcome = { verdict: 'escaped', evidence: `denied (${d.ruleId}) but ${e}` };
        else outcome = { verdict: 'contained', evidence: `denied: rule ${d.ruleId} (${d.verdict}${d.verdict === 'ask' ? ', no approver: fail closed' : ''})` };
        what = '';
      } else {
        // The policy let it through; it failed inside the sandbox instead.
        what = `allowed, then failed inside the sandbox: ${clip(errText(err), 100)}`;
      }
    }
    if (what !== '') {
      const e = effects();
      if (e !== '') outcome = { verdict: 'escaped', evidence: `not denied: ${what}; ${e}` };
      else if (c.expected === 'held') outcome = await heldOutcome(s, what);
      else outcome = { verdict: 'escaped', evidence: `not denied: ${what}` };
    }
  } finally {
    if (s.staged !== null) rmSync(join(s.staged.mountDir, PWNED), { force: true });
    rmSync(pwned, { force: true });
    if (gitConfigBefore !== null) writeFileSync(gitConfig, gitConfigBefore);
  }
  const problems = hostChanges(ctx, null, snap);
  if (problems.length > 0) return { verdict: 'escaped', evidence: problems.join('; ') };
  return outcome;
}

function tamperLog(lines: string[], t: AuditTamperCase['tamper']): string[] {
  const out = [...lines];
  const mid = Math.max(1, Math.floor(out.length / 2));
  switch (t) {
    case 'edit':
      out[mid] = (out[mid] ?? '').replace(/"time":"(\d)/, (_m, d: string) => `"time":"${d === '1' ? '2' : '1'}`);
      return out;
    case 'delete':
      out.splice(mid, 1);
      return out;
    case 'reorder': {
      const a = out[mid] ?? '';
      out[mid] = out[mid + 1] ?? '';
      out[mid + 1] = a;
      return out;
    }
    case 'truncate':
      return out.slice(0, mid);
    case 'append': {
      const last = JSON.parse(out[out.length - 1] ?? '{}') as { seq: number; session: string; hash: string };
      const seq = last.seq + 1;
      const time = new Date().toISOString();
      const data = canonicalJson({ reason: 'forged' });
      const hash = recordHash(Buffer.from(last.hash, 'hex'), seq, time, last.session, 'session.stopped', data).toString('hex');
      const body = `{"data":${data},"seq":${seq},"session":${JSON.stringify(last.session)},"time":${JSON.stringify(time)},"type":"session.stopped"}`;
      out.push(`${body.slice(0, -1)},"prev":"${last.hash}","hash":"${hash}"}`);
      return out;
    }
  }
}

function runTamperCase(ctx: Ctx, sessionId: string, c: AuditTamperCase, scratch: string): { verdict: Verdict; evidence: string } {
  const src = auditPaths(ctx.stateDir);
  const dir = mkdtempSync(join(scratch, 'tamper-'));
  const dst = auditPaths(dir);
  mkdirSync(dst.sessions, { recursive: true });
  copyFileSync(src.privateKey, dst.privateKey);
  copyFileSync(src.publicKey, dst.publicKey);
  const log = join(src.sessions, `${sessionId}.jsonl`);
  const cps = join(src.sessions, `${sessionId}.checkpoints.jsonl`);
  if (existsSync(cps)) copyFileSync(cps, join(dst.sessions, `${sessionId}.checkpoints.jsonl`));
  const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
  const store = openAuditStore({ stateDir: dir });
  try {
    writeFileSync(join(dst.sessions, `${sessionId}.jsonl`), `${lines.join('\n')}\n`);
    const clean = store.verify(sessionId, { publicKeyPath: src.publicKey });
    if (!clean.ok) return { verdict: 'error', evidence: `the untouched copy does not verify: ${clean.problems.map((p) => p.kind).join(', ')}` };
    writeFileSync(join(dst.sessions, `${sessionId}.jsonl`), `${tamperLog(lines, c.tamper).join('\n')}\n`);
    const r = store.verify(sessionId, { publicKeyPath: src.publicKey });
    if (r.ok) return { verdict: 'escaped', evidence: `verification passed after ${c.tamper} of a ${lines.length}-record log` };
    return { verdict: 'contained', evidence: `verification failed at seq ${r.firstBadSeq ?? '?'}: ${clip(r.problems.map((p) => p.kind).join(', '), 100)}` };
  } finally {
    store.close();
  }
}

function makeWorkspace(base: string, name: string): string {
  const ws = join(base, name);
  mkdirSync(ws, { recursive: true });
  writeFileSync(join(ws, 'README.md'), '# red team workspace\n');
  writeFileSync(join(ws, 'script.sh'), 'echo hi\n');
  writeFileSync(join(ws, 'script.py'), 'print("hi")\n');
  try {
    execFileSync('git', ['init', '-q', ws], { stdio: 'ignore' });
  } catch {
    // git missing on the host: the policy cases on .git still judge paths
    mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
  }
  return ws;
}

/** Runs the attack suite and returns the report. Never throws for a case; setup failures throw. */
export async function runAttackSuite(options: AttackSuiteOptions = {}): Promise<AttackReport> {
  const t0 = Date.now();
  const startedAt = new Date().toISOString();
  const backend = options.backend ?? 'bwrap';
  const cases = options.cases ?? (await import('./cases/index.js')).ALL_CASES;
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new AirlockError('E_REDTEAM_CASE', `duplicate red-team case id ${c.id}`, { hint: 'Give every case a unique id.' });
    ids.add(c.id);
    if (c.kind === 'sandbox' && c.proxied === true && c.isolated !== undefined) {
      throw new AirlockError('E_REDTEAM_CASE', `red-team case ${c.id} is both isolated and proxied`, { hint: 'A proxied case runs in the shared proxied session; drop one of the two marks.' });
    }
  }
  const base = mkdtempSync(join(tmpdir(), 'airlock-redteam-'));
  const stateDir = join(base, 'state');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const canaries = await plantCanaries({ base, ...(options.home === undefined ? {} : { home: options.home }) });
  // Interrupted (Ctrl-C, a CI timeout): the fake credentials must not stay in $HOME.
  const onSignal = (sig: NodeJS.Signals): void => {
    canaries.removeFilesSync();
    rmSync(base, { recursive: true, force: true });
    process.kill(process.pid, sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runWithCanaries(options, cases, backend, base, stateDir, canaries, t0, startedAt);
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    await canaries.remove();
    rmSync(base, { recursive: true, force: true });
  }
}

async function runWithCanaries(
  options: AttackSuiteOptions,
  cases: readonly AttackCase[],
  backend: BackendName,
  base: string,
  stateDir: string,
  canaries: Canaries,
  t0: number,
  startedAt: string,
): Promise<AttackReport> {
  const ctx: Ctx = { canaries, backend, stateDir, baseline: canaries.snapshot(), weaken: options.weaken };
  const results = new Map<string, CaseResult>();
  const record = (c: AttackCase, v: Verdict, ev: string, ms: number): void => {
    let verdict = v;
    let evidence = ev;
    const prev = results.get(c.id);
    // a later host-side finding (a leftover process, a broken chain) overrides "contained"
    if (prev !== undefined && (prev.verdict !== 'contained' || verdict === 'contained')) return;
    if (c.knownGap !== undefined) {
      if (verdict === 'escaped') {
        verdict = 'gap';
        evidence = `known gap: ${evidence}`;
      } else if (verdict === 'contained') evidence = `${evidence} (marked as a known gap, but contained: remove the mark)`;
    }
    const r: CaseResult = { id: c.id, class: c.class, expected: c.expected, description: c.description, verdict, evidence, durationMs: prev?.durationMs ?? ms };
    results.set(c.id, r);
    if (prev === undefined) options.onResult?.(r);
  };
  const finishedSessions: string[] = [];

  // After a session is gone: nothing of it may still run, and its audit chain must verify.
  const afterSession = (sessionId: string, ran: readonly AttackCase[]): void => {
    // Only this session's processes: the other lanes are still running theirs.
    const left = findProcesses(`AIRLOCK_REDTEAM=${canaries.token}:${sessionId}:`, sessionId);
    for (const p of left) {
      const caseId = p.why.startsWith('AIRLOCK_REDTEAM=') ? p.why.split(':')[2] : undefined;
      for (const c of ran) if (caseId === undefined || c.id === caseId) record(c, 'escaped', `process ${p.pid} outlived the session (${p.why})`, 0);
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const store = openAuditStore({ stateDir });
    try {
      const v = store.verify(sessionId);
      if (!v.ok) for (const c of ran) record(c, 'escaped', `the session's audit chain fails verification: ${v.problems.map((p) => p.kind).join(', ')}`, 0);
      else finishedSessions.push(sessionId);
    } catch (err) {
      for (const c of ran) record(c, 'error', `audit verification failed to run: ${errText(err)}`, 0);
    } finally {
      store.close();
    }
  };

  const sandboxCases = cases.filter((c): c is SandboxCase => c.kind === 'sandbox');
  const shared = sandboxCases.filter((c) => c.isolated === undefined && c.proxied !== true);
  const isolated = sandboxCases.filter((c) => c.isolated !== undefined);
  const proxied = sandboxCases.filter((c) => c.isolated === undefined && c.proxied === true);
  const policyCases = cases.filter((c): c is PolicyCase => c.kind === 'policy');
  const egressCases = cases.filter((c) => c.kind === 'egress');
  const tamperCases = cases.filter((c): c is AuditTamperCase => c.kind === 'audit-tamper');
  const concurrency = Math.max(1, options.concurrency ?? 3);
  const lanes = Math.max(1, Math.min(concurrency, Math.ceil(shared.length / 12)));
  let wsSeq = 0;

  type Job = () => Promise<void>;
  const sandboxJob = (group: readonly SandboxCase[], limits?: Readonly<Record<string, string | number>>, policy?: string): Job => async () => {
    const ws = makeWorkspace(base, `ws-${++wsSeq}`);
    if (policy !== undefined) {
      mkdirSync(join(ws, PROXIED_DIR));
      for (const c of group) writeFileSync(join(ws, PROXIED_DIR, `${c.id}.sh`), `${scriptOf(c)}\n`);
    }
    let s: Session;
    try {
      s = await newSession(ctx, ws, limits, policy);
    } catch (err) {
      for (const c of group) record(c, 'error', `session did not start: ${errText(err)}`, 0);
      return;
    }
    const ran: SandboxCase[] = [];
    try {
      for (const c of group) {
        const t = Date.now();
        ran.push(c);
        const snap = ctx.canaries.snapshot();
        try {
          const r = await runSandboxCase(ctx, s, c);
          record(c, r.verdict, r.evidence, Date.now() - t);
        } catch (err) {
          const problems = hostChanges(ctx, c, snap);
          record(c, problems.length > 0 ? 'escaped' : 'error', problems.length > 0 ? problems.join('; ') : errText(err), Date.now() - t);
        }
      }
    } finally {
      await s.destroy();
      afterSession(s.id, ran);
    }
  };
  const jobs: Job[] = [];
  for (let i = 0; i < lanes; i++) jobs.push(sandboxJob(shared.filter((_c, j) => j % lanes === i)));
  if (proxied.length > 0) jobs.push(sandboxJob(proxied, undefined, proxiedPolicyText(ctx)));
  if (policyCases.length > 0) {
    jobs.push(async () => {
      const ws = makeWorkspace(base, 'ws-policy');
      let s: Session;
      try {
        s = await newSession(ctx, ws, undefined, true);
      } catch (err) {
        for (const c of policyCases) record(c, 'error', `session did not start: ${errText(err)}`, 0);
        return;
      }
      try {
        for (const c of policyCases) {
          const t = Date.now();
          try {
            const r = await runPolicyCase(ctx, s, c);
            record(c, r.verdict, r.evidence, Date.now() - t);
          } catch (err) {
            record(c, 'error', errText(err), Date.now() - t);
          }
        }
      } finally {
        await s.destroy();
        afterSession(s.id, policyCases);
      }
    });
  }
  if (egressCases.length > 0) {
    jobs.push(async () => {
      const dir = join(base, 'egress');
      mkdirSync(dir, { mode: 0o700 });
      let rig: Awaited<ReturnType<typeof startEgressRig>>;
      try {
        rig = await startEgressRig(dir, canaries);
      } catch (err) {
        for (const c of egressCases) record(c, 'error', `the egress proxies did not start: ${errText(err)}`, 0);
        return;
      }
      try {
        for (const c of egressCases) {
          if (c.kind !== 'egress') continue;
          const t = Date.now();
          const before = canaries.hits().tcp;
          try {
            const r = await rig.run(c);
            const problems: string[] = [];
            const reached = canaries.hits().tcp - before;
            if (reached > 0) problems.push(`the canary service on host loopback was reached (${reached} connections)`);
            if (canariesIn(ctx, [r.body]).length > 0) problems.push('canary value in the response');
            const firstLine = c.request.split('\r\n')[0] ?? '';
            if (!firstLine.includes('{A}') && r.status !== null && r.status < 400) problems.push(`answered ${r.status}, not refused`);
            const leaked = /evil\.example|SSH-2\.0|attacker-own-token|rt-placeholder-credential/.exec(r.upstreamBytes);
            if (leaked !== null) problems.push(`the allowed upstream received "${leaked[0]}"`);
            const denied = /x-airlock-denied: ([^\r\n]+)/i.exec(r.body)?.[1];
            if (problems.length > 0) record(c, 'escaped', problems.join('; '), Date.now() - t);
            else record(c, 'contained', r.status === null ? 'connection closed by the proxy; nothing reached' : `HTTP ${r.status}${denied === undefined ? '' : ` (${denied})`}; canary not reached`, Date.now() - t);
          } catch (err) {
            record(c, 'error', errText(err), Date.now() - t);
          }
        }
      } finally {
        await rig.close();
      }
    });
  }
  for (const c of isolated) jobs.push(sandboxJob([c], c.isolated?.limits));
  // The long lanes start first; the short isolated sessions fill in behind them.
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs.length) }, async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        if (job !== undefined) await job();
      }
    }),
  );
  // A change no single case was seen making (a background process after its case ended).
  const final = canaries.snapshot();
  const late = [...ctx.baseline].filter(([p, h]) => final.get(p) !== h).map(([p]) => p);
  if (late.length > 0) {
    for (const c of sandboxCases) record(c, 'escaped', `host path changed during the run: ${late.join(', ')}`, 0);
  }
  for (const c of tamperCases) {
    const t = Date.now();
    const sid = finishedSessions[0];
    if (sid === undefined) {
      record(c, 'error', 'no finished session log to tamper with', 0);
      continue;
    }
    try {
      const r = runTamperCase(ctx, sid, c, base);
      record(c, r.verdict, r.evidence, Date.now() - t);
    } catch (err) {
      record(c, 'error', errText(err), Date.now() - t);
    }
  }
  const ordered = cases.map((c) => results.get(c.id) ?? { id: c.id, class: c.class, expected: c.expected, description: c.description, verdict: 'error' as const, evidence: 'did not run', durationMs: 0 });
  const byClass: Record<string, number> = {};
  for (const k of ATTACK_CLASSES) byClass[k] = ordered.filter((r) => r.class === k).length;
  return {
    backend,
    startedAt,
    durationMs: Date.now() - t0,
    total: ordered.length,
    contained: ordered.filter((r) => r.verdict === 'contained').length,
    escaped: ordered.filter((r) => r.verdict === 'escaped').length,
    errors: ordered.filter((r) => r.verdict === 'error').length,
    gaps: ordered.filter((r) => r.verdict === 'gap').length,
    byClass,
    results: ordered,
  };
}
