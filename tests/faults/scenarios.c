/* The scenarios of the fault-injection harness: a representative slice
 * of weft, each on a loop of its own, each cleaning up on every path (see
 * scenarios.h). Kept small: the harness runs each of them once per
 * allocation and once per suspension point. */
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <math.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include <weft.h>
#include <weft/client.h>
#include <weft/web.h>
#include <weft/ws.h>

#include "handlers.h"
#include "scenarios.h"

const char *faults_certs;

struct scoped {
    weft_task_fn fn;
    void *arg;
};

/* The main task runs inside a scope without a deadline: one for the
 * harness's deadline mode to expire. */
static int scoped_main(void *arg) {
    struct scoped *m = arg;
    weft_scope_t sc;
    int r = weft_scope_enter(&sc, INFINITY, 0);
    if (r < 0)
        return r;
    r = m->fn(m->arg);
    int e = weft_scope_exit(&sc);
    return r < 0 ? r : e;
}

static int run_on(weft_task_fn fn, void *arg, bool virtual_clock) {
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    if (virtual_clock)
        o.loop.flags = WEFT_LOOP_VIRTUAL_CLOCK;
    struct scoped m = {fn, arg};
    return weft_run_opts(scoped_main, &m, &o);
}

/* ---- loop and timers -------------------------------------------------------- */

struct timers {
    int ran;
};

static void tick(void *arg) {
    ((struct timers *)arg)->ran++;
}

static void stop_cb(void *arg) {
    weft_loop_stop(arg);
}

static int sc_loop_timers(void) {
    weft_loop_t *loop;
    weft_loop_opts_t lo = {.flags = WEFT_LOOP_VIRTUAL_CLOCK};
    int r = weft_loop_new(&loop, &lo);
    if (r < 0)
        return r;
    struct timers t = {0};
    int st = 0;
    weft_handle_t h;
    KEEP(&st, weft_call_soon(loop, tick, &t, NULL));
    KEEP(&st, weft_call_later(loop, 0.5, tick, &t, NULL));
    KEEP(&st, weft_call_at(loop, 0.25, tick, &t, NULL));
    r = weft_call_later(loop, 0.75, tick, &t, &h);
    KEEP(&st, r);
    if (r == 0)
        CHECK(weft_handle_cancel(loop, h) == 0);
    for (int i = 0; i < 8; i++)
        KEEP(&st, weft_call_later(loop, 0.1 * i, tick, &t, NULL));
    /* A burst: the timer heap grows to 1024 slots, and shrinks as they
     * go: to 512 at 256 timers and to 256 at 128 timers (with the 10
     * above, after 482 cancels), where the first round stops and the
     * second grows it again at once. */
    static weft_handle_t burst[2][600];
    int n[2] = {0, 0};
    for (int round = 0; round < 2; round++) {
        for (; n[round] < 600; n[round]++)
            if (weft_call_later(loop, 2 + n[round], tick, &t,
                                &burst[round][n[round]]) < 0)
                break;
        for (int i = 0; i < (round ? n[1] : n[0] < 482 ? n[0] : 482); i++)
            CHECK(weft_handle_cancel(loop, burst[round][i]) == 0);
        if (n[round] < 600)
            KEEP(&st, -ENOMEM);
    }
    for (int i = 482; i < n[0]; i++)
        CHECK(weft_handle_cancel(loop, burst[0][i]) == 0);
    r = weft_call_later(loop, 1, stop_cb, loop, NULL);
    KEEP(&st, r);
    if (r == 0)
        KEEP(&st, weft_loop_run_forever(loop));
    KEEP(&st, weft_loop_close(loop));
    weft_loop_free(loop);
    if (st == 0)
        CHECK(t.ran == 11);
    return st;
}

static int sleeper(void *arg) {
    (void)arg;
    int r = weft_sleep(0.01);
    if (r < 0)
        return r;
    return weft_yield();
}

static int sc_sleep_main(void *arg) {
    (void)arg;
    int r = weft_sleep(0.5);
    if (r < 0)
        return r;
    return sleeper(NULL);
}

static int sc_sleep(void) {
    return run_on(sc_sleep_main, NULL, true);
}

/* ---- spawn and join --------------------------------------------------------- */

static int child_value(void *arg) {
    int r = weft_sleep(0.01 * (double)(intptr_t)arg);
    if (r < 0)
        return r;
    weft_task_set_value(arg);
    return (int)(intptr_t)arg;
}

static int sc_spawn_main(void *arg) {
    (void)arg;
    weft_task_t *t[4] = {0};
    int st = 0;
    for (intptr_t i = 0; i < 4; i++)
        KEEP(&st, weft_spawn(&t[i], child_value, (void *)i, NULL));
    /* A detached one: the loop's close collects it. */
    KEEP(&st, weft_spawn(NULL, sleeper, NULL, NULL));
    for (int i = 0; i < 4; i++) {
        if (!t[i])
            continue;
        void *v = NULL;
        int r = weft_join_value(t[i], &v);
        KEEP(&st, r);
        if (r >= 0)
            CHECK(r == i && v == (void *)(intptr_t)i);
        weft_task_release(t[i]);
    }
    return st;
}

static int sc_spawn_join(void) {
    return run_on(sc_spawn_main, NULL, true);
}

/* ---- gather, groups, wait_for ---------------------------------------------- */

static int fails(void *arg) {
    (void)arg;
    int r = weft_sleep(0.02);
    return r < 0 ? r : -EIO;
}

static int forever(void *arg) {
    (void)arg;
    return weft_sleep(INFINITY);
}

static int sc_gather_main(void *arg) {
    (void)arg;
    int st = 0;
    weft_call_t calls[3] = {
        {.fn = child_value, .arg = (void *)1},
        {.fn = child_value, .arg = (void *)2},
        {.fn = sleeper},
    };
    int r = weft_gather_calls(calls, 3, 0, NULL);
    KEEP(&st, r);
    if (r == 0)
        CHECK(calls[0].status == 1 && calls[1].status == 2);

    /* The first failure cancels the rest. */
    weft_call_t bad[2] = {{.fn = fails}, {.fn = forever}};
    r = weft_gather_calls(bad, 2, 0, NULL);
    if (r != -EIO)
        KEEP(&st, r);

    /* A group: a failing child cancels its siblings. */
    weft_group_t g;
    r = weft_group_enter(&g);
    if (r < 0)
        return st ? st : r;
    KEEP(&st, weft_group_spawn(&g, NULL, child_value, (void *)1, NULL));
    KEEP(&st, weft_group_spawn(&g, NULL, forever, NULL, NULL));
    KEEP(&st, weft_group_spawn(&g, NULL, fails, NULL, NULL));
    r = weft_group_exit(&g);
    if (r != -EIO)
        KEEP(&st, r);

    /* wait_for: a timeout cancels the task. */
    weft_task_t *t;
    r = weft_spawn(&t, forever, NULL, NULL);
    KEEP(&st, r);
    if (r == 0) {
        r = weft_wait_for(weft_task_future(t), 0.05, NULL);
        if (r != -ETIMEDOUT)
            KEEP(&st, r);
        CHECK(weft_task_done(t));
        weft_task_release(t);
    }
    return st;
}

static int sc_gather_groups(void) {
    return run_on(sc_gather_main, NULL, true);
}

/* ---- scopes and shield ------------------------------------------------------ */

static int sc_scope_main(void *arg) {
    (void)arg;
    int st = 0;
    weft_scope_t outer, inner;
    int r = weft_scope_enter(&outer, 1.0, 0);
    if (r < 0)
        return r;
    r = weft_scope_enter(&inner, 0.1, 0);
    if (r == 0) {
        r = weft_sleep(10);
        CHECK(r != 0); /* the scope was entered: its deadline must fire */
        if (r != -ETIMEDOUT)
            KEEP(&st, r);
        r = weft_scope_exit(&inner);
        if (r != -ETIMEDOUT)
            KEEP(&st, r);
    } else {
        KEEP(&st, r);
    }
    r = weft_sleep(0.1);
    KEEP(&st, r);
    r = weft_scope_exit(&outer);
    KEEP(&st, r);

    /* A shielded task survives its waiter's timeout. */
    weft_task_t *t;
    r = weft_spawn(&t, child_value, (void *)3, NULL);
    KEEP(&st, r);
    if (r == 0) {
        weft_future_t *sh;
        r = weft_shield(weft_task_future(t), &sh);
        KEEP(&st, r);
        if (r == 0) {
            r = weft_wait_for(sh, 0.01, NULL);
            if (r != -ETIMEDOUT)
                KEEP(&st, r);
            weft_future_release(sh);
        }
        r = weft_join(t);
        KEEP(&st, r);
        if (r >= 0)
            CHECK(r == 3);
        weft_task_release(t);
    }
    return st;
}

static int sc_scopes(void) {
    return run_on(sc_scope_main, NULL, true);
}

/* ---- queues and locks ------------------------------------------------------- */

#define NITEMS 40

struct qstate {
    weft_queue_t q;
    weft_lock_t lock;
    weft_event_t ev;
    weft_sem_t sem;
    int inside;   /* tasks inside the lock: never more than one */
    int put, got; /* items */
    long sum_put, sum_got;
};

static int producer(void *arg) {
    struct qstate *s = arg;
    for (intptr_t i = 1; i <= NITEMS; i++) {
        int r = weft_queue_put(&s->q, (void *)i);
        if (r < 0)
            return r;
        s->put++;
        s->sum_put += i;
    }
    return weft_queue_shutdown(&s->q, false, NULL, NULL);
}

static int consumer(void *arg) {
    struct qstate *s = arg;
    for (;;) {
        void *item;
        int r = weft_queue_get(&s->q, &item);
        if (r == -ESHUTDOWN)
            return 0;
        if (r < 0)
            return r;
        s->got++;
        s->sum_got += (intptr_t)item;
        weft_queue_task_done(&s->q);
        r = weft_lock_acquire(&s->lock);
        if (r < 0)
            return r;
        CHECK(++s->inside == 1);
        r = weft_sem_acquire(&s->sem);
        if (r == 0) {
            r = weft_yield();
            weft_sem_release(&s->sem);
        }
        CHECK(--s->inside == 0);
        weft_lock_release(&s->lock);
        if (r < 0)
            return r;
    }
}

static void drop_item(void *item, void *arg) {
    struct qstate *s = arg;
    s->got++;
    s->sum_got += (intptr_t)item;
}

static int sc_queue_main(void *arg) {
    (void)arg;
    struct qstate s;
    memset(&s, 0, sizeof s);
    weft_queue_init(&s.q, 4);
    weft_lock_init(&s.lock);
    weft_event_init(&s.ev);
    weft_sem_init(&s.sem, 1);
    int st = 0;
    weft_call_t calls[3] = {
        {.fn = producer, .arg = &s},
        {.fn = consumer, .arg = &s},
        {.fn = consumer, .arg = &s},
    };
    KEEP(&st, weft_gather_calls(calls, 3, 0, NULL));
    for (int i = 0; i < 3; i++)
        KEEP(&st, calls[i].status);
    /* Invariants whatever happened: nothing lost, nothing held. */
    CHECK(!weft_lock_locked(&s.lock));
    CHECK(weft_sem_value(&s.sem) == 1);
    CHECK(weft_queue_destroy(&s.q, drop_item, &s) == 0);
    CHECK(s.got == s.put && s.sum_got == s.sum_put);
    if (st == 0)
        CHECK(s.put == NITEMS);
    weft_lock_destroy(&s.lock);
    weft_event_destroy(&s.ev);
    weft_sem_destroy(&s.sem);
    return st;
}

static int sc_queues_locks(void) {
    return run_on(sc_queue_main, NULL, false);
}

/* ---- the executor ----------------------------------------------------------- */

static int job(void *arg, void **value) {
    *value = arg;
    return 7;
}

static int sc_exec_main(void *arg) {
    (void)arg;
    int st = 0;
    void *v = NULL;
    int r = weft_to_thread(job, (void *)5, &v);
    KEEP(&st, r);
    if (r >= 0)
        CHECK(r == 7 && v == (void *)5);
    weft_future_t *f[3] = {0};
    for (int i = 0; i < 3; i++)
        KEEP(&st, weft_run_in_executor(weft_loop_current(), NULL, job,
                                       (void *)(intptr_t)i, &f[i]));
    for (int i = 0; i < 3; i++) {
        if (!f[i])
            continue;
        r = weft_await(f[i], &v);
        KEEP(&st, r);
        if (r >= 0)
            CHECK(r == 7 && v == (void *)(intptr_t)i);
        weft_future_release(f[i]);
    }
    weft_pool_t *pool;
    weft_pool_opts_t po = {.threads = 2};
    r = weft_pool_new(&pool, &po);
    KEEP(&st, r);
    if (r == 0) {
        weft_job_opts_t jo;
        memset(&jo, 0, sizeof jo);
        jo.pool = pool;
        r = weft_to_thread_opts(job, (void *)9, &jo, &v);
        KEEP(&st, r);
        if (r >= 0)
            CHECK(v == (void *)9);
        weft_pool_shutdown(pool, 0);
        weft_pool_free(pool);
    }
    return st;
}

static int sc_executor(void) {
    return run_on(sc_exec_main, NULL, false);
}

/* ---- streams and servers ---------------------------------------------------- */

static int echo_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    char buf[256];
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0)
            return (int)n;
        int r = weft_stream_write(s, buf, (size_t)n);
        if (r < 0)
            return r;
    }
}

/* Write a message and read it back; 0, or the error. */
static int echo_once(weft_stream_t *s, size_t len) {
    char out[2048], in[2048];
    CHECK(len <= sizeof out);
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + i % 26);
    int r = weft_stream_write(s, out, len);
    if (r < 0)
        return r;
    ssize_t n = weft_stream_read_exactly(s, in, len);
    if (n < 0)
        return (int)n;
    if ((size_t)n != len)
        return -ECONNRESET; /* cut short: the server's error */
    CHECK(memcmp(in, out, len) == 0);
    return 0;
}

static int sc_stream_main(void *arg) {
    weft_tls_ctx_t *const *ctx = arg; /* NULL: plain; else {server, client} */
    int st = 0;
    weft_server_t *srv;
    weft_server_opts_t so;
    memset(&so, 0, sizeof so);
    so.tls = ctx ? ctx[0] : NULL;
    int r = weft_start_server(weft_loop_current(), &srv, "127.0.0.1", "0",
                              echo_handler, NULL, &so);
    if (r < 0)
        return r;
    char port[16];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    for (int i = 0; i < 2; i++) {
        weft_stream_t *c;
        weft_connect_opts_t co;
        memset(&co, 0, sizeof co);
        co.tls = ctx ? ctx[1] : NULL;
        co.server_name = "localhost";
        r = weft_open_connection(&c, "127.0.0.1", port, &co);
        if (r < 0) {
            KEEP(&st, r);
            continue;
        }
        r = echo_once(c, 100);
        if (r == 0)
            r = echo_once(c, 2000); /* not after an error: bytes unread */
        KEEP(&st, r);
        KEEP(&st, weft_stream_close(c));
    }
    KEEP(&st, weft_server_close(srv, 1.0));
    if (ctx)
        return st;

    /* A socket pair and UDP. */
    weft_stream_t *a, *b;
    r = weft_stream_pair(weft_loop_current(), &a, &b, NULL);
    KEEP(&st, r);
    if (r == 0) {
        r = weft_stream_write(a, "ping", 4);
        KEEP(&st, r);
        char buf[4];
        if (r == 0) {
            ssize_t n = weft_stream_read_exactly(b, buf, 4);
            KEEP(&st, (int)n);
            if (n == 4)
                CHECK(memcmp(buf, "ping", 4) == 0);
        }
        KEEP(&st, weft_stream_close(a));
        KEEP(&st, weft_stream_close(b));
    }
    weft_udp_t *u1, *u2;
    r = weft_udp_open(&u1, "127.0.0.1", "0", NULL, NULL, 0, 0);
    KEEP(&st, r);
    if (r == 0) {
        r = weft_udp_open(&u2, "127.0.0.1", "0", NULL, NULL, 0, 0);
        KEEP(&st, r);
        if (r == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            CHECK(weft_udp_sockname(u2, &ss, &sl) == 0);
            ssize_t n = weft_udp_sendto(u1, "dgram", 5,
                                        (struct sockaddr *)&ss, sl);
            KEEP(&st, (int)n);
            if (n == 5) {
                char buf[8];
                n = weft_udp_recvfrom(u2, buf, sizeof buf, NULL, NULL);
                KEEP(&st, (int)n);
                if (n >= 0)
                    CHECK(n == 5 && memcmp(buf, "dgram", 5) == 0);
            }
            weft_udp_close(u2);
        }
        weft_udp_close(u1);
    }
    return st;
}

static int sc_streams(void) {
    return run_on(sc_stream_main, NULL, false);
}

/* ---- TLS -------------------------------------------------------------------- */

static int make_ctx(weft_tls_ctx_t *ctx[2]) {
    char cert[512], key[512], ca[512];
    snprintf(cert, sizeof cert, "%s/server.crt", faults_certs);
    snprintf(key, sizeof key, "%s/server.key", faults_certs);
    snprintf(ca, sizeof ca, "%s/ca.crt", faults_certs);
    weft_tls_opts_t so, co;
    memset(&so, 0, sizeof so);
    memset(&co, 0, sizeof co);
    so.cert_file = cert;
    so.key_file = key;
    co.ca_file = ca;
    int r = weft_tls_server_ctx(&ctx[0], &so);
    if (r < 0)
        return r;
    r = weft_tls_client_ctx(&ctx[1], &co);
    if (r < 0) {
        weft_tls_ctx_free(ctx[0]);
        return r;
    }
    return 0;
}

static int sc_tls(void) {
    if (!faults_certs)
        return 0;
    weft_tls_ctx_t *ctx[2];
    int r = make_ctx(ctx);
    if (r < 0)
        return r;
    r = run_on(sc_stream_main, ctx, false);
    weft_tls_ctx_free(ctx[0]);
    weft_tls_ctx_free(ctx[1]);
    return r;
}

/* ---- DNS -------------------------------------------------------------------- */

/* A DNS server for the scenario: every A question gets 127.0.0.1, any
 * other an empty answer. */
static int dns_server(void *arg) {
    weft_udp_t *u = arg;
    for (;;) {
        unsigned char q[512], a[512];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = weft_udp_recvfrom(u, q, sizeof q, &from, &fl);
        if (n < 0)
            return n == -ECANCELED ? 0 : (int)n;
        size_t off = 12;
        while (off < (size_t)n && q[off])
            off += (size_t)q[off] + 1;
        off += 5; /* the root label, type, class */
        if (n < 12 || off > (size_t)n || off + 16 > sizeof a)
            continue;
        bool is_a = q[off - 4] == 0 && q[off - 3] == 1;
        memcpy(a, q, off);
        a[2] = (unsigned char)(0x84 | (q[2] & 0x01)); /* QR AA, RD kept */
        a[3] = 0x80;                                  /* RA, NOERROR */
        memset(a + 4, 0, 8);
        a[5] = 1;                                     /* one question */
        a[7] = is_a;                                  /* answers */
        size_t len = off;
        if (is_a) {
            static const unsigned char rr[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0,
                                                 0,    60, 0, 4, 127, 0, 0, 1};
            memcpy(a + len, rr, sizeof rr);
            len += sizeof rr;
        }
        weft_udp_sendto(u, a, len, (struct sockaddr *)&from, fl);
    }
}

static int sc_dns_main(void *arg) {
    (void)arg;
    int st = 0;
    /* A lookup that goes to a server (ours, on loopback). */
    weft_udp_t *u;
    int r = weft_udp_open(&u, "127.0.0.1", "0", NULL, NULL, 0, 0);
    if (r < 0)
        return r;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    CHECK(weft_udp_sockname(u, &ss, &sl) == 0);
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&ss)->sin_port));
    weft_dns_opts_t dopt = {.servers = servers, .timeout = 1, .tries = 1};
    weft_task_t *srv = NULL;
    r = weft_dns_configure(weft_loop_current(), &dopt);
    if (r == 0)
        r = weft_spawn(&srv, dns_server, u, NULL);
    KEEP(&st, r);
    if (r == 0) {
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        r = weft_getaddrinfo("faults.test", "80", &hints, &ai);
        KEEP(&st, r);
        if (r == 0)
            CHECK(ai && ai->ai_family == AF_INET &&
                  ((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr ==
                      htonl(INADDR_LOOPBACK));
        weft_freeaddrinfo(ai);
    }
    if (srv) {
        weft_task_cancel(srv);
        weft_scope_t sh;
        if (weft_scope_enter(&sh, INFINITY, WEFT_SCOPE_SHIELD) == 0) {
            KEEP(&st, weft_join(srv));
            weft_scope_exit(&sh);
        }
        weft_task_release(srv);
    }
    weft_udp_close(u);
    KEEP(&st, weft_dns_set_servers(weft_loop_current(), NULL));
    static const char *const hosts[] = {"localhost", "127.0.0.1", "::1"};
    for (size_t i = 0; i < 3; i++) {
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_socktype = SOCK_STREAM;
        r = weft_getaddrinfo(hosts[i], "80", &hints, &ai);
        KEEP(&st, r);
        if (r == 0)
            CHECK(ai != NULL);
        weft_freeaddrinfo(ai);
    }
    return st;
}

static int sc_dns(void) {
    return run_on(sc_dns_main, NULL, false);
}

/* ---- subprocesses ----------------------------------------------------------- */

static int sc_proc_main(void *arg) {
    (void)arg;
    int st = 0;
    weft_proc_t *p;
    weft_proc_opts_t o;
    memset(&o, 0, sizeof o);
    o.stdin_mode = o.stdout_mode = WEFT_PROC_PIPE;
    o.stderr_mode = WEFT_PROC_DEVNULL;
    static const char *const argv[] = {"/bin/cat", NULL};
    int r = weft_proc_exec(weft_loop_current(), &p, argv, &o);
    if (r < 0)
        return r;
    weft_bytes_t out = {0};
    int rc = -1;
    r = weft_proc_communicate(p, "hello", 5, &out, NULL, &rc);
    KEEP(&st, r);
    if (r == 0)
        CHECK(rc == 0 && out.len == 5 && memcmp(out.data, "hello", 5) == 0);
    weft_free(out.data);
    if (r < 0) {
        /* Leave nothing running behind us. */
        weft_proc_kill(p);
        weft_scope_t sc;
        if (weft_scope_enter(&sc, 5, WEFT_SCOPE_SHIELD) == 0) {
            weft_proc_wait(p, NULL);
            weft_scope_exit(&sc);
        }
    }
    weft_proc_free(p);
    return st;
}

static int sc_subprocess(void) {
    return run_on(sc_proc_main, NULL, false);
}

/* ---- signals ---------------------------------------------------------------- */

static void on_usr2(int sig, void *arg) {
    (void)sig;
    (*(int *)arg)++;
}

static int sc_signal_main(void *arg) {
    (void)arg;
    int st = 0;
    weft_loop_t *loop = weft_loop_current();
    int sigs[] = {SIGUSR1};
    weft_sigrecv_t *rx;
    int r = weft_signal_open(loop, sigs, 1, &rx);
    if (r < 0)
        return r;
    int got2 = 0;
    weft_signal_id_t id;
    r = weft_signal_add(loop, SIGUSR2, on_usr2, &got2, &id);
    KEEP(&st, r);
    raise(SIGUSR1);
    int s = weft_signal_next(rx);
    if (s < 0)
        KEEP(&st, s);
    else
        CHECK(s == SIGUSR1);
    if (r == 0) {
        raise(SIGUSR2);
        for (int i = 0; i < 100 && !got2; i++) {
            int y = weft_sleep(0.001);
            if (y < 0) {
                KEEP(&st, y);
                break;
            }
        }
        if (st == 0)
            CHECK(got2 == 1);
        CHECK(weft_signal_remove(loop, id) == 0);
    }
    weft_signal_close(rx);
    return st;
}

static int sc_signals(void) {
    /* A signal that comes after the handlers are gone must not end us. */
    signal(SIGUSR1, SIG_IGN);
    signal(SIGUSR2, SIG_IGN);
    return run_on(sc_signal_main, NULL, false);
}

/* ---- file watching ---------------------------------------------------------- */

static int sc_fswatch_main(void *arg) {
    const char *dir = arg;
    int st = 0;
    weft_fswatch_t *w;
    int r = weft_fswatch_open(weft_loop_current(), dir,
                              WEFT_FSWATCH_RECURSIVE, &w);
    if (r < 0)
        return r;
    char path[600];
    snprintf(path, sizeof path, "%s/sub", dir);
    if (mkdir(path, 0700) < 0)
        CHECK(!"mkdir");
    weft_fsevent_t ev;
    r = weft_fswatch_next(w, &ev);
    KEEP(&st, r);
    if (r == 0)
        CHECK(ev.kind == WEFT_FS_CREATED);
    /* A file in the new directory: it is watched too (unless the watch
     * could not be added, which the watcher says with an error). */
    snprintf(path, sizeof path, "%s/sub/f", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    /* Its events, then a wait for one that does not come (a suspension
     * point for the cancellation modes). */
    for (int i = 0; i < 4 && st == 0; i++) {
        weft_scope_t sc;
        if (weft_scope_enter(&sc, 0.2, 0) == 0) {
            r = weft_fswatch_next(w, &ev);
            if (r != -ETIMEDOUT)
                KEEP(&st, r);
            weft_scope_exit(&sc);
            if (r == -ETIMEDOUT)
                break;
        }
    }
    weft_fswatch_close(w);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    return st;
}

static int sc_fswatch(void) {
    char dir[] = "/tmp/weft-faults-XXXXXX";
    if (!mkdtemp(dir))
        return -errno;
    int r = run_on(sc_fswatch_main, dir, false);
    char path[600];
    snprintf(path, sizeof path, "%s/sub/f", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/sub", dir);
    rmdir(path);
    rmdir(dir);
    return r;
}

/* ---- HTTP server and client ------------------------------------------------- */

static int http_client(const char *base, bool ws) {
    weft_session_t *s;
    int r = weft_session_new(&s, NULL);
    if (r < 0)
        return r;
    int st = 0;
    char url[128];
    for (int i = 0; i < 2 && !ws; i++) {
        snprintf(url, sizeof url, "%s/hello", base);
        weft_client_response_t *resp;
        r = weft_session_get(s, url, NULL, &resp);
        if (r < 0) {
            KEEP(&st, r);
            continue;
        }
        const void *body;
        ssize_t n = weft_client_body(resp, &body, 1 << 20);
        if (n < 0)
            KEEP(&st, (int)n);
        else if (weft_client_status(resp) != 200)
            KEEP(&st, -EPROTO); /* a 500: the server's allocation failed */
        else
            CHECK(n == 12 && memcmp(body, "hello, world", 12) == 0);
        weft_client_release(resp);
    }
    if (ws) {
        snprintf(url, sizeof url, "%s/ws", base);
        weft_ws_t *w;
        r = weft_ws_connect(&w, s, url, NULL);
        KEEP(&st, r);
        if (r == 0) {
            for (int i = 0; i < 2; i++) {
                r = weft_ws_send_text(w, "echo me", 7);
                if (r < 0) {
                    KEEP(&st, r);
                    break;
                }
                weft_ws_msg_t m;
                r = weft_ws_receive(w, &m);
                if (r < 0) {
                    KEEP(&st, r);
                    break;
                }
                if (m.type == WEFT_WS_CLOSE) {
                    KEEP(&st, -ECONNRESET); /* the server gave up */
                    break;
                }
                CHECK(m.len == 7 && memcmp(m.data, "echo me", 7) == 0);
            }
            r = weft_ws_close(w, 1000, "bye");
            if (r != WEFT_EWS_CLOSED)
                KEEP(&st, r);
            weft_ws_free(w);
        }
    }
    KEEP(&st, weft_session_close(s));
    return st;
}

static int sc_http_main(void *arg) {
    bool ws = arg != NULL;
    weft_web_app_t *app;
    int r = weft_web_app_new(&app, NULL);
    if (r < 0)
        return r;
    int st = 0;
    r = weft_web_route(app, "GET", "/hello", hello, NULL, NULL);
    if (r == 0)
        r = weft_web_route(app, "GET", "/ws", ws_echo, NULL, NULL);
    weft_web_runner_t *run = NULL;
    if (r == 0)
        r = weft_web_runner_new(&run, app, NULL);
    if (r == 0)
        r = weft_web_runner_setup(run);
    if (r == 0)
        r = weft_web_runner_listen(run, "127.0.0.1", "0", NULL);
    KEEP(&st, r);
    if (r == 0) {
        char base[64];
        snprintf(base, sizeof base, "http://127.0.0.1:%d",
                 weft_web_runner_port(run));
        KEEP(&st, http_client(base, ws));
    }
    if (run) {
        r = weft_web_runner_shutdown(run, 1.0);
        if (r != -EALREADY)
            KEEP(&st, r);
        weft_web_runner_free(run);
    }
    KEEP(&st, weft_web_app_free(app));
    return st;
}

static int sc_http(void) {
    return run_on(sc_http_main, NULL, false);
}

static int sc_websocket(void) {
    return run_on(sc_http_main, (void *)1, false);
}

/* ---- the table -------------------------------------------------------------- */

const struct scenario faults_scenarios[] = {
    {"loop_timers", sc_loop_timers, 1},
    {"sleep", sc_sleep, 1},
    {"spawn_join", sc_spawn_join, 1},
    {"gather_groups", sc_gather_groups, 1},
    {"scopes", sc_scopes, 1},
    {"queues_locks", sc_queues_locks, 1},
    {"executor", sc_executor, 1},
    {"streams", sc_streams, 1},
    {"tls", sc_tls, 29}, /* 14 000 allocations: 500 of them */
    {"dns", sc_dns, 1},
    {"subprocess", sc_subprocess, 1},
    {"signals", sc_signals, 1},
    {"fswatch", sc_fswatch, 1},
    {"http", sc_http, 1},
    {"websocket", sc_websocket, 1},
};
const size_t faults_nscenarios =
    sizeof faults_scenarios / sizeof faults_scenarios[0];
