/* The web server (weft/web.h) over real loopback sockets, in one loop on a
 * virtual clock: the server's tasks and a raw client (bytes in, bytes out)
 * side by side, so timeouts are exact and instant. Each test sends
 * requests as bytes and reads what comes back until the server closes the
 * connection (after Connection: close, an error, or the keep-alive
 * timeout, which the virtual clock reaches at once). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include "support.h"
#include "http/web_int.h"

#ifndef MAKE_CERTS
#error "MAKE_CERTS must name tests/tls/make-certs.sh"
#endif

/* ---- harness -------------------------------------------------------------------- */

struct srv {
    weft_web_app_t *app;
    weft_web_runner_t *run;
    int port;
};

static char out[1 << 20];
static size_t nout;

static int srv_start(struct srv *s, const weft_web_server_opts_t *o) {
    int err = weft_web_runner_new(&s->run, s->app, o);
    if (!err)
        err = weft_web_runner_setup(s->run);
    if (!err)
        err = weft_web_runner_listen(s->run, "127.0.0.1", "0", NULL);
    if (!err)
        s->port = weft_web_runner_port(s->run);
    return err;
}

static void srv_stop(struct srv *s) {
    ck_assert_ok(weft_web_runner_shutdown(s->run, 5));
    weft_web_runner_free(s->run);
}

static int connect_to(int port, weft_stream_t **c) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    return weft_open_connection(c, "127.0.0.1", p, NULL);
}

/* Read until the server closes (or the buffer is full): into out. */
static void read_all(weft_stream_t *c) {
    nout = 0;
    for (;;) {
        ssize_t n = weft_stream_read(c, out + nout, sizeof out - 1 - nout);
        if (n <= 0)
            break;
        nout += (size_t)n;
    }
    out[nout] = '\0';
}

/* Send req, read everything until the close. */
static void exchange(int port, const char *req) {
    weft_stream_t *c;
    ck_assert_ok(connect_to(port, &c));
    ck_assert_ok(weft_stream_write(c, req, strlen(req)));
    read_all(c);
    weft_stream_close(c);
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

#define ck_has(needle)                                                         \
    ck_assert_msg(strstr(out, (needle)) != NULL, "no '%s' in:\n%s", (needle), \
                  out)
#define ck_lacks(needle)                                                       \
    ck_assert_msg(strstr(out, (needle)) == NULL, "'%s' in:\n%s", (needle), out)

/* Run fn as the test's main task with the app made by setup(app). */
struct test {
    void (*setup)(weft_web_app_t *app);
    void (*body)(struct srv *s);
    weft_web_server_opts_t opts;
};

static int test_main(void *arg) {
    struct test *t = arg;
    struct srv s = {0};
    ck_assert_ok(weft_web_app_new(&s.app, NULL));
    if (t->setup)
        t->setup(s.app);
    ck_assert_ok(srv_start(&s, &t->opts));
    t->body(&s);
    srv_stop(&s);
    ck_assert_ok(weft_web_app_free(s.app));
    return 0;
}

static void run_test(void (*setup)(weft_web_app_t *),
                     void (*body)(struct srv *),
                     const weft_web_server_opts_t *o) {
    struct test t = {.setup = setup, .body = body};
    if (o)
        t.opts = *o;
    ck_assert_ok(run_virtual(test_main, &t));
}

/* ---- handlers ------------------------------------------------------------------- */

static int hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, "Hello, World!");
}

static int echo_var(weft_web_request_t *req, void *arg) {
    const char *v = weft_web_match(req, arg ? arg : "id");
    return weft_web_text(req, 200, v ? v : "(none)");
}

static int fail_enoent(weft_web_request_t *req, void *arg) {
    (void)req, (void)arg;
    return -ENOENT;
}

static int forbidden(weft_web_request_t *req, void *arg) {
    (void)req, (void)arg;
    return WEFT_WEB_HTTP(403);
}

static int echo_body(weft_web_request_t *req, void *arg) {
    (void)arg;
    const void *data;
    ssize_t n = weft_web_read_body(req, &data, 0);
    if (n < 0)
        return (int)n;
    return weft_web_bytes(req, 200, "application/octet-stream", data,
                          (size_t)n);
}

static int stream3(weft_web_request_t *req, void *arg) {
    (void)arg;
    int err = weft_web_prepare(req);
    for (int i = 0; i < 3 && !err; i++) {
        char piece[16];
        int n = snprintf(piece, sizeof piece, "part%d;", i);
        err = weft_web_write(req, piece, (size_t)n);
    }
    return err ? err : weft_web_write_eof(req);
}

/* The value of the header the query names (?n=NAME), or 404. */
static int echo_header(weft_web_request_t *req, void *arg) {
    (void)arg;
    const char *name = weft_web_query(req, "n");
    weft_span_t v;
    if (!name || weft_web_header(req, name, &v) != 0)
        return WEFT_WEB_HTTP(404);
    return weft_web_bytes(req, 200, "text/plain", v.ptr, v.len);
}

static void basic_routes(weft_web_app_t *app) {
    weft_web_route_def_t defs[] = {
        {"GET", "/", hello, NULL, "root"},
        {"GET", "/users/{id:\\d+}", echo_var, NULL, "user"},
        {"POST", "/users/{id:\\d+}", echo_var, NULL, NULL},
        {"GET", "/files/{path:.*}", echo_var, "path", "files"},
        {"GET", "/fail", fail_enoent, NULL, NULL},
        {"GET", "/forbidden", forbidden, NULL, NULL},
        {"POST", "/echo", echo_body, NULL, NULL},
        {"GET", "/stream", stream3, NULL, NULL},
        {"GET", "/header", echo_header, NULL, NULL},
    };
    size_t added;
    ck_assert_ok(weft_web_routes(app, defs, sizeof defs / sizeof defs[0],
                                 &added));
    ck_assert_int_eq(added, sizeof defs / sizeof defs[0]);
}

/* ---- basics ---------------------------------------------------------------------- */

static void t_hello(struct srv *s) {
    exchange(s->port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    ck_has("\r\nContent-Length: 13\r\n");
    ck_has("\r\nContent-Type: text/plain; charset=utf-8\r\n");
    ck_has("\r\nDate: ");
    ck_has("\r\nConnection: close\r\n");
    ck_assert_str_eq(out + nout - 13, "Hello, World!");
}

START_TEST(hello_world) {
    run_test(basic_routes, t_hello, NULL);
}
END_TEST

static void t_keepalive(struct srv *s) {
    /* Two requests on one connection, the second closing it. */
    exchange(s->port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_assert_int_eq(count(out, "HTTP/1.1 200 OK"), 2);
    ck_assert_int_eq(count(out, "Connection: close"), 1);
    /* HTTP/1.0 without keep-alive: one answer, then the close. */
    exchange(s->port, "GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(count(out, "HTTP/1.1 200 OK"), 1);
    ck_has("Connection: close");
    /* HTTP/1.0 with keep-alive: both, the first saying keep-alive. */
    exchange(s->port, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                      "GET / HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(count(out, "HTTP/1.1 200 OK"), 2);
    ck_assert_int_eq(count(out, "Connection: keep-alive"), 1);
    ck_assert_uint_eq(weft_web_runner_requests(s->run), 5);
}

START_TEST(keep_alive) {
    run_test(basic_routes, t_keepalive, NULL);
}
END_TEST

static void t_pipeline(struct srv *s) {
    exchange(s->port, "GET /users/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /users/2 HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /users/3 HTTP/1.1\r\nHost: x\r\n\r\n");
    const char *a = strstr(out, "\r\n\r\n1"), *b = strstr(out, "\r\n\r\n2"),
               *c = strstr(out, "\r\n\r\n3");
    ck_assert_msg(a && b && c && a < b && b < c, "out of order:\n%s", out);
}

START_TEST(pipelining) {
    run_test(basic_routes, t_pipeline, NULL);
}
END_TEST

static void t_routing(struct srv *s) {
    exchange(s->port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 404 Not Found\r\n");
    exchange(s->port, "DELETE /users/7 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 405 Method Not Allowed\r\n");
    ck_has("\r\nAllow: GET, POST, HEAD\r\n");
    exchange(s->port, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 200 OK\r\n");
    ck_has("Content-Length: 13\r\n");
    ck_lacks("Hello");
    exchange(s->port, "OPTIONS /users/7 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 204 No Content\r\n");
    ck_has("\r\nAllow: GET, POST, HEAD, OPTIONS\r\n");
    exchange(s->port, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 204 No Content\r\n");
    exchange(s->port, "GET /users/abc HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 404 ");
    exchange(s->port, "GET /files/a/b%20c/../d.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(out + nout - 7, "a/d.txt");
    exchange(s->port, "GET /users/0042?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(out + nout - 4, "0042");
    exchange(s->port, "GET http://example.com/users/5 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(out + nout - 1, "5");
}

START_TEST(routing) {
    run_test(basic_routes, t_routing, NULL);
}
END_TEST

static void t_errors(struct srv *s) {
    logcap_start();
    exchange(s->port, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
    logcap_stop();
    ck_has("HTTP/1.1 500 Internal Server Error\r\n");
    ck_lacks("ENOENT");
    ck_assert_int_eq(logcap.n, 1);
    ck_assert_int_eq(logcap.level, WEFT_LOG_ERROR);
    ck_assert_msg(strstr(logcap.last, "GET /fail HTTP/1.1") &&
                      strstr(logcap.last, "ENOENT"),
                  "%s", logcap.last);
    exchange(s->port, "GET /forbidden HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 403 Forbidden\r\n");
    ck_has("\r\n\r\n403 Forbidden\n");
}

START_TEST(handler_errors) {
    run_test(basic_routes, t_errors, NULL);
}
END_TEST

/* ---- the smuggling rules and limits --------------------------------------------------- */

static void t_smuggle(struct srv *s) {
    /* Content-Length with Transfer-Encoding: refused, closed, and the
     * "second request" inside the body is never answered. */
    exchange(s->port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(count(out, "HTTP/1.1 "), 1);
    ck_has("HTTP/1.1 400 Bad Request\r\n");
    ck_has("Connection: close\r\n");
    /* Whitespace before the colon, obs-fold, a bare LF: the same. */
    static const char *bad[] = {
        "GET / HTTP/1.1\r\nHost : x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\nGET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
        "Content-Length: 2\r\n\r\nabGET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", /* no Host */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        exchange(s->port, bad[i]);
        ck_assert_msg(count(out, "HTTP/1.1 ") == 1 &&
                          strstr(out, "HTTP/1.1 400 ") == out,
                      "case %zu:\n%s", i, out);
    }
    exchange(s->port, "GET / HTTP/2.0\r\nHost: x\r\n\r\n");
    ck_has("HTTP/1.1 505 ");
}

START_TEST(smuggling) {
    run_test(basic_routes, t_smuggle, NULL);
}
END_TEST

static void t_limits(struct srv *s) {
    static char req[70000];
    int n = snprintf(req, sizeof req, "GET /");
    memset(req + n, 'a', 9000);
    snprintf(req + n + 9000, sizeof req - (size_t)n - 9000,
             " HTTP/1.1\r\nHost: x\r\n\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 414 ");
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
    memset(req + n, 'b', 9000);
    snprintf(req + n + 9000, sizeof req - (size_t)n - 9000, "\r\n\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 431 ");
    /* More fields than serve_one's stack array holds, within max_fields:
     * parsed again into a heap array, every field there; one more than
     * max_fields: 431. */
    n = snprintf(req, sizeof req, "GET /header?n=X-98 HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 99; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: v%d\r\n", i, i);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 200 ");
    ck_assert_str_eq(out + nout - 3, "v98");
    n = snprintf(req, sizeof req, "GET /header?n=X-0 HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 100; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: v%d\r\n", i, i);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 431 ");
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 120; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: y\r\n", i);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 431 ");
    n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; n < 40000; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X-%d: %0500d\r\n", i,
                      0);
    snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    exchange(s->port, req);
    ck_has("HTTP/1.1 431 ");
    /* A body over client_max_size: 413 and the connection closes. */
    exchange(s->port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 2000000\r\n\r\nabc");
    ck_has("HTTP/1.1 413 ");
    ck_has("Connection: close");
}

START_TEST(limits) {
    weft_web_server_opts_t o = {.max_fields = 100};
    run_test(basic_routes, t_limits, &o);
}
END_TEST

/* ---- bodies -------------------------------------------------------------------------- */

static void t_bodies(struct srv *s) {
    exchange(s->port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      "\r\nhello");
    ck_has("Content-Length: 5\r\n");
    ck_assert_str_eq(out + nout - 5, "hello");
    exchange(s->port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n"
                      "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
                      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                      "\r\nxy");
    ck_has("Content-Length: 7\r\n\r\nabcdefg");
    ck_assert_str_eq(out + nout - 2, "xy");
    /* A body nobody read is skipped: the next request is served. */
    exchange(s->port, "POST /users/3 HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 10\r\n\r\n0123456789"
                      "GET /users/4 HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(count(out, "HTTP/1.1 200"), 2);
    ck_assert_str_eq(out + nout - 1, "4");
    /* Broken chunked framing: 400. */
    exchange(s->port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: chunked\r\n\r\nzz\r\n");
    ck_has("HTTP/1.1 400 ");
}

START_TEST(bodies) {
    run_test(basic_routes, t_bodies, NULL);
}
END_TEST

static void t_expect(struct srv *s) {
    /* The handler reads: 100 Continue comes first, once the client
     * waits for it. */
    weft_stream_t *c;
    ck_assert_ok(connect_to(s->port, &c));
    const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                       "Expect: 100-continue\r\n\r\n";
    ck_assert_ok(weft_stream_write(c, head, strlen(head)));
    char buf[256];
    ssize_t n = weft_stream_read(c, buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    ck_assert_ok(weft_stream_write(c, "abc", 3));
    read_all(c);
    weft_stream_close(c);
    ck_has("HTTP/1.1 200 OK");
    ck_assert_str_eq(out + nout - 3, "abc");
    /* The handler does not read: no 100, and the connection closes after
     * the answer (the client may never send the body). */
    exchange(s->port, "POST /users/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                      "Expect: 100-continue\r\n\r\n");
    ck_lacks("100 Continue");
    ck_has("HTTP/1.1 200 OK");
    ck_has("Connection: close");
    exchange(s->port, "GET / HTTP/1.1\r\nHost: x\r\nExpect: tea\r\n\r\n");
    ck_has("HTTP/1.1 417 ");
}

START_TEST(expect_continue) {
    run_test(basic_routes, t_expect, NULL);
}
END_TEST

static void t_stream(struct srv *s) {
    exchange(s->port, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("Transfer-Encoding: chunked\r\n");
    ck_has("\r\n\r\n6\r\npart0;\r\n6\r\npart1;\r\n6\r\npart2;\r\n0\r\n\r\n");
    exchange(s->port, "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ck_lacks("Transfer-Encoding");
    ck_has("Connection: close\r\n");
    ck_assert_str_eq(out + nout - 18, "part0;part1;part2;");
    exchange(s->port, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("Transfer-Encoding: chunked\r\n");
    ck_lacks("part");
}

START_TEST(streaming) {
    run_test(basic_routes, t_stream, NULL);
}
END_TEST

/* ---- middlewares and signals ----------------------------------------------------------- */

static char trace[512];

static void note(const char *s) {
    strncat(trace, s, sizeof trace - strlen(trace) - 1);
}

static int mw_outer(weft_web_request_t *req, weft_web_next_t *next,
                    void *arg) {
    (void)arg;
    note("outer>");
    int err = weft_web_next(req, next);
    note("<outer");
    if (err == WEFT_WEB_HTTP(404)) /* catch: a 404 of our own */
        return weft_web_text(req, 404, "nothing here");
    if (!err)
        err = weft_web_set_header(weft_web_resp(req), "X-Outer", "1");
    return err;
}

static int mw_inner(weft_web_request_t *req, weft_web_next_t *next,
                    void *arg) {
    (void)arg;
    note("inner>");
    weft_span_t v;
    if (weft_web_header(req, "X-Block", &v) == 0)
        return weft_web_text(req, 401, "blocked"); /* short-circuit */
    int err = weft_web_next(req, next);
    note("<inner");
    return err;
}

static int sub_hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    note("handler ");
    char url[64];
    ssize_t n = weft_web_url_for(weft_web_request_app(req), "item",
                                 (const char *[]){"n", "a b", NULL}, "q=1",
                                 url, sizeof url);
    return n < 0 ? (int)n : weft_web_text(req, 200, url);
}

static int sig_startup(weft_web_app_t *app, void *arg) {
    (void)app;
    note(arg);
    return 0;
}

static int ctx_start(weft_web_app_t *app, void *arg) {
    (void)app, (void)arg;
    note("ctx-start ");
    return 0;
}

static void ctx_stop(weft_web_app_t *app, void *arg) {
    (void)app, (void)arg;
    note("ctx-stop ");
}

static int on_prepare(weft_web_request_t *req, weft_web_response_t *resp,
                      void *arg) {
    (void)req, (void)arg;
    return weft_web_add_header(resp, "X-Prepared", "yes");
}

static int nsent;

static void on_sent(weft_web_request_t *req, void *arg) {
    (void)req, (void)arg;
    nsent++;
}

static void mw_setup(weft_web_app_t *app) {
    trace[0] = '\0';
    nsent = 0;
    weft_web_app_t *sub;
    ck_assert_ok(weft_web_app_new(&sub, NULL));
    ck_assert_ok(weft_web_route(sub, "GET", "/hello", sub_hello, NULL, NULL));
    ck_assert_ok(weft_web_route(sub, "GET", "/item/{n}", hello, NULL, "item"));
    ck_assert_ok(weft_web_middleware(sub, mw_inner, NULL));
    ck_assert_ok(weft_web_middleware(app, mw_outer, NULL));
    ck_assert_ok(weft_web_add_subapp(app, "/api", sub));
    ck_assert_ok(weft_web_route(app, "GET", "/", hello, NULL, NULL));
    ck_assert_ok(weft_web_on_startup(app, sig_startup, "startup "));
    ck_assert_ok(weft_web_on_shutdown(app, sig_startup, "shutdown "));
    ck_assert_ok(weft_web_on_cleanup(app, sig_startup, "cleanup "));
    ck_assert_ok(weft_web_cleanup_ctx(app, ctx_start, ctx_stop, NULL));
    ck_assert_ok(weft_web_on_response_prepare(app, on_prepare, NULL));
    ck_assert_ok(weft_web_on_response_sent(app, on_sent, NULL));
}

static void t_mw(struct srv *s) {
    ck_assert_str_eq(trace, "startup ctx-start ");
    /* frozen now */
    logcap_start();
    ck_assert_err(weft_web_route(s->app, "GET", "/late", hello, NULL, NULL),
                  -EBUSY);
    logcap_stop();
    trace[0] = '\0';
    exchange(s->port, "GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(trace, "outer>inner>handler <inner<outer");
    ck_has("X-Outer: 1\r\n");
    ck_has("X-Prepared: yes\r\n");
    ck_assert_str_eq(out + nout - 19, "/api/item/a%20b?q=1");
    exchange(s->port, "GET /api/hello HTTP/1.1\r\nHost: x\r\nX-Block: 1\r\n\r\n");
    ck_has("HTTP/1.1 401 Unauthorized\r\n");
    ck_assert_str_eq(out + nout - 7, "blocked");
    /* A 404 inside the sub-app still goes through both apps' middlewares;
     * the outer one answers it. */
    trace[0] = '\0';
    exchange(s->port, "GET /api/nope HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_str_eq(trace, "outer>inner><inner<outer");
    ck_assert_str_eq(out + nout - 12, "nothing here");
    ck_assert_int_eq(nsent, 3);
    trace[0] = '\0';
}

START_TEST(middlewares_and_signals) {
    run_test(mw_setup, t_mw, NULL);
    ck_assert_str_eq(trace, "shutdown ctx-stop cleanup ");
}
END_TEST

/* ---- timeouts ----------------------------------------------------------------------- */

static void t_timeouts(struct srv *s) {
    /* Half a head, then silence: 408 after head_timeout (2 s here). */
    weft_stream_t *c;
    ck_assert_ok(connect_to(s->port, &c));
    double t0 = now();
    ck_assert_ok(weft_stream_write(c, "GET / HTTP/1.1\r\nHo", 18));
    read_all(c);
    weft_stream_close(c);
    ck_has("HTTP/1.1 408 ");
    ck_assert_double_eq_tol(now() - t0, 2, 1e-6);
    /* An idle keep-alive connection closes quietly after 3 s. */
    ck_assert_ok(connect_to(s->port, &c));
    t0 = now();
    ck_assert_ok(weft_stream_write(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
    read_all(c);
    weft_stream_close(c);
    ck_assert_int_eq(count(out, "HTTP/1.1 200"), 1);
    ck_assert_double_eq_tol(now() - t0, 3, 1e-6);
    /* A body that stops half way: 408 after body_timeout (4 s). */
    ck_assert_ok(connect_to(s->port, &c));
    t0 = now();
    const char *r = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab";
    ck_assert_ok(weft_stream_write(c, r, strlen(r)));
    read_all(c);
    weft_stream_close(c);
    ck_has("HTTP/1.1 408 ");
    ck_assert_double_eq_tol(now() - t0, 4, 1e-6);
}

START_TEST(timeouts) {
    weft_web_server_opts_t o = {.head_timeout = 2, .keepalive_timeout = 3,
                                .body_timeout = 4};
    run_test(basic_routes, t_timeouts, &o);
}
END_TEST

/* ---- shutdown ------------------------------------------------------------------------- */

static bool released;

static void release(void *arg) {
    (void)arg;
    released = true;
}

static int slow(weft_web_request_t *req, void *arg) {
    double secs = *(double *)arg;
    weft_web_defer(req, release, NULL);
    int err = weft_sleep(secs);
    return err ? err : weft_web_text(req, 200, "slow done");
}

static double slow_secs;

static void slow_setup(weft_web_app_t *app) {
    basic_routes(app);
    ck_assert_ok(weft_web_route(app, "GET", "/slow", slow, &slow_secs, NULL));
}

static int slow_client(void *arg) {
    struct srv *s = arg;
    exchange(s->port, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    return 0;
}

/* A request in progress when the shutdown starts finishes (with
 * Connection: close); an idle keep-alive connection is closed at once. */
static int shutdown_main(void *arg) {
    (void)arg;
    struct srv s = {0};
    ck_assert_ok(weft_web_app_new(&s.app, NULL));
    slow_setup(s.app);
    ck_assert_ok(srv_start(&s, NULL));
    weft_stream_t *idle;
    ck_assert_ok(connect_to(s.port, &idle));
    ck_assert_ok(weft_stream_write(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27));
    weft_task_t *client;
    ck_assert_ok(weft_spawn(&client, slow_client, &s, NULL));
    ck_assert_ok(weft_sleep(0.5)); /* the slow request is in its handler */
    ck_assert_uint_eq(weft_web_runner_connections(s.run), 2);
    double t0 = now();
    released = false;
    ck_assert_ok(weft_web_runner_shutdown(s.run, 10));
    ck_assert_double_eq_tol(now() - t0, slow_secs - 0.5, 1e-6);
    ck_assert(released);
    ck_assert_ok(weft_join(client));
    weft_task_release(client);
    ck_has("HTTP/1.1 200 OK");
    ck_has("Connection: close");
    ck_assert_str_eq(out + nout - 9, "slow done");
    read_all(idle); /* answered, then closed at the shutdown's start */
    ck_assert_int_eq(count(out, "HTTP/1.1 200"), 1);
    weft_stream_close(idle);
    weft_web_runner_free(s.run);
    ck_assert_ok(weft_web_app_free(s.app));
    return 0;
}

START_TEST(graceful_shutdown) {
    slow_secs = 3;
    ck_assert_ok(run_virtual(shutdown_main, NULL));
}
END_TEST

/* A handler still running when the grace period ends is cancelled, and
 * what it registered with weft_web_defer is released. */
static int grace_main(void *arg) {
    (void)arg;
    struct srv s = {0};
    ck_assert_ok(weft_web_app_new(&s.app, NULL));
    slow_setup(s.app);
    ck_assert_ok(srv_start(&s, NULL));
    weft_task_t *client;
    ck_assert_ok(weft_spawn(&client, slow_client, &s, NULL));
    ck_assert_ok(weft_sleep(0.5));
    released = false;
    double t0 = now();
    ck_assert_ok(weft_web_runner_shutdown(s.run, 2));
    ck_assert_double_eq_tol(now() - t0, 2, 1e-6);
    ck_assert(released);
    ck_assert_ok(weft_join(client));
    weft_task_release(client);
    ck_assert_int_eq(nout, 0); /* no partial answer */
    weft_web_runner_free(s.run);
    ck_assert_ok(weft_web_app_free(s.app));
    return 0;
}

START_TEST(grace_expires) {
    slow_secs = 100;
    ck_assert_ok(run_virtual(grace_main, NULL));
}
END_TEST

/* A handler past handler_timeout: its wait ends with -ETIMEDOUT, the
 * client gets 503, the request's clean-up runs. */
static void t_handler_deadline(struct srv *s) {
    released = false;
    double t0 = now();
    exchange(s->port, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ck_has("HTTP/1.1 503 Service Unavailable\r\n");
    ck_assert_double_eq_tol(now() - t0, 1.5, 1e-6);
    ck_assert(released);
}

START_TEST(handler_deadline) {
    slow_secs = 100;
    weft_web_server_opts_t o = {.handler_timeout = 1.5};
    run_test(slow_setup, t_handler_deadline, &o);
}
END_TEST

/* ---- filters, files, cookies, the arena --------------------------------------------- */

static int upper_write(void *state, weft_web_filter_out_t *o,
                       const void *data, size_t len, bool last) {
    int *calls = state;
    (*calls)++;
    char buf[256];
    size_t n = len < sizeof buf ? len : sizeof buf;
    for (size_t i = 0; i < n; i++) {
        char c = ((const char *)data)[i];
        buf[i] = c >= 'a' && c <= 'z' ? (char)(c - 32) : c;
    }
    int err = weft_web_filter_emit(o, buf, n);
    if (!err && last)
        err = weft_web_filter_emit(o, "!", 1);
    return err;
}

static int filter_calls;
static const weft_web_filter_t upper = {upper_write, NULL};

static int filtered(weft_web_request_t *req, void *arg) {
    int err = weft_web_set_filter(weft_web_resp(req), &upper, &filter_calls);
    if (!err && arg)
        return stream3(req, NULL);
    return err ? err : weft_web_text(req, 200, "quiet");
}

static char file_path[256];

static int file_body(weft_web_request_t *req, void *arg) {
    (void)arg;
    int fd = open(file_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    return weft_web_body_file(weft_web_resp(req), fd, 2, 5,
                              WEFT_WEB_FILE_CLOSE);
}

static const int kv_key = 0;

static int cookies(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_response_t *resp = weft_web_resp(req);
    weft_web_cookie_opts_t o = {.path = "/", .http_only = true,
                                .same_site = WEFT_WEB_SAMESITE_LAX};
    int err = weft_web_set_cookie(resp, "sid", "abc123", &o);
    if (!err)
        err = weft_web_set_cookie(resp, "bad", "a;b", NULL) == -EINVAL
                  ? 0
                  : -EIO;
    if (!err)
        err = weft_web_add_header(resp, "X-Evil", "a\r\nSet-Cookie: x=1") ==
                      -EINVAL
                  ? 0
                  : -EIO;
    if (!err)
        err = weft_web_put(req, &kv_key, "kept");
    const char *got = weft_web_cookie(req, "theme");
    const char *q = weft_web_query(req, "who");
    char *text = weft_web_sprintf(req, "%s %s %s", got ? got : "-",
                                  q ? q : "-",
                                  (char *)weft_web_get(req, &kv_key));
    return err ? err : weft_web_text(req, 200, text);
}

static void misc_setup(weft_web_app_t *app) {
    basic_routes(app);
    ck_assert_ok(weft_web_route(app, "GET", "/upper", filtered, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/upper-stream", filtered, "s",
                                NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/file", file_body, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/cookies", cookies, NULL, NULL));
}

static void t_misc(struct srv *s) {
    exchange(s->port, "GET /upper HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("Content-Length: 6\r\n");
    ck_assert_str_eq(out + nout - 6, "QUIET!");
    exchange(s->port, "GET /upper-stream HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("6\r\nPART0;\r\n6\r\nPART1;\r\n6\r\nPART2;\r\n1\r\n!\r\n0\r\n\r\n");
    exchange(s->port, "GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_has("Content-Length: 5\r\n");
    ck_assert_str_eq(out + nout - 5, "23456");
    logcap_start(); /* the handler's refused header is logged */
    exchange(s->port, "GET /cookies?who=ann+b%21 HTTP/1.1\r\nHost: x\r\n"
                      "Cookie: a=1; theme=\"dark\"\r\n\r\n");
    logcap_stop();
    ck_assert_int_eq(logcap.n, 1);
    ck_has("Set-Cookie: sid=abc123; Path=/; HttpOnly; SameSite=Lax\r\n");
    ck_lacks("X-Evil");
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, "dark ann b! kept");
}

START_TEST(filters_files_cookies) {
    snprintf(file_path, sizeof file_path, "%s/weft-web-file-%d", tmp_dir(),
             (int)getpid());
    FILE *f = fopen(file_path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("0123456789", f);
    fclose(f);
    run_test(misc_setup, t_misc, NULL);
    unlink(file_path);
}
END_TEST


/* ---- TLS and the connection hook ---------------------------------------------- */

static char cert_dir[64];

static const char *cert_path(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", cert_dir, name);
    return buf;
}

static int who(weft_web_request_t *req, void *arg) {
    (void)arg;
    char *t = weft_web_sprintf(req, "%s %s", weft_web_scheme(req),
                               weft_web_remote(req));
    return t ? weft_web_text(req, 200, t) : -ENOMEM;
}

/* The hook of a listener: reads "FROM <ipv4>\r\n" first, as a PROXY
 * protocol header would say where the client is. */
static int from_hook(weft_web_conn_t *conn, void *arg) {
    (void)arg;
    weft_stream_t *s = weft_web_conn_stream(conn);
    char line[64];
    ssize_t n = weft_stream_readline(s, line, sizeof line - 1);
    if (n < 8 || memcmp(line, "FROM ", 5) != 0)
        return -EPROTO;
    line[n - 2] = '\0';
    struct sockaddr_in a = {.sin_family = AF_INET};
    if (inet_pton(AF_INET, line + 5, &a.sin_addr) != 1)
        return -EPROTO;
    return weft_web_conn_set_remote(conn, (struct sockaddr *)&a, sizeof a);
}

static int tls_main(void *arg) {
    (void)arg;
    char a[128], b[128];
    weft_tls_ctx_t *sctx, *cctx;
    ck_assert_ok(weft_web_tls_ctx(&sctx, cert_path(a, sizeof a, "server.crt"),
                                  cert_path(b, sizeof b, "server.key")));
    weft_tls_opts_t co = {.ca_file = cert_path(a, sizeof a, "ca.crt"),
                          .alpn = "http/1.1"};
    ck_assert_ok(weft_tls_client_ctx(&cctx, &co));
    struct srv s = {0};
    ck_assert_ok(weft_web_app_new(&s.app, NULL));
    ck_assert_ok(weft_web_route(s.app, "GET", "/who", who, NULL, NULL));
    ck_assert_ok(weft_web_runner_new(&s.run, s.app, NULL));
    ck_assert_ok(weft_web_runner_setup(s.run));
    weft_web_listen_opts_t lo = {.tls = sctx};
    ck_assert_ok(weft_web_runner_listen(s.run, "127.0.0.1", "0", &lo));
    int tls_port = weft_web_runner_port(s.run);
    weft_web_listen_opts_t ho = {.on_connect = from_hook};
    ck_assert_ok(weft_web_runner_listen(s.run, "127.0.0.1", "0", &ho));
    int hook_port = weft_server_port(s.run->ls.v[1]->srv);
    char sock[96];
    snprintf(sock, sizeof sock, "%s/web.sock", cert_dir);
    ck_assert_ok(weft_web_runner_listen_unix(s.run, sock, NULL));
    /* TLS, ALPN http/1.1, scheme https. */
    char port[16];
    snprintf(port, sizeof port, "%d", tls_port);
    weft_connect_opts_t o = {.tls = cctx, .server_name = "localhost"};
    weft_stream_t *c;
    ck_assert_ok(weft_open_connection(&c, "127.0.0.1", port, &o));
    ck_assert_str_eq(weft_tls_alpn(c), "http/1.1");
    const char *req = "GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ck_assert_ok(weft_stream_write(c, req, strlen(req)));
    read_all(c);
    weft_stream_close(c);
    ck_has("HTTP/1.1 200 OK\r\n");
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, "https 127.0.0.1");
    /* The hook: the remote address it set is the request's; a connection
     * that fails the hook is closed without an answer. */
    exchange(hook_port, "FROM 192.0.2.9\r\nGET /who HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\n\r\n");
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, "http 192.0.2.9");
    exchange(hook_port, "GET /who HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(nout, 0);
    /* A Unix socket's peer is no IP address: an empty remote. */
    ck_assert_ok(weft_open_unix_connection(&c, sock, NULL));
    ck_assert_ok(weft_stream_write(c, req, strlen(req)));
    read_all(c);
    weft_stream_close(c);
    ck_has("HTTP/1.1 200 OK\r\n");
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, "http ");
    srv_stop(&s);
    ck_assert_ok(weft_web_app_free(s.app));
    weft_tls_ctx_free(sctx);
    weft_tls_ctx_free(cctx);
    return 0;
}

START_TEST(tls_alpn_and_connection_hook) {
    snprintf(cert_dir, sizeof cert_dir, "/tmp/weft-web-tls-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(cert_dir));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "sh %s %s", MAKE_CERTS, cert_dir);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_ok(run_virtual(tls_main, NULL));
    snprintf(cmd, sizeof cmd, "rm -rf %s", cert_dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ---- API misuse ---------------------------------------------------------------------- */

START_TEST(app_misuse) {
    weft_web_app_t *app, *sub, *sub2;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    ck_assert_ok(weft_web_app_new(&sub, NULL));
    ck_assert_ok(weft_web_app_new(&sub2, NULL));
    logcap_start();
    ck_assert_err(weft_web_route(app, "G T", "/", hello, NULL, NULL), -EINVAL);
    ck_assert_err(weft_web_route(app, "GET", "x", hello, NULL, NULL), -EINVAL);
    ck_assert_ok(weft_web_route(app, "GET", "/a", hello, NULL, "a"));
    ck_assert_err(weft_web_route(app, "GET", "/a", hello, NULL, NULL), -EEXIST);
    ck_assert_err(weft_web_route(app, "GET", "/b", hello, NULL, "a"), -EEXIST);
    ck_assert_err(weft_web_add_subapp(app, "/x/", sub), -EINVAL);
    ck_assert_ok(weft_web_add_subapp(app, "/x", sub));
    ck_assert_err(weft_web_add_subapp(app, "/x", sub2), -EEXIST);
    ck_assert_err(weft_web_add_subapp(app, "/y", sub), -EBUSY);
    ck_assert_err(weft_web_app_free(sub), -EINVAL);
    logcap_stop();
    char buf[8];
    ck_assert_err((int)weft_web_url_for(app, "nope", NULL, NULL, buf,
                                        sizeof buf),
                  -ENOENT);
    ck_assert_err((int)weft_web_url_for(app, "a", NULL, NULL, buf, 2),
                  -ENOSPC);
    ck_assert_int_eq(weft_web_url_for(app, "a", NULL, NULL, buf, sizeof buf),
                     2);
    ck_assert_ok(weft_web_app_free(sub2));
    ck_assert_ok(weft_web_app_free(app));
    ck_assert_str_eq(weft_strerror(WEFT_WEB_HTTP(404)), "HTTP error status");
    ck_assert_int_eq(WEFT_WEB_HTTP_STATUS(WEFT_WEB_HTTP(404)), 404);
}
END_TEST

int main(void) {
    Suite *s = suite_create("web");
    TCase *tc = tcase_create("web");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, hello_world);
    tcase_add_test(tc, keep_alive);
    tcase_add_test(tc, pipelining);
    tcase_add_test(tc, routing);
    tcase_add_test(tc, handler_errors);
    tcase_add_test(tc, smuggling);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, bodies);
    tcase_add_test(tc, expect_continue);
    tcase_add_test(tc, streaming);
    tcase_add_test(tc, middlewares_and_signals);
    tcase_add_test(tc, timeouts);
    tcase_add_test(tc, graceful_shutdown);
    tcase_add_test(tc, grace_expires);
    tcase_add_test(tc, handler_deadline);
    tcase_add_test(tc, filters_files_cookies);
    tcase_add_test(tc, app_misuse);
    tcase_add_test(tc, tls_alpn_and_connection_hook);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
