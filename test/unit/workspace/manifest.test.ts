/**
 * The baseline manifest: identity rules and the on-disk format.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  childrenIndex,
  parseSnapshot,
  permOf,
  sameIdentity,
  serializeSnapshot,
  typeOfMode,
  type ManifestEntry,
  type TreeSnapshot,
} from '../../../src/workspace/manifest.js';
import { quoteFastImportPath } from '../../../src/workspace/git.js';

const file: ManifestEntry = {
  mode: 0o100644,
  size: 10,
  mtimeMs: 1700000000123.457,
  ctimeMs: 1700000000123.457,
  ino: 42,
  nlink: 1,
};
const dir: ManifestEntry = { mode: 0o040755, size: 4096, mtimeMs: 1, ctimeMs: 1, ino: 7, nlink: 2 };

describe('identity', () => {
  it('a file is the same only when mode, size, times and inode all match', () => {
    expect(sameIdentity(file, { ...file })).toBe(true);
    expect(sameIdentity(file, { ...file, nlink: 2 })).toBe(true);
    for (const k of ['mode', 'size', 'mtimeMs', 'ctimeMs', 'ino'] as const) {
      expect(sameIdentity(file, { ...file, [k]: file[k] + 1 })).toBe(false);
    }
  });

  it('a directory is the same while its type and mode are (its times move with its children)', () => {
    expect(sameIdentity(dir, { ...dir, size: 8192, mtimeMs: 5, ctimeMs: 5, ino: 8 })).toBe(true);
    expect(sameIdentity(dir, { ...dir, mode: 0o040700 })).toBe(false);
  });

  it('knows every file type', () => {
    expect([0o100644, 0o040755, 0o120777, 0o010644, 0o140755, 0o020666, 0o060660].map(typeOfMode)).toEqual([
      'file',
      'directory',
      'symlink',
      'fifo',
      'socket',
      'char-device',
      'block-device',
    ]);
    expect(permOf(0o104755)).toBe(0o4755);
  });
});

describe('format', () => {
  it('round-trips exactly, fractional times included (property)', () => {
    const entry = fc.record({
      mode: fc.constantFrom(0o100644, 0o100755, 0o040755, 0o120777),
      size: fc.nat(),
      mtimeMs: fc.double({ min: 0, max: 4e12, noNaN: true }),
      ctimeMs: fc.double({ min: 0, max: 4e12, noNaN: true }),
      ino: fc.nat(),
      nlink: fc.nat(),
    });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), entry), (rows) => {
        const snap: TreeSnapshot = {
          entries: new Map(Object.entries(rows)),
          root: dir,
          dev: 66,
          mounts: ['m'],
          unrepresentable: [],
        };
        const back = parseSnapshot(serializeSnapshot(snap));
        expect([...back.entries]).toEqual([...snap.entries]);
        expect(back.root).toEqual(dir);
        expect(back.mounts).toEqual(['m']);
      }),
    );
  });

  it('refuses malformed manifests with a reason', () => {
    expect(() => parseSnapshot('{"version":2}')).toThrow(/version/);
    expect(() => parseSnapshot('{"version":1,"entries":["a",1]}')).toThrow(/not a list of entries/);
    expect(() => parseSnapshot('{"version":1,"entries":[1,2,3,4,5,6,7]}')).toThrow(/malformed/);
    expect(() => parseSnapshot('{"version":1,"entries":["a",1,2,3,4,5,"x"]}')).toThrow(/not a number/);
    expect(() =>
      parseSnapshot(
        '{"version":1,"entries":[],"root":[1,2,3,4,5,"x"],"dev":1,"mounts":[],"unrepresentable":[]}',
      ),
    ).toThrow(/not a number/);
    expect(() => parseSnapshot('[]')).toThrow();
  });

  it('indexes children by parent', () => {
    const idx = childrenIndex(
      new Map([
        ['a', dir],
        ['a/b', file],
        ['a/c', dir],
        ['a/c/d', file],
        ['e', file],
      ]),
    );
    expect(idx.get('')).toEqual(['a', 'e']);
    expect(idx.get('a')).toEqual(['a/b', 'a/c']);
    expect(idx.get('a/c')).toEqual(['a/c/d']);
  });
});

describe('fast-import path quoting', () => {
  it('quotes everything git could misread', () => {
    expect(quoteFastImportPath('a b.txt')).toBe('"a b.txt"');
    expect(quoteFastImportPath('q"uote\\back')).toBe('"q\\"uote\\\\back"');
    expect(quoteFastImportPath('new\nline\ttab')).toBe('"new\\nline\\011tab"');
    expect(quoteFastImportPath('café')).toBe('"caf\\303\\251"');
  });

  it('produces only printable ASCII (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        expect(quoteFastImportPath(s)).toMatch(/^"[\x20-\x7e]*"$/);
      }),
    );
  });
});
