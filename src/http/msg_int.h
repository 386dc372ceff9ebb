/* Internal: the character classes and small helpers of the message
 * helpers (weft/httpmsg.h). */
#ifndef WEFT_HTTP_MSG_INT_H
#define WEFT_HTTP_MSG_INT_H

#include <string.h>

#include "../core/common.h"
#include "weft/httpmsg.h"

/* Character classes, one bit each, from RFC 3986 2.2-2.3, RFC 9110 5.6.2
 * and RFC 6265 4.1.1. */
enum {
    WEFT__C_ALPHA = 1u << 0,
    WEFT__C_DIGIT = 1u << 1,
    WEFT__C_HEX = 1u << 2,
    WEFT__C_UNRESERVED = 1u << 3, /* ALPHA DIGIT - . _ ~ */
    WEFT__C_SUBDELIM = 1u << 4,   /* ! $ & ' ( ) * + , ; = */
    WEFT__C_TCHAR = 1u << 5,      /* token characters */
    WEFT__C_LOOSE = 1u << 6,      /* " < > [ \ ] ^ ` { | } and >= 0x80:
                                     not allowed there by RFC 3986, but
                                     tolerated in paths, queries,
                                     fragments and userinfo */
    WEFT__C_COOKIE = 1u << 7,     /* cookie-octet */
    WEFT__C_FORM = 1u << 8,       /* kept by the form encoding */
    WEFT__C_SCHEME = 1u << 9,     /* ALPHA DIGIT + - . */
    /* What may stand as it is (escapes aside) in a userinfo, a path, a
     * query or fragment: the RFC 3986 sets plus WEFT__C_LOOSE. */
    WEFT__C_USERINFO = 1u << 10,  /* unreserved sub-delims ':' */
    WEFT__C_PATH = 1u << 11,      /* pchar '/' */
    WEFT__C_QUERY = 1u << 12,     /* pchar '/' '?' */
    WEFT__C_URLDELIM = 1u << 13,  /* ':' '/' '?' '#': where a scheme or an
                                     authority ends */
};

extern const uint16_t weft__http_cc[256];

static inline bool weft__cc(unsigned char c, unsigned cls) {
    return (weft__http_cc[c] & cls) != 0;
}

/* A pchar other than '%': unreserved, sub-delims, ':', '@'. */
static inline bool weft__pchar(unsigned char c) {
    return weft__cc(c, WEFT__C_UNRESERVED | WEFT__C_SUBDELIM) || c == ':' ||
           c == '@';
}

static inline int weft__hexval(unsigned char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte of the escape at s[0..2] ("%2F"), or -1 if it is not one
 * (s has at least `left` bytes). */
static inline int weft__pct_byte(const char *s, size_t left) {
    if (left < 3 || s[0] != '%')
        return -1;
    int h = weft__hexval((unsigned char)s[1]);
    int l = weft__hexval((unsigned char)s[2]);
    return h < 0 || l < 0 ? -1 : (h << 4) | l;
}

static inline unsigned char weft__lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* ASCII case-insensitive equality of s (n bytes) and the C string z. */
static inline bool weft__ieq(const char *s, size_t n, const char *z) {
    for (size_t i = 0; i < n; i++, z++)
        if (!*z || weft__lower((unsigned char)s[i]) != weft__lower((unsigned char)*z))
            return false;
    return *z == 0;
}

/* Whitespace of field values and cookies: SP and HTAB. */
static inline bool weft__ows(char c) {
    return c == ' ' || c == '\t';
}

/* s[0..*n) without leading and trailing SP / HTAB. */
static inline const char *weft__trim(const char *s, size_t *n) {
    while (*n && weft__ows(s[0]))
        s++, (*n)--;
    while (*n && weft__ows(s[*n - 1]))
        (*n)--;
    return s;
}

/* The next piece of [*p, end) up to the separator sep: returns its start,
 * sets *pe to its end and moves *p past the separator (or to end). */
static inline const char *weft__piece(const char **p, const char *end,
                                      char sep, const char **pe) {
    const char *s = *p;
    const char *q = memchr(s, sep, (size_t)(end - s));
    *pe = q ? q : end;
    *p = q ? q + 1 : end;
    return s;
}

/* The end of the quoted string starting at p (*p == '"') before end:
 * just past the closing quote, or NULL if it does not close. */
const char *weft__quoted_end(const char *p, const char *end);

/* Finish a writer's output: NUL at buf[len], or -ENOSPC. */
static inline ssize_t weft__terminate(char *buf, size_t cap, size_t len) {
    if (len >= cap)
        return -ENOSPC;
    buf[len] = 0;
    return (ssize_t)len;
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t weft__days_from_civil(int64_t y, unsigned m, unsigned d);
bool weft__valid_date(int64_t y, unsigned m, unsigned d);

#endif
