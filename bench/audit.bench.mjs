// Audit log throughput: durable, chained, redacted appends per second with group commit,
// and verification per second. The index is filled lazily by readers, so it is not in the
// append figure; `indexCatchUp` measures that cost separately.
// Uses the built library (dist/) on a real file system:
// fdatasync on tmpfs would be free and the figure meaningless, so the directory's file
// system type is reported beside the figures.
import { execFileSync } from 'node:child_process';
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuditStore } from '../dist/audit/index.js';
import { createRedactor } from '../dist/redact/index.js';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setImmediate } from 'node:timers';
import { summary } from './stats.mjs';

function cpuSeconds(usage) {
  return (usage.user + usage.system) / 1e6;
}

/** SHA-256 throughput right now: on a shared machine, tells how much CPU this run had. */
function sha256MBps() {
  const buf = Buffer.alloc(1 << 20, 7);
  const t0 = performance.now();
  for (let i = 0; i < 64; i++) createHash('sha256').update(buf).digest();
  return Math.round(64 / ((performance.now() - t0) / 1000));
}

function fsType(dir) {
  try {
    return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** A realistic exec.started event: a command line with a token the redactor must catch. */
function event(sessionId, i) {
  return {
    type: 'exec.started',
    sessionId,
    time: new Date(1_735_689_600_000 + i).toISOString(),
    data: {
      execId: `e${i}`,
      argv: [
        'npm',
        'run',
        'test',
        '--',
        `--shard=${i % 16}/16`,
        '--reporter=dot',
        `--token=${i % 100 === 0 ? 'ghp_' + 'a'.repeat(36) : 'none'}`,
      ],
      cwd: '/workspace/packages/core',
    },
  };
}

export async function run(ctx) {
  const total = ctx.quick ? 40_000 : 200_000;
  const producers = 256;
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-audit-'));
  const out = {
    fileSystem: fsType(dir),
    events: total,
    producers,
    loadAverage: loadavg()[0],
    sha256MBps: sha256MBps(),
  };
  const store = openAuditStore({ stateDir: dir });
  try {
    const redactor = createRedactor({ secrets: ['bench-secret-value-1', 'another-known-secret'] });

    // Latency of one lone producer awaiting each append: one fdatasync per event.
    const lone = store.openLog('bench-serial', { redactor });
    const lat = [];
    for (let i = 0; i < (ctx.quick ? 100 : 300); i++) {
      const t0 = performance.now();
      await lone.append(event('bench-serial', i));
      lat.push(performance.now() - t0);
    }
    await lone.close();
    out.serialAppendLatency = {
      ...summary(lat),
      unit: 'ms',
      note: 'one producer, each append awaited: the cost of one fdatasync',
    };

    // Throughput. Group commit shares one fdatasync among every append queued while the
    // previous one ran, so the rate depends on how many appends are in flight:
    // - capacity: every append issued at once (an open loop), each promise awaited;
    // - closed loop: `producers` callers (execs, proxy requests, tool calls of many
    //   agents), each awaiting its own acknowledgement before it appends again.
    const capacityLog = store.openLog('bench-append', { redactor });
    const c0 = performance.now();
    const cpu0 = process.cpuUsage();
    const acks = [];
    for (let i = 0; i < total; i++) {
      acks.push(capacityLog.append(event('bench-append', i)));
      // Events arrive over time, not in one synchronous burst: yield now and then so that
      // writing and fsyncing one batch overlaps preparing the next.
      if (i % 512 === 511) await new Promise(setImmediate);
    }
    await Promise.all(acks);
    const capacityMs = performance.now() - c0;
    const capacityCpu = cpuSeconds(process.cpuUsage(cpu0));
    await capacityLog.close();
    const capacityRate = Math.round(total / (capacityMs / 1000));
    out.durableAppends = {
      value: capacityRate,
      unit: 'ev/s',
      target: '>= 50000 ev/s',
      met: capacityRate >= 50_000,
      ms: Math.round(capacityMs),
      perCpuSecond: Math.round(total / capacityCpu),
      note: 'appends issued without waiting (yielding every 512), all acks awaited; each redacted, chained, written and fdatasync-ed before its ack; checkpoint every 1000',
    };

    const closedLog = store.openLog('bench-closed', { redactor });
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: producers }, async () => {
        while (next < total) {
          const i = next++;
          await closedLog.append(event('bench-closed', i));
        }
      }),
    );
    const closedMs = performance.now() - t0;
    await closedLog.close();
    out.durableAppendsClosedLoop = {
      value: Math.round(total / (closedMs / 1000)),
      unit: 'ev/s',
      ms: Math.round(closedMs),
      note: `${producers} producers, each awaiting its ack before the next append`,
    };

    // Verification of that session: parse, re-canonicalize, re-hash, check checkpoints and the index.
    const runs = [];
    const cpuRuns = [];
    for (let r = 0; r < (ctx.quick ? 1 : 3); r++) {
      const t1 = performance.now();
      const cpu1 = process.cpuUsage();
      const report = store.verify('bench-append');
      runs.push(performance.now() - t1);
      cpuRuns.push(cpuSeconds(process.cpuUsage(cpu1)));
      if (!report.ok || report.records !== total)
        throw new Error(`verification failed: ${JSON.stringify(report.problems.slice(0, 3))}`);
    }
    const verifyMs = Math.min(...runs);
    const verifyRate = Math.round(total / (verifyMs / 1000));
    out.verification = {
      value: verifyRate,
      unit: 'ev/s',
      target: '>= 200000 ev/s',
      met: verifyRate >= 200_000,
      ms: Math.round(verifyMs),
      perCpuSecond: Math.round(total / Math.min(...cpuRuns)),
      note: 'best of runs; every record re-hashed, every checkpoint signature checked',
    };
    // What the first reader (ls, query, tail, the dashboard) pays to index those records.
    const i0 = performance.now();
    store.listSessions();
    const indexMs = performance.now() - i0;
    out.indexCatchUp = {
      value: Math.round((3 * total) / (indexMs / 1000)),
      unit: 'ev/s',
      ms: Math.round(indexMs),
      note: 'records indexed per second by the first reader',
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
