// Policy decisions per second on one core, with the built library (dist/).
// The target (issue 3): >= 200k decisions/s on a three-part compound command.
// Reported separately: decide on an already-parsed command (what the session pays when
// it parses at the async boundary with prepareAction), parse + decide from the raw string
// (what a caller of decide({command}) pays), parse alone, and the other action kinds.
// Each figure is the median of several timed rounds after a warm-up, so one GC pause or
// a noisy neighbour does not decide it.
import {
  createDecideContext,
  createShellOracle,
  decide,
  loadPolicy,
  parseShell,
  prepareAction,
} from '../dist/policy/index.js';
import { loadavg } from 'node:os';
import process from 'node:process';
import { summary } from './stats.mjs';

const COMPOUND = 'git status && npm test | tee out.txt';

function rate(fn, iterations, rounds) {
  for (let i = 0; i < Math.min(iterations, 20_000); i++) fn();
  const rates = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(iterations / seconds);
  }
  rates.sort((a, b) => a - b);
  return Math.round(rates[Math.floor(rates.length / 2)]);
}

/** A fixed CPU-bound loop, so figures from a busy machine can be told apart from a slow decide. */
function referenceLoopMs() {
  const t0 = process.hrtime.bigint();
  let s = 0;
  for (let i = 0; i < 2e7; i++) s = (s + (i & 7)) | 0;
  return { ms: Math.round(Number(process.hrtime.bigint() - t0) / 1e4) / 100, checksum: s };
}

export async function run(ctx) {
  const iterations = ctx.quick ? 50_000 : 400_000;
  const rounds = ctx.quick ? 3 : 7;
  const policy = loadPolicy({ text: 'version: 1\nextends: default\n' });
  const context = createDecideContext();
  const target = 200_000;

  // sanity: the measured command really is three parts and is decided the same both ways
  const raw = { kind: 'exec', command: COMPOUND };
  const prepared = await prepareAction(raw, { oracle: null });
  const d1 = decide(raw, policy, context);
  const d2 = decide(prepared, policy, context);
  if (d1.verdict !== d2.verdict || d1.parts.length !== d2.parts.length)
    throw new Error('prepared and raw decisions differ');
  const execParts = d1.parts.filter((p) => p.kind === 'exec').length;

  let sink = 0;
  const decideOnly = rate(
    () => {
      sink += decide(prepared, policy, context).parts.length;
    },
    iterations,
    rounds,
  );
  const parseAndDecide = rate(
    () => {
      sink += decide(raw, policy, context).parts.length;
    },
    iterations,
    rounds,
  );
  const parseOnly = rate(
    () => {
      sink += parseShell(COMPOUND).ok ? 1 : 0;
    },
    iterations,
    rounds,
  );
  // the same command under a policy with grants (written by rule approvals): 20 exec grants,
  // one of which lifts the ask for `npm test`, and 20 network grants
  const grantLines = [];
  for (let i = 0; i < 20; i++) {
    grantLines.push(`  - { id: g${i}, approval: a${i}, exec: { command: tool${i}, allowFlags: [], maxArgs: 0 } }`);
    grantLines.push(`  - { id: n${i}, approval: b${i}, network: { host: h${i}.example.com, port: 443, method: GET, path: /x, scheme: https } }`);
  }
  grantLines.push('  - { id: npm-test, approval: c, exec: { command: npm, subcommand: test, allowFlags: [], maxArgs: 1, cwd: /workspace } }');
  const granted = loadPolicy({
    text: `version: 1\nextends: default\nexec:\n  rules:\n    - { id: npm-test-ask, command: npm, subcommand: test, level: ask }\ngrants:\n${grantLines.join('\n')}\n`,
  });
  const dg = decide(prepared, granted, context);
  if (!dg.parts.some((p) => p.ruleId === 'npm-test')) throw new Error('the grant did not apply in the bench');
  const decideWithGrants = rate(
    () => {
      sink += decide(prepared, granted, context).parts.length;
    },
    iterations,
    rounds,
  );
  const argv = { kind: 'exec', argv: ['git', 'status'] };
  const argvRate = rate(
    () => {
      sink += decide(argv, policy, context).parts.length;
    },
    iterations,
    rounds,
  );
  const file = { kind: 'file.write', path: 'src/index.ts' };
  const fileRate = rate(
    () => {
      sink += decide(file, policy, context).parts.length;
    },
    iterations,
    rounds,
  );
  const net = {
    kind: 'network',
    host: 'registry.npmjs.org',
    port: 443,
    method: 'GET',
    path: '/left-pad',
    scheme: 'https',
  };
  const netRate = rate(
    () => {
      sink += decide(net, policy, context).parts.length;
    },
    iterations,
    rounds,
  );

  // the async boundary with the sh-syntax cross-check: latency per command, not throughput
  const oracle = createShellOracle();
  const samples = [];
  for (let i = 0; i < (ctx.quick ? 5 : 30); i++) {
    const t0 = process.hrtime.bigint();
    await prepareAction(raw, { oracle });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  return {
    machine: { loadAverage1m: loadavg()[0], referenceLoop: referenceLoopMs() },
    command: COMPOUND,
    parts: { total: d1.parts.length, exec: execParts, verdict: d1.verdict },
    iterations,
    rounds,
    decideOnly: { value: decideOnly, unit: '/s', target: `>= ${target}`, met: decideOnly >= target },
    decideWithGrants: {
      value: decideWithGrants,
      unit: '/s',
      target: `>= ${target}`,
      met: decideWithGrants >= target,
    },
    parseAndDecide: {
      value: parseAndDecide,
      unit: '/s',
      target: `>= ${target}`,
      met: parseAndDecide >= target,
    },
    parseOnly: { value: parseOnly, unit: '/s' },
    argvAction: { value: argvRate, unit: '/s' },
    fileAction: { value: fileRate, unit: '/s' },
    networkAction: { value: netRate, unit: '/s' },
    prepareWithOracleMs: summary(samples.slice(1)),
    sink: sink > 0,
  };
}
