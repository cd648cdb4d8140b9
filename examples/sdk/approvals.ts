// A person answers `ask` verdicts over the local approvals page. Type-checked by `npm run typecheck`.
import { createApprovalQueue, createSession, loadPolicy, resolveStateDir, startApprovalServer } from 'airlock';

const stateDir = resolveStateDir();
const approvals = createApprovalQueue({
  stateDir,
  // A `rule` grant writes into the policy file only if the result still validates.
  validatePolicy: (text, file) => loadPolicy({ text, path: file }),
});
const server = await startApprovalServer({ queue: approvals, stateDir });
console.error(`approve at ${server.pageUrl}`);

const session = await createSession({ workspace: '/path/to/project', stateDir, policy: loadPolicy({ path: 'airlock.yaml' }) });

// Ask a person directly (this is what the MCP server's request_access does).
const policy = session.policy;
if (policy !== undefined) {
  const sub = approvals.submit({
    sessionId: session.id,
    action: { kind: 'network', host: 'api.github.com', port: 443, method: 'GET' },
    decision: { verdict: 'ask', ruleId: 'example', reason: 'read the issue list', parts: [] },
    policyFile: policy.file,
  });
  const decision = await sub.decision;
  console.log(decision.approved ? `approved (${decision.scope}) by ${decision.by}` : `refused: ${decision.reason}`);
  if (decision.approved && decision.scope === 'rule') session.setPolicy(loadPolicy({ path: policy.file }));
}

// Pending asks and decisions, as the page and `airlock approvals` show them.
for (const r of approvals.list({ status: 'pending', sessionId: session.id })) console.log(r.id, r.subject);

approvals.endSession(session.id);
await session.destroy();
await server.close();
approvals.close();
