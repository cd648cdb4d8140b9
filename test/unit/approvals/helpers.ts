/**
 * Helpers for the approvals tests: temporary state directories and asks shaped as the
 * policy part makes them (parts whose subjects are shell-quoted as `decide` quotes them).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApprovalAction, AskInput, DecisionPartLike } from '../../../src/approvals/index.js';

/** A fresh state directory; `cleanup` removes it. */
export function tempStateDir(prefix = 'approvals'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `airlock-${prefix}-`));
  return { dir, cleanup: () => { rmSync(dir, { recursive: true, force: true }); } };
}

/** Quotes one word as the policy's display of a command does (src/policy/analyzers.ts shellQuote). */
export function policyQuote(s: string): string {
  if (s.length > 0 && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** An exec part as the policy reports it. */
export function execPart(argv: readonly string[], verdict: DecisionPartLike['verdict'] = 'ask', ruleId = 'exec.default'): DecisionPartLike {
  return { kind: 'exec', verdict, ruleId, reason: `no rule names ${argv[0] ?? ''}`, subject: argv.map(policyQuote).join(' ') };
}

/** An ask for an argv action in a session, with one asking part (or the parts given). */
export function argvAsk(sessionId: string, argv: readonly string[], extra: { cwd?: string; env?: Record<string, string>; parts?: DecisionPartLike[]; policyFile?: string; execId?: string } = {}): AskInput {
  const action: ApprovalAction = {
    kind: 'exec',
    argv,
    ...(extra.cwd === undefined ? { cwd: '/workspace' } : { cwd: extra.cwd }),
    ...(extra.env === undefined ? {} : { env: extra.env }),
  };
  const parts = extra.parts ?? [execPart(argv)];
  return {
    sessionId,
    action,
    decision: { verdict: 'ask', ruleId: parts.find((p) => p.verdict === 'ask')?.ruleId ?? 'exec.default', reason: parts[0]?.reason ?? 'asked', parts },
    ...(extra.policyFile === undefined ? {} : { policyFile: extra.policyFile }),
    ...(extra.execId === undefined ? {} : { execId: extra.execId }),
  };
}

/** An ask for a command line with the given parts. */
export function commandAsk(sessionId: string, command: string, parts: DecisionPartLike[], extra: { policyFile?: string } = {}): AskInput {
  return {
    sessionId,
    action: { kind: 'exec', command, cwd: '/workspace' },
    decision: { verdict: 'ask', ruleId: parts.find((p) => p.verdict === 'ask')?.ruleId ?? 'exec.default', reason: 'asked', parts },
    ...(extra.policyFile === undefined ? {} : { policyFile: extra.policyFile }),
  };
}

/** An ask for a network request. */
export function networkAsk(sessionId: string, host: string, method = 'GET', path = '/'): AskInput {
  return {
    sessionId,
    action: { kind: 'network', host, port: 443, method, path, scheme: 'https' },
    decision: {
      verdict: 'ask',
      ruleId: 'network.default',
      reason: `no network rule matches ${method} https://${host}:443${path}`,
      parts: [{ kind: 'network', verdict: 'ask', ruleId: 'network.default', reason: 'no rule', subject: `${method} https://${host}${path}` }],
    },
  };
}

/** Resolves after `ms`, to let polls and timers run. Never used to assert a duration. */
export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True when the promise is still pending after the event loop has run a few turns. */
export async function isPending(p: Promise<unknown>, ms = 50): Promise<boolean> {
  const marker = Symbol('pending');
  const r = await Promise.race([p.then(() => 'settled', () => 'settled'), delay(ms).then(() => marker)]);
  return r === marker;
}
