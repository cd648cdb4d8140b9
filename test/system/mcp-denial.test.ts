/**
 * One denial, two faces: `airlock session exec --json` carries the same agent-readable
 * fields as the MCP server's denial text, built by the one shared `describeDenial`.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeDenial, formatDenial, type Denial } from '../../src/session/index.js';
import { createDecideContext, decide, loadPolicy } from '../../src/policy/index.js';
import { CLI, cleanupTemp, tempDir } from '../helpers/index.js';

const state = tempDir('deny-state');
const ws = tempDir('deny-ws');
const policyFile = join(tempDir('deny-pol'), 'airlock.yaml');
writeFileSync(policyFile, 'version: 1\nextends: default\n');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', AIRLOCK_HOME: state }, timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => {
  cli('session', 'rm', 'denial');
  cleanupTemp();
});

describe('denials for agents', () => {
  it('session exec --json carries the denial fields and exits 1', () => {
    expect(cli('session', 'create', '--name', 'denial', '--workspace', ws, '--policy', policyFile).status).toBe(0);
    const r = cli('session', 'exec', 'denial', '--json', '--', 'git', 'push', '--force', 'origin', 'main');
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { error: { code: string; denial: Denial; decision: { ruleId: string } } };
    expect(out.error.code).toBe('E_POLICY_DENIED');
    expect(out.error.denial).toMatchObject({
      code: 'E_POLICY_DENIED',
      blocked: 'git push --force origin main',
      action: 'exec',
      verdict: 'deny',
      rule: 'git-push',
    });
    expect(out.error.denial.ruleSource).toMatch(/base\.yaml:\d+$/);
    expect(out.error.decision.ruleId).toBe('git-push');
    // The same fields the MCP face prints, from the same function.
    const policy = loadPolicy({ path: policyFile });
    const d = decide({ kind: 'exec', argv: ['git', 'push', '--force', 'origin', 'main'] }, policy, createDecideContext());
    const mcp = describeDenial('git push --force origin main', d, 'mcp');
    for (const k of ['blocked', 'action', 'verdict', 'rule', 'ruleSource', 'reason', 'notAFault', 'workarounds'] as const) {
      expect(out.error.denial[k]).toBe(mcp[k]);
    }
    expect(mcp.howToGetAccess).toContain('request_access');
    expect(out.error.denial.howToGetAccess).toContain('airlock.yaml');
    const text = formatDenial(mcp);
    expect(text).toContain('BLOCKED BY SANDBOX POLICY');
    expect(text).toContain(`Rule: git-push (${mcp.ruleSource ?? ''})`);
  });
});
