/* bench/web_router: route lookup with 50 routes, weft's segment tree
 * against what aiohttp's UrlDispatcher does (a linear scan that tries each
 * route's compiled regular expression in turn; here POSIX regexec, since
 * C has no Python `re`), in the same run.
 *
 * The routes are a REST API's: literal paths, {id} variables, {id:\d+}
 * patterns, a file tail. The lookups cycle through paths that hit early,
 * middle and late routes and a miss (404). Prints ns per lookup (median of
 * 7 runs) and ends with RESULT lines. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "http/router.h"

#define NROUTES 50

static const char *resources[] = {"users", "orders", "items", "carts",
                                  "invoices", "teams", "projects", "tags",
                                  "comments", "events"};

/* Route i's pattern (weft syntax) and the regex aiohttp would make. */
static void make_route(int i, char *pat, char *re, size_t n) {
    const char *r = resources[i / 5];
    switch (i % 5) {
    case 0:
        snprintf(pat, n, "/api/v1/%s", r);
        snprintf(re, n, "^/api/v1/%s$", r);
        break;
    case 1:
        snprintf(pat, n, "/api/v1/%s/{id:\\d+}", r);
        snprintf(re, n, "^/api/v1/%s/([0-9]+)$", r);
        break;
    case 2:
        snprintf(pat, n, "/api/v1/%s/{id:\\d+}/history", r);
        snprintf(re, n, "^/api/v1/%s/([0-9]+)/history$", r);
        break;
    case 3:
        snprintf(pat, n, "/api/v1/%s/{id}/{field}", r);
        snprintf(re, n, "^/api/v1/%s/([^/]+)/([^/]+)$", r);
        break;
    default:
        snprintf(pat, n, "/static/%s/{path:.*}", r);
        snprintf(re, n, "^/static/%s/(.*)$", r);
        break;
    }
}

static const char *paths[] = {
    "/api/v1/users",                 /* route 0 */
    "/api/v1/users/12345",           /* route 1 */
    "/api/v1/projects/77/history",   /* route 32 */
    "/api/v1/events/abc/name",       /* route 48 */
    "/static/events/css/site.css",   /* route 49 */
    "/api/v1/nothing/here",          /* no route: 404 */
};
#define NPATHS (sizeof paths / sizeof paths[0])

int main(int argc, char **argv) {
    int quick = bench_take_quick(&argc, argv);
    uint64_t iters = bench_arg(argc, argv, 1, quick ? 20000 : 600000,
                               "web_router [--quick] [LOOKUPS]");
    struct wr_router *r;
    if (wr_router_new(&r))
        return 1;
    static struct wr_route routes[NROUTES];
    static regex_t res[NROUTES];
    for (int i = 0; i < NROUTES; i++) {
        static char pats[NROUTES][96];
        char re[96];
        make_route(i, pats[i], re, sizeof re);
        routes[i].method = "GET";
        routes[i].payload = (void *)(intptr_t)i;
        struct wr_name names[WR_MAX_VARS];
        size_t nv;
        if (wr_router_add(r, pats[i], &routes[i], names, &nv) ||
            regcomp(&res[i], re, REG_EXTENDED)) {
            fprintf(stderr, "web_router: route %d: %s\n", i, pats[i]);
            return 1;
        }
    }
    size_t plen[NPATHS];
    for (size_t i = 0; i < NPATHS; i++)
        plen[i] = strlen(paths[i]);
    double tree[7], scan[7];
    volatile uintptr_t sink = 0;
    for (int run = 0; run < 7; run++) {
        uint64_t t0 = bench_now_ns();
        for (uint64_t k = 0; k < iters; k++) {
            size_t i = k % NPATHS;
            struct wr_match m;
            if (wr_router_lookup(r, "GET", 3, paths[i], plen[i], &m, NULL))
                sink += (uintptr_t)m.route->payload;
        }
        uint64_t t1 = bench_now_ns();
        uint64_t scan_iters = iters / 20 + 1;
        for (uint64_t k = 0; k < scan_iters; k++) {
            size_t i = k % NPATHS;
            regmatch_t mm[3];
            for (int j = 0; j < NROUTES; j++)
                if (regexec(&res[j], paths[i], 3, mm, 0) == 0) {
                    sink += (uintptr_t)j;
                    break;
                }
        }
        uint64_t t2 = bench_now_ns();
        tree[run] = (double)(t1 - t0) / (double)iters;
        scan[run] = (double)(t2 - t1) / (double)scan_iters;
    }
    double t = bench_median(tree, 7), s = bench_median(scan, 7);
    printf("50 routes, %zu paths in turn (early, middle, late, tail, 404)\n",
           NPATHS);
    printf("%-42s %10s\n", "lookup", "ns/lookup");
    printf("%-42s %10.0f\n", "weft segment tree + linear-time matcher", t);
    printf("%-42s %10.0f\n", "linear scan of 50 regexec (aiohttp's way)", s);
    printf("\nRESULT web_router tree_ns_per_lookup %.0f ns\n", t);
    printf("RESULT web_router scan_ns_per_lookup %.0f ns\n", s);
    printf("RESULT web_router speedup %.1f x\n", s / t);
    for (int i = 0; i < NROUTES; i++)
        regfree(&res[i]);
    wr_router_free(r);
    return sink == 1 ? 2 : 0;
}
