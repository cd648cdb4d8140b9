/**
 * Resource limits on real sandboxes: a fork bomb, a memory hog, a full /tmp, big output,
 * big input, streaming and ttys.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

const stateDir = tempDir('state');

afterAll(() => { cleanupTemp(); });

describe('limits', () => {
  it('sandbox.pids-limit: a fork bomb is stopped and the session survives', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir, limits: { pids: 64 } });
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
      const r = await s.exec(['/usr/bin/python3', '-c', bomb], { timeoutMs: 20_000 });
      const m = /^blocked (\d+) (\d+)$/m.exec(r.stdout);
      expect(m, r.stdout + r.stderr).not.toBeNull();
      expect(Number(m?.[1])).toBeLessThan(64);
      expect(m?.[2]).toBe('11'); // EAGAIN
      // The shell classic too, bounded by the exec timeout.
      const classic = await s.exec(['/bin/bash', '-c', ':(){ :|:& };:'], { timeoutMs: 2000 });
      expect(classic.timedOut || classic.exitCode !== null).toBe(true);
      // Kill the sleepers, then the session still works.
      await s.exec(['/bin/sh', '-c', 'pkill -KILL -f "time.sleep" ; pkill -KILL bash; true'], { timeoutMs: 5000 }).catch(() => undefined);
      await new Promise((r2) => setTimeout(r2, 300));
      const ok = await s.exec(['echo', 'alive'], { timeoutMs: 10_000 });
      expect(ok.stdout).toBe('alive\n');
    } finally {
      await s.destroy();
    }
  });

  it('sandbox.memory-limit: a memory hog is killed and the session survives', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir, limits: { memory: '64m' } });
    try {
      const r = await s.exec(['/usr/bin/python3', '-c', 'x = bytearray(512 * 1024 * 1024); x[::4096] = b"y" * (len(x) // 4096); print("survived")'], {
        timeoutMs: 30_000,
      });
      expect(r.stdout).not.toContain('survived');
      expect(r.signal === 'SIGKILL' || r.exitCode !== 0).toBe(true);
      const peak = s.memoryPeak();
      expect(peak).toBeDefined();
      expect(peak ?? Infinity).toBeLessThanOrEqual(64 * 1024 * 1024 + 1024 * 1024);
      const ok = await s.exec(['echo', 'alive']);
      expect(ok.stdout).toBe('alive\n');
    } finally {
      await s.destroy();
    }
  });

  it('sandbox.tmp-limited: /tmp fills only to its size', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir, limits: { tmpSize: '8m' } });
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
    const s = await createSession({ workspace: tempDir('ws'), stateDir, limits: { fileSize: '1m', openFiles: 64 } });
    try {
      const r = await s.exec(['/bin/sh', '-c', 'dd if=/dev/zero of=/workspace/big bs=1M count=4 2>&1; echo "status=$?"; ulimit -n']);
      expect(r.stdout).toMatch(/File too large|status=1[0-9]{2}|status=153/);
      expect(r.stdout.trim().split('\n').pop()).toBe('64');
    } finally {
      await s.destroy();
    }
  });

  it('sandbox.fail-closed: a cpu cap with no controller, or a bad limit, is an error', async () => {
    await expect(createSession({ workspace: tempDir('ws'), stateDir, limits: { memory: '1k' } })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(createSession({ workspace: tempDir('ws'), stateDir, limits: { memory: 'lots' } })).rejects.toMatchObject({ code: 'E_USAGE' });
    await expect(createSession({ workspace: tempDir('ws'), stateDir, template: 'no-such-template' })).rejects.toMatchObject({
      code: 'E_TEMPLATE_NOT_FOUND',
    });
  });
});

describe('exec streams', () => {
  it('streams output before the command ends', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir });
    try {
      const p = s.spawn(['/bin/sh', '-c', 'echo first; sleep 1; echo second']);
      const first = await new Promise<number>((resolve) => {
        p.stdout.once('data', () => { resolve(Date.now()); });
      });
      const r = await p.wait();
      expect(r.exitCode).toBe(0);
      expect(Date.now() - first).toBeGreaterThan(500);
    } finally {
      await s.destroy();
    }
  });

  it('passes large stdin and output intact', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir });
    try {
      const input = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < input.length; i++) input[i] = (i * 7) % 251;
      const r = await s.exec(['sha256sum'], { stdin: input });
      const { createHash } = await import('node:crypto');
      expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
      const big = await s.exec(['head', '-c', String(20 * 1024 * 1024), '/dev/zero']);
      expect(big.stdoutBytes).toBe(20 * 1024 * 1024);
      const capped = await s.exec(['head', '-c', '100000', '/dev/zero'], { maxOutputBytes: 1000 });
      expect(capped.stdout.length).toBe(1000);
      expect(capped.truncated).toBe(true);
      expect(capped.stdoutBytes).toBe(100000);
    } finally {
      await s.destroy();
    }
  });

  it('runs many commands at once in one session', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir });
    try {
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => s.exec(['/bin/sh', '-c', `echo ${i}`])));
      rs.forEach((r, i) => { expect(r.stdout).toBe(`${i}\n`); });
    } finally {
      await s.destroy();
    }
  });

  it('gives a tty its own pty, window size and resize', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir });
    try {
      const p = s.spawn(['/bin/sh', '-c', 'tty; stty size; read line; stty size; echo "got:$line"'], { tty: { cols: 100, rows: 30 } });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => setTimeout(r, 300));
      p.resize(120, 40);
      p.write('hello\r');
      const r = await p.wait();
      expect(r.exitCode).toBe(0);
      expect(out).toMatch(/\/dev\/pts\/\d+/);
      expect(out).toContain('30 100');
      expect(out).toContain('40 120');
      expect(out).toContain('got:hello');
    } finally {
      await s.destroy();
    }
  });

  it('Ctrl-C on a tty interrupts the foreground command only', async () => {
    const s = await createSession({ workspace: tempDir('ws'), stateDir });
    try {
      const p = s.spawn(['/bin/bash', '--norc', '-i'], { tty: { cols: 80, rows: 24 } });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await new Promise((r) => setTimeout(r, 300));
      p.write('sleep 30\r');
      await new Promise((r) => setTimeout(r, 300));
      p.write('\x03');
      await new Promise((r) => setTimeout(r, 200));
      p.write('echo after-$((6*7))\r');
      await new Promise((r) => setTimeout(r, 300));
      p.write('exit 3\r');
      const r = await p.wait();
      expect(out).toContain('after-42');
      expect(r.exitCode).toBe(3);
    } finally {
      await s.destroy();
    }
  });
});
