/* The HTTP client against a local server that misbehaves on purpose
 * (tests/http_testsrv.h): requests and bodies, redirects, cookies,
 * timeouts (on the virtual clock), broken responses, decompression, the
 * pool's limits and reuse (connections counted on the server's side),
 * middlewares, retries, tracing, TLS with the suite's certificates. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "support.h"
#include "http_testsrv.h"
#include "http/client_int.h"
#include <weft/json.h>
#include <weft/web_static.h>

static struct tsrv T;
static char url[256];

static const char *U(const char *path) {
    int n = snprintf(url, sizeof url, "%s%s", T.base, path);
    ck_assert(n > 0 && (size_t)n < sizeof url);
    return url;
}

/* GET path, read the body; returns the status, body in out. */
static int get_body(weft_session_t *s, const char *path, char *out,
                    size_t cap) {
    weft_client_response_t *r;
    int err = weft_session_get(s, U(path), NULL, &r);
    if (err)
        return err;
    const void *d;
    ssize_t n = weft_client_body(r, &d, 0);
    int st = weft_client_status(r);
    if (n >= 0) {
        snprintf(out, cap, "%.*s", (int)n, (const char *)d);
    } else {
        weft_client_release(r);
        return (int)n;
    }
    weft_client_release(r);
    return st;
}

/* ---- basics ------------------------------------------------------------------ */

static int get_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    char body[256];
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_str_eq(body, "hello");
    /* The same connection again (keep-alive), and the request as sent. */
    ck_assert_int_eq(get_body(s, "/echo/x?a=1", body, sizeof body), 200);
    ck_assert_ptr_nonnull(strstr(body, "GET /echo/x?a=1 HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(body, "Host: 127.0.0.1:"));
    ck_assert_ptr_nonnull(strstr(body, "User-Agent: weft/"));
    ck_assert_ptr_nonnull(strstr(body, "Accept-Encoding: gzip, deflate"));
    ck_assert_int_eq(T.conns, 1);
    weft_session_stats_t st;
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.connections_created, 1);
    ck_assert_uint_eq(st.connections_reused, 1);
    ck_assert_uint_eq(st.idle, 1);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(get_and_keep_alive) {
    ck_assert_ok(run_virtual(get_main, NULL));
}
END_TEST

static int methods_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    typedef int (*fn_t)(weft_session_t *, const char *,
                        const weft_client_req_opts_t *,
                        weft_client_response_t **);
    struct { fn_t fn; const char *name; } m[] = {
        {weft_session_get, "GET"},       {weft_session_post, "POST"},
        {weft_session_put, "PUT"},       {weft_session_patch, "PATCH"},
        {weft_session_delete, "DELETE"}, {weft_session_options, "OPTIONS"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        ck_assert_ok(m[i].fn(s, U("/echo"), NULL, &r));
        const void *d;
        ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
        char want[32];
        snprintf(want, sizeof want, "%s /echo HTTP/1.1", m[i].name);
        ck_assert_ptr_nonnull(strstr(d, want));
        ck_assert_str_eq(weft_client_method(r), m[i].name);
        weft_client_release(r);
    }
    /* HEAD: a Content-Length and no body; the connection stays usable. */
    ck_assert_ok(weft_session_head(s, U("/hello"), NULL, &r));
    ck_assert_int_eq(weft_client_content_length(r), 5);
    const void *d;
    ck_assert_int_eq(weft_client_body(r, &d, 0), 0);
    weft_client_release(r);
    ck_assert_ok(weft_session_request(s, "PROPFIND", U("/echo"), NULL, &r));
    ck_assert_int_eq(weft_client_status(r), 200);
    weft_client_release(r);
    ck_assert_int_eq(T.conns, 1);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(every_method) {
    ck_assert_ok(run_virtual(methods_main, NULL));
}
END_TEST

static int bodies_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    /* Bytes, with query parameters encoded. */
    weft_client_body_t b = WEFT_CLIENT_BYTES("abc", 3, "text/x-test");
    weft_client_req_opts_t o = {
        .body = &b,
        .params = (const char *[]){"q", "a b&c", "empty", "", NULL},
        .headers = (const char *[]){"X-One", "1", NULL}};
    ck_assert_ok(weft_session_post(s, U("/echo"), &o, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "POST /echo?q=a+b%26c&empty= HTTP/1.1"));
    ck_assert_ptr_nonnull(strstr(d, "Content-Type: text/x-test\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "Content-Length: 3\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "X-One: 1\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "\r\n\r\nabc"));
    weft_client_release(r);
    /* A form. */
    weft_client_body_t f =
        WEFT_CLIENT_FORM((const char *[]){"name", "J. Doe", "x", "1=2", NULL});
    o = (weft_client_req_opts_t){.body = &f};
    ck_assert_ok(weft_session_post(s, U("/echo"), &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(
        strstr(d, "Content-Type: application/x-www-form-urlencoded\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "\r\n\r\nname=J.+Doe&x=1%3D2"));
    weft_client_release(r);
    /* Multipart, a field and a file from memory. */
    weft_client_part_t parts[] = {
        {.name = "field", .data = "value", .len = 5},
        {.name = "up", .filename = "a\"b.txt", .content_type = "text/plain",
         .data = "file body", .len = 9},
    };
    weft_client_body_t mp = WEFT_CLIENT_MULTIPART(parts, 2);
    o = (weft_client_req_opts_t){.body = &mp};
    ck_assert_ok(weft_session_post(s, U("/echo"), &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "multipart/form-data; boundary=weft-"));
    ck_assert_ptr_nonnull(
        strstr(d, "Content-Disposition: form-data; name=\"field\"\r\n\r\n"
                  "value\r\n--weft-"));
    ck_assert_ptr_nonnull(strstr(d, "filename=\"a%22b.txt\"\r\n"
                                    "Content-Type: text/plain\r\n\r\n"
                                    "file body\r\n--weft-"));
    ck_assert_int_eq(T.last_body_len > 0, 1);
    ck_assert_ptr_nonnull(strstr(T.last_body + T.last_body_len - 40, "--\r\n"));
    weft_client_release(r);
    /* A file. */
    char path[256];
    snprintf(path, sizeof path, "%s/weft-client-XXXXXX", tmp_dir());
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "0123456789", 10), 10);
    weft_client_body_t fb = WEFT_CLIENT_FILE(fd, 2, -1, NULL);
    o = (weft_client_req_opts_t){.body = &fb};
    ck_assert_ok(weft_session_put(s, U("/echo"), &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Content-Length: 8\r\n\r\n23456789"));
    weft_client_release(r);
    close(fd);
    unlink(path);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(request_bodies) {
    ck_assert_ok(run_virtual(bodies_main, NULL));
}
END_TEST

static int chunks_left;
static ssize_t gen(void *arg, void *buf, size_t cap) {
    (void)arg;
    (void)cap;
    if (chunks_left == 0)
        return 0;
    chunks_left--;
    memcpy(buf, "piece;", 6);
    return 6;
}

static int stream_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    chunks_left = 3;
    weft_client_body_t b = WEFT_CLIENT_STREAM(gen, NULL, -1, "text/plain");
    weft_client_req_opts_t o = {.body = &b};
    ck_assert_ok(weft_session_post(s, U("/echo"), &o, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Transfer-Encoding: chunked\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "\r\n\r\npiece;piece;piece;"));
    weft_client_release(r);
    /* A 307 cannot send a stream again: the redirect is returned. */
    chunks_left = 1;
    ck_assert_ok(weft_session_post(s, U("/code/307"), &o, &r));
    ck_assert_int_eq(weft_client_status(r), 307);
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(streamed_upload) {
    ck_assert_ok(run_virtual(stream_main, NULL));
}
END_TEST

/* ---- responses -------------------------------------------------------------- */

static int responses_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    char body[256];
    /* chunked, with an extension and a trailer */
    ck_assert_int_eq(get_body(s, "/chunked", body, sizeof body), 200);
    ck_assert_str_eq(body, "hello world");
    /* interim responses are skipped */
    ck_assert_int_eq(get_body(s, "/1xx", body, sizeof body), 200);
    ck_assert_str_eq(body, "ok");
    int conns = T.conns;
    /* read until the server closes: the connection is not kept */
    ck_assert_int_eq(get_body(s, "/close", body, sizeof body), 200);
    ck_assert_str_eq(body, "read until the end");
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_int_eq(T.conns, conns + 1);
    /* streamed reads, in small pieces */
    weft_client_response_t *r;
    ck_assert_ok(weft_session_get(s, U("/big"), NULL, &r));
    ck_assert_int_eq(weft_client_content_length(r), 1 << 20);
    char buf[1000];
    size_t total = 0;
    ssize_t n;
    while ((n = weft_client_read(r, buf, sizeof buf)) > 0)
        total += (size_t)n;
    ck_assert_int_eq(n, 0);
    ck_assert_uint_eq(total, 1 << 20);
    const void *d;
    ck_assert_int_eq(weft_client_body(r, &d, 0), -EALREADY);
    weft_client_release(r);
    /* headers */
    ck_assert_ok(weft_session_get(s, U("/hello"), NULL, &r));
    weft_span_t v;
    ck_assert_ok(weft_client_header(r, "content-type", &v));
    ck_assert_int_eq(v.len, 10);
    ck_assert_err(weft_client_header(r, "X-None", &v), -ENOENT);
    ck_assert_int_eq(weft_client_version(r), 11);
    ck_assert(weft_client_ok(r));
    ck_assert_int_eq(weft_client_raise_for_status(r), 0);
    weft_client_release(r);
    /* raise_for_status */
    weft_client_error_t e;
    weft_client_req_opts_t o = {.flags = WEFT_CLIENT_RAISE_FOR_STATUS,
                                .error = &e};
    ck_assert_err(weft_session_get(s, U("/status/404"), &o, &r),
                  WEFT_CLIENT_HTTP(404));
    ck_assert_ptr_null(r);
    ck_assert_int_eq(e.status, 404);
    ck_assert_ptr_nonnull(strstr(e.msg, "HTTP error status 404"));
    /* WEFT_CLIENT_READ_BODY */
    o = (weft_client_req_opts_t){.flags = WEFT_CLIENT_READ_BODY};
    ck_assert_ok(weft_session_get(s, U("/hello"), &o, &r));
    weft_session_stats_t st;
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.idle, st.open); /* back in the pool already */
    ck_assert_int_eq(weft_client_body(r, &d, 0), 5);
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(response_shapes) {
    ck_assert_ok(run_virtual(responses_main, NULL));
}
END_TEST

static int broken_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    /* a body cut short */
    ck_assert_ok(weft_session_get(s, U("/short"), &o, &r));
    const void *d;
    ck_assert_err(weft_client_body(r, &d, 0), WEFT_EHTTP_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(weft_client_errmsg(r), "cut short after 10"));
    weft_client_release(r);
    /* ... and read as part of the request */
    o.flags = WEFT_CLIENT_READ_BODY;
    ck_assert_err(weft_session_get(s, U("/short"), &o, &r),
                  WEFT_EHTTP_TRUNCATED);
    ck_assert_ptr_nonnull(strstr(e.msg, "/short: body cut short"));
    o.flags = 0;
    /* broken chunked framing */
    ck_assert_ok(weft_session_get(s, U("/badchunk"), &o, &r));
    ck_assert_err(weft_client_body(r, &d, 0), WEFT_EHTTP_BAD_CHUNK_SIZE);
    weft_client_release(r);
    /* not HTTP */
    ck_assert_int_lt(weft_session_get(s, U("/garbage"), &o, &r), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "malformed response"));
    /* nothing at all */
    ck_assert_err(weft_session_get(s, U("/nothing"), &o, &r),
                  WEFT_ECLIENT_NO_RESPONSE);
    ck_assert_ptr_nonnull(strstr(e.msg, "without a response"));
    /* a bad URL */
    ck_assert_err(weft_session_get(s, "ftp://x/", &o, &r),
                  WEFT_ECLIENT_BAD_URL);
    ck_assert_err(weft_session_get(s, "http:// bad", &o, &r),
                  WEFT_ECLIENT_BAD_URL);
    /* connection refused names the address */
    ck_assert_err(weft_session_get(s, "http://127.0.0.1:1/", &o, &r),
                  -ECONNREFUSED);
    ck_assert_str_eq(e.msg, "GET http://127.0.0.1:1/: connect to "
                            "127.0.0.1:1 failed: Connection refused");
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(broken_responses) {
    ck_assert_ok(run_virtual(broken_main, NULL));
}
END_TEST

/* ---- redirects ---------------------------------------------------------------- */

static int redirects_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    /* a chain, with its history */
    ck_assert_ok(weft_session_get(s, U("/redir/3"), &o, &r));
    ck_assert_int_eq(weft_client_status(r), 200);
    size_t n;
    const weft_client_hop_t *h = weft_client_history(r, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(h[0].status, 302);
    ck_assert_str_eq(h[0].url, U("/redir/3"));
    ck_assert_str_eq(h[0].location, "/redir/2");
    ck_assert_str_eq(h[2].url, U("/redir/1"));
    ck_assert_str_eq(weft_client_url(r), U("/redir/0"));
    weft_client_release(r);
    ck_assert_int_eq(T.conns, 1);
    /* a loop ends at max_redirects */
    ck_assert_err(weft_session_get(s, U("/loop"), &o, &r),
                  WEFT_ECLIENT_REDIRECTS);
    ck_assert_ptr_nonnull(strstr(e.msg, "too many redirects (10)"));
    o.max_redirects = 2;
    ck_assert_err(weft_session_get(s, U("/redir/3"), &o, &r),
                  WEFT_ECLIENT_REDIRECTS);
    o.max_redirects = 0;
    /* the loop's connection was kept: its small bodies were read */
    ck_assert_int_eq(T.conns, 1);
    /* not followed when asked */
    o.flags = WEFT_CLIENT_NO_REDIRECTS;
    ck_assert_ok(weft_session_get(s, U("/redir/1"), &o, &r));
    ck_assert_int_eq(weft_client_status(r), 302);
    weft_client_release(r);
    o.flags = 0;
    /* a relative Location with dot segments */
    ck_assert_ok(weft_session_get(s, U("/rel/a#frag"), &o, &r));
    ck_assert_str_eq(weft_client_url(r), U("/hello#frag"));
    weft_client_release(r);
    /* another scheme */
    ck_assert_err(weft_session_get(s, U("/to-ftp"), &o, &r),
                  WEFT_ECLIENT_BAD_REDIRECT);
    /* methods: 303 and 301/302 after POST become GET without a body,
     * 307 and 308 keep both */
    weft_client_body_t b = WEFT_CLIENT_BYTES("data", 4, "text/x");
    o.body = &b;
    const struct { int code; const char *want; bool body; } cases[] = {
        {301, "GET /echo", false},  {302, "GET /echo", false},
        {303, "GET /echo", false},  {307, "POST /echo", true},
        {308, "POST /echo", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[32];
        snprintf(path, sizeof path, "/code/%d", cases[i].code);
        ck_assert_ok(weft_session_post(s, U(path), &o, &r));
        const void *d;
        ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
        ck_assert_ptr_nonnull(strstr(d, cases[i].want));
        ck_assert_int_eq(strstr(d, "\r\n\r\ndata") != NULL, cases[i].body);
        ck_assert_int_eq(strstr(d, "text/x") != NULL, cases[i].body);
        weft_client_release(r);
    }
    /* PUT after a 302 stays PUT */
    ck_assert_ok(weft_session_put(s, U("/code/302"), &o, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "PUT /echo"));
    weft_client_release(r);
    o.body = NULL;
    /* credentials stay with their origin: 127.0.0.1 -> localhost */
    o.auth = "user:pass";
    o.headers = (const char *[]){"Cookie", "mine=1", NULL};
    ck_assert_ok(weft_session_get(s, U("/code/302"), &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Authorization: Basic dXNlcjpwYXNz"));
    ck_assert_ptr_nonnull(strstr(d, "Cookie: mine=1"));
    weft_client_release(r);
    ck_assert_ok(weft_session_get(s, U("/to-cross"), &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Host: localhost:"));
    ck_assert_ptr_null(strstr(d, "Authorization"));
    ck_assert_ptr_null(strstr(d, "mine=1"));
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(redirects) {
    ck_assert_ok(run_virtual(redirects_main, NULL));
}
END_TEST

/* ---- cookies ---------------------------------------------------------------------- */

static int cookies_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    /* Set on a redirect, sent on the next hop (not the Secure one, not
     * the one for another path, not the expired one). */
    ck_assert_ok(weft_session_get(s, U("/setcookie"), NULL, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "\r\nCookie: a=1\r\n"));
    weft_client_release(r);
    weft_cookie_jar_t *jar = weft_session_cookie_jar(s);
    ck_assert_uint_eq(weft_cookie_jar_count(jar), 2);
    char v[64];
    ck_assert_int_eq(weft_cookie_jar_value(jar, U("/other/x"), "b", v,
                                           sizeof v), 1);
    ck_assert_str_eq(v, "2");
    ck_assert_err(weft_cookie_jar_value(jar, U("/x"), "b", v, sizeof v),
                  -ENOENT);
    /* host-only: not sent to localhost */
    ck_assert_int_eq(weft_cookie_jar_header(jar, "http://localhost/", v,
                                            sizeof v), 0);
    /* ordering: longer paths first */
    ck_assert_int_gt(weft_cookie_jar_header(jar, U("/other/x"), v, sizeof v), 0);
    ck_assert_str_eq(v, "b=2; a=1");
    ck_assert_ok(weft_session_close(s));
    /* without a jar nothing is kept */
    weft_session_opts_t so = {.flags = WEFT_SESSION_NO_COOKIES};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_ptr_null(weft_session_cookie_jar(s));
    ck_assert_ok(weft_session_get(s, U("/setcookie"), NULL, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_null(strstr(d, "Cookie:"));
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(cookies_across_redirects) {
    ck_assert_ok(run_virtual(cookies_main, NULL));
}
END_TEST

static int upd(weft_cookie_jar_t *j, const char *u, const char *c) {
    return weft_cookie_jar_update(j, u, c, strlen(c));
}

START_TEST(cookie_jar_rules) {
    weft_cookie_jar_t *j;
    ck_assert_ok(weft_cookie_jar_new(&j));
    const char *u = "http://www.example.com/a/b";
    /* Domain: the host's parent is fine, another domain or a TLD is not */
    ck_assert_int_eq(upd(j, u, "d=1; Domain=example.com; Path=/"), 1);
    ck_assert_int_eq(upd(j, u, "x=1; Domain=other.com"), 0);
    ck_assert_int_eq(upd(j, u, "t=1; Domain=com"), 0);
    char v[128];
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://sub.example.com/", "d",
                                           v, sizeof v), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://badexample.com/", "d",
                                           v, sizeof v), -ENOENT);
    /* the default path is the request's directory */
    ck_assert_int_eq(upd(j, u, "p=1"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://www.example.com/a/c",
                                           "p", v, sizeof v), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://www.example.com/ab",
                                           "p", v, sizeof v), -ENOENT);
    /* Secure: not from http, sent only over https */
    ck_assert_int_eq(upd(j, u, "s=1; Secure"), 0);
    ck_assert_int_eq(weft_cookie_jar_update(j, "https://www.example.com/",
                                            "s=1; Secure", 11), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://www.example.com/", "s",
                                           v, sizeof v), -ENOENT);
    ck_assert_int_eq(weft_cookie_jar_value(j, "https://www.example.com/", "s",
                                           v, sizeof v), 1);
    /* ... and a plain-http cookie cannot replace it */
    ck_assert_int_eq(upd(j, u, "s=2; Path=/"), 0);
    /* replaced, then expired by Max-Age, then by an Expires in the past */
    ck_assert_int_eq(upd(j, u, "d=2; Domain=example.com; Path=/"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, u, "d", v, sizeof v), 1);
    ck_assert_str_eq(v, "2");
    ck_assert_int_eq(upd(j, u, "d=2; Domain=example.com; Path=/; "
                                            "Max-Age=0"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, u, "d", v, sizeof v), -ENOENT);
    ck_assert_int_eq(upd(j, u, "p=1; Expires=Wed, 21 Oct "
                                            "2015 07:28:00 GMT"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, u, "p", v, sizeof v), -ENOENT);
    /* Max-Age in the future, then the clock moves past it */
    ck_assert_int_eq(upd(j, u, "m=1; Max-Age=60"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, u, "m", v, sizeof v), 1);
    weft__cookie_clock_skew = 61;
    ck_assert_int_eq(weft_cookie_jar_value(j, u, "m", v, sizeof v), -ENOENT);
    weft__cookie_clock_skew = 0;
    /* IP hosts: host-only */
    ck_assert_int_eq(upd(j, "http://10.0.0.1/", "i=1"), 1);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://10.0.0.1/", "i", v,
                                           sizeof v), 1);
    /* junk is refused */
    ck_assert_err(upd(j, u, "novalue"), -EINVAL);
    ck_assert_err(upd(j, "ftp://x/", "a=1"), -EINVAL);
    /* per-domain limit: the oldest go */
    for (int i = 0; i < 60; i++) {
        char c[32];
        int n = snprintf(c, sizeof c, "k%d=%d", i, i);
        ck_assert_int_eq(weft_cookie_jar_update(j, "http://many.test/", c,
                                                (size_t)n), 1);
    }
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://many.test/", "k0", v,
                                           sizeof v), -ENOENT);
    ck_assert_int_eq(weft_cookie_jar_value(j, "http://many.test/", "k59", v,
                                           sizeof v), 2);
    weft_cookie_jar_clear(j);
    ck_assert_uint_eq(weft_cookie_jar_count(j), 0);
    weft_cookie_jar_free(j);
}
END_TEST

/* ---- timeouts -------------------------------------------------------------------- */

static int timeouts_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    weft_session_opts_t so = {.timeout = {.sock_read = 5}};
    ck_assert_ok(weft_session_new(&s, &so));
    weft_client_response_t *r;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    /* sock_read: no head */
    double t0 = now();
    ck_assert_err(weft_session_get(s, U("/stallhead"), &o, &r), -ETIMEDOUT);
    ck_assert_time(t0 + 5);
    ck_assert_int_eq(e.timeout, WEFT_CLIENT_TIMEOUT_SOCK_READ);
    ck_assert_ptr_nonnull(strstr(e.msg, "timeout: sock_read (5 s) waiting "
                                        "for the response head"));
    /* sock_read: a stalled body */
    t0 = now();
    ck_assert_ok(weft_session_get(s, U("/stallbody"), &o, &r));
    const void *d;
    ck_assert_err(weft_client_body(r, &d, 0), -ETIMEDOUT);
    ck_assert_time(t0 + 5);
    ck_assert_ptr_nonnull(strstr(weft_client_errmsg(r), "sock_read"));
    weft_client_release(r);
    /* total, shorter, overrides per request */
    t0 = now();
    o.timeout = &(weft_client_timeout_t){.total = 2};
    ck_assert_err(weft_session_get(s, U("/stallhead"), &o, &r), -ETIMEDOUT);
    ck_assert_time(t0 + 2);
    ck_assert_int_eq(e.timeout, WEFT_CLIENT_TIMEOUT_TOTAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "timeout: total (2 s)"));
    /* total also bounds reading the body */
    t0 = now();
    ck_assert_ok(weft_session_get(s, U("/stallbody"), &o, &r));
    ck_assert_err(weft_client_body(r, &d, 0), -ETIMEDOUT);
    ck_assert_time(t0 + 2);
    ck_assert_ptr_nonnull(strstr(weft_client_errmsg(r), "total"));
    weft_client_release(r);
    o.timeout = NULL;
    /* a caller's scope bounds a request too */
    t0 = now();
    weft_scope_t sc;
    ck_assert_ok(weft_scope_enter(&sc, 1, 0));
    ck_assert_err(weft_session_get(s, U("/stallhead"), &o, &r), -ETIMEDOUT);
    ck_assert_err(weft_scope_exit(&sc), -ETIMEDOUT);
    ck_assert_time(t0 + 1);
    ck_assert_int_eq(e.timeout, WEFT_CLIENT_TIMEOUT_NONE);
    ck_assert_ptr_nonnull(strstr(e.msg, "the caller's deadline"));
    /* bad options */
    o.timeout = &(weft_client_timeout_t){.total = -1};
    logcap_start();
    ck_assert_err(weft_session_get(s, U("/hello"), &o, &r), -EINVAL);
    logcap_stop();
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(timeouts) {
    ck_assert_ok(run_virtual(timeouts_main, NULL));
}
END_TEST

/* sock_connect: a listener whose backlog is full never accepts. Instead:
 * connect to an address that drops SYNs is not available on loopback, so
 * the connect timeout is tested with the pool's wait (connect covers
 * waiting for a connection). */
static int connect_timeout_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    weft_session_opts_t so = {.limit = 1, .timeout = {.connect = 3}};
    ck_assert_ok(weft_session_new(&s, &so));
    weft_client_response_t *r, *r2;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    /* hold the only connection: its body is not read */
    ck_assert_ok(weft_session_get(s, U("/big"), &o, &r));
    double t0 = now();
    ck_assert_err(weft_session_get(s, U("/hello"), &o, &r2), -ETIMEDOUT);
    ck_assert_time(t0 + 3);
    ck_assert_int_eq(e.timeout, WEFT_CLIENT_TIMEOUT_CONNECT);
    ck_assert_ptr_nonnull(strstr(e.msg, "timeout: connect (3 s) waiting for "
                                        "a connection from the pool"));
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(connect_timeout) {
    ck_assert_ok(run_virtual(connect_timeout_main, NULL));
}
END_TEST

/* ---- decompression ----------------------------------------------------------------- */

static int gzip_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    char body[256];
    const char *want = "compressed text, compressed text, compressed text, "
                       "compressed text!";
    ck_assert_int_eq(get_body(s, "/gzip", body, sizeof body), 200);
    ck_assert_str_eq(body, want);
    ck_assert_int_eq(get_body(s, "/deflate", body, sizeof body), 200);
    ck_assert_str_eq(body, want);
    ck_assert_int_eq(get_body(s, "/rawdeflate", body, sizeof body), 200);
    ck_assert_str_eq(body, want);
    ck_assert_int_eq(T.conns, 1);
    /* not asked to */
    weft_client_response_t *r;
    weft_client_req_opts_t o = {.flags = WEFT_CLIENT_NO_DECOMPRESS};
    ck_assert_ok(weft_session_get(s, U("/gzip"), &o, &r));
    const void *d;
    ssize_t n = weft_client_body(r, &d, 0);
    ck_assert_int_gt(n, 10);
    ck_assert_int_eq(((const unsigned char *)d)[0], 0x1f);
    weft_client_release(r);
    /* not gzip at all */
    ck_assert_err(get_body(s, "/badgzip", body, sizeof body),
                  WEFT_ECLIENT_DECOMPRESS);
    /* a bomb: the body limit of a whole read counts decompressed bytes */
    ck_assert_ok(weft_session_close(s));
    weft_session_opts_t so = {.max_body = 1 << 20};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_err(get_body(s, "/bomb", body, sizeof body),
                  WEFT_ECLIENT_BODY_TOO_LARGE);
    /* and max_decompressed when streaming */
    ck_assert_ok(weft_session_close(s));
    so = (weft_session_opts_t){.max_decompressed = 1 << 20};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_ok(weft_session_get(s, U("/bomb"), NULL, &r));
    while ((n = weft_client_read_chunk(r, &d)) > 0)
        ;
    ck_assert_err((int)n, WEFT_ECLIENT_DECOMPRESS_LIMIT);
    ck_assert_ptr_nonnull(strstr(weft_client_errmsg(r), "decompresses to "
                                                        "more than 1048576"));
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(decompression) {
    ck_assert_ok(run_virtual(gzip_main, NULL));
}
END_TEST

/* ---- the pool ------------------------------------------------------------------------ */

struct pool_job {
    weft_session_t *s;
    const char *path;
    int status;
};

static int pool_worker(void *arg) {
    struct pool_job *j = arg;
    char body[64];
    char u[256];
    snprintf(u, sizeof u, "%s", j->path);
    j->status = get_body(j->s, u, body, sizeof body);
    return 0;
}

static void run_jobs(weft_session_t *s, const char *path, int n) {
    struct pool_job jobs[32];
    weft_group_t g;
    ck_assert_ok(weft_group_enter(&g));
    for (int i = 0; i < n; i++) {
        jobs[i] = (struct pool_job){s, path, 0};
        ck_assert_ok(weft_group_spawn(&g, NULL, pool_worker, &jobs[i], NULL));
    }
    ck_assert_ok(weft_group_exit(&g));
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(jobs[i].status, 200);
}

static int pool_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    weft_session_opts_t so = {.limit_per_host = 3};
    ck_assert_ok(weft_session_new(&s, &so));
    /* 20 at once, 3 connections at most, all reused afterwards */
    run_jobs(s, "/slow", 20);
    ck_assert_int_eq(T.conns, 3);
    ck_assert_int_eq(T.max_active, 3);
    ck_assert_int_eq(T.requests, 20);
    weft_session_stats_t st;
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.connections_created, 3);
    ck_assert_uint_eq(st.connections_reused, 17);
    ck_assert_uint_eq(st.idle, 3);
    run_jobs(s, "/slow", 6);
    ck_assert_int_eq(T.conns, 3);
    /* idle connections expire (15 s by default) */
    ck_assert_ok(weft_sleep(16));
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.open, 0);
    ck_assert_ok(weft_yield());
    ck_assert_int_eq(T.active, 0);
    ck_assert_ok(weft_session_close(s));
    /* the total limit, across hosts: 127.0.0.1 and localhost */
    so = (weft_session_opts_t){.limit = 2};
    ck_assert_ok(weft_session_new(&s, &so));
    T.max_active = 0;
    run_jobs(s, "/slow", 8);
    ck_assert_int_eq(T.max_active, 2);
    char body[64];
    snprintf(url, sizeof url, "http://localhost:%d/hello", T.port);
    weft_client_response_t *r;
    ck_assert_ok(weft_session_get(s, url, NULL, &r));
    weft_client_release(r);
    weft_session_stats(s, &st);
    ck_assert_uint_le(st.open, 2);
    (void)body;
    ck_assert_ok(weft_session_close(s));
    /* no keep-alive */
    so = (weft_session_opts_t){.keepalive_timeout = -1};
    ck_assert_ok(weft_session_new(&s, &so));
    int before = T.conns;
    run_jobs(s, "/hello", 1);
    run_jobs(s, "/hello", 1);
    ck_assert_int_eq(T.conns, before + 2);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(pool_limits_and_reuse) {
    ck_assert_ok(run_virtual(pool_main, NULL));
}
END_TEST

/* Requests waiting for the pool, cancelled together with the one holding
 * the host's only connection: that one closes it first, and the host
 * must outlive the waiters, which were unlinked by the cancel but run
 * after (a use after free under ASan and valgrind, found by
 * examples/get_news on Ctrl-C). */
static int cancel_worker(void *arg) {
    weft_client_response_t *r;
    int err = weft_session_get(arg, U("/slow"), NULL, &r);
    weft_client_release(r);
    return err;
}

static int pool_cancel_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    weft_session_opts_t so = {.limit_per_host = 1};
    ck_assert_ok(weft_session_new(&s, &so));
    weft_task_t *t[3];
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_spawn(&t[i], cancel_worker, s, NULL));
    ck_assert_ok(weft_sleep(0.01)); /* one in /slow (0.05 s), two wait */
    ck_assert_int_eq(T.active, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_ok(weft_task_cancel(t[i]));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_join(t[i]), -ECANCELED);
        weft_task_release(t[i]);
    }
    weft_session_stats_t st;
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.open, 0);
    /* the host is found (or made) again */
    char body[64];
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(pool_waiters_cancelled) {
    ck_assert_ok(run_virtual(pool_cancel_main, NULL));
}
END_TEST

/* A server that closes idle connections: the next request notices and
 * opens a new one. */
static int stale_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    char body[64];
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_int_eq(get_body(s, "/close", body, sizeof body), 200);
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    /* the server forgets every connection */
    ck_assert_ok(weft_server_close(T.srv, 0));
    int conns = T.conns;
    ts_start(&T);
    (void)conns;
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(stale_connections) {
    ck_assert_ok(run_virtual(stale_main, NULL));
}
END_TEST

/* ---- middlewares, retries, tracing ------------------------------------------- */

struct mw_state {
    int calls;
    char order[16];
};

static int mw_tag(weft_client_request_t *req, weft_client_next_t *next,
                  void *arg, weft_client_response_t **resp) {
    struct mw_state *m = arg;
    m->calls++;
    strcat(m->order, "a");
    ck_assert_str_eq(weft_client_req_method(req), "GET");
    ck_assert_ok(weft_client_req_set_header(req, "X-Tag", "tagged"));
    ck_assert_str_eq(weft_client_req_header(req, "x-tag"), "tagged");
    logcap_start();
    ck_assert_err(weft_client_req_set_header(req, "X-Bad", "a\r\nb"), -EINVAL);
    logcap_stop();
    int err = weft_client_next(req, next, resp);
    strcat(m->order, "A");
    return err;
}

static int mw_second(weft_client_request_t *req, weft_client_next_t *next,
                     void *arg, weft_client_response_t **resp) {
    struct mw_state *m = arg;
    strcat(m->order, "b");
    int err = weft_client_next(req, next, resp);
    strcat(m->order, "B");
    return err;
}

/* Answers without calling the rest: a cache, say. */
static int mw_short(weft_client_request_t *req, weft_client_next_t *next,
                    void *arg, weft_client_response_t **resp) {
    (void)arg;
    (void)next;
    (void)resp;
    (void)req;
    return -ENOTSUP;
}

static int middleware_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    struct mw_state m = {0};
    ck_assert_ok(weft_session_middleware(s, mw_tag, &m));
    ck_assert_ok(weft_session_middleware(s, mw_second, &m));
    weft_client_response_t *r;
    /* each redirect hop passes through the chain */
    ck_assert_ok(weft_session_get(s, U("/code/302"), NULL, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "X-Tag: tagged\r\n"));
    weft_client_release(r);
    ck_assert_int_eq(m.calls, 2);
    ck_assert_str_eq(m.order, "abBAabBA");
    /* per request: others, or none */
    weft_client_middleware_t only[] = {{mw_short, NULL}};
    weft_client_req_opts_t o = {.middlewares = only, .nmiddlewares = 1};
    ck_assert_err(weft_session_get(s, U("/hello"), &o, &r), -ENOTSUP);
    o = (weft_client_req_opts_t){.flags = WEFT_CLIENT_NO_MIDDLEWARES};
    ck_assert_ok(weft_session_get(s, U("/hello"), &o, &r));
    weft_client_release(r);
    ck_assert_int_eq(m.calls, 2);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(middlewares) {
    ck_assert_ok(run_virtual(middleware_main, NULL));
}
END_TEST

static int retry_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_retry_t *rt;
    ck_assert_ok(weft_client_retry_new(&rt, &(weft_client_retry_opts_t){
                                                .attempts = 4,
                                                .flags = WEFT_CLIENT_RETRY_ERRORS}));
    ck_assert_ok(weft_session_middleware(s, weft_client_retry, rt));
    /* 503 twice with Retry-After: 1, then 200: two retries, 2 s waited */
    T.retry_left = 2;
    double t0 = now();
    char body[64];
    ck_assert_int_eq(get_body(s, "/retry", body, sizeof body), 200);
    ck_assert_str_eq(body, "finally");
    ck_assert_time(t0 + 2);
    ck_assert_uint_eq(weft_client_retry_count(rt), 2);
    /* too many: the last response is returned */
    T.retry_left = 10;
    ck_assert_int_eq(get_body(s, "/retry", body, sizeof body), 503);
    ck_assert_uint_eq(weft_client_retry_count(rt), 5);
    /* a POST is not retried */
    T.retry_left = 1;
    weft_client_response_t *r;
    ck_assert_ok(weft_session_post(s, U("/retry"), NULL, &r));
    ck_assert_int_eq(weft_client_status(r), 503);
    weft_client_release(r);
    ck_assert_uint_eq(weft_client_retry_count(rt), 5);
    /* connection errors, with backoff: 0.5 + 1 + 2 s */
    t0 = now();
    ck_assert_err(weft_session_get(s, "http://127.0.0.1:1/", NULL, &r),
                  -ECONNREFUSED);
    ck_assert_time(t0 + 3.5);
    ck_assert_uint_eq(weft_client_retry_count(rt), 8);
    ck_assert_ok(weft_session_close(s));
    weft_client_retry_free(rt);
    logcap_start();
    ck_assert_err(weft_client_retry_new(&rt, &(weft_client_retry_opts_t){
                                                 .jitter = 2}),
                  -EINVAL);
    logcap_stop();
    ts_stop(&T);
    return 0;
}

START_TEST(retry_middleware) {
    ck_assert_ok(run_virtual(retry_main, NULL));
}
END_TEST

static char trace_log[2048];

static void tracer(const weft_client_trace_info_t *i, void *arg) {
    (void)arg;
    static const char *names[] = {"?", "start", "end", "redirect", "queued",
                                  "dequeued", "create", "created", "reused",
                                  "dns", "dns-end", "sent", "head"};
    size_t n = strlen(trace_log);
    snprintf(trace_log + n, sizeof trace_log - n, "%s%s",
             n ? " " : "", names[i->event]);
    if (i->event == WEFT_CLIENT_TRACE_CONN_CREATE_END) {
        ck_assert_ptr_nonnull(i->addr);
        ck_assert_int_eq(i->addr->sa_family, AF_INET);
    }
    if (i->event == WEFT_CLIENT_TRACE_HEAD_SENT)
        ck_assert_int_eq(memcmp(i->head.ptr, "GET /", 5), 0);
    if (i->event == WEFT_CLIENT_TRACE_REQUEST_END)
        ck_assert_int_ge(i->elapsed, 0);
    ck_assert_ptr_eq(i->ctx, (void *)trace_log);
}

static int trace_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    ck_assert_ok(weft_session_trace(s, tracer, NULL));
    weft_client_response_t *r;
    weft_client_req_opts_t o = {.trace_ctx = trace_log};
    ck_assert_ok(weft_session_get(s, U("/redir/1"), &o, &r));
    weft_client_release(r);
    ck_assert_str_eq(trace_log, "start create created sent head redirect "
                                "reused sent head end");
    trace_log[0] = 0;
    /* a name: resolved (localhost never goes to DNS), then cached */
    snprintf(url, sizeof url, "http://localhost:%d/1xx", T.port);
    ck_assert_ok(weft_session_get(s, url, &o, &r));
    weft_client_release(r);
    ck_assert_str_eq(trace_log, "start create dns dns-end created sent head "
                                "head head end");
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(tracing) {
    ck_assert_ok(run_virtual(trace_main, NULL));
}
END_TEST

/* ---- sessions: base URL, default headers, Unix sockets ------------------------ */

static int session_main(void *arg) {
    const char *path = arg;
    ts_start(&T);
    weft_session_t *s;
    char base[128];
    snprintf(base, sizeof base, "%s/api/v1/", T.base);
    weft_session_opts_t so = {
        .base_url = base,
        .headers = (const char *[]){"X-Default", "d", "Accept", "text/x",
                                    NULL},
        .user_agent = "tester/1"};
    ck_assert_ok(weft_session_new(&s, &so));
    weft_client_response_t *r;
    ck_assert_ok(weft_session_get(s, "../../echo/items", NULL, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "GET /echo/items HTTP/1.1"));
    ck_assert_ptr_nonnull(strstr(d, "X-Default: d\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "Accept: text/x\r\n"));
    ck_assert_ptr_null(strstr(d, "*/*"));
    ck_assert_ptr_nonnull(strstr(d, "User-Agent: tester/1\r\n"));
    weft_client_release(r);
    /* a request's header replaces the session's */
    weft_client_req_opts_t o = {
        .headers = (const char *[]){"x-default", "mine", NULL}};
    ck_assert_ok(weft_session_get(s, "/echo", &o, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "x-default: mine\r\n"));
    ck_assert_ptr_null(strstr(d, "X-Default: d"));
    weft_client_release(r);
    /* refused */
    o.headers = (const char *[]){"Content-Length", "5", NULL};
    ck_assert_err(weft_session_get(s, "/echo", &o, &r), -EINVAL);
    ck_assert_ok(weft_session_close(s));
    logcap_start();
    so = (weft_session_opts_t){.base_url = "ftp://x/"};
    ck_assert_err(weft_session_new(&s, &so), -EINVAL);
    so = (weft_session_opts_t){.timeout = {.sock_read = -1}};
    ck_assert_err(weft_session_new(&s, &so), -EINVAL);
    logcap_stop();
    /* over a Unix socket: the URL names the Host only */
    weft_server_t *us;
    ck_assert_ok(weft_start_unix_server(weft_loop_current(), &us, path,
                                        ts_handler, &T, NULL));
    so = (weft_session_opts_t){.unix_socket = path};
    ck_assert_ok(weft_session_new(&s, &so));
    int before = T.conns;
    ck_assert_ok(weft_session_get(s, "http://docker/v1.43/echo", NULL, &r));
    ck_assert_int_eq(weft_client_status(r), 404);
    weft_client_release(r);
    ck_assert_ok(weft_session_get(s, "http://docker/echo", NULL, &r));
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Host: docker\r\n"));
    weft_client_release(r);
    ck_assert_int_eq(T.conns, before + 1);
    ck_assert_ok(weft_session_close(s));
    ck_assert_ok(weft_server_close(us, 0));
    ts_stop(&T);
    return 0;
}

START_TEST(sessions) {
    char path[256];
    snprintf(path, sizeof path, "%s/weft-client-%d.sock", tmp_dir(),
             (int)getpid());
    ck_assert_ok(run_virtual(session_main, path));
}
END_TEST

/* ---- misuse --------------------------------------------------------------------- */

static int busy_task(void *arg) {
    weft_session_t *s = arg;
    weft_client_response_t *r;
    int err = weft_session_get(s, U("/stallhead"), NULL, &r);
    return err == -ECANCELED ? 0 : -1;
}

static int misuse_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    logcap_start();
    ck_assert_err(weft_session_request(s, "BAD METHOD", U("/"), NULL, &r),
                  -EINVAL);
    ck_assert_err(weft_session_get(s, NULL, NULL, &r), -EINVAL);
    ck_assert_err(weft_session_get(NULL, U("/"), NULL, &r), -EINVAL);
    /* closing a session in use */
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, busy_task, s, NULL));
    ck_assert_ok(weft_sleep(1));
    ck_assert_err(weft_session_close(s), -EBUSY);
    ck_assert_ok(weft_task_cancel(t));
    ck_assert_ok(weft_join(t));
    weft_task_release(t);
    logcap_stop();
    /* a response outlives its session */
    ck_assert_ok(weft_session_get(s, U("/hello"), NULL, &r));
    ck_assert_ok(weft_session_close(s));
    const void *d;
    ck_assert_int_eq(weft_client_body(r, &d, 0), 5);
    weft_client_release(r);
    weft_client_release(NULL);
    ck_assert_ok(weft_session_close(NULL));
    ts_stop(&T);
    return 0;
}

START_TEST(misuse) {
    ck_assert_ok(run_virtual(misuse_main, NULL));
}
END_TEST

static int outside_main(void *arg) {
    (void)arg;
    return 0;
}

START_TEST(outside_a_loop) {
    weft_session_t *s;
    logcap_start();
    ck_assert_err(weft_session_new(&s, NULL), -EPERM);
    logcap_stop();
    ck_assert_ok(run_virtual(outside_main, NULL));
}
END_TEST

/* ---- TLS and proxies ------------------------------------------------------------- */

static char certs[64];

static const char *cert(const char *name) {
    static char p[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", certs, name);
    return p[i];
}

static void make_certs(void) {
    snprintf(certs, sizeof certs, "%s/weft-client-tls-XXXXXX", tmp_dir());
    ck_assert_ptr_nonnull(mkdtemp(certs));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh %s %s", MAKE_CERTS, certs);
    ck_assert_int_eq(system(cmd), 0);
}

/* A forward proxy: CONNECT host:port opens a tunnel (two pumps); a plain
 * request in absolute-form is answered by the proxy itself, echoing what
 * it received. */
struct pump {
    weft_stream_t *from, *to;
};

static int pump_run(void *arg) {
    struct pump *p = arg;
    char buf[16384];
    ssize_t n;
    while ((n = weft_stream_read(p->from, buf, sizeof buf)) > 0)
        if (weft_stream_write(p->to, buf, (size_t)n) ||
            weft_stream_drain(p->to))
            break;
    weft_stream_shutdown(p->to);
    return 0;
}

static int proxy_requests;
static char proxy_last[2048];

static int proxy_handler(weft_stream_t *s, void *arg) {
    (void)arg;
    char head[2048];
    ssize_t n = weft_stream_read_until(s, "\r\n\r\n", 4, head, sizeof head - 1);
    if (n <= 0)
        return 0;
    head[n] = 0;
    proxy_requests++;
    snprintf(proxy_last, sizeof proxy_last, "%s", head);
    if (strncmp(head, "CONNECT ", 8) != 0) {
        char out[4096];
        int len = snprintf(out, sizeof out,
                           "HTTP/1.1 200 OK\r\nContent-Length: %zd\r\n\r\n%s",
                           n, head);
        weft_stream_write(s, out, (size_t)len);
        weft_stream_drain(s);
        return 0;
    }
    char host[256], port[8];
    if (sscanf(head + 8, "%255[^:]:%7[0-9]", host, port) != 2)
        return 0;
    if (strstr(head, "Proxy-Authorization: Basic cHJveDpw") == NULL &&
        strstr(head, "needauth") == NULL) {
        ts_write(s, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                    "Content-Length: 0\r\n\r\n");
        weft_stream_drain(s);
        return 0;
    }
    weft_stream_t *up;
    if (weft_open_connection(&up, host, port, NULL)) {
        ts_write(s, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return 0;
    }
    ts_write(s, "HTTP/1.1 200 Connection established\r\n\r\n");
    struct pump a = {s, up}, b = {up, s};
    weft_group_t g;
    weft_group_enter(&g);
    weft_group_spawn(&g, NULL, pump_run, &a, NULL);
    weft_group_spawn(&g, NULL, pump_run, &b, NULL);
    weft_group_exit(&g);
    weft_stream_close(up);
    return 0;
}

static int tls_main(void *arg) {
    (void)arg;
    weft_tls_ctx_t *sctx;
    weft_tls_opts_t to = {.cert_file = cert("server.crt"),
                          .key_file = cert("server.key"),
                          .alpn = "http/1.1"};
    ck_assert_ok(weft_tls_server_ctx(&sctx, &to));
    ts_start_ctx(&T, sctx);
    weft_session_t *s;
    weft_client_response_t *r;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    /* verified against the suite's CA */
    weft_session_opts_t so = {.ca_file = cert("ca.crt")};
    ck_assert_ok(weft_session_new(&s, &so));
    char body[64];
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_str_eq(body, "hello");
    ck_assert_int_eq(get_body(s, "/gzip", body, sizeof body), 200);
    ck_assert_int_eq(T.conns, 1);
    ck_assert_ok(weft_session_close(s));
    /* the system's store does not know it */
    ck_assert_ok(weft_session_new(&s, NULL));
    ck_assert_err(weft_session_get(s, U("/hello"), &o, &r),
                  WEFT_ETLS_UNTRUSTED);
    ck_assert_ptr_nonnull(strstr(e.msg, "TLS handshake with localhost failed"));
    ck_assert_ok(weft_session_close(s));
    /* unless verification is turned off */
    so = (weft_session_opts_t){.flags = WEFT_SESSION_INSECURE};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_ok(weft_session_close(s));
    /* a missing CA file */
    so = (weft_session_opts_t){.ca_file = "/nonexistent/ca.pem"};
    ck_assert_err(weft_session_new(&s, &so), -ENOENT);

    /* through a proxy: a CONNECT tunnel, with the proxy's credentials */
    weft_server_t *px;
    ck_assert_ok(weft_start_server(weft_loop_current(), &px, "127.0.0.1", "0",
                                   proxy_handler, NULL, NULL));
    char purl[128];
    snprintf(purl, sizeof purl, "http://prox:p@127.0.0.1:%d",
             weft_server_port(px));
    so = (weft_session_opts_t){.ca_file = cert("ca.crt"), .proxy = purl};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_str_eq(body, "hello");
    ck_assert_int_eq(proxy_requests, 1);
    ck_assert_ptr_nonnull(strstr(proxy_last, "CONNECT localhost:"));
    /* plain http through it: absolute-form */
    ck_assert_ok(weft_session_get(s, "http://example.test/x?y=1", &o, &r));
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "GET http://example.test/x?y=1 HTTP/1.1"));
    ck_assert_ptr_nonnull(strstr(d, "Proxy-Authorization: Basic "));
    weft_client_release(r);
    ck_assert_ok(weft_session_close(s));
    /* a proxy that refuses */
    snprintf(purl, sizeof purl, "127.0.0.1:%d", weft_server_port(px));
    so = (weft_session_opts_t){.ca_file = cert("ca.crt"), .proxy = purl};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_err(weft_session_get(s, U("/hello"), &o, &r),
                  WEFT_ECLIENT_PROXY);
    ck_assert_ptr_nonnull(strstr(e.msg, "refused CONNECT to localhost:"));
    ck_assert_ptr_nonnull(strstr(e.msg, "407"));
    ck_assert_ok(weft_session_close(s));
    /* from the environment, only when asked; no_proxy exempts */
    snprintf(purl, sizeof purl, "http://prox:p@127.0.0.1:%d",
             weft_server_port(px));
    setenv("https_proxy", purl, 1);
    setenv("no_proxy", "example.org", 1);
    so = (weft_session_opts_t){.ca_file = cert("ca.crt")};
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_int_eq(proxy_requests, 3);
    ck_assert_ok(weft_session_close(s));
    so.flags = WEFT_SESSION_TRUST_ENV;
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_int_eq(proxy_requests, 4);
    ck_assert_ok(weft_session_close(s));
    setenv("no_proxy", "*.org, .localhost", 1);
    ck_assert_ok(weft_session_new(&s, &so));
    ck_assert_int_eq(get_body(s, "/hello", body, sizeof body), 200);
    ck_assert_int_eq(proxy_requests, 4);
    ck_assert_ok(weft_session_close(s));
    unsetenv("https_proxy");
    unsetenv("no_proxy");
    ck_assert_ok(weft_server_close(px, 0));
    ts_stop(&T);
    weft_tls_ctx_free(sctx);
    return 0;
}

START_TEST(tls_and_proxies) {
    make_certs();
    ck_assert_ok(weft_run(tls_main, NULL));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- examples/fetch against the same server ---------------------------------------- */

#ifdef FETCH
struct run {
    int rc;
    weft_bytes_t out, err;
};

/* Run fetch with args (NULL-terminated), URL paths given as "@/path". */
static void fetch_run(struct run *res, ...) {
    const char *argv[16] = {FETCH};
    char urls[4][256];
    int n = 1, nu = 0;
    va_list ap;
    va_start(ap, res);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 15) {
        if (a[0] == '@') {
            snprintf(urls[nu], sizeof urls[nu], "%s%s", T.base, a + 1);
            a = urls[nu++];
        }
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    weft_proc_t *p;
    weft_proc_opts_t po = {.stdout_mode = WEFT_PROC_PIPE,
                           .stderr_mode = WEFT_PROC_PIPE,
                           .stdin_mode = WEFT_PROC_DEVNULL};
    ck_assert_ok(weft_proc_exec(weft_loop_current(), &p, argv, &po));
    memset(res, 0, sizeof *res);
    ck_assert_ok(weft_proc_communicate(p, NULL, 0, &res->out, &res->err,
                                       &res->rc));
    weft_proc_free(p);
}

static void run_free(struct run *r) {
    weft_free(r->out.data);
    weft_free(r->err.data);
}

static int fetch_main(void *arg) {
    (void)arg;
    ts_start(&T);
    struct run r;
    fetch_run(&r, "@/hello", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out.data, "hello");
    ck_assert_uint_eq(r.err.len, 0);
    run_free(&r);
    /* -v: both heads of each hop on stderr */
    fetch_run(&r, "-v", "@/redir/1", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_str_eq(r.out.data, "done");
    ck_assert_ptr_nonnull(strstr(r.err.data, "> GET /redir/1 HTTP/1.1\n"));
    ck_assert_ptr_nonnull(strstr(r.err.data, "< HTTP/1.1 302 Found\n"
                                             "< Location: /redir/0\n"));
    ck_assert_ptr_nonnull(strstr(r.err.data, "> GET /redir/0 HTTP/1.1\n"));
    ck_assert_ptr_nonnull(strstr(r.err.data, "< HTTP/1.1 200 OK\n"));
    run_free(&r);
    /* a method, headers and data */
    fetch_run(&r, "-X", "PUT", "-H", "X-A: b", "-H", "Content-Type: text/x",
              "-d", "x=1", "@/echo", NULL);
    ck_assert_int_eq(r.rc, 0);
    ck_assert_ptr_nonnull(strstr(r.out.data, "PUT /echo HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(r.out.data, "X-A: b\r\n"));
    ck_assert_ptr_nonnull(strstr(r.out.data, "Content-Type: text/x\r\n"));
    ck_assert_ptr_nonnull(strstr(r.out.data, "\r\n\r\nx=1"));
    run_free(&r);
    /* the misbehaving routes */
    fetch_run(&r, "@/short", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.out.data, "0123456789");
    ck_assert_ptr_nonnull(strstr(r.err.data, "/short: body cut short after 10"));
    run_free(&r);
    fetch_run(&r, "@/loop", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err.data, "too many redirects"));
    run_free(&r);
    fetch_run(&r, "--timeout", "0.3", "@/stallhead", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err.data, "timeout: total (0.3 s) waiting "
                                             "for the response head"));
    run_free(&r);
    fetch_run(&r, "@/1xx", NULL);
    ck_assert_str_eq(r.out.data, "ok");
    run_free(&r);
    fetch_run(&r, "@/close", NULL);
    ck_assert_str_eq(r.out.data, "read until the end");
    run_free(&r);
    fetch_run(&r, "@/garbage", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_ptr_nonnull(strstr(r.err.data, "malformed response"));
    run_free(&r);
    fetch_run(&r, "-f", "@/status/404", NULL);
    ck_assert_int_eq(r.rc, 22);
    ck_assert_ptr_nonnull(strstr(r.err.data, "HTTP error status 404"));
    run_free(&r);
    fetch_run(&r, "http://127.0.0.1:1/", NULL);
    ck_assert_int_eq(r.rc, 1);
    ck_assert_str_eq(r.err.data, "fetch: GET http://127.0.0.1:1/: connect to "
                                 "127.0.0.1:1 failed: Connection refused\n");
    run_free(&r);
    /* -o */
    char path[256];
    snprintf(path, sizeof path, "%s/weft-fetch-%d.out", tmp_dir(),
             (int)getpid());
    fetch_run(&r, "-o", path, "@/gzip", NULL);
    ck_assert_int_eq(r.rc, 0);
    run_free(&r);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char buf[128] = {0};
    ck_assert_int_gt(fread(buf, 1, sizeof buf - 1, f), 0);
    fclose(f);
    unlink(path);
    ck_assert_ptr_nonnull(strstr(buf, "compressed text!"));
    /* usage */
    fetch_run(&r, NULL);
    ck_assert_int_eq(r.rc, 2);
    ck_assert_ptr_nonnull(strstr(r.err.data, "usage: fetch"));
    run_free(&r);
    ts_stop(&T);
    return 0;
}

START_TEST(fetch_example) {
    ck_assert_ok(weft_run(fetch_main, NULL));
}
END_TEST
#endif

/* ---- JSON (libweft_json) ---------------------------------------------------------- */

static int json_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    json_t *q = json_pack("{s:s, s:i}", "name", "ada", "n", 7);
    ck_assert_ok(weft_session_request_json(s, "POST", U("/echo"), q, NULL, &r));
    json_decref(q);
    const void *d;
    ck_assert_int_gt(weft_client_body(r, &d, 0), 0);
    ck_assert_ptr_nonnull(strstr(d, "Content-Type: application/json\r\n"));
    ck_assert_ptr_nonnull(strstr(d, "\r\n\r\n{\"name\":\"ada\",\"n\":7}"));
    weft_client_release(r);
    ck_assert_ok(weft_session_get(s, U("/json"), NULL, &r));
    json_t *v;
    ck_assert_ok(weft_client_json(r, &v, 0, NULL));
    ck_assert_int_eq(json_array_size(json_object_get(v, "a")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(v, "s")), "caf\xc3\xa9");
    json_decref(v);
    weft_client_release(r);
    ck_assert_ok(weft_session_get(s, U("/badjson"), NULL, &r));
    json_error_t e;
    ck_assert_err(weft_client_json(r, &v, 0, &e), -EBADMSG);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(e.line, 1);
    weft_client_release(r);
    ck_assert_ok(weft_session_get(s, U("/json"), NULL, &r));
    ck_assert_err(weft_client_json(r, &v, 10, NULL), WEFT_ECLIENT_BODY_TOO_LARGE);
    weft_client_release(r);
    weft_client_body_t b = WEFT_CLIENT_BYTES("x", 1, NULL);
    weft_client_req_opts_t o = {.body = &b};
    q = json_integer(1);
    ck_assert_err(weft_session_request_json(s, "POST", U("/echo"), q, &o, &r),
                  -EINVAL);
    json_decref(q);
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(json) {
    ck_assert_ok(run_virtual(json_main, NULL));
}
END_TEST

/* ---- upgrades, DNS ----------------------------------------------------------------- */

static int hijack_main(void *arg) {
    (void)arg;
    ts_start(&T);
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    weft_client_req_opts_t o = {
        .headers = (const char *[]){"Connection", "Upgrade", "Upgrade",
                                    "test", NULL}};
    ck_assert_ok(weft_session_get(s, U("/upgrade"), &o, &r));
    ck_assert_int_eq(weft_client_status(r), 101);
    weft_stream_t *st = weft_client_hijack(r);
    ck_assert_ptr_nonnull(st);
    ck_assert_ptr_null(weft_client_hijack(r));
    char buf[64];
    ssize_t n = weft_stream_read_exactly(st, buf, 14);
    ck_assert_int_eq(n, 14);
    ck_assert_int_eq(memcmp(buf, "after the head", 14), 0);
    weft_client_release(r);
    weft_session_stats_t ss;
    weft_session_stats(s, &ss);
    ck_assert_uint_eq(ss.open, 0);
    ck_assert_ok(weft_stream_close(st));
    ck_assert_ok(weft_session_close(s));
    ts_stop(&T);
    return 0;
}

START_TEST(hijack_after_upgrade) {
    ck_assert_ok(run_virtual(hijack_main, NULL));
}
END_TEST

/* A DNS server that says NXDOMAIN to every question. */
static int nx_dns(void *arg) {
    weft_udp_t *u = arg;
    unsigned char q[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof from;
    ssize_t n = weft_udp_recvfrom(u, q, sizeof q, &from, &fl);
    if (n < 12)
        return 0;
    q[2] = 0x81;        /* a response, recursion desired */
    q[3] = 0x83;        /* recursion available, NXDOMAIN */
    memset(q + 6, 0, 6); /* no answers */
    weft_udp_sendto(u, q, (size_t)n, (struct sockaddr *)&from, fl);
    return nx_dns(arg);
}

static int dns_main(void *arg) {
    (void)arg;
    weft_udp_t *u;
    ck_assert_ok(weft_udp_open(&u, "127.0.0.1", "0", NULL, NULL, AF_INET, 0));
    struct sockaddr_storage a;
    socklen_t al;
    ck_assert_ok(weft_udp_sockname(u, &a, &al));
    char servers[64];
    snprintf(servers, sizeof servers, "127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&a)->sin_port));
    weft_task_t *t;
    ck_assert_ok(weft_spawn(&t, nx_dns, u, NULL));
    ck_assert_ok(weft_dns_set_servers(weft_loop_current(), servers));
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, NULL));
    weft_client_response_t *r;
    weft_client_error_t e;
    weft_client_req_opts_t o = {.error = &e};
    ck_assert_err(weft_session_get(s, "http://nx.test/", &o, &r),
                  WEFT_EAI_NONAME);
    ck_assert_str_eq(e.msg, "GET http://nx.test/: dns: no such host "
                            "'nx.test' (NXDOMAIN)");
    ck_assert_ok(weft_session_close(s));
    weft_task_cancel(t);
    weft_join(t);
    weft_task_release(t);
    weft_udp_close(u);
    return 0;
}

START_TEST(dns_errors) {
    ck_assert_ok(weft_run(dns_main, NULL));
}
END_TEST

/* ---- against weft's own server (weft/web.h) ------------------------------------- */

static int h_login(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_response_t *resp = weft_web_resp(req);
    weft_web_cookie_opts_t co = {.path = "/", .http_only = true};
    ck_assert_ok(weft_web_set_cookie(resp, "session", "s3cret", &co));
    weft_web_set_status(resp, 303, NULL);
    weft_web_set_header(resp, "Location", "/me");
    return 0;
}

static int h_me(weft_web_request_t *req, void *arg) {
    (void)arg;
    const char *c = weft_web_cookie(req, "session");
    if (!c)
        return WEFT_WEB_HTTP(401);
    char pad[2000];
    memset(pad, 'z', sizeof pad - 1); /* worth compressing */
    pad[sizeof pad - 1] = 0;
    json_t *v = json_pack("{s:s, s:s}", "session", c, "pad", pad);
    return weft_web_json_take(req, 200, v);
}

static int h_echo_json(weft_web_request_t *req, void *arg) {
    (void)arg;
    json_t *body;
    int err = weft_web_read_json(req, &body, 0);
    if (err < 0)
        return err;
    return weft_web_json(req, 201, body);
}

static int web_main(void *arg) {
    (void)arg;
    weft_web_app_t *app;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    ck_assert_ok(weft_web_route(app, "POST", "/login", h_login, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/me", h_me, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "PUT", "/items", h_echo_json, NULL, NULL));
    ck_assert_ok(weft_web_compress(app, NULL));
    weft_web_runner_t *run;
    ck_assert_ok(weft_web_runner_new(&run, app, NULL));
    ck_assert_ok(weft_web_runner_setup(run));
    ck_assert_ok(weft_web_runner_listen(run, "127.0.0.1", "0", NULL));
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d",
             weft_web_runner_port(run));
    weft_session_opts_t so = {.base_url = base};
    weft_session_t *s;
    ck_assert_ok(weft_session_new(&s, &so));
    weft_client_response_t *r;
    /* unauthorised, then a login whose 303 sets the cookie, and the
     * JSON answer comes back gzipped and chunked */
    ck_assert_ok(weft_session_get(s, "/me", NULL, &r));
    ck_assert_int_eq(weft_client_status(r), 401);
    weft_client_release(r);
    ck_assert_ok(weft_session_post(s, "/login", NULL, &r));
    ck_assert_int_eq(weft_client_status(r), 200);
    size_t n;
    weft_client_history(r, &n);
    ck_assert_uint_eq(n, 1);
    weft_span_t v;
    ck_assert_ok(weft_client_header(r, "Content-Encoding", &v));
    ck_assert(weft__hc_span_eq(v, "gzip"));
    json_t *j;
    ck_assert_ok(weft_client_json(r, &j, 0, NULL));
    ck_assert_str_eq(json_string_value(json_object_get(j, "session")),
                     "s3cret");
    json_decref(j);
    weft_client_release(r);
    /* JSON both ways, with PUT */
    json_t *q = json_pack("{s:[i,i]}", "ids", 1, 2);
    ck_assert_ok(weft_session_request_json(s, "PUT", "/items", q, NULL, &r));
    json_decref(q);
    ck_assert_int_eq(weft_client_status(r), 201);
    ck_assert_ok(weft_client_json(r, &j, 0, NULL));
    ck_assert_int_eq(json_array_size(json_object_get(j, "ids")), 2);
    json_decref(j);
    weft_client_release(r);
    weft_session_stats_t st;
    weft_session_stats(s, &st);
    ck_assert_uint_eq(st.connections_created, 1);
    ck_assert_uint_eq(weft_web_runner_connections(run), 1);
    ck_assert_ok(weft_session_close(s));
    ck_assert_ok(weft_web_runner_shutdown(run, 1));
    weft_web_runner_free(run);
    weft_web_app_free(app);
    return 0;
}

START_TEST(against_weft_server) {
    ck_assert_ok(run_virtual(web_main, NULL));
}
END_TEST

Suite *client_suite(void);
Suite *client_suite(void) {
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get_and_keep_alive);
    tcase_add_test(tc, every_method);
    tcase_add_test(tc, request_bodies);
    tcase_add_test(tc, streamed_upload);
    tcase_add_test(tc, response_shapes);
    tcase_add_test(tc, broken_responses);
    tcase_add_test(tc, redirects);
    tcase_add_test(tc, cookies_across_redirects);
    tcase_add_test(tc, cookie_jar_rules);
    tcase_add_test(tc, timeouts);
    tcase_add_test(tc, connect_timeout);
    tcase_add_test(tc, decompression);
    tcase_add_test(tc, pool_limits_and_reuse);
    tcase_add_test(tc, pool_waiters_cancelled);
    tcase_add_test(tc, stale_connections);
    tcase_add_test(tc, middlewares);
    tcase_add_test(tc, retry_middleware);
    tcase_add_test(tc, tracing);
    tcase_add_test(tc, sessions);
    tcase_add_test(tc, misuse);
    tcase_add_test(tc, outside_a_loop);
    tcase_add_test(tc, tls_and_proxies);
    tcase_add_test(tc, json);
    tcase_add_test(tc, hijack_after_upgrade);
    tcase_add_test(tc, dns_errors);
    tcase_add_test(tc, against_weft_server);
#ifdef FETCH
    tcase_add_test(tc, fetch_example);
#endif
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(client_suite)
