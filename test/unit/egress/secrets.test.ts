/**
 * Secret references and their resolution on the host: env, file, and a real child
 * program run without a shell. Errors name the reference, never the value.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isAirlockError } from '../../../src/errors/index.js';
import { parseSecretRef, resolveSecret } from '../../../src/egress/secrets.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airlock-secrets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; hint: string }> {
  try {
    await p;
  } catch (err) {
    if (isAirlockError(err)) return { code: err.code, message: err.message, hint: err.hint };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('parseSecretRef', () => {
  it('parses the three forms', () => {
    expect(parseSecretRef('env:GITHUB_TOKEN')).toEqual({ kind: 'env', name: 'GITHUB_TOKEN' });
    expect(parseSecretRef('file:/run/secrets/token')).toEqual({ kind: 'file', path: '/run/secrets/token' });
    expect(parseSecretRef('file:~/.config/gh/token')).toEqual({
      kind: 'file',
      path: join(homedir(), '.config/gh/token'),
    });
    expect(parseSecretRef('command:["op","read","op://vault/gh/token"]')).toEqual({
      kind: 'command',
      argv: ['op', 'read', 'op://vault/gh/token'],
    });
    expect(parseSecretRef('command:gh auth token')).toEqual({
      kind: 'command',
      argv: ['gh', 'auth', 'token'],
    });
  });

  it.each([
    ['GITHUB_TOKEN', 'is not a secret reference (expected env:, file: or command:)'],
    ['env:', 'does not name an environment variable'],
    ['env:A-B', 'does not name an environment variable'],
    ['file:relative/path', 'does not name an absolute file path (or one under "~/")'],
    ['command:', 'does not name a command'],
    ['command:["a",1]', 'does not name a command'],
    ['command:[oops', 'is not a JSON array of strings after "command:"'],
    ['vault:x', 'is not a secret reference (expected env:, file: or command:)'],
  ])('refuses %s with E_CONFIG_INVALID', (ref, why) => {
    let caught: unknown;
    try {
      parseSecretRef(ref, 'egress.credentials[0].secret');
    } catch (err) {
      caught = err;
    }
    expect(isAirlockError(caught) && caught.code).toBe('E_CONFIG_INVALID');
    expect(isAirlockError(caught) && caught.message).toBe(`egress.credentials[0].secret: "${ref}" ${why}`);
  });
});

describe('[egress.secret-resolve] resolveSecret', () => {
  it('reads env, file (one trailing newline dropped) and command output', async () => {
    expect(await resolveSecret({ kind: 'env', name: 'T' }, { env: { T: 'from-env' } })).toBe('from-env');
    await writeFile(join(dir, 'token'), 'from-file\n');
    expect(await resolveSecret({ kind: 'file', path: join(dir, 'token') })).toBe('from-file');
    expect(
      await resolveSecret({
        kind: 'command',
        argv: [process.execPath, '-e', 'process.stdout.write("from-command\\n")'],
      }),
    ).toBe('from-command');
  });

  it('runs the command without a shell: metacharacters are plain arguments', async () => {
    const marker = join(dir, 'pwned');
    const out = await resolveSecret({
      kind: 'command',
      argv: [process.execPath, '-e', 'process.stdout.write(process.argv[1])', `x; touch ${marker}`],
    });
    expect(out).toBe(`x; touch ${marker}`);
    await expect(import('node:fs/promises').then((fs) => fs.access(marker))).rejects.toThrow();
  });

  it('names the reference and never the value when it fails', async () => {
    const missing = await failure(
      resolveSecret(
        { kind: 'env', name: 'NOPE_NOT_SET' },
        { env: {}, optionPath: 'egress.credentials[1].secret' },
      ),
    );
    expect(missing).toEqual({
      code: 'E_EGRESS_SECRET_UNAVAILABLE',
      message: 'egress.credentials[1].secret: env:NOPE_NOT_SET is not set on the host',
      hint: expect.stringContaining('Export NOPE_NOT_SET') as string,
    });

    const script = join(dir, 'fails.sh');
    await writeFile(script, '#!/bin/sh\necho "sk-printed-before-failing"\necho "sk-on-stderr" >&2\nexit 3\n');
    await chmod(script, 0o755);
    const failed = await failure(resolveSecret({ kind: 'command', argv: [script] }));
    expect(failed.code).toBe('E_EGRESS_SECRET_UNAVAILABLE');
    expect(failed.message).toBe(`secret: command:${JSON.stringify([script])} exited with status 3`);
    expect(JSON.stringify(failed)).not.toContain('sk-');

    const multi = await failure(resolveSecret({ kind: 'env', name: 'M' }, { env: { M: 'line1\nline2' } }));
    expect(multi.message).toContain('contains a line break, a control character or non-ASCII text');
    expect(multi.message).not.toContain('line1');

    const unreadable = await failure(resolveSecret({ kind: 'file', path: join(dir, 'absent') }));
    expect(unreadable.message).toBe(`secret: file:${join(dir, 'absent')} could not be read`);

    const slow = await failure(
      resolveSecret(
        { kind: 'command', argv: [process.execPath, '-e', 'setTimeout(() => {}, 10000)'] },
        { timeoutMs: 200 },
      ),
    );
    expect(slow.message).toContain('timed out');
  });
});
