/* Internal: I/O as operations.
 *
 * Tasks ask for operations ("read up to n bytes from this fd", "accept",
 * "connect", "wait until writable"), not for readiness callbacks. With the
 * epoll backend an operation is tried at once and, on EAGAIN, the task
 * parks until the fd's next edge; an io_uring backend will submit the same
 * operations and park until their completion. The layers above (streams,
 * servers, subprocess pipes) use only these calls, so adding io_uring does
 * not touch them or the public API.
 *
 * All calls are made from a task of the loop that owns the weft__io, and
 * return >= 0 or a negative errno (-ECANCELED / -ETIMEDOUT when a
 * cancellation or deadline interrupted the wait). The fd must be
 * non-blocking; the caller owns it (weft__io_close does not close it).
 */
#ifndef WEFT_TASK_IO_H
#define WEFT_TASK_IO_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "task_int.h"

/* A task waiting for readiness (on its stack, in io->waiters); its
 * weft__wait's kind is WEFT__WAIT_IO, and `events` says which (read by the
 * task dump and the gdb extension). */
struct weft__io_waiter {
    struct weft__wait w;
    struct weft__list link; /* in io->waiters */
    uint32_t events;        /* WEFT__IO_IN and/or WEFT__IO_OUT */
    uint32_t seen;
};

/* Register a non-blocking fd with the loop. Returns 0, or the errno of
 * epoll_ctl (-EPERM for regular files, which are always ready). */
int weft__io_open(weft_loop_t *loop, struct weft__io *io, int fd);

/* The notifier weft__io_open installs: wakes the tasks waiting for the
 * events that came. A module may install its own in io->notify (after
 * weft__io_open) and call this one from it. */
void weft__io_notify(weft_loop_t *loop, struct weft__io *io, uint32_t ev);

/* Unregister: tasks still waiting on it are woken with -EBADF. */
void weft__io_close(weft_loop_t *loop, struct weft__io *io);
/* weft__io_close, and close the fd too: on io_uring, when it can, with
 * the loop's next io_uring_enter (no system call now; the fd's number
 * stays taken until then). Not for a listening socket, whose close must
 * refuse connections at once. */
void weft__io_close_fd(weft_loop_t *loop, struct weft__io *io);

/* Park until the fd is readable (WEFT__IO_IN) and/or writable
 * (WEFT__IO_OUT), or has an error or hang-up. Returns the events seen. */
int weft__io_wait(struct weft__io *io, uint32_t events);
/* The abort of weft__io_wait's wait (a weft__io_waiter in io->waiters):
 * it leaves the list. For a backend that parks on an fd in a frame of its
 * own (uring.c's multishot recv, which waits whatever is latched). */
int weft__io_abort(struct weft__wait *w);

/* weft__io_open for a stream socket whose reads the backend completes
 * itself, if it can (io_uring): weft__op_recv then submits the recv (or
 * takes what the fd's multishot recv queued, uring.c) and parks until a
 * completion, and no edge is waited for first (WEFT__IO_DIRECT). Its input is not watched (WEFT__IO_NOIN) until a
 * weft__io_wait asks for it. */
int weft__io_open_direct(weft_loop_t *loop, struct weft__io *io, int fd);

/* The io_uring backend's recv (sock) or read, completed by the kernel
 * (src/loop/uring.c). When it returns bytes although the task was
 * interrupted meanwhile (the recv completed as its cancel was asked for),
 * *late (if late) is set to the interruption: the caller keeps the bytes
 * for the next read and reports *late. */
ssize_t weft__uring_recv(struct weft__io *io, void *buf, size_t len,
                         bool sock, int *late);
/* The io_uring backend's recv into a buffer of WEFT__READ_CHUNK bytes
 * that the kernel picks from the loop's provided ones when bytes arrive
 * (src/loop/uring.c): with n > 0 bytes, *buf is that buffer, the caller's
 * from now on (weft__free, or loop->rbufs). -ENOBUFS when the loop had
 * none left, -EOPNOTSUPP when it cannot provide buffers: read into a
 * buffer of one's own then. *late as for weft__uring_recv. */
ssize_t weft__uring_recv_pick(struct weft__io *io, char **buf, int *late);
/* A stream socket that stops reading through weft__uring_recv_pick and
 * weft__uring_recv (a TLS upgrade, a peek): its multishot recv, if one
 * runs, is cancelled and awaited, and the bytes it took and nobody has
 * read are handed over (weft__uring_ms_take) so that they come before
 * the socket's. 0, or a negative errno: the wait's interruption, -EBADF
 * (closed meanwhile), -EPERM (not in a task). */
int weft__uring_ms_stop(struct weft__io *io);
/* Bytes the multishot recv took and nobody has read yet: copies up to
 * len of them into buf and returns how many (0: none). With buf NULL,
 * only says how many there are. */
size_t weft__uring_ms_take(weft_loop_t *loop, struct weft__io *io,
                           char *buf, size_t len);
/* Whether the multishot recv has taken bytes nobody has read, or ended
 * (the peer's end of stream, an error) without anybody reading that yet:
 * a connection idle in a pool is then no longer usable. */
bool weft__uring_ms_pending(weft_loop_t *loop, const struct weft__io *io);
/* Whether the operation the wait w is for (a weft__uring_recv) may write
 * into [lo, hi): then its task must not hibernate. */
bool weft__uring_op_within(const struct weft__wait *w, const char *lo,
                           const char *hi);

/* A send the io_uring backend makes for a stream socket from memory the
 * caller keeps unchanged until done(ctx, res) is called from the loop
 * (res: bytes sent, or a negative errno; -ECANCELED when the fd was
 * unregistered under it). The caller goes on at once: nobody parks.
 * Returns the request, or NULL (no memory, or no io_uring: the caller
 * sends another way). A caller that goes away first detaches it. */
struct weft__usend;

/* Work for just before the loop's next io_uring_enter (io_uring only):
 * a stream's send is prepared there, once for all the writes its tasks
 * made in the iteration. A node that is on the list stays once. */
struct weft__later {
    struct weft__list link; /* weft__list_init'ed by its owner */
    void (*fn)(struct weft__later *l);
};
void weft__uring_later(weft_loop_t *loop, struct weft__later *l);

struct weft__usend *weft__uring_send(weft_loop_t *loop, int fd,
                                     const void *buf, size_t len,
                                     void (*done)(void *ctx, int res),
                                     void *ctx);
/* The request's owner goes away: done is not called, and `orphan` (the
 * memory the kernel may still read, or NULL) is freed with weft__free
 * when the request completes (or the ring ends). */
void weft__uring_send_detach(struct weft__usend *op, void *orphan);

ssize_t weft__op_read(struct weft__io *io, void *buf, size_t len);
/* recv(2) with no flags: read(2) for sockets, without the VFS layer's
 * file-position and read_iter steps. *late: see weft__uring_recv (set
 * only by io_uring's recv). */
ssize_t weft__op_recv(struct weft__io *io, void *buf, size_t len, int *late);
ssize_t weft__op_write(struct weft__io *io, const void *buf, size_t len);
ssize_t weft__op_readv(struct weft__io *io, const struct iovec *iov, int n);
ssize_t weft__op_writev(struct weft__io *io, const struct iovec *iov, int n);
ssize_t weft__op_recvmsg(struct weft__io *io, struct msghdr *msg, int flags);
ssize_t weft__op_sendmsg(struct weft__io *io, const struct msghdr *msg,
                         int flags);
/* accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC added to flags. Returns the
 * new fd. */
int weft__op_accept(struct weft__io *io, struct sockaddr *addr,
                    socklen_t *len, int flags);
/* sendfile(2): copy up to count bytes of in_fd from *offset. */
ssize_t weft__op_sendfile(struct weft__io *io, int in_fd, off_t *offset,
                          size_t count);
/* Connect and wait for the outcome (SO_ERROR). */
int weft__op_connect(struct weft__io *io, const struct sockaddr *addr,
                     socklen_t len);

/* ---- files on io_uring (src/fs/file.c) ---------------------------------------- */

/* One file operation, submitted as one io_uring request. */
enum weft__fop_kind {
    WEFT__FOP_OPEN,  /* openat(fd, path, flags, mode); fd AT_FDCWD */
    WEFT__FOP_READ,  /* fd, buf, len, off ((uint64_t)-1: the position) */
    WEFT__FOP_WRITE, /* the same */
    WEFT__FOP_FSYNC, /* fd; flags 1: datasync */
    WEFT__FOP_STATX, /* statx(fd, path, flags, mask = mode, buf) */
    WEFT__FOP_CLOSE, /* fd; not interruptible */
    WEFT__FOP_OPENAT2, /* openat2(fd, path, buf: a struct open_how) */
};

struct weft__fop {
    uint8_t kind;
    int fd;
    int flags;
    unsigned mode;
    const char *path;
    void *buf;
    size_t len;
    uint64_t off;
};

/* Submit `op` on the io_uring of t's loop and park t until it completes
 * (a WEFT__WAIT_FILE wait on `obj`). An interruption cancels the request
 * in the kernel and still waits for its completion; a completion that won
 * the race is returned (the wait consumes). Returns the result, or
 * -ENOSYS where the loop has no io_uring. */
int weft__uring_file(struct weft_task *t, const struct weft__fop *op,
                     const void *obj);

#endif
