/* libFuzzer target: permessage-deflate (src/http/ws_deflate.c).
 *
 * Input: one byte of settings (bits 0-2: a window of 9..15 bits; bit 3:
 * no context takeover; bits 4-7: a seed for piece sizes), then data used
 * three ways:
 *   - as compressed bytes off the wire: inflated in pieces of two
 *     different sizes, into output pieces of two different sizes, under a
 *     limit of 64 KiB; both must agree on the output and the verdict, and
 *     no output piece may pass its buffer;
 *   - as a message: deflated in pieces (sync flushes between them), then
 *     inflated: the same bytes come back, twice in a row (the second time
 *     through the window the first left, unless no context takeover);
 *   - as the value of Sec-WebSocket-Extensions: the server's choice never
 *     crashes, and an answer it writes is one weft's client accepts, with
 *     the same parameters. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "http/ws_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define LIMIT 65536

/* Inflate wire[0..n) as one message; returns the output length, or -1
 * when it fails or passes LIMIT. */
static long inflate_all(const uint8_t *wire, size_t n, int wbits,
                        size_t in_step, size_t out_step, uint64_t *hash) {
    static uint8_t out[LIMIT + 4096];
    struct weft__ws_z z;
    weft__ws_z_init(&z, false, wbits, 0, 0, false);
    size_t at = 0, got = 0;
    bool done = false;
    long r = 0;
    *hash = 1469598103934665603ull;
    while (!done) {
        size_t piece = n - at < in_step ? n - at : in_step;
        size_t used = piece;
        bool fin = at + piece == n;
        size_t cap = sizeof out - got < out_step ? sizeof out - got : out_step;
        ssize_t k = weft__ws_inflate(&z, wire + at, &used, fin, out + got,
                                     cap, &done);
        if (k < 0) {
            r = -1;
            break;
        }
        CHECK((size_t)k <= cap && used <= piece);
        for (ssize_t i = 0; i < k; i++)
            *hash = (*hash ^ out[got + (size_t)i]) * 0x100000001b3ull;
        got += (size_t)k;
        at += used;
        if (got > LIMIT) {
            r = -1;
            break;
        }
        if (!done && k == 0 && used == 0 && !fin)
            CHECK(0); /* no progress although input was left */
    }
    weft__ws_z_free(&z);
    return r < 0 ? r : (long)got;
}

static void round_trip(const uint8_t *msg, size_t n, int wbits, bool nct,
                       unsigned seed) {
    struct weft__ws_z d, i;
    weft__ws_z_init(&d, true, wbits, 1 + seed % 9, 1 + seed % 9, nct);
    weft__ws_z_init(&i, false, wbits, 0, 0, nct);
    static uint8_t back[70000];
    for (int round = 0; round < 2; round++) {
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        size_t step = 1 + (seed * 131u + (unsigned)round) % (n + 1);
        for (size_t at = 0;;) {
            size_t k = n - at < step ? n - at : step;
            CHECK(weft__ws_deflate(&d, msg + at, k, at + k == n, &buf, &len,
                                   &cap) == 0);
            at += k;
            if (at == n)
                break;
        }
        size_t used = len, got = 0;
        bool done = false;
        const uint8_t *in = buf;
        while (!done) {
            ssize_t k = weft__ws_inflate(&i, in, &used, true, back + got,
                                         sizeof back - got, &done);
            CHECK(k >= 0);
            got += (size_t)k;
            in += used;
            used = len - (size_t)(in - buf);
        }
        CHECK(got == n && memcmp(back, msg, n) == 0);
        weft__free(buf);
    }
    weft__ws_z_free(&d);
    weft__ws_z_free(&i);
}

static void negotiate(const uint8_t *p, size_t n) {
    char value[512];
    if (n >= sizeof value)
        n = sizeof value - 1;
    memcpy(value, p, n);
    value[n] = 0;
    weft_http_field_t f = {{"Sec-WebSocket-Extensions", 24}, {value, n}};
    weft_ws_deflate_opts_t so = {0};
    struct weft__ws_pmd a, b;
    char answer[256];
    ssize_t k = weft__ws_pmd_accept(&f, 1, &so, &a, answer, sizeof answer);
    CHECK(k >= 0);
    if (!a.on)
        return;
    CHECK(a.server_wbits >= 8 && a.server_wbits <= 15);
    CHECK(a.client_wbits >= 8 && a.client_wbits <= 15);
    weft_http_field_t g = {{"Sec-WebSocket-Extensions", 24},
                           {answer, (size_t)k}};
    weft_ws_deflate_opts_t co = {0};
    CHECK(weft__ws_pmd_check(&g, 1, &co, &b) == 0);
    CHECK(b.on && b.server_nct == a.server_nct &&
          b.server_wbits == a.server_wbits);
    CHECK(b.client_wbits == a.client_wbits);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 1 || size > 65536)
        return 0;
    int wbits = 9 + data[0] % 7;
    bool nct = data[0] & 8;
    unsigned seed = data[0] >> 4;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    uint64_t h1, h2;
    long a = inflate_all(p, n, 15, n ? n : 1, 70000, &h1);
    long b = inflate_all(p, n, 15, 1 + seed * 7, 1 + seed * 13, &h2);
    CHECK(a == b && (a < 0 || h1 == h2));
    round_trip(p, n, wbits, nct, seed);
    negotiate(p, n);
    return 0;
}
