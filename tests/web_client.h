/* Test support for the server's add-ons (static files, compression,
 * forms, proxies, JSON, logs): a server on a virtual-clock loop with the
 * app a test builds, and a client that sends raw bytes and parses the
 * answer with weft's own response parser and body decoder (chunked
 * bodies come back decoded). */
#ifndef WEFT_TEST_WEB_CLIENT_H
#define WEFT_TEST_WEB_CLIENT_H

#include "support.h"

#include <weft/web.h>

struct resp {
    int status;
    weft_http_field_t fields[64];
    size_t nfields;
    bool chunked;
    char *body; /* decoded, NUL-terminated; in raw's buffer */
    size_t blen;
    char raw[1 << 20];
    size_t rawlen;
};

static struct resp R;

/* The value of response header `name` as a NUL-terminated copy (in a
 * static buffer: one at a time), or NULL. */
static inline const char *hdr(const char *name) {
    static char v[1024];
    ssize_t i = weft_http_field_find(R.fields, R.nfields, name, 0);
    if (i < 0)
        return NULL;
    size_t n = R.fields[i].value.len < sizeof v - 1 ? R.fields[i].value.len
                                                    : sizeof v - 1;
    memcpy(v, R.fields[i].value.ptr, n);
    v[n] = 0;
    return v;
}

#define ck_hdr(name, want)                                                     \
    do {                                                                       \
        const char *h_ = hdr(name);                                            \
        ck_assert_msg(h_ && strcmp(h_, (want)) == 0, "%s: '%s', want '%s'",   \
                      (name), h_ ? h_ : "(none)", (want));                     \
    } while (0)
#define ck_no_hdr(name)                                                        \
    ck_assert_msg(hdr(name) == NULL, "%s present: '%s'", (name), hdr(name))

/* Parse R.raw[0 .. rawlen) as one response to `method`. */
static inline void parse_resp(int method) {
    weft_http1_head_t h = {.fields = R.fields, .max_fields = 64};
    int n = weft_http1_parse_response(&h, R.raw, R.rawlen, 0, method, NULL);
    ck_assert_msg(n > 0, "no response head (%d) in:\n%.*s", n,
                  (int)R.rawlen, R.raw);
    R.status = h.status;
    R.nfields = h.nfields;
    R.chunked = h.framing == WEFT_HTTP1_CHUNKED;
    weft_http1_body_t b;
    weft_http1_body_init(&b, &h, NULL, 0);
    size_t len = 0;
    ssize_t used = weft_http1_body_decode(&b, R.raw + n, R.rawlen - (size_t)n,
                                          &len);
    ck_assert_msg(used >= 0, "bad body framing: %zd", used);
    if (h.framing != WEFT_HTTP1_UNTIL_CLOSE)
        ck_assert_msg(weft_http1_body_done(&b), "body cut short");
    R.body = R.raw + n;
    R.blen = len;
    R.body[len] = 0;
}

static inline int connect_port(int port, weft_stream_t **c) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    return weft_open_connection(c, "127.0.0.1", p, NULL);
}

/* Read from c until the server closes it: into R.raw. */
static inline void read_to_close(weft_stream_t *c) {
    R.rawlen = 0;
    for (;;) {
        ssize_t n = weft_stream_read(c, R.raw + R.rawlen,
                                     sizeof R.raw - 1 - R.rawlen);
        if (n <= 0)
            break;
        R.rawlen += (size_t)n;
    }
    R.raw[R.rawlen] = 0;
}

/* Send the raw bytes of a request on a new connection, read until the
 * close (send "Connection: close", or rely on the virtual clock's instant
 * keep-alive timeout), and parse the answer. */
static inline void send_raw(int port, const void *req, size_t len,
                            int method) {
    weft_stream_t *c;
    ck_assert_ok(connect_port(port, &c));
    ck_assert_ok(weft_stream_write(c, req, len));
    read_to_close(c);
    weft_stream_close(c);
    parse_resp(method);
}

/* "METHOD target" with extra header lines (each ending "\r\n"), no body. */
static inline void request(int port, const char *method, const char *target,
                           const char *headers) {
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "%s %s HTTP/1.1\r\nHost: t\r\n%sConnection: close\r\n\r\n",
                     method, target, headers ? headers : "");
    send_raw(port, buf, (size_t)n,
             strcmp(method, "HEAD") == 0 ? WEFT_HTTP_HEAD : WEFT_HTTP_GET);
}

static inline void get(int port, const char *target, const char *headers) {
    request(port, "GET", target, headers);
}

/* A request with a body. */
static inline void post(int port, const char *target, const char *headers,
                        const void *body, size_t len) {
    static char buf[1 << 20];
    int n = snprintf(buf, sizeof buf,
                     "POST %s HTTP/1.1\r\nHost: t\r\n%sContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     target, headers ? headers : "", len);
    ck_assert_uint_lt((size_t)n + len, sizeof buf);
    memcpy(buf + n, body, len);
    send_raw(port, buf, (size_t)n + len, WEFT_HTTP_POST);
}

/* ---- the server ------------------------------------------------------------------ */

struct web_test {
    void (*setup)(weft_web_app_t *app);
    void (*body)(int port);
    weft_web_server_opts_t opts;
    weft_web_listen_opts_t listen;
};

static inline int web_test_main(void *arg) {
    struct web_test *t = arg;
    weft_web_app_t *app;
    weft_web_runner_t *run;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    t->setup(app);
    ck_assert_ok(weft_web_runner_new(&run, app, &t->opts));
    ck_assert_ok(weft_web_runner_setup(run));
    ck_assert_ok(weft_web_runner_listen(run, "127.0.0.1", "0", &t->listen));
    t->body(weft_web_runner_port(run));
    ck_assert_ok(weft_web_runner_shutdown(run, 5));
    weft_web_runner_free(run);
    ck_assert_ok(weft_web_app_free(app));
    return 0;
}

/* Serve the app setup() builds and run body(port) against it, in a task
 * of a virtual-clock loop. */
static inline void web_run(void (*setup)(weft_web_app_t *),
                           void (*body)(int port)) {
    struct web_test t = {.setup = setup, .body = body};
    /* The test bodies keep 8 KiB requests on the stack: under ASan their
     * frames outgrow the default 64 KiB (test_web_static overflowed). */
    weft_run_opts_t o;
    memset(&o, 0, sizeof o);
    o.loop.flags = WEFT_LOOP_VIRTUAL_CLOCK;
    o.main.stack_size = 1 << 20;
    ck_assert_ok(weft_run_opts(web_test_main, &t, &o));
}

#endif
