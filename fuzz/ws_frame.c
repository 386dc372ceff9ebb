/* libFuzzer target: the WebSocket frame layer (src/http/ws_frame.c).
 *
 * Input: one byte of settings (bit 0: the receiver is a server and wants
 * masked frames; bit 1: permessage-deflate was agreed, RSV1 allowed;
 * bits 2-7: a seed for piece sizes), then bytes off the wire. They are fed
 * to the receive state machine three ways, whole, one byte at a time, and
 * in pieces whose sizes come from the seed; all three must see the same
 * events (kinds, opcodes, flags, close codes), the same bytes of every
 * message and control frame, and fail at the same frame. Besides: the
 * wide masking loops equal the byte loop, the incremental UTF-8 check
 * equals the whole one wherever the input is cut, a parsed header written
 * back parses to the same fields, and close payloads parse without
 * crashing (a valid one has a valid code and a UTF-8 reason). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http/ws_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct digest {
    uint64_t h;
    size_t events;
    int verdict; /* 0 still going, 1002 failed */
};

static void mix(struct digest *d, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 0x100000001b3ull;
}

/* DATA pieces may be cut anywhere: what counts is a message's start
 * (opcode, RSV1), its bytes, and its end. */
static void event(struct digest *d, const struct weft__ws_ev *ev) {
    if (ev->kind == WS_EV_DATA) {
        if (ev->first) {
            uint8_t tag[3] = {'S', (uint8_t)ev->op, ev->z};
            mix(d, tag, sizeof tag);
            d->events++;
        }
        mix(d, ev->data, ev->len);
        if (ev->fin) {
            mix(d, "E", 1);
            d->events++;
        }
        return;
    }
    uint8_t tag[3] = {(uint8_t)ev->kind, (uint8_t)ev->op,
                      (uint8_t)(ev->kind == WS_EV_ERROR ? ev->code : 0)};
    mix(d, tag, sizeof tag);
    if (ev->kind == WS_EV_CONTROL)
        mix(d, ev->data, ev->len);
    d->events++;
}

static void feed(const uint8_t *wire, size_t n, bool server, bool deflate,
                 unsigned seed, int mode, struct digest *d) {
    static uint8_t buf[1 << 16];
    memcpy(buf, wire, n);
    struct weft__ws_rx rx;
    weft__ws_rx_init(&rx, server, deflate);
    size_t at = 0, have = 0;
    uint32_t x = seed * 2654435761u + 7;
    memset(d, 0, sizeof *d);
    while (at < n) {
        if (have <= at || mode == 1) {
            size_t step = mode == 0 ? n : mode == 1 ? 1 : 1 + (x >> 24) % 97;
            x = x * 1103515245u + 12345u;
            have = have + step > n ? n : have + step;
        }
        struct weft__ws_ev ev;
        size_t used = weft__ws_rx_feed(&rx, buf + at, have - at, &ev);
        CHECK(used <= have - at);
        at += used;
        if (ev.kind == WS_EV_NONE) {
            CHECK(rx.need > 0);
            if (have == n)
                break; /* the input ends inside a frame */
            if (have - at < rx.need)
                have = at + rx.need > n ? n : at + rx.need;
            continue;
        }
        if (ev.kind == WS_EV_DATA)
            CHECK(ev.data >= buf && ev.data + ev.len <= buf + have);
        if (ev.kind == WS_EV_CONTROL) {
            CHECK(ev.len <= WS_MAX_CONTROL);
            CHECK(ev.op >= 8 && ev.op <= 10);
        }
        event(d, &ev);
        if (ev.kind == WS_EV_ERROR) {
            CHECK(ev.code == 1002 && ev.why);
            d->verdict = 1002;
            break;
        }
    }
}

static void masks(const uint8_t *p, size_t n, unsigned off) {
    static uint8_t a[4096], b[4096];
    if (n < 4)
        return;
    size_t m = n - 4 > sizeof a ? sizeof a : n - 4;
    unsigned pa = weft__ws_mask(a, p + 4, m, p, off);
    unsigned pb = weft__ws_mask_bytewise(b, p + 4, m, p, off);
    CHECK(pa == pb && memcmp(a, b, m) == 0);
}

static void utf8(const uint8_t *p, size_t n, unsigned cut) {
    bool whole = weft__utf8_valid(p, n);
    struct weft__utf8 u = {0, 0x80, 0xbf};
    size_t c = n ? cut % (n + 1) : 0;
    bool ok = weft__utf8_feed(&u, p, c) == c &&
              weft__utf8_feed(&u, p + c, n - c) == n - c &&
              weft__utf8_done(&u);
    CHECK(ok == whole);
}

static void header(const uint8_t *p, size_t n) {
    struct weft__ws_hdr h, g;
    size_t need;
    int hl = weft__ws_parse_header(p, n, &h, &need);
    if (hl <= 0)
        return;
    uint8_t out[WS_MAX_HEADER];
    size_t k = weft__ws_write_header(out, h.fin, h.rsv, h.op, h.len,
                                     h.masked ? h.key : NULL);
    CHECK(weft__ws_parse_header(out, k, &g, &need) == (int)k);
    CHECK(g.fin == h.fin && g.rsv == h.rsv && g.op == h.op &&
          g.masked == h.masked && g.len == h.len);
    CHECK(!h.masked || memcmp(g.key, h.key, 4) == 0);
    CHECK(k <= (size_t)hl); /* ours is minimal */
}

static void close_payload(const uint8_t *p, size_t n) {
    int code = 0;
    int bad = weft__ws_close_parse(p, n > 125 ? 125 : n, &code);
    if (!bad)
        CHECK(code == 1005 || weft_ws_close_code_valid(code));
    else
        CHECK(bad == 1002 || bad == 1007);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1 || size > 65536)
        return 0;
    bool server = data[0] & 1, deflate = data[0] & 2;
    unsigned seed = data[0] >> 2;
    const uint8_t *wire = data + 1;
    size_t n = size - 1;
    struct digest a, b, c;
    feed(wire, n, server, deflate, seed, 0, &a);
    feed(wire, n, server, deflate, seed, 1, &b);
    feed(wire, n, server, deflate, seed, 2, &c);
    CHECK(a.h == b.h && a.events == b.events && a.verdict == b.verdict);
    CHECK(a.h == c.h && a.events == c.events && a.verdict == c.verdict);
    masks(wire, n, seed & 3);
    utf8(wire, n, seed * 31);
    header(wire, n);
    close_payload(wire, n);
    return 0;
}
