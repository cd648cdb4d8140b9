/**
 * Byte-string replacement over a stream, for taking secrets back out of responses.
 *
 * An upstream that echoes request headers (debug endpoints, error pages, httpbin-style
 * services) would otherwise hand the injected secret to the sandbox. The proxy runs every
 * response to a credential-bearing request through this, so an echoed secret comes back
 * as the placeholder the sandbox already knows.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** One replacement: every occurrence of `from` becomes `to`. */
export interface Replacement {
  readonly from: Buffer;
  readonly to: Buffer;
}

/** Replaces every occurrence in a single buffer (for header values). */
export function replaceAll(input: Buffer, replacements: readonly Replacement[]): Buffer {
  const out: Buffer[] = [];
  const rest = scan(input, replacements, out, true);
  out.push(rest);
  return Buffer.concat(out);
}

/**
 * Emits everything that can no longer be part of a match into `out` and returns the
 * tail that might still be the start of one (all of it when `final`).
 */
function scan(input: Buffer, replacements: readonly Replacement[], out: Buffer[], final: boolean): Buffer {
  const longest = Math.max(0, ...replacements.map((r) => r.from.length));
  let buf = input;
  for (;;) {
    let best = -1;
    let which: Replacement | undefined;
    for (const r of replacements) {
      if (r.from.length === 0) continue;
      const i = buf.indexOf(r.from);
      if (
        i >= 0 &&
        (best < 0 || i < best || (i === best && which !== undefined && r.from.length > which.from.length))
      ) {
        best = i;
        which = r;
      }
    }
    if (which === undefined) break;
    out.push(buf.subarray(0, best), which.to);
    buf = buf.subarray(best + which.from.length);
  }
  if (final) {
    out.push(buf);
    return Buffer.alloc(0);
  }
  // Keep the last (longest - 1) bytes: a match may start there and end in the next chunk.
  const keep = Math.min(buf.length, Math.max(0, longest - 1));
  out.push(buf.subarray(0, buf.length - keep));
  return Buffer.from(buf.subarray(buf.length - keep));
}

/** A Transform that applies {@link Replacement}s across chunk boundaries. */
export class ReplaceStream extends Transform {
  readonly #replacements: readonly Replacement[];
  #pending: Buffer = Buffer.alloc(0);

  constructor(replacements: readonly Replacement[]) {
    super();
    this.#replacements = replacements;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const out: Buffer[] = [];
    this.#pending = scan(Buffer.concat([this.#pending, chunk]), this.#replacements, out, false);
    const data = Buffer.concat(out);
    if (data.length > 0) this.push(data);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const out: Buffer[] = [];
    scan(this.#pending, this.#replacements, out, true);
    const data = Buffer.concat(out);
    if (data.length > 0) this.push(data);
    callback();
  }
}
