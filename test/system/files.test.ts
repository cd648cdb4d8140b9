/**
 * File operations of a session run inside the sandbox, so paths resolve in its view.
 */
import { existsSync, lstatSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

let s: Session;
let ws: string;

beforeAll(async () => {
  ws = tempDir('files');
  writeFileSync(join(ws, 'a.txt'), 'alpha\nneedle here\n');
  // direct: these tests look at the project from the host right after a write.
  s = await createSession({ workspace: ws, stateDir: tempDir('state'), workspaceMode: 'direct' });
});
afterAll(async () => {
  await s.destroy();
  cleanupTemp();
});

describe('session file operations', () => {
  it('reads, writes atomically, lists and searches', async () => {
    expect((await s.readFile('a.txt')).content.toString()).toBe('alpha\nneedle here\n');
    await s.writeFile('dir-less.txt', Buffer.from([0, 1, 2, 255]));
    expect([...readFileSync(join(ws, 'dir-less.txt'))]).toEqual([0, 1, 2, 255]);
    await s.writeFile('/workspace/odd name; rm -rf $HOME`x`.txt', 'safe');
    expect(readFileSync(join(ws, 'odd name; rm -rf $HOME`x`.txt'), 'utf8')).toBe('safe');
    const list = await s.listDirectory('.');
    expect(list.map((e) => e.name)).toEqual(expect.arrayContaining(['a.txt', 'dir-less.txt']));
    expect(list.find((e) => e.name === 'a.txt')).toMatchObject({ type: 'file', size: 18 });
    const hits = await s.search('needle');
    expect(hits).toEqual([{ path: '/workspace/a.txt', line: 2, text: 'needle here' }]);
    expect(await s.search('absent-string')).toEqual([]);
    const t = await s.readFile('a.txt', { maxBytes: 5 });
    expect(t).toMatchObject({ truncated: true });
    expect(t.content.toString()).toBe('alpha');
  });

  it('sandbox.no-host-secrets: a symlink to a host secret resolves inside the sandbox view', async () => {
    symlinkSync('/etc/shadow', join(ws, 'shadow-link'));
    await expect(s.readFile('shadow-link')).rejects.toMatchObject({ code: 'E_EXEC_FAILED' });
    await expect(s.readFile('/etc/shadow')).rejects.toThrow(/No such file/);
    // Writing to a link replaces the link (rename), never follows it to the host.
    symlinkSync('/etc/airlock-should-not-exist', join(ws, 'etc-link'));
    await s.writeFile('etc-link', 'x');
    expect(lstatSync(join(ws, 'etc-link')).isFile()).toBe(true);
    expect(existsSync('/etc/airlock-should-not-exist')).toBe(false);
  });
});
