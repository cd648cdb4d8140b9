/**
 * A small rule table that produces an {@link EgressDecide}, for using the proxy on its own
 * (tests, examples, tools) without the policy part. Sessions use the policy's `decide`.
 *
 * Semantics: deny by default; among the rules that match a request, the strictest verdict
 * wins (deny > ask > log > allow). A rule without ports covers 80 and 443. For a tunnel
 * (no method or path known), a host that has any rule with methods or paths is allowed
 * only with `inspect`, so that each request inside is judged.
 */
import { AirlockError } from '../errors/index.js';
import { compileHostPattern, compilePathPattern, type HostPattern, type PathPattern } from './match.js';
import type { EgressDecide, EgressDecision, EgressRequest, EgressVerdict } from './types.js';

/** One network rule. */
export interface EgressRule {
  /** Named in `X-Airlock-Denied` and events. */
  readonly id: string;
  readonly verdict: EgressVerdict;
  /** Host patterns: `api.github.com`, `*.example.com`, `127.0.0.1`, or `*`. */
  readonly hosts: readonly string[];
  /** Default `[80, 443]`. */
  readonly ports?: readonly number[];
  /** Methods, uppercase; any when absent. */
  readonly methods?: readonly string[];
  /** Path patterns (`*` one segment, `**` any); any when absent. */
  readonly paths?: readonly string[];
  /** Shown in denials; defaults to a description of the rule. */
  readonly reason?: string;
}

interface CompiledRule {
  readonly rule: EgressRule;
  readonly hosts: readonly HostPattern[];
  readonly ports: ReadonlySet<number>;
  readonly methods: ReadonlySet<string> | null;
  readonly paths: readonly PathPattern[] | null;
}

const STRICTNESS: Record<EgressVerdict, number> = { allow: 0, log: 1, ask: 2, deny: 3 };

/** The rule id used when nothing matched. */
export const DEFAULT_DENY_RULE = 'egress.default-deny';

/** Builds a decide function from rules. Throws `E_CONFIG_INVALID` for a bad pattern. */
export function createRuleDecider(rules: readonly EgressRule[]): EgressDecide {
  const compiled: CompiledRule[] = rules.map((rule, i) => {
    const at = `rules[${i}]`;
    const invalid = (msg: string): AirlockError =>
      new AirlockError('E_CONFIG_INVALID', `${at}: ${msg}`, {
        hint: 'Fix the rule; see docs/egress.md for the pattern syntax.',
      });
    const hosts = rule.hosts.map((h) => {
      const p = compileHostPattern(h);
      if (typeof p === 'string') throw invalid(p);
      return p;
    });
    const paths =
      rule.paths?.map((t) => {
        const p = compilePathPattern(t);
        if (typeof p === 'string') throw invalid(p);
        return p;
      }) ?? null;
    for (const port of rule.ports ?? []) {
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw invalid(`port ${port} is not between 1 and 65535`);
    }
    return {
      rule,
      hosts,
      ports: new Set(rule.ports ?? [80, 443]),
      methods: rule.methods === undefined ? null : new Set(rule.methods.map((m) => m.toUpperCase())),
      paths,
    };
  });

  return (req: EgressRequest): EgressDecision => {
    const onHost = compiled.filter((r) => r.ports.has(req.port) && r.hosts.some((h) => h.matches(req.host)));
    const hostLevel = req.method === undefined || req.path === undefined;
    if (hostLevel) {
      const broad = onHost.filter((r) => r.methods === null && r.paths === null);
      const narrow = onHost.filter((r) => r.methods !== null || r.paths !== null);
      const strictestBroad = strictest(broad);
      if (strictestBroad?.rule.verdict === 'deny') return decision(strictestBroad, req);
      if (narrow.length > 0) {
        const first = narrow[0];
        if (first !== undefined) {
          return {
            verdict: strictestBroad?.rule.verdict ?? 'allow',
            ruleId: strictestBroad?.rule.id ?? first.rule.id,
            reason: `${req.host} has method/path rules; each request is checked`,
            inspect: true,
          };
        }
      }
      if (strictestBroad !== null) return decision(strictestBroad, req);
    } else {
      const method = req.method?.toUpperCase() ?? '';
      const path = req.path ?? '/';
      const matching = onHost.filter(
        (r) =>
          (r.methods === null || r.methods.has(method)) &&
          (r.paths === null || r.paths.some((p) => p.matches(path))),
      );
      const s = strictest(matching);
      if (s !== null) return decision(s, req);
    }
    return {
      verdict: 'deny',
      ruleId: DEFAULT_DENY_RULE,
      reason: `no rule allows ${req.method ?? 'a connection to'} ${req.host}:${req.port}${req.path ?? ''}`,
    };
  };
}

function strictest(rules: readonly CompiledRule[]): CompiledRule | null {
  let best: CompiledRule | null = null;
  for (const r of rules)
    if (best === null || STRICTNESS[r.rule.verdict] > STRICTNESS[best.rule.verdict]) best = r;
  return best;
}

function decision(r: CompiledRule, req: EgressRequest): EgressDecision {
  return {
    verdict: r.rule.verdict,
    ruleId: r.rule.id,
    reason: r.rule.reason ?? `rule ${r.rule.id} says ${r.rule.verdict} for ${req.host}:${req.port}`,
  };
}
