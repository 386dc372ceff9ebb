/* I/O operations over the epoll backend: try the system call, and on
 * EAGAIN park until the fd's next edge-triggered event. */
#include "io.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

void weft__io_notify(weft_loop_t *loop, struct weft__io *io, uint32_t ev) {
    (void)loop;
    if (WEFT__UNLIKELY(io->sleeper))
        weft__task_thaw(io->sleeper);
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &io->waiters) {
        struct weft__io_waiter *iw =
            WEFT__CONTAINER_OF(pos, struct weft__io_waiter, link);
        uint32_t hit = ev & (iw->events | WEFT__IO_ERR | WEFT__IO_HUP);
        if (!hit)
            continue;
        weft__list_remove(&iw->link);
        iw->seen = hit;
        iw->w.task->loop->io_waiters--;
        weft__task_wake(iw->w.task, (int)hit);
    }
}

static int io_open(weft_loop_t *loop, struct weft__io *io, int fd,
                   uint32_t bits) {
    io->fd = fd;
    io->ready = bits; /* the backend reads them as it registers the fd */
    io->notify = weft__io_notify;
    io->sleeper = NULL;
    weft__list_init(&io->waiters);
    return weft__poller_add(loop, io);
}

int weft__io_open(weft_loop_t *loop, struct weft__io *io, int fd) {
    return io_open(loop, io, fd, 0);
}

int weft__io_open_direct(weft_loop_t *loop, struct weft__io *io, int fd) {
    return io_open(loop, io, fd,
                   loop->uring ? WEFT__IO_DIRECT | WEFT__IO_NOIN : 0);
}

/* Wake everyone waiting on io, whose fd is gone. */
static void io_woken(weft_loop_t *loop, struct weft__io *io) {
    if (io->sleeper)
        weft__task_thaw(io->sleeper);
    struct weft__list *n;
    while ((n = weft__list_pop_front(&io->waiters))) {
        struct weft__io_waiter *iw =
            WEFT__CONTAINER_OF(n, struct weft__io_waiter, link);
        loop->io_waiters--;
        weft__task_wake(iw->w.task, -EBADF);
    }
    io->fd = -1;
}

void weft__io_close(weft_loop_t *loop, struct weft__io *io) {
    weft__poller_del(loop, io);
    io_woken(loop, io);
}

void weft__io_close_fd(weft_loop_t *loop, struct weft__io *io) {
    if (io->fd >= 0 && !(loop->uring && weft__uring_del_close(loop, io))) {
        weft__poller_del(loop, io);
        close(io->fd);
    }
    io_woken(loop, io);
}

int weft__io_abort(struct weft__wait *w) {
    struct weft__io_waiter *iw = WEFT__CONTAINER_OF(w, struct weft__io_waiter, w);
    weft__list_remove(&iw->link);
    w->task->loop->io_waiters--;
    return 0;
}

int weft__io_wait(struct weft__io *io, uint32_t events) {
    struct weft_task *t = weft__task_require("weft I/O");
    if (!t)
        return -EPERM;
    if (io->fd < 0)
        return -EBADF;
    /* Readiness already latched by an edge we have not consumed. */
    uint32_t have = io->ready & (events | WEFT__IO_ERR | WEFT__IO_HUP);
    if (have && !(t->pending & WEFT__PEND_INT))
        return (int)have;
    /* A direct socket waited for as a readiness one (TLS, a peek): its
     * input is watched from now on, and the new watch reports bytes that
     * are there already, as the first one would have. */
    if (WEFT__UNLIKELY((events & WEFT__IO_IN) && (io->ready & WEFT__IO_NOIN)))
        weft__uring_want_in(t->loop, io);
    struct weft__io_waiter iw = {
        .w = {.abort = weft__io_abort, .kind = WEFT__WAIT_IO, .obj = io},
        .events = events};
    /* Readiness consumes nothing (the data stays in the kernel until the
     * retried call reads it), so a cancel that comes with the event wins. */
    weft__list_push_back(&io->waiters, &iw.link);
    t->loop->io_waiters++;
    return weft__park(&iw.w);
}

/* The common shape: run `op` until it does not say EAGAIN, waiting for
 * `events` in between; consumed readiness is cleared first so the next
 * edge is awaited. Each operation counts in the loop's I/O operations
 * (one add to the thread's run queue block). */
#define RETRY(io, events, call)                                                \
    do {                                                                       \
        weft__tls_rq.io_ops++;                                                 \
        for (;;) {                                                             \
            ssize_t r_ = (call);                                               \
            if (r_ >= 0)                                                       \
                return r_;                                                     \
            int e_ = errno;                                                    \
            if (e_ == EINTR)                                                   \
                continue;                                                      \
            if (e_ != EAGAIN && e_ != EWOULDBLOCK)                             \
                return -e_;                                                    \
            (io)->ready &= ~(uint32_t)(events);                                \
            int w_ = weft__io_wait((io), (events));                            \
            if (w_ < 0)                                                        \
                return w_;                                                     \
        }                                                                      \
    } while (0)

ssize_t weft__op_read(struct weft__io *io, void *buf, size_t len) {
    RETRY(io, WEFT__IO_IN, read(io->fd, buf, len));
}

ssize_t weft__op_recv(struct weft__io *io, void *buf, size_t len,
                      int *late) {
    if (io->ready & WEFT__IO_DIRECT)
        return weft__uring_recv(io, buf, len, true, late);
    RETRY(io, WEFT__IO_IN, recv(io->fd, buf, len, 0));
}

ssize_t weft__op_write(struct weft__io *io, const void *buf, size_t len) {
    RETRY(io, WEFT__IO_OUT, write(io->fd, buf, len));
}

ssize_t weft__op_readv(struct weft__io *io, const struct iovec *iov, int n) {
    RETRY(io, WEFT__IO_IN, readv(io->fd, iov, n));
}

ssize_t weft__op_writev(struct weft__io *io, const struct iovec *iov, int n) {
    RETRY(io, WEFT__IO_OUT, writev(io->fd, iov, n));
}

ssize_t weft__op_recvmsg(struct weft__io *io, struct msghdr *msg, int flags) {
    RETRY(io, WEFT__IO_IN, recvmsg(io->fd, msg, flags | MSG_DONTWAIT));
}

ssize_t weft__op_sendmsg(struct weft__io *io, const struct msghdr *msg,
                         int flags) {
    RETRY(io, WEFT__IO_OUT,
          sendmsg(io->fd, msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL));
}

int weft__op_accept(struct weft__io *io, struct sockaddr *addr,
                    socklen_t *len, int flags) {
    RETRY(io, WEFT__IO_IN,
          accept4(io->fd, addr, len, flags | SOCK_NONBLOCK | SOCK_CLOEXEC));
}

ssize_t weft__op_sendfile(struct weft__io *io, int in_fd, off_t *offset,
                          size_t count) {
    RETRY(io, WEFT__IO_OUT, sendfile(io->fd, in_fd, offset, count));
}

int weft__op_connect(struct weft__io *io, const struct sockaddr *addr,
                     socklen_t len) {
    weft__tls_rq.io_ops++;
    if (connect(io->fd, addr, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    for (;;) {
        int w = weft__io_wait(io, WEFT__IO_OUT);
        if (w < 0)
            return w;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(io->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            return -errno;
        if (err == 0)
            return 0;
        if (err != EINPROGRESS && err != EALREADY)
            return -err;
        io->ready &= ~(uint32_t)WEFT__IO_OUT;
    }
}
