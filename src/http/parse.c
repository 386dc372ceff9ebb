/* The HTTP/1.1 head parser (RFC 9112 sections 2-6): request and response
 * lines, field lines, and the framing they imply. Stateless: each call
 * parses from the first byte of the buffer (or only looks for the head's
 * end, given prev_len), writes spans into the caller's head and field
 * array, and allocates nothing.
 *
 * The shape is picohttpparser's (a call returns bytes consumed, "need
 * more" or an error, into a caller's field array); the strictness is RFC
 * 9112's, with the smuggling rules llhttp's strict mode and the request
 * smuggling write-ups (Kettle, "HTTP Desync Attacks", 2019) taught us to
 * check: see docs/design.md, "HTTP/1.1 on the wire". */
#include <stdatomic.h>
#include <stdlib.h>

#include "http_int.h"
#include "scan.h"

/* Where the bytes run out: -EAGAIN, or the limit that cut the input. */
struct ctx {
    const char *buf;  /* the head's first byte */
    const char *end;  /* buf + min(len, max_head) */
    size_t len;       /* all the bytes the caller has */
    struct weft__http_limits lim;
    weft_http1_head_t *head;
    bool response;
    /* What the fields said about framing and the connection. */
    unsigned conn_close : 1, conn_keep_alive : 1, conn_upgrade : 1;
    unsigned upgrade_field : 1, te_present : 1, te_last_chunked : 1;
    unsigned te_other : 1, cl_seen : 1, expect_continue : 1;
    unsigned expect_other : 1, host : 1;
    unsigned te_chunked; /* times chunked was named */
    uint64_t cl;
};

#define TCHAR WEFT__HTTP_TCHAR
#define VCHAR WEFT__HTTP_VCHAR
#define FVAL WEFT__HTTP_FVAL
#define HEX WEFT__HTTP_HEX
#define QDTEXT WEFT__HTTP_QDTEXT

/* The character classes, built once at compile time from RFC 9110's
 * grammar (section 5.6.2 tchar, 5.5 field-vchar and obs-text, 5.6.4
 * qdtext). */
#define C_ALNUM (TCHAR | VCHAR | FVAL | QDTEXT)
#define C_HEXD (C_ALNUM | HEX)
#define C_TSYM (TCHAR | VCHAR | FVAL | QDTEXT) /* tchar punctuation */
#define C_SYM (VCHAR | FVAL | QDTEXT)         /* other visible ASCII */
#define C_OBS (FVAL | QDTEXT)                 /* obs-text, 0x80-0xFF */
#define C_WS (FVAL | QDTEXT)                  /* SP, HTAB */
#define R16(x) x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x
const uint8_t weft__http_class[256] = {
    /* 0x00 - 0x1F: controls; HTAB is whitespace */
    0, 0, 0, 0, 0, 0, 0, 0, 0, C_WS, 0, 0, 0, 0, 0, 0, R16(0),
    /* 0x20 SP ! " # $ % & ' ( ) * + , - . / */
    C_WS, C_TSYM, VCHAR | FVAL, C_TSYM, C_TSYM, C_TSYM, C_TSYM, C_TSYM,
    C_SYM, C_SYM, C_TSYM, C_TSYM, C_SYM, C_TSYM, C_TSYM, C_SYM,
    /* 0x30 - 0x3F: 0-9 : ; < = > ? */
    C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD,
    C_HEXD, C_SYM, C_SYM, C_SYM, C_SYM, C_SYM, C_SYM,
    /* 0x40 @ A-F G-O */
    C_SYM, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_ALNUM, C_ALNUM,
    C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM,
    /* 0x50 P-Z [ \ ] ^ _ */
    C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM,
    C_ALNUM, C_ALNUM, C_ALNUM, C_SYM, VCHAR | FVAL, C_SYM, C_TSYM, C_TSYM,
    /* 0x60 ` a-f g-o */
    C_TSYM, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_HEXD, C_ALNUM, C_ALNUM,
    C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM,
    /* 0x70 p-z { | } ~ DEL */
    C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM, C_ALNUM,
    C_ALNUM, C_ALNUM, C_ALNUM, C_SYM, C_TSYM, C_SYM, C_TSYM, 0,
    /* 0x80 - 0xFF: obs-text */
    R16(C_OBS), R16(C_OBS), R16(C_OBS), R16(C_OBS), R16(C_OBS), R16(C_OBS),
    R16(C_OBS), R16(C_OBS),
};

void weft__http_limits(const weft_http1_limits_t *l,
                       struct weft__http_limits *out) {
    static const weft_http1_limits_t none;
    if (!l)
        l = &none;
#define PICK(v, d) ((v) == 0 ? (size_t)(d) : (v) > (1u << 30) ? (1u << 30) : (v))
    out->start_line = PICK(l->max_start_line, WEFT_HTTP1_DEFAULT_MAX_START_LINE);
    out->head = PICK(l->max_head, WEFT_HTTP1_DEFAULT_MAX_HEAD);
    out->fields = PICK(l->max_fields, WEFT_HTTP1_DEFAULT_MAX_FIELDS);
    out->chunk_ext = PICK(l->max_chunk_ext, WEFT_HTTP1_DEFAULT_MAX_CHUNK_EXT);
    out->trailer = PICK(l->max_trailer, WEFT_HTTP1_DEFAULT_MAX_TRAILER);
#undef PICK
}

/* ---- the end of the input ----------------------------------------------- */

/* The parser needs a byte at p and there is none before lim (the end of
 * the bytes it may look at): a limit was hit if the caller has bytes
 * beyond it, else the head is incomplete. */
static int need_more(const struct ctx *c, const char *lim, int limit_err) {
    size_t at = (size_t)(lim - c->buf);
    if (at < c->len)
        return lim == c->end && at < c->lim.start_line + 2
                   ? WEFT_EHTTP_HEAD_TOO_LARGE
                   : limit_err;
    return -EAGAIN;
}

/* The start line may take the bytes up to its limit and its CRLF. */
static const char *start_line_lim(const struct ctx *c) {
    size_t n = (size_t)(c->end - c->buf);
    return c->buf + (n < c->lim.start_line + 2 ? n : c->lim.start_line + 2);
}

/* ---- the start line ------------------------------------------------------- */

static int method_id(const char *m, size_t n) {
    switch (n) {
    case 3:
        if (memcmp(m, "GET", 3) == 0)
            return WEFT_HTTP_GET;
        if (memcmp(m, "PUT", 3) == 0)
            return WEFT_HTTP_PUT;
        break;
    case 4:
        if (memcmp(m, "POST", 4) == 0)
            return WEFT_HTTP_POST;
        if (memcmp(m, "HEAD", 4) == 0)
            return WEFT_HTTP_HEAD;
        break;
    case 5:
        if (memcmp(m, "PATCH", 5) == 0)
            return WEFT_HTTP_PATCH;
        if (memcmp(m, "TRACE", 5) == 0)
            return WEFT_HTTP_TRACE;
        break;
    case 6:
        if (memcmp(m, "DELETE", 6) == 0)
            return WEFT_HTTP_DELETE;
        break;
    case 7:
        if (memcmp(m, "OPTIONS", 7) == 0)
            return WEFT_HTTP_OPTIONS;
        if (memcmp(m, "CONNECT", 7) == 0)
            return WEFT_HTTP_CONNECT;
        break;
    }
    return WEFT_HTTP_OTHER;
}

/* "HTTP/" DIGIT "." DIGIT at p (RFC 9112 section 2.3): the minor version
 * (0 or 1), -EAGAIN if the bytes before lim are a correct prefix, or an
 * error. Checked byte by byte so that "HTX" fails before the line ends. */
static int version(const char *p, const char *lim) {
    static const char tmpl[] = "HTTP/d.d";
    size_t have = (size_t)(lim - p);
    if (have >= 8) {
        uint64_t v = weft__http_load64(p);
        if (v == weft__http_load64("HTTP/1.1"))
            return 1;
        if (v == weft__http_load64("HTTP/1.0"))
            return 0;
    }
    for (size_t i = 0; i < 8; i++) {
        if (i == have)
            return -EAGAIN;
        unsigned char ch = (unsigned char)p[i];
        if (tmpl[i] == 'd' ? !weft__http_digit(ch) : ch != (unsigned char)tmpl[i])
            return WEFT_EHTTP_BAD_VERSION;
    }
    if (p[5] != '1' || p[7] > '1')
        return WEFT_EHTTP_UNSUPPORTED_VERSION;
    return p[7] - '0';
}

/* Empty lines before the start line: CRLF (and bare LF in responses) are
 * skipped (RFC 9112 section 2.2). */
static int skip_empty_lines(const struct ctx *c, const char **pp,
                            const char *lim) {
    const char *p = *pp;
    for (;;) {
        if (p == lim)
            return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
        if (*p == '\r') {
            if (p + 1 == lim)
                return need_more(c, lim, WEFT_EHTTP_LINE_TOO_LONG);
            if (p[1] != '\n')
                return WEFT_EHTTP_BARE_CR;
            p += 2;
        } else if (*p == '\n') {
            if (!c->response)
                return WEFT_EHTTP_BARE_LF;
            p++;
        } else {
            *pp = p;
            return 0;
        }
    }
}

/* The line's end at p: CRLF, or a bare LF in a response. Returns the bytes
 * of the terminator, 0 if p is not at one (other_err then), or -EAGAIN /
 * a limit error if the bytes run out. */
static int line_end(const struct ctx *c, const char *p, const char *lim,
                    int limit_err, int other_err) {
    if (p == lim)
        return need_more(c, lim, limit_err);
    if (*p == '\r') {
        if (p + 1 == lim)
            return need_more(c, lim, limit_err);
        return p[1] == '\n' ? 2 : WEFT_EHTTP_BARE_CR;
    }
    if (*p == '\n')
        return c->response ? 1 : WEFT_EHTTP_BARE_LF;
    return other_err;
}

/* ---- the fields that frame the message ------------------------------------ */

/* Iterate over a comma-separated list (RFC 9110 section 5.6.1): the next
 * element at *pp, without its surrounding whitespace; empty elements are
 * skipped. false at the end. */
static bool list_next(const char **pp, const char *end, weft_span_t *el) {
    const char *p = *pp;
    while (p < end && (*p == ',' || weft__http_ows(*p)))
        p++;
    if (p == end)
        return false;
    const char *s = p;
    while (p < end && *p != ',')
        p++;
    const char *e = p;
    while (e > s && weft__http_ows(e[-1]))
        e--;
    *el = (weft_span_t){s, (size_t)(e - s)};
    *pp = p;
    return true;
}

/* Content-Length = 1*DIGIT; a list of equal values is accepted as one
 * (RFC 9112 section 6.3, rule 5); anything else is an error, and so is a
 * value that differs from an earlier Content-Length field's. */
static __attribute__((noinline)) int content_length(struct ctx *c,
                                                    const char *v, size_t n) {
    const char *p = v, *end = v + n;
    for (;;) {
        while (p < end && weft__http_ows(*p))
            p++;
        const char *digits = p;
        uint64_t x = 0;
        for (; p < end && weft__http_digit((unsigned char)*p); p++) {
            unsigned d = (unsigned char)*p - '0';
            if (x > (UINT64_C(0x7fffffffffffffff) - d) / 10)
                return WEFT_EHTTP_BAD_LENGTH;
            x = x * 10 + d;
        }
        if (p == digits)
            return WEFT_EHTTP_BAD_LENGTH;
        if (c->cl_seen && x != c->cl)
            return WEFT_EHTTP_DIFFERENT_LENGTHS;
        c->cl = x;
        c->cl_seen = 1;
        while (p < end && weft__http_ows(*p))
            p++;
        if (p == end)
            return 0;
        if (*p++ != ',')
            return WEFT_EHTTP_BAD_LENGTH;
    }
}

/* transfer-coding = token *( OWS ";" OWS token BWS "=" BWS ( token /
 * quoted-string ) ) (RFC 9112 section 7). A coding with parameters is not
 * plain "chunked", so it counts as another coding. */
static __attribute__((noinline)) int
transfer_encoding(struct ctx *c, const char *v, size_t n) {
    const char *p = v, *end = v + n;
    c->te_present = 1;
    for (;;) {
        while (p < end && weft__http_ows(*p))
            p++;
        if (p == end || *p == ',') {
            /* An empty element: "chunked," or an empty field line, which a
             * proxy that takes the last line or checks the value's end
             * reads as no chunked at all. Refused in requests (stricter
             * than RFC 9110 5.6.1, which has recipients skip them; the
             * differential fuzzer found http-parser refusing them too),
             * skipped in responses. */
            if (!c->response)
                return WEFT_EHTTP_BAD_TE;
            if (p == end)
                return 0;
            p++;
            continue;
        }
        const char *tok = p;
        while (p < end && weft__http_is((unsigned char)*p, TCHAR))
            p++;
        if (p == tok)
            return WEFT_EHTTP_BAD_TE;
        bool chunked =
            p - tok == 7 && weft__http_lower_eq(tok, "chunked", 7);
        while (p < end && weft__http_ows(*p))
            p++;
        while (p < end && *p == ';') {
            chunked = false;
            p++;
            while (p < end && weft__http_ows(*p))
                p++;
            const char *name = p;
            while (p < end && weft__http_is((unsigned char)*p, TCHAR))
                p++;
            if (p == name)
                return WEFT_EHTTP_BAD_TE;
            while (p < end && weft__http_ows(*p))
                p++;
            if (p == end || *p != '=')
                return WEFT_EHTTP_BAD_TE;
            p++;
            while (p < end && weft__http_ows(*p))
                p++;
            if (p < end && *p == '"') {
                for (p++;; p++) {
                    if (p == end)
                        return WEFT_EHTTP_BAD_TE;
                    if (*p == '"')
                        break;
                    if (*p == '\\' && ++p == end)
                        return WEFT_EHTTP_BAD_TE;
                }
                p++;
            } else {
                const char *val = p;
                while (p < end && weft__http_is((unsigned char)*p, TCHAR))
                    p++;
                if (p == val)
                    return WEFT_EHTTP_BAD_TE;
            }
            while (p < end && weft__http_ows(*p))
                p++;
        }
        if (p < end && *p != ',')
            return WEFT_EHTTP_BAD_TE;
        if (chunked)
            c->te_chunked++;
        else
            c->te_other = 1;
        c->te_last_chunked = chunked;
        if (p == end)
            return 0;
        p++;
    }
}

static __attribute__((noinline)) void connection(struct ctx *c,
                                                 const char *v, size_t n) {
    const char *p = v;
    weft_span_t el;
    while (list_next(&p, v + n, &el)) {
        if (el.len == 5 && weft__http_lower_eq(el.ptr, "close", 5))
            c->conn_close = 1;
        else if (el.len == 10 && weft__http_lower_eq(el.ptr, "keep-alive", 10))
            c->conn_keep_alive = 1;
        else if (el.len == 7 && weft__http_lower_eq(el.ptr, "upgrade", 7))
            c->conn_upgrade = 1;
    }
}

static int host_field(struct ctx *c) {
    if (c->response)
        return 0;
    if (c->host)
        return WEFT_EHTTP_DUP_HOST;
    c->host = 1;
    return 0;
}

static void expect_field(struct ctx *c, const char *v, size_t vn) {
    if (c->response)
        return;
    if (vn == 12 && weft__http_lower_eq(v, "100-continue", 12))
        c->expect_continue = 1;
    else
        c->expect_other = 1;
}

/* Look at a field whose name may matter to framing or the connection: the
 * length decides which name to compare (inline: most fields are none of
 * them), the handlers are out of line. */
static inline int special_field(struct ctx *c, const weft_http_field_t *f) {
    const char *n = f->name.ptr, *v = f->value.ptr;
    size_t vn = f->value.len;
    switch (f->name.len) {
    case 4:
        return weft__http_lower_eq(n, "host", 4) ? host_field(c) : 0;
    case 6:
        if (weft__http_lower_eq(n, "expect", 6))
            expect_field(c, v, vn);
        return 0;
    case 7:
        if (vn > 0 && weft__http_lower_eq(n, "upgrade", 7))
            c->upgrade_field = 1;
        return 0;
    case 10:
        if (weft__http_lower_eq(n, "connection", 10))
            connection(c, v, vn);
        return 0;
    case 14:
        if (weft__http_lower_eq(n, "content-length", 14))
            return content_length(c, v, vn);
        return 0;
    case 17:
        if (weft__http_lower_eq(n, "transfer-encoding", 17))
            return transfer_encoding(c, v, vn);
        return 0;
    }
    return 0;
}

/* ---- field lines ---------------------------------------------------------- */

/* Overwrite an obs-fold (the line end before a continuation line) with
 * spaces, so that the value stays one span (RFC 9112 section 5.2: a user
 * agent replaces each obs-fold with one or more SP). Responses only, whose
 * buffer the caller passed as writable. */
static void unfold(const char *p, int term) {
    memset((char *)(uintptr_t)p, ' ', (size_t)term);
}

/* ---- the scanning parts, once per path ------------------------------------ */

struct impl {
    int (*head)(struct ctx *c, struct weft__http_fields *f, const char **pp);
    int (*trailers)(struct weft__http_fields *f, const char **pp,
                    const char *lim);
};

#define IMPL(name) name##_swar
#define IMPL_ATTR
#define SCAN_TARGET weft__http_scan_target_swar
#define SCAN_VALUE weft__http_scan_value_swar
#define SCAN_TOKEN weft__http_scan_token
#include "parse_impl.h"
#undef IMPL
#undef IMPL_ATTR
#undef SCAN_TARGET
#undef SCAN_VALUE
#undef SCAN_TOKEN

#if WEFT__HTTP_X86
#define IMPL(name) name##_sse2
#define IMPL_ATTR
#define SCAN_TARGET weft__http_scan_target_sse2
#define SCAN_VALUE weft__http_scan_value_sse2
#define SCAN_TOKEN weft__http_scan_token
#include "parse_impl.h"
#undef IMPL
#undef IMPL_ATTR
#undef SCAN_TARGET
#undef SCAN_VALUE
#undef SCAN_TOKEN

#define IMPL(name) name##_avx2
#define IMPL_ATTR WEFT__HTTP_AVX2_ATTR
#define SCAN_TARGET weft__http_scan_target_avx2
#define SCAN_VALUE weft__http_scan_value_avx2
#define SCAN_TOKEN weft__http_scan_token_avx2
#include "parse_impl.h"
#undef IMPL
#undef IMPL_ATTR
#undef SCAN_TARGET
#undef SCAN_VALUE
#undef SCAN_TOKEN
#endif

/* The copy in use: the best this CPU runs, unless $WEFT_HTTP1_SIMD (swar,
 * sse2, avx2) or weft__http_simd_set() says otherwise. Chosen on first
 * use; the pointer is written with the same value by whichever threads
 * race to choose it. */
static _Atomic(const struct impl *) current;

static int best_level(void) {
#if WEFT__HTTP_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return WEFT__HTTP_AVX2;
    return WEFT__HTTP_SSE2;
#else
    return WEFT__HTTP_SWAR;
#endif
}

static const struct impl *impl_of(int level) {
#if WEFT__HTTP_X86
    if (level == WEFT__HTTP_AVX2)
        return &impl_avx2;
    if (level == WEFT__HTTP_SSE2)
        return &impl_sse2;
#endif
    (void)level;
    return &impl_swar;
}

const char *weft__http_simd_name(int level) {
    static const char *const names[] = {"swar", "sse2", "avx2"};
    return level >= 0 && level < WEFT__HTTP_SIMD_N ? names[level] : "?";
}

int weft__http_simd_set(int level) {
    int best = best_level();
    if (level < 0) {
        level = best;
        const char *env = getenv("WEFT_HTTP1_SIMD");
        for (int i = 0; env && i < WEFT__HTTP_SIMD_N; i++)
            if (strcmp(env, weft__http_simd_name(i)) == 0)
                level = i;
    }
    if (level > best)
        level = best;
    atomic_store_explicit(&current, impl_of(level), memory_order_relaxed);
    return level;
}

static const struct impl *impl(void) {
    const struct impl *i = atomic_load_explicit(&current, memory_order_relaxed);
    if (WEFT__UNLIKELY(!i)) {
        weft__http_simd_set(-1);
        i = atomic_load_explicit(&current, memory_order_relaxed);
    }
    return i;
}

/* ---- framing ---------------------------------------------------------------- */

/* RFC 9112 section 6.3 for a request: Transfer-Encoding must end in a
 * single chunked and come without Content-Length, in HTTP/1.1. */
static int request_framing(struct ctx *c) {
    weft_http1_head_t *h = c->head;
    if (c->te_present) {
        if (c->cl_seen)
            return WEFT_EHTTP_LENGTH_WITH_TE;
        if (h->minor == 0)
            return WEFT_EHTTP_TE_HTTP10;
        if (c->te_chunked > 1)
            return WEFT_EHTTP_TE_CHUNKED_TWICE;
        if (!c->te_last_chunked)
            return WEFT_EHTTP_TE_NOT_CHUNKED;
        if (c->te_other)
            return WEFT_EHTTP_TE_UNSUPPORTED;
        h->framing = WEFT_HTTP1_CHUNKED;
    } else if (c->cl_seen) {
        h->framing = WEFT_HTTP1_LENGTH;
    }
    bool keep = h->minor == 1 ? !c->conn_close
                              : c->conn_keep_alive && !c->conn_close;
    if (keep)
        h->flags |= WEFT_HTTP1_KEEP_ALIVE;
    if (h->method_id == WEFT_HTTP_CONNECT) {
        h->framing = WEFT_HTTP1_NO_BODY;
        h->flags |= WEFT_HTTP1_UPGRADE;
    } else if (h->minor == 1 && c->conn_upgrade && c->upgrade_field) {
        h->flags |= WEFT_HTTP1_UPGRADE;
    }
    if (h->minor == 1 && c->expect_continue)
        h->flags |= WEFT_HTTP1_EXPECT_CONTINUE;
    if (c->expect_other)
        h->flags |= WEFT_HTTP1_EXPECT_OTHER;
    if (c->host)
        h->flags |= WEFT_HTTP1_HOST;
    return 0;
}

/* RFC 9112 section 6.3 for a response, in its order: no body for HEAD,
 * 1xx, 204, 304 and CONNECT 2xx; then Transfer-Encoding (overriding
 * Content-Length); then Content-Length; else until close. */
static int response_framing(struct ctx *c) {
    weft_http1_head_t *h = c->head;
    int s = h->status;
    bool keep = h->minor == 1 ? !c->conn_close
                              : c->conn_keep_alive && !c->conn_close;
    if (h->method_id == WEFT_HTTP_HEAD || (s >= 100 && s < 200) || s == 204 ||
        s == 304) {
        if (s == 101)
            h->flags |= WEFT_HTTP1_UPGRADE;
    } else if (h->method_id == WEFT_HTTP_CONNECT && s >= 200 && s < 300) {
        h->flags |= WEFT_HTTP1_UPGRADE;
    } else if (c->te_present) {
        if (c->te_chunked > 1)
            return WEFT_EHTTP_TE_CHUNKED_TWICE;
        if (h->minor == 1 && c->te_last_chunked)
            h->framing = WEFT_HTTP1_CHUNKED;
        else
            h->framing = WEFT_HTTP1_UNTIL_CLOSE;
        if (c->cl_seen || h->minor == 0)
            keep = false;
    } else if (c->cl_seen) {
        h->framing = WEFT_HTTP1_LENGTH;
    } else {
        h->framing = WEFT_HTTP1_UNTIL_CLOSE;
    }
    if (h->framing == WEFT_HTTP1_UNTIL_CLOSE)
        keep = false;
    if (keep)
        h->flags |= WEFT_HTTP1_KEEP_ALIVE;
    return 0;
}

/* ---- the entry points --------------------------------------------------- */

/* Could buf[0 .. len) hold a complete head, given that buf[0 .. prev_len)
 * did not? Looks for an empty line ("\n\n" or "\n\r\n") among the new
 * bytes only, and for the limits the new bytes crossed. */
static bool maybe_complete(const char *buf, size_t len, size_t prev_len,
                           const struct weft__http_limits *lim) {
    if (len > lim->head)
        return true;
    size_t line = lim->start_line + 2;
    if (prev_len < line && len >= line && !memchr(buf, '\n', line))
        return true;
    size_t from = prev_len > 3 ? prev_len - 3 : 0;
    const char *p = buf + from, *end = buf + len;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        p++;
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            return true;
    }
    return false;
}

static int parse_head(weft_http1_head_t *h, const char *buf, size_t len,
                      size_t prev_len, const weft_http1_limits_t *limits,
                      bool response, const char *fn) {
    if (!h || (!buf && len > 0) || (!h->fields && h->max_fields > 0)) {
        weft__log(WEFT_LOG_WARN, "%s: NULL head, buffer or field array", fn);
        return -EINVAL;
    }
    struct ctx c;
    memset(&c, 0, sizeof c);
    weft__http_limits(limits, &c.lim);
    if (prev_len > 0 && prev_len < len &&
        !maybe_complete(buf, len, prev_len, &c.lim))
        return -EAGAIN;
    c.buf = buf;
    c.len = len;
    c.end = buf + (len < c.lim.head ? len : c.lim.head);
    c.head = h;
    c.response = response;
    h->nfields = 0;
    h->method = h->target = h->reason = (weft_span_t){NULL, 0};
    h->status = h->minor = 0;
    h->framing = WEFT_HTTP1_NO_BODY;
    h->flags = 0;
    h->content_length = 0;

    const char *p = buf;
    struct weft__http_fields f = {
        .fields = h->fields,
        .max = h->max_fields < c.lim.fields ? h->max_fields : c.lim.fields,
        .lenient = response,
    };
    int r = impl()->head(&c, &f, &p);
    h->nfields = f.n;
    if (r < 0)
        return r;
    r = response ? response_framing(&c) : request_framing(&c);
    if (r < 0)
        return r;
    if (c.cl_seen) {
        h->flags |= WEFT_HTTP1_CONTENT_LENGTH;
        h->content_length = c.cl;
    }
    if (c.te_present)
        h->flags |= WEFT_HTTP1_TRANSFER_ENCODING;
    return (int)(p - buf);
}

int weft_http1_parse_request(weft_http1_head_t *head, const char *buf,
                             size_t len, size_t prev_len,
                             const weft_http1_limits_t *limits) {
    return parse_head(head, buf, len, prev_len, limits, false,
                      "weft_http1_parse_request");
}

int weft_http1_parse_response(weft_http1_head_t *head, char *buf, size_t len,
                              size_t prev_len, int req_method,
                              const weft_http1_limits_t *limits) {
    if (head)
        head->method_id = req_method;
    return parse_head(head, buf, len, prev_len, limits, true,
                      "weft_http1_parse_response");
}

int weft__http_parse_trailers(const char *buf, size_t len, size_t max_len,
                              struct weft__http_fields *f, bool lenient) {
    const char *p = buf;
    const char *lim = buf + (len < max_len ? len : max_len);
    f->lenient = lenient;
    f->n = 0;
    int r = impl()->trailers(f, &p, lim);
    if (r == -EAGAIN && len > max_len)
        return WEFT_EHTTP_TRAILER_TOO_LARGE;
    return r < 0 ? r : (int)(p - buf);
}

int weft_http1_error_status(int err) {
    switch (err) {
    case WEFT_EHTTP_LINE_TOO_LONG:
        return 414;
    case WEFT_EHTTP_HEAD_TOO_LARGE:
    case WEFT_EHTTP_TOO_MANY_FIELDS:
        return 431;
    case WEFT_EHTTP_TE_UNSUPPORTED:
        return 501;
    case WEFT_EHTTP_UNSUPPORTED_VERSION:
        return 505;
    }
    return err <= WEFT_EHTTP_BAD_START_LINE && err >= WEFT_EHTTP_TRUNCATED
               ? 400
               : 0;
}
