/* echo.c - a TCP echo server under load, weft vs libuv, in the shape
 * uvloop published: C concurrent connections, each sending a message of S
 * bytes, waiting for the whole echo, and sending the next; messages per
 * second, MiB/s and the latency of each round trip (p50, p99).
 *
 * The server runs in a child process pinned to CPU 0: weft (the handler of
 * examples/echo_server.c: read in a stoppable scope, write, drain) on its
 * epoll backend ("weft") and on io_uring ("uring", WEFT_BACKEND=io_uring;
 * left out where the kernel refuses io_uring), or libuv (uv_echo.c:
 * uv_try_write, then uv_write for what is left). The load
 * generator is this process, pinned to CPU 1: one thread, plain epoll
 * (level-triggered), one write and usually one read per message, every
 * echo checked byte for byte. Both sides' CPU time is read over the
 * measured window (clock_getcpuclockid): a load generator near 100% of its
 * core would be the bottleneck, and the table says so. So is the share of
 * CPUs 0 and 1 that other processes took (/proc/stat busy time minus
 * ours): on a shared machine msg/s moves with it, while the server's CPU
 * time per message (us/msg) mostly does not.
 *
 * On loopback the sender's CPU also runs the TCP receive path of what it
 * sends, so a load generator costs about what a lean server costs per
 * message, and on two cores it cannot be made much cheaper: when the
 * machine is quiet both may be near 100%, and then msg/s is capped by the
 * load generator (for the faster server first). The CPU time each side
 * spends per message (us/msg) does not depend on who is the bottleneck.
 *
 * Beside them runs the kernel's floor ("floor": bench/floor, floor.c,
 * exec'd in the child): an echo server with no runtime, one io_uring and
 * nothing else. Its CPU per message over libuv's is about the least any
 * server could show on this machine (issue 15's target: io_uring weft's
 * CPU per message at most 0.75 x libuv's). If it fails to start, its row
 * is left out.
 *
 * Configurations: 1 KiB x 100 connections, 10 KiB x 100, and 1 KiB x 10
 * (the figure known for libuv on this machine: about 90,000 msg/s). Each
 * run: connect, warm up 0.5 s, measure SECONDS; R rounds, each running
 * every (configuration, server) pair in an order rotated by the round;
 * medians, with the min .. max of msg/s.
 *
 * Usage: echo [--quick] [SECONDS [ROUNDS]]
 *        defaults 1 and 5, about 95 s (--quick: 0.3 s, one round)
 * Environment: ECHO_WEFT_READ=buffered makes weft's handler read through
 * the stream's buffer (wait_data, write, consume: the HTTP server's way)
 * instead of into its own 16 KiB array.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#include <weft.h>

#include "bench_util.h"
#include "echo.h"

#define USAGE "echo [--quick] [SECONDS [ROUNDS]]"
#define SERVER_CPU 0
#define CLIENT_CPU 1
#define STALL_S 5 /* no event for this long: the server is stuck */

/* ---- the weft server (a child process) -------------------------------------- */

/* ECHO_WEFT_READ=buffered: through the stream's buffer. */
static int echo_conn_buffered(weft_stream_t *s) {
    for (;;) {
        weft_scope_t idle;
        int err = weft_scope_enter(&idle, INFINITY, WEFT_SCOPE_STOPPABLE);
        if (err < 0)
            return err;
        const void *p;
        ssize_t n = weft_stream_wait_data(s, 1, &p);
        weft_scope_exit(&idle);
        if (n <= 0)
            return n == 0 || n == -ECONNRESET ? 0 : (int)n;
        err = weft_stream_write(s, p, (size_t)n);
        weft_stream_consume(s, (size_t)n);
        if (err == 0)
            err = weft_stream_drain(s);
        if (err < 0)
            return err == -ECONNRESET || err == -EPIPE ? 0 : err;
    }
}

/* The handler of examples/echo_server.c. */
static int echo_conn(weft_stream_t *s, void *arg) {
    if (arg)
        return echo_conn_buffered(s);
    char buf[16384];
    for (;;) {
        weft_scope_t idle;
        int err = weft_scope_enter(&idle, INFINITY, WEFT_SCOPE_STOPPABLE);
        if (err < 0)
            return err;
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        weft_scope_exit(&idle);
        if (n <= 0)
            return n == 0 || n == -ECONNRESET ? 0 : (int)n;
        err = weft_stream_write(s, buf, (size_t)n);
        if (err == 0)
            err = weft_stream_drain(s);
        if (err < 0)
            return err == -ECONNRESET || err == -EPIPE ? 0 : err;
    }
}

struct weft_srv {
    int port_fd, ctl_fd;
};

static char srv_flag[1]; /* a non-NULL handler argument: buffered reads */

static int weft_server_main(void *arg) {
    const struct weft_srv *a = arg;
    weft_loop_t *loop = weft_loop_current();
    weft_server_t *srv;
    weft_server_opts_t o = {.backlog = 1024};
    const char *how = getenv("ECHO_WEFT_READ");
    void *buffered = how && strcmp(how, "buffered") == 0 ? srv_flag : NULL;
    int err = weft_start_server(loop, &srv, "127.0.0.1", "0", echo_conn,
                                buffered, &o);
    if (err < 0) {
        fprintf(stderr, "echo: weft_start_server: %s\n", weft_strerror(err));
        return err;
    }
    int port = weft_server_port(srv);
    if (write(a->port_fd, &port, sizeof port) != (ssize_t)sizeof port)
        return -EIO;
    /* Serve until the parent closes the control pipe. */
    weft_stream_t *ctl;
    err = weft_stream_from_fd(loop, &ctl, a->ctl_fd, NULL);
    if (err == 0) {
        char b[16];
        while ((err = (int)weft_stream_read(ctl, b, sizeof b)) > 0) {
        }
        weft_stream_close(ctl);
    }
    weft_server_close(srv, 0);
    return err;
}

/* ---- running a server ---------------------------------------------------------- */

enum { S_WEFT, S_UV, S_URING, S_FLOOR, NSERVERS };
static const char *const server_names[NSERVERS] = {"weft", "libuv", "uring",
                                                   "floor"};
/* io_uring works here (a loop made with WEFT_BACKEND=io_uring runs on it):
 * else its column is left out. */
static bool have_uring;
/* The kernel's floor (bench/floor, floor.c, beside this program): an echo
 * server with no runtime, one io_uring and nothing else. Its CPU per
 * message over libuv's is about the least any server could show here. */
static char floor_path[PATH_MAX];
static bool have_floor, floor_failed;

static bool pinning; /* CPUs 0 and 1 are ours to pin to */

static int pin_to(int cpu) {
    if (!pinning)
        return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set);
}

struct server {
    pid_t pid;
    int port;
    int ctl; /* closing it stops the server */
};

static int start_server(int kind, struct server *out) {
    int portp[2], ctlp[2];
    if (pipe(portp) < 0 || pipe(ctlp) < 0) {
        perror("echo: pipe");
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("echo: fork");
        return -1;
    }
    if (pid == 0) {
        close(portp[0]);
        close(ctlp[1]);
        if (pin_to(SERVER_CPU) < 0)
            _exit(3);
        /* A name per server, for `perf report --comm srv-uring` etc. */
        char comm[16];
        snprintf(comm, sizeof comm, "srv-%s", server_names[kind]);
        prctl(PR_SET_NAME, comm);
        int rc;
        if (kind == S_WEFT || kind == S_URING) {
            /* The same program on either backend (weft/loop.h). */
            setenv("WEFT_BACKEND", kind == S_URING ? "io_uring" : "epoll", 1);
            struct weft_srv a = {portp[1], ctlp[0]};
            rc = weft_run(weft_server_main, &a) < 0;
        } else if (kind == S_FLOOR) {
            char pfd[16], cfd[16];
            snprintf(pfd, sizeof pfd, "%d", portp[1]);
            snprintf(cfd, sizeof cfd, "%d", ctlp[0]);
            execl(floor_path, "floor", "echo", "--pipe", pfd, cfd,
                  (char *)NULL);
            rc = 127;
        } else {
            rc = uv_echo_serve(portp[1], ctlp[0]) < 0;
        }
        _exit(rc);
    }
    close(portp[1]);
    close(ctlp[0]);
    int port = 0;
    ssize_t n;
    while ((n = read(portp[0], &port, sizeof port)) < 0 && errno == EINTR) {
    }
    close(portp[0]);
    out->pid = pid;
    out->ctl = ctlp[1];
    out->port = port;
    if (n != (ssize_t)sizeof port || port <= 0) {
        fprintf(stderr, "echo: the %s server did not start\n",
                server_names[kind]);
        close(out->ctl);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return 0;
}

/* Stop the server; 0 if it exited cleanly. */
static int stop_server(struct server *s) {
    close(s->ctl);
    int st;
    while (waitpid(s->pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "echo: server killed by signal %d\n", WTERMSIG(st));
    else
        fprintf(stderr, "echo: server exited with status %d\n",
                WEXITSTATUS(st));
    return -1;
}

/* ---- the load generator ----------------------------------------------------------- */

struct lconn {
    int fd;
    bool want_out; /* EPOLLOUT armed: the message is not all sent */
    uint32_t id;
    uint64_t seq;
    size_t sent, got; /* bytes of the current message */
    uint64_t t0;      /* when it started */
    char *sbuf, *rbuf;
};

struct load {
    size_t size;
    int ep;
    bool measuring;
    uint64_t done;    /* messages completed in the window */
    uint32_t *lat_ns; /* their round trips */
    size_t nlat, cap;
};

struct echo_result {
    double msgs_s, mib_s, p50_us, p99_us;
    double client_cpu, server_cpu; /* fraction of one core */
    double server_us_msg;          /* server CPU time per message */
    double client_us_msg;          /* load generator's, likewise */
    double busy[2];                /* CPUs 0 and 1 busy, by anybody */
};

/* Busy and total jiffies of CPUs 0 and 1 (/proc/stat): what the whole
 * machine did, to tell our load from other processes'. */
struct cpu_stat {
    unsigned long long busy[2], total[2];
};

static void read_cpu_stat(struct cpu_stat *st) {
    memset(st, 0, sizeof *st);
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int cpu;
        unsigned long long v[8] = {0};
        if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu",
                   &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) == 9 &&
            (cpu == SERVER_CPU || cpu == CLIENT_CPU)) {
            int k = cpu == SERVER_CPU ? 0 : 1;
            for (int i = 0; i < 8; i++)
                st->total[k] += v[i];
            st->busy[k] = st->total[k] - v[3] - v[4]; /* - idle, iowait */
        }
    }
    fclose(f);
}

static uint64_t cpu_ns(clockid_t clk) {
    struct timespec ts;
    if (clock_gettime(clk, &ts) < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int arm(struct load *L, struct lconn *c, bool out) {
    if (c->want_out == out)
        return 0;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0),
                             .data.ptr = c};
    c->want_out = out;
    return epoll_ctl(L->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Send what is left of the current message. */
static int send_more(struct load *L, struct lconn *c) {
    while (c->sent < L->size) {
        ssize_t w = write(c->fd, c->sbuf + c->sent, L->size - c->sent);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0) {
            perror("echo: client write");
            return -1;
        }
        c->sent += (size_t)w;
    }
    return arm(L, c, c->sent < L->size);
}

/* Start the next message: a header that makes each one unique (which
 * connection, which message), then the same bytes as ever. */
static int next_message(struct load *L, struct lconn *c, uint64_t now) {
    c->seq++;
    memcpy(c->sbuf, &c->id, sizeof c->id);
    memcpy(c->sbuf + sizeof c->id, &c->seq, sizeof c->seq);
    c->sent = c->got = 0;
    c->t0 = now;
    return send_more(L, c);
}

static int on_readable(struct load *L, struct lconn *c) {
    ssize_t r = read(c->fd, c->rbuf + c->got, L->size - c->got);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (r <= 0) {
        fprintf(stderr, "echo: client read: %s\n",
                r == 0 ? "the server closed the connection" : strerror(errno));
        return -1;
    }
    c->got += (size_t)r;
    if (c->got < L->size)
        return 0;
    uint64_t now = bench_now_ns();
    if (memcmp(c->rbuf, c->sbuf, L->size) != 0) {
        fprintf(stderr, "echo: connection %u: the echo differs from the "
                        "message\n",
                c->id);
        return -1;
    }
    if (L->measuring) {
        L->done++;
        if (L->nlat == L->cap) {
            size_t cap = L->cap ? 2 * L->cap : 1 << 18;
            uint32_t *p = realloc(L->lat_ns, cap * sizeof *p);
            if (!p)
                return -1;
            L->lat_ns = p;
            L->cap = cap;
        }
        uint64_t d = now - c->t0;
        L->lat_ns[L->nlat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
    }
    return next_message(L, c, now);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static double percentile_us(uint32_t *v, size_t n, double p) {
    if (n == 0)
        return 0;
    size_t i = (size_t)ceil(p * (double)n);
    i = i == 0 ? 0 : i - 1;
    return v[i < n ? i : n - 1] / 1e3;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    return fd;
}

/* One run: nconns connections to the server, warm up, measure. */
static int run_load(const struct server *srv, int nconns, size_t size,
                    uint64_t warm_ns, uint64_t dur_ns,
                    struct echo_result *res) {
    struct load L = {.size = size, .ep = epoll_create1(EPOLL_CLOEXEC)};
    struct lconn *cs = calloc((size_t)nconns, sizeof *cs);
    char *bufs = malloc(2 * size * (size_t)nconns);
    clockid_t srv_clk;
    int rc = -1, opened = 0;
    if (L.ep < 0 || !cs || !bufs || clock_getcpuclockid(srv->pid, &srv_clk)) {
        fprintf(stderr, "echo: cannot set up the client\n");
        goto out;
    }
    for (; opened < nconns; opened++) {
        struct lconn *c = &cs[opened];
        c->id = (uint32_t)opened;
        c->sbuf = bufs + 2 * size * (size_t)opened;
        c->rbuf = c->sbuf + size;
        for (size_t i = 0; i < size; i++)
            c->sbuf[i] = (char)('a' + (i + (size_t)opened) % 26);
        c->fd = connect_to(srv->port);
        if (c->fd < 0) {
            perror("echo: connect");
            goto out;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(L.ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            perror("echo: epoll_ctl");
            close(c->fd);
            goto out;
        }
    }
    uint64_t t = bench_now_ns();
    for (int i = 0; i < nconns; i++)
        if (next_message(&L, &cs[i], t) < 0)
            goto out;
    uint64_t warm_end = t + warm_ns, end = warm_end + dur_ns;
    uint64_t win_start = 0, cli_cpu0 = 0, srv_cpu0 = 0, last_event = t;
    struct cpu_stat st0, st1;
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(L.ep, evs, 256, 100);
        if (n < 0 && errno != EINTR) {
            perror("echo: epoll_wait");
            goto out;
        }
        for (int i = 0; i < n; i++) {
            struct lconn *c = evs[i].data.ptr;
            if ((evs[i].events & EPOLLOUT) && send_more(&L, c) < 0)
                goto out;
            if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
                on_readable(&L, c) < 0)
                goto out;
        }
        uint64_t now = bench_now_ns();
        if (n > 0)
            last_event = now;
        else if (now - last_event > (uint64_t)STALL_S * 1000000000u) {
            fprintf(stderr, "echo: no echo for %d s\n", STALL_S);
            goto out;
        }
        if (!L.measuring && now >= warm_end) {
            L.measuring = true;
            win_start = now;
            cli_cpu0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
            srv_cpu0 = cpu_ns(srv_clk);
            read_cpu_stat(&st0);
        } else if (L.measuring && now >= end) {
            double wall = (double)(now - win_start);
            double cli = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - cli_cpu0);
            double srvc = (double)(cpu_ns(srv_clk) - srv_cpu0);
            res->msgs_s = (double)L.done / (wall / 1e9);
            res->mib_s = res->msgs_s * (double)size / (1024.0 * 1024.0);
            res->client_cpu = cli / wall;
            res->server_cpu = srvc / wall;
            res->server_us_msg = L.done ? srvc / 1e3 / (double)L.done : 0;
            res->client_us_msg = L.done ? cli / 1e3 / (double)L.done : 0;
            read_cpu_stat(&st1);
            for (int k = 0; k < 2; k++) {
                unsigned long long tot = st1.total[k] - st0.total[k];
                res->busy[k] = tot ? (double)(st1.busy[k] - st0.busy[k]) /
                                         (double)tot
                                   : 0;
            }
            break;
        }
    }
    qsort(L.lat_ns, L.nlat, sizeof *L.lat_ns, cmp_u32);
    res->p50_us = percentile_us(L.lat_ns, L.nlat, 0.50);
    res->p99_us = percentile_us(L.lat_ns, L.nlat, 0.99);
    rc = L.done > 0 ? 0 : -1;
out:
    for (int i = 0; i < opened; i++)
        close(cs[i].fd);
    if (L.ep >= 0)
        close(L.ep);
    free(L.lat_ns);
    free(bufs);
    free(cs);
    return rc;
}

/* ---- the table ------------------------------------------------------------------- */

struct config {
    size_t size;
    int conns;
};

static const struct config configs[] = {
    {1024, 100},
    {10240, 100},
    {1024, 10},
};
#define NCONFIGS (sizeof configs / sizeof configs[0])

/* One (configuration, server) pair in a fresh server process. */
static int run_one(int cfg, int kind, uint64_t warm_ns, uint64_t dur_ns,
                   struct echo_result *res) {
    struct server srv;
    if (start_server(kind, &srv) < 0)
        return -1;
    int rc = run_load(&srv, configs[cfg].conns, configs[cfg].size, warm_ns,
                      dur_ns, res);
    if (stop_server(&srv) < 0)
        rc = -1;
    return rc;
}

enum {
    F_MSGS,
    F_MIB,
    F_P50,
    F_P99,
    F_CCPU,
    F_SCPU,
    F_SUS,
    F_CUS,
    F_BUSY0,
    F_BUSY1,
    NFIELDS
};

static double field(const struct echo_result *r, int f) {
    switch (f) {
    case F_MSGS: return r->msgs_s;
    case F_MIB: return r->mib_s;
    case F_P50: return r->p50_us;
    case F_P99: return r->p99_us;
    case F_CCPU: return r->client_cpu;
    case F_SCPU: return r->server_cpu;
    case F_SUS: return r->server_us_msg;
    case F_CUS: return r->client_us_msg;
    case F_BUSY0: return r->busy[0];
    default: return r->busy[1];
    }
}

/* The median of the rounds' ratios a / b of one field (v: scratch, one
 * slot a round): servers that ran side by side in a round are compared
 * within it. */
static double paired(const struct echo_result *a, const struct echo_result *b,
                     int f, uint64_t rounds, double *v) {
    for (uint64_t r = 0; r < rounds; r++)
        v[r] = field(&a[r], f) / field(&b[r], f);
    return bench_median(v, rounds);
}

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    uint64_t secs = bench_arg(argc, argv, 1, 1, USAGE);
    uint64_t rounds = bench_arg(argc, argv, 2, quick ? 1 : 5, USAGE);
    if (argc > 3 || secs > 3600 || rounds > 1000) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    uint64_t dur_ns = quick ? 300000000u : secs * 1000000000u;
    uint64_t warm_ns = quick ? 100000000u : 500000000u;
    signal(SIGPIPE, SIG_IGN);

    cpu_set_t allowed;
    pinning = sched_getaffinity(0, sizeof allowed, &allowed) == 0 &&
              CPU_ISSET(SERVER_CPU, &allowed) &&
              CPU_ISSET(CLIENT_CPU, &allowed);
    if (pin_to(CLIENT_CPU) < 0) {
        perror("echo: sched_setaffinity");
        pinning = false;
    }

    setenv("WEFT_BACKEND", "io_uring", 1);
    weft_loop_t *probe;
    if (weft_loop_new(&probe, NULL) == 0) {
        have_uring = strcmp(weft_loop_backend(probe), "io_uring") == 0;
        weft_loop_free(probe);
    }
    unsetenv("WEFT_BACKEND");
    ssize_t sl = readlink("/proc/self/exe", floor_path, sizeof floor_path - 8);
    if (sl > 0) {
        floor_path[sl] = '\0';
        char *slash = strrchr(floor_path, '/');
        if (slash) {
            strcpy(slash + 1, "floor");
            have_floor = have_uring && access(floor_path, X_OK) == 0;
        }
    }
    size_t nruns = NCONFIGS * NSERVERS;
    struct echo_result *res = calloc(nruns * rounds, sizeof *res);
    double *v = calloc(rounds, sizeof *v);
    if (!res || !v)
        return 1;
    for (uint64_t r = 0; r < rounds; r++) {
        for (size_t i = 0; i < nruns; i++) {
            size_t k = (i + r) % nruns;
            int cfg = (int)(k / NSERVERS), kind = (int)(k % NSERVERS);
            if ((kind == S_URING && !have_uring) ||
                (kind == S_FLOOR && !have_floor))
                continue;
            int rc = run_one(cfg, kind, warm_ns, dur_ns, &res[k * rounds + r]);
            if (rc < 0 && kind == S_FLOOR) {
                fprintf(stderr, "echo: the floor failed; its row is left "
                                "out\n");
                have_floor = false;
                floor_failed = true;
            } else if (rc < 0) {
                fprintf(stderr, "echo: run %s, %zu B x %d failed\n",
                        server_names[kind], configs[cfg].size,
                        configs[cfg].conns);
                return 1;
            }
        }
    }

    printf("echo: loopback TCP echo, each connection sends a message, waits "
           "for the whole echo, repeats; %.1f s per run after %.1f s warm-up, "
           "%llu round(s) interleaved; medians\n",
           (double)dur_ns / 1e9, (double)warm_ns / 1e9,
           (unsigned long long)rounds);
    if (pinning)
        printf("  server (child process) on CPU %d, load generator (one "
               "thread, epoll) on CPU %d\n",
               SERVER_CPU, CLIENT_CPU);
    else
        printf("  NOT pinned: CPUs %d and %d are not both available\n",
               SERVER_CPU, CLIENT_CPU);
    printf("  %-13s %-6s %8s %19s %7s %8s %8s %7s %7s %7s %7s %9s\n",
           "msg x conns", "server", "msg/s", "(min .. max)", "MiB/s", "p50",
           "p99", "server", "server", "loadgen", "loadgen", "CPU0/CPU1");
    printf("  %-13s %-6s %8s %19s %7s %8s %8s %7s %7s %7s %7s %9s\n", "", "",
           "", "", "", "", "", "CPU", "us/msg", "CPU", "us/msg", "busy");
    double med[NCONFIGS][NSERVERS][NFIELDS];
    double ratio[NCONFIGS], cpu_ratio[NCONFIGS], uring_cpu[NCONFIGS] = {0};
    double floor_cpu[NCONFIGS] = {0}, uring_floor[NCONFIGS] = {0};
    double other_max = 0;
    int busy_runs = 0, all_runs = 0;
    char busy_where[512] = "";
    for (size_t c = 0; c < NCONFIGS; c++) {
        for (int s = 0; s < NSERVERS; s++) {
            if ((s == S_URING && !have_uring) ||
                (s == S_FLOOR && !have_floor))
                continue;
            const struct echo_result *rr = &res[(c * NSERVERS + (size_t)s) *
                                                rounds];
            for (int f = 0; f < NFIELDS; f++) {
                for (uint64_t r = 0; r < rounds; r++)
                    v[r] = field(&rr[r], f);
                med[c][s][f] = bench_median(v, rounds);
            }
            int busy_here = 0;
            for (uint64_t r = 0; r < rounds; r++) {
                /* Other processes' share: busy minus ours, on either CPU. */
                double o0 = rr[r].busy[0] - rr[r].server_cpu;
                double o1 = rr[r].busy[1] - rr[r].client_cpu;
                double o = o0 > o1 ? o0 : o1;
                if (o > other_max)
                    other_max = o;
                busy_here += rr[r].client_cpu > 0.9;
                all_runs++;
                v[r] = rr[r].msgs_s;
            }
            if (busy_here) {
                size_t len = strlen(busy_where);
                snprintf(busy_where + len, sizeof busy_where - len,
                         "%s%s %zu B x %d: %d", busy_runs ? ", " : "",
                         server_names[s], configs[c].size, configs[c].conns,
                         busy_here);
                busy_runs += busy_here;
            }
            char label[32] = "";
            if (s == 0)
                snprintf(label, sizeof label, "%zu B x %d", configs[c].size,
                         configs[c].conns);
            const double *m = med[c][s];
            printf("  %-13s %-6s %8.0f %8.0f .. %-8.0f %7.1f %5.0f us "
                   "%5.0f us %6.0f%% %7.2f %6.0f%% %7.2f %4.0f/%3.0f%%\n",
                   label, server_names[s], m[F_MSGS], bench_min(v, rounds),
                   bench_max(v, rounds), m[F_MIB], m[F_P50], m[F_P99],
                   100 * m[F_SCPU], m[F_SUS], 100 * m[F_CCPU], m[F_CUS],
                   100 * m[F_BUSY0], 100 * m[F_BUSY1]);
        }
        /* Paired: weft and libuv ran next to each other in each round,
         * so the median of the per-round ratios cancels slow phases of the
         * machine better than the ratio of the medians. */
        const struct echo_result *w = &res[(c * NSERVERS + S_WEFT) * rounds];
        const struct echo_result *u = &res[(c * NSERVERS + S_UV) * rounds];
        ratio[c] = paired(w, u, F_MSGS, rounds, v);
        cpu_ratio[c] = paired(u, w, F_SUS, rounds, v);
        printf("  %-13s weft / libuv, median of the rounds: %.2f x msg/s, "
               "%.2f x messages per server CPU second\n",
               "", ratio[c], cpu_ratio[c]);
        if (!have_uring)
            continue;
        const struct echo_result *g = &res[(c * NSERVERS + S_URING) * rounds];
        double gm = paired(g, u, F_MSGS, rounds, v);
        uring_cpu[c] = paired(g, u, F_SUS, rounds, v);
        printf("  %-13s uring / libuv, median of the rounds: %.2f x msg/s, "
               "%.2f x server CPU per message\n",
               "", gm, uring_cpu[c]);
        if (!have_floor)
            continue;
        const struct echo_result *f = &res[(c * NSERVERS + S_FLOOR) * rounds];
        floor_cpu[c] = paired(f, u, F_SUS, rounds, v);
        uring_floor[c] = paired(g, f, F_SUS, rounds, v);
        printf("  %-13s floor / libuv, median of the rounds: %.2f x server "
               "CPU per message (uring / floor: %.2f x)\n",
               "", floor_cpu[c], uring_floor[c]);
    }
    printf("  target weft >= libuv (1 KiB x 100): msg/s %s (%.2f x); "
           "messages per server CPU second %s (%.2f x)\n",
           bench_yesno(ratio[0] >= 1.0), ratio[0],
           bench_yesno(cpu_ratio[0] >= 1.0), cpu_ratio[0]);
    if (have_uring)
        printf("  target io_uring server CPU per message <= 0.75 x libuv's: "
               "1 KiB x 100 %s (%.2f x), 10 KiB x 100 %s (%.2f x)\n",
               bench_yesno(uring_cpu[0] <= 0.75), uring_cpu[0],
               bench_yesno(uring_cpu[1] <= 0.75), uring_cpu[1]);
    else
        printf("  io_uring: not available here (WEFT_BACKEND=io_uring "
               "falls back to epoll); its column is left out\n");
    if (have_floor)
        printf("  the floor (no runtime, one io_uring): %.2f x libuv's CPU "
               "per message at 1 KiB x 100, %.2f x at 10 KiB x 100: "
               "about the least any server could show here\n",
               floor_cpu[0], floor_cpu[1]);
    else if (have_uring)
        printf("  floor: %s %s; its row is left out\n", floor_path,
               floor_failed ? "failed" : "not built");
    printf("  peer  libuv 1 KiB x 10 (about 90,000 msg/s expected here): "
           "%.0f msg/s\n",
           med[2][S_UV][F_MSGS]);
    if (busy_runs)
        printf("  load generator above 90%% of its core in %d of %d runs "
               "(%s): there it capped msg/s; compare us/msg\n",
               busy_runs, all_runs, busy_where);
    else
        printf("  load generator below 90%% of its core in every run: not "
               "the bottleneck\n");
    printf("  other processes: up to %.0f%% of CPU 0 or 1 in a run (busy "
           "minus ours)%s\n",
           100 * (other_max > 0 ? other_max : 0),
           other_max > 0.1 ? ": a noisy machine, msg/s moves with it" : "");
    printf("RESULT echo weft_vs_libuv_msgs_1k_x100 %.2f x\n", ratio[0]);
    printf("RESULT echo weft_vs_libuv_cpu_1k_x100 %.2f x\n", cpu_ratio[0]);
    if (have_uring) {
        printf("RESULT echo uring_vs_libuv_cpu_per_msg_1k_x100 %.2f x\n",
               uring_cpu[0]);
        printf("RESULT echo uring_vs_libuv_cpu_per_msg_10k_x100 %.2f x\n",
               uring_cpu[1]);
    }
    if (have_floor) {
        printf("RESULT echo floor_vs_libuv_cpu_per_msg_1k_x100 %.2f x\n",
               floor_cpu[0]);
        printf("RESULT echo floor_vs_libuv_cpu_per_msg_10k_x100 %.2f x\n",
               floor_cpu[1]);
        printf("RESULT echo uring_vs_floor_cpu_per_msg_1k_x100 %.2f x\n",
               uring_floor[0]);
    }
    free(res);
    free(v);
    return 0;
}
