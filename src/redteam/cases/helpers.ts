/**
 * Small builders that keep the case files readable.
 */
import type { AttackClass, PolicyAction, PolicyCase, SandboxCase } from '../types.js';

/** A sandbox case. */
export function sb(
  id: string,
  cls: AttackClass,
  description: string,
  script: string,
  extra: Partial<Pick<SandboxCase, 'hostMustNotExist' | 'isolated' | 'tty' | 'timeoutMs' | 'proxied'>> = {},
): SandboxCase {
  return { kind: 'sandbox', id, class: cls, description, expected: 'blocked', script, ...extra };
}

/**
 * A Python prelude for raw system calls: `sc(nr, *args)` returns (result, errno) and
 * `esc(what)` prints the escape marker.
 */
export const PY = `import ctypes, os, sys, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sc(n, *a):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(n), *[ctypes.c_long(x) if isinstance(x, int) else x for x in a])
    return r, ctypes.get_errno()
M = 'RT-ESCAPED-' + os.environ['RT_TOKEN']
def esc(what):
    print(M, what, flush=True)
`;

/** A sandbox case whose body is Python after {@link PY}. */
export function pyCase(
  id: string,
  cls: AttackClass,
  description: string,
  body: string,
  extra: Partial<Pick<SandboxCase, 'hostMustNotExist' | 'isolated' | 'tty' | 'timeoutMs' | 'proxied'>> = {},
): SandboxCase {
  return sb(id, cls, description, `python3 - <<'PYEOF'\n${PY}${body}\nPYEOF`, extra);
}

/** A policy-face case. */
export function pol(id: string, cls: AttackClass, description: string, action: PolicyAction, before?: readonly PolicyAction[], knownGap?: string): PolicyCase {
  return { kind: 'policy', id, class: cls, description, expected: 'denied', action, ...(before === undefined ? {} : { before }), ...(knownGap === undefined ? {} : { knownGap }) };
}

/**
 * A policy-face case the policy allows by design (build and test runners): contained when
 * what it writes stays in the staged workspace and the default apply refuses the protected
 * file (see {@link PolicyCase}).
 */
export function held(id: string, description: string, action: PolicyAction, before?: readonly PolicyAction[]): PolicyCase {
  return { kind: 'policy', id, class: 'persistence', description, expected: 'held', action, ...(before === undefined ? {} : { before }) };
}

/** `sh -c SCRIPT` through the policy face. */
export function shc(script: string, shell = 'sh'): PolicyAction {
  return { op: 'exec', argv: [shell, '-c', script] };
}

/** An argv through the policy face. */
export function argv(...a: string[]): PolicyAction {
  return { op: 'exec', argv: a };
}
