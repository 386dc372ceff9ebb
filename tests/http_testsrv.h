/* A test HTTP server that misbehaves on purpose, written on
 * weft_start_server with raw bytes: every route of its table is one
 * behaviour (a redirect loop, a body cut short, a stalled body, a gzip
 * bomb, interim 1xx responses, a body read until close, broken framing,
 * Set-Cookie ...). It counts connections and requests, and keeps the
 * last request's head and body for the tests to look at. Used by
 * test_client.c (in-process) and, through the same functions, to serve
 * examples/fetch run as a child. */
#ifndef WEFT_TEST_HTTPSRV_H
#define WEFT_TEST_HTTPSRV_H

#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <weft.h>

struct tsrv {
    weft_server_t *srv;
    int port;
    char base[64];   /* "http://127.0.0.1:PORT" */
    int conns;       /* connections accepted */
    int active, max_active;
    int requests;
    int retry_left;  /* /retry: 503 answers before a 200 */
    char last_head[4096];
    char last_body[4096];
    size_t last_body_len;
    char *bomb;      /* /bomb's gzip body */
    size_t bomb_len;
    weft_tls_ctx_t *tls;
};

static int ts_write(weft_stream_t *s, const char *str) {
    return weft_stream_write(s, str, strlen(str));
}

static int ts_printf(weft_stream_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int ts_printf(weft_stream_t *s, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return weft_stream_write(s, buf, (size_t)n);
}

/* A 200 with a body and a Content-Length. */
static int ts_ok(weft_stream_t *s, const char *type, const char *body,
                 size_t n) {
    return ts_printf(s, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                        "Content-Length: %zu\r\n\r\n", type, n) ||
           weft_stream_write(s, body, n);
}

/* gzip (31) or zlib (15) or raw deflate (-15) of n bytes. */
static size_t ts_compress(int bits, const void *in, size_t n, char **out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, n) + 64;
    *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)*out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    return len;
}

/* 8 MiB of zeros, gzipped (about 8 KiB: a ratio of 1000). */
static void ts_make_bomb(struct tsrv *t) {
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    static char zeros[1 << 20];
    size_t cap = 1 << 20;
    t->bomb = malloc(cap);
    z.next_out = (Bytef *)t->bomb;
    z.avail_out = (uInt)cap;
    for (int i = 0; i < 8; i++) {
        z.next_in = (Bytef *)zeros;
        z.avail_in = sizeof zeros;
        deflate(&z, i == 7 ? Z_FINISH : Z_NO_FLUSH);
    }
    t->bomb_len = cap - z.avail_out;
    deflateEnd(&z);
}

static bool ts_prefix(weft_span_t target, const char *p) {
    size_t n = strlen(p);
    return target.len >= n && memcmp(target.ptr, p, n) == 0;
}

static int ts_num(weft_span_t target, const char *p) {
    return atoi(target.ptr + strlen(p));
}

/* Answer one request; 1: close the connection after it. */
static int ts_respond(struct tsrv *t, weft_stream_t *s,
                      const weft_http1_head_t *h, const char *body,
                      size_t blen) {
    weft_span_t tg = h->target;
    bool head = h->method_id == WEFT_HTTP_HEAD;
    if (ts_prefix(tg, "/hello")) {
        if (head)
            return ts_write(s, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
        return ts_ok(s, "text/plain", "hello", 5);
    }
    if (ts_prefix(tg, "/echo")) {
        /* The request as received: head, then the body. */
        char out[8192];
        int n = snprintf(out, sizeof out, "%s", t->last_head);
        size_t len = (size_t)n + blen < sizeof out ? (size_t)n + blen
                                                   : sizeof out;
        memcpy(out + n, body, len - (size_t)n);
        return ts_ok(s, "text/plain", out, len);
    }
    if (ts_prefix(tg, "/redir/")) {
        int k = ts_num(tg, "/redir/");
        if (k == 0)
            return ts_ok(s, "text/plain", "done", 4);
        return ts_printf(s, "HTTP/1.1 302 Found\r\nLocation: /redir/%d\r\n"
                            "Content-Length: 0\r\n\r\n", k - 1);
    }
    if (ts_prefix(tg, "/loop"))
        return ts_write(s, "HTTP/1.1 302 Found\r\nLocation: /loop\r\n"
                           "Content-Length: 3\r\n\r\nabc");
    if (ts_prefix(tg, "/rel/a"))
        return ts_write(s, "HTTP/1.1 301 Moved\r\nLocation: ../hello\r\n"
                           "Content-Length: 0\r\n\r\n");
    if (ts_prefix(tg, "/to-cross"))
        return ts_printf(s, "HTTP/1.1 302 Found\r\nLocation: "
                            "http://localhost:%d/echo\r\n"
                            "Content-Length: 0\r\n\r\n", t->port);
    if (ts_prefix(tg, "/to-ftp"))
        return ts_write(s, "HTTP/1.1 302 Found\r\nLocation: ftp://x/y\r\n"
                           "Content-Length: 0\r\n\r\n");
    if (ts_prefix(tg, "/code/")) {
        int code = ts_num(tg, "/code/");
        return ts_printf(s, "HTTP/1.1 %d X\r\nLocation: /echo\r\n"
                            "Transfer-Encoding: chunked\r\n\r\n"
                            "3\r\nabc\r\n0\r\n\r\n", code);
    }
    if (ts_prefix(tg, "/status/")) {
        int code = ts_num(tg, "/status/");
        return ts_printf(s, "HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\nno",
                         code);
    }
    if (ts_prefix(tg, "/setcookie"))
        return ts_write(s, "HTTP/1.1 302 Found\r\nLocation: /echo\r\n"
                           "Set-Cookie: a=1; Path=/\r\n"
                           "Set-Cookie: b=2; Path=/other\r\n"
                           "Set-Cookie: s=3; Secure\r\n"
                           "Set-Cookie: gone=1; Max-Age=0\r\n"
                           "Content-Length: 0\r\n\r\n");
    if (ts_prefix(tg, "/short")) {
        ts_write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        return 1;
    }
    if (ts_prefix(tg, "/stallbody")) {
        ts_write(s, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        weft_stream_drain(s);
        weft_sleep(3600);
        return 1;
    }
    if (ts_prefix(tg, "/stallhead")) {
        weft_sleep(3600);
        return 1;
    }
    if (ts_prefix(tg, "/slow")) {
        weft_sleep(0.05);
        return ts_ok(s, "text/plain", "slow", 4);
    }
    if (ts_prefix(tg, "/gzip") || ts_prefix(tg, "/deflate") ||
        ts_prefix(tg, "/rawdeflate")) {
        static const char text[] = "compressed text, compressed text, "
                                   "compressed text, compressed text!";
        int bits = ts_prefix(tg, "/gzip") ? 31 : ts_prefix(tg, "/deflate") ? 15
                                                                            : -15;
        char *z;
        size_t n = ts_compress(bits, text, sizeof text - 1, &z);
        int err = ts_printf(s, "HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n"
                               "Content-Length: %zu\r\n\r\n",
                            bits == 31 ? "gzip" : "deflate", n) ||
                  weft_stream_write(s, z, n);
        free(z);
        return err;
    }
    if (ts_prefix(tg, "/badgzip"))
        return ts_write(s, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                           "Content-Length: 10\r\n\r\nnot gzip!!");
    if (ts_prefix(tg, "/bomb")) {
        if (!t->bomb)
            ts_make_bomb(t);
        return ts_printf(s, "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
                            "Content-Length: %zu\r\n\r\n", t->bomb_len) ||
               weft_stream_write(s, t->bomb, t->bomb_len);
    }
    if (ts_prefix(tg, "/1xx"))
        return ts_write(s, "HTTP/1.1 100 Continue\r\n\r\n"
                           "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    if (ts_prefix(tg, "/close")) {
        ts_write(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                    "read until the end");
        return 1;
    }
    if (ts_prefix(tg, "/chunked"))
        return ts_write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5;ext=\"x\"\r\nhello\r\n6\r\n world\r\n0\r\n"
                           "X-Trailer: t\r\n\r\n");
    if (ts_prefix(tg, "/badchunk")) {
        ts_write(s, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\nhello\r\n");
        return 1;
    }
    if (ts_prefix(tg, "/garbage")) {
        ts_write(s, "I am not HTTP at all\r\n\r\n");
        return 1;
    }
    if (ts_prefix(tg, "/nothing"))
        return 1;
    if (ts_prefix(tg, "/retry")) {
        if (t->retry_left > 0) {
            t->retry_left--;
            return ts_write(s, "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\n"
                               "Content-Length: 4\r\n\r\nbusy");
        }
        return ts_ok(s, "text/plain", "finally", 7);
    }
    if (ts_prefix(tg, "/upgrade"))
        return ts_write(s, "HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: test\r\nConnection: Upgrade\r\n\r\n"
                           "after the head") || 1;
    if (ts_prefix(tg, "/json")) {
        static const char j[] = "{\"a\": [1, 2, 3], \"s\": \"caf\\u00e9\"}";
        return ts_ok(s, "application/json", j, sizeof j - 1);
    }
    if (ts_prefix(tg, "/badjson"))
        return ts_ok(s, "application/json", "{\"a\": ", 6);
    if (ts_prefix(tg, "/big")) {
        static char big[1 << 20];
        memset(big, 'x', sizeof big);
        return ts_ok(s, "application/octet-stream", big, sizeof big);
    }
    return ts_printf(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n"
                        "not found");
}

static int ts_handler(weft_stream_t *s, void *arg) {
    struct tsrv *t = arg;
    t->conns++;
    t->active++;
    if (t->active > t->max_active)
        t->max_active = t->active;
    int ret = 0;
    for (;;) {
        weft_http_field_t f[64];
        weft_http1_head_t h = {.fields = f, .max_fields = 64};
        const void *p;
        size_t prev = 0;
        int hl;
        for (;;) {
            ssize_t n = weft_stream_wait_data(s, prev + 1, &p);
            if (n <= (ssize_t)prev)
                goto out;
            hl = weft_http1_parse_request(&h, p, (size_t)n, 0, NULL);
            if (hl != -EAGAIN)
                break;
            prev = (size_t)n;
        }
        if (hl < 0)
            goto out;
        size_t cp = (size_t)hl < sizeof t->last_head - 1 ? (size_t)hl
                                                          : sizeof t->last_head - 1;
        memcpy(t->last_head, p, cp);
        t->last_head[cp] = 0;
        weft_http1_head_t hc = h;
        /* the target stays valid: copy what the response needs */
        char target[512];
        size_t tl = h.target.len < sizeof target ? h.target.len : sizeof target - 1;
        memcpy(target, h.target.ptr, tl);
        target[tl] = 0;
        hc.target = (weft_span_t){target, tl};
        weft_http1_body_t b;
        weft_http1_body_init(&b, &h, NULL, 0);
        weft_stream_consume(s, (size_t)hl);
        t->last_body_len = 0;
        while (!weft_http1_body_done(&b)) {
            ssize_t n = weft_stream_wait_data(s, 1, &p);
            if (n <= 0)
                goto out;
            weft_span_t d;
            ssize_t used = weft_http1_body_next(&b, p, (size_t)n, &d);
            if (used < 0)
                goto out;
            size_t room = sizeof t->last_body - t->last_body_len;
            size_t c = d.len < room ? d.len : room;
            memcpy(t->last_body + t->last_body_len, d.ptr, c);
            t->last_body_len += c;
            weft_stream_consume(s, (size_t)used);
        }
        t->requests++;
        int r = ts_respond(t, s, &hc, t->last_body, t->last_body_len);
        if (r)
            break;
    }
out:
    t->active--;
    return ret;
}

/* Serve on 127.0.0.1 (TLS with ctx, if not NULL: then base names
 * localhost, the certificate's name). */
static void ts_start_ctx(struct tsrv *t, weft_tls_ctx_t *ctx) {
    memset(t, 0, sizeof *t);
    weft_server_opts_t o = {.tls = ctx};
    int err = weft_start_server(weft_loop_current(), &t->srv, "127.0.0.1", "0",
                                ts_handler, t, &o);
    if (err) {
        fprintf(stderr, "test server: %s\n", weft_strerror(err));
        abort();
    }
    t->port = weft_server_port(t->srv);
    snprintf(t->base, sizeof t->base, ctx ? "https://localhost:%d"
                                          : "http://127.0.0.1:%d", t->port);
}

static void ts_start(struct tsrv *t) {
    ts_start_ctx(t, NULL);
}

static void ts_stop(struct tsrv *t) {
    weft_server_close(t->srv, 0);
    free(t->bomb);
    t->bomb = NULL;
}

#endif
