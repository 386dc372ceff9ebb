/* Internal: streams, servers and address resolution. */
#ifndef WEFT_NET_INT_H
#define WEFT_NET_INT_H

#include <netdb.h>

#include "../task/io.h"
#include "weft/net.h"

enum {
    WEFT__STREAM_CLOSED = 1u << 0,  /* the user closed it: no more use */
    WEFT__STREAM_EOF = 1u << 1,     /* the peer ended its side */
    WEFT__STREAM_WSHUT = 1u << 2,   /* our sending side is shut */
    WEFT__STREAM_SOCKET = 1u << 3,  /* fd is a socket */
    WEFT__STREAM_FLUSHING = 1u << 4,/* counted in loop->io_waiters */
    WEFT__STREAM_OWNED = 1u << 5,   /* an object (a process) frees it */
    WEFT__STREAM_DRAINED = 1u << 6, /* the last read emptied the kernel's
                                       buffer: wait for an edge first */
    WEFT__STREAM_BYTES = 1u << 7,   /* a byte stream (pipe, SOCK_STREAM):
                                       a short read empties the buffer */
    WEFT__STREAM_HOLD = 1u << 8,    /* a writev/sendfile is sending:
                                       writes wait in hbuf behind it */
    WEFT__STREAM_PACED = 1u << 9,   /* bytes the read path had to send (a
                                       TLS KeyUpdate's answer) are queued,
                                       the last of them paced_left bytes
                                       from the front: reading waits while
                                       the queue is above high water */
    WEFT__STREAM_NOPICK = 1u << 10, /* the loop provides no read buffers
                                       (io_uring without buffer rings) */
};

struct weft_stream {
    weft_loop_t *loop;
    struct weft__io io;
    int fd;
    uint32_t flags;
    uint32_t users;       /* tasks inside a waiting call: free when 0 */
    /* read side: data at rbuf[roff, roff + rlen) */
    char *rbuf;
    size_t roff, rlen, rcap, limit;
    int rerr;
    struct weft_task *reader;
    /* write side: queued at wbuf[woff, woff + wlen) */
    char *wbuf;
    size_t woff, wlen, wcap, high, low;
    size_t paced_left; /* PACED: bytes to send until the read path's are */
    /* io_uring: the send in flight takes the front of the queue; the
     * kernel reads it from wbuf, or from wretired if the queue has moved
     * to a larger buffer since (see ring_send in stream.c) */
    struct weft__usend *wop;
    char *wretired;
    struct weft__later wlater; /* the send, prepared before the enter */
    int werr;
    struct weft_task *writer;
    struct weft__list drainers; /* tasks waiting for the buffer to drain */
    /* writes made during a writev/sendfile, sent when it ends */
    char *hbuf;
    size_t hlen, hcap;
    /* a server's connection */
    struct weft__conn *conn;
    /* TLS (tls.c): the write buffer then holds ciphertext */
    struct weft__tls *tls;
};

/* Read from the stream's fd, skipping the read that would only say EAGAIN
 * after a short one, and waiting first while the read path's own bytes are
 * backed up (PACED; see stream.c). A read that took bytes although its
 * task was interrupted as it waited (io_uring's recv and cancel raced):
 * with late NULL the bytes go to the stream's buffer and the read returns
 * the interruption; else the bytes are returned and *late is set to it. */
ssize_t weft__stream_read_fd(weft_stream_t *s, void *buf, size_t len,
                             int *late);

/* What weft__stream_read_fd waits for before it reads: the write queue to
 * fall to low water while the stream is PACED and above high water, then
 * an edge after a short read, or (`edge`) any readability when none is
 * latched. 0, or -ECANCELED, -ETIMEDOUT, -EBADF. */
int weft__stream_read_wait(weft_stream_t *s, bool edge);

/* Bytes the read path must send (a protocol's answer to what it read,
 * which the peer may never take) were just queued (call it only then: the
 * application's own bytes must not pace reading): until they are sent,
 * reading waits while more than high water is queued, so a peer that
 * makes us write without reading costs at most about high water. */
static inline void weft__stream_paced(weft_stream_t *s) {
    if (s->wlen > 0) {
        s->flags |= WEFT__STREAM_PACED;
        s->paced_left = s->wlen; /* they are the last queued */
    }
}

/* io_uring: a stream socket whose reads stop going through the backend's
 * multishot recv (a TLS upgrade, a peek, which read the socket itself)
 * stops that recv and takes the bytes it queued into its buffer, so
 * that they come first. 0, or a negative errno (interrupted, -ENOMEM,
 * -EBADF). */
int weft__stream_settle(weft_stream_t *s);
/* Look at the bytes waiting on a socket stream without taking them: wait
 * (as a read does) until at least `want` are there, or the peer ended or
 * failed the stream, then copy up to len of them into buf. Returns the
 * number copied (fewer than `want` only at the end), or an error. It
 * looks at the socket only: a caller looks at the stream's buffer first,
 * after weft__stream_settle (which it runs too, and which may fill it). */
ssize_t weft__stream_peek(weft_stream_t *s, void *buf, size_t len,
                          size_t want);

/* The peer's address: getpeername, or for a server's connection whose
 * peer already left (a reset: getpeername says ENOTCONN) the address
 * accept returned. 0 or a negative errno. */
int weft__stream_peer(const weft_stream_t *s, struct sockaddr_storage *ss,
                      socklen_t *len);

/* The last read emptied the kernel's buffer and no edge came since: the
 * next read would only say EAGAIN, so weft__stream_read_fd waits first.
 * Never on a fd whose reads the backend completes (WEFT__IO_DIRECT): the
 * read itself waits there, and an edge first would be a second wait. The
 * same one test of the ready bits. */
static inline bool weft__stream_drained(const weft_stream_t *s) {
    return (s->flags & WEFT__STREAM_DRAINED) &&
           !(s->io.ready & (WEFT__IO_IN | WEFT__IO_RDHUP | WEFT__IO_HUP |
                            WEFT__IO_ERR | WEFT__IO_DIRECT));
}

/* A server connection's peer, as accept returned it (server.c); NULL
 * for other streams. */
const struct sockaddr_storage *weft__conn_peer(const struct weft__conn *c,
                                               socklen_t *len);

/* True when a read of the fd must first wait (weft__stream_read_wait):
 * the read path's answers are backed up, or an edge is needed. */
static inline bool weft__stream_read_blocked(const weft_stream_t *s,
                                             bool edge) {
    bool latched = s->io.ready & (WEFT__IO_IN | WEFT__IO_RDHUP |
                                  WEFT__IO_HUP | WEFT__IO_ERR);
    return ((s->flags & WEFT__STREAM_PACED) && s->wlen > s->high) ||
           (edge && !latched) || weft__stream_drained(s);
}

/* Check that fn, a waiting call, may use s now: s is not NULL, the caller
 * is a task on the loop's thread, and s is not closed. 0 or a negative
 * errno (-EINVAL, -EPERM, -EBADF). */
int weft__stream_check(weft_stream_t *s, const char *fn);

/* Leave a waiting call entered with users++ (and *slot set, if slot):
 * frees a stream closed meanwhile when the last task leaves. Returns r, or
 * -EBADF if the stream was closed under the caller (then s may be gone). */
ssize_t weft__stream_leave(weft_stream_t *s, struct weft_task **slot,
                           ssize_t r);

/* The byte transport of a stream: plain syscalls, or TLS (tls.c). */
int weft__stream_send_raw(weft_stream_t *s, const void *data, size_t len);
int weft__tls_write(weft_stream_t *s, const void *data, size_t len);
int weft__tls_writev(weft_stream_t *s, const struct iovec *iov, int iovcnt);
ssize_t weft__tls_read(weft_stream_t *s, void *buf, size_t len);
void weft__tls_close_notify(weft_stream_t *s);
void weft__tls_free(struct weft__tls *t);

/* Wrap an fd (already non-blocking and close-on-exec) in a stream. */
int weft__stream_new(weft_loop_t *loop, int fd, const weft_stream_opts_t *o,
                     weft_stream_t **out);
/* The same for a SOCK_STREAM socket the caller made or accepted: what fd
 * is need not be asked (no fstat, no SO_TYPE). nodelay: set TCP_NODELAY
 * (unless o asks for Nagle); false for a Unix socket, or a TCP socket
 * that has it already (accepted from a listener that had it). */
int weft__stream_new_sock(weft_loop_t *loop, int fd, bool nodelay,
                          const weft_stream_opts_t *o, weft_stream_t **out);

/* A server connection's peer address, as accept gave it (no getpeername
 * call; IP only): the connection's own copy, valid as long as the stream,
 * with its length in *len; NULL for a stream that is not a server's. */
const struct sockaddr *weft__server_peer(const weft_stream_t *s,
                                         socklen_t *len);

/* Close now: release the fd, wake the tasks inside with -EBADF; the memory
 * goes when the last of them leaves (and, for a server's connection, once
 * the server released it). */
void weft__stream_close_now(weft_stream_t *s);
/* The server is done with its connection's (closed) stream. */
void weft__stream_release(weft_stream_t *s);

/* Resolve host:port for a stream or datagram socket. passive: for bind
 * (a NULL host means any address). On success the list has at least one
 * address; it is the caller's: free with freeaddrinfo-compatible
 * weft__addrinfo_free. */
int weft__resolve(const char *host, const char *port, int family,
                  int socktype, bool passive, struct addrinfo **out);
void weft__addrinfo_free(struct addrinfo *ai);

/* Resolve a host name (not a numeric address) with the loop's resolver:
 * a list of weft__calloc'd addrinfo nodes with port set. From a task. */
int weft__resolve_name(const char *host, uint16_t port, int family,
                       int socktype, struct addrinfo **out);

/* From a task: connect to one of the addresses of list (Happy Eyeballs,
 * as weft_open_connection; delay 0: the default) and wrap the socket in a
 * stream (so may be NULL). On failure, when failed is not NULL and an
 * attempt failed, the address of the last failed attempt is copied to
 * *failed and *failed_len (for messages). */
int weft__connect_addrs(const struct addrinfo *list, double delay,
                        const weft_stream_opts_t *so, weft_stream_t **out,
                        struct sockaddr_storage *failed,
                        socklen_t *failed_len);

/* A Unix socket address for path ('@name': abstract). */
/* "127.0.0.1:8080", "[::1]:8080", a Unix path, "@abstract" or "(unnamed)"
 * (len: the address's length, as getsockname gives it), for log lines and
 * the task dump. Returns buf. */
const char *weft__addr_str(const struct sockaddr_storage *ss, socklen_t len,
                           char *buf, size_t size);

int weft__unix_addr(const char *path, struct sockaddr_storage *ss,
                    socklen_t *len);

/* socket() with SOCK_NONBLOCK | SOCK_CLOEXEC. */
int weft__socket(int family, int type, int proto);

#endif
