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

#define weft__http_scan_target weft__http_scan_target_swar
#define weft__http_scan_value weft__http_scan_value_swar

#endif
