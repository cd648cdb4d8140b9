import type { Command } from 'commander';
import type { BackendName } from '../../sandbox/index.js';
import { createSession, resolveStateDir } from '../../session/index.js';
import { loadPolicy } from '../../policy/index.js';
import { addSandboxOptions, envFrom, limitsFrom, policyPathFrom, type SandboxCliOptions } from '../limits-options.js';
import { usageError } from '../output.js';
import { attach, exitStatusOf, terminalSize, wantsTty } from '../terminal.js';

/** `airlock run [options] -- CMD [ARGS…]`: an ephemeral session for one command. */
export function register(program: Command, setExit: (code: number) => void): void {
  addSandboxOptions(
    program
      .command('run')
      .description('run a command (or an interactive shell) in a fresh sandbox that is destroyed afterwards')
      .argument('[command...]', 'the command and its arguments (after --)')
      .passThroughOptions(),
  ).action(async (command: string[], opts: SandboxCliOptions) => {
    if (command.length === 0) {
      throw usageError('no command given', 'Write the command after --, e.g. `airlock run -- bash` or `airlock run -- npm test`.');
    }
    const policyPath = policyPathFrom(opts);
    const session = await createSession({
      ...(policyPath === undefined ? {} : { policy: loadPolicy({ path: policyPath }) }),
      workspace: opts.workspace ?? '.',
      template: opts.template ?? 'host',
      backend: (opts.backend ?? 'bwrap') as BackendName,
      limits: limitsFrom(opts),
      env: envFrom(opts),
      stateDir: resolveStateDir(),
      workspaceReadOnly: opts.readOnly ?? false,
    });
    const tty = wantsTty();
    try {
      const term = process.env['TERM'];
      const proc = session.spawn(command, tty ? { tty: { ...terminalSize(), ...(term === undefined ? {} : { term }) } } : {});
      proc.stdout.pipe(process.stdout, { end: false });
      proc.stderr.pipe(process.stderr, { end: false });
      const detach = attach(
        { write: (d) => { proc.write(d); }, end: () => { proc.end(); }, signal: (s) => { proc.kill(s); }, resize: (c, r) => { proc.resize(c, r); } },
        tty,
      );
      const ended = session.ended.then((reason) => {
        throw reason;
      });
      ended.catch(() => undefined);
      let result;
      try {
        result = await Promise.race([proc.wait(), ended]);
      } finally {
        detach();
      }
      if (result.startError !== undefined) {
        process.stderr.write(`airlock: E_EXEC_FAILED: ${command[0] ?? ''}: ${result.startError.message}\nhint: Check the command name; the sandbox's PATH is /usr/local/bin:/usr/bin:/bin.\n`);
      } else if (result.timedOut) {
        process.stderr.write(`airlock: E_EXEC_TIMEOUT: the command ran past its time limit and was killed\n`);
      }
      setExit(exitStatusOf(result));
    } finally {
      await session.destroy();
    }
  });
}
