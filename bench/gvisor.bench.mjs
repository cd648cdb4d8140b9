// gVisor beside bwrap, in the same run on the same machine: cold session create (createSession
// until the supervisor is ready: a fresh runsc, gofer and Sentry every time, nothing pooled)
// and exec overhead (`true` through the supervisor of a live session).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { join } from 'node:path';
import { createSession } from '../dist/index.js';
import { checkGvisor } from '../dist/sandbox/gvisor.js';
import { findExecutable } from '../dist/sandbox/common.js';
import { supervisorPath } from '../dist/sandbox/index.js';
import { summary } from './stats.mjs';

async function measure(backend, ws, stateDir, n, execN) {
  // Warm the page cache and the process's one-off probes (runsc's platform list) once.
  await (await createSession({ workspace: ws, stateDir, backend })).destroy();
  const create = [];
  const destroy = [];
  let layers;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const s = await createSession({ workspace: ws, stateDir, backend });
    create.push(performance.now() - t0);
    layers ??= s.layers;
    const t1 = performance.now();
    await s.destroy();
    destroy.push(performance.now() - t1);
  }
  const s = await createSession({ workspace: ws, stateDir, backend });
  const exec = [];
  try {
    for (let i = 0; i < 10; i++) await s.exec(['true']);
    for (let i = 0; i < execN; i++) {
      const t0 = performance.now();
      const r = await s.exec(['true']);
      if (r.exitCode !== 0) throw new Error(`${backend}: true exited ${r.exitCode}`);
      exec.push(performance.now() - t0);
    }
  } finally {
    await s.destroy();
  }
  return { create: summary(create), destroy: summary(destroy), exec: summary(exec), layers };
}

export async function run(ctx) {
  const n = ctx.quick ? 8 : 30;
  const execN = ctx.quick ? 30 : 200;
  const runsc = process.env.AIRLOCK_RUNSC || findExecutable('runsc');
  const failed = checkGvisor({ runsc, supervisor: supervisorPath(), platformOverride: process.env.AIRLOCK_GVISOR_PLATFORM || undefined, probe: false }).filter(
    (c) => !c.ok && c.name !== 'gvisor compat',
  );
  if (failed.length > 0) return { skipped: failed.map((c) => `${c.name}: ${c.detail}`).join('; ') };

  const stateDir = mkdtempSync(join(tmpdir(), 'airlock-bench-gvisor-state-'));
  const ws = mkdtempSync(join(tmpdir(), 'airlock-bench-gvisor-ws-'));
  try {
    const loadBefore = loadavg()[0];
    // Interleaved per backend would mix their page-cache effects; one after the other, bwrap
    // first, is simpler to read and each warms itself up.
    const bwrap = await measure('bwrap', ws, stateDir, n, execN);
    const gvisor = await measure('gvisor', ws, stateDir, n, execN);
    const platform = gvisor.layers.namespaces.find((x) => x.startsWith('platform='))?.slice('platform='.length);
    return {
      machine: { loadavg1Before: Math.round(loadBefore * 100) / 100, loadavg1After: Math.round(loadavg()[0] * 100) / 100 },
      gvisor: {
        platform,
        sessionCreate: {
          ...gvisor.create,
          value: gvisor.create.p50,
          unit: 'ms',
          target: 'p50 <= 300 ms',
          met: gvisor.create.p50 <= 300,
          note: 'createSession() until the supervisor is ready: runsc run, gofer, Sentry boot, mounts, supervisor; host template',
        },
        sessionDestroy: gvisor.destroy,
        exec: gvisor.exec,
      },
      bwrap: { sessionCreate: bwrap.create, sessionDestroy: bwrap.destroy, exec: bwrap.exec },
      ratio: {
        createP50: Math.round((gvisor.create.p50 / bwrap.create.p50) * 10) / 10,
        execP50: Math.round((gvisor.exec.p50 / bwrap.exec.p50) * 10) / 10,
      },
    };
  } finally {
    rmSync(ws, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
}
