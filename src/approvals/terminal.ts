/**
 * Announcing asks on a terminal the agent owns. When `airlock run` gives the agent the
 * terminal (a TUI in raw mode), a prompt drawn there would corrupt its screen and the
 * agent could read or even answer it. So the terminal only announces: a line on stderr,
 * or the window title, both naming the id and where to decide (`airlock approve ID` in
 * another terminal, or the web page). Nothing here reads input.
 */
import { clip, escapeText } from './display.js';
import type { ApprovalQueue } from './queue.js';
import type { ApprovalRecord } from './types.js';

/** Where and how to announce. */
export interface AnnouncerOptions {
  /** The stream to write to (default `process.stderr`). */
  stream?: { write(chunk: string): unknown; isTTY?: boolean };
  /**
   * `line`: one line per new ask; `title`: the window title shows how many asks wait (and is
   * restored when none do); `both`. Default `both` on a terminal, `line` otherwise.
   */
  mode?: 'line' | 'title' | 'both';
  /** The web page's address, named in the announcement. */
  url?: string;
  /** Only announce asks of this session. */
  sessionId?: string;
}

/** The one-line announcement of an ask: escaped, clipped, with the id and where to decide. */
export function formatAnnouncement(r: ApprovalRecord, url?: string): string {
  const where = url === undefined ? `airlock approve ${r.id}` : `airlock approve ${r.id}, or ${escapeText(url)}`;
  const what = clip(r.subject, 100);
  const repeat = r.count > 1 ? ` (×${r.count})` : '';
  return `airlock: approval needed ${r.id}${repeat} [${r.category}${r.destructive ? ', destructive' : ''}] ${what}: decide with ${where}`;
}

/**
 * The escape sequence that sets the window title to `text`. Everything but printable
 * ASCII is dropped, so no agent-chosen byte can end the sequence early and inject another.
 */
export function terminalTitle(text: string): string {
  const safe = text.replace(/[^\x20-\x7e]/g, '').slice(0, 120);
  return `\x1b]2;${safe}\x07`;
}

/** Saves the window title on xterm's title stack, and restores it. */
const TITLE_PUSH = '\x1b[22;2t';
const TITLE_POP = '\x1b[23;2t';

/**
 * Announces every new ask of `queue` (from this process or another) on a terminal the
 * agent owns, without reading from it. Returns the function that stops and restores the
 * window title.
 */
export function attachTerminalAnnouncer(queue: ApprovalQueue, options: AnnouncerOptions = {}): () => void {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const mode = options.mode ?? (tty ? 'both' : 'line');
  const lines = mode === 'line' || mode === 'both';
  const title = tty && (mode === 'title' || mode === 'both');
  const pending = new Set<string>();
  let pushed = false;
  let shown = 0;
  const unregister = queue.registerChannel('terminal');

  const setTitle = (): void => {
    // Only when the count changes: a title rewritten on every poll would flicker and say nothing new.
    if (!title || pending.size === shown) return;
    shown = pending.size;
    if (pending.size > 0) {
      if (!pushed) {
        stream.write(TITLE_PUSH);
        pushed = true;
      }
      stream.write(terminalTitle(`airlock: ${pending.size} approval${pending.size === 1 ? '' : 's'} waiting - airlock approvals`));
    } else if (pushed) {
      stream.write(TITLE_POP);
      pushed = false;
    }
  };

  const stop = queue.watch((change) => {
    const r = change.record;
    if (options.sessionId !== undefined && r.sessionId !== options.sessionId) return;
    if (change.type === 'decided') {
      if (pending.delete(r.id)) setTitle();
      return;
    }
    const isNew = !pending.has(r.id);
    pending.add(r.id);
    // CR first: a raw-mode terminal does not return the cursor on LF.
    // Repeats merged into an announced ask are not announced again: that would be the noise that tires people.
    if (lines && isNew) stream.write(`\r\n${formatAnnouncement(r, options.url)}\r\n`);
    setTitle();
  });

  return () => {
    stop();
    unregister();
    pending.clear();
    setTitle();
  };
}
