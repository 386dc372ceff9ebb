/* The request: accessors, the per-request arena and state, and the body
 * (whole or streamed, through weft_http1's decoder, straight from the
 * connection's read buffer). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "web_int.h"
#include "weft/httpmsg.h"

/* ---- the arena ------------------------------------------------------------------ */

#define ARENA_ALIGN 16
#define ARENA_BLOCK 4096

void *weft__arena_alloc(struct arena *a, size_t size) {
    size = (size_t)WEFT__ALIGN_UP(size ? size : 1, ARENA_ALIGN);
    if (a->cap - a->used >= size) {
        void *p = a->base + a->used;
        a->used += size;
        return p;
    }
    size_t hdr = WEFT__ALIGN_UP(sizeof(struct arena_blk), ARENA_ALIGN);
    size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
    if (size > SIZE_MAX - hdr)
        return NULL;
    struct arena_blk *b = weft__malloc(hdr + cap);
    if (!b)
        return NULL;
    b->next = a->more;
    a->more = b;
    char *data = (char *)b + hdr;
    if (cap - size >= a->cap - a->used) {
        /* Carry on from the new block if it has more room left. */
        a->base = data;
        a->cap = cap;
        a->used = size;
    }
    return data;
}

void weft__arena_reset(struct arena *a) {
    while (a->more) {
        struct arena_blk *b = a->more;
        a->more = b->next;
        weft__free(b);
    }
    a->base = a->first;
    a->cap = a->first_cap;
    a->used = 0;
}

void *weft_web_alloc(weft_web_request_t *req, size_t size) {
    return req ? weft__arena_alloc(&req->arena, size) : NULL;
}

char *weft_web_strndup(weft_web_request_t *req, const char *s, size_t len) {
    if (!req || (!s && len))
        return NULL;
    char *d = weft__arena_alloc(&req->arena, len + 1);
    if (d) {
        if (len)
            memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

char *weft_web_vsprintf(weft_web_request_t *req, const char *fmt,
                        va_list ap) {
    if (!req || !fmt)
        return NULL;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *d = weft__arena_alloc(&req->arena, (size_t)n + 1);
    if (d)
        vsnprintf(d, (size_t)n + 1, fmt, ap);
    return d;
}

char *weft_web_sprintf(weft_web_request_t *req, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *d = weft_web_vsprintf(req, fmt, ap);
    va_end(ap);
    return d;
}

int weft_web_defer(weft_web_request_t *req, void (*fn)(void *), void *arg) {
    if (!req || !fn)
        return -EINVAL;
    struct web_defer *d = weft__arena_alloc(&req->arena, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->fn = fn;
    d->arg = arg;
    d->next = req->defers;
    req->defers = d;
    return 0;
}

int weft_web_put(weft_web_request_t *req, const void *key, void *value) {
    if (!req)
        return -EINVAL;
    for (struct web_kv *kv = req->kv; kv; kv = kv->next)
        if (kv->key == key) {
            kv->value = value;
            return 0;
        }
    struct web_kv *kv = weft__arena_alloc(&req->arena, sizeof *kv);
    if (!kv)
        return -ENOMEM;
    kv->key = key;
    kv->value = value;
    kv->next = req->kv;
    req->kv = kv;
    return 0;
}

void *weft_web_get(const weft_web_request_t *req, const void *key) {
    for (const struct web_kv *kv = req ? req->kv : NULL; kv; kv = kv->next)
        if (kv->key == key)
            return kv->value;
    return NULL;
}

/* ---- accessors -------------------------------------------------------------------- */

int weft_web_method(const weft_web_request_t *req) {
    return req ? req->method : -EINVAL;
}

weft_span_t weft_web_method_name(const weft_web_request_t *req) {
    return req ? req->method_name : (weft_span_t){"", 0};
}

weft_span_t weft_web_target(const weft_web_request_t *req) {
    return req ? req->target : (weft_span_t){"", 0};
}

const char *weft_web_path(const weft_web_request_t *req) {
    return req ? req->path : NULL;
}

weft_span_t weft_web_raw_path(const weft_web_request_t *req) {
    return req ? req->raw_path : (weft_span_t){"", 0};
}

weft_span_t weft_web_query_string(const weft_web_request_t *req) {
    return req ? req->query : (weft_span_t){"", 0};
}

int weft_web_version(const weft_web_request_t *req) {
    return req ? req->version : -EINVAL;
}

bool weft_web_keep_alive(const weft_web_request_t *req) {
    return req && req->keep_alive && !req->close;
}

int weft_web_header(const weft_web_request_t *req, const char *name,
                    weft_span_t *value) {
    if (!req || !name)
        return -EINVAL;
    ssize_t i = weft_http_field_find(req->fields, req->nfields, name, 0);
    if (i < 0)
        return -ENOENT;
    if (value)
        *value = req->fields[i].value;
    return 0;
}

size_t weft_web_headers(const weft_web_request_t *req,
                        const weft_http_field_t **fields) {
    if (fields)
        *fields = req ? req->fields : NULL;
    return req ? req->nfields : 0;
}

const char *weft_web_match(const weft_web_request_t *req, const char *name) {
    if (!req || !req->route || !name)
        return NULL;
    for (size_t i = 0; i < req->route->nvars && i < req->match.nvars; i++)
        if (!strcmp(req->route->vars[i], name))
            return req->match_vals[i];
    return NULL;
}

const char *weft_web_route_name(const weft_web_request_t *req) {
    return req && req->route ? req->route->name : NULL;
}

weft_web_app_t *weft_web_request_app(const weft_web_request_t *req) {
    return req ? req->app : NULL;
}

const struct sockaddr *weft_web_remote_addr(const weft_web_request_t *req,
                                            socklen_t *len) {
    if (!req)
        return NULL;
    if (req->remote) {
        if (len)
            *len = req->remote_len;
        return req->remote;
    }
    const weft_web_conn_t *c = req->conn;
    if (len)
        *len = c->remote ? c->remote_len : c->peer_len;
    return c->remote ? (const struct sockaddr *)c->remote : c->peer;
}

const struct sockaddr *weft_web_peer_addr(const weft_web_request_t *req,
                                          socklen_t *len) {
    if (!req)
        return NULL;
    if (len)
        *len = req->conn->peer_len;
    return req->conn->peer;
}

const char *weft_web_remote(weft_web_request_t *req) {
    if (!req)
        return NULL;
    if (req->remote_text)
        return req->remote_text;
    const struct sockaddr *sa = weft_web_remote_addr(req, NULL);
    char ip[INET6_ADDRSTRLEN] = "";
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip,
                  sizeof ip);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
                  sizeof ip);
    req->remote_text = weft_web_strndup(req, ip, strlen(ip));
    return req->remote_text;
}

int weft_web_set_remote(weft_web_request_t *req, const struct sockaddr *addr,
                        socklen_t len) {
    if (!req || !addr || len == 0 || len > sizeof(struct sockaddr_storage))
        return -EINVAL;
    void *copy = weft_web_alloc(req, len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, addr, len);
    req->remote = copy;
    req->remote_len = len;
    req->remote_text = NULL;
    return 0;
}

const char *weft_web_scheme(const weft_web_request_t *req) {
    if (!req)
        return NULL;
    return req->scheme ? req->scheme : req->conn->tls ? "https" : "http";
}

int weft_web_set_scheme(weft_web_request_t *req, const char *scheme) {
    if (!req || !scheme)
        return -EINVAL;
    const char *s = weft_web_strndup(req, scheme, strlen(scheme));
    if (!s)
        return -ENOMEM;
    req->scheme = s;
    return 0;
}

weft_span_t weft_web_host(const weft_web_request_t *req) {
    weft_span_t v = {"", 0};
    if (req)
        weft_web_header(req, "Host", &v);
    return v;
}

double weft_web_request_time(const weft_web_request_t *req) {
    return req ? req->time : 0;
}

weft_web_conn_t *weft_web_request_conn(weft_web_request_t *req) {
    return req ? req->conn : NULL;
}

const char *weft_web_query(weft_web_request_t *req, const char *name) {
    if (!req || !name)
        return NULL;
    size_t cap = req->query.len + 1;
    char *out = weft_web_alloc(req, cap);
    if (!out)
        return NULL;
    ssize_t n = weft_query_get(req->query.ptr, req->query.len, name, out,
                               cap);
    return n >= 0 ? out : NULL;
}

const char *weft_web_cookie(weft_web_request_t *req, const char *name) {
    if (!req || !name)
        return NULL;
    ssize_t i = -1;
    while ((i = weft_http_field_find(req->fields, req->nfields, "Cookie",
                                     (size_t)(i + 1))) >= 0) {
        weft_span_t v;
        const weft_span_t *f = &req->fields[i].value;
        if (weft_cookie_get(f->ptr, f->len, name, &v) == 0) {
            if (v.len >= 2 && v.ptr[0] == '"' && v.ptr[v.len - 1] == '"') {
                v.ptr++;
                v.len -= 2;
            }
            return weft_web_strndup(req, v.ptr, v.len);
        }
    }
    return NULL;
}

/* ---- the body ------------------------------------------------------------------------ */

bool weft_web_has_body(const weft_web_request_t *req) {
    return req && (req->framing == FRAME_CHUNKED ||
                   (req->framing == FRAME_LENGTH && req->content_length > 0));
}

int64_t weft_web_content_length(const weft_web_request_t *req) {
    return req && req->framing == FRAME_LENGTH ? req->content_length : -1;
}

static void rebase(weft_span_t *sp, const char *from, const char *to,
                   size_t len) {
    if (sp->ptr >= from && sp->ptr <= from + len)
        sp->ptr = to + (sp->ptr - from);
}

/* Before the first body read: the head's spans point into the stream's
 * buffer, which reading moves. Copy the head into the arena, point the
 * spans there, and drop it from the stream. */
int weft__web_head_out(weft_web_request_t *req) {
    if (req->head_consumed)
        return 0;
    weft_stream_t *s = req->conn->s;
    const void *buf;
    weft_stream_wait_data(s, 0, &buf); /* never waits: min 0 */
    char *copy = weft__arena_alloc(&req->arena, req->head_len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, buf, req->head_len);
    const char *from = buf;
    rebase(&req->method_name, from, copy, req->head_len);
    rebase(&req->target, from, copy, req->head_len);
    rebase(&req->raw_path, from, copy, req->head_len);
    rebase(&req->query, from, copy, req->head_len);
    weft_http_field_t *f = (weft_http_field_t *)req->fields;
    for (size_t i = 0; i < req->nfields; i++) {
        rebase(&f[i].name, from, copy, req->head_len);
        rebase(&f[i].value, from, copy, req->head_len);
    }
    weft_stream_consume(s, req->head_len);
    req->head_consumed = true;
    return 0;
}

/* A body wait: -ETIMEDOUT becomes 408, the end of the stream 400. */
static ssize_t body_wait(weft_web_request_t *req, const void **buf) {
    weft_stream_t *s = req->conn->s;
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, req->conn->runner->o.body_timeout, 0);
    WEFT__ANALYZER_ASSUME(err <= 0); /* 0 or -errno */
    if (err)
        return err;
    ssize_t n = weft_stream_wait_data(s, 1, buf);
    int se = weft_scope_exit(&sc);
    if (n == -ETIMEDOUT || (n >= 0 && se == -ETIMEDOUT))
        return WEFT_WEB_HTTP(408);
    if (n == 0)
        return WEFT_WEB_HTTP(400); /* the client ended the body early */
    return n;
}

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* The next run of body bytes: a span in the stream's buffer, valid until
 * the next read from it. 0 at the end. */
static ssize_t body_piece(weft_web_request_t *req, const void **data) {
    if (req->body_err)
        return req->body_err;
    if (req->body_done || req->hijacked)
        return 0;
    int err = weft__web_head_out(req);
    if (err)
        return err;
    weft_stream_t *s = req->conn->s;
    if (req->expect_continue && !req->continue_sent) {
        req->continue_sent = true;
        if (!req->resp.prepared) {
            err = weft_stream_write(s, continue_line,
                                    sizeof continue_line - 1);
            if (err)
                return req->body_err = err;
        }
    }
    req->body_started = true;
    for (;;) {
        const void *buf;
        ssize_t n = (ssize_t)weft_stream_buffered(s);
        if (n == 0)
            n = body_wait(req, &buf);
        else
            weft_stream_wait_data(s, 0, &buf); /* never waits */
        if (n < 0)
            return req->body_err = (int)n;
        weft_span_t d = {NULL, 0};
        ssize_t used = weft_http1_body_next(&req->dec, buf, (size_t)n, &d);
        if (used < 0)
            return req->body_err = WEFT_WEB_HTTP(400);
        weft_stream_consume(s, (size_t)used);
        if (weft_http1_body_done(&req->dec))
            req->body_done = true;
        if (d.len) {
            req->body_read += d.len;
            *data = d.ptr;
            return (ssize_t)d.len;
        }
        if (req->body_done)
            return 0;
    }
}

ssize_t weft_web_read_chunk(weft_web_request_t *req, const void **data) {
    if (!req || !data)
        return -EINVAL;
    if (req->body_whole)
        return -EALREADY;
    if (req->pend_len) {
        *data = req->pend;
        size_t n = req->pend_len;
        req->pend_len = 0;
        return (ssize_t)n;
    }
    return body_piece(req, data);
}

ssize_t weft_web_read(weft_web_request_t *req, void *buf, size_t len) {
    if (!req || (!buf && len))
        return -EINVAL;
    if (req->body_whole)
        return -EALREADY;
    if (len == 0)
        return 0;
    if (!req->pend_len) {
        const void *d;
        ssize_t n = body_piece(req, &d);
        if (n <= 0)
            return n;
        req->pend = d;
        req->pend_len = (size_t)n;
    }
    size_t take = req->pend_len < len ? req->pend_len : len;
    memcpy(buf, req->pend, take);
    req->pend = (const char *)req->pend + take;
    req->pend_len -= take;
    return (ssize_t)take;
}

static size_t body_limit(const weft_web_request_t *req, size_t max) {
    if (max)
        return max;
    if (req->app && req->app->opts.client_max_size)
        return req->app->opts.client_max_size;
    return req->conn->runner->o.client_max_size;
}

static void free_body(void *p) {
    weft__free(p);
}

ssize_t weft_web_read_body(weft_web_request_t *req, const void **data,
                           size_t max) {
    if (!req || !data)
        return -EINVAL;
    if (req->body_whole) {
        *data = req->body;
        return (ssize_t)req->body_len;
    }
    if (req->body_started)
        return -EALREADY;
    if (req->framing == FRAME_NONE) {
        req->body = "";
        req->body_whole = true;
        *data = req->body;
        return 0;
    }
    size_t limit = body_limit(req, max);
    if (req->framing == FRAME_LENGTH && (uint64_t)req->content_length > limit)
        return WEFT_WEB_HTTP(413);
    size_t cap = req->framing == FRAME_LENGTH ? (size_t)req->content_length
                                              : 1024;
    char *body = weft__malloc(cap + 1);
    if (!body || weft_web_defer(req, free_body, body)) {
        weft__free(body);
        return -ENOMEM;
    }
    size_t len = 0;
    for (;;) {
        const void *d;
        ssize_t n = body_piece(req, &d);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        if (len + (size_t)n > limit)
            return req->body_err = WEFT_WEB_HTTP(413);
        if (len + (size_t)n > cap) {
            size_t c = cap * 2 > len + (size_t)n ? cap * 2 : len + (size_t)n;
            if (c > limit)
                c = limit;
            char *nb = weft__realloc(body, c + 1);
            if (!nb)
                return -ENOMEM;
            /* The deferred free holds the old pointer: point it at the
             * new one. */
            for (struct web_defer *df = req->defers; df; df = df->next)
                if (df->fn == free_body && df->arg == body)
                    df->arg = nb;
            body = nb;
            cap = c;
        }
        memcpy(body + len, d, (size_t)n);
        len += (size_t)n;
    }
    body[len] = '\0';
    req->body = body;
    req->body_len = len;
    req->body_whole = true;
    *data = body;
    return (ssize_t)len;
}

bool weft__web_body_blocks(const weft_web_request_t *req) {
    if (req->body_done || req->framing == FRAME_NONE)
        return req->body_err != 0;
    if (req->body_err || req->hijacked)
        return true;
    if (req->expect_continue && !req->continue_sent)
        return true;
    return req->framing == FRAME_LENGTH &&
           (uint64_t)req->content_length - req->body_read > SKIP_LIMIT;
}

bool weft__web_body_skip(weft_web_request_t *req, size_t limit) {
    if (req->body_done || req->framing == FRAME_NONE)
        return !req->body_err;
    if (req->body_err || req->hijacked)
        return false;
    /* A client told to wait for 100 Continue that we never sent may not
     * send the body at all: the connection cannot be reused. */
    if (req->expect_continue && !req->continue_sent)
        return false;
    if (req->framing == FRAME_LENGTH &&
        (uint64_t)req->content_length - req->body_read > limit)
        return false;
    size_t skipped = 0;
    req->pend_len = 0;
    for (;;) {
        const void *d;
        ssize_t n = body_piece(req, &d);
        if (n < 0)
            return false;
        if (n == 0)
            return true;
        skipped += (size_t)n;
        if (skipped > limit)
            return false;
    }
}
