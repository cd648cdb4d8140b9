import { describe, expect, it } from 'vitest';
import { displayAction, displayArgv, escapeText, formatAnnouncement, quoteArg, terminalTitle, canonicalAction } from '../../../src/approvals/index.js';
import type { ApprovalRecord } from '../../../src/approvals/index.js';

describe('display', () => {
  it('shows control characters as escapes, so the agent cannot move the cursor or rewrite the line', () => {
    expect(escapeText('ls\r\x1b[2Krm -rf /')).toBe('ls\\r\\e[2Krm -rf /');
    expect(escapeText('a\x07b\x9bc')).toBe('a\\x07b\\x9bc');
    expect(escapeText('plain text, with \\ backslash')).toBe('plain text, with \\ backslash');
    expect(escapeText('a\\b\n')).toBe('a\\\\b\\n');
  });

  it('shows bidirectional overrides and invisible characters', () => {
    // "rm -rf /" hidden behind a right-to-left override
    expect(escapeText('echo \u202e/ fr- mr')).toBe('echo \\u{202e}/ fr- mr');
    expect(escapeText('git\u200b status')).toBe('git\\u{200b} status');
    expect(escapeText('a\u{e0041}b')).toBe('a\\u{e0041}b');
    expect(escapeText('x\u2028y')).toBe('x\\u{2028}y');
    expect(escapeText('caf\u00e9 \u4e2d')).toBe('caf\u00e9 \u4e2d');
  });

  it('quotes arguments as a shell needs them, and escapes look-alike command names', () => {
    expect(displayArgv(['git', 'commit', '-m', "it's done"])).toBe("git commit -m 'it'\\''s done'");
    expect(displayArgv(['echo', 'a\nb'])).toBe("echo $'a\\nb'");
    expect(quoteArg('r\u043c', true)).toBe("$'r\\u{43c}'");
    expect(quoteArg('r\u043c', false)).toBe("'r\u043c'");
    expect(quoteArg('')).toBe("''");
  });

  it('describes each kind of action in one line', () => {
    expect(displayAction(canonicalAction({ kind: 'exec', argv: ['rm', '-rf', 'build dir'] }))).toBe("rm -rf 'build dir'");
    expect(displayAction(canonicalAction({ kind: 'exec', command: 'git status && rm -rf build' }))).toBe('git status && rm -rf build');
    expect(displayAction(canonicalAction({ kind: 'network', host: 'api.example.com', port: 443, method: 'POST', path: '/v1/x', scheme: 'https' }))).toBe('POST https://api.example.com:443/v1/x');
    expect(displayAction(canonicalAction({ kind: 'network', host: 'example.com', port: 443 }))).toBe('CONNECT example.com:443');
    expect(displayAction(canonicalAction({ kind: 'file.write', path: '/workspace/a', contentSha256: 'ab'.repeat(32) }))).toBe('write /workspace/a (content sha256 abababababababab…)');
  });

  it('a window title keeps only printable ASCII, so it cannot end early and inject a sequence', () => {
    expect(terminalTitle('x\x07\x1b]2;evil\x1b\\y\u202e')).toBe('\x1b]2;x]2;evil\\y\x07');
  });

  it('announces an ask in one escaped line naming the id and how to decide', () => {
    const r = { id: 'ap_abc', subject: escapeText('rm -rf /\r\nok'), category: 'exec', destructive: true, count: 2 } as unknown as ApprovalRecord;
    expect(formatAnnouncement(r, 'http://127.0.0.1:1/')).toBe(
      'airlock: approval needed ap_abc (×2) [exec, destructive] rm -rf /\\r\\nok: decide with airlock approve ap_abc, or http://127.0.0.1:1/',
    );
  });
});
