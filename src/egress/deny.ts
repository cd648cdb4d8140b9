/**
 * The responses a denied or over-budget request gets. They are read by an agent, so they
 * say plainly that this is a policy (not an outage to retry around), which rule, and who
 * can change it.
 */
import type { BudgetBreach } from './budget.js';

/** What a denial is about. */
export interface DenialInfo {
  readonly ruleId: string;
  readonly reason: string;
  readonly method: string | null;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly path: string | null;
}

/** The header that names the rule on every denial. */
export const DENIED_HEADER = 'X-Airlock-Denied';

/** A rule id as it may appear in a header: visible ASCII only, bounded. */
export function headerSafe(id: string): string {
  const safe = id.replace(/[^\x21-\x7e]/g, '_').slice(0, 200);
  return safe === '' ? 'unknown' : safe;
}

function target(info: DenialInfo): string {
  const host = info.host.includes(':') ? `[${info.host}]` : info.host;
  if (info.method === null || info.method === 'CONNECT') return `CONNECT ${host}:${info.port}`;
  return `${info.method} ${info.scheme}://${host}:${info.port}${info.path ?? ''}`;
}

/** The body of a 403. */
export function denialBody(info: DenialInfo): string {
  return [
    `Airlock blocked this request: ${target(info)}`,
    '',
    "This is the sandbox's network policy, not a network failure.",
    `Rule: ${info.ruleId}`,
    `Reason: ${info.reason}`,
    '',
    'Every other way out of the sandbox (direct connections, other proxies, DNS, raw sockets)',
    'is blocked too, so retrying by another route will not work. If the task needs this',
    'request, stop and tell the operator which host, port, method and path it needs and why;',
    'they can allow it in the network rules of airlock.yaml.',
    '',
  ].join('\n');
}

const BUDGET_WORDS: Record<BudgetBreach['budget'], string> = {
  requests: 'requests',
  bytesUp: 'bytes sent',
  bytesDown: 'bytes received',
  inputTokens: 'LLM input tokens',
  outputTokens: 'LLM output tokens',
  tokens: 'LLM tokens',
  costUsd: 'LLM cost in US dollars',
};

/** The body of a 429. */
export function budgetBody(breach: BudgetBreach, info: Omit<DenialInfo, 'ruleId' | 'reason'>): string {
  const detail =
    breach.unpriced !== undefined
      ? `The session has a cost budget, and the model "${breach.unpriced}" has no price in the price table, so its cost cannot be bounded.`
      : `The session's budget for ${BUDGET_WORDS[breach.budget]} is spent: ${formatAmount(breach.used)} used of ${formatAmount(breach.limit)}.`;
  return [
    `Airlock refused this request: ${target({ ...info, ruleId: '', reason: '' })}`,
    '',
    detail,
    'This is a limit the operator set for this session, not a rate limit of the remote service:',
    'waiting and retrying will not help. Finish with what you have, or ask the operator to',
    'raise the budget (egress budgets in airlock.yaml) and start a new session.',
    '',
  ].join('\n');
}

function formatAmount(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(4);
}

/** A complete HTTP/1.1 response as text, for sockets that are no longer an http.ServerResponse. */
export function rawResponse(
  status: number,
  statusText: string,
  headers: Readonly<Record<string, string>>,
  body: string,
): string {
  const lines = [`HTTP/1.1 ${status} ${statusText}`];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close', '', body);
  return lines.join('\r\n');
}
