/**
 * The wire protocol between the host and the in-sandbox supervisor (native/supervisor.c).
 *
 * One stream socket (a socketpair the host creates; fd 3 in the sandbox) carries frames:
 *
 *   u32 LE payload length | u8 type | u32 LE channel id | payload
 *
 * A channel id names one exec. Nothing in the sandbox can open this socket: it is not a
 * file, and the supervisor is not dumpable, so `pidfd_getfd` and ptrace cannot reach it.
 */
import { AirlockError } from '../errors/index.js';

/** Protocol version the supervisor announces in READY. */
export const PROTOCOL_VERSION = 1;
/** Bytes in a frame header. */
export const HEADER_LEN = 9;
/** Largest payload either side accepts. */
export const MAX_FRAME = 16 * 1024 * 1024;
/** Largest stdin chunk the host sends in one frame. */
export const STDIN_CHUNK = 256 * 1024;

/** Frame types. Values are shared with native/supervisor.c (checked by a unit test). */
export const FrameType = {
  Exec: 0x01,
  Stdin: 0x02,
  StdinEof: 0x03,
  Signal: 0x04,
  Resize: 0x05,
  Shutdown: 0x06,
  Ping: 0x07,
  Ready: 0x81,
  Started: 0x82,
  Stdout: 0x83,
  Stderr: 0x84,
  Exit: 0x85,
  Error: 0x86,
  Pong: 0x87,
} as const;

/** A frame type value. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Entry tags inside an EXEC payload. */
export const ExecTag = { Arg: 0x41, Env: 0x45, Cwd: 0x43, Rlimit: 0x52 } as const;

/** Linux resource numbers (asm-generic, the same on x86_64 and aarch64). */
export const RLIMIT = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  NPROC: 6,
  NOFILE: 7,
  AS: 9,
} as const;

/** One rlimit to set on an exec'd process. */
export interface Rlimit {
  resource: number;
  soft: bigint;
  hard: bigint;
}

/** What the host asks the supervisor to run. */
export interface ExecRequest {
  argv: readonly string[];
  env: readonly string[];
  cwd: string;
  tty: boolean;
  cols: number;
  rows: number;
  rlimits: readonly Rlimit[];
}

/** A decoded frame. */
export interface Frame {
  type: number;
  id: number;
  payload: Buffer;
}

/** Encodes one frame. */
export function encodeFrame(type: FrameTypeValue, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_FRAME) {
    throw new AirlockError('E_PROTOCOL', `frame payload of ${payload.length} bytes exceeds ${MAX_FRAME}`, {
      hint: 'Send large input in chunks; this is a bug in the caller.',
    });
  }
  const header = Buffer.allocUnsafe(HEADER_LEN);
  header.writeUInt32LE(payload.length, 0);
  header.writeUInt8(type, 4);
  header.writeUInt32LE(id >>> 0, 5);
  return Buffer.concat([header, payload]);
}

function checkString(what: string, value: string): Buffer {
  if (value.includes('\0')) {
    throw new AirlockError('E_EXEC_FAILED', `${what} contains a NUL byte: ${JSON.stringify(value)}`, {
      hint: 'Arguments, environment entries and paths cannot contain NUL; remove it.',
    });
  }
  return Buffer.from(value, 'utf8');
}

/** Encodes an EXEC payload. */
export function encodeExec(req: ExecRequest): Buffer {
  const parts: Buffer[] = [];
  let count = 0;
  const entry = (tag: number, body: Buffer): void => {
    const h = Buffer.allocUnsafe(5);
    h.writeUInt8(tag, 0);
    h.writeUInt32LE(body.length, 1);
    parts.push(h, body);
    count++;
  };
  for (const a of req.argv) entry(ExecTag.Arg, checkString('argument', a));
  for (const e of req.env) entry(ExecTag.Env, checkString('environment entry', e));
  entry(ExecTag.Cwd, checkString('working directory', req.cwd));
  for (const r of req.rlimits) {
    const b = Buffer.allocUnsafe(20);
    b.writeUInt32LE(r.resource, 0);
    b.writeBigUInt64LE(r.soft, 4);
    b.writeBigUInt64LE(r.hard, 12);
    entry(ExecTag.Rlimit, b);
  }
  const head = Buffer.allocUnsafe(9);
  head.writeUInt8(req.tty ? 1 : 0, 0);
  head.writeUInt16LE(Math.min(req.cols, 0xffff), 1);
  head.writeUInt16LE(Math.min(req.rows, 0xffff), 3);
  head.writeUInt32LE(count, 5);
  return Buffer.concat([head, ...parts]);
}

/** Incremental frame decoder for a byte stream. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private length = 0;

  /** Adds bytes and returns every complete frame. */
  push(data: Buffer): Frame[] {
    this.chunks.push(data);
    this.length += data.length;
    const frames: Frame[] = [];
    if (this.length < HEADER_LEN) return frames;
    let buf = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.length);
    let off = 0;
    while (buf.length - off >= HEADER_LEN) {
      const len = buf.readUInt32LE(off);
      if (len > MAX_FRAME) {
        throw new AirlockError('E_PROTOCOL', `the supervisor sent a frame of ${len} bytes`, {
          hint: 'The sandbox supervisor is out of step with this airlock; rebuild with npm run build.',
        });
      }
      if (buf.length - off < HEADER_LEN + len) break;
      frames.push({
        type: buf.readUInt8(off + 4),
        id: buf.readUInt32LE(off + 5),
        payload: buf.subarray(off + HEADER_LEN, off + HEADER_LEN + len),
      });
      off += HEADER_LEN + len;
    }
    buf = buf.subarray(off);
    this.chunks = buf.length > 0 ? [buf] : [];
    this.length = buf.length;
    return frames;
  }
}
