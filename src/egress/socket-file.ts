/**
 * The proxy's unix socket file: a stale one (its proxy died) is replaced, a live one or a
 * file that is not a socket is never touched.
 */
import { lstat, unlink } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';

import { AirlockError, isErrnoException } from '../errors/index.js';

/**
 * Removes a socket file left behind by a proxy that died. A path that is not a socket,
 * or a socket something still answers on, is left alone and reported.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return;
    throw new AirlockError(
      'E_EGRESS_LISTEN_FAILED',
      `egress.socketPath: cannot inspect ${path}: ${err instanceof Error ? err.message : String(err)}`,
      {
        hint: 'Check that the directory exists and is accessible.',
        cause: err,
      },
    );
  }
  const fail = (why: string): AirlockError =>
    new AirlockError('E_EGRESS_LISTEN_FAILED', `egress.socketPath: ${path} ${why}`, {
      hint: 'Give each session its own runtime directory, or stop the proxy that uses this socket.',
    });
  if (!isSocket) throw fail('exists and is not a socket');
  const live = await new Promise<boolean>((resolve) => {
    const probe = netConnect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (live) throw fail('is in use by another process');
  await unlink(path);
}
