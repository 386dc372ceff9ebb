/* libFuzzer target: cookies, dates and header field values
 * (weft/httpmsg.h).
 *
 * Invariants: Cookie pairs are trimmed spans of the input without ';';
 * a Set-Cookie that parses and that weft_set_cookie_write accepts reads
 * back the same; an HTTP-date that parses is written back (IMF-fixdate:
 * to the same bytes, day name and leap second aside) and parses to the
 * same time; a cookie date that parses is at or after 1601 and its
 * IMF-fixdate reads back the same through the cookie-date algorithm;
 * list elements are trimmed, non-empty spans; q-values lie in 0..1000. */
#include "fuzz_check.h"
#include "weft/httpmsg.h"

static bool inside(weft_span_t x, const char *s, size_t n) {
    return x.ptr >= s && x.ptr + x.len <= s + n;
}

static bool trimmed(weft_span_t x) {
    return !x.len || (x.ptr[0] != ' ' && x.ptr[0] != '\t' &&
                      x.ptr[x.len - 1] != ' ' && x.ptr[x.len - 1] != '\t');
}

static bool span_same(weft_span_t a, weft_span_t b) {
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

static void check_cookie(const char *s, size_t n) {
    weft_cookie_iter_t it;
    weft_span_t k, v;
    weft_cookie_init(&it, s, n);
    while (weft_cookie_next(&it, &k, &v)) {
        CHECK(inside(k, s, n) && inside(v, s, n));
        CHECK(trimmed(k) && trimmed(v) && k.len + v.len > 0);
        CHECK(!memchr(k.ptr, ';', k.len) && !memchr(v.ptr, ';', v.len));
        CHECK(!memchr(k.ptr, '=', k.len));
    }
}

static void check_set_cookie(const char *s, size_t n) {
    weft_set_cookie_t c, d;
    static char buf[1 << 16];
    int r = weft_set_cookie_parse(&c, s, n);
    if (r < 0) {
        CHECK(r == -EINVAL || r == -E2BIG);
        return;
    }
    CHECK(c.name.len > 0 && inside(c.name, s, n) && trimmed(c.name));
    CHECK(inside(c.value, s, n) && trimmed(c.value));
    CHECK(!c.path.ptr || (c.path.len && c.path.ptr[0] == '/'));
    CHECK(!c.domain.ptr || (c.domain.len && inside(c.domain, s, n)));
    CHECK(c.samesite >= WEFT_SAMESITE_UNSET && c.samesite <= WEFT_SAMESITE_NONE);
    ssize_t w = weft_set_cookie_write(buf, sizeof buf, &c);
    if (w < 0)
        return;
    CHECK((size_t)w == strlen(buf));
    CHECK(!strchr(buf, '\r') && !strchr(buf, '\n'));
    CHECK(weft_set_cookie_parse(&d, buf, (size_t)w) == 0);
    CHECK(span_same(c.name, d.name) && span_same(c.value, d.value));
    CHECK(span_same(c.path, d.path) && span_same(c.domain, d.domain));
    CHECK(c.flags == d.flags && c.samesite == d.samesite);
    if (c.flags & WEFT_COOKIE_EXPIRES)
        CHECK(c.expires == d.expires);
    if (c.flags & WEFT_COOKIE_MAX_AGE)
        CHECK(c.max_age == d.max_age);
}

static void check_dates(const char *s, size_t n) {
    char buf[WEFT_HTTP_DATE_LEN + 1];
    time_t t, t2;
    if (weft_http_date_parse(s, n, &t) == 0) {
        CHECK(weft_http_date_write(buf, sizeof buf, t) == WEFT_HTTP_DATE_LEN);
        CHECK(weft_http_date_parse(buf, WEFT_HTTP_DATE_LEN, &t2) == 0 && t == t2);
        if (n == WEFT_HTTP_DATE_LEN && s[3] == ',' && memcmp(s + 23, "60", 2))
            CHECK(memcmp(buf + 3, s + 3, n - 3) == 0);
    }
    if (weft_cookie_date_parse(s, n, &t) == 0) {
        CHECK((long long)t >= -11644473600LL);
        CHECK(weft_http_date_write(buf, sizeof buf, t) == WEFT_HTTP_DATE_LEN);
        CHECK(weft_cookie_date_parse(buf, WEFT_HTTP_DATE_LEN, &t2) == 0 &&
              t == t2);
    }
}

static void check_fields(const char *s, size_t n) {
    weft_http_list_iter_t it;
    weft_http_param_iter_t pit;
    weft_span_t e, v, pn, pv;
    static char buf[1 << 16];
    int r;
    weft_http_list_init(&it, s, n);
    while ((r = weft_http_list_next(&it, &e)) > 0) {
        CHECK(inside(e, s, n) && trimmed(e) && e.len > 0);
        if (weft_http_params_init(&pit, e.ptr, e.len, &v) < 0)
            continue;
        CHECK(inside(v, e.ptr, e.len) && trimmed(v));
        while ((r = weft_http_params_next(&pit, &pn, &pv)) > 0) {
            CHECK(weft_http_is_token(pn.ptr, pn.len) && pv.len > 0);
            ssize_t u = weft_http_unquote(buf, sizeof buf, pv.ptr, pv.len);
            CHECK(u == -EINVAL || (u >= 0 && u <= (ssize_t)pv.len));
            int q = weft_http_qvalue(pv.ptr, pv.len);
            CHECK(q == -EINVAL || (q >= 0 && q <= 1000));
        }
    }
    weft_http_field_t f = {{"Accept-Encoding", 15}, {s, n}};
    const char *const codings[] = {"br", "gzip", "identity"};
    int c = weft_http_choose_encoding(&f, 1, codings, 3);
    CHECK(c == -ENOENT || (c >= 0 && c < 3));
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size > 16384)
        return 0;
    const char *s = (const char *)data;
    check_cookie(s, size);
    check_set_cookie(s, size);
    check_dates(s, size);
    check_fields(s, size);
    return 0;
}
