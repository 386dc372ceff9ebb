/* hello_server.c - the smallest web server: GET / answers "Hello, World!".
 * The C twin of aiohttp's
 *
 *     async def hello(request):
 *         return web.Response(text="Hello, World!")
 *
 *     app = web.Application()
 *     app.add_routes([web.get("/", hello)])
 *     web.run_app(app, host=host, port=port)
 *
 * Usage: hello_server [--workers N] [--host H] PORT
 *
 * Listens on H:PORT (H defaults to 127.0.0.1; PORT 0 takes a free port)
 * with N worker loops (default 1; each its own thread and SO_REUSEPORT
 * listener) and prints "listening on http://HOST:PORT/" once it accepts
 * connections. GET / (and HEAD /) answer 200 "Hello, World!" as
 * text/plain; other paths 404, other methods on / 405.
 *
 * SIGINT or SIGTERM: a graceful shutdown (weft_web_run_app): it stops
 * accepting, closes idle keep-alive connections, lets requests in
 * progress finish, prints "stopped on SIGTERM" (or SIGINT) and the number
 * of requests it answered, and exits 0. Errors: one line on stderr, exit
 * 1; bad arguments: exit 2.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

#define USAGE "usage: hello_server [--workers N] [--host H] PORT\n"

static const char hello_text[] = "Hello, World!";

/* Requests answered, over every worker (the test counts them). */
static atomic_ullong answered;

static int hello(weft_web_request_t *req, void *arg) {
    (void)arg;
    weft_web_response_t *resp = weft_web_resp(req);
    int err = weft_web_set_header(resp, "Content-Type",
                                  "text/plain; charset=utf-8");
    if (err)
        return err;
    /* Static text: used in place, not copied. */
    err = weft_web_body_ref(resp, hello_text, sizeof hello_text - 1);
    atomic_fetch_add_explicit(&answered, 1, memory_order_relaxed);
    return err;
}

struct config {
    const char *host, *port;
    unsigned workers;
};

static void on_listening(int port, void *arg) {
    const struct config *cfg = arg;
    bool v6 = strchr(cfg->host, ':') != NULL;
    printf("listening on http://%s%s%s:%d/\n", v6 ? "[" : "", cfg->host,
           v6 ? "]" : "", port);
}

static bool parse_uint(const char *s, long max, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || s[0] == '-' || s[0] == '+' || v < 0 ||
        v > max)
        return false;
    *out = v;
    return true;
}

static int parse_args(int argc, char **argv, struct config *cfg) {
    int i = 1;
    long v;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
        if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc &&
            parse_uint(argv[i + 1], 256, &v) && v > 0) {
            cfg->workers = (unsigned)v;
            i++;
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc &&
                   argv[i + 1][0]) {
            cfg->host = argv[++i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            return -1;
        }
    }
    if (argc - i != 1 || !parse_uint(argv[i], 65535, &v))
        return -1;
    cfg->port = argv[i];
    return 0;
}

int main(int argc, char **argv) {
    struct config cfg = {.host = "127.0.0.1", .workers = 1};
    if (parse_args(argc, argv, &cfg) < 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    weft_web_app_t *app;
    int err = weft_web_app_new(&app, NULL);
    if (!err)
        err = weft_web_route(app, "GET", "/", hello, NULL, "hello");
    if (err) {
        fprintf(stderr, "hello_server: %s\n", weft_strerror(err));
        return 1;
    }
    int stop_signal = 0;
    weft_web_run_opts_t opts = {0};
    opts.workers = cfg.workers;
    opts.on_listening = on_listening;
    opts.arg = &cfg;
    opts.stop_signal = &stop_signal;
    err = weft_web_run_app(app, cfg.host, cfg.port, &opts);
    weft_web_app_free(app);
    if (err) {
        fprintf(stderr, "hello_server: cannot serve on %s:%s: %s\n",
                cfg.host, cfg.port, weft_strerror(err));
        return 1;
    }
    printf("stopped on %s after %llu requests\n",
           stop_signal == SIGINT ? "SIGINT" : "SIGTERM",
           (unsigned long long)atomic_load(&answered));
    return 0;
}
