/* A WebSocket conformance suite of our own, organised as the Autobahn
 * testsuite's case categories and following its published expectations
 * (autobahn-python's case descriptions): 1 framing, 2 pings/pongs,
 * 3 reserved bits, 4 opcodes, 5 fragmentation, 6 UTF-8 handling, 7 close
 * handling, 9 limits/performance, 12/13 compression.
 *
 * Each case is its own Check test (a loop test over the category's
 * table), so the counts per category are exact. The cases are written
 * once against a "peer" that sends raw frames and checks what comes back,
 * and most run twice:
 *   server  the peer is a client (masked frames) against weft's server,
 *           whose route echoes every message (tests/ws_support.h);
 *   client  the peer is a server (plain frames) against weft's client,
 *           a task that echoes every message.
 * Compression (12, 13) runs against the server, the peer compressing
 * with zlib directly (not weft's code), and with weft's client on top.
 *
 * Under valgrind or a sanitizer, category 9's sizes are divided by 16,
 * and category 12 sends 10 messages a case instead of 100. */
#include <zlib.h>

#include "ws_support.h"

/* Under valgrind, or a sanitizer (tests/launch.sh stretches Check's
 * timeouts there), categories 9 and 12 send less. */
static bool slow_env(void) {
    const char *v = getenv("WEFT_TEST_VALGRIND");
    return (v && *v == '1') || getenv("CK_TIMEOUT_MULTIPLIER");
}

/* ---- the peer ------------------------------------------------------------ */

struct peer {
    weft_stream_t *s;
    bool server; /* the peer plays the server: plain frames out, masked in */
    /* compression, peer side (category 12, 13) */
    bool z, znct; /* znct: reset the compressor after each message */
    z_stream zd, zi;
};

static size_t peer_make(struct peer *p, uint8_t *out, bool fin, unsigned rsv,
                        unsigned op, const void *d, size_t n) {
    return frame_make(out, fin, rsv, op, d, n, !p->server);
}

static void peer_bytes(struct peer *p, const void *d, size_t n) {
    ck_assert_ok(weft_stream_write(p->s, d, n));
}

static void peer_frame(struct peer *p, bool fin, unsigned rsv, unsigned op,
                       const void *d, size_t n) {
    size_t len = peer_make(p, frame_buf, fin, rsv, op, d, n);
    peer_bytes(p, frame_buf, len);
}

/* The frame in pieces of `chop` bytes, the loop turning between them. */
static void peer_frame_chopped(struct peer *p, bool fin, unsigned rsv,
                               unsigned op, const void *d, size_t n,
                               size_t chop) {
    size_t len = peer_make(p, frame_buf, fin, rsv, op, d, n);
    for (size_t off = 0; off < len; off += chop) {
        size_t k = len - off < chop ? len - off : chop;
        peer_bytes(p, frame_buf + off, k);
        ck_assert_ok(weft_stream_drain(p->s));
        weft_yield();
        weft_yield();
    }
}

static void peer_text(struct peer *p, const char *t) {
    peer_frame(p, true, 0, WEFT_WS_TEXT, t, strlen(t));
}

/* Let the other side read what was sent (frame-wise cases). */
static void settle(void) {
    weft_sleep(0.1);
}

/* One frame from the other side: 0, or -1 when the connection ended. */
static int peer_recv(struct peer *p, struct rframe *f) {
    int r = frame_recv(p->s, f);
    if (r == 0)
        ck_assert_msg(f->masked == p->server, "frame masked %d, peer server %d",
                      f->masked, p->server);
    return r;
}

static uint8_t msg_buf[(16u << 20) + 64];

/* A whole data message (frames joined; decompressed when RSV1 says so). */
static int peer_recv_msg(struct peer *p, unsigned *op, size_t *len) {
    struct rframe f;
    size_t at = 0;
    bool z = false;
    *op = 0;
    for (;;) {
        if (peer_recv(p, &f) < 0)
            return -1;
        if (f.op >= 8) {
            ck_assert_msg(f.op != WEFT_WS_CLOSE, "close instead of a message");
            continue; /* a pong in between */
        }
        if (!*op) {
            ck_assert_uint_ne(f.op, 0);
            *op = f.op;
            z = (f.rsv & 4) != 0;
        } else {
            ck_assert_uint_eq(f.op, 0);
        }
        ck_assert_uint_eq(f.rsv & ~(z && at == 0 ? 4u : 0u), 0);
        if (z) {
            p->zi.next_in = f.data;
            p->zi.avail_in = (uInt)f.len;
            do {
                p->zi.next_out = msg_buf + at;
                p->zi.avail_out = (uInt)(sizeof msg_buf - at);
                int r = inflate(&p->zi, Z_SYNC_FLUSH);
                ck_assert(r == Z_OK || r == Z_BUF_ERROR);
                at = sizeof msg_buf - p->zi.avail_out;
            } while (p->zi.avail_in);
        } else {
            memcpy(msg_buf + at, f.data, f.len);
            at += f.len;
        }
        if (f.fin)
            break;
    }
    if (z) {
        static uint8_t tail[4] = {0, 0, 0xff, 0xff};
        p->zi.next_in = tail;
        p->zi.avail_in = 4;
        p->zi.next_out = msg_buf + at;
        p->zi.avail_out = (uInt)(sizeof msg_buf - at);
        int r = inflate(&p->zi, Z_SYNC_FLUSH);
        ck_assert(r == Z_OK || r == Z_BUF_ERROR);
        at = sizeof msg_buf - p->zi.avail_out;
    }
    *len = at;
    return 0;
}

/* Expect the message (op, d, n) back. */
static void peer_expect(struct peer *p, unsigned op, const void *d, size_t n) {
    unsigned got;
    size_t len;
    ck_assert_msg(peer_recv_msg(p, &got, &len) == 0,
                  "connection ended; expected a message of op %u", op);
    ck_assert_uint_eq(got, op);
    ck_assert_uint_eq(len, n);
    ck_assert_msg(n == 0 || memcmp(msg_buf, d, n) == 0, "payload differs");
}

static void peer_expect_pong(struct peer *p, const void *d, size_t n) {
    struct rframe f;
    ck_assert_msg(peer_recv(p, &f) == 0, "connection ended; expected a pong");
    ck_assert_uint_eq(f.op, WEFT_WS_PONG);
    ck_assert_uint_eq(f.len, n);
    ck_assert(n == 0 || memcmp(f.data, d, n) == 0);
}

/* The end of the TCP connection. The server closes first (RFC 6455
 * 7.1.1): as the client the peer waits for it; as the server it closes. */
static void peer_end(struct peer *p) {
    if (p->server) {
        weft_stream_close(p->s);
    } else {
        char buf[4096];
        ssize_t n;
        while ((n = weft_stream_read(p->s, buf, sizeof buf)) > 0) {
        }
        weft_stream_close(p->s);
    }
    p->s = NULL;
}

/* Expect the other side's close frame with one of the codes (-1: no
 * code), or (allow_drop) the connection just ending; answer it and end. */
static void peer_expect_close_in(struct peer *p, const int *codes,
                                 bool allow_drop) {
    struct rframe f;
    if (peer_recv(p, &f) < 0) {
        ck_assert_msg(allow_drop, "the connection ended without a close");
        peer_end(p);
        return;
    }
    ck_assert_msg(f.op == WEFT_WS_CLOSE, "op %u where a close was expected",
                  f.op);
    int got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
    bool ok = false;
    for (const int *k = codes; *k; k++)
        ok |= *k == got;
    ck_assert_msg(ok, "close code %d, expected %d%s", got, codes[0],
                  codes[1] ? " or another" : "");
    if (f.len > 2)
        ck_assert(weft__utf8_valid(f.data + 2, f.len - 2));
    uint8_t pay[2] = {f.data[0], f.data[1]};
    /* Echo it, as a peer does (the other side may have gone already). */
    size_t len =
        peer_make(p, frame_buf, true, 0, WEFT_WS_CLOSE, pay, got > 0 ? 2 : 0);
    weft_stream_write(p->s, frame_buf, len);
    weft_stream_drain(p->s);
    peer_end(p);
}

#define peer_expect_close(p, ...)                                              \
    peer_expect_close_in((p), (const int[]){__VA_ARGS__, 0}, false)
/* "Clean close with this code or dropped TCP connection." */
#define peer_expect_fail(p, ...)                                               \
    peer_expect_close_in((p), (const int[]){__VA_ARGS__, 0}, true)

/* Send close (code; -1: none) and expect the other side's answer, clean. */
static void peer_close(struct peer *p, int code, const int *answers) {
    uint8_t pay[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    peer_frame(p, true, 0, WEFT_WS_CLOSE, pay, code >= 0 ? 2 : 0);
    struct rframe f;
    ck_assert_msg(peer_recv(p, &f) == 0, "no close answer");
    ck_assert_msg(f.op == WEFT_WS_CLOSE, "op %u where a close was expected",
                  f.op);
    int got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
    bool ok = false;
    for (const int *k = answers; *k; k++)
        ok |= *k == got;
    ck_assert_msg(ok, "close answer %d", got);
    peer_end(p);
}

#define peer_clean_close(p) peer_close((p), 1000, (const int[]){1000, 0})

/* ---- running a case ------------------------------------------------------ */

struct acase {
    const char *id;
    void (*fn)(struct peer *p, const struct acase *k);
    unsigned op;
    size_t len, chop;
    int code;
    const char *data; /* payload (NULL: made from len) */
    size_t dlen;
    bool valid;
    const char *offer; /* 12/13: the extension offer */
};

/* The other side in client mode: weft's client, echoing. */
static weft_ws_opts_t client_opts;
static int client_err, client_close;

static int echo_client(void *arg) {
    const char *u = arg;
    weft_session_t *sess;
    ck_assert_ok(weft_session_new(&sess, NULL));
    weft_ws_connect_opts_t co = {.ws = client_opts};
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, u, &co));
    weft_ws_msg_t m;
    int err;
    while ((err = weft_ws_receive(ws, &m)) == 0) {
        if (m.type == WEFT_WS_CLOSE) {
            client_close = m.code;
            break;
        }
        if (m.type == WEFT_WS_TEXT || m.type == WEFT_WS_BINARY)
            weft_ws_send(ws, m.type, m.data, m.len);
    }
    client_err = err;
    weft_ws_close(ws, 1000, NULL); /* waits for the server's TCP end */
    weft_ws_free(ws);
    ck_assert_ok(weft_session_close(sess));
    return 0;
}

/* The raw server's one connection, handed to the case. */
static weft_stream_t *accepted;
static weft_event_t accepted_ev, case_done;

static int raw_server_conn(weft_stream_t *s, void *arg) {
    (void)arg;
    ck_assert_int_eq(raw_accept(s), 0);
    accepted = s;
    weft_event_set(&accepted_ev);
    weft_event_wait(&case_done); /* the case owns s until it is done */
    return 0;
}

static const struct acase *the_case;
static bool client_mode;

static int case_main(void *arg) {
    (void)arg;
    const struct acase *k = the_case;
    struct peer p = {0};
    if (!client_mode) {
        struct ws_srv s;
        ws_srv_start(&s, NULL);
        struct rawc c;
        char extra[256] = "";
        if (k->offer)
            snprintf(extra, sizeof extra, "Sec-WebSocket-Extensions: %s\r\n",
                     k->offer);
        rawc_upgrade(&c, s.port, extra);
        p.s = c.s;
        if (k->offer) {
            p.z = true;
            /* The window the server asked of us, and its own. */
            const char *e = strstr(c.head, "Sec-WebSocket-Extensions: ");
            ck_assert_ptr_nonnull(e);
            const char *cw = strstr(e, "client_max_window_bits=");
            int cwb = cw ? atoi(cw + 23) : 15;
            bool cnct =
                strstr(e, "client_no_context_takeover") &&
                strstr(e, "client_no_context_takeover") < strstr(e, "\r\n");
            ck_assert_int_eq(
                deflateInit2(&p.zd, 6, Z_DEFLATED, -cwb, 8, Z_DEFAULT_STRATEGY),
                Z_OK);
            ck_assert_int_eq(inflateInit2(&p.zi, -15), Z_OK);
            p.znct = cnct;
        }
        k->fn(&p, k);
        if (p.s)
            peer_end(&p);
        if (p.z) {
            deflateEnd(&p.zd);
            inflateEnd(&p.zi);
        }
        ws_srv_stop(&s);
    } else {
        weft_server_t *srv;
        weft_event_init(&accepted_ev);
        weft_event_init(&case_done);
        ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1",
                                       "0", raw_server_conn, NULL, NULL));
        char u[64];
        snprintf(u, sizeof u, "ws://127.0.0.1:%d/", weft_server_port(srv));
        client_err = client_close = 0;
        weft_task_t *t;
        ck_assert_ok(weft_spawn(&t, echo_client, u, NULL));
        ck_assert_ok(weft_event_wait(&accepted_ev));
        p.s = accepted;
        p.server = true;
        k->fn(&p, k);
        if (p.s)
            peer_end(&p);
        weft_event_set(&case_done);
        ck_assert_ok(weft_join(t));
        weft_task_release(t);
        ck_assert_ok(weft_server_close(srv, 1));
    }
    return 0;
}

static void c_limit(struct peer *p, const struct acase *k);

static void run_case(const struct acase *k, bool client) {
    the_case = k;
    client_mode = client;
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.max_message = 64u << 20;
    memset(&client_opts, 0, sizeof client_opts);
    client_opts.max_message = 64u << 20;
    if (k->fn == c_limit)
        echo_opts.max_message = client_opts.max_message = 1u << 20;
    if (k->offer)
        echo_opts.flags = WEFT_WS_DEFLATE;
    ck_assert_ok(run_virtual(case_main, NULL));
}

/* ---- payloads ------------------------------------------------------------ */

static uint8_t payload_buf[16u << 20];

static const uint8_t *payload(const struct acase *k, size_t *n) {
    if (k->data) {
        *n = k->dlen ? k->dlen : strlen(k->data);
        return (const uint8_t *)k->data;
    }
    *n = k->len;
    for (size_t i = 0; i < k->len; i++)
        payload_buf[i] = k->op == WEFT_WS_TEXT ? (uint8_t)('*' + i % 31)
                                               : (uint8_t)(i * 167 + 13);
    return payload_buf;
}

/* ---- 1 framing ----------------------------------------------------------- */

static void c_echo(struct peer *p, const struct acase *k) {
    size_t n;
    const uint8_t *d = payload(k, &n);
    if (k->chop)
        peer_frame_chopped(p, true, 0, k->op, d, n, k->chop);
    else
        peer_frame(p, true, 0, k->op, d, n);
    peer_expect(p, k->op, d, n);
    peer_clean_close(p);
}

static const struct acase cat1[] = {
    {.id = "1.1.1", .fn = c_echo, .op = WEFT_WS_TEXT},
    {.id = "1.1.2", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 125},
    {.id = "1.1.3", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 126},
    {.id = "1.1.4", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 127},
    {.id = "1.1.5", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 128},
    {.id = "1.1.6", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 65535},
    {.id = "1.1.7", .fn = c_echo, .op = WEFT_WS_TEXT, .len = 65536},
    {.id = "1.1.8",
     .fn = c_echo,
     .op = WEFT_WS_TEXT,
     .len = 65536,
     .chop = 997},
    {.id = "1.2.1", .fn = c_echo, .op = WEFT_WS_BINARY},
    {.id = "1.2.2", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 125},
    {.id = "1.2.3", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 126},
    {.id = "1.2.4", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 127},
    {.id = "1.2.5", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 128},
    {.id = "1.2.6", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 65535},
    {.id = "1.2.7", .fn = c_echo, .op = WEFT_WS_BINARY, .len = 65536},
    {.id = "1.2.8",
     .fn = c_echo,
     .op = WEFT_WS_BINARY,
     .len = 65536,
     .chop = 997},
};

/* ---- 2 pings and pongs --------------------------------------------------- */

static void c_ping(struct peer *p, const struct acase *k) {
    size_t n;
    const uint8_t *d = payload(k, &n);
    if (k->chop)
        peer_frame_chopped(p, true, 0, WEFT_WS_PING, d, n, k->chop);
    else
        peer_frame(p, true, 0, WEFT_WS_PING, d, n);
    if (n > 125) {
        peer_expect_fail(p, 1002);
        return;
    }
    peer_expect_pong(p, d, n);
    peer_clean_close(p);
}

static void c_unsolicited_pong(struct peer *p, const struct acase *k) {
    size_t n;
    const uint8_t *d = payload(k, &n);
    peer_frame(p, true, 0, WEFT_WS_PONG, d, n);
    if (k->code) { /* then a ping */
        peer_frame(p, true, 0, WEFT_WS_PING, "ping payload", 12);
        peer_expect_pong(p, "ping payload", 12);
    }
    peer_clean_close(p); /* nothing came back for the pong */
}

static void c_ten_pings(struct peer *p, const struct acase *k) {
    for (int i = 0; i < 10; i++) {
        char t[32];
        int n = snprintf(t, sizeof t, "payload-%d", i);
        if (k->chop)
            peer_frame_chopped(p, true, 0, WEFT_WS_PING, t, (size_t)n, k->chop);
        else
            peer_frame(p, true, 0, WEFT_WS_PING, t, (size_t)n);
    }
    for (int i = 0; i < 10; i++) {
        char t[32];
        int n = snprintf(t, sizeof t, "payload-%d", i);
        peer_expect_pong(p, t, (size_t)n);
    }
    peer_clean_close(p);
}

static const char bin8[] = "\x00\xff\xfe\xfd\xfc\xfb\x00\xff";

static const struct acase cat2[] = {
    {.id = "2.1", .fn = c_ping},
    {.id = "2.2", .fn = c_ping, .data = "Hello, world!"},
    {.id = "2.3", .fn = c_ping, .data = bin8, .dlen = 8},
    {.id = "2.4", .fn = c_ping, .op = WEFT_WS_BINARY, .len = 125},
    {.id = "2.5", .fn = c_ping, .op = WEFT_WS_BINARY, .len = 126},
    {.id = "2.6", .fn = c_ping, .op = WEFT_WS_BINARY, .len = 125, .chop = 1},
    {.id = "2.7", .fn = c_unsolicited_pong},
    {.id = "2.8", .fn = c_unsolicited_pong, .data = "unsolicited pong payload"},
    {.id = "2.9",
     .fn = c_unsolicited_pong,
     .code = 1,
     .data = "unsolicited pong payload"},
    {.id = "2.10", .fn = c_ten_pings},
    {.id = "2.11", .fn = c_ten_pings, .chop = 1},
};

/* ---- 3 reserved bits ----------------------------------------------------- */

/* A frame with reserved bits (k->code), after an echo when k->len; a ping
 * after it must get no pong: the connection fails at the bad frame. */
static void c_rsv(struct peer *p, const struct acase *k) {
    if (k->len) {
        peer_text(p, "Hello, world!");
        if (k->chop)
            settle();
    }
    const char *t = "Hello, world!";
    if (k->op == WEFT_WS_CLOSE)
        peer_frame(p, true, (unsigned)k->code, k->op, "\x03\xe8", 2);
    else
        peer_frame(p, true, (unsigned)k->code, k->op, t,
                   k->op == WEFT_WS_PING ? 0 : strlen(t));
    if (k->chop)
        settle();
    peer_frame(p, true, 0, WEFT_WS_PING, "", 0);
    if (k->len)
        peer_expect(p, WEFT_WS_TEXT, t, strlen(t));
    peer_expect_fail(p, 1002);
}

static const struct acase cat3[] = {
    {.id = "3.1", .fn = c_rsv, .op = WEFT_WS_TEXT, .code = 1},
    {.id = "3.2", .fn = c_rsv, .op = WEFT_WS_TEXT, .len = 1, .code = 2},
    {.id = "3.3",
     .fn = c_rsv,
     .op = WEFT_WS_TEXT,
     .len = 1,
     .chop = 1,
     .code = 3},
    {.id = "3.4",
     .fn = c_rsv,
     .op = WEFT_WS_TEXT,
     .len = 1,
     .chop = 1,
     .code = 4},
    {.id = "3.5", .fn = c_rsv, .op = WEFT_WS_BINARY, .code = 5},
    {.id = "3.6", .fn = c_rsv, .op = WEFT_WS_PING, .code = 6},
    {.id = "3.7", .fn = c_rsv, .op = WEFT_WS_CLOSE, .code = 7},
};

/* ---- 4 opcodes ----------------------------------------------------------- */

/* A reserved opcode (k->op), with a payload when k->len, after an echo
 * when k->code, a ping after it: fail at the bad frame. */
static void c_opcode(struct peer *p, const struct acase *k) {
    if (k->code)
        peer_text(p, "Hello, world!");
    if (k->chop)
        settle();
    peer_frame(p, true, 0, k->op, "reserved opcode payload", k->len ? 23 : 0);
    if (k->chop)
        settle();
    peer_frame(p, true, 0, WEFT_WS_PING, "", 0);
    if (k->code)
        peer_expect(p, WEFT_WS_TEXT, "Hello, world!", 13);
    peer_expect_fail(p, 1002);
}

static const struct acase cat4[] = {
    {.id = "4.1.1", .fn = c_opcode, .op = 3},
    {.id = "4.1.2", .fn = c_opcode, .op = 4, .len = 1},
    {.id = "4.1.3", .fn = c_opcode, .op = 5, .code = 1},
    {.id = "4.1.4", .fn = c_opcode, .op = 6, .len = 1, .code = 1},
    {.id = "4.1.5", .fn = c_opcode, .op = 7, .len = 1, .chop = 1, .code = 1},
    {.id = "4.2.1", .fn = c_opcode, .op = 11},
    {.id = "4.2.2", .fn = c_opcode, .op = 12, .len = 1},
    {.id = "4.2.3", .fn = c_opcode, .op = 13, .code = 1},
    {.id = "4.2.4", .fn = c_opcode, .op = 14, .len = 1, .code = 1},
    {.id = "4.2.5", .fn = c_opcode, .op = 15, .len = 1, .chop = 1, .code = 1},
};

/* ---- 5 fragmentation ----------------------------------------------------- */

/* Send a frame: whole, frame-wise (a pause after it), or chopped into
 * bytes, by the case's mode (k->chop: 0, 1 frame-wise, 2 bytes). */
static void send_mode(struct peer *p, const struct acase *k, bool fin,
                      unsigned op, const char *t) {
    size_t n = t ? strlen(t) : 0;
    if (k->chop == 2)
        peer_frame_chopped(p, fin, 0, op, t, n, 1);
    else
        peer_frame(p, fin, 0, op, t, n);
    if (k->chop == 1)
        settle();
}

/* 5.1, 5.2: a control frame in two fragments. */
static void c_frag_control(struct peer *p, const struct acase *k) {
    peer_frame(p, false, 0, k->op, "fragment1", 9);
    peer_frame(p, true, 0, 0, "fragment2", 9);
    peer_expect_fail(p, 1002);
}

/* 5.3 - 5.8: a text message in two fragments, a ping between them when
 * k->code. */
static void c_frag_text(struct peer *p, const struct acase *k) {
    send_mode(p, k, false, WEFT_WS_TEXT, "fragment1");
    if (k->code)
        send_mode(p, k, true, WEFT_WS_PING, "ping payload");
    send_mode(p, k, true, 0, "fragment2");
    if (k->code)
        peer_expect_pong(p, "ping payload", 12);
    peer_expect(p, WEFT_WS_TEXT, "fragment1fragment2", 18);
    peer_clean_close(p);
}

/* 5.9 - 5.14: a continuation with nothing to continue (fin = k->code),
 * then messages: fail at it. */
static void c_frag_orphan(struct peer *p, const struct acase *k) {
    send_mode(p, k, k->code != 0, 0, "non-continuation payload");
    send_mode(p, k, true, WEFT_WS_TEXT, "Hello, world!");
    peer_expect_fail(p, 1002);
}

/* 5.15: a good fragmented message, then a continuation and a text
 * without fin: echo, then fail. */
static void c_frag_515(struct peer *p, const struct acase *k) {
    (void)k;
    peer_frame(p, false, 0, WEFT_WS_TEXT, "fragment1", 9);
    peer_frame(p, true, 0, 0, "fragment2", 9);
    peer_frame(p, false, 0, 0, "fragment3", 9);
    peer_frame(p, true, 0, WEFT_WS_TEXT, "fragment4", 9);
    peer_expect(p, WEFT_WS_TEXT, "fragment1fragment2", 18);
    peer_expect_fail(p, 1002);
}

/* 5.16, 5.17: [continuation, text, continuation] twice. */
static void c_frag_516(struct peer *p, const struct acase *k) {
    for (int i = 0; i < 2; i++) {
        peer_frame(p, k->code != 0, 0, 0, "fragment1", 9);
        peer_frame(p, false, 0, WEFT_WS_TEXT, "fragment2", 9);
        peer_frame(p, true, 0, 0, "fragment3", 9);
    }
    peer_expect_fail(p, 1002);
}

/* 5.18: a text fragment, then another text instead of a continuation. */
static void c_frag_518(struct peer *p, const struct acase *k) {
    (void)k;
    peer_frame(p, false, 0, WEFT_WS_TEXT, "fragment1", 9);
    peer_frame(p, true, 0, WEFT_WS_TEXT, "fragment2", 9);
    peer_expect_fail(p, 1002);
}

/* 5.19, 5.20: five fragments, two pings between them, a pause. */
static void c_frag_519(struct peer *p, const struct acase *k) {
    send_mode(p, k, false, WEFT_WS_TEXT, "fragment1");
    send_mode(p, k, false, 0, "fragment2");
    send_mode(p, k, true, WEFT_WS_PING, "pongme 1!");
    peer_expect_pong(p, "pongme 1!", 9);
    send_mode(p, k, false, 0, "fragment3");
    weft_sleep(1);
    send_mode(p, k, false, 0, "fragment4");
    send_mode(p, k, true, WEFT_WS_PING, "pongme 2!");
    peer_expect_pong(p, "pongme 2!", 9);
    send_mode(p, k, true, 0, "fragment5");
    peer_expect(p, WEFT_WS_TEXT,
                "fragment1fragment2fragment3fragment4"
                "fragment5",
                45);
    peer_clean_close(p);
}

static const struct acase cat5[] = {
    {.id = "5.1", .fn = c_frag_control, .op = WEFT_WS_PING},
    {.id = "5.2", .fn = c_frag_control, .op = WEFT_WS_PONG},
    {.id = "5.3", .fn = c_frag_text},
    {.id = "5.4", .fn = c_frag_text, .chop = 1},
    {.id = "5.5", .fn = c_frag_text, .chop = 2},
    {.id = "5.6", .fn = c_frag_text, .code = 1},
    {.id = "5.7", .fn = c_frag_text, .chop = 1, .code = 1},
    {.id = "5.8", .fn = c_frag_text, .chop = 2, .code = 1},
    {.id = "5.9", .fn = c_frag_orphan, .code = 1},
    {.id = "5.10", .fn = c_frag_orphan, .chop = 1, .code = 1},
    {.id = "5.11", .fn = c_frag_orphan, .chop = 2, .code = 1},
    {.id = "5.12", .fn = c_frag_orphan},
    {.id = "5.13", .fn = c_frag_orphan, .chop = 1},
    {.id = "5.14", .fn = c_frag_orphan, .chop = 2},
    {.id = "5.15", .fn = c_frag_515},
    {.id = "5.16", .fn = c_frag_516},
    {.id = "5.17", .fn = c_frag_516, .code = 1},
    {.id = "5.18", .fn = c_frag_518},
    {.id = "5.19", .fn = c_frag_519},
    {.id = "5.20", .fn = c_frag_519, .chop = 1},
};

/* ---- 6 UTF-8 ------------------------------------------------------------- */

/* A text message, whole (k->chop 0) or in fragments of k->chop bytes:
 * echoed if valid, else the connection fails with 1007. */
static void c_utf8(struct peer *p, const struct acase *k) {
    size_t n;
    const uint8_t *d = payload(k, &n);
    if (!k->chop) {
        peer_frame(p, true, 0, WEFT_WS_TEXT, d, n);
    } else if (n == 0) {
        /* 6.1.2: three empty fragments */
        peer_frame(p, false, 0, WEFT_WS_TEXT, "", 0);
        peer_frame(p, false, 0, 0, "", 0);
        peer_frame(p, true, 0, 0, "", 0);
    } else {
        for (size_t off = 0; off < n; off += k->chop) {
            size_t c = n - off < k->chop ? n - off : k->chop;
            peer_frame(p, off + c == n, 0, off == 0 ? WEFT_WS_TEXT : 0, d + off,
                       c);
        }
    }
    if (k->valid) {
        peer_expect(p, WEFT_WS_TEXT, d, n);
        peer_clean_close(p);
    } else {
        peer_expect_fail(p, 1007);
    }
}

/* 6.1.3: empty, "middle frame payload", empty. */
static void c_utf8_613(struct peer *p, const struct acase *k) {
    (void)k;
    peer_frame(p, false, 0, WEFT_WS_TEXT, "", 0);
    peer_frame(p, false, 0, 0, "middle frame payload", 20);
    peer_frame(p, true, 0, 0, "", 0);
    peer_expect(p, WEFT_WS_TEXT, "middle frame payload", 20);
    peer_clean_close(p);
}

/* 6.4.x, fail fast: the invalid bytes go out, then the other side must
 * fail the connection before the rest of the message is sent. */
static void c_utf8_fast(struct peer *p, const struct acase *k) {
#define GOOD "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
    if (k->code == 1) { /* 6.4.1: a fragment with the bad code point */
        peer_frame(p, false, 0, WEFT_WS_TEXT, GOOD "\xf4\x90\x80\x80", 15);
    } else if (k->code == 2) { /* 6.4.2: F4 in one fragment, 90 next */
        peer_frame(p, false, 0, WEFT_WS_TEXT, GOOD "\xf4", 12);
        settle();
        peer_frame(p, false, 0, 0, "\x90", 1);
    } else {
        /* 6.4.3, 6.4.4: one frame, sent in pieces; the bad byte is
         * the first of the second piece (6.4.3) or its second (6.4.4) */
        uint8_t msg[64];
        memcpy(msg, GOOD, 11);
        memcpy(msg + 11,
               "\xf4\x90\x80\x80"
               "edited",
               10);
        size_t len = peer_make(p, frame_buf, true, 0, WEFT_WS_TEXT, msg, 21);
        size_t hl = len - 21;
        size_t first = hl + 11 + (k->code == 4 ? 1 : 0);
        peer_bytes(p, frame_buf, first);
        settle();
        peer_bytes(p, frame_buf + first, k->code == 4 ? 1 : 4);
    }
    settle();
    /* The rest never needs to be sent: the close is there already. */
    peer_expect_fail(p, 1007);
}

/* Markus Kuhn's UTF-8 decoder test, in Autobahn's groups (6.5 - 6.23). */
#define V(id_, s, ok)                                                          \
    {                                                                          \
        .id = id_, .fn = c_utf8, .op = WEFT_WS_TEXT, .data = s,                \
        .dlen = sizeof s - 1, .valid = ok                                      \
    }
static const struct acase cat6[] = {
    {.id = "6.1.1",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .data = "",
     .valid = true},
    {.id = "6.1.2",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .chop = 1,
     .data = "",
     .valid = true},
    {.id = "6.1.3", .fn = c_utf8_613},
    {.id = "6.2.1",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .data = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-"
             "UTF-8!!",
     .valid = true},
    {.id = "6.2.2",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .chop = 7,
     .data = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-"
             "UTF-8!!",
     .valid = true},
    {.id = "6.2.3",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .chop = 1,
     .data = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-"
             "UTF-8!!",
     .valid = true},
    {.id = "6.2.4",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .chop = 1,
     .data = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
     .valid = true},
    {.id = "6.3.1",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .data = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
             "edited"},
    {.id = "6.3.2",
     .fn = c_utf8,
     .op = WEFT_WS_TEXT,
     .chop = 1,
     .data = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
             "edited"},
    {.id = "6.4.1", .fn = c_utf8_fast, .code = 1},
    {.id = "6.4.2", .fn = c_utf8_fast, .code = 2},
    {.id = "6.4.3", .fn = c_utf8_fast, .code = 3},
    {.id = "6.4.4", .fn = c_utf8_fast, .code = 4},
    V("6.5.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true),
    /* 6.6: kosme cut after each byte */
    V("6.6.1", "\xce", false),
    V("6.6.2", "\xce\xba", true),
    V("6.6.3", "\xce\xba\xe1", false),
    V("6.6.4", "\xce\xba\xe1\xbd", false),
    V("6.6.5", "\xce\xba\xe1\xbd\xb9", true),
    V("6.6.6", "\xce\xba\xe1\xbd\xb9\xcf", false),
    V("6.6.7", "\xce\xba\xe1\xbd\xb9\xcf\x83", true),
    V("6.6.8", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce", false),
    V("6.6.9", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc", true),
    V("6.6.10", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce", false),
    V("6.6.11", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true),
    /* 6.7: the first sequence of each length */
    V("6.7.1", "\x00", true),
    V("6.7.2", "\xc2\x80", true),
    V("6.7.3", "\xe0\xa0\x80", true),
    V("6.7.4", "\xf0\x90\x80\x80", true),
    /* 6.8: five and six bytes */
    V("6.8.1", "\xf8\x88\x80\x80\x80", false),
    V("6.8.2", "\xfc\x84\x80\x80\x80\x80", false),
    /* 6.9: the last sequence of each length */
    V("6.9.1", "\x7f", true),
    V("6.9.2", "\xdf\xbf", true),
    V("6.9.3", "\xef\xbf\xbf", true),
    V("6.9.4", "\xf4\x8f\xbf\xbf", true),
    /* 6.10: beyond */
    V("6.10.1", "\xf7\xbf\xbf\xbf", false),
    V("6.10.2", "\xfb\xbf\xbf\xbf\xbf", false),
    V("6.10.3", "\xfd\xbf\xbf\xbf\xbf\xbf", false),
    /* 6.11: other boundaries */
    V("6.11.1", "\xed\x9f\xbf", true),
    V("6.11.2", "\xee\x80\x80", true),
    V("6.11.3", "\xef\xbf\xbd", true),
    V("6.11.4", "\xf4\x8f\xbf\xbf", true),
    V("6.11.5", "\xf4\x90\x80\x80", false),
    /* 6.12: unexpected continuation bytes */
    V("6.12.1", "\x80", false),
    V("6.12.2", "\xbf", false),
    V("6.12.3", "\x80\xbf", false),
    V("6.12.4", "\x80\xbf\x80", false),
    V("6.12.5", "\x80\xbf\x80\xbf", false),
    V("6.12.6", "\x80\xbf\x80\xbf\x80", false),
    V("6.12.7", "\x80\xbf\x80\xbf\x80\xbf", false),
    V("6.12.8",
      "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d"
      "\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b"
      "\x9c\x9d\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9"
      "\xaa\xab\xac\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7"
      "\xb8\xb9\xba\xbb\xbc\xbd\xbe",
      false),
    /* 6.13: lonely start bytes, each followed by a space */
    V("6.13.1",
      "\xc0 \xc1 \xc2 \xc3 \xc4 \xc5 \xc6 \xc7 \xc8 \xc9 \xca "
      "\xcb \xcc \xcd \xce \xcf \xd0 \xd1 \xd2 \xd3 \xd4 \xd5 "
      "\xd6 \xd7 \xd8 \xd9 \xda \xdb \xdc \xdd \xde ",
      false),
    V("6.13.2",
      "\xe0 \xe1 \xe2 \xe3 \xe4 \xe5 \xe6 \xe7 \xe8 \xe9 \xea "
      "\xeb \xec \xed \xee ",
      false),
    V("6.13.3", "\xf0 \xf1 \xf2 \xf3 \xf4 \xf5 \xf6 ", false),
    V("6.13.4", "\xf8 \xf9 \xfa ", false),
    V("6.13.5", "\xfc ", false),
    /* 6.14: the last continuation byte missing */
    V("6.14.1", "\xc0", false),
    V("6.14.2", "\xe0\x80", false),
    V("6.14.3", "\xf0\x80\x80", false),
    V("6.14.4", "\xf8\x80\x80\x80", false),
    V("6.14.5", "\xfc\x80\x80\x80\x80", false),
    V("6.14.6", "\xdf", false),
    V("6.14.7", "\xef\xbf", false),
    V("6.14.8", "\xf7\xbf\xbf", false),
    V("6.14.9", "\xfb\xbf\xbf\xbf", false),
    V("6.14.10", "\xfd\xbf\xbf\xbf\xbf", false),
    /* 6.15: all of 6.14 concatenated */
    V("6.15.1",
      "\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80"
      "\x80\xdf\xef\xbf\xf7\xbf\xbf\xfb\xbf\xbf\xbf\xfd\xbf\xbf"
      "\xbf\xbf",
      false),
    /* 6.16: impossible bytes */
    V("6.16.1", "\xfe", false),
    V("6.16.2", "\xff", false),
    V("6.16.3", "\xfe\xfe\xff\xff", false),
    /* 6.17: overlong '/' */
    V("6.17.1", "\xc0\xaf", false),
    V("6.17.2", "\xe0\x80\xaf", false),
    V("6.17.3", "\xf0\x80\x80\xaf", false),
    V("6.17.4", "\xf8\x80\x80\x80\xaf", false),
    V("6.17.5", "\xfc\x80\x80\x80\x80\xaf", false),
    /* 6.18: maximum overlong sequences */
    V("6.18.1", "\xc1\xbf", false),
    V("6.18.2", "\xe0\x9f\xbf", false),
    V("6.18.3", "\xf0\x8f\xbf\xbf", false),
    V("6.18.4", "\xf8\x87\xbf\xbf\xbf", false),
    V("6.18.5", "\xfc\x83\xbf\xbf\xbf\xbf", false),
    /* 6.19: overlong NUL */
    V("6.19.1", "\xc0\x80", false),
    V("6.19.2", "\xe0\x80\x80", false),
    V("6.19.3", "\xf0\x80\x80\x80", false),
    V("6.19.4", "\xf8\x80\x80\x80\x80", false),
    V("6.19.5", "\xfc\x80\x80\x80\x80\x80", false),
    /* 6.20: single UTF-16 surrogates */
    V("6.20.1", "\xed\xa0\x80", false),
    V("6.20.2", "\xed\xad\xbf", false),
    V("6.20.3", "\xed\xae\x80", false),
    V("6.20.4", "\xed\xaf\xbf", false),
    V("6.20.5", "\xed\xb0\x80", false),
    V("6.20.6", "\xed\xbe\x80", false),
    V("6.20.7", "\xed\xbf\xbf", false),
    /* 6.21: paired UTF-16 surrogates */
    V("6.21.1", "\xed\xa0\x80\xed\xb0\x80", false),
    V("6.21.2", "\xed\xa0\x80\xed\xbf\xbf", false),
    V("6.21.3", "\xed\xad\xbf\xed\xb0\x80", false),
    V("6.21.4", "\xed\xad\xbf\xed\xbf\xbf", false),
    V("6.21.5", "\xed\xae\x80\xed\xb0\x80", false),
    V("6.21.6", "\xed\xae\x80\xed\xbf\xbf", false),
    V("6.21.7", "\xed\xaf\xbf\xed\xb0\x80", false),
    V("6.21.8", "\xed\xaf\xbf\xed\xbf\xbf", false),
    /* 6.22: non-characters are valid UTF-8 */
    V("6.22.1", "\xef\xbf\xbe", true),
    V("6.22.2", "\xef\xbf\xbf", true),
    V("6.22.3", "\xf0\x9f\xbf\xbe", true),
    V("6.22.4", "\xf0\x9f\xbf\xbf", true),
    V("6.22.5", "\xf4\x8f\xbf\xbe", true),
    V("6.22.6", "\xf4\x8f\xbf\xbf", true),
    V("6.22.7", "\xef\xb7\x90", true),
    V("6.22.8", "\xef\xb7\xaf", true),
    /* 6.23: the replacement character and ASCII around bad bytes */
    V("6.23.1", "\xef\xbf\xbd", true),
    V("6.23.2",
      "edited\xef\xbf\xbd"
      "edited",
      true),
    V("6.23.3",
      "edited\xed\xa0\x80"
      "edited",
      false),
};
#undef V

/* ---- 7 close handling ---------------------------------------------------- */

/* 7.1.1 - 7.1.6: what follows a close is ignored. */
static void c_close_71(struct peer *p, const struct acase *k) {
    static const uint8_t c1000[2] = {0x03, 0xe8};
    switch (k->code) {
    case 1: /* a message, then close */
        peer_text(p, "Hello World!");
        peer_expect(p, WEFT_WS_TEXT, "Hello World!", 12);
        peer_clean_close(p);
        return;
    case 2: /* close twice */
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        break;
    case 3: /* close, then a ping */
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        peer_frame(p, true, 0, WEFT_WS_PING, "x", 1);
        break;
    case 4: /* close, then a message */
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        peer_text(p, "Hello World!");
        break;
    case 5: /* a fragment, close, the rest */
        peer_frame(p, false, 0, WEFT_WS_TEXT, "fragment1", 9);
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        peer_frame(p, true, 0, 0, "fragment2", 9);
        break;
    case 6: { /* 256 KiB, then close, then a ping */
        static char big[262144];
        memset(big, 'B', sizeof big);
        peer_frame(p, true, 0, WEFT_WS_TEXT, big, sizeof big);
        peer_frame(p, true, 0, WEFT_WS_CLOSE, c1000, 2);
        peer_frame(p, true, 0, WEFT_WS_PING, "x", 1);
        peer_expect(p, WEFT_WS_TEXT, big, sizeof big);
        break;
    }
    }
    /* The answer to the first close, nothing else. */
    struct rframe f;
    ck_assert_int_eq(peer_recv(p, &f), 0);
    ck_assert_uint_eq(f.op, WEFT_WS_CLOSE);
    ck_assert_uint_eq(f.len, 2);
    ck_assert_int_eq(f.data[0] << 8 | f.data[1], 1000);
    if (!p->server)
        ck_assert_int_eq(peer_recv(p, &f), -1); /* then the TCP end */
    peer_end(p);
}

/* 7.3.x, 7.5.1: close payloads; 7.7.x, 7.9.x, 7.13.x: codes. */
static void c_close_code(struct peer *p, const struct acase *k) {
    uint8_t pay[200];
    size_t n = 0;
    if (k->code >= 0) {
        pay[0] = (uint8_t)(k->code >> 8);
        pay[1] = (uint8_t)k->code;
        n = 2;
    }
    if (k->data) {
        size_t dn = k->dlen ? k->dlen : strlen(k->data);
        memcpy(pay + n, k->data, dn);
        n += dn;
    } else if (k->len) {
        memset(pay + n, '*', k->len);
        n += k->len;
    }
    if (k->code == -2) { /* 7.3.2: one byte */
        pay[0] = 0x03;
        n = 1;
    }
    peer_frame(p, true, 0, WEFT_WS_CLOSE, pay, n);
    if (k->valid) {
        struct rframe f;
        ck_assert_int_eq(peer_recv(p, &f), 0);
        ck_assert_uint_eq(f.op, WEFT_WS_CLOSE);
        int got = f.len >= 2 ? f.data[0] << 8 | f.data[1] : -1;
        /* An empty close may be answered empty or with 1000. */
        if (k->code == -1)
            ck_assert(got == -1 || got == 1000);
        else
            ck_assert_int_eq(got, k->code);
        peer_end(p);
    } else {
        peer_expect_close_in(p, (const int[]){1002, k->op ? 1007 : 1002, 0},
                             true);
    }
}

#define CODE_OK(id_, c)                                                        \
    { .id = id_, .fn = c_close_code, .code = c, .valid = true }
#define CODE_BAD(id_, c)                                                       \
    { .id = id_, .fn = c_close_code, .code = c }
static const struct acase cat7[] = {
    {.id = "7.1.1", .fn = c_close_71, .code = 1},
    {.id = "7.1.2", .fn = c_close_71, .code = 2},
    {.id = "7.1.3", .fn = c_close_71, .code = 3},
    {.id = "7.1.4", .fn = c_close_71, .code = 4},
    {.id = "7.1.5", .fn = c_close_71, .code = 5},
    {.id = "7.1.6", .fn = c_close_71, .code = 6},
    {.id = "7.3.1", .fn = c_close_code, .code = -1, .valid = true},
    {.id = "7.3.2", .fn = c_close_code, .code = -2},
    {.id = "7.3.3", .fn = c_close_code, .code = 1000, .valid = true},
    {.id = "7.3.4",
     .fn = c_close_code,
     .code = 1000,
     .data = "Hello World!",
     .valid = true},
    {.id = "7.3.5",
     .fn = c_close_code,
     .len = 123,
     .code = 1000,
     .valid = true},
    {.id = "7.3.6", .fn = c_close_code, .len = 124, .code = 1000},
    {.id = "7.5.1",
     .fn = c_close_code,
     .op = 1,
     .code = 1000,
     .data = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
             "edited"},
    CODE_OK("7.7.1", 1000),
    CODE_OK("7.7.2", 1001),
    CODE_OK("7.7.3", 1002),
    CODE_OK("7.7.4", 1003),
    CODE_OK("7.7.5", 1007),
    CODE_OK("7.7.6", 1008),
    CODE_OK("7.7.7", 1009),
    CODE_OK("7.7.8", 1010),
    CODE_OK("7.7.9", 1011),
    CODE_OK("7.7.10", 3000),
    CODE_OK("7.7.11", 3999),
    CODE_OK("7.7.12", 4000),
    CODE_OK("7.7.13", 4999),
    CODE_BAD("7.9.1", 0),
    CODE_BAD("7.9.2", 999),
    CODE_BAD("7.9.3", 1004),
    CODE_BAD("7.9.4", 1005),
    CODE_BAD("7.9.5", 1006),
    CODE_BAD("7.9.6", 1016),
    CODE_BAD("7.9.7", 1100),
    CODE_BAD("7.9.8", 2000),
    CODE_BAD("7.9.9", 2999),
    CODE_BAD("7.13.1", 5000),
    CODE_BAD("7.13.2", 65535),
};
#undef CODE_OK
#undef CODE_BAD

/* ---- 9 limits and performance -------------------------------------------- */

static size_t scaled(size_t n) {
    return slow_env() ? (n / 16 ? n / 16 : 1) : n;
}

/* 9.1, 9.2: one big message; 9.3, 9.4: in fragments of k->chop; 9.5,
 * 9.6: one frame written in pieces of k->chop. */
static void c_big(struct peer *p, const struct acase *k) {
    struct acase kk = *k;
    kk.len = scaled(k->len);
    size_t n;
    const uint8_t *d = payload(&kk, &n);
    if (k->code == 1) {
        size_t fs = k->chop;
        for (size_t off = 0; off < n; off += fs) {
            size_t c = n - off < fs ? n - off : fs;
            peer_frame(p, off + c == n, 0, off == 0 ? k->op : 0, d + off, c);
        }
    } else if (k->code == 2) {
        size_t len = peer_make(p, frame_buf, true, 0, k->op, d, n);
        for (size_t off = 0; off < len; off += k->chop)
            peer_bytes(p, frame_buf + off,
                       len - off < k->chop ? len - off : k->chop);
    } else {
        peer_frame(p, true, 0, k->op, d, n);
    }
    peer_expect(p, k->op, d, n);
    peer_clean_close(p);
}

/* 9.7, 9.8: many messages, each echoed before the next is sent. */
static void c_many(struct peer *p, const struct acase *k) {
    size_t n;
    const uint8_t *d = payload(k, &n);
    int count = slow_env() ? 50 : 1000;
    for (int i = 0; i < count; i++) {
        peer_frame(p, true, 0, k->op, d, n);
        peer_expect(p, k->op, d, n);
    }
    peer_clean_close(p);
}

/* 9.9 (weft's own): a message over max_message (1 MiB here) fails with
 * 1009, whole, in fragments, and before its last byte arrives. */
static void c_limit(struct peer *p, const struct acase *k) {
    size_t max = 1u << 20;
    if (k->code == 0) { /* one frame: refused at its header */
        uint8_t h[WS_MAX_HEADER];
        size_t hl = weft__ws_write_header(h, true, 0, k->op, max + 1,
                                          p->server ? NULL : raw_key);
        peer_bytes(p, h, hl);
    } else { /* fragments: refused at the one that crosses the limit */
        static uint8_t chunk[65536];
        for (size_t off = 0; off <= max; off += sizeof chunk)
            peer_frame(p, false, 0, off == 0 ? k->op : 0, chunk, sizeof chunk);
    }
    peer_expect_fail(p, 1009);
}

#define BIG(id_, op_, len_, mode, chop_)                                       \
    {                                                                          \
        .id = id_, .fn = c_big, .op = op_, .len = len_, .chop = chop_,         \
        .code = mode                                                           \
    }
static const struct acase cat9[] = {
    BIG("9.1.1", WEFT_WS_TEXT, 65536, 0, 0),
    BIG("9.1.2", WEFT_WS_TEXT, 262144, 0, 0),
    BIG("9.1.3", WEFT_WS_TEXT, 1048576, 0, 0),
    BIG("9.1.4", WEFT_WS_TEXT, 4194304, 0, 0),
    BIG("9.1.5", WEFT_WS_TEXT, 8388608, 0, 0),
    BIG("9.1.6", WEFT_WS_TEXT, 16777216, 0, 0),
    BIG("9.2.1", WEFT_WS_BINARY, 65536, 0, 0),
    BIG("9.2.2", WEFT_WS_BINARY, 262144, 0, 0),
    BIG("9.2.3", WEFT_WS_BINARY, 1048576, 0, 0),
    BIG("9.2.4", WEFT_WS_BINARY, 4194304, 0, 0),
    BIG("9.2.5", WEFT_WS_BINARY, 8388608, 0, 0),
    BIG("9.2.6", WEFT_WS_BINARY, 16777216, 0, 0),
    BIG("9.3.1", WEFT_WS_TEXT, 4194304, 1, 64),
    BIG("9.3.2", WEFT_WS_TEXT, 4194304, 1, 256),
    BIG("9.3.3", WEFT_WS_TEXT, 4194304, 1, 1024),
    BIG("9.3.4", WEFT_WS_TEXT, 4194304, 1, 4096),
    BIG("9.3.5", WEFT_WS_TEXT, 4194304, 1, 16384),
    BIG("9.3.6", WEFT_WS_TEXT, 4194304, 1, 65536),
    BIG("9.3.7", WEFT_WS_TEXT, 4194304, 1, 262144),
    BIG("9.3.8", WEFT_WS_TEXT, 4194304, 1, 1048576),
    BIG("9.3.9", WEFT_WS_TEXT, 4194304, 1, 4194304),
    BIG("9.4.1", WEFT_WS_BINARY, 4194304, 1, 64),
    BIG("9.4.2", WEFT_WS_BINARY, 4194304, 1, 256),
    BIG("9.4.3", WEFT_WS_BINARY, 4194304, 1, 1024),
    BIG("9.4.4", WEFT_WS_BINARY, 4194304, 1, 4096),
    BIG("9.4.5", WEFT_WS_BINARY, 4194304, 1, 16384),
    BIG("9.4.6", WEFT_WS_BINARY, 4194304, 1, 65536),
    BIG("9.4.7", WEFT_WS_BINARY, 4194304, 1, 262144),
    BIG("9.4.8", WEFT_WS_BINARY, 4194304, 1, 1048576),
    BIG("9.4.9", WEFT_WS_BINARY, 4194304, 1, 4194304),
    BIG("9.5.1", WEFT_WS_TEXT, 1048576, 2, 64),
    BIG("9.5.2", WEFT_WS_TEXT, 1048576, 2, 128),
    BIG("9.5.3", WEFT_WS_TEXT, 1048576, 2, 256),
    BIG("9.5.4", WEFT_WS_TEXT, 1048576, 2, 512),
    BIG("9.5.5", WEFT_WS_TEXT, 1048576, 2, 1024),
    BIG("9.5.6", WEFT_WS_TEXT, 1048576, 2, 2048),
    BIG("9.6.1", WEFT_WS_BINARY, 1048576, 2, 64),
    BIG("9.6.2", WEFT_WS_BINARY, 1048576, 2, 128),
    BIG("9.6.3", WEFT_WS_BINARY, 1048576, 2, 256),
    BIG("9.6.4", WEFT_WS_BINARY, 1048576, 2, 512),
    BIG("9.6.5", WEFT_WS_BINARY, 1048576, 2, 1024),
    BIG("9.6.6", WEFT_WS_BINARY, 1048576, 2, 2048),
    {.id = "9.7.1", .fn = c_many, .op = WEFT_WS_TEXT},
    {.id = "9.7.2", .fn = c_many, .op = WEFT_WS_TEXT, .len = 16},
    {.id = "9.7.3", .fn = c_many, .op = WEFT_WS_TEXT, .len = 64},
    {.id = "9.7.4", .fn = c_many, .op = WEFT_WS_TEXT, .len = 256},
    {.id = "9.7.5", .fn = c_many, .op = WEFT_WS_TEXT, .len = 1024},
    {.id = "9.7.6", .fn = c_many, .op = WEFT_WS_TEXT, .len = 4096},
    {.id = "9.8.1", .fn = c_many, .op = WEFT_WS_BINARY},
    {.id = "9.8.2", .fn = c_many, .op = WEFT_WS_BINARY, .len = 16},
    {.id = "9.8.3", .fn = c_many, .op = WEFT_WS_BINARY, .len = 64},
    {.id = "9.8.4", .fn = c_many, .op = WEFT_WS_BINARY, .len = 256},
    {.id = "9.8.5", .fn = c_many, .op = WEFT_WS_BINARY, .len = 1024},
    {.id = "9.8.6", .fn = c_many, .op = WEFT_WS_BINARY, .len = 4096},
    {.id = "9.9.1", .fn = c_limit, .op = WEFT_WS_TEXT},
    {.id = "9.9.2", .fn = c_limit, .op = WEFT_WS_BINARY},
    {.id = "9.9.3", .fn = c_limit, .op = WEFT_WS_TEXT, .code = 1},
    {.id = "9.9.4", .fn = c_limit, .op = WEFT_WS_BINARY, .code = 1},
};
#undef BIG

/* ---- 12, 13 compression -------------------------------------------------- */

/* The peer's compressed frame: zlib directly, sync flush, tail off. */
static void peer_zframe(struct peer *p, unsigned op, const uint8_t *d,
                        size_t n) {
    static uint8_t out[(1u << 20) + 1024];
    p->zd.next_in = (Bytef *)d;
    p->zd.avail_in = (uInt)n;
    p->zd.next_out = out;
    p->zd.avail_out = sizeof out;
    ck_assert_int_eq(deflate(&p->zd, Z_SYNC_FLUSH), Z_OK);
    size_t len = sizeof out - p->zd.avail_out;
    ck_assert_uint_ge(len, 4);
    peer_frame(p, true, 4, op, out, len - 4);
    if (p->znct)
        ck_assert_int_eq(deflateReset(&p->zd), Z_OK);
}

/* Text like a chat's, or binary that does not compress. */
static void z_payload(uint8_t *d, size_t n, bool text, unsigned seed) {
    static const char *const words[] = {
        "the ",  "quick ", "brown ", "fox ",       "jumps ",
        "over ", "lazy ",  "dog, ",  "websocket ", "weft "};
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n;) {
        x = x * 1103515245u + 12345u;
        if (text) {
            const char *w = words[(x >> 16) % 10];
            for (; *w && i < n; w++)
                d[i++] = (uint8_t)*w;
        } else {
            d[i++] = (uint8_t)(x >> 16);
        }
    }
}

/* 12.x: 100 messages of k->len bytes, compressed both ways. The server's
 * answers must be compressed too (RSV1), and decompress to the same. */
static void c_deflate(struct peer *p, const struct acase *k) {
    static uint8_t d[131072];
    int count = slow_env() ? 10 : 100;
    for (int i = 0; i < count; i++) {
        z_payload(d, k->len, k->op == WEFT_WS_TEXT, (unsigned)i);
        peer_zframe(p, k->op, d, k->len);
        peer_expect(p, k->op, d, k->len);
    }
    peer_clean_close(p);
}

/* 12.6 (weft's own): the rules of compressed frames: RSV1 on a
 * continuation, data that does not inflate, and a zip bomb. */
static void c_deflate_rules(struct peer *p, const struct acase *k) {
    if (k->code == 1) {
        peer_frame(p, false, 4, WEFT_WS_TEXT, "\x02\x00", 2);
        peer_frame(p, true, 4, 0, "\x02\x00", 2);
        peer_expect_fail(p, 1002);
    } else if (k->code == 2) {
        peer_frame(p, true, 4, WEFT_WS_BINARY, "\xff\xff\xff\xff", 4);
        peer_expect_fail(p, 1002);
    } else {
        /* 64 MiB of zeros (the limit) and one more byte, in about 64 KiB
         * on the wire. */
        static uint8_t zeros[1u << 20];
        for (int i = 0; i < 64; i++) {
            p->zd.next_in = zeros;
            p->zd.avail_in = sizeof zeros;
            static uint8_t out[1u << 16];
            p->zd.next_out = out;
            p->zd.avail_out = sizeof out;
            ck_assert_int_eq(deflate(&p->zd, Z_SYNC_FLUSH), Z_OK);
            peer_frame(p, false, i == 0 ? 4 : 0, i == 0 ? WEFT_WS_BINARY : 0,
                       out, sizeof out - p->zd.avail_out);
        }
        p->zd.next_in = zeros;
        p->zd.avail_in = 1;
        static uint8_t out[64];
        p->zd.next_out = out;
        p->zd.avail_out = sizeof out;
        ck_assert_int_eq(deflate(&p->zd, Z_SYNC_FLUSH), Z_OK);
        peer_frame(p, true, 0, 0, out, sizeof out - p->zd.avail_out - 4);
        peer_expect_fail(p, 1009);
    }
}

#define Z12(id_, op_, len_)                                                    \
    {                                                                          \
        .id = id_, .fn = c_deflate, .op = op_, .len = len_,                    \
        .offer = "permessage-deflate; client_max_window_bits"                  \
    }
#define Z13(id_, len_, offer_)                                                 \
    {                                                                          \
        .id = id_, .fn = c_deflate, .op = WEFT_WS_TEXT, .len = len_,           \
        .offer = offer_                                                        \
    }
static const struct acase cat12[] = {
    Z12("12.1.1", WEFT_WS_TEXT, 16),
    Z12("12.1.2", WEFT_WS_TEXT, 64),
    Z12("12.1.3", WEFT_WS_TEXT, 256),
    Z12("12.1.4", WEFT_WS_TEXT, 1024),
    Z12("12.1.5", WEFT_WS_TEXT, 4096),
    Z12("12.1.6", WEFT_WS_TEXT, 8192),
    Z12("12.1.7", WEFT_WS_TEXT, 16384),
    Z12("12.1.8", WEFT_WS_TEXT, 32768),
    Z12("12.1.9", WEFT_WS_TEXT, 65536),
    Z12("12.1.10", WEFT_WS_TEXT, 131072),
    Z12("12.2.1", WEFT_WS_BINARY, 16),
    Z12("12.2.2", WEFT_WS_BINARY, 64),
    Z12("12.2.3", WEFT_WS_BINARY, 256),
    Z12("12.2.4", WEFT_WS_BINARY, 1024),
    Z12("12.2.5", WEFT_WS_BINARY, 4096),
    Z12("12.2.6", WEFT_WS_BINARY, 8192),
    Z12("12.2.7", WEFT_WS_BINARY, 16384),
    Z12("12.2.8", WEFT_WS_BINARY, 32768),
    Z12("12.2.9", WEFT_WS_BINARY, 65536),
    Z12("12.2.10", WEFT_WS_BINARY, 131072),
    {.id = "12.6.1",
     .fn = c_deflate_rules,
     .code = 1,
     .valid = 0,
     .offer = "permessage-deflate"},
    {.id = "12.6.2",
     .fn = c_deflate_rules,
     .code = 2,
     .valid = 0,
     .offer = "permessage-deflate"},
    {.id = "12.6.3",
     .fn = c_deflate_rules,
     .code = 3,
     .valid = 0,
     .offer = "permessage-deflate"},
    /* 13: the offers Autobahn makes, each with three sizes (a window of 8
     * becomes 9: zlib's raw deflate cannot make 8; the server answers
     * what it takes, and the peer compresses within it). */
    Z13("13.1.1", 64, "permessage-deflate"),
    Z13("13.1.2", 4096, "permessage-deflate"),
    Z13("13.1.3", 65536, "permessage-deflate"),
    Z13("13.2.1", 64, "permessage-deflate; client_no_context_takeover"),
    Z13("13.2.2", 4096, "permessage-deflate; client_no_context_takeover"),
    Z13("13.2.3", 65536, "permessage-deflate; client_no_context_takeover"),
    Z13("13.3.1", 64, "permessage-deflate; client_max_window_bits=9"),
    Z13("13.3.2", 4096, "permessage-deflate; client_max_window_bits=9"),
    Z13("13.3.3", 65536, "permessage-deflate; client_max_window_bits=9"),
    Z13("13.4.1", 64, "permessage-deflate; client_max_window_bits=15"),
    Z13("13.4.2", 4096, "permessage-deflate; client_max_window_bits=15"),
    Z13("13.4.3", 65536, "permessage-deflate; client_max_window_bits=15"),
    Z13("13.5.1", 64,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9"),
    Z13("13.5.2", 4096,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9"),
    Z13("13.5.3", 65536,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9"),
    Z13("13.6.1", 64,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=15"),
    Z13("13.6.2", 4096,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=15"),
    Z13("13.6.3", 65536,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=15"),
    Z13("13.7.1", 64,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9, permessage-deflate; "
        "client_no_context_takeover, permessage-deflate"),
    Z13("13.7.2", 4096,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9, permessage-deflate; "
        "client_no_context_takeover, permessage-deflate"),
    Z13("13.7.3", 65536,
        "permessage-deflate; client_no_context_takeover; "
        "client_max_window_bits=9, permessage-deflate; "
        "client_no_context_takeover, permessage-deflate"),
};
#undef Z12
#undef Z13

/* 12/13 with weft on both ends: the client's deflate options against the
 * server's, many sizes. */
static int zclient_main(void *arg) {
    const weft_ws_deflate_opts_t *d = arg;
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.flags = WEFT_WS_DEFLATE;
    struct ws_srv s;
    ws_srv_start(&s, NULL);
    weft_session_t *sess;
    ck_assert_ok(weft_session_new(&sess, NULL));
    char u[64];
    snprintf(u, sizeof u, "ws://127.0.0.1:%d/", s.port);
    weft_ws_connect_opts_t co = {.ws.flags = WEFT_WS_DEFLATE, .ws.deflate = *d};
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, u, &co));
    ck_assert(weft_ws_compressed(ws));
    static uint8_t buf[131072];
    for (size_t n = 16; n <= sizeof buf; n *= 2)
        for (int i = 0; i < 5; i++) {
            z_payload(buf, n, i & 1, (unsigned)(n + (size_t)i));
            ck_assert_ok(weft_ws_send(ws, i & 1 ? WEFT_WS_TEXT : WEFT_WS_BINARY,
                                      buf, n));
            weft_ws_msg_t m;
            ck_assert_ok(weft_ws_receive(ws, &m));
            ck_assert_uint_eq(m.len, n);
            ck_assert(memcmp(m.data, buf, n) == 0);
        }
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    weft_ws_free(ws);
    ck_assert_ok(weft_session_close(sess));
    ws_srv_stop(&s);
    return 0;
}

static const weft_ws_deflate_opts_t zclient[] = {
    {0},
    {.client_no_context_takeover = true},
    {.server_no_context_takeover = true},
    {.client_max_window_bits = 9},
    {.server_max_window_bits = 9},
    {.client_no_context_takeover = true,
     .server_no_context_takeover = true,
     .client_max_window_bits = 10,
     .server_max_window_bits = 10},
    {.level = 9, .mem_level = 9},
};

/* ---- the suite ----------------------------------------------------------- */

struct category {
    const char *name;
    const struct acase *cases;
    size_t n;
    bool client; /* run against weft's client too */
};

#define CAT(name, t, c)                                                        \
    { name, t, sizeof t / sizeof t[0], c }
static const struct category cats[] = {
    CAT("1 framing", cat1, true),
    CAT("2 pings/pongs", cat2, true),
    CAT("3 reserved bits", cat3, true),
    CAT("4 opcodes", cat4, true),
    CAT("5 fragmentation", cat5, true),
    CAT("6 UTF-8", cat6, true),
    CAT("7 close", cat7, true),
    CAT("9 limits", cat9, false),
    CAT("12/13 compression", cat12, false),
};
#undef CAT

/* Which category a loop test belongs to: its tcase's index. */
static const struct category *cat_of(const char *tcname, bool *client) {
    *client = strncmp(tcname, "client ", 7) == 0;
    const char *name = *client ? tcname + 7 : tcname + 7; /* "server " */
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++)
        if (strcmp(cats[i].name, name) == 0)
            return &cats[i];
    return NULL;
}

#define CAT_TEST(idx)                                                          \
    START_TEST(server_cat##idx) {                                              \
        run_case(&cats[idx].cases[_i], false);                                 \
    }                                                                          \
    END_TEST                                                                   \
    START_TEST(client_cat##idx) {                                              \
        run_case(&cats[idx].cases[_i], true);                                  \
    }                                                                          \
    END_TEST
CAT_TEST(0)
CAT_TEST(1)
CAT_TEST(2)
CAT_TEST(3)
CAT_TEST(4)
CAT_TEST(5)
CAT_TEST(6)
CAT_TEST(7)
CAT_TEST(8)

START_TEST(weft_both_ends) {
    ck_assert_ok(run_virtual(zclient_main, (void *)&zclient[_i]));
}
END_TEST

static Suite *autobahn_suite(void) {
    const TTest *const server_tests[] = {server_cat0, server_cat1, server_cat2,
                                         server_cat3, server_cat4, server_cat5,
                                         server_cat6, server_cat7, server_cat8};
    const TTest *const client_tests[] = {client_cat0, client_cat1, client_cat2,
                                         client_cat3, client_cat4, client_cat5,
                                         client_cat6, client_cat7, client_cat8};
    Suite *s = suite_create("ws_autobahn");
    static char names[2][16][48];
    for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++) {
        snprintf(names[0][i], sizeof names[0][i], "server %s", cats[i].name);
        TCase *tc = tcase_create(names[0][i]);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, server_tests[i], 0, (int)cats[i].n);
        suite_add_tcase(s, tc);
        if (!cats[i].client)
            continue;
        snprintf(names[1][i], sizeof names[1][i], "client %s", cats[i].name);
        tc = tcase_create(names[1][i]);
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, client_tests[i], 0, (int)cats[i].n);
        suite_add_tcase(s, tc);
    }
    TCase *tc = tcase_create("server 12/13 weft client");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, weft_both_ends, 0,
                        (int)(sizeof zclient / sizeof zclient[0]));
    suite_add_tcase(s, tc);
    return s;
}

/* Run, then print the count of cases passed per category and side. */
int main(void) {
    SRunner *sr = srunner_create(autobahn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    TestResult **r = srunner_results(sr);
    int n = srunner_ntests_run(sr);
    const char *last = "";
    int pass = 0, total = 0;
    for (int i = 0; i <= n; i++) {
        const char *tc = i < n ? tr_tcname(r[i]) : "";
        if (strcmp(tc, last) != 0) {
            if (total)
                printf("autobahn %-30s %4d/%-4d passed\n", last, pass, total);
            last = tc;
            pass = total = 0;
        }
        if (i == n)
            break;
        bool client;
        const struct category *c = cat_of(tc, &client);
        if (tr_rtype(r[i]) == CK_PASS)
            pass++;
        else
            printf("  FAILED %s case %s: %s\n", tc,
                   c && (size_t)total < c->n ? c->cases[total].id : "?",
                   tr_msg(r[i]));
        total++;
    }
    free(r);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
