/* WebSockets (weft/ws.h): the pure layers (frames, masks, UTF-8, close
 * payloads, permessage-deflate's negotiation and streams) and the API over
 * loopback on a virtual clock: handshakes (server and client), messages
 * whole and in parts, the closing handshake from either side, heartbeats,
 * backpressure, broadcast, a graceful server shutdown. The Autobahn-shaped
 * conformance suite is test_ws_autobahn.c. */
#include <zlib.h>

#include "ws_support.h"

/* ---- frames ------------------------------------------------------------------------ */

START_TEST(header_round_trip) {
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536,
                                    UINT64_C(1) << 32, (UINT64_C(1) << 63) - 1};
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
        {"\xc0\xaf", false},        /* overlong '/' */
        {"\xc1\xbf", false},
        {"\xe0\x80\xaf", false},    /* overlong */
        {"\xe0\x9f\xbf", false},
        {"\xed\xa0\x80", false},    /* U+D800 */
        {"\xed\xbf\xbf", false},    /* U+DFFF */
        {"\xf0\x8f\xbf\xbf", false},/* overlong */
        {"\xf4\x90\x80\x80", false},/* U+110000 */
        {"\xf5\x80\x80\x80", false},
        {"\xfe", false},
        {"\xff", false},
        {"\xc2", false},            /* cut short */
        {"\xe1\x80", false},
        {"\xf1\x80\x80", false},
        {"a\xc2" "b", false},
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
    ck_assert_int_eq(weft__ws_close_parse((const uint8_t *)"\x03\xe8ok", 4,
                                          &code),
                     0);
    ck_assert_int_eq(code, 1000);
    ck_assert_int_eq(
        weft__ws_close_parse((const uint8_t *)"\x03\xe8\xff", 3, &code), 1007);
    static const int valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                1010, 1011, 1012, 1013, 1014, 3000, 3999,
                                4000, 4999};
    static const int invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016,
                                  1100, 2000, 2999, 5000, 65535};
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
        ck_assert_msg(ev.kind == WS_EV_ERROR && ev.code == 1002, "case %zu",
                      i);
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

/* ---- permessage-deflate ------------------------------------------------------------- */

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
        ck_assert_int_eq(weft__ws_pmd_accept(f, 1, &o, &a, buf, sizeof buf),
                         0);
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
            ssize_t k = weft__ws_inflate(&inf, buf + at, &used, fin,
                                         out + got, 100, &done);
            ck_assert_int_ge(k, 0);
            got += (size_t)k;
            at += used;
        }
        ck_assert_uint_eq(got, sizeof msg);
        ck_assert(memcmp(out, msg, sizeof msg) == 0);
    }
    /* Garbage does not inflate. */
    struct weft__ws_z bad;
    weft__ws_z_init(&bad, false, 15, 0, 0, false);
    uint8_t junk[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t out[64];
    size_t used = sizeof junk;
    bool done;
    ck_assert_int_eq(weft__ws_inflate(&bad, junk, &used, true, out,
                                      sizeof out, &done),
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

/* ---- the server, raw ---------------------------------------------------------------- */

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
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(ws_suite)
