/** Fails when a requirement in src/policy/requirements.ts has no test citing it. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { POLICY_REQUIREMENTS } from '../../../src/policy/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const sources = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts') && f !== 'requirements.test.ts')
  .map((f) => readFileSync(join(here, f), 'utf8'))
  .join('\n');

describe('requirement manifest', () => {
  it.each(Object.keys(POLICY_REQUIREMENTS))('%s is cited by a test', (id) => {
    // a citation is the id as a quoted string (a table row's req) or in brackets in a test name
    const cited = sources.includes(`'${id}'`) || sources.includes(`[${id}]`);
    expect(cited, `no test cites requirement ${id}`).toBe(true);
  });
  it('has no citation of an unknown id', () => {
    const cited = [...sources.matchAll(/req: '([a-z]+\.[a-z-]+)'/g)].map((m) => m[1] as string);
    for (const id of cited) expect(Object.keys(POLICY_REQUIREMENTS), id).toContain(id);
  });
});
