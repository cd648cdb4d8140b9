/**
 * Staging: the sandbox's /workspace is a staged copy; the project is untouched until apply;
 * another process can reopen the staged workspace from its metadata.
 */
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isAirlockError } from '../../../src/errors/index.js';
import { createStagedWorkspace, openStagedWorkspace } from '../../../src/workspace/index.js';
import { isMountPoint } from '../../../src/workspace/overlay.js';
import { cleanup, overlaySkip, plainProject, read, stage, STRATEGIES, tmp } from './helpers.js';

afterAll(cleanup);

describe.each(STRATEGIES)('staging with %s', (strategy) => {
  it('shows the project at /workspace and keeps every write away from the project [workspace.project-untouched]', async () => {
    const project = plainProject({ 'a.txt': 'alpha\n', 'src/b.ts': 'export const b = 1;\n' });
    const ws = await stage(project, strategy);
    expect(ws.strategy).toBe(strategy);
    expect(read(join(ws.mountDir, 'a.txt'))).toBe('alpha\n');
    expect(read(join(ws.mountDir, 'src/b.ts'))).toBe('export const b = 1;\n');

    writeFileSync(join(ws.mountDir, 'a.txt'), 'changed by the agent\n');
    writeFileSync(join(ws.mountDir, 'new.txt'), 'new\n');
    rmSync(join(ws.mountDir, 'src/b.ts'));

    expect(read(join(project, 'a.txt'))).toBe('alpha\n');
    expect(existsSync(join(project, 'new.txt'))).toBe(false);
    expect(read(join(project, 'src/b.ts'))).toBe('export const b = 1;\n');

    const set = await ws.changes();
    expect(set.changes.map((c) => [c.path, c.status])).toEqual([
      ['a.txt', 'modified'],
      ['new.txt', 'added'],
      ['src/b.ts', 'deleted'],
    ]);
    expect(set.conflicts).toEqual([]);
    await ws.discard();
  });

  it('can be reopened by another instance from the metadata alone, before and after seal', async () => {
    const project = plainProject({ 'a.txt': 'one\n' });
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'a.txt'), 'two\n');
    const again = openStagedWorkspace(ws.stagingDir);
    expect(again.projectDir).toBe(ws.projectDir);
    expect(again.mountDir).toBe(ws.mountDir);
    expect((await again.changes()).changes.map((c) => c.path)).toEqual(['a.txt']);

    await ws.seal();
    expect(await again.state()).toBe('sealed');
    if (strategy === 'overlay') expect(isMountPoint(ws.mountDir)).toBe(false);
    const third = openStagedWorkspace(ws.stagingDir);
    expect((await third.changes()).changes.map((c) => c.path)).toEqual(['a.txt']);
    const r = await third.apply();
    expect(r.status).toBe('applied');
    expect(read(join(project, 'a.txt'))).toBe('two\n');
    await third.discard();
    expect(existsSync(ws.stagingDir)).toBe(false);
  });

  it('discard removes the staged tree and leaves the project as it was', async () => {
    const project = plainProject({ 'keep.txt': 'keep\n', 'd/e.txt': 'e\n' });
    const before = statSync(join(project, 'keep.txt'));
    const ws = await stage(project, strategy);
    writeFileSync(join(ws.mountDir, 'keep.txt'), 'agent\n');
    rmSync(join(ws.mountDir, 'd'), { recursive: true });
    await ws.discard();
    expect(existsSync(ws.stagingDir)).toBe(false);
    expect(isMountPoint(ws.mountDir)).toBe(false);
    expect(read(join(project, 'keep.txt'))).toBe('keep\n');
    expect(read(join(project, 'd/e.txt'))).toBe('e\n');
    expect(statSync(join(project, 'keep.txt')).mtimeMs).toBe(before.mtimeMs);
    await expect(ws.changes()).rejects.toMatchObject({ code: 'E_WORKSPACE_NOT_FOUND' });
  });

  it('keeps the staging directory private (0700) [workspace.private-staging]', async () => {
    const ws = await stage(plainProject({ x: 'x' }), strategy);
    expect(statSync(ws.stagingDir).mode & 0o777).toBe(0o700);
    expect(lstatSync(join(ws.stagingDir, 'workspace.json')).mode & 0o777).toBe(0o600);
    await ws.discard();
  });
});

describe('strategies available here', () => {
  it.skipIf(overlaySkip !== null)(
    `runs every shared test with the overlay strategy too${overlaySkip === null ? '' : ` (skipped: ${overlaySkip})`}`,
    () => {
      expect(STRATEGIES).toEqual(['overlay', 'copy']);
    },
  );
});

describe('staging validation', () => {
  it('refuses a staging root inside the project, but not a sibling with a common prefix [workspace.private-staging]', async () => {
    const project = plainProject({ a: 'a' });
    const err: unknown = await createStagedWorkspace({
      projectDir: project,
      stagingRoot: join(project, '.airlock'),
      sessionId: 'x',
    }).catch((e: unknown) => e);
    expect(isAirlockError(err) && err.code).toBe('E_WORKSPACE_INVALID');
    expect(existsSync(join(project, '.airlock', 'x'))).toBe(false);
    // "/tmp/p" and "/tmp/p_evil" share a string prefix, not a directory.
    const sibling = `${project}_evil`;
    mkdirSync(sibling);
    try {
      const ws = await createStagedWorkspace({
        projectDir: project,
        stagingRoot: sibling,
        sessionId: 'y',
        strategy: 'copy',
      });
      expect(ws.stagingDir).toBe(join(sibling, 'y'));
      await ws.discard();
    } finally {
      rmSync(sibling, { recursive: true, force: true });
    }
  });

  it('refuses bad session ids and an existing session', async () => {
    const project = plainProject({ a: 'a' });
    const root = tmp('staging');
    for (const id of ['../x', 'a/b', '', '.hidden', 'a..b']) {
      await expect(
        createStagedWorkspace({ projectDir: project, stagingRoot: root, sessionId: id }),
      ).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    }
    const ws = await createStagedWorkspace({
      projectDir: project,
      stagingRoot: root,
      sessionId: 'dup',
      strategy: 'copy',
    });
    await expect(
      createStagedWorkspace({ projectDir: project, stagingRoot: root, sessionId: 'dup' }),
    ).rejects.toMatchObject({ code: 'E_SESSION_EXISTS' });
    await ws.discard();
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses a missing project and a file as project', async () => {
    const root = tmp('staging');
    await expect(
      createStagedWorkspace({ projectDir: join(root, 'nope'), stagingRoot: root, sessionId: 'a' }),
    ).rejects.toMatchObject({ code: 'E_WORKSPACE_INVALID' });
    const f = join(tmp('file'), 'f');
    writeFileSync(f, 'x');
    await expect(
      createStagedWorkspace({ projectDir: f, stagingRoot: root, sessionId: 'b' }),
    ).rejects.toMatchObject({ code: 'E_WORKSPACE_INVALID' });
  });

  it('auto picks overlay where this process may mount it, else a copy with the reason', async () => {
    const ws = await createStagedWorkspace({
      projectDir: plainProject({ a: 'a' }),
      stagingRoot: tmp('staging'),
      sessionId: 'auto',
    });
    if (overlaySkip === null) expect(ws.strategy).toBe('overlay');
    else {
      expect(ws.strategy).toBe('copy');
      expect(ws.strategyReason).toContain(overlaySkip);
    }
    await ws.discard();
  });

  it('records the metadata another process needs', async () => {
    const project = plainProject({ a: 'a' });
    const ws = await stage(project, 'copy');
    const meta = JSON.parse(readFileSync(join(ws.stagingDir, 'workspace.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(meta['projectDir']).toBe(project);
    expect(meta['strategy']).toBe('copy');
    expect(meta['state']).toBe('active');
    expect(meta['agent']).toEqual({ name: 'Test Agent', email: 'agent@example.com' });
    writeFileSync(join(ws.stagingDir, 'workspace.json'), JSON.stringify({ ...meta, extra: 1 }));
    expect(() => openStagedWorkspace(ws.stagingDir)).toThrow(/extra|Unrecognized/);
    writeFileSync(join(ws.stagingDir, 'workspace.json'), JSON.stringify(meta));
    await ws.discard();
  });
});
