/**
 * Writing a confirmed `rule` approval into the policy file: the grant text the person
 * confirmed is parsed and its entries appended to the file's `grants:` list, as text after
 * what is there (nothing else in the file changes), with who confirmed it and when. The
 * write is refused when the file already holds a grant with that id, and it is atomic (a
 * temporary file renamed over the old one), so a policy file is never left half-written.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isMap, isSeq, parse, parseDocument, stringify, type Document } from 'yaml';
import { isDeepStrictEqual } from 'node:util';
import { AirlockError, isErrnoException } from '../errors/index.js';

/** Options for {@link writeRuleToPolicy}. */
export interface WriteRuleOptions {
  /**
   * Checks the complete new policy text before it replaces the file, e.g. with the policy
   * part's loader; throwing refuses the write. Without it, only the structural checks here run.
   */
  validate?: (text: string, file: string) => void;
  /** Who confirmed the grant and when (ISO 8601): written into each grant entry as `by` and `at`. */
  stamp?: { readonly by: string; readonly at: string };
}

function ruleError(message: string, hint: string, cause?: unknown): AirlockError {
  return new AirlockError('E_APPROVAL_RULE', message, cause === undefined ? { hint } : { hint, cause });
}

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The policy text with `entries` appended to its top-level `grants` list, written as text
 * after the existing content (a new `grants:` at the end, or new items after the last one of
 * a block list), or null when the list has another shape. The result is parsed back and must
 * equal the old content with the entries appended; otherwise null.
 */
function appendGrantsText(before: string, doc: Document, entries: readonly unknown[]): string | null {
  const items = stringify(entries, { lineWidth: 0 });
  let after: string;
  const existing = doc.get('grants', true);
  if (existing === undefined) {
    after = `${before}${before === '' || before.endsWith('\n') ? '' : '\n'}grants:\n${items.replace(/^(?=.)/gm, '  ')}`;
  } else {
    if (!isSeq(existing) || existing.flow === true || existing.items.length === 0 || existing.range == null) return null;
    const [start, end] = existing.range;
    const col = start - (before.lastIndexOf('\n', start - 1) + 1);
    const pad = ' '.repeat(col);
    after = `${before.slice(0, end)}${before.slice(0, end).endsWith('\n') ? '' : '\n'}${items.replace(/^(?=.)/gm, pad)}${before.slice(end)}`;
    if (!after.endsWith('\n')) after += '\n';
  }
  const expected = (doc.toJS() ?? {}) as Record<string, unknown>;
  const want = { ...expected, grants: [...(Array.isArray(expected['grants']) ? (expected['grants'] as unknown[]) : []), ...entries] };
  const check = parseDocument(after);
  if (check.errors.length > 0 || !isDeepStrictEqual(check.toJS(), want)) return null;
  return after;
}

/** A checked rule write, ready to replace the policy file. */
export interface PreparedRuleWrite {
  /** The complete new text of the policy file. */
  readonly text: string;
  /**
   * Replaces the file atomically. Refuses (`E_APPROVAL_RULE`) when the file changed since
   * the write was prepared, so an edit made in between is never lost.
   */
  commit(): void;
}

/**
 * Merges the confirmed rule fragment into `policyFile` in one step. See {@link prepareRuleWrite}.
 * Returns the new file text. Throws `E_APPROVAL_RULE`.
 */
export function writeRuleToPolicy(policyFile: string, expectedText: string, confirmedText: string, options: WriteRuleOptions = {}): string {
  const w = prepareRuleWrite(policyFile, expectedText, confirmedText, options);
  w.commit();
  return w.text;
}

/**
 * Checks that the confirmed rule fragment can be merged into `policyFile` and computes the
 * new text, without writing. `confirmedText` must be the exact text of the proposal
 * (`expectedText`): the person confirmed those bytes, and only entries parsed from them
 * are written. Throws `E_APPROVAL_RULE` naming what stands in the way.
 */
export function prepareRuleWrite(policyFile: string, expectedText: string, confirmedText: string, options: WriteRuleOptions = {}): PreparedRuleWrite {
  if (confirmedText !== expectedText) {
    throw ruleError('the confirmed rule text differs from the proposed rule', 'Confirm the exact text shown; nothing was written.');
  }
  let st;
  try {
    st = lstatSync(policyFile);
  } catch (cause) {
    if (isErrnoException(cause) && cause.code === 'ENOENT') {
      throw ruleError(`the policy file ${policyFile} does not exist`, 'Create it (for example with `airlock policy init`) and approve again; a new file would drop the presets the session uses.', cause);
    }
    throw ruleError(`cannot read the policy file ${policyFile}`, 'Check its permissions.', cause);
  }
  if (!st.isFile()) {
    throw ruleError(`the policy file ${policyFile} is not a regular file${st.isSymbolicLink() ? ' (it is a symbolic link)' : ''}`, 'Point the session at the real policy file.');
  }
  const before = readFileSync(policyFile, 'utf8');
  const doc = parseDocument(before);
  if (doc.errors.length > 0) {
    throw ruleError(`the policy file ${policyFile} does not parse: ${doc.errors[0]?.message ?? ''}`, 'Fix the YAML, then approve again.');
  }
  if (doc.contents !== null && !isMap(doc.contents)) {
    throw ruleError(`the policy file ${policyFile} is not a mapping`, 'A policy file is a YAML mapping with keys such as exec, files and network.');
  }
  const fragment: unknown = parse(confirmedText);
  if (fragment === null || typeof fragment !== 'object' || Array.isArray(fragment)) {
    throw ruleError('the rule text is not a YAML mapping', 'This is a bug in the rule proposal; approve once instead.');
  }
  const frag = fragment as Record<string, unknown>;
  const current = (doc.toJS() ?? {}) as Record<string, unknown>;
  const cur = (path: string[]): unknown[] => {
    let v: unknown = current;
    for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
    return asList(v);
  };

  const additions: { path: string[]; value: unknown }[] = [];
  // Only grants are written. A policy rule appended to the file would compete with the rule
  // that asked (and replace a preset's rule of the same command, forbidden flags and all);
  // text proposed before grants existed is refused, so such an ask is approved once instead.
  const other = Object.keys(frag).filter((k) => k !== 'grants');
  if (other.length > 0) {
    throw ruleError(
      `the confirmed text holds ${other.join(', ')}, not grants: it was proposed by an older airlock, which wrote policy rules`,
      'Approve once or for this session, or let the action ask again to be offered a grant.',
    );
  }
  const grants = asList(frag['grants']);
  const existingGrants = new Map<string, number>();
  cur(['grants']).forEach((g, i) => {
    if (g !== null && typeof g === 'object') existingGrants.set(str((g as Record<string, unknown>)['id']), i);
  });
  for (const g of grants) {
    if (g === null || typeof g !== 'object' || Array.isArray(g)) throw ruleError('a grant in the rule text is not a mapping', 'This is a bug in the rule proposal; approve once instead.');
    const { id, approval, ...match } = g as Record<string, unknown>;
    const at = existingGrants.get(str(id));
    if (at !== undefined) throw ruleError(`${policyFile} already has a grant with the id ${str(id)} (grants[${at}])`, 'The approval was already written; nothing was changed.');
    // who and when sit next to what was confirmed; they do not change what the grant matches
    const stamp = options.stamp === undefined ? {} : { by: options.stamp.by, at: options.stamp.at };
    additions.push({ path: ['grants'], value: { id, approval, ...stamp, ...match } });
  }
  if (additions.length === 0) throw ruleError('the rule text holds no rule', 'This is a bug in the rule proposal; approve once instead.');

  // Appended as text, so the person's own formatting stays byte for byte; a grants list the
  // text append cannot handle (a flow list, say) goes through the document instead.
  const appended = appendGrantsText(before, doc, additions.map((a) => a.value));
  for (const a of appended === null ? additions : []) {
    const existing = doc.getIn(a.path, true);
    if (existing !== undefined && existing !== null && !isSeq(existing)) {
      throw ruleError(`${a.path.join('.')} in ${policyFile} is not a list`, `Make ${a.path.join('.')} a YAML list, then approve again.`);
    }
    // addIn on a missing path makes a scalar, not a list; a new list is set whole.
    if (existing === undefined || existing === null || (isSeq(existing) && existing.items.length === 0)) doc.setIn(a.path, doc.createNode([a.value]));
    else doc.addIn(a.path, doc.createNode(a.value));
  }
  const after = appended ?? doc.toString({ lineWidth: 0 });
  if (options.validate !== undefined) {
    try {
      options.validate(after, policyFile);
    } catch (cause) {
      throw ruleError(`the policy with the new rule does not load: ${cause instanceof Error ? cause.message : String(cause)}`, 'Nothing was written; approve once or for this session, or fix the policy file.', cause);
    }
  }
  const mode = st.mode & 0o777;
  return {
    text: after,
    commit() {
      let now: string;
      try {
        now = readFileSync(policyFile, 'utf8');
      } catch (cause) {
        throw ruleError(`cannot read the policy file ${policyFile}`, 'Check its permissions.', cause);
      }
      if (now !== before) throw ruleError(`${policyFile} changed while the rule was being confirmed`, 'Nothing was written; approve again to see the rule against the current file.');
      // Atomic replace: write a sibling, fsync, rename over the old file.
      const tmp = join(dirname(policyFile), `.${randomBytes(6).toString('hex')}.airlock-rule.tmp`);
      try {
        const fd = openSync(tmp, 'wx', mode);
        try {
          writeSync(fd, after);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(tmp, policyFile);
      } catch (cause) {
        try {
          unlinkSync(tmp);
        } catch {
          // already gone
        }
        throw ruleError(`cannot write the policy file ${policyFile}`, 'Check that its directory is writable by you.', cause);
      }
    },
  };
}
