import type { Command } from 'commander';
import { diagnose } from '../../sandbox/index.js';
import { resolveStateDir } from '../../session/index.js';
import { EXIT, printJson } from '../output.js';

/** `airlock doctor [--json] [--attack [--backend B]] [--exposure [--policy F] [--template T]]`. */
export function register(program: Command, setExit: (code: number) => void): void {
  program
    .command('doctor')
    .description('check that this machine can run sandboxes, and say what to fix')
    .option('--json', 'print JSON')
    .option('--attack', 'run the red-team suite against a live sandbox; exit 1 on any escape or error')
    .option('--exposure', 'report what a session can reach: paths, environment, hosts, credentials, limits, layers')
    .option('--backend <name>', 'backend for --attack and --exposure (bwrap, gvisor)')
    .option('--policy <file>', 'policy file for --exposure (default: the default preset)')
    .option('--template <name>', 'template for --exposure (default: host)')
    .action(async (opts: { json?: boolean; attack?: boolean; exposure?: boolean; backend?: string; policy?: string; template?: string }) => {
      if (opts.attack === true || opts.exposure === true) {
        // Loaded only when asked for: plain `airlock doctor` never reads the red-team module.
        const { runDoctorRedteam } = await import('./doctor-redteam.js');
        setExit(await runDoctorRedteam(opts));
        return;
      }
      const report = await diagnose(resolveStateDir());
      if (opts.json === true) printJson(report);
      else {
        for (const c of report.checks) {
          process.stdout.write(`${!c.ok ? 'FAIL' : c.warn === true ? 'warn' : 'ok  '}  ${c.name.padEnd(16)} ${c.detail}\n`);
          if ((!c.ok || c.warn === true) && c.fix !== undefined) process.stdout.write(`      ${''.padEnd(16)} fix: ${c.fix}\n`);
        }
        process.stdout.write('\nlimits in force:\n');
        for (const [k, v] of Object.entries(report.limits)) process.stdout.write(`  ${k.padEnd(10)} ${v}\n`);
        process.stdout.write(`\ntemplates: ${report.templates.join(', ')}\n`);
        process.stdout.write(report.ok ? '\nthe default backend (bwrap) can run here\n' : '\nthe default backend cannot run here; fix the FAIL lines above\n');
      }
      setExit(report.ok ? EXIT.ok : EXIT.failed);
    });
}
