/* The server's add-ons through a real server: response compression
 * (gzip / deflate by q-values, sizes, types, streams), forms (urlencoded,
 * multipart whole and streamed, their limits and errors), server-sent
 * events, the access log, Forwarded / X-Forwarded-* from trusted and
 * untrusted peers, and the PROXY protocol hook with real v1 and v2
 * headers. */
#include <zlib.h>

#include "web_client.h"

#include <weft/web_form.h>
#include <weft/web_log.h>
#include <weft/web_proxy.h>
#include <weft/web_sse.h>
#include <weft/web_static.h>

/* ---- compression ------------------------------------------------------------------ */

static char big_text[4096];

static int text_big(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_response_t *resp = weft_web_resp(req);
    weft_web_set_header(resp, "ETag", "\"v1\"");
    return weft_web_text(req, 200, big_text);
}

static int text_small(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200, "short");
}

static int png_big(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_bytes(req, 200, "image/png", big_text, sizeof big_text - 1);
}

static int json_big(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_bytes(req, 200, "application/problem+json", big_text,
                          sizeof big_text - 1);
}

static int streamed(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_set_content_type(weft_web_resp(req), "text/plain", "utf-8");
    for (int i = 0; i < 4; i++) {
        int r = weft_web_write(req, big_text, 1000);
        if (r < 0)
            return r;
    }
    return weft_web_write_eof(req);
}

static void compress_setup(weft_web_app_t *app) {
    for (size_t i = 0; i < sizeof big_text - 1; i++)
        big_text[i] = "abcdefgh\n"[i % 9];
    ck_assert_ok(weft_web_compress(app, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/big", text_big, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/small", text_small, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/png", png_big, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/json", json_big, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/stream", streamed, NULL, NULL));
}

/* Inflate R's body (gzip or zlib, by window bits) into out. */
static size_t inflate_body(int wbits, char *out, size_t cap) {
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, wbits), Z_OK);
    z.next_in = (Bytef *)R.body;
    z.avail_in = (uInt)R.blen;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    int r = inflate(&z, Z_FINISH);
    ck_assert_msg(r == Z_STREAM_END, "inflate: %d", r);
    size_t n = cap - z.avail_out;
    inflateEnd(&z);
    return n;
}

static void compression(int port) {
    static char plain[8192];
    get(port, "/big", "Accept-Encoding: gzip\r\n");
    ck_assert_int_eq(R.status, 200);
    ck_hdr("Content-Encoding", "gzip");
    ck_hdr("Vary", "Accept-Encoding");
    ck_hdr("ETag", "W/\"v1\"");
    ck_assert_uint_lt(R.blen, 200);
    size_t n = inflate_body(15 + 16, plain, sizeof plain);
    ck_assert_uint_eq(n, sizeof big_text - 1);
    ck_assert(memcmp(plain, big_text, n) == 0);
    /* deflate is the zlib format. */
    get(port, "/big", "Accept-Encoding: deflate\r\n");
    ck_hdr("Content-Encoding", "deflate");
    ck_assert_uint_eq(inflate_body(15, plain, sizeof plain),
                      sizeof big_text - 1);
    /* q-values: the higher wins, gzip on a tie, q=0 refuses. */
    get(port, "/big", "Accept-Encoding: gzip;q=0.5, deflate;q=0.8\r\n");
    ck_hdr("Content-Encoding", "deflate");
    get(port, "/big", "Accept-Encoding: deflate, gzip\r\n");
    ck_hdr("Content-Encoding", "gzip");
    get(port, "/big", "Accept-Encoding: gzip;q=0, deflate;q=0\r\n");
    ck_no_hdr("Content-Encoding");
    ck_assert_uint_eq(R.blen, sizeof big_text - 1);
    ck_hdr("Vary", "Accept-Encoding");
    get(port, "/big", "Accept-Encoding: br\r\n");
    ck_no_hdr("Content-Encoding");
    get(port, "/big", "Accept-Encoding: *\r\n");
    ck_hdr("Content-Encoding", "gzip");
    get(port, "/big", NULL); /* no Accept-Encoding: identity */
    ck_no_hdr("Content-Encoding");
    ck_hdr("ETag", "\"v1\"");
    /* Small bodies and images are left alone; +json is compressed. */
    get(port, "/small", "Accept-Encoding: gzip\r\n");
    ck_no_hdr("Content-Encoding");
    ck_assert_str_eq(R.body, "short");
    get(port, "/png", "Accept-Encoding: gzip\r\n");
    ck_no_hdr("Content-Encoding");
    ck_no_hdr("Vary");
    get(port, "/json", "Accept-Encoding: gzip\r\n");
    ck_hdr("Content-Encoding", "gzip");
    /* A stream is compressed piece by piece, chunked. */
    get(port, "/stream", "Accept-Encoding: gzip\r\n");
    ck_hdr("Content-Encoding", "gzip");
    ck_assert(R.chunked);
    ck_assert_uint_eq(inflate_body(15 + 16, plain, sizeof plain), 4000);
    ck_assert(memcmp(plain, big_text, 1000) == 0);
    /* HEAD: not compressed (the identity length is sent). */
    request(port, "HEAD", "/big", "Accept-Encoding: gzip\r\n");
    ck_no_hdr("Content-Encoding");
    ck_assert_uint_eq(R.blen, 0);
}

START_TEST(compression_filter) {
    web_run(compress_setup, compression);
}
END_TEST

/* ---- forms -------------------------------------------------------------------------- */

static int form_echo(weft_web_request_t *req, void *arg) {
    (void)arg;
    const weft_web_form_field_t *f;
    ssize_t n = weft_web_post(req, &f, 0);
    if (n < 0)
        return (int)n;
    char *s = weft_web_sprintf(req, "%zd", n);
    for (ssize_t i = 0; i < n && s; i++)
        s = weft_web_sprintf(req, "%s|%s=%.*s%s%s", s, f[i].name,
                             (int)f[i].len, f[i].value,
                             f[i].filename ? ";file=" : "",
                             f[i].filename ? f[i].filename : "");
    const weft_web_form_field_t *a = weft_web_post_get(req, "a");
    if (s && a)
        s = weft_web_sprintf(req, "%s|first a=%s", s, a->value);
    return s ? weft_web_text(req, 200, s) : -ENOMEM;
}

/* Streams each part: counts its bytes and sums them, without keeping
 * them. */
static int upload(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_multipart_t *mp;
    weft_web_multipart_opts_t o = {.max_parts = 3};
    int r = weft_web_multipart(req, &mp, &o);
    weft_web_part_t part;
    char *s = weft_web_sprintf(req, "parts");
    while (r >= 0 && (r = weft_web_multipart_next(mp, &part)) == 1) {
        size_t total = 0, sum = 0;
        char buf[7];
        ssize_t n;
        while ((n = weft_web_multipart_read(mp, buf, sizeof buf)) > 0) {
            total += (size_t)n;
            for (ssize_t i = 0; i < n; i++)
                sum += (unsigned char)buf[i];
        }
        if (n < 0)
            return (int)n;
        s = weft_web_sprintf(req, "%s|%s:%s:%s:%zu:%zu", s, part.name,
                             part.filename ? part.filename : "-",
                             part.content_type ? part.content_type : "-",
                             total, sum);
    }
    if (r < 0)
        return r;
    return weft_web_text(req, 200, s);
}

static void form_setup(weft_web_app_t *app) {
    ck_assert_ok(weft_web_route(app, "POST", "/form", form_echo, NULL, NULL));
    ck_assert_ok(weft_web_route(app, "POST", "/upload", upload, NULL, NULL));
}

#define URLENC "Content-Type: application/x-www-form-urlencoded\r\n"
#define MPART "Content-Type: multipart/form-data; boundary=XyZ\r\n"

static void forms(int port) {
    const char *b = "a=1&b=two+words&a=%C3%A9&&empty=&flag&pct=100%25&bad=%zz";
    post(port, "/form", URLENC, b, strlen(b));
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "7|a=1|b=two words|a=\xc3\xa9|empty=|flag=|"
                             "pct=100%|bad=%zz|first a=1");
    post(port, "/form", URLENC, "a=%00", 5);
    ck_assert_int_eq(R.status, 400);
    post(port, "/form", "Content-Type: text/plain\r\n", "a=1", 3);
    ck_assert_int_eq(R.status, 415);
    post(port, "/form", NULL, "a=1", 3);
    ck_assert_int_eq(R.status, 415);
    const char *m =
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
        "My file\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"file\"; "
        "filename=\"a \\\"q\\\".txt\"\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "line1\r\nline2\r\n"
        "--XyZ\r\n"
        "Content-Disposition: form-data; name=\"u\"; filename=\"x\"; "
        "filename*=UTF-8''%C3%A9t%C3%A9.txt\r\n\r\n"
        "\r\n--XyZ--\r\n";
    post(port, "/form", MPART, m, strlen(m));
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "3|title=My file|file=line1\r\nline2;"
                             "file=a \"q\".txt|u=;file=\xc3\xa9t\xc3\xa9.txt");
    post(port, "/upload", MPART, m, strlen(m));
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "parts|title:-:-:7:646|"
                             "file:a \"q\".txt:text/plain:12:970|u:\xc3\xa9t"
                             "\xc3\xa9.txt:-:0:0");
    /* Malformed: 400; over a limit: 413; not multipart: 415. */
    const char *cut = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nx";
    post(port, "/upload", MPART, cut, strlen(cut));
    ck_assert_int_eq(R.status, 400);
    const char *junk = "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--";
    post(port, "/upload", MPART, junk, strlen(junk));
    ck_assert_int_eq(R.status, 400);
    const char *many = "--XyZ\r\n\r\n1\r\n--XyZ\r\n\r\n2\r\n--XyZ\r\n\r\n3\r\n"
                       "--XyZ\r\n\r\n4\r\n--XyZ--";
    post(port, "/upload", MPART, many, strlen(many));
    ck_assert_int_eq(R.status, 413);
    post(port, "/upload", "Content-Type: multipart/form-data\r\n", "x", 1);
    ck_assert_int_eq(R.status, 400); /* no boundary */
    post(port, "/upload",
         "Content-Type: multipart/form-data; boundary=\"a;b\"\r\n", "x", 1);
    ck_assert_int_eq(R.status, 400); /* ';' is no bchar */
    post(port, "/upload", URLENC, "a=1", 3);
    ck_assert_int_eq(R.status, 415);
    /* A part head over the limit (8 KiB by default). */
    static char huge[12000];
    int n = snprintf(huge, sizeof huge, "--XyZ\r\nX: ");
    memset(huge + n, 'x', 9000);
    n += 9000;
    n += snprintf(huge + n, sizeof huge - (size_t)n, "\r\n\r\nv\r\n--XyZ--");
    post(port, "/upload", MPART, huge, (size_t)n);
    ck_assert_int_eq(R.status, 413);
}

START_TEST(form_bodies) {
    web_run(form_setup, forms);
}
END_TEST

/* ---- server-sent events ---------------------------------------------------------- */

static int sse(weft_web_request_t *req, void *arg) {
    (void)arg;
    int r = weft_web_sse_prepare(req);
    weft_web_sse_event_t ev = {.event = "tick", .data = "a\r\nb\rc\nd",
                               .data_len = SIZE_MAX, .id = "7",
                               .retry_ms = 1500};
    if (r == 0)
        r = weft_web_sse_event(req, &ev);
    if (r == 0)
        r = weft_web_sse_comment(req, "keep-alive");
    if (r == 0)
        r = weft_web_sse_send(req, NULL, "", NULL);
    if (r == 0) {
        ck_assert_int_eq(weft_web_sse_send(req, "bad\nname", "x", NULL),
                         -EINVAL);
        ck_assert_int_eq(weft_web_sse_send(req, NULL, "x", "i\rd"), -EINVAL);
        ck_assert_int_eq(weft_web_sse_comment(req, "a\nb"), -EINVAL);
    }
    return r;
}

static void sse_setup(weft_web_app_t *app) {
    ck_assert_ok(weft_web_route(app, "GET", "/events", sse, NULL, NULL));
}

static void sse_body(int port) {
    get(port, "/events", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_hdr("Content-Type", "text/event-stream; charset=utf-8");
    ck_hdr("Cache-Control", "no-cache");
    ck_assert_str_eq(R.body, "event: tick\nid: 7\nretry: 1500\n"
                             "data: a\ndata: b\ndata: c\ndata: d\n\n"
                             ": keep-alive\n"
                             "data:\n\n");
}

START_TEST(server_sent_events) {
    web_run(sse_setup, sse_body);
}
END_TEST

START_TEST(sse_format) {
    char buf[64];
    /* A trailing newline survives: the client joins lines with LF. */
    weft_web_sse_event_t ev = {.data = "x\n", .data_len = SIZE_MAX,
                               .retry_ms = -1};
    ck_assert_int_eq(weft_web_sse_format(buf, sizeof buf, &ev), 15);
    ck_assert(memcmp(buf, "data: x\ndata:\n\n", 15) == 0);
    /* Too small a buffer: the length needed, as snprintf. */
    ck_assert_int_eq(weft_web_sse_format(buf, 4, &ev), 15);
    ev.data = "a\0b";
    ev.data_len = 3;
    ck_assert_int_eq(weft_web_sse_format(buf, sizeof buf, &ev), -EINVAL);
}
END_TEST

/* ---- the access log --------------------------------------------------------------- */

static char lines[8][512];
static int nlines;

static void log_line(const char *line, size_t len, void *arg) {
    (void)arg;
    if (nlines < 8)
        snprintf(lines[nlines++], sizeof lines[0], "%.*s", (int)len, line);
}

static void log_setup(weft_web_app_t *app) {
    nlines = 0;
    ck_assert_ok(weft_web_access_log(app, WEFT_WEB_LOG_COMBINED, log_line,
                                     NULL));
    ck_assert_ok(weft_web_access_log(
        app, "%s %b %{X-Req}i %{Content-Type}o %% %P %Tf %D %T", log_line,
        NULL));
    ck_assert_ok(weft_web_route(app, "GET", "/small", text_small, NULL, NULL));
    logcap_start();
    ck_assert_int_eq(weft_web_access_log(app, "%q", log_line, NULL), -EINVAL);
    ck_assert_logged(1, "unknown directive");
    logcap_stop();
}

static void log_body(int port) {
    get(port, "/small?x=1",
        "Referer: http://r/\r\nUser-Agent: t\"e\\st\r\nX-Req: 42\r\n");
    /* The line is written when the response was sent: one more request
     * makes sure the first one's signal ran. */
    get(port, "/nothing", NULL);
    ck_assert_int_ge(nlines, 2);
    /* 127.0.0.1 - - [01/Jan/2020:00:00:00 +0000] "GET ..." 200 5 ... */
    ck_assert_msg(strncmp(lines[0], "127.0.0.1 - - [", 15) == 0, "%s",
                  lines[0]);
    ck_assert_ptr_nonnull(strstr(lines[0], "] \"GET /small?x=1 HTTP/1.1\" 200 5 "
                                           "\"http://r/\" "
                                           "\"t\\x22e\\x5Cst\""));
    ck_assert_msg(strncmp(lines[1], "200 5 42 text/plain; charset=utf-8 % ",
                          37) == 0,
                  "%s", lines[1]);
    ck_assert_int_ge(nlines, 4);
    ck_assert_ptr_nonnull(strstr(lines[2], "\"GET /nothing HTTP/1.1\" 404 "));
    ck_assert_ptr_nonnull(strstr(lines[2], "\"-\" \"-\""));
}

START_TEST(access_log) {
    web_run(log_setup, log_body);
}
END_TEST

/* ---- Forwarded and X-Forwarded-* ---------------------------------------------------- */

static int who(weft_web_request_t *req, void *arg) {
    (void)arg;
    return weft_web_text(req, 200,
                         weft_web_sprintf(req, "%s %s %s", weft_web_remote(req),
                                          weft_web_scheme(req),
                                          weft_web_forwarded_host(req)));
}

static void trusted_setup(weft_web_app_t *app) {
    ck_assert_ok(weft_web_forwarded(app, "127.0.0.0/8, 10.0.0.0/8", 0));
    ck_assert_ok(weft_web_route(app, "GET", "/who", who, NULL, NULL));
}

static void untrusted_setup(weft_web_app_t *app) {
    ck_assert_ok(weft_web_forwarded(app, "10.0.0.0/8", 0));
    ck_assert_ok(weft_web_route(app, "GET", "/who", who, NULL, NULL));
}

static void trusted_body(int port) {
    get(port, "/who", NULL);
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    get(port, "/who", "Forwarded: for=192.0.2.60;proto=https;host=ex.com\r\n");
    ck_assert_str_eq(R.body, "192.0.2.60 https ex.com");
    /* From the right, past trusted hops; the client's own claims (left
     * of the first untrusted hop) are ignored. */
    get(port, "/who",
        "Forwarded: for=1.1.1.1, for=\"[2001:db8::17]:4711\";proto=https, "
        "for=10.0.0.5\r\n");
    ck_assert_str_eq(R.body, "2001:db8::17 https t");
    get(port, "/who", "Forwarded: for=10.0.0.9, for=10.0.0.5\r\n");
    ck_assert_str_eq(R.body, "10.0.0.9 http t");
    get(port, "/who", "Forwarded: for=unknown\r\n");
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    get(port, "/who", "Forwarded: for=_hidden, for=192.0.2.1\r\n");
    ck_assert_str_eq(R.body, "192.0.2.1 http t");
    get(port, "/who", "Forwarded: for=192.0.2.1;for=192.0.2.2\r\n");
    ck_assert_str_eq(R.body, "127.0.0.1 http t"); /* a pair twice */
    get(port, "/who", "Forwarded: for=\"192.0.2.1\r\n"); /* unterminated */
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    get(port, "/who", "Forwarded: for=192.0.2.1;proto=gopher;host=\"a/b\"\r\n");
    ck_assert_str_eq(R.body, "192.0.2.1 http t");
    /* X-Forwarded-*: fields in order, hops from the right. */
    get(port, "/who",
        "X-Forwarded-For: 6.6.6.6, 203.0.113.7\r\n"
        "X-Forwarded-For: 10.1.1.1\r\n"
        "X-Forwarded-Proto: http, https, http\r\n"
        "X-Forwarded-Host: evil, shop.example, inner\r\n");
    ck_assert_str_eq(R.body, "203.0.113.7 https shop.example");
    get(port, "/who", "X-Forwarded-For: 203.0.113.9:1234\r\n"
                      "X-Forwarded-Proto: https\r\n");
    ck_assert_str_eq(R.body, "203.0.113.9 https t");
    get(port, "/who", "X-Forwarded-For: 2001:db8::5\r\n");
    ck_assert_str_eq(R.body, "2001:db8::5 http t");
    get(port, "/who", "X-Forwarded-For: garbage\r\n");
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    /* Forwarded wins over X-Forwarded-For. */
    get(port, "/who", "X-Forwarded-For: 198.51.100.1\r\n"
                      "Forwarded: for=198.51.100.2\r\n");
    ck_assert_str_eq(R.body, "198.51.100.2 http t");
}

static void untrusted_body(int port) {
    /* The peer (127.0.0.1) is not trusted: nothing is believed. */
    get(port, "/who", "Forwarded: for=192.0.2.60;proto=https;host=ex.com\r\n"
                      "X-Forwarded-For: 192.0.2.61\r\n"
                      "X-Forwarded-Proto: https\r\n");
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
}

START_TEST(forwarded_trusted) {
    web_run(trusted_setup, trusted_body);
}
END_TEST

START_TEST(forwarded_untrusted) {
    web_run(untrusted_setup, untrusted_body);
}
END_TEST

/* ---- the PROXY protocol ------------------------------------------------------------- */

static void proxy_body(int port) {
    char buf[512];
    const char *get_who = "GET /who HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    int n = snprintf(buf, sizeof buf,
                     "PROXY TCP4 198.51.100.22 203.0.113.1 35646 80\r\n%s",
                     get_who);
    send_raw(port, buf, (size_t)n, WEFT_HTTP_GET);
    ck_assert_str_eq(R.body, "198.51.100.22 http t");
    n = snprintf(buf, sizeof buf, "PROXY TCP6 2001:db8::9 2001:db8::1 1 80\r\n%s",
                 get_who);
    send_raw(port, buf, (size_t)n, WEFT_HTTP_GET);
    ck_assert_str_eq(R.body, "2001:db8::9 http t");
    n = snprintf(buf, sizeof buf, "PROXY UNKNOWN\r\n%s", get_who);
    send_raw(port, buf, (size_t)n, WEFT_HTTP_GET);
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    /* v2, as HAProxy's send-proxy-v2 writes it: TCP over IPv4 with an
     * ALPN TLV. */
    static const unsigned char v2[] = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54,
        0x0A, 0x21, 0x11, 0x00, 0x11, 192,  0,    2,    99,   10,   0,
        0,    1,    0xa0, 0x00, 0x00, 0x50, 0x01, 0x00, 0x02, 'h',  '2'};
    memcpy(buf, v2, sizeof v2);
    n = (int)sizeof v2 + snprintf(buf + sizeof v2, sizeof buf - sizeof v2,
                                  "%s", get_who);
    send_raw(port, buf, (size_t)n, WEFT_HTTP_GET);
    ck_assert_str_eq(R.body, "192.0.2.99 http t");
    /* v2 LOCAL (a health check): the socket's address stays. */
    static const unsigned char local[] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                                          0x20, 0x00, 0x00, 0x00};
    memcpy(buf, local, sizeof local);
    n = (int)sizeof local + snprintf(buf + sizeof local,
                                     sizeof buf - sizeof local, "%s", get_who);
    send_raw(port, buf, (size_t)n, WEFT_HTTP_GET);
    ck_assert_str_eq(R.body, "127.0.0.1 http t");
    /* Without a header, or with a broken one: closed without a word. */
    static const char *bad[] = {
        "GET /who HTTP/1.1\r\nHost: t\r\n\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\nGET / HTTP/1.1\r\n\r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\nGET / HTTP/1.1\r\n\r\n",
        "\r\n\r\n\0\r\nQUIT\n\x22\x11\x00\x0c............",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_stream_t *c;
        ck_assert_ok(connect_port(port, &c));
        ck_assert_ok(weft_stream_write(c, bad[i], i == 3 ? 28 : strlen(bad[i])));
        read_to_close(c);
        weft_stream_close(c);
        ck_assert_msg(R.rawlen == 0, "%zu: answered:\n%s", i, R.raw);
    }
}

static int proxy_main(void *arg) {
    (void)arg;
    struct web_test t = {.setup = untrusted_setup, .body = proxy_body};
    t.listen.on_connect = weft_web_proxy_protocol;
    return web_test_main(&t);
}

START_TEST(proxy_protocol) {
    ck_assert_ok(run_virtual(proxy_main, NULL));
}
END_TEST

/* The hook with a trusted set: a peer outside it is refused before a
 * byte is read. */
static weft_web_trust_t *only_10;

static void refused_body(int port) {
    const char *req = "PROXY TCP4 198.51.100.22 203.0.113.1 35646 80\r\n"
                      "GET /who HTTP/1.1\r\nHost: t\r\n\r\n";
    weft_stream_t *c;
    ck_assert_ok(connect_port(port, &c));
    ck_assert_ok(weft_stream_write(c, req, strlen(req)));
    read_to_close(c);
    weft_stream_close(c);
    ck_assert_uint_eq(R.rawlen, 0);
}

static int refused_main(void *arg) {
    (void)arg;
    ck_assert_ok(weft_web_trust_new(&only_10, "10.0.0.0/8"));
    struct web_test t = {.setup = untrusted_setup, .body = refused_body};
    t.listen.on_connect = weft_web_proxy_protocol;
    t.listen.on_connect_arg = only_10;
    int r = web_test_main(&t);
    weft_web_trust_free(only_10);
    return r;
}

START_TEST(proxy_protocol_untrusted_peer) {
    ck_assert_ok(run_virtual(refused_main, NULL));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("web_extras");
    TCase *tc = tcase_create("extras");
    tcase_add_test(tc, compression_filter);
    tcase_add_test(tc, form_bodies);
    tcase_add_test(tc, server_sent_events);
    tcase_add_test(tc, sse_format);
    tcase_add_test(tc, access_log);
    tcase_add_test(tc, forwarded_trusted);
    tcase_add_test(tc, forwarded_untrusted);
    tcase_add_test(tc, proxy_protocol);
    tcase_add_test(tc, proxy_protocol_untrusted_peer);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(suite)
