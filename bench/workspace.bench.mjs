/**
 * Workspace staging: how long `createStagedWorkspace` takes on a project of 50,000 files
 * (goal: <= 1 s), and what diff, apply, seal and discard cost after a typical session.
 * Uses the built library (dist/). `ctx.quick` uses 5,000 files and fewer runs.
 *
 * The project is generated here (deterministic sizes, 200 B to ~16 KB, 40 files per
 * directory). Timings are with the project in the page cache, as it is right after the
 * user worked on it; a cold cache adds the disk's metadata read time to the baseline walk.
 */
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import console from 'node:console';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

const TARGET_MS = 1000;

function makeProject(root, files) {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  let bytes = 0;
  let made = 0;
  for (let d = 0; made < files; d++) {
    const dir = join(root, `pkg${d % 50}`, `mod${Math.floor(d / 50)}`, 'lib');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 40 && made < files; i++, made++) {
      const size = Math.floor(200 + rnd() * rnd() * 16000);
      writeFileSync(join(dir, `f${i}.js`), Buffer.alloc(size, `line ${made} of file ${i}\n`));
      bytes += size;
    }
  }
  return bytes;
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v) => Math.round(v * 10) / 10;
  return { median: r(s[Math.floor(s.length / 2)]), min: r(s[0]), max: r(s[s.length - 1]), runs: s.length };
}

async function timed(fn) {
  const t = performance.now();
  const cpu = process.cpuUsage();
  const value = await fn();
  const used = process.cpuUsage(cpu);
  return { ms: performance.now() - t, cpuMs: (used.user + used.system) / 1000, value };
}

/** Runs the benchmark; returns plain figures with `target` and `met`. */
export async function run(ctx = {}) {
  let lib;
  try {
    lib = await import('../dist/workspace/index.js');
  } catch (err) {
    throw new Error(`build first (npx tsc -p tsconfig.build.json): ${err.message}`);
  }
  const { createStagedWorkspace } = lib;
  const { walkFlat, serializeFlat } = await import('../dist/workspace/manifest.js');
  const quick = ctx.quick === true;
  const files = quick ? 5_000 : 50_000;
  const runs = quick ? 3 : 5;
  const base = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-bench-ws-')));
  const project = join(base, 'project');
  const staging = join(base, 'staging');
  try {
    const bytes = makeProject(project, files);
    // The baseline walk and its serialization alone (the bulk of staging).
    const walk = [];
    for (let i = 0; i < runs; i++)
      walk.push((await timed(async () => serializeFlat(await walkFlat(project)))).ms);
    const create = [];
    const createCpu = [];
    const loadBefore = loadavg()[0];
    let strategy = '';
    let reason = '';
    for (let i = 0; i < runs; i++) {
      const {
        ms,
        cpuMs,
        value: ws,
      } = await timed(() =>
        createStagedWorkspace({ projectDir: project, stagingRoot: staging, sessionId: `b${i}` }),
      );
      create.push(ms);
      createCpu.push(cpuMs);
      strategy = ws.strategy;
      reason = ws.strategyReason;
      await ws.discard();
    }
    // A typical session on the last one: 20 edits, 10 new files, 5 deletions.
    const ws = await createStagedWorkspace({
      projectDir: project,
      stagingRoot: staging,
      sessionId: 'session',
    });
    for (let i = 0; i < 20; i++) writeFileSync(join(ws.mountDir, `pkg${i}/mod0/lib/f1.js`), `edited ${i}\n`);
    mkdirSync(join(ws.mountDir, 'new'), { recursive: true });
    for (let i = 0; i < 10; i++) writeFileSync(join(ws.mountDir, `new/n${i}.js`), `new ${i}\n`);
    for (let i = 0; i < 5; i++) rmSync(join(ws.mountDir, `pkg${i}/mod0/lib/f2.js`));
    const diffLive = await timed(() => ws.diff());
    const seal = await timed(() => ws.seal());
    const diffSealed = await timed(() => ws.diff());
    const apply = await timed(() => ws.apply());
    if (
      apply.value.status !== 'applied' ||
      apply.value.written.length !== 31 ||
      apply.value.deleted.length !== 5
    ) {
      throw new Error(`unexpected apply result: ${JSON.stringify(apply.value).slice(0, 300)}`);
    }
    const discard = await timed(() => ws.discard());

    // The fallback for hosts where overlayfs cannot be mounted, on a tenth of the project.
    const copyFiles = quick ? 500 : 5_000;
    const copyProject = join(base, 'copy-project');
    makeProject(copyProject, copyFiles);
    const copy = await timed(() =>
      createStagedWorkspace({
        projectDir: copyProject,
        stagingRoot: staging,
        sessionId: 'copy',
        strategy: 'copy',
      }),
    );
    const copyDiscard = await timed(() => copy.value.discard());

    // A whole session start (sandbox included) on the same project: staged (the default)
    // beside direct (the project bound read-write), alternating so load hits both alike.
    let sessionLib;
    try {
      sessionLib = await import('../dist/index.js');
    } catch (err) {
      throw new Error(`build first (npm run build): ${err.message}`);
    }
    const stateDir = join(base, 'state');
    const sessionRuns = { staged: [], direct: [] };
    const sessionCpu = { staged: [], direct: [] };
    let sessionStrategy = '';
    // One warm-up of each (the first session of a process also sweeps the state directory).
    for (let i = -1; i < runs; i++) {
      for (const mode of ['staged', 'direct']) {
        const { ms, cpuMs, value: s } = await timed(() =>
          sessionLib.createSession({ workspace: project, stateDir, workspaceMode: mode, audit: false }),
        );
        if (i >= 0) {
          sessionRuns[mode].push(ms);
          sessionCpu[mode].push(cpuMs);
        }
        if (s.staged !== null) sessionStrategy = s.staged.strategy;
        await s.destroy();
        if (s.staged !== null) await s.staged.discard();
      }
    }
    const sessionStaged = stats(sessionRuns.staged);
    const sessionDirect = stats(sessionRuns.direct);

    const median = stats(create).median;
    return {
      sessionCreate: {
        files,
        strategy: sessionStrategy,
        stagedMs: sessionStaged,
        directMs: sessionDirect,
        // This process's CPU time (the walk); bwrap, mount and git run in child processes.
        stagedCpuMs: stats(sessionCpu.staged),
        directCpuMs: stats(sessionCpu.direct),
        loadAverage: Math.round(loadavg()[0] * 10) / 10,
        // What staging adds to a session start, medians.
        stagingCostMs: Math.round((sessionStaged.median - sessionDirect.median) * 10) / 10,
        staged: { value: sessionStaged.median, unit: 'ms', target: TARGET_MS, met: sessionStaged.median <= TARGET_MS },
        target: `createSession (staged, sandbox ready) on a ${files.toLocaleString('en')}-file project <= ${TARGET_MS} ms (median of ${runs})`,
      },
      files,
      megabytes: Math.round(bytes / 1e5) / 10,
      strategy,
      strategyReason: reason,
      createMs: stats(create),
      walkMs: stats(walk),
      // This process's CPU time (the walk, JSON); mount and git run in child processes.
      createCpuMs: stats(createCpu),
      // 1-minute load average before and after: the machine is shared; high load inflates wall times.
      loadAverage: [Math.round(loadBefore * 10) / 10, Math.round(loadavg()[0] * 10) / 10],
      cores: (await import('node:os')).cpus().length,
      diffActiveMs: Math.round(diffLive.ms),
      sealMs: Math.round(seal.ms),
      diffSealedMs: Math.round(diffSealed.ms),
      applyMs: Math.round(apply.ms),
      discardMs: Math.round(discard.ms),
      changes: diffSealed.value.totals.files,
      copyFallback: {
        files: copyFiles,
        createMs: Math.round(copy.ms),
        discardMs: Math.round(copyDiscard.ms),
      },
      create: { value: median, unit: 'ms', target: TARGET_MS, met: median <= TARGET_MS },
      target: `createStagedWorkspace on a ${files.toLocaleString('en')}-file project <= ${TARGET_MS} ms (median of ${runs})`,
      met: median <= TARGET_MS,
    };
  } finally {
    // A failed run may leave overlays mounted; unmount them before removing anything.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${base}/`));
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(base, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run({ quick: process.env.BENCH_QUICK === '1' }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exitCode = 1;
    },
  );
}
