/**
 * The staging-time walk: every entry recorded with its identity, nothing followed, no other
 * file system entered, names that are not UTF-8 listed.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { entryOf, parseSnapshot, serializeFlat, walkFlat } from '../../../src/workspace/manifest.js';
import { cleanup, tmp } from './helpers.js';

afterAll(cleanup);

function tree(): string {
  const root = tmp('walk');
  for (let a = 0; a < 20; a++) {
    const d = join(root, `a${a}`, 'b');
    mkdirSync(d, { recursive: true });
    for (let f = 0; f < 5; f++) writeFileSync(join(d, `f${f}.txt`), 'x'.repeat(a + f));
  }
  symlinkSync('a0/b/f0.txt', join(root, 'link'));
  symlinkSync('/etc', join(root, 'a1/out'));
  execFileSync('mkfifo', [join(root, 'a2/fifo')]);
  writeFileSync(Buffer.concat([Buffer.from(`${root}/a3/`), Buffer.from([0xff])]), 'bad name');
  mkdirSync(join(root, 'empty'));
  return root;
}

describe('walkFlat', () => {
  it('records every entry with its lstat identity and follows no symlink', async () => {
    const root = tree();
    const s = parseSnapshot(serializeFlat(await walkFlat(root, { yieldEvery: 7 })));
    // 20 a*, 20 a*/b, 100 files, link, out, fifo, empty.
    expect(s.entries.size).toBe(20 + 20 + 100 + 4);
    for (const p of ['link', 'a1/out', 'a2/fifo', 'a0/b/f3.txt', 'empty']) {
      expect(s.entries.get(p)).toEqual(entryOf(lstatSync(join(root, p))));
    }
    expect([...s.entries.keys()].some((p) => p.startsWith('a1/out/'))).toBe(false);
    expect(s.unrepresentable).toEqual(['a3/\uFFFD']);
    expect(s.root).toEqual(entryOf(lstatSync(root)));
  });

  it.skipIf(process.geteuid?.() !== 0)(
    'does not enter another file system mounted inside (needs root to mount) [workspace.no-mount-crossing]',
    async () => {
      const root = tree();
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(root, 'a5')]);
      try {
        writeFileSync(join(root, 'a5/hidden.txt'), 'x');
        const s = parseSnapshot(serializeFlat(await walkFlat(root)));
        expect(s.mounts).toEqual(['a5']);
        expect(s.entries.has('a5')).toBe(true);
        expect(s.entries.has('a5/hidden.txt')).toBe(false);
      } finally {
        execFileSync('umount', [join(root, 'a5')]);
      }
    },
  );
});
