/* The HTTP message helpers (weft/httpmsg.h): URLs and request targets,
 * percent-encoding and path normalisation, query strings, header fields,
 * cookies and dates; each with the hostile inputs a server or client
 * meets. */
#include <limits.h>

#include "support.h"
#include "weft/httpmsg.h"

#define S(lit) lit, sizeof(lit) - 1

static char sbuf[8][512];
static int sbuf_i;

/* A span (or absent) as text: "-" for absent. */
static const char *sp(weft_span_t s) {
    char *b = sbuf[sbuf_i++ % 8];
    if (!s.ptr)
        return "-";
    snprintf(b, sizeof sbuf[0], "%.*s", (int)s.len, s.ptr);
    return b;
}

/* The parts of a parsed URL as "scheme|userinfo|host|port|path|query|frag",
 * or "EINVAL". */
static const char *url_parts(const char *s) {
    static char out[1024];
    weft_url_t u;
    if (weft_url_parse(&u, s, strlen(s)) < 0)
        return "EINVAL";
    snprintf(out, sizeof out, "%s|%s|%s|%s|%s|%s|%s", sp(u.scheme),
             sp(u.userinfo), sp(u.host), sp(u.port), sp(u.path), sp(u.query),
             sp(u.fragment));
    return out;
}

START_TEST(url_parse_splits_the_components_of_rfc3986) {
    static const char *const cases[][2] = {
        {"http://user:pw@Example.COM:8080/a/b?x=1&y#frag",
         "http|user:pw|Example.COM|8080|/a/b|x=1&y|frag"},
        {"http://h", "http|-|h|-||-|-"},
        {"http://h:/?#", "http|-|h||/||"},
        {"https://[::1]:443/", "https|-|::1|443|/|-|-"},
        {"http://[fe80::1%25eth0]/x", "http|-|fe80::1%25eth0|-|/x|-|-"},
        {"http://[::ffff:1.2.3.4]", "http|-|::ffff:1.2.3.4|-||-|-"},
        {"file:///etc/passwd", "file|-||-|/etc/passwd|-|-"},
        {"mailto:a@b.c", "mailto|-|-|-|a@b.c|-|-"},
        {"urn:isbn:0451450523", "urn|-|-|-|isbn:0451450523|-|-"},
        {"//g/x", "-|-|g|-|/x|-|-"},
        {"?y", "-|-|-|-||y|-"},
        {"#s", "-|-|-|-||-|s"},
        {"", "-|-|-|-||-|-"},
        {"g;x=1/../y", "-|-|-|-|g;x=1/../y|-|-"},
        {"./a:b", "-|-|-|-|./a:b|-|-"},
        {"/a:b", "-|-|-|-|/a:b|-|-"},
        {"http://h/%E2%82%AC/caf\xc3\xa9?q=\"x\"",
         "http|-|h|-|/%E2%82%AC/caf\xc3\xa9|q=\"x\"|-"},
        {"HTTP+x.y-z://h", "HTTP+x.y-z|-|h|-||-|-"},
        {"http://h:0080/", "http|-|h|0080|/|-|-"},
        {"http://%68ost/", "http|-|%68ost|-|/|-|-"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(url_parts(cases[i][0]), cases[i][1]);
    weft_url_t u;
    ck_assert_ok(weft_url_parse(&u, S("http://h:8080/")));
    ck_assert_int_eq(u.port_num, 8080);
    ck_assert_ok(weft_url_parse(&u, S("http://h:/")));
    ck_assert_int_eq(u.port_num, -1);
    ck_assert_ok(weft_url_parse(&u, S("http://[::1]:65535")));
    ck_assert_int_eq(u.port_num, 65535);
    ck_assert_uint_eq(u.flags & WEFT_URL_IPV6, WEFT_URL_IPV6);
    ck_assert_ok(weft_url_parse(&u, NULL, 0));
    ck_assert_uint_eq(u.path.len, 0);
}
END_TEST

START_TEST(url_parse_refuses_hostile_urls) {
    static const char *const bad[] = {
        "1a:b",                  /* scheme must start with a letter */
        "a b:c",                 /* nor hold a space */
        ":x",                    /* empty scheme */
        "http://[::1",           /* unclosed bracket */
        "http://[::1]x/",        /* junk after it */
        "http://[zz::1]/",       /* not an address */
        "http://[v1.x]/",        /* IPvFuture */
        "http://[fe80::1%eth0]/", /* a zone must be %25-encoded */
        "http://[fe80::1%25]/",  /* and not empty */
        "http://[1.2.3.4]/",     /* IPv4 in brackets */
        "http://h:65536/",       /* port overflow */
        "http://h:99999999999999999999999/",
        "http://h:8a/", "http://h:-1/", "http://h:+80/",
        "http://a b/",           /* space in host */
        "http://h\xc3\xa9/",     /* IDN: send punycode */
        "http://a@b@c/",         /* two '@' */
        "http://h:1:2/",
        "http://h/a b",          /* space in path */
        "http://h/\x01", "http://h/\x7f", "http://h/?\r\n", "http://h/#\t",
        "http://h/%zz", "http://h/%4", "http://h/%", "http://h/?%g0",
        "http://h/#a#b",         /* '#' in fragment */
        "http://h/\x1b[0m",
    };
    weft_url_t u;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(weft_url_parse(&u, bad[i], strlen(bad[i])) == -EINVAL,
                      "accepted %s", bad[i]);
    /* a NUL inside */
    ck_assert_err(weft_url_parse(&u, S("http://h/a\0b")), -EINVAL);
    ck_assert_err(weft_url_parse(&u, S("http://h\0.evil/")), -EINVAL);
    /* found by fuzz/http_url.c: inet_pton stops at a NUL */
    ck_assert_err(weft_url_parse(&u, S("http://[::\0]/")), -EINVAL);
    ck_assert_err(weft_url_parse(&u, S("//[::1\0x]")), -EINVAL);
}
END_TEST

START_TEST(url_serialize_writes_a_parsed_url_back_byte_for_byte) {
    static const char *const cases[] = {
        "http://user:pw@Example.COM:8080/a/b?x=1&y#frag",
        "http://h", "http://h:/?#", "https://[::1]:443/",
        "http://[fe80::1%25eth0]/x", "file:///etc/passwd", "mailto:a@b.c",
        "//g/x", "?y", "#s", "", "g;x=1/../y", "./a:b",
    };
    char buf[256];
    weft_url_t u;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_ok(weft_url_parse(&u, cases[i], strlen(cases[i])));
        ck_assert_int_eq(weft_url_serialize(&u, buf, sizeof buf),
                         (int)strlen(cases[i]));
        ck_assert_str_eq(buf, cases[i]);
    }
    ck_assert_ok(weft_url_parse(&u, S("http://example.com/")));
    ck_assert_err(weft_url_serialize(&u, buf, 19), -ENOSPC);
    ck_assert_int_eq(weft_url_serialize(&u, buf, 20), 19);

    /* parts that cannot come back as themselves */
    memset(&u, 0, sizeof u);
    u.host = (weft_span_t){"h", 1};
    u.path = (weft_span_t){"x", 1}; /* "//hx" */
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.host = (weft_span_t){NULL, 0};
    u.path = (weft_span_t){"//x", 3}; /* would read as an authority */
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.path = (weft_span_t){"a:b", 3}; /* would read as a scheme */
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.path = (weft_span_t){"/", 1};
    u.scheme = (weft_span_t){"1x", 2};
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.scheme = (weft_span_t){"http", 4};
    u.host = (weft_span_t){"h", 1};
    u.port = (weft_span_t){"8x", 2};
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.port = (weft_span_t){"65536", 5};
    ck_assert_err(weft_url_serialize(&u, buf, sizeof buf), -EINVAL);
    u.port = (weft_span_t){"00000080", 8}; /* parses, so serialises */
    ck_assert_int_eq(weft_url_serialize(&u, buf, sizeof buf), 18);
    u.port = (weft_span_t){"81", 2};
    ck_assert_int_eq(weft_url_serialize(&u, buf, sizeof buf), 12);
    ck_assert_str_eq(buf, "http://h:81/");
}
END_TEST

static const char *resolve(const char *base, const char *ref) {
    static char buf[256];
    weft_url_t b, r, out;
    ck_assert_ok(weft_url_parse(&b, base, strlen(base)));
    ck_assert_ok(weft_url_parse(&r, ref, strlen(ref)));
    ssize_t n = weft_url_resolve(&b, &r, buf, sizeof buf, &out);
    if (n < 0)
        return weft_err_name((int)n);
    ck_assert_int_eq(n, (int)strlen(buf));
    /* out describes buf */
    char again[256];
    ck_assert_int_eq(weft_url_serialize(&out, again, sizeof again), n);
    ck_assert_str_eq(again, buf);
    return buf;
}

START_TEST(url_resolve_gives_the_examples_of_rfc3986_5_4) {
    static const char *const cases[][2] = {
        /* 5.4.1 normal examples */
        {"g:h", "g:h"}, {"g", "http://a/b/c/g"}, {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"}, {"/g", "http://a/g"}, {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"}, {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"}, {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"}, {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"}, {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"}, {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"}, {"..", "http://a/b/"}, {"../", "http://a/b/"},
        {"../g", "http://a/b/g"}, {"../..", "http://a/"},
        {"../../", "http://a/"}, {"../../g", "http://a/g"},
        /* 5.4.2 abnormal examples */
        {"../../../g", "http://a/g"}, {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"}, {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."}, {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."}, {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"}, {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"}, {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"}, {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"}, {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"}, {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_str_eq(resolve("http://a/b/c/d;p?q", cases[i][0]),
                         cases[i][1]);
}
END_TEST

START_TEST(url_resolve_redirects_and_edge_cases) {
    /* what Location headers look like */
    ck_assert_str_eq(resolve("https://u@h:8443/a/b?x#f", "/login?next=%2Fa"),
                     "https://u@h:8443/login?next=%2Fa");
    ck_assert_str_eq(resolve("https://h/a/b", "//other.example/x"),
                     "https://other.example/x");
    ck_assert_str_eq(resolve("http://[::1]:81/a/", "b"), "http://[::1]:81/a/b");
    ck_assert_str_eq(resolve("http://h", "x"), "http://h/x");
    ck_assert_str_eq(resolve("http://h/a/b", "HTTPS://Q/r"), "HTTPS://Q/r");
    ck_assert_str_eq(resolve("http://h/a", "../../../.."), "http://h/");
    /* no authority, and dot removal leaves "//x": kept a path by "/." */
    ck_assert_str_eq(resolve("foo:/a/b", "..//x"), "foo:/.//x");
    ck_assert_str_eq(resolve("foo:a/b", "../../c"), "foo:/c"); /* 5.2.4 as is */
    /* a base without a scheme is not a base */
    weft_url_t b, r, out;
    char buf[64];
    ck_assert_ok(weft_url_parse(&b, S("/a/b")));
    ck_assert_ok(weft_url_parse(&r, S("c")));
    ck_assert_err(weft_url_resolve(&b, &r, buf, sizeof buf, &out), -EINVAL);
    ck_assert_ok(weft_url_parse(&b, S("http://example.com/a/b")));
    ck_assert_err(weft_url_resolve(&b, &r, buf, 20, &out), -ENOSPC);
    ck_assert_int_eq(weft_url_resolve(&b, &r, buf, 23, &out), 22);
    ck_assert_str_eq(buf, "http://example.com/a/c");
    ck_assert_str_eq(sp(out.host), "example.com");
}
END_TEST

START_TEST(url_host_and_default_port) {
    char buf[64];
    weft_url_t u;
    ck_assert_ok(weft_url_parse(&u, S("http://WWW.Ex%41mple.com:81/")));
    ck_assert_int_eq(weft_url_host(&u, buf, sizeof buf), 15);
    ck_assert_str_eq(buf, "www.example.com");
    ck_assert_ok(weft_url_parse(&u, S("http://[FE80::1%25Eth0]/")));
    ck_assert_int_eq(weft_url_host(&u, buf, sizeof buf), 12);
    ck_assert_str_eq(buf, "fe80::1%Eth0");
    ck_assert_ok(weft_url_parse(&u, S("http://h%2Fx/")));
    ck_assert_err(weft_url_host(&u, buf, sizeof buf), -EINVAL);
    ck_assert_ok(weft_url_parse(&u, S("http://h%00/")));
    ck_assert_err(weft_url_host(&u, buf, sizeof buf), -EINVAL);
    ck_assert_ok(weft_url_parse(&u, S("http://a!b/")));
    ck_assert_err(weft_url_host(&u, buf, sizeof buf), -EINVAL);
    ck_assert_ok(weft_url_parse(&u, S("file:///x")));
    ck_assert_err(weft_url_host(&u, buf, sizeof buf), -ENOENT);
    ck_assert_ok(weft_url_parse(&u, S("/x")));
    ck_assert_err(weft_url_host(&u, buf, sizeof buf), -ENOENT);
    ck_assert_ok(weft_url_parse(&u, S("http://example.com/")));
    ck_assert_err(weft_url_host(&u, buf, 11), -ENOSPC);

    ck_assert_int_eq(weft_url_default_port((weft_span_t){S("http")}), 80);
    ck_assert_int_eq(weft_url_default_port((weft_span_t){S("HTTPS")}), 443);
    ck_assert_int_eq(weft_url_default_port((weft_span_t){S("ws")}), 80);
    ck_assert_int_eq(weft_url_default_port((weft_span_t){S("wss")}), 443);
    ck_assert_int_eq(weft_url_default_port((weft_span_t){S("ftp")}), -1);
    ck_assert_int_eq(weft_url_default_port((weft_span_t){NULL, 0}), -1);
}
END_TEST

/* ---- request targets --------------------------------------------------- */

static int target(const char *method, const char *s, weft_http_target_t *t) {
    return weft_http_target_parse(t, method, strlen(method), s, strlen(s));
}

START_TEST(target_forms_of_rfc9112_3_2) {
    weft_http_target_t t;
    ck_assert_ok(target("GET", "/a/b?x=1&y=%20", &t));
    ck_assert_int_eq(t.form, WEFT_HTTP_TARGET_ORIGIN);
    ck_assert_str_eq(sp(t.url.path), "/a/b");
    ck_assert_str_eq(sp(t.url.query), "x=1&y=%20");
    ck_assert_ptr_null(t.url.host.ptr);

    ck_assert_ok(target("GET", "//evil.example/x", &t)); /* a path */
    ck_assert_int_eq(t.form, WEFT_HTTP_TARGET_ORIGIN);
    ck_assert_str_eq(sp(t.url.path), "//evil.example/x");
    ck_assert_ptr_null(t.url.host.ptr);

    ck_assert_ok(target("GET", "/", &t));
    ck_assert_ptr_null(t.url.query.ptr);
    ck_assert_ok(target("GET", "/?", &t));
    ck_assert_str_eq(sp(t.url.query), "");

    ck_assert_ok(target("GET", "http://Example.com:8080/p?q", &t));
    ck_assert_int_eq(t.form, WEFT_HTTP_TARGET_ABSOLUTE);
    ck_assert_str_eq(sp(t.url.host), "Example.com");
    ck_assert_int_eq(t.url.port_num, 8080);
    ck_assert_str_eq(sp(t.url.path), "/p");
    ck_assert_ok(target("GET", "http://h", &t));
    ck_assert_str_eq(sp(t.url.path), "");

    ck_assert_ok(target("CONNECT", "example.com:443", &t));
    ck_assert_int_eq(t.form, WEFT_HTTP_TARGET_AUTHORITY);
    ck_assert_str_eq(sp(t.url.host), "example.com");
    ck_assert_int_eq(t.url.port_num, 443);
    ck_assert_ok(target("CONNECT", "[::1]:8443", &t));
    ck_assert_str_eq(sp(t.url.host), "::1");

    ck_assert_ok(target("OPTIONS", "*", &t));
    ck_assert_int_eq(t.form, WEFT_HTTP_TARGET_ASTERISK);
    ck_assert_str_eq(sp(t.url.path), "*");
    ck_assert_ok(target("OPTIONS", "/x", &t));
}
END_TEST

START_TEST(target_refuses_what_a_server_answers_400) {
    static const char *const bad[][2] = {
        {"GET", ""},
        {"GET", "*"},                /* asterisk is OPTIONS only */
        {"options", "*"},            /* methods are case-sensitive */
        {"GET", "/a#frag"},          /* no fragment in a target */
        {"GET", "/a b"},
        {"GET", "/a\r\nX: y"},
        {"GET", "/%zz"},
        {"GET", "/a?b#"},
        {"GET", "a/b"},              /* neither form */
        {"GET", "example.com:80"},   /* authority form is CONNECT only */
        {"GET", "http:///p"},        /* empty host */
        {"GET", "http:/p"},
        {"GET", "http://user@h/"},   /* userinfo */
        {"GET", "http://h/#x"},
        {"CONNECT", "example.com"},  /* port required */
        {"CONNECT", "example.com:"},
        {"CONNECT", ":443"},
        {"CONNECT", "u@example.com:443"},
        {"CONNECT", "example.com:443/x"},
        {"CONNECT", "http://example.com:443"},
        {"CONNECT", "/"},
        {"CONNECT", "h:99999"},
    };
    weft_http_target_t t;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(target(bad[i][0], bad[i][1], &t) == -EINVAL,
                      "accepted %s %s", bad[i][0], bad[i][1]);
    ck_assert_err(weft_http_target_parse(&t, S("GET"), S("/a\0b")), -EINVAL);
    ck_assert_err(weft_http_target_parse(&t, S("GET"), NULL, 0), -EINVAL);
}
END_TEST

/* ---- percent-encoding -------------------------------------------------- */

static const char *dec(const char *s, unsigned flags) {
    static char buf[256];
    ssize_t n = weft_pct_decode(buf, sizeof buf, s, strlen(s), flags);
    return n < 0 ? weft_err_name((int)n) : buf;
}

START_TEST(pct_decode_rejects_nul_and_bad_escapes) {
    ck_assert_str_eq(dec("a%20b%2fc%2F", 0), "a b/c/");
    ck_assert_str_eq(dec("a+b", 0), "a+b");
    ck_assert_str_eq(dec("a+b%2B", WEFT_PCT_PLUS), "a b+");
    ck_assert_str_eq(dec("%E2%82%ac", 0), "\xe2\x82\xac");
    ck_assert_str_eq(dec("", 0), "");
    ck_assert_str_eq(dec("%zz", 0), "EINVAL");
    ck_assert_str_eq(dec("%4", 0), "EINVAL");
    ck_assert_str_eq(dec("abc%", 0), "EINVAL");
    ck_assert_str_eq(dec("%-1", 0), "EINVAL");
    ck_assert_str_eq(dec("%00", 0), "EINVAL");
    ck_assert_str_eq(dec("%00", WEFT_PCT_LENIENT), "EINVAL");
    ck_assert_str_eq(dec("100%+%zz%4", WEFT_PCT_LENIENT | WEFT_PCT_PLUS),
                     "100% %zz%4");
    char nul[] = "a\0b";
    char out[8];
    ck_assert_err(weft_pct_decode(out, sizeof out, nul, 3, 0), -EINVAL);
    /* in place */
    char in[] = "%41%42c%20";
    ck_assert_int_eq(weft_pct_decode(in, sizeof in, in, strlen(in), 0), 4);
    ck_assert_str_eq(in, "ABc ");
    ck_assert_err(weft_pct_decode(out, 3, "abc", 3, 0), -ENOSPC);
    ck_assert_int_eq(weft_pct_decode(out, 4, "abc", 3, 0), 3);
}
END_TEST

static const char *enc(const char *s, int set) {
    static char buf[256];
    ssize_t n = weft_pct_encode(buf, sizeof buf, s, strlen(s), set);
    return n < 0 ? weft_err_name((int)n) : buf;
}

START_TEST(pct_encode_sets_and_round_trip) {
    const char *s = "a b/c?d&e=f+g~h:i@j%k#l\"\xc3\xa9*";
    ck_assert_str_eq(enc(s, WEFT_PCT_COMPONENT),
                     "a%20b%2Fc%3Fd%26e%3Df%2Bg~h%3Ai%40j%25k%23l%22%C3%A9%2A");
    ck_assert_str_eq(enc(s, WEFT_PCT_SEGMENT),
                     "a%20b%2Fc%3Fd&e=f+g~h:i@j%25k%23l%22%C3%A9*");
    ck_assert_str_eq(enc(s, WEFT_PCT_PATH),
                     "a%20b/c%3Fd&e=f+g~h:i@j%25k%23l%22%C3%A9*");
    ck_assert_str_eq(enc(s, WEFT_PCT_QUERY),
                     "a%20b/c?d&e=f+g~h:i@j%25k%23l%22%C3%A9*");
    ck_assert_str_eq(enc(s, WEFT_PCT_FORM),
                     "a+b%2Fc%3Fd%26e%3Df%2Bg%7Eh%3Ai%40j%25k%23l%22%C3%A9*");
    ck_assert_str_eq(enc("x", 0), "EINVAL");
    ck_assert_str_eq(enc("x", 99), "EINVAL");
    char out[4];
    ck_assert_err(weft_pct_encode(out, sizeof out, "a b", 3, WEFT_PCT_PATH),
                  -ENOSPC);
    ck_assert_err(weft_pct_encode(out, sizeof out, "abcd", 4, WEFT_PCT_PATH),
                  -ENOSPC);

    /* every byte but NUL, through every set and back */
    char all[255], big[3 * 255 + 1], back[256];
    for (int i = 0; i < 255; i++)
        all[i] = (char)(i + 1);
    for (int set = WEFT_PCT_COMPONENT; set <= WEFT_PCT_FORM; set++) {
        ssize_t n = weft_pct_encode(big, sizeof big, all, sizeof all, set);
        ck_assert_int_gt(n, 255);
        /* the result goes in a path or query as it is */
        char target[3 * 255 + 3] = "/?";
        weft_http_target_t t;
        memcpy(target + 2, big, (size_t)n);
        ck_assert_ok(weft_http_target_parse(&t, "GET", 3, target, (size_t)n + 2));
        ck_assert_int_eq(weft_pct_decode(back, sizeof back, big, (size_t)n,
                                         set == WEFT_PCT_FORM ? WEFT_PCT_PLUS
                                                              : 0),
                         255);
        ck_assert_mem_eq(back, all, 255);
    }
}
END_TEST

static const char *norm(const char *s, unsigned flags) {
    static char buf[256];
    ssize_t n = weft_http_path_normalize(buf, sizeof buf, s, strlen(s), flags);
    if (n < 0)
        return weft_err_name((int)n);
    ck_assert_int_eq(n, (int)strlen(buf));
    return buf;
}

START_TEST(path_normalize_removes_dot_segments_however_encoded) {
    static const char *const cases[][2] = {
        {"/", "/"}, {"", "/"}, {"/a/b/c", "/a/b/c"},
        {"/a/./b", "/a/b"}, {"/a/../b", "/b"}, {"/a/b/..", "/a/"},
        {"/a/b/.", "/a/b/"}, {"/..", "/"}, {"/../../a", "/a"},
        {"/a/b/c/./../../g", "/a/g"}, {"/.a/..b/...", "/.a/..b/..."},
        {"/static/%2e%2e/etc/passwd", "/etc/passwd"},
        {"/static/%2E%2e/%2e%2E/%2e%2e/etc", "/etc"},
        {"/static/.%2e/x", "/x"}, {"/static/%2e./x", "/x"},
        {"/static/%2e/x", "/static/x"},
        {"/a//../b", "/a/b"}, {"//a", "//a"}, {"/a//", "/a//"},
        {"/a%20b/%41", "/a b/A"},
        {"/a%2Fb/c", "/a%2Fb/c"}, {"/a%2fb", "/a%2Fb"},
        {"/a%25b", "/a%25b"}, {"/%252e%252e/x", "/%252e%252e/x"},
        {"/..%2F..%2Fetc", "/..%2F..%2Fetc"}, /* one segment, no dots */
        {"/a/..%2f", "/a/..%2F"},
        {"/%E2%82%AC", "/\xe2\x82\xac"},
        {"/a?b", "/a?b"}, {"/%3F", "/?"},
        {"/a/%00", "EINVAL"}, {"/a%zz", "EINVAL"}, {"/a%4", "EINVAL"},
        {"/a%", "EINVAL"}, {"a/b", "EINVAL"}, {"./a", "EINVAL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(strcmp(norm(cases[i][0], 0), cases[i][1]) == 0,
                      "%s gave %s, expected %s", cases[i][0],
                      norm(cases[i][0], 0), cases[i][1]);
    char nul[] = "/a\0b";
    char out[16];
    ck_assert_err(weft_http_path_normalize(out, sizeof out, nul, 4, 0), -EINVAL);
}
END_TEST

START_TEST(path_normalize_flags_merge_reject_plain) {
    ck_assert_str_eq(norm("//a///b//", WEFT_PATH_MERGE_SLASHES), "/a/b/");
    ck_assert_str_eq(norm("//", WEFT_PATH_MERGE_SLASHES), "/");
    ck_assert_str_eq(norm("/a//..//b", WEFT_PATH_MERGE_SLASHES), "/b");
    ck_assert_str_eq(norm("/a/../..", WEFT_PATH_REJECT_ESCAPE), "EINVAL");
    ck_assert_str_eq(norm("/../x", WEFT_PATH_REJECT_ESCAPE), "EINVAL");
    ck_assert_str_eq(norm("/%2e%2e/x", WEFT_PATH_REJECT_ESCAPE), "EINVAL");
    ck_assert_str_eq(norm("/a/b/../..", WEFT_PATH_REJECT_ESCAPE), "/");
    ck_assert_str_eq(norm("/a%2Fb", WEFT_PATH_PLAIN), "EINVAL");
    ck_assert_str_eq(norm("/a%25b%20c", WEFT_PATH_PLAIN), "/a%b c");
    ck_assert_str_eq(norm("/static/%2e%2e/x", WEFT_PATH_PLAIN), "/x");
    /* in place, and the worst case size */
    char p[] = "/x/%2e%2E/%41%2f/./";
    ck_assert_int_eq(weft_http_path_normalize(p, sizeof p, p, strlen(p), 0), 6);
    ck_assert_str_eq(p, "/A%2F/");
    char out[8];
    ck_assert_err(weft_http_path_normalize(out, 4, "/abcd", 5, 0), -ENOSPC);
    ck_assert_int_eq(weft_http_path_normalize(out, 6, "/abcd", 5, 0), 5);
    ck_assert_err(weft_http_path_normalize(out, 1, "", 0, 0), -ENOSPC);
    ck_assert_int_eq(weft_http_path_normalize(out, 2, "", 0, 0), 1);
    /* normalising twice changes nothing */
    static const char *const again[] = {"/a%2Fb/%25/../%2e/x", "/%2525",
                                        "/a b/?#"};
    for (size_t i = 0; i < sizeof again / sizeof again[0]; i++) {
        char once[64];
        snprintf(once, sizeof once, "%s", norm(again[i], 0));
        ck_assert_str_eq(norm(once, 0), once);
    }
}
END_TEST

/* ---- query strings ----------------------------------------------------- */

START_TEST(query_iterates_pairs_and_decodes_into_buffers) {
    const char *q = "a=1&&b=&c&=d&e=f=g&;x=y&&";
    static const char *const want[][2] = {
        {"a", "1"}, {"b", ""}, {"c", ""}, {"", "d"}, {"e", "f=g"}, {";x", "y"},
    };
    weft_query_iter_t it;
    weft_span_t k, v;
    size_t i = 0;
    weft_query_init(&it, q, strlen(q));
    while (weft_query_next(&it, &k, &v)) {
        ck_assert_uint_lt(i, 6);
        ck_assert_str_eq(sp(k), want[i][0]);
        ck_assert_str_eq(sp(v), want[i][1]);
        i++;
    }
    ck_assert_uint_eq(i, 6);
    ck_assert_int_eq(weft_query_next(&it, &k, &v), 0);
    weft_query_init(&it, NULL, 0);
    ck_assert_int_eq(weft_query_next(&it, &k, &v), 0);

    char out[32];
    const char *f = "name=J%C3%B6rg+M&sp%61ce+key=a+b&name=second&pct=100%&z=%00";
    ck_assert_int_eq(weft_query_get(f, strlen(f), "name", out, sizeof out), 7);
    ck_assert_str_eq(out, "J\xc3\xb6rg M");
    ck_assert_int_eq(weft_query_get(f, strlen(f), "space key", out, sizeof out), 3);
    ck_assert_str_eq(out, "a b");
    ck_assert_int_eq(weft_query_get(f, strlen(f), "pct", out, sizeof out), 4);
    ck_assert_str_eq(out, "100%");
    ck_assert_err(weft_query_get(f, strlen(f), "z", out, sizeof out), -EINVAL);
    ck_assert_err(weft_query_get(f, strlen(f), "nam", out, sizeof out), -ENOENT);
    ck_assert_err(weft_query_get(f, strlen(f), "names", out, sizeof out), -ENOENT);
    ck_assert_err(weft_query_get(f, strlen(f), "name", out, 4), -ENOSPC);
}
END_TEST

START_TEST(query_append_builds_form_bodies) {
    char buf[64];
    ssize_t n = 0;
    n = weft_query_append(buf, sizeof buf, (size_t)n, S("q"), S("a b&c=d"));
    ck_assert_int_eq(n, 13);
    n = weft_query_append(buf, sizeof buf, (size_t)n, S("\xc3\xa9"), S(""));
    ck_assert_str_eq(buf, "q=a+b%26c%3Dd&%C3%A9=");
    ck_assert_int_eq(n, (int)strlen(buf));
    /* and back */
    ck_assert_int_eq(weft_query_get(buf, (size_t)n, "q", buf + 40, 24), 7);
    ck_assert_str_eq(buf + 40, "a b&c=d");
    /* too small: the buffer keeps what it had */
    char small[16];
    n = weft_query_append(small, sizeof small, 0, S("key"), S("v"));
    ck_assert_int_eq(n, 5);
    ck_assert_err(weft_query_append(small, sizeof small, 5, S("k2"), S("123456789")),
                  -ENOSPC);
    ck_assert_str_eq(small, "key=v");
    ck_assert_err(weft_query_append(small, sizeof small, 5, S("0123456789"), S("")),
                  -ENOSPC);
    ck_assert_str_eq(small, "key=v");
    ck_assert_int_eq(weft_query_append(small, sizeof small, 5, S("k2"), S("12345")),
                     14);
    ck_assert_str_eq(small, "key=v&k2=12345");
    ck_assert_err(weft_query_append(small, sizeof small, 14, S(""), S("")),
                  -ENOSPC);
    ck_assert_str_eq(small, "key=v&k2=12345");
}
END_TEST

/* ---- header fields ----------------------------------------------------- */

#define F(n, v)                                                                \
    { {n, sizeof(n) - 1}, { v, sizeof(v) - 1 } }

START_TEST(field_lookup_is_case_insensitive) {
    weft_http_field_t f[] = {
        F("Host", "example.com"), F("Accept", "*/*"),
        F("cookie", "a=1"),       F("X-Y", "z"),
        F("COOKIE", "b=2"),       F("Cookies", "no"),
        F("Connection", "keep-alive, Upgrade"),
        F("Upgrade", "websocket"),
        F("Transfer-Encoding", "gzip, \"chunked\", chunked;x=1"),
    };
    size_t n = sizeof f / sizeof f[0];
    ck_assert_int_eq(weft_http_field_find(f, n, "host", 0), 0);
    ck_assert_int_eq(weft_http_field_find(f, n, "Cookie", 0), 2);
    ck_assert_int_eq(weft_http_field_find(f, n, "Cookie", 3), 4);
    ck_assert_int_eq(weft_http_field_find(f, n, "Cookie", 5), -ENOENT);
    ck_assert_int_eq(weft_http_field_find(f, n, "Cookie", 100), -ENOENT);
    ck_assert_int_eq(weft_http_field_find(f, n, "Cooki", 0), -ENOENT);
    ck_assert_int_eq(weft_http_field_find(f, n, "", 0), -ENOENT);
    ck_assert_uint_eq(weft_http_field_count(f, n, "cookie"), 2);
    ck_assert_uint_eq(weft_http_field_count(f, n, "nope"), 0);
    ck_assert_uint_eq(weft_http_field_count(f, 0, "host"), 0);
    ck_assert(weft_http_field_has_token(f, n, "connection", "upgrade"));
    ck_assert(weft_http_field_has_token(f, n, "Connection", "KEEP-ALIVE"));
    ck_assert(!weft_http_field_has_token(f, n, "connection", "close"));
    ck_assert(weft_http_field_has_token(f, n, "transfer-encoding", "chunked"));
    ck_assert(!weft_http_field_has_token(f, n, "transfer-encoding", "chunk"));
    ck_assert(!weft_http_field_has_token(f, n, "te", "chunked"));

    ck_assert(weft_http_is_token(S("Content-Type")));
    ck_assert(weft_http_is_token(S("!#$%&'*+-.^_`|~09azAZ")));
    ck_assert(!weft_http_is_token(S("")));
    ck_assert(!weft_http_is_token(S("a b")));
    ck_assert(!weft_http_is_token(S("a:")));
    ck_assert(!weft_http_is_token(S("a\"")));
    ck_assert(!weft_http_is_token(S("\xc3\xa9")));
    ck_assert(!weft_http_is_token(S("a\0")));
}
END_TEST

START_TEST(list_iteration_of_rfc9110_5_6_1) {
    const char *v = " , a ,b,,  c;q=\"x,y\\\"z\" ,\t,d\t, ";
    static const char *const want[] = {"a", "b", "c;q=\"x,y\\\"z\"", "d"};
    weft_http_list_iter_t it;
    weft_span_t e;
    size_t i = 0;
    int r;
    weft_http_list_init(&it, v, strlen(v));
    while ((r = weft_http_list_next(&it, &e)) > 0) {
        ck_assert_uint_lt(i, 4);
        ck_assert_str_eq(sp(e), want[i++]);
    }
    ck_assert_int_eq(r, 0);
    ck_assert_uint_eq(i, 4);
    weft_http_list_init(&it, S(""));
    ck_assert_int_eq(weft_http_list_next(&it, &e), 0);
    weft_http_list_init(&it, S(" ,, "));
    ck_assert_int_eq(weft_http_list_next(&it, &e), 0);
    weft_http_list_init(&it, S("a, \"b, c"));
    ck_assert_int_eq(weft_http_list_next(&it, &e), 1);
    ck_assert_int_eq(weft_http_list_next(&it, &e), -EINVAL);
    ck_assert_int_eq(weft_http_list_next(&it, &e), 0);
    weft_http_list_init(&it, S("\"ab\\"));
    ck_assert_int_eq(weft_http_list_next(&it, &e), -EINVAL);
}
END_TEST

START_TEST(parameters_and_quoted_strings) {
    weft_http_param_iter_t it;
    weft_span_t v, pn, pv;
    const char *ct = "text/html ; charset=\"utf-8\";;  format=flowed;";
    ck_assert_ok(weft_http_params_init(&it, ct, strlen(ct), &v));
    ck_assert_str_eq(sp(v), "text/html");
    ck_assert_int_eq(weft_http_params_next(&it, &pn, &pv), 1);
    ck_assert_str_eq(sp(pn), "charset");
    ck_assert_str_eq(sp(pv), "\"utf-8\"");
    ck_assert_int_eq(weft_http_params_next(&it, &pn, &pv), 1);
    ck_assert_str_eq(sp(pn), "format");
    ck_assert_str_eq(sp(pv), "flowed");
    ck_assert_int_eq(weft_http_params_next(&it, &pn, &pv), 0);

    ck_assert_ok(weft_http_param_get(ct, strlen(ct), "CHARSET", &pv));
    ck_assert_str_eq(sp(pv), "\"utf-8\"");
    ck_assert_err(weft_http_param_get(ct, strlen(ct), "q", &pv), -ENOENT);
    ck_assert_ok(weft_http_param_get(S("gzip;q=0.5"), "q", &pv));
    ck_assert_str_eq(sp(pv), "0.5");
    ck_assert_ok(weft_http_params_init(&it, S("no-params"), &v));
    ck_assert_str_eq(sp(v), "no-params");
    ck_assert_int_eq(weft_http_params_next(&it, &pn, &pv), 0);

    static const char *const bad[] = {
        "a; b", "a; b =1", "a;b= 1", "a;b=", "a;=1", "a;b=\"x", "a;b=c d",
        "a;b=c\"d\"", "a;b=\"c\"d", "a;b=1 x", "a;b:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = weft_http_params_init(&it, bad[i], strlen(bad[i]), &v);
        while (r == 0)
            r = weft_http_params_next(&it, &pn, &pv) > 0 ? 0 : -1;
        ck_assert_msg(weft_http_param_get(bad[i], strlen(bad[i]), "zz", &pv) ==
                          -EINVAL,
                      "accepted %s", bad[i]);
    }
    ck_assert_err(weft_http_params_init(&it, S("\"open;"), &v), -EINVAL);

    char out[32];
    ck_assert_int_eq(weft_http_unquote(out, sizeof out, S("\"a\\\"b\\\\c d\"")), 7);
    ck_assert_str_eq(out, "a\"b\\c d");
    ck_assert_int_eq(weft_http_unquote(out, sizeof out, S("token")), 5);
    ck_assert_int_eq(weft_http_unquote(out, sizeof out, S("\"\"")), 0);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"a\" ")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"a\\\"")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"a\rb\"")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"a\0b\"")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("\"a\\\nb\"")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, sizeof out, S("a b")), -EINVAL);
    ck_assert_err(weft_http_unquote(out, 3, S("\"abc\"")), -ENOSPC);
    char in[] = "\"x\\y\"";
    ck_assert_int_eq(weft_http_unquote(in, sizeof in, in, strlen(in)), 2);
    ck_assert_str_eq(in, "xy");
}
END_TEST

START_TEST(qvalues_of_rfc9110_12_4_2) {
    static const struct {
        const char *s;
        int q;
    } cases[] = {
        {"0", 0},      {"1", 1000},   {"0.5", 500}, {"0.05", 50},
        {"0.001", 1},  {"1.0", 1000}, {"1.000", 1000}, {"0.", 0},
        {"1.", 1000},  {"0.999", 999},
        {"1.001", -EINVAL}, {"1.5", -EINVAL}, {"2", -EINVAL},
        {"0.0001", -EINVAL}, {".5", -EINVAL}, {"-1", -EINVAL}, {"", -EINVAL},
        {"0,5", -EINVAL}, {"0.5 ", -EINVAL}, {"01", -EINVAL}, {"0.a", -EINVAL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(weft_http_qvalue(cases[i].s, strlen(cases[i].s)) ==
                          cases[i].q,
                      "%s", cases[i].s);
}
END_TEST

static int choose(const char *ae, const char *const *codings, size_t n) {
    weft_http_field_t f[] = {F("Host", "h"), {{S("Accept-Encoding")}, {ae, 0}}};
    if (!ae)
        return weft_http_choose_encoding(f, 1, codings, n);
    f[1].value.len = strlen(ae);
    return weft_http_choose_encoding(f, 2, codings, n);
}

START_TEST(choose_encoding_negotiates_content_codings) {
    const char *const bgi[] = {"br", "gzip", "identity"};
    const char *const gi[] = {"gzip", "identity"};
    const char *const g[] = {"gzip"};
    ck_assert_int_eq(choose("gzip, deflate, br", bgi, 3), 0);
    ck_assert_int_eq(choose("gzip, deflate", bgi, 3), 1);
    ck_assert_int_eq(choose("br;q=0.5, gzip;q=0.8", bgi, 3), 1);
    ck_assert_int_eq(choose("br;q=0.001", bgi, 3), 0); /* over identity */
    ck_assert_int_eq(choose("br;q=0.001, identity;q=0.002", bgi, 3), 2);
    ck_assert_int_eq(choose("GZIP;Q=1", bgi, 3), 1);
    ck_assert_int_eq(choose("x-gzip", bgi, 3), 1);
    ck_assert_int_eq(choose("*", bgi, 3), 0);
    ck_assert_int_eq(choose("*;q=0.1, gzip", bgi, 3), 1);
    ck_assert_int_eq(choose("deflate", bgi, 3), 2);     /* identity */
    ck_assert_int_eq(choose("", bgi, 3), 2);            /* identity only */
    ck_assert_int_eq(choose("gzip;q=0", gi, 2), 1);
    ck_assert_int_eq(choose("identity;q=0", g, 1), -ENOENT);
    ck_assert_int_eq(choose("identity;q=0, *;q=0", gi, 2), -ENOENT);
    ck_assert_int_eq(choose("*;q=0", gi, 2), -ENOENT);
    ck_assert_int_eq(choose("*;q=0, identity", gi, 2), 1);
    ck_assert_int_eq(choose("gzip;q=bad, br", bgi, 3), 0); /* skipped */
    ck_assert_int_eq(choose("gzip;q=bad", gi, 2), 1);
    ck_assert_int_eq(choose("\"gzip\"", gi, 2), 1);
    ck_assert_int_eq(choose(NULL, bgi, 3), 2); /* no field: identity */
    ck_assert_int_eq(choose(NULL, g, 1), 0);
    ck_assert_int_eq(choose(NULL, g, 0), -ENOENT);
    /* two fields combine */
    weft_http_field_t two[] = {F("accept-encoding", "br;q=0.1"),
                               F("ACCEPT-ENCODING", "gzip;q=0.2")};
    ck_assert_int_eq(weft_http_choose_encoding(two, 2, bgi, 3), 1);
    ck_assert_int_eq(weft_http_choose_encoding(two, 2, bgi, 1), 0);
}
END_TEST

/* ---- cookies ----------------------------------------------------------- */

START_TEST(cookie_header_pairs) {
    const char *c = " a=1;b = 2 ;; nameless ;q=\"x y\"; e=; =v; = ;s=a=b;  ";
    static const char *const want[][2] = {
        {"a", "1"}, {"b", "2"}, {"", "nameless"}, {"q", "\"x y\""},
        {"e", ""},  {"", "v"},  {"s", "a=b"},
    };
    weft_cookie_iter_t it;
    weft_span_t k, v;
    size_t i = 0;
    weft_cookie_init(&it, c, strlen(c));
    while (weft_cookie_next(&it, &k, &v)) {
        ck_assert_uint_lt(i, 7);
        ck_assert_str_eq(sp(k), want[i][0]);
        ck_assert_str_eq(sp(v), want[i][1]);
        i++;
    }
    ck_assert_uint_eq(i, 7);
    ck_assert_ok(weft_cookie_get(c, strlen(c), "b", &v));
    ck_assert_str_eq(sp(v), "2");
    ck_assert_ok(weft_cookie_get(c, strlen(c), "s", &v));
    ck_assert_str_eq(sp(v), "a=b");
    ck_assert_err(weft_cookie_get(c, strlen(c), "B", &v), -ENOENT);
    ck_assert_err(weft_cookie_get(c, strlen(c), "nameless", &v), -ENOENT);
    weft_cookie_init(&it, NULL, 0);
    ck_assert_int_eq(weft_cookie_next(&it, &k, &v), 0);
}
END_TEST

static int setc(weft_set_cookie_t *c, const char *s) {
    return weft_set_cookie_parse(c, s, strlen(s));
}

START_TEST(set_cookie_parse_as_a_user_agent) {
    weft_set_cookie_t c;
    ck_assert_ok(setc(&c, "SID=31d4d96e407aad42; Path=/; Domain=.Example.com; "
                          "Secure; HttpOnly; Expires=Wed, 09 Jun 2021 10:18:14 GMT; "
                          "Max-Age=3600; SameSite=lax; Partitioned; Foo=bar; Baz"));
    ck_assert_str_eq(sp(c.name), "SID");
    ck_assert_str_eq(sp(c.value), "31d4d96e407aad42");
    ck_assert_str_eq(sp(c.path), "/");
    ck_assert_str_eq(sp(c.domain), "Example.com");
    ck_assert_uint_eq(c.flags, WEFT_COOKIE_SECURE | WEFT_COOKIE_HTTPONLY |
                                   WEFT_COOKIE_EXPIRES | WEFT_COOKIE_MAX_AGE |
                                   WEFT_COOKIE_PARTITIONED);
    ck_assert_int_eq((long long)c.expires, 1623233894LL);
    ck_assert_int_eq(c.max_age, 3600);
    ck_assert_int_eq(c.samesite, WEFT_SAMESITE_LAX);

    ck_assert_ok(setc(&c, "  n  =  v w  "));
    ck_assert_str_eq(sp(c.name), "n");
    ck_assert_str_eq(sp(c.value), "v w");
    ck_assert_uint_eq(c.flags, 0);
    ck_assert_ptr_null(c.path.ptr);
    ck_assert_ptr_null(c.domain.ptr);
    ck_assert_ok(setc(&c, "n="));
    ck_assert_str_eq(sp(c.value), "");
    ck_assert_ok(setc(&c, "n=\"quoted\""));
    ck_assert_str_eq(sp(c.value), "\"quoted\"");

    /* the last of each wins; bad values are ignored or reset */
    ck_assert_ok(setc(&c, "n=v; Path=/a; path=/b; Max-Age=5; max-age=x; "
                          "SameSite=Strict; Domain=a.com; domain=; "
                          "Expires=Thu, 01 Jan 1970 00:00:10 GMT; expires=junk"));
    ck_assert_str_eq(sp(c.path), "/b");
    ck_assert_int_eq(c.max_age, 5);
    ck_assert_int_eq(c.samesite, WEFT_SAMESITE_STRICT);
    ck_assert_str_eq(sp(c.domain), "a.com");
    ck_assert_int_eq((long long)c.expires, 10);
    ck_assert_ok(setc(&c, "n=v; Path=/a; Path=rel; SameSite=Lax; SameSite=bogus"));
    ck_assert_ptr_null(c.path.ptr); /* the default path */
    ck_assert_int_eq(c.samesite, WEFT_SAMESITE_UNSET);
    ck_assert_ok(setc(&c, "n=v; Max-Age=-10"));
    ck_assert_int_eq(c.max_age, -10);
    ck_assert_ok(setc(&c, "n=v; Max-Age=99999999999999999999999999"));
    ck_assert(c.max_age == INT64_MAX);
    ck_assert_ok(setc(&c, "n=v; Max-Age=-99999999999999999999999999"));
    ck_assert(c.max_age == -INT64_MAX);
    ck_assert_ok(setc(&c, "n=v; Max-Age=-; Max-Age=+5; Max-Age=5s; Max-Age="));
    ck_assert_uint_eq(c.flags & WEFT_COOKIE_MAX_AGE, 0);
    ck_assert_ok(setc(&c, "n=v; Domain=."));
    ck_assert_ptr_null(c.domain.ptr);
    ck_assert_ok(setc(&c, "n=v;secure=no;HTTPONLY"));
    ck_assert_uint_eq(c.flags, WEFT_COOKIE_SECURE | WEFT_COOKIE_HTTPONLY);

    /* ignored as a whole */
    ck_assert_err(setc(&c, ""), -EINVAL);
    ck_assert_err(weft_set_cookie_parse(&c, NULL, 0), -EINVAL);
    ck_assert_err(setc(&c, "novalue"), -EINVAL);
    ck_assert_err(setc(&c, "novalue; a=b"), -EINVAL);
    ck_assert_err(setc(&c, "=v"), -EINVAL);
    ck_assert_err(setc(&c, "  =v"), -EINVAL);
    ck_assert_err(setc(&c, "n=v\r\nX: y"), -EINVAL);
    ck_assert_err(setc(&c, "n=v\x7f"), -EINVAL);
    ck_assert_err(weft_set_cookie_parse(&c, S("n=v\0; Secure")), -EINVAL);
    ck_assert_ok(setc(&c, "n=v\tw"));

    /* RFC 6265bis limits */
    static char big[5000];
    memset(big, 'x', sizeof big);
    memcpy(big, "n=", 2);
    ck_assert_err(weft_set_cookie_parse(&c, big, 4098), -E2BIG);
    ck_assert_ok(weft_set_cookie_parse(&c, big, 4097)); /* 1 + 4095 */
    memcpy(big, "n=v; Path=/", 11);
    ck_assert_ok(weft_set_cookie_parse(&c, big, 11 + 1024));
    ck_assert_ptr_null(c.path.ptr); /* 1025 bytes: ignored */
    ck_assert_ok(weft_set_cookie_parse(&c, big, 11 + 1023));
    ck_assert_uint_eq(c.path.len, 1024);
}
END_TEST

static const char *wcookie(const weft_set_cookie_t *c) {
    static char buf[512];
    ssize_t n = weft_set_cookie_write(buf, sizeof buf, c);
    return n < 0 ? weft_err_name((int)n) : buf;
}

START_TEST(set_cookie_write_refuses_what_could_split_a_response) {
    weft_set_cookie_t c = {
        .name = {S("SID")},
        .value = {S("abc")},
        .domain = {S("example.com")},
        .path = {S("/app")},
        .expires = 784111777,
        .max_age = 3600,
        .flags = WEFT_COOKIE_SECURE | WEFT_COOKIE_HTTPONLY |
                 WEFT_COOKIE_EXPIRES | WEFT_COOKIE_MAX_AGE,
        .samesite = WEFT_SAMESITE_NONE,
    };
    ck_assert_str_eq(wcookie(&c),
                     "SID=abc; Expires=Sun, 06 Nov 1994 08:49:37 GMT; "
                     "Max-Age=3600; Domain=example.com; Path=/app; Secure; "
                     "HttpOnly; SameSite=None");
    /* and the jar reads it back */
    weft_set_cookie_t back;
    const char *w = wcookie(&c);
    ck_assert_ok(weft_set_cookie_parse(&back, w, strlen(w)));
    ck_assert_str_eq(sp(back.name), "SID");
    ck_assert_str_eq(sp(back.path), "/app");
    ck_assert_int_eq((long long)back.expires, 784111777);
    ck_assert_uint_eq(back.flags, c.flags);
    ck_assert_int_eq(back.samesite, c.samesite);

    weft_set_cookie_t d = {.name = {S("a")}, .value = {S("")}};
    ck_assert_str_eq(wcookie(&d), "a=");
    d.value = (weft_span_t){S("\"q\"")};
    ck_assert_str_eq(wcookie(&d), "a=\"q\"");
    d.flags = WEFT_COOKIE_MAX_AGE;
    ck_assert_str_eq(wcookie(&d), "a=\"q\"; Max-Age=0");
    d.samesite = WEFT_SAMESITE_LAX;
    ck_assert_str_eq(wcookie(&d), "a=\"q\"; Max-Age=0; SameSite=Lax");

    static const char *const bad_values[] = {
        "a b", "a;b", "a,b", "a\"b", "\"a", "a\\b", "a\r\nSet-Cookie: x=y",
        "\xc3\xa9", "a\tb", "\"a b\"",
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++) {
        weft_set_cookie_t e = {.name = {S("a")},
                               .value = {bad_values[i], strlen(bad_values[i])}};
        ck_assert_msg(strcmp(wcookie(&e), "EINVAL") == 0, "wrote %s",
                      bad_values[i]);
    }
    weft_set_cookie_t e = {.name = {S("a b")}, .value = {S("v")}};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.name = (weft_span_t){S("a=b")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.name = (weft_span_t){NULL, 0};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.name = (weft_span_t){S("a")};
    e.path = (weft_span_t){S("/a;b")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.path = (weft_span_t){S("/a\nb")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.path = (weft_span_t){S("rel")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.path = (weft_span_t){NULL, 0};
    e.domain = (weft_span_t){S("a.com\r\n")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.domain = (weft_span_t){S("")};
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    static const char *const bad_domains[] = {".a.com", "a.com.", "a..com",
                                              "a_b.com", "a.com:80", "."};
    for (size_t i = 0; i < sizeof bad_domains / sizeof bad_domains[0]; i++) {
        e.domain = (weft_span_t){bad_domains[i], strlen(bad_domains[i])};
        ck_assert_msg(strcmp(wcookie(&e), "EINVAL") == 0, "wrote %s",
                      bad_domains[i]);
    }
    e.domain = (weft_span_t){S("a-1.b2.com")};
    ck_assert_str_eq(wcookie(&e), "a=v; Domain=a-1.b2.com");
    e.domain = (weft_span_t){NULL, 0};
    e.samesite = WEFT_SAMESITE_NONE; /* without Secure */
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.samesite = 7;
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.samesite = WEFT_SAMESITE_UNSET;
    e.flags = WEFT_COOKIE_PARTITIONED;
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.flags = WEFT_COOKIE_MAX_AGE;
    e.max_age = -1;
    ck_assert_str_eq(wcookie(&e), "EINVAL");
    e.flags = WEFT_COOKIE_EXPIRES;
    e.expires = (time_t)-11644473601LL; /* 1600-12-31 23:59:59 */
    ck_assert_str_eq(wcookie(&e), "ERANGE");
    e.expires = (time_t)253402300800LL; /* year 10000 */
    ck_assert_str_eq(wcookie(&e), "ERANGE");
    e.expires = (time_t)-11644473600LL;
    ck_assert_str_eq(wcookie(&e), "a=v; Expires=Mon, 01 Jan 1601 00:00:00 GMT");
    char small[8];
    ck_assert_err(weft_set_cookie_write(small, sizeof small, &e), -ENOSPC);
}
END_TEST

/* ---- dates ------------------------------------------------------------- */

static const char *wdate(long long t) {
    static char buf[64];
    ssize_t n = weft_http_date_write(buf, sizeof buf, (time_t)t);
    return n < 0 ? weft_err_name((int)n) : buf;
}

START_TEST(date_write_imf_fixdate) {
    ck_assert_str_eq(wdate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(wdate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    ck_assert_str_eq(wdate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    ck_assert_str_eq(wdate(951782400), "Tue, 29 Feb 2000 00:00:00 GMT");
    ck_assert_str_eq(wdate(4107542400LL), "Mon, 01 Mar 2100 00:00:00 GMT");
    ck_assert_str_eq(wdate(2147483648LL), "Tue, 19 Jan 2038 03:14:08 GMT");
    ck_assert_str_eq(wdate(253402300799LL), "Fri, 31 Dec 9999 23:59:59 GMT");
    ck_assert_str_eq(wdate(-62167219200LL), "Sat, 01 Jan 0000 00:00:00 GMT");
    ck_assert_str_eq(wdate(253402300800LL), "ERANGE");
    ck_assert_str_eq(wdate(-62167219201LL), "ERANGE");
    ck_assert_str_eq(wdate(LLONG_MAX), "ERANGE");
    ck_assert_str_eq(wdate(LLONG_MIN), "ERANGE");
    char buf[WEFT_HTTP_DATE_LEN + 1];
    ck_assert_err(weft_http_date_write(buf, WEFT_HTTP_DATE_LEN, 0), -ENOSPC);
    ck_assert_int_eq(weft_http_date_write(buf, sizeof buf, 0), 29);
}
END_TEST

static long long pdate(const char *s) {
    time_t t;
    int r = weft_http_date_parse(s, strlen(s), &t);
    return r < 0 ? r : (long long)t;
}

START_TEST(date_parse_three_forms_of_rfc9110_5_6_7) {
    ck_assert_int_eq(pdate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(pdate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(pdate("Sun Nov  6 08:49:37 1994"), 784111777);
    ck_assert_int_eq(pdate("Sun Nov 06 08:49:37 1994"), 784111777);
    ck_assert_int_eq(pdate("Mon, 06 Nov 1994 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(pdate("Wednesday, 06-Nov-94 08:49:37 GMT"), 784111777);
    ck_assert_int_eq(pdate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    ck_assert_int_eq(pdate("Tue, 29 Feb 2000 00:00:00 GMT"), 951782400);
    ck_assert_int_eq(pdate("Fri, 31 Dec 9999 23:59:59 GMT"), 253402300799LL);
    /* a leap second reads as the next second */
    ck_assert_int_eq(pdate("Sat, 31 Dec 2016 23:59:60 GMT"), 1483228800);

    static const char *const bad[] = {
        "", "Sun, 06 Nov 1994 08:49:37 GM", "Sun, 06 Nov 1994 08:49:37 GMT ",
        " Sun, 06 Nov 1994 08:49:37 GMT", "sun, 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 gmt",
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 06 Nov 1994 08:49:37 +0000",
        "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 94 08:49:37 GMT", "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 31 Nov 1994 08:49:37 GMT",
        "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 29 Feb 1999 08:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT", "Sun, 06 Nov 1994 23:60:00 GMT",
        "Sun, 06 Nov 1994 23:59:61 GMT", "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:3a GMT", "Sun, 06 Nov 199x 08:49:37 GMT",
        "Sun, -6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov +994 08:49:37 GMT",
        "Sun,  6 Nov 1994 08:49:37 GMT", "Sun; 06 Nov 1994 08:49:37 GMT",
        "Sun, 06-Nov-1994 08:49:37 GMT", "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sundae, 06-Nov-94 08:49:37 GMT", "Sun, 06-Nov-94 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 UTC", "Sunday,06-Nov-94 08:49:37 GMT x",
        "Sunday, 31-Feb-94 08:49:37 GMT", "Sun Nov  6 08:49:37 94",
        "Sun Nov 6 08:49:37 1994", "Sun Nov  6 08:49:37 1994 ",
        "Sun Nov 31 08:49:37 1994", "Sun Nov  0 08:49:37 1994",
        "Sun Nov  6 25:49:37 1994", "Sun Nov  6 08:49:37 199",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pdate(bad[i]) == -EINVAL, "accepted '%s'", bad[i]);
    time_t t;
    ck_assert_err(weft_http_date_parse(S("Sun, 06 Nov 1994 08:49:37 G\0T"), &t),
                  -EINVAL);
    ck_assert_err(weft_http_date_parse(S("Sun, 06 Nov 1994 0\0:49:37 GMT"), &t),
                  -EINVAL);

    /* round trip */
    for (long long v = -62167219200LL; v < 253402300799LL; v += 987654321LL) {
        ck_assert_int_eq(pdate(wdate(v)), v);
    }
}
END_TEST

START_TEST(date_parse_two_digit_years_within_50_years) {
    time_t now = time(NULL);
    long long year = 1970 + (long long)now / 31556952; /* about */
    char s[64];
    /* 20 years ahead: this century's; 70 years ahead: the last one's */
    for (int ahead = -45; ahead <= 45; ahead += 15) {
        long long y = year + ahead;
        snprintf(s, sizeof s, "Monday, 01-Jan-%02lld 00:00:00 GMT", y % 100);
        time_t t;
        ck_assert_ok(weft_http_date_parse(s, strlen(s), &t));
        char w[64];
        weft_http_date_write(w, sizeof w, t);
        char want[24];
        snprintf(want, sizeof want, "%lld", y);
        ck_assert_msg(strstr(w, want) != NULL, "%s read as %s", s, w);
    }
}
END_TEST

static long long cdate(const char *s) {
    time_t t;
    int r = weft_cookie_date_parse(s, strlen(s), &t);
    return r < 0 ? r : (long long)t;
}

START_TEST(cookie_date_algorithm_of_rfc6265_5_1_1) {
    const long long want = 1623233894; /* 2021-06-09 10:18:14 */
    static const char *const ok[] = {
        "Wed, 09 Jun 2021 10:18:14 GMT", "Wed, 09-Jun-2021 10:18:14 GMT",
        "Wed, 09-Jun-21 10:18:14 GMT",  "Wed Jun  9 10:18:14 2021",
        "09 June 2021 10:18:14",        "10:18:14 2021 JUNE 9",
        "2021-jun-09 10:18:14",         "Wed, 9 Jun 2021 10:18:14 UTC+5",
        "junk 9 jun 2021 10:18:14 trailing garbage",
        "Wed, 09 Jun 2021 10:18:14abc",
        "\x01\x02 09 Jun 2021 10:18:14",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        ck_assert_msg(cdate(ok[i]) == want, "'%s' gave %lld", ok[i],
                      cdate(ok[i]));
    ck_assert_int_eq(cdate("1 jan 70 0:0:0"), 0);
    ck_assert_int_eq(cdate("1 jan 1970 00:00:00"), 0);
    ck_assert_int_eq(cdate("1 jan 69 0:0:0"), 3124224000LL);  /* 2069 */
    ck_assert_int_eq(cdate("1 jan 99 0:0:0"), 915148800LL);   /* 1999 */
    ck_assert_int_eq(cdate("1 jan 00 0:0:0"), 946684800LL);   /* 2000 */
    ck_assert_int_eq(cdate("1 jan 1601 0:0:0"), -11644473600LL);
    ck_assert_int_eq(cdate("29 feb 2000 23:59:59"), 951868799LL);
    static const char *const bad[] = {
        "", "09 Jun 2021",              /* no time */
        "Jun 2021 10:18:14",            /* no day */
        "09 2021 10:18:14",             /* no month */
        "09 Jun 10:18:14",              /* no year */
        "09 Jun 1600 10:18:14",         /* year < 1601 */
        "09 Jun 12021 10:18:14",        /* 5 digits: no year */
        "32 Jun 2021 10:18:14", "00 Jun 2021 10:18:14",
        "31 Jun 2021 10:18:14", "29 Feb 2021 10:18:14",
        "09 Jun 2021 24:18:14", "09 Jun 2021 10:60:14",
        "09 Jun 2021 10:18:60",         /* no leap second here */
        "09 Jun 2021 10:18:144",        /* a third digit */
        "09 Jun 2021 100:18:14",
        "123 Jun 2021 10:18:14",
        "09 Ju 2021 10:18:14",
        "9jun 2021 10:18:14",           /* "9jun" is a day: no month */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(cdate(bad[i]) == -EINVAL, "accepted '%s'", bad[i]);
    time_t t;
    ck_assert_ok(weft_cookie_date_parse(S("09 Jun 2021\0 10:18:14"), &t));
    ck_assert_int_eq((long long)t, want);
}
END_TEST

START_TEST(overlong_inputs_are_handled_in_bounds) {
    enum { N = 1 << 20 };
    char *in = malloc(2 * N), *out = malloc(2 * N);
    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    /* a megabyte of segments, then as many ".." encoded: back to "/" */
    size_t n = 0;
    while (n + 4 <= N / 2)
        memcpy(in + n, "/abc", 4), n += 4;
    size_t segs = n / 4;
    for (size_t i = 0; i < segs; i++)
        memcpy(in + n, "/%2e.", 5), n += 5;
    memcpy(in + n, "/x", 2), n += 2;
    ck_assert_int_eq(weft_http_path_normalize(out, 2 * N, in, n, 0), 2);
    ck_assert_str_eq(out, "/x");
    ck_assert_int_eq(weft_http_path_normalize(out, 2 * N, in, n,
                                              WEFT_PATH_REJECT_ESCAPE), 2);
    memcpy(in + n - 2, "/%2e.", 5); /* one ".." too many */
    ck_assert_err(weft_http_path_normalize(out, 2 * N, in, n + 3,
                                           WEFT_PATH_REJECT_ESCAPE), -EINVAL);
    ck_assert_err(weft_http_path_normalize(out, 100, in, n, 0), -ENOSPC);
    /* a megabyte URL parses, serialises and resolves */
    memcpy(in, "http://h/", 9);
    memset(in + 9, 'a', N - 9);
    weft_url_t u, r, res;
    ck_assert_ok(weft_url_parse(&u, in, N));
    ck_assert_uint_eq(u.path.len, N - 8);
    ck_assert_int_eq(weft_url_serialize(&u, out, N + 1), N);
    ck_assert_ok(weft_url_parse(&r, S("../../b")));
    ck_assert_int_eq(weft_url_resolve(&u, &r, out, 2 * N, &res), 10);
    ck_assert_str_eq(out, "http://h/b");
    /* a megabyte of commas and semicolons */
    memset(in, ',', N);
    weft_http_list_iter_t it;
    weft_span_t e, k, v;
    weft_http_list_init(&it, in, N);
    ck_assert_int_eq(weft_http_list_next(&it, &e), 0);
    memset(in, ';', N);
    weft_cookie_iter_t ci;
    weft_cookie_init(&ci, in, N);
    ck_assert_int_eq(weft_cookie_next(&ci, &k, &v), 0);
    memset(in, '&', N);
    weft_query_iter_t qi;
    weft_query_init(&qi, in, N);
    ck_assert_int_eq(weft_query_next(&qi, &k, &v), 0);
    /* an overlong date, digits that would overflow */
    memset(in, '9', N);
    time_t t;
    ck_assert_err(weft_http_date_parse(in, N, &t), -EINVAL);
    ck_assert_err(weft_cookie_date_parse(in, N, &t), -EINVAL);
    ck_assert_err(weft_http_qvalue(in, N), -EINVAL);
    free(in);
    free(out);
}
END_TEST

static Suite *httpmsg_suite(void) {
    Suite *s = suite_create("httpmsg");
    TCase *url = tcase_create("url");
    tcase_add_test(url, url_parse_splits_the_components_of_rfc3986);
    tcase_add_test(url, url_parse_refuses_hostile_urls);
    tcase_add_test(url, url_serialize_writes_a_parsed_url_back_byte_for_byte);
    tcase_add_test(url, url_resolve_gives_the_examples_of_rfc3986_5_4);
    tcase_add_test(url, url_resolve_redirects_and_edge_cases);
    tcase_add_test(url, url_host_and_default_port);
    tcase_add_test(url, target_forms_of_rfc9112_3_2);
    tcase_add_test(url, target_refuses_what_a_server_answers_400);
    suite_add_tcase(s, url);

    TCase *pct = tcase_create("pct");
    tcase_add_test(pct, pct_decode_rejects_nul_and_bad_escapes);
    tcase_add_test(pct, pct_encode_sets_and_round_trip);
    tcase_add_test(pct, path_normalize_removes_dot_segments_however_encoded);
    tcase_add_test(pct, path_normalize_flags_merge_reject_plain);
    tcase_add_test(pct, query_iterates_pairs_and_decodes_into_buffers);
    tcase_add_test(pct, query_append_builds_form_bodies);
    suite_add_tcase(s, pct);

    TCase *fields = tcase_create("fields");
    tcase_add_test(fields, field_lookup_is_case_insensitive);
    tcase_add_test(fields, list_iteration_of_rfc9110_5_6_1);
    tcase_add_test(fields, parameters_and_quoted_strings);
    tcase_add_test(fields, qvalues_of_rfc9110_12_4_2);
    tcase_add_test(fields, choose_encoding_negotiates_content_codings);
    suite_add_tcase(s, fields);

    TCase *cookie = tcase_create("cookie");
    tcase_add_test(cookie, cookie_header_pairs);
    tcase_add_test(cookie, set_cookie_parse_as_a_user_agent);
    tcase_add_test(cookie, set_cookie_write_refuses_what_could_split_a_response);
    suite_add_tcase(s, cookie);

    TCase *date = tcase_create("date");
    tcase_add_test(date, date_write_imf_fixdate);
    tcase_add_test(date, date_parse_three_forms_of_rfc9110_5_6_7);
    tcase_add_test(date, date_parse_two_digit_years_within_50_years);
    tcase_add_test(date, cookie_date_algorithm_of_rfc6265_5_1_1);
    suite_add_tcase(s, date);

    TCase *hostile = tcase_create("hostile");
    tcase_add_test(hostile, overlong_inputs_are_handled_in_bounds);
    suite_add_tcase(s, hostile);
    return s;
}

WEFT_TEST_MAIN(httpmsg_suite)
