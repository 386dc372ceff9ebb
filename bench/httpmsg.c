/* bench/httpmsg - the HTTP message helpers (weft/httpmsg.h) against their
 * usual stand-ins in the same run: libcurl's URL API (curl_url_set, which
 * also removes dot segments and copies each part into the heap) for URL
 * parsing, the C library's gmtime_r + strftime and strptime + timegm for
 * HTTP dates. Path normalisation, cookies and query lookup have no peer
 * here: their absolute cost is printed.
 *
 *   httpmsg [--quick]
 *
 * Each figure is the median of 7 runs of N calls, in ns a call. */
#include <curl/curl.h>
#include <time.h>

#include "bench_util.h"
#include "weft/httpmsg.h"

static const char *const urls[] = {
    "https://www.example.com/path/to/page.html?q=search+terms&lang=en#top",
    "http://user:pw@[::1]:8080/a/../b/./c?x=1",
    "https://api.example.org/v2/projects/4821/repositories/weft/commits"
    "?per_page=100&page=3&sha=main&since=2026-01-01T00%3A00%3A00Z"
    "&path=src%2Fhttp%2Furl.c",
};
#define NURLS (sizeof urls / sizeof urls[0])

static const char *const paths[] = {
    "/static/css/../js/app.min.js",
    "/static/%2e%2e/%2E%2e/etc/passwd",
    "/api/v1/users/12345/profile",
};
#define NPATHS (sizeof paths / sizeof paths[0])

static const char cookie[] =
    "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; "
    "theme=dark; lang=en-GB; consent=\"analytics,ads\"; cart=12%2C34; "
    "ab=variant-b; tz=Europe%2FLondon; seen=1; session=3f9a1c0e5b7d4a2f";

static volatile size_t sink;
static int iters = 200000;

typedef void (*op_fn)(int i);

/* The median of 7 runs of `iters` calls of op, in ns a call. */
static double measure(op_fn op) {
    double v[7];
    for (int r = 0; r < 7; r++) {
        uint64_t t0 = bench_now_ns();
        for (int i = 0; i < iters; i++)
            op(i);
        v[r] = (double)(bench_now_ns() - t0) / iters;
    }
    return bench_median(v, 7);
}

static void op_url_weft(int i) {
    weft_url_t u;
    const char *s = urls[i % NURLS];
    if (weft_url_parse(&u, s, strlen(s)) < 0)
        abort();
    sink += u.path.len;
}

static CURLU *curl_h;
static void op_url_curl(int i) {
    if (curl_url_set(curl_h, CURLUPART_URL, urls[i % NURLS], 0) != CURLUE_OK)
        abort();
    sink++;
}

static void op_path(int i) {
    char out[128];
    const char *s = paths[i % NPATHS];
    ssize_t n = weft_http_path_normalize(out, sizeof out, s, strlen(s), 0);
    if (n < 0)
        abort();
    sink += (size_t)n;
}

static const char *const targets[] = {
    "/path/to/page.html?q=search+terms&lang=en",
    "http://[::1]:8080/a/../b/./c?x=1",
    "/v2/projects/4821/repositories/weft/commits?per_page=100&page=3",
};

static void op_target_and_path(int i) {
    char out[256];
    weft_http_target_t t;
    const char *s = targets[i % 3];
    if (weft_http_target_parse(&t, "GET", 3, s, strlen(s)) < 0 ||
        weft_http_path_normalize(out, sizeof out, t.url.path.ptr,
                                 t.url.path.len, 0) < 0)
        abort();
    sink += t.url.path.len;
}

static const time_t when = 1785000000 + 12345;

static void op_date_weft(int i) {
    char buf[32];
    if (weft_http_date_write(buf, sizeof buf, when + i) < 0)
        abort();
    sink += (size_t)buf[5];
}

static void op_date_libc(int i) {
    char buf[32];
    struct tm tm;
    time_t t = when + i;
    gmtime_r(&t, &tm);
    if (!strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        abort();
    sink += (size_t)buf[5];
}

static const char date[] = "Sun, 06 Nov 1994 08:49:37 GMT";

static void op_parse_weft(int i) {
    time_t t;
    (void)i;
    if (weft_http_date_parse(date, sizeof date - 1, &t) < 0)
        abort();
    sink += (size_t)t;
}

static void op_parse_libc(int i) {
    struct tm tm;
    (void)i;
    memset(&tm, 0, sizeof tm);
    if (!strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm))
        abort();
    sink += (size_t)timegm(&tm);
}

static void op_cookie(int i) {
    weft_span_t v;
    (void)i;
    if (weft_cookie_get(cookie, sizeof cookie - 1, "session", &v) < 0)
        abort();
    sink += v.len;
}

static void op_query(int i) {
    char out[64];
    const char *q = strchr(urls[2], '?') + 1;
    (void)i;
    if (weft_query_get(q, strlen(q), "path", out, sizeof out) < 0)
        abort();
    sink += (size_t)out[0];
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0)
        iters = 2000;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl_h = curl_url();
    double url_weft = measure(op_url_weft), url_curl = measure(op_url_curl);
    double tp = measure(op_target_and_path), path = measure(op_path);
    double dw = measure(op_date_weft), dl = measure(op_date_libc);
    double pw = measure(op_parse_weft), pl = measure(op_parse_libc);
    double ck = measure(op_cookie), qg = measure(op_query);
    curl_url_cleanup(curl_h);
    curl_global_cleanup();

    printf("%-46s %10s %10s\n", "ns a call (median of 7)", "weft", "peer");
    printf("%-46s %10.1f %10.1f  (curl_url_set)\n",
           "parse a URL (3 URLs, 41-170 bytes)", url_weft, url_curl);
    printf("%-46s %10.1f\n", "parse a request target, normalise its path", tp);
    printf("%-46s %10.1f\n", "normalise a path (3 paths, 27-34 bytes)", path);
    printf("%-46s %10.1f %10.1f  (gmtime_r + strftime)\n",
           "write an IMF-fixdate", dw, dl);
    printf("%-46s %10.1f %10.1f  (strptime + timegm)\n",
           "parse an IMF-fixdate", pw, pl);
    printf("%-46s %10.1f\n", "find the 10th of 10 cookies (219 bytes)", ck);
    printf("%-46s %10.1f\n", "get and decode a query value (6th of 6)", qg);
    printf("RESULT httpmsg url_parse %.1f ns\n", url_weft);
    printf("RESULT httpmsg url_parse_curl %.1f ns\n", url_curl);
    printf("RESULT httpmsg path_normalize %.1f ns\n", path);
    printf("RESULT httpmsg date_write %.1f ns\n", dw);
    printf("RESULT httpmsg date_write_libc %.1f ns\n", dl);
    printf("RESULT httpmsg date_parse %.1f ns\n", pw);
    printf("RESULT httpmsg date_parse_libc %.1f ns\n", pl);
    return 0;
}
