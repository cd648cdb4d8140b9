/**
 * The local HTTP face: the approvals API (list, get, decide, batches, a server-sent-events
 * stream of new asks) and a small web page to approve and deny, on loopback only, behind
 * named bearer tokens. Started by `airlock serve`, or in-process by `airlock run`.
 */
export { startApprovalServer } from './http.js';
export type { ApprovalServer, ApprovalServerOptions, ApprovalView } from './http.js';
export { addToken, loadOrCreateTokens, LOCAL_TOKEN_NAME, newToken, tokensPath } from './tokens.js';
export { openApprovalChannels, runningServerUrl } from './channels.js';
export type { ApprovalChannels, ApprovalChannelsOptions, ApprovalWebhookConfig } from './channels.js';
