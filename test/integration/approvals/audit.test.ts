/**
 * Approval events on a real session event channel, recorded by the real audit log: every
 * ask and decision, with who decided, through which channel and after how long.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachAudit, openAuditStore } from '../../../src/audit/index.js';
import type { AuditStore } from '../../../src/audit/index.js';
import { createEventChannel } from '../../../src/events/index.js';
import type { AirlockEvent } from '../../../src/events/index.js';
import { createApprovalQueue } from '../../../src/approvals/index.js';
import type { ApprovalEvent, ApprovalEventSink } from '../../../src/approvals/index.js';
import { argvAsk, tempStateDir } from '../../unit/approvals/helpers.js';

/** Compile-time proof that every approvals event is an event of src/events. */
type Fits = ApprovalEvent extends AirlockEvent ? true : never;
const fits: Fits = true;
/** And that a session's event channel is a sink the queue accepts. */
const sinkFits: ApprovalEventSink = createEventChannel();

let state: ReturnType<typeof tempStateDir>;
let store: AuditStore;

beforeAll(() => {
  state = tempStateDir('audit');
  store = openAuditStore({ stateDir: state.dir });
});
afterAll(() => {
  store.close();
  state.cleanup();
});

describe('approvals in the audit log', () => {
  it('records each ask and decision with who, channel and latency', async () => {
    expect(fits && typeof sinkFits.publish).toBe('function');
    const sessionId = 's-audited';
    const channel = createEventChannel();
    const audit = attachAudit(channel, { sessionId, store });
    const queue = createApprovalQueue({ stateDir: state.dir });
    try {
      const publish = (e: ApprovalEvent): void => { channel.publish(e); };
      const a = queue.submit(argvAsk(sessionId, ['git', 'push'], { execId: 'e1' }), { publish });
      queue.decide(a.id, { decision: 'approve', digest: queue.get(a.id)?.digest ?? '', scope: 'session', by: 'user:alice', channel: 'terminal' });
      await a.decision;
      await queue.request(argvAsk(sessionId, ['git', 'push'], { execId: 'e2' }), { publish });
      const b = queue.submit(argvAsk(sessionId, ['rm', '-rf', '/'], { execId: 'e3' }), { publish, timeoutMs: 30 });
      await b.decision;
      await audit.flush();
    } finally {
      await audit.close();
      queue.close();
    }
    const records = store.readSession(sessionId);
    expect(records.map((r) => [r.type, (r.data as { execId?: string }).execId])).toEqual([
      ['approval.requested', 'e1'],
      ['approval.granted', 'e1'],
      ['approval.granted', 'e2'],
      ['approval.requested', 'e3'],
      ['approval.expired', 'e3'],
    ]);
    expect(records[1]?.data).toMatchObject({ by: 'user:alice', channel: 'terminal', scope: 'session' });
    expect(records[2]?.data).toMatchObject({ by: 'user:alice', channel: 'session-grant', scope: 'session', waitedMs: 0 });
    expect(typeof (records[4]?.data as { waitedMs: unknown }).waitedMs).toBe('number');
    expect(store.verify(sessionId).ok).toBe(true);
  });
});
