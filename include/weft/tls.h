/* weft/tls.h - TLS over streams (OpenSSL 3): a TLS stream is a stream.
 *
 * Make a context once (client or server), then either pass it in
 * weft_connect_opts_t / weft_server_opts_t (open_connection and servers do
 * the handshake for you), or upgrade a connected stream yourself with
 * weft_tls_client / weft_tls_server (STARTTLS). Every stream call then
 * reads and writes plaintext. Clients verify the peer's certificate
 * against the system's trust store and check the host name by default;
 * turning that off takes an explicit flag.
 *
 * Errors of the handshake say why: WEFT_ETLS_UNTRUSTED (unknown CA,
 * self-signed), WEFT_ETLS_EXPIRED (or not yet valid), WEFT_ETLS_HOSTNAME
 * (certificate for another name), WEFT_ETLS (anything else: protocol
 * version, no shared cipher, no ALPN protocol in common, a peer that is
 * not speaking TLS); the full text, naming the host and OpenSSL's reason,
 * is in weft_tls_error(s). open_connection and servers free the stream of
 * a failed handshake, so they log that text first, at WEFT_LOG_INFO, which
 * the default log handler does not print: on a server, failed handshakes
 * are ordinary traffic (scanners, health checks, clients that give up or
 * distrust the certificate) and at WARN would fill stderr. Install a
 * handler with weft_set_log_handler to see them; open_connection's caller
 * has the code either way. A server's lines are limited (net.h, servers):
 * one line, then "(repeated N times)" once per 10 s.
 *
 * What a peer can make a TLS stream hold is bounded: a server makes its
 * OpenSSL state only once the client's first record (its ClientHello) has
 * arrived whole, so a client that connects and stalls costs about 1 KiB;
 * and a peer that floods requests for answers (KeyUpdate) without reading
 * them is paced by the stream's high-water mark (weft_stream_drain).
 */
#ifndef WEFT_TLS_H
#define WEFT_TLS_H

#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The TLS error codes (WEFT_ETLS, WEFT_ETLS_UNTRUSTED, WEFT_ETLS_EXPIRED,
 * WEFT_ETLS_HOSTNAME) are in WEFT_ERR_MAP, weft/core.h. */

typedef struct weft_tls_ctx weft_tls_ctx_t;

enum {
    /* Client: do not verify the server's certificate at all (testing
     * only: anyone can then read and change the traffic). */
    WEFT_TLS_NO_VERIFY = 1u << 0,
    /* Server: ask clients for a certificate and verify it against ca_file
     * / ca_path (or the system store). */
    WEFT_TLS_VERIFY_PEER = 1u << 1,
};

typedef struct weft_tls_opts {
    /* PEM files: our certificate chain and private key (required for a
     * server; a client certificate is optional). */
    const char *cert_file, *key_file;
    /* Trusted CAs (PEM file and/or hashed directory); both NULL: the
     * system's store (/etc/ssl/certs). */
    const char *ca_file, *ca_path;
    /* ALPN protocols to offer (client) or accept (server), in order of
     * preference, comma-separated: "h2,http/1.1". NULL: none. A server
     * picks the first of its own that the client offers; a client that
     * offers only others gets a fatal no_application_protocol alert (RFC
     * 7301 section 3.2): WEFT_ETLS on both sides, and weft_tls_error says
     * no_application_protocol. A client that offers none is served
     * without ALPN. */
    const char *alpn;
    /* Lowest version accepted: 0 means TLS 1.2 (TLS 1.3 is preferred). */
    int min_version; /* 0x0303 = TLS 1.2, 0x0304 = TLS 1.3 */
    /* Deadline of every handshake made with this context, in seconds (0:
     * 30): those of open_connection and servers, and weft_tls_client /
     * weft_tls_server called by hand. A deadline scope of its own, inside
     * any the caller has. */
    double handshake_timeout;
    unsigned flags; /* WEFT_TLS_* */
} weft_tls_opts_t;

/* Make a client or server context (opts may be NULL for a client). Not
 * tied to a loop: callable from any thread, and the files are read now,
 * synchronously. Returns 0 with the context in *out (free it with
 * weft_tls_ctx_free), or -ENOENT (a file is missing; other stat(2)
 * errors such as -EACCES likewise), -EINVAL (a server without cert_file
 * and key_file, one of the two without the other, an empty or over-long
 * name in alpn), WEFT_ETLS (a file is not a valid certificate or key, or
 * they do not match, or the CAs could not be loaded, or min_version is
 * not one OpenSSL accepts; the reason is logged), -ENOMEM. */
WEFT_EXPORT int weft_tls_client_ctx(weft_tls_ctx_t **out,
                                    const weft_tls_opts_t *opts);
WEFT_EXPORT int weft_tls_server_ctx(weft_tls_ctx_t **out,
                                    const weft_tls_opts_t *opts);

/* Free a context. Streams made with it keep what they need, even in the
 * middle of their handshake (OpenSSL's SSL_CTX is reference counted and
 * owns everything a handshake reads), so it may be freed while they are
 * open. A server uses its context for each new connection: free it after
 * weft_server_close. NULL is ignored. */
WEFT_EXPORT void weft_tls_ctx_free(weft_tls_ctx_t *ctx);

/* Turn a connected stream into a TLS client stream and do the handshake
 * (from a task; cancellable; within deadline scopes and the context's
 * handshake_timeout). server_name is sent as SNI and checked against the
 * certificate (a host name of 1 to 255 bytes, or an IP address, checked
 * but not sent); NULL skips the check (only with WEFT_TLS_NO_VERIFY).
 * Bytes already buffered on the stream are taken as the start of the TLS
 * data.
 *
 * The upgrade needs the whole stream: while another task is inside a read
 * or a write of it, it is refused with -EBUSY (logged); during the
 * handshake, other tasks' reads and writes get -EBUSY, and closing the
 * stream from another task ends the handshake with -EBADF (the stream is
 * then freed as usual).
 *
 * Returns 0; before the handshake starts, -EINVAL (s or ctx NULL;
 * server_name empty, over 255 bytes, rejected by OpenSSL, or NULL while
 * verifying; the stream is already TLS; a server context: logged),
 * -EBUSY, -EBADF (closed), -EPERM (not in a task, or a foreign loop's
 * stream), -ENOMEM, and the stream is left as it was, still plain; or an
 * error of the handshake above, -ETIMEDOUT, -ECANCELED, -EBADF, or an I/O
 * error, and the stream is unusable (every later read and write returns
 * that error): close it. */
WEFT_EXPORT int weft_tls_client(weft_stream_t *s, weft_tls_ctx_t *ctx,
                                const char *server_name);

/* The same for the server side (with a server context; a client
 * context is -EINVAL). */
WEFT_EXPORT int weft_tls_server(weft_stream_t *s, weft_tls_ctx_t *ctx);

/* The protocol ALPN agreed on ("http/1.1"), or NULL. Valid while the
 * stream is open. */
WEFT_EXPORT const char *weft_tls_alpn(const weft_stream_t *s);

/* The host name a client sent with SNI (on a server stream), or NULL.
 * Valid while the stream is open. */
WEFT_EXPORT const char *weft_tls_server_name(const weft_stream_t *s);

/* The TLS version in use, as "TLSv1.3", or NULL for a plain stream (and
 * for a server's stream still waiting for the client's first bytes). */
WEFT_EXPORT const char *weft_tls_version(const weft_stream_t *s);

/* What a loop's TLS streams hold, for a program's counters. */
typedef struct weft_tls_stats {
    size_t streams;     /* TLS streams of the loop, open */
    size_t handshaking; /* of them, in their handshake (a server's
                           included while it waits for the ClientHello) */
    size_t buffers;       /* ciphertext read buffers streams hold now */
    size_t spare_buffers; /* kept for the next reads; those no read took
                             for a second go when the loop is idle */
    size_t buffer_bytes;  /* of both together */
    /* Times the loop, idle after a burst of connections (its TLS streams
     * fell by 64 and by half from their peak), asked the C library to give
     * its free memory back to the system (glibc's malloc_trim): what
     * OpenSSL and the handshakes had, freed but kept in the heap. */
    uint64_t trims;
} weft_tls_stats_t;

/* Fill *out for `loop` (from its thread; all 0 if it never had a TLS
 * stream). Returns 0, -EINVAL (NULL), -EPERM (foreign thread). */
WEFT_EXPORT int weft_tls_stats(weft_loop_t *loop, weft_tls_stats_t *out);

/* Why the last TLS operation on this stream failed, as one line naming
 * the host: "TLS handshake with localhost failed: certificate has expired".
 * "" when nothing failed. Valid while the stream is open. */
WEFT_EXPORT const char *weft_tls_error(const weft_stream_t *s);

#ifdef __cplusplus
}
#endif
#endif
