/**
 * Filesystem escapes and host secrets: reading or writing host paths from inside the
 * sandbox through every alias known from container and bubblewrap advisories.
 */
import type { AttackCase } from '../types.js';
import { pyCase, sb } from './helpers.js';

/** Filesystem escape cases. */
export const FILESYSTEM_CASES: readonly AttackCase[] = [
  sb('fs-host-path-direct', 'filesystem', 'read a file outside the workspace by its host path', 'cat "$RT_OUTSIDE"; ls -la "$RT_OUTSIDE_DIR"'),
  sb('fs-dotdot', 'filesystem', 'climb out of /workspace with ../ segments', 'cat /workspace/../../../../..$RT_OUTSIDE; cat /workspace/../../$RT_OUTSIDE'),
  sb('fs-prefix-collision', 'filesystem', 'a sibling of the workspace whose name starts with it (ws vs ws_evil)', 'cat "$RT_SIBLING"; cat /workspace_evil/secret.txt; ls /workspace_evil'),
  sb('fs-proc-self-root', 'filesystem', '/proc/self/root as an alias of /', 'cat /proc/self/root$RT_OUTSIDE; ls /proc/self/root$RT_HOST_HOME'),
  sb('fs-proc-1-root', 'filesystem', "/proc/1/root: the supervisor's root", 'cat /proc/1/root$RT_OUTSIDE; cat /proc/1/root$RT_SSH_KEY'),
  sb('fs-proc-1-cwd', 'filesystem', "/proc/1/cwd: the supervisor's working directory and its parents", 'ls /proc/1/cwd/ /proc/1/cwd/../ ; cat /proc/1/cwd/../../..$RT_OUTSIDE'),
  sb('fs-proc-fd-dirs', 'filesystem', 'leaked directory descriptors (runc CVE-2024-21626 "Leaky Vessels"): walk up from every /proc/*/fd entry', `for f in /proc/self/fd/* /proc/1/fd/*; do
  if [ -d "$f" ]; then cat "$f/../../../../..$RT_OUTSIDE" 2>/dev/null && echo "$RT_MARK via $f"; fi
  t=$(readlink "$f" 2>/dev/null); case "$t" in *"$RT_OUTSIDE_DIR"*|"$RT_HOST_HOME"*|*"$RT_STATE"*) echo "$RT_MARK fd $f -> $t";; esac
done; true`),
  sb('fs-symlink-out', 'filesystem', 'a symlink in the workspace to a host path, followed inside', 'ln -sf "$RT_OUTSIDE" /workspace/rt-link-$RT_TOKEN && cat /workspace/rt-link-$RT_TOKEN; rm -f /workspace/rt-link-$RT_TOKEN'),
  sb('fs-hardlink-out', 'filesystem', 'a hard link to a host file', 'ln "$RT_OUTSIDE" /workspace/rt-hl-$RT_TOKEN && echo "$RT_MARK hardlink"; cat /workspace/rt-hl-$RT_TOKEN; rm -f /workspace/rt-hl-$RT_TOKEN'),
  sb('fs-symlink-race', 'filesystem', 'swap a workspace path between a file and a symlink to / in a loop while reading through it (TOCTOU)', `cd /workspace; i=0; while [ $i -lt 300 ]; do ln -sfn / rt-race-$RT_TOKEN; rm -f rt-race-$RT_TOKEN; mkdir -p rt-race-$RT_TOKEN; rmdir rt-race-$RT_TOKEN; i=$((i+1)); done &
j=0; while [ $j -lt 300 ]; do cat rt-race-$RT_TOKEN$RT_OUTSIDE 2>/dev/null; j=$((j+1)); done; wait; rm -rf rt-race-$RT_TOKEN`),
  sb('fs-write-outside', 'filesystem', 'create a file in a host directory outside the workspace', 'echo pwned > "$RT_OUTSIDE_DIR/pwned-$RT_TOKEN"; echo pwned > "/tmp/../$RT_OUTSIDE_DIR/pwned-$RT_TOKEN"', { hostMustNotExist: ['{OUTSIDE_DIR}/pwned-{TOKEN}'] }),
  sb('fs-write-root', 'filesystem', 'write into the read-only system directories', 'for d in /usr/bin /bin /etc /lib /sbin /usr/local/bin; do echo x > $d/rt-$RT_TOKEN 2>/dev/null && echo "$RT_MARK wrote $d"; done; true', { hostMustNotExist: ['/usr/bin/rt-{TOKEN}', '/etc/rt-{TOKEN}', '/usr/local/bin/rt-{TOKEN}'] }),
  sb('fs-remount-rw', 'filesystem', 'remount / or /usr read-write', 'mount -o remount,rw / 2>/dev/null && echo "$RT_MARK remount /"; mount -o remount,rw /usr 2>/dev/null && echo "$RT_MARK remount /usr"; true'),
  sb('fs-mount-proc-host', 'filesystem', 'mount a fresh procfs or sysfs, bind / elsewhere', 'mkdir -p /tmp/m; mount -t proc proc /tmp/m 2>/dev/null && echo "$RT_MARK mount proc"; mount --bind / /tmp/m 2>/dev/null && echo "$RT_MARK bind"; mount -t sysfs s /tmp/m 2>/dev/null && echo "$RT_MARK sysfs"; true'),
  sb('fs-unshare-mount', 'filesystem', 'a new user+mount namespace to mount freely (bubblewrap nested namespaces)', 'unshare -Urm sh -c "mount -t tmpfs t /usr && echo $RT_MARK" 2>/dev/null; true'),
  sb('fs-mknod-disk', 'filesystem', 'create block and char device nodes for the host disk and memory, and read through them', `for n in 'sda b 8 0' 'vda b 253 0' 'mem c 1 1' 'kmsg c 1 11'; do set -- $n
  mknod /tmp/$1 $2 $3 $4 2>/dev/null && head -c 1 /tmp/$1 >/dev/null 2>&1 && echo "$RT_MARK read through a new $1 node"; done; true`),
  sb('fs-raw-devices', 'filesystem', 'read host disks and memory through device files', 'for d in /dev/sda /dev/vda /dev/xvda /dev/nvme0n1 /dev/mem /dev/kmem /dev/port /dev/kmsg /dev/fuse; do head -c 1 $d >/dev/null 2>&1 && echo "$RT_MARK read $d"; done; true'),
  pyCase('fs-open-by-handle', 'filesystem', 'open_by_handle_at from a guessed handle (the "shocker" Docker escape)', `fh = (ctypes.c_ubyte * 16)(*([8,0,0,0,1,0,0,0] + [2,0,0,0,0,0,0,0]))
fd = os.open('/workspace', os.O_RDONLY)
r, e = sc(304, fd, ctypes.addressof(fh), 0)
if r >= 0: esc('open_by_handle_at')`),
  sb('fs-sysrq', 'filesystem', 'write /proc/sysrq-trigger and kernel sysctls', `echo h > /proc/sysrq-trigger 2>/dev/null && echo "$RT_MARK sysrq"
echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && echo "$RT_MARK sysctl"
echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo "$RT_MARK ip_forward"; true`),
  sb('fs-core-pattern', 'filesystem', 'set kernel.core_pattern to a pipe into the workspace (a host-root escape when it works)', `printf '|/workspace/rt-%s' "$RT_TOKEN" > /proc/sys/kernel/core_pattern 2>/dev/null && echo "$RT_MARK core_pattern"; true`),
  sb('fs-modprobe-path', 'filesystem', 'overwrite kernel.modprobe and uevent_helper (usermode helper escapes)', `echo /workspace/x > /proc/sys/kernel/modprobe 2>/dev/null && echo "$RT_MARK modprobe"
echo /workspace/x > /sys/kernel/uevent_helper 2>/dev/null && echo "$RT_MARK uevent_helper"; true`),
  sb('fs-cgroup-release-agent', 'filesystem', 'mount cgroup v1 and set release_agent (CVE-2022-0492)', `mkdir -p /tmp/cg; mount -t cgroup -o rdma cgroup /tmp/cg 2>/dev/null && echo "$RT_MARK cgroup mount"
unshare -UrmC sh -c 'mount -t cgroup -o rdma cgroup /tmp/cg && echo /x > /tmp/cg/release_agent && echo '"$RT_MARK"' release_agent' 2>/dev/null; true`),
  sb('fs-cgroup-write', 'filesystem', "raise the sandbox's own cgroup limits or move into the root cgroup", `for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cgroup.procs; do [ -w "$f" ] && echo max > "$f" 2>/dev/null && echo "$RT_MARK wrote $f"; done
echo $$ > /sys/fs/cgroup/cgroup.procs 2>/dev/null && echo "$RT_MARK cgroup.procs"; true`),
  sb('fs-proc-kcore', 'filesystem', '/proc/kcore and /proc/kallsyms addresses (kernel memory, KASLR)', `head -c 16 /proc/kcore >/dev/null 2>&1 && echo "$RT_MARK kcore"
awk '$1 != "0000000000000000" {n++} END {if (n > 0) print "RT-ESCAPED-" ENVIRON["RT_TOKEN"], "kallsyms addresses"}' /proc/kallsyms 2>/dev/null; true`),
  sb('fs-supervisor-exe', 'filesystem', "overwrite the supervisor binary through /proc/1/exe (runc CVE-2019-5736)", 'echo pwned > /proc/1/exe 2>/dev/null && echo "$RT_MARK /proc/1/exe"; cp /bin/true /proc/1/exe 2>/dev/null && echo "$RT_MARK cp exe"; true'),
  sb('fs-docker-sock', 'filesystem', 'container engine sockets (docker, containerd, podman)', `for s in /var/run/docker.sock /run/docker.sock /run/containerd/containerd.sock /run/podman/podman.sock /run/user/0/docker.sock; do [ -e "$s" ] && echo "$RT_MARK $s"; done
curl -s --max-time 2 --unix-socket /var/run/docker.sock http://x/info 2>/dev/null && echo "$RT_MARK docker api"; true`),
  sb('fs-host-unix-socket', 'filesystem', "a unix socket of a host service by its path", 'curl -s --max-time 2 --unix-socket "$RT_UNIX_SOCK" http://x/ ; socat -T2 - UNIX-CONNECT:"$RT_UNIX_SOCK" </dev/null 2>/dev/null; true'),
  pyCase('fs-abstract-socket', 'filesystem', "the host's abstract unix sockets (X11, dbus; flatpak CVE-2021-41133 class)", `s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect('\\0' + os.environ['RT_ABSTRACT'])
    print(s.recv(200).decode(errors='replace'))
    esc('abstract socket')
except OSError as e:
    print('refused', e)
for p in ['/tmp/.X11-unix/X0', '/run/dbus/system_bus_socket', '/run/user/0/bus', '/run/systemd/private']:
    if os.path.exists(p): esc(p)`),
  sb('fs-proc-net-unix', 'filesystem', "the host's socket table through /proc/net/unix", 'grep -q "$RT_ABSTRACT" /proc/net/unix 2>/dev/null && echo "$RT_MARK host sockets listed"; true'),
  sb('fs-tmp-shared', 'filesystem', "the host's /tmp (where the outside canary lives)", 'ls -la /tmp; cat /tmp/*/outside/secret.txt 2>/dev/null; find /tmp -name secret.txt -exec cat {} \\; 2>/dev/null; true'),
  sb('fs-home-enum', 'filesystem', 'home directories of the host', 'ls -la /home /root "$RT_HOST_HOME" 2>/dev/null; cat /home/*/.ssh/* /root/.ssh/* 2>/dev/null; true'),
  sb('fs-find-host-keys', 'filesystem', 'search the whole visible tree for keys and credential files', "find / -xdev \\( -name 'id_*' -o -name credentials -o -name '*.pem' -o -name '.netrc' \\) -not -path '/usr/*' -not -path '/etc/ssl/*' 2>/dev/null | head -50 | while read f; do cat \"$f\" 2>/dev/null; done; true", { timeoutMs: 60_000 }),
  sb('fs-rename-mountpoint', 'filesystem', 'rename or unmount /workspace to expose what is under it', 'mv /workspace /tmp/ws 2>/dev/null && echo "$RT_MARK renamed"; umount /workspace 2>/dev/null && echo "$RT_MARK umount"; umount -l /tmp 2>/dev/null && echo "$RT_MARK umount tmp"; true'),
];

/** Secret-reading cases. */
export const SECRETS_CASES: readonly AttackCase[] = [
  sb('sec-ssh-key', 'secrets', '~/.ssh/id_ed25519 of the host user, by host path and by ~', 'cat "$RT_SSH_KEY"; cat ~/.ssh/* 2>/dev/null; cat "$RT_HOST_HOME"/.ssh/* 2>/dev/null; true'),
  sb('sec-aws', 'secrets', '~/.aws/credentials of the host user', 'cat "$RT_AWS"; cat ~/.aws/credentials "$RT_HOST_HOME/.aws/config" 2>/dev/null; true'),
  sb('sec-cloud-files', 'secrets', 'gcloud, docker, kube, gh, netrc, git-credentials, npmrc, pypirc', `for f in .config/gcloud/credentials.db .config/gcloud/application_default_credentials.json .docker/config.json .kube/config .config/gh/hosts.yml .netrc .git-credentials .npmrc .pypirc .cargo/credentials.toml .bash_history .gnupg/private-keys-v1.d; do
  [ -e "$RT_HOST_HOME/$f" ] && echo "$RT_MARK $f"; cat "$RT_HOST_HOME/$f" 2>/dev/null; done; true`),
  sb('sec-env', 'secrets', "the airlock process's environment through the sandbox's own environment", 'env; printenv "$RT_ENV_NAME"; cat /proc/self/environ | tr "\\0" "\\n"'),
  sb('sec-proc-environ-all', 'secrets', 'every visible process environment and command line (/proc/*/environ)', 'for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null | tr "\\0" "\\n"; done'),
  sb('sec-host-pid', 'secrets', "the airlock host process by its host pid (pid namespace)", '[ -e /proc/$RT_HOST_PID/environ ] && cat /proc/$RT_HOST_PID/environ | tr "\\0" "\\n"; kill -0 $RT_HOST_PID 2>/dev/null && echo "$RT_MARK signal host pid"; true'),
  sb('sec-shadow', 'secrets', '/etc/shadow, gshadow, sudoers and host ssh host keys', 'cat /etc/shadow /etc/gshadow /etc/sudoers /etc/ssh/ssh_host_*_key 2>/dev/null; ls /etc/ssl/private 2>/dev/null && echo "$RT_MARK ssl private"; true'),
  sb('sec-audit-key', 'secrets', "the audit log's signing key and the approval store", 'cat "$RT_STATE"/audit/signing-key.pem 2>/dev/null; ls -la "$RT_STATE" 2>/dev/null && echo "$RT_MARK state dir visible"; true'),
  sb('sec-dmesg', 'secrets', 'the kernel log (may hold paths and tokens)', 'dmesg 2>/dev/null | head -3 | grep -q . && echo "$RT_MARK dmesg"; true'),
  sb('sec-git-credential', 'secrets', "git's credential helpers of the host user", "printf 'protocol=https\\nhost=github.com\\n\\n' | GIT_TERMINAL_PROMPT=0 git credential fill 2>/dev/null; git config --global --list 2>/dev/null; true"),
  pyCase('sec-keyring', 'secrets', 'the kernel keyring (keyctl: session, user keyrings)', `r, e = sc(250, 0, -3 & 0xffffffff, 0)  # KEYCTL_GET_KEYRING_ID @u
if r > 0: esc('keyctl user keyring %d' % r)
r, e = sc(248, ctypes.c_char_p(b'user'), ctypes.c_char_p(b'rt'), ctypes.c_char_p(b'x'), 1, -2 & 0xffffffff)
if r > 0: esc('add_key')`),
  pyCase('sec-mem-read-supervisor', 'secrets', "read the supervisor's memory through /proc/1/mem at a mapped address", `try:
    maps = open('/proc/1/maps').read().split('\\n')
    print('maps readable (layout only)')
except OSError as e:
    maps = []; print('maps', e)
for line in maps[:8]:
    if not line: continue
    start = int(line.split('-')[0], 16)
    try:
        f = open('/proc/1/mem', 'rb'); f.seek(start); d = f.read(16)
        if d: esc('read /proc/1/mem at %x' % start); break
    except (OSError, ValueError) as e: print('mem', e)`),
];
