/**
 * The keyboard-driven screen of `airlock approvals`, as a state machine: keys in, text
 * out. The CLI owns the terminal (raw mode, the alternate screen) and only feeds keys and
 * prints frames, so the screen's behaviour is tested without a terminal.
 *
 * Against fatigue, pending asks are grouped into batches (same session, category and
 * rule) with counts, and a whole batch can be approved or denied with one key; destructive
 * asks are never part of a batch approval, and a batch decision covers exactly the asks
 * (and digests) that were on the screen when the person confirmed it.
 */
import { isAirlockError } from '../errors/index.js';
import { clip, describeRecord, escapeText } from './display.js';
import type { ApprovalBatch, ApprovalQueue, BatchItem } from './queue.js';
import type { ApprovalRecord } from './types.js';

/** Options for {@link createApprovalsScreen}. */
export interface ApprovalsScreenOptions {
  queue: ApprovalQueue;
  /** Who decides, for the audit log: `user:NAME`. */
  by: string;
  /** Only this session's asks. */
  sessionId?: string;
  /** ANSI colours (default false; the CLI turns them on unless NO_COLOR is set). */
  color?: boolean;
}

type Mode =
  | { kind: 'list' }
  | { kind: 'details' }
  | { kind: 'rule'; record: ApprovalRecord }
  | { kind: 'reason'; record: ApprovalRecord; text: string }
  | { kind: 'batch'; decision: 'approve' | 'deny'; batch: ApprovalBatch; items: BatchItem[] };

/** The approvals screen. */
export interface ApprovalsScreen {
  /** Reloads the pending asks (after a change on any channel). */
  refresh(): void;
  /** Handles one key (a character, or an escape sequence such as an arrow). Returns `quit` when the person quits. */
  key(input: string): 'quit' | null;
  /** The screen as lines of at most `cols` characters, at most `rows` of them. */
  render(cols: number, rows: number): string[];
  /** The last message: what was decided, or an error. */
  readonly status: string;
  /** The ask under the cursor. */
  readonly selected: ApprovalRecord | null;
  /** The current mode's name (`list`, `details`, `rule`, `reason`, `batch`). */
  readonly mode: Mode['kind'];
}

const KEYS = {
  up: new Set(['\x1b[A', '\x1bOA', 'k']),
  down: new Set(['\x1b[B', '\x1bOB', 'j']),
  details: new Set(['\r', '\n', ' ']),
  quit: new Set(['q', '\x03', '\x04']),
};

/** True when `s` is typed text: no control characters (which would be keys, not text). */
function isPrintable(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** Creates the approvals screen over a queue. */
export function createApprovalsScreen(options: ApprovalsScreenOptions): ApprovalsScreen {
  const { queue, by } = options;
  const color = options.color ?? false;
  const sgr = (code: string, s: string): string => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
  let batches: ApprovalBatch[] = [];
  let items: ApprovalRecord[] = [];
  let cursor = 0;
  let mode: Mode = { kind: 'list' };
  let status = '';
  // Set when the ask under the cursor went away (decided elsewhere) and another slid into
  // its place: the next decision key is refused once, so nobody approves an ask unseen.
  let shifted = false;

  function refresh(): void {
    const selectedId = items[cursor]?.id;
    batches = queue.batches(options.sessionId === undefined ? {} : { sessionId: options.sessionId });
    items = batches.flatMap((b) => b.items);
    const again = selectedId === undefined ? -1 : items.findIndex((r) => r.id === selectedId);
    cursor = again >= 0 ? again : Math.min(cursor, Math.max(0, items.length - 1));
    if (selectedId !== undefined && again < 0 && items.length > 0) {
      shifted = true;
      status = `${selectedId} was decided elsewhere; the cursor is on another ask now`;
    }
    // A confirmation screen over an ask that is no longer pending would confirm something else.
    if (mode.kind === 'rule' || mode.kind === 'reason') {
      const id = mode.record.id;
      if (!items.some((r) => r.id === id)) {
        mode = { kind: 'list' };
        status = `${id} was decided elsewhere`;
      }
    } else if (mode.kind === 'batch') {
      const stillThere = new Set(items.map((r) => r.id));
      if (!mode.items.every((i) => stillThere.has(i.id))) {
        mode = { kind: 'list' };
        status = 'the batch changed; look again before deciding';
      }
    }
    if (mode.kind === 'details' && items.length === 0) mode = { kind: 'list' };
  }

  function attempt(fn: () => string): void {
    let message: string;
    try {
      message = fn();
    } catch (err) {
      message = isAirlockError(err) ? `error: ${err.code}: ${err.message}` : `error: ${err instanceof Error ? err.message : String(err)}`;
    }
    mode = { kind: 'list' };
    refresh();
    // The person's own decision moved the cursor, in plain sight: that is not a shift to guard against.
    shifted = false;
    status = message;
  }

  function selected(): ApprovalRecord | null {
    return items[cursor] ?? null;
  }

  function batchOf(r: ApprovalRecord): ApprovalBatch | undefined {
    return batches.find((b) => b.items.some((i) => i.id === r.id));
  }

  function key(input: string): 'quit' | null {
    const sel = selected();
    switch (mode.kind) {
      case 'reason': {
        const m = mode;
        if (input === '\x1b') mode = { kind: 'list' };
        else if (input === '\r' || input === '\n') {
          const reason = m.text.trim();
          attempt(() => {
            queue.decide(m.record.id, { decision: 'deny', digest: m.record.digest, by, channel: 'terminal', ...(reason === '' ? {} : { reason }) });
            return `denied ${m.record.id}`;
          });
        } else if (input === '\x7f' || input === '\b') m.text = m.text.slice(0, -1);
        else if (input === '\x03') return 'quit';
        else if (isPrintable(input)) m.text = (m.text + input).slice(0, 500);
        return null;
      }
      case 'rule': {
        const m = mode;
        const p = m.record.ruleProposal;
        if (input === 'y' && p.ok) {
          attempt(() => {
            queue.decide(m.record.id, { decision: 'approve', digest: m.record.digest, scope: 'rule', ruleText: p.text, by, channel: 'terminal' });
            return `approved ${m.record.id} and wrote the rule to ${m.record.policyFile ?? '?'}`;
          });
        } else if (input === 'n' || input === '\x1b' || input === 'q') mode = { kind: 'list' };
        else if (input === '\x03') return 'quit';
        return null;
      }
      case 'batch': {
        const m = mode;
        if (input === 'y') {
          attempt(() => {
            queue.decideBatch(m.items, { decision: m.decision, scope: 'once', by, channel: 'terminal' });
            return `${m.decision === 'approve' ? 'approved' : 'denied'} ${m.items.length} asks`;
          });
        } else if (input === 'n' || input === '\x1b' || input === 'q') mode = { kind: 'list' };
        else if (input === '\x03') return 'quit';
        return null;
      }
      case 'list':
      case 'details':
        break;
    }
    if (KEYS.quit.has(input)) return 'quit';
    if (input === '\x1b') {
      mode = { kind: 'list' };
      return null;
    }
    if (KEYS.up.has(input) || KEYS.down.has(input) || KEYS.details.has(input)) shifted = false;
    if (KEYS.up.has(input)) cursor = Math.max(0, cursor - 1);
    else if (KEYS.down.has(input)) cursor = Math.min(Math.max(0, items.length - 1), cursor + 1);
    else if (KEYS.details.has(input)) mode = mode.kind === 'details' ? { kind: 'list' } : sel === null ? mode : { kind: 'details' };
    else if (sel === null) status = 'nothing is waiting';
    else if (shifted && 'asrdAD'.includes(input)) {
      shifted = false;
      status = `the ask under the cursor changed; it is now ${sel.id}: look at it, then press the key again`;
    }
    else if (input === 'a' || input === 's') {
      const scope = input === 'a' ? 'once' : 'session';
      attempt(() => {
        queue.decide(sel.id, { decision: 'approve', digest: sel.digest, scope, by, channel: 'terminal' });
        return `approved ${sel.id} ${scope === 'once' ? 'once' : 'for this session'}`;
      });
    } else if (input === 'r') {
      if (sel.ruleProposal.ok) mode = { kind: 'rule', record: sel };
      else status = `no rule: ${sel.ruleProposal.reason}`;
    } else if (input === 'd') mode = { kind: 'reason', record: sel, text: '' };
    else if (input === 'A' || input === 'D') {
      const b = batchOf(sel);
      if (b !== undefined) {
        const chosen = input === 'A' ? b.items.filter((r) => !r.destructive) : b.items;
        if (chosen.length === 0) status = 'every ask in this batch is destructive: decide them one by one';
        else mode = { kind: 'batch', decision: input === 'A' ? 'approve' : 'deny', batch: b, items: chosen.map((r) => ({ id: r.id, digest: r.digest })) };
      }
    }
    return null;
  }

  function render(cols: number, rows: number): string[] {
    const fit = (s: string): string => (s.length > cols ? `${s.slice(0, Math.max(0, cols - 1))}…` : s);
    const out: string[] = [];
    const total = batches.reduce((n, b) => n + b.asks, 0);
    out.push(sgr('1', fit(`airlock approvals: ${items.length} pending${total > items.length ? ` (${total} with repeats)` : ''} in ${batches.length} batch${batches.length === 1 ? '' : 'es'}`)));
    const help =
      mode.kind === 'reason'
        ? 'type a reason · enter deny · esc cancel'
        : mode.kind === 'rule' || mode.kind === 'batch'
          ? 'y confirm · n cancel'
          : '↑↓ move · enter details · a approve once · s for session · r as rule · d deny · A/D approve/deny batch · q quit';
    out.push(fit(help));
    out.push('');
    const body: string[] = [];
    let cursorLine = 0;
    const sel = selected();
    if (mode.kind === 'rule' && mode.record.ruleProposal.ok) {
      const p = mode.record.ruleProposal;
      body.push(`Approve ${mode.record.id} and add this rule to ${escapeText(mode.record.policyFile ?? '?')}?`);
      body.push('');
      for (const l of p.text.split('\n')) body.push(`    ${escapeText(l)}`);
      for (const n of p.notes) body.push(`  note: ${escapeText(n)}`);
      body.push('');
      body.push(sgr('1', 'y write the rule and approve · n cancel'));
    } else if (mode.kind === 'batch') {
      const m = mode;
      const left = m.batch.items.length - m.items.length;
      body.push(sgr('1', `${m.decision === 'approve' ? 'Approve (once)' : 'Deny'} these ${m.items.length} asks of session ${m.batch.sessionId}, rule ${escapeText(m.batch.ruleId)}?`));
      if (left > 0) body.push(`${left} destructive ask${left === 1 ? ' is' : 's are'} left out; decide ${left === 1 ? 'it' : 'them'} one by one.`);
      for (const i of m.items) {
        const r = m.batch.items.find((x) => x.id === i.id);
        if (r !== undefined) body.push(`  ${r.id}  ${clip(r.subject, Math.max(20, cols - 20))}${r.count > 1 ? `  ×${r.count}` : ''}`);
      }
      body.push('');
      body.push(sgr('1', 'y confirm · n cancel'));
    } else if (mode.kind === 'reason' || (mode.kind === 'details' && sel !== null)) {
      const shown = mode.kind === 'reason' ? mode.record : (sel as ApprovalRecord);
      for (const l of describeRecord(shown)) body.push(l);
      body.push(shown.ruleProposal.ok ? `  rule (r): ${shown.ruleProposal.notes.join('; ')}` : `  no rule: ${shown.ruleProposal.reason}`);
      if (mode.kind === 'reason') {
        body.push('');
        body.push(sgr('1', `Deny ${shown.id}. Reason: ${escapeText(mode.text)}_`));
      }
    } else if (items.length === 0) {
      body.push('nothing is waiting for approval');
    } else {
      let index = 0;
      for (const b of batches) {
        const extra = b.asks > b.prompts ? ` (${b.asks} with repeats)` : '';
        const destr = b.destructive > 0 ? `, ${b.destructive} destructive` : '';
        body.push(sgr('1', `${b.sessionName === null ? b.sessionId : `${escapeText(b.sessionName)} (${b.sessionId})`} · ${b.category} · ${escapeText(b.ruleId)}: ${b.prompts} ask${b.prompts === 1 ? '' : 's'}${extra}${destr}`));
        body.push(`  ${clip(escapeText(b.reason), Math.max(20, cols - 4))}`);
        for (const r of b.items) {
          const mark = index === cursor ? '>' : ' ';
          const line = `${mark} ${r.id}  ${clip(r.subject, Math.max(20, cols - 30))}${r.count > 1 ? `  ×${r.count}` : ''}${r.destructive ? '  [destructive]' : ''}`;
          if (index === cursor) cursorLine = body.length;
          body.push(index === cursor ? sgr('7', fit(line)) : r.destructive ? sgr('31', fit(line)) : fit(line));
          index++;
        }
        body.push('');
      }
    }
    const room = Math.max(1, rows - out.length - 2);
    const start = Math.min(Math.max(0, cursorLine - Math.floor(room / 2)), Math.max(0, body.length - room));
    for (const l of body.slice(start, start + room)) out.push(l.includes('\x1b[') ? l : fit(l));
    while (out.length < rows - 1) out.push('');
    out.push(fit(status));
    return out.slice(0, rows);
  }

  refresh();
  return {
    refresh,
    key,
    render,
    get status() {
      return status;
    },
    get selected() {
      return selected();
    },
    get mode() {
      return mode.kind;
    },
  };
}
