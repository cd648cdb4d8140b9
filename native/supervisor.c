/*
 * airlock-supervisor: pid 1 inside an Airlock sandbox.
 *
 * Why C and not TypeScript: it starts in about a millisecond (Node takes 120-170 ms on
 * the 2-core machines we target, which alone would break the 40 ms session-create
 * budget), it is linked statically so it runs in any template root whatever libc that
 * root has, and it needs openpty, setrlimit and setsid, which Node cannot do without
 * a native addon. It holds no secret and decides no policy: it is no more trusted than
 * the agent it serves. The wire format is specified once in src/sandbox/protocol.ts;
 * test/unit/protocol.test.ts checks this file's constants against it.
 *
 * Duties:
 *   - read exec requests from the control socket (fd 3, a socketpair the host made; a
 *     runtime that passes only stdio, such as runsc, hands it in as fd 1: `--control-fd 1`);
 *   - load the host-built seccomp program when the runtime cannot (`--seccomp FILE`);
 *   - run each in its own session and process group, with pipes or a fresh pty;
 *   - stream stdout/stderr, feed stdin, forward signals and window sizes;
 *   - reap every child, including orphans re-parented to pid 1;
 *   - bridge loopback TCP ports to unix sockets the host bound in (egress proxy);
 *   - exit when the host goes away (control EOF), which ends the pid namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1
#define CONTROL_FD 3
#define HEADER_LEN 9
#define MAX_FRAME (16u * 1024u * 1024u)
#define READ_CHUNK 65536
#define MAX_EXECS 256
#define MAX_BRIDGES 8
#define MAX_CONNS 512
#define MAX_ARGS 65536

/* host -> supervisor */
#define T_EXEC 0x01
#define T_STDIN 0x02
#define T_STDIN_EOF 0x03
#define T_SIGNAL 0x04
#define T_RESIZE 0x05
#define T_SHUTDOWN 0x06
#define T_PING 0x07
/* supervisor -> host */
#define T_READY 0x81
#define T_STARTED 0x82
#define T_STDOUT 0x83
#define T_STDERR 0x84
#define T_EXIT 0x85
#define T_ERROR 0x86
#define T_PONG 0x87

#define EXEC_FLAG_TTY 0x01

/* Tags of the entries in an EXEC payload. */
#define TAG_ARG 'A'
#define TAG_ENV 'E'
#define TAG_CWD 'C'
#define TAG_RLIMIT 'R'

struct buf {
  unsigned char *data;
  size_t len, cap, off;
};

struct exec_state {
  int used;
  uint32_t id;
  pid_t pid;
  int tty;
  int in_fd;   /* our end of the child's stdin (pipe) or the pty master (dup) */
  int out_fd;  /* stdout pipe or the pty master */
  int err_fd;  /* stderr pipe, -1 with a tty */
  int reaped;
  int status;
  int stdin_eof_pending;
  struct buf in_q;
};

struct bridge {
  int listen_fd;
  char path[108];
};

struct conn {
  int used;
  int a, b;              /* a: TCP client inside; b: unix socket to the host */
  struct buf a2b, b2a;
  int a_eof, b_eof;
};

static struct exec_state execs[MAX_EXECS];
static struct bridge bridges[MAX_BRIDGES];
static int n_bridges;
static struct conn conns[MAX_CONNS];
static struct buf ctl_in;
static int sig_fd = -1;

static void die(const char *what) {
  dprintf(2, "airlock-supervisor: %s: %s\n", what, strerror(errno));
  _exit(70);
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = (v >> 24) & 0xff;
}
static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint64_t get_u64(const unsigned char *p) {
  return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

static void send_frame(uint8_t type, uint32_t id, const void *payload, size_t len) {
  unsigned char hdr[HEADER_LEN];
  put_u32(hdr, (uint32_t)len);
  hdr[4] = type;
  put_u32(hdr + 5, id);
  struct iovec iov[2] = {{hdr, HEADER_LEN}, {(void *)payload, len}};
  size_t total = HEADER_LEN + len, done = 0;
  while (done < total) {
    ssize_t n = writev(CONTROL_FD, iov, 2);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pfd = {.fd = CONTROL_FD, .events = POLLOUT};
        poll(&pfd, 1, -1);
        continue;
      }
      _exit(0);
    }
    done += (size_t)n;
    size_t skip = (size_t)n;
    for (int i = 0; i < 2; i++) {
      size_t take = skip < iov[i].iov_len ? skip : iov[i].iov_len;
      iov[i].iov_base = (unsigned char *)iov[i].iov_base + take;
      iov[i].iov_len -= take;
      skip -= take;
    }
  }
}

static void send_error(uint32_t id, int err, const char *msg) {
  unsigned char payload[4 + 512];
  size_t mlen = strlen(msg);
  if (mlen > 500) mlen = 500;
  put_u32(payload, (uint32_t)err);
  memcpy(payload + 4, msg, mlen);
  send_frame(T_ERROR, id, payload, 4 + mlen);
}

static void buf_push(struct buf *b, const void *data, size_t len) {
  if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
  if (b->len + len > b->cap) {
    if (b->off > 0) {
      memmove(b->data, b->data + b->off, b->len - b->off);
      b->len -= b->off;
      b->off = 0;
    }
    if (b->len + len > b->cap) {
      size_t cap = b->cap ? b->cap : 4096;
      while (cap < b->len + len) cap *= 2;
      unsigned char *d = realloc(b->data, cap);
      if (!d) die("out of memory");
      b->data = d;
      b->cap = cap;
    }
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}
static size_t buf_pending(const struct buf *b) { return b->len - b->off; }
static void buf_free(struct buf *b) {
  free(b->data);
  memset(b, 0, sizeof *b);
}

static void set_nonblock_cloexec(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static struct exec_state *find_exec(uint32_t id) {
  for (int i = 0; i < MAX_EXECS; i++)
    if (execs[i].used && execs[i].id == id) return &execs[i];
  return NULL;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* Sends EXIT and forgets the exec once the child is reaped and its output is drained. */
static void maybe_finish(struct exec_state *e) {
  if (!e->reaped || e->out_fd >= 0 || e->err_fd >= 0) return;
  unsigned char payload[8];
  int code = -1, sig = 0;
  if (WIFEXITED(e->status)) code = WEXITSTATUS(e->status);
  else if (WIFSIGNALED(e->status)) sig = WTERMSIG(e->status);
  put_u32(payload, (uint32_t)code);
  put_u32(payload + 4, (uint32_t)sig);
  close_fd(&e->in_fd);
  buf_free(&e->in_q);
  send_frame(T_EXIT, e->id, payload, 8);
  memset(e, 0, sizeof *e);
  e->in_fd = e->out_fd = e->err_fd = -1;
}

/* Reads what one output fd has; returns 0 at EOF (or EIO on a pty), 1 otherwise. */
static int pump_output(struct exec_state *e, int *fd, uint8_t type, int drain) {
  static unsigned char chunk[READ_CHUNK];
  /* A drain is bounded: a background process that keeps writing must not hold us here. */
  for (int rounds = 0;; rounds++) {
    ssize_t n = rounds < 64 ? read(*fd, chunk, sizeof chunk) : (errno = EAGAIN, -1);
    if (n > 0) {
      send_frame(type, e->id, chunk, (size_t)n);
      if (!drain) return 1;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (drain) {
        /* Only background processes still hold the pipe: the command itself has exited. */
        close_fd(fd);
        return 0;
      }
      return 1;
    }
    close_fd(fd);
    return 0;
  }
}

static void flush_stdin(struct exec_state *e) {
  while (e->in_fd >= 0 && buf_pending(&e->in_q) > 0) {
    ssize_t n = write(e->in_fd, e->in_q.data + e->in_q.off, buf_pending(&e->in_q));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      /* The reader went away (EPIPE): drop what is queued, like a closed pipe would. */
      e->in_q.off = e->in_q.len;
      if (!e->tty) close_fd(&e->in_fd);
      return;
    }
    e->in_q.off += (size_t)n;
  }
  if (e->stdin_eof_pending && buf_pending(&e->in_q) == 0 && e->in_fd >= 0) {
    if (e->tty) {
      /* A pty has no half-close: send the EOF character the line discipline knows. */
      struct termios t;
      unsigned char eof = 4;
      if (tcgetattr(e->in_fd, &t) == 0) eof = t.c_cc[VEOF];
      if (write(e->in_fd, &eof, 1) < 0) { /* nothing to do */ }
    } else {
      close_fd(&e->in_fd);
    }
    e->stdin_eof_pending = 0;
  }
}

struct exec_req {
  int tty;
  unsigned short cols, rows;
  char **argv;
  int argc;
  char **envp;
  int envc;
  char *cwd;
  struct { int res; uint64_t soft, hard; } rl[16];
  int nrl;
};

static void free_req(struct exec_req *r) {
  for (int i = 0; i < r->argc; i++) free(r->argv[i]);
  for (int i = 0; i < r->envc; i++) free(r->envp[i]);
  free(r->argv);
  free(r->envp);
  free(r->cwd);
}

static int parse_exec(const unsigned char *p, size_t len, struct exec_req *r) {
  memset(r, 0, sizeof *r);
  if (len < 9) return -1;
  r->tty = p[0] & EXEC_FLAG_TTY;
  r->cols = get_u16(p + 1);
  r->rows = get_u16(p + 3);
  uint32_t count = get_u32(p + 5);
  if (count > 2 * MAX_ARGS) return -1;
  size_t off = 9;
  r->argv = calloc(count + 1, sizeof(char *));
  r->envp = calloc(count + 1, sizeof(char *));
  if (!r->argv || !r->envp) return -1;
  for (uint32_t i = 0; i < count; i++) {
    if (off + 5 > len) return -1;
    unsigned char tag = p[off];
    uint32_t elen = get_u32(p + off + 1);
    off += 5;
    if (elen > len - off) return -1;
    const unsigned char *v = p + off;
    off += elen;
    if (tag == TAG_RLIMIT) {
      if (elen != 20 || r->nrl >= 16) return -1;
      r->rl[r->nrl].res = (int)get_u32(v);
      r->rl[r->nrl].soft = get_u64(v + 4);
      r->rl[r->nrl].hard = get_u64(v + 12);
      r->nrl++;
      continue;
    }
    if (memchr(v, 0, elen) != NULL) return -1; /* NUL would truncate what the host asked for */
    char *s = strndup((const char *)v, elen);
    if (!s) return -1;
    if (tag == TAG_ARG) r->argv[r->argc++] = s;
    else if (tag == TAG_ENV) r->envp[r->envc++] = s;
    else if (tag == TAG_CWD) { free(r->cwd); r->cwd = s; }
    else { free(s); return -1; }
  }
  if (off != len || r->argc == 0) return -1;
  return 0;
}

extern char **environ;

static void child_exec(struct exec_req *r, int in_r, int out_w, int err_w, const char *slave, int errpipe) {
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  setsid();
  if (slave) {
    /* O_NOCTTY, then TIOCSCTTY: Linux would also take the terminal on a plain open, but gVisor
     * does too and then refuses the ioctl (EINVAL) as "already has one"; this order works on both. */
    int sfd = open(slave, O_RDWR | O_NOCTTY);
    if (sfd < 0) goto fail;
    if (ioctl(sfd, TIOCSCTTY, 0) < 0) goto fail;
    if (r->cols && r->rows) {
      struct winsize ws = {.ws_row = r->rows, .ws_col = r->cols};
      ioctl(sfd, TIOCSWINSZ, &ws);
    }
    dup2(sfd, 0); dup2(sfd, 1); dup2(sfd, 2);
    if (sfd > 2) close(sfd);
  } else {
    dup2(in_r, 0); dup2(out_w, 1); dup2(err_w, 2);
    if (in_r > 2) close(in_r);
    if (out_w > 2) close(out_w);
    if (err_w > 2) close(err_w);
  }
  if (r->cwd && chdir(r->cwd) < 0) goto fail;
  for (int i = 0; i < r->nrl; i++) {
    struct rlimit rl = {.rlim_cur = r->rl[i].soft, .rlim_max = r->rl[i].hard};
    if (setrlimit(r->rl[i].res, &rl) < 0) goto fail;
  }
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    /* Make any command a likelier OOM victim than pid 1, whose death ends the sandbox. */
    if (write(oom, "500", 3) < 0) { /* best effort: the kernel picks by size anyway */ }
    close(oom);
  }
  environ = r->envp;
  execvp(r->argv[0], r->argv);
fail:;
  int err = errno;
  if (write(errpipe, &err, sizeof err) < 0) { /* parent sees EOF and reports exit 127 */ }
  _exit(127);
}

static void start_exec(uint32_t id, const unsigned char *p, size_t len) {
  if (find_exec(id)) { send_error(id, EEXIST, "exec id already in use"); return; }
  struct exec_state *e = NULL;
  for (int i = 0; i < MAX_EXECS; i++) if (!execs[i].used) { e = &execs[i]; break; }
  if (!e) { send_error(id, EAGAIN, "too many concurrent execs in this session"); return; }
  struct exec_req r;
  if (parse_exec(p, len, &r) < 0) {
    free_req(&r);
    send_error(id, EINVAL, "malformed exec request");
    return;
  }
  int in_p[2] = {-1, -1}, out_p[2] = {-1, -1}, err_p[2] = {-1, -1}, errpipe[2];
  int master = -1;
  char *slave = NULL;
  if (pipe2(errpipe, O_CLOEXEC) < 0) { send_error(id, errno, "pipe"); free_req(&r); return; }
  if (r.tty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(slave = ptsname(master))) {
      send_error(id, errno, "could not allocate a pty");
      if (master >= 0) close(master);
      close(errpipe[0]); close(errpipe[1]);
      free_req(&r);
      return;
    }
    slave = strdup(slave);
  } else if (pipe2(in_p, O_CLOEXEC) < 0 || pipe2(out_p, O_CLOEXEC) < 0 || pipe2(err_p, O_CLOEXEC) < 0) {
    send_error(id, errno, "pipe");
    free_req(&r);
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    int err = errno;
    send_error(id, err, err == EAGAIN ? "fork failed: the session's process limit is reached" : "fork failed");
    close(errpipe[0]); close(errpipe[1]);
    if (master >= 0) close(master);
    for (int i = 0; i < 2; i++) { if (in_p[i] >= 0) close(in_p[i]); if (out_p[i] >= 0) close(out_p[i]); if (err_p[i] >= 0) close(err_p[i]); }
    free(slave);
    free_req(&r);
    return;
  }
  if (pid == 0) {
    close(errpipe[0]);
    /* pipe2 gave CLOEXEC to every end; dup2 in child_exec clears it on 0-2 only. */
    child_exec(&r, in_p[0], out_p[1], err_p[1], slave, errpipe[1]);
  }
  close(errpipe[1]);
  int child_err = 0;
  ssize_t n;
  do n = read(errpipe[0], &child_err, sizeof child_err); while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  free_req(&r);
  e->used = 1;
  e->id = id;
  e->pid = pid;
  e->tty = master >= 0;
  if (master >= 0) {
    free(slave);
    set_nonblock_cloexec(master);
    e->out_fd = master;
    e->in_fd = dup(master);
    set_nonblock_cloexec(e->in_fd);
    e->err_fd = -1;
  } else {
    close(in_p[0]); close(out_p[1]); close(err_p[1]);
    e->in_fd = in_p[1];
    e->out_fd = out_p[0];
    e->err_fd = err_p[0];
    set_nonblock_cloexec(e->in_fd);
    set_nonblock_cloexec(e->out_fd);
    set_nonblock_cloexec(e->err_fd);
  }
  if (n == (ssize_t)sizeof child_err) {
    /* exec failed: say why; the EXIT (127) follows when the child is reaped. */
    char msg[300];
    snprintf(msg, sizeof msg, "could not execute: %s", strerror(child_err));
    send_error(id, child_err, msg);
  } else {
    unsigned char payload[4];
    put_u32(payload, (uint32_t)pid);
    send_frame(T_STARTED, id, payload, 4);
  }
}

static void handle_frame(uint8_t type, uint32_t id, const unsigned char *p, size_t len) {
  struct exec_state *e;
  switch (type) {
    case T_EXEC:
      start_exec(id, p, len);
      break;
    case T_STDIN:
      if ((e = find_exec(id)) && e->in_fd >= 0) {
        buf_push(&e->in_q, p, len);
        flush_stdin(e);
      }
      break;
    case T_STDIN_EOF:
      if ((e = find_exec(id))) {
        e->stdin_eof_pending = 1;
        flush_stdin(e);
      }
      break;
    case T_SIGNAL:
      if (len == 4 && (e = find_exec(id)) && !e->reaped) {
        int sig = (int)get_u32(p);
        /* The whole process group: a shell and what it started. */
        if (kill(-e->pid, sig) < 0) kill(e->pid, sig);
      }
      break;
    case T_RESIZE:
      if (len == 4 && (e = find_exec(id)) && e->tty) {
        struct winsize ws = {.ws_col = get_u16(p), .ws_row = get_u16(p + 2)};
        ioctl(e->out_fd, TIOCSWINSZ, &ws);
      }
      break;
    case T_SHUTDOWN:
      kill(-1, SIGKILL);
      _exit(0);
    case T_PING:
      send_frame(T_PONG, id, p, len);
      break;
    default:
      send_error(id, EPROTO, "unknown frame type");
      break;
  }
}

static void read_control(void) {
  unsigned char tmp[READ_CHUNK];
  ssize_t n;
  do n = read(CONTROL_FD, tmp, sizeof tmp); while (n < 0 && errno == EINTR);
  if (n == 0 || (n < 0 && errno != EAGAIN)) {
    /* The host closed the session (or died): end everything. */
    kill(-1, SIGKILL);
    _exit(0);
  }
  if (n < 0) return;
  buf_push(&ctl_in, tmp, (size_t)n);
  while (buf_pending(&ctl_in) >= HEADER_LEN) {
    const unsigned char *h = ctl_in.data + ctl_in.off;
    uint32_t flen = get_u32(h);
    if (flen > MAX_FRAME) {
      dprintf(2, "airlock-supervisor: frame of %u bytes exceeds the limit\n", flen);
      kill(-1, SIGKILL);
      _exit(71);
    }
    if (buf_pending(&ctl_in) < HEADER_LEN + flen) break;
    uint8_t type = h[4];
    uint32_t id = get_u32(h + 5);
    ctl_in.off += HEADER_LEN + flen;
    handle_frame(type, id, h + HEADER_LEN, flen);
  }
}

static void reap(void) {
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) > 0) { /* drain */ }
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    for (int i = 0; i < MAX_EXECS; i++) {
      struct exec_state *e = &execs[i];
      if (e->used && e->pid == pid) {
        e->reaped = 1;
        e->status = status;
        if (e->out_fd >= 0) pump_output(e, &e->out_fd, T_STDOUT, 1);
        if (e->err_fd >= 0) pump_output(e, &e->err_fd, T_STDERR, 1);
        maybe_finish(e);
      }
    }
  }
}

/* ---- loopback bridges: 127.0.0.1:PORT -> unix socket bound in by the host ---- */

static void add_bridge(const char *spec) {
  const char *eq = strchr(spec, '=');
  if (!eq || n_bridges >= MAX_BRIDGES) { dprintf(2, "airlock-supervisor: bad --bridge %s\n", spec); _exit(64); }
  int port = atoi(spec);
  size_t plen = strlen(eq + 1);
  if (port <= 0 || port > 65535 || plen == 0 || plen >= sizeof bridges[0].path) {
    dprintf(2, "airlock-supervisor: bad --bridge %s\n", spec);
    _exit(64);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind bridge");
  if (listen(fd, 128) < 0) die("listen bridge");
  bridges[n_bridges].listen_fd = fd;
  memcpy(bridges[n_bridges].path, eq + 1, plen + 1);
  n_bridges++;
}

static void close_conn(struct conn *c) {
  close_fd(&c->a);
  close_fd(&c->b);
  buf_free(&c->a2b);
  buf_free(&c->b2a);
  c->used = 0;
}

static void accept_bridge(struct bridge *br) {
  for (;;) {
    int a = accept4(br->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (a < 0) return;
    struct conn *c = NULL;
    for (int i = 0; i < MAX_CONNS; i++) if (!conns[i].used) { c = &conns[i]; break; }
    int b = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    memcpy(su.sun_path, br->path, strlen(br->path) + 1);
    if (!c || b < 0 || connect(b, (struct sockaddr *)&su, sizeof su) < 0) {
      close(a);
      if (b >= 0) close(b);
      continue;
    }
    set_nonblock_cloexec(b);
    /* Small request/response exchanges stall ~40 ms behind Nagle + delayed ACK otherwise. */
    int one = 1;
    setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(c, 0, sizeof *c);
    c->used = 1;
    c->a = a;
    c->b = b;
  }
}

/* Reads what `from` has into `q`, unless `q` is already full enough. */
static void relay_read(int *from, struct buf *q, int *eof) {
  unsigned char tmp[READ_CHUNK];
  if (buf_pending(q) >= 4 * READ_CHUNK) return; /* backpressure */
  ssize_t n = read(*from, tmp, sizeof tmp);
  if (n > 0) buf_push(q, tmp, (size_t)n);
  else if (n == 0 || (errno != EAGAIN && errno != EINTR)) *eof = 1;
}

static int relay_write(int to, struct buf *q, int src_eof) {
  while (buf_pending(q) > 0) {
    ssize_t n = write(to, q->data + q->off, buf_pending(q));
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return 0;
      return -1;
    }
    q->off += (size_t)n;
  }
  if (src_eof) shutdown(to, SHUT_WR);
  return 0;
}

static void pump_conn(struct conn *c, short ra, short rb) {
  if (ra & (POLLIN | POLLHUP | POLLERR)) relay_read(&c->a, &c->a2b, &c->a_eof);
  if (rb & (POLLIN | POLLHUP | POLLERR)) relay_read(&c->b, &c->b2a, &c->b_eof);
  if (relay_write(c->b, &c->a2b, c->a_eof) < 0 || relay_write(c->a, &c->b2a, c->b_eof) < 0) {
    close_conn(c);
    return;
  }
  if (c->a_eof && c->b_eof && buf_pending(&c->a2b) == 0 && buf_pending(&c->b2a) == 0) close_conn(c);
}

/* Closes every fd above 3. close_range first; kernels (and gVisor's Sentry) without it get a walk
 * of /proc/self/fd, because a blind loop to 65536 costs seconds where each syscall is trapped. */
static void close_extra_fds(void) {
  if (syscall(SYS_close_range, 4, ~0U, 0) == 0) return;
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    int fds[256], n = 0, self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
      int fd = atoi(de->d_name);
      if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && fd > CONTROL_FD && fd != self) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++) close(fds[i]);
    if (n < 256) return;
  }
  struct rlimit rl;
  int max = 65536;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max) max = (int)rl.rlim_cur;
  for (int fd = CONTROL_FD + 1; fd < max; fd++) close(fd);
}

/* Installs the host-built seccomp filter (a struct sock_filter array in a file). bwrap loads the
 * same program before exec'ing us; runtimes that cannot (runsc on gVisor) have us load it. */
static void load_seccomp(const char *path) {
  static struct sock_filter prog[4096];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open seccomp filter");
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, (char *)prog + len, sizeof prog - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read seccomp filter");
    if (n == 0) break;
    len += (size_t)n;
    if (len == sizeof prog) { errno = EFBIG; die("seccomp filter"); }
  }
  close(fd);
  if (len == 0 || len % sizeof prog[0] != 0) { errno = EINVAL; die("seccomp filter"); }
  struct sock_fprog fprog = {.len = (unsigned short)(len / sizeof prog[0]), .filter = prog};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die("no_new_privs");
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) die("install seccomp filter");
}

int main(int argc, char **argv) {
  /* Whatever else bwrap or the host left open (seccomp, info and block fds) is not ours to keep. */
  close_extra_fds();
  int control_from = CONTROL_FD;
  const char *seccomp_file = NULL;
  /* Two passes: the control socket must sit on fd 3 before a bridge's listening socket could
   * take that number (it is free when the control socket arrives as a stdio fd). */
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--bridge") == 0 && i + 1 < argc) i++;
    else if (strcmp(argv[i], "--control-fd") == 0 && i + 1 < argc) control_from = atoi(argv[++i]);
    else if (strcmp(argv[i], "--seccomp") == 0 && i + 1 < argc) seccomp_file = argv[++i];
    else if (strcmp(argv[i], "--version") == 0) { printf("airlock-supervisor protocol %d\n", PROTOCOL_VERSION); return 0; }
    else { dprintf(2, "airlock-supervisor: unknown argument %s\n", argv[i]); return 64; }
  }
  if (control_from != CONTROL_FD) {
    /* A runtime that passes only stdio (runsc) hands the socket in as one of fds 0-2: move it to
     * fd 3 and put /dev/null where it was, so no command can inherit it. */
    if (control_from < 0 || control_from > 2) {
      dprintf(2, "airlock-supervisor: --control-fd must be 0, 1 or 2\n");
      return 64;
    }
    if (dup2(control_from, CONTROL_FD) < 0) die("dup2 control socket");
    int nul = open("/dev/null", O_RDWR);
    if (nul < 0) die("open /dev/null");
    if (nul != control_from) {
      if (dup2(nul, control_from) < 0) die("dup2 /dev/null");
      close(nul);
    }
  }
  if (fcntl(CONTROL_FD, F_GETFD) < 0) {
    dprintf(2, "airlock-supervisor: no control socket on fd 3; it is started by airlock only\n");
    return 64;
  }
  fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC);
  /* fds 0-2 must be taken, or a pipe could land there and lose its close-on-exec. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) die("open /dev/null");
  for (int i = 1; i < argc; i++) if (strcmp(argv[i], "--bridge") == 0 && i + 1 < argc) add_bridge(argv[++i]);
  /* Not dumpable: no process in the sandbox can ptrace us or pidfd_getfd our control socket. */
  prctl(PR_SET_DUMPABLE, 0);
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) die("signalfd");
  for (int i = 0; i < MAX_EXECS; i++) execs[i].in_fd = execs[i].out_fd = execs[i].err_fd = -1;
  for (int i = 0; i < MAX_CONNS; i++) conns[i].a = conns[i].b = -1;
  /* Last, once our own set-up (sockets, signalfd) is done: from here on we and every command run
   * under the filter. */
  if (seccomp_file) load_seccomp(seccomp_file);

  unsigned char ready[8];
  put_u32(ready, PROTOCOL_VERSION);
  put_u32(ready + 4, (uint32_t)getpid());
  send_frame(T_READY, 0, ready, 8);

  static struct pollfd pfds[2 + MAX_BRIDGES + 3 * MAX_EXECS + 2 * MAX_CONNS];
  static void *owner[sizeof pfds / sizeof pfds[0]];
  static int kind[sizeof pfds / sizeof pfds[0]];
  for (;;) {
    int n = 0;
    pfds[n] = (struct pollfd){.fd = CONTROL_FD, .events = POLLIN}; kind[n++] = 0;
    pfds[n] = (struct pollfd){.fd = sig_fd, .events = POLLIN}; kind[n++] = 1;
    for (int i = 0; i < n_bridges; i++) {
      pfds[n] = (struct pollfd){.fd = bridges[i].listen_fd, .events = POLLIN};
      owner[n] = &bridges[i]; kind[n++] = 2;
    }
    for (int i = 0; i < MAX_EXECS; i++) {
      struct exec_state *e = &execs[i];
      if (!e->used) continue;
      if (e->out_fd >= 0) { pfds[n] = (struct pollfd){.fd = e->out_fd, .events = POLLIN}; owner[n] = e; kind[n++] = 3; }
      if (e->err_fd >= 0) { pfds[n] = (struct pollfd){.fd = e->err_fd, .events = POLLIN}; owner[n] = e; kind[n++] = 4; }
      if (e->in_fd >= 0 && buf_pending(&e->in_q) > 0) {
        pfds[n] = (struct pollfd){.fd = e->in_fd, .events = POLLOUT}; owner[n] = e; kind[n++] = 5;
      }
    }
    for (int i = 0; i < MAX_CONNS; i++) {
      struct conn *c = &conns[i];
      if (!c->used) continue;
      short ea = (short)((c->a_eof ? 0 : POLLIN) | (buf_pending(&c->b2a) ? POLLOUT : 0));
      short eb = (short)((c->b_eof ? 0 : POLLIN) | (buf_pending(&c->a2b) ? POLLOUT : 0));
      pfds[n] = (struct pollfd){.fd = c->a, .events = ea}; owner[n] = c; kind[n++] = 6;
      pfds[n] = (struct pollfd){.fd = c->b, .events = eb}; owner[n] = c; kind[n++] = 7;
    }
    int rc = poll(pfds, (nfds_t)n, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    for (int i = 0; i < n; i++) {
      short re = pfds[i].revents;
      if (!re && kind[i] != 6) continue;
      switch (kind[i]) {
        case 0: read_control(); break;
        case 1: reap(); break;
        case 2: accept_bridge(owner[i]); break;
        case 3: case 4: {
          struct exec_state *e = owner[i];
          int *fd = kind[i] == 3 ? &e->out_fd : &e->err_fd;
          /* The fd may have been closed by a reap earlier in this same round. */
          if (!e->used || *fd != pfds[i].fd) break;
          pump_output(e, fd, kind[i] == 3 ? T_STDOUT : T_STDERR, 0);
          maybe_finish(e);
          break;
        }
        case 5: {
          struct exec_state *e = owner[i];
          if (e->used && e->in_fd == pfds[i].fd) flush_stdin(e);
          break;
        }
        case 6: case 7: {
          struct conn *c = owner[i];
          if (!c->used) break;
          /* Both ends of a pair are handled together, on the first of its two entries. */
          if (kind[i] == 6) {
            short rb = pfds[i + 1].revents;
            if (re || rb) pump_conn(c, re, rb);
          }
          break;
        }
      }
    }
  }
}
