/* System calls failing with the errors the kernel returns (issue 13),
 * through tests/faults/sysfail.c linked into this program: its accept4,
 * send, mmap, pthread_create ... take the place of libc's for weft's
 * calls. Each test makes one kind of call fail and checks that the caller
 * gets a clear error, that nothing is left open, and that the loop goes on
 * serving another connection or task. Servers bind 127.0.0.1 on an
 * ephemeral port; the few real-time waits (the server's 0.1 s pause after
 * EMFILE) are bounded and no assertion is about time. */
#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <unistd.h>

#include "faults/sysfail.h"
#include "support.h"
#include <weft/exec.h>
#include <weft/fswatch.h>
#include <weft/net.h>
#include <weft/proc.h>
#include <weft/signal.h>
#include <weft/tls.h>
#include <weft/web.h>

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    ck_assert_ptr_nonnull(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

/* Log lines containing a needle, counted (any level). */
static const char *log_needle;
static int log_hits;

static void log_count(int level, const char *msg, void *arg) {
    (void)level;
    (void)arg;
    if (log_needle && strstr(msg, log_needle))
        log_hits++;
}

static void log_watch(const char *needle) {
    log_needle = needle;
    log_hits = 0;
    weft_set_log_handler(log_count, NULL, NULL);
}

/* ---- an echo server that remembers its connections' descriptors ----------- */

static int server_fds[16];
static int nserver_fds;
static int handler_errors;

static int echo_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    if (nserver_fds < 16)
        server_fds[nserver_fds++] = weft_stream_fd(s);
    char buf[256];
    for (;;) {
        ssize_t n = weft_stream_read(s, buf, sizeof buf);
        if (n <= 0) {
            handler_errors += n < 0;
            return (int)n;
        }
        int err = weft_stream_write(s, buf, (size_t)n);
        if (!err)
            err = weft_stream_drain(s);
        if (err) {
            handler_errors++;
            return err;
        }
    }
}

static weft_server_t *start_echo(char port[8]) {
    weft_server_t *srv;
    nserver_fds = handler_errors = 0;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", echo_handler, NULL, NULL));
    snprintf(port, 8, "%d", weft_server_port(srv));
    /* Let the acceptor run and park: calls counted from here on are the
     * ones a connection causes. */
    for (int i = 0; i < 3; i++)
        weft_yield();
    return srv;
}

/* Write msg on c and read it back. Returns 0 or the first error. */
static int echo_on(weft_stream_t *c, const char *msg) {
    size_t len = strlen(msg);
    int err = weft_stream_write(c, msg, len);
    if (!err)
        err = weft_stream_drain(c);
    if (err)
        return err;
    char buf[64];
    ssize_t n = weft_stream_read_exactly(c, buf, len);
    if (n < 0)
        return (int)n;
    ck_assert_int_eq(memcmp(buf, msg, len), 0);
    return 0;
}

/* A fresh connection that echoes: the server still serves. */
static void assert_serves(const char *port) {
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(c, "still here"));
    ck_assert_ok(weft_stream_close(c));
}

/* ---- EINTR and EAGAIN --------------------------------------------------------- */

static int eintr_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);
    ck_assert_ok(sysfail_add("accept4", EINTR, 1, 2));
    ck_assert_ok(sysfail_add("recv", EINTR, 1, 2));
    ck_assert_ok(sysfail_add("send", EINTR, 1, 2));
    ck_assert_ok(sysfail_add("sendmsg", EINTR, 1, 1));
    ck_assert_ok(sysfail_add("epoll_pwait2", EINTR, 1, 3));
    ck_assert_ok(sysfail_add("epoll_wait", EINTR, 1, 3));
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(c, "interrupted"));
    struct iovec v[2] = {{"ab", 2}, {"cd", 2}};
    ck_assert_int_eq(weft_stream_writev(c, v, 2), 4);
    char buf[4];
    ck_assert_int_eq(weft_stream_read_exactly(c, buf, 4), 4);
    ck_assert_int_eq(memcmp(buf, "abcd", 4), 0);
    /* Each was injected, and retried. */
    ck_assert_int_eq(sysfail_failed("accept4"), 2);
    ck_assert_int_eq(sysfail_failed("recv"), 2);
    ck_assert_int_eq(sysfail_failed("send"), 2);
    ck_assert_int_eq(sysfail_failed("sendmsg"), 1);
    ck_assert_int_ge(sysfail_failed("epoll_pwait2") +
                         sysfail_failed("epoll_wait"), 1);
    sysfail_clear();
    ck_assert_ok(weft_stream_close(c));
    assert_serves(port);
    ck_assert_int_eq(handler_errors, 0);
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(eintr_is_retried) {
    int fds = count_fds();
    ck_assert_ok(weft_run(eintr_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A spurious EAGAIN (another process took the connection or the data, as
 * with a listening socket shared across processes): the task waits for
 * the next edge, and that one is served. */
static int late_writer(void *arg) {
    weft_sleep(0.05);
    return weft_stream_write(arg, "cd", 2);
}

static int first_client(void *arg) {
    const char *port = arg;
    weft_stream_t *c;
    int err = weft_open_connection(&c, "127.0.0.1", port, NULL);
    if (err)
        return err;
    err = echo_on(c, "first");
    weft_stream_close(c);
    return err;
}

static int eagain_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);

    /* Reading: the first recv on the client says EAGAIN although the
     * echo is there; the late writer's bytes bring the next edge. */
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    ck_assert_ok(sysfail_add_fd("recv", weft_stream_fd(c), EAGAIN, 1, 1));
    ck_assert_ok(weft_stream_write(c, "ab", 2));
    weft_task_t *w;
    ck_assert_ok(weft_spawn(&w, late_writer, c, NULL));
    char buf[4];
    ck_assert_int_eq(weft_stream_read_exactly(c, buf, 4), 4);
    ck_assert_int_eq(memcmp(buf, "abcd", 4), 0);
    ck_assert_int_eq(sysfail_failed("recv"), 1);
    ck_assert_ok(weft_join(w));
    weft_task_release(w);
    ck_assert_ok(weft_stream_close(c));

    /* Accepting: the first connection's accept4 says EAGAIN; the
     * acceptor takes it with the second one's edge. */
    ck_assert_ok(sysfail_add("accept4", EAGAIN, 1, 1));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, first_client, port, NULL));
    weft_sleep(0.05);
    ck_assert_int_eq(sysfail_failed("accept4"), 1);
    assert_serves(port);
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    sysfail_clear();
    ck_assert_int_eq(handler_errors, 0);
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(a_spurious_eagain_waits_for_the_next_edge) {
    int fds = count_fds();
    ck_assert_ok(weft_run(eagain_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- sends: ENOBUFS, ENOMEM, EPIPE; receives: ECONNRESET ------------------ */

static int send_errors_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);
    weft_stream_t *a, *b;
    ck_assert_ok(weft_open_connection(&a, "127.0.0.1", port, NULL));
    ck_assert_ok(weft_open_connection(&b, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(a, "a"));
    ck_assert_ok(echo_on(b, "b"));

    /* The client's send: ENOBUFS reaches the writer (write or drain). */
    ck_assert_ok(sysfail_add_fd("send", weft_stream_fd(a), ENOBUFS, 1, 1));
    ck_assert_err(echo_on(a, "lost"), -ENOBUFS);
    /* and stays: the stream is broken, as after any write error. */
    ck_assert_err(weft_stream_write(a, "x", 1), -ENOBUFS);
    ck_assert_ok(echo_on(b, "b still"));
    weft_stream_close(a);

    /* writev goes out with sendmsg: ENOMEM. */
    ck_assert_ok(sysfail_add_fd("sendmsg", weft_stream_fd(b), ENOMEM, 1, 1));
    struct iovec v[2] = {{"ab", 2}, {"cd", 2}};
    ck_assert_int_eq(weft_stream_writev(b, v, 2), -ENOMEM);
    weft_stream_close(b);
    assert_serves(port);

    /* A reset read on one connection, EPIPE writing another. */
    ck_assert_ok(weft_open_connection(&a, "127.0.0.1", port, NULL));
    ck_assert_ok(weft_open_connection(&b, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(a, "a"));
    /* (the reset comes with an edge, as a real one does: the echo's) */
    ck_assert_ok(sysfail_add_fd("recv", weft_stream_fd(a), ECONNRESET, 1, 1));
    ck_assert_ok(weft_stream_write(a, "x", 1));
    char buf[8];
    ck_assert_int_eq(weft_stream_read(a, buf, sizeof buf), -ECONNRESET);
    ck_assert_ok(echo_on(b, "b"));
    ck_assert_ok(sysfail_add_fd("send", weft_stream_fd(b), EPIPE, 1, 1));
    ck_assert_err(echo_on(b, "b"), -EPIPE);
    weft_stream_close(a);
    weft_stream_close(b);
    assert_serves(port);
    /* (a closed with the echoed "x" unread: its handler saw a real reset) */
    handler_errors = 0;

    /* The server's side: its handler's read is reset on one connection,
     * its write fails with ENOBUFS on another; each peer sees its
     * connection end, a third one is served. */
    ck_assert_ok(weft_open_connection(&a, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(a, "a"));
    int sa = server_fds[nserver_fds - 1];
    ck_assert_ok(weft_open_connection(&b, "127.0.0.1", port, NULL));
    ck_assert_ok(echo_on(b, "b"));
    int sb = server_fds[nserver_fds - 1];
    ck_assert_ok(sysfail_add_fd("recv", sa, ECONNRESET, 1, 1));
    ck_assert_ok(sysfail_add_fd("send", sb, ENOBUFS, 1, 1));
    ck_assert_int_le(echo_on(a, "reset"), 0); /* the end: EOF or an error */
    ck_assert_int_ne(echo_on(b, "nobufs"), 0);
    ck_assert_int_eq(handler_errors, 2);
    ck_assert_int_eq(sysfail_failed("recv"), 2);
    sysfail_clear();
    weft_stream_close(a);
    weft_stream_close(b);
    assert_serves(port);
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(send_and_receive_errors_reach_their_caller_only) {
    int fds = count_fds();
    ck_assert_ok(weft_run(send_errors_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- accept: EMFILE and friends ----------------------------------------------- */

static int emfile_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);
    log_watch("accept failed");
    /* Out of descriptors for as long as it lasts: the acceptor pauses
     * (0.1 s) between tries instead of spinning on the pending
     * connection's level. */
    ck_assert_ok(sysfail_add("accept4", EMFILE, 1, -1));
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, NULL));
    ck_assert_ok(weft_stream_write(c, "queued", 6));
    weft_sleep(0.35);
    long tries = sysfail_calls("accept4");
    ck_assert_int_ge(tries, 1);
    ck_assert_int_le(tries, 10); /* ~4 in 0.35 s; a spin makes thousands */
    ck_assert_int_ge(log_hits, 1);
    /* Descriptors come back: the connection waiting all along is served. */
    sysfail_clear();
    char buf[6];
    ck_assert_int_eq(weft_stream_read_exactly(c, buf, 6), 6);
    ck_assert_int_eq(memcmp(buf, "queued", 6), 0);
    ck_assert_ok(weft_stream_close(c));

    /* ENFILE, ENOBUFS and ENOMEM, once each: paused and recovered. */
    static const int errs[] = {ENFILE, ENOBUFS, ENOMEM};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_ok(sysfail_add("accept4", errs[i], 1, 1));
        assert_serves(port);
        ck_assert_int_eq(sysfail_failed("accept4"), 1);
        sysfail_clear();
    }
    /* A connection's own error (ECONNABORTED): skipped, no pause. */
    ck_assert_ok(sysfail_add("accept4", ECONNABORTED, 1, 1));
    assert_serves(port);
    sysfail_clear();
    ck_assert_int_eq(handler_errors, 0);
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(accept_out_of_descriptors_pauses_and_recovers) {
    int fds = count_fds();
    ck_assert_ok(weft_run(emfile_main, NULL));
    weft_set_log_handler(NULL, NULL, NULL); /* (after the close's summary) */
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- descriptors a call opens ------------------------------------------------- */

static int opens_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);
    weft_loop_t *loop = weft_loop_current();
    weft_stream_t *c = (weft_stream_t *)1, *d = (weft_stream_t *)1;

    ck_assert_ok(sysfail_add("socket", EMFILE, 1, 1));
    ck_assert_err(weft_open_connection(&c, "127.0.0.1", port, NULL), -EMFILE);
    ck_assert_ptr_null(c);
    assert_serves(port);

    weft_server_t *s2 = (weft_server_t *)1;
    ck_assert_ok(sysfail_add("socket", ENFILE, 1, 1));
    ck_assert_err(weft_start_server(loop, &s2, "127.0.0.1", "0", echo_handler,
                                    NULL, NULL),
                  -ENFILE);
    ck_assert_ok(sysfail_add("socketpair", EMFILE, 1, 1));
    ck_assert_err(weft_stream_pair(loop, &c, &d, NULL), -EMFILE);
    ck_assert_ptr_null(c);
    ck_assert_ptr_null(d);

    /* Registering with the poller: ENOMEM / ENOSPC (max_user_watches). */
    ck_assert_ok(sysfail_add("epoll_ctl", ENOSPC, 1, 1));
    ck_assert_err(weft_open_connection(&c, "127.0.0.1", port, NULL), -ENOSPC);
    assert_serves(port);
    /* The server's side: the accepted socket cannot be registered; that
     * connection is dropped (the peer sees it end) and the next served. */
    int raw = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(raw, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)atoi(port)),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    log_watch("dropped a connection");
    while (weft_server_connections(srv) > 0) /* (their closes' DELs) */
        weft_sleep(0.001);
    sysfail_clear();
    ck_assert_ok(sysfail_add("epoll_ctl", ENOMEM, 1, 1));
    ck_assert_int_eq(connect(raw, (struct sockaddr *)&sin, sizeof sin), 0);
    weft_sleep(0.05);
    ck_assert_int_eq(sysfail_failed("epoll_ctl"), 1);
    ck_assert_int_eq(log_hits, 1);
    weft_set_log_handler(NULL, NULL, NULL);
    ck_assert_ok(weft_stream_from_fd(loop, &c, raw, NULL));
    char buf[4];
    ck_assert_int_le(weft_stream_read(c, buf, sizeof buf), 0);
    weft_stream_close(c);
    assert_serves(port);
    sysfail_clear();
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(sockets_that_cannot_be_opened_fail_the_call) {
    int fds = count_fds();
    ck_assert_ok(weft_run(opens_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static int proc_run(weft_loop_t *loop, const char *out_mode_pipe) {
    const char *argv[] = {"/bin/sh", "-c", "echo hi", NULL};
    weft_proc_opts_t o;
    memset(&o, 0, sizeof o);
    o.stdout_mode = out_mode_pipe ? WEFT_PROC_PIPE : WEFT_PROC_DEVNULL;
    weft_proc_t *p = (weft_proc_t *)1;
    int err = weft_proc_exec(loop, &p, argv, &o);
    if (err) {
        ck_assert_ptr_null(p);
        return err;
    }
    if (out_mode_pipe) {
        char buf[8];
        ck_assert_int_eq(weft_stream_read_exactly(weft_proc_stdout(p), buf, 3),
                         3);
        ck_assert_int_eq(memcmp(buf, "hi\n", 3), 0);
    }
    int rc = -1;
    ck_assert_ok(weft_proc_wait(p, &rc));
    ck_assert_int_eq(rc, 0);
    weft_proc_free(p);
    return 0;
}

/* No child left behind: everything started was reaped. */
static void assert_no_children(void) {
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

static int proc_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_ok(sysfail_add("pipe2", EMFILE, 1, 1));
    ck_assert_err(proc_run(loop, "pipe"), -EMFILE);
    ck_assert_ok(sysfail_add("posix_spawn", EAGAIN, 1, 1));
    ck_assert_err(proc_run(loop, NULL), -EAGAIN);
    assert_no_children();
    /* Without pidfd_open (Linux < 5.3) a timerfd paces the polls ... */
    ck_assert_ok(sysfail_add("pidfd_open", ENOSYS, 1, -1));
    ck_assert_ok(proc_run(loop, "pipe"));
    /* ... and when that cannot be made either, the child is killed and
     * reaped and the caller gets the error. */
    ck_assert_ok(sysfail_add("timerfd_create", EMFILE, 1, 1));
    ck_assert_err(proc_run(loop, NULL), -EMFILE);
    assert_no_children();
    sysfail_clear();
    ck_assert_ok(proc_run(loop, "pipe"));
    return 0;
}

START_TEST(subprocess_descriptors_and_spawn_failing) {
    int fds = count_fds();
    ck_assert_ok(weft_run(proc_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static void on_usr1(int sig, void *arg) {
    (void)sig;
    (void)arg;
}

START_TEST(loops_signals_and_watchers_that_cannot_open) {
    int fds = count_fds();
    weft_loop_t *loop = (weft_loop_t *)1;
    ck_assert_ok(sysfail_add("epoll_create1", EMFILE, 1, 1));
    ck_assert_err(weft_loop_new(&loop, NULL), -EMFILE);
    ck_assert_ok(sysfail_add("eventfd", ENFILE, 1, 1));
    ck_assert_err(weft_loop_new(&loop, NULL), -ENFILE);
    ck_assert_int_eq(count_fds(), fds);
    ck_assert_ok(weft_loop_new(&loop, NULL));

    ck_assert_ok(sysfail_add("eventfd", EMFILE, 1, 1));
    weft_signal_id_t id;
    ck_assert_err(weft_signal_add(loop, SIGUSR1, on_usr1, NULL, &id), -EMFILE);
    ck_assert_ok(weft_signal_add(loop, SIGUSR1, on_usr1, NULL, &id));
    ck_assert_ok(weft_signal_remove(loop, id));

    char dir[256];
    snprintf(dir, sizeof dir, "%s/weft-sysfail-XXXXXX", tmp_dir());
    ck_assert_ptr_nonnull(mkdtemp(dir));
    weft_fswatch_t *w = (weft_fswatch_t *)1;
    ck_assert_ok(sysfail_add("inotify_init1", EMFILE, 1, 1));
    ck_assert_err(weft_fswatch_open(loop, dir, 0, &w), -EMFILE);
    ck_assert_ptr_null(w);
    ck_assert_ok(sysfail_add("inotify_add_watch", ENOSPC, 1, 1));
    ck_assert_err(weft_fswatch_open(loop, dir, 0, &w), -ENOSPC);
    ck_assert_ok(weft_fswatch_open(loop, dir, 0, &w));
    weft_fswatch_close(w);
    rm_tree(dir);
    sysfail_clear();
    weft_loop_free(loop);
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- stacks and threads --------------------------------------------------------- */

static int ran;

static int tiny(void *arg) {
    (void)arg;
    ran++;
    return 7;
}

static int stacks_main(void *arg) {
    (void)arg;
    /* A stack size no task has used yet: its pool maps a new chunk. */
    weft_spawn_opts_t o = {.stack_size = 200 * 1024};
    weft_task_t *t = (weft_task_t *)1;
    ck_assert_ok(sysfail_add("mmap", ENOMEM, 1, 1));
    ck_assert_err(weft_spawn(&t, tiny, NULL, &o), -ENOMEM);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(ran, 0); /* fn never runs */
    ck_assert_ok(weft_spawn(&t, tiny, NULL, &o));
    ck_assert_int_eq(weft_join(t), 7);
    weft_task_release(t);
    /* No guard page (mprotect failing): the task runs unguarded. */
    o.stack_size = 300 * 1024;
    ck_assert_ok(sysfail_add("mprotect", ENOMEM, 1, -1));
    ck_assert_ok(weft_spawn(&t, tiny, NULL, &o));
    ck_assert_int_eq(weft_join(t), 7);
    weft_task_release(t);
    ck_assert_int_eq(ran, 2);
    sysfail_clear();
    return 0;
}

START_TEST(a_stack_that_cannot_be_mapped_fails_the_spawn) {
    ck_assert_ok(weft_run(stacks_main, NULL));
}
END_TEST

static int job(void *arg, void **value) {
    *value = arg;
    return 0;
}

static int exec_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    weft_pool_opts_t po = {.threads = 4};
    weft_pool_t *pool;
    ck_assert_ok(weft_pool_new(&pool, &po));
    /* No thread at all: the job is refused with -EAGAIN. */
    ck_assert_ok(sysfail_add("pthread_create", EAGAIN, 1, -1));
    weft_future_t *f = (weft_future_t *)1;
    ck_assert_err(weft_run_in_executor(loop, pool, job, NULL, &f), -EAGAIN);
    ck_assert_ptr_null(f);
    sysfail_clear();
    /* One thread, the others failing: every job runs, on fewer threads. */
    ck_assert_ok(sysfail_add("pthread_create", EAGAIN, 2, -1));
    weft_future_t *fs[8];
    for (intptr_t i = 0; i < 8; i++)
        ck_assert_ok(weft_run_in_executor(loop, pool, job, (void *)i, &fs[i]));
    for (intptr_t i = 0; i < 8; i++) {
        void *v;
        ck_assert_ok(weft_await(fs[i], &v));
        ck_assert_ptr_eq(v, (void *)i);
        weft_future_release(fs[i]);
    }
    ck_assert_int_ge(sysfail_failed("pthread_create"), 1);
    ck_assert_uint_eq(sysfail_calls("pthread_create") -
                          sysfail_failed("pthread_create"), 1);
    sysfail_clear();
    ck_assert_ok(weft_pool_shutdown(pool, 0));
    weft_pool_free(pool);
    return 0;
}

START_TEST(an_executor_without_threads) {
    ck_assert_ok(weft_run(exec_main, NULL));
}
END_TEST

/* ---- TLS: a reset handshake, a send failing under the record layer ------- */

static char certs[64];

static int tls_main(void *arg) {
    (void)arg;
    char cert[128], key[128], ca[128];
    snprintf(cert, sizeof cert, "%s/server.crt", certs);
    snprintf(key, sizeof key, "%s/server.key", certs);
    snprintf(ca, sizeof ca, "%s/ca.crt", certs);
    weft_tls_opts_t so = {.cert_file = cert, .key_file = key};
    weft_tls_opts_t co = {.ca_file = ca};
    weft_tls_ctx_t *sctx, *cctx;
    ck_assert_ok(weft_tls_server_ctx(&sctx, &so));
    ck_assert_ok(weft_tls_client_ctx(&cctx, &co));
    weft_server_opts_t sopts = {.tls = sctx};
    weft_server_t *srv;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                   "0", echo_handler, NULL, &sopts));
    char port[8];
    snprintf(port, sizeof port, "%d", weft_server_port(srv));
    for (int i = 0; i < 3; i++)
        weft_yield();
    weft_connect_opts_t copts = {.tls = cctx, .server_name = "localhost"};
    weft_stream_t *c;

    /* The handshake's first read, whichever side makes it, is reset: the
     * client's call fails, the server drops the connection. */
    ck_assert_ok(sysfail_add("recv", ECONNRESET, 1, 1));
    int err = weft_open_connection(&c, "127.0.0.1", port, &copts);
    ck_assert_int_lt(err, 0);
    ck_assert_int_eq(sysfail_failed("recv"), 1);
    sysfail_clear();

    /* A record that cannot be sent: the writer gets the error. */
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &copts));
    ck_assert_ok(echo_on(c, "over tls"));
    ck_assert_ok(sysfail_add_fd("send", weft_stream_fd(c), ENOBUFS, 1, 1));
    ck_assert_err(echo_on(c, "lost"), -ENOBUFS);
    sysfail_clear();
    weft_stream_close(c);

    /* And the next connection is served. */
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &copts));
    ck_assert_ok(echo_on(c, "over tls again"));
    ck_assert_ok(weft_stream_close(c));
    ck_assert_ok(weft_server_close(srv, 1.0));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(tls_reset_in_the_handshake_and_a_failing_send) {
    if (!certs[0]) {
        fprintf(stderr, "test_sysfail: no certificates: TLS skipped\n");
        return;
    }
    int fds = count_fds();
    ck_assert_ok(weft_run(tls_main, NULL));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* weft_web_run_app with three worker loops, the second thread failing to
 * start: the error comes back, the first worker is stopped and joined,
 * nothing is left open. */
static int hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, "hello");
}

static int listened;

static void on_listening(int port, void *arg) {
    (void)port;
    (void)arg;
    listened++;
}

START_TEST(web_worker_threads_that_cannot_start) {
    int fds = count_fds();
    weft_web_app_t *app;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/", hello, NULL, NULL));
    weft_web_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.workers = 3;
    o.on_listening = on_listening;
    ck_assert_ok(sysfail_add("pthread_create", EAGAIN, 2, -1));
    ck_assert_err(weft_web_run_app(app, "127.0.0.1", "0", &o), -EAGAIN);
    ck_assert_int_eq(sysfail_calls("pthread_create"), 2);
    ck_assert_int_eq(listened, 0); /* it never said it was serving */
    sysfail_clear();
    ck_assert_ok(weft_web_app_free(app));
    ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* ---- the poller itself ------------------------------------------------------------ */

static int poll_main(void *arg) {
    (void)arg;
    char port[8];
    weft_server_t *srv = start_echo(port);
    /* A wait that fails for another reason than a signal: said once,
     * and the loop goes on polling. */
    log_watch("epoll_wait");
    ck_assert_ok(sysfail_add("epoll_pwait2", ENOMEM, 1, 1));
    ck_assert_ok(sysfail_add("epoll_wait", ENOMEM, 1, 1));
    assert_serves(port);
    ck_assert_int_eq(log_hits, 1);
    weft_set_log_handler(NULL, NULL, NULL);
    sysfail_clear();
    ck_assert_ok(weft_server_close(srv, 1.0));
    return 0;
}

START_TEST(a_failing_poll_is_logged_and_polled_again) {
    ck_assert_ok(weft_run(poll_main, NULL));
}
END_TEST

/* One case per test, so CK_RUN_CASE=<name> runs one. */
static void add_case(Suite *s, const char *name, const TTest *test) {
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test);
    suite_add_tcase(s, tc);
}

#define CASE(t) add_case(s, #t, t)

static Suite *sysfail_suite(void) {
    Suite *s = suite_create("sysfail");
    CASE(eintr_is_retried);
    CASE(a_spurious_eagain_waits_for_the_next_edge);
    CASE(send_and_receive_errors_reach_their_caller_only);
    CASE(accept_out_of_descriptors_pauses_and_recovers);
    CASE(sockets_that_cannot_be_opened_fail_the_call);
    CASE(subprocess_descriptors_and_spawn_failing);
    CASE(loops_signals_and_watchers_that_cannot_open);
    CASE(a_stack_that_cannot_be_mapped_fails_the_spawn);
    CASE(an_executor_without_threads);
    CASE(tls_reset_in_the_handshake_and_a_failing_send);
    CASE(web_worker_threads_that_cannot_start);
    CASE(a_failing_poll_is_logged_and_polled_again);
    return s;
}

/* The certificates are made once, before the tests fork (Check runs each
 * in its own process, which inherits the directory). */
int main(void) {
    /* The shim fails the system calls of the epoll backend (recv, send,
     * epoll_*). On io_uring the kernel makes those inside the ring and
     * returns their errors in completions, which no shim can reach: the
     * suite's io_uring pass runs these on epoll too. */
    setenv("WEFT_BACKEND", "epoll", 1);
    snprintf(certs, sizeof certs, "/tmp/weft-sysfail-XXXXXX");
    char cmd[256];
    if (mkdtemp(certs)) {
        snprintf(cmd, sizeof cmd, "sh %s %s >/dev/null 2>&1", MAKE_CERTS,
                 certs);
        if (system(cmd) != 0) {
            rm_tree(certs);
            certs[0] = 0;
        }
    } else {
        certs[0] = 0;
    }
    SRunner *sr = srunner_create(sysfail_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (certs[0])
        rm_tree(certs);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
