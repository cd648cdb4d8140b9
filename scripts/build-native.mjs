// Builds the in-sandbox supervisor (native/supervisor.c) as a static binary.
// Static so that it runs inside any template root, whatever libc that root ships.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native', 'supervisor.c');
const out = join(root, 'native', 'build', 'airlock-supervisor');

if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) process.exit(0);
mkdirSync(dirname(out), { recursive: true });
const cc = process.env.CC ?? 'cc';
try {
  execFileSync(cc, ['-O2', '-static', '-s', '-Wall', '-Wextra', '-Werror', '-o', `${out}.tmp`, src], { stdio: 'inherit' });
  // Replace, never overwrite in place: running sessions keep the inode they bound.
  renameSync(`${out}.tmp`, out);
} catch (err) {
  console.error(
    `E_SUPERVISOR_MISSING: could not build the sandbox supervisor with "${cc}" (${err.message}).\n` +
      'hint: install a C compiler and static libc: apt-get install -y gcc libc6-dev',
  );
  process.exit(2);
}
