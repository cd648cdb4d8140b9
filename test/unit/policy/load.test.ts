import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAirlockError } from '../../../src/errors/index.js';
import { decide, listPresets, loadPolicy, presetText } from '../../../src/policy/index.js';
import { CTX } from './helpers.js';

function loadError(text: string, path = 'airlock.yaml'): { message: string; hint: string; code: string } {
  try {
    loadPolicy({ text, path });
  } catch (e) {
    if (isAirlockError(e)) return { message: e.message, hint: e.hint, code: e.code };
    throw e;
  }
  throw new Error('expected the policy to be rejected');
}

describe('invalid YAML [schema.errors-located]', () => {
  it('names the file, line and column of a syntax error', () => {
    const e = loadError('version: 1\nexec:\n  rules: [\n', '/p/airlock.yaml');
    expect(e.code).toBe('E_POLICY_INVALID');
    expect(e.message).toMatch(/^\/p\/airlock\.yaml:4:1: invalid YAML: /);
  });
  it('rejects a duplicated key with its position', () => {
    const e = loadError('version: 1\nunresolvable: ask\nunresolvable: deny\n');
    expect(e.message).toMatch(/airlock\.yaml:3:1: invalid YAML: Map keys must be unique/);
  });
  it('rejects an empty file instead of using defaults [schema.invalid-never-default]', () => {
    expect(loadError('').message).toMatch(/the policy is empty/);
    expect(loadError('# only a comment\n').message).toMatch(/the policy is empty/);
  });
  it('rejects a list at the top level', () => {
    expect(loadError('- a\n- b\n').message).toMatch(/must be a mapping of keys/);
  });
  it('rejects a missing file with a hint to init', () => {
    try {
      loadPolicy({ path: '/nonexistent/airlock.yaml' });
      expect.unreachable();
    } catch (e) {
      expect(isAirlockError(e) && e.code).toBe('E_POLICY_INVALID');
      expect(isAirlockError(e) && e.hint).toMatch(/airlock policy init/);
    }
  });
});

describe('unknown keys [schema.strict-unknown-keys]', () => {
  it('names a misspelt top-level key, its line and a suggestion', () => {
    const e = loadError('version: 1\nunresolveable: ask\n');
    expect(e.message).toBe(
      'airlock.yaml:2:1: unresolveable: unknown key "unresolveable"; did you mean "unresolvable"? Valid keys here: version, extends, unresolvable, exec, tools, files, network, approvals, grants.',
    );
  });
  it('names a misspelt key deep in a rule with its full path', () => {
    const e = loadError('version: 1\nexec:\n  rules:\n    - command: git\n      levle: allow\n');
    expect(e.message).toMatch(
      /airlock\.yaml:5:7: exec\.rules\[0\]\.levle: unknown key "levle"; did you mean "level"\?/,
    );
    // the missing level is reported too
    expect(e.message).toMatch(/exec\.rules\[0\]\.level: is required/);
  });
  it('rejects unknown keys in network credentials', () => {
    const e = loadError(
      "version: 1\nnetwork:\n  credentials:\n    - { hosts: [api.example.com], secret: 'env:TOKEN', inject: { header: x-api-key }, scope: all }\n",
    );
    expect(e.message).toMatch(/network\.credentials\[0\]\.scope: unknown key "scope"/);
  });
});

describe('bad values name the path, the value and the fix [schema.errors-located]', () => {
  it('bad level', () => {
    const e = loadError('version: 1\nexec:\n  default: maybe\n');
    expect(e.message).toMatch(
      /^airlock\.yaml:3:12: exec\.default: Invalid option: expected one of "allow"\|"log"\|"ask"\|"deny" \(got "maybe"\)/,
    );
  });
  it('unresolvable may never be allow [policy.unresolvable-never-allow]', () => {
    const e = loadError('version: 1\nunresolvable: allow\n');
    expect(e.message).toMatch(/unresolvable: Invalid option: expected one of "ask"\|"deny" \(got "allow"\)/);
  });
  it('protectedLevel may never be below ask', () => {
    expect(loadError('version: 1\nfiles:\n  protectedLevel: log\n').message).toMatch(/files\.protectedLevel/);
  });
  it('a relative command path', () => {
    expect(
      loadError('version: 1\nexec:\n  rules:\n    - { command: bin/tool, level: allow }\n').message,
    ).toMatch(/exec\.rules\[0\]\.command: "bin\/tool" is not a command: use a bare name/);
  });
  it('YAML booleans where a command name belongs', () => {
    expect(
      loadError('version: 1\nexec:\n  rules:\n    - { command: [ls, true], level: allow }\n').message,
    ).toMatch(
      /exec\.rules\[0\]\.command\[1\]: Invalid input: expected string, received boolean \(got true\)/,
    );
  });
  it('a flag that is not a flag', () => {
    expect(
      loadError('version: 1\nexec:\n  rules:\n    - { command: git, level: allow, forbidFlags: [force] }\n')
        .message,
    ).toMatch(/forbidFlags\[0\]: "force" is not a flag; write it as "-f" or "--force"/);
  });
  it('bundled short flags written as one forbidden flag', () => {
    expect(
      loadError('version: 1\nexec:\n  rules:\n    - { command: rm, level: allow, forbidFlags: [-rf] }\n')
        .message,
    ).toMatch(/airlock\.yaml:4: rule "exec\.rules\[0\]": "-rf" looks like bundled short flags/);
  });
  it('a secret that is not a reference, without echoing a long secret', () => {
    const e = loadError(
      `version: 1\nnetwork:\n  credentials:\n    - { hosts: [api.example.com], secret: 'sk-${'x'.repeat(60)}', inject: { header: x-api-key } }\n`,
    );
    expect(e.message).toMatch(
      /is not a secret reference; write "env:NAME", "file:\/abs\/path" or "command:…"/,
    );
    expect(e.message).not.toContain('x'.repeat(50));
  });
  it('an unknown preset', () => {
    expect(loadError('version: 1\nextends: nodejs\n').message).toMatch(
      /extends: unknown preset "nodejs"; presets are "base", "default", "node", "python", "readonly"/,
    );
  });
  it('an extends cycle', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-policy-'));
    writeFileSync(join(dir, 'a.yaml'), 'version: 1\nextends: ./b.yaml\n');
    writeFileSync(join(dir, 'b.yaml'), 'version: 1\nextends: ./a.yaml\n');
    expect(() => loadPolicy({ path: join(dir, 'a.yaml') })).toThrow(/already part of this policy/);
  });
});

describe('bad globs [schema.bad-globs]', () => {
  it.each([
    ["'src/[abc'", /has an unclosed "\["/],
    ["'src/**x/y'", /"\*\*" must be a whole path segment/],
    ["'src/{a,b'", /unbalanced "\{"/],
    ["'../outside/**'", /contains "\.\."/],
    ["'a]b'", /has a "\]" without "\["/],
    ["''", /too small|at least 1/i],
  ])('%s', (glob, message) => {
    expect(loadError(`version: 1\nfiles:\n  write: [${glob}]\n`).message).toMatch(message);
  });
});

describe('conflicting rules [schema.conflicts]', () => {
  it('two rules for the same command and subcommand', () => {
    const e = loadError(
      'version: 1\nexec:\n  rules:\n    - { command: git, subcommand: push, level: allow }\n    - { command: git, subcommand: push, level: deny }\n',
    );
    expect(e.message).toBe(
      'airlock.yaml:5: exec.rules[1]: conflicting rules: "git push" is already covered by exec.rules[0] (line 4)',
    );
    expect(e.hint).toMatch(/Keep one rule per command and subcommand/);
  });
  it('a path both allowed and denied', () => {
    expect(loadError("version: 1\nfiles:\n  write: ['/tmp/**']\n  deny: ['/tmp/**']\n").message).toMatch(
      /files\.write\[0\]: conflicting rules: "\/tmp\/\*\*" is also in files\.deny/,
    );
  });
  it('two network rules that match the same requests with different levels', () => {
    expect(
      loadError(
        'version: 1\nnetwork:\n  rules:\n    - { host: a.example.com, level: allow }\n    - { host: a.example.com, level: deny }\n',
      ).message,
    ).toMatch(
      /network\.rules\[1\]: conflicting rules: it matches exactly what network\.rules\[0\] matches \(levels allow and deny\)/,
    );
  });
  it('a flag both forbidden and allowed', () => {
    expect(
      loadError(
        'version: 1\nexec:\n  rules:\n    - { command: ls, level: allow, forbidFlags: [-a], allowFlags: [-a, -l] }\n',
      ).message,
    ).toMatch(/-a is both in forbidFlags and allowFlags/);
  });
  it('forbidLevel without a constraint', () => {
    expect(
      loadError('version: 1\nexec:\n  rules:\n    - { command: ls, level: allow, forbidLevel: ask }\n')
        .message,
    ).toMatch(/forbidLevel has no effect/);
  });
  it('a network rule with neither host nor cidr', () => {
    expect(
      loadError('version: 1\nnetwork:\n  rules:\n    - { ports: [443], level: allow }\n').message,
    ).toMatch(/names neither "host" nor "cidr"/);
  });
  it('a later file overrides an earlier rule for the same key instead of conflicting', () => {
    const p = loadPolicy({
      text: 'version: 1\nextends: default\nexec:\n  rules:\n    - { id: mine, command: git, subcommand: push, level: deny }\n',
    });
    expect(decide({ kind: 'exec', command: 'git push' }, p, CTX)).toMatchObject({
      verdict: 'deny',
      ruleId: 'mine',
    });
  });
});

describe('a loaded policy [schema.frozen]', () => {
  const p = loadPolicy({ text: 'version: 1\nextends: default\n' });
  it('is frozen, deeply', () => {
    expect(Object.isFrozen(p)).toBe(true);
    expect(Object.isFrozen(p.config)).toBe(true);
    expect(Object.isFrozen(p.compiled.files.write)).toBe(true);
    expect(() => {
      (p.compiled.files as { writeLevel: string }).writeLevel = 'allow';
    }).toThrow(TypeError);
  });
  it('carries the rule source file and line into decisions', () => {
    const d = decide({ kind: 'exec', command: 'git push' }, p, CTX);
    expect(d.source?.file).toMatch(/presets\/base\.yaml$/);
    expect(d.source?.line).toBeGreaterThan(1);
  });
});

describe('presets', () => {
  it('are listed with descriptions and all load', () => {
    const presets = listPresets();
    expect(presets.map((x) => x.name)).toEqual(['base', 'default', 'node', 'python', 'readonly']);
    for (const preset of presets) {
      expect(preset.description.length).toBeGreaterThan(20);
      expect(() => loadPolicy({ path: preset.file })).not.toThrow();
      expect(presetText(preset.name)).toContain('version: 1');
    }
  });
});
