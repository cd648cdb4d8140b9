import { describe, expect, it } from 'vitest';
import { applyEdit, countOccurrences, lineDelta } from '../../src/mcp/index.js';

describe('edit_file replacement', () => {
  it('replaces a unique string', () => {
    expect(applyEdit('a\nb\nc\n', 'b', 'B')).toEqual({ text: 'a\nB\nc\n', replacements: 1 });
  });
  it('fails when absent, empty, unchanged or ambiguous', () => {
    expect(() => applyEdit('abc', 'x', 'y')).toThrow(/does not occur/);
    expect(() => applyEdit('abc', '', 'y')).toThrow(/empty/);
    expect(() => applyEdit('abc', 'b', 'b')).toThrow(/the same/);
    expect(() => applyEdit('b b', 'b', 'c')).toThrow(/occurs 2 times/);
  });
  it('replaces every occurrence only when asked', () => {
    expect(applyEdit('b b', 'b', 'c', true)).toEqual({ text: 'c c', replacements: 2 });
  });
  it('counts non-overlapping occurrences and line changes', () => {
    expect(countOccurrences('aaaa', 'aa')).toBe(2);
    expect(lineDelta('a\nb\nc', 'a\nB\nc\nd')).toEqual({ added: 2, removed: 1 });
  });
});
