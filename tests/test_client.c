/* The HTTP client against a local server that misbehaves on purpose
 * (tests/http_testsrv.h): requests and bodies, redirects, cookies,
 * timeouts (on the virtual clock), broken responses, decompression, the
 * pool's limits and reuse (connections counted on the server's side),
 * middlewares, retries, tracing, TLS with the suite's certificates. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "support.h"
#include "http_testsrv.h"

static struct tsrv T;
static char url[256];

static const char *U(const char *path) {
    snprintf(url, sizeof url, "%s%s", T.base, path);
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

Suite *client_suite(void);
Suite *client_suite(void) {
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("client");
    tcase_add_test(tc, get_and_keep_alive);
    tcase_add_test(tc, every_method);
    tcase_add_test(tc, request_bodies);
    tcase_add_test(tc, streamed_upload);
    tcase_add_test(tc, response_shapes);
    tcase_add_test(tc, broken_responses);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(client_suite)
