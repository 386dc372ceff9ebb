/* Fuzz target: the body decoder on chunked bodies (request framing, or a
 * response's lenient one), with default or small limits.
 *
 * The input is decoded whole with weft_http1_body_next, then byte by
 * byte, in place (weft_http1_body_decode) and into a 3-byte buffer
 * (weft_http1_body_copy): all four must consume the same bytes, give the
 * same data and end the same way (done, an error and which, or wanting
 * more). With WEFT_HTTP1_BODY_TRAILERS the decoder stops before a trailer
 * section, and weft_http1_body_trailers (the head parser's field lines)
 * must then accept or refuse it as the decoder's own trailer check did.
 *
 * fuzz-seeds: chunked */
#include "fuzz_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    size_t used, out;
    int end; /* 0 done, 1 wants more, else the error */
    char *data;
};

static void init(weft_http1_body_t *b, bool response,
                 const weft_http1_limits_t *lim, unsigned flags) {
    weft_http1_head_t h = {0};
    h.framing = WEFT_HTTP1_CHUNKED;
    h.status = response ? 200 : 0;
    weft_http1_body_init(b, &h, lim, flags);
}

/* Decode in pieces of `step` bytes (0: whole) with the span reader. */
static void by_next(const char *in, size_t n, size_t step, bool response,
                    const weft_http1_limits_t *lim, struct run *r) {
    weft_http1_body_t b;
    init(&b, response, lim, 0);
    r->data = malloc(n + 1);
    CHECK(r->data != NULL);
    r->used = r->out = 0;
    r->end = 1;
    while (r->used < n) {
        size_t give = n - r->used;
        if (step && give > step)
            give = step;
        weft_span_t d;
        ssize_t k = weft_http1_body_next(&b, in + r->used, give, &d);
        if (k < 0) {
            r->end = (int)k;
            return;
        }
        CHECK(d.len <= (size_t)k);
        CHECK(d.len == 0 || (d.ptr >= in + r->used &&
                             d.ptr + d.len <= in + r->used + (size_t)k));
        memcpy(r->data + r->out, d.ptr, d.len);
        r->out += d.len;
        r->used += (size_t)k;
        if (weft_http1_body_done(&b)) {
            r->end = 0;
            return;
        }
        CHECK(k > 0);
    }
}

/* The same end, data and (unless it failed: a failing call reports no
 * count) bytes consumed. */
static bool same_run(const struct run *a, const struct run *b) {
    return a->end == b->end && (a->end < 0 || a->used == b->used) &&
           a->out == b->out && memcmp(a->data, b->data, a->out) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    bool response = data[0] & 1;
    const weft_http1_limits_t *lim = data[0] & 2 ? &fuzz_small_limits : NULL;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;

    struct run whole, bytes;
    by_next(in, n, 0, response, lim, &whole);
    by_next(in, n, 1, response, lim, &bytes);
    CHECK(same_run(&whole, &bytes));

    /* In place. */
    char *copy = malloc(n + 1);
    CHECK(copy != NULL);
    memcpy(copy, in, n);
    weft_http1_body_t b;
    init(&b, response, lim, 0);
    size_t got;
    ssize_t k = weft_http1_body_decode(&b, copy, n, &got);
    if (whole.end < 0) {
        CHECK(k == whole.end);
    } else {
        CHECK(k == (ssize_t)whole.used && got == whole.out &&
              memcmp(copy, whole.data, got) == 0);
        CHECK(weft_http1_body_done(&b) == (whole.end == 0));
        /* What follows the body is untouched. */
        CHECK(memcmp(copy + k, in + k, n - (size_t)k) == 0);
    }

    /* Into a small buffer. */
    init(&b, response, lim, 0);
    size_t used = 0, out = 0;
    int end = 1;
    while (used < n) {
        char small[3];
        ssize_t c = weft_http1_body_copy(&b, in + used, n - used, small,
                                         sizeof small, &got);
        if (c < 0) {
            end = (int)c;
            break;
        }
        CHECK(got <= sizeof small && out + got <= whole.out);
        CHECK(memcmp(whole.data + out, small, got) == 0);
        out += got;
        used += (size_t)c;
        if (weft_http1_body_done(&b)) {
            end = 0;
            break;
        }
        CHECK(c > 0);
    }
    CHECK(end == whole.end);
    if (end >= 0)
        CHECK(used == whole.used && out == whole.out);

    /* Stopping at the trailers, then reading them as fields. */
    init(&b, response, lim, WEFT_HTTP1_BODY_TRAILERS);
    used = 0;
    while (used < n && !weft_http1_body_done(&b) &&
           !weft_http1_body_at_trailers(&b)) {
        weft_span_t d;
        ssize_t c = weft_http1_body_next(&b, in + used, n - used, &d);
        if (c < 0)
            break;
        used += (size_t)c;
    }
    if (weft_http1_body_at_trailers(&b)) {
        weft_http_field_t f[128];
        size_t nf = 128;
        int t = weft_http1_body_trailers(&b, in + used, n - used, f, &nf);
        if (t == WEFT_EHTTP_TOO_MANY_FIELDS) {
            /* Only the field reader counts fields. */
        } else if (t >= 0) {
            CHECK(whole.end == 0 && used + (size_t)t == whole.used);
            CHECK(weft_http1_body_done(&b));
        } else if (t == -EAGAIN) {
            CHECK(whole.end == 1);
        } else {
            CHECK(whole.end == t);
        }
    }
    free(copy);
    free(whole.data);
    free(bytes.data);
    return 0;
}
