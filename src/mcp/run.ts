/**
 * `airlock mcp`: one session, one approvals queue and its HTTP page, and the MCP server
 * on stdio. stdout belongs to the protocol; everything for the operator goes to stderr.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { loadPolicy } from '../policy/index.js';
import { openApprovalChannels, type ApprovalChannels, type ApprovalWebhookConfig } from '../server/index.js';
import { createSession, newSessionId, type Session, type SessionOptions } from '../session/index.js';
import { createMcpServer } from './server.js';

/** Options for {@link runMcpServer}. */
export interface RunMcpOptions extends Omit<SessionOptions, 'policy'> {
  /** The policy file (none: the sandbox alone is the boundary). */
  policyPath?: string;
  /** The state directory (approvals, audit, sessions). */
  stateDir: string;
  /** Start the approvals HTTP page on loopback (default true). */
  approvalServer?: boolean;
  /** Port for the approvals page (default 0: any free port). */
  approvalPort?: number;
  /** POST each new ask, signed, to this webhook. */
  approvalWebhook?: ApprovalWebhookConfig;
  /** Server version reported to clients. */
  version?: string;
  /** Where operator messages go (default stderr). */
  log?: (line: string) => void;
}

/** Runs `airlock mcp` until the client closes stdin; destroys the session at the end. */
export async function runMcpServer(options: RunMcpOptions): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { policyPath, approvalServer, approvalPort, approvalWebhook, version, ...sessionOptions } = options;
  delete sessionOptions.log;
  const policy = policyPath === undefined ? undefined : loadPolicy({ path: policyPath });
  const id = sessionOptions.id ?? newSessionId();
  const channels: ApprovalChannels = await openApprovalChannels({
    stateDir: options.stateDir,
    sessionId: id,
    http: approvalServer === false ? false : { ...(approvalPort === undefined ? {} : { port: approvalPort }) },
    ...(approvalWebhook === undefined ? {} : { webhook: approvalWebhook }),
    onWebhookFailure: (d) => { log(`airlock mcp: webhook delivery of ${d.approvalId} failed after ${d.attempts} attempts: ${d.error ?? ''}`); },
  });
  const approvals = channels.queue;
  const http = channels.server;
  let session: Session | undefined;
  try {
    session = await createSession({ ...sessionOptions, id, approvals, ...(policy === undefined ? {} : { policy }) });
    log(`airlock mcp: session ${session.id}, workspace ${session.workspace}${policy === undefined ? ', no policy' : `, policy ${policy.file}`}`);
    if (http !== undefined) log(`airlock mcp: approvals at ${http.pageUrl}`);
    const server = createMcpServer({
      session,
      approvals,
      // The session waits on this queue for every `ask`, so a session grant covers a retry.
      sessionAsksWait: true,
      ...(http === undefined ? {} : { approvalUrl: http.url }),
      ...(version === undefined ? {} : { version }),
    });
    const transport = new StdioServerTransport();
    const closed = new Promise<void>((resolve) => {
      transport.onclose = () => { resolve(); };
      process.stdin.once('end', () => { resolve(); });
    });
    await server.connect(transport);
    const ended = session.ended.then((reason) => { log(`airlock mcp: session ended: ${reason.message}`); });
    await Promise.race([closed, ended]);
    await server.close().catch(() => undefined);
  } finally {
    if (session !== undefined) {
      approvals.endSession(session.id, 'the MCP server stopped');
      await session.destroy();
      if (session.workspaceMode === 'direct') {
        log(`airlock mcp: warning: --direct: the agent wrote straight into ${session.workspace}; nothing was staged.`);
      } else if (session.staged !== null) {
        // The agent's changes wait for a person: nothing reached the project.
        log(`airlock mcp: the agent's changes are staged; review with \`airlock diff ${session.id}\`, then \`airlock apply ${session.id}\` or \`airlock discard ${session.id}\``);
      }
    }
    await channels.close();
  }
}
