import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listTemplates, loadTemplateFile, resolveTemplate } from '../../src/sandbox/index.js';
import { cleanupTemp, tempDir } from '../helpers/index.js';

afterAll(() => { cleanupTemp(); });

function write(yaml: string): string {
  const f = join(tempDir('tpl'), 't.yaml');
  writeFileSync(f, yaml);
  return f;
}

describe('templates', () => {
  it('ships host and minimal', () => {
    expect(listTemplates()).toEqual(expect.arrayContaining(['host', 'minimal']));
    const host = resolveTemplate('host');
    expect(host.mounts.map((m) => m.src)).toContain('/usr');
    // Never the host root, homes, or secrets.
    for (const m of host.mounts) {
      expect(m.src).not.toBe('/');
      expect(m.src).not.toMatch(/^\/(home|root|var|run|tmp|proc|sys)(\/|$)/);
      expect(m.src).not.toMatch(/shadow|ssh|private/);
    }
  });

  it('rejects unknown keys, relative paths, .. and reserved destinations', () => {
    const cases: [string, RegExp][] = [
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: /usr, dest: /usr, extra: 1}]\n', /Unrecognized key.*extra|extra/],
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: usr, dest: /usr}]\n', /absolute path/],
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: /usr/../etc, dest: /usr}]\n', /absolute path without/],
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: /usr, dest: /workspace}]\n', /airlock-owned/],
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: /usr, dest: /}]\n', /airlock-owned/],
      ['name: x\ndescription: d\nmounts: [{type: bind, src: /usr, dest: /usr}]\n', /mounts\.0\.type/],
      ['name: X Y\ndescription: d\nmounts: [{type: ro-bind, src: /usr, dest: /usr}]\n', /lowercase/],
      ['name: x\ndescription: d\nmounts: [{type: ro-bind, src: /usr, dest: /usr}\n', /could not be read/],
    ];
    for (const [yaml, msg] of cases) {
      expect(() => loadTemplateFile(write(yaml)), yaml).toThrow(msg);
    }
  });

  it('names the available templates when one is missing', () => {
    expect(() => resolveTemplate('nope')).toThrow(expect.objectContaining({ code: 'E_TEMPLATE_NOT_FOUND', hint: expect.stringMatching(/host/) }));
  });
});
