/* WebSockets (weft/ws.h): the pure layers (frames, masks, UTF-8, close
 * payloads, permessage-deflate's negotiation and streams) and the API over
 * loopback on a virtual clock: handshakes (server and client), messages
 * whole and in parts, the closing handshake from either side, heartbeats,
 * backpressure, broadcast, a graceful server shutdown. The Autobahn-shaped
 * conformance suite is test_ws_autobahn.c. */
#include <zlib.h>

#ifndef MAKE_CERTS
#error "MAKE_CERTS must name tests/tls/make-certs.sh"
#endif

#include "ws_support.h"

/* ---- frames -------------------------------------------------------------- */

START_TEST(header_round_trip) {
    static const uint64_t lens[] = {0,
                                    1,
                                    125,
                                    126,
                                    127,
                                    65535,
                                    65536,
                                    UINT64_C(1) << 32,
                                    (UINT64_C(1) << 63) - 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int m = 0; m < 2; m++) {
            uint8_t buf[WS_MAX_HEADER];
            size_t n = weft__ws_write_header(buf, i & 1, 4, WEFT_WS_BINARY,
                                             lens[i], m ? raw_key : NULL);
            struct weft__ws_hdr h;
            size_t need = 0;
            /* Every prefix asks for more; the whole parses. */
            for (size_t k = 0; k < n; k++) {
                ck_assert_int_eq(weft__ws_parse_header(buf, k, &h, &need), 0);
                ck_assert_uint_gt(need, k);
            }
            ck_assert_int_eq(weft__ws_parse_header(buf, n, &h, &need), (int)n);
            ck_assert_uint_eq(h.len, lens[i]);
            ck_assert_uint_eq(h.fin, i & 1);
            ck_assert_uint_eq(h.rsv, 4);
            ck_assert_uint_eq(h.op, WEFT_WS_BINARY);
            ck_assert_uint_eq(h.masked, (unsigned)m);
            if (m)
                ck_assert_mem_eq(h.key, raw_key, 4);
        }
    }
    /* A 64-bit length with its top bit set is refused. */
    uint8_t bad[10] = {0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1};
    struct weft__ws_hdr h;
    size_t need;
    ck_assert_int_eq(weft__ws_parse_header(bad, 10, &h, &need), -1);
}
END_TEST

START_TEST(mask_widths_agree) {
    /* Every length, offset and key phase: the wide loops equal the byte
     * loop, in place and not. */
    uint8_t src[300], a[300], b[300];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 3);
    uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= 290; n += (n < 40 ? 1 : 13))
            for (unsigned ph = 0; ph < 4; ph++) {
                unsigned pa = weft__ws_mask(a, src + off, n, key, ph);
                unsigned pb = weft__ws_mask_bytewise(b, src + off, n, key, ph);
                ck_assert_uint_eq(pa, pb);
                ck_assert(memcmp(a, b, n) == 0);
                memcpy(a, src + off, n);
                weft__ws_mask(a, a, n, key, ph);
                ck_assert(memcmp(a, b, n) == 0);
            }
}
END_TEST

START_TEST(utf8_rules) {
    static const struct {
        const char *s;
        bool ok;
    } v[] = {
        {"", true},
        {"hello", true},
        {"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", true}, /* kosme */
        {"\x7f", true},
        {"\xc2\x80", true},
        {"\xdf\xbf", true},
        {"\xe0\xa0\x80", true},
        {"\xed\x9f\xbf", true},     /* U+D7FF */
        {"\xee\x80\x80", true},     /* U+E000 */
        {"\xef\xbf\xbd", true},     /* U+FFFD */
        {"\xf0\x90\x80\x80", true}, /* U+10000 */
        {"\xf4\x8f\xbf\xbf", true}, /* U+10FFFF */
        {"\x80", false},
        {"\xbf", false},
        {"\xc0\xaf", false}, /* overlong '/' */
        {"\xc1\xbf", false},
        {"\xe0\x80\xaf", false}, /* overlong */
        {"\xe0\x9f\xbf", false},
        {"\xed\xa0\x80", false},     /* U+D800 */
        {"\xed\xbf\xbf", false},     /* U+DFFF */
        {"\xf0\x8f\xbf\xbf", false}, /* overlong */
        {"\xf4\x90\x80\x80", false}, /* U+110000 */
        {"\xf5\x80\x80\x80", false},
        {"\xfe", false},
        {"\xff", false},
        {"\xc2", false}, /* cut short */
        {"\xe1\x80", false},
        {"\xf1\x80\x80", false},
        {"a\xc2"
         "b",
         false},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        size_t n = strlen(v[i].s);
        ck_assert_msg(weft__utf8_valid((const uint8_t *)v[i].s, n) == v[i].ok,
                      "vector %zu", i);
        /* The same split at every point, byte by byte. */
        struct weft__utf8 u = {0, 0x80, 0xbf};
        bool ok = true;
        for (size_t k = 0; k < n && ok; k++)
            ok = weft__utf8_feed(&u, (const uint8_t *)v[i].s + k, 1) == 1;
        ck_assert_int_eq(ok && weft__utf8_done(&u), v[i].ok);
    }
    /* Fail fast: the offset of the first bad byte, inside long ASCII. */
    uint8_t t[100];
    memset(t, 'a', sizeof t);
    t[70] = 0xf4;
    t[71] = 0x90;
    struct weft__utf8 u = {0, 0x80, 0xbf};
    ck_assert_uint_eq(weft__utf8_feed(&u, t, sizeof t), 71);
}
END_TEST

START_TEST(close_payloads) {
    int code = 0;
    ck_assert_int_eq(weft__ws_close_parse(NULL, 0, &code), 0);
    ck_assert_int_eq(code, 1005);
    ck_assert_int_eq(weft__ws_close_parse((const uint8_t *)"\x03", 1, &code),
                     1002);
    ck_assert_int_eq(
        weft__ws_close_parse((const uint8_t *)"\x03\xe8ok", 4, &code), 0);
    ck_assert_int_eq(code, 1000);
    ck_assert_int_eq(
        weft__ws_close_parse((const uint8_t *)"\x03\xe8\xff", 3, &code), 1007);
    static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010,
                                1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999};
    static const int invalid[] = {0,    999,  1004, 1005, 1006, 1015,
                                  1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
        ck_assert(weft_ws_close_code_valid(valid[i]));
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        ck_assert(!weft_ws_close_code_valid(invalid[i]));
}
END_TEST

/* Frames in, pieces out: every split of a stream of frames gives the same
 * messages. */
START_TEST(rx_any_split) {
    uint8_t wire[512];
    size_t n = 0;
    n += frame_make(wire + n, false, 0, WEFT_WS_TEXT, "Hel", 3, true);
    n += frame_make(wire + n, true, 0, WEFT_WS_PING, "p", 1, true);
    n += frame_make(wire + n, true, 0, 0, "lo", 2, true);
    n += frame_make(wire + n, true, 0, WEFT_WS_BINARY, "", 0, true);
    for (size_t split = 1; split <= n; split++) {
        uint8_t buf[512];
        memcpy(buf, wire, n);
        struct weft__ws_rx rx;
        weft__ws_rx_init(&rx, true, false);
        char text[16] = "";
        int pings = 0, empties = 0, msgs = 0;
        size_t at = 0, have = split < n ? split : n;
        while (at < n) {
            struct weft__ws_ev ev;
            size_t used = weft__ws_rx_feed(&rx, buf + at, have - at, &ev);
            at += used;
            ck_assert_int_ne(ev.kind, WS_EV_ERROR);
            if (ev.kind == WS_EV_NONE) {
                have = have + split < n ? have + split : n;
                continue;
            }
            if (ev.kind == WS_EV_CONTROL) {
                ck_assert_uint_eq(ev.op, WEFT_WS_PING);
                ck_assert_uint_eq(ev.len, 1);
                ck_assert_int_eq(ev.data[0], 'p');
                pings++;
            } else if (ev.op == WEFT_WS_TEXT) {
                strncat(text, (const char *)ev.data, ev.len);
                msgs += ev.fin;
            } else {
                ck_assert_uint_eq(ev.len, 0);
                empties += ev.fin;
            }
        }
        ck_assert_str_eq(text, "Hello");
        ck_assert_int_eq(pings, 1);
        ck_assert_int_eq(msgs, 1);
        ck_assert_int_eq(empties, 1);
    }
}
END_TEST

START_TEST(rx_rules) {
    static const struct {
        uint8_t b0;
        bool masked, deflate, in_msg;
    } bad[] = {
        {0x81, false, false, false}, /* unmasked from a client */
        {0xa1, true, false, false},  /* RSV2 */
        {0x91, true, true, false},   /* RSV3 */
        {0xc1, true, false, false},  /* RSV1 without deflate */
        {0x83, true, false, false},  /* opcode 3 */
        {0x8b, true, false, false},  /* opcode 11 */
        {0x09, true, false, false},  /* a fragmented ping */
        {0x80, true, false, false},  /* continuation, no message */
        {0x81, true, false, true},   /* text inside a message */
        {0xc0, true, true, true},    /* RSV1 on a continuation */
        {0xc9, true, true, false},   /* RSV1 on a ping */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct weft__ws_rx rx;
        weft__ws_rx_init(&rx, true, bad[i].deflate);
        uint8_t f[16];
        size_t n;
        struct weft__ws_ev ev;
        if (bad[i].in_msg) {
            n = frame_make(f, false, 0, WEFT_WS_TEXT, "a", 1, true);
            weft__ws_rx_feed(&rx, f, n, &ev);
            ck_assert_int_eq(ev.kind, WS_EV_DATA);
        }
        n = frame_make(f, true, 0, 1, "a", 1, bad[i].masked);
        f[0] = bad[i].b0;
        weft__ws_rx_feed(&rx, f, n, &ev);
        ck_assert_msg(ev.kind == WS_EV_ERROR && ev.code == 1002, "case %zu", i);
    }
    /* A control frame over 125 bytes. */
    struct weft__ws_rx rx;
    weft__ws_rx_init(&rx, true, false);
    uint8_t big[200];
    memset(big, 'x', sizeof big);
    size_t n = frame_make(frame_buf, true, 0, WEFT_WS_PING, big, 126, true);
    struct weft__ws_ev ev;
    weft__ws_rx_feed(&rx, frame_buf, n, &ev);
    ck_assert_int_eq(ev.kind, WS_EV_ERROR);
    /* A client refuses a masked frame from the server. */
    weft__ws_rx_init(&rx, false, false);
    n = frame_make(frame_buf, true, 0, WEFT_WS_TEXT, "a", 1, true);
    weft__ws_rx_feed(&rx, frame_buf, n, &ev);
    ck_assert_int_eq(ev.kind, WS_EV_ERROR);
}
END_TEST

/* ---- permessage-deflate -------------------------------------------------- */

static void fields_of(weft_http_field_t *f, const char *value) {
    f->name = (weft_span_t){"Sec-WebSocket-Extensions", 24};
    f->value = (weft_span_t){value, strlen(value)};
}

START_TEST(pmd_negotiation) {
    weft_http_field_t f[2];
    struct weft__ws_pmd a;
    char buf[256];
    weft_ws_deflate_opts_t o = {0};
    /* A browser's offer: the server limits both windows to 12. */
    fields_of(&f[0], "permessage-deflate; client_max_window_bits");
    ck_assert_int_gt(weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "permessage-deflate; server_max_window_bits=12; "
                          "client_max_window_bits=12");
    ck_assert(a.on && a.server_wbits == 12 && a.client_wbits == 12);
    /* Without client_max_window_bits the client's window cannot be
     * limited. */
    fields_of(&f[0], "permessage-deflate");
    weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf);
    ck_assert_str_eq(buf, "permessage-deflate; server_max_window_bits=12");
    ck_assert_uint_eq(a.client_wbits, 15);
    /* Offers in order: an unknown parameter declines the first. */
    fields_of(&f[0], "permessage-deflate; bogus, permessage-deflate; "
                     "client_no_context_takeover; server_max_window_bits=10");
    weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf);
    ck_assert_str_eq(buf, "permessage-deflate; client_no_context_takeover; "
                          "server_max_window_bits=10");
    ck_assert(a.client_nct && !a.server_nct && a.server_wbits == 10);
    /* Bad values and repeats decline; other extensions are skipped. */
    static const char *const declined[] = {
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; "
        "server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "x-webkit-deflate-frame",
        "permessage-deflate; client_max_window_bits=\"1",
    };
    for (size_t i = 0; i < sizeof declined / sizeof declined[0]; i++) {
        fields_of(&f[0], declined[i]);
        ck_assert_int_eq(weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf), 0);
        ck_assert_msg(!a.on, "accepted: %s", declined[i]);
    }
    /* A quoted value is the same token; two fields are one list. */
    fields_of(&f[0], "foo");
    fields_of(&f[1], "permessage-deflate; client_max_window_bits=\"9\"");
    weft__ws_pmd_accept(f, 2, &o, &a, buf, sizeof buf);
    ck_assert(a.on && a.client_wbits == 9);
    /* server_max_window_bits=8 is taken (the server then sends plain). */
    fields_of(&f[0], "permessage-deflate; server_max_window_bits=8");
    weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf);
    ck_assert(a.on && a.server_wbits == 8);
    /* The server's own no-context-takeover goes in the answer. */
    o.server_no_context_takeover = true;
    o.server_max_window_bits = 15;
    fields_of(&f[0], "permessage-deflate");
    weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf);
    ck_assert_str_eq(buf, "permessage-deflate; server_no_context_takeover");

    /* The client's side: offer, and answers checked against it. */
    weft_ws_deflate_opts_t c = {0};
    ck_assert_int_gt(weft__ws_pmd_offer(&c, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "permessage-deflate; client_max_window_bits");
    fields_of(&f[0], "permessage-deflate; server_max_window_bits=12; "
                     "client_max_window_bits=10");
    ck_assert_int_eq(weft__ws_pmd_check(f, 1, &c, &a), 0);
    ck_assert(a.on && a.server_wbits == 12 && a.client_wbits == 10);
    static const char *const refused[] = {
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; foo=1",
        "permessage-deflate, permessage-deflate",
        "x-other",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        fields_of(&f[0], refused[i]);
        ck_assert_msg(weft__ws_pmd_check(f, 1, &c, &a) < 0, "took: %s",
                      refused[i]);
    }
    c.server_no_context_takeover = true;
    fields_of(&f[0], "permessage-deflate");
    ck_assert_int_lt(weft__ws_pmd_check(f, 1, &c, &a), 0);
}
END_TEST

/* Compress with one stream, inflate with another, pieces of any size;
 * context takeover shrinks a repeated message. */
START_TEST(pmd_streams) {
    struct weft__ws_z d, inf;
    weft__ws_z_init(&d, true, 12, 1, 5, false);
    weft__ws_z_init(&inf, false, 12, 0, 0, false);
    char msg[3000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = "weft websockets "[i % 16] + (char)(i % 7 == 0);
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0, first = 0;
    for (int round = 0; round < 3; round++) {
        len = 0;
        ck_assert_ok(weft__ws_deflate(&d, (const uint8_t *)msg, sizeof msg,
                                      true, &buf, &len, &cap));
        if (round == 0)
            first = len;
        else
            ck_assert_uint_lt(len, first); /* the window remembers */
        uint8_t out[4000];
        size_t got = 0;
        bool done = false;
        size_t at = 0;
        while (!done) {
            size_t piece = len - at < 7 ? len - at : 7;
            size_t used = piece;
            bool fin = at + piece == len;
            ssize_t k = weft__ws_inflate(&inf, buf + at, &used, fin, out + got,
                                         100, &done);
            ck_assert_int_ge(k, 0);
            got += (size_t)k;
            at += used;
        }
        ck_assert_uint_eq(got, sizeof msg);
        ck_assert(memcmp(out, msg, sizeof msg) == 0);
    }
    /* Output one byte at a time: what zlib holds back for want of room
     * still comes out after the tail went in (fuzz/ws_deflate.c found it
     * lost). */
    {
        static const uint8_t held[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0xd7,
                                       0x51, 0xc9, 0x1e, 0xa2, 0x14, 0x01,
                                       0x7a, 0xc9};
        size_t lens[2];
        for (int mode = 0; mode < 2; mode++) {
            struct weft__ws_z z;
            weft__ws_z_init(&z, false, 15, 0, 0, false);
            uint8_t out[1000];
            size_t at = 0, got = 0;
            bool done = false;
            while (!done) {
                size_t used = sizeof held - at;
                ssize_t k = weft__ws_inflate(&z, held + at, &used, true,
                                             out + got, mode ? 1 : 1000,
                                             &done);
                ck_assert_int_ge(k, 0);
                got += (size_t)k;
                at += used;
            }
            lens[mode] = got;
            weft__ws_z_free(&z);
        }
        ck_assert_uint_eq(lens[0], 340);
        ck_assert_uint_eq(lens[1], 340);
    }
    /* Garbage does not inflate. */
    struct weft__ws_z bad;
    weft__ws_z_init(&bad, false, 15, 0, 0, false);
    uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t out[64];
    size_t used = sizeof junk;
    bool done;
    ck_assert_int_eq(
        weft__ws_inflate(&bad, junk, &used, true, out, sizeof out, &done),
        -EINVAL);
    weft__ws_z_free(&bad);
    weft__free(buf);
    weft__ws_z_free(&d);
    weft__ws_z_free(&inf);
}
END_TEST

START_TEST(accept_key) {
    char out[29];
    ck_assert_int_eq(weft_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out),
                     28);
    ck_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 1.3 */
}
END_TEST

/* ---- the server, raw ----------------------------------------------------- */

static void echo_raw_body(int port) {
    struct rawc c;
    rawc_upgrade(&c, port, NULL);
    ck_assert(strstr(c.head, "Upgrade: websocket\r\n"));
    ck_assert(strstr(c.head, "Connection: Upgrade\r\n"));
    rawc_text(&c, "hello");
    rawc_expect(&c, WEFT_WS_TEXT, "hello", 5);
    rawc_frame(&c, true, 0, WEFT_WS_BINARY, "\x00\x01\x02", 3);
    rawc_expect(&c, WEFT_WS_BINARY, "\x00\x01\x02", 3);
    rawc_close_frame(&c, 1000, "bye");
    ck_assert_int_eq(rawc_expect_close(&c, 1000), 1000);
    rawc_finish(&c);
}

static int srv_main(void *arg) {
    void (*body)(int port) = arg;
    struct ws_srv s;
    ws_srv_start(&s, NULL);
    body(s.port);
    ws_srv_stop(&s);
    return 0;
}

static void srv_run(void (*body)(int port)) {
    ck_assert_ok(run_virtual(srv_main, (void *)body));
}

START_TEST(echo_raw) {
    memset(&echo_opts, 0, sizeof echo_opts);
    srv_run(echo_raw_body);
    ck_assert_int_eq(echo_close_code, 1000);
    ck_assert_int_eq(echo_msgs, 2);
}
END_TEST

/* ---- routes the API tests use -------------------------------------------- */

static weft_ws_opts_t route_opts;
static int route_err;   /* the last handler's final error */
static int route_count; /* what it counted */

/* The server closes first, with a reason. */
static int ws_bye(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &route_opts);
    if (err)
        return err;
    weft_ws_send_text(ws, "bye", 3);
    route_err = weft_ws_close(ws, 4001, "done");
    return 0;
}

/* Returns at once: the server sends close 1000 for it. */
static int ws_quit(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &route_opts);
    if (err)
        return err;
    return weft_ws_send_text(ws, "quit", 4);
}

/* Sends 64 KiB messages to a client that reads nothing. */
static size_t flood_max_queued;
static int ws_flood(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &route_opts);
    if (err)
        return err;
    static uint8_t big[65536];
    route_count = 0;
    while ((err = weft_ws_send_binary(ws, big, sizeof big)) == 0) {
        route_count++;
        if (weft_ws_queued(ws) > flood_max_queued)
            flood_max_queued = weft_ws_queued(ws);
    }
    route_err = err;
    return 0;
}

/* Receives in parts, counting bytes; echoes the total as text. */
static int ws_parts(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &route_opts);
    if (err)
        return err;
    weft_ws_msg_t m;
    size_t total = 0;
    route_count = 0;
    while ((err = weft_ws_receive_part(ws, &m)) == 0 &&
           m.type != WEFT_WS_CLOSE) {
        total += m.len;
        route_count++;
        if (m.fin) {
            char t[32];
            int n = snprintf(t, sizeof t, "%zu", total);
            weft_ws_send_text(ws, t, (size_t)n);
            total = 0;
        }
    }
    route_err = err;
    return 0;
}

/* Members of a broadcast group. */
static weft_ws_t *group[8];
static size_t ngroup;
static int ws_member(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &route_opts);
    if (err)
        return err;
    size_t me = ngroup++;
    group[me] = ws;
    weft_ws_msg_t m;
    while ((err = weft_ws_receive(ws, &m)) == 0 && m.type != WEFT_WS_CLOSE) {
    }
    group[me] = NULL;
    route_err = err;
    return 0;
}

/* A hibernating receiver that answers every message with what its request
 * said: its route's variable, path, a header, the query, the number of
 * header fields and the last one's name. The request lives in frames the
 * receiver parks under, its unused parts left out of the copy
 * (weft__web_req_unused): what it uses must come back. */
static weft_task_t *hib_task;
static weft_ws_opts_t hib_opts = {.flags = WEFT_WS_HIBERNATE};
/* The same with a heartbeat whose pong never comes: the timer fails the
 * connection while the receiver's stack is given back, and its request
 * (in that stack) must come back before anything reads it (the review of
 * the copy's change found it read as zeros: a crash). */
static weft_ws_opts_t hib_ping_opts = {
    .flags = WEFT_WS_HIBERNATE, .heartbeat = 3, .pong_timeout = 2};
static int ws_hib(weft_web_request_t *req, void *arg) {
    weft_ws_opts_t o = *(const weft_ws_opts_t *)arg;
    weft_ws_t *ws;
    int err = weft_ws_accept(&ws, req, &o);
    if (err)
        return err;
    hib_task = weft_task_ref(weft_task_current());
    weft_ws_msg_t m;
    while ((err = weft_ws_receive(ws, &m)) == 0 && m.type != WEFT_WS_CLOSE) {
        weft_span_t tag = {"", 0}, q = weft_web_query_string(req);
        weft_web_header(req, "X-Tag", &tag);
        const weft_http_field_t *f;
        size_t nf = weft_web_headers(req, &f);
        const char *who = weft_web_match(req, "who");
        char out[256];
        int n = snprintf(out, sizeof out, "%s|%s|%.*s|%.*s|%zu|%.*s",
                         who ? who : "-", weft_web_path(req), (int)tag.len,
                         tag.ptr, (int)q.len, q.ptr, nf,
                         nf ? (int)f[nf - 1].name.len : 0,
                         nf ? f[nf - 1].name.ptr : "");
        if ((err = weft_ws_send_text(ws, out, (size_t)n)) < 0)
            break;
    }
    route_err = err;
    return 0;
}

static void api_routes(weft_web_app_t *app) {
    ck_assert_ok(
        weft_web_route(app, "GET", "/hib/{who}", ws_hib, &hib_opts, NULL));
    ck_assert_ok(
        weft_web_route(app, "GET", "/hibping", ws_hib, &hib_ping_opts, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/bye", ws_bye, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/quit", ws_quit, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/flood", ws_flood, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/parts", ws_parts, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/member", ws_member, NULL, NULL));
}

struct api_test {
    void (*body)(struct ws_srv *s, weft_session_t *sess);
};

static int api_main(void *arg) {
    struct api_test *t = arg;
    struct ws_srv s;
    ws_srv_start(&s, api_routes);
    weft_session_t *sess;
    ck_assert_ok(weft_session_new(&sess, NULL));
    t->body(&s, sess);
    ck_assert_ok(weft_session_close(sess));
    ws_srv_stop(&s);
    return 0;
}

static void api_run(void (*body)(struct ws_srv *, weft_session_t *)) {
    struct api_test t = {body};
    route_err = route_count = 0;
    ck_assert_ok(run_virtual(api_main, &t));
}

static char url_buf[128];
static const char *url(struct ws_srv *s, const char *path) {
    snprintf(url_buf, sizeof url_buf, "ws://127.0.0.1:%d%s", s->port, path);
    return url_buf;
}

static void expect_msg(weft_ws_t *ws, int type, const void *p, size_t n) {
    weft_ws_msg_t m;
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, type);
    ck_assert_uint_eq(m.len, n);
    ck_assert(n == 0 || memcmp(m.data, p, n) == 0);
}

/* ---- the client against our server --------------------------------------- */

static void client_echo_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), NULL));
    ck_assert_ptr_null(weft_ws_protocol(ws));
    ck_assert(!weft_ws_compressed(ws));
    ck_assert_ok(weft_ws_send_text(ws, "hi", 2));
    expect_msg(ws, WEFT_WS_TEXT, "hi", 2);
    ck_assert_ok(weft_ws_send_binary(ws, "", 0));
    expect_msg(ws, WEFT_WS_BINARY, "", 0);
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 31);
    ck_assert_ok(weft_ws_send_binary(ws, big, sizeof big));
    expect_msg(ws, WEFT_WS_BINARY, big, sizeof big);
    /* Text must be UTF-8, pings short. */
    ck_assert_err(weft_ws_send_text(ws, "\xff", 1), -EINVAL);
    uint8_t p[126] = {0};
    ck_assert_err(weft_ws_ping(ws, p, 126), -EINVAL);
    ck_assert_ok(weft_ws_ping(ws, p, 125));
    ck_assert_err(weft_ws_close(ws, 1005, NULL), -EINVAL);
    ck_assert_ok(weft_ws_close(ws, 1000, "bye"));
    ck_assert(weft_ws_closed(ws));
    ck_assert_int_eq(weft_ws_close_code(ws), 1000);
    ck_assert_err(weft_ws_send_text(ws, "x", 1), WEFT_EWS_CLOSED);
    weft_ws_msg_t m;
    ck_assert_err(weft_ws_receive(ws, &m), WEFT_EWS_CLOSED);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL)); /* again: done already */
    ck_assert_ok(weft_ws_free(ws));
}

START_TEST(client_echo) {
    memset(&echo_opts, 0, sizeof echo_opts);
    logcap_start();
    api_run(client_echo_body);
    ck_assert_logged(3, "weft_ws_close: code 1005 may not be sent");
    logcap_stop();
    ck_assert_int_eq(echo_close_code, 1000);
    ck_assert_int_eq(echo_err, 0);
}
END_TEST

static void deflate_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_connect_opts_t co = {.ws.flags = WEFT_WS_DEFLATE};
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), &co));
    ck_assert(weft_ws_compressed(ws));
    static char text[200000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = "abcdefgh "[i % 9];
    size_t sizes[] = {0, 1, 31, 32, 100, 5000, sizeof text};
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            ck_assert_ok(weft_ws_send_text(ws, text, sizes[i]));
            expect_msg(ws, WEFT_WS_TEXT, text, sizes[i]);
        }
    /* In parts, compressed as one message. */
    static char ten[10000];
    for (int k = 0; k < 10; k++) {
        ck_assert_ok(weft_ws_send_part(ws, WEFT_WS_TEXT, text, 1000, k == 9));
        memcpy(ten + k * 1000, text, 1000);
    }
    expect_msg(ws, WEFT_WS_TEXT, ten, sizeof ten);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    weft_ws_free(ws);
}

START_TEST(client_deflate) {
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.flags = WEFT_WS_DEFLATE;
    api_run(deflate_body);
    ck_assert_int_eq(echo_close_code, 1000);
}
END_TEST

static void protocols_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_connect_opts_t co = {.ws.protocols =
                                     (const char *[]){"v2.chat", "chat", NULL}};
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), &co));
    ck_assert_str_eq(weft_ws_protocol(ws), "v2.chat");
    weft_ws_free(ws);
    co.ws.protocols = (const char *[]){"other", NULL};
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), &co));
    ck_assert_ptr_null(weft_ws_protocol(ws));
    weft_ws_free(ws);
    /* The handshake fails: 404, and an http URL to a page. */
    weft_client_error_t e;
    co = (weft_ws_connect_opts_t){.error = &e};
    ck_assert_err(weft_ws_connect(&ws, sess, url(s, "/nowhere"), &co),
                  WEFT_EWS_HANDSHAKE);
    ck_assert_ptr_null(ws);
    ck_assert_int_eq(e.status, 404);
    ck_assert_msg(strstr(e.msg, "answered 404"), "%s", e.msg);
    ck_assert_err(weft_ws_connect(&ws, sess, "ftp://h/", NULL),
                  WEFT_ECLIENT_BAD_URL);
    co = (weft_ws_connect_opts_t){.headers =
                                      (const char *[]){"Upgrade", "x", NULL}};
    ck_assert_err(weft_ws_connect(&ws, sess, url(s, "/"), &co), -EINVAL);
}

START_TEST(subprotocols) {
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.protocols = (const char *[]){"chat", "v2.chat", NULL};
    logcap_start();
    api_run(protocols_body);
    ck_assert_logged(3, "header 'Upgrade' is the handshake's");
    logcap_stop();
}
END_TEST

static bool origin_ok(weft_web_request_t *req, const char *o, size_t n,
                      void *arg) {
    (void)req, (void)arg;
    return n == 18 && memcmp(o, "https://good.test", 17) == 0 && o[17] == 'x';
}

static void handshake_errors_body(struct ws_srv *s, weft_session_t *sess) {
    (void)sess;
    struct rawc c;
    rawc_open(&c, s->port, "/", "Origin: https://evil.test\r\n");
    ck_assert_int_eq(c.status, 403);
    rawc_close(&c);
    rawc_open(&c, s->port, "/", "Origin: https://good.testx\r\n");
    ck_assert_int_eq(c.status, 101);
    rawc_close(&c);
    /* Another version: 426 and the one we speak. */
    char p[16];
    snprintf(p, sizeof p, "%d", s->port);
    static const char *const bad[] = {
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 8\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: "
        "Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n",
    };
    static const char *const want[] = {"HTTP/1.1 426 ", "HTTP/1.1 400 ",
                                       "HTTP/1.1 400 ", "HTTP/1.1 400 "};
    for (size_t i = 0; i < 4; i++) {
        weft_stream_t *st;
        ck_assert_ok(weft_open_connection(&st, "127.0.0.1", p, NULL));
        ck_assert_ok(weft_stream_write(st, bad[i], strlen(bad[i])));
        char buf[2048];
        size_t got = 0;
        ssize_t n;
        while ((n = weft_stream_read(st, buf + got, sizeof buf - 1 - got)) > 0)
            got += (size_t)n;
        buf[got] = 0;
        weft_stream_close(st);
        ck_assert_msg(strncmp(buf, want[i], strlen(want[i])) == 0, "%zu: %s", i,
                      buf);
        if (i == 0)
            ck_assert(strstr(buf, "Sec-WebSocket-Version: 13\r\n"));
    }
}

START_TEST(handshake_errors) {
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.check_origin = origin_ok;
    api_run(handshake_errors_body);
}
END_TEST

static void server_closes_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_t *ws;
    weft_client_error_t e;
    weft_ws_connect_opts_t co = {.error = &e};
    int err = weft_ws_connect(&ws, sess, url(s, "/bye"), &co);
    ck_assert_msg(err == 0, "%s", e.msg);
    expect_msg(ws, WEFT_WS_TEXT, "bye", 3);
    weft_ws_msg_t m;
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, WEFT_WS_CLOSE);
    ck_assert_int_eq(m.code, 4001);
    ck_assert_uint_eq(m.len, 4);
    ck_assert(memcmp(m.data, "done", 4) == 0);
    ck_assert_err(weft_ws_receive(ws, &m), WEFT_EWS_CLOSED);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL)); /* waits for the TCP end */
    weft_ws_free(ws);
    /* A handler that just returns: close 1000 for it. */
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/quit"), NULL));
    expect_msg(ws, WEFT_WS_TEXT, "quit", 4);
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, WEFT_WS_CLOSE);
    ck_assert_int_eq(m.code, 1000);
    weft_ws_free(ws);
}

START_TEST(server_closes) {
    memset(&route_opts, 0, sizeof route_opts);
    api_run(server_closes_body);
    ck_assert_int_eq(route_err, 0); /* ws_bye's close completed */
}
END_TEST

static int shut_task(void *arg) {
    return weft_web_runner_shutdown(arg, 5);
}

/* A graceful shutdown: every socket gets 1001 and answers it. */
static int shutdown_main(void *arg) {
    (void)arg;
    memset(&echo_opts, 0, sizeof echo_opts);
    struct ws_srv s;
    ws_srv_start(&s, NULL);
    weft_session_t *sess;
    ck_assert_ok(weft_session_new(&sess, NULL));
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, url(&s, "/"), NULL));
    ck_assert_ok(weft_ws_send_text(ws, "x", 1));
    expect_msg(ws, WEFT_WS_TEXT, "x", 1);
    /* The shutdown runs in its own task; the client answers meanwhile. */
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, shut_task, s.run, NULL));
    weft_ws_msg_t m;
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, WEFT_WS_CLOSE);
    ck_assert_int_eq(m.code, 1001);
    ck_assert_uint_eq(m.len, strlen("server shutting down"));
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    weft_ws_free(ws);
    ck_assert_ok(weft_session_close(sess));
    weft_web_runner_free(s.run);
    ck_assert_ok(weft_web_app_free(s.app));
    return 0;
}

START_TEST(graceful_shutdown_1001) {
    ck_assert_ok(run_virtual(shutdown_main, NULL));
    ck_assert_int_eq(echo_close_code, 1001);
    ck_assert_int_eq(echo_err, 0);
}
END_TEST

/* ---- heartbeat ----------------------------------------------------------- */

static void heartbeat_body(struct ws_srv *s, weft_session_t *sess) {
    /* Our client answers pings by itself: the socket lives on. */
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), NULL));
    weft_ws_msg_t m;
    weft_scope_t sc;
    ck_assert_ok(weft_scope_enter(&sc, 10, 0));
    ck_assert_err(weft_ws_receive(ws, &m), -ETIMEDOUT); /* 10 quiet s */
    weft_scope_exit(&sc);
    ck_assert_ok(weft_ws_send_text(ws, "alive", 5));
    expect_msg(ws, WEFT_WS_TEXT, "alive", 5);
    weft_ws_free(ws);
    /* A raw client that never answers: a ping after 1 s, the end after
     * 0.5 s more. */
    struct rawc c;
    rawc_upgrade(&c, s->port, NULL);
    double t0 = now();
    struct rframe f;
    ck_assert_int_eq(rawc_recv(&c, &f), 0);
    ck_assert_uint_eq(f.op, WEFT_WS_PING);
    ck_assert_double_eq_tol(now() - t0, 1.0, 1e-6);
    ck_assert_int_eq(rawc_recv(&c, &f), -1); /* dropped, no close frame */
    ck_assert_double_eq_tol(now() - t0, 1.5, 1e-6);
    rawc_close(&c);
}

START_TEST(heartbeat) {
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.heartbeat = 1;
    api_run(heartbeat_body);
    ck_assert_int_eq(echo_err, WEFT_EWS_PONG_TIMEOUT);
}
END_TEST

/* ---- backpressure -------------------------------------------------------- */

static void flood_body(struct ws_srv *s, weft_session_t *sess) {
    (void)sess;
    struct rawc c;
    flood_max_queued = 0;
    rawc_open(&c, s->port, "/flood", NULL);
    ck_assert_int_eq(c.status, 101);
    /* Read nothing: the handler's sends wait, then time out. */
    weft_sleep(30);
    rawc_close(&c);
}

START_TEST(backpressure) {
    memset(&route_opts, 0, sizeof route_opts);
    route_opts.send_timeout = 5;
    api_run(flood_body);
    /* The queue never held more than the high-water mark and one message
     * (aiohttp #1367: a slow reader grew the server without bound). */
    ck_assert_uint_le(flood_max_queued, 64 * 1024 + 65536 + 16);
    ck_assert_int_lt(route_count, 200); /* the kernel's buffers, then none */
    ck_assert_err(route_err, -ETIMEDOUT);
}
END_TEST

/* ---- broadcast ----------------------------------------------------------- */

static void broadcast_body(struct ws_srv *s, weft_session_t *sess) {
    ngroup = 0;
    weft_ws_t *fast;
    ck_assert_ok(weft_ws_connect(&fast, sess, url(s, "/member"), NULL));
    struct rawc slow;
    rawc_open(&slow, s->port, "/member", NULL);
    ck_assert_int_eq(slow.status, 101);
    while (ngroup < 2)
        weft_yield();
    static uint8_t msg[16384];
    weft_ws_broadcast_opts_t o = {.policy = WEFT_WS_BROADCAST_SKIP,
                                  .max_queued = 100000};
    weft_ws_broadcast_stats_t st;
    size_t skipped = 0, sent_fast = 0;
    for (int i = 0; i < 400; i++) {
        ssize_t n = weft_ws_broadcast(group, 2, WEFT_WS_BINARY, msg, sizeof msg,
                                      &o, &st);
        ck_assert_int_ge(n, 1);
        skipped += st.skipped;
        sent_fast++;
        weft_ws_msg_t m;
        ck_assert_ok(weft_ws_receive(fast, &m)); /* the fast one keeps up */
        ck_assert_uint_eq(m.len, sizeof msg);
        ck_assert_uint_le(weft_ws_queued(group[1]), 100000 + sizeof msg + 16);
    }
    ck_assert_uint_gt(skipped, 100); /* the slow one missed messages */
    /* DROP: the slow one goes. */
    o.policy = WEFT_WS_BROADCAST_DROP;
    ssize_t n =
        weft_ws_broadcast(group, 2, WEFT_WS_BINARY, msg, sizeof msg, &o, &st);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(st.dropped, 1);
    while (group[1])
        weft_yield(); /* its handler saw WEFT_EWS_SLOW and returned */
    ck_assert_err(route_err, WEFT_EWS_SLOW);
    rawc_close(&slow);
    /* Bad arguments. */
    ck_assert_int_eq(
        weft_ws_broadcast(group, 1, WEFT_WS_TEXT, "\xff", 1, NULL, NULL),
        -EINVAL);
    ck_assert_int_eq(
        weft_ws_broadcast(group, 1, WEFT_WS_PING, "", 0, NULL, NULL), -EINVAL);
    weft_ws_msg_t m;
    ck_assert_ok(weft_ws_receive(fast, &m));
    ck_assert_ok(weft_ws_close(fast, 1000, NULL));
    weft_ws_free(fast);
}

static void hibernate_request_body(struct ws_srv *s, weft_session_t *sess) {
    (void)sess;
    static const char want[] = "alice|/hib/alice|tagged|x=1&y=2|6|X-Tag";
    struct rawc c;
    rawc_open(&c, s->port, "/hib/al%69ce?x=1&y=2", "X-Tag: tagged\r\n");
    ck_assert_int_eq(c.status, 101);
    for (int round = 0; round < 3; round++) {
        rawc_text(&c, "?");
        rawc_expect(&c, WEFT_WS_TEXT, want, sizeof want - 1);
        ck_assert_ok(weft_sleep(3)); /* idle: it hibernates */
        ck_assert_err(weft_task_hibernate(hib_task), -EALREADY);
    }
    rawc_close_frame(&c, 1000, NULL);
    ck_assert_int_eq(rawc_expect_close(&c, 1000), 1000);
    rawc_finish(&c);
    weft_task_release(hib_task);
    hib_task = NULL;
}

static void hibernate_ping_body(struct ws_srv *s, weft_session_t *sess) {
    (void)sess;
    struct rawc c;
    rawc_open(&c, s->port, "/hibping", NULL);
    ck_assert_int_eq(c.status, 101);
    ck_assert_ok(weft_sleep(2.5)); /* idle 2 s: it hibernates */
    ck_assert_err(weft_task_hibernate(hib_task), -EALREADY);
    struct rframe f;
    ck_assert_int_eq(rawc_recv(&c, &f), 0); /* the heartbeat's ping, at 3 s */
    ck_assert_uint_eq(f.op, WEFT_WS_PING);
    ck_assert_int_eq(rawc_recv(&c, &f), -1); /* no pong: dropped at 5 s */
    rawc_close(&c);
    weft_task_release(hib_task);
    hib_task = NULL;
}

START_TEST(a_hibernated_receiver_fails_on_a_missing_pong) {
    api_run(hibernate_ping_body);
    ck_assert_int_eq(route_err, WEFT_EWS_PONG_TIMEOUT);
}
END_TEST

START_TEST(a_hibernated_receiver_keeps_its_request) {
    api_run(hibernate_request_body);
    ck_assert_int_eq(route_err, 0);
}
END_TEST

START_TEST(broadcast) {
    memset(&route_opts, 0, sizeof route_opts);
    logcap_start();
    api_run(broadcast_body);
    logcap_stop();
}
END_TEST

/* ---- messages in parts, fragments, limits -------------------------------- */

static void parts_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_t *ws;
    weft_ws_connect_opts_t co = {.ws.frame_size = 4096};
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/parts"), &co));
    /* 1 MiB in frames of 4 KiB: the server reads it in pieces, never whole
     * (its max_message is 64 KiB). */
    static uint8_t big[1 << 20];
    ck_assert_ok(weft_ws_send_binary(ws, big, sizeof big));
    expect_msg(ws, WEFT_WS_TEXT, "1048576", 7);
    ck_assert_int_ge(route_count, 256);
    /* A message in parts from this side, and another task's message that
     * waits for it to end. */
    ck_assert_ok(weft_ws_send_part(ws, WEFT_WS_TEXT, "ab", 2, false));
    ck_assert_err(weft_ws_send_part(ws, WEFT_WS_BINARY, "x", 1, false),
                  -EINVAL);
    ck_assert_ok(weft_ws_send_part(ws, WEFT_WS_TEXT, "\xce", 1, false));
    ck_assert_ok(weft_ws_send_part(ws, WEFT_WS_TEXT, "\xba", 1, true));
    expect_msg(ws, WEFT_WS_TEXT, "4", 1);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    weft_ws_free(ws);
}

START_TEST(parts_and_fragments) {
    memset(&route_opts, 0, sizeof route_opts);
    route_opts.max_message = 65536;
    logcap_start();
    api_run(parts_body);
    ck_assert_logged(1, "in the middle of a message");
    logcap_stop();
}
END_TEST

static void parts_deflate_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_t *ws;
    weft_ws_connect_opts_t co = {.ws.flags = WEFT_WS_DEFLATE};
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/parts"), &co));
    ck_assert(weft_ws_compressed(ws));
    /* 4 MiB of zeros: a few KiB on the wire; the server's pieces are
     * bounded by its 16 KiB output buffer. */
    static uint8_t big[4 << 20];
    ck_assert_ok(weft_ws_send_binary(ws, big, sizeof big));
    expect_msg(ws, WEFT_WS_TEXT, "4194304", 7);
    ck_assert_int_ge(route_count, 256);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    weft_ws_free(ws);
}

START_TEST(parts_deflate) {
    memset(&route_opts, 0, sizeof route_opts);
    route_opts.flags = WEFT_WS_DEFLATE;
    api_run(parts_deflate_body);
}
END_TEST

static void too_big_body(struct ws_srv *s, weft_session_t *sess) {
    weft_ws_t *ws;
    weft_ws_connect_opts_t co = {.ws.flags = WEFT_WS_DEFLATE};
    static uint8_t big[300000];
    /* Plain: refused at the frame's header (1009). */
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), &co));
    weft_ws_msg_t m;
    ck_assert_ok(weft_ws_send_binary(ws, big, 100000));
    expect_msg(ws, WEFT_WS_BINARY, big, 100000);
    ck_assert_ok(weft_ws_send_text(ws, (const char *)big, sizeof big));
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, WEFT_WS_CLOSE);
    ck_assert_int_eq(m.code, 1009);
    weft_ws_free(ws);
    /* Compressed: 300 KB of zeros is 300 bytes on the wire, refused as it
     * inflates (a zip bomb costs the server max_message, no more). */
    ck_assert_ok(weft_ws_connect(&ws, sess, url(s, "/"), &co));
    ck_assert_ok(weft_ws_send_binary(ws, big, sizeof big));
    ck_assert_ok(weft_ws_receive(ws, &m));
    ck_assert_int_eq(m.type, WEFT_WS_CLOSE);
    ck_assert_int_eq(m.code, 1009);
    weft_ws_free(ws);
}

START_TEST(max_message_1009) {
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.max_message = 200000;
    echo_opts.flags = WEFT_WS_DEFLATE;
    api_run(too_big_body);
    ck_assert_err(echo_err, WEFT_EWS_TOO_BIG);
}
END_TEST

/* ---- over a stream pair -------------------------------------------------- */

static int pair_peer(void *arg) {
    weft_ws_t *ws = arg;
    weft_ws_msg_t m;
    int err;
    while ((err = weft_ws_receive(ws, &m)) == 0 && m.type != WEFT_WS_CLOSE)
        weft_ws_send(ws, m.type, m.data, m.len);
    return err;
}

static int pair_main(void *arg) {
    unsigned flags = *(unsigned *)arg;
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    weft_ws_t *cl, *sv;
    weft_ws_opts_t o = {.deflate.client_no_context_takeover = true};
    ck_assert_ok(weft_ws_wrap(&cl, a, flags | WEFT_WS_WRAP_CLIENT, &o));
    ck_assert_ok(weft_ws_wrap(&sv, b, flags, &o));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, pair_peer, sv, NULL));
    /* Two receivers at once: the second is refused. */
    weft_task_t *t2;
    ck_assert_ok(weft_spawn(&t2, pair_peer, sv, NULL));
    logcap_start();
    ck_assert_err(weft_join(t2), -EBUSY);
    logcap_stop();
    weft_task_release(t2);
    for (size_t n = 1; n < 70000; n = n * 3 + 1) {
        static char buf[70000];
        memset(buf, 'a' + (int)(n % 26), n);
        ck_assert_ok(weft_ws_send_text(cl, buf, n));
        expect_msg(cl, WEFT_WS_TEXT, buf, n);
    }
    ck_assert_ok(weft_ws_close(cl, 1000, NULL));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    ck_assert_int_eq(weft_ws_close_code(sv), 1000);
    weft_ws_free(cl);
    weft_ws_free(sv);
    return 0;
}

START_TEST(wrapped_pair) {
    unsigned flags = 0;
    ck_assert_ok(run_virtual(pair_main, &flags));
    flags = WEFT_WS_WRAP_DEFLATE;
    ck_assert_ok(run_virtual(pair_main, &flags));
}
END_TEST

/* WEFT_WS_HIBERNATE: a receiver idle for 2 s hibernates (weft/task.h) and
 * answers the next message as before. */
static int hibernate_main(void *arg) {
    (void)arg;
    weft_stream_t *a, *b;
    ck_assert_ok(weft_stream_pair(weft_loop_current(), &a, &b, NULL));
    weft_ws_t *cl, *sv;
    weft_ws_opts_t o = {.flags = WEFT_WS_HIBERNATE};
    ck_assert_ok(weft_ws_wrap(&cl, a, WEFT_WS_WRAP_CLIENT, &o));
    ck_assert_ok(weft_ws_wrap(&sv, b, 0, &o));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, pair_peer, sv, NULL));
    for (int round = 0; round < 2; round++) {
        ck_assert_ok(weft_ws_send_text(cl, "hi", 2));
        expect_msg(cl, WEFT_WS_TEXT, "hi", 2);
        ck_assert_ok(weft_sleep(3)); /* idle: it hibernates */
        ck_assert_err(weft_task_hibernate(t), -EALREADY);
    }
    ck_assert_ok(weft_ws_send_text(cl, "again", 5));
    expect_msg(cl, WEFT_WS_TEXT, "again", 5);
    ck_assert_ok(weft_ws_close(cl, 1000, NULL));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    weft_ws_free(cl);
    weft_ws_free(sv);
    return 0;
}

START_TEST(an_idle_receiver_hibernates) {
    ck_assert_ok(run_virtual(hibernate_main, NULL));
}
END_TEST

/* ---- our client against a server that breaks the rules ------------------- */

static const uint8_t *evil_frame;
static size_t evil_len;

/* A raw server: answers any upgrade, then sends evil_frame. */
static int evil_conn(weft_stream_t *s, void *arg) {
    (void)arg;
    if (raw_accept(s) < 0)
        return 0;
    weft_stream_write(s, evil_frame, evil_len);
    char buf[256];
    while (weft_stream_read(s, buf, sizeof buf) > 0) {
    }
    return 0;
}

static int evil_main(void *arg) {
    int *close_code = arg;
    weft_server_t *srv;
    ck_assert_ok(weft_start_server(weft_loop_current(), &srv, "127.0.0.1", "0",
                                   evil_conn, NULL, NULL));
    char u[64];
    snprintf(u, sizeof u, "ws://127.0.0.1:%d/", weft_server_port(srv));
    weft_session_t *sess;
    ck_assert_ok(weft_session_new(&sess, NULL));
    weft_ws_t *ws;
    ck_assert_ok(weft_ws_connect(&ws, sess, u, NULL));
    weft_ws_msg_t m;
    int err = weft_ws_receive(ws, &m);
    *close_code = err;
    weft_ws_free(ws);
    ck_assert_ok(weft_session_close(sess));
    ck_assert_ok(weft_server_close(srv, 1));
    return 0;
}

START_TEST(client_refuses_bad_frames) {
    uint8_t f[64];
    int err;
    /* A masked frame from a server. */
    evil_len = frame_make(f, true, 0, WEFT_WS_TEXT, "x", 1, true);
    evil_frame = f;
    ck_assert_ok(run_virtual(evil_main, &err));
    ck_assert_err(err, WEFT_EWS_PROTOCOL);
    /* RSV1 without an agreed extension. */
    evil_len = frame_make(f, true, 4, WEFT_WS_TEXT, "x", 1, false);
    ck_assert_ok(run_virtual(evil_main, &err));
    ck_assert_err(err, WEFT_EWS_PROTOCOL);
    /* Text that is not UTF-8. */
    evil_len = frame_make(f, true, 0, WEFT_WS_TEXT, "\xc0\xaf", 2, false);
    ck_assert_ok(run_virtual(evil_main, &err));
    ck_assert_err(err, WEFT_EWS_BAD_UTF8);
}
END_TEST

/* ---- wss: TLS through the session ------------------------------------------ */

static char cert_dir[64];

static const char *cert(const char *name) {
    static char path[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/%s", cert_dir, name);
    return path[i];
}

static int wss_main(void *arg) {
    (void)arg;
    memset(&echo_opts, 0, sizeof echo_opts);
    echo_opts.flags = WEFT_WS_DEFLATE;
    weft_tls_ctx_t *sctx;
    ck_assert_ok(
        weft_web_tls_ctx(&sctx, cert("server.crt"), cert("server.key")));
    weft_web_app_t *app;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/", ws_echo, NULL, NULL));
    weft_web_runner_t *run;
    ck_assert_ok(weft_web_runner_new(&run, app, NULL));
    ck_assert_ok(weft_web_runner_setup(run));
    weft_web_listen_opts_t lo = {.tls = sctx};
    ck_assert_ok(weft_web_runner_listen(run, "127.0.0.1", "0", &lo));
    char u[64];
    snprintf(u, sizeof u, "wss://localhost:%d/", weft_web_runner_port(run));
    weft_session_t *sess;
    weft_session_opts_t so = {.ca_file = cert("ca.crt")};
    ck_assert_ok(weft_session_new(&sess, &so));
    weft_ws_t *ws;
    weft_ws_connect_opts_t co = {.ws.flags = WEFT_WS_DEFLATE};
    ck_assert_ok(weft_ws_connect(&ws, sess, u, &co));
    ck_assert(weft_ws_compressed(ws));
    static char big[100000];
    memset(big, 'w', sizeof big);
    ck_assert_ok(weft_ws_send_text(ws, big, sizeof big));
    expect_msg(ws, WEFT_WS_TEXT, big, sizeof big);
    ck_assert_ok(weft_ws_close(ws, 1000, NULL));
    weft_ws_free(ws);
    /* An untrusted certificate fails the handshake with the TLS error. */
    weft_session_t *plain;
    ck_assert_ok(weft_session_new(&plain, NULL));
    ck_assert_err(weft_ws_connect(&ws, plain, u, NULL), WEFT_ETLS_UNTRUSTED);
    ck_assert_ok(weft_session_close(plain));
    ck_assert_ok(weft_session_close(sess));
    ck_assert_ok(weft_web_runner_shutdown(run, 5));
    weft_web_runner_free(run);
    ck_assert_ok(weft_web_app_free(app));
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(wss) {
    snprintf(cert_dir, sizeof cert_dir, "/tmp/weft-ws-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cert_dir));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s %s", MAKE_CERTS, cert_dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_ok(run_virtual(wss_main, NULL));
    snprintf(cmd, sizeof cmd, "rm -rf %s", cert_dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(echo_close_code, 1000);
}
END_TEST

static Suite *ws_suite(void) {
    Suite *s = suite_create("ws");
    TCase *tc = tcase_create("frames");
    tcase_add_test(tc, header_round_trip);
    tcase_add_test(tc, mask_widths_agree);
    tcase_add_test(tc, utf8_rules);
    tcase_add_test(tc, close_payloads);
    tcase_add_test(tc, rx_any_split);
    tcase_add_test(tc, rx_rules);
    tcase_add_test(tc, pmd_negotiation);
    tcase_add_test(tc, pmd_streams);
    tcase_add_test(tc, accept_key);
    suite_add_tcase(s, tc);
    tc = tcase_create("server");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, echo_raw);
    tcase_add_test(tc, client_echo);
    tcase_add_test(tc, client_deflate);
    tcase_add_test(tc, subprotocols);
    tcase_add_test(tc, handshake_errors);
    tcase_add_test(tc, server_closes);
    tcase_add_test(tc, graceful_shutdown_1001);
    tcase_add_test(tc, heartbeat);
    tcase_add_test(tc, backpressure);
    tcase_add_test(tc, broadcast);
    tcase_add_test(tc, a_hibernated_receiver_keeps_its_request);
    tcase_add_test(tc, a_hibernated_receiver_fails_on_a_missing_pong);
    tcase_add_test(tc, parts_and_fragments);
    tcase_add_test(tc, parts_deflate);
    tcase_add_test(tc, max_message_1009);
    tcase_add_test(tc, wrapped_pair);
    tcase_add_test(tc, an_idle_receiver_hibernates);
    tcase_add_test(tc, client_refuses_bad_frames);
    tcase_add_test(tc, wss);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(ws_suite)
