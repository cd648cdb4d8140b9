/**
 * Shared test helpers: temp directories and the statically built probe fixture.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI. */
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

const cleanups: string[] = [];

/** A fresh directory under the system temp dir, removed by {@link cleanupTemp}. */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), `airlock-test-${prefix}-`));
  cleanups.push(d);
  return d;
}

/**
 * Mount points at or below `dir` (deepest first): staged workspaces of sessions that were
 * killed rather than destroyed stay mounted until a later sweep.
 */
function mountsUnder(dir: string): string[] {
  const decode = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => decode(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Removes every directory made by {@link tempDir} (unmounting what a killed session left mounted in it). */
export function cleanupTemp(): void {
  for (const d of cleanups.splice(0)) {
    for (const m of mountsUnder(d)) spawnSync('umount', ['-l', m]);
    rmSync(d, { recursive: true, force: true });
  }
}

/** Compiles test/fixtures/probe.c statically (once per source change) and returns its path. */
export function buildProbe(): string {
  const src = join(ROOT, 'test', 'fixtures', 'probe.c');
  const outDir = join(ROOT, 'native', 'build');
  const out = join(outDir, 'probe');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(outDir, { recursive: true });
    execFileSync('cc', ['-O1', '-static', '-o', `${out}.tmp`, src]);
    execFileSync('mv', [`${out}.tmp`, out]);
  }
  return out;
}

/** A workspace with the probe copied in as ./probe. */
export function workspaceWithProbe(): string {
  const ws = tempDir('ws');
  copyFileSync(buildProbe(), join(ws, 'probe'));
  execFileSync('chmod', ['755', join(ws, 'probe')]);
  return ws;
}
