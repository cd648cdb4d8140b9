/**
 * Running commands through the supervisor, for every backend: streaming output, large input
 * and output, many commands at once, ptys with window sizes, and Ctrl-C on a tty. One session
 * per backend: none of these needs a fresh one.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../../src/index.js';
import { cleanupTemp, tempDir } from '../../helpers/index.js';
import { TARGETS, title } from './backends.js';

afterAll(() => {
  cleanupTemp();
});

for (const target of TARGETS) {
  const backend = target.name;

  describe.skipIf(target.skip !== undefined)(title(target), () => {
    let s: Session;

    beforeAll(async () => {
      s = await createSession({ workspace: tempDir('ws'), stateDir: tempDir('state'), backend });
    });

    afterAll(async () => {
      await s.destroy();
    });

    it('streams output before the command ends', async () => {
      const p = s.spawn(['/bin/sh', '-c', 'echo first; sleep 1; echo second']);
      const first = await new Promise<number>((resolve) => {
        p.stdout.once('data', () => { resolve(Date.now()); });
      });
      const r = await p.wait();
      expect(r.exitCode).toBe(0);
      expect(Date.now() - first).toBeGreaterThan(500);
    });

    it('passes large stdin and output intact', async () => {
      const input = Buffer.alloc(5 * 1024 * 1024);
      for (let i = 0; i < input.length; i++) input[i] = (i * 7) % 251;
      const r = await s.exec(['sha256sum'], { stdin: input });
      expect(r.stdout.split(' ')[0]).toBe(createHash('sha256').update(input).digest('hex'));
      const big = await s.exec(['head', '-c', String(20 * 1024 * 1024), '/dev/zero']);
      expect(big.stdoutBytes).toBe(20 * 1024 * 1024);
      const capped = await s.exec(['head', '-c', '100000', '/dev/zero'], { maxOutputBytes: 1000 });
      expect(capped.stdout.length).toBe(1000);
      expect(capped.truncated).toBe(true);
      expect(capped.stdoutBytes).toBe(100000);
    });

    it('runs many commands at once in one session', async () => {
      const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => s.exec(['/bin/sh', '-c', `echo ${i}`])));
      rs.forEach((r, i) => { expect(r.stdout).toBe(`${i}\n`); });
    });

    it('says why a command could not start', async () => {
      const r = await s.exec(['/no/such/command']);
      expect(r.exitCode).toBe(127);
      expect(r.startError?.errno).toBe(2);
    });

    it('gives a tty its own pty, window size and resize', async () => {
      const p = s.spawn(['/bin/sh', '-c', 'tty; stty size; read line; stty size; echo "got:$line"'], { tty: { cols: 100, rows: 30 } });
      let out = '';
      // Resize only once the first `stty size` has answered: a fixed pause raced a slow start
      // (gVisor under load), which then reported the new size twice.
      const firstSize = new Promise<void>((resolve) => {
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (/\d+ \d+/.test(out)) resolve();
        });
      });
      await firstSize;
      p.resize(120, 40);
      p.write('hello\r');
      const r = await p.wait();
      expect(r.exitCode).toBe(0);
      expect(out).toMatch(/\/dev\/pts\/\d+/);
      expect(out).toContain('30 100');
      expect(out).toContain('40 120');
      expect(out).toContain('got:hello');
    });

    it('Ctrl-C on a tty interrupts the foreground command only', async (ctx) => {
      if (backend === 'gvisor') {
        // Some runsc releases (Debian's 2022-12 build among them) never record the controlling
        // terminal of a devpts replica: TIOCSCTTY succeeds, but /dev/tty then fails with EIO
        // and the line discipline has nobody to send SIGINT to. Detected, not assumed, so the
        // check runs again as soon as runsc is fixed. Signals sent through the exec API
        // (SessionProcess.kill) are not affected: see isolation.test.ts.
        const probe = s.spawn(['/usr/bin/python3', '-c', 'import os\ntry:\n os.open("/dev/tty", os.O_RDWR); print("ctty")\nexcept OSError as e: print("errno", e.errno)'], {
          tty: { cols: 80, rows: 24 },
        });
        let seen = '';
        probe.stdout.on('data', (d: Buffer) => (seen += d.toString()));
        await probe.wait();
        if (!seen.includes('ctty')) {
          process.stderr.write(`conformance: gvisor: Ctrl-C check skipped: this runsc gives a pty no controlling terminal (${seen.trim()})\n`);
          ctx.skip();
        }
      }
      const p = s.spawn(['/bin/bash', '--norc', '-i'], { tty: { cols: 80, rows: 24 } });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      // Waits for what the shell prints rather than for fixed times: gVisor is slower to start
      // a process than the host kernel, and a keystroke sent too early is eaten by the echo.
      const until = async (text: string): Promise<void> => {
        for (let i = 0; i < 100 && !out.includes(text); i++) await new Promise((r) => setTimeout(r, 100));
      };
      await until('$ ');
      p.write('sleep 30\r');
      await until('sleep 30');
      // Ctrl-C only once the sleep runs (seen from a second command), not on a timer
      for (let i = 0; i < 200; i++) {
        const r = await s.exec(['pgrep', '-x', 'sleep']);
        if (r.exitCode === 0) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      p.write('\x03');
      await until('^C');
      p.write('echo after-$((6*7)) rc=$?\r');
      await until('after-42');
      p.write('exit 3\r');
      const r = await p.wait();
      // 130 = 128 + SIGINT: the sleep was interrupted, not waited out.
      expect(out).toContain('after-42 rc=130');
      expect(r.exitCode).toBe(3);
    });
  });
}
