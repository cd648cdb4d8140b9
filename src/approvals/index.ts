/**
 * Approvals: where an `ask` verdict waits for a person, the channels that reach them
 * (terminal, the local HTTP API in `src/server`, webhooks) and the grants they give.
 *
 * The session layer creates one queue per process over the state directory, calls
 * `request` when the policy says `ask`, and before running an approved action calls
 * `authorize(decision, action)` and runs the canonical action it returns. See
 * docs/approvals.md.
 */
import { createApprovalQueue } from './queue.js';
import type { PromptStats } from './queue.js';

export type {
  ApprovalAction,
  ApprovalCategory,
  ApprovalDecision,
  ApprovalDeniedEvent,
  ApprovalEvent,
  ApprovalEventSink,
  ApprovalExpiredEvent,
  ApprovalGrantedEvent,
  ApprovalRecord,
  ApprovalRequestedEvent,
  ApprovalResolution,
  ApprovalStatus,
  AskInput,
  AskPart,
  CanonicalAction,
  DecisionPartLike,
  ExecArgvActionLike,
  ExecCommandActionLike,
  FileActionLike,
  GrantScope,
  NetworkActionLike,
  PolicyDecisionLike,
  ResolvedPathLike,
  RuleProposal,
  VerdictLike,
} from './types.js';
export { GRANT_SCOPES } from './types.js';
export { actionDigest, canonicalAction, fromCanonical, isCanonical, parseAction, MAX_ITEMS, MAX_STRING_BYTES } from './canonical.js';
export { clip, describeRecord, displayAction, displayArgv, escapeText, hasHiddenCharacters, quoteArg } from './display.js';
export { escapeGlob, isDestructiveArgv, parseDisplayedArgv, proposeRule, rulePrefix, SUBCOMMAND_TOOLS } from './grants.js';
export type { ProposeRuleInput, RuleFragment } from './grants.js';
export { prepareRuleWrite, writeRuleToPolicy } from './policy-file.js';
export type { PreparedRuleWrite, WriteRuleOptions } from './policy-file.js';
export { createApprovalQueue, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from './queue.js';
export type {
  ApprovalBatch,
  ApprovalChange,
  ApprovalQueue,
  ApprovalQueueOptions,
  BatchDecideInput,
  BatchItem,
  DecideInput,
  PromptStats,
  RequestOptions,
  SessionGrant,
} from './queue.js';
export { approvalsDbPath } from './store.js';
export { attachTerminalAnnouncer, formatAnnouncement, terminalTitle } from './terminal.js';
export type { AnnouncerOptions } from './terminal.js';
export { createApprovalsScreen } from './tui.js';
export type { ApprovalsScreen, ApprovalsScreenOptions } from './tui.js';
export { attachWebhook, signWebhook, verifyWebhookSignature, webhookPayload, WEBHOOK_HEADERS } from './webhook.js';
export type { WebhookChannel, WebhookDelivery, WebhookOptions, WebhookPayload } from './webhook.js';

/**
 * Prompt counts of one session, read from the state directory without keeping a queue
 * open (for `airlock session show`).
 */
export function readPromptStats(stateDir: string, sessionId: string): PromptStats {
  const q = createApprovalQueue({ stateDir });
  try {
    return q.stats(sessionId);
  } finally {
    q.close();
  }
}
