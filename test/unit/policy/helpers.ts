import { expect } from 'vitest';
import {
  createDecideContext,
  decide,
  loadPolicy,
  type Action,
  type Decision,
  type Level,
  type Policy,
  type PolicyRequirementId,
} from '../../../src/policy/index.js';

/** An expectation: an exact verdict, or a bound ("at least ask", "at most log"). */
export type Expect = Level | '>=ask' | '<=log';

/** One row of a table: the requirement it proves, the action, the expected verdict. */
export interface Case {
  readonly req: PolicyRequirementId;
  readonly action: Action | string;
  readonly expect: Expect;
  /** Which policy: a preset name or a custom policy key from {@link POLICIES}. */
  readonly policy?: string;
  /** The rule id that should decide, when it matters. */
  readonly rule?: string;
}

const cache = new Map<string, Policy>();

/** Custom policies used by some rows, next to the presets. */
export const POLICIES: Readonly<Record<string, string>> = {
  'rm-no-recursive': `
version: 1
extends: default
exec:
  rules:
    - { id: rm-strict, command: rm, level: allow, forbidFlags: [-r, -R, --recursive, -f, --force] }
`,
  'app-dir': `
version: 1
files:
  read: [/work/app]
  write: ['/work/app/**']
  otherwise: { read: deny, write: deny }
`,
  'net-strict': `
version: 1
network:
  default: deny
  rules:
    - { id: example-wild, host: '*.example.com', level: allow }
    - { id: api-v1, host: api.example.org, paths: ['/v1/**'], methods: [GET], level: allow }
    - { id: internal, cidr: 10.1.0.0/16, ports: [8080], level: ask }
    - { id: exact-beats-wild, host: blocked.example.com, level: deny }
`,
};

/** Loads (once) a preset by name or a custom policy from {@link POLICIES}. */
export function policyNamed(name: string): Policy {
  const hit = cache.get(name);
  if (hit) return hit;
  const text = POLICIES[name] ?? `version: 1\nextends: ${name}\n`;
  const p = loadPolicy({ text, path: `/virtual/${name}.yaml` });
  cache.set(name, p);
  return p;
}

/** The sandbox layout the tests assume. */
export const CTX = createDecideContext({ workspace: '/workspace', home: '/home/agent' });

/** Decides a row's action. */
export function run(c: Pick<Case, 'action' | 'policy'>): Decision {
  const action: Action = typeof c.action === 'string' ? { kind: 'exec', command: c.action } : c.action;
  return decide(action, policyNamed(c.policy ?? 'default'), CTX);
}

const RANK: Record<Level, number> = { allow: 0, log: 1, ask: 2, deny: 3 };

/** Asserts a decision against an expectation, with the parts in the failure message. */
export function check(d: Decision, e: Expect, label: string): void {
  const detail = `${label}\n${d.verdict} by ${d.ruleId}: ${d.reason}\n${d.parts.map((p) => `  ${p.verdict} ${p.kind} ${p.ruleId} ${p.subject}`).join('\n')}`;
  if (e === '>=ask') expect(RANK[d.verdict], detail).toBeGreaterThanOrEqual(RANK.ask);
  else if (e === '<=log') expect(RANK[d.verdict], detail).toBeLessThanOrEqual(RANK.log);
  else expect(d.verdict, detail).toBe(e);
}

/** A printable label for a row. */
export function label(c: Case): string {
  const a = typeof c.action === 'string' ? c.action : JSON.stringify(c.action);
  return `[${c.req}] ${a.length > 80 ? `${a.slice(0, 80)}…` : a} → ${c.expect}${c.policy ? ` (${c.policy})` : ''}`;
}
