/**
 * Templates describe a sandbox's root filesystem as data: which host paths are bound
 * read-only, and the default environment. Adding a template is adding a YAML file to
 * templates/ (shipped), `$AIRLOCK_HOME/templates/`, or passing a path.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AirlockError } from '../errors/index.js';

const absPath = z
  .string()
  .refine((p) => isAbsolute(p) && !p.split('/').includes('..'), {
    message: 'must be an absolute path without ".." segments',
  });

/** Sandbox paths a template may not claim: airlock owns them. */
const RESERVED = ['/workspace', '/tmp', '/proc', '/dev', '/run/airlock', '/home'];

const mountSchema = z.strictObject({
  type: z.literal('ro-bind'),
  src: absPath,
  dest: absPath.refine((p) => !RESERVED.some((r) => p === r || p.startsWith(`${r}/`)) && p !== '/', {
    message: `must not be / or under an airlock-owned path (${RESERVED.join(', ')})`,
  }),
  optional: z.boolean().default(false),
});

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

const templateSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'use lowercase letters, digits and dashes'),
  description: z.string(),
  mounts: z.array(mountSchema).min(1),
  env: z.record(envName, z.string()).default({}),
});

/** A validated template. */
export type Template = Readonly<z.infer<typeof templateSchema>> & {
  /** The file it was loaded from. */
  readonly file: string;
};

/** One read-only bind from a template. */
export type TemplateMount = z.infer<typeof mountSchema>;

/** The templates shipped with airlock. */
export function builtinTemplateDir(): string {
  // dist/sandbox/templates.js and src/sandbox/templates.ts both sit two levels below the root.
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates');
}

function searchDirs(stateDir: string | undefined): string[] {
  const dirs = [builtinTemplateDir()];
  if (stateDir !== undefined) dirs.push(join(stateDir, 'templates'));
  return dirs;
}

/**
 * Parsed templates by file, keyed on size and mtime. Parsing YAML costs more than starting a
 * sandbox (tens of ms on a small machine), and a template file is pure data: a memo of a
 * pure function of its bytes, invalidated when the file changes.
 */
const parsedCache = new Map<string, { key: string; template: Template }>();

/** Parses and validates a template file. */
export function loadTemplateFile(file: string): Template {
  let key: string;
  try {
    const st = statSync(file);
    key = `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch (err) {
    throw new AirlockError('E_TEMPLATE_NOT_FOUND', `template file ${file} cannot be read: ${(err as Error).message}`, {
      hint: 'Pass an existing YAML file, or a template name from `airlock doctor`.',
      cause: err,
    });
  }
  const hit = parsedCache.get(file);
  if (hit?.key === key) return hit.template;
  const template = parseTemplateFile(file);
  parsedCache.set(file, { key, template });
  return template;
}

function parseTemplateFile(file: string): Template {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new AirlockError('E_TEMPLATE_INVALID', `template ${file} could not be read: ${(err as Error).message}`, {
      hint: 'Fix the YAML syntax at the position given, or pick another template with --template.',
      cause: err,
    });
  }
  const parsed = templateSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('\n');
    throw new AirlockError('E_TEMPLATE_INVALID', `template ${file} is invalid:\n${issues}`, {
      hint: 'Each mount needs type: ro-bind, an absolute src and dest; unknown keys are errors.',
    });
  }
  return Object.freeze({ ...parsed.data, file });
}

/** Finds a template by name (or loads it from a path containing a slash). */
export function resolveTemplate(nameOrPath: string, stateDir?: string): Template {
  if (nameOrPath.includes('/')) {
    const file = resolve(nameOrPath);
    if (!existsSync(file)) {
      throw new AirlockError('E_TEMPLATE_NOT_FOUND', `template file ${file} does not exist`, {
        hint: 'Pass an existing YAML file, or a template name from `airlock doctor`.',
      });
    }
    return loadTemplateFile(file);
  }
  for (const dir of searchDirs(stateDir)) {
    const file = join(dir, `${nameOrPath}.yaml`);
    if (existsSync(file)) {
      const t = loadTemplateFile(file);
      if (t.name !== nameOrPath) {
        throw new AirlockError('E_TEMPLATE_INVALID', `template ${file} names itself "${t.name}"`, {
          hint: `Rename the file to ${t.name}.yaml or set name: ${nameOrPath}.`,
        });
      }
      return t;
    }
  }
  throw new AirlockError('E_TEMPLATE_NOT_FOUND', `no template named "${nameOrPath}"`, {
    hint: `Available: ${listTemplates(stateDir).join(', ')}. Add one as a YAML file in ${join(stateDir ?? '$AIRLOCK_HOME', 'templates')}.`,
  });
}

/** Names of every template found. */
export function listTemplates(stateDir?: string): string[] {
  const names = new Set<string>();
  for (const dir of searchDirs(stateDir)) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.endsWith('.yaml')) names.add(basename(f, '.yaml'));
  }
  return [...names].sort();
}
