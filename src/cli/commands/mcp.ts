import type { Command } from 'commander';
import { addSandboxOptions, policyPathFrom, sessionOptionsFrom, type SandboxCliOptions } from '../limits-options.js';
import { usageError } from '../output.js';
import { addWebhookOptions, webhookFrom, type WebhookCliOptions } from '../approval-options.js';

/** `airlock mcp [options]`: an MCP server on stdio for one sandboxed session. */
export function register(program: Command, version: string): void {
  addWebhookOptions(
    addSandboxOptions(
      program
        .command('mcp')
        .description('serve one sandboxed session to an agent as MCP tools on stdio (stdout is the protocol; messages go to stderr)'),
    ),
  )
    .option('--approval-port <port>', 'port of the approvals page on 127.0.0.1 (default: any free port)')
    .option('--direct', 'no staging: mount the project itself read-write (every write lands at once, nothing to review)')
    .option('--no-approval-server', 'do not start the approvals page (answer with `airlock approvals` instead)')
    .action(async (opts: SandboxCliOptions & WebhookCliOptions & { approvalPort?: string; approvalServer?: boolean; direct?: boolean }) => {
      const webhook = webhookFrom(opts);
      const port = opts.approvalPort === undefined ? undefined : Number(opts.approvalPort);
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) {
        throw usageError(`--approval-port: ${JSON.stringify(opts.approvalPort)} is not a port`, 'Pass 0-65535, e.g. --approval-port 7420.');
      }
      const policyPath = policyPathFrom(opts);
      // Loaded only for this command: the MCP SDK is not on the path of any other.
      const { runMcpServer } = await import('../../mcp/index.js');
      await runMcpServer({
        ...(policyPath === undefined ? {} : { policyPath }),
        ...sessionOptionsFrom(opts),
        approvalServer: opts.approvalServer !== false,
        ...(webhook === undefined ? {} : { approvalWebhook: webhook }),
        ...(port === undefined ? {} : { approvalPort: port }),
        version,
      });
    });
}
