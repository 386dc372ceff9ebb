/* Fuzz target: request heads (weft_http1_parse_request).
 *
 * For any input: no crash, leak or over-read (ASan, UBSan); a result that
 * is a head length, -EAGAIN or a WEFT_EHTTP_* code; an accepted head
 * whose spans, tokens, values and framing have the properties in
 * fuzz_http1.h; the same result from another scanning path; the same
 * result when parsing resumes from a prefix that needed more (prev_len);
 * and a head that the writer writes again and that parses back the same.
 *
 * fuzz-seeds: request */
#include "fuzz_http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int best = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data;
    uint64_t hh = fuzz_hash(data, size);
    const weft_http1_limits_t *lim = hh & 1 ? &fuzz_small_limits : NULL;
    weft_http_field_t fa[128], fb[128];
    weft_http1_head_t a = {.fields = fa, .max_fields = 128};
    weft_http1_head_t b = {.fields = fb, .max_fields = 128};
    if (best < 0)
        best = weft__http_simd_set(-1);

    int ra = weft_http1_parse_request(&a, buf, size, 0, lim);
    if (ra >= 0)
        check_head(&a, buf, ra, false);
    else
        CHECK(ra == -EAGAIN || weft_http1_error_status(ra) != 0);

    /* Another scanning path. */
    if (best > 0) {
        weft__http_simd_set((int)((hh >> 1) % (unsigned)best));
        int rb = weft_http1_parse_request(&b, buf, size, 0, lim);
        weft__http_simd_set(best);
        CHECK(rb == ra && (ra < 0 || same_head(&a, &b)));
    }

    /* Resuming after a prefix that needed more. */
    if (size > 1) {
        size_t k = 1 + (hh >> 8) % (size - 1);
        if (weft_http1_parse_request(&b, buf, k, 0, lim) == -EAGAIN) {
            int rc = weft_http1_parse_request(&b, buf, size, k, lim);
            if (ra >= 0)
                CHECK(rc == ra && same_head(&a, &b));
            else
                CHECK(rc == ra || rc == -EAGAIN);
        }
    }

    /* Written again, it parses back the same. */
    if (ra >= 0) {
        size_t cap = 2 * size + 64;
        char *out = malloc(cap);
        CHECK(out != NULL);
        ssize_t w = weft_http1_write_request(out, cap, a.method, a.target,
                                             a.minor, a.fields, a.nfields);
        CHECK(w > 0 && (size_t)w <= cap);
        int rc = weft_http1_parse_request(&b, out, (size_t)w, 0, NULL);
        CHECK(rc == (int)w && same_head(&a, &b));
        CHECK(b.method.len == a.method.len &&
              memcmp(b.method.ptr, a.method.ptr, a.method.len) == 0);
        CHECK(memcmp(b.target.ptr, a.target.ptr, a.target.len) == 0);
        free(out);
    }
    return 0;
}
