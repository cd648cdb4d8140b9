/**
 * The no-follow primitives apply and diff stand on: a symlinked parent, a swapped file,
 * a FIFO or a device is refused without being opened.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DirCache,
  isChainFailure,
  openDirChain,
  openRegularAt,
  openRoot,
  readAllExactly,
} from '../../../src/workspace/safe-fs.js';
import { cleanup, tmp } from './helpers.js';

afterAll(cleanup);

describe('safe-fs', () => {
  it('refuses a symlinked directory on the way, however deep [workspace.no-symlink-escape]', () => {
    const root = tmp('safe');
    const outside = tmp('outside');
    mkdirSync(join(root, 'a/b'), { recursive: true });
    symlinkSync(outside, join(root, 'a/b/evil'));
    symlinkSync(outside, join(root, 'top'));
    const r = openRoot(root);
    try {
      const h1 = openDirChain(r, ['a', 'b', 'evil']);
      expect(isChainFailure(h1) && h1).toEqual({ reason: 'symlink', at: 'a/b/evil' });
      const h2 = openDirChain(r, ['top', 'x']);
      expect(isChainFailure(h2) && h2).toEqual({ reason: 'symlink', at: 'top' });
      const cache = new DirCache(openRoot(root));
      expect(() => cache.dir('a/b/evil')).toThrow(/no longer a plain directory \(symlink\)/);
      cache.close();
    } finally {
      r.close();
    }
  });

  it('opens only the regular file with the inode it was told [workspace.no-special-files]', async () => {
    const root = tmp('safe');
    writeFileSync(join(root, 'f'), 'content');
    writeFileSync(join(root, 'g'), 'other');
    symlinkSync('f', join(root, 'link'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    const r = openRoot(root);
    try {
      const { fh, stat } = await openRegularAt(r, 'f', 'f');
      expect((await readAllExactly(fh, stat.size, 'f')).toString()).toBe('content');
      await fh.close();
      await expect(openRegularAt(r, 'link', 'link')).rejects.toMatchObject({ code: 'E_WORKSPACE_RACE' });
      // A FIFO would block an ordinary open forever; this returns at once.
      await expect(openRegularAt(r, 'fifo', 'fifo')).rejects.toMatchObject({ code: 'E_WORKSPACE_RACE' });
      await expect(openRegularAt(r, 'f', 'f', stat.ino + 1)).rejects.toMatchObject({
        code: 'E_WORKSPACE_RACE',
      });
      if (process.geteuid?.() === 0) {
        execFileSync('mknod', [join(root, 'zero'), 'c', '1', '5']);
        await expect(openRegularAt(r, 'zero', 'zero')).rejects.toMatchObject({ code: 'E_WORKSPACE_RACE' });
      }
    } finally {
      r.close();
    }
  });

  it('notices a file that grew or shrank since it was scanned', async () => {
    const root = tmp('safe');
    writeFileSync(join(root, 'f'), '12345');
    const r = openRoot(root);
    try {
      const a = await openRegularAt(r, 'f', 'f');
      await expect(readAllExactly(a.fh, 3, 'f')).rejects.toMatchObject({ code: 'E_WORKSPACE_RACE' });
      await a.fh.close();
      const b = await openRegularAt(r, 'f', 'f');
      await expect(readAllExactly(b.fh, 9, 'f')).rejects.toMatchObject({ code: 'E_WORKSPACE_RACE' });
      await b.fh.close();
    } finally {
      r.close();
    }
  });
});
