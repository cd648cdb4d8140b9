import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, parseDuration, parseSize, resolveLimits } from '../../src/session/index.js';

describe('limits', () => {
  it('parses sizes', () => {
    expect(parseSize('m', '512m')).toBe(512 * 1024 ** 2);
    expect(parseSize('m', '2g')).toBe(2 * 1024 ** 3);
    expect(parseSize('m', '1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('m', '4096')).toBe(4096);
    expect(parseSize('m', '64MiB')).toBe(64 * 1024 ** 2);
    for (const bad of ['', 'lots', '-1g', '0', '1x', '1e9']) {
      expect(() => parseSize('memory', bad), bad).toThrow(expect.objectContaining({ code: 'E_USAGE' }));
    }
  });

  it('parses durations', () => {
    expect(parseDuration('t', '30m')).toBe(1_800_000);
    expect(parseDuration('t', '500ms')).toBe(500);
    expect(parseDuration('t', '2h')).toBe(7_200_000);
    expect(parseDuration('t', '90')).toBe(90_000);
    expect(parseDuration('t', '0')).toBe(0);
    expect(() => parseDuration('timeout', 'soon')).toThrow(/timeout: "soon" is not a duration/);
  });

  it('applies defaults and validates', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({ memory: '2g', pids: 10, cpus: 0.5 })).toMatchObject({ memoryBytes: 2 * 1024 ** 3, pids: 10, cpus: 0.5 });
    expect(() => resolveLimits({ pids: 0 })).toThrow(/pids: 0 is out of range/);
    expect(() => resolveLimits({ cpus: -1 })).toThrow(/cpus/);
    expect(() => resolveLimits({ memory: '1m' })).toThrow(/too little/);
    expect(Object.isFrozen(resolveLimits())).toBe(true);
  });
});
