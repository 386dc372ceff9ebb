/* libFuzzer target: the streaming multipart parser (src/http/multipart.c).
 * Input: a boundary, '\n', then the body. The body is parsed three times,
 * whole, one byte at a time, and in pieces of sizes taken from the input;
 * besides the sanitizers' findings, the three must agree on every event,
 * every byte of part data and the verdict (the parser keeps state across
 * pieces, which is where a streaming parser goes wrong). */
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

struct digest {
    uint64_t h;
    size_t events, bytes;
    int verdict;
};

static void mix(struct digest *d, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        d->h = (d->h ^ b[i]) * 0x100000001b3ull;
}

static void parse(const char *boundary, size_t blen, const char *body,
                  size_t len, size_t step, const unsigned char *sizes,
                  size_t nsizes, struct digest *d) {
    static char hbuf[512];
    static weft_http_field_t fields[8];
    struct weft__mp mp;
    memset(d, 0, sizeof *d);
    d->h = 0xcbf29ce484222325ull;
    if (weft__mp_init(&mp, boundary, blen, hbuf, sizeof hbuf, fields, 8,
                      16) < 0) {
        d->verdict = 1;
        return;
    }
    size_t off = 0, k = 0;
    while (off < len) {
        size_t n = step ? step : (nsizes ? (size_t)sizes[k++ % nsizes] + 1 : len);
        if (n > len - off)
            n = len - off;
        const char *p = body + off;
        size_t left = n;
        for (;;) {
            int ev;
            weft_span_t s;
            ssize_t r = weft__mp_feed(&mp, p, left, &ev, &s);
            if (r < 0) {
                d->verdict = (int)r;
                return;
            }
            if ((size_t)r > left)
                abort();
            p += r, left -= (size_t)r;
            if (ev == WEFT__MP_NEED) {
                if (left)
                    abort();
                break;
            }
            /* Data is counted as bytes (its pieces may differ); other
             * events are mixed in with a marker. */
            if (ev == WEFT__MP_DATA) {
                if (s.len == 0)
                    abort();
                mix(d, s.ptr, s.len);
                d->bytes += s.len;
                continue;
            }
            d->events++;
            unsigned char m = (unsigned char)(0xf0 | ev);
            mix(d, &m, 1);
            if (ev == WEFT__MP_HEAD)
                for (size_t i = 0; i < mp.nfields; i++) {
                    mix(d, fields[i].name.ptr, fields[i].name.len);
                    mix(d, ":", 1);
                    mix(d, fields[i].value.ptr, fields[i].value.len);
                }
        }
        off += n;
    }
    d->verdict = weft__mp_eof(&mp);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    const unsigned char *nl = memchr(data, '\n', size < 72 ? size : 72);
    if (!nl)
        return 0;
    const char *boundary = (const char *)data;
    size_t blen = (size_t)(nl - data);
    const char *body = (const char *)nl + 1;
    size_t len = size - blen - 1;
    struct digest whole, bytes, pieces;
    parse(boundary, blen, body, len, 0, NULL, 0, &whole);
    parse(boundary, blen, body, len, 1, NULL, 0, &bytes);
    parse(boundary, blen, body, len, 0, data, size, &pieces);
    /* A failure may be found at a different event depending on the
     * pieces (the data before it was passed on or not); the verdict and,
     * on success, everything else must agree. */
    if (whole.verdict != bytes.verdict || whole.verdict != pieces.verdict)
        abort();
    if (whole.verdict == 0 &&
        (whole.h != bytes.h || whole.h != pieces.h ||
         whole.events != bytes.events || whole.bytes != pieces.bytes))
        abort();
    return 0;
}
