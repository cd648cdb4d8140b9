/**
 * The workspace commands wired to real staged workspaces through `resolveWorkspace`,
 * run in-process with commander (exit statuses and output captured by injected sinks).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAuthor, register } from '../../../src/cli/commands/workspace.js';
import { AirlockError } from '../../../src/errors/index.js';
import { openStagedWorkspace, type StagedWorkspace } from '../../../src/workspace/index.js';
import { cleanup, gitIn, gitProject, plainProject, read, stage } from './helpers.js';

afterAll(cleanup);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function airlock(workspaces: Map<string, string>, args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code = 0;
  const program = new Command().exitOverride();
  register(program, {
    resolveWorkspace: (id) => {
      const dir = workspaces.get(id);
      if (dir === undefined) {
        return Promise.reject(
          new AirlockError('E_SESSION_NOT_FOUND', `no session ${JSON.stringify(id)}`, {
            hint: 'List sessions with `airlock session ls`.',
          }),
        );
      }
      // A fresh instance per command, as a separate CLI process would have.
      return Promise.resolve(openStagedWorkspace(dir));
    },
    setExit: (c) => {
      code = c;
    },
    io: { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
    env: {},
  });
  await program.parseAsync(args, { from: 'user' });
  return { code, stdout, stderr };
}

async function session(ws: StagedWorkspace, map: Map<string, string>, name: string): Promise<void> {
  map.set(name, ws.stagingDir);
  await ws.seal();
}

describe('airlock diff, apply, discard, export', () => {
  it('diff prints a patch, --stat a summary and --json one document', async () => {
    const map = new Map<string, string>();
    const project = plainProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, 'copy');
    writeFileSync(join(ws.mountDir, 'a.txt'), 'b\n');
    mkdirSync(join(ws.mountDir, '.vscode'));
    writeFileSync(join(ws.mountDir, '.vscode/settings.json'), '{}\n');
    await session(ws, map, 'one');

    const patch = await airlock(map, ['diff', 'one']);
    expect(patch.code).toBe(0);
    expect(patch.stdout).toContain('diff --git a/a.txt b/a.txt');
    expect(patch.stdout).toContain('# airlock: PROTECTED .vscode/settings.json');
    expect(patch.stdout).not.toContain('\u001b[');

    const stat = await airlock(map, ['diff', 'one', '--stat']);
    expect(stat.stdout).toMatch(/a\.txt\s+\| 2 \+-/);
    expect(stat.stdout).not.toContain('diff --git');

    const json = await airlock(map, ['diff', 'one', '--json']);
    const doc = JSON.parse(json.stdout) as {
      totals: { files: number; protected: number };
      files: { path: string }[];
      patch: string;
    };
    expect(doc.totals).toMatchObject({ files: 2, protected: 2 });
    expect(doc.files.map((f) => f.path)).toEqual(['.vscode/settings.json', 'a.txt']);
    expect(doc.patch).toContain('diff --git');
    const statJson = JSON.parse((await airlock(map, ['diff', 'one', '--stat', '--json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(statJson['patch']).toBeUndefined();
  });

  it('apply exits 1 with a report when refused, 0 once allowed; discard removes the staging', async () => {
    const map = new Map<string, string>();
    const project = plainProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, 'copy');
    writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
    writeFileSync(join(ws.mountDir, '.mcp.json'), '{}\n');
    await session(ws, map, 's');

    const refused = await airlock(map, ['apply', 's']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('apply refused');
    expect(refused.stdout).toContain('protected  .mcp.json  [agent-config]');
    expect(refused.stdout).toContain('airlock apply s --allow-protected');
    expect(read(join(project, 'a.txt'))).toBe('a\n');

    const stale = await airlock(map, ['apply', 's', '--allow-protected', '--fingerprint', '0'.repeat(32)]);
    expect(stale.code).toBe(1);
    expect(stale.stdout).toContain('no longer the ones with that fingerprint');
    const fp = (JSON.parse((await airlock(map, ['diff', 's', '--json'])).stdout) as { fingerprint: string })
      .fingerprint;

    const dry = await airlock(map, [
      'apply',
      's',
      '--allow-protected',
      '--dry-run',
      '--json',
      '--fingerprint',
      fp,
    ]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ status: 'applied', dryRun: true });
    expect(read(join(project, 'a.txt'))).toBe('a\n');

    const ok = await airlock(map, ['apply', 's', '--allow-protected']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^Applied: 2 written, 0 deleted/);
    expect(read(join(project, 'a.txt'))).toBe('agent\n');

    const gone = await airlock(map, ['discard', 's', '--json']);
    expect(JSON.parse(gone.stdout)).toEqual({ sessionId: ws.sessionId, discarded: true });
    expect(existsSync(ws.stagingDir)).toBe(false);
    const after = await airlock(map, ['diff', 's']);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/^airlock: E_WORKSPACE_NOT_FOUND: /);
    expect(after.stderr).toContain('hint: ');
  });

  it('apply exits 1 on conflicts and names them', async () => {
    const map = new Map<string, string>();
    const project = plainProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, 'copy');
    writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
    writeFileSync(join(project, 'a.txt'), 'user\n');
    await session(ws, map, 'c');
    const r = await airlock(map, ['apply', 'c', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'refused',
      reason: 'conflicts',
      conflicts: [{ path: 'a.txt', kind: 'changed-in-project' }],
    });
  });

  it('export creates a branch with the given author; errors exit 2 with code and hint', async () => {
    const map = new Map<string, string>();
    const project = gitProject({ 'a.txt': 'a\n' });
    const ws = await stage(project, 'copy');
    writeFileSync(join(ws.mountDir, 'a.txt'), 'agent\n');
    await session(ws, map, 'g');
    const r = await airlock(map, [
      'export',
      'g',
      '--branch',
      'agent/one',
      '--author',
      'Codex <codex@example.com>',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Created branch agent/one');
    expect(gitIn(project, ['log', '-1', '--format=%an <%ae>', 'agent/one']).trim()).toBe(
      'Codex <codex@example.com>',
    );

    const again = await airlock(map, ['export', 'g', '--branch', 'agent/one']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('airlock: E_WORKSPACE_BRANCH:');
    const json = await airlock(map, ['export', 'g', '--branch', 'agent/one', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'E_WORKSPACE_BRANCH' } });
    const badAuthor = await airlock(map, ['export', 'g', '--branch', 'x', '--author', 'no email']);
    expect(badAuthor.code).toBe(2);
    expect(badAuthor.stderr).toContain('E_USAGE');
    const missing = await airlock(map, ['apply', 'nope']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('airlock: E_SESSION_NOT_FOUND: no session "nope"');
  });

  it('parses authors', () => {
    expect(parseAuthor('Claude <a@b.c>')).toEqual({ name: 'Claude', email: 'a@b.c' });
    expect(() => parseAuthor('<a@b.c>')).toThrow(/Name <email>/);
    expect(() => parseAuthor('x <a b>')).toThrow(/Name <email>/);
  });
});
