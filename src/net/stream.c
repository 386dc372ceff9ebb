/* Streams: a byte stream over a non-blocking fd, with a read buffer that
 * parsers can look into (wait_data / consume) and a write buffer that is
 * flushed from the fd's readiness events, as asyncio's transports do, so
 * weft_stream_write never waits and drain() gives backpressure.
 *
 * A task inside a waiting call holds the stream (users > 0): closing it
 * then only marks it closed and wakes the waiters with -EBADF; the last one
 * out frees it. */
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net_int.h"

#define DEFAULT_LIMIT (64 * 1024)
#define DEFAULT_HIGH (64 * 1024)
#define READ_CHUNK WEFT__READ_CHUNK
#define DIRECT_READ 4096 /* reads at least this big bypass the buffer */

struct weft__drain_wait {
    struct weft__wait w;
    struct weft__list link;
    size_t below; /* wake when at most this many bytes are queued */
    bool held;    /* count the bytes held behind a writev too */
    bool paced;   /* or when the read path's bytes are sent (PACED ends) */
};

/* Bytes a drain waits for: queued, and held behind a writev/sendfile. */
static inline size_t pending(const weft_stream_t *s, bool held) {
    return s->wlen + (held ? s->hlen : 0);
}

/* ---- the write buffer, flushed from readiness events ------------------------- */

/* Sockets never raise SIGPIPE (MSG_NOSIGNAL); pipes and sendfile can, so
 * the first stream also makes SIGPIPE ignored if it was at its default, as
 * Python and Node do at startup: a peer that went away is an -EPIPE, never
 * a dead process. (Children get default dispositions back.) */
static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;

static void ignore_sigpipe(void) {
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL &&
        !(sa.sa_flags & SA_SIGINFO)) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
}

static inline ssize_t raw_write(weft_stream_t *s, const void *p, size_t n) {
    weft__tls_rq.io_ops++;
    ssize_t r = s->flags & WEFT__STREAM_SOCKET
                    ? send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
                    : write(s->fd, p, n);
    WEFT__PROBE3(stream_write, s->fd, r, s); /* r < 0: errno */
    return r;
}

static void flush_count(weft_stream_t *s, bool on) {
    bool counted = (s->flags & WEFT__STREAM_FLUSHING) != 0;
    if (on == counted)
        return;
    /* While bytes wait to be sent the loop must poll even when tasks are
     * ready, or nothing would flush them. */
    if (on) {
        s->flags |= WEFT__STREAM_FLUSHING;
        s->loop->io_waiters++;
    } else {
        s->flags &= ~(uint32_t)WEFT__STREAM_FLUSHING;
        s->loop->io_waiters--;
    }
}

static void wake_drainers(weft_stream_t *s) {
    struct weft__list *pos, *tmp;
    weft__list_foreach_safe(pos, tmp, &s->drainers) {
        struct weft__drain_wait *d =
            WEFT__CONTAINER_OF(pos, struct weft__drain_wait, link);
        if (pending(s, d->held) <= d->below || s->werr ||
            (d->paced && !(s->flags & WEFT__STREAM_PACED))) {
            weft__list_remove(&d->link);
            weft__task_wake(d->w.task, s->werr);
        }
    }
}

static void write_failed(weft_stream_t *s, int err) {
    if (!s->werr)
        s->werr = err == -EAGAIN ? -EIO : err;
    s->woff = s->wlen = 0;
    s->flags &= ~(uint32_t)WEFT__STREAM_PACED;
    flush_count(s, false);
    wake_drainers(s);
}

/* Write p[0, len) until the fd takes no more (then OUT is consumed).
 * Returns the bytes written, or -1 when the stream broke (write_failed). */
static ssize_t write_some(weft_stream_t *s, const char *p, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = raw_write(s, p + done, len - done);
        if (n >= 0) {
            done += (size_t)n;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            s->io.ready &= ~(uint32_t)WEFT__IO_OUT;
            break;
        } else if (errno != EINTR) {
            write_failed(s, -errno);
            return -1;
        }
    }
    return (ssize_t)done;
}

/* n bytes from the front of the queue were sent. */
static void wrote(weft_stream_t *s, size_t n) {
    s->woff += n;
    s->wlen -= n;
    if (s->flags & WEFT__STREAM_PACED) { /* have the read path's gone? */
        s->paced_left -= n < s->paced_left ? n : s->paced_left;
        if (s->paced_left == 0)
            s->flags &= ~(uint32_t)WEFT__STREAM_PACED;
    }
    if (s->wlen == 0) {
        s->woff = 0;
        flush_count(s, false);
    }
    wake_drainers(s);
}

/* Send queued bytes until the socket takes no more. */
static void flush(weft_stream_t *s) {
    ssize_t n = write_some(s, s->wbuf + s->woff, s->wlen);
    if (n >= 0)
        wrote(s, (size_t)n);
}

/* ---- sends through io_uring -------------------------------------------------------- */

/* On io_uring a byte-stream socket's queue is sent by the ring
 * (weft__uring_send), from the buffer itself: a write queues its bytes
 * and returns, and the sends of every stream go to the kernel in the
 * loop's one io_uring_enter, the one that also waits (no send(2) of its
 * own per write, as on epoll). One send is in flight at a time, for the
 * whole queue; its completion takes the bytes sent off the front and
 * sends what is left with what came meanwhile. While it is in flight the
 * front of the queue must stay where the kernel reads it: bytes are only
 * added behind it, and when the buffer is full the queue is copied to a
 * larger one and the old is kept (wretired) until the completion. */
static inline bool ring_sends(const weft_stream_t *s) {
    return (s->io.ready & WEFT__IO_DIRECT) && (s->flags & WEFT__STREAM_BYTES);
}

static void ring_sent(void *ctx, int res);

static void ring_send(weft_stream_t *s) {
    s->wop = weft__uring_send(s->loop, s->fd, s->wbuf + s->woff, s->wlen,
                              ring_sent, s);
    if (!s->wop)
        flush(s); /* no memory or no room: send(2), then readiness */
}

/* Before the loop's next io_uring_enter: whatever the iteration's writes
 * queued goes in one send. */
static void ring_later(struct weft__later *l) {
    weft_stream_t *s = WEFT__CONTAINER_OF(l, weft_stream_t, wlater);
    /* (also when the stream failed since: a TLS alert queued as the
     * session broke still goes; a failed write emptied the queue) */
    if (s->wlen > 0 && !s->wop && s->fd >= 0)
        ring_send(s);
}

static void ring_sent(void *ctx, int res) {
    weft_stream_t *s = ctx;
    s->wop = NULL;
    weft__free(s->wretired);
    s->wretired = NULL;
    if (res < 0) {
        write_failed(s, res == -ECANCELED ? -EBADF : res);
        return;
    }
    if ((size_t)res > s->wlen) /* the queue was dropped (write_failed) */
        return;
    wrote(s, (size_t)res);
    if (s->wlen > 0) { /* with what the woken tasks write next */
        weft__uring_later(s->loop, &s->wlater);
    } else if (s->wbuf) {
        /* All sent: the queue's buffer goes back to the loop's spares,
         * as an idle stream's read buffer does, so that a connection
         * waiting for its next message holds neither (issue 15); the
         * next write takes a spare again, without a malloc. */
        weft__rbuf_give(s->loop, s->wbuf, s->wcap);
        s->wbuf = NULL;
        s->wcap = s->woff = 0;
    }
}

/* Room for `more` bytes behind the queue while a send is in flight. */
static int ring_room(weft_stream_t *s, size_t more) {
    if (s->woff + s->wlen + more <= s->wcap)
        return 0;
    size_t c = s->wcap ? s->wcap : 4096;
    while (c < s->wlen + more)
        c *= 2;
    char *b = weft__malloc(c);
    if (!b)
        return -ENOMEM;
    /* a send is in flight: from the queue's buffer, which it keeps */
    WEFT__ANALYZER_ASSUME(s->wbuf != NULL);
    memcpy(b, s->wbuf + s->woff, s->wlen);
    if (s->wretired)
        weft__free(s->wbuf); /* a copy the kernel does not read */
    else
        s->wretired = s->wbuf;
    s->wbuf = b;
    s->wcap = c;
    s->woff = 0;
    return 0;
}

/* The stream closes with a send in flight: the send keeps the memory it
 * reads from. */
static void ring_detach(weft_stream_t *s) {
    if (weft__list_linked(&s->wlater.link))
        weft__list_remove(&s->wlater.link);
    if (!s->wop)
        return;
    if (s->wretired) {
        weft__uring_send_detach(s->wop, s->wretired);
        s->wretired = NULL;
    } else {
        weft__uring_send_detach(s->wop, s->wbuf);
        s->wbuf = NULL;
        s->wcap = s->woff = 0;
    }
    s->wop = NULL;
}

static void stream_notify(weft_loop_t *loop, struct weft__io *io,
                          uint32_t ev) {
    weft_stream_t *s = WEFT__CONTAINER_OF(io, weft_stream_t, io);
    if ((ev & (WEFT__IO_OUT | WEFT__IO_ERR | WEFT__IO_HUP)) && s->wlen > 0 &&
        !s->wop && !weft__list_linked(&s->wlater.link))
        flush(s); /* (the ring sends the queue: it is not flushed here) */
    weft__io_notify(loop, io, ev);
}

/* Make room for `need` bytes in a buffer of *cap. */
static int reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    char *b = weft__realloc(*buf, c);
    if (!b)
        return -ENOMEM;
    *buf = b;
    *cap = c;
    return 0;
}

/* Make room for `more` bytes after the `len` at (*buf)[*off]: move them
 * to the front, and grow the buffer if that is not enough. */
static int make_room(char **buf, size_t *cap, size_t *off, size_t len,
                     size_t more) {
    if (*off + len + more <= *cap)
        return 0;
    if (*off) {
        /* an offset is only ever into an allocated buffer */
        WEFT__ANALYZER_ASSUME(*buf != NULL);
        memmove(*buf, *buf + *off, len);
        *off = 0;
    }
    return reserve(buf, cap, len + more);
}

static int queue_bytes(weft_stream_t *s, const char *p, size_t len) {
    if (len == 0) /* (p may be NULL then: no memcpy of it) */
        return 0;
    if (!s->wbuf && ring_sends(s) && (s->wbuf = weft__rbuf_take(s->loop)))
        s->wcap = READ_CHUNK;
    int err = s->wop ? ring_room(s, len)
                     : make_room(&s->wbuf, &s->wcap, &s->woff, s->wlen, len);
    if (err)
        return err;
    /* room for len > 0 bytes: a buffer */
    WEFT__ANALYZER_ASSUME(s->wbuf != NULL);
    memcpy(s->wbuf + s->woff + s->wlen, p, len);
    s->wlen += len;
    flush_count(s, true);
    return 0;
}

/* A writev or sendfile owns the wire from its start to its end (it sends
 * from the caller's memory, or in chunks, and parks in between): writes
 * made meanwhile are copied aside and go after its last byte. */
static int hold_bytes(weft_stream_t *s, const void *data, size_t len) {
    if (len == 0)
        return 0;
    int err = reserve(&s->hbuf, &s->hcap, s->hlen + len);
    if (err)
        return err;
    memcpy(s->hbuf + s->hlen, data, len);
    s->hlen += len;
    return 0;
}

/* The writev/sendfile is over: send what was held (dropped if the stream
 * broke or closed meanwhile, as queued bytes are). */
static void hold_end(weft_stream_t *s) {
    s->flags &= ~(uint32_t)WEFT__STREAM_HOLD;
    size_t n = s->hlen;
    if (n == 0)
        return;
    s->hlen = 0;
    if (!(s->flags & (WEFT__STREAM_CLOSED | WEFT__STREAM_WSHUT)) &&
        !s->werr) {
        if (s->tls)
            weft__tls_write(s, s->hbuf, n);
        else
            weft__stream_send_raw(s, s->hbuf, n);
    }
    weft__free(s->hbuf);
    s->hbuf = NULL;
    s->hcap = 0;
    wake_drainers(s); /* drain counted the held bytes */
}

int weft_stream_write(weft_stream_t *s, const void *data, size_t len) {
    if (!s || (!data && len))
        return -EINVAL;
    int err = weft__loop_check(s->loop, "weft_stream_write");
    if (err)
        return err;
    if (s->flags & WEFT__STREAM_CLOSED)
        return -EBADF;
    if (s->werr)
        return s->werr;
    if (s->flags & WEFT__STREAM_WSHUT)
        return -ESHUTDOWN;
    if (s->flags & WEFT__STREAM_HOLD)
        return hold_bytes(s, data, len);
    if (s->tls)
        return weft__tls_write(s, data, len);
    return weft__stream_send_raw(s, data, len);
}

/* Bytes for the wire: sent now if the socket takes them, queued else. */
int weft__stream_send_raw(weft_stream_t *s, const void *data, size_t len) {
    if (s->werr)
        return s->werr;
    const char *p = data;
    if (ring_sends(s)) {
        if (len == 0)
            return 0;
        int err = queue_bytes(s, p, len);
        if (!err && !s->wop)
            weft__uring_later(s->loop, &s->wlater);
        return err ? err : s->werr;
    }
    /* Nothing queued: try the socket first, and queue only the rest. */
    if (s->wlen == 0) {
        ssize_t n = write_some(s, p, len);
        if (n < 0)
            return s->werr;
        p += n;
        len -= (size_t)n;
    }
    return len ? queue_bytes(s, p, len) : 0;
}

/* ---- entering and leaving waiting calls --------------------------------------- */

int weft__stream_check(weft_stream_t *s, const char *fn) {
    if (!s)
        return -EINVAL;
    if (!weft__task_require(fn))
        return -EPERM;
    int err = weft__loop_check(s->loop, fn);
    if (err)
        return err;
    return s->flags & WEFT__STREAM_CLOSED ? -EBADF : 0;
}

static int enter(weft_stream_t *s, struct weft_task **slot, const char *fn) {
    int err = weft__stream_check(s, fn);
    if (err)
        return err;
    if (slot) {
        if (*slot) {
            weft__log(WEFT_LOG_WARN, "%s: another task is already using this "
                                     "side of the stream",
                      fn);
            return -EBUSY;
        }
        *slot = weft__task_current();
    }
    s->users++;
    return 0;
}

static void stream_free(weft_stream_t *s);

/* Leave a waiting call; a stream closed meanwhile is freed by the last
 * task out. Returns r, or -EBADF if the stream was closed under us. */
static ssize_t leave(weft_stream_t *s, struct weft_task **slot, ssize_t r) {
    if (slot)
        *slot = NULL;
    if (s->flags & WEFT__STREAM_CLOSED) {
        if (--s->users == 0 && !s->conn && !(s->flags & WEFT__STREAM_OWNED))
            stream_free(s);
        return -EBADF;
    }
    s->users--;
    return r;
}

ssize_t weft__stream_leave(weft_stream_t *s, struct weft_task **slot,
                           ssize_t r) {
    return leave(s, slot, r);
}

/* ---- reading ------------------------------------------------------------------- */

/* On a byte stream (a pipe or FIFO, a SOCK_STREAM socket) a read that
 * returns fewer bytes than asked has emptied the kernel's buffer, so the
 * next read would only say EAGAIN: one wasted system call per message in a
 * request/response exchange (2.0 reads per message where libuv makes 1.03,
 * measured with strace on bench/echo). After a short read such a stream
 * forgets the readiness it had latched and waits for the next edge first;
 * epoll raises one for any data (or FIN, or error) that arrives after that
 * read. Elsewhere a short read proves nothing (a SOCK_SEQPACKET read
 * returns one record, a tty in canonical mode one line, with more
 * waiting and no edge to come), so those streams read until EAGAIN. */
/* A read took n bytes into buf although its task was interrupted while
 * it waited (io_uring: the recv completed as its cancel was asked for).
 * As with epoll, where the interrupted wait read nothing, the read says
 * err and the bytes wait for the next read: in the stream's buffer (buf
 * already is its free space when fill read into it). Without memory for
 * that the bytes are the read's result (the interruption stays pending
 * for the next wait). */
static __attribute__((noinline, cold)) ssize_t
keep_late(weft_stream_t *s, const char *buf, ssize_t n, int err) {
    if (!s->rbuf || buf != s->rbuf + s->roff + s->rlen) {
        if (make_room(&s->rbuf, &s->rcap, &s->roff, s->rlen, (size_t)n))
            return n;
        /* the backend reports a late interruption only with bytes (n > 0,
         * uring.c), so make_room has a buffer now */
        WEFT__ANALYZER_ASSUME(s->rbuf != NULL && buf != NULL);
        memcpy(s->rbuf + s->roff + s->rlen, buf, (size_t)n);
    }
    s->rlen += (size_t)n;
    return err;
}

/* weft__stream_read_fd, or with pick (an io_uring stream with nothing
 * buffered: buf is NULL, len WEFT__READ_CHUNK) a read into a buffer the
 * kernel provides when bytes come, which becomes the stream's. */
static ssize_t read_fd(weft_stream_t *s, void *buf, size_t len, bool pick,
                       int *late) {
    int w = 0;
    if (WEFT__UNLIKELY(s->flags & WEFT__STREAM_PACED))
        w = weft__stream_read_wait(s, false); /* and the edge, if drained */
    else if (weft__stream_drained(s))
        w = weft__io_wait(&s->io, WEFT__IO_IN);
    if (w < 0)
        return w;
    int intr = 0;
    ssize_t n;
    if (pick) {
        char *pb = NULL;
        n = weft__uring_recv_pick(&s->io, &pb, &intr);
        if (n > 0) {
            /* Nothing was buffered when the read began, and this task is
             * the only reader: the buffer is free to take. */
            WEFT__ANALYZER_ASSUME(pb != NULL);
            weft__free(s->rbuf);
            s->rbuf = buf = pb;
            s->rcap = READ_CHUNK;
            s->roff = s->rlen = 0;
        }
    } else {
        n = s->flags & WEFT__STREAM_SOCKET
                ? weft__op_recv(&s->io, buf, len, &intr)
                : weft__op_read(&s->io, buf, len);
    }
    WEFT__PROBE3(stream_read, s->fd, n, s);
    if (n > 0 && (size_t)n < len && (s->flags & WEFT__STREAM_BYTES)) {
        /* Only IN is forgotten: a hang-up, FIN or error latched with the
         * data is a state that no later edge will announce again. Not
         * after a read the backend completed (DIRECT): an edge latched
         * while it was in flight may be for newer bytes (the recv forgot
         * the older ones when it was submitted). */
        s->flags |= WEFT__STREAM_DRAINED;
        if (!(s->io.ready & WEFT__IO_DIRECT))
            s->io.ready &= ~(uint32_t)WEFT__IO_IN;
    } else {
        s->flags &= ~(uint32_t)WEFT__STREAM_DRAINED;
    }
    if (WEFT__UNLIKELY(intr != 0)) {
        if (late)
            *late = intr;
        else
            n = keep_late(s, buf, n, intr);
    }
    return n;
}

ssize_t weft__stream_read_fd(weft_stream_t *s, void *buf, size_t len,
                             int *late) {
    return read_fd(s, buf, len, false, late);
}

static int wait_drain(weft_stream_t *s, size_t below, bool held,
                      bool paced);

/* Write pressure seen from the read path. A protocol whose reading makes
 * it write (TLS answers a KeyUpdate with one of its own; alerts, tickets)
 * lets the peer decide how much we send: a peer that asks and never reads
 * would grow our queue without bound (issue 17: 1.5 MiB a second). So while
 * the read path's own bytes are queued (PACED) and the queue is above high
 * water, the read path reads nothing more until the peer has taken the
 * queue down to low water: backpressure, as a blocking socket would give,
 * and the peer's own sends stall once the kernel's buffers are full. Bytes
 * the application queued without draining do not pace reads (a task may
 * write a lot and read the answer in another: that must not deadlock). A
 * broken write side lets reading go on: the peer's last bytes and its end
 * are still worth reading. */
int weft__stream_read_wait(weft_stream_t *s, bool edge) {
    if ((s->flags & WEFT__STREAM_PACED) && s->wlen > s->high) {
        /* until low water, or until the read path's bytes are out (the
         * application's behind them do not pace reading) */
        int r = wait_drain(s, s->low, false, true);
        if (s->flags & WEFT__STREAM_CLOSED)
            return -EBADF;
        if (r < 0 && !s->werr)
            return r; /* interrupted */
    }
    if (weft__stream_read_blocked(s, edge)) { /* now only for an edge */
        int w = weft__io_wait(&s->io, WEFT__IO_IN);
        if (w < 0)
            return w;
    }
    return 0;
}

int weft__stream_settle(weft_stream_t *s) {
    if (!s->loop->uring || !(s->io.ready & WEFT__IO_DIRECT))
        return 0;
    int err = weft__uring_ms_stop(&s->io);
    if (err)
        return err;
    size_t n = weft__uring_ms_take(s->loop, &s->io, NULL, 0);
    if (!n)
        return 0;
    if ((err = make_room(&s->rbuf, &s->rcap, &s->roff, s->rlen, n)))
        return err;
    s->rlen += weft__uring_ms_take(s->loop, &s->io,
                                   s->rbuf + s->roff + s->rlen, n);
    return 0;
}

ssize_t weft__stream_peek(weft_stream_t *s, void *buf, size_t len,
                          size_t want) {
    bool edge = false; /* then: what waits was seen, wait for an edge */
    int err = weft__stream_settle(s);
    if (err)
        return err;
    for (;;) {
        int w = weft__stream_read_wait(s, edge);
        if (w < 0)
            return w;
        struct iovec v = {buf, len};
        struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
        ssize_t n = weft__op_recvmsg(&s->io, &m, MSG_PEEK);
        int queued = 0;
        if (n <= 0 || ioctl(s->fd, FIONREAD, &queued) < 0 ||
            (size_t)queued >= want ||
            (s->io.ready & (WEFT__IO_RDHUP | WEFT__IO_HUP | WEFT__IO_ERR)))
            return n; /* there, or all there will be */
        /* Not all there yet: what waits was seen, wait for an edge (a
         * peek is readiness-driven with every backend). */
        s->flags |= WEFT__STREAM_DRAINED;
        s->io.ready &= ~(uint32_t)WEFT__IO_IN;
        edge = true;
    }
}

/* Keep what a read said: the end, or an error that breaks the stream for
 * reading (an interrupted wait does not). -EBADF if it closed meanwhile. */
static ssize_t read_done(weft_stream_t *s, ssize_t n) {
    if (s->flags & WEFT__STREAM_CLOSED)
        return -EBADF;
    if (n == 0)
        s->flags |= WEFT__STREAM_EOF;
    else if (n < 0 && n != -ECANCELED && n != -ETIMEDOUT)
        s->rerr = (int)n;
    return n;
}

static void rbuf_release(weft_stream_t *s) {
    weft__rbuf_give(s->loop, s->rbuf, s->rcap);
    s->rbuf = NULL;
    s->rcap = s->roff = 0;
}

/* Room for a read of up to READ_CHUNK behind the buffered bytes: a
 * spare buffer if the stream has none. */
static int rbuf_room(weft_stream_t *s) {
    if (!s->rbuf && (s->rbuf = weft__rbuf_take(s->loop)))
        s->rcap = READ_CHUNK;
    return make_room(&s->rbuf, &s->rcap, &s->roff, s->rlen, READ_CHUNK);
}

/* One recv(2) into the buffer that does not wait: its bytes, 0 at the
 * end, -EAGAIN when there are none. */
static ssize_t recv_now(weft_stream_t *s) {
    int err = rbuf_room(s);
    if (err)
        return err;
    ssize_t r;
    do
        r = recv(s->fd, s->rbuf + s->roff + s->rlen,
                 s->rcap - s->roff - s->rlen, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EWOULDBLOCK ? -EAGAIN : read_done(s, -errno);
    s->rlen += (size_t)r;
    return read_done(s, r);
}

/* Read more bytes into the buffer (waiting for them). 0 at end of stream. */
static ssize_t fill(weft_stream_t *s) {
    if (s->rerr)
        return s->rerr;
    if (s->flags & WEFT__STREAM_EOF)
        return 0;
    if (s->rlen == 0 && s->rbuf && !s->tls &&
        weft__stream_read_blocked(s, false)) {
        /* Nothing buffered, and nothing to read until the next edge: wait
         * without a buffer, as nginx does for idle keep-alive connections
         * (issue 15). An idle connection then holds no read buffer; the
         * next fill allocates one again (malloc's free lists keep that
         * cheap: bench/echo, docs/design.md). */
        rbuf_release(s);
        ssize_t w = weft__stream_read_wait(s, false);
        if (w < 0)
            return read_done(s, w);
    }
    if (s->rlen == 0 && !s->tls && (s->io.ready & WEFT__IO_DIRECT) &&
        (s->flags & WEFT__STREAM_BYTES) && (s->flags & WEFT__STREAM_SOCKET) &&
        !(s->flags & WEFT__STREAM_NOPICK)) {
        /* io_uring: the same without a buffer, and no wait for an edge
         * first: the recv takes one of the loop's when bytes come. */
        for (int tries = 0; tries < 2; tries++) {
            if (s->rbuf)
                rbuf_release(s);
            ssize_t n = read_fd(s, NULL, READ_CHUNK, true, NULL);
            if (n == -EOPNOTSUPP) {
                s->flags |= WEFT__STREAM_NOPICK;
                break;
            }
            if (n != -ENOBUFS) {
                if (n > 0)
                    s->rlen += (size_t)n;
                return read_done(s, n);
            }
            /* The loop's ring was empty, when the bytes came (a burst) or
             * at the submission: take what is there at once, rather than
             * with a recv that completes only in the next iteration
             * (c1000's p99); if nothing is, the ring has grown since:
             * pick again, once. */
            n = recv_now(s);
            if (n != -EAGAIN)
                return n;
        }
    }
    int err = rbuf_room(s);
    if (err)
        return err;
    char *at = s->rbuf + s->roff + s->rlen;
    size_t space = s->rcap - s->roff - s->rlen;
    ssize_t n = read_done(s, s->tls ? weft__tls_read(s, at, space)
                                    : weft__stream_read_fd(s, at, space,
                                                           NULL));
    if (n > 0)
        s->rlen += (size_t)n;
    return n;
}

static void consume(weft_stream_t *s, size_t n) {
    s->roff += n;
    s->rlen -= n;
    if (s->rlen == 0) {
        s->roff = 0;
        /* read_exactly past the limit grew the buffer to hold its message:
         * give that back once it is read, rather than keep it for the
         * stream's life (fill allocates the usual size again). Reads up to
         * the limit never grow it this far. */
        if (s->rcap > 2 * (s->limit + READ_CHUNK)) {
            weft__free(s->rbuf);
            s->rbuf = NULL;
            s->rcap = 0;
        }
    }
}

ssize_t weft_stream_read(weft_stream_t *s, void *buf, size_t len) {
    int err = enter(s, s ? &s->reader : NULL, "weft_stream_read");
    if (err)
        return err;
    ssize_t r;
    if (s->rlen == 0 && len >= DIRECT_READ && !s->rerr && !s->tls &&
        !(s->flags & WEFT__STREAM_EOF)) {
        /* Nothing buffered and a big buffer: read straight into it. */
        r = read_done(s, weft__stream_read_fd(s, buf, len, NULL));
        return leave(s, &s->reader, r);
    }
    r = 0;
    while (s->rlen == 0 && (r = fill(s)) > 0) {
    }
    /* An error with bytes buffered: an interrupted read that took them
     * (keep_late); they wait for the next read. */
    if (s->rlen > 0 && r >= 0) {
        r = (ssize_t)(s->rlen < len ? s->rlen : len);
        memcpy(buf, s->rbuf + s->roff, (size_t)r);
        consume(s, (size_t)r);
    }
    return leave(s, &s->reader, r);
}

ssize_t weft_stream_wait_data(weft_stream_t *s, size_t min,
                              const void **data) {
    if (data)
        *data = NULL;
    int err = enter(s, s ? &s->reader : NULL, "weft_stream_wait_data");
    if (err)
        return err;
    if (min > s->limit)
        return leave(s, &s->reader, -EMSGSIZE);
    ssize_t r = 1;
    while (s->rlen < min && (r = fill(s)) > 0) {
    }
    if (r < 0) /* with min bytes buffered only when interrupted (keep_late) */
        return leave(s, &s->reader, r);
    if (data)
        *data = s->rbuf + s->roff;
    return leave(s, &s->reader, (ssize_t)s->rlen);
}

int weft_stream_consume(weft_stream_t *s, size_t n) {
    if (!s || n > s->rlen)
        return -EINVAL;
    consume(s, n);
    return 0;
}

size_t weft_stream_buffered(const weft_stream_t *s) {
    return s ? s->rlen : 0;
}

bool weft_stream_at_eof(const weft_stream_t *s) {
    return s && (s->flags & WEFT__STREAM_EOF) && s->rlen == 0;
}

ssize_t weft_stream_read_exactly(weft_stream_t *s, void *buf, size_t len) {
    int err = enter(s, s ? &s->reader : NULL, "weft_stream_read_exactly");
    if (err)
        return err;
    ssize_t r = 1;
    /* Large reads: the buffer grows to len; fine, the caller asked for it
     * all at once (consume shrinks it back). */
    while (s->rlen < len && (r = fill(s)) > 0) {
    }
    if (r < 0 || s->rlen < len) /* r < 0 with len: keep_late's */
        return leave(s, &s->reader, r < 0 ? r : -EPIPE);
    memcpy(buf, s->rbuf + s->roff, len);
    consume(s, len);
    return leave(s, &s->reader, (ssize_t)len);
}

ssize_t weft_stream_read_until(weft_stream_t *s, const void *sep,
                               size_t seplen, void *buf, size_t size) {
    if (!sep || !seplen || (!buf && size))
        return -EINVAL;
    int err = enter(s, s ? &s->reader : NULL, "weft_stream_read_until");
    if (err)
        return err;
    size_t max = size < s->limit ? size : s->limit;
    size_t scanned = 0; /* no separator starts before this offset */
    ssize_t r = -EMSGSIZE;
    while (seplen <= max) { /* else it can never fit: say so now */
        const char *base = s->rbuf + s->roff;
        if (s->rlen >= seplen) {
            const char *hit = memmem(base + scanned, s->rlen - scanned, sep,
                                     seplen);
            if (hit) {
                size_t n = (size_t)(hit - base) + seplen;
                if (n > max) {
                    r = -EMSGSIZE;
                    break;
                }
                memcpy(buf, base, n);
                consume(s, n);
                r = (ssize_t)n;
                break;
            }
            scanned = s->rlen - seplen + 1;
        }
        if (s->rlen >= max) {
            r = -EMSGSIZE;
            break;
        }
        r = fill(s);
        if (r == 0) {
            r = -EPIPE;
            break;
        }
        if (r < 0)
            break;
    }
    return leave(s, &s->reader, r);
}

ssize_t weft_stream_readline(weft_stream_t *s, char *buf, size_t size) {
    return weft_stream_read_until(s, "\n", 1, buf, size);
}

/* ---- waiting for the write buffer ---------------------------------------------- */

static int drain_abort(struct weft__wait *w) {
    struct weft__drain_wait *d = WEFT__CONTAINER_OF(w, struct weft__drain_wait,
                                                    w);
    weft__list_remove(&d->link);
    return 0;
}

/* Wait until at most `below` bytes are queued (counting the held ones too
 * if `held`). */
static int wait_drain(weft_stream_t *s, size_t below, bool held,
                      bool paced) {
    while (pending(s, held) > below && !s->werr &&
           (!paced || (s->flags & WEFT__STREAM_PACED))) {
        if (s->fd < 0)
            return -EBADF;
        struct weft__drain_wait d = {
            .w = {.abort = drain_abort, .kind = WEFT__WAIT_DRAIN, .obj = s},
            .below = below,
            .held = held,
            .paced = paced};
        weft__list_push_back(&s->drainers, &d.link);
        int r = weft__park(&d.w);
        if (weft__list_linked(&d.link))
            weft__list_remove(&d.link);
        if (s->flags & WEFT__STREAM_CLOSED)
            return -EBADF;
        if (r < 0)
            return r;
    }
    return s->werr;
}

static int wait_pending(weft_stream_t *s, size_t below, bool held) {
    return wait_drain(s, below, held, false);
}

static int wait_queued(weft_stream_t *s, size_t below) {
    return wait_pending(s, below, false);
}

int weft_stream_drain(weft_stream_t *s) {
    int err = enter(s, NULL, "weft_stream_drain");
    if (err)
        return err;
    int r = pending(s, true) > s->high ? wait_pending(s, s->low, true)
                                       : s->werr;
    return (int)leave(s, NULL, r);
}

/* Leave a writev or sendfile: what was written meanwhile goes now. */
static ssize_t end_send(weft_stream_t *s, ssize_t r) {
    hold_end(s);
    return leave(s, &s->writer, r);
}

/* Enter a writev or sendfile: it owns the wire once the bytes queued
 * before it are sent. Negative: the call is over (left, if entered). */
static ssize_t begin_send(weft_stream_t *s, const char *fn) {
    int err = enter(s, s ? &s->writer : NULL, fn);
    if (err)
        return err;
    if (s->flags & WEFT__STREAM_WSHUT)
        return leave(s, &s->writer, -ESHUTDOWN);
    s->flags |= WEFT__STREAM_HOLD;
    ssize_t r = wait_queued(s, 0); /* keep the order of bytes */
    return r < 0 ? end_send(s, r) : 0;
}

ssize_t weft_stream_writev(weft_stream_t *s, const struct iovec *iov,
                           int iovcnt) {
    if (iovcnt < 0 || (iovcnt && !iov) || iovcnt > IOV_MAX)
        return -EINVAL;
    ssize_t r = begin_send(s, "weft_stream_writev");
    if (r < 0)
        return r;
    if (s->tls) { /* encrypted: no zero-copy; write, then wait for it */
        ssize_t total = 0;
        for (int i = 0; i < iovcnt; i++)
            total += (ssize_t)iov[i].iov_len;
        r = weft__tls_writev(s, iov, iovcnt);
        if (r >= 0)
            r = wait_queued(s, 0);
        return end_send(s, r < 0 ? r : total);
    }
    struct iovec local[64];
    struct iovec *v = iovcnt <= 64 ? local
                                   : weft__malloc((size_t)iovcnt * sizeof *v);
    if (!v)
        return end_send(s, -ENOMEM);
    memcpy(v, iov, (size_t)iovcnt * sizeof *v);
    int first = 0;
    ssize_t total = 0;
    while (first < iovcnt) {
        if (v[first].iov_len == 0) {
            first++;
            continue;
        }
        ssize_t n;
        if (s->flags & WEFT__STREAM_SOCKET) {
            struct msghdr m = {.msg_iov = v + first,
                               .msg_iovlen = (size_t)(iovcnt - first)};
            n = weft__op_sendmsg(&s->io, &m, 0); /* MSG_NOSIGNAL */
        } else {
            n = weft__op_writev(&s->io, v + first, iovcnt - first);
        }
        WEFT__PROBE3(stream_write, s->fd, n, s);
        if (s->flags & WEFT__STREAM_CLOSED) {
            r = -EBADF;
            break;
        }
        if (n < 0) {
            if (n != -ECANCELED && n != -ETIMEDOUT)
                write_failed(s, (int)n);
            r = n;
            break;
        }
        total += n;
        while (n > 0 && first < iovcnt) {
            size_t take = (size_t)n < v[first].iov_len ? (size_t)n
                                                        : v[first].iov_len;
            v[first].iov_base = (char *)v[first].iov_base + take;
            v[first].iov_len -= take;
            n -= (ssize_t)take;
            if (v[first].iov_len == 0)
                first++;
        }
        r = total;
    }
    if (v != local)
        weft__free(v);
    return end_send(s, r);
}

ssize_t weft_stream_sendfile(weft_stream_t *s, int fd, off_t offset,
                             size_t count) {
    if (fd < 0 || offset < 0)
        return -EINVAL;
    ssize_t r = begin_send(s, "weft_stream_sendfile");
    if (r < 0)
        return r;
    size_t sent = 0;
    if (s->tls) { /* encrypted: read the file and write it */
        char *buf = weft__malloc(16384);
        if (!buf)
            return end_send(s, -ENOMEM);
        while (sent < count && r >= 0) {
            size_t want = count - sent < 16384 ? count - sent : 16384;
            ssize_t n = pread(fd, buf, want, offset + (off_t)sent);
            if (n < 0) {
                r = -errno;
                break;
            }
            if (n == 0)
                break;
            r = weft__tls_write(s, buf, (size_t)n);
            if (r >= 0)
                r = wait_queued(s, s->high);
            if (r >= 0)
                sent += (size_t)n;
        }
        weft__free(buf);
        if (r >= 0)
            r = wait_queued(s, 0);
        return end_send(s, r < 0 && !sent ? r : (ssize_t)sent);
    }
    while (sent < count) {
        ssize_t n = weft__op_sendfile(&s->io, fd, &offset, count - sent);
        WEFT__PROBE3(stream_write, s->fd, n, s);
        if (s->flags & WEFT__STREAM_CLOSED) {
            sent = 0;
            r = -EBADF;
            break;
        }
        if (n < 0) {
            if (n != -ECANCELED && n != -ETIMEDOUT && n != -EINVAL &&
                n != -EBADF)
                write_failed(s, (int)n);
            r = n;
            break;
        }
        if (n == 0)
            break; /* end of the file */
        sent += (size_t)n;
    }
    if (r >= 0 || sent)
        r = (ssize_t)sent;
    return end_send(s, r);
}

int weft_stream_shutdown(weft_stream_t *s) {
    int err = enter(s, s ? &s->writer : NULL, "weft_stream_shutdown");
    if (err)
        return err;
    if (s->flags & WEFT__STREAM_WSHUT)
        return (int)leave(s, &s->writer, 0);
    if (s->tls)
        weft__tls_close_notify(s); /* the end, said in TLS first */
    int r = wait_queued(s, 0);
    if (r == 0 || r == s->werr) {
        s->flags |= WEFT__STREAM_WSHUT;
        if (s->flags & WEFT__STREAM_SOCKET) {
            if (shutdown(s->fd, SHUT_WR) < 0 && errno != ENOTCONN)
                r = -errno;
        }
    }
    return (int)leave(s, &s->writer, r);
}

/* ---- creating and closing -------------------------------------------------------- */

/* A stream for fd; kind: 0 to find out what fd is (fstat, SO_TYPE), or
 * WEFT__STREAM_SOCKET | WEFT__STREAM_BYTES for a stream socket made or
 * accepted here. nodelay: set TCP_NODELAY on a socket (unless the options
 * ask for Nagle); false for a Unix socket known as such. */
static int stream_new(weft_loop_t *loop, int fd, const weft_stream_opts_t *o,
                      uint32_t kind, bool nodelay, weft_stream_t **out) {
    pthread_once(&sigpipe_once, ignore_sigpipe);
    weft_stream_t *s = weft__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->loop = loop;
    s->fd = fd;
    s->limit = o && o->limit ? o->limit : DEFAULT_LIMIT;
    s->high = o && o->high_water ? o->high_water : DEFAULT_HIGH;
    s->low = o && o->low_water ? o->low_water : s->high / 4;
    if (s->low > s->high)
        s->low = s->high;
    weft__list_init(&s->drainers);
    weft__list_init(&s->wlater.link);
    s->wlater.fn = ring_later;
    if (!kind) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            st.st_mode = 0;
        if (S_ISSOCK(st.st_mode)) {
            kind = WEFT__STREAM_SOCKET;
            int type = 0;
            socklen_t tl = sizeof type;
            if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
                type == SOCK_STREAM)
                kind |= WEFT__STREAM_BYTES;
        } else if (S_ISFIFO(st.st_mode)) {
            kind = WEFT__STREAM_BYTES; /* pipes and FIFOs */
        } else {
            int err = weft__uring_pollable(loop, fd); /* as epoll would */
            if (err) {
                weft__free(s);
                return err;
            }
        }
    }
    s->flags |= kind;
    if ((kind & WEFT__STREAM_SOCKET) && nodelay &&
        !(o && (o->flags & WEFT_STREAM_NAGLE))) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    int err = kind & WEFT__STREAM_SOCKET
                  ? weft__io_open_direct(loop, &s->io, fd)
                  : weft__io_open(loop, &s->io, fd);
    if (err) {
        weft__free(s);
        return err;
    }
    s->io.notify = stream_notify;
    if (WEFT__UNLIKELY(loop->flags & WEFT_LOOP_DEBUG))
        weft__debug_track(loop, s, WEFT__TRACK_STREAM, fd);
    *out = s;
    return 0;
}

int weft__stream_new(weft_loop_t *loop, int fd, const weft_stream_opts_t *o,
                     weft_stream_t **out) {
    return stream_new(loop, fd, o, 0, true, out);
}

int weft__stream_new_sock(weft_loop_t *loop, int fd, bool nodelay,
                          const weft_stream_opts_t *o, weft_stream_t **out) {
    return stream_new(loop, fd, o, WEFT__STREAM_SOCKET | WEFT__STREAM_BYTES,
                      nodelay, out);
}

int weft_stream_from_fd(weft_loop_t *loop, weft_stream_t **out, int fd,
                        const weft_stream_opts_t *opts) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    int err = weft__loop_check(loop, "weft_stream_from_fd");
    if (err)
        return err;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return -EBADF;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return -EINVAL;
    int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);
    if (fl < 0 || fdfl < 0)
        return -errno;
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
        err = -errno;
    else
        err = weft__stream_new(loop, fd, opts, out);
    if (err) {
        /* The fd stays the caller's, as it was. */
        fcntl(fd, F_SETFL, fl);
        fcntl(fd, F_SETFD, fdfl);
    }
    return err;
}

int weft_stream_pair(weft_loop_t *loop, weft_stream_t **a, weft_stream_t **b,
                     const weft_stream_opts_t *opts) {
    if (!a || !b)
        return -EINVAL;
    *a = *b = NULL;
    int err = weft__loop_check(loop, "weft_stream_pair");
    if (err)
        return err;
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   fds) < 0)
        return -errno;
    err = weft__stream_new(loop, fds[0], opts, a);
    if (!err) {
        err = weft__stream_new(loop, fds[1], opts, b);
        if (err) {
            weft_stream_abort(*a);
            *a = NULL;
            close(fds[1]);
        }
    } else {
        close(fds[0]);
        close(fds[1]);
    }
    return err;
}

static void stream_free(weft_stream_t *s) {
    if (s->tls)
        weft__tls_free(s->tls);
    weft__free(s->rbuf);
    weft__free(s->wbuf);
    weft__free(s->hbuf);
    weft__free(s);
}

/* Release the fd and wake everyone inside; free unless a task is inside. */
void weft__stream_close_now(weft_stream_t *s) {
    if (WEFT__UNLIKELY(s->loop->flags & WEFT_LOOP_DEBUG))
        weft__debug_untrack(s->loop, s);
    s->flags |= WEFT__STREAM_CLOSED;
    flush_count(s, false);
    ring_detach(s);
    s->wlen = 0;
    if (s->fd >= 0) {
        weft__io_close_fd(s->loop, &s->io); /* wakes readers and writers */
        s->fd = -1;
    }
    struct weft__list *n;
    while ((n = weft__list_pop_front(&s->drainers))) {
        struct weft__drain_wait *d =
            WEFT__CONTAINER_OF(n, struct weft__drain_wait, link);
        weft__task_wake(d->w.task, -EBADF);
    }
    if (s->users == 0 && !s->conn && !(s->flags & WEFT__STREAM_OWNED))
        stream_free(s);
}

void weft__stream_release(weft_stream_t *s) {
    s->conn = NULL;
    s->flags &= ~(uint32_t)WEFT__STREAM_OWNED;
    if ((s->flags & WEFT__STREAM_CLOSED) && s->users == 0)
        stream_free(s);
}

int weft_stream_close(weft_stream_t *s) {
    if (!s)
        return 0;
    int err = weft__loop_check(s->loop, "weft_stream_close");
    if (err)
        return err;
    if (s->flags & WEFT__STREAM_CLOSED) {
        weft__log(WEFT_LOG_WARN, "weft_stream_close: stream closed twice");
        return -EBADF;
    }
    int r = s->werr;
    bool task = weft__task_current() != NULL;
    if (s->wlen > 0 && task) { /* what the application wrote */
        s->users++;
        r = wait_queued(s, 0);
        s->users--;
    }
    if (s->tls && !(s->flags & WEFT__STREAM_WSHUT) && !s->werr &&
        !(s->flags & WEFT__STREAM_CLOSED)) {
        /* A courtesy: that the peer went first is no error of ours. */
        weft__tls_close_notify(s);
        if (s->wlen > 0 && task) {
            s->users++;
            (void)wait_queued(s, 0);
            s->users--;
        }
    }
    if (s->wlen > 0 && !s->wop && ring_sends(s) &&
        !(s->flags & WEFT__STREAM_CLOSED))
        ring_send(s); /* no task to wait: sent as far as the socket takes
                         it at once, as a write on epoll would have been */
    weft__stream_close_now(s);
    return r;
}

void weft_stream_abort(weft_stream_t *s) {
    if (!s || weft__loop_check(s->loop, "weft_stream_abort"))
        return;
    if (s->flags & WEFT__STREAM_CLOSED)
        return;
    if (s->flags & WEFT__STREAM_SOCKET) {
        /* A reset, not an orderly end: the peer learns the data was cut. */
        struct linger l = {1, 0};
        setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    weft__stream_close_now(s);
}

int weft_stream_sockname(const weft_stream_t *s, struct sockaddr_storage *a,
                         socklen_t *len) {
    if (!s || !a || !len || s->fd < 0)
        return -EINVAL;
    *len = sizeof *a;
    return getsockname(s->fd, (struct sockaddr *)a, len) < 0 ? -errno : 0;
}

int weft__stream_peer(const weft_stream_t *s, struct sockaddr_storage *a,
                      socklen_t *len) {
    *len = sizeof *a;
    if (getpeername(s->fd, (struct sockaddr *)a, len) == 0)
        return 0;
    int err = -errno;
    /* accept's copy outlives a reset (getpeername then says ENOTCONN). */
    const struct sockaddr_storage *kept = s->conn ? weft__conn_peer(s->conn,
                                                                    len)
                                                  : NULL;
    if (!kept)
        return err;
    memcpy(a, kept, *len);
    return 0;
}

int weft_stream_peername(const weft_stream_t *s, struct sockaddr_storage *a,
                         socklen_t *len) {
    if (!s || !a || !len || s->fd < 0)
        return -EINVAL;
    return weft__stream_peer(s, a, len);
}

int weft_stream_fd(const weft_stream_t *s) {
    return s ? s->fd : -1;
}
