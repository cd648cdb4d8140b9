/** `airlock policy …` run in-process through commander, with stdout and stderr captured. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { register } from '../../../src/cli/commands/policy.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-'));
const policyFile = join(dir, 'airlock.yaml');
writeFileSync(policyFile, 'version: 1\nextends: default\n');

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const so = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  const se = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err += String(chunk);
    return true;
  });
  try {
    const program = new Command('airlock').exitOverride();
    register(program);
    await program.parseAsync(['node', 'airlock', ...args]);
  } finally {
    so.mockRestore();
    se.mockRestore();
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : 0;
  return { code, out, err };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('airlock policy check', () => {
  it('exits 1 with the rule and file:line for a denied command (--json)', async () => {
    const r = await cli(
      'policy',
      'check',
      '--policy',
      policyFile,
      '--json',
      '--no-oracle',
      '--',
      'git push --force',
    );
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out) as {
      verdict: string;
      ruleId: string;
      source: { file: string; line: number };
      parts: unknown[];
    };
    expect(doc).toMatchObject({ verdict: 'deny', ruleId: 'git-push' });
    expect(doc.source.file).toMatch(/presets\/base\.yaml$/);
  });
  it('exits 0 for an allowed argv and prints a human summary', async () => {
    const r = await cli('policy', 'check', '--policy', policyFile, '--', 'git', 'status');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ALLOW {2}git status\n {2}rule: {3}git-local \(.*presets\/default\.yaml:\d+\)\n/);
  });
  it('checks --read, --write and --url', async () => {
    expect(
      (await cli('policy', 'check', '--policy', policyFile, '--read', '/home/agent/.ssh/id_rsa')).code,
    ).toBe(1);
    expect((await cli('policy', 'check', '--policy', policyFile, '--write', 'src/a.ts')).code).toBe(0);
    const r = await cli(
      'policy',
      'check',
      '--policy',
      policyFile,
      '--json',
      '--url',
      'https://registry.npmjs.org/left-pad',
    );
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'allow', ruleId: 'npm-registry' });
    expect(
      (
        await cli(
          'policy',
          'check',
          '--policy',
          policyFile,
          '--url',
          'https://registry.npmjs.org/x',
          '--method',
          'PUT',
        )
      ).code,
    ).toBe(1);
  });
  it('exits 2 with code and hint for bad usage', async () => {
    const r = await cli('policy', 'check', '--policy', policyFile, '--read', 'a', '--write', 'b');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^airlock: E_USAGE: policy check needs exactly one thing to check\nhint: /);
  });
  it('exits 2 for an invalid policy, naming the line', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'version: 1\nexec:\n  rulez: []\n');
    const r = await cli('policy', 'check', '--policy', bad, '--', 'ls');
    expect(r.code).toBe(2);
    expect(r.err).toContain(
      `airlock: E_POLICY_INVALID: ${bad}:3:3: exec.rulez: unknown key "rulez"; did you mean "rules"?`,
    );
  });
});

describe('airlock policy init, presets, schema', () => {
  it('init writes a policy that loads, and refuses to overwrite it', async () => {
    const out = join(dir, 'new.yaml');
    expect((await cli('policy', 'init', '--preset', 'node', '--output', out)).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('extends: node');
    const again = await cli('policy', 'init', '--output', out);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already exists/);
    expect((await cli('policy', 'init', '--preset', 'nope', '--output', join(dir, 'x.yaml'))).code).toBe(2);
  });
  it('presets --json lists the presets', async () => {
    const r = await cli('policy', 'presets', '--json');
    const doc = JSON.parse(r.out) as { presets: { name: string }[] };
    expect(doc.presets.map((p) => p.name)).toEqual(['base', 'default', 'node', 'python', 'readonly']);
  });
  it('schema prints the JSON Schema', async () => {
    const r = await cli('policy', 'schema');
    expect(JSON.parse(r.out)).toMatchObject({ title: 'airlock.yaml', additionalProperties: false });
  });
});
