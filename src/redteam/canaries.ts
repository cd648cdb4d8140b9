/**
 * Canaries planted on the host before a red-team run: fake credentials in the airlock
 * process's home, an environment variable, files outside the workspace, a TCP+UDP service
 * on every host address, a unix socket and an abstract socket. Each holds a unique random
 * value; the runner looks for those values in everything the sandbox produced, and counts
 * what reached the services.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, rmdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { homedir, networkInterfaces } from 'node:os';
import { join } from 'node:path';

/** What was planted, and how to check and remove it. */
export interface Canaries {
  readonly token: string;
  readonly base: string;
  readonly home: string;
  readonly sshKey: string;
  readonly aws: string;
  readonly outside: string;
  readonly outsideDir: string;
  readonly sibling: string;
  readonly envName: string;
  readonly tcpPort: number;
  readonly udpPort: number;
  readonly unixSocket: string;
  readonly abstractName: string;
  readonly hostIp: string;
  /** Secret values by canary name: none may appear in anything the sandbox produced. */
  readonly values: Readonly<Record<string, string>>;
  /** Connections or datagrams that reached each service so far. */
  hits(): { tcp: number; udp: number; unix: number; abstract: number };
  /** Host files (content hashes) and directories (listings) that must not change. */
  snapshot(): Map<string, string>;
  /** Removes the planted files and the variable now (for a signal handler); services stay. */
  removeFilesSync(): void;
  remove(): Promise<void>;
}

function hashOf(path: string): string {
  try {
    const st = lstatSync(path);
    if (st.isDirectory()) return `dir:${readdirSync(path).sort().join(',')}`;
    if (st.isSymbolicLink()) return 'symlink';
    return `file:${createHash('sha256').update(readFileSync(path)).digest('hex')}:${st.mode}`;
  } catch {
    return 'absent';
  }
}

/** Removes canaries a killed run left behind (older than ten minutes, holding a canary value). */
function sweepStale(home: string): void {
  for (const d of ['.ssh', '.aws']) {
    let names: string[];
    try {
      names = readdirSync(join(home, d));
    } catch {
      continue;
    }
    for (const n of names) {
      const p = join(home, d, n);
      try {
        const st = lstatSync(p);
        if (!st.isFile() || Date.now() - st.mtimeMs < 10 * 60_000 || st.size > 4096) continue;
        if (readFileSync(p, 'utf8').includes('rtcanary-')) rmSync(p);
      } catch {
        // not ours to judge
      }
    }
  }
}

/** Files of the host user that a persistence attack would write. */
export const WATCHED_HOME_FILES = [
  '.bashrc', '.profile', '.bash_profile', '.zshrc', '.gitconfig', '.config/git/config', '.ssh', '.ssh/authorized_keys', '.aws',
  '.npmrc', '.claude/settings.json', '.codex/config.toml', '.config/Code/User/settings.json', '.config/autostart', '.config/systemd/user',
] as const;

const WATCHED_SYSTEM_FILES = ['/etc/ld.so.preload', '/etc/passwd', '/etc/cron.d', '/etc/profile.d', '/proc/sys/kernel/core_pattern', '/proc/sys/kernel/modprobe'];

/**
 * Plants the canaries. Never overwrites a file that exists: when `~/.ssh/id_ed25519` or
 * `~/.aws/credentials` is already there, the canary gets a unique name beside it.
 */
export async function plantCanaries(options: { base: string; home?: string; extraWatched?: readonly string[] }): Promise<Canaries> {
  const token = randomBytes(6).toString('hex');
  const home = options.home ?? homedir();
  const value = (what: string): string => `rtcanary-${what}-${randomBytes(12).toString('hex')}`;
  const values: Record<string, string> = {
    ssh: value('ssh'),
    aws: value('aws'),
    env: value('env'),
    outside: value('outside'),
    tcp: value('tcp'),
    unix: value('unix'),
    credential: value('credential'),
  };
  sweepStale(home);
  const created: string[] = [];
  const createdDirs: string[] = [];
  const ensureDir = (d: string): void => {
    if (!existsSync(d)) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      createdDirs.push(d);
    }
  };
  const plant = (dir: string, name: string, content: string): string => {
    ensureDir(dir);
    let p = join(dir, name);
    if (existsSync(p)) p = join(dir, `${name}.airlock-canary-${token}`);
    writeFileSync(p, content, { mode: 0o600, flag: 'wx' });
    created.push(p);
    return p;
  };
  const sshKey = plant(join(home, '.ssh'), 'id_ed25519', `-----BEGIN OPENSSH PRIVATE KEY-----\n${values['ssh']}\n-----END OPENSSH PRIVATE KEY-----\n`);
  const aws = plant(join(home, '.aws'), 'credentials', `[default]\naws_access_key_id = AKIA${token.toUpperCase()}\naws_secret_access_key = ${values['aws']}\n`);
  const outsideDir = join(options.base, 'outside');
  mkdirSync(outsideDir, { recursive: true });
  const outside = join(outsideDir, 'secret.txt');
  writeFileSync(outside, `${values['outside']}\n`);
  const sibling = join(`${options.base}/ws-0_evil`, 'secret.txt');
  mkdirSync(join(`${options.base}/ws-0_evil`), { recursive: true });
  writeFileSync(sibling, `${values['outside']}\n`);
  const envName = `AIRLOCK_RT_CANARY_${token.toUpperCase()}`;
  process.env[envName] = values['env'];

  const counts = { tcp: 0, udp: 0, unix: 0, abstract: 0 };
  // Every connection a canary service accepted, so that removing the canaries never waits on
  // one that is still open (a client that sent a request and never closed).
  const conns = new Set<Socket>();
  const serve = (what: 'tcp' | 'unix' | 'abstract'): Server =>
    createServer((sock) => {
      counts[what] += 1;
      conns.add(sock);
      sock.once('close', () => conns.delete(sock));
      sock.on('error', () => undefined);
      // Read (and drop) what the client sends, so that its close is seen and the socket ends.
      sock.resume();
      sock.end(`canary ${what === 'tcp' ? values['tcp'] : values['unix']}\n`);
    });
  const tcp = serve('tcp');
  await new Promise<void>((r) => tcp.listen(0, '0.0.0.0', r));
  const tcpPort = (tcp.address() as AddressInfo).port;
  const udp: UdpSocket = createSocket('udp4');
  udp.on('message', () => {
    counts.udp += 1;
  });
  await new Promise<void>((r) => udp.bind(0, '0.0.0.0', r));
  const udpPort = udp.address().port;
  const unixSocket = join(outsideDir, 'canary.sock');
  const unix = serve('unix');
  await new Promise<void>((r) => unix.listen(unixSocket, r));
  const abstractName = `airlock-rt-${token}`;
  const abstract = serve('abstract');
  await new Promise<void>((r) => abstract.listen(`\0${abstractName}`, r));
  const hostIp =
    Object.values(networkInterfaces())
      .flat()
      .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address ?? '';

  const removeFilesSync = (): void => {
    Reflect.deleteProperty(process.env, envName);
    for (const p of created.splice(0)) rmSync(p, { force: true });
    for (const d of createdDirs.splice(0).reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty: something else was put there meanwhile; leave it
      }
    }
  };
  const watched = [
    ...created,
    ...WATCHED_HOME_FILES.map((f) => join(home, f)),
    ...WATCHED_SYSTEM_FILES,
    outside,
    outsideDir,
    sibling,
    ...(options.extraWatched ?? []),
  ];
  return {
    token,
    base: options.base,
    home,
    sshKey,
    aws,
    outside,
    outsideDir,
    sibling,
    envName,
    tcpPort,
    udpPort,
    unixSocket,
    abstractName,
    hostIp,
    values,
    hits: () => ({ ...counts }),
    snapshot: () => new Map(watched.map((p) => [p, hashOf(p)])),
    removeFilesSync,
    async remove() {
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => tcp.close(() => { r(); })),
        new Promise<void>((r) => unix.close(() => { r(); })),
        new Promise<void>((r) => abstract.close(() => { r(); })),
        new Promise<void>((r) => { udp.close(() => { r(); }); }),
      ]);
      removeFilesSync();
    },
  };
}
