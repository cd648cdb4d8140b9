// Runs every bench/*.bench.mjs module and writes bench/results/latest.json plus a short table.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, release } from 'node:os';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const ctx = { quick: process.env.BENCH_QUICK === '1' };
const modules = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
const results = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, kernel: release(), node: process.version },
  startedAt: new Date().toISOString(),
  quick: ctx.quick,
  benches: {},
};
for (const file of modules) {
  const name = file.replace(/\.bench\.mjs$/, '');
  process.stderr.write(`bench: ${name}…\n`);
  try {
    const mod = await import(join(here, file));
    results.benches[name] = await mod.run(ctx);
  } catch (err) {
    results.benches[name] = { error: String(err?.stack ?? err) };
  }
}
mkdirSync(join(here, 'results'), { recursive: true });
writeFileSync(join(here, 'results', 'latest.json'), JSON.stringify(results, null, 2));
process.stdout.write(JSON.stringify(results, null, 2) + '\n');

// A short table of every figure that has a target.
const rows = [];
const walk = (prefix, v) => {
  if (v === null || typeof v !== 'object') return;
  if ('target' in v && 'value' in v) rows.push([prefix, v.value, v.unit ?? '', v.target, v.met ? 'yes' : 'NO']);
  for (const [k, c] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, c);
};
walk('', results.benches);
if (rows.length > 0) {
  process.stderr.write('\nfigure                                              value        target        met\n');
  for (const [k, v, u, t, m] of rows) process.stderr.write(`${k.padEnd(50)} ${String(v).padEnd(8)}${String(u).padEnd(5)} ${String(t).padEnd(13)} ${m}\n`);
}
