/* soak: a mixed load on one loop for N minutes, with the process's RSS,
 * open descriptors and errors sampled every few seconds (issue 13).
 *
 *   soak [-m MINUTES] [-s SAMPLE_SECONDS] [-w WARMUP_SECONDS]
 *
 * Workers, each a task looping until the end: echo connections opened,
 * used and closed (two), the same over TLS (certificates from
 * tests/tls/make-certs.sh; left out with a message if it fails), HTTP
 * requests to weft's web server through a client session that is renewed
 * every 50 requests (two), WebSocket echoes, timers cancelled and
 * deadlines expiring, subprocesses with a pipe, executor jobs, and a file
 * watcher opened, fed and closed. The main task prints a table row every
 * sample.
 *
 * It fails (exit 1, one line saying why) when a worker meets an error it
 * did not provoke; when, after the warm-up, RSS rises more than
 * max(4 MiB, 10%) or the descriptors more than 8 above the highest the
 * warm-up saw; when a kind of work makes no progress for two samples in a
 * row (a hang); or when descriptors are left open once everything is
 * closed. Exit 2: bad arguments. */
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <weft.h>

#include "faults/handlers.h"

enum { K_ECHO, K_TLS, K_HTTP, K_WS, K_TIMER, K_PROC, K_EXEC, K_WATCH, NK };
static const char *const kind_names[NK] = {"echo", "tls",   "http",  "ws",
                                           "timer", "proc", "exec", "watch"};

static atomic_long ops[NK];
static long errors;
static char first_error[160];
static bool stopping;
static const char *certs; /* NULL: no TLS */
static char port_echo[8], port_tls[8], http_base[64], ws_url[80];
static weft_tls_ctx_t *tls_server, *tls_client;
static char watch_dir[256];
/* Under AddressSanitizer freed memory waits in a quarantine (256 MiB):
 * RSS grows by design, and only descriptors and errors are judged. */
#if defined(__SANITIZE_ADDRESS__)
static const bool sanitized = true;
#else
static const bool sanitized = false;
#endif

static void fail_op(int kind, const char *what, int err) {
    if (errors++ == 0)
        snprintf(first_error, sizeof first_error, "%s: %s: %s",
                 kind_names[kind], what, weft_err_name(err));
}

/* xorshift, one state per worker. */
static uint32_t rnd(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* A breath between iterations, so the loop has every kind at once. */
static void pace(uint32_t *r) {
    weft_sleep((double)(rnd(r) % 1000) / 1e6);
}

/* ---- echo and TLS ---------------------------------------------------------------- */

static int echo_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
        int err = weft_stream_write(s, buf, (size_t)n);
        if (!err)
            err = weft_stream_drain(s);
        if (err)
            return err;
    }
}

static int echo_worker(void *arg) {
    int kind = (int)(intptr_t)arg;
    uint32_t r = 0x9e3779b9u ^ (uint32_t)kind ^ (uint32_t)(uintptr_t)&r;
    static char out[65536], in[65536];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (char)('a' + i % 26);
    weft_connect_opts_t co;
    memset(&co, 0, sizeof co);
    co.tls = kind == K_TLS ? tls_client : NULL;
    co.server_name = "localhost";
    while (!stopping) {
        weft_stream_t *c;
        int err = weft_open_connection(&c, "127.0.0.1",
                                       kind == K_TLS ? port_tls : port_echo,
                                       &co);
        if (err) {
            fail_op(kind, "connect", err);
            weft_sleep(0.1);
            continue;
        }
        int n = 1 + (int)(rnd(&r) % 4);
        for (int i = 0; i < n && !err; i++) {
            size_t len = 1 + rnd(&r) % sizeof out;
            err = weft_stream_write(c, out, len);
            ssize_t got = err ? err : weft_stream_read_exactly(c, in, len);
            if (got < 0)
                err = (int)got;
            else if (memcmp(in, out, len) != 0)
                err = -EPROTO;
        }
        if (err)
            fail_op(kind, "echo", err);
        err = weft_stream_close(c);
        if (err)
            fail_op(kind, "close", err);
        atomic_fetch_add(&ops[kind], 1);
        pace(&r);
    }
    return 0;
}

/* ---- HTTP and WebSockets -------------------------------------------------------- */

static int http_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x12345u ^ (uint32_t)(uintptr_t)&r;
    char url[96];
    snprintf(url, sizeof url, "%s/hello", http_base);
    while (!stopping) {
        weft_session_t *s;
        int err = weft_session_new(&s, NULL);
        if (err) {
            fail_op(K_HTTP, "session", err);
            weft_sleep(0.1);
            continue;
        }
        for (int i = 0; i < 50 && !stopping; i++) {
            weft_client_response_t *resp;
            err = weft_session_get(s, url, NULL, &resp);
            if (err) {
                fail_op(K_HTTP, "get", err);
                break;
            }
            const void *body;
            ssize_t n = weft_client_body(resp, &body, 1 << 16);
            if (n < 0)
                fail_op(K_HTTP, "body", (int)n);
            else if (weft_client_status(resp) != 200 || n != 12 ||
                     memcmp(body, "hello, world", 12) != 0)
                fail_op(K_HTTP, "answer", -EPROTO);
            weft_client_release(resp);
            atomic_fetch_add(&ops[K_HTTP], 1);
            pace(&r);
        }
        err = weft_session_close(s);
        if (err)
            fail_op(K_HTTP, "session close", err);
    }
    return 0;
}

static int ws_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x5151u ^ (uint32_t)(uintptr_t)&r;
    weft_session_t *s;
    int err = weft_session_new(&s, NULL);
    if (err) {
        fail_op(K_WS, "session", err);
        return 0;
    }
    while (!stopping) {
        weft_ws_t *w;
        err = weft_ws_connect(&w, s, ws_url, NULL);
        if (err) {
            fail_op(K_WS, "connect", err);
            weft_sleep(0.1);
            continue;
        }
        for (int i = 0; i < 10 && !err; i++) {
            err = weft_ws_send_text(w, "echo me", 7);
            weft_ws_msg_t m;
            if (!err)
                err = weft_ws_receive(w, &m);
            if (!err && (m.len != 7 || memcmp(m.data, "echo me", 7) != 0))
                err = -EPROTO;
        }
        if (err)
            fail_op(K_WS, "echo", err);
        err = weft_ws_close(w, 1000, "bye");
        if (err && err != WEFT_EWS_CLOSED)
            fail_op(K_WS, "close", err);
        weft_ws_free(w);
        atomic_fetch_add(&ops[K_WS], 1);
        pace(&r);
    }
    err = weft_session_close(s);
    if (err)
        fail_op(K_WS, "session close", err);
    return 0;
}

/* ---- timers, cancellation, deadlines -------------------------------------------- */

static int sleeper(void *arg) {
    return weft_sleep((double)(uintptr_t)arg / 1e6);
}

static int timer_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x7777u ^ (uint32_t)(uintptr_t)&r;
    while (!stopping) {
        weft_task_t *t[16];
        int n = 0;
        for (int i = 0; i < 16; i++) {
            int err = weft_spawn(&t[n], sleeper,
                                 (void *)(uintptr_t)(rnd(&r) % 5000), NULL);
            if (err)
                fail_op(K_TIMER, "spawn", err);
            else
                n++;
        }
        for (int i = 0; i < n; i += 2)
            weft_task_cancel(t[i]);
        for (int i = 0; i < n; i++) {
            int err = weft_join(t[i]);
            if (err && err != -ECANCELED)
                fail_op(K_TIMER, "join", err);
            weft_task_release(t[i]);
        }
        /* A deadline expiring inside a wait. */
        weft_scope_t sc;
        int err = weft_scope_enter(&sc, 0.001, 0);
        if (err) {
            fail_op(K_TIMER, "scope", err);
        } else {
            weft_sleep(10);
            if (weft_scope_exit(&sc) != -ETIMEDOUT)
                fail_op(K_TIMER, "deadline", -EPROTO);
        }
        atomic_fetch_add(&ops[K_TIMER], 1);
        pace(&r);
    }
    return 0;
}

/* ---- subprocesses and the executor ---------------------------------------------- */

static int proc_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x4242u ^ (uint32_t)(uintptr_t)&r;
    const char *argv[] = {"/bin/sh", "-c", "echo soak", NULL};
    weft_proc_opts_t o;
    memset(&o, 0, sizeof o);
    o.stdout_mode = WEFT_PROC_PIPE;
    while (!stopping) {
        weft_proc_t *p;
        int err = weft_proc_exec(weft_loop_current(), &p, argv, &o);
        if (err) {
            fail_op(K_PROC, "exec", err);
            weft_sleep(0.1);
            continue;
        }
        char buf[8];
        ssize_t n = weft_stream_read_exactly(weft_proc_stdout(p), buf, 5);
        if (n != 5 || memcmp(buf, "soak\n", 5) != 0)
            fail_op(K_PROC, "read", n < 0 ? (int)n : -EPROTO);
        int rc = -1;
        err = weft_proc_wait(p, &rc);
        if (err || rc != 0)
            fail_op(K_PROC, "wait", err ? err : -EPROTO);
        weft_proc_free(p);
        atomic_fetch_add(&ops[K_PROC], 1);
        pace(&r);
    }
    return 0;
}

static int job(void *arg, void **value) {
    uintptr_t x = (uintptr_t)arg, h = 1469598103u;
    for (int i = 0; i < 1000; i++)
        h = (h ^ (x + (uintptr_t)i)) * 16777619u;
    *value = (void *)h;
    return 0;
}

static int exec_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x3131u ^ (uint32_t)(uintptr_t)&r;
    while (!stopping) {
        void *v = NULL;
        int err = weft_to_thread(job, (void *)(uintptr_t)rnd(&r), &v);
        if (err)
            fail_op(K_EXEC, "to_thread", err);
        atomic_fetch_add(&ops[K_EXEC], 1);
        if (rnd(&r) % 8 == 0)
            pace(&r);
    }
    return 0;
}

/* ---- file watching ---------------------------------------------------------------- */

static int watch_reader(void *arg) {
    weft_fswatch_t *w = arg;
    int seen = 0;
    for (;;) {
        weft_fsevent_t ev;
        int err = weft_fswatch_next(w, &ev);
        if (err == -EBADF) /* closed under us: the end */
            return seen;
        if (err) {
            fail_op(K_WATCH, "next", err);
            return seen;
        }
        seen++;
    }
}

static int watch_worker(void *arg) {
    (void)arg;
    uint32_t r = 0x2323u ^ (uint32_t)(uintptr_t)&r;
    while (!stopping) {
        weft_fswatch_t *w;
        int err = weft_fswatch_open(weft_loop_current(), watch_dir, 0, &w);
        if (err) {
            fail_op(K_WATCH, "open", err);
            weft_sleep(0.1);
            continue;
        }
        weft_task_t *t;
        err = weft_spawn(&t, watch_reader, w, NULL);
        if (err) {
            fail_op(K_WATCH, "spawn", err);
            weft_fswatch_close(w);
            continue;
        }
        for (int i = 0; i < 5; i++) {
            char path[300];
            snprintf(path, sizeof path, "%s/f%d", watch_dir, i);
            int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
            if (fd < 0 || write(fd, "x", 1) != 1)
                fail_op(K_WATCH, "write", -errno);
            if (fd >= 0)
                close(fd);
            unlink(path);
        }
        weft_sleep(0.01); /* the events arrive */
        weft_fswatch_close(w);
        int seen = weft_join(t);
        weft_task_release(t);
        if (seen <= 0)
            fail_op(K_WATCH, "no events", seen < 0 ? seen : -EPROTO);
        atomic_fetch_add(&ops[K_WATCH], 1);
        pace(&r);
    }
    return 0;
}

/* ---- sampling ---------------------------------------------------------------------- */

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = -1; /* opendir's own */
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "re");
    long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct cfg {
    double seconds, sample, warmup;
    int fds0;
    char verdict[256];
};

static int soak_main(void *arg) {
    struct cfg *cfg = arg;
    weft_loop_t *loop = weft_loop_current();
    int st = 0;
    weft_server_t *echo = NULL, *tls = NULL;
    weft_web_app_t *app = NULL;
    weft_web_runner_t *run = NULL;
    st = weft_start_server(loop, &echo, "127.0.0.1", "0", echo_handler, NULL,
                           NULL);
    if (!st && tls_server) {
        weft_server_opts_t so;
        memset(&so, 0, sizeof so);
        so.tls = tls_server;
        st = weft_start_server(loop, &tls, "127.0.0.1", "0", echo_handler,
                               NULL, &so);
    }
    if (!st)
        st = weft_web_app_new(&app, NULL);
    if (!st)
        st = weft_web_route(app, "GET", "/hello", hello, NULL, NULL);
    if (!st)
        st = weft_web_route(app, "GET", "/ws", ws_echo, NULL, NULL);
    if (!st)
        st = weft_web_runner_new(&run, app, NULL);
    if (!st)
        st = weft_web_runner_setup(run);
    if (!st)
        st = weft_web_runner_listen(run, "127.0.0.1", "0", NULL);
    if (st) {
        snprintf(cfg->verdict, sizeof cfg->verdict, "setting up: %s",
                 weft_err_name(st));
        goto out;
    }
    snprintf(port_echo, sizeof port_echo, "%d", weft_server_port(echo));
    if (tls)
        snprintf(port_tls, sizeof port_tls, "%d", weft_server_port(tls));
    snprintf(http_base, sizeof http_base, "http://127.0.0.1:%d",
             weft_web_runner_port(run));
    snprintf(ws_url, sizeof ws_url, "%s/ws", http_base);

    static const struct {
        weft_task_fn fn;
        int kind;
    } workers[] = {
        {echo_worker, K_ECHO}, {echo_worker, K_ECHO}, {echo_worker, K_TLS},
        {http_worker, K_HTTP}, {http_worker, K_HTTP}, {ws_worker, K_WS},
        {timer_worker, K_TIMER}, {proc_worker, K_PROC}, {exec_worker, K_EXEC},
        {watch_worker, K_WATCH},
    };
    enum { NW = sizeof workers / sizeof workers[0] };
    weft_task_t *tasks[NW];
    bool active[NK] = {0};
    int nt = 0;
    for (int i = 0; i < NW; i++) {
        if (workers[i].kind == K_TLS && !tls)
            continue;
        if (weft_spawn(&tasks[nt], workers[i].fn,
                       (void *)(intptr_t)workers[i].kind, NULL) == 0) {
            nt++;
            active[workers[i].kind] = true;
        }
    }

    printf("%7s %9s %5s", "time", "RSS KiB", "fds");
    for (int k = 0; k < NK; k++)
        printf(" %7s", kind_names[k]);
    printf(" %6s\n", "errors");
    double t0 = weft_loop_time(loop);
    long rss_warm = 0, rss_first = 0, rss_last = 0, rss_max = 0;
    int fds_warm = 0, fds_first = 0, fds_last = 0, fds_max = 0;
    long last[NK] = {0};
    int stalled[NK] = {0};
    bool warm = false;
    for (double t = cfg->sample; t <= cfg->seconds + 1e-9;
         t += cfg->sample) {
        weft_sleep(t0 + t - weft_loop_time(loop));
        long rss = rss_kib();
        int fds = count_fds();
        printf("%5.0f s %9ld %5d", t, rss, fds);
        for (int k = 0; k < NK; k++)
            printf(" %7ld", atomic_load(&ops[k]));
        printf(" %6ld\n", errors);
        fflush(stdout);
        if (!rss_first) {
            rss_first = rss;
            fds_first = fds;
        }
        rss_last = rss;
        fds_last = fds;
        if (rss > rss_max)
            rss_max = rss;
        if (fds > fds_max)
            fds_max = fds;
        for (int k = 0; k < NK; k++) {
            long now = atomic_load(&ops[k]);
            stalled[k] = active[k] && now == last[k] ? stalled[k] + 1 : 0;
            last[k] = now;
            if (stalled[k] >= 2 && !cfg->verdict[0])
                snprintf(cfg->verdict, sizeof cfg->verdict,
                         "%s made no progress for %.0f s", kind_names[k],
                         2 * cfg->sample);
        }
        if (t <= cfg->warmup + 1e-9) {
            rss_warm = rss > rss_warm ? rss : rss_warm;
            fds_warm = fds > fds_warm ? fds : fds_warm;
            continue;
        }
        if (!warm) {
            warm = true;
        }
        long bound = rss_warm / 10 > 4096 ? rss_warm / 10 : 4096;
        if (rss > rss_warm + bound && !cfg->verdict[0] && !sanitized)
            snprintf(cfg->verdict, sizeof cfg->verdict,
                     "RSS grew to %ld KiB after warm-up (highest then %ld "
                     "KiB, bound +%ld)", rss, rss_warm, bound);
        if (fds > fds_warm + 8 && !cfg->verdict[0])
            snprintf(cfg->verdict, sizeof cfg->verdict,
                     "%d descriptors open after warm-up (highest then %d)",
                     fds, fds_warm);
        if (errors && !cfg->verdict[0])
            snprintf(cfg->verdict, sizeof cfg->verdict, "%ld errors, first: %s",
                     errors, first_error);
        if (cfg->verdict[0])
            break;
    }
    stopping = true;
    /* Every worker ends its iteration and returns. */
    weft_scope_t sc;
    weft_scope_enter(&sc, 30, 0);
    for (int i = 0; i < nt; i++) {
        int err = weft_join(tasks[i]);
        if (err && !cfg->verdict[0])
            snprintf(cfg->verdict, sizeof cfg->verdict,
                     "a worker did not stop: %s", weft_err_name(err));
        weft_task_release(tasks[i]);
    }
    weft_scope_exit(&sc);
    long total = 0;
    for (int k = 0; k < NK; k++)
        total += atomic_load(&ops[k]);
    printf("soak: RSS %ld -> %ld KiB (highest %ld, warm-up %ld), fds %d -> %d "
           "(highest %d, warm-up %d), %ld operations, %ld errors\n",
           rss_first, rss_last, rss_max, rss_warm, fds_first, fds_last,
           fds_max, fds_warm, total, errors);
    if (!warm && !cfg->verdict[0])
        snprintf(cfg->verdict, sizeof cfg->verdict,
                 "the run ended before the warm-up did");
    if (errors && !cfg->verdict[0])
        snprintf(cfg->verdict, sizeof cfg->verdict, "%ld errors, first: %s",
                 errors, first_error);
out:
    if (run) {
        int r = weft_web_runner_shutdown(run, 1.0);
        if (r && r != -EALREADY && !cfg->verdict[0])
            snprintf(cfg->verdict, sizeof cfg->verdict,
                     "web runner shutdown: %s", weft_err_name(r));
        weft_web_runner_free(run);
    }
    if (app)
        weft_web_app_free(app);
    if (tls)
        weft_server_close(tls, 1.0);
    if (echo)
        weft_server_close(echo, 1.0);
    return st;
}

/* ---- main ---------------------------------------------------------------------------- */

static char certs_dir[] = "/tmp/weft-soak-certs-XXXXXX";

static void make_tls(void) {
#ifdef MAKE_CERTS
    if (!mkdtemp(certs_dir))
        return;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sh %s %s >/dev/null 2>&1", MAKE_CERTS,
             certs_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "soak: could not make certificates: no TLS\n");
        return;
    }
    certs = certs_dir;
    char cert[300], key[300], ca[300];
    snprintf(cert, sizeof cert, "%s/server.crt", certs);
    snprintf(key, sizeof key, "%s/server.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    weft_tls_opts_t so, co;
    memset(&so, 0, sizeof so);
    memset(&co, 0, sizeof co);
    so.cert_file = cert;
    so.key_file = key;
    co.ca_file = ca;
    if (weft_tls_server_ctx(&tls_server, &so) < 0 ||
        weft_tls_client_ctx(&tls_client, &co) < 0)
        fprintf(stderr, "soak: no TLS contexts: no TLS\n");
#endif
}

static void rm_dir(const char *dir) {
    if (!dir[0] || strncmp(dir, "/tmp/", 5) != 0)
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "soak: could not remove %s\n", dir);
}

int main(int argc, char **argv) {
    struct cfg cfg = {.seconds = 300, .sample = 5, .warmup = -1};
    int opt;
    while ((opt = getopt(argc, argv, "m:s:w:")) != -1) {
        double v = atof(optarg);
        if (!(v > 0) && !(opt == 'w' && v == 0)) {
            fprintf(stderr, "soak: -%c wants a positive number\n", opt);
            return 2;
        }
        if (opt == 'm')
            cfg.seconds = v * 60;
        else if (opt == 's')
            cfg.sample = v;
        else if (opt == 'w')
            cfg.warmup = v;
        else {
            fprintf(stderr, "usage: soak [-m MINUTES] [-s SAMPLE_SECONDS] "
                            "[-w WARMUP_SECONDS]\n");
            return 2;
        }
    }
    /* The warm-up: a quarter of the run, at most 30 s. */
    if (cfg.warmup < 0)
        cfg.warmup = fmin(30, cfg.seconds / 4);
    if (cfg.warmup + cfg.sample > cfg.seconds) {
        fprintf(stderr, "soak: the run must outlast the warm-up by a sample\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cfg.fds0 = count_fds();
    make_tls();
    const char *tmp = getenv("TMPDIR");
    snprintf(watch_dir, sizeof watch_dir, "%s/weft-soak-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(watch_dir)) {
        fprintf(stderr, "soak: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    printf("soak: %.1f minutes, a sample every %.0f s, warm-up %.0f s%s%s\n",
           cfg.seconds / 60, cfg.sample, cfg.warmup,
           tls_client ? "" : " (no TLS)",
           sanitized ? " (ASan: RSS not judged)" : "");
    int fds_before = count_fds();
    int st = weft_run(soak_main, &cfg);
    int fds_after = count_fds();
    if (!cfg.verdict[0] && st)
        snprintf(cfg.verdict, sizeof cfg.verdict, "weft_run: %s",
                 weft_err_name(st));
    if (!cfg.verdict[0] && fds_after != fds_before)
        snprintf(cfg.verdict, sizeof cfg.verdict,
                 "%d descriptors left open after the loop closed",
                 fds_after - fds_before);
    weft_tls_ctx_free(tls_server);
    weft_tls_ctx_free(tls_client);
    rm_dir(watch_dir);
    if (certs)
        rm_dir(certs_dir);
    if (cfg.verdict[0]) {
        printf("soak: FAILED: %s\n", cfg.verdict);
        return 1;
    }
    printf("soak: ok\n");
    return 0;
}
