/* libFuzzer target: percent-decoding and -encoding, the server's path
 * normalisation, query strings (weft/httpmsg.h).
 *
 * Invariants: a normalised path starts with '/', holds no NUL and no
 * segment that is (or decodes to) "." or "..", so it never leaves a root;
 * with WEFT_PATH_MERGE_SLASHES no "//"; without WEFT_PATH_PLAIN its only
 * escapes are %2F and %25 and normalising it again changes nothing; in
 * place gives what out of place gives. decode(encode(x)) == x for every
 * set, and the encoding holds only what the set keeps. A pair appended
 * to a query is read back by weft_query_get. */
#include "fuzz_check.h"
#include "weft/httpmsg.h"

#define MAXN 8192
static char out[MAXN + 2], out2[MAXN + 2], copy[MAXN + 2];
static char enc[3 * MAXN + 1], dec[MAXN + 1];

static void check_segments(const char *p, size_t n, unsigned flags) {
    const char *end = p + n;
    CHECK(n > 0 && p[0] == '/');
    while (p < end) {
        p++; /* '/' */
        const char *seg = p;
        while (p < end && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        char d[MAXN + 1];
        ssize_t dl = len;
        if (flags & WEFT_PATH_PLAIN) {
            memcpy(d, seg, len);
        } else {
            dl = weft_pct_decode(d, sizeof d, seg, len, 0);
            CHECK(dl >= 0);
        }
        CHECK(!(dl == 1 && d[0] == '.'));
        CHECK(!(dl == 2 && d[0] == '.' && d[1] == '.'));
        if ((flags & WEFT_PATH_MERGE_SLASHES) && p < end)
            CHECK(len > 0);
    }
}

static void check_normalize(const char *s, size_t n, unsigned flags) {
    ssize_t m = weft_http_path_normalize(out, sizeof out, s, n, flags);
    memcpy(copy, s, n);
    ssize_t m2 = weft_http_path_normalize(copy, sizeof copy, copy, n, flags);
    CHECK(m == m2);
    if (m < 0) {
        CHECK(m == -EINVAL);
        return;
    }
    CHECK(memcmp(out, copy, (size_t)m) == 0);
    CHECK((size_t)m <= (n ? n : 1) && out[m] == 0);
    CHECK(!memchr(out, 0, (size_t)m));
    check_segments(out, (size_t)m, flags);
    if (flags & WEFT_PATH_PLAIN) {
        /* the plain result is the default one with its segments decoded */
        ssize_t k = weft_http_path_normalize(out2, sizeof out2, s, n,
                                             flags & ~WEFT_PATH_PLAIN);
        CHECK(k >= 0);
        size_t w = 0;
        for (const char *p = out2, *end = out2 + k; p < end;) {
            const char *seg = ++p;
            while (p < end && *p != '/')
                p++;
            copy[w++] = '/';
            ssize_t d = weft_pct_decode(copy + w, sizeof copy - w, seg,
                                        (size_t)(p - seg), 0);
            CHECK(d >= 0);
            w += (size_t)d;
        }
        CHECK(w == (size_t)m && memcmp(copy, out, w) == 0);
        return;
    }
    for (ssize_t i = 0; i < m; i++)
        if (out[i] == '%')
            CHECK(i + 2 < m && out[i + 1] == '2' &&
                  (out[i + 2] == 'F' || out[i + 2] == '5'));
    ssize_t k = weft_http_path_normalize(out2, sizeof out2, out, (size_t)m,
                                         flags);
    CHECK(k == m && memcmp(out, out2, (size_t)m) == 0);
}

#define HEX "0123456789ABCDEF"

/* What each set leaves as it is, restated from RFC 3986 2.2-2.3 and
 * WHATWG URL's form encoding. */
static bool kept(int set, unsigned char c) {
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9');
    if (!c)
        return false;
    if (set == WEFT_PCT_FORM)
        return alnum || strchr("*-._+", c);
    bool unreserved = alnum || strchr("-._~", c);
    bool pchar = unreserved || strchr("!$&'()*+,;=:@", c);
    switch (set) {
    case WEFT_PCT_COMPONENT:
        return unreserved;
    case WEFT_PCT_SEGMENT:
        return pchar;
    case WEFT_PCT_PATH:
        return pchar || c == '/';
    default:
        return pchar || c == '/' || c == '?';
    }
}

static void check_pct(const char *s, size_t n) {
    bool has_nul = memchr(s, 0, n) != NULL;
    for (int set = WEFT_PCT_COMPONENT; set <= WEFT_PCT_FORM; set++) {
        ssize_t e = weft_pct_encode(enc, sizeof enc, s, n, set);
        CHECK(e >= (ssize_t)n);
        for (ssize_t i = 0; i < e; i++) {
            if (enc[i] == '%') {
                CHECK(i + 2 < e && strchr(HEX, enc[i + 1]) &&
                      strchr(HEX, enc[i + 2]));
                i += 2;
            } else {
                CHECK(kept(set, (unsigned char)enc[i]));
            }
        }
        unsigned flags = set == WEFT_PCT_FORM ? WEFT_PCT_PLUS : 0;
        ssize_t d = weft_pct_decode(dec, sizeof dec, enc, (size_t)e, flags);
        if (has_nul) {
            CHECK(d == -EINVAL);
        } else {
            CHECK(d == (ssize_t)n && memcmp(dec, s, n) == 0);
        }
    }
    /* in place and out of place agree */
    for (unsigned flags = 0; flags < 4; flags++) {
        ssize_t a = weft_pct_decode(dec, sizeof dec, s, n, flags);
        memcpy(copy, s, n);
        ssize_t b = weft_pct_decode(copy, sizeof copy, copy, n, flags);
        CHECK(a == b);
        if (a >= 0)
            CHECK(memcmp(dec, copy, (size_t)a) == 0 && !memchr(dec, 0, (size_t)a));
    }
}

static void check_query(const char *s, size_t n) {
    weft_query_iter_t it;
    weft_span_t k, v;
    weft_query_init(&it, s, n);
    int pairs = 0;
    while (weft_query_next(&it, &k, &v)) {
        CHECK(k.ptr >= s && k.ptr + k.len <= s + n);
        CHECK(v.ptr >= s && v.ptr + v.len <= s + n);
        CHECK(!memchr(k.ptr, '&', k.len) && !memchr(k.ptr, '=', k.len));
        CHECK(!memchr(v.ptr, '&', v.len));
        pairs++;
    }
    CHECK(pairs <= (int)n);
    /* key and value from the two halves: append, then get */
    size_t half = n / 2;
    char key[MAXN / 2 + 1];
    if (memchr(s, 0, half))
        return;
    memcpy(key, s, half);
    key[half] = 0;
    ssize_t q = weft_query_append(enc, sizeof enc, 0, s, half, s + half,
                                  n - half);
    CHECK(q >= 0);
    ssize_t g = weft_query_get(enc, (size_t)q, key, dec, sizeof dec);
    if (memchr(s + half, 0, n - half)) {
        CHECK(g == -EINVAL);
    } else {
        CHECK(g == (ssize_t)(n - half) && memcmp(dec, s + half, n - half) == 0);
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size > MAXN)
        return 0;
    const char *s = (const char *)data;
    for (unsigned flags = 0; flags < 8; flags++)
        check_normalize(s, size, flags);
    check_pct(s, size);
    check_query(s, size);
    return 0;
}
