// Session create and exec overhead: airlock (bwrap) beside a bare spawn and beside
// @anthropic-ai/sandbox-runtime (library wrapWithSandbox + spawn, and its srt CLI).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSession } from '../dist/index.js';
import { summary } from './stats.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function runProcess(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    c.stdout.resume();
    c.stderr.resume();
    c.on('error', reject);
    c.on('close', (code) => resolve({ ms: performance.now() - t0, code }));
  });
}


export async function run(ctx) {
  const n = ctx.quick ? 10 : 40;
  const execN = ctx.quick ? 50 : 300;
  const stateDir = mkdtempSync(join(tmpdir(), 'airlock-bench-state-'));
  const ws = mkdtempSync(join(tmpdir(), 'airlock-bench-ws-'));
  const out = {};
  try {
    // Warm the page cache and the code paths once.
    await (await createSession({ workspace: ws, stateDir, workspaceMode: 'direct' })).destroy();

    const create = [];
    const destroy = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      // The sandbox alone: the project bound directly (staging is measured beside it).
      const s = await createSession({ workspace: ws, stateDir, workspaceMode: 'direct' });
      create.push(performance.now() - t0);
      const t1 = performance.now();
      await s.destroy();
      destroy.push(performance.now() - t1);
    }
    const createSum = summary(create);
    out.sessionCreate = {
      ...createSum,
      value: createSum.p50,
      unit: 'ms',
      target: 'p50 <= 40 ms',
      met: createSum.p50 <= 40,
      note: 'createSession() until the supervisor is ready: bwrap start, namespaces, cgroups, seccomp',
    };
    out.sessionDestroy = summary(destroy);

    // The default since staging landed: the same, with /workspace a staged copy (an empty project).
    const staged = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const st = await createSession({ workspace: ws, stateDir });
      staged.push(performance.now() - t0);
      await st.destroy();
      await st.staged?.discard();
    }
    out.sessionCreateStaged = { ...summary(staged), unit: 'ms', note: 'createSession() with the default staged workspace (empty project); the 50k-file figure is in workspace.sessionCreate' };

    const s = await createSession({ workspace: ws, stateDir });
    const exec = [];
    for (let i = 0; i < 20; i++) await s.exec(['true']);
    for (let i = 0; i < execN; i++) {
      const t0 = performance.now();
      await s.exec(['true']);
      exec.push(performance.now() - t0);
    }
    await s.destroy();
    const bare = [];
    for (let i = 0; i < 20; i++) await runProcess('true', []);
    for (let i = 0; i < execN; i++) bare.push((await runProcess('true', [])).ms);
    const e = summary(exec);
    const b = summary(bare);
    out.exec = {
      airlock: e,
      bareSpawn: b,
      ratioP50: { value: Math.round((e.p50 / b.p50) * 100) / 100, unit: 'x', target: '<= 2x bare spawn', met: e.p50 <= 2 * b.p50 },
      ratioP95: Math.round((e.p95 / b.p95) * 100) / 100,
    };

    // @anthropic-ai/sandbox-runtime, same machine, same run.
    try {
      const { SandboxManager } = await import('@anthropic-ai/sandbox-runtime');
      const deps = SandboxManager.checkDependencies();
      if (deps.errors.length > 0) throw new Error(deps.errors.join(', '));
      await SandboxManager.initialize({
        network: { allowedDomains: [], deniedDomains: [] },
        filesystem: { denyRead: [], allowWrite: [ws], denyWrite: [] },
      });
      const wrapped = [];
      for (let i = 0; i < 5; i++) await runProcess('/bin/sh', ['-c', await SandboxManager.wrapWithSandbox('true')], { cwd: ws });
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const cmd = await SandboxManager.wrapWithSandbox('true');
        const r = await runProcess('/bin/sh', ['-c', cmd], { cwd: ws });
        if (r.code !== 0) throw new Error(`srt sandboxed true exited ${r.code}`);
        wrapped.push(performance.now() - t0);
      }
      await SandboxManager.reset();
      out.sandboxRuntime = {
        library: { ...summary(wrapped), note: 'wrapWithSandbox + spawn per command: a new bwrap for every exec' },
      };
    } catch (err) {
      out.sandboxRuntime = { library: { skipped: String(err.message ?? err) } };
    }
    try {
      const srt = join(root, 'node_modules', '@anthropic-ai', 'sandbox-runtime', 'dist', 'cli.js');
      const cli = [];
      const ours = [];
      const airlockCli = join(root, 'dist', 'cli', 'main.js');
      const env = { PATH: process.env.PATH, HOME: stateDir, AIRLOCK_HOME: stateDir };
      for (let i = 0; i < Math.min(n, 15); i++) {
        const r = await runProcess(process.execPath, [srt, 'true'], { cwd: ws, env });
        if (r.code !== 0) throw new Error(`srt CLI exited ${r.code}`);
        cli.push(r.ms);
        const a = await runProcess(process.execPath, [airlockCli, 'run', '--', 'true'], { cwd: ws, env });
        if (a.code !== 0) throw new Error(`airlock run exited ${a.code}`);
        ours.push(a.ms);
      }
      out.cli = { airlockRun: summary(ours), srt: summary(cli), note: 'whole CLI process: node start, sandbox start, `true`, teardown' };
    } catch (err) {
      out.cli = { skipped: String(err.message ?? err) };
    }
  } finally {
    rmSync(ws, { recursive: true, force: true });
    rmSync(stateDir, { recursive: true, force: true });
  }
  return out;
}
