// The red-team suite's run time per backend (airlock doctor --attack), with the built
// library (dist/). Target (issue 9): the whole suite within a couple of minutes on 2 cores.
// BENCH_QUICK=1 runs bwrap only.
import { spawnSync } from 'node:child_process';
import { runAttackSuite } from '../dist/redteam/index.js';

export async function run(ctx) {
  const out = {};
  const backends = ['bwrap'];
  if (!ctx.quick && spawnSync('runsc', ['--version'], { stdio: 'ignore' }).status === 0) backends.push('gvisor');
  for (const backend of backends) {
    const r = await runAttackSuite({ backend });
    out[backend] = {
      cases: r.total,
      contained: r.contained,
      escaped: r.escaped,
      errors: r.errors,
      gaps: r.gaps,
      seconds: { value: Math.round(r.durationMs / 100) / 10, unit: 's', target: 120, met: r.durationMs <= 120_000 },
    };
  }
  return out;
}
