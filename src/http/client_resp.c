/* Reading a response: the head is parsed in place in the stream's buffer
 * (weft_stream_wait_data) and copied once into the response, which keeps
 * it; the body is decoded by weft_http1_body_next straight from the
 * stream's buffer (zero-copy: a piece is consumed at the next read) and
 * inflated by zlib when it is compressed. Responses are recycled by the
 * session with their buffers, so a request in steady state allocates
 * nothing. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define FIELDS_MIN 32
#define ZBUF 16384
#define KEEP_BUF 65536 /* buffers kept by a recycled response */
#define DISCARD_MAX 65536 /* a redirect's body read to keep its connection */

/* ---- the object ------------------------------------------------------------------ */

weft_client_response_t *weft__hc_resp_new(weft_session_t *s) {
    weft_client_response_t *r = s->free_resps;
    if (r) {
        s->free_resps = r->next_free;
        s->nfree--;
    } else {
        r = weft__calloc(1, sizeof *r);
        if (!r)
            return NULL;
    }
    r->s = s;
    r->next_free = NULL;
    s->outstanding++;
    return r;
}

void weft__hc_resp_destroy(weft_client_response_t *r) {
    if (r->zinit)
        inflateEnd(&r->z);
    weft__free(r->headbuf);
    weft__free(r->fields);
    weft__free(r->zbuf);
    weft__free(r->all);
    weft__free(r->strs);
    weft__free(r->hops);
    weft__free(r);
}

/* Back to a blank response, keeping buffers of reasonable size. */
static void resp_reset(weft_client_response_t *r) {
    if (r->zinit)
        inflateEnd(&r->z);
    r->zinit = false;
    if (r->allcap > KEEP_BUF) {
        weft__free(r->all);
        r->all = NULL;
        r->allcap = 0;
    }
    if (r->headcap > KEEP_BUF) {
        weft__free(r->headbuf);
        r->headbuf = NULL;
        r->headcap = 0;
    }
    weft__free(r->hops);
    char *headbuf = r->headbuf, *all = r->all, *zbuf = r->zbuf, *strs = r->strs;
    size_t headcap = r->headcap, allcap = r->allcap, zcap = r->zcap;
    size_t strscap = r->strscap;
    weft_http_field_t *fields = r->fields;
    size_t fieldcap = r->fieldcap;
    memset(r, 0, sizeof *r);
    r->headbuf = headbuf;
    r->headcap = headcap;
    r->all = all;
    r->allcap = allcap;
    r->zbuf = zbuf;
    r->zcap = zcap;
    r->fields = fields;
    r->fieldcap = fieldcap;
    r->strs = strs; /* reused by set_request */
    r->strscap = strscap;
}

int weft__hc_resp_set_request(weft_client_response_t *r, const char *method,
                              const char *url, const weft_client_hop_t *hops,
                              size_t nhops) {
    size_t ml = strlen(method), ul = strlen(url);
    size_t need = ml + ul + 2;
    for (size_t i = 0; i < nhops; i++)
        need += strlen(hops[i].method) + strlen(hops[i].url) +
                strlen(hops[i].location) + 3;
    char *p = r->strs;
    if (need > r->strscap) {
        p = weft__realloc(r->strs, need < 256 ? 256 : need);
        if (!p)
            return -ENOMEM;
        r->strs = p;
        r->strscap = need < 256 ? 256 : need;
    }
    if (nhops) {
        r->hops = weft__malloc(nhops * sizeof *r->hops);
        if (!r->hops)
            return -ENOMEM;
    }
    r->method = p;
    memcpy(p, method, ml + 1);
    p += ml + 1;
    r->url = p;
    memcpy(p, url, ul + 1);
    p += ul + 1;
    for (size_t i = 0; i < nhops; i++) {
        r->hops[i].status = hops[i].status;
        const char *src[3] = {hops[i].method, hops[i].url, hops[i].location};
        const char **dst[3] = {&r->hops[i].method, &r->hops[i].url,
                               &r->hops[i].location};
        for (int k = 0; k < 3; k++) {
            size_t n = strlen(src[k]);
            memcpy(p, src[k], n + 1);
            *dst[k] = p;
            p += n + 1;
        }
    }
    r->nhops = nhops;
    return 0;
}

/* ---- errors of body reads ----------------------------------------------------------- */

static int resp_fail(weft_client_response_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The connection is unusable after a failed read: close it. */
static void drop_conn(weft_client_response_t *r) {
    if (r->conn && r->s)
        weft__hc_put(r->s, r->conn, WEFT__HC_ABORT);
    r->conn = NULL;
    r->consume = 0;
}

static int resp_fail(weft_client_response_t *r, int code, const char *fmt,
                     ...) {
    int n = snprintf(r->errmsg, sizeof r->errmsg, "%s %s: ", r->method,
                     r->url);
    if (n < 0 || (size_t)n >= sizeof r->errmsg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg + n, sizeof r->errmsg - (size_t)n, fmt, ap);
    va_end(ap);
    weft__log(WEFT_LOG_DEBUG, "%s", r->errmsg);
    drop_conn(r);
    r->failed = true;
    return code;
}

#ifdef __clang_analyzer__
/* It returns code, an error (the analyzer does not follow variadic
 * calls). */
#define resp_fail(r, code, ...)                                                \
    __extension__({                                                            \
        int c_ = (code);                                                       \
        WEFT__ANALYZER_ASSUME(c_ < 0);                                         \
        (void)(resp_fail)(r, c_, __VA_ARGS__);                                 \
        c_;                                                                    \
    })
#endif

static int timeout_fail(weft_client_response_t *r, int kind) {
    const char *what = kind == WEFT_CLIENT_TIMEOUT_TOTAL ? "total"
                       : kind == WEFT_CLIENT_TIMEOUT_SOCK_READ
                           ? "sock_read"
                           : "the caller's deadline";
    if (kind == WEFT_CLIENT_TIMEOUT_SOCK_READ)
        return resp_fail(r, -ETIMEDOUT, "timeout: sock_read (%g s) reading "
                                        "the body",
                         r->sock_read);
    return resp_fail(r, -ETIMEDOUT, "timeout: %s reading the body", what);
}

/* ---- the body from the wire -------------------------------------------------------- */

/* The next piece of raw (still encoded) body, zero-copy: a span in the
 * stream's buffer, consumed at the next call. 0 at the body's end. */
static ssize_t raw_chunk(weft_client_response_t *r, const char **data) {
    if (r->body_done)
        return 0;
    if (!r->conn)
        return resp_fail(r, -EBADF, "the connection is gone");
    weft_stream_t *st = r->conn->s;
    if (r->consume) {
        weft_stream_consume(st, r->consume);
        r->consume = 0;
    }
    for (;;) {
        const void *p;
        ssize_t n;
        if (weft_stream_buffered(st) > 0) {
            n = weft_stream_wait_data(st, 1, &p);
        } else {
            struct weft__hc_scope total, rd;
            int kind = 0;
            int err = weft__hc_scope_enter_at(&total, r->deadline);
            if (err)
                return resp_fail(r, err, "%s", weft_strerror(err));
            err = weft__hc_scope_enter(&rd, r->sock_read);
            n = err ? err : weft_stream_wait_data(st, 1, &p);
            if (!err)
                n = weft__hc_scope_exit(&rd, (int)n, &kind,
                                        WEFT_CLIENT_TIMEOUT_SOCK_READ);
            n = weft__hc_scope_exit(&total, (int)n, &kind,
                                    WEFT_CLIENT_TIMEOUT_TOTAL);
            if (n == -ETIMEDOUT)
                return timeout_fail(r, kind);
        }
        if (n < 0) {
            if (n == -ECANCELED)
                return resp_fail(r, (int)n, "cancelled reading the body");
            return resp_fail(r, (int)n, "reading the body: %s",
                             weft_strerror((int)n));
        }
        if (n == 0) { /* the end of the connection */
            int e = weft_http1_body_eof(&r->body);
            if (e)
                return resp_fail(r, e, "body cut short after %llu bytes%s",
                                 (unsigned long long)r->raw,
                                 r->head.framing == WEFT_HTTP1_LENGTH
                                     ? " of the Content-Length"
                                     : " (chunked)");
            r->body_done = true;
            r->keep_alive = false;
            return 0;
        }
        weft_span_t sp;
        ssize_t used = weft_http1_body_next(&r->body, p, (size_t)n, &sp);
        if (used < 0)
            return resp_fail(r, (int)used, "bad body framing: %s",
                             weft_strerror((int)used));
        r->consume = (size_t)used;
        r->raw += sp.len;
        if (weft_http1_body_done(&r->body))
            r->body_done = true;
        if (sp.len) {
            *data = sp.ptr;
            return (ssize_t)sp.len;
        }
        if (r->body_done)
            return 0;
        weft_stream_consume(st, r->consume);
        r->consume = 0;
    }
}

/* The body is over: the connection goes back to the pool if it may. */
static void body_finished(weft_client_response_t *r) {
    if (!r->conn)
        return;
    weft_stream_t *st = r->conn->s;
    if (r->consume) {
        weft_stream_consume(st, r->consume);
        r->consume = 0;
    }
    /* Bytes after the response that nobody asked for: a broken server. */
    bool keep = r->keep_alive && weft_stream_buffered(st) == 0;
    struct weft__hc_conn *c = r->conn;
    r->conn = NULL;
    if (r->s)
        weft__hc_put(r->s, c, keep ? WEFT__HC_KEEP : WEFT__HC_CLOSE);
}

/* ---- decompression ------------------------------------------------------------------- */

static void *z_alloc(void *opaque, unsigned items, unsigned size) {
    (void)opaque;
    return weft__calloc(items, size);
}

static void z_free(void *opaque, void *p) {
    (void)opaque;
    weft__free(p);
}

static int z_start(weft_client_response_t *r, bool raw) {
    if (r->zinit)
        inflateEnd(&r->z);
    memset(&r->z, 0, sizeof r->z);
    r->z.zalloc = z_alloc;
    r->z.zfree = z_free;
    /* 15 + 32: a zlib or gzip header, detected; -15: raw deflate. */
    int rc = inflateInit2(&r->z, raw ? -15 : 15 + 32);
    if (rc != Z_OK)
        return -ENOMEM;
    r->zinit = true;
    if (!r->zbuf) {
        r->zbuf = weft__malloc(ZBUF);
        if (!r->zbuf)
            return -ENOMEM;
        r->zcap = ZBUF;
    }
    return 0;
}

/* The next piece of decompressed body, in r->zbuf. */
static ssize_t z_chunk(weft_client_response_t *r, const char **data) {
    for (;;) {
        if (r->zend) {
            /* Anything after the end of the compressed data is ignored, as
             * curl and browsers do, but the body is still read to its end
             * so the connection can be kept. */
            const char *p;
            ssize_t n;
            while ((n = raw_chunk(r, &p)) > 0)
                ;
            return n;
        }
        if (r->zinlen == 0) {
            ssize_t n = raw_chunk(r, &r->zin);
            if (n < 0)
                return n;
            if (n == 0)
                return resp_fail(r, WEFT_ECLIENT_DECOMPRESS,
                                 "compressed body ends too early");
            r->zinlen = (size_t)n;
        }
        r->z.next_in = (Bytef *)r->zin;
        r->z.avail_in = (uInt)r->zinlen;
        r->z.next_out = (Bytef *)r->zbuf;
        r->z.avail_out = (uInt)r->zcap;
        int rc = inflate(&r->z, Z_NO_FLUSH);
        size_t used = r->zinlen - r->z.avail_in;
        size_t out = r->zcap - r->z.avail_out;
        if (rc == Z_DATA_ERROR && r->zmode == WEFT__HC_Z_DEFLATE &&
            !r->zraw_tried && r->zout == 0 && out == 0) {
            /* "deflate" is zlib-wrapped (RFC 9110 8.4.1.2), but servers
             * send raw deflate too: browsers and curl accept both. */
            r->zraw_tried = true;
            int err = z_start(r, true);
            if (err)
                return resp_fail(r, err, "out of memory");
            continue;
        }
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return resp_fail(r, WEFT_ECLIENT_DECOMPRESS,
                             "cannot decompress the body: %s",
                             r->z.msg ? r->z.msg : "zlib error");
        r->zin += used;
        r->zinlen -= used;
        r->zout += out;
        if (r->zout > r->max_decompressed)
            return resp_fail(r, WEFT_ECLIENT_DECOMPRESS_LIMIT,
                             "body decompresses to more than %llu bytes",
                             (unsigned long long)r->max_decompressed);
        if (rc == Z_STREAM_END)
            r->zend = true;
        if (out) {
            *data = r->zbuf;
            return (ssize_t)out;
        }
    }
}

/* ---- reading the head ------------------------------------------------------------------ */

/* Copy the head out of the stream's buffer, its spans moved along. */
static int keep_head(weft_client_response_t *r, const char *buf, size_t len) {
    if (r->headcap < len) {
        char *nb = weft__realloc(r->headbuf, len);
        if (!nb)
            return -ENOMEM;
        r->headbuf = nb;
        r->headcap = len;
    }
    memcpy(r->headbuf, buf, len);
    r->headlen = len;
    const char *old = buf;
    weft_http1_head_t *h = &r->head;
#define MOVE(sp) ((sp).ptr = (sp).ptr ? r->headbuf + ((sp).ptr - old) : NULL)
    MOVE(h->reason);
    for (size_t i = 0; i < h->nfields; i++) {
        MOVE(h->fields[i].name);
        MOVE(h->fields[i].value);
    }
#undef MOVE
    return 0;
}

static int content_coding(weft_client_response_t *r) {
    weft_span_t v = {0};
    const weft_http_field_t *f = r->head.fields;
    size_t i = 0;
    while (i < r->head.nfields &&
           !(f[i].name.len == 16 &&
             weft__hc_span_eq(f[i].name, "Content-Encoding")))
        i++;
    if (i == r->head.nfields)
        return WEFT__HC_Z_NONE;
    v = f[i].value;
    if (weft__hc_span_eq(v, "gzip") || weft__hc_span_eq(v, "x-gzip"))
        return WEFT__HC_Z_AUTO;
    if (weft__hc_span_eq(v, "deflate"))
        return WEFT__HC_Z_DEFLATE;
    return WEFT__HC_Z_NONE; /* identity, or one we did not ask for */
}

int weft__hc_read_head(struct weft__hc_req *rq, struct weft__hc_conn *c,
                       weft_client_response_t **out, bool *any) {
    weft_session_t *s = rq->s;
    weft_client_response_t *r = weft__hc_resp_new(s);
    if (!r)
        return -ENOMEM;
    resp_reset(r);
    r->s = s;
    if (r->fieldcap < FIELDS_MIN) {
        weft__free(r->fields);
        r->fields = weft__malloc(FIELDS_MIN * sizeof *r->fields);
        r->fieldcap = r->fields ? FIELDS_MIN : 0;
    }
    int err = r->fields ? 0 : -ENOMEM;
    weft_stream_t *st = c->s;
    size_t prev = 0;
    *any = false;
    rq->phase = "waiting for the response head";
    while (!err) {
        r->head = (weft_http1_head_t){.fields = r->fields,
                                      .max_fields = r->fieldcap};
        const void *p;
        struct weft__hc_scope rd;
        ssize_t n = weft__hc_scope_enter(&rd, rq->to.sock_read);
        if (!n)
            n = weft_stream_wait_data(st, prev + 1, &p);
        n = weft__hc_scope_exit(&rd, (int)n, &rq->timeout_kind,
                                WEFT_CLIENT_TIMEOUT_SOCK_READ);
        if (n == -EMSGSIZE) {
            err = weft__hc_fail(rq, WEFT_EHTTP_HEAD_TOO_LARGE,
                                "response head over %zu bytes", prev);
            break;
        }
        if (n < 0) {
            err = (int)n;
            if (err != -ETIMEDOUT && err != -ECANCELED)
                weft__hc_fail(rq, err, "reading the response: %s",
                              weft_strerror(err));
            break;
        }
        if (n > 0)
            *any = true;
        if ((size_t)n <= prev) {
            err = prev == 0 ? weft__hc_fail(rq, WEFT_ECLIENT_NO_RESPONSE,
                                            "the server closed the connection "
                                            "without a response")
                            : weft__hc_fail(rq, WEFT_EHTTP_TRUNCATED,
                                            "the server closed the connection "
                                            "in the response head");
            break;
        }
        int hl = weft_http1_parse_response(&r->head, (char *)p, (size_t)n,
                                           prev, rq->method_id, NULL);
        if (hl == -EAGAIN) {
            prev = (size_t)n;
            continue;
        }
        if (hl == WEFT_EHTTP_TOO_MANY_FIELDS && r->fieldcap < 1024) {
            weft_http_field_t *nf = weft__realloc(
                r->fields, 4 * r->fieldcap * sizeof *nf);
            if (!nf) {
                err = -ENOMEM;
                break;
            }
            r->fields = nf;
            r->fieldcap *= 4;
            prev = 0;
            continue;
        }
        if (hl < 0) {
            err = weft__hc_fail(rq, hl, "malformed response: %s",
                                weft_strerror(hl));
            break;
        }
        if (weft__hc_tracing(s)) {
            weft_client_trace_info_t ti = {
                .event = WEFT_CLIENT_TRACE_RESPONSE_HEAD,
                .status = r->head.status,
                .head = {p, (size_t)hl}};
            weft__hc_trace(rq, &ti);
        }
        if (r->head.status / 100 == 1 && r->head.status != 101) {
            /* An interim response (100 Continue, 103 Early Hints): the
             * final one follows. */
            weft_stream_consume(st, (size_t)hl);
            prev = 0;
            continue;
        }
        err = keep_head(r, p, (size_t)hl);
        if (!err)
            weft_stream_consume(st, (size_t)hl);
        break;
    }
    if (err) {
        r->conn = NULL;
        weft_client_release(r);
        return err;
    }
    r->conn = c;
    r->keep_alive = (r->head.flags & WEFT_HTTP1_KEEP_ALIVE) &&
                    !(r->head.flags & WEFT_HTTP1_UPGRADE);
    weft_http1_body_init(&r->body, &r->head, NULL, 0);
    r->body_done = weft_http1_body_done(&r->body);
    r->deadline = rq->deadline;
    r->sock_read = rq->to.sock_read;
    r->max_decompressed = s->max_decompressed;
    if (!((rq->flags & WEFT_CLIENT_NO_DECOMPRESS) ||
          (s->flags & WEFT_SESSION_NO_DECOMPRESS)) &&
        !r->body_done)
        r->zmode = content_coding(r);
    if (r->body_done && !(r->head.flags & WEFT_HTTP1_UPGRADE))
        body_finished(r);
    *out = r;
    return 0;
}

/* ---- the public reading functions ----------------------------------------------- */

static ssize_t next_chunk(weft_client_response_t *r, const char **data) {
    if (r->failed)
        return -EIO;
    ssize_t n;
    if (r->zmode != WEFT__HC_Z_NONE) {
        if (!r->zinit) {
            int err = z_start(r, false);
            if (err)
                return resp_fail(r, err, "out of memory");
        }
        n = z_chunk(r, data);
    } else {
        n = raw_chunk(r, data);
    }
    if (n == 0)
        body_finished(r);
    return n;
}

static bool enter(weft_client_response_t *r, const char *fn) {
    if (!r) {
        weft__log(WEFT_LOG_WARN, "%s: NULL response", fn);
        return false;
    }
    r->errmsg[0] = 0;
    return true;
}

ssize_t weft_client_read_chunk(weft_client_response_t *r, const void **data) {
    if (!enter(r, "weft_client_read_chunk") || !data)
        return -EINVAL;
    if (!weft__task_require("weft_client_read_chunk"))
        return -EPERM;
    r->streamed = true;
    if (r->curlen) { /* what weft_client_read left of the last piece */
        *data = r->cur;
        ssize_t n = (ssize_t)r->curlen;
        r->curlen = 0;
        return n;
    }
    if (r->have_all)
        return 0;
    if (r->s)
        r->s->busy++;
    const char *p = NULL;
    ssize_t n = next_chunk(r, &p);
    if (r->s)
        r->s->busy--;
    *data = p;
    return n;
}

ssize_t weft_client_read(weft_client_response_t *r, void *buf, size_t len) {
    if (!enter(r, "weft_client_read") || (!buf && len))
        return -EINVAL;
    if (!weft__task_require("weft_client_read"))
        return -EPERM;
    if (len == 0)
        return 0;
    r->streamed = true;
    if (!r->curlen && !r->have_all) {
        if (r->s)
            r->s->busy++;
        ssize_t n = next_chunk(r, &r->cur);
        if (r->s)
            r->s->busy--;
        if (n <= 0)
            return n;
        r->curlen = (size_t)n;
    }
    size_t n = r->curlen < len ? r->curlen : len;
    memcpy(buf, r->cur, n);
    r->cur += n;
    r->curlen -= n;
    return (ssize_t)n;
}

ssize_t weft__hc_body(weft_client_response_t *r, const void **data,
                      size_t max) {
    if (r->have_all) {
        *data = r->all;
        return (ssize_t)r->alllen;
    }
    if (r->streamed)
        return -EALREADY;
    if (r->failed)
        return -EIO;
    if (max == 0)
        max = r->s ? r->s->max_body : 32 << 20;
    if (r->head.flags & WEFT_HTTP1_CONTENT_LENGTH && r->zmode == 0 &&
        r->head.framing == WEFT_HTTP1_LENGTH) {
        if (r->head.content_length > max)
            return resp_fail(r, WEFT_ECLIENT_BODY_TOO_LARGE,
                             "body of %llu bytes over the limit of %zu",
                             (unsigned long long)r->head.content_length, max);
        if (r->allcap < r->head.content_length + 1) {
            char *nb = weft__realloc(r->all, r->head.content_length + 1);
            if (!nb)
                return resp_fail(r, -ENOMEM, "out of memory");
            r->all = nb;
            r->allcap = r->head.content_length + 1;
        }
    }
    r->alllen = 0;
    for (;;) {
        const char *p;
        ssize_t n = next_chunk(r, &p);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        if (r->alllen + (size_t)n > max)
            return resp_fail(r, WEFT_ECLIENT_BODY_TOO_LARGE,
                             "body over the limit of %zu bytes", max);
        if (r->alllen + (size_t)n + 1 > r->allcap) {
            size_t cap = r->allcap ? r->allcap : 4096;
            while (cap < r->alllen + (size_t)n + 1)
                cap *= 2;
            char *nb = weft__realloc(r->all, cap);
            if (!nb)
                return resp_fail(r, -ENOMEM, "out of memory");
            r->all = nb;
            r->allcap = cap;
        }
        memcpy(r->all + r->alllen, p, (size_t)n);
        r->alllen += (size_t)n;
    }
    if (!r->all) {
        r->all = weft__malloc(1);
        if (!r->all)
            return -ENOMEM;
        r->allcap = 1;
    }
    r->all[r->alllen] = 0;
    r->have_all = true;
    *data = r->all;
    return (ssize_t)r->alllen;
}

ssize_t weft_client_body(weft_client_response_t *r, const void **data,
                         size_t max) {
    if (!enter(r, "weft_client_body") || !data)
        return -EINVAL;
    if (r->have_all) {
        *data = r->all;
        return (ssize_t)r->alllen;
    }
    if (!weft__task_require("weft_client_body"))
        return -EPERM;
    if (r->s)
        r->s->busy++;
    ssize_t n = weft__hc_body(r, data, max);
    if (r->s)
        r->s->busy--;
    return n;
}

void weft__hc_discard(weft_client_response_t *r) {
    if (!r->conn)
        return;
    if (r->head.framing == WEFT_HTTP1_UNTIL_CLOSE ||
        (r->head.framing == WEFT_HTTP1_LENGTH &&
         r->head.content_length > DISCARD_MAX)) {
        drop_conn(r);
        return;
    }
    r->zmode = WEFT__HC_Z_NONE; /* nobody reads it: no need to inflate */
    const char *p;
    ssize_t n;
    uint64_t got = 0;
    while ((n = raw_chunk(r, &p)) > 0) {
        got += (uint64_t)n;
        if (got > DISCARD_MAX) {
            drop_conn(r);
            return;
        }
    }
    if (n == 0)
        body_finished(r);
}

/* ---- the rest of the response API ------------------------------------------------- */

int weft_client_status(const weft_client_response_t *r) {
    return r ? r->head.status : 0;
}

weft_span_t weft_client_reason(const weft_client_response_t *r) {
    return r ? r->head.reason : (weft_span_t){0};
}

int weft_client_version(const weft_client_response_t *r) {
    return r ? 10 + r->head.minor : 0;
}

bool weft_client_ok(const weft_client_response_t *r) {
    return r && r->head.status < 400;
}

int weft_client_header(const weft_client_response_t *r, const char *name,
                       weft_span_t *value) {
    if (!r || !name || !value)
        return -EINVAL;
    ssize_t i = weft_http_field_find(r->head.fields, r->head.nfields, name, 0);
    if (i < 0)
        return -ENOENT;
    *value = r->head.fields[i].value;
    return 0;
}

size_t weft_client_headers(const weft_client_response_t *r,
                           const weft_http_field_t **fields) {
    if (!r || !fields)
        return 0;
    *fields = r->head.fields;
    return r->head.nfields;
}

weft_span_t weft_client_head(const weft_client_response_t *r) {
    return r ? (weft_span_t){r->headbuf, r->headlen} : (weft_span_t){0};
}

int64_t weft_client_content_length(const weft_client_response_t *r) {
    if (!r || !(r->head.flags & WEFT_HTTP1_CONTENT_LENGTH))
        return -1;
    return (int64_t)r->head.content_length;
}

const char *weft_client_method(const weft_client_response_t *r) {
    return r ? r->method : NULL;
}

const char *weft_client_url(const weft_client_response_t *r) {
    return r ? r->url : NULL;
}

const weft_client_hop_t *weft_client_history(const weft_client_response_t *r,
                                             size_t *n) {
    if (n)
        *n = r ? r->nhops : 0;
    return r && r->nhops ? r->hops : NULL;
}

int weft_client_raise_for_status(const weft_client_response_t *r) {
    if (!r)
        return -EINVAL;
    return r->head.status >= 400 && r->head.status <= 599
               ? WEFT_CLIENT_HTTP(r->head.status)
               : 0;
}

const char *weft_client_errmsg(const weft_client_response_t *r) {
    return r ? r->errmsg : "";
}

weft_stream_t *weft_client_hijack(weft_client_response_t *r) {
    if (!r || !r->conn)
        return NULL;
    struct weft__hc_conn *c = r->conn;
    weft_stream_t *st = c->s;
    if (r->consume)
        weft_stream_consume(st, r->consume);
    r->consume = 0;
    c->s = NULL; /* the connection's slot is freed, the stream kept */
    r->conn = NULL;
    r->body_done = true;
    if (r->s)
        weft__hc_put(r->s, c, WEFT__HC_CLOSE);
    return st;
}

/* The rest of the body, if the stream holds all of it already (a small
 * body nobody read): skipped without waiting, so the connection can be
 * kept. */
static bool skip_buffered(weft_client_response_t *r) {
    weft_stream_t *st = r->conn->s;
    if (r->failed || !st)
        return false;
    if (r->consume) {
        weft_stream_consume(st, r->consume);
        r->consume = 0;
    }
    while (!weft_http1_body_done(&r->body) && st->rlen > 0) {
        weft_span_t sp;
        ssize_t used = weft_http1_body_next(&r->body, st->rbuf + st->roff,
                                            st->rlen, &sp);
        if (used <= 0)
            return false;
        weft_stream_consume(st, (size_t)used);
    }
    return weft_http1_body_done(&r->body) &&
           r->head.framing != WEFT_HTTP1_UNTIL_CLOSE;
}

void weft_client_release(weft_client_response_t *r) {
    if (!r)
        return;
    weft_session_t *s = r->s;
    if (r->conn) {
        /* A body read to its end has given its connection back already.
         * One that was not can be reused only if the rest of it is here
         * (what is left would be taken for the next response). */
        if (r->body_done || skip_buffered(r))
            body_finished(r);
        else
            drop_conn(r);
    }
    if (!s) {
        weft__hc_resp_destroy(r);
        return;
    }
    s->outstanding--;
    if (s->closed || s->nfree >= 64) {
        weft__hc_resp_destroy(r);
    } else {
        if (r->zinit) {
            inflateEnd(&r->z);
            r->zinit = false;
        }
        r->next_free = s->free_resps;
        s->free_resps = r;
        s->nfree++;
    }
    if (s->closed && s->outstanding == 0)
        weft__hc_session_free(s);
}
