/* weft/net.h - streams and servers over TCP, Unix sockets, socket pairs and
 * pipes, and UDP endpoints: asyncio's open_connection / start_server /
 * StreamReader / StreamWriter and datagram endpoints, as tasks that read
 * and write as if blocking.
 *
 * Every call that waits is made from a task and returns >= 0 or a negative
 * errno: -ECANCELED if the task is cancelled, -ETIMEDOUT if a deadline
 * scope around it expires (weft_scope_enter: a read deadline is a scope
 * around the read), -ECONNRESET / -EPIPE when the peer went away. A stream
 * belongs to the loop that made it; use it from that loop's tasks only. One
 * task may read while another writes; two concurrent readers (or writers)
 * are refused with -EBUSY.
 *
 * A peer that went away is an error (-EPIPE, -ECONNRESET), never a signal:
 * sockets are written with MSG_NOSIGNAL, and the first stream sets SIGPIPE
 * to ignored if it is still at its default (as Python and Node do at
 * startup), since pipes and sendfile have no such flag. Children started
 * with weft_proc_exec get the default back.
 *
 * Addresses: host is a numeric IPv4/IPv6 address (a link-local IPv6 one
 * with its zone, "fe80::1%eth0" or "fe80::1%2"), "localhost", or a name
 * resolved asynchronously; port is a number or a service name. Unix socket
 * paths starting with '@' are in the abstract namespace.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_stream weft_stream_t;
typedef struct weft_server weft_server_t;
typedef struct weft_udp weft_udp_t;
typedef struct weft_tls_ctx weft_tls_ctx_t; /* see weft/tls.h */

/* ---- streams --------------------------------------------------------------- */

enum {
    /* Leave Nagle's algorithm on (TCP_NODELAY is set by default: on a
     * connection made here, and on a server's listening socket, whose
     * accepted sockets inherit it; in a server's `stream` options this
     * leaves it off the listener too). */
    WEFT_STREAM_NAGLE = 1u << 0,
};

typedef struct weft_stream_opts {
    /* Largest amount a read_until / readline / wait_data may need to
     * buffer (asyncio's limit); 0: 64 KiB. */
    size_t limit;
    /* Write buffer marks for weft_stream_drain(): drain waits while more
     * than `high` bytes are buffered, until at most `low` are. 0: 64 KiB
     * and high / 4. */
    size_t high_water, low_water;
    unsigned flags; /* WEFT_STREAM_* */
} weft_stream_opts_t;

typedef struct weft_connect_opts {
    /* Deadline for resolving and connecting (and the TLS handshake),
     * seconds; 0 or INFINITY: none; negative or NaN: -EINVAL (a deadline
     * scope around the call works too). */
    double timeout;
    /* Happy Eyeballs (RFC 8305): when a host has several addresses (at
     * most 16 are tried, families alternating), the next attempt starts
     * this many seconds after the last one started, or at once when any
     * attempt fails; the first to connect wins and the others are
     * cancelled. 0: 0.25 s; a negative value tries them one by one (the
     * next only once the last has failed). */
    double happy_eyeballs_delay;
    int family; /* AF_UNSPEC (0), AF_INET or AF_INET6 */
    weft_stream_opts_t stream;
    /* TLS: a client context (weft/tls.h); the handshake is part of the
     * call. server_name: the name to send (SNI) and verify; NULL: host. */
    weft_tls_ctx_t *tls;
    const char *server_name;
} weft_connect_opts_t;

/* From a task: resolve host, connect over TCP (trying the addresses with
 * Happy Eyeballs), and return a stream in *out, owned by the caller (close
 * it with weft_stream_close); *out is NULL on failure. opts may be NULL.
 * host NULL: the loopback address. With opts->tls the TLS handshake is
 * part of the call; if it fails the stream is freed (its
 * weft_tls_error() text is logged at WEFT_LOG_INFO first) and its error
 * returned. Returns 0 or: -ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH ...
 * (of the last attempt that failed), -ETIMEDOUT (opts->timeout or a
 * deadline scope), the resolver's error (weft/dns.h), a TLS error
 * (weft/tls.h), -EINVAL (bad port, timeout or arguments), -ECANCELED,
 * -ENOMEM, -EPERM (not in a task). */
WEFT_EXPORT int weft_open_connection(weft_stream_t **out, const char *host,
                                     const char *port,
                                     const weft_connect_opts_t *opts);

/* From a task: connect to a Unix stream socket at `path` ('@name':
 * abstract). Of opts only timeout and stream apply (no TLS: upgrade the
 * stream with weft_tls_client). Returns 0 with the caller's stream in
 * *out, or -ENOENT, -ECONNREFUSED, -ENAMETOOLONG (path longer than
 * sun_path), -EINVAL (empty path, bad timeout), -ETIMEDOUT, -ECANCELED,
 * -ENOMEM, -EPERM (not in a task). */
WEFT_EXPORT int weft_open_unix_connection(weft_stream_t **out,
                                          const char *path,
                                          const weft_connect_opts_t *opts);

/* A connected pair of Unix stream sockets as two streams of `loop`, from
 * the loop's thread (in a task or not; it does not wait). Both are the
 * caller's (weft_stream_close each). Returns 0, or -EINVAL, -EPERM
 * (foreign thread), -EMFILE/-ENFILE, -ENOMEM; both pointers are NULL on
 * failure. */
WEFT_EXPORT int weft_stream_pair(weft_loop_t *loop, weft_stream_t **a,
                                 weft_stream_t **b,
                                 const weft_stream_opts_t *opts);

/* Wrap an open file descriptor (a socket, a pipe end, a tty) in a stream
 * of `loop`. On success the stream owns fd (it is closed with the
 * stream) and has made it non-blocking and close-on-exec; O_NONBLOCK is a
 * property of the open file description, so other descriptors sharing it
 * (a dup, a parent's copy of a tty) see it too. Returns 0, or -EBADF (fd
 * not open), -EINVAL (a regular file or directory: use it directly),
 * -EPERM (a file epoll cannot watch, such as /dev/null; or a foreign
 * thread), -ENOMEM; on failure fd is still the caller's and its flags are
 * as they were. From the loop's thread, in a task or not; it does not
 * wait. */
WEFT_EXPORT int weft_stream_from_fd(weft_loop_t *loop, weft_stream_t **out,
                                    int fd, const weft_stream_opts_t *opts);

/* Read up to len bytes: what is buffered, or waits for some. Returns the
 * number of bytes (> 0), 0 at end of stream, or an error. */
WEFT_EXPORT ssize_t weft_stream_read(weft_stream_t *s, void *buf, size_t len);

/* Read exactly len bytes. At end of stream before that, returns -EPIPE
 * and consumes nothing: the bytes that did arrive stay buffered
 * (weft_stream_buffered) for weft_stream_read. */
WEFT_EXPORT ssize_t weft_stream_read_exactly(weft_stream_t *s, void *buf,
                                             size_t len);

/* Read up to and including the separator sep (seplen > 0) into buf
 * (size bytes). Returns the length including the separator; -EMSGSIZE if
 * it does not appear within size bytes or the stream's limit (nothing is
 * consumed: the data stays buffered), at once when the separator itself
 * is longer than either; -EPIPE at end of stream without it (likewise);
 * -EINVAL (sep NULL or seplen 0, buf NULL with size > 0). */
WEFT_EXPORT ssize_t weft_stream_read_until(weft_stream_t *s, const void *sep,
                                           size_t seplen, void *buf,
                                           size_t size);

/* weft_stream_read_until with "\n". The line in buf keeps its "\n" and is
 * not NUL-terminated: use the length returned. */
WEFT_EXPORT ssize_t weft_stream_readline(weft_stream_t *s, char *buf,
                                         size_t size);

/* Zero-copy reading, for parsers: wait until at least `min` bytes are
 * buffered (or the stream ended), then point *data at all buffered bytes
 * and return their number (< min only at end of stream: 0 when nothing is
 * left). The bytes stay valid, unchanged, until the next read, wait_data
 * or consume call on this stream. -EMSGSIZE if min exceeds the stream's
 * limit. */
WEFT_EXPORT ssize_t weft_stream_wait_data(weft_stream_t *s, size_t min,
                                          const void **data);

/* Drop n bytes from the front of the buffered data (after parsing what
 * wait_data showed). Does not wait. Returns 0, -EINVAL if fewer are
 * buffered. */
WEFT_EXPORT int weft_stream_consume(weft_stream_t *s, size_t n);

/* Bytes buffered and not consumed. */
WEFT_EXPORT size_t weft_stream_buffered(const weft_stream_t *s);

/* True once the peer ended the stream and every byte was consumed. */
WEFT_EXPORT bool weft_stream_at_eof(const weft_stream_t *s);

/* Queue bytes to send (copied; never waits): sent now if the socket takes
 * them, else from a buffer as it drains. Bytes go in the order of the
 * calls: while a weft_stream_writev or weft_stream_sendfile is under way
 * (in another task), the bytes are kept aside and sent after its last
 * byte, even if it was cancelled or timed out (dropped if the stream broke
 * or was shut down or closed meanwhile). Returns 0, or the error that
 * broke the stream earlier (-EPIPE, -ECONNRESET, WEFT_ETLS ...),
 * -ESHUTDOWN after weft_stream_shutdown, -EBADF once it was closed (while
 * still allocated: a server's connection stream, or one a task is still
 * inside a call on), -EBUSY on a TLS stream whose handshake is running,
 * -ENOMEM, -EPERM (foreign thread). Use weft_stream_drain for backpressure
 * (it counts the bytes kept aside too). Callable from the loop's thread
 * outside a task too (plain callbacks). */
WEFT_EXPORT int weft_stream_write(weft_stream_t *s, const void *data,
                                  size_t len);

/* Send several buffers without copying them (on a TLS stream they are
 * encrypted, so copied): waits until every byte was handed to the kernel
 * (after what was already queued; weft_stream_write calls made meanwhile
 * go after it). The buffers must stay unchanged until it returns. Returns
 * the total sent, or an error (some bytes may have gone); -EBUSY if
 * another task is in a writev, sendfile or shutdown of this stream (or a
 * TLS handshake), -ESHUTDOWN after weft_stream_shutdown, -EINVAL
 * (iovcnt < 0 or > IOV_MAX). */
WEFT_EXPORT ssize_t weft_stream_writev(weft_stream_t *s,
                                       const struct iovec *iov, int iovcnt);

/* Wait until at most the low-water mark is buffered (at once if at most
 * the high-water mark is). Returns 0 or the stream's error.
 *
 * The marks also bound what a peer can make the stream send by itself: on
 * a TLS stream, reading answers some records (a KeyUpdate request gets a
 * KeyUpdate back); while such answers are queued and more than high water
 * is, reads wait for the peer to take the queue down to low water instead
 * of reading more, so a peer that asks and never reads costs about high
 * water (a read deadline ends the wait). */
WEFT_EXPORT int weft_stream_drain(weft_stream_t *s);

/* Send count bytes of the file fd from offset, without copying through
 * user space (sendfile; a TLS stream reads and encrypts them), after what
 * is queued. fd stays the caller's; its file offset is not moved. Waits
 * until sent; returns the bytes sent: fewer than count at the file's end,
 * or when an error, cancellation or deadline stopped it after some had
 * gone. An error (the stream's, the file's such as -EINVAL for a file
 * sendfile cannot read, -ECANCELED ...) only if nothing was sent.
 * -EINVAL for fd < 0 or offset < 0. Writes made meanwhile, -EBUSY and
 * -ESHUTDOWN: as for weft_stream_writev. */
WEFT_EXPORT ssize_t weft_stream_sendfile(weft_stream_t *s, int fd,
                                         off_t offset, size_t count);

/* Flush what is queued, then end the sending side (the peer reads end of
 * stream; a TLS stream sends close_notify first); reading goes on. Waits
 * for the flush. Returns 0 (also when already shut down) or an error;
 * -EBUSY while another task is in a writev, sendfile or shutdown. */
WEFT_EXPORT int weft_stream_shutdown(weft_stream_t *s);

/* Flush what is queued (waiting, within any deadline scope), close and
 * free the stream: asyncio's close() and wait_closed() in one (a TLS
 * stream sends close_notify first). Returns the stream's earlier write
 * error or the first error of the flush (-ECANCELED, -ETIMEDOUT ...), 0
 * otherwise; the stream is closed either way, and freed once no task is
 * inside a call on it (those get -EBADF). Outside a task (or when
 * cancelled) it does not wait: unsent bytes are dropped. From the loop's
 * thread (-EPERM otherwise, nothing done). NULL is ignored (0). A
 * server's connection stream is the server's: a handler may close it,
 * and the server frees it. On io_uring the descriptor itself is closed by
 * the loop's next poll (before the loop sleeps, and before a run
 * returns), not during the call: a task that closes a stream and then
 * blocks its thread without yielding, waiting for the peer to see the
 * end, waits forever. */
WEFT_EXPORT int weft_stream_close(weft_stream_t *s);

/* Close and free at once, dropping unsent bytes; TCP peers see a reset.
 * From the loop's thread, in a task or not (ignored, logged, from
 * another); tasks inside a call on the stream get -EBADF, and it is freed
 * once they have left. NULL is ignored. */
WEFT_EXPORT void weft_stream_abort(weft_stream_t *s);

/* The socket's local and peer addresses (like getsockname/getpeername;
 * a server's connection keeps the address accept gave, so its peer is
 * known even after the peer reset). Returns 0 or -ENOTSOCK / -ENOTCONN,
 * -EINVAL (NULL argument, closed stream). */
WEFT_EXPORT int weft_stream_sockname(const weft_stream_t *s,
                                     struct sockaddr_storage *addr,
                                     socklen_t *len);
WEFT_EXPORT int weft_stream_peername(const weft_stream_t *s,
                                     struct sockaddr_storage *addr,
                                     socklen_t *len);

/* The stream's file descriptor (still owned by the stream), for options;
 * -1 once closed. */
WEFT_EXPORT int weft_stream_fd(const weft_stream_t *s);

/* ---- servers ------------------------------------------------------------------ */

/* A connection handler: runs as a task, one per connection. The stream is
 * the server's: the handler must not free it; it is closed (flushed) when
 * the handler returns, unless the handler closed it already. A negative
 * return other than -ECANCELED is logged at WEFT_LOG_INFO (which the
 * default log handler does not print).
 *
 * Lines a server logs because of what peers do (failed handshakes,
 * handlers' errors, accept failing while descriptors are exhausted) are
 * limited per loop: the first is logged, the next ones of the following
 * 10 s are counted and summed up in one line, "<the last one> (repeated N
 * times)", and so on every 10 s while they go on (the summary comes with
 * the next such line, when the loop is next idle, or when it closes). */
typedef int (*weft_conn_fn)(weft_stream_t *s, void *arg);

enum {
    WEFT_SERVER_REUSEPORT = 1u << 0, /* SO_REUSEPORT: one listener per loop */
    WEFT_SERVER_NO_REUSEADDR = 1u << 1,
};

typedef struct weft_server_opts {
    int backlog;               /* 0: 511 */
    size_t max_connections;    /* 0: unlimited; at the limit, accepting waits */
    unsigned flags;            /* WEFT_SERVER_* */
    size_t handler_stack_size; /* 0: the loop's default */
    weft_stream_opts_t stream;
    /* TLS: a server context (weft/tls.h); each connection's handshake runs
     * before the handler (a failed one is logged at WEFT_LOG_INFO, limited
     * as below, and dropped). The handshake is idle time: a graceful close
     * ends it at once, as it ends a WEFT_SCOPE_STOPPABLE wait. */
    weft_tls_ctx_t *tls;
} weft_server_opts_t;

/* Listen on host:port (host NULL: all interfaces, [::] taking IPv4 too,
 * or 0.0.0.0 where IPv6 is missing; port "0": an ephemeral one, see
 * weft_server_port) and serve each connection with fn(s, arg) in its own
 * task. Returns at once with the server in *out, owned by the caller
 * (weft_server_close). Call from the loop's thread, in a task or not; a
 * host name that needs a lookup (anything but a numeric address without
 * a zone, or "localhost") is resolved with weft_getaddrinfo, which needs
 * a task (-EPERM otherwise).
 *
 * A host with several addresses ("localhost": ::1 and 127.0.0.1; a name)
 * is listened on at every one (at most 16), as asyncio's create_server
 * does, all on one port (with "0", the one the first address got), IPv6
 * sockets IPV6_V6ONLY; an address whose family this host lacks
 * (EADDRNOTAVAIL, EAFNOSUPPORT) is skipped, any other failure fails the
 * call. The listeners share max_connections and close together.
 *
 * Accept errors such as EMFILE pause accepting briefly instead of
 * spinning (logged, limited as above); an error of the connection being
 * accepted (ECONNABORTED ...)
 * skips it; any other one means the listening socket is broken (EINVAL
 * after a shutdown of it) and ends accepting on it, with a log line.
 *
 * A server still open when its loop closes is stopped by the close (the
 * listening sockets are closed, a Unix socket file removed; the handlers
 * are cancelled with the loop's other tasks); weft_server_close then only
 * frees it, and weft_loop_free frees it if nobody did (with a warning).
 *
 * Returns 0, -EADDRINUSE, -EACCES, -EADDRNOTAVAIL, -EINVAL (NULL fn,
 * out or port, bad port), a resolver error (weft/dns.h), -ENOMEM, -EPERM
 * ... */
WEFT_EXPORT int weft_start_server(weft_loop_t *loop, weft_server_t **out,
                                  const char *host, const char *port,
                                  weft_conn_fn fn, void *arg,
                                  const weft_server_opts_t *opts);

/* The same on a Unix stream socket path ('@name': abstract). An existing
 * socket file at path is replaced (any other file: -EADDRINUSE); the file
 * is removed when the server closes. -ENAMETOOLONG for a path longer than
 * sun_path. */
WEFT_EXPORT int weft_start_unix_server(weft_loop_t *loop, weft_server_t **out,
                                       const char *path, weft_conn_fn fn,
                                       void *arg,
                                       const weft_server_opts_t *opts);

/* The address the server listens on: the first one, when it listens on
 * several (they differ only in the IP address); still that address
 * after the loop's close stopped the server. Returns 0, -EINVAL (NULL
 * argument). */
WEFT_EXPORT int weft_server_sockname(const weft_server_t *srv,
                                     struct sockaddr_storage *addr,
                                     socklen_t *len);

/* The listening port (TCP; the same on every address), or 0. */
WEFT_EXPORT int weft_server_port(const weft_server_t *srv);

/* Connections being served now. */
WEFT_EXPORT size_t weft_server_connections(const weft_server_t *srv);

/* Graceful close: stop accepting; ask every handler to stop
 * (weft_task_cancel_soft: weft_stop_requested() is true and waits in
 * WEFT_SCOPE_STOPPABLE scopes end) and cancel the ones still running after
 * `grace` seconds; wait until all have finished; free the server. From a
 * task. Returns 0, -EINVAL (NULL, or closed twice), or -EPERM (not in a
 * task with grace != 0: use grace 0 from the loop's thread, which cancels
 * the handlers and returns at once; the server is freed once they end).
 * Cancelling the closing task cuts the grace period short (the handlers
 * are cancelled) but the call still waits for them to end. */
WEFT_EXPORT int weft_server_close(weft_server_t *srv, double grace);

/* ---- UDP ------------------------------------------------------------------------- */

enum {
    WEFT_UDP_BROADCAST = 1u << 0, /* SO_BROADCAST */
    WEFT_UDP_REUSEPORT = 1u << 1, /* SO_REUSEPORT (and SO_REUSEADDR) */
};

/* Open a UDP endpoint: bound to local (host:port; NULLs: any address and an
 * ephemeral port) and, if remote_host is not NULL, connected to
 * remote_host:remote_port (the first address it resolves to; then send
 * with a NULL address and receive only from that peer). family AF_UNSPEC
 * picks the family of the addresses given (IPv4 when none). From a task
 * (names may need resolving). Returns 0 with the endpoint in *out, owned
 * by the caller (weft_udp_close), or -EPERM (not in a task), -EINVAL
 * (unknown flags, bad port), a resolver error (weft/dns.h), an error of
 * bind or connect (-EADDRINUSE, -EADDRNOTAVAIL ...), -ENOMEM. */
WEFT_EXPORT int weft_udp_open(weft_udp_t **out, const char *local_host,
                              const char *local_port,
                              const char *remote_host,
                              const char *remote_port, int family,
                              unsigned flags);

/* From a task: send one datagram (to addr, or to the connected peer when
 * addr is NULL: -EDESTADDRREQ if not connected). Waits only if the socket
 * buffer is full. Returns the bytes sent or an error (-EMSGSIZE for a
 * datagram too large, -ECONNREFUSED after an ICMP error on a connected
 * endpoint ...). */
WEFT_EXPORT ssize_t weft_udp_sendto(weft_udp_t *u, const void *buf,
                                    size_t len, const struct sockaddr *addr,
                                    socklen_t addrlen);

/* From a task: receive one datagram into buf, waiting for one. Returns its
 * length, with the sender's address in *from (may be NULL) and its length
 * in *fromlen (when from and fromlen are not NULL). A datagram longer
 * than len is truncated: -EMSGSIZE is returned and it is dropped. */
WEFT_EXPORT ssize_t weft_udp_recvfrom(weft_udp_t *u, void *buf, size_t len,
                                      struct sockaddr_storage *from,
                                      socklen_t *fromlen);

/* The local address (getsockname): 0, or -EINVAL (NULL argument, closed).
 * The descriptor stays the endpoint's (-1 once closed). */
WEFT_EXPORT int weft_udp_sockname(const weft_udp_t *u,
                                  struct sockaddr_storage *addr,
                                  socklen_t *len);
WEFT_EXPORT int weft_udp_fd(const weft_udp_t *u);

/* Close and free the endpoint; tasks waiting on it get -EBADF. NULL is
 * ignored. */
WEFT_EXPORT void weft_udp_close(weft_udp_t *u);

#ifdef __cplusplus
}
#endif
#endif
