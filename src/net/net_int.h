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
 * after a short one (see stream.c). */
ssize_t weft__stream_read_fd(weft_stream_t *s, void *buf, size_t len);

/* The last read emptied the kernel's buffer and no edge came since: the
 * next read would only say EAGAIN, so weft__stream_read_fd waits first. */
static inline bool weft__stream_drained(const weft_stream_t *s) {
    return (s->flags & WEFT__STREAM_DRAINED) &&
           !(s->io.ready & (WEFT__IO_IN | WEFT__IO_RDHUP | WEFT__IO_HUP |
                            WEFT__IO_ERR));
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

/* Close now: release the fd, wake the tasks inside with -EBADF; the memory
 * goes when the last of them leaves (and, for a server's connection, once
 * the server released it). */
void weft__stream_close_now(weft_stream_t *s);
/* The server is done with its connection's (closed) stream. */
void weft__stream_release(weft_stream_t *s);

/* Resolve host:port for a stream or datagram socket. passive: for bind
 * (a NULL host means any address). The list is the caller's: free with
 * freeaddrinfo-compatible weft__addrinfo_free. */
int weft__resolve(const char *host, const char *port, int family,
                  int socktype, bool passive, struct addrinfo **out);
void weft__addrinfo_free(struct addrinfo *ai);

/* Resolve a host name (not a numeric address) with the loop's resolver:
 * a list of weft__calloc'd addrinfo nodes with port set. From a task. */
int weft__resolve_name(const char *host, uint16_t port, int family,
                       int socktype, struct addrinfo **out);

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
