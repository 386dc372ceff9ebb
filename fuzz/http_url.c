/* libFuzzer target: URLs and request targets (weft/httpmsg.h).
 *
 * Beyond "no crash": a parsed URL is written back byte for byte and
 * parses again to the same parts; request targets have the shape their
 * form promises; resolving a reference (the input split at its first
 * newline into base and reference) gives a URL that parses, serialises
 * to itself and holds no dot segment. */
#include "fuzz_check.h"
#include "weft/httpmsg.h"

static int span_eq(weft_span_t a, weft_span_t b, const char *abase,
                   const char *bbase) {
    if (!a.ptr || !b.ptr)
        return !a.ptr && !b.ptr;
    return a.len == b.len && a.ptr - abase == b.ptr - bbase;
}

static void same_parts(const weft_url_t *a, const char *abase,
                       const weft_url_t *b, const char *bbase) {
    CHECK(span_eq(a->scheme, b->scheme, abase, bbase));
    CHECK(span_eq(a->userinfo, b->userinfo, abase, bbase));
    CHECK(span_eq(a->host, b->host, abase, bbase));
    CHECK(span_eq(a->port, b->port, abase, bbase));
    CHECK(span_eq(a->path, b->path, abase, bbase));
    CHECK(span_eq(a->query, b->query, abase, bbase));
    CHECK(span_eq(a->fragment, b->fragment, abase, bbase));
    CHECK(a->port_num == b->port_num && a->flags == b->flags);
}

static void check_url(const char *s, size_t n) {
    weft_url_t u, v;
    static char buf[1 << 17];
    if (weft_url_parse(&u, s, n) < 0)
        return;
    CHECK(u.path.ptr != NULL);
    CHECK(u.port_num >= -1 && u.port_num <= 65535);
    ssize_t m = weft_url_serialize(&u, buf, sizeof buf);
    CHECK(m == (ssize_t)n && memcmp(buf, s, n) == 0);
    CHECK(weft_url_parse(&v, buf, (size_t)m) == 0);
    same_parts(&u, s, &v, buf);
    char host[300];
    ssize_t h = weft_url_host(&u, host, sizeof host);
    if (h >= 0)
        CHECK((size_t)h == strlen(host) && h > 0);
}

static void check_target(const char *method, const char *s, size_t n) {
    weft_http_target_t t;
    if (weft_http_target_parse(&t, method, strlen(method), s, n) < 0)
        return;
    CHECK(!memchr(s, '#', n) && !t.url.fragment.ptr);
    switch (t.form) {
    case WEFT_HTTP_TARGET_ORIGIN:
        CHECK(t.url.path.len > 0 && t.url.path.ptr[0] == '/');
        CHECK(!t.url.host.ptr && !t.url.scheme.ptr);
        break;
    case WEFT_HTTP_TARGET_ABSOLUTE:
        CHECK(t.url.scheme.ptr && t.url.host.len > 0 && !t.url.userinfo.ptr);
        break;
    case WEFT_HTTP_TARGET_AUTHORITY:
        CHECK(strcmp(method, "CONNECT") == 0);
        CHECK(t.url.host.len > 0 && t.url.port_num >= 0 && !t.url.userinfo.ptr);
        break;
    case WEFT_HTTP_TARGET_ASTERISK:
        CHECK(strcmp(method, "OPTIONS") == 0 && n == 1 && s[0] == '*');
        break;
    default:
        CHECK(0);
    }
}

/* No "." or ".." segment in the path of a resolved URL (but the "/."
 * that keeps "//x" a path when there is no authority). */
static void no_dot_segments(const weft_url_t *u) {
    const char *p = u->path.ptr, *end = p + u->path.len;
    if (!u->host.ptr && u->path.len >= 3 && memcmp(p, "/./", 3) == 0)
        p += 2;
    while (p < end) {
        if (*p == '/')
            p++;
        const char *seg = p;
        while (p < end && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        CHECK(!(len == 1 && seg[0] == '.'));
        CHECK(!(len == 2 && seg[0] == '.' && seg[1] == '.'));
    }
}

static void check_resolve(const char *s, size_t n) {
    const char *nl = memchr(s, '\n', n);
    if (!nl)
        return;
    weft_url_t base, ref, out, again;
    static char buf[1 << 17], buf2[1 << 17];
    if (weft_url_parse(&base, s, (size_t)(nl - s)) < 0 ||
        weft_url_parse(&ref, nl + 1, n - (size_t)(nl - s) - 1) < 0)
        return;
    ssize_t m = weft_url_resolve(&base, &ref, buf, sizeof buf, &out);
    if (!base.scheme.ptr) {
        CHECK(m == -EINVAL);
        return;
    }
    CHECK(m >= 0);
    CHECK((size_t)m == strlen(buf) || memchr(buf, 0, (size_t)m) == NULL);
    CHECK(out.scheme.ptr != NULL);
    CHECK(weft_url_serialize(&out, buf2, sizeof buf2) == m &&
          memcmp(buf, buf2, (size_t)m) == 0);
    CHECK(weft_url_parse(&again, buf, (size_t)m) == 0);
    same_parts(&out, buf, &again, buf);
    if (ref.scheme.ptr || ref.host.ptr || ref.path.len)
        no_dot_segments(&out); /* else the base's path, as it was */
    /* resolving the result against itself with an empty reference
     * changes nothing but the fragment */
    weft_url_t empty;
    CHECK(weft_url_parse(&empty, "", 0) == 0);
    ssize_t k = weft_url_resolve(&out, &empty, buf2, sizeof buf2, &again);
    CHECK(k >= 0);
    size_t without_frag = out.fragment.ptr
                              ? (size_t)(out.fragment.ptr - 1 - buf)
                              : (size_t)m;
    CHECK((size_t)k == without_frag && memcmp(buf, buf2, (size_t)k) == 0);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size > 65536)
        return 0;
    const char *s = (const char *)data;
    check_url(s, size);
    check_target("GET", s, size);
    check_target("CONNECT", s, size);
    check_target("OPTIONS", s, size);
    check_resolve(s, size);
    return 0;
}
