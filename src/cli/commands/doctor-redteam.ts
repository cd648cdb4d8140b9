/**
 * `airlock doctor --attack` and `--exposure`: kept apart from doctor.ts so that the plain
 * doctor never loads the red-team module.
 */
import type { BackendName } from '../../sandbox/index.js';
import { resolveStateDir } from '../../session/index.js';
import { EXIT, printJson, reportError, usageError } from '../output.js';

const BACKENDS: readonly BackendName[] = ['bwrap', 'gvisor'];

/** Runs the attack suite or the exposure report; returns the exit status. */
export async function runDoctorRedteam(opts: {
  json?: boolean;
  attack?: boolean;
  exposure?: boolean;
  backend?: string;
  policy?: string;
  template?: string;
}): Promise<number> {
  const json = opts.json === true;
  try {
    if (opts.attack === true && opts.exposure === true) {
      throw usageError('--attack and --exposure are separate reports', 'Run `airlock doctor --attack` and `airlock doctor --exposure` one after the other.');
    }
    const backend = (opts.backend ?? 'bwrap') as BackendName;
    if (!BACKENDS.includes(backend)) {
      throw usageError(`--backend ${JSON.stringify(opts.backend)} is not a backend the red-team suite can run`, `Use one of: ${BACKENDS.join(', ')}.`);
    }
    const rt = await import('../../redteam/index.js');
    if (opts.exposure === true) {
      const report = await rt.buildExposureReport({
        backend,
        stateDir: resolveStateDir(),
        ...(opts.policy === undefined ? {} : { policyPath: opts.policy }),
        ...(opts.template === undefined ? {} : { template: opts.template }),
      });
      if (json) printJson(report);
      else process.stdout.write(rt.formatExposureReport(report));
      return EXIT.ok;
    }
    if (opts.policy !== undefined || opts.template !== undefined) {
      throw usageError('--policy and --template go with --exposure', 'The attack suite uses its own policy (the default preset) and the host template.');
    }
    const tty = process.stderr.isTTY && !json;
    const report = await rt.runAttackSuite({
      backend,
      ...(tty ? { onResult: (r) => { process.stderr.write(`\r${r.verdict === 'contained' ? '.' : r.verdict[0]?.toUpperCase() ?? '?'} ${r.id.padEnd(40)}`); } } : {}),
    });
    if (tty) process.stderr.write('\r'.padEnd(50) + '\r');
    if (json) printJson(report);
    else process.stdout.write(rt.formatAttackReport(report));
    return report.escaped === 0 && report.errors === 0 ? EXIT.ok : EXIT.failed;
  } catch (err) {
    return reportError(err, json);
  }
}
