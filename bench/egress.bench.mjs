// Egress proxy: a large HTTPS download through a CONNECT tunnel versus direct, and small
// plain-HTTP requests (requests per second, added p50 latency), for Airlock's proxy and,
// in the same run and on the same harness, @anthropic-ai/sandbox-runtime's HTTP proxy.
//
// Three processes per measurement, so that client, proxy and server do not share one
// event loop: the upstream servers (a child), the client (a child), and the proxy (this
// process). Both proxies listen on a unix socket, the way Airlock's does in a session; the
// in-sandbox supervisor bridge (C, loopback TCP → unix socket) is not part of the figure.
// The tunnel carries end-to-end TLS (the client verifies the upstream; neither proxy
// decrypts), which is what an HTTPS download through either proxy costs.
//
// Uses the built library: run `npx tsc -p tsconfig.build.json` (or `npm run bench`) first.
import { Buffer } from 'node:buffer';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import process from 'node:process';

import { summary } from './stats.mjs';

const MiB = 1024 * 1024;
const self = fileURLToPath(import.meta.url);

// ------------------------------------------------------------------ child processes

/** Upstream servers: a TLS server that streams N bytes to each connection, and a tiny HTTP server. */
async function childServer(args) {
  const { createServer: createTlsServer } = await import('node:tls');
  const { createServer: createHttpServer } = await import('node:http');
  const { cert, key } = JSON.parse(args[0]);
  const chunk = Buffer.alloc(MiB, 0x5a);
  const tls = createTlsServer({ cert, key }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', (line) => {
      let left = Number(line.toString().trim());
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!socket.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.end();
      };
      pump();
    });
  });
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
    res.end('ok');
  });
  await new Promise((r) => tls.listen(0, '127.0.0.1', r));
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  process.stdout.write(`${JSON.stringify({ tlsPort: tls.address().port, httpPort: http.address().port })}\n`);
}

/** Opens a TCP connection directly, or a CONNECT tunnel through a proxy's unix socket. */
async function openStream(net, via, port) {
  if (via === 'direct') {
    return await new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  }
  return await new Promise((resolve, reject) => {
    const s = net.connect(via);
    s.once('error', reject);
    s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.removeListener('data', onData);
      s.pause();
      if (!/^HTTP\/1\.[01] 200/.test(buf.toString('latin1')))
        return reject(new Error(buf.toString('latin1', 0, end)));
      if (buf.length > end + 4) s.unshift(buf.subarray(end + 4));
      resolve(s);
    };
    s.on('data', onData);
  });
}

/** Downloads `bytes` over TLS (no SNI: the target is an IP) and reports the time. */
async function childDownload(args) {
  const net = await import('node:net');
  const { connect } = await import('node:tls');
  const [via, port, bytes, ca] = [args[0], Number(args[1]), Number(args[2]), args[3]];
  const raw = await openStream(net, via, port);
  const t0 = performance.now();
  const tls = connect({ socket: raw, host: '127.0.0.1', ca: [ca], ALPNProtocols: [] });
  await new Promise((r, j) => {
    tls.once('secureConnect', r);
    tls.once('error', j);
  });
  tls.write(`${bytes}\n`);
  let got = 0;
  tls.on('data', (d) => {
    got += d.length;
  });
  await new Promise((r, j) => {
    tls.once('end', r);
    tls.once('error', j);
  });
  const ms = performance.now() - t0;
  tls.destroy();
  process.stdout.write(`${JSON.stringify({ bytes: got, ms })}\n`);
}

/** Small GETs: sequential latency, then concurrent throughput, over keep-alive connections. */
async function childRequests(args) {
  const http = await import('node:http');
  const [via, port, sequential, concurrency, seconds] = [
    args[0],
    Number(args[1]),
    Number(args[2]),
    Number(args[3]),
    Number(args[4]),
  ];
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = `http://127.0.0.1:${port}/small`;
  const options =
    via === 'direct'
      ? { host: '127.0.0.1', port, path: '/small', agent }
      : { socketPath: via, path: target, headers: { host: `127.0.0.1:${port}` }, agent };
  const once = () =>
    new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < 50; i++) await once(); // warm-up: connections, JIT
  const latencies = [];
  for (let i = 0; i < sequential; i++) {
    const t = performance.now();
    await once();
    latencies.push(performance.now() - t);
  }
  let done = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await once();
        done++;
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  process.stdout.write(`${JSON.stringify({ latencies, requests: done, seconds: elapsed })}\n`);
}

if (process.argv[1] === self && process.argv[2] === '--child') {
  const [kind, ...rest] = process.argv.slice(3);
  const fn = { server: childServer, download: childDownload, requests: childRequests }[kind];
  await fn(rest);
}

// ------------------------------------------------------------------ the bench

function runChild(args) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [self, '--child', ...args],
      { maxBuffer: 64 * MiB, timeout: 600_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').at(-1)));
      },
    );
  });
}

function startServerChild(certJson) {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [self, '--child', 'server', certJson], { maxBuffer: MiB });
    child.stdout.once('data', (d) => resolve({ child, ...JSON.parse(String(d)) }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`server child exited ${code}`)));
  });
}

async function listenUnix(server, path) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** The least a CONNECT proxy can do in Node: read the request line, dial, answer 200, pipe. */
async function startBareSplice(path) {
  const net = await import('node:net');
  const server = net.createServer((client) => {
    client.on('error', () => client.destroy());
    let buf = Buffer.alloc(0);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.removeListener('data', onData);
      client.pause();
      const [, target = ''] = buf.toString('latin1', 0, end).split(' ');
      const colon = target.lastIndexOf(':');
      const upstream = net.connect(Number(target.slice(colon + 1)), target.slice(0, colon), () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (buf.length > end + 4) upstream.write(buf.subarray(end + 4));
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => client.destroy());
      // Once the upstream is gone, let the client side flush and read its EOF, then close.
      upstream.on('close', () => {
        client.end();
        client.resume();
      });
      client.on('close', () => upstream.destroy());
    };
    client.on('data', onData);
  });
  await listenUnix(server, path);
  return server;
}

/** Per-request times that one curl prints for `urls` fetched over one keep-alive connection. */
function curlTimes(exec, url, count) {
  const args = ['-s', '-w', '%{time_total}\\n'];
  for (let i = 0; i < count; i++) args.push('-o', '/dev/null', url);
  return exec(['curl', ...args]).then((stdout) =>
    stdout
      .trim()
      .split('\n')
      .map((t) => Number(t) * 1000),
  );
}

/**
 * A request through a live session's proxy (curl inside a bwrap sandbox, bridge, proxy with
 * the session's policy) against the same curl on the host going straight to the server.
 * One curl process each, many URLs on one keep-alive connection, so process start-up is
 * not in the figure.
 */
async function sessionFigure(httpPort, count) {
  const { createSession } = await import('../dist/session/index.js');
  const { loadPolicy } = await import('../dist/policy/index.js');
  const ws = mkdtempSync(join(tmpdir(), 'airlock-bench-egress-ws-'));
  const state = mkdtempSync(join(tmpdir(), 'airlock-bench-egress-state-'));
  const policy = loadPolicy({
    text: `version: 1
exec: { default: allow }
network:
  rules:
    - { id: bench, host: upstream.bench.test, ports: [${httpPort}], level: allow }
    - { id: bench-loopback, cidr: 127.0.0.1/32, ports: [${httpPort}], level: ask }
`,
  });
  const resolver = async (name) => (name === 'upstream.bench.test' ? [{ address: '127.0.0.1', family: 4 }] : []);
  const session = await createSession({
    workspace: ws,
    stateDir: state,
    policy,
    audit: false,
    egress: { testing: { resolver } },
  });
  try {
    const inside = (argv) =>
      session.exec(argv, { timeoutMs: 120_000 }).then((r) => {
        if (r.exitCode !== 0) throw new Error(`curl in the session failed: ${r.stderr}`);
        return r.stdout;
      });
    const onHost = (argv) =>
      new Promise((resolve, reject) => {
        execFile(argv[0], argv.slice(1), { maxBuffer: 16 * MiB }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
    const viaSession = await curlTimes(inside, `http://upstream.bench.test:${httpPort}/`, count);
    const direct = await curlTimes(onHost, `http://127.0.0.1:${httpPort}/`, count);
    const a = summary(viaSession.slice(1));
    const d = summary(direct.slice(1));
    return {
      setup: `${count} plain-HTTP GETs by one curl over one keep-alive connection (first excluded): inside a bwrap session through its bridge and proxy, versus on the host straight to the server`,
      directMs: d,
      sessionProxyMs: a,
      sessionAddedP50Ms: round(a.p50 - d.p50, 3),
    };
  } finally {
    await session.destroy();
    rmSync(ws, { recursive: true, force: true });
    rmSync(state, { recursive: true, force: true });
  }
}

export async function run(ctx) {
  const { createEgressProxy, createRuleDecider } = await import('../dist/egress/index.js');
  const { createSessionCa } = await import('../dist/egress/ca.js');
  const { parseHost } = await import('../dist/egress/host.js');
  const srt = await import(
    pathToFileURL(join(self, '../../node_modules/@anthropic-ai/sandbox-runtime/dist/sandbox/http-proxy.js'))
      .href
  );

  const bytes = (ctx.quick ? 32 : 256) * MiB;
  const runs = ctx.quick ? 1 : 3;
  const sequential = ctx.quick ? 300 : 2000;
  const seconds = ctx.quick ? 1 : 4;
  const concurrency = 16;

  const upstreamCa = createSessionCa({ commonName: 'Airlock bench upstream CA' });
  const ip = parseHost('127.0.0.1');
  const leaf = upstreamCa.issue(ip.value);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-egress-'));
  const server = await startServerChild(JSON.stringify({ cert: leaf.certPem, key: leaf.keyPem }));

  const airlock = await createEgressProxy({
    socketPath: join(dir, 'airlock.sock'),
    sandboxPort: 3128,
    intercept: false,
    cidrAllow: ['127.0.0.1/32'],
    decide: createRuleDecider([
      { id: 'bench', verdict: 'allow', hosts: ['127.0.0.1'], ports: [server.tlsPort, server.httpPort] },
    ]),
  });
  const srtServer = srt.createHttpProxyServer({ filter: () => true });
  await listenUnix(srtServer, join(dir, 'srt.sock'));

  const bare = await startBareSplice(join(dir, 'bare.sock'));

  const routes = { direct: 'direct', airlock: airlock.socketPath, sandboxRuntime: join(dir, 'srt.sock') };
  const out = {
    setup: {
      transferMiB: bytes / MiB,
      runs,
      tunnel: 'CONNECT to 127.0.0.1 over a unix socket, end-to-end TLS, no interception',
      smallRequests: `plain-HTTP GET through the proxy (absolute URI), keep-alive; ${sequential} sequential for latency, ${concurrency} concurrent for ${seconds}s for throughput`,
      processes: 'client, proxy and server in separate processes',
    },
  };
  try {
    // Throughput: best of `runs` for each route, interleaved so that machine noise spreads evenly.
    const best = { direct: 0, airlock: 0, sandboxRuntime: 0, bareSplice: 0 };
    // CPU the proxy (this process) spends per GiB: less sensitive to a busy machine than MiB/s.
    const cpu = { direct: [], airlock: [], sandboxRuntime: [], bareSplice: [] };
    const truncated = [];
    const helperCpu = [];
    for (let r = 0; r < runs; r++) {
      for (const [name, via] of [...Object.entries(routes), ['bareSplice', join(dir, 'bare.sock')]]) {
        const cpu0 = process.cpuUsage();
        const helper0 = airlock.stats().tunnelHelperCpuMs;
        const res = await runChild([
          'download',
          via,
          String(server.tlsPort),
          String(bytes),
          upstreamCa.certPem,
        ]);
        if (res.bytes !== bytes) {
          // A proxy that loses the end of a stream is reported, not averaged in.
          if (name !== 'sandboxRuntime') throw new Error(`${name}: received ${res.bytes} of ${bytes} bytes`);
          truncated.push({ run: r, received: res.bytes, expected: bytes });
        }
        best[name] = Math.max(best[name], res.bytes / MiB / (res.ms / 1000));
        // The tunnel's event (and its helper's CPU report) comes when both sides have closed.
        for (let i = 0; i < 200 && name === 'airlock' && airlock.stats().openConnections > 0; i++)
          await new Promise((r) => setTimeout(r, 10));
        const used = process.cpuUsage(cpu0);
        // Airlock hands an opaque tunnel to its splice helper (a child process): its CPU is the proxy's too.
        const helperMs = name === 'airlock' ? airlock.stats().tunnelHelperCpuMs - helper0 : 0;
        cpu[name].push(((used.user + used.system) / 1000 + helperMs) / (res.bytes / (1024 * MiB)));
        if (name === 'airlock') helperCpu.push(helperMs / (res.bytes / (1024 * MiB)));
      }
    }
    const ratio = (name) => round((best[name] / best.direct) * 100);
    out.throughput = {
      directMiBps: round(best.direct),
      airlockMiBps: round(best.airlock),
      sandboxRuntimeMiBps: round(best.sandboxRuntime),
      airlockPercentOfDirect: {
        value: ratio('airlock'),
        unit: '%',
        target: '>= 90',
        met: ratio('airlock') >= 90,
      },
      sandboxRuntimePercentOfDirect: ratio('sandboxRuntime'),
      // The floor for any proxy written in JavaScript on this machine: parse CONNECT, dial, pipe.
      bareSpliceMiBps: round(best.bareSplice),
      bareSplicePercentOfDirect: ratio('bareSplice'),
      airlockProxyCpuMsPerGiB: round(Math.min(...cpu.airlock)),
      // Of which the splice helper (a child process that reports its own CPU time).
      airlockTunnelHelperCpuMsPerGiB: round(Math.min(...helperCpu)),
      sandboxRuntimeProxyCpuMsPerGiB: round(Math.min(...cpu.sandboxRuntime)),
      // Runs in which sandbox-runtime's proxy closed the tunnel before the last bytes arrived.
      sandboxRuntimeTruncatedTransfers: truncated,
    };

    const small = {};
    for (const [name, via] of Object.entries(routes)) {
      const res = await runChild([
        'requests',
        via,
        String(server.httpPort),
        String(sequential),
        String(concurrency),
        String(seconds),
      ]);
      small[name] = { latencyMs: summary(res.latencies), rps: round(res.requests / res.seconds, 0) };
    }
    out.smallRequests = {
      direct: small.direct,
      airlock: small.airlock,
      sandboxRuntime: small.sandboxRuntime,
      airlockAddedP50Ms: round(small.airlock.latencyMs.p50 - small.direct.latencyMs.p50, 3),
      sandboxRuntimeAddedP50Ms: round(small.sandboxRuntime.latencyMs.p50 - small.direct.latencyMs.p50, 3),
    };
    const stats = airlock.stats();
    out.airlockStats = { requests: stats.requests, denied: stats.denied };

    out.session = await sessionFigure(server.httpPort, ctx.quick ? 50 : 300);
  } finally {
    await airlock.close();
    await new Promise((r) => srtServer.close(r));
    await new Promise((r) => bare.close(r));
    server.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
