/* bench/ws_frame: the WebSocket frame layer alone (src/http/ws_frame.c):
 * unmasking a byte at a time against the wide loop (16 bytes a step with
 * SSE2 on x86-64, 8 elsewhere), the UTF-8 check, and whole masked frames
 * through the receive state machine (header, rules, unmask).
 *
 * Usage: ws_frame [SECONDS]   (default 0.5 s a row; best of 5)
 * Ends with RESULT lines: GB/s of the wide mask for 16 KiB payloads and
 * its speed-up over the byte loop, and ns per 64-byte frame parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "http/ws_int.h"

static volatile uint8_t sink;

typedef void (*op_fn)(uint8_t *buf, size_t n);

static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

static void mask_bytes(uint8_t *b, size_t n) {
    weft__ws_mask_bytewise(b, b, n, key, 1);
}

static void mask_wide(uint8_t *b, size_t n) {
    weft__ws_mask(b, b, n, key, 1);
}

static void utf8(uint8_t *b, size_t n) {
    sink = weft__utf8_valid(b, n);
}

/* Best of 5 rounds of `secs`: nanoseconds per call. */
static double time_op(op_fn fn, uint8_t *buf, size_t n, double secs) {
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        uint64_t calls = 0, t0 = bench_now_ns(), t;
        do {
            for (int i = 0; i < 64; i++)
                fn(buf, n);
            calls += 64;
            t = bench_now_ns();
        } while ((double)(t - t0) < secs * 1e9);
        double ns = (double)(t - t0) / (double)calls;
        if (ns < best)
            best = ns;
    }
    sink = buf[0];
    return best;
}

/* 1000 masked 64-byte binary frames through the receiver. */
static uint8_t frames[1000 * (64 + 6)];
static uint8_t work[sizeof frames];

static void parse_frames(uint8_t *b, size_t n) {
    (void)b;
    memcpy(work, frames, n);
    struct weft__ws_rx rx;
    weft__ws_rx_init(&rx, true, false);
    size_t at = 0;
    while (at < n) {
        struct weft__ws_ev ev;
        at += weft__ws_rx_feed(&rx, work + at, n - at, &ev);
        if (ev.kind == WS_EV_DATA)
            sink = ev.data[0];
    }
}

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 0.5;
    if (secs <= 0) {
        fputs("usage: ws_frame [SECONDS]\n", stderr);
        return 2;
    }
    static uint8_t buf[16384];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)('a' + i % 26);
    printf("%-26s %10s %10s %9s\n", "operation", "bytes", "ns/call", "GB/s");
    static const size_t sizes[] = {64, 1024, 16384};
    double wide16k = 0, ratio16k = 0;
    for (size_t i = 0; i < 3; i++) {
        size_t n = sizes[i];
        double b = time_op(mask_bytes, buf, n, secs);
        double w = time_op(mask_wide, buf, n, secs);
        double u = time_op(utf8, buf, n, secs);
        printf("%-26s %10zu %10.1f %9.2f\n", "unmask, byte at a time", n, b,
               (double)n / b);
        printf("%-26s %10zu %10.1f %9.2f\n", "unmask, wide", n, w,
               (double)n / w);
        printf("%-26s %10zu %10.1f %9.2f\n", "UTF-8 check (ASCII)", n, u,
               (double)n / u);
        if (n == 16384) {
            wide16k = (double)n / w;
            ratio16k = b / w;
        }
    }
    size_t len = 0;
    for (int i = 0; i < 1000; i++)
        len += weft__ws_write_header(frames + len, true, 0, WEFT_WS_BINARY,
                                     64, key) +
               64;
    double p = time_op(parse_frames, work, len, secs) / 1000;
    printf("%-26s %10d %10.1f\n", "frame parsed (rx_feed)", 64, p);
    printf("\nRESULT ws_frame mask_16k %.2f GB/s\n", wide16k);
    printf("RESULT ws_frame mask_speedup_16k %.1f x\n", ratio16k);
    printf("RESULT ws_frame parse_64b_frame %.1f ns\n", p);
    return 0;
}
