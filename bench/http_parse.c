/* http_parse.c - the HTTP/1.1 parser (weft/http1.h) against Node's old
 * http-parser (Debian's libhttp-parser-dev) on the same bytes, with one
 * memchr pass over those bytes as the ceiling.
 *
 *   browser GET   a 700-byte browser navigation with cookies
 *   API POST      a small JSON POST with a bearer token (head and body)
 *   proxy GET     a request with 20 fields, as a reverse proxy sends it
 *   pipelined     16 small GETs in one buffer (wrk's pipelining load)
 *   response      a JSON response with Content-Length and its body
 *   chunked resp. a response with a chunked body of three chunks
 *
 * weft parses each head (spans into the buffer, fields into an array)
 * and runs its body through weft_http1_body_next; http-parser runs with
 * the callbacks a user needs to get the same information (spans of the
 * method, target and each field name and value, the body). Both walk the
 * whole buffer, pipelined messages included. memchr looks for a byte that
 * is not there (one read of every byte: what one core's loads allow).
 *
 * Table 2, slow arrival: the browser GET arriving in pieces of k bytes,
 * the head parsed again on each piece: from the start every time
 * (prev_len 0) against resuming the search for the head's end
 * (prev_len = the previous length); ns per head, all pieces included.
 *
 * Table 3: the browser GET through each scanning path this CPU has (the
 * portable 8-byte SWAR loops, SSE2, AVX2), chosen as WEFT_HTTP1_SIMD does.
 *
 * Usage: http_parse [--quick] [REPEATS]   default 15
 *        http_parse --calls N [M]  run each parser N times on each message
 *                               (or message M only, 0-5 as listed above),
 *                               untimed (for callgrind: instructions per
 *                               message by function, repeatable where
 *                               times are not; see docs/design.md)
 */
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#include "../src/http/http_int.h"
#include "bench_util.h"

#define USAGE "http_parse [--quick] [REPEATS] | --calls N"

/* ---- the messages ------------------------------------------------------------ */

static const char browser_get[] =
    "GET /catalog/shoes/running?size=42&color=blue&sort=price_asc HTTP/1.1\r\n"
    "Host: www.example-shop.com\r\n"
    "Connection: keep-alive\r\n"
    "sec-ch-ua-mobile: ?0\r\n"
    "sec-ch-ua-platform: \"Linux\"\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/"
    "avif,image/webp,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Referer: https://www.example-shop.com/catalog/shoes\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session=8f2a1c9e4b7d6a3f0e5c2b1a9d8e7f6c; cart=3; "
    "_ga=GA1.2.1029384756.1712345678; theme=dark\r\n"
    "\r\n";

static const char api_post[] =
    "POST /api/v1/orders HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: shop-client/2.3\r\n"
    "Accept: application/json\r\n"
    "Content-Type: application/json\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVP\r\n"
    "Content-Length: 52\r\n"
    "\r\n"
    "{\"item\":\"shoe-42\",\"quantity\":2,\"express\":true,\"n\":1}";

static const char proxy_get[] =
    "GET /v2/users/1842/timeline?limit=50 HTTP/1.1\r\n"
    "Host: backend.internal:8080\r\n"
    "X-Forwarded-For: 203.0.113.195, 70.41.3.18\r\n"
    "X-Forwarded-Proto: https\r\n"
    "X-Forwarded-Host: api.example.com\r\n"
    "X-Forwarded-Port: 443\r\n"
    "X-Real-IP: 203.0.113.195\r\n"
    "X-Request-ID: 9f1c2d3e-4b5a-6978-8c9d-0e1f2a3b4c5d\r\n"
    "Via: 1.1 edge-proxy-7 (nginx)\r\n"
    "Forwarded: for=203.0.113.195;proto=https;by=10.0.0.7\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip\r\n"
    "Accept-Language: en\r\n"
    "User-Agent: okhttp/4.12.0\r\n"
    "Authorization: Bearer 7c3f0a9e2d1b4c6a8e5f\r\n"
    "Cache-Control: no-cache\r\n"
    "Connection: keep-alive\r\n"
    "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\n"
    "X-B3-SpanId: e457b5a2e4d86bd1\r\n"
    "X-B3-Sampled: 1\r\n"
    "Traceparent: 00-80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-01\r\n"
    "\r\n";

static const char plain_get[] =
    "GET /plaintext HTTP/1.1\r\n"
    "Host: localhost:8080\r\n"
    "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
    "application/xml;q=0.8,*/*;q=0.7\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

static const char json_response[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.24.0\r\n"
    "Date: Tue, 14 May 2024 09:12:44 GMT\r\n"
    "Content-Type: application/json; charset=utf-8\r\n"
    "Content-Length: 96\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: private, max-age=0\r\n"
    "Vary: Accept-Encoding\r\n"
    "X-Request-Id: 9f1c2d3e-4b5a-6978-8c9d-0e1f2a3b4c5d\r\n"
    "\r\n"
    "{\"id\":1842,\"name\":\"Ada\",\"email\":\"ada@example.com\",\"roles\":"
    "[\"admin\",\"dev\"],\"active\":true,\"n\":700}";

static const char chunked_response[] =
    "HTTP/1.1 200 OK\r\n"
    "Server: weft\r\n"
    "Content-Type: text/plain\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    "10\r\n0123456789abcdef\r\n"
    "20;name=value\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ012345\r\n"
    "0\r\n\r\n";

enum { M_BROWSER, M_POST, M_PROXY, M_PIPE, M_RESP, M_CHUNKED, NMSG };

static const char *const msg_name[NMSG] = {
    "browser GET", "API POST", "proxy GET (20 fields)", "pipelined (16 GETs)",
    "response", "chunked resp."};

struct msg {
    char *buf;
    size_t len;
    int count; /* messages in buf */
    bool response;
};

static struct msg msgs[NMSG];

static void msg_set(int i, const char *s, int repeat, bool response) {
    size_t n = strlen(s);
    msgs[i].buf = malloc(n * (size_t)repeat + 1);
    if (!msgs[i].buf)
        abort();
    for (int r = 0; r < repeat; r++)
        memcpy(msgs[i].buf + n * (size_t)r, s, n);
    msgs[i].len = n * (size_t)repeat;
    msgs[i].count = repeat;
    msgs[i].response = response;
}

/* ---- weft ---------------------------------------------------------------------- */

static size_t sink; /* results go here so the work cannot be dropped */

static int weft_all(const struct msg *m) {
    weft_http_field_t fields[32];
    weft_http1_head_t h = {.fields = fields, .max_fields = 32};
    weft_http1_body_t b;
    size_t at = 0;
    int n = 0;
    while (at < m->len) {
        int r = m->response
                    ? weft_http1_parse_response(&h, m->buf + at, m->len - at,
                                                0, WEFT_HTTP_GET, NULL)
                    : weft_http1_parse_request(&h, m->buf + at, m->len - at,
                                               0, NULL);
        if (r < 0)
            return -1;
        at += (size_t)r;
        sink += h.nfields + h.target.len;
        if (h.framing != WEFT_HTTP1_NO_BODY) {
            weft_http1_body_init(&b, &h, NULL, 0);
            while (!weft_http1_body_done(&b) && at < m->len) {
                weft_span_t d;
                ssize_t k = weft_http1_body_next(&b, m->buf + at,
                                                 m->len - at, &d);
                if (k <= 0)
                    return -1;
                at += (size_t)k;
                sink += d.len;
            }
        }
        n++;
    }
    return n;
}

/* ---- http-parser ------------------------------------------------------------- */

struct hp_state {
    weft_span_t url, fields[32][2];
    size_t nfields;
    bool in_value;
    size_t body;
    int done;
};

/* A span that may arrive in pieces: extend it when contiguous. */
static void hp_span(weft_span_t *s, const char *at, size_t len) {
    if (s->ptr && s->ptr + s->len == at)
        s->len += len;
    else
        *s = (weft_span_t){at, len};
}

static int hp_begin(http_parser *p) {
    struct hp_state *s = p->data;
    s->nfields = 0;
    s->in_value = false;
    s->url = (weft_span_t){0};
    return 0;
}

static int hp_url(http_parser *p, const char *at, size_t len) {
    hp_span(&((struct hp_state *)p->data)->url, at, len);
    return 0;
}

static int hp_field(http_parser *p, const char *at, size_t len) {
    struct hp_state *s = p->data;
    if (s->in_value || s->nfields == 0) {
        if (s->nfields == 32)
            return 1;
        s->nfields++;
        s->fields[s->nfields - 1][0] = s->fields[s->nfields - 1][1] =
            (weft_span_t){0};
        s->in_value = false;
    }
    hp_span(&s->fields[s->nfields - 1][0], at, len);
    return 0;
}

static int hp_value(http_parser *p, const char *at, size_t len) {
    struct hp_state *s = p->data;
    s->in_value = true;
    hp_span(&s->fields[s->nfields - 1][1], at, len);
    return 0;
}

static int hp_body(http_parser *p, const char *at, size_t len) {
    (void)at;
    ((struct hp_state *)p->data)->body += len;
    return 0;
}

static int hp_complete(http_parser *p) {
    struct hp_state *s = p->data;
    s->done++;
    sink += s->nfields + s->url.len;
    return 0;
}

static http_parser_settings hp_settings = {
    .on_message_begin = hp_begin,
    .on_url = hp_url,
    .on_header_field = hp_field,
    .on_header_value = hp_value,
    .on_body = hp_body,
    .on_message_complete = hp_complete,
};

static int hp_all(const struct msg *m) {
    http_parser p;
    struct hp_state s = {0};
    http_parser_init(&p, m->response ? HTTP_RESPONSE : HTTP_REQUEST);
    p.data = &s;
    size_t n = http_parser_execute(&p, &hp_settings, m->buf, m->len);
    if (n != m->len || HTTP_PARSER_ERRNO(&p) != HPE_OK)
        return -1;
    sink += s.body;
    return s.done;
}

static int memchr_all(const struct msg *m) {
    sink += memchr(m->buf, 0x01, m->len) != NULL;
    return m->count;
}

/* ---- timing ---------------------------------------------------------------- */

typedef int (*run_fn)(const struct msg *);

/* ns per message of iters runs of fn over m. */
static double time_it(run_fn fn, const struct msg *m, long iters) {
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++)
        if (fn(m) != m->count) {
            fprintf(stderr, "http_parse: a parser failed on %s\n",
                    msg_name[m - msgs]);
            exit(1);
        }
    return (double)(bench_now_ns() - t0) / (double)iters / m->count;
}

static long calibrate(run_fn fn, const struct msg *m, double target_ns) {
    long iters = 16;
    for (;;) {
        double ns = time_it(fn, m, iters) * m->count * (double)iters;
        if (ns > target_ns / 8 || iters > (1L << 30))
            return (long)((double)iters * target_ns / (ns > 1 ? ns : 1)) + 1;
        iters *= 4;
    }
}

/* Slow arrival: the head parsed after each piece of k bytes. */
static double slow_arrival(const struct msg *m, size_t k, bool resume,
                           long iters) {
    weft_http_field_t fields[32];
    weft_http1_head_t h = {.fields = fields, .max_fields = 32};
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < iters; i++) {
        size_t have = 0, prev = 0;
        int r = -EAGAIN;
        while (r == -EAGAIN) {
            have = have + k < m->len ? have + k : m->len;
            r = weft_http1_parse_request(&h, m->buf, have, resume ? prev : 0,
                                         NULL);
            prev = have;
        }
        if (r != (int)m->len) {
            fprintf(stderr, "http_parse: slow arrival failed\n");
            exit(1);
        }
        sink += h.nfields;
    }
    return (double)(bench_now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv) {
    bool quick = false;
    int reps = 15;
    long calls = 0;
    int only = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--calls") && i + 1 < argc) {
            calls = atol(argv[++i]);
            if (i + 1 < argc)
                only = atoi(argv[++i]);
        }
        else if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (atoi(argv[i]) > 0)
            reps = atoi(argv[i]);
        else {
            fprintf(stderr, "usage: %s\n", USAGE);
            return 2;
        }
    }
    if (quick)
        reps = 3;
    double target = quick ? 2e6 : 20e6; /* ns per measurement */

    msg_set(M_BROWSER, browser_get, 1, false);
    msg_set(M_POST, api_post, 1, false);
    msg_set(M_PROXY, proxy_get, 1, false);
    msg_set(M_PIPE, plain_get, 16, false);
    msg_set(M_RESP, json_response, 1, true);
    msg_set(M_CHUNKED, chunked_response, 1, true);

    static const run_fn fns[] = {weft_all, hp_all, memchr_all};
    enum { NFN = 3 };
    if (calls > 0) {
        for (int m = 0; m < NMSG; m++)
            for (int f = 0; f < NFN; f++)
                if (only < 0 || only == m)
                    time_it(fns[f], &msgs[m], calls);
        return 0;
    }
    long iters[NMSG][NFN];
    for (int m = 0; m < NMSG; m++)
        for (int f = 0; f < NFN; f++)
            iters[m][f] = calibrate(fns[f], &msgs[m], target);
    /* Each round times the three on a message back to back (in an order
     * rotated by the round), so that the ratios come from neighbouring
     * measurements: on a shared machine the load moves between rounds
     * more than within one. */
    double *res[NMSG][NFN], *ratio[NMSG];
    for (int m = 0; m < NMSG; m++) {
        for (int f = 0; f < NFN; f++)
            res[m][f] = calloc((size_t)reps, sizeof(double));
        ratio[m] = calloc((size_t)reps, sizeof(double));
    }
    for (int r = 0; r < reps; r++)
        for (int m = 0; m < NMSG; m++) {
            for (int k = 0; k < NFN; k++) {
                int f = (k + r) % NFN;
                res[m][f][r] = time_it(fns[f], &msgs[m], iters[m][f]);
            }
            ratio[m][r] = res[m][1][r] / res[m][0][r];
        }

    printf("HTTP/1.1 parsing, ns per message and GB/s (median of %d rounds; "
           "ratio: median of each round's http-parser/weft; best: fastest "
           "round; bytes per message in brackets)\n\n",
           reps);
    printf("%-24s %9s %7s %7s %11s %7s %7s %8s %9s\n", "message", "weft ns",
           "best", "GB/s", "http-parser", "GB/s", "ratio", "memchr",
           "vs memchr");
    double med[NMSG][NFN], best[NMSG][NFN], mratio[NMSG];
    for (int m = 0; m < NMSG; m++) {
        for (int f = 0; f < NFN; f++) {
            med[m][f] = bench_median(res[m][f], (size_t)reps);
            best[m][f] = bench_min(res[m][f], (size_t)reps);
        }
        mratio[m] = bench_median(ratio[m], (size_t)reps);
        double bytes = (double)msgs[m].len / msgs[m].count;
        char name[64];
        snprintf(name, sizeof name, "%s [%.0f]", msg_name[m], bytes);
        printf("%-24s %9.1f %7.1f %7.2f %11.1f %7.2f %6.1fx %8.1f %8.1fx\n",
               name, med[m][0], best[m][0], bytes / med[m][0], med[m][1],
               bytes / med[m][1], mratio[m], med[m][2],
               med[m][0] / med[m][2]);
    }

    printf("\nSlow arrival: the browser GET (%zu bytes) in pieces of k bytes, "
           "ns per head\n\n",
           msgs[M_BROWSER].len);
    printf("%8s %14s %14s %8s\n", "k", "from start", "prev_len", "ratio");
    static const size_t pieces[] = {1, 8, 64, 256, 100000};
    double slow[5][2];
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        long it = (long)(target / 4 / (pieces[i] == 1 ? 200000.0 : 2000.0));
        if (it < 3)
            it = 3;
        double v[2][15];
        for (int r = 0; r < reps && r < 15; r++) /* interleaved */
            for (int w = 0; w < 2; w++)
                v[w][r] = slow_arrival(&msgs[M_BROWSER], pieces[i], w, it);
        for (int w = 0; w < 2; w++)
            slow[i][w] = bench_median(v[w], (size_t)(reps < 15 ? reps : 15));
        char k[16];
        snprintf(k, sizeof k, "%zu", pieces[i]);
        printf("%8s %14.0f %14.0f %7.1fx\n",
               pieces[i] >= msgs[M_BROWSER].len ? "all" : k, slow[i][0],
               slow[i][1], slow[i][0] / slow[i][1]);
    }

    printf("\nScanning paths (WEFT_HTTP1_SIMD), browser GET, ns per message\n\n");
    double path_ns[WEFT__HTTP_SIMD_N] = {0};
    for (int lvl = 0; lvl < WEFT__HTTP_SIMD_N; lvl++) {
        if (weft__http_simd_set(lvl) != lvl)
            continue;
        double v[15];
        for (int r = 0; r < reps && r < 15; r++)
            v[r] = time_it(weft_all, &msgs[M_BROWSER], iters[M_BROWSER][0]);
        path_ns[lvl] = bench_median(v, (size_t)(reps < 15 ? reps : 15));
        printf("%8s %10.1f\n", weft__http_simd_name(lvl), path_ns[lvl]);
    }
    weft__http_simd_set(-1);

    printf("\ntarget: >= 3x http-parser on the browser GET; memchr is the "
           "ceiling\n");
    double bytes = (double)msgs[M_BROWSER].len;
    printf("RESULT http_parse browser_get_ns %.1f ns\n", med[M_BROWSER][0]);
    printf("RESULT http_parse browser_get_gbps %.2f GB/s\n",
           bytes / med[M_BROWSER][0]);
    printf("RESULT http_parse browser_get_vs_http_parser %.1f x\n",
           mratio[M_BROWSER]);
    printf("RESULT http_parse browser_get_http_parser_gbps %.2f GB/s\n",
           bytes / med[M_BROWSER][1]);
    printf("RESULT http_parse browser_get_memchr_gbps %.2f GB/s\n",
           bytes / med[M_BROWSER][2]);
    printf("RESULT http_parse pipelined_ns %.1f ns\n", med[M_PIPE][0]);
    printf("RESULT http_parse response_ns %.1f ns\n", med[M_RESP][0]);
    printf("RESULT http_parse slow_arrival_1byte_resume_gain %.1f x\n",
           slow[0][0] / slow[0][1]);
    (void)sink;
    for (int m = 0; m < NMSG; m++) {
        free(msgs[m].buf);
        free(ratio[m]);
        for (int f = 0; f < NFN; f++)
            free(res[m][f]);
    }
    return 0;
}
