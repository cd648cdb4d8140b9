/**
 * The host side of the supervisor protocol: multiplexes execs over the control socket.
 * Backend-independent: every backend hands it the stream connected to the supervisor.
 */
import { constants as osConstants } from 'node:os';
import type { Duplex } from 'node:stream';
import { AirlockError } from '../errors/index.js';
import {
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  STDIN_CHUNK,
  encodeExec,
  encodeFrame,
  type ExecRequest,
  type Frame,
} from './protocol.js';

/** Where an exec's output goes, chunk by chunk, as it arrives. */
export interface OutputSink {
  stdout(chunk: Buffer): void;
  stderr(chunk: Buffer): void;
}

/** How an exec ended. */
export interface ExecExit {
  /** Exit status, or null when a signal ended it. */
  exitCode: number | null;
  /** Name of the signal that ended it (SIGKILL, …), or null. */
  signal: string | null;
  /** Set when the command could not be started at all (exitCode is then 127). */
  startError?: { errno: number; message: string };
}

/** A running command inside the sandbox. */
export interface ExecHandle {
  /** Its pid inside the sandbox's pid namespace, once started. */
  readonly pid: Promise<number>;
  /** Resolves when the command has exited and all its output was delivered. */
  readonly done: Promise<ExecExit>;
  /** Feeds stdin. */
  write(data: Buffer | string): void;
  /** Closes stdin (sends the EOF character on a tty). */
  end(): void;
  /** Signals the command's whole process group. */
  signal(sig: NodeJS.Signals | number): void;
  /** Sets the pty's window size (tty execs only). */
  resize(cols: number, rows: number): void;
}

interface Pending {
  sink: OutputSink;
  resolvePid: (pid: number) => void;
  resolveDone: (exit: ExecExit) => void;
  rejectPid: (err: Error) => void;
  startError?: { errno: number; message: string };
}

function signalName(n: number): string {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === n) return name;
  return `SIG${n}`;
}

function signalNumber(sig: NodeJS.Signals | number): number {
  if (typeof sig === 'number') return sig;
  const n = (osConstants.signals as Record<string, number | undefined>)[sig];
  if (n === undefined) {
    throw new AirlockError('E_USAGE', `unknown signal ${sig}`, { hint: 'Use a name such as SIGTERM or SIGINT.' });
  }
  return n;
}

/** What the supervisor announced when it came up. */
export interface SupervisorHello {
  version: number;
  pid: number;
}

/** Options for {@link SupervisorChannel}. */
export interface SupervisorChannelOptions {
  /** Called once when the channel closes for any reason (host or sandbox side). */
  onClose?: (reason: Error) => void;
}

/** Speaks the frame protocol with one supervisor. */
export class SupervisorChannel {
  /** Resolves when the supervisor has announced itself. */
  readonly ready: Promise<SupervisorHello>;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedWith: Error | undefined;
  private resolveReady!: (hello: SupervisorHello) => void;
  private rejectReady!: (err: Error) => void;

  constructor(
    private readonly stream: Duplex,
    private readonly options: SupervisorChannelOptions = {},
  ) {
    this.ready = new Promise<SupervisorHello>((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A caller that never awaits ready must not see an unhandled rejection.
    this.ready.catch(() => undefined);
    stream.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = this.decoder.push(chunk);
      } catch (err) {
        this.fail(err as Error);
        stream.destroy();
        return;
      }
      for (const f of frames) this.onFrame(f);
    });
    stream.on('error', (err) => { this.fail(err); });
    stream.on('close', () => { this.fail(
        new AirlockError('E_SESSION_CLOSED', 'the sandbox closed its control channel', {
          hint: 'The sandbox ended (destroyed, timed out or killed); start a new session.',
        }),
      ); },
    );
  }

  /** True once the channel is closed. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  private fail(err: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = err;
    this.rejectReady(err);
    for (const p of this.pending.values()) {
      p.rejectPid(err);
      p.resolveDone({ exitCode: null, signal: 'SIGKILL' });
    }
    this.pending.clear();
    this.options.onClose?.(err);
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case FrameType.Ready: {
        const version = f.payload.readUInt32LE(0);
        if (version !== PROTOCOL_VERSION) {
          this.fail(
            new AirlockError('E_PROTOCOL', `supervisor speaks protocol ${version}, airlock speaks ${PROTOCOL_VERSION}`, {
              hint: 'Rebuild the supervisor with `npm run build`.',
            }),
          );
          return;
        }
        this.resolveReady({ version, pid: f.payload.readUInt32LE(4) });
        return;
      }
      case FrameType.Started:
        this.pending.get(f.id)?.resolvePid(f.payload.readUInt32LE(0));
        return;
      case FrameType.Stdout:
        this.pending.get(f.id)?.sink.stdout(f.payload);
        return;
      case FrameType.Stderr:
        this.pending.get(f.id)?.sink.stderr(f.payload);
        return;
      case FrameType.Error: {
        const p = this.pending.get(f.id);
        if (p === undefined) return;
        const errno = f.payload.readInt32LE(0);
        const message = f.payload.subarray(4).toString('utf8');
        p.startError = { errno, message };
        // A start failure before STARTED: the EXIT (127) follows from the reaped child, or
        // nothing follows if the request was refused outright; settle now in that case.
        p.rejectPid(new AirlockError('E_EXEC_FAILED', message, { hint: 'Check the command name and PATH.' }));
        if (!message.startsWith('could not execute')) {
          this.pending.delete(f.id);
          p.resolveDone({ exitCode: 127, signal: null, startError: p.startError });
        }
        return;
      }
      case FrameType.Exit: {
        const p = this.pending.get(f.id);
        if (p === undefined) return;
        this.pending.delete(f.id);
        const code = f.payload.readInt32LE(0);
        const sig = f.payload.readInt32LE(4);
        const exit: ExecExit =
          sig !== 0 ? { exitCode: null, signal: signalName(sig) } : { exitCode: code, signal: null };
        if (p.startError !== undefined) exit.startError = p.startError;
        p.resolveDone(exit);
        return;
      }
      case FrameType.Pong:
        return;
      default:
        this.fail(
          new AirlockError('E_PROTOCOL', `unknown frame type 0x${f.type.toString(16)} from the supervisor`, {
            hint: 'Rebuild the supervisor with `npm run build`.',
          }),
        );
    }
  }

  private send(buf: Buffer): void {
    if (this.closedWith !== undefined) throw this.closedWith;
    this.stream.write(buf);
  }

  /** Starts a command. Output arrives through `sink`. */
  exec(req: ExecRequest, sink: OutputSink): ExecHandle {
    if (this.closedWith !== undefined) throw this.closedWith;
    const id = this.nextId++;
    let resolvePid!: (pid: number) => void;
    let rejectPid!: (err: Error) => void;
    let resolveDone!: (exit: ExecExit) => void;
    const pid = new Promise<number>((res, rej) => {
      resolvePid = res;
      rejectPid = rej;
    });
    pid.catch(() => undefined);
    const done = new Promise<ExecExit>((res) => {
      resolveDone = res;
    });
    this.pending.set(id, { sink, resolvePid, rejectPid, resolveDone });
    this.send(encodeFrame(FrameType.Exec, id, encodeExec(req)));
    const live = (): boolean => this.closedWith === undefined && this.pending.has(id);
    return {
      pid,
      done,
      write: (data) => {
        if (!live()) return;
        const buf = typeof data === 'string' ? Buffer.from(data) : data;
        for (let off = 0; off < buf.length; off += STDIN_CHUNK) {
          this.send(encodeFrame(FrameType.Stdin, id, buf.subarray(off, off + STDIN_CHUNK)));
        }
      },
      end: () => {
        if (live()) this.send(encodeFrame(FrameType.StdinEof, id));
      },
      signal: (sig) => {
        if (!live()) return;
        const b = Buffer.allocUnsafe(4);
        b.writeUInt32LE(signalNumber(sig));
        this.send(encodeFrame(FrameType.Signal, id, b));
      },
      resize: (cols, rows) => {
        if (!live()) return;
        const b = Buffer.allocUnsafe(4);
        b.writeUInt16LE(Math.max(1, Math.min(cols, 0xffff)), 0);
        b.writeUInt16LE(Math.max(1, Math.min(rows, 0xffff)), 2);
        this.send(encodeFrame(FrameType.Resize, id, b));
      },
    };
  }

  /** Asks the supervisor to kill everything and exit. */
  shutdown(): void {
    if (this.closedWith === undefined) {
      this.stream.write(encodeFrame(FrameType.Shutdown, 0));
    }
  }
}
