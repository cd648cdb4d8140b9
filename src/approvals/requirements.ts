/**
 * Security requirements of the approvals part and of the faces that attach it, by id. Tests
 * cite these ids in their names; test/unit/requirements.test.ts fails when an id here has no
 * test citing it.
 */
export const APPROVALS_REQUIREMENTS = {
  'approvals.session-ask': 'an asked action waits for a person and runs only once approved; a denial never reaches the sandbox',
  'approvals.session-timeout': 'nobody answering within the policy timeout is a deny',
  'approvals.no-widening': 'what runs is the stored action the person saw, never the caller arrays changed while the ask waited',
  'approvals.file-write': "a write's ask carries its diff, and the approval is bound to the content's digest",
  'approvals.session-grant': 'a session grant lets the same exact action run again without a prompt, and nothing wider',
  'approvals.rule-grant': 'a confirmed rule is written to the policy file, the session reloads it, and the reload is audited',
  'approvals.reload-failure':
    'when the policy file no longer loads after a rule grant, the session keeps its stricter policy, records policy.reload ok:false and says so on stderr',
  'approvals.cancel-while-waiting': 'a command signalled while it waits for a person never starts, even if approved later',
  'approvals.run-attached':
    '`airlock run` waits on the state directory queue: asks are announced on stderr, answered by `airlock approve`/`deny` from another process, or denied on timeout, and audited with who, channel and wait',
  'approvals.run-tty': 'on a terminal the agent owns, asks are announced without reading input: a CR-LF line and the window title, restored afterwards',
  'approvals.run-http': '`airlock run --approval-server` serves the API and page; a signed webhook names where to answer; an HTTP approval names its token',
  'approvals.named-attached':
    'the host process of a named session waits on the same queue; `session exec` announces asks, and a denial or timeout comes back as E_POLICY_DENIED',
  'approvals.rule-grant-in-policy':
    'a rule grant takes effect when the rule that asked is in the same policy file or a preset (exec and exact-host network), and never lowers what that rule denies',
  'approvals.webhook-redacted': "a webhook payload's argv, paths, URLs and diff pass through the audit log's redaction before they leave",
  'approvals.session-show': '`airlock session show` reports the prompts a session needed',
} as const;
