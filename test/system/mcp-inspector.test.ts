/**
 * The MCP Inspector's CLI mode (a second, independent MCP client) lists the tools of
 * `airlock mcp` and calls one.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => {
  cleanupTemp();
});

function inspector(ws: string, state: string, ...method: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    'npx',
    ['--no-install', '@modelcontextprotocol/inspector', '--cli', '-e', `AIRLOCK_HOME=${state}`, process.execPath, CLI, 'mcp', '--workspace', ws, '--no-approval-server', ...method],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, AIRLOCK_HOME: state }, timeout: 120_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('airlock mcp under the MCP Inspector CLI', () => {
  it('lists the tools', () => {
    const r = inspector(tempDir('insp-ws'), tempDir('insp-state'), '--method', 'tools/list');
    expect(r.status, r.stderr).toBe(0);
    const names = (JSON.parse(r.stdout) as { tools: { name: string }[] }).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['run_command', 'read_file', 'edit_file', 'request_access', 'sandbox_info']));
  });

  it('calls a tool', () => {
    const ws = tempDir('insp-ws');
    writeFileSync(join(ws, 'hello.txt'), 'hello from the workspace\n');
    const r = inspector(ws, tempDir('insp-state'), '--method', 'tools/call', '--tool-name', 'run_command', '--tool-arg', 'command=cat hello.txt && id -u');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { content: { type: string; text: string }[]; isError?: boolean };
    expect(out.isError).not.toBe(true);
    expect(out.content[0]?.text).toContain('hello from the workspace');
    // The sandbox's own user, not the host's.
    expect(out.content[0]?.text).toMatch(/exit status 0[\s\S]*\n1000\n/);
  });
});
