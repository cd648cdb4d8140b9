/**
 * Loading `airlock.yaml`: YAML with positions, strict zod validation, presets
 * merged through `extends`, conflicts checked, the result compiled and frozen.
 * Every failure is an `E_POLICY_INVALID` naming file:line:col, the key path, the
 * bad value and the fix. An invalid policy is never replaced by a default.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  isMap,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node as YamlNode,
  type Pair,
} from 'yaml';
import type { z } from 'zod';
import { AirlockError, isErrnoException } from '../errors/index.js';
import { checkConflicts, compilePolicy, type CompiledPolicy, type LoadedFile } from './compile.js';
import { policySchema, type PolicyFile } from './schema.js';

/** Where to read a policy from: a file, or text (with an optional file name for messages and relative `extends`). */
export type PolicySource = { readonly path: string } | { readonly text: string; readonly path?: string };

/** Options for {@link loadPolicy}. */
export interface LoadPolicyOptions {
  /** The directory holding preset files; defaults to the package's `presets/`. */
  readonly presetsDir?: string;
}

/** A validated, compiled and frozen policy. */
export interface Policy {
  /** The policy file (or "<text>"). */
  readonly file: string;
  /** Every file merged into it, presets first. */
  readonly files: readonly string[];
  /** The policy file's own validated content. */
  readonly config: PolicyFile;
  /** Lookup structures for `decide`. */
  readonly compiled: CompiledPolicy;
}

const MAX_EXTENDS_DEPTH = 8;
const HINT = 'Fix the policy at that line. `airlock policy schema` prints every key with its allowed values.';

/** Finds the package's presets directory by walking up from this module (works from src/ and dist/). */
export function defaultPresetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 6; k++) {
    const candidate = join(dir, 'presets');
    if (existsSync(join(candidate, 'default.yaml'))) return candidate;
    dir = dirname(dir);
  }
  throw new AirlockError(
    'E_POLICY_INVALID',
    'the built-in presets directory (presets/default.yaml) was not found',
    {
      hint: 'Reinstall airlock; the package must ship its presets/ directory.',
    },
  );
}

/** Names of the presets in a directory, with the description from each file's first comment line. */
export function listPresets(
  presetsDir: string = defaultPresetsDir(),
): { name: string; description: string; file: string }[] {
  return readdirSync(presetsDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => {
      const file = join(presetsDir, f);
      const first = readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
      return { name: f.slice(0, -5), description: first.startsWith('#') ? first.slice(1).trim() : '', file };
    });
}

/** The text of a preset, for `airlock policy init`. */
export function presetText(name: string, presetsDir: string = defaultPresetsDir()): string {
  const file = presetFile(name, presetsDir, '<command line>', 0);
  return readFileSync(file, 'utf8');
}

function presetFile(name: string, presetsDir: string, from: string, line: number): string {
  const names = listPresets(presetsDir).map((p) => p.name);
  if (!names.includes(name)) {
    throw new AirlockError(
      'E_POLICY_INVALID',
      `${from}:${line}: extends: unknown preset "${name}"; presets are ${names.map((n) => `"${n}"`).join(', ')}`,
      {
        hint: 'Name a built-in preset, or a policy file path starting with "./" or "/".',
      },
    );
  }
  return join(presetsDir, `${name}.yaml`);
}

function render(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}

function nodeAt(doc: Document, path: readonly PropertyKey[]): { node: YamlNode | null; depth: number } {
  let node: unknown = doc.contents;
  let depth = 0;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p: Pair) => {
        const k = p.key as { value?: unknown } | null;
        return k !== null && typeof k === 'object' && k.value === seg;
      });
      if (!pair || pair.value === null) break;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined || item === null) break;
      node = item;
    } else break;
    depth++;
  }
  return { node: (node as YamlNode | null) ?? null, depth };
}

function keyNode(doc: Document, path: readonly PropertyKey[], key: string): YamlNode | null {
  const { node, depth } = nodeAt(doc, path);
  if (depth !== path.length || !isMap(node)) return null;
  const pair = node.items.find((p: Pair) => (p.key as { value?: unknown } | null)?.value === key);
  return (pair?.key as YamlNode | undefined) ?? null;
}

function position(lc: LineCounter, node: YamlNode | null): { line: number; col: number } {
  const offset = node?.range?.[0] ?? 0;
  return lc.linePos(offset);
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** The keys an object in the schema accepts at a path, for "did you mean" hints. */
function allowedKeys(path: readonly PropertyKey[]): string[] {
  let s: unknown = policySchema;
  const def = (x: unknown): Record<string, unknown> =>
    (x as { _zod?: { def?: Record<string, unknown> } })._zod?.def ?? {};
  const unwrap = (x: unknown): unknown => {
    for (let k = 0; k < 8; k++) {
      const d = def(x);
      if (d.type === 'optional' || d.type === 'nullable' || d.type === 'default' || d.type === 'pipe')
        x = d.innerType ?? d.in;
      else if (d.type === 'union')
        x = (d.options as unknown[]).find((o) => def(o).type === 'object' || def(o).type === 'array') ?? x;
      else return x;
      if (def(x).type === 'union') continue;
    }
    return x;
  };
  for (const p of path) {
    s = unwrap(s);
    const d = def(s);
    if (d.type === 'object') s = (d.shape as Record<string, unknown>)[String(p)];
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else return [];
  }
  s = unwrap(s);
  const d = def(s);
  return d.type === 'object' ? Object.keys(d.shape as Record<string, unknown>) : [];
}

function closest(word: string, choices: readonly string[]): string | null {
  let best: string | null = null;
  let bestDist = Infinity;
  for (const c of choices) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      bestDist = d;
      best = c;
    }
  }
  return bestDist <= Math.max(2, Math.floor(word.length / 3)) ? best : null;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, k) => k);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

/** For a union ("a string or a list"), reports the branch that got furthest instead of "Invalid input". */
function flattenUnion(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  let best: z.core.$ZodIssue | null = null;
  for (const branch of issue.errors) {
    for (const sub of branch) {
      if (best === null || sub.path.length > best.path.length) best = sub;
    }
  }
  if (best === null || best.path.length === 0) return issue;
  return flattenUnion({ ...best, path: [...issue.path, ...best.path] });
}

function describeIssue(
  doc: Document,
  lc: LineCounter,
  data: unknown,
  file: string,
  original: z.core.$ZodIssue,
): { text: string; line: number; col: number } {
  const issue = flattenUnion(original);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const at = position(lc, keyNode(doc, issue.path, key) ?? nodeAt(doc, issue.path).node);
    const choices = allowedKeys(issue.path);
    const guess = closest(key, choices);
    const fullPath = keyPath([...issue.path, key]);
    const others =
      issue.keys.length > 1
        ? ` (also ${issue.keys
            .slice(1)
            .map((k) => `"${k}"`)
            .join(', ')})`
        : '';
    const text =
      `${file}:${at.line}:${at.col}: ${fullPath}: unknown key "${key}"${others}` +
      (guess !== null ? `; did you mean "${guess}"?` : '') +
      (choices.length > 0 ? ` Valid keys here: ${choices.join(', ')}.` : '');
    return { text, line: at.line, col: at.col };
  }
  const { node } = nodeAt(doc, issue.path);
  const at = position(lc, node);
  const value = valueAt(data, issue.path);
  const shown = value === undefined ? 'nothing' : render(value);
  let msg = issue.message;
  let got = issue.code === 'custom' ? '' : ` (got ${shown})`;
  if (value === undefined && issue.code !== 'custom') {
    msg = `is required (${issue.message.replace(/^Invalid (input|option): /, '')})`;
    got = '';
  }
  return {
    text: `${file}:${at.line}:${at.col}: ${keyPath(issue.path)}: ${msg}${got}`,
    line: at.line,
    col: at.col,
  };
}

function loadFile(text: string, file: string, label: string): LoadedFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true, strict: true });
  const yamlErr = doc.errors[0] ?? doc.warnings[0];
  if (yamlErr) {
    const pos = yamlErr.linePos?.[0] ?? { line: 1, col: 1 };
    const first = yamlErr.message.split('\n')[0] ?? yamlErr.message;
    throw new AirlockError('E_POLICY_INVALID', `${file}:${pos.line}:${pos.col}: invalid YAML: ${first}`, {
      hint: 'Fix the YAML syntax at that line (indentation, quotes, a duplicated key).',
    });
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new AirlockError(
      'E_POLICY_INVALID',
      `${file}: invalid YAML: ${e instanceof Error ? e.message : String(e)}`,
      { hint: HINT, cause: e },
    );
  }
  if (data === null || data === undefined) {
    throw new AirlockError('E_POLICY_INVALID', `${file}:1:1: the policy is empty`, {
      hint: 'Start from a preset: `airlock policy init --preset default`.',
    });
  }
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new AirlockError(
      'E_POLICY_INVALID',
      `${file}:1:1: the policy must be a mapping of keys (version, extends, exec, files, network, …), got ${render(data)}`,
      {
        hint: HINT,
      },
    );
  }
  const parsed = policySchema.safeParse(data);
  if (!parsed.success) {
    const described = parsed.error.issues.map((i) => describeIssue(doc, lc, data, file, i));
    described.sort((a, b) => a.line - b.line || a.col - b.col);
    const [first, ...rest] = described;
    const more =
      rest.length > 0
        ? `\n${rest
            .slice(0, 9)
            .map((d) => `  ${d.text}`)
            .join('\n')}${rest.length > 9 ? `\n  … and ${rest.length - 9} more` : ''}`
        : '';
    throw new AirlockError('E_POLICY_INVALID', `${first?.text ?? file}${more}`, { hint: HINT });
  }
  const lineOf = (path: readonly (string | number)[]): number => position(lc, nodeAt(doc, path).node).line;
  const loaded: LoadedFile = { file, label, data: parsed.data, lineOf };
  checkConflicts(loaded);
  return loaded;
}

function readPolicyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = isErrnoException(e) ? e.code : undefined;
    throw new AirlockError('E_POLICY_INVALID', `cannot read policy file ${path}${code ? ` (${code})` : ''}`, {
      hint:
        code === 'ENOENT'
          ? 'Create it with `airlock policy init`, or pass an existing file with --policy.'
          : "Check the file's permissions.",
      cause: e,
    });
  }
}

function collectChain(
  loaded: LoadedFile,
  presetsDir: string,
  seen: Set<string>,
  depth: number,
  out: LoadedFile[],
): void {
  if (depth > MAX_EXTENDS_DEPTH) {
    throw new AirlockError(
      'E_POLICY_INVALID',
      `${loaded.file}: extends nests deeper than ${MAX_EXTENDS_DEPTH} files`,
      { hint: HINT },
    );
  }
  const ext = loaded.data.extends;
  const list = ext === undefined ? [] : Array.isArray(ext) ? ext : [ext];
  list.forEach((name, i) => {
    const line = loaded.lineOf(Array.isArray(ext) ? ['extends', i] : ['extends']);
    const isPath =
      name.startsWith('./') ||
      name.startsWith('../') ||
      isAbsolute(name) ||
      name.endsWith('.yaml') ||
      name.endsWith('.yml');
    const base = loaded.file === '<text>' ? process.cwd() : dirname(resolve(loaded.file));
    const file = isPath ? resolve(base, name) : presetFile(name, presetsDir, loaded.file, line);
    if (seen.has(file)) {
      throw new AirlockError(
        'E_POLICY_INVALID',
        `${loaded.file}:${line}: extends: "${name}" is already part of this policy (a cycle or a repeat)`,
        {
          hint: 'Extend each preset or file once.',
        },
      );
    }
    seen.add(file);
    const label = isPath ? `${name}:` : `${name}:`;
    const child = loadFile(readPolicyFile(file), file, label);
    collectChain(child, presetsDir, seen, depth + 1, out);
    out.push(child);
  });
}

function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return v;
  if (v instanceof Map || v instanceof Set || v instanceof RegExp) return v;
  Object.freeze(v);
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  return v;
}

/**
 * Loads, validates, merges and compiles a policy. Throws `AirlockError('E_POLICY_INVALID')`
 * for any problem; never returns a weaker policy instead.
 */
export function loadPolicy(source: PolicySource, options: LoadPolicyOptions = {}): Policy {
  const presetsDir = options.presetsDir ?? defaultPresetsDir();
  // messages name the file as the caller gave it; relative `extends` resolve against its directory
  const file = source.path ?? '<text>';
  const text = 'text' in source ? source.text : readPolicyFile(file);
  const main = loadFile(text, file, '');
  const chain: LoadedFile[] = [];
  collectChain(main, presetsDir, new Set([resolve(main.file)]), 1, chain);
  chain.push(main);
  const compiled = compilePolicy(chain);
  return deepFreeze({ file: main.file, files: chain.map((f) => f.file), config: main.data, compiled });
}
