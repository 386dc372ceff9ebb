/* Internal to src/http: the loops that find the end of a run of ordinary
 * bytes (a request target, a field value, a token), where the parser
 * spends most of its time. Each returns the first byte in [p, end) outside
 * its class, or end.
 *
 * The portable versions read 8 bytes at a time as a 64-bit word (SWAR: the
 * "has a byte less than n" tricks of Alan Mycroft, as in Sean Anderson's
 * bit-twiddling hacks). In such a mask only the lowest flagged byte is
 * exact (a borrow can flag bytes above a true one, never below), which is
 * all a search for the first one needs. */
#ifndef WEFT_HTTP_SCAN_H
#define WEFT_HTTP_SCAN_H

#include "http_int.h"

#define WEFT__ONES UINT64_C(0x0101010101010101)
#define WEFT__HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t weft__load64(const char *p) {
    uint64_t x;
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/* High bit of each byte of x that is < n (n <= 0x80); exact for the
 * lowest such byte. */
static inline uint64_t weft__swar_less(uint64_t x, unsigned n) {
    return (x - WEFT__ONES * n) & ~x & WEFT__HIGHS;
}

static inline uint64_t weft__swar_eq(uint64_t x, unsigned n) {
    return weft__swar_less(x ^ (WEFT__ONES * n), 1);
}

static inline const char *weft__swar_hit(const char *p, uint64_t m) {
    return p + (__builtin_ctzll(m) >> 3);
}

/* A request target's bytes: visible ASCII, %x21-7E. */
static inline const char *weft__http_scan_target_swar(const char *p,
                                                      const char *end) {
    for (; end - p >= 8; p += 8) {
        uint64_t x = weft__load64(p);
        uint64_t m = weft__swar_less(x, 0x21) | (x & WEFT__HIGHS) |
                     weft__swar_eq(x, 0x7f);
        if (m)
            return weft__swar_hit(p, m);
    }
    while (p < end && (unsigned char)*p - 0x21u < 0x5eu)
        p++;
    return p;
}

/* A field value's bytes but HTAB: SP, visible ASCII, obs-text. The scan
 * stops at HTAB too (the caller steps over it), at CR, LF and the other
 * controls, and at DEL. */
static inline const char *weft__http_scan_value_swar(const char *p,
                                                     const char *end) {
    for (; end - p >= 8; p += 8) {
        uint64_t x = weft__load64(p);
        uint64_t m = weft__swar_less(x, 0x20) | weft__swar_eq(x, 0x7f);
        if (m)
            return weft__swar_hit(p, m);
    }
    while (p < end && (unsigned char)*p >= 0x20 && *p != 0x7f)
        p++;
    return p;
}

/* Token characters (RFC 9110 section 5.6.2), by table: names are short. */
static inline const char *weft__http_scan_token(const char *p,
                                                const char *end) {
    while (end - p >= 4) {
        if (!weft__http_is((unsigned char)p[0], WEFT__HTTP_TCHAR))
            return p;
        if (!weft__http_is((unsigned char)p[1], WEFT__HTTP_TCHAR))
            return p + 1;
        if (!weft__http_is((unsigned char)p[2], WEFT__HTTP_TCHAR))
            return p + 2;
        if (!weft__http_is((unsigned char)p[3], WEFT__HTTP_TCHAR))
            return p + 3;
        p += 4;
    }
    while (p < end && weft__http_is((unsigned char)*p, WEFT__HTTP_TCHAR))
        p++;
    return p;
}

/* ---- x86-64: SSE2 (baseline) and AVX2 (chosen at run time) ------------- */

#if defined(__x86_64__) && !defined(WEFT_HTTP_NO_SIMD)
#define WEFT__HTTP_X86 1
#include <immintrin.h>

#define WEFT__HTTP_AVX2_ATTR __attribute__((target("avx2")))

/* A 16-byte step: the bytes outside the class, as a bit mask. */
static inline unsigned weft__sse2_target_bad(__m128i v) {
    __m128i lo = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
    __m128i hi = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x7f)), v);
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(lo, hi));
}

static inline unsigned weft__sse2_value_bad(__m128i v) {
    __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
    __m128i del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl, del));
}

static inline const char *weft__http_scan_target_sse2(const char *p,
                                                      const char *end) {
    for (; end - p >= 16; p += 16) {
        unsigned m = weft__sse2_target_bad(_mm_loadu_si128((const void *)p));
        if (m)
            return p + __builtin_ctz(m);
    }
    return weft__http_scan_target_swar(p, end);
}

static inline const char *weft__http_scan_value_sse2(const char *p,
                                                     const char *end) {
    for (; end - p >= 16; p += 16) {
        unsigned m = weft__sse2_value_bad(_mm_loadu_si128((const void *)p));
        if (m)
            return p + __builtin_ctz(m);
    }
    return weft__http_scan_value_swar(p, end);
}

static inline WEFT__HTTP_AVX2_ATTR const char *
weft__http_scan_target_avx2(const char *p, const char *end) {
    for (; end - p >= 32; p += 32) {
        __m256i v = _mm256_loadu_si256((const void *)p);
        __m256i lo =
            _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x20)), v);
        __m256i hi =
            _mm256_cmpeq_epi8(_mm256_max_epu8(v, _mm256_set1_epi8(0x7f)), v);
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(lo, hi));
        if (m)
            return p + __builtin_ctz(m);
    }
    return weft__http_scan_target_sse2(p, end);
}

static inline WEFT__HTTP_AVX2_ATTR const char *
weft__http_scan_value_avx2(const char *p, const char *end) {
    for (; end - p >= 32; p += 32) {
        __m256i v = _mm256_loadu_si256((const void *)p);
        __m256i ctl =
            _mm256_cmpeq_epi8(_mm256_min_epu8(v, _mm256_set1_epi8(0x1f)), v);
        __m256i del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7f));
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(ctl, del));
        if (m)
            return p + __builtin_ctz(m);
    }
    return weft__http_scan_value_sse2(p, end);
}
/* Token characters, 16 bytes at a time: each byte's class looked up by
 * its low and high nibble (vpshufb; the technique of simdjson and
 * llhttp's SSE path), a tchar when both lookups share a bit. Bit h of
 * lut_lo[l] says whether byte 0xhl is a tchar (for h < 8); lut_hi[h] is
 * 1 << h, and 0 for bytes >= 0x80. */
static inline WEFT__HTTP_AVX2_ATTR const char *
weft__http_scan_token_avx2(const char *p, const char *end) {
    const __m128i lut_lo =
        _mm_setr_epi8((char)0xe8, (char)0xfc, (char)0xf8, (char)0xfc,
                      (char)0xfc, (char)0xfc, (char)0xfc, (char)0xfc,
                      (char)0xf8, (char)0xf8, (char)0xf4, 0x54, (char)0xd0,
                      0x54, (char)0xf4, 0x70);
    const __m128i lut_hi = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)0x80,
                                         0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i nib = _mm_set1_epi8(0x0f);
    for (; end - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const void *)p);
        __m128i lo = _mm_shuffle_epi8(lut_lo, _mm_and_si128(v, nib));
        __m128i hi = _mm_shuffle_epi8(
            lut_hi, _mm_and_si128(_mm_srli_epi16(v, 4), nib));
        __m128i bad = _mm_cmpeq_epi8(_mm_and_si128(lo, hi), _mm_setzero_si128());
        unsigned m = (unsigned)_mm_movemask_epi8(bad);
        if (m)
            return p + __builtin_ctz(m);
    }
    return weft__http_scan_token(p, end);
}
#else
#define WEFT__HTTP_X86 0
#endif

#endif
