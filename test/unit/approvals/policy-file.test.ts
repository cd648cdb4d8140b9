import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { prepareRuleWrite, writeRuleToPolicy } from '../../../src/approvals/index.js';
import { AirlockError } from '../../../src/errors/index.js';

let dir: string;
let file: string;
const RULE = 'grants:\n  - id: approval-ap_1\n    approval: ap_1\n    exec:\n      command: npm\n      subcommand: test\n      allowFlags: []\n      maxArgs: 1\n';

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-policyfile-'));
  file = join(dir, 'airlock.yaml');
});
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

function err(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AirlockError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('writing a confirmed rule', () => {
  it('appends the confirmed entries and keeps everything else, comments included', () => {
    writeFileSync(file, '# my policy\nversion: 1\nextends: default\nexec:\n  rules:\n    # keep this\n    - { id: mine, command: make, level: log }\n', { mode: 0o640 });
    const after = writeRuleToPolicy(file, RULE, RULE);
    expect(readFileSync(file, 'utf8')).toBe(after);
    expect(after).toBe(`# my policy\nversion: 1\nextends: default\nexec:\n  rules:\n    # keep this\n    - { id: mine, command: make, level: log }\n${RULE}`);
    expect(statSync(file).mode & 0o777).toBe(0o640);
  });

  it('writes nothing unless the confirmed text is exactly the proposal', () => {
    writeFileSync(file, 'version: 1\n');
    const e = err(() => writeRuleToPolicy(file, RULE, RULE.replace('maxArgs: 1', 'maxArgs: 9')));
    expect(e.code).toBe('E_APPROVAL_RULE');
    expect(e.message).toBe('the confirmed rule text differs from the proposed rule');
    expect(readFileSync(file, 'utf8')).toBe('version: 1\n');
  });

  it('refuses policy rules (text proposed before grants existed): they would compete with the rule that asked', () => {
    writeFileSync(file, 'version: 1\nextends: default\n');
    const old = 'exec:\n  rules:\n    - id: approval-ap_0\n      command: git\n      subcommand: push\n      level: allow\n      allowFlags: []\n      forbidLevel: ask\n      maxArgs: 1\n';
    expect(err(() => writeRuleToPolicy(file, old, old)).message).toBe('the confirmed text holds exec, not grants: it was proposed by an older airlock, which wrote policy rules');
    const f = 'files:\n  write:\n    - /workspace/a.txt\n';
    expect(err(() => writeRuleToPolicy(file, f, f)).code).toBe('E_APPROVAL_RULE');
    expect(readFileSync(file, 'utf8')).toBe('version: 1\nextends: default\n');
  });

  it('refuses a missing file, a symbolic link, and YAML that does not parse', () => {
    expect(err(() => writeRuleToPolicy(file, RULE, RULE)).message).toBe(`the policy file ${file} does not exist`);
    writeFileSync(join(dir, 'real.yaml'), 'version: 1\n');
    symlinkSync(join(dir, 'real.yaml'), file);
    expect(err(() => writeRuleToPolicy(file, RULE, RULE)).message).toContain('(it is a symbolic link)');
    rmSync(file);
    writeFileSync(file, 'exec: [\n');
    expect(err(() => writeRuleToPolicy(file, RULE, RULE)).message).toMatch(/does not parse/);
  });

  it('runs the caller\'s validation, and refuses a file changed between check and commit', () => {
    writeFileSync(file, 'version: 1\n');
    const e = err(() =>
      writeRuleToPolicy(file, RULE, RULE, {
        validate: () => {
          throw new Error('E_POLICY_INVALID: nope');
        },
      }),
    );
    expect(e.message).toBe('the policy with the new rule does not load: E_POLICY_INVALID: nope');
    const w = prepareRuleWrite(file, RULE, RULE);
    writeFileSync(file, 'version: 1\n# edited meanwhile\n');
    expect(err(() => { w.commit(); }).message).toBe(`${file} changed while the rule was being confirmed`);
    expect(readFileSync(file, 'utf8')).toBe('version: 1\n# edited meanwhile\n');
    chmodSync(file, 0o600);
  });
});

describe('writing a confirmed grant', () => {
  const GRANT = 'grants:\n  - id: approval-ap_2\n    approval: ap_2\n    exec:\n      command: npm\n      subcommand: test\n      allowFlags: []\n      maxArgs: 1\n      cwd: /workspace\n';

  it('appends it to grants with who and when, next to a rule for the same command', () => {
    writeFileSync(file, 'version: 1\nexec:\n  rules:\n    - { id: npm-test, command: npm, subcommand: test, level: ask }\n');
    const after = writeRuleToPolicy(file, GRANT, GRANT, { stamp: { by: 'token:alice', at: '2026-12-05T13:00:00.000Z' } });
    expect(after).toBe(
      'version: 1\nexec:\n  rules:\n    - { id: npm-test, command: npm, subcommand: test, level: ask }\ngrants:\n  - id: approval-ap_2\n    approval: ap_2\n    by: token:alice\n    at: 2026-12-05T13:00:00.000Z\n    exec:\n      command: npm\n      subcommand: test\n      allowFlags: []\n      maxArgs: 1\n      cwd: /workspace\n',
    );
  });

  it('keeps the file byte for byte and appends after the last grant, or goes through the document for a flow list', () => {
    const mine = '# mine\nversion: 1\nexec:\n  rules:\n    - { id: git-read, command: git, subcommand: [status, log], level: ask }   # keep\n';
    writeFileSync(file, mine);
    const one = writeRuleToPolicy(file, GRANT, GRANT);
    expect(one.startsWith(mine)).toBe(true);
    const second = GRANT.replace(/ap_2/g, 'ap_3').replace('test', 'run build').replace('maxArgs: 1', 'maxArgs: 2');
    const two = writeRuleToPolicy(file, second, second);
    expect(two).toBe(`${one}${second.slice('grants:\n'.length)}`);
    writeFileSync(file, 'version: 1\ngrants: []\n');
    expect(writeRuleToPolicy(file, GRANT, GRANT)).toBe(`version: 1\n${GRANT}`);
  });

  it('refuses a second grant with the same id', () => {
    writeFileSync(file, 'version: 1\n');
    writeRuleToPolicy(file, GRANT, GRANT);
    expect(err(() => writeRuleToPolicy(file, GRANT, GRANT)).message).toBe(`${file} already has a grant with the id approval-ap_2 (grants[0])`);
  });
});
