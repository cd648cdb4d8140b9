/**
 * The async boundary in front of `decide`. `decide` is synchronous and parses
 * command lines itself; `prepareAction` additionally asks an independent parser
 * (sh-syntax: mvdan/sh compiled to WebAssembly) whether it reads the command the
 * same way, and carries any disagreement into the decision as a denial. Two parsers
 * that disagree about where statements begin are exactly the gap an attacker needs.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { getProcessor, LangVariant, ParseError as ShParseError, type File as ShFile } from 'sh-syntax';
import type { Action, PreparedExecAction } from './decide.js';
import type { Script } from './shell/ast.js';
import { DEFAULT_PARSE_LIMITS, parseShell, type ParseLimits } from './shell/parse.js';

/** An independent shell parser used as a cross-check. */
export interface ShellOracle {
  /** Returns null when the oracle reads `src` as `script` does, or what differs. */
  check(src: string, script: Script | null): Promise<string | null>;
}

/**
 * Creates the sh-syntax oracle. The WebAssembly module is compiled once per
 * oracle; each check instantiates it afresh (about 10 ms), because sh-syntax's
 * Go runtime is not re-entrant across calls.
 */
export function createShellOracle(): ShellOracle {
  // the tsconfig has no DOM lib, so the WebAssembly global is typed by hand
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  let compiled: Promise<WasmModule> | null = null;
  const load = (): Promise<WasmModule> => {
    compiled ??= (async () => {
      const wasmPath = createRequire(import.meta.url).resolve('sh-syntax/main.wasm');
      return wasm.compile(await readFile(wasmPath));
    })();
    return compiled;
  };
  const instantiate = async (imports: unknown): Promise<unknown> => wasm.instantiate(await load(), imports);
  const processor = getProcessor(instantiate as Parameters<typeof getProcessor>[0]);
  return {
    async check(src: string, script: Script | null): Promise<string | null> {
      let file: ShFile;
      try {
        file = await processor(src, { variant: LangVariant.LangBash, keepComments: false });
      } catch (e) {
        if (e instanceof ShParseError || e instanceof SyntaxError) {
          return script === null ? null : `sh-syntax rejects it: ${e.message}`;
        }
        throw e;
      }
      if (script === null) return null;
      const ours = script.stmts.map((s) => utf8Offset(src, s.pos));
      const theirs = file.Stmts.map((s) => s.Pos.Offset);
      if (ours.length !== theirs.length) {
        return `sh-syntax sees ${theirs.length} top-level statements, airlock sees ${ours.length}`;
      }
      for (let k = 0; k < ours.length; k++) {
        if (ours[k] !== theirs[k])
          return `statement ${k + 1} starts at byte ${theirs[k] ?? -1} for sh-syntax and ${ours[k] ?? -1} for airlock`;
      }
      return null;
    },
  };
}

interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}

interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: unknown): Promise<unknown>;
}

function utf8Offset(src: string, index: number): number {
  return Buffer.byteLength(src.slice(0, index), 'utf8');
}

/** Options for {@link prepareAction}. */
export interface PrepareOptions {
  /** The cross-checking parser, or null to skip the cross-check (say why where you pass null). */
  readonly oracle: ShellOracle | null;
  readonly limits?: ParseLimits;
}

/**
 * Parses a command-line action once, cross-checks it with the oracle, and returns
 * a prepared action for `decide`. Other actions are returned unchanged.
 */
export async function prepareAction(
  action: Action,
  options: PrepareOptions,
): Promise<Action | PreparedExecAction> {
  if (action.kind !== 'exec' || !('command' in action)) return action;
  const parse = parseShell(action.command, options.limits ?? DEFAULT_PARSE_LIMITS);
  const oracleDisagreement =
    options.oracle === null
      ? null
      : await options.oracle.check(action.command, parse.ok ? parse.script : null);
  return { ...action, prepared: { parse, oracleDisagreement } };
}
