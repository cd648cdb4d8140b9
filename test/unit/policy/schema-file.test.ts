/** The shipped JSON Schema must be what the zod schema generates today. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { policyJsonSchema } from '../../../src/policy/index.js';

describe('schema/airlock.schema.json', () => {
  it('matches policyJsonSchema() (regenerate with `airlock policy schema > schema/airlock.schema.json`)', () => {
    const shipped: unknown = JSON.parse(
      readFileSync(new URL('../../../schema/airlock.schema.json', import.meta.url), 'utf8'),
    );
    expect(shipped).toEqual(policyJsonSchema());
  });
  it('describes strict objects so editors flag unknown keys [schema.strict-unknown-keys]', () => {
    const s = policyJsonSchema() as { additionalProperties?: boolean; properties?: Record<string, unknown> };
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties ?? {})).toEqual([
      'version',
      'extends',
      'unresolvable',
      'exec',
      'tools',
      'files',
      'network',
      'approvals',
      'grants',
    ]);
  });
});
