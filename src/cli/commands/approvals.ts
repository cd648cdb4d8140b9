/**
 * `airlock approvals`, `airlock approve ID`, `airlock deny ID` and `airlock serve`: the
 * terminal and HTTP channels of the approvals queue. Only argument parsing, terminal
 * handling and printing live here; the queue, the screen and the server are in
 * src/approvals and src/server.
 */
import type { Command } from 'commander';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline';
import {
  attachWebhook,
  createApprovalQueue,
  createApprovalsScreen,
  describeRecord,
  escapeText,
  GRANT_SCOPES,
  clip,
} from '../../approvals/index.js';
import type { ApprovalQueue, ApprovalRecord, GrantScope } from '../../approvals/index.js';
import { AirlockError } from '../../errors/index.js';
import { addToken, loadOrCreateTokens, startApprovalServer } from '../../server/index.js';
import { loadPolicy } from '../../policy/index.js';
import { resolveStateDir } from '../../session/index.js';
import { addWebhookOptions, webhookFrom } from '../approval-options.js';
import { EXIT, printJson, reportError, usageError } from '../output.js';

/** Receives a command's exit status. */
type SetExit = (code: number) => void;

/** Who decides from this terminal, for the audit log. */
function localUser(): string {
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = process.env['USER'] ?? `uid-${String(process.getuid?.() ?? 'unknown')}`;
  }
  return `user:${name.replace(/[^\x21-\x7e]/g, '_') || 'unknown'}`;
}

/** Opens the queue, runs `body`, closes it, and maps errors to the exit status. */
async function withQueue(setExit: SetExit, json: boolean, body: (queue: ApprovalQueue) => Promise<number> | number): Promise<void> {
  let queue: ApprovalQueue | null = null;
  try {
    // A confirmed rule is written only if the policy file still loads with it.
    queue = createApprovalQueue({ stateDir: resolveStateDir(), validatePolicy: (text, file) => loadPolicy({ text, path: file }) });
    setExit(await body(queue));
  } catch (err) {
    setExit(reportError(err, json));
  } finally {
    queue?.close();
  }
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function listText(queue: ApprovalQueue, sessionId: string | undefined): void {
  const batches = queue.batches(sessionId === undefined ? {} : { sessionId });
  if (batches.length === 0) {
    out('nothing is waiting for approval');
    return;
  }
  for (const b of batches) {
    const extra = b.asks > b.prompts ? ` (${b.asks} with repeats)` : '';
    out(`${b.sessionName === null ? b.sessionId : `${escapeText(b.sessionName)} (${b.sessionId})`} · ${b.category} · ${escapeText(b.ruleId)}: ${b.prompts} ask${b.prompts === 1 ? '' : 's'}${extra}`);
    for (const r of b.items) out(`  ${r.id}  ${clip(r.subject, 100)}${r.count > 1 ? `  ×${r.count}` : ''}${r.destructive ? '  [destructive]' : ''}`);
  }
}

/** Splits a chunk of terminal input into keys: escape sequences stay whole. */
function splitKeys(chunk: string): string[] {
  const keys: string[] = [];
  // eslint-disable-next-line no-control-regex -- terminal escape sequences start with ESC
  const re = /\x1b\[[0-9;]*[A-Za-z~]|\x1bO[A-Za-z]|[\s\S]/gu;
  let m: RegExpExecArray | null;
  while ((m = re.exec(chunk)) !== null) keys.push(m[0]);
  return keys;
}

/** The interactive list on a terminal: the alternate screen, raw keys, redrawn on every change. */
function interactive(queue: ApprovalQueue, sessionId: string | undefined): Promise<void> {
  const screen = createApprovalsScreen({ queue, by: localUser(), ...(sessionId === undefined ? {} : { sessionId }), color: process.env['NO_COLOR'] === undefined });
  const stdout = process.stdout;
  const stdin = process.stdin;
  const draw = (): void => {
    const lines = screen.render(stdout.columns || 80, stdout.rows || 24);
    stdout.write(`\x1b[H\x1b[2J${lines.join('\r\n')}`);
  };
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      stopWatch();
      stdin.off('data', onData);
      stdout.off('resize', draw);
      process.off('SIGTERM', finish);
      process.off('SIGHUP', finish);
      stdin.setRawMode(false);
      stdin.pause();
      stdout.write('\x1b[?25h\x1b[?1049l');
      resolve();
    };
    const onData = (buf: Buffer): void => {
      for (const k of splitKeys(buf.toString('utf8'))) {
        if (screen.key(k) === 'quit') {
          finish();
          return;
        }
      }
      draw();
    };
    const stopWatch = queue.watch(() => {
      screen.refresh();
      draw();
    });
    stdout.write('\x1b[?1049h\x1b[?25l');
    stdin.setRawMode(true);
    stdin.resume();
    stdin.on('data', onData);
    stdout.on('resize', draw);
    process.on('SIGTERM', finish);
    process.on('SIGHUP', finish);
    draw();
  });
}

function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return new Promise((resolve) => {
    rl.question(question, (answer) => {
      rl.close();
      resolve(answer);
    });
  });
}

function parseScope(value: string): GrantScope {
  if (!(GRANT_SCOPES as readonly string[]).includes(value)) {
    throw usageError(`--scope: ${JSON.stringify(value)} is not a scope`, `Choose one of ${GRANT_SCOPES.join(', ')}.`);
  }
  return value as GrantScope;
}

function printDecided(r: ApprovalRecord, json: boolean): void {
  if (json) {
    printJson({ approval: r });
    return;
  }
  const res = r.resolution;
  out(`${r.id} ${res?.status ?? r.status}${res?.scope === null || res?.scope === undefined ? '' : ` (${res.scope})`}: ${r.subject}`);
  if (res?.ruleError !== null && res?.ruleError !== undefined) out(`rule not written: ${res.ruleError}`);
}

/** `airlock approvals`, `airlock approve`, `airlock deny`, `airlock serve`. */
export function register(program: Command, setExit: SetExit): void {
  program
    .command('approvals')
    .description('list pending approvals; on a terminal, an interactive list to approve and deny')
    .option('--session <id>', 'only this session')
    .option('--status <status>', 'with --json: pending (default), approved, denied, expired or all')
    .option('--json', 'print the asks as JSON (never interactive)')
    .action(async (opts: { session?: string; status?: string; json?: boolean }) => {
      const json = opts.json === true;
      await withQueue(setExit, json, async (queue) => {
        if (json) {
          const status = opts.status ?? 'pending';
          if (!['pending', 'approved', 'denied', 'expired', 'all'].includes(status)) {
            throw usageError(`--status: ${JSON.stringify(status)} is not a status`, 'Choose pending, approved, denied, expired or all.');
          }
          const list = queue.list({ ...(status === 'all' ? {} : { status: status as ApprovalRecord['status'] }), ...(opts.session === undefined ? {} : { sessionId: opts.session }) });
          printJson({ approvals: list.map((r) => ({ ...r, display: describeRecord(r) })) });
          return EXIT.ok;
        }
        if (process.stdin.isTTY && process.stdout.isTTY) {
          await interactive(queue, opts.session);
          return EXIT.ok;
        }
        listText(queue, opts.session);
        return EXIT.ok;
      });
    });

  program
    .command('approve')
    .description('approve a pending ask')
    .argument('<id>', 'the approval id (or a unique prefix)')
    .option('--scope <scope>', 'once (default), session (the same action again in this session) or rule (a policy rule, after you confirm its text)', 'once')
    .option('--digest <hex>', 'refuse unless the stored action has this digest (or digest prefix), e.g. the one a webhook showed you')
    .option('--rule-sha256 <hex>', 'with --scope rule and no terminal: confirm the rule whose text has this SHA-256')
    .option('--json', 'print the decided ask as JSON')
    .action(async (idArg: string, opts: { scope: string; digest?: string; ruleSha256?: string; json?: boolean }) => {
      const json = opts.json === true;
      await withQueue(setExit, json, async (queue) => {
        const scope = parseScope(opts.scope);
        const id = queue.resolveId(idArg);
        const r = queue.get(id);
        if (r === undefined) throw new AirlockError('E_APPROVAL_NOT_FOUND', `no approval ${JSON.stringify(idArg)}`, { hint: 'List them with `airlock approvals`.' });
        if (opts.digest !== undefined && (!/^[0-9a-f]{8,64}$/.test(opts.digest) || !r.digest.startsWith(opts.digest))) {
          throw new AirlockError('E_APPROVAL_MISMATCH', `approval ${id}: the stored action's digest ${r.digest.slice(0, 16)}… does not start with ${opts.digest}`, {
            hint: 'What you saw is not what would run. Look at the ask again: `airlock approvals`.',
          });
        }
        // Show what is being approved, so the person approving by id sees the exact action.
        if (!json && r.status === 'pending') for (const l of describeRecord(r)) process.stderr.write(`${l}\n`);
        let ruleText: string | undefined;
        if (scope === 'rule') {
          const p = r.ruleProposal;
          if (!p.ok) throw new AirlockError('E_APPROVAL_RULE', `approval ${id}: no rule can be proposed: ${p.reason}`, { hint: 'Approve with --scope once or --scope session.' });
          process.stderr.write(`\nThis rule would be added to ${escapeText(r.policyFile ?? '?')}:\n\n${p.text.replace(/^/gm, '    ')}\n`);
          for (const n of p.notes) process.stderr.write(`note: ${n}\n`);
          process.stderr.write(`rule sha256 ${p.sha256}\n\n`);
          if (opts.ruleSha256 !== undefined) {
            if (opts.ruleSha256 !== p.sha256) throw new AirlockError('E_APPROVAL_RULE', `approval ${id}: --rule-sha256 is not that of the proposed rule`, { hint: `The rule shown has sha256 ${p.sha256}.` });
            ruleText = p.text;
          } else if (process.stdin.isTTY && process.stderr.isTTY) {
            const answer = await ask('Write this rule and approve? [y/N] ');
            if (!/^y(es)?$/i.test(answer.trim())) {
              process.stderr.write('nothing was decided\n');
              return EXIT.failed;
            }
            ruleText = p.text;
          } else {
            throw usageError('--scope rule needs you to confirm the rule text', `Run it on a terminal, or pass --rule-sha256 ${p.sha256} after reading the rule above.`);
          }
        }
        const decided = queue.decide(id, { decision: 'approve', digest: r.digest, scope, ...(ruleText === undefined ? {} : { ruleText }), by: localUser(), channel: 'terminal' });
        printDecided(decided, json);
        return EXIT.ok;
      });
    });

  program
    .command('deny')
    .description('deny a pending ask')
    .argument('<id>', 'the approval id (or a unique prefix)')
    .option('--reason <text>', 'why, for the agent and the audit log')
    .option('--json', 'print the decided ask as JSON')
    .action(async (idArg: string, opts: { reason?: string; json?: boolean }) => {
      const json = opts.json === true;
      await withQueue(setExit, json, (queue) => {
        const id = queue.resolveId(idArg);
        const decided = queue.decide(id, { decision: 'deny', ...(opts.reason === undefined ? {} : { reason: opts.reason }), by: localUser(), channel: 'terminal' });
        printDecided(decided, json);
        return EXIT.ok;
      });
    });

  addWebhookOptions(
    program
      .command('serve')
      .description('serve the approvals API and web page on 127.0.0.1 until interrupted')
      .option('--port <n>', 'port (default 0: any free port)', '0')
      .option('--host <addr>', 'loopback address: 127.0.0.1 or ::1', '127.0.0.1')
      .option('--rotate-token', 'replace every API token before starting')
      .option('--new-token <name>', 'create (or replace) a named API token, print it, and exit: for a webhook receiver or a bot'),
  )
    .option('--json', 'print {url, pageUrl} as JSON')
    .action(async (opts: { port: string; host: string; rotateToken?: boolean; newToken?: string; webhook?: string; webhookSecretEnv?: string; webhookSecretFile?: string; json?: boolean }) => {
      const json = opts.json === true;
      const stateDir = resolveStateDir();
      if (opts.newToken !== undefined) {
        try {
          const token = addToken(stateDir, opts.newToken);
          if (json) printJson({ name: opts.newToken, token });
          else out(token);
          setExit(EXIT.ok);
        } catch (err) {
          setExit(reportError(err, json));
        }
        return;
      }
      const port = Number(opts.port);
      if (!/^\d+$/.test(opts.port) || port > 65_535) {
        setExit(reportError(usageError(`--port: ${JSON.stringify(opts.port)} is not a port`, 'Pass 0 for any free port, or 1-65535.'), json));
        return;
      }
      await withQueue(setExit, json, async (queue) => {
        const hook = webhookFrom(opts);
        const tokens = loadOrCreateTokens(stateDir, { rotate: opts.rotateToken === true });
        const server = await startApprovalServer({ queue, stateDir, host: opts.host, port, tokens });
        const webhook =
          hook === undefined
            ? null
            : attachWebhook(queue, {
                url: hook.url,
                secret: hook.secret,
                apiBaseUrl: server.url,
                onDelivery: (d) => {
                  if (!d.ok) process.stderr.write(`airlock: webhook delivery of ${d.approvalId} failed after ${d.attempts} attempts: ${d.error ?? ''}\n`);
                },
              });
        if (json) printJson({ url: server.url, pageUrl: server.pageUrl });
        else {
          out(`approvals page: ${server.pageUrl}`);
          out(`API: ${server.url}/api (bearer token "local" in ${stateDir}/approvals/tokens.json)`);
        }
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        webhook?.close();
        await webhook?.idle();
        await server.close();
        return EXIT.ok;
      });
    });
}
