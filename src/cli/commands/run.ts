import type { Command } from 'commander';
import { constants as osConstants } from 'node:os';
import {
  STAGED_RETENTION_MS,
  createSession,
  newSessionId,
  describeChanges,
  finishStagedRun,
  type Session,
  type SessionRedactor,
  type StagedRunAction,
  type StagedRunOutcome,
} from '../../session/index.js';
import { AirlockError } from '../../errors/index.js';
import { loadPolicy } from '../../policy/index.js';
import { openApprovalChannels } from '../../server/index.js';
import type { PromptStats } from '../../approvals/index.js';
import type { AirlockEvent } from '../../events/index.js';
import { addSandboxOptions, policyPathFrom, sessionOptionsFrom, type SandboxCliOptions } from '../limits-options.js';
import { addWebhookOptions, portFrom, webhookFrom, type WebhookCliOptions } from '../approval-options.js';
import { EXIT, reportError, usageError } from '../output.js';
import { attach, exitStatusOf, terminalSize, wantsTty } from '../terminal.js';

interface RunOptions extends SandboxCliOptions, WebhookCliOptions {
  approvalServer?: boolean;
  approvalPort?: string;
  direct?: boolean;
  apply?: boolean;
  discard?: boolean;
  allowProtected?: boolean;
}

/** The signals `attach` passes on to the command; held until it is attached. */
const HELD_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

const RETENTION_DAYS = Math.round(STAGED_RETENTION_MS / 86_400_000);

/** The report printed (on stderr: stdout is the command's) once a staged run has ended. */
function report(o: StagedRunOutcome, id: string, status: number): string {
  switch (o.kind) {
    case 'unchanged':
      return '';
    case 'discarded':
      return `airlock: discarded ${o.summary.total} change(s) (--discard); ${o.summary.projectDir} is untouched.\n`;
    case 'kept': {
      const why = o.applySkipped ? `airlock: not applied: the command exited with status ${status} (--apply applies only on success).\n` : '';
      return `${describeChanges(o.summary, id)}${why}Kept until applied or discarded, at most ${RETENTION_DAYS} days.\n`;
    }
    case 'applied': {
      const r = o.result;
      let text = `airlock: applied to ${o.summary.projectDir}: ${r.written.length} written, ${r.deleted.length} deleted, ${r.modeChanged.length} mode change(s).\n`;
      for (const x of r.rejected) text += `  rejected   ${x.path}  ${x.reason} (never applied)\n`;
      for (const x of r.skipped) text += `  skipped    ${x.path}  ${x.reason}\n`;
      for (const n of r.notes) text += `  note       ${n}\n`;
      return text;
    }
    case 'refused': {
      const r = o.result;
      let text =
        r.reason === 'conflicts'
          ? `airlock: apply refused: the project changed after staging where the agent also changed it (${r.conflicts.length} conflict(s)); nothing was written.\n`
          : r.reason === 'protected'
            ? `airlock: apply refused: ${r.protected.length} protected change(s) can make code run later on this machine; nothing was written.\n`
            : 'airlock: apply refused: the staged changes moved after they were summarized; nothing was written.\n';
      for (const c of r.conflicts) text += `  conflict   ${c.path}  [${c.kind}] ${c.detail}\n`;
      for (const p of r.protected) text += `  protected  ${p.path}  [${p.category}] ${p.reason}\n`;
      return `${text}${describeChanges(o.summary, id)}Kept until applied or discarded, at most ${RETENTION_DAYS} days.\n`;
    }
  }
}

/** What the operator is told on stderr about a policy reload after a `rule` grant (nothing when it worked). */
export function policyReloadNotice(e: AirlockEvent): string | undefined {
  if (e.type !== 'policy.reload' || e.data.ok) return undefined;
  return (
    `airlock: warning: the rule of approval ${e.data.approvalId ?? '?'} was written to ${e.data.file}, but the file no longer loads ` +
    `(${e.data.error ?? 'unknown error'}); this session keeps its previous, stricter policy. Fix the file; new sessions load it again.\n`
  );
}

/** One line about the approval prompts of a session, for tuning a policy to need few (empty when there were none). */
export function promptSummary(s: PromptStats): string {
  if (s.asks === 0) return '';
  const parts = [`${s.approved} approved`, `${s.denied} denied`, `${s.expired} expired`];
  if (s.autoApproved > 0) parts.push(`${s.autoApproved} let through by session grants`);
  if (s.merged > 0) parts.push(`${s.merged} merged repeats`);
  return `airlock: ${s.prompts} approval prompt${s.prompts === 1 ? '' : 's'} in session ${s.sessionId} (${parts.join(', ')}).\n`;
}

/** `airlock run [options] -- CMD [ARGS…]`: an ephemeral session for one command. */
export function register(program: Command, setExit: (code: number) => void): void {
  addWebhookOptions(
    addSandboxOptions(
      program
        .command('run')
        .description(
          'run a command (or an interactive shell) in a fresh sandbox on a staged copy of the project; ' +
            'prints what it changed and how to review and apply it',
        )
        .argument('[command...]', 'the command and its arguments (after --)')
        .passThroughOptions(),
    ),
  )
    .option('--approval-server', 'also serve the approvals API and web page on 127.0.0.1 while the command runs (its address is printed)')
    .option('--approval-port <port>', 'port of that approvals page (implies --approval-server; default: any free port)')
    .option('--apply', 'apply the changes to the project when the command succeeds (refuses protected changes and conflicts)')
    .option('--discard', 'discard the changes whatever the command did')
    .option('--allow-protected', 'with --apply: also apply hooks, CI workflows, agent and IDE configs, package scripts')
    .option('--direct', 'no staging: mount the project itself read-write (every write lands at once, nothing to review)')
    .action(async (command: string[], opts: RunOptions) => {
      if (command.length === 0) {
        throw usageError('no command given', 'Write the command after --, e.g. `airlock run -- bash` or `airlock run -- npm test`.');
      }
      if (opts.apply === true && opts.discard === true) {
        throw usageError('--apply and --discard exclude each other', 'Pass one of them, or neither to keep the changes for review.');
      }
      if (opts.allowProtected === true && opts.apply !== true) {
        throw usageError('--allow-protected only goes with --apply', 'Add --apply, or apply later with `airlock apply ID --allow-protected`.');
      }
      if (opts.direct === true && (opts.apply === true || opts.discard === true)) {
        throw usageError(`--direct writes straight into the project, so there is nothing to ${opts.apply === true ? 'apply' : 'discard'}`, 'Drop --direct to work on a staged copy.');
      }
      const port = portFrom('--approval-port', opts.approvalPort);
      const webhook = webhookFrom(opts);
      const policyPath = policyPathFrom(opts);
      const policy = policyPath === undefined ? undefined : loadPolicy({ path: policyPath });
      const sessionOptions = sessionOptionsFrom(opts);
      const id = newSessionId();
      // An `ask` waits on the state directory's queue: `airlock approve ID` from another
      // terminal, the page when started, or the webhook answers it.
      let sessionRedactor: SessionRedactor | undefined;
      const channels = await openApprovalChannels({
        stateDir: sessionOptions.stateDir,
        sessionId: id,
        http: opts.approvalServer === true || port !== undefined ? { ...(port === undefined ? {} : { port }) } : false,
        // The session's known secret values (its credentials) are redacted from webhook
        // payloads too; the session exists before any ask can be posted.
        ...(webhook === undefined ? {} : { webhook: { ...webhook, redact: (t: string) => (sessionRedactor === undefined ? t : sessionRedactor.redact(t)) } }),
        onWebhookFailure: (d) => {
          process.stderr.write(`airlock: webhook delivery of approval ${d.approvalId} failed after ${d.attempts} attempts: ${d.error ?? ''}\n`);
        },
      });
      let session: Session;
      try {
        if (channels.server !== undefined) process.stderr.write(`airlock: approvals at ${channels.server.pageUrl}\n`);
        session = await createSession({ ...(policy === undefined ? {} : { policy }), ...sessionOptions, id, approvals: channels.queue });
        sessionRedactor = session.redactor;
      } catch (err) {
        await channels.close();
        throw err;
      }
      // The agent may own the terminal: asks are announced (a line on stderr, the window
      // title), never prompted for here.
      const stopAnnouncing = channels.announce(session.id);
      const stopNotices = session.events.subscribe((e) => {
        const notice = policyReloadNotice(e);
        if (notice !== undefined) process.stderr.write(notice);
      });
      if (session.workspaceMode === 'direct') {
        process.stderr.write(
          `airlock: warning: --direct: the sandbox writes straight into ${session.workspace}; nothing is staged, reviewed or undoable.\n`,
        );
      }
      const tty = wantsTty();
      let status: number = EXIT.usage;
      // The signal passed on to the command: when it cancels a command still waiting for a
      // person, airlock exits as a shell would for that signal (128 + its number).
      let lastSignal: number | undefined;
      try {
        // A signal that arrives before the command is attached (its ask may already be
        // announced) is held and passed on once it is, instead of killing airlock mid-way.
        const early: number[] = [];
        const holdSignal = (sig: NodeJS.Signals): void => { early.push(osConstants.signals[sig]); };
        for (const sig of HELD_SIGNALS) process.on(sig, holdSignal);
        const term = process.env['TERM'];
        const proc = session.spawn(command, tty ? { tty: { ...terminalSize(), ...(term === undefined ? {} : { term }) } } : {});
        proc.stdout.pipe(process.stdout, { end: false });
        proc.stderr.pipe(process.stderr, { end: false });
        const detach = attach(
          {
            write: (d) => { proc.write(d); },
            end: () => { proc.end(); },
            signal: (s) => {
              lastSignal = s;
              proc.kill(s);
            },
            resize: (c, r) => { proc.resize(c, r); },
          },
          tty,
        );
        for (const sig of HELD_SIGNALS) process.off(sig, holdSignal);
        for (const sig of early) {
          lastSignal = sig;
          proc.kill(sig);
        }
        const ended = session.ended.then((reason) => {
          throw reason;
        });
        ended.catch(() => undefined);
        let result;
        try {
          result = await Promise.race([proc.wait(), ended]);
        } catch (err) {
          if (!(err instanceof AirlockError && err.code === 'E_EXEC_CANCELLED' && lastSignal !== undefined)) throw err;
          result = null;
          reportError(err, false);
          status = 128 + lastSignal;
          setExit(status);
        } finally {
          detach();
        }
        if (result === null) {
          // cancelled while it waited for approval: reported above, it never ran
        } else if (result.startError !== undefined) {
          process.stderr.write(`airlock: E_EXEC_FAILED: ${command[0] ?? ''}: ${result.startError.message}\nhint: Check the command name; the sandbox's PATH is /usr/local/bin:/usr/bin:/bin.\n`);
        } else if (result.timedOut) {
          process.stderr.write(`airlock: E_EXEC_TIMEOUT: the command ran past its time limit and was killed\n`);
        }
        if (result !== null) {
          status = exitStatusOf(result);
          setExit(status);
        }
      } finally {
        stopAnnouncing();
        stopNotices();
        try {
          // destroy() seals the staged workspace: every process inside is gone, the tree is frozen.
          await session.destroy();
        } finally {
          process.stderr.write(promptSummary(channels.queue.stats(session.id)));
          await channels.close();
        }
        const touched = session.protectedChanges();
        if (touched !== null && touched.length > 0) {
          const lines = touched.slice(0, 20).map((c) => `  ${c.change.padEnd(8)} ${c.path} (${c.category})\n`);
          const more = touched.length > 20 ? `  … and ${touched.length - 20} more (airlock audit show ${session.id})\n` : '';
          process.stderr.write(
            `airlock: warning: --direct: the session changed ${touched.length} protected file${touched.length === 1 ? '' : 's'} in ${session.workspace}; they can run code on this machine later (git hooks, editor tasks, CI, shell start-up). Check them before you use git or open the project:\n${lines.join('')}${more}`,
          );
        }
        if (session.staged !== null) {
          const action: StagedRunAction = opts.apply === true ? 'apply' : opts.discard === true ? 'discard' : 'keep';
          const outcome = await finishStagedRun(session.staged, {
            action,
            commandSucceeded: status === 0,
            allowProtected: opts.allowProtected === true,
          });
          process.stderr.write(report(outcome, session.id, status));
          // The command succeeded but its changes did not land: automation must see that.
          if (outcome.kind === 'refused' && status === 0) setExit(EXIT.failed);
        }
      }
    });
}
