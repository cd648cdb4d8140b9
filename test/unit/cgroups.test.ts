import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/sandbox/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => { cleanupTemp(); });

function fakeProc(cgroup: string, mountinfo: string): string {
  const d = tempDir('proc');
  writeFileSync(join(d, 'cgroup'), cgroup);
  writeFileSync(join(d, 'mountinfo'), mountinfo);
  return d;
}

describe('cgroup detection', () => {
  it('finds v1 controllers on a hybrid host, under our own group', () => {
    const root = tempDir('cg');
    mkdirSync(join(root, 'memory', 'job', 'x'), { recursive: true });
    mkdirSync(join(root, 'pids'), { recursive: true });
    const proc = fakeProc(
      '8:pids:/\n4:memory:/job/x\n1:cpu,cpuacct:/gone\n0::/\n',
      `30 25 0:26 / ${root}/memory rw - cgroup cgroup rw,memory\n31 25 0:27 / ${root}/pids rw - cgroup cgroup rw,pids\n32 25 0:28 / ${root}/unified rw - cgroup2 cgroup2 rw\n`,
    );
    const info = detectCgroups(proc);
    expect(info.sites.memory).toEqual({ controller: 'memory', version: 1, parent: join(root, 'memory', 'job', 'x') });
    expect(info.sites.pids?.parent).toBe(join(root, 'pids'));
    expect(info.sites.cpu).toBeUndefined();
    expect(info.problems.cpu).toMatch(/neither delegated/);
  });

  it('prefers cgroup v2 where the controller is delegated', () => {
    const root = tempDir('cg2');
    mkdirSync(join(root, 'user.slice', 'me'), { recursive: true });
    writeFileSync(join(root, 'user.slice', 'me', 'cgroup.controllers'), 'cpu memory pids\n');
    const proc = fakeProc('0::/user.slice/me\n', `40 1 0:30 / ${root} rw - cgroup2 cgroup2 rw\n`);
    const info = detectCgroups(proc);
    for (const c of ['memory', 'pids', 'cpu'] as const) {
      expect(info.sites[c]).toEqual({ controller: c, version: 2, parent: join(root, 'user.slice', 'me') });
    }
  });

  it('reports no cgroups at all', () => {
    const info = detectCgroups(fakeProc('', ''));
    expect(info.sites).toEqual({});
    expect(info.problems.memory).toMatch(/no cgroup filesystem/);
  });
});

describe('stale group sweep', () => {
  it('sandbox.cleanup: removes only empty groups whose owner process is gone', async () => {
    const { sweepStaleCgroups } = await import('../../src/sandbox/index.js');
    const parent = tempDir('cgsweep');
    // A pid that is certainly dead: a child we started and reaped.
    const { spawnSync } = await import('node:child_process');
    const dead = spawnSync('true').pid ?? 999_999;
    for (const name of [`airlock-${process.pid}-s0123456789ab`, `airlock-${dead}-s0123456789ab`, 'airlock-host', 'other']) {
      mkdirSync(join(parent, name));
    }
    const removed = sweepStaleCgroups({ sites: { memory: { controller: 'memory', version: 1, parent } }, problems: {} });
    expect(removed).toBe(1);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(parent).sort()).toEqual([`airlock-${process.pid}-s0123456789ab`, 'airlock-host', 'other']);
  });
});
