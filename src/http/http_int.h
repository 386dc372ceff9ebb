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

/* a[0 .. n) equals the lowercase lit[0 .. n), ignoring ASCII case. Exact
 * for token characters: the only bytes that OR 0x20 maps onto a letter are
 * the uppercase letters, and lit holds letters, digits and '-'. */
static inline bool weft__http_lower_eq(const char *a, const char *lit,
                                       size_t n) {
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
    bool lenient; /* response rules: bare LF, obs-fold, space before ':' */
};
int weft__http_parse_trailers(const char *buf, size_t len, size_t max_len,
                              struct weft__http_fields *f, bool lenient);

#endif
