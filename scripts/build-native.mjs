// Builds the native helpers:
//  - native/supervisor.c → the in-sandbox supervisor, static so that it runs inside any
//    template root, whatever libc that root ships;
//  - native/tunnel.c → the host-side splice(2) helper that carries opaque CONNECT tunnels
//    for the egress proxy (src/egress/native-tunnel.ts).
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cc = process.env.CC ?? 'cc';
const targets = [
  { src: 'supervisor.c', out: 'airlock-supervisor', code: 'E_SUPERVISOR_MISSING', what: 'the sandbox supervisor' },
  { src: 'tunnel.c', out: 'airlock-tunnel', code: 'E_EGRESS_TUNNEL_HELPER_MISSING', what: 'the egress tunnel helper' },
];
for (const t of targets) {
  const src = join(root, 'native', t.src);
  const out = join(root, 'native', 'build', t.out);
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  mkdirSync(dirname(out), { recursive: true });
  try {
    execFileSync(cc, ['-O2', '-static', '-s', '-Wall', '-Wextra', '-Werror', '-o', `${out}.tmp`, src], { stdio: 'inherit' });
    // Replace, never overwrite in place: running sessions keep the inode they bound.
    renameSync(`${out}.tmp`, out);
  } catch (err) {
    console.error(
      `${t.code}: could not build ${t.what} with "${cc}" (${err.message}).\n` +
        'hint: install a C compiler and static libc: apt-get install -y gcc libc6-dev',
    );
    process.exit(2);
  }
}
