/* Static files (weft/web_static.h) through a real server: types,
 * validators, 304 / 412, ranges (206 / 416, If-Range), traversal attempts
 * (dot segments, %2e%2e, encoded slashes, symbolic links out of the
 * root) with openat2 and with the fallback, gzip siblings, directories
 * (403, index, listing, the trailing-slash redirect), FIFOs, and
 * weft_web_file_response. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web_client.h"

#include "http/static_int.h"
#include <weft/web_static.h>

static char base[256], root[300];

static void write_file(const char *rel, const char *text) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", base, rel);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    /* A fixed mtime: Wed, 01 Jan 2020 00:00:00 GMT. */
    struct timespec ts[2] = {{1577836800, 0}, {1577836800, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static void tree_setup(void) {
    snprintf(base, sizeof base, "%s/weft-static-XXXXXX", tmp_dir());
    ck_assert_ptr_nonnull(mkdtemp(base));
    snprintf(root, sizeof root, "%s/root", base);
    char p[512];
    ck_assert_int_eq(mkdir(root, 0755), 0);
    write_file("secret.txt", "TOP SECRET\n");
    write_file("root/hello.txt", "Hello, static!\n");
    write_file("root/style.css", "body { color: red }\n");
    write_file("root/style.css.gz", "GZDATA");
    write_file("root/.hidden", "hidden\n");
    snprintf(p, sizeof p, "%s/sub", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/empty", root);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    write_file("root/sub/index.html", "<p>index</p>\n");
    write_file("root/sub/a b.txt", "spaced\n");
    write_file("root/sub/<b>.txt", "angle\n");
    snprintf(p, sizeof p, "%s/link_in", root);
    ck_assert_int_eq(symlink("hello.txt", p), 0);
    snprintf(p, sizeof p, "%s/link_out", root);
    ck_assert_int_eq(symlink("../secret.txt", p), 0);
    snprintf(p, sizeof p, "%s/dir_out", root);
    ck_assert_int_eq(symlink("..", p), 0);
    snprintf(p, sizeof p, "%s/fifo", root);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
}

static void tree_teardown(void) {
    rm_tree(base);
}

static int file_handler(weft_web_request_t *req, void *arg) {
    (void)arg;
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, weft_web_match(req, "name"));
    return weft_web_file_response(req, p, 0);
}

static void setup(weft_web_app_t *app) {
    ck_assert_ok(weft_web_add_static(app, "/static", root, NULL));
    weft_web_static_opts_t idx = {.index = "index.html",
                                  .cache_control = "max-age=60"};
    ck_assert_ok(weft_web_add_static(app, "/idx", root, &idx));
    weft_web_static_opts_t list = {.flags = WEFT_WEB_STATIC_SHOW_INDEX};
    ck_assert_ok(weft_web_add_static(app, "/list", root, &list));
    weft_web_static_opts_t follow = {.flags =
                                         WEFT_WEB_STATIC_FOLLOW_SYMLINKS};
    ck_assert_ok(weft_web_add_static(app, "/follow", root, &follow));
    ck_assert_ok(weft_web_route(app, "GET", "/file/{name}", file_handler,
                                NULL, NULL));
}

#define LASTMOD "Wed, 01 Jan 2020 00:00:00 GMT"

static void basics(int port) {
    get(port, "/static/hello.txt", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "Hello, static!\n");
    ck_hdr("Content-Type", "text/plain; charset=utf-8");
    ck_hdr("Content-Length", "15");
    ck_hdr("Last-Modified", LASTMOD);
    ck_hdr("Accept-Ranges", "bytes");
    ck_assert_ptr_nonnull(hdr("ETag"));
    ck_assert_int_eq(hdr("ETag")[0], '"');
    ck_no_hdr("Vary"); /* no gzip sibling */
    ck_no_hdr("Cache-Control");
    request(port, "HEAD", "/static/hello.txt", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_hdr("Content-Length", "15");
    ck_assert_uint_eq(R.blen, 0);
    get(port, "/static/style.css", NULL);
    ck_hdr("Content-Type", "text/css; charset=utf-8");
    get(port, "/idx/hello.txt", NULL);
    ck_hdr("Cache-Control", "max-age=60");
    get(port, "/static/missing.txt", NULL);
    ck_assert_int_eq(R.status, 404);
    get(port, "/static/hello.txt/", NULL); /* not a directory */
    ck_assert_int_eq(R.status, 404);
    get(port, "/static/.hidden", NULL); /* served, as nginx and aiohttp do */
    ck_assert_int_eq(R.status, 200);
}

START_TEST(files) {
    web_run(setup, basics);
}
END_TEST

static char etag[1024];

static void conditionals(int port) {
    char h[1200];
    get(port, "/static/hello.txt", NULL);
    snprintf(etag, sizeof etag, "%s", hdr("ETag"));
#define GET_H(fmt, ...)                                                        \
    (snprintf(h, sizeof h, fmt "\r\n", __VA_ARGS__),                           \
     get(port, "/static/hello.txt", h))
    GET_H("If-None-Match: %s", etag);
    ck_assert_int_eq(R.status, 304);
    ck_assert_uint_eq(R.blen, 0);
    ck_hdr("ETag", etag);
    ck_hdr("Last-Modified", LASTMOD);
    ck_no_hdr("Content-Type");
    GET_H("If-None-Match: \"other\", W/%s", etag); /* weak comparison */
    ck_assert_int_eq(R.status, 304);
    GET_H("If-None-Match: %s", "*");
    ck_assert_int_eq(R.status, 304);
    GET_H("If-None-Match: %s", "\"other\"");
    ck_assert_int_eq(R.status, 200);
    GET_H("If-Modified-Since: %s", LASTMOD);
    ck_assert_int_eq(R.status, 304);
    GET_H("If-Modified-Since: %s", "Thu, 02 Jan 2020 00:00:00 GMT");
    ck_assert_int_eq(R.status, 304);
    GET_H("If-Modified-Since: %s", "Tue, 31 Dec 2019 23:59:59 GMT");
    ck_assert_int_eq(R.status, 200);
    GET_H("If-Modified-Since: %s", "yesterday"); /* invalid: ignored */
    ck_assert_int_eq(R.status, 200);
    /* If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2). */
    GET_H("If-None-Match: \"other\"\r\nIf-Modified-Since: %s", LASTMOD);
    ck_assert_int_eq(R.status, 200);
    GET_H("If-Match: %s", "\"other\"");
    ck_assert_int_eq(R.status, 412);
    GET_H("If-Match: W/%s", etag); /* strong comparison: weak never */
    ck_assert_int_eq(R.status, 412);
    GET_H("If-Match: %s", etag);
    ck_assert_int_eq(R.status, 200);
    GET_H("If-Match: %s", "*");
    ck_assert_int_eq(R.status, 200);
    GET_H("If-Unmodified-Since: %s", "Tue, 31 Dec 2019 00:00:00 GMT");
    ck_assert_int_eq(R.status, 412);
    GET_H("If-Unmodified-Since: %s", LASTMOD);
    ck_assert_int_eq(R.status, 200);
}

START_TEST(preconditions) {
    web_run(setup, conditionals);
}
END_TEST

static void ranges(int port) {
    char h[1200];
    get(port, "/static/hello.txt", "Range: bytes=0-4\r\n");
    ck_assert_int_eq(R.status, 206);
    ck_assert_str_eq(R.body, "Hello");
    ck_hdr("Content-Range", "bytes 0-4/15");
    ck_hdr("Content-Length", "5");
    get(port, "/static/hello.txt", "Range: bytes=-8\r\n");
    ck_assert_int_eq(R.status, 206);
    ck_assert_str_eq(R.body, "static!\n");
    ck_hdr("Content-Range", "bytes 7-14/15");
    get(port, "/static/hello.txt", "Range: bytes=7-\r\n");
    ck_assert_str_eq(R.body, "static!\n");
    get(port, "/static/hello.txt", "Range: bytes=10-100\r\n");
    ck_assert_int_eq(R.status, 206);
    ck_hdr("Content-Range", "bytes 10-14/15");
    get(port, "/static/hello.txt", "Range: bytes=15-\r\n");
    ck_assert_int_eq(R.status, 416);
    ck_hdr("Content-Range", "bytes */15");
    get(port, "/static/hello.txt", "Range: bytes=-0\r\n");
    ck_assert_int_eq(R.status, 416);
    /* Several ranges: the whole file (RFC 9110 allows it). */
    get(port, "/static/hello.txt", "Range: bytes=0-1,3-4\r\n");
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "Hello, static!\n");
    /* Invalid or other units: ignored. */
    get(port, "/static/hello.txt", "Range: bytes=5-2\r\n");
    ck_assert_int_eq(R.status, 200);
    get(port, "/static/hello.txt", "Range: items=0-1\r\n");
    ck_assert_int_eq(R.status, 200);
    get(port, "/static/hello.txt", "Range: bytes=a-b\r\n");
    ck_assert_int_eq(R.status, 200);
    /* HEAD: no range. */
    request(port, "HEAD", "/static/hello.txt", "Range: bytes=0-4\r\n");
    ck_assert_int_eq(R.status, 200);
    /* If-Range: the range only if the validator still matches. */
    get(port, "/static/hello.txt", NULL);
    snprintf(etag, sizeof etag, "%s", hdr("ETag"));
    snprintf(h, sizeof h, "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
    get(port, "/static/hello.txt", h);
    ck_assert_int_eq(R.status, 206);
    get(port, "/static/hello.txt",
        "Range: bytes=0-4\r\nIf-Range: \"stale\"\r\n");
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "Hello, static!\n");
    get(port, "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " LASTMOD
                                   "\r\n");
    ck_assert_int_eq(R.status, 206);
    get(port, "/static/hello.txt",
        "Range: bytes=0-4\r\nIf-Range: Tue, 31 Dec 2019 00:00:00 GMT\r\n");
    ck_assert_int_eq(R.status, 200);
}

START_TEST(range_requests) {
    web_run(setup, ranges);
}
END_TEST

START_TEST(range_parser) {
    uint64_t s = 0, l = 0;
    ck_assert_int_eq(weft__static_range("bytes=0-0", 9, 10, &s, &l), 1);
    ck_assert(s == 0 && l == 1);
    ck_assert_int_eq(weft__static_range("BYTES=2-", 8, 10, &s, &l), 1);
    ck_assert(s == 2 && l == 8);
    ck_assert_int_eq(weft__static_range("bytes=-20", 9, 10, &s, &l), 1);
    ck_assert(s == 0 && l == 10);
    ck_assert_int_eq(weft__static_range("bytes= 1-2 , 20-", 16, 10, &s, &l),
                     1); /* one satisfiable, one not */
    ck_assert(s == 1 && l == 2);
    ck_assert_int_eq(weft__static_range("bytes=20-,30-", 13, 10, &s, &l), -1);
    ck_assert_int_eq(weft__static_range("bytes=-5", 8, 0, &s, &l), -1);
    ck_assert_int_eq(weft__static_range("bytes=0-", 8, 0, &s, &l), -1);
    ck_assert_int_eq(weft__static_range(
                         "bytes=99999999999999999999999-", 30, 10, &s, &l),
                     -1);
    ck_assert_int_eq(weft__static_range(
                         "bytes=0-99999999999999999999999", 31, 10, &s, &l),
                     1);
    ck_assert(s == 0 && l == 10);
    ck_assert_int_eq(weft__static_range("bytes=", 6, 10, &s, &l), 0);
    ck_assert_int_eq(weft__static_range("bytes=1", 7, 10, &s, &l), 0);
    ck_assert_int_eq(weft__static_range("bytes=--1", 9, 10, &s, &l), 0);
    ck_assert_int_eq(weft__static_range("bytes=+1-2", 10, 10, &s, &l), 0);
    ck_assert_int_eq(weft__static_range("bytes=1-2,x", 11, 10, &s, &l), 0);
}
END_TEST

/* Every way out of the root is a 404 that says nothing of the file. */
static void escapes(int port) {
    static const char *bad[] = {
        "/static/../secret.txt",          /* the router removes it first */
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/.%2e/secret.txt",
        "/static/..%2fsecret.txt",        /* decoded tail "../secret.txt" */
        "/static/..%2Fsecret.txt",
        "/static/%2e%2e%2fsecret.txt",
        "/static/sub/..%2F..%2Fsecret.txt",
        "/static/sub%2F..%2F..%2Fsecret.txt",
        "/static/.%2F..%2Fsecret.txt",
        "/static/%2fetc%2fpasswd",        /* an absolute tail */
        "/static/..%5csecret.txt",        /* a backslash */
        "/static/link_out",               /* a symlink out of the root */
        "/static/dir_out/secret.txt",     /* through a directory link */
        "/static/fifo",                   /* not a regular file: no hang */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        get(port, bad[i], NULL);
        ck_assert_msg(R.status == 404 || R.status == 400, "%s: %d", bad[i],
                      R.status);
        ck_assert_msg(!strstr(R.raw, "SECRET"), "%s leaked", bad[i]);
    }
    /* A link that stays inside is followed. */
    get(port, "/static/link_in", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "Hello, static!\n");
    /* FOLLOW_SYMLINKS lets links go anywhere, but never "..". */
    get(port, "/follow/link_out", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "TOP SECRET\n");
    get(port, "/follow/%2e%2e/secret.txt", NULL);
    ck_assert_int_eq(R.status, 404);
    get(port, "/follow/..%2Fsecret.txt", NULL);
    ck_assert_int_eq(R.status, 404);
}

START_TEST(traversal) {
    web_run(setup, escapes);
}
END_TEST

START_TEST(traversal_fallback) {
    /* Without openat2: the real path of what was opened is checked. */
    atomic_store(&weft__static_no_openat2, 1);
    web_run(setup, escapes);
}
END_TEST

static void gzip_siblings(int port) {
    get(port, "/static/style.css", "Accept-Encoding: gzip, deflate\r\n");
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "GZDATA");
    ck_hdr("Content-Encoding", "gzip");
    ck_hdr("Content-Type", "text/css; charset=utf-8");
    ck_hdr("Vary", "Accept-Encoding");
    get(port, "/static/style.css", "Accept-Encoding: gzip;q=0, deflate\r\n");
    ck_assert_str_eq(R.body, "body { color: red }\n");
    ck_no_hdr("Content-Encoding");
    ck_hdr("Vary", "Accept-Encoding");
    get(port, "/static/style.css", NULL);
    ck_assert_str_eq(R.body, "body { color: red }\n");
    ck_hdr("Vary", "Accept-Encoding");
    get(port, "/static/style.css", "Accept-Encoding: br;q=1, *;q=0.1\r\n");
    ck_assert_str_eq(R.body, "GZDATA"); /* '*' covers gzip */
    get(port, "/static/style.css",
        "Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n");
    ck_assert_int_eq(R.status, 206); /* a range of the gzip bytes */
    ck_assert_str_eq(R.body, "GZ");
}

START_TEST(precompressed) {
    web_run(setup, gzip_siblings);
}
END_TEST

static void dirs(int port) {
    get(port, "/static/empty/", NULL);
    ck_assert_int_eq(R.status, 403);
    get(port, "/static/", NULL);
    ck_assert_int_eq(R.status, 403);
    get(port, "/idx/sub?x=1", NULL);
    ck_assert_int_eq(R.status, 301);
    ck_hdr("Location", "/idx/sub/?x=1");
    get(port, "/idx/sub/", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "<p>index</p>\n");
    ck_hdr("Content-Type", "text/html; charset=utf-8");
    get(port, "/idx/empty/", NULL); /* no index there, no listing */
    ck_assert_int_eq(R.status, 403);
    get(port, "/list/sub/", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_hdr("Content-Type", "text/html; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(R.body, "<a href=\"a%20b.txt\">a b.txt</a>"));
    ck_assert_ptr_nonnull(
        strstr(R.body, "<a href=\"%3Cb%3E.txt\">&lt;b&gt;.txt</a>"));
    ck_assert_ptr_nonnull(strstr(R.body, "index.html"));
    get(port, "/list/", NULL);
    ck_assert_ptr_nonnull(strstr(R.body, "<a href=\"sub/\">sub/</a>"));
    ck_assert_ptr_null(strstr(R.body, ".hidden"));
    get(port, "/static/sub/a%20b.txt", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "spaced\n");
}

START_TEST(directories) {
    web_run(setup, dirs);
}
END_TEST

static void file_responses(int port) {
    get(port, "/file/hello.txt", NULL);
    ck_assert_int_eq(R.status, 200);
    ck_assert_str_eq(R.body, "Hello, static!\n");
    get(port, "/file/style.css", "Accept-Encoding: gzip\r\n");
    ck_assert_str_eq(R.body, "GZDATA");
    get(port, "/file/nothing", NULL);
    ck_assert_int_eq(R.status, 404);
    get(port, "/file/sub", NULL);
    ck_assert_int_eq(R.status, 404);
}

START_TEST(file_response) {
    web_run(setup, file_responses);
}
END_TEST

START_TEST(mime_types) {
    ck_assert_str_eq(weft_web_mime_type("a.html"), "text/html; charset=utf-8");
    ck_assert_str_eq(weft_web_mime_type("dir/X.PNG"), "image/png");
    ck_assert_str_eq(weft_web_mime_type("x.tar.gz"), "application/gzip");
    ck_assert_str_eq(weft_web_mime_type("app.mjs"),
                     "text/javascript; charset=utf-8");
    ck_assert_str_eq(weft_web_mime_type("f.woff2"), "font/woff2");
    ck_assert_str_eq(weft_web_mime_type(".bashrc"), "application/octet-stream");
    ck_assert_str_eq(weft_web_mime_type("README"), "application/octet-stream");
    ck_assert_str_eq(weft_web_mime_type("a.b/c"), "application/octet-stream");
    ck_assert_str_eq(weft_web_mime_type("x.unknownext"),
                     "application/octet-stream");
    ck_assert_str_eq(weft_web_mime_type(NULL), "application/octet-stream");
}
END_TEST

static int bad_args(void *arg) {
    (void)arg;
    weft_web_app_t *app;
    ck_assert_ok(weft_web_app_new(&app, NULL));
    logcap_start();
    ck_assert_int_eq(weft_web_add_static(app, "/", root, NULL), -EINVAL);
    ck_assert_int_eq(weft_web_add_static(app, "static", root, NULL), -EINVAL);
    ck_assert_int_eq(weft_web_add_static(app, "/s/", root, NULL), -EINVAL);
    ck_assert_int_eq(weft_web_add_static(app, "/s{x}", root, NULL), -EINVAL);
    logcap_stop();
    char p[512];
    snprintf(p, sizeof p, "%s/nothing", root);
    ck_assert_int_eq(weft_web_add_static(app, "/s", p, NULL), -ENOENT);
    snprintf(p, sizeof p, "%s/hello.txt", root);
    ck_assert_int_eq(weft_web_add_static(app, "/s", p, NULL), -ENOTDIR);
    ck_assert_ok(weft_web_add_static(app, "/s", root, NULL));
    ck_assert_int_eq(weft_web_add_static(app, "/s", root, NULL), -EEXIST);
    ck_assert_ok(weft_web_app_free(app));
    return 0;
}

START_TEST(arguments) {
    ck_assert_ok(run_virtual(bad_args, NULL));
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("web_static");
    TCase *tc = tcase_create("static");
    tcase_add_checked_fixture(tc, tree_setup, tree_teardown);
    tcase_add_test(tc, files);
    tcase_add_test(tc, preconditions);
    tcase_add_test(tc, range_requests);
    tcase_add_test(tc, range_parser);
    tcase_add_test(tc, traversal);
    tcase_add_test(tc, traversal_fallback);
    tcase_add_test(tc, precompressed);
    tcase_add_test(tc, directories);
    tcase_add_test(tc, file_response);
    tcase_add_test(tc, mime_types);
    tcase_add_test(tc, arguments);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(suite)
