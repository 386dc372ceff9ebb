/* TLS over streams with OpenSSL 3 and memory BIOs.
 *
 * OpenSSL never touches the socket: ciphertext it produces is taken from
 * its write BIO and sent through the stream's own raw path (written now,
 * or queued and flushed from readiness events like any stream's bytes);
 * ciphertext that arrives is read by the stream's I/O operations and fed
 * to its read BIO. So TLS needs no I/O code of its own, works the same
 * over any backend (an io_uring one later), and a stream upgraded after
 * plaintext (STARTTLS) keeps the bytes it had already buffered.
 */
#include <arpa/inet.h>
#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "net_int.h"
#include "weft/tls.h"

#define CIPHER_CHUNK (16 * 1024 + 512) /* one record and a bit */
#define WRITE_CHUNK (64 * 1024)        /* plaintext encrypted at a time */
#define IDLE_BIO_MAX 4096 /* a BIO buffer bigger than this goes when idle */
#define DEFAULT_HANDSHAKE_TIMEOUT 30.0
#define RECORD_MAX (16384 + 2048) /* the longest TLS record (RFC 8446 5.2) */
/* Spare read buffers a loop keeps beyond those lent: an idle loop holds
 * at most this many (4 x 16.5 KiB). */
#define SPARE_EXTRA 4
/* A burst of connections is over when a loop's TLS streams fell by this
 * many and by half from their peak, and none came or went for QUIET. */
#define TRIM_STREAMS 64
#define QUIET 1.0 /* seconds */

struct weft_tls_ctx {
    SSL_CTX *ctx;
    bool server;
    unsigned flags;
    double handshake_timeout;
};

/* A server's ALPN protocols, in wire format (length-prefixed names). The
 * SSL_CTX owns them (ex_data, freed with it), so a handshake still running
 * after weft_tls_ctx_free reads them through its SSL's own reference. */
struct alpn_list {
    size_t len;
    unsigned char wire[];
};

/* A loop's TLS streams: counts for weft_tls_stats, the spare ciphertext
 * read buffers, and the trim after a burst. */
struct tls_loop {
    struct weft__hook free_hook;
    weft_loop_t *loop;
    void *spare;        /* a list of buffers, linked through their start */
    size_t nspare;
    size_t lent;        /* buffers streams hold now */
    size_t streams, handshaking;
    size_t peak;          /* most streams since the last trim */
    uint64_t last_change; /* when a stream last came or went */
    weft_handle_t trim;   /* a trim_later waiting to run */
    uint64_t trims;
};

struct weft__tls {
    struct tls_loop *lp;
    SSL *ssl;         /* a server makes it once the ClientHello is there */
    SSL_CTX *ctx;     /* till then: a reference (weft's may be freed) */
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network */
    char *in;         /* one read of ciphertext, while data flows */
    const char *peer; /* for messages: the server name or the address */
    char peer_buf[64];
    char alpn[256];
    char msg[256];
};

/* ---- contexts ------------------------------------------------------------------ */

/* "h2,http/1.1" in wire format. -EINVAL: an empty or too long name. */
static int alpn_wire(const char *list, struct alpn_list **out) {
    size_t n = strlen(list);
    struct alpn_list *w = weft__malloc(sizeof *w + n + 1);
    if (!w)
        return -ENOMEM;
    size_t o = 0;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || l > 255) {
            weft__free(w);
            return -EINVAL;
        }
        w->wire[o++] = (unsigned char)l;
        memcpy(w->wire + o, p, l);
        o += l;
        p += l + (e ? 1 : 0);
    }
    w->len = o;
    *out = w;
    return 0;
}

static int alpn_index = -1;
static pthread_once_t alpn_once = PTHREAD_ONCE_INIT;

static void alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
                      long argl, void *argp) {
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    weft__free(ptr);
}

static void alpn_index_new(void) {
    alpn_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, alpn_free);
}

/* Server: the first of our protocols the client offers. None in common is
 * a fatal no_application_protocol alert (RFC 7301 section 3.2); a client
 * that offers no ALPN at all never gets here. */
static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)arg;
    const struct alpn_list *l =
        SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), alpn_index);
    /* The step runs only after a pass of the body, with l not NULL. */
    /* cppcheck-suppress nullPointerRedundantCheck */
    for (size_t i = 0; l && i < l->len; i += 1 + l->wire[i]) {
        for (unsigned j = 0; j < inlen; j += 1u + in[j]) {
            if (in[j] == l->wire[i] &&
                memcmp(in + j + 1, l->wire + i + 1, in[j]) == 0) {
                *out = in + j + 1;
                *outlen = in[j];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* OpenSSL sends the alert */
}

/* Empty OpenSSL's error queue; true if it said an allocation failed
 * (then the error is -ENOMEM, not a TLS failure: a verification that
 * could not allocate says "untrusted" too). */
static bool clear_errors_oom(void) {
    bool oom = false;
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        oom |= ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    return oom;
}

/* Log the first error queued, empty the queue; true if an allocation
 * failed (see clear_errors_oom). */
static bool log_ssl_errors(const char *what) {
    unsigned long e = ERR_peek_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    weft__log(WEFT_LOG_WARN, "%s: %s", what, e ? buf : "failed");
    return clear_errors_oom();
}

static int file_ok(const char *path) {
    struct stat st;
    return !path || stat(path, &st) == 0 ? 0 : -errno;
}

static int ctx_new(weft_tls_ctx_t **out, const weft_tls_opts_t *o,
                   bool server) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    weft_tls_opts_t def = {0};
    if (!o)
        o = &def;
    if (server && (!o->cert_file || !o->key_file))
        return -EINVAL;
    if (!o->cert_file != !o->key_file)
        return -EINVAL;
    int err;
    if ((err = file_ok(o->cert_file)) || (err = file_ok(o->key_file)) ||
        (err = file_ok(o->ca_file)) || (err = file_ok(o->ca_path)))
        return err;
    weft_tls_ctx_t *c = weft__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->server = server;
    c->flags = o->flags;
    c->handshake_timeout = o->handshake_timeout > 0
                               ? o->handshake_timeout
                               : DEFAULT_HANDSHAKE_TIMEOUT;
    c->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!c->ctx) {
        weft__free(c);
        return -ENOMEM;
    }
    SSL_CTX *x = c->ctx;
    bool oom = false;
    int minv = o->min_version ? o->min_version : TLS1_2_VERSION;
    if (!SSL_CTX_set_min_proto_version(x, minv))
        goto bad;
    /* Peers that close without close_notify read as an ordinary end of
     * stream, as most TLS stacks treat them. */
    SSL_CTX_set_options(x, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(x, SSL_MODE_RELEASE_BUFFERS);
    if (o->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(x, o->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(x, o->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(x) != 1) {
            oom = log_ssl_errors("weft TLS: certificate or key");
            goto bad;
        }
    }
    bool verify = server ? (o->flags & WEFT_TLS_VERIFY_PEER)
                         : !(o->flags & WEFT_TLS_NO_VERIFY);
    if (verify) {
        int ok = o->ca_file || o->ca_path
                     ? SSL_CTX_load_verify_locations(x, o->ca_file, o->ca_path)
                     : SSL_CTX_set_default_verify_paths(x);
        if (ok != 1) {
            oom = log_ssl_errors("weft TLS: trusted CAs");
            goto bad;
        }
        SSL_CTX_set_verify(x,
                           SSL_VERIFY_PEER |
                               (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    } else {
        SSL_CTX_set_verify(x, SSL_VERIFY_NONE, NULL);
    }
    if (o->alpn) {
        struct alpn_list *l;
        if ((err = alpn_wire(o->alpn, &l))) {
            SSL_CTX_free(x);
            weft__free(c);
            return err;
        }
        if (server) {
            pthread_once(&alpn_once, alpn_index_new);
            if (alpn_index < 0 ||
                !SSL_CTX_set_ex_data(x, alpn_index, l)) {
                weft__free(l);
                goto bad;
            }
            SSL_CTX_set_alpn_select_cb(x, select_alpn, NULL);
        } else {
            int rc = SSL_CTX_set_alpn_protos(x, l->wire, (unsigned)l->len);
            weft__free(l); /* OpenSSL keeps its own copy */
            if (rc != 0)
                goto bad;
        }
    }
    *out = c;
    return 0;
bad:
    SSL_CTX_free(x);
    weft__free(c);
    return clear_errors_oom() || oom ? -ENOMEM : WEFT_ETLS;
}

int weft_tls_client_ctx(weft_tls_ctx_t **out, const weft_tls_opts_t *opts) {
    return ctx_new(out, opts, false);
}

int weft_tls_server_ctx(weft_tls_ctx_t **out, const weft_tls_opts_t *opts) {
    return ctx_new(out, opts, true);
}

void weft_tls_ctx_free(weft_tls_ctx_t *c) {
    if (!c)
        return;
    /* Streams' SSL objects hold their own reference to the SSL_CTX, which
     * owns everything a handshake reads (ALPN list included). */
    SSL_CTX_free(c->ctx);
    weft__free(c);
}

/* ---- the loop's TLS state: buffers and counts ------------------------------------ *
 * A read of ciphertext takes a 16.5 KiB buffer and gives it back once the
 * socket is empty, so with small messages every read would malloc and free
 * one: they come from a per-loop list of spares instead, which keeps at
 * most SPARE_EXTRA more than the streams hold at the moment, so it shrinks
 * as soon as a burst of reads is over.
 *
 * When a burst of connections is over (the loop's TLS streams fell by
 * TRIM_STREAMS and by half from their peak, and none came or went for a
 * second), the C library is asked to give its free memory back to the
 * system: OpenSSL's objects and the handshakes' buffers, freed by then,
 * otherwise stay in its heap for good (2,000 TLS pairs closed left 159 MiB
 * RSS in bench/tls_idle, 27 MiB with the trim; 1,000 handshakes to a
 * server left 62 MiB, 10 MiB with it). As HotSpot's TrimNativeHeapInterval
 * does, but once after a burst rather than on a timer: malloc_trim costs
 * about 0.2 ms of CPU per connection's worth of memory it returns, on this
 * machine, and waiting for a quiet second keeps it off a busy loop. */

static void tls_loop_free(weft_loop_t *loop, struct weft__hook *h) {
    (void)loop; /* closed: a trim_later still due was dropped, not run */
    struct tls_loop *lp = WEFT__CONTAINER_OF(h, struct tls_loop, free_hook);
    while (lp->spare) {
        void *b = lp->spare;
        lp->spare = *(void **)b;
        weft__free(b);
    }
    weft__free(lp);
}

static struct tls_loop *tls_loop_get(weft_loop_t *loop) {
    struct weft__hook *h = weft__hook_find(loop, tls_loop_free);
    if (h)
        return WEFT__CONTAINER_OF(h, struct tls_loop, free_hook);
    struct tls_loop *lp = weft__calloc(1, sizeof *lp);
    if (!lp)
        return NULL;
    lp->loop = loop;
    weft__hook_add(loop, &lp->free_hook, WEFT__PHASE_FREE, tls_loop_free);
    return lp;
}

static char *buf_take(struct tls_loop *lp) {
    char *b = lp->spare;
    if (b) {
        lp->spare = *(void **)b;
        lp->nspare--;
    } else if (!(b = weft__malloc(CIPHER_CHUNK))) {
        return NULL;
    }
    lp->lent++;
    return b;
}

static void buf_give(struct tls_loop *lp, char *b) {
    lp->lent--;
    *(void **)b = lp->spare;
    lp->spare = b;
    lp->nspare++;
    /* at most SPARE_EXTRA more than lent, also when many streams gave
     * theirs back in a row */
    while (lp->nspare > lp->lent + SPARE_EXTRA && lp->spare) {
        b = lp->spare;
        lp->spare = *(void **)b;
        lp->nspare--;
        weft__free(b);
    }
}

static bool burst_over(const struct tls_loop *lp) {
    return lp->peak >= lp->streams + TRIM_STREAMS &&
           lp->streams <= lp->peak / 2;
}

static void trim_later(void *arg) {
    struct tls_loop *lp = arg;
    lp->trim.id = 0;
    if (!burst_over(lp))
        return;
    uint64_t quiet = lp->last_change + (uint64_t)(QUIET * 1e9);
    if (lp->loop->now + WEFT__NS_PER_SEC / 1000 < quiet) { /* not yet */
        if (weft_call_later(lp->loop, (double)(quiet - lp->loop->now) / 1e9,
                            trim_later, lp, &lp->trim) < 0)
            lp->trim.id = 0; /* the next stream that goes tries again */
        return;
    }
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    lp->trims++;
    lp->peak = lp->streams;
}

/* A stream came (+1) or went (-1). */
static void streams_changed(struct tls_loop *lp, int by) {
    lp->streams += (size_t)(ssize_t)by;
    if (lp->streams > lp->peak)
        lp->peak = lp->streams;
    lp->last_change = lp->loop->now;
    if (by < 0 && !lp->trim.id && burst_over(lp) && !lp->loop->closing &&
        weft_call_later(lp->loop, QUIET, trim_later, lp, &lp->trim) < 0)
        lp->trim.id = 0;
}

int weft_tls_stats(weft_loop_t *loop, weft_tls_stats_t *out) {
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    int err = weft__loop_check(loop, "weft_tls_stats");
    if (err)
        return err;
    struct weft__hook *h = weft__hook_find(loop, tls_loop_free);
    if (!h)
        return 0;
    struct tls_loop *lp = WEFT__CONTAINER_OF(h, struct tls_loop, free_hook);
    out->streams = lp->streams;
    out->handshaking = lp->handshaking;
    out->buffers = lp->lent;
    out->spare_buffers = lp->nspare;
    out->buffer_bytes = (lp->lent + lp->nspare) * CIPHER_CHUNK;
    out->trims = lp->trims;
    return 0;
}

/* ---- moving ciphertext ----------------------------------------------------------- */

/* Send what OpenSSL wrote to its BIO. */
static int push_out(weft_stream_t *s) {
    char *p;
    long n = BIO_get_mem_data(s->tls->wbio, &p);
    if (n <= 0)
        return 0;
    int err = weft__stream_send_raw(s, p, (size_t)n);
    (void)BIO_reset(s->tls->wbio);
    return err;
}

/* The same for what reading made OpenSSL write: a handshake's flights, the
 * answer to a KeyUpdate, an alert. The peer decides how much of that there
 * is, so reading waits while it is backed up (weft__stream_paced): a peer
 * that floods KeyUpdate requests and never reads costs about the high
 * water mark, not 1.5 MiB a second (issue 17). */
static int push_out_read(weft_stream_t *s) {
    size_t before = s->wlen;
    int err = push_out(s);
    if (s->wlen > before) /* some of it waits: the application's does not
                             pace reading, only ours */
        weft__stream_paced(s);
    return err;
}

/* An empty memory BIO keeps the largest buffer it ever held (BIO_reset
 * only clears it): after a burst, swap it for a new one so an idle stream
 * holds a few hundred bytes, not the burst. */
static void shrink_rbio(struct weft__tls *t) {
    BUF_MEM *m;
    BIO_get_mem_ptr(t->rbio, &m);
    if (m->max <= IDLE_BIO_MAX || BIO_ctrl_pending(t->rbio) > 0)
        return;
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        SSL_set0_rbio(t->ssl, b); /* frees the old one */
        t->rbio = b;
    }
}

static void shrink_wbio(struct weft__tls *t) {
    BUF_MEM *m;
    BIO_get_mem_ptr(t->wbio, &m);
    if (m->max <= IDLE_BIO_MAX || BIO_ctrl_pending(t->wbio) > 0)
        return;
    BIO *b = BIO_new(BIO_s_mem());
    if (b) {
        SSL_set0_wbio(t->ssl, b);
        t->wbio = b;
    }
}

/* Read ciphertext from the socket into OpenSSL's BIO. 0 at end.
 *
 * The ciphertext buffer is taken only once data is there: after a short
 * read (the kernel's buffer emptied) the stream first waits for the next
 * edge, as weft__stream_read_fd would, without a buffer, and the buffer
 * goes back after each short read, so an idle stream holds none. A full
 * read keeps it for the next one (more data is likely waiting). */
static ssize_t pull_in(weft_stream_t *s) {
    struct weft__tls *t = s->tls;
    if (!t->in) {
        /* Nothing latched (a new stream, or after a short read), or the
         * read path's answers backed up: wait without a buffer. */
        if (weft__stream_read_blocked(s, true)) {
            shrink_rbio(t);
            shrink_wbio(t);
            int w = weft__stream_read_wait(s, true);
            if (w < 0)
                return w;
        }
        if (!(t->in = buf_take(t->lp)))
            return -ENOMEM;
    }
    int late = 0; /* bytes, but interrupted meanwhile (io_uring) */
    ssize_t n = weft__stream_read_fd(s, t->in, CIPHER_CHUNK, &late);
    if (n > 0 && BIO_write(t->rbio, t->in, (int)n) != (int)n)
        n = -ENOMEM; /* the BIO could not grow: those bytes are lost */
    else if (late)
        n = late; /* the bytes wait in the BIO for the next read */
    else if (n == 0)
        BIO_set_mem_eof_return(t->rbio, 0); /* reads now see the end */
    if (n != CIPHER_CHUNK) {
        buf_give(t->lp, t->in);
        t->in = NULL;
    }
    return n;
}

static void set_msg(weft_stream_t *s, const char *what, const char *why) {
    snprintf(s->tls->msg, sizeof s->tls->msg, "TLS %s with %s failed: %s",
             what, s->tls->peer, why);
}

/* Why an I/O wait or read of the handshake failed, for weft_tls_error. */
static int io_failed(weft_stream_t *s, int err) {
    set_msg(s, "handshake", err == -ETIMEDOUT   ? "timed out"
                            : err == -ECANCELED ? "cancelled"
                                                : weft_strerror(err));
    return err;
}

/* Classify a failed handshake, with one line saying why. */
static int handshake_error(weft_stream_t *s, int ret) {
    SSL *ssl = s->tls->ssl;
    int e = SSL_get_error(ssl, ret);
    long v = SSL_get_verify_result(ssl);
    unsigned long le = ERR_peek_last_error();
    int code = WEFT_ETLS;
    if (v != X509_V_OK) {
        switch (v) {
        case X509_V_ERR_CERT_HAS_EXPIRED:
        case X509_V_ERR_CERT_NOT_YET_VALID:
            code = WEFT_ETLS_EXPIRED;
            break;
        case X509_V_ERR_HOSTNAME_MISMATCH:
        case X509_V_ERR_IP_ADDRESS_MISMATCH:
            code = WEFT_ETLS_HOSTNAME;
            break;
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
        case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        case X509_V_ERR_CERT_UNTRUSTED:
            code = WEFT_ETLS_UNTRUSTED;
            break;
        default:
            break;
        }
        set_msg(s, "handshake", X509_verify_cert_error_string(v));
    } else if (le && ERR_GET_LIB(le) == ERR_LIB_SSL &&
               ERR_GET_REASON(le) == SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL) {
        set_msg(s, "handshake", "the server supports none of our ALPN "
                                "protocols (alert no_application_protocol)");
    } else if (le && ERR_GET_LIB(le) == ERR_LIB_SSL &&
               ERR_GET_REASON(le) == SSL_R_NO_APPLICATION_PROTOCOL) {
        set_msg(s, "handshake", "the client offers none of our ALPN "
                                "protocols (sent no_application_protocol)");
    } else if (le) {
        char buf[160];
        ERR_error_string_n(le, buf, sizeof buf);
        const char *reason = ERR_reason_error_string(le);
        set_msg(s, "handshake", reason ? reason : buf);
    } else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
        set_msg(s, "handshake", "the peer closed the connection");
    } else {
        set_msg(s, "handshake", "protocol error");
    }
    if (clear_errors_oom() || v == X509_V_ERR_OUT_OF_MEM)
        code = -ENOMEM;
    return code;
}

static int handshake(weft_stream_t *s) {
    SSL *ssl = s->tls->ssl;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(ssl);
        int err = push_out_read(s);
        if (r == 1)
            return err;
        if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
            return handshake_error(s, r);
        if (err) {
            set_msg(s, "handshake", weft_strerror(err));
            return err;
        }
        ssize_t n = pull_in(s);
        if (n < 0)
            return io_failed(s, (int)n);
    }
}

/* ---- the stream's transport -------------------------------------------------------- */

int weft__tls_write(weft_stream_t *s, const void *data, size_t len) {
    struct weft__tls *t = s->tls;
    if (!t->ssl || !SSL_is_init_finished(t->ssl)) { /* a handshake runs */
        weft__log(WEFT_LOG_WARN, "weft_stream_write: the TLS handshake is "
                                 "still running");
        return -EBUSY;
    }
    /* A piece at a time, sent as it is encrypted: the write BIO holds one
     * piece's records, not the whole of a large write. */
    const char *p = data;
    int err = 0;
    while (len > 0 && !err) {
        int chunk = len > WRITE_CHUNK ? WRITE_CHUNK : (int)len;
        ERR_clear_error();
        int r = SSL_write(t->ssl, p, chunk);
        if (r <= 0) {
            set_msg(s, "write", "the TLS session is broken");
            ERR_clear_error();
            return s->werr = WEFT_ETLS;
        }
        p += r;
        len -= (size_t)r;
        err = push_out(s);
    }
    shrink_wbio(t);
    return err;
}

/* writev: small buffers are gathered into records of up to 16 KiB (one
 * record per buffer would cost 22 bytes of overhead and a MAC each, and
 * the peer a decryption each); a buffer of 16 KiB or more goes on its own. */
int weft__tls_writev(weft_stream_t *s, const struct iovec *iov, int iovcnt) {
    enum { RECORD = 16384 };
    char *stage = NULL;
    size_t used = 0;
    int err = 0;
    for (int i = 0; i < iovcnt && !err; i++) {
        const char *p = iov[i].iov_base;
        size_t len = iov[i].iov_len;
        if (len >= RECORD || iovcnt == 1) {
            if (used)
                err = weft__tls_write(s, stage, used);
            used = 0;
            if (!err)
                err = weft__tls_write(s, p, len);
            continue;
        }
        if (used + len > RECORD) {
            err = weft__tls_write(s, stage, used);
            used = 0;
        }
        if (!stage && !(stage = weft__malloc(RECORD)))
            err = -ENOMEM;
        if (!err) {
            memcpy(stage + used, p, len);
            used += len;
        }
    }
    if (!err && used)
        err = weft__tls_write(s, stage, used);
    weft__free(stage);
    return err;
}

ssize_t weft__tls_read(weft_stream_t *s, void *buf, size_t len) {
    SSL *ssl = s->tls->ssl;
    int want = len > INT_MAX ? INT_MAX : (int)len;
    for (;;) {
        ERR_clear_error();
        int r = SSL_read(ssl, buf, want);
        /* Reading may produce records to send (key updates, alerts). */
        int err = push_out_read(s);
        if (r > 0) {
            if (!s->tls->in) /* the last read emptied the socket */
                shrink_rbio(s->tls);
            return r;
        }
        int e = SSL_get_error(ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            return 0;
        if (e != SSL_ERROR_WANT_READ) {
            char why[160];
            unsigned long le = ERR_peek_last_error();
            const char *reason = le ? ERR_reason_error_string(le) : NULL;
            snprintf(why, sizeof why, "%s", reason ? reason : "protocol error");
            set_msg(s, "read", why);
            return clear_errors_oom() ? -ENOMEM : WEFT_ETLS;
        }
        if (err)
            return err;
        ssize_t n = pull_in(s);
        if (n < 0)
            return n;
    }
}

void weft__tls_close_notify(weft_stream_t *s) {
    if (!s->tls->ssl) /* a server still waiting for the ClientHello */
        return;
    ERR_clear_error();
    if (SSL_is_init_finished(s->tls->ssl))
        SSL_shutdown(s->tls->ssl); /* queue our close_notify */
    ERR_clear_error();
    push_out(s);
}

void weft__tls_free(struct weft__tls *t) {
    SSL_free(t->ssl); /* frees both BIOs */
    SSL_CTX_free(t->ctx);
    if (t->in)
        buf_give(t->lp, t->in);
    streams_changed(t->lp, -1);
    weft__free(t);
}

/* ---- upgrading a stream ----------------------------------------------------------- */

/* Check that s can be upgraded now: a task, the loop's thread, open, not
 * TLS yet, nobody reading or writing (the upgrade moves the buffered bytes
 * and changes what the buffers hold). */
static int check_upgrade(weft_stream_t *s, weft_tls_ctx_t *c, bool server,
                         const char *fn) {
    if (!c)
        return -EINVAL;
    int err = weft__stream_check(s, fn);
    if (err)
        return err;
    if (s->tls || c->server != server) {
        weft__log(WEFT_LOG_WARN, "%s: %s", fn,
                  s->tls ? "the stream is already TLS"
                         : "a context of the other side");
        return -EINVAL;
    }
    if (s->reader || s->writer) {
        weft__log(WEFT_LOG_WARN, "%s: another task is reading or writing "
                                 "this stream", fn);
        return -EBUSY;
    }
    return 0;
}

/* t's SSL and its BIOs. 0 or -ENOMEM. */
static int ssl_new(struct weft__tls *t, SSL_CTX *ctx, bool server) {
    SSL *ssl = SSL_new(ctx);
    BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
    if (!ssl || !r || !w) {
        BIO_free(r);
        BIO_free(w);
        SSL_free(ssl);
        return -ENOMEM;
    }
    SSL_set_bio(ssl, r, w);
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    t->ssl = ssl;
    t->rbio = r;
    t->wbio = w;
    return 0;
}

/* TLS for the stream, not attached yet. A client's SSL is made now (the
 * caller configures it); a server's once the ClientHello is there. */
static struct weft__tls *tls_new(weft_stream_t *s, weft_tls_ctx_t *c) {
    struct tls_loop *lp = tls_loop_get(s->loop);
    struct weft__tls *t = lp ? weft__calloc(1, sizeof *t) : NULL;
    if (!t)
        return NULL;
    if (c->server ? !SSL_CTX_up_ref(c->ctx) : ssl_new(t, c->ctx, false) < 0) {
        weft__free(t);
        return NULL;
    }
    if (c->server)
        t->ctx = c->ctx;
    t->lp = lp;
    streams_changed(lp, +1);
    /* Name the peer in messages: the address, even for a peer that reset
     * at once (a client names the server it asked for instead). */
    struct sockaddr_storage ss;
    socklen_t sl;
    t->peer = "the peer";
    if (weft__stream_peer(s, &ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
                      t->peer_buf, sizeof t->peer_buf);
        else if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
                      t->peer_buf, sizeof t->peer_buf);
        if (t->peer_buf[0])
            t->peer = t->peer_buf;
    }
    return t;
}

/* A server waits until the client's first record (its ClientHello) is
 * whole in the socket before it makes the SSL: a client that connects and
 * sends nothing, or part of a ClientHello, then holds no OpenSSL memory
 * (an SSL whose handshake has begun holds 56 to 73 KB: the SSL, the
 * handshake's message buffer, the record buffers, a buffering BIO;
 * measured, 10,000 stalled clients). The bytes wait in the kernel, which
 * holds them anyway. Anything but a handshake record goes to OpenSSL at
 * once, to fail there. Bytes already buffered (STARTTLS) or a stream that
 * is no socket: no wait. */
static int wait_client_hello(weft_stream_t *s) {
    if (s->rlen || !(s->flags & WEFT__STREAM_SOCKET))
        return 0;
    unsigned char h[5];
    ssize_t n = weft__stream_peek(s, h, sizeof h, sizeof h);
    if (n == (ssize_t)sizeof h && h[0] == 22 /* handshake */) {
        size_t len = (size_t)h[3] << 8 | h[4];
        if (len <= RECORD_MAX)
            n = weft__stream_peek(s, h, sizeof h, sizeof h + len);
    }
    return n < 0 ? io_failed(s, (int)n) : 0;
}

/* Give the attached stream its SSL (a server's, once the ClientHello is
 * there) and hand it the bytes read before the upgrade, the start of the
 * TLS data. */
static int start_ssl(weft_stream_t *s) {
    struct weft__tls *t = s->tls;
    int err = weft__stream_settle(s); /* bytes read before the upgrade */
    if (err)
        return io_failed(s, err);
    if (!t->ssl) {
        err = wait_client_hello(s);
        if (!err && (err = ssl_new(t, t->ctx, true)))
            set_msg(s, "handshake", weft_strerror(err));
        if (err)
            return err;
        SSL_CTX_free(t->ctx); /* the SSL holds its own reference */
        t->ctx = NULL;
    }
    if (s->rlen) {
        BIO_write(t->rbio, s->rbuf + s->roff, (int)s->rlen);
        s->roff = s->rlen = 0;
    }
    return 0;
}

/* Attach t to s and run the handshake inside the context's deadline. The
 * task holds both sides of the stream meanwhile, so other tasks' reads and
 * writes get -EBUSY; a close from another task ends the handshake with
 * -EBADF, and the stream is freed on the way out. */
static int attach_and_handshake(weft_stream_t *s, struct weft__tls *t,
                                weft_tls_ctx_t *c) {
    struct tls_loop *lp = t->lp;
    s->tls = t;
    s->reader = s->writer = weft__task_current();
    s->users++;
    lp->handshaking++;
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, c->handshake_timeout, 0);
    if (!err) {
        err = start_ssl(s); /* c may be freed while it waits */
        if (!err)
            err = handshake(s);
        int e = weft_scope_exit(&sc);
        if (e == -ETIMEDOUT && err == -ETIMEDOUT)
            set_msg(s, "handshake", "timed out");
    }
    lp->handshaking--;
    if (err && !s->werr)
        s->werr = err; /* the stream is unusable */
    if (err && !s->rerr)
        s->rerr = err;
    s->reader = s->writer = NULL;
    return (int)weft__stream_leave(s, NULL, err); /* may free s */
}

int weft_tls_client(weft_stream_t *s, weft_tls_ctx_t *c, const char *name) {
    static const char fn[] = "weft_tls_client";
    int err = check_upgrade(s, c, false, fn);
    if (err)
        return err;
    bool verify = !(c->flags & WEFT_TLS_NO_VERIFY);
    if (!name && verify) {
        weft__log(WEFT_LOG_WARN, "%s: a verifying client needs the server's "
                                 "name", fn);
        return -EINVAL;
    }
    /* An empty name would check no name at all; SNI takes 255 bytes. */
    if (name && (!name[0] || strlen(name) > 255)) {
        weft__log(WEFT_LOG_WARN, "%s: the server name is empty or longer "
                                 "than 255 bytes", fn);
        return -EINVAL;
    }
    struct weft__tls *t = tls_new(s, c);
    if (!t)
        return -ENOMEM;
    if (name) {
        weft__escape(t->peer_buf, sizeof t->peer_buf, name);
        t->peer = t->peer_buf;
        unsigned char ip[16];
        bool is_ip = inet_pton(AF_INET, name, ip) == 1 ||
                     inet_pton(AF_INET6, name, ip) == 1;
        ERR_clear_error();
        /* SNI carries host names only (RFC 6066) */
        int ok = is_ip || SSL_set_tlsext_host_name(t->ssl, name) == 1;
        if (ok && verify)
            ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl),
                                                       name)
                       : SSL_set1_host(t->ssl, name);
        if (ok != 1) {
            log_ssl_errors("weft_tls_client: the server name");
            weft__tls_free(t); /* the stream is as it was */
            return -EINVAL;
        }
    }
    return attach_and_handshake(s, t, c);
}

int weft_tls_server(weft_stream_t *s, weft_tls_ctx_t *c) {
    int err = check_upgrade(s, c, true, "weft_tls_server");
    if (err)
        return err;
    struct weft__tls *t = tls_new(s, c);
    if (!t)
        return -ENOMEM;
    return attach_and_handshake(s, t, c);
}

const char *weft_tls_alpn(const weft_stream_t *s) {
    if (!s || !s->tls || !s->tls->ssl)
        return NULL;
    const unsigned char *p;
    unsigned int n;
    SSL_get0_alpn_selected(s->tls->ssl, &p, &n);
    if (!n)
        return NULL;
    char *buf = s->tls->alpn; /* the stream's own copy, NUL-terminated */
    memcpy(buf, p, n);
    buf[n] = 0;
    return buf;
}

const char *weft_tls_server_name(const weft_stream_t *s) {
    if (!s || !s->tls || !s->tls->ssl)
        return NULL;
    return SSL_get_servername(s->tls->ssl, TLSEXT_NAMETYPE_host_name);
}

const char *weft_tls_version(const weft_stream_t *s) {
    return s && s->tls && s->tls->ssl ? SSL_get_version(s->tls->ssl) : NULL;
}

const char *weft_tls_error(const weft_stream_t *s) {
    return s && s->tls ? s->tls->msg : "";
}
