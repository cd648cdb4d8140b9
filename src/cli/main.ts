#!/usr/bin/env node
/**
 * The `airlock` command. This file only parses arguments, calls the library and maps
 * errors to exit statuses (0 ok, 1 the checked thing failed, 2 usage or environment,
 * or the wrapped command's own status).
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { register as registerApprovals } from './commands/approvals.js';
import { register as registerAudit } from './commands/audit.js';
import { register as registerDoctor } from './commands/doctor.js';
import { register as registerMcp } from './commands/mcp.js';
import { register as registerPolicy } from './commands/policy.js';
import { register as registerRun } from './commands/run.js';
import { register as registerWorkspace } from './commands/workspace.js';
import { openSessionWorkspace, resolveStateDir } from '../session/index.js';
import { register as registerSession } from './commands/session.js';
import { EXIT, reportError } from './output.js';

const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8')) as {
  version: string;
};

async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.ok;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  const program = new Command();
  program
    .name('airlock')
    .description('Run coding agents in a sandbox they cannot escape.')
    .version(pkg.version)
    .enablePositionalOptions()
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // Commander's own messages become coded errors below; help and version go to stdout.
      writeErr: () => undefined,
    });
  registerRun(program, setExit);
  registerSession(program, setExit);
  registerDoctor(program, setExit);
  registerAudit(program, setExit);
  registerApprovals(program, setExit);
  registerPolicy(program, setExit);
  registerMcp(program, pkg.version);
  registerWorkspace(program, {
    setExit,
    // A named session by name or id, or the id an ephemeral `airlock run` printed.
    resolveWorkspace: (nameOrId) => Promise.resolve(openSessionWorkspace(resolveStateDir(), nameOrId)),
  });

  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return EXIT.ok;
      }
      const message = err.message.replace(/^error: /, '');
      process.stderr.write(`airlock: E_USAGE: ${message}\nhint: Run \`airlock --help\` or \`airlock <command> --help\` for the options.\n`);
      return EXIT.usage;
    }
    return reportError(err, json);
  }
  return exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Sessions are destroyed by now; nothing else should keep us alive (stdin listeners).
    setImmediate(() => process.exit(code));
  },
  (err: unknown) => {
    process.exitCode = reportError(err, false);
  },
);
