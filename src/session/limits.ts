/**
 * Parsing of user-facing limit values ("2g", "30m") and the defaults every session gets.
 */
import { AirlockError } from '../errors/index.js';
import type { ResolvedLimits } from '../sandbox/index.js';

/** Limits as a user writes them: sizes like "512m" or bytes, durations like "30m" or ms. */
export interface LimitsInput {
  memory?: string | number;
  pids?: number;
  cpus?: number;
  tmpSize?: string | number;
  homeSize?: string | number;
  fileSize?: string | number;
  openFiles?: number;
  execTimeout?: string | number;
  sessionTimeout?: string | number;
  weakLimits?: 'refuse' | 'rlimit';
}

/** What every session gets unless told otherwise. */
export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  memoryBytes: 4 * 1024 ** 3,
  pids: 1024,
  tmpBytes: 1024 ** 3,
  homeBytes: 256 * 1024 ** 2,
  fileSizeBytes: 4 * 1024 ** 3,
  openFiles: 4096,
  execTimeoutMs: 0,
  sessionTimeoutMs: 0,
  weakLimits: 'refuse',
});

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const TIME_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, '': 1000 };

/** Parses "512m", "2g", "1.5G", "4096" (bytes) into bytes. */
export function parseSize(what: string, value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value > 0) return value;
  } else {
    const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(value.trim());
    if (m !== null) {
      const n = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? NaN);
      if (Number.isFinite(n) && n >= 1) return Math.floor(n);
    }
  }
  throw new AirlockError('E_USAGE', `${what}: ${JSON.stringify(value)} is not a size`, {
    hint: `Write a positive size such as 512m, 2g or 1048576 (bytes).`,
  });
}

/** Parses "30m", "90s", "2h", "500ms" or a bare number of seconds into ms; "0" means none. */
export function parseDuration(what: string, value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
  } else {
    const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|)$/i.exec(value.trim());
    if (m !== null) {
      const n = Number(m[1]) * (TIME_UNITS[(m[2] ?? '').toLowerCase()] ?? NaN);
      if (Number.isFinite(n) && n >= 0) return Math.floor(n);
    }
  }
  throw new AirlockError('E_USAGE', `${what}: ${JSON.stringify(value)} is not a duration`, {
    hint: 'Write a duration such as 500ms, 30s, 30m or 2h (0 for none).',
  });
}

function positiveInt(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new AirlockError('E_USAGE', `${what}: ${String(value)} is out of range`, {
      hint: `Use a whole number from 1 to ${max}.`,
    });
  }
  return value;
}

/** Applies defaults and validates; throws E_USAGE naming the bad option. */
export function resolveLimits(input: LimitsInput = {}): ResolvedLimits {
  const out: ResolvedLimits = { ...DEFAULT_LIMITS };
  if (input.memory !== undefined) out.memoryBytes = parseSize('memory', input.memory);
  if (out.memoryBytes < 16 * 1024 ** 2) {
    throw new AirlockError('E_USAGE', `memory: ${out.memoryBytes} bytes is too little to run anything`, {
      hint: 'Give the session at least 16m.',
    });
  }
  if (input.pids !== undefined) out.pids = positiveInt('pids', input.pids, 4_194_304);
  if (input.cpus !== undefined) {
    if (!(input.cpus > 0 && input.cpus <= 1024)) {
      throw new AirlockError('E_USAGE', `cpus: ${String(input.cpus)} is out of range`, {
        hint: 'Use a number of cores such as 0.5, 1 or 2.',
      });
    }
    out.cpus = input.cpus;
  }
  if (input.tmpSize !== undefined) out.tmpBytes = parseSize('tmp size', input.tmpSize);
  if (input.homeSize !== undefined) out.homeBytes = parseSize('home size', input.homeSize);
  if (input.fileSize !== undefined) out.fileSizeBytes = parseSize('file size', input.fileSize);
  if (input.openFiles !== undefined) out.openFiles = positiveInt('open files', input.openFiles, 1_048_576);
  if (input.execTimeout !== undefined) out.execTimeoutMs = parseDuration('exec timeout', input.execTimeout);
  if (input.sessionTimeout !== undefined) out.sessionTimeoutMs = parseDuration('session timeout', input.sessionTimeout);
  if (input.weakLimits !== undefined) out.weakLimits = input.weakLimits;
  return Object.freeze(out);
}
