/** resolveFileAction on a real directory tree: symlinks, hard links, FIFOs, missing files. */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide, resolveFileAction } from '../../../src/policy/index.js';
import { CTX, policyNamed } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'airlock-resolve-'));
const ws = join(root, 'ws');
const home = join(root, 'home');
mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
mkdirSync(join(home, '.ssh'), { recursive: true });
writeFileSync(join(home, '.ssh', 'id_rsa'), 'secret');
writeFileSync(join(ws, 'a.txt'), 'a');
symlinkSync('/home/agent/.ssh/id_rsa', join(ws, 'notes.txt'));
symlinkSync('.git/hooks', join(ws, 'h'));
symlinkSync('loop2', join(ws, 'loop1'));
symlinkSync('loop1', join(ws, 'loop2'));
linkSync(join(ws, 'a.txt'), join(ws, 'b.txt'));
execFileSync('mkfifo', [join(ws, 'pipe')]);
const mounts = [
  { sandbox: '/workspace', host: ws },
  { sandbox: '/home/agent', host: home },
];
const policy = policyNamed('default');

describe('resolveFileAction [files.symlink-hardlink]', () => {
  it('follows a symlink to a secret, and decide denies the read', async () => {
    const a = await resolveFileAction({ kind: 'file.read', path: '/workspace/notes.txt' }, mounts);
    expect(a.resolved).toEqual({ realPath: '/home/agent/.ssh/id_rsa', type: 'file', nlink: 1 });
    expect(decide(a, policy, CTX).verdict).toBe('deny');
  });
  it('follows a symlinked directory to a protected path that does not exist yet', async () => {
    const a = await resolveFileAction({ kind: 'file.write', path: 'h/pre-commit' }, mounts);
    expect(a.resolved).toEqual({ realPath: '/workspace/.git/hooks/pre-commit', type: 'missing', nlink: 0 });
    expect(decide(a, policy, CTX).verdict).toBe('ask');
  });
  it('reports hard links, and decide asks before writing one', async () => {
    const a = await resolveFileAction({ kind: 'file.write', path: 'b.txt' }, mounts);
    expect(a.resolved?.nlink).toBe(2);
    expect(decide(a, policy, CTX).verdict).toBe('ask');
  });
  it('stops on symlink loops', async () => {
    const a = await resolveFileAction({ kind: 'file.read', path: 'loop1' }, mounts);
    expect(a.resolved?.type).toBe('symlink');
  });
  it('leaves paths outside every mount unresolved', async () => {
    const a = await resolveFileAction({ kind: 'file.read', path: '/etc/hostname' }, mounts);
    expect(a.resolved).toBeUndefined();
  });
});

describe('special files [files.special-files]', () => {
  it('reports a FIFO, and decide does not treat it as a plain file', async () => {
    const a = await resolveFileAction({ kind: 'file.write', path: 'pipe' }, mounts);
    expect(a.resolved?.type).toBe('fifo');
    expect(['ask', 'deny']).toContain(decide(a, policy, CTX).verdict);
  });
});
