/**
 * Denials written for agents. One shape, built here and nowhere else, for every face:
 * the MCP server's `isError` results, `airlock session exec --json`, and the SDK's
 * `PolicyDeniedError.toJSON()`. An agent that reads it learns what was blocked, by which
 * rule, that this is the sandbox's policy (not a bug to debug or route around), that
 * workarounds are blocked and recorded too, and how to ask a person for access.
 */
import type { Decision } from '../policy/index.js';

/** Which face the denial is shown through; it decides how access is asked for. */
export type DenialFace = 'mcp' | 'cli' | 'sdk';

/** A policy denial as every face reports it (the `denial` field of the JSON forms). */
export interface Denial {
  /** Always `E_POLICY_DENIED`. */
  readonly code: 'E_POLICY_DENIED';
  /** What was blocked, as a person reads it: the command line, the path, `host:port`. */
  readonly blocked: string;
  /** The kind of action: `exec`, `file.read`, `file.write`, `network`. */
  readonly action: string;
  /** The policy's verdict: `deny`, or `ask` with nobody attached to answer it. */
  readonly verdict: 'deny' | 'ask';
  /** The rule that decided, e.g. `git-push` or `files.deny[0]`. */
  readonly rule: string;
  /** Where the rule is written (`file:line`), when known. */
  readonly ruleSource: string | null;
  /** Why, in the policy's words. */
  readonly reason: string;
  /** That this is the sandbox's policy and not a fault in the code or the command. */
  readonly notAFault: string;
  /** That other routes to the same effect are blocked too, and recorded. */
  readonly workarounds: string;
  /** How to get access: the tool or command that asks a person. */
  readonly howToGetAccess: string;
}

const NOT_A_FAULT =
  'This is the sandbox policy set by the person running you, not an error in your code, the command or the environment. Do not try to debug or fix it.';
const WORKAROUNDS =
  'Other routes to the same effect (another command, a wrapper, a script you write and run, an interpreter, a different path or a symlink) are blocked as well, and every attempt is recorded in the audit log a person reviews.';

function accessHint(face: DenialFace, action: string): string {
  switch (face) {
    case 'mcp': {
      const arg = action === 'network' ? 'host' : action === 'exec' ? 'command' : 'path';
      return `If you need it for the task, call the request_access tool with the ${arg} and a one-sentence reason; a person decides, and you are told the outcome. Otherwise continue without it.`;
    }
    case 'cli':
    case 'sdk':
      return 'A person can allow it by changing airlock.yaml (check a change with `airlock policy check -- CMD`), or, where the policy says ask, by answering in `airlock approvals`.';
  }
}

/** The part of a decision that decided: its action kind (the decision names only the rule). */
function decidingKind(decision: Decision): string {
  const part = decision.parts.find((p) => p.verdict === decision.verdict && p.ruleId === decision.ruleId);
  const kind = part?.kind ?? decision.parts[0]?.kind ?? 'exec';
  return kind === 'env' || kind === 'unresolvable' ? 'exec' : kind;
}

/** Builds the {@link Denial} for a decision that stopped an action. */
export function describeDenial(subject: string, decision: Decision, face: DenialFace, why?: string): Denial {
  const action = decidingKind(decision);
  return {
    code: 'E_POLICY_DENIED',
    blocked: subject,
    action,
    verdict: decision.verdict === 'ask' ? 'ask' : 'deny',
    rule: decision.ruleId,
    ruleSource: decision.source === undefined ? null : `${decision.source.file}:${decision.source.line}`,
    reason: why ?? decision.reason,
    notAFault: NOT_A_FAULT,
    workarounds: WORKAROUNDS,
    howToGetAccess: accessHint(face, action),
  };
}

/** The denial as plain text for an agent (an MCP tool result, a log line). */
export function formatDenial(d: Denial): string {
  return [
    `BLOCKED BY SANDBOX POLICY: ${d.action} ${JSON.stringify(d.blocked)} was not run.`,
    `Rule: ${d.rule}${d.ruleSource === null ? '' : ` (${d.ruleSource})`}: ${d.reason}.`,
    d.notAFault,
    d.workarounds,
    d.howToGetAccess,
  ].join('\n');
}
