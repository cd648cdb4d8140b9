#!/usr/bin/env node
// Rewrites the case tables of docs/redteam.md ("### <class> (n)" sections through
// "Total: n") from the built suite (dist/redteam), so the catalog cannot drift from the code.
// Usage: npm run build && node scripts/redteam-catalog.mjs [--check]
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const docPath = `${root}docs/redteam.md`;
const { ALL_CASES, ATTACK_CLASSES } = await import(`${root}dist/redteam/index.js`);

const cell = (s) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const parts = [];
for (const cls of ATTACK_CLASSES) {
  const cases = ALL_CASES.filter((c) => c.class === cls);
  parts.push(`### ${cls} (${cases.length})`, '', '| id | kind | expected | what |', '|---|---|---|---|');
  for (const c of cases) parts.push(`| \`${c.id}\` | ${c.kind} | ${c.expected} | ${cell(c.description)} |`);
  parts.push('');
}
parts.push(`Total: ${ALL_CASES.length}`);
const table = parts.join('\n');

const doc = readFileSync(docPath, 'utf8');
const start = doc.indexOf(`### ${ATTACK_CLASSES[0]} (`);
const endMatch = /^Total: \d+$/m.exec(doc.slice(start));
if (start < 0 || endMatch === null) {
  console.error('docs/redteam.md: the catalog markers ("### filesystem (n)" … "Total: n") are missing');
  process.exit(2);
}
const end = start + endMatch.index + endMatch[0].length;
const next = doc.slice(0, start) + table + doc.slice(end);
if (process.argv.includes('--check')) {
  if (next !== doc) {
    console.error('docs/redteam.md is out of date: run `node scripts/redteam-catalog.mjs`');
    process.exit(1);
  }
} else if (next !== doc) {
  writeFileSync(docPath, next);
  console.log(`docs/redteam.md: ${ALL_CASES.length} cases`);
}
