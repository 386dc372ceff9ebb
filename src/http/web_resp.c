/* The response: headers and body, the head written in one piece (with a
 * small body, one write), streams, file bodies, filters, and the Date
 * line cached once a second. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../loop/loop_int.h"
#include "web_int.h"
#include "weft/httpmsg.h"

#define SMALL_BODY 16384      /* copied after the head: one write */
#define SEND_PIECE (1u << 20) /* each piece of a big body within send_timeout */

/* ---- the Date line ---------------------------------------------------------------- */

/* Per thread (one loop each): "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n",
 * made again when the loop's cached clock enters a new second, so a
 * response costs no clock read and no formatting. */
static WEFT__TLS struct {
    uint64_t sec;
    bool made;
    char line[48];
} date_cache;

const char *weft__web_date(weft_loop_t *loop) {
    uint64_t sec = loop->now / WEFT__NS_PER_SEC;
    if (!date_cache.made || sec != date_cache.sec) {
        memcpy(date_cache.line, "Date: ", 6);
        weft_http_date_write(date_cache.line + 6, WEFT_HTTP_DATE_LEN + 1,
                             time(NULL));
        memcpy(date_cache.line + 6 + WEFT_HTTP_DATE_LEN, "\r\n", 3);
        date_cache.sec = sec;
        date_cache.made = true;
    }
    return date_cache.line;
}

/* ---- statuses ----------------------------------------------------------------------- */

const char *weft_web_reason(int status) {
    const char *r = weft_http_status_reason(status);
    return r ? r : "";
}

/* 1xx, 204 and 304 responses have no body (RFC 9110 section 6.4.1). */
static bool no_body_status(int status) {
    return status < 200 || status == 204 || status == 304;
}

/* ---- headers ------------------------------------------------------------------------ */

weft_web_response_t *weft_web_resp(weft_web_request_t *req) {
    return req ? &req->resp : NULL;
}

int weft_web_set_status(weft_web_response_t *resp, int status,
                        const char *reason) {
    if (!resp || (status < 200 && status != 101) || status > 999)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    if (reason) {
        for (const char *p = reason; *p; p++)
            if ((unsigned char)*p < 0x20 && *p != '\t')
                return -EINVAL;
        reason = weft_web_strndup(resp->req, reason, strlen(reason));
        if (!reason)
            return -ENOMEM;
    }
    resp->status = status;
    resp->reason = reason;
    return 0;
}

int weft_web_resp_status(const weft_web_response_t *resp) {
    return resp ? resp->status : -EINVAL;
}

/* SHIM: weft/http1.h checks fields only while writing a head; these two
 * say it at the call that adds the field. */
static bool value_ok(const char *v, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool is_name(const char *a, size_t alen, const char *b) {
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* Fields the server writes itself. */
static bool reserved(const char *name, size_t n) {
    return (n == 14 && strncasecmp(name, "Content-Length", 14) == 0) ||
           (n == 17 && strncasecmp(name, "Transfer-Encoding", 17) == 0);
}

/* Check a field to add; its lengths go to *nlen and *vlen. */
static int check_field(const weft_web_response_t *resp, const char *name,
                       const char *value, const char *fn, size_t *nlen,
                       size_t *vlen) {
    if (!resp || !name || !value)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    size_t n = strlen(name), v = strlen(value);
    if (!weft_http_is_token(name, n) || !value_ok(value, v)) {
        weft__log(WEFT_LOG_WARN, "%s: '%s' is not a valid field name, or "
                                 "its value holds CR, LF or another "
                                 "control character",
                  fn, name);
        return -EINVAL;
    }
    if (reserved(name, n)) {
        weft__log(WEFT_LOG_WARN, "%s: %s is the server's to write "
                                 "(weft_web_set_content_length for a "
                                 "stream)",
                  fn, name);
        return -EINVAL;
    }
    *nlen = n;
    *vlen = v;
    return 0;
}

static int add_field(weft_web_response_t *resp, const char *name,
                     size_t nlen, const char *value, size_t vlen) {
    char *copy = weft__arena_alloc(&resp->req->arena, nlen + vlen + 2);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, name, nlen);
    copy[nlen] = '\0';
    memcpy(copy + nlen + 1, value, vlen);
    copy[nlen + 1 + vlen] = '\0';
    if (resp->hdrs.n == resp->hdrs.cap) {
        size_t cap = resp->hdrs.cap ? resp->hdrs.cap * 2 : 8;
        struct web_hdr *v = weft__arena_alloc(&resp->req->arena,
                                              cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        if (resp->hdrs.n)
            memcpy(v, resp->hdrs.v, resp->hdrs.n * sizeof *v);
        resp->hdrs.v = v;
        resp->hdrs.cap = cap;
    }
    resp->hdrs.v[resp->hdrs.n++] =
        (struct web_hdr){copy, copy + nlen + 1, nlen, vlen};
    if (nlen == 4 && strncasecmp(name, "Date", 4) == 0)
        resp->has_date = true;
    else if (nlen == 6 && strncasecmp(name, "Server", 6) == 0)
        resp->has_server = true;
    else if (nlen == 10 && strncasecmp(name, "Connection", 10) == 0)
        resp->has_connection = true;
    return 0;
}

static int add_cfield(weft_web_response_t *resp, const char *name,
                      const char *value) {
    return add_field(resp, name, strlen(name), value, strlen(value));
}

int weft_web_add_header(weft_web_response_t *resp, const char *name,
                        const char *value) {
    size_t n, v;
    int err = check_field(resp, name, value, "weft_web_add_header", &n, &v);
    return err ? err : add_field(resp, name, n, value, v);
}

static size_t drop_fields(weft_web_response_t *resp, const char *name) {
    size_t j = 0, n = strlen(name);
    for (size_t i = 0; i < resp->hdrs.n; i++)
        if (resp->hdrs.v[i].nlen != n ||
            strncasecmp(resp->hdrs.v[i].name, name, n) != 0)
            resp->hdrs.v[j++] = resp->hdrs.v[i];
    size_t dropped = resp->hdrs.n - j;
    resp->hdrs.n = j;
    return dropped;
}

int weft_web_set_header(weft_web_response_t *resp, const char *name,
                        const char *value) {
    size_t n, v;
    int err = check_field(resp, name, value, "weft_web_set_header", &n, &v);
    if (err)
        return err;
    if (resp->hdrs.n)
        drop_fields(resp, name);
    return add_field(resp, name, n, value, v);
}

int weft_web_remove_header(weft_web_response_t *resp, const char *name) {
    if (!resp || !name)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    return drop_fields(resp, name) ? 0 : -ENOENT;
}

int weft_web_resp_header(const weft_web_response_t *resp, const char *name,
                         weft_span_t *value) {
    if (!resp || !name)
        return -EINVAL;
    for (size_t i = 0; i < resp->hdrs.n; i++)
        if (is_name(resp->hdrs.v[i].name, resp->hdrs.v[i].nlen, name)) {
            if (value)
                *value = (weft_span_t){resp->hdrs.v[i].value,
                                       resp->hdrs.v[i].vlen};
            return 0;
        }
    return -ENOENT;
}

int weft_web_set_content_type(weft_web_response_t *resp, const char *type,
                              const char *charset) {
    if (!resp || !type)
        return -EINVAL;
    if (!charset)
        return weft_web_set_header(resp, "Content-Type", type);
    char *v = weft_web_sprintf(resp->req, "%s; charset=%s", type, charset);
    return v ? weft_web_set_header(resp, "Content-Type", v) : -ENOMEM;
}

/* ---- cookies ------------------------------------------------------------------------ */

int weft_web_set_cookie(weft_web_response_t *resp, const char *name,
                        const char *value, const weft_web_cookie_opts_t *o) {
    if (!resp || !name || !value)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    weft_set_cookie_t c = {.name = {name, strlen(name)},
                           .value = {value, strlen(value)}};
    if (o) {
        if (o->domain)
            c.domain = (weft_span_t){o->domain, strlen(o->domain)};
        if (o->path)
            c.path = (weft_span_t){o->path, strlen(o->path)};
        if (o->expires) {
            c.expires = (time_t)o->expires;
            c.flags |= WEFT_COOKIE_EXPIRES;
        }
        if (o->max_age) {
            c.max_age = o->max_age < 0 ? 0 : o->max_age;
            c.flags |= WEFT_COOKIE_MAX_AGE;
        }
        if (o->secure)
            c.flags |= WEFT_COOKIE_SECURE;
        if (o->http_only)
            c.flags |= WEFT_COOKIE_HTTPONLY;
        c.samesite = o->same_site == WEFT_WEB_SAMESITE_STRICT ? WEFT_SAMESITE_STRICT
                     : o->same_site == WEFT_WEB_SAMESITE_LAX  ? WEFT_SAMESITE_LAX
                     : o->same_site == WEFT_WEB_SAMESITE_NONE ? WEFT_SAMESITE_NONE
                                                              : WEFT_SAMESITE_UNSET;
    }
    char probe[512];
    ssize_t n = weft_set_cookie_write(probe, sizeof probe, &c);
    if (n >= 0)
        return add_cfield(resp, "Set-Cookie", probe);
    if (n != -ENOSPC)
        return -EINVAL;
    size_t cap = 512 + c.name.len + c.value.len + c.domain.len + c.path.len;
    char *buf = weft_web_alloc(resp->req, cap);
    if (!buf)
        return -ENOMEM;
    n = weft_set_cookie_write(buf, cap, &c);
    return n >= 0 ? add_cfield(resp, "Set-Cookie", buf) : -EINVAL;
}

int weft_web_del_cookie(weft_web_response_t *resp, const char *name,
                        const char *path, const char *domain) {
    weft_web_cookie_opts_t o = {.path = path, .domain = domain,
                                .max_age = -1, .expires = 1};
    return weft_web_set_cookie(resp, name, "", &o);
}

/* ---- bodies ------------------------------------------------------------------------- */

static void drop_body(weft_web_response_t *resp) {
    if (resp->kind == BODY_FILE && (resp->fflags & WEFT_WEB_FILE_CLOSE))
        close(resp->fd);
    resp->kind = BODY_NONE;
    resp->data = NULL;
    resp->len = 0;
    resp->fd = -1;
}

int weft_web_body_ref(weft_web_response_t *resp, const void *data,
                      size_t len) {
    if (!resp || (!data && len))
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    drop_body(resp);
    resp->kind = BODY_BYTES;
    resp->data = data;
    resp->len = len;
    return 0;
}

int weft_web_body(weft_web_response_t *resp, const void *data, size_t len) {
    if (!resp || (!data && len))
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    void *copy = weft__arena_alloc(&resp->req->arena, len);
    if (!copy)
        return -ENOMEM;
    if (len)
        memcpy(copy, data, len);
    return weft_web_body_ref(resp, copy, len);
}

int weft_web_bytes(weft_web_request_t *req, int status,
                   const char *content_type, const void *data, size_t len) {
    if (!req)
        return -EINVAL;
    weft_web_response_t *resp = &req->resp;
    int err = weft_web_set_status(resp, status, NULL);
    if (!err)
        err = weft_web_set_header(resp, "Content-Type",
                                  content_type ? content_type
                                               : "application/octet-stream");
    if (!err)
        err = weft_web_body(resp, data, len);
    return err;
}

int weft_web_text(weft_web_request_t *req, int status, const char *text) {
    if (!text)
        return -EINVAL;
    return weft_web_bytes(req, status, "text/plain; charset=utf-8", text,
                          strlen(text));
}

int weft_web_body_file(weft_web_response_t *resp, int fd, off_t offset,
                       off_t len, unsigned flags) {
    if (!resp || fd < 0 || offset < 0 || len < 0 ||
        (flags & ~(unsigned)WEFT_WEB_FILE_CLOSE))
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    drop_body(resp);
    resp->kind = BODY_FILE;
    resp->fd = fd;
    resp->off = offset;
    resp->flen = len;
    resp->fflags = flags;
    return 0;
}

int weft_web_set_filter(weft_web_response_t *resp,
                        const weft_web_filter_t *filter, void *state) {
    if (!resp || !filter || !filter->write)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    if (resp->filter && resp->filter->free)
        resp->filter->free(resp->fstate);
    resp->filter = filter;
    resp->fstate = state;
    return 0;
}

int weft_web_set_content_length(weft_web_response_t *resp, int64_t len) {
    if (!resp || len < 0)
        return -EINVAL;
    if (resp->prepared)
        return -EALREADY;
    resp->content_length = len;
    return 0;
}

uint64_t weft_web_resp_bytes(const weft_web_response_t *resp) {
    return resp ? resp->bytes : 0;
}

void weft_web_force_close(weft_web_request_t *req) {
    if (req)
        req->close = true;
}

bool weft_web_prepared(const weft_web_request_t *req) {
    return req && req->resp.prepared;
}

/* ---- sending ------------------------------------------------------------------------ */

/* Wait for the client to take what is queued, if it is past the stream's
 * high-water mark, within send_timeout. */
static int drain(weft_web_request_t *req) {
    weft_stream_t *s = req->conn->s;
    if (s->wlen + s->hlen <= s->high)
        return s->werr;
    weft_scope_t sc;
    int err = weft_scope_enter(&sc, req->conn->runner->o.send_timeout, 0);
    if (err)
        return err;
    err = weft_stream_drain(s);
    int se = weft_scope_exit(&sc);
    return err ? err : se;
}

/* writev in pieces, each within send_timeout. */
static int send_iov(weft_web_request_t *req, struct iovec *iov, int n) {
    weft_stream_t *s = req->conn->s;
    while (n > 0) {
        if (iov[0].iov_len == 0) {
            iov++, n--;
            continue;
        }
        size_t total = 0;
        int k = 0;
        while (k < n && total < SEND_PIECE)
            total += iov[k++].iov_len;
        size_t cut = 0;
        if (total > SEND_PIECE) { /* trim the last one of the piece */
            cut = total - SEND_PIECE;
            iov[k - 1].iov_len -= cut;
        }
        weft_scope_t sc;
        int err = weft_scope_enter(&sc, req->conn->runner->o.send_timeout, 0);
        if (err)
            return err;
        ssize_t r = weft_stream_writev(s, iov, k);
        int se = weft_scope_exit(&sc);
        if (r < 0)
            return (int)r;
        if (se < 0)
            return se;
        if (cut) {
            iov[k - 1].iov_base = (char *)iov[k - 1].iov_base +
                                  iov[k - 1].iov_len;
            iov[k - 1].iov_len = cut;
            k--;
        }
        iov += k;
        n -= k;
    }
    return 0;
}

static int send_file(weft_web_request_t *req, int fd, off_t off,
                     uint64_t len) {
    weft_stream_t *s = req->conn->s;
    while (len > 0) {
        size_t piece = len > SEND_PIECE ? SEND_PIECE : (size_t)len;
        weft_scope_t sc;
        int err = weft_scope_enter(&sc, req->conn->runner->o.send_timeout, 0);
        if (err)
            return err;
        ssize_t r = weft_stream_sendfile(s, fd, off, piece);
        int se = weft_scope_exit(&sc);
        if (r < 0)
            return (int)r;
        req->resp.bytes += (uint64_t)r;
        if ((size_t)r < piece)
            return se < 0 ? se : -EPIPE; /* the file ended early */
        off += (off_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}

static char *put_str(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return p + n;
}

#define PUT_LIT(p, lit) put_str((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v) {
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Whether this response ends the connection, and the Connection field
 * that says so. */
static bool will_close(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    if (req->close || !req->keep_alive || resp->close_after ||
        req->conn->runner->o.keepalive_timeout < 0 ||
        weft__web_body_blocks(req))
        return true;
    if (weft_stop_requested()) {
        /* Shutting down: keep the connection only for requests it has
         * already received (pipelined after this one). */
        size_t buffered = weft_stream_buffered(req->conn->s);
        size_t head = req->head_consumed ? 0 : req->head_len;
        bool body_left = req->framing != FRAME_NONE && !req->body_done;
        return body_left || buffered <= head;
    }
    return false;
}

/* The head, into arena memory with `extra` bytes of room after it.
 * length: the Content-Length to send, or -1 (chunked or until close). */
static char *build_head(weft_web_request_t *req, int64_t length, size_t extra,
                        size_t *out_len) {
    weft_web_response_t *resp = &req->resp;
    weft_web_runner_t *run = req->conn->runner;
    bool ok200 = resp->status == 200 && !resp->reason;
    const char *reason = ok200         ? "OK"
                         : resp->reason ? resp->reason
                                        : weft_web_reason(resp->status);
    size_t rlen = ok200 ? 2 : strlen(reason);
    size_t need = 16 + rlen + 2 + 40 + 64 + 32 + 24 + 2;
    if (run->o.server_name)
        need += 10 + run->server_name_len;
    for (size_t i = 0; i < resp->hdrs.n; i++)
        need += resp->hdrs.v[i].nlen + resp->hdrs.v[i].vlen + 4;
    char *buf = weft__arena_alloc(&req->arena, need + extra);
    if (!buf)
        return NULL;
    char *p = buf;
    if (ok200) {
        p = PUT_LIT(p, "HTTP/1.1 200 OK\r\n");
    } else {
        p = PUT_LIT(p, "HTTP/1.1 ");
        p = put_u64(p, (uint64_t)resp->status);
        *p++ = ' ';
        p = put_str(p, reason, rlen);
        p = PUT_LIT(p, "\r\n");
    }
    if (!resp->has_date)
        p = put_str(p, weft__web_date(req->conn->runner->loop), 37);
    if (run->o.server_name && !resp->has_server) {
        p = PUT_LIT(p, "Server: ");
        p = put_str(p, run->o.server_name, run->server_name_len);
        p = PUT_LIT(p, "\r\n");
    }
    for (size_t i = 0; i < resp->hdrs.n; i++) {
        const struct web_hdr *h = &resp->hdrs.v[i];
        p = put_str(p, h->name, h->nlen);
        *p++ = ':';
        *p++ = ' ';
        p = put_str(p, h->value, h->vlen);
        p = PUT_LIT(p, "\r\n");
    }
    if (length >= 0 && !no_body_status(resp->status)) {
        p = PUT_LIT(p, "Content-Length: ");
        p = put_u64(p, (uint64_t)length);
        p = PUT_LIT(p, "\r\n");
    } else if (resp->chunked) {
        p = PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (!resp->has_connection) {
        bool closing = will_close(req);
        if (closing)
            p = PUT_LIT(p, "Connection: close\r\n");
        else if (req->version == 10)
            p = PUT_LIT(p, "Connection: keep-alive\r\n");
        req->close = closing;
    }
    p = PUT_LIT(p, "\r\n");
    *out_len = (size_t)(p - buf);
    return buf;
}

/* Run the on_response_prepare signals once (the response still open). */
static int prepare_signals(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    if (resp->signalled)
        return 0;
    resp->signalled = true;
    weft_web_app_t *app = req->app ? req->app : req->conn->runner->app;
    for (size_t i = 0; i < app->nprep; i++) {
        weft_web_prepare_fn fn = (weft_web_prepare_fn)app->prep_chain[i].fn;
        int err = fn(req, resp, app->prep_chain[i].arg);
        if (err)
            return err;
    }
    return 0;
}

/* Whether the body goes on the wire at all (HEAD, 204, 304 have none). */
static bool body_on_wire(const weft_web_request_t *req) {
    return req->method != WEFT_HTTP_HEAD &&
           !no_body_status(req->resp.status);
}

/* ---- filters ------------------------------------------------------------------------ */

enum { OUT_COLLECT, OUT_STREAM };

struct weft_web_filter_out {
    weft_web_request_t *req;
    int mode;
    char *buf; /* OUT_COLLECT: weft__malloc'd, freed with the request */
    size_t len, cap;
};

static int raw_write(weft_web_request_t *req, const void *data, size_t len);

int weft_web_filter_emit(weft_web_filter_out_t *out, const void *data,
                         size_t len) {
    if (!out || (!data && len))
        return -EINVAL;
    if (len == 0)
        return 0;
    if (out->mode == OUT_STREAM)
        return raw_write(out->req, data, len);
    if (out->len + len > out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 4096;
        while (cap < out->len + len)
            cap *= 2;
        char *b = weft__realloc(out->buf, cap);
        if (!b)
            return -ENOMEM;
        out->buf = b;
        out->cap = cap;
    }
    memcpy(out->buf + out->len, data, len);
    out->len += len;
    return 0;
}

static void free_mem(void *p) {
    weft__free(p);
}

/* A bytes body through the filter, whole: the output becomes the body. */
static int filter_whole(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    weft_web_filter_out_t out = {req, OUT_COLLECT, NULL, 0, 0};
    int err = resp->filter->write(resp->fstate, &out, resp->data, resp->len,
                                  true);
    if (!err && out.buf && weft_web_defer(req, free_mem, out.buf)) {
        err = -ENOMEM;
    }
    if (err) {
        weft__free(out.buf);
        return err;
    }
    resp->data = out.buf ? out.buf : "";
    resp->len = out.len;
    resp->filter_done = true;
    return 0;
}

/* ---- whole responses ------------------------------------------------------------------ */

static int send_bytes(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    bool wire = body_on_wire(req);
    size_t extra = wire && resp->len <= SMALL_BODY ? resp->len : 0;
    size_t hl;
    char *head = build_head(req, (int64_t)resp->len, extra, &hl);
    if (!head)
        return -ENOMEM;
    resp->prepared = true;
    if (extra) {
        memcpy(head + hl, resp->data, extra);
        int err = weft_stream_write(req->conn->s, head, hl + extra);
        if (!err)
            resp->bytes = extra;
        return err ? err : drain(req);
    }
    if (!wire || resp->len == 0) {
        int err = weft_stream_write(req->conn->s, head, hl);
        return err ? err : drain(req);
    }
    struct iovec iov[2] = {{head, hl}, {(void *)resp->data, resp->len}};
    int err = send_iov(req, iov, 2);
    if (!err)
        resp->bytes = resp->len;
    return err;
}

static int send_file_response(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    size_t hl;
    char *head = build_head(req, (int64_t)resp->flen, 0, &hl);
    if (!head)
        return -ENOMEM;
    resp->prepared = true;
    int err = weft_stream_write(req->conn->s, head, hl);
    if (err || !body_on_wire(req))
        return err;
    err = send_file(req, resp->fd, resp->off, (uint64_t)resp->flen);
    if (err == -EPIPE)
        req->close = true;
    return err;
}

/* A file through a filter: read it and stream it. */
static int filter_file(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    int err = weft_web_prepare(req);
    if (err)
        return err;
    char *buf = weft__malloc(65536);
    if (!buf)
        return -ENOMEM;
    off_t off = resp->off;
    uint64_t left = (uint64_t)resp->flen;
    while (left > 0 && !err) {
        size_t want = left > 65536 ? 65536 : (size_t)left;
        ssize_t n = pread(resp->fd, buf, want, off);
        if (n <= 0) {
            err = n < 0 ? -errno : -EPIPE;
            break;
        }
        err = weft_web_write(req, buf, (size_t)n);
        off += n;
        left -= (uint64_t)n;
    }
    weft__free(buf);
    return err ? err : weft_web_write_eof(req);
}

int weft__web_finish(weft_web_request_t *req) {
    weft_web_response_t *resp = &req->resp;
    if (req->hijacked)
        return 0;
    if (resp->prepared)
        return resp->eof ? 0 : weft_web_write_eof(req);
    int err = prepare_signals(req);
    if (err)
        return err;
    if (resp->kind == BODY_FILE)
        return resp->filter && body_on_wire(req) ? filter_file(req)
                                                 : send_file_response(req);
    if (resp->filter && !resp->filter_done && body_on_wire(req)) {
        err = filter_whole(req);
        if (err)
            return err;
    }
    return send_bytes(req);
}

int weft__web_error_response(weft_web_request_t *req, int status) {
    weft_web_response_t *resp = &req->resp;
    if (resp->prepared)
        return -EALREADY;
    drop_body(resp);
    if (resp->filter && resp->filter->free)
        resp->filter->free(resp->fstate);
    resp->filter = NULL;
    resp->hdrs.n = 0;
    resp->has_date = resp->has_server = resp->has_connection = false;
    resp->reason = NULL;
    resp->status = status;
    const char *reason = weft_web_reason(status);
    char *text = weft_web_sprintf(req, "%d %s\n", status, reason);
    if (!text)
        return -ENOMEM;
    int err = weft_web_set_header(resp, "Content-Type",
                                  "text/plain; charset=utf-8");
    if (!err)
        err = weft_web_body_ref(resp, text, strlen(text));
    return err;
}

/* ---- streams ------------------------------------------------------------------------ */

int weft_web_prepare(weft_web_request_t *req) {
    if (!req)
        return -EINVAL;
    weft_web_response_t *resp = &req->resp;
    if (resp->prepared)
        return -EALREADY;
    if (req->hijacked)
        return -EBADF;
    int err = prepare_signals(req);
    if (err)
        return err;
    int64_t length = -1;
    if (resp->content_length >= 0 && !resp->filter)
        length = resp->content_length;
    else if (no_body_status(resp->status))
        length = -1;
    else if (req->version >= 11)
        resp->chunked = true;
    else
        resp->close_after = true; /* HTTP/1.0: until the close */
    size_t hl;
    struct arena *a = &req->arena;
    char *base = a->base;
    size_t used = a->used;
    char *head = build_head(req, length, 0, &hl);
    if (!head)
        return -ENOMEM;
    resp->prepared = true;
    resp->stream = true;
    err = weft_stream_write(req->conn->s, head, hl);
    /* The stream has the head now: its arena bytes go back, so that a
     * long stream's (a WebSocket's, server-sent events') parked frames
     * do not keep them (weft__web_req_unused). */
    if (a->base == base)
        a->used = used;
    return err ? err : drain(req);
}

/* Body bytes after the filter, framed as the head said. */
static int raw_write(weft_web_request_t *req, const void *data, size_t len) {
    weft_web_response_t *resp = &req->resp;
    if (len == 0)
        return 0;
    if (resp->content_length >= 0 && !resp->filter &&
        resp->written + len > (uint64_t)resp->content_length)
        return -EMSGSIZE;
    resp->written += len;
    if (!body_on_wire(req))
        return 0;
    int err;
    if (resp->chunked) {
        char line[WEFT_HTTP1_CHUNK_SIZE_MAX];
        size_t ll = weft_http1_write_chunk_size(line, len);
        struct iovec iov[3] = {{line, ll}, {(void *)data, len}, {"\r\n", 2}};
        err = send_iov(req, iov, 3);
    } else if (len <= SMALL_BODY) {
        err = weft_stream_write(req->conn->s, data, len);
        if (!err)
            err = drain(req);
    } else {
        struct iovec iov[1] = {{(void *)data, len}};
        err = send_iov(req, iov, 1);
    }
    if (!err)
        resp->bytes += len;
    return err;
}

int weft_web_write(weft_web_request_t *req, const void *data, size_t len) {
    if (!req || (!data && len))
        return -EINVAL;
    weft_web_response_t *resp = &req->resp;
    if (resp->eof)
        return -EALREADY;
    if (!resp->prepared) {
        int err = weft_web_prepare(req);
        if (err)
            return err;
    }
    if (!resp->stream) {
        weft__log(WEFT_LOG_WARN, "weft_web_write: the response was sent "
                                 "whole already");
        return -EALREADY;
    }
    if (len == 0)
        return 0;
    if (resp->filter) {
        weft_web_filter_out_t out = {req, OUT_STREAM, NULL, 0, 0};
        return resp->filter->write(resp->fstate, &out, data, len, false);
    }
    return raw_write(req, data, len);
}

int weft_web_write_eof(weft_web_request_t *req) {
    if (!req)
        return -EINVAL;
    weft_web_response_t *resp = &req->resp;
    if (!resp->prepared) {
        int err = weft_web_prepare(req);
        if (err)
            return err;
    }
    if (resp->eof || !resp->stream)
        return 0;
    int err = 0;
    if (resp->filter) {
        weft_web_filter_out_t out = {req, OUT_STREAM, NULL, 0, 0};
        err = resp->filter->write(resp->fstate, &out, NULL, 0, true);
    }
    resp->eof = true;
    if (!err && resp->chunked && body_on_wire(req))
        err = weft_stream_write(req->conn->s, "0\r\n\r\n", 5);
    if (!err && resp->content_length >= 0 && !resp->filter &&
        resp->written < (uint64_t)resp->content_length && body_on_wire(req))
        req->close = true; /* fewer bytes than promised: only a close says
                              so */
    if (resp->close_after)
        req->close = true;
    return err ? err : drain(req);
}

weft_stream_t *weft_web_hijack(weft_web_request_t *req) {
    if (!req || !req->resp.prepared || weft__web_head_out(req))
        return NULL;
    req->hijacked = true;
    req->close = true;
    /* The new protocol's connection lives for hours: handler_timeout
     * bounded a request, not this (its own timeouts take over). */
    if (req->handler_scope)
        weft_scope_reschedule(req->handler_scope, INFINITY);
    return req->conn->s;
}
