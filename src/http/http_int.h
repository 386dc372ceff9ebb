/* Internal to src/http: character classes and small helpers the HTTP/1.1
 * parser, body decoder and writer share. */
#ifndef WEFT_HTTP_INT_H
#define WEFT_HTTP_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../core/common.h"
#include "weft/http1.h"

/* weft__http_class[byte]: a bit per character class of RFC 9110. */
enum {
    WEFT__HTTP_TCHAR = 1u << 0, /* token: ALPHA DIGIT !#$%&'*+-.^_`|~ */
    WEFT__HTTP_VCHAR = 1u << 1, /* a target byte: %x21-7E */
    WEFT__HTTP_FVAL = 1u << 2,  /* field-vchar, SP, HTAB, obs-text */
    WEFT__HTTP_HEX = 1u << 3,   /* HEXDIG, either case */
    WEFT__HTTP_QDTEXT = 1u << 4, /* qdtext: HTAB SP ! %x23-5B %x5D-7E obs-text */
};
extern const uint8_t weft__http_class[256];

static inline bool weft__http_is(unsigned char c, unsigned cls) {
    return weft__http_class[c] & cls;
}

static inline bool weft__http_ows(char c) { return c == ' ' || c == '\t'; }

static inline bool weft__http_digit(unsigned char c) {
    return (unsigned)c - '0' <= 9u;
}

static inline uint64_t weft__http_load64(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t weft__http_load32(const char *p) {
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

/* a[0 .. n) equals the lowercase lit[0 .. n), ignoring ASCII case, where
 * a holds token or field-value characters and lit lowercase letters,
 * digits and '-'. OR 0x20 is then exact: the only such bytes it maps onto
 * one of lit's are the uppercase letters (0x0D, 0x10-0x19 would map onto
 * '-' and digits, and cannot occur). Words at a time, the last one
 * overlapping; n is a constant at every call, so this unrolls. */
static inline bool weft__http_lower_eq(const char *a, const char *lit,
                                       size_t n) {
    if (n >= 8) {
        const uint64_t low = UINT64_C(0x2020202020202020);
        for (size_t i = 0; i + 8 <= n; i += 8)
            if ((weft__http_load64(a + i) | low) != weft__http_load64(lit + i))
                return false;
        return n % 8 == 0 || (weft__http_load64(a + n - 8) | low) ==
                                 weft__http_load64(lit + n - 8);
    }
    if (n >= 4)
        return (weft__http_load32(a) | 0x20202020u) ==
                   weft__http_load32(lit) &&
               (weft__http_load32(a + n - 4) | 0x20202020u) ==
                   weft__http_load32(lit + n - 4);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)(a[i] | 0x20) != (unsigned char)lit[i])
            return false;
    return true;
}

/* Resolve a limits pointer (NULL or zeros: defaults; capped at 1 GiB). */
struct weft__http_limits {
    size_t start_line, head, fields, chunk_ext, trailer;
};
void weft__http_limits(const weft_http1_limits_t *l,
                       struct weft__http_limits *out);

/* The field-line section shared by heads and trailer sections: parse field
 * lines from *pp up to and including the empty line that ends them.
 * Defined in parse.c. */
struct weft__http_fields {
    weft_http_field_t *fields;
    size_t max, n;
    /* Response rules: bare LF ends a line; in a head (not a trailer
     * section) obs-fold and whitespace before ':' are taken too. */
    bool lenient;
};
int weft__http_parse_trailers(const char *buf, size_t len, size_t max_len,
                              struct weft__http_fields *f, bool lenient);

/* The scanning paths of the head parser (scan.h): the portable one, and
 * on x86-64 SSE2 (always there) and AVX2 (when the CPU has it). */
enum { WEFT__HTTP_SWAR, WEFT__HTTP_SSE2, WEFT__HTTP_AVX2, WEFT__HTTP_SIMD_N };

/* Use scanning path `level` from now on, for every thread (-1: the
 * default: the best the CPU has, or the one $WEFT_HTTP1_SIMD names: swar,
 * sse2, avx2). A level the CPU lacks gives the best it has. Returns the
 * level now in use. For tests and benchmarks; parsing threads must not be
 * running. */
int weft__http_simd_set(int level);
const char *weft__http_simd_name(int level);

#endif
