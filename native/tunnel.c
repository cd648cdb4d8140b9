/*
 * airlock-tunnel: moves the bytes of one opaque CONNECT tunnel on the host, with splice(2).
 *
 * Why: the egress proxy decides a tunnel in Node (policy, SSRF guard, SNI check), and then
 * has nothing left to do but copy bytes. Copying them through Node streams costs about
 * 2 s of CPU per GiB (a read into a fresh Buffer, a write, an event-loop turn, per 64 KiB);
 * splice(2) through a pipe moves the same bytes in the kernel at a fraction of that, which
 * is what brings a large HTTPS download through the proxy close to a direct connection.
 *
 * It decides nothing and holds no secret: it is handed two connected sockets that the proxy
 * already judged (fd 3: the client side, fd 4: the upstream) and copies between them until
 * both directions are done. When one direction ends, the other is half-closed after the
 * pipe is flushed and gets LINGER_MS to finish by itself; then both are closed. On exit it
 * prints "BYTES_UP BYTES_DOWN\n" on stdout (client-to-upstream, upstream-to-client), which
 * the proxy puts in the request's event and the session's byte counters.
 *
 * Usage: airlock-tunnel LINGER_MS   (fds 3 and 4 inherited, stdout a pipe to the proxy)
 * It dies with the proxy process (PR_SET_PDEATHSIG), so no tunnel outlives its session.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_FD 3
#define UPSTREAM_FD 4
#define PIPE_SIZE (1 << 20)
#define MAX_MOVE (1 << 20)

struct dir {
  int from, to;
  int pipe_r, pipe_w;
  size_t in_pipe;   /* bytes spliced into the pipe, not yet out of it */
  int eof;          /* `from` reached EOF or failed: nothing more will enter the pipe */
  int done;         /* the pipe is flushed and `to` was half-closed (or failed) */
  uint64_t moved;   /* bytes that reached `to` */
};

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void open_pipe(struct dir *d) {
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
    perror("airlock-tunnel: pipe2");
    _exit(70);
  }
  /* A larger pipe moves more per splice; the default size is fine where this is refused. */
  (void)fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);
  d->pipe_r = p[0];
  d->pipe_w = p[1];
}

/* Moves what can move without blocking. Returns -1 when the connection must be torn down. */
static int pump(struct dir *d) {
  for (;;) {
    int progressed = 0;
    if (!d->eof) {
      ssize_t n = splice(d->from, NULL, d->pipe_w, NULL, MAX_MOVE, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe += (size_t)n;
        progressed = 1;
      } else if (n == 0) {
        d->eof = 1;
      } else if (errno != EAGAIN && errno != EINTR) {
        /* ECONNRESET and the like: what is in the pipe can still be delivered. */
        d->eof = 1;
      }
    }
    if (d->in_pipe > 0) {
      ssize_t n = splice(d->pipe_r, NULL, d->to, NULL, d->in_pipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        d->in_pipe -= (size_t)n;
        d->moved += (uint64_t)n;
        progressed = 1;
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return -1; /* the receiver is gone: nothing more can be delivered either way */
      }
    }
    if (d->eof && d->in_pipe == 0 && !d->done) {
      shutdown(d->to, SHUT_WR);
      d->done = 1;
    }
    if (!progressed || d->done) return 0;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: airlock-tunnel LINGER_MS (fds 3 and 4: the two sockets)\n");
    return 64;
  }
  long long linger = atoll(argv[1]);
  if (linger <= 0) linger = 30000;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 70; /* the proxy is already gone */
  signal(SIGPIPE, SIG_IGN);
  if (fcntl(CLIENT_FD, F_GETFD) < 0 || fcntl(UPSTREAM_FD, F_GETFD) < 0) {
    fprintf(stderr, "airlock-tunnel: fds 3 and 4 must be the tunnel's sockets\n");
    return 64;
  }
  fcntl(CLIENT_FD, F_SETFL, fcntl(CLIENT_FD, F_GETFL) | O_NONBLOCK);
  fcntl(UPSTREAM_FD, F_SETFL, fcntl(UPSTREAM_FD, F_GETFL) | O_NONBLOCK);

  struct dir up = {.from = CLIENT_FD, .to = UPSTREAM_FD};
  struct dir down = {.from = UPSTREAM_FD, .to = CLIENT_FD};
  open_pipe(&up);
  open_pipe(&down);

  long long deadline = -1;
  int failed = 0;
  while (!(up.done && down.done)) {
    if (pump(&up) < 0 || pump(&down) < 0) {
      failed = 1;
      break;
    }
    if (up.done && down.done) break;
    if (deadline < 0 && (up.done || down.done)) deadline = now_ms() + linger;
    struct pollfd p[2] = {{.fd = CLIENT_FD}, {.fd = UPSTREAM_FD}};
    /* Wait to read where the pipe has room to take it, to write where the pipe holds bytes. */
    if (!up.eof && up.in_pipe == 0) p[0].events |= POLLIN;
    if (!down.eof && down.in_pipe == 0) p[1].events |= POLLIN;
    if (up.in_pipe > 0) p[1].events |= POLLOUT;
    if (down.in_pipe > 0) p[0].events |= POLLOUT;
    int timeout = -1;
    if (deadline >= 0) {
      long long left = deadline - now_ms();
      if (left <= 0) break;
      timeout = left > 60000 ? 60000 : (int)left;
    }
    /* A socket nobody waits on is left out: its POLLHUP would wake the loop for nothing. */
    for (int i = 0; i < 2; i++)
      if (p[i].events == 0) p[i].fd = -1;
    int r = poll(p, 2, timeout);
    if (r < 0 && errno != EINTR) {
      failed = 1;
      break;
    }
  }
  close(CLIENT_FD);
  close(UPSTREAM_FD);
  struct rusage ru;
  unsigned long long cpu_us = 0;
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    cpu_us = (unsigned long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ULL +
             (unsigned long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  printf("%llu %llu %llu\n", (unsigned long long)up.moved, (unsigned long long)down.moved, cpu_us);
  fflush(stdout);
  return failed ? 1 : 0;
}
