/* Writing a request: the head (with weft_http1_write_request, which
 * refuses CR and LF in names and values) and the body. A head and a small
 * body go out in one write; bigger bodies follow without copying
 * (writev, sendfile), a stream of unknown length chunked. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_int.h"

/* Bodies up to this size are sent with the head in one write. */
#define SMALL_BODY 16384
#define MAX_FIELDS 64

struct head {
    weft_http_field_t f[MAX_FIELDS];
    size_t n;
};

static bool head_add(struct head *h, const char *name, const char *value,
                     size_t vlen) {
    if (h->n == MAX_FIELDS)
        return false;
    h->f[h->n].name = (weft_span_t){name, strlen(name)};
    h->f[h->n].value = (weft_span_t){value, vlen};
    h->n++;
    return true;
}

static bool has_header(const struct weft__hc_req *rq, const char *name) {
    for (size_t i = 0; i < rq->nh; i++)
        if (strcasecmp(rq->h[i].name, name) == 0)
            return true;
    return false;
}

/* ---- the target -------------------------------------------------------------- */

/* Bytes a URL may carry that a request target may not (RFC 9112 3.2:
 * visible ASCII only, and RFC 3986's excluded characters): sent
 * percent-encoded, as browsers do. */
static bool target_escape(unsigned char c) {
    return c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL;
}

/* Append n bytes of s to buf (cap), escaping; returns the new length or
 * -ENOSPC. */
static ssize_t put_escaped(char *buf, size_t cap, size_t len, const char *s,
                           size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (target_escape(c)) {
            if (len + 3 > cap)
                return -ENOSPC;
            buf[len++] = '%';
            buf[len++] = hex[c >> 4];
            buf[len++] = hex[c & 15];
        } else {
            if (len + 1 > cap)
                return -ENOSPC;
            buf[len++] = (char)c;
        }
    }
    return (ssize_t)len;
}

/* origin-form "path?query", or absolute-form for a plain-HTTP proxy. */
static ssize_t make_target(const struct weft__hc_req *rq, bool absolute,
                           char *buf, size_t cap) {
    ssize_t len = 0;
    if (absolute) {
        int n = snprintf(buf, cap, "http://%s", rq->hostport);
        if (n < 0 || (size_t)n >= cap)
            return -ENOSPC;
        len = n;
    }
    if (rq->u.path.len == 0) {
        if ((size_t)len + 1 > cap)
            return -ENOSPC;
        buf[len++] = '/';
    } else {
        len = put_escaped(buf, cap, (size_t)len, rq->u.path.ptr, rq->u.path.len);
    }
    if (len >= 0 && rq->u.query.ptr) {
        if ((size_t)len + 1 > cap)
            return -ENOSPC;
        buf[len++] = '?';
        len = put_escaped(buf, cap, (size_t)len, rq->u.query.ptr,
                          rq->u.query.len);
    }
    return len;
}

/* ---- bodies --------------------------------------------------------------------- */

/* A body made ready to send: its bytes (BYTES, FORM) or how to get them. */
struct body {
    const weft_client_body_t *b;
    const char *data; /* BYTES, FORM */
    size_t len;
    char *owned;       /* FORM's encoding, MULTIPART's heads */
    int64_t length;    /* the Content-Length, -1: chunked */
    const char *type;  /* Content-Type, or NULL */
    char typebuf[80];
    /* MULTIPART: the heads of the parts, each at heads + off[i], and the
     * closing delimiter after the last */
    size_t *off;
    char boundary[40];
};

static void body_free(struct body *bd) {
    weft__free(bd->owned);
    weft__free(bd->off);
}

static int64_t file_length(int fd, off_t offset, int64_t length) {
    if (length >= 0)
        return length;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    return st.st_size > offset ? (int64_t)(st.st_size - offset) : 0;
}

static int form_encode(struct body *bd, const char *const *pairs) {
    size_t cap = 256, len = 0;
    char *buf = weft__malloc(cap);
    if (!buf)
        return -ENOMEM;
    buf[0] = 0;
    for (size_t i = 0; pairs && pairs[i]; i += 2) {
        if (!pairs[i + 1]) {
            weft__free(buf);
            return -EINVAL;
        }
        for (;;) {
            ssize_t n = weft_query_append(buf, cap, len, pairs[i],
                                          strlen(pairs[i]), pairs[i + 1],
                                          strlen(pairs[i + 1]));
            if (n >= 0) {
                len = (size_t)n;
                break;
            }
            char *nb = weft__realloc(buf, cap * 2);
            if (!nb) {
                weft__free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
    }
    bd->owned = buf;
    bd->data = buf;
    bd->len = len;
    return 0;
}

/* A quoted name in a Content-Disposition (WHATWG's multipart/form-data
 * encoding: '"' as %22, CR as %0D, LF as %0A). */
static int put_quoted(char *buf, size_t cap, size_t *len, const char *s) {
    for (; *s; s++) {
        const char *rep = *s == '"' ? "%22" : *s == '\r' ? "%0D"
                                            : *s == '\n' ? "%0A" : NULL;
        size_t n = rep ? 3 : 1;
        if (*len + n >= cap)
            return -ENOSPC;
        if (rep)
            memcpy(buf + *len, rep, 3);
        else
            buf[*len] = *s;
        *len += n;
    }
    return 0;
}

static int64_t part_length(const weft_client_part_t *p) {
    if (!p->path)
        return (int64_t)p->len;
    struct stat st;
    if (stat(p->path, &st) < 0)
        return -errno;
    return st.st_size;
}

/* The heads of the parts (and the closing delimiter) in one block, and
 * the total length. */
static int multipart_prepare(struct weft__hc_req *rq, struct body *bd) {
    const weft_client_body_t *b = bd->b;
    unsigned char rnd[12];
    if (getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)rand();
    int bl = snprintf(bd->boundary, sizeof bd->boundary, "weft-");
    for (size_t i = 0; i < sizeof rnd; i++)
        bl += snprintf(bd->boundary + bl, sizeof bd->boundary - (size_t)bl,
                       "%02x", rnd[i]);
    snprintf(bd->typebuf, sizeof bd->typebuf,
             "multipart/form-data; boundary=%s", bd->boundary);
    bd->type = bd->typebuf;
    bd->off = weft__malloc((b->nparts + 1) * sizeof *bd->off);
    size_t cap = 256 * (b->nparts + 1), len = 0;
    bd->owned = weft__malloc(cap);
    if (!bd->off || !bd->owned)
        return -ENOMEM;
    int64_t total = 0;
    for (size_t i = 0; i <= b->nparts; i++) {
        const weft_client_part_t *p = i < b->nparts ? &b->parts[i] : NULL;
        if (p && (!p->name || (!p->data && p->len) ))
            return weft__hc_fail(rq, -EINVAL, "multipart part %zu: no name "
                                              "or no data", i);
        for (;;) {
            size_t at = len;
            int n, err = 0;
            if (!p) {
                n = snprintf(bd->owned + at, cap - at, "%s--%s--\r\n",
                             i ? "\r\n" : "", bd->boundary);
                if (n < 0 || (size_t)n >= cap - at)
                    err = -ENOSPC;
                else
                    at += (size_t)n;
            } else {
                n = snprintf(bd->owned + at, cap - at,
                             "%s--%s\r\nContent-Disposition: form-data; name=\"",
                             i ? "\r\n" : "", bd->boundary);
                if (n < 0 || (size_t)n >= cap - at)
                    err = -ENOSPC;
                else
                    at += (size_t)n;
                if (!err)
                    err = put_quoted(bd->owned, cap, &at, p->name);
                if (!err && p->filename) {
                    n = snprintf(bd->owned + at, cap - at, "\"; filename=\"");
                    err = n < 0 || (size_t)n >= cap - at ? -ENOSPC : 0;
                    at += err ? 0 : (size_t)n;
                    if (!err)
                        err = put_quoted(bd->owned, cap, &at, p->filename);
                }
                const char *t = p->content_type ? p->content_type
                                : p->filename   ? "application/octet-stream"
                                                : NULL;
                if (!err) {
                    n = snprintf(bd->owned + at, cap - at, "\"\r\n%s%s%s\r\n",
                                 t ? "Content-Type: " : "", t ? t : "",
                                 t ? "\r\n" : "");
                    err = n < 0 || (size_t)n >= cap - at ? -ENOSPC : 0;
                    at += err ? 0 : (size_t)n;
                }
                if (!err && t && strpbrk(t, "\r\n"))
                    return weft__hc_fail(rq, -EINVAL,
                                         "multipart part %zu: CR or LF in its "
                                         "content type", i);
            }
            if (!err) {
                bd->off[i] = len;
                total += (int64_t)(at - len);
                len = at;
                break;
            }
            char *nb = weft__realloc(bd->owned, cap * 2);
            if (!nb)
                return -ENOMEM;
            bd->owned = nb;
            cap *= 2;
        }
        if (p) {
            int64_t pl = part_length(p);
            if (pl < 0)
                return weft__hc_fail(rq, (int)pl, "multipart part %zu: %s: %s",
                                     i, p->path, weft_strerror((int)pl));
            total += pl;
        }
    }
    bd->len = len;
    bd->length = total;
    return 0;
}

static int body_prepare(struct weft__hc_req *rq, struct body *bd) {
    const weft_client_body_t *b = bd->b;
    bd->length = 0;
    switch (b->kind) {
    case WEFT_CLIENT_BODY_BYTES:
        if (!b->data && b->len)
            return weft__hc_fail(rq, -EINVAL, "body: NULL data");
        bd->data = b->data;
        bd->len = b->len;
        bd->length = (int64_t)b->len;
        bd->type = "application/octet-stream";
        break;
    case WEFT_CLIENT_BODY_FORM: {
        int err = form_encode(bd, b->form);
        if (err)
            return err == -EINVAL
                       ? weft__hc_fail(rq, err, "form: a name without value")
                       : err;
        bd->length = (int64_t)bd->len;
        bd->type = "application/x-www-form-urlencoded";
        break;
    }
    case WEFT_CLIENT_BODY_MULTIPART: {
        int err = multipart_prepare(rq, bd);
        if (err)
            return err;
        break;
    }
    case WEFT_CLIENT_BODY_FILE:
        if (b->fd < 0 || b->offset < 0)
            return weft__hc_fail(rq, -EINVAL, "body: bad file or offset");
        bd->length = file_length(b->fd, b->offset, b->length);
        if (bd->length < 0)
            return weft__hc_fail(rq, (int)bd->length, "body file: %s",
                                 weft_strerror((int)bd->length));
        break;
    case WEFT_CLIENT_BODY_STREAM:
        if (!b->read)
            return weft__hc_fail(rq, -EINVAL, "body: a stream without read");
        bd->length = b->length < 0 ? -1 : b->length;
        break;
    case WEFT_CLIENT_BODY_NONE:
        break;
    default:
        return weft__hc_fail(rq, -EINVAL, "body: unknown kind %d", b->kind);
    }
    if (b->content_type)
        bd->type = b->content_type;
    return 0;
}

/* ---- sending ----------------------------------------------------------------------- */

static int send_error(struct weft__hc_req *rq, int err) {
    if (err == -ETIMEDOUT || err == -ECANCELED)
        return err;
    return weft__hc_fail(rq, err, "sending the request: %s",
                         weft_strerror(err));
}

/* length bytes of fd from offset (a file part or body). */
static int send_file(weft_stream_t *st, int fd, off_t offset, int64_t length) {
    while (length > 0) {
        ssize_t n = weft_stream_sendfile(st, fd, offset, (size_t)length);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO; /* the file got shorter than its announced length */
        offset += n;
        length -= n;
    }
    return 0;
}

static int send_multipart(weft_stream_t *st, const struct body *bd) {
    const weft_client_body_t *b = bd->b;
    /* Made with the multipart body (nparts + 1 offsets, or -ENOMEM). */
    WEFT__ANALYZER_ASSUME(bd->off != NULL);
    for (size_t i = 0; i <= b->nparts; i++) {
        size_t end = i < b->nparts ? bd->off[i + 1] : bd->len;
        int err = weft_stream_write(st, bd->owned + bd->off[i],
                                    end - bd->off[i]);
        if (err)
            return err;
        if (i == b->nparts)
            break;
        const weft_client_part_t *p = &b->parts[i];
        if (p->path) {
            int fd = open(p->path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return -errno;
            int64_t n = part_length(p);
            err = n < 0 ? (int)n : send_file(st, fd, 0, n);
            close(fd);
        } else if (p->len) {
            struct iovec iov = {(void *)p->data, p->len};
            ssize_t n = weft_stream_writev(st, &iov, 1);
            err = n < 0 ? (int)n : 0;
        }
        if (err)
            return err;
    }
    return weft_stream_drain(st);
}

static int send_stream(weft_stream_t *st, const struct body *bd) {
    const weft_client_body_t *b = bd->b;
    char buf[16384 + WEFT_HTTP1_CHUNK_SIZE_MAX + 2];
    const size_t hdr = WEFT_HTTP1_CHUNK_SIZE_MAX;
    int64_t sent = 0;
    for (;;) {
        ssize_t n = b->read(b->arg, buf + hdr, 16384);
        if (n < 0)
            return (int)n;
        if (bd->length >= 0 && sent + n > bd->length)
            return -EMSGSIZE;
        if (n == 0)
            break;
        sent += n;
        int err;
        if (bd->length < 0) {
            char line[WEFT_HTTP1_CHUNK_SIZE_MAX];
            size_t ln = weft_http1_write_chunk_size(line, (uint64_t)n);
            memcpy(buf + hdr - ln, line, ln);
            memcpy(buf + hdr + n, "\r\n", 2);
            err = weft_stream_write(st, buf + hdr - ln, ln + (size_t)n + 2);
        } else {
            err = weft_stream_write(st, buf + hdr, (size_t)n);
        }
        if (!err)
            err = weft_stream_drain(st);
        if (err)
            return err;
    }
    if (bd->length >= 0 && sent != bd->length)
        return -EPIPE; /* shorter than announced: the connection must go */
    if (bd->length < 0) {
        int err = weft_stream_write(st, "0\r\n\r\n", 5);
        if (err)
            return err;
    }
    return weft_stream_drain(st);
}

static int grow_wbuf(weft_session_t *s, size_t need) {
    if (need <= s->wcap)
        return 0;
    size_t cap = s->wcap ? s->wcap : 4096;
    while (cap < need)
        cap *= 2;
    char *nb = weft__realloc(s->wbuf, cap);
    if (!nb)
        return -ENOMEM;
    s->wbuf = nb;
    s->wcap = cap;
    return 0;
}

/* The head into s->wbuf (and a small body after it); returns its length. */
static ssize_t build_head(struct weft__hc_req *rq, struct weft__hc_conn *c,
                          const struct body *bd, size_t *headlen) {
    weft_session_t *s = rq->s;
    struct head h = {.n = 0};
    bool ok = head_add(&h, "Host", rq->hostport, strlen(rq->hostport));
    for (size_t i = 0; i < rq->nh && ok; i++) {
        const char *n = rq->h[i].name;
        if (strcasecmp(n, "Host") == 0) {
            h.f[0].value = (weft_span_t){rq->h[i].value, strlen(rq->h[i].value)};
            continue;
        }
        if ((rq->strip_auth && strcasecmp(n, "Authorization") == 0) ||
            (rq->strip_cookie && strcasecmp(n, "Cookie") == 0))
            continue;
        ok = head_add(&h, n, rq->h[i].value, strlen(rq->h[i].value));
    }
    if (ok && s->user_agent && !has_header(rq, "User-Agent"))
        ok = head_add(&h, "User-Agent", s->user_agent, strlen(s->user_agent));
    if (ok && !has_header(rq, "Accept"))
        ok = head_add(&h, "Accept", "*/*", 3);
    bool decompress = !((rq->flags & WEFT_CLIENT_NO_DECOMPRESS) ||
                        (s->flags & WEFT_SESSION_NO_DECOMPRESS));
    if (ok && decompress && !has_header(rq, "Accept-Encoding"))
        ok = head_add(&h, "Accept-Encoding", "gzip, deflate", 13);
    if (ok && rq->auth && !rq->strip_auth && !has_header(rq, "Authorization"))
        ok = head_add(&h, "Authorization", rq->auth, strlen(rq->auth));
    /* A connection we will not reuse: the server may close it first
     * (its end keeps TIME_WAIT, not ours). */
    if (ok && s->keepalive < 0 && !has_header(rq, "Connection"))
        ok = head_add(&h, "Connection", "close", 5);
    bool absolute = false;
    if (c->host->proxied && !rq->https) {
        const struct weft__hc_proxy *p = &s->proxy[0];
        absolute = true;
        if (ok && p->auth)
            ok = head_add(&h, "Proxy-Authorization", p->auth, strlen(p->auth));
    }
    /* The jar's cookies for this hop, after any the caller set. */
    char cbuf[4096];
    char *cookies = cbuf;
    char *cbig = NULL;
    if (ok && s->jar) {
        ssize_t cn = 0;
        size_t at = 0;
        const char *given = NULL;
        for (size_t i = 0; i < rq->nh; i++)
            if (strcasecmp(rq->h[i].name, "Cookie") == 0 && !rq->strip_cookie)
                given = rq->h[i].value;
        for (size_t cap = sizeof cbuf;; cap *= 4) {
            at = 0;
            if (given) {
                at = strlen(given);
                if (at + 2 < cap) {
                    memcpy(cookies, given, at);
                    memcpy(cookies + at, "; ", 2);
                    at += 2;
                }
            }
            cn = at < cap ? weft__cookie_jar_header_url(s->jar, &rq->u,
                                                        rq->host, cookies + at,
                                                        cap - at)
                          : -ENOSPC;
            if (cn != -ENOSPC || cap >= 1 << 20)
                break;
            weft__free(cbig);
            cbig = cookies = weft__malloc(cap * 4);
            if (!cbig)
                return -ENOMEM;
        }
        if (cn > 0) {
            /* Replace the caller's Cookie field, or add one. */
            size_t total = at + (size_t)cn;
            bool replaced = false;
            for (size_t i = 0; i < h.n; i++)
                if (weft__hc_span_eq(h.f[i].name, "Cookie")) {
                    h.f[i].value = (weft_span_t){cookies, total};
                    replaced = true;
                }
            if (!replaced)
                ok = head_add(&h, "Cookie", cookies, total);
        }
    }
    char clen[24];
    if (bd && bd->type && !has_header(rq, "Content-Type") && ok)
        ok = head_add(&h, "Content-Type", bd->type, strlen(bd->type));
    if (bd && bd->length >= 0 && ok) {
        int n = snprintf(clen, sizeof clen, "%lld", (long long)bd->length);
        ok = head_add(&h, "Content-Length", clen, (size_t)n);
    } else if (bd && ok) {
        ok = head_add(&h, "Transfer-Encoding", "chunked", 7);
    } else if (ok && (rq->method_id == WEFT_HTTP_POST ||
                      rq->method_id == WEFT_HTTP_PUT ||
                      rq->method_id == WEFT_HTTP_PATCH)) {
        ok = head_add(&h, "Content-Length", "0", 1); /* RFC 9110 8.6 */
    }
    if (!ok) {
        weft__free(cbig);
        return weft__hc_fail(rq, -EINVAL, "more than %d header fields",
                             MAX_FIELDS);
    }
    char tbuf[2048];
    char *target = tbuf;
    ssize_t tl = make_target(rq, absolute, tbuf, sizeof tbuf);
    char *big = NULL;
    if (tl == -ENOSPC) {
        size_t cap = 3 * (rq->u.path.len + rq->u.query.len) + 300;
        big = weft__malloc(cap);
        if (!big) {
            weft__free(cbig);
            return -ENOMEM;
        }
        target = big;
        tl = make_target(rq, absolute, big, cap);
    }
    weft_span_t m = {rq->method, strlen(rq->method)};
    ssize_t n = weft_http1_write_request(s->wbuf, s->wcap, m,
                                         (weft_span_t){target, (size_t)tl}, 1,
                                         h.f, h.n);
    if (n > (ssize_t)s->wcap) {
        int err = grow_wbuf(s, (size_t)n + SMALL_BODY);
        if (!err)
            n = weft_http1_write_request(s->wbuf, s->wcap, m,
                                         (weft_span_t){target, (size_t)tl}, 1,
                                         h.f, h.n);
        else
            n = err;
    }
    weft__free(big);
    weft__free(cbig);
    if (n < 0)
        return n == -ENOMEM ? n
                            : weft__hc_fail(rq, (int)n, "cannot send the "
                                                        "request: %s",
                                            weft_strerror((int)n));
    *headlen = (size_t)n;
    return n;
}

int weft__hc_send(struct weft__hc_req *rq, struct weft__hc_conn *c) {
    weft_session_t *s = rq->s;
    const weft_client_body_t *b = rq->drop_body ? NULL : rq->body;
    if (b && b->kind == WEFT_CLIENT_BODY_NONE)
        b = NULL;
    struct body bd = {.b = b};
    int err = 0;
    if (b && (err = body_prepare(rq, &bd)) < 0) {
        body_free(&bd);
        return err;
    }
    size_t headlen = 0;
    if (s->wcap == 0 && (err = grow_wbuf(s, 4096 + SMALL_BODY)) < 0)
        return err;
    ssize_t n = build_head(rq, c, b ? &bd : NULL, &headlen);
    if (n < 0) {
        body_free(&bd);
        return (int)n;
    }
    if (weft__hc_tracing(s)) {
        weft_client_trace_info_t ti = {.event = WEFT_CLIENT_TRACE_HEAD_SENT,
                                       .head = {s->wbuf, headlen}};
        weft__hc_trace(rq, &ti);
    }
    rq->phase = "sending the request";
    bool small = b && bd.data && bd.len <= SMALL_BODY &&
                 (b->kind == WEFT_CLIENT_BODY_BYTES ||
                  b->kind == WEFT_CLIENT_BODY_FORM);
    if (small && headlen + bd.len <= s->wcap) {
        /* One write for the head and the body. */
        memcpy(s->wbuf + headlen, bd.data, bd.len);
        err = weft_stream_write(c->s, s->wbuf, headlen + bd.len);
        b = NULL;
    } else {
        err = weft_stream_write(c->s, s->wbuf, headlen);
    }
    if (!err && b) {
        switch (b->kind) {
        case WEFT_CLIENT_BODY_BYTES:
        case WEFT_CLIENT_BODY_FORM:
            if (bd.len) {
                struct iovec iov = {(void *)bd.data, bd.len};
                ssize_t w = weft_stream_writev(c->s, &iov, 1);
                err = w < 0 ? (int)w : 0;
            }
            break;
        case WEFT_CLIENT_BODY_MULTIPART:
            err = send_multipart(c->s, &bd);
            break;
        case WEFT_CLIENT_BODY_FILE:
            err = send_file(c->s, b->fd, b->offset, bd.length);
            break;
        case WEFT_CLIENT_BODY_STREAM:
            err = send_stream(c->s, &bd);
            if (err < 0 && err != -ECANCELED && err != -ETIMEDOUT &&
                err != -EPIPE && err != -ECONNRESET && err != -EMSGSIZE)
                err = weft__hc_fail(rq, err, "the request body's reader "
                                             "failed: %s",
                                    weft_strerror(err));
            else if (err == -EMSGSIZE)
                err = weft__hc_fail(rq, -EMSGSIZE, "the request body's reader "
                                                   "gave more than its length");
            break;
        default:
            break;
        }
    }
    body_free(&bd);
    if (err && !rq->msg[0])
        return send_error(rq, err);
    return err;
}
