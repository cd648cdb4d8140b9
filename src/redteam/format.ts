/**
 * The attack report as a text table.
 */
import type { AttackReport } from './types.js';

/** Formats the report for a terminal. */
export function formatAttackReport(r: AttackReport): string {
  const w = { id: Math.max(4, ...r.results.map((x) => x.id.length)), cls: 11, exp: 9, v: 9 };
  const lines = [`${'case'.padEnd(w.id)}  ${'class'.padEnd(w.cls)}  ${'expected'.padEnd(w.exp)}  ${'verdict'.padEnd(w.v)}  evidence`];
  for (const x of r.results) {
    lines.push(`${x.id.padEnd(w.id)}  ${x.class.padEnd(w.cls)}  ${x.expected.padEnd(w.exp)}  ${x.verdict.padEnd(w.v)}  ${x.evidence}`);
  }
  lines.push('');
  lines.push(
    `${r.total} cases on ${r.backend} in ${(r.durationMs / 1000).toFixed(1)} s: ${r.contained} contained, ${r.escaped} escaped, ${r.errors} errors${r.gaps > 0 ? `, ${r.gaps} known gaps` : ''}`,
  );
  lines.push(`by class: ${Object.entries(r.byClass).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}
