/* The internal I/O operation layer (src/task/io.h) over epoll: reads wait
 * for writers, writers wait for room, connect/accept, and every wait can be
 * cancelled or cut by a deadline. Uses only loopback and pipes. */
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"
#include "task/io.h"

static void nonblock(int fd) {
    ck_assert_int_ge(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

struct pipe_ctx {
    int fds[2];
    struct weft__io rd, wr;
    char got[64];
    ssize_t n;
    int order[4];
    int norder;
};

static int writer(void *arg) {
    struct pipe_ctx *p = arg;
    p->order[p->norder++] = 1;
    ck_assert_int_eq(weft_sleep(2.0), 0); /* the reader is parked meanwhile */
    p->order[p->norder++] = 2;
    ck_assert_int_eq(weft__op_write(&p->wr, "hello", 5), 5);
    return 0;
}

static int reader_main(void *arg) {
    struct pipe_ctx *p = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_int_eq(pipe2(p->fds, O_CLOEXEC), 0);
    nonblock(p->fds[0]);
    nonblock(p->fds[1]);
    ck_assert_ok(weft__io_open(loop, &p->rd, p->fds[0]));
    ck_assert_ok(weft__io_open(loop, &p->wr, p->fds[1]));
    weft_task_t *w;
    ck_assert_ok(weft_spawn(&w, writer, p, NULL));
    p->n = weft__op_read(&p->rd, p->got, sizeof p->got);
    p->order[p->norder++] = 3;
    ck_assert_ok(weft_join(w));
    weft_task_release(w);
    weft__io_close(loop, &p->rd);
    weft__io_close(loop, &p->wr);
    close(p->fds[0]);
    close(p->fds[1]);
    return 0;
}

START_TEST(read_waits_for_the_writer) {
    struct pipe_ctx p = {0};
    ck_assert_ok(run_virtual(reader_main, &p));
    ck_assert_int_eq(p.n, 5);
    ck_assert_int_eq(memcmp(p.got, "hello", 5), 0);
    ck_assert_int_eq(p.norder, 3);
    ck_assert_int_eq(p.order[0], 1);
    ck_assert_int_eq(p.order[1], 2);
    ck_assert_int_eq(p.order[2], 3);
}
END_TEST

/* A read nobody answers: cut by a deadline, then by a cancellation. */
static int slow_peer_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds),
                     0);
    struct weft__io io;
    ck_assert_ok(weft__io_open(loop, &io, fds[0]));
    char b[8];
    weft_scope_t s;
    ck_assert_ok(weft_scope_enter(&s, 1.5, 0));
    ck_assert_err((int)weft__op_read(&io, b, sizeof b), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&s), -ETIMEDOUT);
    ck_assert_double_eq_tol(weft_loop_time(loop), 1.5, 1e-9);
    /* The peer speaks: the same io works after a timed-out wait. */
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(weft__op_read(&io, b, sizeof b), 1);
    weft__io_close(loop, &io);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

START_TEST(a_read_deadline_fires) {
    ck_assert_ok(run_virtual(slow_peer_main, NULL));
}
END_TEST

struct cancel_ctx {
    struct weft__io io;
    int result;
};

static int blocked_reader(void *arg) {
    struct cancel_ctx *c = arg;
    char b[4];
    c->result = (int)weft__op_read(&c->io, b, sizeof b);
    return c->result;
}

static int cancel_main(void *arg) {
    (void)arg;
    weft_loop_t *loop = weft_loop_current();
    int fds[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds),
                     0);
    struct cancel_ctx c = {.result = 1};
    ck_assert_ok(weft__io_open(loop, &c.io, fds[0]));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, blocked_reader, &c, NULL));
    ck_assert_ok(weft_sleep(1.0));
    ck_assert_int_eq(c.result, 1); /* still waiting */
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_err(weft_join(t), -ECANCELED);
    ck_assert_err(c.result, -ECANCELED);
    weft_task_release(t);
    /* A reader parked when the io is closed is told -EBADF. */
    c.result = 1;
    ck_assert_ok(weft_spawn(&t, blocked_reader, &c, NULL));
    ck_assert_ok(weft_yield());
    weft__io_close(loop, &c.io);
    ck_assert_err(weft_join(t), -EBADF);
    weft_task_release(t);
    close(fds[0]);
    close(fds[1]);
    return 0;
}

START_TEST(a_parked_read_is_cancelled_or_closed) {
    ck_assert_ok(run_virtual(cancel_main, NULL));
}
END_TEST

/* A writer on a full pipe waits for the reader to make room. */
static int drain_reader(void *arg) {
    struct pipe_ctx *p = arg;
    ck_assert_ok(weft_sleep(1.0));
    static char buf[65536]; /* not on the task's 64 KiB stack */
    size_t total = 0;
    while (total < 300000) {
        ssize_t n = weft__op_read(&p->rd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        total += (size_t)n;
    }
    return 0;
}

static int full_pipe_main(void *arg) {
    struct pipe_ctx *p = arg;
    weft_loop_t *loop = weft_loop_current();
    ck_assert_int_eq(pipe2(p->fds, O_CLOEXEC | O_NONBLOCK), 0);
    ck_assert_ok(weft__io_open(loop, &p->rd, p->fds[0]));
    ck_assert_ok(weft__io_open(loop, &p->wr, p->fds[1]));
    weft_task_t *r;
    ck_assert_ok(weft_spawn(&r, drain_reader, p, NULL));
    static char chunk[100000];
    memset(chunk, 'z', sizeof chunk);
    for (int i = 0; i < 3; i++) {
        size_t off = 0;
        while (off < sizeof chunk) {
            ssize_t n = weft__op_write(&p->wr, chunk + off, sizeof chunk - off);
            ck_assert_int_gt(n, 0);
            off += (size_t)n;
        }
    }
    /* The pipe holds 64 KiB: the writer had to wait for the reader, who
     * only starts after one virtual second. */
    ck_assert_double_ge(weft_loop_time(loop), 1.0);
    ck_assert_ok(weft_join(r));
    weft_task_release(r);
    weft__io_close(loop, &p->rd);
    weft__io_close(loop, &p->wr);
    close(p->fds[0]);
    close(p->fds[1]);
    return 0;
}

START_TEST(a_writer_waits_for_room) {
    struct pipe_ctx p = {0};
    ck_assert_ok(run_virtual(full_pipe_main, &p));
}
END_TEST

/* connect and accept over loopback TCP. */
struct tcp_ctx {
    struct weft__io lis;
    int port;
    char got[16];
};

static int tcp_server(void *arg) {
    struct tcp_ctx *c = arg;
    weft_loop_t *loop = weft_loop_current();
    int fd = weft__op_accept(&c->lis, NULL, NULL, 0);
    ck_assert_int_ge(fd, 0);
    struct weft__io io;
    ck_assert_ok(weft__io_open(loop, &io, fd));
    ssize_t n = weft__op_read(&io, c->got, sizeof c->got);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(weft__op_write(&io, "pong", 4), 4);
    weft__io_close(loop, &io);
    close(fd);
    return 0;
}

static int tcp_main(void *arg) {
    struct tcp_ctx *c = arg;
    weft_loop_t *loop = weft_loop_current();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(lfd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    socklen_t sl = sizeof sa;
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    ck_assert_ok(weft__io_open(loop, &c->lis, lfd));
    weft_task_t *srv;
    ck_assert_ok(weft_spawn(&srv, tcp_server, c, NULL));

    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct weft__io cio;
    ck_assert_ok(weft__io_open(loop, &cio, cfd));
    ck_assert_ok(weft__op_connect(&cio, (struct sockaddr *)&sa, sizeof sa));
    ck_assert_int_eq(weft__op_write(&cio, "ping", 4), 4);
    char b[8];
    ck_assert_int_eq(weft__op_read(&cio, b, sizeof b), 4);
    ck_assert_int_eq(memcmp(b, "pong", 4), 0);
    ck_assert_ok(weft_join(srv));
    weft_task_release(srv);
    ck_assert_int_eq(memcmp(c->got, "ping", 4), 0);
    /* Connecting to a port nobody listens on is refused. */
    weft__io_close(loop, &c->lis);
    close(lfd);
    weft__io_close(loop, &cio);
    close(cfd);
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_ok(weft__io_open(loop, &cio, cfd));
    ck_assert_err(weft__op_connect(&cio, (struct sockaddr *)&sa, sizeof sa),
                  -ECONNREFUSED);
    weft__io_close(loop, &cio);
    close(cfd);
    return 0;
}

START_TEST(connect_and_accept_on_loopback) {
    struct tcp_ctx c = {0};
    ck_assert_ok(weft_run(tcp_main, &c));
}
END_TEST

static Suite *io_suite(void) {
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("ops");
    tcase_add_test(tc, read_waits_for_the_writer);
    tcase_add_test(tc, a_read_deadline_fires);
    tcase_add_test(tc, a_parked_read_is_cancelled_or_closed);
    tcase_add_test(tc, a_writer_waits_for_room);
    tcase_add_test(tc, connect_and_accept_on_loopback);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(io_suite)
