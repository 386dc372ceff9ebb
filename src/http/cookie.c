/* Cookies (RFC 6265, with RFC 6265bis's limits): the Cookie header a
 * server reads, the Set-Cookie header a client's jar reads and a server
 * writes. */
#include <inttypes.h>
#include <stdio.h>

#include "msg_int.h"

void weft_cookie_init(weft_cookie_iter_t *it, const char *s, size_t n) {
    it->p = s;
    it->end = s ? s + n : s;
}

/* Split [p, pe) at its first '=' into trimmed name and value; without an
 * '=' the name is empty at p and the value is all of it, trimmed. */
static void split_pair(const char *p, const char *pe, weft_span_t *name,
                       weft_span_t *value) {
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    size_t nl = eq ? (size_t)(eq - p) : 0;
    const char *v = eq ? eq + 1 : p;
    size_t vl = (size_t)(pe - v);
    name->ptr = weft__trim(p, &nl);
    name->len = nl;
    value->ptr = weft__trim(v, &vl);
    value->len = vl;
}

int weft_cookie_next(weft_cookie_iter_t *it, weft_span_t *name,
                     weft_span_t *value) {
    while (it->p < it->end) {
        const char *pe, *p = weft__piece(&it->p, it->end, ';', &pe);
        size_t len = (size_t)(pe - p);
        p = weft__trim(p, &len);
        if (len == 0)
            continue;
        split_pair(p, p + len, name, value);
        if (name->len || value->len) /* "=" alone is nothing */
            return 1;
    }
    return 0;
}

int weft_cookie_get(const char *s, size_t n, const char *name,
                    weft_span_t *value) {
    weft_cookie_iter_t it;
    weft_span_t k, v;
    size_t nl = strlen(name);
    weft_cookie_init(&it, s, n);
    while (weft_cookie_next(&it, &k, &v))
        if (k.len == nl && memcmp(k.ptr, name, nl) == 0) {
            *value = v;
            return 0;
        }
    return -ENOENT;
}

/* ---- Set-Cookie, parsed (RFC 6265 5.2) --------------------------------- */

/* Max-Age: "-"? DIGIT+, saturating. */
static bool parse_max_age(weft_span_t v, int64_t *out) {
    size_t i = v.len && v.ptr[0] == '-';
    bool neg = i == 1;
    int64_t x = 0;
    if (i == v.len)
        return false;
    for (; i < v.len; i++) {
        if (!weft__cc((unsigned char)v.ptr[i], WEFT__C_DIGIT))
            return false;
        int dig = v.ptr[i] - '0';
        x = x > (INT64_MAX - dig) / 10 ? INT64_MAX : x * 10 + dig;
    }
    *out = neg ? -x : x;
    return true;
}

static void set_cookie_attr(weft_set_cookie_t *c, weft_span_t name,
                            weft_span_t v) {
    const char *n = name.ptr;
    size_t nl = name.len;
    time_t t;
    if (weft__ieq(n, nl, "expires")) {
        if (weft_cookie_date_parse(v.ptr, v.len, &t) == 0) {
            c->expires = t;
            c->flags |= WEFT_COOKIE_EXPIRES;
        }
    } else if (weft__ieq(n, nl, "max-age")) {
        if (parse_max_age(v, &c->max_age))
            c->flags |= WEFT_COOKIE_MAX_AGE;
    } else if (weft__ieq(n, nl, "domain")) {
        if (v.len && v.ptr[0] == '.')
            v.ptr++, v.len--;
        if (v.len)
            c->domain = v;
    } else if (weft__ieq(n, nl, "path")) {
        /* not starting with '/': the default path, so no Path */
        c->path = v.len && v.ptr[0] == '/' ? v : (weft_span_t){NULL, 0};
    } else if (weft__ieq(n, nl, "secure")) {
        c->flags |= WEFT_COOKIE_SECURE;
    } else if (weft__ieq(n, nl, "httponly")) {
        c->flags |= WEFT_COOKIE_HTTPONLY;
    } else if (weft__ieq(n, nl, "partitioned")) {
        c->flags |= WEFT_COOKIE_PARTITIONED;
    } else if (weft__ieq(n, nl, "samesite")) {
        c->samesite = weft__ieq(v.ptr, v.len, "strict") ? WEFT_SAMESITE_STRICT
                      : weft__ieq(v.ptr, v.len, "lax")  ? WEFT_SAMESITE_LAX
                      : weft__ieq(v.ptr, v.len, "none") ? WEFT_SAMESITE_NONE
                                                         : WEFT_SAMESITE_UNSET;
    }
}

int weft_set_cookie_parse(weft_set_cookie_t *c, const char *s, size_t n) {
    memset(c, 0, sizeof *c);
    if (!s || !n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            return -EINVAL;
    }
    const char *end = s + n;
    const char *semi = memchr(s, ';', n);
    const char *nv_end = semi ? semi : end;
    if (!memchr(s, '=', (size_t)(nv_end - s)))
        return -EINVAL;
    split_pair(s, nv_end, &c->name, &c->value);
    if (c->name.len == 0)
        return -EINVAL;
    if (c->name.len + c->value.len > 4096)
        return -E2BIG;
    for (const char *next = semi ? semi + 1 : end; next < end;) {
        const char *ae, *p = weft__piece(&next, end, ';', &ae);
        weft_span_t an, av;
        split_pair(p, ae, &an, &av);
        if (!memchr(p, '=', (size_t)(ae - p)))
            an = av, av = (weft_span_t){ae, 0};
        if (av.len <= 1024) /* 6265bis: longer values are ignored */
            set_cookie_attr(c, an, av);
    }
    return 0;
}

/* ---- Set-Cookie, written ----------------------------------------------- */

static bool cookie_value_ok(weft_span_t v) {
    const char *p = v.ptr;
    size_t n = v.len;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
        p++, n -= 2;
    for (size_t i = 0; i < n; i++)
        if (!weft__cc((unsigned char)p[i], WEFT__C_COOKIE))
            return false;
    return true;
}

/* Labels of letters, digits and '-' between single dots: no empty label,
 * so no leading dot (RFC 6265 5.2.3 drops it; leave it out). */
static bool domain_ok(weft_span_t d) {
    if (!d.len || d.ptr[0] == '.' || d.ptr[d.len - 1] == '.')
        return false;
    for (size_t i = 0; i < d.len; i++) {
        unsigned char c = (unsigned char)d.ptr[i];
        if (c == '.' ? d.ptr[i - 1] == '.'
                     : !weft__cc(c, WEFT__C_ALPHA | WEFT__C_DIGIT) && c != '-')
            return false;
    }
    return true;
}

/* path-value = <any CHAR except CTLs or ";">, and it must start with '/'
 * for a browser to use it. */
static bool path_ok(weft_span_t p) {
    if (!p.len || p.ptr[0] != '/')
        return false;
    for (size_t i = 0; i < p.len; i++) {
        unsigned char c = (unsigned char)p.ptr[i];
        if (c < 0x20 || c >= 0x7f || c == ';')
            return false;
    }
    return true;
}

ssize_t weft_set_cookie_write(char *buf, size_t cap,
                              const weft_set_cookie_t *c) {
    static const char *const samesite[] = {NULL, "Strict", "Lax", "None"};
    bool secure = c->flags & WEFT_COOKIE_SECURE;
    if (!weft_http_is_token(c->name.ptr, c->name.len) ||
        !cookie_value_ok(c->value) ||
        (c->domain.ptr && !domain_ok(c->domain)) ||
        (c->path.ptr && !path_ok(c->path)) ||
        ((c->flags & WEFT_COOKIE_MAX_AGE) && c->max_age < 0) ||
        c->samesite < WEFT_SAMESITE_UNSET || c->samesite > WEFT_SAMESITE_NONE ||
        (c->samesite == WEFT_SAMESITE_NONE && !secure) ||
        ((c->flags & WEFT_COOKIE_PARTITIONED) && !secure))
        return -EINVAL;
    char date[WEFT_HTTP_DATE_LEN + 1];
    if (c->flags & WEFT_COOKIE_EXPIRES) {
        /* 1601-01-01, the earliest year a cookie date may have */
        if ((int64_t)c->expires < INT64_C(-11644473600) ||
            weft_http_date_write(date, sizeof date, c->expires) < 0)
            return -ERANGE;
    }
    char age[24];
    snprintf(age, sizeof age, "%" PRId64, c->max_age);
    struct {
        bool on;
        const char *key;
        const char *val;
        size_t vlen;
    } parts[] = {
        {true, "", c->name.ptr, c->name.len},
        {true, "=", c->value.ptr, c->value.len},
        {c->flags & WEFT_COOKIE_EXPIRES, "; Expires=", date,
         WEFT_HTTP_DATE_LEN},
        {c->flags & WEFT_COOKIE_MAX_AGE, "; Max-Age=", age, strlen(age)},
        {c->domain.ptr != NULL, "; Domain=", c->domain.ptr, c->domain.len},
        {c->path.ptr != NULL, "; Path=", c->path.ptr, c->path.len},
        {secure, "; Secure", NULL, 0},
        {c->flags & WEFT_COOKIE_HTTPONLY, "; HttpOnly", NULL, 0},
        {c->samesite != WEFT_SAMESITE_UNSET, "; SameSite=",
         samesite[c->samesite], c->samesite ? strlen(samesite[c->samesite]) : 0},
        {c->flags & WEFT_COOKIE_PARTITIONED, "; Partitioned", NULL, 0},
    };
    size_t w = 0;
    for (size_t i = 0; i < WEFT__ARRAY_LEN(parts); i++) {
        if (!parts[i].on)
            continue;
        size_t kl = strlen(parts[i].key);
        if (w + kl + parts[i].vlen >= cap)
            return -ENOSPC;
        memcpy(buf + w, parts[i].key, kl);
        if (parts[i].vlen)
            memcpy(buf + w + kl, parts[i].val, parts[i].vlen);
        w += kl + parts[i].vlen;
    }
    return weft__terminate(buf, cap, w);
}
