/* idle.c - what an idle connection costs a server: N connections that each
 * exchanged one message and then wait, every server holding a task (or a
 * handle) parked in a read for each.
 *
 * Servers, one after the other in this run, each in a fresh process pinned
 * to CPU 0 (the client, this process, on CPU 1):
 *
 *   weft echo  weft_start_server with a handler reading through the
 *              stream's buffer (weft_stream_wait_data, write, consume),
 *              parked in wait_data between messages; default stacks; a
 *              janitor task hibernates handlers idle for 2 s
 *              (IDLE_NO_HIBERNATE=1: it does not)
 *   libuv echo uv_echo.c (bench/echo's peer): a uv_tcp_t per connection,
 *              reading with uv_read_start
 *   weft http  weft/web.h: a "Hello, World!" app, keep-alive connections
 *              (keepalive_timeout 1 hour), parked waiting for a next head
 *   nginx      one worker, `return 200 "Hello, World!"`, keep-alive
 *              (keepalive_timeout 1 hour)
 *
 * The echo servers get 64 bytes and echo them; the HTTP servers get one
 * GET and answer it. Then the connections stay open, idle, for SETTLE_S
 * seconds (weft's HTTP server gives back an idle connection's stack after
 * 2 s), and the server's VmRSS is read again:
 *
 *   user B/conn    (VmRSS after - VmRSS before the connections) / N
 *   kernel B/conn  /proc/net/sockstat "TCP: mem" (pages of socket buffers,
 *                  both ends) growth * page size / N, and the Slab of
 *                  /proc/meminfo (socket structures, both ends, dentries
 *                  and inodes of the sockets, epoll items) growth / N.
 *                  Machine-wide figures: other processes' sockets move
 *                  them too.
 *
 * N above about 25,000 needs more ports than one source address has: the
 * client binds its sockets to 127.0.0.1, .2, ... (IP_BIND_ADDRESS_NO_PORT)
 * round robin. The open-files limit is raised to what N needs (the hard
 * limit too when we may: root), or N is lowered to fit, with a note.
 * Connections end with a reset (SO_LINGER 0), leaving no TIME_WAIT behind
 * for the next server.
 *
 * Usage: idle [--quick] [N]   (default 100,000; --quick: 2,000; 1000000
 *                              works given ~10 GB of memory)
 * Environment: NGINX overrides /usr/sbin/nginx.
 * Ends with RESULT lines: user-space bytes per idle connection for each
 * server (target for weft: <= 2 KiB, aiming at 1 KiB). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <weft.h>

#include "bench_util.h"
#include "echo.h"

#define USAGE "idle [--quick] [N]"
#define SETTLE_S 3
#define PER_SOURCE 25000 /* connections per client source address */
#define MSG_LEN 64
#define BATCH 128 /* connections opened before their answers are read */

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int ncpu;
static size_t nconns;

/* ---- the weft servers (child processes) ------------------------------------- */

/* The echo server's connections, for its janitor: each handler's task and
 * when it last had something to do. */
struct idle_slot {
    weft_task_t *task;
    double since;
    bool asleep;
};
static struct idle_slot *slots;
static size_t nslots;

/* Echo through the stream's buffer: the handler parks in wait_data. */
static int idle_echo(weft_stream_t *s, void *arg) {
    (void)arg;
    struct idle_slot *me = nslots < nconns + 64 ? &slots[nslots++] : NULL;
    if (me)
        *me = (struct idle_slot){weft_task_current(), weft_loop_time(weft_loop_current()), false};
    for (;;) {
        const void *p;
        ssize_t n = weft_stream_wait_data(s, 1, &p);
        if (me) {
            me->since = weft_loop_time(weft_loop_current());
            me->asleep = false;
        }
        if (n <= 0) {
            if (me)
                me->task = NULL;
            return 0;
        }
        int err = weft_stream_write(s, p, (size_t)n);
        weft_stream_consume(s, (size_t)n);
        if (err == 0)
            err = weft_stream_drain(s);
        if (err < 0) {
            if (me)
                me->task = NULL;
            return 0;
        }
    }
}

/* Once a second: the handlers idle for 2 s hibernate (weft/task.h), as
 * weft's HTTP server does with its keep-alive connections. */
static int janitor(void *arg) {
    (void)arg;
    while (weft_sleep(1) == 0) {
        double now = weft_loop_time(weft_loop_current());
        for (size_t i = 0; i < nslots; i++)
            if (slots[i].task && !slots[i].asleep &&
                now - slots[i].since >= 2) {
                weft_task_hibernate(slots[i].task);
                slots[i].asleep = true;
            }
    }
    return 0;
}

static int hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, "Hello, World!");
}

struct child {
    int kind; /* S_* */
    int port_fd, ctl_fd;
};

enum { S_WEFT_ECHO, S_UV_ECHO, S_WEFT_HTTP, S_NGINX, NSERVERS };
static const char *const names[NSERVERS] = {"weft echo", "libuv echo",
                                            "weft http", "nginx"};

/* Serve until the parent closes the control pipe. */
static int wait_ctl(int fd) {
    weft_stream_t *ctl;
    int err = weft_stream_from_fd(weft_loop_current(), &ctl, fd, NULL);
    if (err == 0) {
        char b[16];
        while ((err = (int)weft_stream_read(ctl, b, sizeof b)) > 0) {
        }
        weft_stream_close(ctl);
    }
    return err;
}

static int weft_child_main(void *arg) {
    const struct child *c = arg;
    int port, err;
    if (c->kind == S_WEFT_ECHO) {
        weft_server_t *srv;
        weft_server_opts_t o = {.backlog = 4096};
        err = weft_start_server(weft_loop_current(), &srv, "127.0.0.1", "0",
                                idle_echo, NULL, &o);
        if (err < 0)
            return err;
        port = weft_server_port(srv);
        if (write(c->port_fd, &port, sizeof port) != (ssize_t)sizeof port)
            return -EIO;
        slots = calloc(nconns + 64, sizeof *slots);
        weft_task_t *jan = NULL;
        if (slots && getenv("IDLE_NO_HIBERNATE") == NULL)
            weft_spawn(&jan, janitor, NULL, NULL);
        err = wait_ctl(c->ctl_fd);
        if (jan) {
            weft_task_cancel(jan);
            weft_join(jan);
            weft_task_release(jan);
        }
        weft_server_close(srv, 0);
        return err;
    }
    weft_web_app_t *app;
    weft_web_runner_t *run;
    err = weft_web_app_new(&app, NULL);
    if (err < 0)
        return err;
    weft_web_route(app, "GET", "/", hello, NULL, NULL);
    weft_web_server_opts_t o = {.keepalive_timeout = 3600,
                                .max_connections = nconns + 64};
    err = weft_web_runner_new(&run, app, &o);
    if (err == 0)
        err = weft_web_runner_setup(run);
    weft_web_listen_opts_t lo = {.backlog = 4096};
    if (err == 0)
        err = weft_web_runner_listen(run, "127.0.0.1", "0", &lo);
    if (err == 0) {
        port = weft_web_runner_port(run);
        if (write(c->port_fd, &port, sizeof port) != (ssize_t)sizeof port)
            err = -EIO;
        else
            err = wait_ctl(c->ctl_fd);
        weft_web_runner_shutdown(run, 0);
    }
    weft_web_runner_free(run);
    weft_web_app_free(app);
    return err;
}

/* ---- starting and stopping --------------------------------------------------- */

struct server {
    pid_t pid;
    int port;
    int ctl;
    char why[192];
};

static char tmpdir[64];

static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int start_nginx(struct server *s, const char *prog) {
    s->port = free_port();
    char conf[96], text[2048];
    snprintf(conf, sizeof conf, "%s/nginx.conf", tmpdir);
    snprintf(text, sizeof text,
             "worker_processes 1;\ndaemon off;\nmaster_process off;\n"
             "worker_rlimit_nofile %zu;\n"
             "error_log %s/nginx-error.log;\npid %s/nginx.pid;\n"
             "events { worker_connections %zu; }\n"
             "http {\n  access_log off;\n  keepalive_timeout 3600s;\n"
             "  keepalive_requests 1000000;\n"
             "  server {\n    listen 127.0.0.1:%d backlog=4096;\n"
             "    location / { default_type text/plain; "
             "return 200 \"Hello, World!\"; }\n  }\n}\n",
             nconns + 1024, tmpdir, tmpdir, nconns + 1024, s->port);
    FILE *f = fopen(conf, "w");
    if (!f || fputs(text, f) < 0) {
        snprintf(s->why, sizeof s->why, "cannot write %s", conf);
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    fflush(NULL);
    s->pid = fork();
    if (s->pid == 0) {
        bench_pin(0, ncpu);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl(prog, prog, "-c", conf, "-p", tmpdir, (char *)NULL);
        _exit(127);
    }
    s->ctl = -1;
    for (int i = 0; i < 250; i++) {
        if (bench_port_open(s->port, true))
            return 0;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            snprintf(s->why, sizeof s->why, "%s exited at start (see %s)",
                     prog, conf);
            s->pid = 0;
            return -1;
        }
        usleep(20000);
    }
    snprintf(s->why, sizeof s->why, "nginx did not listen");
    return -1;
}

static int start(int kind, struct server *s) {
    memset(s, 0, sizeof *s);
    if (kind == S_NGINX) {
        const char *prog = getenv("NGINX");
        if (!prog || !*prog)
            prog = "/usr/sbin/nginx";
        if (access(prog, X_OK) != 0) {
            snprintf(s->why, sizeof s->why, "%s not found", prog);
            return -1;
        }
        return start_nginx(s, prog);
    }
    int portp[2], ctlp[2];
    if (pipe(portp) < 0 || pipe(ctlp) < 0) {
        snprintf(s->why, sizeof s->why, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(portp[0]);
        close(ctlp[1]);
        bench_pin(0, ncpu);
        int rc;
        if (kind == S_UV_ECHO) {
            rc = uv_echo_serve(portp[1], ctlp[0]) < 0;
        } else {
            struct child c = {kind, portp[1], ctlp[0]};
            rc = weft_run(weft_child_main, &c) < 0;
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
    s->pid = pid;
    s->ctl = ctlp[1];
    s->port = port;
    if (n != (ssize_t)sizeof port || port <= 0) {
        snprintf(s->why, sizeof s->why, "the server did not start");
        close(s->ctl);
        waitpid(pid, NULL, 0);
        s->pid = 0;
        return -1;
    }
    return 0;
}

static void stop(struct server *s) {
    if (s->pid <= 0)
        return;
    if (s->ctl >= 0)
        close(s->ctl);
    else
        kill(s->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* ---- what the machine says ---------------------------------------------------- */

/* "TCP: inuse I orphan O tw T alloc A mem M": M, pages. */
static long sockstat_tcp_mem(void) {
    FILE *f = fopen("/proc/net/sockstat", "r");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, " mem ");
        if (strncmp(line, "TCP:", 4) == 0 && p)
            v = strtol(p + 5, NULL, 10);
    }
    if (f)
        fclose(f);
    return v;
}

static long meminfo_kb(const char *field) {
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t n = strlen(field);
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* ---- the client --------------------------------------------------------------- */

static int *fds;

static void close_all(size_t n, const int *fd) {
    struct linger l = {1, 0};
    for (size_t i = 0; i < n; i++) {
        setsockopt(fd[i], SOL_SOCKET, SO_LINGER, &l, sizeof l);
        close(fd[i]);
    }
}

/* Connect and send one message. The socket, or -1. */
static int open_send(size_t i, int port, bool http, char *err,
                     size_t errsz) {
    static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    char msg[MSG_LEN];
    memset(msg, 'x', sizeof msg);
    const char *out = http ? get : msg;
    size_t outlen = http ? sizeof get - 1 : sizeof msg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errsz, "socket: %s", strerror(errno));
        return -1;
    }
    size_t nsrc = (nconns + PER_SOURCE - 1) / PER_SOURCE;
    if (nsrc > 1) {
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {
            .sin_family = AF_INET,
            .sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i % nsrc))};
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            snprintf(err, errsz, "bind: %s", strerror(errno));
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        write(fd, out, outlen) != (ssize_t)outlen) {
        snprintf(err, errsz, "connect/write: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* Read the whole answer. 0 or -1. */
static int read_answer(int fd, bool http, char *err, size_t errsz) {
    char buf[512];
    size_t got = 0;
    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 10000) <= 0) {
            snprintf(err, errsz, "no answer in 10 s");
            return -1;
        }
        ssize_t n = read(fd, buf + got, sizeof buf - 1 - got);
        if (n <= 0) {
            snprintf(err, errsz, "read: %s", n ? strerror(errno) : "EOF");
            return -1;
        }
        got += (size_t)n;
        buf[got] = 0;
        if (!http ? got >= MSG_LEN : strstr(buf, "Hello, World!") != NULL)
            return 0;
        if (got == sizeof buf - 1) {
            snprintf(err, errsz, "answer too long");
            return -1;
        }
    }
}

struct result {
    bool ok;
    size_t n;
    long rss_before_kb, rss_after_kb;
    double user_b, sock_b, slab_b;
    double open_s;
};

static void measure(int kind, struct result *r, char *why, size_t whysz) {
    memset(r, 0, sizeof *r);
    struct server s;
    if (start(kind, &s) < 0) {
        snprintf(why, whysz, "%s", s.why);
        return;
    }
    usleep(300000);
    r->rss_before_kb = bench_pid_status_kb(s.pid, "VmRSS");
    long mem0 = sockstat_tcp_mem(), slab0 = meminfo_kb("Slab");
    bool http = kind == S_WEFT_HTTP || kind == S_NGINX;
    uint64_t t0 = bench_now_ns();
    char err[128] = "";
    /* In batches: the server works on a batch while we send the next. */
    size_t n = 0;
    while (n < nconns && !err[0]) {
        size_t b = n, end = n + BATCH < nconns ? n + BATCH : nconns;
        for (; n < end; n++) {
            int fd = open_send(n, s.port, http, err, sizeof err);
            if (fd < 0)
                break;
            fds[n] = fd;
        }
        for (; b < n; b++)
            if (read_answer(fds[b], http, err, sizeof err) < 0) {
                close_all(n - b, fds + b);
                n = b;
                break;
            }
    }
    r->open_s = (double)(bench_now_ns() - t0) / 1e9;
    if (n < nconns) {
        snprintf(why, whysz, "connection %zu of %zu: %s", n + 1, nconns, err);
        close_all(n, fds);
        stop(&s);
        return;
    }
    sleep(SETTLE_S);
    r->rss_after_kb = bench_pid_status_kb(s.pid, "VmRSS");
    long mem1 = sockstat_tcp_mem(), slab1 = meminfo_kb("Slab");
    r->n = n;
    r->user_b = (double)(r->rss_after_kb - r->rss_before_kb) * 1024.0 /
                (double)n;
    r->sock_b = (double)(mem1 - mem0) * (double)sysconf(_SC_PAGESIZE) /
                (double)n;
    r->slab_b = (double)(slab1 - slab0) * 1024.0 / (double)n;
    r->ok = r->rss_before_kb > 0 && r->rss_after_kb > 0;
    if (!r->ok)
        snprintf(why, whysz, "could not read the server's VmRSS");
    close_all(n, fds);
    stop(&s);
    /* Let the kernel finish the resets before the next server. */
    usleep(500000);
}

/* The open-files limit: N client sockets here, N accepted in the server
 * (which inherits it), and some spare. Lowers nconns if it cannot. */
static void raise_nofile(void) {
    rlim_t want = (rlim_t)nconns + 1024;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < want) {
        struct rlimit up = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0)
            return;
    }
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        size_t fit = rl.rlim_cur > 2048 ? (size_t)rl.rlim_cur - 1024 : 1024;
        printf("note: the open-files limit is %llu (hard); N lowered from "
               "%zu to %zu (run as root, or raise `ulimit -Hn`)\n",
               (unsigned long long)rl.rlim_cur, nconns, fit);
        nconns = fit;
    }
}

int main(int argc, char **argv) {
    bool quick = bench_take_quick(&argc, argv);
    nconns = (size_t)bench_arg(argc, argv, 1, quick ? 2000 : 100000, USAGE);
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    fds = calloc(nconns, sizeof *fds);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-idle-XXXXXX");
    if (!fds || !mkdtemp(tmpdir)) {
        perror("idle");
        return 1;
    }
    bench_pin(1, ncpu);
    printf("idle: %zu connections a server, each after one exchange, idle "
           "%d s; client source addresses: %zu\n",
           nconns, SETTLE_S, (nconns + PER_SOURCE - 1) / PER_SOURCE);
    struct result r[NSERVERS];
    char why[NSERVERS][192];
    for (int k = 0; k < NSERVERS; k++) {
        why[k][0] = 0;
        measure(k, &r[k], why[k], sizeof why[k]);
    }
    printf("\n%-11s %10s %10s %11s %12s %12s %8s\n", "server", "RSS before",
           "RSS after", "user B/conn", "sockbuf B/c", "slab B/conn",
           "open s");
    for (int k = 0; k < NSERVERS; k++) {
        if (!r[k].ok) {
            printf("%-11s not run: %s\n", names[k], why[k]);
            continue;
        }
        printf("%-11s %8ld k %8ld k %11.0f %12.0f %12.0f %8.1f\n", names[k],
               r[k].rss_before_kb, r[k].rss_after_kb, r[k].user_b,
               r[k].sock_b, r[k].slab_b, r[k].open_s);
    }
    printf("\nuser B/conn: the server's VmRSS growth per connection. "
           "sockbuf, slab: machine-wide\n(/proc/net/sockstat TCP mem, "
           "/proc/meminfo Slab), both ends of each connection.\n"
           "target: weft <= 2048 user bytes an idle connection, aiming at "
           "1024\n\n");
    static const char *const tags[NSERVERS] = {"weft_echo", "libuv_echo",
                                               "weft_http", "nginx"};
    for (int k = 0; k < NSERVERS; k++)
        if (r[k].ok)
            printf("RESULT idle %s_user_per_conn %.0f bytes\n", tags[k],
                   r[k].user_b);
    for (int k = 0; k < NSERVERS; k++)
        if (r[k].ok)
            printf("RESULT idle %s_kernel_slab_per_conn %.0f bytes\n",
                   tags[k], r[k].slab_b);
    bench_remove_dir(tmpdir);
    free(fds);
    /* A missing nginx is a note; a failed weft or libuv server is not. */
    for (int k = 0; k < NSERVERS; k++)
        if (!r[k].ok && k != S_NGINX)
            return 1;
    return 0;
}
