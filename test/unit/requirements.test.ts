/**
 * Every security requirement id in a src/<part>/requirements.ts manifest must be cited by
 * at least one test (by its id string, normally in the test's name).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/index.js';

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

async function manifests(): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const part of readdirSync(join(ROOT, 'src'))) {
    const file = join(ROOT, 'src', part, 'requirements.ts');
    try {
      statSync(file);
    } catch {
      continue;
    }
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    const ids: string[] = [];
    for (const v of Object.values(mod)) if (typeof v === 'object' && v !== null) ids.push(...Object.keys(v));
    out.set(part, ids);
  }
  return out;
}

describe('requirement manifest', () => {
  it('every requirement id has a test citing it', async () => {
    const all = await manifests();
    expect(all.get('sandbox')?.length ?? 0).toBeGreaterThan(10);
    const corpus = walk(join(ROOT, 'test'))
      .filter((f) => !f.endsWith('requirements.test.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const missing: string[] = [];
    for (const [part, ids] of all) for (const id of ids) if (!corpus.includes(id)) missing.push(`${part}: ${id}`);
    expect(missing).toEqual([]);
  });
});
