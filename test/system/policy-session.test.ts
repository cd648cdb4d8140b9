/**
 * The policy wired into the session: decide first, deny never reaches the sandbox, ask with
 * no approval channel fails closed, the result carries the decision, and file operations
 * are judged as file actions.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, type Session } from '../../src/index.js';
import { loadPolicy } from '../../src/policy/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

const POLICY = `
version: 1
exec:
  default: deny
`;

let s: Session;
let ws: string;
let policyText: string;

beforeAll(async () => {
  ws = tempDir('pol');
  // The default preset: normal work runs, destructive or outbound things ask.
  policyText = (await import('../../src/policy/index.js')).presetText('default');
  writeFileSync(join(ws, 'airlock.yaml'), policyText);
  s = await createSession({ workspace: ws, stateDir: tempDir('state'), policy: loadPolicy({ path: join(ws, 'airlock.yaml') }) });
});
afterAll(async () => {
  await s.destroy();
  cleanupTemp();
});

describe('policy in the session', () => {
  it('policy.wired-into-session: an allowed command runs and carries its decision', async () => {
    const r = await s.exec(['ls', '-la']);
    expect(r.exitCode).toBe(0);
    expect(r.decision?.verdict).toMatch(/allow|log/);
  });

  it('policy.wired-into-session: a denied or asked command never reaches the sandbox', async () => {
    await expect(s.exec(['/bin/sh', '-c', 'curl -s http://example.com > /workspace/should-not-exist'])).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
    await expect(s.exec(['git', 'push', '--force', 'origin', 'main'])).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
    expect(existsSync(join(ws, 'should-not-exist'))).toBe(false);
    expect(existsSync(join(ws, 'airlock.yaml'))).toBe(true);
  });

  it('policy.wired-into-session: file operations are judged as file actions', async () => {
    await expect(s.writeFile('.git/hooks/pre-commit', '#!/bin/sh\necho pwned\n')).rejects.toMatchObject({ code: 'E_POLICY_DENIED' });
    expect(existsSync(join(ws, '.git', 'hooks', 'pre-commit'))).toBe(false);
    expect((await s.readFile('airlock.yaml')).content.toString()).toBe(policyText);
  });

  it('an invalid policy file stops the CLI run, never falls back', () => {
    const bad = tempDir('badpol');
    writeFileSync(join(bad, 'airlock.yaml'), POLICY.replace('default: deny', 'defualt: deny'));
    const r = spawnSync(process.execPath, [CLI, 'run', '--workspace', bad, '--', 'true'], {
      env: { PATH: process.env['PATH'] ?? '', AIRLOCK_HOME: tempDir('h') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/E_POLICY_INVALID/);
  });
});
