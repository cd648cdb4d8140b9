import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJson, genesisHash, leafHash, nodeHash, recordHash } from '../../../src/audit/index.js';
import type { AuditStore } from '../../../src/audit/index.js';
import { createEvent } from '../../../src/events/index.js';
import type { AirlockEvent } from '../../../src/events/index.js';

/** A fresh state directory, removed by the returned function. */
export function tempStateDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-audit-'));
  return {
    dir,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A varied event for record `i` of a session. */
export function sampleEvent(sessionId: string, i: number): AirlockEvent {
  const time = new Date(Date.UTC(2025, 0, 1, 0, 0, 0, i));
  switch (i % 4) {
    case 0:
      return createEvent(
        'policy.decision',
        sessionId,
        {
          action: 'exec',
          subject: `npm test #${i}`,
          verdict: i % 8 === 0 ? 'deny' : 'allow',
          reason: 'rule',
          rule: `exec.allow[${i % 3}]`,
          execId: `e${i}`,
        },
        time,
      );
    case 1:
      return createEvent(
        'exec.started',
        sessionId,
        { execId: `e${i}`, argv: ['npm', 'test', `--shard=${i}`], cwd: '/workspace' },
        time,
      );
    case 2:
      return createEvent(
        'exec.finished',
        sessionId,
        {
          execId: `e${i}`,
          exitCode: i % 3,
          signal: null,
          durationMs: i,
          stdoutBytes: 10,
          stderrBytes: 0,
          outputSha256: 'ab'.repeat(32),
          excerpt: `ok ${i}`,
          excerptTruncated: false,
        },
        time,
      );
    default:
      return createEvent(
        'network.request',
        sessionId,
        {
          requestId: `r${i}`,
          method: 'GET',
          host: 'registry.npmjs.org',
          port: 443,
          verdict: 'allow',
          bytesSent: 100,
          bytesReceived: 2000,
          durationMs: 12,
        },
        time,
      );
  }
}

/** Writes `count` events to a session and closes it (finally, unless `final: false`). */
export async function writeSession(
  store: AuditStore,
  sessionId: string,
  count: number,
  options: { checkpointEvery?: number; final?: boolean } = {},
): Promise<void> {
  const log = store.openLog(sessionId, { checkpointEvery: options.checkpointEvery ?? 10 });
  const acks: Promise<unknown>[] = [];
  for (let i = 1; i <= count; i++) acks.push(log.append(sampleEvent(sessionId, i)));
  await Promise.all(acks);
  await log.close({ final: options.final ?? true });
}

/** The lines of a JSONL file (without the trailing empty one). */
export function readLines(path: string): string[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop();
  return lines;
}

/** Writes lines back with a newline after each. */
export function writeLines(path: string, lines: readonly string[]): void {
  writeFileSync(path, lines.map((l) => `${l}\n`).join(''));
}

/**
 * Renumbers and re-chains records as an attacker who knows the format (but not the
 * signing key) would, so that the chain itself is consistent again. Lines are written in
 * the documented stored form (canonical body, then prev and hash), built here from the
 * documentation rather than with the writer's code; `canonical: false` writes them as
 * `JSON.stringify` of the record instead (the same values, in other bytes).
 */
export function rechain(
  sessionId: string,
  lines: readonly string[],
  options: { canonical?: boolean } = {},
): string[] {
  let prev = genesisHash(sessionId);
  return lines.map((line, i) => {
    const r = JSON.parse(line) as { time: string; session: string; type: string; data: unknown };
    const seq = i + 1;
    const data = canonicalJson(r.data);
    const hash = recordHash(prev, seq, r.time, r.session, r.type, data);
    const out =
      options.canonical === false
        ? JSON.stringify({
            seq,
            time: r.time,
            session: r.session,
            type: r.type,
            data: r.data,
            prev: prev.toString('hex'),
            hash: hash.toString('hex'),
          })
        : `{"data":${data},"seq":${seq},"session":${JSON.stringify(r.session)},"time":${JSON.stringify(r.time)},"type":${JSON.stringify(r.type)},"prev":"${prev.toString('hex')}","hash":"${hash.toString('hex')}"}`;
    prev = hash;
    return out;
  });
}

/** Length of the `,"prev":"…","hash":"…"}` trailer of a stored line. */
const TRAILER = 149;

/** The body of a stored line: the line without its trailer, closed with "}". */
export function bodyOf(line: string): string {
  return `${line.slice(0, -TRAILER)}}`;
}

/**
 * Re-chains stored lines as a forger who hashes exactly the bytes they write: each body
 * (the line without its trailer, plus "}") is hashed as it stands, canonical or not, so
 * the chain links and every stored hash matches its line's bytes.
 */
export function rechainBodies(sessionId: string, bodies: readonly string[]): string[] {
  let prev = genesisHash(sessionId);
  return bodies.map((body) => {
    const hash = nodeHash(prev, leafHash(body));
    const line = `${body.slice(0, -1)},"prev":"${prev.toString('hex')}","hash":"${hash.toString('hex')}"}`;
    prev = hash;
    return line;
  });
}

/**
 * Bundles a TypeScript fixture into one ES module that plain `node` runs, so that child
 * processes start in a fraction of a second and need no prior `npm run build`. Packages
 * stay external and resolve from the project's node_modules (the bundle sits under
 * node_modules/.cache for that reason).
 */
export async function bundleFixture(entry: string, name: string): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(
    process.cwd(),
    'node_modules',
    '.cache',
    'airlock-audit-tests',
    `${name}-${process.pid}.mjs`,
  );
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'error',
  });
  return outfile;
}
