import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';
import {
  createNamedSession,
  execInSession,
  findSession,
  listSessions,
  removeSession,
  resolveStateDir,
  runSessionHost,
  stopSession,
} from '../../session/index.js';
import { readPromptStats, type PromptStats } from '../../approvals/index.js';
import { AirlockError, isAirlockError } from '../../errors/index.js';
import { openApprovalChannels } from '../../server/index.js';
import { addSandboxOptions, envFrom, policyPathFrom, sessionOptionsFrom, type SandboxCliOptions } from '../limits-options.js';
import { addWebhookOptions, webhookFrom, type WebhookCliOptions } from '../approval-options.js';
import { EXIT, printJson, usageError } from '../output.js';
import { attach, exitStatusOf, terminalSize, wantsTty } from '../terminal.js';

const cliPath = join(dirname(fileURLToPath(import.meta.url)), '..', 'main.js');

const SESSION_ID = /^s[0-9a-f]{12}$/;

function promptLines(p: PromptStats): string[] {
  return [
    `prompts\t${p.prompts} (${p.asks} asks, ${p.merged} merged repeats, ${p.autoApproved} let through by session grants)`,
    `answers\t${p.approved} approved, ${p.denied} denied, ${p.expired} expired, ${p.pending} pending`,
  ];
}

/** `airlock session create|ls|show|exec|stop|rm`. */
export function register(program: Command, setExit: (code: number) => void): void {
  const session = program.command('session').description('named sessions that outlive one command');

  addWebhookOptions(
    addSandboxOptions(
      session
        .command('create')
        .description('start a named session in the background')
        .requiredOption('-n, --name <name>', 'a name to refer to it by'),
    ),
  )
    .option('--json', 'print the session record as JSON')
    .option('--direct', 'no staging: mount the project itself read-write (writes land at once, nothing to review)')
    .action(async (opts: SandboxCliOptions & WebhookCliOptions & { name: string; json?: boolean; direct?: boolean }) => {
      const policyPath = policyPathFrom(opts);
      const webhook = webhookFrom(opts);
      const rec = await createNamedSession({
        name: opts.name,
        ...(policyPath === undefined ? {} : { policyPath }),
        ...(webhook === undefined ? {} : { approvalWebhook: webhook }),
        ...sessionOptionsFrom(opts),
        cliPath,
      });
      if (rec.workspaceMode === 'direct') {
        process.stderr.write(`airlock: warning: --direct: session ${rec.name} writes straight into ${rec.workspace}; nothing is staged or reviewed.\n`);
      }
      if (opts.json === true) printJson(rec);
      else process.stdout.write(`${rec.name}\t${rec.id}\trunning\t${rec.workspace}\n`);
    });

  session
    .command('ls')
    .description('list named sessions')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const all = listSessions(resolveStateDir());
      if (opts.json === true) {
        printJson(all);
        return;
      }
      if (all.length === 0) {
        process.stdout.write('no sessions\n');
        return;
      }
      process.stdout.write('NAME\tID\tSTATE\tCREATED\tWORKSPACE\n');
      for (const r of all) process.stdout.write(`${r.name}\t${r.id}\t${r.state}\t${r.createdAt}\t${r.workspace}\n`);
    });

  session
    .command('show')
    .description('show a named session, with how many approval prompts it needed (also takes the id an `airlock run` printed)')
    .argument('<session>', 'name or id')
    .option('--json', 'print {session, prompts} as JSON')
    .action((name: string, opts: { json?: boolean }) => {
      const stateDir = resolveStateDir();
      let rec;
      try {
        rec = findSession(stateDir, name);
      } catch (err) {
        // An ephemeral `airlock run` has no record, but its asks are in the queue.
        if (!(isAirlockError(err) && err.code === 'E_SESSION_NOT_FOUND' && SESSION_ID.test(name))) throw err;
        rec = undefined;
      }
      const id = rec?.id ?? name;
      const prompts = readPromptStats(stateDir, id);
      if (rec === undefined && prompts.asks === 0) {
        throw new AirlockError('E_SESSION_NOT_FOUND', `no session named ${JSON.stringify(name)}, and no approvals recorded for it`, {
          hint: 'List named sessions with `airlock session ls`; audit logs with `airlock audit ls`.',
        });
      }
      if (opts.json === true) {
        printJson({ session: rec ?? { id }, prompts });
        return;
      }
      const lines = rec === undefined
        ? [`id\t${id}`, 'kind\tephemeral (airlock run)']
        : [`name\t${rec.name}`, `id\t${rec.id}`, `state\t${rec.state}`, `created\t${rec.createdAt}`, `workspace\t${rec.workspace}`, `mode\t${rec.workspaceMode ?? 'staged'}`, `backend\t${rec.backend}`];
      process.stdout.write(`${[...lines, ...promptLines(prompts)].join('\n')}\n`);
    });

  session
    .command('exec')
    .description('run a command in a named session')
    .argument('<session>', 'name or id')
    .argument('[command...]', 'the command and its arguments (after --)')
    .option('--json', 'buffer the output and print {exitCode, signal, stdout, stderr, durationMs}')
    .option('-C, --cwd <dir>', 'working directory inside the sandbox (default /workspace)')
    .option('--exec-timeout <ms>', 'wall-clock limit in milliseconds')
    .option('-e, --env <NAME=VALUE...>', 'environment variable for this command')
    .action(async (name: string, command: string[], opts: { json?: boolean; cwd?: string; execTimeout?: string; env?: string[] }) => {
      if (command.length === 0) throw usageError('no command given', `Write the command after --, e.g. \`airlock session exec ${name} -- ls\`.`);
      const stateDir = resolveStateDir();
      const rec = findSession(stateDir, name);
      const json = opts.json === true;
      const tty = !json && wantsTty();
      const timeoutMs = opts.execTimeout === undefined ? undefined : Number(opts.execTimeout);
      if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 0)) {
        throw usageError(`--exec-timeout: ${JSON.stringify(opts.execTimeout)} is not a number of milliseconds`, 'Pass e.g. --exec-timeout 30000.');
      }
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const term = process.env['TERM'];
      // The session host waits on the state directory's queue; this terminal announces the
      // session's asks (never prompts: the command may own the terminal).
      const channels = await openApprovalChannels({ stateDir });
      const stopAnnouncing = channels.announce(rec.id);
      try {
        const remote = await execInSession(
          stateDir,
          rec,
          {
            argv: command,
            ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
            env: envFrom({ env: opts.env ?? [] }),
            ...(timeoutMs === undefined ? {} : { timeoutMs }),
            ...(tty ? { tty: { ...terminalSize(), ...(term === undefined ? {} : { term }) } } : {}),
          },
          json
            ? { onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) }
            : { onStdout: (c) => process.stdout.write(c), onStderr: (c) => process.stderr.write(c) },
        );
        let result;
        if (json) {
          remote.end();
          result = await remote.result;
          printJson({
            exitCode: result.exitCode,
            signal: result.signal,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
            durationMs: Math.round(result.durationMs * 1000) / 1000,
            timedOut: result.timedOut,
            ...(result.startError === undefined ? {} : { error: { code: 'E_EXEC_FAILED', message: result.startError.message } }),
          });
        } else {
          const detach = attach(remote, tty);
          try {
            result = await remote.result;
          } finally {
            detach();
          }
          if (result.startError !== undefined) process.stderr.write(`airlock: E_EXEC_FAILED: ${command[0] ?? ''}: ${result.startError.message}\n`);
        }
        setExit(exitStatusOf(result));
      } finally {
        stopAnnouncing();
        await channels.close();
      }
    });

  session
    .command('stop')
    .description("stop a named session's sandbox (its record stays for review)")
    .argument('<session>', 'name or id')
    .action(async (name: string) => {
      const stateDir = resolveStateDir();
      await stopSession(stateDir, findSession(stateDir, name));
    });

  session
    .command('rm')
    .description('stop if needed and delete a named session')
    .argument('<session...>', 'names or ids')
    .action(async (names: string[]) => {
      const stateDir = resolveStateDir();
      for (const n of names) await removeSession(stateDir, findSession(stateDir, n));
    });

  program
    .command('__session-host', { hidden: true })
    .description('internal: the process that owns a named session')
    .action(async () => {
      // The host answers asks through the state directory's queue (and the webhook, when
      // `session create --webhook` configured one); `airlock approve ID` decides them.
      await runSessionHost({
        openApprovals: ({ stateDir, sessionId, webhook }) =>
          openApprovalChannels({
            stateDir,
            sessionId,
            terminal: true,
            ...(webhook === undefined ? {} : { webhook }),
            onWebhookFailure: (d) => {
              process.stderr.write(`webhook delivery of approval ${d.approvalId} failed after ${d.attempts} attempts: ${d.error ?? ''}\n`);
            },
          }),
      });
      setExit(EXIT.ok);
    });
}
