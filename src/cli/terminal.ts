/**
 * Wiring a running command to this process's terminal or pipes: raw mode and window size
 * for a tty, signal forwarding for pipes, and the exit status a shell would report.
 */
import { constants as osConstants } from 'node:os';

/** What the terminal wiring drives: a local SessionProcess or a remote exec. */
export interface Attachable {
  write(data: Buffer): void;
  end(): void;
  signal(sig: number): void;
  resize(cols: number, rows: number): void;
}

/** True when both stdin and stdout are terminals, so the command gets a pty. */
export function wantsTty(): boolean {
  return process.stdin.isTTY && process.stdout.isTTY;
}

/** The pty size to start with. */
export function terminalSize(): { cols: number; rows: number } {
  return { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/**
 * Connects stdin, resize and signals to `target`. Returns a function that undoes it all
 * (restores cooked mode) and must run before the process exits.
 */
export function attach(target: Attachable, tty: boolean): () => void {
  const undo: (() => void)[] = [];
  const onData = (d: Buffer): void => { target.write(d); };
  const onEnd = (): void => { target.end(); };
  if (tty) {
    process.stdin.setRawMode(true);
    undo.push(() => process.stdin.setRawMode(false));
    const onResize = (): void => {
      const s = terminalSize();
      target.resize(s.cols, s.rows);
    };
    process.stdout.on('resize', onResize);
    undo.push(() => process.stdout.off('resize', onResize));
  }
  process.stdin.on('data', onData);
  process.stdin.on('end', onEnd);
  undo.push(() => {
    process.stdin.off('data', onData);
    process.stdin.off('end', onEnd);
    process.stdin.pause();
  });
  // On a tty, Ctrl-C arrives as a byte for the pty's line discipline; these come from kill(1)
  // or a pipe's terminal and are passed on to the command instead of ending airlock.
  for (const sig of FORWARDED) {
    const h = (): void => { target.signal(osConstants.signals[sig]); };
    process.on(sig, h);
    undo.push(() => process.off(sig, h));
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/** The status a shell would report: the exit code, or 128 + the signal number. */
export function exitStatusOf(result: { exitCode: number | null; signal: string | null }): number {
  if (result.exitCode !== null) return result.exitCode;
  const n = result.signal === null ? undefined : (osConstants.signals as Record<string, number | undefined>)[result.signal];
  return 128 + (n ?? 9);
}
