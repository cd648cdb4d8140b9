// Follow a session's audit events while it works. Type-checked by `npm run typecheck`.
import { auditEvents, createSession } from 'airlock';

const session = await createSession({ workspace: '/path/to/project' });
const controller = new AbortController();

const watcher = (async () => {
  for await (const e of auditEvents(session, { types: ['policy.decision', 'exec.finished'], signal: controller.signal })) {
    if (e.type === 'policy.decision') console.log(e.data.verdict, e.data.subject);
    else if (e.type === 'exec.finished') console.log(e.data.execId, 'exit', e.data.exitCode);
  }
})();

await session.exec(['ls', '-la']);
await session.destroy(); // the iterator ends after session.stopped
await watcher;
