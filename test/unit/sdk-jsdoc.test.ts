/**
 * Every name the SDK exports (the package root, src/index.ts) carries JSDoc at its
 * declaration, as issue 8 asks. Checked with the TypeScript compiler, following re-exports
 * to the declaration they name.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/index.js';

function undocumentedExports(entry: string): string[] {
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(entry);
  const mod = file === undefined ? undefined : checker.getSymbolAtLocation(file);
  if (mod === undefined) throw new Error(`cannot load ${entry}`);
  const missing: string[] = [];
  for (const exported of checker.getExportsOfModule(mod)) {
    const sym = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const decls = sym.getDeclarations() ?? [];
    const documented = decls.some(
      (d) => ts.getJSDocCommentsAndTags(d).length > 0 || (ts.isVariableDeclaration(d) && ts.getJSDocCommentsAndTags(d.parent.parent).length > 0),
    );
    if (!documented) missing.push(exported.getName());
  }
  return missing.sort();
}

describe('SDK documentation', () => {
  it('sdk.jsdoc: every export of the package root has JSDoc at its declaration', () => {
    expect(undocumentedExports(join(ROOT, 'src', 'index.ts'))).toEqual([]);
  });

  it('the check finds an export without JSDoc', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-jsdoc-'));
    try {
      const f = join(dir, 'index.ts');
      writeFileSync(f, '/** Documented. */\nexport const a = 1;\nexport const b = 2;\nexport function c(): void {}\n');
      expect(undocumentedExports(f)).toEqual(['b', 'c']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
