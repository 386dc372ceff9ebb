/* Fuzz target: response heads (weft_http1_parse_response), to any of
 * GET, HEAD and CONNECT, with the response leniency (bare LF, obs-fold
 * rewritten in place, whitespace before a colon).
 *
 * The properties of request_head.c: valid results, the heads' properties,
 * another scanning path agreeing, resuming after a prefix, and a head
 * that is written again and parses back the same. The parser may write
 * into its buffer (obs-fold), so each parse gets a fresh copy.
 *
 * fuzz-seeds: response */
#include "fuzz_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int best = -1;

static char *copy(const uint8_t *data, size_t size) {
    char *p = malloc(size ? size : 1);
    CHECK(p != NULL);
    if (size)
        memcpy(p, data, size);
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int methods[] = {WEFT_HTTP_GET, WEFT_HTTP_HEAD,
                                  WEFT_HTTP_CONNECT, WEFT_HTTP_OTHER};
    uint64_t hh = fuzz_hash(data, size);
    const weft_http1_limits_t *lim = hh & 1 ? &fuzz_small_limits : NULL;
    int m = methods[(hh >> 1) % 4];
    weft_http_field_t fa[128], fb[128];
    weft_http1_head_t a = {.fields = fa, .max_fields = 128};
    weft_http1_head_t b = {.fields = fb, .max_fields = 128};
    if (best < 0)
        best = weft__http_simd_set(-1);

    char *buf = copy(data, size);
    int ra = weft_http1_parse_response(&a, buf, size, 0, m, lim);
    if (ra >= 0)
        check_head(&a, buf, ra, true);
    else
        CHECK(ra == -EAGAIN || weft_http1_error_status(ra) != 0);
    /* Only obs-fold is rewritten, into spaces. */
    for (size_t i = 0; i < size; i++)
        CHECK(buf[i] == (char)data[i] ||
              ((data[i] == '\r' || data[i] == '\n') && buf[i] == ' '));

    if (best > 0) {
        char *c2 = copy(data, size);
        weft__http_simd_set((int)((hh >> 3) % (unsigned)best));
        int rb = weft_http1_parse_response(&b, c2, size, 0, m, lim);
        weft__http_simd_set(best);
        CHECK(rb == ra && (ra < 0 || same_head(&a, &b)));
        free(c2);
    }

    if (size > 1) {
        size_t k = 1 + (hh >> 8) % (size - 1);
        char *c3 = copy(data, size);
        if (weft_http1_parse_response(&b, c3, k, 0, m, lim) == -EAGAIN) {
            int rc = weft_http1_parse_response(&b, c3, size, k, m, lim);
            /* The prefix's folds were rewritten by the first call. */
            unsigned folded = a.flags & WEFT_HTTP1_FOLDED;
            b.flags |= folded;
            if (ra >= 0)
                CHECK(rc == ra && same_head(&a, &b));
            else
                CHECK(rc == ra || rc == -EAGAIN);
        }
        free(c3);
    }

    if (ra >= 0) {
        size_t cap = 2 * size + 64;
        char *out = malloc(cap);
        CHECK(out != NULL);
        ssize_t w = weft_http1_write_response(out, cap, a.minor, a.status,
                                              a.reason, a.fields, a.nfields);
        CHECK(w > 0 && (size_t)w <= cap);
        int rc = weft_http1_parse_response(&b, out, (size_t)w, 0, m, NULL);
        a.flags &= ~(unsigned)WEFT_HTTP1_FOLDED;
        CHECK(rc == (int)w && same_head(&a, &b));
        CHECK(memcmp(b.reason.ptr, a.reason.ptr, a.reason.len) == 0);
        free(out);
    }
    free(buf);
    return 0;
}
