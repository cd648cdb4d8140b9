/**
 * Egress: the session's only way out of the sandbox. A per-session HTTP proxy on a unix
 * socket that decides every request by the policy, refuses private and metadata
 * addresses, injects credentials the sandbox never sees, intercepts TLS where rules need
 * to see methods and paths, and keeps request, byte and LLM cost budgets.
 *
 * See docs/egress.md.
 */
export { createEgressProxy } from './proxy.js';
export { BASE_URL_PREFIX } from './route.js';
export { createRuleDecider, DEFAULT_DENY_RULE } from './rules.js';
export type { EgressRule } from './rules.js';
export { parseSecretRef, describeSecretRef } from './secrets.js';
export type { SecretRef } from './secrets.js';
export { DEFAULT_CREDENTIAL_HEADERS, DEFAULT_CREDENTIAL_QUERY_PARAMS } from './credentials.js';
export type { CredentialBinding, CredentialInjection } from './credentials.js';
export { systemResolver } from './guard.js';
export type { EgressResolver, ResolvedAddress } from './guard.js';
export { BUDGET_NAMES } from './budget.js';
export type { BudgetName, EgressBudgets } from './budget.js';
export type { LlmApi, ModelPrice } from './usage.js';
export { DENIED_HEADER } from './deny.js';
export type {
  BaseUrlRoute,
  EgressAsk,
  EgressAskRequest,
  EgressBudgetEvent,
  EgressDecide,
  EgressDecision,
  EgressEvent,
  EgressMode,
  EgressProxy,
  EgressProxyOptions,
  EgressRequest,
  EgressRequestEvent,
  EgressStats,
  EgressUsage,
  EgressVerdict,
  LlmEndpoint,
} from './types.js';
