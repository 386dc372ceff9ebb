/* Percent-encoding (RFC 3986 2.1), the server's path normalisation, and
 * query strings / form bodies (application/x-www-form-urlencoded). */
#include "msg_int.h"

ssize_t weft_pct_decode(char *out, size_t cap, const char *s, size_t n,
                        unsigned flags) {
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int b = weft__pct_byte(s + i, n - i);
            if (b >= 0) {
                c = (unsigned char)b;
                i += 2;
            } else if (!(flags & WEFT_PCT_LENIENT)) {
                return -EINVAL;
            }
        } else if (c == '+' && (flags & WEFT_PCT_PLUS)) {
            c = ' ';
        }
        if (c == 0)
            return -EINVAL;
        if (w >= cap)
            return -ENOSPC;
        out[w++] = (char)c; /* w <= i: decoding in place is safe */
    }
    return weft__terminate(out, cap, w);
}

static bool pct_keep(unsigned char c, int set) {
    switch (set) {
    case WEFT_PCT_COMPONENT:
        return weft__cc(c, WEFT__C_UNRESERVED);
    case WEFT_PCT_SEGMENT:
        return weft__pchar(c);
    case WEFT_PCT_PATH:
        return weft__pchar(c) || c == '/';
    case WEFT_PCT_QUERY:
        return weft__pchar(c) || c == '/' || c == '?';
    default: /* WEFT_PCT_FORM */
        return weft__cc(c, WEFT__C_FORM);
    }
}

static const char hexdig[] = "0123456789ABCDEF";

ssize_t weft_pct_encode(char *out, size_t cap, const char *s, size_t n,
                        int set) {
    if (set < WEFT_PCT_COMPONENT || set > WEFT_PCT_FORM)
        return -EINVAL;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (pct_keep(c, set) || (c == ' ' && set == WEFT_PCT_FORM)) {
            if (w + 1 > cap)
                return -ENOSPC;
            out[w++] = c == ' ' ? '+' : (char)c;
        } else {
            if (w + 3 > cap)
                return -ENOSPC;
            out[w++] = '%';
            out[w++] = hexdig[c >> 4];
            out[w++] = hexdig[c & 15];
        }
    }
    return weft__terminate(out, cap, w);
}

/* ---- path normalisation ------------------------------------------------ */

/* Decode the segment s[*i, end-of-segment) into out at *w. Escapes of '/'
 * and '%' are written as %2F / %25 unless plain (where %2F is refused).
 * Writes never pass reads (*w <= *i), so out may be s. */
static int decode_segment(char *out, size_t cap, size_t *w, const char *s,
                          size_t n, size_t *i, bool plain) {
    size_t j = *i, o = *w;
    while (j < n && s[j] != '/') {
        int b = (unsigned char)s[j];
        if (b == '%') {
            b = weft__pct_byte(s + j, n - j);
            if (b < 0)
                return -EINVAL;
            j += 3;
            if (b == '/' || b == '%') {
                if (plain && b == '/')
                    return -EINVAL;
                if (!plain) {
                    if (o + 3 > cap)
                        return -ENOSPC;
                    out[o++] = '%';
                    out[o++] = '2';
                    out[o++] = b == '/' ? 'F' : '5';
                    continue;
                }
            }
        } else {
            j++;
        }
        if (b == 0)
            return -EINVAL;
        if (o >= cap)
            return -ENOSPC;
        out[o++] = (char)b;
    }
    *i = j;
    *w = o;
    return 0;
}

ssize_t weft_http_path_normalize(char *out, size_t cap, const char *s,
                                 size_t n, unsigned flags) {
    if (n == 0)
        s = "/", n = 1;
    if (s[0] != '/')
        return -EINVAL;
    bool plain = flags & WEFT_PATH_PLAIN;
    bool merge = flags & WEFT_PATH_MERGE_SLASHES;
    /* out[0, w) is the stack of segments kept so far, each after a '/'. */
    size_t w = 0, i = 0;
    while (i < n) {
        i++; /* the '/' at s[i] */
        size_t at = w;
        if (w >= cap)
            return -ENOSPC;
        out[w++] = '/';
        int r = decode_segment(out, cap, &w, s, n, &i, plain);
        if (r < 0)
            return r;
        const char *seg = out + at + 1;
        size_t len = w - at - 1;
        bool last = i == n;
        bool dot = len == 1 && seg[0] == '.';
        bool dotdot = len == 2 && seg[0] == '.' && seg[1] == '.';
        if (dot || dotdot || (len == 0 && merge && !last)) {
            w = at;
            if (dotdot) {
                if (w == 0 && (flags & WEFT_PATH_REJECT_ESCAPE))
                    return -EINVAL;
                while (w > 0 && out[w - 1] != '/')
                    w--;
                if (w > 0)
                    w--;
            }
            if (last && len) /* "/a/." and "/a/.." end in a slash */
                out[w++] = '/';
        }
    }
    if (w == 0)
        out[w++] = '/';
    return weft__terminate(out, cap, w);
}

/* ---- query strings ----------------------------------------------------- */

void weft_query_init(weft_query_iter_t *it, const char *s, size_t n) {
    it->p = s;
    it->end = s ? s + n : s;
}

int weft_query_next(weft_query_iter_t *it, weft_span_t *key,
                    weft_span_t *value) {
    while (it->p < it->end) {
        const char *pe, *p = weft__piece(&it->p, it->end, '&', &pe);
        if (pe == p)
            continue;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        *key = (weft_span_t){p, (size_t)((eq ? eq : pe) - p)};
        *value = eq ? (weft_span_t){eq + 1, (size_t)(pe - eq - 1)}
                    : (weft_span_t){pe, 0};
        return 1;
    }
    return 0;
}

/* Whether the form-encoded s (n bytes) decodes to the C string z. */
static bool form_eq(const char *s, size_t n, const char *z) {
    for (size_t i = 0; i < n; i++, z++) {
        int c = (unsigned char)s[i];
        int b = c == '%' ? weft__pct_byte(s + i, n - i) : -1;
        if (b >= 0) {
            c = b;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (!*z || (unsigned char)*z != c)
            return false;
    }
    return *z == 0;
}

ssize_t weft_query_get(const char *s, size_t n, const char *key, char *out,
                       size_t cap) {
    weft_query_iter_t it;
    weft_span_t k, v;
    weft_query_init(&it, s, n);
    while (weft_query_next(&it, &k, &v))
        if (form_eq(k.ptr, k.len, key))
            return weft_pct_decode(out, cap, v.ptr, v.len,
                                   WEFT_PCT_PLUS | WEFT_PCT_LENIENT);
    return -ENOENT;
}

ssize_t weft_query_append(char *buf, size_t cap, size_t len, const char *key,
                          size_t kn, const char *value, size_t vn) {
    size_t w = len;
    ssize_t r = -ENOSPC;
    if (len > 0 && w < cap)
        buf[w++] = '&';
    if (w < cap && (r = weft_pct_encode(buf + w, cap - w, key, kn,
                                        WEFT_PCT_FORM)) >= 0) {
        w += (size_t)r;
        if (w + 1 < cap) {
            buf[w++] = '=';
            r = weft_pct_encode(buf + w, cap - w, value, vn, WEFT_PCT_FORM);
        } else {
            r = -ENOSPC;
        }
    }
    if (r < 0) {
        if (len < cap)
            buf[len] = 0;
        return r;
    }
    return (ssize_t)(w + (size_t)r);
}
