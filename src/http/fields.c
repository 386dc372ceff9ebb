/* Header fields (RFC 9110 5): lookup, list values, parameters, quality
 * values and content-coding negotiation. */
#include "msg_int.h"

ssize_t weft_http_field_find(const weft_http_field_t *f, size_t n,
                             const char *name, size_t from) {
    for (size_t i = from; i < n; i++)
        if (weft__ieq(f[i].name.ptr, f[i].name.len, name))
            return (ssize_t)i;
    return -ENOENT;
}

size_t weft_http_field_count(const weft_http_field_t *f, size_t n,
                             const char *name) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += weft__ieq(f[i].name.ptr, f[i].name.len, name);
    return k;
}

bool weft_http_is_token(const char *s, size_t n) {
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!weft__cc((unsigned char)s[i], WEFT__C_TCHAR))
            return false;
    return true;
}

/* ---- lists ------------------------------------------------------------- */

void weft_http_list_init(weft_http_list_iter_t *it, const char *s, size_t n) {
    it->p = s;
    it->end = s ? s + n : s;
}

/* The first ',' or ';' (stop) outside a quoted string from p, or end;
 * NULL for a quoted string that does not close. */
static const char *scan_to(const char *p, const char *end, char stop) {
    while (p < end && *p != stop) {
        if (*p == '"') {
            p = weft__quoted_end(p, end);
            if (!p)
                return NULL;
        } else {
            p++;
        }
    }
    return p;
}

int weft_http_list_next(weft_http_list_iter_t *it, weft_span_t *elem) {
    const char *p = it->p, *end = it->end;
    while (p < end && (*p == ',' || weft__ows(*p)))
        p++;
    if (p == end) {
        it->p = p;
        return 0;
    }
    const char *e = scan_to(p, end, ',');
    if (!e) {
        it->p = end;
        return -EINVAL;
    }
    it->p = e;
    size_t len = (size_t)(e - p);
    elem->ptr = weft__trim(p, &len);
    elem->len = len;
    return 1;
}

/* ---- parameters -------------------------------------------------------- */

int weft_http_params_init(weft_http_param_iter_t *it, const char *s, size_t n,
                          weft_span_t *value) {
    const char *end = s ? s + n : s;
    const char *semi = scan_to(s, end, ';');
    it->p = it->end = end;
    if (!semi)
        return -EINVAL;
    size_t len = (size_t)(semi - s);
    value->ptr = weft__trim(s, &len);
    value->len = len;
    it->p = semi;
    return 0;
}

static const char *token_end(const char *p, const char *end) {
    while (p < end && weft__cc((unsigned char)*p, WEFT__C_TCHAR))
        p++;
    return p;
}

int weft_http_params_next(weft_http_param_iter_t *it, weft_span_t *name,
                          weft_span_t *value) {
    const char *p = it->p, *end = it->end;
    it->p = end; /* unless a parameter is found */
    for (;;) {
        while (p < end && weft__ows(*p))
            p++;
        if (p == end)
            return 0;
        if (*p != ';')
            return -EINVAL;
        for (p++; p < end && weft__ows(*p); p++)
            ;
        if (p < end && *p != ';')
            break;
    }
    if (p == end)
        return 0;
    const char *ne = token_end(p, end);
    if (ne == p || ne == end || *ne != '=')
        return -EINVAL;
    const char *v = ne + 1, *ve;
    if (v < end && *v == '"')
        ve = weft__quoted_end(v, end);
    else
        ve = token_end(v, end);
    if (!ve || ve == v)
        return -EINVAL;
    *name = (weft_span_t){p, (size_t)(ne - p)};
    *value = (weft_span_t){v, (size_t)(ve - v)};
    it->p = ve;
    return 1;
}

int weft_http_param_get(const char *s, size_t n, const char *name,
                        weft_span_t *value) {
    weft_http_param_iter_t it;
    weft_span_t v, pn, pv;
    int r = weft_http_params_init(&it, s, n, &v);
    while (r == 0 && (r = weft_http_params_next(&it, &pn, &pv)) > 0) {
        if (weft__ieq(pn.ptr, pn.len, name)) {
            *value = pv;
            return 0;
        }
        r = 0;
    }
    return r < 0 ? r : -ENOENT;
}

ssize_t weft_http_unquote(char *out, size_t cap, const char *s, size_t n) {
    if (n > 0 && s[0] != '"') {
        if (!weft_http_is_token(s, n))
            return -EINVAL;
        if (n >= cap)
            return -ENOSPC;
        memmove(out, s, n);
        return weft__terminate(out, cap, n);
    }
    if (n < 2 || weft__quoted_end(s, s + n) != s + n)
        return -EINVAL;
    size_t w = 0;
    for (size_t i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\\')
            c = (unsigned char)s[++i];
        /* qdtext and quoted-pair: HTAB, SP, VCHAR, obs-text */
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -EINVAL;
        if (w >= cap)
            return -ENOSPC;
        out[w++] = (char)c; /* w < i: in place is safe */
    }
    return weft__terminate(out, cap, w);
}

int weft_http_qvalue(const char *s, size_t n) {
    if (n == 0 || (s[0] != '0' && s[0] != '1'))
        return -EINVAL;
    int v = (s[0] - '0') * 1000;
    if (n == 1)
        return v;
    if (s[1] != '.' || n > 5)
        return -EINVAL;
    int scale = 100;
    for (size_t i = 2; i < n; i++, scale /= 10) {
        if (!weft__cc((unsigned char)s[i], WEFT__C_DIGIT))
            return -EINVAL;
        v += (s[i] - '0') * scale;
    }
    return v > 1000 ? -EINVAL : v;
}

/* ---- negotiation ------------------------------------------------------- */

/* The q of an element (its "q" parameter, 1000 without one), or -EINVAL. */
static int element_q(weft_span_t elem, weft_span_t *coding) {
    weft_http_param_iter_t it;
    weft_span_t pn, pv;
    int q = 1000, r;
    if (weft_http_params_init(&it, elem.ptr, elem.len, coding) < 0 ||
        !weft_http_is_token(coding->ptr, coding->len))
        return -EINVAL;
    while ((r = weft_http_params_next(&it, &pn, &pv)) > 0)
        if (weft__ieq(pn.ptr, pn.len, "q") &&
            (q = weft_http_qvalue(pv.ptr, pv.len)) < 0)
            return -EINVAL;
    return r < 0 ? r : q;
}

/* The q the Accept-Encoding fields give `coding` by name (-1: not named)
 * and, in *star, the q of "*" (-1: none). */
static int coding_q(const weft_http_field_t *f, size_t n, const char *coding,
                    int *star) {
    bool gzip = weft__ieq(coding, strlen(coding), "gzip");
    int q = -1;
    *star = -1;
    for (ssize_t i = 0; (i = weft_http_field_find(f, n, "accept-encoding",
                                                  (size_t)i)) >= 0; i++) {
        weft_http_list_iter_t it;
        weft_span_t elem, name;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        while (weft_http_list_next(&it, &elem) > 0) {
            int eq = element_q(elem, &name);
            if (eq < 0)
                continue;
            if (weft__ieq(name.ptr, name.len, coding) ||
                (gzip && weft__ieq(name.ptr, name.len, "x-gzip")))
                q = eq > q ? eq : q;
            else if (name.len == 1 && name.ptr[0] == '*')
                *star = eq;
        }
    }
    return q;
}

int weft_http_choose_encoding(const weft_http_field_t *f, size_t n,
                              const char *const *codings, size_t ncodings) {
    if (weft_http_field_find(f, n, "accept-encoding", 0) < 0) {
        for (size_t i = 0; i < ncodings; i++)
            if (weft__ieq(codings[i], strlen(codings[i]), "identity"))
                return (int)i;
        return ncodings ? 0 : -ENOENT;
    }
    int best = -ENOENT, best_q = 0;
    for (size_t i = 0; i < ncodings && i < INT32_MAX; i++) {
        int star, q = coding_q(f, n, codings[i], &star);
        if (q < 0) {
            bool identity =
                weft__ieq(codings[i], strlen(codings[i]), "identity");
            /* identity unnamed: acceptable, but after any coding the
             * client named (a client saying "gzip;q=0.5" wants gzip) */
            q = star >= 0 ? star : identity ? 1 : 0;
        }
        if (q > best_q) {
            best = (int)i;
            best_q = q;
        }
    }
    return best;
}

bool weft_http_field_has_token(const weft_http_field_t *f, size_t n,
                               const char *name, const char *token) {
    for (ssize_t i = 0; (i = weft_http_field_find(f, n, name, (size_t)i)) >= 0;
         i++) {
        weft_http_list_iter_t it;
        weft_http_param_iter_t pit;
        weft_span_t elem, v;
        weft_http_list_init(&it, f[i].value.ptr, f[i].value.len);
        while (weft_http_list_next(&it, &elem) > 0)
            if (weft_http_params_init(&pit, elem.ptr, elem.len, &v) == 0 &&
                weft__ieq(v.ptr, v.len, token))
                return true;
    }
    return false;
}
