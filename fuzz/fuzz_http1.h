/* Shared by the HTTP/1.1 fuzz targets: the properties every parsed head
 * must have, checked independently of the parser (a failed check traps,
 * which libFuzzer reports as a crash with its input). */
#ifndef WEFT_FUZZ_HTTP1_H
#define WEFT_FUZZ_HTTP1_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <weft/http1.h>

#include "../src/http/http_int.h"

#define CHECK(x)                                                               \
    do {                                                                       \
        if (!(x))                                                              \
            __builtin_trap();                                                  \
    } while (0)

static inline bool in_buf(weft_span_t s, const char *buf, size_t len) {
    return s.len == 0 || (s.ptr >= buf && s.ptr + s.len <= buf + len);
}

static inline bool all_of(weft_span_t s, unsigned cls) {
    for (size_t i = 0; i < s.len; i++)
        if (!weft__http_is((unsigned char)s.ptr[i], cls))
            return false;
    return true;
}

/* A head the parser accepted from buf[0 .. n), n its length: spans inside
 * the head, names tokens, values without controls or surrounding
 * whitespace, framing consistent with the flags. */
static inline void check_head(const weft_http1_head_t *h, const char *buf,
                              int n, bool response) {
    CHECK(n > 0);
    CHECK(h->minor == 0 || h->minor == 1);
    CHECK(h->nfields <= h->max_fields);
    for (size_t i = 0; i < h->nfields; i++) {
        weft_span_t nm = h->fields[i].name, v = h->fields[i].value;
        CHECK(in_buf(nm, buf, (size_t)n) && in_buf(v, buf, (size_t)n));
        CHECK(nm.len > 0 && all_of(nm, WEFT__HTTP_TCHAR));
        CHECK(all_of(v, WEFT__HTTP_FVAL));
        CHECK(v.len == 0 || (!weft__http_ows(v.ptr[0]) &&
                             !weft__http_ows(v.ptr[v.len - 1])));
    }
    if (response) {
        CHECK(h->status >= 100 && h->status <= 999);
        CHECK(in_buf(h->reason, buf, (size_t)n));
        CHECK(h->method.len == 0 && h->target.len == 0);
    } else {
        CHECK(h->status == 0);
        CHECK(h->method.len > 0 && all_of(h->method, WEFT__HTTP_TCHAR));
        CHECK(h->target.len > 0 && all_of(h->target, WEFT__HTTP_VCHAR));
        CHECK(in_buf(h->method, buf, (size_t)n) &&
              in_buf(h->target, buf, (size_t)n));
        /* The smuggling rules: a request never has both, and chunked
         * only as its framing. */
        CHECK(!((h->flags & WEFT_HTTP1_CONTENT_LENGTH) &&
                (h->flags & WEFT_HTTP1_TRANSFER_ENCODING)));
        CHECK(h->framing != WEFT_HTTP1_UNTIL_CLOSE);
    }
    if (h->framing == WEFT_HTTP1_CHUNKED)
        CHECK(h->flags & WEFT_HTTP1_TRANSFER_ENCODING);
    if (h->framing == WEFT_HTTP1_LENGTH)
        CHECK(h->flags & WEFT_HTTP1_CONTENT_LENGTH);
    if (h->framing == WEFT_HTTP1_UNTIL_CLOSE)
        CHECK(!(h->flags & WEFT_HTTP1_KEEP_ALIVE));
}

/* Two heads parsed from the same bytes at the same address agree. */
static inline bool same_head(const weft_http1_head_t *a,
                             const weft_http1_head_t *b) {
    if (a->nfields != b->nfields || a->framing != b->framing ||
        a->flags != b->flags || a->minor != b->minor ||
        a->status != b->status || a->content_length != b->content_length ||
        a->method.len != b->method.len || a->target.len != b->target.len ||
        a->reason.len != b->reason.len || a->method_id != b->method_id)
        return false;
    for (size_t i = 0; i < a->nfields; i++)
        if (a->fields[i].name.len != b->fields[i].name.len ||
            a->fields[i].value.len != b->fields[i].value.len ||
            memcmp(a->fields[i].name.ptr, b->fields[i].name.ptr,
                   a->fields[i].name.len) != 0 ||
            memcmp(a->fields[i].value.ptr, b->fields[i].value.ptr,
                   a->fields[i].value.len) != 0)
            return false;
    return true;
}

/* A small hash of the input, to pick split points and options from. */
static inline uint64_t fuzz_hash(const uint8_t *d, size_t n) {
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ d[i]) * 1099511628211u;
    return h;
}

/* Limits small enough for the fuzzer to reach. */
static const weft_http1_limits_t fuzz_small_limits = {
    .max_start_line = 40,
    .max_head = 200,
    .max_fields = 6,
    .max_chunk_ext = 16,
    .max_trailer = 40,
};

#endif
