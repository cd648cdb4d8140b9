import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AirlockError, ERROR_CODES } from '../../src/errors/index.js';
import { ROOT } from '../helpers/index.js';

describe('error codes', () => {
  it('every code is documented in docs/errors.md', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
    for (const code of ERROR_CODES) expect(doc, code).toContain(`\`${code}\``);
  });

  it('carries code, hint and cause', () => {
    const cause = new Error('root');
    const e = new AirlockError('E_USAGE', 'bad', { hint: 'do this', cause });
    expect(e.toJSON()).toEqual({ code: 'E_USAGE', message: 'bad', hint: 'do this' });
    expect(e.cause).toBe(cause);
  });
});
