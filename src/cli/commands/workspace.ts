/**
 * `airlock diff|apply|discard|export SESSION`: reviewing and landing what an agent changed
 * in its staged workspace. Only argument parsing and printing live here; the work is in
 * src/workspace. Finding a session's staged workspace belongs to the session layer, which
 * passes `resolveWorkspace`.
 *
 * Exit statuses: 0 done; 1 apply or export refused (conflicts, protected files, nothing to
 * export); 2 usage or environment, with code and hint on stderr.
 */
import type { Command } from 'commander';
import { AirlockError, isAirlockError } from '../../errors/index.js';
import type {
  ApplyResult,
  ExportResult,
  GitIdentity,
  StagedWorkspace,
  WorkspaceDiff,
} from '../../workspace/index.js';
import { EXIT } from '../output.js';

/** Where the commands write (the process's streams unless a caller, e.g. a test, gives others). */
export interface WorkspaceCommandIO {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown };
}

/** What the workspace commands need from the rest of the CLI. */
export interface WorkspaceCommandDeps {
  /** Finds the staged workspace of a session by id or name (the session layer's job). */
  resolveWorkspace(sessionIdOrName: string): Promise<StagedWorkspace>;
  /** Records the exit status. */
  setExit(code: number): void;
  io?: WorkspaceCommandIO;
  /** Environment for NO_COLOR (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

interface Ctx {
  out: (s: string) => void;
  err: (s: string) => void;
  color: boolean;
  json: boolean;
  deps: WorkspaceCommandDeps;
}

function context(deps: WorkspaceCommandDeps, json: boolean): Ctx {
  const io = deps.io ?? { stdout: process.stdout, stderr: process.stderr };
  const env = deps.env ?? process.env;
  return {
    out: (s) => io.stdout.write(s),
    err: (s) => io.stderr.write(s),
    color: io.stdout.isTTY === true && (env['NO_COLOR'] ?? '') === '' && !json,
    json,
    deps,
  };
}

function printJson(ctx: Ctx, value: unknown): void {
  ctx.out(`${JSON.stringify(value, null, 2)}\n`);
}

function fail(ctx: Ctx, err: unknown): void {
  const e = isAirlockError(err)
    ? err
    : new AirlockError('E_INTERNAL', err instanceof Error ? err.message : String(err), {
        hint: 'This is a bug in airlock; please report it with the command you ran.',
        cause: err,
      });
  if (ctx.json) printJson(ctx, { error: e.toJSON() });
  else ctx.err(`airlock: ${e.code}: ${e.message}\nhint: ${e.hint}\n`);
  ctx.deps.setExit(e.code === 'E_POLICY_DENIED' ? EXIT.failed : EXIT.usage);
}

async function run(ctx: Ctx, body: () => Promise<number>): Promise<void> {
  try {
    ctx.deps.setExit(await body());
  } catch (err) {
    fail(ctx, err);
  }
}

const paint = (on: boolean, code: string, s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

function colorPatch(patch: string): string {
  return patch
    .split('\n')
    .map((l) => {
      if (/^# airlock: (PROTECTED|REJECTED|CONFLICT)/.test(l)) return paint(true, '1;33', l);
      if (l.startsWith('# airlock:')) return paint(true, '2', l);
      if (l.startsWith('diff --git') || l.startsWith('+++') || l.startsWith('---'))
        return paint(true, '1', l);
      if (l.startsWith('@@')) return paint(true, '36', l);
      if (l.startsWith('+')) return paint(true, '32', l);
      if (l.startsWith('-')) return paint(true, '31', l);
      return l;
    })
    .join('\n');
}

/** Parses `Name <email>`. */
export function parseAuthor(text: string): GitIdentity {
  const m = /^\s*([^<>]*?)\s*<([^<>\s]+)>\s*$/.exec(text);
  if (m === null || (m[1] ?? '') === '') {
    throw new AirlockError('E_USAGE', `--author: ${JSON.stringify(text)} is not "Name <email>"`, {
      hint: 'Write it as --author "Claude <agent@example.com>".',
    });
  }
  return { name: m[1] ?? '', email: m[2] ?? '' };
}

function diffJson(d: WorkspaceDiff, withPatch: boolean): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    sessionId: d.sessionId,
    projectDir: d.projectDir,
    strategy: d.strategy,
    totals: d.totals,
    fingerprint: d.fingerprint,
    files: d.files,
    changes: d.changes,
    conflicts: d.conflicts,
  };
  if (withPatch) doc['patch'] = d.patch;
  return doc;
}

function applyReport(ctx: Ctx, session: string, r: ApplyResult): number {
  if (ctx.json) {
    printJson(ctx, r);
    return r.status === 'applied' ? EXIT.ok : EXIT.failed;
  }
  const warn = (s: string): string => paint(ctx.color, '1;33', s);
  if (r.status === 'refused') {
    if (r.reason === 'changed-since-review') {
      ctx.out(
        `${warn('apply refused')}: the staged changes are no longer the ones with that fingerprint (something wrote to the workspace after the review).\n`,
      );
      ctx.out(
        `Nothing was written. Look again with \`airlock diff ${session}\` and apply with its new fingerprint.\n`,
      );
    } else if (r.reason === 'conflicts') {
      ctx.out(
        `${warn('apply refused')}: the project changed after staging where the agent also changed it (${r.conflicts.length} conflict(s)).\n`,
      );
      for (const c of r.conflicts) ctx.out(`  conflict   ${c.path}  ${c.detail}\n`);
      ctx.out(
        `Nothing was written. See \`airlock diff ${session}\`, settle those paths in the project (or take the agent's version by hand), ` +
          `then run \`airlock apply ${session}\` again; or put the work on a branch: \`airlock export ${session} --branch NAME\`.\n`,
      );
    } else {
      ctx.out(
        `${warn('apply refused')}: ${r.protected.length} protected change(s) can make code run later on this machine.\n`,
      );
      for (const p of r.protected) ctx.out(`  protected  ${p.path}  [${p.category}] ${p.reason}\n`);
      ctx.out(
        `Nothing was written. Review them with \`airlock diff ${session}\`; if they are what you want, run \`airlock apply ${session} --allow-protected\`.\n`,
      );
    }
    for (const x of r.rejected) ctx.out(`  rejected   ${x.path}  ${x.reason} (never applied)\n`);
    return EXIT.failed;
  }
  const verb = r.dryRun ? 'Would apply' : 'Applied';
  ctx.out(
    `${verb}: ${r.written.length} written, ${r.deleted.length} deleted, ${r.modeChanged.length} mode change(s)` +
      `${r.alreadyApplied.length > 0 ? `, ${r.alreadyApplied.length} already in place` : ''}.\n`,
  );
  for (const x of r.rejected) ctx.out(`  rejected   ${x.path}  ${x.reason} (never applied)\n`);
  for (const x of r.skipped) ctx.out(`  skipped    ${x.path}  ${x.reason}\n`);
  for (const n of r.notes) ctx.out(`  note       ${n}\n`);
  return EXIT.ok;
}

function exportReport(ctx: Ctx, session: string, r: ExportResult): number {
  if (ctx.json) {
    printJson(ctx, r);
    return r.status === 'exported' ? EXIT.ok : EXIT.failed;
  }
  if (r.status === 'refused') {
    if (r.reason === 'nothing-to-export')
      ctx.out('export refused: the agent changed nothing that git would commit.\n');
    else if (r.reason === 'changed-since-review') {
      ctx.out(
        `export refused: the staged changes are no longer the ones with that fingerprint; look again with \`airlock diff ${session}\`.\n`,
      );
    } else {
      ctx.out(`export refused: ${r.protected.length} protected change(s) would be committed.\n`);
      for (const p of r.protected) ctx.out(`  protected  ${p.path}  [${p.category}] ${p.reason}\n`);
      ctx.out(
        `Review them with \`airlock diff ${session}\`; if they are what you want, add --allow-protected.\n`,
      );
    }
    for (const s of r.skipped) ctx.out(`  skipped    ${s.path}  ${s.reason}\n`);
    return EXIT.failed;
  }
  ctx.out(
    `Created branch ${r.branch} at ${r.commit.slice(0, 12)} (${r.files.length} file(s)) on ${r.base === null ? 'an unborn branch' : r.base.slice(0, 12)}; your work tree was not touched.\n`,
  );
  for (const s of r.skipped) ctx.out(`  skipped    ${s.path}  ${s.reason}\n`);
  return EXIT.ok;
}

/** Adds `diff`, `apply`, `discard` and `export` to the program. */
export function register(program: Command, deps: WorkspaceCommandDeps): void {
  program
    .command('diff')
    .description("show what the agent changed in a session's staged workspace (git-style)")
    .argument('<session>', 'session id or name')
    .option('--stat', 'a summary per file instead of the patch')
    .option('--json', 'print one JSON document')
    .action(async (session: string, opts: { stat?: boolean; json?: boolean }) => {
      const ctx = context(deps, opts.json === true);
      await run(ctx, async () => {
        const ws = await deps.resolveWorkspace(session);
        const d = await ws.diff({ patch: opts.stat !== true });
        if (ctx.json) printJson(ctx, diffJson(d, opts.stat !== true));
        else {
          const text = opts.stat === true ? d.stat : d.patch;
          ctx.out(ctx.color ? colorPatch(text) : text);
        }
        return EXIT.ok;
      });
    });

  program
    .command('apply')
    .description("write the agent's changes into the project (refuses on conflicts and protected files)")
    .argument('<session>', 'session id or name')
    .option(
      '--allow-protected',
      'also apply hooks, CI workflows, agent and IDE configs, shell rc files, package scripts',
    )
    .option('--dry-run', 'check and report, write nothing')
    .option(
      '--fingerprint <hex>',
      'apply only if the changes are exactly those of the diff that printed this fingerprint',
    )
    .option('--json', 'print one JSON document')
    .action(
      async (
        session: string,
        opts: { allowProtected?: boolean; dryRun?: boolean; fingerprint?: string; json?: boolean },
      ) => {
        const ctx = context(deps, opts.json === true);
        await run(ctx, async () => {
          const ws = await deps.resolveWorkspace(session);
          const r = await ws.apply({
            allowProtected: opts.allowProtected === true,
            dryRun: opts.dryRun === true,
            ...(opts.fingerprint === undefined ? {} : { expectFingerprint: opts.fingerprint }),
          });
          return applyReport(ctx, session, r);
        });
      },
    );

  program
    .command('discard')
    .description("delete a session's staged workspace; the project is not touched")
    .argument('<session>', 'session id or name')
    .option('--json', 'print one JSON document')
    .action(async (session: string, opts: { json?: boolean }) => {
      const ctx = context(deps, opts.json === true);
      await run(ctx, async () => {
        const ws = await deps.resolveWorkspace(session);
        await ws.discard();
        if (ctx.json) printJson(ctx, { sessionId: ws.sessionId, discarded: true });
        else
          ctx.out(
            `Discarded the staged workspace of session ${ws.sessionId}; ${ws.projectDir} was not changed.\n`,
          );
        return EXIT.ok;
      });
    });

  program
    .command('export')
    .description(
      "commit the agent's changes on a new branch of the project's repository (no hooks, work tree untouched)",
    )
    .argument('<session>', 'session id or name')
    .requiredOption('--branch <name>', 'the new branch')
    .option('--author <identity>', 'commit author as "Name <email>" (default: the agent)')
    .option('--message <text>', 'commit message')
    .option('--allow-protected', 'also commit hooks, CI workflows, agent and IDE configs, package scripts')
    .option(
      '--fingerprint <hex>',
      'export only if the changes are exactly those of the diff that printed this fingerprint',
    )
    .option('--json', 'print one JSON document')
    .action(
      async (
        session: string,
        opts: {
          branch: string;
          author?: string;
          message?: string;
          allowProtected?: boolean;
          fingerprint?: string;
          json?: boolean;
        },
      ) => {
        const ctx = context(deps, opts.json === true);
        await run(ctx, async () => {
          const author = opts.author === undefined ? undefined : parseAuthor(opts.author);
          const ws = await deps.resolveWorkspace(session);
          const r = await ws.exportBranch(opts.branch, {
            ...(author === undefined ? {} : { author }),
            ...(opts.message === undefined ? {} : { message: opts.message }),
            allowProtected: opts.allowProtected === true,
            ...(opts.fingerprint === undefined ? {} : { expectFingerprint: opts.fingerprint }),
          });
          return exportReport(ctx, session, r);
        });
      },
    );
}
