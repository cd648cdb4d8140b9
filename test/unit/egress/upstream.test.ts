/**
 * Dialling checked addresses: falls through to the next checked address, never resolves
 * a name (a second lookup is what DNS rebinding needs). Loopback only.
 */
import { createServer, type AddressInfo } from 'node:net';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { dialAddresses } from '../../../src/egress/upstream.js';

// The client may close before reading: the accepted side then sees ECONNRESET, which is expected.
const server = createServer((s) => {
  s.on('error', () => undefined);
  s.end('hi');
});
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  server.close();
});

describe('[egress.dns-rebinding] dialAddresses', () => {
  it('tries the checked addresses in order', async () => {
    // Nothing listens on 127.0.0.2 at this port: refused, then 127.0.0.1 answers.
    const s = await dialAddresses(['127.0.0.2', '127.0.0.1'], port, 2000);
    expect(s.remoteAddress).toBe('127.0.0.1');
    s.destroy();
  });

  it('refuses to resolve a name', async () => {
    await expect(dialAddresses(['localhost'], port, 2000)).rejects.toThrow(
      'refusing to resolve localhost after the SSRF check',
    );
  });

  it('reports the last failure when no address answers', async () => {
    await expect(dialAddresses(['127.0.0.2'], port, 2000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(dialAddresses([], port, 2000)).rejects.toThrow('no address to dial');
  });
});
