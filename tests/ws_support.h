/* Test support for WebSockets (weft/ws.h): a web server on a loopback port
 * in the test's own loop (a virtual clock: timeouts are instant and
 * exact), with an echo route whose options a test sets, and a raw client
 * that speaks frames byte by byte (masked with a fixed key unless told
 * otherwise), so that tests can send what no good client would. */
#ifndef WEFT_TEST_WS_SUPPORT_H
#define WEFT_TEST_WS_SUPPORT_H

#include "support.h"

#include <weft/ws.h>

#include "http/ws_int.h"

/* ---- the server ---------------------------------------------------------- */

/* The echo route's options (a test sets them before the server starts). */
static weft_ws_opts_t echo_opts;
/* What the echo handler saw last: its receive's error, the close code. */
static int echo_err, echo_close_code, echo_msgs;

static int ws_echo(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &echo_opts);
    if (err)
        return err;
    weft_ws_msg_t m;
    while ((err = weft_ws_receive(ws, &m)) == 0) {
        if (m.type == WEFT_WS_CLOSE) {
            echo_close_code = m.code;
            break;
        }
        echo_msgs++;
        if (m.type == WEFT_WS_TEXT || m.type == WEFT_WS_BINARY)
            weft_ws_send(ws, m.type, m.data, m.len);
    }
    echo_err = err;
    return 0;
}

struct ws_srv {
    weft_web_app_t *app;
    weft_web_runner_t *run;
    int port;
};

static inline void ws_srv_start(struct ws_srv *s,
                                void (*routes)(weft_web_app_t *app)) {
    echo_err = echo_close_code = echo_msgs = 0;
    ck_assert_ok(weft_web_app_new(&s->app, NULL));
    ck_assert_ok(weft_web_route(s->app, "GET", "/", ws_echo, NULL, NULL));
    if (routes)
        routes(s->app);
    weft_web_server_opts_t o = {0};
    ck_assert_ok(weft_web_runner_new(&s->run, s->app, &o));
    ck_assert_ok(weft_web_runner_setup(s->run));
    ck_assert_ok(weft_web_runner_listen(s->run, "127.0.0.1", "0", NULL));
    s->port = weft_web_runner_port(s->run);
}

static inline void ws_srv_stop(struct ws_srv *s) {
    ck_assert_ok(weft_web_runner_shutdown(s->run, 5));
    weft_web_runner_free(s->run);
    ck_assert_ok(weft_web_app_free(s->app));
}

/* ---- the raw client ------------------------------------------------------ */

struct rawc {
    weft_stream_t *s;
    char head[4096]; /* the server's answer to the upgrade */
    size_t head_len;
    int status;
};

static const uint8_t raw_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* Connect and send an upgrade for `path` with extra header lines (each
 * ending "\r\n"); read the answer's head. */
static inline void rawc_open(struct rawc *c, int port, const char *path,
                             const char *extra) {
    char p[16], req[4096];
    snprintf(p, sizeof p, "%d", port);
    ck_assert_ok(weft_open_connection(&c->s, "127.0.0.1", p, NULL));
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, extra ? extra : "");
    ck_assert_ok(weft_stream_write(c->s, req, (size_t)n));
    ssize_t h = weft_stream_read_until(c->s, "\r\n\r\n", 4, c->head,
                                       sizeof c->head - 1);
    ck_assert_msg(h > 0, "no answer head: %zd", h);
    c->head_len = (size_t)h;
    c->head[h] = 0;
    c->status = atoi(c->head + 9);
}

/* Open and insist on a 101. */
static inline void rawc_upgrade(struct rawc *c, int port, const char *extra) {
    rawc_open(c, port, "/", extra);
    ck_assert_msg(c->status == 101, "upgrade refused:\n%s", c->head);
    ck_assert_msg(strstr(c->head, "Sec-WebSocket-Accept: "
                                  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
                  "bad accept in:\n%s", c->head);
}

static inline void rawc_close(struct rawc *c) {
    weft_stream_close(c->s);
    c->s = NULL;
}

/* Write bytes (a frame, a piece of one, anything). */
static inline void rawc_bytes(struct rawc *c, const void *p, size_t n) {
    ck_assert_ok(weft_stream_write(c->s, p, n));
}

/* A frame as a client sends it: masked (unless mask is false). */
static inline size_t frame_make(uint8_t *out, bool fin, unsigned rsv,
                                unsigned op, const void *p, size_t n,
                                bool mask) {
    size_t hl =
        weft__ws_write_header(out, fin, rsv, op, n, mask ? raw_key : NULL);
    if (mask)
        weft__ws_mask(out + hl, p, n, raw_key, 0);
    else if (n)
        memcpy(out + hl, p, n);
    return hl + n;
}

static uint8_t frame_buf[(16u << 20) + 64];

static inline void rawc_frame(struct rawc *c, bool fin, unsigned rsv,
                              unsigned op, const void *p, size_t n) {
    size_t len = frame_make(frame_buf, fin, rsv, op, p, n, true);
    rawc_bytes(c, frame_buf, len);
}

/* The same frame in pieces of `chop` bytes, the loop turning between them
 * (Autobahn's "chopped" cases). */
static inline void rawc_frame_chopped(struct rawc *c, bool fin, unsigned rsv,
                                      unsigned op, const void *p, size_t n,
                                      size_t chop) {
    size_t len = frame_make(frame_buf, fin, rsv, op, p, n, true);
    for (size_t off = 0; off < len; off += chop) {
        size_t k = len - off < chop ? len - off : chop;
        rawc_bytes(c, frame_buf + off, k);
        ck_assert_ok(weft_stream_drain(c->s));
        weft_yield();
    }
}

static inline void rawc_text(struct rawc *c, const char *s) {
    rawc_frame(c, true, 0, WEFT_WS_TEXT, s, strlen(s));
}

static inline void rawc_close_frame(struct rawc *c, int code,
                                    const char *reason) {
    uint8_t p[256];
    size_t n = 0;
    if (code >= 0) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        if (reason) {
            memcpy(p + 2, reason, strlen(reason));
            n += strlen(reason);
        }
    }
    rawc_frame(c, true, 0, WEFT_WS_CLOSE, p, n);
}

/* A frame from the server. */
struct rframe {
    unsigned op, rsv;
    bool fin, masked;
    uint8_t *data;
    size_t len;
};

static uint8_t rframe_buf[(16u << 20) + 64];

/* Read one frame from s (unmasked into rframe_buf): 0, or -1 when the
 * connection ended first. */
static inline int frame_recv(weft_stream_t *s, struct rframe *f) {
    uint8_t hdr[WS_MAX_HEADER];
    size_t have = 0, need = 2;
    struct weft__ws_hdr h;
    int hl;
    for (;;) {
        ssize_t r = weft_stream_read_exactly(s, hdr + have, need - have);
        if (r <= 0)
            return -1;
        have = need;
        hl = weft__ws_parse_header(hdr, have, &h, &need);
        if (hl > 0)
            break;
        ck_assert_int_ge(hl, 0);
    }
    ck_assert_msg(h.len <= sizeof rframe_buf, "frame of %llu bytes",
                  (unsigned long long)h.len);
    if (h.len && weft_stream_read_exactly(s, rframe_buf, h.len) <= 0)
        return -1;
    if (h.masked)
        weft__ws_mask(rframe_buf, rframe_buf, h.len, h.key, 0);
    *f = (struct rframe){h.op, h.rsv, h.fin, h.masked, rframe_buf, h.len};
    return 0;
}

static inline int rawc_recv(struct rawc *c, struct rframe *f) {
    return frame_recv(c->s, f);
}

/* A raw server's side of the handshake: read the upgrade, answer 101
 * with the right accept key. 0, or -1 when the request did not come. */
static inline int raw_accept(weft_stream_t *s) {
    char head[4096];
    ssize_t n = weft_stream_read_until(s, "\r\n\r\n", 4, head,
                                       sizeof head - 1);
    if (n <= 0)
        return -1;
    head[n] = 0;
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    ck_assert_ptr_nonnull(k);
    char acc[29];
    weft_ws_accept_key(k + 19, 24, acc);
    char resp[256];
    int m = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket"
                     "\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s"
                     "\r\n\r\n",
                     acc);
    return weft_stream_write(s, resp, (size_t)m) == 0 ? 0 : -1;
}

/* Expect a data message (one frame) of this type and payload. */
static inline void rawc_expect(struct rawc *c, unsigned op, const void *p,
                               size_t n) {
    struct rframe f;
    ck_assert_msg(rawc_recv(c, &f) == 0, "connection ended, expected op %u",
                  op);
    ck_assert_msg(f.op == op, "got op %u, expected %u", f.op, op);
    ck_assert_msg(f.fin && !f.masked && f.rsv == 0, "fin %d masked %d rsv %u",
                  f.fin, f.masked, f.rsv);
    ck_assert_uint_eq(f.len, n);
    ck_assert_msg(n == 0 || memcmp(f.data, p, n) == 0, "payload differs");
}

/* Expect the server's close frame with one of the codes (0 ends the list;
 * -1 in the list: no code at all), then the end of the connection
 * (allow_drop: the connection may also just end, as Autobahn's "or drop
 * TCP"). Returns the code seen (-1 none, 0 dropped). */
static inline int rawc_expect_close_any(struct rawc *c, const int *codes,
                                        bool allow_drop) {
    struct rframe f;
    int got = 0;
    for (;;) {
        if (rawc_recv(c, &f) < 0) {
            ck_assert_msg(allow_drop, "connection dropped without a close");
            return 0;
        }
        if (f.op == WEFT_WS_CLOSE)
            break;
        ck_assert_msg(f.op == WEFT_WS_PONG || f.op == WEFT_WS_TEXT ||
                          f.op == WEFT_WS_BINARY,
                      "unexpected op %u before the close", f.op);
        ck_abort_msg("a frame (op %u) before the expected close", f.op);
    }
    got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
    bool ok = false;
    for (const int *k = codes; *k; k++)
        ok |= *k == got;
    ck_assert_msg(ok, "close code %d not the one expected (%d...)", got,
                  codes[0]);
    /* The server ends the TCP connection after its close frame (our
     * answer, if the test sends one, is drained by its lingering close). */
    return got;
}

#define rawc_expect_close(c, ...)                                              \
    rawc_expect_close_any((c), (const int[]){__VA_ARGS__, 0}, false)

/* After the server's close: answer it, and see the connection end. */
static inline void rawc_finish(struct rawc *c) {
    uint8_t p[2] = {0x03, 0xe8};
    weft_stream_write(
        c->s, frame_buf,
        frame_make(frame_buf, true, 0, WEFT_WS_CLOSE, p, 2, true));
    char buf[4096];
    ssize_t n;
    while ((n = weft_stream_read(c->s, buf, sizeof buf)) > 0) {
    }
    rawc_close(c);
}

#endif
