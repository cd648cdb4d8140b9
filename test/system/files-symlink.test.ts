/**
 * The file operations behind the MCP file tools (`read_file`, `write_file`, `edit_file`,
 * `list_directory`, `search`) judge the path they touch, not the name they were given: a
 * symlink in the workspace is judged as its target, and a path swapped between the
 * decision and the operation is refused instead of followed. Every case here was a bypass
 * (a lexical check of `/workspace/...` let the operation reach the link's target).
 */
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalQueue, type ApprovalQueue, type ApprovalRecord } from '../../src/approvals/index.js';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import type { AirlockEvent } from '../../src/events/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';
import { TARGETS, title } from './conformance/backends.js';

const POLICY = `
version: 1
approvals:
  timeout: 60
exec: { default: allow }
files:
  read: ['/workspace/**']
  write: ['/workspace/**']
  readLevel: allow
  writeLevel: allow
  deny: ['/workspace/private/**', '/etc/**']
  protectedLevel: deny
  otherwise: { read: ask, write: ask }
`;

afterAll(() => {
  cleanupTemp();
});

for (const target of TARGETS.filter((t) => t.name === 'bwrap' || t.name === 'gvisor')) {
  const backend = target.name;
  describe.skipIf(target.skip !== undefined)(`${title(target)}: file tools`, () => {
    let ws: string;
    let stateDir: string;
    let queue: ApprovalQueue;
    let s: Session;
    const events: AirlockEvent[] = [];

    function nextAsk(): Promise<ApprovalRecord> {
      return new Promise((resolve) => {
        const first = queue.list({ status: 'pending', sessionId: s.id })[0];
        if (first !== undefined) {
          resolve(first);
          return;
        }
        const stop = queue.watch(() => {
          const rec = queue.list({ status: 'pending', sessionId: s.id })[0];
          if (rec !== undefined) {
            stop();
            resolve(rec);
          }
        });
      });
    }

    /** Runs a setup command of the test (not the agent's action under test), approving its asks. */
    async function setup(argv: string[]): Promise<void> {
      const approveAll = (): void => {
        for (const rec of queue.list({ status: 'pending', sessionId: s.id })) {
          // Only the setup's own commands: the file operation under test waits for the test.
          if (rec.action.kind !== 'exec') continue;
          queue.decide(rec.id, {
            decision: 'approve',
            digest: rec.digest,
            by: 'user:test-setup',
            channel: 'test',
          });
        }
      };
      const stop = queue.watch(approveAll);
      try {
        approveAll();
        const r = await s.exec(argv);
        expect(r.exitCode, r.stderr).toBe(0);
      } finally {
        stop();
      }
    }

    beforeAll(async () => {
      ws = tempDir('fsl-ws');
      stateDir = tempDir('fsl-state');
      mkdirSync(join(ws, 'private'));
      writeFileSync(join(ws, 'private', 'key'), 'PRIVATE-KEY-CONTENT\n');
      mkdirSync(join(ws, '.git', 'hooks'), { recursive: true });
      writeFileSync(join(ws, 'notes.txt'), 'hello notes\n');
      // Links as the agent would make them inside (targets are sandbox paths).
      symlinkSync('/workspace/private/key', join(ws, 'key-link'));
      symlinkSync('private', join(ws, 'private-dir'));
      symlinkSync('/etc/passwd', join(ws, 'passwd-link'));
      symlinkSync('/', join(ws, 'root-link'));
      symlinkSync('.git/hooks', join(ws, 'hooks'));
      symlinkSync('/tmp/outside', join(ws, 'outside-link'));
      const policyFile = join(tempDir('fsl-pol'), 'airlock.yaml');
      writeFileSync(policyFile, POLICY);
      queue = createApprovalQueue({
        stateDir,
        validatePolicy: (text, file) => loadPolicy({ text, path: file }),
      });
      s = await createSession({
        workspace: ws,
        stateDir,
        backend,
        policy: loadPolicy({ path: policyFile }),
        approvals: queue,
        // The assertions look at the project from the host.
        workspaceMode: 'direct',
      });
      s.events.subscribe((e) => events.push(e));
    });

    afterAll(async () => {
      await s.destroy();
      queue.close();
    });

    describe('file tools judge the real path', () => {
      it('files.symlink-read: a link to a denied file is judged as the file', async () => {
        await expect(s.readFile('key-link')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        await expect(s.readFile('private-dir/key')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        const d = events.filter((e) => e.type === 'policy.decision').at(-1);
        expect(JSON.stringify(d?.data)).toContain('/workspace/private/key');
      });

      it('files.symlink-read: a link out of the workspace (/etc/passwd, through /) is judged as its target', async () => {
        await expect(s.readFile('passwd-link')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        await expect(s.readFile('root-link/etc/passwd')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
      });

      it('files.symlink-read: a link to a path outside the workspace asks, as that path would', async () => {
        await setup(['sh', '-c', 'echo outside > /tmp/outside']);
        const read = s.readFile('outside-link');
        const ask = await nextAsk();
        // The person sees the name and what it resolves to.
        expect(ask.resolved?.realPath).toBe('/tmp/outside');
        queue.decide(ask.id, { decision: 'deny', by: 'user:test', channel: 'test', reason: 'no' });
        await expect(read).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
      });

      it('files.symlink-write: writing through a linked directory into .git/hooks is judged as .git/hooks', async () => {
        await expect(s.writeFile('hooks/pre-commit', '#!/bin/sh\necho pwned\n')).rejects.toMatchObject({
          code: 'E_POLICY_DENIED',
        });
        expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
        await expect(s.writeFile('private-dir/new', 'x')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        expect(existsSync(join(ws, 'private', 'new'))).toBe(false);
      });

      it('files.symlink-edit: edit_file reads through the same check (a link to a denied file)', async () => {
        // edit_file is readFile + writeFile: the read is refused before anything is written.
        await expect(s.readFile('key-link')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        expect(readFileSync(join(ws, 'private', 'key'), 'utf8')).toBe('PRIVATE-KEY-CONTENT\n');
      });

      it('files.symlink-list: listing a linked directory is judged as the directory it points at', async () => {
        await expect(s.listDirectory('private-dir/')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        await expect(s.listDirectory('private-dir')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        await expect(s.listDirectory('root-link/etc')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
        const list = await s.listDirectory('.');
        expect(list.map((e) => e.name)).toEqual(expect.arrayContaining(['notes.txt', 'key-link']));
      });

      it('files.symlink-search: a linked directory is judged as its target, and hits in unreadable files are withheld', async () => {
        await expect(s.search('PRIVATE', { path: 'private-dir' })).rejects.toMatchObject({
          code: 'E_POLICY_DENIED',
        });
        await expect(s.search('root', { path: 'root-link/etc' })).rejects.toMatchObject({
          code: 'E_POLICY_DENIED',
        });
        // A search of the whole workspace reads private/key inside the sandbox, but its lines
        // are not the agent's to see.
        const hits = await s.search('CONTENT');
        expect(hits.map((h) => h.path)).not.toContain('/workspace/private/key');
        expect(JSON.stringify(hits)).not.toContain('PRIVATE-KEY');
        expect((await s.search('hello')).map((h) => h.path)).toEqual(['/workspace/notes.txt']);
      });

      it('files.no-toctou-read: a file swapped for a link while a person decides is refused, not followed', async () => {
        await setup(['sh', '-c', 'echo harmless > /tmp/swap-read']);
        const read = s.readFile('/tmp/swap-read');
        const ask = await nextAsk();
        expect(ask.resolved?.realPath).toBe('/tmp/swap-read');
        // The agent swaps the judged file for a link to the denied key while the ask waits.
        await setup(['sh', '-c', 'rm /tmp/swap-read && ln -s /workspace/private/key /tmp/swap-read']);
        queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' });
        const err = await read.then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'E_FILE_CHANGED' });
        expect(String(err)).not.toContain('PRIVATE-KEY');
      });

      it('files.no-toctou-write: a directory swapped for a link to .git/hooks while a person decides is refused', async () => {
        await setup(['mkdir', '-p', '/tmp/swap-dir']);
        const write = s.writeFile('/tmp/swap-dir/pre-commit', '#!/bin/sh\necho pwned\n');
        const ask = await nextAsk();
        await setup(['sh', '-c', 'rmdir /tmp/swap-dir && ln -s /workspace/.git/hooks /tmp/swap-dir']);
        queue.decide(ask.id, { decision: 'approve', digest: ask.digest, by: 'user:test', channel: 'test' });
        await expect(write).rejects.toMatchObject({ code: 'E_FILE_CHANGED' });
        expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
      });

      it('plain files still work, and a link whose target is allowed reads its target', async () => {
        symlinkSync('notes.txt', join(ws, 'notes-link'));
        expect((await s.readFile('notes-link')).content.toString()).toBe('hello notes\n');
        await s.writeFile('sub-new.txt', 'new');
        expect(readFileSync(join(ws, 'sub-new.txt'), 'utf8')).toBe('new');
      });
    });
  });
}
