/**
 * No setuid or setgid file can be made in the sandbox. Where airlock runs as root, the
 * sandbox user is the host's root under the user-namespace mapping, so such a file left in
 * the project would run as root for whoever starts it on the host.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => { cleanupTemp(); });

describe('setid files', () => {
  it('sandbox.no-new-privs: chmod u+s, g+s and install -m 4755 fail; the project gets no setid file', async () => {
    const ws = tempDir('setid');
    // direct: a setid file must not appear in the project itself (staged runs never apply setid bits either).
    const s = await createSession({ workspace: ws, stateDir: tempDir('state'), workspaceMode: 'direct' });
    try {
      const r = await s.exec([
        '/bin/sh',
        '-c',
        'cp /bin/true t; chmod u+s t; echo "u=$?"; chmod g+s t; echo "g=$?"; install -m 4755 /bin/true t2; echo "i=$?"; chmod 755 t; echo "plain=$?"',
      ]);
      expect(r.stdout).toMatch(/u=1\n/);
      expect(r.stdout).toMatch(/g=1\n/);
      expect(r.stdout).toMatch(/i=1\n/);
      expect(r.stdout).toMatch(/plain=0\n/);
      for (const f of ['t', 't2']) {
        const p = join(ws, f);
        if (existsSync(p)) expect(statSync(p).mode & 0o6000, f).toBe(0);
      }
      const py = await s.exec(['/usr/bin/python3', '-c', 'import os; fd = os.open("/workspace/t3", os.O_CREAT | os.O_WRONLY, 0o4755); print(oct(os.fstat(fd).st_mode))']);
      expect(py.stdout + py.stderr).toMatch(/PermissionError|Operation not permitted/);
    } finally {
      await s.destroy();
    }
  });
});
