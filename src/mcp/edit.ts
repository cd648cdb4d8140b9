/**
 * `edit_file`'s one rule: replace an exact string that occurs exactly once (or every
 * occurrence when asked). Pure, so it is tested without a sandbox.
 */
import { AirlockError } from '../errors/index.js';

/** Lines added and removed between two texts (the session's count, which its `file.write` records use). */
export { lineDelta } from '../session/index.js';

/** Counts non-overlapping occurrences of `needle` in `haystack`. */
export function countOccurrences(haystack: string, needle: string): number {
  if (needle.length === 0) return 0;
  let n = 0;
  for (let i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length)) n++;
  return n;
}

/**
 * Replaces `oldString` by `newString` in `text`. Throws `E_EDIT_FAILED` when `oldString`
 * is empty, absent, or occurs more than once without `replaceAll`, naming how to fix the call.
 */
export function applyEdit(text: string, oldString: string, newString: string, replaceAll = false): { text: string; replacements: number } {
  if (oldString.length === 0) {
    throw new AirlockError('E_EDIT_FAILED', 'old_string is empty', { hint: 'Quote the exact text to replace, or use write_file to write a whole file.' });
  }
  if (oldString === newString) {
    throw new AirlockError('E_EDIT_FAILED', 'old_string and new_string are the same', { hint: 'Pass the text the file should contain instead.' });
  }
  const n = countOccurrences(text, oldString);
  if (n === 0) {
    throw new AirlockError('E_EDIT_FAILED', 'old_string does not occur in the file', {
      hint: 'Read the file again and copy the text exactly, including whitespace and indentation.',
    });
  }
  if (n > 1 && !replaceAll) {
    throw new AirlockError('E_EDIT_FAILED', `old_string occurs ${n} times in the file, so the edit is ambiguous`, {
      hint: 'Include more surrounding lines to make it unique, or pass replace_all: true to replace every occurrence.',
    });
  }
  return { text: text.split(oldString).join(newString), replacements: n };
}
