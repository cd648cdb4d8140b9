/**
 * Resource limits on real sandboxes, for every backend: a fork bomb, a memory hog, a full
 * /tmp, a file past the size limit, and limits that cannot be met failing closed.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '../../../src/index.js';
import { cleanupTemp, tempDir } from '../../helpers/index.js';
import { TARGETS, title } from './backends.js';

afterAll(() => {
  cleanupTemp();
});

for (const target of TARGETS) {
  const backend = target.name;
  const gvisor = backend === 'gvisor';

  describe.skipIf(target.skip !== undefined)(title(target), () => {
    const stateDir = tempDir('state');

    it('sandbox.pids-limit: a fork bomb is stopped and the session survives', async () => {
      const s = await createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { pids: 64 } });
      try {
        const bomb = [
          'import os, time',
          'n = 0',
          'while True:',
          '    try:',
          '        pid = os.fork()',
          '    except OSError as e:',
          '        print("blocked", n, e.errno, flush=True)',
          '        break',
          '    if pid == 0:',
          '        time.sleep(20)',
          '        os._exit(0)',
          '    n += 1',
        ].join('\n');
        // Under gVisor the limit is the Sentry's RLIMIT_NPROC over the whole sandbox (see
        // gvisor.ts); it answers fork() with EAGAIN just like the pids cgroup does under bwrap.
        const r = await s.exec(['/usr/bin/python3', '-c', bomb], { timeoutMs: 40_000 });
        const m = /^blocked (\d+) (\d+)$/m.exec(r.stdout);
        expect(m, r.stdout + r.stderr).not.toBeNull();
        expect(Number(m?.[1])).toBeLessThan(64);
        expect(m?.[2]).toBe('11'); // EAGAIN
        // The shell classic too, bounded by the exec timeout.
        const classic = await s.exec(['/bin/bash', '-c', ':(){ :|:& };:'], { timeoutMs: 2000 });
        expect(classic.timedOut || classic.exitCode !== null).toBe(true);
        // Kill the sleepers, then the session still works.
        await s.exec(['/bin/sh', '-c', 'pkill -KILL -f "time.sleep" ; pkill -KILL bash; true'], { timeoutMs: 10_000 }).catch(() => undefined);
        await new Promise((r2) => setTimeout(r2, 300));
        const ok = await s.exec(['echo', 'alive'], { timeoutMs: 20_000 });
        expect(ok.stdout).toBe('alive\n');
      } finally {
        await s.destroy();
      }
    });

    it('sandbox.memory-limit: a memory hog is killed and the session survives', async () => {
      const s = await createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { memory: '64m' } });
      try {
        const r = await s.exec(['/usr/bin/python3', '-c', 'x = bytearray(512 * 1024 * 1024); x[::4096] = b"y" * (len(x) // 4096); print("survived")'], {
          timeoutMs: 30_000,
        });
        expect(r.stdout).not.toContain('survived');
        expect(r.signal === 'SIGKILL' || r.exitCode !== 0).toBe(true);
        const peak = s.memoryPeak();
        expect(peak).toBeDefined();
        expect(peak ?? Infinity).toBeLessThanOrEqual(64 * 1024 * 1024 + 1024 * 1024);
        if (gvisor) {
          // gVisor has no OOM killer of its own: the commands' memory is the Sentry's memory,
          // so the host's memory cgroup, which holds the whole sandbox, can only kill the
          // Sentry (or a platform stub, which the Sentry cannot survive either). The hog is
          // stopped and the host is safe, but the session ends, and says why. Documented in
          // docs/gvisor.md; bwrap keeps its stricter property below.
          const reason = await s.ended;
          expect(reason.message).toMatch(/memory limit/);
          await expect(s.exec(['echo', 'alive'])).rejects.toThrow(/memory limit/);
          return;
        }
        const ok = await s.exec(['echo', 'alive']);
        expect(ok.stdout).toBe('alive\n');
      } finally {
        await s.destroy();
      }
    });

    it('sandbox.tmp-limited: /tmp fills only to its size', async () => {
      const s = await createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { tmpSize: '8m' } });
      try {
        const r = await s.exec(['/bin/sh', '-c', 'dd if=/dev/zero of=/tmp/fill bs=1M count=32 2>&1; echo "status=$?"; du -k /tmp/fill | cut -f1']);
        expect(r.stdout).toMatch(/No space left on device/);
        expect(r.stdout).toMatch(/status=1/);
        const kb = Number(r.stdout.trim().split('\n').pop());
        expect(kb).toBeLessThanOrEqual(8 * 1024);
      } finally {
        await s.destroy();
      }
    });

    it('sandbox.file-limits: a file larger than the file-size limit cannot be written', async () => {
      const s = await createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { fileSize: '1m', openFiles: 64 } });
      try {
        const r = await s.exec(['/bin/sh', '-c', 'dd if=/dev/zero of=/workspace/big bs=1M count=4 2>&1; echo "status=$?"; ulimit -n']);
        expect(r.stdout).toMatch(/File too large|status=1[0-9]{2}|status=153/);
        expect(r.stdout.trim().split('\n').pop()).toBe('64');
      } finally {
        await s.destroy();
      }
    });

    it('sandbox.fail-closed: a cpu cap with no controller, or a bad limit, is an error', async () => {
      await expect(createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { memory: '1k' } })).rejects.toMatchObject({ code: 'E_USAGE' });
      await expect(createSession({ workspace: tempDir('ws'), stateDir, backend, limits: { memory: 'lots' } })).rejects.toMatchObject({ code: 'E_USAGE' });
      await expect(createSession({ workspace: tempDir('ws'), stateDir, backend, template: 'no-such-template' })).rejects.toMatchObject({
        code: 'E_TEMPLATE_NOT_FOUND',
      });
    });
  });
}
