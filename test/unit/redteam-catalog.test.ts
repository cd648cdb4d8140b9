/**
 * docs/redteam.md lists every red-team case with its class, kind and expectation; the
 * catalog is generated (`node scripts/redteam-catalog.mjs`), and this keeps it from drifting.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_CASES, ATTACK_CLASSES } from '../../src/redteam/index.js';

const doc = readFileSync(new URL('../../docs/redteam.md', import.meta.url), 'utf8');

describe('docs/redteam.md catalog', () => {
  it('has one row per case, under its class, with its kind and expectation', () => {
    const rows = new Map<string, { cls: string; kind: string; expected: string }>();
    let cls = '';
    for (const line of doc.split('\n')) {
      const h = /^### (\w[\w-]*) \((\d+)\)$/.exec(line);
      if (h !== null) cls = h[1] ?? '';
      const r = /^\| `([^`]+)` \| ([\w-]+) \| (\w+) \|/.exec(line);
      if (r !== null) rows.set(r[1] ?? '', { cls, kind: r[2] ?? '', expected: r[3] ?? '' });
    }
    const missing = ALL_CASES.filter((c) => !rows.has(c.id)).map((c) => c.id);
    expect(missing, 'cases missing from docs/redteam.md; run node scripts/redteam-catalog.mjs').toEqual([]);
    const stale = [...rows.keys()].filter((id) => !ALL_CASES.some((c) => c.id === id));
    expect(stale, 'rows for cases that no longer exist').toEqual([]);
    for (const c of ALL_CASES) expect(rows.get(c.id), c.id).toEqual({ cls: c.class, kind: c.kind, expected: c.expected });
  });

  it('states the right counts per class and in total', () => {
    for (const cls of ATTACK_CLASSES) {
      const n = ALL_CASES.filter((c) => c.class === cls).length;
      expect(doc, cls).toContain(`### ${cls} (${n})`);
    }
    expect(doc).toContain(`Total: ${ALL_CASES.length}\n`);
  });
});
